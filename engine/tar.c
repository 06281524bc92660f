#define _GNU_SOURCE
#include "tar.h"
#include "alloc.h"
#include "file.h"
#include "fs_tree.h"
#include "tar_header.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_BUF (1u << 20)
#define BLOCK 512
#define RECORD 10240 /* CPython's RECORDSIZE: the archive ends on one */

struct strata_tar {
	strata_tar_options o;
	char *uname, *gname;
	strata_tar_sink_fn sink;
	void *sink_arg;
	uint64_t offset;   /* bytes written so far */
	uint64_t data_left; /* of the entry whose data is being written */
	unsigned char *hdr; /* encoded headers, grown as needed */
	size_t hdr_cap;
	unsigned char *buf; /* file copies */
	char *name;         /* a directory name with its '/' */
	size_t name_cap;
};

static const unsigned char zeros[1u << 16];

strata_tar *strata_tar_create(const strata_tar_options *o, strata_tar_sink_fn sink, void *arg)
{
	strata_tar *t = strata_xcalloc(1, sizeof *t);
	t->o = *o;
	t->uname = strata_xstrdup(o->uname ? o->uname : "root");
	t->gname = strata_xstrdup(o->gname ? o->gname : "root");
	t->sink = sink;
	t->sink_arg = arg;
	return t;
}

void strata_tar_free(strata_tar *t)
{
	if (t == NULL)
		return;
	free(t->uname);
	free(t->gname);
	free(t->hdr);
	free(t->buf);
	free(t->name);
	free(t);
}

static int emit(strata_tar *t, const void *p, size_t n, strata_error *err)
{
	t->offset += n;
	return t->sink(t->sink_arg, p, n, err);
}

/* A hole of a sparse file may be terabytes: cancellation is polled here
 * too, every 64 KiB. */
static int emit_zeros(strata_tar *t, uint64_t n, strata_error *err)
{
	while (n > 0) {
		if (n > sizeof zeros && strata_cancel_requested(t->o.cancel))
			return strata_error_set(err, 0, "interrupted");
		size_t k = n > sizeof zeros ? sizeof zeros : (size_t)n;
		int r = emit(t, zeros, k, err);
		if (r < 0)
			return r;
		n -= k;
	}
	return 0;
}

int strata_tar_add_header(strata_tar *t, const strata_tar_header *h, strata_error *err)
{
	size_t n = strata_tar_header_encode(h, &t->hdr, &t->hdr_cap);
	t->data_left = h->size;
	return emit(t, t->hdr, n, err);
}

int strata_tar_write_data(strata_tar *t, const void *p, size_t n, strata_error *err)
{
	if (n > t->data_left)
		return strata_error_set(err, 0, "tar: more data than the header announced");
	t->data_left -= n;
	return emit(t, p, n, err);
}

int strata_tar_skip_data(strata_tar *t, uint64_t n, strata_error *err)
{
	if (n > t->data_left)
		return strata_error_set(err, 0, "tar: more data than the header announced");
	t->data_left -= n;
	t->offset += n;
	return 0;
}

uint64_t strata_tar_offset(const strata_tar *t)
{
	return t->offset;
}

bool strata_tar_sizes_only(const strata_tar *t)
{
	return t->o.sizes_only;
}

int strata_tar_end_data(strata_tar *t, strata_error *err)
{
	if (t->data_left != 0)
		return strata_error_set(err, 0, "tar: %llu bytes of data missing", (unsigned long long)t->data_left);
	return emit_zeros(t, (BLOCK - t->offset % BLOCK) % BLOCK, err);
}

/* A member with the layer's owner and time, then what the meta hook says. */
static strata_tar_header member(const strata_tar *t, const char *name, char type, mode_t mode, uint64_t size)
{
	strata_tar_header h = {.name = name, .linkname = "", .type = type, .mode = mode & 07777,
			       .uid = (uint64_t)t->o.uid, .gid = (uint64_t)t->o.gid, .size = size,
			       .mtime = (uint64_t)t->o.mtime, .uname = t->uname, .gname = t->gname};
	if (t->o.meta) {
		strata_tar_meta m = {h.mode, h.uid, h.gid, h.uname, h.gname};
		t->o.meta(t->o.meta_arg, name, type, &m);
		h.mode = m.mode & 07777;
		h.uid = m.uid;
		h.gid = m.gid;
		h.uname = m.uname;
		h.gname = m.gname;
	}
	return h;
}

