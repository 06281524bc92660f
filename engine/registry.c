#define _GNU_SOURCE
#include "registry.h"
#include "alloc.h"
#include "json_check.h"
#include "registry_auth.h"
#include "sha256.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (16u << 20)      /* PATCH size of a chunked upload */
#define MONOLITHIC (32u << 20) /* blobs up to this go in one PUT */
#define RETRIES 5
#define READ_BUF (1u << 20)

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

/* A certificate directory's files that are readable (found once). */
typedef struct tls_files {
	char *ca, *cert, *key; /* NULL: none */
} tls_files;

struct strata_registry {
	const strata_push_options *o;
	dest d;
	tls_files tls;
	char *found, *found_in; /* credentials from an auth file, and which */
	const char *creds;      /* USER:PASS or NULL */
	token tok;
};

/* A connection: its own curl handle; the registry's fields every request
 * uses. */
typedef struct strata_registry_conn {
	CURL *h;
	const strata_push_options *o;
	const dest *d;
	const char *creds;
	token *tok;
	const tls_files *tls;
	const char *accept; /* an Accept header for the next requests, or NULL */
	bool probe;         /* only asking whether TLS is spoken: no certificate check */
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
	if (c->o->tls_verify_off || c->probe) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->tls->ca && !c->probe)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->tls->ca);
	if (c->tls->cert && !c->probe) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->tls->cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->tls->key);
	}
	struct curl_slist *hdr = NULL;
	cleanup_free char *ct = content_type ? strata_xasprintf("Content-Type: %s", content_type) : NULL;
	cleanup_free char *cr = range ? strata_xasprintf("Content-Range: %s", range) : NULL;
	if (ct)
		hdr = curl_slist_append(hdr, ct);
	if (cr)
		hdr = curl_slist_append(hdr, cr);
	if (c->accept)
		hdr = curl_slist_append(hdr, c->accept);
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
static int check_blob(const strata_registry_blob *b, const strata_cancel *cancel, strata_error *err)
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

static int finish_upload(client *c, const strata_registry_blob *b, const char *loc, upload *body, uint64_t len, strata_error *err)
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

int strata_registry_push_blob(client *c, const strata_registry_blob *b, const char **action_ret, strata_error *err)
{
	cleanup_free char *what = strata_xasprintf("blob sha256:%s", b->hex);
	cleanup_free char *head = strata_xasprintf("%s/blobs/sha256:%s", c->d->base, b->hex);
	response r;
	if (call(c, what, "HEAD", head, NULL, NULL, 0, NULL, &r, err) < 0)
		return -1;
	if (r.status == 200) {
		*action_ret = "exists";
		return 0;
	}
	if (r.status != 404)
		return http_error(what, &r, err);
	if (!b->hashed && check_blob(b, c->o->cancel, err) < 0)
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
		*action_ret = "mounted";
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
	*action_ret = "uploaded";
	return 0;
}

int strata_registry_put_manifest(client *c, const char *ref, const char *media_type, const char *bytes, size_t len,
				 const char hex[65], strata_error *err)
{
	cleanup_free char *what = strata_xasprintf("manifest %s", ref);
	cleanup_free char *url = strata_xasprintf("%s/manifests/%s", c->d->base, ref);
	upload body = {.mem = bytes, .memlen = len, .cancel = c->o->cancel};
	response r;
	if (call(c, what, "PUT", url, media_type, &body, len, NULL, &r, err) < 0)
		return -1;
	if (r.status != 201)
		return http_error(what, &r, err);
	if (r.digest[0] && strcmp(r.digest + (strncmp(r.digest, "sha256:", 7) ? 0 : 7), hex) != 0)
		return strata_error_set(err, 0, "%s: the registry says its digest is %s, not sha256:%s", what, r.digest,
					hex);
	return 0;
}

