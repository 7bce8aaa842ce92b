/* formats/unwind.c — backtraces with libunwind's remote unwinding over the core model (x86_64
 * and x32; other machines go to libdwfl, unwind_dwfl.c: see unwind.h for why).
 *
 * libunwind-coredump's own accessors (_UCD_create, _UCD_access_mem, _UCD_find_proc_info,
 * _UCD_add_backing_file_at_vaddr) are not used for memory, registers or tables, because with
 * libunwind 1.6.2 and the cores corefs reads they give wrong stacks:
 *   - a backing file is read as if its offset 0 were mapped at the start of the segment it is
 *     attached to, and its unwind table is looked up with the same assumption; objects linked
 *     with separate read-only and text segments (every binutils default since 2.31) map their
 *     text at file offset 0x1000 or more, so the tables and the text are read at wrong offsets
 *     (kernel cores hold no text: every frame past #0 is lost or wrong);
 *   - _UCD_create itself opens every path NT_FILE names, as it stands on this machine, and
 *     attaches it unchecked: no --sysroot, no build-id check, one descriptor per mapping;
 *   - its register reader knows Linux NT_PRSTATUS of the host's layout only, its fpreg and
 *     resume accessors write "Unimplemented" to stderr.
 * So the accessors here are corefs's: memory through memory_read (the core's bytes, else the
 * bytes of the mapped file when files.c proved it is the one, at its NT_FILE offset), registers
 * from the model (arch.h), and the call-frame table of the object holding the pc, located by
 * its PT_GNU_EH_FRAME and searched with libunwind's dwarf_search_unwind_table (as Linux perf
 * does).  libunwind-coredump still provides put_unwind_info and get_dyn_info_list_addr, which
 * do not depend on its core reader.  Where no table covers a pc, libunwind's x86_64 unw_step
 * falls back to the frame-pointer chain (rbp), and it recognises signal trampolines.
 *
 * Objects whose call-frame tables are only in .debug_frame (Go's executables: its linker writes
 * no .eh_frame; C built with -fno-asynchronous-unwind-tables -g) are read too: where .eh_frame
 * does not cover a pc, the module's .debug_frame (its file's, else its build-id debug file's) is
 * copied, rewritten into .eh_frame's form (ehframe.c: CIE ids, CIE pointers and the load bias;
 * every size unchanged) and indexed by ehframe.c's table builder; the records and the table are
 * served to libunwind through access_mem at synthetic addresses, the table's locations relative
 * to the module (UNW_INFO_FORMAT_IP_OFFSET).  libunwind's remote API has no public way to hand it
 * .debug_frame (its own reader, dwarf_find_debug_frame, reads a local file into an internal
 * structure).  The other way, libdw's CFI (dwarf_getcfi_elf, dwarf_cfi_addrframe) for the steps
 * libunwind cannot make, was not taken: it is a second CFI interpreter with its own register
 * state to carry between the two at every such step, where the rewrite keeps one interpreter,
 * one set of accessors and one step loop.  Measured on tests/progs/go_crash.go's core (5
 * threads, 1431 FDEs in 22 KiB of compressed .debug_frame), `corefs --cat stack`, medians of 7:
 * 2.3 ms with .debug_frame read (every Go frame from a table) against 1.7 ms without (frame
 * pointers, frames lost); eu-stack --core takes 8.5 ms.
 *
 * Signal frames are recognised by the code of the stub a handler returns to (rt_sigreturn),
 * Go's as well as glibc's: see restart_after_sigreturn. */
#include <elf.h>
#include <inttypes.h>
#include <libunwind-coredump.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "ehframe.h"
#include "unwind.h"
#include "unwind_dwfl.h"
#include "util.h"

/* libunwind's search of a binary-search table (.eh_frame_hdr), exported but not declared in its
 * public headers; Linux perf declares it the same way. */
extern int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as, unw_word_t ip,
					      unw_dyn_info_t *di, unw_proc_info_t *pi,
					      int need_unwind_info, void *arg);

#define MAX_FRAMES 1024
#define PAGE 4096u
#define CACHE_PAGES 256u

struct mem_page {
	uint64_t addr;
	uint32_t len;		/* readable bytes from addr; 0 with valid: none */
	bool valid;
	unsigned char bytes[PAGE];
};

struct eh_table {
	bool parsed, usable;
	uint64_t segbase;	/* what the pairs are relative to */
	uint64_t table;		/* address of the sorted (initial location, FDE) pairs */
	uint64_t count;
	struct eh_index built;	/* built from .eh_frame, served at a synthetic address */
	bool debug_parsed;	/* debug was tried */
	struct eh_index debug;	/* built from .debug_frame, its table and records served at
				 * synthetic addresses */
};

