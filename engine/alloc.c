#define _GNU_SOURCE
#include "alloc.h"

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
