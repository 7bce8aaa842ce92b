/* fs/render.c — renderers: maps, auxv, comm, cmdline, exe, task/<tid>/regs and core.json. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../formats/arch.h"
#include "../formats/remote.h"
#include "../formats/util.h"
#include "render.h"

#define MAPS_NAME_COLUMN 73	/* 25 + sizeof(void *) * 6 - 1, then one space (fs/proc/task_mmu.c) */

void render_vma_header(const struct core_vma *m, struct buf *out)
{
	size_t line = out->len;

	buf_printf(out, "%08" PRIx64 "-%08" PRIx64 " %s %08" PRIx64 " %02x:%02x %" PRIu64 " ",
		   m->start, m->end, m->perms, m->offset, m->dev_major, m->dev_minor, m->ino);
	if (m->name) {
		buf_pad(out, line, MAPS_NAME_COLUMN - 1);
		buf_putc(out, ' ');
		buf_puts(out, m->name);
	}
	buf_putc(out, '\n');
}

int render_maps(const struct process *v, const struct core_thread *t, struct buf *out)
{
	(void)t;
	for (size_t i = 0; i < v->vmas->n; i++)
		render_vma_header(&v->vmas->v[i], out);
	return 0;
}

int render_auxv(const struct process *v, const struct core_thread *t, struct buf *out)
{
	(void)t;
	if (v->core->auxv_raw)
		buf_put(out, v->core->auxv_raw, v->core->auxv_size);
	return 0;
}

/* The command name: pr_fname, else the executable's base name; at most 15 bytes, as the
 * kernel keeps it (gdb's gcore fills all 16 bytes of pr_fname from argv[0]). */
static const char *comm_of(const struct core *c, char *tmp, size_t tmpsz)
{
	const char *exe, *name;

	if (c->psinfo.present && c->psinfo.fname[0]) {
		name = c->psinfo.fname;
	} else {
		exe = core_exe_path(c);
		if (!exe)
			return NULL;
		name = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
	}
	snprintf(tmp, tmpsz, "%.15s", name);
	return tmp;
}

int render_comm(const struct process *v, const struct core_thread *t, struct buf *out)
{
	char tmp[16];
	const char *comm = comm_of(v->core, tmp, sizeof(tmp));

	(void)t;
	buf_printf(out, "%s\n", comm ? comm : "");
	return 0;
}

/* Append memory [start, end) to out; false when a byte of it cannot be read. */
static bool put_memory(const struct process *v, uint64_t start, uint64_t end, struct buf *out)
{
	char chunk[4096];

	while (start < end) {
		size_t want = (size_t)MIN((uint64_t)sizeof(chunk), end - start);
		ssize_t got = memory_read(v->mem, start, chunk, want);

		if (got <= 0)
			return false;
		buf_put(out, chunk, (size_t)got);
		start += (uint64_t)got;
	}
	return true;
}

/* /proc/PID/cmdline from the stack, as fs/proc/base.c get_mm_cmdline() reads it: the bytes of
 * [arg_start, arg_end); when the last one is not a NUL the process rewrote its arguments
 * (setproctitle) and the text runs on into the environment area up to its first NUL. */
static bool cmdline_from_stack(const struct process *v, struct buf *out)
{
	const struct proc_args *a = v->args;
	uint64_t env_end = a->env_end;
	size_t mark = out->len;
	char last;

	if (!a->found || a->arg_end == a->arg_start)
		return false;
	if (a->env_start != a->arg_end || a->env_end < a->env_start)
		env_end = a->arg_end;
	if (memory_read(v->mem, a->arg_end - 1, &last, 1) != 1)
		return false;
	if (!last) {
		if (put_memory(v, a->arg_start, a->arg_end, out))
			return true;
	} else {
		for (uint64_t p = a->arg_start; p < env_end; p++) {
			char ch;

			if (memory_read(v->mem, p, &ch, 1) != 1)
				break;
			buf_putc(out, ch);
			if (!ch)
				return true;
		}
		if (out->len > mark)
			return true;
	}
	out->len = mark;
	return false;
}

