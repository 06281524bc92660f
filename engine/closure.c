#define _GNU_SOURCE
#include "closure.h"
#include "strata_util.h"
#include "file.h"
#include "fs_tree.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N32(c) [c] = true
/* nix-base32's alphabet: digits and lowercase letters without e, o, u, t. */
static const bool nix32_table[256] = {
	N32('0'), N32('1'), N32('2'), N32('3'), N32('4'), N32('5'), N32('6'), N32('7'), N32('8'), N32('9'),
	N32('a'), N32('b'), N32('c'), N32('d'), N32('f'), N32('g'), N32('h'), N32('i'), N32('j'), N32('k'),
	N32('l'), N32('m'), N32('n'), N32('p'), N32('q'), N32('r'), N32('s'), N32('v'), N32('w'), N32('x'),
	N32('y'), N32('z'),
};
#undef N32

static bool is_nix32(unsigned char c)
{
	return nix32_table[c];
}

static bool name_char_ok(char c)
{
	/* The characters Nix allows in store path names. */
	return isalnum((unsigned char)c) || strchr("+-._?=", c) != NULL;
}

int strata_store_path_check(const char *path, const char *store_dir, strata_error *err)
{
	size_t sl = strlen(store_dir);
	if (strncmp(path, store_dir, sl) != 0 || path[sl] != '/')
		return strata_error_set(err, 0, "'%s' is not inside the store directory %s", path,
					store_dir);
	const char *base = path + sl + 1;
	size_t bl = strlen(base);
	if (bl < STRATA_HASH_LEN + 2 || base[STRATA_HASH_LEN] != '-')
		return strata_error_set(err, 0, "'%s' is not a store path (expected %s/<hash>-<name>)",
					path, store_dir);
	for (size_t i = 0; i < STRATA_HASH_LEN; i++)
		if (!is_nix32((unsigned char)base[i]))
			return strata_error_set(err, 0, "'%s' is not a store path (bad hash part)", path);
	const char *name = base + STRATA_HASH_LEN + 1;
	if (name[0] == '.')
		return strata_error_set(err, 0, "'%s' is not a store path (name starts with '.')", path);
	for (const char *p = name; *p; p++)
		if (!name_char_ok(*p))
			return strata_error_set(err, 0, "'%s' is not a store path (bad character in name)",
						path);
	return 0;
}

int strata_store_dir_normalise(const char *in, char **out, strata_error *err)
{
	if (in == NULL) {
		*out = strata_xstrdup(STRATA_DEFAULT_STORE_DIR);
		return 0;
	}
	if (in[0] != '/')
		return strata_error_set(err, 0, "store directory '%s' must be an absolute path", in);
	char *res = strata_xmalloc(strlen(in) + 1);
	size_t k = 0;
	for (const char *p = in; *p;) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
			free(res);
			return strata_error_set(err, 0, "store directory '%s' must not contain '.' or '..'", in);
		}
		if (len > 0) {
			res[k++] = '/';
			memcpy(res + k, p, len);
			k += len;
		}
		p = end;
	}
	res[k] = '\0';
	if (k == 0) {
		free(res);
		return strata_error_set(err, 0, "store directory '%s' cannot be the root directory", in);
	}
	*out = res;
	return 0;
}

/* ---------- building ---------- */

typedef struct raw_entry {
	char *path;
	uint64_t nar_size;
	bool size_known;
	char **refs; /* full paths */
	size_t nrefs;
} raw_entry;

typedef struct raw_list {
	raw_entry *v;
	size_t n, cap;
} raw_list;

static void raw_list_free(raw_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		for (size_t j = 0; j < l->v[i].nrefs; j++)
			free(l->v[i].refs[j]);
		free(l->v[i].refs);
	}
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static raw_entry *raw_list_add(raw_list *l)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = strata_xrealloc(l->v, l->cap * sizeof *l->v);
	}
	raw_entry *e = &l->v[l->n++];
	memset(e, 0, sizeof *e);
	return e;
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

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return (x > y) - (x < y);
}

static const raw_list *sort_raw;
static int cmp_raw_index(const void *a, const void *b)
{
	return strcmp(sort_raw->v[*(const size_t *)a].path, sort_raw->v[*(const size_t *)b].path);
}

