/* The work-stealing pool: fork-join, nested waits, foreign spawns, shutdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "sched_pool.h"

static strata_pool *pool;

/* ---- recursive fib: nested fork-join ---- */
typedef struct fib_job {
	int n;
	long result;
} fib_job;

static long fib_seq(int n)
{
	return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2);
}

static void fib_task(void *arg)
{
	fib_job *j = arg;
	if (j->n < 2) {
		j->result = j->n;
		return;
	}
	fib_job a = {j->n - 1, 0}, b = {j->n - 2, 0};
	strata_group g = STRATA_GROUP_INIT;
	strata_pool_spawn(pool, &g, fib_task, &a);
	strata_pool_spawn(pool, &g, fib_task, &b);
	strata_pool_wait(pool, &g); /* runs other tasks meanwhile */
	j->result = a.result + b.result;
}

static void run_fib(unsigned threads, int n)
{
	strata_pool_options o = {.threads = threads};
	pool = strata_pool_create(&o);
	assert_non_null(pool);
	assert_int_equal(strata_pool_threads(pool), threads);
	fib_job j = {n, 0};
	strata_group g = STRATA_GROUP_INIT;
	strata_pool_spawn(pool, &g, fib_task, &j); /* from a foreign thread */
	strata_pool_wait(pool, &g);
	assert_int_equal(j.result, fib_seq(n));
	strata_pool_free(pool);
	pool = NULL;
}

static void test_fib_many_workers(void **s)
{
	(void)s;
	run_fib(4, 22);
}

/* One worker, every wait nested inside a task: must not deadlock. */
static void test_fib_one_worker(void **s)
{
	(void)s;
	run_fib(1, 18);
}

/* ---- a million tiny tasks ---- */
static atomic_long counter;
static void inc_task(void *arg)
{
	(void)arg;
	atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
}

static void spawner_task(void *arg)
{
	long n = (long)(intptr_t)arg;
	strata_group g = STRATA_GROUP_INIT;
	for (long i = 0; i < n; i++)
		strata_pool_spawn(pool, &g, inc_task, NULL);
	strata_pool_wait(pool, &g);
}

static void test_million_tiny(void **s)
{
	(void)s;
	strata_pool_options o = {.threads = 2};
	pool = strata_pool_create(&o);
	atomic_store(&counter, 0);
	strata_group g = STRATA_GROUP_INIT;
	for (int i = 0; i < 10; i++)
		strata_pool_spawn(pool, &g, spawner_task, (void *)(intptr_t)100000);
	strata_pool_wait(pool, &g);
	assert_int_equal(atomic_load(&counter), 1000000);
	strata_pool_free(pool);
	pool = NULL;
}

/* ---- spawns from several foreign threads at once ---- */
#define FOREIGN 4
#define PER_FOREIGN 20000
static void *foreign_main(void *arg)
{
	(void)arg;
	strata_group g = STRATA_GROUP_INIT;
	for (int i = 0; i < PER_FOREIGN; i++)
		strata_pool_spawn(pool, &g, inc_task, NULL);
	strata_pool_wait(pool, &g);
	return NULL;
}

static void test_foreign_spawns(void **s)
{
	(void)s;
	strata_pool_options o = {.threads = 3};
	pool = strata_pool_create(&o);
	atomic_store(&counter, 0);
	pthread_t th[FOREIGN];
	for (int i = 0; i < FOREIGN; i++)
		pthread_create(&th[i], NULL, foreign_main, NULL);
	for (int i = 0; i < FOREIGN; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&counter), FOREIGN * PER_FOREIGN);
	assert_int_equal(strata_pool_worker_index(pool), -1);
	assert_false(strata_pool_help(pool)); /* foreign thread: no-op */
	strata_pool_free(pool);
	pool = NULL;
}

/* ---- a wait inside a task whose children run elsewhere ---- */
static atomic_int in_child;
static void slow_child(void *arg)
{
	(void)arg;
	atomic_fetch_add(&in_child, 1);
	for (volatile long i = 0; i < 200000; i++) {
	}
	atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
}

static void parent_task(void *arg)
{
	int *ok = arg;
	strata_group g = STRATA_GROUP_INIT;
	for (int i = 0; i < 16; i++)
		strata_pool_spawn(pool, &g, slow_child, NULL);
	strata_pool_wait(pool, &g);
	*ok = atomic_load(&counter) >= 16;
	assert_true(strata_pool_worker_index(pool) >= 0);
}

