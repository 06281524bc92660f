/* strata_util: allocation that never returns NULL, cleanup attributes for
 * locals (GCC/Clang extension on top of C11), and small helpers.
 *
 * Out of memory is not an error path (as in crun): the x* allocators print
 * one line and exit(1). */
#ifndef STRATA_UTIL_H
#define STRATA_UTIL_H

#include <stddef.h>
#include <stdio.h>

void strata_oom(void) __attribute__((noreturn));
void *strata_xmalloc(size_t n);
void *strata_xcalloc(size_t count, size_t n);
void *strata_xrealloc(void *p, size_t n);
char *strata_xstrdup(const char *s);
char *strata_xstrndup(const char *s, size_t n);
char *strata_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void strata_cleanup_freep(void *p);
void strata_cleanup_closep(int *fd);
void strata_cleanup_fclosep(FILE **f);

#define cleanup_free __attribute__((cleanup(strata_cleanup_freep)))
#define cleanup_close __attribute__((cleanup(strata_cleanup_closep)))
#define cleanup_fclose __attribute__((cleanup(strata_cleanup_fclosep)))

/* Ownership transfer out of a cleanup local: returns *pp and NULLs it. */
static inline void *strata_steal_pointer(void *pp)
{
	void **p = (void **)pp;
	void *v = *p;
	*p = NULL;
	return v;
}
static inline int strata_get_and_reset(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

#define STRATA_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define STRATA_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Cancellation (SIGINT/SIGTERM): main registers the flag its signal
 * handler sets; long loops (walks, copies, producers) poll strata_cancelled
 * and stop with an "interrupted" error. Before registration: never. */
void strata_cancel_watch(const volatile int *flag);
int strata_cancelled(void);

/* qsort/bsearch comparator for an array of char * (byte order). */
int strata_cmp_strp(const void *a, const void *b);

/* Lowercase hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void strata_hex(const unsigned char *in, size_t n, char *out);

#endif
