/* fs/procroot.c — the table of a /proc root's own files. */
#include "procroot.h"
#include "render_proc.h"

#define PDIR(id, NAME, PARENT, FLAGS) [id] = { NAME, PARENT, S_IFDIR | 0555, NULL, FLAGS }
#define PREG(id, NAME, RENDER) [id] = { NAME, PN_ROOT, S_IFREG | 0444, RENDER, 0 }

const struct proc_node proc_nodes[PN_COUNT] = {
	PDIR(PN_ROOT, "", -1, PNODE_PIDS),
	PDIR(PN_BYNAME, "by-name", PN_ROOT, PNODE_NAMES),
	/* The global files, consistent with each other and with every <pid>/stat: btime is 0
	 * (render_proc.h says why), one CPU, no process running.  cpuinfo: procps 4.0 reads it
	 * before /proc/stat and gives up on ps's time columns without it. */
	PREG(PN_CPUINFO, "cpuinfo", render_proc_cpuinfo),
	PREG(PN_LOADAVG, "loadavg", render_proc_loadavg),
	PREG(PN_MEMINFO, "meminfo", render_proc_meminfo),
	PREG(PN_STAT, "stat", render_proc_stat),
	PREG(PN_UPTIME, "uptime", render_proc_uptime),
	PREG(PN_VERSION, "version", render_proc_version),
};
