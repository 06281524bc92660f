/* Closures from every input form give the same model; the store scanner
 * finds references in contents, names and symlink targets (also across its
 * read buffers); discovery and restriction; bad inputs. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "closure_load.h"
#include "fs_tree.h"
#include "store_scan.h"

#define HA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HB "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HC "cccccccccccccccccccccccccccccccc"

static char top[64], sd[96], pa[160], pb[160], pc[160];

static void write_file(const char *path, const char *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
}

/* a -> b (a file naming b, split across the scanner's 1 MiB buffers),
 * b -> c (a symlink target), c -> c (itself only). */
static int setup(void **s)
{
	(void)s;
	strcpy(top, "/tmp/strata-closure-XXXXXX");
	assert_non_null(mkdtemp(top));
	snprintf(sd, sizeof sd, "%s/store", top);
	snprintf(pa, sizeof pa, "%s/%s-a", sd, HA);
	snprintf(pb, sizeof pb, "%s/%s-b", sd, HB);
	snprintf(pc, sizeof pc, "%s/%s-c", sd, HC);
	mkdir(sd, 0755);
	mkdir(pa, 0755);
	mkdir(pb, 0755);
	mkdir(pc, 0755);
	size_t n = (1u << 20) + 100;
	char *big = malloc(n);
	memset(big, 'x', n);
	memcpy(big + (1u << 20) - 10, HB, 32); /* straddles the first read */
	char path[256];
	snprintf(path, sizeof path, "%s/big", pa);
	write_file(path, big, n);
	free(big);
	snprintf(path, sizeof path, "%s/link", pb);
	assert_int_equal(symlink(pc, path), 0);
	snprintf(path, sizeof path, "%s/self", pc);
	write_file(path, pc, strlen(pc));
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	strata_fs_remove_tree(top);
	return 0;
}

static strata_closure *load(const char *text)
{
	char path[160];
	snprintf(path, sizeof path, "%s/input", top);
	write_file(path, text, strlen(text));
	strata_closure *c = NULL;
	strata_error err = STRATA_ERROR_INIT;
	if (strata_closure_load(path, sd, NULL, NULL, &c, &err) < 0)
		fail_msg("load: %s", err.msg);
	return c;
}

/* The model every form must give: a, b, c sorted; refs a->b, b->c; c self. */
static void expect_model(const strata_closure *c, bool sizes_given)
{
	assert_int_equal(c->npaths, 3);
	assert_string_equal(c->paths[0].path, pa);
	assert_string_equal(c->paths[1].path, pb);
	assert_string_equal(c->paths[2].path, pc);
	assert_int_equal(c->paths[0].nrefs, 1);
	assert_int_equal(c->paths[0].refs[0], 1);
	assert_int_equal(c->paths[1].nrefs, 1);
	assert_int_equal(c->paths[1].refs[0], 2);
	assert_int_equal(c->paths[2].nrefs, 0);
	assert_true(c->paths[2].self_ref);
	assert_false(c->paths[0].self_ref);
	if (sizes_given) {
		assert_int_equal(c->paths[0].nar_size, 10);
		assert_int_equal(c->paths[2].nar_size, 30);
	} else {
		assert_true(c->paths[0].nar_size > (1u << 20)); /* measured */
	}
	assert_string_equal(c->paths[1].name, "b");
	assert_memory_equal(c->paths[1].hash, HB, 32);
}

static void test_every_form(void **s)
{
	(void)s;
	char *forms[6];
	/* exportReferencesGraph, in no particular order (sizes: a 10, b 20, c 30) */
	assert_true(asprintf(&forms[0],
			     "[{\"path\":\"%s\",\"narSize\":30,\"references\":[\"%s\"]},"
			     "{\"path\":\"%s\",\"narSize\":10,\"references\":[\"%s\"]},"
			     "{\"path\":\"%s\",\"narSize\":20,\"references\":[\"%s\"]}]",
			     pc, pc, pa, pb, pb, pc) > 0);
	assert_true(asprintf(&forms[1], "{\"closure\":%s}", forms[0]) > 0);
	assert_true(asprintf(&forms[2], "{\"builder\":\"/bin/sh\",\"outputs\":{\"out\":\"/x\"},\"graph\":%s}", forms[0]) > 0);
	/* path-info, Nix >= 2.19, with base-name references */
	assert_true(asprintf(&forms[3],
			     "{\"%s\":{\"narSize\":10,\"references\":[\"%s-b\"]},\"%s\":{\"narSize\":20,\"references\":"
			     "[\"%s-c\"]},\"%s\":{\"narSize\":30,\"references\":[\"%s-c\"]}}",
			     pa, HB, pb, HC, pc, HC) > 0);
	/* path-info, Nix < 2.19 */
	assert_true(asprintf(&forms[4], "[{\"path\":\"%s\",\"narSize\":20,\"references\":[\"%s\"]},"
					"{\"path\":\"%s\",\"narSize\":10,\"references\":[\"%s\"]},"
					"{\"path\":\"%s\",\"narSize\":30,\"references\":[\"%s\"]}]",
			     pb, pc, pa, pb, pc, pc) > 0);
	for (int i = 0; i < 5; i++) {
		strata_closure *c = load(forms[i]);
		expect_model(c, true);
		strata_closure_free(c);
		free(forms[i]);
	}
	/* text: references found by scanning, sizes measured */
	assert_true(asprintf(&forms[5], "\n  %s\n%s  \n\n%s\n", pc, pb, pa) > 0);
	strata_closure *c = load(forms[5]);
	expect_model(c, false);
	strata_closure_free(c);
	free(forms[5]);
}

