#define _GNU_SOURCE
#include "strata.h"
#include "archive_in.h"
#include "file.h"
#include "image_config.h"
#include "layer_writer.h"
#include "oci_image.h"
#include "json_check.h"
#include "oci_layout.h"
#include "push.h"
#include "ref.h"
#include "alloc.h"
#include "tar_check.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_BUF (1u << 20)
/* JSON members (manifest.json, configs) are held in memory until the end of
 * the archive: each one and all of them together are bounded, so a small
 * archive of sparse "JSON" members cannot exhaust memory. */
#define MAX_JSON_MEMBER (16u << 20)
#define MAX_JSON_TOTAL (64u << 20)

typedef struct member {
	char *name;
	char *alias; /* a link member: the member it resolves to (archive-relative) */
	char *json;  /* JSON members: their bytes (NUL-terminated) */
	size_t json_len;
	bool json_too_large;
	long layer; /* layer members: index into layers, else -1 */
	bool used;
} member;

typedef struct converter {
	const strata_convert_options *o;
	strata_archive_in *in;
	struct archive *a;
	strata_layer_writer *w;
	member *members;
	size_t nmembers, cap_members;
	/* Open addressing over members by name: lookups stay O(1) however
	 * many members an archive has (a list scan made convert quadratic). */
	size_t *slots; /* member index + 1, 0 = empty */
	size_t nslots;
	size_t json_total;
	strata_layer_result *layers; /* stable addresses: allocated once */
	size_t nlayers, cap_layers;
	unsigned char *buf;
} converter;

/* ---------- members ---------- */

static size_t name_hash(const char *s)
{
	size_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static member *find_exact(converter *c, const char *name)
{
	if (c->nslots == 0)
		return NULL;
	for (size_t i = name_hash(name) & (c->nslots - 1);; i = (i + 1) & (c->nslots - 1)) {
		if (c->slots[i] == 0)
			return NULL;
		member *m = &c->members[c->slots[i] - 1];
		if (strcmp(m->name, name) == 0)
			return m;
	}
}

static void index_member(converter *c, size_t idx)
{
	for (size_t i = name_hash(c->members[idx].name) & (c->nslots - 1);; i = (i + 1) & (c->nslots - 1))
		if (c->slots[i] == 0) {
			c->slots[i] = idx + 1;
			return;
		}
}

static member *add_member(converter *c, char *name)
{
	if (c->nmembers == c->cap_members) {
		c->cap_members = c->cap_members ? 2 * c->cap_members : 64;
		c->members = strata_xrealloc(c->members, c->cap_members * sizeof *c->members);
	}
	if (2 * (c->nmembers + 1) > c->nslots) {
		free(c->slots);
		c->nslots = c->nslots ? 2 * c->nslots : 128;
		c->slots = strata_xcalloc(c->nslots, sizeof *c->slots);
		for (size_t i = 0; i < c->nmembers; i++)
			index_member(c, i);
	}
	member *m = &c->members[c->nmembers];
	memset(m, 0, sizeof *m);
	m->name = name;
	m->layer = -1;
	index_member(c, c->nmembers++);
	return m;
}

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
	size_t cap = strlen(joined) + 1, len = 0;
	cleanup_free char *res = strata_xmalloc(cap);
	char *save = NULL;
	for (char *t = strtok_r(joined, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (strcmp(t, ".") == 0)
			continue;
		if (strcmp(t, "..") == 0) {
			char *up = len ? memrchr(res, '/', len) : NULL;
			if (len == 0)
				return strata_error_set(err, 0, "archive member '%s' links outside the archive ('%s')",
							link_name, target);
			len = up ? (size_t)(up - res) : 0;
			continue;
		}
		if (len)
			res[len++] = '/';
		memcpy(res + len, t, strlen(t));
		len += strlen(t);
	}
	if (len == 0)
		return strata_error_set(err, 0, "archive member '%s' links to the archive root", link_name);
	res[len] = '\0';
	*out = strata_steal_pointer(&res);
	return 0;
}

static bool looks_like_json(const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n && isspace(p[i]))
		i++;
	return i < n && (p[i] == '{' || p[i] == '[');
}

