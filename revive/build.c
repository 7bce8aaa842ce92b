/* revive/build.c — how a step of a revival fails (fail: the one error, then undo) and how it
 * records what will not be restored (lost: a sentence for revive_lost). */
#include <stdarg.h>
#include <stdio.h>

#include "build.h"

int fail(struct build *b, int errnum, const char *fmt, ...)
{
	va_list ap;
	int n;

	b->err->err = errnum;
	n = snprintf(b->err->msg, sizeof(b->err->msg), "revive: ");
	va_start(ap, fmt);
	vsnprintf(b->err->msg + n, sizeof(b->err->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

void lost(struct build *b, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	plan_lost(&b->plan, "%s", buf);
}
