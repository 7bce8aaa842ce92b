/* fs/render_mm.h — a dead process's memory as the kernel would count it (mm_struct's counters
 * and layout), shared by the files that show it: stat, status and statm, smaps, and the /proc
 * root's totals. */
#ifndef COREFS_RENDER_MM_H
#define COREFS_RENDER_MM_H

#include <stdbool.h>
#include <stdint.h>

#include "render.h"

/* What mm_struct would hold, derived from the map and the executable's program headers. */
struct mm_view {
	uint64_t page;
	uint64_t total_vm, exec_vm, stack_vm, data_vm;	/* pages */
	uint64_t anon, file, shmem;			/* resident pages (formats/resident.h) */
	bool layout;		/* the executable's program headers were read */
	uint64_t start_code, end_code, start_data, end_data;
	uint64_t start_brk, start_stack;
};

/* The counters; with layout, also what the executable's headers and the stack say. */
void mm_build(const struct process *v, struct mm_view *mm, bool layout);

/* One "Label:   value kB" line of smaps and meminfo: the label padded to 16 columns, the value
 * to 8. */
void smaps_kb(struct buf *out, const char *label, uint64_t bytes);

#endif
