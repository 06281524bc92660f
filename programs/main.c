/* strata: the command line. Parses arguments, calls the engine, prints.
 * Exit codes: 0 success, 1 failure, 2 usage, 130/143 interrupted. */
#define _GNU_SOURCE
#include "cli.h"

#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void on_signal(int sig)
{
	strata_cancel_request(&cli_cancel, sig);
}

/* No SA_RESTART: a read blocked on a pipe returns EINTR and the job sees
 * the request. */
static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A reader that goes away (docker load failing, head) must give an
	 * error on write, not kill the process mid-archive silently. */
	signal(SIGPIPE, SIG_IGN);
}

static const char help[] =
	"Usage: strata COMMAND [OPTIONS]\n"
	"Builds OCI container images from Nix store paths.\n"
	"\n"
	"Commands:\n"
	"  build-layered   store paths (+ references) -> layered OCI image\n"
	"  build           copy-to-root paths + their closure -> one-layer image\n"
	"  layer           one store layer on its own (blob + layer.json)\n"
	"  assemble        layers made by strata layer -> an image, nothing recompressed\n"
	"  layering        the store layers build-layered would make, as JSON\n"
	"  stream-layered  nixpkgs' conf.json -> Docker archive on stdout, as nixpkgs writes it\n"
	"  convert         Docker archive (docker save, dockerTools) -> OCI image\n"
	"  container       OCI runtime bundle (config.json + rootfs) running a store program\n"
	"  verify          check every blob, digest and diff_id of an OCI layout\n"
	"  exec-json       run strata with the arguments of a JSON file (the Nix builder)\n"
	"  cache           stats and gc of a layer cache (--cache DIR)\n"
	"  push            an OCI image -> a registry (docker://HOST/REPO:TAG)\n"
	"\n"
	"`strata COMMAND --help` describes each. `strata --version`.\n";

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{"build-layered", cmd_build_layered},
	{"build", cmd_build},
	{"layer", cmd_layer},
	{"assemble", cmd_assemble},
	{"layering", cmd_layering},
	{"stream-layered", cmd_stream_layered},
	{"convert", cmd_convert},
	{"container", cmd_container},
	{"verify", cmd_verify},
	{"exec-json", cmd_exec_json},
	{"cache", cmd_cache},
	{"push", cmd_push},
};

int main(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage(NULL, "%s", "missing command");
	install_signals();
	opterr = 0; /* the verbs name a bad option themselves (cli_bad_option) */
	/* libarchive encodes tar names through LC_CTYPE: pin it so the layer
	 * bytes never depend on the user's locale. */
	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
		setlocale(LC_CTYPE, "C");
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		fputs(help, stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		printf("strata %s\n", STRATA_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (!strcmp(cmd, commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	return cli_usage(NULL, "unknown command '%s'", cmd);
}
