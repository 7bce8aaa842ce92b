/* formats/layout.c — the executable's layout and the mm fields a core lets us derive.
 *
 * The load bias as load_elf_binary computed it: AT_PHDR is where the program headers were
 * loaded, so the bias is AT_PHDR minus their link-time address: PT_PHDR's p_vaddr when there is
 * one, else e_phoff inside the PT_LOAD that holds it, the ELF header being read at each place it
 * can be (the file's offset 0 mapping NT_FILE names, right before the program headers, the first
 * PT_LOAD unmoved) and kept only where it agrees with itself. */
#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "util.h"

#define PHNUM_MAX 4096

bool read_elf_struct(const struct core *c, struct memory *mem, uint64_t addr, Elf_Type type,
		     size_t count, void *native, size_t native_size)
{
	size_t fsize = c->elf_class == ELFCLASS64 ? elf64_fsize(type, count, EV_CURRENT)
						  : elf32_fsize(type, count, EV_CURRENT);
	unsigned enc = c->big_endian ? ELFDATA2MSB : ELFDATA2LSB;
	unsigned char *raw;
	Elf_Data src, dst;
	bool ok;

	if (!fsize || fsize > native_size || !(raw = malloc(fsize)))
		return false;
	ok = memory_read(mem, addr, raw, fsize) == (ssize_t)fsize;
	if (ok) {
		src = (Elf_Data){ .d_buf = raw, .d_type = type, .d_size = fsize,
				  .d_version = EV_CURRENT };
		dst = (Elf_Data){ .d_buf = native, .d_type = type, .d_size = native_size,
				  .d_version = EV_CURRENT };
		elf_version(EV_CURRENT);
		ok = (c->elf_class == ELFCLASS64 ? elf64_xlatetom(&dst, &src, enc)
						 : elf32_xlatetom(&dst, &src, enc)) != NULL;
	}
	free(raw);
	return ok;
}

GElf_Phdr *exe_phdrs(const struct core *c, struct memory *mem, size_t *n)
{
	bool is64 = c->elf_class == ELFCLASS64;
	size_t esz = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	uint64_t at, phent, phnum;
	GElf_Phdr *out;
	void *native;

	if (!core_auxv(c, AT_PHDR, &at) || !core_auxv(c, AT_PHENT, &phent) ||
	    !core_auxv(c, AT_PHNUM, &phnum) || phent != esz || !phnum || phnum > PHNUM_MAX)
		return NULL;
	native = calloc(phnum, esz);
	out = calloc(phnum, sizeof(*out));
	if (!native || !out || !read_elf_struct(c, mem, at, ELF_T_PHDR, phnum, native, phnum * esz)) {
		free(native);
		free(out);
		return NULL;
	}
	for (size_t i = 0; i < phnum; i++) {
		if (is64) {
			const Elf64_Phdr *p = (const Elf64_Phdr *)native + i;

			out[i] = (GElf_Phdr){ p->p_type, p->p_flags, p->p_offset, p->p_vaddr,
					      p->p_paddr, p->p_filesz, p->p_memsz, p->p_align };
		} else {
			const Elf32_Phdr *p = (const Elf32_Phdr *)native + i;

			out[i] = (GElf_Phdr){ p->p_type, p->p_flags, p->p_offset, p->p_vaddr,
					      p->p_paddr, p->p_filesz, p->p_memsz, p->p_align };
		}
	}
	free(native);
	*n = phnum;
	return out;
}

static const GElf_Phdr *first_load(const GElf_Phdr *ph, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ph[i].p_type == PT_LOAD)
			return &ph[i];
	return NULL;
}

/* e_phoff of an ELF header at addr; false when there is none there. */
static bool header_phoff(const struct core *c, struct memory *mem, uint64_t addr, uint64_t *phoff)
{
	Elf64_Ehdr e64;
	Elf32_Ehdr e32;

	if (c->elf_class == ELFCLASS64) {
		if (!read_elf_struct(c, mem, addr, ELF_T_EHDR, 1, &e64, sizeof(e64)) ||
		    memcmp(e64.e_ident, ELFMAG, SELFMAG))
			return false;
		*phoff = e64.e_phoff;
		return true;
	}
	if (!read_elf_struct(c, mem, addr, ELF_T_EHDR, 1, &e32, sizeof(e32)) ||
	    memcmp(e32.e_ident, ELFMAG, SELFMAG))
		return false;
	*phoff = e32.e_phoff;
	return true;
}

