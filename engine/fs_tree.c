/* The walk as an explicit stack of frames, one per directory being listed.
 * A frame holds the directory's sorted names, where the walk is in them,
 * and the directory's fd (closed for ancestors deeper than
 * STRATA_FS_KEEP_FDS below the current one, reopened through ".."). */
#define _GNU_SOURCE
#include "fs_tree.h"
#include "file.h"
#include "alloc.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct frame {
	int fd;           /* this directory, or -1 while closed */
	char **names;     /* its entries, sorted */
	size_t n, next;   /* next: the entry to visit next */
	struct stat st;   /* its lstat, to recognise it when reopened */
	size_t path_len;  /* its path in walker.path */
	const char *name; /* its last component (in the parent frame's names) */
} frame;

typedef struct walker {
	const strata_fs_walk_ops *ops;
	void *arg;
	char *path; /* the current path */
	size_t cap;
	frame *frames;
	size_t depth, frames_cap; /* depth: frames in use */
} walker;

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static void path_set(walker *w, size_t len, const char *name)
{
	size_t nl = strlen(name);
	if (len + 1 + nl + 1 > w->cap) {
		w->cap = 2 * (len + 1 + nl + 1);
		w->path = strata_xrealloc(w->path, w->cap);
	}
	w->path[len] = '/';
	memcpy(w->path + len + 1, name, nl + 1);
}

static int changed(const walker *w, strata_error *err)
{
	return strata_error_set(err, 0, "'%s' was replaced while it was read", w->path);
}

int strata_fs_entry_open(const strata_fs_entry *e, int *owned, strata_error *err)
{
	assert(S_ISREG(e->st.st_mode));
	if (e->fd >= 0)
		return e->fd;
	int fd = openat(e->dir_fd, strata_fs_entry_rel(e), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 && errno != ELOOP)
		return strata_error_set(err, errno, "cannot open '%s'", e->path);
	struct stat now;
	if (fd < 0 || fstat(fd, &now) < 0 || !S_ISREG(now.st_mode) || !same_file(&now, &e->st)) {
		if (fd >= 0)
			close(fd);
		return strata_error_set(err, 0, "'%s' was replaced while it was read", e->path);
	}
	/* O_NONBLOCK stays: it changes nothing for a regular file. */
	*owned = fd;
	return fd;
}

/* Out of fds: give back the shallowest ancestor fd still open (it can be
 * reopened through ".." later), keeping the top frame's, which is in use.
 * Returns whether one was closed. */
static bool shed_fd(walker *w)
{
	for (size_t i = 0; i + 1 < w->depth; i++)
		if (w->frames[i].fd >= 0) {
			close(w->frames[i].fd);
			w->frames[i].fd = -1;
			return true;
		}
	return false;
}

static int open_dir_at(walker *w, int dir_fd, const char *rel, int extra)
{
	for (;;) {
		int fd = openat(dir_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC | extra);
		if (fd >= 0 || (errno != EMFILE && errno != ENFILE) || !shed_fd(w))
			return fd;
	}
}

/* Opens the directory e (just lstat'ed) and pushes its frame. */
static int push_dir(walker *w, const strata_fs_entry *e, size_t len, strata_error *err)
{
	int fd = open_dir_at(w, e->dir_fd, strata_fs_entry_rel(e), O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ELOOP || errno == ENOTDIR)
			return changed(w, err);
		return strata_error_set(err, errno, "cannot open directory '%s'", w->path);
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !same_file(&st, &e->st)) {
		close(fd);
		return changed(w, err);
	}
	char **names = NULL;
	size_t n = 0;
	int r = strata_file_list_dir(fd, w->path, &names, &n, err);
	if (r < 0) {
		close(fd);
		return r;
	}
	if (w->depth == w->frames_cap) {
		w->frames_cap = w->frames_cap ? 2 * w->frames_cap : 16;
		w->frames = strata_xrealloc(w->frames, w->frames_cap * sizeof *w->frames);
	}
	w->frames[w->depth++] = (frame){.fd = fd, .names = names, .n = n, .st = e->st, .path_len = len, .name = e->name};
	/* Deep trees: the ancestor that just left the window of kept fds is
	 * reopened through ".." when the walk comes back to it. */
	if (w->depth > STRATA_FS_KEEP_FDS) {
		frame *old = &w->frames[w->depth - 1 - STRATA_FS_KEEP_FDS];
		if (old->fd >= 0) {
			close(old->fd);
			old->fd = -1;
		}
	}
	return 0;
}

/* Makes sure the frame below the top has its fd, through the top's "..". */
static int reopen_parent(walker *w, strata_error *err)
{
	frame *top = &w->frames[w->depth - 1], *parent = &w->frames[w->depth - 2];
	if (parent->fd >= 0)
		return 0;
	int fd = open_dir_at(w, top->fd, "..", 0);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !same_file(&st, &parent->st)) {
		if (fd >= 0)
			close(fd);
		w->path[parent->path_len] = '\0';
		return changed(w, err);
	}
	parent->fd = fd;
	return 0;
}

/* Pops the top frame: calls leave for it with its parent's fd. */
static int pop_dir(walker *w, strata_error *err)
{
	frame *top = &w->frames[w->depth - 1];
	int r = w->depth >= 2 ? reopen_parent(w, err) : 0;
	int dir_fd = w->depth >= 2 ? w->frames[w->depth - 2].fd : AT_FDCWD;
	w->path[top->path_len] = '\0';
	if (r == 0 && w->ops->leave) {
		strata_fs_entry e = {.path = w->path, .name = top->name, .st = top->st,
				     .depth = (int)w->depth - 1, .dir_fd = dir_fd, .fd = -1};
		r = w->ops->leave(w->arg, &e, err);
	}
	close(top->fd);
	strata_file_free_names(top->names, top->n);
	w->depth--;
	return r;
}

