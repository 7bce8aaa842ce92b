/* fs/cores.h — the cores a mount serves: one (corefs CORE MNT, corefs --proc CORE MNT) or every
 * core in a directory (corefs DIR MNT), which come and go while mounted.
 *
 * Each core gets a slot number when it is first seen; slot numbers are never reused, so an
 * inode of a core that was removed stays dead instead of naming another core.  A directory is
 * rescanned when its mtime changes; files that are not cores are ignored.  Who owns /proc/<pid>
 * when two cores have the same pid: the newest core (by mtime, then by file name) — a rule that
 * does not change as other cores come and go; every core is also reachable by its file name
 * under by-name/.
 *
 * A compressed core (formats/compressed.h) is decompressed outside the lock.  One whose file
 * name is systemd-coredump's (core.COMM.UID.BOOTID.PID.USEC.zst) is listed under the name's pid
 * and decompressed on first use: a lookup of that pid, of its by-name/ entry, or of a /proc file
 * that reads every core.  If its core then says another pid, the core's pid is the one from
 * then on (the name's disappears).  Other compressed files are decompressed after the scan that
 * finds them, to learn their pid. */
#ifndef COREFS_CORES_H
#define COREFS_CORES_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "mounted.h"

struct slot {
	unsigned number;	/* 1, 2, ...: never reused */
	char *name;		/* file name inside the directory */
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;	/* the file's, stat'ed once: when the process died (mounted.h) */
	bool alive;		/* still in the directory */
	int32_t pid;		/* the core's, or a systemd-coredump name's until m.core is open */
	struct mounted m;	/* m.core opened at scan (compressed: later); the rest later */
	bool opening;		/* a thread is opening m.core outside the lock */
	bool ready;
	int err;		/* why the view could not be built */
};

struct cores {
	char *dir;		/* NULL when serving one core; a remote prefix ends with '/' */
	bool remote;		/* dir is a remote prefix (formats/remote.h) */
	struct file_lookup where;	/* where the mapped files are looked for; where.exe (--exe)
					 * only for one core, NULL for a directory */
	bool fill, debug;
	pthread_mutex_t lock;	/* guards slots and scanning; not held while rendering */
	pthread_cond_t opened;	/* a slot's opening ended */
	struct slot **slots;	/* slots[number - 1]; dead ones stay (NULL m.core) */
	size_t nslots;
	struct timespec dir_mtime;	/* a remote prefix's: when it was listed (CLOCK_MONOTONIC) */
	bool scanned;
	int events_fd;		/* inotify on dir, or -1: pending events force a rescan */
	struct ignored { char *name; ino_t ino; off_t size; struct timespec mtime; } *ignored;
	size_t nignored;
	/* Called with a slot's name when it appears or disappears (FUSE cache invalidation). */
	void (*changed)(void *arg, const struct slot *s);
	void *changed_arg;
};

/* Serve one core (already opened). */
int cores_init_one(struct cores *cs, struct core *core, const char *path,
		   const struct file_lookup *where, bool fill, bool debug);
/* Serve a directory of cores; the first scan happens here. */
int cores_init_dir(struct cores *cs, const char *dir, const struct file_lookup *where, bool fill,
		   bool debug);
void cores_free(struct cores *cs);

/* Rescan the directory if its entries changed since the last scan, or if events_fd reports a
 * change (a file's content too: a core finished writing, or replaced in place). */
void cores_refresh(struct cores *cs);

/* The live slot with this number, with its view built; NULL when dead or unbuildable. */
struct slot *cores_get(struct cores *cs, unsigned number);

/* The slot that owns /proc/<pid>, or the one with this file name; NULL when none. */
struct slot *cores_by_pid(struct cores *cs, int32_t pid);
struct slot *cores_by_name(struct cores *cs, const char *name);

/* Live slots owning a pid, sorted by pid, into out (caller frees); returns the count. */
size_t cores_pid_owners(struct cores *cs, struct slot ***out);
/* The same after opening every core (a compressed one's pid may not be its name's), with their
 * views built: the processes the /proc root's files count.  *out is NULL when out of memory. */
size_t cores_listed(struct cores *cs, struct slot ***out);
/* All live slots, sorted by file name. */
size_t cores_all(struct cores *cs, struct slot ***out);

#endif
