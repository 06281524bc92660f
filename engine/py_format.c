#define _GNU_SOURCE
#include "py_format.h"
#include "alloc.h"
#include "utf8.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out {
	char *s;
	size_t n, cap;
} out;

static void put(out *o, const char *p, size_t n)
{
	if (o->n + n + 1 > o->cap) {
		o->cap = 2 * (o->n + n + 1);
		o->s = strata_xrealloc(o->s, o->cap);
	}
	memcpy(o->s + o->n, p, n);
	o->n += n;
	o->s[o->n] = '\0';
}

static void puts_(out *o, const char *p)
{
	put(o, p, strlen(p));
}

static void indent(out *o, int level)
{
	put(o, "\n", 1);
	for (int i = 0; i < level; i++)
		put(o, "    ", 4);
}

static void put_u(out *o, unsigned cp)
{
	char buf[16];
	snprintf(buf, sizeof buf, "\\u%04x", cp & 0xffff);
	put(o, buf, 6);
}

static void put_string(out *o, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	put(o, "\"", 1);
	for (size_t i = 0; i < n;) {
		size_t l;
		uint32_t cp = strata_utf8_next(p + i, n - i, &l);
		i += l;
		switch (cp) {
		case '"': puts_(o, "\\\""); continue;
		case '\\': puts_(o, "\\\\"); continue;
		case '\b': puts_(o, "\\b"); continue;
		case '\f': puts_(o, "\\f"); continue;
		case '\n': puts_(o, "\\n"); continue;
		case '\r': puts_(o, "\\r"); continue;
		case '\t': puts_(o, "\\t"); continue;
		}
		if (cp >= ' ' && cp <= '~') {
			char c = (char)cp;
			put(o, &c, 1);
		} else if (cp >= 0x10000) {
			cp -= 0x10000;
			put_u(o, 0xd800 + (cp >> 10));
			put_u(o, 0xdc00 + (cp & 0x3ff));
		} else {
			put_u(o, cp);
		}
	}
	put(o, "\"", 1);
}

/* repr(float): the shortest digits that read back as d; positional
 * between 1e-4 and 1e16, else d.ddde+XX; always a '.' or an exponent. */
static void put_real(out *o, double d)
{
	if (isnan(d)) {
		puts_(o, "NaN");
		return;
	}
	if (isinf(d)) {
		puts_(o, d > 0 ? "Infinity" : "-Infinity");
		return;
	}
	char e[40];
	for (int p = 1; p <= 17; p++) {
		snprintf(e, sizeof e, "%.*e", p - 1, d);
		if (strtod(e, NULL) == d)
			break;
	}
	/* e is "[-]D[.DDD]e[+-]XX": digits and the decimal exponent */
	char digits[24] = {0};
	size_t nd = 0;
	const char *q = e;
	bool neg = *q == '-';
	if (neg)
		q++;
	for (; *q != 'e'; q++)
		if (*q != '.')
			digits[nd++] = *q;
	int exp10 = atoi(q + 1);
	char buf[64];
	size_t k = 0;
	if (neg)
		buf[k++] = '-';
	if (exp10 < -4 || exp10 >= 16) {
		buf[k++] = digits[0];
		if (nd > 1) {
			buf[k++] = '.';
			memcpy(buf + k, digits + 1, nd - 1);
			k += nd - 1;
		}
		k += (size_t)snprintf(buf + k, sizeof buf - k, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
	} else if (exp10 < 0) {
		buf[k++] = '0';
		buf[k++] = '.';
		for (int i = -1; i > exp10; i--)
			buf[k++] = '0';
		memcpy(buf + k, digits, nd);
		k += nd;
	} else {
		size_t ip = (size_t)exp10 + 1; /* digits before the point */
		for (size_t i = 0; i < ip; i++)
			buf[k++] = i < nd ? digits[i] : '0';
		buf[k++] = '.';
		if (nd > ip) {
			memcpy(buf + k, digits + ip, nd - ip);
			k += nd - ip;
		} else {
			buf[k++] = '0';
		}
	}
	put(o, buf, k);
}

static void dump(out *o, const json_t *j, int level)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		if (json_object_size(j) == 0) {
			puts_(o, "{}");
			return;
		}
		put(o, "{", 1);
		const char *key;
		json_t *v;
		bool first = true;
		json_object_foreach((json_t *)(uintptr_t)j, key, v)
		{
			if (!first)
				put(o, ",", 1);
			first = false;
			indent(o, level + 1);
			put_string(o, key, strlen(key));
			put(o, ": ", 2);
			dump(o, v, level + 1);
		}
		indent(o, level);
		put(o, "}", 1);
		return;
	}
	case JSON_ARRAY: {
		if (json_array_size(j) == 0) {
			puts_(o, "[]");
			return;
		}
		put(o, "[", 1);
		for (size_t i = 0; i < json_array_size(j); i++) {
			if (i)
				put(o, ",", 1);
			indent(o, level + 1);
			dump(o, json_array_get(j, i), level + 1);
		}
		indent(o, level);
		put(o, "]", 1);
		return;
	}
	case JSON_STRING:
		put_string(o, json_string_value(j), json_string_length(j));
		return;
	case JSON_INTEGER: {
		char buf[32];
		snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		puts_(o, buf);
		return;
	}
	case JSON_REAL:
		put_real(o, json_real_value(j));
		return;
	case JSON_TRUE:
		puts_(o, "true");
		return;
	case JSON_FALSE:
		puts_(o, "false");
		return;
	case JSON_NULL:
		puts_(o, "null");
		return;
	}
}

