/* strata_oci_layout: an OCI image layout on disk, written atomically.
 *
 * create makes a hidden temporary directory beside the target (same
 * filesystem, so the final rename is atomic) holding blobs/sha256/; blobs and
 * the index are written into it; finish writes index.json and oci-layout and
 * renames it to the target (or, for the tarball format, writes the layout as
 * one tar beside the target and renames that). abort, or free without
 * finish, removes every temporary file: a failed build leaves nothing at the
 * target and nothing beside it.
 *
 * Threads: one thread at a time; the blob directory may be handed to other
 * threads for writing blobs while the owner waits. */
#ifndef STRATA_OCI_LAYOUT_H
#define STRATA_OCI_LAYOUT_H

#include <jansson.h>
#include <stdint.h>

#include "output.h"
#include "strata.h"

typedef struct strata_oci_layout strata_oci_layout;

/* Fails if target exists (unless oo->force allows it), its parent is
 * missing, or it collides with one of oo's inputs (output.h). */
int strata_oci_layout_create(const char *target, strata_layout_format format, const strata_output_options *oo,
			     strata_oci_layout **out, strata_error *err);
/* blobs/sha256 inside the temporary layout. */
const char *strata_oci_layout_blob_dir(const strata_oci_layout *l);
/* Serialises j compactly in its key order and stores exactly those bytes as
 * a blob (never re-serialised after hashing). */
int strata_oci_layout_put_json(strata_oci_layout *l, json_t *j, char hex_ret[65], uint64_t *size_ret,
			       strata_error *err);
/* Writes index.json (index, borrowed) and oci-layout, then puts the layout
 * in place. */
int strata_oci_layout_finish(strata_oci_layout *l, json_t *index, strata_error *err);
/* Removes the temporary output; idempotent. */
void strata_oci_layout_abort(strata_oci_layout *l);
void strata_oci_layout_free(strata_oci_layout *l); /* aborts if not finished; accepts NULL */

static inline void strata_oci_layout_freep(strata_oci_layout **l)
{
	strata_oci_layout_free(*l);
}
#define cleanup_layout __attribute__((cleanup(strata_oci_layout_freep)))

#endif
