/* revive/util.c — small helpers: descriptors, waiting, the threads of a process, errors. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

void close_all_but(const int *keep, int n)
{
	unsigned lo = 0;

	for (;;) {
		unsigned next = ~0u;	/* the lowest kept descriptor at or above lo */

		for (int i = 0; i < n; i++)
			if (keep[i] >= 0 && (unsigned)keep[i] >= lo && (unsigned)keep[i] < next)
				next = (unsigned)keep[i];
		if (next == ~0u) {
			syscall(SYS_close_range, lo, ~0u, 0);
			return;
		}
		if (next > lo)
			syscall(SYS_close_range, lo, next - 1, 0);
		lo = next + 1;
	}
}

pid_t wait_tid(pid_t tid, int *status)
{
	pid_t w;

	do
		w = waitpid(tid, status, __WALL);
	while (w < 0 && errno == EINTR);
	return w;
}

void sleep_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

size_t task_tids(pid_t pid, pid_t *tids, size_t n)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	size_t k = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		long t = strtol(e->d_name, NULL, 10);

		if (t <= 0)
			continue;
		if (k < n)
			tids[k] = (pid_t)t;
		k++;
	}
	if (d)
		closedir(d);
	return k;
}

int revive_fail(struct revive_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;

	err->err = errnum;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}
