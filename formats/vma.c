/* formats/vma.c — derive /proc/PID/maps entries from segments, NT_FILE and auxv. */
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "arch.h"
#include "util.h"
#include "vma.h"

#define VSYSCALL_ADDR UINT64_C(0xffffffffff600000)
#define ARM_VECTORS_ADDR UINT64_C(0xffff0000)
/* Where the kernel starts the brk area of a program run without an interpreter that is itself
 * ET_DYN (static PIE, ld.so run directly): ELF_ET_DYN_BASE, page-aligned up (fs/binfmt_elf.c). */
#define X86_64_ET_DYN_BASE UINT64_C(0x555555555000)	/* DEFAULT_MAP_WINDOW / 3 * 2 */
#define I386_ET_DYN_BASE UINT64_C(0x400000)		/* ia32 tasks on a 64-bit kernel */
#define AARCH64_ET_DYN_BASE UINT64_C(0xaaaaaaaab000)	/* 2 * DEFAULT_MAP_WINDOW_64 / 3 */
/* The brk area starts at a random page within this distance of the executable's end
 * (arch_randomize_brk: 32 MiB for 32-bit tasks, 1 GiB for 64-bit ones since Linux 6.9). */
#define BRK_RANGE_32 (UINT64_C(32) << 20)
#define BRK_RANGE_64 (UINT64_C(1) << 30)