/* pr_psargs is argv joined by spaces, cut at 80 bytes; the closing NUL became a trailing space.
 * Argument boundaries inside it are lost: spaces become separators. */
static void cmdline_from_psargs(const struct process *v, struct buf *out)
{
	const char *s = v->core->psinfo.psargs;
	size_t n = strlen(s);

	if (!v->core->psinfo.present)
		return;
	if (n && s[n - 1] == ' ')
		n--;
	for (size_t i = 0; i < n; i++)
		buf_putc(out, s[i] == ' ' ? '\0' : s[i]);
	if (n)
		buf_putc(out, '\0');
}

int render_cmdline(const struct process *v, const struct core_thread *t, struct buf *out)
{
	(void)t;
	if (!cmdline_from_stack(v, out))
		cmdline_from_psargs(v, out);
	return 0;
}

int render_environ(const struct process *v, const struct core_thread *t, struct buf *out)
{
	const struct proc_args *a = v->args;
	size_t mark = out->len;

	(void)t;
	if (a->found && !put_memory(v, a->env_start, a->env_end, out))
		out->len = mark;
	return 0;
}

int render_exe(const struct process *v, const struct core_thread *t, struct buf *out)
{
	const char *exe = core_exe_path(v->core);

	(void)t;
	if (!exe)
		return -ENOENT;
	buf_puts(out, exe);
	return 0;
}

int render_regs(const struct process *v, const struct core_thread *t, struct buf *out)
{
	const struct arch_desc *a = v->core->arch;

	if (!t)
		return -ENOENT;
	for (size_t i = 0; i < a->nregs; i++) {
		uint64_t val;

		if (arch_reg(v->core, t, &a->regs[i], &val))
			buf_printf(out, "%s 0x%" PRIx64 "\n", a->regs[i].name, val);
	}
	if (!a->nregs) {
		if (t->has_pc)
			buf_printf(out, "pc 0x%" PRIx64 "\n", t->pc);
		if (t->has_sp)
			buf_printf(out, "sp 0x%" PRIx64 "\n", t->sp);
	}
	return 0;
}

/* --- core.json ---------------------------------------------------------------------------- */

static cJSON *hex(uint64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "0x%" PRIx64, v);
	return cJSON_CreateString(s);
}

static void add_hex(cJSON *o, const char *key, uint64_t v)
{
	cJSON_AddItemToObject(o, key, hex(v));
}

static void add_str_or_null(cJSON *o, const char *key, const char *s)
{
	if (s)
		cJSON_AddStringToObject(o, key, s);
	else
		cJSON_AddNullToObject(o, key);
}

static const char *os_name(enum core_os os)
{
	return os == CORE_OS_NETBSD ? "netbsd" : os == CORE_OS_MACOS ? "macos" : "linux";
}

static const char *producer_name(enum core_producer p)
{
	return p == CORE_BY_KERNEL ? "kernel" : p == CORE_BY_GDB ? "gdb" : "other";
}

static cJSON *json_signal(const struct core *c)
{
	const struct core_thread *t = c->nthreads ? &c->threads[0] : NULL;
	cJSON *s;

	if (!c->signo)
		return cJSON_CreateNull();
	s = cJSON_CreateObject();
	cJSON_AddNumberToObject(s, "number", c->signo);
	add_str_or_null(s, "name", signal_name(c->arch, c->signo));
	if (t && t->has_siginfo && t->siginfo.signo == c->signo) {
		cJSON_AddNumberToObject(s, "code", t->siginfo.code);
		cJSON_AddNumberToObject(s, "errno", t->siginfo.errnum);
		if (t->siginfo.has_addr)
			add_hex(s, "addr", t->siginfo.addr);
		else
			cJSON_AddNullToObject(s, "addr");
		if (t->siginfo.has_sender) {
			cJSON_AddNumberToObject(s, "sender_pid", t->siginfo.pid);
			cJSON_AddNumberToObject(s, "sender_uid", t->siginfo.uid);
		}
		cJSON_AddNumberToObject(s, "tid", t->tid);
	} else {
		cJSON_AddNullToObject(s, "code");
		cJSON_AddNullToObject(s, "addr");
	}
	return s;
}

