/* revive/glibc.c — where glibc keeps what it registered with the kernel, for every thread.
 *
 * glibc registers three things per thread that no core holds: clear_child_tid (&pd->tid, which
 * pthread_join waits on), the robust futex list (&pd->robust_head) and the rseq area (at the
 * thread pointer + __rseq_offset).  Their places come from the target's own libraries, never
 * from this build: the offset of pd->tid from libc's _thread_db_pthread_tid (the descriptor
 * libthread_db reads), __rseq_offset and __rseq_size from ld.so as the core's memory holds
 * them, and the robust list head found in each thread's struct pthread as glibc leaves it (a
 * list head pointing at itself, then the futex offset).  Each is checked against every thread
 * of the core before use: the thread pointer must point at itself (the TCB of x86_64 and
 * i386, whose words are the target's: 8 or 4 bytes), pd->tid must be that thread's tid, the
 * robust heads must agree.  What fails is said in g->why. */
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../formats/util.h"
#include "plan.h"

#define RSEQ_MIN_LEN 32u	/* the kernel's original struct rseq, the least it accepts */
#define ROBUST_SCAN 64u		/* bytes after pd->tid searched for the robust list head */
#define SCAN_CHUNK (64u << 10)	/* bytes of memory read at a time looking for i386 TCBs */
#define I386_GS (10 * 4)	/* gs in the i386 pr_reg */
#define TLS_MIN 12u		/* x86_64's first TLS entry of the GDT */
#define DESC_SIZE 16u		/* struct user_desc */
/* user_desc flags: seg_32bit, limit_in_pages, useable (glibc's TLS entry); an empty entry is
 * read_exec_only and seg_not_present. */
#define DESC_GLIBC 0x51u
#define DESC_EMPTY 0x28u

enum { W_TID, W_RSEQ_OFFSET, W_RSEQ_SIZE, W_CURBRK, W_COUNT };

static const char *const wanted[W_COUNT] = {
	[W_TID] = "_thread_db_pthread_tid",
	[W_RSEQ_OFFSET] = "__rseq_offset",
	[W_RSEQ_SIZE] = "__rseq_size",
	[W_CURBRK] = "__curbrk",
};

/* Runtime addresses of the wanted symbols one mapped file defines. */
static void scan_file(const struct disk_file *d, uint64_t *addr, bool *found)
{
	Elf *elf;
	Elf_Scn *scn = NULL;
	size_t phnum;
	uint64_t bias = 0;
	bool have_bias = false;
	int fd = open(d->disk_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getphdrnum(elf, &phnum) != 0)
		goto out;
	for (size_t i = 0; i < phnum && !have_bias; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && ph.p_offset == 0) {
			bias = d->header_addr - (ph.p_vaddr & ~(uint64_t)(PLAN_PAGE - 1));
			have_bias = true;
		}
	}
	while (have_bias && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;
		size_t n;

		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) ||
		    !sh.sh_entsize || !(data = elf_getdata(scn, NULL)))
			continue;
		n = sh.sh_size / sh.sh_entsize;
		for (size_t i = 0; i < n; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF ||
			    !(name = elf_strptr(elf, sh.sh_link, sym.st_name)))
				continue;
			for (int w = 0; w < W_COUNT; w++)
				if (!found[w] && !strcmp(name, wanted[w])) {
					addr[w] = bias + sym.st_value;
					found[w] = true;
				}
		}
	}
out:
	if (elf)
		elf_end(elf);
	close(fd);
}

static bool read_u32(struct memory *m, uint64_t addr, uint32_t *v)
{
	return memory_read(m, addr, v, 4) == 4;
}

/* A pointer-sized word of the target (4 or 8 bytes, little-endian x86). */
static bool read_word(struct memory *m, uint64_t addr, unsigned word, uint64_t *v)
{
	*v = 0;
	return memory_read(m, addr, v, word) == (ssize_t)word;
}

