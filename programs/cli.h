/* The strata command line: what every verb shares (errors, usage, option
 * parsing, progress, summaries, running a job on a pool). The verbs are
 * cmd_*.c; main.c dispatches. Only this program prints.
 *
 * Threads: the main thread; the progress callback is called from workers,
 * serialised by the engine. */
#ifndef STRATA_CLI_H
#define STRATA_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "sched_pool.h"
#include "strata.h"

/* Requested by SIGINT/SIGTERM (the signal number); every job takes it. */
extern strata_cancel cli_cancel;

/* "strata: error: <msg><hint>"; returns the exit code (1, or 128+signal
 * after an interrupt). */
int cli_fail(const strata_error *err);
int cli_fail_msg(const char *msg);
/* "strata CMD: <fmt with arg>" and the --help hint; returns 2. arg is
 * escaped (it comes from the user). */
int cli_usage(const char *cmd, const char *fmt, const char *arg);
/* What getopt_long returned for a bad option (optstrings begin with ':'
 * and opterr is 0, so getopt prints nothing itself): the option named, and
 * whether it is unknown or lacks its value, in one line; returns 2. */
int cli_bad_option(const char *cmd, int c, char **argv);

/* Options every image verb has. */
typedef struct cli_common {
	long threads; /* 0: one per physical core */
	bool json, quiet, force;
	bool compress_set; /* --compress given */
	bool gzip_single;  /* --gzip-single-member */
	strata_compress compress;
	int level;
	strata_layout_format format;
	const char *output;
	bool output_optional; /* set before check: -o may be left out (--push) */
} cli_common;

enum {
	CLI_OPT_THREADS = 0x1000,
	CLI_OPT_JSON,
	CLI_OPT_FORCE,
	CLI_OPT_COMPRESS,
	CLI_OPT_LEVEL,
	CLI_OPT_FORMAT,
	CLI_OPT_GZIP_SINGLE,
};

#define CLI_COMMON_LONGOPTS                                                                               \
	{"output", required_argument, 0, 'o'}, {"threads", required_argument, 0, CLI_OPT_THREADS},       \
	{"json", no_argument, 0, CLI_OPT_JSON}, {"quiet", no_argument, 0, 'q'},                          \
	{"force", no_argument, 0, CLI_OPT_FORCE}, {"help", no_argument, 0, 'h'},                         \
	{"compress", required_argument, 0, CLI_OPT_COMPRESS}, {"level", required_argument, 0, CLI_OPT_LEVEL}, \
	{"format", required_argument, 0, CLI_OPT_FORMAT}, {"gzip-single-member", no_argument, 0, CLI_OPT_GZIP_SINGLE}

/* Handles getopt's c when it is a common option: 1 handled, 0 not one,
 * 2 a usage error (printed). */
int cli_common_option(const char *cmd, int c, const char *arg, cli_common *co);
/* After parsing: the option combinations the engine would also refuse, said
 * with flag names. 0, or 2 after printing. */
int cli_common_check(const char *cmd, const cli_common *co);

/* An integer option in lo..hi: 0, or 2 after printing. */
int cli_parse_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
/* A size: digits with an optional K, M, G or T (binary) suffix: 0, or 2
 * after printing. */
int cli_parse_size(const char *cmd, const char *opt, const char *s, uint64_t *out);
/* Appends item to a growing array (repeatable options). */
void cli_push(char ***arr, size_t *n, char *item);

/* A monotonic clock, in seconds (progress lines). */
double cli_seconds(void);
/* The progress line on a terminal: set *fn and *arg unless quiet or
 * stderr is not a TTY. */
void cli_progress(bool quiet, strata_progress_fn *fn, void **arg);

typedef int (*cli_job_fn)(strata_pool *pool, void *opts, json_t **summary, strata_error *err);
/* Runs fn on a pool of `threads` workers. 0 with *summary set, or the exit
 * code after printing the error. */
int cli_run_on_pool(cli_job_fn fn, void *opts, long threads, bool quiet, json_t **summary);
/* The summary as JSON on stdout (json) or one line on stderr (unless
 * quiet); drops it; returns 0. */
int cli_report(json_t *summary, bool json, bool quiet, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A Docker archive's options: uncompressed layers (--compress none or
 * unset), "-o -" only for it and never onto a terminal, no --json onto the
 * archive. 0, or 2 after printing. */
int cli_docker_archive_check(const char *cmd, cli_common *co);

int cmd_build_layered(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_layer(int argc, char **argv);
int cmd_assemble(int argc, char **argv);
int cmd_layering(int argc, char **argv);
int cmd_stream_layered(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_container(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_exec_json(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_push(int argc, char **argv);

#endif
