/* formats/symbols.c — symbol tables of the loaded objects, and the name for an address. */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <libiberty/demangle.h>	/* includes libiberty.h, whose ARRAY_SIZE util.h defines */
#undef ARRAY_SIZE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbols.h"
#include "util.h"

#define IMAGE_MAX (16u << 20)	/* the most of the vDSO's image read for its tables */
#define SYMS_MAX (16u << 20)	/* symbols kept from one table */

/* What gdb and binutils (nm -C, addr2line -C) pass to libiberty's demangler. */
#define DEMANGLE_OPTIONS (DMGL_PARAMS | DMGL_ANSI)

struct sym {
	uint64_t value;		/* loaded address */
	uint64_t size;
	uint32_t name;		/* offset in strings */
	uint32_t order;		/* index in its table: the first wins a tie */
	uint32_t shndx;
	uint8_t rank;		/* global 3, unique 2, weak 1, local 0 (elfutils' rule) */
	char *demangled;	/* made on first lookup; NULL when the name is not mangled */
	bool tried;
};

struct text_section {
	uint64_t start, end;	/* loaded */
	uint32_t index;
};

struct symtab {
	bool loaded;
	const char *source;
	struct sym *syms;	/* sorted by value, then order */
	size_t n;
	uint64_t *max_end;	/* max_end[i]: the highest value + size among syms[0..i] */
	char *strings;
	size_t strings_len, strings_cap;
	struct text_section *text;
	size_t ntext;
};

int symbols_init(struct symbols *s, const struct modules *mods, struct memory *mem)
{
	memset(s, 0, sizeof(*s));
	s->mods = mods;
	s->mem = mem;
	s->tabs = calloc(mods->n ? mods->n : 1, sizeof(*s->tabs));
	if (!s->tabs) {
		symbols_free(s);
		return -1;
	}
	return 0;
}

static void symtab_clear(struct symtab *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->syms[i].demangled);
	free(t->syms);
	free(t->max_end);
	free(t->strings);
	free(t->text);
	t->syms = NULL;
	t->max_end = NULL;
	t->strings = NULL;
	t->text = NULL;
	t->n = t->ntext = t->strings_len = t->strings_cap = 0;
}

void symbols_free(struct symbols *s)
{
	for (size_t i = 0; s->tabs && i < s->mods->n; i++)
		symtab_clear(&s->tabs[i]);
	free(s->tabs);
	memset(s, 0, sizeof(*s));
}

/* Copy a name, without its symbol version, into the table's strings; its offset, or -1. */
static int64_t add_string(struct symtab *t, const char *name)
{
	size_t len = strcspn(name, "@"), off = t->strings_len;

	if (len == 0)
		len = strlen(name);
	if (t->strings_len + len + 1 > t->strings_cap) {
		size_t cap = MAX(t->strings_cap * 2, t->strings_len + len + 1 + 4096);
		char *grown = realloc(t->strings, cap);

		if (!grown || cap > UINT32_MAX)
			return -1;
		t->strings = grown;
		t->strings_cap = cap;
	}
	memcpy(t->strings + off, name, len);
	t->strings[off + len] = '\0';
	t->strings_len += len + 1;
	return (int64_t)off;
}

static uint8_t rank_of(unsigned bind)
{
	switch (bind) {
	case STB_GLOBAL: return 3;
	case STB_GNU_UNIQUE: return 2;
	case STB_WEAK: return 1;
	default: return 0;
	}
}

static int cmp_sym(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* The executable sections, where symbols without a size may name code. */
static bool load_text_sections(struct symtab *t, Elf *elf, uint64_t bias)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		struct text_section *grown;

		if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_EXECINSTR) ||
		    !(sh.sh_flags & SHF_ALLOC) || !sh.sh_size)
			continue;
		grown = realloc(t->text, (t->ntext + 1) * sizeof(*grown));
		if (!grown)
			return false;
		t->text = grown;
		t->text[t->ntext++] = (struct text_section){ sh.sh_addr + bias,
							     sh.sh_addr + bias + sh.sh_size,
							     (uint32_t)elf_ndxscn(scn) };
	}
	return true;
}

