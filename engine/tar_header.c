#define _GNU_SOURCE
#include "tar_header.h"
#include "alloc.h"
#include "utf8.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 512

static bool ascii(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p >= 0x80)
			return false;
	return true;
}

/* A string field: s encoded to ASCII with '?' for each non-ASCII
 * character (CPython's "ascii", "replace"), cut to n bytes, NUL-padded. */
static void put_string(unsigned char *f, size_t n, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), k = 0;
	/* the common case, a field of ASCII: one copy */
	size_t ascii_len = 0;
	while (ascii_len < len && ascii_len < n && p[ascii_len] < 0x80)
		ascii_len++;
	memcpy(f, p, ascii_len);
	if (ascii_len == len || ascii_len == n)
		return;
	k = ascii_len;
	for (size_t i = ascii_len; i < len && k < n;) {
		size_t l = 1;
		if (p[i] >= 0x80) {
			strata_utf8_next(p + i, len - i, &l);
			f[k++] = '?';
		} else {
			f[k++] = p[i];
		}
		i += l;
	}
}

/* A number field: digits-1 octal digits and a NUL. */
static void put_octal(unsigned char *f, size_t digits, uint64_t v)
{
	for (size_t i = digits - 1; i-- > 0; v >>= 3)
		f[i] = (unsigned char)('0' + (v & 7));
	f[digits - 1] = '\0';
}

typedef struct records {
	strata_tar_pax_record *v;
	size_t n;
} records;

static bool has(const records *r, const char *key)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i].key, key) == 0)
			return true;
	return false;
}

static void add(records *r, const char *key, const char *value, size_t len)
{
	r->v[r->n++] = (strata_tar_pax_record){key, value, len};
}

/* The ustar block of a header whose overflowing fields are already 0. */
static void ustar_block(unsigned char *b, const char *name, const char *linkname, char type, const uint64_t num[5],
			const char *uname, const char *gname, uint64_t devmajor, uint64_t devminor)
{
	memset(b, 0, BLOCK);
	put_string(b, 100, name);
	put_octal(b + 100, 8, num[0] & 07777);
	put_octal(b + 108, 8, num[1]);
	put_octal(b + 116, 8, num[2]);
	put_octal(b + 124, 12, num[3]);
	put_octal(b + 136, 12, num[4]);
	b[156] = (unsigned char)type;
	put_string(b + 157, 100, linkname);
	memcpy(b + 257, "ustar\0" "00", 8);
	put_string(b + 265, 32, uname);
	put_string(b + 297, 32, gname);
	if (type == STRATA_TAR_CHR || type == STRATA_TAR_BLK) {
		put_octal(b + 329, 8, devmajor);
		put_octal(b + 337, 8, devminor);
	}
	/* the checksum field is still zero: sum everything, count it as spaces */
	unsigned sum = 8 * ' ';
	for (size_t i = 0; i < BLOCK; i++)
		sum += b[i];
	put_octal(b + 148, 7, sum & 0777777); /* 6 digits, NUL, space */
	b[155] = ' ';
}

/* Headers are made once per file: no printf on this path. */
static size_t decimal_digits(uint64_t v)
{
	size_t n = 1;
	while ((v /= 10) != 0)
		n++;
	return n;
}

/* v in decimal at q (no NUL); returns the number of digits. */
static size_t put_decimal(unsigned char *q, uint64_t v)
{
	size_t n = decimal_digits(v);
	for (size_t i = n; i-- > 0; v /= 10)
		q[i] = (unsigned char)('0' + v % 10);
	return n;
}

/* "<len> key=value\n" where len counts the whole record, itself included. */
static size_t record_len(const strata_tar_pax_record *r)
{
	size_t l = strlen(r->key) + r->value_len + 3, p = 0;
	for (;;) {
		size_t n = l + decimal_digits(p);
		if (n == p)
			return p;
		p = n;
	}
}

