/* Pool benchmark: strata's work-stealing pool against a naive pool with one
 * mutex-protected queue (the zstd POOL shape), measured in the same run.
 *   bench_pool [--quick]
 * Prints a table; figures are medians of several runs. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched_pool.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return v[n / 2];
}

/* ---------- the naive baseline: one mutex, one condvar, a ring ---------- */
typedef struct naive_job {
	void (*fn)(void *);
	void *arg;
} naive_job;

typedef struct naive_pool {
	pthread_mutex_t m;
	pthread_cond_t has_work, done;
	naive_job *ring;
	size_t cap, head, len;
	long pending;
	int stop;
	int n;
	pthread_t *th;
} naive_pool;

static void *naive_worker(void *arg)
{
	naive_pool *p = arg;
	pthread_mutex_lock(&p->m);
	for (;;) {
		while (p->len == 0 && !p->stop)
			pthread_cond_wait(&p->has_work, &p->m);
		if (p->len == 0 && p->stop)
			break;
		naive_job j = p->ring[p->head];
		p->head = (p->head + 1) % p->cap;
		p->len--;
		pthread_mutex_unlock(&p->m);
		j.fn(j.arg);
		pthread_mutex_lock(&p->m);
		if (--p->pending == 0)
			pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->m);
	return NULL;
}

