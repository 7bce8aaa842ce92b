/* revive/build.c — how a step of a revival fails (fail: the one error, then undo) and how it
 * records what will not be restored (lost: a sentence for revive_lost). */
#include <stdarg.h>
#include <stdio.h>

#include "build.h"
#include "util.h"

int fail(struct build *b, int errnum, const char *fmt, ...)
{
	char msg[sizeof(b->err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return revive_fail(b->err, errnum, "revive: %s", msg);
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
