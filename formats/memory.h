/* formats/memory.h — the process's memory as a live process would show it: the bytes the core
 * holds, and, for file-backed mappings the core left out (the kernel dumps no unmodified file
 * text; gcore omits it too), the bytes of the mapped file when it is the very file (files.h),
 * found here or fetched by its build-id on the first read that needs it (disk_file_resolve).
 *
 * Everything that reads memory (mem, cmdline/environ recovery, the unwinder) goes through
 * memory_read(), so they all agree on which bytes exist. */
#ifndef COREFS_MEMORY_H
#define COREFS_MEMORY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core.h"
#include "files.h"

struct memory {
	const struct core *core;
	const struct disk_files *files;	/* NULL: no filling from files */
	pthread_mutex_t lock;		/* guards fds */
	int *fds;			/* per disk file, opened on first use; -1 unopened, -2 failed */
	size_t nfds;
};

/* Where the bytes at an address come from. */
enum mem_source { MEM_NONE, MEM_CORE, MEM_FILE, MEM_ZERO };

int memory_init(struct memory *m, const struct core *c, const struct disk_files *files);
void memory_free(struct memory *m);

/* Copy up to len bytes at addr; returns how many contiguous bytes from addr exist (0: none at
 * addr), or -1 with errno set on an I/O error before any byte. */
ssize_t memory_read(struct memory *m, uint64_t addr, void *buf, size_t len);

/* The readable run containing or following addr: [*start, *end).  false when nothing readable
 * lies at or above addr. */
bool memory_next_data(struct memory *m, uint64_t addr, uint64_t *start, uint64_t *end);

/* What holds the byte at addr, and how many bytes from addr come from the same source. */
enum mem_source memory_source(struct memory *m, uint64_t addr, uint64_t *run);

#endif