/* Tables built from .eh_frame or .debug_frame, and .debug_frame's rewritten records, are served
 * to libunwind at addresses no process of the cores corefs reads can map: the top half of the
 * 64-bit space (kernel addresses), 4 GiB per module, below the x86_64 [vsyscall] page; each
 * module's 4 GiB holds a window of 1 GiB per thing served (SYNTH_*). */
#define SYNTH_BASE UINT64_C(0xfff0000000000000)
#define SYNTH_SHIFT 32
#define SYNTH_WINDOW_SHIFT 30
enum { SYNTH_EH_TABLE, SYNTH_DEBUG_TABLE, SYNTH_DEBUG_FRAMES };

static uint64_t synth_addr(size_t module, unsigned window)
{
	return SYNTH_BASE + ((uint64_t)module << SYNTH_SHIFT) +
	       ((uint64_t)window << SYNTH_WINDOW_SHIFT);
}

/* What the accessors get as their argument: one unwind of one thread. */
#define NREGS (UNW_X86_64_RIP + 1)

struct unwind_arg {
	struct unwinder *u;
	uint64_t regs[NREGS];	/* what the cursor starts from, by libunwind's numbers */
	uint32_t known;		/* bit per register: regs[] holds its value */
	bool looked, found;	/* find_proc_info was asked, and had a table entry */
};

/* The registers libunwind numbers, by the names arch.c gives them (x86_64 and NetBSD amd64). */
static const char *const x86_64_names[] = {
	[UNW_X86_64_RAX] = "rax", [UNW_X86_64_RDX] = "rdx", [UNW_X86_64_RCX] = "rcx",
	[UNW_X86_64_RBX] = "rbx", [UNW_X86_64_RSI] = "rsi", [UNW_X86_64_RDI] = "rdi",
	[UNW_X86_64_RBP] = "rbp", [UNW_X86_64_RSP] = "rsp", [UNW_X86_64_R8] = "r8",
	[UNW_X86_64_R9] = "r9", [UNW_X86_64_R10] = "r10", [UNW_X86_64_R11] = "r11",
	[UNW_X86_64_R12] = "r12", [UNW_X86_64_R13] = "r13", [UNW_X86_64_R14] = "r14",
	[UNW_X86_64_R15] = "r15", [UNW_X86_64_RIP] = "rip",
};

/* --- memory, through a page cache: libunwind reads one word at a time --------------------- */

static bool read_synthetic(struct unwinder *u, uint64_t addr, void *out, size_t len)
{
	uint64_t i = (addr - SYNTH_BASE) >> SYNTH_SHIFT;
	uint64_t window = (addr >> SYNTH_WINDOW_SHIFT) & 3;
	uint64_t off = addr & ((UINT64_C(1) << SYNTH_WINDOW_SHIFT) - 1);
	const unsigned char *bytes;
	size_t size;

	if (i >= u->mods.n)
		return false;
	switch (window) {
	case SYNTH_EH_TABLE:
		bytes = u->eh[i].built.table, size = u->eh[i].built.count * 8;
		break;
	case SYNTH_DEBUG_TABLE:
		bytes = u->eh[i].debug.table, size = u->eh[i].debug.count * 8;
		break;
	case SYNTH_DEBUG_FRAMES:
		bytes = u->eh[i].debug.frames, size = u->eh[i].debug.frames_size;
		break;
	default:
		return false;
	}
	if (!bytes || off > size || len > size - off)
		return false;
	memcpy(out, bytes + off, len);
	return true;
}

static bool read_cached(struct unwinder *u, uint64_t addr, void *out, size_t len)
{
	unsigned char *dst = out;

	if (addr >= SYNTH_BASE && addr < SYNTH_BASE + ((uint64_t)u->mods.n << SYNTH_SHIFT))
		return read_synthetic(u, addr, out, len);
	while (len) {
		uint64_t base = addr & ~(uint64_t)(PAGE - 1);
		struct mem_page *p = &u->pages[(base / PAGE) % CACHE_PAGES];
		size_t in = (size_t)(addr - base), n = MIN(len, (size_t)PAGE - in);

		if (!p->valid || p->addr != base) {
			ssize_t got = memory_read(u->mem, base, p->bytes, PAGE);

			p->addr = base;
			p->len = got > 0 ? (uint32_t)got : 0;
			p->valid = true;
		}
		if (in + n > p->len) {
			/* The page's start is not readable, or it ends early: read directly. */
			if (memory_read(u->mem, addr, dst, len) != (ssize_t)len)
				return false;
			return true;
		}
		memcpy(dst, p->bytes + in, n);
		dst += n;
		addr += n;
		len -= n;
	}
	return true;
}

