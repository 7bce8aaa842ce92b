/* formats/unwind_dwfl.c — backtraces with elfutils' libdwfl over the core model.
 *
 * The stages, once per core (dwfl_unwinder_new):
 *   1. a Dwfl with corefs's callbacks: find_elf opens the module's file as files.c resolved it
 *      (module_file: found here and verified, or fetched by build-id), or hands libelf the
 *      vDSO's image read from the core; find_debuginfo opens disk_debuginfo's file (sysroot's
 *      .build-id tree, else debuginfod), so libdwfl never looks anything up itself;
 *   2. every module of modules.h reported at its address (dwfl_report_module), the module as
 *      its userdata;
 *   3. dwfl_attach_state with an ELF header made from the core's (machine, class, data,
 *      flags), which picks elfutils' backend, and thread callbacks over the model: threads by
 *      index, memory through unwind.c's page cache, initial registers from NT_PRSTATUS mapped
 *      to the backend's DWARF numbers by arch.c's names (dwarf_layouts below).
 * Per thread, dwfl_getthread_frames walks with the modules' .eh_frame (libdw's CFI reader; it
 * finds .eh_frame through the section headers or PT_GNU_EH_FRAME), else .debug_frame of the
 * file or of its debug file, else the backend's own unwinder (frame pointers on x86_64 and
 * aarch64, the back chain on ppc and s390); signal frames are those whose FDE is marked 'S'
 * (and the backends' own sigreturn detection on s390 and ppc). */
#include <dwarf.h>
#include <elf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch.h"
#include "unwind.h"
#include "unwind_dwfl.h"
#include "util.h"

/* A machine's registers as elfutils' backend numbers them (its *_initreg.c and the psABI's
 * DWARF register numbers): names[n] is arch.c's name of DWARF register n (NULL: none given),
 * pc the register of the pc (dwfl_thread_state_register_pc), sp the DWARF number of the stack
 * pointer (for the frames' sp). */
struct dwarf_layout {
	uint16_t machine;
	const char *const *names;
	unsigned n;
	const char *pc;
	unsigned sp;
};

static const char *const x86_64_dwarf[] = {
	"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12",
	"r13", "r14", "r15", "rip",
};
static const char *const i386_dwarf[] = {
	"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip",
};
static const char *const aarch64_dwarf[] = {
	"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13",
	"x14", "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26",
	"x27", "x28", "x29", "x30", "sp",
};
static const char *const arm_dwarf[] = {
	"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "sp",
	"lr", "pc",
};
/* PowerPC: r0-r31 are 0-31, the link register 65 (elfutils' ppc_initreg.c), ctr 66. */
static const char *const ppc_dwarf[] = {
	"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "r13",
	"r14", "r15", "r16", "r17", "r18", "r19", "r20", "r21", "r22", "r23", "r24", "r25", "r26",
	"r27", "r28", "r29", "r30", "r31", [65] = "lr", [66] = "ctr",
};
static const char *const s390_dwarf[] = {
	"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "r13",
	"r14", "r15",
};
static const char *const riscv_dwarf[] = {
	NULL, "ra", "sp", "gp", "tp", "t0", "t1", "t2", "fp", "s1", "a0", "a1", "a2", "a3", "a4",
	"a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4",
	"t5", "t6",
};
static const char *const sparc_dwarf[] = {
	"g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7", "o0", "o1", "o2", "o3", "o4", "o5", "sp",
	"o7", "l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "i0", "i1", "i2", "i3", "i4", "i5",
	"fp", "i7",
};
static const char *const m68k_dwarf[] = {
	"d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "a0", "a1", "a2", "a3", "a4", "a5", "fp",
	"sp",
};
static const char *const mips_dwarf[] = {
	"zero", "at", "v0", "v1", "a0", "a1", "a2", "a3", "t0", "t1", "t2", "t3", "t4", "t5", "t6",
	"t7", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "t8", "t9", "k0", "k1", "gp", "sp",
	"s8", "ra",
};

