/* formats/files.c — find the files a core mapped and decide whether each is the mapped file. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "util.h"

#define HEADER_BYTES 4096	/* how much of a file's start the kernel dumps for ELF mappings */

const char *disk_status_name(enum disk_file_status s)
{
	switch (s) {
	case DISK_SAME: return "same";
	case DISK_PRESUMED: return "presumed";
	case DISK_DIFFERENT: return "different";
	case DISK_MISSING: return "missing";
	}
	return "unknown";
}

const char *disk_source_name(enum disk_source s)
{
	switch (s) {
	case SOURCE_NONE: return NULL;
	case SOURCE_PATH: return "local";
	case SOURCE_SYSROOT: return "sysroot";
	case SOURCE_EXE: return "exe";
	case SOURCE_SEARCH: return "search-path";
	case SOURCE_DEBUGINFOD: return "debuginfod";
	}
	return NULL;
}

size_t elf_image_build_id(void *elfp, unsigned char *out, size_t outsz)
{
	return elf_image_build_id_at(elfp, out, outsz, NULL);
}

size_t elf_image_note(void *elfp, const char *owner, uint32_t type, const unsigned char **desc,
		      uint64_t *vaddr)
{
	Elf *elf = elfp;
	size_t phnum, owner_size = strlen(owner) + 1;

	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getphdrnum(elf, &phnum) != 0)
		return 0;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		Elf_Data *d;
		size_t off = 0, next, name_off, desc_off;
		GElf_Nhdr nh;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_NOTE)
			continue;
		d = elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz,
					 ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
		if (!d)
			continue;
		while (off < d->d_size && (next = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
			if (nh.n_type == type && nh.n_namesz == owner_size &&
			    !memcmp((char *)d->d_buf + name_off, owner, owner_size) && nh.n_descsz > 0) {
				*desc = (const unsigned char *)d->d_buf + desc_off;
				if (vaddr)
					*vaddr = ph.p_vaddr + desc_off;
				return nh.n_descsz;
			}
			off = next;
		}
	}
	return 0;
}

size_t elf_image_build_id_at(void *elfp, unsigned char *out, size_t outsz, uint64_t *vaddr)
{
	const unsigned char *desc;
	size_t n = elf_image_note(elfp, "GNU", NT_GNU_BUILD_ID, &desc, vaddr);

	n = MIN(n, outsz);
	if (n)
		memcpy(out, desc, n);
	return n;
}

