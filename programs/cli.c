#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

strata_cancel cli_cancel = STRATA_CANCEL_INIT;

/* The engine names concepts; the CLI knows which flag answers a hint. */
static const char *hint_text(strata_error_hint h)
{
	switch (h) {
	case STRATA_HINT_FORCE:
		return " (use --force to replace it)";
	case STRATA_HINT_NONE:
		break;
	}
	return "";
}

static int exit_code(void)
{
	int sig = atomic_load(&cli_cancel.requested);
	return sig ? 128 + sig : 1;
}

int cli_fail(const strata_error *err)
{
	fprintf(stderr, "strata: error: %s%s\n", err->msg ? err->msg : "unknown error", hint_text(err->hint));
	return exit_code();
}

int cli_fail_msg(const char *msg)
{
	fprintf(stderr, "strata: error: %s\n", msg);
	return exit_code();
}

int cli_usage(const char *cmd, const char *fmt, const char *arg)
{
	char *safe = strata_error_escape(arg ? arg : "");
	fprintf(stderr, "strata%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	fprintf(stderr, fmt, safe);
	fprintf(stderr, "\nTry 'strata%s%s --help'.\n", cmd ? " " : "", cmd ? cmd : "");
	free(safe);
	return 2;
}

int cli_bad_option(const char *cmd, int c, char **argv)
{
	/* glibc: optopt is 0 for an unknown long option, else the option's
	 * character or value; optind has passed a long option, but not always
	 * a group of short ones ("-qx"), so those are named by their letter. */
	const char *last = optind > 0 ? argv[optind - 1] : "";
	char letter[3] = {'-', (char)optopt, '\0'};
	bool is_long = c == '?' ? optopt == 0 : strncmp(last, "--", 2) == 0;
	return cli_usage(cmd, c == ':' ? "option '%s' needs a value" : "unknown option '%s'", is_long ? last : letter);
}

int cli_parse_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi) {
		char fmt[160];
		snprintf(fmt, sizeof fmt, "%s must be an integer in %ld..%ld, not '%%s'", opt, lo, hi);
		return cli_usage(cmd, fmt, s);
	}
	*out = v;
	return 0;
}

void cli_push(char ***arr, size_t *n, char *item)
{
	char **a = realloc(*arr, (*n + 1) * sizeof **arr);
	if (a == NULL) {
		fputs("strata: error: out of memory\n", stderr);
		exit(1);
	}
	a[(*n)++] = item;
	*arr = a;
}

int cli_common_option(const char *cmd, int c, const char *arg, cli_common *co)
{
	long v;
	switch (c) {
	case 'o':
		co->output = arg;
		return 1;
	case 'q':
		co->quiet = true;
		return 1;
	case CLI_OPT_JSON:
		co->json = true;
		return 1;
	case CLI_OPT_FORCE:
		co->force = true;
		return 1;
	case CLI_OPT_GZIP_SINGLE:
		co->gzip_single = true;
		return 1;
	case CLI_OPT_THREADS:
		return cli_parse_long(cmd, "--threads", arg, 1, 1024, &co->threads) ? 2 : 1;
	case CLI_OPT_LEVEL:
		if (cli_parse_long(cmd, "--level", arg, 1, 19, &v))
			return 2;
		co->level = (int)v;
		return 1;
	case CLI_OPT_COMPRESS:
		if (strata_compress_parse(arg, &co->compress) < 0)
			return cli_usage(cmd, "--compress must be gzip, zstd or none, not '%s'", arg);
		co->compress_set = true;
		return 1;
	case CLI_OPT_FORMAT:
		if (!strcmp(arg, "directory"))
			co->format = STRATA_FORMAT_DIRECTORY;
		else if (!strcmp(arg, "tarball"))
			co->format = STRATA_FORMAT_TARBALL;
		else if (!strcmp(arg, "docker-archive"))
			co->format = STRATA_FORMAT_DOCKER_ARCHIVE;
		else
			return cli_usage(cmd, "--format must be directory, tarball or docker-archive, not '%s'", arg);
		return 1;
	}
	return 0;
}

int cli_docker_archive_check(const char *cmd, cli_common *co)
{
	bool to_stdout = co->output && strcmp(co->output, "-") == 0;
	if (co->format != STRATA_FORMAT_DOCKER_ARCHIVE)
		return to_stdout ? cli_usage(cmd, "%s", "-o - (standard output) needs --format docker-archive") : 0;
	if (co->compress_set && co->compress != STRATA_COMPRESS_NONE)
		return cli_usage(cmd, "%s", "a docker-archive holds uncompressed layers: compress the archive as a "
					    "whole (e.g. -o - | pigz)");
	co->compress = STRATA_COMPRESS_NONE;
	if (to_stdout && co->json)
		return cli_usage(cmd, "%s", "--json and -o - both write to standard output");
	if (to_stdout && isatty(STDOUT_FILENO))
		return cli_usage(cmd, "%s", "refusing to write an archive to a terminal (redirect standard output)");
	return 0;
}

