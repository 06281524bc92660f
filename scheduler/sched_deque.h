/* strata_deque: the Chase-Lev work-stealing deque (Le, Pop, Cohen, Zappa
 * Nardelli, PPoPP 2013), holding opaque non-NULL pointers.
 *
 * Threads: exactly one owner thread may call push and take; any thread may
 * call steal concurrently with the owner and with other thieves. create and
 * free must not race with anything.
 *
 * Memory: the ring grows without bound (doubling). Arrays replaced by a grow
 * stay allocated until strata_deque_free, because a thief may still be
 * reading an old one; free therefore must run after every thread that could
 * touch the deque has stopped. */
#ifndef SCHED_DEQUE_H
#define SCHED_DEQUE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct strata_deque strata_deque;

/* Result of a steal that lost a race: the deque was not empty, retry later. */
#define STRATA_DEQUE_ABORT ((void *)1)

/* log2_capacity: initial ring size (1 << log2_capacity), at least 1. NULL on
 * out of memory. */
strata_deque *strata_deque_create(unsigned log2_capacity);
/* Accepts NULL. Items still inside are not freed (they are the caller's). */
void strata_deque_free(strata_deque *q);

/* Owner only. item must not be NULL or STRATA_DEQUE_ABORT. */
void strata_deque_push(strata_deque *q, void *item);
/* Owner only: the most recently pushed item, or NULL when empty. */
void *strata_deque_take(strata_deque *q);
/* Any thread: the oldest item, NULL when empty, or STRATA_DEQUE_ABORT when
 * another thread won the race for it. */
void *strata_deque_steal(strata_deque *q);
/* Any thread: a racy hint that the deque holds something. */
bool strata_deque_maybe_nonempty(strata_deque *q);

#endif
