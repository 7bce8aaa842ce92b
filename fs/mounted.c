/* fs/mounted.c — one served core from its view's making to its end, and the cache of its
 * rendered files (mounted.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../formats/remote.h"
#include "mounted.h"

int mounted_init(struct mounted *m, struct core *core, const struct file_lookup *where,
		 bool fill, bool debug)
{
	struct stat st;
	int r;

	memset(m, 0, sizeof(*m));
	m->core = core;
	m->debug = debug;
	m->uid = getuid();
	m->gid = getgid();
	m->perm = 07777;
	/* Nobody reads more through the mount than the core file lets them read: the group and
	 * others keep their bits only where the file grants them read (a compressed core's fd is
	 * a memfd, so the file's own mode is taken by its path), and the group is the file's. */
	if (stat(core->path, &st) == 0 || fstat(core->fd, &st) == 0) {
		m->gid = st.st_gid;
		m->perm = 07700 | ((st.st_mode & S_IRGRP) ? 0070 : 0) | ((st.st_mode & S_IROTH) ? 0007 : 0);
	}
	r = process_init(&m->process, core, where, fill);
	if (r < 0)
		return r;
	m->cache = calloc(core->nthreads + 1, sizeof(*m->cache));
	r = m->cache ? control_new(&m->control, &m->process) : -ENOMEM;
	if (r < 0) {
		free(m->cache);
		m->cache = NULL;
		process_free(&m->process);
		return r;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->changed, NULL);
	return 0;
}

void mounted_free(struct mounted *m)
{
	if (!m->cache)
		return;
	for (size_t t = 0; t <= m->core->nthreads; t++) {
		if (!m->cache[t])
			continue;
		for (int i = 0; i < N_COUNT; i++)
			for (struct rendered *r = m->cache[t][i].r, *older; r; r = older) {
				older = r->older;
				free(r->data);
				free(r);
			}
		free(m->cache[t]);
	}
	free(m->cache);
	m->cache = NULL;
	control_free(m->control);
	m->control = NULL;
	process_free(&m->process);
	pthread_cond_destroy(&m->changed);
	pthread_mutex_destroy(&m->lock);
}

/* What a NODE_FETCHES file shows changes with: the fetches that ended, and for a remote core
 * whether the object changed under us (its problem). */
static unsigned generation(const struct mounted *m)
{
	return disk_files_generation(m->process.files) +
	       (m->core->remote && remote_problem(m->core->remote) ? 0x80000000u : 0);
}

/* Whether the slot's version is the one to serve: made, and final or made since the last
 * change of what it shows. */
static bool current(const struct mounted *m, const struct render_slot *e)
{
	return e->r && (e->r->settled || e->r->generation == generation(m));
}

static struct rendered *render(struct mounted *m, struct fsref r)
{
	struct rendered *v = calloc(1, sizeof(*v));
	struct buf b = { 0 };

	if (!v)
		return NULL;
	v->generation = generation(m);
	v->err = node_render(&m->process, r, &b);
	if (!v->err && buf_failed(&b))
		v->err = -ENOMEM;
	if (!v->err)
		v->data = buf_steal(&b, &v->len);
	buf_free(&b);
	v->settled = !(nodes[r.node].flags & NODE_FETCHES) ||
		     (disk_files_settled(m->process.files) && !m->core->remote);
	return v;
}

const struct rendered *mounted_rendered(struct mounted *m, struct fsref r)
{
	static const struct rendered oom = { .err = -ENOMEM, .settled = true };
	struct render_slot *row, *e;
	struct rendered *v;

	pthread_mutex_lock(&m->lock);
	row = m->cache[r.thread + 1];
	if (!row)
		row = m->cache[r.thread + 1] = calloc(N_COUNT, sizeof(*row));
	if (!row) {
		pthread_mutex_unlock(&m->lock);
		return &oom;
	}
	e = &row[r.node];
	while (e->busy)
		pthread_cond_wait(&m->changed, &m->lock);
	if (!current(m, e)) {
		e->busy = true;
		pthread_mutex_unlock(&m->lock);
		v = render(m, r);
		pthread_mutex_lock(&m->lock);
		if (v) {
			v->older = e->r;
			e->r = v;
		}
		e->busy = false;
		pthread_cond_broadcast(&m->changed);
	}
	v = e->r;
	pthread_mutex_unlock(&m->lock);
	return v ? v : &oom;
}
