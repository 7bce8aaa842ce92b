/* fs/fuse_ops.c — lookup, getattr, readdir, open, read, write and readlink as generic walks
 * over the node tables.
 *
 * Inode numbers are computed, not allocated:
 *   a core's file:      slot << 40 | (thread + 1) << 16 | (row + 1)    (slot numbers start at 1)
 *   a /proc root file:  row + 1                                        (slot bits 0)
 * The root is 1: the /proc root, or the one core's directory when there is no /proc root.  Slot
 * numbers are never reused, so nothing needs forgetting and a removed core's inodes stay dead.
 * A core is immutable: its files carry their exact size, long attribute and entry timeouts, and
 * keep their page cache; mem is direct_io.  Files that change (control, the /proc root's) are
 * direct_io snapshots taken when read at offset 0. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../formats/util.h"
#include "fuse_ops.h"

#define TIMEOUT 86400.0		/* what a core holds never changes */
#define PROC_TIMEOUT 1.0	/* the /proc root's entries: cores come and go */
#define SLOT_SHIFT 40
#define THREAD_SHIFT 16
#define THREAD_MASK 0xffffffu
#define NODE_MASK 0xffffu

/* Where an inode points. */
struct where {
	bool proc;		/* a /proc root row (pnode), else a core's file (slot, ref) */
	enum proc_node_id pnode;
	struct slot *slot;
	struct fsref ref;
};

