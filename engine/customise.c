#define _GNU_SOURCE
#include "customise.h"
#include "alloc.h"
#include "file.h"
#include "fs_tree.h"
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LISTING (256u << 20) /* find's output for the whole root */

typedef struct faked {
	char *path; /* absolute image path */
	unsigned long uid, gid, mode;
} faked;

struct strata_customised {
	char *dir;
	faked *entries; /* sorted by path */
	size_t nentries;
	strata_tar_meta_fn next;
	void *next_arg;
};

const char *strata_customise_dir(const strata_customised *c)
{
	return c->dir;
}

void strata_customise_set_next(strata_customised *c, strata_tar_meta_fn next, void *next_arg)
{
	c->next = next;
	c->next_arg = next_arg;
}

void strata_customise_free(strata_customised *c)
{
	if (c == NULL)
		return;
	if (c->dir)
		strata_fs_remove_tree(c->dir);
	for (size_t i = 0; i < c->nentries; i++)
		free(c->entries[i].path);
	free(c->entries);
	free(c->dir);
	free(c);
}

/* A script's run: in the root, output onto standard error. */
static int run(char *const argv[], const char *dir, int out_fd, const char *what, const strata_cancel *cancel,
	       strata_error *err)
{
	strata_spawn_options so = {.dir = dir, .in_fd = -1, .out_fd = out_fd, .what = what, .cancel = cancel};
	return strata_spawn_run(argv, &so, err);
}

/* The script as an absolute path (the scripts run in another directory). */
static int script_path(const char *script, const char *what, char **out, strata_error *err)
{
	struct stat st;
	if (stat(script, &st) < 0)
		return strata_error_set(err, errno, "%s: cannot read '%s'", what, script);
	if (!S_ISREG(st.st_mode))
		return strata_error_set(err, 0, "%s: '%s' is not a file", what, script);
	*out = realpath(script, NULL);
	return *out ? 0 : strata_error_set(err, errno, "%s: cannot resolve '%s'", what, script);
}

static int cmp_faked(const void *a, const void *b)
{
	return strcmp(((const faked *)a)->path, ((const faked *)b)->path);
}

/* find's records "UID GID MODE TYPE PATH\0" into c->entries. */
static int parse_listing(strata_customised *c, const char *buf, size_t len, strata_error *err)
{
	for (size_t off = 0; off < len;) {
		const char *rec = buf + off;
		size_t rl = strnlen(rec, len - off);
		if (off + rl == len)
			return strata_error_set(err, 0, "fakeroot: a truncated listing");
		off += rl + 1;
		unsigned long uid, gid, mode;
		char type;
		int n = 0;
		if (sscanf(rec, "%lu %lu %lo %c %n", &uid, &gid, &mode, &type, &n) != 4 || n == 0)
			return strata_error_set(err, 0, "fakeroot: cannot read the listing");
		const char *rel = rec + n;
		if (*rel == '\0')
			continue; /* the root itself */
		if (type != 'f' && type != 'd' && type != 'l')
			return strata_error_set(err, 0, "fakeroot-commands made '/%s' a %s: only files, directories and "
							"symlinks are supported", rel,
						type == 'c' || type == 'b' ? "device node" : type == 'p' ? "fifo" : "socket");
		c->entries = strata_xrealloc(c->entries, (c->nentries + 1) * sizeof *c->entries);
		c->entries[c->nentries++] = (faked){strata_xasprintf("/%s", rel), uid, gid, mode};
	}
	qsort(c->entries, c->nentries, sizeof *c->entries, cmp_faked);
	return 0;
}

