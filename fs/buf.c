/* fs/buf.c — the growable buffer behind every rendered file. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static bool grow(struct buf *b, size_t extra)
{
	size_t need, ncap;
	char *p;

	if (b->failed)
		return false;
	if (extra > SIZE_MAX - b->len - 1)
		goto fail;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : 2 * ncap;
	p = realloc(b->p, ncap);
	if (!p)
		goto fail;
	b->p = p;
	b->cap = ncap;
	return true;
fail:
	b->failed = true;
	return false;
}

void buf_put(struct buf *b, const void *data, size_t len)
{
	if (!grow(b, len))
		return;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

void buf_putc(struct buf *b, char ch)
{
	buf_put(b, &ch, 1);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_pad(struct buf *b, size_t line_start, size_t width)
{
	while (!b->failed && b->len - line_start < width)
		buf_putc(b, ' ');
}

char *buf_steal(struct buf *b, size_t *len)
{
	char *p = b->failed ? NULL : b->p;

	if (!p && !b->failed) {
		p = calloc(1, 1);
		b->len = 0;
	}
	if (b->failed)
		free(b->p);
	*len = p ? b->len : 0;
	b->p = NULL;
	b->len = b->cap = 0;
	b->failed = false;
	return p;
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->failed = false;
}
