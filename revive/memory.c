/* revive/memory.c — stages 4 and 5, the memory: the views of the core (the core file itself,
 * and read-only loop devices for gcore cores' misaligned segments), the vDSO moved to the
 * core's place when the bytes match, the exec's mappings unmapped, every region of the plan
 * mapped, core bytes written where a mapping cannot carry them, then PR_SET_MM_MAP, comm and
 * coredump_filter. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/loop.h>
#include <linux/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../formats/util.h"
#include "build.h"

/* The kernel's vDSO family moves to where the core had its vDSO when the bytes are the same as
 * the vessel's own vDSO (same kernel, same ABI: an i386 process has the 32-bit vDSO) and the
 * vvar pages the core shows below it are as large as the vessel's. */
int vdso_move(struct build *b)
{
	const struct plan *p = &b->plan;
	uint64_t size = b->own_vdso_end - b->own_vdso, vvar = b->own_vdso - b->own_vvar;
	uint64_t delta, tmp;
	unsigned char *core_bytes, *own;
	bool same;

	if (!p->vdso_start || !b->own_vdso)
		return 0;
	core_bytes = malloc(size);
	own = malloc(size);
	same = core_bytes && own && p->vdso_end - p->vdso_start == size &&
	       (p->vvar_start == p->vdso_start || p->vdso_start - p->vvar_start == vvar) &&
	       memory_read(p->src->facts, p->vdso_start, core_bytes, size) == (ssize_t)size &&
	       pread(b->mem_fd, own, size, (off_t)b->own_vdso) == (ssize_t)size &&
	       !memcmp(core_bytes, own, size);
	free(core_bytes);
	free(own);
	if (!same)
		return 0;
	/* Through a free spot when the old and new places overlap (mremap refuses that). */
	tmp = b->own_vvar < p->vdso_end && b->own_vdso_end > p->vdso_start - vvar
		      ? free_spot(b, vvar + size, p->abi == ABI_I386 ? 0x10000000 : 0x100000000) : 0;
	for (int pass = tmp ? 0 : 1; pass < 2; pass++) {
		uint64_t to = pass == 0 ? tmp : p->vdso_start - vvar;

		delta = to - b->own_vvar;
		for (size_t i = 0; i < b->nvm; i++) {
			uint64_t lo = b->vm[i].start, hi = b->vm[i].end;

			if (lo < b->own_vvar || hi > b->own_vdso_end)
				continue;
			if (call(b, b->pid, "moving the vDSO", R_MREMAP, lo, hi - lo, hi - lo,
				 MREMAP_MAYMOVE | MREMAP_FIXED, lo + delta, 0) < 0)
				return -1;
			b->vm[i].start += delta;
			b->vm[i].end += delta;
		}
		b->own_vvar += delta;
		b->own_vdso += delta;
		b->own_vdso_end += delta;
	}
	b->vdso_moved = true;
	return 0;
}

int unmap_vessel(struct build *b)
{
	for (size_t i = 0; i < b->nvm; i++) {
		uint64_t lo = b->vm[i].start, hi = b->vm[i].end;

		if (lo >= b->plan.task_size)
			continue;	/* [vsyscall] */
		if (b->vdso_moved && lo >= b->own_vvar && hi <= b->own_vdso_end)
			continue;
		/* The vDSO family may have moved over part of an old mapping: spare it. */
		for (int part = 0; part < 2; part++) {
			uint64_t a = lo, z = hi;

			if (b->vdso_moved && lo < b->own_vdso_end && hi > b->own_vvar) {
				a = part == 0 ? lo : MAX(lo, b->own_vdso_end);
				z = part == 0 ? MIN(hi, b->own_vvar) : hi;
			} else if (part == 1) {
				break;
			}
			if (a < z && call(b, b->pid, "unmapping the exec's memory", R_MUNMAP, a,
					  z - a, 0, 0, 0, 0) < 0)
				return -1;
		}
	}
	return 0;
}

