/* fs/render_proc.c — stat, status, syscall, limits, wchan, personality, io, the cwd and root
 * links and task/<tid>/comm of a dead process, and what each process adds to the /proc root's
 * totals.  See render_proc.h for what a dead process looks like here; render_mm.c counts its
 * memory. */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../formats/arch.h"
#include "../formats/util.h"
#include "render_mm.h"
#include "render_proc.h"

#define DEAD_STATE 'X'
#define DEAD_STATE_NAME "X (dead)"
#define EXIT_CORE_DUMPED 0x80	/* wait status bit: the process dumped core */

/* --- the process and its threads ----------------------------------------------------------- */

struct proc_ids {
	int32_t pid, ppid, pgrp, sid;
	uint32_t uid, gid;
	int nice;
	uint64_t flags;
};

static void proc_ids(const struct core *c, struct proc_ids *id)
{
	const struct core_thread *main = core_main_thread(c);
	const struct core_psinfo *p = &c->psinfo;

	memset(id, 0, sizeof(*id));
	id->pid = c->pid;
	if (p->present) {
		id->ppid = p->ppid;
		id->pgrp = p->pgrp;
		id->sid = p->sid;
		id->uid = p->uid;
		id->gid = p->gid;
		id->nice = p->nice;
		id->flags = p->flag;
	} else if (main) {
		id->ppid = main->ppid;
		id->pgrp = main->pgrp;
		id->sid = main->sid;
	}
	/* nice is -20..19; anything else is not a nice value. */
	if (id->nice < -20 || id->nice > 19)
		id->nice = 0;
}

/* The command name, without its newline, as comm shows it. */
static void comm_of(const struct process *v, char *name, size_t size)
{
	struct buf b = { 0 };

	name[0] = 0;
	if (render_comm(v, NULL, &b) == 0 && !buf_failed(&b) && b.len) {
		size_t n = b.p[b.len - 1] == '\n' ? b.len - 1 : b.len;

		snprintf(name, size, "%.*s", (int)n, b.p);
	}
	buf_free(&b);
}

static uint64_t ticks(struct core_timeval tv)
{
	if (tv.sec < 0 || tv.usec < 0 || (uint64_t)tv.sec > UINT64_MAX / (2 * PROC_USER_HZ))
		return 0;
	return (uint64_t)tv.sec * PROC_USER_HZ + (uint64_t)tv.usec / (1000000 / PROC_USER_HZ);
}

/* The thread a file is about: t, or for a process-wide file the main thread (may be NULL). */
static const struct core_thread *subject(const struct core *c, const struct core_thread *t)
{
	return t ? t : core_main_thread(c);
}

/* utime and stime in ticks.  The kernel writes the whole group's times into the leader's
 * NT_PRSTATUS (fill_prstatus): that is the process's; the leader thread's own is the group's
 * minus the other threads'. */
static void cpu_ticks(const struct core *c, const struct core_thread *t, uint64_t *ut,
		      uint64_t *st)
{
	const struct core_thread *s = subject(c, t);

	*ut = *st = 0;
	if (!s)
		return;
	*ut = ticks(s->utime);
	*st = ticks(s->stime);
	if (t && t->tid == c->pid)
		for (size_t i = 0; i < c->nthreads; i++) {
			const struct core_thread *o = &c->threads[i];

			if (o == t)
				continue;
			*ut -= MIN(*ut, ticks(o->utime));
			*st -= MIN(*st, ticks(o->stime));
		}
}

/* The exit status of a process killed by its core's signal: the signal and "core dumped". */
static int exit_code(const struct core *c)
{
	if (c->signo <= 0 || c->signo > 127 || c->producer == CORE_BY_GDB)
		return 0;
	return c->signo | EXIT_CORE_DUMPED;
}

/* When the core was written: the core file's mtime.  In ticks since btime, which is 0. */
static uint64_t death_ticks(const struct process *v)
{
	if (v->died.tv_sec < 0)
		return 0;
	return (uint64_t)v->died.tv_sec * PROC_USER_HZ +
	       (uint64_t)v->died.tv_nsec / (1000000000 / PROC_USER_HZ);
}

