/* formats/remote.c — dumps where they are: HTTP(S) and S3 objects read by ranges through a block
 * cache (remote.h).
 *
 * The pipeline of a read: remote_pread splits the range into blocks; each block is looked up in
 * memory (get_block), else on disk (disk_read), else fetched with one ranged GET (fetch_range,
 * through transfer and its retries, perform each try); readers of a block being fetched wait for
 * that one fetch.  A read that starts where the previous one ended queues the next blocks for
 * the readahead workers (read_ahead).
 *
 * How requests are made: each is an easy handle of its own, performed by the thread that needs
 * the block (a FUSE thread, or a readahead worker), all of a remote sharing one CURLSH (its
 * connections, DNS and TLS sessions).  A curl multi handle driven by one worker thread was the
 * other choice; it was not taken because here every waiter already is a thread that can perform
 * its own transfer, so several ranges are in flight at once without a second scheduler, a
 * transfer's deadline is that of the read waiting for it, and a slow fetch holds up no other
 * one (no shared loop to stall).
 *
 * Signing (s3://): libcurl's CURLOPT_AWS_SIGV4.  curl 7.88 (Debian 12) signs "host", its own
 * x-amz-date and every header of CURLOPT_HTTPHEADER (lowercased, trimmed, sorted), takes the
 * payload hash from an x-amz-content-sha256 header given there (else the SHA-256 of the POST
 * fields) but sends none of its own, and puts the URL's path and query into the canonical request
 * as they are given.  So: x-amz-content-sha256 (the empty body's hash) and x-amz-security-token
 * go in CURLOPT_HTTPHEADER (both sent and signed); the range goes in CURLOPT_RANGE (sent, not
 * signed, as S3 allows); keys are URI-encoded here as S3's canonical form wants (every byte but
 * A-Za-z0-9-_.~ and '/'), query parameters encoded and sorted by name, and CURLOPT_PATH_AS_IS
 * keeps curl from normalising "." and ".." segments of a key. */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "remote.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define DEFAULT_BLOCK (1u << 20)
#define DEFAULT_MEMORY (256u << 20)
#define DEFAULT_TIMEOUT 30		/* seconds */
#define MAX_BLOCKS (64u << 20)		/* one pointer each: 512 MiB of table at most */
#define READAHEAD 4			/* blocks fetched ahead of a sequential reader */
#define WORKERS 3			/* readahead threads */
#define CONNECT_TIMEOUT 10.0		/* seconds, at most, for one connection */
#define LOW_SPEED_TIME 5.0		/* seconds without a byte: the connection is dropped */
#define BACKOFF_FIRST 0.1		/* seconds before the first retry, doubled each time */
#define BACKOFF_MAX 2.0
#define ERROR_BODY_MAX (64u << 10)	/* what is kept of an error's body (S3's XML) */
#define LIST_BODY_MAX (16u << 20)	/* one page of ListObjectsV2 */
#define LIST_PAGES_MAX 100000
#define DOWNLOAD_CHUNK (8u << 20)
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MAP_HEADER 4096			/* the disk cache's index: this much text, a byte a block */

/* --- where an object is and how to ask for it ------------------------------------------------- */

struct endpoint {
	char *url;		/* as given: what errors name */
	char *target;		/* the http(s) URL asked */
	bool s3;
	char *bucket, *key;	/* s3:// only; key as given, not encoded */
	char *base;		/* s3: the endpoint, path-style (no trailing '/'), or NULL */
	char *key_id, *secret, *token, *region;
	char sigv4[128];
};

static void endpoint_free(struct endpoint *e)
{
	free(e->url);
	free(e->target);
	free(e->bucket);
	free(e->key);
	free(e->base);
	free(e->key_id);
	free(e->secret);
	free(e->token);
	free(e->region);
	memset(e, 0, sizeof(*e));
}

static void fail(char *err, size_t errsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errsz)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

bool remote_claims(const char *path)
{
	return path && (!strncasecmp(path, "http://", 7) || !strncasecmp(path, "https://", 8) ||
			!strncasecmp(path, "s3://", 5));
}

/* AWS's UriEncode: every byte but A-Z a-z 0-9 - _ . ~ (and '/' when keep_slash) as %XX. */
static char *uri_encode(const char *s, bool keep_slash)
{
	static const char hexd[] = "0123456789ABCDEF";
	char *out = malloc(3 * strlen(s) + 1), *p = out;

	if (!out)
		return NULL;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
		    *c == '-' || *c == '_' || *c == '.' || *c == '~' || (keep_slash && *c == '/')) {
			*p++ = (char)*c;
		} else {
			*p++ = '%';
			*p++ = hexd[*c >> 4];
			*p++ = hexd[*c & 15];
		}
	}
	*p = '\0';
	return out;
}

static char *dup_trimmed(const char *s, size_t n)
{
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	return strndup(s, n);
}

/* The value of key in [section] of an INI file as the AWS tools write it, malloc'd, or NULL. */
static char *ini_get(const char *path, const char *section, const char *key)
{
	FILE *f = path ? fopen(path, "re") : NULL;
	char line[4096], *value = NULL;
	bool in = false;

	if (!f)
		return NULL;
	while (!value && fgets(line, sizeof(line), f)) {
		char *s = line, *eq;

		s += strspn(s, " \t");
		if (*s == '#' || *s == ';' || *s == '\n' || !*s)
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']'), *name;

			if (!end)
				continue;
			name = dup_trimmed(s + 1, (size_t)(end - s - 1));
			in = name && !strcmp(name, section);
			free(name);
			continue;
		}
		eq = strchr(s, '=');
		if (!in || !eq)
			continue;
		char *name = dup_trimmed(s, (size_t)(eq - s));

		if (name && !strcasecmp(name, key))
			value = dup_trimmed(eq + 1, strlen(eq + 1));
		free(name);
	}
	fclose(f);
	return value;
}

