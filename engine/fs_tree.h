/* strata_fs: walking and removing directory trees without following
 * anything and without recursion.
 *
 * The walk is depth-first in the order a layer tar must have: each directory
 * before its entries, the entries of a directory sorted by byte order of
 * their names. That is the component-wise order of Python's pathlib sort
 * used by nixpkgs (so "a/b" comes before "a-b", unlike a plain sort of whole
 * path strings).
 *
 * Nothing is followed: entries are lstat'ed, a symlink is reported as a
 * symlink (with its target), a root that is a symlink is a single entry.
 * Entries are reached through their parent directory's fd, and each
 * directory opened is checked to be the one that was lstat'ed (same device
 * and inode): a directory swapped for a symlink or another directory while
 * the walk runs is an error, never a way out of the tree.
 *
 * Depth is bounded only by the kernel: the walk keeps an explicit stack, and
 * below STRATA_FS_KEEP_FDS levels it closes ancestors' fds and reopens them
 * through ".." (checked by device and inode) on the way back up, so a
 * 2,000-level tree needs neither a deep C stack nor 2,000 open fds.
 *
 * Threads: reentrant; walks of different trees may run concurrently. */
#ifndef STRATA_FS_TREE_H
#define STRATA_FS_TREE_H

#include <sys/stat.h>

#include "cancel.h"
#include "strata_error.h"

#define STRATA_FS_KEEP_FDS 48

typedef struct strata_fs_entry {
	const char *path;        /* the path on the host (the root as given, then /name per level) */
	const char *name;        /* last component */
	const char *link_target; /* symlinks only, else NULL */
	struct stat st;          /* lstat */
	int depth;               /* 0 for the root */
	int dir_fd;              /* the parent directory, for openat(dir_fd, name);
				  * AT_FDCWD for the root (then use path) */
	int fd;                  /* STRATA_FS_OPEN_FILES: a regular file open for
				  * reading, st its fstat; else -1. Borrowed: the
				  * walk closes it when visit returns. */
} strata_fs_entry;

/* The name to open e by, relative to e->dir_fd. */
static inline const char *strata_fs_entry_rel(const strata_fs_entry *e)
{
	return e->depth == 0 ? e->path : e->name;
}

/* The regular file e, open for reading: e->fd when the walk opened it, else
 * opened now (O_NOFOLLOW, O_NONBLOCK) and checked to be the regular file the
 * walk lstat'ed, then also stored in *owned for the caller to close (*owned
 * is left alone otherwise). Returns the fd, or a negative value with err
 * filled: "cannot open", or "was replaced while it was read". */
int strata_fs_entry_open(const strata_fs_entry *e, int *owned, strata_error *err);

/* Returns 0 to go on, or a negative value (with err filled) to stop. The
 * entry and its strings are valid only during the call. */
typedef int (*strata_fs_visit_fn)(void *arg, const strata_fs_entry *e, strata_error *err);

enum {
	/* Report fifos, sockets and devices to visit instead of failing:
	 * regular files, directories and symlinks are the only types a store
	 * path may hold, so by default anything else is an error naming it. */
	STRATA_FS_ANY_TYPE = 1,
	/* For visitors that read every regular file: open an entry listed as a
	 * regular file first (O_NOFOLLOW, O_NONBLOCK) and take its stat from the
	 * fd, one path lookup instead of the lstat's and the open's. What is no
	 * longer a regular file, or cannot be opened, is lstat'ed as usual with
	 * fd -1 (the visitor's own open then reports why). */
	STRATA_FS_OPEN_FILES = 2,
};

typedef struct strata_fs_walk_ops {
	strata_fs_visit_fn visit; /* every entry, directories before their entries */
	strata_fs_visit_fn leave; /* directories after their entries (may be NULL) */
	unsigned flags;
	const strata_cancel *cancel; /* polled before each entry (NULL: never) */
} strata_fs_walk_ops;

int strata_fs_walk(const char *root, const strata_fs_walk_ops *ops, void *arg, strata_error *err);

/* Removes a file or directory tree (ours: a temporary output, an old output
 * replaced by --force). No symlink is followed; directories without write or
 * search permission are made accessible first. 0, or -errno of the first
 * failure (a missing path is 0). */
int strata_fs_remove_tree(const char *path);

#endif
