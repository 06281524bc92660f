/* strata_alloc: allocation that never returns NULL, and cleanup attributes
 * for locals (a GCC/Clang extension on top of C11, as crun uses).
 *
 * Out of memory is not an error path (as in crun): the x* allocators print
 * one line and exit(1).
 *
 * Cleanup style: a function that owns a resource for its whole body declares
 * it cleanup_* and hands it on with strata_steal_pointer / strata_get_and_reset;
 * a longer function with several resources and one exit releases them at an
 * `out:` label instead. Modules define cleanup_<type> for their own types
 * (cleanup_json in json_check.h, cleanup_closure in closure.h, ...).
 *
 * Threads: reentrant. */
#ifndef STRATA_ALLOC_H
#define STRATA_ALLOC_H

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

#endif
