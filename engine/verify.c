/* verify: what a client would check, before a client finds it.
 *
 * Every file of the layout is reached through the layout's directory fds
 * with O_NOFOLLOW and must be a regular file (a blob that is a fifo, a
 * device or a symlink is refused without being opened for reading); a blob
 * whose size differs from its descriptor is refused before it is read. Each
 * distinct manifest and blob is checked once, however many tags name it. */
#define _GNU_SOURCE
#include "strata.h"
#include "archive_in.h"
#include "sha256.h"
#include "file.h"
#include "fs_tree.h"
#include "image_config.h"
#include "json_check.h"
#include "oci_image.h"
#include "ref.h"
#include "alloc.h"
#include "tar_check.h"

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

#define MT_INDEX STRATA_OCI_MT_INDEX
#define MT_MANIFEST STRATA_OCI_MT_MANIFEST
#define MT_CONFIG STRATA_OCI_MT_CONFIG

typedef struct verifier {
	const strata_cancel *cancel;
	int blobs_fd; /* blobs/sha256 */
	strata_verify_report *rep;
	char **seen; /* digests (hex) of blobs already checked, sorted */
	size_t nseen;
} verifier;

/* ---------- field checks ---------- */

static bool is_media_type(const char *s)
{
	/* RFC 6838 type "/" subtype, restricted-name characters. */
	const char *slash = strchr(s, '/');
	if (slash == NULL || slash == s || slash[1] == '\0' || strchr(slash + 1, '/'))
		return false;
	for (const char *p = s; *p; p++)
		if (p != slash && !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
				    strchr("!#$&^_.+-", *p)))
			return false;
	return true;
}

/* A content descriptor (image-spec descriptor.md). */
static int check_descriptor(json_t *d, const char *what, strata_error *err)
{
	if (!json_is_object(d))
		return strata_error_set(err, 0, "%s: a descriptor must be an object", what);
	json_t *mt = json_object_get(d, "mediaType"), *dg = json_object_get(d, "digest"), *sz = json_object_get(d, "size");
	if (!json_is_string(mt) || !is_media_type(json_string_value(mt)))
		return strata_error_set(err, 0, "%s: 'mediaType' must be a media type string", what);
	if (!json_is_string(dg) || !strata_json_check_is_sha256(json_string_value(dg)))
		return strata_error_set(err, 0, "%s: 'digest' must be sha256:<64 lowercase hex>", what);
	if (!json_is_integer(sz) || json_integer_value(sz) < 0)
		return strata_error_set(err, 0, "%s: 'size' must be a non-negative integer", what);
	int r = strata_json_check_string_array(json_object_get(d, "urls"), what, "urls", err);
	if (r == 0)
		r = strata_json_check_string_map(json_object_get(d, "annotations"), what, "annotations", err);
	return r;
}

/* ---------- blobs ---------- */

static bool seen(verifier *v, const char *hex)
{
	size_t lo = 0, hi = v->nseen;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(v->seen[mid], hex);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	v->seen = strata_xrealloc(v->seen, (v->nseen + 1) * sizeof *v->seen);
	memmove(v->seen + lo + 1, v->seen + lo, (v->nseen - lo) * sizeof *v->seen);
	v->seen[lo] = strata_xstrdup(hex);
	v->nseen++;
	return false;
}

/* Opens the blob behind a checked descriptor: a regular file of exactly
 * the descriptor's size, or an error before any byte is read. */
static int open_blob(verifier *v, json_t *desc, const char *what, strata_error *err)
{
	const char *hex = json_string_value(json_object_get(desc, "digest")) + 7;
	json_int_t size = json_integer_value(json_object_get(desc, "size"));
	struct stat st;
	int fd = strata_file_open_regular(v->blobs_fd, hex, STRATA_FILE_NOFOLLOW, "blob", &st, err);
	if (fd < 0)
		return strata_error_wrap(err, "%s", what);
	if ((json_int_t)st.st_size != size) {
		close(fd);
		return strata_error_set(err, 0, "%s: blob sha256:%s is %lld bytes, descriptor says %lld", what, hex,
					(long long)st.st_size, (long long)size);
	}
	return fd;
}

static int digest_mismatch(const char *what, const char *want_hex, const char *got_hex, strata_error *err)
{
	return strata_error_set(err, 0, "%s: blob sha256:%s has digest sha256:%s", what, want_hex, got_hex);
}

