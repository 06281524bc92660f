/* libFuzzer target: a base image (fromImage) holding arbitrary bytes: a
 * Docker archive, compressed or not, or an oci-archive. The image is built
 * on it (its config merged, all of it or only Env by turns) as an OCI
 * layout or as a Docker archive. A build either fails with a message or
 * writes an image that verifies: an OCI layout as it is, a Docker archive
 * once converted back; whatever a base passes into an image, clients can
 * read. */
#define _GNU_SOURCE
#include <fcntl.h>
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
static char dir[64], store[80], closure[80];

static void cleanup(void)
{
	strata_pool_free(pool);
	strata_fs_remove_tree(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[96], back[96];
	if (pool == NULL) {
		strata_pool_options po = {.threads = 2};
		pool = strata_pool_create(&po);
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/strata-fuzz-base-%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
		snprintf(closure, sizeof closure, "%s/closure", dir);
		mkdir(dir, 0700);
		/* A store of one path with one file, and its closure. */
		char path[160];
		snprintf(store, sizeof store, "%s/store", dir);
		snprintf(path, sizeof path, "%s/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-f", store);
		mkdir(store, 0755);
		mkdir(path, 0755);
		fuzz_write_file(closure, path, strlen(path));
		snprintf(path, sizeof path, "%s/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-f/file", store);
		fuzz_write_file(path, "x\n", 2);
		atexit(cleanup);
	}
	int fd = memfd_create("base", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	char base[64];
	snprintf(base, sizeof base, "/proc/self/fd/%d", fd);
	snprintf(out, sizeof out, "%s/out", dir);
	snprintf(back, sizeof back, "%s/back", dir);
	strata_layered_options o = {.closure_file = closure, .store_dir = store, .output = out, .uid = -1,
				    .gid = -1, .from_image = base, .base_env_only = size % 2};
	fuzz_build_checked(pool, &o, size, back);
	close(fd);
	return 0;
}
