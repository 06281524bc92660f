/* strata_push internals: an OCI image (layout directory, DIR:TAG, or
 * oci-archive) pushed to a registry with the OCI distribution API over
 * libcurl.
 *
 *   - every blob's existence is checked first (HEAD), concurrently;
 *   - missing blobs are uploaded concurrently (o->jobs at a time): a
 *     cross-repository mount when asked (POST ?mount=&from=), else a
 *     monolithic PUT for small blobs and a chunked PATCH session for large
 *     ones, honouring the registry's Location; each blob is checked against
 *     its digest before any byte is sent, streamed from disk, and the digest
 *     the registry reports must be the same;
 *   - then the manifest, by digest, then the tag.
 * Connection errors, 429 and 5xx are retried with exponential backoff
 * (Retry-After honoured, bounded). Credentials (--creds USER:PASS) go as
 * HTTP basic auth, or are exchanged for a bearer token when the registry
 * asks for one (WWW-Authenticate: Bearer realm=...,service=...); they never
 * appear in errors or the summary. Plain HTTP only for localhost and
 * 127.0.0.1, or when asked.
 *
 * Threads: the job's thread, plus o->jobs upload threads of its own
 * (network waits must not take the compression pool's workers). */
#ifndef STRATA_PUSH_H
#define STRATA_PUSH_H

#include "strata.h"

#endif
