/* Both algorithms in memory linear in the closure (paths + references):
 * a 100,000-path closure must not need n*n bits. Neither keeps a reach
 * matrix; each walks the graph from one path at a time with a stamp array.
 *
 * popularity: with W(v) the number of paths from the closure's roots to v,
 * nixpkgs' pop(x) = sum over v in ancestors(x) + {x} of W(v) (expand g(r,x)
 * = 1 + sum of g(d,x) over r's children d reaching x: each term counts the
 * paths from r to one v above x). W is one pass in topological order; each
 * pop(x) a reverse walk, cut short as soon as the sum saturates.
 *
 * auto: every path's set of "primaries" (nixpkgs' split[path]) is interned:
 * a path holds a set id. Adding primary p changes only the sets of p's
 * descendants, and the new set depends only on the old one, so each
 * iteration transforms the few distinct sets that occur among p's
 * descendants and keeps a count per set to know the number of distinct
 * values (the stop rule) without comparing all paths. */
#define _GNU_SOURCE
#include "layering.h"
#include "alloc.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------- the graph ---------- */

/* Reverse edges (parents of each path) in one array: parents of v are
 * par[off[v] .. off[v+1]). */
typedef struct parents {
	size_t *off, *par;
} parents;

static void parents_build(const strata_closure *c, parents *p)
{
	size_t n = c->npaths, e = 0;
	p->off = strata_xcalloc(n + 1, sizeof *p->off);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < c->paths[i].nrefs; j++) {
			p->off[c->paths[i].refs[j] + 1]++;
			e++;
		}
	for (size_t i = 0; i < n; i++)
		p->off[i + 1] += p->off[i];
	p->par = strata_xmalloc((e ? e : 1) * sizeof *p->par);
	size_t *fill = strata_xmalloc((n ? n : 1) * sizeof *fill);
	memcpy(fill, p->off, n * sizeof *fill);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < c->paths[i].nrefs; j++)
			p->par[fill[c->paths[i].refs[j]]++] = i;
	free(fill);
}

static void parents_free(parents *p)
{
	free(p->off);
	free(p->par);
}

