/* formats/macho.c — read a Mach-O core (MH_CORE, 64-bit little-endian: x86_64, arm64) into
 * struct core.
 *
 * A Mach-O core is a header, a table of load commands, then the bytes the commands point at.
 * The pipeline:
 *   1. the header: MH_MAGIC_64, MH_CORE, a CPU whose registers we know; ncmds and sizeofcmds
 *      must fit in the file;
 *   2. the load commands, each cmdsize checked against what remains of sizeofcmds:
 *      LC_SEGMENT_64 becomes a segment, with how many of its bytes the file really holds;
 *      LC_THREAD and LC_UNIXTHREAD a thread, each flavor/count pair in it a register-state note
 *      (count checked against the command); LC_NOTE a note whose payload is read from the file;
 *      any other command is kept as a raw note;
 *   3. the LC_NOTEs lldb documents: "process metadata" (thread ids) and "addrable bits" (which
 *      pc bits are the address) are decoded; "kern ver str" and a kernel "main bin spec" mark a
 *      kernel core, which is refused; the others stay raw;
 *   4. derived facts: each thread's pc and sp, and what the core lacks.
 * There is no Mach-O library: fields are read with explicit little-endian loads from bounded
 * buffers, never by casting file bytes to structures.  The CPU types read and the names of
 * commands and flavors are tables in macho_tables.c.
 *
 * Ownership: core_close frees each note's owner string.  A note made here is one allocation —
 * the owner string, the name, then the bytes — so that free releases all of it.  Threads'
 * general registers and register sets point into their notes. */
#include <cjson/cJSON.h>
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch.h"
#include "core.h"
#include "internal.h"
#include "macho.h"
#include "macho_tables.h"
#include "util.h"

#define LOAD_COMMAND_SIZE 8	/* cmd, cmdsize */
#define SEGMENT_COMMAND_64_SIZE 72	/* + segname[16], vmaddr, vmsize, fileoff, filesize,
					 * maxprot, initprot, nsects, flags */
#define NOTE_COMMAND_SIZE 40	/* + data_owner[16], offset, size */

#define VM_PROT_READ 1u
#define VM_PROT_WRITE 2u
#define VM_PROT_EXECUTE 4u

/* Sizes no real core reaches: larger values are taken as damage, not allocated. */
#define MAX_SIZEOFCMDS (UINT32_C(64) << 20)
#define MAX_NOTE_PAYLOAD (UINT64_C(16) << 20)

#define MACHO_OWNER "Mach-O"	/* owner of the notes that keep other load commands raw */

/* What the reader carries from one load command to the next. */
struct macho {
	struct core *c;
	const struct macho_cpu *cpu;
	size_t note_cap, seg_cap, thread_cap;
	uint64_t addr_mask;		/* pc bits that are the address ("addrable bits"), 0: all */
	bool tids_known;
};

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* --- notes ------------------------------------------------------------------------------- */

/* Record a note; owner, name and bytes are copied into one allocation that starts with the owner
 * string (see the ownership rule above), and a NUL follows the bytes so that a text payload is
 * also a C string.  Returns the note, valid until the next one is added, or NULL when out of
 * memory. */
static struct core_note *add_note(struct macho *m, const char *owner, uint32_t type,
				  const char *name, uint64_t offset, const unsigned char *data,
				  size_t size)
{
	struct core *c = m->c;
	size_t olen = strlen(owner) + 1, nlen = strlen(name) + 1;
	size_t head = (olen + nlen + 7) & ~(size_t)7;
	struct core_note *n;
	char *block;

	if (c->nnotes == m->note_cap) {
		size_t ncap = m->note_cap ? 2 * m->note_cap : 16;
		struct core_note *grown = realloc(c->notes, ncap * sizeof(*grown));

		if (!grown)
			return NULL;
		c->notes = grown;
		m->note_cap = ncap;
	}
	if (size > SIZE_MAX - head - 1)
		return NULL;
	block = malloc(head + size + 1);
	if (!block)
		return NULL;
	memcpy(block, owner, olen);
	memcpy(block + olen, name, nlen);
	if (size)
		memcpy(block + head, data, size);
	block[head + size] = '\0';
	n = &c->notes[c->nnotes++];
	memset(n, 0, sizeof(*n));
	n->owner = block;
	n->name = block + olen;
	n->type = type;
	n->offset = offset;
	n->desc = (const unsigned char *)block + head;
	n->size = size;
	return n;
}

