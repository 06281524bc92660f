/* The registry flags of strata push, shared by the verbs that take --push
 * DEST (build-layered, build, convert): credentials, TLS, uploads. */
#ifndef STRATA_CLI_PUSH_H
#define STRATA_CLI_PUSH_H

#include "cli.h"

typedef struct cli_push {
	strata_push_options o;
	bool creds_given;
} cli_registry;

enum {
	CLI_OPT_PUSH = 0x1100,
	CLI_OPT_CREDS,
	CLI_OPT_AUTHFILE,
	CLI_OPT_NO_CREDS,
	CLI_OPT_MOUNT_FROM,
	CLI_OPT_TLS_VERIFY,
	CLI_OPT_CERT_DIR,
	CLI_OPT_PLAIN_HTTP,
	CLI_OPT_JOBS,
};

#define CLI_PUSH_LONGOPTS                                                                                        \
	{"creds", required_argument, 0, CLI_OPT_CREDS}, {"authfile", required_argument, 0, CLI_OPT_AUTHFILE},    \
	{"no-creds", no_argument, 0, CLI_OPT_NO_CREDS}, {"mount-from", required_argument, 0, CLI_OPT_MOUNT_FROM}, \
	{"tls-verify", required_argument, 0, CLI_OPT_TLS_VERIFY},                                               \
	{"cert-dir", required_argument, 0, CLI_OPT_CERT_DIR}, {"plain-http", no_argument, 0, CLI_OPT_PLAIN_HTTP}, \
	{"jobs", required_argument, 0, CLI_OPT_JOBS}
/* build-layered, build and convert: also --push DEST. */
#define CLI_PUSH_DEST_LONGOPTS {"push", required_argument, 0, CLI_OPT_PUSH}, CLI_PUSH_LONGOPTS

/* The flags' help lines (the same for every verb). */
extern const char cli_push_help[];

/* Before parsing: the defaults ($STRATA_REGISTRY_CREDS, cancel). */
void cli_push_init(cli_registry *p);
/* Handles getopt's c when it is a registry flag (--push sets o.dest): 1
 * handled, 0 not one, 2 a usage error (printed). */
int cli_push_option(const char *cmd, int c, const char *arg, cli_registry *p);
/* After parsing: combinations. registry flags without --push (when
 * dest_flag) are refused. 0, or 2 after printing. */
int cli_push_check(const char *cmd, cli_registry *p, bool dest_flag);

/* The upload line on a terminal (pushed/known blobs, MB uploaded, MB/s),
 * unless quiet or stderr is not a TTY. */
void cli_push_progress(bool quiet, strata_push_options *o);

#endif
