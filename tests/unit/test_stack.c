/* tests/unit/test_stack.c — the parts of the backtraces that can be checked without a crash:
 * the .eh_frame search table (formats/ehframe.c) against the one the linker wrote into this
 * very program's .eh_frame_hdr; the choice of a symbol (formats/symbols.c) for addresses of
 * this program's own functions; and task/<tid>/stack, modules and core.json's stacks on
 * synthetic cores, which have no loaded object. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <link.h>

#include "../../formats/ehframe.h"
#include "../../formats/symbols.h"
#include "../../fs/render.h"
#include "synth.h"
#include "unit.h"

/* Functions with known names and one address under three names: a global one, a weak alias and
 * a local alias (elfutils' rule, followed by symbols.c: the global name wins). */
__attribute__((noipa)) int unit_stack_global(int x);
__attribute__((noipa)) int unit_stack_global(int x)
{
	return x * 3 + 1;
}

extern int unit_stack_weak(int x) __attribute__((weak, alias("unit_stack_global")));
static int unit_stack_local(int x) __attribute__((alias("unit_stack_global"), used));

__attribute__((noipa)) static int unit_stack_static(int x)
{
	return unit_stack_global(x) + 2;
}

struct pair {
	uint64_t pc, fde;
};

static int cmp_pair(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	return x->pc < y->pc ? -1 : x->pc > y->pc ? 1 : x->fde < y->fde ? -1 : x->fde > y->fde;
}

/* The (initial location, FDE address) pairs of this program's .eh_frame_hdr, link-time. */
static struct pair *linker_table(size_t *n)
{
	int fd = open("/proc/self/exe", O_RDONLY);
	Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	struct pair *out = NULL;

	*n = 0;
	if (!CHECK(elf && elf_getshdrstrndx(elf, &shstrndx) == 0))
		goto done;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		const unsigned char *p;
		uint32_t count;

		if (!gelf_getshdr(scn, &sh) ||
		    strcmp(elf_strptr(elf, shstrndx, sh.sh_name), ".eh_frame_hdr"))
			continue;
		d = elf_rawdata(scn, NULL);
		p = d->d_buf;
		/* version 1, eh_frame_ptr pcrel|sdata4, fde_count udata4, table datarel|sdata4 */
		if (!CHECK(d->d_size >= 12 && p[0] == 1 && p[1] == 0x1b && p[2] == 0x03 &&
			   p[3] == 0x3b))
			break;
		memcpy(&count, p + 8, 4);
		if (!CHECK(12 + (size_t)count * 8 <= d->d_size))
			break;
		out = calloc(count, sizeof(*out));
		for (uint32_t i = 0; i < count; i++) {
			int32_t e[2];

			memcpy(e, p + 12 + 8 * i, 8);
			out[i] = (struct pair){ sh.sh_addr + (int64_t)e[0],
						sh.sh_addr + (int64_t)e[1] };
		}
		*n = count;
	}
done:
	if (elf)
		elf_end(elf);
	close(fd);
	return out;
}

static void test_eh_index_is_the_linkers_table(void)
{
	size_t n;
	struct pair *linker = linker_table(&n), *ours;
	struct eh_index idx;

	if (!CHECK(linker && n > 10))
		return;
	if (!CHECK(eh_index_build("/proc/self/exe", 0, 8, &idx))) {
		free(linker);
		return;
	}
	CHECK_U64(idx.count, n);
	ours = calloc(idx.count, sizeof(*ours));
	for (size_t i = 0; i < idx.count; i++) {
		int32_t e[2];

		memcpy(e, idx.table + 8 * i, 8);
		ours[i] = (struct pair){ idx.segbase + (int64_t)e[0], idx.segbase + (int64_t)e[1] };
		/* sorted by initial location, as the binary search needs */
		CHECK(i == 0 || ours[i - 1].pc <= ours[i].pc);
	}
	qsort(linker, n, sizeof(*linker), cmp_pair);
	qsort(ours, idx.count, sizeof(*ours), cmp_pair);
	CHECK(idx.count == n && !memcmp(linker, ours, n * sizeof(*ours)));
	free(ours);
	free(linker);
	eh_index_free(&idx);
	CHECK(!eh_index_build("/nonexistent/file", 0, 8, &idx));
	CHECK(idx.table == NULL && idx.count == 0);
}

static int main_bias(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	*(uint64_t *)data = info->dlpi_addr;
	return 1;	/* the first object is the program */
}

static void test_symbols_of_this_program(void)
{
	struct disk_file disk = { .path = "/proc/self/exe", .disk_path = "/proc/self/exe",
				  .status = DISK_SAME };
	struct module m = { .name = "self", .kind = MODULE_EXE, .disk = &disk };
	struct modules mods = { &m, 1, NULL };
	struct symbols s;
	uint64_t at = 0, global = (uint64_t)(uintptr_t)unit_stack_global;
	uint64_t stat = (uint64_t)(uintptr_t)unit_stack_static;
	const char *name;

	dl_iterate_phdr(main_bias, &m.bias);
	if (!CHECK(symbols_init(&s, &mods, NULL) == 0))
		return;
	CHECK_STR(symbols_source(&s, &m), "symtab");
	/* One address, three names: the global one. */
	name = symbols_lookup(&s, &m, global + 1, &at);
	CHECK_STR(name, "unit_stack_global");
	CHECK_U64(at, global);
	name = symbols_lookup(&s, &m, stat, &at);
	CHECK_STR(name, "unit_stack_static");
	CHECK_U64(at, stat);
	CHECK_I64(unit_stack_static(1) + unit_stack_weak(1) + unit_stack_local(1), 14);
	/* The ELF header is no function. */
	CHECK(symbols_lookup(&s, &m, m.bias, &at) == NULL);
	symbols_free(&s);

	/* A file that is not the mapped one gives no names. */
	disk.status = DISK_DIFFERENT;
	if (!CHECK(symbols_init(&s, &mods, NULL) == 0))
		return;
	CHECK(symbols_lookup(&s, &m, global, &at) == NULL);
	CHECK(symbols_source(&s, &m) == NULL);
	symbols_free(&s);
}

