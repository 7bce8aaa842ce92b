/* formats/elfcore.c — read an ELF core (any class, either byte order) into struct core.
 *
 * The pipeline, in the spirit of elfutils' dwfl_core_file_report:
 *   1. check the file: not empty, an ELF file (libelf), of type ET_CORE;
 *   2. every PT_LOAD becomes a segment, with how many of its bytes the file really holds;
 *   3. every PT_NOTE is walked with gelf_getnote and each note is recorded;
 *   4. the notes' owners tell the OS (Linux, NetBSD) and refuse kernel dumps (VMCOREINFO);
 *      e_machine, the class and e_flags pick the architecture's layouts (arch.c);
 *   5. the notes are decoded: threads (NT_PRSTATUS and the register sets that follow it),
 *      NT_PRPSINFO, NT_AUXV, NT_FILE, NT_SIGINFO; NetBSD's procinfo and per-LWP notes;
 *   6. derived facts: pid, the killing signal, the producer, and what is missing.
 * Every count and size is checked against the bytes that exist before it is used. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch.h"
#include "core.h"
#include "elfcore.h"
#include "internal.h"
#include "util.h"

/* NetBSD's process-wide notes (owner "NetBSD-CORE"). */
#define NETBSD_PROCINFO 1
#define NETBSD_AUXV 2

static int64_t sext(uint64_t v, unsigned size)
{
	if (size >= 8)
		return (int64_t)v;
	if (v & (UINT64_C(1) << (8 * size - 1)))
		v |= ~UINT64_C(0) << (8 * size);
	return (int64_t)v;
}

/* A bounded view of a note descriptor: reads past its end return false. */
struct desc {
	const struct core *c;
	const unsigned char *p;
	size_t size;
};

static bool get_u(const struct desc *d, size_t off, unsigned size, uint64_t *v)
{
	if (off > d->size || size > d->size - off)
		return false;
	*v = core_get(d->c, d->p + off, size);
	return true;
}

static uint64_t get_or0(const struct desc *d, size_t off, unsigned size)
{
	uint64_t v = 0;

	get_u(d, off, size, &v);
	return v;
}

static int32_t get_i32(const struct desc *d, size_t off)
{
	return (int32_t)sext(get_or0(d, off, 4), 4);
}

/* Copy a fixed-size char field that may lack its NUL (pr_fname is exactly 16 bytes). */
static void get_str(const struct desc *d, size_t off, size_t len, char *out, size_t outsz)
{
	size_t n = 0;

	if (off < d->size) {
		if (len > d->size - off)
			len = d->size - off;
		while (n < len && n + 1 < outsz && d->p[off + n])
			n++;
		memcpy(out, d->p + off, n);
	}
	out[n] = '\0';
}

/* --- 2. segments ------------------------------------------------------------------------- */

static int read_segments(struct core *c, Elf *elf, size_t phnum, struct core_error *err)
{
	c->segs = calloc(phnum ? phnum : 1, sizeof(*c->segs));
	if (!c->segs)
		return core_fail(err, CORE_E_NOMEM, "%s: out of memory for %zu segments", c->path, phnum);
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		struct core_segment *s;

		if (!gelf_getphdr(elf, (int)i, &ph))
			return core_fail(err, CORE_E_CORRUPT, "%s: cannot read program header %zu: %s",
					 c->path, i, elf_errmsg(-1));
		if (ph.p_type != PT_LOAD)
			continue;
		s = &c->segs[c->nsegs++];
		s->vaddr = ph.p_vaddr;
		s->memsz = ph.p_memsz;
		s->offset = ph.p_offset;
		s->filesz = ph.p_filesz;
		s->flags = ph.p_flags & (SEG_R | SEG_W | SEG_X);
		core_segment_settle(c, s);
	}
	return core_index_segments(c, err);
}

/* --- 3. notes ---------------------------------------------------------------------------- */