/* A tar header block: its checksum (unsigned sum, blanks in the field). */
static bool tar_header(const unsigned char *p, size_t n)
{
	if (n < 512)
		return false;
	unsigned long want = 0, sum = 0;
	size_t i = 148;
	while (i < 156 && p[i] == ' ')
		i++;
	for (; i < 156 && p[i] >= '0' && p[i] <= '7'; i++)
		want = want * 8 + (unsigned long)(p[i] - '0');
	for (i = 0; i < 512; i++)
		sum += i >= 148 && i < 156 ? ' ' : p[i];
	return want == sum && sum != 8 * ' ';
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
			return strata_error_set(err, 0, "archive member '%s': %s", name, strata_archive_in_error(c->in));
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (la_ssize_t)got;
}

/* ---------- layers ---------- */

/* The current member as a source for a nested reader (a compressed layer). */
typedef struct member_src {
	converter *c;
	const unsigned char *prefix;
	size_t prefix_len;
} member_src;

static ssize_t member_read(void *arg, void *buf, size_t n)
{
	member_src *s = arg;
	if (s->prefix_len > 0) {
		size_t k = s->prefix_len < n ? s->prefix_len : n;
		memcpy(buf, s->prefix, k);
		s->prefix += k;
		s->prefix_len -= k;
		return (ssize_t)k;
	}
	la_ssize_t k = archive_read_data(s->c->a, buf, n);
	if (k < 0) {
		errno = EIO;
		return -1;
	}
	return k;
}

typedef struct layer_feed {
	strata_layer_stream *s;
	strata_tar_check tc;
	const char *name;
} layer_feed;

static int feed(layer_feed *f, const void *buf, size_t n, strata_error *err)
{
	int r = strata_tar_check_feed(&f->tc, buf, n, f->name, err);
	return r < 0 ? r : strata_layer_stream_write(f->s, buf, n, err);
}

/* Streams the rest of a compressed layer member (gzip, zstd, xz or bzip2,
 * any number of members/frames) decompressed. */
static int stream_compressed(converter *c, layer_feed *f, const unsigned char *prefix, size_t plen, strata_error *err)
{
	member_src src = {c, prefix, plen};
	strata_archive_in *in = NULL;
	cleanup_free char *what = strata_xasprintf("layer '%s'", f->name);
	int r = strata_archive_in_open(member_read, &src, what, STRATA_ARCHIVE_RAW, c->o->cancel, &in, err);
	unsigned char *buf = r == 0 ? strata_xmalloc(READ_BUF) : NULL;
	while (r == 0) {
		la_ssize_t n = strata_archive_in_read(in, buf, READ_BUF);
		if (n < 0) {
			r = strata_error_set(err, 0, "layer '%s': %s", f->name, strata_archive_in_error(in));
			break;
		}
		if (n == 0)
			break;
		r = feed(f, buf, (size_t)n, err);
	}
	free(buf);
	strata_archive_in_free(in);
	return r;
}

static int process_layer(converter *c, member *m, const unsigned char *prefix, size_t plen, strata_error *err)
{
	if (c->nlayers == c->cap_layers)
		return strata_error_set(err, 0, "archive has more than %zu layers", c->cap_layers);
	layer_feed f = {.name = m->name};
	strata_tar_check_init(&f.tc);
	int r = strata_layer_stream_open(c->w, &c->layers[c->nlayers], &f.s, err);
	if (r < 0)
		return r;
	m->layer = (long)c->nlayers++;
	if (strata_archive_in_detect(prefix, plen, NULL) != STRATA_COMPRESSION_NONE) {
		r = stream_compressed(c, &f, prefix, plen, err);
	} else {
		r = plen ? feed(&f, prefix, plen, err) : 0;
		while (r == 0) {
			la_ssize_t n = read_full(c, c->buf, READ_BUF, m->name, err);
			if (n < 0)
				r = (int)n;
			else if (n == 0)
				break;
			else
				r = feed(&f, c->buf, (size_t)n, err);
		}
	}
	if (r == 0)
		r = strata_tar_check_end(&f.tc, f.name, err);
	strata_tar_check_fini(&f.tc);
	/* Closed either way: the writer owns the stream (and frees it). */
	int r2 = strata_layer_stream_close(f.s, err);
	return r < 0 ? r : r2;
}

