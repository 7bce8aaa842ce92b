/* formats/fetch.c — files by build-id: local debug files and debuginfod (fetch.h). */
#include <elfutils/debuginfod.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fetch.h"
#include "util.h"

#define DEFAULT_TIMEOUT 90	/* seconds: libdebuginfod's own default for DEBUGINFOD_TIMEOUT */

const char *fetch_state_name(enum fetch_state s)
{
	switch (s) {
	case FETCH_OFF: return "off";
	case FETCH_PENDING: return "pending";
	case FETCH_RUNNING: return "fetching";
	case FETCH_DONE: return "fetched";
	case FETCH_FAILED: return "failed";
	}
	return "unknown";
}

static const char *kind_name(enum fetch_kind k)
{
	return k == FETCH_EXECUTABLE ? "executable" : "debuginfo";
}

struct fetcher *fetcher_new(const char *sysroot, bool remote, bool progress)
{
	struct fetcher *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->sysroot = strdup(sysroot ? sysroot : "");
	if (!f->sysroot) {
		free(f);
		return NULL;
	}
	f->remote = remote;
	f->progress = progress || getenv("DEBUGINFOD_PROGRESS");
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->changed, NULL);
	return f;
}

void fetcher_free(struct fetcher *f)
{
	if (!f)
		return;
	for (struct fetch *e = f->list, *next; e; e = next) {
		next = e->next;
		free(e->path);
		free(e->url);
		free(e->why);
		free(e);
	}
	pthread_cond_destroy(&f->changed);
	pthread_mutex_destroy(&f->lock);
	free(f->down);
	free(f->sysroot);
	free(f);
}

void fetcher_arm(struct fetcher *f)
{
	pthread_mutex_lock(&f->lock);
	f->armed = true;
	pthread_mutex_unlock(&f->lock);
}

bool fetcher_remote(const struct fetcher *f)
{
	const char *urls = getenv("DEBUGINFOD_URLS");

	return f->remote && urls && urls[strspn(urls, " \t")];
}

const char *fetcher_off_why(const struct fetcher *f)
{
	if (fetcher_remote(f))
		return NULL;
	return f->remote ? "no debuginfod server: DEBUGINFOD_URLS is not set" :
			   "not fetched: --no-debuginfod";
}

static void hex(const unsigned char *id, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", id[i]);
	out[2 * n] = '\0';
}

static struct fetch *find(struct fetcher *f, enum fetch_kind kind, const unsigned char *id,
			  size_t id_len)
{
	for (struct fetch *e = f->list; e; e = e->next)
		if (e->kind == kind && e->id_len == id_len && !memcmp(e->id, id, id_len))
			return e;
	return NULL;
}

static void set_why(struct fetch *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_why(struct fetch *e, const char *fmt, ...)
{
	va_list ap;

	free(e->why);
	va_start(ap, fmt);
	if (vasprintf(&e->why, fmt, ap) < 0)
		e->why = NULL;
	va_end(ap);
}

/* Whether the ELF file open at fd has build-id e->id, and, for an executable, its code (a
 * separate debug file has the same build-id and sections of no bytes): NULL, or what is wrong. */
static const char *check_file(int fd, const struct fetch *e, char *buf, size_t bufsz)
{
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	const void *id = NULL;
	ssize_t n = elf ? dwelf_elf_gnu_build_id(elf, &id) : -1;
	const char *wrong = NULL;
	char theirs[2 * 64 + 1], ours[2 * 64 + 1];

	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		wrong = "not an ELF file";
	} else if (n <= 0) {
		wrong = "an ELF file without a build-id";
	} else if ((size_t)n != e->id_len || memcmp(id, e->id, e->id_len)) {
		hex(id, MIN((size_t)n, sizeof(e->id)), theirs);
		hex(e->id, e->id_len, ours);
		snprintf(buf, bufsz, "a file of build-id %s, not %s (another build)", theirs, ours);
		wrong = buf;
	} else if (e->kind == FETCH_EXECUTABLE) {
		for (Elf_Scn *s = NULL; (s = elf_nextscn(elf, s));) {
			GElf_Shdr sh;

			if (gelf_getshdr(s, &sh) && (sh.sh_flags & SHF_EXECINSTR) &&
			    sh.sh_type == SHT_NOBITS) {
				wrong = "a separate debug file (its code sections hold no bytes), "
					"not the executable";
				break;
			}
		}
	}
	if (elf)
		elf_end(elf);
	return wrong;
}

