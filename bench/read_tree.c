/* read_tree: the file-system part of the work floor of a build. Reads every
 * file under the given paths the cheapest way a builder can and still
 * know what it tars: list each directory (getdents), open each regular file
 * by name relative to its directory, take its stat from the fd, read it to
 * its size, close it; stat and read each symlink. Prints the seconds spent
 * on one thread (the tree is meant to be in the page cache, as the bench
 * reads it in first) and what it read:
 *   read_tree PATH...  ->  {"seconds":s,"files":n,"bytes":n}
 * (a PATH is a store path: a directory, a file or a symlink).
 * Nothing is done with the bytes: this is the kernel's share of a build,
 * which the deflate-only limit does not count. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static unsigned char buf[1u << 20];
static unsigned long long files, bytes;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fail(const char *what, const char *name)
{
	fprintf(stderr, "read_tree: %s %s: %s\n", what, name, strerror(errno));
	exit(1);
}

static void read_file(int dir_fd, const char *name)
{
	int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		fail("open", name);
	for (off_t left = st.st_size; left > 0;) {
		ssize_t n = read(fd, buf, left < (off_t)sizeof buf ? (size_t)left : sizeof buf);
		if (n <= 0)
			fail("read", name);
		left -= n;
		bytes += (unsigned long long)n;
	}
	close(fd);
	files++;
}

static void visit(int dir_fd, const char *name, unsigned char type);

static void walk(int fd)
{
	DIR *d = fdopendir(fd);
	if (d == NULL)
		fail("list", "directory");
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			visit(dirfd(d), e->d_name, e->d_type);
	closedir(d);
}

/* name in dir_fd, of type (a DT_ value; DT_UNKNOWN: stat it to know) */
static void visit(int dir_fd, const char *name, unsigned char type)
{
	struct stat st;
	if (type == DT_UNKNOWN || type == DT_LNK) {
		if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			fail("stat", name);
		type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : S_ISLNK(st.st_mode) ? DT_LNK : DT_UNKNOWN;
	}
	if (type == DT_REG) {
		read_file(dir_fd, name);
	} else if (type == DT_DIR) {
		int sub = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			fail("open", name);
		walk(sub);
	} else {
		char target[PATH_MAX];
		if (type == DT_LNK && readlinkat(dir_fd, name, target, sizeof target) < 0)
			fail("readlink", name);
		files++;
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: read_tree PATH...\n");
		return 2;
	}
	double t0 = now();
	for (int i = 1; i < argc; i++)
		visit(AT_FDCWD, argv[i], DT_UNKNOWN); /* a store path may be a file or a symlink */
	printf("{\"seconds\":%.4f,\"files\":%llu,\"bytes\":%llu}\n", now() - t0, files, bytes);
	return 0;
}