bool unwinder_read(struct unwinder *u, uint64_t addr, void *out, size_t len)
{
	return read_cached(u, addr, out, len);
}

/* --- libunwind's accessors ---------------------------------------------------------------- */

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write, void *arg)
{
	struct unwind_arg *a = arg;

	(void)as;
	if (write)
		return -UNW_EINVAL;
	return read_cached(a->u, addr, val, sizeof(*val)) ? 0 : -UNW_EINVAL;
}

static int access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write, void *arg)
{
	struct unwind_arg *a = arg;

	(void)as;
	if (write || reg < 0 || reg >= NREGS || !(a->known & (1u << reg)))
		return -UNW_EBADREG;
	*val = a->regs[reg];
	return 0;
}

/* The thread's registers from the model, under libunwind's numbers. */
static void thread_regs(const struct core *c, const struct core_thread *t, struct unwind_arg *a)
{
	const struct arch_desc *arch = c->arch;

	for (size_t r = 0; r < NREGS; r++)
		for (size_t i = 0; i < arch->nregs; i++)
			if (x86_64_names[r] && !strcmp(arch->regs[i].name, x86_64_names[r]) &&
			    arch_reg(c, t, &arch->regs[i], &a->regs[r]))
				a->known |= 1u << r;
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
			void *arg)
{
	(void)as, (void)reg, (void)val, (void)write, (void)arg;
	return -UNW_EBADREG;
}

static int resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	(void)as, (void)c, (void)arg;
	return -UNW_EINVAL;	/* a dead process does not resume */
}

static int get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
			 unw_word_t *off, void *arg)
{
	(void)as, (void)addr, (void)buf, (void)len, (void)off, (void)arg;
	return -UNW_ENOINFO;	/* names come from symbols.c */
}

/* Locate the binary-search table of a module's .eh_frame_hdr: version 1, then the encodings of
 * eh_frame_ptr, fde_count and the table, eh_frame_ptr, fde_count, and fde_count pairs of
 * datarel sdata4 (the only table form dwarf_search_unwind_table takes). */
static void parse_eh_frame_hdr(struct unwinder *u, const struct module *m, struct eh_table *eh)
{
	unsigned char hdr[4], cnt[8];
	unsigned ptr_size = 0, count_size, word = u->core->elf_class == ELFCLASS64 ? 8 : 4;
	uint64_t count, table;

	eh->parsed = true;
	if (!m->eh_frame_hdr || m->eh_frame_hdr_size < sizeof(hdr) ||
	    !read_cached(u, m->eh_frame_hdr, hdr, sizeof(hdr)) || hdr[0] != 1 ||
	    hdr[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4) || hdr[2] == DW_EH_PE_omit ||
	    (hdr[2] & 0x70) || !dw_eh_pe_size(hdr[2], word, &count_size))
		return;
	if (hdr[1] != DW_EH_PE_omit && !dw_eh_pe_size(hdr[1], word, &ptr_size))
		return;
	table = m->eh_frame_hdr + sizeof(hdr) + ptr_size + count_size;
	if (!read_cached(u, table - count_size, cnt, count_size))
		return;
	count = core_get(u->core, cnt, count_size);
	/* Every count from the core is checked against the bytes that hold it. */
	if (!count || table - m->eh_frame_hdr > m->eh_frame_hdr_size ||
	    count > (m->eh_frame_hdr_size - (table - m->eh_frame_hdr)) / 8)
		return;
	eh->segbase = m->eh_frame_hdr;
	eh->table = table;
	eh->count = count;
	eh->usable = true;
}

/* The module's search table: its .eh_frame_hdr's, else one built from its file's .eh_frame. */
static void load_eh_table(struct unwinder *u, const struct module *m, struct eh_table *eh)
{
	const struct disk_file *d;
	size_t i = (size_t)(m - u->mods.m);
	unsigned word = m->elf_class == ELFCLASS64 ? 8 : 4;

	if (m->eh_frame_hdr) {
		parse_eh_frame_hdr(u, m, eh);
		return;
	}
	eh->parsed = true;
	if (!(d = module_file(&u->mods, m)) || !eh_index_build(d->disk_path, m->bias, word, &eh->built))
		return;
	eh->segbase = eh->built.segbase;
	eh->table = synth_addr(i, SYNTH_EH_TABLE);
	eh->count = eh->built.count;
	eh->usable = true;
}

