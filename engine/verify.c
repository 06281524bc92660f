#define _GNU_SOURCE
#include "verify.h"
#include "digest.h"
#include "oci_layout.h"
#include "strata_util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUF (1u << 20)

static int hash_file(const char *path, char hex[65], unsigned long long *size, strata_error *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return strata_error_set(err, errno, "cannot open blob '%s'", path);
	strata_sha256 *md = strata_sha256_create();
	unsigned char *buf = strata_xmalloc(BUF);
	unsigned long long total = 0;
	int r = 0;
	for (;;) {
		ssize_t n = read(fd, buf, BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = strata_error_set(err, errno, "cannot read blob '%s'", path);
			break;
		}
		if (n == 0)
			break;
		strata_sha256_update(md, buf, (size_t)n);
		total += (unsigned long long)n;
	}
	strata_sha256_final_hex(md, hex);
	strata_sha256_free(md);
	free(buf);
	*size = total;
	return r;
}

/* Checks the blob behind a descriptor; returns its path in *path_ret. */
static int check_blob(const char *dir, json_t *desc, const char *what, char **path_ret, strata_error *err)
{
	json_t *dg = json_object_get(desc, "digest"), *sz = json_object_get(desc, "size");
	json_t *mt = json_object_get(desc, "mediaType");
	if (!json_is_string(dg) || !json_is_integer(sz) || !json_is_string(mt))
		return strata_error_set(err, 0, "%s: descriptor needs mediaType, digest and size", what);
	const char *d = json_string_value(dg);
	if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71 || strspn(d + 7, "0123456789abcdef") != 64)
		return strata_error_set(err, 0, "%s: digest '%s' is not sha256:<64 lowercase hex>", what, d);
	char *path = strata_xasprintf("%s/blobs/sha256/%s", dir, d + 7);
	char hex[65];
	unsigned long long size = 0;
	int r = hash_file(path, hex, &size, err);
	if (r == 0 && size != (unsigned long long)json_integer_value(sz))
		r = strata_error_set(err, 0, "%s: blob %s is %llu bytes, descriptor says %lld", what, d, size,
				     (long long)json_integer_value(sz));
	if (r == 0 && strcmp(hex, d + 7) != 0)
		r = strata_error_set(err, 0, "%s: blob %s has digest sha256:%s", what, d, hex);
	if (r < 0) {
		free(path);
		return r;
	}
	*path_ret = path;
	return 0;
}

static int load_json(const char *path, const char *what, json_t **out, strata_error *err)
{
	json_error_t je;
	*out = json_load_file(path, 0, &je);
	if (*out == NULL)
		return strata_error_set(err, 0, "%s: invalid JSON: %s", what, je.text);
	return 0;
}

/* sha256 of the decompressed layer (libarchive raw format with every
 * filter: multi-member gzip and multi-frame zstd read as one stream). */
static int layer_diff_id(const char *path, char hex[65], strata_error *err)
{
	struct archive *a = archive_read_new();
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	int r = 0;
	if (archive_read_open_filename(a, path, BUF) != ARCHIVE_OK) {
		r = strata_error_set(err, 0, "cannot read layer '%s': %s", path, archive_error_string(a));
		archive_read_free(a);
		return r;
	}
	struct archive_entry *e;
	strata_sha256 *md = strata_sha256_create();
	if (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		unsigned char *buf = strata_xmalloc(BUF);
		for (;;) {
			la_ssize_t n = archive_read_data(a, buf, BUF);
			if (n < 0) {
				r = strata_error_set(err, 0, "cannot decompress layer '%s': %s", path,
						     archive_error_string(a));
				break;
			}
			if (n == 0)
				break;
			strata_sha256_update(md, buf, (size_t)n);
		}
		free(buf);
	}
	strata_sha256_final_hex(md, hex);
	strata_sha256_free(md);
	archive_read_free(a);
	return r;
}

static const char *str_or_empty(json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "";
}

