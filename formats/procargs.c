/* formats/procargs.c — find argv and envp on the stack of a dead process. */
#include <elf.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procargs.h"
#include "util.h"

#define SEARCH_CHUNK (64u * 1024)
/* The strings and vectors of a new process fit in a quarter of the stack limit; 8 MiB is
 * ARG_MAX's ceiling for the usual limits, and bounds the search. */
#define SEARCH_LIMIT (UINT64_C(8) << 20)

static void why(struct proc_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void why(struct proc_args *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->why, sizeof(a->why), fmt, ap);
	va_end(ap);
}

static bool read_word(struct memory *mem, const struct core *c, uint64_t addr, unsigned word,
		      uint64_t *v)
{
	unsigned char b[8];

	if (memory_read(mem, addr, b, word) != (ssize_t)word)
		return false;
	*v = core_get(c, b, word);
	return true;
}

/* The bytes of the auxv up to and including its first AT_NULL entry: what the stack holds.  The
 * note may hold more entries of zeros (gdb's gcore of an i386 process copies
 * /proc/PID/auxv, which counts a compat process's saved auxv in the kernel's longs). */
static size_t auxv_used(const struct core *c, unsigned w)
{
	for (size_t off = 0; off + 2 * w <= c->auxv_size; off += 2 * w)
		if (core_get(c, c->auxv_raw + off, w) == AT_NULL)
			return off + 2 * w;
	return c->auxv_size;
}

/* Search [lo, hi) downwards from hi for the bytes of the saved auxv; returns its address or 0. */
static uint64_t find_auxv(struct memory *mem, const struct core *c, unsigned w, uint64_t lo,
			  uint64_t hi)
{
	size_t n = auxv_used(c, w), chunk = SEARCH_CHUNK + n;
	unsigned char *buf = malloc(chunk);
	uint64_t found = 0;

	if (!buf)
		return 0;
	while (hi > lo && !found) {
		uint64_t start = hi - lo > SEARCH_CHUNK ? hi - SEARCH_CHUNK : lo;
		size_t want = (size_t)MIN((uint64_t)chunk, UINT64_MAX - start);
		ssize_t got = memory_read(mem, start, buf, want);

		if (got < (ssize_t)n)
			break;
		/* The last match in this chunk is the closest to the top. */
		for (const unsigned char *p = buf, *end = buf + got; p + n <= end;) {
			const unsigned char *m = memmem(p, (size_t)(end - p), c->auxv_raw, n);

			if (!m)
				break;
			found = start + (uint64_t)(m - buf);
			p = m + 1;
		}
		hi = start;
	}
	free(buf);
	return found;
}

static bool points_above(uint64_t p, uint64_t floor, uint64_t top)
{
	return p > floor && p < top;
}

/* Length of the string at addr including its NUL, 0 when it does not end below limit. */
static uint64_t string_size(struct memory *mem, uint64_t addr, uint64_t limit)
{
	char buf[256];
	uint64_t done = 0;

	while (addr + done < limit) {
		size_t want = (size_t)MIN((uint64_t)sizeof(buf), limit - addr - done);
		ssize_t got = memory_read(mem, addr + done, buf, want);
		char *nul;

		if (got <= 0)
			return 0;
		nul = memchr(buf, '\0', (size_t)got);
		if (nul)
			return done + (uint64_t)(nul - buf) + 1;
		done += (uint64_t)got;
	}
	return 0;
}

/* The stack's segment, with a->auxv_addr set to where the saved auxv's copy lies on it; NULL
 * with a->why set when it cannot be found. */
static const struct core_segment *stack_auxv(struct memory *mem, const struct core *c, unsigned w,
					     struct proc_args *a)
{
	const struct core_segment *s;
	uint64_t top, lo;

	if (!c->auxv_raw || c->auxv_size < 2 * w) {
		why(a, "the core has no auxv to find on the stack");
		return NULL;
	}
	if (!core_auxv(c, AT_EXECFN, &top) && !core_auxv(c, AT_RANDOM, &top)) {
		why(a, "the auxv has neither AT_EXECFN nor AT_RANDOM");
		return NULL;
	}
	s = core_segment_at(c, top);
	if (!s || top - s->vaddr >= s->avail) {
		why(a, "the core does not hold the top of the stack (0x%" PRIx64 ")", top);
		return NULL;
	}
	lo = top - s->vaddr > SEARCH_LIMIT ? top - SEARCH_LIMIT : s->vaddr;
	a->auxv_addr = find_auxv(mem, c, w, lo, top);
	if (!a->auxv_addr) {
		why(a, "no copy of the saved auxv on the stack below 0x%" PRIx64, top);
		return NULL;
	}
	return s;
}

void procargs_find(struct memory *mem, const struct core *c, struct proc_args *a)
{
	const struct core_segment *s;
	unsigned w = c->auxv_word ? c->auxv_word : c->word;
	uint64_t top, p, v, envp0 = 0, argv0 = 0, last_env = 0, last_arg = 0;
	uint64_t nenv = 0, narg = 0;

	memset(a, 0, sizeof(*a));
	s = stack_auxv(mem, c, w, a);
	if (!s)
		return;
	/* envp[] ends right below the auxv; its pointers point above it, into the strings. */
	top = s->vaddr + s->memsz;
	p = a->auxv_addr - w;
	if (!read_word(mem, c, p, w, &v) || v != 0) {
		why(a, "no NULL ending envp below the auxv at 0x%" PRIx64, a->auxv_addr);
		return;
	}
	for (p -= w; p >= s->vaddr; p -= w) {
		if (!read_word(mem, c, p, w, &v)) {
			why(a, "stack unreadable at 0x%" PRIx64, p);
			return;
		}
		if (v == 0)
			break;	/* the NULL ending argv */
		if (!points_above(v, a->auxv_addr, top)) {
			why(a, "envp entry at 0x%" PRIx64 " does not point into the strings", p);
			return;
		}
		if (!nenv++)
			last_env = v;
		envp0 = v;
	}
	for (p -= w; p >= s->vaddr; p -= w) {
		if (!read_word(mem, c, p, w, &v)) {
			why(a, "stack unreadable at 0x%" PRIx64, p);
			return;
		}
		if (v == narg)
			break;	/* argc */
		if (!points_above(v, a->auxv_addr, top)) {
			why(a, "argv entry at 0x%" PRIx64 " is neither a string pointer nor argc", p);
			return;
		}
		if (!narg++)
			last_arg = v;
		argv0 = v;
	}
	if (v != narg || narg == 0) {
		why(a, "argc not found below argv");
		return;
	}
	a->argc = narg;
	a->envc = nenv;
	a->arg_start = argv0;
	if (nenv) {
		uint64_t n = string_size(mem, last_env, top);

		a->arg_end = a->env_start = envp0;
		a->env_end = last_env + n;
	} else {
		uint64_t n = string_size(mem, last_arg, top);

		a->arg_end = a->env_start = a->env_end = last_arg + n;
	}
	if (a->arg_end < a->arg_start || a->env_end < a->env_start) {
		why(a, "argument and environment strings are not in order");
		return;
	}
	a->found = true;
}
