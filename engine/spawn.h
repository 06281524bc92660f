/* strata_spawn: running the helper programs a job may need (the user's
 * customisation scripts, fakeroot, nix-store, sqlite3): found on $PATH,
 * run with umask 022 in a given directory with standard input from a file or /dev/null and
 * standard output into a file or onto standard error (standard output may
 * carry an image), waited for, and their failure said in one line.
 *
 * Threads: call from the job's thread; forks (only async-signal-safe calls
 * in the child), so it is safe while the pool's workers run. */
#ifndef STRATA_SPAWN_H
#define STRATA_SPAWN_H

#include <stdbool.h>

#include "cancel.h"
#include "strata_error.h"

/* name's path on $PATH (a name with a '/' is itself), or NULL. */
char *strata_spawn_find(const char *name);

typedef struct strata_spawn_options {
	const char *dir;   /* working directory */
	int in_fd, out_fd; /* -1: /dev/null, standard error */
	bool err_to_out;   /* standard error into out_fd too */
	char *const *env;  /* NAME=VALUE set in addition to the environment, NULL-terminated (may be NULL) */
	const char *what;  /* names the program in errors */
	const strata_cancel *cancel;
} strata_spawn_options;

/* argv[0] must be a path. 0 when it exited 0; else err says how it ended. */
int strata_spawn_run(char *const argv[], const strata_spawn_options *o, strata_error *err);

#endif
