/* strata_build_layered: the five stages of strata.h's data path, each in its
 * own module: plan (image_plan.c) -> layout (oci_layout.c) -> layers
 * (layer_writer.c, layer_source.c) -> assemble (oci_image.c) -> finish. */
#define _GNU_SOURCE
#include "strata.h"
#include "alloc.h"
#include "docker_archive.h"
#include "image_plan.h"
#include "layer_cache.h"
#include "layer_codec.h"
#include "layer_desc.h"
#include "layer_source.h"
#include "layer_writer.h"
#include "oci_image.h"
#include "fs_tree.h"
#include "oci_layout.h"
#include "output.h"
#include "perms.h"
#include "push.h"
#include "ref.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* What assembling produced, for finish and the summary. */
typedef struct assembled {
	char cfg_hex[65], man_hex[65];
	uint64_t cfg_size, man_size;
	char tag_buf[33];
	const char *tag;      /* OCI: the ref.name */
	const char *repo_tag; /* Docker archive: its RepoTags entry, or NULL */
	double layers_seconds;
} assembled;

/* The cache's view of one build: per layer, its key (store layers only),
 * the entry found and what became of it. */
typedef struct cache_use {
	strata_layer_cache *cache;
	char (*keys)[65];
	bool *keyed;
	strata_layer_desc *entries;
	int *state;
	size_t n, hits;
} cache_use;

static void cache_use_fini(cache_use *cu)
{
	for (size_t i = 0; cu->entries && i < cu->n; i++)
		strata_layer_desc_fini(&cu->entries[i]); /* a miss's is empty */
	free(cu->keys);
	free(cu->keyed);
	free(cu->entries);
	free(cu->state);
	strata_layer_cache_free(cu->cache);
}

/* The descriptor of layer i as this build made it (strings borrowed). */
static strata_layer_desc made_desc(const strata_image_plan *p, size_t i, const strata_layer_result *res)
{
	const strata_plan_layer *l = &p->layers[i];
	strata_layer_desc d = {.size = res->size, .tar_size = res->tar_size,
			       .media_type = strata_oci_image_layer_media_type(p->s.compress),
			       .store_paths = (const char *const *)l->store_paths, .npaths = l->nstore_paths,
			       .created_by = l->history.created_by, .comment = l->history.comment};
	memcpy(d.digest, res->digest, 65);
	memcpy(d.diff_id, res->diff_id, 65);
	return d;
}

/* Opens the cache and keys the layers it can hold: store layers, and (but
 * for a Docker archive, whose layers are made in a stream) merged roots.
 * codec: the codec's name, level and chunk size are in the key. */
static int cache_keys(const strata_layered_options *o, const strata_image_plan *p, const char *codec, int level,
		      size_t chunk, bool roots, cache_use *cu, strata_error *err)
{
	int r = strata_layer_cache_open(o->cache_dir, &cu->cache, err);
	if (r < 0)
		return r;
	cu->n = p->nlayers;
	cu->keys = strata_xcalloc(p->nlayers + 1, sizeof *cu->keys);
	cu->keyed = strata_xcalloc(p->nlayers + 1, sizeof *cu->keyed);
	cu->entries = strata_xcalloc(p->nlayers + 1, sizeof *cu->entries);
	cu->state = strata_xcalloc(p->nlayers + 1, sizeof *cu->state);
	const strata_image_settings *s = &p->s;
	strata_tar_options tar = {.mtime = s->mtime, .uid = s->uid, .gid = s->gid, .uname = s->uname, .gname = s->gname};
	for (size_t i = 0; i < p->nlayers && r == 0; i++) {
		const strata_plan_layer *l = &p->layers[i];
		bool store = l->kind == STRATA_PLAN_STORE && l->source.kind == STRATA_SOURCE_TREES;
		if (!store && !(roots && l->source.kind == STRATA_SOURCE_ROOT))
			continue;
		strata_layer_key_input ki = {codec, level, chunk, &tar, o->perms_file, l->source.ancestors,
					     l->source.nancestors, l->source.paths, l->source.npaths,
					     strata_image_plan_closure(p), store ? NULL : l->source.root, o->cancel};
		if ((r = strata_layer_cache_key(&ki, cu->keys[i], err)) == 0)
			cu->keyed[i] = true;
	}
	return r;
}

