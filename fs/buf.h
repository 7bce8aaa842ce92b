/* fs/buf.h — a growable byte buffer for renderers.  Allocation failure is sticky: appends after
 * it do nothing and buf_failed() tells the caller once, at the end. */
#ifndef COREFS_BUF_H
#define COREFS_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *p;
	size_t len, cap;
	bool failed;
};

void buf_put(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char ch);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append spaces until the line (since offset line_start) is width bytes long. */
void buf_pad(struct buf *b, size_t line_start, size_t width);
/* Take ownership of the bytes (NUL-terminated; NULL after a failure) and reset b. */
char *buf_steal(struct buf *b, size_t *len);
void buf_free(struct buf *b);
static inline bool buf_failed(const struct buf *b) { return b->failed; }

#endif
