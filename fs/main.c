/* fs/main.c — corefs: mount a core dump as a /proc/<pid>-like tree.
 *
 * The core is opened and parsed before anything is mounted, so bad input ends with one line
 * naming the problem and a non-zero exit, and nothing is left mounted.  Mounting follows
 * libfuse's hello_ll: session, signal handlers, mount, daemonize, loop, unmount.  auto_unmount
 * is on by default: should the daemon die, fusermount3 takes the mount down with it. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../formats/arch.h"
#include "../formats/dump.h"
#include "../formats/remote.h"
#include "../revive/revive.h"
#include "ops.h"
#include "tree.h"
#include "watch.h"

#ifndef COREFS_VERSION
#define COREFS_VERSION "unknown"
#endif

struct options {
	char *core;
	char *mountpoint_arg;
	char *sysroot;
	char *exe;
	char *search;
	char *cat;
	char *debuginfod;
	char *cache_dir;
	int nonopts;
	int no_fill;
	int no_debuginfod;
	int proc;
	bool help, version;
};

enum { KEY_HELP, KEY_VERSION };

static const struct fuse_opt corefs_opts[] = {
	/* "--sysroot DIR", "--exe FILE", "--search-path DIRS", "--debuginfod URLS" and "--cat PATH"
	 * are joined into these forms by join_long_options(). */
	{ "--sysroot=%s", offsetof(struct options, sysroot), 0 },
	{ "--exe=%s", offsetof(struct options, exe), 0 },
	{ "--search-path=%s", offsetof(struct options, search), 0 },
	{ "--no-fill", offsetof(struct options, no_fill), 1 },
	{ "--debuginfod=%s", offsetof(struct options, debuginfod), 0 },
	{ "--no-debuginfod", offsetof(struct options, no_debuginfod), 1 },
	{ "--cache-dir=%s", offsetof(struct options, cache_dir), 0 },
	{ "--proc", offsetof(struct options, proc), 1 },
	{ "--cat=%s", offsetof(struct options, cat), 0 },
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_END
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: corefs [options] CORE|URL MOUNTPOINT\n"
		"       corefs [options] DIRECTORY MOUNTPOINT\n"
		"       corefs --cat PATH CORE|DIRECTORY\n"
		"\n"
		"Mount a core dump (a file, or at http://, https:// or s3://BUCKET/KEY, read by\n"
		"ranges as it is needed) as a /proc/<pid>-like tree: maps, mem (offset = address), stat,\n"
		"status, smaps, cmdline, environ, task/<tid>/{regs,stack}, modules, core.json, and a\n"
		"control file that revives the core into a live process.  Unmount with\n"
		"fusermount3 -u MOUNTPOINT.  A DIRECTORY of cores mounts as a /proc of dead processes:\n"
		"one <pid>/ per core, by-name/<file>/ for every core; cores added or removed show\n"
		"while mounted.\n"
		"\n"
		"options:\n"
		"    -f                     stay in the foreground\n"
		"    -d                     debug: foreground, FUSE requests and corefs's findings on stderr\n"
		"    -s                     single-threaded\n"
		"    -o OPT[,OPT...]        FUSE mount options (auto_unmount and default_permissions\n"
		"                           are always on; every file but control is read-only)\n"
		"    --sysroot=DIR          look for the files the process mapped under DIR (only there)\n"
		"    --exe=FILE             the process's executable is FILE (as gdb and eu-stack take\n"
		"                           one); still used only when its build-id is the core's\n"
		"    --search-path=DIR[:DIR...]\n"
		"                           a mapped file not found where the core says (or not the\n"
		"                           mapped one) is looked for by its name in each DIR, and\n"
		"                           used only when its build-id (or first page) is the core's\n"
		"    --no-fill              mem: no bytes from the mapped files, only the core's\n"
		"    --debuginfod=URLS      debuginfod servers (as DEBUGINFOD_URLS, which it replaces):\n"
		"                           a mapped file missing or different here is fetched by the\n"
		"                           build-id the core gives, on first need; separate debug\n"
		"                           files too (names, .debug_frame).  DEBUGINFOD_CACHE_PATH,\n"
		"                           _TIMEOUT (also a bound on each whole fetch), _PROGRESS and\n"
		"                           _VERBOSE are honoured as elfutils' tools honour them\n"
		"    --no-debuginfod        never ask a debuginfod server\n"
		"    --cache-dir=DIR        a remote core's blocks are kept in DIR too (else only in\n"
		"                           memory); a revived remote core is downloaded there\n"
		"    --proc                 one CORE as a /proc root (<pid>/ inside), as for a directory\n"
		"    --cat=PATH             print one file of the tree (maps, task/TID/regs, core.json...)\n"
		"                           to stdout and exit, without mounting\n"
		"    -h, --help             this help\n"
		"    -V, --version          print the version\n");
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct options *o = data;

	(void)outargs;
	switch (key) {
	case KEY_HELP:
		o->help = true;
		return 0;
	case KEY_VERSION:
		o->version = true;
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		o->nonopts++;
		if (!o->core) {
			o->core = strdup(arg);
			return o->core ? 0 : -1;
		}
		return 1;	/* the mount point, for fuse_parse_cmdline */
	default:
		return 1;
	}
}