static int add_note(struct core *c, const char *owner, uint32_t type, uint64_t offset,
		    const unsigned char *desc, size_t size, size_t *cap)
{
	struct core_note *n;

	if (c->nnotes == *cap) {
		size_t ncap = *cap ? 2 * *cap : 32;
		struct core_note *grown = realloc(c->notes, ncap * sizeof(*grown));

		if (!grown)
			return -1;
		c->notes = grown;
		*cap = ncap;
	}
	n = &c->notes[c->nnotes];
	memset(n, 0, sizeof(*n));
	n->owner = strdup(owner);
	if (!n->owner)
		return -1;
	n->type = type;
	n->offset = offset;
	n->desc = desc;
	n->size = size;
	c->nnotes++;
	return 0;
}

/* Whether file bytes [offset, offset + size) hold some PT_LOAD's data. */
static bool overlaps_load(const struct core *c, uint64_t offset, uint64_t size)
{
	for (size_t i = 0; i < c->nsegs; i++) {
		const struct core_segment *s = &c->segs[i];

		if (!s->filesz)
			continue;
		if (s->offset <= offset ? offset - s->offset < s->filesz : s->offset - offset < size)
			return true;
	}
	return false;
}

/* Walk one PT_NOTE segment.  A segment running past the end of the file is read as far as it
 * exists; a note whose sizes run past its segment ends the walk, and both are reported. */
static int read_note_segment(struct core *c, Elf *elf, const GElf_Phdr *ph, size_t *cap,
			     struct core_error *err)
{
	uint64_t size = ph->p_filesz;
	Elf_Data *data;
	size_t off = 0, next;
	GElf_Nhdr nh;
	size_t name_off, desc_off;
	bool cut = false;

	if (ph->p_offset >= c->file_size) {
		core_problem(c, "truncated: note segment at 0x%" PRIx64 " lies past the end of the file",
			     ph->p_offset);
		return 0;
	}
	/* Past the end of the file and over the bytes of a PT_LOAD: a corrupt header rather than
	 * a cut file, whose "notes" would be read from the memory of the process. */
	if (size > c->file_size - ph->p_offset && overlaps_load(c, ph->p_offset, size))
		return core_fail(err, CORE_E_TRUNCATED, "%s: truncated: note segment at 0x%" PRIx64
				 " needs 0x%" PRIx64 " bytes, the file holds 0x%" PRIx64, c->path,
				 ph->p_offset, size, c->file_size - ph->p_offset);
	if (size > c->file_size - ph->p_offset) {
		core_problem(c, "truncated: note segment at 0x%" PRIx64 " needs 0x%" PRIx64
			     " bytes, the file holds 0x%" PRIx64, ph->p_offset, size,
			     c->file_size - ph->p_offset);
		size = c->file_size - ph->p_offset;
		cut = true;
	}
	if (size == 0)
		return 0;
	data = elf_getdata_rawchunk(elf, (int64_t)ph->p_offset, size,
				    ph->p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
	if (!data)
		return core_fail(err, CORE_E_CORRUPT, "%s: cannot read note segment at 0x%" PRIx64 ": %s",
				 c->path, ph->p_offset, elf_errmsg(-1));
	while (off < data->d_size) {
		char owner[64];
		size_t namesz;

		if (data->d_size - off < sizeof(Elf32_Nhdr))
			break;
		next = gelf_getnote(data, off, &nh, &name_off, &desc_off);
		if (next == 0) {
			/* The header's sizes run past what is read: the note is cut short. */
			return core_fail(err, cut ? CORE_E_TRUNCATED : CORE_E_CORRUPT,
					 "%s: note at offset 0x%" PRIx64 " runs past the end of %s",
					 c->path, (uint64_t)(ph->p_offset + off),
					 cut ? "the file" : "its segment");
		}
		namesz = nh.n_namesz;
		if (namesz >= sizeof(owner))
			namesz = sizeof(owner) - 1;
		memcpy(owner, (const char *)data->d_buf + name_off, namesz);
		owner[namesz] = '\0';
		if (add_note(c, owner, nh.n_type, ph->p_offset + desc_off,
			     (const unsigned char *)data->d_buf + desc_off, nh.n_descsz, cap) < 0)
			return core_fail(err, CORE_E_NOMEM, "%s: out of memory for notes", c->path);
		off = next;
	}
	return 0;
}

static int read_notes(struct core *c, Elf *elf, size_t phnum, struct core_error *err)
{
	size_t cap = 0;
	bool any = false;

	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_NOTE)
			continue;
		any = true;
		if (read_note_segment(c, elf, &ph, &cap, err) < 0)
			return -1;
	}
	if (!any)
		core_problem(c, "missing: the core has no note segment (no threads, registers or process information)");
	return 0;
}