static struct fsctx *ctx(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static fuse_ino_t ino_of_core(const struct fsctx *f, const struct slot *s, struct fsref r)
{
	if (!f->proc && r.node == N_ROOT)
		return FUSE_ROOT_ID;
	return ((fuse_ino_t)s->number << SLOT_SHIFT) | ((fuse_ino_t)(r.thread + 1) << THREAD_SHIFT) |
	       (fuse_ino_t)(r.node + 1);
}

static fuse_ino_t ino_of_proc(enum proc_node_id p)
{
	return (fuse_ino_t)p + 1;
}

static int decode(struct fsctx *f, fuse_ino_t ino, struct where *w)
{
	uint64_t slot = ino >> SLOT_SHIFT, node = ino & NODE_MASK;
	uint64_t thread = (ino >> THREAD_SHIFT) & THREAD_MASK;
	bool per_thread;

	memset(w, 0, sizeof(*w));
	if (ino == FUSE_ROOT_ID && !f->proc) {
		slot = 1;
		node = N_ROOT + 1;
		thread = 0;
	}
	if (slot == 0) {
		if (!f->proc || node == 0 || node > PN_COUNT || thread)
			return -ENOENT;
		w->proc = true;
		w->pnode = (enum proc_node_id)(node - 1);
		return 0;
	}
	if (node == 0 || node > N_COUNT)
		return -ENOENT;
	w->slot = cores_get(&f->cs, (unsigned)slot);
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

/* The rendered bytes of a core's file, made on first use. */
static const struct rendered *rendered(struct mounted *m, struct fsref r)
{
	static const struct rendered oom = { .done = true, .err = -ENOMEM };
	struct rendered *row, *e;

	pthread_mutex_lock(&m->lock);
	row = m->cache[r.thread + 1];
	if (!row)
		row = m->cache[r.thread + 1] = calloc(N_COUNT, sizeof(*row));
	if (!row) {
		pthread_mutex_unlock(&m->lock);
		return &oom;
	}
	e = &row[r.node];
	if (!e->done) {
		struct buf b = { 0 };

		e->err = node_render(&m->process, r, &b);
		if (!e->err && buf_failed(&b))
			e->err = -ENOMEM;
		if (!e->err)
			e->data = buf_steal(&b, &e->len);
		buf_free(&b);
		e->done = true;
	}
	pthread_mutex_unlock(&m->lock);
	return e;
}

static int fill_core_attr(struct fsctx *f, const struct where *w, struct stat *st)
{
	const struct node *n = &nodes[w->ref.node];
	struct mounted *m = &w->slot->m;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino_of_core(f, w->slot, w->ref);
	st->st_mode = S_ISLNK(n->mode) ? n->mode : (n->mode & (S_IFMT | m->perm));
	st->st_nlink = S_ISDIR(n->mode) ? 2 : 1;
	st->st_uid = m->uid;
	st->st_gid = m->gid;
	st->st_atim = st->st_mtim = st->st_ctim = m->time;
	st->st_blksize = 4096;
	if (S_ISDIR(n->mode) && (n->flags & NODE_THREADS))
		st->st_nlink = 2 + m->core->nthreads;
	if (n->render && !(n->flags & NODE_CONTROL)) {
		const struct rendered *e = rendered(m, w->ref);

		if (e->err)
			return e->err;
		st->st_size = (off_t)e->len;
		st->st_blocks = (blkcnt_t)((e->len + 511) / 512);
	}
	return 0;
}

static int fill_attr(struct fsctx *f, const struct where *w, struct stat *st)
{
	const struct proc_node *p;

	if (!w->proc)
		return fill_core_attr(f, w, st);
	p = &proc_nodes[w->pnode];
	memset(st, 0, sizeof(*st));
	st->st_ino = ino_of_proc(w->pnode);
	st->st_mode = p->mode;
	st->st_nlink = S_ISDIR(p->mode) ? 2 : 1;
	st->st_uid = f->uid;
	st->st_gid = f->gid;
	st->st_atim = st->st_mtim = st->st_ctim = f->start;
	st->st_blksize = 4096;
	return 0;	/* files of the /proc root change: size 0, as /proc's own */
}

/* --- the /proc root ------------------------------------------------------------------------ */

static int proc_view_build(struct fsctx *f, struct proc_view *pv)
{
	struct slot **all;
	size_t n = cores_all(&f->cs, &all);

	memset(pv, 0, sizeof(*pv));
	clock_gettime(CLOCK_REALTIME, &pv->now);
	if (!all)
		return -ENOMEM;
	pv->v = calloc(n ? n : 1, sizeof(*pv->v));
	if (!pv->v) {
		free(all);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (cores_get(&f->cs, all[i]->number))
			pv->v[pv->n++] = &all[i]->m.process;
	free(all);
	return 0;
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

static int proc_lookup(struct fsctx *f, enum proc_node_id dir, const char *name, struct where *out,
		       double *timeout)
{
	struct slot *s = NULL;
	int32_t pid;

	*timeout = PROC_TIMEOUT;
	cores_refresh(&f->cs);
	for (int i = 0; i < PN_COUNT; i++)
		if (proc_nodes[i].parent == (int)dir && !strcmp(proc_nodes[i].name, name)) {
			memset(out, 0, sizeof(*out));
			out->proc = true;
			out->pnode = (enum proc_node_id)i;
			return 0;
		}
	if ((proc_nodes[dir].flags & PNODE_PIDS) && parse_pid(name, &pid))
		s = cores_by_pid(&f->cs, pid);
	else if (proc_nodes[dir].flags & PNODE_NAMES)
		s = cores_by_name(&f->cs, name);
	if (!s || !(s = cores_get(&f->cs, s->number)))
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	out->slot = s;
	out->ref = (struct fsref){ N_ROOT, -1 };
	return 0;
}

/* --- operations ----------------------------------------------------------------------------- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Reads of rendered files and of mem may run in parallel. */
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	/* `echo cmd > control` opens with O_TRUNC: take it in open, not as a setattr. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fsctx *f = ctx(req);
	struct fuse_entry_param e = { .attr_timeout = TIMEOUT, .entry_timeout = TIMEOUT };
	struct where dir, child;
	int r;

	if ((r = decode(f, parent, &dir)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (dir.proc) {
		r = proc_lookup(f, dir.pnode, name, &child, &e.entry_timeout);
		e.attr_timeout = child.proc ? PROC_TIMEOUT : TIMEOUT;
	} else {
		child = dir;
		r = node_lookup(&dir.slot->m.process, dir.ref, name, &child.ref);
	}
	if (r < 0 || (r = fill_attr(f, &child, &e.attr)) < 0)
		return (void)fuse_reply_err(req, -r);
	e.ino = e.attr.st_ino;
	fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fsctx *f = ctx(req);
	struct where w;
	struct stat st;
	int r;

	(void)fi;
	if ((r = decode(f, ino, &w)) < 0 || (r = fill_attr(f, &w, &st)) < 0)
		return (void)fuse_reply_err(req, -r);
	fuse_reply_attr(req, &st, w.proc ? PROC_TIMEOUT : TIMEOUT);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fsctx *f = ctx(req);
	struct where w;
	const struct rendered *e;
	int r;

	if ((r = decode(f, ino, &w)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (w.proc || !S_ISLNK(nodes[w.ref.node].mode))
		return (void)fuse_reply_err(req, EINVAL);
	e = rendered(&w.slot->m, w.ref);
	if (e->err)
		return (void)fuse_reply_err(req, -e->err);
	fuse_reply_readlink(req, e->data);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fsctx *f = ctx(req);
	struct where w;
	int r;

	if ((r = decode(f, ino, &w)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (w.proc ? !S_ISDIR(proc_nodes[w.pnode].mode) : !node_is_dir(w.ref.node))
		return (void)fuse_reply_err(req, ENOTDIR);
	/* A core's directories never change; the /proc root's do. */
	fi->cache_readdir = !w.proc;
	fi->keep_cache = !w.proc;
	if (w.proc)
		cores_refresh(&f->cs);
	fuse_reply_open(req, fi);
}

/* The index-th entry of a directory after "." and "..": its name, inode and mode. */
static bool dir_entry(struct fsctx *f, const struct where *dir, size_t index, char *name,
		      size_t namesz, struct stat *st)
{
	if (!dir->proc) {
		struct fsref child;

		if (!node_child(&dir->slot->m.process, dir->ref, index, &child, name, namesz))
			return false;
		st->st_ino = ino_of_core(f, dir->slot, child);
		st->st_mode = nodes[child.node].mode;
		return true;
	}
	for (int i = 0; i < PN_COUNT; i++) {
		if (proc_nodes[i].parent != (int)dir->pnode)
			continue;
		if (index-- == 0) {
			snprintf(name, namesz, "%s", proc_nodes[i].name);
			st->st_ino = ino_of_proc((enum proc_node_id)i);
			st->st_mode = proc_nodes[i].mode;
			return true;
		}
	}
	{
		struct slot **list;
		size_t n = (proc_nodes[dir->pnode].flags & PNODE_PIDS) ? cores_pid_owners(&f->cs, &list)
			 : (proc_nodes[dir->pnode].flags & PNODE_NAMES) ? cores_all(&f->cs, &list)
			 : (list = NULL, 0);
		bool found = index < n;

		if (found) {
			if (proc_nodes[dir->pnode].flags & PNODE_PIDS)
				snprintf(name, namesz, "%d", list[index]->pid);
			else
				snprintf(name, namesz, "%s", list[index]->name);
			st->st_ino = ino_of_core(f, list[index], (struct fsref){ N_ROOT, -1 });
			st->st_mode = S_IFDIR | 0555;
		}
		free(list);
		return found;
	}
}

static fuse_ino_t parent_ino(struct fsctx *f, const struct where *dir, fuse_ino_t self)
{
	int p;

	if (dir->proc) {
		p = proc_nodes[dir->pnode].parent;
		return p < 0 ? self : ino_of_proc((enum proc_node_id)p);
	}
	p = nodes[dir->ref.node].parent;
	if (p < 0)
		return f->proc ? FUSE_ROOT_ID : self;
	return ino_of_core(f, dir->slot, (struct fsref){ (enum node_id)p,
							  dir->ref.node == N_TID ? -1 : dir->ref.thread });
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fsctx *f = ctx(req);
	struct where dir;
	char *buf, name[512];
	size_t used = 0;
	int r;

	(void)fi;
	if ((r = decode(f, ino, &dir)) < 0)
		return (void)fuse_reply_err(req, -r);
	buf = malloc(size);
	if (!buf)
		return (void)fuse_reply_err(req, ENOMEM);
	/* Offsets: 0 ".", 1 "..", then 2 + the index of each child. */
	for (off_t i = off;; i++) {
		struct stat st = { 0 };
		const char *nm = name;
		size_t need;

		if (i == 0) {
			nm = ".";
			st.st_ino = ino;
			st.st_mode = S_IFDIR;
		} else if (i == 1) {
			nm = "..";
			st.st_ino = parent_ino(f, &dir, ino);
			st.st_mode = S_IFDIR;
		} else if (!dir_entry(f, &dir, (size_t)(i - 2), name, sizeof(name), &st)) {
			break;
		}
		need = fuse_add_direntry(req, buf + used, size - used, nm, &st, i + 1);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static bool snapshot_file(const struct where *w)
{
	return w->proc || (nodes[w->ref.node].flags & NODE_CONTROL);
}

/* control and the /proc root's files change: they are direct_io, and each open has the
 * snapshot its reads take (fh is fixed at open: the kernel sends back what open replied).
 * Reads of one open file may come at once (threads sharing an fd, the kernel's readahead): the
 * snapshot has a lock, and a reply is a copy owned by the request that sends it, so nothing a
 * reply points at can change or be freed by another request (op_release) while it is written. */
struct snapshot {
	pthread_mutex_t lock;
	struct buf text;
	bool taken;
};

static void open_snapshot(fuse_req_t req, struct fuse_file_info *fi)
{
	struct snapshot *snap = calloc(1, sizeof(*snap));

	if (!snap)
		return (void)fuse_reply_err(req, ENOMEM);
	pthread_mutex_init(&snap->lock, NULL);
	fi->direct_io = 1;
	fi->fh = (uint64_t)(uintptr_t)snap;
	if (fuse_reply_open(req, fi) != 0) {
		pthread_mutex_destroy(&snap->lock);
		free(snap);
	}
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fsctx *f = ctx(req);
	struct where w;
	int r;

	if ((r = decode(f, ino, &w)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (w.proc ? S_ISDIR(proc_nodes[w.pnode].mode) : node_is_dir(w.ref.node))
		return (void)fuse_reply_err(req, EISDIR);
	if (!w.proc && (nodes[w.ref.node].flags & NODE_CONTROL))
		return open_snapshot(req, fi);
	/* Everything but control is read-only, whoever asks (root passes the mode bits). */
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return (void)fuse_reply_err(req, EROFS);
	if (w.proc)
		return open_snapshot(req, fi);	/* changes as cores come and go */
	if (nodes[w.ref.node].flags & NODE_MEM) {
		fi->direct_io = 1;
	} else {
		const struct rendered *e = rendered(&w.slot->m, w.ref);

		if (e->err)
			return (void)fuse_reply_err(req, -e->err);
		fi->keep_cache = 1;
	}
	fuse_reply_open(req, fi);
}

/* mem: the offset is the address.  No byte at the first address is EIO, as /proc/PID/mem;
 * a hole later in the range ends the read short. */
static void read_mem(fuse_req_t req, struct mounted *m, size_t size, off_t off)
{
	const void *direct = off >= 0 ? core_mem_ptr(m->core, (uint64_t)off, size) : NULL;
	char *buf;
	ssize_t n;

	/* All in one segment of the core: hand the kernel the mapped file's bytes, one copy. */
	if (direct && size && core_still_whole(m->core))
		return (void)fuse_reply_buf(req, direct, size);
	buf = malloc(size ? size : 1);
	if (!buf)
		return (void)fuse_reply_err(req, ENOMEM);
	n = off < 0 ? 0 : memory_read(m->process.mem, (uint64_t)off, buf, size);
	if (n <= 0 && size > 0)
		fuse_reply_err(req, EIO);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static int render_snapshot(struct fsctx *f, const struct where *w, struct buf *out)
{
	struct proc_view pv;
	int r;

	if (!w->proc)
		return control_render(w->slot->m.control, out);
	if (!proc_nodes[w->pnode].render)
		return -EISDIR;
	if ((r = proc_view_build(f, &pv)) < 0)
		return r;
	r = proc_nodes[w->pnode].render(&pv, out);
	free(pv.v);
	return r;
}

/* control and the /proc root's files: a read at offset 0 takes a snapshot, later offsets read
 * from it, so a reader sees one consistent text while things change. */
static void read_snapshot(fuse_req_t req, struct fsctx *f, const struct where *w, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	struct snapshot *snap = (struct snapshot *)(uintptr_t)fi->fh;
	char *reply = NULL;
	size_t n = 0;
	int r = 0;

	if (!snap)
		return (void)fuse_reply_err(req, EBADF);
	pthread_mutex_lock(&snap->lock);
	if (off == 0 || !snap->taken) {
		struct buf fresh = { 0 };

		r = render_snapshot(f, w, &fresh);
		if (r == 0 && buf_failed(&fresh))
			r = -ENOMEM;
		if (r == 0) {
			buf_free(&snap->text);
			snap->text = fresh;
			snap->taken = true;
		} else {
			buf_free(&fresh);
		}
	}
	if (r == 0 && off >= 0 && (uint64_t)off < snap->text.len) {
		n = MIN(size, snap->text.len - (size_t)off);
		reply = malloc(n);
		if (reply)
			memcpy(reply, snap->text.p + off, n);
		else
			r = -ENOMEM;
	}
	pthread_mutex_unlock(&snap->lock);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, reply, n);
	free(reply);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fsctx *f = ctx(req);
	struct where w;
	const struct rendered *e;
	int r;

	if ((r = decode(f, ino, &w)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (snapshot_file(&w))
		return read_snapshot(req, f, &w, size, off, fi);
	if (nodes[w.ref.node].flags & NODE_MEM)
		return read_mem(req, &w.slot->m, size, off);
	e = rendered(&w.slot->m, w.ref);
	if (e->err)
		return (void)fuse_reply_err(req, -e->err);
	if (off < 0 || (uint64_t)off >= e->len)
		return (void)fuse_reply_buf(req, NULL, 0);
	fuse_reply_buf(req, e->data + off, MIN(size, e->len - (size_t)off));
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fsctx *f = ctx(req);
	struct where w;
	int r;

	(void)off;
	(void)fi;
	if ((r = decode(f, ino, &w)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (w.proc || !(nodes[w.ref.node].flags & NODE_CONTROL))
		return (void)fuse_reply_err(req, EROFS);
	if ((r = control_write(w.slot->m.control, data, size)) < 0)
		return (void)fuse_reply_err(req, -r);
	fuse_reply_write(req, size);
}

/* Only control may be truncated (O_TRUNC when the kernel did not take it atomically). */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct fsctx *f = ctx(req);
	struct where w;
	struct stat st;
	int r;

	(void)fi;
	if ((r = decode(f, ino, &w)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (w.proc || !(nodes[w.ref.node].flags & NODE_CONTROL) || (to_set & ~FUSE_SET_ATTR_SIZE) ||
	    attr->st_size != 0)
		return (void)fuse_reply_err(req, EROFS);
	if ((r = fill_attr(f, &w, &st)) < 0)
		return (void)fuse_reply_err(req, -r);
	fuse_reply_attr(req, &st, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct snapshot *snap = (struct snapshot *)(uintptr_t)fi->fh;

	(void)ino;
	if (snap) {
		buf_free(&snap->text);
		pthread_mutex_destroy(&snap->lock);
		free(snap);
	}
	fuse_reply_err(req, 0);
}

/* SEEK_DATA and SEEK_HOLE on mem report exactly the readable ranges. */
static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct fsctx *f = ctx(req);
	struct where w;
	uint64_t start, end;
	int r;

	(void)fi;
	if ((r = decode(f, ino, &w)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (w.proc || !(nodes[w.ref.node].flags & NODE_MEM) ||
	    (whence != SEEK_DATA && whence != SEEK_HOLE))
		return (void)fuse_reply_err(req, EINVAL);
	if (off < 0)
		return (void)fuse_reply_err(req, ENXIO);
	/* Offsets are signed: memory at or above 2^63 (x86_64's [vsyscall]) is out of reach. */
	if (!memory_next_data(w.slot->m.process.mem, (uint64_t)off, &start, &end) || start > INT64_MAX) {
		/* No data at or above off: the rest is one hole. */
		return (void)(whence == SEEK_DATA ? fuse_reply_err(req, ENXIO)
						  : fuse_reply_lseek(req, off));
	}
	if (whence == SEEK_DATA)
		return (void)fuse_reply_lseek(req, (off_t)MAX(start, (uint64_t)off));
	/* SEEK_HOLE: off itself when it is in a hole, else the end of its readable run. */
	if (start > (uint64_t)off)
		return (void)fuse_reply_lseek(req, off);
	fuse_reply_lseek(req, end > (uint64_t)INT64_MAX ? INT64_MAX : (off_t)end);
}

/* The tree is the core's: nothing can be created, removed or renamed in it. */
static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	(void)parent, (void)name, (void)mode, (void)fi;
	fuse_reply_err(req, EROFS);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	fuse_reply_err(req, EROFS);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent, (void)name, (void)mode;
	fuse_reply_err(req, EROFS);
}

static void op_remove(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent, (void)name;
	fuse_reply_err(req, EROFS);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link, (void)parent, (void)name;
	fuse_reply_err(req, EROFS);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
	(void)ino, (void)parent, (void)name;
	fuse_reply_err(req, EROFS);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	(void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
	fuse_reply_err(req, EROFS);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv = { .f_bsize = 4096, .f_frsize = 4096, .f_namemax = 255 };

	(void)ino;
	fuse_reply_statfs(req, &sv);
}

const struct fuse_lowlevel_ops corefs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.setattr = op_setattr,
	.release = op_release,
	.statfs = op_statfs,
	.create = op_create,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_remove,
	.rmdir = op_remove,
	.symlink = op_symlink,
	.link = op_link,
	.rename = op_rename,
	.lseek = op_lseek,
};

/* --- one core ------------------------------------------------------------------------------ */

int mounted_init(struct mounted *m, struct core *core, const char *sysroot, bool fill, bool debug)
{
	struct stat st;
	int r;

	memset(m, 0, sizeof(*m));
	m->core = core;
	m->debug = debug;
	m->uid = getuid();
	m->gid = getgid();
	m->perm = 07777;
	if (fstat(core->fd, &st) == 0)
		m->time = st.st_mtim;
	/* Nobody reads more through the mount than the core file lets them read: the group and
	 * others keep their bits only where the file grants them read (a compressed core's fd is
	 * a memfd, so the file's own mode is taken by its path), and the group is the file's. */
	if (stat(core->path, &st) == 0 || fstat(core->fd, &st) == 0) {
		m->gid = st.st_gid;
		m->perm = 07700 | ((st.st_mode & S_IRGRP) ? 0070 : 0) | ((st.st_mode & S_IROTH) ? 0007 : 0);
	}
	r = process_init(&m->process, core, sysroot, fill);
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
			free(m->cache[t][i].data);
		free(m->cache[t]);
	}
	free(m->cache);
	m->cache = NULL;
	control_free(m->control);
	m->control = NULL;
	process_free(&m->process);
	pthread_mutex_destroy(&m->lock);
}

/* --- the mount ----------------------------------------------------------------------------- */

/* cores.c calls this (under its lock) when a core appears or goes: queue the names the kernel
 * may have cached, for the watcher thread to invalidate. */
static void queue_change(void *arg, const struct slot *s)
{
	struct fsctx *f = arg;
	struct pending *grown;
	char pid[16];
	uint64_t one = 1;

	pthread_mutex_lock(&f->pending_lock);
	grown = realloc(f->pending, (f->npending + 2) * sizeof(*grown));
	if (grown) {
		f->pending = grown;
		snprintf(pid, sizeof(pid), "%d", s->pid);
		if ((grown[f->npending].name = strdup(pid)))
			grown[f->npending++].parent = FUSE_ROOT_ID;
		if ((grown[f->npending].name = strdup(s->name)))
			grown[f->npending++].parent = ino_of_proc(PN_BYNAME);
	}
	pthread_mutex_unlock(&f->pending_lock);
	if (f->wake_fd >= 0 && write(f->wake_fd, &one, sizeof(one)) < 0)
		return;	/* the watcher wakes within a second anyway */
}

static void flush_pending(struct fsctx *f)
{
	struct pending *list;
	size_t n;

	pthread_mutex_lock(&f->pending_lock);
	list = f->pending;
	n = f->npending;
	f->pending = NULL;
	f->npending = 0;
	pthread_mutex_unlock(&f->pending_lock);
	for (size_t i = 0; i < n; i++) {
		if (f->se)
			fuse_lowlevel_notify_inval_entry(f->se, list[i].parent, list[i].name,
							 strlen(list[i].name));
		free(list[i].name);
	}
	free(list);
}

static void *watch(void *arg)
{
	struct fsctx *f = arg;

	while (!atomic_load(&f->stop)) {
		struct pollfd p[2] = { { f->inotify_fd, POLLIN, 0 }, { f->wake_fd, POLLIN, 0 } };
		uint64_t count;

		if (poll(p, 2, 1000) < 0)
			continue;
		if ((p[1].revents & POLLIN) && read(f->wake_fd, &count, sizeof(count)) < 0)
			continue;
		cores_refresh(&f->cs);	/* drains the inotify events */
		flush_pending(f);
	}
	return NULL;
}

void fsctx_init(struct fsctx *f, bool proc)
{
	memset(f, 0, sizeof(*f));
	f->proc = proc;
	f->uid = getuid();
	f->gid = getgid();
	f->inotify_fd = f->wake_fd = -1;
	clock_gettime(CLOCK_REALTIME, &f->start);
	pthread_mutex_init(&f->pending_lock, NULL);
}

int fsctx_watch(struct fsctx *f, struct fuse_session *se)
{
	f->se = se;
	if (!f->cs.dir)
		return 0;
	f->cs.changed = queue_change;
	f->cs.changed_arg = f;
	f->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	f->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (f->inotify_fd < 0 || f->wake_fd < 0 ||
	    inotify_add_watch(f->inotify_fd, f->cs.dir, IN_CREATE | IN_DELETE | IN_MOVED_FROM |
			      IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF) < 0)
		return -errno;
	f->cs.events_fd = f->inotify_fd;
	if (pthread_create(&f->watcher, NULL, watch, f) != 0)
		return -EAGAIN;
	f->watching = true;
	return 0;
}

void fsctx_free(struct fsctx *f)
{
	atomic_store(&f->stop, true);
	if (f->watching)
		pthread_join(f->watcher, NULL);
	f->cs.events_fd = -1;
	if (f->inotify_fd >= 0)
		close(f->inotify_fd);
	if (f->wake_fd >= 0)
		close(f->wake_fd);
	f->se = NULL;
	flush_pending(f);
	cores_free(&f->cs);
	pthread_mutex_destroy(&f->pending_lock);
}

int fsctx_cat(struct fsctx *f, const char *path, struct buf *out, bool *is_link)
{
	struct where w = { .proc = f->proc, .pnode = PN_ROOT };
	char *copy = strdup(path), *save = NULL, *part;
	int r = 0;

	*is_link = false;
	if (!copy)
		return -ENOMEM;
	if (!f->proc) {
		w.slot = cores_get(&f->cs, 1);
		w.ref = (struct fsref){ N_ROOT, -1 };
		if (!w.slot)
			r = -ENOENT;
	}
	for (part = strtok_r(copy, "/", &save); part && !r; part = strtok_r(NULL, "/", &save)) {
		double t;

		if (!strcmp(part, "."))
			continue;
		if (w.proc)
			r = proc_lookup(f, w.pnode, part, &w, &t);
		else
			r = node_lookup(&w.slot->m.process, w.ref, part, &w.ref);
	}
	free(copy);
	if (r < 0)
		return r;
	if (w.proc ? S_ISDIR(proc_nodes[w.pnode].mode) : node_is_dir(w.ref.node)) {
		struct stat st;
		char name[512];

		for (size_t i = 0; dir_entry(f, &w, i, name, sizeof(name), &st); i++)
			buf_printf(out, "%s\n", name);
		return 0;
	}
	if (snapshot_file(&w))
		return render_snapshot(f, &w, out);
	if (nodes[w.ref.node].flags & NODE_MEM)
		return -EINVAL;
	*is_link = S_ISLNK(nodes[w.ref.node].mode);
	return node_render(&w.slot->m.process, w.ref, out);
}
