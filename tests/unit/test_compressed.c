/* tests/unit/test_compressed.c — compressed cores (formats/compressed.c) on synthetic cores.
 *
 * Each test writes a small core with synth.h, compresses it in memory with the codec's own
 * library (zstd, xz, lz4 frame), opens the result with core_open and checks it against the
 * uncompressed core: the same model and memory, a sealed memfd with holes where the core held
 * pages of zeros and the file's mtime; a cut stream is the core up to the cut with a problem,
 * or a one-line error when too little is left; a corrupt stream, a file that is not a core and
 * one over the size limit are refused.  systemd-coredump's file names give their pid. */
#include <errno.h>
#include <fcntl.h>
#include <lz4frame.h>
#include <lzma.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "../../formats/compressed.h"
#include "../../formats/core.h"
#include "../../formats/util.h"
/* gcc 12 inlines synth_prpsinfo here and takes its strnlen of a short literal, bounded by the
 * field's size, for a read past the literal: it stops at the NUL. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overread"
#include "synth.h"
#pragma GCC diagnostic pop
#include "unit.h"

#define BOOT "0123456789abcdef0123456789abcdef"

static void test_coredump_names(void)
{
	static const struct {
		const char *name;
		int32_t pid;
	} cases[] = {
		{ "core.bash.1000." BOOT ".4242.1700000000000000.zst", 4242 },
		{ "core.bash.1000." BOOT ".4242.1700000000000000.xz", 4242 },
		{ "core.bash.1000." BOOT ".4242.1700000000000000.lz4", 4242 },
		{ "core.bash.1000." BOOT ".4242.1700000000000000", 4242 },
		{ "core.a\\x2eb.0." BOOT ".7.1.zst", 7 },	/* systemd escapes the comm's dots */
		{ "core.my.prog.0." BOOT ".77.123.zst", 77 },	/* read from the right anyway */
		{ "core.x.0.0123456789ABCDEF0123456789abcdef.2147483647.1.zst", 2147483647 },
		{ "core.x.0." BOOT ".2147483648.1.zst", 0 },	/* past a pid_t */
		{ "core.x.0." BOOT ".0.1.zst", 0 },
		{ "core.x.0." BOOT ".12a.1.zst", 0 },
		{ "core.x.0." BOOT ".12..zst", 0 },
		{ "core.x.0.0123456789abcdef0123456789abcde.12.1.zst", 0 },	/* 31 hex digits */
		{ "core.x.0.0123456789abcdef0123456789abcdeg.12.1.zst", 0 },
		{ "core.x.u." BOOT ".12.1.zst", 0 },
		{ "core..0." BOOT ".12.1.zst", 0 },	/* no comm */
		{ "kore.x.0." BOOT ".12.1.zst", 0 },
		{ "x.0." BOOT ".12.1.zst", 0 },
		{ "core.4242", 0 },
		{ ".zst", 0 },
		{ "", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!CHECK_I64(coredump_name_pid(cases[i].name), cases[i].pid))
			fprintf(stderr, "  name: %s\n", cases[i].name);
}

static void test_magic(void)
{
	CHECK_STR(compressed_codec((const unsigned char *)"\x28\xb5\x2f\xfd\x04", 5), "zstd");
	CHECK_STR(compressed_codec((const unsigned char *)"\xfd" "7zXZ\0\0", 7), "xz");
	CHECK_STR(compressed_codec((const unsigned char *)"\x04\x22\x4d\x18\x64", 5), "lz4");
	CHECK(!compressed_codec((const unsigned char *)"\xfd" "7zXZ", 5));	/* too short */
	CHECK(!compressed_codec((const unsigned char *)"\177ELF\2\1\1", 7));
	CHECK(!compressed_codec((const unsigned char *)"", 0));
}

