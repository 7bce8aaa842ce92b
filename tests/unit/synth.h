/* tests/unit/synth.h — small synthetic cores written with libelf, for the unit tests.
 *
 * A test describes a core (class, byte order, machine, PT_LOAD segments, notes) and
 * synth_write() lays it out as the kernel does: ELF header, program headers, one PT_NOTE, then
 * the segments' bytes at page-aligned offsets.  The header and the program headers are written by
 * libelf (gelf_newehdr, gelf_newphdr, elf_update), note headers are put in the target's byte
 * order by elf32_xlatetof, and the descriptors' integers by synth_put().
 *
 * Memory bytes follow synth_byte(addr), so a test knows what any address must read back.
 * A segment may claim bytes the file does not hold: give it an offset past the end, or cut the
 * file with synth.cut. */
#ifndef COREFS_UNIT_SYNTH_H
#define COREFS_UNIT_SYNTH_H

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SYNTH_PAGE 0x1000u
/* An e_machine no ELF machine has, so no register layout either. */
#define SYNTH_EM_NONESUCH 0x5a5a
#define SYNTH_MAX_SEGS 16

struct synth_seg {
	uint64_t vaddr, memsz, filesz;
	uint32_t flags;		/* PF_R | PF_W | PF_X */
	uint64_t offset;	/* set by synth_write unless fixed_offset */
	bool fixed_offset;
};

struct synth {
	unsigned char elf_class;	/* ELFCLASS64 or ELFCLASS32 */
	unsigned char data;		/* ELFDATA2LSB or ELFDATA2MSB */
	uint16_t machine, type;
	struct synth_seg segs[SYNTH_MAX_SEGS];
	size_t nsegs;
	bool no_note_segment;
	unsigned char *notes;	/* the note segment, in the target's byte order */
	size_t notes_len, notes_cap;
	uint64_t note_offset;	/* set by synth_write */
	uint64_t cut;		/* when non-zero, the file is cut to this many bytes */
	uint64_t file_size;	/* set by synth_write */
	char path[64];
};

static inline void synth_init(struct synth *s, unsigned char elf_class, unsigned char data,
			      uint16_t machine)
{
	memset(s, 0, sizeof(*s));
	s->elf_class = elf_class;
	s->data = data;
	s->machine = machine;
	s->type = ET_CORE;
}

static inline void synth_free(struct synth *s)
{
	if (s->path[0])
		unlink(s->path);
	free(s->notes);
	s->notes = NULL;
}

/* The byte every synthetic segment holds at addr. */
static inline unsigned char synth_byte(uint64_t addr)
{
	return (unsigned char)(addr * 7 + (addr >> 8) + (addr >> 16));
}

/* Store an integer of size bytes in the core's byte order. */
static inline void synth_put(const struct synth *s, unsigned char *p, unsigned size, uint64_t v)
{
	for (unsigned i = 0; i < size; i++) {
		unsigned shift = s->data == ELFDATA2MSB ? 8 * (size - 1 - i) : 8 * i;

		p[i] = (unsigned char)(v >> shift);
	}
}

static inline unsigned synth_word(const struct synth *s)
{
	return s->elf_class == ELFCLASS64 ? 8 : 4;
}

static inline struct synth_seg *synth_load(struct synth *s, uint64_t vaddr, uint64_t memsz,
					   uint64_t filesz, uint32_t flags)
{
	struct synth_seg *g = &s->segs[s->nsegs++];

	*g = (struct synth_seg){ .vaddr = vaddr, .memsz = memsz, .filesz = filesz, .flags = flags };
	return g;
}

static inline void synth_note(struct synth *s, const char *owner, uint32_t type, const void *desc,
			      size_t size)
{
	size_t namesz = strlen(owner) + 1, need = sizeof(Elf32_Nhdr) + ((namesz + 3) & ~(size_t)3) +
						  ((size + 3) & ~(size_t)3);
	Elf32_Nhdr nh = { .n_namesz = (Elf32_Word)namesz, .n_descsz = (Elf32_Word)size, .n_type = type };
	unsigned char *p;

	if (s->notes_len + need > s->notes_cap) {
		s->notes_cap = 2 * (s->notes_len + need);
		s->notes = realloc(s->notes, s->notes_cap);
		if (!s->notes)
			abort();
	}
	p = s->notes + s->notes_len;
	memset(p, 0, need);
	/* The header is three Elf32_Words, in the target's byte order. */
	{
		Elf_Data src = { .d_buf = &nh, .d_type = ELF_T_WORD, .d_size = sizeof(nh),
				 .d_version = EV_CURRENT };
		Elf_Data dst = { .d_buf = p, .d_size = sizeof(nh), .d_version = EV_CURRENT };

		elf_version(EV_CURRENT);
		if (!elf32_xlatetof(&dst, &src, s->data))
			abort();
	}
	memcpy(p + sizeof(nh), owner, namesz);
	if (size)
		memcpy(p + sizeof(nh) + ((namesz + 3) & ~(size_t)3), desc, size);
	s->notes_len += need;
}