/* --- 2. load commands -------------------------------------------------------------------- */

static int add_segment(struct macho *m, const unsigned char *lc, uint32_t cmdsize, uint32_t idx,
		       uint64_t at, struct core_error *err)
{
	struct core *c = m->c;
	struct core_segment *s;
	uint64_t filesize;
	uint32_t prot;

	if (cmdsize < SEGMENT_COMMAND_64_SIZE)
		return core_fail(err, CORE_E_CORRUPT,
				 "%s: LC_SEGMENT_64 (load command %u at 0x%" PRIx64 ") has cmdsize %u, "
				 "less than the %u bytes of a segment command",
				 c->path, idx, at, cmdsize, SEGMENT_COMMAND_64_SIZE);
	if (c->nsegs == m->seg_cap) {
		size_t ncap = m->seg_cap ? 2 * m->seg_cap : 64;
		struct core_segment *grown = realloc(c->segs, ncap * sizeof(*grown));

		if (!grown)
			return core_fail(err, CORE_E_NOMEM, "%s: out of memory for segments", c->path);
		c->segs = grown;
		m->seg_cap = ncap;
	}
	s = &c->segs[c->nsegs++];
	memset(s, 0, sizeof(*s));
	s->vaddr = le64(lc + 24);
	s->memsz = le64(lc + 32);
	s->offset = le64(lc + 40);
	filesize = le64(lc + 48);
	prot = le32(lc + 60);	/* initprot */
	s->filesz = filesize;
	s->flags = (prot & VM_PROT_READ ? SEG_R : 0) | (prot & VM_PROT_WRITE ? SEG_W : 0) |
		   (prot & VM_PROT_EXECUTE ? SEG_X : 0);
	core_segment_settle(c, s);
	return 0;
}

/* One register state of a thread: the first that holds the general registers becomes gregs
 * (a unified state is unwrapped); every other one is kept raw as a register set. */
static int thread_state(struct macho *m, struct core_thread *t, const struct core_note *n)
{
	const struct macho_cpu *cpu = m->cpu;

	if (!t->gregs && (n->type == cpu->gregs_flavor ||
			  (cpu->full_flavor && n->type == cpu->full_flavor))) {
		t->gregs = n->desc;
		t->gregs_size = n->size;
		return 0;
	}
	if (!t->gregs && n->type == cpu->unified_flavor && n->size >= 8 &&
	    le32(n->desc) == cpu->gregs_flavor && le32(n->desc + 4) <= (n->size - 8) / 4) {
		t->gregs = n->desc + 8;
		t->gregs_size = (size_t)le32(n->desc + 4) * 4;
		return 0;
	}
	return core_add_regset(t, n);
}

