/* The layer pipeline; see layer_build.h for the data flow.
 *
 * Ordering: the producer of a layer is the only writer of its tar stream, so
 * it updates the diff_id hash in stream order as it fills chunks. Compress
 * tasks finish in any order; sink_put keeps a per-layer list sorted by
 * sequence number and whichever thread finds the next expected chunk drains
 * the list (hash + write) while others just enqueue and leave. */
#define _GNU_SOURCE
#include "layer_build.h"
#include "digest.h"
#include "file.h"
#include "strata_util.h"
#include "tar_check.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

typedef struct codec_ctx {
	struct codec_ctx *next;
	struct libdeflate_compressor *gz;
	ZSTD_CCtx *zs;
} codec_ctx;

typedef struct chunk {
	struct chunk *next; /* budget free list, or a layer's reorder list */
	struct strata_layer_stream *job;
	uint64_t seq;
	unsigned char *in;
	size_t in_len;
	unsigned char *out; /* compressed bytes (== in for STRATA_COMPRESS_NONE) */
	size_t out_len;
} chunk;

struct strata_layer_writer {
	strata_pool *pool;
	strata_build_options o; /* a copy: callers' options may go away */
	strata_group group; /* every producer and compress task */
	size_t chunk_size, out_cap;

	/* Chunk budget. budget_mutex protects free_list and allocated;
	 * budget_cond is signalled when a chunk comes back. */
	pthread_mutex_t budget_mutex;
	pthread_cond_t budget_cond;
	chunk *free_list;
	size_t allocated, max_chunks;

	/* Codec contexts, reused by whichever task compresses next. At most
	 * one per chunk in flight, so their number (and memory) follows the
	 * budget, not the thread count. codec_mutex protects codecs. */
	pthread_mutex_t codec_mutex;
	struct codec_ctx *codecs;

	/* First error wins; err_mutex protects err. */
	atomic_int failed;
	pthread_mutex_t err_mutex;
	strata_error err;

	pthread_mutex_t progress_mutex;
	uint64_t progress_bytes; /* under progress_mutex */

	/* Owner-thread state. */
	const char *blob_dir;
	struct strata_layer_stream **jobs;
	size_t njobs;
	bool finished;
};
typedef struct strata_layer_writer build;

struct strata_layer_stream {
	build *b;
	const strata_layer_source *src;
	strata_layer_result *res;
	size_t index;
	const char *blob_dir;
	char *tmp_path;
	int fd;

	/* Producer-private. */
	chunk *cur;
	uint64_t next_seq;
	strata_sha256 *tar_md;
	uint64_t tar_size;

	/* Sink state, under sink_mutex. */
	pthread_mutex_t sink_mutex;
	chunk *pending; /* sorted by seq */
	uint64_t sink_seq;
	uint64_t nchunks; /* set by the producer when the stream ends; UINT64_MAX before */
	bool draining;
	bool closed; /* fd closed after the last chunk (or never opened) */
	strata_sha256 *blob_md; /* touched only by the drainer */
	uint64_t blob_size;  /* touched only by the drainer */
};
typedef struct strata_layer_stream layer_job;

const char *strata_compress_media_type(strata_compress c)
{
	switch (c) {
	case STRATA_COMPRESS_GZIP:
		return "application/vnd.oci.image.layer.v1.tar+gzip";
	case STRATA_COMPRESS_ZSTD:
		return "application/vnd.oci.image.layer.v1.tar+zstd";
	case STRATA_COMPRESS_NONE:
		return "application/vnd.oci.image.layer.v1.tar";
	}
	return NULL;
}

static void fail(build *b, strata_error *e)
{
	pthread_mutex_lock(&b->err_mutex);
	if (!atomic_load(&b->failed)) {
		b->err.code = e->code;
		b->err.msg = e->msg;
		e->msg = NULL;
		atomic_store(&b->failed, 1);
	}
	pthread_mutex_unlock(&b->err_mutex);
	strata_error_clear(e);
}

static bool stopped(build *b)
{
	return atomic_load_explicit(&b->failed, memory_order_relaxed) ||
	       strata_cancelled();
}

/* ---------- budget ---------- */

