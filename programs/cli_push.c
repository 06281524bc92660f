#define _GNU_SOURCE
#include "cli_push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char cli_push_help[] =
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
	"  --plain-http          http for other hosts than localhost (a loopback\n"
	"                        registry gets TLS when it speaks it, else http)\n"
	"  --jobs N              concurrent uploads (default 4)\n";

void cli_push_init(cli_registry *p)
{
	memset(p, 0, sizeof *p);
	p->o.cancel = &cli_cancel;
	p->o.creds = getenv("STRATA_REGISTRY_CREDS");
}

int cli_push_option(const char *cmd, int c, const char *arg, cli_registry *p)
{
	long jobs;
	switch (c) {
	case CLI_OPT_PUSH: p->o.dest = arg; return 1;
	case CLI_OPT_CREDS: p->o.creds = arg, p->creds_given = true; return 1;
	case CLI_OPT_AUTHFILE: p->o.auth_file = arg; return 1;
	case CLI_OPT_NO_CREDS: p->o.no_auth_files = true; return 1;
	case CLI_OPT_MOUNT_FROM: p->o.mount_from = arg; return 1;
	case CLI_OPT_CERT_DIR: p->o.cert_dir = arg; return 1;
	case CLI_OPT_PLAIN_HTTP: p->o.plain_http = true; return 1;
	case CLI_OPT_TLS_VERIFY:
		if (strcmp(arg, "true") && strcmp(arg, "false"))
			return cli_usage(cmd, "--tls-verify must be true or false, not '%s'", arg);
		p->o.tls_verify_off = !strcmp(arg, "false");
		return 1;
	case CLI_OPT_JOBS:
		if (cli_parse_long(cmd, "--jobs", arg, 1, 64, &jobs))
			return 2;
		p->o.jobs = (int)jobs;
		return 1;
	}
	return 0;
}

int cli_push_check(const char *cmd, cli_registry *p, bool dest_flag)
{
	if (dest_flag && p->o.dest == NULL &&
	    (p->creds_given || p->o.auth_file || p->o.no_auth_files || p->o.mount_from || p->o.cert_dir ||
	     p->o.plain_http || p->o.tls_verify_off || p->o.jobs))
		return cli_usage(cmd, "%s", "the registry options need --push docker://HOST/REPO[:TAG]");
	if (p->o.no_auth_files && (p->creds_given || p->o.auth_file))
		return cli_usage(cmd, "%s", "--no-creds excludes --creds and --authfile");
	if (p->o.no_auth_files)
		p->o.creds = NULL; /* $STRATA_REGISTRY_CREDS too */
	if (p->o.creds && !strchr(p->o.creds, ':'))
		return cli_usage(cmd, "%s", "--creds must be USER:PASS");
	if (p->o.dest && strncmp(p->o.dest, "docker://", 9))
		return cli_usage(cmd, "destination '%s' must be docker://HOST/REPO[:TAG]", p->o.dest);
	return 0;
}

typedef struct push_progress_state {
	double start, last;
} push_progress_state;

static void push_progress(void *arg, const strata_progress *p)
{
	push_progress_state *ps = arg;
	double t = cli_seconds();
	if (t - ps->last < 0.2 && p->layers_done < p->layers_total)
		return;
	ps->last = t;
	double el = t - ps->start;
	fprintf(stderr, "\rpushed %zu/%zu blobs  %8.1f MB uploaded  %7.1f MB/s ", p->layers_done, p->layers_total,
		p->bytes_done / 1e6, el > 0 ? p->bytes_done / 1e6 / el : 0.0);
}

void cli_push_progress(bool quiet, strata_push_options *o)
{
	static push_progress_state ps;
	if (quiet || !isatty(2))
		return;
	ps.start = cli_seconds();
	o->progress = push_progress;
	o->progress_arg = &ps;
}
