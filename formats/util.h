/* formats/util.h — small helpers shared inside formats/ (util.c): no model, no format. */
#ifndef COREFS_UTIL_H
#define COREFS_UTIL_H

#include <stdint.h>
#include <sys/types.h>

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* pread until len bytes, the end of the file or an error; how many were read, -1 when none
 * could be and errno says why. */
ssize_t pread_full(int fd, void *buf, size_t len, uint64_t off);

#endif
