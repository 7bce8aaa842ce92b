/* pt_proc.c — a process that copies what the live /proc says about it, then dies, for the tests
 * of the /proc files and of the tools that read them (tests/test_proctools.py).
 *
 *   pt_proc DEATH NTHREADS [NAME [NICE [UID]]]
 *
 * DEATH: "segv" (the main thread writes to address 0), "abort", or "gcore" (prints "ready" on
 * stdout and waits to be gcore'd and killed).  NTHREADS counts the main thread; the others are
 * parked in read(2) on a pipe (state S) before anything is recorded.  NAME, when given and not
 * "-", becomes the command name (prctl PR_SET_NAME; it may hold spaces and ')').  NICE is set
 * with setpriority; UID, when given, becomes the real, effective and saved uid and gid (the
 * process then makes itself dumpable again, so the kernel still writes its core).
 *
 * Files written in the cwd, from static buffers (nothing is mapped or allocated once copying
 * starts, so the memory the core shows is the memory the copies describe):
 *   live-tids          the thread ids, main first, one a line (gettid in each thread)
 *   live-FILE          /proc/self/FILE for stat, status, statm, maps, smaps, smaps_rollup,
 *                      limits, wchan, personality, comm, cmdline, environ
 *   live-task-TID-FILE /proc/self/task/TID/FILE for stat, status, comm, and syscall of the
 *                      parked threads
 * The main thread's files are copied last, after the other threads', so its stat and status are
 * the closest to the moment it dies. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "liveproc.h"

#define MAX_THREADS 16

static int park[2];

struct worker {
	pthread_t th;
	pid_t tid;
	int ready;
};
static struct worker workers[MAX_THREADS];

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char c;

	w->tid = (pid_t)syscall(SYS_gettid);
	__atomic_store_n(&w->ready, 1, __ATOMIC_RELEASE);
	while (read(park[0], &c, 1) != 0)
		;
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	static const char *const files[] = { "stat", "status", "statm", "maps", "smaps",
					     "smaps_rollup", "limits", "wchan", "personality",
					     "comm", "cmdline", "environ" };
	static const char *const task_files[] = { "stat", "status", "comm", "syscall" };
	char path[128], dst[128], tids[64 * MAX_THREADS];
	size_t tids_len = 0;
	const char *death;
	int nthreads;

	if (argc < 3) {
		fprintf(stderr, "usage: pt_proc segv|abort|gcore NTHREADS [NAME [NICE [UID]]]\n");
		return 2;
	}
	death = argv[1];
	nthreads = atoi(argv[2]);
	if (nthreads < 1 || nthreads > MAX_THREADS)
		die("NTHREADS");
	if (strcmp(death, "segv") && strcmp(death, "abort") && strcmp(death, "gcore"))
		die("DEATH");
	if (argc > 3 && strcmp(argv[3], "-") && prctl(PR_SET_NAME, argv[3], 0, 0, 0))
		die("PR_SET_NAME");
	if (argc > 4 && setpriority(PRIO_PROCESS, 0, atoi(argv[4])))
		die("setpriority");
	if (argc > 5) {
		uid_t id = (uid_t)atoi(argv[5]);

		if (setgroups(0, NULL) || setresgid(id, id, id) || setresuid(id, id, id))
			die("setresuid");
		/* Changing credentials made it undumpable (suid_dumpable 0). */
		if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
			die("PR_SET_DUMPABLE");
	}
	/* gcore attaches with ptrace: allow it under Yama's ptrace_scope 1. */
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
	if (pipe(park))
		die("pipe");
	for (int i = 1; i < nthreads; i++)
		if (pthread_create(&workers[i].th, NULL, worker_main, &workers[i]))
			die("pthread_create");
	tids_len += (size_t)snprintf(tids, sizeof(tids), "%ld\n", (long)syscall(SYS_gettid));
	for (int i = 1; i < nthreads; i++) {
		while (!__atomic_load_n(&workers[i].ready, __ATOMIC_ACQUIRE))
			sched_yield();
		while (thread_state(workers[i].tid) != 'S')
			sched_yield();
		tids_len += (size_t)snprintf(tids + tids_len, sizeof(tids) - tids_len, "%d\n",
					     workers[i].tid);
	}
	write_file("live-tids", tids, tids_len);
	for (int i = 1; i < nthreads; i++)
		for (size_t k = 0; k < sizeof(task_files) / sizeof(task_files[0]); k++) {
			snprintf(path, sizeof(path), "/proc/self/task/%d/%s", workers[i].tid,
				 task_files[k]);
			snprintf(dst, sizeof(dst), "live-task-%d-%s", workers[i].tid,
				 task_files[k]);
			copy_proc(path, dst);
		}
	for (size_t k = 0; k < 3; k++) {
		snprintf(path, sizeof(path), "/proc/self/task/%d/%s", getpid(), task_files[k]);
		snprintf(dst, sizeof(dst), "live-task-%d-%s", getpid(), task_files[k]);
		copy_proc(path, dst);
	}
	for (size_t k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
		snprintf(path, sizeof(path), "/proc/self/%s", files[k]);
		snprintf(dst, sizeof(dst), "live-%s", files[k]);
		copy_proc(path, dst);
	}
	if (!strcmp(death, "gcore")) {
		if (write(1, "ready\n", 6) != 6)
			die("write");
		for (;;)
			pause();
	}
	if (!strcmp(death, "abort"))
		abort();
	*(volatile char *)NULL = 1;
	return 1;
}
