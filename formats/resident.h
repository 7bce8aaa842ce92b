/* formats/resident.h — how many pages of each segment were resident when the process died, as
 * far as the dump can tell; counted once per core, on first use, and kept.
 *
 * The kernel writes a page it does not find present (never touched, or the shared zero page) as
 * a hole (dump_skip): the data runs of a kernel core's file (core_file_data) are its resident
 * pages.  gdb's gcore reads every page of a mapping through /proc/PID/mem, which hands it zeros
 * for a page never touched, and writes them as data: a gcore core cannot tell an untouched page
 * from a touched page of zeros.  The kernel never counts a page that was never touched, and a
 * process rarely keeps whole pages of zeros it wrote, so in a gcore core a page of zeros counts
 * as not resident, whether the file holds it as data or (decompressed, copied sparse) as a
 * hole: a gcore core and its compressed copy count alike.  Other producers: the data runs. */
#ifndef COREFS_RESIDENT_H
#define COREFS_RESIDENT_H

#include <stdint.h>

#include "core.h"

struct resident;

/* The counts of core c, made on first use; NULL when out of memory. */
struct resident *resident_new(const struct core *c);
void resident_free(struct resident *r);

/* The page size the counts are in: NT_FILE's when it is a plausible one, else 4096. */
uint64_t resident_page_size(const struct core *c);

/* The resident pages of s, one of the core's segments (0 for any other).  Safe to call from
 * any thread: the first call counts every segment, under the counts' lock. */
uint64_t resident_pages(struct resident *r, const struct core_segment *s);

#endif
