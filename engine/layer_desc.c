#define _GNU_SOURCE
#include "layer_desc.h"
#include "alloc.h"
#include "file.h"
#include "json_check.h"
#include "oci_image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The strings load made. */
static void release(const void *p)
{
	free((void *)(uintptr_t)p);
}

void strata_layer_desc_fini(strata_layer_desc *d)
{
	release(d->dir);
	release(d->blob);
	release(d->media_type);
	for (size_t i = 0; i < d->npaths; i++)
		release(d->store_paths[i]);
	release(d->store_paths);
	release(d->created_by);
	release(d->comment);
	memset(d, 0, sizeof *d);
}

static int hex_of(json_t *v, char out[65])
{
	const char *s = json_string_value(v);
	if (s == NULL || !strata_json_check_is_sha256(s))
		return -1;
	memcpy(out, s + 7, 65);
	return 0;
}

int strata_layer_desc_load(const char *dir, strata_layer_desc *d, strata_error *err)
{
	memset(d, 0, sizeof *d);
	cleanup_free char *path = strata_xasprintf("%s/layer.json", dir);
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int r = strata_file_read_all(AT_FDCWD, path, STRATA_FILE_NOFOLLOW, STRATA_FILE_MAX_JSON, "layer descriptor",
				     &buf, &len, err);
	if (r < 0)
		return r;
	json_error_t je;
	cleanup_json json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	json_t *size = json_object_get(j, "size"), *tsize = json_object_get(j, "uncompressed_size");
	json_t *paths = json_object_get(j, "store_paths"), *hist = json_object_get(j, "history");
	const char *mt = json_string_value(json_object_get(j, "mediaType"));
	strata_compress c;
	if (!json_is_object(j) || hex_of(json_object_get(j, "digest"), d->digest) < 0 ||
	    hex_of(json_object_get(j, "diff_id"), d->diff_id) < 0 || !json_is_integer(size) || json_integer_value(size) < 0 ||
	    !json_is_integer(tsize) || json_integer_value(tsize) < 0 || mt == NULL ||
	    !strata_oci_image_layer_compression(mt, &c) || strata_json_check_string_array(paths, path, "store_paths", NULL) < 0 ||
	    !json_is_object(hist))
		return strata_error_set(err, 0, "%s: not a layer descriptor of strata layer", path);
	d->dir = strata_xstrdup(dir);
	d->blob = strata_xasprintf("%s/%s", dir, d->digest);
	d->size = (uint64_t)json_integer_value(size);
	d->tar_size = (uint64_t)json_integer_value(tsize);
	d->media_type = strata_xstrdup(mt);
	d->npaths = json_array_size(paths);
	char **sp = strata_xcalloc(d->npaths + 1, sizeof *sp);
	for (size_t i = 0; i < d->npaths; i++)
		sp[i] = strata_xstrdup(json_string_value(json_array_get(paths, i)));
	d->store_paths = (const char *const *)sp;
	const char *cb = json_string_value(json_object_get(hist, "created_by"));
	const char *cm = json_string_value(json_object_get(hist, "comment"));
	d->created_by = cb ? strata_xstrdup(cb) : NULL;
	d->comment = cm ? strata_xstrdup(cm) : NULL;
	return 0;
}

int strata_layer_desc_write(const char *dir, const strata_layer_desc *d, strata_error *err)
{
	json_t *j = json_object(), *paths = json_array(), *hist = json_object();
	json_object_set_new(j, "mediaType", json_string(d->media_type));
	json_object_set_new(j, "digest", json_sprintf("sha256:%s", d->digest));
	json_object_set_new(j, "size", json_integer((json_int_t)d->size));
	json_object_set_new(j, "diff_id", json_sprintf("sha256:%s", d->diff_id));
	json_object_set_new(j, "uncompressed_size", json_integer((json_int_t)d->tar_size));
	for (size_t i = 0; i < d->npaths; i++)
		json_array_append_new(paths, json_string(d->store_paths[i]));
	json_object_set_new(j, "store_paths", paths);
	if (d->created_by)
		json_object_set_new(hist, "created_by", json_string(d->created_by));
	if (d->comment)
		json_object_set_new(hist, "comment", json_string(d->comment));
	json_object_set_new(j, "history", hist);
	cleanup_free char *text = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(j);
	cleanup_free char *path = strata_xasprintf("%s/layer.json", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || strata_file_write_all(fd, text, strlen(text)) < 0 || strata_file_write_all(fd, "\n", 1) < 0) {
		if (fd >= 0)
			close(fd);
		return strata_error_set(err, errno, "cannot write '%s'", path);
	}
	close(fd);
	return 0;
}
