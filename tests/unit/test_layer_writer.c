/* The layer writer driven through its stream API, as convert and the layer
 * sources drive it: chunks completed out of order on many workers, the chunk
 * budget exhausted on one worker, an error mid-stream, cancellation, and
 * identical bytes whatever the worker count. The decompressed blob must be
 * exactly the bytes written (checked with strata's own in-process reader). */
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
#include <unistd.h>

#include "archive_in.h"
#include "fs_tree.h"
#include "layer_writer.h"
#include "sha256.h"

#define NLAYERS 4

static char dir[64];

static int setup(void **s)
{
	(void)s;
	strcpy(dir, "/tmp/strata-writer-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	strata_fs_remove_tree(dir);
	return 0;
}

/* Layer i's bytes: a mix of runs and noise, so every codec has work and
 * chunk boundaries fall everywhere (sizes are not chunk multiples). */
static unsigned char *layer_data(int i, size_t *n)
{
	*n = (size_t)(3 + i) * 1000003 + (size_t)i * 777;
	unsigned char *p = malloc(*n);
	uint32_t x = 2463534242u + (uint32_t)i;
	for (size_t k = 0; k < *n; k++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[k] = (k / 4096) % 3 == 0 ? (unsigned char)x : (unsigned char)(k / 97);
	}
	return p;
}

static size_t blob_count(void)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.' || strncmp(de->d_name, ".tmp", 4) == 0;
	closedir(d);
	return n;
}

/* sha256 of the blob decompressed: must be the diff_id. */
static void check_blob(const strata_layer_result *res, const char *want_diff)
{
	char path[160];
	snprintf(path, sizeof path, "%s/%s", dir, res->digest);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	strata_archive_in *in = NULL;
	strata_error err = STRATA_ERROR_INIT;
	assert_int_equal(strata_archive_in_open_fd(fileno(f), path, STRATA_ARCHIVE_RAW, NULL, &in, &err), 0);
	strata_sha256 *md = strata_sha256_create();
	unsigned char buf[65536];
	ssize_t k;
	uint64_t total = 0;
	while ((k = strata_archive_in_read(in, buf, sizeof buf)) > 0) {
		strata_sha256_update(md, buf, (size_t)k);
		total += (uint64_t)k;
	}
	assert_int_equal(k, 0);
	char got[65];
	strata_sha256_final_hex(md, got);
	strata_sha256_free(md);
	strata_archive_in_free(in);
	fclose(f);
	assert_string_equal(got, want_diff);
	assert_int_equal(total, res->tar_size);
}

/* Writes the layers from this (foreign) thread, in small uneven pieces. */
static void build(unsigned workers, strata_compress comp, strata_layer_result *res)
{
	strata_pool_options po = {.threads = workers};
	strata_pool *pool = strata_pool_create(&po);
	strata_layer_writer_options wo = {.codec = strata_layer_codec_get(comp)};
	strata_layer_writer *w = strata_layer_writer_create(pool, &wo, dir);
	strata_error err = STRATA_ERROR_INIT;
	for (int i = 0; i < NLAYERS; i++) {
		size_t n;
		unsigned char *data = layer_data(i, &n);
		strata_layer_stream *s = NULL;
		assert_int_equal(strata_layer_stream_open(w, &res[i], &s, &err), 0);
		for (size_t off = 0, step = 4093; off < n; off += step, step = step * 3 % 200003 + 1)
			assert_int_equal(strata_layer_stream_write(s, data + off, off + step > n ? n - off : step, &err), 0);
		assert_int_equal(strata_layer_stream_close(s, &err), 0);
		char want[65];
		strata_sha256_hex(data, n, want);
		assert_string_equal(res[i].diff_id, want);
		free(data);
	}
	assert_int_equal(strata_layer_writer_finish(w, &err), 0);
	strata_layer_writer_free(w);
	strata_pool_free(pool);
}

static void test_same_bytes_any_workers(void **s)
{
	(void)s;
	static const strata_compress comps[] = {STRATA_COMPRESS_GZIP, STRATA_COMPRESS_ZSTD, STRATA_COMPRESS_NONE};
	for (size_t c = 0; c < 3; c++) {
		strata_layer_result one[NLAYERS], eight[NLAYERS];
		build(1, comps[c], one);
		build(8, comps[c], eight); /* chunks finish out of order on 8 workers */
		for (int i = 0; i < NLAYERS; i++) {
			assert_string_equal(one[i].digest, eight[i].digest);
			assert_int_equal(one[i].size, eight[i].size);
			check_blob(&eight[i], eight[i].diff_id);
		}
		teardown(NULL);
		setup(NULL);
	}
}

/* A producer on the only worker writes far more than the budget (5 chunks
 * for 1 core): it must compress its own chunks while it waits, not hang. */