#define LAYOUT(m, names, pc, sp) { m, names, ARRAY_SIZE(names), pc, sp }
static const struct dwarf_layout dwarf_layouts[] = {
	LAYOUT(EM_X86_64, x86_64_dwarf, "rip", 7),
	LAYOUT(EM_386, i386_dwarf, "eip", 4),
	LAYOUT(EM_AARCH64, aarch64_dwarf, "pc", 31),
	LAYOUT(EM_ARM, arm_dwarf, "pc", 13),
	LAYOUT(EM_PPC, ppc_dwarf, "pc", 1),
	LAYOUT(EM_PPC64, ppc_dwarf, "pc", 1),
	LAYOUT(EM_S390, s390_dwarf, "pswa", 15),
	LAYOUT(EM_RISCV, riscv_dwarf, "pc", 2),
	LAYOUT(EM_SPARCV9, sparc_dwarf, "pc", 14),
	LAYOUT(EM_SPARC, sparc_dwarf, "pc", 14),
	LAYOUT(EM_68K, m68k_dwarf, "pc", 15),
	LAYOUT(EM_MIPS, mips_dwarf, "pc", 29),
};

/* What libdwfl keeps as each module's userdata. */
struct dwfl_module_arg {
	struct dwfl_unwinder *d;
	const struct module *m;
	unsigned char *image;	/* the vDSO's bytes, read from the core; libelf reads them */
};

struct dwfl_unwinder {
	struct unwinder *u;
	const struct dwarf_layout *layout;
	Dwfl *dwfl;
	Elf *header;		/* the made-up ELF header that chose the backend */
	unsigned char ehdr[sizeof(Elf64_Ehdr)];
	size_t current;		/* the thread being unwound */
	struct dwfl_module_arg *mods;	/* per module of u->mods */
};

/* --- modules ------------------------------------------------------------------------------ */

static int open_file(const char *path, char **file_name)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		*file_name = strdup(path);
	return fd;
}

/* The module's file as files.c resolved it; the vDSO's image from the core. */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
		    char **file_name, Elf **elfp)
{
	struct dwfl_module_arg *a = *userdata;
	const struct disk_file *f;
	uint64_t size;

	(void)mod, (void)modname, (void)base;
	*elfp = NULL;
	if (a->m->kind == MODULE_VDSO) {
		size = a->m->end - a->m->start;
		if (!a->image && size <= (UINT64_C(1) << 24) && (a->image = malloc(size)) &&
		    memory_read(a->d->u->mem, a->m->start, a->image, size) != (ssize_t)size) {
			free(a->image);
			a->image = NULL;
		}
		if (a->image)
			*elfp = elf_memory((char *)a->image, size);
		return -1;
	}
	f = module_file(&a->d->u->mods, a->m);
	if (!f || !f->disk_path)
		return -1;
	return open_file(f->disk_path, file_name);
}

/* The separate debug file (for .debug_frame) by build-id, as files.h finds it. */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			  Dwarf_Addr base, const char *file_name, const char *debuglink_file,
			  GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	struct dwfl_module_arg *a = *userdata;
	const char *path;

	(void)mod, (void)modname, (void)base, (void)file_name, (void)debuglink_file;
	(void)debuglink_crc;
	if (!a->m->build_id_len)
		return -1;
	path = disk_debuginfo(a->d->u->files, a->m->build_id, a->m->build_id_len, a->m->name);
	return path ? open_file(path, debuginfo_file_name) : -1;
}