int strata_tar_add_dir(strata_tar *t, const char *name, mode_t mode, strata_error *err)
{
	size_t l = strlen(name);
	if (l + 2 > t->name_cap) {
		t->name_cap = 2 * (l + 2);
		t->name = strata_xrealloc(t->name, t->name_cap);
	}
	memcpy(t->name, name, l);
	if (l == 0 || name[l - 1] != '/')
		t->name[l++] = '/'; /* CPython's get_info: a directory's name ends in '/' */
	t->name[l] = '\0';
	strata_tar_header h = member(t, t->name, STRATA_TAR_DIR, mode, 0);
	return strata_tar_add_header(t, &h, err);
}

int strata_tar_add_symlink(strata_tar *t, const char *name, const char *target, strata_error *err)
{
	strata_tar_header h = member(t, name, STRATA_TAR_SYMLINK, 0777, 0);
	h.linkname = target;
	return strata_tar_add_header(t, &h, err);
}

static int grew(const char *host_path, uint64_t size, strata_error *err)
{
	return strata_error_set(err, 0, "'%s' grew while it was read (expected %llu bytes)", host_path,
				(unsigned long long)size);
}

static int shrank(const char *host_path, uint64_t got, uint64_t size, strata_error *err)
{
	return strata_error_set(err, 0, "'%s' shrank while it was read (%llu of %llu bytes)", host_path,
				(unsigned long long)got, (unsigned long long)size);
}

static int same_size(int fd, const char *host_path, uint64_t size, strata_error *err)
{
	struct stat now;
	if (fstat(fd, &now) < 0)
		return strata_error_set(err, errno, "cannot stat '%s'", host_path);
	if ((uint64_t)now.st_size != size)
		return (uint64_t)now.st_size < size ? shrank(host_path, (uint64_t)now.st_size, size, err)
						    : grew(host_path, size, err);
	return 0;
}

/* Copies a sparse file: holes (SEEK_DATA/SEEK_HOLE) are written as zeros
 * from memory instead of being read, which would zero-fill every page. Past
 * the real end of file SEEK_DATA also says "no more data", which would pass
 * for a trailing hole: the size is compared before and after, so a file
 * that changes is an error, never zero-padded. */
