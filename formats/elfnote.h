/* formats/elfnote.h — decoding an ELF core's notes (elfnote.c), for the ELF reader (elfcore.c). */
#ifndef COREFS_ELFNOTE_H
#define COREFS_ELFNOTE_H

#include <stdbool.h>

#include "core.h"

/* Decode c->notes (read, with c->os and c->arch set) into threads, psinfo, auxv, the mapped files
 * and the signal information, naming each note.  -1 with err filled when out of memory. */
int elfnote_decode(struct core *c, struct core_error *err);

/* Whether a note's owner is Linux's ("CORE" or "LINUX"). */
bool elfnote_linux_owner(const char *owner);

#endif
