/* fs/cores.c — the slot table of served cores and the scanning of a directory of cores. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../formats/compressed.h"
#include "../formats/dump.h"
#include "../formats/remote.h"
#include "cores.h"

#define REMOTE_RESCAN 10	/* seconds between listings of a remote prefix */

/* A slot for core, or with no core yet (a compressed file, opened later) and the pid given. */
static struct slot *new_slot(struct cores *cs, const char *name, const char *path,
			     const struct stat *st, struct core *core, int32_t pid)
{
	struct slot **grown, *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	grown = realloc(cs->slots, (cs->nslots + 1) * sizeof(*grown));
	if (!grown || !(s->name = strdup(name)) || !(s->path = strdup(path))) {
		if (grown)
			cs->slots = grown;
		free(s->name);
		free(s);
		return NULL;
	}
	cs->slots = grown;
	s->number = (unsigned)++cs->nslots;
	cs->slots[s->number - 1] = s;
	s->dev = st->st_dev;
	s->ino = st->st_ino;
	s->size = st->st_size;
	s->mtime = st->st_mtim;
	s->alive = true;
	s->m.core = core;
	s->pid = core ? core->pid : pid;
	return s;
}

static void setup(struct cores *cs, const struct file_lookup *where, bool fill, bool debug)
{
	memset(cs, 0, sizeof(*cs));
	pthread_mutex_init(&cs->lock, NULL);
	pthread_cond_init(&cs->opened, NULL);
	cs->events_fd = -1;
	cs->where = *where;
	cs->fill = fill;
	cs->debug = debug;
}

int cores_init_one(struct cores *cs, struct core *core, const char *path,
		   const struct file_lookup *where, bool fill, bool debug)
{
	struct stat st;
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

	setup(cs, where, fill, debug);
	if (fstat(core->fd, &st) < 0)
		return -errno;
	if (!new_slot(cs, name, path, &st, core, 0))
		return -ENOMEM;
	cs->scanned = true;
	/* One core: build its view now, so problems show before mounting. */
	return cores_get(cs, 1) ? 0 : cs->slots[0]->err;
}

static int cmp_timespec(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	return a->tv_nsec < b->tv_nsec ? -1 : a->tv_nsec > b->tv_nsec;
}

static struct slot *find_live(struct cores *cs, const char *name)
{
	for (size_t i = 0; i < cs->nslots; i++)
		if (cs->slots[i]->alive && !strcmp(cs->slots[i]->name, name))
			return cs->slots[i];
	return NULL;
}

static void kill_slot(struct cores *cs, struct slot *s)
{
	s->alive = false;
	if (cs->changed)
		cs->changed(cs->changed_arg, s);
	/* The core stays open: a reader may still be inside it.  It is closed at unmount. */
}

/* Whether a directory entry may be a core: a regular file whose first bytes say so, a core's
 * or a compressed file's (*compressed).  Cheap, so a store full of other files is not parsed. */
static bool looks_like_core(int dfd, const char *name, bool *compressed)
{
	const struct dump_format *f = dump_sniff_at(dfd, name);

	*compressed = f && f->kind == DUMP_UNWRAP;
	return f != NULL;
}

/* Files judged not to be cores, remembered so an unchanged one is not reread at every scan. */
static bool ignored_before(struct cores *cs, const char *name, const struct stat *st)
{
	for (size_t i = 0; i < cs->nignored; i++) {
		struct ignored *g = &cs->ignored[i];

		if (!strcmp(g->name, name))
			return g->ino == st->st_ino && g->size == st->st_size &&
			       !cmp_timespec(&g->mtime, &st->st_mtim);
	}
	return false;
}

static void remember_ignored(struct cores *cs, const char *name, const struct stat *st)
{
	struct ignored *g = NULL, *grown;

	for (size_t i = 0; i < cs->nignored && !g; i++)
		if (!strcmp(cs->ignored[i].name, name))
			g = &cs->ignored[i];
	if (!g) {
		grown = realloc(cs->ignored, (cs->nignored + 1) * sizeof(*grown));
		if (!grown)
			return;
		cs->ignored = grown;
		g = &cs->ignored[cs->nignored];
		if (!(g->name = strdup(name)))
			return;
		cs->nignored++;
	}
	g->ino = st->st_ino;
	g->size = st->st_size;
	g->mtime = st->st_mtim;
}

