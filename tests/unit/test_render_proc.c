/* tests/unit/test_render_proc.c — the /proc files of fs/render_proc.c on synthetic cores.
 *
 * stat's 52 fields from the notes (state X, times in ticks, signals, exit code, starttime =
 * the core's mtime), status's first lines and escaping of the name, smaps's blocks and Rss,
 * limits/wchan/personality, syscall on x86_64, i386 and aarch64 (NT_ARM_SYSTEM_CALL, absent
 * without it), and the /proc root's files over one core.  The live-process comparisons are in
 * tests/test_proctools.py; here every expected value follows from the synthetic notes. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "../../fs/nodes.h"
#include "../../fs/render_proc.h"
#include "synth.h"
#include "unit.h"

struct fixture {
	struct synth s;
	struct core *c;
	struct process v;
	bool has_view;
};

static bool fixture_open(struct fixture *f)
{
	struct core_error err = { 0 };

	f->c = NULL;
	f->has_view = false;
	if (!CHECK(synth_write(&f->s) == 0))
		return false;
	if (!CHECK(core_open(f->s.path, &f->c, &err) == 0)) {
		fprintf(stderr, "  %s\n", err.msg);
		return false;
	}
	f->has_view = CHECK(process_init(&f->v, f->c, NULL, false) == 0);
	return f->has_view;
}

static void fixture_close(struct fixture *f)
{
	if (f->has_view)
		process_free(&f->v);
	if (f->c)
		core_close(f->c);
	f->c = NULL;
	f->has_view = false;
	synth_free(&f->s);
}

/* The file's bytes, NUL-terminated; NULL (and a failed check) when rendering fails. */
static char *render(render_fn fn, const struct process *v, const struct core_thread *t)
{
	struct buf b = { 0 };
	int r = fn(v, t, &b);
	size_t len;

	if (!CHECK_I64(r, 0) || !CHECK(!buf_failed(&b))) {
		buf_free(&b);
		return NULL;
	}
	if (!b.p)
		return strdup("");
	return buf_steal(&b, &len);
}

static char *render_root(proc_render_fn fn, const struct proc_view *pv)
{
	struct buf b = { 0 };
	size_t len;

	if (!CHECK_I64(fn(pv, &b), 0) || !b.p) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, &len);
}

/* Split a stat line into its 52 fields (the comm between the first '(' and the last ')'). */
static int stat_split(char *line, char **field)
{
	char *open = strchr(line, '('), *close = strrchr(line, ')'), *save = NULL, *p;
	int n = 2;

	if (!open || !close || close < open)
		return 0;
	if (open == line || open[-1] != ' ')
		return 0;
	open[-1] = *close = 0;
	field[0] = line;
	field[1] = open + 1;
	for (p = strtok_r(close + 1, " \n", &save); p && n < 60; p = strtok_r(NULL, " \n", &save))
		field[n++] = p;
	return n;
}

#ifdef SYNTH_X86_64
static uint64_t mtime_ticks(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return 0;
	return (uint64_t)st.st_mtim.tv_sec * 100 + (uint64_t)st.st_mtim.tv_nsec / 10000000;
}

static void test_stat(void)
{
	struct fixture f;
	char *s, *field[64], want[32];
	int n;

	synth_std_process(&f.s);
	if (!fixture_open(&f))
		goto out;
	s = render(render_stat, &f.v, NULL);
	if (!s)
		goto out;
	n = stat_split(s, field);
	if (CHECK_I64(n, 52)) {
		CHECK_STR(field[0], "4242");
		CHECK_STR(field[1], "synthetic-progr");
		CHECK_STR(field[2], "X");
		CHECK_STR(field[3], "1");		/* ppid, pgrp, session from NT_PRPSINFO */
		CHECK_STR(field[4], "4242");
		CHECK_STR(field[5], "77");
		CHECK_STR(field[6], "0");		/* no tty */
		CHECK_STR(field[7], "-1");
		CHECK_STR(field[8], "4195840");		/* pr_flag 0x400600 */
		CHECK_STR(field[13], "300");		/* utime 3 s 500 us */
		CHECK_STR(field[14], "0");
		CHECK_STR(field[17], "15");		/* priority 20 + nice */
		CHECK_STR(field[18], "-5");
		CHECK_STR(field[19], "1");
		snprintf(want, sizeof(want), "%" PRIu64, mtime_ticks(f.s.path));
		CHECK_STR(field[21], want);
		CHECK_STR(field[22], "290816");		/* the segments' sizes, 0x47000 */
		CHECK_STR(field[23], "70");		/* pages of data, the file text aside */
		CHECK_STR(field[28], "140737488343040");	/* rsp 0x7fffffffd000 */
		CHECK_STR(field[29], "4198964");	/* rip 0x401234 */
		CHECK_STR(field[30], "256");		/* pr_sigpend */
		CHECK_STR(field[31], "8192");		/* pr_sighold */
		CHECK_STR(field[46], "6291456");	/* start_brk: [heap] at 0x600000 */
		CHECK_STR(field[51], "139");		/* SIGSEGV | core dumped */
	}
	free(s);
	/* task/<tid>/stat: the same thread; the leader's own times are the group's less the
	 * others' (there are none). */
	s = render(render_stat, &f.v, &f.c->threads[0]);
	if (s && CHECK_I64(stat_split(s, field), 52)) {
		CHECK_STR(field[0], "4242");
		CHECK_STR(field[13], "300");
	}
	free(s);
out:
	fixture_close(&f);
}

