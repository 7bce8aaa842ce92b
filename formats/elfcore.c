/* formats/elfcore.c — read an ELF core (any class, either byte order) into struct core.
 *
 * The pipeline, in the spirit of elfutils' dwfl_core_file_report:
 *   1. check the file: not empty, an ELF file (libelf), of type ET_CORE;
 *   2. every PT_LOAD becomes a segment, with how many of its bytes the file really holds;
 *   3. every PT_NOTE is walked with gelf_getnote and each note is recorded;
 *   4. the notes' owners tell the OS (Linux, NetBSD) and refuse kernel dumps (VMCOREINFO);
 *      e_machine, the class and e_flags pick the architecture's layouts (arch.c);
 *   5. the notes are decoded (elfnote.c): threads (NT_PRSTATUS and the register sets that follow
 *      it), NT_PRPSINFO, NT_AUXV, NT_FILE, NT_SIGINFO; NetBSD's procinfo and per-LWP notes;
 *   6. derived facts: pid, the killing signal, the producer, and what is missing.
 * Every count and size is checked against the bytes that exist before it is used. */
#include <errno.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch.h"
#include "core.h"
#include "elfcore.h"
#include "elfnote.h"
#include "internal.h"
#include "util.h"

/* --- 1. a remote core's headers ------------------------------------------------------------ */

#define HEADERS_MAX (256u << 20)	/* the most bytes of headers and notes copied for libelf */

/* Copy [off, off + len) of the dump into c->fd, the sparse memfd libelf maps, clamped to the
 * dump's end.  0, or -1 with err filled. */
static int copy_range(struct core *c, uint64_t off, uint64_t len, uint64_t *budget,
		      struct core_error *err)
{
	unsigned char *buf;

	if (off >= c->file_size)
		return 0;
	len = MIN(len, c->file_size - off);
	if (len > *budget)
		return core_fail(err, CORE_E_TOO_LARGE, "%s: headers and notes of more than %u MiB",
				 c->path, HEADERS_MAX >> 20);
	*budget -= len;
	buf = malloc(MIN(len, (uint64_t)4 << 20) ? MIN(len, (uint64_t)4 << 20) : 1);
	if (!buf)
		return core_fail(err, CORE_E_NOMEM, "%s: out of memory", c->path);
	for (uint64_t done = 0; done < len;) {
		size_t n = (size_t)MIN(len - done, (uint64_t)4 << 20);
		ssize_t got = core_pread(c, buf, n, off + done);

		if (got <= 0 || pwrite(c->fd, buf, (size_t)got, (off_t)(off + done)) != got) {
			free(buf);
			return core_fail(err, CORE_E_IO, "%s: reading its headers at 0x%" PRIx64 ": %s",
					 c->path, off + done, got == 0 ? "the object ends early" :
					 strerror(errno));
		}
		done += (uint64_t)got;
	}
	free(buf);
	return 0;
}

/* A field of the header bytes h (n of them) at off, in the core's byte order; 0 past the end. */
static uint64_t field(const unsigned char *h, size_t n, size_t off, unsigned size, bool big)
{
	uint64_t v = 0;

	if (off + size > n)
		return 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)h[big ? off + i : off + size - 1 - i] << (8 * (size - 1 - i));
	return v;
}

/* A remote core (remote.h): only what libelf reads of it is fetched, into c->fd: the ELF header,
 * section header 0 (the counts of PN_XNUM), the program headers and the notes.  What is wrong
 * with them is for the checks below to find, on the bytes copied. */
