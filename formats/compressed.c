/* formats/compressed.c — a core stored as zstd, xz or lz4 frame, decompressed into a sealed memfd.
 *
 * The stages: take the codec whose magic the opener sniffed (dump.c, through compressed_codec);
 * stream the file through the codec's own library (libzstd, liblzma, liblz4) with a 256 KiB
 * input and a 1 MiB output buffer; write each output page into a memfd unless it is all zeros
 * (those stay holes, as the kernel leaves the pages it did not find present, and cost no memory;
 * `zstd -d` and `xz -d` write the same sparse file), counting the bytes held against
 * compressed_limit(); check that what comes out starts a dump the opener reads (its is_dump)
 * before decompressing the rest; then set the memfd's size, give it the file's times (fs/ and
 * files.c date the death of the process and judge the mapped files by the core's mtime), seal
 * it against writing, growing and shrinking, and hand it back.  The compressed file is only
 * read, and nothing here knows the model.
 *
 * A stream that ends early (a file cut short) still yields what it held: the readers then see
 * a truncated core and say which segments lack bytes, and the opener records that the stream
 * was cut.  A corrupt stream is refused: the codecs check their checksums at the end of a block
 * or frame, after they have handed out its bytes, so bytes before the point where the damage
 * shows may be wrong already, and a core must not show wrong memory as if it were right. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lz4frame.h>
#include <lzma.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include "compressed.h"
#include "util.h"

#define IN_SIZE (256u << 10)
#define OUT_SIZE (1u << 20)	/* a multiple of PAGE, so every flush starts on a page boundary */
#define PAGE 4096u
#define LIMIT_ENV "COREFS_MAX_DECOMPRESSED"

enum step { STEP_MORE, STEP_END, STEP_ERR };

struct stream {
	union {
		ZSTD_DStream *zstd;
		lzma_stream xz;
		LZ4F_dctx *lz4;
	} u;
	const char *msg;	/* the codec's words for what went wrong */
};

struct codec {
	const char *name;
	unsigned char magic[6];
	size_t magic_len;
	int (*init)(struct stream *s);
	/* Decompress from in into out, saying how much was used and made; STEP_END when the input
	 * so far ends where a frame (xz: every stream) ends.  finish: no more input will come. */
	enum step (*step)(struct stream *s, const uint8_t *in, size_t inlen, size_t *used,
			  uint8_t *out, size_t cap, size_t *made, bool finish);
	void (*end)(struct stream *s);
};

/* --- the three codecs ----------------------------------------------------------------------- */

static int zstd_init(struct stream *s)
{
	size_t r;

	s->u.zstd = ZSTD_createDStream();
	if (!s->u.zstd) {
		s->msg = "out of memory";
		return -1;
	}
	r = ZSTD_initDStream(s->u.zstd);
	if (ZSTD_isError(r)) {
		s->msg = ZSTD_getErrorName(r);
		return -1;
	}
	return 0;
}

/* Concatenated frames and skippable frames are decoded one after the other by the stream. */
static enum step zstd_step(struct stream *s, const uint8_t *in, size_t inlen, size_t *used,
			   uint8_t *out, size_t cap, size_t *made, bool finish)
{
	ZSTD_inBuffer i = { in, inlen, 0 };
	ZSTD_outBuffer o = { out, cap, 0 };
	size_t r = ZSTD_decompressStream(s->u.zstd, &o, &i);

	(void)finish;
	*used = i.pos;
	*made = o.pos;
	if (ZSTD_isError(r)) {
		s->msg = ZSTD_getErrorName(r);
		return STEP_ERR;
	}
	return r == 0 ? STEP_END : STEP_MORE;
}

static void zstd_end(struct stream *s)
{
	ZSTD_freeDStream(s->u.zstd);
}

/* xz's own words for liblzma's codes (xz/message.c). */
static const char *xz_message(lzma_ret r)
{
	switch (r) {
	case LZMA_MEM_ERROR:
		return "cannot allocate memory";
	case LZMA_MEMLIMIT_ERROR:
		return "memory usage limit reached";
	case LZMA_FORMAT_ERROR:
		return "file format not recognized";
	case LZMA_OPTIONS_ERROR:
		return "unsupported options";
	case LZMA_DATA_ERROR:
		return "compressed data is corrupt";
	case LZMA_BUF_ERROR:
		return "unexpected end of input";
	case LZMA_UNSUPPORTED_CHECK:
		return "unsupported type of integrity check";
	default:
		return "internal error (bug)";
	}
}

