/* tests/tools/remote_tool.c — a command line over formats/remote.h, for tests and by hand.
 *
 *   remote_tool stat URL                 size, version, mtime
 *   remote_tool cat URL OFF LEN          the bytes to stdout
 *   remote_tool list URL                 SIZE<tab>ETAG<tab>MTIME<tab>URL, one object a line
 *   remote_tool stats URL OFF LEN...     reads each range, then prints remote_stats
 *   remote_tool hammer URL THREADS N     N random reads in each of THREADS threads, checked
 *                                        against the local copy REMOTE_TOOL_LOCAL
 *   remote_tool herd URL THREADS OFF LEN
 *                                        THREADS readers of one range at once, then stats
 *   remote_tool download URL             the whole object to stdout (remote_download)
 *   remote_tool repl URL                 reads commands on stdin, one answer line each:
 *                                        "read OFF LEN" -> "ok N HEX" or "err SECONDS MESSAGE",
 *                                        "problem", "stats", "fork" (the child goes on),
 *                                        "quit"
 *
 * Options come from the environment: REMOTE_TOOL_CACHE_DIR, REMOTE_TOOL_BLOCK (bytes),
 * REMOTE_TOOL_MEM (bytes), REMOTE_TOOL_TIMEOUT (seconds), REMOTE_TOOL_MAX_KEYS (list's page),
 * REMOTE_TOOL_PROGRESS (download's progress lines).  Errors are one line on stderr and
 * exit status 1. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../formats/remote.h"

static struct remote_options opts;

static uint64_t env_u64(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : 0;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct remote *open_or_die(const char *url)
{
	char err[1024];
	struct remote *r = remote_open(url, &opts, err, sizeof(err));

	if (!r) {
		fprintf(stderr, "remote_tool: %s\n", err);
		exit(1);
	}
	return r;
}

static void print_stats(struct remote *r)
{
	struct remote_stats s;

	remote_stats(r, &s);
	printf("requests %" PRIu64 "\nbytes %" PRIu64 "\nhits %" PRIu64 "\nmisses %" PRIu64
	       "\ndisk_hits %" PRIu64 "\n", s.requests, s.bytes, s.hits, s.misses, s.disk_hits);
}

/* One read into a fresh buffer; NULL with a message on stderr when it fails. */
static unsigned char *read_range(struct remote *r, uint64_t off, size_t len, ssize_t *got)
{
	unsigned char *buf = malloc(len ? len : 1);
	char why[1024];

	if (!buf) {
		perror("remote_tool");
		exit(1);
	}
	*got = remote_pread(r, buf, len, off);
	if (*got < 0) {
		remote_last_error(r, why, sizeof(why));
		fprintf(stderr, "remote_tool: %s: read of %zu at %" PRIu64 ": %s (%s)\n",
			remote_url(r), len, off, strerror(errno), why);
		free(buf);
		return NULL;
	}
	return buf;
}

static int cmd_stat(const char *url)
{
	struct remote *r = open_or_die(url);

	printf("size %" PRIu64 "\nversion %s\nmtime %" PRId64 "\n", remote_size(r),
	       remote_version(r) ? remote_version(r) : "-", remote_mtime(r));
	remote_close(r);
	return 0;
}

static int cmd_cat(const char *url, uint64_t off, size_t len)
{
	struct remote *r = open_or_die(url);
	ssize_t got;
	unsigned char *buf = read_range(r, off, len, &got);

	if (buf)
		fwrite(buf, 1, (size_t)got, stdout);
	free(buf);
	remote_close(r);
	return buf ? 0 : 1;
}

static int cmd_download(const char *url)
{
	struct remote *r = open_or_die(url);
	char err[1024];
	int rc = remote_download(r, STDOUT_FILENO, err, sizeof(err));

	if (rc)
		fprintf(stderr, "remote_tool: %s\n", err);
	remote_close(r);
	return rc ? 1 : 0;
}

