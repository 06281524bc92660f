#define _GNU_SOURCE
#include "base_image.h"
#include "alloc.h"
#include "archive_in.h"
#include "file.h"
#include "image_config.h"
#include "json_check.h"
#include "oci_image.h"
#include "sha256.h"
#include "tar_check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_BUF (1u << 20)

struct strata_base_image {
	char *path;
	int fd;     /* the archive, or its decompressed copy; an OCI layout: its directory */
	int blobs_fd; /* an OCI layout's blobs/sha256 */
	bool oci;   /* an OCI layout or oci-archive, not a Docker archive */
	strata_tar_index *index; /* archives */
	json_t *config;
	strata_base_layer *layers;
	size_t nlayers;
	strata_tar_member *made; /* an OCI layout's layer blobs, as members of no archive */
	char **made_names;       /* their names */
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
	if (s == NULL || !strata_json_check_is_sha256(s))
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
		b->layers[i].fd = b->fd;
		if (diff_id_hex(json_array_get(diff_ids, i), b->layers[i].diff_id) < 0)
			return strata_error_set(err, 0, "base image %s: diff_id %zu is not sha256:<64 hex digits>", b->path,
						i + 1);
	}
	return 0;
}

/* ---------- OCI layouts and oci-archives ---------- */

/* A layer blob of an OCI base: where its bytes are. In an archive, its
 * member; in a layout, its file, opened now and described in *slot as a
 * member of no archive (data at offset 0). */
static int oci_blob(strata_base_image *b, const char *hex, uint64_t size, strata_tar_member *slot,
		    char **slot_name, const strata_tar_member **m_ret, int *fd_ret, strata_error *err)
{
	cleanup_free char *name = strata_xasprintf("blobs/sha256/%s", hex);
	uint64_t got;
	if (b->index) {
		const strata_tar_member *m = strata_tar_index_find(b->index, name);
		if (m == NULL || !strata_tar_index_is_file(m))
			return strata_error_set(err, 0, "base image %s: blob %s is missing", b->path, hex);
		*m_ret = m;
		*fd_ret = b->fd;
		got = m->h.size;
	} else {
		struct stat st;
		int fd = strata_file_open_regular(b->blobs_fd, hex, STRATA_FILE_NOFOLLOW, "base image blob", &st, err);
		if (fd < 0)
			return strata_error_wrap(err, "base image %s", b->path);
		*fd_ret = fd;
		got = (uint64_t)st.st_size;
		*slot_name = strata_steal_pointer(&name);
		slot->h = (strata_tar_header){.name = *slot_name, .linkname = "", .uname = "", .gname = "",
					      .type = STRATA_TAR_REG, .mode = 0444,
					      .size = got};
		*m_ret = slot;
	}
	if (got != size)
		return strata_error_set(err, 0, "base image %s: blob %s has %llu bytes, its descriptor says %llu", b->path,
					hex, (unsigned long long)got, (unsigned long long)size);
	return 0;
}

/* A JSON blob (a manifest, a config) read whole and checked by digest. */
static int oci_json(strata_base_image *b, json_t *desc, const char *what, json_t **out, strata_error *err)
{
	const char *digest = json_string_value(json_object_get(desc, "digest"));
	json_t *size = json_object_get(desc, "size");
	if (digest == NULL || !strata_json_check_is_sha256(digest) || !json_is_integer(size) ||
	    json_integer_value(size) < 0 || json_integer_value(size) > (json_int_t)STRATA_FILE_MAX_JSON)
		return strata_error_set(err, 0, "base image %s: the %s descriptor is invalid", b->path, what);
	size_t len = (size_t)json_integer_value(size);
	cleanup_free char *buf = strata_xmalloc(len + 1);
	cleanup_free char *name = strata_xasprintf("blobs/sha256/%s", digest + 7);
	int r = 0;
	if (b->index) {
		const strata_tar_member *m = strata_tar_index_find(b->index, name);
		if (m == NULL || !strata_tar_index_is_file(m) || m->h.size != len)
			return strata_error_set(err, 0, "base image %s: the %s blob is missing or of the wrong size", b->path,
						what);
		for (size_t got = 0; got < len;) {
			ssize_t k = pread(b->fd, buf + got, len - got, (off_t)(m->data_offset + got));
			if (k <= 0 && !(k < 0 && errno == EINTR))
				return strata_error_set(err, k < 0 ? errno : 0, "base image %s: cannot read its %s", b->path,
							what);
			got += k > 0 ? (size_t)k : 0;
		}
	} else {
		cleanup_free char *data = NULL;
		size_t n = 0;
		if ((r = strata_file_read_all(b->blobs_fd, digest + 7, STRATA_FILE_NOFOLLOW, STRATA_FILE_MAX_JSON, what,
					      &data, &n, err)) < 0)
			return strata_error_wrap(err, "base image %s", b->path);
		if (n != len)
			return strata_error_set(err, 0, "base image %s: the %s blob has the wrong size", b->path, what);
		memcpy(buf, data, n);
	}
	char hex[65];
	strata_sha256_hex(buf, len, hex);
	if (strcmp(hex, digest + 7) != 0)
		return strata_error_set(err, 0, "base image %s: the %s blob does not match its digest", b->path, what);
	json_error_t je;
	*out = json_loadb(buf, len, 0, &je);
	return *out ? 0 : strata_error_set(err, 0, "base image %s: its %s is not JSON: %s", b->path, what, je.text);
}

