/* formats/error.c — the messages of the CORE_ERRORS table and the helper that records one. */
#include <stdio.h>
#include <string.h>

#include "error.h"

#define CORE_ERROR(name, text) [CORE_E_##name] = text,
static const char *const core_error_texts[] = { CORE_ERRORS };
#undef CORE_ERROR

const char *core_strerror(enum core_errno code)
{
	if ((unsigned)code >= CORE_E_NUM)
		return "unknown error";
	return core_error_texts[code];
}

int core_fail(struct core_error *err, enum core_errno code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}