static int copy_sparse(strata_tar *t, int fd, const char *host_path, uint64_t size, strata_error *err)
{
	uint64_t off = 0;
	int r = same_size(fd, host_path, size, err);
	while (r == 0 && off < size) {
		if (strata_cancel_requested(t->o.cancel))
			return strata_error_set(err, 0, "interrupted");
		off_t data = lseek(fd, (off_t)off, SEEK_DATA);
		if (data < 0)
			data = errno == ENXIO ? (off_t)size : (off_t)off; /* ENXIO: a hole to EOF */
		if ((uint64_t)data > size)
			data = (off_t)size;
		if ((uint64_t)data > off) {
			r = emit_zeros(t, (uint64_t)data - off, err);
			t->data_left -= (uint64_t)data - off;
			off = (uint64_t)data;
			continue;
		}
		off_t hole = lseek(fd, (off_t)off, SEEK_HOLE);
		uint64_t end = hole < 0 || (uint64_t)hole > size || (uint64_t)hole <= off ? size : (uint64_t)hole;
		while (r == 0 && off < end) {
			size_t want = end - off > COPY_BUF ? COPY_BUF : (size_t)(end - off);
			ssize_t n = pread(fd, t->buf, want, (off_t)off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return strata_error_set(err, errno, "cannot read '%s'", host_path);
			if (n == 0)
				return shrank(host_path, off, size, err);
			r = strata_tar_write_data(t, t->buf, (size_t)n, err);
			off += (uint64_t)n;
		}
	}
	return r == 0 ? same_size(fd, host_path, size, err) : r;
}

/* Copies a dense file with plain reads. Asking for one byte more than the
 * size makes the last read also tell whether the file grew, and a read of a
 * regular file that returns less than asked has met its end: a small file
 * costs a single read. */
static int copy_dense(strata_tar *t, int fd, const char *host_path, uint64_t size, strata_error *err)
{
	uint64_t off = 0;
	for (;;) {
		if (strata_cancel_requested(t->o.cancel))
			return strata_error_set(err, 0, "interrupted");
		uint64_t left = size - off + 1;
		size_t want = left > COPY_BUF ? COPY_BUF : (size_t)left;
		ssize_t n = read(fd, t->buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return strata_error_set(err, errno, "cannot read '%s'", host_path);
		if (n == 0)
			return off == size ? 0 : shrank(host_path, off, size, err);
		if (off + (uint64_t)n > size)
			return grew(host_path, size, err);
		int r = strata_tar_write_data(t, t->buf, (size_t)n, err);
		if (r < 0)
			return r;
		off += (uint64_t)n;
		if ((size_t)n < want && off == size)
			return 0;
	}
}

/* The member of the regular file open at fd whose fstat st is. */
static int add_opened(strata_tar *t, const char *name, int fd, const char *host_path, const struct stat *st,
		      strata_error *err)
{
	assert(S_ISREG(st->st_mode));
	uint64_t size = (uint64_t)st->st_size;
	strata_tar_header h = member(t, name, STRATA_TAR_REG, st->st_mode, size);
	int r = strata_tar_add_header(t, &h, err);
	if (r < 0)
		return r;
	if (t->o.sizes_only)
		return strata_tar_skip_data(t, size, err) < 0 ? -1 : strata_tar_end_data(t, err);
	if (t->buf == NULL)
		t->buf = strata_xmalloc(COPY_BUF);
	if (size >= COPY_BUF)
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	/* Fewer allocated blocks than bytes: there are holes worth skipping. */
	bool sparse = (uint64_t)st->st_blocks * 512 < size;
	r = sparse ? copy_sparse(t, fd, host_path, size, err) : copy_dense(t, fd, host_path, size, err);
	return r < 0 ? r : strata_tar_end_data(t, err);
}

int strata_tar_add_file_fd(strata_tar *t, const char *name, int fd, const char *host_path, const struct stat *st,
			   strata_error *err)
{
	if (t->o.sizes_only)
		return add_opened(t, name, fd, host_path, st, err);
	struct stat now;
	if (fstat(fd, &now) < 0)
		return strata_error_set(err, errno, "cannot stat '%s'", host_path);
	if (!S_ISREG(now.st_mode) || now.st_dev != st->st_dev || now.st_ino != st->st_ino)
		return strata_error_set(err, 0, "'%s' was replaced while it was read", host_path);
	return add_opened(t, name, fd, host_path, st, err);
}

int strata_tar_add_file_copy(strata_tar *t, const char *name, int fd, int out_fd, const char *host_path,
			     const struct stat *st, strata_error *err)
{
	uint64_t size = (uint64_t)st->st_size, copied = 0;
	strata_tar_header h = member(t, name, STRATA_TAR_REG, st->st_mode, size);
	int r = strata_tar_add_header(t, &h, err);
	if (r == 0)
		r = strata_file_copy_data(fd, out_fd, host_path, "the archive", t->o.cancel, &copied, err);
	if (r == 0 && copied != size)
		r = strata_error_set(err, 0, "'%s' changed size while it was read", host_path);
	if (r < 0)
		return r;
	t->offset += size;
	t->data_left = 0;
	return strata_tar_end_data(t, err);
}

int strata_tar_add_ancestors(strata_tar *t, char *const *dirs, size_t n, strata_error *err)
{
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++)
		r = strata_tar_add_dir(t, dirs[i], 0755, err);
	return r;
}

static int tree_visit(void *arg, const strata_fs_entry *e, strata_error *err)
{
	strata_tar *t = arg;
	if (S_ISDIR(e->st.st_mode))
		return strata_tar_add_dir(t, e->path, e->st.st_mode, err);
	if (S_ISLNK(e->st.st_mode))
		return strata_tar_add_symlink(t, e->path, e->link_target, err);
	if (t->o.sizes_only)
		return add_opened(t, e->path, -1, e->path, &e->st, err);
	cleanup_close int owned = -1;
	int fd = strata_fs_entry_open(e, &owned, err);
	return fd < 0 ? fd : add_opened(t, e->path, fd, e->path, &e->st, err);
}

int strata_tar_add_tree(strata_tar *t, const char *host_path, strata_error *err)
{
	strata_fs_walk_ops ops = {.visit = tree_visit, .flags = t->o.sizes_only ? 0 : STRATA_FS_OPEN_FILES,
				  .cancel = t->o.cancel};
	return strata_fs_walk(host_path, &ops, t, err);
}

int strata_tar_finish(strata_tar *t, strata_error *err)
{
	/* Two zero blocks, then zeros to the end of a 10240-byte record. */
	int r = emit_zeros(t, 2 * BLOCK, err);
	return r < 0 ? r : emit_zeros(t, (RECORD - t->offset % RECORD) % RECORD, err);
}
