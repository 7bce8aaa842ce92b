/* formats/modules.c — find the ELF objects a dead process had loaded.
 *
 * The stages, as elfutils' dwfl_core_file_report runs them:
 *   1. the vDSO at AT_SYSINFO_EHDR (its whole image is in the core);
 *   2. every file NT_FILE names, at the mapping of its offset 0;
 *   3. cores without NT_FILE: the executable through AT_PHDR, then the dynamic linker's list,
 *      AT_PHDR -> PT_DYNAMIC -> DT_DEBUG -> r_debug.r_map -> link_map (l_addr, l_name, l_ld).
 * Each candidate's ELF header and program headers are read through the memory reader and parsed
 * with libelf; they give its extent, its load bias, its build-id note and its PT_GNU_EH_FRAME.  A
 * candidate whose headers cannot be read is not an object we can describe, and is left out. */
#include <elf.h>
#include <fcntl.h>
#include <unistd.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "modules.h"
#include "util.h"


#define PACKAGE_MAX 4096	/* the longest packaging metadata note kept */
#define HEAD_MAX (64 * 1024)	/* the most of an object read for its headers and notes */
#define PHNUM_MAX 4096
#define LINK_MAP_MAX 4096	/* entries walked before the list is taken for a loop */

static uint64_t page_size(const struct core *c)
{
	return c->file_page_size ? c->file_page_size : 4096;
}

/* Up to want bytes of memory at addr into a fresh buffer; *len how many were readable. */
static unsigned char *read_at(struct memory *mem, uint64_t addr, size_t want, size_t *len)
{
	unsigned char *buf = malloc(want ? want : 1);
	ssize_t n;

	*len = 0;
	if (!buf)
		return NULL;
	n = memory_read(mem, addr, buf, want);
	if (n <= 0) {
		free(buf);
		return NULL;
	}
	*len = (size_t)n;
	return buf;
}

/* The bytes of the object's start that hold its headers and notes, as an Elf of libelf.  *img
 * holds the bytes the Elf refers to; both are the caller's to free (elf_end, free). */
static Elf *open_image(const struct core *c, struct memory *mem, uint64_t header,
		       unsigned char **img)
{
	size_t len, need = 0, phnum;
	Elf *elf;
	GElf_Ehdr eh;

	*img = read_at(mem, header, 4096, &len);
	if (!*img)
		return NULL;
	for (int pass = 0; pass < 2; pass++) {
		elf = elf_memory((char *)*img, len);
		if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh) ||
		    (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) ||
		    eh.e_ident[EI_CLASS] != c->elf_class ||
		    eh.e_ident[EI_DATA] != (c->big_endian ? ELFDATA2MSB : ELFDATA2LSB) ||
		    elf_getphdrnum(elf, &phnum) != 0 || phnum == 0 || phnum > PHNUM_MAX)
			goto fail;
		if (pass == 1)
			return elf;
		/* What the headers and the notes need, when the first page does not hold it. */
		need = eh.e_phoff + phnum * eh.e_phentsize;
		for (size_t i = 0; i < phnum; i++) {
			GElf_Phdr ph;

			uint64_t end;

			if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_NOTE &&
			    (end = ph.p_offset + ph.p_filesz) > ph.p_offset)
				need = MAX(need, (size_t)MIN(end, (uint64_t)HEAD_MAX));
		}
		if (need <= len || len < 4096)
			return elf;
		elf_end(elf);
		free(*img);
		*img = read_at(mem, header, MIN(need, (size_t)HEAD_MAX), &len);
		if (!*img)
			return NULL;
	}
	return NULL;
fail:
	if (elf)
		elf_end(elf);
	free(*img);
	*img = NULL;
	return NULL;
}

/* The packaging metadata note's text (up to its first NUL), into pkg[PACKAGE_MAX + 1]; "" when
 * there is none, or it is not text that fits. */
static void package_note(Elf *elf, char *pkg)
{
	const unsigned char *desc;
	size_t n = elf_image_note(elf, "FDO", NT_FDO_PACKAGING_METADATA, &desc, NULL);
	const unsigned char *nul = n ? memchr(desc, 0, n) : NULL;
	size_t len = nul ? (size_t)(nul - desc) : n;

	pkg[0] = 0;
	if (!len || len > PACKAGE_MAX)
		return;
	for (size_t i = 0; i < len; i++)
		if (desc[i] < 0x20 && desc[i] != '\t' && desc[i] != '\n')
			return;
	memcpy(pkg, desc, len);
	pkg[len] = 0;
}