/* Read the first section of this type (SHT_SYMTAB or SHT_DYNSYM); false when there is none or
 * it holds no function. */
static bool load_table(struct symtab *t, Elf *elf, uint32_t type, uint64_t bias)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	Elf_Data *d;
	size_t count, entsize;

	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == type)
			break;
	if (!scn || !(d = elf_getdata(scn, NULL)) || sh.sh_type == SHT_NOBITS)
		return false;
	entsize = gelf_fsize(elf, ELF_T_SYM, 1, EV_CURRENT);
	if (!entsize)
		return false;
	count = MIN(d->d_size / entsize, (size_t)SYMS_MAX);
	t->syms = calloc(count ? count : 1, sizeof(*t->syms));
	if (!t->syms)
		return false;
	for (size_t i = 0; i < count; i++) {
		GElf_Sym sym;
		const char *name;
		unsigned kind;
		int64_t off;

		if (!gelf_getsym(d, (int)i, &sym))
			break;
		kind = GELF_ST_TYPE(sym.st_info);
		if ((kind != STT_FUNC && kind != STT_GNU_IFUNC && kind != STT_NOTYPE) ||
		    sym.st_shndx == SHN_UNDEF || sym.st_shndx >= SHN_LORESERVE || !sym.st_value)
			continue;
		name = elf_strptr(elf, sh.sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		off = add_string(t, name);
		if (off < 0)
			return false;
		t->syms[t->n++] = (struct sym){
			.value = sym.st_value + bias, .size = sym.st_size, .name = (uint32_t)off,
			.order = (uint32_t)i, .shndx = sym.st_shndx,
			.rank = rank_of(GELF_ST_BIND(sym.st_info)),
		};
	}
	if (!t->n)
		return false;
	qsort(t->syms, t->n, sizeof(*t->syms), cmp_sym);
	t->max_end = malloc(t->n * sizeof(*t->max_end));
	if (!t->max_end)
		return false;
	for (size_t i = 0; i < t->n; i++) {
		uint64_t end = t->syms[i].value + t->syms[i].size;

		t->max_end[i] = i && t->max_end[i - 1] > end ? t->max_end[i - 1] : end;
	}
	return load_text_sections(t, elf, bias);
}

/* Take the table of this type from elf; on failure the table is left empty. */
static bool take(struct symtab *t, Elf *elf, uint32_t type, uint64_t bias, const char *source)
{
	if (!elf || elf_kind(elf) != ELF_K_ELF)
		return false;
	if (load_table(t, elf, type, bias)) {
		t->source = source;
		return true;
	}
	symtab_clear(t);
	return false;
}

/* The separate debug file of m, when there is one (files.h: disk_debuginfo): opened. */
static int open_debug_file(const struct symbols *s, const struct module *m, Elf **elf)
{
	const char *path = disk_debuginfo(s->mods->df, m->build_id, m->build_id_len, m->name);
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;

	*elf = fd >= 0 ? elf_begin(fd, ELF_C_READ_MMAP, NULL) : NULL;
	return fd;
}

