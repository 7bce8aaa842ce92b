/* revive/vessel.c — stage 2, the vessel: the child that execs the target's executable traced
 * and stops before its first instruction, with its session, signals, file limit, cwd and fds
 * set in the child itself (only system calls: it is a fork of a multi-threaded process); under
 * pidns the namespace's init (ns_init) and the clone3 with set_tid from inside the namespace.
 * revive_init keeps the caller's limit on open files for the vessel to give back. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build.h"
#include "util.h"

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

/* The vessel's report of a failed step, as one line naming what failed; returns -1. */
static int vessel_failed(struct build *b, const struct spawn *s, int step, int e)
{
	const struct revive_options *o = b->opt;

	switch (step) {
	case V_CWD:
		return fail(b, e, "cwd %s: %s", o->cwd ? o->cwd : "/", strerror(e));
	case V_FDS:
		return fail(b, e, "placing %d descriptors in the new process: %s", 4 + s->nextra,
			    strerror(e));
	case V_LIMIT:
		return fail(b, e, "giving the new process the caller's limit on open files: %s",
			    strerror(e));
	case V_SIGNALS:
		return fail(b, e, "default signal dispositions in the new process: %s", strerror(e));
	case V_TRACEME:
		return fail(b, e, "PTRACE_TRACEME: %s", strerror(e));
	default:
		return fail(b, e, "exec %s: %s", s->path, strerror(e));
	}
}

/* The vessel's working directory and fds 0-2, as the options name them. */
static int open_stdio(struct build *b, struct spawn *s)
{
	const struct revive_options *o = b->opt;
	const char *paths[3] = { o->stdin_path, o->stdout_path, o->stderr_path };

	s->cwd = open_at(b, AT_FDCWD, o->cwd ? o->cwd : "/", O_PATH | O_DIRECTORY, "cwd");
	if (s->cwd < 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		if (i == 2 && paths[2] && paths[1] && !strcmp(paths[1], paths[2])) {
			s->fds[2] = dup(s->fds[1]);	/* the same file: one description, as 2>&1 */
			continue;
		}
		s->fds[i] = open_at(b, s->cwd, paths[i] ? paths[i] : "/dev/null",
				    i == 0 ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC,
				    i == 0 ? "stdin" : i == 1 ? "stdout" : "stderr");
		if (s->fds[i] < 0)
			return -1;
	}
	return 0;
}

/* A new pid namespace with its init, entered by this thread for the one clone3 that makes the
 * vessel; *ownns is the way back. */