static int cmd_list(const char *url)
{
	struct remote_entry *e;
	size_t n;
	char err[1024];

	if (remote_list(url, &opts, &e, &n, err, sizeof(err))) {
		fprintf(stderr, "remote_tool: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		printf("%" PRIu64 "\t%s\t%" PRId64 "\t%s\n", e[i].size, e[i].etag ? e[i].etag : "-",
		       e[i].mtime, e[i].url);
	remote_entries_free(e, n);
	return 0;
}

static int cmd_stats(const char *url, int argc, char **argv)
{
	struct remote *r = open_or_die(url);
	int rc = 0;

	for (int i = 0; i + 1 < argc; i += 2) {
		ssize_t got;
		unsigned char *buf = read_range(r, strtoull(argv[i], NULL, 0),
						strtoull(argv[i + 1], NULL, 0), &got);

		rc |= !buf;
		free(buf);
	}
	print_stats(r);
	remote_close(r);
	return rc;
}

struct hammer {
	struct remote *r;
	const unsigned char *local;
	uint64_t size;
	unsigned n, seed;
	int bad;
};

/* Random reads, a third of them across a block boundary, each checked against the local copy. */
static void *hammer_thread(void *p)
{
	struct hammer *h = p;
	size_t block = opts.block_size ? opts.block_size : 1 << 20;
	unsigned char *buf = malloc(3 * block);

	for (unsigned i = 0; i < h->n && buf; i++) {
		uint64_t off = h->size ? ((uint64_t)rand_r(&h->seed) << 16 ^
					  (uint64_t)rand_r(&h->seed)) % h->size : 0;
		size_t len = (size_t)rand_r(&h->seed) % (2 * block) + 1;
		ssize_t got, want;

		if (i % 3 == 0 && h->size > block)
			off = (off / block) * block + block - len / 2;
		if (off > h->size)
			off = h->size;
		want = (ssize_t)(off + len > h->size ? h->size - off : len);
		got = remote_pread(h->r, buf, len, off);
		if (got != want || memcmp(buf, h->local + off, (size_t)want)) {
			fprintf(stderr, "remote_tool: hammer: read of %zu at %" PRIu64 ": %zd bytes, "
				"%s\n", len, off, got, got == want ? "wrong bytes" : strerror(errno));
			h->bad = 1;
			break;
		}
	}
	free(buf);
	return NULL;
}

static int cmd_hammer(const char *url, unsigned threads, unsigned n)
{
	const char *path = getenv("REMOTE_TOOL_LOCAL");
	struct remote *r = open_or_die(url);
	struct hammer *h = calloc(threads, sizeof(*h));
	pthread_t *t = calloc(threads, sizeof(*t));
	struct stat st;
	void *local;
	int fd, bad = 0;

	fd = path ? open(path, O_RDONLY) : -1;
	if (fd < 0 || fstat(fd, &st) || !h || !t) {
		fprintf(stderr, "remote_tool: hammer needs REMOTE_TOOL_LOCAL, the object's copy\n");
		return 1;
	}
	if ((uint64_t)st.st_size != remote_size(r)) {
		fprintf(stderr, "remote_tool: %s is %jd bytes, the object %" PRIu64 "\n", path,
			(intmax_t)st.st_size, remote_size(r));
		return 1;
	}
	local = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	if (local == MAP_FAILED) {
		perror("remote_tool: mmap");
		return 1;
	}
	for (unsigned i = 0; i < threads; i++) {
		h[i] = (struct hammer){ .r = r, .local = local, .size = remote_size(r), .n = n,
					.seed = i * 7919 + 1 };
		pthread_create(&t[i], NULL, hammer_thread, &h[i]);
	}
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		bad |= h[i].bad;
	}
	print_stats(r);
	remote_close(r);
	if (local)
		munmap(local, (size_t)st.st_size);
	close(fd);
	free(h);
	free(t);
	return bad;
}

struct herd {
	struct remote *r;
	pthread_barrier_t *start;
	uint64_t off;
	size_t len;
	unsigned char *buf;
	ssize_t got;
};

static void *herd_thread(void *p)
{
	struct herd *h = p;

	pthread_barrier_wait(h->start);
	h->got = remote_pread(h->r, h->buf, h->len, h->off);
	return NULL;
}

