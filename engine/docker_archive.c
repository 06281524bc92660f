#define _GNU_SOURCE
#include "docker_archive.h"
#include "alloc.h"
#include "base_image.h"
#include "layer_cache.h"
#include "docker_image.h"
#include "file.h"
#include "layer_source.h"
#include "sha256.h"
#include "tar.h"

#include <libdeflate.h>

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define OUT_BUF (1u << 20)
#define HOLE_BLOCK (64u << 10)

typedef struct writer writer;

/* One layer: pass 1 of the stream, or its size and place. */
typedef struct job {
	writer *w;
	size_t i;
	bool done; /* under w->mu */
	strata_error err;
	char raw_hex[65]; /* a base layer: the SHA-256 of its member */
	uint32_t crc;     /* other layers: the CRC-32 of their tar, for pass 2 */
	/* Placed: under w->mu, but what a running place task owns (made,
	 * raw_hex, crc, results[i]) and bound. */
	bool given;                  /* the size known before anything is made */
	uint64_t given_size;
	bool walked;                 /* the size task found walked_size */
	uint64_t walked_size;
	uint64_t header_at;          /* where the member's header goes */
	uint64_t data_at;            /* and its data, after header_len bytes */
	size_t header_len;           /* exact, or guessed (the size unknown) */
	bool guessed;
	bool holes;                  /* its region reads as zeros where not written */
	atomic_uint_least64_t bound; /* the most the place task may write */
	uint64_t made;               /* what it wrote */
} job;

struct writer {
	const strata_image_plan *p;
	const strata_docker_archive_options *o;
	strata_tar_options tar;
	strata_layer_result *results;
	job *jobs;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_bool stop; /* pass 2 failed: pass 1 ends early */
	/* the archive (pass 2, the calling thread) */
	strata_tar *out;
	unsigned char *buf;
	size_t nbuf;
	strata_progress progress;
	/* placed: the archive is a file written at offsets, each layer's data
	 * by its task, the rest by the calling thread through out */
	bool placed;
	uint64_t buf_at; /* the file offset of buf[0] */
	atomic_uint_least64_t placed_bytes;
};

/* ---------- pass 1: digests ---------- */

typedef struct hasher {
	strata_sha256 *sha; /* NULL: no SHA-256 */
	bool crc;           /* the CRC-32 too */
	uint32_t crc32;
	uint64_t n;
	const atomic_bool *stop;
} hasher;

static int hash_sink(void *arg, const void *buf, size_t n, strata_error *err)
{
	hasher *h = arg;
	if (atomic_load_explicit(h->stop, memory_order_relaxed))
		return strata_error_set(err, 0, "stopped");
	if (h->sha)
		strata_sha256_update(h->sha, buf, n);
	if (h->crc)
		h->crc32 = libdeflate_crc32(h->crc32, buf, n);
	h->n += n;
	return 0;
}

/* A made layer's results from its hasher (which it frees), after r, what
 * making it returned. */
static int record_sums(writer *w, job *j, hasher *h, int r, strata_error *err)
{
	const strata_plan_layer *l = &w->p->layers[j->i];
	strata_layer_result *res = &w->results[j->i];
	strata_sha256_final_hex(h->sha, res->diff_id);
	strata_sha256_free(h->sha);
	h->sha = NULL;
	j->crc = h->crc32;
	if (w->o->learned) {
		memcpy(w->o->learned[j->i].diff_id, res->diff_id, 65);
		w->o->learned[j->i].size = h->n;
		w->o->learned[j->i].crc32 = h->crc32;
	}
	memcpy(res->digest, res->diff_id, 65);
	res->size = res->tar_size = h->n;
	if (r == 0 && l->expect_diff_id && strcmp(l->expect_diff_id, res->diff_id) != 0)
		r = strata_error_set(err, 0, "customisation layer %s: its checksum file says %s, but it is %s",
				     l->source.tar_file, l->expect_diff_id, res->diff_id);
	return r;
}

