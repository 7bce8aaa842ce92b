/* formats/process.h — the dead process as one value: what fs/ renders, what revive/ brings
 * back, what `corefs --cat` prints.  Everything in it is derived from the core once, when it is
 * made (the unwinder's results on first use):
 *
 *   core      the dump as read (core.h)
 *   files     each mapped file found on disk, and whether it is the very file (files.h)
 *   vmas      the maps view, each mapping with its kind (vma.h)
 *   facts     memory as the process had it: the core's bytes, and the verified files' where the
 *             core lacks them; what argv/envp, the layout and the unwinder read (memory.h)
 *   mem       what the `mem` file serves: facts, or the core's bytes alone with --no-fill
 *   args      argv and envp on the stack (procargs.h)
 *   layout    the executable's layout and mm's fields (layout.h)
 *   unwinder  modules, symbols and backtraces (unwind.h)
 *   resident  how many pages of each segment were resident (resident.h), counted on first use
 *   died      when it died: the core file's mtime */
#ifndef COREFS_PROCESS_H
#define COREFS_PROCESS_H

#include <stdbool.h>
#include <time.h>

#include "core.h"
#include "files.h"
#include "layout.h"
#include "memory.h"
#include "procargs.h"
#include "resident.h"
#include "unwind.h"
#include "vma.h"

struct process {
	const struct core *core;
	const struct disk_files *files;
	const struct core_vmas *vmas;
	struct memory *facts;
	struct memory *mem;
	const struct proc_args *args;
	struct exe_layout layout;
	struct unwinder *unwinder;
	struct resident *resident;	/* resident pages per segment, counted on first use */
	struct timespec died;	/* the core file's mtime (a compressed core's memfd carries it) */
};

/* Make the process of core c (which it does not own): check its mapped files (found as where
 * says, files.h; NULL: each at its path), build its map, find argv/envp and its layout.  fill:
 * whether `mem` reads the verified files where the core lacks bytes.  0, or -ENOMEM. */
int process_init(struct process *p, const struct core *c, const struct file_lookup *where,
		 bool fill);
void process_free(struct process *p);

#endif
