#define _GNU_SOURCE
/* Layering against small hand-computed graphs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "closure.h"
#include "layering.h"

#define SD "/nix/store"
#define H(c) "/nix/store/" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

/* Writes an exportReferencesGraph JSON and loads it. */
static strata_closure *load(const char *json)
{
	char path[] = "/tmp/strata-layering-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
	close(fd);
	strata_closure *c = NULL;
	strata_error err = STRATA_ERROR_INIT;
	int r = strata_closure_load(path, SD, &c, &err);
	if (r < 0)
		fprintf(stderr, "load: %s\n", err.msg);
	assert_int_equal(r, 0);
	unlink(path);
	return c;
}

static long idx(const strata_closure *c, const char *path)
{
	long i = strata_closure_find(c, path);
	assert_true(i >= 0);
	return i;
}

/* nixpkgs' unit test: {foo: {bar: {baz: {tux}}, baz: {tux}}} gives foo 1,
 * bar 2, baz 4, tux 6. */
static const char *const pop_graph =
	"[{\"path\":\"" H("f") "-foo\",\"narSize\":10,\"references\":[\"" H("b") "-bar\",\"" H("z") "-baz\"]},"
	" {\"path\":\"" H("b") "-bar\",\"narSize\":20,\"references\":[\"" H("z") "-baz\",\"" H("b") "-bar\"]},"
	" {\"path\":\"" H("z") "-baz\",\"narSize\":30,\"references\":[\"" H("x") "-tux\"]},"
	" {\"path\":\"" H("x") "-tux\",\"narSize\":40,\"references\":[]}]";

static void test_popularity_scores(void **s)
{
	(void)s;
	strata_closure *c = load(pop_graph);
	uint64_t pop[4];
	strata_error err = STRATA_ERROR_INIT;
	assert_int_equal(strata_layering_popularity(c, pop, &err), 0);
	assert_int_equal(pop[idx(c, H("f") "-foo")], 1);
	assert_int_equal(pop[idx(c, H("b") "-bar")], 2);
	assert_int_equal(pop[idx(c, H("z") "-baz")], 4);
	assert_int_equal(pop[idx(c, H("x") "-tux")], 6);
	/* The self reference of bar is recorded, not an edge. */
	assert_true(c->paths[idx(c, H("b") "-bar")].self_ref);
	strata_closure_free(c);
}

static void test_popularity_layers_and_folding(void **s)
{
	(void)s;
	strata_closure *c = load(pop_graph);
	strata_layering *l = NULL;
	strata_error err = STRATA_ERROR_INIT;
	assert_int_equal(strata_layering_compute(c, STRATA_LAYERING_POPULARITY, 10, &l, &err), 0);
	assert_int_equal(l->nlayers, 4);
	/* most popular first */
	assert_int_equal(l->layers[0].paths[0], idx(c, H("x") "-tux"));
	assert_int_equal(l->layers[1].paths[0], idx(c, H("z") "-baz"));
	assert_int_equal(l->layers[2].paths[0], idx(c, H("b") "-bar"));
	assert_int_equal(l->layers[3].paths[0], idx(c, H("f") "-foo"));
	strata_layering_free(l);
	/* limit 2: one single layer, the rest folded into the last */
	assert_int_equal(strata_layering_compute(c, STRATA_LAYERING_POPULARITY, 2, &l, &err), 0);
	assert_int_equal(l->nlayers, 2);
	assert_int_equal(l->layers[0].npaths, 1);
	assert_int_equal(l->layers[1].npaths, 3);
	assert_int_equal(l->layers[1].paths[0], idx(c, H("z") "-baz"));
	assert_int_equal(l->layers[1].paths[2], idx(c, H("f") "-foo"));
	strata_layering_free(l);
	strata_closure_free(c);
}

/* Ties break by "<name>-<path>", never by table order: equal popularity. */
static void test_popularity_ties(void **s)
{
	(void)s;
	strata_closure *c = load("[{\"path\":\"" H("a") "-zz\",\"narSize\":1,\"references\":[]},"
				 " {\"path\":\"" H("b") "-aa\",\"narSize\":1,\"references\":[]},"
				 " {\"path\":\"" H("0") "-aa\",\"narSize\":1,\"references\":[]}]");
	strata_layering *l = NULL;
	strata_error err = STRATA_ERROR_INIT;
	assert_int_equal(strata_layering_compute(c, STRATA_LAYERING_POPULARITY, 10, &l, &err), 0);
	assert_int_equal(l->layers[0].paths[0], idx(c, H("0") "-aa"));
	assert_int_equal(l->layers[1].paths[0], idx(c, H("b") "-aa"));
	assert_int_equal(l->layers[2].paths[0], idx(c, H("a") "-zz"));
	strata_layering_free(l);
	strata_closure_free(c);
}

/* auto: app (big) -> libA (only app uses it), app -> shared, tool -> shared.
 * Limit 3: app+libA together, shared alone, tool alone; dependencies first. */
