/* The work-stealing pool. See sched_pool.h for the contract.
 *
 * Parking without lost wake-ups: a spawner publishes the task, then (seq_cst
 * fence) reads `idle`; a parker increments `idle` (seq_cst), then re-checks
 * every queue under `park_mutex` before sleeping. By sequential consistency
 * either the spawner sees idle > 0 and signals under the mutex, or the parker
 * sees the task. The same pattern wakes foreign threads waiting on a group.
 *
 * Wake-ups are throttled: `wake_pending` allows one signal in flight. The
 * woken worker clears it and, if it finds work while more remains, passes the
 * wake on. Without this, a producer spawning tiny tasks pays a futex wake per
 * spawn while the other workers bounce between parking and waking.
 *
 * Shutdown drains: workers leave only when `stopping` is set and they find no
 * work anywhere, so tasks queued before free (and their children) all run. */
#define _GNU_SOURCE
#include "sched_pool.h"
#include "sched_atomic.h"
#include "sched_deque.h"
#include "sched_topology.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One cache line each: neighbouring slab tasks are written by the producer
 * and read by thieves at the same time (false sharing quadrupled the cost). */
typedef struct task {
	_Alignas(SCHED_CACHE_LINE) strata_task_fn fn;
	void *arg;
	strata_group *group;
	struct task *next; /* injection queue / free list link */
	int home;          /* worker whose slab holds it, -1: plain malloc */
} task;

/* Task memory. A producer on one worker and thieves on others would make
 * every task a cross-thread malloc/free pair (a third of the cost of a tiny
 * task, measured). Instead each worker carves tasks from its own slabs;
 * a task run elsewhere goes back to its home worker in batches of
 * RETURN_BATCH through a lock-free stack (one CAS per batch). */
_Static_assert(sizeof(struct task) == SCHED_CACHE_LINE, "a task is one cache line");
#define SLAB_TASKS 256
#define RETURN_BATCH 32

typedef struct slab {
	struct slab *next;
	task tasks[SLAB_TASKS];
} slab;

typedef struct return_batch {
	task *head, *tail;
	unsigned count;
	int home; /* the worker these tasks go back to, or -1 */
} return_batch;

/* Batches a worker keeps open at once, indexed by home % RETURN_SLOTS: one
 * per other worker would cost workers^2 memory (25 MB at --threads 1024). A
 * batch for another home in the same slot is flushed first. */
#define RETURN_SLOTS 16

/* Hot per-worker state, padded so neighbours do not share a line. */
typedef struct worker {
	_Alignas(SCHED_CACHE_LINE) strata_deque *deque;
	strata_pool *pool;
	pthread_t thread;
	unsigned index;
	uint64_t rng;          /* owner-private xorshift state for victim choice */
	task *free_local;      /* owner-private free tasks of this worker's slabs */
	slab *slabs;           /* owner-private; freed by strata_pool_free */
	return_batch *returns; /* owner-private, RETURN_SLOTS of them */
	/* Completions of `done_group` not yet subtracted from its counter: a
	 * thief running many tiny tasks of one group would otherwise bounce the
	 * counter's line once per task. Flushed before anything other than
	 * running the next task of the same group (see flush_done). */
	strata_group *done_group;
	long done_count;
	/* Tasks of this worker's slabs sent back by others (Treiber stack:
	 * pushers CAS, the owner takes the whole list with an exchange). */
	_Alignas(SCHED_CACHE_LINE) _Atomic(task *) free_remote;
} worker;
_Static_assert(sizeof(worker) % SCHED_CACHE_LINE == 0, "worker must fill whole cache lines");

struct strata_pool {
	const char *notice; /* from the topology, or NULL; static */
	worker *workers;
	unsigned nworkers;
	unsigned started; /* threads actually created */
	strata_topology *topo;
	bool bind;

	/* Injection queue for spawns from foreign threads. inject_mutex protects
	 * head/tail; inject_count mirrors the length so workers can skip the lock. */
	pthread_mutex_t inject_mutex;
	task *inject_head, *inject_tail;
	_Alignas(SCHED_CACHE_LINE) atomic_long inject_count;