static int hold_json(converter *c, member *m, const unsigned char *head, size_t n, int64_t size, strata_error *err)
{
	if (size > (int64_t)MAX_JSON_MEMBER) {
		m->json_too_large = true; /* an error only if a manifest names it */
		return 0;
	}
	if (c->json_total + (size_t)size > MAX_JSON_TOTAL)
		return strata_error_set(err, 0, "the archive's JSON members exceed %u MiB together", MAX_JSON_TOTAL >> 20);
	m->json = strata_xmalloc((size_t)size + 1);
	memcpy(m->json, head, n);
	la_ssize_t rest = read_full(c, (unsigned char *)m->json + n, (size_t)size - n, m->name, err);
	if (rest < 0)
		return (int)rest;
	m->json_len = n + (size_t)rest;
	m->json[m->json_len] = '\0';
	c->json_total += m->json_len;
	if ((int64_t)m->json_len != size)
		return strata_error_set(err, 0, "archive member '%s': %zu bytes, the header says %lld", m->name, m->json_len,
					(long long)size);
	return 0;
}

static int read_member(converter *c, struct archive_entry *e, unsigned char *head, strata_error *err)
{
	char *name = NULL;
	int r = clean_name(archive_entry_pathname(e), &name, err);
	if (r < 0)
		return r;
	mode_t type = archive_entry_filetype(e);
	const char *hard = archive_entry_hardlink(e);
	if (type == AE_IFDIR && hard == NULL) {
		free(name);
		return 0;
	}
	if (hard == NULL && type != AE_IFREG && type != AE_IFLNK) {
		r = strata_error_set(err, 0, "archive member '%s' is a special file; a Docker archive holds only files, "
					     "directories and links", name);
		free(name);
		return r;
	}
	if (find_exact(c, name) != NULL) {
		r = strata_error_set(err, 0, "archive member '%s' appears twice", name);
		free(name);
		return r;
	}
	member *m = add_member(c, name);
	if (hard != NULL || type == AE_IFLNK)
		return link_target(m->name, hard ? hard : archive_entry_symlink(e), hard != NULL, &m->alias, err);
	la_ssize_t n = read_full(c, head, 512, m->name, err);
	if (n < 0)
		return (int)n;
	/* Layers first: a tar whose first member is named "[..." is a layer. */
	const char *cname = NULL;
	strata_compression comp = strata_archive_in_detect(head, (size_t)n, &cname);
	if (comp == STRATA_COMPRESSION_UNSUPPORTED)
		return strata_error_set(err, 0, "archive member '%s' is compressed with %s, which strata does not read",
					m->name, cname);
	if (comp != STRATA_COMPRESSION_NONE || tar_header(head, (size_t)n))
		return process_layer(c, m, head, (size_t)n, err);
	if (looks_like_json(head, (size_t)n))
		return hold_json(c, m, head, (size_t)n, archive_entry_size(e), err);
	if (layer_by_name(m->name))
		return process_layer(c, m, head, (size_t)n, err);
	return 0; /* anything else (repositories, VERSION, ...) is skipped */
}