/* Open a slot's core outside the lock, as a compressed one may take seconds to decompress:
 * one thread opens it, others wait for that.  A core that does not open is ignored as scan()
 * ignores one, until its file changes.  When the core's pid is not the one its file name gave,
 * the core's wins from now on.  Called and returns with cs->lock held; slots may have been
 * added meanwhile. */
static void open_slot(struct cores *cs, struct slot *s)
{
	struct core *core;
	struct core_error err;
	int r;

	while (s->opening)
		pthread_cond_wait(&cs->opened, &cs->lock);
	if (s->m.core || !s->alive)
		return;
	s->opening = true;
	pthread_mutex_unlock(&cs->lock);
	r = core_open(s->path, &core, &err);	/* s->path does not change */
	pthread_mutex_lock(&cs->lock);
	s->opening = false;
	pthread_cond_broadcast(&cs->opened);
	if (r == 0 && !s->alive) {
		core_close(core);	/* removed or replaced meanwhile; no reader has seen it */
		return;
	}
	if (r < 0) {
		struct stat st = { .st_ino = s->ino, .st_size = s->size, .st_mtim = s->mtime };

		if (cs->debug)
			fprintf(stderr, "corefs: %s, ignored\n", err.msg);
		if (s->alive) {
			remember_ignored(cs, s->name, &st);
			kill_slot(cs, s);
		}
		return;
	}
	if (core->pid != s->pid) {
		if (cs->debug && s->pid)
			fprintf(stderr, "corefs: %s: its name says pid %d, the core says %d: "
				"listed as %d\n", s->path, s->pid, core->pid, core->pid);
		if (s->pid && cs->changed)
			cs->changed(cs->changed_arg, s);	/* the name's pid goes */
		s->pid = core->pid;
		if (cs->changed)
			cs->changed(cs->changed_arg, s);
	}
	s->m.core = core;
}

