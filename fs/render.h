/* fs/render.h — the files of the tree as pure functions from the model to bytes.
 *
 * Nothing here knows about FUSE: a renderer gets one dead process (formats/process.h) and, for
 * per-thread files, one of its threads, and appends the file's bytes to a buffer.  The unit tests and
 * `corefs --cat` call them directly. */
#ifndef COREFS_RENDER_H
#define COREFS_RENDER_H

#include "../formats/process.h"
#include "buf.h"

/* Append the file's bytes; 0 on success, a negative errno (-ENOENT: the core cannot tell). */
typedef int (*render_fn)(const struct process *v, const struct core_thread *t, struct buf *out);

int render_maps(const struct process *v, const struct core_thread *t, struct buf *out);
/* One line of maps (and the header of each mapping in smaps). */
void render_vma_header(const struct core_vma *m, struct buf *out);
int render_auxv(const struct process *v, const struct core_thread *t, struct buf *out);
int render_comm(const struct process *v, const struct core_thread *t, struct buf *out);
int render_cmdline(const struct process *v, const struct core_thread *t, struct buf *out);
int render_environ(const struct process *v, const struct core_thread *t, struct buf *out);
int render_regs(const struct process *v, const struct core_thread *t, struct buf *out);
int render_core_json(const struct process *v, const struct core_thread *t, struct buf *out);
/* Symlink targets. */
int render_exe(const struct process *v, const struct core_thread *t, struct buf *out);

/* Backtraces and loaded objects (render_stack.c), and their parts of core.json. */
int render_stack(const struct process *v, const struct core_thread *t, struct buf *out);
/* Every thread's stack under a "TID N (comm)" line, the signalled thread first. */
int render_all_stacks(const struct process *v, const struct core_thread *t, struct buf *out);
int render_modules(const struct process *v, const struct core_thread *t, struct buf *out);
struct cJSON;
void json_add_stack(const struct process *v, const struct core_thread *t, struct cJSON *thread);
struct cJSON *json_modules(const struct process *v);

#endif
