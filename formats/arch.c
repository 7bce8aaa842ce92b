/* formats/arch.c — the table of architectures: note layouts and gdb's register names.
 *
 * Offsets follow the kernel's struct elf_prstatus / elf_prpsinfo for each ABI and the
 * architecture's user_regs_struct (arch/<arch>/include/uapi/asm/ptrace.h); register names and
 * widths follow gdb's "info registers".  Adding an architecture is adding rows. */
#include <elf.h>
#include <stddef.h>
#include <string.h>

#include "arch.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* struct elf_prstatus for LP64 and ILP32 ABIs with natural alignment. */
#define PRSTATUS_LP64                                                                    \
	{ .word = 8, .sigpend = 16, .sighold = 24, .pid = 32, .ppid = 36, .pgrp = 40, .sid = 44, \
	  .utime = 48, .stime = 64, .cutime = 80, .cstime = 96, .reg = 112 }
#define PRSTATUS_ILP32                                                                   \
	{ .word = 4, .sigpend = 16, .sighold = 20, .pid = 24, .ppid = 28, .pgrp = 32, .sid = 36, \
	  .utime = 40, .stime = 48, .cutime = 56, .cstime = 64, .reg = 72 }

/* struct elf_prpsinfo: LP64 (32-bit uids), ILP32 with 16-bit or 32-bit uids. */
static const struct prpsinfo_layout prpsinfo_lp64[] = {
	{ .flag_size = 8, .id_size = 4, .flag = 8, .uid = 16, .gid = 20, .pid = 24, .ppid = 28,
	  .pgrp = 32, .sid = 36, .fname = 40, .psargs = 56, .size = 136 },
	{ 0 },
};
static const struct prpsinfo_layout prpsinfo_ilp32[] = {
	{ .flag_size = 4, .id_size = 2, .flag = 4, .uid = 8, .gid = 10, .pid = 12, .ppid = 16,
	  .pgrp = 20, .sid = 24, .fname = 28, .psargs = 44, .size = 124 },
	{ .flag_size = 4, .id_size = 4, .flag = 4, .uid = 8, .gid = 12, .pid = 16, .ppid = 20,
	  .pgrp = 24, .sid = 28, .fname = 32, .psargs = 48, .size = 128 },
	{ 0 },
};

/* Registers: R(name, offset, size) and W(name, offset, size, shown width). */
#define R(n, o, s) { n, o, s, 0 }
#define W(n, o, s, w) { n, o, s, w }

/* x86_64: struct user_regs_struct, 27 longs. */
static const struct reg_desc x86_64_regs[] = {
	R("rax", 80, 8), R("rbx", 40, 8), R("rcx", 88, 8), R("rdx", 96, 8),
	R("rsi", 104, 8), R("rdi", 112, 8), R("rbp", 32, 8), R("rsp", 152, 8),
	R("r8", 72, 8), R("r9", 64, 8), R("r10", 56, 8), R("r11", 48, 8),
	R("r12", 24, 8), R("r13", 16, 8), R("r14", 8, 8), R("r15", 0, 8),
	R("rip", 128, 8), W("eflags", 144, 8, 4),
	W("cs", 136, 8, 4), W("ss", 160, 8, 4), W("ds", 184, 8, 4), W("es", 192, 8, 4),
	W("fs", 200, 8, 4), W("gs", 208, 8, 4),
	R("fs_base", 168, 8), R("gs_base", 176, 8), R("orig_rax", 120, 8),
};

/* i386: struct user_regs_struct, 17 longs. */
static const struct reg_desc i386_regs[] = {
	R("eax", 24, 4), R("ecx", 4, 4), R("edx", 8, 4), R("ebx", 0, 4),
	R("esp", 60, 4), R("ebp", 20, 4), R("esi", 12, 4), R("edi", 16, 4),
	R("eip", 48, 4), R("eflags", 56, 4),
	R("cs", 52, 4), R("ss", 64, 4), R("ds", 28, 4), R("es", 32, 4), R("fs", 36, 4), R("gs", 40, 4),
	R("orig_eax", 44, 4),
};

