/* formats/internal.c — what the readers share to build the model (internal.h): problems, the
 * segments' address index with its truncation report, and the thread and register-set arrays. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "util.h"

int core_problem(struct core *c, const char *fmt, ...)
{
	va_list ap;
	char *s;
	char **grown;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		return -1;
	grown = realloc(c->problems, (c->nproblems + 1) * sizeof(*grown));
	if (!grown) {
		free(s);
		return -1;
	}
	c->problems = grown;
	c->problems[c->nproblems++] = s;
	return 0;
}

void core_segment_settle(const struct core *c, struct core_segment *s)
{
	s->filesz = MIN(s->filesz, s->memsz);
	if (s->vaddr + s->memsz < s->vaddr) {
		/* Wraps around the address space: keep what fits. */
		s->memsz = UINT64_MAX - s->vaddr + 1;
		s->filesz = MIN(s->filesz, s->memsz);
	}
	s->avail = s->offset >= c->file_size ? 0 : MIN(s->filesz, c->file_size - s->offset);
}

static int cmp_seg(const void *a, const void *b, void *arg)
{
	const struct core_segment *segs = arg;
	uint64_t x = segs[*(const size_t *)a].vaddr, y = segs[*(const size_t *)b].vaddr;

	return x < y ? -1 : x > y;
}

int core_index_segments(struct core *c, struct core_error *err)
{
	size_t truncated = 0, absent = 0;
	uint64_t missing = 0;

	c->seg_by_addr = malloc((c->nsegs ? c->nsegs : 1) * sizeof(size_t));
	if (!c->seg_by_addr)
		return core_fail(err, CORE_E_NOMEM, "%s: out of memory", c->path);
	for (size_t i = 0; i < c->nsegs; i++) {
		const struct core_segment *s = &c->segs[i];

		c->seg_by_addr[i] = i;
		if (s->avail < s->filesz) {
			truncated++;
			absent += s->avail == 0;
			missing += s->filesz - s->avail;
		}
	}
	qsort_r(c->seg_by_addr, c->nsegs, sizeof(size_t), cmp_seg, c->segs);
	if (truncated)
		core_problem(c,
			     "truncated: %zu of %zu segments lie past the end of the file (%zu wholly), "
			     "0x%" PRIx64 " bytes missing",
			     truncated, c->nsegs, absent, missing);
	return 0;
}

struct core_thread *core_new_thread(struct core *c, size_t *cap)
{
	if (c->nthreads == *cap) {
		size_t ncap = *cap ? 2 * *cap : 8;
		struct core_thread *grown = realloc(c->threads, ncap * sizeof(*grown));

		if (!grown)
			return NULL;
		c->threads = grown;
		*cap = ncap;
	}
	memset(&c->threads[c->nthreads], 0, sizeof(c->threads[0]));
	return &c->threads[c->nthreads++];
}

int core_add_regset(struct core_thread *t, const struct core_note *n)
{
	/* Capacity 4, then doubling whenever the count reaches a power of two: a hostile core
	 * may hang thousands of notes on one thread. */
	if (t->nregsets == 0 || (t->nregsets >= 4 && (t->nregsets & (t->nregsets - 1)) == 0)) {
		size_t cap = t->nregsets ? 2 * t->nregsets : 4;
		struct core_regset *grown = realloc(t->regsets, cap * sizeof(*grown));

		if (!grown)
			return -1;
		t->regsets = grown;
	}
	t->regsets[t->nregsets++] = (struct core_regset){
		.type = n->type, .name = n->name, .owner = n->owner, .data = n->desc, .size = n->size,
	};
	return 0;
}

static int cmp_file(const void *a, const void *b, void *arg)
{
	const struct core_mapped_file *f = arg;
	uint64_t x = f[*(const size_t *)a].start, y = f[*(const size_t *)b].start;

	return x < y ? -1 : x > y;
}

int core_index_files(struct core *c, struct core_error *err)
{
	c->file_by_addr = malloc((c->nfiles ? c->nfiles : 1) * sizeof(size_t));
	if (!c->file_by_addr)
		return core_fail(err, CORE_E_NOMEM, "%s: out of memory", c->path);
	for (size_t i = 0; i < c->nfiles; i++)
		c->file_by_addr[i] = i;
	qsort_r(c->file_by_addr, c->nfiles, sizeof(size_t), cmp_file, c->files);
	return 0;
}
