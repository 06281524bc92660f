#define _GNU_SOURCE
#include "oci_layout.h"
#include "digest.h"
#include "output.h"
#include "file.h"
#include "strata_util.h"
#include "tar_stream.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct strata_layout {
	strata_output *out;
	char *blob_dir; /* <tmp>/blobs/sha256 */
	strata_layout_format format;
};

int strata_layout_create(const char *target, strata_layout_format format, const strata_output_options *oo,
			 strata_layout **out, strata_error *err)
{
	strata_output *o = NULL;
	int r = strata_output_create(target, oo, &o, err);
	if (r < 0)
		return r;
	strata_layout *l = strata_xcalloc(1, sizeof *l);
	l->out = o;
	l->format = format;
	cleanup_free char *blobs = strata_xasprintf("%s/blobs", strata_output_dir(o));
	l->blob_dir = strata_xasprintf("%s/blobs/sha256", strata_output_dir(o));
	if (mkdir(blobs, 0755) < 0 || mkdir(l->blob_dir, 0755) < 0) {
		int e = errno;
		strata_layout_free(l);
		return strata_error_set(err, e, "cannot create the blobs directory beside '%s'", target);
	}
	*out = l;
	return 0;
}

const char *strata_layout_blob_dir(const strata_layout *l)
{
	return l->blob_dir;
}

static int write_file(const char *path, const void *data, size_t n, strata_error *err)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return strata_error_set(err, errno, "cannot create '%s'", path);
	int r = strata_file_write_all(fd, data, n);
	if (r < 0)
		return strata_error_set(err, -r, "cannot write '%s'", path);
	if (close(strata_get_and_reset(&fd)) < 0)
		return strata_error_set(err, errno, "cannot write '%s'", path);
	return 0;
}

int strata_layout_put_blob(strata_layout *l, const void *data, size_t n, char *digest_ret,
			   strata_error *err)
{
	strata_sha256_hex(data, n, digest_ret);
	cleanup_free char *path = strata_xasprintf("%s/%s", l->blob_dir, digest_ret);
	return write_file(path, data, n, err);
}

int strata_layout_put_file(strata_layout *l, const char *name, const void *data, size_t n,
			   strata_error *err)
{
	cleanup_free char *path = strata_xasprintf("%s/%s", strata_output_dir(l->out), name);
	return write_file(path, data, n, err);
}

static int fd_sink(void *arg, const void *buf, size_t n, strata_error *err)
{
	int r = strata_file_write_all(*(int *)arg, buf, n);
	return r < 0 ? strata_error_set(err, -r, "cannot write the output tarball") : 0;
}

static int add_layout_file(strata_tar *t, const char *name, const char *host, strata_error *err)
{
	struct stat st;
	if (stat(host, &st) < 0)
		return strata_error_set(err, errno, "cannot stat '%s'", host);
	st.st_mode = 0644;
	return strata_tar_add_file(t, name, AT_FDCWD, host, host, &st, err);
}

/* The layout as one tar (skopeo's oci-archive): fixed order and metadata. */
static int write_tarball(strata_layout *l, strata_error *err)
{
	int fd = -1;
	int r = strata_output_tmpfile(l->out, &fd, err);
	if (r < 0)
		return r;
	strata_tar_options o = {.mtime = 1, .uid = 0, .gid = 0, .uname = "root", .gname = "root"};
	strata_tar *t = strata_tar_create(&o, fd_sink, &fd);
	r = strata_tar_add_dir(t, "blobs", 0755, err);
	if (r == 0)
		r = strata_tar_add_dir(t, "blobs/sha256", 0755, err);
	DIR *d = r == 0 ? opendir(l->blob_dir) : NULL;
	if (r == 0 && d == NULL)
		r = strata_error_set(err, errno, "cannot open '%s'", l->blob_dir);
	char **names = NULL;
	size_t nn = 0;
	if (d != NULL) {
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			names = strata_xrealloc(names, (nn + 1) * sizeof *names);
			names[nn++] = strata_xstrdup(de->d_name);
		}
		closedir(d);
		if (nn > 1)
			qsort(names, nn, sizeof *names, strata_cmp_strp);
	}
	for (size_t i = 0; i < nn && r == 0; i++) {
		cleanup_free char *host = strata_xasprintf("%s/%s", l->blob_dir, names[i]);
		cleanup_free char *name = strata_xasprintf("blobs/sha256/%s", names[i]);
		r = add_layout_file(t, name, host, err);
	}
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	static const char *const top[] = {"index.json", "oci-layout"};
	for (size_t i = 0; i < 2 && r == 0; i++) {
		cleanup_free char *host = strata_xasprintf("%s/%s", strata_output_dir(l->out), top[i]);
		r = add_layout_file(t, top[i], host, err);
	}
	if (r == 0)
		r = strata_tar_finish(t, err);
	strata_tar_free(t);
	if (close(fd) < 0 && r == 0)
		r = strata_error_set(err, errno, "cannot write the output tarball");
	return r;
}