/* The index entry of the wanted image: by ref.name (the tag, or name:tag),
 * or the only one. */
static json_t *oci_pick(json_t *mans, const char *name, const char *tag)
{
	size_t i;
	json_t *d;
	if (name == NULL && tag == NULL)
		return json_array_size(mans) == 1 ? json_array_get(mans, 0) : NULL;
	json_array_foreach(mans, i, d) {
		json_t *ann = json_object_get(d, "annotations");
		const char *ref = json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
		const char *full = json_string_value(json_object_get(ann, "io.containerd.image.name"));
		if (ref && name == NULL && strcmp(ref, tag) == 0)
			return d;
		if (ref && strchr(ref, ':') && repo_tag_matches(ref, name, tag))
			return d;
		if (full && repo_tag_matches(full, name, tag))
			return d;
		if (ref && !strchr(ref, ':') && name && tag && strcmp(ref, tag) == 0 && full == NULL)
			return d;
	}
	return NULL;
}

static int read_oci_image(strata_base_image *b, const char *name, const char *tag, strata_error *err)
{
	cleanup_json json_t *index = NULL;
	int r;
	if (b->index) {
		if ((r = read_json_member(b, "index.json", &index, err)) < 0)
			return r;
	} else {
		cleanup_free char *buf = NULL;
		size_t len = 0;
		if ((r = strata_file_read_all(b->fd, "index.json", STRATA_FILE_NOFOLLOW, STRATA_FILE_MAX_JSON, "index.json",
					      &buf, &len, err)) < 0)
			return strata_error_wrap(err, "base image %s", b->path);
		json_error_t je;
		if ((index = json_loadb(buf, len, 0, &je)) == NULL)
			return strata_error_set(err, 0, "base image %s: index.json is not JSON: %s", b->path, je.text);
	}
	json_t *mans = json_object_get(index, "manifests");
	if (!json_is_array(mans) || json_array_size(mans) == 0)
		return strata_error_set(err, 0, "base image %s: its index lists no image", b->path);
	json_t *desc = oci_pick(mans, name, tag);
	if (desc == NULL)
		return strata_error_set(err, 0, "base image %s: %s", b->path,
					name || tag ? "no image of that name and tag in it"
						    : "it holds several images: pick one with a tag");
	const char *mt = json_string_value(json_object_get(desc, "mediaType"));
	if (mt && strcmp(mt, "application/vnd.oci.image.manifest.v1+json") != 0)
		return strata_error_set(err, 0, "base image %s: the image is a %s, not an image manifest", b->path, mt);
	cleanup_json json_t *man = NULL;
	if ((r = oci_json(b, desc, "manifest", &man, err)) < 0 ||
	    (r = oci_json(b, json_object_get(man, "config"), "config", &b->config, err)) < 0)
		return r;
	json_t *layers = json_object_get(man, "layers");
	json_t *diff_ids = json_object_get(json_object_get(b->config, "rootfs"), "diff_ids");
	if (!json_is_array(layers) || !json_is_array(diff_ids) || json_array_size(layers) != json_array_size(diff_ids))
		return strata_error_set(err, 0, "base image %s: its manifest's layers and its config's diff_ids differ in "
						"number", b->path);
	b->nlayers = json_array_size(layers);
	b->layers = strata_xcalloc(b->nlayers ? b->nlayers : 1, sizeof *b->layers);
	b->made = strata_xcalloc(b->nlayers ? b->nlayers : 1, sizeof *b->made);
	b->made_names = strata_xcalloc(b->nlayers ? b->nlayers : 1, sizeof *b->made_names);
	for (size_t i = 0; i < b->nlayers; i++)
		b->layers[i].fd = -1;
	for (size_t i = 0; i < b->nlayers; i++) {
		strata_base_layer *l = &b->layers[i];
		json_t *d = json_array_get(layers, i);
		const char *lmt = json_string_value(json_object_get(d, "mediaType"));
		const char *digest = json_string_value(json_object_get(d, "digest"));
		json_t *size = json_object_get(d, "size");
		if (lmt == NULL || !strata_oci_image_layer_compression(lmt, &l->compress) || strstr(lmt, "nondistributable"))
			return strata_error_set(err, 0, "base image %s: layer %zu has media type %s, not a layer strata copies",
						b->path, i + 1, lmt ? lmt : "(none)");
		if (digest == NULL || !strata_json_check_is_sha256(digest) || !json_is_integer(size) ||
		    json_integer_value(size) < 0)
			return strata_error_set(err, 0, "base image %s: layer %zu has an invalid descriptor", b->path, i + 1);
		if (diff_id_hex(json_array_get(diff_ids, i), l->diff_id) < 0)
			return strata_error_set(err, 0, "base image %s: diff_id %zu is not sha256:<64 hex digits>", b->path,
						i + 1);
		memcpy(l->digest, digest + 7, 65);
		/* Docker's gzip type is OCI's gzip type: the bytes are the same. */
		l->media_type = strata_oci_image_layer_media_type(l->compress);
		if ((r = oci_blob(b, l->digest, (uint64_t)json_integer_value(size), &b->made[i], &b->made_names[i], &l->member, &l->fd,
				  err)) < 0)
			return r;
	}
	return 0;
}

