/* strata_tar_index: the members of an uncompressed tar file as CPython's
 * tarfile reads them. nixpkgs' stream script copies a base image's layer
 * members with tarfile (read a member, write it again), so strata must read
 * a header exactly as tarfile does to write it again with the same bytes
 * (tar_header.h):
 *
 *   - ustar, GNU and v7 headers (checksum unsigned or signed); numbers in
 *     octal (spaces and NULs around) or base-256 (not negative);
 *   - the name: the ustar prefix joined with '/' (not for GNU types), a GNU
 *     long name or link ('L', 'K'), a pax "path" or "linkpath"; the
 *     trailing '/' of a directory's name removed; an old-style file ('\0')
 *     whose name ends in '/' is a directory;
 *   - pax: 'g' records apply to every later member, 'x' records to the
 *     next; every member keeps its records, in tarfile's dict order (a key
 *     seen again keeps its first place), to be written again; "size",
 *     "uid", "gid", "mtime", "uname", "gname" override the ustar fields (a
 *     fractional mtime is rounded half to even, as Python's round);
 *   - the archive ends at a zero block or at the end of the file.
 *
 * Stricter than tarfile where tarfile guesses (strata then fails with one
 * line instead of copying what it cannot reproduce): a bad checksum or a
 * cut header anywhere (tarfile stops silently after the first member), a
 * malformed pax record or number, a negative number, GNU sparse members,
 * pax or long-name data over 1 MiB, a NUL inside a pax name value, a key
 * that is not UTF-8.
 *
 * Ownership: the index owns every string of its members.
 *
 * Threads: read on one thread; a finished index may be read concurrently. */
#ifndef STRATA_TAR_INDEX_H
#define STRATA_TAR_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "cancel.h"
#include "strata_error.h"
#include "tar_header.h"

typedef struct strata_tar_member {
	strata_tar_header h; /* h.name without a directory's '/'; h.pax: its records */
	uint64_t data_offset; /* of its data in the file */
	uint64_t header_offset;
} strata_tar_member;

typedef struct strata_tar_index strata_tar_index;

/* Reads the headers of the tar file open at fd (pread: the offset of fd is
 * not used). what names it in errors. */
int strata_tar_index_read(int fd, const char *what, const strata_cancel *cancel, strata_tar_index **out,
			  strata_error *err);
size_t strata_tar_index_count(const strata_tar_index *x);
const strata_tar_member *strata_tar_index_member(const strata_tar_index *x, size_t i);
/* The last member named name (tarfile's getmember), or NULL. */
const strata_tar_member *strata_tar_index_find(const strata_tar_index *x, const char *name);
/* Whether a member's type holds data (tarfile's regular types). */
int strata_tar_index_is_file(const strata_tar_member *m);
void strata_tar_index_free(strata_tar_index *x); /* accepts NULL */

#endif