static void test_auto_layers(void **s)
{
	(void)s;
	strata_closure *c = load(
		"[{\"path\":\"" H("1") "-app\",\"narSize\":1000,\"references\":[\"" H("2") "-libA\",\"" H("3") "-shared\"]},"
		" {\"path\":\"" H("2") "-libA\",\"narSize\":50,\"references\":[]},"
		" {\"path\":\"" H("3") "-shared\",\"narSize\":300,\"references\":[]},"
		" {\"path\":\"" H("4") "-tool\",\"narSize\":500,\"references\":[\"" H("3") "-shared\"]}]");
	strata_layering *l = NULL;
	strata_error err = STRATA_ERROR_INIT;
	assert_int_equal(strata_layering_compute(c, STRATA_LAYERING_AUTO, 3, &l, &err), 0);
	assert_int_equal(l->nlayers, 3);
	/* sorted by closure size: shared (300) < tool (800) < app+libA (1350) */
	assert_int_equal(l->layers[0].npaths, 1);
	assert_int_equal(l->layers[0].paths[0], idx(c, H("3") "-shared"));
	assert_int_equal(l->layers[1].paths[0], idx(c, H("4") "-tool"));
	assert_int_equal(l->layers[2].npaths, 2);
	assert_int_equal(l->layers[2].paths[0], idx(c, H("1") "-app"));
	assert_int_equal(l->layers[2].paths[1], idx(c, H("2") "-libA"));
	strata_layering_free(l);
	/* Limit 1: everything in one layer. */
	assert_int_equal(strata_layering_compute(c, STRATA_LAYERING_AUTO, 1, &l, &err), 0);
	assert_int_equal(l->nlayers, 1);
	assert_int_equal(l->layers[0].npaths, 4);
	strata_layering_free(l);
	strata_closure_free(c);
}

static void test_cycle_is_an_error(void **s)
{
	(void)s;
	strata_closure *c = load("[{\"path\":\"" H("1") "-a\",\"narSize\":1,\"references\":[\"" H("2") "-b\"]},"
				 " {\"path\":\"" H("2") "-b\",\"narSize\":1,\"references\":[\"" H("1") "-a\"]}]");
	strata_layering *l = NULL;
	strata_error err = STRATA_ERROR_INIT;
	assert_true(strata_layering_compute(c, STRATA_LAYERING_AUTO, 5, &l, &err) < 0);
	assert_non_null(strstr(err.msg, "reference cycle"));
	strata_error_clear(&err);
	assert_true(strata_layering_compute(c, STRATA_LAYERING_POPULARITY, 5, &l, &err) < 0);
	strata_error_clear(&err);
	strata_closure_free(c);
}

static void expect_load_error(const char *json, const char *needle)
{
	char path[] = "/tmp/strata-layering-XXXXXX";
	int fd = mkstemp(path);
	assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
	close(fd);
	strata_closure *c = NULL;
	strata_error err = STRATA_ERROR_INIT;
	assert_true(strata_closure_load(path, SD, &c, &err) < 0);
	assert_null(c);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("expected '%s' in '%s'", needle, err.msg);
	strata_error_clear(&err);
	unlink(path);
}

static void test_closure_errors(void **s)
{
	(void)s;
	expect_load_error("[{\"path\":\"/elsewhere/" "11111111111111111111111111111111-a\",\"narSize\":1}]",
			  "not inside the store directory");
	expect_load_error("[{\"path\":\"" H("1") "-a\",\"narSize\":1,\"references\":[\"" H("2") "-b\"]}]",
			  "which is not in the closure");
	expect_load_error("[{\"path\":\"" H("1") "-a\",\"narSize\":1},{\"path\":\"" H("1") "-a\",\"narSize\":1}]",
			  "listed twice");
	expect_load_error("[{\"path\":\"" H("1") "-a\",\"narSize\":-4}]", "narSize");
	expect_load_error("[{\"path\":\"" H("1") "-a\",\"narSize\":1,\"references\":\"x\"}]", "must be an array");
	expect_load_error("[{\"path\":17}]", "must be a string");
	expect_load_error("[{\"path\":\"/nix/store/short-a\",\"narSize\":1}]", "not a store path");
	expect_load_error("[{\"path\":\"/nix/store/../../../../../etc/passwd\",\"narSize\":1}]", "not a store path");
	expect_load_error("[{\"path\":\"" H("1") "-a\",\"narSize\":1}", "invalid JSON");
	expect_load_error("{\"a\":1,\"a\":2}", "invalid JSON");
	expect_load_error("\"just a string\"", "not inside the store directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_popularity_scores),
		cmocka_unit_test(test_popularity_layers_and_folding),
		cmocka_unit_test(test_popularity_ties),
		cmocka_unit_test(test_auto_layers),
		cmocka_unit_test(test_cycle_is_an_error),
		cmocka_unit_test(test_closure_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
