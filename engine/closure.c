#define _GNU_SOURCE
#include "closure.h"
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

typedef struct raw_entry {
	char *path;
	uint64_t nar_size;
	bool size_known;
	char *nar_hash;
	char **refs; /* full paths */
	size_t nrefs, cap_refs;
} raw_entry;

struct strata_closure_builder {
	char *store_dir;
	raw_entry *v;
	size_t n, cap;
};

strata_closure_builder *strata_closure_builder_create(const char *store_dir)
{
	strata_closure_builder *b = strata_xcalloc(1, sizeof *b);
	b->store_dir = strata_xstrdup(store_dir);
	return b;
}

void strata_closure_builder_free(strata_closure_builder *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++) {
		free(b->v[i].path);
		free(b->v[i].nar_hash);
		for (size_t j = 0; j < b->v[i].nrefs; j++)
			free(b->v[i].refs[j]);
		free(b->v[i].refs);
	}
	free(b->v);
	free(b->store_dir);
	free(b);
}

size_t strata_closure_builder_add(strata_closure_builder *b, char *path, uint64_t nar_size, bool size_known)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 64;
		b->v = strata_xrealloc(b->v, b->cap * sizeof *b->v);
	}
	b->v[b->n] = (raw_entry){.path = path, .nar_size = nar_size, .size_known = size_known};
	return b->n++;
}

void strata_closure_builder_set_hash(strata_closure_builder *b, size_t entry, char *nar_hash)
{
	free(b->v[entry].nar_hash);
	b->v[entry].nar_hash = nar_hash;
}

void strata_closure_builder_add_ref(strata_closure_builder *b, size_t entry, char *ref)
{
	raw_entry *e = &b->v[entry];
	if (e->nrefs == e->cap_refs) {
		e->cap_refs = e->cap_refs ? 2 * e->cap_refs : 8;
		e->refs = strata_xrealloc(e->refs, e->cap_refs * sizeof *e->refs);
	}
	e->refs[e->nrefs++] = ref;
}

