/* strata_build_bundle: an OCI runtime bundle (config.json + rootfs/) that
 * runs one program from the Nix store: nixpkgs' buildContainer, following
 * runtime-spec v1.2.0 (no `platform` key), honouring mounts, optionally
 * rootless, and with three ways to provide the store:
 *   copy      the closure copied into rootfs/<store_dir> (as nixpkgs does)
 *   hardlink  files hard-linked (same filesystem: no data copied)
 *   bind      nothing copied: each closure path bind-mounted read-only
 * The bundle is built beside the target and renamed at the end.
 *
 * Threads: single-threaded. */
#ifndef STRATA_BUNDLE_H
#define STRATA_BUNDLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "strata_error.h"

typedef enum strata_store_mode {
	STRATA_STORE_COPY,
	STRATA_STORE_HARDLINK,
	STRATA_STORE_BIND,
} strata_store_mode;

typedef struct strata_bundle_options {
	const char *output;
	bool force;
	char **args; /* args[0]: the program, an absolute path in the store */
	size_t nargs;
	const char *closure_file; /* NULL: found by scanning the store */
	const char *store_dir;    /* NULL: /nix/store; normalised (strata_store_dir_normalise) */
	char **env;               /* KEY=VALUE, appended after the default PATH */
	size_t nenv;
	const char *cwd;      /* NULL: / */
	const char *hostname; /* NULL: none */
	char **mounts;        /* --mount specs, in order */
	size_t nmounts;
	bool terminal, readonly, rootless;
	strata_store_mode store_mode;
} strata_bundle_options;

/* summary_ret: {output, program, store_paths, store_mode, bytes_copied}. */
int strata_build_bundle(const strata_bundle_options *o, json_t **summary_ret, strata_error *err);

/* Parses "type=bind,source=/a,destination=/b,options=ro[,nosuid...]" into a
 * runtime-spec mount object. Bare words after options= are more options.
 * Strict: every key once, options known flags or key=value of plain
 * characters, the type a plain name, a bind source absolute and existing,
 * the destination as strata_mount_destination_normalise makes it. */
int strata_mount_parse(const char *spec, json_t **mount_ret, strata_error *err);

/* An absolute destination inside the container, normalised: repeated
 * slashes and "." dropped; ".." and the root itself refused. */
int strata_mount_destination_normalise(const char *dest, char **out, strata_error *err);

#endif
