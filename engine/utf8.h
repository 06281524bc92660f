/* strata_utf8: UTF-8 as CPython's strict decoder reads it (no overlong
 * forms, no surrogates, nothing past U+10FFFF), for the places where strata
 * must agree with Python byte for byte (tar headers, JSON, name order) or
 * must not pass invalid text on (messages).
 *
 * Threads: reentrant. */
#ifndef STRATA_UTF8_H
#define STRATA_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length of the valid multi-byte sequence at p (2 to 4, at most n
 * bytes), or 0 when p[0] does not start one (an ASCII byte included). */
size_t strata_utf8_seq_len(const unsigned char *p, size_t n);

/* The code point at p, and its length in *len: a valid sequence decodes to
 * its character; an invalid byte decodes, as CPython's surrogateescape does,
 * to U+DC80 + the byte (length 1). */
uint32_t strata_utf8_next(const unsigned char *p, size_t n, size_t *len);

bool strata_utf8_valid(const char *s, size_t n);

#endif