/* A note whose descriptor is a list of target words (NT_AUXV, NT_FILE headers...). */
static inline void synth_note_words(struct synth *s, const char *owner, uint32_t type,
				    const uint64_t *words, size_t n, const void *tail, size_t tail_len)
{
	unsigned w = synth_word(s);
	unsigned char *d = calloc(1, n * w + tail_len + 1);

	for (size_t i = 0; i < n; i++)
		synth_put(s, d + i * w, w, words[i]);
	if (tail_len)
		memcpy(d + n * w, tail, tail_len);
	synth_note(s, owner, type, d, n * w + tail_len);
	free(d);
}

/* Write the file; returns 0, or -1 with a message on stderr. */
static inline int synth_write(struct synth *s)
{
	size_t ehsize = s->elf_class == ELFCLASS64 ? elf64_fsize(ELF_T_EHDR, 1, EV_CURRENT)
						   : elf32_fsize(ELF_T_EHDR, 1, EV_CURRENT);
	size_t phentsize = s->elf_class == ELFCLASS64 ? elf64_fsize(ELF_T_PHDR, 1, EV_CURRENT)
						      : elf32_fsize(ELF_T_PHDR, 1, EV_CURRENT);
	size_t nph = s->nsegs + (s->no_note_segment ? 0 : 1), ph = 0;
	uint64_t off;
	unsigned char *page;
	Elf *elf;
	GElf_Ehdr eh;
	int fd;

	snprintf(s->path, sizeof(s->path), "/tmp/corefs-unit-XXXXXX");
	fd = mkstemp(s->path);
	if (fd < 0) {
		perror("mkstemp");
		return -1;
	}
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_WRITE, NULL);
	if (!elf || !gelf_newehdr(elf, s->elf_class) || !gelf_getehdr(elf, &eh))
		goto elf_fail;
	eh.e_ident[EI_DATA] = s->data;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = s->type;
	eh.e_machine = s->machine;
	eh.e_version = EV_CURRENT;
	eh.e_phoff = nph ? ehsize : 0;
	eh.e_shoff = 0;
	eh.e_ehsize = (uint16_t)ehsize;
	eh.e_phentsize = (uint16_t)phentsize;
	if (!gelf_update_ehdr(elf, &eh) || (nph && !gelf_newphdr(elf, nph)))
		goto elf_fail;

	/* Layout: notes right after the program headers, segments page-aligned after them. */
	off = ehsize + nph * phentsize;
	s->note_offset = (off + 3) & ~UINT64_C(3);
	off = s->note_offset + (s->no_note_segment ? 0 : s->notes_len);
	if (!s->no_note_segment) {
		GElf_Phdr p = { .p_type = PT_NOTE, .p_offset = s->note_offset,
				.p_filesz = s->notes_len, .p_align = 4 };

		if (!gelf_update_phdr(elf, (int)ph++, &p))
			goto elf_fail;
	}
	for (size_t i = 0; i < s->nsegs; i++) {
		struct synth_seg *g = &s->segs[i];
		GElf_Phdr p;

		off = (off + SYNTH_PAGE - 1) & ~(uint64_t)(SYNTH_PAGE - 1);
		if (!g->fixed_offset) {
			g->offset = off;
			off += g->filesz;
		}
		p = (GElf_Phdr){ .p_type = PT_LOAD, .p_flags = g->flags, .p_offset = g->offset,
				 .p_vaddr = g->vaddr, .p_filesz = g->filesz, .p_memsz = g->memsz,
				 .p_align = SYNTH_PAGE };
		if (!gelf_update_phdr(elf, (int)ph++, &p))
			goto elf_fail;
	}
	elf_flagelf(elf, ELF_C_SET, ELF_F_LAYOUT);
	if (elf_update(elf, ELF_C_WRITE) < 0)
		goto elf_fail;
	elf_end(elf);

	if (!s->no_note_segment && s->notes_len &&
	    pwrite(fd, s->notes, s->notes_len, (off_t)s->note_offset) != (ssize_t)s->notes_len)
		goto io_fail;
	page = malloc(SYNTH_PAGE);
	for (size_t i = 0; i < s->nsegs; i++) {
		const struct synth_seg *g = &s->segs[i];

		for (uint64_t done = 0; done < g->filesz && g->offset < (UINT64_C(1) << 40);) {
			size_t n = g->filesz - done < SYNTH_PAGE ? (size_t)(g->filesz - done) : SYNTH_PAGE;

			for (size_t k = 0; k < n; k++)
				page[k] = synth_byte(g->vaddr + done + k);
			if (pwrite(fd, page, n, (off_t)(g->offset + done)) != (ssize_t)n) {
				free(page);
				goto io_fail;
			}
			done += n;
		}
	}
	free(page);
	if (s->cut && ftruncate(fd, (off_t)s->cut) < 0)
		goto io_fail;
	s->file_size = (uint64_t)lseek(fd, 0, SEEK_END);
	close(fd);
	return 0;