/* fs/proc/array.c do_task_stat: 52 fields. */
int render_stat(const struct process *v, const struct core_thread *t, struct buf *out)
{
	const struct core *c = v->core;
	const struct core_thread *s = subject(c, t), *m = core_main_thread(c);
	const struct exe_layout *l = &v->layout;
	struct proc_ids id;
	struct mm_view mm;
	char comm[64];
	uint64_t ut, st, sigpend = 0, sighold = 0;
	bool main = !t || t->tid == c->pid;

	proc_ids(c, &id);
	mm_build(v, &mm, true);
	comm_of(v, comm, sizeof(comm));
	cpu_ticks(c, t, &ut, &st);
	if (s) {
		sigpend = s->sigpend;
		sighold = s->sighold;
	}
	buf_printf(out, "%d (%s) %c %d %d %d 0 -1 %" PRIu64, t ? t->tid : id.pid, comm, DEAD_STATE,
		   id.ppid, id.pgrp, id.sid, main ? id.flags : 0);
	/* minflt cminflt majflt cmajflt, utime stime cutime cstime, priority nice */
	buf_printf(out, " 0 0 0 0 %" PRIu64 " %" PRIu64 " %" PRId64 " %" PRId64 " %d %d", ut, st,
		   (int64_t)(m ? ticks(m->cutime) : 0), (int64_t)(m ? ticks(m->cstime) : 0),
		   20 + id.nice, id.nice);
	/* num_threads itrealvalue starttime vsize rss rsslim */
	buf_printf(out, " %zu 0 %" PRIu64 " %" PRIu64 " %" PRIu64 " 0", c->nthreads, death_ticks(v),
		   mm.total_vm * mm.page, mm.anon + mm.file + mm.shmem);
	/* startcode endcode startstack kstkesp kstkeip */
	buf_printf(out, " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64, mm.start_code,
		   mm.end_code, mm.start_stack, s && s->has_sp ? s->sp : 0,
		   s && s->has_pc ? s->pc : 0);
	/* signal blocked sigignore sigcatch (obsolete, decimal, 31 bits), wchan nswap cnswap */
	buf_printf(out, " %" PRIu64 " %" PRIu64 " 0 0 0 0 0", sigpend & 0x7fffffff,
		   sighold & 0x7fffffff);
	/* exit_signal processor rt_priority policy delayacct_blkio_ticks guest_time cguest_time */
	buf_puts(out, " 0 0 0 0 0 0 0");
	/* start_data end_data start_brk arg_start arg_end env_start env_end exit_code */
	buf_printf(out, " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
		   " %" PRIu64 " %d\n", mm.start_data, mm.end_data, mm.start_brk,
		   l->arg_start, l->arg_end, l->env_start, l->env_end, exit_code(c));
	return 0;
}

/* task_name with escape: only '\n' and '\\' are escaped (seq_escape_str, "\n\\"). */
static void put_escaped_comm(struct buf *out, const char *comm)
{
	for (const char *p = comm; *p; p++) {
		if (*p == '\n')
			buf_puts(out, "\\n");
		else if (*p == '\\')
			buf_puts(out, "\\\\");
		else
			buf_putc(out, *p);
	}
}

static void put_kb(struct buf *out, const char *label, uint64_t bytes)
{
	buf_printf(out, "%s%8" PRIu64 " kB\n", label, bytes >> 10);
}

