/* libFuzzer target: the customisation layer of a conf.json (nixpkgs'
 * customisation_layer/layer.tar, reused as is) holding arbitrary bytes. A
 * build either fails with a message (not a tar, truncated) or writes an
 * image that verifies: whatever passes becomes a layer clients can read. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static strata_pool *pool;
static char dir[64];

static void cleanup(void)
{
	strata_pool_free(pool);
	strata_fs_remove_tree(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char layer_dir[96], layer[128], conf[96], out[96];
	if (pool == NULL) {
		strata_pool_options po = {.threads = 2};
		pool = strata_pool_create(&po);
		snprintf(dir, sizeof dir, "/tmp/strata-fuzz-conf-layer-%ld", (long)getpid());
		mkdir(dir, 0700);
		snprintf(layer_dir, sizeof layer_dir, "%s/custom", dir);
		mkdir(layer_dir, 0755);
		snprintf(conf, sizeof conf, "%s/conf.json", dir);
		char *json = NULL;
		if (asprintf(&json, "{\"store_layers\":[],\"customisation_layer\":\"%s\",\"repo_tag\":\"f:1\"}", layer_dir) < 0)
			abort();
		fuzz_write_file(conf, json, strlen(json));
		free(json);
		atexit(cleanup);
	}
	snprintf(layer, sizeof layer, "%s/custom/layer.tar", dir);
	snprintf(conf, sizeof conf, "%s/conf.json", dir);
	snprintf(out, sizeof out, "%s/out", dir);
	fuzz_write_file(layer, data, size);
	strata_layered_options o = {.conf_file = conf, .output = out, .uid = -1, .gid = -1,
				    .compress = size % 2 ? STRATA_COMPRESS_GZIP : STRATA_COMPRESS_NONE,
				    .level = size % 2 ? 1 : 0 /* none has no level */};
	json_t *summary = NULL;
	strata_error err = STRATA_ERROR_INIT;
	if (strata_build_layered(pool, &o, &summary, &err) == 0) {
		json_decref(summary);
		fuzz_must_verify(out); /* a layer.tar accepted as a tar must verify as one */
	} else if (err.msg == NULL) {
		abort();
	}
	strata_error_clear(&err);
	strata_fs_remove_tree(out);
	return 0;
}
