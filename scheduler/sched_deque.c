/* Chase-Lev deque with the orderings of Le et al. 2013, as model-checked in
 * CDSChecker's "bugfix" copy. The two seq_cst fences carry the algorithm: in
 * take the fence orders "store bottom -> load top", in steal "load top ->
 * load bottom" (a store->load pattern acquire/release cannot provide). The
 * release fence in push pairs with the acquire load of bottom in steal; the
 * release store / acquire load of `array` publishes a grown ring; the seq_cst
 * CAS on top is where owner and thieves race for the last item.
 *
 * Pitfalls handled here: indices are signed 64-bit (take at bottom == 0 must
 * see b = -1 < t, not a wrapped huge value); slots are _Atomic (a thief with a
 * stale top may read a slot the owner is overwriting); push reloads the array
 * after growing (the paper omitted that); retired rings are kept until free. */
#include "sched_deque.h"
#include "sched_atomic.h"

#include <assert.h>
#include <stdlib.h>

typedef struct ring {
	int64_t mask; /* capacity - 1; capacity is a power of two */
	struct ring *retired_next; /* owner-private list of replaced rings */
	_Atomic(void *) slot[];
} ring;

struct strata_deque {
	/* top is written by thieves (CAS) and the owner (CAS on the last item);
	 * bottom only by the owner. They sit on separate cache lines so the
	 * owner's push/take does not bounce the line thieves CAS on. */
	_Alignas(SCHED_CACHE_LINE) _Atomic int64_t top;
	_Alignas(SCHED_CACHE_LINE) _Atomic int64_t bottom;
	_Atomic(ring *) array;
	ring *retired; /* owner-private */
};

static ring *ring_new(int64_t capacity)
{
	assert(capacity > 0 && (capacity & (capacity - 1)) == 0);
	ring *r = malloc(sizeof(ring) + (size_t)capacity * sizeof(_Atomic(void *)));
	if (r == NULL)
		return NULL;
	r->mask = capacity - 1;
	r->retired_next = NULL;
	for (int64_t i = 0; i < capacity; i++)
		atomic_init(&r->slot[i], NULL);
	return r;
}

strata_deque *strata_deque_create(unsigned log2_capacity)
{
	assert(log2_capacity < 40);
	strata_deque *q = aligned_alloc(SCHED_CACHE_LINE, sizeof(strata_deque));
	if (q == NULL)
		return NULL;
	ring *r = ring_new((int64_t)1 << log2_capacity);
	if (r == NULL) {
		free(q);
		return NULL;
	}
	atomic_init(&q->top, 0);
	atomic_init(&q->bottom, 0);
	atomic_init(&q->array, r);
	q->retired = NULL;
	return q;
}

void strata_deque_free(strata_deque *q)
{
	if (q == NULL)
		return;
	ring *r = q->retired;
	while (r != NULL) {
		ring *next = r->retired_next;
		free(r);
		r = next;
	}
	free(atomic_load_explicit(&q->array, MO_RELAXED));
	free(q);
}

/* Owner only: doubles the ring, copying the live range [t, b). */
static ring *grow(strata_deque *q, ring *old, int64_t t, int64_t b)
{
	ring *r = ring_new((old->mask + 1) * 2);
	if (r == NULL) {
		/* The pool cannot report this from push; out of memory is fatal. */
		abort();
	}
	for (int64_t i = t; i < b; i++) {
		void *x = atomic_load_explicit(&old->slot[i & old->mask], MO_RELAXED);
		atomic_store_explicit(&r->slot[i & r->mask], x, MO_RELAXED);
	}
	old->retired_next = q->retired;
	q->retired = old;
	atomic_store_explicit(&q->array, r, MO_RELEASE);
	return r;
}

void strata_deque_push(strata_deque *q, void *item)
{
	assert(item != NULL && item != STRATA_DEQUE_ABORT);
	int64_t b = atomic_load_explicit(&q->bottom, MO_RELAXED);
	int64_t t = atomic_load_explicit(&q->top, MO_ACQUIRE);
	ring *a = atomic_load_explicit(&q->array, MO_RELAXED);
	if (b - t > a->mask) {
		grow(q, a, t, b);
		a = atomic_load_explicit(&q->array, MO_RELAXED);
	}
	atomic_store_explicit(&a->slot[b & a->mask], item, MO_RELAXED);
	SCHED_FENCE_RELEASE();
	atomic_store_explicit(&q->bottom, b + 1, MO_RELAXED);
}

void *strata_deque_take(strata_deque *q)
{
	int64_t b = atomic_load_explicit(&q->bottom, MO_RELAXED) - 1;
	ring *a = atomic_load_explicit(&q->array, MO_RELAXED);
	atomic_store_explicit(&q->bottom, b, MO_RELAXED);
	SCHED_FENCE_SEQ_CST();
	int64_t t = atomic_load_explicit(&q->top, MO_RELAXED);
	void *x;
	if (t <= b) {
		x = atomic_load_explicit(&a->slot[b & a->mask], MO_RELAXED);
		if (t == b) {
			/* Last item: race the thieves for it. */
			if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1, MO_SEQ_CST,
								     MO_RELAXED))
				x = NULL;
			atomic_store_explicit(&q->bottom, b + 1, MO_RELAXED);
		}
	} else {
		x = NULL;
		atomic_store_explicit(&q->bottom, b + 1, MO_RELAXED);
	}
	return x;
}

void *strata_deque_steal(strata_deque *q)
{
	int64_t t = atomic_load_explicit(&q->top, MO_ACQUIRE);
	SCHED_FENCE_SEQ_CST();
	int64_t b = atomic_load_explicit(&q->bottom, MO_ACQUIRE);
	if (t >= b)
		return NULL;
	ring *a = atomic_load_explicit(&q->array, MO_ACQUIRE);
	void *x = atomic_load_explicit(&a->slot[t & a->mask], MO_RELAXED);
	if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1, MO_SEQ_CST, MO_RELAXED))
		return STRATA_DEQUE_ABORT;
	return x;
}

bool strata_deque_maybe_nonempty(strata_deque *q)
{
	int64_t t = atomic_load_explicit(&q->top, MO_RELAXED);
	int64_t b = atomic_load_explicit(&q->bottom, MO_RELAXED);
	return b > t;
}
