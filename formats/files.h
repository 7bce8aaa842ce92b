/* formats/files.h — the files a core mapped, found on this machine (or under a sysroot), and
 * whether each is the very file the process had mapped.
 *
 * The evidence, strongest first: the build-id in the core's copy of the file's ELF header page
 * against the file's own; the bytes of that page; and for files the core holds no page of, the
 * file's mtime against the core's (a file changed after the dump is not the one that was mapped). */
#ifndef COREFS_FILES_H
#define COREFS_FILES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core.h"

enum disk_file_status {
	DISK_SAME,		/* proven: build-id or header bytes match */
	DISK_PRESUMED,		/* exists, nothing in the core to check it by, not modified after the dump */
	DISK_DIFFERENT,		/* exists but is not the mapped file (build-id, bytes or mtime) */
	DISK_MISSING,		/* deleted before the dump, or absent here */
};

struct disk_file {
	const char *path;	/* as NT_FILE names it */
	char *disk_path;	/* where it was found, else where it was first looked for */
	bool given;		/* looked for first at the executable given with --exe */
	enum disk_file_status status;
	char *why;		/* one sentence: how the status was decided */
	dev_t dev;
	ino_t ino;
	uint64_t size;
	unsigned char build_id[64];	/* the file's own, when it has one */
	size_t build_id_len;
	unsigned char core_build_id[64];	/* from the core's copy of its header page */
	size_t core_build_id_len;
	uint64_t header_addr;	/* where the file's offset 0 is mapped, 0 when it is not */
};

struct disk_files {
	struct disk_file *files;	/* one per distinct NT_FILE path */
	size_t nfiles;
	size_t *of_mapping;	/* for each c->files[i]: index into files */
	char **problems;	/* one sentence per file missing or different (not those that are
				 * never on a disk: /dev/, SysV shm, memfd) */
	size_t nproblems;
};

/* Where the mapped files are looked for, as gdb's sysroot, exec-file and solib-search-path.
 * A file is looked for first at its one place: the executable at exe when given, any other at
 * its path under sysroot (no fallback to /: see the README).  When it is not there or is not the
 * mapped file, each directory of search in turn is tried for a file of its base name, taken only
 * when proven the mapped one (build-id, else the bytes of its first page). */
struct file_lookup {
	const char *sysroot;	/* NULL or "": / */
	const char *exe;	/* NULL, or the file to take for the core's executable (core_exe_path) */
	const char *search;	/* NULL, or directories separated by ':' */
};

/* Look up every file the core mapped (where may be NULL: every file at its path).  Never fails
 * on a missing or different file (that is a status and a problem); -1 only when out of memory. */
int disk_files_check(const struct core *c, const struct file_lookup *where,
		     struct disk_files *out);
void disk_files_free(struct disk_files *df);

/* The disk file behind NT_FILE entry f, or NULL. */
const struct disk_file *disk_file_of(const struct core *c, const struct disk_files *df,
				     const struct core_mapped_file *f);

/* Whether the bytes of this file may stand in for what the core lacks. */
static inline bool disk_file_usable(const struct disk_file *d)
{
	return d && (d->status == DISK_SAME || d->status == DISK_PRESUMED);
}

const char *disk_status_name(enum disk_file_status s);

/* GNU build-id of an ELF image held in memory (elf_memory) or a file; returns its length, 0 when
 * it has none.  The image may be only the first pages of the file. */
size_t elf_image_build_id(void *elf, unsigned char *out, size_t outsz);
/* The same, and the link-time address of the build-id bytes (of the note's descriptor). */
size_t elf_image_build_id_at(void *elf, unsigned char *out, size_t outsz, uint64_t *vaddr);
/* The descriptor of the first note of owner and type in the image's PT_NOTE segments: *desc
 * points into libelf's data of elf (valid until elf_end), *vaddr (may be NULL) gets its
 * link-time address; returns its size, 0 when there is no such note. */
size_t elf_image_note(void *elf, const char *owner, uint32_t type, const unsigned char **desc,
		      uint64_t *vaddr);

#endif
