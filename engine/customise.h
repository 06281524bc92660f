/* strata_customise: nixpkgs' extraCommands and fakeRootCommands. The
 * entries of a layer's root (root_tree.h, without its store paths) are
 * copied into a new private directory in $TMPDIR (mode 0700), and the
 * scripts run there with `SHELL -e SCRIPT`: first extra_commands, as the
 * invoking user; then fakeroot_commands, under fakeroot(1), so that chown,
 * chgrp and chmod act as if run by root. The scripts' output goes to
 * standard error (standard output may carry an image); standard input is
 * /dev/null. A script that fails fails the job with its exit status.
 *
 * What fakeroot recorded is read back inside the same fakeroot session
 * (find(1) lists every entry's faked owner and mode), and applied to the
 * layer's members through the tar meta hook. Device nodes, fifos and
 * sockets made by the scripts are refused.
 *
 * The directory is removed by strata_customise_free (and is left in
 * $TMPDIR only if strata is killed).
 *
 * Threads: run and free on one thread; apply from any thread. */
#ifndef STRATA_CUSTOMISE_H
#define STRATA_CUSTOMISE_H

#include "cancel.h"
#include "root_tree.h"
#include "strata_error.h"
#include "tar.h"

typedef struct strata_customise_options {
	const char *extra_commands;    /* a script file, or NULL */
	const char *fakeroot_commands; /* a script file, or NULL */
	const char *shell;             /* NULL: /bin/sh */
	const strata_cancel *cancel;
} strata_customise_options;

typedef struct strata_customised strata_customised;

int strata_customise_run(const strata_root_tree *tree, const strata_customise_options *o, strata_customised **out,
			 strata_error *err);
/* The directory the scripts ran in, to be archived. */
const char *strata_customise_dir(const strata_customised *c);
/* Chains a further meta hook (perms), applied after fakeroot's record. */
void strata_customise_set_next(strata_customised *c, strata_tar_meta_fn next, void *next_arg);
/* The meta hook of tar.h; arg is the strata_customised. Members fakeroot
 * saw owned by someone else than root get that owner (numeric: no names)
 * and every member its faked mode. */
void strata_customise_apply(void *arg, const char *name, char type, strata_tar_meta *m);
void strata_customise_free(strata_customised *c); /* accepts NULL; removes the directory */

#endif
