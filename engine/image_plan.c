#define _GNU_SOURCE
#include "image_plan.h"
#include "alloc.h"
#include "base_image.h"
#include "closure_load.h"
#include "customise.h"
#include "docker_image.h"
#include "file.h"
#include "image_config.h"
#include "layer_codec.h"
#include "layer_desc.h"
#include "layering.h"
#include "nix_conf.h"
#include "nix_db.h"
#include "perms.h"
#include "py_format.h"
#include "ref.h"
#include "root_tree.h"
#include "store.h"
#include "store_scan.h"
#include "timestamp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* What the plan owns behind the public fields. */
struct strata_plan_private {
	strata_pool *pool; /* borrowed, may be NULL: where a closure is scanned */
	strata_nix_conf conf;
	strata_base_image *base;
	strata_closure *closure;
	strata_layering *layering;
	strata_ref repo_tag;
	strata_synth_entry *synth;
	size_t nsynth;
	char **strings; /* settings and history strings */
	size_t nstrings;
	char ***path_lists; /* per layer, the store paths (closure input) */
	size_t npath_lists;
	char **ancestors; /* the directories every store layer starts with */
	size_t nancestors;
	strata_perms *perms;
	strata_root_tree *root;        /* build's layer, or the customisation layer's root */
	strata_customised *customised; /* where the scripts ran */
	strata_nix_db *nix_db;
	strata_layer_desc *descs; /* layers made by strata layer */
	size_t ndescs;
	strata_root_tree *custom_root; /* and what they left */
};

static const char *keep(strata_image_plan *p, char *s)
{
	struct strata_plan_private *v = p->priv;
	v->strings = strata_xrealloc(v->strings, (v->nstrings + 1) * sizeof *v->strings);
	v->strings[v->nstrings++] = s;
	return s;
}

const strata_closure *strata_image_plan_closure(const strata_image_plan *p)
{
	return p->priv->closure;
}

const char *strata_image_plan_host_arch(void)
{
	static const struct {
		const char *machine, *goarch;
	} map[] = {{"x86_64", "amd64"},   {"aarch64", "arm64"}, {"armv7l", "arm"},   {"armv6l", "arm"},
		   {"i686", "386"},       {"i386", "386"},      {"ppc64le", "ppc64le"},
		   {"riscv64", "riscv64"}, {"s390x", "s390x"},   {"loongarch64", "loong64"}};
	struct utsname u;
	if (uname(&u) == 0)
		for (size_t i = 0; i < STRATA_ARRAY_LEN(map); i++)
			if (strcmp(u.machine, map[i].machine) == 0)
				return map[i].goarch;
	return "amd64";
}

/* ---------- settings ---------- */

/* Inputs that cannot go together, named as concepts (the front end knows
 * its flags for them). */
static int check_inputs(const strata_layered_options *o, strata_error *err)
{
	if (o->ncopy_to_root)
		return strata_error_set(err, 0, "copy-to-root paths are for a one-layer image (strata build)");
	if (o->conf_file && o->closure_file)
		return strata_error_set(err, 0, "a conf.json and a closure cannot both be given");
	if (!o->conf_file && !o->closure_file && !o->nlayer_dirs)
		return strata_error_set(err, 0, "no input: a closure, layers or a conf.json is needed");
	if (o->conf_file && o->nlayer_dirs)
		return strata_error_set(err, 0, "a conf.json fixes the layers: layers made apart do not apply to it");
	if (o->conf_file && (o->nroots || o->ncontents || o->layering != STRATA_LAYERING_DEFAULT || o->max_layers))
		return strata_error_set(err, 0, "a conf.json fixes the layers: roots, contents, layering and the "
						"layer limit do not apply to it");
	return 0;
}

/* A time: the option, else conf.json's, else fallback ("now" allowed);
 * iso (may be NULL) gets it as Python's isoformat. */
static int resolve_time(const char *opt, const char *conf, long long fallback, const char *what, long long *out,
			char *iso, strata_error *err)
{
	char dummy[STRATA_ISOFORMAT_MAX];
	const char *s = opt ? opt : conf;
	if (iso == NULL)
		iso = dummy;
	if (s == NULL) {
		*out = fallback;
		strata_timestamp_isoformat_utc(fallback, 0, iso);
		return 0;
	}
	if (strcmp(s, "now") == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		*out = (long long)ts.tv_sec;
		strata_timestamp_isoformat_utc(*out, ts.tv_nsec / 1000, iso);
		return 0;
	}
	if (strata_timestamp_parse(s, out, err) < 0 || strata_timestamp_isoformat(s, iso, err) < 0)
		return strata_error_wrap(err, "%s", what);
	return 0;
}

static int resolve_owner(const strata_layered_options *o, const strata_nix_conf *conf, strata_image_settings *s,
			 strata_error *err)
{
	s->uid = o->uid >= 0 ? o->uid : 0;
	s->gid = o->gid >= 0 ? o->gid : 0;
	/* conf.json gives them as strings (jq --arg); validated by its parser. */
	if (o->uid < 0)
		strata_nix_conf_id(conf, "uid", &s->uid, NULL);
	if (o->gid < 0)
		strata_nix_conf_id(conf, "gid", &s->gid, NULL);
	if (s->uid < 0 || s->uid > STRATA_MAX_ID || s->gid < 0 || s->gid > STRATA_MAX_ID)
		return strata_error_set(err, 0, "uid and gid must be between 0 and %lld", STRATA_MAX_ID);
	s->uname = o->uname ? o->uname : strata_nix_conf_str(conf, "uname") ? strata_nix_conf_str(conf, "uname") : "root";
	s->gname = o->gname ? o->gname : strata_nix_conf_str(conf, "gname") ? strata_nix_conf_str(conf, "gname") : "root";
	return 0;
}

