#define _GNU_SOURCE
#include "tar_index.h"
#include "alloc.h"
#include "utf8.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 512
#define MAX_EXTENDED (1u << 20) /* pax or long-name data of one member */
#define MAX_NESTING 8           /* extended headers before one member */

/* Records in tarfile's dict order; keys and values owned. */
typedef struct rec {
	char *key, *value;
	size_t len;
} rec;

typedef struct dict {
	rec *v;
	size_t n, cap;
} dict;

/* A member while it is read: its strings owned and mutable. */
typedef struct work {
	strata_tar_header h; /* numbers and type; strings below */
	char *name, *linkname, *uname, *gname;
	dict pax;
	uint64_t data_offset, header_offset;
} work;

typedef struct reader {
	int fd;
	const char *what;
	dict global; /* 'g' records so far */
} reader;

typedef struct name_ref {
	const char *name;
	size_t i;
} name_ref;

struct strata_tar_index {
	work *w;
	size_t n, cap;
	strata_tar_member *m;            /* published views of w */
	strata_tar_pax_record *records; /* every member's, one array */
	name_ref *by_name;               /* sorted by (name, index) */
};

static void dict_set(dict *d, const char *key, size_t klen, const char *value, size_t vlen)
{
	for (size_t i = 0; i < d->n; i++)
		if (strlen(d->v[i].key) == klen && memcmp(d->v[i].key, key, klen) == 0) {
			free(d->v[i].value);
			d->v[i].value = strata_xstrndup(value, vlen);
			d->v[i].len = vlen;
			return;
		}
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 8;
		d->v = strata_xrealloc(d->v, d->cap * sizeof *d->v);
	}
	d->v[d->n++] = (rec){strata_xstrndup(key, klen), strata_xstrndup(value, vlen), vlen};
}

static const rec *dict_get(const dict *d, const char *key)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].key, key) == 0)
			return &d->v[i];
	return NULL;
}

static void dict_copy(dict *dst, const dict *src)
{
	*dst = (dict){0};
	for (size_t i = 0; i < src->n; i++)
		dict_set(dst, src->v[i].key, strlen(src->v[i].key), src->v[i].value, src->v[i].len);
}

static void dict_fini(dict *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].key);
		free(d->v[i].value);
	}
	free(d->v);
	*d = (dict){0};
}

static void work_fini(work *m)
{
	free(m->name);
	free(m->linkname);
	free(m->uname);
	free(m->gname);
	dict_fini(&m->pax);
	memset(m, 0, sizeof *m);
}

static void set_str(char **field, char *s)
{
	free(*field);
	*field = s;
}

