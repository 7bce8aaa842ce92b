/* formats/util.h — small helpers shared by the readers. */
#ifndef COREFS_UTIL_H
#define COREFS_UTIL_H

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
