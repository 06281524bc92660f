#define _GNU_SOURCE
#include "archive_in.h"
#include "alloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IN_BUF (1u << 20)

struct strata_archive_in {
	struct archive *a;
	strata_archive_read_fn read_fn;
	void *arg;
	char *name;
	unsigned char *buf;
	size_t head_len;     /* bytes peeked at open, handed to libarchive first */
	bool head_pending;
	strata_compression compression;
	unsigned long long consumed;
	bool free_arg; /* arg is open_fd's box for the fd */
	const strata_cancel *cancel;
	bool empty;    /* RAW: the input decompresses to nothing */
};

strata_compression strata_archive_in_detect(const void *head, size_t n, const char **name_ret)
{
	static const struct {
		const char *magic;
		size_t len;
		strata_compression kind;
		const char *name;
	} table[] = {
		{"\x1f\x8b", 2, STRATA_COMPRESSION_GZIP, "gzip"},
		{"\x28\xb5\x2f\xfd", 4, STRATA_COMPRESSION_ZSTD, "zstd"},
		{"\xfd" "7zXZ\x00", 6, STRATA_COMPRESSION_XZ, "xz"},
		{"BZh", 3, STRATA_COMPRESSION_BZIP2, "bzip2"},
		{"LRZI", 4, STRATA_COMPRESSION_UNSUPPORTED, "lrzip"},
		{"\x89LZO\x00\x0d\x0a\x1a\x0a", 9, STRATA_COMPRESSION_UNSUPPORTED, "lzop"},
		{"GRZipII", 7, STRATA_COMPRESSION_UNSUPPORTED, "grzip"},
		{"\x04\x22\x4d\x18", 4, STRATA_COMPRESSION_UNSUPPORTED, "lz4"},
		{"\x02\x21\x4c\x18", 4, STRATA_COMPRESSION_UNSUPPORTED, "lz4 (legacy)"},
		{"LZIP", 4, STRATA_COMPRESSION_UNSUPPORTED, "lzip"},
		{"\x1f\x9d", 2, STRATA_COMPRESSION_UNSUPPORTED, "compress (.Z)"},
		{"\x5d\x00\x00", 3, STRATA_COMPRESSION_UNSUPPORTED, "lzma"},
		{"\x1f\xa0", 2, STRATA_COMPRESSION_UNSUPPORTED, "lzh"},
		{"7z\xbc\xaf\x27\x1c", 6, STRATA_COMPRESSION_UNSUPPORTED, "7-zip"},
		{"PK\x03\x04", 4, STRATA_COMPRESSION_UNSUPPORTED, "zip"},
	};
	const unsigned char *p = head;
	for (size_t i = 0; i < STRATA_ARRAY_LEN(table); i++)
		if (n >= table[i].len && memcmp(p, table[i].magic, table[i].len) == 0) {
			if (name_ret)
				*name_ret = table[i].name;
			return table[i].kind;
		}
	if (name_ret)
		*name_ret = "none";
	return STRATA_COMPRESSION_NONE;
}

const char *strata_archive_in_compression_name(strata_compression c)
{
	static const char *const names[] = {"none", "gzip", "zstd", "xz", "bzip2", "unsupported"};
	return names[c];
}

static la_ssize_t read_cb(struct archive *a, void *arg, const void **out)
{
	strata_archive_in *in = arg;
	*out = in->buf;
	if (in->head_pending) {
		in->head_pending = false;
		return (la_ssize_t)in->head_len;
	}
	for (;;) {
		if (strata_cancel_requested(in->cancel)) {
			archive_set_error(a, EINTR, "interrupted");
			return -1;
		}
		ssize_t n = in->read_fn(in->arg, in->buf, IN_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			archive_set_error(a, errno, "cannot read '%s': %s", in->name, strerror(errno));
			return -1;
		}
		in->consumed += (unsigned long long)n;
		return n;
	}
}

/* Adds the filters libarchive runs in-process; a filter that would need an
 * external program (ARCHIVE_WARN) means this libarchive lacks the library,
 * and is an error rather than a silent exec. */
static int add_filters(struct archive *a, strata_error *err)
{
	static const struct {
		int (*add)(struct archive *);
		const char *name;
	} f[] = {{archive_read_support_filter_gzip, "gzip"},
		 {archive_read_support_filter_zstd, "zstd"},
		 {archive_read_support_filter_xz, "xz"},
		 {archive_read_support_filter_bzip2, "bzip2"}};
	for (size_t i = 0; i < STRATA_ARRAY_LEN(f); i++)
		if (f[i].add(a) != ARCHIVE_OK)
			return strata_error_set(err, 0, "this libarchive has no built-in %s decoder (it would run a program)",
						f[i].name);
	return 0;
}

