#define _GNU_SOURCE
/* Layering against small hand-computed graphs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "closure_load.h"
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
	int r = strata_closure_load(path, SD, NULL, NULL, &c, &err);
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

/* ---------- against the definitions, on random graphs ----------
 *
 * A reference written straight from nixpkgs' descriptions (quadratic, small
 * graphs only): pop(x) = sum over roots r of g(r, x); auto-layer's
 * split[path] sets, one primary at a time, stopping before the number of
 * distinct sets exceeds the limit. The engine computes both without n*n
 * memory; the layers must come out the same. */

#define RN 48

typedef struct rgraph {
	int n;
	bool ref[RN][RN]; /* ref[a][b]: a references b (no self) */
} rgraph;

static bool reaches(const rgraph *g, int a, int b)
{
	if (a == b)
		return true;
	for (int d = 0; d < g->n; d++)
		if (g->ref[a][d] && reaches(g, d, b))
			return true;
	return false;
}

static uint64_t ref_g(const rgraph *g, int c, int x)
{
	if (c == x)
		return 1;
	uint64_t sum = 0;
	bool any = false;
	for (int d = 0; d < g->n; d++)
		if (g->ref[c][d] && reaches(g, d, x)) {
			any = true;
			sum += ref_g(g, d, x);
		}
	return any ? sum + 1 : 0;
}

static uint64_t ref_pop(const rgraph *g, int x)
{
	uint64_t t = 0;
	for (int r = 0; r < g->n; r++) {
		bool root = true;
		for (int u = 0; u < g->n; u++)
			root &= !g->ref[u][r];
		if (root)
			t += ref_g(g, r, x);
	}
	return t;
}

static int ref_distinct(const rgraph *g, bool split[RN][RN])
{
	int d = 0;
	for (int i = 0; i < g->n; i++) {
		bool first = true;
		for (int j = 0; j < i && first; j++)
			first = memcmp(split[i], split[j], sizeof split[i]) != 0;
		d += first;
	}
	return d;
}

/* Layers as lists of path indices, in the order the engine documents. */
static int ref_auto(const rgraph *g, const strata_closure *c, size_t limit, int layers[RN][RN + 1])
{
	bool split[RN][RN] = {{false}}, trial[RN][RN];
	int by_size[RN];
	for (int i = 0; i < g->n; i++)
		by_size[i] = i;
	for (int i = 1; i < g->n; i++) /* stable insertion sort by size */
		for (int j = i; j > 0 && c->paths[by_size[j - 1]].nar_size > c->paths[by_size[j]].nar_size; j--) {
			int t = by_size[j];
			by_size[j] = by_size[j - 1];
			by_size[j - 1] = t;
		}
	for (int left = g->n; left > 0; left--) {
		int p = by_size[left - 1];
		memcpy(trial, split, sizeof trial);
		memset(trial[p], 0, sizeof trial[p]);
		trial[p][p] = true;
		for (int dep = 0; dep < g->n; dep++) {
			if (dep == p || !reaches(g, p, dep))
				continue;
			bool meets = false;
			for (int q = 0; q < g->n; q++) {
				if (trial[dep][q] && q != p && reaches(g, q, p))
					trial[dep][q] = false; /* minus users(p) */
				meets |= trial[dep][q] && q != p && reaches(g, p, q);
			}
			if (!meets)
				trial[dep][p] = true;
		}
		if ((size_t)ref_distinct(g, trial) > limit)
			break;
		memcpy(split, trial, sizeof split);
	}
	/* group, then sort paths by (name, hash) and layers by closure size */
	int nl = 0, of[RN];
	for (int i = 0; i < g->n; i++) {
		of[i] = -1;
		for (int j = 0; j < i && of[i] < 0; j++)
			if (memcmp(split[i], split[j], sizeof split[i]) == 0)
				of[i] = of[j];
		if (of[i] < 0) {
			of[i] = nl;
			layers[nl++][0] = 0;
		}
		layers[of[i]][++layers[of[i]][0]] = i;
	}
	uint64_t csize[RN];
	for (int l = 0; l < nl; l++) {
		int *L = layers[l];
		for (int a = 1; a <= L[0]; a++)
			for (int b = a + 1; b <= L[0]; b++) {
				const strata_store_path *x = &c->paths[L[a]], *y = &c->paths[L[b]];
				int cmp = strcmp(x->name, y->name);
				if (cmp > 0 || (cmp == 0 && memcmp(x->hash, y->hash, 32) > 0)) {
					int t = L[a];
					L[a] = L[b];
					L[b] = t;
				}
			}
		csize[l] = 0;
		for (int v = 0; v < g->n; v++) {
			bool in = false;
			for (int a = 1; a <= L[0]; a++)
				in |= reaches(g, L[a], v);
			if (in)
				csize[l] += c->paths[v].nar_size;
		}
	}
	for (int a = 0; a < nl; a++)
		for (int b = a + 1; b < nl; b++) {
			const strata_store_path *x = &c->paths[layers[a][1]], *y = &c->paths[layers[b][1]];
			int cmp = strcmp(x->name, y->name);
			bool after = csize[a] > csize[b] ||
				     (csize[a] == csize[b] && (cmp > 0 || (cmp == 0 && memcmp(x->hash, y->hash, 32) > 0)));
			if (after) {
				int t[RN + 1];
				uint64_t ts = csize[a];
				memcpy(t, layers[a], sizeof t);
				memcpy(layers[a], layers[b], sizeof t);
				memcpy(layers[b], t, sizeof t);
				csize[a] = csize[b];
				csize[b] = ts;
			}
		}
	return nl;
}