/* A JSON blob (manifest, config): read whole, hashed, parsed. */
static int load_json_blob(verifier *v, json_t *desc, const char *what, json_t **out, strata_error *err)
{
	const char *hex = json_string_value(json_object_get(desc, "digest")) + 7;
	if (json_integer_value(json_object_get(desc, "size")) > (json_int_t)STRATA_FILE_MAX_JSON)
		return strata_error_set(err, 0, "%s: %lld bytes is too large for a JSON blob", what,
					(long long)json_integer_value(json_object_get(desc, "size")));
	cleanup_close int fd = open_blob(v, desc, what, err);
	if (fd < 0)
		return fd;
	close(strata_get_and_reset(&fd));
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int r = strata_file_read_all(v->blobs_fd, hex, STRATA_FILE_NOFOLLOW, STRATA_FILE_MAX_JSON, "blob", &buf, &len, err);
	if (r < 0)
		return strata_error_wrap(err, "%s", what);
	char got[65];
	strata_sha256_hex(buf, len, got);
	if (strcmp(got, hex) != 0)
		return digest_mismatch(what, hex, got, err);
	json_error_t je;
	*out = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (*out == NULL)
		return strata_error_set(err, 0, "%s: invalid JSON: %s", what, je.text);
	return 0;
}

typedef struct hashing_src {
	int fd;
	strata_sha256 *md;
} hashing_src;

static ssize_t hashing_read(void *arg, void *buf, size_t n)
{
	hashing_src *h = arg;
	ssize_t k = read(h->fd, buf, n);
	if (k > 0)
		strata_sha256_update(h->md, buf, (size_t)k);
	return k;
}

/* One pass over a layer blob: its digest, its compression against the media
 * type, the decompressed bytes' digest against the diff_id, and the tar
 * structure to its end. */
static int check_layer(verifier *v, json_t *desc, const char *diff_id, const char *what, strata_error *err)
{
	const char *hex = json_string_value(json_object_get(desc, "digest")) + 7;
	const char *mt = json_string_value(json_object_get(desc, "mediaType"));
	cleanup_close int fd = open_blob(v, desc, what, err);
	if (fd < 0)
		return fd;
	hashing_src src = {fd, strata_sha256_create()};
	strata_sha256 *tar_md = strata_sha256_create();
	strata_tar_check tc;
	strata_tar_check_init(&tc);
	strata_archive_in *in = NULL;
	cleanup_free char *name = strata_xasprintf("%s (sha256:%.12s)", what, hex);
	int r = strata_archive_in_open(hashing_read, &src, name, STRATA_ARCHIVE_RAW, v->cancel, &in, err);
	strata_compress mc = STRATA_COMPRESS_NONE;
	strata_oci_image_layer_compression(mt, &mc); /* checked by check_manifest_fields */
	strata_compression want = mc == STRATA_COMPRESS_GZIP   ? STRATA_COMPRESSION_GZIP
				  : mc == STRATA_COMPRESS_ZSTD ? STRATA_COMPRESSION_ZSTD
							       : STRATA_COMPRESSION_NONE;
	if (r == 0 && strata_archive_in_compression(in) != want)
		r = strata_error_set(err, 0, "%s: the blob is %s-compressed but its media type %s says %s", what,
				     strata_archive_in_compression_name(strata_archive_in_compression(in)), mt,
				     strata_archive_in_compression_name(want));
	unsigned char *buf = strata_xmalloc(BUF);
	while (r == 0) {
		la_ssize_t n = strata_archive_in_read(in, buf, BUF);
		if (n < 0) {
			r = strata_error_set(err, 0, "%s: cannot decompress: %s", what, strata_archive_in_error(in));
			break;
		}
		if (n == 0)
			break;
		strata_sha256_update(tar_md, buf, (size_t)n);
		r = strata_tar_check_feed(&tc, buf, (size_t)n, what, err);
	}
	if (r == 0)
		r = strata_tar_check_end(&tc, what, err);
	/* Whatever the decoder left unread still counts for the blob digest,
	 * which is checked even after a failure: a corrupted blob is reported
	 * as one, not as the decompression error it causes. */
	int rr = 0;
	for (ssize_t n; rr == 0 && (n = hashing_read(&src, buf, BUF)) != 0;) {
		if (strata_cancel_requested(v->cancel))
			rr = strata_error_set(err, 0, "interrupted");
		else if (n < 0 && errno != EINTR)
			rr = strata_error_set(err, errno, "%s: cannot read the blob", what);
	}
	r = r < 0 ? r : rr;
	free(buf);
	char got_blob[65], got_tar[65];
	strata_sha256_final_hex(src.md, got_blob);
	strata_sha256_final_hex(tar_md, got_tar);
	strata_sha256_free(src.md);
	strata_sha256_free(tar_md);
	strata_tar_check_fini(&tc);
	strata_archive_in_free(in);
	if (strcmp(got_blob, hex) != 0 && rr == 0)
		return digest_mismatch(what, hex, got_blob, err);
	if (r < 0)
		return r;
	if (strcmp(diff_id + 7, got_tar) != 0)
		return strata_error_set(err, 0, "%s: diff_id mismatch: the tar is sha256:%s, the config says %s", what, got_tar,
					diff_id);
	return 0;
}