/* The runtime config, normalised (OCI) and as nixpkgs writes it (Docker
 * archives: conf.json's object as it is); a base image's Env goes first. */
static int resolve_config(strata_image_plan *p, const strata_layered_options *o, strata_error *err)
{
	const strata_nix_conf *conf = &p->priv->conf;
	json_t *given = conf->root && !o->config_file && !o->config_json ? json_object_get(conf->root, "config") : NULL;
	int r;
	if (o->config_file && o->config_json)
		return strata_error_set(err, 0, "a config file and a config text cannot both be given");
	if (o->config_json) {
		r = strata_image_config_parse(o->config_json, strlen(o->config_json), "config", &p->s.config, err);
	} else if (o->config_file == NULL) {
		r = strata_image_config_normalise(given, o->conf_file ? o->conf_file : "config", &p->s.config, err);
	} else {
		cleanup_free char *buf = NULL;
		size_t len = 0;
		r = strata_file_read_all(AT_FDCWD, o->config_file, 0, STRATA_FILE_MAX_JSON, "config file", &buf, &len, err);
		if (r == 0)
			r = strata_image_config_parse(buf, len, o->config_file, &p->s.config, err);
	}
	if (r < 0)
		return r;
	p->s.docker_config = json_deep_copy(given ? given : p->s.config);
	if (p->priv->base) {
		json_t *base = json_object_get(strata_base_image_config(p->priv->base), "config");
		/* A conf.json's image is nixpkgs': only the base's Env. */
		if (!o->conf_file && !o->base_env_only &&
		    (r = strata_image_config_inherit(base, "the base image's config", &p->s.config, err)) < 0)
			return r;
		strata_docker_image_merge_env(base, p->s.config);
		if (json_is_object(p->s.docker_config))
			strata_docker_image_merge_env(base, p->s.docker_config);
	}
	return 0;
}

/* A base for another platform cannot be run by what the image is for. */
static int check_base_platform(const strata_image_plan *p, strata_error *err)
{
	const json_t *cfg = strata_base_image_config(p->priv->base);
	const char *arch = json_string_value(json_object_get(cfg, "architecture"));
	const char *os = json_string_value(json_object_get(cfg, "os"));
	if (arch && strcmp(arch, p->s.architecture) != 0)
		return strata_error_set(err, 0, "the base image is for %s, not %s (set the architecture to match)", arch,
					p->s.architecture);
	if (os && strcmp(os, p->s.os) != 0)
		return strata_error_set(err, 0, "the base image is for %s, not %s", os, p->s.os);
	return 0;
}

/* name and tag: the options, else conf.json's repo_tag. */
static int resolve_names(strata_image_plan *p, const strata_layered_options *o, strata_error *err)
{
	strata_image_settings *s = &p->s;
	const char *rt = strata_nix_conf_str(&p->priv->conf, "repo_tag");
	if (o->tag == NULL && rt != NULL) {
		if (strata_ref_parse(rt, &p->priv->repo_tag, err) < 0)
			return strata_error_wrap(err, "%s: repo_tag", o->conf_file);
		s->tag = p->priv->repo_tag.tag ? p->priv->repo_tag.tag : "latest";
	} else {
		s->tag = o->tag;
	}
	s->repo_tag = o->repo_tag ? o->repo_tag : !o->name && !o->tag ? rt : NULL;
	s->name = o->name;
	if (s->name && strata_ref_check_name(s->name, err) < 0)
		return -1;
	if (s->tag && (strata_ref_check_tag(s->tag, err) < 0 || strata_ref_check_ref_name(s->tag, err) < 0))
		return -1;
	return 0;
}

static int resolve_settings(strata_image_plan *p, const strata_layered_options *o, strata_error *err)
{
	strata_image_settings *s = &p->s;
	const strata_nix_conf *conf = &p->priv->conf;
	char *store_dir = NULL;
	int r = strata_store_dir_normalise(o->store_dir ? o->store_dir : strata_nix_conf_str(conf, "store_dir"),
					   &store_dir, err);
	if (r < 0)
		return r;
	s->store_dir = keep(p, store_dir);
	long long created_default = STRATA_DEFAULT_CREATED;
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	if (sde && *sde && strata_timestamp_parse(sde, &created_default, err) < 0)
		return strata_error_wrap(err, "SOURCE_DATE_EPOCH");
	if ((r = resolve_time(o->created, strata_nix_conf_str(conf, "created"), created_default, "created time",
			      &s->created, s->created_iso, err)) < 0 ||
	    (r = resolve_time(o->mtime, strata_nix_conf_str(conf, "mtime"), STRATA_DEFAULT_MTIME, "file time",
			      &s->mtime, NULL, err)) < 0 ||
	    (r = resolve_owner(o, conf, s, err)) < 0)
		return r;
	s->architecture = o->architecture ? o->architecture
			  : strata_nix_conf_str(conf, "architecture") ? strata_nix_conf_str(conf, "architecture")
								       : strata_image_plan_host_arch();
	s->os = STRATA_DEFAULT_OS;
	if (o->gzip_single_member && o->compress != STRATA_COMPRESS_GZIP)
		return strata_error_set(err, 0, "a single gzip member is for gzip compression");
	const strata_layer_codec *codec = strata_layer_codec_for(o->compress, o->gzip_single_member);
	if ((r = strata_layer_codec_check_level(codec, o->level, err)) < 0)
		return r;
	s->compress = o->compress;
	s->codec = codec;
	s->level = strata_layer_codec_level(codec, o->level);
	if ((r = resolve_names(p, o, err)) < 0)
		return r;
	return resolve_config(p, o, err);
}

