/* formats/ehframe.c — build .eh_frame_hdr's search table from .eh_frame (see ehframe.h).
 *
 * .eh_frame is a run of records, each a 4-byte length then a 4-byte id: 0 for a CIE, else the
 * distance back to the FDE's CIE.  An FDE's initial location follows its id, encoded as its CIE's
 * augmentation says ('R' in a "z..." augmentation string; absolute when there is none).  Every
 * length and offset is checked against the section's bytes; a record that does not fit ends the
 * walk, one whose CIE cannot be read is left out.  .debug_frame (DWARF 5, 6.4.1) has the same
 * records with other ids and pointers: it is rewritten into this form first (rewrite_debug_frame)
 * and then walked the same way.  Compressed sections (SHF_COMPRESSED, .zdebug_) are
 * decompressed by libelf. */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ehframe.h"
#include "files.h"
#include "util.h"

#define EH_FRAME_MAX (256u << 20)
#define CIE_CACHE 64

/* A reader over the section's bytes; at(r) is the loaded address of the next byte. */
struct rd {
	const unsigned char *base, *p, *end;
	uint64_t addr;		/* loaded address of base */
	bool big;
};

static uint64_t at(const struct rd *r)
{
	return r->addr + (uint64_t)(r->p - r->base);
}

static bool get_u(struct rd *r, unsigned n, uint64_t *v)
{
	uint64_t x = 0;

	if ((size_t)(r->end - r->p) < n)
		return false;
	for (unsigned i = 0; i < n; i++)
		x |= (uint64_t)r->p[i] << (8 * (r->big ? n - 1 - i : i));
	r->p += n;
	*v = x;
	return true;
}

static void put_u(unsigned char *p, unsigned n, uint64_t v, bool big)
{
	for (unsigned i = 0; i < n; i++)
		p[big ? n - 1 - i : i] = (unsigned char)(v >> (8 * i));
}

static bool get_leb(struct rd *r, bool is_signed, uint64_t *v)
{
	uint64_t x = 0;
	unsigned shift = 0;

	while (r->p < r->end) {
		unsigned char b = *r->p++;

		if (shift < 64)
			x |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80)) {
			if (is_signed && shift < 64 && (b & 0x40))
				x |= ~(uint64_t)0 << shift;
			*v = x;
			return true;
		}
	}
	return false;
}

static uint64_t sign_extend(uint64_t x, unsigned bytes)
{
	unsigned bits = 8 * bytes;

	return bits < 64 && (x >> (bits - 1)) & 1 ? x | (~(uint64_t)0 << bits) : x;
}

bool dw_eh_pe_size(unsigned enc, unsigned word, unsigned *size)
{
	switch (enc & 0x0f) {
	case DW_EH_PE_absptr: *size = word; return true;
	case DW_EH_PE_udata2: case DW_EH_PE_sdata2: *size = 2; return true;
	case DW_EH_PE_udata4: case DW_EH_PE_sdata4: *size = 4; return true;
	case DW_EH_PE_udata8: case DW_EH_PE_sdata8: *size = 8; return true;
	}
	return false;
}

/* A pointer of DWARF encoding enc; only absolute and pc-relative ones make a value (with_value),
 * any other is only skipped. */
static bool get_encoded(struct rd *r, unsigned enc, unsigned word, bool with_value, uint64_t *v)
{
	uint64_t field = at(r), x = 0;
	unsigned size;
	bool ok;

	if (enc == DW_EH_PE_omit)
		return false;
	if ((enc & 0x0f) == DW_EH_PE_uleb128 || (enc & 0x0f) == DW_EH_PE_sleb128) {
		ok = get_leb(r, (enc & 0x0f) == DW_EH_PE_sleb128, &x);
	} else if (dw_eh_pe_size(enc, word, &size)) {
		ok = get_u(r, size, &x);
		if (enc & DW_EH_PE_signed)
			x = sign_extend(x, size);
	} else {
		return false;
	}
	if (!ok || !with_value)
		return ok;
	if ((enc & 0x70) == DW_EH_PE_pcrel)
		x += field;
	else if ((enc & 0x70) != DW_EH_PE_absptr || (enc & DW_EH_PE_indirect))
		return false;
	*v = word == 4 ? x & 0xffffffffu : x;
	return true;
}