/* The module's table built from .debug_frame: its file's, else its separate debug file's (found
 * here or fetched by its build-id: files.h, disk_debuginfo).  Its locations are relative to the
 * module's start (UNW_INFO_FORMAT_IP_OFFSET), its records' addresses to where they are served. */
static void load_debug_frame(struct unwinder *u, const struct module *m, struct eh_table *eh)
{
	size_t i = (size_t)(m - u->mods.m);
	unsigned word = m->elf_class == ELFCLASS64 ? 8 : 4;
	uint64_t frames = synth_addr(i, SYNTH_DEBUG_FRAMES);
	const struct disk_file *d = module_file(&u->mods, m);
	const char *debug;

	eh->debug_parsed = true;
	if (d && debug_frame_index_build(d->disk_path, NULL, 0, m->bias, word, m->start, frames,
					 &eh->debug))
		return;
	debug = disk_debuginfo(u->files, m->build_id, m->build_id_len, m->name);
	if (debug)
		debug_frame_index_build(debug, NULL, 0, m->bias, word, m->start, frames,
					&eh->debug);
}

static int search(unw_addr_space_t as, unw_word_t ip, const struct module *m, unw_word_t format,
		  uint64_t segbase, uint64_t table, uint64_t count, unw_proc_info_t *pi,
		  int need_unwind_info, void *arg)
{
	unw_dyn_info_t di;

	memset(&di, 0, sizeof(di));
	di.start_ip = m->start;
	di.end_ip = m->end;
	di.format = (int32_t)format;
	di.u.rti.segbase = segbase;
	di.u.rti.table_data = table;
	/* table_len counts words: each entry is two 4-byte values. */
	di.u.rti.table_len = count * 8 / sizeof(unw_word_t);
	return UNW_OBJ(dwarf_search_unwind_table)(as, ip, &di, pi, need_unwind_info, arg);
}

/* The record for ip: in the module's .eh_frame (through its .eh_frame_hdr or a table built from
 * it), else in its .debug_frame, read on the first pc .eh_frame does not cover. */
static int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi,
			  int need_unwind_info, void *arg)
{
	struct unwind_arg *a = arg;
	struct unwinder *u = a->u;
	const struct module *m = module_at(&u->mods, ip);
	struct eh_table *eh;
	size_t i;
	int r = -UNW_ENOINFO;

	a->looked = true;
	if (!m)
		return -UNW_ENOINFO;
	i = (size_t)(m - u->mods.m);
	eh = &u->eh[i];
	if (!eh->parsed)
		load_eh_table(u, m, eh);
	if (eh->usable)
		r = search(as, ip, m, UNW_INFO_FORMAT_REMOTE_TABLE, eh->segbase, eh->table,
			   eh->count, pi, need_unwind_info, arg);
	if (r == -UNW_ENOINFO) {
		if (!eh->debug_parsed)
			load_debug_frame(u, m, eh);
		if (eh->debug.count)
			r = search(as, ip, m, UNW_INFO_FORMAT_IP_OFFSET, eh->debug.segbase,
				   synth_addr(i, SYNTH_DEBUG_TABLE), eh->debug.count, pi,
				   need_unwind_info, arg);
	}
	a->found = r >= 0;
	return r;
}

static unw_accessors_t accessors = {
	.find_proc_info = find_proc_info,
	.put_unwind_info = _UCD_put_unwind_info,
	.get_dyn_info_list_addr = _UCD_get_dyn_info_list_addr,
	.access_mem = access_mem,
	.access_reg = access_reg,
	.access_fpreg = access_fpreg,
	.resume = resume,
	.get_proc_name = get_proc_name,
};

/* --- getting ready, on first use ---------------------------------------------------------- */

int unwinder_init(struct unwinder *u, const struct core *c, const struct disk_files *df,
		  struct memory *mem, const struct exe_layout *layout)
{
	memset(u, 0, sizeof(*u));
	u->core = c;
	u->files = df;
	u->mem = mem;
	u->layout = layout;
	pthread_mutex_init(&u->lock, NULL);
	return 0;
}

/* COREFS_UNWINDER=libdw unwinds x86_64 cores with libdwfl too (to measure one against the
 * other: README, "Backtraces"). */
static bool use_libdw(void)
{
	const char *e = getenv("COREFS_UNWINDER");

	return e && !strcmp(e, "libdw");
}

