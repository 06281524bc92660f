/* strata_blob_check: checks a compressed layer blob in the one read that
 * copies it: the SHA-256 of its bytes (its digest), the SHA-256 of the tar
 * it decompresses to (its diff_id), and that the tar is one (tar_check.h).
 *
 * Decoding: gzip with libdeflate member by member (strata's and pigz's
 * blobs are many members of at most a few MiB), falling back to zlib's
 * streaming inflate for a member too large to hold (Docker's one-member
 * layers); zstd with libzstd's streaming decoder; "none" as it is.
 *
 * Memory: at most a few members' bytes, whatever the blob's size.
 *
 * Threads: one checker per thread. */
#ifndef STRATA_BLOB_CHECK_H
#define STRATA_BLOB_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "strata.h"
#include "strata_error.h"

typedef struct strata_blob_check strata_blob_check;

/* what names the blob in errors (copied). */
strata_blob_check *strata_blob_check_create(strata_compress c, const char *what);
/* The blob's next bytes, in order. */
int strata_blob_check_feed(strata_blob_check *k, const void *p, size_t n, strata_error *err);
/* After the last byte: the digests (hex) and the tar's size; fails if the
 * blob ends inside a compressed stream or the tar is not complete. */
int strata_blob_check_end(strata_blob_check *k, char raw_hex[65], char diff_hex[65], uint64_t *tar_size,
			  strata_error *err);
void strata_blob_check_free(strata_blob_check *k); /* accepts NULL */

#endif