/* The encoding of the initial locations of the FDEs of the CIE at off. */
static bool cie_fde_encoding(const struct rd *sec, size_t off, unsigned word, unsigned *enc)
{
	struct rd r = *sec;
	uint64_t len, id, version, skip;
	const char *aug;
	const unsigned char *nul;

	r.p = r.base + off;
	if (!get_u(&r, 4, &len) || len == 0 || len == 0xffffffffu || len > (uint64_t)(r.end - r.p))
		return false;
	r.end = r.p + len;
	if (!get_u(&r, 4, &id) || id != 0 || !get_u(&r, 1, &version) ||
	    (version != 1 && version != 3 && version != 4))
		return false;
	nul = memchr(r.p, 0, (size_t)(r.end - r.p));
	if (!nul)
		return false;
	aug = (const char *)r.p;
	r.p = nul + 1;
	if (version == 4 && !get_u(&r, 2, &skip))	/* address size, segment size */
		return false;
	if (strstr(aug, "eh") || !get_leb(&r, false, &skip) || !get_leb(&r, true, &skip) ||
	    !(version == 1 ? get_u(&r, 1, &skip) : get_leb(&r, false, &skip)))
		return false;
	*enc = DW_EH_PE_absptr;
	if (aug[0] != 'z')
		return aug[0] == '\0';
	if (!get_leb(&r, false, &len) || len > (uint64_t)(r.end - r.p))
		return false;
	r.end = r.p + len;
	for (const char *c = aug + 1; *c; c++) {
		uint64_t b;

		switch (*c) {
		case 'R':
			if (!get_u(&r, 1, &b))
				return false;
			*enc = (unsigned)b;
			return true;
		case 'P':
			if (!get_u(&r, 1, &b) || !get_encoded(&r, (unsigned)b, word, false, &skip))
				return false;
			break;
		case 'L':
			if (!get_u(&r, 1, &b))
				return false;
			break;
		case 'S':
		case 'B':
			break;
		default:
			return true;	/* an augmentation we cannot step over: no 'R' seen */
		}
	}
	return true;
}

struct pair {
	uint64_t pc, fde;
};

static int cmp_pair(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	return x->pc < y->pc ? -1 : x->pc > y->pc;
}

/* Walk the records; the FDEs' (initial location, address) pairs into *pairs. */
static size_t collect(const struct rd *sec, unsigned word, struct pair **pairs)
{
	struct { size_t off; unsigned enc; bool ok; } cies[CIE_CACHE];
	size_t ncies = 0, n = 0, cap = 0, off = 0, size = (size_t)(sec->end - sec->base);

	*pairs = NULL;
	while (size - off >= 8) {
		struct rd r = *sec;
		uint64_t len, id, pc;
		size_t cie, k;
		unsigned enc = 0;
		bool ok = false;

		r.p = r.base + off;
		if (!get_u(&r, 4, &len) || len == 0 || len == 0xffffffffu || len < 4 ||
		    len > size - off - 4)
			break;
		r.end = r.p + len;
		get_u(&r, 4, &id);
		if (id != 0 && id <= off + 4) {
			cie = off + 4 - (size_t)id;
			for (k = 0; k < ncies && cies[k].off != cie; k++)
				;
			if (k < ncies) {
				ok = cies[k].ok;
				enc = cies[k].enc;
			} else {
				ok = cie_fde_encoding(sec, cie, word, &enc);
				if (ncies < CIE_CACHE)
					cies[ncies++] = (typeof(cies[0])){ cie, enc, ok };
			}
			if (ok && get_encoded(&r, enc, word, true, &pc)) {
				if (n == cap) {
					size_t ncap = cap ? 2 * cap : 256;
					struct pair *grown = realloc(*pairs, ncap * sizeof(*grown));

					if (!grown)
						break;
					*pairs = grown;
					cap = ncap;
				}
				(*pairs)[n++] = (struct pair){ pc, sec->addr + off };
			}
		}
		off += 4 + (size_t)len;
	}
	return n;
}

