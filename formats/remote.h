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
 *                                         in ~/.aws/config, else us-east-1), AWS_ENDPOINT_URL
 *                                         (path-style addressing: ENDPOINT/BUCKET/KEY; without
 *                                         it, https://BUCKET.s3.REGION.amazonaws.com/KEY),
 *                                         ~/.aws/credentials and ~/.aws/config with AWS_PROFILE
 *                                         (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE)
 *
 * The object is pinned when opened (its ETag, else Last-Modified, and its size): every later
 * request carries If-Match (If-Unmodified-Since); an object replaced under the mount fails its
 * reads with EIO, and remote_problem() says so; bytes of two versions are never mixed.
 *
 * The cache: fixed-size blocks (remote_options.block_size), at most memory_limit bytes of them
 * in memory (least recently used dropped first), and, with a cache_dir, every block fetched kept
 * on disk as well (one sparse file per object version, named by a hash of URL and ETag; its
 * blocks are trusted only with the ETag they were fetched under).  Sequential reads are read
 * ahead; several ranges are fetched at once (curl multi).  A 5xx answer or a dropped connection
 * is retried with backoff; a read that cannot be served within timeout_s seconds fails with
 * EIO, never hangs.  Everything here is thread-safe. */
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

/* Open the object at url: one HEAD (or a one-byte ranged GET where HEAD is refused) pins its
 * size and version.  NULL with a one-line reason in err (naming the URL: unreachable, 403 with
 * S3's error code, 404, a bad URL, no credentials for s3://). */
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

/* The whole object into fd from offset 0, sequentially, its version checked (a line of progress
 * on stderr now and then when o->progress).  0, or -1 with err filled. */
int remote_download(struct remote *r, int fd, char *err, size_t errsz);

/* The objects under a prefix (s3://BUCKET/PREFIX, every page of ListObjectsV2): their full URLs
 * (s3://BUCKET/KEY), sizes and ETags.  For http(s):// prefixes: an error (no listing).  0, or -1
 * with err filled. */
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