/* A layer that pass 2 (or placing it) finds different from what it was. */
static int changed(size_t i, strata_error *err)
{
	return strata_error_set(err, 0, "layer %zu changed while the archive was written (its files must not change)",
				i + 1);
}

/* A layer whose sums a cache record gives: the record's. */
static void known_sums(writer *w, job *j, const strata_layer_sums *known)
{
	strata_layer_result *res = &w->results[j->i];
	memcpy(res->diff_id, known->diff_id, 65);
	memcpy(res->digest, known->diff_id, 65);
	res->size = res->tar_size = known->size;
	j->crc = known->crc32;
}

static int digest_layer(writer *w, job *j, strata_error *err)
{
	const strata_plan_layer *l = &w->p->layers[j->i];
	strata_layer_result *res = &w->results[j->i];
	bool base = l->source.kind == STRATA_SOURCE_BASE;
	hasher h = {base ? NULL : strata_sha256_create(), !base, 0, 0, &w->stop};
	int r;
	if (l->source.kind == STRATA_SOURCE_BASE) {
		r = strata_base_image_write_tar(l->source.base, l->source.base_layer, w->tar.cancel, hash_sink, &h,
						j->raw_hex, err);
		memcpy(res->diff_id, l->expect_diff_id, 65);
		memcpy(res->digest, j->raw_hex, 65);
		res->size = strata_base_image_layer(l->source.base, l->source.base_layer)->member->h.size;
		res->tar_size = h.n;
		return r;
	}
	const strata_layer_sums *known = w->o->known ? w->o->known[j->i] : NULL;
	if (known) {
		/* Pass 2 still checks size and CRC-32 against it. */
		strata_sha256_free(h.sha);
		known_sums(w, j, known);
		return 0;
	}
	r = strata_layer_source_write(&l->source, &w->tar, hash_sink, &h, err);
	return record_sums(w, j, &h, r, err);
}