static int read_archive(converter *c, strata_error *err)
{
	struct archive_entry *e;
	int h;
	unsigned char *head = strata_xmalloc(512);
	int r = 0;
	while (r == 0 && (h = archive_read_next_header(c->a, &e)) == ARCHIVE_OK) {
		if (strata_cancel_requested(c->o->cancel))
			r = strata_error_set(err, 0, "interrupted");
		else
			r = read_member(c, e, head, err);
	}
	if (r == 0 && h != ARCHIVE_EOF)
		r = strata_error_set(err, 0, "'%s': %s", c->o->input, strata_archive_in_error(c->in));
	free(head);
	return r;
}

/* ---------- images ---------- */

typedef struct image {
	json_t *refs; /* strings */
	char man_hex[65];
	uint64_t man_size;
	char *arch, *os;
} image;

static member *json_member(converter *c, const char *name, const char *what, size_t idx, strata_error *err)
{
	member *m = find_member(c, name);
	if (m != NULL && m->json_too_large) {
		strata_error_set(err, 0, "manifest.json[%zu]: %s '%s' is larger than %u MiB", idx, what, name,
				 MAX_JSON_MEMBER >> 20);
		return NULL;
	}
	if (m == NULL || m->json == NULL) {
		strata_error_set(err, 0, "manifest.json[%zu]: %s '%s' is not in the archive", idx, what, name);
		return NULL;
	}
	return m;
}

/* The image's references: --name/--tag, else every RepoTags entry (each a
 * valid reference; one listed twice counts once), else one derived from the
 * config digest. */
static int image_refs(converter *c, json_t *entry, size_t idx, const char *cfg_hex, json_t *refs, strata_error *err)
{
	json_t *tags = json_object_get(entry, "RepoTags");
	if (tags != NULL && !json_is_null(tags) && !json_is_array(tags))
		return strata_error_set(err, 0, "manifest.json[%zu]: RepoTags must be an array of strings", idx);
	size_t i;
	json_t *t;
	json_array_foreach(tags, i, t)
	{
		if (!json_is_string(t))
			return strata_error_set(err, 0, "manifest.json[%zu]: RepoTags[%zu] is not a string", idx, i);
		strata_ref ref;
		int r = strata_ref_parse(json_string_value(t), &ref, err);
		strata_ref_fini(&ref);
		if (r < 0)
			return strata_error_wrap(err, "manifest.json[%zu]: RepoTags[%zu]", idx, i);
	}
	if (c->o->name || c->o->tag) {
		const char *first = json_string_value(json_array_get(tags, 0));
		strata_ref fr = {0};
		if (first && strata_ref_parse(first, &fr, err) < 0)
			return -1;
		const char *name = c->o->name ? c->o->name : fr.name;
		const char *tag = c->o->tag ? c->o->tag : fr.tag ? fr.tag : "latest";
		json_array_append_new(refs, name ? json_sprintf("%s:%s", name, tag) : json_string(tag));
		strata_ref_fini(&fr);
	} else if (json_array_size(tags) > 0) {
		json_array_foreach(tags, i, t)
		{
			bool dup = false;
			for (size_t k = 0; k < json_array_size(refs); k++)
				dup |= json_equal(json_array_get(refs, k), t);
			if (!dup)
				json_array_append(refs, t);
		}
	} else {
		json_array_append_new(refs, json_stringn(cfg_hex, 32)); /* as build-layered */
	}
	json_array_foreach(refs, i, t)
	{
		if (strata_ref_check_ref_name(json_string_value(t), err) < 0)
			return strata_error_wrap(err, "manifest.json[%zu]", idx);
	}
	return 0;
}

