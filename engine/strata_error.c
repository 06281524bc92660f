#define _GNU_SOURCE
#include "strata_error.h"
#include "alloc.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Messages reach terminals and logs: control bytes and invalid UTF-8 (from
 * file names, archive members, JSON strings) are written as \xNN, so a name
 * cannot move the cursor, ring the bell or break a log line. A message longer
 * than STRATA_ERROR_MAX keeps its head and tail, saying how much was cut in
 * between. Escaping an escaped message changes nothing. */
static char *sanitise(const char *in)
{
	size_t n = strlen(in), cap = n * 4 + 1, k = 0;
	char *out = strata_xmalloc(cap);
	const unsigned char *p = (const unsigned char *)in;
	for (size_t i = 0; i < n;) {
		if (p[i] >= 0x20 && p[i] < 0x7f) {
			out[k++] = (char)p[i++];
			continue;
		}
		size_t u = p[i] >= 0x80 ? strata_utf8_seq_len(p + i, n - i) : 0;
		if (u > 0) {
			memcpy(out + k, p + i, u);
			k += u;
			i += u;
			continue;
		}
		k += (size_t)sprintf(out + k, "\\x%02x", p[i++]);
	}
	out[k] = '\0';
	if (k <= STRATA_ERROR_MAX)
		return out;
	/* Cut at character boundaries: never inside a UTF-8 sequence. */
	size_t head = STRATA_ERROR_MAX / 2, tail = k - STRATA_ERROR_MAX / 2 + 64;
	while (head > 0 && ((unsigned char)out[head] & 0xc0) == 0x80)
		head--;
	while (tail < k && ((unsigned char)out[tail] & 0xc0) == 0x80)
		tail++;
	char *cut = strata_xasprintf("%.*s[... %zu bytes cut ...]%s", (int)head, out, tail - head, out + tail);
	free(out);
	return cut;
}

static int code_result(int code)
{
	return -1 - (code > 0 ? code : 0);
}

int strata_error_set(strata_error *err, int code, const char *fmt, ...)
{
	char *base = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&base, fmt, ap) < 0)
		strata_oom();
	va_end(ap);
	if (err == NULL) {
		free(base);
		return code_result(code);
	}
	char *joined = code > 0 ? strata_xasprintf("%s: %s", base, strerror(code)) : strata_steal_pointer(&base);
	free(base);
	free(err->msg);
	err->msg = sanitise(joined);
	free(joined);
	err->code = code;
	err->hint = STRATA_HINT_NONE;
	return code_result(code);
}

int strata_error_wrap(strata_error *err, const char *fmt, ...)
{
	char *ctx = NULL;
	va_list ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	if (vasprintf(&ctx, fmt, ap) < 0)
		strata_oom();
	va_end(ap);
	char *joined = strata_xasprintf("%s: %s", ctx, err->msg ? err->msg : "unknown error");
	free(ctx);
	free(err->msg);
	err->msg = sanitise(joined);
	free(joined);
	return code_result(err->code);
}

void strata_error_move(strata_error *dst, strata_error *src)
{
	strata_error_clear(dst);
	*dst = *src;
	src->msg = NULL;
	src->code = 0;
	src->hint = STRATA_HINT_NONE;
}

char *strata_error_escape(const char *s)
{
	return sanitise(s);
}

void strata_error_clear(strata_error *err)
{
	if (err == NULL)
		return;
	free(err->msg);
	err->msg = NULL;
	err->code = 0;
	err->hint = STRATA_HINT_NONE;
}
