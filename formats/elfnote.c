/* formats/elfnote.c — decode the notes of an ELF core into the model (stage 5 of elfcore.c).
 *
 * Linux's "CORE"/"LINUX" notes: NT_PRSTATUS starts a thread and the register sets after it are
 * kept on it raw; NT_PRPSINFO, NT_AUXV, NT_FILE and NT_SIGINFO.  NetBSD's procinfo, auxv and
 * per-LWP notes.  The architecture's layouts (arch.c) say where each field lies.  Descriptors are
 * read through bounded readers (struct desc): a value the bytes do not hold reads as absent,
 * never past the end. */
#include <elf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "elfnote.h"
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

/* --- the notes, one kind each ------------------------------------------------------------ */

bool elfnote_linux_owner(const char *owner)
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

/* --- the walk over the notes ------------------------------------------------------------- */

/* What the walk carries from one note to the next. */
struct walk {
	size_t cap;			/* of c->threads */
	struct core_thread *cur;	/* the thread the notes that follow belong to */
	bool have_prstatus;
	int32_t siglwp;			/* NetBSD: the LWP that took the signal, -1: unknown */
};

/* NetBSD: procinfo and auxv of the process (owner "NetBSD-CORE"), then each LWP's registers
 * (owner "NetBSD-CORE@<lwp>").  -1 when out of memory. */
static int decode_netbsd(struct core *c, const struct core_note *n, struct walk *w)
{
	char *endp;
	long lwp;

	if (!strcmp(n->owner, "NetBSD-CORE")) {
		if (n->type == NETBSD_PROCINFO)
			w->siglwp = decode_netbsd_procinfo(c, n);
		else if (n->type == NETBSD_AUXV)
			decode_auxv(c, n, c->word);
		return 0;
	}
	if (strncmp(n->owner, "NetBSD-CORE@", 12))
		return 0;
	lwp = strtol(n->owner + 12, &endp, 10);
	if (*endp || lwp <= 0 || lwp > INT32_MAX)
		return 0;
	w->cur = netbsd_thread(c, (int32_t)lwp, &w->cap);
	if (!w->cur)
		return -1;
	if (c->arch->netbsd_getregs && n->type == c->arch->netbsd_getregs) {
		w->cur->gregs = n->desc;
		w->cur->gregs_size = n->size;
		thread_pc_sp(c, w->cur);
		return 0;
	}
	return core_add_regset(w->cur, n);
}

/* Linux: NT_PRSTATUS starts a thread, whose register sets follow it; the process-wide notes.
 * -1 when out of memory. */
static int decode_linux(struct core *c, const struct core_note *n, struct walk *w)
{
	if (!elfnote_linux_owner(n->owner))
		return w->cur ? core_add_regset(w->cur, n) : 0;
	switch (n->type) {
	case NT_PRSTATUS:
		w->cur = core_new_thread(c, &w->cap);
		if (!w->cur)
			return -1;
		decode_prstatus(c, n, w->cur);
		w->have_prstatus = true;
		return 0;
	case NT_PRPSINFO:
		decode_prpsinfo(c, n);
		return 0;
	case NT_AUXV:
		decode_auxv(c, n, c->word);
		return 0;
	case NT_FILE:
		decode_nt_file(c, n);
		return 0;
	case NT_SIGINFO:
		if (w->cur) {
			w->cur->has_siginfo = true;
			decode_siginfo(c, n, &w->cur->siginfo);
		}
		return 0;
	default:
		return w->cur ? core_add_regset(w->cur, n) : 0;
	}
}

int elfnote_decode(struct core *c, struct core_error *err)
{
	struct walk w = { .siglwp = -1 };

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
		const struct core_note *n = &c->notes[i];

		if ((c->os == CORE_OS_NETBSD ? decode_netbsd : decode_linux)(c, n, &w) < 0)
			return core_fail(err, CORE_E_NOMEM, "%s: out of memory", c->path);
	}
	if (c->os == CORE_OS_LINUX && !w.have_prstatus && c->nnotes)
		core_problem(c, "missing: no NT_PRSTATUS note (no threads)");
	if (c->os == CORE_OS_NETBSD && w.siglwp >= 0)
		netbsd_thread_signals(c, w.siglwp);
	return 0;
}