static void test_random_graphs_match_the_definitions(void **s)
{
	(void)s;
	static const char n32[] = "0123456789abcdfghijklmnpqrsvwxyz";
	unsigned seed = 12345;
	for (int round = 0; round < 150; round++) {
		rgraph g = {.n = 1 + (int)((seed = seed * 1103515245 + 12345) >> 16) % 24};
		size_t cap = 64 * 1024, len = 0;
		char *json = malloc(cap);
		char names[RN][80];
		for (int i = 0; i < g.n; i++) {
			char h[33];
			for (int k = 0; k < 32; k++)
				h[k] = n32[((seed = seed * 1103515245 + 12345) >> 16) % 32];
			h[32] = '\0';
			snprintf(names[i], sizeof names[i], SD "/%s-%c", h, 'a' + (int)((seed >> 16) % 3));
		}
		len += (size_t)sprintf(json + len, "[");
		for (int i = 0; i < g.n; i++) {
			seed = seed * 1103515245 + 12345;
			len += (size_t)sprintf(json + len, "%s{\"path\":\"%s\",\"narSize\":%u,\"references\":[", i ? "," : "",
					       names[i], (seed >> 16) % 4 == 0 ? 100u : (seed >> 8) % 1000u);
			int nr = i ? (int)((seed >> 20) % 4) : 0;
			for (int r = 0; r < nr; r++) {
				int t = (int)(((seed = seed * 1103515245 + 12345) >> 16) % (unsigned)i);
				if (g.ref[i][t])
					continue;
				g.ref[i][t] = true;
				len += (size_t)sprintf(json + len, "%s\"%s\"", json[len - 1] == '[' ? "" : ",", names[t]);
			}
			len += (size_t)sprintf(json + len, "]}");
		}
		sprintf(json + len, "]");
		strata_closure *c = load(json);
		free(json);
		/* the engine's indices are sorted by path: map the graph to them */
		rgraph h = {.n = g.n};
		int at[RN];
		for (int i = 0; i < g.n; i++)
			at[i] = (int)idx(c, names[i]);
		for (int a = 0; a < g.n; a++)
			for (int b = 0; b < g.n; b++)
				h.ref[at[a]][at[b]] = g.ref[a][b];
		uint64_t pop[RN];
		strata_error err = STRATA_ERROR_INIT;
		assert_int_equal(strata_layering_popularity(c, pop, &err), 0);
		for (int x = 0; x < h.n; x++)
			assert_int_equal(pop[x], ref_pop(&h, x));
		for (size_t limit = 1; limit <= 26; limit += 5) {
			int want[RN][RN + 1];
			int nl = ref_auto(&h, c, limit, want);
			strata_layering *l = NULL;
			assert_int_equal(strata_layering_compute(c, STRATA_LAYERING_AUTO, limit, &l, &err), 0);
			assert_int_equal(l->nlayers, (size_t)nl);
			for (int k = 0; k < nl; k++) {
				assert_int_equal(l->layers[k].npaths, (size_t)want[k][0]);
				for (int j = 0; j < want[k][0]; j++)
					assert_int_equal(l->layers[k].paths[j], (size_t)want[k][j + 1]);
			}
			strata_layering_free(l);
		}
		strata_closure_free(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_popularity_scores),
		cmocka_unit_test(test_popularity_layers_and_folding),
		cmocka_unit_test(test_popularity_ties),
		cmocka_unit_test(test_auto_layers),
		cmocka_unit_test(test_cycle_is_an_error),
		cmocka_unit_test(test_random_graphs_match_the_definitions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
