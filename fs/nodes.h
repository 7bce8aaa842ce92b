/* fs/nodes.h — the tree of a mounted core as one table, in the spirit of fs/proc/base.c.
 *
 * Every file and directory is a row: its name, its parent row, its mode and how its bytes are
 * made.  Per-thread files are rows under N_TID, which stands for each thread in turn.  Lookup,
 * readdir and `corefs --cat` are generic walks over the table; adding a file is adding a row. */
#ifndef COREFS_NODES_H
#define COREFS_NODES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "render.h"

enum node_id {
	N_ROOT,
	N_AUXV,
	N_CMDLINE,
	N_COMM,
	N_CONTROL,
	N_CORE_JSON,
	N_CWD,
	N_ENVIRON,
	N_EXE,
	N_FD,
	N_IO,
	N_LIMITS,
	N_MAPS,
	N_MEM,
	N_MODULES,
	N_PERSONALITY,
	N_ROOT_LINK,		/* root, the symbolic link (N_ROOT is the directory) */
	N_SMAPS,
	N_SMAPS_ROLLUP,
	N_STACK,
	N_STAT,
	N_STATM,
	N_STATUS,
	N_SYSCALL,
	N_WCHAN,
	N_TASK,
	N_TID,			/* task/<tid>/, one per thread */
	N_TID_CMDLINE,
	N_TID_COMM,
	N_TID_IO,
	N_TID_REGS,
	N_TID_STACK,
	N_TID_STAT,
	N_TID_STATM,
	N_TID_STATUS,
	N_TID_SYSCALL,
	N_COUNT
};

#define NODE_MEM 1u		/* bytes are the process's memory, served direct_io */
#define NODE_THREADS 2u		/* a directory whose children are the threads (N_TID) */
#define NODE_CONTROL 4u		/* read and written through fs/control.h, never cached */
#define NODE_FETCHES 8u		/* shows where fetching the mapped files stands (mounted.h) */

struct node {
	const char *name;	/* NULL for N_TID: the name is the tid */
	int parent;		/* row of the parent directory, -1 for the root */
	mode_t mode;
	render_fn render;	/* regular files and symlinks */
	bool (*present)(const struct process *v);	/* NULL: always there */
	unsigned flags;
};

extern const struct node nodes[N_COUNT];

/* A place in the tree: a row, and the thread it is about (-1 outside task/<tid>/). */
struct fsref {
	enum node_id node;
	long thread;		/* index into core->threads */
};

/* The child called name of directory dir; -ENOENT when there is none. */
int node_lookup(const struct process *v, struct fsref dir, const char *name, struct fsref *out);

/* The index-th child of dir (0-based), its name written to namebuf; false past the last. */
bool node_child(const struct process *v, struct fsref dir, size_t index, struct fsref *out,
		char *namebuf, size_t namebufsz);

/* Resolve a relative path ("task/1234/regs"); -ENOENT or -ENOTDIR when it does not resolve. */
int node_resolve(const struct process *v, const char *path, struct fsref *out);

/* Render a regular file or symlink target into out. */
int node_render(const struct process *v, struct fsref ref, struct buf *out);

static inline bool node_is_dir(enum node_id n) { return S_ISDIR(nodes[n].mode); }

/* Whether a row is about one thread: N_TID or below it. */
static inline bool node_per_thread(enum node_id n)
{
	for (int i = (int)n; i >= 0; i = nodes[i].parent)
		if (i == N_TID)
			return true;
	return false;
}

#endif
