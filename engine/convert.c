#define _GNU_SOURCE
#include "convert.h"
#include "strata_util.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define READ_BUF (1u << 20)
#define MAX_JSON (64u << 20) /* a config or manifest larger than this is not one */

typedef struct member {
	char *name;
	char *alias; /* a link member: the member it resolves to (archive-relative) */
	char *json; /* JSON members: their bytes (NUL-terminated) */
	size_t json_len;
	long layer; /* layer members: index into layers, else -1 */
	bool used;
} member;

typedef struct converter {
	const strata_convert_options *o;
	struct archive *a;
	strata_layer_writer *w;
	member *members;
	size_t nmembers;
	strata_layer_result *layers; /* stable addresses: allocated once, grown by chunks */
	size_t nlayers, cap_layers;
	unsigned char *buf;
} converter;

/* ---------- members ---------- */

static int clean_name(const char *raw, char **out, strata_error *err)
{
	const char *n = raw;
	while (n[0] == '.' && n[1] == '/')
		n += 2;
	size_t l = strlen(n);
	if (l == 0 || n[0] == '/')
		return strata_error_set(err, 0, "archive member '%s' has an absolute or empty name", raw);
	for (const char *p = n; *p; p = strchr(p, '/') ? strchr(p, '/') + 1 : p + strlen(p))
		if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0'))
			return strata_error_set(err, 0, "archive member '%s' has '..' in its name", raw);
	*out = strata_xstrndup(n, n[l - 1] == '/' ? l - 1 : l);
	return 0;
}

static member *find_exact(converter *c, const char *name)
{
	for (size_t i = 0; i < c->nmembers; i++)
		if (strcmp(c->members[i].name, name) == 0)
			return &c->members[i];
	return NULL;
}

/* Follows link members (docker save writes <id>/layer.tar -> ../<sha>.tar). */
static member *find_member(converter *c, const char *name)
{
	member *m = find_exact(c, name);
	for (int depth = 0; m != NULL && m->alias != NULL && depth < 16; depth++)
		m = find_exact(c, m->alias);
	return m != NULL && m->alias == NULL ? m : NULL;
}

/* A link's target as an archive-relative name; it must stay inside. */
static int link_target(const char *link_name, const char *target, bool hard, char **out, strata_error *err)
{
	if (target[0] == '/')
		return strata_error_set(err, 0, "archive member '%s' links outside the archive ('%s')", link_name, target);
	/* Symlink targets are relative to the link's directory, hardlink
	 * targets to the archive root. */
	cleanup_free char *joined = NULL;
	const char *slash = strrchr(link_name, '/');
	if (!hard && slash != NULL)
		joined = strata_xasprintf("%.*s/%s", (int)(slash - link_name), link_name, target);
	else
		joined = strata_xstrdup(target);
	char **parts = NULL;
	size_t np = 0;
	char *save = NULL;
	int r = 0;
	for (char *t = strtok_r(joined, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (strcmp(t, ".") == 0)
			continue;
		if (strcmp(t, "..") == 0) {
			if (np == 0) {
				r = strata_error_set(err, 0, "archive member '%s' links outside the archive ('%s')",
						     link_name, target);
				break;
			}
			np--;
			continue;
		}
		parts = strata_xrealloc(parts, (np + 1) * sizeof *parts);
		parts[np++] = t;
	}
	if (r == 0 && np == 0)
		r = strata_error_set(err, 0, "archive member '%s' links to the archive root", link_name);
	if (r == 0) {
		size_t len = 0;
		for (size_t i = 0; i < np; i++)
			len += strlen(parts[i]) + 1;
		char *res = strata_xmalloc(len);
		res[0] = '\0';
		for (size_t i = 0; i < np; i++) {
			if (i)
				strcat(res, "/");
			strcat(res, parts[i]);
		}
		*out = res;
	}
	free(parts);
	return r;
}

static bool looks_like_json(const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n && isspace(p[i]))
		i++;
	return i < n && (p[i] == '{' || p[i] == '[');
}

static bool has_layer_magic(const unsigned char *p, size_t n)
{
	if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return true; /* gzip */
	if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
		return true; /* zstd */
	return n >= 262 && memcmp(p + 257, "ustar", 5) == 0; /* tar */
}

static bool layer_by_name(const char *name)
{
	size_t l = strlen(name);
	return (l >= 4 && strcmp(name + l - 4, ".tar") == 0) || strncmp(name, "blobs/", 6) == 0;
}

