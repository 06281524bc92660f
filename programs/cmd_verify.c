/* strata verify: an OCI layout checked as clients would. */
#define _GNU_SOURCE
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

static const char help[] =
	"Usage: strata verify [-q] PATH\n"
	"Checks an OCI image layout (directory or tarball) as clients would: every\n"
	"blob's size and digest, each layer's compression against its media type, its\n"
	"tar structure to the end and its diff_id, the fields of index, manifests and\n"
	"configs. Each manifest and blob is checked once, however many tags name it.\n"
	"The first problem is printed as one line; exit status 1.\n";

int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {{"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
						 {0, 0, 0, 0}};
	bool quiet = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":qh", longopts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return cli_bad_option("verify", c, argv);
		if (c == 'q') {
			quiet = true;
		} else if (c == 'h') {
			fputs(help, stdout);
			return 0;
		} else {
			return cli_usage("verify", "%s", "invalid option");
		}
	}
	if (optind != argc - 1)
		return cli_usage("verify", "%s", "expected exactly one PATH");
	strata_error err = STRATA_ERROR_INIT;
	strata_verify_report rep = {0};
	if (strata_verify(argv[optind], &cli_cancel, &rep, &err) < 0) {
		int code = cli_fail(&err);
		strata_error_clear(&err);
		return code;
	}
	if (!quiet) {
		char *safe = strata_error_escape(argv[optind]);
		printf("%s: OK (%zu manifests, %zu blobs, %zu layers checked)\n", safe, rep.manifests, rep.blobs,
		       rep.layers);
		free(safe);
	}
	return 0;
}
