/* formats/symbols.h — function names for addresses, from the symbol tables of the loaded objects.
 *
 * Per object, the first table that exists of: the file's .symtab; the .symtab of its separate
 * debug file (<sysroot>/usr/lib/debug/.build-id/xx/yyyy.debug, else fetched from debuginfod;
 * taken only when its build-id is the object's: files.h, fetch.h); the file's .dynsym.  The file
 * is read only when it is the mapped one, found here or fetched by its build-id (files.h); the
 * vDSO's tables come from its image in the core.  Tables are loaded on first use and kept.
 *
 * The name for an address follows elfutils' dwfl_module_addrsym: the symbol with a size that
 * holds it and lies closest below it, a global one before a weak one before a local one at the
 * same address, the first in table order after that; failing that, the closest symbol without a
 * size in the same executable section (hand-written assembly).  Symbol versions ("@@GLIBC_2.34")
 * are cut off; names are demangled as gdb and binutils do, by libiberty: C++, Rust (legacy and
 * v0) and D alike (symbols_demangle). */
#ifndef COREFS_SYMBOLS_H
#define COREFS_SYMBOLS_H

#include <stdint.h>

#include "memory.h"
#include "modules.h"

struct symtab;

struct symbols {
	const struct modules *mods;
	struct memory *mem;
	struct symtab *tabs;	/* one per module, loaded on first use */
};

/* Not thread-safe: callers serialise (the unwinder's lock). */
int symbols_init(struct symbols *s, const struct modules *mods, struct memory *mem);
void symbols_free(struct symbols *s);

/* The function holding addr in module m: its (demangled) name, and its address in *sym_addr;
 * NULL when the object's tables name none. */
const char *symbols_lookup(struct symbols *s, const struct module *m, uint64_t addr,
			   uint64_t *sym_addr);

/* A mangled C++, Rust or D name demangled as gdb and binutils print it (malloc'd), or NULL. */
char *symbols_demangle(const char *name);

/* Which table names the module's functions: "symtab", "debug-symtab", "dynsym", or NULL when
 * none could be read.  Loads the table. */
const char *symbols_source(struct symbols *s, const struct module *m);

#endif