/* Describe the object whose ELF header is mapped at header; false when it is not one. */
static bool probe(const struct core *c, struct memory *mem, uint64_t header, struct module *m,
		  uint64_t *dynamic, char *pkg)
{
	unsigned char *img;
	Elf *elf = open_image(c, mem, header, &img);
	size_t phnum = 0;
	bool have_load = false;
	uint64_t lo = 0, hi = 0, id_vaddr = 0, page = page_size(c);

	if (!elf)
		return false;
	memset(m, 0, sizeof(*m));
	m->header = header;
	m->elf_class = c->elf_class;
	*dynamic = 0;
	elf_getphdrnum(elf, &phnum);
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph))
			continue;
		switch (ph.p_type) {
		case PT_LOAD:
			if (!have_load) {
				/* The first PT_LOAD maps file offset 0 at the header's address. */
				m->bias = header - (ph.p_vaddr - ph.p_offset);
				lo = ph.p_vaddr;
				have_load = true;
			}
			lo = MIN(lo, ph.p_vaddr);
			hi = MAX(hi, ph.p_vaddr + ph.p_memsz);
			break;
		case PT_GNU_EH_FRAME:
			m->eh_frame_hdr = ph.p_vaddr;
			m->eh_frame_hdr_size = ph.p_memsz;
			break;
		case PT_DYNAMIC:
			*dynamic = ph.p_vaddr;
			break;
		}
	}
	if (have_load) {
		m->build_id_len = elf_image_build_id_at(elf, m->build_id, sizeof(m->build_id),
							&id_vaddr);
		package_note(elf, pkg);
		if (m->build_id_len)
			m->build_id_addr = m->bias + id_vaddr;
		if (m->eh_frame_hdr)
			m->eh_frame_hdr += m->bias;
		if (*dynamic)
			*dynamic += m->bias;
		m->start = (m->bias + lo) & ~(page - 1);
		m->end = m->bias + hi;
	}
	elf_end(elf);
	free(img);
	return have_load && m->end > m->start;
}

struct found {
	struct modules *mods;
	size_t cap;
	bool oom;
};

static bool overlaps(const struct modules *mods, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < mods->n; i++)
		if (start < mods->m[i].end && mods->m[i].start < end)
			return true;
	return false;
}

/* Probe header and keep the object unless it overlaps one already found. */
static struct module *add(const struct core *c, struct memory *mem, struct found *f,
			  uint64_t header, const char *name, enum module_kind kind,
			  uint64_t *dynamic)
{
	struct module m, *slot;
	uint64_t dyn;
	char pkg[PACKAGE_MAX + 1] = "";

	if (!dynamic)
		dynamic = &dyn;
	if (!probe(c, mem, header, &m, dynamic, pkg) || overlaps(f->mods, m.start, m.end))
		return NULL;
	if (f->mods->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 16;
		struct module *grown = realloc(f->mods->m, cap * sizeof(*grown));

		if (!grown) {
			f->oom = true;
			return NULL;
		}
		f->mods->m = grown;
		f->cap = cap;
	}
	m.kind = kind;
	m.name = strdup(name);
	m.package = pkg[0] ? strdup(pkg) : NULL;
	if (!m.name || (pkg[0] && !m.package)) {
		free(m.name);
		free(m.package);
		f->oom = true;
		return NULL;
	}
	slot = &f->mods->m[f->mods->n++];
	*slot = m;
	return slot;
}

/* Forget the module add() made last. */
static void drop_last(struct found *f)
{
	struct module *m = &f->mods->m[--f->mods->n];

	free(m->name);
	free(m->package);
}

static bool holds(const struct module *m, uint64_t addr)
{
	return m && addr >= m->start && addr < m->end;
}

/* 2. The files NT_FILE names, and those found through the dynamic linker's list where NT_FILE
 * is absent or cut (modules_link_map_files), each at the mapping of its offset 0. */
static void from_files(const struct core *c, struct memory *mem, const struct disk_files *df,
		       struct found *f)
{
	uint64_t phdr = 0, entry = 0;
	size_t nlinked = df ? df->nlinked : 0;

	core_auxv(c, AT_PHDR, &phdr);
	core_auxv(c, AT_ENTRY, &entry);
	for (size_t k = 0; k < c->nfiles + nlinked && !f->oom; k++) {
		const struct core_mapped_file *file = k < c->nfiles ? &c->files[c->file_by_addr[k]] :
						      &df->linked[k - c->nfiles];
		struct module *m;

		if (file->offset != 0)
			continue;
		m = add(c, mem, f, file->start, file->path, MODULE_LIB, NULL);
		if (!m)
			continue;
		m->disk = df ? disk_file_of(c, df, file) : NULL;
		if (holds(m, phdr) || (!phdr && holds(m, entry)))
			m->kind = MODULE_EXE;
	}
}

