#define _GNU_SOURCE
#include "file.h"
#include "alloc.h"
#include "utf8.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *strata_file_type_name(mode_t m)
{
	if (S_ISREG(m))
		return "regular file";
	if (S_ISDIR(m))
		return "directory";
	if (S_ISLNK(m))
		return "symlink";
	if (S_ISFIFO(m))
		return "fifo";
	if (S_ISSOCK(m))
		return "socket";
	if (S_ISCHR(m))
		return "character device";
	if (S_ISBLK(m))
		return "block device";
	return "file of unknown type";
}

int strata_file_open_regular(int dir_fd, const char *path, int flags, const char *what, struct stat *st_ret,
			     strata_error *err)
{
	int oflags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	if (flags & STRATA_FILE_NOFOLLOW)
		oflags |= O_NOFOLLOW;
	cleanup_close int fd = openat(dir_fd, path, oflags);
	if (fd < 0) {
		if (errno == ELOOP && (flags & STRATA_FILE_NOFOLLOW))
			return strata_error_set(err, 0, "%s '%s' is a symlink, not a regular file", what, path);
		return strata_error_set(err, errno, "cannot open %s '%s'", what, path);
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		return strata_error_set(err, errno, "cannot stat %s '%s'", what, path);
	if (!S_ISREG(st.st_mode))
		return strata_error_set(err, 0, "%s '%s' is a %s, not a regular file", what, path,
					strata_file_type_name(st.st_mode));
	/* Regular files never block; reads must see EOF, not EAGAIN. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
		return strata_error_set(err, errno, "cannot open %s '%s'", what, path);
	if (st_ret)
		*st_ret = st;
	return strata_get_and_reset(&fd);
}

int strata_file_read_all(int dir_fd, const char *path, int flags, size_t max, const char *what, char **buf_ret,
			 size_t *len_ret, strata_error *err)
{
	struct stat st;
	cleanup_close int fd = strata_file_open_regular(dir_fd, path, flags, what, &st, err);
	if (fd < 0)
		return fd;
	if ((uint64_t)st.st_size > max)
		return strata_error_set(err, 0, "%s '%s' is %llu bytes, more than the %zu MiB strata reads", what, path,
					(unsigned long long)st.st_size, max >> 20);
	/* The size may change under us: read to EOF, but never past max. */
	size_t cap = (size_t)st.st_size + 1, len = 0;
	cleanup_free char *buf = strata_xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			if (cap > max)
				return strata_error_set(err, 0, "%s '%s' grew past the %zu MiB strata reads", what,
							path, max >> 20);
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			buf = strata_xrealloc(buf, cap + 1);
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return strata_error_set(err, errno, "cannot read %s '%s'", what, path);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max)
		return strata_error_set(err, 0, "%s '%s' grew past the %zu MiB strata reads", what, path, max >> 20);
	buf[len] = '\0';
	*buf_ret = strata_steal_pointer(&buf);
	*len_ret = len;
	return 0;
}

/* at < 0: at the file's offset (write), else there (pwrite). */
static int write_all_at(int fd, const void *buf, size_t n, int64_t at)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = at < 0 ? write(fd, p, n) : pwrite(fd, p, n, (off_t)at);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		if (at >= 0)
			at += w;
	}
	return 0;
}

int strata_file_write_all(int fd, const void *buf, size_t n)
{
	return write_all_at(fd, buf, n, -1);
}

int strata_file_pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
	return write_all_at(fd, buf, n, (int64_t)off);
}