/* ---------- manifests ---------- */

static int check_manifest_fields(json_t *man, strata_error *err)
{
	if (!json_is_object(man))
		return strata_error_set(err, 0, "manifest: must be a JSON object");
	json_t *sv = json_object_get(man, "schemaVersion"), *mt = json_object_get(man, "mediaType");
	if (!json_is_integer(sv) || json_integer_value(sv) != 2)
		return strata_error_set(err, 0, "manifest: schemaVersion must be 2");
	if (mt != NULL && (!json_is_string(mt) || strcmp(json_string_value(mt), MT_MANIFEST) != 0))
		return strata_error_set(err, 0, "manifest: mediaType must be %s", MT_MANIFEST);
	json_t *cfgd = json_object_get(man, "config"), *layers = json_object_get(man, "layers");
	if (!json_is_object(cfgd) || !json_is_array(layers))
		return strata_error_set(err, 0, "manifest: needs 'config' and 'layers'");
	int r = check_descriptor(cfgd, "manifest config", err);
	if (r == 0 && strcmp(json_string_value(json_object_get(cfgd, "mediaType")), MT_CONFIG) != 0)
		r = strata_error_set(err, 0, "manifest: config mediaType is not %s", MT_CONFIG);
	if (r == 0)
		r = strata_json_check_string_map(json_object_get(man, "annotations"), "manifest", "annotations", err);
	size_t i;
	json_t *ld;
	json_array_foreach(layers, i, ld)
	{
		if (r < 0)
			break;
		cleanup_free char *lw = strata_xasprintf("layer %zu", i);
		if ((r = check_descriptor(ld, lw, err)) < 0)
			break;
		const char *lt = json_string_value(json_object_get(ld, "mediaType"));
		strata_compress lc;
		if (!strata_oci_image_layer_compression(lt, &lc))
			r = strata_error_set(err, 0, "%s: unknown layer mediaType '%s'", lw, lt);
	}
	return r;
}

static int verify_manifest(verifier *v, json_t *desc, size_t mi, strata_error *err)
{
	cleanup_free char *what = strata_xasprintf("index.json manifests[%zu]", mi);
	cleanup_json json_t *man = NULL;
	cleanup_json json_t *cfg = NULL;
	int r = load_json_blob(v, desc, what, &man, err);
	if (r == 0)
		r = check_manifest_fields(man, err);
	json_t *cfgd = json_object_get(man, "config"), *layers = json_object_get(man, "layers");
	if (r == 0 && (r = load_json_blob(v, cfgd, "config", &cfg, err)) == 0)
		r = strata_image_config_check_oci(cfg, json_array_size(layers), err);
	if (r == 0)
		v->rep->blobs += 2 - seen(v, json_string_value(json_object_get(cfgd, "digest")) + 7);
	json_t *diff_ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
	for (size_t i = 0; r == 0 && i < json_array_size(layers); i++) {
		json_t *ld = json_array_get(layers, i);
		cleanup_free char *lw = strata_xasprintf("layer %zu", i);
		/* A blob shared by images is checked once per diff_id claimed. */
		cleanup_free char *key = strata_xasprintf("%s %s", json_string_value(json_object_get(ld, "digest")) + 7,
							  json_string_value(json_array_get(diff_ids, i)));
		if (seen(v, key))
			continue;
		if ((r = check_layer(v, ld, json_string_value(json_array_get(diff_ids, i)), lw, err)) < 0)
			break;
		v->rep->blobs++;
		v->rep->layers++;
	}
	if (r == 0)
		v->rep->manifests++;
	return r;
}