/* Children before parents (references first). Fails on a cycle. */
static int topo_order(const strata_closure *c, size_t *order, strata_error *err)
{
	size_t n = c->npaths;
	unsigned char *state = strata_xcalloc(n ? n : 1, 1); /* 0 new, 1 on stack, 2 done */
	size_t *stack = strata_xmalloc((n + 1) * sizeof *stack);
	size_t *next = strata_xcalloc(n ? n : 1, sizeof *next);
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

/* A walk from one path with a stamp per path: visited means stamp == cur,
 * so each walk costs what it visits, never a clear of n entries. */
typedef struct walk {
	uint32_t *stamp;
	uint32_t cur;
	size_t *stack, *seen; /* seen: the paths the last walk visited */
	size_t nseen;
} walk;

static void walk_init(walk *w, size_t n)
{
	w->stamp = strata_xcalloc(n ? n : 1, sizeof *w->stamp);
	w->stack = strata_xmalloc((n ? n : 1) * sizeof *w->stack);
	w->seen = strata_xmalloc((n ? n : 1) * sizeof *w->seen);
	w->cur = 0;
}

static void walk_fini(walk *w)
{
	free(w->stamp);
	free(w->stack);
	free(w->seen);
}

static void walk_start(walk *w, size_t n)
{
	if (++w->cur == 0) { /* wrapped: stamps from 2^32 walks ago */
		memset(w->stamp, 0, n * sizeof *w->stamp);
		w->cur = 1;
	}
	w->nseen = 0;
}

/* Everything strictly below (down) or above (up) start, into w->seen. */
static void walk_from(walk *w, const strata_closure *c, const parents *pa, size_t start, bool down)
{
	walk_start(w, c->npaths);
	size_t sp = 0;
	w->stamp[start] = w->cur;
	w->stack[sp++] = start;
	while (sp > 0) {
		size_t v = w->stack[--sp];
		const size_t *next = down ? c->paths[v].refs : pa->par + pa->off[v];
		size_t nn = down ? c->paths[v].nrefs : pa->off[v + 1] - pa->off[v];
		for (size_t j = 0; j < nn; j++)
			if (w->stamp[next[j]] != w->cur) {
				w->stamp[next[j]] = w->cur;
				w->stack[sp++] = next[j];
				w->seen[w->nseen++] = next[j];
			}
	}
}

/* ---------- popularity ---------- */

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
	parents pa;
	parents_build(c, &pa);
	/* W in reverse topological order (parents first). */
	uint64_t *w = strata_xcalloc(n ? n : 1, sizeof *w);
	for (size_t k = n; k-- > 0;) {
		size_t v = order[k];
		uint64_t s = pa.off[v + 1] == pa.off[v] ? 1 : 0; /* a root */
		for (size_t j = pa.off[v]; j < pa.off[v + 1]; j++)
			s = sat_add(s, w[pa.par[j]]);
		w[v] = s;
	}
	walk wk;
	walk_init(&wk, n);
	for (size_t x = 0; x < n; x++) {
		if (w[x] == UINT64_MAX) {
			pop[x] = UINT64_MAX;
			continue;
		}
		/* The reverse walk, summing as it goes. */
		walk_start(&wk, n);
		uint64_t total = w[x];
		size_t sp = 0;
		wk.stamp[x] = wk.cur;
		wk.stack[sp++] = x;
		while (sp > 0 && total != UINT64_MAX) {
			size_t v = wk.stack[--sp];
			for (size_t j = pa.off[v]; j < pa.off[v + 1]; j++) {
				size_t u = pa.par[j];
				if (wk.stamp[u] == wk.cur)
					continue;
				wk.stamp[u] = wk.cur;
				wk.stack[sp++] = u;
				total = sat_add(total, w[u]);
			}
		}
		pop[x] = total;
	}
	walk_fini(&wk);
	free(w);
	parents_free(&pa);
	free(order);
	return 0;
}

/* nixpkgs' package_name rotates the hash to the end ("<name>-<path>"), so
 * equal names tie-break by hash. */
typedef struct pop_sort {
	char **keys;
	const uint64_t *pop;
} pop_sort;

static int cmp_popularity(const void *a, const void *b, void *arg)
{
	const pop_sort *s = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	if (s->pop[x] != s->pop[y])
		return s->pop[x] > s->pop[y] ? -1 : 1;
	return strcmp(s->keys[x], s->keys[y]);
}