/* --- 5. decoding ------------------------------------------------------------------------- */

static bool is_linux_owner(const char *owner)
{
	return !strcmp(owner, "CORE") || !strcmp(owner, "LINUX");
}

static void thread_pc_sp(const struct core *c, struct core_thread *t)
{
	const struct arch_desc *a = c->arch;
	uint64_t v;

	if (a->pc >= 0 && arch_reg(c, t, &a->regs[a->pc], &v)) {
		t->has_pc = true;
		t->pc = a->pc_mask ? v & a->pc_mask : v;
	}
	if (a->sp >= 0 && arch_reg(c, t, &a->regs[a->sp], &v)) {
		t->has_sp = true;
		t->sp = v;
	}
}

static void read_timeval(const struct desc *d, size_t off, unsigned word, struct core_timeval *tv)
{
	tv->sec = sext(get_or0(d, off, word), word);
	tv->usec = sext(get_or0(d, off + word, word), word);
}

static void decode_prstatus(struct core *c, const struct core_note *n, struct core_thread *t)
{
	const struct prstatus_layout *l = &c->arch->prstatus;
	struct desc d = { c, n->desc, n->size };
	unsigned w = l->word;

	t->cursig = (int16_t)get_or0(&d, 12, 2);
	t->sigpend = get_or0(&d, l->sigpend, w);
	t->sighold = get_or0(&d, l->sighold, w);
	t->tid = get_i32(&d, l->pid);
	t->ppid = get_i32(&d, l->ppid);
	t->pgrp = get_i32(&d, l->pgrp);
	t->sid = get_i32(&d, l->sid);
	read_timeval(&d, l->utime, w, &t->utime);
	read_timeval(&d, l->stime, w, &t->stime);
	read_timeval(&d, l->cutime, w, &t->cutime);
	read_timeval(&d, l->cstime, w, &t->cstime);
	if (n->size > l->reg) {
		t->gregs = n->desc + l->reg;
		t->gregs_size = n->size - l->reg;
		if (c->arch->gregs_size && t->gregs_size > c->arch->gregs_size)
			t->gregs_size = c->arch->gregs_size;
	}
	if (n->size < (size_t)l->reg + c->arch->gregs_size)
		core_problem(c, "short NT_PRSTATUS for thread %d: %zu bytes, %s needs %u", t->tid, n->size,
			     c->arch->name, l->reg + c->arch->gregs_size);
	thread_pc_sp(c, t);
}

static void decode_prpsinfo(struct core *c, const struct core_note *n)
{
	const struct prpsinfo_layout *l = c->arch->prpsinfo, *pick = NULL;
	struct core_psinfo *p = &c->psinfo;
	struct desc d = { c, n->desc, n->size };

	for (; l && l->size; l++) {
		if (l->size == n->size) {
			pick = l;
			break;
		}
		if (!pick && l->size < n->size)
			pick = l;
	}
	if (!pick) {
		core_problem(c, "NT_PRPSINFO of %zu bytes matches no %s layout: ignored", n->size,
			     c->arch->name);
		return;
	}
	p->present = true;
	p->state = (char)n->desc[0];
	p->sname = n->size > 1 ? (char)n->desc[1] : 0;
	p->zomb = n->size > 2 ? (char)n->desc[2] : 0;
	p->nice = n->size > 3 ? (signed char)n->desc[3] : 0;
	p->flag = get_or0(&d, pick->flag, pick->flag_size);
	p->uid = (uint32_t)get_or0(&d, pick->uid, pick->id_size);
	p->gid = (uint32_t)get_or0(&d, pick->gid, pick->id_size);
	p->pid = get_i32(&d, pick->pid);
	p->ppid = get_i32(&d, pick->ppid);
	p->pgrp = get_i32(&d, pick->pgrp);
	p->sid = get_i32(&d, pick->sid);
	get_str(&d, pick->fname, 16, p->fname, sizeof(p->fname));
	get_str(&d, pick->psargs, 80, p->psargs, sizeof(p->psargs));
}

