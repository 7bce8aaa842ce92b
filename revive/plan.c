/* revive/plan.c — from the model to the plan of a revival (see plan.h).
 *
 * Stages: refuse what this machine cannot run; lay out every mapping of the maps view with the
 * source of its bytes; the mm fields (formats/layout.c's, brk from glibc's __curbrk within
 * [heap], and values that pass PR_SET_MM_MAP's checks where the core does not tell them);
 * the threads (registers as PTRACE_SETREGS takes them, glibc's areas); what will be lost. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../formats/arch.h"
#include "../formats/util.h"
#include "plan.h"
#include "util.h"

#define X86_VSYSCALL UINT64_C(0xffffffffff600000)
/* The user address space of x86_64 with 4-level paging; 5-level (la57) reaches 2^56. */
#define TASK_SIZE_47 UINT64_C(0x7ffffffff000)
#define TASK_SIZE_56 UINT64_C(0xfffffffffff000)
/* A compat (i386) process's on an x86_64 kernel: IA32_PAGE_OFFSET. */
#define TASK_SIZE_IA32 UINT64_C(0xffffe000)
/* Above this many bytes of written file pages, map them from the core instead of comparing
 * them with the file's page by page (kernel cores only). */
#define OVERLAY_LIMIT (UINT64_C(8) << 20)
/* user_regs_struct offsets (x86_64). */
#define REG_RAX (10 * 8)
#define REG_ORIG_RAX (15 * 8)
#define REG_FS_BASE (21 * 8)
/* The i386 pr_reg (elf_gregset_t): ebx ecx edx esi edi ebp eax ds es fs gs orig_eax eip cs
 * eflags esp ss, 32 bits each. */
#define I386_NREGS 17
#define I386_EAX (6 * 4)
#define I386_FS (9 * 4)
#define I386_GS (10 * 4)
#define I386_ORIG_EAX (11 * 4)
/* This kernel's TLS entries of the GDT (GDT_ENTRY_TLS_MIN of x86_64; a 32-bit kernel's is 6),
 * and struct user_desc as NT_386_TLS holds them. */
#define TLS_MIN_X86_64 12u
#define TLS_ENTRIES 3u
#define USER_DESC_SIZE 16u
#define X32_SYSCALL_BIT 0x40000000L
#define ERESTARTNOHAND_ 514
#define ERESTART_RESTARTBLOCK_ 516

void plan_lost(struct plan *p, const char *fmt, ...)
{
	char **grown, *s;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	grown = realloc(p->lost, (p->nlost + 1) * sizeof(*grown));
	if (!grown) {
		free(s);
		return;
	}
	p->lost = grown;
	p->lost[p->nlost++] = s;
}

/* The top of the user address space: 2^47 with 4-level paging, 2^56 when the kernel runs 5-level
 * paging (it then leaves la57 among the cpu flags). */
static uint64_t task_size(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[4096];
	bool la57 = false;

	while (f && !la57 && fgets(line, sizeof(line), f))
		if (!strncmp(line, "flags", 5))
			la57 = strstr(line, " la57") != NULL;
	if (f)
		fclose(f);
	return la57 ? TASK_SIZE_56 : TASK_SIZE_47;
}

