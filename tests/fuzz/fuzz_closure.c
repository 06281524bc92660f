/* libFuzzer target: every closure input form (JSON list, wrapped list,
 * path-info array and object, text). The store dir does not exist, so the
 * text form and missing sizes fail at the filesystem, never touching it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "closure_load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	strata_closure *c = NULL;
	strata_error err = STRATA_ERROR_INIT;
	if (strata_closure_load_buffer(buf, size, "fuzz", "/nonexistent-strata-fuzz/store", NULL, NULL, &c, &err) == 0) {
		/* Whatever parses must be a consistent graph. */
		for (size_t i = 0; i < c->npaths; i++)
			for (size_t j = 0; j < c->paths[i].nrefs; j++)
				if (c->paths[i].refs[j] >= c->npaths || c->paths[i].refs[j] == i)
					abort();
		strata_closure_free(c);
	} else if (err.msg == NULL) {
		abort(); /* a failure always says why */
	}
	strata_error_clear(&err);
	free(buf);
	return 0;
}
