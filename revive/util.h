/* revive/util.h — small process helpers shared by the backend and its helper processes. */
#ifndef COREFS_REVIVE_UTIL_H
#define COREFS_REVIVE_UTIL_H

/* Close every descriptor except the n in keep (negative entries are ignored).  Only system
 * calls: safe in a child forked from a multi-threaded process. */
void close_all_but(const int *keep, int n);

#endif