/* aarch64: struct user_pt_regs: x0-x30, sp, pc, pstate (gdb calls it cpsr, 32 bits). */
static const struct reg_desc aarch64_regs[] = {
	R("x0", 0, 8), R("x1", 8, 8), R("x2", 16, 8), R("x3", 24, 8), R("x4", 32, 8),
	R("x5", 40, 8), R("x6", 48, 8), R("x7", 56, 8), R("x8", 64, 8), R("x9", 72, 8),
	R("x10", 80, 8), R("x11", 88, 8), R("x12", 96, 8), R("x13", 104, 8), R("x14", 112, 8),
	R("x15", 120, 8), R("x16", 128, 8), R("x17", 136, 8), R("x18", 144, 8), R("x19", 152, 8),
	R("x20", 160, 8), R("x21", 168, 8), R("x22", 176, 8), R("x23", 184, 8), R("x24", 192, 8),
	R("x25", 200, 8), R("x26", 208, 8), R("x27", 216, 8), R("x28", 224, 8), R("x29", 232, 8),
	R("x30", 240, 8), R("sp", 248, 8), R("pc", 256, 8), W("cpsr", 264, 8, 4),
};

#define REGS(a) .regs = a, .nregs = ARRAY_SIZE(a)

static const struct arch_desc arch_table[] = {
	{ .name = "x86_64", .gdb_name = "i386:x86-64", .machine = EM_X86_64, .elf_class = ELFCLASS64,
	  .os = CORE_OS_LINUX, .prstatus = PRSTATUS_LP64, .prpsinfo = prpsinfo_lp64,
	  .gregs_size = 216, .siginfo_addr_offset = 16, .siginfo_addr_size = 8,
	  REGS(x86_64_regs), .pc = 16, .sp = 7 },
	{ .name = "i386", .gdb_name = "i386", .machine = EM_386, .elf_class = ELFCLASS32,
	  .os = CORE_OS_LINUX, .prstatus = PRSTATUS_ILP32, .prpsinfo = prpsinfo_ilp32,
	  .gregs_size = 68, .siginfo_addr_offset = 12, .siginfo_addr_size = 4,
	  REGS(i386_regs), .pc = 8, .sp = 4 },
	{ .name = "aarch64", .gdb_name = "aarch64", .machine = EM_AARCH64, .elf_class = ELFCLASS64,
	  .os = CORE_OS_LINUX, .prstatus = PRSTATUS_LP64, .prpsinfo = prpsinfo_lp64,
	  .gregs_size = 272, .siginfo_addr_offset = 16, .siginfo_addr_size = 8,
	  REGS(aarch64_regs), .pc = 32, .sp = 31 },
};

/* Unknown machines: the common layout of their class, no registers. */
static const struct arch_desc arch_generic64 = {
	.name = "unknown", .elf_class = ELFCLASS64, .prstatus = PRSTATUS_LP64,
	.prpsinfo = prpsinfo_lp64, .siginfo_addr_offset = 16, .siginfo_addr_size = 8,
	.pc = -1, .sp = -1,
};
static const struct arch_desc arch_generic32 = {
	.name = "unknown", .elf_class = ELFCLASS32, .prstatus = PRSTATUS_ILP32,
	.prpsinfo = prpsinfo_ilp32, .siginfo_addr_offset = 12, .siginfo_addr_size = 4,
	.pc = -1, .sp = -1,
};

const struct arch_desc *arch_find(uint16_t machine, unsigned char elf_class, uint32_t e_flags,
				  enum core_os os)
{
	for (size_t i = 0; i < ARRAY_SIZE(arch_table); i++) {
		const struct arch_desc *a = &arch_table[i];

		if (a->machine != machine || a->os != os)
			continue;
		if (a->elf_class && a->elf_class != elf_class)
			continue;
		if (a->match_flags && !a->match_flags(e_flags))
			continue;
		return a;
	}
	return elf_class == ELFCLASS32 ? &arch_generic32 : &arch_generic64;
}

bool arch_is_generic(const struct arch_desc *arch)
{
	return arch == &arch_generic32 || arch == &arch_generic64;
}

bool arch_reg(const struct core *c, const struct core_thread *t, const struct reg_desc *r,
	      uint64_t *value)
{
	uint64_t v;
	unsigned width = r->width ? r->width : r->size;

	if (!t->gregs || (size_t)r->offset + r->size > t->gregs_size)
		return false;
	v = core_get(c, t->gregs + r->offset, r->size);
	if (width < 8)
		v &= (UINT64_C(1) << (8 * width)) - 1;
	*value = v;
	return true;
}