/* OCI outputs: the entries of the keyed layers. */
static int cache_lookup(const strata_layered_options *o, const strata_image_plan *p, cache_use *cu, strata_error *err)
{
	const strata_layer_codec *codec = p->s.codec;
	int r = cache_keys(o, p, codec->name, p->s.level, codec->chunk_size, true, cu, err);
	for (size_t i = 0; i < p->nlayers && r == 0; i++)
		if (cu->keyed[i] && strata_layer_cache_get(cu->cache, cu->keys[i], &cu->entries[i], err) == 1)
			cu->state[i] = STRATA_CACHE_HIT; /* for now: the task may find it damaged */
	return r;
}

/* Layers made in this build go into the cache (a damaged entry replaced). */
static int cache_store(const strata_image_plan *p, const strata_layer_result *res, const char *blob_dir,
		       const strata_layered_options *o, cache_use *cu, strata_error *err)
{
	int r = 0;
	for (size_t i = 0; i < p->nlayers && r == 0; i++) {
		if (!cu->keyed[i] || cu->state[i] == STRATA_CACHE_HIT)
			continue;
		strata_layer_desc d = made_desc(p, i, &res[i]);
		if (cu->state[i] == STRATA_CACHE_REBUILT) {
			strata_fs_remove_tree(cu->entries[i].dir);
		}
		cleanup_free char *blob = strata_xasprintf("%s/%s", blob_dir, res[i].digest);
		r = strata_layer_cache_put(cu->cache, cu->keys[i], blob, &d, err);
	}
	for (size_t i = 0; i < p->nlayers; i++)
		cu->hits += cu->state[i] == STRATA_CACHE_HIT;
	if (r == 0 && o->cache_max_size) {
		json_t *rep = NULL;
		r = strata_layer_cache_gc(cu->cache, o->cache_max_size, &rep, err);
		json_decref(rep);
	}
	return r;
}

static int build_layers(strata_pool *pool, const strata_layered_options *o, const strata_image_plan *p,
			strata_oci_layout *layout, strata_layer_result *results, cache_use *cu, strata_push_job *pj,
			strata_error *err)
{
	const strata_image_settings *s = &p->s;
	strata_layer_writer_options wo = {
		.codec = s->codec,
		.level = s->level,
		.progress = o->progress,
		.progress_arg = o->progress_arg,
		.bytes_total = p->bytes_total,
		.layers_total = p->nlayers,
		.blob_done = pj->session ? strata_push_job_offer : NULL,
		.blob_done_arg = pj,
		.cancel = o->cancel,
	};
	strata_tar_options tar = {.mtime = s->mtime, .uid = s->uid, .gid = s->gid, .uname = s->uname,
				  .gname = s->gname, .cancel = o->cancel};
	strata_layer_writer *w = strata_layer_writer_create(pool, &wo, strata_oci_layout_blob_dir(layout));
	for (size_t i = 0; i < p->nlayers; i++)
		if (cu->cache && cu->state[i] == STRATA_CACHE_HIT)
			strata_layer_source_spawn_cached(w, &cu->entries[i], &p->layers[i].source, &tar, &results[i],
							 &cu->state[i]);
		else if (p->layers[i].source.kind == STRATA_SOURCE_BLOB)
			strata_layer_source_spawn_blob(w, &p->layers[i].source, &results[i]);
		else if (p->layers[i].media_type)
			strata_layer_source_spawn_copy(w, &p->layers[i].source, &tar, &results[i]);
		else
			strata_layer_source_spawn(w, &p->layers[i].source, &tar, &results[i]);
	int r = strata_layer_writer_finish(w, err);
	strata_layer_writer_free(w);
	return r;
}

/* Config and manifest blobs; the tag (given, else as nixpkgs derived from a
 * hash of the inputs: the config digest covers every diff_id and the whole
 * config). */
