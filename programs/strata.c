/* strata: the command line. Parses arguments, calls the engine, prints.
 * Exit codes: 0 success, 1 failure, 2 usage, 130/143 interrupted. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "convert.h"
#include "image_layered.h"
#include "sched_pool.h"
#include "strata_util.h"
#include "verify.h"

#define STRATA_VERSION "0.1.0"

static volatile int interrupted; /* the signal number, or 0 */

static void on_signal(int sig)
{
	interrupted = sig;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

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

static int fail(const char *msg, const char *hint)
{
	fprintf(stderr, "strata: error: %s%s\n", msg ? msg : "unknown error", hint);
	if (interrupted)
		return 128 + interrupted;
	return 1;
}

static int fail_error(const strata_error *err)
{
	return fail(err->msg, hint_text(err->hint));
}

/* arg comes from the user: printed escaped, as every message is. */
static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
	cleanup_free char *safe = strata_error_escape(arg);
	fprintf(stderr, "strata%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	fprintf(stderr, fmt, safe);
	fprintf(stderr, "\nTry 'strata%s%s --help'.\n", cmd ? " " : "", cmd ? cmd : "");
	return 2;
}

static int parse_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi) {
		cleanup_free char *safe = strata_error_escape(s);
		fprintf(stderr, "strata %s: %s must be an integer in %ld..%ld, not '%s'\n", cmd, opt, lo, hi, safe);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_compress(const char *cmd, const char *s, strata_compress *out)
{
	if (!strcmp(s, "gzip"))
		*out = STRATA_COMPRESS_GZIP;
	else if (!strcmp(s, "zstd"))
		*out = STRATA_COMPRESS_ZSTD;
	else if (!strcmp(s, "none"))
		*out = STRATA_COMPRESS_NONE;
	else
		return usage_error(cmd, "--compress must be gzip, zstd or none, not '%s'", s), -1;
	return 0;
}

static int parse_format(const char *cmd, const char *s, strata_layout_format *out)
{
	if (!strcmp(s, "directory"))
		*out = STRATA_FORMAT_DIRECTORY;
	else if (!strcmp(s, "tarball"))
		*out = STRATA_FORMAT_TARBALL;
	else
		return usage_error(cmd, "--format must be directory or tarball, not '%s'", s), -1;
	return 0;
}

/* Prints the summary as JSON (--json) or as the one-line human message
 * (unless --quiet), then drops it. Returns the exit code 0. */
static int report(json_t *summary, bool json, bool quiet, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int report(json_t *summary, bool json, bool quiet, const char *fmt, ...)
{
	if (json) {
		char *s = json_dumps(summary, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
	} else if (!quiet) {
		va_list ap;
		va_start(ap, fmt);
		cleanup_free char *line = NULL;
		if (vasprintf(&line, fmt, ap) < 0)
			strata_oom();
		va_end(ap);
		cleanup_free char *safe = strata_error_escape(line);
		fprintf(stderr, "strata: %s\n", safe);
	}
	json_decref(summary);
	return 0;
}

/* ---------- progress ---------- */

typedef struct progress {
	double start, last;
} progress;

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void progress_print(void *arg, uint64_t done, uint64_t total)
{
	progress *p = arg;
	double t = mono();
	if (t - p->last < 0.2)
		return;
	p->last = t;
	double el = t - p->start, mbs = el > 0 ? done / 1e6 / el : 0;
	if (total > 0 && done <= total && mbs > 0)
		fprintf(stderr, "\r%6.1f%%  %8.1f MB  %7.1f MB/s  ETA %4.0fs ", 100.0 * done / total, done / 1e6,
			mbs, (total - done) / 1e6 / mbs);
	else
		fprintf(stderr, "\r%8.1f MB  %7.1f MB/s ", done / 1e6, mbs);
}

/* ---------- running a job ---------- */

typedef int (*job_fn)(strata_pool *pool, void *opts, json_t **summary, strata_error *err);

/* Runs fn on a pool of `threads` workers (0: one per core). Returns 0 with
 * *summary set, or the exit code after printing the error. */
static int run_on_pool(job_fn fn, void *opts, long threads, bool quiet, json_t **summary)
{
	strata_pool_options po = {.threads = (unsigned)threads, .quiet = quiet};
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
		return fail("cannot start worker threads", "");
	strata_error err = STRATA_ERROR_INIT;
	int r = fn(pool, opts, summary, &err);
	strata_pool_free(pool);
	if (!quiet && isatty(2))
		fputs("\r\033[K", stderr); /* the progress line */
	if (r < 0) {
		int code = fail_error(&err);
		strata_error_clear(&err);
		return code;
	}
	return 0;
}

static int job_build_layered(strata_pool *pool, void *opts, json_t **summary, strata_error *err)
{
	return strata_build_layered(pool, opts, summary, err);
}

static int job_convert(strata_pool *pool, void *opts, json_t **summary, strata_error *err)
{
	return strata_convert(pool, opts, summary, err);
}

/* ---------- build-layered ---------- */

static const char build_layered_help[] =
	"Usage: strata build-layered [OPTIONS] -o OUT\n"
	"Builds a layered OCI image from Nix store paths (nixpkgs buildLayeredImage).\n"
	"\n"
	"Input (one of):\n"
	"  --closure FILE        exportReferencesGraph JSON (bare or {\"key\": [...]}),\n"
	"                        `nix path-info --json --recursive` output, or a text\n"
	"                        file of store paths (references found by scanning)\n"
	"  --conf FILE           the conf.json nixpkgs passes to stream_layered_image.py\n"
	"  --root PATH           image roots, when the closure holds more (repeatable)\n"
	"  --contents PATH       link PATH's top-level entries into / (repeatable)\n"
	"Image:\n"
	"  --config FILE         runtime config JSON (Cmd, Entrypoint, Env, WorkingDir, ...)\n"
	"  --name NAME, --tag TAG  (default tag: derived from a hash of the image)\n"
	"  --created TIME        RFC 3339 or 'now' (default SOURCE_DATE_EPOCH, else 1970-01-01T00:00:01Z)\n"
	"  --mtime TIME          file mtime in layers (default 1)\n"
	"  --uid N --gid N --uname S --gname S   file owners (default 0/0/root/root)\n"
	"  --architecture ARCH   GOARCH name (default: this machine)\n"
	"  --store-dir DIR       default /nix/store\n"
	"Layers:\n"
	"  --layering auto|popularity   default auto (nixpkgs' size-based auto-layer)\n"
	"  --max-layers N        default 100, one reserved for the customisation layer\n"
	"  --compress gzip|zstd|none    default gzip\n"
	"  --level N             gzip 1-12 (default 6), zstd 1-19 (default 3)\n"
	"Output:\n"
	"  -o, --output OUT      the image (must not exist unless --force)\n"
	"  --format directory|tarball   OCI layout directory (default) or oci-archive tar\n"
	"  --force               replace an existing OUT (only a file or an image layout;\n"
	"                        never an input of the run, see README)\n"
	"  --threads N           default: physical cores\n"
	"  --json                print a summary as JSON on stdout\n"
	"  -q, --quiet           no progress line\n"
	"  -h, --help\n";

enum {
	OPT_CLOSURE = 1000, OPT_CONF, OPT_ROOT, OPT_CONTENTS, OPT_CONFIG, OPT_NAME, OPT_TAG,
	OPT_CREATED, OPT_MTIME, OPT_UID, OPT_GID, OPT_UNAME, OPT_GNAME, OPT_ARCH, OPT_STORE_DIR,
	OPT_LAYERING, OPT_MAX_LAYERS, OPT_COMPRESS, OPT_LEVEL, OPT_FORMAT, OPT_FORCE, OPT_THREADS,
	OPT_JSON,
};

static int cmd_build_layered(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"closure", required_argument, 0, OPT_CLOSURE}, {"conf", required_argument, 0, OPT_CONF},
		{"root", required_argument, 0, OPT_ROOT}, {"contents", required_argument, 0, OPT_CONTENTS},
		{"config", required_argument, 0, OPT_CONFIG}, {"name", required_argument, 0, OPT_NAME},
		{"tag", required_argument, 0, OPT_TAG}, {"created", required_argument, 0, OPT_CREATED},
		{"mtime", required_argument, 0, OPT_MTIME}, {"uid", required_argument, 0, OPT_UID},
		{"gid", required_argument, 0, OPT_GID}, {"uname", required_argument, 0, OPT_UNAME},
		{"gname", required_argument, 0, OPT_GNAME}, {"architecture", required_argument, 0, OPT_ARCH},
		{"store-dir", required_argument, 0, OPT_STORE_DIR},
		{"layering", required_argument, 0, OPT_LAYERING},
		{"max-layers", required_argument, 0, OPT_MAX_LAYERS},
		{"compress", required_argument, 0, OPT_COMPRESS}, {"level", required_argument, 0, OPT_LEVEL},
		{"output", required_argument, 0, 'o'}, {"format", required_argument, 0, OPT_FORMAT},
		{"force", no_argument, 0, OPT_FORCE}, {"threads", required_argument, 0, OPT_THREADS},
		{"json", no_argument, 0, OPT_JSON}, {"quiet", no_argument, 0, 'q'},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	const char *cmd = "build-layered";
	strata_layered_options o = {.uid = -1, .gid = -1};
	cleanup_free char **roots = NULL, **contents = NULL;
	long threads = 0, v;
	bool json = false, quiet = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CLOSURE: o.closure_file = optarg; break;
		case OPT_CONF: o.conf_file = optarg; break;
		case OPT_ROOT:
			roots = strata_xrealloc(roots, (o.nroots + 1) * sizeof *roots);
			roots[o.nroots++] = optarg;
			break;
		case OPT_CONTENTS:
			contents = strata_xrealloc(contents, (o.ncontents + 1) * sizeof *contents);
			contents[o.ncontents++] = optarg;
			break;
		case OPT_CONFIG: o.config_file = optarg; break;
		case OPT_NAME: o.name = optarg; break;
		case OPT_TAG: o.tag = optarg; break;
		case OPT_CREATED: o.created = optarg; break;
		case OPT_MTIME: o.mtime = optarg; break;
		case OPT_UID:
			if (parse_long(cmd, "--uid", optarg, 0, 2097151, &v) < 0) return 2;
			o.uid = v;
			break;
		case OPT_GID:
			if (parse_long(cmd, "--gid", optarg, 0, 2097151, &v) < 0) return 2;
			o.gid = v;
			break;
		case OPT_UNAME: o.uname = optarg; break;
		case OPT_GNAME: o.gname = optarg; break;
		case OPT_ARCH: o.architecture = optarg; break;
		case OPT_STORE_DIR: o.store_dir = optarg; break;
		case OPT_LAYERING:
			if (!strcmp(optarg, "auto")) o.layering = STRATA_LAYERING_AUTO;
			else if (!strcmp(optarg, "popularity")) o.layering = STRATA_LAYERING_POPULARITY;
			else return usage_error(cmd, "--layering must be auto or popularity, not '%s'", optarg);
			break;
		case OPT_MAX_LAYERS:
			if (parse_long(cmd, "--max-layers", optarg, 2, 10000, &o.max_layers) < 0) return 2;
			break;
		case OPT_COMPRESS:
			if (parse_compress(cmd, optarg, &o.compress) < 0) return 2;
			break;
		case OPT_LEVEL:
			if (parse_long(cmd, "--level", optarg, 1, 19, &v) < 0) return 2;
			o.level = (int)v;
			break;
		case 'o': o.output = optarg; break;
		case OPT_FORMAT:
			if (parse_format(cmd, optarg, &o.format) < 0) return 2;
			break;
		case OPT_FORCE: o.force = true; break;
		case OPT_THREADS:
			if (parse_long(cmd, "--threads", optarg, 1, 1024, &threads) < 0) return 2;
			break;
		case OPT_JSON: json = true; break;
		case 'q': quiet = true; break;
		case 'h': fputs(build_layered_help, stdout); return 0;
		default: return usage_error(cmd, "%s", "invalid option");
		}
	}
	if (optind < argc)
		return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (o.output == NULL)
		return usage_error(cmd, "%s", "missing -o OUT");
	if (o.compress == STRATA_COMPRESS_GZIP && o.level > 12)
		return usage_error(cmd, "%s", "gzip --level must be 1..12");
	o.roots = roots;
	o.contents = contents;
	progress pr = {mono(), 0};
	if (!quiet && isatty(2)) {
		o.progress = progress_print;
		o.progress_arg = &pr;
	}
	json_t *summary = NULL;
	int code = run_on_pool(job_build_layered, &o, threads, quiet, &summary);
	if (code != 0)
		return code;
	return report(summary, json, quiet, "wrote %s (%zu layers, tag %s, manifest %s)", o.output,
		      json_array_size(json_object_get(summary, "layers")),
		      json_string_value(json_object_get(summary, "tag")),
		      json_string_value(json_object_get(summary, "manifest")));
}