static void test_limit(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	unsetenv("COREFS_MAX_DECOMPRESSED");
	CHECK_U64(compressed_limit(), (uint64_t)pages * (uint64_t)size / 2);
	setenv("COREFS_MAX_DECOMPRESSED", "12345", 1);
	CHECK_U64(compressed_limit(), 12345);
	setenv("COREFS_MAX_DECOMPRESSED", "3K", 1);
	CHECK_U64(compressed_limit(), 3072);
	setenv("COREFS_MAX_DECOMPRESSED", "1T", 1);
	CHECK_U64(compressed_limit(), UINT64_C(1) << 40);
	/* Not sizes: 0 (none allowed), and core_open says why. */
	setenv("COREFS_MAX_DECOMPRESSED", "99999999999999999999", 1);
	CHECK_U64(compressed_limit(), 0);
	setenv("COREFS_MAX_DECOMPRESSED", "17179869184T", 1);
	CHECK_U64(compressed_limit(), 0);
	setenv("COREFS_MAX_DECOMPRESSED", "-1", 1);
	CHECK_U64(compressed_limit(), 0);
	setenv("COREFS_MAX_DECOMPRESSED", "1KB", 1);
	CHECK_U64(compressed_limit(), 0);
	unsetenv("COREFS_MAX_DECOMPRESSED");
}

/* --- compressing, with the libraries' own encoders ------------------------------------------- */

static const char *const codecs[] = { "zstd", "xz", "lz4" };
/* With a checksum of the content, as the lz4 tool writes by default (systemd-coredump's frames
 * have none: damage that leaves the blocks well-formed goes unseen there). */
static const LZ4F_preferences_t lz4_prefs = {
	.frameInfo = { .contentChecksumFlag = LZ4F_contentChecksumEnabled },
};

/* p[0, n) compressed by codec into a new buffer; NULL when the encoder fails. */
static unsigned char *compress_with(const char *codec, const unsigned char *p, size_t n,
				    size_t *out_len)
{
	size_t cap, len = 0;
	unsigned char *out;

	if (!strcmp(codec, "zstd"))
		cap = ZSTD_compressBound(n);
	else if (!strcmp(codec, "xz"))
		cap = lzma_stream_buffer_bound(n);
	else
		cap = LZ4F_compressFrameBound(n, &lz4_prefs);
	out = malloc(cap ? cap : 1);
	if (!out)
		return NULL;
	if (!strcmp(codec, "zstd")) {
		len = ZSTD_compress(out, cap, p, n, 3);
		if (ZSTD_isError(len))
			len = 0, cap = 0;
	} else if (!strcmp(codec, "xz")) {
		if (lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, NULL, p, n, out, &len, cap) != LZMA_OK)
			cap = 0;
	} else {
		len = LZ4F_compressFrame(out, cap, p, n, &lz4_prefs);
		if (LZ4F_isError(len))
			cap = 0;
	}
	if (!CHECK(cap != 0)) {
		free(out);
		return NULL;
	}
	*out_len = len;
	return out;
}

struct file {
	char path[64];
	unsigned char *data;
	size_t len;
};

static bool write_file(struct file *f, const unsigned char *p, size_t n)
{
	int fd;

	snprintf(f->path, sizeof(f->path), "/tmp/corefs-unit-XXXXXX");
	fd = mkstemp(f->path);
	if (!CHECK(fd >= 0))
		return false;
	if (!CHECK(write(fd, p, n) == (ssize_t)n)) {
		close(fd);
		return false;
	}
	close(fd);
	return true;
}

static unsigned char *read_all(const char *path, size_t *n)
{
	struct stat st;
	unsigned char *p;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	p = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (p && read(fd, p, (size_t)st.st_size) != st.st_size) {
		free(p);
		p = NULL;
	}
	close(fd);
	*n = (size_t)st.st_size;
	return p;
}

/* Compress raw (keeping only the first keep bytes of the stream) into a file. */
static bool compressed_file(struct file *f, const char *codec, const unsigned char *raw,
			    size_t n, size_t keep)
{
	size_t len;
	unsigned char *z = compress_with(codec, raw, n, &len);
	bool ok;

	if (!z)
		return false;
	f->data = z;
	f->len = MIN(len, keep);
	ok = write_file(f, z, f->len);
	return ok;
}

