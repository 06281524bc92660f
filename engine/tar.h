/* strata_tar: writes tar archives into a byte sink, member by member, in
 * the encoding of CPython's tarfile (tar_header.h), so that a layer has the
 * bytes nixpkgs' writer gives the same files.
 *
 * Members are normalised for reproducibility: names as the caller gives them
 * (store layers use absolute host paths, "/nix/store/...", as nixpkgs does),
 * directories with a trailing '/', mode = permission bits from lstat (incl.
 * set-id and sticky bits), uid/gid/uname/gname and mtime from the options,
 * no atime/ctime/xattrs, hardlinks written as regular files, symlinks kept.
 * The archive ends with two zero blocks and zeros to a 10240-byte record.
 *
 * Threads: one writer per thread; different writers run concurrently. */
#ifndef STRATA_TAR_H
#define STRATA_TAR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cancel.h"
#include "strata_error.h"
#include "tar_header.h"

/* A member's owner and mode, which a hook may change (perms rules, what
 * fakeroot recorded). Strings must outlive the archive. */
typedef struct strata_tar_meta {
	uint64_t mode, uid, gid;
	const char *uname, *gname;
} strata_tar_meta;
/* name as stored (a directory's ends in '/'), type a STRATA_TAR_* flag.
 * Called on the writer's thread; hooks of concurrent writers may share arg. */
typedef void (*strata_tar_meta_fn)(void *arg, const char *name, char type, strata_tar_meta *m);

typedef struct strata_tar_options {
	int64_t mtime;
	int64_t uid, gid;
	const char *uname, *gname;   /* copied at create; NULL: root */
	strata_tar_meta_fn meta;     /* NULL: the options' for every member */
	void *meta_arg;
	const strata_cancel *cancel; /* polled while files are copied and trees walked */
	/* Regular files' data is not read but counted: the sink gets headers
	 * and padding only, trees are walked without opening their files, fd
	 * arguments are ignored (may be -1), and strata_tar_offset is the size
	 * the archive would have. To place an archive before it is written. */
	bool sizes_only;
} strata_tar_options;

/* Receives the tar bytes in order. Returns 0, or negative with err filled
 * (which aborts the archive). */
typedef int (*strata_tar_sink_fn)(void *arg, const void *buf, size_t n, strata_error *err);

typedef struct strata_tar strata_tar;

strata_tar *strata_tar_create(const strata_tar_options *o, strata_tar_sink_fn sink, void *arg);
void strata_tar_free(strata_tar *t); /* accepts NULL; no trailer written */

/* A member from a header (tar_header.h): then exactly h->size bytes of data
 * through write_data, and end_data for the padding. For members that do not
 * come from the filesystem (an outer archive's layers and JSON). */
int strata_tar_add_header(strata_tar *t, const strata_tar_header *h, strata_error *err);
int strata_tar_write_data(strata_tar *t, const void *p, size_t n, strata_error *err);
int strata_tar_end_data(strata_tar *t, strata_error *err);
/* n bytes of the member's data that are already where the sink writes: a
 * positional sink, which places the n bytes of each call at
 * strata_tar_offset(t) - n, the offset after them. The sink is not called. */
int strata_tar_skip_data(strata_tar *t, uint64_t n, strata_error *err);
/* Bytes of the archive so far (counted ones too, see sizes_only). */
uint64_t strata_tar_offset(const strata_tar *t);
bool strata_tar_sizes_only(const strata_tar *t);

/* name: as it is to be stored; '/' is appended for the directory. */
int strata_tar_add_dir(strata_tar *t, const char *name, mode_t mode, strata_error *err);
int strata_tar_add_symlink(strata_tar *t, const char *name, const char *target, strata_error *err);
/* Copies the bytes of the regular file open at fd (from its current offset)
 * under tar name `name`. st is the file as it was walked, and the open file
 * must be that file (same device and inode): st_size is the size recorded,
 * and the copy fails if the file does not hold exactly that many bytes while
 * it is read (a file changing under us must not yield a tar with a wrong
 * size); st_blocks tells whether to look for holes. host_path names the file
 * in errors. */
int strata_tar_add_file_fd(strata_tar *t, const char *name, int fd, const char *host_path, const struct stat *st,
			   strata_error *err);
/* The same, the data copied from fd to out_fd inside the kernel
 * (copy_file_range; a reflink where the file system shares extents):
 * out_fd must be where the sink writes, unbuffered, at its current
 * offset. For archives of files already written (an oci-archive's blobs):
 * their bytes are not read back into the process. */
int strata_tar_add_file_copy(strata_tar *t, const char *name, int fd, int out_fd, const char *host_path,
			     const struct stat *st, strata_error *err);
/* Directories (mode 0755) that precede the store paths: "/nix", "/nix/store". */
int strata_tar_add_ancestors(strata_tar *t, char *const *dirs, size_t n, strata_error *err);
/* A whole store path, walked in pathlib order (fs_tree.h). */
int strata_tar_add_tree(strata_tar *t, const char *host_path, strata_error *err);
/* Writes the end-of-archive blocks and padding. */
int strata_tar_finish(strata_tar *t, strata_error *err);

#endif