/* ---------- verify ---------- */

static const char verify_help[] =
	"Usage: strata verify [-q] PATH\n"
	"Checks an OCI image layout (directory or tarball) as clients would: every\n"
	"blob's size and digest, each layer's compression against its media type, its\n"
	"tar structure to the end and its diff_id, the fields of index, manifests and\n"
	"configs. Each manifest and blob is checked once, however many tags name it.\n"
	"The first problem is printed as one line; exit status 1.\n";

static int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {{"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
						 {0, 0, 0, 0}};
	bool quiet = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		if (c == 'q') quiet = true;
		else if (c == 'h') { fputs(verify_help, stdout); return 0; }
		else return usage_error("verify", "%s", "invalid option");
	}
	if (optind != argc - 1)
		return usage_error("verify", "%s", "expected exactly one PATH");
	strata_error err = STRATA_ERROR_INIT;
	strata_verify_report rep = {0};
	if (strata_verify(argv[optind], &rep, &err) < 0) {
		int code = fail_error(&err);
		strata_error_clear(&err);
		return code;
	}
	if (!quiet) {
		cleanup_free char *safe = strata_error_escape(argv[optind]);
		printf("%s: OK (%zu manifests, %zu blobs, %zu layers checked)\n", safe, rep.manifests, rep.blobs,
		       rep.layers);
	}
	return 0;
}