/* Fault signals, whose si_addr is the faulting address.  Numbers differ between ABIs (SIGBUS is
 * 7 on x86 and 10 on MIPS and SPARC), so they are matched by the architecture's names. */
static bool signal_has_addr(const struct arch_desc *a, int signo)
{
	static const char *const faults[] = {
		"SIGILL", "SIGTRAP", "SIGBUS", "SIGFPE", "SIGSEGV", "SIGEMT",
	};
	const char *name = signal_name(a, signo);

	if (!name)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(faults); i++)
		if (!strcmp(name, faults[i]))
			return true;
	return false;
}

static void decode_siginfo(struct core *c, const struct core_note *n, struct core_siginfo *si)
{
	const struct arch_desc *a = c->arch;
	struct desc d = { c, n->desc, n->size };
	int second = get_i32(&d, 4), third = get_i32(&d, 8);

	si->signo = get_i32(&d, 0);
	si->errnum = a->siginfo_code_first ? third : second;
	si->code = a->siginfo_code_first ? second : third;
	si->has_addr = false;
	si->has_sender = false;
	if (si->code <= 0 && si->code != -128 /* SI_KERNEL */) {
		/* SI_USER (0), SI_QUEUE (-1), SI_TKILL (-6), ...: sent by a process. */
		si->has_sender = true;
		si->pid = get_i32(&d, a->siginfo_addr_offset);
		si->uid = (uint32_t)get_or0(&d, a->siginfo_addr_offset + 4, 4);
	} else if (signal_has_addr(a, si->signo)) {
		si->has_addr = get_u(&d, a->siginfo_addr_offset, a->siginfo_addr_size, &si->addr);
	}
}

/* NT_AUXV: pairs of target longs up to and including AT_NULL. */
static void decode_auxv(struct core *c, const struct core_note *n, unsigned word)
{
	size_t count = n->size / (2 * word), i;
	bool ended = false;

	if (n->size % (2 * word))
		core_problem(c, "NT_AUXV of %zu bytes is not a whole number of %u-byte entries: "
			     "its last %zu bytes ignored", n->size, 2 * word, n->size % (2 * word));

	c->auxv_raw = n->desc;
	c->auxv_size = n->size;
	c->auxv_word = word;
	free(c->auxv);
	c->auxv = calloc(count ? count : 1, sizeof(*c->auxv));
	c->nauxv = 0;
	if (!c->auxv)
		return;
	for (i = 0; i < count; i++) {
		struct core_auxv_entry *e = &c->auxv[c->nauxv++];

		e->type = core_get(c, n->desc + 2 * word * i, word);
		e->value = core_get(c, n->desc + 2 * word * i + word, word);
		if (e->type == 0) {
			ended = true;
			break;
		}
	}
	if (!ended)
		core_problem(c, "NT_AUXV has no AT_NULL entry");
}

static void free_files(struct core_mapped_file *files, uint64_t count)
{
	for (uint64_t i = 0; i < count; i++)
		free(files[i].path);
	free(files);
}

/* NT_FILE: count, page size, count triples (start, end, page offset), then count paths, which
 * end the note.  Returns false when the note does not parse with this word size (o32 and n32
 * cores of a 64-bit MIPS kernel use 64-bit fields). */
