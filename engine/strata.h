/* strata.h: the public interface of libstrata, the engine behind the strata
 * command. A front end (programs/strata) includes this header and
 * sched_pool.h, nothing else.
 *
 * Every entry point follows the error convention of strata_error.h: it
 * returns 0 (and a summary) or a negative value with err filled. Options are
 * zero-initialisable: zero or NULL means the default, every default is
 * written once, below or in the codec table. Inputs are borrowed for the
 * duration of the call.
 *
 * Threads: call an entry point from a thread that is not a worker of the
 * pool it is given; the pool runs the parallel parts. Entry points are
 * reentrant: no global state (cancellation is a token in the options). */
#ifndef STRATA_H
#define STRATA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cancel.h"
#include "sched_pool.h"
#include "strata_error.h"

#define STRATA_VERSION "0.2.0"

/* ---------- defaults, written once ---------- */

#define STRATA_DEFAULT_STORE_DIR "/nix/store"
#define STRATA_DEFAULT_MAX_LAYERS 100 /* nixpkgs' default; one is the customisation layer's */
#define STRATA_DEFAULT_CREATED 1      /* 1970-01-01T00:00:01Z, nixpkgs' default */
#define STRATA_DEFAULT_MTIME 1
#define STRATA_DEFAULT_OS "linux"
/* The largest uid/gid (a uid_t); above 2097151 they go into pax records. */
#define STRATA_MAX_ID 4294967295LL

/* ---------- enums ---------- */

typedef enum strata_compress {
	STRATA_COMPRESS_GZIP, /* default */
	STRATA_COMPRESS_ZSTD,
	STRATA_COMPRESS_NONE,
} strata_compress;

typedef enum strata_layout_format {
	STRATA_FORMAT_DIRECTORY,      /* an OCI image layout directory (default) */
	STRATA_FORMAT_TARBALL,        /* the same as one tar (an oci-archive) */
	STRATA_FORMAT_DOCKER_ARCHIVE, /* docker load's format, as nixpkgs writes it; layers uncompressed */
} strata_layout_format;

typedef enum strata_layering_kind {
	STRATA_LAYERING_DEFAULT, /* unset: auto */
	STRATA_LAYERING_AUTO,    /* nixpkgs' size-based auto-layer (its default) */
	STRATA_LAYERING_POPULARITY,
} strata_layering_kind;

typedef enum strata_store_mode {
	STRATA_STORE_COPY, /* the closure copied into rootfs (default) */
	STRATA_STORE_HARDLINK,
	STRATA_STORE_BIND,
} strata_store_mode;

/* ---------- progress ---------- */

typedef struct strata_progress {
	uint64_t bytes_done, bytes_total; /* uncompressed layer bytes; total 0 when unknown */
	size_t layers_done, layers_total; /* layers_total 0 when unknown */
} strata_progress;

/* Called from any thread, never concurrently with itself, at most a few
 * times per layer chunk; must be quick and must not call back into strata. */
typedef void (*strata_progress_fn)(void *arg, const strata_progress *p);

/* ---------- build-layered ---------- */

