/* strata_cancel: the cancellation token a job takes. The front end requests
 * it (from a signal handler: the store is a lock-free atomic, async-signal-
 * safe); every long loop of the job (walks, copies, reads, the layer
 * pipeline) polls it and stops with an "interrupted" error. A NULL token is
 * never cancelled. Removing temporary files is never cancelled.
 *
 * Threads: request from any thread or signal handler, poll from any. */
#ifndef STRATA_CANCEL_H
#define STRATA_CANCEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct strata_cancel {
	atomic_int requested; /* 0, or why (a signal number, say) */
} strata_cancel;

#define STRATA_CANCEL_INIT {0}

static inline void strata_cancel_request(strata_cancel *c, int why)
{
	atomic_store_explicit(&c->requested, why ? why : 1, memory_order_relaxed);
}

static inline bool strata_cancel_requested(const strata_cancel *c)
{
	return c != NULL && atomic_load_explicit(&c->requested, memory_order_relaxed) != 0;
}

#endif