static int assemble(const strata_image_plan *p, const strata_layer_result *results, strata_oci_layout *layout,
		    assembled *a, strata_error *err)
{
	const char **diff_ids = strata_xcalloc(p->nlayers, sizeof *diff_ids);
	strata_oci_history *history = strata_xcalloc(p->nlayers, sizeof *history);
	json_t *layers = json_array();
	for (size_t i = 0; i < p->nlayers; i++) {
		diff_ids[i] = results[i].diff_id;
		history[i] = p->layers[i].history;
		const char *mt = p->layers[i].media_type ? p->layers[i].media_type
							 : strata_oci_image_layer_media_type(p->s.compress);
		json_array_append_new(layers, strata_oci_image_descriptor(mt, results[i].digest, results[i].size));
	}
	size_t nbase = 0;
	while (nbase < p->nlayers && p->layers[nbase].kind == STRATA_PLAN_BASE)
		nbase++;
	strata_oci_config_input ci = {p->s.created, p->s.architecture, p->s.os, p->s.config, p->nlayers, diff_ids,
				      history, p->s.base_history, nbase};
	json_t *cfg = strata_oci_image_config(&ci);
	int r = strata_oci_layout_put_json(layout, cfg, a->cfg_hex, &a->cfg_size, err);
	json_decref(cfg);
	if (r == 0) {
		json_t *man = strata_oci_image_manifest(a->cfg_hex, a->cfg_size, layers);
		r = strata_oci_layout_put_json(layout, man, a->man_hex, &a->man_size, err);
		json_decref(man);
	}
	json_decref(layers);
	free(diff_ids);
	free(history);
	memcpy(a->tag_buf, a->cfg_hex, 32);
	a->tag = p->s.tag ? p->s.tag : a->tag_buf;
	return r;
}

static int finish(const strata_image_plan *p, strata_oci_layout *layout, const assembled *a, strata_error *err)
{
	json_t *mans = json_array();
	cleanup_free char *full = p->s.name ? strata_ref_qualified(p->s.name, a->tag) : NULL;
	strata_oci_image_index_add(mans, a->man_hex, a->man_size, a->tag, full, p->s.architecture, p->s.os);
	json_t *index = strata_oci_image_index(mans);
	int r = strata_oci_layout_finish(layout, index, err);
	json_decref(index);
	return r;
}

static json_t *summary(const strata_layered_options *o, const strata_image_plan *p, const strata_layer_result *res,
		       const assembled *a, strata_pool *pool, double t0)
{
	json_t *sum = json_object(), *layers = json_array();
	json_object_set_new(sum, "output", json_string(o->output));
	if (p->s.name)
		json_object_set_new(sum, "name", json_string(p->s.name));
	if (a->tag)
		json_object_set_new(sum, "tag", json_string(a->tag));
	if (a->repo_tag)
		json_object_set_new(sum, "repo_tag", json_string(a->repo_tag));
	if (a->man_hex[0])
		json_object_set_new(sum, "manifest", json_sprintf("sha256:%s", a->man_hex));
	json_object_set_new(sum, "config", json_sprintf("sha256:%s", a->cfg_hex));
	json_object_set_new(sum, "media_type", json_string(strata_oci_image_layer_media_type(p->s.compress)));
	uint64_t sum_tar = 0, sum_blob = 0;
	for (size_t i = 0; i < p->nlayers; i++) {
		json_t *L = json_object(), *paths = json_array();
		json_object_set_new(L, "digest", json_sprintf("sha256:%s", res[i].digest));
		json_object_set_new(L, "diff_id", json_sprintf("sha256:%s", res[i].diff_id));
		json_object_set_new(L, "size", json_integer((json_int_t)res[i].size));
		json_object_set_new(L, "uncompressed_size", json_integer((json_int_t)res[i].tar_size));
		for (size_t k = 0; k < p->layers[i].nstore_paths; k++)
			json_array_append_new(paths, json_string(p->layers[i].store_paths[k]));
		json_object_set_new(L, "store_paths", paths);
		json_array_append_new(layers, L);
		sum_tar += res[i].tar_size;
		sum_blob += res[i].size;
	}
	json_object_set_new(sum, "layers", layers);
	json_object_set_new(sum, "uncompressed_bytes", json_integer((json_int_t)sum_tar));
	json_object_set_new(sum, "compressed_bytes", json_integer((json_int_t)sum_blob));
	json_t *tm = json_object();
	json_object_set_new(tm, "layers_seconds", json_real(a->layers_seconds));
	json_object_set_new(tm, "total_seconds", json_real(now_seconds() - t0));
	json_object_set_new(sum, "timings", tm);
	json_object_set_new(sum, "threads", json_integer(strata_pool_threads(pool)));
	return sum;
}

