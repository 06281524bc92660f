/* strata build-layered: nixpkgs' buildLayeredImage. */
#define _GNU_SOURCE
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
	"Usage: strata build-layered [OPTIONS] -o OUT\n"
	"Builds a layered OCI image from Nix store paths (nixpkgs buildLayeredImage).\n"
	"\n"
	"Input (one of):\n"
	"  --closure FILE        exportReferencesGraph JSON (bare or {\"key\": [...]}),\n"
	"                        `nix path-info --json --recursive` output, or a text\n"
	"                        file of store paths (references found by scanning)\n"
	"  --conf FILE           the conf.json nixpkgs passes to stream_layered_image.py\n"
	"                        (it fixes the layers: not with --root, --contents,\n"
	"                        --layering or --max-layers)\n"
	"  --root PATH           image roots, when the closure holds more (repeatable)\n"
	"  --contents PATH       link PATH's top-level entries into / (repeatable)\n"
	"Image (these win over conf.json's):\n"
	"  --config FILE         runtime config JSON (Cmd, Entrypoint, Env, WorkingDir, ...)\n"
	"  --name NAME, --tag TAG  (default tag: derived from a hash of the image)\n"
	"  --created TIME        RFC 3339, epoch or 'now' (default SOURCE_DATE_EPOCH, else\n"
	"                        1970-01-01T00:00:01Z)\n"
	"  --mtime TIME          file mtime in layers (default 1)\n"
	"  --uid N --gid N --uname S --gname S   file owners (default 0/0/root/root)\n"
	"  --architecture ARCH   GOARCH name (default: this machine)\n"
	"  --store-dir DIR       default " STRATA_DEFAULT_STORE_DIR "\n"
	"Layers:\n"
	"  --layering auto|popularity   default auto (nixpkgs' size-based auto-layer)\n"
	"  --max-layers N        default 100, one reserved for the customisation layer\n"
	"  --compress gzip|zstd|none    default gzip\n"
	"  --level N             gzip 1-12 (default 6), zstd 1-19 (default 3)\n"
	"Output:\n"
	"  -o, --output OUT      the image (must not exist unless --force)\n"
	"  --format directory|tarball|docker-archive\n"
	"                        OCI layout directory (default), oci-archive tar, or a\n"
	"                        Docker archive for docker load (uncompressed layers; -o -\n"
	"                        writes it to standard output)\n"
	"  --force               replace an existing OUT (only a file or an image layout;\n"
	"                        never an input of the run, see README)\n"
	"  --threads N           default: physical cores\n"
	"  --json                print a summary as JSON on stdout\n"
	"  -q, --quiet           no progress line\n"
	"  -h, --help\n";

enum {
	OPT_CLOSURE = 1, OPT_CONF, OPT_ROOT, OPT_CONTENTS, OPT_CONFIG, OPT_NAME, OPT_TAG, OPT_CREATED, OPT_MTIME,
	OPT_UID, OPT_GID, OPT_UNAME, OPT_GNAME, OPT_ARCH, OPT_STORE_DIR, OPT_LAYERING, OPT_MAX_LAYERS,
};

static const struct option longopts[] = {
	{"closure", required_argument, 0, OPT_CLOSURE}, {"conf", required_argument, 0, OPT_CONF},
	{"root", required_argument, 0, OPT_ROOT}, {"contents", required_argument, 0, OPT_CONTENTS},
	{"config", required_argument, 0, OPT_CONFIG}, {"name", required_argument, 0, OPT_NAME},
	{"tag", required_argument, 0, OPT_TAG}, {"created", required_argument, 0, OPT_CREATED},
	{"mtime", required_argument, 0, OPT_MTIME}, {"uid", required_argument, 0, OPT_UID},
	{"gid", required_argument, 0, OPT_GID}, {"uname", required_argument, 0, OPT_UNAME},
	{"gname", required_argument, 0, OPT_GNAME}, {"architecture", required_argument, 0, OPT_ARCH},
	{"store-dir", required_argument, 0, OPT_STORE_DIR}, {"layering", required_argument, 0, OPT_LAYERING},
	{"max-layers", required_argument, 0, OPT_MAX_LAYERS}, CLI_COMMON_LONGOPTS, {0, 0, 0, 0}};

static const char cmd[] = "build-layered";

