/* fs/render.h — the files of the tree as pure functions from the model to bytes.
 *
 * Nothing here knows about FUSE: a renderer gets a view of one core (and, for per-thread files,
 * one of its threads) and appends the file's bytes to a buffer.  The unit tests and
 * `corefs --cat` call them directly. */
#ifndef COREFS_RENDER_H
#define COREFS_RENDER_H

#include "../formats/core.h"
#include "../formats/files.h"
#include "../formats/memory.h"
#include "../formats/procargs.h"
#include "../formats/unwind.h"
#include "../formats/vma.h"
#include "buf.h"

/* One core as the tree shows it. */
struct view {
	const struct core *core;
	const struct disk_files *files;
	const struct core_vmas *vmas;
	struct memory *mem;	/* the core's bytes, and the mapped files' where filling is on */
	const struct proc_args *args;	/* argv and envp on the stack */
	struct unwinder *unwinder;	/* modules, symbols and backtraces, made on first use */
};

/* Append the file's bytes; 0 on success, a negative errno (-ENOENT: the core cannot tell). */
typedef int (*render_fn)(const struct view *v, const struct core_thread *t, struct buf *out);

int render_maps(const struct view *v, const struct core_thread *t, struct buf *out);
/* One line of maps (and the header of each mapping in smaps). */
void render_vma_header(const struct core_vma *m, struct buf *out);
int render_auxv(const struct view *v, const struct core_thread *t, struct buf *out);
int render_comm(const struct view *v, const struct core_thread *t, struct buf *out);
int render_cmdline(const struct view *v, const struct core_thread *t, struct buf *out);
int render_environ(const struct view *v, const struct core_thread *t, struct buf *out);
int render_regs(const struct view *v, const struct core_thread *t, struct buf *out);
int render_core_json(const struct view *v, const struct core_thread *t, struct buf *out);
/* Symlink targets. */
int render_exe(const struct view *v, const struct core_thread *t, struct buf *out);

/* Backtraces and loaded objects (render_stack.c), and their parts of core.json. */
int render_stack(const struct view *v, const struct core_thread *t, struct buf *out);
int render_modules(const struct view *v, const struct core_thread *t, struct buf *out);
struct cJSON;
void json_add_stack(const struct view *v, const struct core_thread *t, struct cJSON *thread);
struct cJSON *json_modules(const struct view *v);

/* Set up a view of c: checks its mapped files (sysroot may be NULL), builds its map, and reads
 * memory through the mapped files where the core lacks bytes unless fill is false. */
int view_init(struct view *v, const struct core *c, const char *sysroot, bool fill);
void view_free(struct view *v);

#endif
