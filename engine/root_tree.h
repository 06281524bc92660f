/* strata_root_tree: the root filesystem of a layer assembled from several
 * places, as nixpkgs' buildImage assembles it with `rsync -a SRC/ layer/`
 * for each copyToRoot path in turn, then adds the closure:
 *
 *   - merge: the entries of a host directory are added at "/": directories
 *     present in several sources are merged, otherwise the later source
 *     wins (a file replaces a directory and the reverse); a directory's
 *     mode is the last source's. Symlinks to directories are followed
 *     (rsync -k, nixpkgs' default) when the merge asks, else kept as
 *     symlinks. Only links that resolve inside the store directory or inside
 *     the source being merged are followed; any other link stays a link (a
 *     store path must never pull in the builder's /etc). A link cycle is an
 *     error.
 *   - synthetic directories (the store's ancestors) and symlinks;
 *   - store paths: walked as a whole when written (tar.h), at their path.
 *
 * Nothing of the sources is read at merge time but metadata (lstat, walked
 * with fs_tree.h, nothing followed but the dirlinks above); file bytes are
 * read when the tree is written, each file opened without following any
 * symlink on its path and checked to be the file that was lstat'ed.
 *
 * The tree is kept in memory, one node per entry (a copyToRoot tree is an
 * image's own files, small next to the closure, which is not expanded).
 *
 * Threads: build on one thread; then write and materialize only read it
 * and may run on any thread, also concurrently. */
#ifndef STRATA_ROOT_TREE_H
#define STRATA_ROOT_TREE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cancel.h"
#include "strata_error.h"
#include "tar.h"

typedef struct strata_root_tree strata_root_tree;

/* store_dir (normalised) bounds which dirlinks are followed; copied. */
strata_root_tree *strata_root_tree_create(const char *store_dir, const strata_cancel *cancel);
void strata_root_tree_free(strata_root_tree *t); /* accepts NULL */

/* Adds the entries of the directory src (a symlink to one is resolved
 * first) at "/", following dirlinks into the store when copy_dirlinks. */
int strata_root_tree_merge(strata_root_tree *t, const char *src, bool copy_dirlinks, strata_error *err);
/* An absolute path ("/nix/store"); parents are created as directories
 * (0755) where missing. A directory merges with an existing one. */
void strata_root_tree_add_dir(strata_root_tree *t, const char *path, mode_t mode);
void strata_root_tree_add_symlink(strata_root_tree *t, const char *path, const char *target);
void strata_root_tree_add_store_path(strata_root_tree *t, const char *path);

/* The bytes of regular files merged (store paths not counted). */
uint64_t strata_root_tree_bytes(const strata_root_tree *t);

/* Every entry, sorted as fs_tree.h walks (directories before their
 * entries, names in byte order), named by absolute path. */
int strata_root_tree_write(const strata_root_tree *t, strata_tar *tar, strata_error *err);

/* The merged entries but the store paths, copied into the existing empty
 * directory dir (file bytes copied, modes kept, owners not), for commands
 * to run in. */
int strata_root_tree_materialize(const strata_root_tree *t, const char *dir, strata_error *err);

/* What identifies the tree's bytes, for a cache key (layer_cache.h): line
 * for every entry (its path, what it is: a directory's mode; a file's mode,
 * size, device, inode and ctime, which any write changes; a link's target),
 * store for every store path (identified by the caller). */
typedef void (*strata_root_tree_line_fn)(void *arg, const char *path, const char *what, const char *target);
typedef int (*strata_root_tree_store_fn)(void *arg, const char *store_path, strata_error *err);
int strata_root_tree_fingerprint(const strata_root_tree *t, strata_root_tree_line_fn line,
				 strata_root_tree_store_fn store, void *arg, strata_error *err);

static inline void strata_root_tree_freep(strata_root_tree **t)
{
	strata_root_tree_free(*t);
}
#define cleanup_root_tree __attribute__((cleanup(strata_root_tree_freep)))

#endif
