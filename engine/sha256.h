/* strata_sha256: SHA-256 through OpenSSL's libcrypto (SHA-NI where the CPU
 * has it), for diff_ids, blob digests and JSON blobs, always as lowercase
 * hex.
 *
 * Threads: one context is not safe across threads; different contexts are. */
#ifndef STRATA_SHA256_H
#define STRATA_SHA256_H

#include <stddef.h>

typedef struct strata_sha256 strata_sha256;

strata_sha256 *strata_sha256_create(void); /* out of memory aborts */
void strata_sha256_update(strata_sha256 *s, const void *data, size_t n);
/* Ends the digest: out gets 64 hex digits and a NUL. No update after. */
void strata_sha256_final_hex(strata_sha256 *s, char out[65]);
void strata_sha256_free(strata_sha256 *s); /* accepts NULL */

/* One-shot. */
void strata_sha256_hex(const void *data, size_t n, char out[65]);

#endif
