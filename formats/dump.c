/* formats/dump.c — the table of sources and formats, the one sniff, and opening a dump (dump.h).
 *
 * The stages of dump_read: the source that claims the path opens the bytes (a regular, non-empty
 * file); their first bytes are read once and sniffed; a container's bytes are unwrapped (a
 * compressed file decompressed into a sealed memfd, which stands in for the file from then on)
 * and sniffed again; the format's reader fills the model; the NT_FILE entries are indexed. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compressed.h"
#include "dump.h"
#include "elfcore.h"
#include "internal.h"
#include "macho.h"
#include "remote.h"
#include "util.h"

/* A remote dump's whole copy on this machine (core_local_fd). */
struct core_copy {
	pthread_mutex_t lock;
	int fd;			/* -1 until made */
	char why[512];		/* why it could not be made */
};

/* --- formats, by their first bytes ---------------------------------------------------------- */

static bool magic(const unsigned char *head, size_t n, const char *m)
{
	return n >= 4 && !memcmp(head, m, 4);
}

/* ELF: e_type (at 16, in the byte order of EI_DATA) says whether it is a core. */
static enum dump_verdict sniff_elf(const unsigned char *h, size_t n)
{
	if (!magic(h, n, ELFMAG))
		return DUMP_NO;
	if (n < 18)
		return DUMP_MAYBE;
	return (h[EI_DATA] == ELFDATA2MSB ? h[16] << 8 | h[17] : h[17] << 8 | h[16]) == ET_CORE
		       ? DUMP_YES : DUMP_MAYBE;
}

/* 64-bit little-endian Mach-O (MH_MAGIC_64): filetype (at 12) MH_CORE (4) is a core. */
static enum dump_verdict sniff_macho(const unsigned char *h, size_t n)
{
	if (!magic(h, n, "\xcf\xfa\xed\xfe"))
		return DUMP_NO;
	if (n < 16)
		return DUMP_MAYBE;
	return h[12] == 4 && !h[13] && !h[14] && !h[15] ? DUMP_YES : DUMP_MAYBE;
}

static enum dump_verdict sniff_compressed(const unsigned char *h, size_t n)
{
	return compressed_codec(h, n) ? DUMP_YES : DUMP_NO;
}

static enum dump_verdict sniff_minidump(const unsigned char *h, size_t n)
{
	return magic(h, n, "MDMP") ? DUMP_YES : DUMP_NO;
}

static enum dump_verdict sniff_macho_be(const unsigned char *h, size_t n)
{
	return magic(h, n, "\xfe\xed\xfa\xcf") ? DUMP_YES : DUMP_NO;
}

static enum dump_verdict sniff_macho_32(const unsigned char *h, size_t n)
{
	return magic(h, n, "\xce\xfa\xed\xfe") || magic(h, n, "\xfe\xed\xfa\xce") ? DUMP_YES : DUMP_NO;
}

static const struct dump_format formats[] = {
	{ .name = "ELF core", .kind = DUMP_READ, .sniff = sniff_elf,
	  .read = elfcore_read, .close = elfcore_close },
	{ .name = "Mach-O core", .kind = DUMP_READ, .sniff = sniff_macho, .read = macho_read },
	{ .name = "compressed", .kind = DUMP_UNWRAP, .sniff = sniff_compressed },
	{ .name = "minidump", .kind = DUMP_REFUSE, .sniff = sniff_minidump,
	  .refusal = "a minidump (MDMP), not a core: minidumps are not supported" },
	{ .name = "big-endian Mach-O", .kind = DUMP_REFUSE, .sniff = sniff_macho_be,
	  .refusal = "a big-endian 64-bit Mach-O file: only little-endian Mach-O cores are "
		     "supported" },
	{ .name = "32-bit Mach-O", .kind = DUMP_REFUSE, .sniff = sniff_macho_32,
	  .refusal = "a 32-bit Mach-O file: only 64-bit Mach-O cores are supported" },
};

const struct dump_format *dump_sniff(const unsigned char *head, size_t n,
				     enum dump_verdict *verdict)
{
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++)
		if ((*verdict = formats[i].sniff(head, n)) != DUMP_NO)
			return &formats[i];
	*verdict = DUMP_NO;
	return NULL;
}

