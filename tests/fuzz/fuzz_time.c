/* libFuzzer target: --created / --mtime / SOURCE_DATE_EPOCH parsing, and
 * times in image configs. A parsed time must format and parse back to
 * itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "timestamp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	long long t = 0, u = 0;
	strata_error err = STRATA_ERROR_INIT;
	if (strata_timestamp_parse(s, &t, &err) == 0 && t >= 0 && t < 253402300800LL) {
		char buf[32];
		strata_timestamp_format(t, buf);
		if (strata_timestamp_parse(buf, &u, &err) < 0 || u != t)
			abort();
	}
	/* A config time clients read is, from 1970 on, one the options take
	 * too, as the same instant. */
	if (strata_timestamp_parse_image(s, &t, &err) == 0 && t >= 0 &&
	    (strata_timestamp_parse(s, &u, &err) < 0 || u != t))
		abort();
	strata_error_clear(&err);
	free(s);
	return 0;
}
