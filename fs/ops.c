/* fs/ops.c — lookup, getattr, readdir, open, read, write and readlink: each finds where its
 * inode points (tree.h) and replies.
 *
 * A core is immutable: its files carry their exact size, long attribute and entry timeouts, and
 * keep their page cache; mem is direct_io.  Files that change (control, the /proc root's) are
 * direct_io snapshots taken when read at offset 0.  modules and core.json, while a mapped file
 * is still to be fetched, are direct_io too: each open reads the version made for it, and a
 * later open one made after the fetches that ended since (mounted.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../formats/util.h"
#include "ops.h"
#include "tree.h"

#define TIMEOUT 86400.0		/* what a core holds never changes */
#define PROC_TIMEOUT 1.0	/* the /proc root's entries: cores come and go */

static struct tree *tree(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static double timeout(const struct where *w)
{
	return w->proc ? PROC_TIMEOUT : TIMEOUT;
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
	struct tree *t = tree(req);
	struct fuse_entry_param e = { 0 };
	struct where dir, child;
	int r;

	if ((r = tree_find(t, parent, &dir)) < 0 || (r = tree_lookup(t, &dir, name, &child)) < 0 ||
	    (r = tree_attr(t, &child, &e.attr)) < 0)
		return (void)fuse_reply_err(req, -r);
	e.ino = e.attr.st_ino;
	e.entry_timeout = timeout(&dir);
	e.attr_timeout = timeout(&child);
	fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tree *t = tree(req);
	struct where w;
	struct stat st;
	int r;

	(void)fi;
	if ((r = tree_find(t, ino, &w)) < 0 || (r = tree_attr(t, &w, &st)) < 0)
		return (void)fuse_reply_err(req, -r);
	fuse_reply_attr(req, &st, timeout(&w));
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct where w;
	const struct rendered *e;
	int r;

	if ((r = tree_find(tree(req), ino, &w)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (tree_kind(&w) != TREE_LINK)
		return (void)fuse_reply_err(req, EINVAL);
	e = tree_rendered(&w);
	if (e->err)
		return (void)fuse_reply_err(req, -e->err);
	fuse_reply_readlink(req, e->data);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tree *t = tree(req);
	struct where w;
	int r;

	if ((r = tree_find(t, ino, &w)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (tree_kind(&w) != TREE_DIR)
		return (void)fuse_reply_err(req, ENOTDIR);
	/* A core's directories never change; the /proc root's do. */
	fi->cache_readdir = !w.proc;
	fi->keep_cache = !w.proc;
	if (w.proc)
		cores_refresh(&t->cs);
	fuse_reply_open(req, fi);
}

/* A readdir reply being filled: entries at offsets 0 ".", 1 "..", then 2 + each child's index. */
struct dirfill {
	fuse_req_t req;
	struct tree *t;
	char *buf;
	size_t size, used;
	off_t next;		/* the offset of the entry being added */
};

static bool add_entry(struct dirfill *d, const char *name, fuse_ino_t ino, mode_t mode)
{
	struct stat st = { .st_ino = ino, .st_mode = mode };
	size_t need = fuse_add_direntry(d->req, d->buf + d->used, d->size - d->used, name, &st,
					d->next + 1);

	if (need > d->size - d->used)
		return false;
	d->used += need;
	d->next++;
	return true;
}

static bool add_child(void *arg, const char *name, const struct where *child)
{
	struct dirfill *d = arg;

	return add_entry(d, name, tree_ino(d->t, child), tree_mode(child));
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct dirfill d = { .req = req, .t = tree(req), .size = size, .next = off };
	struct where dir, parent;
	int r;

	(void)fi;
	if ((r = tree_find(d.t, ino, &dir)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (off < 0)
		return (void)fuse_reply_buf(req, NULL, 0);
	if (!(d.buf = malloc(size)))
		return (void)fuse_reply_err(req, ENOMEM);
	parent = tree_parent(d.t, &dir);
	if ((d.next > 0 || add_entry(&d, ".", ino, S_IFDIR)) &&
	    (d.next > 1 || add_entry(&d, "..", tree_ino(d.t, &parent), S_IFDIR)))
		tree_list(d.t, &dir, (size_t)(d.next - 2), add_child, &d);
	fuse_reply_buf(req, d.buf, d.used);
	free(d.buf);
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

/* What an open file reads: a snapshot (control, the /proc root's files), or one version of a
 * rendered file (mounted.h), fixed at open.  fh points at it; op_release frees it. */
struct opened {
	struct snapshot snap;
	const struct rendered *version;		/* NULL for a snapshot */
};

static bool is_snapshot(enum tree_kind kind)
{
	return kind == TREE_CONTROL || kind == TREE_ROOT_FILE;
}

static void opened_free(struct opened *o)
{
	buf_free(&o->snap.text);
	pthread_mutex_destroy(&o->snap.lock);
	free(o);
}

/* Reply to an open with what it reads: a snapshot to take (version NULL) or that version. */
static void reply_opened(fuse_req_t req, struct fuse_file_info *fi, const struct rendered *version)
{
	struct opened *o = calloc(1, sizeof(*o));

	if (!o)
		return (void)fuse_reply_err(req, ENOMEM);
	pthread_mutex_init(&o->snap.lock, NULL);
	o->version = version;
	fi->fh = (uint64_t)(uintptr_t)o;
	if (fuse_reply_open(req, fi) != 0)
		opened_free(o);
}

static void open_snapshot(fuse_req_t req, struct fuse_file_info *fi)
{
	fi->direct_io = 1;
	reply_opened(req, fi, NULL);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct where w;
	enum tree_kind kind;
	const struct rendered *e;
	int r;

	if ((r = tree_find(tree(req), ino, &w)) < 0)
		return (void)fuse_reply_err(req, -r);
	kind = tree_kind(&w);
	if (kind == TREE_DIR)
		return (void)fuse_reply_err(req, EISDIR);
	if (kind == TREE_CONTROL)
		return open_snapshot(req, fi);
	/* Everything but control is read-only, whoever asks (root passes the mode bits). */
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return (void)fuse_reply_err(req, EROFS);
	if (kind == TREE_ROOT_FILE)
		return open_snapshot(req, fi);	/* changes as cores come and go */
	if (kind == TREE_MEM) {
		fi->direct_io = 1;
		return (void)fuse_reply_open(req, fi);
	}
	e = tree_rendered(&w);
	if (e->err)
		return (void)fuse_reply_err(req, -e->err);
	/* The open reads this version; one that may be made again is not cached by the kernel
	 * (and its reads do not stop at the size the kernel was told before). */
	if (e->settled)
		fi->keep_cache = 1;
	else
		fi->direct_io = 1;
	reply_opened(req, fi, e);
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

/* A read at offset 0 takes a snapshot, later offsets read from it, so a reader sees one
 * consistent text while things change. */
static void read_snapshot(fuse_req_t req, struct tree *t, const struct where *w, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	struct opened *o = (struct opened *)(uintptr_t)fi->fh;
	struct snapshot *snap = o ? &o->snap : NULL;
	char *reply = NULL;
	size_t n = 0;
	int r = 0;

	if (!snap)
		return (void)fuse_reply_err(req, EBADF);
	pthread_mutex_lock(&snap->lock);
	if (off == 0 || !snap->taken) {
		struct buf fresh = { 0 };

		r = tree_snapshot(t, w, &fresh);
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
	struct tree *t = tree(req);
	struct where w;
	enum tree_kind kind;
	const struct rendered *e;
	const struct opened *o;
	int r;

	if ((r = tree_find(t, ino, &w)) < 0)
		return (void)fuse_reply_err(req, -r);
	kind = tree_kind(&w);
	if (is_snapshot(kind))
		return read_snapshot(req, t, &w, size, off, fi);
	if (kind == TREE_MEM)
		return read_mem(req, &w.slot->m, size, off);
	o = (const struct opened *)(uintptr_t)fi->fh;
	e = o && o->version ? o->version : tree_rendered(&w);
	if (e->err)
		return (void)fuse_reply_err(req, -e->err);
	if (off < 0 || (uint64_t)off >= e->len)
		return (void)fuse_reply_buf(req, NULL, 0);
	fuse_reply_buf(req, e->data + off, MIN(size, e->len - (size_t)off));
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct where w;
	int r;

	(void)off;
	(void)fi;
	if ((r = tree_find(tree(req), ino, &w)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (tree_kind(&w) != TREE_CONTROL)
		return (void)fuse_reply_err(req, EROFS);
	if ((r = control_write(w.slot->m.control, data, size)) < 0)
		return (void)fuse_reply_err(req, -r);
	fuse_reply_write(req, size);
}

/* Only control may be truncated (O_TRUNC when the kernel did not take it atomically). */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct tree *t = tree(req);
	struct where w;
	struct stat st;
	int r;

	(void)fi;
	if ((r = tree_find(t, ino, &w)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (tree_kind(&w) != TREE_CONTROL || (to_set & ~FUSE_SET_ATTR_SIZE) || attr->st_size != 0)
		return (void)fuse_reply_err(req, EROFS);
	if ((r = tree_attr(t, &w, &st)) < 0)
		return (void)fuse_reply_err(req, -r);
	fuse_reply_attr(req, &st, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct opened *o = (struct opened *)(uintptr_t)fi->fh;

	(void)ino;
	if (o)
		opened_free(o);
	fuse_reply_err(req, 0);
}

/* SEEK_DATA and SEEK_HOLE on mem report exactly the readable ranges. */
static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct where w;
	uint64_t start, end;
	int r;

	(void)fi;
	if ((r = tree_find(tree(req), ino, &w)) < 0)
		return (void)fuse_reply_err(req, -r);
	if (tree_kind(&w) != TREE_MEM || (whence != SEEK_DATA && whence != SEEK_HOLE))
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
