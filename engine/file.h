/* strata_file: the file I/O every module shares, written once: opening an
 * input that must be a regular file without ever blocking on it, reading a
 * bounded file whole, write loops, sorted directory listings.
 *
 * Inputs named by users or found in archives may be fifos, devices or
 * sockets. Opening a fifo blocks until a writer comes and reading a device
 * never ends, so every input that must be a file is opened with O_NONBLOCK,
 * fstat-ed and refused at once when it is not a regular file.
 *
 * Threads: reentrant. */
#ifndef STRATA_FILE_H
#define STRATA_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "cancel.h"
#include "strata_error.h"

/* Size caps of JSON inputs, generous for real inputs (a 100,000-path
 * closure with its references is about 100 MiB), small enough that a
 * hostile input cannot exhaust memory. */
#define STRATA_FILE_MAX_CLOSURE (1024u << 20) /* --closure, --conf */
#define STRATA_FILE_MAX_JSON (64u << 20)      /* configs, manifests, indexes, layout files */

enum {
	STRATA_FILE_NOFOLLOW = 1, /* refuse a symlink as the last component */
};

/* A short name for the type of st ("fifo", "character device", ...). */
const char *strata_file_type_name(mode_t mode);

/* Opens path (relative to dir_fd, or AT_FDCWD) read-only as a regular file.
 * A fifo, device, socket or directory is refused without blocking; what
 * names the input in errors ("closure file", ...). st_ret (may be NULL)
 * receives its fstat. Returns the fd (O_CLOEXEC, blocking again), or a
 * negative value with err filled. */
int strata_file_open_regular(int dir_fd, const char *path, int flags, const char *what, struct stat *st_ret,
			     strata_error *err);

/* Reads a whole regular file into a NUL-terminated heap buffer (caller
 * frees *buf_ret). A file over max bytes is refused before it is read. */
int strata_file_read_all(int dir_fd, const char *path, int flags, size_t max, const char *what, char **buf_ret,
			 size_t *len_ret, strata_error *err);

/* Writes all n bytes, retrying on EINTR and short writes. 0 or -errno. */
int strata_file_write_all(int fd, const void *buf, size_t n);
/* The same at offset off (below 2^63; the file's own offset unchanged). */
int strata_file_pwrite_all(int fd, const void *buf, size_t n, uint64_t off);

/* Copies in (from its offset) to out until in ends: copy_file_range in
 * bounded steps (cancel polled between them), read/write across file
 * systems. *bytes (may be NULL) counts them; src and dst name the files in
 * errors. */
int strata_file_copy_data(int in, int out, const char *src, const char *dst, const strata_cancel *cancel,
			  uint64_t *bytes, strata_error *err);

/* An anonymous temporary file (read-write, 0600) in $TMPDIR (else /tmp):
 * O_TMPFILE, or a file unlinked as soon as it is made, so that nothing is
 * left behind whatever ends the process. Returns the fd or a negative value
 * with err filled. */
int strata_file_tmpfile(strata_error *err);
/* Creates name in dir_fd (O_EXCL, the given mode) holding exactly data, and
 * closes it; every failure names path_for_errors and the OS error. */
int strata_file_write_new(int dir_fd, const char *name, const char *path_for_errors, const void *data, size_t n,
			  mode_t mode, strata_error *err);

/* The entries of the directory open at fd (without "." and ".."), sorted by
 * byte order (readdir order depends on the filesystem; outputs must not).
 * fd stays open and owned by the caller. path names it in errors. Each name
 * carries the entry's d_type in the byte after its NUL (strata_file_name_type). */
int strata_file_list_dir(int fd, const char *path, char ***names_ret, size_t *n_ret, strata_error *err);
void strata_file_free_names(char **names, size_t n); /* accepts NULL */
/* The d_type getdents reported for a name of strata_file_list_dir (DT_UNKNOWN
 * on file systems that do not say): a hint, true when listed, to be
 * confirmed on what is opened. */
static inline unsigned char strata_file_name_type(const char *name)
{
	return (unsigned char)name[strlen(name) + 1];
}
/* qsort/bsearch comparator of such names (char *, byte order). */
int strata_file_cmp_names(const void *a, const void *b);

#endif
