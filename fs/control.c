/* fs/control.c — the control file's state and commands.  Revival itself is revive/'s.
 *
 * Commands (one per line written): `revive [stdin=PATH] [stdout=PATH] [stderr=PATH] [cwd=PATH]
 * [pidns]`, `resume`, `stop`, `kill`.  Each runs to its end under the control's lock, so a
 * reader never sees a half-made process; a failure returns its errno and leaves its reason for
 * the next read, as an `error` line. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../revive/revive.h"
#include "control.h"
#include "render.h"

struct control {
	const struct process *view;
	pthread_mutex_t lock;
	struct revived *rev;	/* NULL until revived */
	char error[512];
};

int control_new(struct control **out, const struct process *v)
{
	struct control *ctl = calloc(1, sizeof(*ctl));

	if (!ctl)
		return -ENOMEM;
	ctl->view = v;
	pthread_mutex_init(&ctl->lock, NULL);
	*out = ctl;
	return 0;
}

/* The process lives on: it was never the mount's to end. */
void control_free(struct control *ctl)
{
	if (!ctl)
		return;
	revive_release(ctl->rev);
	pthread_mutex_destroy(&ctl->lock);
	free(ctl);
}

static void put_signal(struct buf *out, const char *key, int sig)
{
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev)
		buf_printf(out, "%s SIG%s\n", key, abbrev);
	else
		buf_printf(out, "%s %d\n", key, sig);
}

static void render_process(struct control *ctl, struct buf *out)
{
	struct revived *r = ctl->rev;
	struct revive_status st;
	pid_t local[256], *t = local;
	size_t cap = sizeof(local) / sizeof(local[0]), n, nlost;
	const char *const *lost;

	revive_poll(r, &st);
	buf_printf(out, "state %s\n", revive_state_name(st.state));
	buf_printf(out, "pid %d\n", revive_pid(r));
	if (revive_nspid(r))
		buf_printf(out, "nspid %d\n", revive_nspid(r));
	n = revive_tids(r, t, cap);
	if (n > cap) {
		pid_t *big = malloc(n * sizeof(*big));

		if (big) {
			t = big;
			cap = n;
			n = revive_tids(r, t, cap);
		}
	}
	n = n < cap ? n : cap;
	if (st.state == REVIVE_STOPPED || st.state == REVIVE_RUNNING) {
		buf_puts(out, "tids");
		for (size_t i = 0; i < n; i++)
			buf_printf(out, " %d", t[i]);
		buf_puts(out, "\n");
		if (revive_nspid(r)) {
			buf_puts(out, "nstids");
			for (size_t i = 0; i < n; i++)
				buf_printf(out, " %d", revive_nstid(r, t[i]));
			buf_puts(out, "\n");
		}
	}
	if (t != local)
		free(t);
	if (st.state == REVIVE_EXITED)
		buf_printf(out, "exit %d\n", st.code);
	else if (st.state == REVIVE_KILLED)
		put_signal(out, "signal", st.code);
	lost = revive_lost(r, &nlost);
	for (size_t i = 0; i < nlost; i++)
		buf_printf(out, "lost %s\n", lost[i]);
}

int control_render(struct control *ctl, struct buf *out)
{
	pthread_mutex_lock(&ctl->lock);
	if (ctl->rev)
		render_process(ctl, out);
	else
		buf_puts(out, "state core\n");
	if (ctl->error[0])
		buf_printf(out, "error %s\n", ctl->error);
	pthread_mutex_unlock(&ctl->lock);
	return 0;
}

