/* strata_registry_auth: the credentials a user already keeps for a
 * registry, found where podman, skopeo and Docker keep them, so that a push
 * needs no --creds on a machine that has logged in.
 *
 * Files, first match wins:
 *   the file the caller names, else $REGISTRY_AUTH_FILE, else ${XDG_RUNTIME_DIR}/containers/auth.json and
 *   ${XDG_CONFIG_HOME:-~/.config}/containers/auth.json (containers' files);
 *   then ${DOCKER_CONFIG:-~/.docker}/config.json (Docker's).
 * In each: credHelpers[host] names a helper; else an "auths" entry for
 * host/repo's longest prefix, or host (keys may carry a scheme and Docker
 * Hub's "https://index.docker.io/v1/" form); else credsStore names the
 * helper for every host. A helper is docker-credential-NAME on $PATH, run
 * as `docker-credential-NAME get` with the server on its standard input;
 * its JSON answer gives Username and Secret ("credentials not found" is no
 * match, not an error).
 *
 * Secrets are never put in errors. Threads: reentrant; may fork. */
#ifndef STRATA_REGISTRY_AUTH_H
#define STRATA_REGISTRY_AUTH_H

#include "cancel.h"
#include "strata_error.h"

/* host: "HOST[:PORT]" as in the destination ("registry-1.docker.io" is
 * Docker Hub); repo: the repository path. *userpass_ret: "USER:PASS"
 * (caller frees), or NULL when no file names this registry. *source_ret
 * (may be NULL): the file (and helper) it came from, for messages; caller
 * frees. */
int strata_registry_auth_find(const char *host, const char *repo, const char *auth_file, const strata_cancel *cancel,
			      char **userpass_ret, char **source_ret, strata_error *err);

#endif
