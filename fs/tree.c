/* fs/tree.c — where inodes point and the walks over the node tables (tree.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tree.h"

#define SLOT_SHIFT 40
#define THREAD_SHIFT 16
#define THREAD_MASK 0xffffffu
#define NODE_MASK 0xffffu

void tree_init(struct tree *t, bool proc)
{
	memset(t, 0, sizeof(*t));
	t->proc = proc;
	t->uid = getuid();
	t->gid = getgid();
	clock_gettime(CLOCK_REALTIME, &t->start);
}

void tree_free(struct tree *t)
{
	cores_free(&t->cs);
}

static struct where proc_row(enum proc_node_id p)
{
	return (struct where){ .proc = true, .pnode = p };
}

static struct where core_row(struct slot *s, struct fsref r)
{
	return (struct where){ .slot = s, .ref = r };
}

uint64_t tree_ino(const struct tree *t, const struct where *w)
{
	if (w->proc)
		return (uint64_t)w->pnode + 1;
	if (!t->proc && w->ref.node == N_ROOT)
		return TREE_ROOT_INO;
	return ((uint64_t)w->slot->number << SLOT_SHIFT) |
	       ((uint64_t)(w->ref.thread + 1) << THREAD_SHIFT) | (uint64_t)(w->ref.node + 1);
}

int tree_find(struct tree *t, uint64_t ino, struct where *w)
{
	uint64_t slot = ino >> SLOT_SHIFT, node = ino & NODE_MASK;
	uint64_t thread = (ino >> THREAD_SHIFT) & THREAD_MASK;
	bool per_thread;

	memset(w, 0, sizeof(*w));
	if (ino == TREE_ROOT_INO && !t->proc) {
		slot = 1;
		node = N_ROOT + 1;
		thread = 0;
	}
	if (slot == 0) {
		if (!t->proc || node == 0 || node > PN_COUNT || thread)
			return -ENOENT;
		*w = proc_row((enum proc_node_id)(node - 1));
		return 0;
	}
	if (node == 0 || node > N_COUNT)
		return -ENOENT;
	w->slot = cores_get(&t->cs, (unsigned)slot);
	if (!w->slot)
		return -ENOENT;
	w->ref.node = (enum node_id)(node - 1);
	w->ref.thread = (long)thread - 1;
	per_thread = node_per_thread(w->ref.node);
	if (per_thread != (w->ref.thread >= 0))
		return -ENOENT;
	if (w->ref.thread >= 0 && (size_t)w->ref.thread >= w->slot->m.core->nthreads)
		return -ENOENT;
	return 0;
}

struct where tree_parent(const struct tree *t, const struct where *dir)
{
	int row;

	if (dir->proc) {
		row = proc_nodes[dir->pnode].parent;
		return row < 0 ? *dir : proc_row((enum proc_node_id)row);
	}
	row = nodes[dir->ref.node].parent;
	if (row < 0)	/* a core's directory: in the /proc root, or the root itself */
		return t->proc ? proc_row(PN_ROOT) : *dir;
	return core_row(dir->slot, (struct fsref){ (enum node_id)row,
						   dir->ref.node == N_TID ? -1 : dir->ref.thread });
}

static bool parse_pid(const char *s, int32_t *pid)
{
	char *end;
	long v;

	if (*s < '1' || *s > '9')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end || errno || v > INT32_MAX)
		return false;
	*pid = (int32_t)v;
	return true;
}

/* In a /proc root directory: its own rows, then a core by pid or by file name. */
static int proc_lookup(struct tree *t, enum proc_node_id dir, const char *name, struct where *out)
{
	struct slot *s = NULL;
	int32_t pid;

	cores_refresh(&t->cs);
	for (int i = 0; i < PN_COUNT; i++)
		if (proc_nodes[i].parent == (int)dir && !strcmp(proc_nodes[i].name, name)) {
			*out = proc_row((enum proc_node_id)i);
			return 0;
		}
	if ((proc_nodes[dir].flags & PNODE_PIDS) && parse_pid(name, &pid))
		s = cores_by_pid(&t->cs, pid);
	else if (proc_nodes[dir].flags & PNODE_NAMES)
		s = cores_by_name(&t->cs, name);
	if (!s || !(s = cores_get(&t->cs, s->number)))
		return -ENOENT;
	*out = core_row(s, (struct fsref){ N_ROOT, -1 });
	return 0;
}

int tree_lookup(struct tree *t, const struct where *dir, const char *name, struct where *out)
{
	struct where d = *dir;

	if (d.proc)
		return proc_lookup(t, d.pnode, name, out);
	*out = d;
	return node_lookup(&d.slot->m.process, d.ref, name, &out->ref);
}

/* The /proc root's rows under dir, then its cores: one <pid>/ per owner, or every file name. */
static void list_proc(struct tree *t, enum proc_node_id dir, size_t index,
		      bool (*each)(void *arg, const char *name, const struct where *child), void *arg)
{
	unsigned flags = proc_nodes[dir].flags;
	struct slot **list = NULL;
	size_t n = 0;
	char pid[16];

	for (int i = 0; i < PN_COUNT; i++) {
		struct where child = proc_row((enum proc_node_id)i);

		if (proc_nodes[i].parent != (int)dir)
			continue;
		if (index > 0)
			index--;
		else if (!each(arg, proc_nodes[i].name, &child))
			return;
	}
	if (flags & PNODE_PIDS)
		n = cores_pid_owners(&t->cs, &list);
	else if (flags & PNODE_NAMES)
		n = cores_all(&t->cs, &list);
	for (size_t i = index; i < n; i++) {
		struct where child = core_row(list[i], (struct fsref){ N_ROOT, -1 });

		snprintf(pid, sizeof(pid), "%d", list[i]->pid);
		if (!each(arg, (flags & PNODE_PIDS) ? pid : list[i]->name, &child))
			break;
	}
	free(list);
}