static int verify_index(verifier *v, json_t *idx, strata_error *err)
{
	if (!json_is_object(idx))
		return strata_error_set(err, 0, "index.json: must be a JSON object");
	json_t *mans = json_object_get(idx, "manifests"), *mt = json_object_get(idx, "mediaType");
	if (!json_is_integer(json_object_get(idx, "schemaVersion")) ||
	    json_integer_value(json_object_get(idx, "schemaVersion")) != 2)
		return strata_error_set(err, 0, "index.json: schemaVersion must be 2");
	if (mt != NULL && (!json_is_string(mt) || strcmp(json_string_value(mt), MT_INDEX) != 0))
		return strata_error_set(err, 0, "index.json: mediaType must be %s", MT_INDEX);
	if (!json_is_array(mans) || json_array_size(mans) == 0)
		return strata_error_set(err, 0, "index.json: no manifests");
	int r = strata_json_check_string_map(json_object_get(idx, "annotations"), "index.json", "annotations", err);
	json_t *refs = json_object();
	for (size_t i = 0; r == 0 && i < json_array_size(mans); i++) {
		json_t *d = json_array_get(mans, i);
		cleanup_free char *what = strata_xasprintf("index.json manifests[%zu]", i);
		if ((r = check_descriptor(d, what, err)) < 0)
			break;
		const char *dmt = json_string_value(json_object_get(d, "mediaType"));
		if (strcmp(dmt, MT_MANIFEST) != 0) {
			r = strata_error_set(err, 0, "%s: mediaType '%s' is not an OCI image manifest", what, dmt);
			break;
		}
		json_t *plat = json_object_get(d, "platform");
		if (plat != NULL && (!json_is_object(plat) || !json_is_string(json_object_get(plat, "architecture")) ||
				     !json_is_string(json_object_get(plat, "os")))) {
			r = strata_error_set(err, 0, "%s: platform needs 'architecture' and 'os' strings", what);
			break;
		}
		const char *digest = json_string_value(json_object_get(d, "digest"));
		json_t *ref = json_object_get(json_object_get(d, "annotations"), "org.opencontainers.image.ref.name");
		if (ref != NULL) {
			const char *rs = json_string_value(ref);
			json_t *prev = json_object_get(refs, rs);
			if ((r = strata_ref_check_ref_name(rs, err)) < 0) {
				r = strata_error_wrap(err, "%s", what);
				break;
			}
			if (prev != NULL && strcmp(json_string_value(prev), digest) != 0) {
				r = strata_error_set(err, 0, "index.json: ref.name '%s' names two different manifests", rs);
				break;
			}
			json_object_set_new(refs, rs, json_string(digest));
		}
		if (seen(v, digest + 7))
			continue; /* the same manifest under another tag: checked once */
		r = verify_manifest(v, d, i, err);
	}
	json_decref(refs);
	return r;
}

