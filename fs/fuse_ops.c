/* fs/fuse_ops.c — lookup, getattr, readdir, open, read and readlink as generic walks over the
 * node table.  Inode numbers are computed, not allocated: (thread + 1) << 16 | (row + 1), so
 * the root is 1 and nothing needs forgetting.  The core is immutable: files carry their exact
 * size, long attribute and entry timeouts, and keep their page cache; mem is direct_io. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../formats/util.h"
#include "fuse_ops.h"

#define TIMEOUT 86400.0
#define THREAD_SHIFT 16
#define NODE_MASK 0xffffu

static struct mounted *ctx(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static fuse_ino_t ino_of(struct fsref r)
{
	return ((fuse_ino_t)(r.thread + 1) << THREAD_SHIFT) | (fuse_ino_t)(r.node + 1);
}

static int ref_of(const struct mounted *m, fuse_ino_t ino, struct fsref *r)
{
	uint64_t node = (ino & NODE_MASK), thread = ino >> THREAD_SHIFT;
	bool per_thread;

	if (node == 0 || node > N_COUNT)
		return -ENOENT;
	r->node = (enum node_id)(node - 1);
	r->thread = (long)thread - 1;
	per_thread = node_per_thread(r->node);
	if (per_thread != (r->thread >= 0))
		return -ENOENT;
	if (r->thread >= 0 && (size_t)r->thread >= m->core->nthreads)
		return -ENOENT;
	return 0;
}

/* The rendered bytes of a file, made on first use. */
static const struct rendered *rendered(struct mounted *m, struct fsref r)
{
	struct rendered *row, *e;

	pthread_mutex_lock(&m->lock);
	row = m->cache[r.thread + 1];
	if (!row)
		row = m->cache[r.thread + 1] = calloc(N_COUNT, sizeof(*row));
	if (!row) {
		static const struct rendered oom = { .done = true, .err = -ENOMEM };

		pthread_mutex_unlock(&m->lock);
		return &oom;
	}
	e = &row[r.node];
	if (!e->done) {
		struct buf b = { 0 };

		e->err = node_render(&m->view, r, &b);
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

static int fill_attr(struct mounted *m, struct fsref r, struct stat *st)
{
	const struct node *n = &nodes[r.node];

	memset(st, 0, sizeof(*st));
	st->st_ino = ino_of(r);
	st->st_mode = n->mode;
	st->st_nlink = S_ISDIR(n->mode) ? 2 : 1;
	st->st_uid = m->uid;
	st->st_gid = m->gid;
	st->st_atim = st->st_mtim = st->st_ctim = m->time;
	st->st_blksize = 4096;
	if (S_ISDIR(n->mode) && (n->flags & NODE_THREADS))
		st->st_nlink = 2 + m->core->nthreads;
	if (n->render && !(n->flags & NODE_CONTROL)) {
		const struct rendered *e = rendered(m, r);

		if (e->err)
			return e->err;
		st->st_size = (off_t)e->len;
		st->st_blocks = (blkcnt_t)((e->len + 511) / 512);
	}
	return 0;
}

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
	struct mounted *m = ctx(req);
	struct fuse_entry_param e = { .attr_timeout = TIMEOUT, .entry_timeout = TIMEOUT };
	struct fsref dir, child;
	int r;

	if ((r = ref_of(m, parent, &dir)) < 0 || (r = node_lookup(&m->view, dir, name, &child)) < 0)
		return (void)fuse_reply_err(req, -r);
	if ((r = fill_attr(m, child, &e.attr)) < 0)
		return (void)fuse_reply_err(req, -r);
	e.ino = e.attr.st_ino;
	fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mounted *m = ctx(req);
	struct fsref ref;
	struct stat st;
	int r;

	(void)fi;
	if ((r = ref_of(m, ino, &ref)) < 0 || (r = fill_attr(m, ref, &st)) < 0)
		return (void)fuse_reply_err(req, -r);
	fuse_reply_attr(req, &st, TIMEOUT);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct mounted *m = ctx(req);
	struct fsref ref;
	const struct rendered *e;
	int r;

	if ((r = ref_of(m, ino, &ref)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (!S_ISLNK(nodes[ref.node].mode))
		return (void)fuse_reply_err(req, EINVAL);
	e = rendered(m, ref);
	if (e->err)
		return (void)fuse_reply_err(req, -e->err);
	fuse_reply_readlink(req, e->data);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mounted *m = ctx(req);
	struct fsref ref;
	int r;

	if ((r = ref_of(m, ino, &ref)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (!node_is_dir(ref.node))
		return (void)fuse_reply_err(req, ENOTDIR);
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct mounted *m = ctx(req);
	struct fsref dir, child;
	char *buf, name[32];
	size_t used = 0;
	int r;

	(void)fi;
	if ((r = ref_of(m, ino, &dir)) < 0)
		return (void)fuse_reply_err(req, -r);
	buf = malloc(size);
	if (!buf)
		return (void)fuse_reply_err(req, ENOMEM);
	/* Offsets: 0 ".", 1 "..", then 2 + the index of each child. */
	for (off_t i = off;; i++) {
		struct stat st = { 0 };
		const char *nm;
		size_t need;

		if (i == 0) {
			nm = ".";
			st.st_ino = ino;
			st.st_mode = S_IFDIR;
		} else if (i == 1) {
			nm = "..";
			st.st_ino = nodes[dir.node].parent < 0 ? ino
				    : ino_of((struct fsref){ (enum node_id)nodes[dir.node].parent,
							     dir.node == N_TID ? -1 : dir.thread });
			st.st_mode = S_IFDIR;
		} else {
			if (!node_child(&m->view, dir, (size_t)(i - 2), &child, name, sizeof(name)))
				break;
			nm = name;
			st.st_ino = ino_of(child);
			st.st_mode = nodes[child.node].mode;
		}
		need = fuse_add_direntry(req, buf + used, size - used, nm, &st, i + 1);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mounted *m = ctx(req);
	struct fsref ref;
	int r;

	if ((r = ref_of(m, ino, &ref)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (node_is_dir(ref.node))
		return (void)fuse_reply_err(req, EISDIR);
	if (nodes[ref.node].flags & NODE_CONTROL) {
		/* Its text changes with the process: read fresh, never cached. */
		fi->direct_io = 1;
		fi->fh = 0;
		return (void)fuse_reply_open(req, fi);
	}
	/* Everything but control is read-only, whoever asks (root passes the mode bits). */
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return (void)fuse_reply_err(req, EROFS);
	if (nodes[ref.node].flags & NODE_MEM) {
		fi->direct_io = 1;
		fi->nonseekable = 0;
	} else {
		const struct rendered *e = rendered(m, ref);

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
	n = off < 0 ? 0 : memory_read(m->view.mem, (uint64_t)off, buf, size);
	if (n <= 0 && size > 0)
		fuse_reply_err(req, EIO);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

/* control: a read at offset 0 takes a snapshot of the state, later offsets read from it, so a
 * reader sees one consistent text even while the process changes state. */
static void read_control(fuse_req_t req, struct mounted *m, size_t size, off_t off,
			 struct fuse_file_info *fi)
{
	struct buf *snap = (struct buf *)(uintptr_t)fi->fh;
	int r;

	if (!snap || off == 0) {
		if (!snap && !(snap = calloc(1, sizeof(*snap))))
			return (void)fuse_reply_err(req, ENOMEM);
		fi->fh = (uint64_t)(uintptr_t)snap;
		snap->len = 0;
		r = control_render(m->control, snap);
		if (r == 0 && buf_failed(snap))
			r = -ENOMEM;
		if (r < 0)
			return (void)fuse_reply_err(req, -r);
	}
	if (off < 0 || (uint64_t)off >= snap->len)
		return (void)fuse_reply_buf(req, NULL, 0);
	fuse_reply_buf(req, snap->p + off, MIN(size, snap->len - (size_t)off));
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct mounted *m = ctx(req);
	struct fsref ref;
	char *text, *line, *save = NULL;
	int r;

	(void)off;
	(void)fi;
	if ((r = ref_of(m, ino, &ref)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (!(nodes[ref.node].flags & NODE_CONTROL))
		return (void)fuse_reply_err(req, EROFS);
	text = strndup(data, size);
	if (!text)
		return (void)fuse_reply_err(req, ENOMEM);
	/* Each line is a command; the write fails with the first command that fails. */
	for (line = strtok_r(text, "\n", &save); line && !r; line = strtok_r(NULL, "\n", &save))
		r = control_command(m->control, line);
	free(text);
	if (r < 0)
		return (void)fuse_reply_err(req, -r);
	fuse_reply_write(req, size);
}

/* Only control may be truncated (O_TRUNC when the kernel did not take it atomically). */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct mounted *m = ctx(req);
	struct fsref ref;
	struct stat st;
	int r;

	(void)fi;
	if ((r = ref_of(m, ino, &ref)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (!(nodes[ref.node].flags & NODE_CONTROL) || (to_set & ~FUSE_SET_ATTR_SIZE) ||
	    attr->st_size != 0)
		return (void)fuse_reply_err(req, EROFS);
	if ((r = fill_attr(m, ref, &st)) < 0)
		return (void)fuse_reply_err(req, -r);
	fuse_reply_attr(req, &st, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct buf *snap = (struct buf *)(uintptr_t)fi->fh;

	(void)ino;
	if (snap) {
		buf_free(snap);
		free(snap);
	}
	fuse_reply_err(req, 0);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct mounted *m = ctx(req);
	struct fsref ref;
	const struct rendered *e;
	int r;

	if ((r = ref_of(m, ino, &ref)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (nodes[ref.node].flags & NODE_MEM)
		return read_mem(req, m, size, off);
	if (nodes[ref.node].flags & NODE_CONTROL)
		return read_control(req, m, size, off, fi);
	e = rendered(m, ref);
	if (e->err)
		return (void)fuse_reply_err(req, -e->err);
	if (off < 0 || (uint64_t)off >= e->len)
		return (void)fuse_reply_buf(req, NULL, 0);
	if (size > e->len - (size_t)off)
		size = e->len - (size_t)off;
	fuse_reply_buf(req, e->data + off, size);
}

/* SEEK_DATA and SEEK_HOLE on mem report exactly the readable ranges. */
static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct mounted *m = ctx(req);
	struct fsref ref;
	uint64_t start, end;
	int r;

	(void)fi;
	if ((r = ref_of(m, ino, &ref)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (!(nodes[ref.node].flags & NODE_MEM) || (whence != SEEK_DATA && whence != SEEK_HOLE))
		return (void)fuse_reply_err(req, EINVAL);
	if (off < 0)
		return (void)fuse_reply_err(req, ENXIO);
	/* Offsets are signed: memory at or above 2^63 (x86_64's [vsyscall]) is out of reach. */
	if (!memory_next_data(m->view.mem, (uint64_t)off, &start, &end) || start > INT64_MAX) {
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

int mounted_init(struct mounted *m, struct core *core, const char *sysroot, bool fill, bool debug)
{
	struct stat st;
	int r;

	memset(m, 0, sizeof(*m));
	m->core = core;
	m->debug = debug;
	m->uid = getuid();
	m->gid = getgid();
	if (fstat(core->fd, &st) == 0)
		m->time = st.st_mtim;
	r = view_init(&m->view, core, sysroot, fill);
	if (r < 0)
		return r;
	m->cache = calloc(core->nthreads + 1, sizeof(*m->cache));
	r = m->cache ? control_new(&m->control, &m->view) : -ENOMEM;
	if (r < 0) {
		free(m->cache);
		m->cache = NULL;
		view_free(&m->view);
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
	view_free(&m->view);
	pthread_mutex_destroy(&m->lock);
}
