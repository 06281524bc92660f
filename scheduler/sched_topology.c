#define _GNU_SOURCE
#include "sched_topology.h"

#include <hwloc.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

struct strata_topology {
	hwloc_topology_t topo; /* NULL when hwloc failed */
	unsigned cores;
	unsigned affinity_cpus;
};

static unsigned affinity_count(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof set, &set) == 0) {
		int n = CPU_COUNT(&set);
		if (n > 0)
			return (unsigned)n;
	}
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

strata_topology *strata_topology_create(const char **notice_ret)
{
	strata_topology *t = calloc(1, sizeof *t);
	if (t == NULL)
		abort();
	t->affinity_cpus = affinity_count();
	if (notice_ret)
		*notice_ret = NULL;

	hwloc_topology_t topo = NULL;
	int cores = -1;
	if (hwloc_topology_init(&topo) == 0) {
		/* Only what this process may use: a cgroup- or taskset-limited
		 * process must not spawn a worker per host core. */
		hwloc_topology_set_flags(topo, HWLOC_TOPOLOGY_FLAG_IS_THISSYSTEM);
		if (hwloc_topology_load(topo) == 0)
			cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
	}
	if (cores <= 0) {
		if (topo)
			hwloc_topology_destroy(topo);
		t->topo = NULL;
		t->cores = t->affinity_cpus;
		if (notice_ret)
			*notice_ret = "hwloc could not read the CPU topology; using the online CPU count, threads unbound";
		return t;
	}
	t->topo = topo;
	t->cores = (unsigned)cores < t->affinity_cpus ? (unsigned)cores : t->affinity_cpus;
	return t;
}

void strata_topology_free(strata_topology *t)
{
	if (t == NULL)
		return;
	if (t->topo)
		hwloc_topology_destroy(t->topo);
	free(t);
}

unsigned strata_topology_cores(const strata_topology *t)
{
	return t->cores ? t->cores : 1;
}

bool strata_topology_can_bind(const strata_topology *t)
{
	return t->topo != NULL;
}

int strata_topology_bind_self(strata_topology *t, unsigned index)
{
	if (t->topo == NULL)
		return -1;
	int n = hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_CORE);
	if (n <= 0)
		return -1;
	hwloc_obj_t core = hwloc_get_obj_by_type(t->topo, HWLOC_OBJ_CORE, index % (unsigned)n);
	if (core == NULL || core->cpuset == NULL)
		return -1;
	return hwloc_set_cpubind(t->topo, core->cpuset, HWLOC_CPUBIND_THREAD) == 0 ? 0 : -1;
}
