/* formats/procargs.h — argv and envp recovered from the dead process's stack.
 *
 * The kernel lays out the top of a new process's stack as: argc, argv[], NULL, envp[], NULL,
 * the auxiliary vector, ..., then the argument strings, the environment strings and the
 * AT_EXECFN string.  A core holds that stack and, in NT_AUXV, a copy of the auxv: finding that
 * copy on the stack and walking back over envp and argv to argc gives the bounds /proc/PID/cmdline
 * and /proc/PID/environ read (mm->arg_start..arg_end, env_start..env_end), as gdb 16 does. */
#ifndef COREFS_PROCARGS_H
#define COREFS_PROCARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "core.h"
#include "memory.h"

struct proc_args {
	bool found;
	uint64_t argc, envc;
	uint64_t arg_start, arg_end, env_start, env_end;
	uint64_t auxv_addr;	/* where the stack's copy of the auxv was found */
	char why[160];		/* when not found: why not */
};

/* Locate argv and envp; never fails, says why in out->why when they cannot be found. */
void procargs_find(struct memory *mem, const struct core *c, struct proc_args *out);

#endif
