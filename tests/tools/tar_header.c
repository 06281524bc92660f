/* Prints the header blocks strata writes for one member, so tests can
 * compare them with CPython's tarfile byte for byte:
 *   tar_header NAME LINKNAME TYPE MODE UID GID SIZE MTIME UNAME GNAME
 * (numbers in decimal; TYPE one character). */
#include <stdio.h>
#include <stdlib.h>

#include "tar_header.h"

int main(int argc, char **argv)
{
	if (argc != 11) {
		fprintf(stderr, "usage: tar_header NAME LINKNAME TYPE MODE UID GID SIZE MTIME UNAME GNAME\n");
		return 2;
	}
	strata_tar_header h = {.name = argv[1], .linkname = argv[2], .type = argv[3][0],
			       .mode = strtoull(argv[4], NULL, 10), .uid = strtoull(argv[5], NULL, 10),
			       .gid = strtoull(argv[6], NULL, 10), .size = strtoull(argv[7], NULL, 10),
			       .mtime = strtoull(argv[8], NULL, 10), .uname = argv[9], .gname = argv[10]};
	unsigned char *buf = NULL;
	size_t cap = 0, n = strata_tar_header_encode(&h, &buf, &cap);
	fwrite(buf, 1, n, stdout);
	free(buf);
	return 0;
}