/* Takes ownership of the strings in raw (it is emptied). */
static int closure_from_raw(raw_list *raw, const char *store_dir, const char *what,
			    strata_closure **out, strata_error *err)
{
	strata_closure *c = strata_xcalloc(1, sizeof *c);
	c->store_dir = strata_xstrdup(store_dir);
	c->paths = strata_xcalloc(raw->n, sizeof *c->paths);
	c->npaths = raw->n;
	/* order[i]: the raw entry that becomes paths[i] (sorted by path). */
	size_t *order = strata_xmalloc((raw->n ? raw->n : 1) * sizeof *order);
	for (size_t i = 0; i < raw->n; i++)
		order[i] = i;
	sort_raw = raw;
	qsort(order, raw->n, sizeof *order, cmp_raw_index);
	size_t sl = strlen(store_dir);
	int r = 0;
	for (size_t i = 0; i < c->npaths; i++) {
		strata_store_path *p = &c->paths[i];
		p->path = strata_steal_pointer(&raw->v[order[i]].path);
		p->nar_size = raw->v[order[i]].nar_size;
		p->hash = p->path + sl + 1;
		p->name = p->hash + STRATA_HASH_LEN + 1;
	}
	for (size_t i = 1; i < c->npaths; i++)
		if (strcmp(c->paths[i - 1].path, c->paths[i].path) == 0) {
			r = strata_error_set(err, 0, "%s: store path '%s' is listed twice", what, c->paths[i].path);
			goto out;
		}
	for (size_t i = 0; i < c->npaths; i++) {
		strata_store_path *p = &c->paths[i];
		raw_entry *e = &raw->v[order[i]];
		p->refs = strata_xmalloc((e->nrefs ? e->nrefs : 1) * sizeof *p->refs);
		for (size_t j = 0; j < e->nrefs; j++) {
			long k = strata_closure_find(c, e->refs[j]);
			if (k < 0) {
				r = strata_error_set(err, 0,
						     "%s: '%s' references '%s', which is not in the closure",
						     what, p->path, e->refs[j]);
				goto out;
			}
			if ((size_t)k == i)
				p->self_ref = true;
			else
				p->refs[p->nrefs++] = (size_t)k;
		}
		qsort(p->refs, p->nrefs, sizeof *p->refs, cmp_size);
		size_t u = 0;
		for (size_t j = 0; j < p->nrefs; j++)
			if (u == 0 || p->refs[u - 1] != p->refs[j])
				p->refs[u++] = p->refs[j];
		p->nrefs = u;
	}
out:
	free(order);
	raw_list_free(raw);
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
		free(c->paths[i].refs);
	}
	free(c->paths);
	free(c->store_dir);
	free(c);
}

/* ---------- JSON forms ---------- */

static int json_path_string(json_t *v, const char *store_dir, const char *what, const char *field,
			    char **out, strata_error *err)
{
	if (!json_is_string(v))
		return strata_error_set(err, 0, "%s: '%s' must be a string", what, field);
	const char *s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return strata_error_set(err, 0, "%s: '%s' contains a NUL byte", what, field);
	/* Newer path-info formats may give references as base names. */
	char *full = strchr(s, '/') ? strata_xstrdup(s) : strata_xasprintf("%s/%s", store_dir, s);
	int r = strata_store_path_check(full, store_dir, err);
	if (r < 0) {
		free(full);
		return strata_error_wrap(err, "%s", what);
	}
	*out = full;
	return 0;
}