/* ---------- the customisation layer from contents (lndir semantics) ---------- */

typedef struct join_item {
	char *rel;         /* "" for the top */
	const char **srcs; /* the sources that have rel as a directory */
	size_t nsrcs;
	char *link;        /* NULL: a directory to expand; else the entry is a symlink to it */
} join_item;

static void synth_add(struct strata_plan_private *v, char *name, char *target)
{
	v->synth = strata_xrealloc(v->synth, (v->nsynth + 1) * sizeof *v->synth);
	v->synth[v->nsynth++] = (strata_synth_entry){name, target};
}

/* The sorted union of the entries of rel in every source. */
static int join_names(const join_item *it, char ***names_ret, size_t *n_ret, strata_error *err)
{
	char **names = NULL;
	size_t n = 0;
	for (size_t i = 0; i < it->nsrcs; i++) {
		cleanup_free char *dir = strata_xasprintf("%s%s%s", it->srcs[i], *it->rel ? "/" : "", it->rel);
		/* A contents path itself may be a symlink (symlinkJoin follows
		 * it); below it, every directory was lstat'ed as one. */
		cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (*it->rel ? O_NOFOLLOW : 0));
		char **some = NULL;
		size_t ns = 0;
		if (fd < 0 || strata_file_list_dir(fd, dir, &some, &ns, err) < 0) {
			strata_file_free_names(names, n);
			return fd < 0 ? strata_error_set(err, errno, "contents: cannot open '%s'", dir) : -1;
		}
		names = strata_xrealloc(names, (n + ns + 1) * sizeof *names);
		memcpy(names + n, some, ns * sizeof *some);
		n += ns;
		free(some);
	}
	if (n > 1)
		qsort(names, n, sizeof *names, strata_file_cmp_names);
	size_t u = 0;
	for (size_t i = 0; i < n; i++) {
		if (u > 0 && strcmp(names[u - 1], names[i]) == 0)
			free(names[i]);
		else
			names[u++] = names[i];
	}
	*names_ret = names;
	*n_ret = u;
	return 0;
}

/* The child items of a directory item: directories present in several
 * sources become real directories (expanded later, in order); every other
 * entry is a symlink to the first source that has it. */
static join_item *join_children(const join_item *it, char **names, size_t n)
{
	join_item *kids = strata_xcalloc(n ? n : 1, sizeof *kids);
	for (size_t i = 0; i < n; i++) {
		join_item *k = &kids[i];
		k->rel = strata_xasprintf("%s%s%s", it->rel, *it->rel ? "/" : "", names[i]);
		k->srcs = strata_xmalloc(it->nsrcs * sizeof *k->srcs);
		const char *first = NULL;
		bool first_is_dir = false;
		for (size_t s = 0; s < it->nsrcs; s++) {
			cleanup_free char *path = strata_xasprintf("%s/%s", it->srcs[s], k->rel);
			struct stat st;
			if (lstat(path, &st) < 0)
				continue;
			if (first == NULL) {
				first = it->srcs[s];
				first_is_dir = S_ISDIR(st.st_mode);
			}
			if (S_ISDIR(st.st_mode))
				k->srcs[k->nsrcs++] = it->srcs[s];
		}
		if (!first_is_dir)
			k->link = strata_xasprintf("%s/%s", first ? first : it->srcs[0], k->rel);
	}
	return kids;
}

/* Depth-first with an explicit stack (a contents tree may be deep): each
 * entry, then, for a directory, everything below it, then the next one. */
static int join_contents(strata_image_plan *p, char *const *contents, size_t n, strata_error *err)
{
	size_t sp = 0, cap = 16;
	join_item *stack = strata_xmalloc(cap * sizeof *stack);
	stack[sp++] = (join_item){strata_xstrdup(""), strata_xmalloc(n * sizeof(char *)), n, NULL};
	memcpy(stack[0].srcs, contents, n * sizeof(char *));
	int r = 0;
	while (sp > 0 && r == 0) {
		join_item it = stack[--sp];
		if (*it.rel)
			synth_add(p->priv, strata_xasprintf("/%s", it.rel), it.link ? strata_xstrdup(it.link) : NULL);
		char **names = NULL;
		size_t nn = 0;
		if (it.link == NULL && (r = join_names(&it, &names, &nn, err)) == 0) {
			join_item *kids = join_children(&it, names, nn);
			if (sp + nn > cap) {
				cap = 2 * (sp + nn);
				stack = strata_xrealloc(stack, cap * sizeof *stack);
			}
			for (size_t i = nn; i-- > 0;) /* reversed: the first child pops first */
				stack[sp++] = kids[i];
			free(kids);
			strata_file_free_names(names, nn);
		}
		free(it.rel);
		free(it.srcs);
		free(it.link);
	}
	while (sp > 0) {
		free(stack[--sp].rel);
		free(stack[sp].srcs);
		free(stack[sp].link);
	}
	free(stack);
	return r;
}

