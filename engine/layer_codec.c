#define _GNU_SOURCE
#include "layer_codec.h"
#include "alloc.h"

#include <libdeflate.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

/* ---------- gzip (libdeflate) ---------- */

static size_t gzip_bound(int level, size_t n)
{
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
	if (c == NULL)
		strata_oom();
	size_t b = libdeflate_gzip_compress_bound(c, n);
	libdeflate_free_compressor(c);
	return b;
}

static void *gzip_new(int level)
{
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
	if (c == NULL)
		strata_oom(); /* the level was checked: only memory can fail */
	return c;
}

static size_t gzip_compress(void *ctx, const void *in, size_t n, void *out, size_t cap)
{
	return libdeflate_gzip_compress(ctx, in, n, out, cap);
}

static void gzip_free(void *ctx)
{
	libdeflate_free_compressor(ctx);
}

/* ---------- gzip as one member (zlib, pigz's method) ---------- */

static size_t gzip1_bound(int level, size_t n)
{
	(void)level;
	/* deflate's worst case plus the sync flush's empty stored block */
	return compressBound((uLong)n) + 16;
}

static void *gzip1_new(int level)
{
	z_stream *z = strata_xcalloc(1, sizeof *z);
	/* Raw deflate (no zlib or gzip wrapper): the writer frames the layer. */
	if (deflateInit2(z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		strata_oom(); /* the level was checked: only memory can fail */
	return z;
}

static size_t gzip1_compress_dict(void *ctx, const void *dict, size_t dict_len, const void *in, size_t n, void *out,
				  size_t cap)
{
	z_stream *z = ctx;
	if (deflateReset(z) != Z_OK || (dict_len && deflateSetDictionary(z, dict, (uInt)dict_len) != Z_OK))
		return 0;
	z->next_in = (Bytef *)(uintptr_t)in; /* zlib's API is not const */
	z->avail_in = (uInt)n;
	z->next_out = out;
	z->avail_out = (uInt)cap;
	/* A sync flush: every byte out, ending byte-aligned, the stream open. */
	int r = deflate(z, Z_SYNC_FLUSH);
	if (r != Z_OK || z->avail_in != 0 || z->avail_out == 0)
		return 0;
	return cap - z->avail_out;
}

static void gzip1_free(void *ctx)
{
	if (ctx) {
		deflateEnd(ctx);
		free(ctx);
	}
}

static size_t gzip1_head(unsigned char *out)
{
	/* ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=unix: fixed, so the bytes
	 * depend on the content only. */
	static const unsigned char h[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
	memcpy(out, h, sizeof h);
	return sizeof h;
}

static size_t gzip1_tail(uint32_t crc, uint64_t n, unsigned char *out)
{
	/* A final empty fixed-Huffman block (BFINAL=1, BTYPE=01, end of block),
	 * then CRC-32 and ISIZE (the size mod 2^32), little-endian. */
	out[0] = 0x03;
	out[1] = 0x00;
	for (int i = 0; i < 4; i++) {
		out[2 + i] = (unsigned char)(crc >> (8 * i));
		out[6 + i] = (unsigned char)((uint32_t)n >> (8 * i));
	}
	return 10;
}

static uint32_t gzip1_crc(uint32_t prev, const void *in, size_t n)
{
	return libdeflate_crc32(prev, in, n);
}

/* ---------- zstd ---------- */

static size_t zstd_bound(int level, size_t n)
{
	(void)level;
	return ZSTD_compressBound(n);
}

static void *zstd_new(int level)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	if (c == NULL)
		strata_oom();
	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
	/* no content checksum: the blob digest covers the bytes */
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0);
	return c;
}

static size_t zstd_compress(void *ctx, const void *in, size_t n, void *out, size_t cap)
{
	size_t r = ZSTD_compress2(ctx, out, cap, in, n);
	return ZSTD_isError(r) ? 0 : r;
}

static void zstd_free(void *ctx)
{
	ZSTD_freeCCtx(ctx);
}

/* Chunk sizes: gzip 1 MiB (libdeflate's speed does not depend on it, 1 MiB
 * members cost ~0.2% in size), zstd 4 MiB (1 MiB frames are 4% larger than
 * one stream, 4 MiB 1%), none 1 MiB (only the pipeline's granularity). */
static const strata_layer_codec codecs[] = {
	{STRATA_COMPRESS_GZIP, "gzip", 1u << 20, 6, 1, 12, gzip_bound,
	 gzip_new, gzip_compress, gzip_free, 0, NULL, NULL, NULL, NULL},
	{STRATA_COMPRESS_ZSTD, "zstd", 4u << 20, 3, 1, 19, zstd_bound,
	 zstd_new, zstd_compress, zstd_free, 0, NULL, NULL, NULL, NULL},
	{STRATA_COMPRESS_NONE, "none", 1u << 20, 0, 0, 0, NULL, NULL, NULL,
	 NULL, 0, NULL, NULL, NULL, NULL},
};

/* 1 MiB chunks as gzip's; zlib's levels. */
static const strata_layer_codec gzip_single_member = {
	STRATA_COMPRESS_GZIP, "gzip-single-member", 1u << 20, 6, 1, 9, gzip1_bound, gzip1_new, NULL, gzip1_free,
	32768, gzip1_compress_dict, gzip1_head, gzip1_tail, gzip1_crc};

const strata_layer_codec *strata_layer_codec_for(strata_compress c, bool single_member)
{
	return single_member && c == STRATA_COMPRESS_GZIP ? &gzip_single_member : strata_layer_codec_get(c);
}

const strata_layer_codec *strata_layer_codec_get(strata_compress c)
{
	for (size_t i = 0; i < STRATA_ARRAY_LEN(codecs); i++)
		if (codecs[i].id == c)
			return &codecs[i];
	return NULL;
}

const strata_layer_codec *strata_layer_codec_by_name(const char *name)
{
	for (size_t i = 0; i < STRATA_ARRAY_LEN(codecs); i++)
		if (strcmp(codecs[i].name, name) == 0)
			return &codecs[i];
	return NULL;
}

int strata_layer_codec_check_level(const strata_layer_codec *c, int level, strata_error *err)
{
	if (level == 0 || (level >= c->min_level && level <= c->max_level))
		return 0;
	if (c->max_level == 0)
		return strata_error_set(err, 0, "%s has no compression level", c->name);
	return strata_error_set(err, 0, "%s compression level %d is out of range (%d to %d)", c->name, level,
				c->min_level, c->max_level);
}

int strata_layer_codec_level(const strata_layer_codec *c, int level)
{
	return level ? level : c->default_level;
}

/* ---------- the public names ---------- */

int strata_compress_parse(const char *name, strata_compress *out)
{
	const strata_layer_codec *c = strata_layer_codec_by_name(name);
	if (c == NULL)
		return -1;
	*out = c->id;
	return 0;
}

const char *strata_compress_name(strata_compress c)
{
	return strata_layer_codec_get(c)->name;
}

int strata_compress_check_level(strata_compress c, int level, strata_error *err)
{
	return strata_layer_codec_check_level(strata_layer_codec_get(c), level, err);
}