/* Called with the lock held. */
static bool get_ready(struct unwinder *u)
{
	const struct core *c = u->core;

	if (u->ready || u->failed)
		return u->ready;
	u->failed = true;
	if (modules_find(c, u->mem, u->files, u->layout, &u->mods) < 0 ||
	    symbols_init(&u->syms, &u->mods, u->mem) < 0)
		return false;
	u->eh = calloc(u->mods.n ? u->mods.n : 1, sizeof(*u->eh));
	u->pages = calloc(CACHE_PAGES, sizeof(*u->pages));
	u->threads = calloc(c->nthreads ? c->nthreads : 1, sizeof(*u->threads));
	if (!u->eh || !u->pages || !u->threads)
		return false;
	if (c->machine != EM_X86_64 || c->big_endian || use_libdw()) {
		u->dwfl = dwfl_unwinder_new(u, &u->why_not);
		if (!u->dwfl && u->why_not && !strcmp(u->why_not, "out of memory"))
			return false;
	} else {
		u->as = unw_create_addr_space(&accessors, 0);
		if (!u->as)
			return false;
	}
	u->failed = false;
	u->ready = true;
	return true;
}

void unwinder_free(struct unwinder *u)
{
	if (u->threads)
		for (size_t i = 0; i < u->core->nthreads; i++)
			if (u->threads[i]) {
				free(u->threads[i]->frames);
				free(u->threads[i]);
			}
	free(u->threads);
	if (u->as)
		unw_destroy_addr_space(u->as);
	dwfl_unwinder_free(u->dwfl);
	for (size_t i = 0; u->eh && i < u->mods.n; i++) {
		eh_index_free(&u->eh[i].built);
		eh_index_free(&u->eh[i].debug);
	}
	free(u->eh);
	symbols_free(&u->syms);
	modules_free(&u->mods);
	free(u->pages);
	pthread_mutex_destroy(&u->lock);
	memset(u, 0, sizeof(*u));
}

/* --- one thread --------------------------------------------------------------------------- */

static bool push(struct backtrace *bt, size_t *cap, uint64_t pc, uint64_t sp)
{
	if (bt->n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 16;
		struct frame *grown = realloc(bt->frames, ncap * sizeof(*grown));

		if (!grown)
			return false;
		bt->frames = grown;
		*cap = ncap;
	}
	bt->frames[bt->n++] = (struct frame){ .pc = pc, .sp = sp };
	return true;
}

/* libunwind 1.6.2's frame-pointer rule (x86_64 unw_step, where no table covers the pc) finds
 * the caller's pc and rbp at [rbp + 8] and [rbp], but moves its CFA by 16 instead of setting it
 * to rbp + 16, so the next table-driven step reads the stack at a wrong place (and its other
 * registers are forgotten).  When the step just taken was that rule, start a new cursor at the
 * caller with the registers it has: pc (one byte back, inside the call, where libunwind would
 * look its table up), rsp = rbp + 16, rbp, and those libunwind still knows.  Returns the
 * caller's sp, 0 when the step was not the frame-pointer rule or no cursor could start. */
static uint64_t restart_after_frame_chain(struct unwinder *u, unw_cursor_t *cur,
					  struct unwind_arg *arg, uint64_t rbp)
{
	static const int kept[] = { UNW_X86_64_RBX, UNW_X86_64_R12, UNW_X86_64_R13,
				    UNW_X86_64_R14, UNW_X86_64_R15 };
	unw_word_t pc, caller_rbp, v;
	uint64_t saved_rbp, ret;

	if (unw_get_reg(cur, UNW_REG_IP, &pc) < 0 ||
	    unw_get_reg(cur, UNW_X86_64_RBP, &caller_rbp) < 0 ||
	    !read_cached(u, rbp, &saved_rbp, 8) || !read_cached(u, rbp + 8, &ret, 8) ||
	    ret != pc || saved_rbp != caller_rbp || !pc)
		return 0;
	arg->known = 0;
	for (size_t i = 0; i < ARRAY_SIZE(kept); i++)
		if (unw_get_reg(cur, kept[i], &v) == 0) {
			arg->regs[kept[i]] = v;
			arg->known |= 1u << kept[i];
		}
	arg->regs[UNW_X86_64_RIP] = pc - 1;
	arg->regs[UNW_X86_64_RSP] = rbp + 16;
	arg->regs[UNW_X86_64_RBP] = caller_rbp;
	arg->known |= 1u << UNW_X86_64_RIP | 1u << UNW_X86_64_RSP | 1u << UNW_X86_64_RBP;
	if (unw_init_remote(cur, u->as, arg) < 0)
		return 0;
	return rbp + 16;
}

