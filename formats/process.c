/* formats/process.c — the dead process as one value (process.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "modules.h"
#include "process.h"

static struct memory *memory_new(const struct core *c, const struct disk_files *df)
{
	struct memory *m = calloc(1, sizeof(*m));

	if (m && memory_init(m, c, df) < 0) {
		free(m);
		return NULL;
	}
	return m;
}

static void memory_delete(struct memory *m)
{
	if (!m)
		return;
	memory_free(m);
	free(m);
}

int process_init(struct process *p, const struct core *c, const struct file_lookup *where,
		 bool fill)
{
	struct disk_files *df = calloc(1, sizeof(*df));
	struct core_vmas *vm = calloc(1, sizeof(*vm));
	struct proc_args *args = calloc(1, sizeof(*args));
	struct stat st;
	size_t nfiles;

	memset(p, 0, sizeof(*p));
	p->core = c;
	if (fstat(c->fd, &st) == 0)
		p->died = st.st_mtim;
	if (!df || disk_files_check(c, where, df) < 0) {
		free(df);
		free(vm);
		free(args);
		return -ENOMEM;
	}
	p->files = df;
	p->vmas = vm;
	p->args = args;
	if (!vm || !args || core_vmas_build(c, df, vm) < 0)
		goto oom;
	/* The files' bytes stand where the core lacks them, whatever --no-fill says of mem. */
	p->facts = memory_new(c, df);
	p->mem = fill ? p->facts : memory_new(c, NULL);
	if (!p->facts || !p->mem)
		goto oom;
	procargs_find(p->facts, c, args);
	exe_layout_find(c, p->facts, vm, args, &p->layout);
	/* Objects NT_FILE does not name, found through the dynamic linker's list: once their
	 * files are known, the map and the layout are made again with them. */
	nfiles = df->nfiles;
	if (modules_link_map_files(c, p->facts, &p->layout, where, df) < 0)
		goto oom;
	if (df->nfiles != nfiles) {	/* the map's pointers to records are stale */
		core_vmas_free(vm);
		if (core_vmas_build(c, df, vm) < 0)
			goto oom;
		procargs_find(p->facts, c, args);
		exe_layout_find(c, p->facts, vm, args, &p->layout);
	}
	p->unwinder = calloc(1, sizeof(*p->unwinder));
	if (!p->unwinder || unwinder_init(p->unwinder, c, df, p->facts, &p->layout) < 0) {
		free(p->unwinder);
		p->unwinder = NULL;
		goto oom;
	}
	p->resident = resident_new(c);
	if (!p->resident)
		goto oom;
	/* Made without waiting on a server; from now on, files are fetched as they are needed. */
	disk_files_arm(df);
	return 0;
oom:
	process_free(p);
	return -ENOMEM;
}

void process_free(struct process *p)
{
	resident_free(p->resident);
	/* The unwinder reads memory and files; memory reads the files: they go in that order. */
	if (p->unwinder) {
		unwinder_free(p->unwinder);
		free(p->unwinder);
	}
	if (p->mem != p->facts)
		memory_delete(p->mem);
	memory_delete(p->facts);
	if (p->files) {
		disk_files_free((struct disk_files *)p->files);
		free((void *)p->files);
	}
	if (p->vmas) {
		core_vmas_free((struct core_vmas *)p->vmas);
		free((void *)p->vmas);
	}
	free((void *)p->args);
	memset(p, 0, sizeof(*p));
}
