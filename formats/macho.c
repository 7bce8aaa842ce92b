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
 * buffers, never by casting file bytes to structures.
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
#include "util.h"

/* From <mach-o/loader.h> and <mach/machine.h>, which Linux does not ship. */
#define MH_MAGIC_64 0xfeedfacfu
#define MH_CORE 4
/* mach_header_64: magic, cputype, cpusubtype, filetype, ncmds, sizeofcmds, flags, reserved. */
#define MACH_HEADER_64_SIZE 32
#define CPU_TYPE_X86_64 0x01000007u
#define CPU_TYPE_ARM64 0x0100000cu

#define LC_SEGMENT 0x1
#define LC_THREAD 0x4
#define LC_UNIXTHREAD 0x5
#define LC_IDENT 0x8
#define LC_SEGMENT_64 0x19
#define LC_UUID 0x1b
#define LC_VERSION_MIN_MACOSX 0x24
#define LC_NOTE 0x31
#define LC_BUILD_VERSION 0x32

#define LOAD_COMMAND_SIZE 8	/* cmd, cmdsize */
#define SEGMENT_COMMAND_64_SIZE 72	/* + segname[16], vmaddr, vmsize, fileoff, filesize,
					 * maxprot, initprot, nsects, flags */
#define NOTE_COMMAND_SIZE 40	/* + data_owner[16], offset, size */

#define VM_PROT_READ 1u
#define VM_PROT_WRITE 2u
#define VM_PROT_EXECUTE 4u

/* Thread state flavors (<mach/i386/thread_status.h>, <mach/arm/thread_status.h>). */
#define x86_THREAD_STATE64 4
#define x86_THREAD_STATE 7	/* x86_state_hdr {flavor, count}, then that state */
#define x86_THREAD_FULL_STATE64 23	/* x86_THREAD_STATE64, then ds, es, ss, gsbase */
#define ARM_THREAD_STATE 1	/* arm_state_hdr {flavor, count}, then that state */
#define ARM_THREAD_STATE64 6

/* Sizes no real core reaches: larger values are taken as damage, not allocated. */
#define MAX_SIZEOFCMDS (UINT32_C(64) << 20)
#define MAX_NOTE_PAYLOAD (UINT64_C(16) << 20)

#define MACHO_OWNER "Mach-O"	/* owner of the notes that keep other load commands raw */

struct code_name {
	uint32_t code;
	const char *name;
};

static const struct code_name filetypes[] = {
	{ 1, "MH_OBJECT, an object file" }, { 2, "MH_EXECUTE, an executable" },
	{ 3, "MH_FVMLIB, a fixed VM shared library" }, { 5, "MH_PRELOAD, a preloaded executable" },
	{ 6, "MH_DYLIB, a dynamic library" }, { 7, "MH_DYLINKER, the dynamic linker" },
	{ 8, "MH_BUNDLE, a bundle" }, { 9, "MH_DYLIB_STUB, a dynamic library stub" },
	{ 10, "MH_DSYM, debug information" }, { 11, "MH_KEXT_BUNDLE, a kernel extension" },
	{ 12, "MH_FILESET, a file set" }, { 0, NULL },
};

static const struct code_name load_commands[] = {
	{ LC_SEGMENT, "LC_SEGMENT" }, { LC_THREAD, "LC_THREAD" }, { LC_UNIXTHREAD, "LC_UNIXTHREAD" },
	{ LC_IDENT, "LC_IDENT" }, { LC_SEGMENT_64, "LC_SEGMENT_64" }, { LC_UUID, "LC_UUID" },
	{ LC_VERSION_MIN_MACOSX, "LC_VERSION_MIN_MACOSX" }, { LC_NOTE, "LC_NOTE" },
	{ LC_BUILD_VERSION, "LC_BUILD_VERSION" }, { 0, NULL },
};

