#define _GNU_SOURCE
#include "fs_walk.h"
#include "strata_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct walker {
	strata_fs_visit_fn visit;
	void *arg;
	char *path; /* growing buffer holding the current path */
	size_t cap;
} walker;

static const char *type_name(mode_t m)
{
	if (S_ISFIFO(m))
		return "fifo";
	if (S_ISSOCK(m))
		return "socket";
	if (S_ISCHR(m))
		return "character device";
	if (S_ISBLK(m))
		return "block device";
	return "unknown file type";
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* dir_fd/rel: how to reach the entry without walking the whole path again
 * (a lookup per component per syscall dominated many-small-file trees). */
static int walk_at(walker *w, int dir_fd, const char *rel, size_t len, const char *name, int depth,
		   strata_error *err)
{
	strata_fs_entry e = {.path = w->path, .name = name, .depth = depth, .dir_fd = dir_fd};
	if (strata_cancelled())
		return strata_error_set(err, 0, "interrupted");
	if (fstatat(dir_fd, rel, &e.st, AT_SYMLINK_NOFOLLOW) < 0)
		return strata_error_set(err, errno, "cannot stat '%s'", w->path);

	char target[PATH_MAX + 1];
	if (S_ISLNK(e.st.st_mode)) {
		ssize_t n = readlinkat(dir_fd, rel, target, PATH_MAX);
		if (n < 0)
			return strata_error_set(err, errno, "cannot read symlink '%s'", w->path);
		target[n] = '\0';
		e.link_target = target;
	} else if (!S_ISREG(e.st.st_mode) && !S_ISDIR(e.st.st_mode)) {
		return strata_error_set(err, 0, "'%s' is a %s; a store path may hold only files, "
					"directories and symlinks", w->path, type_name(e.st.st_mode));
	}
	int r = w->visit(w->arg, &e, err);
	if (r < 0 || !S_ISDIR(e.st.st_mode))
		return r;

	int fd = openat(dir_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (d == NULL) {
		int e2 = errno;
		if (fd >= 0)
			close(fd);
		return strata_error_set(err, e2, "cannot open directory '%s'", w->path);
	}
	size_t n = 0, cap = 16;
	char **names = strata_xmalloc(cap * sizeof *names);
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap *= 2;
			names = strata_xrealloc(names, cap * sizeof *names);
		}
		names[n++] = strata_xstrdup(de->d_name);
	}
	int saved = errno;
	if (saved != 0) {
		closedir(d);
		free_names(names, n);
		return strata_error_set(err, saved, "cannot read directory '%s'", w->path);
	}
	int dfd = dirfd(d);
	/* readdir order depends on the filesystem; the tar must not. */
	qsort(names, n, sizeof *names, strata_cmp_strp);
	for (size_t i = 0; i < n && r == 0; i++) {
		size_t nl = strlen(names[i]);
		if (len + 1 + nl + 1 > w->cap) {
			w->cap = 2 * (len + 1 + nl + 1);
			w->path = strata_xrealloc(w->path, w->cap);
		}
		w->path[len] = '/';
		memcpy(w->path + len + 1, names[i], nl + 1);
		r = walk_at(w, dfd, names[i], len + 1 + nl, w->path + len + 1, depth + 1, err);
		w->path[len] = '\0';
	}
	closedir(d);
	free_names(names, n);
	return r;
}

int strata_fs_walk(const char *root, strata_fs_visit_fn visit, void *arg, strata_error *err)
{
	walker w = {.visit = visit, .arg = arg};
	size_t len = strlen(root);
	while (len > 1 && root[len - 1] == '/')
		len--;
	w.cap = len + 256;
	w.path = strata_xmalloc(w.cap);
	memcpy(w.path, root, len);
	w.path[len] = '\0';
	const char *slash = strrchr(w.path, '/');
	cleanup_free char *rootpath = strata_xstrdup(w.path);
	int r = walk_at(&w, AT_FDCWD, rootpath, len, slash ? slash + 1 : w.path, 0, err);
	free(w.path);
	return r;
}