static char *aws_file(const char *env, const char *name)
{
	const char *v = getenv(env), *home = getenv("HOME");
	struct passwd *pw;
	char *path;

	if (v && *v)
		return strdup(v);
	if (!home || !*home) {
		pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (!home || asprintf(&path, "%s/.aws/%s", home, name) < 0)
		return NULL;
	return path;
}

static char *env_dup(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? strdup(v) : NULL;
}

/* Credentials, region and endpoint as the AWS tools find them (remote.h); false with err. */
static bool aws_config(struct endpoint *e, char *err, size_t errsz)
{
	const char *profile = getenv("AWS_PROFILE");
	char *creds = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	char *config = aws_file("AWS_CONFIG_FILE", "config");
	char section[256];

	if (!profile || !*profile)
		profile = getenv("AWS_DEFAULT_PROFILE");
	if (!profile || !*profile)
		profile = "default";
	if (!strcmp(profile, "default"))
		snprintf(section, sizeof(section), "default");
	else
		snprintf(section, sizeof(section), "profile %s", profile);

	e->key_id = env_dup("AWS_ACCESS_KEY_ID");
	e->secret = env_dup("AWS_SECRET_ACCESS_KEY");
	if (e->key_id && e->secret) {
		e->token = env_dup("AWS_SESSION_TOKEN");
	} else {
		free(e->key_id);
		free(e->secret);
		e->key_id = ini_get(creds, profile, "aws_access_key_id");
		e->secret = ini_get(creds, profile, "aws_secret_access_key");
		e->token = ini_get(creds, profile, "aws_session_token");
		if (!e->key_id || !e->secret) {
			free(e->key_id);
			free(e->secret);
			free(e->token);
			e->key_id = ini_get(config, section, "aws_access_key_id");
			e->secret = ini_get(config, section, "aws_secret_access_key");
			e->token = ini_get(config, section, "aws_session_token");
		}
	}
	e->region = env_dup("AWS_REGION");
	if (!e->region)
		e->region = env_dup("AWS_DEFAULT_REGION");
	if (!e->region)
		e->region = ini_get(config, section, "region");
	if (!e->region)
		e->region = strdup("us-east-1");
	e->base = env_dup("AWS_ENDPOINT_URL_S3");
	if (!e->base)
		e->base = env_dup("AWS_ENDPOINT_URL");
	if (!e->base)
		e->base = ini_get(config, section, "endpoint_url");
	free(creds);
	free(config);
	if (!e->key_id || !e->secret) {
		fail(err, errsz, "%s: no AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
		     "or profile %s in ~/.aws/credentials)", e->url, profile);
		return false;
	}
	if (strpbrk(e->key_id, ":\r\n") || strpbrk(e->secret, "\r\n") ||
	    (e->token && strpbrk(e->token, "\r\n")) || strpbrk(e->region, ":\r\n/")) {
		fail(err, errsz, "%s: malformed AWS credentials or region", e->url);
		return false;
	}
	while (e->base && *e->base && e->base[strlen(e->base) - 1] == '/')
		e->base[strlen(e->base) - 1] = '\0';
	snprintf(e->sigv4, sizeof(e->sigv4), "aws:amz:%s:s3", e->region);
	return true;
}

/* The http(s) URL of s3 object key (NULL: the bucket itself) and query (NULL: none). */
static char *s3_target(const struct endpoint *e, const char *key, const char *query)
{
	char *k = uri_encode(key ? key : "", true), *b = uri_encode(e->bucket, false), *out = NULL;
	int rc;

	if (!k || !b) {
		free(k);
		free(b);
		return NULL;
	}
	if (e->base)
		rc = asprintf(&out, "%s/%s/%s%s%s", e->base, b, k, query ? "?" : "",
			      query ? query : "");
	else if (strchr(e->bucket, '.'))	/* no virtual host: TLS wildcards span one label */
		rc = asprintf(&out, "https://s3.%s.amazonaws.com/%s/%s%s%s", e->region, b, k,
			      query ? "?" : "", query ? query : "");
	else
		rc = asprintf(&out, "https://%s.s3.%s.amazonaws.com/%s%s%s", e->bucket, e->region, k,
			      query ? "?" : "", query ? query : "");
	free(k);
	free(b);
	return rc < 0 ? NULL : out;
}

/* Parse url into e.  An s3:// key is taken as written (no %-decoding), as the AWS tools do. */
static bool endpoint_parse(struct endpoint *e, const char *url, bool prefix, char *err,
			   size_t errsz)
{
	const char *rest, *slash;

	memset(e, 0, sizeof(*e));
	e->url = strdup(url);
	if (!e->url) {
		fail(err, errsz, "%s: out of memory", url);
		return false;
	}
	if (strpbrk(url, "\r\n")) {
		fail(err, errsz, "%s: a URL may not hold a line break", url);
		return false;
	}
	if (strncasecmp(url, "s3://", 5)) {
		rest = strstr(url, "://");
		if (!remote_claims(url) || !rest || !rest[3] || rest[3] == '/') {
			fail(err, errsz, "%s: not an http://, https:// or s3:// URL with a host", url);
			return false;
		}
		e->target = strdup(url);
		return e->target != NULL;
	}
	e->s3 = true;
	rest = url + 5;
	slash = strchr(rest, '/');
	e->bucket = slash ? strndup(rest, (size_t)(slash - rest)) : strdup(rest);
	e->key = strdup(slash ? slash + 1 : "");
	if (!e->bucket || !e->key) {
		fail(err, errsz, "%s: out of memory", url);
		return false;
	}
	if (!*e->bucket || strpbrk(e->bucket, "?#%")) {
		fail(err, errsz, "%s: no bucket name (s3://BUCKET/KEY)", url);
		return false;
	}
	if (!prefix && !*e->key) {
		fail(err, errsz, "%s: no key (s3://BUCKET/KEY)", url);
		return false;
	}
	if (!aws_config(e, err, errsz))
		return false;
	if (!prefix && !(e->target = s3_target(e, e->key, NULL))) {
		fail(err, errsz, "%s: out of memory", url);
		return false;
	}
	return true;
}

/* --- one HTTP exchange ------------------------------------------------------------------------ */

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code;

static void init_curl(void)
{
	curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct xfer {
	/* what to ask */
	const char *target;
	bool head;
	bool ranged;
	uint64_t start, len;		/* the range, when ranged */
	const char *if_match, *if_unmodified;
	unsigned char *buf;		/* a 2xx body goes here, cap bytes at most */
	size_t cap;
	size_t body_max;		/* without buf: a 2xx body into body, this much at most */
	const int *abort;		/* when it becomes non-zero, the transfer is given up */
	/* what came back */
	CURLcode cc;
	long status;
	char reason[64];
	char etag[256], last_modified[64], content_range[96];
	int64_t content_length;		/* -1 when not given */
	size_t got;			/* bytes into buf */
	char *body;			/* an error's body (bounded), or the 2xx body without buf */
	size_t body_len;
	bool overflow;			/* more body than asked for */
	uint64_t received;		/* body bytes, all of them */
};

static void xfer_reset(struct xfer *x)
{
	x->cc = CURLE_OK;
	x->status = 0;
	x->reason[0] = x->etag[0] = x->last_modified[0] = x->content_range[0] = '\0';
	x->content_length = -1;
	x->got = 0;
	free(x->body);
	x->body = NULL;
	x->body_len = 0;
	x->overflow = false;
}

static void header_value(char *dst, size_t dstsz, const char *v, size_t n)
{
	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
		n--;
	n = MIN(n, dstsz - 1);
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* Each header line; a status line starts a new response (a redirect's, an interim 100). */
static size_t on_header(char *line, size_t size, size_t nitems, void *data)
{
	struct xfer *x = data;
	size_t n = size * nitems;
	const char *colon = memchr(line, ':', n);
	char num[32];

	if (n > 5 && !memcmp(line, "HTTP/", 5)) {
		const char *sp = memchr(line, ' ', n), *sp2;

		x->status = 0;
		x->reason[0] = x->etag[0] = x->last_modified[0] = x->content_range[0] = '\0';
		x->content_length = -1;
		if (sp) {
			x->status = strtol(sp + 1, NULL, 10);
			sp2 = memchr(sp + 1, ' ', n - (size_t)(sp + 1 - line));
			if (sp2)
				header_value(x->reason, sizeof(x->reason), sp2 + 1,
					     n - (size_t)(sp2 + 1 - line));
		}
		return n;
	}
	if (!colon)
		return n;
#define IS(name) ((size_t)(colon - line) == sizeof(name) - 1 && \
		  !strncasecmp(line, name, sizeof(name) - 1))
	if (IS("etag"))
		header_value(x->etag, sizeof(x->etag), colon + 1, n - (size_t)(colon + 1 - line));
	else if (IS("last-modified"))
		header_value(x->last_modified, sizeof(x->last_modified), colon + 1,
			     n - (size_t)(colon + 1 - line));
	else if (IS("content-range"))
		header_value(x->content_range, sizeof(x->content_range), colon + 1,
			     n - (size_t)(colon + 1 - line));
	else if (IS("content-length")) {
		char *end;

		header_value(num, sizeof(num), colon + 1, n - (size_t)(colon + 1 - line));
		errno = 0;
		x->content_length = (int64_t)strtoll(num, &end, 10);
		if (errno || *end || end == num || x->content_length < 0)
			x->content_length = -1;
	}
#undef IS
	return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *p)
{
	struct xfer *x = p;
	size_t n = size * nmemb;
	bool ok = x->status >= 200 && x->status < 300;

	x->received += n;
	if (ok && x->buf) {
		if (n > x->cap - x->got) {
			x->overflow = true;
			return 0;	/* CURLE_WRITE_ERROR: never more than was asked for */
		}
		memcpy(x->buf + x->got, data, n);
		x->got += n;
		return n;
	}
	size_t max = ok ? x->body_max : ERROR_BODY_MAX, take = MIN(n, max - MIN(max, x->body_len));

	if (ok && take < n) {
		x->overflow = true;
		return 0;
	}
	if (take) {
		char *b = realloc(x->body, x->body_len + take + 1);

		if (!b)
			return 0;
		memcpy(b + x->body_len, data, take);
		x->body = b;
		x->body_len += take;
		b[x->body_len] = '\0';
	}
	return n;
}

static bool aborted(const struct xfer *x)
{
	return x->abort && __atomic_load_n(x->abort, __ATOMIC_RELAXED);
}

static int on_progress(void *p, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)a, (void)b, (void)c, (void)d;
	return aborted(p);
}

/* One request, at most until deadline: x's results. */
static void perform(const struct endpoint *e, CURLSH *share, struct xfer *x, double deadline)
{
	struct curl_slist *hs = NULL, *more;
	char *line, range[64];
	double left = deadline - now_s();
	CURL *c;
	bool ok = true;

	xfer_reset(x);
	if (left < 0.01) {
		x->cc = CURLE_OPERATION_TIMEDOUT;
		return;
	}
	c = curl_easy_init();
	if (!c) {
		x->cc = CURLE_OUT_OF_MEMORY;
		return;
	}
#define ADD(...) do {								\
		if (asprintf(&line, __VA_ARGS__) < 0) {				\
			ok = false;						\
			break;							\
		}								\
		if ((more = curl_slist_append(hs, line)))			\
			hs = more;						\
		else								\
			ok = false;						\
		free(line);							\
	} while (0)
	if (e->s3) {
		ADD("x-amz-content-sha256: %s", EMPTY_SHA256);
		if (e->token)
			ADD("x-amz-security-token: %s", e->token);
	}
	if (x->if_match)
		ADD("If-Match: %s", x->if_match);
	else if (x->if_unmodified)
		ADD("If-Unmodified-Since: %s", x->if_unmodified);
#undef ADD
	if (!ok) {
		curl_slist_free_all(hs);
		curl_easy_cleanup(c);
		x->cc = CURLE_OUT_OF_MEMORY;
		return;
	}
	curl_easy_setopt(c, CURLOPT_URL, x->target);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "corefs");
	if (share)
		curl_easy_setopt(c, CURLOPT_SHARE, share);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(1000 * MIN(left, CONNECT_TIMEOUT)) + 1);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(1000 * left) + 1);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)MAX(1.0, MIN(left, LOW_SPEED_TIME)));
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	if (hs)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
	if (x->head)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (x->ranged) {
		snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, x->start,
			 x->start + x->len - 1);
		curl_easy_setopt(c, CURLOPT_RANGE, range);
	}
	if (e->s3) {
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, e->sigv4);
		curl_easy_setopt(c, CURLOPT_USERNAME, e->key_id);
		curl_easy_setopt(c, CURLOPT_PASSWORD, e->secret);
	} else {
		/* A redirect is followed; the pinned version is checked on the answer as always. */
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
		curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	}
	x->cc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	curl_slist_free_all(hs);
}