static void test_wait_inside_task(void **s)
{
	(void)s;
	strata_pool_options o = {.threads = 2};
	pool = strata_pool_create(&o);
	atomic_store(&counter, 0);
	int ok = 0;
	strata_group g = STRATA_GROUP_INIT;
	strata_pool_spawn(pool, &g, parent_task, &ok);
	strata_pool_wait(pool, &g);
	assert_int_equal(ok, 1);
	strata_pool_free(pool);
	pool = NULL;
}

/* ---- shutdown with work pending: every queued task still runs ---- */
static void chain_task(void *arg)
{
	long depth = (long)(intptr_t)arg;
	atomic_fetch_add(&counter, 1);
	if (depth > 0)
		strata_pool_spawn(pool, NULL, chain_task, (void *)(intptr_t)(depth - 1));
}

static void test_shutdown_pending(void **s)
{
	(void)s;
	for (unsigned threads = 1; threads <= 3; threads++) {
		strata_pool_options o = {.threads = threads};
		pool = strata_pool_create(&o);
		atomic_store(&counter, 0);
		for (int i = 0; i < 1000; i++)
			strata_pool_spawn(pool, NULL, chain_task, (void *)(intptr_t)9);
		strata_pool_free(pool); /* returns only after the drain */
		pool = NULL;
		assert_int_equal(atomic_load(&counter), 10000);
	}
}

/* ---- help(): a worker waiting on a non-group condition runs tasks ---- */
static atomic_int flag;
static void set_flag(void *arg)
{
	(void)arg;
	atomic_store(&flag, 1);
}
static void helper_task(void *arg)
{
	(void)arg;
	strata_pool_spawn(pool, NULL, set_flag, NULL);
	/* With one worker nobody else can run set_flag: help must. */
	while (!atomic_load(&flag))
		strata_pool_help(pool);
}

static void test_help_one_worker(void **s)
{
	(void)s;
	strata_pool_options o = {.threads = 1};
	pool = strata_pool_create(&o);
	atomic_store(&flag, 0);
	strata_group g = STRATA_GROUP_INIT;
	strata_pool_spawn(pool, &g, helper_task, NULL);
	strata_pool_wait(pool, &g);
	assert_int_equal(atomic_load(&flag), 1);
	strata_pool_free(pool);
	pool = NULL;
}

/* help_local runs the caller's own tasks, never injected (or stolen) ones. */
static atomic_int own_ran, injected_ran;
static void own_task(void *arg)
{
	(void)arg;
	atomic_store(&own_ran, 1);
}
static void injected_task(void *arg)
{
	(void)arg;
	atomic_store(&injected_ran, 1);
}
static void local_helper_task(void *arg)
{
	int *ok = arg;
	strata_pool_spawn(pool, NULL, own_task, NULL); /* from a worker: its own deque */
	bool first = strata_pool_help_local(pool);
	bool second = strata_pool_help_local(pool); /* only the injected task is left */
	*ok = first && !second && atomic_load(&own_ran) == 1 && atomic_load(&injected_ran) == 0;
}

static void test_help_local(void **s)
{
	(void)s;
	strata_pool_options o = {.threads = 1};
	pool = strata_pool_create(&o);
	atomic_store(&own_ran, 0);
	atomic_store(&injected_ran, 0);
	int ok = 0;
	strata_group g = STRATA_GROUP_INIT;
	/* Both injected (foreign thread, FIFO): the helper runs first, the
	 * other waits in the injection queue while the helper helps. */
	strata_pool_spawn(pool, &g, local_helper_task, &ok);
	strata_pool_spawn(pool, &g, injected_task, NULL);
	strata_pool_wait(pool, &g);
	assert_int_equal(ok, 1);
	assert_int_equal(atomic_load(&injected_ran), 1);
	assert_false(strata_pool_help_local(pool)); /* foreign thread */
	strata_pool_free(pool);
	pool = NULL;
}

static void test_default_threads(void **s)
{
	(void)s;
	strata_pool_options o = {0};
	strata_pool *p = strata_pool_create(&o);
	assert_non_null(p);
	assert_true(strata_pool_threads(p) >= 1);
	strata_pool_free(p);
	strata_pool_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_threads),
		cmocka_unit_test(test_fib_many_workers),
		cmocka_unit_test(test_fib_one_worker),
		cmocka_unit_test(test_million_tiny),
		cmocka_unit_test(test_foreign_spawns),
		cmocka_unit_test(test_wait_inside_task),
		cmocka_unit_test(test_shutdown_pending),
		cmocka_unit_test(test_help_one_worker),
		cmocka_unit_test(test_help_local),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
