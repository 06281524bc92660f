/* strata_closure: the store paths of an image and the references between
 * them, read from what a user already has:
 *   - exportReferencesGraph JSON: a list of {path, narHash, narSize,
 *     references, closureSize}, bare or wrapped in an object under one key
 *     (the .attrs.json form, {"closure": [...]});
 *   - `nix path-info --json --recursive`: an array (Nix < 2.19) or an object
 *     keyed by store path (Nix >= 2.19) of {narSize, references, ...};
 *   - a text file of store paths, one per line: references are found by
 *     scanning file contents and symlink targets for the other paths' 32-char
 *     hash parts, as Nix does.
 * Paths are kept sorted by byte order of their full path, so every form of
 * the same closure yields the same image. Sizes a form lacks are measured.
 *
 * Threads: a closure is immutable after load/restrict/measure and may then be
 * read from any thread. */
#ifndef STRATA_CLOSURE_H
#define STRATA_CLOSURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata_error.h"

#define STRATA_HASH_LEN 32
#define STRATA_DEFAULT_STORE_DIR "/nix/store"

typedef struct strata_store_path {
	char *path;        /* "/nix/store/<hash>-<name>", owned */
	const char *hash;  /* points into path: the 32-char hash part (not NUL-terminated) */
	const char *name;  /* points into path: after "<hash>-" */
	uint64_t nar_size; /* from the input, or measured */
	size_t *refs;      /* indices into the closure, sorted, unique, no self */
	size_t nrefs;
	bool self_ref;
} strata_store_path;

typedef struct strata_closure {
	char *store_dir;         /* without trailing slash, owned */
	strata_store_path *paths; /* sorted by path */
	size_t npaths;
} strata_closure;

/* Reads `file` in any of the forms above. Every path must be a valid store
 * path directly inside store_dir; every reference must be in the closure;
 * duplicates are errors. Sizes missing from the input are measured (which
 * requires the paths to exist). */
int strata_closure_load(const char *file, const char *store_dir, strata_closure **out,
			strata_error *err);

/* The same from a NUL-terminated buffer of len bytes (modified: the text
 * form is split in place); file names the input in errors. */
int strata_closure_parse(char *buf, size_t len, const char *file, const char *store_dir,
			 strata_closure **out, strata_error *err);

/* The closure of `roots` (store paths, each in store_dir): every path the
 * roots' files mention by hash part, transitively, found by scanning against
 * the listing of store_dir, as Nix computes references. */
int strata_closure_discover(char *const *roots, size_t nroots, const char *store_dir,
			    strata_closure **out, strata_error *err);

/* Keeps only the given roots and everything they reference transitively.
 * Each root must be in the closure. */
int strata_closure_restrict(strata_closure *c, char *const *roots, size_t nroots,
			    strata_error *err);

/* Index of `path` in c, or -1. */
long strata_closure_find(const strata_closure *c, const char *path);

/* Checks that `path` is "<store_dir>/<32 nix-base32 chars>-<name>" with a
 * name Nix accepts. Returns 0 or fills err. */
int strata_store_path_check(const char *path, const char *store_dir, strata_error *err);

/* The store directory as every module compares paths against it: absolute,
 * repeated and trailing slashes dropped, no "." or ".." component, not "/".
 * NULL gives STRATA_DEFAULT_STORE_DIR. *out is a new string. */
int strata_store_dir_normalise(const char *in, char **out, strata_error *err);

void strata_closure_free(strata_closure *c); /* accepts NULL */

#endif
