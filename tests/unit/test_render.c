/* tests/unit/test_render.c — the renderers (fs/render.c) and the node table (fs/nodes.c) on
 * synthetic cores, without FUSE.
 *
 * maps byte for byte as fs/proc/task_mmu.c prints it (path at column 73 on 64-bit, a trailing
 * space when there is no name, %08x minimum widths); regs in gdb's order and widths; cmdline
 * from pr_psargs; comm, exe, auxv; core.json parsed back with cJSON. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>

#include "../../fs/nodes.h"
#include "../../fs/render.h"
#include "synth.h"
#include "unit.h"

/* A core and its view, opened from a synthetic file. */
struct fixture {
	struct synth s;
	struct core *c;
	struct process v;
	bool has_view;
};

static bool fixture_open(struct fixture *f)
{
	struct core_error err = { 0 };
	int r;

	f->c = NULL;
	f->has_view = false;
	if (!CHECK(synth_write(&f->s) == 0))
		return false;
	if (core_open(f->s.path, &f->c, &err) < 0) {
		unit_report(false, __FILE__, __LINE__, "core_open(%s): %s", f->s.path, err.msg);
		return false;
	}
	r = process_init(&f->v, f->c, NULL, false);
	if (!CHECK_I64(r, 0))
		return false;
	f->has_view = true;
	return true;
}

static void fixture_close(struct fixture *f)
{
	if (f->has_view)
		process_free(&f->v);
	core_close(f->c);
	synth_free(&f->s);
}

/* Render into a NUL-terminated string (the caller frees); NULL when the renderer failed. */
static char *render(render_fn fn, const struct process *v, const struct core_thread *t, int *ret,
		    size_t *len)
{
	struct buf b = { 0 };
	char *s;

	*ret = fn(v, t, &b);
	if (*ret < 0 || buf_failed(&b)) {
		buf_free(&b);
		return NULL;
	}
	s = buf_steal(&b, len);
	return s;
}

static char *render_ok(render_fn fn, const struct process *v, const struct core_thread *t, size_t *len)
{
	int r;
	size_t n;
	char *s = render(fn, v, t, &r, len ? len : &n);

	CHECK_I64(r, 0);
	CHECK(s != NULL);
	return s;
}

#ifdef SYNTH_X86_64

/* The standard process with two more anonymous mappings: one low (for %08x widths) and one
 * that nothing names, written last (out of address order, as no kernel would). */
enum { FIX_LOW, FIX_HEAP = 1 + STD_HEAP, FIX_UNNAMED = 1 + STD_NSEGS };

