/* rv_crash — a multi-threaded program that dies in a way chosen by argv[1], for revival tests.
 *
 *   rv_crash main|thread|lib|abort RECORD
 *
 * Before dying it plants known bytes in memory of every kind (a global, the heap, a large
 * anonymous mapping it touches, the main stack, a thread's stack) and writes their addresses,
 * one "name 0xADDR" per line, to RECORD.  Its threads are parked in the system calls a dump
 * catches threads in: a condition-variable wait (futex), a relative sleep (restarted through a
 * restart block), a read from a pipe nobody writes to.  The main thread blocks SIGUSR1 and the
 * sleeping thread SIGUSR2, so revived signal masks can be checked.  Then:
 *   main    the main thread writes to address 0
 *   thread  a fourth thread writes to address 0
 *   lib     the main thread calls strlen() on a bad pointer: the fault is inside libc
 *   abort   the main thread calls abort()
 *   leader  the main thread exits (pthread_exit) and a fourth thread writes to address 0 later
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define BIG (64u << 20)

static unsigned char global_bytes[64];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int parked;
static int pipefd[2];
static FILE *record;

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 3));
}

static void note(const char *name, const void *addr)
{
	fprintf(record, "%s %p\n", name, addr);
}

static void arrived(void)
{
	pthread_mutex_lock(&lock);
	parked++;
	pthread_mutex_unlock(&lock);
}

static void *waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	parked++;
	for (;;)
		pthread_cond_wait(&cond, &lock);	/* nobody signals */
	return NULL;
}

static void *sleeper(void *arg)
{
	unsigned char mine[48];
	sigset_t s;

	(void)arg;
	fill(mine, sizeof(mine), 5);
	note("thread_stack", mine);
	sigemptyset(&s);
	sigaddset(&s, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	arrived();
	for (;;)
		sleep(1000);
	return mine;
}

static void *reader(void *arg)
{
	char c;

	(void)arg;
	arrived();
	read(pipefd[0], &c, 1);	/* nobody writes */
	return NULL;
}

static void *crasher(void *arg)
{
	if (arg)
		usleep(100000);	/* after the main thread has gone */
	*(volatile int *)0 = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned char on_stack[40];
	unsigned char *heap, *big;
	pthread_t t[4];
	sigset_t s;
	volatile size_t n;

	if (argc < 3 || !(record = fopen(argv[2], "w")))
		return 2;
	pipe(pipefd);
	heap = malloc(200);
	big = mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!heap || big == MAP_FAILED)
		return 2;
	fill(global_bytes, sizeof(global_bytes), 1);
	fill(heap, 200, 2);
	for (size_t i = 0; i < BIG; i += 4096)
		big[i] = (unsigned char)(i >> 12);	/* every page of it is in the core */
	fill(big + BIG / 2, 64, 3);
	fill(on_stack, sizeof(on_stack), 4);
	note("global", global_bytes);
	note("heap", heap);
	note("big", big + BIG / 2);
	note("stack", on_stack);
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	pthread_create(&t[0], NULL, waiter, NULL);
	pthread_create(&t[1], NULL, sleeper, NULL);
	pthread_create(&t[2], NULL, reader, NULL);
	for (;;) {
		pthread_mutex_lock(&lock);
		n = parked;
		pthread_mutex_unlock(&lock);
		if (n == 3)
			break;
		usleep(1000);
	}
	usleep(50000);	/* let them reach their system calls */
	fclose(record);
	if (!strcmp(argv[1], "thread")) {
		pthread_create(&t[3], NULL, crasher, NULL);
		pthread_join(t[3], NULL);
	} else if (!strcmp(argv[1], "lib")) {
		n = strlen((const char *)(uintptr_t)16);
	} else if (!strcmp(argv[1], "abort")) {
		abort();
	} else if (!strcmp(argv[1], "leader")) {
		pthread_create(&t[3], NULL, crasher, "late");
		pthread_exit(NULL);
	} else {
		*(volatile int *)0 = 1;
	}
	return (int)n + on_stack[0];
}