typedef struct producer_arg {
	strata_layer_writer *w;
	strata_layer_result *res;
	int fail_at; /* abort the stream after this many MiB, or -1 */
} producer_arg;

static void producer(void *p)
{
	producer_arg *a = p;
	strata_layer_stream *s = NULL;
	strata_error err = STRATA_ERROR_INIT;
	if (strata_layer_stream_open(a->w, a->res, &s, &err) < 0) {
		strata_error_clear(&err);
		return;
	}
	unsigned char *mib = malloc(1 << 20); /* one per producer: they run concurrently */
	for (int k = 0; k < 24; k++) {
		if (k == a->fail_at) {
			strata_error_set(&err, 28, "the source failed on purpose");
			strata_layer_stream_abort(s, &err);
			free(mib);
			return;
		}
		memset(mib, k, 1 << 20);
		if (strata_layer_stream_write(s, mib, 1 << 20, &err) < 0) {
			strata_layer_stream_abort(s, &err);
			free(mib);
			return;
		}
	}
	strata_layer_stream_close(s, &err);
	free(mib);
}

static void test_budget_one_worker(void **s)
{
	(void)s;
	alarm(120); /* a deadlock fails the test instead of hanging the suite */
	strata_pool_options po = {.threads = 1};
	strata_pool *pool = strata_pool_create(&po);
	strata_layer_writer_options wo = {.codec = strata_layer_codec_get(STRATA_COMPRESS_GZIP), .level = 1};
	strata_layer_writer *w = strata_layer_writer_create(pool, &wo, dir);
	strata_layer_result res[3];
	producer_arg args[3];
	for (int i = 0; i < 3; i++) {
		args[i] = (producer_arg){w, &res[i], -1};
		strata_layer_writer_spawn(w, producer, &args[i]);
	}
	strata_error err = STRATA_ERROR_INIT;
	assert_int_equal(strata_layer_writer_finish(w, &err), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(res[i].tar_size, 24u << 20);
		check_blob(&res[i], res[i].diff_id);
	}
	strata_layer_writer_free(w);
	strata_pool_free(pool);
	alarm(0);
}

static void test_error_mid_stream(void **s)
{
	(void)s;
	strata_pool_options po = {.threads = 2};
	strata_pool *pool = strata_pool_create(&po);
	strata_layer_writer_options wo = {.codec = strata_layer_codec_get(STRATA_COMPRESS_ZSTD)};
	strata_layer_writer *w = strata_layer_writer_create(pool, &wo, dir);
	strata_layer_result res[3];
	producer_arg args[3];
	for (int i = 0; i < 3; i++) {
		args[i] = (producer_arg){w, &res[i], i == 1 ? 7 : -1};
		strata_layer_writer_spawn(w, producer, &args[i]);
	}
	strata_error err = STRATA_ERROR_INIT;
	assert_true(strata_layer_writer_finish(w, &err) < 0);
	assert_non_null(strstr(err.msg, "the source failed on purpose: No space left on device"));
	assert_int_equal(err.code, 28);
	strata_error_clear(&err);
	strata_layer_writer_free(w);
	assert_int_equal(blob_count(), 0); /* no blob, no temporary file */
	strata_pool_free(pool);
}

static void test_cancellation(void **s)
{
	(void)s;
	strata_cancel cancel = STRATA_CANCEL_INIT;
	strata_pool_options po = {.threads = 2};
	strata_pool *pool = strata_pool_create(&po);
	strata_layer_writer_options wo = {.codec = strata_layer_codec_get(STRATA_COMPRESS_GZIP), .cancel = &cancel};
	strata_layer_writer *w = strata_layer_writer_create(pool, &wo, dir);
	strata_layer_result res;
	strata_layer_stream *st = NULL;
	strata_error err = STRATA_ERROR_INIT;
	assert_int_equal(strata_layer_stream_open(w, &res, &st, &err), 0);
	static unsigned char mib[1 << 20];
	assert_int_equal(strata_layer_stream_write(st, mib, sizeof mib, &err), 0);
	strata_cancel_request(&cancel, 2);
	assert_true(strata_layer_stream_write(st, mib, sizeof mib, &err) < 0);
	assert_string_equal(err.msg, "interrupted");
	strata_layer_stream_abort(st, &err);
	strata_layer_stream *other = NULL;
	assert_true(strata_layer_stream_open(w, &res, &other, &err) < 0); /* no new layers either */
	strata_error_clear(&err);
	assert_true(strata_layer_writer_finish(w, &err) < 0);
	assert_string_equal(err.msg, "interrupted");
	strata_error_clear(&err);
	strata_layer_writer_free(w);
	assert_int_equal(blob_count(), 0);
	strata_pool_free(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_bytes_any_workers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget_one_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_mid_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancellation, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
