/* strata_json_check: the type checks of JSON fields that image configs,
 * manifests and indexes share. Each returns 0, or fills err naming what
 * (the document) and key. A missing value (NULL) passes: presence is the
 * caller's rule.
 *
 * Threads: reentrant. */
#ifndef STRATA_JSON_CHECK_H
#define STRATA_JSON_CHECK_H

#include <jansson.h>
#include <stdbool.h>

#include "strata_error.h"

int strata_json_check_string_map(json_t *v, const char *what, const char *key, strata_error *err);
int strata_json_check_string_array(json_t *v, const char *what, const char *key, strata_error *err);
/* An RFC 3339 string as image clients read it (strata_timestamp_parse_image). */
int strata_json_check_time(json_t *v, const char *what, const char *key, strata_error *err);
/* s as a JSON string must be valid UTF-8 (jansson refuses anything else, and
 * a value it refuses would silently go missing); with no_controls also free
 * of control characters (paths and names, unlike arguments). */
int strata_json_check_text(const char *s, bool no_controls, const char *what, strata_error *err);

/* "sha256:" and 64 lowercase hex digits. */
bool strata_json_check_is_sha256(const char *digest);

static inline void strata_json_decrefp(json_t **j)
{
	json_decref(*j);
}
/* A json_t local released at scope exit. */
#define cleanup_json __attribute__((cleanup(strata_json_decrefp)))

#endif
