#define _GNU_SOURCE
#include "store_scan.h"
#include "alloc.h"
#include "file.h"
#include "fs_tree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCAN_BUF (1u << 20)

/* The hash parts to look for, sorted, each with the index of its owner. */
typedef struct hash_entry {
	char hash[STRATA_HASH_LEN];
	size_t owner;
} hash_entry;

struct strata_store_scan_table {
	hash_entry *hashes;
	size_t n;
};

static int cmp_hash_entry(const void *a, const void *b)
{
	return memcmp(((const hash_entry *)a)->hash, ((const hash_entry *)b)->hash, STRATA_HASH_LEN);
}

strata_store_scan_table *strata_store_scan_table_create(size_t n, const char *(*hash_of)(const void *, size_t),
							const void *arg)
{
	strata_store_scan_table *t = strata_xcalloc(1, sizeof *t);
	t->n = n;
	t->hashes = strata_xmalloc((n ? n : 1) * sizeof *t->hashes);
	for (size_t i = 0; i < n; i++) {
		memcpy(t->hashes[i].hash, hash_of(arg, i), STRATA_HASH_LEN);
		t->hashes[i].owner = i;
	}
	qsort(t->hashes, n, sizeof *t->hashes, cmp_hash_entry);
	return t;
}

void strata_store_scan_table_free(strata_store_scan_table *t)
{
	if (t == NULL)
		return;
	free(t->hashes);
	free(t);
}

/* One scan's state: the owners found so far, kept unique in a small open
 * addressing set that grows with the hits (not with the candidates). */
typedef struct scan {
	const strata_store_scan_table *t;
	const strata_cancel *cancel;
	bool refs;
	size_t *set; /* owner + 1, 0 empty */
	size_t cap, nhits;
	uint64_t size;
	unsigned char *buf; /* SCAN_BUF + the carried tail of the previous read */
} scan;

static void hit(scan *s, size_t owner)
{
	if (2 * (s->nhits + 1) > s->cap) {
		size_t *old = s->set, oc = s->cap;
		s->cap = s->cap ? 2 * s->cap : 64;
		s->set = strata_xcalloc(s->cap, sizeof *s->set);
		s->nhits = 0;
		for (size_t i = 0; i < oc; i++)
			if (old[i])
				hit(s, old[i] - 1);
		free(old);
	}
	for (size_t i = (owner * 0x9e3779b97f4a7c15ull) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (s->set[i] == owner + 1)
			return;
		if (s->set[i] == 0) {
			s->set[i] = owner + 1;
			s->nhits++;
			return;
		}
	}
}

/* Nix's scanner: slide a 32-byte window, skipping past any byte that cannot
 * be in a hash. */
