/* strata_tar_header: tar member headers in exactly the encoding of CPython's
 * tarfile in its default PAX format, the writer nixpkgs' image scripts use,
 * so that strata's layers have the same bytes (and diff_ids) as nixpkgs':
 *
 *   - a ustar block: name and linkname fields (100 bytes) hold the first
 *     100 bytes of the name with every non-ASCII character (a valid UTF-8
 *     sequence, or one invalid byte) replaced by '?'; the prefix field is
 *     never used; mode, uid, gid as 7 octal digits + NUL, size and mtime as
 *     11 + NUL; the checksum as 6 digits, NUL, space; device fields NUL
 *     (but for devices); uname and gname (32 bytes) like names; magic
 *     "ustar\0" version "00";
 *   - before it, a pax 'x' member named "././@PaxHeader" (mode, ids, mtime 0,
 *     no owner names) exactly when a field does not fit: records path,
 *     linkpath, uname, gname (not ASCII, or longer than the field in
 *     characters), then uid, gid (>= 8^7), size, mtime (>= 8^11), whose ustar
 *     fields then hold 0; records given by the caller (a base archive's own)
 *     come first and take priority. A record is "<len> key=value\n", len
 *     counting the whole record; a value that is not valid UTF-8 makes the
 *     header start with "21 hdrcharset=BINARY\n"; values are the raw bytes.
 *
 * Threads: reentrant. */
#ifndef STRATA_TAR_HEADER_H
#define STRATA_TAR_HEADER_H

#include <stddef.h>
#include <stdint.h>

/* Member types (ustar typeflags). */
#define STRATA_TAR_REG '0'
#define STRATA_TAR_SYMLINK '2'
#define STRATA_TAR_CHR '3'
#define STRATA_TAR_BLK '4'
#define STRATA_TAR_DIR '5'
#define STRATA_TAR_FIFO '6'

typedef struct strata_tar_pax_record {
	const char *key;
	const char *value; /* bytes */
	size_t value_len;
} strata_tar_pax_record;

typedef struct strata_tar_header {
	const char *name;     /* as stored: a directory's ends in '/' (the caller adds it) */
	const char *linkname; /* "" unless a link */
	char type;
	uint64_t mode, uid, gid, size, mtime;
	uint64_t devmajor, devminor; /* devices only */
	const char *uname, *gname;
	const strata_tar_pax_record *pax; /* records that take priority, in order */
	size_t npax;
} strata_tar_header;

/* The header blocks of h (a multiple of 512 bytes) into *out, a buffer the
 * caller keeps across calls (grown as needed; free it at the end). Returns
 * the number of bytes. */
size_t strata_tar_header_encode(const strata_tar_header *h, unsigned char **out, size_t *cap);

#endif
