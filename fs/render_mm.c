/* fs/render_mm.c — the process's memory as the kernel counts it (mm->total_vm, exec_vm, ...),
 * and the files that show it by mapping: statm, smaps, smaps_rollup. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../formats/resident.h"
#include "../formats/util.h"
#include "render_mm.h"
#include "render_proc.h"

#define MAPS_HEADER_WIDTH 72	/* the name column of maps is 73: pad to 72, then a space */

/* [vsyscall] is the kernel's gate area: shown in maps and smaps, but not a VMA of the mm. */
static bool is_gate(const struct core_vma *m)
{
	return m->kind == VMA_VSYSCALL;
}

/* Resident pages of a mapping: formats/resident.c counts them once per process (a kernel
 * core's data runs, a gcore core's pages that are not all zeros). */
static uint64_t resident_of(const struct process *v, const struct core_vma *m)
{
	return m->seg && v->resident ? resident_pages(v->resident, m->seg) : 0;
}

void mm_build(const struct process *v, struct mm_view *mm, bool layout)
{
	memset(mm, 0, sizeof(*mm));
	mm->page = resident_page_size(v->core);
	for (size_t i = 0; i < v->vmas->n; i++) {
		const struct core_vma *m = &v->vmas->v[i];
		uint64_t pages = (m->end - m->start) / mm->page;
		uint64_t rss = resident_of(v, m);
		bool stack = m->kind == VMA_STACK;

		if (is_gate(m))
			continue;
		/* mm/mmap.c vm_stat_account: exec, else stack, else private writable data. */
		mm->total_vm += pages;
		if (m->perms[2] == 'x' && m->perms[1] != 'w' && !stack)
			mm->exec_vm += pages;
		else if (stack)
			mm->stack_vm += pages;
		else if (m->perms[1] == 'w' && m->perms[3] == 'p')
			mm->data_vm += pages;
		/* Which counter the pages the core holds would be in: shmem ('s' is shown only
		 * for shmem paths), file-backed, or anonymous. */
		if (m->perms[3] == 's')
			mm->shmem += rss;
		else if (m->file)
			mm->file += rss;
		else
			mm->anon += rss;
	}
	if (!layout)
		return;
	/* formats/layout.c: the same values revival hands PR_SET_MM_MAP; 0 where unknown. */
	mm->start_brk = v->layout.start_brk;
	mm->start_stack = v->layout.start_stack;
	if (!v->layout.known)
		return;
	mm->layout = true;
	mm->start_code = v->layout.start_code;
	mm->end_code = v->layout.end_code;
	mm->start_data = v->layout.start_data;
	mm->end_data = v->layout.end_data;
}

int render_statm(const struct process *v, const struct core_thread *t, struct buf *out)
{
	struct mm_view mm;
	uint64_t text = 0;

	(void)t;
	mm_build(v, &mm, true);
	if (mm.layout)
		text = ((mm.end_code + mm.page - 1) / mm.page) - mm.start_code / mm.page;
	buf_printf(out, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " 0 %" PRIu64 " 0\n",
		   mm.total_vm, mm.anon + mm.file + mm.shmem, mm.file + mm.shmem, text,
		   mm.data_vm + mm.stack_vm);
	return 0;
}

/* --- smaps, smaps_rollup ------------------------------------------------------------------ */

void smaps_kb(struct buf *out, const char *label, uint64_t bytes)
{
	buf_printf(out, "%-16s%8" PRIu64 " kB\n", label, bytes >> 10);
}

/* __show_smap: Rss, and Pss = Rss: a dead process shares its pages with no process corefs
 * could know of, so each is its own (the rollup's Pss_Anon, Pss_File and Pss_Shmem split it as
 * mm's counters do).  Everything else is honest zero: sharing, dirtiness, references, swap and
 * huge pages are not in a core. */
static void show_smap(struct buf *out, uint64_t rss, const struct mm_view *rollup)
{
	static const char *const zeros[] = {
		"Shared_Clean:", "Shared_Dirty:", "Private_Clean:", "Private_Dirty:",
		"Referenced:", "Anonymous:", "KSM:", "LazyFree:", "AnonHugePages:",
		"ShmemPmdMapped:", "FilePmdMapped:", "Shared_Hugetlb:",
	};

	smaps_kb(out, "Rss:", rss);
	smaps_kb(out, "Pss:", rss);
	smaps_kb(out, "Pss_Dirty:", 0);
	if (rollup) {
		smaps_kb(out, "Pss_Anon:", rollup->anon * rollup->page);
		smaps_kb(out, "Pss_File:", rollup->file * rollup->page);
		smaps_kb(out, "Pss_Shmem:", rollup->shmem * rollup->page);
	}
	for (size_t i = 0; i < ARRAY_SIZE(zeros); i++)
		smaps_kb(out, zeros[i], 0);
	buf_printf(out, "Private_Hugetlb: %7u kB\n", 0);
	smaps_kb(out, "Swap:", 0);
	smaps_kb(out, "SwapPss:", 0);
	smaps_kb(out, "Locked:", 0);
}

/* VmFlags the map implies: the protections, sharing (shmem only), VM_MAYREAD (every mapping
 * but the gate area has it) and VM_GROWSDOWN of [stack]; in the kernel's bit order. */
static void vm_flags(struct buf *out, const struct core_vma *m)
{
	bool shared = m->perms[3] == 's';

	buf_puts(out, "VmFlags:");
	if (m->perms[0] == 'r')
		buf_puts(out, " rd");
	if (m->perms[1] == 'w')
		buf_puts(out, " wr");
	if (m->perms[2] == 'x')
		buf_puts(out, " ex");
	if (shared)
		buf_puts(out, " sh");
	if (!is_gate(m))
		buf_puts(out, " mr");
	if (shared)
		buf_puts(out, " ms");
	if (m->kind == VMA_STACK)
		buf_puts(out, " gd");
	buf_puts(out, " \n");
}

int render_smaps(const struct process *v, const struct core_thread *t, struct buf *out)
{
	uint64_t page = resident_page_size(v->core);

	(void)t;
	for (size_t i = 0; i < v->vmas->n; i++) {
		const struct core_vma *m = &v->vmas->v[i];

		render_vma_header(m, out);
		smaps_kb(out, "Size:", m->end - m->start);
		smaps_kb(out, "KernelPageSize:", page);
		smaps_kb(out, "MMUPageSize:", page);
		show_smap(out, resident_of(v, m) * page, NULL);
		buf_printf(out, "%-16s%8u\n", "THPeligible:", 0);
		vm_flags(out, m);
	}
	return 0;
}

int render_smaps_rollup(const struct process *v, const struct core_thread *t, struct buf *out)
{
	uint64_t first = 0, last = 0;
	struct mm_view mm;
	bool any = false;
	size_t line = out->len;

	(void)t;
	for (size_t i = 0; i < v->vmas->n; i++) {
		const struct core_vma *m = &v->vmas->v[i];

		if (is_gate(m))
			continue;
		if (!any)
			first = m->start;
		any = true;
		last = m->end;
	}
	mm_build(v, &mm, false);
	buf_printf(out, "%08" PRIx64 "-%08" PRIx64 " ---p 00000000 00:00 0", first, last);
	buf_pad(out, line, MAPS_HEADER_WIDTH);
	buf_puts(out, " [rollup]\n");
	show_smap(out, (mm.anon + mm.file + mm.shmem) * mm.page, &mm);
	return 0;
}