static bool is_layer_type(const char *t)
{
	static const char *const ok[] = {
		"application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.oci.image.layer.v1.tar+zstd",
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"};
	for (size_t i = 0; i < STRATA_ARRAY_LEN(ok); i++)
		if (strcmp(t, ok[i]) == 0)
			return true;
	return false;
}

static int verify_manifest(const char *dir, json_t *desc, size_t mi, strata_verify_report *rep,
			   strata_error *err)
{
	cleanup_free char *what = strata_xasprintf("index.json manifests[%zu]", mi);
	const char *mt = json_string_value(json_object_get(desc, "mediaType"));
	if (mt == NULL || strcmp(mt, "application/vnd.oci.image.manifest.v1+json") != 0)
		return strata_error_set(err, 0, "%s: mediaType '%s' is not an OCI image manifest", what,
					mt ? mt : "(missing)");
	cleanup_free char *mpath = NULL;
	int r = check_blob(dir, desc, what, &mpath, err);
	if (r < 0)
		return r;
	rep->blobs++;
	json_t *man = NULL;
	if ((r = load_json(mpath, "manifest", &man, err)) < 0)
		return r;
	json_t *cfgd = json_object_get(man, "config"), *layers = json_object_get(man, "layers");
	json_t *cfg = NULL;
	cleanup_free char *cpath = NULL;
	if (json_integer_value(json_object_get(man, "schemaVersion")) != 2)
		r = strata_error_set(err, 0, "manifest: schemaVersion must be 2");
	else if (!json_is_object(cfgd) || !json_is_array(layers))
		r = strata_error_set(err, 0, "manifest: needs 'config' and 'layers'");
	else if (strcmp(str_or_empty(json_object_get(cfgd, "mediaType")),
			"application/vnd.oci.image.config.v1+json") != 0)
		r = strata_error_set(err, 0, "manifest: config mediaType is not application/vnd.oci.image.config.v1+json");
	else if ((r = check_blob(dir, cfgd, "config", &cpath, err)) == 0 && (rep->blobs++, 1) &&
		 (r = load_json(cpath, "config", &cfg, err)) == 0) {
		json_t *rootfs = json_object_get(cfg, "rootfs");
		json_t *diff_ids = json_object_get(rootfs, "diff_ids");
		if (strcmp(str_or_empty(json_object_get(rootfs, "type")), "layers") != 0 ||
		    !json_is_array(diff_ids))
			r = strata_error_set(err, 0, "config: rootfs must be {\"type\": \"layers\", \"diff_ids\": [...]}");
		else if (json_array_size(diff_ids) != json_array_size(layers))
			r = strata_error_set(err, 0, "config has %zu diff_ids but the manifest %zu layers",
					     json_array_size(diff_ids), json_array_size(layers));
		else if (!json_is_string(json_object_get(cfg, "architecture")) ||
			 !json_is_string(json_object_get(cfg, "os")))
			r = strata_error_set(err, 0, "config: 'architecture' and 'os' are required");
		for (size_t i = 0; r == 0 && i < json_array_size(layers); i++) {
			json_t *ld = json_array_get(layers, i);
			cleanup_free char *lw = strata_xasprintf("layer %zu", i);
			const char *lt = json_string_value(json_object_get(ld, "mediaType"));
			if (lt == NULL || !is_layer_type(lt)) {
				r = strata_error_set(err, 0, "%s: unknown layer mediaType '%s'", lw, lt ? lt : "(missing)");
				break;
			}
			cleanup_free char *lpath = NULL;
			if ((r = check_blob(dir, ld, lw, &lpath, err)) < 0)
				break;
			rep->blobs++;
			char hex[65];
			if ((r = layer_diff_id(lpath, hex, err)) < 0)
				break;
			const char *want = json_string_value(json_array_get(diff_ids, i));
			if (want == NULL || strncmp(want, "sha256:", 7) != 0 || strcmp(want + 7, hex) != 0) {
				r = strata_error_set(err, 0, "%s: diff_id mismatch: the tar is sha256:%s, the config says %s",
						     lw, hex, want ? want : "(missing)");
				break;
			}
			rep->layers++;
		}
	}
	json_decref(cfg);
	json_decref(man);
	if (r == 0)
		rep->manifests++;
	return r;
}

static int verify_dir(const char *dir, strata_verify_report *rep, strata_error *err)
{
	cleanup_free char *lpath = strata_xasprintf("%s/oci-layout", dir);
	json_t *lay = NULL;
	int r = load_json(lpath, "oci-layout", &lay, err);
	if (r < 0)
		return r;
	const char *v = json_string_value(json_object_get(lay, "imageLayoutVersion"));
	if (v == NULL || strcmp(v, "1.0.0") != 0)
		r = strata_error_set(err, 0, "oci-layout: imageLayoutVersion must be \"1.0.0\"");
	json_decref(lay);
	if (r < 0)
		return r;
	cleanup_free char *ipath = strata_xasprintf("%s/index.json", dir);
	json_t *idx = NULL;
	if ((r = load_json(ipath, "index.json", &idx, err)) < 0)
		return r;
	json_t *mans = json_object_get(idx, "manifests");
	if (json_integer_value(json_object_get(idx, "schemaVersion")) != 2)
		r = strata_error_set(err, 0, "index.json: schemaVersion must be 2");
	else if (!json_is_array(mans) || json_array_size(mans) == 0)
		r = strata_error_set(err, 0, "index.json: no manifests");
	for (size_t i = 0; r == 0 && i < json_array_size(mans); i++)
		r = verify_manifest(dir, json_array_get(mans, i), i, rep, err);
	json_decref(idx);
	return r;
}

/* The tarball form: unpacked into a private temporary directory first. */
static int unpack_tarball(const char *file, const char *dir, strata_error *err)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	int r = 0;
	if (archive_read_open_filename(a, file, BUF) != ARCHIVE_OK) {
		r = strata_error_set(err, 0, "cannot read '%s': %s", file, archive_error_string(a));
		archive_read_free(a);
		return r;
	}
	struct archive_entry *e;
	int h;
	while ((h = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		if (name[0] == '/' || strstr(name, "..") != NULL) {
			r = strata_error_set(err, 0, "'%s': unsafe member name '%s'", file, name);
			break;
		}
		cleanup_free char *out = strata_xasprintf("%s/%s", dir, name);
		if (archive_entry_filetype(e) == AE_IFDIR) {
			if (mkdir(out, 0755) < 0 && errno != EEXIST) {
				r = strata_error_set(err, errno, "cannot create '%s'", out);
				break;
			}
			continue;
		}
		if (archive_entry_filetype(e) != AE_IFREG) {
			r = strata_error_set(err, 0, "'%s': member '%s' is not a file or directory", file, name);
			break;
		}
		int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0) {
			r = strata_error_set(err, errno, "cannot create '%s'", out);
			break;
		}
		if (archive_read_data_into_fd(a, fd) != ARCHIVE_OK)
			r = strata_error_set(err, 0, "'%s': cannot extract '%s': %s", file, name, archive_error_string(a));
		close(fd);
		if (r < 0)
			break;
	}
	if (r == 0 && h != ARCHIVE_EOF)
		r = strata_error_set(err, 0, "'%s': %s", file, archive_error_string(a));
	archive_read_free(a);
	return r;
}

int strata_verify(const char *path, strata_verify_report *rep, strata_error *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return strata_error_set(err, errno, "cannot access '%s'", path);
	memset(rep, 0, sizeof *rep);
	if (S_ISDIR(st.st_mode)) {
		int r = verify_dir(path, rep, err);
		return r < 0 ? strata_error_wrap(err, "%s", path) : 0;
	}
	const char *tmp = getenv("TMPDIR");
	cleanup_free char *dir = strata_xasprintf("%s/strata-verify-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return strata_error_set(err, errno, "cannot create a temporary directory");
	int r = unpack_tarball(path, dir, err);
	if (r == 0)
		r = verify_dir(dir, rep, err);
	strata_remove_tree(dir);
	return r < 0 ? strata_error_wrap(err, "%s", path) : 0;
}
