/* strata_output: what a command writes, built under a hidden temporary name
 * beside the target (same filesystem, so the final rename is atomic) and
 * renamed into place at the end. Until commit, the target is untouched; on
 * failure, abort (or free without commit) removes every temporary file, so a
 * failed run leaves nothing at the target and nothing beside it.
 *
 * Threads: one thread at a time. */
#ifndef STRATA_OUTPUT_H
#define STRATA_OUTPUT_H

#include <stdbool.h>

#include "strata_error.h"

typedef struct strata_output strata_output;

/* Fails if target exists (unless force) or its parent directory is missing.
 * Creates the temporary directory (mode 0755). */
int strata_output_create(const char *target, bool force, strata_output **out, strata_error *err);
/* The temporary directory. */
const char *strata_output_dir(const strata_output *o);
/* Creates a temporary file beside the target (for single-file outputs);
 * returns its fd; the path is removed by abort. */
int strata_output_tmpfile(strata_output *o, int *fd_ret, strata_error *err);
/* Renames the temporary directory (or, after strata_output_tmpfile, the
 * temporary file) to the target, replacing an old target only with force. */
int strata_output_commit(strata_output *o, strata_error *err);
void strata_output_abort(strata_output *o);
void strata_output_free(strata_output *o); /* aborts if not committed; accepts NULL */

/* Fails when target would lie inside dir (after resolving symlinks of
 * target's parent): an output inside the store strata reads would be read
 * back while it is written. */
int strata_output_check_outside(const char *target, const char *dir, strata_error *err);

/* Removes a file or directory tree; no symlink is followed. 0 or -errno. */
int strata_remove_tree(const char *path);

#endif