/* A local separate debug file: <sysroot>/usr/lib/debug/.build-id/xx/yyyy.debug, taken only
 * with e's build-id. */
static bool find_local_debug(struct fetcher *f, struct fetch *e)
{
	char idhex[2 * sizeof(e->id) + 1], *path, buf[320];
	const char *wrong;
	int fd;

	if (e->id_len < 2)
		return false;
	hex(e->id, e->id_len, idhex);
	if (asprintf(&path, "%s/usr/lib/debug/.build-id/%.2s/%s.debug", f->sysroot, idhex,
		     idhex + 2) < 0)
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(path);
		return false;
	}
	wrong = check_file(fd, e, buf, sizeof(buf));
	close(fd);
	if (wrong) {
		free(path);
		return false;
	}
	e->path = path;
	e->local = true;
	set_why(e, "found at %s", path);
	return true;
}

/* What a fetch in flight knows, for the progress function. */
struct progress {
	struct fetcher *f;
	const char *label;
	struct timespec start;
	long limit;		/* seconds */
	time_t last;		/* when a progress line was last printed */
	bool timed_out;
};

static double elapsed(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

/* Called by libdebuginfod as a transfer goes on (also while nothing arrives): a non-zero return
 * gives it up. */
static int on_progress(debuginfod_client *client, long got, long total)
{
	struct progress *p = debuginfod_get_user_data(client);
	double t = elapsed(&p->start);

	if (t >= (double)p->limit) {
		p->timed_out = true;
		return 1;
	}
	/* got counts bytes only once the size is known; before, it counts the library's waits. */
	if (p->f->progress && total > 0 && time(NULL) != p->last) {
		p->last = time(NULL);
		fprintf(stderr, "corefs: debuginfod: %s: %ld of %ld bytes\n", p->label, got, total);
	}
	return 0;
}

static long timeout_seconds(void)
{
	const char *s = getenv("DEBUGINFOD_TIMEOUT");
	char *end;
	long v;

	if (!s || !*s)
		return DEFAULT_TIMEOUT;
	v = strtol(s, &end, 10);
	return *end || v <= 0 ? DEFAULT_TIMEOUT : v;
}

/* Ask the servers of DEBUGINFOD_URLS for e. */
static void fetch_remote(struct fetcher *f, struct fetch *e, const char *label)
{
	struct progress p = { .f = f, .label = label, .limit = timeout_seconds() };
	const char *urls = getenv("DEBUGINFOD_URLS"), *wrong;
	debuginfod_client *client;
	char *path = NULL, buf[320];
	struct stat st;
	int fd;

	if (!fetcher_remote(f)) {
		set_why(e, "%s", fetcher_off_why(f));
		return;
	}
	pthread_mutex_lock(&f->lock);
	if (f->down)
		set_why(e, "not asked: %s", f->down);
	pthread_mutex_unlock(&f->lock);
	if (e->why)
		return;
	client = debuginfod_begin();
	if (!client) {
		set_why(e, "libdebuginfod could not start a client");
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &p.start);
	debuginfod_set_user_data(client, &p);
	debuginfod_set_progressfn(client, on_progress);
	if (f->progress)
		fprintf(stderr, "corefs: debuginfod: fetching the %s of %s\n", kind_name(e->kind),
			label);
	fd = e->kind == FETCH_EXECUTABLE ?
		debuginfod_find_executable(client, e->id, (int)e->id_len, &path) :
		debuginfod_find_debuginfo(client, e->id, (int)e->id_len, &path);
	if (fd >= 0) {
		/* No URL: libdebuginfod found it in its cache, fetched before. */
		const char *url = debuginfod_get_url(client), *from = url ? url : "the debuginfod cache";

		e->url = url ? strdup(url) : NULL;
		wrong = check_file(fd, e, buf, sizeof(buf));
		if (wrong) {
			set_why(e, "%s has %s", from, wrong);
			free(path);
		} else {
			e->path = path;
			set_why(e, "fetched from %s", from);
			if (f->progress && fstat(fd, &st) == 0)
				fprintf(stderr, "corefs: debuginfod: %s: %s from %s (%" PRIu64
					" bytes, %.1f s)\n", label, kind_name(e->kind), from,
					(uint64_t)st.st_size, elapsed(&p.start));
		}
		close(fd);
	} else if (p.timed_out) {
		set_why(e, "%s: gave up after %ld s (DEBUGINFOD_TIMEOUT)", urls, p.limit);
	} else if (fd == -ENOENT) {
		set_why(e, "%s: no server has it", urls);
	} else {
		set_why(e, "%s: %s", urls, strerror(-fd));
	}
	if (p.timed_out || (fd < 0 && fd != -ENOENT)) {
		pthread_mutex_lock(&f->lock);
		if (!f->down && e->why)
			f->down = strdup(e->why);
		pthread_mutex_unlock(&f->lock);
	}
	if (!e->path && f->progress)
		fprintf(stderr, "corefs: debuginfod: %s: no %s: %s\n", label, kind_name(e->kind),
			e->why ? e->why : "");
	debuginfod_end(client);
}

const struct fetch *fetcher_get(struct fetcher *f, enum fetch_kind kind, const unsigned char *id,
				size_t id_len, const char *label)
{
	struct fetch *e;
	char idhex[2 * sizeof(e->id) + 1], *what;

	if (!f || !id_len || id_len > sizeof(e->id))
		return NULL;
	pthread_mutex_lock(&f->lock);
	e = find(f, kind, id, id_len);
	if (e) {
		while (e->state == FETCH_RUNNING)
			pthread_cond_wait(&f->changed, &f->lock);
		pthread_mutex_unlock(&f->lock);
		return e;
	}
	if (!f->armed || !(e = calloc(1, sizeof(*e)))) {
		pthread_mutex_unlock(&f->lock);
		return NULL;
	}
	e->kind = kind;
	memcpy(e->id, id, id_len);
	e->id_len = id_len;
	e->state = FETCH_RUNNING;
	e->next = f->list;
	f->list = e;
	pthread_mutex_unlock(&f->lock);

	hex(id, id_len, idhex);
	if (asprintf(&what, "%s (build-id %s)", label, idhex) < 0)
		what = NULL;
	if (kind == FETCH_EXECUTABLE || !find_local_debug(f, e))
		fetch_remote(f, e, what ? what : label);
	free(what);

	pthread_mutex_lock(&f->lock);
	e->state = e->path ? FETCH_DONE : FETCH_FAILED;
	f->finished++;
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
	return e;
}

enum fetch_state fetcher_peek(struct fetcher *f, enum fetch_kind kind, const unsigned char *id,
			      size_t id_len, const struct fetch **out)
{
	struct fetch *e;
	enum fetch_state s;

	*out = NULL;
	if (!f || !id_len)
		return FETCH_OFF;
	pthread_mutex_lock(&f->lock);
	e = find(f, kind, id, id_len);
	if (!e)
		s = kind == FETCH_EXECUTABLE && !fetcher_remote(f) ? FETCH_OFF : FETCH_PENDING;
	else if ((s = e->state) != FETCH_RUNNING)
		*out = e;
	pthread_mutex_unlock(&f->lock);
	return s;
}