/* ---------- layers ---------- */

static void add_layer(strata_image_plan *p, const strata_plan_layer *l)
{
	p->layers = strata_xrealloc(p->layers, (p->nlayers + 1) * sizeof *p->layers);
	p->layers[p->nlayers++] = *l;
	p->bytes_total += l->bytes;
}

static void add_store_layer(strata_image_plan *p, char *const *paths, size_t n, uint64_t bytes)
{
	cleanup_free char *repr = strata_py_format_repr_list((const char *const *)paths, n);
	strata_plan_layer l = {
		.kind = STRATA_PLAN_STORE,
		.source = {.kind = STRATA_SOURCE_TREES, .ancestors = p->priv->ancestors,
			   .nancestors = p->priv->nancestors, .paths = paths, .npaths = n},
		.store_paths = paths,
		.nstore_paths = n,
		.history = {"strata build-layered", keep(p, strata_xasprintf("store paths: %s", repr))},
		.bytes = bytes,
	};
	if (p->priv->perms) {
		l.source.meta = strata_perms_apply;
		l.source.meta_arg = p->priv->perms;
	}
	add_layer(p, &l);
}

/* holds: what nixpkgs' history comment names (the customisation layer's
 * store path; for --contents, the contents). */
static void add_customisation_layer(strata_image_plan *p, const strata_layer_source *src, const char *const *holds,
				    size_t n, const char *expect_diff_id)
{
	cleanup_free char *repr = strata_py_format_repr_list(holds, n);
	strata_plan_layer l = {.kind = STRATA_PLAN_CUSTOMISATION, .source = *src,
			       .history = {"strata build-layered", keep(p, strata_xasprintf("store paths: %s", repr))},
			       .expect_diff_id = expect_diff_id};
	if (p->priv->perms && l.source.meta == NULL && src->kind != STRATA_SOURCE_TAR) {
		l.source.meta = strata_perms_apply;
		l.source.meta_arg = p->priv->perms;
	}
	add_layer(p, &l);
}

/* A base image's layers come first, named by their member. An OCI base's
 * blobs go into an OCI output as they are. */
static void add_base_layers(strata_image_plan *p, const strata_layered_options *o)
{
	const strata_base_image *b = p->priv->base;
	for (size_t i = 0; b && i < strata_base_image_nlayers(b); i++) {
		const strata_base_layer *bl = strata_base_image_layer(b, i);
		const char *name = bl->member->h.name;
		cleanup_free char *repr = strata_py_format_repr_list(&name, 1);
		strata_plan_layer l = {
			.kind = STRATA_PLAN_BASE,
			.source = {.kind = STRATA_SOURCE_BASE, .base = b, .base_layer = i},
			.history = {"strata build-layered", keep(p, strata_xasprintf("store paths: %s", repr))},
			.bytes = bl->member->h.size,
			.expect_diff_id = bl->diff_id,
			.media_type = o->format != STRATA_FORMAT_DOCKER_ARCHIVE ? bl->media_type : NULL,
		};
		add_layer(p, &l);
	}
}

/* The directories each store layer starts with. A conf.json gets exactly
 * nixpkgs' "/nix" and "/nix/store", whatever its store_dir (the script
 * hard-codes them, and the layers must have its bytes). A closure gets every
 * ancestor of the real store directory: the same for /nix/store, and a
 * complete tree for any other. */
static void plan_ancestors(strata_image_plan *p, bool nixpkgs)
{
	struct strata_plan_private *v = p->priv;
	const char *sd = nixpkgs ? "/nix/store" : p->s.store_dir;
	for (const char *q = sd + 1;; q++) {
		if (*q == '/' || *q == '\0') {
			v->ancestors = strata_xrealloc(v->ancestors, (v->nancestors + 1) * sizeof *v->ancestors);
			v->ancestors[v->nancestors++] = strata_xstrndup(sd, (size_t)(q - sd));
		}
		if (*q == '\0')
			break;
	}
}

static bool customising(const strata_layered_options *o)
{
	return o->extra_commands || o->fakeroot_commands;
}

/* The scripts run on a copy of v->root; what they leave is the root then. */
static int customise_root(strata_image_plan *p, const strata_layered_options *o, strata_error *err)
{
	struct strata_plan_private *v = p->priv;
	strata_customise_options co = {.extra_commands = o->extra_commands, .fakeroot_commands = o->fakeroot_commands,
				       .shell = o->shell, .cancel = o->cancel};
	int r = strata_customise_run(v->root, &co, &v->customised, err);
	if (r < 0)
		return r;
	v->custom_root = strata_root_tree_create(p->s.store_dir, o->cancel);
	return strata_root_tree_merge(v->custom_root, strata_customise_dir(v->customised), false, err);
}

/* The Nix database of the closure, merged into v->root (before the
 * scripts run, as nixpkgs runs it first). */
static int add_nix_db(strata_image_plan *p, const strata_layered_options *o, char *const *roots, size_t nroots,
		      strata_error *err)
{
	struct strata_plan_private *v = p->priv;
	if (v->closure == NULL)
		return strata_error_set(err, 0, "a Nix database needs the store paths (not with no store paths)");
	int r = strata_nix_db_make(v->closure, roots, nroots, p->s.created, o->cancel, &v->nix_db, err);
	return r < 0 ? r : strata_root_tree_merge(v->root, strata_nix_db_root(v->nix_db), false, err);
}

