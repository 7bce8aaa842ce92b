/* formats/core.c — open a dump by its magic, and the queries every consumer of the model uses. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <fcntl.h>
#include <libelf.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compressed.h"
#include "core.h"
#include "elfcore.h"
#include "internal.h"
#include "macho.h"
#include "util.h"

#define AT_PHDR_ 3
#define AT_ENTRY_ 9

static int cmp_file(const void *a, const void *b, void *arg)
{
	const struct core_mapped_file *f = arg;
	uint64_t x = f[*(const size_t *)a].start, y = f[*(const size_t *)b].start;

	return x < y ? -1 : x > y;
}

/* Index the NT_FILE entries by address, whatever order the producer wrote them in. */
static int index_files(struct core *c, struct core_error *err)
{
	c->file_by_addr = malloc((c->nfiles ? c->nfiles : 1) * sizeof(size_t));
	if (!c->file_by_addr)
		return core_fail(err, CORE_E_NOMEM, "%s: out of memory", c->path);
	for (size_t i = 0; i < c->nfiles; i++)
		c->file_by_addr[i] = i;
	qsort_r(c->file_by_addr, c->nfiles, sizeof(size_t), cmp_file, c->files);
	return 0;
}

typedef int core_reader(struct core *c, struct core_error *err);

/* The reader for this file, chosen by its magic; NULL with err filled when there is none. */
static core_reader *identify(struct core *c, struct core_error *err)
{
	unsigned char magic[8] = { 0 };
	ssize_t n = pread(c->fd, magic, sizeof(magic), 0);

	if (n < 0) {
		core_fail(err, CORE_E_IO, "%s: %s", c->path, strerror(errno));
		return NULL;
	}
	if (n >= 4 && !memcmp(magic, "\177ELF", 4))
		return elfcore_read;
	if (n >= 4 && !memcmp(magic, "\xcf\xfa\xed\xfe", 4))
		return macho_read;	/* MH_MAGIC_64, little-endian */
	if (n >= 4 && !memcmp(magic, "MDMP", 4))
		core_fail(err, CORE_E_UNSUPPORTED,
			  "%s: a minidump (MDMP), not a core: minidumps are not supported", c->path);
	else if (n >= 4 && !memcmp(magic, "\xfe\xed\xfa\xcf", 4))
		core_fail(err, CORE_E_UNSUPPORTED, "%s: a big-endian 64-bit Mach-O file: only "
			  "little-endian Mach-O cores are supported", c->path);
	else if (n >= 4 && (!memcmp(magic, "\xce\xfa\xed\xfe", 4) || !memcmp(magic, "\xfe\xed\xfa\xce", 4)))
		core_fail(err, CORE_E_UNSUPPORTED, "%s: a 32-bit Mach-O file: only 64-bit Mach-O cores "
			  "are supported", c->path);
	else
		core_fail(err, CORE_E_NOT_CORE, "%s: not a core dump (no ELF magic)", c->path);
	return NULL;
}

int core_open(const char *path, struct core **out, struct core_error *err)
{
	struct core *c = calloc(1, sizeof(*c));
	struct stat st;
	core_reader *reader;
	int cut;

	*out = NULL;
	if (!c)
		return core_fail(err, CORE_E_NOMEM, "%s: out of memory", path);
	c->fd = -1;
	c->path = strdup(path);
	if (!c->path) {
		core_close(c);
		return core_fail(err, CORE_E_NOMEM, "%s: out of memory", path);
	}
	c->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (c->fd < 0) {
		core_fail(err, CORE_E_IO, "%s: %s", path, strerror(errno));
		core_close(c);
		return -1;
	}
	if (fstat(c->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		core_fail(err, CORE_E_NOT_CORE, "%s: %s", path,
			  S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
		core_close(c);
		return -1;
	}
	c->file_size = (uint64_t)st.st_size;
	if (c->file_size == 0) {
		core_fail(err, CORE_E_EMPTY, "%s: empty file, not a core", path);
		core_close(c);
		return -1;
	}
	/* A compressed core: from here on c->fd is its decompressed copy. */
	cut = compressed_open(c, &st, err);
	if (cut < 0) {
		core_close(c);
		return -1;
	}
	reader = identify(c, err);
	if (!reader || reader(c, err) < 0 || index_files(c, err) < 0) {
		if (cut)
			compressed_unusable(c, err);
		core_close(c);
		return -1;
	}
	/* Not for a decompressed core: a read through a mapping of a memfd's hole allocates the
	 * page, where pread reads zeros; its pages of zeros would fill up memory as mem is read. */
	if (c->elf && !c->codec) {
		size_t n = 0;
		const unsigned char *img = (const unsigned char *)elf_rawfile(c->elf, &n);

		if (img && n == c->file_size)
			c->image = img;
	}
	*out = c;
	return 0;
}

void core_close(struct core *c)
{
	if (!c)
		return;
	elfcore_close(c);
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
	free(c->path);
	free(c);
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

bool core_still_whole(const struct core *c)
{
	struct stat st;

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
		r = pread(c->fd, (char *)buf + done, (size_t)n, (off_t)(s->offset + in));
		if (r < 0) {
			if (errno == EINTR)
				continue;
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

	if (core_auxv(c, AT_PHDR_, &v))
		f = core_file_at(c, v);
	if (!f && core_auxv(c, AT_ENTRY_, &v))
		f = core_file_at(c, v);
	return f ? f->path : NULL;
}

/* --- what the readers share (internal.h) ---------------------------------------------------- */

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

ssize_t pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return done ? (ssize_t)done : -1;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}