static const struct code_name x86_flavors[] = {
	{ 1, "x86_THREAD_STATE32" }, { 2, "x86_FLOAT_STATE32" }, { 3, "x86_EXCEPTION_STATE32" },
	{ 4, "x86_THREAD_STATE64" }, { 5, "x86_FLOAT_STATE64" }, { 6, "x86_EXCEPTION_STATE64" },
	{ 7, "x86_THREAD_STATE" }, { 8, "x86_FLOAT_STATE" }, { 9, "x86_EXCEPTION_STATE" },
	{ 10, "x86_DEBUG_STATE32" }, { 11, "x86_DEBUG_STATE64" }, { 12, "x86_DEBUG_STATE" },
	{ 13, "THREAD_STATE_NONE" }, { 16, "x86_AVX_STATE32" }, { 17, "x86_AVX_STATE64" },
	{ 18, "x86_AVX_STATE" }, { 19, "x86_AVX512_STATE32" }, { 20, "x86_AVX512_STATE64" },
	{ 21, "x86_AVX512_STATE" }, { 22, "x86_PAGEIN_STATE" }, { 23, "x86_THREAD_FULL_STATE64" },
	{ 24, "x86_INSTRUCTION_STATE" }, { 25, "x86_LAST_BRANCH_STATE" }, { 0, NULL },
};

static const struct code_name arm_flavors[] = {
	{ 1, "ARM_THREAD_STATE" }, { 2, "ARM_VFP_STATE" }, { 3, "ARM_EXCEPTION_STATE" },
	{ 4, "ARM_DEBUG_STATE" }, { 5, "THREAD_STATE_NONE" }, { 6, "ARM_THREAD_STATE64" },
	{ 7, "ARM_EXCEPTION_STATE64" }, { 9, "ARM_THREAD_STATE32" }, { 14, "ARM_DEBUG_STATE32" },
	{ 15, "ARM_DEBUG_STATE64" }, { 16, "ARM_NEON_STATE" }, { 17, "ARM_NEON_STATE64" },
	{ 18, "ARM_CPMU_STATE64" }, { 27, "ARM_PAGEIN_STATE" }, { 0, NULL },
};

/* Registers in the order and with the names lldb's "register read" uses. */
#define R(n, o, s) { n, o, s, 0 }

/* x86_thread_state64_t: 21 64-bit registers. */
static const struct reg_desc macos_x86_64_regs[] = {
	R("rax", 0, 8), R("rbx", 8, 8), R("rcx", 16, 8), R("rdx", 24, 8),
	R("rdi", 32, 8), R("rsi", 40, 8), R("rbp", 48, 8), R("rsp", 56, 8),
	R("r8", 64, 8), R("r9", 72, 8), R("r10", 80, 8), R("r11", 88, 8),
	R("r12", 96, 8), R("r13", 104, 8), R("r14", 112, 8), R("r15", 120, 8),
	R("rip", 128, 8), R("rflags", 136, 8), R("cs", 144, 8), R("fs", 152, 8), R("gs", 160, 8),
};

/* arm_thread_state64_t: x0-x28, fp, lr, sp, pc, then a 32-bit cpsr and 32 bits of flags. */
static const struct reg_desc macos_arm64_regs[] = {
	R("x0", 0, 8), R("x1", 8, 8), R("x2", 16, 8), R("x3", 24, 8), R("x4", 32, 8),
	R("x5", 40, 8), R("x6", 48, 8), R("x7", 56, 8), R("x8", 64, 8), R("x9", 72, 8),
	R("x10", 80, 8), R("x11", 88, 8), R("x12", 96, 8), R("x13", 104, 8), R("x14", 112, 8),
	R("x15", 120, 8), R("x16", 128, 8), R("x17", 136, 8), R("x18", 144, 8), R("x19", 152, 8),
	R("x20", 160, 8), R("x21", 168, 8), R("x22", 176, 8), R("x23", 184, 8), R("x24", 192, 8),
	R("x25", 200, 8), R("x26", 208, 8), R("x27", 216, 8), R("x28", 224, 8),
	R("fp", 232, 8), R("lr", 240, 8), R("sp", 248, 8), R("pc", 256, 8), R("cpsr", 264, 4),
};

