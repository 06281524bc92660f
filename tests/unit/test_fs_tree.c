/* The walk's open-first mode (STRATA_FS_OPEN_FILES): a regular file comes
 * with an fd that is that file, stat'ed from the fd, and closed after the
 * visit; every other entry has none; and a file reached without the walk's
 * fd is checked to be the one walked, so a swap between walk and open is an
 * error and never another file's bytes. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "fs_tree.h"

static char root[64];

static void put(const char *rel, const char *data)
{
	char p[128];
	snprintf(p, sizeof p, "%s/%s", root, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

static int setup(void **s)
{
	(void)s;
	strcpy(root, "/tmp/strata-fs-XXXXXX");
	assert_non_null(mkdtemp(root));
	char p[128];
	snprintf(p, sizeof p, "%s/d", root);
	assert_int_equal(mkdir(p, 0755), 0);
	put("a", "first");
	put("d/b", "second");
	put("other", "not walked as b");
	snprintf(p, sizeof p, "%s/l", root);
	assert_int_equal(symlink("a", p), 0);
	snprintf(p, sizeof p, "%s/fifo", root);
	assert_int_equal(mkfifo(p, 0644), 0);
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	assert_int_equal(strata_fs_remove_tree(root), 0);
	return 0;
}

typedef struct seen {
	int files, others;
	int fds[8];
	int nfds;
	bool swap; /* replace d/b by "other" before opening it */
} seen;

static int visit(void *arg, const strata_fs_entry *e, strata_error *err)
{
	seen *v = arg;
	if (!S_ISREG(e->st.st_mode)) {
		assert_int_equal(e->fd, -1);
		v->others++;
		return 0;
	}
	v->files++;
	if (e->fd >= 0) {
		struct stat now;
		assert_int_equal(fstat(e->fd, &now), 0);
		assert_true(now.st_ino == e->st.st_ino && now.st_dev == e->st.st_dev);
		assert_int_equal(now.st_size, e->st.st_size);
		v->fds[v->nfds++] = e->fd;
	}
	if (v->swap && strcmp(e->name, "b") == 0) {
		char from[128], to[128];
		snprintf(from, sizeof from, "%s/other", root);
		snprintf(to, sizeof to, "%s/d/b", root);
		assert_int_equal(unlink(to), 0);
		assert_int_equal(link(from, to), 0);
	}
	cleanup_close int owned = -1;
	int fd = strata_fs_entry_open(e, &owned, err);
	if (fd < 0)
		return fd;
	char buf[64];
	ssize_t n = read(fd, buf, sizeof buf);
	assert_int_equal(n, e->st.st_size); /* the walked file's bytes, never another's */
	return 0;
}

static void test_open_files(void **s)
{
	(void)s;
	seen v = {0};
	strata_fs_walk_ops ops = {.visit = visit, .flags = STRATA_FS_OPEN_FILES | STRATA_FS_ANY_TYPE};
	strata_error err = STRATA_ERROR_INIT;
	assert_int_equal(strata_fs_walk(root, &ops, &v, &err), 0);
	assert_int_equal(v.files, 3);  /* a, d/b, other */
	assert_int_equal(v.others, 4); /* the root, d, fifo, l */
	assert_int_equal(v.nfds, 3);
	for (int i = 0; i < v.nfds; i++) /* closed by the walk once visited */
		assert_int_equal(fcntl(v.fds[i], F_GETFD), -1);
}

static void test_without_fds(void **s)
{
	(void)s;
	seen v = {0};
	strata_fs_walk_ops ops = {.visit = visit, .flags = STRATA_FS_ANY_TYPE};
	strata_error err = STRATA_ERROR_INIT;
	assert_int_equal(strata_fs_walk(root, &ops, &v, &err), 0);
	assert_int_equal(v.files, 3);
	assert_int_equal(v.nfds, 0);
}

static void test_swap_before_open(void **s)
{
	(void)s;
	/* Without the walk's fd, the file opened later is another inode. */
	seen v = {.swap = true};
	strata_fs_walk_ops ops = {.visit = visit, .flags = STRATA_FS_ANY_TYPE};
	strata_error err = STRATA_ERROR_INIT;
	assert_true(strata_fs_walk(root, &ops, &v, &err) < 0);
	assert_non_null(strstr(err.msg, "d/b' was replaced while it was read"));
	strata_error_clear(&err);
	/* With it, the file read is the one walked, whatever the name holds now. */
	char b[128];
	snprintf(b, sizeof b, "%s/d/b", root);
	unlink(b);
	put("d/b", "second");
	seen w = {.swap = true};
	ops.flags |= STRATA_FS_OPEN_FILES;
	assert_int_equal(strata_fs_walk(root, &ops, &w, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_files),
		cmocka_unit_test(test_without_fds),
		cmocka_unit_test(test_swap_before_open),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