static int build_image(converter *c, strata_oci_layout *l, json_t *entry, size_t idx, image *img, json_t *sum,
		       strata_error *err)
{
	if (!json_is_object(entry))
		return strata_error_set(err, 0, "manifest.json[%zu]: must be an object", idx);
	json_t *cfgname = json_object_get(entry, "Config"), *layers = json_object_get(entry, "Layers");
	if (!json_is_string(cfgname) || !json_is_array(layers))
		return strata_error_set(err, 0, "manifest.json[%zu]: needs \"Config\" and \"Layers\"", idx);
	member *cm = json_member(c, json_string_value(cfgname), "config", idx, err);
	if (cm == NULL)
		return -1;
	json_error_t je;
	json_t *dc = json_loadb(cm->json, cm->json_len, 0, &je);
	if (!json_is_object(dc)) {
		json_decref(dc);
		return strata_error_set(err, 0, "config '%s': invalid JSON: %s", cm->name, je.text);
	}
	json_t *oc = strata_oci_image_config_from_docker(dc);
	json_decref(dc);
	/* What an OCI config requires, checked here: a config that lacks it
	 * would be copied into an image no client accepts. */
	int r = strata_image_config_check_oci(oc, json_array_size(layers), err);
	if (r < 0)
		r = strata_error_wrap(err, "'%s'", cm->name);
	json_t *diff_ids = json_object_get(json_object_get(oc, "rootfs"), "diff_ids");
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
		if (strcmp(want + 7, res->diff_id) != 0) {
			r = strata_error_set(err, 0, "layer '%s': diff_id mismatch: the tar is sha256:%s, the config says %s",
					     ln, res->diff_id, want);
			break;
		}
		json_array_append_new(lds, strata_oci_image_descriptor(strata_oci_image_layer_media_type(c->o->compress), res->digest,
									 res->size));
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
	if (r == 0)
		r = strata_oci_layout_put_json(l, oc, cfg_hex, &cfg_size, err);
	if (r == 0) {
		json_t *man = strata_oci_image_manifest(cfg_hex, cfg_size, lds);
		r = strata_oci_layout_put_json(l, man, img->man_hex, &img->man_size, err);
		json_decref(man);
	}
	if (r == 0) {
		img->refs = json_array();
		r = image_refs(c, entry, idx, cfg_hex, img->refs, err);
	}
	if (r == 0) {
		json_t *I = json_object();
		json_object_set_new(I, "manifest", json_sprintf("sha256:%s", img->man_hex));
		json_object_set_new(I, "config", json_sprintf("sha256:%s", cfg_hex));
		json_object_set(I, "refs", img->refs);
		json_object_set(I, "layers", sl);
		json_array_append_new(sum, I);
		img->arch = strata_xstrdup(json_string_value(json_object_get(oc, "architecture")));
		img->os = strata_xstrdup(json_string_value(json_object_get(oc, "os")));
	}
	json_decref(lds);
	json_decref(sl);
	json_decref(oc);
	return r;
}

/* Every reference names one image: the same one listed twice is merged (one
 * index entry), two images under one reference are refused. */
/* rs's tag; pr->name set when rs names an image (a bare tag, or one
 * derived from the config digest, has no name). Fini pr after. */
static int split_ref(const char *rs, strata_ref *pr, const char **tag, strata_error *err)
{
	memset(pr, 0, sizeof *pr);
	*tag = rs;
	if (!strchr(rs, '/') && !strchr(rs, ':'))
		return 0;
	int r = strata_ref_parse(rs, pr, err);
	*tag = pr->tag ? pr->tag : "latest";
	return r;
}

/* Index entries by the rule of every command (README, "Image names"):
 * ref.name is the tag and io.containerd.image.name the fully qualified
 * NAME:TAG; only when images of the archive share a tag is ref.name the
 * reference as RepoTags gives it, so that oci:DIR:REF stays unambiguous. */
