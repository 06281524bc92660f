/* strata_docker_image: the JSON of a Docker archive (Docker Image Spec
 * v1.2) in the form nixpkgs' stream script gives it, so that an archive of
 * the same layers is the same archive:
 *
 *   config: {created, architecture, os, config, rootfs {diff_ids, type},
 *            history [{created, comment}]}, created as Python's isoformat
 *            (timestamp.h);
 *   manifest.json: [{Config, RepoTags, Layers}];
 *
 * both written as Python's json.dumps(indent=4) (py_format.h): the bytes of
 * the config are its digest, the image ID.
 *
 * Threads: reentrant. */
#ifndef STRATA_DOCKER_IMAGE_H
#define STRATA_DOCKER_IMAGE_H

#include <jansson.h>
#include <stddef.h>

typedef struct strata_docker_config_input {
	const char *created; /* isoformat text */
	const char *architecture;
	const json_t *config; /* the runtime config, as it goes in (borrowed) */
	size_t nlayers;
	const char *const *diff_ids; /* hex */
	const char *const *comments; /* history comments */
} strata_docker_config_input;

/* New strings (caller frees). repo_tag NULL: RepoTags is empty. */
char *strata_docker_image_config(const strata_docker_config_input *in);
char *strata_docker_image_manifest(const char *config_name, const char *repo_tag, const char *const *layer_names,
				   size_t nlayers);

/* The script's Env merge with a base image: the base config's Env, then
 * config's, one entry per variable name (the last value, at the place the
 * name was first seen); config is changed in place (Env replaced where it
 * is, or added last), and left alone when both are empty. */
void strata_docker_image_merge_env(const json_t *base_config, json_t *config);

#endif