/* Where the file holding AT_PHDR maps its offset 0, as NT_FILE says; 0 when it does not. */
static uint64_t nt_file_header(const struct core *c, uint64_t at)
{
	const struct core_mapped_file *f = core_file_at(c, at);

	if (!f)
		return 0;
	for (size_t i = 0; i < c->nfiles; i++)
		if (c->files[i].offset == 0 && !strcmp(c->files[i].path, f->path) &&
		    c->files[i].start <= at)
			return c->files[i].start;
	return f->offset <= f->start ? f->start - f->offset : 0;
}

static bool find_bias(const struct core *c, struct memory *mem, const GElf_Phdr *ph, size_t n,
		      uint64_t at, uint64_t *bias)
{
	const GElf_Phdr *load = first_load(ph, n);
	uint64_t ehsize = c->elf_class == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	uint64_t guess[3], phoff;

	for (size_t i = 0; i < n; i++)
		if (ph[i].p_type == PT_PHDR) {
			*bias = at - ph[i].p_vaddr;
			return true;
		}
	if (!load)
		return false;
	guess[0] = nt_file_header(c, at);
	guess[1] = at - ehsize;
	guess[2] = load->p_vaddr - load->p_offset;
	for (size_t g = 0; g < ARRAY_SIZE(guess); g++) {
		if (!guess[g] || !header_phoff(c, mem, guess[g], &phoff))
			continue;
		for (size_t i = 0; i < n; i++) {
			uint64_t b;

			if (ph[i].p_type != PT_LOAD || ph[i].p_offset > phoff ||
			    phoff - ph[i].p_offset >= ph[i].p_filesz)
				continue;
			b = at - (phoff - ph[i].p_offset + ph[i].p_vaddr);
			/* The header read must be where this bias puts the file's start. */
			if (b + load->p_vaddr - load->p_offset == guess[g]) {
				*bias = b;
				return true;
			}
		}
	}
	return false;
}

static void exe_bounds(const struct core *c, struct memory *mem, struct exe_layout *l)
{
	uint64_t sc = UINT64_MAX, ec = 0, sd = 0, ed = 0;
	size_t n;
	GElf_Phdr *ph;
	const GElf_Phdr *load;

	if (!core_auxv(c, AT_PHDR, &l->phdr) || !(ph = exe_phdrs(c, mem, &n)))
		return;
	load = first_load(ph, n);
	if (!load || !find_bias(c, mem, ph, n, l->phdr, &l->bias)) {
		free(ph);
		return;
	}
	l->header = l->bias + load->p_vaddr - load->p_offset;
	for (size_t i = 0; i < n; i++) {
		uint64_t k = ph[i].p_vaddr, e = ph[i].p_vaddr + ph[i].p_filesz;

		if (ph[i].p_type == PT_DYNAMIC)
			l->dynamic = l->bias + ph[i].p_vaddr;
		if (ph[i].p_type != PT_LOAD)
			continue;
		if ((ph[i].p_flags & PF_X) && k < sc)
			sc = k;
		if (sd < k)
			sd = k;
		if ((ph[i].p_flags & PF_X) && ec < e)
			ec = e;
		if (ed < e)
			ed = e;
	}
	free(ph);
	if (sc == UINT64_MAX)
		return;
	l->known = true;
	l->start_code = sc + l->bias;
	l->end_code = ec + l->bias;
	l->start_data = sd + l->bias;
	l->end_data = ed + l->bias;
}

void exe_layout_find(const struct core *c, struct memory *mem, const struct core_vmas *vmas,
		     const struct proc_args *args, struct exe_layout *out)
{
	const struct core_vma *heap = vmas ? vma_of_kind(vmas, VMA_HEAP) : NULL;

	memset(out, 0, sizeof(*out));
	exe_bounds(c, mem, out);
	if (heap) {
		out->brk_known = true;
		out->start_brk = heap->start;
	}
	if (!args || !args->found)
		return;
	out->args_known = true;
	out->arg_start = args->arg_start;
	out->arg_end = args->arg_end;
	out->env_start = args->env_start;
	out->env_end = args->env_end;
	/* argc sits below argv[], its NULL, envp[] and its NULL, right below the auxv. */
	if (args->auxv_addr) {
		unsigned w = c->auxv_word ? c->auxv_word : c->word;
		uint64_t below = (args->argc + args->envc + 3) * w;

		if (args->argc < args->auxv_addr && args->envc < args->auxv_addr &&
		    below <= args->auxv_addr) {
			out->stack_known = true;
			out->start_stack = args->auxv_addr - below;
		}
	}
}