typedef struct strata_layered_options {
	/* Input: exactly one of closure_file and conf_file. */
	const char *closure_file; /* any closure form (closure_load.h) */
	const char *conf_file;    /* nixpkgs' conf.json: fixes layers, customisation layer */
	char *const *roots;       /* image roots within the closure (closure input only) */
	size_t nroots;
	char *const *contents; /* linked into / as symlinkJoin would (closure input only) */
	size_t ncontents;
	const char *config_file; /* the runtime config (Cmd, Env, ...) */
	const char *config_json; /* the same as JSON text (not with config_file) */
	/* Image settings. Precedence: these > conf.json > SOURCE_DATE_EPOCH
	 * (created only) > the defaults above. */
	const char *name, *tag;
	const char *repo_tag;     /* a Docker archive's RepoTags entry, verbatim (wins over conf.json's) */
	const char *created;      /* RFC 3339, decimal epoch, or "now" */
	const char *mtime;        /* of every file in the layers; same forms */
	long long uid, gid;       /* -1: unset (0 is a value) */
	const char *uname, *gname; /* NULL: root */
	const char *architecture; /* GOARCH name; NULL: this machine's */
	const char *store_dir;
	/* strata build (one layer): the entries of each directory copied into
	 * / in turn (rsync -a: directories merged, the later wins), symlinks to
	 * directories followed unless keep_contents_dirlinks (root_tree.h). */
	char *const *copy_to_root;
	size_t ncopy_to_root;
	bool keep_contents_dirlinks;
	/* A base image: a Docker archive (plain or compressed as a whole); its
	 * layers come first. from_image_name/tag pick one of several images. */
	const char *from_image, *from_image_name, *from_image_tag;
	/* Of the base's runtime config keep only Env, as nixpkgs (default for a
	 * conf.json); else all of it as a Dockerfile's FROM. */
	bool base_env_only;
	/* The customisation layer (build: the one layer): scripts run in a
	 * temporary copy of its root (customise.h), store paths left out. */
	const char *extra_commands, *fakeroot_commands, *shell;
	const char *perms_file;  /* owner and mode rules for every layer (perms.h) */
	bool no_store_paths;     /* only the customisation layer (and a base's) */
	bool nix_db;             /* a Nix database of the closure in the customisation layer (nix_db.h) */
	/* Layers made by strata layer (directories: blob + layer.json), used as
	 * they are after a base's; their store paths leave the layering. With
	 * them the closure is optional (strata assemble). */
	char *const *layer_dirs;
	size_t nlayer_dirs;
	/* strata layer: exactly these store paths of the closure, in this order
	 * (none: every path of the closure not in layer_dirs'). */
	char *const *layer_paths;
	size_t nlayer_paths;
	strata_layering_kind layering; /* closure input only */
	long max_layers;               /* 0: default; closure input only */
	strata_compress compress;
	int level; /* 0: the codec's default */
	bool gzip_single_member; /* gzip: one member per layer (layer_codec.h) */
	/* Output: a path; for a Docker archive also "-", standard output (which
	 * must then be a pipe or file; nothing else is written to it). */
	const char *output;
	strata_layout_format format; /* a Docker archive wants STRATA_COMPRESS_NONE */
	bool force; /* replace an existing output strata could have written */
	/* A layer cache directory (layer_cache.h), for OCI outputs; NULL: none.
	 * cache_max_size: evict least recently used entries past it (0: no
	 * limit). */
	const char *cache_dir;
	uint64_t cache_max_size;
	/* Push the image as it is built (push.h); output may then be NULL (a
	 * temporary layout). NULL: no push. */
	const struct strata_push_options *push;
	strata_progress_fn progress;
	void *progress_arg;
	const strata_cancel *cancel;
} strata_layered_options;

/* Store paths (and their references) become a layered OCI image.
 * *summary_ret (caller json_decref's it): output, name, tag, manifest and
 * config digests, media type, layers (digest, diff_id, sizes, store paths),
 * byte totals, timings, threads. */
int strata_build_layered(strata_pool *pool, const strata_layered_options *o, json_t **summary_ret,
			 strata_error *err);

/* One store layer on its own (a directory: the blob, named by its digest,
 * and layer.json, layer_desc.h), for images assembled from layers built
 * apart (one Nix derivation per layer). The same options; the layer has the
 * bytes build-layered gives the same paths. *summary_ret: the descriptor. */
int strata_build_layer(strata_pool *pool, const strata_layered_options *o, json_t **summary_ret, strata_error *err);

/* The store layers build-layered would make (what layer_dirs do not hold):
 * a JSON list of lists of store paths, in order, for making each one apart
 * with strata_build_layer. */
int strata_plan_layering(const strata_layered_options *o, json_t **layers_ret, strata_error *err);

/* One layer (nixpkgs buildImage): copy_to_root at /, and their closure
 * (closure_file, else found by scanning the store) under the store
 * directory. The same options; the layering fields and conf_file do not
 * apply. The same summary. */
int strata_build_image(strata_pool *pool, const strata_layered_options *o, json_t **summary_ret, strata_error *err);

/* ---------- push ---------- */

