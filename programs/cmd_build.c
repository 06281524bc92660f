/* strata build-layered (nixpkgs' buildLayeredImage) and strata build
 * (buildImage): one option set, the plan differs. */
#define _GNU_SOURCE
#include "cli_push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE_AND_CUSTOM_HELP \
	"Base image:\n" \
	"  --from-image FILE     a Docker archive (docker save, nixpkgs; plain or gzip,\n" \
	"                        zstd, xz, bzip2): its layers come first, its diff_ids\n" \
	"                        checked; its config inherited as by a Dockerfile's FROM\n" \
	"  --from-image-name NAME, --from-image-tag TAG   pick one of several images\n" \
	"  --base-config all|env what to keep of the base's config: all (default) or only\n" \
	"                        Env, as nixpkgs\n" \
	"Customisation (the top layer):\n" \
	"  --extra-commands FILE run FILE with SHELL -e in a temporary copy of the\n" \
	"                        layer's root before it is archived, as you\n" \
	"  --fakeroot-commands FILE   the same under fakeroot(1) (Debian package\n" \
	"                        fakeroot): its chown/chmod end up in the layer\n" \
	"  --shell SHELL         for both (default /bin/sh)\n" \
	"  --perms FILE          JSON rules setting mode/uid/gid/uname/gname of members by\n" \
	"                        path or regex; a rule that matches nothing is an error\n" \
	"  --no-store-paths      leave the closure out (hosts that mount /nix/store)\n" \
	"  --nix-db              a Nix database registering the closure (nix/var/nix/db;\n" \
	"                        needs nix-store and sqlite3: Debian nix-bin, sqlite3)\n"

static const char help_layered[] =
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
	"  --config-json TEXT    the same given as text\n"
	"  --name NAME, --tag TAG  (default tag: derived from a hash of the image)\n"
	"  --created TIME        RFC 3339, epoch or 'now' (default SOURCE_DATE_EPOCH, else\n"
	"                        1970-01-01T00:00:01Z)\n"
	"  --mtime TIME          file mtime in layers (default 1)\n"
	"  --uid N --gid N --uname S --gname S   file owners (default 0/0/root/root)\n"
	"  --architecture ARCH   GOARCH name (default: this machine)\n"
	"  --store-dir DIR       default " STRATA_DEFAULT_STORE_DIR "\n"
BASE_AND_CUSTOM_HELP
	"Layers:\n"
	"  --layering auto|popularity   default auto (nixpkgs' size-based auto-layer)\n"
	"  --max-layers N        default 100, one for the customisation layer and one per\n"
	"                        base image layer\n"
	"  --compress gzip|zstd|none    default gzip\n"
	"  --level N             gzip 1-12 (default 6), zstd 1-19 (default 3)\n"
	"  --gzip-single-member  each gzip layer one member (zlib, levels 1-9), for\n"
	"                        readers that stop after the first; by default a layer\n"
	"                        is 1 MiB members, valid gzip (RFC 1952 2.2) that Python's\n"
	"                        zlib.decompress and flate2's GzDecoder read only part of\n"
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
	"  --cache DIR           a layer cache (also $STRATA_CACHE_DIR): store layers whose\n"
	"                        paths and options were built before are taken from it\n"
	"                        (checked) instead of being read and compressed (OCI outputs)\n"
	"  --cache-max-size SIZE evict least recently used entries past SIZE (K, M, G)\n"
	"  -h, --help\n";

