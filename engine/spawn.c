#define _GNU_SOURCE
#include "spawn.h"
#include "alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

char *strata_spawn_find(const char *name)
{
	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? strata_xstrdup(name) : NULL;
	const char *path = getenv("PATH");
	if (path == NULL || *path == '\0')
		path = "/usr/bin:/bin";
	for (const char *p = path;;) {
		const char *end = strchrnul(p, ':');
		if (end > p) {
			char *cand = strata_xasprintf("%.*s/%s", (int)(end - p), p, name);
			if (access(cand, X_OK) == 0)
				return cand;
			free(cand);
		}
		if (*end == '\0')
			return NULL;
		p = end + 1;
	}
}

/* The environment with o->env added (replacing variables of the same
 * name), built before fork: the child must not allocate. */
static char **child_env(char *const *extra)
{
	size_t n = 0, k = 0;
	while (environ[n])
		n++;
	while (extra && extra[k])
		k++;
	char **env = strata_xcalloc(n + k + 1, sizeof *env);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		size_t nl = strcspn(environ[i], "=");
		bool replaced = false;
		for (size_t j = 0; j < k && !replaced; j++)
			replaced = strncmp(extra[j], environ[i], nl) == 0 && extra[j][nl] == '=';
		if (!replaced)
			env[m++] = environ[i];
	}
	for (size_t j = 0; j < k; j++)
		env[m++] = extra[j];
	return env;
}

int strata_spawn_run(char *const argv[], const strata_spawn_options *o, strata_error *err)
{
	char **env = child_env(o->env);
	pid_t pid = fork();
	if (pid < 0) {
		free(env);
		return strata_error_set(err, errno, "cannot start %s", o->what);
	}
	if (pid == 0) {
		/* Only async-signal-safe calls between fork and exec. A fixed
		 * umask: what the programs create must not depend on the caller's. */
		umask(022);
		int in = o->in_fd >= 0 ? o->in_fd : open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (in < 0 || dup2(in, 0) < 0 || dup2(o->out_fd >= 0 ? o->out_fd : 2, 1) < 0 ||
		    (o->err_to_out && o->out_fd >= 0 && dup2(o->out_fd, 2) < 0) || (o->dir && chdir(o->dir) < 0))
			_exit(126);
		execve(argv[0], argv, env);
		_exit(127);
	}
	free(env);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return strata_error_set(err, errno, "cannot wait for %s", o->what);
	if (strata_cancel_requested(o->cancel))
		return strata_error_set(err, 0, "interrupted");
	if (WIFSIGNALED(status))
		return strata_error_set(err, 0, "%s was killed by signal %d", o->what, WTERMSIG(status));
	if (WEXITSTATUS(status) == 127)
		return strata_error_set(err, 0, "%s: cannot run '%s'", o->what, argv[0]);
	if (WEXITSTATUS(status) != 0)
		return strata_error_set(err, 0, "%s failed with exit status %d", o->what, WEXITSTATUS(status));
	return 0;
}