static void file_free(struct file *f)
{
	if (f->path[0])
		unlink(f->path);
	free(f->data);
}

/* core_open must fail with code and one line naming the file; returns the message. */
static const char *fails(const char *path, enum core_errno code, struct core_error *err)
{
	struct core *c = NULL;

	memset(err, 0, sizeof(*err));
	if (core_open(path, &c, err) == 0) {
		unit_report(false, __FILE__, __LINE__, "core_open(%s) succeeded", path);
		core_close(c);
		return "";
	}
	CHECK(c == NULL);
	CHECK_I64(err->code, code);
	CHECK(strchr(err->msg, '\n') == NULL);
	CHECK(!strncmp(err->msg, path, strlen(path)) && !strncmp(err->msg + strlen(path), ": ", 2));
	return err->msg;
}

static bool has_problem(const struct core *c, const char *text)
{
	for (size_t i = 0; i < c->nproblems; i++)
		if (strstr(c->problems[i], text))
			return true;
	return false;
}

static void test_not_a_core(void)
{
	static const unsigned char text[] = "a compressed file, but not a core\n";
	struct core_error err;

	for (size_t i = 0; i < 3; i++) {
		struct file f = { 0 }, e = { 0 };
		char want[64];

		snprintf(want, sizeof(want), "%s-compressed, but not a core dump", codecs[i]);
		if (compressed_file(&f, codecs[i], text, sizeof(text), SIZE_MAX))
			CHECK_CONTAINS(fails(f.path, CORE_E_NOT_CORE, &err), want);
		/* An empty stream decompresses to nothing. */
		if (compressed_file(&e, codecs[i], text, 0, SIZE_MAX))
			CHECK_CONTAINS(fails(e.path, CORE_E_NOT_CORE, &err), "(0 bytes)");
		file_free(&f);
		file_free(&e);
	}
}

#ifdef SYNTH_X86_64
/* The standard process with its heap all zeros: the raw core's bytes, and its heap's offset. */
static unsigned char *zero_heap_core(struct synth *s, size_t *n)
{
	unsigned char *raw;

	synth_std_process(s);
	if (!CHECK(synth_write(s) == 0))
		return NULL;
	raw = read_all(s->path, n);
	if (!CHECK(raw != NULL))
		return NULL;
	memset(raw + s->segs[STD_HEAP].offset, 0, s->segs[STD_HEAP].filesz);
	return raw;
}

static void check_same_memory(const struct core *a, const struct core *b)
{
	static unsigned char x[0x21000], y[0x21000];

	if (!CHECK_U64(a->nsegs, b->nsegs))
		return;
	for (size_t i = 0; i < a->nsegs; i++) {
		const struct core_segment *s = &a->segs[i];
		size_t n = (size_t)MIN(s->memsz, sizeof(x));

		CHECK_U64(s->vaddr, b->segs[i].vaddr);
		CHECK_U64(s->avail, b->segs[i].avail);
		CHECK_I64(core_read_mem(a, s->vaddr, x, n), core_read_mem(b, s->vaddr, y, n));
		CHECK_MEM(x, y, (size_t)MIN(s->avail, n));
	}
}

