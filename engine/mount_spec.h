/* strata_mount_spec: the --mount specs of strata container, parsed strictly
 * into runtime-spec mount objects:
 *   type=bind,source=/a,destination=/b,options=ro[,nosuid...]
 * (src/dst/target accepted; bare words after options= are more options).
 * Every key once; options known flags (and their recursive r-forms) or
 * key=value of plain characters; the type a plain name; a bind source
 * absolute and existing; paths UTF-8 without control characters; the
 * destination normalised by strata_mount_spec_destination.
 *
 * Threads: reentrant. */
#ifndef STRATA_MOUNT_SPEC_H
#define STRATA_MOUNT_SPEC_H

#include <jansson.h>

#include "strata_error.h"

int strata_mount_spec_parse(const char *spec, json_t **mount_ret, strata_error *err);

/* An absolute destination inside the container, normalised: repeated
 * slashes and "." dropped; ".." and the root itself refused. */
int strata_mount_spec_destination(const char *dest, char **out, strata_error *err);

#endif
