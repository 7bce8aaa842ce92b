/* revive/linux.c — the Linux x86_64 backend: a core becomes a group-stopped process.
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
 * devices clear themselves once nothing maps them (LO_FLAGS_AUTOCLEAR). */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/prctl.h>
#include <linux/sched.h>
#include <linux/loop.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../formats/util.h"
#include "plan.h"
#include "revive.h"
#include "util.h"
#include "xstate.h"

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
#define RSEQ_SIG_X86 0x53053053u	/* x86's rseq abort signature (the kernel ABI glibc uses) */
#define XSTATE_MAX 16384
#define STOP_WAIT_MS 2000

struct revived {
	pid_t pid;		/* as this process sees it */
	pid_t nspid;		/* the original pid, in its namespace (pidns), else 0 */
	pid_t init_pid;		/* the pid namespace's init, 0 when none */
	struct revive_status st;
	bool reaped;
	char **lost;
	size_t nlost;
};

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

static int fail(struct build *b, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct build *b, int errnum, const char *fmt, ...)
{
	va_list ap;
	int n;

	b->err->err = errnum;
	n = snprintf(b->err->msg, sizeof(b->err->msg), "revive: ");
	va_start(ap, fmt);
	vsnprintf(b->err->msg + n, sizeof(b->err->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static void lost(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void lost(struct build *b, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	plan_lost(&b->plan, "%s", buf);
}

/* --- waiting ---------------------------------------------------------------------------------- */

static pid_t wait_tid(pid_t tid, int *status)
{
	pid_t w;

	do
		w = waitpid(tid, status, __WALL);
	while (w < 0 && errno == EINTR);
	return w;
}

static void sleep_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/* --- remote system calls ------------------------------------------------------------------------ */

/* Run one system call in thread tid, stopped in a signal-delivery-stop: it executes `syscall`
 * in the scratch page and traps on the int3 after it.  *ret is what it returned. */
static int remote(struct build *b, pid_t tid, long *ret, long nr, uint64_t a1, uint64_t a2,
		  uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6)
{
	struct user_regs_struct r = b->base;
	int status;

	r.rip = b->scratch + S_CODE;
	r.rax = (uint64_t)nr;
	r.orig_rax = (uint64_t)-1;
	r.rdi = a1;
	r.rsi = a2;
	r.rdx = a3;
	r.r10 = a4;
	r.r8 = a5;
	r.r9 = a6;
	r.rsp = b->scratch + SCRATCH_SIZE - 64;
	if (ptrace(PTRACE_SETREGS, tid, 0, &r) < 0 || ptrace(PTRACE_CONT, tid, 0, 0) < 0)
		return fail(b, errno, "ptrace of thread %d: %s", tid, strerror(errno));
	for (;;) {
		if (wait_tid(tid, &status) < 0)
			return fail(b, errno, "waiting for thread %d: %s", tid, strerror(errno));
		if (!WIFSTOPPED(status) || status >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8)))
			return fail(b, ECHILD, "thread %d ended during system call %ld (status 0x%x)",
				    tid, nr, status);
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
			    WSTOPSIG(status), nr);
	if (!ret)
		return 0;
	if (ptrace(PTRACE_GETREGS, tid, 0, &r) < 0)
		return fail(b, errno, "ptrace: %s", strerror(errno));
	*ret = (long)r.rax;
	return 0;
}

/* The same, failing with a message when the call fails. */
static int call(struct build *b, pid_t tid, const char *what, long nr, uint64_t a1, uint64_t a2,
		uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6)
{
	long ret;

	if (remote(b, tid, &ret, nr, a1, a2, a3, a4, a5, a6) < 0)
		return -1;
	if (ret < 0 && ret > -4096)
		return fail(b, (int)-ret, "%s: %s", what, strerror((int)-ret));
	return 0;
}

static int poke(struct build *b, uint64_t addr, const void *data, size_t len)
{
	ssize_t n = pwrite(b->mem_fd, data, len, (off_t)addr);

	if (n != (ssize_t)len)
		return fail(b, n < 0 ? errno : EIO, "writing %zu bytes at 0x%" PRIx64 ": %s", len, addr,
			    n < 0 ? strerror(errno) : "short write");
	return 0;
}

/* --- stage 2: the vessel ------------------------------------------------------------------------- */

struct spawn {
	int fds[3];		/* stdin, stdout, stderr */
	int cwd;
	const int *extra;	/* to 3, 4, ...: the views of the core, the mapped files */
	int nextra;
	int errpipe;		/* write end; ends at 3 + nextra, close-on-exec */
	const char *path;	/* what to exec */
	char *const *argv;
	char *const *envp;
};

struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

/* The caller's limit on open files, given back to revived processes (revive_init). */
static struct rlimit caller_nofile;
static bool raised_nofile;

void revive_init(void)
{
	struct rlimit lim;

	if (getrlimit(RLIMIT_NOFILE, &lim) < 0 || lim.rlim_cur >= lim.rlim_max)
		return;
	caller_nofile = lim;
	lim.rlim_cur = lim.rlim_max;
	raised_nofile = setrlimit(RLIMIT_NOFILE, &lim) == 0;
}

/* What the vessel was doing when it failed, as it reports it on the error pipe. */
enum vessel_step { V_SIGNALS, V_CWD, V_FDS, V_LIMIT, V_TRACEME, V_EXEC };

/* In the child, an error: the step and errno to the error pipe (wherever it is now), and the
 * end. */
static void __attribute__((noreturn)) vessel_fail(int errfd, enum vessel_step step)
{
	int report[2] = { (int)step, errno };

	syscall(SYS_write, errfd, report, sizeof(report));
	syscall(SYS_exit_group, 127);
	__builtin_unreachable();
}

/* In the child: only system calls (it is a fork of a multi-threaded process).  Every call is
 * checked: an error is reported on the error pipe, wherever that is at the moment.  The fds are
 * placed within whatever limit the caller has: everything but what the vessel keeps is closed
 * first, then each kept fd is copied above its final places (the lowest free numbers there)
 * and copied down; so the limit must exceed 2 * (4 + nextra) or so, and the fds already open. */
static void __attribute__((noreturn)) vessel(const struct spawn *s)
{
	struct ksigaction dfl = { .handler = SIG_DFL };
	uint64_t none = 0;
	int n = 3 + s->nextra, err = s->errpipe;
	int keep[n + 1], tmp[n];

	syscall(SYS_setsid);
	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP &&
		    syscall(SYS_rt_sigaction, sig, &dfl, NULL, 8) < 0)
			vessel_fail(err, V_SIGNALS);
	if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8) < 0 ||
	    syscall(SYS_sigaltstack, &(stack_t){ .ss_flags = SS_DISABLE }, NULL) < 0)
		vessel_fail(err, V_SIGNALS);
	/* The working directory first: its fd may be overwritten below. */
	if (syscall(SYS_fchdir, s->cwd) < 0)
		vessel_fail(err, V_CWD);
	for (int i = 0; i < 3; i++)
		keep[i] = s->fds[i];
	for (int i = 0; i < s->nextra; i++)
		keep[3 + i] = s->extra[i];
	keep[n] = s->errpipe;
	close_all_but(keep, n + 1);
	/* The error pipe above n, then every other fd: no copy lands on a place still needed. */
	err = (int)syscall(SYS_fcntl, s->errpipe, F_DUPFD_CLOEXEC, n + 1);
	if (err < 0)
		vessel_fail(s->errpipe, V_FDS);
	for (int i = 0; i < n; i++) {
		tmp[i] = (int)syscall(SYS_fcntl, keep[i], F_DUPFD, n + 1);
		if (tmp[i] < 0)
			vessel_fail(err, V_FDS);
	}
	for (int i = 0; i < n; i++)
		if (syscall(SYS_dup3, tmp[i], i, 0) < 0)
			vessel_fail(err, V_FDS);
	if (syscall(SYS_dup3, err, n, O_CLOEXEC) < 0)
		vessel_fail(err, V_FDS);
	err = n;
	if (syscall(SYS_close_range, n + 1, ~0u, 0) < 0)
		vessel_fail(err, V_FDS);
	/* The process gets the caller's limit on open files, not the one the daemon raised. */
	if (raised_nofile && syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &caller_nofile, NULL) < 0)
		vessel_fail(err, V_LIMIT);
	if (syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0) < 0)
		vessel_fail(err, V_TRACEME);
	syscall(SYS_execve, s->path, s->argv, s->envp);
	vessel_fail(err, V_EXEC);
}

