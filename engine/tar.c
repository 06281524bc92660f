#define _GNU_SOURCE
#include "tar.h"
#include "fs_tree.h"
#include "alloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_BUF (1u << 20)

struct strata_tar {
	struct archive *a;
	strata_tar_options o;
	char *uname, *gname;
	strata_tar_sink_fn sink;
	void *sink_arg;
	strata_error *sink_err; /* where the sink reports, during a write call */
	int sink_failed;
	int discard; /* set by free: bytes written after this go nowhere */
	unsigned char *buf;
	char *name_buf;
	size_t name_cap;
};

static la_ssize_t write_cb(struct archive *a, void *arg, const void *buf, size_t n)
{
	(void)a;
	strata_tar *t = arg;
	if (t->discard)
		return (la_ssize_t)n;
	if (t->sink(t->sink_arg, buf, n, t->sink_err) < 0) {
		t->sink_failed = 1;
		return -1;
	}
	return (la_ssize_t)n;
}

strata_tar *strata_tar_create(const strata_tar_options *o, strata_tar_sink_fn sink, void *arg)
{
	strata_tar *t = strata_xcalloc(1, sizeof *t);
	t->o = *o;
	t->uname = strata_xstrdup(o->uname ? o->uname : "root");
	t->gname = strata_xstrdup(o->gname ? o->gname : "root");
	t->sink = sink;
	t->sink_arg = arg;
	t->buf = strata_xmalloc(COPY_BUF);
	t->a = archive_write_new();
	if (t->a == NULL)
		strata_oom();
	archive_write_set_format_pax_restricted(t->a);
	archive_write_set_bytes_per_block(t->a, 10240);
	if (archive_write_open2(t->a, t, NULL, write_cb, NULL, NULL) != ARCHIVE_OK)
		strata_oom();
	return t;
}

void strata_tar_free(strata_tar *t)
{
	if (t == NULL)
		return;
	/* Close even after a failure: libarchive frees its block buffer only
	 * in close (free skips close in the FATAL state and leaks it). Whatever
	 * close still writes (a trailer) is discarded, never sent to the sink. */
	t->discard = 1;
	archive_write_close(t->a);
	archive_write_free(t->a);
	free(t->uname);
	free(t->gname);
	free(t->buf);
	free(t->name_buf);
	free(t);
}

static int archive_fail(strata_tar *t, const char *what, const char *name, strata_error *err)
{
	if (t->sink_failed)
		return -1; /* err already holds the sink's reason */
	return strata_error_set(err, 0, "tar: %s '%s': %s", what, name,
				archive_error_string(t->a) ? archive_error_string(t->a) : "failed");
}

static struct archive_entry *new_entry(strata_tar *t, const char *name, mode_t type, mode_t perm)
{
	struct archive_entry *e = archive_entry_new2(t->a);
	if (e == NULL)
		strata_oom();
	archive_entry_copy_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm & 07777);
	archive_entry_set_uid(e, t->o.uid);
	archive_entry_set_gid(e, t->o.gid);
	archive_entry_copy_uname(e, t->uname);
	archive_entry_copy_gname(e, t->gname);
	archive_entry_set_mtime(e, t->o.mtime, 0);
	return e;
}

static int write_header(strata_tar *t, struct archive_entry *e, const char *name, strata_error *err)
{
	t->sink_err = err;
	int r = archive_write_header(t->a, e);
	archive_entry_free(e);
	/* WARN: a name that is not valid UTF-8 was stored as raw bytes with a
	 * per-entry hdrcharset=BINARY record; the archive is still right. */
	if (r != ARCHIVE_OK && !(r == ARCHIVE_WARN && !t->sink_failed))
		return archive_fail(t, "cannot write header for", name, err);
	return 0;
}

int strata_tar_add_dir(strata_tar *t, const char *name, mode_t mode, strata_error *err)
{
	size_t l = strlen(name);
	if (l + 2 > t->name_cap) {
		t->name_cap = 2 * (l + 2);
		t->name_buf = strata_xrealloc(t->name_buf, t->name_cap);
	}
	memcpy(t->name_buf, name, l);
	t->name_buf[l] = '/';
	t->name_buf[l + 1] = '\0';
	return write_header(t, new_entry(t, t->name_buf, AE_IFDIR, mode), name, err);
}

int strata_tar_add_symlink(strata_tar *t, const char *name, const char *target, strata_error *err)
{
	struct archive_entry *e = new_entry(t, name, AE_IFLNK, 0777);
	archive_entry_copy_symlink(e, target);
	return write_header(t, e, name, err);
}

