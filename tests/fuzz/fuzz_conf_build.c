/* libFuzzer target: nixpkgs' conf.json with arbitrary contents, built. In
 * the input, @S@ stands for a small store made once (two paths, a file, a
 * symlink), @C@ for a customisation layer directory (an empty tar) and @B@
 * for a base image (a Docker archive strata built of that store). The
 * image is written as an OCI layout or as nixpkgs' Docker archive, by the
 * input's length. A build either fails with a message or writes an image
 * that verifies (a Docker archive once converted back): whatever a
 * conf.json sets (names, times, ids, the runtime config) ends up in an
 * image clients can read. */
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
static char dir[64], store[80], custom[80], base[80];

static void cleanup(void)
{
	strata_pool_free(pool);
	strata_fs_remove_tree(dir);
}

static void make_inputs(void)
{
	char p[160];
	snprintf(store, sizeof store, "%s/store", dir);
	snprintf(custom, sizeof custom, "%s/custom", dir);
	snprintf(base, sizeof base, "%s/base.tar", dir);
	mkdir(store, 0755);
	mkdir(custom, 0755);
	snprintf(p, sizeof p, "%s/0123456789abcdfghijklmnpqrsvwxyz-a", store);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/0123456789abcdfghijklmnpqrsvwxyz-a/sh", store);
	fuzz_write_file(p, "#!/bin/sh\n", 10);
	snprintf(p, sizeof p, "%s/zyxwvsrqpnmlkjihgfdcba9876543210-b", store);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/zyxwvsrqpnmlkjihgfdcba9876543210-b/link", store);
	if (symlink("../0123456789abcdfghijklmnpqrsvwxyz-a/sh", p) < 0)
		abort();
	static const char zeros[1024];
	snprintf(p, sizeof p, "%s/layer.tar", custom);
	fuzz_write_file(p, zeros, sizeof zeros);
	/* The base: the store's two paths as a Docker archive. */
	char conf[96];
	snprintf(conf, sizeof conf, "%s/base-conf.json", dir);
	char *json = NULL;
	if (asprintf(&json,
		     "{\"store_layers\":[[\"%s/0123456789abcdfghijklmnpqrsvwxyz-a\"],"
		     "[\"%s/zyxwvsrqpnmlkjihgfdcba9876543210-b\"]],\"store_dir\":\"%s\",\"repo_tag\":\"base:1\","
		     "\"config\":{\"Env\":[\"A=1\"]}}",
		     store, store, store) < 0)
		abort();
	fuzz_write_file(conf, json, strlen(json));
	free(json);
	strata_layered_options o = {.conf_file = conf, .output = base, .uid = -1, .gid = -1,
				    .format = STRATA_FORMAT_DOCKER_ARCHIVE, .compress = STRATA_COMPRESS_NONE};
	json_t *summary = NULL;
	strata_error err = STRATA_ERROR_INIT;
	if (strata_build_layered(pool, &o, &summary, &err) < 0) {
		fprintf(stderr, "fuzz_conf_build: the base: %s\n", err.msg);
		abort();
	}
	json_decref(summary);
}

/* data with @S@, @C@ and @B@ replaced (a new string). */
static char *expand(const uint8_t *data, size_t size)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	for (size_t i = 0; i < size; i++) {
		const char *with = NULL;
		if (i + 3 <= size && data[i] == '@' && data[i + 2] == '@')
			with = data[i + 1] == 'S' ? store : data[i + 1] == 'C' ? custom : data[i + 1] == 'B' ? base : NULL;
		if (with) {
			fputs(with, f);
			i += 2;
		} else {
			fputc(data[i], f);
		}
	}
	fclose(f);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char conf[96], out[96], back[96];
	if (pool == NULL) {
		strata_pool_options po = {.threads = 2};
		pool = strata_pool_create(&po);
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/strata-fuzz-conf-build-%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
		mkdir(dir, 0700);
		atexit(cleanup);
		make_inputs();
	}
	snprintf(conf, sizeof conf, "%s/conf.json", dir);
	snprintf(out, sizeof out, "%s/out", dir);
	snprintf(back, sizeof back, "%s/back", dir);
	char *text = expand(data, size);
	fuzz_write_file(conf, text, strlen(text));
	free(text);
	strata_layered_options o = {.conf_file = conf, .output = out, .uid = -1, .gid = -1};
	fuzz_build_checked(pool, &o, size, back);
	return 0;
}
