/* formats/layout.h — where the kernel's ELF loader put the executable, and the other fields of
 * mm_struct a dead process's core lets us know: start_code, end_code, start_data, end_data,
 * start_stack, start_brk, arg_start..env_end.  Derived once, from the program headers at
 * AT_PHDR (read through the memory reader), the maps view and argv/envp on the stack; the
 * mount's stat and statm show them and revival hands them to PR_SET_MM_MAP, so the two agree. */
#ifndef COREFS_LAYOUT_H
#define COREFS_LAYOUT_H

#include <gelf.h>
#include <stdbool.h>
#include <stdint.h>

#include "core.h"
#include "memory.h"
#include "procargs.h"
#include "vma.h"

struct exe_layout {
	bool known;		/* the executable's program headers were read, its bias found */
	uint64_t phdr;		/* AT_PHDR */
	uint64_t bias;		/* load address minus link-time address */
	uint64_t header;	/* where its ELF header is (the first PT_LOAD's start, loaded) */
	uint64_t dynamic;	/* PT_DYNAMIC, loaded; 0 when none (static) */
	/* load_elf_binary (Linux 6.x): code is the PF_X segments; data starts at the highest
	 * p_vaddr and ends at the highest p_vaddr + p_filesz; all shifted by the bias. */
	uint64_t start_code, end_code, start_data, end_data;

	bool stack_known;	/* argc was found below argv on the stack */
	uint64_t start_stack;	/* where argc is */
	bool brk_known;		/* a [heap] mapping exists */
	uint64_t start_brk;	/* [heap]'s start */
	bool args_known;
	uint64_t arg_start, arg_end, env_start, env_end;
};

/* Everything the model lets us derive; fields it does not are left unknown (0, false). */
void exe_layout_find(const struct core *c, struct memory *mem, const struct core_vmas *vmas,
		     const struct proc_args *args, struct exe_layout *out);

/* The executable's program headers (AT_PHDR, AT_PHENT, AT_PHNUM) through mem, in host order;
 * NULL when unreadable.  The caller frees them. */
GElf_Phdr *exe_phdrs(const struct core *c, struct memory *mem, size_t *n);

/* count ELF structures of type at addr through mem, converted to host order into native
 * (Elf64_* or Elf32_* as the core's class); false when memory lacks a byte of them. */
bool read_elf_struct(const struct core *c, struct memory *mem, uint64_t addr, Elf_Type type,
		     size_t count, void *native, size_t native_size);

#endif
