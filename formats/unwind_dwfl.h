/* formats/unwind_dwfl.h — the libdwfl unwinder inside unwind.c (not an interface of its own:
 * unwind.h is the one interface; this is what unwind.c and unwind_dwfl.c share).
 *
 * elfutils' libdwfl walks the stack (dwfl_thread_getframes) for every machine it has a backend
 * for, with corefs's own callbacks: the modules are corefs's (modules.h) reported at their
 * addresses, their ELF files are the ones files.c found or fetched (module_file), the vDSO's
 * image is read from the core, separate debug files come from disk_debuginfo; threads, their
 * registers (by DWARF numbers, from arch.c's names) and memory are the model's. */
#ifndef COREFS_UNWIND_DWFL_H
#define COREFS_UNWIND_DWFL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct unwinder;
struct dwfl_unwinder;

/* Memory through unwind.c's page cache. */
bool unwinder_read(struct unwinder *u, uint64_t addr, void *out, size_t len);

/* Called per frame, innermost first, with FRAME_* flags; returns false to stop the walk (its
 * reason already written). */
typedef bool (*dwfl_frame_fn)(void *arg, uint64_t pc, uint64_t sp, unsigned flags);

/* NULL with *why set when libdwfl cannot unwind this core's machine (or out of memory). */
struct dwfl_unwinder *dwfl_unwinder_new(struct unwinder *u, const char **why);
void dwfl_unwinder_free(struct dwfl_unwinder *d);

/* Unwind c->threads[i]; end gets why the walk stopped unless fn stopped it. */
void dwfl_unwinder_walk(struct dwfl_unwinder *d, size_t i, dwfl_frame_fn fn, void *arg,
			char *end, size_t endlen);

#endif