/* A Docker archive: the pass-1 records of its store layers. */
static int docker_cache_lookup(const strata_layered_options *o, const strata_image_plan *p, cache_use *cu,
			       strata_layer_sums **known_ret, const strata_layer_sums ***kp_ret, strata_error *err)
{
	int r = cache_keys(o, p, "docker-archive tar", 0, 0, false, cu, err);
	strata_layer_sums *known = *known_ret = strata_xcalloc(p->nlayers + 1, sizeof *known);
	const strata_layer_sums **kp = *kp_ret = strata_xcalloc(p->nlayers + 1, sizeof *kp);
	for (size_t i = 0; i < p->nlayers && r == 0; i++)
		if (cu->keyed[i] && strata_layer_cache_get_sums(cu->cache, cu->keys[i], &known[i]) == 1) {
			kp[i] = &known[i];
			cu->state[i] = STRATA_CACHE_HIT;
			cu->hits++;
		}
	return r;
}

/* The Docker archive, into a file (atomically, as every output) or onto
 * standard output. */
static int build_docker_archive(strata_pool *pool, const strata_layered_options *o, const strata_image_plan *p,
				strata_layer_result *results, assembled *a, strata_docker_archive_result *dr,
				cache_use *cu, strata_error *err)
{
	if (p->s.compress != STRATA_COMPRESS_NONE)
		return strata_error_set(err, 0, "the layers of a Docker archive are uncompressed (compress the archive "
						"as a whole instead)");
	for (size_t i = 0; i < p->nlayers; i++)
		if (p->layers[i].source.kind == STRATA_SOURCE_BLOB)
			return strata_error_set(err, 0, "layers made apart go into OCI images only");
	bool to_stdout = strcmp(o->output, "-") == 0;
	strata_output *out = NULL;
	int fd = STDOUT_FILENO, r = 0;
	if (!to_stdout) {
		strata_output_options oo = {.force = o->force, .inputs = p->inputs, .ninputs = p->ninputs,
					    .containers = p->containers, .ncontainers = 1,
					    .nstore_paths = p->nstore_paths, .cancel = o->cancel};
		if ((r = strata_output_create(o->output, &oo, &out, err)) == 0)
			r = strata_output_tmpfile(out, &fd, err);
	}
	cleanup_free strata_layer_sums *known = NULL, *learned = NULL;
	cleanup_free const strata_layer_sums **kp = NULL;
	if (r == 0 && o->cache_dir) {
		r = docker_cache_lookup(o, p, cu, &known, &kp, err);
		learned = strata_xcalloc(p->nlayers + 1, sizeof *learned);
	}
	strata_docker_archive_options dao = {.fd = fd, .fd_name = to_stdout ? "standard output" : o->output,
					     .fd_is_new_file = !to_stdout,
					     .progress = o->progress, .progress_arg = o->progress_arg, .cancel = o->cancel,
					     .known = kp, .learned = learned};
	double t = now_seconds();
	if (r == 0)
		r = strata_docker_archive_write(pool, p, &dao, results, dr, err);
	for (size_t i = 0; r == 0 && cu->cache && i < p->nlayers; i++)
		if (cu->keyed[i] && cu->state[i] != STRATA_CACHE_HIT)
			r = strata_layer_cache_put_sums(cu->cache, cu->keys[i], &learned[i], err);
	a->layers_seconds = now_seconds() - t;
	if (r == 0)
		r = strata_perms_check_used(p->perms, err);
	/* Checked at close, not fsync'ed: as the OCI outputs (and Nix, tar,
	 * docker save); a sync made a 1 GB archive wait seconds for the disk. */
	if (out && fd != STDOUT_FILENO && close(fd) < 0 && r == 0)
		r = strata_error_set(err, errno, "cannot write %s", o->output);
	if (r == 0 && out)
		r = strata_output_commit(out, err);
	strata_output_free(out);
	memcpy(a->cfg_hex, dr->config_hex, 65);
	a->repo_tag = dr->repo_tag;
	return r;
}

/* --json: what the cache did for each layer. */
static void add_cache_states(json_t *summary, const strata_image_plan *plan, const cache_use *cu)
{
	static const char *const names[] = {"miss", "hit", "rebuilt"};
	json_t *layers = json_object_get(summary, "layers");
	for (size_t i = 0; i < plan->nlayers; i++)
		json_object_set_new(json_array_get(layers, i), "cache",
				    json_string(cu->keyed && cu->keyed[i] ? names[cu->state[i]] : "none"));
	json_object_set_new(summary, "cache_hits", json_integer((json_int_t)cu->hits));
}

