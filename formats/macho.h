/* formats/macho.h — the Mach-O core reader (MH_CORE, 64-bit little-endian: x86_64 and arm64). */
#ifndef COREFS_MACHO_H
#define COREFS_MACHO_H

#include "core.h"

/* Fill c (path, fd and file_size already set; the file starts with MH_MAGIC_64 in little-endian
 * byte order) from a Mach-O core.  On failure returns -1 with err filled. */
int macho_read(struct core *c, struct core_error *err);

#endif