/* fuse_opt applies every template an argument matches, so "--sysroot %s" would also take
 * "--sysroot=DIR" (as "=DIR"); accept the two-argument form by joining it here instead. */
static int join_long_options(struct fuse_args *args)
{
	static const char *const joined[] = { "--sysroot", "--exe", "--search-path", "--debuginfod",
					      "--cache-dir", "--cat" };

	for (int i = 1; i < args->argc; i++) {
		if (!strcmp(args->argv[i], "--"))
			break;
		for (size_t k = 0; k < sizeof(joined) / sizeof(joined[0]); k++) {
			char *arg;

			if (strcmp(args->argv[i], joined[k]) || i + 1 >= args->argc)
				continue;
			if (asprintf(&arg, "%s=%s", joined[k], args->argv[i + 1]) < 0)
				return -1;
			if (args->allocated)
				free(args->argv[i]);
			args->argv[i] = arg;
			if (args->allocated)
				free(args->argv[i + 1]);
			memmove(&args->argv[i + 1], &args->argv[i + 2],
				(size_t)(args->argc - i - 1) * sizeof(char *));
			args->argc--;
		}
	}
	return 0;
}

static void log_findings(const struct mounted *m)
{
	const struct core *c = m->core;
	const struct disk_files *df = m->process.files;

	fprintf(stderr, "corefs: %s: %s %s core of pid %d, %zu threads, %zu segments\n", c->path,
		c->format, c->arch->name, c->pid, c->nthreads, c->nsegs);
	for (size_t i = 0; i < c->nproblems; i++)
		fprintf(stderr, "corefs: %s: %s\n", c->path, c->problems[i]);
	for (size_t i = 0; i < df->nfiles; i++)
		fprintf(stderr, "corefs: %s: %s (%s)\n", df->files[i].path,
			disk_file_status_now(df, &df->files[i]),
			df->files[i].why ? df->files[i].why : "");
}

