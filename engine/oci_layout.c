#define _GNU_SOURCE
#include "oci_layout.h"
#include "alloc.h"
#include "file.h"
#include "sha256.h"
#include "tar.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct strata_oci_layout {
	strata_output *out;
	char *blob_dir; /* <tmp>/blobs/sha256 */
	strata_layout_format format;
	const strata_cancel *cancel;
};

int strata_oci_layout_create(const char *target, strata_layout_format format, const strata_output_options *oo,
			     strata_oci_layout **out, strata_error *err)
{
	strata_output *o = NULL;
	int r = strata_output_create(target, oo, &o, err);
	if (r < 0)
		return r;
	strata_oci_layout *l = strata_xcalloc(1, sizeof *l);
	l->out = o;
	l->format = format;
	l->cancel = oo ? oo->cancel : NULL;
	cleanup_free char *blobs = strata_xasprintf("%s/blobs", strata_output_dir(o));
	l->blob_dir = strata_xasprintf("%s/blobs/sha256", strata_output_dir(o));
	if (mkdir(blobs, 0755) < 0 || mkdir(l->blob_dir, 0755) < 0) {
		int e = errno;
		strata_oci_layout_free(l);
		return strata_error_set(err, e, "cannot create the blobs directory beside '%s'", target);
	}
	*out = l;
	return 0;
}

const char *strata_oci_layout_blob_dir(const strata_oci_layout *l)
{
	return l->blob_dir;
}

static int put_file(const char *dir, const char *name, const void *data, size_t n, strata_error *err)
{
	cleanup_free char *path = strata_xasprintf("%s/%s", dir, name);
	return strata_file_write_new(AT_FDCWD, path, path, data, n, 0644, err);
}

int strata_oci_layout_put_json(strata_oci_layout *l, json_t *j, char hex_ret[65], uint64_t *size_ret,
			       strata_error *err)
{
	cleanup_free char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (s == NULL)
		strata_oom();
	*size_ret = strlen(s);
	strata_sha256_hex(s, *size_ret, hex_ret);
	/* The same blob twice (two images sharing a config) is one file. */
	cleanup_free char *path = strata_xasprintf("%s/%s", l->blob_dir, hex_ret);
	if (access(path, F_OK) == 0)
		return 0;
	return put_file(l->blob_dir, hex_ret, s, *size_ret, err);
}

static int fd_sink(void *arg, const void *buf, size_t n, strata_error *err)
{
	int r = strata_file_write_all(*(int *)arg, buf, n);
	return r < 0 ? strata_error_set(err, -r, "cannot write the output tarball") : 0;
}

/* A file of the layout into the archive, copied from file to file in the
 * kernel: the blobs were just written, they are not read back. */
static int add_layout_file(strata_tar *t, int out_fd, const char *name, const char *host, strata_error *err)
{
	struct stat st;
	cleanup_close int fd = strata_file_open_regular(AT_FDCWD, host, STRATA_FILE_NOFOLLOW, "layout file", &st, err);
	if (fd < 0)
		return -1;
	st.st_mode = 0644;
	return strata_tar_add_file_copy(t, name, fd, out_fd, host, &st, err);
}

/* The layout as one tar (skopeo's oci-archive): fixed order and metadata. */
static int write_tarball(strata_oci_layout *l, strata_error *err)
{
	int fd = -1;
	int r = strata_output_tmpfile(l->out, &fd, err);
	if (r < 0)
		return r;
	strata_tar_options o = {.mtime = 1, .uname = "root", .gname = "root", .cancel = l->cancel};
	strata_tar *t = strata_tar_create(&o, fd_sink, &fd);
	r = strata_tar_add_dir(t, "blobs", 0755, err);
	if (r == 0)
		r = strata_tar_add_dir(t, "blobs/sha256", 0755, err);
	char **names = NULL;
	size_t nn = 0;
	cleanup_close int bfd = r == 0 ? open(l->blob_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (r == 0 && bfd < 0)
		r = strata_error_set(err, errno, "cannot open '%s'", l->blob_dir);
	if (r == 0)
		r = strata_file_list_dir(bfd, l->blob_dir, &names, &nn, err);
	for (size_t i = 0; i < nn && r == 0; i++) {
		if (names[i][0] == '.')
			continue;
		cleanup_free char *host = strata_xasprintf("%s/%s", l->blob_dir, names[i]);
		cleanup_free char *name = strata_xasprintf("blobs/sha256/%s", names[i]);
		r = add_layout_file(t, fd, name, host, err);
	}
	strata_file_free_names(names, nn);
	static const char *const top[] = {"index.json", "oci-layout"};
	for (size_t i = 0; i < 2 && r == 0; i++) {
		cleanup_free char *host = strata_xasprintf("%s/%s", strata_output_dir(l->out), top[i]);
		r = add_layout_file(t, fd, top[i], host, err);
	}
	if (r == 0)
		r = strata_tar_finish(t, err);
	strata_tar_free(t);
	if (close(fd) < 0 && r == 0)
		r = strata_error_set(err, errno, "cannot write the output tarball");
	return r;
}

int strata_oci_layout_finish(strata_oci_layout *l, json_t *index, strata_error *err)
{
	static const char layout_file[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	cleanup_free char *s = json_dumps(index, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (s == NULL)
		strata_oom();
	const char *dir = strata_output_dir(l->out);
	int r = put_file(dir, "index.json", s, strlen(s), err);
	if (r == 0)
		r = put_file(dir, "oci-layout", layout_file, sizeof layout_file - 1, err);
	if (r == 0 && l->format == STRATA_FORMAT_TARBALL)
		r = write_tarball(l, err);
	if (r == 0)
		r = strata_output_commit(l->out, err);
	return r;
}

void strata_oci_layout_abort(strata_oci_layout *l)
{
	if (l != NULL)
		strata_output_abort(l->out);
}

void strata_oci_layout_free(strata_oci_layout *l)
{
	if (l == NULL)
		return;
	strata_output_free(l->out);
	free(l->blob_dir);
	free(l);
}
