#define _GNU_SOURCE
#include "layer_source.h"
#include "alloc.h"
#include "base_image.h"
#include "blob_check.h"
#include "file.h"
#include "layer_desc.h"
#include "sha256.h"
#include "root_tree.h"
#include "tar_check.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_BUF (1u << 20)

typedef struct producer {
	strata_layer_writer *w;
	/* A blob made by other means than a stream (copied, linked): 0, or the
	 * writer's failure. */
	int (*make)(struct producer *p, strata_error *err);
	const strata_layer_source *src;
	const strata_tar_options *tar;
	strata_layer_result *result;
	strata_layer_stream *stream;
} producer;

static int to_stream(void *arg, const void *buf, size_t n, strata_error *err)
{
	return strata_layer_stream_write(arg, buf, n, err);
}

/* An existing layer tar: a regular file (a fifo would block the worker in
 * open) that parses as a tar to its end, or it would become a layer no
 * client reads. */
static int copy_tar(const char *file, const strata_cancel *cancel, strata_tar_sink_fn sink, void *arg,
		    strata_error *err)
{
	cleanup_close int fd = strata_file_open_regular(AT_FDCWD, file, 0, "layer tar", NULL, err);
	if (fd < 0)
		return fd;
	cleanup_free unsigned char *buf = strata_xmalloc(COPY_BUF);
	strata_tar_check tc;
	strata_tar_check_init(&tc);
	int r = 0;
	for (;;) {
		if (strata_cancel_requested(cancel)) {
			r = strata_error_set(err, 0, "interrupted");
			break;
		}
		ssize_t n = read(fd, buf, COPY_BUF);
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
		    (r = sink(arg, buf, (size_t)n, err)) < 0)
			break;
	}
	strata_tar_check_fini(&tc);
	return r;
}

/* The members of a store, synthesized or root layer, and the trailer. */
static int write_tar(const strata_layer_source *s, strata_tar *t, strata_error *err)
{
	int r = 0;
	if (s->kind == STRATA_SOURCE_ROOT) {
		r = strata_root_tree_write(s->root, t, err);
	} else if (s->kind == STRATA_SOURCE_SYNTH) {
		for (size_t i = 0; i < s->nentries && r == 0; i++)
			r = s->entries[i].target ? strata_tar_add_symlink(t, s->entries[i].name, s->entries[i].target, err)
						 : strata_tar_add_dir(t, s->entries[i].name, 0755, err);
	} else {
		r = strata_tar_add_ancestors(t, s->ancestors, s->nancestors, err);
		for (size_t i = 0; i < s->npaths && r == 0; i++)
			r = strata_tar_add_tree(t, s->paths[i], err);
	}
	return r == 0 ? strata_tar_finish(t, err) : r;
}

int strata_layer_source_write(const strata_layer_source *s, const strata_tar_options *tar, strata_tar_sink_fn sink,
			      void *arg, strata_error *err)
{
	if (s->kind == STRATA_SOURCE_TAR)
		return copy_tar(s->tar_file, tar->cancel, sink, arg, err);
	if (s->kind == STRATA_SOURCE_BASE)
		return strata_base_image_write_tar(s->base, s->base_layer, tar->cancel, sink, arg, NULL, err);
	strata_tar_options to = *tar;
	if (s->meta) {
		to.meta = s->meta;
		to.meta_arg = s->meta_arg;
	}
	strata_tar *t = strata_tar_create(&to, sink, arg);
	int r = write_tar(s, t, err);
	strata_tar_free(t);
	return r;
}

static int count_sink(void *arg, const void *buf, size_t n, strata_error *err)
{
	(void)arg, (void)buf, (void)n, (void)err;
	return 0;
}

int strata_layer_source_size(const strata_layer_source *s, const strata_tar_options *tar, uint64_t *size,
			     strata_error *err)
{
	assert(s->kind != STRATA_SOURCE_BASE && s->kind != STRATA_SOURCE_BLOB);
	if (s->kind == STRATA_SOURCE_TAR) {
		struct stat st;
		if (stat(s->tar_file, &st) < 0)
			return strata_error_set(err, errno, "cannot stat '%s'", s->tar_file);
		*size = (uint64_t)st.st_size;
		return 0;
	}
	strata_tar_options to = *tar;
	to.sizes_only = true;
	if (s->meta) {
		to.meta = s->meta;
		to.meta_arg = s->meta_arg;
	}
	strata_tar *t = strata_tar_create(&to, count_sink, NULL);
	int r = write_tar(s, t, err);
	*size = strata_tar_offset(t);
	strata_tar_free(t);
	return r;
}