/* A signal handler returns to its sa_restorer, which calls rt_sigreturn: glibc's __restore_rt
 * and Go's runtime.sigreturn (runtime.sigreturn__sigaction since Go 1.21) alike are
 * "mov $15, %rax; syscall" (48 c7 c0 0f 00 00 00 0f 05; "mov $15, %eax" is b8 0f 00 00 00 0f
 * 05).  When the walk reaches such a pc, the handler's ret has popped the return address the
 * kernel pushed, so sp points at the rest of the kernel's struct rt_sigframe: the ucontext, whose
 * uc_mcontext (after uc_flags, uc_link and the 24-byte uc_stack) holds the interrupted
 * registers as struct sigcontext orders them: r8-r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp,
 * rip (arch/x86/include/uapi/asm/sigcontext.h; setup_rt_frame in arch/x86/kernel/signal.c).
 * libunwind 1.6.2 recognises glibc's stub through its call-frame record ('S' augmentation),
 * which Go's has not, and its own byte check needs the CFA its table or frame-pointer step
 * left, which is wrong after a frame-pointer guess; so the stub is recognised here, by its code,
 * and a new cursor starts at the interrupted registers, pc exact.  x86_64 only (x32's
 * rt_sigreturn is another number). */
#define UC_MCONTEXT 40

static bool is_sigreturn(struct unwinder *u, uint64_t pc)
{
	static const unsigned char movq[] = { 0x48, 0xc7, 0xc0, 0x0f, 0, 0, 0, 0x0f, 0x05 };
	static const unsigned char movl[] = { 0xb8, 0x0f, 0, 0, 0, 0x0f, 0x05 };
	unsigned char code[sizeof(movq)];

	if (u->core->elf_class != ELFCLASS64 || !read_cached(u, pc, code, sizeof(code)))
		return false;
	return !memcmp(code, movq, sizeof(movq)) || !memcmp(code, movl, sizeof(movl));
}

static bool restart_after_sigreturn(struct unwinder *u, unw_cursor_t *cur,
				    struct unwind_arg *arg, const struct frame *f)
{
	static const int order[] = {
		UNW_X86_64_R8, UNW_X86_64_R9, UNW_X86_64_R10, UNW_X86_64_R11, UNW_X86_64_R12,
		UNW_X86_64_R13, UNW_X86_64_R14, UNW_X86_64_R15, UNW_X86_64_RDI, UNW_X86_64_RSI,
		UNW_X86_64_RBP, UNW_X86_64_RBX, UNW_X86_64_RDX, UNW_X86_64_RAX, UNW_X86_64_RCX,
		UNW_X86_64_RSP, UNW_X86_64_RIP,
	};
	uint64_t gregs[ARRAY_SIZE(order)];

	if (!is_sigreturn(u, f->pc) || !read_cached(u, f->sp + UC_MCONTEXT, gregs, sizeof(gregs)) ||
	    !gregs[ARRAY_SIZE(order) - 1])
		return false;
	arg->known = 0;
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		arg->regs[order[i]] = gregs[i];
		arg->known |= 1u << order[i];
	}
	return unw_init_remote(cur, u->as, arg) >= 0;
}

/* Whether pc may be code: inside a loaded object, or in memory the core marks executable. */
static bool is_code(struct unwinder *u, uint64_t pc)
{
	const struct core_segment *s = core_segment_at(u->core, pc);

	return module_at(&u->mods, pc) || (s && (s->flags & SEG_X));
}

/* Whether the caller (pc, sp) just found is a frame already walked: the walk would go round the
 * same frames for ever (saved registers or return addresses that lead back, as a corrupt stack or
 * a ucontext rewritten by its handler can).  A caller lies above its callee, so a loop has a
 * step that does not raise sp; only such steps are checked. */
static bool repeats(struct backtrace *bt, uint64_t pc, uint64_t sp)
{
	if (pc == bt->frames[bt->n - 1].pc && sp == bt->frames[bt->n - 1].sp) {
		snprintf(bt->end, sizeof(bt->end), "unwinding makes no progress");
		return true;
	}
	for (size_t k = bt->n - 1; k-- > 0;)
		if (bt->frames[k].pc == pc && bt->frames[k].sp == sp) {
			snprintf(bt->end, sizeof(bt->end), "a loop: the caller of #%zu is #%zu again "
				 "(pc 0x%" PRIx64 ", sp 0x%" PRIx64 "), so the saved registers lead "
				 "back to frames already shown", bt->n - 1, k, pc, sp);
			return true;
		}
	return false;
}