static bool parse_nt_file(struct core *c, const struct core_note *n, unsigned word, bool commit)
{
	struct desc d = { c, n->desc, n->size };
	uint64_t count, page;
	const char *s, *end;
	struct core_mapped_file *files;

	if (!get_u(&d, 0, word, &count) || !get_u(&d, word, word, &page))
		return false;
	if (count > (n->size - 2 * word) / (3 * word))
		return false;
	if (page == 0 || (page & (page - 1)) || page > (UINT64_C(1) << 30))
		return false;
	s = (const char *)n->desc + 2 * word + 3 * word * count;
	end = (const char *)n->desc + n->size;
	files = calloc(count ? count : 1, sizeof(*files));
	if (!files)
		return false;
	for (uint64_t i = 0; i < count; i++) {
		const unsigned char *t = n->desc + 2 * word + 3 * word * i;
		const char *nul = memchr(s, '\0', (size_t)(end - s));

		files[i].start = core_get(c, t, word);
		files[i].end = core_get(c, t + word, word);
		files[i].offset = core_get(c, t + 2 * word, word) * page;
		if (!nul || files[i].end < files[i].start) {
			free_files(files, count);
			return false;
		}
		if (commit && !(files[i].path = strndup(s, (size_t)(nul - s)))) {
			free_files(files, count);
			return false;
		}
		s = nul + 1;
	}
	/* Anything but padding after the names: the fields were read with the wrong size. */
	for (; s < end; s++) {
		if (*s) {
			free_files(files, count);
			return false;
		}
	}
	if (!commit) {
		free_files(files, count);
		return true;
	}
	c->files = files;
	c->nfiles = count;
	c->file_page_size = page;
	return true;
}

static void decode_nt_file(struct core *c, const struct core_note *n)
{
	unsigned other = c->word == 8 ? 4 : 8;

	if (c->files)
		return;
	/* MIPS o32/n32 cores from a 64-bit kernel write NT_FILE with 64-bit fields. */
	if (parse_nt_file(c, n, c->word, false))
		parse_nt_file(c, n, c->word, true);
	else if (parse_nt_file(c, n, other, false))
		parse_nt_file(c, n, other, true);
	else
		core_problem(c, "NT_FILE of %zu bytes is malformed: mapped file names unknown", n->size);
}

/* NetBSD: procinfo (owner "NetBSD-CORE", type 1) gives the process and the signal: struct
 * netbsd_elfcore_procinfo, version 1: cpi_version, cpi_cpisize, cpi_signo, cpi_sigcode, four
 * 16-byte signal sets, pid, ppid, pgrp, sid, three uids, three gids, cpi_nlwps, cpi_name[32],
 * cpi_siglwp (the LWP that took the signal, 0 when it was sent to the process).  Returns
 * cpi_siglwp, or -1 when there is none. */
#define NETBSD_PROCINFO_NAME 124
#define NETBSD_PROCINFO_SIGLWP 156

static int32_t decode_netbsd_procinfo(struct core *c, const struct core_note *n)
{
	struct desc d = { c, n->desc, n->size };
	struct core_psinfo *p = &c->psinfo;
	uint64_t version = 0, cpisize = 0, siglwp;
	char name[33];

	get_u(&d, 0, 4, &version);
	get_u(&d, 4, 4, &cpisize);
	if (version != 1)
		core_problem(c, "NetBSD procinfo version %" PRIu64 ": decoded as version 1", version);
	if (n->size < NETBSD_PROCINFO_NAME || cpisize > n->size) {
		core_problem(c, "NetBSD procinfo note of %zu bytes (cpi_cpisize %" PRIu64
			     ") is too short: ignored", n->size, cpisize);
		return -1;
	}
	p->present = true;
	c->signo = get_i32(&d, 8);
	p->pid = get_i32(&d, 80);
	p->ppid = get_i32(&d, 84);
	p->pgrp = get_i32(&d, 88);
	p->sid = get_i32(&d, 92);
	p->uid = (uint32_t)get_or0(&d, 96, 4);	/* ruid */
	p->gid = (uint32_t)get_or0(&d, 108, 4);	/* rgid */
	get_str(&d, NETBSD_PROCINFO_NAME, 32, name, sizeof(name));
	snprintf(p->fname, sizeof(p->fname), "%.16s", name);
	snprintf(p->psargs, sizeof(p->psargs), "%s", name);
	if (cpisize < NETBSD_PROCINFO_SIGLWP + 4 || !get_u(&d, NETBSD_PROCINFO_SIGLWP, 4, &siglwp))
		return -1;
	return (int32_t)siglwp;
}

