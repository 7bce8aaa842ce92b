/* witness.c — a process that writes down the truth about itself, then dies.
 *
 *   witness DEATH NTHREADS
 *
 * DEATH is how it ends: "segv" (a write to address 0 in the main thread), "hole" (a write into
 * the unmapped page it made, from a worker thread when there is one), "abort", or "gcore" (it
 * prints "ready" on stdout and waits to be gcore'd and killed).  NTHREADS counts the main
 * thread.
 *
 * Before it dies it writes, in its cwd, what the tests compare corefs's mount with:
 *   witness.txt   pid, tids (gettid in each thread), and "mem NAME ADDR HEX" lines: random bytes
 *                 it wrote at ADDR (a .data and a .bss global, a heap block, a stack buffer, each
 *                 worker's stack, an anonymous mmap); "hole ADDR", an address in a page it
 *                 unmapped from the middle of that mmap; "shared NAME START END" for a shared
 *                 anonymous page and a shared mapping of the file witness-shared (patterns are
 *                 planted there too); "anon-name START END NAME" when naming an anonymous mapping
 *                 worked (needs CONFIG_ANON_VMA_NAME); "fault ADDR" for the segv and hole deaths.
 *   live-maps, live-smaps, live-stat, live-auxv, live-comm, live-cmdline, live-coredump_filter:
 *                 bytes of the /proc/self files of those names
 *   live-exe      readlink /proc/self/exe
 *   live-task     the names in /proc/self/task, one a line
 *   siginfo.txt   written by its handler of the fatal signal:
 *                 "signo N code N addr 0xA pid N uid N tid N" (si_pid and si_uid as they lie in
 *                 siginfo_t, meaningful for signals sent by a process);
 *                 the handler returns (SA_RESETHAND) so the same fault, or abort's second raise,
 *                 kills it with the default action and the same siginfo.
 *
 * Every worker is parked in read(2) (state S in /proc/self/task/TID/stat) before anything is
 * recorded.  The hole is unmapped last, when nothing more will be mapped that could fill it
 * (msync checks it is unmapped).  The main stack is grown beforehand, so the handler's signal
 * frame does not extend [stack].  From the first copy of a /proc file on, nothing maps, unmaps
 * or allocates: files are written with open/write from static buffers, directories read with
 * getdents64. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "liveproc.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define PAT 32
#define MAX_THREADS 16
#define ANON_NAME "corefs-witness"

static unsigned char g_data[PAT] = { 1 };	/* .data: a file mapping made private by writes */
static unsigned char g_bss[PAT];
static char record[1 << 16];
static size_t record_len;

static volatile char *fault_addr;		/* where the segv and hole deaths write */
static int cmd_pipe[2];				/* a byte on it sends one worker to the hole */

struct worker {
	pthread_t th;
	pid_t tid;
	uintptr_t addr;
	unsigned char pat[PAT];
	int ready;
};
static struct worker workers[MAX_THREADS];

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	record_len += vsnprintf(record + record_len, sizeof(record) - record_len, fmt, ap);
	va_end(ap);
	if (record_len >= sizeof(record))
		die("record overflow");
}

static void note_mem(const char *name, const void *addr, const unsigned char *pat)
{
	note("mem %s %p ", name, addr);
	for (int i = 0; i < PAT; i++)
		note("%02x", pat[i]);
	note("\n");
}

/* Fill PAT random bytes at dst and record them. */
static void plant(const char *name, void *dst)
{
	unsigned char pat[PAT];

	if (getrandom(pat, sizeof(pat), 0) != sizeof(pat))
		die("getrandom");
	memcpy(dst, pat, sizeof(pat));
	note_mem(name, dst, pat);
}