static void walk(struct unwinder *u, const struct core_thread *t, struct backtrace *bt, size_t *cap)
{
	struct unwind_arg arg = { .u = u };
	unw_cursor_t cur;
	unw_word_t pc, sp, rbp;
	int r;

	thread_regs(u->core, t, &arg);
	r = unw_init_remote(&cur, u->as, &arg);
	if (r < 0 || unw_get_reg(&cur, UNW_REG_IP, &pc) < 0 ||
	    unw_get_reg(&cur, UNW_REG_SP, &sp) < 0) {
		snprintf(bt->end, sizeof(bt->end), "libunwind cannot start: %s", unw_strerror(r));
		return;
	}
	if (!push(bt, cap, pc, sp))
		return;
	for (;;) {
		struct frame *f = &bt->frames[bt->n - 1];
		bool have_rbp = unw_get_reg(&cur, UNW_X86_64_RBP, &rbp) == 0;
		uint64_t fixed_sp = 0;

		arg.looked = arg.found = false;
		if (restart_after_sigreturn(u, &cur, &arg, f)) {
			f->flags |= FRAME_SIGNAL;
			r = 1;
		} else {
			r = unw_step(&cur);
		}
		/* libunwind 1.6.2 (x86_64) answers for the step just taken: whether it went
		 * through a signal frame's record, i.e. whether f is the trampoline. */
		if (r > 0 && unw_is_signal_frame(&cur) > 0)
			f->flags |= FRAME_SIGNAL;
		if (arg.looked && !arg.found) {
			f->flags |= FRAME_NO_CFI;
			if (r > 0 && have_rbp)
				fixed_sp = restart_after_frame_chain(u, &cur, &arg, rbp);
		}
		if (r == 0) {
			snprintf(bt->end, sizeof(bt->end), "the outermost frame");
			return;
		}
		if (r < 0) {
			snprintf(bt->end, sizeof(bt->end), "libunwind stops: %s", unw_strerror(r));
			return;
		}
		if (unw_get_reg(&cur, UNW_REG_IP, &pc) < 0 ||
		    unw_get_reg(&cur, UNW_REG_SP, &sp) < 0) {
			snprintf(bt->end, sizeof(bt->end),
				 "libunwind gives no registers for the caller");
			return;
		}
		if (fixed_sp) {
			pc += 1;	/* the restarted cursor looks its table up one byte back */
			sp = fixed_sp;
		}
		if (pc == 0) {
			snprintf(bt->end, sizeof(bt->end),
				 "the outermost frame (return address 0)");
			return;
		}
		if ((f->flags & FRAME_NO_CFI) && !is_code(u, pc)) {
			/* A guess of the frame-pointer rule that lands outside any code: the
			 * frame above did not keep a frame pointer. */
			snprintf(bt->end, sizeof(bt->end),
				 "the frame-pointer chain leads to 0x%" PRIx64 ", outside any code",
				 (uint64_t)pc);
			return;
		}
		if (sp <= f->sp && repeats(bt, pc, sp))
			return;
		if (bt->n == MAX_FRAMES) {
			snprintf(bt->end, sizeof(bt->end), "stopped after %d frames", MAX_FRAMES);
			return;
		}
		if (!push(bt, cap, pc, sp))
			return;
	}
}

/* The walk ends at the last frame; when no call-frame table covered it because its object's file
 * is missing or is not the mapped one (and the core holds no table of it), or because it is code
 * made at run time, in executable memory no loaded object holds (a JIT compiler's: no table
 * describes it unless the JIT registers one, which corefs does not read), that is why the stack
 * ends, or why a frame-pointer guess had to be made there: say so before what the walk saw. */
static void explain_end(struct unwinder *u, struct backtrace *bt)
{
	const struct frame *f = bt->n ? &bt->frames[bt->n - 1] : NULL;
	const struct core_segment *s;
	const struct module *m;
	const struct fetch *e;
	char seen[sizeof(bt->end)];
	uint64_t at;

	if (!f || !(f->flags & FRAME_NO_CFI))
		return;
	at = bt->n > 1 && !(bt->frames[bt->n - 2].flags & FRAME_SIGNAL) ? f->pc - 1 : f->pc;
	m = module_at(&u->mods, at);
	memcpy(seen, bt->end, sizeof(seen));
	if (!m) {
		s = core_segment_at(u->core, at);
		if (s && (s->flags & SEG_X))
			snprintf(bt->end, sizeof(bt->end), "no call-frame information for 0x%" PRIx64
				 ": code made at run time (as a JIT compiler makes it), in executable "
				 "memory no loaded object holds; by frame pointers: %.256s", f->pc,
				 seen);
		return;
	}
	if (!m->disk || disk_file_now(u->files, m->disk) || u->eh[m - u->mods.m].usable)
		return;
	if (disk_file_fetch_state(u->files, m->disk, &e) != FETCH_FAILED || !e || !e->why)
		e = NULL;
	snprintf(bt->end, sizeof(bt->end), "no call-frame information for 0x%" PRIx64 ": %.192s is "
		 "%s (%.192s%s%.192s); by frame pointers: %.256s", f->pc, m->disk->path,
		 m->disk->status == DISK_MISSING ? "missing" : "not the mapped file",
		 m->disk->why ? m->disk->why : "", e ? "; debuginfod: " : "", e ? e->why : "", seen);
}