/* The section called name, its data decompressed when it is compressed (SHF_COMPRESSED, or
 * .zdebug's GNU form): NULL when absent, empty, too large or unreadable. */
static Elf_Data *section(Elf *elf, const char *want, GElf_Shdr *sh)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;

		if (!gelf_getshdr(scn, sh) || sh->sh_type != SHT_PROGBITS)
			continue;
		name = elf_strptr(elf, shstrndx, sh->sh_name);
		if (!name)
			continue;
		/* The size a compressed section claims is checked before it is decompressed. */
		if (name[0] == '.' && name[1] == 'z' && !strcmp(name + 2, want + 1)) {
			Elf_Data *raw = elf_rawdata(scn, NULL);
			const unsigned char *h = raw ? raw->d_buf : NULL;
			uint64_t size = 0;

			if (!h || raw->d_size < 12 || memcmp(h, "ZLIB", 4))
				return NULL;
			for (int i = 4; i < 12; i++)
				size = size << 8 | h[i];
			if (size > EH_FRAME_MAX || elf_compress_gnu(scn, 0, 0) < 0 ||
			    !gelf_getshdr(scn, sh))
				return NULL;
		} else if (strcmp(name, want)) {
			continue;
		} else if (sh->sh_flags & SHF_COMPRESSED) {
			GElf_Chdr ch;

			if (!gelf_getchdr(scn, &ch) || ch.ch_size > EH_FRAME_MAX ||
			    elf_compress(scn, 0, 0) < 0 || !gelf_getshdr(scn, sh))
				return NULL;
		}
		return sh->sh_size <= EH_FRAME_MAX ? elf_getdata(scn, NULL) : NULL;
	}
	return NULL;
}

/* The table from the records' (initial location, address) pairs: each relative to pcbase and
 * segbase, sorted by location. */
static void make_table(struct pair *pairs, size_t n, uint64_t pcbase, struct eh_index *out)
{
	size_t kept = 0;

	out->table = n ? malloc(n * 8) : NULL;
	if (!out->table)
		return;
	qsort(pairs, n, sizeof(*pairs), cmp_pair);
	for (size_t i = 0; i < n; i++) {
		int64_t dpc = (int64_t)(pairs[i].pc - pcbase);
		int64_t dfde = (int64_t)(pairs[i].fde - out->segbase);
		int32_t e[2] = { (int32_t)dpc, (int32_t)dfde };

		if (dpc != e[0] || dfde != e[1])
			continue;	/* out of the table's 32-bit reach */
		memcpy(out->table + 8 * kept++, e, sizeof(e));
	}
	out->count = kept;
	out->pcbase = pcbase;
}

/* The end of both builders: the table from the pairs collected, the file let go; true when the
 * table has entries (else out is freed). */
static bool finish_index(struct pair *pairs, size_t n, uint64_t pcbase, struct eh_index *out,
			 Elf *elf, int fd)
{
	make_table(pairs, n, pcbase, out);
	free(pairs);
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	if (!out->count)
		eh_index_free(out);
	return out->count > 0;
}

bool eh_index_build(const char *path, uint64_t bias, unsigned word, struct eh_index *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ_MMAP, NULL) : NULL;
	GElf_Ehdr eh;
	GElf_Shdr sh;
	Elf_Data *d;
	struct pair *pairs = NULL;
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	if (elf && gelf_getehdr(elf, &eh) && (d = section(elf, ".eh_frame", &sh)) && d->d_buf) {
		struct rd sec = {
			.base = d->d_buf, .p = d->d_buf,
			.end = (unsigned char *)d->d_buf + d->d_size,
			.addr = sh.sh_addr + bias, .big = eh.e_ident[EI_DATA] == ELFDATA2MSB,
		};

		n = collect(&sec, word, &pairs);
		out->segbase = sec.addr;
	}
	return finish_index(pairs, n, out->segbase, out, elf, fd);
}

