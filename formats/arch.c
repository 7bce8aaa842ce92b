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

/* x86_64 (and x32, whose pr_reg is the same 64-bit struct): user_regs_struct, 27 longs. */
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

/* arm: 18 longs: r0-r15, cpsr, orig_r0 (kept last: gdb does not show it). */
static const struct reg_desc arm_regs[] = {
	R("r0", 0, 4), R("r1", 4, 4), R("r2", 8, 4), R("r3", 12, 4), R("r4", 16, 4),
	R("r5", 20, 4), R("r6", 24, 4), R("r7", 28, 4), R("r8", 32, 4), R("r9", 36, 4),
	R("r10", 40, 4), R("r11", 44, 4), R("r12", 48, 4), R("sp", 52, 4), R("lr", 56, 4),
	R("pc", 60, 4), R("cpsr", 64, 4), R("orig_r0", 68, 4),
};

/* powerpc: struct pt_regs, 48 longs: gpr0-31, nip, msr, orig_gpr3, ctr, link, xer, ccr,
 * mq (ppc32) or softe (ppc64), trap, dar, dsisr, result.  gdb shows r0-r31, pc, msr, cr, lr,
 * ctr, xer, orig_r3 and trap (cr and xer are 32 bits wide); the rest follow. */
#define PPC_GPRS(w)                                                                      \
	R("r0", 0 * w, w), R("r1", 1 * w, w), R("r2", 2 * w, w), R("r3", 3 * w, w),          \
	R("r4", 4 * w, w), R("r5", 5 * w, w), R("r6", 6 * w, w), R("r7", 7 * w, w),          \
	R("r8", 8 * w, w), R("r9", 9 * w, w), R("r10", 10 * w, w), R("r11", 11 * w, w),      \
	R("r12", 12 * w, w), R("r13", 13 * w, w), R("r14", 14 * w, w), R("r15", 15 * w, w),  \
	R("r16", 16 * w, w), R("r17", 17 * w, w), R("r18", 18 * w, w), R("r19", 19 * w, w),  \
	R("r20", 20 * w, w), R("r21", 21 * w, w), R("r22", 22 * w, w), R("r23", 23 * w, w),  \
	R("r24", 24 * w, w), R("r25", 25 * w, w), R("r26", 26 * w, w), R("r27", 27 * w, w),  \
	R("r28", 28 * w, w), R("r29", 29 * w, w), R("r30", 30 * w, w), R("r31", 31 * w, w),  \
	R("pc", 32 * w, w), R("msr", 33 * w, w), W("cr", 38 * w, w, 4), R("lr", 36 * w, w),  \
	R("ctr", 35 * w, w), W("xer", 37 * w, w, 4), R("orig_r3", 34 * w, w),                \
	R("trap", 40 * w, w)

static const struct reg_desc ppc_regs[] = {
	PPC_GPRS(4), R("mq", 39 * 4, 4), R("dar", 41 * 4, 4), R("dsisr", 42 * 4, 4),
	R("result", 43 * 4, 4),
};

static const struct reg_desc ppc64_regs[] = {
	PPC_GPRS(8), R("softe", 39 * 8, 8), R("dar", 41 * 8, 8), R("dsisr", 42 * 8, 8),
	R("result", 43 * 8, 8),
};

/* s390 and s390x: psw mask and address, r0-r15 (longs), access registers (32 bits), orig_gpr2.
 * On 31-bit s390 the psw is 8-byte aligned, making the set 144 bytes; the psw address carries
 * the addressing-mode bit 0x80000000, which is not part of the pc. */
#define S390_REGS(w, acr)                                                                \
	R("pswm", 0, w), R("pswa", w, w),                                                    \
	R("r0", 2 * w, w), R("r1", 3 * w, w), R("r2", 4 * w, w), R("r3", 5 * w, w),          \
	R("r4", 6 * w, w), R("r5", 7 * w, w), R("r6", 8 * w, w), R("r7", 9 * w, w),          \
	R("r8", 10 * w, w), R("r9", 11 * w, w), R("r10", 12 * w, w), R("r11", 13 * w, w),    \
	R("r12", 14 * w, w), R("r13", 15 * w, w), R("r14", 16 * w, w), R("r15", 17 * w, w),  \
	R("acr0", acr, 4), R("acr1", acr + 4, 4), R("acr2", acr + 8, 4),                     \
	R("acr3", acr + 12, 4), R("acr4", acr + 16, 4), R("acr5", acr + 20, 4),              \
	R("acr6", acr + 24, 4), R("acr7", acr + 28, 4), R("acr8", acr + 32, 4),              \
	R("acr9", acr + 36, 4), R("acr10", acr + 40, 4), R("acr11", acr + 44, 4),            \
	R("acr12", acr + 48, 4), R("acr13", acr + 52, 4), R("acr14", acr + 56, 4),           \
	R("acr15", acr + 60, 4), R("orig_r2", acr + 64, w)

