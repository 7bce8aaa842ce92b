/* fs/tree.h — the mounted tree without FUSE: where an inode points, and the walks over the two
 * node tables (procroot.c's /proc root, nodes.c's files of a core) that the FUSE operations
 * (ops.c) and `corefs --cat` share.
 *
 * Inode numbers are computed, not allocated:
 *   a core's file:      slot << 40 | (thread + 1) << 16 | (row + 1)    (slot numbers start at 1)
 *   a /proc root file:  row + 1                                        (slot bits 0)
 * The root is 1: the /proc root, or the one core's directory when there is no /proc root.  Slot
 * numbers are never reused, so nothing needs forgetting and a removed core's inodes stay dead. */
#ifndef COREFS_TREE_H
#define COREFS_TREE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "cores.h"
#include "procroot.h"

#define TREE_ROOT_INO 1		/* FUSE_ROOT_ID */

/* What a mount serves: its cores, and whether its root is a /proc of them. */
struct tree {
	struct cores cs;
	bool proc;
	uid_t uid;		/* the /proc root's owner: the daemon's user */
	gid_t gid;
	struct timespec start;	/* the /proc root's times: when the mount began */
};

/* Where an inode points: a row of the /proc root, or a core's row (and thread). */
struct where {
	bool proc;		/* a /proc root row (pnode), else a core's file (slot, ref) */
	enum proc_node_id pnode;
	struct slot *slot;
	struct fsref ref;
};

/* What a place is, for the operations on it. */
enum tree_kind {
	TREE_DIR,
	TREE_FILE,		/* rendered once and kept: it has an exact size */
	TREE_LINK,		/* its target rendered once and kept */
	TREE_MEM,		/* the process's memory: offset = address */
	TREE_CONTROL,		/* control.h's: written, and read as a snapshot of its state */
	TREE_ROOT_FILE,		/* a /proc root file: read as a snapshot of every core */
};

void tree_init(struct tree *t, bool proc);
void tree_free(struct tree *t);

uint64_t tree_ino(const struct tree *t, const struct where *w);
/* Where inode ino points; -ENOENT when nowhere (a core gone, a thread it lacks). */
int tree_find(struct tree *t, uint64_t ino, struct where *w);
/* The parent of a directory; the root's is the root. */
struct where tree_parent(const struct tree *t, const struct where *dir);

/* The child called name of dir; -ENOENT, or -ENOTDIR for a core's file that is no directory.
 * A lookup in the /proc root rescans the directory of cores when it changed. */
int tree_lookup(struct tree *t, const struct where *dir, const char *name, struct where *out);
/* Call each(arg, name, child) for the children of dir in readdir's order, from the index-th
 * (0-based) on, until it returns false or none is left. */
void tree_list(struct tree *t, const struct where *dir, size_t index,
	       bool (*each)(void *arg, const char *name, const struct where *child), void *arg);

enum tree_kind tree_kind(const struct where *w);
/* The row's st_mode, before the core file's permissions apply (tree_attr applies them). */
mode_t tree_mode(const struct where *w);
/* The attributes; a TREE_FILE's or TREE_LINK's size is its rendered length (rendering it). */
int tree_attr(struct tree *t, const struct where *w, struct stat *st);
/* The bytes of a TREE_FILE or TREE_LINK, made on first use and kept. */
const struct rendered *tree_rendered(const struct where *w);
/* The text of a TREE_CONTROL or TREE_ROOT_FILE now. */
int tree_snapshot(struct tree *t, const struct where *w, struct buf *out);

/* `corefs --cat PATH`: the file at a path relative to the root, or a directory's entries one
 * per line; 0 or a negative errno (-EINVAL for mem, which only a mount reads). */
int tree_cat(struct tree *t, const char *path, struct buf *out, bool *is_link);

#endif