int map_regions(struct build *b)
{
	const struct plan *p = &b->plan;

	for (size_t i = 0; i < p->nr; i++) {
		const struct region *r = &p->r[i];
		uint64_t flags = MAP_PRIVATE | MAP_FIXED, fd = (uint64_t)-1, off = 0;
		char what[160];

		if (r->src == SRC_CORE) {
			fd = FD_CORE + r->view;
			off = r->core_off;
		} else if (r->src == SRC_FILE) {
			fd = (uint64_t)FD_FILE(p, r->file);
			off = r->file_off;
		} else {
			flags |= MAP_ANONYMOUS | (r->stack ? MAP_GROWSDOWN : 0);
		}
		snprintf(what, sizeof(what), "mapping %s at 0x%" PRIx64 "-0x%" PRIx64, r->what,
			 r->start, r->end);
		if (call(b, b->pid, what, R_MMAP, r->start, r->end - r->start, (uint64_t)r->prot,
			 flags, fd, off) < 0)
			return -1;
	}
	/* The core's vDSO text over zero vvar pages, when the kernel's could not be moved. */
	if (p->vdso_start && !b->vdso_moved) {
		if (p->vvar_start < p->vdso_start &&
		    call(b, b->pid, "mapping a zero [vvar]", R_MMAP, p->vvar_start,
			 p->vdso_start - p->vvar_start, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, (uint64_t)-1, 0) < 0)
			return -1;
		if (call(b, b->pid, "mapping the core's vDSO", R_MMAP, p->vdso_start,
			 p->vdso_end - p->vdso_start, PROT_READ | PROT_EXEC,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, (uint64_t)-1, 0) < 0)
			return -1;
		lost(b, "the core's vDSO is not this kernel's: its text is mapped over zeroed vvar "
		     "pages, where clock_gettime and gettimeofday fall back to system calls but "
		     "time() reads 0; maps names neither");
	}
	return 0;
}

/* Core bytes written now: pages of file mappings the process had written (where they differ
 * from the file's), the main stack of a kernel core (its data extents only), a foreign vDSO. */
int write_bytes(struct build *b)
{
	const struct plan *p = &b->plan;
	const struct core *c = p->src->core;
	unsigned char *cb = malloc(64 * PAGE), *fb = malloc(PAGE);
	int ret = -1;

	if (!cb || !fb) {
		fail(b, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < p->nr; i++) {
		const struct region *r = &p->r[i];

		if (!r->core_len || r->src == SRC_CORE)
			continue;
		if (r->src == SRC_FILE) {
			for (uint64_t d = 0; d < r->core_len; d += PAGE) {
				size_t n = MIN(PAGE, r->core_len - d);

				if (core_read_mem(c, r->start + d, cb, n) != (ssize_t)n)
					continue;
				if (pread(p->files[r->file].fd, fb, n, (off_t)(r->file_off + d)) ==
					    (ssize_t)n && !memcmp(cb, fb, n))
					continue;
				if (poke(b, r->start + d, cb, n) < 0)
					goto out;
			}
			continue;
		}
		/* Anonymous: only the extents the core file holds data for (holes are zeros). */
		for (uint64_t at = r->core_off, start, stop;
		     core_file_data(c, at, r->core_off + r->core_len, &start, &stop);) {
			uint64_t d = start - r->core_off;
			size_t n = (size_t)MIN(stop - start, 64 * PAGE);

			if (core_read_mem(c, r->start + d, cb, n) != (ssize_t)n)
				break;
			if (poke(b, r->start + d, cb, n) < 0)
				goto out;
			at = start + n;
		}
	}
	if (p->vdso_start && !b->vdso_moved) {
		size_t n = (size_t)MIN(p->vdso_end - p->vdso_start, 64 * PAGE);

		if (memory_read(p->src->facts, p->vdso_start, cb, n) == (ssize_t)n &&
		    poke(b, p->vdso_start, cb, n) < 0)
			goto out;
	}
	ret = 0;
out:
	free(cb);
	free(fb);
	return ret;
}

/* A read-only view of the core starting `shift` bytes in: a loop device (LOOP_CONFIGURE) that
 * clears itself when its last user, the process's mapping, is gone. */
static int loop_view(struct build *b, uint64_t shift)
{
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC), e = ENODEV;

	if (ctl < 0)
		return fail(b, errno, "this core's segments are not page-aligned (gdb's gcore writes "
			    "them so): they are mapped through a read-only loop device, which needs "
			    "/dev/loop-control and CAP_SYS_ADMIN: %s", strerror(errno));
	for (int tries = 0; tries < 16; tries++) {
		struct loop_config cfg = {
			.fd = (uint32_t)b->view_fds[0],
			.info = { .lo_offset = shift,
				  .lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR },
		};
		char path[32];
		int n = ioctl(ctl, LOOP_CTL_GET_FREE), fd;

		if (n < 0) {
			e = errno;
			break;
		}
		snprintf(path, sizeof(path), "/dev/loop%d", n);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			e = errno;
			break;
		}
		if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
			close(ctl);
			return fd;
		}
		e = errno;
		close(fd);
		if (e != EBUSY)
			break;	/* EBUSY: another user took it first; try the next free one */
	}
	close(ctl);
	return fail(b, e, "a loop device over the core (its segments are not page-aligned): %s",
		    strerror(e));
}

