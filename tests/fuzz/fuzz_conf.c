/* libFuzzer target: nixpkgs' conf.json. */
#include <stdint.h>
#include <stdlib.h>

#include "nix_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	strata_nix_conf c;
	strata_error err = STRATA_ERROR_INIT;
	if (strata_nix_conf_parse((const char *)data, size, "fuzz", &c, &err) < 0 && err.msg == NULL)
		abort();
	strata_nix_conf_fini(&c);
	strata_error_clear(&err);
	return 0;
}
