#define _GNU_SOURCE
#include "push.h"
#include "alloc.h"
#include "file.h"
#include "json_check.h"
#include "registry_auth.h"
#include "sha256.h"
#include "tar_index.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (16u << 20)      /* PATCH size of a chunked upload */
#define MONOLITHIC (32u << 20) /* blobs up to this go in one PUT */
#define RETRIES 5
#define READ_BUF (1u << 20)

/* ---------- the image to push ---------- */

typedef struct blob {
	char hex[65];
	uint64_t size;
	const char *kind; /* "layer", "config" */
	int fd;           /* where its bytes are: a file, or the archive */
	uint64_t off;
	const char *action; /* exists, mounted, uploaded */
	strata_error err;
} blob;

typedef struct image {
	int blobs_fd; /* a layout's blobs/sha256, or -1 */
	int archive_fd;
	strata_tar_index *index;
	char *manifest; /* raw bytes */
	size_t manifest_len;
	char manifest_hex[65];
	char *manifest_type;
	blob *blobs; /* layers, then the config */
	size_t nblobs;
} image;

static void image_fini(image *im)
{
	for (size_t i = 0; i < im->nblobs; i++) {
		if (im->blobs[i].fd >= 0 && im->blobs[i].fd != im->archive_fd)
			close(im->blobs[i].fd);
		strata_error_clear(&im->blobs[i].err);
	}
	free(im->blobs);
	free(im->manifest);
	free(im->manifest_type);
	strata_tar_index_free(im->index);
	if (im->blobs_fd >= 0)
		close(im->blobs_fd);
	if (im->archive_fd >= 0)
		close(im->archive_fd);
}

/* A blob's bytes: fd, offset, size. */
static int locate(image *im, const char *hex, int *fd, uint64_t *off, uint64_t *size, strata_error *err)
{
	if (im->index) {
		cleanup_free char *name = strata_xasprintf("blobs/sha256/%s", hex);
		const strata_tar_member *m = strata_tar_index_find(im->index, name);
		if (m == NULL || !strata_tar_index_is_file(m))
			return strata_error_set(err, 0, "blob sha256:%s is not in the archive", hex);
		*fd = im->archive_fd;
		*off = m->data_offset;
		*size = m->h.size;
		return 0;
	}
	struct stat st;
	*fd = strata_file_open_regular(im->blobs_fd, hex, STRATA_FILE_NOFOLLOW, "blob", &st, err);
	*off = 0;
	*size = (uint64_t)st.st_size;
	return *fd < 0 ? -1 : 0;
}

static int read_blob(image *im, const char *hex, char **buf_ret, size_t *len_ret, strata_error *err)
{
	int fd;
	uint64_t off, size;
	if (locate(im, hex, &fd, &off, &size, err) < 0)
		return -1;
	int r = 0;
	char *buf = NULL;
	if (size > STRATA_FILE_MAX_JSON)
		r = strata_error_set(err, 0, "blob sha256:%s is too large for JSON", hex);
	else
		buf = strata_xmalloc(size + 1);
	for (uint64_t got = 0; r == 0 && got < size;) {
		ssize_t k = pread(fd, buf + got, size - got, (off_t)(off + got));
		if (k <= 0 && !(k < 0 && errno == EINTR))
			r = strata_error_set(err, k < 0 ? errno : 0, "cannot read blob sha256:%s", hex);
		got += k > 0 ? (uint64_t)k : 0;
	}
	if (fd != im->archive_fd)
		close(fd);
	char got[65];
	if (r == 0) {
		strata_sha256_hex(buf, size, got);
		if (strcmp(got, hex) != 0)
			r = strata_error_set(err, 0, "blob sha256:%s does not match its digest", hex);
	}
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[size] = '\0';
	*buf_ret = buf;
	*len_ret = size;
	return 0;
}

static int digest_of(json_t *desc, char hex[65])
{
	const char *d = json_string_value(json_object_get(desc, "digest"));
	if (d == NULL || strata_json_check_sha256(d) < 0)
		return -1;
	memcpy(hex, d + 7, 65);
	return 0;
}

