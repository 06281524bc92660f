#define _GNU_SOURCE
#include "registry_auth.h"
#include "alloc.h"
#include "file.h"
#include "json_check.h"
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_AUTH_FILE (1u << 20)
#define HUB "docker.io"

/* A registry key as the files write it, reduced to host[/path]: no
 * scheme, no trailing "/", "/v1/" or "/v2/"; Docker Hub's aliases are
 * HUB. The result is a new string. */
static char *normalize(const char *key)
{
	if (!strncmp(key, "https://", 8))
		key += 8;
	else if (!strncmp(key, "http://", 7))
		key += 7;
	char *k = strata_xstrdup(key);
	size_t n = strlen(k);
	while (n && k[n - 1] == '/')
		k[--n] = '\0';
	if (n >= 3 && (!strcmp(k + n - 3, "/v1") || !strcmp(k + n - 3, "/v2")))
		k[n - 3] = '\0';
	static const char *const hub[] = {"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"};
	for (size_t i = 0; i < sizeof hub / sizeof *hub; i++) {
		size_t l = strlen(hub[i]);
		if (!strncmp(k, hub[i], l) && (k[l] == '\0' || k[l] == '/')) {
			char *r = strata_xasprintf("%s%s", HUB, k + l);
			free(k);
			return r;
		}
	}
	return k;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 (padding optional) into a new string, or NULL. */
static char *b64_decode(const char *s)
{
	size_t n = strlen(s);
	char *out = strata_xmalloc(n / 4 * 3 + 4);
	size_t k = 0;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=')
			break;
		int v = b64_value((unsigned char)s[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[k++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[k] = '\0';
	if (memchr(out, '\0', k)) {
		free(out);
		return NULL;
	}
	return out;
}

/* The "auths" entry for host/repo: the longest key that is host/repo or a
 * prefix of it ending at a '/', or host itself. */
static json_t *auths_entry(json_t *auths, const char *host, const char *repo)
{
	cleanup_free char *full = strata_xasprintf("%s/%s", host, repo);
	json_t *best = NULL;
	size_t best_len = 0;
	const char *key;
	json_t *v;
	json_object_foreach(auths, key, v) {
		cleanup_free char *k = normalize(key);
		size_t l = strlen(k);
		bool match = !strncmp(full, k, l) && (full[l] == '\0' || full[l] == '/');
		if (match && json_is_object(v) && l > best_len) {
			best = v;
			best_len = l;
		}
	}
	return best;
}

/* USER:PASS of an auths entry, or NULL when it holds none (an entry left
 * by a credential store is an empty object). */
static int entry_creds(json_t *e, const char *file, char **ret, strata_error *err)
{
	const char *auth = json_string_value(json_object_get(e, "auth"));
	const char *user = json_string_value(json_object_get(e, "username"));
	const char *pass = json_string_value(json_object_get(e, "password"));
	*ret = NULL;
	if (auth && *auth) {
		char *d = b64_decode(auth);
		if (d == NULL || !strchr(d, ':')) {
			free(d);
			return strata_error_set(err, 0, "%s: an \"auth\" entry is not base64 of USER:PASS", file);
		}
		*ret = d;
	} else if (user && pass && *user) {
		*ret = strata_xasprintf("%s:%s", user, pass);
	} else if (json_string_value(json_object_get(e, "identitytoken"))) {
		return strata_error_set(err, 0, "%s: identity tokens are not supported; log in with a password or token",
					file);
	}
	return 0;
}

static bool plain_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_' || *s == '.'))
			return false;
	return true;
}

/* docker-credential-NAME get, the server on its standard input. */
static int run_helper(const char *name, const char *host, const strata_cancel *cancel, char **ret,
		      strata_error *err)
{
	*ret = NULL;
	if (!plain_name(name))
		return strata_error_set(err, 0, "credential helper name '%s' is not a plain name", name);
	cleanup_free char *prog = strata_xasprintf("docker-credential-%s", name);
	cleanup_free char *path = strata_spawn_find(prog);
	if (path == NULL)
		return strata_error_set(err, 0, "credential helper %s is not on $PATH", prog);
	cleanup_close int in = strata_file_tmpfile(err);
	cleanup_close int out = in < 0 ? -1 : strata_file_tmpfile(err);
	if (out < 0)
		return -1;
	/* Docker Hub's helpers are keyed by the v1 index URL, as docker login
	 * stores it. */
	const char *server = !strcmp(host, HUB) ? "https://index.docker.io/v1/" : host;
	if (strata_file_write_all(in, server, strlen(server)) < 0 || lseek(in, 0, SEEK_SET) < 0)
		return strata_error_set(err, errno, "cannot feed credential helper %s", prog);
	char *argv[] = {path, "get", NULL};
	strata_spawn_options so = {.in_fd = in, .out_fd = out, .what = prog, .cancel = cancel};
	strata_error run_err = STRATA_ERROR_INIT;
	int r = strata_spawn_run(argv, &so, &run_err);
	char buf[65536];
	ssize_t n = pread(out, buf, sizeof buf - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	if (r < 0) {
		bool not_found = strstr(buf, "credentials not found") != NULL;
		if (not_found) {
			strata_error_clear(&run_err);
			return 0;
		}
		/* Its output is not quoted: it may hold a secret. */
		strata_error_move(err, &run_err);
		return -1;
	}
	cleanup_json json_t *j = json_loads(buf, 0, NULL);
	const char *user = json_string_value(json_object_get(j, "Username"));
	const char *secret = json_string_value(json_object_get(j, "Secret"));
	if (user == NULL || secret == NULL)
		return strata_error_set(err, 0, "credential helper %s: its answer is not {\"Username\", \"Secret\"}", prog);
	if (!strcmp(user, "<token>"))
		return strata_error_set(err, 0, "credential helper %s: identity tokens are not supported", prog);
	*ret = strata_xasprintf("%s:%s", user, secret);
	return 0;
}

/* One file: 0 with *ret set or NULL (no match, or no such file). */
static int from_file(const char *file, const char *host, const char *repo, const strata_cancel *cancel, char **ret,
		     char **source_ret, strata_error *err)
{
	*ret = NULL;
	cleanup_free char *text = NULL;
	size_t len;
	struct stat st;
	if (stat(file, &st) < 0 && errno == ENOENT)
		return 0;
	if (strata_file_read_all(AT_FDCWD, file, 0, MAX_AUTH_FILE, "auth file", &text, &len, err) < 0)
		return -1;
	cleanup_json json_t *j = json_loadb(text, len, 0, NULL);
	if (!json_is_object(j))
		return strata_error_set(err, 0, "auth file %s is not a JSON object", file);
	const char *key;
	json_t *v;
	json_object_foreach(json_object_get(j, "credHelpers"), key, v) {
		cleanup_free char *k = normalize(key);
		if (!strcmp(k, host) && json_is_string(v)) {
			if (run_helper(json_string_value(v), host, cancel, ret, err) < 0)
				return strata_error_wrap(err, "%s", file);
			if (*ret && source_ret)
				*source_ret = strata_xasprintf("%s (docker-credential-%s)", file, json_string_value(v));
			return 0;
		}
	}
	json_t *e = auths_entry(json_object_get(j, "auths"), host, repo);
	if (e && entry_creds(e, file, ret, err) < 0)
		return -1;
	if (*ret) {
		if (source_ret)
			*source_ret = strata_xstrdup(file);
		return 0;
	}
	const char *store = json_string_value(json_object_get(j, "credsStore"));
	if (store) {
		if (run_helper(store, host, cancel, ret, err) < 0)
			return strata_error_wrap(err, "%s", file);
		if (*ret && source_ret)
			*source_ret = strata_xasprintf("%s (docker-credential-%s)", file, store);
	}
	return 0;
}

int strata_registry_auth_find(const char *host_in, const char *repo, const char *auth_file, const strata_cancel *cancel,
			      char **userpass_ret, char **source_ret, strata_error *err)
{
	*userpass_ret = NULL;
	if (source_ret)
		*source_ret = NULL;
	cleanup_free char *host = normalize(host_in);
	const char *home = getenv("HOME");
	char *files[4] = {0};
	size_t n = 0;
	const char *env = auth_file ? auth_file : getenv("REGISTRY_AUTH_FILE"), *xdg_run = getenv("XDG_RUNTIME_DIR");
	const char *xdg_conf = getenv("XDG_CONFIG_HOME"), *docker = getenv("DOCKER_CONFIG");
	if (env && *env) {
		files[n++] = strata_xstrdup(env);
	} else {
		if (xdg_run && *xdg_run)
			files[n++] = strata_xasprintf("%s/containers/auth.json", xdg_run);
		if (xdg_conf && *xdg_conf)
			files[n++] = strata_xasprintf("%s/containers/auth.json", xdg_conf);
		else if (home)
			files[n++] = strata_xasprintf("%s/.config/containers/auth.json", home);
	}
	if (docker && *docker)
		files[n++] = strata_xasprintf("%s/config.json", docker);
	else if (home)
		files[n++] = strata_xasprintf("%s/.docker/config.json", home);
	int r = 0;
	for (size_t i = 0; i < n && r == 0 && *userpass_ret == NULL; i++)
		r = from_file(files[i], host, repo, cancel, userpass_ret, source_ret, err);
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	return r;
}