/* The names in /proc/self/task, one a line, into dst; read with getdents64 (no malloc). */
static void copy_task_dir(const char *dst)
{
	static char dents[1 << 14];
	int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY);
	size_t out = 0;
	long n;

	if (fd < 0)
		die("/proc/self/task");
	while ((n = syscall(SYS_getdents64, fd, dents, sizeof(dents))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(dents + off);

			if (d->d_name[0] != '.')
				out += (size_t)snprintf(copybuf + out, sizeof(copybuf) - out, "%s\n", d->d_name);
			off += d->d_reclen;
		}
	}
	if (n < 0)
		die("getdents64");
	close(fd);
	write_file(dst, copybuf, out);
}

/* Async-signal-safe formatting for the handler. */
static char *put_str(char *p, const char *s)
{
	while (*s)
		*p++ = *s++;
	return p;
}

static char *put_dec(char *p, long v)
{
	char tmp[24];
	int n = 0;
	unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;

	if (v < 0)
		*p++ = '-';
	do
		tmp[n++] = (char)('0' + u % 10);
	while (u /= 10);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_hex(char *p, unsigned long v)
{
	char tmp[24];
	int n = 0;

	do
		tmp[n++] = "0123456789abcdef"[v & 15];
	while (v >>= 4);
	p = put_str(p, "0x");
	while (n)
		*p++ = tmp[--n];
	return p;
}

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
	char line[160], *p = line;
	int fd;

	(void)uc;
	p = put_str(p, "signo ");
	p = put_dec(p, sig);
	p = put_str(p, " code ");
	p = put_dec(p, si->si_code);
	p = put_str(p, " addr ");
	p = put_hex(p, (unsigned long)si->si_addr);
	p = put_str(p, " pid ");
	p = put_dec(p, si->si_pid);
	p = put_str(p, " uid ");
	p = put_dec(p, si->si_uid);
	p = put_str(p, " tid ");
	p = put_dec(p, (long)syscall(SYS_gettid));
	p = put_str(p, "\n");
	fd = open("siginfo.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		if (write(fd, line, (size_t)(p - line)) < 0)
			_exit(3);
		close(fd);
	}
	/* SA_RESETHAND: returning repeats the fault (or abort raises again) under SIG_DFL. */
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned char buf[64];
	char c;

	if (getrandom(w->pat, PAT, 0) != PAT)
		die("getrandom");
	memcpy(buf + 16, w->pat, PAT);
	w->addr = (uintptr_t)(buf + 16);
	w->tid = (pid_t)syscall(SYS_gettid);
	__atomic_store_n(&w->ready, 1, __ATOMIC_RELEASE);
	if (read(cmd_pipe[0], &c, 1) == 1)
		*fault_addr = 1;
	__asm__ volatile("" : : "r"(buf) : "memory");
	for (;;)
		pause();
	return NULL;
}

/* Grow the main stack well below where it will be when the signal frame is pushed, so the
 * [stack] line copied from /proc/self/maps is still true when the process dies. */
static void __attribute__((noinline)) grow_stack(void)
{
	volatile char pad[256 * 1024];

	memset((char *)pad, 0, sizeof(pad));
}

