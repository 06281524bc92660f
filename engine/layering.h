/* strata_layering: which store paths go into which layer, in which order.
 *
 * popularity: nixpkgs' classic contest (referencesByPopularity +
 *   limit_layers): paths ranked by popularity, descending, ties by
 *   "<name>-<path>" ascending; the first limit-1 get a layer each, the rest
 *   share the last.
 * auto: nixpkgs' size-based auto-layer (its current default): the largest
 *   paths become layer "primaries" one by one; a path belongs to the layer
 *   named by the set of nearest primaries above it; stops before the number
 *   of distinct layers would exceed the limit. Layers ordered by closure size
 *   ascending (dependencies first), paths within a layer by (name, hash).
 * Every tie breaks by name then hash, never by hash-table order.
 *
 * `limit` is the number of layers available to store paths (max-layers minus
 * the reserved customisation layer).
 *
 * Threads: reentrant; a closure may be layered by several threads at once. */
#ifndef STRATA_LAYERING_H
#define STRATA_LAYERING_H

#include <stddef.h>

#include "closure.h"
#include "strata.h"
#include "strata_error.h"

typedef struct strata_layering_layer {
	size_t *paths; /* closure indices, in tar order */
	size_t npaths;
} strata_layering_layer;

typedef struct strata_layering {
	strata_layering_layer *layers; /* base first */
	size_t nlayers;
} strata_layering;

/* Fails on a reference cycle (Nix closures have none besides self
 * references) and when limit is 0. */
int strata_layering_compute(const strata_closure *c, strata_layering_kind kind, size_t limit,
			    strata_layering **out, strata_error *err);

/* Popularity of each path (pop(x) = sum over roots r of g(r, x), saturating
 * at UINT64_MAX), for tests. */
int strata_layering_popularity(const strata_closure *c, uint64_t *pop_ret, strata_error *err);

void strata_layering_free(strata_layering *l); /* accepts NULL */

#endif