/* The pid namespace's init: reaps whatever is reparented to it, stays while the revived
 * process lives, then leaves once its last child has gone (the kernel ends the namespace). */
static void __attribute__((noreturn)) ns_init(int ready, pid_t target)
{
	sigset_t chld;
	int sfd, pidfd = -1;
	char c;
	bool gone;

	syscall(SYS_setsid);
	prctl(PR_SET_NAME, "corefs-init");
	close_all_but(&ready, 1);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_SETMASK, &chld, NULL);
	sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	if (read(ready, &c, 1) != 1)
		_exit(0);	/* the revival failed */
	close(ready);
	pidfd = (int)syscall(SYS_pidfd_open, target, 0);
	gone = pidfd < 0;
	for (;;) {
		struct pollfd fds[2] = { { .fd = sfd, .events = POLLIN },
					 { .fd = gone ? -1 : pidfd, .events = POLLIN } };
		struct signalfd_siginfo si;
		siginfo_t w;

		for (;;) {
			w.si_pid = 0;
			if (waitid(P_ALL, 0, &w, WEXITED | WNOHANG) < 0) {
				if (gone)
					_exit(0);	/* nothing left to wait for */
				break;
			}
			if (!w.si_pid)
				break;
		}
		poll(fds, 2, -1);
		if (!gone && fds[1].revents) {
			gone = true;
			close(pidfd);
		}
		while (read(sfd, &si, sizeof(si)) > 0)
			;
	}
}

