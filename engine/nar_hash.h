/* strata_nar_hash: the NAR serialisation of a store path (Nix's archive
 * format: the path's tree, entries sorted by name, regular files with
 * their executable bit and contents, symlinks with their targets), hashed
 * with SHA-256 and measured, as Nix's narHash and narSize. The bytes are
 * never stored: the walk feeds the hash.
 *
 * The walk is fs_tree.h's (nothing followed, directories checked), its
 * byte order of names is the NAR's.
 *
 * Threads: reentrant. */
#ifndef STRATA_NAR_HASH_H
#define STRATA_NAR_HASH_H

#include <stdint.h>

#include "cancel.h"
#include "strata_error.h"

int strata_nar_hash(const char *path, const strata_cancel *cancel, char hex[65], uint64_t *nar_size,
		    strata_error *err);

#endif