/* Reads up to n bytes of the current member (short only at its end). */
static la_ssize_t read_full(converter *c, unsigned char *buf, size_t n, const char *name, strata_error *err)
{
	size_t got = 0;
	while (got < n) {
		la_ssize_t k = archive_read_data(c->a, buf + got, n - got);
		if (k < 0)
			return strata_error_set(err, 0, "archive member '%s': %s", name, archive_error_string(c->a));
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (la_ssize_t)got;
}

/* ---------- layers ---------- */

typedef struct inner_src {
	converter *c;
	const unsigned char *prefix;
	size_t prefix_len;
	bool prefix_done;
	unsigned char buf[1u << 16];
} inner_src;

static la_ssize_t inner_read(struct archive *a, void *arg, const void **out)
{
	(void)a;
	inner_src *s = arg;
	if (!s->prefix_done) {
		s->prefix_done = true;
		*out = s->prefix;
		return (la_ssize_t)s->prefix_len;
	}
	*out = s->buf;
	la_ssize_t n = archive_read_data(s->c->a, s->buf, sizeof s->buf);
	return n < 0 ? ARCHIVE_FATAL : n;
}

/* Streams the rest of a compressed layer member (gzip or zstd, any number
 * of members/frames) decompressed into the stream. */
static int stream_compressed(converter *c, strata_layer_stream *s, const unsigned char *prefix, size_t plen,
			     const char *name, strata_error *err)
{
	inner_src *src = strata_xcalloc(1, sizeof *src);
	src->c = c;
	src->prefix = prefix;
	src->prefix_len = plen;
	struct archive *in = archive_read_new();
	archive_read_support_filter_gzip(in);
	archive_read_support_filter_zstd(in);
	archive_read_support_format_raw(in);
	int r = 0;
	struct archive_entry *e;
	if (archive_read_open(in, src, NULL, inner_read, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(in, &e) != ARCHIVE_OK) {
		r = strata_error_set(err, 0, "layer '%s': %s", name, archive_error_string(in));
	} else {
		unsigned char *buf = strata_xmalloc(READ_BUF);
		for (;;) {
			la_ssize_t n = archive_read_data(in, buf, READ_BUF);
			if (n < 0) {
				r = strata_error_set(err, 0, "layer '%s': %s", name,
						     archive_error_string(in) ? archive_error_string(in)
									      : archive_error_string(c->a));
				break;
			}
			if (n == 0)
				break;
			if ((r = strata_layer_stream_write(s, buf, (size_t)n, err)) < 0)
				break;
		}
		free(buf);
	}
	archive_read_free(in);
	free(src);
	return r;
}

static int process_layer(converter *c, member *m, const unsigned char *prefix, size_t plen, strata_error *err)
{
	if (c->nlayers == c->cap_layers)
		return strata_error_set(err, 0, "archive has more than %zu layers", c->cap_layers);
	strata_layer_stream *s = NULL;
	int r = strata_layer_stream_open(c->w, &c->layers[c->nlayers], &s, err);
	if (r < 0)
		return r;
	m->layer = (long)c->nlayers++;
	bool compressed = plen >= 2 && ((prefix[0] == 0x1f && prefix[1] == 0x8b) ||
					(plen >= 4 && prefix[0] == 0x28 && prefix[1] == 0xb5));
	if (compressed) {
		r = stream_compressed(c, s, prefix, plen, m->name, err);
	} else {
		r = plen ? strata_layer_stream_write(s, prefix, plen, err) : 0;
		while (r == 0) {
			la_ssize_t n = read_full(c, c->buf, READ_BUF, m->name, err);
			if (n < 0)
				r = (int)n;
			else if (n == 0)
				break;
			else
				r = strata_layer_stream_write(s, c->buf, (size_t)n, err);
		}
	}
	/* Closed either way: the writer owns the stream (and frees it). */
	int r2 = strata_layer_stream_close(s, err);
	return r < 0 ? r : r2;
}

static int read_archive(converter *c, strata_error *err)
{
	struct archive_entry *e;
	int h;
	unsigned char *head = strata_xmalloc(512);
	int r = 0;
	while (r == 0 && (h = archive_read_next_header(c->a, &e)) == ARCHIVE_OK) {
		if (strata_cancelled()) {
			r = strata_error_set(err, 0, "interrupted");
			break;
		}
		char *name = NULL;
		if ((r = clean_name(archive_entry_pathname(e), &name, err)) < 0)
			break;
		mode_t type = archive_entry_filetype(e);
		if (type == AE_IFDIR) {
			free(name);
			continue;
		}
		const char *hard = archive_entry_hardlink(e);
		if (hard == NULL && type != AE_IFREG && type != AE_IFLNK) {
			r = strata_error_set(err, 0, "archive member '%s' is a special file; a Docker archive holds only files, directories and links",
					     name);
			free(name);
			break;
		}
		if (find_exact(c, name) != NULL) {
			r = strata_error_set(err, 0, "archive member '%s' appears twice", name);
			free(name);
			break;
		}
		c->members = strata_xrealloc(c->members, (c->nmembers + 1) * sizeof *c->members);
		member *m = &c->members[c->nmembers++];
		memset(m, 0, sizeof *m);
		m->name = name;
		m->layer = -1;
		if (hard != NULL || type == AE_IFLNK) {
			r = link_target(name, hard ? hard : archive_entry_symlink(e), hard != NULL, &m->alias, err);
			continue;
		}
		la_ssize_t n = read_full(c, head, 512, name, err);
		if (n < 0) {
			r = (int)n;
			break;
		}
		int64_t size = archive_entry_size(e);
		if (looks_like_json(head, (size_t)n) && size <= (int64_t)MAX_JSON) {
			m->json = strata_xmalloc((size_t)size + 1);
			memcpy(m->json, head, (size_t)n);
			la_ssize_t rest = read_full(c, (unsigned char *)m->json + n, (size_t)(size - n), name, err);
			if (rest < 0) {
				r = (int)rest;
				break;
			}
			m->json_len = (size_t)n + (size_t)rest;
			m->json[m->json_len] = '\0';
			if ((int64_t)m->json_len != size) {
				r = strata_error_set(err, 0, "archive member '%s': %zu bytes, the header says %lld", name,
						     m->json_len, (long long)size);
				break;
			}
		} else if (has_layer_magic(head, (size_t)n) || layer_by_name(name)) {
			r = process_layer(c, m, head, (size_t)n, err);
		}
		/* Anything else (repositories, VERSION, ...) is skipped. */
	}
	if (r == 0 && h != ARCHIVE_EOF)
		r = strata_error_set(err, 0, "'%s': %s", c->o->input,
				     archive_error_string(c->a) ? archive_error_string(c->a) : "not a tar archive");
	free(head);
	return r;
}

/* ---------- images ---------- */

/* The Docker config as an OCI config: the fields both specs share, in a
 * fixed order. */
static json_t *oci_config(json_t *dc)
{
	static const char *const keys[] = {"created", "author", "architecture", "os", "os.version",
					   "os.features", "variant", "config", "rootfs", "history"};
	json_t *o = json_object();
	for (size_t i = 0; i < STRATA_ARRAY_LEN(keys); i++) {
		json_t *v = json_object_get(dc, keys[i]);
		if (v != NULL)
			json_object_set(o, keys[i], v);
	}
	return o;
}

typedef struct image {
	json_t *refs; /* strings */
	char man_hex[65];
	uint64_t man_size;
	char *arch, *os;
} image;

static int build_image(converter *c, strata_layout *l, json_t *entry, size_t idx, image *img, json_t *sum,
		       strata_error *err)
{
	json_t *cfgname = json_object_get(entry, "Config"), *layers = json_object_get(entry, "Layers");
	if (!json_is_string(cfgname) || !json_is_array(layers))
		return strata_error_set(err, 0, "manifest.json[%zu]: needs \"Config\" and \"Layers\"", idx);
	member *cm = find_member(c, json_string_value(cfgname));
	if (cm == NULL || cm->json == NULL)
		return strata_error_set(err, 0, "manifest.json[%zu]: config '%s' is not in the archive", idx,
					json_string_value(cfgname));
	json_error_t je;
	json_t *dc = json_loadb(cm->json, cm->json_len, 0, &je);
	if (!json_is_object(dc)) {
		json_decref(dc);
		return strata_error_set(err, 0, "config '%s': invalid JSON: %s", cm->name, je.text);
	}
	json_t *rootfs = json_object_get(dc, "rootfs");
	json_t *diff_ids = json_object_get(rootfs, "diff_ids");
	int r = 0;
	/* What an OCI config requires, checked here: a config that lacks it
	 * would be copied into an image no client accepts. */
	if (!json_is_string(json_object_get(dc, "architecture")) || !json_is_string(json_object_get(dc, "os")))
		r = strata_error_set(err, 0, "config '%s': 'architecture' and 'os' must be strings", cm->name);
	else if (!json_is_string(json_object_get(rootfs, "type")) ||
		 strcmp(json_string_value(json_object_get(rootfs, "type")), "layers") != 0)
		r = strata_error_set(err, 0, "config '%s': rootfs.type must be \"layers\"", cm->name);
	else if (!json_is_array(diff_ids) || json_array_size(diff_ids) != json_array_size(layers))
		r = strata_error_set(err, 0, "config '%s': rootfs.diff_ids does not list the manifest's %zu layers",
				     cm->name, json_array_size(layers));
	json_t *lds = json_array(), *sl = json_array();
	for (size_t i = 0; r == 0 && i < json_array_size(layers); i++) {
		const char *ln = json_string_value(json_array_get(layers, i));
		member *lm = ln ? find_member(c, ln) : NULL;
		if (lm == NULL || lm->layer < 0) {
			r = strata_error_set(err, 0, "manifest.json[%zu]: layer '%s' is not in the archive", idx,
					     ln ? ln : "(not a string)");
			break;
		}
		lm->used = true;
		strata_layer_result *res = &c->layers[lm->layer];
		const char *want = json_string_value(json_array_get(diff_ids, i));
		if (want == NULL || strncmp(want, "sha256:", 7) != 0 || strcmp(want + 7, res->diff_id) != 0) {
			r = strata_error_set(err, 0, "layer '%s': diff_id mismatch: the tar is sha256:%s, the config says %s",
					     ln, res->diff_id, want ? want : "(missing)");
			break;
		}
		json_array_append_new(lds, strata_oci_descriptor(strata_compress_media_type(c->o->compress), res->digest, res->size));
		json_t *L = json_object();
		json_object_set_new(L, "member", json_string(ln));
		json_object_set_new(L, "digest", json_sprintf("sha256:%s", res->digest));
		json_object_set_new(L, "diff_id", json_sprintf("sha256:%s", res->diff_id));
		json_object_set_new(L, "size", json_integer((json_int_t)res->size));
		json_object_set_new(L, "uncompressed_size", json_integer((json_int_t)res->tar_size));
		json_array_append_new(sl, L);
	}
	char cfg_hex[65];
	uint64_t cfg_size = 0;
	const char *arch = json_string_value(json_object_get(dc, "architecture"));
	const char *os = json_string_value(json_object_get(dc, "os"));
	if (r == 0) {
		json_t *oc = oci_config(dc);
		r = strata_layout_put_json(l, oc, cfg_hex, &cfg_size, err);
		json_decref(oc);
	}
	if (r == 0) {
		json_t *man = strata_oci_manifest(cfg_hex, cfg_size, lds);
		r = strata_layout_put_json(l, man, img->man_hex, &img->man_size, err);
		json_decref(man);
	}
	if (r == 0) {
		img->refs = json_array();
		json_t *tags = json_object_get(entry, "RepoTags");
		size_t i;
		json_t *t;
		if (c->o->name || c->o->tag) {
			const char *first = json_string_value(json_array_get(tags, 0));
			const char *colon = first ? strrchr(first, ':') : NULL;
			char *name = c->o->name ? strata_xstrdup(c->o->name)
				     : first ? strata_xstrndup(first, colon ? (size_t)(colon - first) : strlen(first))
					     : NULL;
			const char *tag = c->o->tag ? c->o->tag : colon ? colon + 1 : "latest";
			json_array_append_new(img->refs, name ? json_sprintf("%s:%s", name, tag) : json_string(tag));
			free(name);
		} else if (json_is_array(tags) && json_array_size(tags) > 0) {
			json_array_foreach(tags, i, t) if (json_is_string(t)) json_array_append(img->refs, t);
		} else {
			/* No tag at all: as build-layered, one derived from the image. */
			json_array_append_new(img->refs, json_stringn(cfg_hex, 32));
		}
		json_t *I = json_object();
		json_object_set_new(I, "manifest", json_sprintf("sha256:%s", img->man_hex));
		json_object_set_new(I, "config", json_sprintf("sha256:%s", cfg_hex));
		json_object_set(I, "refs", img->refs);
		json_object_set(I, "layers", sl);
		json_array_append_new(sum, I);
		img->arch = strata_xstrdup(arch);
		img->os = strata_xstrdup(os);
	}
	json_decref(lds);
	json_decref(sl);
	json_decref(dc);
	return r;
}

static void progress_fwd(void *arg, uint64_t done)
{
	const strata_convert_options *o = arg;
	o->progress(o->progress_arg, done, 0); /* the total is unknown while streaming */
}

int strata_convert(strata_pool *pool, const strata_convert_options *o, json_t **summary_ret,
		   strata_error *err)
{
	converter c = {.o = o};
	strata_convert_options progress_opts = *o; /* the callback's (non-const) argument */
	c.buf = strata_xmalloc(READ_BUF);
	c.cap_layers = 4096;
	c.layers = strata_xcalloc(c.cap_layers, sizeof *c.layers);
	strata_layout *l = NULL;
	json_t *images_sum = json_array(), *man = NULL;
	image *imgs = NULL;
	size_t nimgs = 0;
	int r = strata_layout_create(o->output, o->format, o->force, &l, err);
	if (r == 0) {
		c.a = archive_read_new();
		archive_read_support_filter_all(c.a);
		archive_read_support_format_tar(c.a);
		bool stdin_ = strcmp(o->input, "-") == 0;
		if (archive_read_open_filename(c.a, stdin_ ? NULL : o->input, READ_BUF) != ARCHIVE_OK)
			r = strata_error_set(err, 0, "cannot read '%s': %s", o->input, archive_error_string(c.a));
	}
	strata_build_options bo = {.compress = o->compress,
				   .level = o->level ? o->level : (o->compress == STRATA_COMPRESS_ZSTD ? 3 : 6),
				   .progress = o->progress ? progress_fwd : NULL,
				   .progress_arg = &progress_opts};
	if (r == 0 && (c.w = strata_layer_writer_create(pool, &bo, strata_layout_blob_dir(l), err)) == NULL)
		r = -1;
	if (r == 0)
		r = read_archive(&c, err);
	if (r == 0)
		r = strata_layer_writer_finish(c.w, err);
	if (r == 0) {
		member *mm = find_member(&c, "manifest.json");
		json_error_t je;
		if (mm == NULL || mm->json == NULL)
			r = strata_error_set(err, 0, "'%s' has no manifest.json: not a Docker archive", o->input);
		else if ((man = json_loadb(mm->json, mm->json_len, 0, &je)) == NULL || !json_is_array(man) ||
			 json_array_size(man) == 0)
			r = strata_error_set(err, 0, "manifest.json: expected a non-empty JSON list of images");
	}
	if (r == 0 && json_array_size(man) > 1 && (o->name || o->tag))
		r = strata_error_set(err, 0, "--name/--tag: the archive holds %zu images; convert it without them",
				     json_array_size(man));
	if (r == 0) {
		imgs = strata_xcalloc(json_array_size(man), sizeof *imgs);
		for (size_t i = 0; r == 0 && i < json_array_size(man); i++, nimgs++)
			r = build_image(&c, l, json_array_get(man, i), i, &imgs[i], images_sum, err);
	}
	for (size_t i = 0; r == 0 && i < c.nmembers; i++)
		if (c.members[i].layer >= 0 && !c.members[i].used)
			r = strata_error_set(err, 0, "layer member '%s' is not listed in manifest.json", c.members[i].name);
	if (r == 0) {
		json_t *mans = json_array();
		for (size_t i = 0; i < nimgs; i++) {
			size_t k;
			json_t *ref;
			json_array_foreach(imgs[i].refs, k, ref)
				strata_oci_index_add(mans, imgs[i].man_hex, imgs[i].man_size, json_string_value(ref),
						     imgs[i].arch, imgs[i].os);
		}
		r = strata_layout_finish(l, mans, err);
	}
	if (r == 0) {
		json_t *sum = json_object();
		json_object_set_new(sum, "output", json_string(o->output));
		json_object_set(sum, "images", images_sum);
		*summary_ret = sum;
	}
	strata_layer_writer_free(c.w);
	if (c.a)
		archive_read_free(c.a);
	strata_layout_free(l);
	for (size_t i = 0; i < nimgs; i++) {
		json_decref(imgs[i].refs);
		free(imgs[i].arch);
		free(imgs[i].os);
	}
	free(imgs);
	for (size_t i = 0; i < c.nmembers; i++) {
		free(c.members[i].name);
		free(c.members[i].alias);
		free(c.members[i].json);
	}
	free(c.members);
	free(c.layers);
	free(c.buf);
	json_decref(man);
	json_decref(images_sum);
	return r;
}
