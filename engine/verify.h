/* strata_verify: re-checks an OCI image layout, directory or tarball.
 * Every referenced blob is re-hashed and its size compared with the
 * descriptor; each layer is decompressed and hashed against the config's
 * diff_id; media types, schemaVersion and oci-layout are checked. The first
 * problem becomes one precise error.
 *
 * Threads: reentrant. */
#ifndef STRATA_VERIFY_H
#define STRATA_VERIFY_H

#include <stddef.h>

#include "strata_error.h"

typedef struct strata_verify_report {
	size_t manifests, blobs, layers;
} strata_verify_report;

int strata_verify(const char *path, strata_verify_report *rep, strata_error *err);

#endif