/* LC_THREAD, LC_UNIXTHREAD: flavor, count, then count 32-bit words of state, repeated. */
static int add_thread(struct macho *m, const unsigned char *lc, uint32_t cmdsize, uint32_t idx,
		      uint64_t at, struct core_error *err)
{
	struct core *c = m->c;
	const char *cmdname = le32(lc) == LC_UNIXTHREAD ? "LC_UNIXTHREAD" : "LC_THREAD";
	struct core_thread *t = core_new_thread(m->c, &m->thread_cap);
	uint32_t off = LOAD_COMMAND_SIZE;

	if (!t)
		return core_fail(err, CORE_E_NOMEM, "%s: out of memory for threads", c->path);
	t->tid = (int32_t)c->nthreads;	/* 1..n unless "process metadata" names them */
	while (cmdsize - off >= 8) {
		uint32_t flavor = le32(lc + off), count = le32(lc + off + 4);
		uint32_t left = cmdsize - off - 8;
		const struct core_note *n;
		char buf[24];
		const char *name = macho_flavor_name(m->cpu, flavor, buf, sizeof(buf));

		if (flavor == 0 && count == 0)
			break;	/* zero padding: lldb stops at flavor 0 as well */
		if (count > left / 4)
			return core_fail(err, CORE_E_CORRUPT,
					 "%s: %s (load command %u at 0x%" PRIx64 "): %s count %u "
					 "(%" PRIu64 " bytes) runs past the end of the command "
					 "(%u bytes left)", c->path, cmdname, idx, at, name, count,
					 (uint64_t)count * 4, left);
		n = add_note(m, cmdname, flavor, name, at + off + 8, lc + off + 8,
			     (size_t)count * 4);
		if (!n || thread_state(m, t, n) < 0)
			return core_fail(err, CORE_E_NOMEM, "%s: out of memory for registers", c->path);
		off += 8 + count * 4;
	}
	if (off < cmdsize && !all_zero(lc + off, cmdsize - off))
		core_problem(c, "%s (load command %u): %u bytes after its last register state ignored",
			     cmdname, idx, cmdsize - off);
	return 0;
}

/* LC_NOTE: a data owner of up to 16 characters, and where its payload lies in the file. */
static int add_lc_note(struct macho *m, const unsigned char *lc, uint32_t cmdsize, uint32_t idx,
		       uint64_t at, struct core_error *err)
{
	struct core *c = m->c;
	char owner[17];
	uint64_t off, size, avail;
	unsigned char *payload = NULL;
	size_t n = 0;

	if (cmdsize < NOTE_COMMAND_SIZE)
		return core_fail(err, CORE_E_CORRUPT,
				 "%s: LC_NOTE (load command %u at 0x%" PRIx64 ") has cmdsize %u, "
				 "less than the %u bytes of a note command",
				 c->path, idx, at, cmdsize, NOTE_COMMAND_SIZE);
	while (n < 16 && lc[8 + n])
		n++;
	memcpy(owner, lc + 8, n);
	owner[n] = '\0';
	off = le64(lc + 24);
	size = le64(lc + 32);
	avail = off >= c->file_size ? 0 : MIN(size, c->file_size - off);
	if (avail < size)
		core_problem(c, "truncated: LC_NOTE \"%s\" needs 0x%" PRIx64 " bytes at 0x%" PRIx64
			     ", the file holds 0x%" PRIx64, owner, size, off, avail);
	if (avail > MAX_NOTE_PAYLOAD) {
		core_problem(c, "LC_NOTE \"%s\" of 0x%" PRIx64 " bytes is too large to read: kept empty",
			     owner, avail);
		avail = 0;
	}
	if (avail) {
		ssize_t got;

		payload = malloc((size_t)avail);
		if (!payload)
			return core_fail(err, CORE_E_NOMEM, "%s: out of memory for LC_NOTE \"%s\"",
					 c->path, owner);
		got = core_pread(c, payload, (size_t)avail, off);
		if (got < 0) {
			free(payload);
			return core_fail(err, CORE_E_IO, "%s: reading LC_NOTE \"%s\": %s", c->path, owner,
					 strerror(errno));
		}
		avail = (uint64_t)got;
	}
	if (!add_note(m, owner, LC_NOTE, "LC_NOTE", off, payload, (size_t)avail)) {
		free(payload);
		return core_fail(err, CORE_E_NOMEM, "%s: out of memory for notes", c->path);
	}
	free(payload);
	return 0;
}