/* SRC: DIR, DIR:TAG, or an oci-archive (FILE, FILE:TAG). */
static int image_open(const char *src, image *im, strata_error *err)
{
	memset(im, 0, sizeof *im);
	im->blobs_fd = im->archive_fd = -1;
	cleanup_free char *path = strata_xstrdup(src);
	char *tag = NULL;
	struct stat st;
	if (stat(path, &st) < 0) {
		char *colon = strrchr(path, ':');
		if (colon && !strchr(colon, '/')) {
			*colon = '\0';
			tag = colon + 1;
		}
		if (stat(path, &st) < 0)
			return strata_error_set(err, errno, "cannot open '%s'", src);
	}
	cleanup_free char *index_text = NULL;
	size_t index_len = 0;
	int r;
	if (S_ISDIR(st.st_mode)) {
		cleanup_close int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		cleanup_close int b = dfd < 0 ? -1 : openat(dfd, "blobs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		im->blobs_fd = b < 0 ? -1 : openat(b, "sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (im->blobs_fd < 0)
			return strata_error_set(err, 0, "'%s' is not an OCI image layout (no blobs/sha256)", path);
		r = strata_file_read_all(dfd, "index.json", STRATA_FILE_NOFOLLOW, STRATA_FILE_MAX_JSON, "index.json",
					 &index_text, &index_len, err);
	} else {
		im->archive_fd = strata_file_open_regular(AT_FDCWD, path, 0, "oci-archive", NULL, err);
		if (im->archive_fd < 0)
			return -1;
		cleanup_free char *what = strata_xasprintf("oci-archive %s", path);
		if ((r = strata_tar_index_read(im->archive_fd, what, NULL, &im->index, err)) < 0)
			return r;
		const strata_tar_member *m = strata_tar_index_find(im->index, "index.json");
		if (m == NULL || m->h.size > STRATA_FILE_MAX_JSON)
			return strata_error_set(err, 0, "'%s' is not an oci-archive (no index.json)", path);
		index_text = strata_xmalloc(m->h.size + 1);
		index_len = m->h.size;
		if (pread(im->archive_fd, index_text, index_len, (off_t)m->data_offset) != (ssize_t)index_len)
			return strata_error_set(err, errno, "cannot read '%s'", path);
	}
	if (r < 0)
		return r;
	cleanup_json json_t *index = json_loadb(index_text, index_len, 0, NULL);
	json_t *mans = json_object_get(index, "manifests"), *pick = NULL, *d;
	size_t i;
	json_array_foreach(mans, i, d) {
		const char *ref = json_string_value(
			json_object_get(json_object_get(d, "annotations"), "org.opencontainers.image.ref.name"));
		if (tag == NULL ? json_array_size(mans) == 1 : (ref && strcmp(ref, tag) == 0))
			pick = d;
	}
	if (pick == NULL)
		return strata_error_set(err, 0, "%s: %s", src,
					tag ? "no image of that tag in it" : "it holds several images: name one as SRC:TAG");
	if (digest_of(pick, im->manifest_hex) < 0)
		return strata_error_set(err, 0, "%s: its index has an invalid manifest descriptor", src);
	if ((r = read_blob(im, im->manifest_hex, &im->manifest, &im->manifest_len, err)) < 0)
		return r;
	cleanup_json json_t *man = json_loadb(im->manifest, im->manifest_len, 0, NULL);
	const char *mt = json_string_value(json_object_get(man, "mediaType"));
	im->manifest_type = strata_xstrdup(mt ? mt : "application/vnd.oci.image.manifest.v1+json");
	json_t *layers = json_object_get(man, "layers"), *config = json_object_get(man, "config");
	if (!json_is_array(layers) || !json_is_object(config))
		return strata_error_set(err, 0, "%s: the manifest has no layers or config", src);
	im->blobs = strata_xcalloc(json_array_size(layers) + 1, sizeof *im->blobs);
	for (i = 0; i <= json_array_size(layers); i++) {
		json_t *desc = i < json_array_size(layers) ? json_array_get(layers, i) : config;
		blob *b = &im->blobs[im->nblobs++];
		b->fd = -1;
		b->kind = desc == config ? "config" : "layer";
		if (digest_of(desc, b->hex) < 0)
			return strata_error_set(err, 0, "%s: an invalid descriptor in the manifest", src);
		uint64_t size = 0;
		if ((r = locate(im, b->hex, &b->fd, &b->off, &size, err)) < 0)
			return r;
		json_t *ds = json_object_get(desc, "size");
		if (!json_is_integer(ds) || (uint64_t)json_integer_value(ds) != size)
			return strata_error_set(err, 0, "%s: blob sha256:%s has %llu bytes, its descriptor says otherwise", src,
						b->hex, (unsigned long long)size);
		b->size = size;
	}
	return 0;
}

/* ---------- the destination ---------- */

typedef struct dest {
	char *host; /* host[:port] */
	char *repo;
	char *tag;  /* NULL with a digest */
	char *base; /* scheme://host/v2/repo */
} dest;

static void dest_fini(dest *d)
{
	free(d->host);
	free(d->repo);
	free(d->tag);
	free(d->base);
}

/* host[:port] is this machine's loopback. */
static bool is_local(const char *host)
{
	static const char *const names[] = {"localhost", "127.0.0.1", "[::1]"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		size_t l = strlen(names[i]);
		if (!strncmp(host, names[i], l) && (host[l] == '\0' || host[l] == ':' || host[l] == '/'))
			return true;
	}
	return false;
}

static int dest_parse(const char *s, bool plain_http, dest *d, strata_error *err)
{
	memset(d, 0, sizeof *d);
	if (strncmp(s, "docker://", 9) != 0)
		return strata_error_set(err, 0, "destination '%s' must be docker://HOST/REPO[:TAG]", s);
	const char *rest = s + 9, *slash = strchr(rest, '/');
	const char *first_end = slash ? slash : rest + strlen(rest);
	/* As Docker: the first component is a registry when it has a '.' or a
	 * ':' or is localhost; else docker.io (library/ for one component). */
	bool registry = slash && (memchr(rest, '.', (size_t)(first_end - rest)) ||
				  memchr(rest, ':', (size_t)(first_end - rest)) || !strncmp(rest, "localhost", 9));
	d->host = registry ? strata_xstrndup(rest, (size_t)(first_end - rest)) : strata_xstrdup("registry-1.docker.io");
	const char *name = registry ? slash + 1 : rest;
	char *repo = strata_xstrdup(name);
	char *at = strchr(repo, '@'), *colon = strrchr(repo, ':');
	if (at)
		*at = '\0';
	else if (colon && !strchr(colon, '/')) {
		*colon = '\0';
		d->tag = strata_xstrdup(colon + 1);
	}
	if (d->tag == NULL && at == NULL)
		d->tag = strata_xstrdup("latest");
	if (!registry && !strchr(repo, '/')) {
		char *lib = strata_xasprintf("library/%s", repo);
		free(repo);
		repo = lib;
	}
	d->repo = repo;
	if (!*repo)
		return strata_error_set(err, 0, "destination '%s' names no repository", s);
	d->base = strata_xasprintf("%s://%s/v2/%s", plain_http ? "http" : "https", d->host, repo);
	return 0;
}

/* ---------- HTTP ---------- */

/* A bearer token shared by the upload threads: one exchange per push,
 * again only when the registry refuses the latest token. */
typedef struct token {
	pthread_mutex_t fetch; /* held across an exchange: one at a time */
	pthread_mutex_t lock;
	char *header;     /* "Authorization: Bearer ...", or NULL */
	unsigned version; /* counts new tokens */
} token;

typedef struct client {
	CURL *h;
	const strata_push_options *o;
	const dest *d;
	const char *creds; /* USER:PASS or NULL */
	token *tok;
} client;

typedef struct response {
	long status;
	char location[4096];
	char digest[160];
	char challenge[1024];
	long retry_after;
	size_t nbody;
	char body[65536]; /* last: not cleared. Errors; a token server's answer (JWTs with certificates) */
} response;

typedef struct upload {
	int fd;
	uint64_t off, left;
	const char *mem;
	size_t memlen, mempos;
	strata_sha256 *sha; /* of the bytes sent, when checked */
	const strata_cancel *cancel;
} upload;

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
	response *r = arg;
	size_t len = size * n;
	struct {
		const char *name;
		char *out;
		size_t cap;
	} want[] = {{"location:", r->location, sizeof r->location},
		    {"docker-content-digest:", r->digest, sizeof r->digest},
		    {"www-authenticate:", r->challenge, sizeof r->challenge}};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		size_t nl = strlen(want[i].name);
		if (len > nl && !strncasecmp(buf, want[i].name, nl)) {
			const char *v = buf + nl;
			size_t vl = len - nl;
			while (vl && (*v == ' ' || *v == '\t'))
				v++, vl--;
			while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
				vl--;
			if (vl < want[i].cap) {
				memcpy(want[i].out, v, vl);
				want[i].out[vl] = '\0';
			}
		}
	}
	if (len > 12 && !strncasecmp(buf, "retry-after:", 12))
		r->retry_after = strtol(buf + 12, NULL, 10);
	return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *arg)
{
	response *r = arg;
	size_t len = size * n, room = sizeof r->body - 1 - r->nbody;
	memcpy(r->body + r->nbody, buf, len < room ? len : room);
	r->nbody += len < room ? len : room;
	r->body[r->nbody] = '\0';
	return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
	upload *u = arg;
	size_t want = size * n;
	if (strata_cancel_requested(u->cancel))
		return CURL_READFUNC_ABORT;
	if (u->mem) {
		size_t k = u->memlen - u->mempos < want ? u->memlen - u->mempos : want;
		memcpy(buf, u->mem + u->mempos, k);
		u->mempos += k;
		return k;
	}
	if (want > u->left)
		want = (size_t)u->left;
	ssize_t k;
	do
		k = pread(u->fd, buf, want, (off_t)u->off);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return CURL_READFUNC_ABORT;
	if (u->sha)
		strata_sha256_update(u->sha, buf, (size_t)k);
	u->off += (uint64_t)k;
	u->left -= (uint64_t)k;
	return (size_t)k;
}