typedef struct strata_push_options {
	const char *source;     /* an OCI layout (DIR, DIR:TAG) or an oci-archive */
	const char *dest;       /* docker://HOST[:PORT]/REPO[:TAG|@DIGEST] */
	const char *creds;      /* USER:PASS, or NULL (never printed): then found
				 * in the user's auth files (registry_auth.h) */
	const char *auth_file;  /* looked at first (else $REGISTRY_AUTH_FILE...) */
	bool no_auth_files;     /* with creds NULL: anonymous */
	const char *mount_from; /* a repository of the same registry to mount blobs from */
	bool tls_verify_off;
	bool plain_http;        /* http even for other hosts than localhost */
	const char *cert_dir;   /* ca.crt, client.cert, client.key, as Docker's certs.d */
	int jobs;               /* concurrent uploads; 0: 4 */
	/* Called with bytes_done = bytes uploaded, layers_done/layers_total =
	 * blobs pushed/known so far. */
	strata_progress_fn progress;
	void *progress_arg;
	const strata_cancel *cancel;
} strata_push_options;

/* Pushes an image (push.h). *summary_ret: {destination, repository,
 * manifest, blobs: [{digest, kind, size, action: exists|mounted|uploaded}],
 * exists, mounted, uploaded, bytes_sent, credentials: "given", the auth
 * file they came from, or "none", pushed_while_building: blobs taken from
 * the layer writer as they were made (--push on a build)}. */
int strata_push(const strata_push_options *o, json_t **summary_ret, strata_error *err);

/* ---------- the layer cache ---------- */

/* {cache, entries, bytes} of a cache directory. */
int strata_cache_stats(const char *dir, json_t **report_ret, strata_error *err);
/* Evicts least recently used entries past max_bytes and stale temporaries:
 * {cache, removed, freed_bytes, bytes, stale_temporaries}. */
int strata_cache_gc(const char *dir, uint64_t max_bytes, json_t **report_ret, strata_error *err);

/* ---------- convert ---------- */

typedef struct strata_convert_options {
	const char *input; /* a Docker archive path, or "-" for stdin */
	const char *output;
	strata_layout_format format;
	bool force;
	const char *name, *tag; /* override the archive's RepoTags (one image only) */
	strata_compress compress;
	int level;
	bool gzip_single_member; /* as build-layered's */
	const struct strata_push_options *push; /* as build-layered's */
	strata_progress_fn progress;
	void *progress_arg;
	const strata_cancel *cancel;
} strata_convert_options;

/* A Docker archive (docker save; dockerTools' outputs) becomes an OCI image
 * in one streaming pass. *summary_ret: {output, images: [{manifest, config,
 * refs, layers}]}. */
int strata_convert(strata_pool *pool, const strata_convert_options *o, json_t **summary_ret,
		   strata_error *err);

/* ---------- container ---------- */

typedef struct strata_bundle_options {
	const char *output;
	bool force;
	char *const *args; /* args[0]: the program, an executable inside the store */
	size_t nargs;
	const char *closure_file; /* NULL: found by scanning the store */
	const char *store_dir;
	char *const *env; /* KEY=VALUE, after the default PATH */
	size_t nenv;
	const char *cwd;      /* NULL: / */
	const char *hostname; /* NULL: none */
	const char *oci_version; /* config.json's ociVersion (MAJOR.MINOR.PATCH[-x]); NULL: 1.0.2 */
	char *const *mounts;  /* mount specs (mount_spec.h), in order */
	size_t nmounts;
	bool terminal, readonly, rootless;
	strata_store_mode store_mode;
	const strata_cancel *cancel;
} strata_bundle_options;

/* An OCI runtime bundle (config.json + rootfs/) running one store program.
 * *summary_ret: {output, program, store_paths, store_mode, bytes_copied}. */
int strata_bundle_build(const strata_bundle_options *o, json_t **summary_ret, strata_error *err);

/* ---------- verify ---------- */

typedef struct strata_verify_report {
	size_t manifests, blobs, layers;
} strata_verify_report;

/* Checks an OCI layout (directory or oci-archive) as clients would. */
int strata_verify(const char *path, const strata_cancel *cancel, strata_verify_report *rep, strata_error *err);

/* ---------- names ---------- */

/* The codec of a CLI name ("gzip", "zstd", "none"); 0 or -1. */
int strata_compress_parse(const char *name, strata_compress *out);
const char *strata_compress_name(strata_compress c);
/* 0 when level fits the compressor (0: its default), else err. */
int strata_compress_check_level(strata_compress c, int level, strata_error *err);

#endif
