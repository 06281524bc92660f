#define _GNU_SOURCE
#include "image_config.h"
#include "file.h"
#include "json_check.h"
#include "alloc.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The fields of the runtime config and the types clients decode them as
 * (Docker's container.Config, the OCI image spec's ImageConfig: Go structs,
 * which match keys case-insensitively and refuse the whole image when a
 * value has another type). Other keys are kept as they are: clients ignore
 * them. */
typedef enum field_kind {
	F_STRING,
	F_PATH,          /* a string: empty or an absolute path (WorkingDir) */
	F_SIGNAL,        /* a string: empty or a signal (StopSignal) */
	F_USER,          /* a string: USER[:GROUP], numeric ids in range (User) */
	F_BOOL,
	F_INTEGER,
	F_STRINGS,       /* an array of strings */
	F_ENV,           /* an array of KEY=VALUE strings */
	F_VOLUMES,       /* an object of {} keyed by a directory other than / */
	F_PORTS,         /* an object of {} keyed PORT[/PROTO] (ExposedPorts) */
	F_STRING_MAP,    /* an object of strings (Labels) */
	F_HEALTHCHECK,   /* Docker's HealthConfig */
} field_kind;

typedef struct field {
	const char *key;
	field_kind kind;
} field;

static const field config_fields[] = {
	{"Cmd", F_STRINGS},          {"Entrypoint", F_STRINGS},   {"Shell", F_STRINGS},
	{"OnBuild", F_STRINGS},      {"Env", F_ENV},              {"ExposedPorts", F_PORTS},
	{"Volumes", F_VOLUMES},      {"Labels", F_STRING_MAP},    {"WorkingDir", F_PATH},
	{"User", F_USER},            {"StopSignal", F_SIGNAL},    {"Hostname", F_STRING},
	{"Domainname", F_STRING},    {"Image", F_STRING},         {"MacAddress", F_STRING},
	{"ArgsEscaped", F_BOOL},     {"AttachStdin", F_BOOL},     {"AttachStdout", F_BOOL},
	{"AttachStderr", F_BOOL},    {"Tty", F_BOOL},             {"OpenStdin", F_BOOL},
	{"StdinOnce", F_BOOL},       {"NetworkDisabled", F_BOOL}, {"StopTimeout", F_INTEGER},
	{"Memory", F_INTEGER},       {"MemorySwap", F_INTEGER},   {"CpuShares", F_INTEGER},
	{"Healthcheck", F_HEALTHCHECK},
};

static const field healthcheck_fields[] = {
	{"Test", F_STRINGS},        {"Interval", F_INTEGER}, {"Timeout", F_INTEGER},
	{"StartPeriod", F_INTEGER}, {"StartInterval", F_INTEGER}, {"Retries", F_INTEGER},
};

static const char *kind_text(field_kind k)
{
	switch (k) {
	case F_STRING:
	case F_PATH:
	case F_SIGNAL:
	case F_USER:
		return "a string";
	case F_BOOL:
		return "true or false";
	case F_INTEGER:
		return "an integer";
	case F_STRINGS:
	case F_ENV:
		return "an array of strings";
	default:
		return "an object";
	}
}

static int check_fields(json_t *obj, const field *fields, size_t nfields, const char *what, strata_error *err);

/* The value of the n decimal digits at s, or cap + 1 when it is larger:
 * the clients' parsers (Go's Atoi and ParseUint) refuse what does not fit
 * their type, and each field has its own range on top. */
static unsigned long long digits_value(const char *s, size_t n, unsigned long long cap)
{
	unsigned long long v = 0;
	for (size_t i = 0; i < n; i++) {
		assert(s[i] >= '0' && s[i] <= '9');
		v = v * 10 + (unsigned long long)(s[i] - '0');
		if (v > cap)
			return cap + 1;
	}
	return v;
}

/* A decimal port 1-65535 at *p, or 0; moves *p past its digits. */
static unsigned long long port_number(const char **p)
{
	size_t n = strspn(*p, "0123456789");
	unsigned long long port = digits_value(*p, n, 65535);
	*p += n;
	return port <= 65535 ? port : 0;
}

/* An ExposedPorts key as podman reads it to publish the ports (run -P:
 * "unable to convert image EXPOSE", "unrecognized protocol"; docker load
 * and run take any string): a port 1-65535 or a range of them in decimal,
 * then optionally /tcp, /udp or /sctp in any case (an empty one is tcp). */
static bool port_key_valid(const char *key)
{
	const char *p = key;
	unsigned long long first = port_number(&p);
	if (first == 0)
		return false;
	if (*p == '-') {
		p++;
		unsigned long long last = port_number(&p);
		if (last < first)
			return false;
	}
	if (*p == '\0' || strcmp(p, "/") == 0)
		return true;
	return strcasecmp(p, "/tcp") == 0 || strcasecmp(p, "/udp") == 0 || strcasecmp(p, "/sctp") == 0;
}