static const char help_build[] =
	"Usage: strata build [OPTIONS] -o OUT\n"
	"Builds a one-layer OCI image (nixpkgs buildImage): the entries of each\n"
	"--copy-to-root directory copied into /, and their closure under the store.\n"
	"\n"
	"Input:\n"
	"  --copy-to-root PATH   copied into / in order (rsync -a: directories merged, a\n"
	"                        later path wins); repeatable (--contents: the same)\n"
	"  --keep-contents-dirlinks  keep symlinks to directories as symlinks (default:\n"
	"                        follow those into the store, as nixpkgs' rsync -k)\n"
	"  --closure FILE        the closure (any form build-layered takes); default: found\n"
	"                        by scanning the store from the copy-to-root paths and the\n"
	"                        store paths the config names\n"
	"  --root PATH           a further store path the image must hold (repeatable)\n"
	"Image:\n"
	"  --config FILE         runtime config JSON (Cmd, Entrypoint, Env, WorkingDir, ...)\n"
	"  --config-json TEXT    the same given as text\n"
	"  --name NAME, --tag TAG  (default tag: derived from a hash of the image)\n"
	"  --created TIME        RFC 3339, epoch or 'now' (default SOURCE_DATE_EPOCH, else\n"
	"                        1970-01-01T00:00:01Z)\n"
	"  --mtime TIME          file mtime in the layer (default 1)\n"
	"  --uid N --gid N --uname S --gname S   file owners (default 0/0/root/root)\n"
	"  --architecture ARCH   GOARCH name (default: this machine)\n"
	"  --store-dir DIR       default " STRATA_DEFAULT_STORE_DIR "\n"
	BASE_AND_CUSTOM_HELP
	"Layer and output:\n"
	"  --compress gzip|zstd|none    default gzip\n"
	"  --level N             gzip 1-12 (default 6), zstd 1-19 (default 3)\n"
	"  --gzip-single-member  each gzip layer one member (zlib, levels 1-9), for\n"
	"                        readers that stop after the first; by default a layer\n"
	"                        is 1 MiB members, valid gzip (RFC 1952 2.2) that Python's\n"
	"                        zlib.decompress and flate2's GzDecoder read only part of\n"
	"  -o, --output OUT      the image (must not exist unless --force)\n"
	"  --format directory|tarball|docker-archive   as build-layered (-o - for a\n"
	"                        docker-archive on standard output)\n"
	"  --force, --threads N, --json, -q/--quiet, -h/--help   as build-layered\n";

static const char help_layer[] =
	"Usage: strata layer --closure FILE [--path P]... [--layer DIR]... [OPTIONS] -o DIR\n"
	"Makes one store layer on its own: DIR gets its blob (named by its digest) and\n"
	"layer.json (digest, diff_id, sizes, media type, history, store paths), for\n"
	"images assembled from layers built apart (one Nix derivation per layer).\n"
	"The layer has the bytes build-layered gives the same paths in the same order.\n"
	"\n"
	"  --closure FILE        the closure (any form build-layered takes)\n"
	"  --path P              exactly these store paths, in this order (repeatable);\n"
	"                        default: every path of the closure (--root restricts it)\n"
	"                        but those of the --layer directories given\n"
	"  --compress, --level, --mtime, --uid, --gid, --uname, --gname, --perms,\n"
	"  --store-dir, --force, --threads, --json, -q   as build-layered\n";

static const char help_assemble[] =
	"Usage: strata assemble --layer DIR... [OPTIONS] -o OUT\n"
	"build-layered with its store layers made apart by strata layer: each DIR's\n"
	"blob is hard-linked (or copied) into the image after it was checked against\n"
	"its descriptor (size and SHA-256), nothing is recompressed; the image is the\n"
	"one build-layered makes of the same layers. Every build-layered option\n"
	"applies (--closure, --contents, --config, --name, --tag, ...): store paths of\n"
	"the closure that no DIR holds get layers of their own.\n";

static const char help_layering[] =
	"Usage: strata layering --closure FILE [OPTIONS] -o FILE\n"
	"Prints the store layers build-layered would make with the same options, as a\n"
	"JSON list of lists of store paths into FILE: what to give\n"
	"strata layer --path, one layer at a time.\n";

enum {
	OPT_CLOSURE = 1, OPT_CONF, OPT_ROOT, OPT_CONTENTS, OPT_CONFIG, OPT_NAME, OPT_TAG, OPT_CREATED, OPT_MTIME,
	OPT_UID, OPT_GID, OPT_UNAME, OPT_GNAME, OPT_ARCH, OPT_STORE_DIR, OPT_LAYERING, OPT_MAX_LAYERS,
	OPT_COPY_TO_ROOT, OPT_KEEP_DIRLINKS, OPT_FROM_IMAGE, OPT_FROM_NAME, OPT_FROM_TAG, OPT_BASE_CONFIG,
	OPT_EXTRA, OPT_FAKEROOT, OPT_SHELL, OPT_PERMS, OPT_NO_STORE_PATHS, OPT_NIX_DB, OPT_CONFIG_JSON, OPT_LAYER_DIR,
	OPT_PATH, OPT_CACHE, OPT_CACHE_MAX,
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
	{"max-layers", required_argument, 0, OPT_MAX_LAYERS}, {"copy-to-root", required_argument, 0, OPT_COPY_TO_ROOT},
	{"keep-contents-dirlinks", no_argument, 0, OPT_KEEP_DIRLINKS},
	{"from-image", required_argument, 0, OPT_FROM_IMAGE}, {"from-image-name", required_argument, 0, OPT_FROM_NAME},
	{"from-image-tag", required_argument, 0, OPT_FROM_TAG}, {"base-config", required_argument, 0, OPT_BASE_CONFIG},
	{"extra-commands", required_argument, 0, OPT_EXTRA}, {"fakeroot-commands", required_argument, 0, OPT_FAKEROOT},
	{"shell", required_argument, 0, OPT_SHELL}, {"perms", required_argument, 0, OPT_PERMS},
	{"no-store-paths", no_argument, 0, OPT_NO_STORE_PATHS}, {"nix-db", no_argument, 0, OPT_NIX_DB},
	{"config-json", required_argument, 0, OPT_CONFIG_JSON}, {"layer", required_argument, 0, OPT_LAYER_DIR},
	{"path", required_argument, 0, OPT_PATH}, {"cache", required_argument, 0, OPT_CACHE},
	{"cache-max-size", required_argument, 0, OPT_CACHE_MAX},
	CLI_COMMON_LONGOPTS, CLI_PUSH_DEST_LONGOPTS, {0, 0, 0, 0}};