static bool transient(const struct xfer *x, bool connect)
{
	switch (x->cc) {
	case CURLE_OK:
		return x->status >= 500 || x->status == 429;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return connect;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

/* Counters a transfer adds to (a remote's, under its lock), or none. */
struct counters {
	pthread_mutex_t *lock;
	uint64_t *requests, *bytes;
};

/* perform, again after a transient failure (a 5xx, a dropped connection; with connect, also a
 * refused one) with exponential backoff, until deadline. */
static void transfer(const struct endpoint *e, CURLSH *share, struct xfer *x, double deadline,
		     bool connect, const struct counters *n)
{
	double wait = BACKOFF_FIRST, left;

	for (;;) {
		x->received = 0;
		perform(e, share, x, deadline);
		if (n && n->lock) {
			pthread_mutex_lock(n->lock);
			(*n->requests)++;
			*n->bytes += x->received;
			pthread_mutex_unlock(n->lock);
		}
		if (!transient(x, connect) || aborted(x))
			return;
		/* The last try is made just before the deadline, not a backoff earlier. */
		left = deadline - now_s() - 0.05;
		if (left <= 0)
			return;
		usleep((useconds_t)(MIN(wait, left) * 1e6));
		wait = MIN(wait * 2, BACKOFF_MAX);
	}
}

static const char *reason_of(const struct xfer *x)
{
	static const struct { long status; const char *text; } table[] = {
		{ 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" }, { 412, "Precondition Failed" },
		{ 416, "Range Not Satisfiable" }, { 429, "Too Many Requests" },
		{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
	};

	if (x->reason[0])
		return x->reason;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].status == x->status)
			return table[i].text;
	return "";
}

/* The text of XML element name in [s, s + n), unescaped, malloc'd; NULL when absent.  *next is
 * set past the element.  The entities of XML 1.0 (&lt; &gt; &amp; &quot; &apos; &#N; &#xN;)
 * are decoded; anything else is kept as it is. */
static char *xml_text(const char *s, size_t n, const char *name, const char **next)
{
	char open[64], close[64];
	const char *a, *b, *end = s + n;
	char *out, *o;

	snprintf(open, sizeof(open), "<%s>", name);
	snprintf(close, sizeof(close), "</%s>", name);
	a = memmem(s, n, open, strlen(open));
	if (!a)
		return NULL;
	a += strlen(open);
	b = memmem(a, (size_t)(end - a), close, strlen(close));
	if (!b)
		return NULL;
	if (next)
		*next = b + strlen(close);
	out = o = malloc((size_t)(b - a) + 1);
	if (!out)
		return NULL;
	for (const char *p = a; p < b;) {
		static const struct { const char *ent; char c; } ents[] = {
			{ "&lt;", '<' }, { "&gt;", '>' }, { "&amp;", '&' }, { "&quot;", '"' },
			{ "&apos;", '\'' },
		};
		bool done = false;

		if (*p != '&') {
			*o++ = *p++;
			continue;
		}
		for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]) && !done; i++) {
			size_t l = strlen(ents[i].ent);

			if ((size_t)(b - p) >= l && !memcmp(p, ents[i].ent, l)) {
				*o++ = ents[i].c;
				p += l;
				done = true;
			}
		}
		if (!done && b - p > 3 && p[1] == '#') {
			const char *q = p + 2;
			int base = 10;
			unsigned long cp = 0;

			if (*q == 'x' || *q == 'X') {
				base = 16;
				q++;
			}
			const char *digits = q;

			while (q < b && q - digits < 8 &&
			       (base == 16 ? isxdigit((unsigned char)*q) : isdigit((unsigned char)*q))) {
				cp = cp * (unsigned long)base +
				     (unsigned long)(*q <= '9' ? *q - '0' : (*q | 32) - 'a' + 10);
				q++;
			}
			/* UTF-8 of the code point: never longer than the entity itself. */
			if (q < b && *q == ';' && q > digits && cp > 0 && cp <= 0x10ffff) {
				if (cp < 0x80) {
					*o++ = (char)cp;
				} else if (cp < 0x800) {
					*o++ = (char)(0xc0 | (cp >> 6));
					*o++ = (char)(0x80 | (cp & 0x3f));
				} else if (cp < 0x10000) {
					*o++ = (char)(0xe0 | (cp >> 12));
					*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
					*o++ = (char)(0x80 | (cp & 0x3f));
				} else {
					*o++ = (char)(0xf0 | (cp >> 18));
					*o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
					*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
					*o++ = (char)(0x80 | (cp & 0x3f));
				}
				p = q + 1;
				done = true;
			}
		}
		if (!done)
			*o++ = *p++;
	}
	*o = '\0';
	return out;
}