/* A stop signal as podman parses it when the container is made ("invalid
 * signal", "stop signal cannot be greater than 64"; docker parses it when
 * it stops the container): a decimal number other than 0 up to 64, or a
 * Linux signal's name in any case, with or without SIG. */
static bool signal_valid(const char *s)
{
	static const char *const names[] = {
		"ABRT", "ALRM", "BUS",  "CHLD", "CLD",  "CONT",   "FPE",  "HUP",  "ILL",  "INT",    "IO",
		"IOT",  "KILL", "PIPE", "POLL", "PROF", "PWR",    "QUIT", "SEGV", "STKFLT", "STOP", "SYS",
		"TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG",    "USR1", "USR2", "VTALRM", "WINCH", "XCPU",
		"XFSZ", "RTMIN", "RTMAX",
	};
	const char *digits = s + (*s == '+' || *s == '-');
	size_t n = strspn(digits, "0123456789");
	if (n > 0 && digits[n] == '\0') { /* Atoi's int64, then podman's 64 (negative ones pass) */
		unsigned long long v = digits_value(digits, n, INT64_MAX);
		return v != 0 && v <= INT64_MAX && (*s == '-' || v <= 64);
	}
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < STRATA_ARRAY_LEN(names); i++)
		if (strcasecmp(s, names[i]) == 0)
			return true;
	/* RTMIN+1 ... RTMIN+15, RTMAX-14 ... RTMAX-1, spelt so */
	bool plus = strncasecmp(s, "RTMIN+", 6) == 0, minus = strncasecmp(s, "RTMAX-", 6) == 0;
	if (!plus && !minus)
		return false;
	n = strspn(s + 6, "0123456789");
	if (n == 0 || s[6 + n] != '\0' || s[6] == '0')
		return false;
	return digits_value(s + 6, n, 15) <= (plus ? 15 : 14);
}

/* The n bytes at s, a user or a group: a number (as Go's Atoi reads one)
 * must be 0 to 2^31-1, which runc and podman check when they make the
 * container ("uids and gids must be in range 0-2147483647"); a name is
 * looked up in the image's passwd when it starts. */
static bool id_valid(const char *s, size_t n)
{
	size_t i = n > 0 && (s[0] == '+' || s[0] == '-');
	size_t digits = strspn(s + i, "0123456789");
	if (i == n || i + digits < n)
		return true; /* a name */
	unsigned long long v = digits_value(s + i, digits, INT32_MAX);
	return v <= INT32_MAX && (s[0] != '-' || v == 0);
}

static bool user_valid(const char *s)
{
	const char *colon = strchr(s, ':');
	size_t n = colon != NULL ? (size_t)(colon - s) : strlen(s);
	return id_valid(s, n) && (colon == NULL || id_valid(colon + 1, strlen(colon + 1)));
}

static bool kind_matches(json_t *v, field_kind kind)
{
	switch (kind) {
	case F_STRING:
	case F_PATH:
	case F_SIGNAL:
	case F_USER:
		return json_is_string(v);
	case F_BOOL:
		return json_is_boolean(v);
	case F_INTEGER:
		return json_is_integer(v);
	case F_STRINGS:
	case F_ENV:
		return json_is_array(v);
	default:
		return json_is_object(v);
	}
}

/* The items of an array of strings; for Env, each a NAME=VALUE with a
 * name (runc and podman refuse "=x"). */
static int check_strings(json_t *v, const char *key, field_kind kind, const char *what, strata_error *err)
{
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return strata_error_set(err, 0, "%s: '%s' must be an array of strings", what, key);
		const char *s = json_string_value(e);
		if (kind == F_ENV && strchr(s, '=') == NULL)
			return strata_error_set(err, 0, "%s: Env entry '%s' is not KEY=VALUE", what, s);
		if (kind == F_ENV && s[0] == '=')
			return strata_error_set(err, 0, "%s: Env entry '%s' has no name", what, s);
	}
	return 0;
}

/* The members of an object: {} or strings; ExposedPorts' keys ports;
 * Volumes' keys not the root (a volume there hides the image: runc fails
 * to start it under docker and podman; docker takes "" as the root). */
