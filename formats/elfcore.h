/* formats/elfcore.h — the ELF core reader and what readers share inside formats/. */
#ifndef COREFS_ELFCORE_H
#define COREFS_ELFCORE_H

#include "core.h"

/* Fill c (path, fd and file_size already set) from an ELF core. */
int elfcore_read(struct core *c, struct core_error *err);
void elfcore_close(struct core *c);

/* Record one sentence about what the core lacks or gets wrong (printf format). */
int core_problem(struct core *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