/* One request, no retries. *code: curl's. */
static CURLcode request(client *c, const char *method, const char *url, const char *content_type, upload *body,
			uint64_t body_len, const char *range, bool to_token_server, response *r)
{
	memset(r, 0, offsetof(response, body));
	r->body[0] = '\0';
	CURL *h = c->h;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (c->o->tls_verify_off) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	cleanup_free char *ca = NULL, *cert = NULL, *key = NULL;
	if (c->o->cert_dir) {
		ca = strata_xasprintf("%s/ca.crt", c->o->cert_dir);
		cert = strata_xasprintf("%s/client.cert", c->o->cert_dir);
		key = strata_xasprintf("%s/client.key", c->o->cert_dir);
		if (access(ca, R_OK) == 0)
			curl_easy_setopt(h, CURLOPT_CAINFO, ca);
		if (access(cert, R_OK) == 0 && access(key, R_OK) == 0) {
			curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
			curl_easy_setopt(h, CURLOPT_SSLKEY, key);
		}
	}
	struct curl_slist *hdr = NULL;
	cleanup_free char *ct = content_type ? strata_xasprintf("Content-Type: %s", content_type) : NULL;
	cleanup_free char *cr = range ? strata_xasprintf("Content-Range: %s", range) : NULL;
	if (ct)
		hdr = curl_slist_append(hdr, ct);
	if (cr)
		hdr = curl_slist_append(hdr, cr);
	pthread_mutex_lock(&c->tok->lock);
	bool bearer = c->tok->header && !to_token_server;
	if (bearer)
		hdr = curl_slist_append(hdr, c->tok->header);
	pthread_mutex_unlock(&c->tok->lock);
	if (c->creds && !bearer) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERPWD, c->creds);
	}
	hdr = curl_slist_append(hdr, "Expect:");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	if (body) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, body);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body_len);
	} else if (strcmp(method, "HEAD") && strcmp(method, "GET")) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	}
	CURLcode cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hdr);
	return cc;
}