/* The tree a customised layer is written from, and its meta hook. */
static strata_root_tree *layer_root(strata_image_plan *p, strata_layer_source *src)
{
	struct strata_plan_private *v = p->priv;
	if (v->customised) {
		strata_customise_set_next(v->customised, v->perms ? strata_perms_apply : NULL, v->perms);
		src->meta = strata_customise_apply;
		src->meta_arg = v->customised;
		return v->custom_root;
	}
	return v->root;
}

/* The layers the layering may make: the limit less the customisation
 * layer and the base's (nixpkgs' arithmetic). */
static int store_layer_budget(const strata_image_plan *p, const strata_layered_options *o, size_t *out,
			      strata_error *err)
{
	long max_layers = o->max_layers ? o->max_layers : STRATA_DEFAULT_MAX_LAYERS;
	size_t nbase = p->priv->base ? strata_base_image_nlayers(p->priv->base) : 0, nmade = p->priv->ndescs;
	if (max_layers < 2)
		return strata_error_set(err, 0, "the layer limit must be at least 2 (one is the customisation layer's)");
	if (nmade == 0 && (size_t)max_layers < nbase + 2)
		return strata_error_set(err, 0, "the base image has %zu layers: a limit of %ld leaves no room for the "
						"customisation layer and one store layer (at least %zu)", nbase, max_layers,
					nbase + 2);
	if ((size_t)max_layers < nbase + nmade + 1)
		return strata_error_set(err, 0, "%zu base and %zu given layers: a limit of %ld leaves no room for the "
						"customisation layer", nbase, nmade, max_layers);
	/* With layers made apart, 0 is possible: then they must hold every path. */
	*out = (size_t)max_layers - 1 - nbase - nmade;
	return 0;
}

/* Layers made by strata layer: loaded, counted in the limit, their paths
 * left out of the layering, used as they are. */
static int load_layer_dirs(strata_image_plan *p, const strata_layered_options *o, strata_error *err)
{
	struct strata_plan_private *v = p->priv;
	v->descs = strata_xcalloc(o->nlayer_dirs + 1, sizeof *v->descs);
	for (size_t i = 0; i < o->nlayer_dirs; i++, v->ndescs++)
		if (strata_layer_desc_load(o->layer_dirs[i], &v->descs[i], err) < 0)
			return -1;
	return 0;
}

/* A loaded descriptor's paths as the plan keeps paths (they stay its). */
static char *const *desc_paths(const strata_layer_desc *d)
{
	return (char *const *)(uintptr_t)d->store_paths;
}

static int without_layer_dirs(strata_image_plan *p, strata_error *err)
{
	struct strata_plan_private *v = p->priv;
	strata_closure *rest = NULL;
	for (size_t i = 0; i < v->ndescs; i++) {
		if (strata_closure_without(v->closure, desc_paths(&v->descs[i]), v->descs[i].npaths, &rest, err) < 0)
			return -1;
		strata_closure_free(v->closure);
		v->closure = rest;
	}
	return 0;
}

static void add_prebuilt_layers(strata_image_plan *p)
{
	struct strata_plan_private *v = p->priv;
	for (size_t i = 0; i < v->ndescs; i++) {
		const strata_layer_desc *d = &v->descs[i];
		strata_plan_layer l = {
			.kind = STRATA_PLAN_STORE,
			.source = {.kind = STRATA_SOURCE_BLOB, .desc = d},
			.store_paths = desc_paths(d),
			.nstore_paths = d->npaths,
			.history = {d->created_by, d->comment},
			.bytes = d->tar_size,
			.media_type = d->media_type,
		};
		add_layer(p, &l);
	}
}

/* Closure input: which paths in which layer comes from the layering. */
static int plan_closure_layers(strata_image_plan *p, const strata_layered_options *o, strata_error *err)
{
	struct strata_plan_private *v = p->priv;
	size_t budget = 0;
	int r = load_layer_dirs(p, o, err);
	if (r == 0)
		r = store_layer_budget(p, o, &budget, err);
	if (r == 0 && o->closure_file)
		r = strata_closure_load(o->closure_file, p->s.store_dir, v->pool, o->cancel, &v->closure, err);
	for (size_t i = 0; v->closure && i < o->ncontents && r == 0; i++)
		if (strata_closure_find(v->closure, o->contents[i]) < 0)
			r = strata_error_set(err, 0, "contents '%s' is not in the closure", o->contents[i]);
	if (r == 0 && v->closure)
		r = strata_closure_restrict(v->closure, o->roots, o->nroots, err);
	if (r == 0 && v->closure && v->ndescs)
		r = without_layer_dirs(p, err);
	if (r == 0 && v->closure && v->closure->npaths > 0 && budget == 0)
		r = strata_error_set(err, 0, "%zu store paths are in no layer given, and the layer limit leaves no room for "
						"more", v->closure->npaths);
	if (r == 0 && v->closure && v->closure->npaths > 0)
		r = strata_layering_compute(v->closure, o->layering, budget, &v->layering, err);
	if (r < 0)
		return r;
	add_base_layers(p, o);
	add_prebuilt_layers(p);
	size_t nll = v->layering ? v->layering->nlayers : 0;
	v->path_lists = strata_xcalloc(nll + 1, sizeof *v->path_lists);
	for (size_t i = 0; !o->no_store_paths && i < nll; i++, v->npath_lists++) {
		const strata_layering_layer *ll = &v->layering->layers[i];
		char **paths = v->path_lists[i] = strata_xcalloc(ll->npaths + 1, sizeof *paths);
		uint64_t bytes = 0;
		for (size_t k = 0; k < ll->npaths; k++) {
			paths[k] = v->closure->paths[ll->paths[k]].path;
			bytes += v->closure->paths[ll->paths[k]].nar_size;
		}
		add_store_layer(p, paths, ll->npaths, bytes);
	}
	if (o->ncontents > 0 && (r = join_contents(p, o->contents, o->ncontents, err)) < 0)
		return r;
	if (customising(o) || o->nix_db) {
		v->root = strata_root_tree_create(p->s.store_dir, o->cancel);
		for (size_t i = 0; i < v->nsynth; i++)
			if (v->synth[i].target)
				strata_root_tree_add_symlink(v->root, v->synth[i].name, v->synth[i].target);
			else
				strata_root_tree_add_dir(v->root, v->synth[i].name, 0755);
		if (o->nix_db && (r = add_nix_db(p, o, o->ncontents ? o->contents : o->roots,
						  o->ncontents ? o->ncontents : o->nroots, err)) < 0)
			return r;
		if (customising(o) && (r = customise_root(p, o, err)) < 0)
			return r;
		strata_layer_source src = {.kind = STRATA_SOURCE_ROOT};
		src.root = layer_root(p, &src);
		add_customisation_layer(p, &src, (const char *const *)o->contents, o->ncontents, NULL);
	} else if (o->ncontents > 0) {
		strata_layer_source src = {.kind = STRATA_SOURCE_SYNTH, .entries = v->synth, .nentries = v->nsynth};
		add_customisation_layer(p, &src, (const char *const *)o->contents, o->ncontents, NULL);
	}
	return 0;
}