static int cat(struct tree *t, const char *path)
{
	struct buf b = { 0 };
	bool link;
	int r = tree_cat(t, path, &b, &link);

	if (r == 0 && buf_failed(&b))
		r = -ENOMEM;
	if (r < 0) {
		fprintf(stderr, "corefs: %s: %s\n", path,
			r == -EINVAL ? "memory is read from a mount (offset = address)" : strerror(-r));
		buf_free(&b);
		return 1;
	}
	if (b.len)
		fwrite(b.p, 1, b.len, stdout);
	if (link)
		putchar('\n');
	buf_free(&b);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int loop(struct fuse_session *se, const struct fuse_cmdline_opts *fo)
{
	struct fuse_loop_config *cfg;
	int ret;

	if (fo->singlethread)
		return fuse_session_loop(se);
	cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(cfg, fo->clone_fd);
	fuse_loop_cfg_set_max_threads(cfg, fo->max_threads);
	ret = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return ret;
}

static int serve(struct fuse_args *args, struct fuse_cmdline_opts *fo, struct tree *t)
{
	struct fuse_session *se;
	struct watch w;
	int ret = -1, r;

	se = fuse_session_new(args, &corefs_ops, sizeof(corefs_ops), t);
	if (!se)
		return 1;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (fuse_session_mount(se, fo->mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(fo->foreground);
	/* Threads start after daemonizing: fork keeps only the calling thread.  The watcher ends
	 * before the session it tells goes. */
	watch_init(&w, t);
	if ((r = watch_start(&w, se)) < 0)
		fprintf(stderr, "corefs: cannot watch %s: %s\n", t->cs.dir, strerror(-r));
	else
		ret = loop(se, fo);
	watch_stop(&w);
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
	/* libfuse's loop returns the number of the signal (SIGTERM, SIGINT, SIGHUP) that ended
	 * it: that is a clean unmount.  A negative value is an error. */
	return ret < 0 ? 1 : 0;
}

/* The cores to serve: a directory of them, or one. */
static int open_cores(struct tree *t, const struct options *o, const char *abs, bool foreground,
		      bool debug)
{
	/* Fetches are reported on stderr when it is the terminal's: in the foreground, or -d. */
	const struct file_lookup where = { .sysroot = o->sysroot, .exe = o->exe, .search = o->search,
					   .no_debuginfod = o->no_debuginfod,
					   .progress = !o->cat && (foreground || debug) };
	const struct remote_options remote = { .cache_dir = o->cache_dir,
					       .progress = !o->cat && (foreground || debug) };
	struct core_error err = { 0 };
	struct core *core;
	struct stat st;
	int r;

	dump_remote_options(&remote);
	/* A directory, or a remote prefix (a URL ending with '/'): a /proc of dead processes. */
	if ((stat(o->core, &st) == 0 && S_ISDIR(st.st_mode)) ||
	    (remote_claims(o->core) && o->core[strlen(o->core) - 1] == '/')) {
		tree_init(t, true);
		if (o->exe) {
			/* gdb's and eu-stack's --exe is one program's: the cores of a directory
			 * are of any program. */
			fprintf(stderr, "corefs: %s: --exe takes one core, not a directory\n", o->core);
			return -1;
		}
		r = cores_init_dir(&t->cs, abs ? abs : o->core, &where, !o->no_fill, debug);
		if (r < 0) {
			fprintf(stderr, "corefs: %s: %s\n", o->core, strerror(-r));
			return -1;
		}
		return 0;
	}
	tree_init(t, o->proc);
	if (core_open(o->core, &core, &err) < 0) {
		fprintf(stderr, "corefs: %s\n", err.msg);
		return -1;
	}
	r = cores_init_one(&t->cs, core, o->core, &where, !o->no_fill, debug);
	if (r < 0) {
		fprintf(stderr, "corefs: %s: %s\n", o->core, strerror(-r));
		return -1;
	}
	if (debug)
		log_findings(&t->cs.slots[0]->m);
	return 0;
}

/* A mount point field of /proc/self/mountinfo with its octal escapes (\040 for a space) undone,
 * in place. */
static void unescape_mountinfo(char *s)
{
	char *d = s;

	for (; *s; s++, d++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*d = *s;
		}
	}
	*d = 0;
}

/* Mounting on a corefs mount would silently stack a second one over it: refuse when the
 * topmost mount at dir (the last line of /proc/self/mountinfo with that mount point) is corefs's
 * (type fuse.corefs, fsname the core).  True when refused, with one line said. */
static bool refuse_corefs_mount(const char *dir)
{
	char *real = realpath(dir, NULL), *line = NULL, *top_source = NULL;
	bool top_corefs = false;
	size_t cap = 0;
	FILE *f;

	if (!real)
		return false;	/* mounting will say why */
	f = fopen("/proc/self/mountinfo", "re");
	/* id parent major:minor root mountpoint options [optional...] - type source superopts */
	while (f && getline(&line, &cap, f) > 0) {
		char mnt[4096], type[256], source[4096];
		char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
		    sscanf(sep + 3, "%255s %4095s", type, source) != 2)
			continue;
		unescape_mountinfo(mnt);
		if (strcmp(mnt, real))
			continue;
		top_corefs = !strcmp(type, "fuse.corefs");
		unescape_mountinfo(source);
		free(top_source);
		top_source = strdup(source);
	}
	if (f)
		fclose(f);
	if (top_corefs)
		fprintf(stderr, "corefs: %s: already a corefs mount (of %s): unmount it first "
			"(fusermount3 -u %s)\n", dir, top_source ? top_source : "a core", dir);
	free(top_source);
	free(line);
	free(real);
	return top_corefs;
}

/* Options into o and fo, checked: -1 to go on, else the exit status (help, version, a wrong
 * command line). */
/* --search-path: each directory by its absolute path (the daemon changes to / when it detaches),
 * empty ones left out; a directory that is not there is refused, as --sysroot's is.  0, or -1
 * after saying why. */
static int absolute_dirs(char **list)
{
	char *out = NULL, *save = NULL, *copy = strdup(*list);
	size_t len = 0;

	if (!copy)
		goto oom;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *dir = realpath(d, NULL), *more;
		struct stat st;
		int e = !dir ? errno : stat(dir, &st) < 0 ? errno : !S_ISDIR(st.st_mode) ? ENOTDIR : 0;

		if (e) {
			fprintf(stderr, "corefs: --search-path %s: %s\n", d, strerror(e));
			free(dir);
			free(copy);
			free(out);
			return -1;
		}
		more = realloc(out, len + strlen(dir) + 2);
		if (!more) {
			free(dir);
			goto oom;
		}
		out = more;
		len += (size_t)sprintf(out + len, "%s%s", len ? ":" : "", dir);
		free(dir);
	}
	free(copy);
	free(*list);
	*list = out ? out : strdup("");
	return 0;
oom:
	free(copy);
	free(out);
	fprintf(stderr, "corefs: out of memory\n");
	return -1;
}

