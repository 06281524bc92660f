/* strata convert: nixpkgs' toOCIImage. */
#define _GNU_SOURCE
#include "cli_push.h"

#include <stdio.h>

static const char help[] =
	"Usage: strata convert [OPTIONS] ARCHIVE|- -o OUT\n"
	"Converts a Docker archive (docker save; dockerTools buildImage, buildLayeredImage,\n"
	"streamLayeredImage; Docker 25+), or an oci-archive (podman, buildah, skopeo\n"
	"save), to an OCI image in one streaming pass, recompressing every layer\n"
	"(nixpkgs toOCIImage). ARCHIVE may be plain or compressed with gzip, zstd, xz\n"
	"or bzip2 (decoded in-process; no other decoder is ever run); - is stdin.\n"
	"\n"
	"  -o, --output OUT      the image (must not exist unless --force)\n"
	"  --format directory|tarball   OCI layout directory (default) or oci-archive tar\n"
	"  --name NAME --tag TAG override the archive's RepoTags (single-image archives)\n"
	"  --compress gzip|zstd|none    default gzip; every layer is recompressed\n"
	"  --level N             gzip 1-12 (default 6), zstd 1-19 (default 3)\n"
	"  --gzip-single-member  each gzip layer one member (see build-layered --help)\n"
	"  --threads N           default: physical cores\n"
	"  --force, --json, -q/--quiet, -h/--help\n";

enum { OPT_NAME = 1, OPT_TAG };

static const struct option longopts[] = {{"name", required_argument, 0, OPT_NAME},
					 {"tag", required_argument, 0, OPT_TAG}, CLI_COMMON_LONGOPTS,
					 CLI_PUSH_DEST_LONGOPTS, {0, 0, 0, 0}};

static int job(strata_pool *pool, void *opts, json_t **summary, strata_error *err)
{
	return strata_convert(pool, opts, summary, err);
}

int cmd_convert(int argc, char **argv)
{
	static const char cmd[] = "convert";
	strata_convert_options o = {.cancel = &cli_cancel};
	cli_common co = {0};
	cli_registry push;
	cli_push_init(&push);
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:qh", longopts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return cli_bad_option(cmd, c, argv);
		if (c == 'h') {
			printf("%s\nPushing (as strata push):\n"
			       "  --push docker://HOST[:PORT]/REPO[:TAG]   push the image (one) as it is converted;\n"
			       "                        without -o the layout is temporary\n%s",
			       help, cli_push_help);
			return 0;
		}
		int k = cli_common_option(cmd, c, optarg, &co);
		if (k == 0)
			k = cli_push_option(cmd, c, optarg, &push);
		if (k == 2)
			return 2;
		if (k == 1)
			continue;
		if (c == OPT_NAME)
			o.name = optarg;
		else if (c == OPT_TAG)
			o.tag = optarg;
		else
			return cli_usage(cmd, "%s", "invalid option");
	}
	int code = cli_push_check(cmd, &push, true);
	co.output_optional = push.o.dest != NULL;
	if (code == 0)
		code = cli_common_check(cmd, &co);
	if (code != 0)
		return code;
	if (optind != argc - 1)
		return cli_usage(cmd, "%s", "expected exactly one ARCHIVE (or - for stdin)");
	o.input = argv[optind];
	o.output = co.output;
	o.format = co.format;
	o.force = co.force;
	o.compress = co.compress;
	o.level = co.level;
	o.gzip_single_member = co.gzip_single;
	o.push = push.o.dest ? &push.o : NULL;
	cli_progress(co.quiet, &o.progress, &o.progress_arg);
	json_t *summary = NULL;
	if ((code = cli_run_on_pool(job, &o, co.threads, co.quiet, &summary)) != 0)
		return code;
	if (o.push)
		return cli_report(summary, co.json, co.quiet, "%s%s%spushed %s (manifest %s; %lld blobs uploaded, %lld existed)",
				  o.output ? "wrote " : "", o.output ? o.output : "", o.output ? ", " : "", o.push->dest,
				  json_string_value(json_object_get(json_object_get(summary, "push"), "manifest")),
				  (long long)json_integer_value(json_object_get(json_object_get(summary, "push"), "uploaded")),
				  (long long)json_integer_value(json_object_get(json_object_get(summary, "push"), "exists")));
	return cli_report(summary, co.json, co.quiet, "wrote %s (%zu images)", o.output,
			  json_array_size(json_object_get(summary, "images")));
}