static int parse_info(json_t *obj, const char *path_key, const char *store_dir, const char *file,
		      size_t index, raw_list *raw, strata_error *err)
{
	cleanup_free char *what = path_key ? strata_xasprintf("%s: '%s'", file, path_key)
					   : strata_xasprintf("%s: entry %zu", file, index);
	if (!json_is_object(obj))
		return strata_error_set(err, 0, "%s: expected an object", what);
	raw_entry *e = raw_list_add(raw);
	int r;
	if (path_key != NULL) {
		json_t *k = json_string(path_key);
		r = json_path_string(k, store_dir, what, "path", &e->path, err);
		json_decref(k);
	} else {
		json_t *p = json_object_get(obj, "path");
		if (p == NULL)
			return strata_error_set(err, 0, "%s: missing 'path'", what);
		r = json_path_string(p, store_dir, what, "path", &e->path, err);
	}
	if (r < 0)
		return r;
	json_t *ns = json_object_get(obj, "narSize");
	if (ns != NULL && !json_is_null(ns)) {
		if (!json_is_integer(ns) || json_integer_value(ns) < 0)
			return strata_error_set(err, 0, "%s: 'narSize' must be a non-negative integer",
						what);
		e->nar_size = (uint64_t)json_integer_value(ns);
		e->size_known = true;
	}
	json_t *refs = json_object_get(obj, "references");
	if (refs == NULL || json_is_null(refs))
		return 0;
	if (!json_is_array(refs))
		return strata_error_set(err, 0, "%s: 'references' must be an array", what);
	e->refs = strata_xcalloc(json_array_size(refs), sizeof *e->refs);
	size_t i;
	json_t *ref;
	json_array_foreach(refs, i, ref)
	{
		r = json_path_string(ref, store_dir, what, "references", &e->refs[e->nrefs], err);
		if (r < 0)
			return r;
		e->nrefs++;
	}
	return 0;
}

/* An array of {path: ...} objects: a closure list. */
static bool is_closure_list(json_t *v)
{
	return json_is_array(v) && json_array_size(v) > 0 && json_is_object(json_array_get(v, 0)) &&
	       json_object_get(json_array_get(v, 0), "path") != NULL;
}

static int parse_json(json_t *root, const char *store_dir, const char *file, raw_list *raw,
		      strata_error *err)
{
	if (json_is_object(root) && json_object_get(root, "path") == NULL) {
		/* The .attrs.json form: the closure is the one value that is a
		 * list of {path, ...} (exportReferencesGraph.<key>); the other
		 * keys (builder, outputs, ...) are the derivation's. */
		const char *key, *found = NULL;
		json_t *v, *list = NULL;
		json_object_foreach(root, key, v)
		{
			if (!is_closure_list(v))
				continue;
			if (list != NULL)
				return strata_error_set(err, 0, "%s: two closures in one file ('%s' and '%s')", file,
							found, key);
			list = v;
			found = key;
		}
		if (list != NULL)
			root = list;
		else if (json_object_size(root) == 1 && json_is_array(json_object_iter_value(json_object_iter(root))))
			root = json_object_iter_value(json_object_iter(root)); /* {"closure": []}: empty */
	}
	int r;
	if (json_is_array(root)) {
		size_t i;
		json_t *v;
		json_array_foreach(root, i, v)
		{
			if ((r = parse_info(v, NULL, store_dir, file, i, raw, err)) < 0)
				return r;
		}
		return 0;
	}
	if (json_is_object(root)) {
		const char *key;
		json_t *v;
		json_object_foreach(root, key, v)
		{
			if (json_is_null(v))
				return strata_error_set(err, 0, "%s: '%s' is not a valid store path (null)",
							file, key);
			if ((r = parse_info(v, key, store_dir, file, 0, raw, err)) < 0)
				return r;
		}
		return 0;
	}
	return strata_error_set(err, 0, "%s: expected a JSON array or object of store paths", file);
}

/* ---------- sizes and reference scanning ---------- */

/* The hash parts to look for, sorted, each with the index of its owner. */
typedef struct hash_entry {
	char hash[STRATA_HASH_LEN];
	size_t owner;
} hash_entry;

#define SCAN_BUF (1u << 20)

/* What the scan of one store path found, in memory linear in the closure:
 * found[] marks owners, hits[] lists them so that the next path resets only
 * what this one set (a closure of n paths must not cost n*n). */
typedef struct scan_ctx {
	hash_entry *hashes;
	size_t n;
	bool scan; /* false: sizes only, file contents are not read */
	bool *found;
	size_t *hits, nhits;
	uint64_t size;
	unsigned char *buf; /* SCAN_BUF + the carried tail of the previous read */
} scan_ctx;

static int cmp_hash_entry(const void *a, const void *b)
{
	return memcmp(((const hash_entry *)a)->hash, ((const hash_entry *)b)->hash, STRATA_HASH_LEN);
}