static void test_each_codec_is_the_core(void)
{
	struct synth s;
	size_t n;
	unsigned char *raw = zero_heap_core(&s, &n);
	struct file plain = { 0 };
	struct core *orig = NULL;
	struct core_error err;

	if (!raw || !write_file(&plain, raw, n) || !CHECK(core_open(plain.path, &orig, &err) == 0))
		goto out;
	CHECK(orig->codec == NULL && orig->compressed_size == 0);
	for (size_t i = 0; i < 3; i++) {
		struct file f = { 0 };
		struct core *c = NULL;
		struct stat fst, mst;
		const struct core_segment *heap;
		unsigned char byte = 1;
		size_t len;
		unsigned char *after;

		if (!compressed_file(&f, codecs[i], raw, n, SIZE_MAX))
			continue;
		if (core_open(f.path, &c, &err) < 0) {
			unit_report(false, __FILE__, __LINE__, "core_open(%s): %s", f.path, err.msg);
			file_free(&f);
			continue;
		}
		CHECK_STR(c->path, f.path);
		CHECK_STR(c->codec, codecs[i]);
		CHECK_U64(c->compressed_size, f.len);
		CHECK_U64(c->file_size, n);
		CHECK_U64(c->nproblems, 0);
		CHECK_I64(c->pid, SYNTH_PID);
		CHECK_U64(c->nnotes, orig->nnotes);
		CHECK_U64(c->nthreads, 1);
		check_same_memory(c, orig);
		/* A memfd, sealed, dated as the file, with a hole where the heap's zeros are. */
		CHECK_I64(fcntl(c->fd, F_GET_SEALS) & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK),
			  F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK);
		CHECK(fstat(c->fd, &mst) == 0 && stat(f.path, &fst) == 0);
		CHECK_I64(mst.st_size, n);
		CHECK_I64(mst.st_mtim.tv_sec, fst.st_mtim.tv_sec);
		CHECK_I64(mst.st_mtim.tv_nsec, fst.st_mtim.tv_nsec);
		/* (a refused write still dates the memfd: tmpfs updates the time first) */
		CHECK(pwrite(c->fd, &byte, 1, 0) < 0 && errno == EPERM);
		heap = &c->segs[STD_HEAP];
		CHECK_I64(lseek(c->fd, (off_t)heap->offset, SEEK_HOLE), heap->offset);
		CHECK_I64(lseek(c->fd, (off_t)heap->offset, SEEK_DATA), heap->offset + heap->filesz);
		CHECK_I64(lseek(c->fd, 0, SEEK_DATA), 0);
		/* The compressed file is as it was. */
		after = read_all(f.path, &len);
		CHECK(after && len == f.len && !memcmp(after, f.data, len));
		free(after);
		core_close(c);
		file_free(&f);
	}
out:
	core_close(orig);
	file_free(&plain);
	free(raw);
	synth_free(&s);
}

static void test_cut_streams(void)
{
	struct synth s;
	size_t n;
	unsigned char *raw = zero_heap_core(&s, &n);
	struct core_error err;

	for (size_t i = 0; raw && i < 3; i++) {
		struct file f = { 0 }, tiny = { 0 };
		struct core *c = NULL;
		char want[96];
		size_t whole;

		/* Two thirds of the stream: the core up to where it stops, and a problem. */
		if (!compressed_file(&f, codecs[i], raw, n, SIZE_MAX))
			continue;
		whole = f.len;
		unlink(f.path);
		if (!write_file(&f, f.data, whole * 2 / 3))
			goto next;
		if (core_open(f.path, &c, &err) < 0) {
			unit_report(false, __FILE__, __LINE__, "%s: %s", codecs[i], err.msg);
			goto next;
		}
		snprintf(want, sizeof(want), "truncated: the %s stream ends early", codecs[i]);
		CHECK(has_problem(c, want));
		CHECK(has_problem(c, "segments lie past the end of the file"));
		CHECK(c->file_size > 0 && c->file_size < n);
		CHECK_U64(c->compressed_size, whole * 2 / 3);
		CHECK_I64(c->pid, SYNTH_PID);
		core_close(c);
		/* A few bytes: not even the core's header comes out. */
		if (write_file(&tiny, f.data, 7)) {
			snprintf(want, sizeof(want), "truncated %s stream: unexpected end of input",
				 codecs[i]);
			CHECK_CONTAINS(fails(tiny.path, CORE_E_TRUNCATED, &err), want);
		}
next:
		file_free(&f);
		file_free(&tiny);
	}
	free(raw);
	synth_free(&s);
}