static int prot_of(const char *perms)
{
	return (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
	       (perms[2] == 'x' ? PROT_EXEC : 0);
}

static struct region *add_region(struct plan *p, size_t *cap, const struct core_vma *v,
				 uint64_t start, uint64_t end, enum region_src src)
{
	struct region *r;

	if (p->nr == *cap) {
		size_t ncap = *cap ? 2 * *cap : 64;
		struct region *g = realloc(p->r, ncap * sizeof(*g));

		if (!g)
			return NULL;
		p->r = g;
		*cap = ncap;
	}
	r = &p->r[p->nr++];
	memset(r, 0, sizeof(*r));
	r->start = start;
	r->end = end;
	r->src = src;
	r->prot = prot_of(v->perms);
	r->what = v->name ? v->name : "anonymous memory";
	return r;
}

static size_t file_index(struct plan *p, const struct disk_file *d)
{
	struct plan_file *g;

	for (size_t i = 0; i < p->nfiles; i++)
		if (!strcmp(p->files[i].path, d->disk_path))
			return i;
	g = realloc(p->files, (p->nfiles + 1) * sizeof(*g));
	if (!g)
		return SIZE_MAX;
	p->files = g;
	g[p->nfiles].path = strdup(d->disk_path);
	g[p->nfiles].fd = -1;
	if (!g[p->nfiles].path)
		return SIZE_MAX;
	return p->nfiles++;
}

static const char *status_words(const struct disk_file *d)
{
	if (!d)
		return "not a file on this machine";
	switch (d->status) {
	case DISK_DIFFERENT:
		return "a different file here";
	case DISK_MISSING:
		return "missing here";
	default:
		return "usable";
	}
}

/* The view of the core shifted by `shift` bytes, added when new; SIZE_MAX when out of memory. */
static size_t view_index(struct plan *p, uint64_t shift)
{
	uint64_t *g;

	for (size_t i = 0; i < p->nviews; i++)
		if (p->views[i] == shift)
			return i;
	g = realloc(p->views, (p->nviews + 1) * sizeof(*g));
	if (!g)
		return SIZE_MAX;
	p->views = g;
	g[p->nviews] = shift;
	return p->nviews++;
}

/* How many bytes from core offset `off` a view can map: whole pages within its size (a loop
 * device counts whole 512-byte sectors of what follows its start). */
static uint64_t mappable(const struct plan *p, uint64_t off, uint64_t len)
{
	uint64_t size = p->src->core->file_size, shift = off % PLAN_PAGE;

	if (shift)
		size = size < shift ? 0 : shift + ((size - shift) & ~(uint64_t)511);
	if (off >= size)
		return 0;
	return MIN(len, size - off) & ~(uint64_t)(PLAN_PAGE - 1);
}

/* A vma of a file this machine has (the very file): maps shows its path, text the core left
 * out is its text, and the core's bytes are written over it (a large written part is mapped
 * from the core instead).  -1: out of memory. */
static int lay_out_file(struct plan *p, size_t *cap, const struct core_vma *v,
			const struct disk_file *d, uint64_t avail, uint64_t filesz)
{
	const struct core_segment *s = v->seg;
	const char *name = v->name ? v->name : "anonymous memory";
	uint64_t big = avail > OVERLAY_LIMIT && s->offset % PLAN_PAGE == 0
			       ? mappable(p, s->offset, avail) : 0;
	struct region *r;

	if (big) {
		r = add_region(p, cap, v, v->start, v->start + big, SRC_CORE);
		if (!r || (r->view = view_index(p, 0)) == SIZE_MAX)
			return -1;
		r->core_off = s->offset;
		r->core_len = big;
		plan_lost(p, "%s at 0x%" PRIx64 ": the %" PRIu64 " MiB of it the core holds are "
			  "mapped from the core file, which maps shows in its place", name,
			  v->start, big >> 20);
		if (v->start + big == v->end)
			return 0;
	}
	r = add_region(p, cap, v, v->start + big, v->end, SRC_FILE);
	if (!r)
		return -1;
	r->file = file_index(p, d);
	if (r->file == SIZE_MAX)
		return -1;
	r->file_off = v->offset + big;
	if (avail > big) {
		r->core_off = s->offset + big;
		r->core_len = avail - big;
	}
	if (filesz > avail)
		plan_lost(p, "%s at 0x%" PRIx64 ": %" PRIu64 " bytes the core was cut before "
			  "are the file's, not what the process had written there", name,
			  v->start + avail, filesz - avail);
	return 0;
}

/* One vma of the maps view: its regions. */
static int lay_out(struct plan *p, size_t *cap, const struct core_vma *v, struct revive_error *err)
{
	const struct core_segment *s = v->seg;
	uint64_t avail = s ? MIN(s->avail, v->end - v->start) : 0;
	uint64_t filesz = s ? MIN(s->filesz, v->end - v->start) : 0;
	uint64_t mapped = 0;
	bool stack = v->kind == VMA_STACK;
	const char *name = v->name ? v->name : "anonymous memory";
	/* The file found here, or fetched by its build-id now (files.h). */
	const struct disk_file *d = v->file ? disk_file_resolve(p->src->files, v->disk) : NULL;
	struct region *r;

	if (d && !(v->perms[3] == 's' && avail)) {
		if (lay_out_file(p, cap, v, d, avail, filesz) < 0)
			goto oom;
		return 0;
	}

	/* Anonymous memory, or a file this machine cannot give: the core's bytes, zeros after. */
	if (v->file)
		plan_lost(p, "%s (%s) at 0x%" PRIx64 "-0x%" PRIx64 ": %s; %s", name,
			  status_words(v->disk), v->start, v->end,
			  avail ? "the core's bytes are used, the rest reads as zeros"
				: "it reads as zeros",
			  v->perms[3] == 's' ? "and the shared mapping is now private" : "anonymous");
	else if (s && filesz == 0 && v->end > v->start && prot_of(v->perms))
		plan_lost(p, "%s at 0x%" PRIx64 "-0x%" PRIx64 ": not in the core (MADV_DONTDUMP or "
			  "coredump_filter); it reads as zeros", name, v->start, v->end);
	else if (filesz > avail)
		plan_lost(p, "%s at 0x%" PRIx64 ": %" PRIu64 " bytes the core was cut before read "
			  "as zeros", name, v->start + avail, filesz - avail);
	if (v->perms[3] == 's' && !v->file)
		plan_lost(p, "shared memory at 0x%" PRIx64 " is now private", v->start);

	/* The stack stays anonymous: the kernel reads cmdline and environ from anonymous pages
	 * only. */
	if (avail && !stack)
		mapped = mappable(p, s->offset, avail);
	if (mapped) {
		r = add_region(p, cap, v, v->start, v->start + mapped, SRC_CORE);
		if (!r || (r->view = view_index(p, s->offset % PLAN_PAGE)) == SIZE_MAX)
			goto oom;
		r->core_off = s->offset - p->views[r->view];
		r->core_len = mapped;
	}
	if (v->start + mapped == v->end)
		return 0;
	r = add_region(p, cap, v, v->start + mapped, v->end, SRC_ANON);
	if (!r)
		goto oom;
	r->stack = stack;
	if (avail > mapped) {
		r->core_off = s->offset + mapped;
		r->core_len = avail - mapped;
	}
	return 0;
oom:
	return revive_fail(err, ENOMEM, "revive: out of memory");
}

static int lay_out_all(struct plan *p, struct revive_error *err)
{
	const struct core_vmas *vm = p->src->vmas;
	uint64_t limit = p->task_size;
	size_t cap = 0;

	for (size_t i = 0; i < vm->n; i++) {
		const struct core_vma *v = &vm->v[i];

		if (v->start == X86_VSYSCALL)
			continue;	/* the kernel's own page in every process, not a mapping */
		if (v->end > limit || v->end <= v->start)
			return revive_fail(err, EINVAL, "revive: %s at 0x%" PRIx64 "-0x%" PRIx64
					   " lies outside this machine's user address space "
					   "(below 0x%" PRIx64 "): it cannot be mapped",
					   v->name ? v->name : "anonymous memory", v->start, v->end, limit);
		if (v->start % PLAN_PAGE || v->end % PLAN_PAGE)
			return revive_fail(err, EINVAL, "revive: the mapping at 0x%" PRIx64 "-0x%"
					   PRIx64 " is not page-aligned", v->start, v->end);
		if (vma_is_vdso_family(v)) {
			if (v->kind == VMA_VDSO) {
				p->vdso_start = v->start;
				p->vdso_end = v->end;
			} else if (!p->vvar_start || v->start < p->vvar_start) {
				p->vvar_start = v->start;
			}
			continue;
		}
		if (lay_out(p, &cap, v, err) < 0)
			return -1;
	}
	if (!p->vvar_start)
		p->vvar_start = p->vdso_start;
	return 0;
}

/* --- the mm fields ---------------------------------------------------------------------------- */

/* The mm fields formats/layout.c derived (the mount's stat shows the same); where the core
 * does not tell one, the nearest value that keeps PR_SET_MM_MAP's checks, said in `lost`. */
static void mm_fields(struct plan *p, uint64_t curbrk)
{
	const struct process *src = p->src;
	const struct exe_layout *l = &src->layout;
	const struct core_vma *heap = vma_of_kind(src->vmas, VMA_HEAP);
	const struct core_vma *stack = vma_of_kind(src->vmas, VMA_STACK);
	const struct core_thread *main_thread = core_main_thread(src->core);
	uint64_t top = 0;

	if (l->known) {
		p->start_code = l->start_code;
		p->end_code = l->end_code;
		p->start_data = l->start_data;
		p->end_data = l->end_data;
	} else {
		/* Nothing better: the lowest executable mapping.  Only /proc/PID/stat shows these. */
		for (size_t i = 0; i < p->nr; i++)
			if (p->r[i].prot & PROT_EXEC) {
				p->start_code = p->r[i].start;
				p->end_code = p->r[i].end;
				break;
			}
		p->start_data = p->end_data = p->end_code;
		plan_lost(p, "the executable's program headers could not be read: /proc/PID/stat's "
			  "code and data bounds are approximate");
	}
	for (size_t i = 0; i < src->vmas->n; i++) {
		const struct core_vma *v = &src->vmas->v[i];

		if (v->name && v->start < p->end_data + PLAN_PAGE && v->end > top &&
		    v->start >= p->start_code)
			top = v->end;
	}
	/* The break need not lie above the data: a static PIE's heap is far below its image. */
	if (heap) {
		p->start_brk = l->start_brk;
		p->brk = curbrk >= heap->start && curbrk <= heap->end ? curbrk : heap->end;
	} else {
		/* No heap yet: the break sits where glibc saw it, else after the executable. */
		p->start_brk = p->brk = curbrk ? curbrk
			: (MAX(top, p->end_data) + PLAN_PAGE - 1) & ~(uint64_t)(PLAN_PAGE - 1);
	}

	if (l->args_known) {
		p->arg_start = l->arg_start;
		p->arg_end = l->arg_end;
		p->env_start = l->env_start;
		p->env_end = l->env_end;
	}
	if (l->stack_known) {
		p->start_stack = l->start_stack;
	} else {
		uint64_t sp = main_thread && main_thread->has_sp ? main_thread->sp : 0;

		p->start_stack = stack && sp >= stack->start && sp < stack->end ? sp
				 : stack ? stack->end - src->core->word : sp;
	}
	if (!l->args_known) {
		p->arg_start = p->arg_end = p->env_start = p->env_end = p->start_stack;
		plan_lost(p, "argv and envp were not found on the stack (%s): /proc/PID/cmdline and "
			  "environ are empty", src->args->why);
	}
	if (!stack)
		plan_lost(p, "the core has no [stack] mapping: the process has no growing stack");
}

/* --- threads ---------------------------------------------------------------------------------- */

static const struct core_regset *regset(const struct core_thread *t, uint32_t type)
{
	for (size_t i = 0; i < t->nregsets; i++)
		if (t->regsets[i].type == type)
			return &t->regsets[i];
	return NULL;
}

/* An x86_64 thread's registers: the core's user_regs_struct. */
static int regs_x86_64(struct plan_thread *t, const struct core_thread *ct,
		       struct revive_error *err)
{
	int64_t rax, orig;

	if (!ct->gregs || ct->gregs_size != sizeof(t->regs))
		return revive_fail(err, EINVAL, "revive: thread %d's general registers are %zu "
				   "bytes, not x86_64's %zu", ct->tid, ct->gregs_size,
				   sizeof(t->regs));
	memcpy(t->regs, ct->gregs, sizeof(t->regs));
	t->regs_size = sizeof(t->regs);
	memcpy(&t->tp, t->regs + REG_FS_BASE, 8);
	memcpy(&rax, t->regs + REG_RAX, 8);
	memcpy(&orig, t->regs + REG_ORIG_RAX, 8);
	if (orig >= 0 && rax == -ERESTART_RESTARTBLOCK_) {
		/* No restart block in a core: re-issue the call with its arguments. */
		rax = -ERESTARTNOHAND_;
		memcpy(t->regs + REG_RAX, &rax, 8);
		t->restart_block = true;
	}
	t->xstate = regset(ct, NT_X86_XSTATE);
	t->fpregs = regset(ct, NT_FPREGSET);
	return 0;
}

/* A TLS selector of the core's kernel as this kernel numbers its TLS entries (a 32-bit kernel's
 * start at 6, x86_64's at 12); other selectors stay. */
static uint32_t tls_selector(uint32_t sel, uint32_t core_min)
{
	uint32_t index = sel >> 3;

	if ((sel & 4) || index < core_min || index >= core_min + TLS_ENTRIES)
		return sel;
	return (index - core_min + TLS_MIN_X86_64) << 3 | (sel & 3);
}

/* An i386 thread's registers: the core's pr_reg, with its fs and gs selectors in this
 * kernel's TLS entries, and the thread pointer (gs's base) from NT_386_TLS. */
static int regs_i386(struct plan *p, struct plan_thread *t, const struct core_thread *ct,
		     struct revive_error *err)
{
	const struct core_regset *tls;
	int32_t eax, orig;
	uint32_t fs, gs, core_min = TLS_MIN_X86_64;

	if (!ct->gregs || ct->gregs_size != I386_NREGS * 4)
		return revive_fail(err, EINVAL, "revive: thread %d's general registers are %zu "
				   "bytes, not i386's %u", ct->tid, ct->gregs_size, I386_NREGS * 4);
	memcpy(t->regs, ct->gregs, I386_NREGS * 4);
	t->regs_size = I386_NREGS * 4;
	memcpy(&eax, t->regs + I386_EAX, 4);
	memcpy(&orig, t->regs + I386_ORIG_EAX, 4);
	if (orig >= 0 && eax == -ERESTART_RESTARTBLOCK_) {
		eax = -ERESTARTNOHAND_;
		memcpy(t->regs + I386_EAX, &eax, 4);
		t->restart_block = true;
	}
	t->xstate = regset(ct, NT_X86_XSTATE);
	t->fpregs = regset(ct, NT_FPREGSET);
	t->xfpregs = regset(ct, NT_PRXFPREG);
	tls = regset(ct, NT_386_TLS);
	if (tls && tls->size >= USER_DESC_SIZE && tls->size <= sizeof(t->tls)) {
		memcpy(t->tls, tls->data, tls->size);
		t->tls_size = tls->size;
		memcpy(&core_min, t->tls, 4);	/* the first entry's entry_number */
	}
	memcpy(&fs, t->regs + I386_FS, 4);
	memcpy(&gs, t->regs + I386_GS, 4);
	if (core_min != TLS_MIN_X86_64) {
		fs = tls_selector(fs, core_min);
		gs = tls_selector(gs, core_min);
		memcpy(t->regs + I386_FS, &fs, 4);
		memcpy(t->regs + I386_GS, &gs, 4);
		if (t == p->t)
			plan_lost(p, "the core's kernel numbers its TLS entries from %u, this one "
				  "from %u: the fs and gs selectors are renumbered", core_min,
				  TLS_MIN_X86_64);
	}
	/* gs's base is glibc's thread pointer: the TLS entry gs selects (without NT_386_TLS, as
	 * in gdb's gcore cores, glibc_find looks for it in memory). */
	for (size_t e = 0; (e + 1) * USER_DESC_SIZE <= t->tls_size; e++) {
		uint32_t d[2];

		memcpy(d, t->tls + e * USER_DESC_SIZE, sizeof(d));
		if (!(gs & 4) && e == (gs >> 3) - TLS_MIN_X86_64)
			t->tp = d[1];
	}
	return 0;
}

static int threads(struct plan *p, struct revive_error *err)
{
	const struct core *c = p->src->core;
	size_t k = 0;

	p->t = calloc(c->nthreads, sizeof(*p->t));
	if (!p->t)
		return revive_fail(err, ENOMEM, "revive: out of memory");
	p->nt = c->nthreads;
	p->pid = c->pid;
	for (size_t i = 0; i < c->nthreads; i++)
		if (c->threads[i].tid == c->pid)
			p->has_main = true;
	for (size_t pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < c->nthreads; i++) {
			const struct core_thread *ct = &c->threads[i];
			struct plan_thread *t;

			if ((ct->tid == c->pid) != (pass == 0))
				continue;
			t = &p->t[k++];
			t->ct = ct;
			if ((p->abi == ABI_I386 ? regs_i386(p, t, ct, err)
						: regs_x86_64(t, ct, err)) < 0)
				return -1;
			t->sighold = ct->sighold;
		}
	}
	return 0;
}

