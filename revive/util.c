/* revive/util.c — small process helpers. */
#include <sys/syscall.h>
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
