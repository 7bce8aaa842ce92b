/* fs/procroot.h — the files of a /proc root of dead processes (corefs DIR MNT, corefs --proc):
 * one table, like nodes.h for a process's own files.  Beside these rows the root lists one
 * <pid>/ directory per core and by-name/ lists every core by its file name. */
#ifndef COREFS_PROCROOT_H
#define COREFS_PROCROOT_H

#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "render.h"

/* The processes listed as <pid>/ (cores.c says which core owns a pid), for the files that
 * speak of all of them. */
struct proc_view {
	const struct process **v;
	size_t n;
	struct timespec now;
};

typedef int (*proc_render_fn)(const struct proc_view *pv, struct buf *out);

enum proc_node_id {
	PN_ROOT,
	PN_BYNAME,		/* by-name/<core file name>/ */
	PN_CPUINFO,
	PN_LOADAVG,
	PN_MEMINFO,
	PN_STAT,
	PN_UPTIME,
	PN_VERSION,
	PN_COUNT
};

#define PNODE_PIDS 1u		/* its children also include one <pid>/ per core */
#define PNODE_NAMES 2u		/* its children are the cores by file name */

struct proc_node {
	const char *name;
	int parent;
	mode_t mode;
	proc_render_fn render;
	unsigned flags;
};

extern const struct proc_node proc_nodes[PN_COUNT];

#endif
