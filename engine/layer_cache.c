#define _GNU_SOURCE
#include "layer_cache.h"
#include "alloc.h"
#include "file.h"
#include "fs_tree.h"
#include "root_tree.h"
#include "sha256.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEY_VERSION "strata layer cache v1"

struct strata_layer_cache {
	char *dir;
};

/* A directory of the cache: ours alone. Entries are trusted once their blob
 * matches their descriptor, so whoever could write one could put any bytes
 * into our images: a directory another user owns or may write is refused. */
static int mkdir_private(const char *path, strata_error *err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return strata_error_set(err, errno, "cannot create the cache directory '%s'", path);
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return strata_error_set(err, 0, "cache: '%s' is not a directory", path);
	if (st.st_uid != geteuid() || (st.st_mode & 022))
		return strata_error_set(err, 0, "cache: '%s' is %s: a cache must be writable by its owner only, who must "
						"be the user running strata", path,
					st.st_uid != geteuid() ? "owned by another user" : "writable by others");
	return 0;
}

int strata_layer_cache_open(const char *dir, strata_layer_cache **out, strata_error *err)
{
	cleanup_free char *v1 = strata_xasprintf("%s/v1", dir), *tmp = strata_xasprintf("%s/tmp", dir);
	int r = mkdir_private(dir, err);
	if (r == 0)
		r = mkdir_private(v1, err);
	if (r == 0)
		r = mkdir_private(tmp, err);
	if (r < 0)
		return r;
	strata_layer_cache *c = strata_xcalloc(1, sizeof *c);
	c->dir = strata_xstrdup(dir);
	*out = c;
	return 0;
}

void strata_layer_cache_free(strata_layer_cache *c)
{
	if (c == NULL)
		return;
	free(c->dir);
	free(c);
}

/* ---------- the key ---------- */