/* hash_of(i) gives the 32-char hash part of candidate i. */
static void scan_ctx_init(scan_ctx *s, size_t n, bool scan, const char *(*hash_of)(const void *, size_t),
			  const void *arg)
{
	s->n = n;
	s->scan = scan;
	s->hashes = strata_xmalloc((n ? n : 1) * sizeof *s->hashes);
	for (size_t i = 0; i < n; i++) {
		memcpy(s->hashes[i].hash, hash_of(arg, i), STRATA_HASH_LEN);
		s->hashes[i].owner = i;
	}
	qsort(s->hashes, n, sizeof *s->hashes, cmp_hash_entry);
	s->found = strata_xcalloc(n ? n : 1, sizeof *s->found);
	s->hits = strata_xmalloc((n ? n : 1) * sizeof *s->hits);
	s->buf = strata_xmalloc(SCAN_BUF + STRATA_HASH_LEN);
}

/* Starts the scan of the next store path. */
static void scan_reset(scan_ctx *s)
{
	for (size_t i = 0; i < s->nhits; i++)
		s->found[s->hits[i]] = false;
	s->nhits = 0;
	s->size = 0;
}

static void scan_ctx_fini(scan_ctx *s)
{
	free(s->hashes);
	free(s->found);
	free(s->hits);
	free(s->buf);
}

/* The owners found, in index order (for references, which are sorted). */
static void scan_sort_hits(scan_ctx *s)
{
	if (s->nhits > 1)
		qsort(s->hits, s->nhits, sizeof *s->hits, cmp_size);
}

/* Nix's scanner: slide a 32-byte window, skipping past any byte that cannot
 * be in a hash. */