static const Dwfl_Callbacks callbacks = {
	.find_elf = find_elf,
	.find_debuginfo = find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

/* --- threads ------------------------------------------------------------------------------ */

/* Every thread's argument is the unwinder; d->current says which thread it is.  dwfl_getthreads
 * (not used by corefs) would walk them in order. */
static pid_t next_thread(Dwfl *dwfl, void *dwfl_arg, void **thread_argp)
{
	struct dwfl_unwinder *d = dwfl_arg;
	size_t i = *thread_argp ? d->current + 1 : 0;

	(void)dwfl;
	if (i >= d->u->core->nthreads)
		return 0;
	d->current = i;
	*thread_argp = d;
	return d->u->core->threads[i].tid > 0 ? d->u->core->threads[i].tid : (pid_t)(i + 1);
}

/* The thread asked for is the one being unwound (unwind.c holds its lock). */
static bool get_thread(Dwfl *dwfl, pid_t tid, void *dwfl_arg, void **thread_argp)
{
	(void)dwfl, (void)tid;
	*thread_argp = dwfl_arg;
	return true;
}

/* A word of the target's size, in its byte order. */
static bool memory_read_cb(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *dwfl_arg)
{
	struct dwfl_unwinder *d = dwfl_arg;
	const struct core *c = d->u->core;
	unsigned size = c->elf_class == ELFCLASS64 ? 8 : 4;
	unsigned char b[8];

	(void)dwfl;
	if (!unwinder_read(d->u, addr, b, size))
		return false;
	*result = core_get(c, b, size);
	return true;
}

static bool find_reg(const struct core *c, const struct core_thread *t, const char *name,
		     uint64_t *v)
{
	const struct arch_desc *arch = c->arch;

	for (size_t i = 0; i < arch->nregs; i++)
		if (!strcmp(arch->regs[i].name, name))
			return arch_reg(c, t, &arch->regs[i], v);
	return false;
}

/* The thread's registers by the backend's DWARF numbers; a register the core lacks stays
 * undefined (a rule needing it fails, and the walk ends there). */
static bool set_initial_registers(Dwfl_Thread *thread, void *thread_arg)
{
	struct dwfl_unwinder *d = thread_arg;
	const struct core *c = d->u->core;
	const struct core_thread *t = &c->threads[d->current];
	const struct dwarf_layout *l = d->layout;
	uint64_t v;

	for (unsigned n = 0; n < l->n; n++) {
		Dwarf_Word w;

		if (!l->names[n] || !find_reg(c, t, l->names[n], &v))
			continue;
		w = v;
		if (!dwfl_thread_state_registers(thread, (int)n, 1, &w))
			return false;
	}
	if (l->machine == EM_RISCV) {
		Dwarf_Word zero = 0;

		dwfl_thread_state_registers(thread, 0, 1, &zero);
	}
	if (!find_reg(c, t, l->pc, &v))
		return false;
	dwfl_thread_state_register_pc(thread, c->arch->pc_mask ? v & c->arch->pc_mask : v);
	return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = next_thread,
	.get_thread = get_thread,
	.memory_read = memory_read_cb,
	.set_initial_registers = set_initial_registers,
};

/* --- getting ready ------------------------------------------------------------------------ */

static void put(const struct core *c, unsigned char *p, uint64_t v, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		p[c->big_endian ? size - 1 - i : i] = (unsigned char)(v >> (8 * i));
}

/* An ELF header like the core's: elfutils picks its backend (and the ABI: x32, s390 31-bit,
 * ppc64 ELFv1/v2) from e_machine, the class, the data encoding and e_flags. */
static Elf *make_header(struct dwfl_unwinder *d)
{
	const struct core *c = d->u->core;
	bool is64 = c->elf_class == ELFCLASS64;
	unsigned char *e = d->ehdr;

	memset(e, 0, sizeof(d->ehdr));
	memcpy(e, ELFMAG, SELFMAG);
	e[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
	e[EI_DATA] = c->big_endian ? ELFDATA2MSB : ELFDATA2LSB;
	e[EI_VERSION] = EV_CURRENT;
	put(c, e + offsetof(Elf64_Ehdr, e_type), ET_CORE, 2);
	put(c, e + offsetof(Elf64_Ehdr, e_machine), c->machine, 2);
	put(c, e + offsetof(Elf64_Ehdr, e_version), EV_CURRENT, 4);
	if (is64) {
		put(c, e + offsetof(Elf64_Ehdr, e_flags), c->e_flags, 4);
		put(c, e + offsetof(Elf64_Ehdr, e_ehsize), sizeof(Elf64_Ehdr), 2);
	} else {
		put(c, e + offsetof(Elf32_Ehdr, e_flags), c->e_flags, 4);
		put(c, e + offsetof(Elf32_Ehdr, e_ehsize), sizeof(Elf32_Ehdr), 2);
	}
	return elf_memory((char *)e, is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr));
}

static const struct dwarf_layout *layout_of(uint16_t machine)
{
	for (size_t i = 0; i < ARRAY_SIZE(dwarf_layouts); i++)
		if (dwarf_layouts[i].machine == machine)
			return &dwarf_layouts[i];
	return NULL;
}

struct dwfl_unwinder *dwfl_unwinder_new(struct unwinder *u, const char **why)
{
	static char because[256];	/* only ever one sentence per machine; see below */
	struct dwfl_unwinder *d = calloc(1, sizeof(*d));
	const struct core *c = u->core;

	*why = "out of memory";
	if (!d)
		return NULL;
	d->u = u;
	d->layout = layout_of(c->machine);
	d->mods = calloc(u->mods.n ? u->mods.n : 1, sizeof(*d->mods));
	if (!d->mods)
		goto fail;
	if (!d->layout) {
		*why = "libdw here has no register numbering for this machine: frame #0 is from "
		       "the registers";
		goto fail;
	}
	elf_version(EV_CURRENT);
	d->dwfl = dwfl_begin(&callbacks);
	d->header = make_header(d);
	if (!d->dwfl || !d->header)
		goto fail;
	dwfl_report_begin(d->dwfl);
	for (size_t i = 0; i < u->mods.n; i++) {
		const struct module *m = &u->mods.m[i];
		Dwfl_Module *mod = dwfl_report_module(d->dwfl, m->name, m->start, m->end);
		void **userdata;

		d->mods[i] = (struct dwfl_module_arg){ .d = d, .m = m };
		if (mod && dwfl_module_info(mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL))
			*userdata = &d->mods[i];
	}
	dwfl_report_end(d->dwfl, NULL, NULL);
	if (!dwfl_attach_state(d->dwfl, d->header, c->threads && c->nthreads ?
			       c->threads[0].tid : 1, &thread_callbacks, d)) {
		/* elfutils 0.188 has no unwinder for this machine (or ABI). */
		snprintf(because, sizeof(because), "libdw cannot unwind %s cores: %s; frame #0 is "
			 "from the registers", c->arch->name, dwfl_errmsg(-1));
		*why = because;
		goto fail;
	}
	*why = NULL;
	return d;
fail:
	dwfl_unwinder_free(d);
	return NULL;
}

void dwfl_unwinder_free(struct dwfl_unwinder *d)
{
	if (!d)
		return;
	if (d->dwfl)
		dwfl_end(d->dwfl);
	if (d->header)
		elf_end(d->header);
	for (size_t i = 0; d->mods && i < d->u->mods.n; i++)
		free(d->mods[i].image);
	free(d->mods);
	free(d);
}

/* --- one thread --------------------------------------------------------------------------- */

/* Whether a call-frame table (.eh_frame, else .debug_frame) covers pc. */
static bool has_cfi(Dwfl *dwfl, uint64_t pc)
{
	Dwfl_Module *mod = dwfl_addrmodule(dwfl, pc);
	Dwarf_Frame *frame;
	Dwarf_CFI *cfi;
	Dwarf_Addr bias;

	if (!mod)
		return false;
	for (int dwarf = 0; dwarf < 2; dwarf++) {
		cfi = dwarf ? dwfl_module_dwarf_cfi(mod, &bias) : dwfl_module_eh_cfi(mod, &bias);
		if (cfi && dwarf_cfi_addrframe(cfi, pc - bias, &frame) == 0) {
			free(frame);
			return true;
		}
	}
	return false;
}

struct walk {
	struct dwfl_unwinder *d;
	dwfl_frame_fn fn;
	void *arg;
	bool stopped;		/* fn said stop */
	bool prev_signal;	/* the frame before was a signal trampoline */
	size_t n;
};

/* isactivation is true for frame #0, for a signal trampoline (its FDE's 'S') and for the frame
 * the signal interrupted: the first of a pair past #0 is the trampoline. */
static int frame_cb(Dwfl_Frame *state, void *arg)
{
	struct walk *w = arg;
	Dwarf_Addr pc;
	Dwarf_Word sp = 0;
	bool activation;
	unsigned flags = 0;

	if (!dwfl_frame_pc(state, &pc, &activation))
		return DWARF_CB_ABORT;
	dwfl_frame_reg(state, w->d->layout->sp, &sp);
	if (w->n > 0 && activation && !w->prev_signal)
		flags |= FRAME_SIGNAL;
	if (!has_cfi(w->d->dwfl, activation ? pc : pc - 1))
		flags |= FRAME_NO_CFI;
	w->prev_signal = flags & FRAME_SIGNAL;
	w->n++;
	if (!w->fn(w->arg, pc, sp, flags)) {
		w->stopped = true;
		return DWARF_CB_ABORT;
	}
	return DWARF_CB_OK;
}

void dwfl_unwinder_walk(struct dwfl_unwinder *d, size_t i, dwfl_frame_fn fn, void *arg,
			char *end, size_t endlen)
{
	struct walk w = { .d = d, .fn = fn, .arg = arg };
	const struct core_thread *t = &d->u->core->threads[i];
	int r;

	d->current = i;
	r = dwfl_getthread_frames(d->dwfl, t->tid > 0 ? t->tid : (pid_t)(i + 1), frame_cb, &w);
	if (w.stopped)
		return;
	if (r == 0)
		snprintf(end, endlen, "the outermost frame");
	else
		snprintf(end, endlen, "libdw stops: %s", dwfl_errmsg(-1));
}
