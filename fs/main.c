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
#include <sys/stat.h>
#include <unistd.h>

#include "../formats/arch.h"
#include "fuse_ops.h"

#ifndef COREFS_VERSION
#define COREFS_VERSION "unknown"
#endif

struct options {
	char *core;
	char *mountpoint_arg;
	char *sysroot;
	char *cat;
	int nonopts;
	int no_fill;
	bool help, version;
};

enum { KEY_HELP, KEY_VERSION };

static const struct fuse_opt corefs_opts[] = {
	/* "--sysroot DIR" and "--cat PATH" are joined into these forms by join_long_options(). */
	{ "--sysroot=%s", offsetof(struct options, sysroot), 0 },
	{ "--no-fill", offsetof(struct options, no_fill), 1 },
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
		"usage: corefs [options] CORE MOUNTPOINT\n"
		"       corefs --cat PATH CORE\n"
		"\n"
		"Mount a core dump as a read-only /proc/<pid>-like tree: maps, mem (offset = address),\n"
		"auxv, comm, cmdline, environ, exe, task/<tid>/regs and core.json.  Unmount with\n"
		"fusermount3 -u MOUNTPOINT.\n"
		"\n"
		"options:\n"
		"    -f                     stay in the foreground\n"
		"    -d                     debug: foreground, FUSE requests and corefs's findings on stderr\n"
		"    -s                     single-threaded\n"
		"    -o OPT[,OPT...]        FUSE mount options (auto_unmount and default_permissions\n"
		"                           are always on; every file but control is read-only)\n"
		"    --sysroot=DIR          look for the files the process mapped under DIR\n"
		"    --no-fill              mem: no bytes from the mapped files, only the core's\n"
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
	static const char *const joined[] = { "--sysroot", "--cat" };

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
	const struct disk_files *df = m->view.files;

	fprintf(stderr, "corefs: %s: %s %s core of pid %d, %zu threads, %zu segments\n", c->path,
		c->format, c->arch->name, c->pid, c->nthreads, c->nsegs);
	for (size_t i = 0; i < c->nproblems; i++)
		fprintf(stderr, "corefs: %s: %s\n", c->path, c->problems[i]);
	for (size_t i = 0; i < df->nfiles; i++)
		fprintf(stderr, "corefs: %s: %s (%s)\n", df->files[i].path,
			disk_status_name(df->files[i].status), df->files[i].why ? df->files[i].why : "");
}