/* `revive` with its arguments: the words strtok_r has left in *save. */
static int revive(struct control *ctl, char **save)
{
	const struct process *v = ctl->view;
	struct revive_options opt = { 0 };
	struct revive_error err;
	struct revived *r;
	struct revive_status st;
	char *word;

	while ((word = strtok_r(NULL, " \t", save))) {
		static const char *const keys[] = { "stdin=", "stdout=", "stderr=", "cwd=" };
		const char **slot[] = { &opt.stdin_path, &opt.stdout_path, &opt.stderr_path, &opt.cwd };
		bool known = false;

		if (!strcmp(word, "pidns")) {
			opt.pidns = true;
			continue;
		}
		for (size_t k = 0; k < 4 && !known; k++)
			if (!strncmp(word, keys[k], strlen(keys[k])) && word[strlen(keys[k])]) {
				*slot[k] = word + strlen(keys[k]);
				known = true;
			}
		if (!known) {
			snprintf(ctl->error, sizeof(ctl->error), "revive: unknown argument '%s' (revive "
				 "[stdin=PATH] [stdout=PATH] [stderr=PATH] [cwd=PATH] [pidns])", word);
			return -EINVAL;
		}
	}
	if (ctl->rev) {
		revive_poll(ctl->rev, &st);
		if (st.state == REVIVE_STOPPED || st.state == REVIVE_RUNNING) {
			snprintf(ctl->error, sizeof(ctl->error), "revive: already revived as pid %d "
				 "(kill it first)", revive_pid(ctl->rev));
			return -EALREADY;
		}
	}
	if (revive_start(v, &opt, &r, &err) < 0) {
		snprintf(ctl->error, sizeof(ctl->error), "%s", err.msg);
		return -(err.err ? err.err : EIO);
	}
	revive_release(ctl->rev);
	ctl->rev = r;
	return 0;
}

int control_command(struct control *ctl, const char *line)
{
	static const struct {
		const char *name;
		int (*fn)(struct revived *r, struct revive_error *err);
	} verbs[] = {
		{ "resume", revive_resume },
		{ "stop", revive_stop },
		{ "kill", revive_kill },
	};
	char *text = strdup(line), *save = NULL, *verb;
	struct revive_error err;
	int r = -EINVAL;

	if (!text)
		return -ENOMEM;
	pthread_mutex_lock(&ctl->lock);
	ctl->error[0] = 0;
	verb = strtok_r(text, " \t", &save);
	if (!verb) {
		r = 0;	/* an empty line does nothing */
		goto out;
	}
	if (!strcmp(verb, "revive")) {
		r = revive(ctl, &save);
		goto out;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(verb, verbs[i].name))
			continue;
		if (strtok_r(NULL, " \t", &save)) {
			snprintf(ctl->error, sizeof(ctl->error), "%s takes no argument", verb);
			goto out;
		}
		if (!ctl->rev) {
			snprintf(ctl->error, sizeof(ctl->error), "%s: nothing revived yet (echo revive "
				 "> control)", verb);
			r = -ESRCH;
			goto out;
		}
		r = verbs[i].fn(ctl->rev, &err) < 0 ? -err.err : 0;
		if (r)
			snprintf(ctl->error, sizeof(ctl->error), "%s", err.msg);
		goto out;
	}
	snprintf(ctl->error, sizeof(ctl->error), "unknown command '%s' (revive [stdin=PATH] "
		 "[stdout=PATH] [stderr=PATH] [cwd=PATH] [pidns], resume, stop, kill)", verb);
out:
	pthread_mutex_unlock(&ctl->lock);
	free(text);
	return r;
}

int control_write(struct control *ctl, const char *data, size_t size)
{
	char *text, *line, *save = NULL;
	int r = 0;

	if (memchr(data, 0, size)) {
		pthread_mutex_lock(&ctl->lock);
		snprintf(ctl->error, sizeof(ctl->error), "a command holds a NUL byte (at offset %zu): "
			 "nothing was done", (size_t)((const char *)memchr(data, 0, size) - data));
		pthread_mutex_unlock(&ctl->lock);
		return -EINVAL;
	}
	text = strndup(data, size);
	if (!text)
		return -ENOMEM;
	for (line = strtok_r(text, "\n", &save); line && !r; line = strtok_r(NULL, "\n", &save))
		r = control_command(ctl, line);
	free(text);
	return r;
}
