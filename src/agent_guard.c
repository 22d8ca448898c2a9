/*-------------------------------------------------------------------------
 * agent_guard.c
 *		Module entry point.  _PG_init only checks how we were loaded and
 *		wires the modules together; every concern lives in its own file.
 *
 * agent_guard must be in shared_preload_libraries: its hooks have to see
 * every statement of every session from the first one on, and an agent
 * must not be able to run anything before the guard is in place.  Loading
 * it any other way (LOAD, or CREATE EXTENSION without the preload) is
 * refused with a hint that says how to fix the configuration.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "agent_guard.h"
#include "compat.h"

PG_MODULE_MAGIC;

bool		ag_preloaded = false;

void		_PG_init(void);

void
_PG_init(void)
{
	/*
	 * Under pg_upgrade the server runs with IsBinaryUpgrade; nothing of the
	 * guard may run then (pg-safeupdate's lesson): no hooks, no GUCs.
	 */
	if (IsBinaryUpgrade)
		return;

	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("agent_guard must be loaded via \"shared_preload_libraries\""),
				 errdetail("The guard has to see every statement of every session, so it cannot be loaded into a running session."),
				 errhint("Add agent_guard to \"shared_preload_libraries\" in postgresql.conf (for example with ALTER SYSTEM SET shared_preload_libraries = 'agent_guard'), restart the server, then run CREATE EXTENSION agent_guard.")));

	ag_preloaded = true;

	ag_identity_init();
	ag_capture_init();
	ag_softdelete_init();
	ag_rollback_init();
	ag_idempotency_init();
	ag_gate_init();
	ag_policy_init();
	ag_hooks_init();
	ag_journal_init();
	ag_shmem_init();			/* after every area is registered */

	MarkGUCPrefixReserved("agent_guard");
}