/* Walk ncmds load commands in cmds (sizeofcmds bytes, read from file offset 32). */
static int read_commands(struct macho *m, const unsigned char *cmds, uint32_t ncmds,
			 uint32_t size, struct core_error *err)
{
	struct core *c = m->c;
	uint32_t off = 0;

	for (uint32_t i = 0; i < ncmds; i++) {
		const unsigned char *lc = cmds + off;
		uint64_t at = MACH_HEADER_64_SIZE + (uint64_t)off;
		uint32_t cmd, cmdsize;
		char buf[24];
		const char *name;
		int r;

		if (size - off < LOAD_COMMAND_SIZE)
			return core_fail(err, CORE_E_CORRUPT,
					 "%s: load command %u of %u at 0x%" PRIx64
					 " lies past the end of the load commands (sizeofcmds %u)",
					 c->path, i, ncmds, at, size);
		cmd = le32(lc);
		cmdsize = le32(lc + 4);
		name = macho_command_name(cmd, buf, sizeof(buf));
		if (cmdsize < LOAD_COMMAND_SIZE)
			return core_fail(err, CORE_E_CORRUPT,
					 "%s: load command %u (%s) at 0x%" PRIx64
					 " has cmdsize %u, less than its 8-byte header",
					 c->path, i, name, at, cmdsize);
		if (cmdsize > size - off)
			return core_fail(err, CORE_E_CORRUPT,
					 "%s: load command %u (%s) at 0x%" PRIx64 ": cmdsize %u runs past "
					 "the end of the load commands (sizeofcmds %u, %u bytes left)",
					 c->path, i, name, at, cmdsize, size, size - off);
		switch (cmd) {
		case LC_SEGMENT_64:
			r = add_segment(m, lc, cmdsize, i, at, err);
			break;
		case LC_THREAD:
		case LC_UNIXTHREAD:
			r = add_thread(m, lc, cmdsize, i, at, err);
			break;
		case LC_NOTE:
			r = add_lc_note(m, lc, cmdsize, i, at, err);
			break;
		default:
			r = add_note(m, MACHO_OWNER, cmd, name, at + LOAD_COMMAND_SIZE,
				     lc + LOAD_COMMAND_SIZE, cmdsize - LOAD_COMMAND_SIZE) ? 0 :
				core_fail(err, CORE_E_NOMEM, "%s: out of memory for notes", c->path);
			break;
		}
		if (r < 0)
			return -1;
		off += cmdsize;
	}
	return 0;
}

/* --- 3. the LC_NOTEs lldb documents ------------------------------------------------------ */

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return x < y ? -1 : x > y;
}

/* "process metadata": JSON {"threads": [{"thread_id": N}, ...]}, one entry per LC_THREAD. */
static void decode_process_metadata(struct macho *m, const struct core_note *n)
{
	struct core *c = m->c;
	cJSON *root = cJSON_Parse((const char *)n->desc);
	const cJSON *threads = cJSON_GetObjectItemCaseSensitive(root, "threads"), *th;
	int32_t *tids = NULL, *sorted = NULL;
	size_t i = 0;

	if (!cJSON_IsArray(threads)) {
		core_problem(c, "LC_NOTE \"process metadata\" has no \"threads\" array: "
			     "thread ids unknown");
		goto out;
	}
	if ((size_t)cJSON_GetArraySize(threads) != c->nthreads) {
		core_problem(c, "LC_NOTE \"process metadata\" lists %d threads, the core has %zu: "
			     "thread ids not used", cJSON_GetArraySize(threads), c->nthreads);
		goto out;
	}
	tids = calloc(c->nthreads ? c->nthreads : 1, sizeof(*tids));
	sorted = calloc(c->nthreads ? c->nthreads : 1, sizeof(*sorted));
	if (!tids || !sorted)
		goto out;
	cJSON_ArrayForEach(th, threads) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(th, "thread_id");

		if (!cJSON_IsNumber(id) || id->valuedouble < 1 || id->valuedouble > INT32_MAX ||
		    id->valuedouble != (double)(int32_t)id->valuedouble) {
			core_problem(c, "LC_NOTE \"process metadata\": thread %zu has no thread_id that "
				     "fits a 32-bit tid: thread ids not used", i + 1);
			goto out;
		}
		tids[i++] = (int32_t)id->valuedouble;
	}
	memcpy(sorted, tids, c->nthreads * sizeof(*tids));
	qsort(sorted, c->nthreads, sizeof(*sorted), cmp_i32);
	for (i = 1; i < c->nthreads; i++)
		if (sorted[i] == sorted[i - 1]) {
			core_problem(c, "LC_NOTE \"process metadata\" names thread id %d twice: "
				     "thread ids not used", sorted[i]);
			goto out;
		}
	for (i = 0; i < c->nthreads; i++)
		c->threads[i].tid = tids[i];
	m->tids_known = true;