static chunk *chunk_acquire(build *b)
{
	pthread_mutex_lock(&b->budget_mutex);
	for (;;) {
		if (b->free_list != NULL) {
			chunk *c = b->free_list;
			b->free_list = c->next;
			pthread_mutex_unlock(&b->budget_mutex);
			return c;
		}
		if (b->allocated < b->max_chunks) {
			b->allocated++;
			pthread_mutex_unlock(&b->budget_mutex);
			chunk *c = strata_xcalloc(1, sizeof *c);
			c->in = strata_xmalloc(b->chunk_size);
			c->out = b->o.compress == STRATA_COMPRESS_NONE ? NULL : strata_xmalloc(b->out_cap);
			return c;
		}
		/* Budget spent: compress one of our own pending chunks rather
		 * than idle this core. Only our own: helping with any task could
		 * nest another layer's whole producer on this stack. */
		pthread_mutex_unlock(&b->budget_mutex);
		bool ran = strata_pool_help_local(b->pool);
		pthread_mutex_lock(&b->budget_mutex);
		if (!ran && b->free_list == NULL) {
			/* Every chunk in flight is being compressed elsewhere
			 * or waits for one that is; a timed wait also lets us
			 * look for stealable work again soon. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&b->budget_cond, &b->budget_mutex, &ts);
		}
	}
}

static void chunk_release(build *b, chunk *c)
{
	pthread_mutex_lock(&b->budget_mutex);
	c->next = b->free_list;
	b->free_list = c;
	pthread_cond_signal(&b->budget_cond);
	pthread_mutex_unlock(&b->budget_mutex);
}

/* ---------- sink ---------- */

static void sink_process(layer_job *j, chunk *c)
{
	build *b = j->b;
	if (stopped(b))
		return;
	const unsigned char *data = c->out ? c->out : c->in;
	size_t n = c->out ? c->out_len : c->in_len;
	strata_sha256_update(j->blob_md, data, n);
	j->blob_size += n;
	int r = strata_file_write_all(j->fd, data, n);
	if (r < 0) {
		strata_error e = STRATA_ERROR_INIT;
		strata_error_set(&e, -r, "cannot write layer blob in '%s'", j->blob_dir);
		fail(b, &e);
		return;
	}
	if (b->o.progress) {
		pthread_mutex_lock(&b->progress_mutex);
		b->progress_bytes += c->in_len;
		b->o.progress(b->o.progress_arg, b->progress_bytes);
		pthread_mutex_unlock(&b->progress_mutex);
	}
}

/* Called with sink_mutex held: once every chunk of the stream is written,
 * the blob's fd is closed, so open fds scale with the layers in flight, not
 * with the layers of the image. */
static void sink_maybe_close(layer_job *j)
{
	if (j->closed || j->sink_seq != j->nchunks)
		return;
	j->closed = true;
	if (j->fd >= 0 && close(j->fd) < 0 && !stopped(j->b)) {
		strata_error e = STRATA_ERROR_INIT;
		strata_error_set(&e, errno, "cannot write layer blob in '%s'", j->blob_dir);
		fail(j->b, &e);
	}
	j->fd = -1;
}

static void sink_put(layer_job *j, chunk *c)
{
	pthread_mutex_lock(&j->sink_mutex);
	chunk **pp = &j->pending;
	while (*pp != NULL && (*pp)->seq < c->seq)
		pp = &(*pp)->next;
	c->next = *pp;
	*pp = c;
	if (j->draining) {
		pthread_mutex_unlock(&j->sink_mutex);
		return;
	}
	j->draining = true;
	while (j->pending != NULL && j->pending->seq == j->sink_seq) {
		chunk *head = j->pending;
		j->pending = head->next;
		pthread_mutex_unlock(&j->sink_mutex);
		sink_process(j, head);
		chunk_release(j->b, head);
		pthread_mutex_lock(&j->sink_mutex);
		j->sink_seq++;
	}
	sink_maybe_close(j);
	j->draining = false;
	pthread_mutex_unlock(&j->sink_mutex);
}

/* ---------- compress ---------- */

static codec_ctx *codec_take(build *b)
{
	pthread_mutex_lock(&b->codec_mutex);
	codec_ctx *c = b->codecs;
	if (c != NULL)
		b->codecs = c->next;
	pthread_mutex_unlock(&b->codec_mutex);
	if (c != NULL)
		return c;
	c = strata_xcalloc(1, sizeof *c);
	if (b->o.compress == STRATA_COMPRESS_GZIP) {
		if ((c->gz = libdeflate_alloc_compressor(b->o.level)) == NULL)
			strata_oom();
	} else {
		if ((c->zs = ZSTD_createCCtx()) == NULL)
			strata_oom();
		ZSTD_CCtx_setParameter(c->zs, ZSTD_c_compressionLevel, b->o.level);
		ZSTD_CCtx_setParameter(c->zs, ZSTD_c_checksumFlag, 0);
	}
	return c;
}

static void codec_give(build *b, codec_ctx *c)
{
	pthread_mutex_lock(&b->codec_mutex);
	c->next = b->codecs;
	b->codecs = c;
	pthread_mutex_unlock(&b->codec_mutex);
}

static void compress_task(void *arg)
{
	chunk *c = arg;
	build *b = c->job->b;
	if (!stopped(b) && b->o.compress != STRATA_COMPRESS_NONE) {
		codec_ctx *ctx = codec_take(b);
		if (b->o.compress == STRATA_COMPRESS_GZIP) {
			c->out_len = libdeflate_gzip_compress(ctx->gz, c->in, c->in_len, c->out, b->out_cap);
			assert(c->out_len > 0); /* out_cap is the bound */
		} else {
			size_t r = ZSTD_compress2(ctx->zs, c->out, b->out_cap, c->in, c->in_len);
			if (ZSTD_isError(r)) {
				strata_error e = STRATA_ERROR_INIT;
				strata_error_set(&e, 0, "zstd: %s", ZSTD_getErrorName(r));
				fail(b, &e);
				r = 0;
			}
			c->out_len = r;
		}
		codec_give(b, ctx);
	}
	sink_put(c->job, c);
}

/* ---------- produce ---------- */

static void submit(layer_job *j)
{
	chunk *c = j->cur;
	j->cur = NULL;
	c->job = j;
	c->seq = j->next_seq++;
	strata_pool_spawn(j->b->pool, &j->b->group, compress_task, c);
}

static int writer_error(build *b, strata_error *err);

int strata_layer_stream_write(strata_layer_stream *j, const void *buf, size_t n, strata_error *err)
{
	build *b = j->b;
	if (stopped(b))
		return writer_error(b, err);
	strata_sha256_update(j->tar_md, buf, n);
	j->tar_size += n;
	const unsigned char *p = buf;
	while (n > 0) {
		/* A full chunk is submitted only when more bytes arrive, so the
		 * last chunk is known at finish whatever the stream size. */
		if (j->cur != NULL && j->cur->in_len == b->chunk_size)
			submit(j);
		if (j->cur == NULL) {
			j->cur = chunk_acquire(b);
			j->cur->in_len = 0;
		}
		size_t take = b->chunk_size - j->cur->in_len;
		if (take > n)
			take = n;
		memcpy(j->cur->in + j->cur->in_len, p, take);
		j->cur->in_len += take;
		p += take;
		n -= take;
	}
	return 0;
}

static int producer_sink(void *arg, const void *buf, size_t n, strata_error *err)
{
	return strata_layer_stream_write(arg, buf, n, err);
}

/* An existing layer tar (nixpkgs' customisation layer.tar), copied as is:
 * it must be a regular file (a fifo would block the worker in open) and
 * parse as a tar to its end, or it would become a layer no client reads. */
static int copy_tar_file(layer_job *j, const char *file, strata_error *err)
{
	cleanup_close int fd = strata_file_open_regular(AT_FDCWD, file, 0, "layer tar", NULL, err);
	if (fd < 0)
		return fd;
	unsigned char *buf = strata_xmalloc(1u << 20);
	strata_tar_check tc;
	strata_tar_check_init(&tc);
	int r = 0;
	for (;;) {
		ssize_t n = read(fd, buf, 1u << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = strata_error_set(err, errno, "cannot read '%s'", file);
			break;
		}
		if (n == 0) {
			r = strata_tar_check_end(&tc, file, err);
			break;
		}
		if ((r = strata_tar_check_feed(&tc, buf, (size_t)n, file, err)) < 0 ||
		    (r = producer_sink(j, buf, (size_t)n, err)) < 0)
			break;
	}
	strata_tar_check_fini(&tc);
	free(buf);
	return r;
}

static int produce(layer_job *j, strata_error *err)
{
	build *b = j->b;
	const strata_layer_source *s = j->src;
	if (s->tar_file != NULL)
		return copy_tar_file(j, s->tar_file, err);

	strata_tar *t = strata_tar_create(&b->o.tar, producer_sink, j);
	int r = 0;
	if (s->synth != NULL) {
		for (size_t i = 0; i < s->nsynth && r == 0; i++)
			r = s->synth[i].target ? strata_tar_add_symlink(t, s->synth[i].name, s->synth[i].target, err)
					       : strata_tar_add_dir(t, s->synth[i].name, 0755, err);
	} else {
		r = strata_tar_add_ancestors(t, b->o.store_dir, err);
		for (size_t i = 0; i < s->nstore_paths && r == 0; i++)
			r = strata_tar_add_tree(t, s->store_paths[i], err);
	}
	if (r == 0)
		r = strata_tar_finish(t, err);
	strata_tar_free(t);
	return r;
}

static int stream_start(layer_job *j, strata_error *err)
{
	j->fd = open(j->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (j->fd < 0)
		return strata_error_set(err, errno, "cannot create '%s'", j->tmp_path);
	return 0;
}

int strata_layer_stream_close(strata_layer_stream *j, strata_error *err)
{
	(void)err;
	/* An empty layer (an empty layer.tar) still needs one chunk: a
	 * compressed blob of zero bytes would not be valid gzip or zstd. */
	if (j->cur == NULL && j->next_seq == 0 && !stopped(j->b)) {
		j->cur = chunk_acquire(j->b);
		j->cur->in_len = 0;
	}
	if (j->cur != NULL)
		submit(j);
	pthread_mutex_lock(&j->sink_mutex);
	j->nchunks = j->next_seq;
	if (!j->draining)
		sink_maybe_close(j); /* every chunk may already be written */
	pthread_mutex_unlock(&j->sink_mutex);
	strata_sha256_final_hex(j->tar_md, j->res->diff_id);
	j->res->tar_size = j->tar_size;
	return 0;
}

/* A failed producer gives back its unfinished chunk. */
static void stream_abandon(layer_job *j)
{
	if (j->cur != NULL) {
		chunk_release(j->b, j->cur);
		j->cur = NULL;
	}
}

static void producer_task(void *arg)
{
	layer_job *j = arg;
	build *b = j->b;
	strata_error err = STRATA_ERROR_INIT;
	if (stopped(b))
		return;
	int r = stream_start(j, &err);
	if (r == 0)
		r = produce(j, &err);
	if (r == 0)
		r = strata_layer_stream_close(j, &err);
	if (r < 0) {
		fail(b, &err);
		stream_abandon(j);
	}
}

/* ---------- driver ---------- */

static int finalize_layer(layer_job *j, strata_error *err)
{
	strata_sha256_final_hex(j->blob_md, j->res->digest);
	j->res->size = j->blob_size;
	assert(j->closed && j->fd < 0);
	cleanup_free char *final = strata_xasprintf("%s/%s", j->blob_dir, j->res->digest);
	if (rename(j->tmp_path, final) < 0)
		return strata_error_set(err, errno, "cannot rename blob to '%s'", final);
	return 0;
}

strata_layer_writer *strata_layer_writer_create(strata_pool *pool, const strata_build_options *o,
						const char *blob_dir, strata_error *err)
{
	build *b = strata_xcalloc(1, sizeof *b);
	b->pool = pool;
	b->o = *o;
	b->blob_dir = blob_dir;
	/* Chunks in flight only help while a core can compress them: the
	 * budget follows the cores this process may run on, not --threads. */
	unsigned threads = strata_pool_threads(pool);
	cpu_set_t set;
	unsigned cores = sched_getaffinity(0, sizeof set, &set) == 0 ? (unsigned)CPU_COUNT(&set) : threads;
	unsigned running = threads < cores ? threads : cores;
	b->chunk_size = o->compress == STRATA_COMPRESS_ZSTD ? STRATA_CHUNK_ZSTD
			: o->compress == STRATA_COMPRESS_GZIP ? STRATA_CHUNK_GZIP
							      : STRATA_CHUNK_NONE;
	if (o->compress == STRATA_COMPRESS_GZIP) {
		struct libdeflate_compressor *c = libdeflate_alloc_compressor(o->level);
		if (c == NULL) {
			free(b);
			strata_error_set(err, 0, "invalid gzip level %d", o->level);
			return NULL;
		}
		b->out_cap = libdeflate_gzip_compress_bound(c, b->chunk_size);
		libdeflate_free_compressor(c);
	} else if (o->compress == STRATA_COMPRESS_ZSTD) {
		b->out_cap = ZSTD_compressBound(b->chunk_size);
	}
	/* Enough chunks to keep every worker compressing while the sinks and
	 * producers catch up; independent of image size. */
	b->max_chunks = 3 * (size_t)(running ? running : 1) + 2;
	pthread_mutex_init(&b->codec_mutex, NULL);
	pthread_mutex_init(&b->budget_mutex, NULL);
	pthread_cond_init(&b->budget_cond, NULL);
	pthread_mutex_init(&b->err_mutex, NULL);
	pthread_mutex_init(&b->progress_mutex, NULL);
	atomic_init(&b->failed, 0);
	atomic_init(&b->group.pending, 0);
	return b;
}

static layer_job *job_new(build *b, strata_layer_result *result)
{
	layer_job *j = strata_xcalloc(1, sizeof *j);
	j->b = b;
	j->res = result;
	j->index = b->njobs;
	j->blob_dir = b->blob_dir;
	j->fd = -1;
	j->nchunks = UINT64_MAX;
	pthread_mutex_init(&j->sink_mutex, NULL);
	j->tar_md = strata_sha256_create();
	j->blob_md = strata_sha256_create();
	j->tmp_path = strata_xasprintf("%s/.tmp-layer-%zu", b->blob_dir, j->index);
	b->jobs = strata_xrealloc(b->jobs, (b->njobs + 1) * sizeof *b->jobs);
	b->jobs[b->njobs++] = j;
	return j;
}

void strata_layer_writer_add_source(strata_layer_writer *b, const strata_layer_source *src,
				    strata_layer_result *result)
{
	layer_job *j = job_new(b, result);
	j->src = src;
	strata_pool_spawn(b->pool, &b->group, producer_task, j);
}

int strata_layer_stream_open(strata_layer_writer *b, strata_layer_result *result,
			     strata_layer_stream **out, strata_error *err)
{
	if (stopped(b))
		return writer_error(b, err);
	layer_job *j = job_new(b, result);
	int r = stream_start(j, err);
	if (r < 0)
		return r;
	*out = j;
	return 0;
}

static int writer_error(build *b, strata_error *err)
{
	if (atomic_load(&b->failed)) {
		pthread_mutex_lock(&b->err_mutex);
		strata_error_clear(err);
		err->code = b->err.code;
		err->msg = strata_xstrdup(b->err.msg ? b->err.msg : "failed");
		pthread_mutex_unlock(&b->err_mutex);
		return -1;
	}
	if (strata_cancelled())
		return strata_error_set(err, 0, "interrupted");
	return 0;
}

int strata_layer_writer_finish(strata_layer_writer *b, strata_error *err)
{
	strata_pool_wait(b->pool, &b->group);
	int r = writer_error(b, err);
	for (size_t i = 0; i < b->njobs && r == 0; i++)
		r = finalize_layer(b->jobs[i], err);
	b->finished = r == 0;
	return r;
}

void strata_layer_writer_free(strata_layer_writer *b)
{
	if (b == NULL)
		return;
	/* Tasks first: they may still use their jobs. Then a stream the
	 * caller abandoned mid-way still holds a chunk: return it. */
	strata_pool_wait(b->pool, &b->group);
	for (size_t i = 0; i < b->njobs; i++)
		stream_abandon(b->jobs[i]);
	for (size_t i = 0; i < b->njobs; i++) {
		layer_job *j = b->jobs[i];
		if (j->fd >= 0)
			close(j->fd);
		if (!b->finished)
			unlink(j->tmp_path);
		free(j->tmp_path);
		strata_sha256_free(j->tar_md);
		strata_sha256_free(j->blob_md);
		pthread_mutex_destroy(&j->sink_mutex);
		free(j);
	}
	free(b->jobs);
	while (b->free_list != NULL) {
		chunk *c = b->free_list;
		b->free_list = c->next;
		free(c->in);
		free(c->out);
		free(c);
	}
	while (b->codecs != NULL) {
		codec_ctx *c = b->codecs;
		b->codecs = c->next;
		libdeflate_free_compressor(c->gz);
		ZSTD_freeCCtx(c->zs);
		free(c);
	}
	pthread_mutex_destroy(&b->codec_mutex);
	strata_error_clear(&b->err);
	pthread_mutex_destroy(&b->budget_mutex);
	pthread_cond_destroy(&b->budget_cond);
	pthread_mutex_destroy(&b->err_mutex);
	pthread_mutex_destroy(&b->progress_mutex);
	free(b);
}

int strata_layers_build(strata_pool *pool, const strata_build_options *o, const char *blob_dir,
			const strata_layer_source *sources, size_t n, strata_layer_result *results,
			strata_error *err)
{
	strata_layer_writer *w = strata_layer_writer_create(pool, o, blob_dir, err);
	if (w == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		strata_layer_writer_add_source(w, &sources[i], &results[i]);
	int r = strata_layer_writer_finish(w, err);
	strata_layer_writer_free(w);
	return r;
}
