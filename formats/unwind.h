/* formats/unwind.h — every thread's user-space backtrace, unwound over the model.
 *
 * Two unwinders behind this one interface, chosen by the core's machine:
 *   - x86_64 and x32: libunwind (unw_init_remote, unw_step; unwind.c), with the call-frame
 *     tables of the loaded objects (.eh_frame_hdr, see modules.h, or .eh_frame; else
 *     .debug_frame, where Go keeps its tables) where they cover the pc, else its frame-pointer
 *     rule, and through signal frames (glibc's and Go's rt_sigreturn stubs, recognised by their
 *     code);
 *   - every other machine elfutils has a backend for (aarch64, arm, i386, ppc, ppc64, s390,
 *     s390x, riscv, sparc): libdwfl's dwfl_getthread_frames (unwind_dwfl.c), with corefs's
 *     modules, files (found here, verified, or fetched by build-id), registers and memory.
 * Why two: measured on x86_64 (COREFS_UNWINDER=libdw puts libdwfl there too), libdwfl gives the
 * same frames as libunwind on tests/test_stack.py, test_stack_end.py and test_real_rust.py and
 * on make bench's 101-thread core (5665 frames alike, 19.7 ms against 28.2 ms for every thread
 * read on a mounted core), but stops at Go's runtime.sigreturn stub as eu-stack does (no table
 * covers it and libdwfl's API cannot restart a walk from the registers a signal frame saved),
 * where libunwind's walk here goes on to the interrupted Go code (test_real_go.py: 7 tests).
 * Until the libdwfl walk does that too, x86_64 stays with libunwind.  A machine neither
 * unwinds gets frame #0, from the registers, and a sentence saying why no more.
 * What they read comes from the model: registers from NT_PRSTATUS (arch.h), memory through the
 * memory reader with the verified mapped files (memory.h), so a kernel core that lacks the
 * text still unwinds when the files are here.  Frames are then named from the objects' symbol
 * tables (symbols.h), for any machine.
 *
 * Everything is computed on first use and kept (the core never changes); calls may come from
 * any thread. */
#ifndef COREFS_UNWIND_H
#define COREFS_UNWIND_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "files.h"
#include "memory.h"
#include "layout.h"
#include "modules.h"
#include "symbols.h"

#define FRAME_SIGNAL 1u		/* a signal trampoline: the frame above it was interrupted */
#define FRAME_NO_CFI 2u		/* no call-frame table covers its pc: its caller was found by
				 * the unwinder's frame-pointer rule (or not at all) */

struct frame {
	uint64_t pc;
	uint64_t sp;
	const struct module *module;	/* NULL: the pc lies in no loaded object */
	const char *symbol;	/* NULL: no symbol table names it */
	uint64_t offset;	/* pc minus the symbol's address */
	unsigned flags;
};

struct backtrace {
	struct frame *frames;	/* innermost first */
	size_t n;
	char end[768];		/* why there are no more frames: one sentence */
};

struct mem_page;
struct eh_table;
struct dwfl_unwinder;

struct unwinder {
	const struct core *core;
	const struct disk_files *files;
	pthread_mutex_t lock;	/* guards everything below */
	bool ready;		/* modules found, address space made */
	bool failed;		/* out of memory while getting ready */
	struct memory *mem;	/* the process's (facts): with the usable files, whatever --no-fill */
	const struct exe_layout *layout;
	struct modules mods;
	struct symbols syms;
	struct eh_table *eh;	/* per module, parsed on first use */
	void *as;		/* libunwind's unw_addr_space_t; NULL off x86_64 */
	struct dwfl_unwinder *dwfl;	/* libdwfl's, for the other machines (unwind_dwfl.h) */
	const char *why_not;	/* why there is no address space */
	struct mem_page *pages;	/* a small page cache for libunwind's word reads */
	struct backtrace **threads;	/* per thread, unwound on first use */
};

/* Cheap: nothing is read until a backtrace or the module list is asked for.  -1: no memory. */
int unwinder_init(struct unwinder *u, const struct core *c, const struct disk_files *df,
		  struct memory *mem, const struct exe_layout *layout);
void unwinder_free(struct unwinder *u);

/* The backtrace of c->threads[i]; NULL when out of memory or i is out of range. */
const struct backtrace *unwinder_thread(struct unwinder *u, size_t i);

/* The loaded objects; NULL when out of memory. */
const struct modules *unwinder_modules(struct unwinder *u);

/* Which symbol table names a module's functions (symbols_source). */
const char *unwinder_symbols_source(struct unwinder *u, const struct module *m);

#endif
