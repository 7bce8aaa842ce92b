/* formats/core.h — the in-memory model of a dead process, built from a core file.
 *
 * A reader (elfcore.c for ELF cores) fills one struct core: the memory segments with how much of
 * each the file really holds, the threads with their raw register sets, the process information,
 * auxv, the mapped files and the signal.  Nothing here knows about FUSE or ptrace: fs/ and revive/
 * consume this model.  Every count and size was checked against the bytes that exist; where the
 * core is truncated or lacks something, the model says so in `problems` instead of failing. */
#ifndef COREFS_CORE_H
#define COREFS_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct arch_desc;

enum core_os { CORE_OS_LINUX, CORE_OS_NETBSD, CORE_OS_MACOS };
/* Who wrote the core: the kernel at a crash, or gdb's gcore (segments at unaligned offsets,
 * NT_PRPSINFO first, per-thread NT_SIGINFO with SIGSTOP, pr_cursig 0). */
enum core_producer { CORE_BY_KERNEL, CORE_BY_GDB, CORE_BY_OTHER };

/* Segment flags, as ELF's PF_X/PF_W/PF_R. */
#define SEG_X 1u
#define SEG_W 2u
#define SEG_R 4u

struct core_segment {
	uint64_t vaddr;
	uint64_t memsz;
	uint64_t offset;	/* p_offset: where its bytes start in the core file */
	uint64_t filesz;	/* p_filesz: bytes the producer meant to write */
	uint64_t avail;		/* bytes of filesz really present in the file (< filesz when truncated) */
	uint32_t flags;		/* SEG_R | SEG_W | SEG_X */
};

/* A register set note kept raw (NT_PRSTATUS's pr_reg excepted, see core_thread.gregs). */
struct core_regset {
	uint32_t type;		/* n_type */
	const char *name;	/* "NT_FPREGSET", "NT_X86_XSTATE", ... or "NT_0x<type>" */
	const char *owner;	/* "CORE", "LINUX", ... */
	const unsigned char *data;
	size_t size;
};

struct core_siginfo {
	int signo, errnum, code;
	bool has_addr;		/* fault signals: si_addr is meaningful */
	uint64_t addr;
	bool has_sender;	/* SI_USER, SI_TKILL, SI_QUEUE: si_pid and si_uid are meaningful */
	int32_t pid;
	uint32_t uid;
};

struct core_timeval {
	int64_t sec, usec;
};

struct core_thread {
	int32_t tid;
	int32_t ppid, pgrp, sid;	/* as in NT_PRSTATUS (gdb writes 0) */
	int cursig;
	uint64_t sigpend, sighold;
	struct core_timeval utime, stime, cutime, cstime;
	const unsigned char *gregs;	/* raw general registers (pr_reg), core byte order */
	size_t gregs_size;
	bool has_pc, has_sp;
	uint64_t pc, sp;
	bool has_siginfo;
	struct core_siginfo siginfo;
	struct core_regset *regsets;
	size_t nregsets;
};

struct core_psinfo {
	bool present;
	char state;		/* pr_state (numeric) */
	char sname;		/* pr_sname: 'R', 'S', 't', ... */
	char zomb;
	int nice;
	uint64_t flag;
	uint32_t uid, gid;
	int32_t pid, ppid, pgrp, sid;
	char fname[17];		/* pr_fname, NUL-terminated here even when it is not in the core */
	char psargs[81];	/* pr_psargs, NUL-terminated */
};

struct core_auxv_entry {
	uint64_t type, value;
};

/* One entry of NT_FILE: a file mapping and where in the file it starts. */
struct core_mapped_file {
	uint64_t start, end;
	uint64_t offset;	/* in bytes (NT_FILE stores pages) */
	char *path;		/* as the kernel printed it, e.g. "/usr/lib/libc.so.6 (deleted)" */
};

struct core_note {
	const char *owner;
	uint32_t type;
	const char *name;	/* "NT_PRSTATUS", ... or "NT_0x<type>" */
	char name_buf[16];	/* holds the "NT_0x<type>" form */
	uint64_t offset;	/* of the descriptor in the core file */
	size_t size;
	const unsigned char *desc;
};

struct remote;

struct core {
	char *path;
	/* The bytes: the file, or a sealed memfd of it decompressed (compressed.h); for a remote
	 * dump (remote.h), a sparse memfd holding only its headers and notes, for libelf, while
	 * every other byte is read from remote: all reads go through core_pread(). */
	int fd;
	struct remote *remote;	/* NULL for a local file, and once a remote one is decompressed */
	struct remote *origin;	/* where a remote dump came from (also once decompressed) */
	struct core_copy *copy;	/* a remote dump's whole copy, once made (core_local_fd) */
	uint64_t file_size;	/* of the dump's bytes: the decompressed size for a compressed file */
	const char *codec;	/* "zstd", "xz", "lz4" when the file is compressed, else NULL */
	uint64_t compressed_size;	/* the file's own size then */
	const unsigned char *image;	/* the file mapped read-only (libelf's mapping), or NULL */
	void *elf;		/* Elf * of libelf; opaque here so users need not include libelf.h */

