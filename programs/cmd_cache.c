/* strata cache: the layer cache for operators. */
#define _GNU_SOURCE
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char help[] =
	"Usage: strata cache stats DIR\n"
	"       strata cache gc DIR --max-size SIZE\n"
	"The layer cache of --cache DIR: `stats` prints its entries and bytes as JSON;\n"
	"`gc` removes the least recently used entries until at most SIZE (K, M, G, T)\n"
	"of blobs remain, and what crashed writers left over an hour ago. Removing an\n"
	"entry never breaks a running build (an entry it opened keeps its bytes for it;\n"
	"one it had not opened yet becomes a miss).\n";

static const char cmd[] = "cache";

int cmd_cache(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(help, stdout);
		return 0;
	}
	if (argc < 3)
		return cli_usage(cmd, "%s", "expected stats DIR or gc DIR --max-size SIZE");
	const char *sub = argv[1], *dir = argv[2];
	uint64_t max = 0;
	bool have_max = false;
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--max-size") && i + 1 < argc) {
			if (cli_parse_size(cmd, "--max-size", argv[++i], &max))
				return 2;
			have_max = true;
		} else {
			return cli_usage(cmd, "unexpected argument '%s'", argv[i]);
		}
	}
	strata_error err = STRATA_ERROR_INIT;
	json_t *rep = NULL;
	int r;
	if (!strcmp(sub, "stats") && !have_max)
		r = strata_cache_stats(dir, &rep, &err);
	else if (!strcmp(sub, "gc") && have_max)
		r = strata_cache_gc(dir, max, &rep, &err);
	else
		return cli_usage(cmd, "%s", "expected stats DIR or gc DIR --max-size SIZE");
	if (r < 0) {
		int code = cli_fail(&err);
		strata_error_clear(&err);
		return code;
	}
	json_dumpf(rep, stdout, JSON_INDENT(1));
	putchar('\n');
	json_decref(rep);
	return 0;
}