static int fetch_headers(struct core *c, struct core_error *err)
{
	unsigned char eh[64], sh[64], *ph = NULL;
	uint64_t budget = HEADERS_MAX, phoff, shoff, phnum, phsz, shsz;
	bool is64, big;
	ssize_t n = core_pread(c, eh, sizeof(eh), 0);
	int r = -1;

	if (n < 0)
		return core_fail(err, CORE_E_IO, "%s: %s", c->path, strerror(errno));
	if (copy_range(c, 0, (uint64_t)n, &budget, err) < 0)
		return -1;
	if (n < 20)
		return 0;
	is64 = eh[EI_CLASS] == ELFCLASS64;
	big = eh[EI_DATA] == ELFDATA2MSB;
	phoff = field(eh, (size_t)n, is64 ? 32 : 28, is64 ? 8 : 4, big);
	shoff = field(eh, (size_t)n, is64 ? 40 : 32, is64 ? 8 : 4, big);
	phsz = field(eh, (size_t)n, is64 ? 54 : 42, 2, big);
	phnum = field(eh, (size_t)n, is64 ? 56 : 44, 2, big);
	shsz = field(eh, (size_t)n, is64 ? 58 : 46, 2, big);
	if (shoff && shsz && copy_range(c, shoff, MIN(shsz, sizeof(sh)), &budget, err) < 0)
		return -1;
	if (phnum == PN_XNUM && shoff && shsz >= (is64 ? 48u : 32u)) {
		ssize_t got = core_pread(c, sh, (size_t)MIN(shsz, sizeof(sh)), shoff);

		phnum = got > 0 ? field(sh, (size_t)got, is64 ? 44 : 28, 4, big) : 0;
	}
	if (!phnum || phsz < (is64 ? 56u : 32u) || phnum * phsz > HEADERS_MAX)
		return 0;
	if (copy_range(c, phoff, phnum * phsz, &budget, err) < 0)
		return -1;
	ph = malloc(phnum * phsz);
	if (!ph)
		return core_fail(err, CORE_E_NOMEM, "%s: out of memory", c->path);
	n = core_pread(c, ph, phnum * phsz, phoff);
	for (uint64_t i = 0; n > 0 && i < (uint64_t)n / phsz; i++) {
		const unsigned char *p = ph + i * phsz;
		uint64_t type = field(p, phsz, 0, 4, big);
		uint64_t off = field(p, phsz, is64 ? 8 : 4, is64 ? 8 : 4, big);
		uint64_t size = field(p, phsz, is64 ? 32 : 16, is64 ? 8 : 4, big);

		if (type == PT_NOTE && copy_range(c, off, size, &budget, err) < 0)
			goto out;
	}
	r = 0;
out:
	free(ph);
	return r;
}

/* --- 2. segments ------------------------------------------------------------------------- */

static int read_segments(struct core *c, Elf *elf, size_t phnum, struct core_error *err)
{
	c->segs = calloc(phnum ? phnum : 1, sizeof(*c->segs));
	if (!c->segs)
		return core_fail(err, CORE_E_NOMEM, "%s: out of memory for %zu segments", c->path, phnum);
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		struct core_segment *s;

		if (!gelf_getphdr(elf, (int)i, &ph))
			return core_fail(err, CORE_E_CORRUPT, "%s: cannot read program header %zu: %s",
					 c->path, i, elf_errmsg(-1));
		if (ph.p_type != PT_LOAD)
			continue;
		s = &c->segs[c->nsegs++];
		s->vaddr = ph.p_vaddr;
		s->memsz = ph.p_memsz;
		s->offset = ph.p_offset;
		s->filesz = ph.p_filesz;
		s->flags = ph.p_flags & (SEG_R | SEG_W | SEG_X);
		core_segment_settle(c, s);
	}
	return core_index_segments(c, err);
}

/* --- 3. notes ---------------------------------------------------------------------------- */

static int add_note(struct core *c, const char *owner, uint32_t type, uint64_t offset,
		    const unsigned char *desc, size_t size, size_t *cap)
{
	struct core_note *n;

	if (c->nnotes == *cap) {
		size_t ncap = *cap ? 2 * *cap : 32;
		struct core_note *grown = realloc(c->notes, ncap * sizeof(*grown));

		if (!grown)
			return -1;
		c->notes = grown;
		*cap = ncap;
	}
	n = &c->notes[c->nnotes];
	memset(n, 0, sizeof(*n));
	n->owner = strdup(owner);
	if (!n->owner)
		return -1;
	n->type = type;
	n->offset = offset;
	n->desc = desc;
	n->size = size;
	c->nnotes++;
	return 0;
}