	/* Parking: park_mutex guards the sleep/wake hand-off on park_cond;
	 * idle counts workers between "about to sleep" and "woke up". */
	_Alignas(SCHED_CACHE_LINE) atomic_int idle;
	atomic_bool wake_pending; /* a signal is in flight; see top comment */
	atomic_bool stopping;
	pthread_mutex_t park_mutex;
	pthread_cond_t park_cond;

	/* Foreign threads waiting in strata_pool_wait sleep on group_cond;
	 * external_waiters counts them. It lives here, not in the group,
	 * because the finisher must not touch a group once its count reaches
	 * zero: a worker waiting on it may already have returned and freed it. */
	atomic_int external_waiters;
	pthread_mutex_t group_mutex;
	pthread_cond_t group_cond;
};

static _Thread_local worker *tls_worker;

static worker *current_worker(const strata_pool *pool)
{
	worker *w = tls_worker;
	return (w != NULL && w->pool == pool) ? w : NULL;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static task *inject_pop(strata_pool *pool)
{
	if (atomic_load_explicit(&pool->inject_count, MO_RELAXED) == 0)
		return NULL;
	pthread_mutex_lock(&pool->inject_mutex);
	task *t = pool->inject_head;
	if (t != NULL) {
		pool->inject_head = t->next;
		if (pool->inject_head == NULL)
			pool->inject_tail = NULL;
		atomic_fetch_sub_explicit(&pool->inject_count, 1, MO_RELAXED);
	}
	pthread_mutex_unlock(&pool->inject_mutex);
	return t;
}

/* One pass over the other workers, starting at a random victim. */
static task *steal_round(strata_pool *pool, worker *self)
{
	unsigned n = pool->nworkers;
	unsigned start = self ? (unsigned)(xorshift(&self->rng) % n) : 0;
	bool contended = true;
	/* Retry while some steal lost a race: the victim still had work. */
	for (int round = 0; contended && round < 4; round++) {
		contended = false;
		for (unsigned k = 0; k < n; k++) {
			worker *v = &pool->workers[(start + k) % n];
			if (v == self)
				continue;
			void *x = strata_deque_steal(v->deque);
			if (x == STRATA_DEQUE_ABORT) {
				contended = true;
				continue;
			}
			if (x != NULL)
				return x;
		}
	}
	return NULL;
}

static task *find_task(strata_pool *pool, worker *self)
{
	task *t = NULL;
	if (self != NULL)
		t = strata_deque_take(self->deque);
	if (t == NULL)
		t = inject_pop(pool);
	if (t == NULL && pool->nworkers > 1)
		t = steal_round(pool, self);
	return t;
}

static bool any_work(strata_pool *pool)
{
	if (atomic_load_explicit(&pool->inject_count, MO_SEQ_CST) > 0)
		return true;
	for (unsigned i = 0; i < pool->nworkers; i++)
		if (strata_deque_maybe_nonempty(pool->workers[i].deque))
			return true;
	return false;
}

static task *task_alloc(worker *w)
{
	if (w == NULL) {
		task *t = aligned_alloc(SCHED_CACHE_LINE, sizeof *t);
		if (t == NULL)
			abort();
		t->home = -1;
		return t;
	}
	if (w->free_local == NULL)
		w->free_local = atomic_exchange_explicit(&w->free_remote, NULL, MO_ACQUIRE);
	if (w->free_local == NULL) {
		slab *sl = aligned_alloc(SCHED_CACHE_LINE, sizeof *sl);
		if (sl == NULL)
			abort();
		sl->next = w->slabs;
		w->slabs = sl;
		for (int i = 0; i < SLAB_TASKS; i++) {
			sl->tasks[i].home = (int)w->index;
			sl->tasks[i].next = i + 1 < SLAB_TASKS ? &sl->tasks[i + 1] : NULL;
		}
		w->free_local = &sl->tasks[0];
	}
	task *t = w->free_local;
	w->free_local = t->next;
	return t;
}

static void return_push(worker *home, task *head, task *tail)
{
	task *old = atomic_load_explicit(&home->free_remote, MO_RELAXED);
	do {
		tail->next = old;
	} while (!atomic_compare_exchange_weak_explicit(&home->free_remote, &old, head, MO_RELEASE,
							MO_RELAXED));
}

/* w: the worker that ran t, or NULL on a foreign thread (only in free). */
static void task_release(strata_pool *pool, worker *w, task *t)
{
	if (t->home < 0) {
		free(t);
		return;
	}
	if (w != NULL && t->home == (int)w->index) {
		t->next = w->free_local;
		w->free_local = t;
		return;
	}
	worker *home = &pool->workers[t->home];
	if (w == NULL) {
		t->next = t;
		return_push(home, t, t);
		return;
	}
	return_batch *b = &w->returns[t->home % RETURN_SLOTS];
	if (b->home != t->home) {
		if (b->count > 0)
			return_push(&pool->workers[b->home], b->head, b->tail);
		b->head = b->tail = NULL;
		b->count = 0;
		b->home = t->home;
	}
	t->next = b->head;
	b->head = t;
	if (b->tail == NULL)
		b->tail = t;
	if (++b->count == RETURN_BATCH) {
		return_push(home, b->head, b->tail);
		b->head = b->tail = NULL;
		b->count = 0;
	}
}

static void group_done(strata_pool *pool, strata_group *g, long n)
{
	if (atomic_fetch_sub_explicit(&g->pending, n, MO_SEQ_CST) == n &&
	    atomic_load_explicit(&pool->external_waiters, MO_SEQ_CST) > 0) {
		pthread_mutex_lock(&pool->group_mutex);
		pthread_cond_broadcast(&pool->group_cond);
		pthread_mutex_unlock(&pool->group_mutex);
	}
}

static void flush_done(strata_pool *pool, worker *w)
{
	if (w->done_count == 0)
		return;
	strata_group *g = w->done_group;
	long n = w->done_count;
	w->done_group = NULL;
	w->done_count = 0;
	group_done(pool, g, n);
}

#define DONE_BATCH 64

static void run_task(strata_pool *pool, worker *w, task *t)
{
	strata_group *g = t->group;
	strata_task_fn fn = t->fn;
	void *arg = t->arg;
	/* Release before running: the task's memory is recycled sooner and a
	 * long-running fn does not pin it. */
	task_release(pool, w, t);
	if (w != NULL && w->done_group != g)
		flush_done(pool, w);
	fn(arg);
	if (g == NULL)
		return;
	if (w == NULL) {
		group_done(pool, g, 1);
		return;
	}
	/* fn may have flushed (a nested wait), so re-check the batch owner. */
	if (w->done_count > 0 && w->done_group != g)
		flush_done(pool, w);
	w->done_group = g;
	if (++w->done_count >= DONE_BATCH)
		flush_done(pool, w);
}

/* strict: the caller needs the wake for liveness (a task in the injection
 * queue has no owner to drain it), so the Dekker fence is required. A push
 * into a worker's own deque never needs one: the owner drains its deque
 * before it parks, so a missed wake costs parallelism for an instant, never
 * progress, and the fence (an mfence per spawn) is skipped. */
static void wake_one(strata_pool *pool, bool strict)
{
	if (strict)
		SCHED_FENCE_SEQ_CST();
	if (atomic_load_explicit(&pool->idle, strict ? MO_SEQ_CST : MO_RELAXED) == 0 ||
	    atomic_load_explicit(&pool->wake_pending, MO_SEQ_CST) ||
	    atomic_exchange_explicit(&pool->wake_pending, true, MO_SEQ_CST))
		return;
	pthread_mutex_lock(&pool->park_mutex);
	/* Under the mutex every worker counted in idle is inside cond_wait
	 * (the check-then-wait in park holds the mutex), so idle > 0 means the
	 * signal reaches a sleeper, which clears wake_pending. */
	if (atomic_load_explicit(&pool->idle, MO_SEQ_CST) > 0)
		pthread_cond_signal(&pool->park_cond);
	else
		atomic_store_explicit(&pool->wake_pending, false, MO_SEQ_CST);
	pthread_mutex_unlock(&pool->park_mutex);
}

/* Returns true when the worker actually slept. */
static bool park(strata_pool *pool)
{
	bool slept = false;
	pthread_mutex_lock(&pool->park_mutex);
	atomic_fetch_add_explicit(&pool->idle, 1, MO_SEQ_CST);
	SCHED_FENCE_SEQ_CST();
	if (!any_work(pool) && !atomic_load_explicit(&pool->stopping, MO_SEQ_CST)) {
		pthread_cond_wait(&pool->park_cond, &pool->park_mutex);
		slept = true;
	}
	atomic_fetch_sub_explicit(&pool->idle, 1, MO_SEQ_CST);
	if (slept)
		atomic_store_explicit(&pool->wake_pending, false, MO_SEQ_CST);
	pthread_mutex_unlock(&pool->park_mutex);
	return slept;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	strata_pool *pool = w->pool;
	tls_worker = w;
	if (pool->bind)
		strata_topology_bind_self(pool->topo, w->index);

	bool woken = false;
	for (;;) {
		task *t = find_task(pool, w);
		if (t != NULL) {
			/* Just woken and found work: if more is queued, another
			 * sleeper should come too (wakes travel one at a time). */
			if (woken && any_work(pool))
				wake_one(pool, false);
			woken = false;
			run_task(pool, w, t);
			continue;
		}
		flush_done(pool, w);
		/* A short spin catches work spawned a moment later (fork-join
		 * bursts) without the cost of a sleep/wake round trip. */
		for (int i = 0; i < 64 && t == NULL; i++) {
			sched_cpu_relax();
			t = find_task(pool, w);
		}
		if (t != NULL) {
			run_task(pool, w, t);
			continue;
		}
		if (atomic_load_explicit(&pool->stopping, MO_SEQ_CST) && !any_work(pool))
			break;
		woken = park(pool);
	}
	tls_worker = NULL;
	return NULL;
}

strata_pool *strata_pool_create(const strata_pool_options *opts)
{
	strata_pool_options defaults = {0};
	if (opts == NULL)
		opts = &defaults;

	strata_pool *pool = calloc(1, sizeof *pool);
	if (pool == NULL)
		return NULL;
	pool->topo = strata_topology_create(&pool->notice);
	unsigned cores = strata_topology_cores(pool->topo);
	pool->nworkers = opts->threads ? opts->threads : cores;
	/* Pinning only makes sense with at most one worker per core. */
	pool->bind = !opts->no_bind && strata_topology_can_bind(pool->topo) &&
		     pool->nworkers <= cores;

	pthread_mutex_init(&pool->inject_mutex, NULL);
	pthread_mutex_init(&pool->park_mutex, NULL);
	pthread_cond_init(&pool->park_cond, NULL);
	pthread_mutex_init(&pool->group_mutex, NULL);
	pthread_cond_init(&pool->group_cond, NULL);
	atomic_init(&pool->inject_count, 0);
	atomic_init(&pool->idle, 0);
	atomic_init(&pool->external_waiters, 0);
	atomic_init(&pool->stopping, false);
	atomic_init(&pool->wake_pending, false);

	pool->workers = aligned_alloc(SCHED_CACHE_LINE, pool->nworkers * sizeof(worker));
	if (pool->workers == NULL) {
		strata_pool_free(pool);
		errno = ENOMEM;
		return NULL;
	}
	memset(pool->workers, 0, pool->nworkers * sizeof(worker));
	for (unsigned i = 0; i < pool->nworkers; i++) {
		worker *w = &pool->workers[i];
		w->pool = pool;
		w->index = i;
		w->rng = 0x9e3779b97f4a7c15ull * (i + 1);
		w->deque = strata_deque_create(8);
		w->returns = calloc(RETURN_SLOTS, sizeof *w->returns);
		for (int k = 0; w->returns != NULL && k < RETURN_SLOTS; k++)
			w->returns[k].home = -1;
		if (w->deque == NULL || w->returns == NULL)
			abort();
		atomic_init(&w->free_remote, NULL);
	}
	for (unsigned i = 0; i < pool->nworkers; i++) {
		int r = pthread_create(&pool->workers[i].thread, NULL, worker_main, &pool->workers[i]);
		if (r != 0) {
			strata_pool_free(pool);
			errno = r;
			return NULL;
		}
		pool->started++;
	}
	return pool;
}

void strata_pool_free(strata_pool *pool)
{
	if (pool == NULL)
		return;
	assert(current_worker(pool) == NULL && "a task must not free its own pool");
	atomic_store_explicit(&pool->stopping, true, MO_SEQ_CST);
	pthread_mutex_lock(&pool->park_mutex);
	pthread_cond_broadcast(&pool->park_cond);
	pthread_mutex_unlock(&pool->park_mutex);
	for (unsigned i = 0; i < pool->started; i++)
		pthread_join(pool->workers[i].thread, NULL);
	/* Tasks injected but never run only exist if no worker started. */
	task *t;
	while ((t = inject_pop(pool)) != NULL)
		run_task(pool, NULL, t);
	if (pool->workers != NULL)
		for (unsigned i = 0; i < pool->nworkers; i++) {
			worker *w = &pool->workers[i];
			strata_deque_free(w->deque);
			/* Slabs own every slab task, wherever it was left. */
			while (w->slabs != NULL) {
				slab *next = w->slabs->next;
				free(w->slabs);
				w->slabs = next;
			}
			free(w->returns);
		}
	free(pool->workers);
	pthread_mutex_destroy(&pool->inject_mutex);
	pthread_mutex_destroy(&pool->park_mutex);
	pthread_cond_destroy(&pool->park_cond);
	pthread_mutex_destroy(&pool->group_mutex);
	pthread_cond_destroy(&pool->group_cond);
	strata_topology_free(pool->topo);
	free(pool);
}

unsigned strata_pool_threads(const strata_pool *pool)
{
	return pool->nworkers;
}

int strata_pool_worker_index(const strata_pool *pool)
{
	worker *w = current_worker(pool);
	return w ? (int)w->index : -1;
}

void strata_pool_spawn(strata_pool *pool, strata_group *group, strata_task_fn fn, void *arg)
{
	assert(fn != NULL);
	worker *w = current_worker(pool);
	task *t = task_alloc(w);
	t->fn = fn;
	t->arg = arg;
	t->group = group;
	t->next = NULL;
	if (group != NULL)
		atomic_fetch_add_explicit(&group->pending, 1, MO_RELAXED);

	if (w != NULL) {
		strata_deque_push(w->deque, t);
		wake_one(pool, false);
	} else {
		pthread_mutex_lock(&pool->inject_mutex);
		if (pool->inject_tail)
			pool->inject_tail->next = t;
		else
			pool->inject_head = t;
		pool->inject_tail = t;
		atomic_fetch_add_explicit(&pool->inject_count, 1, MO_SEQ_CST);
		pthread_mutex_unlock(&pool->inject_mutex);
		wake_one(pool, true);
	}
}

bool strata_pool_help(strata_pool *pool)
{
	worker *w = current_worker(pool);
	if (w == NULL)
		return false;
	task *t = find_task(pool, w);
	if (t == NULL) {
		flush_done(pool, w);
		return false;
	}
	run_task(pool, w, t);
	return true;
}

bool strata_pool_help_local(strata_pool *pool)
{
	worker *w = current_worker(pool);
	if (w == NULL)
		return false;
	task *t = strata_deque_take(w->deque);
	if (t == NULL) {
		flush_done(pool, w);
		return false;
	}
	run_task(pool, w, t);
	return true;
}

void strata_pool_wait(strata_pool *pool, strata_group *group)
{
	worker *w = current_worker(pool);
	if (w != NULL) {
		unsigned misses = 0;
		/* Our own unflushed completions may be what the group waits for
		 * (or what an outer waiter waits for while we are nested here). */
		flush_done(pool, w);
		while (atomic_load_explicit(&group->pending, MO_ACQUIRE) > 0) {
			task *t = find_task(pool, w);
			if (t != NULL) {
				run_task(pool, w, t);
				misses = 0;
			} else if (flush_done(pool, w), ++misses < 128) {
				sched_cpu_relax();
			} else {
				/* The group's last tasks run elsewhere; give the core
				 * away instead of spinning hot. */
				sched_yield();
			}
		}
		return;
	}
	pthread_mutex_lock(&pool->group_mutex);
	atomic_fetch_add_explicit(&pool->external_waiters, 1, MO_SEQ_CST);
	while (atomic_load_explicit(&group->pending, MO_SEQ_CST) > 0)
		pthread_cond_wait(&pool->group_cond, &pool->group_mutex);
	atomic_fetch_sub_explicit(&pool->external_waiters, 1, MO_SEQ_CST);
	pthread_mutex_unlock(&pool->group_mutex);
}

const char *strata_pool_notice(const strata_pool *pool)
{
	return pool->notice;
}