static void test_status_statm(void)
{
	struct fixture f;
	char *s;

	synth_init(&f.s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_std_segments(&f.s);
	{
		struct user_regs_struct r = synth_regs(0);

		synth_prstatus(&f.s, SYNTH_PID, SIGSEGV, &r);
		synth_prpsinfo(&f.s, SYNTH_PID, "a\nb\\c d)", "./x ");
	}
	if (!fixture_open(&f))
		goto out;
	s = render(render_status, &f.v, NULL);
	if (s) {
		/* The kernel escapes '\n' and '\\' in Name (and nothing else). */
		static const char head[] =
			"Name:\ta\\nb\\\\c d)\nState:\tX (dead)\nTgid:\t4242\nNgid:\t0\n"
			"Pid:\t4242\nPPid:\t1\nTracerPid:\t0\nUid:\t1000\t1000\t1000\t1000\n"
			"Gid:\t100\t100\t100\t100\nFDSize:\t0\nGroups:\t \nNStgid:\t4242\n";

		CHECK(!strncmp(s, head, strlen(head)));
		CHECK_CONTAINS(s, "\nVmPeak:\t     284 kB\nVmSize:\t     284 kB\n"
				  "VmLck:\t       0 kB\n");
		/* Without NT_FILE every mapping is anonymous; data is the exe's and [heap]. */
		CHECK_CONTAINS(s, "\nVmRSS:\t     280 kB\nRssAnon:\t     280 kB\n"
				  "RssFile:\t       0 kB\n");
		CHECK_CONTAINS(s, "\nVmData:\t     140 kB\nVmStk:\t     132 kB\n");
		CHECK_CONTAINS(s, "\nThreads:\t1\nSigQ:\t0/0\nSigPnd:\t0000000000000100\n"
				  "ShdPnd:\t0000000000000000\nSigBlk:\t0000000000002000\n");
		CHECK(strstr(s, "Umask") == NULL);
	}
	free(s);
	/* size resident shared text lib data dt: no executable headers here, so no text. */
	s = render(render_statm, &f.v, NULL);
	if (s)
		CHECK_STR(s, "71 70 0 0 0 68 0\n");
	free(s);
out:
	fixture_close(&f);
}

static void test_smaps_limits(void)
{
	struct fixture f;
	char *s;
	size_t blocks = 0;

	synth_std_process(&f.s);
	if (!fixture_open(&f))
		goto out;
	s = render(render_smaps, &f.v, NULL);
	if (s) {
		for (char *p = s; (p = strstr(p, "\nSize:")); p++)
			blocks++;
		CHECK_U64(blocks, STD_NSEGS);
		CHECK_CONTAINS(s, " [heap]\nSize:                132 kB\n"
				  "KernelPageSize:        4 kB\n"
				  "MMUPageSize:           4 kB\nRss:                 132 kB\n"
				  "Pss:                 132 kB\n");
		CHECK_CONTAINS(s, "\nPrivate_Hugetlb:       0 kB\nSwap:                  0 kB\n");
		CHECK_CONTAINS(s, "THPeligible:           0\nVmFlags: rd wr mr gd \n");
		/* The file text the kernel did not dump holds nothing. */
		CHECK_CONTAINS(s, "\nSize:                  4 kB\nKernelPageSize:        4 kB\n"
				  "MMUPageSize:           4 kB\nRss:                   0 kB\n");
	}
	free(s);
	s = render(render_smaps_rollup, &f.v, NULL);
	if (s) {
		/* The name at column 73, as in maps. */
		CHECK(!strncmp(s, "00400000-7ffffffff000 ---p 00000000 00:00 0 ", 44));
		CHECK(strlen(s) > 82 &&
		      !strncmp(s + 73, "[rollup]\nRss:                 280 kB\n", 37));
		/* Pss is Rss, split as status's RssAnon, RssFile and RssShmem are (mm_build). */
		CHECK_CONTAINS(s, "\nPss:                 280 kB\nPss_Dirty:             0 kB\n"
				  "Pss_Anon:            264 kB\nPss_File:             16 kB\n"
				  "Pss_Shmem:             0 kB\n");
	}
	free(s);
	s = render(render_limits, &f.v, NULL);
	if (s)
		CHECK_STR(s, "Limit                     Soft Limit           Hard Limit           "
			     "Units     \n");
	free(s);
	s = render(render_wchan, &f.v, NULL);
	if (s)
		CHECK_STR(s, "0");
	free(s);
	s = render(render_personality, &f.v, NULL);
	if (s)
		CHECK_STR(s, "00000000\n");
	free(s);
out:
	fixture_close(&f);
}

static void test_syscall_x86_64(void)
{
	struct fixture f;
	struct user_regs_struct r0 = synth_regs(0), r1 = synth_regs(1);
	char *s;

	synth_init(&f.s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_std_segments(&f.s);
	r1.orig_rax = 0;	/* read(3, 0x1000, 16) */
	r1.rdi = 3;
	r1.rsi = 0x1000;
	r1.rdx = 16;
	r1.r10 = 4;
	r1.r8 = 5;
	r1.r9 = 6;
	synth_prstatus(&f.s, SYNTH_PID, SIGSEGV, &r0);
	synth_prpsinfo(&f.s, SYNTH_PID, "synthetic-progr", "./x ");
	synth_prstatus(&f.s, SYNTH_PID + 1, SIGSEGV, &r1);
	if (!fixture_open(&f))
		goto out;
	CHECK(has_syscall(&f.v));
	s = render(render_syscall, &f.v, NULL);
	if (s)
		CHECK_STR(s, "-1 0x7fffffffd000 0x401234\n");
	free(s);
	s = render(render_syscall, &f.v, &f.c->threads[1]);
	if (s)
		CHECK_STR(s, "0 0x3 0x1000 0x10 0x4 0x5 0x6 0x7fffffffcf00 0x401244\n");
	free(s);
out:
	fixture_close(&f);
}

/* The /proc root over one core: btime 0, the process's times, no process running. */
static void test_root_files(void)
{
	struct fixture f;
	const struct process *views[1];
	struct proc_view pv = { views, 1, { 0, 0 } };
	char *s;

	synth_std_process(&f.s);
	if (!fixture_open(&f))
		goto out;
	views[0] = &f.v;
	clock_gettime(CLOCK_REALTIME, &pv.now);
	pv.now.tv_nsec = 250000000;
	s = render_root(render_proc_stat, &pv);
	if (s) {
		CHECK(!strncmp(s, "cpu  300 0 0 ", 13));
		CHECK_CONTAINS(s, "\ncpu0 300 0 0 ");
		CHECK_CONTAINS(s, "\nbtime 0\nprocesses 1\nprocs_running 0\nprocs_blocked 0\n");
	}
	free(s);
	s = render_root(render_proc_uptime, &pv);
	if (s) {
		char want[64];

		snprintf(want, sizeof(want), "%lld.25 %lld.25\n", (long long)pv.now.tv_sec,
			 (long long)pv.now.tv_sec - 3);
		CHECK_STR(s, want);
	}
	free(s);
	s = render_root(render_proc_loadavg, &pv);
	if (s)
		CHECK_STR(s, "0.00 0.00 0.00 0/1 4242\n");
	free(s);
	s = render_root(render_proc_meminfo, &pv);
	if (s) {
		CHECK(!strncmp(s, "MemTotal:            280 kB\n"
				  "MemFree:               0 kB\n", 54));
		CHECK_CONTAINS(s, "\nHugePages_Total:       0\n");
	}
	free(s);
out:
	fixture_close(&f);
}
#endif /* SYNTH_X86_64 */

/* An ILP32 or LP64 NT_PRSTATUS by hand: tid, and registers at their pr_reg offsets. */
static void put_prstatus(struct synth *s, size_t size, size_t pid_off, size_t reg_off,
			 int32_t tid, const uint64_t (*regs)[2], size_t nregs, unsigned regsz)
{
	unsigned char *pr = calloc(1, size);

	if (!pr)
		abort();
	synth_put(s, pr, 4, SIGSEGV);		/* si_signo */
	synth_put(s, pr + 12, 2, SIGSEGV);	/* pr_cursig */
	synth_put(s, pr + pid_off, 4, (uint32_t)tid);
	for (size_t i = 0; i < nregs; i++)
		synth_put(s, pr + reg_off + regs[i][0], regsz, regs[i][1]);
	synth_note(s, "CORE", NT_PRSTATUS, pr, size);
	free(pr);
}

static void test_syscall_i386(void)
{
	/* ebx ecx edx esi edi ebp orig_eax eip esp, at their user_regs_struct offsets. */
	static const uint64_t in_call[][2] = {
		{ 0, 1 }, { 4, 0x8000 }, { 8, 5 }, { 44, 4 }, { 48, 0x8048100 }, { 60, 0xffffd000 },
	};
	static const uint64_t no_call[][2] = {
		{ 44, 0xffffffff }, { 48, 0x8048200 }, { 60, 0xffffc000 },
	};
	struct fixture f;
	char *s;

	synth_init(&f.s, ELFCLASS32, ELFDATA2LSB, EM_386);
	synth_load(&f.s, 0x8048000, 0x1000, 0x1000, PF_R | PF_X);
	put_prstatus(&f.s, 144, 24, 72, 100, in_call, 6, 4);
	put_prstatus(&f.s, 144, 24, 72, 101, no_call, 3, 4);
	if (!fixture_open(&f))
		goto out;
	CHECK(has_syscall(&f.v));
	s = render(render_syscall, &f.v, &f.c->threads[0]);
	if (s)
		CHECK_STR(s, "4 0x1 0x8000 0x5 0x0 0x0 0x0 0xffffd000 0x8048100\n");
	free(s);
	s = render(render_syscall, &f.v, &f.c->threads[1]);
	if (s)
		CHECK_STR(s, "-1 0xffffc000 0x8048200\n");
	free(s);
out:
	fixture_close(&f);
}

/* aarch64: the number is in NT_ARM_SYSTEM_CALL; without it the file is absent. */
static void test_syscall_aarch64(void)
{
	static const uint64_t regs[][2] = {
		{ 0, 3 }, { 8, 0x4000 }, { 16, 64 }, { 248, 0xfffffffff000 }, { 256, 0x400800 },
	};
	unsigned char nr[4];
	struct fixture f;
	struct fsref ref;
	char *s;

	for (int with_note = 1; with_note >= 0; with_note--) {
		synth_init(&f.s, ELFCLASS64, ELFDATA2LSB, EM_AARCH64);
		synth_load(&f.s, 0x400000, 0x1000, 0x1000, PF_R | PF_X);
		put_prstatus(&f.s, 392, 32, 112, 200, regs, 5, 8);
		synth_put(&f.s, nr, 4, 63);	/* read */
		if (with_note)
			synth_note(&f.s, "LINUX", 0x404, nr, sizeof(nr));
		if (!fixture_open(&f)) {
			fixture_close(&f);
			continue;
		}
		CHECK(has_syscall(&f.v) == with_note);
		if (with_note) {
			s = render(render_syscall, &f.v, &f.c->threads[0]);
			if (s)
				CHECK_STR(s, "63 0x3 0x4000 0x40 0x0 0x0 0x0 0xfffffffff000 "
					     "0x400800\n");
			free(s);
			CHECK_I64(node_resolve(&f.v, "task/200/syscall", &ref), 0);
		} else {
			CHECK_I64(node_resolve(&f.v, "syscall", &ref), -ENOENT);
			CHECK_I64(node_resolve(&f.v, "task/200/syscall", &ref), -ENOENT);
			CHECK_I64(node_resolve(&f.v, "task/200/stat", &ref), 0);
		}
		fixture_close(&f);
	}
}

int main(void)
{
#ifdef SYNTH_X86_64
	RUN(test_stat);
	RUN(test_status_statm);
	RUN(test_smaps_limits);
	RUN(test_syscall_x86_64);
	RUN(test_root_files);
#else
	printf("skipped: the x86_64 process tests need an x86_64 host\n");
#endif
	RUN(test_syscall_i386);
	RUN(test_syscall_aarch64);
	return unit_summary("test_render_proc");
}
