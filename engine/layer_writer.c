/* The layer pipeline; see layer_writer.h for the data flow.
 *
 * Ordering: the opener of a stream is the only writer of its tar bytes, so
 * it updates the diff_id hash in stream order as it fills chunks. Compress
 * tasks finish in any order; sink_put keeps a per-layer list sorted by
 * sequence number and whichever thread finds the next expected chunk drains
 * the list (hash + write) while others just enqueue and leave.
 *
 * Locks: sink_mutex (one per stream) may be held while taking err_mutex
 * (through fail), never the reverse. budget_mutex, codec_mutex,
 * streams_mutex and progress_mutex are leaves: nothing else is taken while
 * one is held. */
#define _GNU_SOURCE
#include "layer_writer.h"
#include "alloc.h"
#include "file.h"
#include "sha256.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct codec_ctx {
	struct codec_ctx *next;
	void *ctx;
} codec_ctx;

typedef struct chunk {
	struct chunk *next; /* budget free list, or a stream's reorder list */
	strata_layer_stream *stream;
	uint64_t seq;
	unsigned char *in;
	size_t in_len;
	unsigned char *out; /* compressed bytes; NULL for the none codec (in is written) */
	size_t out_len;
	unsigned char *dict; /* framed codecs: the bytes before in */
	size_t dict_len;
} chunk;

struct strata_layer_writer {
	strata_pool *pool;                /* borrowed */
	strata_layer_writer_options o;    /* a copy; o.codec borrowed */
	const char *blob_dir;             /* borrowed */
	strata_group group;               /* every producer and compress task */
	size_t chunk_size, out_cap;

	/* The chunk budget. budget_mutex protects free_list and allocated;
	 * budget_cond is signalled when a chunk comes back. */
	pthread_mutex_t budget_mutex;
	pthread_cond_t budget_cond;
	chunk *free_list;
	size_t allocated, max_chunks;

	/* Codec contexts, reused by whichever task compresses next: at most
	 * one per chunk in flight. codec_mutex protects codecs. */
	pthread_mutex_t codec_mutex;
	codec_ctx *codecs;

	/* The first error wins; err_mutex protects err. */
	atomic_int failed;
	pthread_mutex_t err_mutex;
	strata_error err;

	pthread_mutex_t progress_mutex;
	strata_progress progress; /* under progress_mutex */

	/* Every stream opened, in open order. streams_mutex protects them. */
	pthread_mutex_t streams_mutex;
	strata_layer_stream **streams;
	size_t nstreams;
	bool finished; /* owner thread only */
};

struct strata_layer_stream {
	strata_layer_writer *w;      /* borrowed */
	strata_layer_result *res;    /* borrowed, filled at close and finish */
	char *tmp_path;
	int fd;

	/* Opener-private until close. */
	chunk *cur;
	uint64_t next_seq;
	strata_sha256 *tar_md;
	uint64_t tar_size;
	unsigned char *tail; /* framed codecs: the last dict_size bytes submitted */
	size_t tail_len;

	/* Sink state, under sink_mutex. */
	pthread_mutex_t sink_mutex;
	chunk *pending; /* sorted by seq */
	uint64_t sink_seq;
	uint64_t nchunks; /* known at close; UINT64_MAX before */
	bool draining;
	bool closed;           /* fd closed after the last chunk (or never opened) */
	bool named;            /* res->digest and size set when it closed */
	strata_sha256 *blob_md; /* touched only by the drainer */
	uint64_t blob_size;     /* touched only by the drainer */
	uint32_t check;         /* framed codecs: the checksum so far (drainer) */
};

/* err's message becomes the writer's first error (or is dropped). */
static void fail(strata_layer_writer *w, strata_error *e)
{
	pthread_mutex_lock(&w->err_mutex);
	if (!atomic_load(&w->failed)) {
		strata_error_move(&w->err, e);
		atomic_store(&w->failed, 1);
	}
	pthread_mutex_unlock(&w->err_mutex);
	strata_error_clear(e);
}

void strata_layer_writer_fail(strata_layer_writer *w, strata_error *why)
{
	fail(w, why);
}

const char *strata_layer_writer_blob_dir(const strata_layer_writer *w)
{
	return w->blob_dir;
}

bool strata_layer_writer_stopped(const strata_layer_writer *w)
{
	return atomic_load_explicit(&w->failed, memory_order_relaxed) || strata_cancel_requested(w->o.cancel);
}

