/* fs/procroot.c — the table of a /proc root's own files. */
#include "procroot.h"

#define PDIR(id, NAME, PARENT, FLAGS) [id] = { NAME, PARENT, S_IFDIR | 0555, NULL, FLAGS }
#define PREG(id, NAME, RENDER) [id] = { NAME, PN_ROOT, S_IFREG | 0444, RENDER, 0 }

const struct proc_node proc_nodes[PN_COUNT] = {
	PDIR(PN_ROOT, "", -1, PNODE_PIDS),
	PDIR(PN_BYNAME, "by-name", PN_ROOT, PNODE_NAMES),
};
