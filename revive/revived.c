/* revive/revived.c — the revived-process handle: its state as waitpid reports it (the mount is
 * its parent), its pid and tids, what was lost, resume/stop/kill, and release. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "../formats/util.h"
#include "revived.h"
#include "util.h"

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
	size_t k;

	if (r->reaped)
		return 0;
	k = task_tids(r->pid, tids, n);
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
