#define _GNU_SOURCE
#include "image_layered.h"
#include "closure.h"
#include "file.h"
#include "image_config.h"
#include "nix_conf.h"
#include "ref.h"
#include "strata_util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>

/* ---------- time ---------- */

static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

int strata_parse_time(const char *s, long long *epoch_ret, strata_error *err)
{
	char *end = NULL;
	if (*s != '\0' && strspn(s, "0123456789") == strlen(s)) {
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (errno != 0 || v > 253402300799LL)
			return strata_error_set(err, 0, "time '%s' is out of range", s);
		*epoch_ret = v;
		return 0;
	}
	/* Fixed positions: YYYY-MM-DDTHH:MM:SS (sscanf would take one-digit
	 * fields, signs and spaces). */
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	size_t n = sizeof shape - 1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = shape[i] == 'd' ? isdigit((unsigned char)c) != 0
			  : shape[i] == 'T' ? (c == 'T' || c == 't' || c == ' ')
					    : c == shape[i];
		if (!ok)
			return strata_error_set(err, 0, "'%s' is not an RFC 3339 time (e.g. 2024-01-31T12:00:00Z)", s);
	}
#define NUM2(i) ((s[i] - '0') * 10 + (s[(i) + 1] - '0'))
	int Y = NUM2(0) * 100 + NUM2(2), M = NUM2(5), D = NUM2(8), h = NUM2(11), mi = NUM2(14), sec = NUM2(17);
#undef NUM2
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
	if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || (M == 2 && D == 29 && !leap) || h > 23 || mi > 59 ||
	    sec > 60)
		return strata_error_set(err, 0, "'%s' is not a valid date and time", s);
	const char *p = s + n;
	if (*p == '.') /* fractions are dropped: tar and config keep seconds */
		for (p++; isdigit((unsigned char)*p); p++) {
		}
	long long off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		/* exactly [+-]hh:mm */
		const char *q = p + 1;
		if (!isdigit((unsigned char)q[0]) || !isdigit((unsigned char)q[1]) || q[2] != ':' ||
		    !isdigit((unsigned char)q[3]) || !isdigit((unsigned char)q[4]))
			return strata_error_set(err, 0, "'%s': bad time zone offset (want +hh:mm)", s);
		int oh = (q[0] - '0') * 10 + (q[1] - '0'), om = (q[3] - '0') * 10 + (q[4] - '0');
		if (oh > 23 || om > 59)
			return strata_error_set(err, 0, "'%s': bad time zone offset (want +hh:mm)", s);
		off = (oh * 3600LL + om * 60LL) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return strata_error_set(err, 0, "'%s' has no time zone (add Z or +hh:mm)", s);
	}
	if (*p != '\0')
		return strata_error_set(err, 0, "'%s' is not an RFC 3339 time", s);
	long long epoch = days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600LL + mi * 60LL + sec - off;
	/* Clients parse four-digit years only (a leap second or an offset can
	 * carry 9999-12-31 into year 10000), and tar cannot hold times before
	 * the epoch. */
	if (epoch < 0 || epoch > 253402300799LL)
		return strata_error_set(err, 0, "'%s' is out of range (1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z)", s);
	*epoch_ret = epoch;
	return 0;
}

void strata_format_time(long long epoch, char out[32])
{
	time_t t = (time_t)epoch;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

const char *strata_host_goarch(void)
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

/* Python's repr of a list of str, as nixpkgs writes history comments. */
static char *py_list_repr(char *const *items, size_t n)
{
	size_t cap = 16, len = 0;
	char *s = strata_xmalloc(cap);
	s[len++] = '[';
	for (size_t i = 0; i < n; i++) {
		size_t need = strlen(items[i]) + 5;
		if (len + need + 2 > cap) {
			cap = 2 * (len + need + 2);
			s = strata_xrealloc(s, cap);
		}
		len += (size_t)sprintf(s + len, "%s'%s'", i ? ", " : "", items[i]);
	}
	s[len++] = ']';
	s[len] = '\0';
	return s;
}

/* ---------- --contents: the customisation layer (lndir semantics) ---------- */

typedef struct synth_list {
	strata_synth_entry *v;
	size_t n;
} synth_list;

static void synth_add(synth_list *l, char *name, char *target)
{
	l->v = strata_xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n].name = name;
	l->v[l->n].target = target;
	l->n++;
}

