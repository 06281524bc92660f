/* strata push: an image into a registry. */
#define _GNU_SOURCE
#include "cli_push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
	"Usage: strata push [OPTIONS] SRC docker://HOST[:PORT]/REPO[:TAG|@DIGEST]\n"
	"Pushes an OCI image (a layout DIR or DIR:TAG, or an oci-archive) with the OCI\n"
	"distribution API: every blob is checked first, concurrently; only the missing\n"
	"ones are uploaded (checked against their digest before any byte leaves), then\n"
	"the manifest by digest, then the tag.\n"
	"\n"
	"%s"
	"  --json                the summary as JSON (every blob: exists, mounted, uploaded)\n"
	"  -q, --quiet, -h, --help\n";

static const char cmd[] = "push";

static int job(strata_pool *pool, void *opts, json_t **summary, strata_error *err)
{
	(void)pool;
	return strata_push(opts, summary, err);
}

int cmd_push(int argc, char **argv)
{
	enum { OPT_JSON = 1 };
	static const struct option longopts[] = {CLI_PUSH_LONGOPTS,
						 {"json", no_argument, 0, OPT_JSON},
						 {"quiet", no_argument, 0, 'q'},
						 {"help", no_argument, 0, 'h'},
						 {0, 0, 0, 0}};
	cli_registry p;
	cli_push_init(&p);
	bool json = false, quiet = false;
	int c, k;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":qh", longopts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return cli_bad_option(cmd, c, argv);
		if ((k = cli_push_option(cmd, c, optarg, &p)) == 2)
			return 2;
		if (k == 1)
			continue;
		switch (c) {
		case 'h': printf(help, cli_push_help); return 0;
		case 'q': quiet = true; break;
		case OPT_JSON: json = true; break;
		default: return cli_usage(cmd, "%s", "invalid option");
		}
	}
	if (argc - optind != 2)
		return cli_usage(cmd, "%s", "expected SRC and docker://HOST/REPO[:TAG]");
	p.o.source = argv[optind];
	p.o.dest = argv[optind + 1];
	int code = cli_push_check(cmd, &p, false);
	if (code != 0)
		return code;
	cli_push_progress(quiet, &p.o);
	json_t *summary = NULL;
	if ((code = cli_run_on_pool(job, &p.o, 1, quiet, &summary)) != 0)
		return code;
	return cli_report(summary, json, quiet, "pushed %s (manifest %s; %lld blobs uploaded, %lld existed, %lld mounted)",
			  p.o.dest, json_string_value(json_object_get(summary, "manifest")),
			  (long long)json_integer_value(json_object_get(summary, "uploaded")),
			  (long long)json_integer_value(json_object_get(summary, "exists")),
			  (long long)json_integer_value(json_object_get(summary, "mounted")));
}