static void test_discover_and_restrict(void **s)
{
	(void)s;
	strata_closure *c = NULL;
	strata_error err = STRATA_ERROR_INIT;
	char *roots[] = {pa};
	assert_int_equal(strata_store_scan_discover(roots, 1, sd, NULL, &c, &err), 0);
	expect_model(c, false);
	char *rb[] = {pb};
	assert_int_equal(strata_closure_restrict(c, rb, 1, &err), 0);
	assert_int_equal(c->npaths, 2);
	assert_string_equal(c->paths[0].path, pb);
	assert_int_equal(c->paths[0].refs[0], 1);
	char *none[] = {pa};
	assert_true(strata_closure_restrict(c, none, 1, &err) < 0);
	assert_non_null(strstr(err.msg, "is not in the closure"));
	strata_error_clear(&err);
	strata_closure_free(c);
	char *missing[] = {"/nowhere"};
	assert_true(strata_store_scan_discover(missing, 1, sd, NULL, &c, &err) < 0);
	strata_error_clear(&err);
}

static void expect_error(const char *text, const char *needle)
{
	char path[160];
	snprintf(path, sizeof path, "%s/bad", top);
	write_file(path, text, strlen(text));
	strata_closure *c = NULL;
	strata_error err = STRATA_ERROR_INIT;
	assert_true(strata_closure_load(path, sd, NULL, NULL, &c, &err) < 0);
	assert_null(c);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("expected '%s' in '%s'", needle, err.msg);
	strata_error_clear(&err);
}

static void test_bad_inputs(void **s)
{
	(void)s;
	char buf[1024];
	snprintf(buf, sizeof buf, "[{\"path\":\"/elsewhere/%s-a\",\"narSize\":1}]", HA);
	expect_error(buf, "not inside the store directory");
	snprintf(buf, sizeof buf, "[{\"path\":\"%s\",\"narSize\":1,\"references\":[\"%s\"]}]", pa, pb);
	expect_error(buf, "which is not in the closure");
	snprintf(buf, sizeof buf, "[{\"path\":\"%s\",\"narSize\":1},{\"path\":\"%s\",\"narSize\":1}]", pa, pa);
	expect_error(buf, "listed twice");
	snprintf(buf, sizeof buf, "[{\"path\":\"%s\",\"narSize\":-4}]", pa);
	expect_error(buf, "narSize");
	snprintf(buf, sizeof buf, "[{\"path\":\"%s\",\"narSize\":1,\"references\":\"x\"}]", pa);
	expect_error(buf, "must be an array");
	expect_error("[{\"path\":17}]", "must be a string");
	expect_error("[{\"narSize\":1}]", "missing 'path'");
	snprintf(buf, sizeof buf, "[{\"path\":\"%s/short-a\",\"narSize\":1}]", sd);
	expect_error(buf, "not a store path");
	snprintf(buf, sizeof buf, "[{\"path\":\"%s/../../../../etc/passwd\",\"narSize\":1}]", sd);
	expect_error(buf, "not a store path");
	snprintf(buf, sizeof buf, "[{\"path\":\"%s\",\"narSize\":1}", pa);
	expect_error(buf, "invalid JSON");
	expect_error("{\"a\":1,\"a\":2}", "invalid JSON");
	snprintf(buf, sizeof buf, "{\"%s\":null}", pa);
	expect_error(buf, "is not a valid store path (null)");
	snprintf(buf, sizeof buf, "{\"x\":[{\"path\":\"%s\"}],\"y\":[{\"path\":\"%s\"}]}", pa, pb);
	expect_error(buf, "two closures in one file");
	expect_error("[]", "holds no store paths");
	expect_error("  \n ", "empty closure file");
	expect_error("\n\n", "empty closure file");
	snprintf(buf, sizeof buf, "%s\n/etc/passwd\n", pa);
	expect_error(buf, "not inside the store directory");
	snprintf(buf, sizeof buf, "%s\n%s\n", pa, pa);
	expect_error(buf, "listed twice");
	char nul[] = "[ ]\0 x";
	char path[160];
	snprintf(path, sizeof path, "%s/nul", top);
	write_file(path, nul, sizeof nul);
	strata_closure *c = NULL;
	strata_error err = STRATA_ERROR_INIT;
	assert_true(strata_closure_load(path, sd, NULL, NULL, &c, &err) < 0);
	assert_non_null(strstr(err.msg, "NUL bytes"));
	strata_error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_form),
		cmocka_unit_test(test_discover_and_restrict),
		cmocka_unit_test(test_bad_inputs),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
