#define _GNU_SOURCE
#include "tar_check.h"
#include "alloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { ST_HEADER, ST_PAX, ST_ZERO, ST_END };

/* pax headers larger than this are refused (Go's limit for special
 * entries is 1 MiB as well). */
#define PAX_MAX (1u << 20)

void strata_tar_check_init(strata_tar_check *c)
{
	memset(c, 0, sizeof *c);
	c->pax_size = -1;
}

void strata_tar_check_fini(strata_tar_check *c)
{
	free(c->pax);
	c->pax = NULL;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* A numeric header field: octal digits with optional leading spaces and a
 * trailing NUL or space, or base-256 (high bit of the first byte). */
static bool parse_num(const unsigned char *f, size_t n, uint64_t *out)
{
	if (f[0] & 0x80) {
		if (f[0] & 0x40)
			return false; /* negative */
		uint64_t v = f[0] & 0x3f;
		for (size_t i = 1; i < n; i++) {
			if (v >> 55)
				return false;
			v = v << 8 | f[i];
		}
		*out = v;
		return true;
	}
	size_t i = 0;
	while (i < n && f[i] == ' ')
		i++;
	uint64_t v = 0;
	bool digits = false;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return false;
		v = v * 8 + (uint64_t)(f[i] - '0');
		digits = true;
	}
	for (; i < n; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return false;
	*out = digits ? v : 0;
	return true;
}

static int bad(const strata_tar_check *c, const char *what, const char *why, strata_error *err)
{
	return strata_error_set(err, 0, "%s is not a valid tar archive: %s at byte %llu", what, why,
				(unsigned long long)c->offset);
}

static bool checksum_ok(const unsigned char *b)
{
	uint64_t want;
	if (!parse_num(b + 148, 8, &want))
		return false;
	uint64_t u = 0;
	int64_t s = 0;
	for (size_t i = 0; i < 512; i++) {
		unsigned char x = i >= 148 && i < 156 ? ' ' : b[i];
		u += x;
		s += (signed char)x;
	}
	return u == want || (uint64_t)s == want;
}

/* pax records: "<len> key=value\n", len counting the whole record. */
static int parse_pax(strata_tar_check *c, const char *what, strata_error *err)
{
	size_t i = 0;
	while (i < c->pax_len) {
		if (c->pax[i] == '\0' && all_zero(c->pax + i, c->pax_len - i))
			break;
		size_t len = 0, j = i;
		while (j < c->pax_len && c->pax[j] >= '0' && c->pax[j] <= '9' && len < PAX_MAX)
			len = len * 10 + (size_t)(c->pax[j++] - '0');
		if (j == i || j >= c->pax_len || c->pax[j] != ' ' || len < 5 || i + len > c->pax_len ||
		    c->pax[i + len - 1] != '\n')
			return bad(c, what, "malformed pax record", err);
		const unsigned char *kv = c->pax + j + 1, *end = c->pax + i + len - 1;
		const unsigned char *eq = memchr(kv, '=', (size_t)(end - kv));
		if (eq == NULL)
			return bad(c, what, "pax record without '='", err);
		if ((size_t)(eq - kv) == 4 && memcmp(kv, "size", 4) == 0) {
			uint64_t v = 0;
			const unsigned char *p = eq + 1;
			if (p == end)
				return bad(c, what, "empty pax size", err);
			for (; p < end; p++) {
				if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
					return bad(c, what, "bad pax size", err);
				v = v * 10 + (uint64_t)(*p - '0');
			}
			if (v > INT64_MAX)
				return bad(c, what, "pax size out of range", err);
			c->pax_size = (int64_t)v;
		}
		i += len;
	}
	return 0;
}

static int header(strata_tar_check *c, const char *what, strata_error *err)
{
	const unsigned char *b = c->block;
	if (c->state == ST_ZERO) {
		if (!all_zero(b, 512))
			return bad(c, what, "a header after an end-of-archive block", err);
		c->state = ST_END;
		return 0;
	}
	if (all_zero(b, 512)) {
		c->state = ST_ZERO;
		return 0;
	}
	if (!checksum_ok(b))
		return bad(c, what, c->entries == 0 ? "no tar header (bad checksum)" : "bad header checksum", err);
	uint64_t size;
	if (!parse_num(b + 124, 12, &size))
		return bad(c, what, "bad size field", err);
	uint64_t mode, uid, gid, mtime;
	if (!parse_num(b + 100, 8, &mode) || !parse_num(b + 108, 8, &uid) || !parse_num(b + 116, 8, &gid) ||
	    !parse_num(b + 136, 12, &mtime))
		return bad(c, what, "bad numeric field", err);
	char type = (char)b[156];
	bool special = type == 'x' || type == 'g' || type == 'L' || type == 'K';
	if (!special && c->pax_size >= 0) {
		size = (uint64_t)c->pax_size;
		c->pax_size = -1;
	}
	/* Links and directories carry no data in the stream, whatever size
	 * the header claims (Go reads none for them). */
	if (type == '1' || type == '2' || type == '3' || type == '4' || type == '5' || type == '6')
		size = 0;
	c->entries++;
	if (type == 'x') {
		if (size > PAX_MAX)
			return bad(c, what, "pax header too large", err);
		c->pax_need = (size_t)size;
		c->pax_len = 0;
		c->pax = strata_xrealloc(c->pax, c->pax_need + 1);
		c->skip = (512 - size % 512) % 512;
		c->state = ST_PAX;
		if (c->pax_need == 0)
			c->state = ST_HEADER;
		return 0;
	}
	if (size > UINT64_MAX - 512)
		return bad(c, what, "size out of range", err);
	c->skip = (size + 511) / 512 * 512;
	return 0;
}

int strata_tar_check_feed(strata_tar_check *c, const void *buf, size_t n, const char *what, strata_error *err)
{
	const unsigned char *p = buf;
	while (n > 0) {
		if (c->state == ST_END) {
			c->offset += n;
			return 0;
		}
		if (c->state == ST_PAX) {
			size_t take = c->pax_need - c->pax_len < n ? c->pax_need - c->pax_len : n;
			memcpy(c->pax + c->pax_len, p, take);
			c->pax_len += take;
			p += take;
			n -= take;
			c->offset += take;
			if (c->pax_len == c->pax_need) {
				c->state = ST_HEADER;
				int r = parse_pax(c, what, err);
				if (r < 0)
					return r;
			}
			continue;
		}
		if (c->skip > 0) {
			size_t take = c->skip < n ? (size_t)c->skip : n;
			c->skip -= take;
			p += take;
			n -= take;
			c->offset += take;
			continue;
		}
		size_t take = 512 - c->have < n ? 512 - c->have : n;
		memcpy(c->block + c->have, p, take);
		c->have += take;
		p += take;
		n -= take;
		if (c->have == 512) {
			c->have = 0;
			int r = header(c, what, err);
			c->offset += 512;
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int strata_tar_check_end(strata_tar_check *c, const char *what, strata_error *err)
{
	if (c->state == ST_END || (c->have == 0 && c->skip == 0 && (c->state == ST_HEADER || c->state == ST_ZERO))) {
		if (c->state == ST_HEADER && c->pax_size >= 0)
			return bad(c, what, "a pax header without its entry", err);
		return 0;
	}
	if (c->entries == 0 && c->state == ST_HEADER)
		return bad(c, what, "no tar header (shorter than one 512-byte block)", err);
	return bad(c, what, "truncated", err);
}
