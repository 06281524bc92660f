/* libFuzzer target: the Docker-archive reader (strata convert) on arbitrary
 * archive bytes, read from a memfd. One pool serves every input; each
 * input's output is removed again. A conversion either succeeds (and the
 * layout then verifies) or fails with a message, never crashes or leaks. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
	if (pool == NULL) {
		strata_pool_options po = {.threads = 2};
		pool = strata_pool_create(&po);
		snprintf(dir, sizeof dir, "/tmp/strata-fuzz-convert-%ld", (long)getpid());
		mkdir(dir, 0700);
		atexit(cleanup);
	}
	int fd = memfd_create("archive", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	char in[64], out[96];
	snprintf(in, sizeof in, "/proc/self/fd/%d", fd);
	snprintf(out, sizeof out, "%s/out", dir);
	strata_convert_options o = {.input = in, .output = out, .compress = STRATA_COMPRESS_GZIP, .level = 1};
	json_t *summary = NULL;
	strata_error err = STRATA_ERROR_INIT;
	if (strata_convert(pool, &o, &summary, &err) == 0) {
		fuzz_must_verify(out); /* whatever convert writes must verify */
		json_decref(summary);
	} else if (err.msg == NULL) {
		abort();
	}
	strata_error_clear(&err);
	strata_fs_remove_tree(out);
	close(fd);
	return 0;
}