/* One line for a failed exchange: "URL: 403 Forbidden (Code: Message)", "URL: <curl's error>". */
static void describe(const struct endpoint *e, const struct xfer *x, char *err, size_t errsz)
{
	char *code = NULL, *msg = NULL;

	if (x->cc == CURLE_OPERATION_TIMEDOUT) {
		fail(err, errsz, "%s: no answer in time (%s)", e->url, curl_easy_strerror(x->cc));
		return;
	}
	if (x->cc != CURLE_OK && !(x->cc == CURLE_WRITE_ERROR && x->overflow)) {
		fail(err, errsz, "%s: %s", e->url, curl_easy_strerror(x->cc));
		return;
	}
	if (x->body && x->status >= 300) {
		code = xml_text(x->body, x->body_len, "Code", NULL);
		msg = xml_text(x->body, x->body_len, "Message", NULL);
	}
	if (msg && strlen(msg) > 200)
		strcpy(msg + 197, "...");
	if (code)
		fail(err, errsz, "%s: %ld %s (%s%s%s)", e->url, x->status, reason_of(x), code,
		     msg ? ": " : "", msg ? msg : "");
	else
		fail(err, errsz, "%s: %ld %s", e->url, x->status, reason_of(x));
	free(code);
	free(msg);
}

/* "bytes A-B/T" of a 206: false unless it says exactly [start, start + len) of total. */
static bool range_is(const char *cr, uint64_t start, uint64_t len, uint64_t total)
{
	uint64_t a, b, t;
	int end = 0;

	if (sscanf(cr, "bytes %" SCNu64 "-%" SCNu64 "/%" SCNu64 "%n", &a, &b, &t, &end) != 3 ||
	    cr[end])
		return false;
	return a == start && b == start + len - 1 && t == total;
}

/* --- the object and its blocks ---------------------------------------------------------------- */

enum block_state { B_LOADING, B_READY, B_FAILED };

struct block {
	uint64_t index;
	unsigned char *data;
	size_t len;
	enum block_state state;
	unsigned refs;			/* readers copying out, the loader */
	bool listed;			/* in r->slots */
	struct block *prev, *next;	/* the LRU list, when READY and listed */
};

struct remote {
	struct endpoint ep;
	struct remote_options o;
	uint64_t size;
	char *etag, *last_modified, *version;
	bool weak;			/* the ETag is weak: If-Unmodified-Since pins instead */
	int64_t mtime;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

	pthread_mutex_t lock;		/* everything below */
	pthread_cond_t changed;		/* a block's state, the readahead queue, stopping */
	struct block **slots;		/* by block index */
	uint64_t nblocks;
	struct block lru;		/* sentinel: next is the most recently used */
	size_t in_memory;		/* bytes of READY blocks */
	size_t loading;			/* blocks LOADING */
	char *problem;			/* set once, kept until close */
	char last_error[512];
	struct remote_stats stats;
	uint64_t next_off;		/* where the previous read ended, for readahead */
	struct block *queue[READAHEAD * 4];	/* readahead, oldest first */
	size_t queued;
	struct worker {
		struct remote *r;
		pthread_t thread;
		struct block *current;	/* the block it is loading */
	} workers[WORKERS];
	unsigned nworkers;
	pid_t pid;			/* the process the workers run in */
	int stopping;
	bool parking;			/* a fork is coming: the workers end (park_workers) */
	struct remote *next_open;	/* the list of open remotes (all_open) */

	int data_fd, map_fd;		/* the disk cache, -1 without */
};

static void lock_share(CURL *c, curl_lock_data d, curl_lock_access a, void *p)
{
	struct remote *r = p;

	(void)c, (void)a;
	pthread_mutex_lock(&r->share_locks[d]);
}

static void unlock_share(CURL *c, curl_lock_data d, void *p)
{
	struct remote *r = p;

	(void)c;
	pthread_mutex_unlock(&r->share_locks[d]);
}

uint64_t remote_size(const struct remote *r)
{
	return r->size;
}

const char *remote_url(const struct remote *r)
{
	return r->ep.url;
}

const char *remote_version(const struct remote *r)
{
	return r->version;
}

int64_t remote_mtime(const struct remote *r)
{
	return r->mtime;
}

const char *remote_problem(struct remote *r)
{
	const char *p;

	pthread_mutex_lock(&r->lock);
	p = r->problem;
	pthread_mutex_unlock(&r->lock);
	return p;
}

void remote_last_error(struct remote *r, char *buf, size_t bufsz)
{
	pthread_mutex_lock(&r->lock);
	snprintf(buf, bufsz, "%s", r->last_error);
	pthread_mutex_unlock(&r->lock);
}

void remote_stats(struct remote *r, struct remote_stats *out)
{
	pthread_mutex_lock(&r->lock);
	*out = r->stats;
	pthread_mutex_unlock(&r->lock);
}

