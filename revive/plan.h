/* revive/plan.h — what a revival must do, decided from the model before any process exists:
 * the refusals, every mapping and where its bytes come from, the mm fields PR_SET_MM_MAP sets,
 * the threads with their registers and glibc's per-thread areas, and what will be lost.
 *
 * Memory comes from three places; the core's bytes are copied up front only where no mapping
 * can carry them (the main stack, whose arg/env pages /proc/PID/cmdline reads only from
 * anonymous memory, written pages of file mappings, the piece of a page a view cannot reach):
 *   core   the core file mapped copy-on-write.  A kernel core's segments lie at page-aligned
 *          offsets and map directly; gdb's gcore writes them at one common misalignment
 *          (p_align 1), so they are mapped from a read-only view of the core shifted by that
 *          many bytes (a loop device, memory.c), which makes their offsets page-aligned;
 *   file   the mapped file itself, for text the core left out (and, where the core holds written
 *          pages of a file mapping, those pages written over it);
 *   anon   anonymous memory, with the core's bytes written into it (the stack, and the piece of
 *          a page a view cannot reach). */
#ifndef COREFS_REVIVE_PLAN_H
#define COREFS_REVIVE_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "revive.h"

#define PLAN_PAGE 4096u

/* The system call ABI and register layout of the revived process: an x86_64 process, or an
 * i386 one running in compat mode (born by exec'ing its own 32-bit executable). */
enum plan_abi {
	ABI_X86_64,
	ABI_I386,
};

enum region_src {
	SRC_CORE,		/* mmap views[view] at core_off */
	SRC_FILE,		/* mmap files[file] at file_off */
	SRC_ANON,		/* anonymous */
};

struct region {
	uint64_t start, end;
	int prot;		/* PROT_* */
	enum region_src src;
	size_t view;		/* SRC_CORE: index into plan.views */
	size_t file;		/* SRC_FILE: index into plan.files */
	uint64_t file_off;
	/* Core bytes for [start, start + core_len): mapped from the view at core_off (SRC_CORE), or
	 * at core_off in the core file, written over the file's where they differ (SRC_FILE) or
	 * written into anonymous memory (SRC_ANON). */
	uint64_t core_off, core_len;
	bool stack;		/* the main stack: MAP_GROWSDOWN */
	const char *what;	/* the maps name, for messages */
};

struct plan_file {
	char *path;		/* on this machine */
	int fd;			/* opened O_RDONLY by plan_open_files, -1 before */
};

/* glibc's per-thread areas, found from the target's own libc and ld.so and checked against
 * every thread of the core. */
struct glibc_layout {
	bool tid;		/* struct pthread's tid at tid_off */
	uint32_t tid_off;
	bool robust;		/* the robust list head at robust_off */
	uint32_t robust_off;
	bool rseq;		/* the rseq area at the thread pointer + rseq_off, rseq_len bytes */
	int64_t rseq_off;
	uint32_t rseq_len;
	uint64_t curbrk;	/* glibc's __curbrk: the break brk() continues from (0: unknown) */
	char why[200];		/* what could not be found, for `lost` */
};

struct plan_thread {
	const struct core_thread *ct;
	/* x86_64: struct user_regs_struct, as PTRACE_SETREGS takes it; i386: the core's pr_reg
	 * (17 words), as PTRACE_SETREGSET(NT_PRSTATUS) takes it from a compat tracee. */
	unsigned char regs[27 * 8];
	size_t regs_size;
	uint64_t tp;		/* the thread pointer: fs_base (x86_64), the gs segment's base (i386) */
	uint64_t sighold;
	bool restart_block;	/* was in a -ERESTART_RESTARTBLOCK sleep: re-issued as -ERESTARTNOHAND */
	const struct core_regset *xstate;	/* NT_X86_XSTATE, or NULL */
	const struct core_regset *fpregs;	/* NT_FPREGSET, or NULL */
	const struct core_regset *xfpregs;	/* i386: NT_PRXFPREG (fxsave), or NULL */
	/* i386: the TLS entries (struct user_desc[], from the first), as NT_386_TLS holds them or as
	 * glibc_find made them for a core without it; tls_size 0: none. */
	unsigned char tls[3 * 16];
	size_t tls_size;
	uint64_t tid_addr;	/* &pd->tid (0: unknown) */
	uint64_t robust_addr;	/* &pd->robust_head (0: unknown or not registered) */
	uint64_t rseq_addr;	/* the rseq area (0: not registered in the core) */
};

struct plan {
	const struct process *src;
	enum plan_abi abi;
	unsigned word;		/* 8 or 4: the size of the process's pointers */
	uint64_t task_size;	/* the top of the process's user address space */
	struct region *r;	/* ascending, not overlapping */
	size_t nr;
	struct plan_file *files;
	size_t nfiles;
	/* Views of the core file: views[i] bytes in; views[0] is 0, the core file itself. */
	uint64_t *views;
	size_t nviews;

	/* The vDSO and the vvar pages below it, where the core had them (0 when absent). */
	uint64_t vdso_start, vdso_end, vvar_start;

	/* PR_SET_MM_MAP */
	uint64_t start_code, end_code, start_data, end_data, start_brk, brk, start_stack;
	uint64_t arg_start, arg_end, env_start, env_end;
	const unsigned char *auxv;
	size_t auxv_size;
	char *exe;		/* the executable on this machine to exec, NULL when unusable */
	const char *exe_name;	/* the core's name of it (the process's /proc/PID/exe) */
	char comm[16];
	uint64_t coredump_filter;	/* what to write to /proc/PID/coredump_filter, 0: leave */

	struct plan_thread *t;	/* t[0] is the main thread when has_main */
	size_t nt;
	bool has_main;		/* the core has the thread whose tid is the pid */
	int32_t pid;		/* the original pid */
	struct glibc_layout glibc;

	char **lost;		/* what will not be restored, one sentence each */
	size_t nlost;
};

/* Decide everything; refusals and failures fill err and return -1 (nothing to undo but
 * plan_free). */
int plan_build(const struct process *src, struct plan *p, struct revive_error *err);
void plan_free(struct plan *p);

/* Open the files the plan maps from (O_RDONLY | O_CLOEXEC). */
int plan_open_files(struct plan *p, struct revive_error *err);

/* Append a sentence to p->lost. */
void plan_lost(struct plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Find glibc's offsets in the target's libc and ld.so and check them against threads (glibc.c). */
void glibc_find(const struct process *src, struct plan_thread *t, size_t nt,
		struct glibc_layout *g);

#endif