static unsigned char *reserve(unsigned char **out, size_t *cap, size_t need)
{
	if (need > *cap) {
		*cap = need > 2 * *cap ? need : 2 * *cap;
		*out = strata_xrealloc(*out, *cap);
	}
	return *out;
}

/* The 'x' member: its header block, then the records padded to a block. */
static size_t pax_member(const records *r, unsigned char **out, size_t *cap)
{
	bool binary = false;
	size_t total = 0;
	for (size_t i = 0; i < r->n; i++) {
		binary |= !strata_utf8_valid(r->v[i].value, r->v[i].value_len);
		total += record_len(&r->v[i]);
	}
	static const char charset[] = "21 hdrcharset=BINARY\n";
	if (binary)
		total += sizeof charset - 1;
	size_t blocks = (total + BLOCK - 1) / BLOCK;
	unsigned char *b = reserve(out, cap, BLOCK * (1 + blocks) + 2 * BLOCK);
	const uint64_t num[5] = {0, 0, 0, total, 0};
	ustar_block(b, "././@PaxHeader", "", 'x', num, "", "", 0, 0);
	unsigned char *q = b + BLOCK;
	memset(q, 0, blocks * BLOCK);
	if (binary) {
		memcpy(q, charset, sizeof charset - 1);
		q += sizeof charset - 1;
	}
	for (size_t i = 0; i < r->n; i++) {
		size_t kl = strlen(r->v[i].key);
		q += put_decimal(q, record_len(&r->v[i]));
		*q++ = ' ';
		memcpy(q, r->v[i].key, kl);
		q += kl;
		*q++ = '=';
		memcpy(q, r->v[i].value, r->v[i].value_len);
		q += r->v[i].value_len;
		*q++ = '\n';
	}
	return BLOCK * (1 + blocks);
}

size_t strata_tar_header_encode(const strata_tar_header *h, unsigned char **out, size_t *cap)
{
	/* the given records, then at most 8 of ours */
	strata_tar_pax_record local[16 + 8];
	strata_tar_pax_record *v = h->npax <= 16 ? local : strata_xmalloc((h->npax + 8) * sizeof *v);
	records r = {v, 0};
	for (size_t i = 0; i < h->npax; i++)
		v[r.n++] = h->pax[i];
	/* Strings that are not ASCII or do not fit, in CPython's order. */
	const struct {
		const char *value, *key;
		size_t limit;
	} strs[] = {{h->name, "path", 100}, {h->linkname, "linkpath", 100}, {h->uname, "uname", 32},
		    {h->gname, "gname", 32}};
	for (size_t i = 0; i < 4; i++)
		if (!has(&r, strs[i].key) && (!ascii(strs[i].value) || strlen(strs[i].value) > strs[i].limit))
			add(&r, strs[i].key, strs[i].value, strlen(strs[i].value));
	/* Numbers past their fields: 0 in the field, the value in a record. */
	uint64_t num[5] = {h->mode, h->uid, h->gid, h->size, h->mtime};
	static const char *const keys[] = {NULL, "uid", "gid", "size", "mtime"};
	static const uint64_t limits[] = {0, 1ull << 21, 1ull << 21, 1ull << 33, 1ull << 33};
	char digits[4][24];
	for (size_t i = 1; i < 5; i++)
		if (num[i] >= limits[i]) {
			if (!has(&r, keys[i])) {
				size_t n = put_decimal((unsigned char *)digits[i - 1], num[i]);
				add(&r, keys[i], digits[i - 1], n);
			}
			num[i] = 0;
		}
	size_t len = r.n ? pax_member(&r, out, cap) : 0;
	if (v != local)
		free(v);
	unsigned char *b = reserve(out, cap, len + BLOCK);
	ustar_block(b + len, h->name, h->linkname, h->type, num, h->uname, h->gname, h->devmajor, h->devminor);
	return len + BLOCK;
}