/* conf.json input: its base image's layers, its layers as they are, its
 * layer.tar last. */
static void plan_conf_layers(strata_image_plan *p, const strata_layered_options *o)
{
	const strata_nix_conf *conf = &p->priv->conf;
	add_base_layers(p, o);
	for (size_t i = 0; i < conf->nlayers; i++)
		add_store_layer(p, conf->layers[i], conf->layer_sizes[i], 0);
	if (conf->customisation_tar) {
		strata_layer_source src = {.kind = STRATA_SOURCE_TAR, .tar_file = conf->customisation_tar};
		const char *cl = strata_nix_conf_str(conf, "customisation_layer");
		add_customisation_layer(p, &src, &cl, 1, conf->customisation_checksum);
	}
}

static void collect_inputs(strata_image_plan *p, const strata_layered_options *o)
{
	size_t nstore = 0;
	for (size_t i = 0; i < p->nlayers; i++)
		nstore += p->layers[i].nstore_paths;
	p->inputs = strata_xrealloc(p->inputs, (o->ncontents + o->ncopy_to_root + nstore + 10) * sizeof *p->inputs);
	p->containers[0] = p->s.store_dir;
	p->inputs[p->ninputs++] = o->from_image ? o->from_image : p->priv->conf.from_image;
	p->inputs[p->ninputs++] = o->extra_commands;
	p->inputs[p->ninputs++] = o->fakeroot_commands;
	p->inputs[p->ninputs++] = o->perms_file;
	for (size_t i = 0; i < o->ncopy_to_root; i++)
		p->inputs[p->ninputs++] = o->copy_to_root[i];
	p->inputs[p->ninputs++] = o->closure_file;
	p->inputs[p->ninputs++] = o->conf_file;
	p->inputs[p->ninputs++] = o->config_file;
	p->inputs[p->ninputs++] = strata_nix_conf_str(&p->priv->conf, "customisation_layer");
	for (size_t i = 0; i < o->ncontents; i++)
		p->inputs[p->ninputs++] = o->contents[i];
	/* Last: the store paths (output.h compares them without following). */
	for (size_t i = 0; i < p->nlayers; i++)
		for (size_t k = 0; k < p->layers[i].nstore_paths; k++)
			p->inputs[p->ninputs++] = p->layers[i].store_paths[k];
	p->nstore_paths = nstore;
}

/* What every plan starts with: conf.json, the perms rules, the base
 * image (the option's wins over conf.json's), the settings. */
static int plan_begin(strata_image_plan *p, const strata_layered_options *o, strata_error *err)
{
	struct strata_plan_private *v = p->priv;
	int r = 0;
	if (o->conf_file && (r = strata_nix_conf_load(o->conf_file, &v->conf, err)) < 0)
		return r;
	if (o->perms_file && (r = strata_perms_load(o->perms_file, &v->perms, err)) < 0)
		return r;
	p->perms = v->perms;
	const char *from = o->from_image ? o->from_image : v->conf.from_image;
	if (from && (r = strata_base_image_open(from, o->from_image_name, o->from_image_tag, o->cancel, &v->base,
						 err)) < 0)
		return o->from_image ? r : strata_error_wrap(err, "%s: from_image", o->conf_file);
	if ((r = resolve_settings(p, o, err)) < 0)
		return r;
	if (v->base)
		p->s.base_history = json_object_get(strata_base_image_config(v->base), "history");
	return v->base ? check_base_platform(p, err) : 0;
}