/* The value of key="..." in a challenge. */
static char *challenge_param(const char *ch, const char *key)
{
	cleanup_free char *pat = strata_xasprintf("%s=\"", key);
	const char *p = strcasestr(ch, pat);
	if (p == NULL)
		return NULL;
	p += strlen(pat);
	const char *e = strchr(p, '"');
	return e ? strata_xstrndup(p, (size_t)(e - p)) : NULL;
}

/* Bearer: a token for the challenge's realm and service, for the scopes
 * this push needs (the challenge's, push and pull on the repository, pull
 * on the mount source). Unless another thread already replaced the token
 * that was refused (seen: its version). */
static int exchange(client *c, const char *challenge, strata_error *err);

static int get_token(client *c, const char *challenge, unsigned seen, strata_error *err)
{
	pthread_mutex_lock(&c->tok->fetch);
	pthread_mutex_lock(&c->tok->lock);
	bool fresh = c->tok->version != seen;
	pthread_mutex_unlock(&c->tok->lock);
	int r = fresh ? 0 : exchange(c, challenge, err);
	pthread_mutex_unlock(&c->tok->fetch);
	return r;
}

static int exchange(client *c, const char *challenge, strata_error *err)
{
	cleanup_free char *realm = challenge_param(challenge, "realm");
	cleanup_free char *service = challenge_param(challenge, "service");
	cleanup_free char *scope = challenge_param(challenge, "scope");
	if (realm == NULL || (strncmp(realm, "https://", 8) && strncmp(realm, "http://", 7)))
		return strata_error_set(err, 0, "the registry asks for a token without a valid realm");
	/* Credentials go over plain HTTP only where the registry itself may be
	 * plain: to this machine, or when asked. */
	if (!strncmp(realm, "http://", 7) && !c->o->plain_http && !is_local(realm + 7))
		return strata_error_set(err, 0, "the registry's token server %s is plain HTTP", realm);
	cleanup_free char *mine = strata_xasprintf("repository:%s:pull,push", c->d->repo);
	cleanup_free char *from = c->o->mount_from ? strata_xasprintf("repository:%s:pull", c->o->mount_from) : NULL;
	/* The challenge's scope is dropped when ours covers it (the same
	 * repository, pull or push). */
	cleanup_free char *prefix = strata_xasprintf("repository:%s:", c->d->repo);
	if (scope && !strncmp(scope, prefix, strlen(prefix)) &&
	    strspn(scope + strlen(prefix), "pullsh,") == strlen(scope + strlen(prefix)))
		free(scope), scope = NULL;
	const char *scopes[] = {scope, mine, from};
	char *es = curl_easy_escape(c->h, service ? service : "", 0);
	cleanup_free char *url = strata_xasprintf("%s%sservice=%s", realm, strchr(realm, '?') ? "&" : "?", es);
	curl_free(es);
	for (size_t i = 0; i < 3; i++) {
		if (scopes[i] == NULL || (i > 0 && scope && !strcmp(scopes[i], scope)))
			continue;
		char *e = curl_easy_escape(c->h, scopes[i], 0);
		char *u = strata_xasprintf("%s&scope=%s", url, e);
		curl_free(e);
		free(url);
		url = u;
	}
	response r;
	CURLcode cc = request(c, "GET", url, NULL, NULL, 0, NULL, true, &r);
	if (cc != CURLE_OK)
		return strata_error_set(err, 0, "token server: %s", curl_easy_strerror(cc));
	if (r.status != 200)
		return strata_error_set(err, 0, "token server: %ld %s", r.status,
					r.status == 401 || r.status == 403 ? "unauthorized" : "from the token server");
	cleanup_json json_t *j = json_loads(r.body, 0, NULL);
	const char *t = json_string_value(json_object_get(j, "token"));
	if (t == NULL)
		t = json_string_value(json_object_get(j, "access_token"));
	if (t == NULL || strpbrk(t, "\r\n"))
		return strata_error_set(err, 0, "token server: no token in its answer");
	pthread_mutex_lock(&c->tok->lock);
	free(c->tok->header);
	c->tok->header = strata_xasprintf("Authorization: Bearer %s", t);
	c->tok->version++;
	pthread_mutex_unlock(&c->tok->lock);
	return 0;
}

