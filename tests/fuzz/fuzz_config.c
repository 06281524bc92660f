/* libFuzzer target: the image runtime config (--config). A config that is
 * accepted must serialise, and normalising it again must give the same bytes
 * (sorted keys: the config digest cannot depend on key order). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *out = NULL;
	strata_error err = STRATA_ERROR_INIT;
	if (strata_image_config_parse((const char *)data, size, "fuzz", &out, &err) == 0) {
		char *a = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
		json_t *again = NULL;
		if (a == NULL || strata_image_config_parse(a, strlen(a), "again", &again, &err) < 0)
			abort();
		char *b = json_dumps(again, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
		if (b == NULL || strcmp(a, b) != 0)
			abort();
		free(a);
		free(b);
		json_decref(again);
		json_decref(out);
	} else if (err.msg == NULL) {
		abort();
	}
	strata_error_clear(&err);
	return 0;
}
