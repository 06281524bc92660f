/* strata_fs_walk: a depth-first walk of one store path in the order the
 * layer tar must have: each directory before its entries, the entries of a
 * directory sorted by byte order of their names. That is the component-wise
 * order of Python's pathlib sort used by nixpkgs (so "a/b" comes before
 * "a-b", unlike a plain sort of whole path strings).
 *
 * Nothing is followed: entries are lstat'ed, a symlink is reported as a
 * symlink (with its target), a root that is a symlink is a single entry.
 * Regular files, directories and symlinks are the only types a store may hold;
 * anything else (fifo, socket, device) is an error naming the path.
 *
 * Threads: reentrant; walks of different paths may run concurrently. */
#ifndef STRATA_FS_WALK_H
#define STRATA_FS_WALK_H

#include <sys/stat.h>

#include "strata_error.h"

typedef struct strata_fs_entry {
	const char *path;        /* absolute path on the host */
	const char *name;        /* last component */
	const char *link_target; /* symlinks only, else NULL */
	struct stat st;          /* lstat */
	int depth;               /* 0 for the root */
	int dir_fd;              /* the parent directory, for openat(dir_fd, name);
				  * AT_FDCWD for the root (then open path) */
} strata_fs_entry;

/* Returns 0 to go on, or a negative value (with err filled) to stop. The
 * entry and its strings are valid only during the call. */
typedef int (*strata_fs_visit_fn)(void *arg, const strata_fs_entry *e, strata_error *err);

int strata_fs_walk(const char *root, strata_fs_visit_fn visit, void *arg, strata_error *err);

#endif
