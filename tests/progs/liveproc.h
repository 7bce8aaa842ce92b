/* tests/progs/liveproc.h — what the test programs use to copy their own /proc files before they
 * die: whole-file reads and writes into a static buffer (copying allocates nothing), each
 * failure fatal, and a thread's state letter from its stat.  Include once, after the system
 * headers (fcntl.h, stdio.h, stdlib.h, string.h, unistd.h, sys/types.h). */
#ifndef LIVEPROC_H
#define LIVEPROC_H

static char copybuf[1 << 20];

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	const char *p = data;

	if (fd < 0)
		die(path);
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w <= 0)
			die(path);
		p += w;
		len -= (size_t)w;
	}
	close(fd);
}

static size_t read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	size_t n = 0;
	ssize_t r;

	if (fd < 0)
		die(path);
	while ((r = read(fd, buf + n, size - n)) > 0)
		n += (size_t)r;
	if (r < 0 || n == size)
		die(path);
	close(fd);
	return n;
}

static void copy_proc(const char *src, const char *dst)
{
	write_file(dst, copybuf, read_file(src, copybuf, sizeof(copybuf)));
}

static char thread_state(pid_t tid)
{
	char path[64], buf[1024], *paren;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	n = read_file(path, buf, sizeof(buf) - 1);
	buf[n] = 0;
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' ? paren[2] : '?';
}

#endif