static cJSON *json_thread(const struct process *v, const struct core_thread *t)
{
	const struct core *c = v->core;
	const struct arch_desc *a = c->arch;
	cJSON *o = cJSON_CreateObject(), *regs = cJSON_CreateObject(), *sets = cJSON_CreateArray();
	char tmp[16];

	cJSON_AddNumberToObject(o, "tid", t->tid);
	/* Kernel cores keep the command name of the main thread only. */
	add_str_or_null(o, "name", t->tid == c->pid ? comm_of(c, tmp, sizeof(tmp)) : NULL);
	if (t->has_pc)
		add_hex(o, "pc", t->pc);
	else
		cJSON_AddNullToObject(o, "pc");
	if (t->has_sp)
		add_hex(o, "sp", t->sp);
	else
		cJSON_AddNullToObject(o, "sp");
	cJSON_AddNumberToObject(o, "cursig", t->cursig);
	add_hex(o, "sigpend", t->sigpend);
	add_hex(o, "sighold", t->sighold);
	if (t->has_siginfo) {
		cJSON *si = cJSON_CreateObject();

		cJSON_AddNumberToObject(si, "signo", t->siginfo.signo);
		cJSON_AddNumberToObject(si, "code", t->siginfo.code);
		cJSON_AddNumberToObject(si, "errno", t->siginfo.errnum);
		if (t->siginfo.has_addr)
			add_hex(si, "addr", t->siginfo.addr);
		if (t->siginfo.has_sender) {
			cJSON_AddNumberToObject(si, "sender_pid", t->siginfo.pid);
			cJSON_AddNumberToObject(si, "sender_uid", t->siginfo.uid);
		}
		cJSON_AddItemToObject(o, "siginfo", si);
	}
	for (size_t i = 0; i < a->nregs; i++) {
		uint64_t val;

		if (arch_reg(c, t, &a->regs[i], &val))
			add_hex(regs, a->regs[i].name, val);
	}
	cJSON_AddItemToObject(o, "regs", regs);
	for (size_t i = 0; i < t->nregsets; i++) {
		cJSON *r = cJSON_CreateObject();

		cJSON_AddStringToObject(r, "note", t->regsets[i].name);
		cJSON_AddStringToObject(r, "owner", t->regsets[i].owner);
		cJSON_AddNumberToObject(r, "size", (double)t->regsets[i].size);
		cJSON_AddItemToArray(sets, r);
	}
	cJSON_AddItemToObject(o, "regsets", sets);
	json_add_stack(v, t, o);
	return o;
}

static cJSON *json_mappings(const struct process *v)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; i < v->vmas->n; i++) {
		const struct core_vma *m = &v->vmas->v[i];
		cJSON *o = cJSON_CreateObject();

		add_hex(o, "start", m->start);
		add_hex(o, "end", m->end);
		cJSON_AddStringToObject(o, "perms", m->perms);
		add_hex(o, "offset", m->offset);
		add_str_or_null(o, "path", m->name);
		cJSON_AddNumberToObject(o, "in_core_bytes", (double)m->in_core);
		if (m->seg && m->seg->avail < m->seg->filesz)
			cJSON_AddNumberToObject(o, "truncated_bytes", (double)(m->seg->filesz - m->seg->avail));
		if (m->disk)
			cJSON_AddStringToObject(o, "file", disk_file_status_now(v->files, m->disk));
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

/* Where a remote core is read from, and what reading it cost so far; null for a local one. */
static cJSON *json_remote(const struct core *c)
{
	struct remote_stats st;
	cJSON *o;

	if (!c->origin)
		return cJSON_CreateNull();
	remote_stats(c->origin, &st);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "url", remote_url(c->origin));
	add_str_or_null(o, "version", remote_version(c->origin));
	cJSON_AddNumberToObject(o, "size", (double)remote_size(c->origin));
	cJSON_AddNumberToObject(o, "requests", (double)st.requests);
	cJSON_AddNumberToObject(o, "bytes_fetched", (double)st.bytes);
	add_str_or_null(o, "problem", remote_problem(c->origin));
	return o;
}