/* pd->tid: the descriptor is {bits, count, offset}; every thread must hold its tid there. */
static void find_tid(struct memory *m, unsigned word, const struct plan_thread *t, size_t nt,
		     uint64_t desc, struct glibc_layout *g)
{
	uint32_t d[3];

	if (memory_read(m, desc, d, sizeof(d)) != (ssize_t)sizeof(d) || d[0] != 32 || d[1] != 1) {
		snprintf(g->why, sizeof(g->why), "libc's _thread_db_pthread_tid is unreadable or not "
			 "a 32-bit field: glibc's cached tids are not patched");
		return;
	}
	for (size_t i = 0; i < nt; i++) {
		uint64_t self;
		uint32_t tid;

		if (!read_word(m, t[i].tp, word, &self) || self != t[i].tp ||
		    !read_u32(m, t[i].tp + d[2], &tid) || (int32_t)tid != t[i].ct->tid) {
			snprintf(g->why, sizeof(g->why), "thread %d's struct pthread does not hold its "
				 "tid at offset %u: pthread_join, clear_child_tid and glibc's cached "
				 "tids are left as they are", t[i].ct->tid, d[2]);
			return;
		}
	}
	g->tid = true;
	g->tid_off = d[2];
}

/* The robust list head: a word pointing at itself (no robust mutex held) followed by the futex
 * offset, shortly after pd->tid; one place that holds in every thread. */
static void find_robust(struct memory *m, unsigned word, const struct plan_thread *t, size_t nt,
			struct glibc_layout *g)
{
	for (uint32_t off = (g->tid_off + 4 + word - 1) & ~(word - 1); off < g->tid_off + ROBUST_SCAN;
	     off += word) {
		bool ok = true, self_seen = false;
		int64_t futex_offset = 0;

		for (size_t i = 0; i < nt && ok; i++) {
			uint64_t head = t[i].tp + off, list, fo;

			if (!read_word(m, head, word, &list) || !read_word(m, head + word, word, &fo)) {
				ok = false;
				break;
			}
			if (word == 4)
				fo = (uint64_t)(int64_t)(int32_t)fo;
			if (i == 0)
				futex_offset = (int64_t)fo;
			self_seen |= list == head;
			ok = list != 0 && (int64_t)fo == futex_offset && futex_offset != 0 &&
			     futex_offset > -4096 && futex_offset < 4096;
		}
		if (ok && self_seen) {
			g->robust = true;
			g->robust_off = off;
			return;
		}
	}
}

/* An i386 core without NT_386_TLS (gdb's gcore writes none): each such thread's struct pthread is
 * looked for in the writable memory the core holds, where glibc's tcbhead_t has tcb (at 0) and
 * self (at 8) pointing at it and pd->tid holds the thread's tid; the thread gets the TLS entry
 * glibc's set_thread_area made (base there, 4 GiB of 32-bit data) in the entry its gs selects. */
