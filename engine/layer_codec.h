/* strata_layer_codec: what strata knows about each layer compressor, in one
 * table: its chunk size (a constant of the format:
 * changing it changes every digest; never dependent on thread count), its
 * levels, its output bound and its contexts. The layer writer compresses
 * each chunk with a context of the image's codec; nothing else in strata
 * knows a compressor (the OCI media types are oci_image.c's).
 *
 * gzip: libdeflate, each chunk one gzip member (RFC 1952 section 2.2:
 *   members concatenate into one valid gzip file).
 * gzip-single-member: zlib, one gzip member for the whole layer, still
 *   compressed chunk by chunk in parallel as pigz does: each chunk is raw
 *   deflate primed with the 32 KiB before it (its dictionary) and ends on a
 *   byte boundary with a non-final block (a sync flush), so the chunks
 *   concatenate into one deflate stream; the writer adds the gzip header
 *   before the first, and a final empty block, the CRC-32 (combined in
 *   order) and the size after the last. For readers that stop after the
 *   first member (Python's zlib.decompress, flate2's GzDecoder). Same
 *   bytes for any thread count; a little larger and slower than gzip.
 * zstd: libzstd, each chunk one frame (bigger chunks: its window is larger).
 * none: the tar as it is (no context; bound and compress are NULL).
 *
 * Threads: the table is constant; a context is used by one thread at a time,
 * different contexts concurrently. */
#ifndef STRATA_LAYER_CODEC_H
#define STRATA_LAYER_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata.h"

typedef struct strata_layer_codec {
	strata_compress id;
	const char *name; /* as the CLI spells it: "gzip", "zstd", "none" */
	size_t chunk_size;
	int default_level, min_level, max_level; /* 0 0 0 for none */
	/* Largest output of one chunk at level (0 for none). */
	size_t (*bound)(int level, size_t n);
	void *(*ctx_new)(int level); /* never NULL (out of memory aborts) */
	/* Returns the compressed size; 0 only on a codec failure. */
	size_t (*compress)(void *ctx, const void *in, size_t n, void *out, size_t cap);
	void (*ctx_free)(void *ctx); /* accepts NULL */
	/* Framed codecs (dict_size > 0): compress_dict replaces compress, with
	 * the dict_len (<= dict_size) bytes before the chunk; head and tail
	 * (at most 16 bytes each) frame the layer's chunks; checksum runs over
	 * its uncompressed bytes, in order. */
	size_t dict_size;
	size_t (*compress_dict)(void *ctx, const void *dict, size_t dict_len, const void *in, size_t n, void *out,
				size_t cap);
	size_t (*head)(unsigned char *out);
	size_t (*tail)(uint32_t checksum, uint64_t n, unsigned char *out);
	uint32_t (*checksum)(uint32_t prev, const void *in, size_t n);
} strata_layer_codec;

const strata_layer_codec *strata_layer_codec_get(strata_compress c);
/* c's codec, or gzip-single-member for gzip when single_member. */
const strata_layer_codec *strata_layer_codec_for(strata_compress c, bool single_member);
/* The codec named name (gzip, zstd, none), or NULL. */
const strata_layer_codec *strata_layer_codec_by_name(const char *name);
/* 0 when level is in the codec's range (0: its default), else fills err. */
int strata_layer_codec_check_level(const strata_layer_codec *c, int level, strata_error *err);
/* The level to use: level, or the codec's default for 0. */
int strata_layer_codec_level(const strata_layer_codec *c, int level);

#endif