int strata_registry_manifest_digest(client *c, const char *ref, char hex_ret[65], strata_error *err)
{
	cleanup_free char *what = strata_xasprintf("manifest %s", ref);
	cleanup_free char *url = strata_xasprintf("%s/manifests/%s", c->d->base, ref);
	/* Without it a registry may answer for another form of the manifest. */
	c->accept = "Accept: application/vnd.oci.image.manifest.v1+json, "
		    "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json";
	response r;
	int rc = call(c, what, "HEAD", url, NULL, NULL, 0, NULL, &r, err);
	c->accept = NULL;
	if (rc < 0)
		return -1;
	if (r.status == 404)
		return 0;
	if (r.status != 200)
		return http_error(what, &r, err);
	const char *d = r.digest + (strncmp(r.digest, "sha256:", 7) ? 0 : 7);
	if (strlen(d) != 64 || strspn(d, "0123456789abcdef") != 64)
		return 0; /* no digest said: as if absent (the push then says it) */
	memcpy(hex_ret, d, 65);
	return 1;
}

/* localhost and 127.0.0.1 may serve TLS or plain HTTP (as Docker treats
 * them): TLS when the registry speaks it, else HTTP. The probe only asks
 * whether it speaks TLS (no certificate check, so no CA store to load: a
 * third of a re-push's time); every real request verifies, so an untrusted
 * certificate is reported, not bypassed. */
static void choose_scheme(client *c, dest *d)
{
	cleanup_free char *url = strata_xasprintf("https://%s/v2/", d->host);
	response r;
	c->probe = true;
	CURLcode cc = request(c, "GET", url, NULL, NULL, 0, NULL, false, &r);
	c->probe = false;
	if (cc == CURLE_OK)
		return;
	char *http = strata_xasprintf("http%s", d->base + 5);
	free(d->base);
	d->base = http;
}

/* Docker's certs.d layout: ca.crt, and client.cert with client.key. */
static void tls_find(const char *dir, tls_files *t)
{
	if (dir == NULL)
		return;
	t->ca = strata_xasprintf("%s/ca.crt", dir);
	t->cert = strata_xasprintf("%s/client.cert", dir);
	t->key = strata_xasprintf("%s/client.key", dir);
	if (access(t->ca, R_OK) < 0)
		free(t->ca), t->ca = NULL;
	if (access(t->cert, R_OK) < 0 || access(t->key, R_OK) < 0) {
		free(t->cert), t->cert = NULL;
		free(t->key), t->key = NULL;
	}
}

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int strata_registry_open(const strata_push_options *o, strata_registry **out, strata_error *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, curl_init);
	strata_registry *r = strata_xcalloc(1, sizeof *r);
	r->o = o;
	pthread_mutex_init(&r->tok.fetch, NULL);
	pthread_mutex_init(&r->tok.lock, NULL);
	int rc = dest_parse(o->dest, o->plain_http, &r->d, err);
	tls_find(o->cert_dir, &r->tls);
	if (rc == 0 && o->creds == NULL && !o->no_auth_files)
		rc = strata_registry_auth_find(r->d.host, r->d.repo, o->auth_file, o->cancel, &r->found, &r->found_in, err);
	r->creds = o->creds ? o->creds : r->found;
	if (rc == 0 && !o->plain_http && is_local(r->d.host)) {
		client *probe = strata_registry_conn_create(r);
		choose_scheme(probe, &r->d);
		strata_registry_conn_free(probe);
	}
	if (rc < 0) {
		strata_registry_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void strata_registry_free(strata_registry *r)
{
	if (r == NULL)
		return;
	dest_fini(&r->d);
	free(r->tls.ca);
	free(r->tls.cert);
	free(r->tls.key);
	free(r->found);
	free(r->found_in);
	free(r->tok.header);
	pthread_mutex_destroy(&r->tok.fetch);
	pthread_mutex_destroy(&r->tok.lock);
	free(r);
}

const char *strata_registry_repo(const strata_registry *r)
{
	return r->d.repo;
}

const char *strata_registry_tag(const strata_registry *r)
{
	return r->d.tag;
}

const char *strata_registry_credentials(const strata_registry *r)
{
	return r->o->creds ? "given" : r->found_in ? r->found_in : "none";
}

strata_registry_conn *strata_registry_conn_create(strata_registry *r)
{
	client *c = strata_xcalloc(1, sizeof *c);
	*c = (client){.h = curl_easy_init(), .o = r->o, .d = &r->d, .creds = r->creds, .tok = &r->tok, .tls = &r->tls};
	if (c->h == NULL)
		strata_oom();
	return c;
}

void strata_registry_conn_free(strata_registry_conn *c)
{
	if (c == NULL)
		return;
	curl_easy_cleanup(c->h);
	free(c);
}