int strata_file_tmpfile(strata_error *err)
{
	const char *dir = getenv("TMPDIR");
	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* filesystems without O_TMPFILE */
	cleanup_free char *path = strata_xasprintf("%s/.strata-tmp-XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return strata_error_set(err, errno, "cannot create a temporary file in %s", dir);
	unlink(path);
	return fd;
}

int strata_file_write_new(int dir_fd, const char *name, const char *path_for_errors, const void *data, size_t n,
			  mode_t mode, strata_error *err)
{
	cleanup_close int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return strata_error_set(err, errno, "cannot create '%s'", path_for_errors);
	int r = strata_file_write_all(fd, data, n);
	if (r < 0)
		return strata_error_set(err, -r, "cannot write '%s'", path_for_errors);
	if (close(strata_get_and_reset(&fd)) < 0)
		return strata_error_set(err, errno, "cannot write '%s'", path_for_errors);
	return 0;
}

/* Names compare as Python compares the strings it decodes them to (UTF-8
 * with surrogateescape): code point by code point. That is byte order for
 * valid UTF-8; an invalid byte b counts as U+DC00+b, so it sorts after every
 * valid character below U+DC80 and before those above, as in nixpkgs'. */
int strata_file_cmp_names(const void *a, const void *b)
{
	const unsigned char *x = *(const unsigned char *const *)a, *y = *(const unsigned char *const *)b;
	while (*x && *x == *y && *x < 0x80) {
		x++;
		y++;
	}
	if (*x < 0x80 && *y < 0x80)
		return (*x > *y) - (*x < *y);
	size_t nx = strlen((const char *)x), ny = strlen((const char *)y);
	while (nx > 0 && ny > 0) {
		size_t lx, ly;
		uint32_t cx = strata_utf8_next(x, nx, &lx), cy = strata_utf8_next(y, ny, &ly);
		if (cx != cy)
			return cx < cy ? -1 : 1;
		x += lx;
		y += ly;
		nx -= lx;
		ny -= ly;
	}
	return (nx > 0) - (ny > 0);
}

void strata_file_free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int strata_file_list_dir(int fd, const char *path, char ***names_ret, size_t *n_ret, strata_error *err)
{
	/* getdents64 on the caller's fd: no second fd (fdopendir would take
	 * ours or need a dup), which matters under tight fd limits. */
	if (lseek(fd, 0, SEEK_SET) < 0)
		return strata_error_set(err, errno, "cannot read directory '%s'", path);
	size_t n = 0, cap = 16;
	char **names = strata_xmalloc(cap * sizeof *names);
	cleanup_free char *buf = strata_xmalloc(32768);
	for (;;) {
		ssize_t got = getdents64(fd, buf, 32768);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int e = errno;
			strata_file_free_names(names, n);
			return strata_error_set(err, e, "cannot read directory '%s'", path);
		}
		if (got == 0)
			break;
		for (ssize_t off = 0; off < got;) {
			struct dirent64 *de = (struct dirent64 *)(void *)(buf + off);
			off += de->d_reclen;
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (n == cap) {
				cap *= 2;
				names = strata_xrealloc(names, cap * sizeof *names);
			}
			size_t l = strlen(de->d_name);
			char *name = strata_xmalloc(l + 2);
			memcpy(name, de->d_name, l + 1);
			name[l + 1] = (char)de->d_type;
			names[n++] = name;
		}
	}
	if (n > 1)
		qsort(names, n, sizeof *names, strata_file_cmp_names);
	*names_ret = names;
	*n_ret = n;
	return 0;
}

int strata_file_copy_data(int in, int out, const char *src, const char *dst, const strata_cancel *cancel,
			  uint64_t *bytes, strata_error *err)
{
	bool plain = false;
	static const size_t step = 64u << 20; /* bounded steps: a signal is seen between them */
	cleanup_free char *buf = NULL;
	for (;;) {
		if (strata_cancel_requested(cancel))
			return strata_error_set(err, 0, "interrupted");
		ssize_t n;
		if (!plain) {
			n = copy_file_range(in, NULL, out, NULL, step, 0);
			if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
				plain = true;
				buf = strata_xmalloc(1u << 20);
				continue;
			}
		} else {
			n = read(in, buf, 1u << 20);
			if (n > 0) {
				int r = strata_file_write_all(out, buf, (size_t)n);
				if (r < 0)
					return strata_error_set(err, -r, "cannot write '%s'", dst);
			}
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return strata_error_set(err, errno, "cannot copy '%s' to '%s'", src, dst);
		if (n == 0)
			return 0;
		if (bytes)
			*bytes += (uint64_t)n;
	}
}
