/* args_env — saves what the live /proc says about it, then dies: its own /proc/self/cmdline,
 * environ and maps go to files in its cwd, then abort() (or SIGSEGV with argv[1] == "segv"; or,
 * with argv[1] == "wait", prints "ready" and waits to be gcore'd).
 * Built twice in the tests (-DVARIANT=1, -DVARIANT=2) to make a "rebuilt" executable whose
 * text differs. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef VARIANT
#define VARIANT 1
#endif

static void save(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (in < 0 || out < 0)
		exit(2);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			exit(2);
	close(in);
	close(out);
}

int variant_marker(void)
{
	return VARIANT * 0x1234567;
}

int main(int argc, char *argv[])
{
	save("/proc/self/cmdline", "cmdline.live");
	save("/proc/self/environ", "environ.live");
	save("/proc/self/maps", "maps.live");
	if (variant_marker() == 0)
		puts("unreachable");
	if (argc > 1 && !strcmp(argv[1], "segv"))
		*(volatile int *)0 = 0;
	if (argc > 1 && !strcmp(argv[1], "wait")) {
		puts("ready");
		fflush(stdout);
		pause();
	}
	abort();
}