static int writer_error(strata_layer_writer *w, strata_error *err)
{
	if (atomic_load(&w->failed)) {
		pthread_mutex_lock(&w->err_mutex);
		strata_error_set(err, 0, "%s", w->err.msg ? w->err.msg : "failed");
		err->code = w->err.code;
		pthread_mutex_unlock(&w->err_mutex);
		return -1;
	}
	if (strata_cancel_requested(w->o.cancel))
		return strata_error_set(err, 0, "interrupted");
	return 0;
}

/* ---------- budget ---------- */

static chunk *chunk_acquire(strata_layer_writer *w)
{
	pthread_mutex_lock(&w->budget_mutex);
	for (;;) {
		if (w->free_list != NULL) {
			chunk *c = w->free_list;
			w->free_list = c->next;
			pthread_mutex_unlock(&w->budget_mutex);
			return c;
		}
		if (w->allocated < w->max_chunks) {
			w->allocated++;
			pthread_mutex_unlock(&w->budget_mutex);
			chunk *c = strata_xcalloc(1, sizeof *c);
			c->in = strata_xmalloc(w->chunk_size);
			c->dict = w->o.codec->dict_size ? strata_xmalloc(w->o.codec->dict_size) : NULL;
			c->out = w->o.codec->bound ? strata_xmalloc(w->out_cap) : NULL;
			return c;
		}
		/* Budget spent: compress one of our own pending chunks rather
		 * than idle this core. Only our own: helping with any task could
		 * nest another layer's whole producer on this stack. */
		pthread_mutex_unlock(&w->budget_mutex);
		bool ran = strata_pool_help_local(w->pool);
		pthread_mutex_lock(&w->budget_mutex);
		if (!ran && w->free_list == NULL) {
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
			pthread_cond_timedwait(&w->budget_cond, &w->budget_mutex, &ts);
		}
	}
}

static void chunk_release(strata_layer_writer *w, chunk *c)
{
	pthread_mutex_lock(&w->budget_mutex);
	c->next = w->free_list;
	w->free_list = c;
	pthread_cond_signal(&w->budget_cond);
	pthread_mutex_unlock(&w->budget_mutex);
}

/* ---------- sink ---------- */

static void report_progress(strata_layer_writer *w, size_t bytes, bool layer_done)
{
	if (w->o.progress == NULL)
		return;
	pthread_mutex_lock(&w->progress_mutex);
	w->progress.bytes_done += bytes;
	w->progress.layers_done += layer_done;
	w->o.progress(w->o.progress_arg, &w->progress);
	pthread_mutex_unlock(&w->progress_mutex);
}

/* Appends to the blob (and its digest). */
static bool sink_append(strata_layer_stream *s, const unsigned char *data, size_t n)
{
	strata_sha256_update(s->blob_md, data, n);
	s->blob_size += n;
	int r = strata_file_write_all(s->fd, data, n);
	if (r < 0) {
		strata_error e = STRATA_ERROR_INIT;
		strata_error_set(&e, -r, "cannot write layer blob in '%s'", s->w->blob_dir);
		fail(s->w, &e);
		return false;
	}
	return true;
}

static void sink_process(strata_layer_stream *s, chunk *c)
{
	strata_layer_writer *w = s->w;
	const strata_layer_codec *codec = w->o.codec;
	if (strata_layer_writer_stopped(w))
		return;
	if (codec->head && s->sink_seq == 0) {
		unsigned char head[16];
		if (!sink_append(s, head, codec->head(head)))
			return;
	}
	if (codec->checksum)
		s->check = codec->checksum(s->check, c->in, c->in_len);
	if (!sink_append(s, c->out ? c->out : c->in, c->out ? c->out_len : c->in_len))
		return;
	report_progress(w, c->in_len, false);
}

/* Called with sink_mutex held: once every chunk of the stream is written,
 * the blob's fd is closed, so open fds follow the layers in flight, not the
 * layers of the image. */