/* What a container may hold: bytes a reader takes. */
static bool readable(const unsigned char *head, size_t n)
{
	enum dump_verdict v;
	const struct dump_format *f = dump_sniff(head, n, &v);

	return f && f->kind == DUMP_READ;
}

const struct dump_format *dump_sniff_at(int dfd, const char *name)
{
	unsigned char head[DUMP_HEAD_SIZE];
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	const struct dump_format *f;
	enum dump_verdict v;
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = pread(fd, head, sizeof(head), 0);
	close(fd);
	if (n <= 0)
		return NULL;
	f = dump_sniff(head, (size_t)n, &v);
	return f && v == DUMP_YES && f->kind != DUMP_REFUSE ? f : NULL;
}

void dump_close(struct core *c)
{
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++)
		if (formats[i].close)
			formats[i].close(c);
	if (c->copy) {
		if (c->copy->fd >= 0)
			close(c->copy->fd);
		pthread_mutex_destroy(&c->copy->lock);
		free(c->copy);
		c->copy = NULL;
	}
}

/* --- sources, by the path ------------------------------------------------------------------- */

struct dump_source {
	const char *name;
	bool (*claims)(const char *path);	/* NULL: every path no row before claimed */
	/* Open the bytes into c->fd and c->file_size, their stat in *st; -1 with err filled. */
	int (*open)(struct core *c, struct stat *st, struct core_error *err);
};

static int open_file(struct core *c, struct stat *st, struct core_error *err)
{
	c->fd = open(c->path, O_RDONLY | O_CLOEXEC);
	if (c->fd < 0)
		return core_fail(err, CORE_E_IO, "%s: %s", c->path, strerror(errno));
	if (fstat(c->fd, st) < 0 || !S_ISREG(st->st_mode))
		return core_fail(err, CORE_E_NOT_CORE, "%s: %s", c->path,
				 S_ISDIR(st->st_mode) ? "is a directory" : "not a regular file");
	c->file_size = (uint64_t)st->st_size;
	if (c->file_size == 0)
		return core_fail(err, CORE_E_EMPTY, "%s: empty file, not a core", c->path);
	return 0;
}

/* How remote dumps are read (dump_remote_options). */
static struct remote_options remote_options;

void dump_remote_options(const struct remote_options *o)
{
	remote_options = *o;
}

const struct remote_options *dump_remote(void)
{
	return &remote_options;
}

/* The remote object's Last-Modified (else now) as the mtime of c->fd, which stands for the file:
 * set again once the headers were copied into it. */
static int pin_mtime(struct core *c)
{
	struct timespec times[2];

	times[0].tv_sec = times[1].tv_sec = remote_mtime(c->origin);
	times[0].tv_nsec = times[1].tv_nsec = remote_mtime(c->origin) ? 0 : UTIME_NOW;
	return futimens(c->fd, times);
}

/* A remote object: its bytes are read through remote.h; c->fd is a sparse memfd of its size,
 * which holds the headers and notes once the reader fetched them for libelf (elfcore.c), carries
 * the object's mtime, and lets only its owner read (the object was read with the caller's
 * credentials). */
static int open_remote(struct core *c, struct stat *st, struct core_error *err)
{
	char why[512];

	c->copy = calloc(1, sizeof(*c->copy));
	if (!c->copy)
		return core_fail(err, CORE_E_NOMEM, "%s: out of memory", c->path);
	pthread_mutex_init(&c->copy->lock, NULL);
	c->copy->fd = -1;
	c->origin = c->remote = remote_open(c->path, &remote_options, why, sizeof(why));
	if (!c->remote)
		return core_fail(err, CORE_E_IO, "%s", why);
	c->file_size = remote_size(c->remote);
	if (c->file_size == 0)
		return core_fail(err, CORE_E_EMPTY, "%s: empty object, not a core", c->path);
	c->fd = memfd_create("corefs:remote", MFD_CLOEXEC);
	if (c->fd < 0 || ftruncate(c->fd, (off_t)c->file_size) < 0 || fchmod(c->fd, 0600) < 0 ||
	    pin_mtime(c) < 0 || fstat(c->fd, st) < 0)
		return core_fail(err, CORE_E_IO, "%s: memfd: %s", c->path, strerror(errno));
	return 0;
}