static void producer_task(void *arg)
{
	producer *p = arg;
	strata_error err = STRATA_ERROR_INIT;
	if (!strata_layer_writer_stopped(p->w) &&
	    strata_layer_stream_open(p->w, p->result, &p->stream, &err) == 0) {
		int r = strata_layer_source_write(p->src, p->tar, to_stream, p->stream, &err);
		if (r == 0)
			strata_layer_stream_close(p->stream, &err);
		else
			strata_layer_stream_abort(p->stream, &err);
	}
	strata_error_clear(&err);
	free(p);
}

void strata_layer_source_spawn(strata_layer_writer *w, const strata_layer_source *src, const strata_tar_options *tar,
			       strata_layer_result *result)
{
	producer *p = strata_xcalloc(1, sizeof *p);
	*p = (producer){.w = w, .src = src, .tar = tar, .result = result};
	strata_layer_writer_spawn(w, producer_task, p);
}

/* ---------- a base layer's blob, as it is ---------- */

typedef struct copy_sink {
	int fd;
	strata_blob_check *check;
} copy_sink;

static int to_blob(void *arg, const void *buf, size_t n, strata_error *err)
{
	copy_sink *c = arg;
	int r = strata_file_write_all(c->fd, buf, n);
	if (r < 0)
		return strata_error_set(err, -r, "cannot write a base layer's blob");
	return strata_blob_check_feed(c->check, buf, n, err);
}

/* One read copies the blob and checks it twice over before it is named:
 * its bytes against the digest (copy_layer) and its tar against the
 * diff_id (blob_check.h). */
static int copy_blob(producer *p, strata_error *err)
{
	const strata_layer_source *src = p->src;
	const strata_base_layer *bl = strata_base_image_layer(src->base, src->base_layer);
	const char *dir = strata_layer_writer_blob_dir(p->w);
	cleanup_free char *tmp = strata_xasprintf("%s/.tmp-base-%zu", dir, src->base_layer);
	cleanup_free char *final = strata_xasprintf("%s/%s", dir, bl->digest);
	cleanup_free char *what = strata_xasprintf("base image: layer %zu (sha256:%s)", src->base_layer + 1, bl->digest);
	copy_sink cs = {open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644), strata_blob_check_create(bl->compress, what)};
	if (cs.fd < 0) {
		strata_blob_check_free(cs.check);
		return strata_error_set(err, errno, "cannot create '%s'", tmp);
	}
	char raw[65], diff[65];
	uint64_t tar_size = 0;
	int r = strata_base_image_copy_layer(src->base, src->base_layer, p->tar->cancel, bl->digest, to_blob, &cs, err);
	if (r == 0)
		r = strata_blob_check_end(cs.check, raw, diff, &tar_size, err);
	if (r == 0 && strcmp(diff, bl->diff_id) != 0)
		r = strata_error_set(err, 0, "%s: its tar has diff_id sha256:%s, the config says sha256:%s", what, diff,
				     bl->diff_id);
	strata_blob_check_free(cs.check);
	if (close(cs.fd) < 0 && r == 0)
		r = strata_error_set(err, errno, "cannot write '%s'", tmp);
	if (r == 0 && rename(tmp, final) < 0)
		r = strata_error_set(err, errno, "cannot rename blob to '%s'", final);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	memcpy(p->result->digest, bl->digest, 65);
	memcpy(p->result->diff_id, bl->diff_id, 65);
	p->result->size = bl->member->h.size;
	p->result->tar_size = tar_size;
	return 0;
}

static void make_task(void *arg)
{
	producer *p = arg;
	strata_error err = STRATA_ERROR_INIT;
	if (!strata_layer_writer_stopped(p->w) && p->make(p, &err) < 0)
		strata_layer_writer_fail(p->w, &err);
	strata_error_clear(&err);
	free(p);
}

static void spawn_make(strata_layer_writer *w, int (*make)(producer *, strata_error *), const strata_layer_source *src,
		       const strata_tar_options *tar, strata_layer_result *result)
{
	producer *p = strata_xcalloc(1, sizeof *p);
	*p = (producer){.w = w, .make = make, .src = src, .tar = tar, .result = result};
	strata_layer_writer_spawn(w, make_task, p);
}

void strata_layer_source_spawn_copy(strata_layer_writer *w, const strata_layer_source *src,
				    const strata_tar_options *tar, strata_layer_result *result)
{
	assert(src->kind == STRATA_SOURCE_BASE);
	spawn_make(w, copy_blob, src, tar, result);
}

/* ---------- a layer made elsewhere ---------- */

