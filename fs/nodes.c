/* fs/nodes.c — the table of the tree and the generic walks over it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodes.h"
#include "render_proc.h"

#define DIR(id, NAME, PARENT, MODE, FLAGS) [id] = { NAME, PARENT, S_IFDIR | (MODE), NULL, NULL, FLAGS }
#define REG(id, NAME, PARENT, MODE, RENDER) [id] = { NAME, PARENT, S_IFREG | (MODE), RENDER, NULL, 0 }
#define LNK(id, NAME, PARENT, RENDER, PRESENT) [id] = { NAME, PARENT, S_IFLNK | 0777, RENDER, PRESENT, 0 }
#define MEM(id, NAME, PARENT, MODE) [id] = { NAME, PARENT, S_IFREG | (MODE), NULL, NULL, NODE_MEM }
#define CTL(id, NAME, PARENT, MODE) [id] = { NAME, PARENT, S_IFREG | (MODE), NULL, NULL, NODE_CONTROL }
/* A file that shows where fetching the mapped files stands: made again as that changes. */
#define REGF(id, NAME, PARENT, MODE, RENDER) \
	[id] = { NAME, PARENT, S_IFREG | (MODE), RENDER, NULL, NODE_FETCHES }
/* A file that exists only when present() says the core can tell what is in it. */
#define REGP(id, NAME, PARENT, MODE, RENDER, PRESENT) \
	[id] = { NAME, PARENT, S_IFREG | (MODE), RENDER, PRESENT, 0 }

static bool has_exe(const struct process *v)
{
	return core_exe_path(v->core) != NULL;
}

const struct node nodes[N_COUNT] = {
	DIR(N_ROOT, "", -1, 0555, 0),
	REG(N_AUXV, "auxv", N_ROOT, 0400, render_auxv),
	REG(N_CMDLINE, "cmdline", N_ROOT, 0444, render_cmdline),
	REG(N_COMM, "comm", N_ROOT, 0444, render_comm),
	CTL(N_CONTROL, "control", N_ROOT, 0600),
	REGF(N_CORE_JSON, "core.json", N_ROOT, 0400, render_core_json),	/* repeats auxv, regs */
	/* cwd and root: a core does not record them; readlink is refused (EACCES), lstat works,
	 * as the kernel's links of a process one may not trace (psutil: AccessDenied). */
	LNK(N_CWD, "cwd", N_ROOT, render_unrecorded_link, NULL),
	REG(N_ENVIRON, "environ", N_ROOT, 0400, render_environ),
	LNK(N_EXE, "exe", N_ROOT, render_exe, has_exe),
	DIR(N_FD, "fd", N_ROOT, 0500, 0),		/* a core records no open files: empty */
	REG(N_IO, "io", N_ROOT, 0400, render_io),
	REG(N_LIMITS, "limits", N_ROOT, 0444, render_limits),
	REG(N_MAPS, "maps", N_ROOT, 0444, render_maps),
	MEM(N_MEM, "mem", N_ROOT, 0600),
	REGF(N_MODULES, "modules", N_ROOT, 0444, render_modules),
	REG(N_PERSONALITY, "personality", N_ROOT, 0400, render_personality),
	LNK(N_ROOT_LINK, "root", N_ROOT, render_unrecorded_link, NULL),
	REG(N_SMAPS, "smaps", N_ROOT, 0444, render_smaps),
	REG(N_SMAPS_ROLLUP, "smaps_rollup", N_ROOT, 0444, render_smaps_rollup),
	REG(N_STACK, "stack", N_ROOT, 0400, render_all_stacks),	/* every task/<tid>/stack */
	REG(N_STAT, "stat", N_ROOT, 0444, render_stat),
	REG(N_STATM, "statm", N_ROOT, 0444, render_statm),
	REG(N_STATUS, "status", N_ROOT, 0444, render_status),
	REGP(N_SYSCALL, "syscall", N_ROOT, 0400, render_syscall, has_syscall),
	REG(N_WCHAN, "wchan", N_ROOT, 0444, render_wchan),
	DIR(N_TASK, "task", N_ROOT, 0555, NODE_THREADS),
	DIR(N_TID, NULL, N_TASK, 0555, 0),
	REG(N_TID_CMDLINE, "cmdline", N_TID, 0444, render_cmdline),
	REG(N_TID_COMM, "comm", N_TID, 0444, render_task_comm),
	REG(N_TID_IO, "io", N_TID, 0400, render_io),
	REG(N_TID_REGS, "regs", N_TID, 0400, render_regs),		/* what syscall shows, and more */
	REG(N_TID_STACK, "stack", N_TID, 0400, render_stack),		/* the kernel's mode */
	REG(N_TID_STAT, "stat", N_TID, 0444, render_stat),
	REG(N_TID_STATM, "statm", N_TID, 0444, render_statm),	/* the process's: one mm */
	REG(N_TID_STATUS, "status", N_TID, 0444, render_status),
	REGP(N_TID_SYSCALL, "syscall", N_TID, 0400, render_syscall, has_syscall),
};