static int index_entries(image *imgs, size_t n, json_t *mans, strata_error *err)
{
	json_t *owner = json_object();    /* reference -> image index */
	json_t *tag_owner = json_object(); /* tag -> image index, or -1 when images share it */
	strata_ref pr;
	const char *tag;
	size_t k;
	json_t *ref;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++)
		json_array_foreach(imgs[i].refs, k, ref)
		{
			if ((r = split_ref(json_string_value(ref), &pr, &tag, err)) == 0) {
				json_t *prev = json_object_get(tag_owner, tag);
				if (prev == NULL)
					json_object_set_new(tag_owner, tag, json_integer((json_int_t)i));
				else if (json_integer_value(prev) >= 0 &&
					 strcmp(imgs[json_integer_value(prev)].man_hex, imgs[i].man_hex) != 0)
					json_object_set_new(tag_owner, tag, json_integer(-1));
			}
			strata_ref_fini(&pr);
			if (r < 0)
				break;
		}
	for (size_t i = 0; i < n && r == 0; i++)
		json_array_foreach(imgs[i].refs, k, ref)
		{
			const char *rs = json_string_value(ref);
			json_t *prev = json_object_get(owner, rs);
			if (prev != NULL) {
				if (strcmp(imgs[json_integer_value(prev)].man_hex, imgs[i].man_hex) != 0) {
					r = strata_error_set(err, 0, "manifest.json: '%s' names two different images", rs);
					break;
				}
				continue;
			}
			json_object_set_new(owner, rs, json_integer((json_int_t)i));
			if ((r = split_ref(rs, &pr, &tag, err)) == 0) {
				bool shared = json_integer_value(json_object_get(tag_owner, tag)) < 0;
				cleanup_free char *full = pr.name ? strata_ref_qualified(pr.name, tag) : NULL;
				strata_oci_image_index_add(mans, imgs[i].man_hex, imgs[i].man_size, shared ? rs : tag, full,
							   imgs[i].arch, imgs[i].os);
			}
			strata_ref_fini(&pr);
			if (r < 0)
				break;
		}
	json_decref(owner);
	json_decref(tag_owner);
	return r;
}

/* The input: stdin, a regular file or a pipe; never a device or directory. */
static int open_input(const char *input, const strata_cancel *cancel, strata_error *err)
{
	if (strcmp(input, "-") == 0) {
		int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? strata_error_set(err, errno, "cannot read stdin") : fd;
	}
	int fd = open(input, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return strata_error_set(err, errno, "cannot open '%s'", input);
	struct stat st;
	if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))) {
		int e = errno;
		close(fd);
		return e ? strata_error_set(err, e, "cannot stat '%s'", input)
			 : strata_error_set(err, 0, "'%s' is a %s, not an archive file or a pipe", input,
					    strata_file_type_name(st.st_mode));
	}
	if (S_ISFIFO(st.st_mode)) {
		/* Opened without blocking to look at it; a named fifo is read
		 * once a writer comes, so reopen it blocking (a signal still
		 * interrupts the wait). */
		close(fd);
		fd = open(input, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && errno == EINTR && strata_cancel_requested(cancel))
			return strata_error_set(err, 0, "interrupted while waiting for a writer on '%s'", input);
		if (fd < 0)
			return strata_error_set(err, errno, "cannot open '%s'", input);
	} else {
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	}
	return fd;
}

/* "blobs/sha256/<hex>" of a descriptor's digest, or NULL. */
static char *blob_name(json_t *desc)
{
	const char *d = json_string_value(json_object_get(desc, "digest"));
	return d && strata_json_check_is_sha256(d) ? strata_xasprintf("blobs/sha256/%s", d + 7) : NULL;
}

/* An oci-archive (podman save --format oci-archive, buildah, skopeo, strata
 * --format tarball): its index and manifests read as the Docker
 * manifest.json they stand for; the names from io.containerd.image.name,
 * else ref.name. */
