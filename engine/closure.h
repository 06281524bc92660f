/* strata_closure: the model of a closure: the store paths of an image and
 * the references between them. Inputs (closure_load.h) and the store scanner
 * (store_scan.h) build closures through a builder; layering and bundles read
 * them.
 *
 * Paths are kept sorted by byte order of their full path, so every input
 * form of the same closure yields the same image.
 *
 * Threads: a closure is immutable after it is built (and restricted or
 * measured) and may then be read from any thread. A builder is used by one
 * thread. */
#ifndef STRATA_CLOSURE_H
#define STRATA_CLOSURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "strata_error.h"

typedef struct strata_store_path {
	char *path;        /* "<store_dir>/<hash>-<name>", owned */
	const char *hash;  /* points into path: the 32-char hash part (not NUL-terminated) */
	const char *name;  /* points into path: after "<hash>-" */
	uint64_t nar_size; /* from the input, or measured */
	bool size_known;   /* the input gave nar_size */
	char *nar_hash;    /* the input's narHash as it gave it, or NULL; owned */
	size_t *refs;      /* indices into the closure, sorted, unique, no self */
	size_t nrefs;
	bool self_ref;
} strata_store_path;

typedef struct strata_closure {
	char *store_dir;          /* normalised, owned */
	strata_store_path *paths; /* sorted by path */
	size_t npaths;
} strata_closure;

typedef struct strata_closure_builder strata_closure_builder;

/* store_dir is copied. */
strata_closure_builder *strata_closure_builder_create(const char *store_dir);
/* Adds a store path (path is taken over; checked by the caller) with its
 * size when known. Returns its entry for add_ref. */
size_t strata_closure_builder_add(strata_closure_builder *b, char *path, uint64_t nar_size, bool size_known);
/* The narHash the input gives entry (taken over). */
void strata_closure_builder_set_hash(strata_closure_builder *b, size_t entry, char *nar_hash);
/* Records that entry references ref (taken over; a full path). */
void strata_closure_builder_add_ref(strata_closure_builder *b, size_t entry, char *ref);
/* Sorts, refuses duplicates and references outside the closure (what
 * names the input in errors), and frees the builder either way. */
int strata_closure_builder_finish(strata_closure_builder *b, const char *what, strata_closure **out,
				  strata_error *err);
void strata_closure_builder_free(strata_closure_builder *b); /* accepts NULL */

/* Keeps only the given roots and everything they reference transitively.
 * Each root must be in the closure. */
int strata_closure_restrict(strata_closure *c, char *const *roots, size_t nroots, strata_error *err);

/* A new closure: c without paths (those not in c are ignored), references
 * to them dropped (they are provided by layers made elsewhere). */
int strata_closure_without(const strata_closure *c, char *const *paths, size_t npaths, strata_closure **out,
			   strata_error *err);
/* Index of path in c, or -1. */
long strata_closure_find(const strata_closure *c, const char *path);

void strata_closure_free(strata_closure *c); /* accepts NULL */

static inline void strata_closure_freep(strata_closure **c)
{
	strata_closure_free(*c);
}
#define cleanup_closure __attribute__((cleanup(strata_closure_freep)))

#endif