static ssize_t pread_full(int fd, void *buf, size_t n, uint64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

/* A numeric field as tarfile's nti: base-256 (0x80 first), else octal
 * between optional spaces, up to a NUL. */
static int parse_num(const unsigned char *f, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (f[0] == 0x80 || f[0] == 0xff) {
		if (f[0] == 0xff)
			return -1; /* negative */
		for (size_t i = 1; i < n; i++) {
			if (v >> 56)
				return -1;
			v = (v << 8) | f[i];
		}
		*out = v;
		return 0;
	}
	size_t end = 0;
	while (end < n && f[end] != '\0')
		end++;
	size_t i = 0;
	while (i < end && strchr(" \t\n\r\v\f", f[i]))
		i++;
	while (end > i && strchr(" \t\n\r\v\f", f[end - 1]))
		end--;
	for (; i < end; i++) {
		if (f[i] < '0' || f[i] > '7' || (v >> 61))
			return -1;
		v = (v << 3) | (uint64_t)(f[i] - '0');
	}
	*out = v;
	return 0;
}

static char *nts(const unsigned char *f, size_t n)
{
	size_t l = 0;
	while (l < n && f[l] != '\0')
		l++;
	return strata_xstrndup((const char *)f, l);
}

static bool checksum_ok(const unsigned char *b)
{
	uint64_t want;
	if (parse_num(b + 148, 8, &want) < 0)
		return false;
	long u = 8 * ' ', s = 8 * ' ';
	for (size_t i = 0; i < BLOCK; i++)
		if (i < 148 || i >= 156) {
			u += b[i];
			s += (signed char)b[i];
		}
	return (long)want == u || (long)want == s;
}

static bool is_file_type(char t)
{
	return t == '0' || t == '\0' || t == '7';
}

/* tarfile skips the data of regular members and of types it does not know. */
static bool skips_data(char t)
{
	return is_file_type(t) || !memchr("123456LKS", t, 9);
}

static uint64_t blocks(uint64_t size)
{
	return (size + BLOCK - 1) / BLOCK * BLOCK;
}

static void rstrip_slashes(char *s)
{
	size_t l = strlen(s);
	while (l > 0 && s[l - 1] == '/')
		s[--l] = '\0';
}

/* "<decimal>" (uid, gid, size) or "[-]<decimal>[.<decimal>]" (mtime,
 * rounded half to even; a negative time becomes 0, as the ustar field of
 * a value tarfile cannot store). */
static int pax_number(const rec *r, bool real, uint64_t *out)
{
	const char *v = r->value;
	size_t n = r->len, i = 0;
	if (real && n > 0 && v[0] == '-')
		i++;
	size_t digits = 0;
	while (i < n && v[i] >= '0' && v[i] <= '9')
		i++, digits++;
	if (real && i < n && v[i] == '.')
		for (i++; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
		}
	if (digits == 0 || i != n || n > 30)
		return -1;
	if (real) {
		double d = nearbyint(strtod(v, NULL));
		if (d >= 18446744073709551616.0)
			return -1;
		*out = d < 0 ? 0 : (uint64_t)d;
		return 0;
	}
	errno = 0;
	unsigned long long x = strtoull(v, NULL, 10);
	if (errno)
		return -1;
	*out = x;
	return 0;
}

/* tarfile's _apply_pax_info: the fields the records override, and the
 * records themselves (a copy) kept for writing the member again. */
static int apply_pax(work *m, const dict *d, const reader *rd, strata_error *err)
{
	for (size_t i = 0; i < d->n; i++) {
		const rec *r = &d->v[i];
		const char *k = r->key;
		if (strncmp(k, "GNU.sparse.", 11) == 0)
			return strata_error_set(err, 0, "%s: '%s': sparse members are not supported", rd->what, m->name);
		static const char *const strs[] = {"path", "linkpath", "uname", "gname"};
		static const char *const nums[] = {"size", "uid", "gid", "mtime"};
		for (size_t s = 0; s < 4; s++)
			if (strcmp(k, strs[s]) == 0) {
				if (memchr(r->value, '\0', r->len))
					return strata_error_set(err, 0, "%s: a pax %s holds a NUL byte", rd->what, k);
				char *v = strata_xstrndup(r->value, r->len);
				if (s == 0)
					rstrip_slashes(v);
				set_str(s == 0 ? &m->name : s == 1 ? &m->linkname : s == 2 ? &m->uname : &m->gname, v);
			}
		for (size_t s = 0; s < 4; s++)
			if (strcmp(k, nums[s]) == 0) {
				uint64_t *f = s == 0 ? &m->h.size : s == 1 ? &m->h.uid : s == 2 ? &m->h.gid : &m->h.mtime;
				if (pax_number(r, s == 3, f) < 0)
					return strata_error_set(err, 0, "%s: '%s': bad pax %s", rd->what, m->name, k);
			}
	}
	dict_fini(&m->pax);
	dict_copy(&m->pax, d);
	return 0;
}

/* "<len> <key>=<value>\n" records filling exactly n bytes, into d; a
 * hdrcharset record takes its place first, as tarfile finds it before the
 * others. */
static int parse_records(const char *p, size_t n, dict *d, const reader *rd, strata_error *err)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t pos = 0; pos < n;) {
			size_t len = 0, i = pos;
			while (i < n && p[i] >= '0' && p[i] <= '9' && len < MAX_EXTENDED)
				len = len * 10 + (size_t)(p[i++] - '0');
			const char *eq = i < n && p[i] == ' ' ? memchr(p + i + 1, '=', n - i - 1) : NULL;
			if (i == pos || len == 0 || eq == NULL || len > n - pos || eq == p + i + 1 ||
			    eq >= p + pos + len - 1 || p[pos + len - 1] != '\n')
				return strata_error_set(err, 0, "%s: malformed pax record at byte %zu", rd->what, pos);
			const char *key = p + i + 1, *val = eq + 1;
			size_t klen = (size_t)(eq - key), vlen = (size_t)(p + pos + len - 1 - val);
			if (memchr(key, '\0', klen) || !strata_utf8_valid(key, klen))
				return strata_error_set(err, 0, "%s: a pax key is not UTF-8", rd->what);
			bool charset = klen == 10 && memcmp(key, "hdrcharset", 10) == 0;
			if (pass == 1 || (charset && !dict_get(d, "hdrcharset")))
				dict_set(d, key, klen, val, vlen);
			pos += len;
		}
	}
	return 0;
}

