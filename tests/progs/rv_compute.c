/* rv_compute — a multi-threaded computation to gcore while it waits, revive, and let finish.
 *
 *   rv_compute SLEEP_MS < N
 *
 * A reader thread reads N from stdin; a sleeper thread sleeps SLEEP_MS and then lets three
 * workers go, which wait for it on a condition variable; each worker sums i*i + 1 over its
 * third of [0, N) into a mutex-protected total; main joins them all and prints
 * "sum N TOTAL".  On stderr it says "ready" once every thread is parked in its system call
 * (the reader in read, the sleeper in nanosleep, the workers in futex waits, main in join). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 3

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cond = PTHREAD_COND_INITIALIZER;
static int go, waiting;
static unsigned long long n_value, total;
static long sleep_ms;

static void *reader(void *arg)
{
	char buf[64];
	ssize_t got = read(0, buf, sizeof(buf) - 1);

	(void)arg;
	if (got <= 0)
		exit(3);
	buf[got] = 0;
	pthread_mutex_lock(&lock);
	n_value = strtoull(buf, NULL, 10);
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void *sleeper(void *arg)
{
	struct timespec ts = { sleep_ms / 1000, (sleep_ms % 1000) * 1000000 };

	(void)arg;
	nanosleep(&ts, NULL);
	pthread_mutex_lock(&lock);
	go = 1;
	pthread_cond_broadcast(&go_cond);
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void *worker(void *arg)
{
	long k = (long)arg;
	unsigned long long sum = 0, lo, hi;

	pthread_mutex_lock(&lock);
	waiting++;
	while (!go)
		pthread_cond_wait(&go_cond, &lock);
	pthread_mutex_unlock(&lock);
	lo = n_value * k / WORKERS;
	hi = n_value * (k + 1) / WORKERS;
	for (unsigned long long i = lo; i < hi; i++)
		sum += i * i + 1;
	pthread_mutex_lock(&lock);
	total += sum;
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t r, s, w[WORKERS];
	int ready = 0;

	sleep_ms = argc > 1 ? atol(argv[1]) : 1000;
	pthread_create(&r, NULL, reader, NULL);
	for (long k = 0; k < WORKERS; k++)
		pthread_create(&w[k], NULL, worker, (void *)k);
	while (!ready) {
		pthread_mutex_lock(&lock);
		ready = waiting == WORKERS;
		pthread_mutex_unlock(&lock);
		usleep(1000);
	}
	pthread_create(&s, NULL, sleeper, NULL);
	usleep(100000);	/* the sleeper is asleep, the reader in read */
	fprintf(stderr, "ready\n");
	pthread_join(r, NULL);
	pthread_join(s, NULL);
	for (int k = 0; k < WORKERS; k++)
		pthread_join(w[k], NULL);
	printf("sum %llu %llu\n", n_value, total);
	return 0;
}