/* glibc's areas of each thread, where the checks in glibc_find allowed them. */
static void thread_areas(struct plan *p)
{
	struct glibc_layout *g = &p->glibc;
	unsigned restarts = 0;

	for (size_t i = 0; i < p->nt; i++) {
		struct plan_thread *t = &p->t[i];
		int32_t cpu;

		if (g->tid)
			t->tid_addr = t->tp + g->tid_off;
		if (g->robust)
			t->robust_addr = t->tp + g->robust_off;
		/* rseq: registered when the area's cpu_id is a cpu (-1: never, -2: failed). */
		if (g->rseq && memory_read(p->src->facts, t->tp + (uint64_t)g->rseq_off + 4, &cpu,
					   4) == 4 && cpu >= 0)
			t->rseq_addr = t->tp + (uint64_t)g->rseq_off;
		restarts += t->restart_block;
	}
	if (g->why[0])
		plan_lost(p, "%s", g->why);
	for (size_t i = 0; i < p->nt; i++)
		if (p->t[i].restart_block)
			plan_lost(p, "thread %d was in a sleep the kernel restarts through its restart "
				  "block, which no core holds: the call is made again with its "
				  "original arguments (a relative sleep starts over in full; rax reads "
				  "-514, not -516)", p->t[i].ct->tid);
}