static void scan(struct cores *cs)
{
	DIR *d = opendir(cs->dir);
	struct dirent *e;
	bool *seen;
	size_t nold = cs->nslots;

	if (!d) {
		if (cs->debug)
			fprintf(stderr, "corefs: %s: %s\n", cs->dir, strerror(errno));
		return;
	}
	seen = calloc(nold ? nold : 1, sizeof(*seen));
	if (!seen) {
		closedir(d);
		return;
	}
	while ((e = readdir(d))) {
		struct stat st;
		struct slot *s;
		struct core *core = NULL;
		struct core_error err;
		char *path;
		bool compressed;

		if (e->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		s = find_live(cs, e->d_name);
		if (s && s->ino == st.st_ino && s->dev == st.st_dev && s->size == st.st_size &&
		    !cmp_timespec(&s->mtime, &st.st_mtim)) {
			if (s->number <= nold)
				seen[s->number - 1] = true;
			continue;
		}
		if (s)
			kill_slot(cs, s);	/* replaced under the same name */
		if (ignored_before(cs, e->d_name, &st))
			continue;
		if (!looks_like_core(dirfd(d), e->d_name, &compressed)) {
			if (cs->debug)
				fprintf(stderr, "corefs: %s/%s: not a core, ignored\n", cs->dir, e->d_name);
			remember_ignored(cs, e->d_name, &st);
			continue;
		}
		if (asprintf(&path, "%s/%s", cs->dir, e->d_name) < 0)
			continue;
		/* A compressed core is decompressed outside the lock: on first use when
		 * its name gives its pid (systemd-coredump's), else by cores_refresh after
		 * this scan. */
		if (!compressed && core_open(path, &core, &err) < 0) {
			/* Perhaps still being written: the change that completes it rescans. */
			if (cs->debug)
				fprintf(stderr, "corefs: %s, ignored\n", err.msg);
			remember_ignored(cs, e->d_name, &st);
			free(path);
			continue;
		}
		s = new_slot(cs, e->d_name, path, &st, core,
			     compressed ? coredump_name_pid(e->d_name) : 0);
		free(path);
		if (!s) {
			core_close(core);
			continue;
		}
		if (cs->changed)
			cs->changed(cs->changed_arg, s);
	}
	closedir(d);
	for (size_t i = 0; i < nold; i++)
		if (cs->slots[i]->alive && !seen[i])
			kill_slot(cs, cs->slots[i]);
	free(seen);
}

/* A remote prefix: its objects' names below it (not those further down), each as a file whose
 * inode number is its ETag's hash, so that an object replaced under its name is a new core.  An
 * object is opened on first use (or after this scan, to learn its pid, when its name does not
 * give it): its headers are fetched only then. */
static void scan_remote(struct cores *cs)
{
	struct remote_entry *e = NULL;
	size_t n = 0, nold = cs->nslots, plen = strlen(cs->dir);
	char why[512];
	bool *seen;

	if (remote_list(cs->dir, dump_remote(), &e, &n, why, sizeof(why)) < 0) {
		if (cs->debug)
			fprintf(stderr, "corefs: %s\n", why);
		return;
	}
	seen = calloc(nold ? nold : 1, sizeof(*seen));
	for (size_t i = 0; seen && i < n; i++) {
		const char *name = e[i].url + plen;
		struct stat st = { .st_size = (off_t)e[i].size };
		struct slot *s;
		uint64_t h = 1469598103934665603u;	/* FNV-1a of the ETag */

		if (strncmp(e[i].url, cs->dir, plen) || !*name || strchr(name, '/') || name[0] == '.')
			continue;
		for (const char *p = e[i].etag ? e[i].etag : ""; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211u;
		st.st_ino = (ino_t)h;
		st.st_mtim.tv_sec = e[i].mtime;
		s = find_live(cs, name);
		if (s && s->ino == st.st_ino && s->size == st.st_size) {
			if (s->number <= nold)
				seen[s->number - 1] = true;
			continue;
		}
		if (s)
			kill_slot(cs, s);	/* replaced under the same name */
		s = new_slot(cs, name, e[i].url, &st, NULL, coredump_name_pid(name));
		if (s && cs->changed)
			cs->changed(cs->changed_arg, s);
	}
	for (size_t i = 0; seen && i < nold; i++)
		if (cs->slots[i]->alive && !seen[i])
			kill_slot(cs, cs->slots[i]);
	free(seen);
	remote_entries_free(e, n);
}

int cores_init_dir(struct cores *cs, const char *dir, const struct file_lookup *where, bool fill,
		   bool debug)
{
	struct stat st;

	setup(cs, where, fill, debug);
	cs->where.exe = NULL;
	if (remote_claims(dir)) {
		cs->remote = true;
		if (asprintf(&cs->dir, "%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/") < 0) {
			cs->dir = NULL;
			return -ENOMEM;
		}
		cores_refresh(cs);
		return 0;
	}
	if (stat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	cs->dir = strdup(dir);
	if (!cs->dir)
		return -ENOMEM;
	cores_refresh(cs);
	return 0;
}

/* Whether the directory's listing may have changed since it was scanned: a local directory's
 * mtime or inotify events; a remote prefix is listed again every REMOTE_RESCAN seconds. */
static bool due(struct cores *cs)
{
	char events[4096];
	struct timespec now;
	struct stat st;
	bool force = false;

	if (cs->remote) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (cs->scanned && now.tv_sec - cs->dir_mtime.tv_sec < REMOTE_RESCAN)
			return false;
		cs->dir_mtime = now;
		return true;
	}
	if (cs->events_fd >= 0)
		while (read(cs->events_fd, events, sizeof(events)) > 0)
			force = true;
	if (stat(cs->dir, &st) < 0 ||
	    (!force && cs->scanned && !cmp_timespec(&st.st_mtim, &cs->dir_mtime)))
		return false;
	cs->dir_mtime = st.st_mtim;
	return true;
}

void cores_refresh(struct cores *cs)
{
	if (!cs->dir)
		return;
	pthread_mutex_lock(&cs->lock);
	if (due(cs)) {
		cs->scanned = true;
		if (cs->remote)
			scan_remote(cs);
		else
			scan(cs);
		/* Compressed and remote cores whose name gives no pid: open them now, to list
		 * them. */
		for (size_t i = 0; i < cs->nslots; i++)
			if (cs->slots[i]->alive && !cs->slots[i]->m.core && !cs->slots[i]->pid)
				open_slot(cs, cs->slots[i]);
	}
	pthread_mutex_unlock(&cs->lock);
}

struct slot *cores_get(struct cores *cs, unsigned number)
{
	struct slot *s;

	pthread_mutex_lock(&cs->lock);
	if (number == 0 || number > cs->nslots || !(s = cs->slots[number - 1])->alive) {
		pthread_mutex_unlock(&cs->lock);
		return NULL;
	}
	if (!s->m.core)
		open_slot(cs, s);
	if (!s->alive || !s->m.core) {
		pthread_mutex_unlock(&cs->lock);
		return NULL;
	}
	if (!s->ready && !s->err) {
		s->err = mounted_init(&s->m, s->m.core, &cs->where, cs->fill, cs->debug);
		s->ready = s->err == 0;
	}
	pthread_mutex_unlock(&cs->lock);
	return s->ready ? s : NULL;
}

/* Whether a beats b for the same pid: newer mtime, then the greater name.  The one rule of who
 * owns <pid>/. */
static bool newer(const struct slot *a, const struct slot *b)
{
	int c = cmp_timespec(&a->mtime, &b->mtime);

	return c > 0 || (c == 0 && strcmp(a->name, b->name) > 0);
}

static struct slot *owner_locked(struct cores *cs, int32_t pid)
{
	struct slot *best = NULL;

	for (size_t i = 0; i < cs->nslots; i++) {
		struct slot *s = cs->slots[i];

		if (s->alive && s->pid == pid && (!best || newer(s, best)))
			best = s;
	}
	return best;
}

struct slot *cores_by_pid(struct cores *cs, int32_t pid)
{
	struct slot *s;

	pthread_mutex_lock(&cs->lock);
	/* A pid a file name gave is confirmed by opening its core before it is answered. */
	while ((s = owner_locked(cs, pid)) && !s->m.core)
		open_slot(cs, s);
	pthread_mutex_unlock(&cs->lock);
	return s;
}

struct slot *cores_by_name(struct cores *cs, const char *name)
{
	struct slot *s;

	pthread_mutex_lock(&cs->lock);
	s = find_live(cs, name);
	pthread_mutex_unlock(&cs->lock);
	return s;
}

/* By pid, and each pid's owner before the others of that pid. */
static int cmp_owner(const void *a, const void *b)
{
	const struct slot *x = *(struct slot *const *)a, *y = *(struct slot *const *)b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return newer(x, y) ? -1 : newer(y, x);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp((*(struct slot *const *)a)->name, (*(struct slot *const *)b)->name);
}

/* Live slots into out (room for every slot): owners of a pid sorted by pid, else all by name.
 * One sort, so the owners of n cores cost O(n log n), not a search per core. */
static size_t collect_locked(struct cores *cs, struct slot **out, bool owners)
{
	size_t n = 0, kept = 0;

	for (size_t i = 0; i < cs->nslots; i++) {
		struct slot *s = cs->slots[i];

		if (s->alive && (!owners || s->pid > 0))
			out[n++] = s;
	}
	qsort(out, n, sizeof(*out), owners ? cmp_owner : cmp_name);
	if (!owners)
		return n;
	for (size_t i = 0; i < n; i++)
		if (!kept || out[kept - 1]->pid != out[i]->pid)
			out[kept++] = out[i];
	return kept;
}

static size_t collect(struct cores *cs, struct slot ***out, bool owners)
{
	size_t n = 0;

	pthread_mutex_lock(&cs->lock);
	*out = malloc((cs->nslots ? cs->nslots : 1) * sizeof(**out));
	if (*out)
		n = collect_locked(cs, *out, owners);
	pthread_mutex_unlock(&cs->lock);
	return n;
}

size_t cores_pid_owners(struct cores *cs, struct slot ***out)
{
	return collect(cs, out, true);
}

size_t cores_all(struct cores *cs, struct slot ***out)
{
	return collect(cs, out, false);
}

size_t cores_listed(struct cores *cs, struct slot ***out)
{
	size_t n, kept = 0;

	/* Open every core first: a compressed one's pid may not be its name's. */
	pthread_mutex_lock(&cs->lock);
	for (size_t i = 0; i < cs->nslots; i++)
		if (cs->slots[i]->alive && !cs->slots[i]->m.core)
			open_slot(cs, cs->slots[i]);
	pthread_mutex_unlock(&cs->lock);
	n = collect(cs, out, true);
	if (!*out)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (cores_get(cs, (*out)[i]->number))
			(*out)[kept++] = (*out)[i];
	return kept;
}

void cores_free(struct cores *cs)
{
	for (size_t i = 0; i < cs->nslots; i++) {
		struct slot *s = cs->slots[i];

		if (s->ready)
			mounted_free(&s->m);
		core_close(s->m.core);
		free(s->name);
		free(s->path);
		free(s);
	}
	free(cs->slots);
	for (size_t i = 0; i < cs->nignored; i++)
		free(cs->ignored[i].name);
	free(cs->ignored);
	free(cs->dir);
	pthread_cond_destroy(&cs->opened);
	pthread_mutex_destroy(&cs->lock);
	memset(cs, 0, sizeof(*cs));
}
