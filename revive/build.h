/* revive/build.h — what the Linux backend's files share: a revival in progress (struct build),
 * its fixed places (the scratch page's layout, the vessel's descriptors), how a step fails or
 * records what is lost, the remote system calls, and the stages revive_start (linux.c) chains. */
#ifndef COREFS_REVIVE_BUILD_H
#define COREFS_REVIVE_BUILD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "plan.h"
#include "revive.h"
#include "revived.h"

#define PAGE PLAN_PAGE
#define SCRATCH_SIZE (2 * PAGE)
/* Layout of the scratch page: code, then the arguments of calls that take a pointer. */
#define S_CODE 0
#define S_MM_MAP 64
#define S_CLONE 192
#define S_SET_TID 288
#define S_COMM 320
#define S_AUXV 512
/* Fixed descriptors in the vessel: 0-2, the views of the core (the core first), the files. */
#define FD_CORE 3
#define FD_FILE(p, i) (FD_CORE + (int)(p)->nviews + (int)(i))

/* A revival in progress. */
struct build {
	struct plan plan;
	const struct revive_options *opt;
	struct revive_error *err;
	struct revived *r;
	pid_t pid;		/* the vessel: the process being built (0 before it exists) */
	int mem_fd;		/* /proc/PID/mem */
	uint64_t scratch;
	struct user_regs_struct base;	/* registers remote calls start from */
	pid_t *tids;		/* new tid of each plan thread, as this process sees it */
	pid_t *vtids;		/* as the process sees them (differs under pidns) */
	pid_t clone_msg;	/* the tid PTRACE_EVENT_CLONE reported last */
	/* the vessel's layout after exec */
	struct { uint64_t start, end; char name[32]; } *vm;
	size_t nvm;
	uint64_t own_vvar, own_vdso, own_vdso_end;	/* the kernel's vvar..vdso in the vessel */
	bool vdso_moved;
	int *view_fds;		/* per view of the core: the core itself, loop devices */
	int init_ready;		/* write end: tells the init the process exists */
};

/* build.c: the error that ends the revival (returns -1), and a sentence for revive_lost. */
int fail(struct build *b, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void lost(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The system calls a revival makes in the vessel, by name: remote() turns each into the
 * number of the process's ABI (x86_64's `syscall`, or i386's `int 0x80`).  R_MMAP takes a byte
 * offset whatever the ABI (i386's mmap2 takes pages). */
enum rsys {
	R_MMAP, R_MUNMAP, R_MREMAP, R_PRCTL, R_CLOSE_RANGE, R_SET_TID_ADDRESS,
	R_SET_ROBUST_LIST, R_RSEQ, R_CLONE3, R_EXIT,
	R_COUNT
};

/* remote.c: system calls made by a stopped thread of the vessel from the scratch page; a free
 * place outside the target's and the vessel's layouts. */
int remote(struct build *b, pid_t tid, long *ret, enum rsys nr, uint64_t a1, uint64_t a2,
	   uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6);
int call(struct build *b, pid_t tid, const char *what, enum rsys nr, uint64_t a1, uint64_t a2,
	 uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6);
/* The registers that make a thread stopped at the scratch page run system call nr. */
void remote_regs(const struct build *b, struct user_regs_struct *r, enum rsys nr,
		 const uint64_t a[6]);
int poke(struct build *b, uint64_t addr, const void *data, size_t len);
uint64_t free_spot(const struct build *b, uint64_t size, uint64_t min);

/* The stages, in revive_start's order. */
int make_views(struct build *b);	/* memory.c: the core file and its loop devices */
int spawn_vessel(struct build *b);	/* vessel.c */
int scratch_setup(struct build *b);	/* remote.c */
int vdso_move(struct build *b);		/* memory.c */
int unmap_vessel(struct build *b);
int map_regions(struct build *b);
int write_bytes(struct build *b);
int set_mm(struct build *b);
int make_threads(struct build *b);	/* threads.c */
int patch_tids(struct build *b);
int restore_registers(struct build *b);
int group_stop(struct build *b);

#endif
