/* rm_big — a large multi-threaded kernel core for the remote-source tests and bench (issue 13).
 *
 *   rm_big MIB RECORD
 *
 * mallocs MIB MiB and writes every 8 bytes of it with their own address (so any byte of the
 * core's copy says where it belongs), parks three threads in system calls (a futex wait, a
 * sleep, a read from a pipe nobody writes), writes "region 0xADDR SIZE" to RECORD, then the main
 * thread writes to address 0. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int parked;
static int pipefd[2];

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
	(void)arg;
	arrived();
	for (;;)
		sleep(1000);
	return NULL;
}

static void *reader(void *arg)
{
	char c;

	(void)arg;
	arrived();
	if (read(pipefd[0], &c, 1) < 0)	/* nobody writes */
		return NULL;
	return NULL;
}

int main(int argc, char **argv)
{
	size_t size = argc > 1 ? strtoul(argv[1], NULL, 10) << 20 : 256u << 20;
	FILE *record = argc > 2 ? fopen(argv[2], "w") : NULL;
	pthread_t t[3];
	uint64_t *p;
	int n;

	if (!record || pipe(pipefd) != 0 || !(p = malloc(size)))
		return 2;
	for (size_t i = 0; i < size / 8; i++)
		p[i] = (uint64_t)(uintptr_t)&p[i];
	pthread_create(&t[0], NULL, waiter, NULL);
	pthread_create(&t[1], NULL, sleeper, NULL);
	pthread_create(&t[2], NULL, reader, NULL);
	do {
		usleep(1000);
		pthread_mutex_lock(&lock);
		n = parked;
		pthread_mutex_unlock(&lock);
	} while (n < 3);
	usleep(50000);	/* let them reach their system calls */
	fprintf(record, "region %p %zu\n", (void *)p, size);
	fclose(record);
	*(volatile int *)0 = 1;
	return 0;
}
