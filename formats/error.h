/* formats/error.h — errors are values: a code from one X-macro table and a one-line message.
 *
 * The table generates both the enum and the default texts (as elfutils' DWFL_ERRORS does), so a
 * new error is one row.  Readers fill a struct core_error with the code and a message that names
 * the file and the problem; callers print err.msg and exit, or map the code to an errno. */
#ifndef COREFS_ERROR_H
#define COREFS_ERROR_H

#include <stdarg.h>

#define CORE_ERRORS                                                                  \
	CORE_ERROR(OK, "no error")                                                   \
	CORE_ERROR(NOMEM, "out of memory")                                           \
	CORE_ERROR(IO, "I/O error")                                                  \
	CORE_ERROR(EMPTY, "file is empty")                                           \
	CORE_ERROR(NOT_CORE, "not a core dump")                                      \
	CORE_ERROR(UNSUPPORTED, "unsupported dump format")                           \
	CORE_ERROR(NOT_PROCESS, "not a process core")                                \
	CORE_ERROR(TRUNCATED, "file truncated")                                      \
	CORE_ERROR(CORRUPT, "malformed core")                                        \
	CORE_ERROR(TOO_LARGE, "decompressed core too large")

#define CORE_ERROR(name, text) CORE_E_##name,
enum core_errno { CORE_ERRORS CORE_E_NUM };
#undef CORE_ERROR

struct core_error {
	enum core_errno code;
	char msg[512];
};

const char *core_strerror(enum core_errno code);

/* Record an error; always returns -1 so a failing path is one line: return core_fail(err, ...). */
int core_fail(struct core_error *err, enum core_errno code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
