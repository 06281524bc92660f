/* strata_store: the grammar of a Nix store: store directories and store
 * paths ("<store_dir>/<32 nix-base32 chars>-<name>").
 *
 * Threads: reentrant. */
#ifndef STRATA_STORE_H
#define STRATA_STORE_H

#include <stdbool.h>

#include "strata_error.h"

#define STRATA_HASH_LEN 32

/* A character of nix-base32 (digits and lowercase letters without e o u t). */
bool strata_store_is_nix32(unsigned char c);

/* Checks that path is "<store_dir>/<32 nix-base32 chars>-<name>" with a name
 * Nix accepts. Returns 0 or fills err. */
int strata_store_path_check(const char *path, const char *store_dir, strata_error *err);

/* The store directory as every module compares paths against it: absolute,
 * repeated and trailing slashes dropped, no "." or ".." component, not "/".
 * NULL gives STRATA_DEFAULT_STORE_DIR. *out is a new string. */
int strata_store_dir_normalise(const char *in, char **out, strata_error *err);

#endif
