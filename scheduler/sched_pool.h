/* strata_pool: a work-stealing thread pool with fork-join task groups.
 *
 * Each worker owns a Chase-Lev deque (sched_deque.h): it pushes and pops its
 * own tasks at the bottom (LIFO, cache-warm), idle workers steal from the top
 * of a random victim (FIFO, the oldest and usually largest work). Spawns from
 * a thread that is not one of this pool's workers go to a shared injection
 * queue. Workers with nothing to do park on a condition variable and are woken
 * by the next spawn.
 *
 * Fork-join: a strata_group counts unfinished tasks. strata_pool_wait on a
 * worker runs other tasks until the group is done (so a task may wait for its
 * own children, even with one worker, without deadlock); on any other thread
 * it sleeps.
 *
 * Threads: spawn, wait and help may be called from any thread, concurrently.
 * create and free from one thread; free must not race with spawns from
 * outside the pool. A task must not free its own pool.
 *
 * The pool knows tasks, not layers: memory bounds are the caller's. */
#ifndef SCHED_POOL_H
#define SCHED_POOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct strata_pool strata_pool;
typedef void (*strata_task_fn)(void *arg);

/* A fork-join counter. Zero-initialise (or STRATA_GROUP_INIT) before the
 * first spawn into it; it may live on the stack of the thread that waits. It
 * must outlive every task spawned into it, i.e. wait before it goes away. */
typedef struct strata_group {
	atomic_long pending;
} strata_group;
#define STRATA_GROUP_INIT {0}

typedef struct strata_pool_options {
	unsigned threads; /* 0: one per physical core (topology) */
	bool no_bind;     /* do not pin worker i to core i */
} strata_pool_options;

/* Returns NULL with errno set when a thread cannot be started. opts may be
 * NULL (all defaults). */
strata_pool *strata_pool_create(const strata_pool_options *opts);

/* Runs every task still queued (including tasks they spawn), then stops and
 * joins the workers. Accepts NULL. */
void strata_pool_free(strata_pool *pool);

unsigned strata_pool_threads(const strata_pool *pool);

/* A one-line notice about how the pool was set up (hwloc could not see the
 * topology, say), or NULL. Static storage: the pool never prints; its user
 * decides. */
const char *strata_pool_notice(const strata_pool *pool);

/* Queues fn(arg). group may be NULL (fire and forget; the caller must then
 * know by other means when it has run). Never fails (out of memory aborts). */
void strata_pool_spawn(strata_pool *pool, strata_group *group, strata_task_fn fn, void *arg);

/* Returns when every task spawned into group has finished. */
void strata_pool_wait(strata_pool *pool, strata_group *group);

/* Runs at most one queued task on the calling thread if it is one of this
 * pool's workers (own deque first, then steals). Returns whether it ran one.
 * For code that must wait for something other than a group (a buffer budget,
 * say) without idling a core. On a foreign thread it returns false. */
bool strata_pool_help(strata_pool *pool);

/* Like strata_pool_help, but only takes from the calling worker's own deque
 * (the tasks it spawned itself, newest first): never steals, never takes
 * injected work. A task that waits for its own children this way cannot end
 * up running unrelated long tasks nested on its stack. */
bool strata_pool_help_local(strata_pool *pool);

/* Index of the calling worker of this pool in [0, threads), or -1. */
int strata_pool_worker_index(const strata_pool *pool);

#endif
