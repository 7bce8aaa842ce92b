/* revive/util.h — small process helpers shared by the backend and its helper processes. */
#ifndef COREFS_REVIVE_UTIL_H
#define COREFS_REVIVE_UTIL_H

#include <sys/types.h>

/* Close every descriptor except the n in keep (negative entries are ignored).  Only system
 * calls: safe in a child forked from a multi-threaded process. */
void close_all_but(const int *keep, int n);

/* waitpid(tid, status, __WALL), again when interrupted. */
pid_t wait_tid(pid_t tid, int *status);

void sleep_us(long us);

#endif