typedef int (*plan_fn)(strata_pool *pool, const strata_layered_options *o, strata_image_plan **out,
		       strata_error *err);

/* One data path for both plans. */
static int build_to(strata_pool *pool, const strata_layered_options *o, plan_fn make_plan, strata_push_job *pj,
		    json_t **summary_ret, strata_error *err)
{
	double t0 = now_seconds();
	cleanup_plan strata_image_plan *plan = NULL;
	cleanup_layout strata_oci_layout *layout = NULL;
	cleanup_free strata_layer_result *results = NULL;
	assembled a = {0};
	cache_use cu = {0};
	int r = make_plan(pool, o, &plan, err);
	if (r == 0 && o->format == STRATA_FORMAT_DOCKER_ARCHIVE) {
		strata_docker_archive_result dr = {0};
		results = strata_xcalloc(plan->nlayers, sizeof *results);
		/* A rule that matched nothing is known only once every layer was
		 * made: the archive is then refused before it is committed. */
		if ((r = build_docker_archive(pool, o, plan, results, &a, &dr, &cu, err)) == 0)
			*summary_ret = summary(o, plan, results, &a, pool, t0);
		if (r == 0 && o->cache_dir)
			add_cache_states(*summary_ret, plan, &cu);
		free(dr.repo_tag);
		cache_use_fini(&cu);
		return r;
	}
	if (r == 0) {
		strata_output_options oo = {.force = o->force, .inputs = plan->inputs, .ninputs = plan->ninputs,
					    .containers = plan->containers, .ncontainers = 1,
					    .nstore_paths = plan->nstore_paths, .cancel = o->cancel};
		r = strata_oci_layout_create(o->output, o->format, &oo, &layout, err);
	}
	if (r == 0) {
		results = strata_xcalloc(plan->nlayers, sizeof *results);
		double t = now_seconds();
		if (o->cache_dir)
			r = cache_lookup(o, plan, &cu, err);
		if (r == 0)
			r = build_layers(pool, o, plan, layout, results, &cu, pj, err);
		if (r == 0 && o->cache_dir)
			r = cache_store(plan, results, strata_oci_layout_blob_dir(layout), o, &cu, err);
		a.layers_seconds = now_seconds() - t;
	}
	if (r == 0)
		r = strata_perms_check_used(plan->perms, err);
	if (r == 0)
		r = assemble(plan, results, layout, &a, err);
	if (r == 0)
		r = finish(plan, layout, &a, err);
	if (r == 0) {
		*summary_ret = summary(o, plan, results, &a, pool, t0);
		if (o->cache_dir)
			add_cache_states(*summary_ret, plan, &cu);
	}
	cache_use_fini(&cu);
	return r;
}

/* With --push: the session first (a bad destination or credentials fail
 * before any work), then the build (layers pushed as they are made), then
 * the rest of the image. */
static int build(strata_pool *pool, const strata_layered_options *o, plan_fn make_plan, json_t **summary_ret,
		 strata_error *err)
{
	if (o->push && o->format == STRATA_FORMAT_DOCKER_ARCHIVE)
		return strata_error_set(err, 0, "an image is pushed from an OCI output (directory or tarball), not a docker-archive");
	strata_push_job pj;
	int r = strata_push_job_start(o->push, o->output, &pj, err);
	strata_layered_options lo = *o;
	lo.output = pj.output;
	json_t *summary = NULL;
	if (r == 0)
		r = build_to(pool, &lo, make_plan, &pj, &summary, err);
	return strata_push_job_end(&pj, r, summary, summary_ret, err);
}

int strata_cache_stats(const char *dir, json_t **report_ret, strata_error *err)
{
	strata_layer_cache *c = NULL;
	int r = strata_layer_cache_open(dir, &c, err);
	if (r == 0)
		r = strata_layer_cache_stats(c, report_ret, err);
	strata_layer_cache_free(c);
	return r;
}

int strata_cache_gc(const char *dir, uint64_t max_bytes, json_t **report_ret, strata_error *err)
{
	strata_layer_cache *c = NULL;
	int r = strata_layer_cache_open(dir, &c, err);
	if (r == 0)
		r = strata_layer_cache_gc(c, max_bytes, report_ret, err);
	strata_layer_cache_free(c);
	return r;
}

int strata_build_layered(strata_pool *pool, const strata_layered_options *o, json_t **summary_ret,
			 strata_error *err)
{
	return build(pool, o, strata_image_plan_layered, summary_ret, err);
}