out:
	free(tids);
	free(sorted);
	cJSON_Delete(root);
}

/* "addrable bits": version 3 {version, bits, unused}; version 4 {version, low-memory bits,
 * high-memory bits, unused}.  A process lives in low memory. */
static void decode_addrable_bits(struct macho *m, const struct core_note *n)
{
	uint32_t version = n->size >= 4 ? le32(n->desc) : 0, bits;

	if (!((version == 3 && n->size >= 8) || (version == 4 && n->size >= 12))) {
		core_problem(m->c, "LC_NOTE \"addrable bits\" (version %u, %zu bytes) not understood: "
			     "ignored", version, n->size);
		return;
	}
	bits = le32(n->desc + 4);
	if (bits > 0 && bits < 64)
		m->addr_mask = (UINT64_C(1) << bits) - 1;
}

static int decode_notes(struct macho *m, struct core_error *err)
{
	struct core *c = m->c;

	for (size_t i = 0; i < c->nnotes; i++) {
		const struct core_note *n = &c->notes[i];

		if (strcmp(n->name, "LC_NOTE"))
			continue;
		if (!strcmp(n->owner, "kern ver str"))
			return core_fail(err, CORE_E_NOT_PROCESS,
					 "%s: a kernel core (LC_NOTE \"kern ver str\"), not a process core",
					 c->path);
		/* "main bin spec": {version, type, ...}; type 1 is the kernel. */
		if (!strcmp(n->owner, "main bin spec") && n->size >= 8 && le32(n->desc + 4) == 1)
			return core_fail(err, CORE_E_NOT_PROCESS,
					 "%s: a kernel core (LC_NOTE \"main bin spec\" names the kernel), "
					 "not a process core", c->path);
		if (!strcmp(n->owner, "process metadata"))
			decode_process_metadata(m, n);
		else if (!strcmp(n->owner, "addrable bits"))
			decode_addrable_bits(m, n);
	}
	return 0;
}

/* --- 4. derived facts -------------------------------------------------------------------- */

static void derive(struct macho *m)
{
	struct core *c = m->c;
	const struct arch_desc *a = c->arch;
	char buf[24];
	const char *gregs = macho_flavor_name(m->cpu, m->cpu->gregs_flavor, buf, sizeof(buf));

	for (size_t i = 0; i < c->nthreads; i++) {
		struct core_thread *t = &c->threads[i];
		uint64_t v;

		if (!t->gregs) {
			core_problem(c, "thread %d has no %s: its registers are unknown", t->tid, gregs);
			continue;
		}
		if (t->gregs_size > a->gregs_size)
			t->gregs_size = a->gregs_size;
		if (t->gregs_size < a->gregs_size)
			core_problem(c, "short %s for thread %d: %zu bytes, %s needs %u", gregs, t->tid,
				     t->gregs_size, a->name, a->gregs_size);
		if (arch_reg(c, t, &a->regs[a->pc], &v)) {
			t->has_pc = true;
			t->pc = m->addr_mask ? v & m->addr_mask : v;
		}
		if (arch_reg(c, t, &a->regs[a->sp], &v)) {
			t->has_sp = true;
			t->sp = v;
		}
	}
	if (!c->nthreads)
		core_problem(c, "missing: no LC_THREAD command (no threads or registers)");
	else if (!m->tids_known && c->nthreads == 1)
		core_problem(c, "Mach-O cores carry no thread ids: the thread is numbered 1");
	else if (!m->tids_known)
		core_problem(c, "Mach-O cores carry no thread ids: threads are numbered 1..%zu in "
			     "LC_THREAD order", c->nthreads);
	core_problem(c, "missing: a Mach-O core records no process id, command name, arguments "
		     "or mapped file names");
}