/* (name, hash): nixpkgs' path_key, used within an auto layer. */
static int cmp_name_hash(const void *a, const void *b, void *arg)
{
	const strata_closure *c = arg;
	const strata_store_path *x = &c->paths[*(const size_t *)a];
	const strata_store_path *y = &c->paths[*(const size_t *)b];
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

static int layering_popularity(const strata_closure *c, size_t limit, strata_layering *l, strata_error *err)
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
	pop_sort ps = {strata_xmalloc(n * sizeof *ps.keys), pop};
	for (size_t i = 0; i < n; i++)
		ps.keys[i] = strata_xasprintf("%s-%s", c->paths[i].name, c->paths[i].path);
	qsort_r(rank, n, sizeof *rank, cmp_popularity, &ps);
	for (size_t i = 0; i < n; i++)
		free(ps.keys[i]);
	free(ps.keys);
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

/* Interned sets of primaries: each a sorted array of primary numbers,
 * found again by content through an open-addressing table. Per set, a
 * scratch of the current iteration (valid while its mark is the
 * iteration's number). */
typedef struct set_table {
	uint32_t **members; /* members[id]: [len, p1, p2, ...] */
	size_t *count;      /* paths holding each set */
	size_t *new_id;     /* the set's transform this iteration, when mark == iteration */
	long *delta;        /* the change of its count this iteration, when dmark == iteration */
	uint64_t *mark, *dmark;
	size_t nsets, cap;
	size_t *slots; /* id + 1, 0 empty */
	size_t nslots;
	size_t distinct; /* sets with count > 0 */
} set_table;

static size_t set_hash(const uint32_t *m)
{
	size_t h = 1469598103934665603ull;
	for (uint32_t i = 0; i <= m[0]; i++)
		h = (h ^ m[i]) * 1099511628211ull;
	return h;
}

static bool set_equal(const uint32_t *a, const uint32_t *b)
{
	return a[0] == b[0] && memcmp(a + 1, b + 1, a[0] * sizeof *a) == 0;
}

static void set_slot(set_table *t, size_t id)
{
	for (size_t i = set_hash(t->members[id]) & (t->nslots - 1);; i = (i + 1) & (t->nslots - 1))
		if (t->slots[i] == 0) {
			t->slots[i] = id + 1;
			return;
		}
}

/* The id of the set m (taken over, or freed if known already). */
static size_t set_intern(set_table *t, uint32_t *m)
{
	if (t->nslots) {
		for (size_t i = set_hash(m) & (t->nslots - 1); t->slots[i]; i = (i + 1) & (t->nslots - 1))
			if (set_equal(t->members[t->slots[i] - 1], m)) {
				free(m);
				return t->slots[i] - 1;
			}
	}
	if (t->nsets == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->members = strata_xrealloc(t->members, t->cap * sizeof *t->members);
		t->count = strata_xrealloc(t->count, t->cap * sizeof *t->count);
		t->new_id = strata_xrealloc(t->new_id, t->cap * sizeof *t->new_id);
		t->delta = strata_xrealloc(t->delta, t->cap * sizeof *t->delta);
		t->mark = strata_xrealloc(t->mark, t->cap * sizeof *t->mark);
		t->dmark = strata_xrealloc(t->dmark, t->cap * sizeof *t->dmark);
	}
	size_t id = t->nsets++;
	t->members[id] = m;
	t->count[id] = 0;
	t->mark[id] = t->dmark[id] = 0;
	if (2 * t->nsets > t->nslots) {
		free(t->slots);
		t->nslots = t->nslots ? 2 * t->nslots : 128;
		t->slots = strata_xcalloc(t->nslots, sizeof *t->slots);
		for (size_t i = 0; i < t->nsets; i++)
			set_slot(t, i);
	} else {
		set_slot(t, id);
	}
	return id;
}

static void set_table_free(set_table *t)
{
	for (size_t i = 0; i < t->nsets; i++)
		free(t->members[i]);
	free(t->members);
	free(t->count);
	free(t->new_id);
	free(t->delta);
	free(t->mark);
	free(t->dmark);
	free(t->slots);
}

/* The new set of a descendant of primary p (number pn) whose set was s:
 * s minus p's primary ancestors (above[]), plus pn unless one of the
 * remaining primaries lies below p (below[]). */
static uint32_t *set_transform(const uint32_t *s, const bool *above, const bool *below, uint32_t pn)
{
	uint32_t *m = strata_xmalloc((s[0] + 2) * sizeof *m);
	uint32_t k = 0;
	bool meets = false;
	for (uint32_t i = 1; i <= s[0]; i++) {
		if (above[s[i]])
			continue;
		meets |= below[s[i]];
		m[++k] = s[i];
	}
	if (!meets)
		m[++k] = pn; /* the newest primary: the largest number, still sorted */
	m[0] = k;
	return m;
}

typedef struct auto_state {
	const strata_closure *c;
	parents pa;
	walk wk;
	set_table sets;
	size_t *set_of;   /* per path: its set id */
	int64_t *primary; /* per path: its primary number, or -1 */
	uint32_t nprimary;
	uint64_t iter;
	bool *above, *below; /* per primary number, for one iteration */
	size_t *changed;     /* set ids whose count the iteration changes */
	size_t nchanged, cap_changed;
} auto_state;

static void count_change(auto_state *s, size_t id, long d)
{
	set_table *t = &s->sets;
	if (t->dmark[id] != s->iter) {
		t->dmark[id] = s->iter;
		t->delta[id] = 0;
		if (s->nchanged == s->cap_changed) {
			s->cap_changed = s->cap_changed ? 2 * s->cap_changed : 64;
			s->changed = strata_xrealloc(s->changed, s->cap_changed * sizeof *s->changed);
		}
		s->changed[s->nchanged++] = id;
	}
	t->delta[id] += d;
}

/* Tries p as the next primary. Applies it and returns true when the number
 * of distinct sets stays within limit, else changes nothing. */
static bool auto_try(auto_state *s, size_t p, size_t limit)
{
	set_table *t = &s->sets;
	const uint32_t pn = s->nprimary;
	s->iter++;
	s->nchanged = 0;
	s->above = strata_xrealloc(s->above, (pn + 1) * sizeof *s->above);
	s->below = strata_xrealloc(s->below, (pn + 1) * sizeof *s->below);
	memset(s->above, 0, (pn + 1) * sizeof *s->above);
	memset(s->below, 0, (pn + 1) * sizeof *s->below);
	walk_from(&s->wk, s->c, &s->pa, p, false);
	for (size_t i = 0; i < s->wk.nseen; i++)
		if (s->primary[s->wk.seen[i]] >= 0)
			s->above[s->primary[s->wk.seen[i]]] = true;
	walk_from(&s->wk, s->c, &s->pa, p, true); /* wk.seen: p's descendants, used below */
	for (size_t i = 0; i < s->wk.nseen; i++)
		if (s->primary[s->wk.seen[i]] >= 0)
			s->below[s->primary[s->wk.seen[i]]] = true;

	/* Each distinct set among the descendants is transformed once; the
	 * counts say how many distinct sets there would be, before any path
	 * changes. */
	for (size_t i = 0; i < s->wk.nseen; i++) {
		size_t id = s->set_of[s->wk.seen[i]];
		if (t->mark[id] != s->iter) {
			size_t nid = set_intern(t, set_transform(t->members[id], s->above, s->below, pn));
			t->mark[id] = s->iter;
			t->new_id[id] = nid;
		}
		if (t->new_id[id] != id) {
			count_change(s, id, -1);
			count_change(s, t->new_id[id], +1);
		}
	}
	uint32_t *self = strata_xmalloc(2 * sizeof *self);
	self[0] = 1;
	self[1] = pn;
	size_t self_id = set_intern(t, self);
	if (s->set_of[p] != self_id) {
		count_change(s, s->set_of[p], -1);
		count_change(s, self_id, +1);
	}
	size_t distinct = t->distinct;
	for (size_t i = 0; i < s->nchanged; i++) {
		size_t id = s->changed[i];
		long before = (long)t->count[id], after = before + t->delta[id];
		assert(after >= 0);
		distinct = distinct + (after > 0) - (before > 0);
	}
	if (distinct > limit)
		return false;
	for (size_t i = 0; i < s->nchanged; i++)
		t->count[s->changed[i]] = (size_t)((long)t->count[s->changed[i]] + t->delta[s->changed[i]]);
	t->distinct = distinct;
	for (size_t i = 0; i < s->wk.nseen; i++)
		s->set_of[s->wk.seen[i]] = t->new_id[s->set_of[s->wk.seen[i]]];
	s->set_of[p] = self_id;
	s->primary[p] = pn;
	s->nprimary++;
	return true;
}

typedef struct auto_layer {
	size_t *paths;
	size_t n;
	uint64_t closure_size;
} auto_layer;

static int cmp_size_stable(const void *a, const void *b, void *arg)
{
	const uint64_t *sizes = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	if (sizes[x] != sizes[y])
		return sizes[x] < sizes[y] ? -1 : 1;
	/* Python's stable sort keeps input order; ours is sorted by path. */
	return (x > y) - (x < y);
}

static int cmp_auto_layer(const void *a, const void *b, void *arg)
{
	const auto_layer *x = a, *y = b;
	if (x->closure_size != y->closure_size)
		return x->closure_size < y->closure_size ? -1 : 1;
	return cmp_name_hash(&x->paths[0], &y->paths[0], arg);
}

/* A layer's closure size: its paths and all they reach. */
static uint64_t closure_size(walk *w, const strata_closure *c, const auto_layer *al)
{
	walk_start(w, c->npaths);
	uint64_t total = 0;
	size_t sp = 0;
	for (size_t j = 0; j < al->n; j++)
		if (w->stamp[al->paths[j]] != w->cur) {
			w->stamp[al->paths[j]] = w->cur;
			w->stack[sp++] = al->paths[j];
		}
	while (sp > 0) {
		size_t v = w->stack[--sp];
		total += c->paths[v].nar_size;
		for (size_t j = 0; j < c->paths[v].nrefs; j++)
			if (w->stamp[c->paths[v].refs[j]] != w->cur) {
				w->stamp[c->paths[v].refs[j]] = w->cur;
				w->stack[sp++] = c->paths[v].refs[j];
			}
	}
	return total;
}

/* One layer per set, paths by (name, hash), layers by closure size. */
static void auto_group(auto_state *s, strata_layering *l)
{
	const strata_closure *c = s->c;
	size_t n = c->npaths;
	size_t *layer_of = strata_xmalloc(s->sets.nsets * sizeof *layer_of); /* per set id */
	for (size_t i = 0; i < s->sets.nsets; i++)
		layer_of[i] = SIZE_MAX;
	auto_layer *layers = NULL;
	size_t nl = 0;
	for (size_t i = 0; i < n; i++) {
		size_t id = s->set_of[i];
		if (layer_of[id] == SIZE_MAX) {
			layers = strata_xrealloc(layers, (nl + 1) * sizeof *layers);
			layers[nl] = (auto_layer){strata_xmalloc(s->sets.count[id] * sizeof(size_t)), 0, 0};
			layer_of[id] = nl++;
		}
		auto_layer *al = &layers[layer_of[id]];
		al->paths[al->n++] = i;
	}
	void *carg = (void *)(uintptr_t)c; /* qsort_r's argument is not const */
	for (size_t i = 0; i < nl; i++) {
		qsort_r(layers[i].paths, layers[i].n, sizeof(size_t), cmp_name_hash, carg);
		layers[i].closure_size = closure_size(&s->wk, c, &layers[i]);
	}
	qsort_r(layers, nl, sizeof *layers, cmp_auto_layer, carg);
	for (size_t i = 0; i < nl; i++)
		add_layer(l, layers[i].paths, layers[i].n);
	free(layers);
	free(layer_of);
}

static int layering_auto(const strata_closure *c, size_t limit, strata_layering *l, strata_error *err)
{
	size_t n = c->npaths;
	size_t *order = strata_xmalloc(n * sizeof *order);
	int r = topo_order(c, order, err);
	free(order);
	if (r < 0)
		return r;
	auto_state s = {.c = c};
	parents_build(c, &s.pa);
	walk_init(&s.wk, n);
	s.set_of = strata_xcalloc(n, sizeof *s.set_of);
	s.primary = strata_xmalloc(n * sizeof *s.primary);
	for (size_t i = 0; i < n; i++)
		s.primary[i] = -1;
	size_t empty_id = set_intern(&s.sets, strata_xcalloc(1, sizeof(uint32_t))); /* no primary yet */
	s.sets.count[empty_id] = n;
	s.sets.distinct = 1;

	size_t *by_size = strata_xmalloc(n * sizeof *by_size);
	uint64_t *sizes = strata_xmalloc(n * sizeof *sizes);
	for (size_t i = 0; i < n; i++) {
		by_size[i] = i;
		sizes[i] = c->paths[i].nar_size;
	}
	qsort_r(by_size, n, sizeof *by_size, cmp_size_stable, sizes);
	for (size_t left = n; left > 0; left--)
		if (!auto_try(&s, by_size[left - 1], limit)) /* the largest remaining */
			break;
	auto_group(&s, l);

	free(sizes);
	free(by_size);
	free(s.set_of);
	free(s.primary);
	free(s.above);
	free(s.below);
	free(s.changed);
	set_table_free(&s.sets);
	walk_fini(&s.wk);
	parents_free(&s.pa);
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