/* Whether file bytes [offset, offset + size) hold some PT_LOAD's data. */
static bool overlaps_load(const struct core *c, uint64_t offset, uint64_t size)
{
	for (size_t i = 0; i < c->nsegs; i++) {
		const struct core_segment *s = &c->segs[i];

		if (!s->filesz)
			continue;
		if (s->offset <= offset ? offset - s->offset < s->filesz : s->offset - offset < size)
			return true;
	}
	return false;
}

/* Walk one PT_NOTE segment.  A segment running past the end of the file is read as far as it
 * exists; a note whose sizes run past its segment ends the walk, and both are reported. */
static int read_note_segment(struct core *c, Elf *elf, const GElf_Phdr *ph, size_t *cap,
			     struct core_error *err)
{
	uint64_t size = ph->p_filesz;
	Elf_Data *data;
	size_t off = 0, next;
	GElf_Nhdr nh;
	size_t name_off, desc_off;
	bool cut = false;

	if (ph->p_offset >= c->file_size) {
		core_problem(c, "truncated: note segment at 0x%" PRIx64 " lies past the end of the file",
			     ph->p_offset);
		return 0;
	}
	/* Past the end of the file and over the bytes of a PT_LOAD: a corrupt header rather than
	 * a cut file, whose "notes" would be read from the memory of the process. */
	if (size > c->file_size - ph->p_offset && overlaps_load(c, ph->p_offset, size))
		return core_fail(err, CORE_E_TRUNCATED, "%s: truncated: note segment at 0x%" PRIx64
				 " needs 0x%" PRIx64 " bytes, the file holds 0x%" PRIx64, c->path,
				 ph->p_offset, size, c->file_size - ph->p_offset);
	if (size > c->file_size - ph->p_offset) {
		core_problem(c, "truncated: note segment at 0x%" PRIx64 " needs 0x%" PRIx64
			     " bytes, the file holds 0x%" PRIx64, ph->p_offset, size,
			     c->file_size - ph->p_offset);
		size = c->file_size - ph->p_offset;
		cut = true;
	}
	if (size == 0)
		return 0;
	data = elf_getdata_rawchunk(elf, (int64_t)ph->p_offset, size,
				    ph->p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
	if (!data)
		return core_fail(err, CORE_E_CORRUPT, "%s: cannot read note segment at 0x%" PRIx64 ": %s",
				 c->path, ph->p_offset, elf_errmsg(-1));
	while (off < data->d_size) {
		char owner[64];
		size_t namesz;

		if (data->d_size - off < sizeof(Elf32_Nhdr))
			break;
		next = gelf_getnote(data, off, &nh, &name_off, &desc_off);
		if (next == 0) {
			/* The header's sizes run past what is read: the note is cut short. */
			return core_fail(err, cut ? CORE_E_TRUNCATED : CORE_E_CORRUPT,
					 "%s: note at offset 0x%" PRIx64 " runs past the end of %s",
					 c->path, (uint64_t)(ph->p_offset + off),
					 cut ? "the file" : "its segment");
		}
		namesz = nh.n_namesz;
		if (namesz >= sizeof(owner))
			namesz = sizeof(owner) - 1;
		memcpy(owner, (const char *)data->d_buf + name_off, namesz);
		owner[namesz] = '\0';
		if (add_note(c, owner, nh.n_type, ph->p_offset + desc_off,
			     (const unsigned char *)data->d_buf + desc_off, nh.n_descsz, cap) < 0)
			return core_fail(err, CORE_E_NOMEM, "%s: out of memory for notes", c->path);
		off = next;
	}
	return 0;
}

static int read_notes(struct core *c, Elf *elf, size_t phnum, struct core_error *err)
{
	size_t cap = 0;
	bool any = false;

	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_NOTE)
			continue;
		any = true;
		if (read_note_segment(c, elf, &ph, &cap, err) < 0)
			return -1;
	}
	if (!any)
		core_problem(c, "missing: the core has no note segment (no threads, registers or process information)");
	return 0;
}

