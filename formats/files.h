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
#include "fetch.h"

enum disk_file_status {
	DISK_SAME,		/* proven: build-id or header bytes match */
	DISK_PRESUMED,		/* exists, nothing in the core to check it by, not modified after the dump */
	DISK_DIFFERENT,		/* exists but is not the mapped file (build-id, bytes or mtime) */
	DISK_MISSING,		/* deleted before the dump, or absent here */
};

/* Where a usable file was found. */
enum disk_source {
	SOURCE_NONE,		/* nowhere: not usable */
	SOURCE_PATH,		/* at its path */
	SOURCE_SYSROOT,		/* at its path under --sysroot */
	SOURCE_EXE,		/* the executable given with --exe */
	SOURCE_SEARCH,		/* by its name in --search-path */
	SOURCE_DEBUGINFOD,	/* fetched by its build-id from a debuginfod server */
};

struct disk_file {
	const char *path;	/* as NT_FILE names it, or the dynamic linker's list (linked) */
	bool linked;		/* found through link_map, not NT_FILE: path is its own */
	char *disk_path;	/* where it was found, else where it was first looked for */
	bool given;		/* looked for first at the executable given with --exe */
	enum disk_file_status status;
	enum disk_source source;	/* SOURCE_NONE unless usable */
	const char *url;	/* SOURCE_DEBUGINFOD: the server's URL */
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
	struct disk_file *files;	/* one per distinct NT_FILE path, as found here */
	size_t nfiles;
	size_t *of_mapping;	/* for each c->files[i]: index into files */
	/* Files found by build-id (fetch.h), on first need; through a const model too. */
	struct fetcher *fetcher;
	struct disk_file **fetched;	/* per file: what was fetched for it (set once) */
	/* Mappings NT_FILE does not name (no NT_FILE, as qemu-user writes cores, or one cut short):
	 * the PT_LOADs of the objects the dynamic linker's list holds (modules.c), each file's
	 * record appended to files by disk_files_add, before disk_files_arm. */
	struct core_mapped_file *linked;
	size_t *linked_file;	/* for each linked mapping: index into files */
	size_t nlinked;
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
	bool no_debuginfod;	/* never ask debuginfod servers (--no-debuginfod) */
	bool progress;		/* say on stderr what is fetched (-f, -d) */
};

/* Look up every file the core mapped (where may be NULL: every file at its path).  Never fails
 * on a missing or different file (that is a status and a problem); -1 only when out of memory.
 * Nothing is fetched until disk_files_arm(). */
int disk_files_check(const struct core *c, const struct file_lookup *where,
		     struct disk_files *out);
void disk_files_arm(const struct disk_files *df);
void disk_files_free(struct disk_files *df);

/* The file to read for d: d when it is usable here; else, when the core gives d's build-id, the
 * file a debuginfod server has of that build-id, fetched on this first need (others needing it
 * wait for that one fetch; a failure is kept); NULL when there is none.  d may be NULL. */
const struct disk_file *disk_file_resolve(const struct disk_files *df, const struct disk_file *d);
/* The same, fetching nothing: what is known now. */
const struct disk_file *disk_file_now(const struct disk_files *df, const struct disk_file *d);
/* Where fetching d stands (FETCH_OFF when it is usable here or cannot be fetched); its result,
 * once there is one, in *out. */
enum fetch_state disk_file_fetch_state(const struct disk_files *df, const struct disk_file *d,
				       const struct fetch **out);

/* How many looks for files by build-id have ended: what shows their state changes only when
 * this does. */
unsigned disk_files_generation(const struct disk_files *df);
/* Whether no file is still to be fetched or being fetched: what shows their state is final. */
bool disk_files_settled(const struct disk_files *df);

/* d's state in one word, as known now: "same", "presumed", "different", "missing"; "fetched"
 * (from a debuginfod server, its build-id the core's); "pending" (not here; a server will be
 * asked on first need, or is being asked). */
const char *disk_file_status_now(const struct disk_files *df, const struct disk_file *d);

/* The separate debug file of this build-id (label names the object in progress lines): on this
 * machine under the sysroot, else fetched (fetch.h); NULL when there is none. */
const char *disk_debuginfo(const struct disk_files *df, const unsigned char *id, size_t len,
			   const char *label);

/* One sentence per file missing or different and not fetched (not those that are never on a
 * disk: /dev/, SysV shm, memfd), as things stand now: a malloc'd array of malloc'd strings,
 * *n of them; NULL when there are none or out of memory. */
char **disk_files_problems(const struct disk_files *df, size_t *n);

/* Look up a file NT_FILE does not name (path as the dynamic linker's list gives it; given: the
 * executable, looked for at --exe), whose ELF header is mapped at header, and append its record
 * to df.  The record, or NULL when out of memory.  Pointers to df's records made before are no
 * longer valid. */
struct disk_file *disk_files_add(const struct core *c, const struct file_lookup *where,
				 struct disk_files *df, const char *path, uint64_t header, bool given);
/* Record that [start, end) maps file (df->files[file]) from offset.  0, or -1 when out of memory. */
int disk_files_add_mapping(struct disk_files *df, size_t file, uint64_t start, uint64_t end,
			   uint64_t offset);

/* The mapping holding addr: NT_FILE's, else a linked one; NULL when none. */
const struct core_mapped_file *disk_files_mapping_at(const struct core *c,
						     const struct disk_files *df, uint64_t addr);

/* The disk file behind mapping f (NT_FILE's or a linked one), or NULL. */
const struct disk_file *disk_file_of(const struct core *c, const struct disk_files *df,
				     const struct core_mapped_file *f);

/* Whether the bytes of this file may stand in for what the core lacks. */
static inline bool disk_file_usable(const struct disk_file *d)
{
	return d && (d->status == DISK_SAME || d->status == DISK_PRESUMED);
}

const char *disk_status_name(enum disk_file_status s);
/* "local", "sysroot", "exe", "search-path", "debuginfod"; NULL for SOURCE_NONE. */
const char *disk_source_name(enum disk_source s);

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
