/* libFuzzer target: strata verify on arbitrary layouts, given as an
 * oci-archive (a tar holding oci-layout, index.json and blobs/sha256/...),
 * read from a memfd. verify either accepts or fails with a message; it never
 * crashes, leaks, hangs on what the archive holds, or leaves its private
 * unpack directory behind. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char tmp[4096];

static void remove_tmp(void)
{
	rmdir(tmp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (tmp[0] == '\0') {
		const char *base = getenv("TMPDIR");
		snprintf(tmp, sizeof tmp, "%s/strata-fuzz-verify-%ld", base && *base ? base : "/tmp", (long)getpid());
		if (mkdir(tmp, 0700) == 0)
			atexit(remove_tmp); /* empty after every input (checked below) */
		setenv("TMPDIR", tmp, 1);
	}
	int fd = memfd_create("layout", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	char in[64];
	snprintf(in, sizeof in, "/proc/self/fd/%d", fd);
	strata_verify_report rep;
	strata_error err = STRATA_ERROR_INIT;
	if (strata_verify(in, NULL, &rep, &err) < 0 && err.msg == NULL)
		abort();
	strata_error_clear(&err);
	close(fd);
	DIR *d = opendir(tmp); /* the unpack directory is gone */
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			abort();
	if (d)
		closedir(d);
	return 0;
}
