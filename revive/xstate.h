/* revive/xstate.h — merging a core's NT_X86_XSTATE into this CPU's XSAVE layout. */
#ifndef COREFS_REVIVE_XSTATE_H
#define COREFS_REVIVE_XSTATE_H

#include <stddef.h>
#include <stdint.h>

/* dst holds this thread's current state as PTRACE_GETREGSET(NT_X86_XSTATE) gave it (dst_size
 * bytes); write src's state into it where the layouts allow.  Returns the XSAVE components src
 * had in use (xstate_bv) that could not be taken. */
uint64_t xstate_merge(unsigned char *dst, size_t dst_size, const unsigned char *src,
		      size_t src_size);

/* A component's name ("AVX-512 opmask registers") by its bit. */
const char *xstate_component(unsigned bit);

#endif
