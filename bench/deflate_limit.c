/* deflate_limit: the machine's limit for a build, measured on the same
 * bytes. Compresses each given file (uncompressed layer tars) in the same
 * 1 MiB chunks strata uses, with libdeflate (linked statically, as strata
 * is) at the given level, on ONE thread, and prints the seconds spent in
 * compression and the bytes in/out:
 *   deflate_limit LEVEL FILE...   ->  {"seconds":s,"bytes_in":n,"bytes_out":n}
 * The limit for N threads is seconds / N. Files are read into memory first
 * (page cache) so only compression is timed. */
#define _GNU_SOURCE
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHUNK (1u << 20)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: deflate_limit LEVEL FILE...\n");
		return 2;
	}
	int level = atoi(argv[1]);
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
	if (c == NULL) {
		fprintf(stderr, "bad level\n");
		return 2;
	}
	size_t cap = libdeflate_gzip_compress_bound(c, CHUNK);
	unsigned char *in = malloc(CHUNK), *out = malloc(cap);
	double spent = 0;
	unsigned long long bin = 0, bout = 0;
	for (int i = 2; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (f == NULL) {
			perror(argv[i]);
			return 1;
		}
		size_t n;
		while ((n = fread(in, 1, CHUNK, f)) > 0) {
			double t = now();
			size_t o = libdeflate_gzip_compress(c, in, n, out, cap);
			spent += now() - t;
			bin += n;
			bout += o;
		}
		fclose(f);
	}
	printf("{\"seconds\":%.4f,\"bytes_in\":%llu,\"bytes_out\":%llu}\n", spent, bin, bout);
	libdeflate_free_compressor(c);
	free(in);
	free(out);
	return 0;
}