static int verify_dir(const char *dir, const strata_cancel *cancel, strata_verify_report *rep, strata_error *err)
{
	cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return strata_error_set(err, errno, "cannot open '%s'", dir);
	cleanup_free char *buf = NULL;
	size_t len = 0;
	json_error_t je;
	int r = strata_file_read_all(dfd, "oci-layout", STRATA_FILE_NOFOLLOW, STRATA_FILE_MAX_JSON, "layout file", &buf,
				     &len, err);
	if (r < 0)
		return r;
	cleanup_json json_t *lay = json_loadb(buf, len, 0, &je);
	const char *ver = json_string_value(json_object_get(lay, "imageLayoutVersion"));
	if (ver == NULL || strcmp(ver, "1.0.0") != 0)
		r = strata_error_set(err, 0, "oci-layout: imageLayoutVersion must be \"1.0.0\"");
	free(strata_steal_pointer(&buf));
	if (r < 0)
		return r;
	if ((r = strata_file_read_all(dfd, "index.json", STRATA_FILE_NOFOLLOW, STRATA_FILE_MAX_JSON, "index file", &buf,
				      &len, err)) < 0)
		return r;
	cleanup_json json_t *idx = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (idx == NULL)
		return strata_error_set(err, 0, "index.json: invalid JSON: %s", je.text);
	verifier v = {.cancel = cancel, .rep = rep, .blobs_fd = -1};
	cleanup_close int bfd = openat(dfd, "blobs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (bfd < 0 || (v.blobs_fd = openat(bfd, "sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		r = strata_error_set(err, errno, "cannot open the directory blobs/sha256");
	if (r == 0)
		r = verify_index(&v, idx, err);
	if (v.blobs_fd >= 0)
		close(v.blobs_fd);
	strata_file_free_names(v.seen, v.nseen);
	return r;
}

/* ---------- the tarball form ---------- */

/* The members an OCI layout may have; anything else is refused, so an
 * archive cannot place files anywhere but the private directory. */
static bool layout_member(const char *name, bool is_dir)
{
	if (is_dir)
		return !strcmp(name, "blobs") || !strcmp(name, "blobs/sha256");
	if (!strcmp(name, "oci-layout") || !strcmp(name, "index.json"))
		return true;
	return strncmp(name, "blobs/sha256/", 13) == 0 && strlen(name) == 13 + 64 &&
	       strspn(name + 13, "0123456789abcdef") == 64;
}

static int extract_member(struct archive *a, int fd, const char *file, const char *name, strata_error *err)
{
	unsigned char *buf = strata_xmalloc(BUF);
	int r = 0;
	for (;;) {
		la_ssize_t n = archive_read_data(a, buf, BUF);
		if (n < 0) {
			r = strata_error_set(err, 0, "'%s': cannot read member '%s': %s", file, name, archive_error_string(a));
			break;
		}
		if (n == 0)
			break;
		int w = strata_file_write_all(fd, buf, (size_t)n);
		if (w < 0) {
			r = strata_error_set(err, -w, "cannot unpack '%s' for checking", name);
			break;
		}
	}
	free(buf);
	return r;
}

static int unpack_tarball(const char *file, const char *dir, const strata_cancel *cancel, strata_error *err)
{
	cleanup_close int fd = strata_file_open_regular(AT_FDCWD, file, 0, "image archive", NULL, err);
	if (fd < 0)
		return fd;
	cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return strata_error_set(err, errno, "cannot open '%s'", dir);
	strata_archive_in *in = NULL;
	int r = strata_archive_in_open_fd(fd, file, STRATA_ARCHIVE_TAR, cancel, &in, err);
	if (r < 0)
		return r;
	struct archive *a = strata_archive_in_archive(in);
	struct archive_entry *e;
	int h;
	while ((h = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *raw = archive_entry_pathname(e);
		while (raw[0] == '.' && raw[1] == '/')
			raw += 2;
		cleanup_free char *name = strata_xstrdup(raw);
		size_t l = strlen(name);
		while (l > 0 && name[l - 1] == '/')
			name[--l] = '\0';
		bool is_dir = archive_entry_filetype(e) == AE_IFDIR;
		if (l == 0 && is_dir)
			continue;
		if (archive_entry_hardlink(e) || (!is_dir && archive_entry_filetype(e) != AE_IFREG) ||
		    !layout_member(name, is_dir)) {
			r = strata_error_set(err, 0, "'%s': member '%s' is not part of an OCI image layout", file,
					     archive_entry_pathname(e));
			break;
		}
		if (is_dir) {
			if (mkdirat(dfd, name, 0700) < 0 && errno != EEXIST) {
				r = strata_error_set(err, errno, "cannot unpack '%s' for checking", name);
				break;
			}
			continue;
		}
		if (strchr(name, '/'))
			mkdirat(dfd, "blobs", 0700), mkdirat(dfd, "blobs/sha256", 0700);
		cleanup_close int out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (out < 0) {
			r = strata_error_set(err, errno == EEXIST ? 0 : errno, "'%s': member '%s'%s", file, name,
					     errno == EEXIST ? " appears twice" : "");
			break;
		}
		if ((r = extract_member(a, out, file, name, err)) < 0)
			break;
		if (close(strata_get_and_reset(&out)) < 0) {
			r = strata_error_set(err, errno, "cannot unpack '%s' for checking", name);
			break;
		}
	}
	if (r == 0 && h != ARCHIVE_EOF)
		r = strata_error_set(err, 0, "'%s': %s", file, strata_archive_in_error(in));
	strata_archive_in_free(in);
	return r;
}

int strata_verify(const char *path, const strata_cancel *cancel, strata_verify_report *rep, strata_error *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return strata_error_set(err, errno, "cannot access '%s'", path);
	memset(rep, 0, sizeof *rep);
	if (S_ISDIR(st.st_mode)) {
		int r = verify_dir(path, cancel, rep, err);
		return r < 0 ? strata_error_wrap(err, "%s", path) : 0;
	}
	if (!S_ISREG(st.st_mode))
		return strata_error_set(err, 0, "'%s' is a %s, not an image layout or archive", path,
					strata_file_type_name(st.st_mode));
	const char *tmp = getenv("TMPDIR");
	cleanup_free char *dir = strata_xasprintf("%s/strata-verify-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return strata_error_set(err, errno, "cannot create a temporary directory");
	int r = unpack_tarball(path, dir, cancel, err);
	if (r == 0)
		r = verify_dir(dir, cancel, rep, err);
	strata_fs_remove_tree(dir);
	return r < 0 ? strata_error_wrap(err, "%s", path) : 0;
}