int strata_image_plan_layered(strata_pool *pool, const strata_layered_options *o, strata_image_plan **out,
			       strata_error *err)
{
	int r = check_inputs(o, err);
	if (r < 0)
		return r;
	cleanup_plan strata_image_plan *p = strata_xcalloc(1, sizeof *p);
	p->priv = strata_xcalloc(1, sizeof *p->priv);
	p->priv->pool = pool;
	if ((r = plan_begin(p, o, err)) < 0)
		return r;
	plan_ancestors(p, o->conf_file != NULL);
	if (o->conf_file)
		plan_conf_layers(p, o);
	else if ((r = plan_closure_layers(p, o, err)) < 0)
		return r;
	if (p->nlayers == 0)
		return strata_error_set(err, 0, "the image would have no layers");
	collect_inputs(p, o);
	*out = strata_steal_pointer(&p);
	return 0;
}

/* ---------- strata layer ---------- */

int strata_image_plan_store_layer(strata_pool *pool, const strata_layered_options *o, strata_image_plan **out,
				   strata_error *err)
{
	if (!o->closure_file)
		return strata_error_set(err, 0, "a layer needs the closure its paths are in");
	if (o->conf_file || o->ncontents || o->ncopy_to_root || o->from_image || customising(o) || o->nix_db)
		return strata_error_set(err, 0, "a layer made apart holds store paths only");
	cleanup_plan strata_image_plan *p = strata_xcalloc(1, sizeof *p);
	p->priv = strata_xcalloc(1, sizeof *p->priv);
	p->priv->pool = pool;
	struct strata_plan_private *v = p->priv;
	int r = plan_begin(p, o, err);
	if (r == 0)
		r = load_layer_dirs(p, o, err);
	if (r == 0)
		r = strata_closure_load(o->closure_file, p->s.store_dir, v->pool, o->cancel, &v->closure, err);
	if (r == 0 && o->nroots)
		r = strata_closure_restrict(v->closure, o->roots, o->nroots, err);
	if (r == 0 && v->ndescs)
		r = without_layer_dirs(p, err);
	if (r < 0)
		return r;
	plan_ancestors(p, false);
	size_t n = o->nlayer_paths ? o->nlayer_paths : v->closure->npaths;
	char **paths = strata_xcalloc(n + 1, sizeof *paths);
	v->path_lists = strata_xcalloc(1, sizeof *v->path_lists);
	v->path_lists[v->npath_lists++] = paths;
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++) {
		long k = o->nlayer_paths ? strata_closure_find(v->closure, o->layer_paths[i]) : (long)i;
		if (k < 0)
			return strata_error_set(err, 0, "'%s' is not in the closure (or is in a layer given)", o->layer_paths[i]);
		paths[i] = v->closure->paths[k].path;
		bytes += v->closure->paths[k].nar_size;
	}
	if (n == 0)
		return strata_error_set(err, 0, "the layer would hold no store path");
	add_store_layer(p, paths, n, bytes);
	collect_inputs(p, o);
	*out = strata_steal_pointer(&p);
	return 0;
}

/* ---------- strata build ---------- */

/* The store path a path is in (after resolving symlinks), or NULL. */
static char *store_path_of(const char *path, const char *store_dir)
{
	cleanup_free char *real = realpath(path, NULL);
	size_t sl = strlen(store_dir);
	if (real == NULL || strncmp(real, store_dir, sl) != 0 || real[sl] != '/')
		return NULL;
	const char *end = strchr(real + sl + 1, '/');
	return end ? strata_xstrndup(real, (size_t)(end - real)) : strata_xstrdup(real);
}

static void add_root(char ***roots, size_t *n, char *path)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*roots)[i], path) == 0) {
			free(path);
			return;
		}
	*roots = strata_xrealloc(*roots, (*n + 1) * sizeof **roots);
	(*roots)[(*n)++] = path;
}

/* The store paths the copy-to-root paths are in, each once. */
static size_t copy_to_root_paths(const strata_image_plan *p, const strata_layered_options *o, char ***roots)
{
	size_t n = 0;
	for (size_t i = 0; i < o->ncopy_to_root; i++) {
		char *sp = store_path_of(o->copy_to_root[i], p->s.store_dir);
		if (sp)
			add_root(roots, &n, sp);
	}
	return n;
}

/* Store paths the runtime config names (Cmd, Entrypoint, Env...): the image
 * must hold them, as nixpkgs' closure of its config does. */
static void config_roots(const json_t *config, const char *store_dir, char ***roots, size_t *n)
{
	cleanup_free char *text = json_dumps(config, JSON_COMPACT);
	size_t sl = strlen(store_dir);
	for (const char *q = text ? strstr(text, store_dir) : NULL; q; q = strstr(q + 1, store_dir)) {
		const char *h = q + sl;
		if (*h != '/')
			continue;
		size_t k = 0;
		while (k < STRATA_HASH_LEN && strata_store_is_nix32((unsigned char)h[1 + k]))
			k++;
		if (k != STRATA_HASH_LEN || h[1 + k] != '-')
			continue;
		const char *e = h + 2 + k;
		while (*e && (strchr("+-._?=", *e) || (*e >= '0' && *e <= '9') || ((*e | 32) >= 'a' && (*e | 32) <= 'z')))
			e++;
		add_root(roots, n, strata_xstrndup(q, (size_t)(e - q)));
	}
}

/* The closure of the copy-to-root paths and the config: the given one
 * restricted to them, or found by scanning the store. */