static void scan_buf(scan_ctx *s, const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i + STRATA_HASH_LEN <= n) {
		size_t j = STRATA_HASH_LEN;
		while (j > 0 && is_nix32(p[i + j - 1]))
			j--;
		if (j > 0) {
			i += j;
			continue;
		}
		size_t lo = 0, hi = s->n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int r = memcmp(s->hashes[mid].hash, p + i, STRATA_HASH_LEN);
			if (r == 0) {
				size_t owner = s->hashes[mid].owner;
				if (!s->found[owner]) {
					s->found[owner] = true;
					s->hits[s->nhits++] = owner;
				}
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

/* Reads the file in buffers, never mapped: a file truncated while it is
 * scanned must be an error or a short read, not a SIGBUS. A hash that
 * straddles two reads is found because the last 31 bytes are carried over. */
static int scan_file(scan_ctx *s, const strata_fs_entry *e, strata_error *err)
{
	cleanup_close int fd = openat(e->dir_fd, strata_fs_entry_rel(e), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat now;
	if (fd < 0 && errno != ELOOP)
		return strata_error_set(err, errno, "cannot open '%s'", e->path);
	if (fd < 0 || fstat(fd, &now) < 0 || !S_ISREG(now.st_mode) || now.st_ino != e->st.st_ino ||
	    now.st_dev != e->st.st_dev)
		return strata_error_set(err, 0, "'%s' was replaced while it was read", e->path);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if ((uint64_t)e->st.st_size >= SCAN_BUF)
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	size_t carry = 0;
	for (;;) {
		if (strata_cancelled())
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
	scan_ctx *s = arg;
	if (s->scan)
		scan_buf(s, (const unsigned char *)e->name, strlen(e->name));
	/* Roughly what a NAR of the entry takes: deterministic, only used to
	 * order layering when the input had no narSize. */
	s->size += 96 + strlen(e->name);
	if (S_ISLNK(e->st.st_mode)) {
		if (s->scan)
			scan_buf(s, (const unsigned char *)e->link_target, strlen(e->link_target));
		s->size += strlen(e->link_target);
	} else if (S_ISREG(e->st.st_mode) && e->st.st_size > 0) {
		s->size += ((uint64_t)e->st.st_size + 7) & ~(uint64_t)7;
		if (s->scan)
			return scan_file(s, e, err);
	}
	return 0;
}

static int scan_path(scan_ctx *s, const char *path, strata_error *err)
{
	static const strata_fs_walk_ops ops = {.visit = scan_visit};
	scan_reset(s);
	return strata_fs_walk(path, &ops, s, err);
}

static const char *closure_hash_of(const void *arg, size_t i)
{
	return ((const strata_closure *)arg)->paths[i].hash;
}

/* scan_refs: also replaces the references of every path by the scan result. */
static int measure(strata_closure *c, const bool *size_known, bool scan_refs, strata_error *err)
{
	scan_ctx s = {0};
	scan_ctx_init(&s, c->npaths, scan_refs, closure_hash_of, c);
	int r = 0;
	for (size_t i = 0; i < c->npaths && r == 0; i++) {
		strata_store_path *p = &c->paths[i];
		if (!scan_refs && size_known[i])
			continue;
		if ((r = scan_path(&s, p->path, err)) < 0)
			break;
		if (!size_known || !size_known[i])
			p->nar_size = s.size;
		if (scan_refs) {
			scan_sort_hits(&s);
			free(p->refs);
			p->refs = strata_xmalloc((s.nhits ? s.nhits : 1) * sizeof *p->refs);
			p->nrefs = 0;
			p->self_ref = s.found[i];
			for (size_t k = 0; k < s.nhits; k++)
				if (s.hits[k] != i)
					p->refs[p->nrefs++] = s.hits[k];
		}
	}
	scan_ctx_fini(&s);
	return r;
}

/* ---------- discovery: the closure of some roots, by scanning ---------- */

typedef struct listing {
	char **names; /* "<hash>-<name>" entries of the store dir */
	size_t n;
} listing;

static const char *listing_hash_of(const void *arg, size_t i)
{
	return ((const listing *)arg)->names[i];
}

int strata_closure_discover(char *const *roots, size_t nroots, const char *store_dir,
			    strata_closure **out, strata_error *err)
{
	listing l = {0};
	cleanup_close int dfd = open(store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return strata_error_set(err, errno, "cannot list the store '%s'", store_dir);
	char **all = NULL;
	size_t nall = 0;
	int r = strata_file_list_dir(dfd, store_dir, &all, &nall, err);
	if (r < 0)
		return r;
	l.names = strata_xmalloc((nall ? nall : 1) * sizeof *l.names);
	for (size_t i = 0; i < nall; i++) {
		cleanup_free char *full = strata_xasprintf("%s/%s", store_dir, all[i]);
		if (all[i][0] == '.' || strata_store_path_check(full, store_dir, NULL) < 0)
			free(all[i]);
		else
			l.names[l.n++] = all[i];
	}
	free(all);

	scan_ctx s = {0};
	scan_ctx_init(&s, l.n, true, listing_hash_of, &l);
	/* queue[]: listing indices in discovery order; refs per queued entry */
	size_t *queue = strata_xmalloc((l.n ? l.n : 1) * sizeof *queue);
	bool *queued = strata_xcalloc(l.n ? l.n : 1, sizeof *queued);
	size_t nq = 0;
	raw_list raw = {0};
	for (size_t i = 0; i < nroots && r == 0; i++) {
		if ((r = strata_store_path_check(roots[i], store_dir, err)) < 0)
			break;
		const char *base = roots[i] + strlen(store_dir) + 1;
		char **hit = l.n ? bsearch(&base, l.names, l.n, sizeof *l.names, strata_cmp_strp) : NULL;
		if (hit == NULL) {
			r = strata_error_set(err, ENOENT, "store path '%s'", roots[i]);
			break;
		}
		size_t k = (size_t)(hit - l.names);
		if (!queued[k]) {
			queued[k] = true;
			queue[nq++] = k;
		}
	}
	for (size_t qi = 0; qi < nq && r == 0; qi++) {
		cleanup_free char *path = strata_xasprintf("%s/%s", store_dir, l.names[queue[qi]]);
		if ((r = scan_path(&s, path, err)) < 0)
			break;
		raw_entry *e = raw_list_add(&raw);
		e->path = strata_xstrdup(path);
		e->nar_size = s.size;
		e->size_known = true;
		scan_sort_hits(&s);
		for (size_t h = 0; h < s.nhits; h++) {
			size_t k = s.hits[h];
			e->refs = strata_xrealloc(e->refs, (e->nrefs + 1) * sizeof *e->refs);
			e->refs[e->nrefs++] = strata_xasprintf("%s/%s", store_dir, l.names[k]);
			if (!queued[k]) {
				queued[k] = true;
				queue[nq++] = k;
			}
		}
	}
	scan_ctx_fini(&s);
	free(queue);
	free(queued);
	for (size_t i = 0; i < l.n; i++)
		free(l.names[i]);
	free(l.names);
	if (r < 0) {
		raw_list_free(&raw);
		return r;
	}
	return closure_from_raw(&raw, store_dir, "store scan", out, err);
}

/* ---------- entry points ---------- */

/* The text form: references found by scanning the listed paths. */
static int closure_from_paths(char *const *paths, size_t n, const char *store_dir,
			      strata_closure **out, strata_error *err)
{
	raw_list raw = {0};
	for (size_t i = 0; i < n; i++) {
		int r = strata_store_path_check(paths[i], store_dir, err);
		if (r < 0) {
			raw_list_free(&raw);
			return r;
		}
		raw_list_add(&raw)->path = strata_xstrdup(paths[i]);
	}
	strata_closure *c = NULL;
	int r = closure_from_raw(&raw, store_dir, "store paths", &c, err);
	if (r < 0)
		return r;
	if ((r = measure(c, NULL, true, err)) < 0) {
		strata_closure_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int strata_closure_load(const char *file, const char *store_dir, strata_closure **out,
			strata_error *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int r = strata_file_read_all(AT_FDCWD, file, 0, STRATA_FILE_MAX_CLOSURE, "closure file", &buf, &len, err);
	if (r < 0)
		return r;
	return strata_closure_parse(buf, len, file, store_dir, out, err);
}

int strata_closure_parse(char *buf, size_t len, const char *file, const char *store_dir,
			 strata_closure **out, strata_error *err)
{
	int r;
	if (strlen(buf) != len)
		return strata_error_set(err, 0, "%s: contains NUL bytes; not a closure file", file);
	const char *p = buf;
	while (*p && isspace((unsigned char)*p))
		p++;
	if (*p == '\0')
		return strata_error_set(err, 0, "%s: empty closure file", file);

	if (*p == '[' || *p == '{') {
		json_error_t jerr;
		json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
		if (root == NULL)
			return strata_error_set(err, 0, "%s:%d:%d: invalid JSON: %s", file, jerr.line,
						jerr.column, jerr.text);
		raw_list raw = {0};
		r = parse_json(root, store_dir, file, &raw, err);
		json_decref(root);
		if (r < 0) {
			raw_list_free(&raw);
			return r;
		}
		if (raw.n == 0) {
			raw_list_free(&raw);
			return strata_error_set(err, 0, "%s: the closure holds no store paths", file);
		}
		bool *known = strata_xcalloc(raw.n, sizeof *known);
		/* Remember which sizes came with the input, by path (order changes). */
		char **known_paths = strata_xcalloc(raw.n, sizeof *known_paths);
		size_t nknown = 0;
		for (size_t i = 0; i < raw.n; i++)
			if (raw.v[i].size_known)
				known_paths[nknown++] = strata_xstrdup(raw.v[i].path);
		strata_closure *c = NULL;
		r = closure_from_raw(&raw, store_dir, file, &c, err);
		if (r == 0) {
			for (size_t i = 0; i < nknown; i++) {
				long k = strata_closure_find(c, known_paths[i]);
				assert(k >= 0);
				known[k] = true;
			}
			bool all = true;
			for (size_t i = 0; i < c->npaths; i++)
				all &= known[i];
			if (!all)
				r = measure(c, known, false, err);
		}
		for (size_t i = 0; i < nknown; i++)
			free(known_paths[i]);
		free(known_paths);
		free(known);
		if (r < 0) {
			strata_closure_free(c);
			return r;
		}
		*out = c;
		return 0;
	}

	/* Text form: one store path per line. */
	size_t cap = 64, n = 0;
	char **paths = strata_xmalloc(cap * sizeof *paths);
	char *save = NULL;
	size_t lineno = 0;
	r = 0;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		while (*line && isspace((unsigned char)*line))
			line++;
		size_t l = strlen(line);
		while (l > 0 && isspace((unsigned char)line[l - 1]))
			line[--l] = '\0';
		if (l == 0)
			continue;
		if (n == cap) {
			cap *= 2;
			paths = strata_xrealloc(paths, cap * sizeof *paths);
		}
		paths[n++] = line;
	}
	if (n == 0)
		r = strata_error_set(err, 0, "%s: the closure holds no store paths", file);
	else if ((r = closure_from_paths(paths, n, store_dir, out, err)) < 0)
		strata_error_wrap(err, "%s", file);
	free(paths);
	return r;
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