static int check_members(json_t *v, const char *key, field_kind kind, const char *what, strata_error *err)
{
	const char *k;
	json_t *e;
	json_object_foreach(v, k, e) {
		if (kind == F_STRING_MAP ? !json_is_string(e) : !json_is_object(e))
			return strata_error_set(err, 0, "%s: '%s' values must be %s", what, key,
						kind == F_STRING_MAP ? "strings" : "objects ({})");
		if (kind == F_VOLUMES && k[strspn(k, "/")] == '\0')
			return strata_error_set(err, 0, "%s: '%s' has '%s': a volume must be a directory below /",
						what, key, k);
		if (kind == F_PORTS && !port_key_valid(k))
			return strata_error_set(err, 0,
						"%s: '%s' has '%s': a port is PORT[-PORT][/tcp|/udp|/sctp] (PORT 1 to 65535)",
						what, key, k);
	}
	return 0;
}

/* v (not null) has the type of kind and a value clients can use; key as
 * the input spells it. */
static int check_field(json_t *v, const char *key, field_kind kind, const char *what, strata_error *err)
{
	if (!kind_matches(v, kind))
		return strata_error_set(err, 0, "%s: '%s' must be %s", what, key, kind_text(kind));
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	switch (kind) {
	case F_STRINGS:
	case F_ENV:
		return check_strings(v, key, kind, what, err);
	case F_VOLUMES:
	case F_PORTS:
	case F_STRING_MAP:
		return check_members(v, key, kind, what, err);
	case F_PATH: /* runc: "Cwd must be an absolute path" */
		if (s[0] != '\0' && s[0] != '/')
			return strata_error_set(err, 0, "%s: '%s' must be an absolute path, not '%s'", what, key, s);
		return 0;
	case F_USER:
		if (!user_valid(s))
			return strata_error_set(err, 0, "%s: '%s' has an id out of range (0 to 2147483647): '%s'",
						what, key, s);
		return 0;
	case F_SIGNAL:
		if (s[0] != '\0' && !signal_valid(s))
			return strata_error_set(err, 0,
						"%s: '%s' must be a signal (SIGTERM, TERM, RTMIN+3, or 1 to 64), not '%s'",
						what, key, s);
		return 0;
	case F_HEALTHCHECK: {
		cleanup_free char *hw = strata_xasprintf("%s: '%s'", what, key);
		return check_fields(v, healthcheck_fields, STRATA_ARRAY_LEN(healthcheck_fields), hw, err);
	}
	default:
		return 0;
	}
}

static int check_fields(json_t *obj, const field *fields, size_t nfields, const char *what, strata_error *err)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		if (json_is_null(v))
			continue;
		for (size_t i = 0; i < nfields; i++)
			if (strcasecmp(key, fields[i].key) == 0) {
				int r = check_field(v, key, fields[i].kind, what, err);
				if (r < 0)
					return r;
				break;
			}
	}
	return 0;
}

/* A runtime config (NULL or null: none) of the types clients decode. */
static int check_runtime(json_t *in, const char *what, strata_error *err)
{
	if (in == NULL || json_is_null(in))
		return 0;
	if (!json_is_object(in))
		return strata_error_set(err, 0, "%s: the image config must be a JSON object", what);
	return check_fields(in, config_fields, STRATA_ARRAY_LEN(config_fields), what, err);
}

/* A copy of the user's runtime config with validated types and sorted keys
 * (the bytes must not depend on the input file's key order). */
int strata_image_config_normalise(json_t *in, const char *what, json_t **out, strata_error *err)
{
	int r = check_runtime(in, what, err);
	if (r < 0)
		return r;
	if (in == NULL || json_is_null(in)) {
		*out = json_object();
		return 0;
	}
	size_t n = json_object_size(in);
	const char **keys = strata_xcalloc(n ? n : 1, sizeof *keys);
	size_t k = 0;
	const char *key;
	json_t *v;
	json_object_foreach(in, key, v)
		keys[k++] = key;
	qsort(keys, n, sizeof *keys, strata_file_cmp_names);
	json_t *o = json_object();
	for (size_t i = 0; i < n; i++)
		json_object_set(o, keys[i], json_object_get(in, keys[i]));
	*out = o;
	free(keys);
	return 0;
}


int strata_image_config_parse(const char *buf, size_t len, const char *what, json_t **out,
			      strata_error *err)
{
	json_error_t je;
	json_t *in = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (in == NULL)
		return strata_error_set(err, 0, "%s:%d:%d: invalid JSON: %s", what, je.line, je.column, je.text);
	int r = strata_image_config_normalise(in, what, out, err);
	json_decref(in);
	return r;
}