/* --- 4 and 6. what kind of core, and derived facts ----------------------------------------- */

static void detect_os(struct core *c)
{
	c->os = CORE_OS_LINUX;
	for (size_t i = 0; i < c->nnotes; i++)
		if (!strncmp(c->notes[i].owner, "NetBSD-CORE", 11)) {
			c->os = CORE_OS_NETBSD;
			return;
		}
}

static const struct core_note *find_linux_note(const struct core *c, uint32_t type)
{
	for (size_t i = 0; i < c->nnotes; i++)
		if (elfnote_linux_owner(c->notes[i].owner) && c->notes[i].type == type)
			return &c->notes[i];
	return NULL;
}

/* The size of the first NT_PRSTATUS: it tells ABIs apart that the header does not. */
static size_t first_prstatus_size(const struct core *c)
{
	const struct core_note *n = find_linux_note(c, NT_PRSTATUS);

	return n ? n->size : 0;
}

static bool is_kernel_dump(const struct core *c)
{
	for (size_t i = 0; i < c->nnotes; i++)
		if (!strcmp(c->notes[i].owner, "VMCOREINFO"))
			return true;
	return false;
}

static void derive(struct core *c, size_t shnum)
{
	const struct core_thread *first = c->nthreads ? &c->threads[0] : NULL;

	if (c->psinfo.present && c->psinfo.pid > 0)
		c->pid = c->psinfo.pid;
	else if (first)
		c->pid = first->tid;
	if (c->nnotes && elfnote_linux_owner(c->notes[0].owner) && c->notes[0].type == NT_PRPSINFO)
		c->producer = CORE_BY_GDB;
	else if (shnum > 1)
		c->producer = CORE_BY_GDB;
	else if (c->os == CORE_OS_LINUX)
		c->producer = CORE_BY_KERNEL;
	else
		c->producer = CORE_BY_OTHER;
	if (c->os == CORE_OS_LINUX && first)
		c->signo = first->cursig;
	if (c->os == CORE_OS_LINUX) {
		if (!c->psinfo.present)
			core_problem(c, "missing: no NT_PRPSINFO note (command name, arguments, uid unknown)");
		if (!c->auxv_raw)
			core_problem(c, "missing: no NT_AUXV note");
		/* A malformed NT_FILE has said so already. */
		if (!c->files && c->nnotes && !find_linux_note(c, NT_FILE))
			core_problem(c, "missing: no NT_FILE note (names of mapped files unknown)");
	}
}

/* The number of program headers the header claims: e_phnum, or under extended numbering
 * (PN_XNUM) sh_info of section 0, through libelf's section API. */
static uint64_t claimed_phnum(Elf *elf, const GElf_Ehdr *eh)
{
	Elf_Scn *scn;
	GElf_Shdr sh;

	if (eh->e_phnum != PN_XNUM)
		return eh->e_phnum;
	scn = elf_getscn(elf, 0);
	if (!scn || !gelf_getshdr(scn, &sh))
		return PN_XNUM;
	return sh.sh_info;
}

static const char *format_name(const struct core *c)
{
	if (c->elf_class == ELFCLASS64)
		return c->big_endian ? "elf64-big" : "elf64-little";
	return c->big_endian ? "elf32-big" : "elf32-little";
}