static void pass1_task(void *arg)
{
	job *j = arg;
	writer *w = j->w;
	if (!atomic_load(&w->stop) && digest_layer(w, j, &j->err) == 0)
		strata_error_clear(&j->err);
	else if (j->err.msg == NULL)
		strata_error_set(&j->err, 0, "stopped");
	pthread_mutex_lock(&w->mu);
	j->done = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* ---------- the archive ---------- */

static int flush_out(void *arg, strata_error *err)
{
	writer *w = arg;
	const unsigned char *p = w->buf;
	size_t n = w->nbuf;
	while (n > 0) {
		/* A signal while a pipe is full ends the write early with the
		 * count written so far, not EINTR: look before writing again. */
		if (strata_cancel_requested(w->o->cancel))
			return strata_error_set(err, 0, "interrupted");
		ssize_t k = w->placed ? pwrite(w->o->fd, p, n, (off_t)(w->buf_at + (size_t)(p - w->buf)))
				      : write(w->o->fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return strata_error_set(err, errno, "cannot write to %s", w->o->fd_name);
		p += k;
		n -= (size_t)k;
	}
	w->buf_at += w->nbuf;
	w->nbuf = 0;
	if (w->o->progress)
		w->o->progress(w->o->progress_arg, &w->progress);
	return 0;
}

/* n bytes into an OUT_BUF buffer holding *nbuf, flushed whenever full. */
static int buffer_put(unsigned char *buf, size_t *nbuf, const void *data, size_t n,
		      int (*flush)(void *arg, strata_error *err), void *arg, strata_error *err)
{
	const unsigned char *p = data;
	while (n > 0) {
		size_t k = OUT_BUF - *nbuf < n ? OUT_BUF - *nbuf : n;
		memcpy(buf + *nbuf, p, k);
		*nbuf += k;
		p += k;
		n -= k;
		if (*nbuf == OUT_BUF && flush(arg, err) < 0)
			return -1;
	}
	return 0;
}

static int out_sink(void *arg, const void *buf, size_t n, strata_error *err)
{
	writer *w = arg;
	if (w->placed) {
		/* Where these bytes go (tar.h: positional sinks); after a
		 * layer's data, which its task wrote, the buffer starts anew. */
		uint64_t at = strata_tar_offset(w->out) - n;
		if (w->nbuf > 0 && w->buf_at + w->nbuf != at && flush_out(w, err) < 0)
			return -1;
		if (w->nbuf == 0)
			w->buf_at = at;
	}
	return buffer_put(w->buf, &w->nbuf, buf, n, flush_out, w, err);
}

/* Layer data into the archive, checked against pass 1 by its CRC-32: what
 * it guards against is a file changing between the passes, not an attacker
 * (who could change the store anyway), and a second SHA-256 would be half
 * the work of the whole archive. */
typedef struct checker {
	writer *w;
	uint32_t crc;
} checker;

static int data_sink(void *arg, const void *buf, size_t n, strata_error *err)
{
	checker *c = arg;
	c->crc = libdeflate_crc32(c->crc, buf, n);
	c->w->progress.bytes_done += n;
	return strata_tar_write_data(c->w->out, buf, n, err);
}

/* A fresh member as the script makes one: TarInfo(name), mode 0644, root
 * without names, the conf's mtime. */
static strata_tar_header fresh_member(const writer *w, const char *name, uint64_t size)
{
	return (strata_tar_header){.name = name, .linkname = "", .type = STRATA_TAR_REG, .mode = 0644,
				   .size = size, .mtime = (uint64_t)w->p->s.mtime, .uname = "", .gname = ""};
}

/* The customisation layer's member as the script's gettarinfo makes it:
 * the file's mode and owner (names looked up on this host). */
static int file_member(const writer *w, const strata_plan_layer *l, strata_tar_header *h, char names[2][256],
		       strata_error *err)
{
	struct stat st;
	if (lstat(l->source.tar_file, &st) < 0)
		return strata_error_set(err, errno, "cannot stat '%s'", l->source.tar_file);
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != h->size)
		return strata_error_set(err, 0, "'%s' changed while the archive was written", l->source.tar_file);
	h->mode = st.st_mode & 07777;
	h->uid = st.st_uid;
	h->gid = st.st_gid;
	char buf[4096];
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	names[0][0] = names[1][0] = '\0';
	if (getpwuid_r(st.st_uid, &pw, buf, sizeof buf, &pwp) == 0 && pwp)
		snprintf(names[0], 256, "%s", pw.pw_name);
	if (getgrgid_r(st.st_gid, &gr, buf, sizeof buf, &grp) == 0 && grp)
		snprintf(names[1], 256, "%s", gr.gr_name);
	h->uname = names[0];
	h->gname = names[1];
	(void)w;
	return 0;
}

/* The member of layer i (not a base layer) named by diff_id, in name and
 * names, which it points to. */
static int member_header(const writer *w, size_t i, const char *diff_id, uint64_t size, strata_tar_header *h,
			 char name[80], char names[2][256], strata_error *err)
{
	const strata_plan_layer *l = &w->p->layers[i];
	assert(l->source.kind != STRATA_SOURCE_BASE);
	snprintf(name, 80, "%s/layer.tar", diff_id);
	*h = fresh_member(w, name, size);
	return l->source.kind == STRATA_SOURCE_TAR ? file_member(w, l, h, names, err) : 0;
}

/* Pass 2 of layer i: its member, made again and checked. */
static int emit_layer(writer *w, size_t i, strata_error *err)
{
	const strata_plan_layer *l = &w->p->layers[i];
	const strata_layer_result *res = &w->results[i];
	if (l->source.kind == STRATA_SOURCE_BASE) {
		strata_tar_header h = strata_base_image_layer(l->source.base, l->source.base_layer)->member->h;
		checker c = {w, 0};
		if (strata_tar_add_header(w->out, &h, err) < 0 ||
		    strata_base_image_copy_layer(l->source.base, l->source.base_layer, w->tar.cancel, w->jobs[i].raw_hex,
						 data_sink, &c, err) < 0)
			return -1;
		return strata_tar_end_data(w->out, err);
	}
	char name[80], names[2][256];
	strata_tar_header h;
	if (member_header(w, i, res->diff_id, res->tar_size, &h, name, names, err) < 0)
		return -1;
	checker c = {w, 0};
	int r = strata_tar_add_header(w->out, &h, err);
	if (r == 0)
		r = strata_layer_source_write(&l->source, &w->tar, data_sink, &c, err);
	if (r == 0)
		r = strata_tar_end_data(w->out, err);
	if (r == 0 && c.crc != w->jobs[i].crc)
		r = changed(i, err);
	return r;
}

static int emit_bytes(writer *w, const char *name, const char *data, strata_error *err)
{
	size_t n = strlen(data);
	strata_tar_header h = fresh_member(w, name, n);
	if (strata_tar_add_header(w->out, &h, err) < 0 || strata_tar_write_data(w->out, data, n, err) < 0)
		return -1;
	return strata_tar_end_data(w->out, err);
}

static const char *layer_member_name(const writer *w, size_t i, char buf[80])
{
	const strata_plan_layer *l = &w->p->layers[i];
	if (l->source.kind == STRATA_SOURCE_BASE)
		return strata_base_image_layer(l->source.base, l->source.base_layer)->member->h.name;
	snprintf(buf, 80, "%s/layer.tar", w->results[i].diff_id);
	return buf;
}

/* The config, manifest.json and the end of the archive. */
static int emit_image(writer *w, strata_docker_archive_result *res, strata_error *err)
{
	const strata_image_plan *p = w->p;
	size_t n = p->nlayers;
	const char **ids = strata_xcalloc(n, sizeof *ids), **comments = strata_xcalloc(n, sizeof *comments);
	const char **names = strata_xcalloc(n, sizeof *names);
	char (*bufs)[80] = strata_xcalloc(n, sizeof *bufs);
	for (size_t i = 0; i < n; i++) {
		ids[i] = w->results[i].diff_id;
		comments[i] = p->layers[i].history.comment;
		names[i] = layer_member_name(w, i, bufs[i]);
	}
	strata_docker_config_input in = {p->s.created_iso, p->s.architecture, p->s.docker_config, n, ids, comments};
	cleanup_free char *cfg = strata_docker_image_config(&in);
	strata_sha256_hex(cfg, strlen(cfg), res->config_hex);
	if (p->s.repo_tag)
		res->repo_tag = strata_xstrdup(p->s.repo_tag);
	else if (p->s.name)
		res->repo_tag = p->s.tag ? strata_xasprintf("%s:%s", p->s.name, p->s.tag)
					 : strata_xasprintf("%s:%.32s", p->s.name, res->config_hex);
	char cfg_name[80];
	snprintf(cfg_name, sizeof cfg_name, "%s.json", res->config_hex);
	cleanup_free char *man = strata_docker_image_manifest(cfg_name, res->repo_tag, names, n);
	int r = emit_bytes(w, cfg_name, cfg, err);
	if (r == 0)
		r = emit_bytes(w, "manifest.json", man, err);
	if (r == 0)
		r = strata_tar_finish(w->out, err);
	if (r == 0)
		r = flush_out(w, err);
	free(ids);
	free(comments);
	free(names);
	free(bufs);
	return r;
}

/* Waits for pass 1 of layer i; its error, if it failed. */
static int wait_digest(writer *w, size_t i, strata_error *err)
{
	pthread_mutex_lock(&w->mu);
	while (!w->jobs[i].done)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	if (w->jobs[i].err.msg) {
		strata_error_move(err, &w->jobs[i].err);
		return -1;
	}
	return 0;
}

/* Pass 2, in order, each layer as soon as its pass 1 is done; but not a
 * byte before every base layer is checked: a bad base image (the input
 * most likely to be wrong) never leaves a partial archive on a pipe. */
static int emit_all(writer *w, strata_docker_archive_result *res, strata_error *err)
{
	const strata_image_plan *p = w->p;
	for (size_t i = 0; i < p->nlayers && p->layers[i].source.kind == STRATA_SOURCE_BASE; i++)
		if (wait_digest(w, i, err) < 0)
			return -1;
	for (size_t i = 0; i < p->nlayers; i++) {
		if (wait_digest(w, i, err) < 0 || emit_layer(w, i, err) < 0)
			return -1;
		w->progress.layers_done++;
	}
	return emit_image(w, res, err);
}

/* ---------- placed: one pass into a file ---------- */

/* Into a file the archive is written at offsets: each layer's task writes
 * its data at its place as it makes it, hashing it (no second reading),
 * and the calling thread writes the members' headers in order around them.
 * A layer's place is known once the sizes of the layers before it are:
 * the first is placed at once, and size tasks (a walk that stats, but does
 * not read, tar.h sizes_only) find the others' sizes meanwhile. A header
 * holds the size, which changes its length only from 8 GiB on (a pax
 * record): a layer placed before its size is known is placed after a
 * header of the length it has below that, and placed again in the rare
 * case it is bigger. */

static uint64_t padded(uint64_t n)
{
	return (n + 511) / 512 * 512;
}

/* The header of layer i for a member of size bytes, named by diff_id (or,
 * before the digest is known, a name of the same length). */
static int layer_header(const writer *w, size_t i, const char *diff_id, uint64_t size, strata_tar_header *h,
			char name[80], char names[2][256], strata_error *err)
{
	const strata_plan_layer *l = &w->p->layers[i];
	static const char zero_hex[65] = "0000000000000000000000000000000000000000000000000000000000000000";
	if (l->source.kind == STRATA_SOURCE_BASE) {
		*h = strata_base_image_layer(l->source.base, l->source.base_layer)->member->h;
		return 0;
	}
	return member_header(w, i, diff_id ? diff_id : zero_hex, size, h, name, names, err);
}

static int header_len(const writer *w, size_t i, uint64_t size, size_t *len, strata_error *err)
{
	char name[80], names[2][256];
	strata_tar_header h;
	if (layer_header(w, i, NULL, size, &h, name, names, err) < 0)
		return -1;
	cleanup_free unsigned char *enc = NULL;
	size_t cap = 0;
	*len = strata_tar_header_encode(&h, &enc, &cap);
	return 0;
}

/* The sizes known before anything is made: a base layer's member, what a
 * cache record says, a layer.tar file's. */
static int give_sizes(writer *w, strata_error *err)
{
	for (size_t i = 0; i < w->p->nlayers; i++) {
		const strata_plan_layer *l = &w->p->layers[i];
		const strata_layer_sums *known = w->o->known ? w->o->known[i] : NULL;
		job *j = &w->jobs[i];
		j->given = true;
		if (l->source.kind == STRATA_SOURCE_BASE)
			j->given_size = strata_base_image_layer(l->source.base, l->source.base_layer)->member->h.size;
		else if (known)
			j->given_size = known->size;
		else if (l->source.kind == STRATA_SOURCE_TAR) {
			if (strata_layer_source_size(&l->source, &w->tar, &j->given_size, err) < 0)
				return -1;
		} else
			j->given = false;
	}
	return 0;
}

static void size_task(void *arg)
{
	job *j = arg;
	writer *w = j->w;
	pthread_mutex_lock(&w->mu);
	bool skip = j->done || atomic_load(&w->stop);
	pthread_mutex_unlock(&w->mu);
	uint64_t size = 0;
	strata_error err = STRATA_ERROR_INIT;
	/* A walk that fails says nothing: the place task meets the same, and
	 * the next layer waits for it instead. */
	bool ok = !skip && strata_layer_source_size(&w->p->layers[j->i].source, &w->tar, &size, &err) == 0;
	strata_error_clear(&err);
	pthread_mutex_lock(&w->mu);
	j->walked_size = size;
	j->walked = ok;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* A layer's data written at its place by its task, never past its bound:
 * a tree that grew since it was sized must not overwrite what follows. */
typedef struct placer {
	writer *w;
	job *j;
	hasher h;
	uint64_t at; /* the file offset of buf[0] */
	unsigned char *buf;
	size_t nbuf;
} placer;

static bool all_zero(const unsigned char *p, size_t n)
{
	return p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

/* The file is new and the layer's region unwritten (or made a hole again
 * before a second placing): a block of zeros, a sparse file's hole most
 * often, is left a hole, which reads as zeros. */
static int place_flush(void *arg, strata_error *err)
{
	placer *pl = arg;
	for (size_t off = 0; off < pl->nbuf;) {
		size_t n = pl->nbuf - off < HOLE_BLOCK ? pl->nbuf - off : HOLE_BLOCK;
		const unsigned char *p = pl->buf + off;
		off += n;
		if (pl->j->holes && all_zero(p, n))
			continue;
		int r = strata_file_pwrite_all(pl->w->o->fd, p, n, pl->at + off - n);
		if (r < 0)
			return strata_error_set(err, -r, "cannot write to %s", pl->w->o->fd_name);
	}
	atomic_fetch_add_explicit(&pl->w->placed_bytes, pl->nbuf, memory_order_relaxed);
	pl->at += pl->nbuf;
	pl->nbuf = 0;
	return 0;
}

static int place_sink(void *arg, const void *buf, size_t n, strata_error *err)
{
	placer *pl = arg;
	if (hash_sink(&pl->h, buf, n, err) < 0)
		return -1;
	if (pl->h.n > atomic_load_explicit(&pl->j->bound, memory_order_relaxed))
		return changed(pl->j->i, err);
	return buffer_put(pl->buf, &pl->nbuf, buf, n, place_flush, pl, err);
}

/* Layer i's data into its place, and its sums: a base layer checked
 * against its diff_id first (as pass 1 does) and its member copied; a layer
 * a cache record gives checked by its CRC-32; the others hashed (and their
 * CRC-32 taken only for the cache: no second pass checks it). */
static int place_layer(writer *w, job *j, strata_error *err)
{
	const strata_plan_layer *l = &w->p->layers[j->i];
	const strata_layer_sums *known = w->o->known ? w->o->known[j->i] : NULL;
	bool base = l->source.kind == STRATA_SOURCE_BASE;
	cleanup_free unsigned char *buf = strata_xmalloc(OUT_BUF);
	bool crc = known || (!base && w->o->learned);
	placer pl = {.w = w, .j = j, .h = {base || known ? NULL : strata_sha256_create(), crc, 0, 0, &w->stop},
		     .at = j->data_at, .buf = buf};
	int r;
	if (base) {
		r = digest_layer(w, j, err);
		if (r == 0)
			r = strata_base_image_copy_layer(l->source.base, l->source.base_layer, w->tar.cancel, j->raw_hex,
							 place_sink, &pl, err);
	} else {
		r = strata_layer_source_write(&l->source, &w->tar, place_sink, &pl, err);
	}
	if (r == 0)
		r = place_flush(&pl, err);
	j->made = pl.h.n;
	if (base)
		return r;
	if (!known)
		return record_sums(w, j, &pl.h, r, err);
	known_sums(w, j, known);
	return r == 0 && (pl.h.n != known->size || pl.h.crc32 != known->crc32) ? changed(j->i, err) : r;
}

static void place_task(void *arg)
{
	job *j = arg;
	writer *w = j->w;
	strata_error err = STRATA_ERROR_INIT;
	if (atomic_load(&w->stop))
		strata_error_set(&err, 0, "stopped");
	else
		place_layer(w, j, &err);
	pthread_mutex_lock(&w->mu);
	strata_error_move(&j->err, &err);
	j->done = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* The size of layer i as far as it is known (under w->mu): the plan's, what
 * its place task wrote, what its size task found. */
static bool size_known(const writer *w, size_t i, uint64_t *size)
{
	const job *j = &w->jobs[i];
	if (j->given) {
		*size = j->given_size;
		return true;
	}
	if (j->done && j->err.msg == NULL) {
		*size = j->made;
		return true;
	}
	if (j->walked) {
		*size = j->walked_size;
		return true;
	}
	return false;
}

/* Places layer i after a header at `at` (under w->mu) and spawns its task. */
static int plan_place(strata_pool *pool, strata_group *group, writer *w, size_t i, uint64_t at, strata_error *err)
{
	job *j = &w->jobs[i];
	uint64_t size;
	bool exact = size_known(w, i, &size);
	if (header_len(w, i, exact ? size : 0, &j->header_len, err) < 0)
		return -1;
	j->guessed = !exact;
	j->header_at = at;
	j->data_at = at + j->header_len;
	atomic_store(&j->bound, exact ? size : UINT64_MAX);
	j->done = false;
	strata_error_clear(&j->err);
	strata_pool_spawn(pool, group, place_task, j);
	return 0;
}

/* Layer i's member once its task is done (under w->mu): its header, and
 * the end of its data; placed again if its header is longer than the one
 * guessed. Returns 1 while it is not done yet. */
static int emit_placed_layer(strata_pool *pool, strata_group *group, writer *w, size_t i, strata_error *err)
{
	job *j = &w->jobs[i];
	if (!j->done)
		return 1;
	if (j->err.msg) {
		strata_error_move(err, &j->err);
		return -1;
	}
	/* What the places after it were planned by, if any. */
	uint64_t bound = atomic_load(&j->bound);
	if (bound != UINT64_MAX && j->made != bound)
		return changed(i, err);
	size_t len;
	if (header_len(w, i, j->made, &len, err) < 0)
		return -1;
	if (len != j->header_len) {
		if (!j->guessed)
			return changed(i, err);
		/* Its first placing wrote from 512 bytes after its header: made
		 * a hole again, or written in full the second time. */
		j->holes = fallocate(w->o->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)j->data_at,
				     (off_t)j->made) == 0;
		return plan_place(pool, group, w, i, j->header_at, err) < 0 ? -1 : 1;
	}
	char name[80], names[2][256];
	strata_tar_header h;
	if (layer_header(w, i, w->results[i].diff_id, j->made, &h, name, names, err) < 0 ||
	    strata_tar_add_header(w->out, &h, err) < 0)
		return -1;
	assert(strata_tar_offset(w->out) == j->data_at);
	if (strata_tar_skip_data(w->out, j->made, err) < 0 || strata_tar_end_data(w->out, err) < 0)
		return -1;
	w->progress.layers_done++;
	return 0;
}

/* Waits for any task (under w->mu), telling progress a few times a second. */
static void wait_event(writer *w)
{
	if (!w->o->progress) {
		pthread_cond_wait(&w->cv, &w->mu);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 250000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&w->cv, &w->mu, &ts);
	w->progress.bytes_done = atomic_load_explicit(&w->placed_bytes, memory_order_relaxed);
	w->o->progress(w->o->progress_arg, &w->progress);
}

/* Places every layer as soon as its place is known, and writes the members
 * in order as they are done. */
static int emit_all_placed(strata_pool *pool, strata_group *group, writer *w, strata_docker_archive_result *res,
			   strata_error *err)
{
	size_t n = w->p->nlayers, next = 0, emitted = 0;
	uint64_t at = 0; /* where the header of layer `next` goes */
	bool sizing = false;
	int r = 0;
	pthread_mutex_lock(&w->mu);
	while (r >= 0 && emitted < n) {
		uint64_t size;
		r = 0;
		while (r == 0 && next < n && (next == 0 || size_known(w, next - 1, &size))) {
			if (next > 0) {
				const job *prev = &w->jobs[next - 1];
				size_t len;
				if ((r = header_len(w, next - 1, size, &len, err)) < 0)
					break;
				/* (sparse files can add up past any file's size) */
				if (size > (uint64_t)INT64_MAX / 2 || prev->header_at > (uint64_t)INT64_MAX / 2 - len - padded(size)) {
					r = strata_error_set(err, EFBIG, "cannot write to %s", w->o->fd_name);
					break;
				}
				at = prev->header_at + len + padded(size);
				/* The size the next places rely on bounds this one. */
				atomic_store(&w->jobs[next - 1].bound, size);
			}
			r = plan_place(pool, group, w, next++, at, err);
		}
		if (r < 0)
			break;
		if (!sizing) {
			/* After the first place: the sizes its successors need
			 * (the last one's is needed by none). */
			sizing = true;
			for (size_t i = 0; i + 1 < n; i++)
				if (!w->jobs[i].given)
					strata_pool_spawn(pool, group, size_task, &w->jobs[i]);
		}
		while (emitted < n && (r = emit_placed_layer(pool, group, w, emitted, err)) == 0)
			emitted++;
		if (r < 0 || emitted == n)
			break;
		wait_event(w);
	}
	pthread_mutex_unlock(&w->mu);
	return r < 0 ? -1 : emit_image(w, res, err);
}

/* Places and sizes on the pool, the rest on the calling thread. */
static int write_placed(strata_pool *pool, writer *w, strata_docker_archive_result *res, strata_error *err)
{
	strata_group group = STRATA_GROUP_INIT;
	int r = give_sizes(w, err);
	if (r == 0)
		r = emit_all_placed(pool, &group, w, res, err);
	if (r < 0)
		atomic_store(&w->stop, true);
	strata_pool_wait(pool, &group);
	return r;
}

int strata_docker_archive_write(strata_pool *pool, const strata_image_plan *p, const strata_docker_archive_options *o,
				strata_layer_result *results, strata_docker_archive_result *res, strata_error *err)
{
	const strata_image_settings *s = &p->s;
	writer w = {
		.p = p,
		.o = o,
		.tar = {.mtime = s->mtime, .uid = s->uid, .gid = s->gid, .uname = s->uname, .gname = s->gname,
			.cancel = o->cancel},
		.results = results,
		.jobs = strata_xcalloc(p->nlayers ? p->nlayers : 1, sizeof *w.jobs),
		.buf = strata_xmalloc(OUT_BUF),
		.progress = {.bytes_total = p->bytes_total, .layers_total = p->nlayers},
	};
	memset(res, 0, sizeof *res);
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	atomic_init(&w.stop, false);
	atomic_init(&w.placed_bytes, 0);
	w.placed = o->fd_is_new_file;
	strata_tar_options outer = {.mtime = s->mtime, .cancel = o->cancel};
	w.out = strata_tar_create(&outer, out_sink, &w);
	for (size_t i = 0; i < p->nlayers; i++) {
		w.jobs[i] = (job){.w = &w, .i = i, .holes = true};
		atomic_init(&w.jobs[i].bound, UINT64_MAX);
	}
	int r;
	if (w.placed) {
		r = write_placed(pool, &w, res, err);
	} else {
		strata_group group = STRATA_GROUP_INIT;
		for (size_t i = 0; i < p->nlayers; i++)
			strata_pool_spawn(pool, &group, pass1_task, &w.jobs[i]);
		r = emit_all(&w, res, err);
		if (r < 0)
			atomic_store(&w.stop, true);
		strata_pool_wait(pool, &group);
	}
	for (size_t i = 0; i < p->nlayers; i++)
		strata_error_clear(&w.jobs[i].err);
	if (r < 0) {
		free(res->repo_tag);
		res->repo_tag = NULL;
	}
	strata_tar_free(w.out);
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	free(w.jobs);
	free(w.buf);
	return r;
}