static void load(struct symbols *s, const struct module *m, struct symtab *t)
{
	const struct disk_file *d = module_file(s->mods, m);
	Elf *elf = NULL, *dbg = NULL;
	int fd = -1, dfd;
	unsigned char *img = NULL;

	t->loaded = true;
	if (d) {
		fd = open(d->disk_path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	} else if (m->kind == MODULE_VDSO && m->end - m->header <= IMAGE_MAX) {
		/* The vDSO's image is in the core: its pages hold the whole file, section headers
		 * (after the last segment's end) included. */
		size_t want = (size_t)((m->end - m->header + 4095) & ~(uint64_t)4095);
		ssize_t got;

		img = malloc(want);
		got = img ? memory_read(s->mem, m->header, img, want) : -1;
		if (got > 0)
			elf = elf_memory((char *)img, (size_t)got);
	}
	if (!take(t, elf, SHT_SYMTAB, m->bias, "symtab")) {
		dfd = open_debug_file(s, m, &dbg);
		if (!take(t, dbg, SHT_SYMTAB, m->bias, "debug-symtab"))
			take(t, elf, SHT_DYNSYM, m->bias, "dynsym");
		if (dbg)
			elf_end(dbg);
		if (dfd >= 0)
			close(dfd);
	}
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	free(img);
}

static struct symtab *table_of(struct symbols *s, const struct module *m)
{
	size_t i = (size_t)(m - s->mods->m);
	struct symtab *t;

	if (i >= s->mods->n)
		return NULL;
	t = &s->tabs[i];
	if (!t->loaded)
		load(s, m, t);
	return t;
}

const char *symbols_source(struct symbols *s, const struct module *m)
{
	struct symtab *t = table_of(s, m);

	return t ? t->source : NULL;
}

static bool in_same_text_section(const struct symtab *t, const struct sym *sym, uint64_t addr)
{
	for (size_t i = 0; i < t->ntext; i++)
		if (addr >= t->text[i].start && addr < t->text[i].end)
			return t->text[i].index == sym->shndx;
	return false;
}

static const struct sym *find(const struct symtab *t, uint64_t addr)
{
	size_t lo = 0, hi = t->n, top;
	const struct sym *best = NULL;

	/* top: one past the last symbol at or below addr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->syms[mid].value <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	top = lo;
	if (!top)
		return NULL;
	/* A symbol with a size that holds addr: the highest one, best binding, first in order. */
	for (size_t i = top; i-- > 0;) {
		const struct sym *s = &t->syms[i];

		if (best ? s->value < best->value : t->max_end[i] <= addr)
			break;
		if (s->size && addr - s->value < s->size && (!best || s->rank >= best->rank))
			best = s;
	}
	if (best)
		return best;
	/* Else a label without a size, above the end of every sized symbol below addr. */
	if (t->max_end[top - 1] != t->syms[top - 1].value)
		return NULL;
	for (size_t i = top; i-- > 0 && t->syms[i].value == t->syms[top - 1].value;) {
		const struct sym *s = &t->syms[i];

		if (!s->size && (!best || s->rank >= best->rank))
			best = s;
	}
	return best && in_same_text_section(t, best, addr) ? best : NULL;
}

/* A symbol's name as gdb and binutils print it, malloc'd; NULL when the name is not mangled.
 * libiberty's automatic style is binutils' cplus_demangle: Rust (legacy, whose "::h<hash>"
 * suffix it drops, and v0), then C++ (the Itanium ABI, as __cxa_demangle and c++filt).  D
 * names are not in that style: gdb tries them as D (d_demangle, DMGL_DLANG) as well. */
char *symbols_demangle(const char *name)
{
	char *out;

	if (name[0] != '_')
		return NULL;
	out = cplus_demangle(name, DEMANGLE_OPTIONS | DMGL_AUTO);
	if (!out && name[1] == 'D')
		out = cplus_demangle(name, DEMANGLE_OPTIONS | DMGL_DLANG);
	return out;
}

const char *symbols_lookup(struct symbols *s, const struct module *m, uint64_t addr,
			   uint64_t *sym_addr)
{
	struct symtab *t = table_of(s, m);
	struct sym *sym;
	const char *name;

	if (!t || !t->n)
		return NULL;
	sym = (struct sym *)find(t, addr);
	if (!sym)
		return NULL;
	name = t->strings + sym->name;
	if (!sym->tried) {
		sym->tried = true;
		sym->demangled = symbols_demangle(name);
	}
	*sym_addr = sym->value;
	return sym->demangled ? sym->demangled : name;
}
