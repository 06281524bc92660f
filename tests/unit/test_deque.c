/* Chase-Lev deque: single-thread semantics, then one owner racing thieves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "sched_deque.h"

#define ITEM(i) ((void *)(uintptr_t)((i) * 2 + 2)) /* never NULL nor ABORT(1) */
#define INDEX(p) ((long)(((uintptr_t)(p) - 2) / 2))

static void test_empty(void **state)
{
	(void)state;
	strata_deque *q = strata_deque_create(2);
	assert_non_null(q);
	/* take on an empty deque at bottom == 0 must not wrap (signed indices). */
	assert_null(strata_deque_take(q));
	assert_null(strata_deque_take(q));
	assert_null(strata_deque_steal(q));
	assert_false(strata_deque_maybe_nonempty(q));
	strata_deque_free(q);
	strata_deque_free(NULL);
}

static void test_lifo_fifo_and_grow(void **state)
{
	(void)state;
	strata_deque *q = strata_deque_create(1); /* capacity 2: forces grows */
	for (long i = 0; i < 1000; i++)
		strata_deque_push(q, ITEM(i));
	assert_true(strata_deque_maybe_nonempty(q));
	/* Thieves get the oldest, the owner the newest. */
	assert_ptr_equal(strata_deque_steal(q), ITEM(0));
	assert_ptr_equal(strata_deque_steal(q), ITEM(1));
	assert_ptr_equal(strata_deque_take(q), ITEM(999));
	assert_ptr_equal(strata_deque_take(q), ITEM(998));
	for (long i = 997; i >= 2; i--)
		assert_ptr_equal(strata_deque_take(q), ITEM(i));
	assert_null(strata_deque_take(q));
	assert_null(strata_deque_steal(q));
	/* Reuse after draining, interleaved. */
	strata_deque_push(q, ITEM(5));
	strata_deque_push(q, ITEM(6));
	assert_ptr_equal(strata_deque_steal(q), ITEM(5));
	strata_deque_push(q, ITEM(7));
	assert_ptr_equal(strata_deque_take(q), ITEM(7));
	assert_ptr_equal(strata_deque_take(q), ITEM(6));
	assert_null(strata_deque_take(q));
	strata_deque_free(q);
}

/* Stress: the owner pushes N items and pops some; THIEVES steal the rest.
 * Every item must be taken exactly once. */
#ifndef STRESS_ITEMS
#define STRESS_ITEMS 2000000L
#endif
#define THIEVES 3

static strata_deque *stress_q;
static atomic_uchar *seen;
static atomic_bool owner_done;
static atomic_long stolen_total;

static void record(void *p)
{
	long i = INDEX(p);
	assert_true(i >= 0 && i < STRESS_ITEMS);
	unsigned char prev = atomic_fetch_add(&seen[i], 1);
	assert_int_equal(prev, 0);
}

static void *thief(void *arg)
{
	(void)arg;
	long n = 0;
	for (;;) {
		void *x = strata_deque_steal(stress_q);
		if (x == STRATA_DEQUE_ABORT)
			continue;
		if (x == NULL) {
			if (atomic_load(&owner_done) && !strata_deque_maybe_nonempty(stress_q))
				break;
			continue;
		}
		record(x);
		n++;
	}
	atomic_fetch_add(&stolen_total, n);
	return NULL;
}

static void test_concurrent_stress(void **state)
{
	(void)state;
	stress_q = strata_deque_create(4);
	seen = calloc(STRESS_ITEMS, 1);
	atomic_store(&owner_done, false);
	atomic_store(&stolen_total, 0);
	pthread_t th[THIEVES];
	for (int i = 0; i < THIEVES; i++)
		pthread_create(&th[i], NULL, thief, NULL);

	long taken = 0;
	uint64_t rng = 88172645463325252ull;
	for (long i = 0; i < STRESS_ITEMS; i++) {
		strata_deque_push(stress_q, ITEM(i));
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		/* Pop in bursts so the deque often drains to its last item, the
		 * case where owner and thieves race on top. */
		if ((rng & 3) == 0) {
			int k = (int)((rng >> 8) & 7);
			for (int j = 0; j < k; j++) {
				void *x = strata_deque_take(stress_q);
				if (x == NULL)
					break;
				record(x);
				taken++;
			}
		}
	}
	void *x;
	while ((x = strata_deque_take(stress_q)) != NULL) {
		record(x);
		taken++;
	}
	atomic_store(&owner_done, true);
	for (int i = 0; i < THIEVES; i++)
		pthread_join(th[i], NULL);

	assert_int_equal(taken + atomic_load(&stolen_total), STRESS_ITEMS);
	for (long i = 0; i < STRESS_ITEMS; i++)
		assert_int_equal(atomic_load(&seen[i]), 1);
	free(seen);
	strata_deque_free(stress_q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_lifo_fifo_and_grow),
		cmocka_unit_test(test_concurrent_stress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
