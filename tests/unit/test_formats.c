/* tests/unit/test_formats.c — the ELF core reader (formats/) on synthetic cores.
 *
 * Each test writes a small core with synth.h, opens it with core_open and checks the model:
 * segments and how much of each the file holds, notes, threads and their register sets, process
 * information, auxv, NT_FILE with its bounds checks, core_read_mem across segment boundaries
 * and holes, core_segment_at, and the errors of files that are not usable cores. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "../../formats/arch.h"
#include "../../formats/core.h"
#include "../../fs/render.h"
#include "synth.h"
#include "unit.h"

/* Write s and open it; NULL (and a failed check) when either fails. */
static struct core *open_synth(struct synth *s)
{
	struct core_error err = { 0 };
	struct core *c = NULL;

	if (!CHECK(synth_write(s) == 0))
		return NULL;
	if (core_open(s->path, &c, &err) < 0) {
		unit_report(false, __FILE__, __LINE__, "core_open(%s): %s", s->path, err.msg);
		return NULL;
	}
	return c;
}

/* Write s, expect core_open to fail with code; returns the message ("" on surprise). */
static const char *open_fails(struct synth *s, enum core_errno code, struct core_error *err)
{
	struct core *c = NULL;

	memset(err, 0, sizeof(*err));
	if (!CHECK(synth_write(s) == 0))
		return "";
	if (core_open(s->path, &c, err) == 0) {
		unit_report(false, __FILE__, __LINE__, "core_open(%s) succeeded", s->path);
		core_close(c);
		return "";
	}
	CHECK(c == NULL);
	CHECK_I64(err->code, code);
	/* One line that names the file. */
	CHECK(strchr(err->msg, '\n') == NULL);
	CHECK(!strncmp(err->msg, s->path, strlen(s->path)) && !strncmp(err->msg + strlen(s->path), ": ", 2));
	return err->msg;
}

static bool has_problem(const struct core *c, const char *text)
{
	for (size_t i = 0; i < c->nproblems; i++)
		if (strstr(c->problems[i], text))
			return true;
	return false;
}

static void print_problems(const struct core *c)
{
	for (size_t i = 0; i < c->nproblems; i++)
		fprintf(stderr, "    problem: %s\n", c->problems[i]);
}

#define CHECK_PROBLEM(c, text) (CHECK(has_problem(c, text)) || (print_problems(c), false))

/* Whether buf holds the synthetic memory from addr on. */
static bool is_memory(const unsigned char *buf, uint64_t addr, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (buf[i] != synth_byte(addr + i))
			return false;
	return true;
}

#ifdef SYNTH_X86_64

/* --- a whole process ------------------------------------------------------------------------ */