/* A target word at addr; false when memory does not hold it. */
static bool read_word(const struct core *c, struct memory *mem, uint64_t addr, uint64_t *v)
{
	unsigned char b[8];
	unsigned w = c->elf_class == ELFCLASS64 ? 8 : 4;

	if (memory_read(mem, addr, b, w) != (ssize_t)w)
		return false;
	*v = core_get(c, b, w);
	return true;
}

/* r_debug's address, from DT_DEBUG in the executable's dynamic section; 0 when unknown. */
static uint64_t r_debug_addr(const struct core *c, struct memory *mem, uint64_t dynamic)
{
	unsigned w = c->elf_class == ELFCLASS64 ? 8 : 4;

	for (unsigned i = 0; dynamic && i < HEAD_MAX / (2 * w); i++) {
		uint64_t tag, val;

		if (!read_word(c, mem, dynamic + 2 * w * i, &tag) ||
		    !read_word(c, mem, dynamic + 2 * w * i + w, &val) || tag == 0)
			return 0;
		if (tag == DT_DEBUG)
			return val;
	}
	return 0;
}

static char *read_string(struct memory *mem, uint64_t addr)
{
	size_t len;
	unsigned char *s = read_at(mem, addr, PATH_MAX, &len);
	unsigned char *nul = s ? memchr(s, 0, len) : NULL;

	if (!nul) {
		free(s);
		return NULL;
	}
	return (char *)s;
}

/* 3. No NT_FILE: the executable at AT_PHDR, and the libraries of the dynamic linker's list. */
static void from_link_map(const struct core *c, struct memory *mem,
			  const struct exe_layout *layout, struct found *f)
{
	uint64_t dynamic = 0, w, lm, rd;
	const char *exe = core_exe_path(c);
	struct module *main_obj;

	if (!layout->known)
		return;
	main_obj = add(c, mem, f, layout->header, exe ? exe : "[exe]", MODULE_EXE, &dynamic);
	if (!main_obj)
		return;
	if (!holds(main_obj, layout->phdr)) {
		drop_last(f);
		return;
	}
	w = c->elf_class == ELFCLASS64 ? 8 : 4;
	rd = r_debug_addr(c, mem, dynamic);
	if (!rd || !read_word(c, mem, rd + w, &lm))	/* r_map follows the int r_version */
		return;
	for (unsigned k = 0; lm && k < LINK_MAP_MAX && !f->oom; k++) {
		uint64_t l_addr, l_name, l_ld, next, dyn;
		char *name;
		struct module *m;

		if (!read_word(c, mem, lm, &l_addr) || !read_word(c, mem, lm + w, &l_name) ||
		    !read_word(c, mem, lm + 2 * w, &l_ld) || !read_word(c, mem, lm + 3 * w, &next))
			return;
		name = l_name ? read_string(mem, l_name) : NULL;
		if (name && name[0]) {
			/* Shared objects are linked at 0: l_addr is where their header is. */
			m = add(c, mem, f, l_addr, name, MODULE_LIB, &dyn);
			if (m && dyn != l_ld) {
				drop_last(f);
			}
		}
		free(name);
		lm = next;
	}
}

/* The program headers of the object whose header is at header: from the core's copy of its
 * header page, else from the file d when it is usable (its own bytes, as it was mapped).  A
 * malloc'd array, *n of them, and the file's e_phoff in *phoff; NULL when neither has them. */
static GElf_Phdr *object_phdrs(const struct core *c, const struct disk_file *d, uint64_t header,
			       size_t *n, uint64_t *phoff)
{
	unsigned char *page = malloc(HEAD_MAX);
	ssize_t got = page ? core_read_mem(c, header, page, HEAD_MAX) : -1;
	GElf_Phdr *ph = NULL;
	GElf_Ehdr eh;
	Elf *elf = NULL;
	int fd = -1;

	*n = 0;
	if (got >= 4 && !memcmp(page, "\177ELF", 4))
		elf = elf_memory((char *)page, (size_t)got);
	else if (disk_file_usable(d) && (fd = open(d->disk_path, O_RDONLY | O_CLOEXEC)) >= 0)
		elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh) ||
	    eh.e_ident[EI_CLASS] != c->elf_class || elf_getphdrnum(elf, n) != 0 || !*n ||
	    *n > PHNUM_MAX || !(ph = calloc(*n, sizeof(*ph))))
		goto out;
	*phoff = eh.e_phoff;
	for (size_t i = 0; i < *n; i++)
		if (!gelf_getphdr(elf, (int)i, &ph[i])) {
			free(ph);
			ph = NULL;
			goto out;
		}