static void find_tcbs(const struct process *src, struct plan_thread *t, size_t nt,
		      uint32_t tid_off)
{
	size_t missing = 0;
	unsigned char *buf;

	for (size_t i = 0; i < nt; i++)
		missing += !t[i].tls_size;
	if (!missing || !(buf = malloc(SCAN_CHUNK)))
		return;
	for (size_t v = 0; v < src->vmas->n && missing; v++) {
		const struct core_vma *vma = &src->vmas->v[v];

		if (vma->perms[0] != 'r' || vma->perms[1] != 'w' || !vma->seg)
			continue;
		/* Chunks overlap by a struct pthread's head, so none is cut. */
		for (uint64_t at = vma->start; at < vma->end && missing;
		     at += SCAN_CHUNK - tid_off - 4) {
			ssize_t n = memory_read(src->facts, at, buf, MIN(SCAN_CHUNK, vma->end - at));

			for (ssize_t o = 0; o + (ssize_t)tid_off + 4 <= n && missing; o += 4) {
				uint32_t tcb, self, tid, a = (uint32_t)(at + (uint64_t)o);

				memcpy(&tcb, buf + o, 4);
				if (tcb != a)
					continue;
				memcpy(&self, buf + o + 8, 4);
				memcpy(&tid, buf + o + tid_off, 4);
				for (size_t i = 0; i < nt && self == a; i++) {
					uint32_t gs, e, d[4] = { 0, 0, 0, DESC_EMPTY };

					memcpy(&gs, t[i].regs + I386_GS, 4);
					e = (gs >> 3) - TLS_MIN;
					if (t[i].tls_size || (int32_t)tid != t[i].ct->tid || (gs & 4) ||
					    e >= 3)
						continue;
					for (uint32_t k = 0; k <= e; k++) {
						d[0] = TLS_MIN + k;
						memcpy(t[i].tls + k * DESC_SIZE, d, sizeof(d));
					}
					d[0] = TLS_MIN + e;
					d[1] = a;
					d[2] = 0xfffff;
					d[3] = DESC_GLIBC;
					memcpy(t[i].tls + e * DESC_SIZE, d, sizeof(d));
					t[i].tls_size = (e + 1) * DESC_SIZE;
					t[i].tp = a;
					missing--;
				}
			}
			if (n <= 0 || at + SCAN_CHUNK >= vma->end)
				break;
		}
	}
	free(buf);
}

void glibc_find(const struct process *src, struct plan_thread *t, size_t nt,
		struct glibc_layout *g)
{
	struct memory *m = src->facts;
	uint64_t addr[W_COUNT] = { 0 }, v;
	bool found[W_COUNT] = { false };
	uint32_t size;
	unsigned word = src->core->word;

	memset(g, 0, sizeof(*g));
	for (size_t i = 0; i < src->files->nfiles; i++) {
		const struct disk_file *d = disk_file_resolve(src->files, &src->files->files[i]);
		bool all = true;

		if (!d || !d->header_addr)
			continue;
		scan_file(d, addr, found);
		for (int w = 0; w < W_COUNT; w++)
			all &= found[w];
		if (all)
			break;
	}
	if (found[W_CURBRK] && read_word(m, addr[W_CURBRK], word, &v))
		g->curbrk = v;
	if (!found[W_TID]) {
		snprintf(g->why, sizeof(g->why), "no _thread_db_pthread_tid in the mapped libraries "
			 "(not glibc, or its libc is not on this machine): clear_child_tid, the robust "
			 "lists and glibc's cached tids are not restored");
	} else {
		uint32_t d[3];

		if (word == 4 && memory_read(m, addr[W_TID], d, sizeof(d)) == (ssize_t)sizeof(d) &&
		    d[0] == 32 && d[2] < 4096)
			find_tcbs(src, t, nt, d[2]);
		find_tid(m, word, t, nt, addr[W_TID], g);
		if (g->tid)
			find_robust(m, word, t, nt, g);
		if (g->tid && !g->robust)
			snprintf(g->why, sizeof(g->why), "the robust list heads were not found in the "
				 "threads' struct pthread: robust mutexes of a dying thread are not "
				 "released");
	}
	/* __rseq_offset is a ptrdiff_t: a negative 32-bit one is sign-extended. */
	if (found[W_RSEQ_OFFSET] && found[W_RSEQ_SIZE] &&
	    read_word(m, addr[W_RSEQ_OFFSET], word, &v) && read_u32(m, addr[W_RSEQ_SIZE], &size) &&
	    size) {
		g->rseq = true;
		g->rseq_off = word == 4 ? (int64_t)(int32_t)v : (int64_t)v;
		g->rseq_len = size < RSEQ_MIN_LEN ? RSEQ_MIN_LEN : size;
	} else if (!g->why[0] && found[W_TID]) {
		snprintf(g->why, sizeof(g->why), "ld.so's __rseq_offset/__rseq_size were not found or "
			 "rseq was off: rseq is not registered");
	}
}