static const struct reg_desc s390_regs[] = { S390_REGS(4, 72) };
static const struct reg_desc s390x_regs[] = { S390_REGS(8, 144) };

/* sparc64: g0-g7, o0-o7, l0-l7, i0-i7, tstate, tpc, tnpc, y (36 longs).  gdb calls o6 sp (it
 * holds the stack pointer minus the 2047-byte bias) and i6 fp. */
static const struct reg_desc sparc64_regs[] = {
	R("g0", 0, 8), R("g1", 8, 8), R("g2", 16, 8), R("g3", 24, 8),
	R("g4", 32, 8), R("g5", 40, 8), R("g6", 48, 8), R("g7", 56, 8),
	R("o0", 64, 8), R("o1", 72, 8), R("o2", 80, 8), R("o3", 88, 8),
	R("o4", 96, 8), R("o5", 104, 8), R("sp", 112, 8), R("o7", 120, 8),
	R("l0", 128, 8), R("l1", 136, 8), R("l2", 144, 8), R("l3", 152, 8),
	R("l4", 160, 8), R("l5", 168, 8), R("l6", 176, 8), R("l7", 184, 8),
	R("i0", 192, 8), R("i1", 200, 8), R("i2", 208, 8), R("i3", 216, 8),
	R("i4", 224, 8), R("i5", 232, 8), R("fp", 240, 8), R("i7", 248, 8),
	R("pc", 264, 8), R("npc", 272, 8), R("state", 256, 8), R("y", 280, 8),
};

/* m68k: 20 longs: d1-d7, a0-a6, d0, usp, orig_d0, sr, pc, format/vector.  gdb calls a6 fp,
 * the user stack pointer sp and sr ps. */
static const struct reg_desc m68k_regs[] = {
	R("d0", 56, 4), R("d1", 0, 4), R("d2", 4, 4), R("d3", 8, 4), R("d4", 12, 4),
	R("d5", 16, 4), R("d6", 20, 4), R("d7", 24, 4), R("a0", 28, 4), R("a1", 32, 4),
	R("a2", 36, 4), R("a3", 40, 4), R("a4", 44, 4), R("a5", 48, 4), R("fp", 52, 4),
	R("sp", 60, 4), R("ps", 68, 4), R("pc", 72, 4),
};

/* riscv64: struct user_regs_struct: pc, then x1-x31 (gdb calls x8 fp). */
static const struct reg_desc riscv64_regs[] = {
	R("ra", 8, 8), R("sp", 16, 8), R("gp", 24, 8), R("tp", 32, 8), R("t0", 40, 8),
	R("t1", 48, 8), R("t2", 56, 8), R("fp", 64, 8), R("s1", 72, 8), R("a0", 80, 8),
	R("a1", 88, 8), R("a2", 96, 8), R("a3", 104, 8), R("a4", 112, 8), R("a5", 120, 8),
	R("a6", 128, 8), R("a7", 136, 8), R("s2", 144, 8), R("s3", 152, 8), R("s4", 160, 8),
	R("s5", 168, 8), R("s6", 176, 8), R("s7", 184, 8), R("s8", 192, 8), R("s9", 200, 8),
	R("s10", 208, 8), R("s11", 216, 8), R("t3", 224, 8), R("t4", 232, 8), R("t5", 240, 8),
	R("t6", 248, 8), R("pc", 0, 8),
};

/* MIPS: elf_gregset_t has 45 slots.  o32 (32-bit kernel layout): six unused slots, r0-r31,
 * lo, hi, cp0_epc, cp0_badvaddr, cp0_status, cp0_cause.  n32 and n64: r0-r31 from slot 0 with
 * 64-bit slots.  gdb's order after ra is sr, lo, hi, bad, cause, pc; n32/n64 name r8-r11
 * a4-a7 and r12-r15 t0-t3. */
