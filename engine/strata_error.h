/* strata_error: the error object every fallible engine function fills.
 *
 * Convention (after crun): a fallible function takes `strata_error *err` last
 * and returns 0 (or a non-NULL pointer) on success. On failure it returns a
 * negative int (or NULL) and err holds a message; err is untouched on
 * success. Only programs/ prints err->msg.
 *
 * Threads: an error object belongs to one thread at a time; the functions
 * are reentrant. */
#ifndef STRATA_ERROR_H
#define STRATA_ERROR_H

/* What a front end could do about an error, so that it can name its own
 * flag: the engine names concepts, never command-line options. */
typedef enum strata_error_hint {
	STRATA_HINT_NONE,
	STRATA_HINT_FORCE, /* an output exists: replacing it needs force */
} strata_error_hint;

typedef struct strata_error {
	int code;  /* errno-style cause, or 0 when there is none */
	char *msg; /* heap string owned by the error; NULL when no error */
	strata_error_hint hint;
} strata_error;

#define STRATA_ERROR_INIT {0, NULL, STRATA_HINT_NONE}

/* Messages are made safe to print: control bytes and invalid UTF-8 become
 * \xNN, and a message over this many bytes keeps its head and tail with the
 * number of bytes cut in between. */
#define STRATA_ERROR_MAX 1024

/* Sets err (freeing any previous message) and returns -1 - code so callers
 * can `return strata_error_set(...)`. `code` is an errno value or 0; when it is
 * non-zero, ": strerror(code)" is appended. */
int strata_error_set(strata_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes the message already in err with "<context>: ". Returns the same
 * negative value strata_error_set would have. */
int strata_error_wrap(strata_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Moves src's message into dst (freeing dst's); src is left empty. */
void strata_error_move(strata_error *dst, strata_error *src);

/* s made printable by the same rules as messages (a new string). For the
 * CLI's own lines that quote user input. */
char *strata_error_escape(const char *s);

/* Frees the message; err may be reused. Accepts NULL. */
void strata_error_clear(strata_error *err);

#endif
