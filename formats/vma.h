/* formats/vma.h — the process's memory map as /proc/PID/maps would show it, derived from the
 * model: one entry per PT_LOAD (the kernel writes one per VMA), named from NT_FILE and, for
 * anonymous mappings, from what the core tells apart: [vdso] at AT_SYSINFO_EHDR, [vvar] and
 * [vvar_vclock] just below it, [stack] around the initial stack (AT_EXECFN, AT_RANDOM, or the
 * main thread's sp), [heap] as the first anonymous mapping after the executable's data within
 * the brk randomisation range, [vsyscall] at its fixed x86_64 address. */
#ifndef COREFS_VMA_H
#define COREFS_VMA_H

#include <stdbool.h>
#include <stdint.h>

#include "core.h"
#include "files.h"

/* What a mapping is, as vma.c told it apart; a special kind's name is vma_kind_name()'s. */
enum vma_kind {
	VMA_ANON,		/* anonymous, no name */
	VMA_FILE,		/* NT_FILE names its file: name is the path */
	VMA_HEAP,		/* [heap] */
	VMA_STACK,		/* [stack] */
	VMA_VDSO,		/* [vdso] */
	VMA_VVAR,		/* [vvar] */
	VMA_VVAR_VCLOCK,	/* [vvar_vclock] */
	VMA_VSYSCALL,		/* [vsyscall]: the kernel's gate area, not a VMA of the mm */
	VMA_VECTORS,		/* [vectors] (arm) */
};

struct core_vma {
	uint64_t start, end;
	enum vma_kind kind;
	char perms[5];		/* "r-xp" */
	uint64_t offset;	/* file offset, 0 for anonymous mappings */
	unsigned dev_major, dev_minor;
	uint64_t ino;
	const char *name;	/* path, "[heap]", ... or NULL */
	uint64_t in_core;	/* bytes the core file holds */
	const struct core_segment *seg;	/* NULL when only NT_FILE knows of it */
	const struct core_mapped_file *file;
	const struct disk_file *disk;
};

struct core_vmas {
	struct core_vma *v;
	size_t n;
};

/* Build the map; df may be NULL (then no dev:inode).  Returns -1 when out of memory. */
int core_vmas_build(const struct core *c, const struct disk_files *df, struct core_vmas *out);
void core_vmas_free(struct core_vmas *vm);

/* "[heap]" for VMA_HEAP ...; NULL for VMA_ANON and VMA_FILE. */
const char *vma_kind_name(enum vma_kind k);
/* The first mapping of kind k, or NULL. */
const struct core_vma *vma_of_kind(const struct core_vmas *vm, enum vma_kind k);
/* The vDSO and the kernel data pages beside it. */
static inline bool vma_is_vdso_family(const struct core_vma *v)
{
	return v->kind == VMA_VDSO || v->kind == VMA_VVAR || v->kind == VMA_VVAR_VCLOCK;
}

#endif
