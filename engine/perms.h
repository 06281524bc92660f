/* strata_perms: rules that set the owner and mode of layer members, as
 * nix2container's `perms`: a JSON list of objects
 *
 *   {"path": "/nix/store/...-app" or "/etc/app", "regex": "...",
 *    "mode": "0755", "uid": 1000, "gid": 1000, "uname": "app", "gname": "app"}
 *
 * A rule selects the members at `path` or below it and, with `regex`, those
 * whose image path (absolute, no trailing '/') the POSIX extended regular
 * expression matches as a whole; at least one of the two. The other fields
 * are what it sets (at least one). Rules apply in order, a later one
 * overriding an earlier one's fields. A rule that matched no member of any
 * layer is an error after the build (a typo must not pass silently).
 *
 * Threads: load and check on one thread; apply (a strata_tar_meta_fn) from
 * any number of concurrent layer producers. */
#ifndef STRATA_PERMS_H
#define STRATA_PERMS_H

#include "strata_error.h"
#include "tar.h"

typedef struct strata_perms strata_perms;

int strata_perms_load(const char *file, strata_perms **out, strata_error *err);
void strata_perms_free(strata_perms *p); /* accepts NULL */

/* The meta hook of tar.h; arg is the strata_perms. */
void strata_perms_apply(void *arg, const char *name, char type, strata_tar_meta *m);

/* 0 when every rule matched a member, else err names the first that did
 * not. */
int strata_perms_check_used(const strata_perms *p, strata_error *err);

#endif
