/* tests/unit/unit.h — the smallest harness that does the job: CHECK macros that report and go
 * on, one function per test run by RUN, and a summary whose exit status is non-zero when any
 * check failed.  Failures go to stderr with file:line and both values. */
#ifndef COREFS_UNIT_H
#define COREFS_UNIT_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int unit_checks, unit_failures;
static const char *unit_current = "";

static bool unit_report(bool ok, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static bool unit_report(bool ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	unit_checks++;
	if (ok)
		return true;
	unit_failures++;
	fprintf(stderr, "%s:%d: %s: ", file, line, unit_current);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return false;
}

/* Each returns whether the check held, so a test can stop before using what failed. */
#define CHECK(cond) unit_report(!!(cond), __FILE__, __LINE__, "CHECK(%s) failed", #cond)

#define CHECK_U64(a, b)                                                                           \
	({                                                                                         \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                   \
		unit_report(a_ == b_, __FILE__, __LINE__, "%s == %s: 0x%" PRIx64 " != 0x%" PRIx64, \
			    #a, #b, a_, b_);                                                       \
	})

#define CHECK_I64(a, b)                                                                           \
	({                                                                                         \
		int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);                                      \
		unit_report(a_ == b_, __FILE__, __LINE__, "%s == %s: %" PRId64 " != %" PRId64, #a, \
			    #b, a_, b_);                                                           \
	})

#define CHECK_STR(a, b)                                                                           \
	({                                                                                         \
		const char *a_ = (a), *b_ = (b);                                                   \
		unit_report(a_ && b_ && !strcmp(a_, b_), __FILE__, __LINE__,                       \
			    "%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",              \
			    b_ ? b_ : "(null)");                                                   \
	})

/* Bytes: on failure the first differing offset. */
#define CHECK_MEM(a, b, n)                                                                        \
	({                                                                                         \
		const unsigned char *a_ = (const void *)(a), *b_ = (const void *)(b);              \
		size_t n_ = (n), i_ = 0;                                                           \
		while (i_ < n_ && a_[i_] == b_[i_])                                                \
			i_++;                                                                      \
		unit_report(i_ == n_, __FILE__, __LINE__, "%s == %s (%zu bytes): differ at %zu",   \
			    #a, #b, n_, i_);                                                       \
	})

/* A string that must contain another. */
#define CHECK_CONTAINS(hay, needle)                                                               \
	({                                                                                         \
		const char *h_ = (hay), *n_ = (needle);                                            \
		unit_report(h_ && n_ && strstr(h_, n_), __FILE__, __LINE__,                        \
			    "%s contains %s: \"%s\" lacks \"%s\"", #hay, #needle,                  \
			    h_ ? h_ : "(null)", n_ ? n_ : "(null)");                               \
	})

#define RUN(test)                                 \
	do {                                      \
		int before_ = unit_failures;      \
		unit_current = #test;             \
		test();                           \
		printf("%s %s\n", unit_failures == before_ ? "ok  " : "FAIL", #test); \
	} while (0)

/* Print the totals; the value to return from main. */
static inline int unit_summary(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, unit_checks, unit_failures);
	return unit_failures ? 1 : 0;
}

#endif
