#define _GNU_SOURCE
#include "image_config.h"
#include "file.h"
#include "json_check.h"
#include "alloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static int check_string_array(json_t *v, const char *key, const char *what, strata_error *err)
{
	if (!json_is_array(v))
		return strata_error_set(err, 0, "%s: '%s' must be an array of strings", what, key);
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e))
			return strata_error_set(err, 0, "%s: '%s' must be an array of strings", what, key);
		if (strcmp(key, "Env") == 0 && strchr(json_string_value(e), '=') == NULL)
			return strata_error_set(err, 0, "%s: Env entry '%s' is not KEY=VALUE", what,
						json_string_value(e));
	}
	return 0;
}

static int check_object_of_empty(json_t *v, const char *key, const char *what, bool strings,
				 strata_error *err)
{
	if (!json_is_object(v))
		return strata_error_set(err, 0, "%s: '%s' must be an object", what, key);
	const char *k;
	json_t *e;
	json_object_foreach(v, k, e)
	{
		if (strings ? !json_is_string(e) : !json_is_object(e))
			return strata_error_set(err, 0, "%s: '%s' values must be %s", what, key,
						strings ? "strings" : "objects ({})");
	}
	return 0;
}

/* A copy of the user's runtime config with validated types and sorted keys
 * (the bytes must not depend on the input file's key order). */
int strata_image_config_normalise(json_t *in, const char *what, json_t **out, strata_error *err)
{
	if (in == NULL || json_is_null(in)) {
		*out = json_object();
		return 0;
	}
	if (!json_is_object(in))
		return strata_error_set(err, 0, "%s: the image config must be a JSON object", what);
	size_t n = json_object_size(in);
	const char **keys = strata_xcalloc(n ? n : 1, sizeof *keys);
	size_t k = 0;
	const char *key;
	json_t *v;
	int r = 0;
	json_object_foreach(in, key, v)
	{
		keys[k++] = key;
		if (json_is_null(v))
			continue;
		if (!strcmp(key, "Cmd") || !strcmp(key, "Entrypoint") || !strcmp(key, "Env"))
			r = check_string_array(v, key, what, err);
		else if (!strcmp(key, "ExposedPorts") || !strcmp(key, "Volumes"))
			r = check_object_of_empty(v, key, what, false, err);
		else if (!strcmp(key, "Labels"))
			r = check_object_of_empty(v, key, what, true, err);
		else if (!strcmp(key, "WorkingDir") || !strcmp(key, "User") || !strcmp(key, "StopSignal"))
			r = json_is_string(v) ? 0 : strata_error_set(err, 0, "%s: '%s' must be a string", what, key);
		if (r < 0)
			break;
	}
	if (r == 0) {
		qsort(keys, n, sizeof *keys, strata_file_cmp_names);
		json_t *o = json_object();
		for (size_t i = 0; i < n; i++)
			json_object_set(o, keys[i], json_object_get(in, keys[i]));
		*out = o;
	}
	free(keys);
	return r;
}


int strata_image_config_parse(const char *buf, size_t len, const char *what, json_t **out,
			      strata_error *err)
{
	json_error_t je;
	json_t *in = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (in == NULL)
		return strata_error_set(err, 0, "%s:%d:%d: invalid JSON: %s", what, je.line, je.column, je.text);
	int r = strata_image_config_normalise(in, what, out, err);
	json_decref(in);
	return r;
}

