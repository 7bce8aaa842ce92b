/* fs/mounted.h — one served core: its view, its rendered files, its control state. */
#ifndef COREFS_MOUNTED_H
#define COREFS_MOUNTED_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "control.h"
#include "nodes.h"

/* A rendered file.  The core never changes, so a file is made once; only files that show where
 * fetching the mapped files stands (NODE_FETCHES: modules, core.json) are made again once a
 * fetch ended, for as long as some file is still to be fetched (for a remote core, also once
 * the object changed under us).  Each version is immutable and
 * kept until the core is no longer served: an open file reads the version it opened. */
struct rendered {
	int err;
	char *data;
	size_t len;
	bool settled;		/* final: nothing it shows can change (served with the page cache) */
	unsigned generation;	/* fetches ended before it was made (disk_files_generation) */
	struct rendered *older;	/* the version it replaced */
};

struct render_slot {
	bool busy;		/* being rendered: readers of it wait (mounted.changed) */
	struct rendered *r;	/* the latest version, NULL before the first */
};

/* One served core. */
struct mounted {
	struct core *core;
	struct process process;
	pthread_mutex_t lock;	/* guards cache; not held while a file renders */
	pthread_cond_t changed;	/* a render ended */
	struct render_slot **cache;	/* [thread + 1][node], rows allocated on first use */
	struct control *control;
	uid_t uid;		/* the daemon's user: it could open the core */
	gid_t gid;		/* the core file's group */
	mode_t perm;		/* permission bits its files keep (see mounted_init) */
	bool debug;
};

/* Build the process of core and what serving it needs. */
int mounted_init(struct mounted *m, struct core *core, const struct file_lookup *where,
		 bool fill, bool debug);
void mounted_free(struct mounted *m);

/* The bytes of a row with a renderer (not control), made on first use and kept (made again as
 * struct rendered says).  Files render at the same time (a stack waiting for a file from a
 * debuginfod server holds up no other file); readers of a file being rendered wait for that one
 * render. */
const struct rendered *mounted_rendered(struct mounted *m, struct fsref r);

#endif
