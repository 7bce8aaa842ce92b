/* revive/remote.c — remote system calls: the vessel runs `syscall; int3` (an i386 process
 * `int 0x80; int3`, with i386's numbers and argument registers) on a scratch page placed
 * outside the target's layout (and the vessel's), one PTRACE_SETREGS + PTRACE_CONT + wait each;
 * remote() runs one, call() fails with a message when it fails, poke() writes memory through
 * /proc/PID/mem.  scratch_setup reads the vessel's layout after exec (the vDSO stage uses it)
 * and maps the page from the entry point the exec stopped at. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../formats/util.h"
#include "build.h"
#include "util.h"

#define I386_PAGE_SHIFT 12

/* The numbers of each ABI (asm/unistd_64.h, asm/unistd_32.h). */
static const long numbers[][R_COUNT] = {
	[ABI_X86_64] = {
		[R_MMAP] = 9, [R_MUNMAP] = 11, [R_MREMAP] = 25, [R_PRCTL] = 157,
		[R_CLOSE_RANGE] = 436, [R_SET_TID_ADDRESS] = 218, [R_SET_ROBUST_LIST] = 273,
		[R_RSEQ] = 334, [R_CLONE3] = 435, [R_EXIT] = 60,
	},
	[ABI_I386] = {
		[R_MMAP] = 192 /* mmap2 */, [R_MUNMAP] = 91, [R_MREMAP] = 163, [R_PRCTL] = 172,
		[R_CLOSE_RANGE] = 436, [R_SET_TID_ADDRESS] = 258, [R_SET_ROBUST_LIST] = 311,
		[R_RSEQ] = 386, [R_CLONE3] = 435, [R_EXIT] = 1,
	},
};

/* The instruction that makes a system call, then the trap after it. */
static const unsigned char syscall_code[][3] = {
	[ABI_X86_64] = { 0x0f, 0x05, 0xcc },	/* syscall; int3 */
	[ABI_I386] = { 0xcd, 0x80, 0xcc },	/* int 0x80; int3 */
};

void remote_regs(const struct build *b, struct user_regs_struct *r, enum rsys nr,
		 const uint64_t a[6])
{
	*r = b->base;
	r->rip = b->scratch + S_CODE;
	r->rax = (uint64_t)numbers[b->plan.abi][nr];
	r->orig_rax = (uint64_t)-1;
	r->rsp = b->scratch + SCRATCH_SIZE - 64;
	if (b->plan.abi == ABI_I386) {
		r->rbx = a[0];
		r->rcx = a[1];
		r->rdx = a[2];
		r->rsi = a[3];
		r->rdi = a[4];
		r->rbp = nr == R_MMAP ? a[5] >> I386_PAGE_SHIFT : a[5];
		return;
	}
	r->rdi = a[0];
	r->rsi = a[1];
	r->rdx = a[2];
	r->r10 = a[3];
	r->r8 = a[4];
	r->r9 = a[5];
}

/* Run one system call in thread tid, stopped in a signal-delivery-stop: it executes `syscall`
 * in the scratch page and traps on the int3 after it.  *ret is what it returned; with ret NULL
 * the call is expected to return into nothing and fault (the scratch page's own munmap). */
int remote(struct build *b, pid_t tid, long *ret, enum rsys nr, uint64_t a1, uint64_t a2,
	   uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6)
{
	const uint64_t a[6] = { a1, a2, a3, a4, a5, a6 };
	struct user_regs_struct r;
	int status;

	remote_regs(b, &r, nr, a);
	if (ptrace(PTRACE_SETREGS, tid, 0, &r) < 0 || ptrace(PTRACE_CONT, tid, 0, 0) < 0)
		return fail(b, errno, "ptrace of thread %d: %s", tid, strerror(errno));
	for (;;) {
		if (wait_tid(tid, &status) < 0)
			return fail(b, errno, "waiting for thread %d: %s", tid, strerror(errno));
		if (!WIFSTOPPED(status) || status >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8)))
			return fail(b, ECHILD, "thread %d ended during system call %ld (status 0x%x)",
				    tid, numbers[b->plan.abi][nr], status);
		if (status >> 8 == (SIGTRAP | (PTRACE_EVENT_CLONE << 8))) {
			unsigned long msg = 0;

			ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg);
			b->clone_msg = (pid_t)msg;
			if (ptrace(PTRACE_CONT, tid, 0, 0) < 0)
				return fail(b, errno, "ptrace: %s", strerror(errno));
			continue;
		}
		break;
	}
	if (WSTOPSIG(status) != SIGTRAP && !(WSTOPSIG(status) == SIGSEGV && ret == NULL))
		return fail(b, EPROTO, "thread %d stopped by signal %d during system call %ld", tid,
			    WSTOPSIG(status), numbers[b->plan.abi][nr]);
	if (!ret)
		return 0;
	if (ptrace(PTRACE_GETREGS, tid, 0, &r) < 0)
		return fail(b, errno, "ptrace: %s", strerror(errno));
	*ret = (long)r.rax;
	return 0;
}

/* The same, failing with a message when the call fails. */
int call(struct build *b, pid_t tid, const char *what, enum rsys nr, uint64_t a1, uint64_t a2,
	 uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6)
{
	long ret;

	if (remote(b, tid, &ret, nr, a1, a2, a3, a4, a5, a6) < 0)
		return -1;
	if (ret < 0 && ret > -4096)
		return fail(b, (int)-ret, "%s: %s", what, strerror((int)-ret));
	return 0;
}