int strata_image_config_check_oci(json_t *cfg, size_t nlayers, strata_error *err)
{
	static const char *const w = "config";
	if (!json_is_object(cfg))
		return strata_error_set(err, 0, "config: must be a JSON object");
	json_t *arch = json_object_get(cfg, "architecture"), *os = json_object_get(cfg, "os");
	if (!json_is_string(arch) || !*json_string_value(arch) || !json_is_string(os) || !*json_string_value(os))
		return strata_error_set(err, 0, "config: 'architecture' and 'os' are required strings");
	static const char *const strs[] = {"author", "os.version", "variant"};
	for (size_t i = 0; i < STRATA_ARRAY_LEN(strs); i++) {
		json_t *v = json_object_get(cfg, strs[i]);
		if (v != NULL && !json_is_string(v))
			return strata_error_set(err, 0, "config: '%s' must be a string", strs[i]);
	}
	int r = strata_json_check_time(json_object_get(cfg, "created"), w, "created", err);
	if (r == 0)
		r = strata_json_check_string_array(json_object_get(cfg, "os.features"), w, "os.features", err);
	json_t *norm = NULL;
	if (r == 0 && (r = strata_image_config_normalise(json_object_get(cfg, "config"), "config: 'config'", &norm, err)) == 0)
		json_decref(norm);
	if (r < 0)
		return r;
	json_t *rootfs = json_object_get(cfg, "rootfs");
	json_t *diff_ids = json_object_get(rootfs, "diff_ids"), *type = json_object_get(rootfs, "type");
	if (!json_is_string(type) || strcmp(json_string_value(type), "layers") != 0 || !json_is_array(diff_ids))
		return strata_error_set(err, 0, "config: rootfs must be {\"type\": \"layers\", \"diff_ids\": [...]}");
	if (json_array_size(diff_ids) != nlayers)
		return strata_error_set(err, 0, "config has %zu diff_ids but the manifest %zu layers",
					json_array_size(diff_ids), nlayers);
	size_t i;
	json_t *v;
	json_array_foreach(diff_ids, i, v) if (!json_is_string(v) || !strata_json_check_is_sha256(json_string_value(v))) return strata_error_set(
		err, 0, "config: rootfs.diff_ids[%zu] must be sha256:<64 lowercase hex>", i);
	json_t *hist = json_object_get(cfg, "history");
	if (hist != NULL && !json_is_array(hist))
		return strata_error_set(err, 0, "config: 'history' must be an array");
	json_array_foreach(hist, i, v)
	{
		cleanup_free char *hw = strata_xasprintf("config: history[%zu]", i);
		if (!json_is_object(v))
			return strata_error_set(err, 0, "%s must be an object", hw);
		static const char *const hs[] = {"author", "created_by", "comment"};
		for (size_t k = 0; k < STRATA_ARRAY_LEN(hs); k++) {
			json_t *x = json_object_get(v, hs[k]);
			if (x != NULL && !json_is_string(x))
				return strata_error_set(err, 0, "%s: '%s' must be a string", hw, hs[k]);
		}
		json_t *el = json_object_get(v, "empty_layer");
		if (el != NULL && !json_is_boolean(el))
			return strata_error_set(err, 0, "%s: 'empty_layer' must be a boolean", hw);
		if ((r = strata_json_check_time(json_object_get(v, "created"), hw, "created", err)) < 0)
			return r;
	}
	return 0;
}

int strata_image_config_inherit(json_t *base, const char *what, json_t **config, strata_error *err)
{
	if (!json_is_object(base))
		return 0;
	static const char *const kept[] = {"User", "WorkingDir", "StopSignal", "Entrypoint", "Cmd",
					   "ExposedPorts", "Volumes", "Labels"};
	static const char *const merged[] = {"ExposedPorts", "Volumes", "Labels"};
	json_t *c = json_deep_copy(*config);
	bool new_entrypoint = json_object_get(c, "Entrypoint") != NULL;
	for (size_t i = 0; i < STRATA_ARRAY_LEN(kept); i++) {
		json_t *b = json_object_get(base, kept[i]), *mine = json_object_get(c, kept[i]);
		/* As in a Dockerfile, a new ENTRYPOINT drops the base's CMD. */
		if (b == NULL || json_is_null(b) || (new_entrypoint && strcmp(kept[i], "Cmd") == 0))
			continue;
		if (mine == NULL)
			json_object_set_new(c, kept[i], json_deep_copy(b));
		for (size_t k = 0; mine && k < STRATA_ARRAY_LEN(merged); k++)
			if (strcmp(kept[i], merged[k]) == 0 && json_is_object(mine) && json_is_object(b))
				json_object_update_missing(mine, b);
	}
	json_t *out = NULL;
	int r = strata_image_config_normalise(c, what, &out, err);
	json_decref(c);
	if (r < 0)
		return r;
	json_decref(*config);
	*config = out;
	return 0;
}
