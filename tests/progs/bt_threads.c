/* bt_threads.c — threads parked at known call depths, one of them inside a signal handler, and
 * a main thread that dies inside a shared library (bt_lib.c): a core whose backtraces the
 * program itself can tell.
 *
 *   bt_threads crash|gcore [NWORKERS]
 *
 * Worker i (0-based) descends i + 1 levels of descend() and parks in read(2) on a pipe nobody
 * writes; worker 1 instead sends itself SIGUSR1 at the bottom and parks inside the handler.  When
 * all are parked, main writes bt-expect.txt in its cwd, then calls into the library, which
 * descends 3 levels and writes to address 0 (crash) or prints "ready" and pauses (gcore: the
 * test gcores and kills it).
 *
 * bt-expect.txt has one line per thread: its tid, then the program's own functions on its stack,
 * innermost first, with "<signal>" where a signal frame lies between two of them (the C library's
 * frames are not the program's and are not listed).  Build every file with -O2 (or -O0) and
 * -fno-optimize-sibling-calls: every function is noipa, so each call is one frame. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NOIPA __attribute__((noipa))
#define MAX_WORKERS 128
#define LIB_DEPTH 3
#define SIGNAL_WORKER 1

int bt_lib_enter(int depth, int mode);

static int park_pipe[2];
static atomic_int parked;
static pid_t tids[MAX_WORKERS];

NOIPA static void park(void)
{
	char c;

	atomic_fetch_add(&parked, 1);
	for (;;)
		if (read(park_pipe[0], &c, 1) == 0)
			break;
}

NOIPA static void on_usr1(int sig)
{
	(void)sig;
	park();
}

NOIPA static void signal_self(void)
{
	pthread_kill(pthread_self(), SIGUSR1);
}

NOIPA static int descend(int depth, int kind)
{
	if (depth > 0)
		return descend(depth - 1, kind) + 1;
	if (kind)
		signal_self();
	else
		park();
	return 0;
}

NOIPA static void *worker(void *arg)
{
	long i = (long)arg;

	tids[i] = (pid_t)syscall(SYS_gettid);
	descend((int)i + 1, i == SIGNAL_WORKER);
	return NULL;
}

NOIPA static int die_in_lib(int mode)
{
	return bt_lib_enter(LIB_DEPTH, mode) + 1;
}

static void put_repeat(FILE *f, const char *name, int n)
{
	for (int k = 0; k < n; k++)
		fprintf(f, " %s", name);
}

/* What the program knows of its own stacks. */
static void write_expect(int nworkers, int mode)
{
	FILE *f = fopen("bt-expect.txt", "w");

	if (!f) {
		perror("bt-expect.txt");
		exit(2);
	}
	fprintf(f, "%ld %s", (long)syscall(SYS_gettid), mode ? "bt_lib_wait" : "bt_lib_fault");
	put_repeat(f, "bt_lib_descend", LIB_DEPTH + 1);
	fprintf(f, " bt_lib_enter die_in_lib main\n");
	for (int i = 0; i < nworkers; i++) {
		fprintf(f, "%d park", tids[i]);
		if (i == SIGNAL_WORKER)
			fprintf(f, " on_usr1 <signal> signal_self");
		put_repeat(f, "descend", i + 2);
		fprintf(f, " worker\n");
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	int mode, nworkers = argc > 2 ? atoi(argv[2]) : 4, r;
	struct sigaction sa;
	pthread_t th;
	struct timespec pause_ns = { 0, 20 * 1000 * 1000 };

	if (argc < 2 || (strcmp(argv[1], "crash") && strcmp(argv[1], "gcore")) || nworkers < 2 ||
	    nworkers > MAX_WORKERS) {
		fprintf(stderr, "usage: bt_threads crash|gcore [NWORKERS 2..%d]\n", MAX_WORKERS);
		return 2;
	}
	mode = !strcmp(argv[1], "gcore");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	if (pipe(park_pipe) < 0)
		return 2;
	for (long i = 0; i < nworkers; i++)
		if (pthread_create(&th, NULL, worker, (void *)i) != 0)
			return 2;
	while (atomic_load(&parked) < nworkers)
		nanosleep(&pause_ns, NULL);
	nanosleep(&pause_ns, NULL);	/* into read(2) */
	write_expect(nworkers, mode);
	if (mode) {
		printf("ready\n");
		fflush(stdout);
	}
	r = die_in_lib(mode);
	printf("%d\n", r);
	return 0;
}
