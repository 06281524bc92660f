/* strata_layer_desc: a layer made on its own (`strata layer`, one Nix
 * derivation per layer), in a directory: its blob, named by its digest's
 * hex, and layer.json describing it:
 *   {"mediaType", "digest", "size", "diff_id", "uncompressed_size",
 *    "store_paths": [...], "history": {"created_by", "comment"}}
 * Content-addressed and deterministic: the same layer built on two machines
 * gives the same directory. Whoever uses a layer checks its blob against
 * the descriptor (layer_source.h): a binary-cache race must fail loudly.
 *
 * Threads: reentrant. */
#ifndef STRATA_LAYER_DESC_H
#define STRATA_LAYER_DESC_H

#include <stddef.h>
#include <stdint.h>

#include "strata_error.h"

/* Loaded, it owns its strings (fini frees them); to be written, they may
 * be borrowed. */
typedef struct strata_layer_desc {
	const char *dir;  /* where it was read from */
	const char *blob; /* dir/<digest hex> */
	char digest[65], diff_id[65];
	uint64_t size, tar_size;
	const char *media_type;
	const char *const *store_paths;
	size_t npaths;
	const char *created_by, *comment;
} strata_layer_desc;

int strata_layer_desc_load(const char *dir, strata_layer_desc *d, strata_error *err);
/* Writes dir/layer.json (a new file). */
int strata_layer_desc_write(const char *dir, const strata_layer_desc *d, strata_error *err);
void strata_layer_desc_fini(strata_layer_desc *d);

#endif
