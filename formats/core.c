/* formats/core.c — open and close a core (dump.c reads it), and the queries every consumer of the
 * model uses. */
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "dump.h"
#include "remote.h"
#include "util.h"

int core_open(const char *path, struct core **out, struct core_error *err)
{
	struct core *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return core_fail(err, CORE_E_NOMEM, "%s: out of memory", path);
	c->fd = -1;
	c->path = strdup(path);
	if (!c->path)
		core_fail(err, CORE_E_NOMEM, "%s: out of memory", path);
	if (!c->path || dump_read(c, err) < 0) {
		core_close(c);
		return -1;
	}
	*out = c;
	return 0;
}

void core_close(struct core *c)
{
	if (!c)
		return;
	dump_close(c);
	for (size_t i = 0; i < c->nthreads; i++)
		free(c->threads[i].regsets);
	free(c->threads);
	for (size_t i = 0; i < c->nfiles; i++)
		free(c->files[i].path);
	free(c->files);
	free(c->file_by_addr);
	for (size_t i = 0; i < c->nnotes; i++)
		free((char *)c->notes[i].owner);
	free(c->notes);
	for (size_t i = 0; i < c->nproblems; i++)
		free(c->problems[i]);
	free(c->problems);
	free(c->auxv);
	free(c->segs);
	free(c->seg_by_addr);
	if (c->fd >= 0)
		close(c->fd);
	remote_close(c->origin);
	free(c->path);
	free(c);
}

ssize_t core_pread(const struct core *c, void *buf, size_t n, uint64_t off)
{
	return c->remote ? remote_pread(c->remote, buf, n, off) : pread_full(c->fd, buf, n, off);
}

/* How many entries of an index sorted by address have their address <= addr: the entry that may
 * contain addr is the last of them.  key_off locates the address inside an element of base. */
static size_t count_at_or_below(const size_t *index, size_t n, const void *base, size_t stride,
				size_t key_off, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t key;

		memcpy(&key, (const char *)base + index[mid] * stride + key_off, sizeof(key));
		if (key <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct core_segment *core_segment_at(const struct core *c, uint64_t addr)
{
	size_t i = count_at_or_below(c->seg_by_addr, c->nsegs, c->segs, sizeof(*c->segs),
				     offsetof(struct core_segment, vaddr), addr);
	const struct core_segment *s;

	if (i == 0)
		return NULL;
	s = &c->segs[c->seg_by_addr[i - 1]];
	return addr - s->vaddr < s->memsz ? s : NULL;
}

const void *core_mem_ptr(const struct core *c, uint64_t addr, size_t len)
{
	const struct core_segment *s;
	uint64_t in;

	if (!c->image || !(s = core_segment_at(c, addr)))
		return NULL;
	in = addr - s->vaddr;
	if (in >= s->avail || len > s->avail - in)
		return NULL;
	return c->image + s->offset + in;
}

bool core_file_data(const struct core *c, uint64_t off, uint64_t end, uint64_t *start,
		    uint64_t *stop)
{
	off_t data, hole;

	if (off >= end || end > (uint64_t)INT64_MAX)
		return false;
	if (c->remote) {
		*start = off;	/* an object keeps no holes: all of it is data */
		*stop = end;
		return true;
	}
	data = lseek(c->fd, (off_t)off, SEEK_DATA);
	if (data < 0 && errno == ENXIO)
		return false;
	if (data < 0 || (hole = lseek(c->fd, data, SEEK_HOLE)) <= data) {
		*start = off;	/* no answer: all of it is data */
		*stop = end;
		return true;
	}
	if ((uint64_t)data >= end)
		return false;
	*start = (uint64_t)data;
	*stop = MIN((uint64_t)hole, end);
	return true;
}

bool core_still_whole(const struct core *c)
{
	struct stat st;

	/* A remote object is pinned: one that changed fails its reads (remote.h). */
	if (c->remote)
		return true;
	return fstat(c->fd, &st) == 0 && (uint64_t)st.st_size >= c->file_size;
}

ssize_t core_read_mem(const struct core *c, uint64_t addr, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		const struct core_segment *s = core_segment_at(c, addr + done);
		uint64_t in, n;
		ssize_t r;

		if (!s)
			break;
		in = addr + done - s->vaddr;
		if (in >= s->avail)
			break;
		n = MIN(s->avail - in, (uint64_t)(len - done));
		r = core_pread(c, (char *)buf + done, (size_t)n, s->offset + in);
		if (r < 0) {
			if (done)
				break;
			return -1;
		}
		if (r == 0)
			break;	/* the file shrank under us */
		done += (size_t)r;
		if (addr + done < addr)
			break;	/* wrapped around the address space */
	}
	return (ssize_t)done;
}

bool core_auxv(const struct core *c, uint64_t type, uint64_t *value)
{
	for (size_t i = 0; i < c->nauxv; i++)
		if (c->auxv[i].type == type) {
			*value = c->auxv[i].value;
			return true;
		}
	return false;
}

const struct core_thread *core_main_thread(const struct core *c)
{
	for (size_t i = 0; i < c->nthreads; i++)
		if (c->threads[i].tid == c->pid)
			return &c->threads[i];
	return c->nthreads ? &c->threads[0] : NULL;
}

const struct core_mapped_file *core_file_at(const struct core *c, uint64_t addr)
{
	size_t i;
	const struct core_mapped_file *f;

	if (!c->file_by_addr)
		return NULL;
	/* NT_FILE entries do not overlap: only the last one starting at or below addr can hold it. */
	i = count_at_or_below(c->file_by_addr, c->nfiles, c->files, sizeof(*c->files),
			      offsetof(struct core_mapped_file, start), addr);
	if (i == 0)
		return NULL;
	f = &c->files[c->file_by_addr[i - 1]];
	return addr < f->end ? f : NULL;
}

uint64_t core_next_mapped(const struct core *c, uint64_t addr)
{
	uint64_t best = 0;
	size_t i;

	i = count_at_or_below(c->seg_by_addr, c->nsegs, c->segs, sizeof(*c->segs),
			      offsetof(struct core_segment, vaddr), addr);
	if (i < c->nsegs)
		best = c->segs[c->seg_by_addr[i]].vaddr;
	if (c->file_by_addr) {
		i = count_at_or_below(c->file_by_addr, c->nfiles, c->files, sizeof(*c->files),
				      offsetof(struct core_mapped_file, start), addr);
		if (i < c->nfiles && (!best || c->files[c->file_by_addr[i]].start < best))
			best = c->files[c->file_by_addr[i]].start;
	}
	return best;
}

const char *core_exe_path(const struct core *c)
{
	const struct core_mapped_file *f = NULL;
	uint64_t v;

	if (core_auxv(c, AT_PHDR, &v))
		f = core_file_at(c, v);
	if (!f && core_auxv(c, AT_ENTRY, &v))
		f = core_file_at(c, v);
	return f ? f->path : NULL;
}
