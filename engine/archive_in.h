/* strata_archive_in: libarchive readers that never run another program.
 *
 * libarchive falls back to running lrzip, lzop, grzip, ... from $PATH when it
 * has no built-in decoder, so an archive starting with such a magic would
 * make strata execute a program on attacker bytes. Readers made here enable
 * only the decoders libarchive runs in-process (gzip, zstd, xz, bzip2; each
 * checked to be built in), and an input compressed any other way is one
 * clear error naming the compression.
 *
 * The source is a read callback, so the same reader serves a file, stdin, an
 * archive member or a blob that is hashed as it is read. Reads honour
 * cancellation (a SIGINT while blocked on a pipe ends the read).
 *
 * Threads: one reader per thread. */
#ifndef STRATA_ARCHIVE_IN_H
#define STRATA_ARCHIVE_IN_H

#include <stddef.h>
#include <sys/types.h>

#include "cancel.h"
#include "strata_error.h"

struct archive;

typedef enum strata_compression {
	STRATA_COMPRESSION_NONE,
	STRATA_COMPRESSION_GZIP,
	STRATA_COMPRESSION_ZSTD,
	STRATA_COMPRESSION_XZ,
	STRATA_COMPRESSION_BZIP2,
	STRATA_COMPRESSION_UNSUPPORTED,
} strata_compression;

/* From the first bytes (at least 6 for a sure answer). For UNSUPPORTED,
 * *name_ret (may be NULL) names it ("lrzip", "lz4", ...). */
strata_compression strata_archive_in_detect(const void *head, size_t n, const char **name_ret);
const char *strata_archive_in_compression_name(strata_compression c);

/* The bytes of the source: returns a count, 0 at the end, or -1 with errno
 * set. */
typedef ssize_t (*strata_archive_read_fn)(void *arg, void *buf, size_t n);

enum {
	STRATA_ARCHIVE_TAR = 1, /* the input is a tar (maybe compressed) */
	STRATA_ARCHIVE_RAW = 2, /* the input is one stream: read it decompressed */
};

typedef struct strata_archive_in strata_archive_in;

/* Opens a reader over read_fn(arg). name names the input in errors. For
 * RAW, the one entry is already opened: read with archive_read_data. */
int strata_archive_in_open(strata_archive_read_fn read_fn, void *arg, const char *name, int format,
			   const strata_cancel *cancel, strata_archive_in **out, strata_error *err);
/* A reader over a file descriptor (not closed by free). */
int strata_archive_in_open_fd(int fd, const char *name, int format, const strata_cancel *cancel,
			      strata_archive_in **out, strata_error *err);
struct archive *strata_archive_in_archive(strata_archive_in *in);
/* RAW: the next decompressed bytes (archive_read_data, except that an empty
 * input, which libarchive cannot open as raw, reads as zero bytes). */
ssize_t strata_archive_in_read(strata_archive_in *in, void *buf, size_t n);
/* What the first bytes said (known once open returned). */
strata_compression strata_archive_in_compression(const strata_archive_in *in);
/* Bytes read from the source so far. */
unsigned long long strata_archive_in_consumed(const strata_archive_in *in);
/* The reason of libarchive's last failure on this reader, for messages. */
const char *strata_archive_in_error(strata_archive_in *in);
void strata_archive_in_free(strata_archive_in *in); /* accepts NULL */

#endif
