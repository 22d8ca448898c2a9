/*-------------------------------------------------------------------------
 * shmem.c
 *		agent_guard's shared memory: one area per concern.
 *
 * outbox.c (the state generation and the queue of refusals), policy.c (the
 * rate windows), runcount.c (rows per run) and worker.c (the sealers'
 * slots) each keep a struct in
 * shared memory, guarded by an LWLock of its own.  They register it here
 * from their init function, during _PG_init.  hooks.c, which installs
 * every hook, calls ag_shmem_request() from shmem_request_hook (PostgreSQL
 * 15 on; directly on 14) to ask for the space and the locks, and
 * ag_shmem_startup() from shmem_startup_hook to create each area, zeroed,
 * or attach to it, and hand it its lock.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "agent_guard.h"
#include "compat.h"

typedef struct AgShmemArea
{
	const char *name;			/* of the area and of its lock tranche */
	Size		size;
	void	  **ptr;			/* where the owner keeps its pointer */
	AgShmemInitFn init;			/* fills a new area; may be NULL */
} AgShmemArea;

#define AG_MAX_AREAS 8
static AgShmemArea areas[AG_MAX_AREAS];
static int	n_areas = 0;


/*
 * Register an area of size bytes whose first member is its LWLock pointer
 * (LWLock *lock): *ptr points to it once shared memory is set up.
 */
void
ag_shmem_register(const char *name, Size size, void **ptr, AgShmemInitFn init)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	if (n_areas >= AG_MAX_AREAS)
		elog(ERROR, "agent_guard: too many shared memory areas");
	Assert(size >= sizeof(LWLock *));
	areas[n_areas].name = name;
	areas[n_areas].size = size;
	areas[n_areas].ptr = ptr;
	areas[n_areas].init = init;
	n_areas++;
}

void
ag_shmem_request(void)
{
	int			i;

	for (i = 0; i < n_areas; i++)
	{
		RequestAddinShmemSpace(MAXALIGN(areas[i].size));
		RequestNamedLWLockTranche(areas[i].name, 1);
	}
}

void
ag_shmem_startup(void)
{
	int			i;


	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	for (i = 0; i < n_areas; i++)
	{
		bool		found;
		void	   *area = ShmemInitStruct(areas[i].name, areas[i].size, &found);

		if (!found)
		{
			memset(area, 0, areas[i].size);
			*(LWLock **) area = &(GetNamedLWLockTranche(areas[i].name))->lock;
			if (areas[i].init)
				areas[i].init(area);
		}
		*areas[i].ptr = area;
	}
	LWLockRelease(AddinShmemInitLock);
}
