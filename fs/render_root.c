/* fs/render_root.c — the /proc root's global files (stat, uptime, meminfo, loadavg, cpuinfo,
 * version) over the processes of a proc_view: each is read once, so a read costs O(number of
 * cores).  Which cores are listed is cores.c's to say; every process in the view counts. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../formats/util.h"
#include "render_mm.h"
#include "render_proc.h"

#ifndef COREFS_VERSION
#define COREFS_VERSION "unknown"
#endif

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
		struct proc_usage u;

		proc_usage(pv->v[i], &u);
		s->processes++;
		s->threads += u.threads;
		s->last_pid = MAX(s->last_pid, u.last_pid);
		s->user += u.user;
		s->system += u.system;
		s->anon += u.anon;
		s->file += u.file;
		s->shmem += u.shmem;
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
