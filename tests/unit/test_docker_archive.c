/* A Docker archive written into a new file in one pass (docker_archive.h):
 * each layer's data is placed by the sizes of the layers before it, found
 * by a walk that does not read. A tree that changes between its walk and
 * its placing (here: a file grown by the tar hook after the walk stat'ed
 * it) must give an error or an archive made of what was read, the same as
 * the stream then writes: never members that overlap. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "docker_archive.h"
#include "file.h"
#include "fs_tree.h"
#include "image_plan.h"
#include "sched_pool.h"

static char root[64], store[96], grow[160];
static atomic_int grown; /* the hook grows the file once */

static void put(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

/* Three store paths of two files each, "a" and "z": three layers. */
static int setup(void **s)
{
	(void)s;
	strcpy(root, "/tmp/strata-da-XXXXXX");
	assert_non_null(mkdtemp(root));
	char p[200];
	snprintf(store, sizeof store, "%s/nix", root);
	assert_int_equal(mkdir(store, 0755), 0);
	snprintf(store, sizeof store, "%s/nix/store", root);
	assert_int_equal(mkdir(store, 0755), 0);
	FILE *c = fopen((snprintf(p, sizeof p, "%s/closure.json", root), p), "w");
	assert_non_null(c);
	fputs("[", c);
	for (int i = 0; i < 3; i++) {
		char dir[160], hash[33];
		memset(hash, 'a' + i, 32);
		hash[32] = '\0';
		snprintf(dir, sizeof dir, "%s/%s-p%d", store, hash, i);
		assert_int_equal(mkdir(dir, 0755), 0);
		snprintf(p, sizeof p, "%s/a", dir);
		put(p, "first file");
		snprintf(p, sizeof p, "%s/z", dir);
		put(p, "last file");
		fprintf(c, "%s{\"path\": \"%s\", \"narSize\": %d, \"references\": []}", i ? ", " : "",
			dir, 3000 - 1000 * i);
	}
	fputs("]", c);
	fclose(c);
	return 0;
}

static int teardown(void **s)
{
	(void)s;
	assert_int_equal(strata_fs_remove_tree(root), 0);
	return 0;
}

/* At the member "z" of the hooked layer, the first time (its size walk,
 * which has stat'ed "a" already): "a" grows by 64 KiB (more than the 10 KiB record a tar is padded to). */
static void grow_hook(void *arg, const char *name, char type, strata_tar_meta *m)
{
	(void)arg, (void)type, (void)m;
	size_t n = strlen(name);
	if (n < 2 || strcmp(name + n - 2, "/z") != 0 || atomic_exchange(&grown, 1))
		return;
	int fd = open(grow, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	static const char more[65536] = {'m'};
	assert_int_equal(write(fd, more, sizeof more), (ssize_t)sizeof more);
	close(fd);
}

static strata_image_plan *plan_of(strata_pool *pool)
{
	char closure[128];
	snprintf(closure, sizeof closure, "%s/closure.json", root);
	strata_layered_options o = {.closure_file = closure, .store_dir = store, .uid = -1, .gid = -1,
				    .compress = STRATA_COMPRESS_NONE, .format = STRATA_FORMAT_DOCKER_ARCHIVE,
				    .output = "unused"};
	strata_image_plan *p = NULL;
	strata_error err = STRATA_ERROR_INIT;
	int r = strata_image_plan_layered(pool, &o, &p, &err);
	if (r < 0)
		fail_msg("plan: %s", err.msg);
	assert_int_equal(p->nlayers, 3);
	return p;
}

/* The archive of p into a new file at path: 0, or -1 with err filled. */
static int write_archive(strata_pool *pool, const strata_image_plan *p, const char *path, bool placed,
			 strata_error *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	strata_docker_archive_options o = {.fd = fd, .fd_name = path, .fd_is_new_file = placed};
	strata_layer_result *results = strata_xcalloc(p->nlayers, sizeof *results);
	strata_docker_archive_result res;
	int r = strata_docker_archive_write(pool, p, &o, results, &res, err);
	free(res.repo_tag);
	free(results);
	close(fd);
	return r;
}

static void assert_same_file(const char *a, const char *b)
{
	char *da = NULL, *db = NULL;
	size_t na, nb;
	strata_error err = STRATA_ERROR_INIT;
	assert_int_equal(strata_file_read_all(AT_FDCWD, a, 0, SIZE_MAX, "archive", &da, &na, &err), 0);
	assert_int_equal(strata_file_read_all(AT_FDCWD, b, 0, SIZE_MAX, "archive", &db, &nb, &err), 0);
	assert_int_equal(na, nb);
	assert_memory_equal(da, db, na);
	free(da);
	free(db);
}

static void test_grown_between_walk_and_place(void **s)
{
	(void)s;
	for (unsigned threads = 1; threads <= 2; threads++)
		for (int round = 0; round < 4; round++) {
			strata_pool *pool = strata_pool_create(&(strata_pool_options){.threads = threads, .no_bind = true});
			assert_non_null(pool);
			strata_image_plan *p = plan_of(pool);
			/* the middle layer: its size places the last one */
			strata_plan_layer *l = &p->layers[1];
			assert_int_equal(l->nstore_paths, 1);
			snprintf(grow, sizeof grow, "%s/a", l->store_paths[0]);
			l->source.meta = grow_hook;
			atomic_store(&grown, 0);
			char placed[128], stream[128];
			snprintf(placed, sizeof placed, "%s/placed.tar", root);
			snprintf(stream, sizeof stream, "%s/stream.tar", root);
			strata_error err = STRATA_ERROR_INIT;
			int r = write_archive(pool, p, placed, true, &err);
			assert_int_equal(atomic_load(&grown), 1);
			if (r < 0) {
				assert_non_null(strstr(err.msg, "layer 2 changed while the archive was written"));
				strata_error_clear(&err);
			} else {
				/* made of what was read: the stream now writes it */
				l->source.meta = NULL;
				assert_int_equal(write_archive(pool, p, stream, false, &err), 0);
				assert_same_file(placed, stream);
			}
			/* the file as it was, for the next round */
			put(grow, "first file");
			strata_image_plan_free(p);
			strata_pool_free(pool);
		}
}

/* Unchanged trees: the same bytes placed and streamed, with 1 to 4
 * threads. */
static void test_placed_is_streamed(void **s)
{
	(void)s;
	for (unsigned threads = 1; threads <= 4; threads++) {
		strata_pool *pool = strata_pool_create(&(strata_pool_options){.threads = threads, .no_bind = true});
		strata_image_plan *p = plan_of(pool);
		char placed[128], stream[128];
		snprintf(placed, sizeof placed, "%s/placed.tar", root);
		snprintf(stream, sizeof stream, "%s/stream.tar", root);
		strata_error err = STRATA_ERROR_INIT;
		assert_int_equal(write_archive(pool, p, placed, true, &err), 0);
		assert_int_equal(write_archive(pool, p, stream, false, &err), 0);
		assert_same_file(placed, stream);
		strata_image_plan_free(p);
		strata_pool_free(pool);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_placed_is_streamed),
		cmocka_unit_test(test_grown_between_walk_and_place),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
