/* strata_closure_load: a closure from what a user already has:
 *   - exportReferencesGraph JSON: a list of {path, narHash, narSize,
 *     references, closureSize}, bare or wrapped in an object under one key
 *     (the .attrs.json form, {"closure": [...]}), also after a "#!" line
 *     (an exec-json script carrying its closure);
 *   - `nix path-info --json --recursive`: an array (Nix < 2.19) or an object
 *     keyed by store path (Nix >= 2.19) of {narSize, references, ...};
 *   - a text file of store paths, one per line: references are found by
 *     scanning the listed paths (store_scan.h), as Nix does.
 * Sizes a form lacks are measured (which needs the paths to exist). Every
 * path must be a store path directly in store_dir; every reference must be
 * in the closure; duplicates are errors.
 *
 * Threads: reentrant. */
#ifndef STRATA_CLOSURE_LOAD_H
#define STRATA_CLOSURE_LOAD_H

#include <stddef.h>

#include "cancel.h"
#include "closure.h"
#include "sched_pool.h"
#include "strata_error.h"

/* Reads file (a regular file, at most STRATA_FILE_MAX_CLOSURE bytes). What
 * the input lacks is found by scanning the store paths on pool (NULL: on the
 * calling thread, which must not be one of its workers). */
int strata_closure_load(const char *file, const char *store_dir, strata_pool *pool, const strata_cancel *cancel,
			strata_closure **out, strata_error *err);

/* The same from a NUL-terminated buffer of len bytes (modified: the text
 * form is split in place); file names the input in errors. */
int strata_closure_load_buffer(char *buf, size_t len, const char *file, const char *store_dir, strata_pool *pool,
			       const strata_cancel *cancel, strata_closure **out, strata_error *err);

#endif
