/* strata_image_plan: what an image will be, before any layer is built: the
 * resolved settings and, in order, every layer with what makes its bytes
 * (a source for the layer writer), what it holds (store paths) and its
 * history entry.
 *
 * Settings are resolved in one place, with one precedence: the job's
 * options, then conf.json, then SOURCE_DATE_EPOCH (created only), then the
 * defaults of strata.h. Contradictory inputs are refused with one line.
 *
 * Layer kinds say what a layer is, independently of how its bytes are made:
 * a store layer holds store paths; the customisation layer holds the image's
 * own files (a conf.json's layer.tar, or --contents synthesized); a base
 * layer comes from another image. The layer writer only sees sources.
 *
 * Threads: one thread. */
#ifndef STRATA_IMAGE_PLAN_H
#define STRATA_IMAGE_PLAN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "closure.h"
#include "layer_source.h"
#include "oci_image.h"
#include "strata.h"
#include "timestamp.h"

typedef enum strata_plan_layer_kind {
	STRATA_PLAN_STORE,
	STRATA_PLAN_CUSTOMISATION,
	STRATA_PLAN_BASE,
} strata_plan_layer_kind;

typedef struct strata_plan_layer {
	strata_plan_layer_kind kind;
	strata_layer_source source; /* its strings point into the plan */
	char *const *store_paths;   /* what it holds (store layers), borrowed from the plan */
	size_t nstore_paths;
	strata_oci_history history; /* strings owned by the plan */
	uint64_t bytes;             /* an estimate, for progress */
	/* The diff_id the input names the layer by (a base image's config, a
	 * conf.json's checksum file), hex; NULL: none. Checked where used. */
	const char *expect_diff_id;
	/* A base layer copied as it is (an OCI base, OCI output): its media
	 * type; NULL: the layer is made by the image's codec. */
	const char *media_type;
} strata_plan_layer;

typedef struct strata_image_settings {
	long long created, mtime, uid, gid;
	const char *uname, *gname, *architecture, *os;
	const char *store_dir; /* normalised */
	const char *name;      /* NULL: none */
	const char *tag;       /* NULL: derived from the config digest */
	strata_compress compress;
	const struct strata_layer_codec *codec; /* compress's, or gzip as one member */
	int level;      /* resolved: never 0 for a codec with levels */
	json_t *config; /* the runtime config, normalised (owned by the plan) */
	/* Docker archives: created as Python's isoformat, the runtime config as
	 * nixpkgs writes it (conf.json's as it is; a base image's Env merged),
	 * the RepoTags entry verbatim (NULL: from name and tag). */
	char created_iso[STRATA_ISOFORMAT_MAX];
	json_t *docker_config;
	const char *repo_tag;
	json_t *base_history; /* the base image's config's history (borrowed), or NULL */
} strata_image_settings;

typedef struct strata_image_plan {
	strata_image_settings s;
	strata_plan_layer *layers;
	size_t nlayers;
	uint64_t bytes_total;
	const char **inputs; /* everything the image is made from: the output may not touch it */
	size_t ninputs;
	const char *containers[1]; /* the store directory: the output may lie inside it (output.h) */
	size_t nstore_paths;       /* the last inputs, store paths (output.h) */
	const struct strata_perms *perms; /* rules to check after the build (every one matched), or NULL */
	struct strata_plan_private *priv;
} strata_image_plan;

/* The plan of strata_build_layered (closure + layering, or conf.json). A
 * closure given as store paths is scanned for references on pool (NULL:
 * on the calling thread, which must not be one of its workers). */
int strata_image_plan_layered(strata_pool *pool, const strata_layered_options *o, strata_image_plan **out,
			      strata_error *err);
/* The plan of strata_build_layer: one store layer. */
int strata_image_plan_store_layer(strata_pool *pool, const strata_layered_options *o, strata_image_plan **out,
				  strata_error *err);
/* The plan of strata_build_image: one layer. */
int strata_image_plan_build(strata_pool *pool, const strata_layered_options *o, strata_image_plan **out,
			    strata_error *err);
void strata_image_plan_free(strata_image_plan *p); /* accepts NULL */

static inline void strata_image_plan_freep(strata_image_plan **p)
{
	strata_image_plan_free(*p);
}
#define cleanup_plan __attribute__((cleanup(strata_image_plan_freep)))

/* The closure the store layers come from (narHashes), or NULL. */
const strata_closure *strata_image_plan_closure(const strata_image_plan *p);

/* The GOARCH name of this machine (amd64, arm64, ...). */
const char *strata_image_plan_host_arch(void);

#endif
