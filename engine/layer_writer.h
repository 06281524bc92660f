/* strata_layer_writer: the parallel layer pipeline. Layers enter it as
 * streams of tar bytes; each stream is cut into fixed-size chunks (the
 * codec's chunk size, a constant of the format); each chunk becomes a
 * compress task on the pool; an in-order sink per layer hashes the
 * compressed bytes (the digest) and appends them to a temporary blob, taking
 * chunks by sequence number whoever finished them, while the stream's writer
 * hashes the tar bytes in order (the diff_id). finish renames every blob to
 * blobs/sha256/<digest>.
 *
 * Memory is bounded by a budget of chunk buffers for the whole writer (3 MiB
 * of chunks per core that can run, plus 2 MiB; at least one chunk per core
 * and two): a stream that finds it spent compresses its own
 * pending chunks rather than block. Peak memory depends on neither layer nor
 * image size, nor on the thread count.
 *
 * What goes into a layer is not the writer's business: layer_source.c
 * produces store trees, existing tars and synthesized entries through the
 * same stream API convert uses for archive members.
 *
 * Ownership: the writer borrows pool, codec and blob_dir (they outlive it);
 * a result pointer given to stream_open must stay valid until finish. A
 * stream belongs to its opener until close or abort, then to the writer.
 *
 * Threads: create, finish and free from one thread that is not a worker of
 * the pool. Streams may be opened from any thread, a worker included; each
 * stream is then used by the thread that opened it. */
#ifndef STRATA_LAYER_WRITER_H
#define STRATA_LAYER_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "cancel.h"
#include "layer_codec.h"
#include "sched_pool.h"
#include "strata_error.h"

typedef struct strata_layer_result {
	char digest[65];   /* sha256 hex of the blob */
	char diff_id[65];  /* sha256 hex of the tar */
	uint64_t size;     /* blob bytes */
	uint64_t tar_size; /* uncompressed bytes */
} strata_layer_result;

typedef struct strata_layer_writer_options {
	const strata_layer_codec *codec;
	int level; /* checked by the caller (strata_layer_codec_check_level) */
	/* Called (serialised) as chunks are written; bytes_total and
	 * layers_total are passed through. */
	strata_progress_fn progress;
	void *progress_arg;
	uint64_t bytes_total;
	size_t layers_total;
	/* Called (from a worker, quick, never concurrently for one layer) as
	 * soon as a layer's blob is complete: path is its temporary file,
	 * renamed to blobs/sha256/<digest> by finish. NULL: not called. */
	void (*blob_done)(void *arg, const char *path, const char digest[65], uint64_t size);
	void *blob_done_arg;
	const strata_cancel *cancel;
} strata_layer_writer_options;

typedef struct strata_layer_writer strata_layer_writer;
typedef struct strata_layer_stream strata_layer_stream;

/* blob_dir: an existing directory (blobs/sha256 of a layout). */
strata_layer_writer *strata_layer_writer_create(strata_pool *pool, const strata_layer_writer_options *o,
						const char *blob_dir);

/* Opens a layer. Fails once the writer has failed or is cancelled. */
int strata_layer_stream_open(strata_layer_writer *w, strata_layer_result *result, strata_layer_stream **out,
			     strata_error *err);
/* Appends tar bytes, in order. Waits (running its own compress tasks) while
 * the chunk budget is spent. After a failure anywhere in the writer, the
 * writer's first error. */
int strata_layer_stream_write(strata_layer_stream *s, const void *buf, size_t n, strata_error *err);
/* Ends the layer: diff_id and tar size are known now, the digest after
 * finish. The writer owns the stream from here on. */
int strata_layer_stream_close(strata_layer_stream *s, strata_error *err);
/* Gives up the layer because of why (moved into the writer: the first
 * error of the writer is what finish reports). The writer owns the stream
 * from here on. */
void strata_layer_stream_abort(strata_layer_stream *s, strata_error *why);

/* Runs fn(arg) on the pool as part of this writer: finish waits for it. */
void strata_layer_writer_spawn(strata_layer_writer *w, strata_task_fn fn, void *arg);
/* Fails the writer from a task spawned on it that produces a blob by other
 * means (why is moved into the writer, as abort does). */
void strata_layer_writer_fail(strata_layer_writer *w, strata_error *why);
const char *strata_layer_writer_blob_dir(const strata_layer_writer *w);
/* Whether the writer failed or was cancelled (producers stop early). */
bool strata_layer_writer_stopped(const strata_layer_writer *w);

/* Waits for every layer, then names the blobs. On failure, the first error. */
int strata_layer_writer_finish(strata_layer_writer *w, strata_error *err);
/* Waits for pending work; removes temporary blobs unless finish succeeded.
 * Accepts NULL. */
void strata_layer_writer_free(strata_layer_writer *w);

#endif
