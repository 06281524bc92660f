#define _GNU_SOURCE
#include "json_check.h"
#include "timestamp.h"

#include <string.h>

int strata_json_check_string_map(json_t *v, const char *what, const char *key, strata_error *err)
{
	if (v == NULL)
		return 0;
	if (!json_is_object(v))
		return strata_error_set(err, 0, "%s: '%s' must be an object of strings", what, key);
	const char *k;
	json_t *x;
	json_object_foreach(v, k, x)
	{
		if (!json_is_string(x))
			return strata_error_set(err, 0, "%s: '%s' values must be strings", what, key);
	}
	return 0;
}

int strata_json_check_string_array(json_t *v, const char *what, const char *key, strata_error *err)
{
	if (v == NULL)
		return 0;
	if (!json_is_array(v))
		return strata_error_set(err, 0, "%s: '%s' must be an array of strings", what, key);
	size_t i;
	json_t *x;
	json_array_foreach(v, i, x)
	{
		if (!json_is_string(x))
			return strata_error_set(err, 0, "%s: '%s' must be an array of strings", what, key);
	}
	return 0;
}

int strata_json_check_time(json_t *v, const char *what, const char *key, strata_error *err)
{
	if (v == NULL)
		return 0;
	long long t;
	if (!json_is_string(v))
		return strata_error_set(err, 0, "%s: '%s' must be an RFC 3339 string", what, key);
	if (strata_timestamp_parse_image(json_string_value(v), &t, err) < 0)
		return strata_error_wrap(err, "%s: '%s'", what, key);
	return 0;
}

int strata_json_check_text(const char *s, bool no_controls, const char *what, strata_error *err)
{
	json_t *j = json_string(s);
	if (j == NULL)
		return strata_error_set(err, 0, "%s '%s' is not valid UTF-8", what, s);
	json_decref(j);
	if (no_controls)
		for (const unsigned char *p = (const unsigned char *)s; *p; p++)
			if (*p < 0x20 || *p == 0x7f)
				return strata_error_set(err, 0, "%s '%s' contains control characters", what, s);
	return 0;
}

bool strata_json_check_is_sha256(const char *d)
{
	return strncmp(d, "sha256:", 7) == 0 && strlen(d) == 71 && strspn(d + 7, "0123456789abcdef") == 64;
}