	/* What the header says. */
	const char *format;	/* "elf64-little", ... */
	unsigned char elf_class;	/* 1 = 32-bit, 2 = 64-bit */
	bool big_endian;
	uint16_t machine;	/* e_machine */
	uint32_t e_flags;
	enum core_os os;
	enum core_producer producer;
	const struct arch_desc *arch;	/* never NULL: a generic description when the machine is unknown */
	unsigned word;		/* size of a target long: 4 or 8 */

	struct core_segment *segs;	/* in file order (ascending vaddr for kernel and gdb cores) */
	size_t nsegs;
	size_t *seg_by_addr;	/* indexes into segs, sorted by vaddr, for lookups */

	struct core_thread *threads;	/* in note order; the kernel puts the signalled thread first */
	size_t nthreads;

	struct core_psinfo psinfo;

	const unsigned char *auxv_raw;	/* NT_AUXV bytes as saved, AT_NULL pair included */
	size_t auxv_size;
	struct core_auxv_entry *auxv;
	size_t nauxv;
	unsigned auxv_word;	/* 4 or 8 */

	struct core_mapped_file *files;
	size_t nfiles;
	size_t *file_by_addr;	/* indexes into files, sorted by start, for lookups */
	uint64_t file_page_size;	/* NT_FILE's page size */

	struct core_note *notes;	/* every note, in order */
	size_t nnotes;

	int32_t pid;		/* NT_PRPSINFO's pr_pid, else the first thread's tid, else 0 */
	int signo;		/* the signal that killed it, 0 when none (gcore) */

	char **problems;	/* what is truncated, missing or inconsistent: one sentence each */
	size_t nproblems;
};

/* Open and parse a core.  On failure returns -1 with err filled (one line, naming the file). */
int core_open(const char *path, struct core **out, struct core_error *err);

/* Up to n of the dump's bytes at off (a local file's, or a remote object's through its cache):
 * how many (fewer only at the end), or -1 with errno set when none could be read. */
ssize_t core_pread(const struct core *c, void *buf, size_t n, uint64_t off);

/* An fd of all the dump's bytes on this machine, for what maps them (revival): c->fd for a local
 * file; for a remote dump, a copy downloaded once (with progress lines when asked for) into an
 * unlinked file in the cache directory (else /var/tmp) and kept while c is open.  -1 with a
 * one-line reason in err. */
int core_local_fd(const struct core *c, char *err, size_t errsz);
void core_close(struct core *c);

/* Bytes of memory at addr as the core holds them: copies up to len bytes and returns how many
 * contiguous bytes from addr it could read (0 when the core has no byte at addr), -1 on an I/O
 * error with errno set.  Never reads past a segment's available bytes. */
ssize_t core_read_mem(const struct core *c, uint64_t addr, void *buf, size_t len);

/* A pointer to the core's bytes for [addr, addr + len) when the core holds all of them in one
 * segment and the file is mapped, else NULL.  The bytes are the file's: touching them after
 * the file shrank faults, so callers hand them only to the kernel (write/writev), which fails
 * with EFAULT instead of a signal, and check the size first (core_still_whole). */
const void *core_mem_ptr(const struct core *c, uint64_t addr, size_t len);
bool core_still_whole(const struct core *c);

/* The first run of bytes of the core file in [off, end) that holds data, as the file system
 * tells data from holes (SEEK_DATA, SEEK_HOLE): the kernel writes pages it found absent as
 * holes.  Where the file system cannot tell, the whole range is data.  false when [off, end)
 * is all hole. */
bool core_file_data(const struct core *c, uint64_t off, uint64_t end, uint64_t *start,
		    uint64_t *stop);

/* The segment containing addr, or NULL. */
const struct core_segment *core_segment_at(const struct core *c, uint64_t addr);

/* Value of an auxv entry; returns false when the core has no such entry. */
bool core_auxv(const struct core *c, uint64_t type, uint64_t *value);

/* The thread whose tid is the pid (the main thread), else the first one, else NULL. */
const struct core_thread *core_main_thread(const struct core *c);

/* The NT_FILE entry that contains addr, or NULL. */
const struct core_mapped_file *core_file_at(const struct core *c, uint64_t addr);

/* The lowest address above addr where a segment or an NT_FILE mapping starts; 0 when none. */
uint64_t core_next_mapped(const struct core *c, uint64_t addr);

/* The executable's path: the NT_FILE entry holding AT_PHDR (or AT_ENTRY), else NULL. */
const char *core_exe_path(const struct core *c);

/* Integers in the core's byte order, from bytes the caller has bounds-checked. */
static inline uint64_t core_get(const struct core *c, const unsigned char *p, unsigned size)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)p[i] << (c->big_endian ? 8 * (size - 1 - i) : 8 * i);
	return v;
}

#endif
