#define _GNU_SOURCE
#include "perms.h"
#include "alloc.h"
#include "file.h"
#include "json_check.h"

#include <fcntl.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct rule {
	char *path;  /* NULL: any */
	bool has_regex;
	regex_t re;
	long long mode, uid, gid; /* -1: keep */
	char *uname, *gname;      /* NULL: keep */
	atomic_size_t hits;
} rule;

struct strata_perms {
	char *file;
	rule *rules;
	size_t nrules;
};

void strata_perms_free(strata_perms *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nrules; i++) {
		free(p->rules[i].path);
		if (p->rules[i].has_regex)
			regfree(&p->rules[i].re);
		free(p->rules[i].uname);
		free(p->rules[i].gname);
	}
	free(p->rules);
	free(p->file);
	free(p);
}

static int rule_fail(const strata_perms *p, size_t i, const char *what, strata_error *err)
{
	return strata_error_set(err, 0, "%s: rule %zu: %s", p->file, i + 1, what);
}

static int id_field(json_t *v, long long *out)
{
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 4294967295LL)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

static int name_field(json_t *v, char **out)
{
	if (v == NULL)
		return 0;
	const char *s = json_string_value(v);
	if (s == NULL || strlen(s) > 255 || strata_json_check_text(s, true, "name", NULL) < 0)
		return -1;
	*out = strata_xstrdup(s);
	return 0;
}

static int parse_rule(strata_perms *p, size_t i, json_t *o, strata_error *err)
{
	rule *r = &p->rules[i];
	r->mode = r->uid = r->gid = -1;
	if (!json_is_object(o))
		return rule_fail(p, i, "not an object", err);
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		static const char *const known[] = {"path", "regex", "mode", "uid", "gid", "uname", "gname"};
		bool ok = false;
		for (size_t k = 0; k < STRATA_ARRAY_LEN(known); k++)
			ok |= strcmp(key, known[k]) == 0;
		if (!ok)
			return strata_error_set(err, 0, "%s: rule %zu: unknown key '%s'", p->file, i + 1, key);
	}
	json_t *path = json_object_get(o, "path"), *regex = json_object_get(o, "regex"),
	       *mode = json_object_get(o, "mode");
	if (path) {
		const char *s = json_string_value(path);
		if (s == NULL || s[0] != '/')
			return rule_fail(p, i, "path must be an absolute path", err);
		size_t l = strlen(s);
		while (l > 1 && s[l - 1] == '/')
			l--;
		r->path = strata_xstrndup(s, l);
	}
	if (regex) {
		const char *s = json_string_value(regex);
		if (s == NULL)
			return rule_fail(p, i, "regex must be a string", err);
		cleanup_free char *anchored = strata_xasprintf("^(%s)$", s);
		if (regcomp(&r->re, anchored, REG_EXTENDED | REG_NOSUB) != 0)
			return strata_error_set(err, 0, "%s: rule %zu: invalid regular expression '%s'", p->file, i + 1, s);
		r->has_regex = true;
	}
	if (!path && !regex)
		return rule_fail(p, i, "needs a path or a regex", err);
	if (mode) {
		const char *s = json_string_value(mode);
		char *end = NULL;
		long m = s && *s ? strtol(s, &end, 8) : -1;
		if (s == NULL || *s == '\0' || *end != '\0' || m < 0 || m > 07777)
			return rule_fail(p, i, "mode must be an octal string such as \"0755\"", err);
		r->mode = m;
	}
	if (id_field(json_object_get(o, "uid"), &r->uid) < 0 || id_field(json_object_get(o, "gid"), &r->gid) < 0)
		return rule_fail(p, i, "uid and gid must be integers from 0 to 4294967295", err);
	if (name_field(json_object_get(o, "uname"), &r->uname) < 0 || name_field(json_object_get(o, "gname"), &r->gname) < 0)
		return rule_fail(p, i, "uname and gname must be strings", err);
	if (r->mode < 0 && r->uid < 0 && r->gid < 0 && !r->uname && !r->gname)
		return rule_fail(p, i, "sets nothing (give mode, uid, gid, uname or gname)", err);
	return 0;
}

int strata_perms_load(const char *file, strata_perms **out, strata_error *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int r = strata_file_read_all(AT_FDCWD, file, 0, STRATA_FILE_MAX_JSON, "perms file", &buf, &len, err);
	if (r < 0)
		return r;
	json_error_t je;
	cleanup_json json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		return strata_error_set(err, 0, "%s: not JSON (line %d: %s)", file, je.line, je.text);
	if (!json_is_array(j))
		return strata_error_set(err, 0, "%s: must be a list of rules", file);
	strata_perms *p = strata_xcalloc(1, sizeof *p);
	p->file = strata_xstrdup(file);
	p->nrules = json_array_size(j);
	p->rules = strata_xcalloc(p->nrules ? p->nrules : 1, sizeof *p->rules);
	for (size_t i = 0; i < p->nrules && r == 0; i++)
		r = parse_rule(p, i, json_array_get(j, i), err);
	if (r < 0) {
		strata_perms_free(p);
		return r;
	}
	*out = p;
	return 0;
}

static bool rule_matches(const rule *r, const char *path)
{
	if (r->path) {
		size_t l = strlen(r->path);
		if (!(strncmp(path, r->path, l) == 0 && (path[l] == '\0' || path[l] == '/' || l == 1)))
			return false;
	}
	return !r->has_regex || regexec(&r->re, path, 0, NULL, 0) == 0;
}

void strata_perms_apply(void *arg, const char *name, char type, strata_tar_meta *m)
{
	const strata_perms *p = arg;
	char buf[4096];
	size_t l = strlen(name);
	cleanup_free char *heap = NULL;
	char *path = l + 2 <= sizeof buf ? buf : (heap = strata_xmalloc(l + 2));
	/* The image path: absolute (a base archive's names may be relative),
	 * no trailing '/'. */
	size_t k = 0;
	if (name[0] != '/')
		path[k++] = '/';
	memcpy(path + k, name, l + 1);
	k += l;
	while (k > 1 && path[k - 1] == '/')
		path[--k] = '\0';
	(void)type;
	for (size_t i = 0; i < p->nrules; i++) {
		rule *r = &p->rules[i];
		if (!rule_matches(r, path))
			continue;
		atomic_fetch_add_explicit(&r->hits, 1, memory_order_relaxed);
		if (r->mode >= 0)
			m->mode = (uint64_t)r->mode;
		if (r->uid >= 0)
			m->uid = (uint64_t)r->uid;
		if (r->gid >= 0)
			m->gid = (uint64_t)r->gid;
		if (r->uname)
			m->uname = r->uname;
		if (r->gname)
			m->gname = r->gname;
	}
}

int strata_perms_check_used(const strata_perms *p, strata_error *err)
{
	for (size_t i = 0; p && i < p->nrules; i++)
		if (atomic_load_explicit(&p->rules[i].hits, memory_order_relaxed) == 0)
			return strata_error_set(err, 0, "%s: rule %zu (%s%s%s) matched nothing in the image", p->file, i + 1,
						p->rules[i].path ? p->rules[i].path : "",
						p->rules[i].path && p->rules[i].has_regex ? ", " : "",
						p->rules[i].has_regex ? "regex" : "");
	return 0;
}