elf_fail:
	fprintf(stderr, "synth_write: libelf: %s\n", elf_errmsg(-1));
	if (elf)
		elf_end(elf);
	close(fd);
	return -1;
io_fail:
	perror("synth_write");
	close(fd);
	return -1;
}

/* --- an x86_64 Linux process, with the kernel's own note structures (host x86_64 only) -------- */
#if defined(__x86_64__)
#include <signal.h>
#include <sys/procfs.h>
#include <sys/user.h>

#define SYNTH_X86_64 1

#define SYNTH_EXE "/usr/bin/synthetic-program"
#define SYNTH_LIB "/lib/x86_64-linux-gnu/libsynth.so.6"
#define SYNTH_PID 4242

static inline void synth_prstatus(struct synth *s, int32_t tid, int cursig,
				  const struct user_regs_struct *regs)
{
	struct elf_prstatus pr;

	memset(&pr, 0, sizeof(pr));
	pr.pr_info.si_signo = cursig;
	pr.pr_cursig = (short)cursig;
	pr.pr_sigpend = 0x100;
	pr.pr_sighold = 0x2000;
	pr.pr_pid = tid;
	pr.pr_ppid = 1;
	pr.pr_pgrp = SYNTH_PID;
	pr.pr_sid = 77;
	pr.pr_utime.tv_sec = 3;
	pr.pr_utime.tv_usec = 500;
	_Static_assert(sizeof(pr.pr_reg) == sizeof(*regs), "pr_reg is a user_regs_struct");
	memcpy(&pr.pr_reg, regs, sizeof(*regs));
	synth_note(s, "CORE", NT_PRSTATUS, &pr, sizeof(pr));
}

static inline void synth_prpsinfo(struct synth *s, int32_t pid, const char *fname,
				  const char *psargs)
{
	struct elf_prpsinfo ps;

	memset(&ps, 0, sizeof(ps));
	ps.pr_state = 0;
	ps.pr_sname = 'R';
	ps.pr_nice = -5;
	ps.pr_flag = 0x400600;
	ps.pr_uid = 1000;
	ps.pr_gid = 100;
	ps.pr_pid = pid;
	ps.pr_ppid = 1;
	ps.pr_pgrp = pid;
	ps.pr_sid = 77;
	/* Fixed fields, NUL-terminated only when shorter (as the kernel fills them). */
	memcpy(ps.pr_fname, fname, strnlen(fname, sizeof(ps.pr_fname)));
	memcpy(ps.pr_psargs, psargs, strnlen(psargs, sizeof(ps.pr_psargs)));
	synth_note(s, "CORE", NT_PRPSINFO, &ps, sizeof(ps));
}

static inline void synth_siginfo(struct synth *s, int signo, int code, uint64_t addr)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = signo;
	si.si_code = code;
	si.si_addr = (void *)(uintptr_t)addr;
	synth_note(s, "CORE", NT_SIGINFO, &si, sizeof(si));
}

