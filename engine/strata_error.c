#define _GNU_SOURCE
#include "strata_error.h"
#include "strata_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		return -1 - (code > 0 ? code : 0);
	}
	free(err->msg);
	if (code > 0) {
		err->msg = strata_xasprintf("%s: %s", base, strerror(code));
		free(base);
	} else {
		err->msg = base;
	}
	err->code = code;
	return -1 - (code > 0 ? code : 0);
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
	err->msg = joined;
	return -1 - (err->code > 0 ? err->code : 0);
}

void strata_error_clear(strata_error *err)
{
	if (err == NULL)
		return;
	free(err->msg);
	err->msg = NULL;
	err->code = 0;
}
