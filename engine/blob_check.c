#define _GNU_SOURCE
#include "blob_check.h"
#include "alloc.h"
#include "sha256.h"
#include "tar_check.h"

#include <libdeflate.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define OUT_START (4u << 20)
#define OUT_MAX (64u << 20)  /* a member decoding to more goes to zlib */
#define IN_MAX (32u << 20)   /* a member longer than this goes to zlib */
#define STREAM_BUF (1u << 20)

struct strata_blob_check {
	strata_compress c;
	char *what;
	strata_sha256 *raw, *diff;
	uint64_t tar_size;
	strata_tar_check tc;
	unsigned char *out;
	size_t out_cap;
	/* gzip, libdeflate: input not decoded yet, retried once it doubled */
	struct libdeflate_decompressor *d;
	unsigned char *in;
	size_t in_len, in_cap, retry_at;
	/* gzip, zlib (after a member too large) */
	bool zlib;
	z_stream z;
	bool z_ended; /* at the end of a member */
	/* zstd */
	ZSTD_DStream *zs;
	size_t zs_last; /* ZSTD_decompressStream's last hint: 0 at a frame's end */
};

strata_blob_check *strata_blob_check_create(strata_compress c, const char *what)
{
	strata_blob_check *k = strata_xcalloc(1, sizeof *k);
	k->c = c;
	k->what = strata_xstrdup(what);
	k->raw = strata_sha256_create();
	k->diff = strata_sha256_create();
	strata_tar_check_init(&k->tc);
	k->out_cap = c == STRATA_COMPRESS_GZIP ? OUT_START : STREAM_BUF;
	k->out = strata_xmalloc(k->out_cap);
	if (c == STRATA_COMPRESS_GZIP && (k->d = libdeflate_alloc_decompressor()) == NULL)
		strata_oom();
	if (c == STRATA_COMPRESS_ZSTD && (k->zs = ZSTD_createDStream()) == NULL)
		strata_oom();
	k->z_ended = true;
	return k;
}

void strata_blob_check_free(strata_blob_check *k)
{
	if (k == NULL)
		return;
	if (k->zlib)
		inflateEnd(&k->z);
	if (k->d)
		libdeflate_free_decompressor(k->d);
	ZSTD_freeDStream(k->zs);
	strata_tar_check_fini(&k->tc);
	strata_sha256_free(k->raw);
	strata_sha256_free(k->diff);
	free(k->out);
	free(k->in);
	free(k->what);
	free(k);
}

static int emit(strata_blob_check *k, const unsigned char *p, size_t n, strata_error *err)
{
	strata_sha256_update(k->diff, p, n);
	k->tar_size += n;
	return strata_tar_check_feed(&k->tc, p, n, k->what, err);
}

static int corrupt(const strata_blob_check *k, const char *why, strata_error *err)
{
	return strata_error_set(err, 0, "%s: %s", k->what, why);
}

/* ---------- gzip through zlib ---------- */