#define MIPS_O32(i) ((6 + (i)) * 4)
static const struct reg_desc mips_o32_regs[] = {
	R("zero", MIPS_O32(0), 4), R("at", MIPS_O32(1), 4), R("v0", MIPS_O32(2), 4),
	R("v1", MIPS_O32(3), 4), R("a0", MIPS_O32(4), 4), R("a1", MIPS_O32(5), 4),
	R("a2", MIPS_O32(6), 4), R("a3", MIPS_O32(7), 4), R("t0", MIPS_O32(8), 4),
	R("t1", MIPS_O32(9), 4), R("t2", MIPS_O32(10), 4), R("t3", MIPS_O32(11), 4),
	R("t4", MIPS_O32(12), 4), R("t5", MIPS_O32(13), 4), R("t6", MIPS_O32(14), 4),
	R("t7", MIPS_O32(15), 4), R("s0", MIPS_O32(16), 4), R("s1", MIPS_O32(17), 4),
	R("s2", MIPS_O32(18), 4), R("s3", MIPS_O32(19), 4), R("s4", MIPS_O32(20), 4),
	R("s5", MIPS_O32(21), 4), R("s6", MIPS_O32(22), 4), R("s7", MIPS_O32(23), 4),
	R("t8", MIPS_O32(24), 4), R("t9", MIPS_O32(25), 4), R("k0", MIPS_O32(26), 4),
	R("k1", MIPS_O32(27), 4), R("gp", MIPS_O32(28), 4), R("sp", MIPS_O32(29), 4),
	R("s8", MIPS_O32(30), 4), R("ra", MIPS_O32(31), 4),
	R("sr", MIPS_O32(36), 4), R("lo", MIPS_O32(32), 4), R("hi", MIPS_O32(33), 4),
	R("bad", MIPS_O32(35), 4), R("cause", MIPS_O32(37), 4), R("pc", MIPS_O32(34), 4),
};

static const struct reg_desc mips_n64_regs[] = {
	R("zero", 0, 8), R("at", 8, 8), R("v0", 16, 8), R("v1", 24, 8), R("a0", 32, 8),
	R("a1", 40, 8), R("a2", 48, 8), R("a3", 56, 8), R("a4", 64, 8), R("a5", 72, 8),
	R("a6", 80, 8), R("a7", 88, 8), R("t0", 96, 8), R("t1", 104, 8), R("t2", 112, 8),
	R("t3", 120, 8), R("s0", 128, 8), R("s1", 136, 8), R("s2", 144, 8), R("s3", 152, 8),
	R("s4", 160, 8), R("s5", 168, 8), R("s6", 176, 8), R("s7", 184, 8), R("t8", 192, 8),
	R("t9", 200, 8), R("k0", 208, 8), R("k1", 216, 8), R("gp", 224, 8), R("sp", 232, 8),
	R("s8", 240, 8), R("ra", 248, 8),
	R("sr", 36 * 8, 8), R("lo", 32 * 8, 8), R("hi", 33 * 8, 8), R("bad", 35 * 8, 8),
	R("cause", 37 * 8, 8), R("pc", 34 * 8, 8),
};

/* NetBSD amd64: struct reg, 26 u64 in _REG_* order (rdi, rsi, rdx, rcx, r8-r15, rbp, rbx, rax,
 * gs, fs, es, ds, trapno, err, rip, cs, rflags, rsp, ss); trapno and err, which gdb does not
 * show, come last. */
static const struct reg_desc netbsd_amd64_regs[] = {
	R("rax", 112, 8), R("rbx", 104, 8), R("rcx", 24, 8), R("rdx", 16, 8),
	R("rsi", 8, 8), R("rdi", 0, 8), R("rbp", 96, 8), R("rsp", 192, 8),
	R("r8", 32, 8), R("r9", 40, 8), R("r10", 48, 8), R("r11", 56, 8),
	R("r12", 64, 8), R("r13", 72, 8), R("r14", 80, 8), R("r15", 88, 8),
	R("rip", 168, 8), W("eflags", 184, 8, 4),
	W("cs", 176, 8, 4), W("ss", 200, 8, 4), W("ds", 144, 8, 4), W("es", 136, 8, 4),
	W("fs", 128, 8, 4), W("gs", 120, 8, 4),
	R("trapno", 152, 8), R("err", 160, 8),
};