/* A request with retries (connection errors, 429, 5xx) and auth. The body
 * is rewound by the caller's rewind for each attempt. */
static int call(client *c, const char *what, const char *method, const char *url, const char *ctype,
		upload *body, uint64_t body_len, const char *range, response *r, strata_error *err)
{
	upload start = body ? *body : (upload){0};
	bool tried_token = false;
	for (int attempt = 0;; attempt++) {
		if (body)
			*body = start;
		pthread_mutex_lock(&c->tok->lock);
		unsigned version = c->tok->version;
		pthread_mutex_unlock(&c->tok->lock);
		CURLcode cc = request(c, method, url, ctype, body, body_len, range, false, r);
		if (strata_cancel_requested(c->o->cancel))
			return strata_error_set(err, 0, "interrupted");
		if (cc == CURLE_OK && r->status == 401 && !tried_token && strncasecmp(r->challenge, "Bearer", 6) == 0) {
			tried_token = true;
			if (get_token(c, r->challenge, version, err) < 0)
				return strata_error_wrap(err, "%s", what);
			attempt--;
			continue;
		}
		if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM ||
		    cc == CURLE_SSL_CONNECT_ERROR)
			return strata_error_set(err, 0, "%s: %s (%s)", what, curl_easy_strerror(cc),
						cc == CURLE_PEER_FAILED_VERIFICATION
							? "the registry's certificate is not trusted: name its CA, or do not verify TLS"
							: "TLS");
		bool transient = cc != CURLE_OK || r->status == 429 || r->status >= 500;
		if (!transient)
			return 0;
		if (attempt + 1 >= RETRIES)
			return cc != CURLE_OK ? strata_error_set(err, 0, "%s: %s", what, curl_easy_strerror(cc))
					      : strata_error_set(err, 0, "%s: %ld from the registry (after %d tries)", what,
								 r->status, RETRIES);
		long ms = 200L << attempt;
		if (r->retry_after > 0)
			ms = (r->retry_after > 10 ? 10 : r->retry_after) * 1000;
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static int http_error(const char *what, const response *r, strata_error *err)
{
	char body[200];
	size_t k = 0;
	for (size_t i = 0; i < r->nbody && k + 1 < sizeof body; i++)
		body[k++] = r->body[i] == '\n' ? ' ' : r->body[i];
	body[k] = '\0';
	return strata_error_set(err, 0, "%s: %ld %s%s%s", what, r->status,
				r->status == 401 ? "unauthorized" : r->status == 403 ? "denied" : "from the registry",
				k ? ": " : "", body);
}

/* An absolute URL from a Location (which may be a path). */
static char *absolute(const client *c, const char *loc)
{
	if (strstr(loc, "://"))
		return strata_xstrdup(loc);
	const char *v2 = strstr(c->d->base, "/v2/");
	return strata_xasprintf("%.*s%s", (int)(v2 - c->d->base), c->d->base, loc);
}

/* ---------- blobs ---------- */

/* Hashes a blob before any byte leaves: a corrupted layout is refused. */
static int check_blob(const blob *b, const strata_cancel *cancel, strata_error *err)
{
	strata_sha256 *sha = strata_sha256_create();
	cleanup_free unsigned char *buf = strata_xmalloc(READ_BUF);
	int r = 0;
	for (uint64_t off = 0; off < b->size && r == 0;) {
		if (strata_cancel_requested(cancel)) {
			r = strata_error_set(err, 0, "interrupted");
			break;
		}
		size_t want = b->size - off > READ_BUF ? READ_BUF : (size_t)(b->size - off);
		ssize_t k = pread(b->fd, buf, want, (off_t)(b->off + off));
		if (k <= 0 && !(k < 0 && errno == EINTR))
			r = strata_error_set(err, k < 0 ? errno : 0, "blob sha256:%s: cannot read it", b->hex);
		if (k > 0) {
			strata_sha256_update(sha, buf, (size_t)k);
			off += (uint64_t)k;
		}
	}
	char got[65];
	strata_sha256_final_hex(sha, got);
	strata_sha256_free(sha);
	if (r == 0 && strcmp(got, b->hex) != 0)
		r = strata_error_set(err, 0, "blob sha256:%s in the layout does not match its digest (refused before upload)",
				     b->hex);
	return r;
}

static int finish_upload(client *c, blob *b, const char *loc, upload *body, uint64_t len, strata_error *err)
{
	cleanup_free char *what = strata_xasprintf("blob sha256:%s", b->hex);
	cleanup_free char *base = absolute(c, loc);
	cleanup_free char *url = strata_xasprintf("%s%sdigest=sha256:%s", base, strchr(base, '?') ? "&" : "?", b->hex);
	response r;
	if (call(c, what, "PUT", url, "application/octet-stream", body, len, NULL, &r, err) < 0)
		return -1;
	if (r.status != 201)
		return http_error(what, &r, err);
	if (r.digest[0] && strcmp(r.digest + (strncmp(r.digest, "sha256:", 7) ? 0 : 7), b->hex) != 0)
		return strata_error_set(err, 0, "%s: the registry says it stored %s", what, r.digest);
	return 0;
}

static int upload_blob(client *c, blob *b, strata_error *err)
{
	cleanup_free char *what = strata_xasprintf("blob sha256:%s", b->hex);
	cleanup_free char *head = strata_xasprintf("%s/blobs/sha256:%s", c->d->base, b->hex);
	response r;
	if (call(c, what, "HEAD", head, NULL, NULL, 0, NULL, &r, err) < 0)
		return -1;
	if (r.status == 200) {
		b->action = "exists";
		return 0;
	}
	if (r.status != 404)
		return http_error(what, &r, err);
	if (check_blob(b, c->o->cancel, err) < 0)
		return -1;
	cleanup_free char *post = NULL;
	if (c->o->mount_from) {
		char *from = curl_easy_escape(c->h, c->o->mount_from, 0);
		post = strata_xasprintf("%s/blobs/uploads/?mount=sha256:%s&from=%s", c->d->base, b->hex, from);
		curl_free(from);
	} else {
		post = strata_xasprintf("%s/blobs/uploads/", c->d->base);
	}
	if (call(c, what, "POST", post, NULL, NULL, 0, NULL, &r, err) < 0)
		return -1;
	if (r.status == 201) {
		b->action = "mounted";
		return 0;
	}
	if (r.status != 202 || !r.location[0])
		return http_error(what, &r, err);
	cleanup_free char *loc = strata_xstrdup(r.location);
	upload body = {.fd = b->fd, .off = b->off, .left = b->size, .cancel = c->o->cancel};
	if (b->size <= MONOLITHIC) {
		if (finish_upload(c, b, loc, &body, b->size, err) < 0)
			return -1;
	} else {
		/* A chunked session: PATCH each chunk to the latest Location. */
		for (uint64_t off = 0; off < b->size;) {
			uint64_t n = b->size - off > CHUNK ? CHUNK : b->size - off;
			char range[64];
			snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)off, (unsigned long long)(off + n - 1));
			upload part = {.fd = b->fd, .off = b->off + off, .left = n, .cancel = c->o->cancel};
			cleanup_free char *url = absolute(c, loc);
			if (call(c, what, "PATCH", url, "application/octet-stream", &part, n, range, &r, err) < 0)
				return -1;
			if (r.status != 202)
				return http_error(what, &r, err);
			if (r.location[0]) {
				free(loc);
				loc = strata_xstrdup(r.location);
			}
			off += n;
		}
		if (finish_upload(c, b, loc, NULL, 0, err) < 0)
			return -1;
	}
	b->action = "uploaded";
	return 0;
}

