/* fs/fuse_ops.h — the FUSE low-level operations over the node tables. */
#ifndef COREFS_FUSE_OPS_H
#define COREFS_FUSE_OPS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "cores.h"
#include "procroot.h"

/* What a mount serves: its cores, and whether its root is a /proc of them. */
struct fsctx {
	struct cores cs;
	bool proc;
	uid_t uid;
	gid_t gid;
	struct timespec start;
	struct fuse_session *se;
	/* Directory mode: a thread watches the directory and tells the kernel which names of
	 * the root and of by-name/ changed (never from inside a request: that could deadlock). */
	pthread_t watcher;
	bool watching;
	int inotify_fd, wake_fd;
	pthread_mutex_t pending_lock;
	struct pending { fuse_ino_t parent; char *name; } *pending;
	size_t npending;
	atomic_bool stop;	/* the watcher ends */
};

extern const struct fuse_lowlevel_ops corefs_ops;

void fsctx_init(struct fsctx *f, bool proc);
/* Start watching the directory (after the session exists); no-op for one core. */
int fsctx_watch(struct fsctx *f, struct fuse_session *se);
void fsctx_free(struct fsctx *f);

/* Render a file given by a path relative to the root (`--cat`); 0 or a negative errno.  Lists a
 * directory's entries, one per line. */
int fsctx_cat(struct fsctx *f, const char *path, struct buf *out, bool *is_link);

#endif