static int cat(struct mounted *m, const char *path)
{
	struct fsref ref;
	const struct rendered *e;
	struct buf b = { 0 };
	int r = node_resolve(&m->view, path, &ref);

	if (r < 0) {
		fprintf(stderr, "corefs: %s: %s\n", path, strerror(-r));
		return 1;
	}
	if (node_is_dir(ref.node)) {
		char name[32];
		struct fsref child;

		for (size_t i = 0; node_child(&m->view, ref, i, &child, name, sizeof(name)); i++)
			printf("%s\n", name);
		return 0;
	}
	if (nodes[ref.node].flags & NODE_MEM) {
		fprintf(stderr, "corefs: %s: memory is read from a mount (offset = address)\n", path);
		return 1;
	}
	(void)e;
	r = node_render(&m->view, ref, &b);
	if (r == 0 && buf_failed(&b))
		r = -ENOMEM;
	if (r < 0) {
		fprintf(stderr, "corefs: %s: %s\n", path, strerror(-r));
		buf_free(&b);
		return 1;
	}
	if (b.len)
		fwrite(b.p, 1, b.len, stdout);
	if (S_ISLNK(nodes[ref.node].mode))
		putchar('\n');
	buf_free(&b);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int serve(struct fuse_args *args, struct fuse_cmdline_opts *fo, struct mounted *m)
{
	struct fuse_session *se;
	int ret = 1;

	se = fuse_session_new(args, &corefs_ops, sizeof(corefs_ops), m);
	if (!se)
		return 1;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (fuse_session_mount(se, fo->mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(fo->foreground);
	if (fo->singlethread) {
		ret = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();

		fuse_loop_cfg_set_clone_fd(cfg, fo->clone_fd);
		fuse_loop_cfg_set_max_threads(cfg, fo->max_threads);
		ret = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
	return ret ? 1 : 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts fo = { 0 };
	struct options o = { 0 };
	struct core_error err = { 0 };
	struct core *core = NULL;
	struct mounted m;
	char *fsname = NULL;
	int ret = 1, r;

	/* Work on a copy of argv so arguments can be joined and freed uniformly. */
	{
		struct fuse_args copy = FUSE_ARGS_INIT(0, NULL);

		for (int i = 0; i < argc; i++)
			if (fuse_opt_add_arg(&copy, argv[i]) != 0) {
				fprintf(stderr, "corefs: out of memory\n");
				fuse_opt_free_args(&copy);
				return 1;
			}
		args = copy;
	}
	if (join_long_options(&args) < 0 || fuse_opt_parse(&args, &o, corefs_opts, opt_proc) != 0)
		goto out;
	if (o.help) {
		usage(stdout);
		printf("\nFUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out;
	}
	if (o.version) {
		printf("corefs %s\n", COREFS_VERSION);
		fflush(stdout);
		fuse_lowlevel_version();
		ret = 0;
		goto out;
	}
	if (!o.core || (!o.cat && o.nonopts != 2) || (o.cat && o.nonopts != 1)) {
		fprintf(stderr, o.cat ? "corefs: --cat takes one core and no mount point\n"
				      : "corefs: expected a core and a mount point (see corefs --help)\n");
		ret = 2;
		goto out;
	}
	if (!o.cat && fuse_parse_cmdline(&args, &fo) != 0)
		goto out;
	if (!o.cat) {
		/* FUSE can mount over a regular file; a /proc-like tree needs a directory. */
		struct stat st;

		if (stat(fo.mountpoint, &st) < 0) {
			fprintf(stderr, "corefs: %s: %s\n", fo.mountpoint, strerror(errno));
			goto out;
		}
		if (!S_ISDIR(st.st_mode)) {
			fprintf(stderr, "corefs: %s: not a directory\n", fo.mountpoint);
			goto out;
		}
	}
	if (o.sysroot) {
		/* The daemon changes to / when it detaches; keep the sysroot meaningful after that. */
		char *abs = realpath(o.sysroot, NULL);

		if (!abs) {
			fprintf(stderr, "corefs: --sysroot %s: %s\n", o.sysroot, strerror(errno));
			goto out;
		}
		free(o.sysroot);
		o.sysroot = abs;
	}
	if (core_open(o.core, &core, &err) < 0) {
		fprintf(stderr, "corefs: %s\n", err.msg);
		goto out;
	}
	r = mounted_init(&m, core, o.sysroot, !o.no_fill, fo.debug);
	if (r < 0) {
		fprintf(stderr, "corefs: %s: %s\n", o.core, strerror(-r));
		goto out;
	}
	if (o.cat) {
		ret = cat(&m, o.cat);
	} else {
		if (fo.debug)
			log_findings(&m);
		char *abs = realpath(o.core, NULL);

		if (fuse_opt_add_arg(&args, "-odefault_permissions,auto_unmount") ||
		    fuse_opt_add_opt_escaped(&fsname, abs ? abs : o.core) ||
		    asprintf(&fsname, "-ofsname=%s", fsname) < 0 || fuse_opt_add_arg(&args, fsname)) {
			fprintf(stderr, "corefs: out of memory\n");
		} else {
			ret = serve(&args, &fo, &m);
		}
		free(abs);
	}
	mounted_free(&m);
out:
	core_close(core);
	free(fo.mountpoint);
	free(o.core);
	free(o.sysroot);
	free(o.cat);
	free(fsname);
	fuse_opt_free_args(&args);
	return ret;
}