/* The registers of thread number i of the standard process. */
static inline struct user_regs_struct synth_regs(unsigned i)
{
	struct user_regs_struct r;

	memset(&r, 0, sizeof(r));
	r.rax = 0x1111111111111111ull + i;
	r.rbx = 0x2222;
	r.rcx = 0x3333;
	r.r15 = 0xf15 + i;
	r.rip = 0x401234 + 0x10 * i;
	r.rsp = 0x7fffffffd000 - 0x100 * i;
	r.eflags = 0xffffffff00000246ull;	/* gdb shows eflags at 32 bits */
	r.cs = 0xdead00000033ull;
	r.fs_base = 0x7f0000000740ull;
	r.orig_rax = (unsigned long long)-1;
	return r;
}

/* NT_FILE with 64-bit words: count, page size, (start, end, page offset) each, then names. */
static inline void synth_nt_file(struct synth *s, uint64_t page, size_t n, const uint64_t (*ranges)[3],
				 const char *const *paths)
{
	uint64_t *w = calloc(2 + 3 * n, sizeof(*w));
	char names[4096];
	size_t len = 0;

	w[0] = n;
	w[1] = page;
	for (size_t i = 0; i < n; i++) {
		memcpy(&w[2 + 3 * i], ranges[i], sizeof(ranges[i]));
		len += (size_t)snprintf(names + len, sizeof(names) - len, "%s", paths[i]) + 1;
	}
	synth_note_words(s, "CORE", NT_FILE, w, 2 + 3 * n, names, len);
	free(w);
}

/* Segments of the standard process, in ascending order as the kernel writes them. */
enum { STD_EXE_HDR, STD_EXE_TEXT, STD_EXE_DATA, STD_HEAP, STD_LIB, STD_STACK, STD_NSEGS };

static inline void synth_std_segments(struct synth *s)
{
	synth_load(s, 0x400000, 0x1000, 0x1000, PF_R);
	synth_load(s, 0x401000, 0x1000, 0, PF_R | PF_X);	/* file text: not dumped */
	synth_load(s, 0x402000, 0x2000, 0x2000, PF_R | PF_W);
	synth_load(s, 0x600000, 0x21000, 0x21000, PF_R | PF_W);
	synth_load(s, 0x7f0000000000, 0x1000, 0x1000, PF_R);
	synth_load(s, 0x7ffffffde000, 0x21000, 0x21000, PF_R | PF_W);
}

static inline void synth_std_auxv(struct synth *s)
{
	static const uint64_t auxv[] = {
		AT_PHDR, 0x400040, AT_PHENT, 56, AT_PHNUM, 13, AT_PAGESZ, 4096,
		AT_ENTRY, 0x401000, AT_EXECFN, 0x7fffffffe000, AT_NULL, 0,
	};

	synth_note_words(s, "CORE", NT_AUXV, auxv, sizeof(auxv) / sizeof(auxv[0]), NULL, 0);
}

static inline void synth_std_nt_file(struct synth *s)
{
	static const uint64_t ranges[][3] = {
		{ 0x400000, 0x401000, 0 }, { 0x401000, 0x402000, 1 }, { 0x402000, 0x404000, 2 },
		{ 0x7f0000000000, 0x7f0000001000, 0 },
	};
	static const char *const paths[] = { SYNTH_EXE, SYNTH_EXE, SYNTH_EXE, SYNTH_LIB };

	synth_nt_file(s, 4096, 4, ranges, paths);
}

/* The notes of a one-thread process killed by SIGSEGV, in the kernel's order. */
static inline void synth_std_notes(struct synth *s)
{
	struct user_regs_struct r = synth_regs(0);
	unsigned char fpregs[512] = { 0x7f, 0x03 };

	synth_prstatus(s, SYNTH_PID, SIGSEGV, &r);
	synth_prpsinfo(s, SYNTH_PID, "synthetic-progr", "./synthetic-program --flag value ");
	synth_siginfo(s, SIGSEGV, SEGV_MAPERR, 0x10);
	synth_std_auxv(s);
	synth_std_nt_file(s);
	synth_note(s, "CORE", NT_FPREGSET, fpregs, sizeof(fpregs));
}

static inline void synth_std_process(struct synth *s)
{
	synth_init(s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_std_segments(s);
	synth_std_notes(s);
}
#endif /* __x86_64__ */

#endif