/* ---------- the jobs ---------- */

typedef struct pusher {
	const strata_push_options *o;
	const dest *d;
	const char *creds;
	token *tok;
	image *im;
	atomic_size_t next;
	atomic_bool failed;
	atomic_ullong sent;
} pusher;

static void *worker(void *arg)
{
	pusher *p = arg;
	client c = {.h = curl_easy_init(), .o = p->o, .d = p->d, .creds = p->creds, .tok = p->tok};
	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		/* The config goes last: it is the last blob of the list. */
		if (i >= p->im->nblobs - 1 || atomic_load(&p->failed))
			break;
		blob *b = &p->im->blobs[i];
		if (upload_blob(&c, b, &b->err) < 0)
			atomic_store(&p->failed, true);
		else if (!strcmp(b->action, "uploaded"))
			atomic_fetch_add(&p->sent, b->size);
	}
	curl_easy_cleanup(c.h);
	return NULL;
}

static int put_manifest(client *c, const image *im, const char *ref, strata_error *err)
{
	cleanup_free char *what = strata_xasprintf("manifest %s", ref);
	cleanup_free char *url = strata_xasprintf("%s/manifests/%s", c->d->base, ref);
	upload body = {.mem = im->manifest, .memlen = im->manifest_len, .cancel = c->o->cancel};
	response r;
	if (call(c, what, "PUT", url, im->manifest_type, &body, im->manifest_len, NULL, &r, err) < 0)
		return -1;
	if (r.status != 201)
		return http_error(what, &r, err);
	if (r.digest[0] && strcmp(r.digest + (strncmp(r.digest, "sha256:", 7) ? 0 : 7), im->manifest_hex) != 0)
		return strata_error_set(err, 0, "%s: the registry says its digest is %s, not sha256:%s", what, r.digest,
					im->manifest_hex);
	return 0;
}