static int parse_args(struct fuse_args *args, struct options *o, struct fuse_cmdline_opts *fo)
{
	struct stat st;
	char *dir;

	if (join_long_options(args) < 0 || fuse_opt_parse(args, o, corefs_opts, opt_proc) != 0)
		return 1;
	if (o->help) {
		usage(stdout);
		printf("\nFUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		return 0;
	}
	if (o->version) {
		printf("corefs %s\n", COREFS_VERSION);
		fflush(stdout);
		fuse_lowlevel_version();
		return 0;
	}
	if (!o->core || (!o->cat && o->nonopts != 2) || (o->cat && o->nonopts != 1)) {
		fprintf(stderr, o->cat ? "corefs: --cat takes one core or directory and no mount point\n"
				       : "corefs: expected a core and a mount point (see corefs --help)\n");
		return 2;
	}
	if (!o->cat && fuse_parse_cmdline(args, fo) != 0)
		return 1;
	/* FUSE can mount over a regular file; a /proc-like tree needs a directory. */
	if (!o->cat && stat(fo->mountpoint, &st) < 0) {
		fprintf(stderr, "corefs: %s: %s\n", fo->mountpoint, strerror(errno));
		return 1;
	}
	if (!o->cat && !S_ISDIR(st.st_mode)) {
		/* corefs MOUNTPOINT CORE: say which argument is the core. */
		if (S_ISREG(st.st_mode) && dump_sniff_at(AT_FDCWD, fo->mountpoint))
			fprintf(stderr, "corefs: %s: a core dump, not a mount point: the core comes "
				"first (corefs CORE MOUNTPOINT)\n", fo->mountpoint);
		else
			fprintf(stderr, "corefs: %s: not a directory\n", fo->mountpoint);
		return 1;
	}
	if (!o->cat && refuse_corefs_mount(fo->mountpoint))
		return 1;
	/* The daemon changes to / when it detaches; keep the paths meaningful after that. */
	if (o->exe) {
		char *exe = realpath(o->exe, NULL);

		if (!exe) {
			fprintf(stderr, "corefs: --exe %s: %s\n", o->exe, strerror(errno));
			return 1;
		}
		free(o->exe);
		o->exe = exe;
	}
	if (o->search && absolute_dirs(&o->search) < 0)
		return 1;
	if (o->cache_dir) {
		char *abs = realpath(o->cache_dir, NULL);

		if (!abs || stat(abs, &st) < 0 || !S_ISDIR(st.st_mode)) {
			fprintf(stderr, "corefs: --cache-dir %s: %s\n", o->cache_dir,
				abs ? strerror(ENOTDIR) : strerror(errno));
			free(abs);
			return 1;
		}
		free(o->cache_dir);
		o->cache_dir = abs;
	}
	/* libdebuginfod reads its servers from the environment, as every elfutils tool does. */
	if (o->debuginfod && setenv("DEBUGINFOD_URLS", o->debuginfod, 1) < 0) {
		fprintf(stderr, "corefs: --debuginfod: %s\n", strerror(errno));
		return 1;
	}
	if (!o->sysroot)
		return -1;
	dir = realpath(o->sysroot, NULL);
	if (!dir) {
		fprintf(stderr, "corefs: --sysroot %s: %s\n", o->sysroot, strerror(errno));
		return 1;
	}
	free(o->sysroot);
	o->sysroot = dir;
	return -1;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_cmdline_opts fo = { 0 };
	struct options o = { 0 };
	struct tree t;
	bool have_cores = false;
	char *fsname = NULL, *fsopt = NULL, *abs = NULL;
	int ret = 1;

	revive_init();
	/* Work on a copy of argv so arguments can be joined and freed uniformly. */
	for (int i = 0; i < argc; i++)
		if (fuse_opt_add_arg(&args, argv[i]) != 0) {
			fprintf(stderr, "corefs: out of memory\n");
			fuse_opt_free_args(&args);
			return 1;
		}
	if ((ret = parse_args(&args, &o, &fo)) >= 0)
		goto out;
	ret = 1;
	/* A directory of cores is rescanned while mounted: keep its absolute path.  Messages name
	 * a core as the user gave it. */
	abs = realpath(o.core, NULL);
	if (open_cores(&t, &o, abs, fo.foreground, fo.debug) < 0) {
		have_cores = t.cs.slots != NULL || t.cs.dir != NULL;
		goto out_cores;
	}
	have_cores = true;
	if (o.cat) {
		ret = cat(&t, o.cat);
	} else if (fuse_opt_add_arg(&args, "-odefault_permissions,auto_unmount") ||
		   fuse_opt_add_opt_escaped(&fsname, abs ? abs : o.core) ||
		   asprintf(&fsopt, "-ofsname=%s", fsname) < 0 || fuse_opt_add_arg(&args, fsopt)) {
		fprintf(stderr, "corefs: out of memory\n");
	} else {
		ret = serve(&args, &fo, &t);
	}
out_cores:
	if (have_cores)
		tree_free(&t);
out:
	free(fo.mountpoint);
	free(o.core);
	free(o.sysroot);
	free(o.exe);
	free(o.search);
	free(o.cat);
	free(o.debuginfod);
	free(o.cache_dir);
	free(fsname);
	free(fsopt);
	free(abs);
	fuse_opt_free_args(&args);
	return ret;
}
