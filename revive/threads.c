/* revive/threads.c — stages 6 to 8, the threads: made with clone3 by the vessel's first thread
 * (set_tid under pidns), their robust lists and rseq areas registered, glibc's cached tids
 * patched; then each gets the core's registers in its signal-delivery stop and leaves ptrace
 * with a SIGSTOP of its own, so the process ends group-stopped and untraced. */
#include <elf.h>
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "build.h"
#include "util.h"
#include "xstate.h"

#define RSEQ_SIG_X86 0x53053053u	/* x86's rseq abort signature (the kernel ABI glibc uses) */
#define XSTATE_MAX 16384

/* What glibc registered with the kernel for this thread: its robust list and rseq area. */
static void register_areas(struct build *b, size_t i)
{
	const struct plan_thread *t = &b->plan.t[i];
	long ret;

	if (t->robust_addr &&
	    (remote(b, b->tids[i], &ret, R_SET_ROBUST_LIST, t->robust_addr, 3 * b->plan.word, 0, 0,
		    0, 0) < 0 ||
	     ret < 0))
		lost(b, "thread %d's robust list could not be registered", t->ct->tid);
	if (t->rseq_addr &&
	    (remote(b, b->tids[i], &ret, R_RSEQ, t->rseq_addr, b->plan.glibc.rseq_len, 0,
		    RSEQ_SIG_X86, 0, 0) < 0 || ret < 0))
		lost(b, "thread %d's rseq area could not be registered", t->ct->tid);
}

int make_threads(struct build *b)
{
	struct plan *p = &b->plan;
	size_t first = p->has_main ? 1 : 0;
	long ret;

	b->tids[0] = b->pid;
	if (p->has_main) {
		b->vtids[0] = p->t[0].ct->tid;	/* fixed below when there is no pidns */
		if (p->t[0].tid_addr &&
		    call(b, b->pid, "set_tid_address", R_SET_TID_ADDRESS, p->t[0].tid_addr, 0, 0,
			 0, 0, 0) < 0)
			return -1;
		register_areas(b, 0);
	}
	for (size_t i = first; i < p->nt; i++) {
		const struct plan_thread *t = &p->t[i];
		pid_t want = t->ct->tid;
		struct clone_args ca = {
			.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
				 CLONE_SYSVSEM | (t->tid_addr ? CLONE_CHILD_CLEARTID : 0),
			.child_tid = t->tid_addr,
		};
		int status;

		if (b->opt->pidns) {
			ca.set_tid = b->scratch + S_SET_TID;
			ca.set_tid_size = 1;
			if (poke(b, b->scratch + S_SET_TID, &want, sizeof(want)) < 0)
				return -1;
		}
		if (poke(b, b->scratch + S_CLONE, &ca, sizeof(ca)) < 0)
			return -1;
		b->clone_msg = 0;
		if (remote(b, b->pid, &ret, R_CLONE3, b->scratch + S_CLONE, sizeof(ca), 0, 0, 0,
			   0) < 0)
			return -1;
		if (ret < 0 || !b->clone_msg)
			return fail(b, ret < 0 ? (int)-ret : ECHILD, "creating thread %d: %s%s", want,
				    strerror(ret < 0 ? (int)-ret : ECHILD),
				    b->opt->pidns && ret == -EEXIST ? " (its tid is taken)" : "");
		b->tids[i] = b->clone_msg;
		b->vtids[i] = (pid_t)ret;
		if (wait_tid(b->tids[i], &status) < 0 || !WIFSTOPPED(status) ||
		    WSTOPSIG(status) != SIGSTOP)
			return fail(b, ECHILD, "thread %d did not stop after its birth", want);
		register_areas(b, i);
	}
	return 0;
}

