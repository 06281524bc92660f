/* What the fuzz targets that build images share: writing their inputs, and
 * the check that whatever strata writes clients can read (an OCI layout
 * verifies; a Docker archive converts back into one that does). Included
 * by one target each: static functions. */
#ifndef STRATA_FUZZ_IMAGE_H
#define STRATA_FUZZ_IMAGE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fs_tree.h"
#include "strata.h"

static inline void fuzz_write_file(const char *path, const void *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, data, n) != (ssize_t)n)
		abort();
	close(fd);
}

static inline void fuzz_must_verify(const char *layout)
{
	strata_verify_report rep;
	strata_error err = STRATA_ERROR_INIT;
	if (strata_verify(layout, NULL, &rep, &err) < 0) {
		fprintf(stderr, "fuzz: %s\n", err.msg);
		abort();
	}
}

/* out, written in format: checked, then removed (with back, the
 * conversion's output). */
static inline void fuzz_check_image(strata_pool *pool, const char *out, strata_layout_format format, const char *back)
{
	if (format != STRATA_FORMAT_DOCKER_ARCHIVE) {
		fuzz_must_verify(out);
	} else {
		strata_convert_options c = {.input = out, .output = back, .compress = STRATA_COMPRESS_NONE};
		json_t *summary = NULL;
		strata_error err = STRATA_ERROR_INIT;
		if (strata_convert(pool, &c, &summary, &err) < 0) {
			fprintf(stderr, "fuzz: the Docker archive written does not convert: %s\n", err.msg);
			abort();
		}
		json_decref(summary);
		fuzz_must_verify(back);
	}
	strata_fs_remove_tree(out);
	strata_fs_remove_tree(back);
}

#endif
