#define _GNU_SOURCE
#include "nix_conf.h"
#include "strata.h"
#include "closure.h"
#include "file.h"
#include "alloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void strata_nix_conf_fini(strata_nix_conf *c)
{
	for (size_t i = 0; i < c->nlayers; i++) {
		for (size_t j = 0; j < c->layer_sizes[i]; j++)
			free(c->layers[i][j]);
		free(c->layers[i]);
	}
	free(c->layers);
	free(c->layer_sizes);
	free(c->customisation_tar);
	free(c->customisation_checksum);
	json_decref(c->root);
}

const char *strata_nix_conf_str(const strata_nix_conf *c, const char *key)
{
	json_t *v = c->root ? json_object_get(c->root, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The script strips the file and wants 64 characters; strata wants the
 * digest it names the layer by, and checks it against the layer later. */
static int read_checksum(strata_nix_conf *c, const char *dir, strata_error *err)
{
	cleanup_free char *path = strata_xasprintf("%s/checksum", dir);
	char *buf = NULL;
	size_t len = 0;
	strata_error e = STRATA_ERROR_INIT;
	if (strata_file_read_all(AT_FDCWD, path, 0, 4096, "customisation layer checksum", &buf, &len, &e) < 0) {
		bool missing = e.code == ENOENT;
		if (!missing)
			strata_error_move(err, &e);
		strata_error_clear(&e);
		return missing ? 0 : -1;
	}
	char *p = buf;
	while (isspace((unsigned char)*p))
		p++;
	size_t n = strlen(p);
	while (n > 0 && isspace((unsigned char)p[n - 1]))
		n--;
	p[n] = '\0';
	if (n != 64 || strspn(p, "0123456789abcdef") != 64) {
		free(buf);
		return strata_error_set(err, 0, "%s is not a SHA-256 (64 lowercase hex digits)", path);
	}
	c->customisation_checksum = strata_xstrdup(p);
	free(buf);
	return 0;
}

int strata_nix_conf_parse(const char *buf, size_t len, const char *file, strata_nix_conf *c,
			  strata_error *err)
{
	json_error_t je;
	memset(c, 0, sizeof *c);
	c->root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (c->root == NULL)
		return strata_error_set(err, 0, "%s:%d:%d: invalid JSON: %s", file, je.line, je.column, je.text);
	if (!json_is_object(c->root))
		return strata_error_set(err, 0, "%s: conf.json must be a JSON object", file);
	static const char *const strs[] = {"architecture", "created", "mtime", "uname", "gname",
					   "repo_tag", "store_dir", "customisation_layer", "from_image"};
	for (size_t i = 0; i < STRATA_ARRAY_LEN(strs); i++) {
		json_t *v = json_object_get(c->root, strs[i]);
		if (v != NULL && !json_is_null(v) && !json_is_string(v))
			return strata_error_set(err, 0, "%s: '%s' must be a string", file, strs[i]);
	}
	static const char *const ids[] = {"uid", "gid"};
	for (size_t i = 0; i < 2; i++) {
		long long v = 0;
		if (json_object_get(c->root, ids[i]) != NULL && strata_nix_conf_id(c, ids[i], &v, err) < 0)
			return strata_error_wrap(err, "%s", file);
	}
	cleanup_free char *store_dir = NULL;
	if (strata_store_dir_normalise(strata_nix_conf_str(c, "store_dir"), &store_dir, err) < 0)
		return strata_error_wrap(err, "%s: store_dir", file);
	json_t *layers = json_object_get(c->root, "store_layers");
	if (!json_is_array(layers))
		return strata_error_set(err, 0, "%s: 'store_layers' must be an array of arrays of store paths", file);
	c->nlayers = json_array_size(layers);
	c->layers = strata_xcalloc(c->nlayers ? c->nlayers : 1, sizeof *c->layers);
	c->layer_sizes = strata_xcalloc(c->nlayers ? c->nlayers : 1, sizeof *c->layer_sizes);
	for (size_t i = 0; i < c->nlayers; i++) {
		json_t *l = json_array_get(layers, i);
		if (!json_is_array(l))
			return strata_error_set(err, 0, "%s: store_layers[%zu] must be an array", file, i);
		c->layers[i] = strata_xcalloc(json_array_size(l) + 1, sizeof(char *));
		for (size_t j = 0; j < json_array_size(l); j++) {
			json_t *p = json_array_get(l, j);
			if (!json_is_string(p))
				return strata_error_set(err, 0, "%s: store_layers[%zu][%zu] must be a string", file, i, j);
			int r = strata_store_path_check(json_string_value(p), store_dir, err);
			if (r < 0)
				return strata_error_wrap(err, "%s", file);
			c->layers[i][c->layer_sizes[i]++] = strata_xstrdup(json_string_value(p));
		}
	}
	const char *cl = strata_nix_conf_str(c, "customisation_layer");
	if (cl != NULL) {
		c->customisation_tar = strata_xasprintf("%s/layer.tar", cl);
		/* Checked here, before any layer starts: a fifo or device
		 * must not reach a worker. */
		int fd = strata_file_open_regular(AT_FDCWD, c->customisation_tar, 0, "customisation layer", NULL, err);
		if (fd < 0)
			return strata_error_wrap(err, "%s", file);
		close(fd);
		if (read_checksum(c, cl, err) < 0)
			return strata_error_wrap(err, "%s", file);
	}
	c->from_image = strata_nix_conf_str(c, "from_image");
	return 0;
}

int strata_nix_conf_id(const strata_nix_conf *c, const char *key, long long *out, strata_error *err)
{
	json_t *v = c->root ? json_object_get(c->root, key) : NULL;
	long long x;
	if (v == NULL || json_is_null(v))
		return 1;
	if (json_is_integer(v)) {
		x = json_integer_value(v);
	} else if (json_is_string(v) && *json_string_value(v) &&
		   strspn(json_string_value(v), "0123456789") == strlen(json_string_value(v)) &&
		   strlen(json_string_value(v)) <= 10) {
		x = atoll(json_string_value(v));
	} else {
		return strata_error_set(err, 0, "'%s' must be a number or a string of digits", key);
	}
	if (x < 0 || x > STRATA_MAX_ID)
		return strata_error_set(err, 0, "'%s' %lld is out of range (0..%lld)", key, x, STRATA_MAX_ID);
	*out = x;
	return 0;
}

int strata_nix_conf_load(const char *file, strata_nix_conf *c, strata_error *err)
{
	memset(c, 0, sizeof *c);
	char *buf = NULL;
	size_t len = 0;
	int r = strata_file_read_all(AT_FDCWD, file, 0, STRATA_FILE_MAX_CLOSURE, "conf file", &buf, &len, err);
	if (r < 0)
		return r;
	r = strata_nix_conf_parse(buf, len, file, c, err);
	free(buf);
	return r;
}
