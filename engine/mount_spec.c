#define _GNU_SOURCE
#include "mount_spec.h"
#include "alloc.h"
#include "json_check.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Mount options runc understands as flags (and their recursive r-forms);
 * anything else must be key=value with a plain value. */
static bool known_mount_flag(const char *o)
{
	static const char *const flags[] = {
		"acl", "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "idmap", "iversion",
		"lazytime", "loud", "mand", "noacl", "noatime", "nodev", "nodiratime", "noexec", "noiversion",
		"nolazytime", "nomand", "norelatime", "nostrictatime", "nosuid", "nosymfollow", "private", "rbind",
		"relatime", "remount", "ridmap", "ro", "rprivate", "rshared", "rslave", "runbindable", "rw", "shared",
		"silent", "slave", "strictatime", "suid", "symfollow", "sync", "tmpcopyup", "unbindable"};
	if (o[0] == 'r' && o[1] != '\0')
		for (size_t i = 0; i < STRATA_ARRAY_LEN(flags); i++)
			if (strcmp(o + 1, flags[i]) == 0)
				return true; /* rro, rnosuid, ...: recursive */
	for (size_t i = 0; i < STRATA_ARRAY_LEN(flags); i++)
		if (strcmp(o, flags[i]) == 0)
			return true;
	return false;
}

static bool plain_chars(const char *s, const char *extra)
{
	if (*s == '\0')
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr(extra, *p)))
			return false;
	return true;
}

static int check_mount_option(const char *spec, const char *o, strata_error *err)
{
	const char *eq = strchr(o, '=');
	if (eq == NULL) {
		if (known_mount_flag(o))
			return 0;
		return strata_error_set(err, 0, "mount '%s': unknown mount option '%s'", spec, o);
	}
	cleanup_free char *key = strata_xstrndup(o, (size_t)(eq - o));
	if (!plain_chars(key, "_") || !(key[0] >= 'a' && key[0] <= 'z') || (eq[1] != '\0' && !plain_chars(eq + 1, "._:+/@%-")))
		return strata_error_set(err, 0, "mount '%s': option '%s' is not a flag or key=value of plain characters",
					spec, o);
	return 0;
}

int strata_mount_spec_destination(const char *dest, char **out, strata_error *err)
{
	if (dest == NULL || dest[0] != '/')
		return strata_error_set(err, 0, "mount destination '%s' must be an absolute path", dest ? dest : "");
	size_t n = strlen(dest);
	char *res = strata_xmalloc(n + 2);
	size_t k = 0;
	for (const char *p = dest; *p;) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		if (len == 0 || (len == 1 && p[0] == '.')) {
			p = end;
			continue;
		}
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			free(res);
			return strata_error_set(err, 0, "mount destination '%s' must not contain '..'", dest);
		}
		res[k++] = '/';
		memcpy(res + k, p, len);
		k += len;
		p = end;
	}
	res[k] = '\0';
	if (k == 0) {
		free(res);
		return strata_error_set(err, 0, "mount destination '%s' is the container's root; mount below it", dest);
	}
	*out = res;
	return 0;
}

int strata_mount_spec_parse(const char *spec, json_t **mount_ret, strata_error *err)
{
	cleanup_free char *copy = strata_xstrdup(spec);
	const char *type = NULL, *source = NULL, *dest = NULL;
	json_t *opts = json_array();
	bool in_options = false;
	char *save = NULL;
	int r = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok && r == 0; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		const char *key = tok, *val = eq ? eq + 1 : NULL;
		if (eq)
			*eq = '\0';
		bool is_key = val != NULL && (!strcmp(key, "type") || !strcmp(key, "source") || !strcmp(key, "src") ||
					      !strcmp(key, "destination") || !strcmp(key, "dst") ||
					      !strcmp(key, "target") || !strcmp(key, "options"));
		if (!is_key) {
			if (eq)
				*eq = '=';
			if (!in_options) {
				r = val ? strata_error_set(err, 0, "mount '%s': unknown key '%s' (type, source, destination, options)",
							    spec, key)
					: strata_error_set(err, 0, "mount '%s': '%s' is not key=value", spec, tok);
				break;
			}
			if ((r = check_mount_option(spec, tok, err)) == 0)
				json_array_append_new(opts, json_string(tok));
			continue;
		}
		in_options = false;
		const char **slot = !strcmp(key, "type") ? &type
				    : (!strcmp(key, "source") || !strcmp(key, "src")) ? &source
				    : !strcmp(key, "options") ? NULL
							      : &dest;
		if (slot == NULL) {
			in_options = true;
			if (*val && (r = check_mount_option(spec, val, err)) == 0)
				json_array_append_new(opts, json_string(val));
			continue;
		}
		if (*slot != NULL)
			r = strata_error_set(err, 0, "mount '%s': '%s' is given twice", spec, key);
		*slot = val;
	}
	cleanup_free char *ndest = NULL;
	if (r == 0)
		r = strata_mount_spec_destination(dest, &ndest, err) < 0 ? strata_error_wrap(err, "mount '%s'", spec) : 0;
	if (r == 0)
		r = strata_json_check_text(ndest, true, "mount destination", err);
	if (r == 0 && source != NULL)
		r = strata_json_check_text(source, true, "mount source", err);
	if (r == 0 && type == NULL)
		type = "bind";
	if (r == 0 && !plain_chars(type, "_-"))
		r = strata_error_set(err, 0, "mount '%s': type '%s' is not a filesystem type name", spec, type);
	if (r == 0 && !strcmp(type, "bind")) {
		struct stat st;
		if (source == NULL || source[0] != '/')
			r = strata_error_set(err, 0, "mount '%s': a bind mount needs an absolute source", spec);
		else if (stat(source, &st) < 0)
			r = strata_error_set(err, errno, "mount '%s': source '%s'", spec, source);
		else {
			/* runc needs bind or rbind among the options to bind. */
			bool has = false;
			size_t i;
			json_t *v;
			json_array_foreach(opts, i, v) has |= !strcmp(json_string_value(v), "bind") ||
							!strcmp(json_string_value(v), "rbind");
			if (!has)
				json_array_insert_new(opts, 0, json_string("rbind"));
		}
	} else if (r == 0 && source != NULL && !plain_chars(source, "._:+/@%-")) {
		r = strata_error_set(err, 0, "mount '%s': source '%s' is not a plain name or path", spec, source);
	}
	if (r < 0) {
		json_decref(opts);
		return r;
	}
	json_t *m = json_object();
	json_object_set_new(m, "destination", json_string(ndest));
	json_object_set_new(m, "type", json_string(type));
	json_object_set_new(m, "source", json_string(source ? source : type));
	json_object_set_new(m, "options", opts);
	*mount_ret = m;
	return 0;
}