/* One option; 0, or the exit code of a usage error. */
static int option(int c, char *arg, strata_layered_options *o, char ***roots, char ***contents)
{
	long v;
	switch (c) {
	case OPT_CLOSURE: o->closure_file = arg; break;
	case OPT_CONF: o->conf_file = arg; break;
	case OPT_ROOT: cli_push(roots, &o->nroots, arg); break;
	case OPT_CONTENTS: cli_push(contents, &o->ncontents, arg); break;
	case OPT_CONFIG: o->config_file = arg; break;
	case OPT_NAME: o->name = arg; break;
	case OPT_TAG: o->tag = arg; break;
	case OPT_CREATED: o->created = arg; break;
	case OPT_MTIME: o->mtime = arg; break;
	case OPT_UID:
	case OPT_GID:
		if (cli_parse_long(cmd, c == OPT_UID ? "--uid" : "--gid", arg, 0, STRATA_MAX_ID, &v))
			return 2;
		*(c == OPT_UID ? &o->uid : &o->gid) = v;
		break;
	case OPT_UNAME: o->uname = arg; break;
	case OPT_GNAME: o->gname = arg; break;
	case OPT_ARCH: o->architecture = arg; break;
	case OPT_STORE_DIR: o->store_dir = arg; break;
	case OPT_LAYERING:
		if (!strcmp(arg, "auto"))
			o->layering = STRATA_LAYERING_AUTO;
		else if (!strcmp(arg, "popularity"))
			o->layering = STRATA_LAYERING_POPULARITY;
		else
			return cli_usage(cmd, "--layering must be auto or popularity, not '%s'", arg);
		break;
	case OPT_MAX_LAYERS: return cli_parse_long(cmd, "--max-layers", arg, 2, 10000, &o->max_layers);
	default: return cli_usage(cmd, "%s", "invalid option");
	}
	return 0;
}

/* What conf.json fixes cannot be given with it: said with both flags. */
static int check_combinations(const strata_layered_options *o)
{
	static const char *const fixed[] = {"--root", "--contents", "--layering", "--max-layers", "--closure"};
	bool given[] = {o->nroots > 0, o->ncontents > 0, o->layering != STRATA_LAYERING_DEFAULT, o->max_layers != 0,
			o->closure_file != NULL};
	for (size_t i = 0; o->conf_file && i < sizeof given / sizeof *given; i++)
		if (given[i])
			return cli_usage(cmd, "--conf and %s cannot be used together (conf.json fixes the layers)", fixed[i]);
	if (!o->conf_file && !o->closure_file)
		return cli_usage(cmd, "%s", "no input: give --closure FILE (or --conf FILE)");
	return 0;
}

static int job(strata_pool *pool, void *opts, json_t **summary, strata_error *err)
{
	return strata_build_layered(pool, opts, summary, err);
}

int cmd_build_layered(int argc, char **argv)
{
	strata_layered_options o = {.uid = -1, .gid = -1, .cancel = &cli_cancel};
	cli_common co = {0};
	char **roots = NULL, **contents = NULL;
	int c, code = 0;
	optind = 1;
	while (code == 0 && (c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(help, stdout);
			goto out;
		}
		int k = cli_common_option(cmd, c, optarg, &co);
		code = k == 2 ? 2 : k == 1 ? 0 : option(c, optarg, &o, &roots, &contents);
	}
	if (code == 0 && optind < argc)
		code = cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	if (code == 0)
		code = cli_common_check(cmd, &co);
	if (code == 0)
		code = cli_docker_archive_check(cmd, &co);
	if (code == 0)
		code = check_combinations(&o);
	if (code != 0)
		goto out;
	o.roots = roots;
	o.contents = contents;
	o.output = co.output;
	o.format = co.format;
	o.force = co.force;
	o.compress = co.compress;
	o.level = co.level;
	cli_progress(co.quiet, &o.progress, &o.progress_arg);
	json_t *summary = NULL;
	if ((code = cli_run_on_pool(job, &o, co.threads, co.quiet, &summary)) != 0)
		goto out;
	size_t nlayers = json_array_size(json_object_get(summary, "layers"));
	if (o.format == STRATA_FORMAT_DOCKER_ARCHIVE)
		code = cli_report(summary, co.json, co.quiet, "wrote %s (%zu layers, image ID %s)",
				  strcmp(o.output, "-") ? o.output : "a docker-archive to standard output", nlayers,
				  json_string_value(json_object_get(summary, "config")));
	else
		code = cli_report(summary, co.json, co.quiet, "wrote %s (%zu layers, tag %s, manifest %s)", o.output,
				  nlayers, json_string_value(json_object_get(summary, "tag")),
				  json_string_value(json_object_get(summary, "manifest")));
out:
	free(roots);
	free(contents);
	return code;
}
