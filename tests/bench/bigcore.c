/* bigcore — make a kernel core of about SIZE MiB (argv[1], default 1024): one anonymous region
 * filled with a known pattern (every 8 bytes hold their own address), then SIGSEGV.
 * Prints the region's address and size on stdout before dying. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

int main(int argc, char *argv[])
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
	size_t size = mib << 20;
	uint64_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 1;
	for (size_t i = 0; i < size / 8; i++)
		p[i] = (uint64_t)(uintptr_t)&p[i];
	printf("%p %zu\n", (void *)p, size);
	fflush(stdout);
	*(volatile int *)0 = 0;
	return 0;
}
