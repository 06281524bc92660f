#define _GNU_SOURCE
#include "nar_hash.h"
#include "alloc.h"
#include "fs_tree.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_BUF (1u << 20)

typedef struct nar {
	strata_sha256 *sha;
	uint64_t size;
	unsigned char *buf;
} nar;

static void put(nar *n, const void *p, size_t len)
{
	strata_sha256_update(n->sha, p, len);
	n->size += len;
}

static void put_u64(nar *n, uint64_t v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	put(n, b, 8);
}

static void put_pad(nar *n, uint64_t len)
{
	static const unsigned char zeros[8];
	if (len % 8)
		put(n, zeros, 8 - len % 8);
}

/* A string: its length (64-bit little-endian), its bytes, zeros to 8. */
static void put_str(nar *n, const char *s)
{
	size_t l = strlen(s);
	put_u64(n, l);
	put(n, s, l);
	put_pad(n, l);
}

static int put_contents(nar *n, const strata_fs_entry *e, strata_error *err)
{
	cleanup_close int owned = -1;
	int fd = strata_fs_entry_open(e, &owned, err);
	if (fd < 0)
		return fd;
	uint64_t size = (uint64_t)e->st.st_size, got = 0;
	put_u64(n, size);
	while (got < size) {
		ssize_t k = read(fd, n->buf, size - got > READ_BUF ? READ_BUF : (size_t)(size - got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return strata_error_set(err, errno, "cannot read '%s'", e->path);
		if (k == 0)
			return strata_error_set(err, 0, "'%s' shrank while it was read", e->path);
		put(n, n->buf, (size_t)k);
		got += (uint64_t)k;
	}
	put_pad(n, size);
	return 0;
}

static int visit(void *arg, const strata_fs_entry *e, strata_error *err)
{
	nar *n = arg;
	if (e->depth > 0) {
		put_str(n, "entry");
		put_str(n, "(");
		put_str(n, "name");
		put_str(n, e->name);
		put_str(n, "node");
	}
	put_str(n, "(");
	put_str(n, "type");
	if (S_ISDIR(e->st.st_mode)) {
		put_str(n, "directory");
		return 0; /* closed by leave */
	}
	if (S_ISLNK(e->st.st_mode)) {
		put_str(n, "symlink");
		put_str(n, "target");
		put_str(n, e->link_target);
	} else {
		put_str(n, "regular");
		if (e->st.st_mode & S_IXUSR) {
			put_str(n, "executable");
			put_str(n, "");
		}
		put_str(n, "contents");
		int r = put_contents(n, e, err);
		if (r < 0)
			return r;
	}
	put_str(n, ")");
	if (e->depth > 0)
		put_str(n, ")");
	return 0;
}

static int leave(void *arg, const strata_fs_entry *e, strata_error *err)
{
	(void)err;
	nar *n = arg;
	put_str(n, ")");
	if (e->depth > 0)
		put_str(n, ")");
	return 0;
}

int strata_nar_hash(const char *path, const strata_cancel *cancel, char hex[65], uint64_t *nar_size,
		    strata_error *err)
{
	nar n = {.sha = strata_sha256_create(), .buf = strata_xmalloc(READ_BUF)};
	put_str(&n, "nix-archive-1");
	strata_fs_walk_ops ops = {.visit = visit, .leave = leave, .flags = STRATA_FS_OPEN_FILES, .cancel = cancel};
	int r = strata_fs_walk(path, &ops, &n, err);
	strata_sha256_final_hex(n.sha, hex);
	strata_sha256_free(n.sha);
	free(n.buf);
	*nar_size = n.size;
	return r;
}