static void test_standard_process(void)
{
	struct synth s;
	struct core *c;
	uint64_t v;

	synth_std_process(&s);
	c = open_synth(&s);
	if (!c)
		goto out;
	CHECK_STR(c->format, "elf64-little");
	CHECK_U64(c->elf_class, ELFCLASS64);
	CHECK(!c->big_endian);
	CHECK_U64(c->machine, EM_X86_64);
	CHECK_U64(c->word, 8);
	CHECK_STR(c->arch->name, "x86_64");
	CHECK(c->os == CORE_OS_LINUX);
	CHECK(c->producer == CORE_BY_KERNEL);
	CHECK_U64(c->file_size, s.file_size);
	CHECK_I64(c->pid, SYNTH_PID);
	CHECK_I64(c->signo, SIGSEGV);
	CHECK_U64(c->nproblems, 0) || (print_problems(c), 0);

	/* Segments: as written, all bytes present; the text segment holds none. */
	if (CHECK_U64(c->nsegs, STD_NSEGS)) {
		for (size_t i = 0; i < STD_NSEGS; i++) {
			CHECK_U64(c->segs[i].vaddr, s.segs[i].vaddr);
			CHECK_U64(c->segs[i].memsz, s.segs[i].memsz);
			CHECK_U64(c->segs[i].offset, s.segs[i].offset);
			CHECK_U64(c->segs[i].filesz, s.segs[i].filesz);
			CHECK_U64(c->segs[i].avail, s.segs[i].filesz);
			CHECK_U64(c->segs[i].flags, s.segs[i].flags);
		}
		CHECK_U64(c->segs[STD_EXE_TEXT].flags, SEG_R | SEG_X);
		CHECK_U64(c->segs[STD_HEAP].flags, SEG_R | SEG_W);
	}

	/* Notes, in order, with their names and where their descriptors are. */
	if (CHECK_U64(c->nnotes, 6)) {
		static const char *const names[] = { "NT_PRSTATUS", "NT_PRPSINFO", "NT_SIGINFO",
						     "NT_AUXV", "NT_FILE", "NT_FPREGSET" };

		for (size_t i = 0; i < 6; i++) {
			CHECK_STR(c->notes[i].owner, "CORE");
			CHECK_STR(c->notes[i].name, names[i]);
		}
		CHECK_U64(c->notes[0].size, sizeof(struct elf_prstatus));
		CHECK_U64(c->notes[0].offset, s.note_offset + 12 + 8);
		CHECK_U64(c->notes[1].size, sizeof(struct elf_prpsinfo));
		CHECK_U64(c->notes[5].size, 512);
		CHECK_U64(c->notes[5].desc[0], 0x7f);
	}

	/* The thread: ids, signal state, times, registers, the register sets that follow it. */
	if (CHECK_U64(c->nthreads, 1)) {
		const struct core_thread *t = &c->threads[0];

		CHECK_I64(t->tid, SYNTH_PID);
		CHECK_I64(t->ppid, 1);
		CHECK_I64(t->pgrp, SYNTH_PID);
		CHECK_I64(t->sid, 77);
		CHECK_I64(t->cursig, SIGSEGV);
		CHECK_U64(t->sigpend, 0x100);
		CHECK_U64(t->sighold, 0x2000);
		CHECK_I64(t->utime.sec, 3);
		CHECK_I64(t->utime.usec, 500);
		CHECK_U64(t->gregs_size, sizeof(struct user_regs_struct));
		CHECK(t->has_pc && t->has_sp);
		CHECK_U64(t->pc, 0x401234);
		CHECK_U64(t->sp, 0x7fffffffd000);
		CHECK(t->has_siginfo);
		CHECK_I64(t->siginfo.signo, SIGSEGV);
		CHECK_I64(t->siginfo.code, SEGV_MAPERR);
		CHECK(t->siginfo.has_addr && !t->siginfo.has_sender);
		CHECK_U64(t->siginfo.addr, 0x10);
		if (CHECK_U64(t->nregsets, 1)) {
			CHECK_STR(t->regsets[0].name, "NT_FPREGSET");
			CHECK_U64(t->regsets[0].size, 512);
		}
		CHECK(core_main_thread(c) == t);
	}

	/* Process information from NT_PRPSINFO. */
	CHECK(c->psinfo.present);
	CHECK_I64(c->psinfo.pid, SYNTH_PID);
	CHECK_I64(c->psinfo.ppid, 1);
	CHECK_U64(c->psinfo.uid, 1000);
	CHECK_U64(c->psinfo.gid, 100);
	CHECK_I64(c->psinfo.nice, -5);
	CHECK_U64(c->psinfo.sname, 'R');
	CHECK_U64(c->psinfo.flag, 0x400600);
	CHECK_STR(c->psinfo.fname, "synthetic-progr");
	CHECK_STR(c->psinfo.psargs, "./synthetic-program --flag value ");

	/* auxv: every pair up to and including AT_NULL, and the raw bytes. */
	CHECK_U64(c->auxv_word, 8);
	CHECK_U64(c->auxv_size, 7 * 16);
	if (CHECK_U64(c->nauxv, 7)) {
		CHECK_U64(c->auxv[0].type, AT_PHDR);
		CHECK_U64(c->auxv[0].value, 0x400040);
		CHECK_U64(c->auxv[6].type, AT_NULL);
	}
	CHECK(core_auxv(c, AT_ENTRY, &v) && v == 0x401000);
	CHECK(core_auxv(c, AT_PAGESZ, &v) && v == 4096);
	CHECK(!core_auxv(c, AT_HWCAP, &v));

	/* NT_FILE: offsets in bytes, names as written; the executable found by AT_PHDR. */
	CHECK_U64(c->file_page_size, 4096);
	if (CHECK_U64(c->nfiles, 4)) {
		CHECK_U64(c->files[1].start, 0x401000);
		CHECK_U64(c->files[1].end, 0x402000);
		CHECK_U64(c->files[1].offset, 0x1000);
		CHECK_U64(c->files[2].offset, 0x2000);
		CHECK_STR(c->files[0].path, SYNTH_EXE);
		CHECK_STR(c->files[3].path, SYNTH_LIB);
	}
	CHECK(core_file_at(c, 0x403fff) == &c->files[2]);
	CHECK(core_file_at(c, 0x404000) == NULL);
	CHECK(core_file_at(c, 0x7f0000000000) == &c->files[3]);
	CHECK(core_file_at(c, 0x3fffff) == NULL);
	CHECK_STR(core_exe_path(c), SYNTH_EXE);
	core_close(c);
out:
	synth_free(&s);
}

/* Threads: the signalled one first, register sets attach to the thread before them, the main
 * thread is the one whose tid is the pid. */
