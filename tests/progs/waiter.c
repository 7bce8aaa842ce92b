/* waiter — saves its own /proc/self/comm, says "ready" on stdout, then waits to be gcore'd and
 * killed. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	char comm[64];
	int in = open("/proc/self/comm", O_RDONLY), out = open("comm.live", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n = read(in, comm, sizeof(comm));

	if (n <= 0 || write(out, comm, (size_t)n) != n)
		return 2;
	close(in);
	close(out);
	puts("ready");
	fflush(stdout);
	for (;;)
		pause();
}