out:
	if (!ph)
		*n = 0;
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	free(page);
	return ph;
}

/* Record the file-backed part of each PT_LOAD of df->files[file] loaded at bias; *dynamic gets
 * PT_DYNAMIC, loaded (0: none).  0, or -1 when out of memory. */
static int add_loads(const struct core *c, struct disk_files *df, size_t file,
		     const GElf_Phdr *ph, size_t n, uint64_t bias, uint64_t *dynamic)
{
	uint64_t page = page_size(c), last_end = 0;

	*dynamic = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t start, end, off;

		if (ph[i].p_type == PT_DYNAMIC)
			*dynamic = bias + ph[i].p_vaddr;
		if (ph[i].p_type != PT_LOAD || !ph[i].p_filesz)
			continue;
		start = bias + (ph[i].p_vaddr & ~(page - 1));
		off = ph[i].p_offset & ~(page - 1);
		end = (bias + ph[i].p_vaddr + ph[i].p_filesz + page - 1) & ~(page - 1);
		if (start < last_end) {	/* two segments sharing a page: the first keeps it */
			off += last_end - start;
			start = last_end;
		}
		if (end <= start)
			continue;
		if (disk_files_add_mapping(df, file, start, end, off) < 0)
			return -1;
		last_end = end;
	}
	return 0;
}

/* Where the executable's ELF header is, when AT_PHDR and its program headers (from the core or
 * the file) say: the bias from PT_PHDR, else from the first PT_LOAD and e_phoff. */
static bool exe_bias(const GElf_Phdr *ph, size_t n, uint64_t at_phdr, uint64_t phoff,
		     uint64_t *bias)
{
	for (size_t i = 0; i < n; i++)
		if (ph[i].p_type == PT_PHDR) {
			*bias = at_phdr - ph[i].p_vaddr;
			return true;
		}
	for (size_t i = 0; i < n; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0) {
			*bias = at_phdr - phoff - ph[i].p_vaddr;
			return true;
		}
	return false;
}

/* The executable's name as the process was started (AT_EXECFN's string), else psinfo's. */
static char *exe_name(const struct core *c, struct memory *mem)
{
	uint64_t execfn;
	char *s = core_auxv(c, AT_EXECFN, &execfn) && execfn ? read_string(mem, execfn) : NULL;

	return s && s[0] ? s : (free(s), strdup(c->psinfo.fname[0] ? c->psinfo.fname : "[exe]"));
}

/* Look up one object of the list NT_FILE does not name and record its mappings; *dynamic its
 * PT_DYNAMIC, loaded (0 when unknown).  bias_known: bias is where it lies (a library: l_addr);
 * else header is AT_PHDR and the bias is found from its program headers (the executable).
 * 0, or -1 when out of memory. */
static int link_one(const struct core *c, const struct file_lookup *where, struct disk_files *df,
		    const char *name, bool exe, uint64_t header, bool bias_known, uint64_t bias,
		    uint64_t *dynamic)
{
	struct disk_file *d;
	GElf_Phdr *ph;
	size_t n, i;
	uint64_t phoff = 0, lo = UINT64_MAX;
	int r = 0;

	*dynamic = 0;
	d = disk_files_add(c, where, df, name, bias_known ? header : 0, exe);
	if (!d)
		return -1;
	i = (size_t)(d - df->files);
	ph = object_phdrs(c, d, header, &n, &phoff);
	if (!bias_known && (!ph || !exe_bias(ph, n, header, phoff, &bias))) {
		free(ph);
		return 0;
	}
	for (size_t k = 0; k < n; k++)
		if (ph[k].p_type == PT_LOAD)
			lo = MIN(lo, ph[k].p_vaddr & ~(page_size(c) - 1));
	if (!bias_known && lo != UINT64_MAX)
		d->header_addr = bias + lo;	/* not in the core: layout would have found it */
	if (ph)
		r = add_loads(c, df, i, ph, n, bias, dynamic);
	free(ph);
	return r;
}

int modules_link_map_files(const struct core *c, struct memory *mem,
			   const struct exe_layout *layout, const struct file_lookup *where,
			   struct disk_files *df)
{
	uint64_t at_phdr = 0, vdso = 0, dynamic = 0, rd, lm, w = c->elf_class == ELFCLASS64 ? 8 : 4;
	const struct core_mapped_file *f;

