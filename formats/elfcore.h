/* formats/elfcore.h — the ELF core reader. */
#ifndef COREFS_ELFCORE_H
#define COREFS_ELFCORE_H

#include "core.h"

/* Fill c (path, fd and file_size already set) from an ELF core. */
int elfcore_read(struct core *c, struct core_error *err);
void elfcore_close(struct core *c);

#endif