/* --- the whole plan --------------------------------------------------------------------------- */

/* Whether this kernel runs x32 programs: an x32 system call fails with ENOSYS when it was built
 * without CONFIG_X86_X32_ABI. */
static bool x32_runs(void)
{
#ifdef __x86_64__
	return syscall(X32_SYSCALL_BIT | SYS_getpid) > 0;
#else
	return false;
#endif
}

/* What this machine can revive: x86_64 processes, and i386 ones in compat mode. */
static int refuse(struct plan *p, struct revive_error *err)
{
	const struct core *c = p->src->core;

#ifndef __x86_64__
	return revive_fail(err, ENOSYS, "revive: revival is implemented for x86_64 machines only");
#endif
	if (c->os != CORE_OS_LINUX)
		return revive_fail(err, EINVAL, "revive: this is a %s core; only Linux cores can be "
				   "revived", c->os == CORE_OS_NETBSD ? "NetBSD" : "macOS");
	if (c->machine == EM_X86_64 && c->elf_class == ELFCLASS32)
		return revive_fail(err, EINVAL, "revive: this core is of an x32 process (%s); %s",
				   c->format, x32_runs()
				   ? "x32 revival is not implemented"
				   : "this kernel runs no x32 program (it was built without "
				     "CONFIG_X86_X32_ABI: an x32 system call fails with ENOSYS)");
	if (c->machine == EM_386 && c->elf_class == ELFCLASS32) {
		p->abi = ABI_I386;
		p->word = 4;
		p->task_size = TASK_SIZE_IA32;
	} else if (c->machine == EM_X86_64 && c->elf_class == ELFCLASS64) {
		p->abi = ABI_X86_64;
		p->word = 8;
		p->task_size = task_size();
	} else {
		return revive_fail(err, EINVAL, "revive: this core is of an %s process (%s); only "
				   "x86_64 and i386 processes can be revived on this x86_64 machine",
				   c->arch->name, c->format);
	}
	if (c->nthreads == 0)
		return revive_fail(err, EINVAL, "revive: the core holds no thread (no NT_PRSTATUS), "
				   "so no registers to start from");
	if (c->pid <= 0)
		return revive_fail(err, EINVAL, "revive: the core names no process id");
	return 0;
}

