/* Tar writer edge cases that need the API: a file whose size changes
 * between the lstat and the read (as a concurrent writer makes it) must be a
 * clear error, never a tar with a wrong size; sink failures propagate. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tar.h"

static size_t sunk;
static int count_sink(void *arg, const void *buf, size_t n, strata_error *err)
{
	(void)arg;
	(void)buf;
	(void)err;
	sunk += n;
	return 0;
}

static int failing_sink(void *arg, const void *buf, size_t n, strata_error *err)
{
	(void)arg;
	(void)buf;
	(void)n;
	return strata_error_set(err, 28 /* ENOSPC */, "sink full");
}

static char path[64];

static int setup(void **s)
{
	(void)s;
	strcpy(path, "/tmp/strata-tar-XXXXXX");
	int fd = mkstemp(path);
	char data[100];
	memset(data, 'x', sizeof data);
	assert_int_equal(write(fd, data, sizeof data), 100);
	close(fd);
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	unlink(path);
	return 0;
}

static void add_with_size(off_t size, const char *expect)
{
	strata_tar_options o = {.mtime = 1, .uname = "root", .gname = "root"};
	strata_tar *t = strata_tar_create(&o, count_sink, NULL);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	st.st_size = size; /* what an earlier lstat saw */
	strata_error err = STRATA_ERROR_INIT;
	int fd = open(path, O_RDONLY);
	int r = strata_tar_add_file_fd(t, "f", fd, path, &st, &err);
	close(fd);
	if (expect == NULL) {
		assert_int_equal(r, 0);
		assert_int_equal(strata_tar_finish(t, &err), 0);
		assert_int_equal(sunk % 10240, 0);
	} else {
		assert_true(r < 0);
		if (strstr(err.msg, expect) == NULL || strstr(err.msg, path) == NULL)
			fail_msg("expected '%s' naming the file, got '%s'", expect, err.msg);
	}
	strata_error_clear(&err);
	strata_tar_free(t);
}

static void test_exact_size(void **s)
{
	(void)s;
	add_with_size(100, NULL);
}

static void test_file_grew(void **s)
{
	(void)s;
	add_with_size(60, "grew while it was read");
}

static void test_file_shrank(void **s)
{
	(void)s;
	add_with_size(140, "shrank while it was read");
}

static void test_sparse_shrank(void **s)
{
	(void)s;
	/* st_blocks says sparse: the hole-skipping path checks sizes too */
	strata_tar_options o = {.mtime = 1};
	strata_tar *t = strata_tar_create(&o, count_sink, NULL);
	struct stat st;
	stat(path, &st);
	st.st_size = 1 << 20;
	st.st_blocks = 0;
	strata_error err = STRATA_ERROR_INIT;
	int fd = open(path, O_RDONLY);
	assert_true(strata_tar_add_file_fd(t, "f", fd, path, &st, &err) < 0);
	close(fd);
	assert_non_null(strstr(err.msg, "shrank"));
	strata_error_clear(&err);
	strata_tar_free(t);
}

static void test_sink_failure(void **s)
{
	(void)s;
	strata_tar_options o = {.mtime = 1};
	strata_tar *t = strata_tar_create(&o, failing_sink, NULL);
	strata_error err = STRATA_ERROR_INIT;
	int r = 0;
	/* libarchive buffers 10 KiB: enough entries reach the sink. */
	for (int i = 0; i < 100 && r == 0; i++)
		r = strata_tar_add_dir(t, "some/directory/name", 0755, &err);
	if (r == 0)
		r = strata_tar_finish(t, &err);
	assert_true(r < 0);
	assert_non_null(strstr(err.msg, "sink full"));
	strata_error_clear(&err);
	strata_tar_free(t); /* no leak, no trailer sent to the failed sink */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_size),     cmocka_unit_test(test_file_grew),
		cmocka_unit_test(test_file_shrank),    cmocka_unit_test(test_sparse_shrank),
		cmocka_unit_test(test_sink_failure),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