static int read_extended(const reader *rd, uint64_t off, uint64_t size, char **out, strata_error *err)
{
	if (size > MAX_EXTENDED)
		return strata_error_set(err, 0, "%s: an extended header of %llu bytes (at most %u)", rd->what,
					(unsigned long long)size, MAX_EXTENDED);
	char *buf = strata_xmalloc(size + 1);
	ssize_t k = pread_full(rd->fd, buf, size, off);
	if (k != (ssize_t)size) {
		free(buf);
		return k < 0 ? strata_error_set(err, errno, "cannot read %s", rd->what)
			     : strata_error_set(err, 0, "%s: truncated", rd->what);
	}
	buf[size] = '\0';
	*out = buf;
	return 0;
}

/* A ustar/GNU/v7 header as tarfile's frombuf reads it. */
static int builtin_member(const unsigned char *b, const reader *rd, uint64_t off, work *m, strata_error *err)
{
	strata_tar_header *h = &m->h;
	uint64_t num[5];
	static const size_t at[5] = {100, 108, 116, 124, 136}, len[5] = {8, 8, 8, 12, 12};
	for (size_t i = 0; i < 5; i++)
		if (parse_num(b + at[i], len[i], &num[i]) < 0)
			return strata_error_set(err, 0, "%s: bad number in the header at offset %llu", rd->what,
						(unsigned long long)off);
	h->type = (char)b[156];
	if ((h->type == STRATA_TAR_CHR || h->type == STRATA_TAR_BLK) &&
	    (parse_num(b + 329, 8, &h->devmajor) < 0 || parse_num(b + 337, 8, &h->devminor) < 0))
		return strata_error_set(err, 0, "%s: bad device number at offset %llu", rd->what, (unsigned long long)off);
	h->mode = num[0], h->uid = num[1], h->gid = num[2], h->size = num[3], h->mtime = num[4];
	char *name = nts(b, 100);
	cleanup_free char *prefix = nts(b + 345, 155);
	if (h->type == '\0' && *name && name[strlen(name) - 1] == '/')
		h->type = STRATA_TAR_DIR;
	if (h->type == STRATA_TAR_DIR)
		rstrip_slashes(name);
	if (*prefix && h->type != 'L' && h->type != 'K' && h->type != 'S') {
		char *joined = strata_xasprintf("%s/%s", prefix, name);
		free(name);
		name = joined;
	}
	m->name = name;
	m->linkname = nts(b + 157, 100);
	m->uname = nts(b + 265, 32);
	m->gname = nts(b + 297, 32);
	m->header_offset = off;
	m->data_offset = off + BLOCK;
	return 0;
}

/* One member from *off: 1 (m filled, *off past it), 0 at the end of the
 * archive, negative on error. depth counts the extended headers before. */
static int read_member(reader *rd, uint64_t *off, int depth, work *m, strata_error *err)
{
	unsigned char b[BLOCK];
	ssize_t k = pread_full(rd->fd, b, BLOCK, *off);
	if (k < 0)
		return strata_error_set(err, errno, "cannot read %s", rd->what);
	bool zero = k == BLOCK;
	for (size_t i = 0; zero && i < BLOCK; i++)
		zero = b[i] == 0;
	if ((k == 0 || zero) && depth == 0)
		return 0;
	if (k == 0 || zero || depth > MAX_NESTING)
		return strata_error_set(err, 0, "%s: no member after an extended header at offset %llu", rd->what,
					(unsigned long long)*off);
	if (k < BLOCK)
		return *off == 0 ? strata_error_set(err, 0, "%s: not a tar archive (too short)", rd->what)
				 : strata_error_set(err, 0, "%s: truncated header at offset %llu", rd->what,
						    (unsigned long long)*off);
	if (!checksum_ok(b))
		return strata_error_set(err, 0, "%s: not a tar archive (bad header checksum at offset %llu)", rd->what,
					(unsigned long long)*off);
	uint64_t hdr_off = *off, size;
	if (parse_num(b + 124, 12, &size) < 0)
		return strata_error_set(err, 0, "%s: bad size at offset %llu", rd->what, (unsigned long long)hdr_off);
	char type = (char)b[156];
	*off += BLOCK;
	if (type == 'S')
		return strata_error_set(err, 0, "%s: GNU sparse members are not supported", rd->what);
	if (type != 'L' && type != 'K' && type != 'x' && type != 'g' && type != 'X') {
		int r = builtin_member(b, rd, hdr_off, m, err);
		if (r < 0)
			return r;
		/* the offset from the header's size, before any pax record */
		*off += skips_data(m->h.type) ? blocks(m->h.size) : 0;
		return apply_pax(m, &rd->global, rd, err) < 0 ? -1 : 1;
	}
	cleanup_free char *data = NULL;
	if (read_extended(rd, *off, size, &data, err) < 0)
		return -1;
	*off += blocks(size);
	if (type == 'L' || type == 'K') {
		int r = read_member(rd, off, depth + 1, m, err);
		if (r <= 0)
			return r < 0 ? r : -1;
		set_str(type == 'L' ? &m->name : &m->linkname, nts((unsigned char *)data, size));
		if (m->h.type == STRATA_TAR_DIR)
			rstrip_slashes(m->name);
		m->header_offset = hdr_off;
		return 1;
	}
	dict local = {0};
	dict *target = type == 'g' ? &rd->global : &local;
	if (type != 'g')
		dict_copy(&local, &rd->global);
	int r = parse_records(data, size, target, rd, err);
	if (r == 0 && (r = read_member(rd, off, depth + 1, m, err)) == 0)
		r = strata_error_set(err, 0, "%s: no member after a pax header", rd->what);
	if (r > 0 && type != 'g') {
		r = apply_pax(m, &local, rd, err) < 0 ? -1 : 1;
		m->header_offset = hdr_off;
		if (dict_get(&local, "size"))
			*off = m->data_offset + (skips_data(m->h.type) ? blocks(m->h.size) : 0);
	}
	dict_fini(&local);
	return r;
}