/* Which verb is parsing: the flags that belong to the other one are
 * refused by name. */
typedef enum verb_kind { VERB_LAYERED, VERB_BUILD, VERB_LAYER, VERB_ASSEMBLE, VERB_LAYERING } verb_kind;

typedef struct verb {
	const char *cmd;
	verb_kind kind;
	bool one_layer;
	char **roots, **contents, **copy, **layer_dirs, **paths;
} verb;

/* One option; 0, or the exit code of a usage error. */
static int option(int c, char *arg, strata_layered_options *o, verb *vb)
{
	const char *cmd = vb->cmd;
	long v;
	switch (c) {
	case OPT_CLOSURE: o->closure_file = arg; break;
	case OPT_CONF: o->conf_file = arg; break;
	case OPT_ROOT: cli_push(&vb->roots, &o->nroots, arg); break;
	case OPT_CONTENTS:
	case OPT_COPY_TO_ROOT:
		/* buildImage's contents is the old name of copyToRoot. */
		if (vb->one_layer)
			cli_push(&vb->copy, &o->ncopy_to_root, arg);
		else if (c == OPT_CONTENTS)
			cli_push(&vb->contents, &o->ncontents, arg);
		else
			return cli_usage(cmd, "%s", "--copy-to-root is for strata build (build-layered: --contents)");
		break;
	case OPT_KEEP_DIRLINKS: o->keep_contents_dirlinks = true; break;
	case OPT_CONFIG: o->config_file = arg; break;
	case OPT_CONFIG_JSON: o->config_json = arg; break;
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
	case OPT_FROM_IMAGE: o->from_image = arg; break;
	case OPT_FROM_NAME: o->from_image_name = arg; break;
	case OPT_FROM_TAG: o->from_image_tag = arg; break;
	case OPT_BASE_CONFIG:
		if (strcmp(arg, "all") && strcmp(arg, "env"))
			return cli_usage(cmd, "--base-config must be all or env, not '%s'", arg);
		o->base_env_only = strcmp(arg, "env") == 0;
		break;
	case OPT_EXTRA: o->extra_commands = arg; break;
	case OPT_FAKEROOT: o->fakeroot_commands = arg; break;
	case OPT_SHELL: o->shell = arg; break;
	case OPT_PERMS: o->perms_file = arg; break;
	case OPT_NO_STORE_PATHS: o->no_store_paths = true; break;
	case OPT_NIX_DB: o->nix_db = true; break;
	case OPT_LAYER_DIR: cli_push(&vb->layer_dirs, &o->nlayer_dirs, arg); break;
	case OPT_CACHE: o->cache_dir = arg; break;
	case OPT_CACHE_MAX:
		if (cli_parse_size(cmd, "--cache-max-size", arg, &o->cache_max_size))
			return 2;
		break;
	case OPT_PATH:
		if (vb->kind != VERB_LAYER)
			return cli_usage(cmd, "%s", "--path is for strata layer");
		cli_push(&vb->paths, &o->nlayer_paths, arg);
		break;
	default: return cli_usage(cmd, "%s", "invalid option");
	}
	return 0;
}

/* What conf.json fixes cannot be given with it, and what one verb takes
 * the other does not: said with both flags. */
