/* strata stream-layered: nixpkgs' stream_layered_image.py, with its
 * interface, so that streamLayeredImage can run strata in its place. */
#define _GNU_SOURCE
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
	"Usage: strata stream-layered [--repo_tag TAG | -t TAG] [OPTIONS] CONF\n"
	"Writes the Docker archive of nixpkgs' conf.json CONF to standard output, byte for\n"
	"byte what nixpkgs' stream_layered_image.py writes (same layers, image ID and\n"
	"manifest), for `docker load`, `skopeo copy docker-archive:/dev/stdin ...` or pigz.\n"
	"\n"
	"  -t, --repo_tag TAG    the image's RepoTags entry (default: CONF's repo_tag)\n"
	"  --threads N           default: physical cores\n"
	"  --cache DIR           a layer cache (also $STRATA_CACHE_DIR): layers whose digests\n"
	"                        are known are made once instead of twice\n"
	"  -q, --quiet           nothing on standard error but errors\n"
	"  -h, --help\n"
	"\n"
	"Layers are made twice, as the script makes them: hashed in parallel first, then\n"
	"streamed in order; nothing is written to disk. A compressed from_image (base\n"
	"image) is decompressed into an unlinked temporary file in $TMPDIR (default /tmp).\n";

static const struct option longopts[] = {{"repo_tag", required_argument, 0, 't'},
					 {"threads", required_argument, 0, CLI_OPT_THREADS},
					 {"cache", required_argument, 0, 'C'},
					 {"quiet", no_argument, 0, 'q'},
					 {"help", no_argument, 0, 'h'},
					 {0, 0, 0, 0}};

static const char cmd[] = "stream-layered";

static int job(strata_pool *pool, void *opts, json_t **summary, strata_error *err)
{
	return strata_build_layered(pool, opts, summary, err);
}

int cmd_stream_layered(int argc, char **argv)
{
	strata_layered_options o = {.uid = -1, .gid = -1, .output = "-", .format = STRATA_FORMAT_DOCKER_ARCHIVE,
				    .compress = STRATA_COMPRESS_NONE, .cancel = &cli_cancel};
	cli_common co = {0};
	const char *env_cache = getenv("STRATA_CACHE_DIR");
	if (env_cache && *env_cache)
		o.cache_dir = env_cache;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":t:qh", longopts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return cli_bad_option(cmd, c, argv);
		switch (c) {
		case 'C':
			o.cache_dir = optarg;
			break;
		case 'h':
			fputs(help, stdout);
			return 0;
		case 't':
			o.repo_tag = optarg;
			break;
		case 'q':
		case CLI_OPT_THREADS:
			if (cli_common_option(cmd, c, optarg, &co) == 2)
				return 2;
			break;
		default:
			return cli_usage(cmd, "%s", "invalid option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage(cmd, "%s", optind == argc ? "missing CONF (nixpkgs' conf.json)" : "too many arguments");
	if (isatty(STDOUT_FILENO))
		return cli_usage(cmd, "%s", "refusing to write an archive to a terminal (redirect standard output)");
	o.conf_file = argv[optind];
	cli_progress(co.quiet, &o.progress, &o.progress_arg);
	json_t *summary = NULL;
	int code = cli_run_on_pool(job, &o, co.threads, co.quiet, &summary);
	if (code != 0)
		return code;
	return cli_report(summary, false, co.quiet, "wrote a docker-archive to standard output (%zu layers, image ID %s)",
			  json_array_size(json_object_get(summary, "layers")),
			  json_string_value(json_object_get(summary, "config")));
}
