/* revive/linux.c — the Linux x86_64 backend: a core becomes a group-stopped process (an i386
 * core a 32-bit, compat-mode one: its own executable exec'd, remote calls by int 0x80).
 *
 * Stages (revive_start):
 *   1. plan          everything decided from the model (plan.c): refusals come before any process
 *   2. vessel        a child of this thread, in its own session with default signal dispositions
 *                    and the caller's limit on open files, fds 0-2 as asked, the views of the core
 *                    and the mapped files at fixed numbers, traced (PTRACE_TRACEME) and exec'ing
 *                    the target's own executable, so /proc/PID/exe is right without privilege;
 *                    it stops before its first instruction.  With pidns it is born in a new pid
 *                    namespace with the original pid (clone3 set_tid), whose init (a small
 *                    process of ours) stays until it is gone.
 *   3. remote calls  a scratch page outside the target's layout holds `syscall; int3`; each
 *                    system call the vessel makes is one PTRACE_SETREGS + PTRACE_CONT + wait
 *   4. memory        the kernel's [vvar], [vvar_vclock] and [vdso] are moved to where the core had
 *                    its vDSO when the bytes match (else the core's vDSO text is mapped over a zero
 *                    vvar), everything the exec mapped is unmapped, every region of the plan is
 *                    mapped: the core's segments from the core file (or, for gcore's misaligned
 *                    ones, a read-only loop device over it), text from the mapped files, the rest
 *                    anonymous; core bytes that must be written now (written pages of file
 *                    mappings, the main stack, a foreign vDSO) go through /proc/PID/mem
 *   5. mm            PR_SET_MM_MAP (code, data, brk, stack, arg/env bounds, the saved auxv), comm,
 *                    coredump_filter
 *   6. threads       clone3 in the vessel's first thread for every other thread (set_tid under
 *                    pidns, CLONE_CHILD_CLEARTID on glibc's pd->tid); each registers its robust
 *                    list and rseq area; glibc's cached tids are patched when they changed
 *   7. registers     every thread gets the core's general registers (fs_base and gs_base
 *                    included), its x87/SSE/AVX state (all of it when the core's xstate layout
 *                    is this CPU's) and its signal mask, in a signal-delivery stop: syscalls
 *                    interrupted at dump time (-512/-513/-514) are restarted by the kernel
 *                    itself when the process runs on, because orig_rax is restored
 *   8. stop          every thread leaves ptrace with a SIGSTOP of its own: the first to run starts
 *                    a group stop, the others join it; the process is group-stopped, untraced.
 * Any failure kills what was made (the vessel, the namespace's init) before returning; loop
 * devices clear themselves once nothing maps them (LO_FLAGS_AUTOCLEAR).
 *
 * The stages live in vessel.c (2), remote.c (3), memory.c (4 and 5) and threads.c (6 to 8);
 * build.h is what they share.  revived.c is the handle revive_start returns. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../formats/util.h"
#include "build.h"
#include "util.h"

/* Kill the half-made process and reap every thread of it (ptrace children each), the leader
 * last; the namespace's init goes too. */
static void undo(struct build *b)
{
	struct revived *r = b->r;

	if (b->pid > 0) {
		pid_t tids[1024];
		size_t n = task_tids(b->pid, tids, 1024);

		kill(b->pid, SIGKILL);
		for (size_t i = 0; i < MIN(n, 1024); i++)
			if (tids[i] != b->pid)
				wait_tid(tids[i], NULL);
		wait_tid(b->pid, NULL);
	}
	if (b->init_ready >= 0)
		close(b->init_ready);
	if (r && r->init_pid > 0) {
		kill(r->init_pid, SIGKILL);
		waitpid(r->init_pid, NULL, 0);
	}
}

static const char *fd_word(const char *path)
{
	return path ? path : "/dev/null";
}

int revive_start(const struct process *src, const struct revive_options *opt,
		 struct revived **out, struct revive_error *err)
{
	struct build b = { .opt = opt, .err = err, .mem_fd = -1, .init_ready = -1 };
	int ret = -1;

	memset(err, 0, sizeof(*err));
	*out = NULL;
	if (plan_build(src, &b.plan, err) < 0)
		goto out;
	b.r = calloc(1, sizeof(*b.r));
	b.tids = calloc(b.plan.nt + 1, sizeof(pid_t));
	b.vtids = calloc(b.plan.nt + 1, sizeof(pid_t));
	if (!b.r || !b.tids || !b.vtids) {
		fail(&b, ENOMEM, "out of memory");
		goto out;
	}
	if (plan_open_files(&b.plan, err) < 0 || make_views(&b) < 0 || spawn_vessel(&b) < 0)
		goto out;
	if (scratch_setup(&b) < 0 || vdso_move(&b) < 0 || unmap_vessel(&b) < 0 ||
	    map_regions(&b) < 0 || write_bytes(&b) < 0 || set_mm(&b) < 0 ||
	    make_threads(&b) < 0 || patch_tids(&b) < 0 || restore_registers(&b) < 0 ||
	    group_stop(&b) < 0)
		goto out;

	b.r->pid = b.pid;
	b.r->nspid = opt->pidns ? b.plan.pid : 0;
	b.r->st.state = REVIVE_STOPPED;
	lost(&b, "file descriptors are in no core: 0 is %s, 1 is %s, 2 is %s, no other is open",
	     fd_word(opt->stdin_path), fd_word(opt->stdout_path), fd_word(opt->stderr_path));
	lost(&b, "the working directory is in no core: it is %s", opt->cwd ? opt->cwd : "/");
	b.r->lost = b.plan.lost;
	b.r->nlost = b.plan.nlost;
	b.plan.lost = NULL;
	b.plan.nlost = 0;
	*out = b.r;
	b.r = NULL;
	b.pid = 0;
	ret = 0;
out:
	if (ret < 0)
		undo(&b);
	if (b.mem_fd >= 0)
		close(b.mem_fd);
	for (size_t i = 1; b.view_fds && i < b.plan.nviews; i++)
		if (b.view_fds[i] >= 0)
			close(b.view_fds[i]);
	free(b.view_fds);
	free(b.vm);
	free(b.tids);
	free(b.vtids);
	free(b.r);
	plan_free(&b.plan);
	return ret;
}
