/* tests/unit/test_root_scale.c — the /proc root's files cost O(number of cores).
 *
 * Every root file is rendered over a view of n processes: one synthetic process n times, as a
 * directory of n copies of one core lists them (all of one pid: the case where deciding
 * ownership pair by pair read every pair).  The check: the fstat(2) calls rendering makes,
 * counted by the fstat defined here (the renderers' calls resolve to it), are at most one per
 * process, none per pair (the old render made 4,000,000 for 1000 processes).  The time for 2000
 * processes against 1000 is printed, not checked: speed goals are make bench's, and a timed
 * check fails on a loaded machine (about x2 for a linear render, x4 for a quadratic one). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "../../fs/render_proc.h"
#include "synth.h"
#include "unit.h"

#define SMALL 1000
#define LARGE 2000
#define TRIES 5

static bool counting;
static unsigned long fstat_calls;

int fstat(int fd, struct stat *st)
{
	if (counting)
		fstat_calls++;
	return fstatat(fd, "", st, AT_EMPTY_PATH);
}

static const proc_render_fn root_files[] = {
	render_proc_stat, render_proc_uptime, render_proc_meminfo, render_proc_loadavg,
	render_proc_cpuinfo, render_proc_version,
};

/* Render every root file over the first n entries of all; false when one fails. */
static bool render_all(const struct process **all, size_t n, struct buf *stat_out)
{
	struct proc_view pv = { all, n, { 0, 0 } };
	bool ok = true;

	clock_gettime(CLOCK_REALTIME, &pv.now);
	for (size_t i = 0; i < sizeof(root_files) / sizeof(root_files[0]); i++) {
		struct buf b = { 0 };

		ok &= root_files[i](&pv, i == 0 && stat_out ? stat_out : &b) == 0;
		buf_free(&b);
	}
	return ok;
}

static double seconds(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* The fastest of TRIES renders of every root file over n processes. */
static double best_time(const struct process **all, size_t n)
{
	double best = 1e9;

	for (int k = 0; k < TRIES; k++) {
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		if (!CHECK(render_all(all, n, NULL)))
			return best;
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (seconds(&a, &b) < best)
			best = seconds(&a, &b);
	}
	return best;
}

#ifdef SYNTH_X86_64
/* A one-thread process: the standard segments, its thread's status, auxv and mapped files. */
static void make_process(struct synth *s)
{
	struct user_regs_struct r = synth_regs(0);

	synth_init(s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_std_segments(s);
	synth_prstatus(s, SYNTH_PID, SIGSEGV, &r);
	synth_std_auxv(s);
	synth_std_nt_file(s);
}

static void test_root_files_linear(void)
{
	struct synth s;
	struct core *c = NULL;
	struct core_error err = { 0 };
	struct process v;
	const struct process **all = NULL;
	struct buf stat_text = { 0 };
	char want[64];
	double small, large;

	make_process(&s);
	if (!CHECK(synth_write(&s) == 0) || !CHECK(core_open(s.path, &c, &err) == 0))
		goto out;
	if (!CHECK(process_init(&v, c, NULL, false) == 0))
		goto out;
	all = calloc(LARGE, sizeof(*all));
	if (!CHECK(all != NULL))
		goto out_process;
	for (size_t i = 0; i < LARGE; i++)
		all[i] = &v;

	/* Every process counts once. */
	counting = true;
	CHECK(render_all(all, SMALL, &stat_text));
	counting = false;
	snprintf(want, sizeof(want), "\nprocesses %d\n", SMALL);
	CHECK(!buf_failed(&stat_text) && stat_text.p && strstr(stat_text.p, want));
	if (!CHECK(fstat_calls <= SMALL))
		fprintf(stderr, "  %lu fstat calls to render the root files over %d processes\n",
			fstat_calls, SMALL);

	small = best_time(all, SMALL);
	large = best_time(all, LARGE);
	printf("root files over %d processes: %lu fstat calls; %.2f ms, over %d: %.2f ms (x%.2f)\n",
	       SMALL, fstat_calls, small * 1e3, LARGE, large * 1e3, large / small);
	free(all);
out_process:
	process_free(&v);
out:
	buf_free(&stat_text);
	if (c)
		core_close(c);
	synth_free(&s);
}
#endif

int main(void)
{
#ifdef SYNTH_X86_64
	RUN(test_root_files_linear);
#else
	printf("skipped: the synthetic process needs an x86_64 host\n");
#endif
	return unit_summary("test_root_scale");
}