/* NetBSD has no per-thread signal note: the LWP named by cpi_siglwp took the signal, all of
 * them when it names none (a signal sent to the process). */
static void netbsd_thread_signals(struct core *c, int32_t siglwp)
{
	for (size_t i = 0; i < c->nthreads; i++) {
		struct core_thread *t = &c->threads[i];

		if (siglwp == 0 || t->tid == siglwp)
			t->cursig = c->signo;
	}
}

static struct core_thread *netbsd_thread(struct core *c, int32_t lwp, size_t *cap)
{
	struct core_thread *t;

	for (size_t i = 0; i < c->nthreads; i++)
		if (c->threads[i].tid == lwp)
			return &c->threads[i];
	t = core_new_thread(c, cap);
	if (t)
		t->tid = lwp;
	return t;
}

static int decode_notes(struct core *c, struct core_error *err)
{
	size_t cap = 0;
	struct core_thread *cur = NULL;
	bool have_prstatus = false;
	int32_t siglwp = -1;

	for (size_t i = 0; i < c->nnotes; i++) {
		struct core_note *n = &c->notes[i];
		const char *name = note_type_name(n->owner, n->type);

		if (!name) {
			snprintf(n->name_buf, sizeof(n->name_buf), "NT_0x%x", n->type);
			name = n->name_buf;
		}
		n->name = name;
	}
	for (size_t i = 0; i < c->nnotes; i++) {
		struct core_note *n = &c->notes[i];

		if (c->os == CORE_OS_NETBSD) {
			if (!strcmp(n->owner, "NetBSD-CORE")) {
				if (n->type == NETBSD_PROCINFO)
					siglwp = decode_netbsd_procinfo(c, n);
				else if (n->type == NETBSD_AUXV)
					decode_auxv(c, n, c->word);
			} else if (!strncmp(n->owner, "NetBSD-CORE@", 12)) {
				char *endp;
				long lwp = strtol(n->owner + 12, &endp, 10);

				if (*endp || lwp <= 0 || lwp > INT32_MAX)
					continue;
				cur = netbsd_thread(c, (int32_t)lwp, &cap);
				if (!cur)
					return core_fail(err, CORE_E_NOMEM, "%s: out of memory", c->path);
				if (c->arch->netbsd_getregs && n->type == c->arch->netbsd_getregs) {
					cur->gregs = n->desc;
					cur->gregs_size = n->size;
					thread_pc_sp(c, cur);
				} else if (core_add_regset(cur, n) < 0) {
					return core_fail(err, CORE_E_NOMEM, "%s: out of memory", c->path);
				}
			}
			continue;
		}
		if (!is_linux_owner(n->owner)) {
			if (cur && core_add_regset(cur, n) < 0)
				return core_fail(err, CORE_E_NOMEM, "%s: out of memory", c->path);
			continue;
		}
		switch (n->type) {
		case NT_PRSTATUS:
			cur = core_new_thread(c, &cap);
			if (!cur)
				return core_fail(err, CORE_E_NOMEM, "%s: out of memory", c->path);
			decode_prstatus(c, n, cur);
			have_prstatus = true;
			break;
		case NT_PRPSINFO:
			decode_prpsinfo(c, n);
			break;
		case NT_AUXV:
			decode_auxv(c, n, c->word);
			break;
		case NT_FILE:
			decode_nt_file(c, n);
			break;
		case NT_SIGINFO:
			if (cur) {
				cur->has_siginfo = true;
				decode_siginfo(c, n, &cur->siginfo);
			}
			break;
		default:
			if (cur && core_add_regset(cur, n) < 0)
				return core_fail(err, CORE_E_NOMEM, "%s: out of memory", c->path);
			break;
		}
	}
	if (c->os == CORE_OS_LINUX && !have_prstatus && c->nnotes)
		core_problem(c, "missing: no NT_PRSTATUS note (no threads)");
	if (c->os == CORE_OS_NETBSD && siglwp >= 0)
		netbsd_thread_signals(c, siglwp);
	return 0;
}

