#define _GNU_SOURCE
#include "ref.h"
#include "alloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool alnum(char c)
{
	return lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

int strata_ref_check_tag(const char *tag, strata_error *err)
{
	size_t n = strlen(tag);
	bool ok = n >= 1 && n <= 128 && (alnum(tag[0]) || tag[0] == '_');
	for (size_t i = 1; ok && i < n; i++)
		ok = alnum(tag[i]) || tag[i] == '_' || tag[i] == '.' || tag[i] == '-';
	if (!ok)
		return strata_error_set(err, 0, "'%s' is not a valid tag (1-128 letters, digits, '_', '.' or '-', "
					"not starting with '.' or '-')", tag);
	return 0;
}

/* path-component: [a-z0-9]+ (([._]|__|-+) [a-z0-9]+)* over [p, end). */
static bool path_component(const char *p, const char *end)
{
	if (p == end || !lower_alnum(*p))
		return false;
	while (p < end) {
		while (p < end && lower_alnum(*p))
			p++;
		if (p == end)
			return true;
		const char *sep = p;
		if (*p == '.')
			p++;
		else if (*p == '_')
			p += p + 1 < end && p[1] == '_' ? 2 : 1;
		else
			while (p < end && *p == '-')
				p++;
		if (p == sep || p == end || !lower_alnum(*p))
			return false;
	}
	return true;
}

/* domain-component ("." domain-component)* [":" port], or "localhost". */
static bool domain(const char *p, const char *end)
{
	const char *colon = memchr(p, ':', (size_t)(end - p));
	if (colon != NULL) {
		if (colon + 1 == end)
			return false;
		for (const char *q = colon + 1; q < end; q++)
			if (*q < '0' || *q > '9')
				return false;
		end = colon;
	}
	if (p == end)
		return false;
	while (p < end) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		const char *ce = dot ? dot : end;
		if (ce == p || !alnum(p[0]) || !alnum(ce[-1]))
			return false;
		for (const char *q = p; q < ce; q++)
			if (!alnum(*q) && *q != '-')
				return false;
		p = dot ? dot + 1 : end;
		if (dot && p == end)
			return false;
	}
	return true;
}

int strata_ref_check_name(const char *name, strata_error *err)
{
	size_t n = strlen(name);
	const char *end = name + n, *p = name;
	bool ok = n >= 1 && n <= 255;
	/* The first component is a domain if it has a '.' or ':' or is
	 * localhost (Docker's rule), else a path component. */
	const char *slash = memchr(name, '/', n);
	if (ok && slash != NULL) {
		bool is_domain = memchr(name, '.', (size_t)(slash - name)) || memchr(name, ':', (size_t)(slash - name)) ||
				 ((size_t)(slash - name) == 9 && memcmp(name, "localhost", 9) == 0);
		if (is_domain) {
			ok = domain(name, slash);
			p = slash + 1;
		}
	}
	while (ok && p <= end) {
		const char *s = memchr(p, '/', (size_t)(end - p));
		const char *ce = s ? s : end;
		ok = path_component(p, ce);
		if (s == NULL)
			break;
		p = s + 1;
	}
	if (!ok)
		return strata_error_set(err, 0, "'%s' is not a valid image name (lowercase letters, digits and separators "
					"'.', '_', '__', '-' between them, components joined by '/', an optional "
					"registry first)", name);
	return 0;
}

int strata_ref_check_ref_name(const char *ref, strata_error *err)
{
	const char *p = ref;
	bool ok = *p != '\0';
	while (ok && *p) {
		/* component ::= alphanum (separator alphanum)* */
		if (!alnum(*p)) {
			ok = false;
			break;
		}
		while (alnum(*p))
			p++;
		if (*p == '\0')
			break;
		if (*p == '/') {
			p++;
			ok = *p != '\0';
			continue;
		}
		if (p[0] == '-' && p[1] == '-')
			p += 2;
		else if (strchr("-._:@+", *p))
			p++;
		else
			ok = false;
		ok = ok && alnum(*p);
	}
	if (!ok)
		return strata_error_set(err, 0, "'%s' is not a valid image reference for an OCI layout "
					"(alphanumeric components joined by '-', '.', '_', ':', '@', '+' or '/')", ref);
	return 0;
}

void strata_ref_fini(strata_ref *ref)
{
	free(ref->name);
	free(ref->tag);
	free(ref->digest);
	ref->name = ref->tag = ref->digest = NULL;
}

int strata_ref_parse(const char *s, strata_ref *ref, strata_error *err)
{
	memset(ref, 0, sizeof *ref);
	const char *at = strchr(s, '@');
	const char *end = at ? at : s + strlen(s);
	if (at) {
		const char *d = at + 1;
		if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71 || strspn(d + 7, "0123456789abcdef") != 64)
			return strata_error_set(err, 0, "'%s': the digest must be sha256:<64 lowercase hex>", s);
		ref->digest = strata_xstrdup(d);
	}
	const char *slash = memrchr(s, '/', (size_t)(end - s));
	const char *colon = memrchr(slash ? slash : s, ':', (size_t)(end - (slash ? slash : s)));
	ref->name = strata_xstrndup(s, (size_t)((colon ? colon : end) - s));
	if (colon)
		ref->tag = strata_xstrndup(colon + 1, (size_t)(end - colon - 1));
	int r = strata_ref_check_name(ref->name, err);
	if (r == 0 && ref->tag)
		r = strata_ref_check_tag(ref->tag, err);
	return r < 0 ? strata_error_wrap(err, "reference '%s'", s) : 0;
}

char *strata_ref_qualified(const char *name, const char *tag)
{
	const char *slash = strchr(name, '/');
	size_t first = slash ? (size_t)(slash - name) : strlen(name);
	bool registry = slash && (memchr(name, '.', first) || memchr(name, ':', first) ||
				  (first == 9 && !strncmp(name, "localhost", 9)));
	if (registry)
		return strata_xasprintf("%s:%s", name, tag);
	return strata_xasprintf("docker.io/%s%s:%s", slash ? "" : "library/", name, tag);
}
