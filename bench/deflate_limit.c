/* deflate_limit: the machine's limit for a build, measured on the same
 * bytes. Compresses each given file (uncompressed layer tars) in the same
 * 1 MiB chunks strata uses, with libdeflate (linked statically, as strata
 * is) at the given level, and prints the seconds spent in compression and
 * the bytes in/out:
 *   deflate_limit LEVEL [--threads N | --sha256] FILE...
 *     ->  {"seconds":s,"bytes_in":n,"bytes_out":n[,"sha256_seconds":s]}
 * On one thread (the default) only the compression calls are timed (files
 * are read first, from the page cache); the limit for N threads is then
 * seconds / N, which assumes the cores scale perfectly. With --threads N, N
 * threads take the chunks in turn from a shared counter (each reads its
 * chunk with pread, then compresses it) and seconds is the wall time of
 * that: the limit as the cores really scale when all of them compress (a
 * VM's cores may share physical ones, and memory and caches are shared).
 * With --sha256 (one thread), the tar bytes and the compressed bytes are
 * also hashed, as an image needs both digests (diff_id and blob digest),
 * and sha256_seconds is the time of that alone: the hashing part of the
 * work floor, with OpenSSL as strata uses it. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <libdeflate.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct piece {
	int fd;
	off_t off;
	size_t len;
} piece;

typedef struct shared {
	int level;
	piece *pieces;
	size_t n;
	atomic_size_t next;
	atomic_ullong out;
} shared;

static void *worker(void *arg)
{
	shared *s = arg;
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(s->level);
	size_t cap = libdeflate_gzip_compress_bound(c, CHUNK);
	unsigned char *in = malloc(CHUNK), *out = malloc(cap);
	unsigned long long bytes = 0;
	for (size_t i; (i = atomic_fetch_add(&s->next, 1)) < s->n;) {
		piece *p = &s->pieces[i];
		if (pread(p->fd, in, p->len, p->off) != (ssize_t)p->len) {
			perror("pread");
			exit(1);
		}
		bytes += libdeflate_gzip_compress(c, in, p->len, out, cap);
	}
	atomic_fetch_add(&s->out, bytes);
	libdeflate_free_compressor(c);
	free(in);
	free(out);
	return NULL;
}

static int parallel(int level, int threads, char **files, int nfiles)
{
	shared s = {.level = level};
	size_t cap = 0;
	unsigned long long bin = 0;
	for (int i = 0; i < nfiles; i++) {
		int fd = open(files[i], O_RDONLY);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			perror(files[i]);
			return 1;
		}
		for (off_t off = 0; off < st.st_size; off += CHUNK) {
			if (s.n == cap) {
				cap = cap ? 2 * cap : 1024;
				s.pieces = realloc(s.pieces, cap * sizeof *s.pieces);
			}
			size_t len = st.st_size - off < CHUNK ? (size_t)(st.st_size - off) : CHUNK;
			s.pieces[s.n++] = (piece){fd, off, len};
			bin += len;
		}
	}
	pthread_t *t = calloc((size_t)threads, sizeof *t);
	double t0 = now();
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, &s);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	double spent = now() - t0;
	printf("{\"seconds\":%.4f,\"bytes_in\":%llu,\"bytes_out\":%llu,\"threads\":%d}\n", spent, bin,
	       (unsigned long long)atomic_load(&s.out), threads);
	free(t);
	free(s.pieces);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: deflate_limit LEVEL [--threads N | --sha256] FILE...\n");
		return 2;
	}
	int level = atoi(argv[1]), first = 2;
	if (strcmp(argv[2], "--threads") == 0 && argc > 4) {
		int threads = atoi(argv[3]);
		return parallel(level, threads > 0 ? threads : 1, argv + 4, argc - 4);
	}
	EVP_MD_CTX *tar_sha = NULL, *blob_sha = NULL;
	if (strcmp(argv[2], "--sha256") == 0) {
		first = 3;
		tar_sha = EVP_MD_CTX_new();
		blob_sha = EVP_MD_CTX_new();
		if (tar_sha == NULL || blob_sha == NULL || !EVP_DigestInit_ex(tar_sha, EVP_sha256(), NULL) ||
		    !EVP_DigestInit_ex(blob_sha, EVP_sha256(), NULL)) {
			fprintf(stderr, "sha256 unavailable\n");
			return 1;
		}
	}
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
	if (c == NULL) {
		fprintf(stderr, "bad level\n");
		return 2;
	}
	size_t cap = libdeflate_gzip_compress_bound(c, CHUNK);
	unsigned char *in = malloc(CHUNK), *out = malloc(cap);
	double spent = 0, hashing = 0;
	unsigned long long bin = 0, bout = 0;
	for (int i = first; i < argc; i++) {
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
			if (tar_sha != NULL) {
				t = now();
				EVP_DigestUpdate(tar_sha, in, n);
				EVP_DigestUpdate(blob_sha, out, o);
				hashing += now() - t;
			}
		}
		fclose(f);
	}
	printf("{\"seconds\":%.4f,\"bytes_in\":%llu,\"bytes_out\":%llu", spent, bin, bout);
	if (tar_sha != NULL) {
		unsigned char md[EVP_MAX_MD_SIZE];
		double t = now();
		EVP_DigestFinal_ex(tar_sha, md, NULL);
		EVP_DigestFinal_ex(blob_sha, md, NULL);
		printf(",\"sha256_seconds\":%.4f", hashing + now() - t);
		EVP_MD_CTX_free(tar_sha);
		EVP_MD_CTX_free(blob_sha);
	}
	printf("}\n");
	libdeflate_free_compressor(c);
	free(in);
	free(out);
	return 0;
}