static void scan_buf(scan *s, const unsigned char *p, size_t n)
{
	const strata_store_scan_table *t = s->t;
	size_t i = 0;
	while (i + STRATA_HASH_LEN <= n) {
		size_t j = STRATA_HASH_LEN;
		while (j > 0 && strata_store_is_nix32(p[i + j - 1]))
			j--;
		if (j > 0) {
			i += j;
			continue;
		}
		size_t lo = 0, hi = t->n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int r = memcmp(t->hashes[mid].hash, p + i, STRATA_HASH_LEN);
			if (r == 0) {
				hit(s, t->hashes[mid].owner);
				break;
			}
			if (r < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		i++;
	}
}

/* A hash that straddles two reads is found because the last 31 bytes are
 * carried over to the next buffer. */
static int scan_file(scan *s, const strata_fs_entry *e, strata_error *err)
{
	cleanup_close int owned = -1;
	int fd = strata_fs_entry_open(e, &owned, err);
	if (fd < 0)
		return fd;
	if ((uint64_t)e->st.st_size >= SCAN_BUF)
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (s->buf == NULL)
		s->buf = strata_xmalloc(SCAN_BUF + STRATA_HASH_LEN);
	size_t carry = 0;
	for (;;) {
		if (strata_cancel_requested(s->cancel))
			return strata_error_set(err, 0, "interrupted");
		ssize_t n = read(fd, s->buf + carry, SCAN_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return strata_error_set(err, errno, "cannot read '%s'", e->path);
		if (n == 0)
			return 0;
		size_t len = carry + (size_t)n;
		scan_buf(s, s->buf, len);
		carry = len < STRATA_HASH_LEN - 1 ? len : STRATA_HASH_LEN - 1;
		memmove(s->buf, s->buf + len - carry, carry);
	}
}

static int scan_visit(void *arg, const strata_fs_entry *e, strata_error *err)
{
	scan *s = arg;
	/* Below the root only: as in a NAR, the store path's own name (which
	 * holds its own hash) is not part of what it mentions. */
	if (s->refs && e->depth > 0)
		scan_buf(s, (const unsigned char *)e->name, strlen(e->name));
	/* Roughly what a NAR of the entry takes: deterministic. */
	s->size += 96 + strlen(e->name);
	if (S_ISLNK(e->st.st_mode)) {
		if (s->refs)
			scan_buf(s, (const unsigned char *)e->link_target, strlen(e->link_target));
		s->size += strlen(e->link_target);
	} else if (S_ISREG(e->st.st_mode) && e->st.st_size > 0) {
		s->size += ((uint64_t)e->st.st_size + 7) & ~(uint64_t)7;
		if (s->refs)
			return scan_file(s, e, err);
	}
	return 0;
}

static int cmp_index(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return (x > y) - (x < y);
}

int strata_store_scan_path(const strata_store_scan_table *t, const char *path, bool refs,
			   const strata_cancel *cancel, strata_store_scan_result *res, strata_error *err)
{
	scan s = {.t = t, .cancel = cancel, .refs = refs};
	strata_fs_walk_ops ops = {.visit = scan_visit, .flags = STRATA_FS_OPEN_FILES, .cancel = cancel};
	int r = strata_fs_walk(path, &ops, &s, err);
	free(s.buf);
	if (r < 0) {
		free(s.set);
		return r;
	}
	res->nar_size = s.size;
	res->hits = strata_xmalloc((s.nhits ? s.nhits : 1) * sizeof *res->hits);
	res->nhits = 0;
	for (size_t i = 0; i < s.cap; i++)
		if (s.set[i])
			res->hits[res->nhits++] = s.set[i] - 1;
	free(s.set);
	qsort(res->hits, res->nhits, sizeof *res->hits, cmp_index);
	return 0;
}

static const char *closure_hash_of(const void *arg, size_t i)
{
	return ((const strata_closure *)arg)->paths[i].hash;
}

/* One path of a closure scan, as a task: its own result and error, so that
 * the closure takes them in path order whichever task ends first. */
typedef struct scan_job {
	const strata_store_scan_table *t;
	const char *path;
	bool refs;
	const strata_cancel *cancel;
	strata_store_scan_result res;
	strata_error err;
	int rc;
} scan_job;

static void scan_task(void *arg)
{
	scan_job *j = arg;
	j->rc = strata_store_scan_path(j->t, j->path, j->refs, j->cancel, &j->res, &j->err);
}

static void take_result(strata_store_path *p, size_t i, const strata_store_scan_result *res, bool refs)
{
	if (!p->size_known)
		p->nar_size = res->nar_size;
	if (!refs) {
		free(res->hits);
		return;
	}
	free(p->refs);
	p->refs = res->hits;
	p->nrefs = 0;
	p->self_ref = false;
	for (size_t k = 0; k < res->nhits; k++) {
		if (res->hits[k] == i)
			p->self_ref = true;
		else
			p->refs[p->nrefs++] = res->hits[k];
	}
}

int strata_store_scan_closure(strata_closure *c, bool refs, strata_pool *pool, const strata_cancel *cancel,
			      strata_error *err)
{
	strata_store_scan_table *t = strata_store_scan_table_create(c->npaths, closure_hash_of, c);
	scan_job *jobs = strata_xcalloc(c->npaths ? c->npaths : 1, sizeof *jobs);
	strata_group g = STRATA_GROUP_INIT;
	for (size_t i = 0; i < c->npaths; i++) {
		scan_job *j = &jobs[i];
		*j = (scan_job){.t = t, .path = c->paths[i].path, .refs = refs, .cancel = cancel, .err = STRATA_ERROR_INIT};
		if (!refs && c->paths[i].size_known) {
			j->path = NULL; /* nothing to learn */
		} else if (pool) {
			strata_pool_spawn(pool, &g, scan_task, j);
		} else {
			scan_task(j);
			if (j->rc < 0)
				break; /* the jobs after it stay zero: never run */
		}
	}
	if (pool)
		strata_pool_wait(pool, &g);
	/* The first failure in path order, whichever task met it first. */
	int r = 0;
	for (size_t i = 0; i < c->npaths; i++) {
		scan_job *j = &jobs[i];
		if (r == 0 && j->rc < 0) {
			strata_error_move(err, &j->err);
			r = j->rc;
		} else if (j->path && j->rc == 0) {
			if (r == 0)
				take_result(&c->paths[i], i, &j->res, refs);
			else
				free(j->res.hits);
		}
		strata_error_clear(&j->err);
	}
	free(jobs);
	strata_store_scan_table_free(t);
	return r;
}

/* ---------- discovery ---------- */

typedef struct listing {
	char **names; /* "<hash>-<name>" entries of the store dir, sorted */
	size_t n;
} listing;

static const char *listing_hash_of(const void *arg, size_t i)
{
	return ((const listing *)arg)->names[i];
}

static int list_store(const char *store_dir, listing *l, strata_error *err)
{
	cleanup_close int dfd = open(store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return strata_error_set(err, errno, "cannot list the store '%s'", store_dir);
	char **all = NULL;
	size_t nall = 0;
	int r = strata_file_list_dir(dfd, store_dir, &all, &nall, err);
	if (r < 0)
		return r;
	l->names = strata_xmalloc((nall ? nall : 1) * sizeof *l->names);
	for (size_t i = 0; i < nall; i++) {
		cleanup_free char *full = strata_xasprintf("%s/%s", store_dir, all[i]);
		if (all[i][0] == '.' || strata_store_path_check(full, store_dir, NULL) < 0)
			free(all[i]);
		else
			l->names[l->n++] = all[i];
	}
	free(all);
	return 0;
}

/* Queues the listing entries of roots; the walk adds what they mention. */
static int queue_roots(char *const *roots, size_t nroots, const char *store_dir, const listing *l, size_t *queue,
		       bool *queued, size_t *nq, strata_error *err)
{
	for (size_t i = 0; i < nroots; i++) {
		int r = strata_store_path_check(roots[i], store_dir, err);
		if (r < 0)
			return r;
		const char *base = roots[i] + strlen(store_dir) + 1;
		char **found = l->n ? bsearch(&base, l->names, l->n, sizeof *l->names, strata_file_cmp_names) : NULL;
		if (found == NULL)
			return strata_error_set(err, ENOENT, "store path '%s'", roots[i]);
		size_t k = (size_t)(found - l->names);
		if (!queued[k]) {
			queued[k] = true;
			queue[(*nq)++] = k;
		}
	}
	return 0;
}

int strata_store_scan_discover(char *const *roots, size_t nroots, const char *store_dir,
			       const strata_cancel *cancel, strata_closure **out, strata_error *err)
{
	listing l = {0};
	int r = list_store(store_dir, &l, err);
	if (r < 0)
		return r;
	strata_store_scan_table *t = strata_store_scan_table_create(l.n, listing_hash_of, &l);
	size_t *queue = strata_xmalloc((l.n ? l.n : 1) * sizeof *queue); /* in discovery order */
	bool *queued = strata_xcalloc(l.n ? l.n : 1, sizeof *queued);
	size_t nq = 0;
	strata_closure_builder *b = strata_closure_builder_create(store_dir);
	r = queue_roots(roots, nroots, store_dir, &l, queue, queued, &nq, err);
	for (size_t qi = 0; qi < nq && r == 0; qi++) {
		char *path = strata_xasprintf("%s/%s", store_dir, l.names[queue[qi]]);
		strata_store_scan_result res;
		if ((r = strata_store_scan_path(t, path, true, cancel, &res, err)) < 0) {
			free(path);
			break;
		}
		size_t e = strata_closure_builder_add(b, path, res.nar_size, true);
		for (size_t h = 0; h < res.nhits; h++) {
			size_t k = res.hits[h];
			strata_closure_builder_add_ref(b, e, strata_xasprintf("%s/%s", store_dir, l.names[k]));
			if (!queued[k]) {
				queued[k] = true;
				queue[nq++] = k;
			}
		}
		free(res.hits);
	}
	strata_store_scan_table_free(t);
	free(queue);
	free(queued);
	strata_file_free_names(l.names, l.n);
	if (r < 0) {
		strata_closure_builder_free(b);
		return r;
	}
	return strata_closure_builder_finish(b, "store scan", out, err);
}