/* Note types by owner.  "CORE" and "LINUX" share one number space in the kernel's elf.h. */
struct note_name {
	uint32_t type;
	const char *name;
};

static const struct note_name linux_notes[] = {
	{ 1, "NT_PRSTATUS" }, { 2, "NT_FPREGSET" }, { 3, "NT_PRPSINFO" }, { 4, "NT_TASKSTRUCT" },
	{ 6, "NT_AUXV" }, { 0x46494c45, "NT_FILE" }, { 0x53494749, "NT_SIGINFO" },
	{ 0x46e62b7f, "NT_PRXFPREG" }, { 0x100, "NT_PPC_VMX" }, { 0x101, "NT_PPC_SPE" },
	{ 0x102, "NT_PPC_VSX" }, { 0x103, "NT_PPC_TAR" }, { 0x104, "NT_PPC_PPR" },
	{ 0x105, "NT_PPC_DSCR" }, { 0x200, "NT_386_TLS" }, { 0x201, "NT_386_IOPERM" },
	{ 0x202, "NT_X86_XSTATE" }, { 0x204, "NT_X86_SHSTK" }, { 0x300, "NT_S390_HIGH_GPRS" },
	{ 0x301, "NT_S390_TIMER" }, { 0x302, "NT_S390_TODCMP" }, { 0x303, "NT_S390_TODPREG" },
	{ 0x304, "NT_S390_CTRS" }, { 0x305, "NT_S390_PREFIX" }, { 0x306, "NT_S390_LAST_BREAK" },
	{ 0x307, "NT_S390_SYSTEM_CALL" }, { 0x308, "NT_S390_TDB" }, { 0x309, "NT_S390_VXRS_LOW" },
	{ 0x30a, "NT_S390_VXRS_HIGH" }, { 0x30b, "NT_S390_GS_CB" }, { 0x30c, "NT_S390_GS_BC" },
	{ 0x400, "NT_ARM_VFP" }, { 0x401, "NT_ARM_TLS" }, { 0x402, "NT_ARM_HW_BREAK" },
	{ 0x403, "NT_ARM_HW_WATCH" }, { 0x404, "NT_ARM_SYSTEM_CALL" }, { 0x405, "NT_ARM_SVE" },
	{ 0x406, "NT_ARM_PAC_MASK" }, { 0x407, "NT_ARM_PACA_KEYS" }, { 0x408, "NT_ARM_PACG_KEYS" },
	{ 0x409, "NT_ARM_TAGGED_ADDR_CTRL" }, { 0x40a, "NT_ARM_PAC_ENABLED_KEYS" },
	{ 0x40b, "NT_ARM_SSVE" }, { 0x40c, "NT_ARM_ZA" }, { 0x40d, "NT_ARM_ZT" },
	{ 0x40e, "NT_ARM_FPMR" }, { 0x410, "NT_ARM_GCS" }, { 0x500, "NT_METAG_CBUF" },
	{ 0x800, "NT_MIPS_DSP" }, { 0x801, "NT_MIPS_FP_MODE" }, { 0x802, "NT_MIPS_MSA" },
	{ 0x900, "NT_RISCV_CSR" }, { 0x901, "NT_RISCV_VECTOR" }, { 0xa00, "NT_LOONGARCH_CPUCFG" },
	{ 0, NULL },
};

static const struct note_name gnu_notes[] = {
	{ 1, "NT_GNU_ABI_TAG" }, { 3, "NT_GNU_BUILD_ID" }, { 4, "NT_GNU_GOLD_VERSION" },
	{ 5, "NT_GNU_PROPERTY_TYPE_0" }, { 0, NULL },
};

static const struct note_name netbsd_notes[] = {
	{ 1, "NETBSD_CORE_PROCINFO" }, { 2, "NETBSD_CORE_AUXV" }, { 0, NULL },
};

