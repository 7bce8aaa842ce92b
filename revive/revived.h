/* revive/revived.h — the revived-process handle (revived.c), as the build (linux.c) fills it. */
#ifndef COREFS_REVIVE_REVIVED_H
#define COREFS_REVIVE_REVIVED_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "revive.h"

/* How long a stop or a resume is waited for, in milliseconds (a kill: ten times this). */
#define STOP_WAIT_MS 2000

struct revived {
	pid_t pid;		/* as this process sees it */
	pid_t nspid;		/* the original pid, in its namespace (pidns), else 0 */
	pid_t init_pid;		/* the pid namespace's init, 0 when none */
	struct revive_status st;
	bool reaped;
	char **lost;
	size_t nlost;
};

#endif
