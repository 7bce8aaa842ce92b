/* formats/dump.h — the one place that opens a dump: where its bytes come from, and what they are.
 *
 * Two tables in dump.c.  Sources say where the bytes come from, chosen by the path: a remote
 * object (http://, https://, s3://: remote.h), else a local file; either way they are read with
 * core_pread().  Formats say what the bytes are, chosen by one sniff of their first bytes (dump_sniff):
 * a reader fills the model (ELF core, Mach-O core; a minidump reader is a row), a container holds
 * other bytes, which are sniffed in turn (zstd, xz, lz4: compressed.c's codec table), and a
 * refusal names a format corefs knows but does not read. */
#ifndef COREFS_DUMP_H
#define COREFS_DUMP_H

#include <stddef.h>

#include "core.h"

/* How many first bytes the sniff looks at. */
#define DUMP_HEAD_SIZE 32

enum dump_kind {
	DUMP_READ,	/* read: a reader fills the model from the bytes */
	DUMP_UNWRAP,	/* a container: the dump is the bytes it holds (compressed.c's codecs) */
	DUMP_REFUSE,	/* known, not read: the row says why */
};

/* What a format's sniff says of the first bytes. */
enum dump_verdict {
	DUMP_NO,	/* not this format */
	DUMP_MAYBE,	/* this format, but its first bytes do not make it a dump (an ELF executable,
			 * too few bytes to tell): its reader says why if asked to read it */
	DUMP_YES,	/* a dump of this format, as far as its first bytes tell */
};

struct dump_format {
	const char *name;	/* "ELF core", "Mach-O core", "compressed", "minidump", ... */
	enum dump_kind kind;
	enum dump_verdict (*sniff)(const unsigned char *head, size_t n);
	/* DUMP_READ: fill c (path, fd and file_size set) from c->fd; -1 with err filled.  close
	 * releases what read kept in c (may be NULL); core_close calls it on every core. */
	int (*read)(struct core *c, struct core_error *err);
	void (*close)(struct core *c);
	/* DUMP_REFUSE: the error, after "<path>: ". */
	const char *refusal;
};

/* The format the first n bytes of a file are: the first row whose sniff is not DUMP_NO, with
 * its verdict in *verdict; NULL when no row knows them. */
const struct dump_format *dump_sniff(const unsigned char *head, size_t n,
				     enum dump_verdict *verdict);

/* The format of the file name in the directory dfd when its first bytes make it a dump corefs
 * may read (DUMP_YES, not refused), else NULL: cheap, so a store full of other files is not
 * parsed.  A symbolic link is not followed. */
const struct dump_format *dump_sniff_at(int dfd, const char *name);

/* Fill c (its path set, fd -1) from the dump at c->path: the bytes of the source that claims
 * the path, unwrapped when a container holds them, read by the format they sniff as.  Returns
 * 0, or -1 with err filled (one line naming the file); core_close(c) releases what was done. */
int dump_read(struct core *c, struct core_error *err);

/* Release what the readers kept in c (core_close). */
void dump_close(struct core *c);

/* How dumps at remote URLs are read from now on (remote.h); before any is opened. */
struct remote_options;
void dump_remote_options(const struct remote_options *o);
const struct remote_options *dump_remote(void);

#endif
