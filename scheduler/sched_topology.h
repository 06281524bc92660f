/* strata_topology: how many physical cores this process may use, and binding
 * a thread to one of them. Uses hwloc; when hwloc cannot see the topology
 * (containers often hide it) it falls back to sysconf(_SC_NPROCESSORS_ONLN)
 * capped by sched_getaffinity, without binding.
 *
 * Threads: create/free on one thread; bind may be called concurrently from
 * different threads once created (hwloc's binding calls are thread-safe). */
#ifndef SCHED_TOPOLOGY_H
#define SCHED_TOPOLOGY_H

#include <stdbool.h>

typedef struct strata_topology strata_topology;

/* Never NULL (out of memory aborts). When hwloc fails, *notice_ret (if not
 * NULL) points to a static one-line explanation; otherwise it is set NULL. */
strata_topology *strata_topology_create(const char **notice_ret);
void strata_topology_free(strata_topology *topo); /* accepts NULL */

/* Physical cores the process may run on: at least 1, never more than the
 * CPUs in the affinity mask. */
unsigned strata_topology_cores(const strata_topology *topo);
/* True when binding is possible (hwloc saw the topology). */
bool strata_topology_can_bind(const strata_topology *topo);
/* Binds the calling thread to allowed core `index` (modulo the core count).
 * Returns 0, or -1 when binding is unsupported or refused (harmless). */
int strata_topology_bind_self(strata_topology *topo, unsigned index);

#endif