static int cmp_by_name(const void *a, const void *b)
{
	const name_ref *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* The public views of the members, and the name order for find. */
static void publish(strata_tar_index *x)
{
	size_t nrec = 0;
	for (size_t i = 0; i < x->n; i++)
		nrec += x->w[i].pax.n;
	x->m = strata_xcalloc(x->n ? x->n : 1, sizeof *x->m);
	x->records = strata_xcalloc(nrec ? nrec : 1, sizeof *x->records);
	x->by_name = strata_xmalloc((x->n ? x->n : 1) * sizeof *x->by_name);
	strata_tar_pax_record *r = x->records;
	for (size_t i = 0; i < x->n; i++) {
		work *w = &x->w[i];
		strata_tar_member *m = &x->m[i];
		m->h = w->h;
		m->h.name = w->name;
		m->h.linkname = w->linkname;
		m->h.uname = w->uname;
		m->h.gname = w->gname;
		m->h.pax = r;
		m->h.npax = w->pax.n;
		for (size_t k = 0; k < w->pax.n; k++)
			*r++ = (strata_tar_pax_record){w->pax.v[k].key, w->pax.v[k].value, w->pax.v[k].len};
		m->data_offset = w->data_offset;
		m->header_offset = w->header_offset;
		x->by_name[i] = (name_ref){w->name, i};
	}
	qsort(x->by_name, x->n, sizeof *x->by_name, cmp_by_name);
}

int strata_tar_index_read(int fd, const char *what, const strata_cancel *cancel, strata_tar_index **out,
			  strata_error *err)
{
	reader rd = {.fd = fd, .what = what};
	strata_tar_index *x = strata_xcalloc(1, sizeof *x);
	uint64_t off = 0;
	int r;
	for (;;) {
		if ((x->n & 4095) == 0 && strata_cancel_requested(cancel)) {
			r = strata_error_set(err, 0, "interrupted");
			break;
		}
		if (x->n == x->cap) {
			x->cap = x->cap ? 2 * x->cap : 64;
			x->w = strata_xrealloc(x->w, x->cap * sizeof *x->w);
		}
		work *m = &x->w[x->n];
		memset(m, 0, sizeof *m);
		if ((r = read_member(&rd, &off, 0, m, err)) <= 0) {
			work_fini(m);
			break;
		}
		x->n++;
	}
	if (r == 0 && x->n == 0 && off == 0)
		r = strata_error_set(err, 0, "%s: empty archive", what);
	dict_fini(&rd.global);
	if (r < 0) {
		strata_tar_index_free(x);
		return r;
	}
	publish(x);
	*out = x;
	return 0;
}

size_t strata_tar_index_count(const strata_tar_index *x)
{
	return x->n;
}

const strata_tar_member *strata_tar_index_member(const strata_tar_index *x, size_t i)
{
	assert(i < x->n);
	return &x->m[i];
}

const strata_tar_member *strata_tar_index_find(const strata_tar_index *x, const char *name)
{
	size_t lo = 0, hi = x->n; /* the first index whose name is greater */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(x->by_name[mid].name, name) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || strcmp(x->by_name[lo - 1].name, name) != 0)
		return NULL;
	return &x->m[x->by_name[lo - 1].i];
}

int strata_tar_index_is_file(const strata_tar_member *m)
{
	return is_file_type(m->h.type);
}

void strata_tar_index_free(strata_tar_index *x)
{
	if (x == NULL)
		return;
	for (size_t i = 0; i < x->n; i++)
		work_fini(&x->w[i]);
	free(x->w);
	free(x->m);
	free(x->records);
	free(x->by_name);
	free(x);
}
