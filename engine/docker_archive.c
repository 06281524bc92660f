#define _GNU_SOURCE
#include "docker_archive.h"
#include "alloc.h"
#include "base_image.h"
#include "layer_cache.h"
#include "docker_image.h"
#include "layer_source.h"
#include "sha256.h"
#include "tar.h"

#include <libdeflate.h>

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUT_BUF (1u << 20)

typedef struct writer writer;

/* Pass 1 of one layer. */
typedef struct job {
	writer *w;
	size_t i;
	bool done; /* under w->mu */
	strata_error err;
	char raw_hex[65]; /* a base layer: the SHA-256 of its member */
	uint32_t crc;     /* other layers: the CRC-32 of their tar, for pass 2 */
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
};

/* ---------- pass 1: digests ---------- */

typedef struct hasher {
	strata_sha256 *sha; /* NULL: count only */
	uint32_t crc;
	uint64_t n;
	const atomic_bool *stop;
} hasher;

static int hash_sink(void *arg, const void *buf, size_t n, strata_error *err)
{
	hasher *h = arg;
	if (atomic_load_explicit(h->stop, memory_order_relaxed))
		return strata_error_set(err, 0, "stopped");
	if (h->sha) {
		strata_sha256_update(h->sha, buf, n);
		h->crc = libdeflate_crc32(h->crc, buf, n);
	}
	h->n += n;
	return 0;
}

static int digest_layer(writer *w, job *j, strata_error *err)
{
	const strata_plan_layer *l = &w->p->layers[j->i];
	strata_layer_result *res = &w->results[j->i];
	hasher h = {l->source.kind == STRATA_SOURCE_BASE ? NULL : strata_sha256_create(), 0, 0, &w->stop};
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
		memcpy(res->diff_id, known->diff_id, 65);
		memcpy(res->digest, known->diff_id, 65);
		res->size = res->tar_size = known->size;
		j->crc = known->crc32;
		return 0;
	}
	r = strata_layer_source_write(&l->source, &w->tar, hash_sink, &h, err);
	strata_sha256_final_hex(h.sha, res->diff_id);
	strata_sha256_free(h.sha);
	j->crc = h.crc;
	if (w->o->learned) {
		memcpy(w->o->learned[j->i].diff_id, res->diff_id, 65);
		w->o->learned[j->i].size = h.n;
		w->o->learned[j->i].crc32 = h.crc;
	}
	memcpy(res->digest, res->diff_id, 65);
	res->size = res->tar_size = h.n;
	if (r == 0 && l->expect_diff_id && strcmp(l->expect_diff_id, res->diff_id) != 0)
		r = strata_error_set(err, 0, "customisation layer %s: its checksum file says %s, but it is %s",
				     l->source.tar_file, l->expect_diff_id, res->diff_id);
	return r;
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

static int flush_out(writer *w, strata_error *err)
{
	const unsigned char *p = w->buf;
	size_t n = w->nbuf;
	while (n > 0) {
		/* A signal while a pipe is full ends the write early with the
		 * count written so far, not EINTR: look before writing again. */
		if (strata_cancel_requested(w->o->cancel))
			return strata_error_set(err, 0, "interrupted");
		ssize_t k = write(w->o->fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return strata_error_set(err, errno, "cannot write to %s", w->o->fd_name);
		p += k;
		n -= (size_t)k;
	}
	w->nbuf = 0;
	if (w->o->progress)
		w->o->progress(w->o->progress_arg, &w->progress);
	return 0;
}

static int out_sink(void *arg, const void *buf, size_t n, strata_error *err)
{
	writer *w = arg;
	const unsigned char *p = buf;
	while (n > 0) {
		size_t k = OUT_BUF - w->nbuf < n ? OUT_BUF - w->nbuf : n;
		memcpy(w->buf + w->nbuf, p, k);
		w->nbuf += k;
		p += k;
		n -= k;
		if (w->nbuf == OUT_BUF && flush_out(w, err) < 0)
			return -1;
	}
	return 0;
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
	snprintf(name, sizeof name, "%s/layer.tar", res->diff_id);
	strata_tar_header h = fresh_member(w, name, res->tar_size);
	if (l->source.kind == STRATA_SOURCE_TAR && file_member(w, l, &h, names, err) < 0)
		return -1;
	checker c = {w, 0};
	int r = strata_tar_add_header(w->out, &h, err);
	if (r == 0)
		r = strata_layer_source_write(&l->source, &w->tar, data_sink, &c, err);
	if (r == 0)
		r = strata_tar_end_data(w->out, err);
	if (r == 0 && c.crc != w->jobs[i].crc)
		r = strata_error_set(err, 0, "layer %zu changed while the archive was written (its files must not change)",
				     i + 1);
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
	strata_tar_options outer = {.mtime = s->mtime, .cancel = o->cancel};
	w.out = strata_tar_create(&outer, out_sink, &w);
	strata_group group = STRATA_GROUP_INIT;
	for (size_t i = 0; i < p->nlayers; i++) {
		w.jobs[i] = (job){.w = &w, .i = i};
		strata_pool_spawn(pool, &group, pass1_task, &w.jobs[i]);
	}
	int r = emit_all(&w, res, err);
	if (r < 0)
		atomic_store(&w.stop, true);
	strata_pool_wait(pool, &group);
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
