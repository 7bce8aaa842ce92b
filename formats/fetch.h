/* formats/fetch.h — files found by build-id: separate debug files on this machine
 * (<sysroot>/usr/lib/debug/.build-id/xx/yyyy.debug), and executables and debug files fetched from
 * debuginfod servers with elfutils' client library (libdebuginfod), as gdb, eu-stack and drgn
 * fetch them.
 *
 * The client honours the same environment as those tools: DEBUGINFOD_URLS (the servers; unset
 * or empty: none), DEBUGINFOD_CACHE_PATH, DEBUGINFOD_TIMEOUT, DEBUGINFOD_PROGRESS,
 * DEBUGINFOD_VERBOSE (and the library's other variables).  DEBUGINFOD_TIMEOUT (seconds, 90 when
 * unset, as the library's) is also a bound on each whole fetch here: a server that trickles
 * bytes is given up at that time, so no reader waits longer.
 *
 * One fetcher per process (process.h).  Each file is looked for once, on first need: the first
 * caller does the work, callers wanting the same file meanwhile wait for its result, others go
 * on; the result, a path or the reason there is none, is kept and never tried again.  Once the
 * servers failed to answer at all (not a "not found"), they are not asked again by this fetcher.  Before
 * fetcher_arm() (while the process is being made, before it is served) nothing is looked for:
 * making the process never waits on a server. */
#ifndef COREFS_FETCH_H
#define COREFS_FETCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

enum fetch_kind { FETCH_EXECUTABLE, FETCH_DEBUGINFO };

enum fetch_state {
	FETCH_OFF,		/* nothing to ask: no server, --no-debuginfod, or no build-id */
	FETCH_PENDING,		/* not needed yet */
	FETCH_RUNNING,		/* being fetched now */
	FETCH_DONE,		/* path holds it, its build-id checked */
	FETCH_FAILED,		/* why says what went wrong */
};

/* One file: immutable once its state is FETCH_DONE or FETCH_FAILED. */
struct fetch {
	enum fetch_kind kind;
	unsigned char id[64];
	size_t id_len;
	enum fetch_state state;
	char *path;		/* DONE: the file (in the debuginfod cache, or the local debug file) */
	char *url;		/* DONE from a server: where it came from; NULL from libdebuginfod's
				 * cache or for a local file */
	bool local;		/* DONE: a debug file on this machine, not from debuginfod */
	char *why;		/* FAILED: one sentence; DONE: how it was found */
	struct fetch *next;
};

struct fetcher {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct fetch *list;
	char *sysroot;		/* where local debug files are looked for ("": /) */
	/* Why the servers are not asked again: the first failure that was not an answer (a time
	 * out, a refused connection...), so that no reader waits for the same fault twice. */
	char *down;
	bool remote;		/* servers may be asked */
	bool progress;		/* a line on stderr as each fetch starts and ends */
	bool armed;
	unsigned finished;	/* how many looks ended (a generation for what shows them) */
};

/* remote: ask debuginfod servers (when DEBUGINFOD_URLS names any); progress: say on stderr what
 * is fetched (also when DEBUGINFOD_PROGRESS is set).  NULL when out of memory. */
struct fetcher *fetcher_new(const char *sysroot, bool remote, bool progress);
void fetcher_free(struct fetcher *f);
void fetcher_arm(struct fetcher *f);

/* Whether the servers may be asked: remote was asked for and DEBUGINFOD_URLS names a server. */
bool fetcher_remote(const struct fetcher *f);
/* Why they may not be, in a few words; NULL when they may. */
const char *fetcher_off_why(const struct fetcher *f);

/* The file of this kind and build-id, label naming it in progress lines and reasons.  Looks for
 * it (a debug file first on this machine, then on the servers; an executable on the servers
 * only) or waits for the caller already looking; returns the result, whose state is DONE or
 * FAILED.  NULL before fetcher_arm(), for an empty build-id, or when out of memory. */
const struct fetch *fetcher_get(struct fetcher *f, enum fetch_kind kind, const unsigned char *id,
				size_t id_len, const char *label);

/* What is known of that file now, without looking: its state (FETCH_PENDING when never asked
 * for, FETCH_OFF when it cannot be), and when finished its result in *out (else NULL). */
enum fetch_state fetcher_peek(struct fetcher *f, enum fetch_kind kind, const unsigned char *id,
			      size_t id_len, const struct fetch **out);

const char *fetch_state_name(enum fetch_state s);

#endif
