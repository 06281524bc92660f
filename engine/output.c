#define _GNU_SOURCE
#include "output.h"
#include "fs_tree.h"
#include "file.h"
#include "alloc.h"

#include <errno.h>
#include <fcntl.h>
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

/* a == b, or a inside b. */
static bool path_within(const char *a, const char *b)
{
	size_t n = strlen(b);
	if (n == 1 && b[0] == '/')
		return true;
	return strncmp(a, b, n) == 0 && (a[n] == '/' || a[n] == '\0');
}

/* The target as an absolute path with its parent's symlinks resolved (the
 * target itself may not exist, or be a symlink strata must not follow). */
static char *resolve_target(const char *target)
{
	cleanup_free char *c1 = strata_xstrdup(target), *c2 = strata_xstrdup(target);
	cleanup_free char *parent = realpath(dirname(c1), NULL);
	if (parent == NULL)
		return NULL;
	const char *base = basename(c2);
	return strcmp(parent, "/") == 0 ? strata_xasprintf("/%s", base) : strata_xasprintf("%s/%s", parent, base);
}

static int check_inputs(const char *target, const strata_output_options *o, strata_error *err)
{
	cleanup_free char *t = resolve_target(target);
	if (t == NULL || o == NULL)
		return 0; /* a missing parent is reported by create */
	for (size_t i = 0; i < o->ncontainers; i++) {
		cleanup_free char *in = o->containers[i] ? realpath(o->containers[i], NULL) : NULL;
		if (in && strcmp(t, in) == 0)
			return strata_error_set(err, 0, "output '%s' is the input '%s'", target, o->containers[i]);
		if (in && path_within(in, t))
			return strata_error_set(err, 0, "output '%s' would replace the input '%s', which lies inside it",
						target, o->containers[i]);
	}
	for (size_t i = 0; i < o->ninputs; i++) {
		if (o->inputs[i] == NULL)
			continue;
		/* Store paths are never followed when read: neither here. */
		cleanup_free char *in = i < o->ninputs - o->nstore_paths ? realpath(o->inputs[i], NULL)
									 : resolve_target(o->inputs[i]);
		if (in == NULL)
			continue; /* a missing input is reported by its reader */
		if (strcmp(t, in) == 0)
			return strata_error_set(err, 0, "output '%s' is the input '%s'", target, o->inputs[i]);
		if (path_within(in, t))
			return strata_error_set(err, 0, "output '%s' would replace the input '%s', which lies inside it",
						target, o->inputs[i]);
		if (path_within(t, in))
			return strata_error_set(err, 0, "output '%s' lies inside the input '%s'", target, o->inputs[i]);
	}
	return 0;
}

/* What strata could have written at a path: a regular file (an archive), a
 * directory holding an OCI layout or a runtime bundle, an empty directory. */
static int check_replaceable(const char *target, const struct stat *st, strata_error *err)
{
	if (S_ISREG(st->st_mode))
		return 0;
	if (S_ISDIR(st->st_mode)) {
		cleanup_close int fd = open(target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct stat s1, s2;
		if (fd >= 0 && fstatat(fd, "oci-layout", &s1, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(s1.st_mode))
			return 0;
		if (fd >= 0 && fstatat(fd, "config.json", &s1, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(s1.st_mode) &&
		    fstatat(fd, "rootfs", &s2, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(s2.st_mode))
			return 0;
		char **names = NULL;
		size_t n = 0;
		strata_error ignored = STRATA_ERROR_INIT;
		if (fd >= 0 && strata_file_list_dir(fd, target, &names, &n, &ignored) == 0) {
			strata_file_free_names(names, n);
			if (n == 0)
				return 0;
		}
		strata_error_clear(&ignored);
		return strata_error_set(err, 0, "refusing to replace '%s': a directory that is not an OCI image layout "
					"or a runtime bundle", target);
	}
	return strata_error_set(err, 0, "refusing to replace '%s': it is a %s, not a file strata writes", target,
				strata_file_type_name(st->st_mode));
}

int strata_output_create(const char *target, const strata_output_options *opts, strata_output **out,
			 strata_error *err)
{
	bool force = opts && opts->force;
	cleanup_free char *copy1 = strata_xstrdup(target);
	cleanup_free char *copy2 = strata_xstrdup(target);
	const char *dir = dirname(copy1);
	const char *base = basename(copy2);
	if (*target == '\0' || strcmp(base, "/") == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return strata_error_set(err, 0, "invalid output path '%s'", target);
	int r = check_inputs(target, opts, err);
	if (r < 0)
		return r;
	struct stat st;
	if (lstat(target, &st) == 0) {
		if (!force) {
			r = strata_error_set(err, 0, "output '%s' already exists", target);
			if (err)
				err->hint = STRATA_HINT_FORCE;
			return r;
		}
		if ((r = check_replaceable(target, &st, err)) < 0)
			return r;
	}
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
	int fd = mkostemp(o->tmp_file, O_CLOEXEC);
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
		int r = check_replaceable(o->target, &st, err);
		if (r < 0)
			return r;
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
		strata_fs_remove_tree(old);
	if (o->tmp_file)
		strata_fs_remove_tree(o->tmp_dir);
	o->done = true;
	return 0;
}

void strata_output_abort(strata_output *o)
{
	if (o == NULL || o->done)
		return;
	if (o->tmp_dir)
		strata_fs_remove_tree(o->tmp_dir);
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