/* THREADS readers of one range at the same moment: all must get the same bytes. */
static int cmd_herd(const char *url, unsigned threads, uint64_t off, size_t len)
{
	struct remote *r = open_or_die(url);
	struct herd *h = calloc(threads, sizeof(*h));
	pthread_t *t = calloc(threads, sizeof(*t));
	pthread_barrier_t start;
	int bad = 0;

	if (!h || !t || !threads)
		return 1;
	pthread_barrier_init(&start, NULL, threads);
	for (unsigned i = 0; i < threads; i++) {
		h[i] = (struct herd){ .r = r, .start = &start, .off = off, .len = len,
				      .buf = malloc(len ? len : 1) };
		pthread_create(&t[i], NULL, herd_thread, &h[i]);
	}
	for (unsigned i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	for (unsigned i = 0; i < threads; i++) {
		if (h[i].got < 0 || h[i].got != h[0].got ||
		    memcmp(h[i].buf, h[0].buf, (size_t)h[0].got)) {
			fprintf(stderr, "remote_tool: herd: reader %u got %zd bytes, reader 0 %zd\n",
				i, h[i].got, h[0].got);
			bad = 1;
		}
	}
	print_stats(r);
	for (unsigned i = 0; i < threads; i++)
		free(h[i].buf);
	pthread_barrier_destroy(&start);
	free(h);
	free(t);
	remote_close(r);
	return bad;
}

static int cmd_repl(const char *url)
{
	struct remote *r = open_or_die(url);
	char line[256];

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %" PRIu64 "\n", remote_size(r));
	while (fgets(line, sizeof(line), stdin)) {
		uint64_t off, len;

		if (sscanf(line, "read %" SCNu64 " %" SCNu64, &off, &len) == 2) {
			unsigned char *buf = malloc(len ? len : 1);
			double t = now_s();
			ssize_t got = buf ? remote_pread(r, buf, len, off) : -1;
			char why[1024];

			if (got < 0) {
				remote_last_error(r, why, sizeof(why));
				printf("err %.3f %s: %s\n", now_s() - t, strerror(errno), why);
			} else {
				printf("ok %zd ", got);
				for (ssize_t i = 0; i < got; i++)
					printf("%02x", buf[i]);
				printf("\n");
			}
			free(buf);
		} else if (!strncmp(line, "problem", 7)) {
			const char *p = remote_problem(r);

			printf("problem %s\n", p ? p : "-");
		} else if (!strncmp(line, "stats", 5)) {
			struct remote_stats s;

			remote_stats(r, &s);
			printf("stats %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
			       s.requests, s.bytes, s.hits, s.misses, s.disk_hits);
		} else if (!strncmp(line, "fork", 4)) {
			/* As a FUSE daemon forks after opening: the child goes on, the parent waits. */
			int status;
			pid_t pid = fork();

			if (pid > 0) {
				waitpid(pid, &status, 0);
				_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
			}
			printf("forked\n");
		} else if (!strncmp(line, "quit", 4)) {
			break;
		} else {
			printf("? %s", line);
		}
	}
	remote_close(r);
	return 0;
}

int main(int argc, char **argv)
{
	opts.cache_dir = getenv("REMOTE_TOOL_CACHE_DIR");
	opts.block_size = (size_t)env_u64("REMOTE_TOOL_BLOCK");
	opts.memory_limit = (size_t)env_u64("REMOTE_TOOL_MEM");
	opts.timeout_s = (unsigned)env_u64("REMOTE_TOOL_TIMEOUT");
	opts.list_max_keys = (unsigned)env_u64("REMOTE_TOOL_MAX_KEYS");
	opts.progress = getenv("REMOTE_TOOL_PROGRESS") != NULL;
	if (argc == 3 && !strcmp(argv[1], "stat"))
		return cmd_stat(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "cat"))
		return cmd_cat(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0));
	if (argc == 3 && !strcmp(argv[1], "list"))
		return cmd_list(argv[2]);
	if (argc >= 3 && argc % 2 == 1 && !strcmp(argv[1], "stats"))
		return cmd_stats(argv[2], argc - 3, argv + 3);
	if (argc == 5 && !strcmp(argv[1], "hammer"))
		return cmd_hammer(argv[2], (unsigned)atoi(argv[3]), (unsigned)atoi(argv[4]));
	if (argc == 3 && !strcmp(argv[1], "download"))
		return cmd_download(argv[2]);
	if (argc == 6 && !strcmp(argv[1], "herd"))
		return cmd_herd(argv[2], (unsigned)atoi(argv[3]), strtoull(argv[4], NULL, 0),
				strtoull(argv[5], NULL, 0));
	if (argc == 3 && !strcmp(argv[1], "repl"))
		return cmd_repl(argv[2]);
	fprintf(stderr, "usage: remote_tool stat|cat|download|list|stats|hammer|herd|repl URL "
		"[ARGS...]\n");
	return 2;
}
