/* fs/watch.h — directory mode: a thread watches the directory of cores and tells the kernel which
 * names of the root and of by-name/ went or changed, so it forgets them.  Invalidation is never
 * done from inside a request (that could deadlock): cores.c reports a change under its lock, the
 * name is queued, and the thread tells the kernel. */
#ifndef COREFS_WATCH_H
#define COREFS_WATCH_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "tree.h"

struct watch {
	struct tree *tree;
	struct fuse_session *se;
	pthread_t thread;
	bool running;
	int inotify_fd, wake_fd;
	pthread_mutex_t pending_lock;
	struct pending { fuse_ino_t parent; char *name; } *pending;
	size_t npending;
	atomic_bool stop;	/* the thread ends */
};

void watch_init(struct watch *w, struct tree *t);
/* Start watching t's directory, with the session that serves it; a no-op for one core. */
int watch_start(struct watch *w, struct fuse_session *se);
/* End the thread (before the session goes) and forget what it had queued. */
void watch_stop(struct watch *w);

#endif