static int run_fakeroot(strata_customised *c, char *script, char *shell, const strata_cancel *cancel,
			strata_error *err)
{
	cleanup_free char *fakeroot = strata_spawn_find("fakeroot");
	if (fakeroot == NULL)
		return strata_error_set(err, 0, "fakeroot-commands need fakeroot(1) on $PATH (Debian: apt install fakeroot)");
	cleanup_free char *state = strata_xasprintf("%s.fakeroot", c->dir);
	char *argv1[] = {fakeroot, "-s", state, "--", shell, "-e", script, NULL};
	int r = run(argv1, c->dir, -1, "fakeroot-commands", cancel, err);
	/* The listing inside the same session, through an unnamed file. */
	int fd = r == 0 ? strata_file_tmpfile(err) : -1;
	if (r == 0 && fd < 0)
		r = fd;
	cleanup_free char *find = strata_spawn_find("find");
	if (r == 0 && find == NULL)
		r = strata_error_set(err, 0, "fakeroot-commands need find(1) on $PATH (Debian: findutils)");
	if (r == 0) {
		char *argv2[] = {fakeroot, "-i", state, "--", find, ".", "-printf", "%U %G %m %y %P\\0", NULL};
		r = run(argv2, c->dir, fd, "fakeroot (listing the root)", cancel, err);
	}
	unlink(state);
	if (r == 0) {
		cleanup_free char *buf = NULL;
		size_t len = 0;
		char proc[64];
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
		r = strata_file_read_all(AT_FDCWD, proc, 0, MAX_LISTING, "fakeroot listing", &buf, &len, err);
		if (r == 0)
			r = parse_listing(c, buf, len, err);
	}
	if (fd >= 0)
		close(fd);
	return r;
}

int strata_customise_run(const strata_root_tree *tree, const strata_customise_options *o, strata_customised **out,
			 strata_error *err)
{
	cleanup_free char *shell = o->shell == NULL ? strata_xstrdup("/bin/sh")
				   : strchr(o->shell, '/')  ? strata_xstrdup(o->shell)
							    : strata_spawn_find(o->shell);
	if (shell == NULL)
		return strata_error_set(err, 0, "shell '%s' not found on $PATH", o->shell);
	cleanup_free char *extra = NULL, *fake = NULL;
	int r = 0;
	if (o->extra_commands)
		r = script_path(o->extra_commands, "extra-commands", &extra, err);
	if (r == 0 && o->fakeroot_commands)
		r = script_path(o->fakeroot_commands, "fakeroot-commands", &fake, err);
	if (r < 0)
		return r;
	const char *tmp = getenv("TMPDIR");
	strata_customised *c = strata_xcalloc(1, sizeof *c);
	c->dir = strata_xasprintf("%s/strata-root-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(c->dir) == NULL) {
		r = strata_error_set(err, errno, "cannot create a directory in %s", tmp && *tmp ? tmp : "/tmp");
		free(c->dir);
		c->dir = NULL;
	}
	if (r == 0)
		r = strata_root_tree_materialize(tree, c->dir, err);
	if (r == 0 && extra) {
		char *argv[] = {shell, "-e", extra, NULL};
		r = run(argv, c->dir, -1, "extra-commands", o->cancel, err);
	}
	if (r == 0 && fake)
		r = run_fakeroot(c, fake, shell, o->cancel, err);
	if (r < 0) {
		strata_customise_free(c);
		return r;
	}
	*out = c;
	return 0;
}

void strata_customise_apply(void *arg, const char *name, char type, strata_tar_meta *m)
{
	const strata_customised *c = arg;
	if (c->nentries > 0) {
		size_t l = strlen(name);
		while (l > 1 && name[l - 1] == '/')
			l--;
		cleanup_free char *path = strata_xstrndup(name, l);
		faked key = {.path = path};
		const faked *f = bsearch(&key, c->entries, c->nentries, sizeof *c->entries, cmp_faked);
		if (f) {
			if (f->uid != 0 || f->gid != 0) {
				m->uid = f->uid;
				m->gid = f->gid;
				m->uname = m->gname = "";
			}
			if (type != STRATA_TAR_SYMLINK)
				m->mode = f->mode;
		}
	}
	if (c->next)
		c->next(c->next_arg, name, type, m);
}