/* --- 4 and 6. what kind of core, and derived facts ----------------------------------------- */

static void detect_os(struct core *c)
{
	c->os = CORE_OS_LINUX;
	for (size_t i = 0; i < c->nnotes; i++)
		if (!strncmp(c->notes[i].owner, "NetBSD-CORE", 11)) {
			c->os = CORE_OS_NETBSD;
			return;
		}
}

static const struct core_note *find_linux_note(const struct core *c, uint32_t type)
{
	for (size_t i = 0; i < c->nnotes; i++)
		if (is_linux_owner(c->notes[i].owner) && c->notes[i].type == type)
			return &c->notes[i];
	return NULL;
}

/* The size of the first NT_PRSTATUS: it tells ABIs apart that the header does not. */
static size_t first_prstatus_size(const struct core *c)
{
	const struct core_note *n = find_linux_note(c, NT_PRSTATUS);

	return n ? n->size : 0;
}

static bool is_kernel_dump(const struct core *c)
{
	for (size_t i = 0; i < c->nnotes; i++)
		if (!strcmp(c->notes[i].owner, "VMCOREINFO"))
			return true;
	return false;
}

static void derive(struct core *c, size_t shnum)
{
	const struct core_thread *first = c->nthreads ? &c->threads[0] : NULL;

	if (c->psinfo.present && c->psinfo.pid > 0)
		c->pid = c->psinfo.pid;
	else if (first)
		c->pid = first->tid;
	if (c->nnotes && is_linux_owner(c->notes[0].owner) && c->notes[0].type == NT_PRPSINFO)
		c->producer = CORE_BY_GDB;
	else if (shnum > 1)
		c->producer = CORE_BY_GDB;
	else if (c->os == CORE_OS_LINUX)
		c->producer = CORE_BY_KERNEL;
	else
		c->producer = CORE_BY_OTHER;
	if (c->os == CORE_OS_LINUX && first)
		c->signo = first->cursig;
	if (c->os == CORE_OS_LINUX) {
		if (!c->psinfo.present)
			core_problem(c, "missing: no NT_PRPSINFO note (command name, arguments, uid unknown)");
		if (!c->auxv_raw)
			core_problem(c, "missing: no NT_AUXV note");
		/* A malformed NT_FILE has said so already. */
		if (!c->files && c->nnotes && !find_linux_note(c, NT_FILE))
			core_problem(c, "missing: no NT_FILE note (names of mapped files unknown)");
	}
}

/* The number of program headers the header claims: e_phnum, or under extended numbering
 * (PN_XNUM) sh_info of section 0, through libelf's section API. */
static uint64_t claimed_phnum(Elf *elf, const GElf_Ehdr *eh)
{
	Elf_Scn *scn;
	GElf_Shdr sh;

	if (eh->e_phnum != PN_XNUM)
		return eh->e_phnum;
	scn = elf_getscn(elf, 0);
	if (!scn || !gelf_getshdr(scn, &sh))
		return PN_XNUM;
	return sh.sh_info;
}

static const char *format_name(const struct core *c)
{
	if (c->elf_class == ELFCLASS64)
		return c->big_endian ? "elf64-big" : "elf64-little";
	return c->big_endian ? "elf32-big" : "elf32-little";
}