static naive_pool *naive_create(int n, size_t cap)
{
	naive_pool *p = calloc(1, sizeof *p);
	pthread_mutex_init(&p->m, NULL);
	pthread_cond_init(&p->has_work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->cap = cap;
	p->ring = malloc(cap * sizeof *p->ring);
	p->n = n;
	p->th = malloc((size_t)n * sizeof *p->th);
	for (int i = 0; i < n; i++)
		pthread_create(&p->th[i], NULL, naive_worker, p);
	return p;
}

static void naive_add(naive_pool *p, void (*fn)(void *), void *arg)
{
	pthread_mutex_lock(&p->m);
	if (p->len == p->cap) { /* grow: the baseline must not block the producer */
		naive_job *r = malloc(2 * p->cap * sizeof *r);
		for (size_t i = 0; i < p->len; i++)
			r[i] = p->ring[(p->head + i) % p->cap];
		free(p->ring);
		p->ring = r;
		p->head = 0;
		p->cap *= 2;
	}
	p->ring[(p->head + p->len) % p->cap] = (naive_job){fn, arg};
	p->len++;
	p->pending++;
	pthread_cond_signal(&p->has_work);
	pthread_mutex_unlock(&p->m);
}

static void naive_wait(naive_pool *p)
{
	pthread_mutex_lock(&p->m);
	while (p->pending > 0)
		pthread_cond_wait(&p->done, &p->m);
	pthread_mutex_unlock(&p->m);
}

static void naive_free(naive_pool *p)
{
	pthread_mutex_lock(&p->m);
	p->stop = 1;
	pthread_cond_broadcast(&p->has_work);
	pthread_mutex_unlock(&p->m);
	for (int i = 0; i < p->n; i++)
		pthread_join(p->th[i], NULL);
	free(p->th);
	free(p->ring);
	free(p);
}

/* ---------- workloads ---------- */
static void empty_task(void *arg)
{
	(void)arg;
}

static volatile uint64_t sink;
static long spin_iters; /* calibrated to ~100 us */
static void cpu_task(void *arg)
{
	uint64_t x = (uintptr_t)arg | 1;
	for (long i = 0; i < spin_iters; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	sink = x;
}

static void calibrate(void)
{
	spin_iters = 100000;
	double t0 = now();
	cpu_task(NULL);
	double dt = now() - t0;
	spin_iters = (long)(spin_iters * (100e-6 / dt));
}

typedef struct spawn_job {
	strata_pool *pool;
	long n;
	void (*fn)(void *);
} spawn_job;

/* Spawns from inside the pool, as the engine does (chunks from a producer). */
static void spawner(void *arg)
{
	spawn_job *j = arg;
	strata_group g = STRATA_GROUP_INIT;
	for (long i = 0; i < j->n; i++)
		strata_pool_spawn(j->pool, &g, j->fn, (void *)(intptr_t)i);
	strata_pool_wait(j->pool, &g);
}

static double run_ws(strata_pool *pool, long n, void (*fn)(void *))
{
	spawn_job j = {pool, n, fn};
	strata_group g = STRATA_GROUP_INIT;
	double t0 = now();
	strata_pool_spawn(pool, &g, spawner, &j);
	strata_pool_wait(pool, &g);
	return now() - t0;
}

static double run_naive(naive_pool *p, long n, void (*fn)(void *))
{
	double t0 = now();
	for (long i = 0; i < n; i++)
		naive_add(p, fn, (void *)(intptr_t)i);
	naive_wait(p);
	return now() - t0;
}

#define RUNS 7

int main(int argc, char **argv)
{
	int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
	long tiny_n = quick ? 200000 : 1000000;
	long batch_n = quick ? 2000 : 10000;
	strata_pool_options defopts = {0};
	strata_pool *probe = strata_pool_create(&defopts);
	unsigned cores = strata_pool_threads(probe);
	strata_pool_free(probe);
	calibrate();

	double t[RUNS];
	printf("strata pool benchmark (%u cores, medians of %d runs)\n\n", cores, RUNS);
	printf("%-44s %12s %12s\n", "workload", "work-steal", "mutex-queue");

	double ws_tiny[2], nv_tiny[2];
	unsigned threads_of[2] = {1, cores};
	for (int k = 0; k < 2; k++) {
		strata_pool_options o = {.threads = threads_of[k]};
		strata_pool *pool = strata_pool_create(&o);
		for (int r = 0; r < RUNS; r++)
			t[r] = run_ws(pool, tiny_n, empty_task);
		ws_tiny[k] = median(t, RUNS) / tiny_n * 1e9;
		strata_pool_free(pool);
		naive_pool *np = naive_create((int)threads_of[k], 1024);
		for (int r = 0; r < RUNS; r++)
			t[r] = run_naive(np, tiny_n, empty_task);
		nv_tiny[k] = median(t, RUNS) / tiny_n * 1e9;
		naive_free(np);
		char label[64];
		snprintf(label, sizeof label, "empty task spawn+run, %u worker%s (ns/task)", threads_of[k],
			 threads_of[k] > 1 ? "s" : "");
		printf("%-44s %12.1f %12.1f\n", label, ws_tiny[k], nv_tiny[k]);
	}

	double ws_batch[2], nv_batch[2];
	for (int k = 0; k < 2; k++) {
		strata_pool_options o = {.threads = threads_of[k]};
		strata_pool *pool = strata_pool_create(&o);
		int runs = quick ? 3 : 5;
		for (int r = 0; r < runs; r++)
			t[r] = run_ws(pool, batch_n, cpu_task);
		ws_batch[k] = median(t, runs);
		strata_pool_free(pool);
		naive_pool *np = naive_create((int)threads_of[k], 1024);
		for (int r = 0; r < runs; r++)
			t[r] = run_naive(np, batch_n, cpu_task);
		nv_batch[k] = median(t, runs);
		naive_free(np);
		char label[64];
		snprintf(label, sizeof label, "%ld x 100us tasks, %u worker%s (s)", batch_n, threads_of[k],
			 threads_of[k] > 1 ? "s" : "");
		printf("%-44s %12.3f %12.3f\n", label, ws_batch[k], nv_batch[k]);
	}
	printf("%-44s %12.2fx %11.2fx\n", "speed-up of the batch over 1 worker", ws_batch[0] / ws_batch[1],
	       nv_batch[0] / nv_batch[1]);
	printf("%-44s %12.2fx\n", "tiny tasks, all workers: naive / work-steal", nv_tiny[1] / ws_tiny[1]);
	printf("\nBENCH_POOL_JSON {\"cores\":%u,\"spawn_ns_1\":%.1f,\"spawn_ns_all\":%.1f,"
	       "\"naive_ns_1\":%.1f,\"naive_ns_all\":%.1f,\"batch_speedup\":%.3f,\"naive_batch_speedup\":%.3f}\n",
	       cores, ws_tiny[0], ws_tiny[1], nv_tiny[0], nv_tiny[1], ws_batch[0] / ws_batch[1],
	       nv_batch[0] / nv_batch[1]);
	return 0;
}