static int check_combinations(const strata_layered_options *o, const verb *vb)
{
	const char *cmd = vb->cmd;
	if (vb->kind == VERB_LAYER) {
		if (!o->closure_file)
			return cli_usage(cmd, "%s", "give --closure FILE (the closure the layer's paths are in)");
		return 0;
	}
	if (vb->kind == VERB_ASSEMBLE && o->nlayer_dirs == 0)
		return cli_usage(cmd, "%s", "give the layers: --layer DIR (made by strata layer), in order");
	if (vb->kind == VERB_ASSEMBLE || (vb->kind == VERB_LAYERED && o->nlayer_dirs && !o->conf_file && !o->closure_file))
		return 0;
	if (vb->one_layer) {
		static const char *const layered[] = {"--conf", "--layering", "--max-layers"};
		bool given[] = {o->conf_file != NULL, o->layering != STRATA_LAYERING_DEFAULT, o->max_layers != 0};
		for (size_t i = 0; i < sizeof given / sizeof *given; i++)
			if (given[i])
				return cli_usage(cmd, "%s is for build-layered (strata build makes one layer)", layered[i]);
		if (o->ncopy_to_root == 0 && o->closure_file == NULL && o->config_file == NULL && o->config_json == NULL &&
		    o->from_image == NULL)
			return cli_usage(cmd, "%s", "nothing to build: give --copy-to-root PATH (or --closure FILE)");
		return 0;
	}
	if (o->keep_contents_dirlinks)
		return cli_usage(cmd, "%s", "--keep-contents-dirlinks is for strata build");
	static const char *const fixed[] = {"--root", "--contents", "--layering", "--max-layers", "--closure",
					    "--from-image", "--extra-commands", "--fakeroot-commands", "--nix-db"};
	bool given[] = {o->nroots > 0, o->ncontents > 0, o->layering != STRATA_LAYERING_DEFAULT, o->max_layers != 0,
			o->closure_file != NULL, o->from_image != NULL, o->extra_commands != NULL,
			o->fakeroot_commands != NULL, o->nix_db};
	for (size_t i = 0; o->conf_file && i < sizeof given / sizeof *given; i++)
		if (given[i])
			return cli_usage(cmd, "--conf and %s cannot be used together (conf.json fixes the layers)", fixed[i]);
	if (!o->conf_file && !o->closure_file)
		return cli_usage(cmd, "%s", "no input: give --closure FILE (or --conf FILE)");
	return 0;
}

static int job_layered(strata_pool *pool, void *opts, json_t **summary, strata_error *err)
{
	return strata_build_layered(pool, opts, summary, err);
}

static int job_build(strata_pool *pool, void *opts, json_t **summary, strata_error *err)
{
	return strata_build_image(pool, opts, summary, err);
}

static int job_layer(strata_pool *pool, void *opts, json_t **summary, strata_error *err)
{
	return strata_build_layer(pool, opts, summary, err);
}

/* The layering as JSON, into a file or onto standard output. */
static int print_layering(const strata_layered_options *o)
{
	strata_error err = STRATA_ERROR_INIT;
	json_t *layers = NULL;
	if (strata_plan_layering(o, &layers, &err) < 0) {
		int code = cli_fail(&err);
		strata_error_clear(&err);
		return code;
	}
	bool to_stdout = o->output == NULL || !strcmp(o->output, "-");
	int rc = to_stdout ? json_dumpf(layers, stdout, JSON_INDENT(1)) : json_dump_file(layers, o->output, JSON_INDENT(1));
	if (to_stdout)
		putchar('\n');
	json_decref(layers);
	if (rc < 0)
		return cli_fail_msg("cannot write the layering");
	return 0;
}