int elfcore_read(struct core *c, struct core_error *err)
{
	Elf *elf;
	GElf_Ehdr eh;
	size_t phnum, shnum = 0;
	uint64_t claimed, phend;

	elf_version(EV_CURRENT);
	elf = elf_begin(c->fd, ELF_C_READ_MMAP, NULL);
	if (!elf && c->file_size < sizeof(Elf64_Ehdr))
		return core_fail(err, CORE_E_TRUNCATED, "%s: truncated ELF header (%" PRIu64 " bytes)",
				 c->path, c->file_size);
	if (!elf)
		return core_fail(err, CORE_E_NOT_CORE, "%s: cannot read as ELF: %s", c->path,
				 elf_errmsg(-1));
	c->elf = elf;
	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh))
		return core_fail(err, CORE_E_TRUNCATED, "%s: truncated ELF header (%" PRIu64 " bytes)",
				 c->path, c->file_size);
	c->elf_class = eh.e_ident[EI_CLASS];
	c->big_endian = eh.e_ident[EI_DATA] == ELFDATA2MSB;
	c->machine = eh.e_machine;
	c->e_flags = eh.e_flags;
	c->word = c->elf_class == ELFCLASS64 ? 8 : 4;
	c->format = format_name(c);
	if (eh.e_type != ET_CORE)
		return core_fail(err, CORE_E_NOT_CORE, "%s: ELF file is not a core (e_type %s)", c->path,
				 eh.e_type == ET_EXEC ? "ET_EXEC, an executable"
				 : eh.e_type == ET_DYN ? "ET_DYN, a shared object or PIE"
				 : eh.e_type == ET_REL ? "ET_REL, an object file" : "unknown");
	/* libelf clamps a table that does not fit in the file (elf_getphdrnum then counts what
	 * fits, or fails); a core cut there is unusable, so the count the header claims is
	 * checked first. */
	claimed = claimed_phnum(elf, &eh);
	if (claimed && eh.e_phentsize != gelf_fsize(elf, ELF_T_PHDR, 1, EV_CURRENT))
		return core_fail(err, CORE_E_CORRUPT, "%s: program header size %u is not %zu", c->path,
				 eh.e_phentsize, gelf_fsize(elf, ELF_T_PHDR, 1, EV_CURRENT));
	phend = eh.e_phoff + claimed * eh.e_phentsize;
	if (claimed && (eh.e_phoff > c->file_size || phend > c->file_size || phend < eh.e_phoff))
		return core_fail(err, CORE_E_TRUNCATED,
				 "%s: truncated: %" PRIu64 " program headers at 0x%" PRIx64
				 " run past the end of the file (%" PRIu64 " bytes)",
				 c->path, claimed, (uint64_t)eh.e_phoff, c->file_size);
	if (elf_getphdrnum(elf, &phnum) != 0)
		return core_fail(err, CORE_E_CORRUPT, "%s: cannot count program headers: %s", c->path,
				 elf_errmsg(-1));
	if (phnum == 0)
		return core_fail(err, CORE_E_CORRUPT, "%s: core has no program headers", c->path);
	elf_getshdrnum(elf, &shnum);
	if (read_segments(c, elf, phnum, err) < 0 || read_notes(c, elf, phnum, err) < 0)
		return -1;
	if (is_kernel_dump(c))
		return core_fail(err, CORE_E_NOT_PROCESS,
				 "%s: a kernel crash dump (vmcore with VMCOREINFO), not a process core",
				 c->path);
	detect_os(c);
	c->arch = arch_find_sized(c->machine, c->elf_class, c->e_flags, c->os,
				  first_prstatus_size(c));
	if (arch_is_generic(c->arch))
		core_problem(c, "registers not decoded: no register layout for machine %u (%s)",
			     c->machine, c->format);
	if (decode_notes(c, err) < 0)
		return -1;
	derive(c, shnum);
	/* Not for a decompressed core: a read through a mapping of a memfd's hole allocates the
	 * page, where pread reads zeros; its pages of zeros would fill up memory as mem is read. */
	if (!c->codec) {
		size_t n = 0;
		const unsigned char *img = (const unsigned char *)elf_rawfile(elf, &n);

		if (img && n == c->file_size)
			c->image = img;
	}
	return 0;
}

void elfcore_close(struct core *c)
{
	if (c->elf)
		elf_end(c->elf);
	c->elf = NULL;
}