	if (!core_auxv(c, AT_PHDR, &at_phdr) || !at_phdr)
		return 0;
	core_auxv(c, AT_SYSINFO_EHDR, &vdso);
	/* The executable, at AT_PHDR. */
	if (!(f = disk_files_mapping_at(c, df, at_phdr))) {
		char *name = exe_name(c, mem);
		int r = !name ? -1 :
			layout->known ? link_one(c, where, df, name, true, layout->header, true,
						 layout->bias, &dynamic) :
			link_one(c, where, df, name, true, at_phdr, false, 0, &dynamic);

		free(name);
		if (r < 0)
			return -1;
	} else {
		/* NT_FILE names the executable: its PT_DYNAMIC from its program headers. */
		const struct disk_file *d = disk_file_of(c, df, f);
		GElf_Phdr *ph;
		size_t n;
		uint64_t phoff = 0, bias;

		ph = object_phdrs(c, d, f->start, &n, &phoff);
		if (ph && exe_bias(ph, n, at_phdr, phoff, &bias))
			for (size_t k = 0; k < n; k++)
				if (ph[k].p_type == PT_DYNAMIC)
					dynamic = bias + ph[k].p_vaddr;
		free(ph);
	}
	rd = r_debug_addr(c, mem, dynamic);
	if (!rd || !read_word(c, mem, rd + w, &lm))	/* r_map follows the int r_version */
		return 0;
	for (unsigned k = 0; lm && k < LINK_MAP_MAX; k++) {
		uint64_t l_addr, l_name, l_ld, next, dyn;
		char *name;
		int r = 0;

		if (!read_word(c, mem, lm, &l_addr) || !read_word(c, mem, lm + w, &l_name) ||
		    !read_word(c, mem, lm + 2 * w, &l_ld) || !read_word(c, mem, lm + 3 * w, &next))
			return 0;
		name = l_name ? read_string(mem, l_name) : NULL;
		/* The executable has no name there; the vDSO's image is in the core; what NT_FILE
		 * names is known. */
		if (name && name[0] && l_addr != vdso && !disk_files_mapping_at(c, df, l_ld) &&
		    !disk_files_mapping_at(c, df, l_addr)) {
			r = link_one(c, where, df, name, false, l_addr, true, l_addr, &dyn);
			if (r == 0 && dyn && dyn != l_ld) {
				/* Not the object the dynamic linker loaded: its bytes must not stand
				 * in for memory.  Its mappings go. */
				struct disk_file *d = &df->files[df->nfiles - 1];

				d->status = DISK_DIFFERENT;
				d->source = SOURCE_NONE;
				free(d->why);
				d->why = strdup("its dynamic section is not where the dynamic linker's "
						"list puts it");
			}
		}
		free(name);
		if (r < 0)
			return -1;
		lm = next;
	}
	return 0;
}

static int cmp_start(const void *a, const void *b)
{
	const struct module *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

int modules_find(const struct core *c, struct memory *mem, const struct disk_files *df,
		 const struct exe_layout *layout, struct modules *out)
{
	struct found f = { .mods = out };
	uint64_t vdso;

	memset(out, 0, sizeof(*out));
	out->df = df;
	if (core_auxv(c, AT_SYSINFO_EHDR, &vdso) && vdso)
		add(c, mem, &f, vdso, "[vdso]", MODULE_VDSO, NULL);
	if (c->nfiles || (df && df->nlinked))
		from_files(c, mem, df, &f);
	else
		from_link_map(c, mem, layout, &f);
	if (f.oom) {
		modules_free(out);
		return -1;
	}
	if (out->n)
		qsort(out->m, out->n, sizeof(*out->m), cmp_start);
	return 0;
}

void modules_free(struct modules *mods)
{
	for (size_t i = 0; i < mods->n; i++) {
		free(mods->m[i].name);
		free(mods->m[i].package);
	}
	free(mods->m);
	memset(mods, 0, sizeof(*mods));
}

const struct module *module_at(const struct modules *mods, uint64_t addr)
{
	size_t lo = 0, hi = mods->n;

	/* The last module starting at or below addr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mods->m[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && addr < mods->m[lo - 1].end ? &mods->m[lo - 1] : NULL;
}

const char *module_status(const struct modules *mods, const struct module *m)
{
	if (m->kind == MODULE_VDSO)
		return "core";
	if (!m->disk)
		return "unchecked";
	return disk_file_status_now(mods->df, m->disk);
}

const struct disk_file *module_file(const struct modules *mods, const struct module *m)
{
	if (!mods->df)
		return disk_file_usable(m->disk) ? m->disk : NULL;
	return disk_file_resolve(mods->df, m->disk);
}
