/* strata_base_image: an image used as the base of a new image: its layers,
 * in order, with their diff_ids, and its config. It is
 *   - a Docker archive (docker save, nixpkgs' image tarballs; uncompressed,
 *     or gzip, bzip2, xz, zstd as a whole): the first image of its
 *     manifest.json, or the one whose RepoTags has the name and tag;
 *   - an OCI image layout directory ("DIR", or "DIR:TAG") or an oci-archive
 *     (a tar of one, without manifest.json): the image the tag names
 *     (org.opencontainers.image.ref.name, or io.containerd.image.name), or
 *     its only one. Its layers are blobs, compressed or not; every JSON blob
 *     is checked against its digest.
 *
 * Read as nixpkgs' stream script reads it (tar_index.h): manifest.json and
 * the member named by its first entry's Config, the members named by its
 * Layers, each the last member of that name. A compressed archive is
 * decompressed once into an anonymous temporary file in $TMPDIR (nothing is
 * left behind, whatever ends the run).
 *
 * Nothing is taken on trust: the numbers of layers and of diff_ids must
 * agree, every layer must be a regular member, and write_tar hashes the
 * layer's tar (a member may itself be compressed) against its diff_id and
 * checks that it is a tar. copy_layer copies the member's bytes as they are
 * and fails if they are not the bytes write_tar saw.
 *
 * Threads: open and free on one thread; write_tar and copy_layer may run
 * concurrently on different threads (they only pread). */
#ifndef STRATA_BASE_IMAGE_H
#define STRATA_BASE_IMAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "cancel.h"
#include "strata.h"
#include "strata_error.h"
#include "tar.h"
#include "tar_index.h"

typedef struct strata_base_image strata_base_image;

typedef struct strata_base_layer {
	const strata_tar_member *member; /* in the archive: name, header, size (a layout's blob: made up) */
	int fd;                          /* where member's data is */
	char diff_id[65];                /* hex, from the config */
	/* An OCI base: the blob's digest (hex), media type and codec; a Docker
	 * archive's layer: "" and NULL. */
	char digest[65];
	const char *media_type;
	strata_compress compress;
} strata_base_layer;

/* path names the archive in errors too. name and tag (NULL: any) pick the
 * image by its RepoTags; without them, the first image. */
int strata_base_image_open(const char *path, const char *name, const char *tag, const strata_cancel *cancel,
			   strata_base_image **out, strata_error *err);
size_t strata_base_image_nlayers(const strata_base_image *b);
const strata_base_layer *strata_base_image_layer(const strata_base_image *b, size_t i);
/* The image config (borrowed). */
const json_t *strata_base_image_config(const strata_base_image *b);
/* Layer i's tar (the member decompressed) into sink, or nowhere when sink
 * is NULL; fails unless it is a tar with the layer's diff_id. raw_hex (may
 * be NULL) gets the SHA-256 of the member's bytes, for copy_layer. */
int strata_base_image_write_tar(const strata_base_image *b, size_t i, const strata_cancel *cancel,
				strata_tar_sink_fn sink, void *arg, char raw_hex[65], strata_error *err);
/* The member's bytes into sink; fails unless their SHA-256 is raw_hex. */
int strata_base_image_copy_layer(const strata_base_image *b, size_t i, const strata_cancel *cancel,
				 const char raw_hex[65], strata_tar_sink_fn sink, void *arg, strata_error *err);
/* An OCI base: its layer blobs can be copied as they are into an OCI
 * output (copy_layer with the layer's digest). */
bool strata_base_image_is_oci(const strata_base_image *b);
void strata_base_image_free(strata_base_image *b); /* accepts NULL */

#endif
