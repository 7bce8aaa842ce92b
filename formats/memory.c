/* formats/memory.c — memory reads over the core and the mapped files. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memory.h"
#include "util.h"

#define FD_UNOPENED (-1)
#define FD_FAILED (-2)

int memory_init(struct memory *m, const struct core *c, const struct disk_files *files)
{
	memset(m, 0, sizeof(*m));
	m->core = c;
	m->files = files;
	if (files && files->nfiles) {
		m->fds = malloc(files->nfiles * sizeof(int));
		if (!m->fds)
			return -ENOMEM;
		m->nfds = files->nfiles;
		for (size_t i = 0; i < m->nfds; i++)
			m->fds[i] = FD_UNOPENED;
	}
	pthread_mutex_init(&m->lock, NULL);
	return 0;
}

void memory_free(struct memory *m)
{
	for (size_t i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	free(m->fds);
	pthread_mutex_destroy(&m->lock);
	memset(m, 0, sizeof(*m));
}

/* The fd of file i of m->files, read at path (the file found here, or fetched for it). */
static int file_fd(struct memory *m, size_t i, const char *path)
{
	int fd;

	pthread_mutex_lock(&m->lock);
	if (i >= m->nfds) {
		/* A file added after memory_init (found through link_map, files.h). */
		int *fds = realloc(m->fds, (i + 1) * sizeof(*fds));

		if (!fds) {
			pthread_mutex_unlock(&m->lock);
			return FD_FAILED;
		}
		for (size_t k = m->nfds; k <= i; k++)
			fds[k] = FD_UNOPENED;
		m->fds = fds;
		m->nfds = i + 1;
	}
	if (m->fds[i] == FD_UNOPENED) {
		m->fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (m->fds[i] < 0)
			m->fds[i] = FD_FAILED;
	}
	fd = m->fds[i];
	pthread_mutex_unlock(&m->lock);
	return fd;
}

/* The file behind addr and the offset in it, when its bytes may fill in for the core's: the
 * one found here, or the one fetched for it on this first need (files.h); *i its index. */
static const struct disk_file *fill_file(struct memory *m, uint64_t addr, const struct core_segment *s,
					 uint64_t *off, uint64_t *limit, size_t *i)
{
	const struct core_mapped_file *f;
	const struct disk_file *d;

	if (!m->files || !(f = disk_files_mapping_at(m->core, m->files, addr)))
		return NULL;
	/* Bytes the producer meant to write but the file lost (truncation) may have been modified
	 * in memory: only bytes it chose to leave out come from the file. */
	if (s && addr - s->vaddr < s->filesz)
		return NULL;
	d = disk_file_of(m->core, m->files, f);
	if (!d)
		return NULL;
	*i = (size_t)(d - m->files->files);
	d = disk_file_resolve(m->files, d);
	if (!d)
		return NULL;
	*off = f->offset + (addr - f->start);
	*limit = f->end - addr;
	if (s)
		*limit = MIN(*limit, s->vaddr + s->memsz - addr);
	return d;
}

enum mem_source memory_source(struct memory *m, uint64_t addr, uint64_t *run)
{
	const struct core *c = m->core;
	const struct core_segment *s = core_segment_at(c, addr);
	const struct disk_file *d;
	uint64_t off, limit, next;
	size_t i;

	if (s && addr - s->vaddr < s->avail) {
		*run = s->avail - (addr - s->vaddr);
		return MEM_CORE;
	}
	if ((d = fill_file(m, addr, s, &off, &limit, &i))) {
		uint64_t page = c->file_page_size ? c->file_page_size : 4096;
		uint64_t eof_page_end = (d->size + page - 1) / page * page;

		if (off < d->size) {
			*run = MIN(limit, d->size - off);
			return MEM_FILE;
		}
		/* The page holding the file's end reads as zeros past it; later pages do not exist. */
		if (off < eof_page_end) {
			*run = MIN(limit, eof_page_end - off);
			return MEM_ZERO;
		}
	}
	/* A hole: up to the end of the bytes lost to truncation, of this segment's memory, or up
	 * to the next mapping. */
	if (s) {
		uint64_t in = addr - s->vaddr;

		*run = in < s->filesz ? s->filesz - in : s->memsz - in;
		if (*run == 0)
			*run = 1;
		return MEM_NONE;
	}
	next = core_next_mapped(c, addr);
	*run = next > addr ? next - addr : UINT64_MAX - addr;
	if (*run == 0)
		*run = 1;
	return MEM_NONE;
}

ssize_t memory_read(struct memory *m, uint64_t addr, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		uint64_t a = addr + done, run, off, limit;
		size_t n;
		ssize_t r = 0;
		const struct disk_file *d;
		size_t i;
		int fd;

		if (a < addr)
			break;	/* wrapped around the address space */
		switch (memory_source(m, a, &run)) {
		case MEM_NONE:
			return (ssize_t)done;
		case MEM_CORE:
			n = (size_t)MIN(run, (uint64_t)(len - done));
			r = core_read_mem(m->core, a, (char *)buf + done, n);
			break;
		case MEM_ZERO:
			n = (size_t)MIN(run, (uint64_t)(len - done));
			memset((char *)buf + done, 0, n);
			r = (ssize_t)n;
			break;
		case MEM_FILE:
			n = (size_t)MIN(run, (uint64_t)(len - done));
			d = fill_file(m, a, core_segment_at(m->core, a), &off, &limit, &i);
			fd = d ? file_fd(m, i, d->disk_path) : FD_FAILED;
			if (fd < 0)
				return done ? (ssize_t)done : (errno = EIO, -1);
			r = pread_full(fd, (char *)buf + done, n, off);
			break;
		}
		if (r < 0)
			return done ? (ssize_t)done : -1;
		if (r == 0)
			break;
		done += (size_t)r;
		if ((size_t)r < n)
			break;
	}
	return (ssize_t)done;
}

bool memory_next_data(struct memory *m, uint64_t addr, uint64_t *start, uint64_t *end)
{
	uint64_t a = addr, run;
	bool found = false;

	for (;;) {
		enum mem_source src = memory_source(m, a, &run);

		if (src == MEM_NONE) {
			if (found) {
				*end = a;
				return true;
			}
		} else if (!found) {
			found = true;
			*start = a;
		}
		if (a + run < a || a + run == 0) {
			/* Reached the top of the address space. */
			if (found)
				*end = UINT64_MAX;
			return found;
		}
		a += run;
	}
}