static void test_threads(void)
{
	struct synth s;
	struct core *c;
	unsigned char xstate[832] = { 1 }, fp[512] = { 2 };

	synth_init(&s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_std_segments(&s);
	for (unsigned i = 0; i < 3; i++) {
		struct user_regs_struct r = synth_regs(i);
		int32_t tid = i == 0 ? 4250 : i == 1 ? SYNTH_PID : 4251;

		synth_prstatus(&s, tid, i == 0 ? SIGABRT : 0, &r);
		if (i == 0) {
			synth_prpsinfo(&s, SYNTH_PID, "threads", "threads");
			synth_siginfo(&s, SIGABRT, SI_TKILL, 0);
			synth_std_auxv(&s);
			synth_std_nt_file(&s);
		}
		synth_note(&s, "CORE", NT_FPREGSET, fp, sizeof(fp));
		synth_note(&s, "LINUX", NT_X86_XSTATE, xstate, sizeof(xstate) - 64 * i);
	}
	c = open_synth(&s);
	if (!c)
		goto out;
	if (CHECK_U64(c->nthreads, 3)) {
		CHECK_I64(c->threads[0].tid, 4250);
		CHECK_I64(c->threads[1].tid, SYNTH_PID);
		CHECK_I64(c->threads[2].tid, 4251);
		for (unsigned i = 0; i < 3; i++) {
			const struct core_thread *t = &c->threads[i];

			CHECK_U64(t->pc, 0x401234 + 0x10 * i);
			CHECK_U64(t->sp, 0x7fffffffd000 - 0x100 * i);
			if (CHECK_U64(t->nregsets, 2)) {
				CHECK_STR(t->regsets[0].name, "NT_FPREGSET");
				CHECK_STR(t->regsets[1].name, "NT_X86_XSTATE");
				CHECK_STR(t->regsets[1].owner, "LINUX");
				CHECK_U64(t->regsets[1].size, 832 - 64 * i);
			}
		}
		/* A signal sent by a process: sender, no address. */
		CHECK(c->threads[0].has_siginfo && !c->threads[1].has_siginfo);
		CHECK(c->threads[0].siginfo.has_sender && !c->threads[0].siginfo.has_addr);
		CHECK(core_main_thread(c) == &c->threads[1]);
	}
	CHECK_I64(c->pid, SYNTH_PID);
	CHECK_I64(c->signo, SIGABRT);
	core_close(c);
out:
	synth_free(&s);
}

/* No NT_PRSTATUS at all: no threads, said so; still a usable model. */
static void test_zero_threads(void)
{
	struct synth s;
	struct core *c;

	synth_init(&s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_std_segments(&s);
	synth_prpsinfo(&s, SYNTH_PID, "nothreads", "nothreads");
	synth_std_auxv(&s);
	synth_std_nt_file(&s);
	c = open_synth(&s);
	if (!c)
		goto out;
	CHECK_U64(c->nthreads, 0);
	CHECK(core_main_thread(c) == NULL);
	CHECK_I64(c->pid, SYNTH_PID);
	CHECK_I64(c->signo, 0);
	CHECK_PROBLEM(c, "no NT_PRSTATUS");
	core_close(c);
out:
	synth_free(&s);
}

/* An NT_PRSTATUS cut inside pr_reg: the registers it holds, the problem, no pc or sp. */
static void test_short_prstatus(void)
{
	struct synth s;
	struct core *c;
	struct elf_prstatus pr;
	struct user_regs_struct r = synth_regs(0);
	const size_t reg = offsetof(struct elf_prstatus, pr_reg), keep = 100;

	memset(&pr, 0, sizeof(pr));
	pr.pr_pid = SYNTH_PID;
	memcpy(&pr.pr_reg, &r, sizeof(r));
	synth_init(&s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_std_segments(&s);
	synth_note(&s, "CORE", NT_PRSTATUS, &pr, reg + keep);
	/* An NT_PRPSINFO of a size no layout has, smaller than all: ignored, and said so. */
	synth_note(&s, "CORE", NT_PRPSINFO, "\0R\0\0", 4);
	c = open_synth(&s);
	if (!c)
		goto out;
	if (CHECK_U64(c->nthreads, 1)) {
		const struct core_thread *t = &c->threads[0];
		const struct reg_desc *rax = &c->arch->regs[0], *rip = &c->arch->regs[c->arch->pc];
		uint64_t v;

		CHECK_I64(t->tid, SYNTH_PID);
		CHECK_U64(t->gregs_size, keep);
		CHECK(!t->has_pc && !t->has_sp);
		CHECK(arch_reg(c, t, rax, &v) && v == r.rax);
		CHECK(!arch_reg(c, t, rip, &v));
	}
	CHECK_PROBLEM(c, "short NT_PRSTATUS for thread 4242: 212 bytes, x86_64 needs 328");
	CHECK(!c->psinfo.present);
	CHECK_PROBLEM(c, "NT_PRPSINFO of 4 bytes matches no x86_64 layout: ignored");
	core_close(c);
out:
	synth_free(&s);
}

/* gdb's gcore puts NT_PRPSINFO first. */
static void test_gdb_producer(void)
{
	struct synth s;
	struct core *c;
	struct user_regs_struct r = synth_regs(0);

	synth_init(&s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_std_segments(&s);
	synth_prpsinfo(&s, SYNTH_PID, "gcored", "gcored");
	synth_prstatus(&s, SYNTH_PID, 0, &r);
	synth_std_auxv(&s);
	synth_std_nt_file(&s);
	c = open_synth(&s);
	if (!c)
		goto out;
	CHECK(c->producer == CORE_BY_GDB);
	CHECK_I64(c->signo, 0);
	CHECK_U64(c->nthreads, 1);
	core_close(c);
out:
	synth_free(&s);
}

/* A core with no PT_NOTE: segments only, and the problem named. */
static void test_no_note_segment(void)
{
	struct synth s;
	struct core *c;

	synth_init(&s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_std_segments(&s);
	s.no_note_segment = true;
	c = open_synth(&s);
	if (!c)
		goto out;
	CHECK_U64(c->nsegs, STD_NSEGS);
	CHECK_U64(c->nnotes, 0);
	CHECK_U64(c->nthreads, 0);
	CHECK(!c->psinfo.present);
	CHECK(core_exe_path(c) == NULL);
	CHECK_PROBLEM(c, "no note segment");
	core_close(c);
out:
	synth_free(&s);
}

/* --- segments, truncation and memory reads ------------------------------------------------- */

/* The file cut inside one segment, another placed wholly past the end: avail says what is left,
 * reads stop there, and the problem counts both. */
static void test_truncated_segments(void)
{
	struct synth s;
	struct core *c = NULL;
	struct core_error err = { 0 };
	unsigned char buf[0x3000];
	const uint64_t stack = 0x7ffffffde000, held = 0x20000;

	synth_std_process(&s);
	s.segs[STD_LIB].fixed_offset = true;
	s.segs[STD_LIB].offset = UINT64_C(1) << 44;
	if (!CHECK(synth_write(&s) == 0))
		goto out;
	/* Cut inside the stack, the last segment in the file. */
	if (!CHECK(truncate(s.path, (off_t)(s.segs[STD_STACK].offset + held)) == 0))
		goto out;
	if (core_open(s.path, &c, &err) < 0) {
		unit_report(false, __FILE__, __LINE__, "core_open: %s", err.msg);
		goto out;
	}
	CHECK_U64(c->segs[STD_LIB].avail, 0);
	CHECK_U64(c->segs[STD_LIB].filesz, 0x1000);
	CHECK_U64(c->segs[STD_STACK].avail, held);
	CHECK_U64(c->segs[STD_STACK].filesz, 0x21000);
	CHECK_U64(c->segs[STD_HEAP].avail, 0x21000);
	CHECK_PROBLEM(c, "truncated: 2 of 6 segments lie past the end of the file (1 wholly), "
			 "0x2000 bytes missing");

	/* Nothing at all in the absent segment; a short read at the cut; whole reads before it. */
	CHECK_I64(core_read_mem(c, 0x7f0000000000, buf, 16), 0);
	CHECK_I64(core_read_mem(c, stack + held - 0x10, buf, 0x100), 0x10);
	CHECK(is_memory(buf, stack + held - 0x10, 0x10));
	CHECK_I64(core_read_mem(c, stack + held, buf, 1), 0);
	CHECK_I64(core_read_mem(c, stack, buf, sizeof(buf)), sizeof(buf));
	CHECK(is_memory(buf, stack, sizeof(buf)));
	core_close(c);
out:
	synth_free(&s);
}

static void test_read_mem(void)
{
	struct synth s;
	struct core *c;
	unsigned char buf[0x4000];

	synth_std_process(&s);
	c = open_synth(&s);
	if (!c)
		goto out;
	/* Inside one segment; up to its last byte. */
	CHECK_I64(core_read_mem(c, 0x600123, buf, 100), 100);
	CHECK(is_memory(buf, 0x600123, 100));
	CHECK_I64(core_read_mem(c, 0x620fff, buf, 1), 1);
	CHECK(is_memory(buf, 0x620fff, 1));
	/* Across the boundary of two adjacent segments (exe header page, then text: not dumped). */
	CHECK_I64(core_read_mem(c, 0x400ff0, buf, 0x20), 0x10);
	CHECK(is_memory(buf, 0x400ff0, 0x10));
	/* A segment with no bytes in the file: nothing. */
	CHECK_I64(core_read_mem(c, 0x401000, buf, 16), 0);
	/* Into a hole: short; in a hole, below everything, above everything: nothing. */
	CHECK_I64(core_read_mem(c, 0x620ff8, buf, 0x100), 8);
	CHECK_I64(core_read_mem(c, 0x500000, buf, 16), 0);
	CHECK_I64(core_read_mem(c, 0x1000, buf, 16), 0);
	CHECK_I64(core_read_mem(c, UINT64_MAX - 15, buf, 16), 0);
	/* Length 0. */
	CHECK_I64(core_read_mem(c, 0x600000, buf, 0), 0);
	core_close(c);
out:
	synth_free(&s);
}

/* Two adjacent segments that both have their bytes: one read crosses them; segments given out of
 * address order are still found. */
static void test_read_across_segments(void)
{
	struct synth s;
	struct core *c;
	unsigned char buf[0x3000];

	synth_init(&s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_load(&s, 0x20000, 0x1000, 0x1000, PF_R | PF_W);
	synth_load(&s, 0x10000, 0x1000, 0x1000, PF_R);
	synth_load(&s, 0x11000, 0x2000, 0x2000, PF_R | PF_W);
	synth_load(&s, 0x30000, 0x3000, 0x1000, PF_R | PF_W);	/* memsz past filesz */
	c = open_synth(&s);
	if (!c)
		goto out;
	CHECK_I64(core_read_mem(c, 0x10800, buf, 0x2000), 0x2000);
	CHECK(is_memory(buf, 0x10800, 0x2000));
	CHECK_I64(core_read_mem(c, 0x10000, buf, sizeof(buf)), 0x3000);
	CHECK(is_memory(buf, 0x10000, 0x3000));
	CHECK_I64(core_read_mem(c, 0x12f00, buf, 0x200), 0x100);
	CHECK_I64(core_read_mem(c, 0x20000, buf, 0x1000), 0x1000);
	CHECK(is_memory(buf, 0x20000, 0x1000));
	CHECK_I64(core_read_mem(c, 0x30ff0, buf, 0x100), 0x10);
	CHECK_I64(core_read_mem(c, 0x31000, buf, 0x100), 0);

	/* core_segment_at: first and last byte, one past, holes. */
	CHECK(core_segment_at(c, 0x10000) == &c->segs[1]);
	CHECK(core_segment_at(c, 0x10fff) == &c->segs[1]);
	CHECK(core_segment_at(c, 0x11000) == &c->segs[2]);
	CHECK(core_segment_at(c, 0x12fff) == &c->segs[2]);
	CHECK(core_segment_at(c, 0x13000) == NULL);
	CHECK(core_segment_at(c, 0x20fff) == &c->segs[0]);
	CHECK(core_segment_at(c, 0x32fff) == &c->segs[3]);
	CHECK(core_segment_at(c, 0x33000) == NULL);
	CHECK(core_segment_at(c, 0xffff) == NULL);
	CHECK(core_segment_at(c, 0) == NULL);
	CHECK(core_segment_at(c, UINT64_MAX) == NULL);
	core_close(c);
out:
	synth_free(&s);
}

/* A segment at the top of the address space, and one whose vaddr + memsz wraps. */
static void test_top_of_address_space(void)
{
	struct synth s;
	struct core *c;
	unsigned char buf[0x2000];
	const uint64_t top = UINT64_C(0xfffffffffffff000);

	synth_init(&s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_load(&s, 0xffffffffff600000, 0x1000, 0x1000, PF_X);
	synth_load(&s, top, 0x2000, 0x1000, PF_R);	/* wraps: memsz past 2^64 */
	c = open_synth(&s);
	if (!c)
		goto out;
	CHECK_U64(c->segs[1].memsz, 0x1000);
	CHECK(core_segment_at(c, UINT64_MAX) == &c->segs[1]);
	CHECK(core_segment_at(c, 0) == NULL);
	CHECK_I64(core_read_mem(c, top, buf, sizeof(buf)), 0x1000);
	CHECK(is_memory(buf, top, 0x1000));
	CHECK_I64(core_read_mem(c, UINT64_MAX, buf, 4), 1);
	CHECK_I64(core_read_mem(c, 0xffffffffff600ff0, buf, 0x20), 0x10);
	core_close(c);
out:
	synth_free(&s);
}

/* --- NT_AUXV and NT_FILE --------------------------------------------------------------------- */

static void test_auxv_without_at_null(void)
{
	struct synth s;
	struct core *c;
	static const uint64_t auxv[] = { AT_PAGESZ, 4096, AT_ENTRY, 0x401000 };

	synth_init(&s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_std_segments(&s);
	synth_note_words(&s, "CORE", NT_AUXV, auxv, 4, "\x01\x02\x03", 3);
	c = open_synth(&s);
	if (!c)
		goto out;
	CHECK_U64(c->nauxv, 2);
	CHECK_U64(c->auxv_size, 35);
	CHECK_PROBLEM(c, "NT_AUXV has no AT_NULL entry");
	core_close(c);
out:
	synth_free(&s);
}

/* Entries after AT_NULL are not entries; an odd-sized NT_AUXV is said to be malformed. */
static void test_auxv_odd_size(void)
{
	struct synth s;
	struct core *c;
	static const uint64_t auxv[] = { AT_PAGESZ, 4096, AT_NULL, 0, AT_ENTRY, 0x401000 };

	synth_init(&s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_std_segments(&s);
	synth_note_words(&s, "CORE", NT_AUXV, auxv, 6, "\x07", 1);
	c = open_synth(&s);
	if (!c)
		goto out;
	CHECK_U64(c->nauxv, 2);
	CHECK_U64(c->auxv[1].type, AT_NULL);
	CHECK_PROBLEM(c, "NT_AUXV of 49 bytes is not a whole number of 16-byte entries");
	core_close(c);
out:
	synth_free(&s);
}

/* One NT_FILE case: the words, then the names (names_len bytes, NULs included). */
static struct core *open_nt_file(struct synth *s, const uint64_t *words, size_t nwords,
				 const char *names, size_t names_len)
{
	synth_init(s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_std_segments(s);
	synth_std_auxv(s);
	synth_note_words(s, "CORE", NT_FILE, words, nwords, names, names_len);
	return open_synth(s);
}

static void check_nt_file_rejected(const uint64_t *words, size_t nwords, const char *names,
				   size_t names_len, const char *what)
{
	struct synth s;
	struct core *c = open_nt_file(&s, words, nwords, names, names_len);

	unit_current = what;
	if (c) {
		CHECK_U64(c->nfiles, 0);
		CHECK(core_exe_path(c) == NULL);
		CHECK_PROBLEM(c, "NT_FILE of ");
		CHECK_PROBLEM(c, "is malformed");
		core_close(c);
	}
	synth_free(&s);
}

static void test_nt_file_bounds(void)
{
	static const char two[] = "/a\0/b";
	const char *saved = unit_current;

	/* A good one for contrast: two files, offsets in pages. */
	{
		static const uint64_t w[] = { 2, 0x1000, 0x400000, 0x401000, 0, 0x401000, 0x402000, 3 };
		struct synth s;
		struct core *c = open_nt_file(&s, w, 8, two, sizeof(two));

		if (c && CHECK_U64(c->nfiles, 2)) {
			CHECK_STR(c->files[1].path, "/b");
			CHECK_U64(c->files[1].offset, 0x3000);
			CHECK(!has_problem(c, "NT_FILE"));
		}
		core_close(c);
		synth_free(&s);
	}
	/* count 0: no files, and not malformed. */
	{
		static const uint64_t w[] = { 0, 0x1000 };
		struct synth s;
		struct core *c = open_nt_file(&s, w, 2, NULL, 0);

		if (c) {
			CHECK_U64(c->nfiles, 0);
			CHECK(!has_problem(c, "malformed"));
		}
		core_close(c);
		synth_free(&s);
	}
	{
		static const uint64_t huge[] = { UINT64_MAX, 0x1000, 0x400000, 0x401000, 0 };
		static const uint64_t one_more[] = { 3, 0x1000, 0x400000, 0x401000, 0, 0x401000, 0x402000, 3 };
		static const uint64_t overflow[] = { UINT64_C(0x0aaaaaaaaaaaaaab), 0x1000, 0x400000, 0x401000, 0 };
		static const uint64_t no_page[] = { 2, 0, 0x400000, 0x401000, 0, 0x401000, 0x402000, 3 };
		static const uint64_t odd_page[] = { 2, 0x1800, 0x400000, 0x401000, 0, 0x401000, 0x402000, 3 };
		static const uint64_t backwards[] = { 2, 0x1000, 0x401000, 0x400000, 0, 0x401000, 0x402000, 3 };
		static const uint64_t header_only[] = { 2 };

		check_nt_file_rejected(huge, 5, "/a", 3, "nt_file: count 2^64-1");
		check_nt_file_rejected(one_more, 8, two, sizeof(two), "nt_file: count one more than the entries");
		check_nt_file_rejected(overflow, 5, "/a", 3, "nt_file: count * 24 wraps");
		check_nt_file_rejected(no_page, 8, two, sizeof(two), "nt_file: page size 0");
		check_nt_file_rejected(odd_page, 8, two, sizeof(two), "nt_file: page size not a power of 2");
		check_nt_file_rejected(backwards, 8, two, sizeof(two), "nt_file: end before start");
		check_nt_file_rejected(header_only, 1, NULL, 0, "nt_file: shorter than its header");
		/* The last name runs to the end of the note without its NUL. */
		check_nt_file_rejected((const uint64_t[]){ 2, 0x1000, 0x400000, 0x401000, 0, 0x401000,
							   0x402000, 3 },
				       8, "/a\0/bbbbbbbb", 12, "nt_file: last name without NUL");
		check_nt_file_rejected((const uint64_t[]){ 2, 0x1000, 0x400000, 0x401000, 0, 0x401000,
							   0x402000, 3 },
				       8, "/a", 3, "nt_file: fewer names than entries");
	}
	unit_current = saved;
}

/* A present but malformed NT_FILE is one problem, not also "missing". */
static void test_nt_file_malformed_not_missing(void)
{
	static const uint64_t w[] = { UINT64_MAX, 0x1000, 0x400000, 0x401000, 0 };
	struct synth s;
	struct core *c = open_nt_file(&s, w, 5, "/a", 3);

	if (c) {
		CHECK(!has_problem(c, "missing: no NT_FILE")) || (print_problems(c), 0);
		core_close(c);
	}
	synth_free(&s);
}

/* --- mutations ------------------------------------------------------------------------------ */

static uint64_t xorshift(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* Open, render and read a possibly hostile file: it must either be refused with one line that
 * names it, or give a model every consumer can walk.  The sanitizer build catches the rest. */
static bool survive(const char *path)
{
	struct core_error err = { 0 };
	struct core *c = NULL;
	struct process v;
	unsigned char buf[256];
	int r;

	if (core_open(path, &c, &err) < 0) {
		CHECK(c == NULL);
		CHECK(err.msg[0] && !strchr(err.msg, '\n') && !strncmp(err.msg, path, strlen(path)));
		return false;
	}
	r = process_init(&v, c, NULL, true);
	if (CHECK_I64(r, 0)) {
		static const render_fn fns[] = { render_maps, render_auxv, render_comm, render_cmdline,
						 render_environ, render_exe, render_core_json };
		uint64_t start, end;

		for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
			struct buf b = { 0 };

			fns[i](&v, NULL, &b);
			buf_free(&b);
		}
		for (size_t i = 0; i < c->nthreads; i++) {
			struct buf b = { 0 };

			render_regs(&v, &c->threads[i], &b);
			buf_free(&b);
		}
		for (uint64_t a = 0; v.mem && memory_next_data(v.mem, a, &start, &end) && end > a; a = end)
			memory_read(v.mem, start, buf, sizeof(buf));
		process_free(&v);
	}
	for (size_t i = 0; i < c->nsegs; i++) {
		core_read_mem(c, c->segs[i].vaddr, buf, sizeof(buf));
		core_read_mem(c, c->segs[i].vaddr + c->segs[i].memsz - 1, buf, sizeof(buf));
	}
	core_close(c);
	return true;
}

/* A small real-looking core with bytes of its headers and notes changed at random (fixed seed):
 * single bytes, and aligned words set to values that break sizes and counts.  For a longer run:
 * COREFS_UNIT_MUTATIONS=100000 COREFS_UNIT_SEED=7 build/unit-asan/test_formats. */
static void test_mutations(void)
{
	static const uint64_t nasty[] = { 0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x10000, 0x7fffffff,
					  0x80000000, 0xfffffffe, 0xffffffff, UINT64_MAX,
					  UINT64_C(0x8000000000000000), 0x1000, 0x1001 };
	struct synth s;
	unsigned char *orig = NULL, *mut = NULL;
	size_t size, region, opened = 0, refused = 0;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	long iterations = 3000;
	FILE *f;

	if (getenv("COREFS_UNIT_MUTATIONS"))
		iterations = strtol(getenv("COREFS_UNIT_MUTATIONS"), NULL, 0);
	if (getenv("COREFS_UNIT_SEED"))
		seed ^= strtoull(getenv("COREFS_UNIT_SEED"), NULL, 0) * 0x2545f4914f6cdd1dull;

	synth_init(&s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_load(&s, 0x400000, 0x1000, 0x1000, PF_R);
	synth_load(&s, 0x401000, 0x1000, 0, PF_R | PF_X);
	synth_load(&s, 0x7f0000000000, 0x1000, 0x1000, PF_R);
	synth_load(&s, 0x7ffffffde000, 0x2000, 0x2000, PF_R | PF_W);
	synth_std_notes(&s);
	if (!CHECK(synth_write(&s) == 0))
		goto out;
	size = s.file_size;
	region = s.note_offset + s.notes_len;
	orig = malloc(size);
	mut = malloc(size);
	f = fopen(s.path, "rb");
	if (!CHECK(orig && mut && f && fread(orig, 1, size, f) == size))
		goto out;
	fclose(f);
	for (long iter = 0; iter < iterations; iter++) {
		int edits = 1 + (int)(xorshift(&seed) % 4);

		memcpy(mut, orig, size);
		for (int e = 0; e < edits; e++) {
			uint64_t at = xorshift(&seed) % region, kind = xorshift(&seed) % 3;

			if (kind == 0) {
				mut[at] = (unsigned char)xorshift(&seed);
			} else {
				unsigned w = kind == 1 ? 4 : 8;
				uint64_t v = nasty[xorshift(&seed) % (sizeof(nasty) / sizeof(nasty[0]))];

				at &= ~(uint64_t)(w - 1);
				if (at + w <= size)
					synth_put(&s, mut + at, w, v);
			}
		}
		/* Every tenth input is also cut somewhere. */
		f = fopen(s.path, "wb");
		if (!CHECK(f != NULL))
			break;
		fwrite(mut, 1, iter % 10 == 9 ? (size_t)(xorshift(&seed) % size) + 1 : size, f);
		fclose(f);
		if (survive(s.path))
			opened++;
		else
			refused++;
	}
	printf("    mutations: %zu opened, %zu refused\n", opened, refused);
	CHECK(opened > 0 && refused > 0);
out:
	free(orig);
	free(mut);
	synth_free(&s);
}

#endif /* SYNTH_X86_64 */

/* --- other classes, byte orders and machines ------------------------------------------------ */

/* A 32-bit big-endian core of a machine with no register layout: byte order everywhere,
 * the generic ILP32 NT_PRSTATUS, auxv and NT_FILE in 4-byte words. */
static void test_elf32_big_endian(void)
{
	struct synth s;
	struct core *c;
	unsigned char prstatus[72 + 4 * 32] = { 0 }, buf[64];
	static const uint64_t auxv[] = { AT_PAGESZ, 0x1000, AT_ENTRY, 0x10000400, AT_PHDR, 0x10000034, AT_NULL, 0 };
	static const uint64_t files[] = { 1, 0x1000, 0x10000000, 0x10001000, 0 };

	synth_init(&s, ELFCLASS32, ELFDATA2MSB, SYNTH_EM_NONESUCH);
	synth_load(&s, 0x10000000, 0x1000, 0x1000, PF_R | PF_X);
	synth_load(&s, 0x7fff0000, 0x10000, 0x10000, PF_R | PF_W);
	synth_put(&s, prstatus + 12, 2, SIGBUS);	/* pr_cursig */
	synth_put(&s, prstatus + 24, 4, 31337);		/* pr_pid */
	synth_put(&s, prstatus + 28, 4, 1);		/* pr_ppid */
	synth_note(&s, "CORE", NT_PRSTATUS, prstatus, sizeof(prstatus));
	synth_note_words(&s, "CORE", NT_AUXV, auxv, 8, NULL, 0);
	synth_note_words(&s, "CORE", NT_FILE, files, 5, "/bin/be-prog", sizeof("/bin/be-prog"));
	c = open_synth(&s);
	if (!c)
		goto out;
	CHECK_STR(c->format, "elf32-big");
	CHECK(c->big_endian);
	CHECK_U64(c->word, 4);
	CHECK_U64(c->machine, SYNTH_EM_NONESUCH);
	CHECK(arch_is_generic(c->arch));
	CHECK_PROBLEM(c, "registers not decoded: no register layout for machine 23130 (elf32-big)");
	if (CHECK_U64(c->nthreads, 1)) {
		CHECK_I64(c->threads[0].tid, 31337);
		CHECK_I64(c->threads[0].ppid, 1);
		CHECK_I64(c->threads[0].cursig, SIGBUS);
		CHECK(!c->threads[0].has_pc);
	}
	CHECK_I64(c->pid, 31337);
	CHECK_U64(c->auxv_word, 4);
	if (CHECK_U64(c->nauxv, 4))
		CHECK_U64(c->auxv[1].value, 0x10000400);
	if (CHECK_U64(c->nfiles, 1)) {
		CHECK_U64(c->files[0].start, 0x10000000);
		CHECK_U64(c->files[0].end, 0x10001000);
	}
	CHECK_STR(core_exe_path(c), "/bin/be-prog");
	CHECK_I64(core_read_mem(c, 0x7fff0000, buf, sizeof(buf)), sizeof(buf));
	CHECK(is_memory(buf, 0x7fff0000, sizeof(buf)));
	CHECK_U64(core_get(c, (const unsigned char *)"\x01\x02\x03\x04", 4), 0x01020304);
	core_close(c);
out:
	synth_free(&s);
}

/* --- files that are not usable cores -------------------------------------------------------- */

static void test_not_a_core(void)
{
	struct synth s;
	struct core_error err;
	static const uint16_t types[] = { ET_EXEC, ET_DYN, ET_REL };
	static const char *const says[] = { "ET_EXEC, an executable", "ET_DYN, a shared object or PIE",
					    "ET_REL, an object file" };

	for (size_t i = 0; i < 3; i++) {
		synth_init(&s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
		s.type = types[i];
		synth_load(&s, 0x400000, 0x1000, 0x1000, PF_R);
		CHECK_CONTAINS(open_fails(&s, CORE_E_NOT_CORE, &err), says[i]);
		synth_free(&s);
	}
}

static void test_no_program_headers(void)
{
	struct synth s;
	struct core_error err;

	synth_init(&s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	s.no_note_segment = true;
	CHECK_CONTAINS(open_fails(&s, CORE_E_CORRUPT, &err), "core has no program headers");
	synth_free(&s);
}

/* A kernel crash dump (VMCOREINFO) is not a process core. */
static void test_vmcore(void)
{
	struct synth s;
	struct core_error err;
	static const char info[] = "OSRELEASE=6.1.0\nPAGESIZE=4096\n";

	synth_init(&s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_load(&s, 0x1000000, 0x1000, 0x1000, PF_R | PF_W | PF_X);
	synth_note(&s, "VMCOREINFO", 0, info, sizeof(info) - 1);
	CHECK_CONTAINS(open_fails(&s, CORE_E_NOT_PROCESS, &err), "not a process core");
	synth_free(&s);
}

/* Plain files: empty, text, a directory, missing, cut in the ELF header. */
static void test_plain_files(void)
{
	char path[] = "/tmp/corefs-unit-XXXXXX", dir[] = "/tmp/corefs-unit-dir-XXXXXX";
	struct core_error err = { 0 };
	struct core *c = NULL;
	int fd = mkstemp(path);
	struct synth s;

	if (!CHECK(fd >= 0))
		return;
	CHECK(core_open(path, &c, &err) < 0 && c == NULL);
	CHECK_I64(err.code, CORE_E_EMPTY);
	CHECK_CONTAINS(err.msg, "empty file");
	CHECK(write(fd, "hello, world\n", 13) == 13);
	CHECK(core_open(path, &c, &err) < 0);
	CHECK_I64(err.code, CORE_E_NOT_CORE);
	CHECK_CONTAINS(err.msg, "no ELF magic");
	close(fd);
	unlink(path);
	CHECK(core_open(path, &c, &err) < 0);
	CHECK_I64(err.code, CORE_E_IO);
	CHECK_CONTAINS(err.msg, strerror(ENOENT));
	if (CHECK(mkdtemp(dir) != NULL)) {
		CHECK(core_open(dir, &c, &err) < 0);
		CHECK_I64(err.code, CORE_E_NOT_CORE);
		CHECK_CONTAINS(err.msg, "is a directory");
		rmdir(dir);
	}
	/* A core cut inside its ELF header (after e_ident): truncated. */
	synth_init(&s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	synth_load(&s, 0x400000, 0x1000, 0x1000, PF_R);
	s.cut = 40;
	CHECK_CONTAINS(open_fails(&s, CORE_E_TRUNCATED, &err), "truncated ELF header (40 bytes)");
	synth_free(&s);
}

/* A core cut inside its program header table: truncated, with the count the header gives. */
static void test_cut_in_program_headers(void)
{
	struct synth s;
	struct core_error err;

	synth_init(&s, ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	for (int i = 0; i < 8; i++)
		synth_load(&s, 0x400000 + 0x1000 * (uint64_t)i, 0x1000, 0x1000, PF_R);
	s.cut = 64 + 56 * 2 + 10;
	CHECK_CONTAINS(open_fails(&s, CORE_E_TRUNCATED, &err),
		       "truncated: 9 program headers at 0x40 run past the end of the file (186 bytes)");
	synth_free(&s);
}

int main(void)
{
#ifdef SYNTH_X86_64
	RUN(test_standard_process);
	RUN(test_threads);
	RUN(test_zero_threads);
	RUN(test_short_prstatus);
	RUN(test_gdb_producer);
	RUN(test_no_note_segment);
	RUN(test_truncated_segments);
	RUN(test_read_mem);
	RUN(test_read_across_segments);
	RUN(test_top_of_address_space);
	RUN(test_auxv_without_at_null);
	RUN(test_auxv_odd_size);
	RUN(test_nt_file_bounds);
	RUN(test_nt_file_malformed_not_missing);
	RUN(test_mutations);
#else
	printf("skipped: the x86_64 process tests need an x86_64 host\n");
#endif
	RUN(test_elf32_big_endian);
	RUN(test_not_a_core);
	RUN(test_no_program_headers);
	RUN(test_vmcore);
	RUN(test_plain_files);
	RUN(test_cut_in_program_headers);
	return unit_summary("test_formats");
}