static int open_at(struct build *b, int dirfd, const char *path, int flags, const char *what)
{
	int fd = openat(dirfd, path, flags | O_CLOEXEC, 0666);

	if (fd < 0)
		return fail(b, errno, "%s %s: %s", what, path, strerror(errno));
	return fd;
}

static int make_init(struct build *b, int *nsfd)
{
	struct clone_args ca = { .flags = CLONE_NEWPID, .exit_signal = SIGCHLD };
	int p[2];
	long pid;
	char path[64];

	if (b->plan.pid == 1)
		return fail(b, EEXIST, "pidns: the process was pid 1, which the namespace's init takes");
	if (pipe2(p, O_CLOEXEC) < 0)
		return fail(b, errno, "pipe: %s", strerror(errno));
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0)
		ns_init(p[0], b->plan.pid);
	close(p[0]);
	if (pid < 0) {
		int e = errno;

		close(p[1]);
		return fail(b, e, "pidns: a new pid namespace needs CAP_SYS_ADMIN, and the original "
			    "pid and tids CAP_CHECKPOINT_RESTORE: %s", strerror(e));
	}
	b->r->init_pid = (pid_t)pid;
	b->init_ready = p[1];
	snprintf(path, sizeof(path), "/proc/%ld/ns/pid", pid);
	*nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (*nsfd < 0)
		return fail(b, errno, "%s: %s", path, strerror(errno));
	return 0;
}

/* The vessel's report of a failed step, as one line naming what failed. */
static void vessel_failed(struct build *b, const struct spawn *s, int step, int e)
{
	const struct revive_options *o = b->opt;

	switch (step) {
	case V_CWD:
		fail(b, e, "cwd %s: %s", o->cwd ? o->cwd : "/", strerror(e));
		break;
	case V_FDS:
		fail(b, e, "placing %d descriptors in the new process: %s", 4 + s->nextra,
		     strerror(e));
		break;
	case V_LIMIT:
		fail(b, e, "giving the new process the caller's limit on open files: %s",
		     strerror(e));
		break;
	case V_SIGNALS:
		fail(b, e, "default signal dispositions in the new process: %s", strerror(e));
		break;
	case V_TRACEME:
		fail(b, e, "PTRACE_TRACEME: %s", strerror(e));
		break;
	default:
		fail(b, e, "exec %s: %s", s->path, strerror(e));
	}
}