json_t *strata_oci_descriptor(const char *media_type, const char *hex, uint64_t size)
{
	json_t *d = json_object();
	json_object_set_new(d, "mediaType", json_string(media_type));
	json_object_set_new(d, "digest", json_sprintf("sha256:%s", hex));
	json_object_set_new(d, "size", json_integer((json_int_t)size));
	return d;
}

int strata_layout_put_json(strata_layout *l, json_t *j, char hex_ret[65], uint64_t *size_ret,
			   strata_error *err)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (s == NULL)
		strata_oom();
	*size_ret = strlen(s);
	int r = strata_layout_put_blob(l, s, *size_ret, hex_ret, err);
	free(s);
	return r;
}

json_t *strata_oci_manifest(const char *cfg_hex, uint64_t cfg_size, json_t *layers)
{
	json_t *man = json_object();
	json_object_set_new(man, "schemaVersion", json_integer(2));
	json_object_set_new(man, "mediaType", json_string("application/vnd.oci.image.manifest.v1+json"));
	json_object_set_new(man, "config",
			    strata_oci_descriptor("application/vnd.oci.image.config.v1+json", cfg_hex, cfg_size));
	json_object_set(man, "layers", layers);
	return man;
}

void strata_oci_index_add(json_t *manifests, const char *man_hex, uint64_t man_size, const char *ref,
			  const char *arch, const char *os)
{
	json_t *d = strata_oci_descriptor("application/vnd.oci.image.manifest.v1+json", man_hex, man_size);
	json_t *ann = json_object();
	json_object_set_new(ann, "org.opencontainers.image.ref.name", json_string(ref));
	json_object_set_new(d, "annotations", ann);
	json_t *plat = json_object();
	json_object_set_new(plat, "architecture", json_string(arch));
	json_object_set_new(plat, "os", json_string(os));
	json_object_set_new(d, "platform", plat);
	json_array_append_new(manifests, d);
}

int strata_layout_finish(strata_layout *l, json_t *manifests, strata_error *err)
{
	static const char layout_file[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	json_t *idx = json_object();
	json_object_set_new(idx, "schemaVersion", json_integer(2));
	json_object_set_new(idx, "mediaType", json_string("application/vnd.oci.image.index.v1+json"));
	json_object_set_new(idx, "manifests", manifests);
	char *s = json_dumps(idx, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(idx);
	if (s == NULL)
		strata_oom();
	int r = strata_layout_put_file(l, "index.json", s, strlen(s), err);
	free(s);
	if (r == 0)
		r = strata_layout_put_file(l, "oci-layout", layout_file, sizeof layout_file - 1, err);
	if (r == 0)
		r = strata_layout_commit(l, err);
	return r;
}

int strata_layout_commit(strata_layout *l, strata_error *err)
{
	if (l->format == STRATA_FORMAT_TARBALL) {
		int r = write_tarball(l, err);
		if (r < 0)
			return r;
	}
	return strata_output_commit(l->out, err);
}

void strata_layout_abort(strata_layout *l)
{
	if (l != NULL)
		strata_output_abort(l->out);
}

void strata_layout_free(strata_layout *l)
{
	if (l == NULL)
		return;
	strata_output_free(l->out);
	free(l->blob_dir);
	free(l);
}