int plan_build(const struct process *src, struct plan *p, struct revive_error *err)
{
	const struct core *c = src->core;
	const char *exe = core_exe_path(c);
	bool fetched = false;
	struct stat st;

	memset(p, 0, sizeof(*p));
	p->src = src;
	if (view_index(p, 0) == SIZE_MAX)
		return revive_fail(err, ENOMEM, "revive: out of memory");
	if (refuse(p, err) < 0 || lay_out_all(p, err) < 0 || threads(p, err) < 0)
		return -1;
	glibc_find(src, p->t, p->nt, &p->glibc);
	for (size_t i = 0; i < p->nt && p->abi == ABI_I386; i++)
		if (!p->t[i].tls_size)
			plan_lost(p, "thread %d's TLS entries are not in the core (no NT_386_TLS) and "
				  "its thread pointer was not found in its memory: its gs selects "
				  "nothing", p->t[i].ct->tid);
	thread_areas(p);
	mm_fields(p, p->glibc.curbrk);
	p->auxv = c->auxv_raw;
	p->auxv_size = c->auxv_size;
	if (c->psinfo.present)
		memcpy(p->comm, c->psinfo.fname, MIN(strlen(c->psinfo.fname), sizeof(p->comm) - 1));
	if (exe) {
		for (size_t i = 0; i < src->files->nfiles; i++) {
			const struct disk_file *d = &src->files->files[i];

			if (!strcmp(d->path, exe) && (d = disk_file_resolve(src->files, d))) {
				p->exe = strdup(d->disk_path);
				fetched = d->source == SOURCE_DEBUGINFOD;
			}
		}
		p->exe_name = exe;
		/* libdebuginfod keeps its files mode 0400: the executable it fetched is made
		 * executable by its owner, so that /proc/PID/exe names a file gdb can open. */
		if (p->exe && fetched && access(p->exe, X_OK) != 0 && stat(p->exe, &st) == 0 &&
		    chmod(p->exe, (st.st_mode & 07777) | S_IXUSR) == 0)
			plan_lost(p, "the executable %s was fetched from debuginfod: its copy in the "
				  "cache, %s, is now executable by its owner (u+x)", exe, p->exe);
		if (p->exe && access(p->exe, X_OK) != 0)
			plan_lost(p, "the executable %s is %s, which may not be executed: the process "
				  "runs a sealed memfd copy of it, and /proc/PID/exe names "
				  "/memfd:corefs:%s (deleted)", exe, p->exe,
				  strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe);
	}
	/* An i386 process is born 32-bit only by exec'ing a 32-bit program: its own. */
	if (!p->exe && p->abi == ABI_I386)
		return revive_fail(err, ENOENT, "revive: the executable %s is %s: an i386 process "
				   "is revived by exec'ing its own 32-bit executable",
				   exe ? exe : "", exe ? "not usable on this machine" : "unknown");
	if (!p->exe)
		plan_lost(p, "the executable %s is %s: /proc/PID/exe does not name it", exe ? exe : "",
			  exe ? "not usable on this machine" : "unknown");
	for (size_t i = 0; i < p->nr; i++)
		if (p->r[i].src == SRC_CORE)
			p->coredump_filter = 0x37;	/* default 0x33 + file-backed private */
	if (p->coredump_filter)
		plan_lost(p, "memory the core holds is mapped from the core file%s: maps shows that "
			  "path for anonymous memory, and coredump_filter is 0x37 so a core of this "
			  "process holds it", p->nviews > 1 ? " (through a read-only loop device where "
			  "its segments are not page-aligned)" : "");
	if (!p->has_main)
		plan_lost(p, "the main thread (%d) had exited: its place is taken by a thread that "
			  "exits at once", c->pid);
	if (c->producer == CORE_BY_GDB)
		plan_lost(p, "gdb's gcore writes signal masks as 0, writes PROT_NONE pages as "
			  "readable and leaves out [vvar]: so they are here");
	plan_lost(p, "signal handlers, pending signals, the alternate signal stack, timers, rlimits, "
		  "credentials and seccomp filters are in no core: signals are at SIG_DFL, nothing "
		  "is pending, the rest is the reviver's");
	plan_lost(p, "thread names other than the process's are in no core");
	return 0;
}

int plan_open_files(struct plan *p, struct revive_error *err)
{
	for (size_t i = 0; i < p->nfiles; i++) {
		p->files[i].fd = open(p->files[i].path, O_RDONLY | O_CLOEXEC);
		if (p->files[i].fd < 0)
			return revive_fail(err, errno, "revive: %s: %s", p->files[i].path,
					   strerror(errno));
	}
	return 0;
}

void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->nfiles; i++) {
		if (p->files[i].fd >= 0)
			close(p->files[i].fd);
		free(p->files[i].path);
	}
	for (size_t i = 0; i < p->nlost; i++)
		free(p->lost[i]);
	free(p->files);
	free(p->views);
	free(p->r);
	free(p->t);
	free(p->lost);
	free(p->exe);
	memset(p, 0, sizeof(*p));
}
