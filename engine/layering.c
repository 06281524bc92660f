#define _GNU_SOURCE
#include "layering.h"
#include "strata_util.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Children before parents (references first). Fails on a cycle. */
static int topo_order(const strata_closure *c, size_t *order, strata_error *err)
{
	size_t n = c->npaths;
	unsigned char *state = strata_xcalloc(n, 1); /* 0 new, 1 on stack, 2 done */
	size_t *stack = strata_xmalloc((n + 1) * sizeof *stack);
	size_t *next = strata_xcalloc(n, sizeof *next);
	size_t k = 0;
	int r = 0;
	for (size_t s = 0; s < n && r == 0; s++) {
		if (state[s])
			continue;
		size_t sp = 0;
		stack[sp++] = s;
		state[s] = 1;
		while (sp > 0 && r == 0) {
			size_t v = stack[sp - 1];
			const strata_store_path *p = &c->paths[v];
			if (next[v] < p->nrefs) {
				size_t d = p->refs[next[v]++];
				if (state[d] == 1) {
					r = strata_error_set(err, 0, "reference cycle: '%s' and '%s' reference each other (directly or through others)",
							     p->path, c->paths[d].path);
				} else if (state[d] == 0) {
					state[d] = 1;
					stack[sp++] = d;
				}
			} else {
				state[v] = 2;
				order[k++] = v;
				sp--;
			}
		}
	}
	free(state);
	free(stack);
	free(next);
	return r;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int strata_layering_popularity(const strata_closure *c, uint64_t *pop, strata_error *err)
{
	size_t n = c->npaths;
	size_t *order = strata_xmalloc((n ? n : 1) * sizeof *order);
	int r = topo_order(c, order, err);
	if (r < 0) {
		free(order);
		return r;
	}
	bool *referenced = strata_xcalloc(n ? n : 1, sizeof *referenced);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < c->paths[i].nrefs; j++)
			referenced[c->paths[i].refs[j]] = true;
	/* For each target x: g(c, x) = 1 if c == x; else 1 + sum of g(d, x)
	 * over children d when some child reaches x; else 0. One pass over the
	 * topological order per target. */
	uint64_t *g = strata_xmalloc((n ? n : 1) * sizeof *g);
	for (size_t x = 0; x < n; x++) {
		uint64_t total = 0;
		for (size_t k = 0; k < n; k++) {
			size_t v = order[k];
			const strata_store_path *p = &c->paths[v];
			if (v == x) {
				g[v] = 1;
			} else {
				uint64_t sum = 0;
				bool reaches = false;
				for (size_t j = 0; j < p->nrefs; j++)
					if (g[p->refs[j]] > 0) {
						reaches = true;
						sum = sat_add(sum, g[p->refs[j]]);
					}
				g[v] = reaches ? sat_add(sum, 1) : 0;
			}
			if (!referenced[v])
				total = sat_add(total, g[v]);
		}
		pop[x] = total;
	}
	free(g);
	free(referenced);
	free(order);
	return 0;
}

/* nixpkgs' package_name rotates the hash to the end ("<name>-<path>"), so
 * equal names tie-break by hash. Keys are precomputed once per sort. */
static char **sort_keys;
static const uint64_t *sort_pop;
static const strata_closure *sort_closure;

static int cmp_popularity(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	if (sort_pop[x] != sort_pop[y])
		return sort_pop[x] > sort_pop[y] ? -1 : 1;
	return strcmp(sort_keys[x], sort_keys[y]);
}

/* (name, hash): nixpkgs' path_key, used within an auto layer. */
static int cmp_name_hash(const void *a, const void *b)
{
	const strata_store_path *x = &sort_closure->paths[*(const size_t *)a];
	const strata_store_path *y = &sort_closure->paths[*(const size_t *)b];
	int r = strcmp(x->name, y->name);
	return r ? r : memcmp(x->hash, y->hash, STRATA_HASH_LEN);
}

static void add_layer(strata_layering *l, size_t *paths, size_t n)
{
	l->layers = strata_xrealloc(l->layers, (l->nlayers + 1) * sizeof *l->layers);
	l->layers[l->nlayers].paths = paths;
	l->layers[l->nlayers].npaths = n;
	l->nlayers++;
}