static void sink_maybe_close(strata_layer_stream *s)
{
	if (s->closed || s->sink_seq != s->nchunks)
		return;
	s->closed = true;
	if (s->w->o.codec->tail && s->fd >= 0 && !strata_layer_writer_stopped(s->w)) {
		unsigned char tail[16];
		sink_append(s, tail, s->w->o.codec->tail(s->check, s->tar_size, tail));
	}
	if (s->fd >= 0 && close(s->fd) < 0 && !strata_layer_writer_stopped(s->w)) {
		strata_error e = STRATA_ERROR_INIT;
		strata_error_set(&e, errno, "cannot write layer blob in '%s'", s->w->blob_dir);
		fail(s->w, &e);
	}
	s->fd = -1;
	if (s->nchunks > 0 && !strata_layer_writer_stopped(s->w)) {
		strata_sha256_final_hex(s->blob_md, s->res->digest);
		s->res->size = s->blob_size;
		s->named = true;
		if (s->w->o.blob_done)
			s->w->o.blob_done(s->w->o.blob_done_arg, s->tmp_path, s->res->digest, s->res->size);
	}
	report_progress(s->w, 0, true);
}

static void sink_put(strata_layer_stream *s, chunk *c)
{
	pthread_mutex_lock(&s->sink_mutex);
	chunk **pp = &s->pending;
	while (*pp != NULL && (*pp)->seq < c->seq)
		pp = &(*pp)->next;
	c->next = *pp;
	*pp = c;
	if (s->draining) {
		pthread_mutex_unlock(&s->sink_mutex);
		return;
	}
	s->draining = true;
	while (s->pending != NULL && s->pending->seq == s->sink_seq) {
		chunk *head = s->pending;
		s->pending = head->next;
		pthread_mutex_unlock(&s->sink_mutex);
		sink_process(s, head);
		chunk_release(s->w, head);
		pthread_mutex_lock(&s->sink_mutex);
		s->sink_seq++;
	}
	sink_maybe_close(s);
	s->draining = false;
	pthread_mutex_unlock(&s->sink_mutex);
}

/* ---------- compress ---------- */

static codec_ctx *codec_take(strata_layer_writer *w)
{
	pthread_mutex_lock(&w->codec_mutex);
	codec_ctx *c = w->codecs;
	if (c != NULL)
		w->codecs = c->next;
	pthread_mutex_unlock(&w->codec_mutex);
	if (c == NULL) {
		c = strata_xcalloc(1, sizeof *c);
		c->ctx = w->o.codec->ctx_new(w->o.level);
	}
	return c;
}

static void codec_give(strata_layer_writer *w, codec_ctx *c)
{
	pthread_mutex_lock(&w->codec_mutex);
	c->next = w->codecs;
	w->codecs = c;
	pthread_mutex_unlock(&w->codec_mutex);
}

static void compress_task(void *arg)
{
	chunk *c = arg;
	strata_layer_writer *w = c->stream->w;
	if (!strata_layer_writer_stopped(w) && w->o.codec->bound != NULL) {
		codec_ctx *ctx = codec_take(w);
		c->out_len = w->o.codec->compress_dict
				     ? w->o.codec->compress_dict(ctx->ctx, c->dict, c->dict_len, c->in, c->in_len, c->out,
								 w->out_cap)
				     : w->o.codec->compress(ctx->ctx, c->in, c->in_len, c->out, w->out_cap);
		codec_give(w, ctx);
		if (c->out_len == 0) { /* the bound makes this a codec failure */
			strata_error e = STRATA_ERROR_INIT;
			strata_error_set(&e, 0, "%s compression failed", w->o.codec->name);
			fail(w, &e);
		}
	}
	sink_put(c->stream, c);
}

/* ---------- streams ---------- */

/* Framed codecs: the chunk gets the bytes before it as its dictionary, and
 * its own end becomes the next one's. */
static void pass_tail(strata_layer_stream *s, chunk *c)
{
	size_t d = s->w->o.codec->dict_size;
	memcpy(c->dict, s->tail, s->tail_len);
	c->dict_len = s->tail_len;
	if (c->in_len >= d) {
		memcpy(s->tail, c->in + c->in_len - d, d);
		s->tail_len = d;
	} else {
		size_t keep = s->tail_len + c->in_len > d ? d - c->in_len : s->tail_len;
		memmove(s->tail, s->tail + s->tail_len - keep, keep);
		memcpy(s->tail + keep, c->in, c->in_len);
		s->tail_len = keep + c->in_len;
	}
}

static void submit(strata_layer_stream *s)
{
	chunk *c = s->cur;
	s->cur = NULL;
	if (s->tail)
		pass_tail(s, c);
	c->stream = s;
	c->seq = s->next_seq++;
	strata_pool_spawn(s->w->pool, &s->w->group, compress_task, c);
}