/* A CPU type: its description in the model and how its threads store the general registers. */
struct macho_cpu {
	uint32_t cputype;
	const char *format;
	struct arch_desc arch;
	const struct code_name *flavors;
	uint32_t gregs_flavor;		/* the general registers */
	uint32_t unified_flavor;	/* a header {flavor, count}, then the state it names */
	uint32_t full_flavor;		/* the general registers and more after them; 0: none */
};

static const struct macho_cpu macho_cpus[] = {
	{ .cputype = CPU_TYPE_X86_64, .format = "mach-o-x86-64",
	  .arch = { .name = "x86_64", .gdb_name = "i386:x86-64", .machine = EM_X86_64,
		    .elf_class = ELFCLASS64, .os = CORE_OS_MACOS, .gregs_size = 168,
		    .regs = macos_x86_64_regs, .nregs = ARRAY_SIZE(macos_x86_64_regs),
		    .pc = 16, .sp = 7,
		    .signals = bsd_signals, .nsignals = 32 /* no SIGPWR */ },
	  .flavors = x86_flavors, .gregs_flavor = x86_THREAD_STATE64,
	  .unified_flavor = x86_THREAD_STATE, .full_flavor = x86_THREAD_FULL_STATE64 },
	{ .cputype = CPU_TYPE_ARM64, .format = "mach-o-arm64",
	  .arch = { .name = "arm64", .gdb_name = "aarch64", .machine = EM_AARCH64,
		    .elf_class = ELFCLASS64, .os = CORE_OS_MACOS, .gregs_size = 272,
		    .regs = macos_arm64_regs, .nregs = ARRAY_SIZE(macos_arm64_regs),
		    .pc = 32, .sp = 31,
		    .signals = bsd_signals, .nsignals = 32 /* no SIGPWR */ },
	  .flavors = arm_flavors, .gregs_flavor = ARM_THREAD_STATE64,
	  .unified_flavor = ARM_THREAD_STATE },
};

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

static const char *lookup(const struct code_name *t, uint32_t code)
{
	for (; t->name; t++)
		if (t->code == code)
			return t->name;
	return NULL;
}

/* A load command's name, or "LC_0x<cmd>" in buf. */
static const char *command_name(uint32_t cmd, char *buf, size_t bufsz)
{
	const char *s = lookup(load_commands, cmd);

	if (s)
		return s;
	snprintf(buf, bufsz, "LC_0x%x", cmd);
	return buf;
}

/* A thread state flavor's name, or "flavor_<n>" in buf. */
static const char *flavor_name(const struct macho_cpu *cpu, uint32_t flavor, char *buf,
			       size_t bufsz)
{
	const char *s = lookup(cpu->flavors, flavor);

	if (s)
		return s;
	snprintf(buf, bufsz, "flavor_%u", flavor);
	return buf;
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
		const char *name = flavor_name(m->cpu, flavor, buf, sizeof(buf));

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
		got = pread_full(c->fd, payload, (size_t)avail, off);
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
		name = command_name(cmd, buf, sizeof(buf));
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
	const char *gregs = flavor_name(m->cpu, m->cpu->gregs_flavor, buf, sizeof(buf));

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

	got = pread_full(c->fd, h, sizeof(h), 0);
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
				 c->path, lookup(filetypes, filetype) ? lookup(filetypes, filetype)
								      : "unknown");
	for (size_t i = 0; i < ARRAY_SIZE(macho_cpus); i++)
		if (macho_cpus[i].cputype == cputype)
			m.cpu = &macho_cpus[i];
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
	got = pread_full(c->fd, cmds, size, MACH_HEADER_64_SIZE);
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