int strata_image_config_check_carried(json_t *cfg, strata_error *err)
{
	int r = check_runtime(json_object_get(cfg, "config"), "config: 'config'", err);
	if (r < 0)
		return r;
	size_t i;
	json_t *v;
	json_t *hist = json_object_get(cfg, "history");
	if (hist != NULL && !json_is_array(hist))
		return strata_error_set(err, 0, "config: 'history' must be an array");
	json_array_foreach(hist, i, v)
	{
		cleanup_free char *hw = strata_xasprintf("config: history[%zu]", i);
		if (!json_is_object(v))
			return strata_error_set(err, 0, "%s must be an object", hw);
		static const char *const hs[] = {"author", "created_by", "comment"};
		for (size_t k = 0; k < STRATA_ARRAY_LEN(hs); k++) {
			json_t *x = json_object_get(v, hs[k]);
			if (x != NULL && !json_is_string(x))
				return strata_error_set(err, 0, "%s: '%s' must be a string", hw, hs[k]);
		}
		json_t *el = json_object_get(v, "empty_layer");
		if (el != NULL && !json_is_boolean(el))
			return strata_error_set(err, 0, "%s: 'empty_layer' must be a boolean", hw);
		if ((r = strata_json_check_time(json_object_get(v, "created"), hw, "created", err)) < 0)
			return r;
	}
	return 0;
}

int strata_image_config_check_oci(json_t *cfg, size_t nlayers, strata_error *err)
{
	static const char *const w = "config";
	if (!json_is_object(cfg))
		return strata_error_set(err, 0, "config: must be a JSON object");
	json_t *arch = json_object_get(cfg, "architecture"), *os = json_object_get(cfg, "os");
	if (!json_is_string(arch) || !*json_string_value(arch) || !json_is_string(os) || !*json_string_value(os))
		return strata_error_set(err, 0, "config: 'architecture' and 'os' are required strings");
	static const char *const strs[] = {"author", "os.version", "variant"};
	for (size_t i = 0; i < STRATA_ARRAY_LEN(strs); i++) {
		json_t *v = json_object_get(cfg, strs[i]);
		if (v != NULL && !json_is_string(v))
			return strata_error_set(err, 0, "config: '%s' must be a string", strs[i]);
	}
	int r = strata_json_check_time(json_object_get(cfg, "created"), w, "created", err);
	if (r == 0)
		r = strata_json_check_string_array(json_object_get(cfg, "os.features"), w, "os.features", err);
	if (r < 0)
		return r;
	json_t *rootfs = json_object_get(cfg, "rootfs");
	json_t *diff_ids = json_object_get(rootfs, "diff_ids"), *type = json_object_get(rootfs, "type");
	if (!json_is_string(type) || strcmp(json_string_value(type), "layers") != 0 || !json_is_array(diff_ids))
		return strata_error_set(err, 0, "config: rootfs must be {\"type\": \"layers\", \"diff_ids\": [...]}");
	if (json_array_size(diff_ids) != nlayers)
		return strata_error_set(err, 0, "config has %zu diff_ids but the manifest %zu layers",
					json_array_size(diff_ids), nlayers);
	size_t i;
	json_t *v;
	json_array_foreach(diff_ids, i, v) if (!json_is_string(v) || !strata_json_check_is_sha256(json_string_value(v))) return strata_error_set(
		err, 0, "config: rootfs.diff_ids[%zu] must be sha256:<64 lowercase hex>", i);
	return strata_image_config_check_carried(cfg, err);
}

int strata_image_config_inherit(json_t *base, const char *what, json_t **config, strata_error *err)
{
	if (!json_is_object(base))
		return 0;
	static const char *const kept[] = {"User", "WorkingDir", "StopSignal", "Entrypoint", "Cmd",
					   "ExposedPorts", "Volumes", "Labels"};
	static const char *const merged[] = {"ExposedPorts", "Volumes", "Labels"};
	json_t *c = json_deep_copy(*config);
	bool new_entrypoint = json_object_get(c, "Entrypoint") != NULL;
	for (size_t i = 0; i < STRATA_ARRAY_LEN(kept); i++) {
		json_t *b = json_object_get(base, kept[i]), *mine = json_object_get(c, kept[i]);
		/* As in a Dockerfile, a new ENTRYPOINT drops the base's CMD. */
		if (b == NULL || json_is_null(b) || (new_entrypoint && strcmp(kept[i], "Cmd") == 0))
			continue;
		if (mine == NULL)
			json_object_set_new(c, kept[i], json_deep_copy(b));
		for (size_t k = 0; mine && k < STRATA_ARRAY_LEN(merged); k++)
			if (strcmp(kept[i], merged[k]) == 0 && json_is_object(mine) && json_is_object(b))
				json_object_update_missing(mine, b);
	}
	json_t *out = NULL;
	int r = strata_image_config_normalise(c, what, &out, err);
	json_decref(c);
	if (r < 0)
		return r;
	json_decref(*config);
	*config = out;
	return 0;
}
