#define _GNU_SOURCE
#include "closure_load.h"
#include "alloc.h"
#include "file.h"
#include "json_check.h"
#include "store_scan.h"

#include <ctype.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* ---------- JSON forms ---------- */

static int json_path_string(json_t *v, const char *store_dir, const char *what, const char *field, char **out,
			    strata_error *err)
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

static int parse_info(json_t *obj, const char *path_key, const char *store_dir, const char *file, size_t index,
		      strata_closure_builder *b, strata_error *err)
{
	cleanup_free char *what = path_key ? strata_xasprintf("%s: '%s'", file, path_key)
					   : strata_xasprintf("%s: entry %zu", file, index);
	if (!json_is_object(obj))
		return strata_error_set(err, 0, "%s: expected an object", what);
	char *path = NULL;
	int r;
	if (path_key != NULL) {
		json_t *k = json_string(path_key);
		r = json_path_string(k, store_dir, what, "path", &path, err);
		json_decref(k);
	} else {
		json_t *p = json_object_get(obj, "path");
		if (p == NULL)
			return strata_error_set(err, 0, "%s: missing 'path'", what);
		r = json_path_string(p, store_dir, what, "path", &path, err);
	}
	if (r < 0)
		return r;
	uint64_t size = 0;
	bool known = false;
	json_t *ns = json_object_get(obj, "narSize");
	if (ns != NULL && !json_is_null(ns)) {
		if (!json_is_integer(ns) || json_integer_value(ns) < 0) {
			free(path);
			return strata_error_set(err, 0, "%s: 'narSize' must be a non-negative integer", what);
		}
		size = (uint64_t)json_integer_value(ns);
		known = true;
	}
	size_t e = strata_closure_builder_add(b, path, size, known);
	/* Kept only when it looks like a hash: it keys the layer cache. */
	const char *nh = json_string_value(json_object_get(obj, "narHash"));
	if (nh && strlen(nh) < 200 && strchr(nh, ':') && strata_json_check_text(nh, true, what, NULL) == 0)
		strata_closure_builder_set_hash(b, e, strata_xstrdup(nh));
	json_t *refs = json_object_get(obj, "references");
	if (refs == NULL || json_is_null(refs))
		return 0;
	if (!json_is_array(refs))
		return strata_error_set(err, 0, "%s: 'references' must be an array", what);
	size_t i;
	json_t *ref;
	json_array_foreach(refs, i, ref)
	{
		char *rp = NULL;
		if ((r = json_path_string(ref, store_dir, what, "references", &rp, err)) < 0)
			return r;
		strata_closure_builder_add_ref(b, e, rp);
	}
	return 0;
}

/* An array of {path: ...} objects: a closure list. */
static bool is_closure_list(json_t *v)
{
	return json_is_array(v) && json_array_size(v) > 0 && json_is_object(json_array_get(v, 0)) &&
	       json_object_get(json_array_get(v, 0), "path") != NULL;
}

/* The .attrs.json form: the closure is the one value that is a list of
 * {path, ...} (exportReferencesGraph.<key>); the other keys (builder,
 * outputs, ...) are the derivation's. */
static int unwrap_attrs(json_t **root, const char *file, strata_error *err)
{
	const char *key, *found = NULL;
	json_t *v, *list = NULL;
	json_object_foreach(*root, key, v)
	{
		if (!is_closure_list(v))
			continue;
		if (list != NULL)
			return strata_error_set(err, 0, "%s: two closures in one file ('%s' and '%s')", file, found, key);
		list = v;
		found = key;
	}
	if (list != NULL)
		*root = list;
	else if (json_object_size(*root) == 1 && json_is_array(json_object_iter_value(json_object_iter(*root))))
		*root = json_object_iter_value(json_object_iter(*root)); /* {"closure": []}: empty */
	return 0;
}

static int parse_json(json_t *root, const char *store_dir, const char *file, strata_closure_builder *b,
		      strata_error *err)
{
	int r;
	if (json_is_object(root) && json_object_get(root, "path") == NULL && (r = unwrap_attrs(&root, file, err)) < 0)
		return r;
	if (json_is_array(root)) {
		size_t i;
		json_t *v;
		json_array_foreach(root, i, v)
		{
			if ((r = parse_info(v, NULL, store_dir, file, i, b, err)) < 0)
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
				return strata_error_set(err, 0, "%s: '%s' is not a valid store path (null)", file, key);
			if ((r = parse_info(v, key, store_dir, file, 0, b, err)) < 0)
				return r;
		}
		return 0;
	}
	return strata_error_set(err, 0, "%s: expected a JSON array or object of store paths", file);
}