/* NetBSD aarch64: struct reg: x0-x30, sp, pc, spsr (gdb's cpsr), tpidr. */
static const struct reg_desc netbsd_aarch64_regs[] = {
	R("x0", 0, 8), R("x1", 8, 8), R("x2", 16, 8), R("x3", 24, 8), R("x4", 32, 8),
	R("x5", 40, 8), R("x6", 48, 8), R("x7", 56, 8), R("x8", 64, 8), R("x9", 72, 8),
	R("x10", 80, 8), R("x11", 88, 8), R("x12", 96, 8), R("x13", 104, 8), R("x14", 112, 8),
	R("x15", 120, 8), R("x16", 128, 8), R("x17", 136, 8), R("x18", 144, 8), R("x19", 152, 8),
	R("x20", 160, 8), R("x21", 168, 8), R("x22", 176, 8), R("x23", 184, 8), R("x24", 192, 8),
	R("x25", 200, 8), R("x26", 208, 8), R("x27", 216, 8), R("x28", 224, 8), R("x29", 232, 8),
	R("x30", 240, 8), R("sp", 248, 8), R("pc", 256, 8), W("cpsr", 264, 8, 4),
	R("tpidr", 272, 8),
};

/* Signal numbers where Linux on MIPS and SPARC, and NetBSD, differ from the common numbering. */
static const char *const mips_signals[] = {
	[1] = "SIGHUP", [2] = "SIGINT", [3] = "SIGQUIT", [4] = "SIGILL", [5] = "SIGTRAP",
	[6] = "SIGABRT", [7] = "SIGEMT", [8] = "SIGFPE", [9] = "SIGKILL", [10] = "SIGBUS",
	[11] = "SIGSEGV", [12] = "SIGSYS", [13] = "SIGPIPE", [14] = "SIGALRM", [15] = "SIGTERM",
	[16] = "SIGUSR1", [17] = "SIGUSR2", [18] = "SIGCHLD", [19] = "SIGPWR", [20] = "SIGWINCH",
	[21] = "SIGURG", [22] = "SIGIO", [23] = "SIGSTOP", [24] = "SIGTSTP", [25] = "SIGCONT",
	[26] = "SIGTTIN", [27] = "SIGTTOU", [28] = "SIGVTALRM", [29] = "SIGPROF", [30] = "SIGXCPU",
	[31] = "SIGXFSZ",
};

static const char *const sparc_signals[] = {
	[1] = "SIGHUP", [2] = "SIGINT", [3] = "SIGQUIT", [4] = "SIGILL", [5] = "SIGTRAP",
	[6] = "SIGABRT", [7] = "SIGEMT", [8] = "SIGFPE", [9] = "SIGKILL", [10] = "SIGBUS",
	[11] = "SIGSEGV", [12] = "SIGSYS", [13] = "SIGPIPE", [14] = "SIGALRM", [15] = "SIGTERM",
	[16] = "SIGURG", [17] = "SIGSTOP", [18] = "SIGTSTP", [19] = "SIGCONT", [20] = "SIGCHLD",
	[21] = "SIGTTIN", [22] = "SIGTTOU", [23] = "SIGIO", [24] = "SIGXCPU", [25] = "SIGXFSZ",
	[26] = "SIGVTALRM", [27] = "SIGPROF", [28] = "SIGWINCH", [29] = "SIGPWR", [30] = "SIGUSR1",
	[31] = "SIGUSR2",
};

/* The BSD numbering (NetBSD; macOS has the same up to 31, and no SIGPWR). */
const char *const bsd_signals[BSD_NSIGNALS] = {
	[1] = "SIGHUP", [2] = "SIGINT", [3] = "SIGQUIT", [4] = "SIGILL", [5] = "SIGTRAP",
	[6] = "SIGABRT", [7] = "SIGEMT", [8] = "SIGFPE", [9] = "SIGKILL", [10] = "SIGBUS",
	[11] = "SIGSEGV", [12] = "SIGSYS", [13] = "SIGPIPE", [14] = "SIGALRM", [15] = "SIGTERM",
	[16] = "SIGURG", [17] = "SIGSTOP", [18] = "SIGTSTP", [19] = "SIGCONT", [20] = "SIGCHLD",
	[21] = "SIGTTIN", [22] = "SIGTTOU", [23] = "SIGIO", [24] = "SIGXCPU", [25] = "SIGXFSZ",
	[26] = "SIGVTALRM", [27] = "SIGPROF", [28] = "SIGWINCH", [29] = "SIGINFO", [30] = "SIGUSR1",
	[31] = "SIGUSR2", [32] = "SIGPWR",
};