static void synth_free(synth_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].target);
	}
	free(l->v);
}

/* Directories present in several sources become real directories; every
 * other entry is a symlink to the first source that has it (as symlinkJoin's
 * lndir does). rel is "" at the top. */
static int join_level(synth_list *out, const char *rel, char **srcs, size_t ns, strata_error *err)
{
	char **names = NULL;
	size_t nn = 0;
	for (size_t i = 0; i < ns; i++) {
		cleanup_free char *dir = strata_xasprintf("%s%s%s", srcs[i], *rel ? "/" : "", rel);
		DIR *d = opendir(dir);
		if (d == NULL)
			return strata_error_set(err, errno, "--contents: cannot open '%s'", dir);
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			names = strata_xrealloc(names, (nn + 1) * sizeof *names);
			names[nn++] = strata_xstrdup(de->d_name);
		}
		closedir(d);
	}
	if (nn > 1)
		qsort(names, nn, sizeof *names, strata_cmp_strp);
	int r = 0;
	for (size_t i = 0; i < nn && r == 0; i++) {
		if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
			continue;
		cleanup_free char *child = strata_xasprintf("%s%s%s", rel, *rel ? "/" : "", names[i]);
		char **dirs = strata_xmalloc(ns * sizeof *dirs);
		size_t nd = 0;
		const char *first = NULL;
		bool first_is_dir = false;
		for (size_t k = 0; k < ns; k++) {
			cleanup_free char *p = strata_xasprintf("%s/%s", srcs[k], child);
			struct stat st;
			if (lstat(p, &st) < 0)
				continue;
			if (first == NULL) {
				first = srcs[k];
				first_is_dir = S_ISDIR(st.st_mode);
			}
			if (S_ISDIR(st.st_mode))
				dirs[nd++] = srcs[k];
		}
		if (first_is_dir) {
			synth_add(out, strata_xstrdup(child), NULL);
			r = join_level(out, child, dirs, nd, err);
		} else {
			synth_add(out, strata_xstrdup(child), strata_xasprintf("%s/%s", first, child));
		}
		free(dirs);
	}
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	return r;
}

/* ---------- the build ---------- */

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct progress_fwd {
	const strata_layered_options *o;
	uint64_t total;
} progress_fwd;

static void progress_cb(void *arg, uint64_t done)
{
	progress_fwd *p = arg;
	p->o->progress(p->o->progress_arg, done, p->total);
}

