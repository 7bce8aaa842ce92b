/* formats/compressed.h — cores stored compressed, as systemd-coredump stores them: zstd, xz or
 * lz4 frame, told apart by magic.  The file is decompressed once, by the codec's own library and
 * in bounded buffers, into a sealed memfd that the readers then take in place of the file: the
 * model's fd is the memfd, file_size the decompressed size, path still the user's file. */
#ifndef COREFS_COMPRESSED_H
#define COREFS_COMPRESSED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "core.h"

/* The codec whose magic starts head ("zstd", "xz", "lz4"), or NULL. */
const char *compressed_codec(const unsigned char *head, size_t n);

/* When c->fd holds a compressed file (st its fstat), replace c->fd by a sealed memfd of its
 * decompressed bytes and set c->file_size, c->codec and c->compressed_size.  Returns 0 when
 * the stream was whole or the file is not compressed, 1 when the stream ends early (what it
 * held is the core, and c->problems says so), -1 with err filled (one line naming the file):
 * a corrupt stream, an I/O error, a file that decompresses to something other than a core, or
 * more data than the limit (compressed_limit). */
int compressed_open(struct core *c, const struct stat *st, struct core_error *err);

/* After a reader failed on a core whose stream ended early (compressed_open returned 1): say
 * that the stream was cut and too little of the core came out, with the reader's reason. */
void compressed_unusable(const struct core *c, struct core_error *err);

/* The most bytes of data a decompressed core may hold in memory (pages of zeros are not held):
 * COREFS_MAX_DECOMPRESSED from the environment (bytes, or with a K, M, G or T suffix), else
 * half of this machine's RAM. */
uint64_t compressed_limit(void);

/* The pid a systemd-coredump file name gives: core.COMM.UID.BOOTID.PID.USEC, optionally followed
 * by .zst, .xz or .lz4.  0 when the name is not of that form. */
int32_t coredump_name_pid(const char *name);

#endif