/* ---------- convert ---------- */

static const char convert_help[] =
	"Usage: strata convert [OPTIONS] ARCHIVE|- -o OUT\n"
	"Converts a Docker archive (docker save; dockerTools buildImage, buildLayeredImage,\n"
	"streamLayeredImage; Docker 25+) to an OCI image in one streaming pass\n"
	"(nixpkgs toOCIImage). ARCHIVE may be plain or compressed with gzip, zstd, xz\n"
	"or bzip2 (decoded in-process; no other decoder is ever run); - is stdin.\n"
	"\n"
	"  -o, --output OUT      the image (must not exist unless --force)\n"
	"  --format directory|tarball   OCI layout directory (default) or oci-archive tar\n"
	"  --name NAME --tag TAG override the archive's RepoTags (single-image archives)\n"
	"  --compress gzip|zstd|none    default gzip; every layer is recompressed\n"
	"  --level N             gzip 1-12 (default 6), zstd 1-19 (default 3)\n"
	"  --threads N           default: physical cores\n"
	"  --force, --json, -q/--quiet, -h/--help\n";

static int cmd_convert(int argc, char **argv)
{
	enum { V_FORMAT = 3000, V_NAME, V_TAG, V_COMPRESS, V_LEVEL, V_THREADS, V_FORCE, V_JSON };
	static const struct option longopts[] = {
		{"output", required_argument, 0, 'o'}, {"format", required_argument, 0, V_FORMAT},
		{"name", required_argument, 0, V_NAME}, {"tag", required_argument, 0, V_TAG},
		{"compress", required_argument, 0, V_COMPRESS}, {"level", required_argument, 0, V_LEVEL},
		{"threads", required_argument, 0, V_THREADS}, {"force", no_argument, 0, V_FORCE},
		{"json", no_argument, 0, V_JSON}, {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0}};
	const char *cmd = "convert";
	strata_convert_options o = {0};
	long threads = 0, v;
	bool json = false, quiet = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': o.output = optarg; break;
		case V_FORMAT:
			if (parse_format(cmd, optarg, &o.format) < 0) return 2;
			break;
		case V_NAME: o.name = optarg; break;
		case V_TAG: o.tag = optarg; break;
		case V_COMPRESS:
			if (parse_compress(cmd, optarg, &o.compress) < 0) return 2;
			break;
		case V_LEVEL:
			if (parse_long(cmd, "--level", optarg, 1, 19, &v) < 0) return 2;
			o.level = (int)v;
			break;
		case V_THREADS:
			if (parse_long(cmd, "--threads", optarg, 1, 1024, &threads) < 0) return 2;
			break;
		case V_FORCE: o.force = true; break;
		case V_JSON: json = true; break;
		case 'q': quiet = true; break;
		case 'h': fputs(convert_help, stdout); return 0;
		default: return usage_error(cmd, "%s", "invalid option");
		}
	}
	if (o.output == NULL)
		return usage_error(cmd, "%s", "missing -o OUT");
	if (optind != argc - 1)
		return usage_error(cmd, "%s", "expected exactly one ARCHIVE (or - for stdin)");
	if (o.compress == STRATA_COMPRESS_GZIP && o.level > 12)
		return usage_error(cmd, "%s", "gzip --level must be 1..12");
	o.input = argv[optind];
	progress pr = {mono(), 0};
	if (!quiet && isatty(2)) {
		o.progress = progress_print;
		o.progress_arg = &pr;
	}
	json_t *summary = NULL;
	int code = run_on_pool(job_convert, &o, threads, quiet, &summary);
	if (code != 0)
		return code;
	return report(summary, json, quiet, "wrote %s (%zu images)", o.output,
		      json_array_size(json_object_get(summary, "images")));
}