int main(int argc, char **argv)
{
	unsigned char stackbuf[64];
	const char *death;
	int nthreads;
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *heap, *region, *hole, *shared_anon, *shared_file;
	int fd;
	struct sigaction sa = { .sa_sigaction = on_fatal, .sa_flags = SA_SIGINFO | SA_RESETHAND };

	if (argc != 3) {
		fprintf(stderr, "usage: witness segv|hole|abort|gcore NTHREADS\n");
		return 2;
	}
	death = argv[1];
	nthreads = atoi(argv[2]);
	if (nthreads < 1 || nthreads > MAX_THREADS)
		die("NTHREADS");
	if (strcmp(death, "segv") && strcmp(death, "hole") && strcmp(death, "abort") &&
	    strcmp(death, "gcore")) {
		fprintf(stderr, "witness: unknown death %s\n", death);
		return 2;
	}
	grow_stack();
	/* Under Yama's ptrace_scope 1 only an ancestor may attach: let gcore attach (EINVAL, and
	 * harmless, without Yama). */
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);

	note("pid %d\n", getpid());
	note("tid %d\n", (int)syscall(SYS_gettid));
	plant("data", g_data);
	plant("bss", g_bss);
	heap = malloc(256);
	if (!heap)
		die("malloc");
	plant("heap", heap + 64);
	plant("stack", stackbuf + 16);

	/* Four anonymous pages; the third is unmapped again below, once nothing else will be
	 * mapped that could fill it: a hole between two mappings. */
	region = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED)
		die("mmap");
	hole = region + 2 * page;
	plant("mmap", region + 100);
	plant("before-hole", hole - PAT);
	plant("after-hole", region + 3 * page);
	if (!prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, region + 3 * page, page, ANON_NAME))
		note("anon-name %p %p %s\n", region + 3 * page, region + 4 * page, ANON_NAME);

	shared_anon = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared_anon == MAP_FAILED)
		die("mmap shared");
	plant("shared-anon", shared_anon + 200);
	note("shared anon %p %p\n", shared_anon, shared_anon + page);
	fd = open("witness-shared", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, page))
		die("witness-shared");
	shared_file = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (shared_file == MAP_FAILED)
		die("mmap witness-shared");
	close(fd);
	plant("shared-file", shared_file + 300);
	note("shared file %p %p\n", shared_file, shared_file + page);

	if (sigaction(SIGSEGV, &sa, NULL) || sigaction(SIGABRT, &sa, NULL))
		die("sigaction");
	if (pipe(cmd_pipe))
		die("pipe");
	for (int i = 1; i < nthreads; i++)
		if (pthread_create(&workers[i].th, NULL, worker_main, &workers[i]))
			die("pthread_create");
	/* Park: every worker has recorded itself and sleeps in read(2). */
	for (int i = 1; i < nthreads; i++) {
		while (!__atomic_load_n(&workers[i].ready, __ATOMIC_ACQUIRE))
			sched_yield();
		while (thread_state(workers[i].tid) != 'S')
			sched_yield();
		note("tid %d\n", workers[i].tid);
	}
	for (int i = 1; i < nthreads; i++) {
		char name[32];

		snprintf(name, sizeof(name), "thread-stack-%d", workers[i].tid);
		note_mem(name, (void *)workers[i].addr, workers[i].pat);
	}

	if (munmap(hole, page))
		die("munmap");
	if (msync(hole, page, MS_ASYNC) == 0 || errno != ENOMEM)
		die("the hole is mapped");
	note("hole %p\n", hole + 100);
	if (!strcmp(death, "segv"))
		fault_addr = NULL;
	else if (!strcmp(death, "hole"))
		fault_addr = (volatile char *)(hole + 100);
	if (!strcmp(death, "segv") || !strcmp(death, "hole"))
		note("fault %p\n", (void *)fault_addr);

	write_file("witness.txt", record, record_len);
	copy_task_dir("live-task");
	copy_proc("/proc/self/auxv", "live-auxv");
	copy_proc("/proc/self/comm", "live-comm");
	copy_proc("/proc/self/cmdline", "live-cmdline");
	{
		ssize_t n = readlink("/proc/self/exe", copybuf, sizeof(copybuf));

		if (n < 0)
			die("readlink");
		write_file("live-exe", copybuf, (size_t)n);
	}
	copy_proc("/proc/self/coredump_filter", "live-coredump_filter");
	copy_proc("/proc/self/smaps", "live-smaps");
	copy_proc("/proc/self/maps", "live-maps");
	copy_proc("/proc/self/stat", "live-stat");

	if (!strcmp(death, "gcore")) {
		if (write(1, "ready\n", 6) != 6)
			die("write");
		for (;;)
			pause();
	}
	if (!strcmp(death, "abort"))
		abort();
	if (!strcmp(death, "hole") && nthreads > 1) {
		if (write(cmd_pipe[1], "x", 1) != 1)
			die("write");
		for (;;)
			pause();
	}
	*fault_addr = 1;
	__asm__ volatile("" : : "r"(stackbuf) : "memory");
	return 1;
}