/* lstat, type check, visit, and for a directory the push. */
static int visit_entry(walker *w, int dir_fd, const char *rel, size_t len, const char *name, int depth,
		       strata_error *err)
{
	strata_fs_entry e = {.path = w->path, .name = name, .depth = depth, .dir_fd = dir_fd, .fd = -1};
	if (strata_cancel_requested(w->ops->cancel))
		return strata_error_set(err, 0, "interrupted");
	if (depth > 0 && (w->ops->flags & STRATA_FS_OPEN_FILES) && strata_file_name_type(name) == DT_REG) {
		cleanup_close int fd = openat(dir_fd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		if (fd >= 0 && fstat(fd, &e.st) == 0 && S_ISREG(e.st.st_mode)) {
			e.fd = fd;
			return w->ops->visit(w->arg, &e, err);
		}
	}
	if (fstatat(dir_fd, rel, &e.st, AT_SYMLINK_NOFOLLOW) < 0)
		return strata_error_set(err, errno, "cannot stat '%s'", w->path);
	char target[PATH_MAX + 1];
	if (S_ISLNK(e.st.st_mode)) {
		ssize_t n = readlinkat(dir_fd, rel, target, PATH_MAX);
		/* EINVAL: no longer a symlink since the lstat (ENOENT: gone). */
		if (n < 0 && (errno == EINVAL || errno == ENOENT))
			return strata_error_set(err, 0, "'%s' was replaced while it was read", w->path);
		if (n < 0)
			return strata_error_set(err, errno, "cannot read symlink '%s'", w->path);
		target[n] = '\0';
		e.link_target = target;
	} else if (!S_ISREG(e.st.st_mode) && !S_ISDIR(e.st.st_mode) && !(w->ops->flags & STRATA_FS_ANY_TYPE)) {
		return strata_error_set(err, 0, "'%s' is a %s; a store path may hold only files, "
					"directories and symlinks", w->path, strata_file_type_name(e.st.st_mode));
	}
	int r = w->ops->visit(w->arg, &e, err);
	if (r < 0 || !S_ISDIR(e.st.st_mode))
		return r;
	return push_dir(w, &e, len, err);
}

int strata_fs_walk(const char *root, const strata_fs_walk_ops *ops, void *arg, strata_error *err)
{
	walker w = {.ops = ops, .arg = arg};
	size_t len = strlen(root);
	while (len > 1 && root[len - 1] == '/')
		len--;
	w.cap = len + 256;
	w.path = strata_xmalloc(w.cap);
	memcpy(w.path, root, len);
	w.path[len] = '\0';
	cleanup_free char *rootpath = strata_xstrdup(w.path);
	const char *slash = strrchr(rootpath, '/');
	int r = visit_entry(&w, AT_FDCWD, rootpath, len, slash && slash[1] ? slash + 1 : rootpath, 0, err);
	while (r == 0 && w.depth > 0) {
		frame *top = &w.frames[w.depth - 1];
		if (top->next == top->n) {
			r = pop_dir(&w, err);
			continue;
		}
		if (top->fd < 0)
			abort(); /* only ancestors of the top are ever closed */
		const char *name = top->names[top->next++];
		path_set(&w, top->path_len, name);
		r = visit_entry(&w, top->fd, name, top->path_len + 1 + strlen(name), name, (int)w.depth, err);
	}
	while (w.depth > 0) { /* after a failure: close and free what is left */
		frame *top = &w.frames[--w.depth];
		if (top->fd >= 0)
			close(top->fd);
		strata_file_free_names(top->names, top->n);
	}
	free(w.frames);
	free(w.path);
	return r;
}

/* ---------- removal ---------- */

static int rm_visit(void *arg, const strata_fs_entry *e, strata_error *err)
{
	(void)arg;
	if (S_ISDIR(e->st.st_mode)) {
		/* A directory we cannot list or change (copies of store paths
		 * are 0555) must become accessible before the walk opens it. */
		if ((e->st.st_mode & 0700) != 0700)
			fchmodat(e->dir_fd, strata_fs_entry_rel(e), (e->st.st_mode & 07777) | 0700, 0);
		return 0;
	}
	if (unlinkat(e->dir_fd, strata_fs_entry_rel(e), 0) < 0 && errno != ENOENT)
		return strata_error_set(err, errno, "cannot remove '%s'", e->path);
	return 0;
}

static int rm_leave(void *arg, const strata_fs_entry *e, strata_error *err)
{
	(void)arg;
	if (unlinkat(e->dir_fd, strata_fs_entry_rel(e), AT_REMOVEDIR) < 0 && errno != ENOENT)
		return strata_error_set(err, errno, "cannot remove '%s'", e->path);
	return 0;
}

int strata_fs_remove_tree(const char *path)
{
	/* Removal is what runs after an interrupt: it takes no token. */
	static const strata_fs_walk_ops ops = {rm_visit, rm_leave, STRATA_FS_ANY_TYPE, NULL};
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	strata_error err = STRATA_ERROR_INIT;
	int r = strata_fs_walk(path, &ops, NULL, &err);
	int code = err.code;
	strata_error_clear(&err);
	return r < 0 ? -(code ? code : EIO) : 0;
}