/* ---------- container ---------- */

static const char container_help[] =
	"Usage: strata container [OPTIONS] -o BUNDLE -- PROGRAM [ARG...]\n"
	"Makes an OCI runtime bundle (config.json + rootfs/, runtime-spec 1.2.0) that\n"
	"runs PROGRAM, an absolute path in the Nix store (nixpkgs buildContainer).\n"
	"\n"
	"  -o, --output BUNDLE   the bundle directory (must not exist unless --force)\n"
	"  --closure FILE        the closure (forms of build-layered); default: found by\n"
	"                        scanning the store from the store paths the args name\n"
	"  --store-dir DIR       default /nix/store\n"
	"  --store-mode copy|hardlink|bind   how rootfs gets the store (default copy)\n"
	"  --env K=V             environment (repeatable; PATH defaults to runc's)\n"
	"  --cwd DIR             working directory (default /)\n"
	"  --hostname NAME       container hostname\n"
	"  --mount SPEC          type=bind,source=/host,destination=/data,options=ro\n"
	"                        (repeatable, mounted in order after the defaults)\n"
	"  --readonly            read-only root filesystem\n"
	"  --rootless            user namespace mapping the invoking user to root\n"
	"  --terminal            process.terminal = true\n"
	"  --os OS, --arch ARCH  accepted and ignored (deprecated in nixpkgs)\n"
	"  --force, --json, -q/--quiet, -h/--help\n";

