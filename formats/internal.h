/* formats/internal.h — what the readers (elfcore.c, macho.c) share inside formats/ to build the
 * model (internal.c): its arrays and the problems it records.  Not for fs/ or revive/. */
#ifndef COREFS_INTERNAL_H
#define COREFS_INTERNAL_H

#include "core.h"

/* Record one sentence about what the core lacks or gets wrong (printf format). */
int core_problem(struct core *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clip a segment that wraps around the address space and set how many of its bytes the file
 * holds (avail); call once vaddr, memsz, offset and filesz are set. */
void core_segment_settle(const struct core *c, struct core_segment *s);

/* Sort the segments' address index and say how much of them the file lacks. */
int core_index_segments(struct core *c, struct core_error *err);

/* Index the NT_FILE entries by address, whatever order the producer wrote them in. */
int core_index_files(struct core *c, struct core_error *err);

/* A zeroed thread at the end of c->threads (capacity doubling in *cap); NULL when out of memory. */
struct core_thread *core_new_thread(struct core *c, size_t *cap);

/* Keep a register-set note on a thread, raw and named. */
int core_add_regset(struct core_thread *t, const struct core_note *n);

#endif
