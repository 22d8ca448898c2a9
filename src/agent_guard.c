/*-------------------------------------------------------------------------
 * agent_guard.c
 *		Module entry point.  _PG_init only checks how we were loaded and
 *		wires the modules together; every concern lives in its own file.
 *
 * agent_guard must be in shared_preload_libraries: its hooks have to see
 * every statement of every session from the first one on, and an agent
 * must not be able to run anything before the guard is in place.  Loaded
 * any other way (a trigger of a protected table or the event trigger in a
 * database whose server lost the preload, or LOAD), _PG_init installs no
 * hook and no shared memory, only the identity settings: ag_preloaded
 * stays false, and failsafe.c refuses agents and lets humans go on.
 * CREATE EXTENSION without the preload is refused (_require_preload).
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
	{
		/* who is an agent, so that failsafe.c can refuse agents */
		ag_identity_init();
		return;
	}

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
