/* fs/render_proc.c — stat, status, statm, syscall, smaps, smaps_rollup, limits, wchan,
 * personality and task/<tid>/comm of a dead process, and the /proc root's stat, uptime,
 * meminfo, loadavg and version.  See render_proc.h for what a dead process looks like here. */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../formats/arch.h"
#include "../formats/util.h"
#include "render_proc.h"

#define DEAD_STATE 'X'
#define DEAD_STATE_NAME "X (dead)"
#define MAPS_HEADER_WIDTH 72	/* the name column of maps is 73: pad to 72, then a space */
#define EXIT_CORE_DUMPED 0x80	/* wait status bit: the process dumped core */

#ifndef COREFS_VERSION
#define COREFS_VERSION "unknown"
#endif

/* --- the process's memory, as the kernel counts it (mm->total_vm, exec_vm, ...) ------------ */

/* What mm_struct would hold, derived from the map and the executable's program headers. */
struct mm_view {
	uint64_t page;
	uint64_t total_vm, exec_vm, stack_vm, data_vm;	/* pages */
	uint64_t anon, file, shmem;			/* resident pages: what the core holds */
	bool layout;		/* the executable's program headers were read */
	uint64_t start_code, end_code, start_data, end_data;
	uint64_t start_brk, start_stack;
};

static uint64_t page_size(const struct core *c)
{
	uint64_t p = c->file_page_size;

	/* NT_FILE's page size, when it is a plausible one. */
	if (p >= 4096 && p <= (1u << 20) && !(p & (p - 1)))
		return p;
	return 4096;
}

/* [vsyscall] is the kernel's gate area: shown in maps and smaps, but not a VMA of the mm. */
static bool is_gate(const struct core_vma *m)
{
	return m->kind == VMA_VSYSCALL;
}

/* The bytes of a segment the core file holds as data.  The kernel writes a page it did not
 * find present (never touched, or the zero page) as a hole (dump_skip), so the data runs of
 * the file (SEEK_DATA, SEEK_HOLE) are the pages that were resident.  Where the file system
 * reports no holes (or the core was copied without them) every byte counts. */
static uint64_t held_bytes(const struct core *c, const struct core_segment *s)
{
	uint64_t end, pos, total = 0;

	if (!s || !s->avail || s->offset > UINT64_MAX - s->avail ||
	    s->offset + s->avail > (uint64_t)INT64_MAX)
		return 0;
	end = s->offset + s->avail;
	for (pos = s->offset; pos < end;) {
		off_t data = lseek(c->fd, (off_t)pos, SEEK_DATA), hole;

		if (data < 0)
			return errno == ENXIO ? total : s->avail;
		if ((uint64_t)data >= end)
			break;
		hole = lseek(c->fd, data, SEEK_HOLE);
		if (hole < 0 || hole <= data)
			return s->avail;
		total += MIN((uint64_t)hole, end) - (uint64_t)data;
		pos = (uint64_t)hole;
	}
	return total;
}

static uint64_t resident_pages(const struct core *c, const struct core_vma *m, uint64_t page)
{
	uint64_t held = held_bytes(c, m->seg);

	return held / page + (held % page != 0);
}

