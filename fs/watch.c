/* fs/watch.c — the directory watcher thread and the kernel name invalidation (watch.h). */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "watch.h"

/* cores.c calls this (under its lock) when a core appears or goes: queue the names the kernel
 * may have cached, for the thread to invalidate. */
static void queue_change(void *arg, const struct slot *s)
{
	struct watch *w = arg;
	struct where byname = { .proc = true, .pnode = PN_BYNAME };
	struct pending *grown;
	char pid[16];
	uint64_t one = 1;

	pthread_mutex_lock(&w->pending_lock);
	grown = realloc(w->pending, (w->npending + 2) * sizeof(*grown));
	if (grown) {
		w->pending = grown;
		snprintf(pid, sizeof(pid), "%d", s->pid);
		if ((grown[w->npending].name = strdup(pid)))
			grown[w->npending++].parent = TREE_ROOT_INO;
		if ((grown[w->npending].name = strdup(s->name)))
			grown[w->npending++].parent = tree_ino(w->tree, &byname);
	}
	pthread_mutex_unlock(&w->pending_lock);
	if (w->wake_fd >= 0 && write(w->wake_fd, &one, sizeof(one)) < 0)
		return;	/* the thread wakes within a second anyway */
}

static void flush_pending(struct watch *w)
{
	struct pending *list;
	size_t n;

	pthread_mutex_lock(&w->pending_lock);
	list = w->pending;
	n = w->npending;
	w->pending = NULL;
	w->npending = 0;
	pthread_mutex_unlock(&w->pending_lock);
	for (size_t i = 0; i < n; i++) {
		if (w->se)
			fuse_lowlevel_notify_inval_entry(w->se, list[i].parent, list[i].name,
							 strlen(list[i].name));
		free(list[i].name);
	}
	free(list);
}

static void *watch(void *arg)
{
	struct watch *w = arg;

	while (!atomic_load(&w->stop)) {
		struct pollfd p[2] = { { w->inotify_fd, POLLIN, 0 }, { w->wake_fd, POLLIN, 0 } };
		uint64_t count;

		if (poll(p, 2, 1000) < 0)
			continue;
		if ((p[1].revents & POLLIN) && read(w->wake_fd, &count, sizeof(count)) < 0)
			continue;
		cores_refresh(&w->tree->cs);	/* drains the inotify events */
		flush_pending(w);
	}
	return NULL;
}

void watch_init(struct watch *w, struct tree *t)
{
	memset(w, 0, sizeof(*w));
	w->tree = t;
	w->inotify_fd = w->wake_fd = -1;
	pthread_mutex_init(&w->pending_lock, NULL);
}

int watch_start(struct watch *w, struct fuse_session *se)
{
	struct cores *cs = &w->tree->cs;

	w->se = se;
	if (!cs->dir)
		return 0;
	cs->changed = queue_change;
	cs->changed_arg = w;
	w->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	/* A remote prefix has no events: it is listed again on the poll's timeouts (cores.h). */
	if (w->inotify_fd < 0 || w->wake_fd < 0 ||
	    (!cs->remote &&
	     inotify_add_watch(w->inotify_fd, cs->dir, IN_CREATE | IN_DELETE | IN_MOVED_FROM |
			       IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF) < 0))
		return -errno;
	if (!cs->remote)
		cs->events_fd = w->inotify_fd;
	if (pthread_create(&w->thread, NULL, watch, w) != 0)
		return -EAGAIN;
	w->running = true;
	return 0;
}

void watch_stop(struct watch *w)
{
	struct cores *cs = &w->tree->cs;
	uint64_t one = 1;

	atomic_store(&w->stop, true);
	if (w->running) {
		/* Wake it now, not at its next poll timeout a second later; should the write fail,
		 * that timeout still ends it. */
		ssize_t n = write(w->wake_fd, &one, sizeof(one));

		(void)n;
		pthread_join(w->thread, NULL);
	}
	w->running = false;
	pthread_mutex_lock(&cs->lock);
	cs->events_fd = -1;
	cs->changed = NULL;
	pthread_mutex_unlock(&cs->lock);
	if (w->inotify_fd >= 0)
		close(w->inotify_fd);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	w->inotify_fd = w->wake_fd = -1;
	w->se = NULL;
	flush_pending(w);
	pthread_mutex_destroy(&w->pending_lock);
}