static int write_data(strata_tar *t, const void *buf, size_t n, const char *name, strata_error *err)
{
	t->sink_err = err;
	if (archive_write_data(t->a, buf, n) != (la_ssize_t)n)
		return archive_fail(t, "cannot write data of", name, err);
	return 0;
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

/* Copies a sparse file: holes (SEEK_DATA/SEEK_HOLE) are fed as zeros from
 * memory instead of being read, which would zero-fill and copy every page. */
static int copy_sparse(strata_tar *t, int fd, const char *name, const char *host_path, uint64_t size,
		       strata_error *err)
{
	static const unsigned char zeros[1u << 16];
	uint64_t off = 0;
	int r;
	/* Past the real end of file SEEK_DATA also says "no more data", which
	 * would pass for a trailing hole: compare the real size, before and
	 * after, so a file that changes is an error, never zero-padded. */
	struct stat now;
	if (fstat(fd, &now) < 0)
		return strata_error_set(err, errno, "cannot stat '%s'", host_path);
	if ((uint64_t)now.st_size != size)
		return (uint64_t)now.st_size < size ? shrank(host_path, (uint64_t)now.st_size, size, err)
						    : grew(host_path, size, err);
	while (off < size) {
		if (strata_cancel_requested(t->o.cancel))
			return strata_error_set(err, 0, "interrupted");
		off_t data = lseek(fd, (off_t)off, SEEK_DATA);
		if (data < 0)
			data = errno == ENXIO ? (off_t)size : (off_t)off; /* ENXIO: a hole to EOF */
		if ((uint64_t)data > size)
			data = (off_t)size;
		while (off < (uint64_t)data) {
			size_t n = (uint64_t)data - off > sizeof zeros ? sizeof zeros : (size_t)((uint64_t)data - off);
			if ((r = write_data(t, zeros, n, name, err)) < 0)
				return r;
			off += n;
		}
		if (off >= size)
			break;
		off_t hole = lseek(fd, (off_t)off, SEEK_HOLE);
		uint64_t end = hole < 0 || (uint64_t)hole > size ? size : (uint64_t)hole;
		if (end <= off)
			end = size;
		while (off < end) {
			size_t want = end - off > COPY_BUF ? COPY_BUF : (size_t)(end - off);
			ssize_t n = pread(fd, t->buf, want, (off_t)off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return strata_error_set(err, errno, "cannot read '%s'", host_path);
			if (n == 0)
				return shrank(host_path, off, size, err);
			if ((r = write_data(t, t->buf, (size_t)n, name, err)) < 0)
				return r;
			off += (uint64_t)n;
		}
	}
	if (fstat(fd, &now) < 0)
		return strata_error_set(err, errno, "cannot stat '%s'", host_path);
	if ((uint64_t)now.st_size != size)
		return (uint64_t)now.st_size < size ? shrank(host_path, (uint64_t)now.st_size, size, err)
						    : grew(host_path, size, err);
	return 0;
}

/* Copies a dense file with plain reads. Asking for one byte more than the
 * size makes the last read also tell whether the file grew: a small file
 * costs a single read. */
static int copy_dense(strata_tar *t, int fd, const char *name, const char *host_path, uint64_t size,
		      strata_error *err)
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
		int r = write_data(t, t->buf, (size_t)n, name, err);
		if (r < 0)
			return r;
		off += (uint64_t)n;
	}
}

int strata_tar_add_file(strata_tar *t, const char *name, int dir_fd, const char *rel,
			   const char *host_path, const struct stat *st, strata_error *err)
{
	/* O_NONBLOCK: if the entry became a fifo since its lstat, the open must
	 * not wait for a writer; the fstat below then sees it is not the file. */
	cleanup_close int fd = openat(dir_fd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		if (errno == ELOOP)
			return strata_error_set(err, 0, "'%s' was replaced while it was read", host_path);
		return strata_error_set(err, errno, "cannot open '%s'", host_path);
	}
	struct stat now;
	if (fstat(fd, &now) < 0)
		return strata_error_set(err, errno, "cannot stat '%s'", host_path);
	if (!S_ISREG(now.st_mode) || now.st_dev != st->st_dev || now.st_ino != st->st_ino)
		return strata_error_set(err, 0, "'%s' was replaced while it was read", host_path);
	/* O_NONBLOCK stays: it changes nothing for a regular file. */
	uint64_t size = (uint64_t)st->st_size;
	struct archive_entry *e = new_entry(t, name, AE_IFREG, st->st_mode);
	archive_entry_set_size(e, (la_int64_t)size);
	int r = write_header(t, e, name, err);
	if (r < 0)
		return r;
	if (size >= COPY_BUF)
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	/* Fewer allocated blocks than bytes: there are holes worth skipping. */
	bool sparse = (uint64_t)st->st_blocks * 512 < size;
	return sparse ? copy_sparse(t, fd, name, host_path, size, err)
		      : copy_dense(t, fd, name, host_path, size, err);
}

int strata_tar_add_ancestors(strata_tar *t, const char *store_dir, strata_error *err)
{
	cleanup_free char *dir = strata_xstrdup(store_dir + (store_dir[0] == '/'));
	for (char *p = dir;; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;
			*p = '\0';
			int r = strata_tar_add_dir(t, dir, 0755, err);
			if (r < 0)
				return r;
			*p = saved;
			if (saved == '\0')
				break;
		}
	}
	return 0;
}

static int tree_visit(void *arg, const strata_fs_entry *e, strata_error *err)
{
	strata_tar *t = arg;
	const char *name = e->path + (e->path[0] == '/');
	if (S_ISDIR(e->st.st_mode))
		return strata_tar_add_dir(t, name, e->st.st_mode, err);
	if (S_ISLNK(e->st.st_mode))
		return strata_tar_add_symlink(t, name, e->link_target, err);
	return strata_tar_add_file(t, name, e->dir_fd, strata_fs_entry_rel(e), e->path, &e->st, err);
}

int strata_tar_add_tree(strata_tar *t, const char *host_path, strata_error *err)
{
	strata_fs_walk_ops ops = {.visit = tree_visit, .cancel = t->o.cancel};
	return strata_fs_walk(host_path, &ops, t, err);
}

int strata_tar_finish(strata_tar *t, strata_error *err)
{
	t->sink_err = err;
	if (archive_write_close(t->a) != ARCHIVE_OK)
		return archive_fail(t, "cannot finish", "archive", err);
	return 0;
}
