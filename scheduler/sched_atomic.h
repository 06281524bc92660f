/* Memory orders used by the scheduler, in one place.
 *
 * TSan does not model standalone fences, so a build with -DSTRATA_SEQ_CST
 * turns every access into seq_cst and every fence into nothing: the algorithm
 * stays correct (seq_cst is stronger than each order it replaces) and TSan can
 * reason about every edge. The normal build uses exactly the orders of
 * Le et al. 2013 (see sched_deque.c).
 *
 * Threads: constants only. */
#ifndef SCHED_ATOMIC_H
#define SCHED_ATOMIC_H

#include <stdatomic.h>

#ifdef STRATA_SEQ_CST
#define MO_RELAXED memory_order_seq_cst
#define MO_ACQUIRE memory_order_seq_cst
#define MO_RELEASE memory_order_seq_cst
#define MO_ACQ_REL memory_order_seq_cst
#define SCHED_FENCE_RELEASE() ((void)0)
#define SCHED_FENCE_SEQ_CST() ((void)0)
#else
#define MO_RELAXED memory_order_relaxed
#define MO_ACQUIRE memory_order_acquire
#define MO_RELEASE memory_order_release
#define MO_ACQ_REL memory_order_acq_rel
#define SCHED_FENCE_RELEASE() atomic_thread_fence(memory_order_release)
#define SCHED_FENCE_SEQ_CST() atomic_thread_fence(memory_order_seq_cst)
#endif
#define MO_SEQ_CST memory_order_seq_cst

#define SCHED_CACHE_LINE 64

static inline void sched_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

#endif