/* glibc caches each thread's tid in its struct pthread: new tids must be written there. */
int patch_tids(struct build *b)
{
	struct plan *p = &b->plan;
	char from[160] = "", to[160] = "";
	size_t changed = 0, shown = 0;

	if (p->has_main && !b->opt->pidns)
		b->vtids[0] = b->pid;
	for (size_t i = 0; i < p->nt; i++) {
		const struct plan_thread *t = &p->t[i];
		pid_t v = b->vtids[i];
		size_t nf = strlen(from), nt = strlen(to);

		if (v == t->ct->tid)
			continue;
		if (t->tid_addr && poke(b, t->tid_addr, &v, sizeof(v)) < 0)
			return -1;
		changed++;
		if (nf + 12 < sizeof(from) && nt + 12 < sizeof(to)) {	/* room for " -2147483648" */
			snprintf(from + nf, sizeof(from) - nf, " %d", t->ct->tid);
			snprintf(to + nt, sizeof(to) - nt, " %d", v);
			shown++;
		}
	}
	if (changed)
		lost(b, "tids:%s%s are now%s%s; %s; mutex owners and other tids the program stored "
		     "keep the old values (revive pidns keeps the original ones)", from,
		     shown < changed ? " ..." : "", to, shown < changed ? " ..." : "",
		     p->glibc.tid ? "glibc's cached tids are patched" : "glibc's cached tids are not");
	return 0;
}

/* --- stage 7: registers ----------------------------------------------------------------------- */

/* A register set as it is in the core, through PTRACE_SETREGSET. */
static int set_regset(struct build *b, size_t i, unsigned type, const void *data, size_t size,
		      const char *what)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = size };

	if (ptrace(PTRACE_SETREGSET, b->tids[i], type, &iov) < 0)
		return fail(b, errno, "setting thread %d's %s: %s", b->plan.t[i].ct->tid, what,
			    strerror(errno));
	return 0;
}

static int set_fp(struct build *b, size_t i, uint64_t *lost_bits)
{
	const struct plan_thread *t = &b->plan.t[i];
	pid_t tid = b->tids[i];
	bool i386 = b->plan.abi == ABI_I386;

	if (t->xstate) {
		unsigned char buf[XSTATE_MAX];
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };

		if (ptrace(PTRACE_GETREGSET, tid, NT_X86_XSTATE, &iov) < 0)
			return fail(b, errno, "reading thread %d's xstate: %s", tid, strerror(errno));
		*lost_bits |= xstate_merge(buf, iov.iov_len, t->xstate->data, t->xstate->size);
		return set_regset(b, i, NT_X86_XSTATE, buf, iov.iov_len, "xstate");
	}
	/* A compat tracee's register sets are i386's: the fxsave area, else the i387 one. */
	if (i386 && t->xfpregs)
		return set_regset(b, i, NT_PRXFPREG, t->xfpregs->data, t->xfpregs->size,
				  "x87/SSE registers");
	if (i386 && t->fpregs)
		return set_regset(b, i, NT_PRFPREG, t->fpregs->data, t->fpregs->size,
				  "x87 registers");
	if (!i386 && t->fpregs && t->fpregs->size >= sizeof(struct user_fpregs_struct)) {
		struct user_fpregs_struct fp;

		memcpy(&fp, t->fpregs->data, sizeof(fp));
		if (ptrace(PTRACE_SETFPREGS, tid, 0, &fp) < 0)
			return fail(b, errno, "setting thread %d's x87/SSE registers: %s", t->ct->tid,
				    strerror(errno));
		return 0;
	}
	lost(b, "thread %d's floating-point registers are not in the core", t->ct->tid);
	return 0;
}

/* The TLS entries first: writing gs (i386) takes its base from the entry it selects.  An i386
 * thread's general registers are the core's pr_reg as they are, through the compat tracee's
 * NT_PRSTATUS (which also marks orig_eax as the kernel's restart logic wants it). */
