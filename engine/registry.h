/* strata_registry: one destination repository of the OCI distribution API
 * over libcurl, for pushing.
 *
 *   - the destination is docker://HOST[:PORT]/REPO[:TAG|@DIGEST], with
 *     Docker's defaults (docker.io, library/); loopback registries are
 *     spoken to over TLS when they speak it, else plain HTTP; other hosts
 *     over TLS unless plain HTTP is asked for;
 *   - credentials: given, else found in the user's auth files
 *     (registry_auth.h); sent as basic auth, or exchanged for a bearer token
 *     when the registry asks (WWW-Authenticate: Bearer realm=...), one
 *     exchange shared by every connection; never put in errors;
 *   - a blob: HEAD first; missing, a cross-repository mount when asked,
 *     else its bytes (checked against the digest before any byte leaves)
 *     in one PUT when small, in a chunked PATCH session when large,
 *     following the registry's Location; the digest the registry reports
 *     must be ours;
 *   - connection errors, 429 and 5xx are retried with exponential backoff
 *     (Retry-After honoured, bounded); certificate failures are not.
 *
 * Ownership: the registry borrows its options (they outlive it).
 * Threads: a registry is shared by its connections, each used by one
 * thread at a time. */
#ifndef STRATA_REGISTRY_H
#define STRATA_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "strata.h"

typedef struct strata_registry strata_registry;
typedef struct strata_registry_conn strata_registry_conn;

/* Parses o->dest, finds credentials, picks the scheme. */
int strata_registry_open(const strata_push_options *o, strata_registry **out, strata_error *err);
void strata_registry_free(strata_registry *r); /* accepts NULL */

const char *strata_registry_repo(const strata_registry *r);
const char *strata_registry_tag(const strata_registry *r); /* NULL with a digest */
/* Where the credentials came from: "given", an auth file, or "none". */
const char *strata_registry_credentials(const strata_registry *r);

strata_registry_conn *strata_registry_conn_create(strata_registry *r);
void strata_registry_conn_free(strata_registry_conn *c); /* accepts NULL */

/* A blob's bytes: size bytes at off in fd (borrowed, read with pread). */
typedef struct strata_registry_blob {
	char hex[65];
	uint64_t size;
	int fd;
	uint64_t off;
	bool hashed; /* hashed as it was written, just now: not read again before upload */
} strata_registry_blob;

/* Makes the repository hold b. *action_ret: "exists", "mounted" or
 * "uploaded" (static strings). */
int strata_registry_push_blob(strata_registry_conn *c, const strata_registry_blob *b, const char **action_ret,
			      strata_error *err);

/* The digest of the manifest the repository holds under ref (a digest or
 * a tag): 1 with hex_ret set, 0 when it holds none. */
int strata_registry_manifest_digest(strata_registry_conn *c, const char *ref, char hex_ret[65], strata_error *err);

/* PUTs a manifest under ref (its digest "sha256:..." or a tag); hex is its
 * digest, checked against the registry's. */
int strata_registry_put_manifest(strata_registry_conn *c, const char *ref, const char *media_type, const char *bytes,
				 size_t len, const char hex[65], strata_error *err);

#endif