static int run_verb(int argc, char **argv, verb *vb)
{
	strata_layered_options o = {.uid = -1, .gid = -1, .cancel = &cli_cancel};
	const char *env_cache = getenv("STRATA_CACHE_DIR");
	if (env_cache && *env_cache)
		o.cache_dir = env_cache;
	cli_common co = {0};
	cli_registry push;
	cli_push_init(&push);
	const char *cmd = vb->cmd;
	int c, code = 0;
	optind = 1;
	while (code == 0 && (c = getopt_long(argc, argv, ":o:qh", longopts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return cli_bad_option(cmd, c, argv);
		if (c == 'h') {
			fputs(vb->kind == VERB_BUILD ? help_build : vb->kind == VERB_LAYER ? help_layer
			      : vb->kind == VERB_ASSEMBLE ? help_assemble : vb->kind == VERB_LAYERING ? help_layering
											  : help_layered, stdout);
			if (vb->kind != VERB_LAYER && vb->kind != VERB_LAYERING)
				printf("\nPushing (as strata push):\n"
				       "  --push docker://HOST[:PORT]/REPO[:TAG]   push the image as it is built: each\n"
				       "                        layer uploads as soon as it is compressed; without -o\n"
				       "                        the layout is temporary (removed after the push)\n%s",
				       cli_push_help);
			return 0;
		}
		int k = cli_common_option(cmd, c, optarg, &co);
		if (k == 0)
			k = cli_push_option(cmd, c, optarg, &push);
		code = k == 2 ? 2 : k == 1 ? 0 : option(c, optarg, &o, vb);
	}
	if (code == 0 && optind < argc)
		code = cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	if (code == 0 && push.o.dest && (vb->kind == VERB_LAYER || vb->kind == VERB_LAYERING))
		code = cli_usage(cmd, "%s", "--push is for the verbs that make an image");
	if (code == 0)
		code = cli_push_check(cmd, &push, true);
	if (code == 0 && push.o.dest && co.format == STRATA_FORMAT_DOCKER_ARCHIVE)
		code = cli_usage(cmd, "%s", "--push needs an OCI output (--format directory or tarball)");
	co.output_optional = push.o.dest != NULL;
	if (code == 0)
		code = cli_common_check(cmd, &co);
	if (code == 0)
		code = cli_docker_archive_check(cmd, &co);
	if (code == 0)
		code = check_combinations(&o, vb);
	if (code != 0)
		return code;
	o.roots = vb->roots;
	o.contents = vb->contents;
	o.copy_to_root = vb->copy;
	o.output = co.output;
	o.format = co.format;
	o.force = co.force;
	o.compress = co.compress;
	o.level = co.level;
	o.gzip_single_member = co.gzip_single;
	o.layer_dirs = vb->layer_dirs;
	o.layer_paths = vb->paths;
	o.push = push.o.dest ? &push.o : NULL;
	if (vb->kind == VERB_LAYERING)
		return print_layering(&o);
	cli_progress(co.quiet, &o.progress, &o.progress_arg);
	json_t *summary = NULL;
	cli_job_fn fn = vb->kind == VERB_BUILD ? job_build : vb->kind == VERB_LAYER ? job_layer : job_layered;
	if ((code = cli_run_on_pool(fn, &o, co.threads, co.quiet, &summary)) != 0)
		return code;
	if (vb->kind == VERB_LAYER)
		return cli_report(summary, co.json, co.quiet, "wrote %s (layer %s, %lld store paths)", o.output,
				  json_string_value(json_object_get(summary, "digest")),
				  (long long)json_integer_value(json_object_get(summary, "store_paths")));
	size_t nlayers = json_array_size(json_object_get(summary, "layers"));
	if (o.format == STRATA_FORMAT_DOCKER_ARCHIVE)
		return cli_report(summary, co.json, co.quiet, "wrote %s (%zu layers, image ID %s)",
				  strcmp(o.output, "-") ? o.output : "a docker-archive to standard output", nlayers,
				  json_string_value(json_object_get(summary, "config")));
	if (o.push) {
		json_t *p = json_object_get(summary, "push");
		return cli_report(summary, co.json, co.quiet,
				  "%s%s%spushed %s (%zu layers, manifest %s; %lld blobs uploaded, %lld existed)",
				  o.output ? "wrote " : "", o.output ? o.output : "", o.output ? ", " : "", o.push->dest, nlayers, json_string_value(json_object_get(summary, "manifest")),
				  (long long)json_integer_value(json_object_get(p, "uploaded")),
				  (long long)json_integer_value(json_object_get(p, "exists")));
	}
	return cli_report(summary, co.json, co.quiet, "wrote %s (%zu layers, tag %s, manifest %s)", o.output, nlayers,
			  json_string_value(json_object_get(summary, "tag")),
			  json_string_value(json_object_get(summary, "manifest")));
}

static int run_and_free(int argc, char **argv, verb *vb)
{
	int code = run_verb(argc, argv, vb);
	free(vb->roots);
	free(vb->contents);
	free(vb->copy);
	free(vb->layer_dirs);
	free(vb->paths);
	return code;
}

int cmd_build_layered(int argc, char **argv)
{
	verb vb = {.cmd = "build-layered", .kind = VERB_LAYERED};
	return run_and_free(argc, argv, &vb);
}

int cmd_build(int argc, char **argv)
{
	verb vb = {.cmd = "build", .kind = VERB_BUILD, .one_layer = true};
	return run_and_free(argc, argv, &vb);
}

int cmd_layer(int argc, char **argv)
{
	verb vb = {.cmd = "layer", .kind = VERB_LAYER};
	return run_and_free(argc, argv, &vb);
}

int cmd_assemble(int argc, char **argv)
{
	verb vb = {.cmd = "assemble", .kind = VERB_ASSEMBLE};
	return run_and_free(argc, argv, &vb);
}

int cmd_layering(int argc, char **argv)
{
	verb vb = {.cmd = "layering", .kind = VERB_LAYERING};
	return run_and_free(argc, argv, &vb);
}
