/* fs/render_stack.c — task/<tid>/stack, modules, and their parts of core.json.
 *
 *   stack     one frame a line, innermost first:  #N 0xPC symbol+0xOFF (module)
 *             "??" for a symbol no table names or a pc in no loaded object; a signal trampoline
 *             ends with " [signal frame]" (the next frame is where the signal struck); a frame
 *             found by a guess, not by a call-frame table or a signal's saved registers, ends
 *             with " [guessed: HOW]" (frame_guess), after any " [signal frame]".
 *   stack     (the top-level one) every thread: "TID N (comm)", its frames as task/N/stack prints
 *             them, a blank line between threads; in the core's note order, which puts the
 *             thread the signal struck first in a kernel core (fill_note_info: the dumping
 *             thread's notes come first) and keeps gdb's order in a gcore core.
 *   modules   one loaded object a line, by address:
 *                 0xSTART-0xEND BUILD-ID@0xADDR STATUS PACKAGE NAME
 *             BUILD-ID is "-" when the object has none; STATUS says whether the file on disk is
 *             the mapped one (modules.h: same, presumed, different, missing, fetched, pending,
 *             core, unchecked); PACKAGE is TYPE:NAME@VERSION from the object's FDO packaging
 *             metadata note (as systemd-coredump names it; "-" without one).
 * The analysis is formats/unwind.c's; these only print it. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "render.h"
#include "render_proc.h"

static const struct backtrace *backtrace_of(const struct process *v, const struct core_thread *t)
{
	return unwinder_thread(v->unwinder, (size_t)(t - v->core->threads));
}

/* How frame k was found when that is a guess, else NULL.  Frame #0 is the thread's registers; a
 * caller is found from its callee's call-frame table, or from a signal trampoline's saved
 * registers, or, when no table covers the callee (FRAME_NO_CFI), by libunwind's frame-pointer
 * rule: a guess, right only when the callee kept a frame pointer. */
static const char *frame_guess(const struct backtrace *bt, size_t k)
{
	const struct frame *callee = k ? &bt->frames[k - 1] : NULL;

	if (!callee || !(callee->flags & FRAME_NO_CFI) || (callee->flags & FRAME_SIGNAL))
		return NULL;
	return "frame pointer";
}

int render_stack(const struct process *v, const struct core_thread *t, struct buf *out)
{
	const struct backtrace *bt;

	if (!t)
		return -ENOENT;
	bt = backtrace_of(v, t);
	if (!bt)
		return -ENOMEM;
	for (size_t k = 0; k < bt->n; k++) {
		const struct frame *f = &bt->frames[k];
		const char *guess = frame_guess(bt, k);

		buf_printf(out, "#%zu 0x%" PRIx64 " ", k, f->pc);
		if (f->symbol)
			buf_printf(out, "%s+0x%" PRIx64, f->symbol, f->offset);
		else
			buf_puts(out, "??");
		buf_printf(out, " (%s)%s", f->module ? f->module->name : "??",
			   f->flags & FRAME_SIGNAL ? " [signal frame]" : "");
		if (guess)
			buf_printf(out, " [guessed: %s]", guess);
		buf_putc(out, '\n');
	}
	return 0;
}

int render_all_stacks(const struct process *v, const struct core_thread *t, struct buf *out)
{
	(void)t;
	for (size_t i = 0; i < v->core->nthreads; i++) {
		const struct core_thread *th = &v->core->threads[i];
		struct buf comm = { 0 };
		int r = render_task_comm(v, th, &comm);

		if (r == 0 && buf_failed(&comm))
			r = -ENOMEM;
		if (r == 0) {
			/* task/N/comm's line, without its newline */
			buf_printf(out, "%sTID %d (%.*s)\n", i ? "\n" : "", th->tid,
				   (int)(comm.len && comm.p[comm.len - 1] == '\n' ? comm.len - 1 :
				   comm.len), comm.p ? comm.p : "");
			r = render_stack(v, th, out);
		}
		buf_free(&comm);
		if (r < 0)
			return r;
	}
	return 0;
}

static void build_id_hex(const struct module *m, char *out)
{
	for (size_t i = 0; i < m->build_id_len; i++)
		sprintf(out + 2 * i, "%02x", m->build_id[i]);
	out[2 * m->build_id_len] = '\0';
}

static cJSON *package_json(const char *text)
{
	cJSON *o = text ? cJSON_Parse(text) : NULL;

	if (o && cJSON_IsObject(o))
		return o;
	cJSON_Delete(o);
	return text ? cJSON_CreateString(text) : cJSON_CreateNull();
}

/* The package column: TYPE:NAME@VERSION from the note's JSON object (each part that is there;
 * blanks and control characters as '_'), "-" without a note naming a package. */