static int xz_init(struct stream *s)
{
	lzma_stream init = LZMA_STREAM_INIT;
	lzma_ret r;

	s->u.xz = init;
	r = lzma_stream_decoder(&s->u.xz, UINT64_MAX, LZMA_CONCATENATED);
	if (r != LZMA_OK) {
		s->msg = xz_message(r);
		return -1;
	}
	return 0;
}

static enum step xz_step(struct stream *s, const uint8_t *in, size_t inlen, size_t *used,
			 uint8_t *out, size_t cap, size_t *made, bool finish)
{
	lzma_stream *x = &s->u.xz;
	lzma_ret r;

	x->next_in = in;
	x->avail_in = inlen;
	x->next_out = out;
	x->avail_out = cap;
	r = lzma_code(x, finish ? LZMA_FINISH : LZMA_RUN);
	*used = inlen - x->avail_in;
	*made = cap - x->avail_out;
	if (r == LZMA_STREAM_END)
		return STEP_END;
	if (r == LZMA_OK || r == LZMA_BUF_ERROR)
		return STEP_MORE;	/* BUF_ERROR: no progress; at the end, the input was cut */
	s->msg = xz_message(r);
	return STEP_ERR;
}

static void xz_end(struct stream *s)
{
	lzma_end(&s->u.xz);
}

static int lz4_init(struct stream *s)
{
	LZ4F_errorCode_t r = LZ4F_createDecompressionContext(&s->u.lz4, LZ4F_VERSION);

	if (LZ4F_isError(r)) {
		s->msg = LZ4F_getErrorName(r);
		return -1;
	}
	return 0;
}

/* After a frame's end the context starts the next frame, as the lz4 tool does. */
static enum step lz4_step(struct stream *s, const uint8_t *in, size_t inlen, size_t *used,
			  uint8_t *out, size_t cap, size_t *made, bool finish)
{
	size_t src = inlen, dst = cap, r;

	(void)finish;
	r = LZ4F_decompress(s->u.lz4, out, &dst, in, &src, NULL);
	*used = src;
	*made = dst;
	if (LZ4F_isError(r)) {
		s->msg = LZ4F_getErrorName(r);
		return STEP_ERR;
	}
	return r == 0 ? STEP_END : STEP_MORE;
}

static void lz4_end(struct stream *s)
{
	LZ4F_freeDecompressionContext(s->u.lz4);
}

static const struct codec codecs[] = {
	{ "zstd", { 0x28, 0xb5, 0x2f, 0xfd }, 4, zstd_init, zstd_step, zstd_end },
	{ "xz", { 0xfd, '7', 'z', 'X', 'Z', 0x00 }, 6, xz_init, xz_step, xz_end },
	{ "lz4", { 0x04, 0x22, 0x4d, 0x18 }, 4, lz4_init, lz4_step, lz4_end },
};

static const struct codec *codec_of(const unsigned char *head, size_t n)
{
	for (size_t i = 0; i < ARRAY_SIZE(codecs); i++)
		if (n >= codecs[i].magic_len && !memcmp(head, codecs[i].magic, codecs[i].magic_len))
			return &codecs[i];
	return NULL;
}

const char *compressed_codec(const unsigned char *head, size_t n)
{
	const struct codec *k = codec_of(head, n);

	return k ? k->name : NULL;
}

/* --- the limit ------------------------------------------------------------------------------ */

/* COREFS_MAX_DECOMPRESSED when set (-1 when it is not a size), else half the RAM. */
static int limit_of(uint64_t *bytes, bool *from_env)
{
	const char *env = getenv(LIMIT_ENV), *units = "KMGT", *u;
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
	unsigned long long v;
	char *end;

	*from_env = env && *env;
	if (*from_env) {
		errno = 0;
		v = strtoull(env, &end, 10);
		if (errno || end == env || *env < '0' || *env > '9')
			return -1;
		if (*end) {
			if (end[1] || !(u = strchr(units, *end)))
				return -1;
			for (long k = u - units; k >= 0; k--) {
				if (v > UINT64_MAX >> 10)
					return -1;
				v <<= 10;
			}
		}
		*bytes = v;
		return 0;
	}
	if (pages <= 0 || size <= 0 || (uint64_t)pages > UINT64_MAX / (uint64_t)size)
		*bytes = UINT64_MAX;
	else
		*bytes = (uint64_t)pages * (uint64_t)size / 2;
	return 0;
}