/* xz hands out its output as it goes: a stream cut inside the program headers gives a few bytes
 * of core, too few to read, and the error says both. */
static void test_cut_inside_the_headers(void)
{
	struct synth s;
	size_t n;
	unsigned char *raw = zero_heap_core(&s, &n);
	struct file f = { 0 };
	struct core_error err;
	const char *msg;
	bool found = false;

	if (!raw || !compressed_file(&f, "xz", raw, n, SIZE_MAX))
		goto out;
	unlink(f.path);
	/* Longer and longer cuts, until the reader has something to say of the bytes. */
	for (size_t keep = 13; keep < f.len && !found; keep++) {
		if (!write_file(&f, f.data, keep))
			break;
		msg = fails(f.path, CORE_E_TRUNCATED, &err);
		CHECK_CONTAINS(msg, "truncated xz stream: unexpected end of input after ");
		if (strstr(msg, "too few to read it: ")) {
			found = true;
			/* The file is named once. */
			CHECK(strstr(msg + strlen(f.path), f.path) == NULL);
		}
		unlink(f.path);
	}
	CHECK(found);
out:
	file_free(&f);
	free(raw);
	synth_free(&s);
}

static void test_corrupt_streams(void)
{
	struct synth s;
	size_t n;
	unsigned char *raw = zero_heap_core(&s, &n);
	struct core_error err;

	for (size_t i = 0; raw && i < 3; i++) {
		struct file f = { 0 };
		char want[64];

		if (!compressed_file(&f, codecs[i], raw, n, SIZE_MAX))
			continue;
		for (size_t k = f.len / 2; k < f.len / 2 + 8; k++)
			f.data[k] ^= 0x5a;
		unlink(f.path);
		if (write_file(&f, f.data, f.len)) {
			snprintf(want, sizeof(want), "corrupt %s stream: ", codecs[i]);
			CHECK_CONTAINS(fails(f.path, CORE_E_CORRUPT, &err), want);
		}
		file_free(&f);
	}
	free(raw);
	synth_free(&s);
}

static void test_over_the_limit(void)
{
	struct synth s;
	size_t n;
	unsigned char *raw = zero_heap_core(&s, &n);
	struct file f = { 0 };
	struct core_error err;
	struct core *c = NULL;

	if (!raw || !compressed_file(&f, "zstd", raw, n, SIZE_MAX))
		goto out;
	/* The heap's zeros are not held: the limit counts the other bytes. */
	setenv("COREFS_MAX_DECOMPRESSED", "64K", 1);
	CHECK_CONTAINS(fails(f.path, CORE_E_TOO_LARGE, &err), "more than 65536 bytes of data, "
		       "over the limit (COREFS_MAX_DECOMPRESSED)");
	setenv("COREFS_MAX_DECOMPRESSED", "0x100", 1);
	CHECK_CONTAINS(fails(f.path, CORE_E_TOO_LARGE, &err), "COREFS_MAX_DECOMPRESSED=0x100 is "
		       "not a size");
	snprintf(err.msg, sizeof(err.msg), "%zu", (size_t)(n - s.segs[STD_HEAP].filesz));
	setenv("COREFS_MAX_DECOMPRESSED", err.msg, 1);
	if (CHECK(core_open(f.path, &c, &err) == 0))
		core_close(c);
	unsetenv("COREFS_MAX_DECOMPRESSED");
out:
	file_free(&f);
	free(raw);
	synth_free(&s);
}
#endif

int main(void)
{
	RUN(test_coredump_names);
	RUN(test_magic);
	RUN(test_limit);
	RUN(test_not_a_core);
#ifdef SYNTH_X86_64
	RUN(test_each_codec_is_the_core);
	RUN(test_cut_streams);
	RUN(test_cut_inside_the_headers);
	RUN(test_corrupt_streams);
	RUN(test_over_the_limit);
#else
	printf("skipped: the x86_64 process tests need an x86_64 host\n");
#endif
	return unit_summary("test_compressed");
}