int strata_layer_stream_open(strata_layer_writer *w, strata_layer_result *result, strata_layer_stream **out,
			     strata_error *err)
{
	if (strata_layer_writer_stopped(w))
		return writer_error(w, err);
	strata_layer_stream *s = strata_xcalloc(1, sizeof *s);
	s->w = w;
	s->res = result;
	s->fd = -1;
	s->nchunks = UINT64_MAX;
	pthread_mutex_init(&s->sink_mutex, NULL);
	s->tar_md = strata_sha256_create();
	s->blob_md = strata_sha256_create();
	if (w->o.codec->dict_size)
		s->tail = strata_xmalloc(w->o.codec->dict_size);
	pthread_mutex_lock(&w->streams_mutex);
	s->tmp_path = strata_xasprintf("%s/.tmp-layer-%zu", w->blob_dir, w->nstreams);
	w->streams = strata_xrealloc(w->streams, (w->nstreams + 1) * sizeof *w->streams);
	w->streams[w->nstreams++] = s;
	pthread_mutex_unlock(&w->streams_mutex);
	s->fd = open(s->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (s->fd < 0) {
		/* The layer failed: the writer's error too (it frees the stream). */
		s->closed = true;
		int r = strata_error_set(err, errno, "cannot create '%s'", s->tmp_path);
		strata_error e = STRATA_ERROR_INIT;
		strata_error_set(&e, 0, "%s", err->msg);
		fail(w, &e);
		return r;
	}
	*out = s;
	return 0;
}

int strata_layer_stream_write(strata_layer_stream *s, const void *buf, size_t n, strata_error *err)
{
	strata_layer_writer *w = s->w;
	if (strata_layer_writer_stopped(w))
		return writer_error(w, err);
	strata_sha256_update(s->tar_md, buf, n);
	s->tar_size += n;
	const unsigned char *p = buf;
	while (n > 0) {
		/* A full chunk is submitted only when more bytes arrive, so the
		 * last chunk is known at close whatever the stream size. */
		if (s->cur != NULL && s->cur->in_len == w->chunk_size)
			submit(s);
		if (s->cur == NULL) {
			s->cur = chunk_acquire(w);
			s->cur->in_len = 0;
		}
		size_t take = w->chunk_size - s->cur->in_len;
		if (take > n)
			take = n;
		memcpy(s->cur->in + s->cur->in_len, p, take);
		s->cur->in_len += take;
		p += take;
		n -= take;
	}
	return 0;
}

int strata_layer_stream_close(strata_layer_stream *s, strata_error *err)
{
	(void)err;
	/* An empty layer (an empty layer.tar) still needs one chunk: a
	 * compressed blob of zero bytes would not be valid gzip or zstd. */
	if (s->cur == NULL && s->next_seq == 0 && !strata_layer_writer_stopped(s->w)) {
		s->cur = chunk_acquire(s->w);
		s->cur->in_len = 0;
	}
	if (s->cur != NULL)
		submit(s);
	pthread_mutex_lock(&s->sink_mutex);
	s->nchunks = s->next_seq;
	if (!s->draining)
		sink_maybe_close(s); /* every chunk may already be written */
	pthread_mutex_unlock(&s->sink_mutex);
	strata_sha256_final_hex(s->tar_md, s->res->diff_id);
	s->res->tar_size = s->tar_size;
	return 0;
}

/* A stream given up mid-way holds its unfinished chunk: return it. */
static void stream_drop_chunk(strata_layer_stream *s)
{
	if (s->cur != NULL) {
		chunk_release(s->w, s->cur);
		s->cur = NULL;
	}
}

void strata_layer_stream_abort(strata_layer_stream *s, strata_error *why)
{
	fail(s->w, why);
	stream_drop_chunk(s);
}

void strata_layer_writer_spawn(strata_layer_writer *w, strata_task_fn fn, void *arg)
{
	strata_pool_spawn(w->pool, &w->group, fn, arg);
}

/* ---------- the writer ---------- */

strata_layer_writer *strata_layer_writer_create(strata_pool *pool, const strata_layer_writer_options *o,
						const char *blob_dir)
{
	assert(o->codec != NULL);
	strata_layer_writer *w = strata_xcalloc(1, sizeof *w);
	w->pool = pool;
	w->o = *o;
	w->o.level = strata_layer_codec_level(o->codec, o->level);
	w->blob_dir = blob_dir;
	w->chunk_size = o->codec->chunk_size;
	w->out_cap = o->codec->bound ? o->codec->bound(w->o.level, w->chunk_size) : 0;
	w->progress.bytes_total = o->bytes_total;
	w->progress.layers_total = o->layers_total;
	/* Chunks in flight only help while a core can compress them: the
	 * budget follows the cores this process may run on, not --threads. */
	unsigned threads = strata_pool_threads(pool);
	cpu_set_t set;
	unsigned cores = sched_getaffinity(0, sizeof set, &set) == 0 ? (unsigned)CPU_COUNT(&set) : threads;
	unsigned running = threads < cores ? threads : cores;
	/* The budget is bytes: 3 MiB per core and 2 MiB keep every core busy
	 * with 1 MiB chunks; a codec with larger ones (zstd's 4 MiB) gets as
	 * many bytes in fewer chunks, but never fewer than one per core and
	 * two. */
	size_t per_core = running ? running : 1;
	w->max_chunks = ((3 * per_core + 2) << 20) / w->chunk_size;
	if (w->max_chunks < per_core + 2)
		w->max_chunks = per_core + 2;
	pthread_mutex_init(&w->budget_mutex, NULL);
	pthread_cond_init(&w->budget_cond, NULL);
	pthread_mutex_init(&w->codec_mutex, NULL);
	pthread_mutex_init(&w->err_mutex, NULL);
	pthread_mutex_init(&w->progress_mutex, NULL);
	pthread_mutex_init(&w->streams_mutex, NULL);
	atomic_init(&w->failed, 0);
	atomic_init(&w->group.pending, 0);
	return w;
}

static int name_blob(strata_layer_stream *s, strata_error *err)
{
	/* Named when its last chunk was written: a writer that stopped before
	 * that fails finish before any blob is renamed. */
	assert(s->closed && s->fd < 0 && s->named);
	cleanup_free char *final = strata_xasprintf("%s/%s", s->w->blob_dir, s->res->digest);
	if (rename(s->tmp_path, final) < 0)
		return strata_error_set(err, errno, "cannot rename blob to '%s'", final);
	return 0;
}

int strata_layer_writer_finish(strata_layer_writer *w, strata_error *err)
{
	strata_pool_wait(w->pool, &w->group);
	int r = writer_error(w, err);
	for (size_t i = 0; i < w->nstreams && r == 0; i++)
		r = name_blob(w->streams[i], err);
	w->finished = r == 0;
	return r;
}

static void stream_free(strata_layer_stream *s, bool keep_blob)
{
	if (s->fd >= 0)
		close(s->fd);
	if (!keep_blob)
		unlink(s->tmp_path);
	free(s->tmp_path);
	strata_sha256_free(s->tar_md);
	strata_sha256_free(s->blob_md);
	pthread_mutex_destroy(&s->sink_mutex);
	free(s->tail);
	free(s);
}

void strata_layer_writer_free(strata_layer_writer *w)
{
	if (w == NULL)
		return;
	/* Tasks first: they may still use their streams. Then a stream the
	 * opener abandoned without close or abort still holds a chunk. */
	strata_pool_wait(w->pool, &w->group);
	for (size_t i = 0; i < w->nstreams; i++)
		stream_drop_chunk(w->streams[i]);
	for (size_t i = 0; i < w->nstreams; i++)
		stream_free(w->streams[i], w->finished);
	free(w->streams);
	while (w->free_list != NULL) {
		chunk *c = w->free_list;
		w->free_list = c->next;
		free(c->in);
		free(c->out);
		free(c->dict);
		free(c);
	}
	while (w->codecs != NULL) {
		codec_ctx *c = w->codecs;
		w->codecs = c->next;
		w->o.codec->ctx_free(c->ctx);
		free(c);
	}
	strata_error_clear(&w->err);
	pthread_mutex_destroy(&w->budget_mutex);
	pthread_cond_destroy(&w->budget_cond);
	pthread_mutex_destroy(&w->codec_mutex);
	pthread_mutex_destroy(&w->err_mutex);
	pthread_mutex_destroy(&w->progress_mutex);
	pthread_mutex_destroy(&w->streams_mutex);
	free(w);
}