static int build_closure(strata_image_plan *p, const strata_layered_options *o, strata_error *err)
{
	struct strata_plan_private *v = p->priv;
	char **roots = NULL;
	size_t nroots = copy_to_root_paths(p, o, &roots);
	for (size_t i = 0; i < o->nroots; i++)
		add_root(&roots, &nroots, strata_xstrdup(o->roots[i]));
	config_roots(p->s.config, p->s.store_dir, &roots, &nroots);
	int r = 0;
	if (o->closure_file) {
		r = strata_closure_load(o->closure_file, p->s.store_dir, v->pool, o->cancel, &v->closure, err);
		if (r == 0 && nroots > 0)
			r = strata_closure_restrict(v->closure, roots, nroots, err);
	} else if (nroots > 0) {
		r = strata_store_scan_discover(roots, nroots, p->s.store_dir, o->cancel, &v->closure, err);
	}
	strata_file_free_names(roots, nroots);
	return r;
}

/* The Nix database after the copy-to-root paths, their store paths its
 * gcroots. */
static int build_nix_db(strata_image_plan *p, const strata_layered_options *o, strata_error *err)
{
	char **roots = NULL;
	size_t nroots = copy_to_root_paths(p, o, &roots);
	int r = add_nix_db(p, o, roots, nroots, err);
	strata_file_free_names(roots, nroots);
	return r;
}

int strata_image_plan_build(strata_pool *pool, const strata_layered_options *o, strata_image_plan **out,
			     strata_error *err)
{
	if (o->conf_file || o->ncontents || o->layering != STRATA_LAYERING_DEFAULT || o->max_layers)
		return strata_error_set(err, 0, "a one-layer image takes no conf.json, contents, layering or layer limit");
	cleanup_plan strata_image_plan *p = strata_xcalloc(1, sizeof *p);
	p->priv = strata_xcalloc(1, sizeof *p->priv);
	p->priv->pool = pool;
	struct strata_plan_private *v = p->priv;
	int r = plan_begin(p, o, err);
	if (r == 0 && o->nix_db && o->no_store_paths)
		r = strata_error_set(err, 0, "a Nix database needs the store paths (not with no store paths)");
	if (r == 0 && !o->no_store_paths)
		r = build_closure(p, o, err);
	if (r < 0)
		return r;
	v->root = strata_root_tree_create(p->s.store_dir, o->cancel);
	for (size_t i = 0; i < o->ncopy_to_root && r == 0; i++)
		if ((r = strata_root_tree_merge(v->root, o->copy_to_root[i], !o->keep_contents_dirlinks, err)) < 0)
			return strata_error_wrap(err, "copy-to-root");
	if (o->nix_db && (r = build_nix_db(p, o, err)) < 0)
		return r;
	if (customising(o) && (r = customise_root(p, o, err)) < 0)
		return r;
	strata_layer_source src = {.kind = STRATA_SOURCE_ROOT};
	strata_root_tree *root = layer_root(p, &src);
	if (src.meta == NULL && v->perms) {
		src.meta = strata_perms_apply;
		src.meta_arg = v->perms;
	}
	src.root = root;
	uint64_t bytes = strata_root_tree_bytes(root);
	char *const *paths = NULL;
	size_t npaths = 0;
	if (v->closure) {
		v->path_lists = strata_xcalloc(1, sizeof *v->path_lists);
		char **list = v->path_lists[v->npath_lists++] = strata_xcalloc(v->closure->npaths + 1, sizeof *list);
		plan_ancestors(p, false);
		for (size_t i = 0; i < v->nancestors; i++)
			strata_root_tree_add_dir(root, v->ancestors[i], 0755);
		for (size_t i = 0; i < v->closure->npaths; i++) {
			list[i] = v->closure->paths[i].path;
			strata_root_tree_add_store_path(root, list[i]);
			bytes += v->closure->paths[i].nar_size;
		}
		paths = list;
		npaths = v->closure->npaths;
	}
	add_base_layers(p, o);
	cleanup_free char *repr = strata_py_format_repr_list((const char *const *)paths, npaths);
	strata_plan_layer l = {.kind = STRATA_PLAN_CUSTOMISATION, .source = src, .store_paths = paths,
			       .nstore_paths = npaths,
			       .history = {"strata build", keep(p, strata_xasprintf("store paths: %s", repr))},
			       .bytes = bytes};
	add_layer(p, &l);
	collect_inputs(p, o);
	*out = strata_steal_pointer(&p);
	return 0;
}

void strata_image_plan_free(strata_image_plan *p)
{
	if (p == NULL)
		return;
	struct strata_plan_private *v = p->priv;
	if (v) {
		strata_root_tree_free(v->custom_root);
		strata_nix_db_free(v->nix_db);
		for (size_t i = 0; i < v->ndescs; i++)
			strata_layer_desc_fini(&v->descs[i]);
		free(v->descs);
		strata_customise_free(v->customised);
		strata_root_tree_free(v->root);
		strata_perms_free(v->perms);
		strata_nix_conf_fini(&v->conf);
		strata_base_image_free(v->base);
		strata_layering_free(v->layering);
		strata_closure_free(v->closure);
		strata_ref_fini(&v->repo_tag);
		for (size_t i = 0; i < v->nsynth; i++) {
			free(v->synth[i].name);
			free(v->synth[i].target);
		}
		free(v->synth);
		strata_file_free_names(v->strings, v->nstrings);
		strata_file_free_names(v->ancestors, v->nancestors);
		for (size_t i = 0; i < v->npath_lists; i++)
			free(v->path_lists[i]);
		free(v->path_lists);
		free(v);
	}
	json_decref(p->s.config);
	json_decref(p->s.docker_config);
	free(p->layers);
	free(p->inputs);
	free(p);
}