/* fs/proc/array.c proc_pid_status, Linux 6.x order. */
int render_status(const struct process *v, const struct core_thread *t, struct buf *out)
{
	const struct core *c = v->core;
	const struct core_thread *s = subject(c, t);
	struct proc_ids id;
	struct mm_view mm;
	char comm[64];
	uint64_t text = 0, exec, rss;
	int32_t pid;

	proc_ids(c, &id);
	mm_build(v, &mm, true);
	comm_of(v, comm, sizeof(comm));
	pid = t ? t->tid : id.pid;
	buf_puts(out, "Name:\t");
	put_escaped_comm(out, comm);
	/* No Umask: a core does not record it (the kernel, too, leaves the line out when it
	 * cannot tell). */
	buf_printf(out, "\nState:\t%s\nTgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t0\n",
		   DEAD_STATE_NAME, id.pid, pid, id.ppid);
	/* The core records the real ids only; the others are shown equal to them. */
	buf_printf(out, "Uid:\t%u\t%u\t%u\t%u\nGid:\t%u\t%u\t%u\t%u\n", id.uid, id.uid, id.uid,
		   id.uid, id.gid, id.gid, id.gid, id.gid);
	buf_printf(out, "FDSize:\t0\nGroups:\t \nNStgid:\t%d\nNSpid:\t%d\nNSpgid:\t%d\nNSsid:\t%d\n"
		   "Kthread:\t0\n", id.pid, pid, id.pgrp, id.sid);

	rss = (mm.anon + mm.file + mm.shmem) * mm.page;
	exec = mm.exec_vm * mm.page;
	if (mm.layout)
		text = MIN((mm.end_code + mm.page - 1) / mm.page * mm.page -
			   mm.start_code / mm.page * mm.page, exec);
	/* Peaks are not recorded: the current values are what they were at least. */
	put_kb(out, "VmPeak:\t", mm.total_vm * mm.page);
	put_kb(out, "VmSize:\t", mm.total_vm * mm.page);
	put_kb(out, "VmLck:\t", 0);
	put_kb(out, "VmPin:\t", 0);
	put_kb(out, "VmHWM:\t", rss);
	put_kb(out, "VmRSS:\t", rss);
	put_kb(out, "RssAnon:\t", mm.anon * mm.page);
	put_kb(out, "RssFile:\t", mm.file * mm.page);
	put_kb(out, "RssShmem:\t", mm.shmem * mm.page);
	put_kb(out, "VmData:\t", mm.data_vm * mm.page);
	put_kb(out, "VmStk:\t", mm.stack_vm * mm.page);
	put_kb(out, "VmExe:\t", text);
	put_kb(out, "VmLib:\t", exec - text);
	put_kb(out, "VmPTE:\t", 0);
	put_kb(out, "VmSwap:\t", 0);
	put_kb(out, "HugetlbPages:\t", 0);
	buf_puts(out, "CoreDumping:\t0\nTHP_enabled:\t0\n");

	buf_printf(out, "Threads:\t%zu\nSigQ:\t0/0\n", c->nthreads);
	buf_printf(out, "SigPnd:\t%016" PRIx64 "\nShdPnd:\t%016x\nSigBlk:\t%016" PRIx64
		   "\nSigIgn:\t%016x\nSigCgt:\t%016x\n", s ? s->sigpend : 0, 0, s ? s->sighold : 0,
		   0, 0);
	buf_puts(out, "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n"
		      "CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n"
		      "CapAmb:\t0000000000000000\n");
	buf_puts(out, "NoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n"
		      "Speculation_Store_Bypass:\tunknown\nSpeculationIndirectBranch:\tunknown\n");
	buf_puts(out, "Cpus_allowed:\t0\nCpus_allowed_list:\t\nMems_allowed:\t0\n"
		      "Mems_allowed_list:\t\n");
	buf_puts(out, "voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n");
	return 0;
}

/* A thread's name: a core records the process's only, which every thread started with. */
int render_task_comm(const struct process *v, const struct core_thread *t, struct buf *out)
{
	return render_comm(v, t, out);
}

/* --- syscall ---------------------------------------------------------------------------- */

/* Registers of the system call ABI, by gdb's names (arch.c): the number, six arguments. */
struct syscall_abi {
	uint16_t machine;
	const char *nr;		/* NULL: the number is in NT_ARM_SYSTEM_CALL */
	const char *args[6];
	const char *sp, *pc;
};

static const struct syscall_abi syscall_abis[] = {
	{ EM_X86_64, "orig_rax", { "rdi", "rsi", "rdx", "r10", "r8", "r9" }, "rsp", "rip" },
	{ EM_386, "orig_eax", { "ebx", "ecx", "edx", "esi", "edi", "ebp" }, "esp", "eip" },
	{ EM_AARCH64, NULL, { "x0", "x1", "x2", "x3", "x4", "x5" }, "sp", "pc" },
};

static const struct syscall_abi *syscall_abi(const struct core *c)
{
	if (c->os != CORE_OS_LINUX || arch_is_generic(c->arch))
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(syscall_abis); i++)
		if (syscall_abis[i].machine == c->machine)
			return &syscall_abis[i];
	return NULL;
}

static bool reg_named(const struct core *c, const struct core_thread *t, const char *name,
		      uint64_t *val)
{
	const struct arch_desc *a = c->arch;

	for (size_t i = 0; i < a->nregs; i++)
		if (!strcmp(a->regs[i].name, name))
			return arch_reg(c, t, &a->regs[i], val);
	return false;
}

static const struct core_regset *arm_syscall_note(const struct core_thread *t)
{
	for (size_t i = 0; i < t->nregsets; i++)
		if (t->regsets[i].type == NT_ARM_SYSTEM_CALL && t->regsets[i].size >= 4)
			return &t->regsets[i];
	return NULL;
}

/* The system call number of a thread (sign-extended: -1 is "none"); false when unknown. */
static bool syscall_nr(const struct core *c, const struct syscall_abi *abi,
		       const struct core_thread *t, int *nr)
{
	const struct core_regset *r;
	uint64_t v;

	if (abi->nr) {
		if (!reg_named(c, t, abi->nr, &v))
			return false;
		*nr = c->machine == EM_386 ? (int)(int32_t)(uint32_t)v : (int)(int64_t)v;
		return true;
	}
	if (!(r = arm_syscall_note(t)))
		return false;
	*nr = (int)(int32_t)(uint32_t)core_get(c, r->data, 4);
	return true;
}