char *strata_py_format_json(const json_t *j)
{
	out o = {0};
	put(&o, "", 0);
	dump(&o, j, 0);
	return o.s;
}

/* What Python's str.isprintable() rejects outside ASCII, as far as it can
 * be said without Unicode tables (see the header). */
static bool py_printable(uint32_t cp)
{
	static const uint32_t no[][2] = {
		{0x80, 0xa0},     {0xad, 0xad},     {0x600, 0x605},   {0x61c, 0x61c},   {0x6dd, 0x6dd},
		{0x70f, 0x70f},   {0x180e, 0x180e}, {0x1680, 0x1680}, {0x2000, 0x200f}, {0x2028, 0x202f},
		{0x205f, 0x2064}, {0x2066, 0x206f}, {0x3000, 0x3000}, {0xd800, 0xf8ff}, {0xfeff, 0xfeff},
		{0xfff9, 0xfffb}, {0xfffe, 0xffff}, {0xe0001, 0xe0001}, {0xe0020, 0xe007f}, {0xf0000, 0x10ffff},
	};
	for (size_t i = 0; i < sizeof no / sizeof *no; i++)
		if (cp >= no[i][0] && cp <= no[i][1])
			return false;
	return true;
}

static void put_repr(out *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
	put(o, &q, 1);
	for (size_t i = 0; i < n;) {
		size_t l;
		uint32_t cp = strata_utf8_next(p + i, n - i, &l);
		char buf[16];
		if (cp == (uint32_t)q || cp == '\\') {
			buf[0] = '\\', buf[1] = (char)cp;
			put(o, buf, 2);
		} else if (cp == '\t' || cp == '\n' || cp == '\r') {
			put(o, cp == '\t' ? "\\t" : cp == '\n' ? "\\n" : "\\r", 2);
		} else if ((cp >= ' ' && cp < 0x7f) || (cp >= 0x80 && py_printable(cp))) {
			put(o, (const char *)p + i, l);
		} else {
			int k = snprintf(buf, sizeof buf, cp < 0x100 ? "\\x%02x" : cp < 0x10000 ? "\\u%04x" : "\\U%08x",
					 (unsigned)cp);
			put(o, buf, (size_t)k);
		}
		i += l;
	}
	put(o, &q, 1);
}

char *strata_py_format_repr_list(const char *const *items, size_t n)
{
	out o = {0};
	put(&o, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			put(&o, ", ", 2);
		put_repr(&o, items[i]);
	}
	put(&o, "]", 1);
	return o.s;
}
