/* The image JSON strata writes, byte for byte (its digests are the image's
 * identity), the media type table, and the layout on disk: finish puts
 * exactly index.json, oci-layout and the blobs in place; abort leaves
 * nothing, neither at the target nor beside it. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_tree.h"
#include "oci_image.h"
#include "oci_layout.h"

static char dir[64];

static int setup(void **s)
{
	(void)s;
	strcpy(dir, "/tmp/strata-oci-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	strata_fs_remove_tree(dir);
	return 0;
}

static void expect_json(json_t *j, const char *want)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(s, want);
	free(s);
	json_decref(j);
}

#define H64(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static void test_json(void **s)
{
	(void)s;
	json_t *config = json_pack("{s:[s]}", "Cmd", "/bin/run");
	const char *diff_ids[] = {H64("a"), H64("b")};
	strata_oci_history hist[] = {{"strata build-layered", "store paths: ['/nix/store/x']"}, {NULL, "custom"}};
	strata_oci_config_input in = {.created = 86400 + 1, .architecture = "arm64", .os = "linux", .config = config,
				      .nlayers = 2, .diff_ids = diff_ids, .history = hist};
	expect_json(strata_oci_image_config(&in),
		    "{\"created\":\"1970-01-02T00:00:01Z\",\"architecture\":\"arm64\",\"os\":\"linux\","
		    "\"config\":{\"Cmd\":[\"/bin/run\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:" H64("a")
		    "\",\"sha256:" H64("b") "\"]},\"history\":[{\"created\":\"1970-01-02T00:00:01Z\","
		    "\"created_by\":\"strata build-layered\",\"comment\":\"store paths: ['/nix/store/x']\"},"
		    "{\"created\":\"1970-01-02T00:00:01Z\",\"comment\":\"custom\"}]}");
	/* A base's history describing its one layer (and an empty one) is kept
	 * as it is; one that does not fit is replaced. */
	json_t *bh = json_loads("[{\"created_by\":\"FROM\"},{\"created_by\":\"ENV\",\"empty_layer\":true}]", 0, NULL);
	in.base_history = bh;
	in.nbase = 1;
	json_t *cfg = strata_oci_image_config(&in);
	json_t *h = json_object_get(cfg, "history");
	assert_int_equal(json_array_size(h), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(h, 1), "created_by")), "ENV");
	assert_string_equal(json_string_value(json_object_get(json_array_get(h, 2), "comment")), "custom");
	json_decref(cfg);
	in.nbase = 2;
	cfg = strata_oci_image_config(&in);
	assert_int_equal(json_array_size(json_object_get(cfg, "history")), 2);
	json_decref(cfg);
	json_decref(bh);
	json_decref(config);
	json_t *layers = json_array();
	json_array_append_new(layers, strata_oci_image_descriptor(strata_oci_image_layer_media_type(STRATA_COMPRESS_ZSTD),
								 H64("c"), 42));
	expect_json(strata_oci_image_manifest(H64("d"), 7, layers),
		    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":"
		    "{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:" H64("d")
		    "\",\"size\":7},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\","
		    "\"digest\":\"sha256:" H64("c") "\",\"size\":42}]}");
	json_decref(layers);
	json_t *mans = json_array();
	strata_oci_image_index_add(mans, H64("e"), 9, "v1", NULL, "amd64", "linux");
	strata_oci_image_index_add(mans, H64("e"), 9, "v2", "docker.io/a/b:v2", "amd64", "linux");
	expect_json(strata_oci_image_index(mans),
		    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":"
		    "[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:" H64("e")
		    "\",\"size\":9,\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"},\"platform\":"
		    "{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
		    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:" H64("e")
		    "\",\"size\":9,\"annotations\":{\"io.containerd.image.name\":\"docker.io/a/b:v2\","
		    "\"org.opencontainers.image.ref.name\":\"v2\"},\"platform\":"
		    "{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}");
	/* Docker's config: only the fields OCI shares, in OCI's order */
	json_t *dc = json_pack("{s:s,s:s,s:s,s:{},s:s,s:{}}", "os", "linux", "container", "abc", "architecture", "amd64",
			       "rootfs", "docker_version", "20", "config");
	expect_json(strata_oci_image_config_from_docker(dc), "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":{}}");
	json_decref(dc);
}

static void test_media_types(void **s)
{
	(void)s;
	strata_compress c;
	assert_true(strata_oci_image_layer_compression("application/vnd.oci.image.layer.v1.tar+gzip", &c));
	assert_int_equal(c, STRATA_COMPRESS_GZIP);
	assert_true(strata_oci_image_layer_compression("application/vnd.oci.image.layer.nondistributable.v1.tar", &c));
	assert_int_equal(c, STRATA_COMPRESS_NONE);
	assert_false(strata_oci_image_layer_compression("application/vnd.docker.image.rootfs.diff.tar.gzip", &c));
	assert_string_equal(strata_oci_image_layer_media_type(STRATA_COMPRESS_GZIP),
			    "application/vnd.oci.image.layer.v1.tar+gzip");
}

static size_t entries(const char *path)
{
	size_t n = 0;
	DIR *d = opendir(path);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	if (d)
		closedir(d);
	return n;
}

static void test_layout(void **s)
{
	(void)s;
	static const strata_layout_format formats[] = {STRATA_FORMAT_DIRECTORY, STRATA_FORMAT_TARBALL};
	for (size_t f = 0; f < 2; f++) {
		char target[96];
		snprintf(target, sizeof target, "%s/img%zu", dir, f);
		strata_error err = STRATA_ERROR_INIT;
		/* abort: nothing at the target, nothing beside it */
		strata_oci_layout *l = NULL;
		assert_int_equal(strata_oci_layout_create(target, formats[f], NULL, &l, &err), 0);
		char hex[65];
		uint64_t size;
		json_t *j = json_pack("{s:i}", "x", 1);
		assert_int_equal(strata_oci_layout_put_json(l, j, hex, &size, &err), 0);
		assert_int_equal(entries(dir), f + 1); /* earlier images, and the temporary directory */
		strata_oci_layout_free(l); /* without finish: aborted */
		assert_int_equal(entries(dir), f);
		struct stat st;
		assert_int_equal(stat(target, &st), -1);
		/* finish: the layout, exactly */
		assert_int_equal(strata_oci_layout_create(target, formats[f], NULL, &l, &err), 0);
		assert_int_equal(strata_oci_layout_put_json(l, j, hex, &size, &err), 0);
		assert_int_equal(size, 7);
		json_t *idx = strata_oci_image_index(json_array());
		assert_int_equal(strata_oci_layout_finish(l, idx, &err), 0);
		json_decref(idx);
		strata_oci_layout_free(l);
		json_decref(j);
		assert_int_equal(entries(dir), f + 1);
		if (formats[f] == STRATA_FORMAT_DIRECTORY) {
			char p[256];
			snprintf(p, sizeof p, "%s/blobs/sha256/%s", target, hex);
			assert_int_equal(stat(p, &st), 0);
			assert_int_equal(st.st_size, 7);
			assert_int_equal(entries(target), 3); /* blobs, index.json, oci-layout */
		} else {
			assert_int_equal(stat(target, &st), 0);
			assert_true(S_ISREG(st.st_mode));
		}
		/* a second create refuses the existing target, with the force hint */
		assert_true(strata_oci_layout_create(target, formats[f], NULL, &l, &err) < 0);
		assert_int_equal(err.hint, STRATA_HINT_FORCE);
		strata_error_clear(&err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_media_types),
		cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