bool has_syscall(const struct process *v)
{
	const struct core *c = v->core;
	const struct syscall_abi *abi = syscall_abi(c);
	uint64_t val;
	int nr;

	if (!abi || !c->nthreads)
		return false;
	for (size_t i = 0; i < c->nthreads; i++) {
		const struct core_thread *t = &c->threads[i];

		if (!syscall_nr(c, abi, t, &nr) || !reg_named(c, t, abi->sp, &val) ||
		    !reg_named(c, t, abi->pc, &val))
			return false;
		for (int k = 0; k < 6; k++)
			if (!reg_named(c, t, abi->args[k], &val))
				return false;
	}
	return true;
}

/* fs/proc/base.c proc_pid_syscall for a task that is not running. */
int render_syscall(const struct process *v, const struct core_thread *t, struct buf *out)
{
	const struct core *c = v->core;
	const struct core_thread *s = subject(c, t);
	const struct syscall_abi *abi = syscall_abi(c);
	uint64_t sp, pc, arg[6];
	int nr;

	if (!abi || !s || !syscall_nr(c, abi, s, &nr) || !reg_named(c, s, abi->sp, &sp) ||
	    !reg_named(c, s, abi->pc, &pc))
		return -ENOENT;
	if (nr < 0) {
		buf_printf(out, "%d 0x%" PRIx64 " 0x%" PRIx64 "\n", nr, sp, pc);
		return 0;
	}
	for (int k = 0; k < 6; k++)
		if (!reg_named(c, s, abi->args[k], &arg[k]))
			return -ENOENT;
	buf_printf(out, "%d 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64
		   " 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 "\n", nr, arg[0], arg[1], arg[2],
		   arg[3], arg[4], arg[5], sp, pc);
	return 0;
}

/* --- smaps, smaps_rollup ------------------------------------------------------------------ */

/* --- limits, wchan, personality ------------------------------------------------------------ */

/* fs/proc/base.c proc_pid_limits: the header, and no row.  A core records no resource limit;
 * rows saying "unknown" would be honest too, but parsers of this file (prometheus/procfs, so
 * process-exporter) reject any value that is not a number or "unlimited" and then drop the
 * whole process, while a header alone parses as "no limit known". */
int render_limits(const struct process *v, const struct core_thread *t, struct buf *out)
{
	(void)v;
	(void)t;
	buf_printf(out, "%-25s %-20s %-20s %-10s\n", "Limit", "Soft Limit", "Hard Limit", "Units");
	return 0;
}

/* proc_pid_wchan: "0", no newline, when the kernel function is not known. */
int render_wchan(const struct process *v, const struct core_thread *t, struct buf *out)
{
	(void)v;
	(void)t;
	buf_putc(out, '0');
	return 0;
}

/* proc_pid_personality: not recorded; PER_LINUX (0). */
int render_personality(const struct process *v, const struct core_thread *t, struct buf *out)
{
	(void)v;
	(void)t;
	buf_printf(out, "%08x\n", 0);
	return 0;
}

/* do_io_accounting: a core records no I/O counters; every one 0, as the kernel shows them for a
 * task that did no I/O (the same for the process and each thread). */
int render_io(const struct process *v, const struct core_thread *t, struct buf *out)
{
	static const char *const names[] = {
		"rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes", "cancelled_write_bytes",
	};

	(void)v;
	(void)t;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		buf_printf(out, "%s: %d\n", names[i], 0);
	return 0;
}

int render_unrecorded_link(const struct process *v, const struct core_thread *t, struct buf *out)
{
	(void)v;
	(void)t;
	(void)out;
	return -EACCES;
}

/* --- the /proc root's totals ------------------------------------------------------------- */

void proc_usage(const struct process *v, struct proc_usage *u)
{
	const struct core *c = v->core;
	struct mm_view mm;

	memset(u, 0, sizeof(*u));
	u->threads = c->nthreads;
	u->last_pid = c->pid;
	for (size_t k = 0; k < c->nthreads; k++)
		u->last_pid = MAX(u->last_pid, c->threads[k].tid);
	cpu_ticks(c, NULL, &u->user, &u->system);
	mm_build(v, &mm, false);
	u->anon = mm.anon * mm.page;
	u->file = mm.file * mm.page;
	u->shmem = mm.shmem * mm.page;
}