static int hash_fd(int fd, const char *what, char hex[65], strata_error *err)
{
	strata_sha256 *sha = strata_sha256_create();
	cleanup_free unsigned char *buf = strata_xmalloc(COPY_BUF);
	int r = 0;
	for (off_t off = 0;;) {
		ssize_t n = pread(fd, buf, COPY_BUF, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = strata_error_set(err, errno, "cannot read %s", what);
		if (n <= 0)
			break;
		strata_sha256_update(sha, buf, (size_t)n);
		off += n;
	}
	strata_sha256_final_hex(sha, hex);
	strata_sha256_free(sha);
	return r;
}

static int link_blob(producer *p, strata_error *err)
{
	const strata_layer_desc *d = p->src->desc;
	cleanup_free char *what = strata_xasprintf("layer %s", d->dir);
	struct stat st;
	cleanup_close int fd = strata_file_open_regular(AT_FDCWD, d->blob, STRATA_FILE_NOFOLLOW, "layer blob", &st, err);
	if (fd < 0)
		return strata_error_wrap(err, "%s", what);
	if ((uint64_t)st.st_size != d->size)
		return strata_error_set(err, 0, "%s: its blob has %llu bytes, its descriptor says %llu", what,
					(unsigned long long)st.st_size, (unsigned long long)d->size);
	cleanup_free char *final = strata_xasprintf("%s/%s", strata_layer_writer_blob_dir(p->w), d->digest);
	if (linkat(fd, "", AT_FDCWD, final, AT_EMPTY_PATH) < 0 && linkat(AT_FDCWD, d->blob, AT_FDCWD, final, 0) < 0 &&
	    errno != EEXIST) {
		/* Another file system, or not allowed to link: a copy. */
		cleanup_close int out = open(final, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (out < 0)
			return strata_error_set(err, errno, "cannot create '%s'", final);
		int r = strata_file_copy_data(fd, out, d->blob, final, p->tar ? p->tar->cancel : NULL, NULL, err);
		if (r < 0)
			return r;
	}
	/* What is checked is what the image now holds. */
	cleanup_close int held = open(final, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char hex[65];
	int r = held < 0 ? strata_error_set(err, errno, "cannot open '%s'", final) : hash_fd(held, what, hex, err);
	if (r == 0 && strcmp(hex, d->digest) != 0) {
		unlink(final);
		return strata_error_set(err, 0, "%s: its blob is not the one its descriptor names (sha256:%s); it was "
						"changed, or two builds of the layer were mixed", what, d->digest);
	}
	if (r < 0)
		return r;
	memcpy(p->result->digest, d->digest, 65);
	memcpy(p->result->diff_id, d->diff_id, 65);
	p->result->size = d->size;
	p->result->tar_size = d->tar_size;
	return 0;
}

void strata_layer_source_spawn_blob(strata_layer_writer *w, const strata_layer_source *src,
				    strata_layer_result *result)
{
	assert(src->kind == STRATA_SOURCE_BLOB);
	spawn_make(w, link_blob, src, NULL, result);
}

/* ---------- a layer from the cache ---------- */

typedef struct cached {
	producer p;
	strata_layer_source blob; /* BLOB: the entry */
	const strata_layer_source *fallback;
	int *state;
} cached;

static void cached_task(void *arg)
{
	cached *c = arg;
	strata_error err = STRATA_ERROR_INIT;
	strata_layer_writer *w = c->p.w;
	if (!strata_layer_writer_stopped(w)) {
		if (link_blob(&c->p, &err) == 0) {
			*c->state = STRATA_CACHE_HIT;
		} else if (strata_cancel_requested(c->p.tar->cancel)) {
			strata_layer_writer_fail(w, &err);
		} else {
			/* A damaged entry is never used: the layer is made again. */
			strata_error_clear(&err);
			*c->state = STRATA_CACHE_REBUILT;
			strata_layer_stream *st = NULL;
			if (strata_layer_stream_open(w, c->p.result, &st, &err) == 0) {
				if (strata_layer_source_write(c->fallback, c->p.tar, to_stream, st, &err) == 0)
					strata_layer_stream_close(st, &err);
				else
					strata_layer_stream_abort(st, &err);
			}
		}
	}
	strata_error_clear(&err);
	free(c);
}

void strata_layer_source_spawn_cached(strata_layer_writer *w, const struct strata_layer_desc *entry,
				      const strata_layer_source *fallback, const strata_tar_options *tar,
				      strata_layer_result *result, int *state)
{
	cached *c = strata_xcalloc(1, sizeof *c);
	c->blob = (strata_layer_source){.kind = STRATA_SOURCE_BLOB, .desc = entry};
	c->p = (producer){.w = w, .src = &c->blob, .tar = tar, .result = result};
	c->fallback = fallback;
	c->state = state;
	strata_layer_writer_spawn(w, cached_task, c);
}
