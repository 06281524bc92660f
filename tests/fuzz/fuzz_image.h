/* What the fuzz targets that build images share: writing their inputs, and
 * building with the check that whatever strata writes clients can read. Included
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

/* Builds *o with its output kind picked by the input's length (an OCI
 * layout gzip'd or not, or a Docker archive), so that every seed reaches
 * each kind as it mutates. A build fails with a message, or what it wrote
 * must be readable: an OCI layout verifies, a Docker archive converts back
 * (into back) to one that does. Both are removed afterwards. */
static inline void fuzz_build_checked(strata_pool *pool, strata_layered_options *o, size_t size, const char *back)
{
	unsigned kind = (unsigned)(size % 3);
	o->format = kind == 2 ? STRATA_FORMAT_DOCKER_ARCHIVE : STRATA_FORMAT_DIRECTORY;
	o->compress = kind == 0 ? STRATA_COMPRESS_GZIP : STRATA_COMPRESS_NONE;
	o->level = kind == 0 ? 1 : 0; /* none has no level */
	json_t *summary = NULL;
	strata_error err = STRATA_ERROR_INIT;
	if (strata_build_layered(pool, o, &summary, &err) < 0) {
		if (err.msg == NULL)
			abort();
		strata_error_clear(&err);
		strata_fs_remove_tree(o->output);
		return;
	}
	json_decref(summary);
	if (o->format != STRATA_FORMAT_DOCKER_ARCHIVE) {
		fuzz_must_verify(o->output);
	} else {
		strata_convert_options c = {.input = o->output, .output = back, .compress = STRATA_COMPRESS_NONE};
		if (strata_convert(pool, &c, &summary, &err) < 0) {
			fprintf(stderr, "fuzz: the Docker archive written does not convert: %s\n", err.msg);
			abort();
		}
		json_decref(summary);
		fuzz_must_verify(back);
	}
	strata_fs_remove_tree(o->output);
	strata_fs_remove_tree(back);
}

#endif