uint64_t compressed_limit(void)
{
	uint64_t bytes;
	bool from_env;

	return limit_of(&bytes, &from_env) < 0 ? 0 : bytes;
}

/* --- writing into the memfd ----------------------------------------------------------------- */

struct sink {
	int fd;
	uint64_t size;		/* bytes decompressed so far: the memfd's size to be */
	uint64_t held;		/* of them, bytes written: pages that are not all zeros */
	uint64_t limit;		/* the most held may reach */
	bool checked;		/* the first bytes were seen to start a core */
};

static bool all_zero(const unsigned char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
}

static int pwrite_all(int fd, const unsigned char *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t w = pwrite(fd, p, len, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		len -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Append len bytes at sink->size (a page boundary), leaving pages of zeros as holes: 0, -EFBIG
 * past the limit, -EOVERFLOW past what a file can hold, or a write's -errno. */
static int sink_write(struct sink *k, const unsigned char *out, size_t len)
{
	int e;

	if (len > (uint64_t)INT64_MAX - k->size)
		return -EOVERFLOW;
	for (size_t at = 0, run; at < len; at += run) {
		while (at < len && all_zero(out + at, MIN(PAGE, len - at)))
			at += MIN(PAGE, len - at);
		for (run = 0; at + run < len; run += MIN(PAGE, len - at - run))
			if (all_zero(out + at + run, MIN(PAGE, len - at - run)))
				break;
		if (!run)
			break;
		if (run > k->limit - k->held)
			return -EFBIG;
		e = pwrite_all(k->fd, out + at, run, k->size + at);
		if (e < 0)
			return e;
		k->held += run;
	}
	k->size += len;
	return 0;
}

/* --- decompressing -------------------------------------------------------------------------- */

struct run {
	const struct core *src;	/* the compressed bytes */
	bool progress;
	const char *path;	/* its name, for errors */
	const struct codec *k;
	compressed_is_dump *is_dump;
	struct sink sink;
	bool from_env;		/* the limit came from the environment */
	bool truncated;		/* the input ended inside a frame */
	unsigned char *in, *out;
};

static int sink_fail(struct run *r, int e, struct core_error *err)
{
	const char *path = r->path, *name = r->k->name;

	if (e == -EFBIG)
		return core_fail(err, CORE_E_TOO_LARGE, "%s: decompressed, this %s core holds "
				 "more than %" PRIu64 " bytes of data, over the limit (%s): "
				 "decompress it to a file and give corefs that", path, name,
				 r->sink.limit, r->from_env ? LIMIT_ENV : "half of this machine's "
				 "RAM; set " LIMIT_ENV " to change it");
	if (e == -EOVERFLOW)
		return core_fail(err, CORE_E_TOO_LARGE, "%s: the %s stream decompresses to more "
				 "bytes than a file can hold", path, name);
	return core_fail(err, e == -ENOMEM || e == -ENOSPC ? CORE_E_NOMEM : CORE_E_IO,
			 "%s: decompressing the %s core into memory: %s", path, name, strerror(-e));
}

/* Flush out[0, len) into the sink, first checking that the decompressed file starts a core. */
static int flush(struct run *r, size_t len, struct core_error *err)
{
	int e;

	if (!r->sink.checked && len >= 4) {
		if (!r->is_dump(r->out, len))
			return core_fail(err, CORE_E_NOT_CORE, "%s: %s-compressed, but not a "
					 "core dump (no ELF magic)", r->path, r->k->name);
		r->sink.checked = true;
	}
	e = sink_write(&r->sink, r->out, len);
	return e < 0 ? sink_fail(r, e, err) : 0;
}

static int decompress(struct run *r, struct core_error *err)
{
	struct stream s = { 0 };
	size_t inlen = 0, inpos = 0, outlen = 0;
	uint64_t off = 0;
	enum step last = STEP_MORE;
	bool eof = false;
	int ret = -1, stalls = 0;

	if (r->k->init(&s) < 0) {
		core_fail(err, CORE_E_NOMEM, "%s: %s: %s", r->path, r->k->name, s.msg);
		r->k->end(&s);	/* each end takes a stream its init left half made */
		return -1;
	}
	if (!r->src->remote)
		posix_fadvise(r->src->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		size_t used = 0, made = 0;
		enum step st;
		bool progress;

		if (inpos == inlen && !eof) {
			ssize_t n = core_pread(r->src, r->in, IN_SIZE, off);

			if (n < 0) {
				core_fail(err, CORE_E_IO, "%s: %s", r->path, strerror(errno));
				goto out;
			}
			if (r->progress && n > 0 && (off + (uint64_t)n) >> 26 != off >> 26)
				fprintf(stderr, "corefs: %s: decompressing: %" PRIu64 " of %" PRIu64
					" MiB read, %" PRIu64 " MiB out\n", r->path,
					(off + (uint64_t)n) >> 20, r->src->file_size >> 20,
					(r->sink.size + outlen) >> 20);
			off += (uint64_t)n;
			inlen = (size_t)n;
			inpos = 0;
			eof = n == 0;
		}
		st = r->k->step(&s, r->in + inpos, inlen - inpos, &used, r->out + outlen,
				OUT_SIZE - outlen, &made, eof);
		if (st == STEP_ERR) {
			core_fail(err, CORE_E_CORRUPT, "%s: corrupt %s stream: %s (at byte %" PRIu64
				  " of the core)", r->path, r->k->name, s.msg,
				  r->sink.size + outlen + made);
			goto out;
		}
		inpos += used;
		outlen += made;
		progress = used || made;
		if (progress || st == STEP_END)
			last = st;
		if (outlen == OUT_SIZE) {
			if (flush(r, outlen, err) < 0)
				goto out;
			outlen = 0;
		}
		if (eof && !progress)
			break;
		/* A decoder that neither takes input nor gives output while it has room for both
		 * would loop for ever. */
		stalls = progress ? 0 : stalls + 1;
		if (stalls > 2) {
			core_fail(err, CORE_E_CORRUPT, "%s: %s: the decoder makes no progress",
				  r->path, r->k->name);
			goto out;
		}
	}
	r->truncated = last != STEP_END;
	if (outlen && flush(r, outlen, err) < 0)
		goto out;
	if (r->truncated && r->sink.size < 4) {
		core_fail(err, CORE_E_TRUNCATED, "%s: truncated %s stream: unexpected end of input "
			  "after %" PRIu64 " bytes of the core", r->path, r->k->name,
			  r->sink.size);
		goto out;
	}
	if (!r->sink.checked)
		core_fail(err, CORE_E_NOT_CORE, "%s: %s-compressed, but not a core dump (%" PRIu64
			  " bytes)", r->path, r->k->name, r->sink.size);
	else
		ret = 0;
out:
	r->k->end(&s);
	return ret;
}

int compressed_open(const struct core *src, const struct stat *st, const char *codec,
		    compressed_is_dump *is_dump, bool progress, struct decompressed *out,
		    struct core_error *err)
{
	const char *path = src->path;
	struct run r = { .src = src, .progress = progress, .path = path, .is_dump = is_dump };
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	char name[224];
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	int mfd;

	for (size_t i = 0; i < ARRAY_SIZE(codecs) && !r.k; i++)
		if (codec && !strcmp(codecs[i].name, codec))
			r.k = &codecs[i];
	if (!r.k)
		return core_fail(err, CORE_E_UNSUPPORTED, "%s: no codec \"%s\"", path,
				 codec ? codec : "");
	if (limit_of(&r.sink.limit, &r.from_env) < 0)
		return core_fail(err, CORE_E_TOO_LARGE, "%s: " LIMIT_ENV "=%s is not a size "
				 "(bytes, or a number with K, M, G or T)", path, getenv(LIMIT_ENV));
	snprintf(name, sizeof(name), "corefs:%s", base);
	mfd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return core_fail(err, CORE_E_IO, "%s: memfd_create: %s", path, strerror(errno));
	r.sink.fd = mfd;
	r.in = malloc(IN_SIZE);
	r.out = malloc(OUT_SIZE);
	if (!r.in || !r.out) {
		core_fail(err, CORE_E_NOMEM, "%s: out of memory", path);
		goto fail;
	}
	if (decompress(&r, err) < 0)
		goto fail;
	if (ftruncate(mfd, (off_t)r.sink.size) < 0 ||
	    fcntl(mfd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0 ||
	    futimens(mfd, times) < 0) {
		core_fail(err, errno == ENOMEM || errno == ENOSPC ? CORE_E_NOMEM : CORE_E_IO,
			  "%s: the decompressed core's memfd: %s", path, strerror(errno));
		goto fail;
	}
	free(r.in);
	free(r.out);
	*out = (struct decompressed){
		.fd = mfd, .size = r.sink.size, .codec = r.k->name, .cut = r.truncated,
	};
	return 0;
fail:
	free(r.in);
	free(r.out);
	close(mfd);
	return -1;
}

void compressed_unusable(const char *path, const struct decompressed *d, struct core_error *err)
{
	char why[sizeof(err->msg)];
	size_t plen = strlen(path);
	const char *reason = err->msg;

	/* The reader's message names the file too: keep one mention of it. */
	if (!strncmp(reason, path, plen) && !strncmp(reason + plen, ": ", 2))
		reason += plen + 2;
	snprintf(why, sizeof(why), "%s", reason);
	core_fail(err, CORE_E_TRUNCATED, "%s: truncated %s stream: unexpected end of input after %"
		  PRIu64 " bytes of the core, too few to read it: %s", path, d->codec, d->size, why);
}

/* --- systemd-coredump's names --------------------------------------------------------------- */

/* The field after the last '.' in [start, *end): its start; *end moves to that '.'.  NULL when
 * there is no '.'. */
static const char *last_field(const char *start, const char **end)
{
	for (const char *p = *end; p > start; p--)
		if (p[-1] == '.') {
			*end = p - 1;
			return p;
		}
	return NULL;
}

static bool all_of(const char *p, const char *end, const char *set, size_t min, size_t max)
{
	size_t n = (size_t)(end - p);

	if (n < min || n > max)
		return false;
	for (; p < end; p++)
		if (!*p || !strchr(set, *p))
			return false;
	return true;
}

/* systemd's make_filename(): "core.%s.%s." SD_ID128_FORMAT_STR ".%s.%s" of the escaped comm, the
 * uid, the boot id, the pid and the time in microseconds, then the compression's extension.
 * The comm has its dots escaped, but the name is read from the right all the same. */
int32_t coredump_name_pid(const char *name)
{
	static const char *const exts[] = { ".zst", ".xz", ".lz4" };
	static const char digits[] = "0123456789", hex[] = "0123456789abcdefABCDEF";
	const char *end = name + strlen(name), *f, *fend, *pid, *pid_end;
	int64_t v = 0;

	for (size_t i = 0; i < ARRAY_SIZE(exts); i++) {
		size_t n = strlen(exts[i]);

		if ((size_t)(end - name) > n && !strcmp(end - n, exts[i])) {
			end -= n;
			break;
		}
	}
	fend = end;	/* the time */
	if (!(f = last_field(name, &end)) || !all_of(f, fend, digits, 1, 20))
		return 0;
	fend = end;	/* the pid */
	if (!(pid = last_field(name, &end)) || !all_of(pid, fend, digits, 1, 10))
		return 0;
	pid_end = fend;
	fend = end;	/* the boot id */
	if (!(f = last_field(name, &end)) || !all_of(f, fend, hex, 32, 32))
		return 0;
	fend = end;	/* the uid */
	if (!(f = last_field(name, &end)) || !all_of(f, fend, digits, 1, 10))
		return 0;
	if (strncmp(name, "core.", 5) || end - name <= 5)
		return 0;	/* "core." and a comm of at least one byte */
	for (const char *p = pid; p < pid_end; p++)
		v = v * 10 + (*p - '0');
	return v > 0 && v <= INT32_MAX ? (int32_t)v : 0;
}