static int manifest_from_index(converter *c, member *im, json_t **man, strata_error *err)
{
	if (im->json_too_large)
		return strata_error_set(err, 0, "index.json is larger than %u MiB", MAX_JSON_MEMBER >> 20);
	cleanup_json json_t *index = json_loadb(im->json, im->json_len, 0, NULL);
	json_t *mans = json_object_get(index, "manifests"), *d;
	if (!json_is_array(mans) || json_array_size(mans) == 0)
		return strata_error_set(err, 0, "index.json: expected a non-empty list of manifests");
	*man = json_array();
	size_t i;
	json_array_foreach(mans, i, d) {
		const char *mt = json_string_value(json_object_get(d, "mediaType"));
		if (mt && (strstr(mt, "image.index") || strstr(mt, "manifest.list")))
			return strata_error_set(err, 0, "index.json[%zu]: a multi-platform index; copy one platform out first "
							"(skopeo copy --override-arch ARCH)", i);
		cleanup_free char *mname = blob_name(d);
		if (mname == NULL)
			return strata_error_set(err, 0, "index.json[%zu]: an invalid digest", i);
		member *mm = json_member(c, mname, "manifest", i, err);
		if (mm == NULL)
			return -1;
		cleanup_json json_t *m = json_loadb(mm->json, mm->json_len, 0, NULL);
		char *cfg = blob_name(json_object_get(m, "config"));
		json_t *layers = json_object_get(m, "layers"), *l, *names = json_array(), *tags = json_array();
		size_t k;
		json_array_foreach(layers, k, l) {
			char *ln = blob_name(l);
			json_array_append_new(names, ln ? json_string(ln) : json_null());
			free(ln);
		}
		json_t *ann = json_object_get(d, "annotations");
		const char *full = json_string_value(json_object_get(ann, "io.containerd.image.name"));
		const char *ref = json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
		if (full || ref)
			json_array_append_new(tags, json_string(full ? full : ref));
		json_array_append_new(*man, json_pack("{s:s?, s:o, s:o}", "Config", cfg, "RepoTags", tags, "Layers", names));
		free(cfg);
		if (!json_is_array(layers) || json_object_get(json_array_get(*man, i), "Config") == NULL)
			return strata_error_set(err, 0, "manifest %s: needs a config and layers", mname);
	}
	return 0;
}

static int find_manifest(converter *c, json_t **man, strata_error *err)
{
	member *mm = find_member(c, "manifest.json");
	json_error_t je;
	if (mm != NULL && mm->json_too_large)
		return strata_error_set(err, 0, "manifest.json is larger than %u MiB", MAX_JSON_MEMBER >> 20);
	member *im = mm == NULL ? find_member(c, "index.json") : NULL;
	if (im != NULL && (im->json || im->json_too_large)) {
		int r = manifest_from_index(c, im, man, err);
		if (r == 0 && json_array_size(*man) > 1 && (c->o->name || c->o->tag))
			r = strata_error_set(err, 0, "the archive holds %zu images: a name or tag applies to one",
					     json_array_size(*man));
		return r;
	}
	if (mm == NULL || mm->json == NULL)
		return strata_error_set(err, 0, "'%s' has neither manifest.json nor index.json: not a Docker or OCI archive",
					c->o->input);
	if ((*man = json_loadb(mm->json, mm->json_len, 0, &je)) == NULL || !json_is_array(*man) || json_array_size(*man) == 0)
		return strata_error_set(err, 0, "manifest.json: expected a non-empty JSON list of images");
	if (json_array_size(*man) > 1 && (c->o->name || c->o->tag))
		return strata_error_set(err, 0, "the archive holds %zu images: a name or tag applies to one",
					json_array_size(*man));
	return 0;
}

