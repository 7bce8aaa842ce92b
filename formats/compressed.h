/* formats/compressed.h — cores stored compressed, as systemd-coredump stores them: zstd, xz or
 * lz4 frame, told apart by magic.  The file is decompressed once, by the codec's own library and
 * in bounded buffers, into a sealed memfd that the opener (dump.c) then reads in place of the
 * file.  Nothing here knows the model: it takes an fd and hands back one. */
#ifndef COREFS_COMPRESSED_H
#define COREFS_COMPRESSED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "core.h"
#include "error.h"

/* The codec whose magic starts head ("zstd", "xz", "lz4"), or NULL. */
const char *compressed_codec(const unsigned char *head, size_t n);

/* Whether the first n bytes (n >= 4) that come out start a dump the caller can read. */
typedef bool compressed_is_dump(const unsigned char *head, size_t n);

/* A compressed file, decompressed. */
struct decompressed {
	int fd;			/* a sealed memfd of the bytes, with the file's times; the caller's */
	uint64_t size;		/* how many bytes it holds */
	const char *codec;	/* "zstd", "xz", "lz4" */
	bool cut;		/* the stream ends early: what it held is all there is */
};

/* Decompress the bytes of src (core_pread: a local file, or a remote object streamed through its
 * cache; src->path names it in errors, st is its stat) with codec (compressed_codec's name) into
 * out.  The first bytes that come out must satisfy is_dump, else decompressing stops there.
 * progress: a line on stderr now and then (a remote dump takes a while).  Returns 0, or -1 with
 * err filled (one line naming the file): a corrupt stream, an I/O error, a file that
 * decompresses to something other than a dump, a stream cut before 4 bytes came out, or more
 * data than the limit (compressed_limit).  src is only read. */
int compressed_open(const struct core *src, const struct stat *st, const char *codec,
		    compressed_is_dump *is_dump, bool progress, struct decompressed *out,
		    struct core_error *err);

/* After a reader failed on a dump whose stream ended early (d->cut): say that the stream was cut
 * and too little of the core came out, with the reader's reason (err's message). */
void compressed_unusable(const char *path, const struct decompressed *d, struct core_error *err);

/* The most bytes of data a decompressed core may hold in memory (pages of zeros are not held):
 * COREFS_MAX_DECOMPRESSED from the environment (bytes, or with a K, M, G or T suffix), else
 * half of this machine's RAM. */
uint64_t compressed_limit(void);

/* The pid a systemd-coredump file name gives: core.COMM.UID.BOOTID.PID.USEC, optionally followed
 * by .zst, .xz or .lz4.  0 when the name is not of that form. */
int32_t coredump_name_pid(const char *name);

#endif
