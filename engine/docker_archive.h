/* strata_docker_archive: an image plan written as a Docker archive (Docker
 * Image Spec v1.2, what docker load reads) with the bytes nixpkgs' stream
 * script writes for the same conf.json: for each layer a member
 * "<diff_id>/layer.tar" holding its uncompressed tar (a base image's layers
 * copied with their member headers, the customisation layer with the
 * metadata of its layer.tar), then "<config digest>.json" and manifest.json
 * (docker_image.h), in CPython tarfile's encoding (tar_header.h).
 *
 * A member's header holds its size and the digest that names it, before
 * its bytes. Into a stream (a pipe), two passes, as the script makes them:
 * first every layer is made and hashed in parallel on the pool, its bytes
 * dropped; then, in order, each layer is made again and streamed into the
 * archive, checked against the first pass (size and CRC-32), so that a
 * file changing in between is an error and never a member named by the
 * wrong digest. The second pass of a layer runs while the first pass of
 * later layers goes on.
 *
 * Into a new file, one pass: a layer's place in the file follows from the
 * sizes of the layers before it, which a walk that stats but does not read
 * finds (tar.h sizes_only) while the first layers are made; each layer is
 * made once, by its task, into its place, and hashed as it is; the calling
 * thread writes the headers around them in order. A layer that comes out
 * another size than the one its successors were placed by is an error;
 * blocks of zeros are left holes. Bytes are the stream's.
 *
 * Memory is a few buffers per thread whatever the image size, and nothing
 * is written to disk but the archive.
 *
 * Ownership: plan and options are borrowed; results has plan->nlayers
 * entries (digest = diff_id and size = tar size, but for a base layer:
 * the digest and size of its member).
 *
 * Threads: call from a thread that is not a worker of pool. */
#ifndef STRATA_DOCKER_ARCHIVE_H
#define STRATA_DOCKER_ARCHIVE_H

#include "image_plan.h"
#include "layer_writer.h"
#include "sched_pool.h"
#include "strata.h"

typedef struct strata_docker_archive_options {
	int fd;              /* where the archive goes: a file, a pipe */
	const char *fd_name; /* for errors ("standard output", a path) */
	/* fd is a new empty file of the caller's (an output's temporary, gone
	 * if the write fails): the archive is written at offsets, in one pass
	 * (below). Otherwise it is a stream, in two. */
	bool fd_is_new_file;
	strata_progress_fn progress;
	void *progress_arg;
	const strata_cancel *cancel;
	/* Per layer, pass 1's result when already known (a cache record), or
	 * NULL: that layer is not made in pass 1; may be NULL. */
	const struct strata_layer_sums *const *known;
	/* Per layer, filled with pass 1's result (for the cache); may be NULL. */
	struct strata_layer_sums *learned;
} strata_docker_archive_options;

typedef struct strata_docker_archive_result {
	char config_hex[65]; /* the image ID */
	char *repo_tag;      /* the RepoTags entry written (owned), or NULL */
} strata_docker_archive_result;

int strata_docker_archive_write(strata_pool *pool, const strata_image_plan *p, const strata_docker_archive_options *o,
				strata_layer_result *results, strata_docker_archive_result *res, strata_error *err);

#endif