static void put_package(struct buf *out, const char *text)
{
	cJSON *o = text ? cJSON_Parse(text) : NULL;
	static const char *const keys[] = { "type", "name", "version" };
	const char *part[3];

	for (int k = 0; k < 3; k++) {
		const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, keys[k]);

		part[k] = cJSON_IsString(x) && *x->valuestring ? x->valuestring : NULL;
	}
	if (!part[1]) {
		buf_putc(out, '-');
	} else {
		for (int k = 0; k < 3; k++) {
			if (!part[k])
				continue;
			if (k == 2)
				buf_putc(out, '@');
			for (const unsigned char *c = (const unsigned char *)part[k]; *c; c++)
				buf_putc(out, *c <= ' ' || *c == 0x7f ? '_' : (char)*c);
			if (k == 0)
				buf_putc(out, ':');
		}
	}
	cJSON_Delete(o);
}

int render_modules(const struct process *v, const struct core_thread *t, struct buf *out)
{
	const struct modules *mods = unwinder_modules(v->unwinder);

	(void)t;
	if (!mods)
		return -ENOMEM;
	for (size_t i = 0; i < mods->n; i++) {
		const struct module *m = &mods->m[i];
		char id[2 * sizeof(m->build_id) + 1];

		buf_printf(out, "0x%" PRIx64 "-0x%" PRIx64 " ", m->start, m->end);
		if (m->build_id_len) {
			build_id_hex(m, id);
			buf_printf(out, "%s@0x%" PRIx64, id, m->build_id_addr);
		} else {
			buf_putc(out, '-');
		}
		buf_printf(out, " %s ", module_status(mods, m));
		put_package(out, m->package);
		buf_printf(out, " %s\n", m->name);
	}
	return 0;
}

static cJSON *hex(uint64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "0x%" PRIx64, v);
	return cJSON_CreateString(s);
}

static cJSON *json_frame(const struct frame *f)
{
	cJSON *o = cJSON_CreateObject(), *flags = cJSON_CreateArray();

	cJSON_AddItemToObject(o, "pc", hex(f->pc));
	cJSON_AddItemToObject(o, "sp", hex(f->sp));
	if (f->symbol) {
		cJSON_AddStringToObject(o, "symbol", f->symbol);
		cJSON_AddItemToObject(o, "offset", hex(f->offset));
	} else {
		cJSON_AddNullToObject(o, "symbol");
		cJSON_AddNullToObject(o, "offset");
	}
	if (f->module)
		cJSON_AddStringToObject(o, "module", f->module->name);
	else
		cJSON_AddNullToObject(o, "module");
	if (f->flags & FRAME_SIGNAL)
		cJSON_AddItemToArray(flags, cJSON_CreateString("signal"));
	if (f->flags & FRAME_NO_CFI)
		cJSON_AddItemToArray(flags, cJSON_CreateString("no-cfi"));
	cJSON_AddItemToObject(o, "flags", flags);
	return o;
}

void json_add_stack(const struct process *v, const struct core_thread *t, cJSON *thread)
{
	const struct backtrace *bt = backtrace_of(v, t);
	cJSON *frames;

	if (!bt) {
		cJSON_AddNullToObject(thread, "stack");
		return;
	}
	frames = cJSON_CreateArray();
	for (size_t k = 0; k < bt->n; k++)
		cJSON_AddItemToArray(frames, json_frame(&bt->frames[k]));
	cJSON_AddItemToObject(thread, "stack", frames);
	cJSON_AddStringToObject(thread, "stack_end", bt->end);
}

static const char *kind_name(enum module_kind k)
{
	return k == MODULE_EXE ? "exe" : k == MODULE_VDSO ? "vdso" : "library";
}

/* The packaging metadata note as systemd-coredump shows it: its JSON object; the text itself
 * when it is not one (nothing the note says is hidden); null when the object has no note. */
cJSON *json_modules(const struct process *v)
{
	const struct modules *mods = unwinder_modules(v->unwinder);
	cJSON *arr;

	if (!mods)
		return cJSON_CreateNull();
	arr = cJSON_CreateArray();
	for (size_t i = 0; i < mods->n; i++) {
		const struct module *m = &mods->m[i];
		cJSON *o = cJSON_CreateObject();
		const char *syms = unwinder_symbols_source(v->unwinder, m);
		char id[2 * sizeof(m->build_id) + 1];

		cJSON_AddItemToObject(o, "start", hex(m->start));
		cJSON_AddItemToObject(o, "end", hex(m->end));
		cJSON_AddStringToObject(o, "name", m->name);
		cJSON_AddStringToObject(o, "kind", kind_name(m->kind));
		if (m->build_id_len) {
			build_id_hex(m, id);
			cJSON_AddStringToObject(o, "build_id", id);
			cJSON_AddItemToObject(o, "build_id_addr", hex(m->build_id_addr));
		} else {
			cJSON_AddNullToObject(o, "build_id");
			cJSON_AddNullToObject(o, "build_id_addr");
		}
		cJSON_AddStringToObject(o, "file", module_status(mods, m));
		if (syms)
			cJSON_AddStringToObject(o, "symbols", syms);
		else
			cJSON_AddNullToObject(o, "symbols");
		cJSON_AddItemToObject(o, "eh_frame_hdr", m->eh_frame_hdr ? hex(m->eh_frame_hdr) :
								  cJSON_CreateNull());
		cJSON_AddItemToObject(o, "package", package_json(m->package));
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}
