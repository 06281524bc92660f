/* Reads a tar as CPython's tarfile reads it (tar_index.h) and writes every
 * member again (tar_header.h, tar.h), as the stream script copies a base
 * image's members, so that tests can compare with
 *   for m in tarfile.open(IN): out.addfile(m, data if m.isreg())
 * byte for byte:  tar_copy IN > OUT */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "tar.h"
#include "tar_index.h"

static int to_stdout(void *arg, const void *buf, size_t n, strata_error *err)
{
	(void)arg;
	if (fwrite(buf, 1, n, stdout) != n)
		return strata_error_set(err, 0, "write error");
	return 0;
}

static int copy(int fd, strata_tar *out, const strata_tar_member *m, strata_error *err)
{
	strata_tar_header h = m->h;
	char *name = NULL;
	if (h.type == STRATA_TAR_DIR) /* tarfile's get_info adds the '/' */
		h.name = name = strata_xasprintf("%s/", m->h.name);
	int r = strata_tar_add_header(out, &h, err);
	free(name);
	if (r < 0 || !strata_tar_index_is_file(m))
		return r < 0 ? r : 0;
	char buf[65536];
	for (uint64_t done = 0; done < h.size;) {
		size_t want = h.size - done < sizeof buf ? (size_t)(h.size - done) : sizeof buf;
		ssize_t k = pread(fd, buf, want, (off_t)(m->data_offset + done));
		if (k <= 0)
			return strata_error_set(err, 0, "short member data");
		if ((r = strata_tar_write_data(out, buf, (size_t)k, err)) < 0)
			return r;
		done += (uint64_t)k;
	}
	return strata_tar_end_data(out, err);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: tar_copy IN > OUT\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	strata_error err = STRATA_ERROR_INIT;
	strata_tar_index *x = NULL;
	if (fd < 0 || strata_tar_index_read(fd, argv[1], NULL, &x, &err) < 0) {
		fprintf(stderr, "tar_copy: %s\n", err.msg ? err.msg : "cannot open");
		strata_error_clear(&err);
		return 1;
	}
	strata_tar_options o = {0};
	strata_tar *out = strata_tar_create(&o, to_stdout, NULL);
	int r = 0;
	for (size_t i = 0; i < strata_tar_index_count(x) && r == 0; i++)
		r = copy(fd, out, strata_tar_index_member(x, i), &err);
	if (r == 0)
		r = strata_tar_finish(out, &err);
	if (r < 0)
		fprintf(stderr, "tar_copy: %s\n", err.msg);
	strata_error_clear(&err);
	strata_tar_free(out);
	strata_tar_index_free(x);
	close(fd);
	return r < 0 ? 1 : 0;
}