static int layering_popularity(const strata_closure *c, size_t limit, strata_layering *l,
			       strata_error *err)
{
	size_t n = c->npaths;
	uint64_t *pop = strata_xmalloc(n * sizeof *pop);
	int r = strata_layering_popularity(c, pop, err);
	if (r < 0) {
		free(pop);
		return r;
	}
	size_t *rank = strata_xmalloc(n * sizeof *rank);
	for (size_t i = 0; i < n; i++)
		rank[i] = i;
	char **keys = strata_xmalloc(n * sizeof *keys);
	for (size_t i = 0; i < n; i++)
		keys[i] = strata_xasprintf("%s-%s", c->paths[i].name, c->paths[i].path);
	sort_keys = keys;
	sort_pop = pop;
	qsort(rank, n, sizeof *rank, cmp_popularity);
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	/* limit_layers: the first limit-1 alone, everything else together. */
	size_t single = n <= limit ? n : limit - 1;
	for (size_t i = 0; i < single; i++) {
		size_t *one = strata_xmalloc(sizeof *one);
		one[0] = rank[i];
		add_layer(l, one, 1);
	}
	if (single < n) {
		size_t *rest = strata_xmalloc((n - single) * sizeof *rest);
		memcpy(rest, rank + single, (n - single) * sizeof *rest);
		add_layer(l, rest, n - single);
	}
	free(rank);
	free(pop);
	return 0;
}

/* ---------- auto-layer ---------- */

typedef uint64_t word;
#define WBITS 64

typedef struct bitset_arena {
	size_t words; /* per set */
	word *bits;
} bitset_arena;

static word *bs(bitset_arena *a, size_t i)
{
	return a->bits + i * a->words;
}

static bool bs_get(const word *s, size_t i)
{
	return (s[i / WBITS] >> (i % WBITS)) & 1;
}

static void bs_set(word *s, size_t i)
{
	s[i / WBITS] |= (word)1 << (i % WBITS);
}

static size_t cmp_words_n;
static int cmp_set_ptr(const void *a, const void *b)
{
	return memcmp(*(const word *const *)a, *(const word *const *)b, cmp_words_n * sizeof(word));
}

static size_t count_distinct(bitset_arena *split, size_t n, const word **tmp)
{
	for (size_t i = 0; i < n; i++)
		tmp[i] = bs(split, i);
	cmp_words_n = split->words;
	qsort(tmp, n, sizeof *tmp, cmp_set_ptr);
	size_t d = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || memcmp(tmp[i - 1], tmp[i], split->words * sizeof(word)) != 0)
			d++;
	return d;
}

static const uint64_t *sort_sizes;
static int cmp_size_stable(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	if (sort_sizes[x] != sort_sizes[y])
		return sort_sizes[x] < sort_sizes[y] ? -1 : 1;
	/* Python's stable sort keeps input order; ours is sorted by path. */
	return (x > y) - (x < y);
}

typedef struct auto_layer {
	size_t *paths;
	size_t n;
	uint64_t closure_size;
} auto_layer;

static int cmp_auto_layer(const void *a, const void *b)
{
	const auto_layer *x = a, *y = b;
	if (x->closure_size != y->closure_size)
		return x->closure_size < y->closure_size ? -1 : 1;
	return cmp_name_hash(&x->paths[0], &y->paths[0]);
}

