/* The tree is a node per entry with its children sorted by name; merging
 * looks children up by binary search. Writing and materializing walk it
 * with an explicit stack (a merged tree is as deep as its sources). */
#define _GNU_SOURCE
#include "root_tree.h"
#include "alloc.h"
#include "file.h"
#include "fs_tree.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_DIRLINK_DEPTH 40 /* nested dirlinks followed, as the kernel's symlink limit */

typedef enum node_kind { N_DIR, N_FILE, N_LINK, N_STORE } node_kind;

typedef struct node {
	char *name;
	node_kind kind;
	mode_t mode;     /* N_DIR */
	struct stat st;  /* N_FILE: its lstat */
	char *host;      /* N_FILE: its path (no symlink in it); N_STORE: the store path */
	char *target;    /* N_LINK */
	struct node **kids; /* N_DIR, sorted by name */
	size_t nkids, cap;
} node;

struct strata_root_tree {
	node root;
	char *store_dir;
	const strata_cancel *cancel;
	uint64_t bytes;
};

static void node_clear(node *n)
{
	for (size_t i = 0; i < n->nkids; i++) {
		node_clear(n->kids[i]);
		free(n->kids[i]->name);
		free(n->kids[i]);
	}
	free(n->kids);
	free(n->host);
	free(n->target);
	n->kids = NULL;
	n->nkids = n->cap = 0;
	n->host = n->target = NULL;
}

strata_root_tree *strata_root_tree_create(const char *store_dir, const strata_cancel *cancel)
{
	strata_root_tree *t = strata_xcalloc(1, sizeof *t);
	t->root.kind = N_DIR;
	t->root.mode = 0755;
	t->store_dir = strata_xstrdup(store_dir);
	t->cancel = cancel;
	return t;
}

void strata_root_tree_free(strata_root_tree *t)
{
	if (t == NULL)
		return;
	node_clear(&t->root);
	free(t->store_dir);
	free(t);
}

uint64_t strata_root_tree_bytes(const strata_root_tree *t)
{
	return t->bytes;
}

/* The child of dir named name (len bytes), created empty when missing;
 * an existing one is cleared when it is replaced by another kind, or kept
 * (with its children) when both are directories. */
static node *child(node *dir, const char *name, size_t len, node_kind kind)
{
	assert(dir->kind == N_DIR);
	size_t lo = 0, hi = dir->nkids;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strncmp(dir->kids[mid]->name, name, len);
		if (c == 0 && dir->kids[mid]->name[len] != '\0')
			c = 1;
		if (c == 0) {
			node *k = dir->kids[mid];
			if (!(k->kind == N_DIR && kind == N_DIR)) {
				node_clear(k);
				k->kind = kind;
			}
			return k;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (dir->nkids == dir->cap) {
		dir->cap = dir->cap ? 2 * dir->cap : 4;
		dir->kids = strata_xrealloc(dir->kids, dir->cap * sizeof *dir->kids);
	}
	memmove(dir->kids + lo + 1, dir->kids + lo, (dir->nkids - lo) * sizeof *dir->kids);
	node *k = strata_xcalloc(1, sizeof *k);
	k->name = strata_xstrndup(name, len);
	k->kind = kind;
	dir->kids[lo] = k;
	dir->nkids++;
	return k;
}

/* The node at an absolute path; its parents become directories (0755)
 * where they are not. */
static node *at_path(strata_root_tree *t, const char *path, node_kind kind)
{
	node *n = &t->root;
	const char *p = path;
	for (;;) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		const char *next = end;
		while (*next == '/')
			next++;
		if (*next == '\0')
			return end == p ? n : child(n, p, (size_t)(end - p), kind);
		node *d = child(n, p, (size_t)(end - p), N_DIR);
		if (d->mode == 0)
			d->mode = 0755;
		n = d;
		p = next;
	}
}

void strata_root_tree_add_dir(strata_root_tree *t, const char *path, mode_t mode)
{
	at_path(t, path, N_DIR)->mode = mode;
}