/* The counters; with layout, also what the executable's headers and the stack say. */
static void mm_build(const struct process *v, struct mm_view *mm, bool layout)
{
	memset(mm, 0, sizeof(*mm));
	mm->page = page_size(v->core);
	for (size_t i = 0; i < v->vmas->n; i++) {
		const struct core_vma *m = &v->vmas->v[i];
		uint64_t pages = (m->end - m->start) / mm->page;
		uint64_t rss = resident_pages(v->core, m, mm->page);
		bool stack = m->kind == VMA_STACK;

		if (is_gate(m))
			continue;
		/* mm/mmap.c vm_stat_account: exec, else stack, else private writable data. */
		mm->total_vm += pages;
		if (m->perms[2] == 'x' && m->perms[1] != 'w' && !stack)
			mm->exec_vm += pages;
		else if (stack)
			mm->stack_vm += pages;
		else if (m->perms[1] == 'w' && m->perms[3] == 'p')
			mm->data_vm += pages;
		/* Which counter the pages the core holds would be in: shmem ('s' is shown only
		 * for shmem paths), file-backed, or anonymous. */
		if (m->perms[3] == 's')
			mm->shmem += rss;
		else if (m->file)
			mm->file += rss;
		else
			mm->anon += rss;
	}
	if (!layout)
		return;
	/* formats/layout.c: the same values revival hands PR_SET_MM_MAP; 0 where unknown. */
	mm->start_brk = v->layout.start_brk;
	mm->start_stack = v->layout.start_stack;
	if (!v->layout.known)
		return;
	mm->layout = true;
	mm->start_code = v->layout.start_code;
	mm->end_code = v->layout.end_code;
	mm->start_data = v->layout.start_data;
	mm->end_data = v->layout.end_data;
}

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
static uint64_t death_ticks(const struct core *c)
{
	struct stat st;

	if (fstat(c->fd, &st) < 0 || st.st_mtim.tv_sec < 0)
		return 0;
	return (uint64_t)st.st_mtim.tv_sec * PROC_USER_HZ +
	       (uint64_t)st.st_mtim.tv_nsec / (1000000000 / PROC_USER_HZ);
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
	buf_printf(out, " %zu 0 %" PRIu64 " %" PRIu64 " %" PRIu64 " 0", c->nthreads, death_ticks(c),
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

int render_statm(const struct process *v, const struct core_thread *t, struct buf *out)
{
	struct mm_view mm;
	uint64_t text = 0;

	(void)t;
	mm_build(v, &mm, true);
	if (mm.layout)
		text = ((mm.end_code + mm.page - 1) / mm.page) - mm.start_code / mm.page;
	buf_printf(out, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " 0 %" PRIu64 " 0\n",
		   mm.total_vm, mm.anon + mm.file + mm.shmem, mm.file + mm.shmem, text,
		   mm.data_vm + mm.stack_vm);
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

/* One "Label:   value kB" line of smaps: the label padded to 16 columns, the value to 8. */
static void smaps_kb(struct buf *out, const char *label, uint64_t bytes)
{
	buf_printf(out, "%-16s%8" PRIu64 " kB\n", label, bytes >> 10);
}

/* __show_smap: everything but Rss is honest zero (sharing, dirtiness, references, swap and
 * huge pages are not in a core). */
static void show_smap(struct buf *out, uint64_t rss, bool rollup)
{
	static const char *const zeros[] = {
		"Shared_Clean:", "Shared_Dirty:", "Private_Clean:", "Private_Dirty:",
		"Referenced:", "Anonymous:", "KSM:", "LazyFree:", "AnonHugePages:",
		"ShmemPmdMapped:", "FilePmdMapped:", "Shared_Hugetlb:",
	};

	smaps_kb(out, "Rss:", rss);
	smaps_kb(out, "Pss:", 0);
	smaps_kb(out, "Pss_Dirty:", 0);
	if (rollup) {
		smaps_kb(out, "Pss_Anon:", 0);
		smaps_kb(out, "Pss_File:", 0);
		smaps_kb(out, "Pss_Shmem:", 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(zeros); i++)
		smaps_kb(out, zeros[i], 0);
	buf_printf(out, "Private_Hugetlb: %7u kB\n", 0);
	smaps_kb(out, "Swap:", 0);
	smaps_kb(out, "SwapPss:", 0);
	smaps_kb(out, "Locked:", 0);
}

/* VmFlags the map implies: the protections, sharing (shmem only), VM_MAYREAD (every mapping
 * but the gate area has it) and VM_GROWSDOWN of [stack]; in the kernel's bit order. */
static void vm_flags(struct buf *out, const struct core_vma *m)
{
	bool shared = m->perms[3] == 's';

	buf_puts(out, "VmFlags:");
	if (m->perms[0] == 'r')
		buf_puts(out, " rd");
	if (m->perms[1] == 'w')
		buf_puts(out, " wr");
	if (m->perms[2] == 'x')
		buf_puts(out, " ex");
	if (shared)
		buf_puts(out, " sh");
	if (!is_gate(m))
		buf_puts(out, " mr");
	if (shared)
		buf_puts(out, " ms");
	if (m->kind == VMA_STACK)
		buf_puts(out, " gd");
	buf_puts(out, " \n");
}

int render_smaps(const struct process *v, const struct core_thread *t, struct buf *out)
{
	uint64_t page = page_size(v->core);

	(void)t;
	for (size_t i = 0; i < v->vmas->n; i++) {
		const struct core_vma *m = &v->vmas->v[i];

		render_vma_header(m, out);
		smaps_kb(out, "Size:", m->end - m->start);
		smaps_kb(out, "KernelPageSize:", page);
		smaps_kb(out, "MMUPageSize:", page);
		show_smap(out, resident_pages(v->core, m, page) * page, false);
		buf_printf(out, "%-16s%8u\n", "THPeligible:", 0);
		vm_flags(out, m);
	}
	return 0;
}

int render_smaps_rollup(const struct process *v, const struct core_thread *t, struct buf *out)
{
	uint64_t page = page_size(v->core), first = 0, last = 0, rss = 0;
	bool any = false;
	size_t line = out->len;

	(void)t;
	for (size_t i = 0; i < v->vmas->n; i++) {
		const struct core_vma *m = &v->vmas->v[i];

		if (is_gate(m))
			continue;
		if (!any)
			first = m->start;
		any = true;
		last = m->end;
		rss += resident_pages(v->core, m, page) * page;
	}
	buf_printf(out, "%08" PRIx64 "-%08" PRIx64 " ---p 00000000 00:00 0", first, last);
	buf_pad(out, line, MAPS_HEADER_WIDTH);
	buf_puts(out, " [rollup]\n");
	show_smap(out, rss, true);
	return 0;
}

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

/* --- the /proc root ------------------------------------------------------------------------ */

/* What all listed processes add up to. */
struct totals {
	size_t processes, threads;
	int32_t last_pid;
	uint64_t user, system;		/* ticks */
	uint64_t anon, file, shmem;	/* resident bytes */
};

static void totals(const struct proc_view *pv, struct totals *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < pv->n; i++) {
		const struct process *v = pv->v[i];
		const struct core *c = v->core;
		struct mm_view mm;
		uint64_t ut, st;

		s->processes++;
		s->threads += c->nthreads;
		s->last_pid = MAX(s->last_pid, c->pid);
		for (size_t k = 0; k < c->nthreads; k++)
			s->last_pid = MAX(s->last_pid, c->threads[k].tid);
		cpu_ticks(c, NULL, &ut, &st);
		s->user += ut;
		s->system += st;
		mm_build(v, &mm, false);
		s->anon += mm.anon * mm.page;
		s->file += mm.file * mm.page;
		s->shmem += mm.shmem * mm.page;
	}
}

/* Ticks since btime (the epoch) at pv->now. */
static uint64_t now_ticks(const struct proc_view *pv)
{
	if (pv->now.tv_sec < 0)
		return 0;
	return (uint64_t)pv->now.tv_sec * PROC_USER_HZ +
	       (uint64_t)pv->now.tv_nsec / (1000000000 / PROC_USER_HZ);
}

/* One CPU (cpu0): the processes' user and system time, the rest of the time since btime idle. */
static uint64_t idle_ticks(const struct proc_view *pv, const struct totals *s)
{
	uint64_t up = now_ticks(pv), busy = s->user + s->system;

	return up > busy ? up - busy : 0;
}

int render_proc_stat(const struct proc_view *pv, struct buf *out)
{
	struct totals s;
	uint64_t idle;

	totals(pv, &s);
	idle = idle_ticks(pv, &s);
	for (int cpu = -1; cpu < 1; cpu++) {
		if (cpu < 0)
			buf_puts(out, "cpu  ");
		else
			buf_printf(out, "cpu%d ", cpu);
		buf_printf(out, "%" PRIu64 " 0 %" PRIu64 " %" PRIu64 " 0 0 0 0 0 0\n", s.user,
			   s.system, idle);
	}
	buf_printf(out, "intr 0\nctxt 0\nbtime 0\nprocesses %zu\nprocs_running 0\n"
		   "procs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n", s.processes);
	return 0;
}

int render_proc_uptime(const struct proc_view *pv, struct buf *out)
{
	struct totals s;
	uint64_t up = now_ticks(pv), idle;

	totals(pv, &s);
	idle = idle_ticks(pv, &s);
	buf_printf(out, "%" PRIu64 ".%02" PRIu64 " %" PRIu64 ".%02" PRIu64 "\n", up / PROC_USER_HZ,
		   up % PROC_USER_HZ, idle / PROC_USER_HZ, idle % PROC_USER_HZ);
	return 0;
}

/* The memory of this /proc is what its processes hold: MemTotal is their resident bytes, none
 * of it free; the kinds split as in their status files. */
int render_proc_meminfo(const struct proc_view *pv, struct buf *out)
{
	static const char *const zeros_a[] = {
		"Buffers:", "SwapCached:", "Active:", "Inactive:", "Active(anon):",
		"Inactive(anon):", "Active(file):", "Inactive(file):", "Unevictable:", "Mlocked:",
		"SwapTotal:", "SwapFree:", "Zswap:", "Zswapped:", "Dirty:", "Writeback:",
	};
	static const char *const zeros_b[] = {
		"KReclaimable:", "Slab:", "SReclaimable:", "SUnreclaim:", "KernelStack:",
		"PageTables:", "SecPageTables:", "NFS_Unstable:", "Bounce:", "WritebackTmp:",
		"CommitLimit:", "Committed_AS:", "VmallocTotal:", "VmallocUsed:", "VmallocChunk:",
		"Percpu:", "AnonHugePages:", "ShmemHugePages:", "ShmemPmdMapped:", "FileHugePages:",
		"FilePmdMapped:",
	};
	struct totals s;

	totals(pv, &s);
	smaps_kb(out, "MemTotal:", s.anon + s.file + s.shmem);
	smaps_kb(out, "MemFree:", 0);
	smaps_kb(out, "MemAvailable:", 0);
	for (size_t i = 0; i < ARRAY_SIZE(zeros_a); i++) {
		if (i == 1)	/* Cached: page cache, shmem included */
			smaps_kb(out, "Cached:", s.file + s.shmem);
		smaps_kb(out, zeros_a[i], 0);
	}
	smaps_kb(out, "AnonPages:", s.anon);
	smaps_kb(out, "Mapped:", s.file + s.shmem);
	smaps_kb(out, "Shmem:", s.shmem);
	for (size_t i = 0; i < ARRAY_SIZE(zeros_b); i++)
		smaps_kb(out, zeros_b[i], 0);
	buf_puts(out, "HugePages_Total:       0\nHugePages_Free:        0\n"
		      "HugePages_Rsvd:        0\nHugePages_Surp:        0\n");
	smaps_kb(out, "Hugepagesize:", 0);
	smaps_kb(out, "Hugetlb:", 0);
	return 0;
}

/* No process runs: the load is 0; "running/total" threads; the last pid in use. */
int render_proc_loadavg(const struct proc_view *pv, struct buf *out)
{
	struct totals s;

	totals(pv, &s);
	buf_printf(out, "0.00 0.00 0.00 0/%zu %d\n", s.threads, s.last_pid);
	return 0;
}

/* The one CPU of /proc/stat; nothing else about it is known. */
int render_proc_cpuinfo(const struct proc_view *pv, struct buf *out)
{
	(void)pv;
	buf_puts(out, "processor\t: 0\n\n");
	return 0;
}

/* Nothing in a core names the kernel it ran on. */
int render_proc_version(const struct proc_view *pv, struct buf *out)
{
	(void)pv;
	buf_printf(out, "Linux version unknown (corefs %s: dead processes read from core dumps)\n",
		   COREFS_VERSION);
	return 0;
}
