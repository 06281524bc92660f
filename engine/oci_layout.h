/* strata_layout: an OCI image layout being written, atomically.
 *
 * create makes a hidden temporary directory beside the target (same
 * filesystem, so the final rename is atomic) holding blobs/sha256/; blobs and
 * the index are written into it; commit renames it to the target (or, for
 * the tarball format, writes the layout as one tar beside the target and
 * renames that). abort, or free without commit, removes every temporary
 * file: a failed build leaves nothing at the target and nothing beside it.
 *
 * Threads: one thread at a time; blob_dir may be handed to other threads
 * for writing blobs while the owner waits. */
#ifndef STRATA_OCI_LAYOUT_H
#define STRATA_OCI_LAYOUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "output.h"
#include "strata_error.h"

typedef struct strata_layout strata_layout;

typedef enum strata_layout_format {
	STRATA_FORMAT_DIRECTORY,
	STRATA_FORMAT_TARBALL,
} strata_layout_format;

/* Fails if target exists (unless oo->force) or its parent is missing, or
 * when it collides with one of oo's inputs (output.h). */
int strata_layout_create(const char *target, strata_layout_format format, const strata_output_options *oo,
			 strata_layout **out, strata_error *err);
/* Absolute or relative path of blobs/sha256 inside the temporary layout. */
const char *strata_layout_blob_dir(const strata_layout *l);
/* Writes bytes as a blob; digest_ret receives the sha256 hex (65 bytes). */
int strata_layout_put_blob(strata_layout *l, const void *data, size_t n, char *digest_ret,
			   strata_error *err);
/* Writes a top-level file (index.json, oci-layout). */
int strata_layout_put_file(strata_layout *l, const char *name, const void *data, size_t n,
			   strata_error *err);
/* A content descriptor {mediaType, digest: "sha256:<hex>", size}. */
json_t *strata_oci_descriptor(const char *media_type, const char *hex, uint64_t size);
/* Serialises j compactly in its key order and stores exactly those bytes as
 * a blob (never re-serialised after hashing). */
int strata_layout_put_json(strata_layout *l, json_t *j, char hex_ret[65], uint64_t *size_ret,
			   strata_error *err);
/* An image manifest {schemaVersion 2, mediaType, config, layers}; layers is
 * borrowed (a reference is taken). */
json_t *strata_oci_manifest(const char *cfg_hex, uint64_t cfg_size, json_t *layers);
/* An index.json entry for a manifest, tagged with ref (ref.name) and the
 * platform. Appended to `manifests`. */
void strata_oci_index_add(json_t *manifests, const char *man_hex, uint64_t man_size, const char *ref,
			  const char *arch, const char *os);
/* Writes index.json (with `manifests`, stolen) and oci-layout, then
 * commits. */
int strata_layout_finish(strata_layout *l, json_t *manifests, strata_error *err);
int strata_layout_commit(strata_layout *l, strata_error *err);
/* Removes the temporary output. Safe to call from a signal handler path
 * only through strata_layout_free's caller; idempotent. */
void strata_layout_abort(strata_layout *l);
void strata_layout_free(strata_layout *l); /* aborts if not committed; accepts NULL */

#endif