int make_views(struct build *b)
{
	char why[512];

	b->view_fds = malloc(b->plan.nviews * sizeof(int));
	if (!b->view_fds)
		return fail(b, ENOMEM, "out of memory");
	for (size_t i = 0; i < b->plan.nviews; i++)
		b->view_fds[i] = -1;
	/* The core's bytes on this machine: a remote core is downloaded first (formats/core.h). */
	b->view_fds[0] = core_local_fd(b->plan.src->core, why, sizeof(why));
	if (b->view_fds[0] < 0)
		return fail(b, EIO, "%s", why);
	for (size_t i = 1; i < b->plan.nviews; i++)
		if ((b->view_fds[i] = loop_view(b, b->plan.views[i])) < 0)
			return -1;
	return 0;
}

/* --- stage 5: mm ------------------------------------------------------------------------------ */

int set_mm(struct build *b)
{
	const struct plan *p = &b->plan;
	struct prctl_mm_map mm = {
		.start_code = p->start_code, .end_code = p->end_code,
		.start_data = p->start_data, .end_data = p->end_data,
		.start_brk = p->start_brk, .brk = p->brk, .start_stack = p->start_stack,
		.arg_start = p->arg_start, .arg_end = p->arg_end,
		.env_start = p->env_start, .env_end = p->env_end,
		.auxv = (__u64 *)(uintptr_t)(b->scratch + S_AUXV),
		.auxv_size = (uint32_t)p->auxv_size, .exe_fd = (uint32_t)-1,
	};
	char comm[16] = { 0 };
	long ret;

	if (p->auxv_size > PAGE - S_AUXV)
		return fail(b, E2BIG, "the core's auxv (%zu bytes) is larger than any kernel keeps",
			    p->auxv_size);
	if (poke(b, b->scratch + S_MM_MAP, &mm, sizeof(mm)) < 0 ||
	    (p->auxv_size && poke(b, b->scratch + S_AUXV, p->auxv, p->auxv_size) < 0))
		return -1;
	if (remote(b, b->pid, &ret, R_PRCTL, PR_SET_MM, PR_SET_MM_MAP, b->scratch + S_MM_MAP,
		   sizeof(mm), 0, 0) < 0)
		return -1;
	if (ret < 0)
		return fail(b, (int)-ret, "PR_SET_MM_MAP (code 0x%" PRIx64 "-0x%" PRIx64 ", data 0x%"
			    PRIx64 "-0x%" PRIx64 ", brk 0x%" PRIx64 "-0x%" PRIx64 ", stack 0x%" PRIx64
			    ", args 0x%" PRIx64 "-0x%" PRIx64 ", env 0x%" PRIx64 "-0x%" PRIx64 "): %s",
			    p->start_code, p->end_code, p->start_data, p->end_data, p->start_brk,
			    p->brk, p->start_stack, p->arg_start, p->arg_end, p->env_start, p->env_end,
			    strerror((int)-ret));
	memcpy(comm, p->comm, MIN(strlen(p->comm), sizeof(comm) - 1));
	if (comm[0] && (poke(b, b->scratch + S_COMM, comm, sizeof(comm)) < 0 ||
			call(b, b->pid, "PR_SET_NAME", R_PRCTL, PR_SET_NAME, b->scratch + S_COMM,
			     0, 0, 0, 0) < 0))
		return -1;
	if (p->coredump_filter) {
		char path[64], val[32];
		int fd, len = snprintf(val, sizeof(val), "0x%" PRIx64 "\n", p->coredump_filter);

		snprintf(path, sizeof(path), "/proc/%d/coredump_filter", b->pid);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, val, (size_t)len) != len)
			lost(b, "coredump_filter could not be set: a core of this process leaves out "
			     "the memory mapped from the core file");
		if (fd >= 0)
			close(fd);
	}
	return 0;
}