/* A fetch's state and result: {state, path, url, why} (state "local" for a debug file found
 * here; "off" says why no server is asked). */
static cJSON *json_fetch(const struct disk_files *df, enum fetch_state st, const struct fetch *e)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "state", st == FETCH_DONE && e && e->local ? "local" :
					    fetch_state_name(st));
	add_str_or_null(o, "path", e ? e->path : NULL);
	add_str_or_null(o, "url", e ? e->url : NULL);
	add_str_or_null(o, "why", e ? e->why : st == FETCH_OFF ? fetcher_off_why(df->fetcher) : NULL);
	return o;
}

/* Each mapped file: where its bytes are read now (found here, or fetched by its build-id), why,
 * and where looking for it by build-id stands (nothing is fetched to show it). */
static cJSON *json_files(const struct process *v)
{
	const struct disk_files *df = v->files;
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; i < df->nfiles; i++) {
		const struct disk_file *local = &df->files[i], *d = disk_file_now(df, local);
		const struct fetch *e;
		enum fetch_state st = disk_file_fetch_state(df, local, &e);
		cJSON *o = cJSON_CreateObject(), *l;
		char id[2 * sizeof(local->build_id) + 1];

		if (!d)
			d = local;
		cJSON_AddStringToObject(o, "path", d->path);
		cJSON_AddStringToObject(o, "disk_path", d->disk_path);
		cJSON_AddStringToObject(o, "status", disk_status_name(d->status));
		add_str_or_null(o, "why", d->why);
		add_str_or_null(o, "source", disk_source_name(d->source));
		if (d->source == SOURCE_DEBUGINFOD) {
			add_str_or_null(o, "url", d->url);
			l = cJSON_AddObjectToObject(o, "local");
			cJSON_AddStringToObject(l, "disk_path", local->disk_path);
			cJSON_AddStringToObject(l, "status", disk_status_name(local->status));
			add_str_or_null(l, "why", local->why);
		}
		for (size_t k = 0; k < local->core_build_id_len; k++)
			sprintf(id + 2 * k, "%02x", local->core_build_id[k]);
		if (local->core_build_id_len)
			cJSON_AddStringToObject(o, "build_id", id);
		if (!disk_file_usable(local) && local->core_build_id_len)
			cJSON_AddItemToObject(o, "debuginfod", json_fetch(df, st, e));
		st = fetcher_peek(df->fetcher, FETCH_DEBUGINFO, local->core_build_id,
				  local->core_build_id_len, &e);
		if (st != FETCH_PENDING && st != FETCH_OFF)
			cJSON_AddItemToObject(o, "debuginfo", json_fetch(df, st, e));
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static cJSON *json_auxv(const struct core *c)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; i < c->nauxv; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddNumberToObject(o, "type", (double)c->auxv[i].type);
		add_str_or_null(o, "name", auxv_type_name_os(c->os, c->auxv[i].type));
		add_hex(o, "value", c->auxv[i].value);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static cJSON *json_notes(const struct core *c)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; i < c->nnotes; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "owner", c->notes[i].owner);
		cJSON_AddStringToObject(o, "type", c->notes[i].name);
		cJSON_AddNumberToObject(o, "size", (double)c->notes[i].size);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static cJSON *json_process(const struct core *c)
{
	const struct core_psinfo *p = &c->psinfo;
	cJSON *o;
	char state[2] = { p->sname, 0 };

	if (!p->present)
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "pid", p->pid);
	cJSON_AddNumberToObject(o, "ppid", p->ppid);
	cJSON_AddNumberToObject(o, "pgrp", p->pgrp);
	cJSON_AddNumberToObject(o, "sid", p->sid);
	cJSON_AddNumberToObject(o, "uid", p->uid);
	cJSON_AddNumberToObject(o, "gid", p->gid);
	cJSON_AddStringToObject(o, "state", state);
	cJSON_AddNumberToObject(o, "nice", p->nice);
	add_hex(o, "flags", p->flag);
	cJSON_AddStringToObject(o, "fname", p->fname);
	cJSON_AddStringToObject(o, "psargs", p->psargs);
	return o;
}

