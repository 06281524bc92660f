/* strata_json_check: the type checks of JSON fields that image configs,
 * manifests and indexes share. Each returns 0, or fills err naming what
 * (the document) and key. A missing value (NULL) passes: presence is the
 * caller's rule.
 *
 * Threads: reentrant. */
#ifndef STRATA_JSON_CHECK_H
#define STRATA_JSON_CHECK_H

#include <jansson.h>

#include "strata_error.h"

int strata_json_check_string_map(json_t *v, const char *what, const char *key, strata_error *err);
int strata_json_check_string_array(json_t *v, const char *what, const char *key, strata_error *err);
/* An RFC 3339 string strata_parse_time accepts. */
int strata_json_check_time(json_t *v, const char *what, const char *key, strata_error *err);
/* "sha256:" and 64 lowercase hex digits. */
int strata_json_is_sha256(const char *digest);

#endif
