/* crashdemo — the sample crash of `make demo`: a small multi-threaded program whose worker
 * thread dereferences a bad pointer while two other threads wait. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_barrier_t ready;
static char message[] = "corefs demo: this string lives in .data";

static void *waiter(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&ready);
	for (;;)
		pause();
	return NULL;
}

static void parse_record(const char *record)
{
	/* The bug: a record without ':' makes strchr return NULL. */
	const char *colon = strchr(record, ':');

	printf("value: %c\n", colon[1]);
}

static void *worker(void *arg)
{
	pthread_barrier_wait(&ready);
	parse_record(arg);
	return NULL;
}

int main(int argc, char *argv[])
{
	pthread_t w1, w2, crasher;
	char *heap = strdup(message);

	(void)argc;
	(void)argv;
	pthread_barrier_init(&ready, NULL, 3);
	pthread_create(&w1, NULL, waiter, NULL);
	pthread_create(&w2, NULL, waiter, NULL);
	pthread_create(&crasher, NULL, worker, "no separator here");
	pthread_join(crasher, NULL);
	puts(heap);
	return 0;
}
