/* strata_layers_build: builds every layer blob of an image in one parallel
 * pass on the pool.
 *
 * Per layer, one producer task walks the sources and writes the tar stream;
 * the stream is cut into fixed-size chunks (a constant of the format per
 * compressor, never dependent on thread count); each chunk becomes a
 * compress task (one gzip member per chunk with libdeflate, one zstd frame
 * per chunk, or the bytes as they are). The producer hashes the tar bytes in
 * order (diff_id); an in-order sink per layer hashes the compressed bytes
 * (digest) and appends them to a temporary blob file, taking chunks by
 * sequence number whoever finished them. At the end the blob is renamed to
 * blobs/sha256/<digest>.
 *
 * Memory is bounded by a budget of chunk buffers for the whole build (a few
 * per worker); a producer that finds the budget spent runs pending tasks
 * itself. Peak memory does not grow with layer or image size.
 *
 * Threads: call from a thread that is not a worker of `pool`. */
#ifndef STRATA_LAYER_BUILD_H
#define STRATA_LAYER_BUILD_H

#include <stdatomic.h>
#include <stdint.h>

#include "sched_pool.h"
#include "strata_error.h"
#include "tar_stream.h"

typedef enum strata_compress {
	STRATA_COMPRESS_GZIP,
	STRATA_COMPRESS_ZSTD,
	STRATA_COMPRESS_NONE,
} strata_compress;

/* Chunk sizes: constants of the output format (changing one changes every
 * digest). zstd's window is larger than deflate's, so bigger frames. */
#define STRATA_CHUNK_GZIP (1u << 20)
#define STRATA_CHUNK_ZSTD (4u << 20)
#define STRATA_CHUNK_NONE (1u << 20)

/* A customisation-layer entry built in memory (--contents). */
typedef struct strata_synth_entry {
	char *name;   /* relative, no leading '/', no trailing '/' */
	char *target; /* symlink target, or NULL for a directory */
} strata_synth_entry;

typedef struct strata_layer_source {
	/* Exactly one of these kinds: */
	char **store_paths; /* a store layer: ancestors of store_dir, then each path */
	size_t nstore_paths;
	const char *tar_file; /* an existing uncompressed tar, copied as is */
	strata_synth_entry *synth; /* in-memory entries (sorted by the caller) */
	size_t nsynth;
} strata_layer_source;

typedef struct strata_layer_result {
	char digest[65];  /* sha256 hex of the blob */
	char diff_id[65]; /* sha256 hex of the tar */
	uint64_t size;     /* blob bytes */
	uint64_t tar_size; /* uncompressed bytes */
} strata_layer_result;

typedef struct strata_build_options {
	strata_compress compress;
	int level;             /* compressor level (gzip 1-12, zstd 1-19) */
	const char *store_dir; /* for ancestors of store layers */
	strata_tar_options tar;
	/* Called (from any worker, serialised) after each layer is written. */
	void (*progress)(void *arg, uint64_t tar_bytes_done);
	void *progress_arg;
} strata_build_options;

/* The pipeline as an object, for producers of any kind.
 *
 * A writer owns the chunk budget, the per-worker codecs and the first error
 * of a build. Layers enter it two ways: add_source spawns a producer task
 * that walks a source on the pool; a stream lets the calling thread push a
 * layer's tar bytes itself (convert reads one archive sequentially). Either
 * way each layer's chunks are compressed on the pool, hashed in order and
 * written to a temporary blob; finish waits for everything and renames each
 * blob to blobs/sha256/<digest>, filling the results.
 *
 * Threads: the writer's functions are called from one thread that is not a
 * worker of the pool; a stream is used by the thread that opened it.
 * result pointers must stay valid until finish. */
typedef struct strata_layer_writer strata_layer_writer;
typedef struct strata_layer_stream strata_layer_stream;

strata_layer_writer *strata_layer_writer_create(strata_pool *pool, const strata_build_options *o,
						const char *blob_dir, strata_error *err);
void strata_layer_writer_add_source(strata_layer_writer *w, const strata_layer_source *src,
				    strata_layer_result *result);
int strata_layer_stream_open(strata_layer_writer *w, strata_layer_result *result,
			     strata_layer_stream **out, strata_error *err);
/* Appends tar bytes, in order. Blocks (briefly) while the chunk budget is
 * spent. */
int strata_layer_stream_write(strata_layer_stream *s, const void *buf, size_t n, strata_error *err);
/* Ends the layer: diff_id and tar size are known now; the digest after
 * finish. The stream belongs to the writer from here on. */
int strata_layer_stream_close(strata_layer_stream *s, strata_error *err);
/* Waits for every layer, then names the blobs. On failure, the first error. */
int strata_layer_writer_finish(strata_layer_writer *w, strata_error *err);
/* Waits for pending work; removes temporary blobs unless finish succeeded.
 * Accepts NULL. */
void strata_layer_writer_free(strata_layer_writer *w);

/* Builds n layers into blob_dir (an existing directory: blobs/sha256).
 * results[i] is filled for source i. */
int strata_layers_build(strata_pool *pool, const strata_build_options *o, const char *blob_dir,
			const strata_layer_source *sources, size_t n, strata_layer_result *results,
			strata_error *err);

const char *strata_compress_media_type(strata_compress c);

#endif