static char *join_sysroot(const char *sysroot, const char *path)
{
	char *s;

	if (!sysroot || !*sysroot)
		return strdup(path);
	if (asprintf(&s, "%s%s%s", sysroot, path[0] == '/' ? "" : "/", path) < 0)
		return NULL;
	return s;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static void set_status(struct disk_file *d, enum disk_file_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_status(struct disk_file *d, enum disk_file_status st, const char *fmt, ...)
{
	va_list ap;

	d->status = st;
	free(d->why);
	va_start(ap, fmt);
	if (vasprintf(&d->why, fmt, ap) < 0)
		d->why = NULL;
	va_end(ap);
}

/* The address where the core maps offset 0 of this path, when the core holds bytes there. */
static uint64_t header_address(const struct core *c, const char *path)
{
	for (size_t i = 0; i < c->nfiles; i++) {
		const struct core_mapped_file *f = &c->files[i];
		const struct core_segment *s;

		if (f->offset != 0 || strcmp(f->path, path))
			continue;
		s = core_segment_at(c, f->start);
		if (s && s->vaddr == f->start && s->avail > 0)
			return f->start;
	}
	return 0;
}

/* The core's copy of the file's first page (got bytes) against the file's first fgot bytes.
 * A file shorter than the page ends inside it: the kernel maps zeros past its end, so the core's
 * page must hold the file's bytes and zeros after them. */
static void compare_first_page(struct disk_file *d, const unsigned char *page, size_t got,
			       const unsigned char *file_page, ssize_t fgot)
{
	size_t n = fgot > 0 ? (size_t)fgot : 0;

	if (fgot < 0) {
		set_status(d, DISK_DIFFERENT, "its first bytes could not be read: %s",
			   strerror(errno));
		return;
	}
	if (memcmp(page, file_page, n)) {
		set_status(d, DISK_DIFFERENT, "first 0x%zx bytes differ from the core's copy", n);
		return;
	}
	if (n == got) {
		set_status(d, DISK_SAME, "first 0x%zx bytes match the core's copy", n);
		return;
	}
	for (size_t i = n; i < got; i++)
		if (page[i]) {
			set_status(d, DISK_DIFFERENT, "the core's copy has bytes past the file's "
				   "end (0x%zx)", n);
			return;
		}
	set_status(d, DISK_SAME, "its 0x%zx bytes match the core's copy, zeros after them", n);
}

/* What the core holds of d's first page: where it is mapped, the bytes (*page, malloc'd, *got of
 * them; NULL when none), and the build-id in them. */
static void core_side(const struct core *c, struct disk_file *d, unsigned char **page, ssize_t *got)
{
	Elf *elf;

	if (!d->linked)
		d->header_addr = header_address(c, d->path);
	*page = d->header_addr ? malloc(HEADER_BYTES) : NULL;
	*got = *page ? core_read_mem(c, d->header_addr, *page, HEADER_BYTES) : 0;
	d->core_build_id_len = 0;
	if (*got >= 4 && !memcmp(*page, "\177ELF", 4)) {
		elf = elf_memory((char *)*page, (size_t)*got);
		d->core_build_id_len = elf_image_build_id(elf, d->core_build_id, sizeof(d->core_build_id));
		if (elf)
			elf_end(elf);
	}
}

/* Whether the file at d->disk_path is the one the core mapped as d->path: d's status, why and
 * what the file says of itself (and what the core says of it, also when it is missing: the
 * build-id it is fetched by). */
static void check_one(const struct core *c, const struct stat *core_st, struct disk_file *d)
{
	struct stat st;
	unsigned char *page, *file_page = NULL;
	ssize_t got, fgot;
	int fd;
	Elf *elf;

	core_side(c, d, &page, &got);
	if (stat(d->disk_path, &st) < 0) {
		set_status(d, DISK_MISSING, "%s: %s", d->disk_path, strerror(errno));
		free(page);
		return;
	}
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	d->size = (uint64_t)st.st_size;
	if (!S_ISREG(st.st_mode)) {
		set_status(d, DISK_PRESUMED, "not a regular file, nothing to compare");
		free(page);
		return;
	}
	fd = open(d->disk_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		set_status(d, DISK_MISSING, "%s: %s", d->disk_path, strerror(errno));
		free(page);
		return;
	}
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	d->build_id_len = elf_image_build_id(elf, d->build_id, sizeof(d->build_id));
	if (elf)
		elf_end(elf);

	if (d->core_build_id_len) {
		if (d->build_id_len == d->core_build_id_len &&
		    !memcmp(d->build_id, d->core_build_id, d->build_id_len))
			set_status(d, DISK_SAME, "build-id matches the core's");
		else if (d->build_id_len)
			set_status(d, DISK_DIFFERENT, "build-id differs from the core's");
		else
			set_status(d, DISK_DIFFERENT, "the core's copy has a build-id, the file has none");
	} else if (got > 0) {
		file_page = malloc((size_t)got);
		fgot = file_page ? pread_full(fd, file_page, (size_t)got, 0) : -1;
		compare_first_page(d, page, (size_t)got, file_page, fgot);
	} else if (st.st_mtim.tv_sec > core_st->st_mtim.tv_sec) {
		set_status(d, DISK_DIFFERENT, "modified after the core was written");
	} else {
		set_status(d, DISK_PRESUMED, "the core holds none of its bytes to compare");
	}
	free(page);
	free(file_page);
	close(fd);
}

/* Names the kernel gives mappings of what is no file on any disk (shared anonymous memory,
 * SysV shm, memfd, anon inodes) and device files: no machine has them to find. */
static bool never_on_disk(const char *path)
{
	static const char *const prefixes[] = { "/dev/", "/SYSV", "/memfd:", "anon_inode:" };

	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (!strncmp(path, prefixes[i], strlen(prefixes[i])))
			return true;
	return false;
}

/* A file of the search path by d's base name (without the kernel's " (deleted)"), checked as the
 * file at its path is: a scratch record, d's path. */
static int check_in_dir(const struct core *c, const struct stat *core_st, const struct disk_file *d,
			const char *dir, size_t dirlen, struct disk_file *t)
{
	const char *slash = strrchr(d->path, '/'), *name = slash ? slash + 1 : d->path;
	size_t n = strlen(name);

	if (ends_with(name, " (deleted)"))
		n -= strlen(" (deleted)");
	memset(t, 0, sizeof(*t));
	t->path = d->path;
	if (asprintf(&t->disk_path, "%.*s/%.*s", (int)dirlen, dir, (int)n, name) < 0) {
		t->disk_path = NULL;
		return -1;
	}
	check_one(c, core_st, t);
	return 0;
}

/* Append "; " and a sentence to d->why.  0, or -1 when out of memory. */
static int add_why(struct disk_file *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int add_why(struct disk_file *d, const char *fmt, ...)
{
	va_list ap;
	char *more, *why;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&more, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -1;
	r = asprintf(&why, "%s; %s", d->why ? d->why : "", more);
	free(more);
	if (r < 0)
		return -1;
	free(d->why);
	d->why = why;
	return 0;
}

/* d is not usable where it was looked for first: try each directory of the search path, in
 * order, and take the first file there that is proven the mapped one (DISK_SAME: a presumption
 * by mtime is not enough for a file found by its name alone).  When none is, d keeps its status
 * and its why says what each directory held.  0, or -1 when out of memory. */
static int search(const struct core *c, const struct stat *core_st, const char *dirs,
		  struct disk_file *d)
{
	for (const char *dir = dirs, *end; *dir; dir = *end ? end + 1 : end) {
		struct disk_file t;
		int r = 0;

		end = strchrnul(dir, ':');
		if (end == dir)
			continue;
		if (check_in_dir(c, core_st, d, dir, (size_t)(end - dir), &t) < 0)
			return -1;
		if (t.status == DISK_SAME) {
			free(d->disk_path);
			free(d->why);
			t.given = d->given;
			t.source = SOURCE_SEARCH;
			*d = t;
			return add_why(d, "found by its name in the search path");
		}
		if (t.status == DISK_MISSING)
			r = add_why(d, "%s", t.why ? t.why : t.disk_path);
		else
			r = add_why(d, "%s is not %s (%s)", t.disk_path,
				    t.status == DISK_DIFFERENT ? "it" : "proven it", t.why ? t.why : "");
		free(t.disk_path);
		free(t.why);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* Find one mapped file: at its one place (--exe, or its path under the sysroot), then in the
 * search path.  0, or -1 when out of memory. */
static int find_one(const struct core *c, const struct stat *core_st,
		    const struct file_lookup *where, struct disk_file *d)
{
	d->disk_path = d->given ? strdup(where->exe) : join_sysroot(where->sysroot, d->path);
	if (!d->disk_path)
		return -1;
	if (!d->given && ends_with(d->path, " (deleted)")) {
		unsigned char *page;
		ssize_t got;

		core_side(c, d, &page, &got);
		free(page);
		set_status(d, DISK_MISSING, "deleted before the dump");
	} else
		check_one(c, core_st, d);
	if (disk_file_usable(d))
		d->source = d->given ? SOURCE_EXE : where->sysroot && *where->sysroot ? SOURCE_SYSROOT :
			    SOURCE_PATH;
	if (disk_file_usable(d) || !where->search || never_on_disk(d->path))
		return 0;
	return search(c, core_st, where->search, d);
}

int disk_files_check(const struct core *c, const struct file_lookup *where,
		     struct disk_files *out)
{
	static const struct file_lookup nowhere = { 0 };
	const char *exe_path;
	struct stat core_st;

	if (!where)
		where = &nowhere;
	exe_path = where->exe ? core_exe_path(c) : NULL;
	memset(out, 0, sizeof(*out));
	out->of_mapping = calloc(c->nfiles ? c->nfiles : 1, sizeof(size_t));
	out->files = calloc(c->nfiles ? c->nfiles : 1, sizeof(*out->files));
	out->fetched = calloc(c->nfiles ? c->nfiles : 1, sizeof(*out->fetched));
	out->fetcher = fetcher_new(where->sysroot, !where->no_debuginfod, where->progress);
	if (!out->of_mapping || !out->files || !out->fetched || !out->fetcher)
		goto oom;
	if (fstat(c->fd, &core_st) < 0)
		memset(&core_st, 0, sizeof(core_st));
	for (size_t i = 0; i < c->nfiles; i++) {
		size_t j;

		for (j = 0; j < out->nfiles; j++)
			if (!strcmp(out->files[j].path, c->files[i].path))
				break;
		out->of_mapping[i] = j;
		if (j < out->nfiles)
			continue;
		out->files[j].path = c->files[i].path;
		/* --exe: the core's executable is looked for there, and checked the same way. */
		out->files[j].given = exe_path && !strcmp(c->files[i].path, exe_path);
		out->nfiles++;
		if (find_one(c, &core_st, where, &out->files[j]) < 0)
			goto oom;
	}
	return 0;
oom:
	disk_files_free(out);
	return -1;
}

void disk_files_arm(const struct disk_files *df)
{
	fetcher_arm(df->fetcher);
}

static void disk_file_free(struct disk_file *d)
{
	free(d->disk_path);
	free(d->why);
}

struct disk_file *disk_files_add(const struct core *c, const struct file_lookup *where,
				 struct disk_files *df, const char *path, uint64_t header, bool given)
{
	static const struct file_lookup nowhere = { 0 };
	struct disk_file *files, **fetched, *d;
	struct stat core_st;
	char *own = strdup(path);

	if (!where)
		where = &nowhere;
	files = own ? realloc(df->files, (df->nfiles + 1) * sizeof(*files)) : NULL;
	if (files)
		df->files = files;
	fetched = files ? realloc(df->fetched, (df->nfiles + 1) * sizeof(*fetched)) : NULL;
	if (!fetched) {
		free(own);
		return NULL;
	}
	df->fetched = fetched;
	df->fetched[df->nfiles] = NULL;
	d = &df->files[df->nfiles];
	memset(d, 0, sizeof(*d));
	d->path = own;
	d->linked = true;
	d->header_addr = header;
	d->given = given && where->exe;
	if (fstat(c->fd, &core_st) < 0)
		memset(&core_st, 0, sizeof(core_st));
	df->nfiles++;
	if (find_one(c, &core_st, where, d) < 0)
		return NULL;
	return d;
}

int disk_files_add_mapping(struct disk_files *df, size_t file, uint64_t start, uint64_t end,
			   uint64_t offset)
{
	struct core_mapped_file *m = realloc(df->linked, (df->nlinked + 1) * sizeof(*m));
	size_t *of = m ? realloc(df->linked_file, (df->nlinked + 1) * sizeof(*of)) : NULL;
	size_t at;

	if (m)
		df->linked = m;
	if (!of)
		return -1;
	df->linked_file = of;
	/* Kept sorted by start. */
	for (at = df->nlinked; at > 0 && df->linked[at - 1].start > start; at--)
		;
	memmove(&df->linked[at + 1], &df->linked[at], (df->nlinked - at) * sizeof(*m));
	memmove(&df->linked_file[at + 1], &df->linked_file[at], (df->nlinked - at) * sizeof(*of));
	df->linked[at] = (struct core_mapped_file){ .start = start, .end = end, .offset = offset,
						    .path = (char *)df->files[file].path };
	df->linked_file[at] = file;
	df->nlinked++;
	return 0;
}

const struct core_mapped_file *disk_files_mapping_at(const struct core *c,
						     const struct disk_files *df, uint64_t addr)
{
	const struct core_mapped_file *f = core_file_at(c, addr);
	size_t lo = 0, hi = df ? df->nlinked : 0;

	if (f || !hi)
		return f;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (df->linked[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && addr < df->linked[lo - 1].end ? &df->linked[lo - 1] : NULL;
}

void disk_files_free(struct disk_files *df)
{
	for (size_t i = 0; i < df->nfiles; i++) {
		if (df->files[i].linked)
			free((char *)df->files[i].path);
		disk_file_free(&df->files[i]);
		if (df->fetched && df->fetched[i]) {
			disk_file_free(df->fetched[i]);
			free(df->fetched[i]);
		}
	}
	free(df->fetched);
	fetcher_free(df->fetcher);
	free(df->files);
	free(df->of_mapping);
	free(df->linked);
	free(df->linked_file);
	memset(df, 0, sizeof(*df));
}

const struct disk_file *disk_file_of(const struct core *c, const struct disk_files *df,
				     const struct core_mapped_file *f)
{
	size_t i = (size_t)(f - c->files);

	if (!df->files || !f)
		return NULL;
	if (f >= c->files && i < c->nfiles)
		return &df->files[df->of_mapping[i]];
	if (df->linked && f >= df->linked && (i = (size_t)(f - df->linked)) < df->nlinked)
		return &df->files[df->linked_file[i]];
	return NULL;
}

/* Whether a file missing or different here can be fetched: the core gives its build-id. */
static bool fetchable(const struct disk_files *df, const struct disk_file *d, size_t *i)
{
	if (!d || disk_file_usable(d) || d < df->files || d >= df->files + df->nfiles)
		return false;
	*i = (size_t)(d - df->files);
	return d->core_build_id_len > 0 && !never_on_disk(d->path) && df->fetcher &&
	       fetcher_remote(df->fetcher);
}

/* The record of the file fetched for d (e: its fetch, done), made once and kept. */
static const struct disk_file *fetched_record(const struct disk_files *df, const struct disk_file *d,
					      size_t i, const struct fetch *e)
{
	struct disk_file *r = __atomic_load_n(&df->fetched[i], __ATOMIC_ACQUIRE), *none = NULL;
	struct stat st;

	if (r)
		return r;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	*r = *d;
	r->disk_path = strdup(e->path);
	r->why = NULL;
	r->given = false;
	set_status(r, DISK_SAME, "build-id matches the core's; %s", e->why ? e->why : "fetched");
	r->source = SOURCE_DEBUGINFOD;
	r->url = e->url;
	memcpy(r->build_id, d->core_build_id, d->core_build_id_len);
	r->build_id_len = d->core_build_id_len;
	if (r->disk_path && stat(r->disk_path, &st) == 0) {
		r->dev = st.st_dev;
		r->ino = st.st_ino;
		r->size = (uint64_t)st.st_size;
	}
	if (!r->disk_path || !r->why) {
		disk_file_free(r);
		free(r);
		return NULL;
	}
	if (!__atomic_compare_exchange_n(&df->fetched[i], &none, r, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		disk_file_free(r);
		free(r);
		return none;
	}
	return r;
}

const struct disk_file *disk_file_resolve(const struct disk_files *df, const struct disk_file *d)
{
	const struct fetch *e;
	struct disk_file *r;
	size_t i;

	if (disk_file_usable(d))
		return d;
	if (!fetchable(df, d, &i))
		return NULL;
	if ((r = __atomic_load_n(&df->fetched[i], __ATOMIC_ACQUIRE)))
		return r;
	e = fetcher_get(df->fetcher, FETCH_EXECUTABLE, d->core_build_id, d->core_build_id_len,
			d->path);
	return e && e->state == FETCH_DONE ? fetched_record(df, d, i, e) : NULL;
}

const struct disk_file *disk_file_now(const struct disk_files *df, const struct disk_file *d)
{
	size_t i;

	if (disk_file_usable(d))
		return d;
	return fetchable(df, d, &i) ? __atomic_load_n(&df->fetched[i], __ATOMIC_ACQUIRE) : NULL;
}

enum fetch_state disk_file_fetch_state(const struct disk_files *df, const struct disk_file *d,
				       const struct fetch **out)
{
	size_t i;

	*out = NULL;
	if (!fetchable(df, d, &i))
		return FETCH_OFF;
	return fetcher_peek(df->fetcher, FETCH_EXECUTABLE, d->core_build_id, d->core_build_id_len,
			    out);
}

const char *disk_debuginfo(const struct disk_files *df, const unsigned char *id, size_t len,
			   const char *label)
{
	const struct fetch *e = df ? fetcher_get(df->fetcher, FETCH_DEBUGINFO, id, len, label) : NULL;

	return e && e->state == FETCH_DONE ? e->path : NULL;
}

unsigned disk_files_generation(const struct disk_files *df)
{
	unsigned n;

	if (!df || !df->fetcher)
		return 0;
	pthread_mutex_lock(&df->fetcher->lock);
	n = df->fetcher->finished;
	pthread_mutex_unlock(&df->fetcher->lock);
	return n;
}

bool disk_files_settled(const struct disk_files *df)
{
	const struct fetch *e;

	for (size_t i = 0; df && i < df->nfiles; i++) {
		enum fetch_state st = disk_file_fetch_state(df, &df->files[i], &e);

		if (st == FETCH_PENDING || st == FETCH_RUNNING)
			return false;
	}
	return true;
}

const char *disk_file_status_now(const struct disk_files *df, const struct disk_file *d)
{
	const struct disk_file *now = disk_file_now(df, d);
	const struct fetch *e;

	if (now)
		return now->source == SOURCE_DEBUGINFOD ? "fetched" : disk_status_name(now->status);
	switch (disk_file_fetch_state(df, d, &e)) {
	case FETCH_PENDING:
	case FETCH_RUNNING:
		return "pending";
	default:
		return disk_status_name(d->status);
	}
}

/* The sentence for d, missing or different and not fetched; NULL when it has none. */
static char *problem_of(const struct disk_files *df, const struct disk_file *d)
{
	const struct fetch *e;
	enum fetch_state st;
	char *s, *more = NULL;
	int r;

	if (disk_file_now(df, d) || never_on_disk(d->path))
		return NULL;
	st = disk_file_fetch_state(df, d, &e);
	if (st == FETCH_FAILED && e)
		r = asprintf(&more, "; debuginfod: %s", e->why ? e->why : "failed");
	else if (st == FETCH_PENDING)
		r = asprintf(&more, "; to be fetched from debuginfod on first need");
	else if (st == FETCH_RUNNING)
		r = asprintf(&more, "; being fetched from debuginfod");
	else
		r = 0;
	if (r < 0)
		return NULL;
	if (d->status == DISK_MISSING)
		r = asprintf(&s, "missing: mapped file %s (%s%s)%s", d->path, d->given ? "--exe " : "",
			     d->why ? d->why : "", more ? more : "");
	else
		r = asprintf(&s, "different: mapped file %s is not the file at %s (%s)%s", d->path,
			     d->disk_path, d->why ? d->why : "", more ? more : "");
	free(more);
	return r < 0 ? NULL : s;
}

char **disk_files_problems(const struct disk_files *df, size_t *n)
{
	char **out = calloc(df->nfiles ? df->nfiles : 1, sizeof(*out));

	*n = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < df->nfiles; i++)
		if ((out[*n] = problem_of(df, &df->files[i])))
			(*n)++;
	if (!*n) {
		free(out);
		return NULL;
	}
	return out;
}