static int set_registers(struct build *b, size_t i, uint64_t *lost_bits)
{
	const struct plan_thread *t = &b->plan.t[i];
	pid_t tid = b->tids[i];
	uint64_t mask = t->sighold;
	struct user_regs_struct r;

	if (t->tls_size && set_regset(b, i, NT_386_TLS, t->tls, t->tls_size, "TLS entries") < 0)
		return -1;
	if (set_fp(b, i, lost_bits) < 0)
		return -1;
	if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(mask), &mask) < 0)
		return fail(b, errno, "setting thread %d's signal mask: %s", t->ct->tid,
			    strerror(errno));
	if (b->plan.abi == ABI_I386)
		return set_regset(b, i, NT_PRSTATUS, t->regs, t->regs_size, "registers");
	memcpy(&r, t->regs, sizeof(r));
	if (ptrace(PTRACE_SETREGS, tid, 0, &r) < 0)
		return fail(b, errno, "setting thread %d's registers: %s", t->ct->tid,
			    strerror(errno));
	return 0;
}

/* The leader had exited: it exits again (it stays a zombie while threads live). */
static int exit_leader(struct build *b)
{
	static const uint64_t args[6] = { 0 };
	struct user_regs_struct r;
	int status;

	remote_regs(b, &r, R_EXIT, args);
	if (ptrace(PTRACE_SETREGS, b->pid, 0, &r) < 0 || ptrace(PTRACE_CONT, b->pid, 0, 0) < 0)
		return fail(b, errno, "ptrace: %s", strerror(errno));
	/* It stops on its way out (PTRACE_O_TRACEEXIT): let it go. */
	if (wait_tid(b->pid, &status) < 0 || status >> 8 != (SIGTRAP | (PTRACE_EVENT_EXIT << 8)))
		return fail(b, ECHILD, "the leader did not exit (status 0x%x)", status);
	if (ptrace(PTRACE_DETACH, b->pid, 0, 0) < 0)
		return fail(b, errno, "ptrace: %s", strerror(errno));
	return 0;
}

/* The last remote calls (the reviver's descriptors closed, the scratch page unmapped), then
 * every thread's registers. */
int restore_registers(struct build *b)
{
	struct plan *p = &b->plan;
	size_t anchor = 0;	/* the thread that unmaps the scratch page */
	uint64_t lost_bits = 0;

	if (call(b, b->pid, "closing the reviver's descriptors", R_CLOSE_RANGE, 3, ~0u, 0, 0, 0,
		 0) < 0)
		return -1;
	for (size_t i = 1; i < p->nt; i++)
		if (set_registers(b, i, &lost_bits) < 0)
			return -1;
	if (!p->has_main && exit_leader(b) < 0)
		return -1;
	/* The scratch page goes last; the call returns into nothing and faults: a SIGSEGV stop. */
	if (remote(b, b->tids[anchor], NULL, R_MUNMAP, b->scratch, SCRATCH_SIZE, 0, 0, 0, 0) < 0)
		return -1;
	if (set_registers(b, anchor, &lost_bits) < 0)
		return -1;
	for (unsigned bit = 0; bit < 64; bit++)
		if (lost_bits >> bit & 1)
			lost(b, "%s: the core's xstate layout (%zu bytes) is not this CPU's, so this "
			     "state was left out", xstate_component(bit),
			     p->t[0].xstate ? p->t[0].xstate->size : 0);
	return 0;
}

/* --- stage 8: the group stop ------------------------------------------------------------------ */

/* Each thread leaves its signal-delivery-stop with a SIGSTOP of its own: whichever runs first
 * starts the group stop, and none can pass get_signal() without stopping (a thread that did
 * would apply the syscall restart before the stop and show other registers). */
int group_stop(struct build *b)
{
	int status;

	for (size_t i = 0; i < b->plan.nt; i++)
		if (ptrace(PTRACE_DETACH, b->tids[i], 0, SIGSTOP) < 0)
			return fail(b, errno, "detaching thread %d: %s", b->tids[i], strerror(errno));
	for (int waited = 0;; waited++) {
		pid_t w = waitpid(b->pid, &status, WUNTRACED | WNOHANG);

		if (w == b->pid && WIFSTOPPED(status))
			break;
		if (w == b->pid || w < 0 || waited >= STOP_WAIT_MS * 10)
			return fail(b, ECHILD, "the process did not stop (status 0x%x)", status);
		sleep_us(100);
	}
	return 0;
}
