#define _GNU_SOURCE
#include "base_image.h"
#include "alloc.h"
#include "archive_in.h"
#include "file.h"
#include "json_check.h"
#include "sha256.h"
#include "tar_check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_BUF (1u << 20)

struct strata_base_image {
	char *path;
	int fd; /* the archive, or its decompressed copy */
	strata_tar_index *index;
	json_t *config;
	strata_base_layer *layers;
	size_t nlayers;
};

/* ---------- reading members ---------- */

typedef struct member_reader {
	int fd;
	uint64_t off, left;
	strata_sha256 *raw; /* every byte read, in order */
	const strata_cancel *cancel;
} member_reader;

static ssize_t member_read(void *arg, void *buf, size_t n)
{
	member_reader *r = arg;
	if (strata_cancel_requested(r->cancel)) {
		errno = EINTR;
		return -1;
	}
	if (n > r->left)
		n = (size_t)r->left;
	ssize_t k;
	do
		k = pread(r->fd, buf, n, (off_t)r->off);
	while (k < 0 && errno == EINTR && !strata_cancel_requested(r->cancel));
	if (k == 0 && n > 0) {
		errno = EIO; /* the archive got shorter */
		return -1;
	}
	if (k > 0) {
		r->off += (uint64_t)k;
		r->left -= (uint64_t)k;
		strata_sha256_update(r->raw, buf, (size_t)k);
	}
	return k;
}

