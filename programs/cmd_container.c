/* strata container: nixpkgs' buildContainer (mounts honoured). */
#define _GNU_SOURCE
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
	"Usage: strata container [OPTIONS] -o BUNDLE -- PROGRAM [ARG...]\n"
	"Makes an OCI runtime bundle (config.json + rootfs/, runtime-spec 1.0.2) that\n"
	"runs PROGRAM, an executable inside the Nix store (nixpkgs buildContainer).\n"
	"\n"
	"  -o, --output BUNDLE   the bundle directory (must not exist unless --force)\n"
	"  --closure FILE        the closure (forms of build-layered); default: found by\n"
	"                        scanning the store from the store paths the args name\n"
	"  --store-dir DIR       default " STRATA_DEFAULT_STORE_DIR "\n"
	"  --store-mode copy|hardlink|bind   how rootfs gets the store (default copy;\n"
	"                        copies keep their owner as root, else lose set-id bits)\n"
	"  --env K=V             environment (repeatable; PATH defaults to runc's)\n"
	"  --cwd DIR             working directory (default /)\n"
	"  --hostname NAME       container hostname\n"
	"  --oci-version V       the runtime-spec version config.json declares (default\n"
	"                        1.0.2: runc and crun as shipped accept it, and the\n"
	"                        bundle uses nothing newer; crun before 1.14 refuses 1.2.0)\n"
	"  --mount SPEC          type=bind,source=/host,destination=/data,options=ro\n"
	"                        (repeatable, mounted in order after the defaults)\n"
	"  --readonly            read-only root filesystem\n"
	"  --rootless            user namespace mapping the invoking user to root\n"
	"  --terminal            process.terminal = true\n"
	"  --os OS, --arch ARCH  accepted and ignored (deprecated in nixpkgs)\n"
	"  --force, --json, -q/--quiet, -h/--help\n";

enum { OPT_CLOSURE = 1, OPT_STORE_DIR, OPT_MODE, OPT_ENV, OPT_CWD, OPT_HOST, OPT_MOUNT, OPT_RO, OPT_ROOTLESS,
       OPT_TERM, OPT_OS, OPT_ARCH, OPT_OCI_VERSION };

static const struct option longopts[] = {
	{"output", required_argument, 0, 'o'}, {"closure", required_argument, 0, OPT_CLOSURE},
	{"store-dir", required_argument, 0, OPT_STORE_DIR}, {"store-mode", required_argument, 0, OPT_MODE},
	{"env", required_argument, 0, OPT_ENV}, {"cwd", required_argument, 0, OPT_CWD},
	{"hostname", required_argument, 0, OPT_HOST}, {"mount", required_argument, 0, OPT_MOUNT},
	{"readonly", no_argument, 0, OPT_RO}, {"rootless", no_argument, 0, OPT_ROOTLESS},
	{"terminal", no_argument, 0, OPT_TERM}, {"os", required_argument, 0, OPT_OS},
	{"arch", required_argument, 0, OPT_ARCH}, {"oci-version", required_argument, 0, OPT_OCI_VERSION},
	{"force", no_argument, 0, CLI_OPT_FORCE},
	{"json", no_argument, 0, CLI_OPT_JSON}, {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
	{0, 0, 0, 0}};

static const char cmd[] = "container";

static int option(int c, char *arg, strata_bundle_options *o, char ***env, char ***mounts)
{
	switch (c) {
	case OPT_CLOSURE: o->closure_file = arg; break;
	case OPT_STORE_DIR: o->store_dir = arg; break;
	case OPT_MODE:
		if (!strcmp(arg, "copy"))
			o->store_mode = STRATA_STORE_COPY;
		else if (!strcmp(arg, "hardlink"))
			o->store_mode = STRATA_STORE_HARDLINK;
		else if (!strcmp(arg, "bind"))
			o->store_mode = STRATA_STORE_BIND;
		else
			return cli_usage(cmd, "--store-mode must be copy, hardlink or bind, not '%s'", arg);
		break;
	case OPT_ENV: cli_push(env, &o->nenv, arg); break;
	case OPT_CWD: o->cwd = arg; break;
	case OPT_HOST: o->hostname = arg; break;
	case OPT_OCI_VERSION: o->oci_version = arg; break;
	case OPT_MOUNT: cli_push(mounts, &o->nmounts, arg); break;
	case OPT_RO: o->readonly = true; break;
	case OPT_ROOTLESS: o->rootless = true; break;
	case OPT_TERM: o->terminal = true; break;
	case OPT_OS:
	case OPT_ARCH:
		fprintf(stderr, "strata: notice: --%s is deprecated and ignored (runtime-spec 1.0+ has no platform)\n",
			c == OPT_OS ? "os" : "arch");
		break;
	default: return cli_usage(cmd, "%s", "invalid option");
	}
	return 0;
}

int cmd_container(int argc, char **argv)
{
	strata_bundle_options o = {.cancel = &cli_cancel};
	cli_common co = {0};
	char **env = NULL, **mounts = NULL;
	int c, code = 0;
	optind = 1;
	/* "+": stop at the first non-option, so PROGRAM's own options are kept. */
	while (code == 0 && (c = getopt_long(argc, argv, "+:o:qh", longopts, NULL)) != -1) {
		if (c == '?' || c == ':') {
			code = cli_bad_option(cmd, c, argv);
			goto out;
		}
		if (c == 'h') {
			fputs(help, stdout);
			goto out;
		}
		int k = cli_common_option(cmd, c, optarg, &co);
		code = k == 2 ? 2 : k == 1 ? 0 : option(c, optarg, &o, &env, &mounts);
	}
	if (code == 0 && co.output == NULL)
		code = cli_usage(cmd, "%s", "missing -o BUNDLE");
	if (code == 0 && optind >= argc)
		code = cli_usage(cmd, "%s", "missing PROGRAM (after --)");
	if (code != 0)
		goto out;
	o.output = co.output;
	o.force = co.force;
	o.args = argv + optind;
	o.nargs = (size_t)(argc - optind);
	o.env = env;
	o.mounts = mounts;
	json_t *summary = NULL;
	strata_error err = STRATA_ERROR_INIT;
	if (strata_bundle_build(&o, &summary, &err) < 0) {
		code = cli_fail(&err);
		strata_error_clear(&err);
		goto out;
	}
	code = cli_report(summary, co.json, co.quiet, "wrote bundle %s (%zu store paths)", o.output,
			  json_array_size(json_object_get(summary, "store_paths")));
out:
	free(env);
	free(mounts);
	return code;
}
