#define _GNU_SOURCE
#include "output.h"
#include "strata_util.h"

#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct strata_output {
	char *target;
	char *tmp_dir;
	char *tmp_file;
	bool force;
	bool done; /* committed or aborted */
};

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	/* A directory we cannot list (mode 0) can still be removed once it
	 * is made writable and searchable. */
	if (flag == FTW_DNR)
		chmod(path, 0700);
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static int unlock_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D && (st->st_mode & 0700) != 0700)
		chmod(path, (st->st_mode & 07777) | 0700);
	return 0;
}

int strata_remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? -errno : 0;
	/* Copies of store paths have 0555 directories: without root, their
	 * entries can only be removed once each directory is writable. */
	if (geteuid() != 0)
		nftw(path, unlock_cb, 32, FTW_PHYS);
	return nftw(path, rm_cb, 32, FTW_DEPTH | FTW_PHYS) < 0 ? -errno : 0;
}

int strata_output_check_outside(const char *target, const char *dir, strata_error *err)
{
	cleanup_free char *copy = strata_xstrdup(target);
	cleanup_free char *parent = realpath(dirname(copy), NULL);
	cleanup_free char *inside = realpath(dir, NULL);
	if (parent == NULL || inside == NULL)
		return 0; /* a missing parent is reported by create; a missing dir by the reader */
	size_t n = strlen(inside);
	if (strncmp(parent, inside, n) == 0 && (parent[n] == '/' || parent[n] == '\0'))
		return strata_error_set(err, 0, "output '%s' lies inside the store '%s' that is read", target, dir);
	return 0;
}

int strata_output_create(const char *target, bool force, strata_output **out, strata_error *err)
{
	struct stat st;
	if (lstat(target, &st) == 0 && !force)
		return strata_error_set(err, 0, "output '%s' already exists (use --force to replace it)", target);
	cleanup_free char *copy1 = strata_xstrdup(target);
	cleanup_free char *copy2 = strata_xstrdup(target);
	const char *dir = dirname(copy1);
	const char *base = basename(copy2);
	if (strcmp(base, "/") == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return strata_error_set(err, 0, "invalid output path '%s'", target);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return strata_error_set(err, errno ? errno : ENOTDIR, "output directory '%s'", dir);
	strata_output *o = strata_xcalloc(1, sizeof *o);
	o->target = strata_xstrdup(target);
	o->force = force;
	o->tmp_dir = strata_xasprintf("%s/.%s.strata-tmp-XXXXXX", dir, base);
	if (mkdtemp(o->tmp_dir) == NULL) {
		int e = errno;
		free(o->tmp_dir);
		o->tmp_dir = NULL;
		strata_output_free(o);
		return strata_error_set(err, e, "cannot create a temporary directory in '%s'", dir);
	}
	/* mkdtemp makes 0700; outputs are meant to be shared. */
	chmod(o->tmp_dir, 0755);
	*out = o;
	return 0;
}

const char *strata_output_dir(const strata_output *o)
{
	return o->tmp_dir;
}

int strata_output_tmpfile(strata_output *o, int *fd_ret, strata_error *err)
{
	cleanup_free char *copy = strata_xstrdup(o->target);
	cleanup_free char *copy2 = strata_xstrdup(o->target);
	free(o->tmp_file);
	o->tmp_file = strata_xasprintf("%s/.%s.strata-tmp-file-XXXXXX", dirname(copy), basename(copy2));
	int fd = mkstemp(o->tmp_file);
	if (fd < 0)
		return strata_error_set(err, errno, "cannot create '%s'", o->tmp_file);
	fchmod(fd, 0644);
	*fd_ret = fd;
	return 0;
}

int strata_output_commit(strata_output *o, strata_error *err)
{
	const char *src = o->tmp_file ? o->tmp_file : o->tmp_dir;
	struct stat st;
	cleanup_free char *old = NULL;
	if (lstat(o->target, &st) == 0) {
		if (!o->force)
			return strata_error_set(err, 0, "output '%s' appeared meanwhile", o->target);
		/* Move the old output aside first, so the target is never half
		 * the old one and half the new one. */
		old = strata_xasprintf("%s.strata-old-%ld", o->target, (long)getpid());
		if (rename(o->target, old) < 0)
			return strata_error_set(err, errno, "cannot replace '%s'", o->target);
	}
	if (rename(src, o->target) < 0) {
		int e = errno;
		if (old)
			rename(old, o->target);
		return strata_error_set(err, e, "cannot rename the output to '%s'", o->target);
	}
	if (old)
		strata_remove_tree(old);
	if (o->tmp_file)
		strata_remove_tree(o->tmp_dir);
	o->done = true;
	return 0;
}

void strata_output_abort(strata_output *o)
{
	if (o == NULL || o->done)
		return;
	if (o->tmp_dir)
		strata_remove_tree(o->tmp_dir);
	if (o->tmp_file)
		unlink(o->tmp_file);
	o->done = true;
}

void strata_output_free(strata_output *o)
{
	if (o == NULL)
		return;
	strata_output_abort(o);
	free(o->target);
	free(o->tmp_dir);
	free(o->tmp_file);
	free(o);
}
