/* fs/render_proc.h — the /proc/<pid> files that process tools read (stat, status, statm,
 * syscall, smaps, smaps_rollup, limits, wchan, personality, io: render_proc.c and render_mm.c) and
 * the /proc root's global files (stat, uptime, meminfo, loadavg, version: render_root.c), in the
 * formats of Linux 6.x (fs/proc/array.c, task_mmu.c, base.c, stat.c, ...).
 *
 * A dead process, as these files show it:
 *   - state X ("X (dead)", the kernel's EXIT_DEAD) in stat and status of the process and of
 *     every thread: not running, so syscall shows each thread's system call (as for any task
 *     that is not running), wchan is 0, /proc/stat counts it in neither procs_running nor
 *     procs_blocked;
 *   - starttime is the moment the core was written (the core file's mtime), in clock ticks
 *     since btime, and btime is 0, the epoch: a /proc of dead processes has no boot of its own,
 *     and with btime 0 every core's start time is exact and never negative whatever machine or
 *     boot it came from.  uptime is therefore the time since the epoch; ps's START, psutil's
 *     create_time() and process-exporter's start time all read as the time of death.
 *   - what a core cannot know is 0 (counters, masks, ids), absent (Umask, the rows of limits,
 *     arch-specific status lines), or the kernel's own word for it ("unknown" in the
 *     Speculation lines).
 * Page counts use the core's page size (NT_FILE's, else 4096); Rss everywhere is what the core
 * holds of a mapping (its PT_LOAD's bytes in the file), so stat, statm, status, smaps and
 * smaps_rollup agree with each other. */
#ifndef COREFS_RENDER_PROC_H
#define COREFS_RENDER_PROC_H

#include "procroot.h"
#include "render.h"

#define PROC_USER_HZ 100	/* clock ticks of stat's times: USER_HZ on every Linux ABI */

/* Per process (t NULL: the process, as /proc/PID/...) or per thread (task/TID/...). */
int render_stat(const struct process *v, const struct core_thread *t, struct buf *out);
int render_status(const struct process *v, const struct core_thread *t, struct buf *out);
int render_statm(const struct process *v, const struct core_thread *t, struct buf *out);
int render_syscall(const struct process *v, const struct core_thread *t, struct buf *out);
int render_task_comm(const struct process *v, const struct core_thread *t, struct buf *out);
int render_smaps(const struct process *v, const struct core_thread *t, struct buf *out);
int render_smaps_rollup(const struct process *v, const struct core_thread *t, struct buf *out);
int render_limits(const struct process *v, const struct core_thread *t, struct buf *out);
int render_wchan(const struct process *v, const struct core_thread *t, struct buf *out);
int render_personality(const struct process *v, const struct core_thread *t, struct buf *out);
int render_io(const struct process *v, const struct core_thread *t, struct buf *out);

/* cwd and root: a core does not record them.  Always -EACCES, what the kernel's readlink says
 * of a process one may not trace; so psutil says AccessDenied, not that the process is gone. */
int render_unrecorded_link(const struct process *v, const struct core_thread *t, struct buf *out);

/* Whether the core's architecture says which system call its threads were in (x86_64, x32,
 * i386, and aarch64 when every thread has NT_ARM_SYSTEM_CALL). */
bool has_syscall(const struct process *v);

/* What one process adds to the /proc root's totals. */
struct proc_usage {
	size_t threads;
	int32_t last_pid;		/* the greatest of its pid and tids */
	uint64_t user, system;		/* ticks */
	uint64_t anon, file, shmem;	/* resident bytes */
};

void proc_usage(const struct process *v, struct proc_usage *u);

/* The /proc root's files, over the processes of pv: each counts once, in O(pv->n). */
int render_proc_stat(const struct proc_view *pv, struct buf *out);
int render_proc_uptime(const struct proc_view *pv, struct buf *out);
int render_proc_meminfo(const struct proc_view *pv, struct buf *out);
int render_proc_loadavg(const struct proc_view *pv, struct buf *out);
int render_proc_cpuinfo(const struct proc_view *pv, struct buf *out);
int render_proc_version(const struct proc_view *pv, struct buf *out);

#endif
