/* strata_layer_cache: store layers kept across builds, keyed by everything
 * that determines their bytes, so that an unchanged layer is never read or
 * compressed twice.
 *
 * Layout of DIR (created mode 0700: only its owner can reach an entry, so a
 * blob is never readable through the cache by a user who could not read the
 * store paths; blobs linked into an output keep the output's usual 0644):
 *   DIR/v1/<key[0..1]>/<key>/   an entry: <digest> (the blob) + layer.json
 *                               (layer_desc.h); its mtime is its last use
 *   DIR/tmp/                    entries being written, renamed into place
 * An entry appears by one rename(2) of a complete directory (files fsync'ed
 * first), so a crash leaves no entry that looks valid, only a directory in
 * tmp/ that gc removes. Two builders of one layer: the first rename wins,
 * the other drops its copy. A user of an entry checks its blob (size and
 * SHA-256) before the image holds it (layer_source.h), and rebuilds it from
 * the store when it does not match.
 *
 * The key (SHA-256 hex) is over a text naming: the format version, the
 * codec, level and chunk size, the tar options (mtime, uid, gid, uname,
 * gname), the perms rules (their file's SHA-256), the ancestors, and each
 * store path in order with what identifies its content: the narHash the
 * closure gives, or else a fingerprint of its tree: for every entry its
 * name, type, mode, size, link target, device, inode and change time.
 * A merged root (strata build) is keyed by its fingerprint (root_tree.h)
 * and, for its store paths, as above.
 * Writing a file changes its ctime, which user space cannot set back, so a
 * changed tree always gets a new key (a copied store has new inodes and
 * ctimes: it misses, never hits stale bytes).
 *
 * Threads: one thread (the job's). */
#ifndef STRATA_LAYER_CACHE_H
#define STRATA_LAYER_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cancel.h"
#include "closure.h"
#include "layer_desc.h"
#include "strata_error.h"
#include "tar.h"

typedef struct strata_layer_cache strata_layer_cache;

int strata_layer_cache_open(const char *dir, strata_layer_cache **out, strata_error *err);
void strata_layer_cache_free(strata_layer_cache *c); /* accepts NULL */

typedef struct strata_layer_key_input {
	const char *codec; /* its name */
	int level;
	size_t chunk;
	const strata_tar_options *tar;
	const char *perms_file; /* NULL: none */
	char *const *ancestors;
	size_t nancestors;
	char *const *paths; /* the layer's store paths, in tar order */
	size_t npaths;
	const strata_closure *closure; /* where their narHashes are (may be NULL) */
	const struct strata_root_tree *root; /* a merged root instead of paths (root_tree.h), or NULL */
	const strata_cancel *cancel;
} strata_layer_key_input;

int strata_layer_cache_key(const strata_layer_key_input *in, char hex[65], strata_error *err);

/* 1 and *d filled (the blob's size checked; its digest is the user's to
 * check) on a hit, whose use time is updated; 0 on a miss. */
int strata_layer_cache_get(strata_layer_cache *c, const char key[65], strata_layer_desc *d, strata_error *err);

/* Stores the layer whose blob is at blob (hard-linked, or copied) and
 * whose descriptor is d. An entry of that key already there is kept. */
int strata_layer_cache_put(strata_layer_cache *c, const char key[65], const char *blob, const strata_layer_desc *d,
			   strata_error *err);

/* What pass 1 of a Docker archive learns of an uncompressed layer, kept
 * beside the entries (DIR/v1/<2 hex>/<key>.sums, written by one rename):
 * with it the layer is made once per archive instead of twice (pass 2
 * still checks size and CRC-32, so a stale record is an error, never a
 * wrong archive). */
typedef struct strata_layer_sums {
	char diff_id[65];
	uint64_t size;
	uint32_t crc32;
} strata_layer_sums;
int strata_layer_cache_get_sums(strata_layer_cache *c, const char key[65], strata_layer_sums *s);
int strata_layer_cache_put_sums(strata_layer_cache *c, const char key[65], const strata_layer_sums *s,
				strata_error *err);

/* Removes the least recently used entries until the cache holds at most
 * max_bytes of blobs, and what crashed writers left in tmp/. */
int strata_layer_cache_gc(strata_layer_cache *c, uint64_t max_bytes, json_t **report, strata_error *err);
/* {entries, bytes}. */
int strata_layer_cache_stats(strata_layer_cache *c, json_t **report, strata_error *err);

#endif