int strata_build_image(strata_pool *pool, const strata_layered_options *o, json_t **summary_ret, strata_error *err)
{
	return build(pool, o, strata_image_plan_build, summary_ret, err);
}

int strata_build_layer(strata_pool *pool, const strata_layered_options *o, json_t **summary_ret, strata_error *err)
{
	cleanup_plan strata_image_plan *plan = NULL;
	strata_output *out = NULL;
	strata_layer_result res = {0};
	cache_use cu = {0};
	int r = strata_image_plan_store_layer(pool, o, &plan, err);
	if (r == 0) {
		strata_output_options oo = {.force = o->force, .inputs = plan->inputs, .ninputs = plan->ninputs,
					    .containers = plan->containers, .ncontainers = 1,
					    .nstore_paths = plan->nstore_paths, .cancel = o->cancel};
		r = strata_output_create(o->output, &oo, &out, err);
	}
	if (r == 0) {
		const strata_image_settings *s = &plan->s;
		strata_layer_writer_options wo = {.codec = s->codec, .level = s->level,
						  .progress = o->progress, .progress_arg = o->progress_arg,
						  .bytes_total = plan->bytes_total, .layers_total = 1, .cancel = o->cancel};
		strata_tar_options tar = {.mtime = s->mtime, .uid = s->uid, .gid = s->gid, .uname = s->uname,
					  .gname = s->gname, .cancel = o->cancel};
		if (o->cache_dir)
			r = cache_lookup(o, plan, &cu, err);
		strata_layer_writer *w = r == 0 ? strata_layer_writer_create(pool, &wo, strata_output_dir(out)) : NULL;
		if (w && cu.cache && cu.state[0] == STRATA_CACHE_HIT)
			strata_layer_source_spawn_cached(w, &cu.entries[0], &plan->layers[0].source, &tar, &res, &cu.state[0]);
		else if (w)
			strata_layer_source_spawn(w, &plan->layers[0].source, &tar, &res);
		if (w)
			r = strata_layer_writer_finish(w, err);
		strata_layer_writer_free(w);
		if (r == 0 && o->cache_dir)
			r = cache_store(plan, &res, strata_output_dir(out), o, &cu, err);
	}
	const strata_plan_layer *l = plan ? &plan->layers[0] : NULL;
	if (r == 0) {
		strata_layer_desc d = made_desc(plan, 0, &res);
		r = strata_layer_desc_write(strata_output_dir(out), &d, err);
	}
	if (r == 0 && plan->perms)
		r = strata_perms_check_used(plan->perms, err);
	if (r == 0)
		r = strata_output_commit(out, err);
	strata_output_free(out);
	if (r == 0) {
		json_t *sum = json_object();
		json_object_set_new(sum, "output", json_string(o->output));
		json_object_set_new(sum, "digest", json_sprintf("sha256:%s", res.digest));
		json_object_set_new(sum, "diff_id", json_sprintf("sha256:%s", res.diff_id));
		json_object_set_new(sum, "size", json_integer((json_int_t)res.size));
		json_object_set_new(sum, "uncompressed_size", json_integer((json_int_t)res.tar_size));
		json_object_set_new(sum, "store_paths", json_integer((json_int_t)l->nstore_paths));
		if (o->cache_dir) {
			static const char *const names[] = {"miss", "hit", "rebuilt"};
			json_object_set_new(sum, "cache", json_string(names[cu.state[0]]));
		}
		*summary_ret = sum;
	}
	cache_use_fini(&cu);
	return r;
}

int strata_plan_layering(const strata_layered_options *o, json_t **layers_ret, strata_error *err)
{
	cleanup_plan strata_image_plan *plan = NULL;
	int r = strata_image_plan_layered(NULL, o, &plan, err);
	if (r < 0)
		return r;
	json_t *layers = json_array();
	for (size_t i = 0; i < plan->nlayers; i++) {
		const strata_plan_layer *l = &plan->layers[i];
		if (l->kind != STRATA_PLAN_STORE || l->source.kind != STRATA_SOURCE_TREES)
			continue;
		json_t *paths = json_array();
		for (size_t k = 0; k < l->nstore_paths; k++)
			json_array_append_new(paths, json_string(l->store_paths[k]));
		json_array_append_new(layers, paths);
	}
	*layers_ret = layers;
	return 0;
}