static int load_json(char *buf, size_t len, const char *file, const char *store_dir, strata_pool *pool,
		     const strata_cancel *cancel,
		     strata_closure **out, strata_error *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return strata_error_set(err, 0, "%s:%d:%d: invalid JSON: %s", file, jerr.line, jerr.column, jerr.text);
	strata_closure_builder *b = strata_closure_builder_create(store_dir);
	int r = parse_json(root, store_dir, file, b, err);
	json_decref(root);
	if (r < 0) {
		strata_closure_builder_free(b);
		return r;
	}
	cleanup_closure strata_closure *c = NULL;
	if ((r = strata_closure_builder_finish(b, file, &c, err)) < 0)
		return r;
	if (c->npaths == 0)
		return strata_error_set(err, 0, "%s: the closure holds no store paths", file);
	if ((r = strata_store_scan_closure(c, false, pool, cancel, err)) < 0) /* sizes the input lacks */
		return r;
	*out = strata_steal_pointer(&c);
	return 0;
}

/* ---------- the text form ---------- */

static int load_text(char *buf, const char *file, const char *store_dir, strata_pool *pool, const strata_cancel *cancel,
		     strata_closure **out, strata_error *err)
{
	strata_closure_builder *b = strata_closure_builder_create(store_dir);
	size_t n = 0;
	int r = 0;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line && r == 0; line = strtok_r(NULL, "\n", &save)) {
		while (*line && isspace((unsigned char)*line))
			line++;
		size_t l = strlen(line);
		while (l > 0 && isspace((unsigned char)line[l - 1]))
			line[--l] = '\0';
		if (l == 0)
			continue;
		if ((r = strata_store_path_check(line, store_dir, err)) == 0)
			strata_closure_builder_add(b, strata_xstrdup(line), 0, false);
		n++;
	}
	if (r < 0 || n == 0) {
		strata_closure_builder_free(b);
		return r < 0 ? strata_error_wrap(err, "%s", file)
			     : strata_error_set(err, 0, "%s: the closure holds no store paths", file);
	}
	cleanup_closure strata_closure *c = NULL;
	if ((r = strata_closure_builder_finish(b, "store paths", &c, err)) < 0 ||
	    (r = strata_store_scan_closure(c, true, pool, cancel, err)) < 0)
		return strata_error_wrap(err, "%s", file);
	*out = strata_steal_pointer(&c);
	return 0;
}

/* ---------- entry points ---------- */

int strata_closure_load(const char *file, const char *store_dir, strata_pool *pool, const strata_cancel *cancel,
			strata_closure **out, strata_error *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int r = strata_file_read_all(AT_FDCWD, file, 0, STRATA_FILE_MAX_CLOSURE, "closure file", &buf, &len, err);
	if (r < 0)
		return r;
	return strata_closure_load_buffer(buf, len, file, store_dir, pool, cancel, out, err);
}

int strata_closure_load_buffer(char *buf, size_t len, const char *file, const char *store_dir, strata_pool *pool,
			       const strata_cancel *cancel, strata_closure **out, strata_error *err)
{
	if (strlen(buf) != len)
		return strata_error_set(err, 0, "%s: contains NUL bytes; not a closure file", file);
	const char *p = buf;
	/* An executable that carries its closure (strata exec-json scripts):
	 * its interpreter line is not part of it. */
	if (p[0] == '#' && p[1] == '!' && strchr(p, '\n') && strchr(p, '\n')[1] == '{') {
		p = strchr(p, '\n') + 1;
		len -= (size_t)(p - buf);
		buf += p - buf;
	}
	while (*p && isspace((unsigned char)*p))
		p++;
	if (*p == '\0')
		return strata_error_set(err, 0, "%s: empty closure file", file);
	if (*p == '[' || *p == '{')
		return load_json(buf, len, file, store_dir, pool, cancel, out, err);
	return load_text(buf, file, store_dir, pool, cancel, out, err);
}