struct fixture {
	struct synth s;
	struct core *c;
	struct process v;
};

static bool fixture_open(struct fixture *f)
{
	static const struct file_lookup nowhere = { .sysroot = "/nonexistent-sysroot" };
	struct core_error err = { 0 };

	if (!CHECK(synth_write(&f->s) == 0))
		return false;
	if (core_open(f->s.path, &f->c, &err) < 0) {
		unit_report(false, __FILE__, __LINE__, "core_open(%s): %s", f->s.path, err.msg);
		return false;
	}
	return CHECK_I64(process_init(&f->v, f->c, &nowhere, true), 0);
}

static void fixture_close(struct fixture *f)
{
	process_free(&f->v);
	core_close(f->c);
	synth_free(&f->s);
}

static char *render_ok(render_fn fn, const struct process *v, const struct core_thread *t)
{
	struct buf b = { 0 };
	size_t len;

	CHECK_I64(fn(v, t, &b), 0);
	return buf_steal(&b, &len);
}

#ifdef SYNTH_X86_64
/* No ELF header anywhere in the core and no file: no module; frame #0 is the thread's pc,
 * unnamed, and whatever libunwind finds after it lies in no object either. */
static void test_stack_without_objects(void)
{
	struct fixture f;
	char *stack, *modules, *json, expect[64];
	cJSON *root, *t, *frames;

	struct user_regs_struct r = synth_regs(0);

	synth_init(&f.s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_std_segments(&f.s);
	synth_prstatus(&f.s, SYNTH_PID, SIGSEGV, &r);
	synth_std_auxv(&f.s);
	synth_std_nt_file(&f.s);
	if (!fixture_open(&f))
		goto out;
	stack = render_ok(render_stack, &f.v, &f.c->threads[0]);
	snprintf(expect, sizeof(expect), "#0 0x%llx ?" "? (?" "?)\n",
		 (unsigned long long)synth_regs(0).rip);
	CHECK(stack && !strncmp(stack, expect, strlen(expect)));
	modules = render_ok(render_modules, &f.v, NULL);
	CHECK_STR(modules, "");
	json = render_ok(render_core_json, &f.v, NULL);
	root = cJSON_Parse(json);
	t = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "threads"), 0);
	frames = cJSON_GetObjectItem(t, "stack");
	CHECK(cJSON_GetArraySize(frames) >= 1);
	CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(frames, 0), "pc")->valuestring,
		  cJSON_GetObjectItem(t, "pc")->valuestring);
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(frames, 0), "symbol")));
	CHECK(cJSON_IsString(cJSON_GetObjectItem(t, "stack_end")));
	CHECK_U64(cJSON_GetArraySize(cJSON_GetObjectItem(root, "modules")), 0);
	/* The same bytes on a second rendering: the stacks are kept, not unwound again. */
	free(json);
	json = render_ok(render_stack, &f.v, &f.c->threads[0]);
	CHECK_STR(json, stack);
	cJSON_Delete(root);
	free(json);
	free(stack);
	free(modules);
	fixture_close(&f);
	return;
out:
	synth_free(&f.s);
}
#endif

/* A machine corefs knows no registers of: no pc, no frame, and core.json says why. */
static void test_stack_generic_machine(void)
{
	struct fixture f;
	char *stack, *json;
	cJSON *root, *t;

	synth_init(&f.s, ELFCLASS64, ELFDATA2LSB, SYNTH_EM_NONESUCH);
	synth_load(&f.s, 0x10000, 0x1000, 0x1000, PF_R);
	synth_note(&f.s, "CORE", NT_PRSTATUS, (unsigned char[400]){ 0 }, 400);
	if (!fixture_open(&f)) {
		synth_free(&f.s);
		return;
	}
	if (CHECK(f.c->nthreads == 1)) {
		stack = render_ok(render_stack, &f.v, &f.c->threads[0]);
		CHECK_STR(stack, "");
		free(stack);
		json = render_ok(render_core_json, &f.v, NULL);
		root = cJSON_Parse(json);
		t = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "threads"), 0);
		CHECK_U64(cJSON_GetArraySize(cJSON_GetObjectItem(t, "stack")), 0);
		CHECK_STR(cJSON_GetObjectItem(t, "stack_end")->valuestring,
			  "the core holds no registers for this thread");
		cJSON_Delete(root);
		free(json);
	}
	CHECK_I64(render_stack(&f.v, NULL, &(struct buf){ 0 }), -ENOENT);
	fixture_close(&f);
}

int main(void)
{
	elf_version(EV_CURRENT);
	RUN(test_eh_index_is_the_linkers_table);
	RUN(test_symbols_of_this_program);
#ifdef SYNTH_X86_64
	RUN(test_stack_without_objects);
#endif
	RUN(test_stack_generic_machine);
	return unit_summary("test_stack");
}