void strata_root_tree_add_symlink(strata_root_tree *t, const char *path, const char *target)
{
	at_path(t, path, N_LINK)->target = strata_xstrdup(target);
}

void strata_root_tree_add_store_path(strata_root_tree *t, const char *path)
{
	at_path(t, path, N_STORE)->host = strata_xstrdup(path);
}

/* ---------- merge ---------- */

typedef struct merge_walk {
	strata_root_tree *t;
	const char *src_root; /* the source's real path, a bound for dirlinks */
	node **stack;         /* stack[d]: the node of the directory at depth d */
	size_t cap;
	const struct merge_walk *outer; /* the walk whose dirlink this one follows */
	bool copy_dirlinks;
	dev_t dev;
	ino_t ino;
	int nesting;
} merge_walk;

static bool under(const char *path, const char *dir)
{
	size_t l = strlen(dir);
	return strncmp(path, dir, l) == 0 && (path[l] == '/' || path[l] == '\0');
}

static int merge_into(strata_root_tree *t, node *at, const char *real, bool copy_dirlinks, const merge_walk *outer,
		      strata_error *err);

/* A symlink to a directory, followed (rsync -k) when its target resolves
 * inside the store or the source: the directory it names, real, or NULL. */
static char *dirlink_target(const merge_walk *m, const strata_fs_entry *e)
{
	cleanup_free char *joined = NULL;
	if (e->link_target[0] == '/') {
		joined = strata_xstrdup(e->link_target);
	} else {
		const char *slash = strrchr(e->path, '/');
		joined = strata_xasprintf("%.*s/%s", (int)(slash - e->path), e->path, e->link_target);
	}
	char *real = realpath(joined, NULL);
	struct stat st;
	if (real == NULL || lstat(real, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    !(under(real, m->t->store_dir) || under(real, m->src_root))) {
		free(real);
		return NULL;
	}
	return real;
}

static int merge_visit(void *arg, const strata_fs_entry *e, strata_error *err)
{
	merge_walk *m = arg;
	if (e->depth == 0) {
		if (!S_ISDIR(e->st.st_mode))
			return strata_error_set(err, 0, "'%s' is not a directory", e->path);
		m->dev = e->st.st_dev;
		m->ino = e->st.st_ino;
		return 0;
	}
	node *parent = m->stack[e->depth - 1];
	size_t len = strlen(e->name);
	if (S_ISDIR(e->st.st_mode)) {
		node *d = child(parent, e->name, len, N_DIR);
		d->mode = e->st.st_mode & 07777;
		if ((size_t)e->depth >= m->cap) {
			m->cap = 2 * ((size_t)e->depth + 1);
			m->stack = strata_xrealloc(m->stack, m->cap * sizeof *m->stack);
		}
		m->stack[e->depth] = d;
		return 0;
	}
	if (S_ISLNK(e->st.st_mode)) {
		cleanup_free char *real = m->copy_dirlinks ? dirlink_target(m, e) : NULL;
		if (real) {
			node *d = child(parent, e->name, len, N_DIR);
			return merge_into(m->t, d, real, true, m, err);
		}
		child(parent, e->name, len, N_LINK)->target = strata_xstrdup(e->link_target);
		return 0;
	}
	node *f = child(parent, e->name, len, N_FILE);
	f->st = e->st;
	f->host = strata_xstrdup(e->path);
	m->t->bytes += (uint64_t)e->st.st_size;
	return 0;
}

/* The entries of the real directory `real` merged into at. */
static int merge_into(strata_root_tree *t, node *at, const char *real, bool copy_dirlinks, const merge_walk *outer,
		      strata_error *err)
{
	merge_walk m = {.t = t, .src_root = outer ? outer->src_root : real, .cap = 16, .outer = outer,
			.copy_dirlinks = copy_dirlinks, .nesting = outer ? outer->nesting + 1 : 0};
	struct stat st;
	if (lstat(real, &st) < 0)
		return strata_error_set(err, errno, "cannot stat '%s'", real);
	for (const merge_walk *o = outer; o; o = o->outer)
		if (o->dev == st.st_dev && o->ino == st.st_ino)
			return strata_error_set(err, 0, "'%s': a symlink loop (a directory links to itself)", real);
	if (m.nesting > MAX_DIRLINK_DEPTH)
		return strata_error_set(err, 0, "'%s': more than %d nested symlinks to directories", real,
					MAX_DIRLINK_DEPTH);
	m.stack = strata_xmalloc(m.cap * sizeof *m.stack);
	m.stack[0] = at;
	if (outer)
		at->mode = st.st_mode & 07777; /* a followed dirlink: the directory's mode */
	strata_fs_walk_ops ops = {.visit = merge_visit, .cancel = t->cancel};
	int r = strata_fs_walk(real, &ops, &m, err);
	free(m.stack);
	return r;
}

int strata_root_tree_merge(strata_root_tree *t, const char *src, bool copy_dirlinks, strata_error *err)
{
	cleanup_free char *real = realpath(src, NULL);
	if (real == NULL)
		return strata_error_set(err, errno, "cannot resolve '%s'", src);
	return merge_into(t, &t->root, real, copy_dirlinks, NULL, err);
}

/* ---------- walking the tree ---------- */

typedef struct frame {
	const node *dir;
	size_t next;  /* the next child to visit */
	size_t plen;  /* the path's length at this directory */
} frame;

/* visit(arg, node, path) for every node, parents first; path is absolute. */
typedef int (*node_visit_fn)(void *arg, const node *n, const char *path, strata_error *err);

static int walk(const strata_root_tree *t, node_visit_fn visit, void *arg, strata_error *err)
{
	size_t sp = 0, cap = 16, pcap = 256;
	frame *stack = strata_xmalloc(cap * sizeof *stack);
	char *path = strata_xmalloc(pcap);
	path[0] = '\0';
	stack[sp++] = (frame){&t->root, 0, 0};
	int r = 0;
	while (sp > 0 && r == 0) {
		frame *f = &stack[sp - 1];
		if (f->next == f->dir->nkids) {
			sp--;
			continue;
		}
		if (strata_cancel_requested(t->cancel)) {
			r = strata_error_set(err, 0, "interrupted");
			break;
		}
		const node *k = f->dir->kids[f->next++];
		size_t plen = f->plen, nl = strlen(k->name);
		if (plen + nl + 2 > pcap) {
			pcap = 2 * (plen + nl + 2);
			path = strata_xrealloc(path, pcap);
		}
		path[plen] = '/';
		memcpy(path + plen + 1, k->name, nl + 1);
		r = visit(arg, k, path, err);
		if (r == 0 && k->kind == N_DIR) {
			if (sp == cap) {
				cap *= 2;
				stack = strata_xrealloc(stack, cap * sizeof *stack);
			}
			stack[sp++] = (frame){k, 0, plen + 1 + nl};
		}
	}
	free(stack);
	free(path);
	return r;
}

/* A merged file opened without following a symlink anywhere on its path:
 * the path was symlink-free when merged, so a link there now is a swap. */
static int open_merged(const node *n, strata_error *err)
{
	struct open_how how = {.flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
			       .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, n->host, &how, sizeof how);
	if (fd < 0 && errno == ELOOP)
		return strata_error_set(err, 0, "'%s' was replaced while it was read", n->host);
	if (fd < 0)
		return strata_error_set(err, errno, "cannot open '%s'", n->host);
	return fd;
}

static int write_visit(void *arg, const node *n, const char *path, strata_error *err)
{
	strata_tar *tar = arg;
	switch (n->kind) {
	case N_DIR: return strata_tar_add_dir(tar, path, n->mode, err);
	case N_LINK: return strata_tar_add_symlink(tar, path, n->target, err);
	case N_STORE: return strata_tar_add_tree(tar, n->host, err);
	case N_FILE: {
		if (strata_tar_sizes_only(tar)) /* counted, not read */
			return strata_tar_add_file_fd(tar, path, -1, n->host, &n->st, err);
		cleanup_close int fd = open_merged(n, err);
		return fd < 0 ? fd : strata_tar_add_file_fd(tar, path, fd, n->host, &n->st, err);
	}
	}
	return 0;
}

int strata_root_tree_write(const strata_root_tree *t, strata_tar *tar, strata_error *err)
{
	return walk(t, write_visit, tar, err);
}

/* ---------- materialize ---------- */

typedef struct mat {
	const char *dir;
	int dir_fd;
	char **dirs; /* directories whose mode is set last (a 0555 one must stay writable meanwhile) */
	mode_t *modes;
	size_t ndirs;
} mat;

static int mat_visit(void *arg, const node *n, const char *path, strata_error *err)
{
	mat *m = arg;
	const char *rel = path + 1;
	switch (n->kind) {
	case N_STORE: return 0;
	case N_DIR:
		if (mkdirat(m->dir_fd, rel, 0700) < 0)
			return strata_error_set(err, errno, "cannot create '%s%s'", m->dir, path);
		m->dirs = strata_xrealloc(m->dirs, (m->ndirs + 1) * sizeof *m->dirs);
		m->modes = strata_xrealloc(m->modes, (m->ndirs + 1) * sizeof *m->modes);
		m->dirs[m->ndirs] = strata_xstrdup(rel);
		m->modes[m->ndirs++] = n->mode;
		return 0;
	case N_LINK:
		if (symlinkat(n->target, m->dir_fd, rel) < 0)
			return strata_error_set(err, errno, "cannot create '%s%s'", m->dir, path);
		return 0;
	case N_FILE: {
		cleanup_close int in = open_merged(n, err);
		if (in < 0)
			return in;
		cleanup_close int out =
			openat(m->dir_fd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (out < 0)
			return strata_error_set(err, errno, "cannot create '%s%s'", m->dir, path);
		int r = strata_file_copy_data(in, out, n->host, rel, NULL, NULL, err);
		if (r == 0 && fchmod(out, n->st.st_mode & 07777) < 0)
			r = strata_error_set(err, errno, "cannot chmod '%s%s'", m->dir, path);
		return r;
	}
	}
	return 0;
}

int strata_root_tree_materialize(const strata_root_tree *t, const char *dir, strata_error *err)
{
	mat m = {.dir = dir, .dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
	if (m.dir_fd < 0)
		return strata_error_set(err, errno, "cannot open '%s'", dir);
	int r = walk(t, mat_visit, &m, err);
	for (size_t i = m.ndirs; i-- > 0;) {
		if (r == 0 && fchmodat(m.dir_fd, m.dirs[i], m.modes[i], 0) < 0)
			r = strata_error_set(err, errno, "cannot chmod '%s/%s'", dir, m.dirs[i]);
		free(m.dirs[i]);
	}
	free(m.dirs);
	free(m.modes);
	close(m.dir_fd);
	return r;
}

/* ---------- fingerprint ---------- */

typedef struct fp {
	strata_root_tree_line_fn line;
	strata_root_tree_store_fn store;
	void *arg;
} fp;

static int fp_visit(void *arg, const node *n, const char *path, strata_error *err)
{
	fp *f = arg;
	char buf[256];
	switch (n->kind) {
	case N_DIR: snprintf(buf, sizeof buf, "dir %o", (unsigned)n->mode); break;
	case N_LINK: f->line(f->arg, path, "link", n->target); return 0;
	case N_STORE: return f->store(f->arg, n->host, err);
	case N_FILE:
		snprintf(buf, sizeof buf, "file %o %lld %llu %llu %lld.%09ld", (unsigned)n->st.st_mode,
			 (long long)n->st.st_size, (unsigned long long)n->st.st_dev, (unsigned long long)n->st.st_ino,
			 (long long)n->st.st_ctim.tv_sec, n->st.st_ctim.tv_nsec);
		break;
	}
	f->line(f->arg, path, buf, NULL);
	return 0;
}

int strata_root_tree_fingerprint(const strata_root_tree *t, strata_root_tree_line_fn line,
				 strata_root_tree_store_fn store, void *arg, strata_error *err)
{
	fp f = {line, store, arg};
	return walk(t, fp_visit, &f, err);
}
