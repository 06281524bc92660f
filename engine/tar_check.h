/* strata_tar_check: does a byte stream parse as a tar archive to its end,
 * as container clients read it (Go's archive/tar, which umoci, containerd
 * and Docker use)? Fed incrementally, so it can watch a layer streaming past
 * without holding it.
 *
 * Accepted: ustar, GNU and v7 headers with a valid checksum (unsigned or
 * signed sum), octal or base-256 numeric fields, pax 'x' records (their
 * size record overrides the next header's), pax 'g' and GNU long-name
 * entries; the end is the end of input at a header boundary, or one zero
 * block followed by the end of input or a second zero block (anything after
 * two zero blocks is ignored, as readers do). Everything else is an error:
 * a bad checksum (a text file is not a tar), a truncated header or entry, a
 * zero block followed by a header.
 *
 * Threads: one checker per stream; no shared state. */
#ifndef STRATA_TAR_CHECK_H
#define STRATA_TAR_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "strata_error.h"

typedef struct strata_tar_check {
	/* all private */
	unsigned char block[512];
	size_t have;         /* bytes of the current header block */
	uint64_t skip;       /* data + padding bytes left in the current entry */
	uint64_t offset;     /* bytes fed so far */
	int state;           /* header, pax data, zero seen, end */
	int64_t pax_size;    /* size from a pax record for the next header, or -1 */
	unsigned char *pax;  /* a pax 'x' entry's data, while it is read */
	size_t pax_len, pax_need;
	uint64_t entries;
} strata_tar_check;

void strata_tar_check_init(strata_tar_check *c);
/* what names the stream in errors. */
int strata_tar_check_feed(strata_tar_check *c, const void *buf, size_t n, const char *what, strata_error *err);
/* At the end of input. */
int strata_tar_check_end(strata_tar_check *c, const char *what, strata_error *err);
void strata_tar_check_fini(strata_tar_check *c);

#endif