void tree_list(struct tree *t, const struct where *dir, size_t index,
	       bool (*each)(void *arg, const char *name, const struct where *child), void *arg)
{
	struct where child = *dir;
	char name[512];

	if (dir->proc)
		return list_proc(t, dir->pnode, index, each, arg);
	while (node_child(&dir->slot->m.process, dir->ref, index++, &child.ref, name, sizeof(name)))
		if (!each(arg, name, &child))
			return;
}

enum tree_kind tree_kind(const struct where *w)
{
	const struct node *n;

	if (w->proc)
		return S_ISDIR(proc_nodes[w->pnode].mode) ? TREE_DIR : TREE_ROOT_FILE;
	n = &nodes[w->ref.node];
	if (S_ISDIR(n->mode))
		return TREE_DIR;
	if (n->flags & NODE_MEM)
		return TREE_MEM;
	if (n->flags & NODE_CONTROL)
		return TREE_CONTROL;
	return S_ISLNK(n->mode) ? TREE_LINK : TREE_FILE;
}

mode_t tree_mode(const struct where *w)
{
	return w->proc ? proc_nodes[w->pnode].mode : nodes[w->ref.node].mode;
}

const struct rendered *tree_rendered(const struct where *w)
{
	return mounted_rendered(&w->slot->m, w->ref);
}

int tree_attr(struct tree *t, const struct where *w, struct stat *st)
{
	enum tree_kind kind = tree_kind(w);
	mode_t mode = tree_mode(w);
	const struct mounted *m = w->proc ? NULL : &w->slot->m;

	memset(st, 0, sizeof(*st));
	st->st_ino = tree_ino(t, w);
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_blksize = 4096;
	if (!m) {	/* files of the /proc root change: size 0, as /proc's own */
		st->st_mode = mode;
		st->st_uid = t->uid;
		st->st_gid = t->gid;
		st->st_atim = st->st_mtim = st->st_ctim = t->start;
		return 0;
	}
	st->st_mode = S_ISLNK(mode) ? mode : (mode & (S_IFMT | m->perm));
	st->st_uid = m->uid;
	st->st_gid = m->gid;
	st->st_atim = st->st_mtim = st->st_ctim = m->process.died;
	if (nodes[w->ref.node].flags & NODE_THREADS)
		st->st_nlink = 2 + m->core->nthreads;
	if (kind == TREE_FILE || kind == TREE_LINK) {
		const struct rendered *e = tree_rendered(w);

		/* A link whose readlink is refused still has attributes (size 0), as in procfs. */
		if (e->err && !(kind == TREE_LINK && e->err == -EACCES))
			return e->err;
		st->st_size = (off_t)e->len;
		st->st_blocks = (blkcnt_t)((e->len + 511) / 512);
	}
	return 0;
}

/* The processes the /proc root's files speak of: those listed as <pid>/. */
static int proc_view_build(struct tree *t, struct proc_view *pv)
{
	struct slot **listed;
	size_t n = cores_listed(&t->cs, &listed);

	memset(pv, 0, sizeof(*pv));
	clock_gettime(CLOCK_REALTIME, &pv->now);
	if (!listed)
		return -ENOMEM;
	pv->v = calloc(n ? n : 1, sizeof(*pv->v));
	if (!pv->v) {
		free(listed);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		pv->v[pv->n++] = &listed[i]->m.process;
	free(listed);
	return 0;
}

int tree_snapshot(struct tree *t, const struct where *w, struct buf *out)
{
	struct proc_view pv;
	int r;

	if (!w->proc)
		return control_render(w->slot->m.control, out);
	if (!proc_nodes[w->pnode].render)
		return -EISDIR;
	if ((r = proc_view_build(t, &pv)) < 0)
		return r;
	r = proc_nodes[w->pnode].render(&pv, out);
	free(pv.v);
	return r;
}

static bool cat_name(void *arg, const char *name, const struct where *child)
{
	(void)child;
	buf_printf(arg, "%s\n", name);
	return true;
}

int tree_cat(struct tree *t, const char *path, struct buf *out, bool *is_link)
{
	struct where w = proc_row(PN_ROOT);
	char *copy = strdup(path), *save = NULL, *part;
	int r = 0;

	*is_link = false;
	if (!copy)
		return -ENOMEM;
	if (!t->proc && !(w = core_row(cores_get(&t->cs, 1), (struct fsref){ N_ROOT, -1 })).slot)
		r = -ENOENT;
	for (part = strtok_r(copy, "/", &save); part && !r; part = strtok_r(NULL, "/", &save))
		if (strcmp(part, "."))
			r = tree_lookup(t, &w, part, &w);
	free(copy);
	if (r < 0)
		return r;
	switch (tree_kind(&w)) {
	case TREE_DIR:
		tree_list(t, &w, 0, cat_name, out);
		return 0;
	case TREE_CONTROL:
	case TREE_ROOT_FILE:
		return tree_snapshot(t, &w, out);
	case TREE_MEM:
		return -EINVAL;
	case TREE_LINK:
		*is_link = true;
		break;
	case TREE_FILE:
		break;
	}
	return node_render(&w.slot->m.process, w.ref, out);
}
