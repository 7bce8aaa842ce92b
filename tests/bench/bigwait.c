/* bigwait — a running process holding about SIZE MiB (argv[1], default 1024) for gcore: one
 * anonymous region filled like bigcore's (every 8 bytes hold their own address), two threads.
 * Prints the region's address and size on stdout, then waits until killed. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static void *idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char *argv[])
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
	size_t size = mib << 20;
	uint64_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t t;

	if (p == MAP_FAILED)
		return 1;
	for (size_t i = 0; i < size / 8; i++)
		p[i] = (uint64_t)(uintptr_t)&p[i];
	pthread_create(&t, NULL, idle, NULL);
	printf("%p %zu\n", (void *)p, size);
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}