static int zlib_feed(strata_blob_check *k, const unsigned char *p, size_t n, strata_error *err)
{
	k->z.next_in = (unsigned char *)(uintptr_t)p;
	k->z.avail_in = (uInt)n;
	while (k->z.avail_in > 0) {
		if (k->z_ended) {
			if (inflateReset(&k->z) != Z_OK)
				return corrupt(k, "cannot reset the gzip decoder", err);
			k->z_ended = false;
		}
		k->z.next_out = k->out;
		k->z.avail_out = (uInt)k->out_cap;
		int zr = inflate(&k->z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
			return corrupt(k, k->z.msg ? k->z.msg : "gzip data is corrupt", err);
		int r = emit(k, k->out, k->out_cap - k->z.avail_out, err);
		if (r < 0)
			return r;
		if (zr == Z_STREAM_END)
			k->z_ended = true;
		else if (zr == Z_BUF_ERROR && k->z.avail_out != 0)
			break;
	}
	return 0;
}

static int to_zlib(strata_blob_check *k, strata_error *err)
{
	memset(&k->z, 0, sizeof k->z);
	if (inflateInit2(&k->z, 16 + MAX_WBITS) != Z_OK)
		strata_oom();
	k->zlib = true;
	k->z_ended = false;
	if (k->out_cap > STREAM_BUF) {
		k->out_cap = STREAM_BUF;
		k->out = strata_xrealloc(k->out, k->out_cap);
	}
	int r = zlib_feed(k, k->in, k->in_len, err);
	free(k->in);
	k->in = NULL;
	k->in_len = k->in_cap = 0;
	return r;
}

/* ---------- gzip through libdeflate ---------- */

/* Decodes every complete member held; keeps the rest. */
static int members(strata_blob_check *k, bool at_end, strata_error *err)
{
	size_t pos = 0;
	int r = 0;
	while (r == 0 && pos < k->in_len) {
		if (!at_end && k->in_len - pos < k->retry_at)
			break;
		size_t used_in = 0, used_out = 0;
		enum libdeflate_result lr = libdeflate_gzip_decompress_ex(k->d, k->in + pos, k->in_len - pos, k->out,
									  k->out_cap, &used_in, &used_out);
		if (lr == LIBDEFLATE_SUCCESS) {
			r = emit(k, k->out, used_out, err);
			pos += used_in;
			k->retry_at = 0;
		} else if (lr == LIBDEFLATE_INSUFFICIENT_SPACE && k->out_cap < OUT_MAX) {
			k->out_cap *= 2;
			k->out = strata_xrealloc(k->out, k->out_cap);
		} else if (lr == LIBDEFLATE_INSUFFICIENT_SPACE || (lr == LIBDEFLATE_BAD_DATA && k->in_len - pos >= IN_MAX)) {
			memmove(k->in, k->in + pos, k->in_len - pos);
			k->in_len -= pos;
			return to_zlib(k, err);
		} else if (at_end) {
			return corrupt(k, "gzip data is corrupt or cut short", err);
		} else {
			/* Most likely a member not complete yet: try again once
			 * twice as much of it is here. */
			k->retry_at = 2 * (k->in_len - pos);
			break;
		}
	}
	memmove(k->in, k->in + pos, k->in_len - pos);
	k->in_len -= pos;
	return r;
}

static int gzip_feed(strata_blob_check *k, const unsigned char *p, size_t n, strata_error *err)
{
	if (k->zlib)
		return zlib_feed(k, p, n, err);
	if (k->in_len + n > k->in_cap) {
		k->in_cap = 2 * (k->in_len + n);
		k->in = strata_xrealloc(k->in, k->in_cap);
	}
	memcpy(k->in + k->in_len, p, n);
	k->in_len += n;
	return members(k, false, err);
}

/* ---------- zstd ---------- */

static int zstd_feed(strata_blob_check *k, const unsigned char *p, size_t n, strata_error *err)
{
	ZSTD_inBuffer in = {p, n, 0};
	while (in.pos < in.size) {
		ZSTD_outBuffer out = {k->out, k->out_cap, 0};
		size_t zr = ZSTD_decompressStream(k->zs, &out, &in);
		if (ZSTD_isError(zr))
			return corrupt(k, ZSTD_getErrorName(zr), err);
		k->zs_last = zr;
		int r = emit(k, k->out, out.pos, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---------- the checker ---------- */

int strata_blob_check_feed(strata_blob_check *k, const void *p, size_t n, strata_error *err)
{
	strata_sha256_update(k->raw, p, n);
	switch (k->c) {
	case STRATA_COMPRESS_GZIP: return gzip_feed(k, p, n, err);
	case STRATA_COMPRESS_ZSTD: return zstd_feed(k, p, n, err);
	case STRATA_COMPRESS_NONE: return emit(k, p, n, err);
	}
	return 0;
}

int strata_blob_check_end(strata_blob_check *k, char raw_hex[65], char diff_hex[65], uint64_t *tar_size,
			  strata_error *err)
{
	int r = 0;
	if (k->c == STRATA_COMPRESS_GZIP && !k->zlib)
		r = members(k, true, err);
	else if (k->c == STRATA_COMPRESS_GZIP && !k->z_ended)
		r = corrupt(k, "gzip data is cut short", err);
	else if (k->c == STRATA_COMPRESS_ZSTD && k->zs_last != 0)
		r = corrupt(k, "zstd data is cut short", err);
	if (r == 0)
		r = strata_tar_check_end(&k->tc, k->what, err);
	strata_sha256_final_hex(k->raw, raw_hex);
	strata_sha256_final_hex(k->diff, diff_hex);
	*tar_size = k->tar_size;
	return r;
}
