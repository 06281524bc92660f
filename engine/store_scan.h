/* strata_store_scan: what store paths mention, found as Nix finds
 * references: by scanning every file's contents, every name and every
 * symlink target for the 32-character hash parts of candidate paths. Also
 * measures a NAR-size estimate (only used to order layering when an input
 * has no narSize).
 *
 * A table of candidates is built once and is immutable; each store path is
 * scanned by one call with its own scratch, so paths can be scanned in
 * parallel (one per task) against one table. Memory per call follows what
 * the path mentions, never the number of candidates.
 *
 * Files are read in buffers, never mapped: a file truncated while it is
 * scanned is an error or a short read, not a SIGBUS.
 *
 * Threads: a table may be shared by any number of concurrent scans. */
#ifndef STRATA_STORE_SCAN_H
#define STRATA_STORE_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cancel.h"
#include "closure.h"
#include "sched_pool.h"
#include "strata_error.h"

typedef struct strata_store_scan_table strata_store_scan_table;

/* Candidates: n hash parts (STRATA_HASH_LEN characters each, not
 * NUL-terminated), hash_of(arg, i) for candidate i. */
strata_store_scan_table *strata_store_scan_table_create(size_t n, const char *(*hash_of)(const void *, size_t),
							const void *arg);
void strata_store_scan_table_free(strata_store_scan_table *t); /* accepts NULL */

typedef struct strata_store_scan_result {
	uint64_t nar_size; /* the estimate */
	size_t *hits;      /* candidates found, sorted, unique (owned; free()) */
	size_t nhits;
} strata_store_scan_result;

/* Scans the store path at path: with refs, for the table's candidates;
 * without, only the size (file contents are not read). */
int strata_store_scan_path(const strata_store_scan_table *t, const char *path, bool refs,
			   const strata_cancel *cancel, strata_store_scan_result *res, strata_error *err);

/* Fills what a closure's input lacked: every size not known and, with
 * refs, every path's references (replacing them by the scan's). The paths
 * are scanned in parallel on pool (NULL: one after another on the calling
 * thread, which must not be a worker of pool); results and the error
 * reported (the first in path order) do not depend on which ends first. */
int strata_store_scan_closure(strata_closure *c, bool refs, strata_pool *pool, const strata_cancel *cancel,
			      strata_error *err);

/* The closure of roots (store paths in store_dir): everything their files
 * mention, transitively, among the entries of store_dir. */
int strata_store_scan_discover(char *const *roots, size_t nroots, const char *store_dir,
			       const strata_cancel *cancel, strata_closure **out, strata_error *err);

#endif