int elfcore_read(struct core *c, struct core_error *err)
{
	Elf *elf;
	GElf_Ehdr eh;
	size_t phnum, shnum = 0;
	uint64_t claimed, phend;

	elf_version(EV_CURRENT);
	if (c->remote && fetch_headers(c, err) < 0)
		return -1;
	elf = elf_begin(c->fd, ELF_C_READ_MMAP, NULL);
	if (!elf && c->file_size < sizeof(Elf64_Ehdr))
		return core_fail(err, CORE_E_TRUNCATED, "%s: truncated ELF header (%" PRIu64 " bytes)",
				 c->path, c->file_size);
	if (!elf)
		return core_fail(err, CORE_E_NOT_CORE, "%s: cannot read as ELF: %s", c->path,
				 elf_errmsg(-1));
	c->elf = elf;
	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh))
		return core_fail(err, CORE_E_TRUNCATED, "%s: truncated ELF header (%" PRIu64 " bytes)",
				 c->path, c->file_size);
	c->elf_class = eh.e_ident[EI_CLASS];
	c->big_endian = eh.e_ident[EI_DATA] == ELFDATA2MSB;
	c->machine = eh.e_machine;
	c->e_flags = eh.e_flags;
	c->word = c->elf_class == ELFCLASS64 ? 8 : 4;
	c->format = format_name(c);
	if (eh.e_type != ET_CORE)
		return core_fail(err, CORE_E_NOT_CORE, "%s: ELF file is not a core (e_type %s)", c->path,
				 eh.e_type == ET_EXEC ? "ET_EXEC, an executable"
				 : eh.e_type == ET_DYN ? "ET_DYN, a shared object or PIE"
				 : eh.e_type == ET_REL ? "ET_REL, an object file" : "unknown");
	/* libelf clamps a table that does not fit in the file (elf_getphdrnum then counts what
	 * fits, or fails); a core cut there is unusable, so the count the header claims is
	 * checked first. */
	claimed = claimed_phnum(elf, &eh);
	if (claimed && eh.e_phentsize != gelf_fsize(elf, ELF_T_PHDR, 1, EV_CURRENT))
		return core_fail(err, CORE_E_CORRUPT, "%s: program header size %u is not %zu", c->path,
				 eh.e_phentsize, gelf_fsize(elf, ELF_T_PHDR, 1, EV_CURRENT));
	phend = eh.e_phoff + claimed * eh.e_phentsize;
	if (claimed && (eh.e_phoff > c->file_size || phend > c->file_size || phend < eh.e_phoff))
		return core_fail(err, CORE_E_TRUNCATED,
				 "%s: truncated: %" PRIu64 " program headers at 0x%" PRIx64
				 " run past the end of the file (%" PRIu64 " bytes)",
				 c->path, claimed, (uint64_t)eh.e_phoff, c->file_size);
	if (elf_getphdrnum(elf, &phnum) != 0)
		return core_fail(err, CORE_E_CORRUPT, "%s: cannot count program headers: %s", c->path,
				 elf_errmsg(-1));
	if (phnum == 0)
		return core_fail(err, CORE_E_CORRUPT, "%s: core has no program headers", c->path);
	elf_getshdrnum(elf, &shnum);
	if (read_segments(c, elf, phnum, err) < 0 || read_notes(c, elf, phnum, err) < 0)
		return -1;
	if (is_kernel_dump(c))
		return core_fail(err, CORE_E_NOT_PROCESS,
				 "%s: a kernel crash dump (vmcore with VMCOREINFO), not a process core",
				 c->path);
	detect_os(c);
	c->arch = arch_find_sized(c->machine, c->elf_class, c->e_flags, c->os,
				  first_prstatus_size(c));
	if (arch_is_generic(c->arch))
		core_problem(c, "registers not decoded: no register layout for machine %u (%s)",
			     c->machine, c->format);
	if (elfnote_decode(c, err) < 0)
		return -1;
	derive(c, shnum);
	/* Not for a decompressed core: a read through a mapping of a memfd's hole allocates the
	 * page, where pread reads zeros; its pages of zeros would fill up memory as mem is read. */
	if (!c->codec && !c->remote) {
		size_t n = 0;
		const unsigned char *img = (const unsigned char *)elf_rawfile(elf, &n);

		if (img && n == c->file_size)
			c->image = img;
	}
	return 0;
}

void elfcore_close(struct core *c)
{
	if (c->elf)
		elf_end(c->elf);
	c->elf = NULL;
}
