/* strata exec-json: strata run with arguments a JSON file lists. It is the
 * builder of strata's Nix functions (the file is Nix's .attrs.json, so the
 * Nix side needs no shell) and the interpreter of the executables
 * streamLayeredImage makes ("#!.../strata exec-json" scripts). */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char help[] =
	"Usage: strata exec-json FILE [ARG...]\n"
	"Runs strata with the arguments FILE lists, then ARGs. FILE is a JSON object\n"
	"(after an optional first line starting with #!, so that it can be a script\n"
	"whose interpreter line is \"#!/path/to/strata exec-json\"):\n"
	"  \"strataArgs\": [\"COMMAND\", \"OPTION\", ...]   what to run; \"@self\" stands for FILE\n"
	"  \"strataFiles\": {\"NAME\": \"TEXT\", ...}     written into the current directory\n"
	"                                 first (NAME a plain file name, not existing)\n"
	"  \"strataExecutable\": {\"path\": P, \"args\": [...]}   writes the script P (one of\n"
	"                                 the file's \"outputs\"): an exec-json file running\n"
	"                                 args, carrying FILE's \"closure\"\n"
	"It is the builder of strata's Nix functions (FILE: Nix's .attrs.json).\n";

static const char cmd[] = "exec-json";

static int fail_errno(const char *what, const char *path)
{
	char msg[512];
	snprintf(msg, sizeof msg, "%s '%s': %s", what, path, strerror(errno));
	return cli_fail_msg(msg);
}

static json_t *load(const char *file, int *code)
{
	FILE *f = fopen(file, "rb");
	if (f == NULL) {
		*code = fail_errno("exec-json: cannot open", file);
		return NULL;
	}
	int c = fgetc(f);
	if (c == '#') { /* an interpreter line */
		while ((c = fgetc(f)) != EOF && c != '\n')
			;
	} else if (c != EOF) {
		ungetc(c, f);
	}
	json_error_t je;
	json_t *j = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
	fclose(f);
	if (!json_is_object(j)) {
		char msg[512];
		snprintf(msg, sizeof msg, "exec-json: %s: not a JSON object (%s)", file, j ? "" : je.text);
		*code = cli_fail_msg(msg);
		json_decref(j);
		return NULL;
	}
	return j;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return fail_errno("exec-json: cannot create", path);
	size_t n = strlen(text);
	for (size_t off = 0; off < n;) {
		ssize_t k = write(fd, text + off, n - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			close(fd);
			return fail_errno("exec-json: cannot write", path);
		}
		off += (size_t)k;
	}
	if (fchmod(fd, mode) < 0 || close(fd) < 0)
		return fail_errno("exec-json: cannot write", path);
	return 0;
}

static int write_files(json_t *files)
{
	const char *name;
	json_t *v;
	json_object_foreach(files, name, v) {
		if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") || !json_is_string(v))
			return cli_usage(cmd, "strataFiles: '%s' must be a plain file name with a string", name);
		int r = write_file(name, json_string_value(v), 0644);
		if (r)
			return r;
	}
	return 0;
}

static bool is_output(json_t *j, const char *path)
{
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(j, "outputs"), k, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), path))
			return true;
	return false;
}

/* An executable exec-json script at one of the outputs. */
static int write_executable(json_t *j, json_t *ex)
{
	const char *path = json_string_value(json_object_get(ex, "path"));
	json_t *args = json_object_get(ex, "args");
	if (path == NULL || !json_is_array(args) || !is_output(j, path))
		return cli_usage(cmd, "%s", "strataExecutable needs a path that is an output and args");
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		return fail_errno("exec-json: cannot find itself", "/proc/self/exe");
	self[n] = '\0';
	json_t *body = json_object();
	json_object_set(body, "strataArgs", args);
	if (json_object_get(j, "closure"))
		json_object_set(body, "closure", json_object_get(j, "closure"));
	char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(body);
	size_t len = strlen(self) + strlen(text) + 32;
	char *script = malloc(len);
	if (script == NULL || text == NULL)
		return cli_fail_msg("out of memory");
	snprintf(script, len, "#!%s exec-json\n%s\n", self, text);
	int r = write_file(path, script, 0555);
	free(script);
	free(text);
	return r;
}

int cmd_exec_json(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		if (argc < 2)
			return cli_usage(cmd, "%s", "expected FILE");
		fputs(help, stdout);
		return 0;
	}
	const char *file = argv[1];
	int code = 0;
	json_t *j = load(file, &code);
	if (j == NULL)
		return code;
	json_t *args = json_object_get(j, "strataArgs"), *files = json_object_get(j, "strataFiles"),
	       *ex = json_object_get(j, "strataExecutable");
	if (files && (code = write_files(files)) != 0)
		goto out;
	if (ex && (code = write_executable(j, ex)) != 0)
		goto out;
	if (args == NULL && ex)
		goto out;
	if (!json_is_array(args) || json_array_size(args) == 0) {
		code = cli_usage(cmd, "%s: strataArgs must be a non-empty list of strings", file);
		goto out;
	}
	size_t n = json_array_size(args), extra = (size_t)argc - 2;
	char **av = calloc(n + extra + 2, sizeof *av);
	if (av == NULL) {
		code = cli_fail_msg("out of memory");
		goto out;
	}
	av[0] = "strata";
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(args, i));
		if (s == NULL) {
			free(av);
			code = cli_usage(cmd, "%s: strataArgs must be a non-empty list of strings", file);
			goto out;
		}
		av[i + 1] = (char *)(uintptr_t)(strcmp(s, "@self") ? s : file);
	}
	for (size_t i = 0; i < extra; i++)
		av[n + 1 + i] = argv[2 + i];
	fflush(NULL);
	execv("/proc/self/exe", av);
	code = fail_errno("exec-json: cannot run", "/proc/self/exe");
	free(av);
out:
	json_decref(j);
	return code;
}
