#define _GNU_SOURCE
#include "strata_util.h"
#include "strata_error.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void strata_oom(void)
{
	static const char msg[] = "strata: error: out of memory\n";
	/* write(2), not stdio: stdio may itself need memory. */
	if (write(2, msg, sizeof msg - 1) < 0) {
	}
	exit(1);
}

void *strata_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		strata_oom();
	return p;
}

void *strata_xcalloc(size_t count, size_t n)
{
	void *p = calloc(count ? count : 1, n ? n : 1);
	if (p == NULL)
		strata_oom();
	return p;
}

void *strata_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		strata_oom();
	return q;
}

char *strata_xstrdup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		strata_oom();
	return p;
}

char *strata_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (p == NULL)
		strata_oom();
	return p;
}

char *strata_xasprintf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		strata_oom();
	return s;
}

void strata_cleanup_freep(void *p)
{
	free(*(void **)p);
}

void strata_cleanup_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

void strata_cleanup_fclosep(FILE **f)
{
	if (*f != NULL)
		fclose(*f);
}

static const volatile int *cancel_flag;

void strata_cancel_watch(const volatile int *flag)
{
	cancel_flag = flag;
}

int strata_cancelled(void)
{
	return cancel_flag != NULL && *cancel_flag != 0;
}

int strata_cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int strata_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

void strata_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int strata_read_file(const char *file, char **buf_ret, size_t *len_ret, strata_error *err)
{
	cleanup_close int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return strata_error_set(err, errno, "cannot open '%s'", file);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return strata_error_set(err, errno, "cannot stat '%s'", file);
	if (S_ISDIR(st.st_mode))
		return strata_error_set(err, 0, "'%s' is a directory, not a file", file);
	size_t cap = 65536, len = 0;
	char *buf = strata_xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			cap *= 2;
			buf = strata_xrealloc(buf, cap + 1);
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return strata_error_set(err, errno, "cannot read '%s'", file);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*buf_ret = buf;
	*len_ret = len;
	return 0;
}