/* Rewrite .debug_frame's records in place into .eh_frame's form (the sizes do not change): a
 * CIE's id 0xffffffff becomes 0; an FDE's CIE pointer, an offset from the section's start,
 * becomes the distance back from its own field; its initial location, an address of the file,
 * gets the load bias.  The CIEs keep their augmentation, which in .debug_frame is empty: their
 * FDEs' locations are then absolute words, as libunwind and collect() read an .eh_frame CIE
 * without one.  A CIE of another version or with an augmentation, an FDE whose CIE does not
 * come before it or is not such a CIE, are made unusable (id or pointer 0xffffffff, which
 * libunwind refuses): libunwind would read them with .eh_frame's rules.  64-bit DWARF records
 * end the walk. */
static void rewrite_debug_frame(unsigned char *p, size_t size, uint64_t bias, unsigned word,
				bool big)
{
	struct rd r = { .base = p, .p = p, .end = p + size, .big = big };
	size_t off = 0;

	while (size - off >= 8) {
		uint64_t len, id, version;
		unsigned char *idp;
		bool usable = false;

		r.p = p + off;
		r.end = p + size;
		if (!get_u(&r, 4, &len) || len == 0 || len >= 0xfffffff0u || len < 4 ||
		    len > size - off - 4)
			break;
		r.end = r.p + len;
		idp = (unsigned char *)r.p;
		get_u(&r, 4, &id);
		if (id == 0xffffffffu) {
			usable = get_u(&r, 1, &version) && (version == 1 || version == 3) &&
				 r.p < r.end && *r.p == '\0';
			put_u(idp, 4, usable ? 0 : 0xffffffffu, big);
		} else if (id < off && len >= 4 + 2 * (uint64_t)word) {
			struct rd c = r;
			uint64_t clen, cid;

			c.p = p + id;
			c.end = p + size;
			usable = get_u(&c, 4, &clen) && clen >= 6 && clen <= size - id - 4 &&
				 get_u(&c, 4, &cid) && cid == 0;
			if (usable) {
				uint64_t loc = 0;

				usable = get_u(&r, word, &loc);
				if (usable)
					put_u(idp + 4, word, loc + bias, big);
			}
			put_u(idp, 4, usable ? off + 4 - id : 0xffffffffu, big);
		} else {
			put_u(idp, 4, 0xffffffffu, big);
		}
		off += 4 + (size_t)len;
	}
}

bool debug_frame_index_build(const char *path, const unsigned char *build_id, size_t id_len,
			     uint64_t bias, unsigned word, uint64_t pcbase, uint64_t addr,
			     struct eh_index *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ_MMAP, NULL) : NULL;
	unsigned char id[64];
	GElf_Ehdr eh;
	GElf_Shdr sh;
	Elf_Data *d;
	struct pair *pairs = NULL;
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	if (elf && gelf_getehdr(elf, &eh) &&
	    (!id_len || (elf_image_build_id(elf, id, sizeof(id)) == id_len &&
			 !memcmp(id, build_id, id_len))) &&
	    (d = section(elf, ".debug_frame", &sh)) && d->d_buf && d->d_size &&
	    (out->frames = malloc(d->d_size))) {
		bool big = eh.e_ident[EI_DATA] == ELFDATA2MSB;
		struct rd sec = {
			.base = out->frames, .p = out->frames, .end = out->frames + d->d_size,
			.addr = addr, .big = big,
		};

		memcpy(out->frames, d->d_buf, d->d_size);
		out->frames_size = d->d_size;
		rewrite_debug_frame(out->frames, d->d_size, bias, word, big);
		n = collect(&sec, word, &pairs);
		out->segbase = addr;
	}
	return finish_index(pairs, n, pcbase, out, elf, fd);
}

void eh_index_free(struct eh_index *idx)
{
	free(idx->table);
	free(idx->frames);
	memset(idx, 0, sizeof(*idx));
}
