/* strata push: an image into a registry. */
#define _GNU_SOURCE
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
	"Usage: strata push [OPTIONS] SRC docker://HOST[:PORT]/REPO[:TAG|@DIGEST]\n"
	"Pushes an OCI image (a layout DIR or DIR:TAG, or an oci-archive) with the OCI\n"
	"distribution API: every blob is checked first, concurrently; only the missing\n"
	"ones are uploaded (checked against their digest before any byte leaves), then\n"
	"the manifest by digest, then the tag. Plain HTTP for localhost and 127.0.0.1.\n"
	"\n"
	"  --creds USER:PASS     basic auth, or exchanged for a bearer token when the\n"
	"                        registry asks (also $STRATA_REGISTRY_CREDS); without\n"
	"                        it, credentials are looked up as podman and Docker\n"
	"                        keep them: --authfile, $REGISTRY_AUTH_FILE or\n"
	"                        containers/auth.json, then ~/.docker/config.json\n"
	"                        (auths, credHelpers, credsStore: docker-credential-*)\n"
	"  --authfile FILE       the auth.json to look in first\n"
	"  --no-creds            anonymous: no credentials, no auth files\n"
	"  --mount-from REPO     mount blobs from REPO of the same registry instead of\n"
	"                        uploading them\n"
	"  --tls-verify=false    do not check the registry's certificate\n"
	"  --cert-dir DIR        ca.crt (and client.cert/client.key) as Docker's certs.d\n"
	"  --plain-http          http for other hosts than localhost\n"
	"  --jobs N              concurrent uploads (default 4)\n"
	"  --json                the summary as JSON (every blob: exists, mounted, uploaded)\n"
	"  -q, --quiet, -h, --help\n";

static const char cmd[] = "push";

enum { OPT_CREDS = 1, OPT_AUTHFILE, OPT_NOCREDS, OPT_MOUNT, OPT_TLS, OPT_CERT, OPT_PLAIN, OPT_JOBS, OPT_JSON };

static int job(strata_pool *pool, void *opts, json_t **summary, strata_error *err)
{
	(void)pool;
	return strata_push(opts, summary, err);
}

int cmd_push(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"creds", required_argument, 0, OPT_CREDS}, {"authfile", required_argument, 0, OPT_AUTHFILE},
		{"no-creds", no_argument, 0, OPT_NOCREDS}, {"mount-from", required_argument, 0, OPT_MOUNT},
		{"tls-verify", required_argument, 0, OPT_TLS}, {"cert-dir", required_argument, 0, OPT_CERT},
		{"plain-http", no_argument, 0, OPT_PLAIN}, {"jobs", required_argument, 0, OPT_JOBS},
		{"json", no_argument, 0, OPT_JSON}, {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0}};
	strata_push_options o = {.cancel = &cli_cancel, .creds = getenv("STRATA_REGISTRY_CREDS")};
	bool json = false, quiet = false, creds_given = false;
	long jobs = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(help, stdout); return 0;
		case 'q': quiet = true; break;
		case OPT_CREDS: o.creds = optarg, creds_given = true; break;
		case OPT_AUTHFILE: o.auth_file = optarg; break;
		case OPT_NOCREDS: o.no_auth_files = true; break;
		case OPT_MOUNT: o.mount_from = optarg; break;
		case OPT_TLS:
			if (strcmp(optarg, "true") && strcmp(optarg, "false"))
				return cli_usage(cmd, "--tls-verify must be true or false, not '%s'", optarg);
			o.tls_verify_off = !strcmp(optarg, "false");
			break;
		case OPT_CERT: o.cert_dir = optarg; break;
		case OPT_PLAIN: o.plain_http = true; break;
		case OPT_JOBS:
			if (cli_parse_long(cmd, "--jobs", optarg, 1, 64, &jobs))
				return 2;
			o.jobs = (int)jobs;
			break;
		case OPT_JSON: json = true; break;
		default: return cli_usage(cmd, "%s", "invalid option");
		}
	}
	if (argc - optind != 2)
		return cli_usage(cmd, "%s", "expected SRC and docker://HOST/REPO[:TAG]");
	if (o.no_auth_files && (creds_given || o.auth_file))
		return cli_usage(cmd, "%s", "--no-creds excludes --creds and --authfile");
	if (o.no_auth_files)
		o.creds = NULL; /* $STRATA_REGISTRY_CREDS too */
	if (o.creds && !strchr(o.creds, ':'))
		return cli_usage(cmd, "%s", "--creds must be USER:PASS");
	o.source = argv[optind];
	o.dest = argv[optind + 1];
	json_t *summary = NULL;
	int code = cli_run_on_pool(job, &o, 1, true, &summary);
	if (code != 0)
		return code;
	return cli_report(summary, json, quiet, "pushed %s (manifest %s; %lld blobs uploaded, %lld existed, %lld mounted)",
			  o.dest, json_string_value(json_object_get(summary, "manifest")),
			  (long long)json_integer_value(json_object_get(summary, "uploaded")),
			  (long long)json_integer_value(json_object_get(summary, "exists")),
			  (long long)json_integer_value(json_object_get(summary, "mounted")));
}