static int spawn_vessel(struct build *b)
{
	const struct revive_options *o = b->opt;
	const char *paths[3] = { o->stdin_path, o->stdout_path, o->stderr_path };
	struct spawn s = { .fds = { -1, -1, -1 }, .cwd = -1 };
	char *argv[2] = { NULL, NULL }, *envp[1] = { NULL };
	int extra[b->plan.nviews + b->plan.nfiles], ep[2] = { -1, -1 }, nsfd = -1, ownns = -1;
	int status, e = 0, report[2];
	struct clone_args ca = { .exit_signal = SIGCHLD };
	pid_t tid = b->plan.pid;
	long pid = -1;
	ssize_t n;

	s.cwd = open_at(b, AT_FDCWD, o->cwd ? o->cwd : "/", O_PATH | O_DIRECTORY, "cwd");
	if (s.cwd < 0)
		goto out;
	for (int i = 0; i < 3; i++) {
		if (i == 2 && paths[2] && paths[1] && !strcmp(paths[1], paths[2])) {
			s.fds[2] = dup(s.fds[1]);	/* the same file: one description, as 2>&1 */
			continue;
		}
		s.fds[i] = open_at(b, s.cwd, paths[i] ? paths[i] : "/dev/null",
				   i == 0 ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC,
				   i == 0 ? "stdin" : i == 1 ? "stdout" : "stderr");
		if (s.fds[i] < 0)
			goto out;
	}
	for (size_t i = 0; i < b->plan.nviews; i++)
		extra[i] = b->view_fds[i];
	for (size_t i = 0; i < b->plan.nfiles; i++)
		extra[b->plan.nviews + i] = b->plan.files[i].fd;
	s.extra = extra;
	s.nextra = (int)(b->plan.nviews + b->plan.nfiles);
	if (pipe2(ep, O_CLOEXEC) < 0) {
		fail(b, errno, "pipe: %s", strerror(errno));
		goto out;
	}
	s.errpipe = ep[1];
	s.path = b->plan.exe ? b->plan.exe : "/proc/self/exe";
	argv[0] = (char *)s.path;
	s.argv = argv;
	s.envp = envp;

	if (o->pidns) {
		if (make_init(b, &nsfd) < 0)
			goto out;
		ownns = open("/proc/thread-self/ns/pid", O_RDONLY | O_CLOEXEC);
		if (ownns < 0 || setns(nsfd, CLONE_NEWPID) < 0) {
			fail(b, errno, "pidns: entering the new pid namespace: %s", strerror(errno));
			goto out;
		}
		ca.set_tid = (uint64_t)(uintptr_t)&tid;
		ca.set_tid_size = 1;
	}
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0)
		vessel(&s);
	e = errno;
	if (ownns >= 0 && setns(ownns, CLONE_NEWPID) < 0)
		abort();	/* this thread's children would be born in the namespace */
	if (pid < 0) {
		if (o->pidns)
			fail(b, e, "pidns: pid %d in the new namespace: %s%s", tid, strerror(e),
			     e == EPERM ? " (needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN)" : "");
		else
			fail(b, e, "fork: %s", strerror(e));
		goto out;
	}
	b->pid = (pid_t)pid;
	close(ep[1]);
	ep[1] = -1;
	n = read(ep[0], report, sizeof(report));
	if (n == sizeof(report)) {
		vessel_failed(b, &s, report[0], report[1]);
		goto out;
	}
	if (wait_tid(b->pid, &status) < 0 || !WIFSTOPPED(status) || WSTOPSIG(status) != SIGTRAP) {
		fail(b, ECHILD, "exec %s: the new process did not stop at its start (status 0x%x)",
		     s.path, status);
		goto out;
	}
	/* TRACEEXIT: a thread that dies stops first and says so, so no wait can hang on a group
	 * that is going away. */
	if (ptrace(PTRACE_SETOPTIONS, b->pid, 0,
		   PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL | PTRACE_O_TRACEEXIT) < 0) {
		fail(b, errno, "ptrace: %s", strerror(errno));
		goto out;
	}
	if (b->init_ready >= 0) {
		n = write(b->init_ready, "1", 1);
		close(b->init_ready);
		b->init_ready = -1;
	}
out:
	for (int i = 0; i < 3; i++)
		if (s.fds[i] >= 0)
			close(s.fds[i]);
	if (s.cwd >= 0)
		close(s.cwd);
	if (ep[0] >= 0)
		close(ep[0]);
	if (ep[1] >= 0)
		close(ep[1]);
	if (nsfd >= 0)
		close(nsfd);
	if (ownns >= 0)
		close(ownns);
	return b->err->err ? -1 : 0;
}

/* --- stage 3: the scratch page --------------------------------------------------------------- */

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
		snprintf(b->vm[b->nvm].name, sizeof(b->vm[0].name), "%s", name);
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

/* A free place for count bytes above min, or 0. */
static uint64_t free_spot(const struct build *b, uint64_t size, uint64_t min)
{
	for (uint64_t a = min; a + size < UINT64_C(0x7ffffffff000); a += 16 * PAGE) {
		if (!taken(b, a - PAGE, a + size + PAGE))
			return a;
		/* jump over what is here */
		for (size_t i = 0; i < b->plan.nr; i++)
			if (a >= b->plan.r[i].start && a < b->plan.r[i].end)
				a = b->plan.r[i].end & ~(uint64_t)(16 * PAGE - 1);
	}
	return 0;
}