int strata_archive_in_open(strata_archive_read_fn read_fn, void *arg, const char *name, int format,
			   const strata_cancel *cancel, strata_archive_in **out, strata_error *err)
{
	strata_archive_in *in = strata_xcalloc(1, sizeof *in);
	in->read_fn = read_fn;
	in->arg = arg;
	in->cancel = cancel;
	in->name = strata_xstrdup(name);
	in->buf = strata_xmalloc(IN_BUF);
	int r = 0;
	/* Peek: the compression must be known (and refused if unsupported)
	 * before libarchive bids on it. */
	while (r == 0 && in->head_len < 16) {
		if (strata_cancel_requested(cancel)) {
			r = strata_error_set(err, 0, "interrupted");
			break;
		}
		ssize_t n = read_fn(arg, in->buf + in->head_len, 16 - in->head_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = strata_error_set(err, errno, "cannot read '%s'", name);
		else if (n == 0)
			break;
		else
			in->head_len += (size_t)n;
	}
	in->consumed = in->head_len;
	in->head_pending = true;
	const char *cname = NULL;
	in->compression = strata_archive_in_detect(in->buf, in->head_len, &cname);
	if (r == 0 && in->compression == STRATA_COMPRESSION_UNSUPPORTED)
		r = strata_error_set(err, 0, "'%s' is compressed with %s, which strata does not read (it reads gzip, "
					     "zstd, xz, bzip2 or uncompressed)", name, cname);
	if (r == 0) {
		in->a = archive_read_new();
		if (in->a == NULL)
			strata_oom();
		r = add_filters(in->a, err);
	}
	if (r == 0) {
		if (format & STRATA_ARCHIVE_TAR)
			archive_read_support_format_tar(in->a);
		/* raw cannot bid on zero bytes (an empty input, or an empty
		 * gzip member): "empty" takes those and reads as nothing. */
		if (format & STRATA_ARCHIVE_RAW) {
			archive_read_support_format_raw(in->a);
			archive_read_support_format_empty(in->a);
		}
		if (archive_read_open(in->a, in, NULL, read_cb, NULL) != ARCHIVE_OK)
			r = strata_error_set(err, 0, "'%s': %s", name, strata_archive_in_error(in));
	}
	if (r == 0 && format == STRATA_ARCHIVE_RAW) {
		struct archive_entry *e;
		int h = archive_read_next_header(in->a, &e);
		if (h == ARCHIVE_EOF)
			in->empty = true;
		else if (h != ARCHIVE_OK)
			r = strata_error_set(err, 0, "'%s': %s", name, strata_archive_in_error(in));
	}
	if (r < 0) {
		strata_archive_in_free(in);
		return r;
	}
	*out = in;
	return 0;
}

static ssize_t fd_read(void *arg, void *buf, size_t n)
{
	return read(*(int *)arg, buf, n);
}

int strata_archive_in_open_fd(int fd, const char *name, int format, const strata_cancel *cancel,
			      strata_archive_in **out, strata_error *err)
{
	int *fdp = strata_xmalloc(sizeof *fdp);
	*fdp = fd;
	int r = strata_archive_in_open(fd_read, fdp, name, format, cancel, out, err);
	if (r < 0) {
		free(fdp);
		return r;
	}
	(*out)->free_arg = true;
	return 0;
}

struct archive *strata_archive_in_archive(strata_archive_in *in)
{
	return in->a;
}

ssize_t strata_archive_in_read(strata_archive_in *in, void *buf, size_t n)
{
	return in->empty ? 0 : archive_read_data(in->a, buf, n);
}

strata_compression strata_archive_in_compression(const strata_archive_in *in)
{
	return in->compression;
}

unsigned long long strata_archive_in_consumed(const strata_archive_in *in)
{
	return in->consumed;
}

const char *strata_archive_in_error(strata_archive_in *in)
{
	const char *s = in->a ? archive_error_string(in->a) : NULL;
	return s ? s : "not a readable archive";
}

void strata_archive_in_free(strata_archive_in *in)
{
	if (in == NULL)
		return;
	if (in->a)
		archive_read_free(in->a);
	if (in->free_arg)
		free(in->arg);
	free(in->name);
	free(in->buf);
	free(in);
}
