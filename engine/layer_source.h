/* strata_layer_source: what goes into a layer, produced into a layer
 * writer's stream (layer_writer.h) by a task on the writer's pool:
 *   - store trees: the ancestors of the store directory, then each store
 *     path walked in tar order (tar.h);
 *   - an existing uncompressed tar (nixpkgs' customisation layer.tar),
 *     copied as is: it must be a regular file and parse as a tar to its end;
 *   - synthesized entries (directories and symlinks; --contents);
 *   - a base image's layer (base_image.h), its tar checked against its
 *     diff_id;
 *   - a merged root (root_tree.h): strata build's layer, a customised root.
 *
 * Ownership: a source and everything it points to, the tar options and the
 * result must stay valid until the writer finishes.
 *
 * Threads: spawn from the writer's owner thread; the producer runs on a
 * worker. */
#ifndef STRATA_LAYER_SOURCE_H
#define STRATA_LAYER_SOURCE_H

#include <stddef.h>

#include "layer_writer.h"
#include "tar.h"

typedef enum strata_layer_source_kind {
	STRATA_SOURCE_TREES,
	STRATA_SOURCE_TAR,
	STRATA_SOURCE_SYNTH,
	STRATA_SOURCE_BASE,
	STRATA_SOURCE_ROOT,
	STRATA_SOURCE_BLOB,
} strata_layer_source_kind;

/* A synthesized entry: a directory (target NULL) or a symlink. */
typedef struct strata_synth_entry {
	char *name;   /* absolute ("/bin"), no trailing '/' */
	char *target; /* symlink target, or NULL for a directory */
} strata_synth_entry;

typedef struct strata_layer_source {
	strata_layer_source_kind kind;
	char *const *ancestors;     /* TREES: directories first in the tar ("/nix", "/nix/store") */
	size_t nancestors;
	char *const *paths;         /* TREES: store paths, in tar order */
	size_t npaths;
	const char *tar_file;       /* TAR */
	const strata_synth_entry *entries; /* SYNTH: in tar order (sorted by the caller) */
	size_t nentries;
	const struct strata_base_image *base; /* BASE: the image and the layer's index in it */
	size_t base_layer;
	const struct strata_root_tree *root; /* ROOT: a merged root (root_tree.h) */
	const struct strata_layer_desc *desc; /* BLOB: a layer made by strata layer (layer_desc.h) */
	/* Members' owner and mode as this hook says (perms, fakeroot); not
	 * for TAR and BASE, which are copied as they are. */
	strata_tar_meta_fn meta;
	void *meta_arg;
} strata_layer_source;

/* Writes the layer's tar bytes into sink, in order, on the calling thread
 * (the producer below, or a writer that needs the bytes twice). */
int strata_layer_source_write(const strata_layer_source *src, const strata_tar_options *tar, strata_tar_sink_fn sink,
			      void *arg, strata_error *err);

/* The size of the tar that strata_layer_source_write would write now, found
 * without reading a file's data: trees walked and stat'ed (tar.h
 * sizes_only), a tar file's size; not for BASE and BLOB. A writer that
 * places the tar by it must still check what it gets: files may change. */
int strata_layer_source_size(const strata_layer_source *src, const strata_tar_options *tar, uint64_t *size,
			     strata_error *err);
/* Spawns the producer of src: it opens a stream of w, writes the layer and
 * closes it, or aborts it with the reason. */
void strata_layer_source_spawn(strata_layer_writer *w, const strata_layer_source *src, const strata_tar_options *tar,
			       strata_layer_result *result);

/* A layer made by strata layer linked (or, across file systems, copied)
 * into the writer's blob directory, checked against its descriptor: size,
 * and the SHA-256 of the very inode linked. */
void strata_layer_source_spawn_blob(strata_layer_writer *w, const strata_layer_source *src,
				    strata_layer_result *result);

/* What became of a layer looked up in the cache (layer_cache.h). */
enum { STRATA_CACHE_MISS, STRATA_CACHE_HIT, STRATA_CACHE_REBUILT };

/* A layer whose cache entry was found: its blob linked as spawn_blob does;
 * if the entry does not match its descriptor, the layer is made from
 * fallback instead and *state says REBUILT (else HIT). *state is written
 * by a worker: read it after the writer finished. */
void strata_layer_source_spawn_cached(strata_layer_writer *w, const struct strata_layer_desc *entry,
				      const strata_layer_source *fallback, const strata_tar_options *tar,
				      strata_layer_result *result, int *state);

/* A base layer of an OCI base (strata_base_image_is_oci) copied into the
 * writer's blob directory as it is, under its digest, after its tar was
 * checked against its diff_id; result gets the base's digest and sizes. */
void strata_layer_source_spawn_copy(strata_layer_writer *w, const strata_layer_source *src,
				    const strata_tar_options *tar, strata_layer_result *result);

#endif