static void put_line(strata_sha256 *sha, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_line(strata_sha256 *sha, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		strata_oom();
	strata_sha256_update(sha, s, (size_t)n + 1); /* with its NUL: fields cannot run into each other */
	free(s);
}

static int fingerprint_visit(void *arg, const strata_fs_entry *e, strata_error *err)
{
	(void)err;
	const struct stat *st = &e->st;
	put_line(arg, "%d %s %o %lld %llu %llu %lld.%09ld %s", e->depth, e->name, (unsigned)st->st_mode,
		 (long long)st->st_size, (unsigned long long)st->st_dev, (unsigned long long)st->st_ino,
		 (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec, e->link_target ? e->link_target : "");
	return 0;
}

static int file_digest(const char *file, char hex[65], strata_error *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int r = strata_file_read_all(AT_FDCWD, file, 0, STRATA_FILE_MAX_JSON, "perms file", &buf, &len, err);
	if (r == 0)
		strata_sha256_hex(buf, len, hex);
	return r;
}

/* A store path's identity: the closure's narHash, else its tree. */
static int put_store_path(strata_sha256 *sha, const strata_layer_key_input *in, const char *path, strata_error *err)
{
	long k = in->closure ? strata_closure_find(in->closure, path) : -1;
	const char *nh = k >= 0 ? in->closure->paths[k].nar_hash : NULL;
	if (nh) {
		put_line(sha, "path %s narHash %s", path, nh);
		return 0;
	}
	put_line(sha, "path %s tree", path);
	strata_fs_walk_ops ops = {.visit = fingerprint_visit, .cancel = in->cancel};
	return strata_fs_walk(path, &ops, sha, err);
}

typedef struct root_key {
	strata_sha256 *sha;
	const strata_layer_key_input *in;
} root_key;

static void root_line(void *arg, const char *path, const char *what, const char *target)
{
	put_line(((root_key *)arg)->sha, "root %s %s %s", path, what, target ? target : "");
}

static int root_store(void *arg, const char *store_path, strata_error *err)
{
	root_key *rk = arg;
	return put_store_path(rk->sha, rk->in, store_path, err);
}

int strata_layer_cache_key(const strata_layer_key_input *in, char hex[65], strata_error *err)
{
	strata_sha256 *sha = strata_sha256_create();
	put_line(sha, "%s", KEY_VERSION);
	put_line(sha, "codec %s level %d chunk %zu", in->codec, in->level, in->chunk);
	const strata_tar_options *t = in->tar;
	put_line(sha, "tar mtime %lld uid %lld gid %lld uname %s gname %s", (long long)t->mtime, (long long)t->uid,
		 (long long)t->gid, t->uname ? t->uname : "root", t->gname ? t->gname : "root");
	char perms[65] = "none";
	int r = in->perms_file ? file_digest(in->perms_file, perms, err) : 0;
	put_line(sha, "perms %s", perms);
	for (size_t i = 0; i < in->nancestors; i++)
		put_line(sha, "ancestor %s", in->ancestors[i]);
	for (size_t i = 0; i < in->npaths && r == 0; i++)
		r = put_store_path(sha, in, in->paths[i], err);
	if (r == 0 && in->root) {
		root_key rk = {sha, in};
		r = strata_root_tree_fingerprint(in->root, root_line, root_store, &rk, err);
	}
	strata_sha256_final_hex(sha, hex);
	strata_sha256_free(sha);
	return r;
}

/* ---------- entries ---------- */

static char *entry_dir(const strata_layer_cache *c, const char key[65])
{
	return strata_xasprintf("%s/v1/%.2s/%s", c->dir, key, key);
}

int strata_layer_cache_get(strata_layer_cache *c, const char key[65], strata_layer_desc *d, strata_error *err)
{
	(void)err;
	cleanup_free char *dir = entry_dir(c, key);
	struct stat st;
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	strata_error e = STRATA_ERROR_INIT;
	int r = strata_layer_desc_load(dir, d, &e);
	strata_error_clear(&e);
	if (r == 0 && (lstat(d->blob, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != d->size)) {
		strata_layer_desc_fini(d);
		r = -1;
	}
	if (r < 0) {
		/* Damaged (cut, edited): a miss; it goes, and the rebuild's entry
		 * takes its place. */
		strata_fs_remove_tree(dir);
		return 0;
	}
	utimensat(AT_FDCWD, dir, NULL, AT_SYMLINK_NOFOLLOW); /* its last use, for eviction */
	return 1;
}

static int fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}

int strata_layer_cache_put(strata_layer_cache *c, const char key[65], const char *blob, const strata_layer_desc *d,
			   strata_error *err)
{
	cleanup_free char *final = entry_dir(c, key);
	if (access(final, F_OK) == 0)
		return 0;
	cleanup_free char *shard = strata_xasprintf("%s/v1/%.2s", c->dir, key);
	cleanup_free char *tmp = strata_xasprintf("%s/tmp/%s.XXXXXX", c->dir, key);
	int r = mkdir_private(shard, err);
	if (r < 0)
		return r;
	if (mkdtemp(tmp) == NULL)
		return strata_error_set(err, errno, "cache: cannot create a directory in '%s/tmp'", c->dir);
	chmod(tmp, 0755);
	cleanup_free char *to = strata_xasprintf("%s/%s", tmp, d->digest);
	if (link(blob, to) < 0) {
		cleanup_close int in = open(blob, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		cleanup_close int out = in < 0 ? -1 : open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		r = in < 0 || out < 0 ? strata_error_set(err, errno, "cache: cannot copy '%s'", blob)
				      : strata_file_copy_data(in, out, blob, to, NULL, NULL, err);
	}
	if (r == 0)
		r = strata_layer_desc_write(tmp, d, err);
	cleanup_free char *desc = strata_xasprintf("%s/layer.json", tmp);
	if (r == 0 && (fsync_path(to, O_RDONLY) < 0 || fsync_path(desc, O_RDONLY) < 0 || fsync_path(tmp, O_RDONLY) < 0))
		r = strata_error_set(err, errno, "cache: cannot sync '%s'", tmp);
	/* One rename makes the entry; if another builder was first, its entry
	 * stays and ours goes. */
	if (r == 0 && rename(tmp, final) < 0 && errno != EEXIST && errno != ENOTEMPTY)
		r = strata_error_set(err, errno, "cache: cannot add '%s'", final);
	if (r == 0)
		fsync_path(shard, O_RDONLY | O_DIRECTORY);
	strata_fs_remove_tree(tmp);
	return r;
}

/* ---------- pass-1 records of Docker archives ---------- */

static char *sums_path(const strata_layer_cache *c, const char key[65])
{
	return strata_xasprintf("%s/v1/%.2s/%s.sums", c->dir, key, key);
}

int strata_layer_cache_get_sums(strata_layer_cache *c, const char key[65], strata_layer_sums *s)
{
	cleanup_free char *path = sums_path(c, key);
	cleanup_free char *buf = NULL;
	size_t len = 0;
	strata_error e = STRATA_ERROR_INIT;
	int r = strata_file_read_all(AT_FDCWD, path, STRATA_FILE_NOFOLLOW, 4096, "cache record", &buf, &len, &e);
	strata_error_clear(&e);
	unsigned long long size = 0;
	unsigned crc = 0;
	char hex[65] = {0};
	if (r < 0 || sscanf(buf, "%64[0-9a-f] %llu %x", hex, &size, &crc) != 3 || strlen(hex) != 64)
		return 0;
	memcpy(s->diff_id, hex, 65);
	s->size = size;
	s->crc32 = crc;
	utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW);
	return 1;
}

int strata_layer_cache_put_sums(strata_layer_cache *c, const char key[65], const strata_layer_sums *s,
				strata_error *err)
{
	cleanup_free char *shard = strata_xasprintf("%s/v1/%.2s", c->dir, key);
	cleanup_free char *final = sums_path(c, key);
	cleanup_free char *tmp = strata_xasprintf("%s/tmp/%s.sums.XXXXXX", c->dir, key);
	int r = mkdir_private(shard, err);
	if (r < 0)
		return r;
	int fd = mkstemp(tmp);
	if (fd < 0)
		return strata_error_set(err, errno, "cache: cannot create '%s'", tmp);
	char line[128];
	int n = snprintf(line, sizeof line, "%s %llu %08x\n", s->diff_id, (unsigned long long)s->size, s->crc32);
	if (strata_file_write_all(fd, line, (size_t)n) < 0 || fsync(fd) < 0)
		r = strata_error_set(err, errno, "cache: cannot write '%s'", tmp);
	close(fd);
	if (r == 0 && rename(tmp, final) < 0)
		r = strata_error_set(err, errno, "cache: cannot add '%s'", final);
	if (r < 0)
		unlink(tmp);
	return r;
}

/* ---------- what is in it ---------- */

typedef struct entry {
	char *dir;
	uint64_t bytes;
	struct timespec used;
} entry;

static int cmp_used(const void *a, const void *b)
{
	const entry *x = a, *y = b;
	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return strcmp(x->dir, y->dir);
}

/* Every entry with its blob bytes and last use. */
static int list_entries(const strata_layer_cache *c, entry **out, size_t *n_out, uint64_t *total, strata_error *err)
{
	cleanup_free char *v1 = strata_xasprintf("%s/v1", c->dir);
	DIR *top = opendir(v1);
	if (top == NULL)
		return strata_error_set(err, errno, "cache: cannot read '%s'", v1);
	entry *v = NULL;
	size_t n = 0;
	*total = 0;
	struct dirent *s;
	while ((s = readdir(top)) != NULL) {
		if (s->d_name[0] == '.')
			continue;
		cleanup_free char *shard = strata_xasprintf("%s/%s", v1, s->d_name);
		DIR *sd = opendir(shard);
		struct dirent *e;
		while (sd && (e = readdir(sd)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			char *dir = strata_xasprintf("%s/%s", shard, e->d_name);
			struct stat st;
			if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
				free(dir);
				continue;
			}
			uint64_t bytes = 0;
			DIR *ed = opendir(dir);
			struct dirent *f;
			while (ed && (f = readdir(ed)) != NULL) {
				struct stat fs;
				if (f->d_name[0] != '.' && strcmp(f->d_name, "layer.json") &&
				    fstatat(dirfd(ed), f->d_name, &fs, AT_SYMLINK_NOFOLLOW) == 0)
					bytes += (uint64_t)fs.st_size;
			}
			if (ed)
				closedir(ed);
			v = strata_xrealloc(v, (n + 1) * sizeof *v);
			v[n++] = (entry){dir, bytes, st.st_mtim};
			*total += bytes;
		}
		if (sd)
			closedir(sd);
	}
	closedir(top);
	*out = v;
	*n_out = n;
	return 0;
}

static void free_entries(entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].dir);
	free(v);
}