static json_t *summary(const strata_push_options *o, const image *im, const dest *d, uint64_t sent)
{
	json_t *s = json_object(), *blobs = json_array();
	json_object_set_new(s, "destination", json_string(o->dest));
	json_object_set_new(s, "repository", json_string(d->repo));
	json_object_set_new(s, "manifest", json_sprintf("sha256:%s", im->manifest_hex));
	size_t counts[3] = {0};
	for (size_t i = 0; i < im->nblobs; i++) {
		const blob *b = &im->blobs[i];
		json_array_append_new(blobs, json_pack("{s:s, s:s, s:I, s:s}", "digest", "", "kind", b->kind, "size",
						       (json_int_t)b->size, "action", b->action ? b->action : "none"));
		json_object_set_new(json_array_get(blobs, i), "digest", json_sprintf("sha256:%s", b->hex));
		counts[0] += b->action && !strcmp(b->action, "exists");
		counts[1] += b->action && !strcmp(b->action, "mounted");
		counts[2] += b->action && !strcmp(b->action, "uploaded");
	}
	json_object_set_new(s, "blobs", blobs);
	json_object_set_new(s, "exists", json_integer((json_int_t)counts[0]));
	json_object_set_new(s, "mounted", json_integer((json_int_t)counts[1]));
	json_object_set_new(s, "uploaded", json_integer((json_int_t)counts[2]));
	json_object_set_new(s, "bytes_sent", json_integer((json_int_t)sent));
	return s;
}