static int cmd_container(int argc, char **argv)
{
	enum { C_CLOSURE = 2000, C_STORE_DIR, C_MODE, C_ENV, C_CWD, C_HOST, C_MOUNT, C_RO, C_ROOTLESS,
	       C_TERM, C_OS, C_ARCH, C_FORCE, C_JSON };
	static const struct option longopts[] = {
		{"output", required_argument, 0, 'o'}, {"closure", required_argument, 0, C_CLOSURE},
		{"store-dir", required_argument, 0, C_STORE_DIR}, {"store-mode", required_argument, 0, C_MODE},
		{"env", required_argument, 0, C_ENV}, {"cwd", required_argument, 0, C_CWD},
		{"hostname", required_argument, 0, C_HOST}, {"mount", required_argument, 0, C_MOUNT},
		{"readonly", no_argument, 0, C_RO}, {"rootless", no_argument, 0, C_ROOTLESS},
		{"terminal", no_argument, 0, C_TERM}, {"os", required_argument, 0, C_OS},
		{"arch", required_argument, 0, C_ARCH}, {"force", no_argument, 0, C_FORCE},
		{"json", no_argument, 0, C_JSON}, {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0}};
	const char *cmd = "container";
	strata_bundle_options o = {0};
	cleanup_free char **env = NULL, **mounts = NULL;
	bool json = false, quiet = false;
	int c;
	optind = 1;
	/* "+": stop at the first non-option, so PROGRAM's own options are kept. */
	while ((c = getopt_long(argc, argv, "+o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': o.output = optarg; break;
		case C_CLOSURE: o.closure_file = optarg; break;
		case C_STORE_DIR: o.store_dir = optarg; break;
		case C_MODE:
			if (!strcmp(optarg, "copy")) o.store_mode = STRATA_STORE_COPY;
			else if (!strcmp(optarg, "hardlink")) o.store_mode = STRATA_STORE_HARDLINK;
			else if (!strcmp(optarg, "bind")) o.store_mode = STRATA_STORE_BIND;
			else return usage_error(cmd, "--store-mode must be copy, hardlink or bind, not '%s'", optarg);
			break;
		case C_ENV:
			env = strata_xrealloc(env, (o.nenv + 1) * sizeof *env);
			env[o.nenv++] = optarg;
			break;
		case C_CWD: o.cwd = optarg; break;
		case C_HOST: o.hostname = optarg; break;
		case C_MOUNT:
			mounts = strata_xrealloc(mounts, (o.nmounts + 1) * sizeof *mounts);
			mounts[o.nmounts++] = optarg;
			break;
		case C_RO: o.readonly = true; break;
		case C_ROOTLESS: o.rootless = true; break;
		case C_TERM: o.terminal = true; break;
		case C_OS:
		case C_ARCH:
			fprintf(stderr, "strata: notice: --%s is deprecated and ignored (runtime-spec 1.0+ has no platform)\n",
				c == C_OS ? "os" : "arch");
			break;
		case C_FORCE: o.force = true; break;
		case C_JSON: json = true; break;
		case 'q': quiet = true; break;
		case 'h': fputs(container_help, stdout); return 0;
		default: return usage_error(cmd, "%s", "invalid option");
		}
	}
	if (o.output == NULL)
		return usage_error(cmd, "%s", "missing -o BUNDLE");
	if (optind >= argc)
		return usage_error(cmd, "%s", "missing PROGRAM (after --)");
	o.args = argv + optind;
	o.nargs = (size_t)(argc - optind);
	o.env = env;
	o.mounts = mounts;
	json_t *summary = NULL;
	strata_error err = STRATA_ERROR_INIT;
	if (strata_build_bundle(&o, &summary, &err) < 0) {
		int code = fail_error(&err);
		strata_error_clear(&err);
		return code;
	}
	return report(summary, json, quiet, "wrote bundle %s (%zu store paths)", o.output,
		      json_array_size(json_object_get(summary, "store_paths")));
}

static const char main_help[] =
	"Usage: strata COMMAND [OPTIONS]\n"
	"Builds OCI container images from Nix store paths.\n"
	"\n"
	"Commands:\n"
	"  build-layered   store paths (+ references) -> layered OCI image\n"
	"  convert         Docker archive (docker save, dockerTools) -> OCI image\n"
	"  container       OCI runtime bundle (config.json + rootfs) running a store program\n"
	"  verify          check every blob, digest and diff_id of an OCI layout\n"
	"\n"
	"`strata COMMAND --help` describes each. `strata --version`.\n";

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage_error(NULL, "%s", "missing command");
	install_signals();
	strata_cancel_watch(&interrupted);
	/* libarchive encodes tar names through LC_CTYPE: pin it so the layer
	 * bytes never depend on the user's locale. */
	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
		setlocale(LC_CTYPE, "C");
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		fputs(main_help, stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		printf("strata %s\n", STRATA_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "build-layered"))
		return cmd_build_layered(argc - 1, argv + 1);
	if (!strcmp(cmd, "convert"))
		return cmd_convert(argc - 1, argv + 1);
	if (!strcmp(cmd, "container"))
		return cmd_container(argc - 1, argv + 1);
	if (!strcmp(cmd, "verify"))
		return cmd_verify(argc - 1, argv + 1);
	return usage_error(NULL, "unknown command '%s'", cmd);
}
