/* strata_nix_conf: the conf.json nixpkgs hands to stream_layered_image.py
 * (nixpkgs-image-tooling.md section 3.1): store_layers, customisation_layer
 * (whose layer.tar is reused as is), config, architecture, created, mtime,
 * uid/gid (strings, as jq --arg makes them), uname, gname, repo_tag,
 * store_dir, from_image (a base image: a Docker archive, or null).
 *
 * Threads: reentrant. */
#ifndef STRATA_NIX_CONF_H
#define STRATA_NIX_CONF_H

#include <jansson.h>
#include <stddef.h>

#include "strata_error.h"

typedef struct strata_nix_conf {
	json_t *root;
	char ***layers; /* store_layers: layers[i][0..layer_sizes[i]) */
	size_t *layer_sizes;
	size_t nlayers;
	char *customisation_tar; /* <customisation_layer>/layer.tar, or NULL */
	/* <customisation_layer>/checksum, whitespace stripped: what the script
	 * names the layer by; NULL when the file is missing. */
	char *customisation_checksum;
	const char *from_image; /* NULL: none */
} strata_nix_conf;

/* Fills c (always: call strata_nix_conf_fini even on failure). file names
 * the input in errors. The customisation layer.tar must exist. */
int strata_nix_conf_parse(const char *buf, size_t len, const char *file, strata_nix_conf *c,
			  strata_error *err);
int strata_nix_conf_load(const char *file, strata_nix_conf *c, strata_error *err);
/* A string value of the conf, or NULL when absent or not a string. */
const char *strata_nix_conf_str(const strata_nix_conf *c, const char *key);
/* uid/gid: a JSON integer or a string of digits (as jq --arg makes them),
 * 0..STRATA_MAX_ID. Returns 0 and *out, 1 when absent, negative on a bad value. */
int strata_nix_conf_id(const strata_nix_conf *c, const char *key, long long *out, strata_error *err);
void strata_nix_conf_fini(strata_nix_conf *c);

#endif