int strata_layer_cache_stats(strata_layer_cache *c, json_t **report, strata_error *err)
{
	entry *v = NULL;
	size_t n = 0;
	uint64_t total = 0;
	if (list_entries(c, &v, &n, &total, err) < 0)
		return -1;
	free_entries(v, n);
	*report = json_pack("{s:s, s:I, s:I}", "cache", c->dir, "entries", (json_int_t)n, "bytes", (json_int_t)total);
	return 0;
}

int strata_layer_cache_gc(strata_layer_cache *c, uint64_t max_bytes, json_t **report, strata_error *err)
{
	entry *v = NULL;
	size_t n = 0, removed = 0, stale = 0;
	uint64_t total = 0, freed = 0;
	if (list_entries(c, &v, &n, &total, err) < 0)
		return -1;
	qsort(v, n, sizeof *v, cmp_used);
	/* Oldest use first. An entry a running build has opened keeps its
	 * bytes for that build (open files outlive their names); one it has not
	 * opened yet becomes a miss for it. */
	for (size_t i = 0; i < n && total - freed > max_bytes; i++) {
		if (strata_fs_remove_tree(v[i].dir) == 0) {
			freed += v[i].bytes;
			removed++;
		}
	}
	free_entries(v, n);
	/* What crashed writers left: older than an hour. */
	cleanup_free char *tmp = strata_xasprintf("%s/tmp", c->dir);
	DIR *td = opendir(tmp);
	struct dirent *e;
	time_t now = time(NULL);
	while (td && (e = readdir(td)) != NULL) {
		struct stat st;
		if (e->d_name[0] == '.' || fstatat(dirfd(td), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    now - st.st_mtim.tv_sec < 3600)
			continue;
		cleanup_free char *p = strata_xasprintf("%s/%s", tmp, e->d_name);
		stale += strata_fs_remove_tree(p) == 0;
	}
	if (td)
		closedir(td);
	*report = json_pack("{s:s, s:I, s:I, s:I, s:I}", "cache", c->dir, "removed", (json_int_t)removed, "freed_bytes",
			    (json_int_t)freed, "bytes", (json_int_t)(total - freed), "stale_temporaries", (json_int_t)stale);
	return 0;
}
