/* strata_nix_db: the Nix database an image carries (nixpkgs' includeNixDB):
 * nix/var/nix/db/{db.sqlite,schema} registering exactly the closure, made
 * by Nix itself (`nix-store --load-db`, Debian's nix-bin) from registration
 * data strata computes (every path's NAR hash and size, its references),
 * with every registration time set to the image's created time (sqlite3)
 * so that the bytes are reproducible; and nix/var/nix/gcroots/docker/<name>
 * links to the image's roots, as nixpkgs makes them.
 *
 * Only the database files are kept of what nix-store creates (not its
 * lock, reserved-space, profile and temproot files, which hold machine
 * paths); Nix recreates those when it runs in the container.
 *
 * Threads: the job's thread. */
#ifndef STRATA_NIX_DB_H
#define STRATA_NIX_DB_H

#include <stddef.h>

#include "cancel.h"
#include "closure.h"
#include "strata_error.h"

typedef struct strata_nix_db strata_nix_db;

/* Makes the database in a new directory in $TMPDIR. roots: store paths of
 * c (NULL/0: the paths nothing else references). */
int strata_nix_db_make(const strata_closure *c, char *const *roots, size_t nroots, long long registration_time,
		       const strata_cancel *cancel, strata_nix_db **out, strata_error *err);
/* The directory whose entries ("nix") go into the image's root. */
const char *strata_nix_db_root(const strata_nix_db *db);
void strata_nix_db_free(strata_nix_db *db); /* accepts NULL; removes the directory */

#endif
