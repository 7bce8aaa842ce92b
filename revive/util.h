/* revive/util.h — small helpers shared by the backend's files and its helper processes:
 * descriptors, waiting, the threads of a process, errors as values. */
#ifndef COREFS_REVIVE_UTIL_H
#define COREFS_REVIVE_UTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "revive.h"

/* Close every descriptor except the n in keep (negative entries are ignored).  Only system
 * calls: safe in a child forked from a multi-threaded process. */
void close_all_but(const int *keep, int n);

/* waitpid(tid, status, __WALL), again when interrupted. */
pid_t wait_tid(pid_t tid, int *status);

void sleep_us(long us);

/* The tids of process pid (from /proc/PID/task, the kernel's order) into tids, at most n; how
 * many there are. */
size_t task_tids(pid_t pid, pid_t *tids, size_t n);

/* Fill a revive_error; returns -1. */
int revive_fail(struct revive_error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