int render_core_json(const struct process *v, const struct core_thread *t, struct buf *out)
{
	const struct core *c = v->core;
	cJSON *root = cJSON_CreateObject(), *threads, *argv, *missing;
	char **problems;
	size_t nproblems;
	char tmp[16], *text;
	struct buf cmd = { 0 };

	(void)t;
	if (!root)
		return -ENOMEM;
	cJSON_AddStringToObject(root, "core", c->path);
	cJSON_AddNumberToObject(root, "file_size", (double)c->file_size);
	if (c->codec) {
		cJSON *z = cJSON_CreateObject();

		cJSON_AddStringToObject(z, "codec", c->codec);
		cJSON_AddNumberToObject(z, "size", (double)c->compressed_size);
		cJSON_AddItemToObject(root, "compressed", z);
	} else {
		cJSON_AddNullToObject(root, "compressed");
	}
	cJSON_AddItemToObject(root, "remote", json_remote(c));
	cJSON_AddStringToObject(root, "format", c->format);
	cJSON_AddStringToObject(root, "arch", c->arch->name);
	cJSON_AddNumberToObject(root, "machine", c->machine);
	cJSON_AddStringToObject(root, "os", os_name(c->os));
	cJSON_AddStringToObject(root, "producer", producer_name(c->producer));
	cJSON_AddNumberToObject(root, "pid", c->pid);
	add_str_or_null(root, "comm", comm_of(c, tmp, sizeof(tmp)));
	add_str_or_null(root, "exe", core_exe_path(c));
	argv = cJSON_CreateArray();
	render_cmdline(v, NULL, &cmd);
	for (size_t i = 0; i < cmd.len; i += strlen(cmd.p + i) + 1)
		cJSON_AddItemToArray(argv, cJSON_CreateString(cmd.p + i));
	buf_free(&cmd);
	cJSON_AddItemToObject(root, "cmdline", argv);
	{
		struct buf probe = { 0 };
		bool stack = cmdline_from_stack(v, &probe);

		buf_free(&probe);
		cJSON_AddStringToObject(root, "cmdline_source",
					stack ? "stack" : c->psinfo.present ? "psargs" : "none");
		if (!v->args->found)
			cJSON_AddStringToObject(root, "cmdline_why_not_stack", v->args->why);
		cJSON_AddNumberToObject(root, "environ_count", v->args->found ? (double)v->args->envc : 0);
	}
	cJSON_AddItemToObject(root, "process", json_process(c));
	cJSON_AddItemToObject(root, "signal", json_signal(c));
	threads = cJSON_CreateArray();
	for (size_t i = 0; i < c->nthreads; i++)
		cJSON_AddItemToArray(threads, json_thread(v, &c->threads[i]));
	cJSON_AddItemToObject(root, "threads", threads);
	cJSON_AddItemToObject(root, "mappings", json_mappings(v));
	cJSON_AddItemToObject(root, "modules", json_modules(v));
	cJSON_AddItemToObject(root, "files", json_files(v));
	cJSON_AddItemToObject(root, "auxv", json_auxv(c));
	cJSON_AddItemToObject(root, "notes", json_notes(c));
	missing = cJSON_CreateArray();
	for (size_t i = 0; i < c->nproblems; i++)
		cJSON_AddItemToArray(missing, cJSON_CreateString(c->problems[i]));
	if (c->remote && remote_problem(c->remote))
		cJSON_AddItemToArray(missing, cJSON_CreateString(remote_problem(c->remote)));
	problems = disk_files_problems(v->files, &nproblems);
	for (size_t i = 0; i < nproblems; i++) {
		cJSON_AddItemToArray(missing, cJSON_CreateString(problems[i]));
		free(problems[i]);
	}
	free(problems);
	cJSON_AddItemToObject(root, "problems", missing);

	text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text)
		return -ENOMEM;
	buf_puts(out, text);
	buf_putc(out, '\n');
	cJSON_free(text);
	return 0;
}