static int cmp_vma(const void *a, const void *b)
{
	const struct core_vma *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static bool anonymous(const struct core_vma *v)
{
	return !v->name;
}

static struct core_vma *vma_at(struct core_vmas *vm, uint64_t addr)
{
	for (size_t i = 0; i < vm->n; i++)
		if (addr >= vm->v[i].start && addr < vm->v[i].end)
			return &vm->v[i];
	return NULL;
}

/* Whether the executable is ET_DYN, read from the core's copy of its ELF header. */
static bool exe_is_dyn(const struct core *c, const struct core_vmas *vm, const char *exe)
{
	unsigned char page[64];
	GElf_Ehdr eh;
	Elf *elf;
	bool dyn = false;

	for (size_t i = 0; i < vm->n; i++) {
		const struct core_vma *v = &vm->v[i];

		if (!v->name || strcmp(v->name, exe) || v->offset != 0)
			continue;
		if (core_read_mem(c, v->start, page, sizeof(page)) != (ssize_t)sizeof(page))
			return false;
		elf = elf_memory((char *)page, sizeof(page));
		dyn = elf && gelf_getehdr(elf, &eh) && eh.e_type == ET_DYN;
		if (elf)
			elf_end(elf);
		return dyn;
	}
	return false;
}

/* Where the brk area begins: after the executable, except for an ET_DYN program run without an
 * interpreter, whose brk the kernel moves to ELF_ET_DYN_BASE (0 when unknown). */
static uint64_t brk_base(const struct core *c, const struct core_vmas *vm, const char *exe,
			 uint64_t exe_end)
{
	uint64_t interp = 0;

	if (core_auxv(c, AT_BASE, &interp) && interp)
		return exe_end;
	if (!exe_is_dyn(c, vm, exe))
		return exe_end;
	switch (c->machine) {
	case EM_X86_64:
		return c->elf_class == ELFCLASS64 ? X86_64_ET_DYN_BASE : 0;
	case EM_386:
		return I386_ET_DYN_BASE;
	case EM_AARCH64:
		return AARCH64_ET_DYN_BASE;
	default:
		return 0;
	}
}

static const char *const kind_names[] = {
	[VMA_HEAP] = "[heap]",
	[VMA_STACK] = "[stack]",
	[VMA_VDSO] = "[vdso]",
	[VMA_VVAR] = "[vvar]",
	[VMA_VVAR_VCLOCK] = "[vvar_vclock]",
	[VMA_VSYSCALL] = "[vsyscall]",
	[VMA_VECTORS] = "[vectors]",
};

const char *vma_kind_name(enum vma_kind k)
{
	return (size_t)k < ARRAY_SIZE(kind_names) ? kind_names[k] : NULL;
}

const struct core_vma *vma_of_kind(const struct core_vmas *vm, enum vma_kind k)
{
	for (size_t i = 0; i < vm->n; i++)
		if (vm->v[i].kind == k)
			return &vm->v[i];
	return NULL;
}

static void name_as(struct core_vma *v, enum vma_kind k)
{
	v->kind = k;
	v->name = kind_names[k];
}

static void name_special(const struct core *c, struct core_vmas *vm)
{
	const char *exe = core_exe_path(c);
	const struct core_thread *main_thread = core_main_thread(c);
	static const uint64_t stack_hints[] = { AT_EXECFN, AT_RANDOM, AT_PLATFORM };
	struct core_vma *v;
	uint64_t addr, exe_end = 0;

	if (core_auxv(c, AT_SYSINFO_EHDR, &addr) && (v = vma_at(vm, addr)) && anonymous(v)) {
		size_t i = (size_t)(v - vm->v);

		name_as(v, VMA_VDSO);
		/* [vvar] and, since Linux 6.13, [vvar_vclock]: read-only, right below the vDSO. */
		if (i >= 2 && anonymous(&vm->v[i - 1]) && anonymous(&vm->v[i - 2]) &&
		    vm->v[i - 1].end == v->start && vm->v[i - 2].end == vm->v[i - 1].start &&
		    !strcmp(vm->v[i - 1].perms, "r--p") && !strcmp(vm->v[i - 2].perms, "r--p")) {
			name_as(&vm->v[i - 2], VMA_VVAR);
			name_as(&vm->v[i - 1], VMA_VVAR_VCLOCK);
		} else if (i >= 1 && anonymous(&vm->v[i - 1]) && vm->v[i - 1].end == v->start &&
			   vm->v[i - 1].perms[2] == '-' && vm->v[i - 1].perms[1] == '-') {
			name_as(&vm->v[i - 1], VMA_VVAR);
		}
	}
	if (c->machine == EM_X86_64 && (v = vma_at(vm, VSYSCALL_ADDR)) && anonymous(v))
		name_as(v, VMA_VSYSCALL);
	if (c->machine == EM_ARM && (v = vma_at(vm, ARM_VECTORS_ADDR)) && anonymous(v))
		name_as(v, VMA_VECTORS);

	v = NULL;
	for (size_t i = 0; i < sizeof(stack_hints) / sizeof(stack_hints[0]) && !v; i++)
		if (core_auxv(c, stack_hints[i], &addr) && addr)
			v = vma_at(vm, addr);
	if (!v && main_thread && main_thread->has_sp)
		v = vma_at(vm, main_thread->sp);
	if (v && anonymous(v))
		name_as(v, VMA_STACK);

	/* [heap]: the first anonymous writable mapping above the brk base, within the brk range;
	 * one that starts exactly at the executable's end is its .bss. */
	if (!exe)
		return;
	for (size_t i = 0; i < vm->n; i++)
		if (vm->v[i].name && !strcmp(vm->v[i].name, exe) && vm->v[i].end > exe_end)
			exe_end = vm->v[i].end;
	if (!exe_end)
		return;
	exe_end = brk_base(c, vm, exe, exe_end);
	if (!exe_end)
		return;
	{
		uint64_t range = c->word == 8 ? BRK_RANGE_64 : BRK_RANGE_32;
		struct core_vma *bss = NULL, *heap = NULL;

		for (size_t i = 0; i < vm->n; i++) {
			v = &vm->v[i];
			if (v->start < exe_end || !anonymous(v) || v->perms[1] != 'w')
				continue;
			/* The kernel randomises the break from the end of .bss (its brk). */
			if (v->start - (bss ? bss->end : exe_end) > range)
				break;
			if (v->start == exe_end && !bss) {
				bss = v;
				continue;
			}
			heap = v;
			break;
		}
		if (heap)
			name_as(heap, VMA_HEAP);
	}
}

/* The NT_FILE entry mapping offset 0 of the same file as f: where its ELF header is. */
static const struct core_mapped_file *header_mapping(const struct core *c,
						     const struct core_mapped_file *f)
{
	const struct core_mapped_file *best = NULL;

	for (size_t i = 0; i < c->nfiles; i++) {
		const struct core_mapped_file *h = &c->files[i];

		if (h->offset != 0 || strcmp(h->path, f->path) || h->start > f->start)
			continue;
		if (!best || h->start > best->start)
			best = h;	/* the closest one below f */
	}
	return best;
}

/* Protections of a file mapping the core holds no segment for.  gdb's gcore leaves out what a
 * process never wrote of a private file mapping, and the kernel treats a shared mapping of a file
 * opened read-only as private (it clears VM_SHARED), as gdb does reading VmFlags; so such a
 * mapping holds the file's own bytes, and only its protections are to be found:
 *
 *   an ELF image's: the p_flags of the PT_LOAD covering it, read from the program headers in the
 *   core's copy of its header page (the mapping of offset 0, which gdb and the kernel dump), else
 *   from the file itself when it is the one;
 *   a file that is no ELF image (the core's copy of its first page, or the file itself, says
 *   so): read-only.  Programs map a data file to read it (glibc's locale files and gconv cache
 *   are PROT_READ); a private mapping they had written would be in the core.
 *
 * False when the file's nature is unknown (no bytes of it here or in the core). */
static bool file_prot(const struct core *c, const struct disk_file *d, const struct core_vma *e,
		      uint32_t *flags)
{
	const struct core_mapped_file *h = header_mapping(c, e->file);
	unsigned char page[4096];
	Elf *elf = NULL;
	int fd = -1;
	ssize_t got = 0;
	size_t phnum;
	bool found = false, first = true;
	uint64_t bias = 0;
	struct stat st;

	if (h)
		got = core_read_mem(c, h->start, page, sizeof(page));
	if (got >= 4 && !memcmp(page, "\177ELF", 4)) {
		elf = elf_memory((char *)page, (size_t)got);
	} else if (got >= 4) {
		*flags = PF_R;	/* the core's copy of its first page is no ELF header */
		return true;
	} else if (disk_file_usable(d) && stat(d->disk_path, &st) == 0 && S_ISREG(st.st_mode) &&
		   (fd = open(d->disk_path, O_RDONLY | O_CLOEXEC)) >= 0) {
		elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
		if (elf && elf_kind(elf) != ELF_K_ELF) {
			*flags = PF_R;	/* the file itself is no ELF image */
			found = true;
			goto out;
		}
	}
	if (!h || !elf || elf_getphdrnum(elf, &phnum) != 0)
		goto out;
	for (size_t i = 0; i < phnum && !found; i++) {
		GElf_Phdr ph;
		uint64_t lo, hi, want;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		lo = ph.p_vaddr & ~(uint64_t)0xfff;
		if (first) {
			bias = h->start - lo;	/* the first PT_LOAD maps file offset 0 at h->start */
			first = false;
		}
		hi = ph.p_vaddr + ph.p_memsz;
		want = e->start - bias;
		if (want >= lo && want < hi) {
			*flags = ph.p_flags;
			found = true;
		}
	}
out:
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	return found;
}

int core_vmas_build(const struct core *c, const struct disk_files *df, struct core_vmas *out)
{
	size_t cap = c->nsegs + c->nfiles, n = 0;
	struct core_vma *v = calloc(cap ? cap : 1, sizeof(*v));

	out->v = NULL;
	out->n = 0;
	if (!v)
		return -1;
	for (size_t i = 0; i < c->nsegs; i++) {
		const struct core_segment *s = &c->segs[c->seg_by_addr[i]];
		struct core_vma *e = &v[n++];

		e->start = s->vaddr;
		e->end = s->vaddr + s->memsz;
		e->seg = s;
		e->in_core = s->avail;
		e->perms[0] = s->flags & SEG_R ? 'r' : '-';
		e->perms[1] = s->flags & SEG_W ? 'w' : '-';
		e->perms[2] = s->flags & SEG_X ? 'x' : '-';
		e->perms[3] = 'p';
		e->file = df ? disk_files_mapping_at(c, df, s->vaddr) : core_file_at(c, s->vaddr);
	}
	/* NT_FILE mappings with no segment (producers that skip unmodified file text). */
	for (size_t i = 0; i < c->nfiles; i++) {
		const struct core_mapped_file *f = &c->files[i];
		struct core_vma *e;

		if (core_segment_at(c, f->start))
			continue;
		e = &v[n++];
		e->start = f->start;
		e->end = f->end;
		e->file = f;
		memcpy(e->perms, "---p", 4);
	}
	qsort(v, n, sizeof(*v), cmp_vma);
	for (size_t i = 0; i < n; i++) {
		struct core_vma *e = &v[i];

		if (!e->file)
			continue;
		e->kind = VMA_FILE;
		e->name = e->file->path;
		e->offset = e->file->offset + (e->start - e->file->start);
		/* Shared anonymous memory and SysV shm are files of the kernel's shmem. */
		if (!strcmp(e->name, "/dev/zero (deleted)") || !strncmp(e->name, "/SYSV", 5))
			e->perms[3] = 's';
		e->disk = df ? disk_file_of(c, df, e->file) : NULL;
		if (!e->seg) {
			uint32_t fl;

			if (file_prot(c, e->disk, e, &fl)) {
				e->perms[0] = fl & PF_R ? 'r' : '-';
				e->perms[1] = fl & PF_W ? 'w' : '-';
				e->perms[2] = fl & PF_X ? 'x' : '-';
			}
		}
		if (disk_file_usable(e->disk)) {
			e->dev_major = major(e->disk->dev);
			e->dev_minor = minor(e->disk->dev);
			e->ino = e->disk->ino;
		}
	}
	out->v = v;
	out->n = n;
	name_special(c, out);
	return 0;
}

void core_vmas_free(struct core_vmas *vm)
{
	free(vm->v);
	vm->v = NULL;
	vm->n = 0;
}