int core_local_fd(const struct core *c, char *err, size_t errsz)
{
	const char *dir = remote_options.cache_dir ? remote_options.cache_dir : "/var/tmp";
	struct core_copy *k = c->copy;
	int fd;

	if (!c->remote)
		return c->fd;
	pthread_mutex_lock(&k->lock);
	if (k->fd < 0 && !k->why[0]) {
		fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0)
			snprintf(k->why, sizeof(k->why), "%s: a file for its copy in %s: %s", c->path,
				 dir, strerror(errno));
		else if (remote_download(c->remote, fd, k->why, sizeof(k->why)) < 0)
			close(fd);
		else
			k->fd = fd;
	}
	fd = k->fd;
	if (fd < 0)
		snprintf(err, errsz, "%s", k->why);
	pthread_mutex_unlock(&k->lock);
	return fd;
}

static const struct dump_source sources[] = {
	{ .name = "remote", .claims = remote_claims, .open = open_remote },
	{ .name = "file", .claims = NULL, .open = open_file },
};

static const struct dump_source *source_of(const char *path)
{
	for (size_t i = 0; i < ARRAY_SIZE(sources); i++)
		if (!sources[i].claims || sources[i].claims(path))
			return &sources[i];
	return NULL;
}

/* --- opening -------------------------------------------------------------------------------- */

/* The first bytes of c->fd, read once per layer. */
struct head {
	unsigned char b[DUMP_HEAD_SIZE];
	size_t n;
};

/* The format of c->fd's first bytes (read into h); NULL with err filled when there is none to
 * read them by. */
static const struct dump_format *sniff_fd(struct core *c, struct head *h, struct core_error *err)
{
	ssize_t n = core_pread(c, h->b, sizeof(h->b), 0);
	const struct dump_format *f;
	enum dump_verdict v;

	if (n < 0) {
		core_fail(err, CORE_E_IO, "%s: %s", c->path, strerror(errno));
		return NULL;
	}
	h->n = (size_t)n;
	f = dump_sniff(h->b, h->n, &v);
	if (!f)
		core_fail(err, CORE_E_NOT_CORE, "%s: not a core dump (no ELF magic)", c->path);
	else if (f->kind == DUMP_REFUSE)
		core_fail(err, CORE_E_UNSUPPORTED, "%s: %s", c->path, f->refusal);
	return f && f->kind != DUMP_REFUSE ? f : NULL;
}

/* A compressed file (the codec its first bytes h name): from here on c->fd is its decompressed
 * copy. */
static int unwrap(struct core *c, const struct stat *st, const struct head *h,
		  struct decompressed *z, struct core_error *err)
{
	if (compressed_open(c, st, compressed_codec(h->b, h->n), readable,
			    c->remote && remote_options.progress, z, err) < 0)
		return -1;
	close(c->fd);
	c->fd = z->fd;
	/* A remote dump streamed through its cache: its bytes are in the memfd now (c->origin
	 * still says where they came from). */
	c->remote = NULL;
	c->file_size = z->size;
	c->codec = z->codec;
	c->compressed_size = (uint64_t)st->st_size;
	if (z->cut)
		core_problem(c, "truncated: the %s stream ends early (unexpected end of input): the "
			     "core stops after 0x%" PRIx64 " bytes", z->codec, z->size);
	return 0;
}

int dump_read(struct core *c, struct core_error *err)
{
	const struct dump_source *src = source_of(c->path);
	struct decompressed z = { .fd = -1 };
	const struct dump_format *f;
	struct stat st = { 0 };
	struct head h;

	if (src->open(c, &st, err) < 0)
		return -1;
	f = sniff_fd(c, &h, err);
	if (f && f->kind == DUMP_UNWRAP) {
		if (unwrap(c, &st, &h, &z, err) < 0)
			return -1;
		f = sniff_fd(c, &h, err);	/* a reader's, as compressed_open checked */
	}
	if (f && f->kind != DUMP_READ) {
		core_fail(err, CORE_E_NOT_CORE, "%s: %s-compressed, but not a core dump", c->path,
			  z.codec);
		f = NULL;
	}
	if (!f || f->read(c, err) < 0 || core_index_files(c, err) < 0) {
		if (z.cut)
			compressed_unusable(c->path, &z, err);
		return -1;
	}
	if (c->remote && pin_mtime(c) < 0)
		return core_fail(err, CORE_E_IO, "%s: memfd: %s", c->path, strerror(errno));
	return 0;
}