/* localhost and 127.0.0.1 may serve TLS or plain HTTP (as Docker treats
 * them): TLS when the registry speaks it, else HTTP. A certificate that
 * fails verification keeps TLS, so that it is reported, not bypassed. */
static void choose_scheme(client *c, dest *d)
{
	cleanup_free char *url = strata_xasprintf("https://%s/v2/", d->host);
	response r;
	CURLcode cc = request(c, "GET", url, NULL, NULL, 0, NULL, false, &r);
	if (cc == CURLE_OK || cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
	    cc == CURLE_SSL_CERTPROBLEM)
		return;
	char *http = strata_xasprintf("http%s", d->base + 5);
	free(d->base);
	d->base = http;
}

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int strata_push(const strata_push_options *o, json_t **summary_ret, strata_error *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, curl_init);
	image im;
	dest d;
	int r = dest_parse(o->dest, o->plain_http, &d, err);
	if (r == 0)
		r = image_open(o->source, &im, err);
	else
		memset(&im, 0, sizeof im), im.blobs_fd = im.archive_fd = -1;
	cleanup_free char *what = strata_xasprintf("push %s", o->dest);
	cleanup_free char *found = NULL, *found_in = NULL;
	if (r == 0 && o->creds == NULL && !o->no_auth_files)
		r = strata_registry_auth_find(d.host, d.repo, o->auth_file, o->cancel, &found, &found_in, err);
	token tok = {.fetch = PTHREAD_MUTEX_INITIALIZER, .lock = PTHREAD_MUTEX_INITIALIZER};
	if (r == 0 && !o->plain_http && is_local(d.host)) {
		client probe = {.h = curl_easy_init(), .o = o, .d = &d, .tok = &tok};
		choose_scheme(&probe, &d);
		curl_easy_cleanup(probe.h);
	}
	if (r == 0) {
		pusher p = {.o = o, .d = &d, .im = &im, .creds = o->creds ? o->creds : found, .tok = &tok};
		int jobs = o->jobs > 0 ? o->jobs : 4;
		pthread_t *t = strata_xcalloc((size_t)jobs, sizeof *t);
		int started = 0;
		for (; started < jobs; started++)
			if (pthread_create(&t[started], NULL, worker, &p) != 0)
				break;
		if (started == 0)
			worker(&p);
		for (int i = 0; i < started; i++)
			pthread_join(t[i], NULL);
		free(t);
		for (size_t i = 0; i + 1 < im.nblobs && r == 0; i++)
			if (im.blobs[i].err.msg) {
				strata_error_move(err, &im.blobs[i].err);
				r = -1;
			}
		client c = {.h = curl_easy_init(), .o = o, .d = &d, .creds = p.creds, .tok = &tok};
		blob *cfg = &im.blobs[im.nblobs - 1];
		if (r == 0 && (r = upload_blob(&c, cfg, err)) == 0 && !strcmp(cfg->action, "uploaded"))
			atomic_fetch_add(&p.sent, cfg->size);
		cleanup_free char *by_digest = strata_xasprintf("sha256:%s", im.manifest_hex);
		if (r == 0)
			r = put_manifest(&c, &im, by_digest, err);
		if (r == 0 && d.tag)
			r = put_manifest(&c, &im, d.tag, err);
		curl_easy_cleanup(c.h);
		if (r == 0) {
			*summary_ret = summary(o, &im, &d, atomic_load(&p.sent));
			json_object_set_new(*summary_ret, "credentials",
					    json_string(o->creds ? "given" : found_in ? found_in : "none"));
		}
	}
	free(tok.header);
	if (r < 0)
		strata_error_wrap(err, "%s", what);
	image_fini(&im);
	dest_fini(&d);
	return r;
}