static void std_fixture(struct fixture *f)
{
	synth_init(&f->s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_load(&f->s, 0x10000, 0x1000, 0x1000, PF_R);
	synth_std_segments(&f->s);
	synth_load(&f->s, 0x7ffff7ff0000, 0x2000, 0x2000, PF_R | PF_W);
	synth_std_notes(&f->s);
}

/* One maps line as the kernel prints it: the prefix, then, when there is a name, spaces up to
 * column 72 and one more before the name. */
static void expect_line(char *out, size_t outsz, const char *prefix, const char *name)
{
	if (name)
		snprintf(out, outsz, "%-72s %s\n", prefix, name);
	else
		snprintf(out, outsz, "%s\n", prefix);
}

static void test_maps(void)
{
	struct fixture f;
	char *maps, *line, *save = NULL, expect[8][160];
	size_t n = 0;
	static const char *const prefixes[] = {
		"00010000-00011000 r--p 00000000 00:00 0 ",
		"00400000-00401000 r--p 00000000 00:00 0 ",
		"00401000-00402000 r-xp 00001000 00:00 0 ",
		"00402000-00404000 rw-p 00002000 00:00 0 ",
		"00600000-00621000 rw-p 00000000 00:00 0 ",
		"7f0000000000-7f0000001000 r--p 00000000 00:00 0 ",
		"7ffff7ff0000-7ffff7ff2000 rw-p 00000000 00:00 0 ",
		"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 ",
	};
	static const char *const names[] = {
		NULL, SYNTH_EXE, SYNTH_EXE, SYNTH_EXE, "[heap]", SYNTH_LIB, NULL, "[stack]",
	};

	std_fixture(&f);
	if (!fixture_open(&f))
		goto out;
	maps = render_ok(render_maps, &f.v, NULL, NULL);
	if (!maps)
		goto out;
	for (size_t i = 0; i < 8; i++)
		expect_line(expect[i], sizeof(expect[i]), prefixes[i], names[i]);
	for (line = strtok_r(maps, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
		char got[200];

		if (!CHECK(n < 8))
			break;
		snprintf(got, sizeof(got), "%s\n", line);
		CHECK_STR(got, expect[n]);
		if (names[n]) {
			/* The path starts at byte 73, after spaces. */
			CHECK(strlen(line) > 73 && !strcmp(line + 73, names[n]));
			CHECK(line[72] == ' ' && line[strlen(prefixes[n])] == ' ');
		} else {
			/* No name: the line ends with the space after the inode. */
			CHECK(line[strlen(line) - 1] == ' ');
		}
	}
	CHECK_U64(n, 8);
	free(maps);
out:
	fixture_close(&f);
}

static void test_regs(void)
{
	struct fixture f;
	char *regs;
	int r;
	size_t len, lines = 0;

	synth_std_process(&f.s);
	if (!fixture_open(&f))
		goto out;
	regs = render_ok(render_regs, &f.v, &f.c->threads[0], &len);
	if (regs) {
		for (size_t i = 0; i < len; i++)
			lines += regs[i] == '\n';
		CHECK_U64(lines, 27);
		/* gdb's order: rax rbx rcx ... r15 rip eflags cs ss ds es fs gs fs_base gs_base orig_rax. */
		CHECK(!strncmp(regs, "rax 0x1111111111111111\nrbx 0x2222\nrcx 0x3333\nrdx 0x0\n", 53));
		CHECK_CONTAINS(regs, "\nr15 0xf15\nrip 0x401234\neflags 0x246\ncs 0x33\nss 0x0\n");
		CHECK_CONTAINS(regs, "\nrsp 0x7fffffffd000\n");
		CHECK_CONTAINS(regs, "\nfs_base 0x7f0000000740\ngs_base 0x0\norig_rax 0xffffffffffffffff\n");
		CHECK(len > 0 && regs[len - 1] == '\n');
	}
	free(regs);
	CHECK(render(render_regs, &f.v, NULL, &r, &len) == NULL);
	CHECK_I64(r, -ENOENT);
out:
	fixture_close(&f);
}

/* cmdline from pr_psargs: spaces become NULs, the trailing space the kernel leaves goes. */
static void check_cmdline(const char *psargs, const char *expect, size_t expect_len)
{
	struct fixture f;
	struct user_regs_struct regs = synth_regs(0);
	char *s;
	size_t len;

	synth_init(&f.s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_std_segments(&f.s);
	synth_prstatus(&f.s, SYNTH_PID, SIGSEGV, &regs);
	if (psargs)
		synth_prpsinfo(&f.s, SYNTH_PID, "cmd", psargs);
	if (!fixture_open(&f))
		goto out;
	s = render_ok(render_cmdline, &f.v, NULL, &len);
	if (s && CHECK_U64(len, expect_len))
		CHECK_MEM(s, expect, len);
	free(s);
out:
	fixture_close(&f);
}

static void test_cmdline(void)
{
	static const char eighty[] =
		"/usr/bin/prog aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	char expect[81];

	check_cmdline("./synthetic-program --flag value ", "./synthetic-program\0--flag\0value", 33);
	check_cmdline("/bin/sleep 100", "/bin/sleep\0" "100", 15);
	check_cmdline("single", "single", 7);
	check_cmdline("", "", 0);
	check_cmdline(NULL, "", 0);
	/* pr_psargs full (80 bytes, no NUL in the core). */
	_Static_assert(sizeof(eighty) == 81, "80 characters");
	memcpy(expect, eighty, 81);
	for (size_t i = 0; i < 80; i++)
		if (expect[i] == ' ')
			expect[i] = '\0';
	check_cmdline(eighty, expect, 81);
}

static void test_comm_exe_auxv(void)
{
	struct fixture f;
	char *s;
	size_t len;
	int r;

	synth_std_process(&f.s);
	if (!fixture_open(&f))
		goto out;
	s = render_ok(render_comm, &f.v, NULL, &len);
	CHECK_STR(s, "synthetic-progr\n");
	free(s);
	s = render_ok(render_exe, &f.v, NULL, &len);
	CHECK_STR(s, SYNTH_EXE);
	free(s);
	/* auxv: the saved bytes, AT_NULL pair included. */
	s = render_ok(render_auxv, &f.v, NULL, &len);
	if (s && CHECK_U64(len, 7 * 16))
		CHECK_MEM(s, f.c->auxv_raw, len);
	if (s && len >= 16) {
		CHECK_U64(core_get(f.c, (unsigned char *)s, 8), AT_PHDR);
		CHECK_MEM(s + len - 16, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	}
	free(s);
	fixture_close(&f);

	/* No NT_PRPSINFO: comm from the executable's name, cut to 15 bytes.  No NT_FILE: no exe. */
	synth_init(&f.s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_std_segments(&f.s);
	synth_std_auxv(&f.s);
	synth_std_nt_file(&f.s);
	if (fixture_open(&f)) {
		s = render_ok(render_comm, &f.v, NULL, &len);
		CHECK_STR(s, "synthetic-progr\n");
		free(s);
	}
	fixture_close(&f);
	synth_init(&f.s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_std_segments(&f.s);
	synth_std_auxv(&f.s);
	if (fixture_open(&f)) {
		CHECK(render(render_exe, &f.v, NULL, &r, &len) == NULL);
		CHECK_I64(r, -ENOENT);
		s = render_ok(render_comm, &f.v, NULL, &len);
		CHECK_STR(s, "\n");
		free(s);
	}
out:
	fixture_close(&f);
}

/* --- core.json ------------------------------------------------------------------------------ */

static const cJSON *get(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	unit_report(v != NULL, __FILE__, __LINE__, "core.json has no \"%s\"", key);
	return v;
}

static bool is_str(const cJSON *v, const char *s)
{
	return cJSON_IsString(v) && !strcmp(v->valuestring, s);
}

static bool is_num(const cJSON *v, double d)
{
	return cJSON_IsNumber(v) && v->valuedouble == d;
}

static void test_core_json(void)
{
	struct fixture f;
	char *text;
	cJSON *j;
	const cJSON *x, *t;
	static const char *const top[] = {
		"core", "file_size", "format", "arch", "machine", "os", "producer", "pid", "comm",
		"exe", "cmdline", "cmdline_source", "process", "signal", "threads", "mappings",
		"files", "auxv", "notes", "problems",
	};

	std_fixture(&f);
	/* The heap cut short: the model says so, and so must core.json. */
	f.s.segs[FIX_HEAP].fixed_offset = true;
	f.s.segs[FIX_HEAP].offset = UINT64_C(1) << 44;
	if (!fixture_open(&f))
		goto out;
	text = render_ok(render_core_json, &f.v, NULL, NULL);
	if (!text)
		goto out;
	j = cJSON_Parse(text);
	if (!CHECK(cJSON_IsObject(j)))
		goto done;
	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
		get(j, top[i]);
	CHECK(is_str(get(j, "core"), f.s.path));
	CHECK(is_num(get(j, "file_size"), (double)f.s.file_size));
	CHECK(is_str(get(j, "format"), "elf64-little"));
	CHECK(is_str(get(j, "arch"), "x86_64"));
	CHECK(is_num(get(j, "machine"), EM_X86_64));
	CHECK(is_str(get(j, "os"), "linux"));
	CHECK(is_str(get(j, "producer"), "kernel"));
	CHECK(is_num(get(j, "pid"), SYNTH_PID));
	CHECK(is_str(get(j, "comm"), "synthetic-progr"));
	CHECK(is_str(get(j, "exe"), SYNTH_EXE));
	x = get(j, "cmdline");
	CHECK(cJSON_GetArraySize(x) == 3 && is_str(cJSON_GetArrayItem(x, 2), "value"));
	CHECK(is_str(get(j, "cmdline_source"), "psargs"));
	x = get(j, "process");
	CHECK(is_num(get(x, "uid"), 1000) && is_str(get(x, "state"), "R") &&
	      is_str(get(x, "fname"), "synthetic-progr"));
	x = get(j, "signal");
	CHECK(is_num(get(x, "number"), SIGSEGV) && is_str(get(x, "name"), "SIGSEGV"));
	CHECK(is_num(get(x, "code"), SEGV_MAPERR) && is_str(get(x, "addr"), "0x10"));

	x = get(j, "threads");
	if (CHECK(cJSON_GetArraySize(x) == 1)) {
		t = cJSON_GetArrayItem(x, 0);
		CHECK(is_num(get(t, "tid"), SYNTH_PID));
		CHECK(is_str(get(t, "name"), "synthetic-progr"));
		CHECK(is_str(get(t, "pc"), "0x401234"));
		CHECK(is_str(get(t, "sp"), "0x7fffffffd000"));
		CHECK(cJSON_GetArraySize(get(t, "regs")) == 27);
		CHECK(is_str(get(get(t, "regs"), "eflags"), "0x246"));
		CHECK(cJSON_GetArraySize(get(t, "regsets")) == 1);
		CHECK(is_str(get(cJSON_GetArrayItem(get(t, "regsets"), 0), "note"), "NT_FPREGSET"));
	}

	x = get(j, "mappings");
	if (CHECK(cJSON_GetArraySize(x) == 8)) {
		const cJSON *m = cJSON_GetArrayItem(x, 1), *heap = cJSON_GetArrayItem(x, 4);

		CHECK(is_str(get(m, "start"), "0x400000") && is_str(get(m, "end"), "0x401000"));
		CHECK(is_str(get(m, "perms"), "r--p") && is_str(get(m, "offset"), "0x0"));
		CHECK(is_str(get(m, "path"), SYNTH_EXE) && is_num(get(m, "in_core_bytes"), 0x1000));
		CHECK(cJSON_IsNull(get(cJSON_GetArrayItem(x, 0), "path")));
		CHECK(is_num(get(heap, "in_core_bytes"), 0));
		CHECK(is_num(get(heap, "truncated_bytes"), 0x21000));
	}
	x = get(j, "files");
	if (CHECK(cJSON_GetArraySize(x) == 2)) {
		CHECK(is_str(get(cJSON_GetArrayItem(x, 0), "path"), SYNTH_EXE));
		CHECK(is_str(get(cJSON_GetArrayItem(x, 0), "status"), "missing"));
	}
	x = get(j, "auxv");
	if (CHECK(cJSON_GetArraySize(x) == 7)) {
		CHECK(is_str(get(cJSON_GetArrayItem(x, 0), "name"), "AT_PHDR"));
		CHECK(is_str(get(cJSON_GetArrayItem(x, 0), "value"), "0x400040"));
		CHECK(is_num(get(cJSON_GetArrayItem(x, 6), "type"), AT_NULL));
	}
	x = get(j, "notes");
	if (CHECK(cJSON_GetArraySize(x) == 6))
		CHECK(is_str(get(cJSON_GetArrayItem(x, 4), "type"), "NT_FILE"));
	/* The core's own problem, then one sentence per mapped file this machine lacks. */
	x = get(j, "problems");
	if (CHECK(cJSON_GetArraySize(x) == 3 && cJSON_IsString(cJSON_GetArrayItem(x, 0)) &&
		  cJSON_IsString(cJSON_GetArrayItem(x, 1)) && cJSON_IsString(cJSON_GetArrayItem(x, 2)))) {
		CHECK_CONTAINS(cJSON_GetArrayItem(x, 0)->valuestring, "truncated: 1 of 8 segments");
		CHECK_STR(cJSON_GetArrayItem(x, 1)->valuestring, "missing: mapped file " SYNTH_EXE
			  " (" SYNTH_EXE ": No such file or directory)");
		CHECK_STR(cJSON_GetArrayItem(x, 2)->valuestring, "missing: mapped file " SYNTH_LIB
			  " (" SYNTH_LIB ": No such file or directory)");
	}
done:
	cJSON_Delete(j);
	free(text);
out:
	fixture_close(&f);
}

/* --- the node table ------------------------------------------------------------------------- */

/* The root's children as "/a/b/c/"; returns 1 when no name came twice. */
static int root_listing(const struct process *v, char *out, size_t outsz)
{
	struct fsref ref;
	char name[32], slashed[40];
	int unique = 1;

	snprintf(out, outsz, "/");
	for (size_t n = 0; node_child(v, (struct fsref){ N_ROOT, -1 }, n, &ref, name, sizeof(name)); n++) {
		snprintf(slashed, sizeof(slashed), "/%s/", name);
		if (strstr(out, slashed))
			unique = 0;
		strncat(out, name, outsz - strlen(out) - 2);
		strcat(out, "/");
	}
	return unique;
}

static void test_nodes(void)
{
	struct fixture f;
	struct fsref ref;
	char name[32], listing[512];

	synth_std_process(&f.s);
	if (!fixture_open(&f))
		goto out;
	CHECK_I64(node_resolve(&f.v, "maps", &ref), 0);
	CHECK(ref.node == N_MAPS && ref.thread == -1);
	CHECK_I64(node_resolve(&f.v, "task/4242/regs", &ref), 0);
	CHECK(ref.node == N_TID_REGS && ref.thread == 0);
	CHECK_I64(node_resolve(&f.v, "./task/4242", &ref), 0);
	CHECK(ref.node == N_TID);
	CHECK_I64(node_resolve(&f.v, "task/4243/regs", &ref), -ENOENT);
	CHECK_I64(node_resolve(&f.v, "task/04242", &ref), -ENOENT);
	CHECK_I64(node_resolve(&f.v, "task/+4242", &ref), -ENOENT);
	CHECK_I64(node_resolve(&f.v, "maps/x", &ref), -ENOTDIR);
	CHECK_I64(node_resolve(&f.v, "nosuch", &ref), -ENOENT);
	/* The root lists each file once, these among them; task lists the threads by tid. */
	CHECK_U64(root_listing(&f.v, listing, sizeof(listing)), 1);
	CHECK_CONTAINS(listing, "/auxv/cmdline/comm/control/core.json/");
	CHECK_CONTAINS(listing, "/core.json/cwd/environ/exe/fd/io/limits/maps/mem/");
	CHECK_CONTAINS(listing, "/personality/root/smaps/");
	CHECK_CONTAINS(listing, "/stat/statm/status/syscall/wchan/");
	CHECK_CONTAINS(listing, "/task/");
	CHECK(node_child(&f.v, (struct fsref){ N_TASK, -1 }, 0, &ref, name, sizeof(name)));
	CHECK_STR(name, "4242");
	CHECK(!node_child(&f.v, (struct fsref){ N_TASK, -1 }, 1, &ref, name, sizeof(name)));
	fixture_close(&f);

	/* No NT_FILE: no exe link, in lookup and in the listing; no thread, so no syscall. */
	synth_init(&f.s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_std_segments(&f.s);
	if (fixture_open(&f)) {
		char without[512];

		CHECK_I64(node_resolve(&f.v, "exe", &ref), -ENOENT);
		CHECK_U64(root_listing(&f.v, without, sizeof(without)), 1);
		CHECK(strstr(without, "/exe/") == NULL);
		CHECK(strstr(without, "/syscall/") == NULL);
		/* Everything else is still there. */
		for (const char *const *gone = (const char *const[]){ "/exe/", "/syscall/", NULL };
		     *gone; gone++) {
			char *e = strstr(listing, *gone);

			if (e)
				memmove(e, e + strlen(*gone) - 1, strlen(e + strlen(*gone) - 1) + 1);
		}
		CHECK_STR(without, listing);
	}
out:
	fixture_close(&f);
}

#endif /* SYNTH_X86_64 */

/* A machine without a register layout: regs is empty, core.json still parses. */
static void test_generic_machine(void)
{
	struct fixture f;
	unsigned char prstatus[72 + 64] = { 0 };
	char *s;
	size_t len;
	cJSON *j;

	synth_init(&f.s, ELFCLASS32, ELFDATA2MSB, SYNTH_EM_NONESUCH);
	synth_load(&f.s, 0x10000000, 0x1000, 0x1000, PF_R | PF_X);
	synth_put(&f.s, prstatus + 24, 4, 99);
	synth_note(&f.s, "CORE", NT_PRSTATUS, prstatus, sizeof(prstatus));
	if (!fixture_open(&f))
		goto out;
	s = render_ok(render_regs, &f.v, &f.c->threads[0], &len);
	CHECK_U64(len, 0);
	free(s);
	s = render_ok(render_maps, &f.v, NULL, &len);
	CHECK_STR(s, "10000000-10001000 r-xp 00000000 00:00 0 \n");
	free(s);
	s = render_ok(render_core_json, &f.v, NULL, &len);
	j = s ? cJSON_Parse(s) : NULL;
	if (CHECK(cJSON_IsObject(j))) {
		CHECK(is_str(get(j, "format"), "elf32-big"));
		CHECK(is_str(get(j, "arch"), "unknown"));
		CHECK(cJSON_IsNull(get(j, "exe")) && cJSON_IsNull(get(j, "process")));
		CHECK(cJSON_GetArraySize(get(j, "cmdline")) == 0);
	}
	cJSON_Delete(j);
	free(s);
out:
	fixture_close(&f);
}

int main(void)
{
#ifdef SYNTH_X86_64
	RUN(test_maps);
	RUN(test_regs);
	RUN(test_cmdline);
	RUN(test_comm_exe_auxv);
	RUN(test_core_json);
	RUN(test_nodes);
#else
	printf("skipped: the x86_64 process tests need an x86_64 host\n");
#endif
	RUN(test_generic_machine);
	return unit_summary("test_render");
}