static int enter_pidns(struct build *b, int *nsfd, int *ownns)
{
	if (make_init(b, nsfd) < 0)
		return -1;
	*ownns = open("/proc/thread-self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (*ownns < 0 || setns(*nsfd, CLONE_NEWPID) < 0)
		return fail(b, errno, "pidns: entering the new pid namespace: %s", strerror(errno));
	return 0;
}

/* The vessel either reports a failed step on the error pipe (errfd, read end) or stops before
 * its first instruction; then it is traced with the options every later wait relies on, and
 * the namespace's init learns that the process exists. */
static int vessel_started(struct build *b, const struct spawn *s, int errfd)
{
	int status, report[2];
	ssize_t n = read(errfd, report, sizeof(report));

	if (n == sizeof(report))
		return vessel_failed(b, s, report[0], report[1]);
	if (wait_tid(b->pid, &status) < 0 || !WIFSTOPPED(status) || WSTOPSIG(status) != SIGTRAP)
		return fail(b, ECHILD, "exec %s: the new process did not stop at its start "
			    "(status 0x%x)", s->path, status);
	/* TRACEEXIT: a thread that dies stops first and says so, so no wait can hang on a group
	 * that is going away. */
	if (ptrace(PTRACE_SETOPTIONS, b->pid, 0,
		   PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL | PTRACE_O_TRACEEXIT) < 0)
		return fail(b, errno, "ptrace: %s", strerror(errno));
	if (b->init_ready >= 0) {
		n = write(b->init_ready, "1", 1);
		close(b->init_ready);
		b->init_ready = -1;
	}
	return 0;
}

/* A sealed memfd copy of the executable at path, for one that may be read but not executed (a
 * debuginfod cache keeps its files mode 0400): named after the core's name of it.  -1 on
 * failure, said in b. */
static int exec_copy(struct build *b, const char *path, const char *core_name)
{
	const char *base = strrchr(core_name, '/') ? strrchr(core_name, '/') + 1 : core_name;
	char name[224];
	struct stat st;
	int in = open(path, O_RDONLY | O_CLOEXEC), out = -1;
	off_t off = 0;

	snprintf(name, sizeof(name), "corefs:%s", base);
	if (in < 0 || fstat(in, &st) < 0 ||
	    (out = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)) < 0)
		goto fail;
	while (off < st.st_size) {
		ssize_t n = sendfile(out, in, &off, (size_t)(st.st_size - off));

		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			goto fail;
		}
	}
	if (fcntl(out, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		goto fail;
	close(in);
	return out;
fail:
	fail(b, errno, "exec %s: copying it to a memfd: %s", path, strerror(errno));
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return -1;
}

int spawn_vessel(struct build *b)
{
	struct spawn s = { .fds = { -1, -1, -1 }, .cwd = -1 };
	char *argv[2] = { NULL, NULL }, *envp[1] = { NULL }, copy_path[32];
	int extra[b->plan.nviews + b->plan.nfiles + 1], ep[2] = { -1, -1 }, nsfd = -1, ownns = -1;
	int copy = -1;
	struct clone_args ca = { .exit_signal = SIGCHLD };
	pid_t tid = b->plan.pid;
	long pid;
	int e;

	if (open_stdio(b, &s) < 0)
		goto out;
	for (size_t i = 0; i < b->plan.nviews; i++)
		extra[i] = b->view_fds[i];
	for (size_t i = 0; i < b->plan.nfiles; i++)
		extra[b->plan.nviews + i] = b->plan.files[i].fd;
	s.extra = extra;
	s.nextra = (int)(b->plan.nviews + b->plan.nfiles);
	s.path = b->plan.exe ? b->plan.exe : "/proc/self/exe";
	/* An executable that may not be executed is run from a copy, the last fd the vessel keeps
	 * (its place is known: 3 + its index), through /proc/self/fd. */
	if (b->plan.exe && access(b->plan.exe, X_OK) != 0) {
		copy = exec_copy(b, b->plan.exe, b->plan.exe_name ? b->plan.exe_name : b->plan.exe);
		if (copy < 0)
			goto out;
		extra[s.nextra++] = copy;
		snprintf(copy_path, sizeof(copy_path), "/proc/self/fd/%d", 3 + s.nextra - 1);
		s.path = copy_path;
	}
	if (pipe2(ep, O_CLOEXEC) < 0) {
		fail(b, errno, "pipe: %s", strerror(errno));
		goto out;
	}
	s.errpipe = ep[1];
	argv[0] = (char *)s.path;
	s.argv = argv;
	s.envp = envp;
	if (b->opt->pidns) {
		if (enter_pidns(b, &nsfd, &ownns) < 0)
			goto out;
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
		if (b->opt->pidns)
			fail(b, e, "pidns: pid %d in the new namespace: %s%s", tid, strerror(e),
			     e == EPERM ? " (needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN)" : "");
		else
			fail(b, e, "fork: %s", strerror(e));
		goto out;
	}
	b->pid = (pid_t)pid;
	close(ep[1]);
	ep[1] = -1;
	vessel_started(b, &s, ep[0]);
out:
	for (int i = 0; i < 3; i++)
		if (s.fds[i] >= 0)
			close(s.fds[i]);
	if (s.cwd >= 0)
		close(s.cwd);
	if (copy >= 0)
		close(copy);
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
