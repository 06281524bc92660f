/* strata_error: the error object every fallible engine function fills.
 *
 * Convention (after crun): a fallible function takes `strata_error *err` last
 * and returns 0 (or a non-NULL pointer) on success. On failure it returns a
 * negative int (or NULL) and err holds a message; err is untouched on
 * success. Only programs/ prints err->msg. */
#ifndef STRATA_ERROR_H
#define STRATA_ERROR_H

typedef struct strata_error {
	int code;  /* errno-style cause, or 0 when there is none */
	char *msg; /* heap string owned by the error; NULL when no error */
} strata_error;

#define STRATA_ERROR_INIT {0, NULL}

/* Sets err (freeing any previous message) and returns -1 - code so callers
 * can `return strata_error_set(...)`. `code` is an errno value or 0; when it is
 * non-zero, ": strerror(code)" is appended. */
int strata_error_set(strata_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes the message already in err with "<context>: ". Returns the same
 * negative value strata_error_set would have. */
int strata_error_wrap(strata_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Frees the message; err may be reused. Accepts NULL. */
void strata_error_clear(strata_error *err);

#endif