int cli_common_check(const char *cmd, const cli_common *co)
{
	if (co->output == NULL && !co->output_optional)
		return cli_usage(cmd, "%s", "missing -o OUT");
	if (co->gzip_single && (co->compress != STRATA_COMPRESS_GZIP || co->format == STRATA_FORMAT_DOCKER_ARCHIVE))
		return cli_usage(cmd, "%s", "--gzip-single-member is for gzip-compressed OCI layers");
	if (co->gzip_single && co->level > 9)
		return cli_usage(cmd, "%s", "--level: a single gzip member is made with zlib: levels 1 to 9");
	strata_error err = STRATA_ERROR_INIT;
	if (strata_compress_check_level(co->compress, co->level, &err) < 0) {
		char fmt[300];
		snprintf(fmt, sizeof fmt, "--level: %s", err.msg);
		strata_error_clear(&err);
		return cli_usage(cmd, "%s", fmt);
	}
	return 0;
}

/* ---------- progress ---------- */

typedef struct progress_state {
	double start, last;
} progress_state;

double cli_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void progress_print(void *arg, const strata_progress *p)
{
	progress_state *ps = arg;
	double t = cli_seconds();
	if (t - ps->last < 0.2)
		return;
	ps->last = t;
	double el = t - ps->start, mbs = el > 0 ? p->bytes_done / 1e6 / el : 0;
	if (p->bytes_total > 0 && p->bytes_done <= p->bytes_total && mbs > 0)
		fprintf(stderr, "\r%6.1f%%  %8.1f MB  %7.1f MB/s  ETA %4.0fs  layers %zu/%zu ",
			100.0 * p->bytes_done / p->bytes_total, p->bytes_done / 1e6, mbs,
			(p->bytes_total - p->bytes_done) / 1e6 / mbs, p->layers_done, p->layers_total);
	else
		fprintf(stderr, "\r%8.1f MB  %7.1f MB/s  layers %zu ", p->bytes_done / 1e6, mbs, p->layers_done);
}

void cli_progress(bool quiet, strata_progress_fn *fn, void **arg)
{
	static progress_state ps;
	if (quiet || !isatty(2))
		return;
	ps.start = cli_seconds();
	*fn = progress_print;
	*arg = &ps;
}

/* ---------- jobs ---------- */

int cli_run_on_pool(cli_job_fn fn, void *opts, long threads, bool quiet, json_t **summary)
{
	strata_pool_options po = {.threads = (unsigned)threads};
	/* Workers start with SIGINT/SIGTERM blocked, so the signals reach this
	 * thread: its blocking reads (stdin, a pipe) return EINTR and the job
	 * stops, whatever the workers are doing. */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	strata_pool *pool = strata_pool_create(&po);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pool == NULL)
		return cli_fail_msg("cannot start worker threads");
	if (strata_pool_notice(pool) && !quiet)
		fprintf(stderr, "strata: notice: %s\n", strata_pool_notice(pool));
	strata_error err = STRATA_ERROR_INIT;
	int r = fn(pool, opts, summary, &err);
	strata_pool_free(pool);
	if (!quiet && isatty(2))
		fputs("\r\033[K", stderr); /* the progress line */
	if (r < 0) {
		int code = cli_fail(&err);
		strata_error_clear(&err);
		return code;
	}
	return 0;
}

int cli_report(json_t *summary, bool json, bool quiet, const char *fmt, ...)
{
	if (json) {
		char *s = json_dumps(summary, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
	} else if (!quiet) {
		va_list ap;
		va_start(ap, fmt);
		char *line = NULL;
		if (vasprintf(&line, fmt, ap) < 0)
			line = NULL;
		va_end(ap);
		char *safe = strata_error_escape(line ? line : "");
		fprintf(stderr, "strata: %s\n", safe);
		free(safe);
		free(line);
	}
	json_decref(summary);
	return 0;
}

int cli_parse_size(const char *cmd, const char *opt, const char *s, uint64_t *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	uint64_t mul = 1;
	if (end && *end) {
		switch (*end) {
		case 'K': case 'k': mul = 1ull << 10; break;
		case 'M': case 'm': mul = 1ull << 20; break;
		case 'G': case 'g': mul = 1ull << 30; break;
		case 'T': case 't': mul = 1ull << 40; break;
		default: mul = 0;
		}
		if (end[1] != '\0' && !(end[1] == 'B' && end[2] == '\0') && !(end[1] == 'i' && end[2] == 'B' && end[3] == '\0'))
			mul = 0;
	}
	if (s[0] == '-' || end == s || errno || mul == 0 || v > UINT64_MAX / mul) {
		char msg[160];
		snprintf(msg, sizeof msg, "%s must be a size such as 500M or 20G, not '%%s'", opt);
		return cli_usage(cmd, msg, s);
	}
	*out = (uint64_t)v * mul;
	return 0;
}