static int read_json_member(const strata_base_image *b, const char *name, json_t **out, strata_error *err)
{
	const strata_tar_member *m = strata_tar_index_find(b->index, name);
	if (m == NULL || !strata_tar_index_is_file(m))
		return strata_error_set(err, 0, "base image %s: no %s in it (not a Docker archive?)", b->path, name);
	if (m->h.size > STRATA_FILE_MAX_JSON)
		return strata_error_set(err, 0, "base image %s: %s is too large", b->path, name);
	cleanup_free char *buf = strata_xmalloc(m->h.size + 1);
	size_t got = 0;
	while (got < m->h.size) {
		ssize_t k = pread(b->fd, buf + got, m->h.size - got, (off_t)(m->data_offset + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return strata_error_set(err, k < 0 ? errno : 0, "base image %s: cannot read %s", b->path, name);
		got += (size_t)k;
	}
	json_error_t je;
	*out = json_loadb(buf, got, 0, &je);
	if (*out == NULL)
		return strata_error_set(err, 0, "base image %s: %s: invalid JSON: %s", b->path, name, je.text);
	return 0;
}

/* ---------- opening ---------- */

/* A compressed archive, decompressed into an anonymous file. */
static int decompress(strata_base_image *b, int fd, const strata_cancel *cancel, strata_error *err)
{
	strata_archive_in *in = NULL;
	int r = strata_archive_in_open_fd(fd, b->path, STRATA_ARCHIVE_RAW, cancel, &in, err);
	if (r < 0)
		return r;
	int tmp = strata_file_tmpfile(err);
	cleanup_free unsigned char *buf = strata_xmalloc(READ_BUF);
	for (r = tmp < 0 ? -1 : 0; r == 0;) {
		ssize_t n = strata_archive_in_read(in, buf, READ_BUF);
		if (n == 0)
			break;
		if (n < 0)
			r = strata_error_set(err, 0, "base image %s: %s", b->path,
					     strata_cancel_requested(cancel) ? "interrupted" : strata_archive_in_error(in));
		else if ((r = strata_file_write_all(tmp, buf, (size_t)n)) < 0)
			r = strata_error_set(err, -r, "base image %s: cannot write its decompressed copy", b->path);
	}
	strata_archive_in_free(in);
	if (r < 0) {
		if (tmp >= 0)
			close(tmp);
		return r;
	}
	b->fd = tmp;
	return 0;
}

static int open_archive(strata_base_image *b, const strata_cancel *cancel, strata_error *err)
{
	cleanup_close int fd = strata_file_open_regular(AT_FDCWD, b->path, 0, "base image", NULL, err);
	if (fd < 0)
		return fd;
	unsigned char head[8] = {0};
	ssize_t k = pread(fd, head, sizeof head, 0);
	const char *name = NULL;
	strata_compression c = strata_archive_in_detect(head, k > 0 ? (size_t)k : 0, &name);
	if (c == STRATA_COMPRESSION_UNSUPPORTED)
		return strata_error_set(err, 0, "base image %s is compressed with %s, which strata does not read", b->path,
					name);
	if (c == STRATA_COMPRESSION_NONE) {
		b->fd = strata_get_and_reset(&fd);
		return 0;
	}
	return decompress(b, fd, cancel, err);
}

static int diff_id_hex(json_t *v, char out[65])
{
	const char *s = json_string_value(v);
	if (s == NULL || strata_json_check_sha256(s) < 0)
		return -1;
	memcpy(out, s + 7, 65);
	return 0;
}

/* Whether a RepoTags entry ("repo:tag", the repo may hold a port) names
 * the wanted image; NULL wants anything. */
static bool repo_tag_matches(const char *rt, const char *name, const char *tag)
{
	const char *colon = strrchr(rt, ':');
	if (colon && strchr(colon, '/'))
		colon = NULL;
	size_t rl = colon ? (size_t)(colon - rt) : strlen(rt);
	const char *t = colon ? colon + 1 : "latest";
	return (name == NULL || (strlen(name) == rl && strncmp(rt, name, rl) == 0)) && (tag == NULL || strcmp(t, tag) == 0);
}

/* The image of manifest.json to use: the first, or the first whose RepoTags
 * has name and tag. */
static int pick_image(strata_base_image *b, json_t *man, const char *name, const char *tag, json_t **img,
		      strata_error *err)
{
	if (!json_is_array(man) || json_array_size(man) == 0)
		return strata_error_set(err, 0, "base image %s: manifest.json lists no image", b->path);
	if (name == NULL && tag == NULL) {
		*img = json_array_get(man, 0);
		return 0;
	}
	size_t i, k;
	json_t *e, *rt;
	json_array_foreach(man, i, e) {
		json_array_foreach(json_object_get(e, "RepoTags"), k, rt) {
			if (json_is_string(rt) && repo_tag_matches(json_string_value(rt), name, tag)) {
				*img = e;
				return 0;
			}
		}
	}
	return strata_error_set(err, 0, "base image %s has no image named %s%s%s", b->path, name ? name : "*",
				":", tag ? tag : "*");
}

/* manifest.json's image (pick_image): its config and layers. */
static int read_image(strata_base_image *b, const char *want_name, const char *want_tag, strata_error *err)
{
	cleanup_json json_t *man = NULL;
	int r = read_json_member(b, "manifest.json", &man, err);
	if (r < 0)
		return r;
	json_t *img = NULL;
	if ((r = pick_image(b, man, want_name, want_tag, &img, err)) < 0)
		return r;
	json_t *cfg = json_object_get(img, "Config"), *layers = json_object_get(img, "Layers");
	if (!json_is_string(cfg) || !json_is_array(layers))
		return strata_error_set(err, 0, "base image %s: manifest.json has no image with Config and Layers",
					b->path);
	if ((r = read_json_member(b, json_string_value(cfg), &b->config, err)) < 0)
		return r;
	json_t *diff_ids = json_object_get(json_object_get(b->config, "rootfs"), "diff_ids");
	if (!json_is_object(b->config) || !json_is_array(diff_ids))
		return strata_error_set(err, 0, "base image %s: its config has no rootfs.diff_ids", b->path);
	b->nlayers = json_array_size(layers);
	if (json_array_size(diff_ids) != b->nlayers)
		return strata_error_set(err, 0, "base image %s: %zu layers but %zu diff_ids", b->path, b->nlayers,
					json_array_size(diff_ids));
	b->layers = strata_xcalloc(b->nlayers ? b->nlayers : 1, sizeof *b->layers);
	for (size_t i = 0; i < b->nlayers; i++) {
		const char *name = json_string_value(json_array_get(layers, i));
		const strata_tar_member *m = name ? strata_tar_index_find(b->index, name) : NULL;
		if (m == NULL)
			return strata_error_set(err, 0, "base image %s: layer %zu is not in the archive", b->path, i + 1);
		if (!strata_tar_index_is_file(m))
			return strata_error_set(err, 0, "base image %s: layer '%s' is a link or special file, not a file",
						b->path, name);
		b->layers[i].member = m;
		if (diff_id_hex(json_array_get(diff_ids, i), b->layers[i].diff_id) < 0)
			return strata_error_set(err, 0, "base image %s: diff_id %zu is not sha256:<64 hex digits>", b->path,
						i + 1);
	}
	json_t *env = json_object_get(json_object_get(b->config, "config"), "Env");
	return strata_json_check_string_array(env, b->path, "config.Env", err);
}

int strata_base_image_open(const char *path, const char *name, const char *tag, const strata_cancel *cancel,
			   strata_base_image **out, strata_error *err)
{
	strata_base_image *b = strata_xcalloc(1, sizeof *b);
	b->path = strata_xstrdup(path);
	b->fd = -1;
	int r = open_archive(b, cancel, err);
	if (r == 0) {
		cleanup_free char *what = strata_xasprintf("base image %s", path);
		r = strata_tar_index_read(b->fd, what, cancel, &b->index, err);
	}
	if (r == 0)
		r = read_image(b, name, tag, err);
	if (r < 0) {
		strata_base_image_free(b);
		return r;
	}
	*out = b;
	return 0;
}

size_t strata_base_image_nlayers(const strata_base_image *b)
{
	return b->nlayers;
}

const strata_base_layer *strata_base_image_layer(const strata_base_image *b, size_t i)
{
	return i < b->nlayers ? &b->layers[i] : NULL;
}

const json_t *strata_base_image_config(const strata_base_image *b)
{
	return b->config;
}

/* ---------- layers ---------- */

static int check_tar(strata_base_image const *b, const char *name, strata_archive_in *in, const strata_cancel *cancel,
		     strata_tar_sink_fn sink, void *arg, char diff_hex[65], strata_error *err)
{
	strata_sha256 *sha = strata_sha256_create();
	cleanup_free unsigned char *buf = strata_xmalloc(READ_BUF);
	strata_tar_check tc;
	strata_tar_check_init(&tc);
	cleanup_free char *what = strata_xasprintf("base image %s: layer '%s'", b->path, name);
	int r = 0;
	for (;;) {
		ssize_t n = strata_archive_in_read(in, buf, READ_BUF);
		if (n < 0) {
			r = strata_error_set(err, 0, "%s: %s", what,
					     strata_cancel_requested(cancel) ? "interrupted" : strata_archive_in_error(in));
			break;
		}
		if (n == 0) {
			r = strata_tar_check_end(&tc, what, err);
			break;
		}
		strata_sha256_update(sha, buf, (size_t)n);
		if ((r = strata_tar_check_feed(&tc, buf, (size_t)n, what, err)) < 0 ||
		    (sink && (r = sink(arg, buf, (size_t)n, err)) < 0))
			break;
	}
	strata_tar_check_fini(&tc);
	strata_sha256_final_hex(sha, diff_hex);
	strata_sha256_free(sha);
	return r;
}

int strata_base_image_write_tar(const strata_base_image *b, size_t i, const strata_cancel *cancel,
				strata_tar_sink_fn sink, void *arg, char raw_hex[65], strata_error *err)
{
	const strata_base_layer *l = &b->layers[i];
	member_reader mr = {b->fd, l->member->data_offset, l->member->h.size, strata_sha256_create(), cancel};
	strata_archive_in *in = NULL;
	char diff[65], raw[65];
	int r = strata_archive_in_open(member_read, &mr, l->member->h.name, STRATA_ARCHIVE_RAW, cancel, &in, err);
	if (r == 0)
		r = check_tar(b, l->member->h.name, in, cancel, sink, arg, diff, err);
	strata_archive_in_free(in);
	strata_sha256_final_hex(mr.raw, raw);
	if (raw_hex)
		memcpy(raw_hex, raw, 65);
	strata_sha256_free(mr.raw);
	if (r == 0 && mr.left != 0) /* the decoder stopped before the member's end */
		r = strata_error_set(err, 0, "base image %s: layer '%s' has data after its end", b->path,
				     l->member->h.name);
	if (r == 0 && strcmp(diff, l->diff_id) != 0)
		r = strata_error_set(err, 0, "base image %s: layer '%s' has diff_id sha256:%s, its config says sha256:%s",
				     b->path, l->member->h.name, diff, l->diff_id);
	return r;
}

int strata_base_image_copy_layer(const strata_base_image *b, size_t i, const strata_cancel *cancel,
				 const char raw_hex[65], strata_tar_sink_fn sink, void *arg, strata_error *err)
{
	const strata_base_layer *l = &b->layers[i];
	member_reader mr = {b->fd, l->member->data_offset, l->member->h.size, strata_sha256_create(), cancel};
	cleanup_free unsigned char *buf = strata_xmalloc(READ_BUF);
	int r = 0;
	while (r == 0 && mr.left > 0) {
		ssize_t n = member_read(&mr, buf, READ_BUF);
		if (n < 0)
			r = strata_error_set(err, strata_cancel_requested(cancel) ? 0 : errno, "base image %s: %s", b->path,
					     strata_cancel_requested(cancel) ? "interrupted" : "cannot read it");
		else
			r = sink(arg, buf, (size_t)n, err);
	}
	char got[65];
	strata_sha256_final_hex(mr.raw, got);
	strata_sha256_free(mr.raw);
	if (r == 0 && strcmp(got, raw_hex) != 0)
		r = strata_error_set(err, 0, "base image %s changed while it was read (layer '%s')", b->path,
				     l->member->h.name);
	return r;
}

void strata_base_image_free(strata_base_image *b)
{
	if (b == NULL)
		return;
	if (b->fd >= 0)
		close(b->fd);
	strata_tar_index_free(b->index);
	json_decref(b->config);
	free(b->layers);
	free(b->path);
	free(b);
}
