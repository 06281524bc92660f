/* strata_convert: a Docker archive (docker save, dockerTools' buildImage /
 * buildLayeredImage / streamLayeredImage output, Docker 25+ docker save with
 * an OCI layout inside) becomes an OCI image (nixpkgs' toOCIImage), in one
 * sequential pass over the archive: no seeking, no extraction to disk.
 *
 * The outer archive may be plain tar or gzip/zstd compressed, from a file or
 * stdin. Because manifest.json may come last (nixpkgs' stream layout), every
 * layer member is recompressed as it streams past (strata's engine, so the
 * bytes are strata's whatever the input compression) and matched to the
 * manifest at the end; JSON members are held in memory (bounded in size).
 * Each layer's diff_id is checked against its config; every RepoTags entry
 * becomes an index.json entry.
 *
 * Threads: call from a thread that is not a worker of the pool. */
#ifndef STRATA_CONVERT_H
#define STRATA_CONVERT_H

#include <jansson.h>
#include <stdbool.h>

#include "layer_build.h"
#include "oci_layout.h"
#include "sched_pool.h"
#include "strata_error.h"

typedef struct strata_convert_options {
	const char *input; /* a path, or "-" for stdin */
	const char *output;
	strata_layout_format format;
	bool force;
	const char *name, *tag; /* override the archive's RepoTags (one image only) */
	strata_compress compress;
	int level; /* 0: the compressor's default */
	void (*progress)(void *arg, uint64_t tar_bytes_done, uint64_t tar_bytes_total);
	void *progress_arg;
} strata_convert_options;

/* summary_ret: {output, images: [{manifest, config, refs, layers: [...]}]} */
int strata_convert(strata_pool *pool, const strata_convert_options *o, json_t **summary_ret,
		   strata_error *err);

#endif
