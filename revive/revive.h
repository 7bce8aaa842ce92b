/* revive/revive.h — turn a core into a live process that debuggers attach to and that runs on.
 *
 * The interface is the model's: the dead process as formats/process.h makes it.  A backend
 * (linux.c and the stages it names: ptrace on x86_64 Linux) makes from it a real process whose
 * threads are all group-stopped with the core's registers, whose memory layout, protections and
 * bytes are the core's, and which then belongs to nobody: it outlives the caller and whatever it
 * is part of (a FUSE mount).  revived.c is the handle on it.
 *
 * What a core cannot hold (signal handlers, fds, timers, ...) or what this machine cannot give
 * back (other xstate layouts, original tids without a pid namespace) is listed, one sentence
 * each, in revive_lost().  Errors are values: a positive errno and a one-line message. */
#ifndef COREFS_REVIVE_H
#define COREFS_REVIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "../formats/process.h"

struct revive_options {
	const char *stdin_path;		/* NULL: /dev/null; relative paths are taken from cwd */
	const char *stdout_path;
	const char *stderr_path;
	const char *cwd;		/* NULL: "/" */
	bool pidns;			/* original pid and tids, in a new pid namespace */
};

enum revive_state {
	REVIVE_STOPPED,
	REVIVE_RUNNING,
	REVIVE_EXITED,
	REVIVE_KILLED,
};

struct revive_status {
	enum revive_state state;
	int code;			/* exit status (EXITED) or signal number (KILLED) */
};

struct revive_error {
	int err;			/* positive errno */
	char msg[400];			/* one line, no newline */
};

struct revived;

/* Call once at start-up, before any thread exists: raises this process's soft limit on open
 * files to its hard limit (a revival holds an fd for each mapped file; corefs uses no select())
 * and remembers the caller's, which every revived process gets back. */
void revive_init(void);

/* Make the process.  On failure nothing is left behind (no process, no helper) and err says
 * why; -1 is returned. */
int revive_start(const struct process *src, const struct revive_options *opt,
		 struct revived **out, struct revive_error *err);

/* The state now; collects the process's exit when it ended. */
void revive_poll(struct revived *r, struct revive_status *st);

/* pid and tids as seen from the caller; in a pid namespace also as the process sees them. */
pid_t revive_pid(const struct revived *r);
pid_t revive_nspid(const struct revived *r);	/* 0 without pidns */
/* Current thread ids (from /proc) into tids, at most n; how many there are. */
size_t revive_tids(struct revived *r, pid_t *tids, size_t n);
/* The original tid of each current tid when in a pid namespace (else 0). */
pid_t revive_nstid(struct revived *r, pid_t tid);

/* What could not be restored: one sentence each. */
const char *const *revive_lost(const struct revived *r, size_t *n);

/* Continue a stopped process, stop a running one, kill it (and wait for its end). */
int revive_resume(struct revived *r, struct revive_error *err);
int revive_stop(struct revived *r, struct revive_error *err);
int revive_kill(struct revived *r, struct revive_error *err);

/* Forget the process: it lives on, on its own. */
void revive_release(struct revived *r);

const char *revive_state_name(enum revive_state s);

#endif