long strata_closure_find(const strata_closure *c, const char *path)
{
	size_t lo = 0, hi = c->npaths;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int r = strcmp(c->paths[mid].path, path);
		if (r == 0)
			return (long)mid;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int cmp_index(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return (x > y) - (x < y);
}

static int cmp_entry_path(const void *a, const void *b, void *arg)
{
	const strata_closure_builder *bl = arg;
	return strcmp(bl->v[*(const size_t *)a].path, bl->v[*(const size_t *)b].path);
}

/* The references of entry e as sorted, unique indices of c (self noted). */
static int resolve_refs(strata_closure *c, size_t i, raw_entry *e, const char *what, strata_error *err)
{
	strata_store_path *p = &c->paths[i];
	p->refs = strata_xmalloc((e->nrefs ? e->nrefs : 1) * sizeof *p->refs);
	for (size_t j = 0; j < e->nrefs; j++) {
		long k = strata_closure_find(c, e->refs[j]);
		if (k < 0)
			return strata_error_set(err, 0, "%s: '%s' references '%s', which is not in the closure", what,
						p->path, e->refs[j]);
		if ((size_t)k == i)
			p->self_ref = true;
		else
			p->refs[p->nrefs++] = (size_t)k;
	}
	qsort(p->refs, p->nrefs, sizeof *p->refs, cmp_index);
	size_t u = 0;
	for (size_t j = 0; j < p->nrefs; j++)
		if (u == 0 || p->refs[u - 1] != p->refs[j])
			p->refs[u++] = p->refs[j];
	p->nrefs = u;
	return 0;
}

int strata_closure_builder_finish(strata_closure_builder *b, const char *what, strata_closure **out,
				  strata_error *err)
{
	strata_closure *c = strata_xcalloc(1, sizeof *c);
	c->store_dir = strata_xstrdup(b->store_dir);
	c->paths = strata_xcalloc(b->n ? b->n : 1, sizeof *c->paths);
	c->npaths = b->n;
	/* order[i]: the entry that becomes paths[i] (sorted by path). */
	size_t *order = strata_xmalloc((b->n ? b->n : 1) * sizeof *order);
	for (size_t i = 0; i < b->n; i++)
		order[i] = i;
	qsort_r(order, b->n, sizeof *order, cmp_entry_path, b);
	size_t sl = strlen(b->store_dir);
	for (size_t i = 0; i < c->npaths; i++) {
		raw_entry *e = &b->v[order[i]];
		strata_store_path *p = &c->paths[i];
		p->path = strata_steal_pointer(&e->path);
		p->nar_size = e->nar_size;
		p->size_known = e->size_known;
		p->nar_hash = strata_steal_pointer(&e->nar_hash);
		p->hash = p->path + sl + 1;
		p->name = p->hash + STRATA_HASH_LEN + 1;
	}
	int r = 0;
	for (size_t i = 1; i < c->npaths && r == 0; i++)
		if (strcmp(c->paths[i - 1].path, c->paths[i].path) == 0)
			r = strata_error_set(err, 0, "%s: store path '%s' is listed twice", what, c->paths[i].path);
	for (size_t i = 0; i < c->npaths && r == 0; i++)
		r = resolve_refs(c, i, &b->v[order[i]], what, err);
	free(order);
	strata_closure_builder_free(b);
	if (r < 0) {
		strata_closure_free(c);
		return r;
	}
	*out = c;
	return 0;
}

void strata_closure_free(strata_closure *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->npaths; i++) {
		free(c->paths[i].path);
		free(c->paths[i].nar_hash);
		free(c->paths[i].refs);
	}
	free(c->paths);
	free(c->store_dir);
	free(c);
}
int strata_closure_restrict(strata_closure *c, char *const *roots, size_t nroots, strata_error *err)
{
	if (nroots == 0)
		return 0;
	bool *keep = strata_xcalloc(c->npaths, sizeof *keep);
	size_t *stack = strata_xmalloc(c->npaths * sizeof *stack);
	size_t sp = 0;
	for (size_t i = 0; i < nroots; i++) {
		long k = strata_closure_find(c, roots[i]);
		if (k < 0) {
			free(keep);
			free(stack);
			return strata_error_set(err, 0, "root '%s' is not in the closure", roots[i]);
		}
		if (!keep[k]) {
			keep[k] = true;
			stack[sp++] = (size_t)k;
		}
	}
	while (sp > 0) {
		strata_store_path *p = &c->paths[stack[--sp]];
		for (size_t j = 0; j < p->nrefs; j++)
			if (!keep[p->refs[j]]) {
				keep[p->refs[j]] = true;
				stack[sp++] = p->refs[j];
			}
	}
	size_t *newidx = stack; /* reuse */
	size_t n = 0;
	for (size_t i = 0; i < c->npaths; i++)
		newidx[i] = keep[i] ? n++ : (size_t)-1;
	size_t w = 0;
	for (size_t i = 0; i < c->npaths; i++) {
		strata_store_path p = c->paths[i];
		if (!keep[i]) {
			free(p.path);
			free(p.nar_hash);
			free(p.refs);
			continue;
		}
		for (size_t j = 0; j < p.nrefs; j++)
			p.refs[j] = newidx[p.refs[j]];
		c->paths[w++] = p;
	}
	c->npaths = n;
	free(keep);
	free(stack);
	return 0;
}

int strata_closure_without(const strata_closure *c, char *const *paths, size_t npaths, strata_closure **out,
			   strata_error *err)
{
	bool *gone = strata_xcalloc(c->npaths + 1, sizeof *gone);
	for (size_t i = 0; i < npaths; i++) {
		long k = strata_closure_find(c, paths[i]);
		if (k >= 0)
			gone[k] = true;
	}
	strata_closure_builder *b = strata_closure_builder_create(c->store_dir);
	for (size_t i = 0; i < c->npaths; i++) {
		if (gone[i])
			continue;
		const strata_store_path *p = &c->paths[i];
		size_t e = strata_closure_builder_add(b, strata_xstrdup(p->path), p->nar_size, p->size_known);
		if (p->nar_hash)
			strata_closure_builder_set_hash(b, e, strata_xstrdup(p->nar_hash));
		if (p->self_ref)
			strata_closure_builder_add_ref(b, e, strata_xstrdup(p->path));
		for (size_t k = 0; k < p->nrefs; k++)
			if (!gone[p->refs[k]])
				strata_closure_builder_add_ref(b, e, strata_xstrdup(c->paths[p->refs[k]].path));
	}
	free(gone);
	return strata_closure_builder_finish(b, "the closure", out, err);
}