static int scratch_setup(struct build *b)
{
	static const unsigned char code[] = { 0x0f, 0x05, 0xcc };	/* syscall; int3 */
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
	memcpy(&word, code, sizeof(code));
	if (ptrace(PTRACE_POKETEXT, b->pid, at, word) < 0)
		return fail(b, errno, "ptrace: %s", strerror(errno));
	{
		uint64_t keep = b->scratch;

		b->scratch = at;	/* remote() runs `syscall` at b->scratch */
		if (remote(b, b->pid, &ret, SYS_mmap, keep, SCRATCH_SIZE,
			   PROT_READ | PROT_WRITE | PROT_EXEC,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, (uint64_t)-1, 0) < 0)
			return -1;
		b->scratch = keep;
	}
	if ((uint64_t)ret != b->scratch)
		return fail(b, ret < 0 ? (int)-ret : EEXIST, "mapping the scratch page at 0x%" PRIx64
			    ": %s", b->scratch, strerror(ret < 0 ? (int)-ret : EEXIST));
	return poke(b, b->scratch + S_CODE, code, sizeof(code));
}

/* --- stage 4: memory ------------------------------------------------------------------------- */

/* The kernel's vDSO family moves to where the core had its vDSO when the bytes are the same
 * (same kernel) and the vvar pages the core shows below it are as large as ours. */