int strata_build_layered(strata_pool *pool, const strata_layered_options *o, json_t **summary_ret,
			 strata_error *err)
{
	double t0 = now_seconds();
	cleanup_free char *store_dir = NULL;
	int r = 0;
	strata_nix_conf conf = {0};
	strata_closure *closure = NULL;
	strata_layering *layering = NULL;
	strata_layout *layout = NULL;
	synth_list synth = {0};
	json_t *user_config = NULL;
	strata_layer_source *sources = NULL;
	strata_layer_result *results = NULL;
	size_t nsources = 0;
	json_t *summary = NULL;
	char **layer_comments = NULL;

	if (o->conf_file && o->closure_file)
		return strata_error_set(err, 0, "--conf and --closure cannot be used together");
	if (!o->conf_file && !o->closure_file)
		return strata_error_set(err, 0, "no input: give --closure FILE (or --conf FILE)");
	if (o->conf_file) {
		if ((r = strata_nix_conf_load(o->conf_file, &conf, err)) < 0)
			goto out;
	}
	if ((r = strata_store_dir_normalise(o->store_dir ? o->store_dir : strata_nix_conf_str(&conf, "store_dir"),
					    &store_dir, err)) < 0)
		goto out;
	if (o->name && (r = strata_ref_check_name(o->name, err)) < 0)
		goto out;

	/* Resolve the options that conf.json can also give (options win). */
	const char *created_s = o->created ? o->created : strata_nix_conf_str(&conf, "created");
	const char *mtime_s = o->mtime ? o->mtime : strata_nix_conf_str(&conf, "mtime");
	const char *arch = o->architecture ? o->architecture
		: strata_nix_conf_str(&conf, "architecture") ? strata_nix_conf_str(&conf, "architecture")
								      : strata_host_goarch();
	long long created = 1, mtime = 1;
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	if (created_s && strcmp(created_s, "now") == 0)
		created = (long long)time(NULL);
	else if (created_s)
		r = strata_parse_time(created_s, &created, err);
	else if (sde && *sde)
		r = strata_parse_time(sde, &created, err) < 0 ? strata_error_wrap(err, "SOURCE_DATE_EPOCH") : 0;
	if (r < 0)
		goto out;
	if (mtime_s && strcmp(mtime_s, "now") == 0)
		mtime = (long long)time(NULL);
	else if (mtime_s && (r = strata_parse_time(mtime_s, &mtime, err)) < 0)
		goto out;
	long long uid = o->uid >= 0 ? o->uid : 0, gid = o->gid >= 0 ? o->gid : 0;
	const char *uname_s = o->uname, *gname_s = o->gname;
	if (conf.root) {
		/* nixpkgs passes these as strings (jq --arg). */
		/* validated by strata_nix_conf_parse */
		if (o->uid < 0)
			strata_nix_conf_id(&conf, "uid", &uid, NULL);
		if (o->gid < 0)
			strata_nix_conf_id(&conf, "gid", &gid, NULL);
		if (!uname_s)
			uname_s = strata_nix_conf_str(&conf, "uname");
		if (!gname_s)
			gname_s = strata_nix_conf_str(&conf, "gname");
	}
	if (uid < 0 || uid > 2097151 || gid < 0 || gid > 2097151) {
		r = strata_error_set(err, 0, "uid/gid must be between 0 and 2097151");
		goto out;
	}

	/* The runtime config. */
	if (o->config_file) {
		char *buf = NULL;
		size_t len = 0;
		if ((r = strata_file_read_all(AT_FDCWD, o->config_file, 0, STRATA_FILE_MAX_JSON, "config file", &buf, &len, err)) == 0)
			r = strata_image_config_parse(buf, len, o->config_file, &user_config, err);
		free(buf);
	} else {
		r = strata_image_config_normalise(conf.root ? json_object_get(conf.root, "config") : NULL,
						  o->conf_file ? o->conf_file : "config", &user_config, err);
	}
	if (r < 0)
		goto out;

	/* Which paths in which layer. */
	long max_layers = o->max_layers ? o->max_layers : 100;
	if (!o->conf_file) {
		if (max_layers < 2) {
			r = strata_error_set(err, 0, "--max-layers must be at least 2 (one is reserved for the customisation layer)");
			goto out;
		}
		if ((r = strata_closure_load(o->closure_file, store_dir, &closure, err)) < 0)
			goto out;
		for (size_t i = 0; i < o->ncontents; i++)
			if (strata_closure_find(closure, o->contents[i]) < 0) {
				r = strata_error_set(err, 0, "--contents '%s' is not in the closure", o->contents[i]);
				goto out;
			}
		if ((r = strata_closure_restrict(closure, o->roots, o->nroots, err)) < 0)
			goto out;
		if ((r = strata_layering_compute(closure, o->layering, (size_t)max_layers - 1, &layering, err)) < 0)
			goto out;
		nsources = layering->nlayers;
	} else {
		nsources = conf.nlayers;
	}
	bool custom = o->ncontents > 0 || conf.customisation_tar != NULL;
	sources = strata_xcalloc(nsources + 1, sizeof *sources);
	layer_comments = strata_xcalloc(nsources + 2, sizeof *layer_comments);
	json_t *layer_paths = json_array(); /* per layer, for the summary */
	uint64_t total = 0;
	for (size_t i = 0; i < nsources; i++) {
		json_t *pl = json_array();
		if (layering) {
			const strata_layer_plan *lp = &layering->layers[i];
			sources[i].store_paths = strata_xcalloc(lp->npaths, sizeof(char *));
			sources[i].nstore_paths = lp->npaths;
			for (size_t k = 0; k < lp->npaths; k++) {
				sources[i].store_paths[k] = closure->paths[lp->paths[k]].path;
				total += closure->paths[lp->paths[k]].nar_size;
			}
		} else {
			sources[i].store_paths = conf.layers[i];
			sources[i].nstore_paths = conf.layer_sizes[i];
		}
		for (size_t k = 0; k < sources[i].nstore_paths; k++)
			json_array_append_new(pl, json_string(sources[i].store_paths[k]));
		layer_comments[i] = py_list_repr(sources[i].store_paths, sources[i].nstore_paths);
		json_array_append_new(layer_paths, pl);
	}
	if (custom) {
		if (conf.customisation_tar) {
			sources[nsources].tar_file = conf.customisation_tar;
		} else {
			if ((r = join_level(&synth, "", o->contents, o->ncontents, err)) < 0) {
				json_decref(layer_paths);
				goto out;
			}
			sources[nsources].synth = synth.v;
			sources[nsources].nsynth = synth.n;
		}
		layer_comments[nsources] = strata_xstrdup("customisation layer");
		json_array_append_new(layer_paths, json_array());
		nsources++;
	}
	if (nsources == 0) {
		json_decref(layer_paths);
		r = strata_error_set(err, 0, "the image would have no layers");
		goto out;
	}

	/* Everything this run reads: the output may not touch any of it. */
	const char **inputs = strata_xcalloc(o->ncontents + 5, sizeof *inputs);
	size_t ninputs = 0;
	inputs[ninputs++] = store_dir;
	inputs[ninputs++] = o->closure_file;
	inputs[ninputs++] = o->conf_file;
	inputs[ninputs++] = o->config_file;
	inputs[ninputs++] = strata_nix_conf_str(&conf, "customisation_layer");
	for (size_t i = 0; i < o->ncontents; i++)
		inputs[ninputs++] = o->contents[i];
	strata_output_options oo = {.force = o->force, .inputs = inputs, .ninputs = ninputs};
	r = strata_layout_create(o->output, o->format, &oo, &layout, err);
	free(inputs);
	if (r < 0) {
		json_decref(layer_paths);
		goto out;
	}
	results = strata_xcalloc(nsources, sizeof *results);
	int level = o->level ? o->level : (o->compress == STRATA_COMPRESS_ZSTD ? 3 : 6);
	progress_fwd pf = {o, total};
	strata_build_options bo = {
		.compress = o->compress,
		.level = level,
		.store_dir = store_dir,
		.tar = {.mtime = mtime, .uid = uid, .gid = gid, .uname = uname_s, .gname = gname_s},
		.progress = o->progress ? progress_cb : NULL,
		.progress_arg = &pf,
	};
	double t_layers = now_seconds();
	r = strata_layers_build(pool, &bo, strata_layout_blob_dir(layout), sources, nsources, results, err);
	t_layers = now_seconds() - t_layers;
	if (r < 0) {
		json_decref(layer_paths);
		goto out;
	}

	/* config, manifest, index, oci-layout */
	char created_str[32];
	strata_format_time(created, created_str);
	json_t *cfg = json_object();
	json_object_set_new(cfg, "created", json_string(created_str));
	json_object_set_new(cfg, "architecture", json_string(arch));
	json_object_set_new(cfg, "os", json_string("linux"));
	json_object_set(cfg, "config", user_config);
	json_t *rootfs = json_object(), *diff_ids = json_array(), *history = json_array();
	json_object_set_new(rootfs, "type", json_string("layers"));
	for (size_t i = 0; i < nsources; i++) {
		json_array_append_new(diff_ids, json_sprintf("sha256:%s", results[i].diff_id));
		json_t *h = json_object();
		json_object_set_new(h, "created", json_string(created_str));
		json_object_set_new(h, "created_by", json_string("strata build-layered"));
		json_object_set_new(h, "comment", json_sprintf("%s%s", layer_comments[i][0] == '[' ? "store paths: " : "",
								layer_comments[i]));
		json_array_append_new(history, h);
	}
	json_object_set_new(rootfs, "diff_ids", diff_ids);
	json_object_set_new(cfg, "rootfs", rootfs);
	json_object_set_new(cfg, "history", history);
	char cfg_hex[65], man_hex[65];
	uint64_t cfg_size = 0, man_size = 0;
	r = strata_layout_put_json(layout, cfg, cfg_hex, &cfg_size, err);
	json_decref(cfg);
	if (r < 0) {
		json_decref(layer_paths);
		goto out;
	}

	json_t *layers = json_array();
	for (size_t i = 0; i < nsources; i++)
		json_array_append_new(layers, strata_oci_descriptor(strata_compress_media_type(o->compress),
								    results[i].digest, results[i].size));
	json_t *man = strata_oci_manifest(cfg_hex, cfg_size, layers);
	json_decref(layers);
	r = strata_layout_put_json(layout, man, man_hex, &man_size, err);
	json_decref(man);
	if (r < 0) {
		json_decref(layer_paths);
		goto out;
	}

	/* Tag: given, else (as nixpkgs) derived from a hash of the inputs: the
	 * config digest covers every diff_id and the whole config. */
	char tag_buf[33];
	const char *tag = o->tag;
	strata_ref repo_tag = {0};
	if (tag == NULL && strata_nix_conf_str(&conf, "repo_tag")) {
		if ((r = strata_ref_parse(strata_nix_conf_str(&conf, "repo_tag"), &repo_tag, err)) < 0) {
			strata_ref_fini(&repo_tag);
			json_decref(layer_paths);
			strata_error_wrap(err, "%s: repo_tag", o->conf_file);
			goto out;
		}
		tag = repo_tag.tag ? repo_tag.tag : "latest";
	}
	if (tag == NULL) {
		memcpy(tag_buf, cfg_hex, 32);
		tag_buf[32] = '\0';
		tag = tag_buf;
	}
	if ((r = strata_ref_check_tag(tag, err)) < 0 || (r = strata_ref_check_ref_name(tag, err)) < 0) {
		strata_ref_fini(&repo_tag);
		json_decref(layer_paths);
		goto out;
	}
	json_t *mans = json_array();
	strata_oci_index_add(mans, man_hex, man_size, tag, arch, "linux");
	r = strata_layout_finish(layout, mans, err);
	if (r < 0) {
		strata_ref_fini(&repo_tag);
		json_decref(layer_paths);
		goto out;
	}

	summary = json_object();
	json_object_set_new(summary, "output", json_string(o->output));
	if (o->name)
		json_object_set_new(summary, "name", json_string(o->name));
	json_object_set_new(summary, "tag", json_string(tag));
	strata_ref_fini(&repo_tag);
	json_object_set_new(summary, "manifest", json_sprintf("sha256:%s", man_hex));
	json_object_set_new(summary, "config", json_sprintf("sha256:%s", cfg_hex));
	json_object_set_new(summary, "media_type", json_string(strata_compress_media_type(o->compress)));
	json_t *sl = json_array();
	uint64_t sum_tar = 0, sum_blob = 0;
	for (size_t i = 0; i < nsources; i++) {
		json_t *L = json_object();
		json_object_set_new(L, "digest", json_sprintf("sha256:%s", results[i].digest));
		json_object_set_new(L, "diff_id", json_sprintf("sha256:%s", results[i].diff_id));
		json_object_set_new(L, "size", json_integer((json_int_t)results[i].size));
		json_object_set_new(L, "uncompressed_size", json_integer((json_int_t)results[i].tar_size));
		json_object_set(L, "store_paths", json_array_get(layer_paths, i));
		json_array_append_new(sl, L);
		sum_tar += results[i].tar_size;
		sum_blob += results[i].size;
	}
	json_decref(layer_paths);
	json_object_set_new(summary, "layers", sl);
	json_object_set_new(summary, "uncompressed_bytes", json_integer((json_int_t)sum_tar));
	json_object_set_new(summary, "compressed_bytes", json_integer((json_int_t)sum_blob));
	json_t *tm = json_object();
	json_object_set_new(tm, "layers_seconds", json_real(t_layers));
	json_object_set_new(tm, "total_seconds", json_real(now_seconds() - t0));
	json_object_set_new(summary, "timings", tm);
	json_object_set_new(summary, "threads", json_integer(strata_pool_threads(pool)));
	*summary_ret = summary;

out:
	strata_layout_free(layout);
	if (sources && layering)
		for (size_t i = 0; i < layering->nlayers; i++)
			free(sources[i].store_paths);
	free(sources);
	if (layer_comments)
		for (size_t i = 0; i <= nsources; i++)
			free(layer_comments[i]);
	free(layer_comments);
	free(results);
	synth_free(&synth);
	json_decref(user_config);
	strata_layering_free(layering);
	strata_closure_free(closure);
	strata_nix_conf_fini(&conf);
	return r;
}
