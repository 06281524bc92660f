/* runstat: runs a command and prints what it cost, from wait4():
 *   runstat [-o FILE] -- CMD ARGS...
 * prints {"wall":s,"user":s,"sys":s,"maxrss_kb":n,"status":n} (to FILE or
 * stderr). maxrss covers the largest descendant waited for (a shell
 * pipeline's biggest process). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *out = NULL;
	int i = 1;
	if (i + 1 < argc && strcmp(argv[i], "-o") == 0) {
		out = argv[i + 1];
		i += 2;
	}
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i >= argc) {
		fprintf(stderr, "usage: runstat [-o FILE] -- CMD ARGS...\n");
		return 2;
	}
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	pid_t pid = fork();
	if (pid == 0) {
		execvp(argv[i], argv + i);
		perror(argv[i]);
		_exit(127);
	}
	int status = 0;
	struct rusage ru;
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("wait4");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	struct rusage ch;
	getrusage(RUSAGE_CHILDREN, &ch); /* includes grandchildren that were waited for */
	double wall = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
	FILE *f = out ? fopen(out, "w") : stderr;
	if (f == NULL) {
		perror(out);
		return 1;
	}
	fprintf(f, "{\"wall\":%.4f,\"user\":%.4f,\"sys\":%.4f,\"maxrss_kb\":%ld,\"status\":%d}\n", wall,
		ch.ru_utime.tv_sec + ch.ru_utime.tv_usec * 1e-6, ch.ru_stime.tv_sec + ch.ru_stime.tv_usec * 1e-6,
		ch.ru_maxrss, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	if (out)
		fclose(f);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