static int vdso_move(struct build *b)
{
	const struct plan *p = &b->plan;
	uint64_t size = b->own_vdso_end - b->own_vdso, vvar = b->own_vdso - b->own_vvar;
	uint64_t delta, tmp;
	unsigned char *core_bytes;
	const void *own = (const void *)getauxval(AT_SYSINFO_EHDR);
	bool same;

	if (!p->vdso_start || !b->own_vdso)
		return 0;
	core_bytes = malloc(size);
	same = core_bytes && own && p->vdso_end - p->vdso_start == size &&
	       (p->vvar_start == p->vdso_start || p->vdso_start - p->vvar_start == vvar) &&
	       memory_read(p->src->facts, p->vdso_start, core_bytes, size) == (ssize_t)size &&
	       !memcmp(core_bytes, own, size);
	free(core_bytes);
	if (!same)
		return 0;
	/* Through a free spot when the old and new places overlap (mremap refuses that). */
	tmp = b->own_vvar < p->vdso_end && b->own_vdso_end > p->vdso_start - vvar
		      ? free_spot(b, vvar + size, 0x100000000) : 0;
	for (int pass = tmp ? 0 : 1; pass < 2; pass++) {
		uint64_t to = pass == 0 ? tmp : p->vdso_start - vvar;

		delta = to - b->own_vvar;
		for (size_t i = 0; i < b->nvm; i++) {
			uint64_t lo = b->vm[i].start, hi = b->vm[i].end;

			if (lo < b->own_vvar || hi > b->own_vdso_end)
				continue;
			if (call(b, b->pid, "moving the vDSO", SYS_mremap, lo, hi - lo, hi - lo,
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

static int unmap_vessel(struct build *b)
{
	for (size_t i = 0; i < b->nvm; i++) {
		uint64_t lo = b->vm[i].start, hi = b->vm[i].end;

		if (lo >= UINT64_C(0x800000000000))
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
			if (a < z && call(b, b->pid, "unmapping the exec's memory", SYS_munmap, a,
					  z - a, 0, 0, 0, 0) < 0)
				return -1;
		}
	}
	return 0;
}

static int map_regions(struct build *b)
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
		if (call(b, b->pid, what, SYS_mmap, r->start, r->end - r->start, (uint64_t)r->prot,
			 flags, fd, off) < 0)
			return -1;
	}
	/* The core's vDSO text over zero vvar pages, when the kernel's could not be moved. */
	if (p->vdso_start && !b->vdso_moved) {
		if (p->vvar_start < p->vdso_start &&
		    call(b, b->pid, "mapping a zero [vvar]", SYS_mmap, p->vvar_start,
			 p->vdso_start - p->vvar_start, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, (uint64_t)-1, 0) < 0)
			return -1;
		if (call(b, b->pid, "mapping the core's vDSO", SYS_mmap, p->vdso_start,
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
static int write_bytes(struct build *b)
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
		for (uint64_t d = 0; d < r->core_len;) {
			off_t data = lseek(c->fd, (off_t)(r->core_off + d), SEEK_DATA), hole;
			size_t n;

			if (data < 0 || (uint64_t)data >= r->core_off + r->core_len)
				break;
			hole = lseek(c->fd, data, SEEK_HOLE);
			d = (uint64_t)data - r->core_off;
			n = (size_t)MIN(MIN((uint64_t)(hole - data), r->core_len - d), 64 * PAGE);
			if (core_read_mem(c, r->start + d, cb, n) != (ssize_t)n)
				break;
			if (poke(b, r->start + d, cb, n) < 0)
				goto out;
			d += n;
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
			.fd = (uint32_t)b->plan.src->core->fd,
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

static int make_views(struct build *b)
{
	b->view_fds = malloc(b->plan.nviews * sizeof(int));
	if (!b->view_fds)
		return fail(b, ENOMEM, "out of memory");
	for (size_t i = 0; i < b->plan.nviews; i++)
		b->view_fds[i] = -1;
	b->view_fds[0] = b->plan.src->core->fd;
	for (size_t i = 1; i < b->plan.nviews; i++)
		if ((b->view_fds[i] = loop_view(b, b->plan.views[i])) < 0)
			return -1;
	return 0;
}

/* --- stage 5: mm ---------------------------------------------------------------------------- */

static int set_mm(struct build *b)
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
	if (remote(b, b->pid, &ret, SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, b->scratch + S_MM_MAP,
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
			call(b, b->pid, "PR_SET_NAME", SYS_prctl, PR_SET_NAME, b->scratch + S_COMM,
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

/* --- stage 6: threads ---------------------------------------------------------------------------- */

/* What glibc registered with the kernel for this thread: its robust list and rseq area. */
static void register_areas(struct build *b, size_t i)
{
	const struct plan_thread *t = &b->plan.t[i];
	long ret;

	if (t->robust_addr &&
	    (remote(b, b->tids[i], &ret, SYS_set_robust_list, t->robust_addr, 24, 0, 0, 0, 0) < 0 ||
	     ret < 0))
		lost(b, "thread %d's robust list could not be registered", t->ct->tid);
	if (t->rseq_addr &&
	    (remote(b, b->tids[i], &ret, SYS_rseq, t->rseq_addr, b->plan.glibc.rseq_len, 0,
		    RSEQ_SIG_X86, 0, 0) < 0 || ret < 0))
		lost(b, "thread %d's rseq area could not be registered", t->ct->tid);
}

static int make_threads(struct build *b)
{
	struct plan *p = &b->plan;
	size_t first = p->has_main ? 1 : 0;
	long ret;

	b->tids[0] = b->pid;
	if (p->has_main) {
		b->vtids[0] = p->t[0].ct->tid;	/* fixed below when there is no pidns */
		if (p->t[0].tid_addr &&
		    call(b, b->pid, "set_tid_address", SYS_set_tid_address, p->t[0].tid_addr, 0, 0,
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
		if (remote(b, b->pid, &ret, SYS_clone3, b->scratch + S_CLONE, sizeof(ca), 0, 0, 0,
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
static int patch_tids(struct build *b)
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

/* --- stage 7: registers -------------------------------------------------------------------- */

static int set_fp(struct build *b, size_t i, uint64_t *lost_bits)
{
	const struct plan_thread *t = &b->plan.t[i];
	pid_t tid = b->tids[i];

	if (t->xstate) {
		unsigned char buf[XSTATE_MAX];
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };

		if (ptrace(PTRACE_GETREGSET, tid, NT_X86_XSTATE, &iov) < 0)
			return fail(b, errno, "reading thread %d's xstate: %s", tid, strerror(errno));
		*lost_bits |= xstate_merge(buf, iov.iov_len, t->xstate->data, t->xstate->size);
		if (ptrace(PTRACE_SETREGSET, tid, NT_X86_XSTATE, &iov) < 0)
			return fail(b, errno, "setting thread %d's xstate: %s", t->ct->tid,
				    strerror(errno));
	} else if (t->fpregs && t->fpregs->size >= sizeof(struct user_fpregs_struct)) {
		struct user_fpregs_struct fp;

		memcpy(&fp, t->fpregs->data, sizeof(fp));
		if (ptrace(PTRACE_SETFPREGS, tid, 0, &fp) < 0)
			return fail(b, errno, "setting thread %d's x87/SSE registers: %s", t->ct->tid,
				    strerror(errno));
	} else {
		lost(b, "thread %d's floating-point registers are not in the core", t->ct->tid);
	}
	return 0;
}

static int set_registers(struct build *b, size_t i, uint64_t *lost_bits)
{
	const struct plan_thread *t = &b->plan.t[i];
	pid_t tid = b->tids[i];
	uint64_t mask = t->sighold;
	struct user_regs_struct r;

	if (set_fp(b, i, lost_bits) < 0)
		return -1;
	if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(mask), &mask) < 0)
		return fail(b, errno, "setting thread %d's signal mask: %s", t->ct->tid,
			    strerror(errno));
	memcpy(&r, t->regs, sizeof(r));
	if (ptrace(PTRACE_SETREGS, tid, 0, &r) < 0)
		return fail(b, errno, "setting thread %d's registers: %s", t->ct->tid,
			    strerror(errno));
	return 0;
}

/* --- stage 8: the group stop ------------------------------------------------------------------- */

static int finish(struct build *b)
{
	struct plan *p = &b->plan;
	size_t anchor = 0;	/* the thread that unmaps the scratch page */
	uint64_t lost_bits = 0;
	int status;

	if (call(b, b->pid, "closing the reviver's descriptors", SYS_close_range, 3, ~0u, 0, 0, 0,
		 0) < 0)
		return -1;
	for (size_t i = 1; i < p->nt; i++)
		if (set_registers(b, i, &lost_bits) < 0)
			return -1;
	if (!p->has_main) {
		/* The leader had exited: it exits again (it stays a zombie while threads live). */
		struct user_regs_struct r = b->base;

		r.rip = b->scratch;
		r.rax = SYS_exit;
		r.orig_rax = (uint64_t)-1;
		r.rdi = 0;
		if (ptrace(PTRACE_SETREGS, b->pid, 0, &r) < 0 || ptrace(PTRACE_CONT, b->pid, 0, 0) < 0)
			return fail(b, errno, "ptrace: %s", strerror(errno));
		/* It stops on its way out (PTRACE_O_TRACEEXIT): let it go. */
		if (wait_tid(b->pid, &status) < 0 || status >> 8 != (SIGTRAP | (PTRACE_EVENT_EXIT << 8)))
			return fail(b, ECHILD, "the leader did not exit (status 0x%x)", status);
		if (ptrace(PTRACE_DETACH, b->pid, 0, 0) < 0)
			return fail(b, errno, "ptrace: %s", strerror(errno));
	}
	/* The scratch page goes last; the call returns into nothing and faults: a SIGSEGV stop. */
	if (remote(b, b->tids[anchor], NULL, SYS_munmap, b->scratch, SCRATCH_SIZE, 0, 0, 0, 0) < 0)
		return -1;
	if (set_registers(b, anchor, &lost_bits) < 0)
		return -1;
	for (unsigned bit = 0; bit < 64; bit++)
		if (lost_bits >> bit & 1)
			lost(b, "%s: the core's xstate layout (%zu bytes) is not this CPU's, so this "
			     "state was left out", xstate_component(bit),
			     p->t[0].xstate ? p->t[0].xstate->size : 0);
	/* Each thread leaves its signal-delivery-stop with a SIGSTOP of its own: whichever runs
	 * first starts the group stop, and none can pass get_signal() without stopping (a thread
	 * that did would apply the syscall restart before the stop and show other registers). */
	for (size_t i = 0; i < p->nt; i++)
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

/* --- the whole --------------------------------------------------------------------------------- */

/* Kill the half-made process and reap every thread of it (ptrace children each), the leader
 * last; the namespace's init goes too. */
static void undo(struct build *b)
{
	struct revived *r = b->r;

	if (b->pid > 0) {
		pid_t tids[1024];
		size_t n = 0;
		char path[64];
		struct dirent *e;
		DIR *d;

		snprintf(path, sizeof(path), "/proc/%d/task", b->pid);
		d = opendir(path);
		while (d && (e = readdir(d)) && n < sizeof(tids) / sizeof(tids[0]))
			if (atoi(e->d_name) > 0 && atoi(e->d_name) != b->pid)
				tids[n++] = atoi(e->d_name);
		if (d)
			closedir(d);
		kill(b->pid, SIGKILL);
		for (size_t i = 0; i < n; i++)
			while (waitpid(tids[i], NULL, __WALL) < 0 && errno == EINTR)
				;
		while (waitpid(b->pid, NULL, __WALL) < 0 && errno == EINTR)
			;
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
	    make_threads(&b) < 0 || patch_tids(&b) < 0 || finish(&b) < 0)
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

/* --- the revived process ----------------------------------------------------------------------- */

static void reap_helpers(struct revived *r)
{
	if (r->init_pid > 0 && waitpid(r->init_pid, NULL, WNOHANG) == r->init_pid)
		r->init_pid = 0;
}

static void note_status(struct revived *r, int status)
{
	if (WIFEXITED(status)) {
		r->st = (struct revive_status){ REVIVE_EXITED, WEXITSTATUS(status) };
		r->reaped = true;
	} else if (WIFSIGNALED(status)) {
		r->st = (struct revive_status){ REVIVE_KILLED, WTERMSIG(status) };
		r->reaped = true;
	} else if (WIFSTOPPED(status)) {
		r->st.state = REVIVE_STOPPED;
	} else if (WIFCONTINUED(status)) {
		r->st.state = REVIVE_RUNNING;
	}
}

void revive_poll(struct revived *r, struct revive_status *st)
{
	int status;

	while (!r->reaped && waitpid(r->pid, &status, WNOHANG | WUNTRACED | WCONTINUED) == r->pid)
		note_status(r, status);
	reap_helpers(r);
	*st = r->st;
}

pid_t revive_pid(const struct revived *r)
{
	return r->pid;
}

pid_t revive_nspid(const struct revived *r)
{
	return r->nspid;
}

size_t revive_tids(struct revived *r, pid_t *tids, size_t n)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	size_t k = 0;

	if (r->reaped)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task", r->pid);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		long t = strtol(e->d_name, NULL, 10);

		if (t <= 0)
			continue;
		if (k < n)
			tids[k] = (pid_t)t;
		k++;
	}
	if (d)
		closedir(d);
	/* readdir's order is the kernel's (by tid); keep it sorted for readers anyway */
	for (size_t i = 1; i < MIN(k, n); i++)
		for (size_t j = i; j > 0 && tids[j - 1] > tids[j]; j--) {
			pid_t x = tids[j];

			tids[j] = tids[j - 1];
			tids[j - 1] = x;
		}
	return k;
}

pid_t revive_nstid(struct revived *r, pid_t tid)
{
	char path[96], line[256];
	pid_t ns = 0;
	FILE *f;

	if (!r->nspid)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", r->pid, tid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		char *p;

		if (strncmp(line, "NSpid:", 6))
			continue;
		p = strrchr(line, '\t');
		ns = p ? (pid_t)strtol(p + 1, NULL, 10) : 0;
	}
	if (f)
		fclose(f);
	return ns;
}

const char *const *revive_lost(const struct revived *r, size_t *n)
{
	*n = r->nlost;
	return (const char *const *)r->lost;
}

static int signal_it(struct revived *r, int sig, struct revive_error *err)
{
	struct revive_status st;

	revive_poll(r, &st);
	if (r->reaped)
		return revive_fail(err, ESRCH, "%s: the process has ended", sig == SIGCONT ? "resume"
							       : sig == SIGSTOP ? "stop" : "kill");
	if (kill(r->pid, sig) < 0)
		return revive_fail(err, errno, "kill %d: %s", r->pid, strerror(errno));
	return 0;
}

/* Wait (a bounded time) until the process is in state want. */
static void settle(struct revived *r, enum revive_state want, int ms)
{
	struct revive_status st;

	for (int i = 0; i < ms * 10; i++) {
		revive_poll(r, &st);
		if (st.state == want || r->reaped)
			return;
		sleep_us(100);
	}
}

int revive_resume(struct revived *r, struct revive_error *err)
{
	if (signal_it(r, SIGCONT, err) < 0)
		return -1;
	settle(r, REVIVE_RUNNING, STOP_WAIT_MS);
	return 0;
}

int revive_stop(struct revived *r, struct revive_error *err)
{
	if (signal_it(r, SIGSTOP, err) < 0)
		return -1;
	settle(r, REVIVE_STOPPED, STOP_WAIT_MS);
	return 0;
}

int revive_kill(struct revived *r, struct revive_error *err)
{
	if (signal_it(r, SIGKILL, err) < 0)
		return -1;
	settle(r, REVIVE_KILLED, 10 * STOP_WAIT_MS);
	/* The namespace's init leaves once its last process has gone: collect it too. */
	for (int i = 0; r->init_pid > 0 && i < STOP_WAIT_MS * 10; i++) {
		reap_helpers(r);
		if (r->init_pid > 0)
			sleep_us(100);
	}
	return 0;
}

void revive_release(struct revived *r)
{
	if (!r)
		return;
	reap_helpers(r);
	for (size_t i = 0; i < r->nlost; i++)
		free(r->lost[i]);
	free(r->lost);
	free(r);
}

const char *revive_state_name(enum revive_state s)
{
	switch (s) {
	case REVIVE_STOPPED:
		return "stopped";
	case REVIVE_RUNNING:
		return "running";
	case REVIVE_EXITED:
		return "exited";
	case REVIVE_KILLED:
		return "killed";
	}
	return "?";
}
