/* strata_image_config: the user's runtime config of an image (Cmd,
 * Entrypoint, Env, WorkingDir, User, ExposedPorts, Volumes, Labels,
 * StopSignal, and any other key, kept), type-checked and with its keys
 * sorted, so the config bytes never depend on the input file's key order.
 *
 * Threads: reentrant. */
#ifndef STRATA_IMAGE_CONFIG_H
#define STRATA_IMAGE_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "strata_error.h"

/* in may be NULL or JSON null (an empty config). *out is a new reference.
 * what names the input in errors. */
int strata_image_config_normalise(json_t *in, const char *what, json_t **out, strata_error *err);

/* Parses JSON text, then normalises it. */
int strata_image_config_parse(const char *buf, size_t len, const char *what, json_t **out,
			      strata_error *err);

/* An OCI image config as clients check it: architecture and os, optional
 * fields of their types (created and history times RFC 3339, the runtime
 * config as normalise checks it), rootfs of type "layers" with nlayers
 * sha256 diff_ids, history entries of their types. */
/* What a Dockerfile's FROM keeps of the base's runtime config: User,
 * WorkingDir, StopSignal, Entrypoint and Cmd unless *config sets them (Cmd
 * not when it sets Entrypoint), ExposedPorts, Volumes and Labels merged
 * (its own entries win). Env is merged by the caller (docker_image.h).
 * *config is replaced by the normalised result. */
int strata_image_config_inherit(json_t *base, const char *what, json_t **config, strata_error *err);
int strata_image_config_check_oci(json_t *cfg, size_t nlayers, strata_error *err);
/* What of a config goes on into an image made from it (a base's): the
 * runtime config and the history entries, checked as check_oci checks
 * them. */
int strata_image_config_check_carried(json_t *cfg, strata_error *err);

#endif