static int convert_to(strata_pool *pool, const strata_convert_options *o, strata_push_job *pj, json_t **summary_ret,
		      strata_error *err)
{
	converter c = {.o = o};
	c.buf = strata_xmalloc(READ_BUF);
	c.cap_layers = 4096;
	c.layers = strata_xcalloc(c.cap_layers, sizeof *c.layers);
	strata_oci_layout *l = NULL;
	json_t *images_sum = json_array(), *man = NULL;
	image *imgs = NULL;
	size_t nimgs = 0;
	cleanup_close int fd = -1;
	int r = 0;
	if (o->name && (r = strata_ref_check_name(o->name, err)) < 0)
		goto out;
	if (o->tag && (r = strata_ref_check_tag(o->tag, err)) < 0)
		goto out;
	if (o->gzip_single_member && o->compress != STRATA_COMPRESS_GZIP) {
		r = strata_error_set(err, 0, "a single gzip member is for gzip compression");
		goto out;
	}
	if ((r = strata_layer_codec_check_level(strata_layer_codec_for(o->compress, o->gzip_single_member), o->level,
						err)) < 0)
		goto out;
	const char *inputs[] = {strcmp(o->input, "-") ? o->input : NULL};
	strata_output_options oo = {.force = o->force, .inputs = inputs, .ninputs = 1, .cancel = o->cancel};
	if ((r = strata_oci_layout_create(o->output, o->format, &oo, &l, err)) < 0 || (r = fd = open_input(o->input, o->cancel, err)) < 0)
		goto out;
	r = strata_archive_in_open_fd(fd, strcmp(o->input, "-") ? o->input : "stdin", STRATA_ARCHIVE_TAR, o->cancel,
				      &c.in, err);
	if (r < 0)
		goto out;
	c.a = strata_archive_in_archive(c.in);
	/* The total is unknown while streaming: progress says 0. */
	strata_layer_writer_options wo = {.codec = strata_layer_codec_for(o->compress, o->gzip_single_member),
					  .level = o->level,
					  .progress = o->progress, .progress_arg = o->progress_arg,
					  .blob_done = pj->session ? strata_push_job_offer : NULL, .blob_done_arg = pj,
					  .cancel = o->cancel};
	c.w = strata_layer_writer_create(pool, &wo, strata_oci_layout_blob_dir(l));
	if ((r = read_archive(&c, err)) < 0 || (r = strata_layer_writer_finish(c.w, err)) < 0 ||
	    (r = find_manifest(&c, &man, err)) < 0)
		goto out;
	imgs = strata_xcalloc(json_array_size(man), sizeof *imgs);
	for (size_t i = 0; r == 0 && i < json_array_size(man); i++, nimgs++)
		r = build_image(&c, l, json_array_get(man, i), i, &imgs[i], images_sum, err);
	for (size_t i = 0; r == 0 && i < c.nmembers; i++)
		if (c.members[i].layer >= 0 && !c.members[i].used)
			r = strata_error_set(err, 0, "layer member '%s' is not listed in manifest.json", c.members[i].name);
	if (r == 0) {
		json_t *mans = json_array();
		if ((r = index_entries(imgs, nimgs, mans, err)) < 0) {
			json_decref(mans);
		} else {
			json_t *index = strata_oci_image_index(mans);
			r = strata_oci_layout_finish(l, index, err);
			json_decref(index);
		}
	}
	if (r == 0) {
		json_t *sum = json_object();
		json_object_set_new(sum, "output", json_string(o->output));
		json_object_set(sum, "images", images_sum);
		*summary_ret = sum;
	}
out:
	strata_layer_writer_free(c.w);
	strata_archive_in_free(c.in);
	strata_oci_layout_free(l);
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
	free(c.slots);
	free(c.layers);
	free(c.buf);
	json_decref(man);
	json_decref(images_sum);
	return r;
}

int strata_convert(strata_pool *pool, const strata_convert_options *o, json_t **summary_ret, strata_error *err)
{
	strata_push_job pj;
	int r = strata_push_job_start(o->push, o->output, &pj, err);
	strata_convert_options co = *o;
	co.output = pj.output;
	json_t *summary = NULL;
	if (r == 0)
		r = convert_to(pool, &co, &pj, &summary, err);
	size_t n = json_array_size(json_object_get(summary, "images"));
	if (r == 0 && o->push && n != 1)
		r = strata_error_set(err, 0, "push %s: the archive holds %zu images; one destination takes one", o->push->dest, n);
	return strata_push_job_end(&pj, r, summary, summary_ret, err);
}
