/* formats/arch.h — per-architecture layouts of the Linux (and NetBSD) core notes.
 *
 * A core's notes are C structures of the dumping kernel's ABI: struct elf_prstatus and
 * elf_prpsinfo differ by word size, alignment and uid width, and pr_reg is the architecture's
 * user_regs_struct.  Each supported architecture is one row of a table (arch.c) giving those
 * offsets and the general registers in the order and with the names gdb prints them.  An unknown
 * machine gets a generic row: threads, pids and signals still decode, registers stay raw. */
#ifndef COREFS_ARCH_H
#define COREFS_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

/* One register: where it lies in pr_reg and how gdb shows it. */
struct reg_desc {
	const char *name;
	uint16_t offset;	/* byte offset in pr_reg */
	uint8_t size;		/* bytes stored in the core */
	uint8_t width;		/* bytes gdb shows (0 = size); e.g. x86_64 eflags and cs..gs are 4 */
};

/* struct elf_prstatus: offsets of the members after pr_info (0) and pr_cursig (12). */
struct prstatus_layout {
	uint8_t word;		/* size of pr_sigpend, pr_sighold and of each timeval half */
	uint16_t sigpend, sighold, pid, ppid, pgrp, sid;
	uint16_t utime, stime, cutime, cstime;
	uint16_t reg;		/* offset of pr_reg */
};

/* struct elf_prpsinfo. */
struct prpsinfo_layout {
	uint8_t flag_size;	/* pr_flag: a long */
	uint8_t id_size;	/* pr_uid/pr_gid: 2 on old-uid ABIs, else 4 */
	uint16_t flag, uid, gid, pid, ppid, pgrp, sid, fname, psargs;
	uint16_t size;		/* sizeof; a note of another size selects another layout */
};

struct arch_desc {
	const char *name;	/* as uname -m: "x86_64", "i386", "aarch64", ... */
	const char *gdb_name;	/* gdb's "set architecture" name, for the tests */
	uint16_t machine;	/* e_machine */
	uint8_t elf_class;	/* 1 or 2; 0 matches either */
	enum core_os os;
	/* Extra test on e_flags (MIPS ABIs), NULL when any flags match. */
	bool (*match_flags)(uint32_t e_flags);
	/* n_descsz of this ABI's NT_PRSTATUS where rows of one machine and class are told apart by
	 * it (MIPS o32 and n32: Linux writes e_flags 0), else 0. */
	uint16_t prstatus_size;

	struct prstatus_layout prstatus;
	const struct prpsinfo_layout *prpsinfo;	/* candidates, ended by one with size 0 */
	uint16_t gregs_size;	/* sizeof(elf_gregset_t) */
	/* siginfo_t: MIPS stores si_code before si_errno; si_addr's offset and size. */
	bool siginfo_code_first;
	uint8_t siginfo_addr_offset, siginfo_addr_size;

	const struct reg_desc *regs;	/* general registers, gdb's order */
	uint16_t nregs;
	int16_t pc, sp;		/* indexes into regs, -1 when unknown */
	uint64_t pc_mask;	/* bits of the pc register that are the address (s390 31-bit: 0x7fffffff) */
	/* NetBSD: the n_type of the per-LWP general registers note (PT_GETREGS). */
	uint32_t netbsd_getregs;
	/* Signal names by number where they differ from the common Linux numbering, else NULL. */
	const char *const *signals;
	uint8_t nsignals;
};

/* Signal names in the BSD numbering, 1..32 (SIGPWR, 32, is NetBSD's only). */
#define BSD_NSIGNALS 33
extern const char *const bsd_signals[BSD_NSIGNALS];

/* The description for a core's header; never NULL (generic row for unknown machines). */
const struct arch_desc *arch_find(uint16_t machine, unsigned char elf_class, uint32_t e_flags,
				  enum core_os os);

/* The same, also told the size of the core's first NT_PRSTATUS (0 when it has none): rows whose
 * prstatus_size differs are passed over unless no other row fits. */
const struct arch_desc *arch_find_sized(uint16_t machine, unsigned char elf_class,
					uint32_t e_flags, enum core_os os, size_t prstatus_size);

/* Whether arch is the generic fallback (registers not decoded). */
bool arch_is_generic(const struct arch_desc *arch);

/* Value of register r of a thread; false when the core's pr_reg is too short to hold it. */
bool arch_reg(const struct core *c, const struct core_thread *t, const struct reg_desc *r,
	      uint64_t *value);

/* "NT_PRSTATUS" etc. for a note type of the given owner ("CORE", "LINUX", "NetBSD-CORE", ...). */
const char *note_type_name(const char *owner, uint32_t type);

/* Name of a signal number on that architecture and OS ("SIGSEGV"), NULL when unknown. */
const char *signal_name(const struct arch_desc *arch, int signo);

/* Name of an auxv type ("AT_PHDR"), NULL when unknown. */
const char *auxv_type_name(uint64_t type);

/* The same in the numbering of the core's OS (NetBSD's differs from 10 on). */
const char *auxv_type_name_os(enum core_os os, uint64_t type);

#endif
