/* formats/macho_tables.c — the tables of the Mach-O reader: per CPU type it reads, the model's
 * description (an arch_desc with lldb's register names, in the order of the thread state) and its
 * thread-state flavors; the names of file types, load commands and flavors.  A new CPU type is a
 * new row of macho_cpus. */
#include <elf.h>
#include <stdio.h>

#include "macho_tables.h"
#include "util.h"

/* From <mach/machine.h>. */
#define CPU_TYPE_X86_64 0x01000007u
#define CPU_TYPE_ARM64 0x0100000cu

/* Thread state flavors (<mach/i386/thread_status.h>, <mach/arm/thread_status.h>). */
#define x86_THREAD_STATE64 4
#define x86_THREAD_STATE 7	/* x86_state_hdr {flavor, count}, then that state */
#define x86_THREAD_FULL_STATE64 23	/* x86_THREAD_STATE64, then ds, es, ss, gsbase */
#define ARM_THREAD_STATE 1	/* arm_state_hdr {flavor, count}, then that state */
#define ARM_THREAD_STATE64 6

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

static const char *lookup(const struct code_name *t, uint32_t code)
{
	for (; t->name; t++)
		if (t->code == code)
			return t->name;
	return NULL;
}

const char *macho_command_name(uint32_t cmd, char *buf, size_t bufsz)
{
	const char *s = lookup(load_commands, cmd);

	if (s)
		return s;
	snprintf(buf, bufsz, "LC_0x%x", cmd);
	return buf;
}

const char *macho_flavor_name(const struct macho_cpu *cpu, uint32_t flavor, char *buf,
			      size_t bufsz)
{
	const char *s = lookup(cpu->flavors, flavor);

	if (s)
		return s;
	snprintf(buf, bufsz, "flavor_%u", flavor);
	return buf;
}

const char *macho_filetype_name(uint32_t filetype)
{
	return lookup(filetypes, filetype);
}

const struct macho_cpu *macho_cpu(uint32_t cputype)
{
	for (size_t i = 0; i < ARRAY_SIZE(macho_cpus); i++)
		if (macho_cpus[i].cputype == cputype)
			return &macho_cpus[i];
	return NULL;
}
