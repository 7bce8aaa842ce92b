/* formats/resident.c — resident pages per segment: the data runs of a kernel core, the pages
 * that are not all zeros of a gcore core (resident.h says why). */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "resident.h"
#include "util.h"

#define CHUNK (1u << 20)	/* bytes of a gcore core read at a time */

struct resident {
	const struct core *core;
	uint64_t page;
	pthread_mutex_t lock;
	bool counted;
	uint64_t *pages;	/* per segment, in the core's order */
};

uint64_t resident_page_size(const struct core *c)
{
	uint64_t p = c->file_page_size;

	if (p >= 4096 && p <= (1u << 20) && !(p & (p - 1)))
		return p;
	return 4096;
}

struct resident *resident_new(const struct core *c)
{
	struct resident *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->pages = calloc(c->nsegs ? c->nsegs : 1, sizeof(*r->pages));
	if (!r->pages) {
		free(r);
		return NULL;
	}
	r->core = c;
	r->page = resident_page_size(c);
	pthread_mutex_init(&r->lock, NULL);
	return r;
}

void resident_free(struct resident *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r->pages);
	free(r);
}

/* A kernel core: the bytes of the segment the file holds as data, in pages (rounded up: a
 * truncated core may end inside a page).  Where the file system reports no holes (or the core
 * was copied without them) every byte counts. */
static uint64_t data_pages(const struct core *c, const struct core_segment *s, uint64_t page)
{
	uint64_t pos, start, stop, total = 0;

	for (pos = s->offset; core_file_data(c, pos, s->offset + s->avail, &start, &stop);
	     pos = stop)
		total += stop - start;
	return total / page + (total % page != 0);
}

static bool all_zero(const unsigned char *p, size_t n)
{
	return !n || (!p[0] && !memcmp(p, p + 1, n - 1));
}

/* A gcore core: the memory pages of the segment with a byte other than zero.  Holes read as
 * zeros, so only the data runs are read; a page may lie across runs (gdb writes segments at
 * any offset), so *last remembers the last page counted.  buf holds CHUNK bytes. */
static uint64_t nonzero_pages(const struct core *c, const struct core_segment *s, uint64_t page,
			      unsigned char *buf)
{
	uint64_t base = s->vaddr & ~(page - 1), pos, start, stop, n = 0, last = UINT64_MAX;

	for (pos = s->offset; core_file_data(c, pos, s->offset + s->avail, &start, &stop);
	     pos = stop) {
		for (uint64_t off = start; off < stop;) {
			uint64_t addr = s->vaddr + (off - s->offset);
			/* Up to CHUNK bytes, ending at a page boundary when more follow. */
			uint64_t end = MIN(stop, off + CHUNK - (addr - base) % page);
			ssize_t got = core_pread(c, buf, end - off, off);

			if (got <= 0) {
				/* Unreadable now: count the rest of the run as the data it is. */
				uint64_t first = (addr - base) / page;
				uint64_t final = (s->vaddr + (stop - 1 - s->offset) - base) / page;

				n += final - first + 1 - (first == last);
				last = final;
				break;
			}
			for (uint64_t i = 0; i < (uint64_t)got;) {
				uint64_t a = addr + i, idx = (a - base) / page;
				uint64_t len = MIN((uint64_t)got - i, page - (a - base) % page);

				if (idx != last && !all_zero(buf + i, len)) {
					n++;
					last = idx;
				}
				i += len;
			}
			off += (uint64_t)got;
		}
	}
	return n;
}

static void count(struct resident *r)
{
	const struct core *c = r->core;
	unsigned char *buf = NULL;

	/* Not for a remote core: reading every byte to count pages would fetch the whole object
	 * (its pages count as a kernel core's do: all it holds). */
	if (c->producer == CORE_BY_GDB && !c->remote)
		buf = malloc(CHUNK);
	for (size_t i = 0; i < c->nsegs; i++) {
		const struct core_segment *s = &c->segs[i];

		if (!s->avail || s->offset > UINT64_MAX - s->avail)
			continue;
		/* Without a buffer (out of memory) a gcore core counts as a kernel core does. */
		r->pages[i] = buf ? nonzero_pages(c, s, r->page, buf) : data_pages(c, s, r->page);
	}
	free(buf);
	r->counted = true;
}

uint64_t resident_pages(struct resident *r, const struct core_segment *s)
{
	const struct core *c = r->core;
	uint64_t n;

	if (s < c->segs || s >= c->segs + c->nsegs)
		return 0;
	pthread_mutex_lock(&r->lock);
	if (!r->counted)
		count(r);
	n = r->pages[s - c->segs];
	pthread_mutex_unlock(&r->lock);
	return n;
}
