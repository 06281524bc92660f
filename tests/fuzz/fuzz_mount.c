/* libFuzzer target: the --mount spec parser (strata container). Whatever it
 * accepts is safe to hand to a runtime: an absolute, normalised destination
 * that is not the root and has no '..', a plain type, and options of plain
 * characters only (no quotes, spaces or control bytes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mount_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int plain(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr("._:+/@%=-", *s)))
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *spec = malloc(size + 1);
	memcpy(spec, data, size);
	spec[size] = '\0';
	json_t *m = NULL;
	strata_error err = STRATA_ERROR_INIT;
	if (strata_mount_spec_parse(spec, &m, &err) == 0) {
		const char *dest = json_string_value(json_object_get(m, "destination"));
		const char *type = json_string_value(json_object_get(m, "type"));
		if (dest == NULL || dest[0] != '/' || strcmp(dest, "/") == 0 || strstr(dest, "//") ||
		    strstr(dest, "/../") || strstr(dest, "/./") || dest[strlen(dest) - 1] == '/' ||
		    (strlen(dest) >= 3 && strcmp(dest + strlen(dest) - 3, "/..") == 0) || !plain(type))
			abort();
		size_t i;
		json_t *o;
		json_array_foreach(json_object_get(m, "options"), i, o) if (!plain(json_string_value(o))) abort();
		json_decref(m);
	} else if (err.msg == NULL) {
		abort();
	}
	strata_error_clear(&err);
	free(spec);
	return 0;
}
