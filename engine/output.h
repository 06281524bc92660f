/* strata_output: what a command writes, built under a hidden temporary name
 * beside the target (same filesystem, so the final rename is atomic) and
 * renamed into place at the end. Until commit, the target is untouched; on
 * failure, abort (or free without commit) removes every temporary file, so a
 * failed run leaves nothing at the target and nothing beside it.
 *
 * Outputs never destroy inputs. create refuses a target that is, contains or
 * lies inside any input of the run (after resolving symlinks), and with
 * force it replaces only what strata could have written: a regular file, or
 * a directory that is an OCI image layout, a runtime bundle or empty. A
 * device node, a symlink or any other directory is never replaced.
 *
 * Threads: one thread at a time. */
#ifndef STRATA_OUTPUT_H
#define STRATA_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "cancel.h"
#include "strata_error.h"

typedef struct strata_output strata_output;

typedef struct strata_output_options {
	bool force;                /* replace an existing target (see above) */
	const char *const *inputs; /* paths the run reads (borrowed; missing ones are skipped) */
	size_t ninputs;
	/* Directories the run reads from that the output may lie inside but
	 * neither be nor contain: the store directory (a Nix build writes its
	 * image as a new store path; the store paths read are inputs). */
	const char *const *containers;
	size_t ncontainers;
	size_t nstore_paths; /* the last this many inputs are store paths: a symlink among them is not followed */
	const strata_cancel *cancel; /* for writers of outputs that take long (a tarball) */
} strata_output_options;

/* Fails if target exists (unless force allows it), its parent directory is
 * missing, or it collides with an input. Creates the temporary directory
 * (mode 0755). o may be NULL (no force, no inputs). */
int strata_output_create(const char *target, const strata_output_options *o, strata_output **out,
			 strata_error *err);
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

#endif