/* MIPS ABIs by e_flags.  Linux writes e_flags 0 in its cores, so flags without an ABI mark
 * match both 32-bit rows and the size of NT_PRSTATUS decides (arch_find_sized).  The EF_MIPS_ABI
 * field (o32, o64, eabi32, eabi64) is binutils' (include/elf/mips.h); glibc's <elf.h> lacks it. */
#ifndef EF_MIPS_ABI
#define EF_MIPS_ABI 0x0000f000u
#endif

static bool mips_o32_flags(uint32_t e_flags)
{
	return !(e_flags & EF_MIPS_ABI2);
}

static bool mips_n32_flags(uint32_t e_flags)
{
	return (e_flags & EF_MIPS_ABI2) || !(e_flags & EF_MIPS_ABI);
}

#define REGS(a) .regs = a, .nregs = ARRAY_SIZE(a)
#define SIGNALS(a) .signals = a, .nsignals = ARRAY_SIZE(a)
/* siginfo_t: si_addr (or si_pid) follows three ints, at 12 or, 8-aligned, at 16. */
#define SIGINFO_32 .siginfo_addr_offset = 12, .siginfo_addr_size = 4
#define SIGINFO_64 .siginfo_addr_offset = 16, .siginfo_addr_size = 8

static const struct arch_desc arch_table[] = {
	{ .name = "x86_64", .gdb_name = "i386:x86-64", .machine = EM_X86_64, .elf_class = ELFCLASS64,
	  .os = CORE_OS_LINUX, .prstatus = PRSTATUS_LP64, .prpsinfo = prpsinfo_lp64,
	  .gregs_size = 216, SIGINFO_64, REGS(x86_64_regs), .pc = 16, .sp = 7 },
	/* x32: an ELFCLASS32 core of ILP32 notes whose pr_reg holds the 64-bit registers. */
	{ .name = "x32", .gdb_name = "i386:x64-32", .machine = EM_X86_64, .elf_class = ELFCLASS32,
	  .os = CORE_OS_LINUX, .prstatus = PRSTATUS_ILP32, .prpsinfo = prpsinfo_ilp32,
	  .gregs_size = 216, SIGINFO_32, REGS(x86_64_regs), .pc = 16, .sp = 7 },
	{ .name = "i386", .gdb_name = "i386", .machine = EM_386, .elf_class = ELFCLASS32,
	  .os = CORE_OS_LINUX, .prstatus = PRSTATUS_ILP32, .prpsinfo = prpsinfo_ilp32,
	  .gregs_size = 68, SIGINFO_32, REGS(i386_regs), .pc = 8, .sp = 4 },
	{ .name = "aarch64", .gdb_name = "aarch64", .machine = EM_AARCH64, .elf_class = ELFCLASS64,
	  .os = CORE_OS_LINUX, .prstatus = PRSTATUS_LP64, .prpsinfo = prpsinfo_lp64,
	  .gregs_size = 272, SIGINFO_64, REGS(aarch64_regs), .pc = 32, .sp = 31 },
	{ .name = "arm", .gdb_name = "arm", .machine = EM_ARM, .elf_class = ELFCLASS32,
	  .os = CORE_OS_LINUX, .prstatus = PRSTATUS_ILP32, .prpsinfo = prpsinfo_ilp32,
	  .gregs_size = 72, SIGINFO_32, REGS(arm_regs), .pc = 15, .sp = 13 },
	{ .name = "ppc", .gdb_name = "powerpc:common", .machine = EM_PPC, .elf_class = ELFCLASS32,
	  .os = CORE_OS_LINUX, .prstatus = PRSTATUS_ILP32, .prpsinfo = prpsinfo_ilp32,
	  .gregs_size = 192, SIGINFO_32, REGS(ppc_regs), .pc = 32, .sp = 1 },
	{ .name = "ppc64", .gdb_name = "powerpc:common64", .machine = EM_PPC64,
	  .elf_class = ELFCLASS64, .os = CORE_OS_LINUX, .prstatus = PRSTATUS_LP64,
	  .prpsinfo = prpsinfo_lp64, .gregs_size = 384, SIGINFO_64, REGS(ppc64_regs), .pc = 32,
	  .sp = 1 },
	{ .name = "s390", .gdb_name = "s390:31-bit", .machine = EM_S390, .elf_class = ELFCLASS32,
	  .os = CORE_OS_LINUX, .prstatus = PRSTATUS_ILP32, .prpsinfo = prpsinfo_ilp32,
	  .gregs_size = 144, SIGINFO_32, REGS(s390_regs), .pc = 1, .sp = 17,
	  .pc_mask = 0x7fffffff },
	{ .name = "s390x", .gdb_name = "s390:64-bit", .machine = EM_S390, .elf_class = ELFCLASS64,
	  .os = CORE_OS_LINUX, .prstatus = PRSTATUS_LP64, .prpsinfo = prpsinfo_lp64,
	  .gregs_size = 216, SIGINFO_64, REGS(s390x_regs), .pc = 1, .sp = 17 },
	{ .name = "sparc64", .gdb_name = "sparc:v9", .machine = EM_SPARCV9, .elf_class = ELFCLASS64,
	  .os = CORE_OS_LINUX, .prstatus = PRSTATUS_LP64, .prpsinfo = prpsinfo_lp64,
	  .gregs_size = 288, SIGINFO_64, REGS(sparc64_regs), .pc = 32, .sp = 14,
	  SIGNALS(sparc_signals) },
	/* m68k aligns long and int to 2 bytes: pr_sigpend follows pr_cursig at 14. */
	{ .name = "m68k", .gdb_name = "m68k", .machine = EM_68K, .elf_class = ELFCLASS32,
	  .os = CORE_OS_LINUX,
	  .prstatus = { .word = 4, .sigpend = 14, .sighold = 18, .pid = 22, .ppid = 26, .pgrp = 30,
			.sid = 34, .utime = 38, .stime = 46, .cutime = 54, .cstime = 62, .reg = 70 },
	  .prpsinfo = prpsinfo_ilp32, .gregs_size = 80, SIGINFO_32, REGS(m68k_regs), .pc = 17,
	  .sp = 15 },
	{ .name = "riscv64", .gdb_name = "riscv:rv64", .machine = EM_RISCV, .elf_class = ELFCLASS64,
	  .os = CORE_OS_LINUX, .prstatus = PRSTATUS_LP64, .prpsinfo = prpsinfo_lp64,
	  .gregs_size = 256, SIGINFO_64, REGS(riscv64_regs), .pc = 31, .sp = 1 },
	{ .name = "mips", .gdb_name = "mips", .machine = EM_MIPS, .elf_class = ELFCLASS32,
	  .os = CORE_OS_LINUX, .match_flags = mips_o32_flags, .prstatus_size = 256,
	  .prstatus = PRSTATUS_ILP32, .prpsinfo = prpsinfo_ilp32, .gregs_size = 180,
	  .siginfo_code_first = true, SIGINFO_32, REGS(mips_o32_regs), .pc = 37, .sp = 29,
	  SIGNALS(mips_signals) },
	/* n32: ILP32 notes, 64-bit registers (pr_reg 8-aligned at 72, the note 440 bytes). */
	{ .name = "mips64-n32", .gdb_name = "mips:isa64", .machine = EM_MIPS,
	  .elf_class = ELFCLASS32, .os = CORE_OS_LINUX, .match_flags = mips_n32_flags,
	  .prstatus_size = 440, .prstatus = PRSTATUS_ILP32, .prpsinfo = prpsinfo_ilp32,
	  .gregs_size = 360, .siginfo_code_first = true, SIGINFO_32, REGS(mips_n64_regs),
	  .pc = 37, .sp = 29, SIGNALS(mips_signals) },
	{ .name = "mips64", .gdb_name = "mips:isa64", .machine = EM_MIPS, .elf_class = ELFCLASS64,
	  .os = CORE_OS_LINUX, .prstatus = PRSTATUS_LP64, .prpsinfo = prpsinfo_lp64,
	  .gregs_size = 360, .siginfo_code_first = true, SIGINFO_64, REGS(mips_n64_regs),
	  .pc = 37, .sp = 29, SIGNALS(mips_signals) },
	/* NetBSD: registers in per-LWP PT_GETREGS notes (PT_FIRSTMACH + 1 on amd64, + 0 on
	 * aarch64); process information in the procinfo note. */
	{ .name = "x86_64", .gdb_name = "i386:x86-64", .machine = EM_X86_64, .elf_class = ELFCLASS64,
	  .os = CORE_OS_NETBSD, .prstatus = PRSTATUS_LP64, .prpsinfo = prpsinfo_lp64,
	  .gregs_size = 208, SIGINFO_64, REGS(netbsd_amd64_regs), .pc = 16, .sp = 7,
	  .netbsd_getregs = 33, SIGNALS(bsd_signals) },
	{ .name = "aarch64", .gdb_name = "aarch64", .machine = EM_AARCH64, .elf_class = ELFCLASS64,
	  .os = CORE_OS_NETBSD, .prstatus = PRSTATUS_LP64, .prpsinfo = prpsinfo_lp64,
	  .gregs_size = 280, SIGINFO_64, REGS(netbsd_aarch64_regs), .pc = 32, .sp = 31,
	  .netbsd_getregs = 32, SIGNALS(bsd_signals) },
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

static const struct arch_desc *find(uint16_t machine, unsigned char elf_class, uint32_t e_flags,
				   enum core_os os, size_t prstatus_size)
{
	for (size_t i = 0; i < ARRAY_SIZE(arch_table); i++) {
		const struct arch_desc *a = &arch_table[i];

		if (a->machine != machine || a->os != os)
			continue;
		if (a->elf_class && a->elf_class != elf_class)
			continue;
		if (a->match_flags && !a->match_flags(e_flags))
			continue;
		if (prstatus_size && a->prstatus_size && a->prstatus_size != prstatus_size)
			continue;
		return a;
	}
	return NULL;
}

const struct arch_desc *arch_find_sized(uint16_t machine, unsigned char elf_class,
					uint32_t e_flags, enum core_os os, size_t prstatus_size)
{
	const struct arch_desc *a = find(machine, elf_class, e_flags, os, prstatus_size);

	/* A note of a size no row expects: the header's choice, its decoding will say why. */
	if (!a && prstatus_size)
		a = find(machine, elf_class, e_flags, os, 0);
	if (a)
		return a;
	return elf_class == ELFCLASS32 ? &arch_generic32 : &arch_generic64;
}

const struct arch_desc *arch_find(uint16_t machine, unsigned char elf_class, uint32_t e_flags,
				  enum core_os os)
{
	return arch_find_sized(machine, elf_class, e_flags, os, 0);
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

/* NetBSD shares 0-9 with Linux, numbers cache sizes and the stack base on from 10 and takes
 * the ids and the executable's name from Solaris's numbering (sys/exec_elf.h). */
static const char *const netbsd_auxv_names[] = {
	[0] = "AT_NULL", [1] = "AT_IGNORE", [2] = "AT_EXECFD", [3] = "AT_PHDR", [4] = "AT_PHENT",
	[5] = "AT_PHNUM", [6] = "AT_PAGESZ", [7] = "AT_BASE", [8] = "AT_FLAGS", [9] = "AT_ENTRY",
	[10] = "AT_DCACHEBSIZE", [11] = "AT_ICACHEBSIZE", [12] = "AT_UCACHEBSIZE",
	[13] = "AT_STACKBASE",
};

static const char *const netbsd_sun_auxv_names[] = {
	[0] = "AT_SUN_UID", [1] = "AT_SUN_RUID", [2] = "AT_SUN_GID", [3] = "AT_SUN_RGID",
	[4] = "AT_SUN_LDELF", [5] = "AT_SUN_LDSHDR", [6] = "AT_SUN_LDNAME", [7] = "AT_SUN_LPGSIZE",
	[8] = "AT_SUN_PLATFORM", [9] = "AT_SUN_HWCAP", [10] = "AT_SUN_IFLUSH", [11] = "AT_SUN_CPU",
	[12] = "AT_SUN_EMUL_ENTRY", [13] = "AT_SUN_EMUL_EXECFD", [14] = "AT_SUN_EXECNAME",
};

#define NETBSD_AT_SUN_BASE 2000

const char *auxv_type_name_os(enum core_os os, uint64_t type)
{
	if (os != CORE_OS_NETBSD)
		return auxv_type_name(type);
	if (type < ARRAY_SIZE(netbsd_auxv_names))
		return netbsd_auxv_names[type];
	if (type >= NETBSD_AT_SUN_BASE && type - NETBSD_AT_SUN_BASE < ARRAY_SIZE(netbsd_sun_auxv_names))
		return netbsd_sun_auxv_names[type - NETBSD_AT_SUN_BASE];
	return NULL;
}