/* --- 1. the header, and the whole pipeline ----------------------------------------------- */

int macho_read(struct core *c, struct core_error *err)
{
	struct macho m = { .c = c };
	unsigned char h[MACH_HEADER_64_SIZE];
	uint32_t cputype, filetype, ncmds, size;
	unsigned char *cmds;
	ssize_t got;
	int r;

	got = core_pread(c, h, sizeof(h), 0);
	if (got < 0)
		return core_fail(err, CORE_E_IO, "%s: %s", c->path, strerror(errno));
	if ((size_t)got < sizeof(h))
		return core_fail(err, CORE_E_TRUNCATED, "%s: truncated Mach-O header (%" PRIu64
				 " bytes, needs %u)", c->path, c->file_size, MACH_HEADER_64_SIZE);
	if (le32(h) != MH_MAGIC_64)
		return core_fail(err, CORE_E_NOT_CORE, "%s: not a 64-bit little-endian Mach-O file",
				 c->path);
	cputype = le32(h + 4);
	filetype = le32(h + 12);
	ncmds = le32(h + 16);
	size = le32(h + 20);	/* sizeofcmds */
	if (filetype != MH_CORE)
		return core_fail(err, CORE_E_NOT_CORE, "%s: Mach-O file is not a core (filetype %s)",
				 c->path, macho_filetype_name(filetype) ? macho_filetype_name(filetype)
									: "unknown");
	m.cpu = macho_cpu(cputype);
	if (!m.cpu)
		return core_fail(err, CORE_E_UNSUPPORTED,
				 "%s: Mach-O core for CPU type 0x%x: only x86_64 and arm64 cores "
				 "are supported", c->path, cputype);
	c->format = m.cpu->format;
	c->elf_class = ELFCLASS64;
	c->big_endian = false;
	c->machine = m.cpu->arch.machine;	/* the ELF e_machine of the same CPU */
	c->os = CORE_OS_MACOS;
	c->producer = CORE_BY_OTHER;
	c->arch = &m.cpu->arch;
	c->word = 8;

	if (size > c->file_size - MACH_HEADER_64_SIZE)
		return core_fail(err, CORE_E_TRUNCATED,
				 "%s: truncated: %u bytes of load commands (sizeofcmds) run past the "
				 "end of the file (%" PRIu64 " bytes)", c->path, size, c->file_size);
	if (size > MAX_SIZEOFCMDS)
		return core_fail(err, CORE_E_CORRUPT,
				 "%s: sizeofcmds %u is beyond any real core (limit %u)", c->path, size,
				 MAX_SIZEOFCMDS);
	if (ncmds == 0)
		return core_fail(err, CORE_E_CORRUPT, "%s: Mach-O core has no load commands", c->path);
	if (ncmds > size / LOAD_COMMAND_SIZE)
		return core_fail(err, CORE_E_CORRUPT,
				 "%s: ncmds %u cannot fit in sizeofcmds %u (a load command takes at "
				 "least %u bytes)", c->path, ncmds, size, LOAD_COMMAND_SIZE);

	cmds = malloc(size);
	if (!cmds)
		return core_fail(err, CORE_E_NOMEM, "%s: out of memory for %u bytes of load commands",
				 c->path, size);
	got = core_pread(c, cmds, size, MACH_HEADER_64_SIZE);
	if (got != (ssize_t)size) {
		free(cmds);
		return core_fail(err, got < 0 ? CORE_E_IO : CORE_E_TRUNCATED, "%s: reading load "
				 "commands: %s", c->path, got < 0 ? strerror(errno) : "file shrank");
	}
	r = read_commands(&m, cmds, ncmds, size, err);
	free(cmds);
	if (r < 0 || core_index_segments(c, err) < 0 || decode_notes(&m, err) < 0)
		return -1;
	derive(&m);
	return 0;
}
