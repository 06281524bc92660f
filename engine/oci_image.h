/* strata_oci_image: the JSON of an OCI image (image-spec v1.1): content
 * descriptors, the image config, the manifest and index entries, and the
 * one table of media types. Every image strata writes is assembled here,
 * whoever built its layers (build-layered, convert, and any step that gets
 * layer results without building them).
 *
 * Objects are returned as new references in a fixed key order; the layout
 * stores exactly the bytes they serialise to.
 *
 * Threads: reentrant. */
#ifndef STRATA_OCI_IMAGE_H
#define STRATA_OCI_IMAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata.h"

#define STRATA_OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define STRATA_OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define STRATA_OCI_MT_CONFIG "application/vnd.oci.image.config.v1+json"

/* The layer media type of a compression. */
const char *strata_oci_image_layer_media_type(strata_compress c);
/* Whether media_type is a layer type clients read (distributable or not),
 * and its compression. */
bool strata_oci_image_layer_compression(const char *media_type, strata_compress *c);

/* {mediaType, digest: "sha256:<hex>", size}. */
json_t *strata_oci_image_descriptor(const char *media_type, const char *hex, uint64_t size);

typedef struct strata_oci_history {
	const char *created_by; /* NULL: none */
	const char *comment;    /* NULL: none */
} strata_oci_history;

typedef struct strata_oci_config_input {
	long long created; /* epoch seconds */
	const char *architecture, *os;
	json_t *config; /* the runtime config (borrowed) */
	size_t nlayers;
	const char *const *diff_ids;       /* hex, nlayers of them */
	const strata_oci_history *history; /* nlayers of them */
	/* The history of a base image whose layers are the first nbase: kept
	 * as it is (empty_layer entries too) when it describes exactly nbase
	 * layers, else history[] is used for them. NULL: none. */
	json_t *base_history;
	size_t nbase;
} strata_oci_config_input;

/* {created, architecture, os, config, rootfs {type, diff_ids}, history}. */
json_t *strata_oci_image_config(const strata_oci_config_input *in);
/* The fields a Docker image config shares with an OCI one, in a fixed
 * order (convert). */
json_t *strata_oci_image_config_from_docker(json_t *docker_config);

/* {schemaVersion 2, mediaType, config, layers}; layers is borrowed (a
 * reference is taken). */
json_t *strata_oci_image_manifest(const char *cfg_hex, uint64_t cfg_size, json_t *layers);

/* An index.json entry for a manifest, tagged with ref (ref.name: what
 * oci:DIR:REF addresses), full_name (io.containerd.image.name, the name
 * podman and containerd give the image; NULL: none) and the platform,
 * appended to manifests. */
void strata_oci_image_index_add(json_t *manifests, const char *man_hex, uint64_t man_size, const char *ref,
				const char *full_name, const char *arch, const char *os);
/* The index.json object around manifests (stolen). */
json_t *strata_oci_image_index(json_t *manifests);

#endif