/* One frame of libdwfl's walk (unwind_dwfl.c): the same checks as walk()'s. */
struct dwfl_walk {
	struct unwinder *u;
	struct backtrace *bt;
	size_t *cap;
};

static bool dwfl_frame(void *arg, uint64_t pc, uint64_t sp, unsigned flags)
{
	struct dwfl_walk *w = arg;
	struct backtrace *bt = w->bt;
	const struct frame *f = bt->n ? &bt->frames[bt->n - 1] : NULL;

	if (f && pc == 0) {
		snprintf(bt->end, sizeof(bt->end), "the outermost frame (return address 0)");
		return false;
	}
	if (f && (f->flags & FRAME_NO_CFI) && !is_code(w->u, pc)) {
		snprintf(bt->end, sizeof(bt->end),
			 "the frame-pointer chain leads to 0x%" PRIx64 ", outside any code", pc);
		return false;
	}
	if (f && sp <= f->sp && repeats(bt, pc, sp))
		return false;
	if (bt->n == MAX_FRAMES) {
		snprintf(bt->end, sizeof(bt->end), "stopped after %d frames", MAX_FRAMES);
		return false;
	}
	if (!push(bt, w->cap, pc, sp)) {
		snprintf(bt->end, sizeof(bt->end), "out of memory");
		return false;
	}
	bt->frames[bt->n - 1].flags = flags;
	return true;
}

/* Name each frame.  A return address is looked up one byte back, inside the call; the pc of
 * frame #0, of a signal trampoline and of the frame a signal interrupted is exact. */
static void name_frames(struct unwinder *u, struct backtrace *bt)
{
	for (size_t k = 0; k < bt->n; k++) {
		struct frame *f = &bt->frames[k];
		bool exact = k == 0 || (f->flags & FRAME_SIGNAL) ||
			     (bt->frames[k - 1].flags & FRAME_SIGNAL);
		uint64_t at = exact ? f->pc : f->pc - 1, sym = 0;

		f->module = module_at(&u->mods, at);
		f->symbol = f->module ? symbols_lookup(&u->syms, f->module, at, &sym) : NULL;
		f->offset = f->symbol ? f->pc - sym : 0;
	}
}

static struct backtrace *unwind_thread(struct unwinder *u, const struct core_thread *t)
{
	struct backtrace *bt = calloc(1, sizeof(*bt));
	size_t cap = 0;

	if (!bt)
		return NULL;
	if (!t->has_pc) {
		snprintf(bt->end, sizeof(bt->end), "the core holds no registers for this thread");
		return bt;
	}
	if (u->as) {
		walk(u, t, bt, &cap);
		explain_end(u, bt);
	} else if (u->dwfl) {
		struct dwfl_walk w = { .u = u, .bt = bt, .cap = &cap };

		dwfl_unwinder_walk(u->dwfl, (size_t)(t - u->core->threads), dwfl_frame, &w, bt->end,
				   sizeof(bt->end));
		explain_end(u, bt);
	} else {
		snprintf(bt->end, sizeof(bt->end), "%s", u->why_not);
		push(bt, &cap, t->pc, t->has_sp ? t->sp : 0);
	}
	if (!bt->end[0]) {
		free(bt->frames);
		free(bt);
		return NULL;	/* out of memory */
	}
	name_frames(u, bt);
	return bt;
}

const struct backtrace *unwinder_thread(struct unwinder *u, size_t i)
{
	struct backtrace *bt = NULL;

	if (i >= u->core->nthreads)
		return NULL;
	pthread_mutex_lock(&u->lock);
	if (get_ready(u)) {
		if (!u->threads[i])
			u->threads[i] = unwind_thread(u, &u->core->threads[i]);
		bt = u->threads[i];
	}
	pthread_mutex_unlock(&u->lock);
	return bt;
}

const struct modules *unwinder_modules(struct unwinder *u)
{
	bool ok;

	pthread_mutex_lock(&u->lock);
	ok = get_ready(u);
	pthread_mutex_unlock(&u->lock);
	return ok ? &u->mods : NULL;
}

const char *unwinder_symbols_source(struct unwinder *u, const struct module *m)
{
	const char *s = NULL;

	pthread_mutex_lock(&u->lock);
	if (get_ready(u))
		s = symbols_source(&u->syms, m);
	pthread_mutex_unlock(&u->lock);
	return s;
}
