/* gcore_rss.c — a process with a large zeroed allocation it never touches, for Rss of gcore
 * cores: 64 MiB from calloc (a fresh mapping: the kernel hands out zero pages on demand, so
 * calloc writes nothing), of which the first MiB is written.  It copies its own statm, status,
 * stat, smaps and smaps_rollup into the working directory (live-NAME), prints "ready" and waits
 * to be dumped by gcore. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "liveproc.h"

#define BIG (64u << 20)
#define TOUCHED (1u << 20)

int main(void)
{
	static const char *const names[] = { "statm", "status", "stat", "smaps", "smaps_rollup" };
	unsigned char *big = calloc(1, BIG);
	char src[64], dst[64];

	if (!big)
		die("calloc");
	memset(big, 0xa5, TOUCHED);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(src, sizeof(src), "/proc/self/%s", names[i]);
		snprintf(dst, sizeof(dst), "live-%s", names[i]);
		copy_proc(src, dst);
	}
	(void)thread_state;
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
