/* formats/remote.h — dumps where they are: HTTP(S) URLs and S3 objects, read by byte ranges with
 * libcurl through a block cache, never downloaded whole unless asked (revival, a compressed
 * dump).
 *
 *   http://HOST/PATH, https://HOST/PATH   Range requests on the URL
 *   s3://BUCKET/KEY                       the S3 API, signed with AWS Signature V4 by libcurl
 *                                         (CURLOPT_AWS_SIGV4, x-amz-content-sha256 sent and
 *                                         signed); credentials, region and endpoint as the AWS
 *                                         tools read them: AWS_ACCESS_KEY_ID,
 *                                         AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION
 *                                         (else AWS_DEFAULT_REGION, else the profile's region
 *                                         in ~/.aws/config, else us-east-1),
 *                                         AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else the
 *                                         profile's endpoint_url (path-style addressing:
 *                                         ENDPOINT/BUCKET/KEY; without one,
 *                                         https://BUCKET.s3.REGION.amazonaws.com/KEY, or
 *                                         path-style on s3.REGION.amazonaws.com for a bucket
 *                                         with a dot),
 *                                         ~/.aws/credentials and ~/.aws/config with AWS_PROFILE
 *                                         (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE).
 *                                         The key is taken as written (not %-decoded), as the
 *                                         AWS tools take it.
 *
 * The object is pinned when opened (its ETag, else Last-Modified, and its size): every later
 * request carries If-Match (If-Unmodified-Since, for a weak ETag or none), and each 206's
 * Content-Range (start, length, total) and ETag are checked before its bytes are used; an object
 * replaced under the mount fails every later read with EIO, and remote_problem() says so; bytes
 * of two versions are never mixed.  An object with neither ETag nor Last-Modified cannot be
 * pinned (nor cached on disk): only its size is checked.
 *
 * The cache: fixed-size blocks (remote_options.block_size), at most memory_limit bytes of them
 * in memory (least recently used dropped first; blocks being copied out are kept), and, with a
 * cache_dir, every block fetched kept on disk as well: HASH.data, a sparse file of the object's
 * bytes at their offsets, and HASH.map, its index (one byte a block, set only after the block's
 * bytes are synced), HASH of URL, version, size and block size, so a block is trusted only with
 * the version it was fetched under.  Readers of a block being fetched wait for that one fetch.
 * A read that starts where the previous one ended has the next blocks fetched in the
 * background.  Each fetch is made by the thread that needs it (a reader, or one of a few
 * readahead threads), so several ranges are in flight at once, over connections kept and shared.
 * A 5xx answer or a dropped connection is retried with backoff; a read that cannot be served
 * within timeout_s seconds, retries included, fails with EIO, never hangs; 4xx answers are not
 * retried.  Everything here is thread-safe; nothing is ever written to the object. */
#ifndef COREFS_REMOTE_H
#define COREFS_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct remote;

struct remote_options {
	const char *cache_dir;	/* NULL: blocks in memory only */
	size_t block_size;	/* 0: 1 MiB */
	size_t memory_limit;	/* 0: 256 MiB of blocks in memory */
	unsigned timeout_s;	/* 0: 30 s for a read to be served, retries included */
	bool progress;		/* a line on stderr for each whole download (remote_download) */
	unsigned list_max_keys;	/* remote_list: keys a page (max-keys); 0: the server's (1000) */
};

/* Whether path names a remote object or prefix (http://, https://, s3://). */
bool remote_claims(const char *path);

/* Open the object at url: one HEAD (or a one-byte ranged GET where HEAD is refused, and for S3's
 * 4xx, whose code only a GET's body tells) pins its size and version.  NULL with a one-line
 * reason in err naming the URL: "s3://b/k: 403 Forbidden (SignatureDoesNotMatch: ...)",
 * "http://h/x: 404 Not Found", "http://127.0.0.1:1/x: Couldn't connect to server", a bad URL,
 * no credentials for s3://, a server without Range support.  A refused connection is not retried
 * here (a wrong address fails at once); 5xx answers and dropped connections are. */
struct remote *remote_open(const char *url, const struct remote_options *o, char *err,
			   size_t errsz);
void remote_close(struct remote *r);

uint64_t remote_size(const struct remote *r);
const char *remote_url(const struct remote *r);
/* The pinned version: the ETag (quoted, as sent), else Last-Modified; NULL when the server gave
 * neither. */
const char *remote_version(const struct remote *r);
/* Last-Modified as seconds since the epoch, 0 when not given. */
int64_t remote_mtime(const struct remote *r);

/* Up to n bytes at off: n unless off + n runs past the end.  -1 with errno EIO when the bytes
 * could not be had in time or the object changed (see remote_problem), EINVAL for a bad off. */
ssize_t remote_pread(struct remote *r, void *buf, size_t n, uint64_t off);

/* One sentence when the object changed under us (or another lasting fault), else NULL. */
const char *remote_problem(struct remote *r);

struct remote_stats {
	uint64_t requests;	/* HTTP requests made, HEAD and retries included */
	uint64_t bytes;		/* body bytes received */
	uint64_t hits, misses;	/* block look-ups in memory (a wait for another's fetch is a hit) */
	uint64_t disk_hits;	/* misses served from cache_dir, without a request */
};
void remote_stats(struct remote *r, struct remote_stats *out);

/* The last read's failure, one line naming the URL ("" when none yet): for logs and tools. */
void remote_last_error(struct remote *r, char *buf, size_t bufsz);

/* The whole object written to fd in order, by ranged GETs of 8 MiB each pinned to the version
 * (not through the block cache), a line of progress on stderr now and then when o->progress.
 * 0, or -1 with err filled. */
int remote_download(struct remote *r, int fd, char *err, size_t errsz);

/* The objects under a prefix (s3://BUCKET/PREFIX, every page of ListObjectsV2, the prefix taken
 * as written): their full URLs (s3://BUCKET/KEY, the key as S3 holds it, unescaped), sizes,
 * ETags (quoted, as a HEAD gives them) and mtimes, in S3's order (by key).  For http(s)://
 * prefixes: an error (no listing).  0, or -1 with err filled. */
struct remote_entry {
	char *url;
	uint64_t size;
	char *etag;
	int64_t mtime;
};
int remote_list(const char *url, const struct remote_options *o, struct remote_entry **out,
		size_t *n, char *err, size_t errsz);
void remote_entries_free(struct remote_entry *e, size_t n);

#endif