static void set_problem(struct remote *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The object changed or is gone: every read from now on fails. */
static void set_problem(struct remote *r, const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		p = NULL;
	va_end(ap);
	pthread_mutex_lock(&r->lock);
	if (!r->problem)
		r->problem = p ? p : strdup("the object changed");
	else
		free(p);
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
}

static void set_error(struct remote *r, const char *msg)
{
	pthread_mutex_lock(&r->lock);
	snprintf(r->last_error, sizeof(r->last_error), "%s", msg);
	pthread_mutex_unlock(&r->lock);
}

/* Whether a 2xx answer's ETag (Last-Modified) is the pinned one; when not, the problem is set. */
static bool same_version(struct remote *r, const struct xfer *x)
{
	if (r->etag && x->etag[0] && strcmp(x->etag, r->etag)) {
		set_problem(r, "%s changed since it was opened (ETag %s, now %s): its reads fail",
			    r->ep.url, r->etag, x->etag);
		return false;
	}
	if (!r->etag && r->last_modified && x->last_modified[0] &&
	    strcmp(x->last_modified, r->last_modified)) {
		set_problem(r, "%s changed since it was opened (Last-Modified %s, now %s): its reads "
			    "fail", r->ep.url, r->last_modified, x->last_modified);
		return false;
	}
	return true;
}

static void pin(struct remote *r, struct xfer *x)
{
	x->if_match = r->etag && !r->weak ? r->etag : NULL;
	x->if_unmodified = !x->if_match ? r->last_modified : NULL;
	x->abort = &r->stopping;
}

/* Bytes [start, start + len) of the pinned version into buf, by one ranged GET (and its
 * retries).  0, or -1 with r->last_error set (and r->problem when the object changed). */
static int fetch_range(struct remote *r, unsigned char *buf, uint64_t start, size_t len,
		       double deadline)
{
	struct xfer x = { .target = r->ep.target, .ranged = true, .start = start, .len = len,
			  .buf = buf, .cap = len };
	struct counters n = { &r->lock, &r->stats.requests, &r->stats.bytes };
	char err[512];
	int rc = -1;

	pin(r, &x);
	transfer(&r->ep, r->share, &x, deadline, true, &n);
	if (x.cc == CURLE_OK && (x.status == 206 || x.status == 200) && same_version(r, &x)) {
		if (x.status == 206 && range_is(x.content_range, start, len, r->size) &&
		    x.got == len) {
			rc = 0;
		} else if (x.status == 206 && !range_is(x.content_range, start, len, r->size)) {
			uint64_t a, b, t;

			if (sscanf(x.content_range, "bytes %" SCNu64 "-%" SCNu64 "/%" SCNu64, &a, &b,
				   &t) == 3 && t != r->size)
				set_problem(r, "%s changed since it was opened (its size was %" PRIu64
					    ", now %" PRIu64 "): its reads fail", r->ep.url, r->size, t);
			snprintf(err, sizeof(err), "%s: asked for bytes %" PRIu64 "-%" PRIu64
				 ", got Content-Range \"%s\"", r->ep.url, start, start + len - 1,
				 x.content_range);
			set_error(r, err);
		} else if (x.status == 200 && start == 0 && len == r->size && x.got == len) {
			rc = 0;	/* the whole object, asked for as a range of all of it */
		} else if (x.status == 200) {
			snprintf(err, sizeof(err), "%s: the server answers ranges with the whole "
				 "object (no Range support)", r->ep.url);
			set_error(r, err);
		} else {
			snprintf(err, sizeof(err), "%s: %zu of %zu bytes at %" PRIu64, r->ep.url,
				 x.got, len, start);
			set_error(r, err);
		}
	} else if (x.cc == CURLE_OK && (x.status == 412 || x.status == 416)) {
		set_problem(r, "%s changed since it was opened (%ld %s to a request for version "
			    "%s): its reads fail", r->ep.url, x.status, reason_of(&x),
			    r->version ? r->version : "?");
	} else if (x.cc == CURLE_OK && (x.status == 404 || x.status == 410)) {
		set_problem(r, "%s is gone since it was opened (%ld %s): its reads fail", r->ep.url,
			    x.status, reason_of(&x));
	} else if (x.cc == CURLE_OK && x.status >= 200 && x.status < 300) {
		; /* same_version said why */
	} else if (x.cc == CURLE_WRITE_ERROR && x.overflow) {
		if (x.status == 200)
			snprintf(err, sizeof(err), "%s: the server answers ranges with the whole "
				 "object (no Range support)", r->ep.url);
		else
			snprintf(err, sizeof(err), "%s: more than the %zu bytes asked for at %" PRIu64,
				 r->ep.url, len, start);
		set_error(r, err);
	} else {
		describe(&r->ep, &x, err, sizeof(err));
		set_error(r, err);
	}
	if (rc && remote_problem(r))
		set_error(r, remote_problem(r));
	free(x.body);
	return rc;
}

/* --- the disk cache ----------------------------------------------------------------------------
 * CACHE_DIR/<hash>.data holds the object's bytes at their offsets (sparse), CACHE_DIR/<hash>.map
 * a header naming URL, version, size and block size, then one byte a block, 1 when present.  A
 * block's bytes are written and fdatasync'd before its byte is set, so a crash leaves at worst a
 * block present but not marked.  hash is of URL, version, size and block size: another version
 * has other files, and the header is checked against a collision. */

static uint64_t fnv1a(const char *s, uint64_t h)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

static int disk_open(struct remote *r, char *err, size_t errsz)
{
	char *id = NULL, *base = NULL, *map = NULL, *data = NULL, *tmp = NULL, header[MAP_HEADER];
	uint64_t h1, h2;
	int fd = -1, rc = -1;
	ssize_t got;

	if (asprintf(&id, "corefs remote cache 1\nurl %s\nversion %s\nsize %" PRIu64 "\nblock %zu\n",
		     r->ep.url, r->version, r->size, r->o.block_size) < 0)
	{
		fail(err, errsz, "%s: out of memory", r->ep.url);
		return -1;
	}
	if (strlen(id) >= MAP_HEADER) {
		free(id);
		return 0;	/* a URL this long is not cached on disk */
	}
	memset(header, 0, sizeof(header));
	memcpy(header, id, strlen(id));
	h1 = fnv1a(id, 0xcbf29ce484222325ull);
	h2 = fnv1a(id, h1 ^ 0x9e3779b97f4a7c15ull);
	if (mkdir(r->o.cache_dir, 0700) && errno != EEXIST) {
		fail(err, errsz, "%s: cache directory %s: %s", r->ep.url, r->o.cache_dir,
		     strerror(errno));
		goto out;
	}
	if (asprintf(&base, "%s/%016" PRIx64 "%016" PRIx64, r->o.cache_dir, h1, h2) < 0 ||
	    asprintf(&map, "%s.map", base) < 0 || asprintf(&data, "%s.data", base) < 0 ||
	    asprintf(&tmp, "%s.map.%d.%lx", base, (int)getpid(), (unsigned long)pthread_self()) < 0) {
		fail(err, errsz, "%s: out of memory", r->ep.url);
		goto out;
	}
	r->data_fd = open(data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (r->data_fd < 0) {
		fail(err, errsz, "%s: cache file %s: %s", r->ep.url, data, strerror(errno));
		goto out;
	}
	/* The index appears whole or not at all: made under another name, linked into place. */
	r->map_fd = open(map, O_RDWR | O_CLOEXEC);
	if (r->map_fd < 0 && errno == ENOENT) {
		fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || pwrite(fd, header, sizeof(header), 0) != (ssize_t)sizeof(header) ||
		    ftruncate(fd, (off_t)(MAP_HEADER + r->nblocks)) || fdatasync(fd) ||
		    (link(tmp, map) && errno != EEXIST)) {
			fail(err, errsz, "%s: cache file %s: %s", r->ep.url, map, strerror(errno));
			goto out;
		}
		r->map_fd = open(map, O_RDWR | O_CLOEXEC);
	}
	if (r->map_fd < 0) {
		fail(err, errsz, "%s: cache file %s: %s", r->ep.url, map, strerror(errno));
		goto out;
	}
	char seen[MAP_HEADER];

	got = pread(r->map_fd, seen, sizeof(seen), 0);
	if (got != (ssize_t)sizeof(seen) || memcmp(seen, header, sizeof(seen))) {
		/* Another object under the same hash: not cached on disk. */
		close(r->map_fd);
		close(r->data_fd);
		r->map_fd = r->data_fd = -1;
	}
	rc = 0;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	if (rc) {
		if (r->data_fd >= 0)
			close(r->data_fd);
		if (r->map_fd >= 0)
			close(r->map_fd);
		r->data_fd = r->map_fd = -1;
	}
	free(id);
	free(base);
	free(map);
	free(data);
	free(tmp);
	return rc;
}

static bool disk_read(struct remote *r, struct block *b)
{
	char present = 0;
	size_t done = 0;

	if (r->map_fd < 0 || pread(r->map_fd, &present, 1, (off_t)(MAP_HEADER + b->index)) != 1 ||
	    present != 1)
		return false;
	while (done < b->len) {
		ssize_t n = pread(r->data_fd, b->data + done, b->len - done,
				  (off_t)(b->index * r->o.block_size + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

static void disk_write(struct remote *r, const struct block *b)
{
	const char one = 1;
	size_t done = 0;

	if (r->map_fd < 0)
		return;
	while (done < b->len) {
		ssize_t n = pwrite(r->data_fd, b->data + done, b->len - done,
				   (off_t)(b->index * r->o.block_size + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		done += (size_t)n;
	}
	if (fdatasync(r->data_fd) == 0)
		(void)!pwrite(r->map_fd, &one, 1, (off_t)(MAP_HEADER + b->index));
}

/* --- blocks in memory ------------------------------------------------------------------------- */

static void lru_unlink(struct block *b)
{
	if (b->prev) {
		b->prev->next = b->next;
		b->next->prev = b->prev;
	}
	b->prev = b->next = NULL;
}

static void lru_front(struct remote *r, struct block *b)
{
	lru_unlink(b);
	b->next = r->lru.next;
	b->prev = &r->lru;
	r->lru.next->prev = b;
	r->lru.next = b;
}

static void block_free(struct block *b)
{
	free(b->data);
	free(b);
}

/* Drop least recently used blocks no one is reading until memory_limit holds (r->lock held). */
static void evict(struct remote *r)
{
	for (struct block *b = r->lru.prev, *prev; b != &r->lru && r->in_memory > r->o.memory_limit;
	     b = prev) {
		prev = b->prev;
		if (b->refs)
			continue;
		lru_unlink(b);
		r->slots[b->index] = NULL;
		r->in_memory -= b->len;
		block_free(b);
	}
}

/* Drop one reference (r->lock held); a block no longer listed goes with its last one. */
static void unref(struct remote *r, struct block *b)
{
	if (--b->refs == 0 && !b->listed)
		block_free(b);
	else if (b->refs == 0)
		evict(r);
}

/* A new LOADING block at index, listed, with one reference (r->lock held). */
static struct block *block_new(struct remote *r, uint64_t index)
{
	struct block *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->index = index;
	b->len = (size_t)MIN((uint64_t)r->o.block_size, r->size - index * r->o.block_size);
	b->data = malloc(b->len);
	if (!b->data) {
		free(b);
		return NULL;
	}
	b->state = B_LOADING;
	b->refs = 1;
	b->listed = true;
	r->slots[index] = b;
	r->loading++;
	return b;
}

/* Fill a LOADING block the caller holds a reference to (r->lock not held): from disk, else from
 * the server, and then into the disk cache. */
static void load(struct remote *r, struct block *b, double deadline)
{
	bool ok, from_disk = disk_read(r, b);

	ok = from_disk || fetch_range(r, b->data, b->index * r->o.block_size, b->len, deadline) == 0;
	pthread_mutex_lock(&r->lock);
	r->loading--;
	if (from_disk)
		r->stats.disk_hits++;
	if (ok && !r->problem) {
		b->state = B_READY;
		r->in_memory += b->len;
		lru_front(r, b);
	} else {
		b->state = B_FAILED;
		b->listed = false;
		r->slots[b->index] = NULL;
	}
	pthread_cond_broadcast(&r->changed);
	evict(r);
	pthread_mutex_unlock(&r->lock);
	/* Its bytes no longer change, and the caller's reference keeps it. */
	if (ok && !from_disk)
		disk_write(r, b);
}

static void deadline_ts(double deadline, struct timespec *ts)
{
	struct timespec now;
	double left = deadline - now_s();

	clock_gettime(CLOCK_MONOTONIC, &now);
	left = MAX(left, 0.0);
	ts->tv_sec = now.tv_sec + (time_t)left;
	ts->tv_nsec = now.tv_nsec + (long)((left - (double)(time_t)left) * 1e9);
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Block index, READY, with a reference for the caller; NULL (errno EIO) when it could not be had
 * by deadline.  Readers of a block being loaded wait for that load. */
static struct block *get_block(struct remote *r, uint64_t index, double deadline)
{
	struct timespec ts;
	struct block *b;

	deadline_ts(deadline, &ts);
	pthread_mutex_lock(&r->lock);
	if (r->problem) {
		pthread_mutex_unlock(&r->lock);
		errno = EIO;
		return NULL;
	}
	b = r->slots[index];
	if (b && b->state == B_READY) {
		r->stats.hits++;
		b->refs++;
		lru_front(r, b);
		pthread_mutex_unlock(&r->lock);
		return b;
	}
	if (b) {
		b->refs++;
		while (b->state == B_LOADING)
			if (pthread_cond_timedwait(&r->changed, &r->lock, &ts) == ETIMEDOUT)
				break;
		if (b->state == B_READY) {
			r->stats.hits++;
			pthread_mutex_unlock(&r->lock);
			return b;
		}
		if (b->state == B_LOADING)
			snprintf(r->last_error, sizeof(r->last_error), "%s: block %" PRIu64 " not "
				 "fetched in %u s", r->ep.url, index, r->o.timeout_s);
		unref(r, b);
		pthread_mutex_unlock(&r->lock);
		errno = EIO;
		return NULL;
	}
	r->stats.misses++;
	b = block_new(r, index);
	pthread_mutex_unlock(&r->lock);
	if (!b) {
		errno = EIO;
		return NULL;
	}
	load(r, b, deadline);
	pthread_mutex_lock(&r->lock);
	if (b->state == B_READY) {
		pthread_mutex_unlock(&r->lock);
		return b;
	}
	unref(r, b);
	pthread_mutex_unlock(&r->lock);
	errno = EIO;
	return NULL;
}

static void put_block(struct remote *r, struct block *b)
{
	pthread_mutex_lock(&r->lock);
	unref(r, b);
	pthread_mutex_unlock(&r->lock);
}

/* --- readahead -------------------------------------------------------------------------------- */

static void *readahead_worker(void *p)
{
	struct worker *w = p;
	struct remote *r = w->r;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct block *b;

		while (!r->stopping && !r->parking && !r->queued)
			pthread_cond_wait(&r->changed, &r->lock);
		if (r->stopping || r->parking)
			break;
		b = r->queue[0];
		memmove(r->queue, r->queue + 1, --r->queued * sizeof(r->queue[0]));
		w->current = b;
		pthread_mutex_unlock(&r->lock);
		load(r, b, now_s() + r->o.timeout_s);
		pthread_mutex_lock(&r->lock);
		w->current = NULL;
		unref(r, b);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* One more worker, up to WORKERS (r->lock held). */
static void start_worker(struct remote *r)
{
	struct worker *w = &r->workers[r->nworkers];

	if (r->nworkers == WORKERS)
		return;
	w->r = r;
	w->current = NULL;
	if (pthread_create(&w->thread, NULL, readahead_worker, w) == 0)
		r->nworkers++;
}

/* After a fork (see below) the workers are gone, in the child and in the parent: new ones take
 * the queue (r->lock held). */
static void after_fork(struct remote *r)
{
	if (r->queued && !r->nworkers)
		start_worker(r);
	r->pid = getpid();
}

/* --- fork ----------------------------------------------------------------------------------- */

/* A FUSE daemon forks (fuse_daemonize) after its remote objects were opened and their headers
 * read, with readahead under way.  A child has only the forking thread: a worker's lock, a
 * condition variable with waiters or a block being loaded would stay so in it forever.  So every
 * fork (pthread_atfork) first waits for the workers of every open remote to end (each finishes
 * the block it is loading: bounded by timeout_s), and holds the list; the child and the parent
 * start new workers when readahead next wants them, and leave the queue as it was. */
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct remote *all_open;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void park_workers(struct remote *r)
{
	pthread_t threads[WORKERS];
	unsigned n;

	pthread_mutex_lock(&r->lock);
	r->parking = true;
	pthread_cond_broadcast(&r->changed);
	n = r->nworkers;
	for (unsigned i = 0; i < n; i++)
		threads[i] = r->workers[i].thread;
	pthread_mutex_unlock(&r->lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_lock(&r->lock);
	r->nworkers = 0;
	r->parking = false;
	pthread_mutex_unlock(&r->lock);
}

static void before_fork(void)
{
	pthread_mutex_lock(&all_lock);
	for (struct remote *r = all_open; r; r = r->next_open)
		park_workers(r);
}

static void after_fork_either(void)
{
	pthread_mutex_unlock(&all_lock);
}

static void register_atfork(void)
{
	pthread_atfork(before_fork, after_fork_either, after_fork_either);
}

static void list_open(struct remote *r)
{
	pthread_once(&atfork_once, register_atfork);
	pthread_mutex_lock(&all_lock);
	r->next_open = all_open;
	all_open = r;
	pthread_mutex_unlock(&all_lock);
}

static void unlist_open(struct remote *r)
{
	pthread_mutex_lock(&all_lock);
	for (struct remote **p = &all_open; *p; p = &(*p)->next_open)
		if (*p == r) {
			*p = r->next_open;
			break;
		}
	pthread_mutex_unlock(&all_lock);
}

/* Queue block i for the workers unless it is there or being fetched, or memory_limit has no
 * room for it besides what is there and being fetched (r->lock held).  False when full. */
static bool queue_block(struct remote *r, uint64_t i)
{
	struct block *b;

	if (r->slots[i])
		return true;
	if (r->queued == sizeof(r->queue) / sizeof(r->queue[0]) ||
	    r->in_memory + (r->loading + 1) * r->o.block_size > r->o.memory_limit)
		return false;
	b = block_new(r, i);
	if (!b)
		return false;
	r->queue[r->queued++] = b;
	start_worker(r);
	return true;
}

/* Before a read of [off, end), blocks first to last: the workers fetch its blocks after the
 * first while the reader fetches the first; and when it starts where the previous read ended (as
 * the kernel's readahead decides), they fetch the blocks after it too. */
static void read_ahead(struct remote *r, uint64_t off, uint64_t end, uint64_t first,
		       uint64_t last)
{
	size_t ahead = MIN(READAHEAD, r->o.memory_limit / r->o.block_size / 4);
	bool sequential, room = true;

	pthread_mutex_lock(&r->lock);
	after_fork(r);
	/* Sequential: it starts where the previous read ended and goes on into another block (small
	 * reads within one block, as of headers, call for no readahead). */
	sequential = r->next_off && off == r->next_off &&
		     last != (r->next_off - 1) / r->o.block_size;
	r->next_off = end;
	if (!r->problem && !r->stopping) {
		for (uint64_t i = first + 1; room && i <= last; i++)
			room = queue_block(r, i);
		for (uint64_t i = last + 1; sequential && room && i <= last + ahead &&
		     i < r->nblocks; i++)
			room = queue_block(r, i);
	}
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
}

/* --- the interface ---------------------------------------------------------------------------- */

ssize_t remote_pread(struct remote *r, void *buf, size_t n, uint64_t off)
{
	double deadline = now_s() + r->o.timeout_s;
	uint64_t first, last, end;
	size_t done = 0;

	if (off > r->size) {
		errno = EINVAL;
		return -1;
	}
	end = off + MIN((uint64_t)n, r->size - off);
	if (end == off)
		return 0;
	first = off / r->o.block_size;
	last = (end - 1) / r->o.block_size;
	read_ahead(r, off, end, first, last);
	for (uint64_t i = first; i <= last; i++) {
		struct block *b = get_block(r, i, deadline);
		uint64_t bstart = i * r->o.block_size, from = MAX(off, bstart);
		size_t take;

		if (!b) {
			errno = EIO;
			return -1;
		}
		take = (size_t)(MIN(end, bstart + b->len) - from);
		memcpy((char *)buf + done, b->data + (from - bstart), take);
		done += take;
		put_block(r, b);
	}
	return (ssize_t)done;
}

/* The first exchange: HEAD, or GET of byte 0 where HEAD tells too little; r's size and version. */
static bool pin_version(struct remote *r, char *err, size_t errsz)
{
	struct xfer x = { .target = r->ep.target, .head = true };
	struct counters n = { &r->lock, &r->stats.requests, &r->stats.bytes };
	double deadline = now_s() + r->o.timeout_s;
	unsigned char byte;
	uint64_t a, b, t;
	bool ok = false;

	transfer(&r->ep, r->share, &x, deadline, false, &n);
	if (x.cc == CURLE_OK && x.status == 200 && x.content_length >= 0) {
		r->size = (uint64_t)x.content_length;
		ok = true;
	} else if (x.cc == CURLE_OK && (x.status == 200 || x.status == 405 || x.status == 501 ||
					(r->ep.s3 && x.status >= 400 && x.status < 500))) {
		/* HEAD refused or without a length, or an S3 error whose code only a GET's body
		 * tells: the first byte. */
		free(x.body);
		x = (struct xfer){ .target = r->ep.target, .ranged = true, .start = 0, .len = 1,
				   .buf = &byte, .cap = 1 };
		transfer(&r->ep, r->share, &x, deadline, false, &n);
		if (x.cc == CURLE_OK && x.status == 206 &&
		    sscanf(x.content_range, "bytes %" SCNu64 "-%" SCNu64 "/%" SCNu64, &a, &b, &t) == 3) {
			r->size = t;
			ok = true;
		} else if (x.cc == CURLE_OK && x.status == 416 &&
			   sscanf(x.content_range, "bytes */%" SCNu64, &t) == 1 && t == 0) {
			r->size = 0;
			ok = true;
		} else if ((x.cc == CURLE_OK || (x.cc == CURLE_WRITE_ERROR && x.overflow)) &&
			   x.status == 200) {
			fail(err, errsz, "%s: the server does not answer Range requests", r->ep.url);
			free(x.body);
			return false;
		}
	}
	if (!ok) {
		describe(&r->ep, &x, err, errsz);
		free(x.body);
		return false;
	}
	if (x.etag[0] && !(r->etag = strdup(x.etag)))
		goto nomem;
	r->weak = x.etag[0] && !strncmp(x.etag, "W/", 2);
	if (x.last_modified[0]) {
		if (!(r->last_modified = strdup(x.last_modified)))
			goto nomem;
		time_t tm = curl_getdate(x.last_modified, NULL);

		r->mtime = tm > 0 ? (int64_t)tm : 0;
	}
	r->version = r->etag ? r->etag : r->last_modified;
	free(x.body);
	return true;
nomem:
	free(x.body);
	fail(err, errsz, "%s: out of memory", r->ep.url);
	return false;
}

static void options(struct remote_options *o, const struct remote_options *given)
{
	*o = given ? *given : (struct remote_options){ 0 };
	if (!o->block_size)
		o->block_size = DEFAULT_BLOCK;
	if (!o->memory_limit)
		o->memory_limit = DEFAULT_MEMORY;
	if (!o->timeout_s)
		o->timeout_s = DEFAULT_TIMEOUT;
}

struct remote *remote_open(const char *url, const struct remote_options *o, char *err,
			   size_t errsz)
{
	struct remote *r;
	pthread_condattr_t ca;

	pthread_once(&curl_once, init_curl);
	if (curl_init_code) {
		fail(err, errsz, "%s: libcurl: %s", url, curl_easy_strerror(curl_init_code));
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		fail(err, errsz, "%s: out of memory", url);
		return NULL;
	}
	r->data_fd = r->map_fd = -1;
	r->pid = getpid();
	options(&r->o, o);
	r->lru.next = r->lru.prev = &r->lru;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->changed, &ca);
	pthread_condattr_destroy(&ca);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&r->share_locks[i], NULL);
	if (!endpoint_parse(&r->ep, url, false, err, errsz))
		goto bad;
	if (r->o.cache_dir && !(r->o.cache_dir = strdup(r->o.cache_dir))) {
		fail(err, errsz, "%s: out of memory", url);
		goto bad;
	}
	r->share = curl_share_init();
	if (!r->share) {
		fail(err, errsz, "%s: out of memory", url);
		goto bad;
	}
	curl_share_setopt(r->share, CURLSHOPT_LOCKFUNC, lock_share);
	curl_share_setopt(r->share, CURLSHOPT_UNLOCKFUNC, unlock_share);
	curl_share_setopt(r->share, CURLSHOPT_USERDATA, r);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	if (!pin_version(r, err, errsz))
		goto bad;
	r->nblocks = (r->size + r->o.block_size - 1) / r->o.block_size;
	if (r->nblocks > MAX_BLOCKS) {
		fail(err, errsz, "%s: %" PRIu64 " bytes are too many blocks of %zu bytes", url,
		     r->size, r->o.block_size);
		goto bad;
	}
	r->slots = calloc(MAX(r->nblocks, 1), sizeof(*r->slots));
	if (!r->slots) {
		fail(err, errsz, "%s: out of memory", url);
		goto bad;
	}
	if (r->o.cache_dir && r->version && disk_open(r, err, errsz))
		goto bad;
	list_open(r);
	return r;
bad:
	remote_close(r);
	return NULL;
}

void remote_close(struct remote *r)
{
	if (!r)
		return;
	unlist_open(r);
	pthread_mutex_lock(&r->lock);
	after_fork(r);
	__atomic_store_n(&r->stopping, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
	for (unsigned i = 0; i < r->nworkers; i++)
		pthread_join(r->workers[i].thread, NULL);
	for (size_t i = 0; i < r->queued; i++)
		block_free(r->queue[i]);
	for (uint64_t i = 0; r->slots && i < r->nblocks; i++)
		if (r->slots[i] && r->slots[i]->state != B_LOADING)
			block_free(r->slots[i]);
	free(r->slots);
	if (r->share)
		curl_share_cleanup(r->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&r->share_locks[i]);
	pthread_cond_destroy(&r->changed);
	pthread_mutex_destroy(&r->lock);
	if (r->data_fd >= 0)
		close(r->data_fd);
	if (r->map_fd >= 0)
		close(r->map_fd);
	free((char *)r->o.cache_dir);
	free(r->etag);
	free(r->last_modified);
	free(r->problem);
	endpoint_free(&r->ep);
	free(r);
}

int remote_download(struct remote *r, int fd, char *err, size_t errsz)
{
	unsigned char *buf = malloc(DOWNLOAD_CHUNK);
	double start = now_s(), last = start;
	uint64_t off = 0;

	if (!buf) {
		fail(err, errsz, "%s: out of memory", r->ep.url);
		return -1;
	}
	while (off < r->size) {
		size_t len = (size_t)MIN((uint64_t)DOWNLOAD_CHUNK, r->size - off), done = 0;

		if (fetch_range(r, buf, off, len, now_s() + r->o.timeout_s)) {
			remote_last_error(r, err, errsz);
			free(buf);
			return -1;
		}
		while (done < len) {
			ssize_t w = write(fd, buf + done, len - done);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				fail(err, errsz, "%s: writing the download: %s", r->ep.url,
				     strerror(w < 0 ? errno : ENOSPC));
				free(buf);
				return -1;
			}
			done += (size_t)w;
		}
		off += len;
		if (r->o.progress && (now_s() - last >= 1.0 || off == r->size)) {
			last = now_s();
			fprintf(stderr, "corefs: %s: %" PRIu64 " of %" PRIu64 " bytes (%.1f s)\n",
				r->ep.url, off, r->size, last - start);
		}
	}
	free(buf);
	return 0;
}

/* --- ListObjectsV2 ---------------------------------------------------------------------------- */

static int64_t iso8601(const char *s)
{
	struct tm tm = { 0 };
	int n = 0;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

void remote_entries_free(struct remote_entry *e, size_t n)
{
	for (size_t i = 0; e && i < n; i++) {
		free(e[i].url);
		free(e[i].etag);
	}
	free(e);
}

/* The <Contents> of one page into *out; the continuation token (malloc'd) when truncated. */
static int parse_page(const struct endpoint *e, const char *body, size_t len,
		      struct remote_entry **out, size_t *n, size_t *cap, char **token)
{
	const char *p = body, *end = body + len, *next;
	char *truncated = xml_text(body, len, "IsTruncated", NULL);

	*token = NULL;
	if (truncated && !strcmp(truncated, "true"))
		*token = xml_text(body, len, "NextContinuationToken", NULL);
	free(truncated);
	for (;;) {
		const char *a = memmem(p, (size_t)(end - p), "<Contents>", 10), *b;
		char *key, *size, *etag, *mod, *s;

		if (!a)
			break;
		b = memmem(a, (size_t)(end - a), "</Contents>", 11);
		if (!b)
			return -1;
		next = b + 11;
		key = xml_text(a, (size_t)(b - a), "Key", NULL);
		size = xml_text(a, (size_t)(b - a), "Size", NULL);
		etag = xml_text(a, (size_t)(b - a), "ETag", NULL);
		mod = xml_text(a, (size_t)(b - a), "LastModified", NULL);
		if (*n == *cap) {
			struct remote_entry *grown = realloc(*out, (*cap * 2 + 16) * sizeof(**out));

			if (grown) {
				*out = grown;
				*cap = *cap * 2 + 16;
			}
		}
		if (!key || !size || *n == *cap || asprintf(&s, "s3://%s/%s", e->bucket, key) < 0) {
			free(key), free(size), free(etag), free(mod);
			return -1;
		}
		(*out)[(*n)++] = (struct remote_entry){ .url = s, .size = strtoull(size, NULL, 10),
							.etag = etag, .mtime = iso8601(mod) };
		free(key), free(size), free(mod);
		p = next;
	}
	return 0;
}

int remote_list(const char *url, const struct remote_options *o, struct remote_entry **out,
		size_t *n, char *err, size_t errsz)
{
	struct remote_options opt;
	struct endpoint e;
	char *token = NULL, *query = NULL, *prefix = NULL, *tok = NULL, max[32] = "";
	size_t cap = 0;
	int rc = -1;

	*out = NULL;
	*n = 0;
	pthread_once(&curl_once, init_curl);
	options(&opt, o);
	if (!endpoint_parse(&e, url, true, err, errsz)) {
		endpoint_free(&e);
		return -1;
	}
	if (!e.s3) {
		fail(err, errsz, "%s: only s3:// prefixes can be listed", url);
		endpoint_free(&e);
		return -1;
	}
	prefix = uri_encode(e.key, false);
	for (unsigned page = 0; prefix && page < LIST_PAGES_MAX; page++) {
		struct xfer x = { .body_max = LIST_BODY_MAX };
		char *next = NULL;

		/* Parameters sorted by name: curl 7.88 signs the query as it is written. */
		free(query);
		query = NULL;
		if (opt.list_max_keys)
			snprintf(max, sizeof(max), "&max-keys=%u", opt.list_max_keys);
		if (asprintf(&query, "%s%s%slist-type=2%s&prefix=%s",
			     token ? "continuation-token=" : "", token ? tok : "", token ? "&" : "",
			     max, prefix) < 0)
			break;
		free(e.target);
		e.target = s3_target(&e, NULL, query);
		if (!e.target)
			break;
		x.target = e.target;
		transfer(&e, NULL, &x, now_s() + opt.timeout_s, false, NULL);
		if (x.cc != CURLE_OK || x.status != 200 || !x.body) {
			if (x.cc == CURLE_OK && x.status == 200)
				fail(err, errsz, "%s: an empty ListObjectsV2 answer", url);
			else if (x.overflow)
				fail(err, errsz, "%s: a ListObjectsV2 page of more than %u bytes", url,
				     LIST_BODY_MAX);
			else
				describe(&e, &x, err, errsz);
			free(x.body);
			goto out;
		}
		if (parse_page(&e, x.body, x.body_len, out, n, &cap, &next)) {
			fail(err, errsz, "%s: a ListObjectsV2 answer that does not parse", url);
			free(x.body);
			goto out;
		}
		free(x.body);
		if (!next) {
			rc = 0;
			goto out;
		}
		if (token && !strcmp(token, next)) {
			free(next);
			fail(err, errsz, "%s: ListObjectsV2 gave the same continuation token twice",
			     url);
			goto out;
		}
		free(token);
		free(tok);
		token = next;
		tok = uri_encode(token, false);
		if (!tok)
			break;
	}
	fail(err, errsz, "%s: out of memory, or more than %u pages of keys", url, LIST_PAGES_MAX);
out:
	if (rc) {
		remote_entries_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	free(token);
	free(tok);
	free(query);
	free(prefix);
	endpoint_free(&e);
	return rc;
}