const char *note_type_name(const char *owner, uint32_t type)
{
	const struct note_name *table = NULL;

	if (!strcmp(owner, "CORE") || !strcmp(owner, "LINUX"))
		table = linux_notes;
	else if (!strcmp(owner, "GNU"))
		table = gnu_notes;
	else if (!strcmp(owner, "NetBSD-CORE"))
		table = netbsd_notes;
	else if (!strcmp(owner, "VMCOREINFO"))
		return "VMCOREINFO";
	else if (!strncmp(owner, "NetBSD-CORE@", 12))
		return type == 32 || type == 33 ? "PT_GETREGS" : type == 34 || type == 35 ? "PT_GETFPREGS" : NULL;
	if (!table)
		return NULL;
	for (; table->name; table++)
		if (table->type == type)
			return table->name;
	return NULL;
}

/* Linux's common numbering (x86, arm, aarch64, riscv, ppc, s390, m68k). */
static const char *const linux_signals[] = {
	[1] = "SIGHUP", [2] = "SIGINT", [3] = "SIGQUIT", [4] = "SIGILL", [5] = "SIGTRAP",
	[6] = "SIGABRT", [7] = "SIGBUS", [8] = "SIGFPE", [9] = "SIGKILL", [10] = "SIGUSR1",
	[11] = "SIGSEGV", [12] = "SIGUSR2", [13] = "SIGPIPE", [14] = "SIGALRM", [15] = "SIGTERM",
	[16] = "SIGSTKFLT", [17] = "SIGCHLD", [18] = "SIGCONT", [19] = "SIGSTOP", [20] = "SIGTSTP",
	[21] = "SIGTTIN", [22] = "SIGTTOU", [23] = "SIGURG", [24] = "SIGXCPU", [25] = "SIGXFSZ",
	[26] = "SIGVTALRM", [27] = "SIGPROF", [28] = "SIGWINCH", [29] = "SIGIO", [30] = "SIGPWR",
	[31] = "SIGSYS",
};

const char *signal_name(const struct arch_desc *arch, int signo)
{
	const char *const *table = linux_signals;
	size_t n = ARRAY_SIZE(linux_signals);

	if (arch && arch->signals) {
		table = arch->signals;
		n = arch->nsignals;
	}
	if (signo <= 0 || (size_t)signo >= n)
		return NULL;
	return table[signo];
}

static const char *const auxv_names[] = {
	[0] = "AT_NULL", [1] = "AT_IGNORE", [2] = "AT_EXECFD", [3] = "AT_PHDR", [4] = "AT_PHENT",
	[5] = "AT_PHNUM", [6] = "AT_PAGESZ", [7] = "AT_BASE", [8] = "AT_FLAGS", [9] = "AT_ENTRY",
	[10] = "AT_NOTELF", [11] = "AT_UID", [12] = "AT_EUID", [13] = "AT_GID", [14] = "AT_EGID",
	[15] = "AT_PLATFORM", [16] = "AT_HWCAP", [17] = "AT_CLKTCK", [18] = "AT_FPUCW",
	[19] = "AT_DCACHEBSIZE", [20] = "AT_ICACHEBSIZE", [21] = "AT_UCACHEBSIZE",
	[22] = "AT_IGNOREPPC", [23] = "AT_SECURE", [24] = "AT_BASE_PLATFORM", [25] = "AT_RANDOM",
	[26] = "AT_HWCAP2", [27] = "AT_RSEQ_FEATURE_SIZE", [28] = "AT_RSEQ_ALIGN",
	[29] = "AT_HWCAP3", [30] = "AT_HWCAP4", [31] = "AT_EXECFN", [32] = "AT_SYSINFO",
	[33] = "AT_SYSINFO_EHDR", [34] = "AT_L1I_CACHESHAPE", [35] = "AT_L1D_CACHESHAPE",
	[36] = "AT_L2_CACHESHAPE", [37] = "AT_L3_CACHESHAPE", [40] = "AT_L1I_CACHESIZE",
	[41] = "AT_L1I_CACHEGEOMETRY", [42] = "AT_L1D_CACHESIZE", [43] = "AT_L1D_CACHEGEOMETRY",
	[44] = "AT_L2_CACHESIZE", [45] = "AT_L2_CACHEGEOMETRY", [46] = "AT_L3_CACHESIZE",
	[47] = "AT_L3_CACHEGEOMETRY", [51] = "AT_MINSIGSTKSZ",
};

const char *auxv_type_name(uint64_t type)
{
	if (type >= ARRAY_SIZE(auxv_names))
		return NULL;
	return auxv_names[type];
}