/* "DIR:TAG" names an image of a layout; a path that exists as it is wins. */
static void split_layout_ref(const char *ref, char **path, char **tag)
{
	struct stat st;
	const char *colon = strrchr(ref, ':');
	if (stat(ref, &st) == 0 || colon == NULL || strchr(colon, '/')) {
		*path = strata_xstrdup(ref);
		*tag = NULL;
		return;
	}
	cleanup_free char *dir = strata_xstrndup(ref, (size_t)(colon - ref));
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
		*path = strata_steal_pointer(&dir);
		*tag = strata_xstrdup(colon + 1);
		return;
	}
	*path = strata_xstrdup(ref);
	*tag = NULL;
}

int strata_base_image_open(const char *ref, const char *name, const char *tag, const strata_cancel *cancel,
			   strata_base_image **out, strata_error *err)
{
	strata_base_image *b = strata_xcalloc(1, sizeof *b);
	cleanup_free char *path = NULL, *ref_tag = NULL;
	split_layout_ref(ref, &path, &ref_tag);
	b->path = strata_xstrdup(ref);
	b->fd = b->blobs_fd = -1;
	if (ref_tag && tag == NULL)
		tag = ref_tag;
	struct stat st;
	int r = 0;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		b->oci = true;
		b->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (b->fd < 0)
			r = strata_error_set(err, errno, "base image %s: cannot open it", ref);
		else if (faccessat(b->fd, "oci-layout", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			r = strata_error_set(err, 0, "base image %s: a directory that is not an OCI image layout", ref);
		/* Every blob is reached through these fds, nothing followed: a
		 * layout's links cannot lead out of it. */
		cleanup_close int blobs = r == 0 ? openat(b->fd, "blobs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
		if (r == 0 && (blobs < 0 ||
			       (b->blobs_fd = openat(blobs, "sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0))
			r = strata_error_set(err, errno, "base image %s: no blobs/sha256 directory (not followed if a symlink)",
					     ref);
		if (r == 0)
			r = read_oci_image(b, name, tag, err);
	} else {
		char *saved = b->path;
		b->path = path;
		r = open_archive(b, cancel, err);
		b->path = saved;
		if (r == 0) {
			cleanup_free char *what = strata_xasprintf("base image %s", ref);
			r = strata_tar_index_read(b->fd, what, cancel, &b->index, err);
		}
		/* An oci-archive has no manifest.json (Docker 25's archives have
		 * both, and are read as Docker archives). */
		b->oci = r == 0 && !strata_tar_index_find(b->index, "manifest.json") &&
			 strata_tar_index_find(b->index, "index.json");
		if (r == 0)
			r = b->oci ? read_oci_image(b, name, tag, err) : read_image(b, name, tag, err);
	}
	/* Its history goes into the new image's config as it is, and its
	 * runtime config is inherited: values clients would refuse are
	 * refused here, not found wrong in the image made from it. (Its
	 * platform and times are the new image's own.) */
	if (r == 0 && (r = strata_image_config_check_carried(b->config, err)) < 0)
		strata_error_wrap(err, "base image %s", ref);
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
	member_reader mr = {l->fd, l->member->data_offset, l->member->h.size, strata_sha256_create(), cancel};
	strata_archive_in *in = NULL;
	char diff[65], raw[65];
	int r = strata_archive_in_open(member_read, &mr, l->member->h.name, STRATA_ARCHIVE_RAW, cancel, &in, err);
	if (r < 0)
		strata_error_wrap(err, "base image %s", b->path);
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
	member_reader mr = {l->fd, l->member->data_offset, l->member->h.size, strata_sha256_create(), cancel};
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

bool strata_base_image_is_oci(const strata_base_image *b)
{
	return b->oci;
}

void strata_base_image_free(strata_base_image *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->nlayers; i++)
		if (b->index == NULL && b->layers[i].fd >= 0)
			close(b->layers[i].fd);
	for (size_t i = 0; b->made && i < b->nlayers; i++)
		free(b->made_names[i]);
	free(b->made_names);
	free(b->made);
	if (b->fd >= 0)
		close(b->fd);
	if (b->blobs_fd >= 0)
		close(b->blobs_fd);
	strata_tar_index_free(b->index);
	json_decref(b->config);
	free(b->layers);
	free(b->path);
	free(b);
}