int poke(struct build *b, uint64_t addr, const void *data, size_t len)
{
	ssize_t n = pwrite(b->mem_fd, data, len, (off_t)addr);

	if (n != (ssize_t)len)
		return fail(b, n < 0 ? errno : EIO, "writing %zu bytes at 0x%" PRIx64 ": %s", len, addr,
			    n < 0 ? strerror(errno) : "short write");
	return 0;
}

/* --- stage 3: the scratch page ---------------------------------------------------------------- */

static int read_vessel_maps(struct build *b)
{
	char path[64], line[512];
	FILE *f;
	size_t cap = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", b->pid);
	f = fopen(path, "re");
	if (!f)
		return fail(b, errno, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		uint64_t lo, hi;
		char name[256] = "";

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %*s %*s %*s %*s %255s", &lo, &hi, name) < 2)
			continue;
		if (b->nvm == cap) {
			void *g = realloc(b->vm, (cap = cap ? 2 * cap : 32) * sizeof(*b->vm));

			if (!g) {
				fclose(f);
				return fail(b, ENOMEM, "out of memory");
			}
			b->vm = g;
		}
		b->vm[b->nvm].start = lo;
		b->vm[b->nvm].end = hi;
		/* Only the kernel's short names ([vdso], [vvar]...) are compared: a path may be cut. */
		snprintf(b->vm[b->nvm].name, sizeof(b->vm[0].name), "%.*s",
			 (int)sizeof(b->vm[0].name) - 1, name);
		if (!strcmp(name, "[vvar]"))
			b->own_vvar = lo;
		if (!strcmp(name, "[vdso]")) {
			b->own_vdso = lo;
			b->own_vdso_end = hi;
		}
		b->nvm++;
	}
	fclose(f);
	if (b->own_vdso && !b->own_vvar)
		b->own_vvar = b->own_vdso;
	return 0;
}

/* Whether [lo, hi) meets anything the target or the vessel has (or the vDSO family will have). */
static bool taken(const struct build *b, uint64_t lo, uint64_t hi)
{
	const struct plan *p = &b->plan;
	uint64_t vlo = p->vdso_start - (b->own_vdso - b->own_vvar), vhi = p->vdso_end;

	for (size_t i = 0; i < p->nr; i++)
		if (lo < p->r[i].end && hi > p->r[i].start)
			return true;
	for (size_t i = 0; i < b->nvm; i++)
		if (lo < b->vm[i].end && hi > b->vm[i].start)
			return true;
	if (p->vdso_start && lo < vhi && hi > MIN(vlo, p->vvar_start))
		return true;
	return false;
}

/* A free place for size bytes above min, or 0. */
uint64_t free_spot(const struct build *b, uint64_t size, uint64_t min)
{
	for (uint64_t a = min; a + size < b->plan.task_size; a += 16 * PAGE) {
		if (!taken(b, a - PAGE, a + size + PAGE))
			return a;
		/* jump over what is here */
		for (size_t i = 0; i < b->plan.nr; i++)
			if (a >= b->plan.r[i].start && a < b->plan.r[i].end)
				a = b->plan.r[i].end & ~(uint64_t)(16 * PAGE - 1);
	}
	return 0;
}

int scratch_setup(struct build *b)
{
	const unsigned char *code = syscall_code[b->plan.abi];
	unsigned long word;
	uint64_t at, min = 0x10000;
	char path[64];
	FILE *f = fopen("/proc/sys/vm/mmap_min_addr", "re");
	long ret;

	if (f) {
		if (fscanf(f, "%" SCNu64, &min) != 1 || min < PAGE)
			min = 0x10000;
		fclose(f);
	}
	min = (min + 16 * PAGE - 1) & ~(uint64_t)(16 * PAGE - 1);
	snprintf(path, sizeof(path), "/proc/%d/mem", b->pid);
	b->mem_fd = open(path, O_RDWR | O_CLOEXEC);
	if (b->mem_fd < 0)
		return fail(b, errno, "%s: %s", path, strerror(errno));
	if (read_vessel_maps(b) < 0)
		return -1;
	b->scratch = free_spot(b, SCRATCH_SIZE, min);
	if (!b->scratch)
		return fail(b, ENOMEM, "no room for a scratch page outside the core's layout");
	if (ptrace(PTRACE_GETREGS, b->pid, 0, &b->base) < 0)
		return fail(b, errno, "ptrace: %s", strerror(errno));
	/* The first call runs from the entry point the exec stopped at. */
	at = b->base.rip;
	errno = 0;
	word = (unsigned long)ptrace(PTRACE_PEEKTEXT, b->pid, at, 0);
	if (errno)
		return fail(b, errno, "ptrace: %s", strerror(errno));
	memcpy(&word, code, sizeof(syscall_code[0]));
	if (ptrace(PTRACE_POKETEXT, b->pid, at, word) < 0)
		return fail(b, errno, "ptrace: %s", strerror(errno));
	{
		uint64_t keep = b->scratch;

		b->scratch = at;	/* remote() runs `syscall` at b->scratch */
		if (remote(b, b->pid, &ret, R_MMAP, keep, SCRATCH_SIZE,
			   PROT_READ | PROT_WRITE | PROT_EXEC,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, (uint64_t)-1, 0) < 0)
			return -1;
		b->scratch = keep;
	}
	if ((uint64_t)ret != b->scratch)
		return fail(b, ret < 0 ? (int)-ret : EEXIST, "mapping the scratch page at 0x%" PRIx64
			    ": %s", b->scratch, strerror(ret < 0 ? (int)-ret : EEXIST));
	return poke(b, b->scratch + S_CODE, code, sizeof(syscall_code[0]));
}