static int layering_auto(const strata_closure *c, size_t limit, strata_layering *l,
			 strata_error *err)
{
	size_t n = c->npaths;
	size_t *order = strata_xmalloc(n * sizeof *order);
	int r = topo_order(c, order, err);
	if (r < 0) {
		free(order);
		return r;
	}
	size_t words = (n + WBITS - 1) / WBITS;
	/* deps[x]: everything x reaches (without x); users[x]: everything
	 * reaching x (without x). */
	bitset_arena deps = {words, strata_xcalloc(n * words, sizeof(word))};
	bitset_arena users = {words, strata_xcalloc(n * words, sizeof(word))};
	for (size_t k = 0; k < n; k++) {
		size_t v = order[k];
		word *dv = bs(&deps, v);
		for (size_t j = 0; j < c->paths[v].nrefs; j++) {
			size_t d = c->paths[v].refs[j];
			bs_set(dv, d);
			const word *dd = bs(&deps, d);
			for (size_t w = 0; w < words; w++)
				dv[w] |= dd[w];
		}
	}
	for (size_t x = 0; x < n; x++)
		for (size_t y = 0; y < n; y++)
			if (bs_get(bs(&deps, x), y))
				bs_set(bs(&users, y), x);

	bitset_arena split = {words, strata_xcalloc(n * words, sizeof(word))};
	bitset_arena trial = {words, strata_xcalloc(n * words, sizeof(word))};
	const word **tmp = strata_xmalloc(n * sizeof *tmp);
	size_t *by_size = strata_xmalloc(n * sizeof *by_size);
	uint64_t *sizes = strata_xmalloc(n * sizeof *sizes);
	for (size_t i = 0; i < n; i++) {
		by_size[i] = i;
		sizes[i] = c->paths[i].nar_size;
	}
	sort_sizes = sizes;
	qsort(by_size, n, sizeof *by_size, cmp_size_stable);

	for (size_t left = n; left > 0; left--) {
		size_t p = by_size[left - 1]; /* the largest remaining */
		memcpy(trial.bits, split.bits, n * words * sizeof(word));
		word *tp = bs(&trial, p);
		memset(tp, 0, words * sizeof(word));
		bs_set(tp, p);
		const word *dp = bs(&deps, p), *up = bs(&users, p);
		for (size_t dep = 0; dep < n; dep++) {
			if (!bs_get(dp, dep))
				continue;
			word *sd = bs(&trial, dep);
			bool meets = false;
			for (size_t w = 0; w < words; w++) {
				sd[w] &= ~up[w];
				meets |= (sd[w] & dp[w]) != 0;
			}
			if (!meets)
				bs_set(sd, p);
		}
		if (count_distinct(&trial, n, tmp) > limit)
			break;
		bitset_arena t = split;
		split = trial;
		trial = t;
	}

	/* Group paths by their split set. */
	auto_layer *layers = NULL;
	size_t nl = 0;
	bool *placed = strata_xcalloc(n, sizeof *placed);
	for (size_t i = 0; i < n; i++) {
		if (placed[i])
			continue;
		const word *si = bs(&split, i);
		auto_layer al = {strata_xmalloc(n * sizeof(size_t)), 0, 0};
		for (size_t j = i; j < n; j++)
			if (!placed[j] && memcmp(bs(&split, j), si, words * sizeof(word)) == 0) {
				placed[j] = true;
				al.paths[al.n++] = j;
			}
		sort_closure = c;
		qsort(al.paths, al.n, sizeof(size_t), cmp_name_hash);
		/* closure size: the layer's paths and all they reach. */
		word *reach = strata_xcalloc(words, sizeof(word));
		for (size_t j = 0; j < al.n; j++) {
			bs_set(reach, al.paths[j]);
			const word *dj = bs(&deps, al.paths[j]);
			for (size_t w = 0; w < words; w++)
				reach[w] |= dj[w];
		}
		for (size_t j = 0; j < n; j++)
			if (bs_get(reach, j))
				al.closure_size += c->paths[j].nar_size;
		free(reach);
		layers = strata_xrealloc(layers, (nl + 1) * sizeof *layers);
		layers[nl++] = al;
	}
	sort_closure = c;
	qsort(layers, nl, sizeof *layers, cmp_auto_layer);
	for (size_t i = 0; i < nl; i++)
		add_layer(l, layers[i].paths, layers[i].n);

	free(layers);
	free(placed);
	free(sizes);
	free(by_size);
	free(tmp);
	free(trial.bits);
	free(split.bits);
	free(users.bits);
	free(deps.bits);
	free(order);
	return 0;
}

int strata_layering_compute(const strata_closure *c, strata_layering_kind kind, size_t limit,
			    strata_layering **out, strata_error *err)
{
	if (limit == 0)
		return strata_error_set(err, 0, "no layers left for store paths (max-layers too small)");
	strata_layering *l = strata_xcalloc(1, sizeof *l);
	int r = 0;
	if (c->npaths > 0)
		r = kind == STRATA_LAYERING_POPULARITY ? layering_popularity(c, limit, l, err)
						       : layering_auto(c, limit, l, err);
	if (r < 0) {
		strata_layering_free(l);
		return r;
	}
	*out = l;
	return 0;
}

void strata_layering_free(strata_layering *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->nlayers; i++)
		free(l->layers[i].paths);
	free(l->layers);
	free(l);
}