/* A file exists when the core can say what is in it (exe of a core without NT_FILE cannot). */
static bool exists(const struct process *v, struct fsref ref)
{
	return !nodes[ref.node].present || nodes[ref.node].present(v);
}

static bool parse_tid(const char *s, long *tid)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*tid = strtol(s, &end, 10);
	return !*end && !errno && (*s != '0' || !s[1]);
}

int node_lookup(const struct process *v, struct fsref dir, const char *name, struct fsref *out)
{
	if (!node_is_dir(dir.node))
		return -ENOTDIR;
	if (nodes[dir.node].flags & NODE_THREADS) {
		long tid;

		if (!parse_tid(name, &tid))
			return -ENOENT;
		for (size_t i = 0; i < v->core->nthreads; i++)
			if (v->core->threads[i].tid == tid) {
				*out = (struct fsref){ N_TID, (long)i };
				return 0;
			}
		return -ENOENT;
	}
	for (int i = 0; i < N_COUNT; i++) {
		struct fsref r = { (enum node_id)i, dir.thread };

		if (nodes[i].parent == (int)dir.node && nodes[i].name && !strcmp(nodes[i].name, name) &&
		    exists(v, r)) {
			*out = r;
			return 0;
		}
	}
	return -ENOENT;
}

bool node_child(const struct process *v, struct fsref dir, size_t index, struct fsref *out,
		char *namebuf, size_t namebufsz)
{
	if (nodes[dir.node].flags & NODE_THREADS) {
		if (index >= v->core->nthreads)
			return false;
		*out = (struct fsref){ N_TID, (long)index };
		snprintf(namebuf, namebufsz, "%d", v->core->threads[index].tid);
		return true;
	}
	for (int i = 0; i < N_COUNT; i++) {
		struct fsref r = { (enum node_id)i, dir.thread };

		if (nodes[i].parent != (int)dir.node || !exists(v, r))
			continue;
		if (index-- == 0) {
			*out = r;
			snprintf(namebuf, namebufsz, "%s", nodes[i].name);
			return true;
		}
	}
	return false;
}

int node_resolve(const struct process *v, const char *path, struct fsref *out)
{
	struct fsref cur = { N_ROOT, -1 };
	char *copy = strdup(path), *save = NULL, *part;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
		if (!strcmp(part, "."))
			continue;
		r = node_lookup(v, cur, part, &cur);
		if (r < 0)
			break;
	}
	free(copy);
	if (r == 0)
		*out = cur;
	return r;
}

int node_render(const struct process *v, struct fsref ref, struct buf *out)
{
	const struct core_thread *t = NULL;

	if (!nodes[ref.node].render)
		return -EINVAL;
	if (ref.thread >= 0) {
		if ((size_t)ref.thread >= v->core->nthreads)
			return -ENOENT;
		t = &v->core->threads[ref.thread];
	}
	return nodes[ref.node].render(v, t, out);
}
