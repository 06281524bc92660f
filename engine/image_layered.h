/* strata_build_layered: store paths (plus their references) become a layered
 * OCI image. The whole job behind `strata build-layered`.
 *
 * Threads: call from a thread that is not a worker of the pool; the pool
 * runs the layers. */
#ifndef STRATA_IMAGE_LAYERED_H
#define STRATA_IMAGE_LAYERED_H

#include <jansson.h>
#include <stdbool.h>

#include "layer_build.h"
#include "layering.h"
#include "oci_layout.h"
#include "sched_pool.h"
#include "strata_error.h"

typedef struct strata_layered_options {
	const char *closure_file; /* --closure */
	const char *conf_file;    /* --conf (nixpkgs conf.json) */
	char **roots;             /* --root, repeatable */
	size_t nroots;
	char **contents; /* --contents, repeatable */
	size_t ncontents;
	const char *config_file; /* --config */
	const char *name, *tag;
	const char *created;      /* RFC 3339, "now", or NULL (SOURCE_DATE_EPOCH, else epoch+1) */
	const char *mtime;        /* seconds, RFC 3339 or NULL (1) */
	long long uid, gid;       /* -1: default 0 */
	const char *uname, *gname;
	const char *architecture; /* NULL: host GOARCH */
	const char *store_dir;    /* NULL: /nix/store */
	strata_layering_kind layering;
	long max_layers; /* 0: 100 */
	strata_compress compress;
	int level; /* 0: the compressor's default */
	strata_layout_format format;
	bool force;
	const char *output;
	void (*progress)(void *arg, uint64_t tar_bytes_done, uint64_t tar_bytes_total);
	void *progress_arg;
} strata_layered_options;

/* On success *summary_ret is a JSON object (caller json_decref's it):
 * manifest digest, tag, layers (digest, diff_id, sizes, store paths),
 * timings. */
int strata_build_layered(strata_pool *pool, const strata_layered_options *o, json_t **summary_ret,
			 strata_error *err);

/* Parses an RFC 3339 time ("2024-01-02T03:04:05Z", offsets, fractions
 * dropped) or a decimal epoch. Returns 0 and the epoch seconds. */
int strata_parse_time(const char *s, long long *epoch_ret, strata_error *err);
/* Formats epoch seconds as "YYYY-MM-DDTHH:MM:SSZ" into 32 bytes. */
void strata_format_time(long long epoch, char out[32]);
/* The GOARCH name of this machine (amd64, arm64, ...). */
const char *strata_host_goarch(void);

#endif
