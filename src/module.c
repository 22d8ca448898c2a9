/*-------------------------------------------------------------------------
 * module.c
 *		The module's entry point.  _PG_init only checks how we were loaded and
 *		wires the modules together, in a fixed order; every concern lives
 *		in its own file, and every hook is installed by hooks.c.
 *
 * agent_guard must be in shared_preload_libraries: its hooks have to see
 * every statement of every session from the first one on, and an agent
 * must not be able to run anything before the guard is in place.  Loading
 * it any other way (LOAD, or CREATE EXTENSION without the preload) is
 * refused with a hint that says how to fix the configuration.
 *
 * The file is not named agent_guard.c on purpose: agent_guard.h is the
 * header every layer includes (our SQLSTATEs, limits, the identity and
 * shared-memory services), and it belongs to no layer above them.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "agent_guard.h"
#include "compat.h"
#include "gate.h"
#include "outbox.h"
#include "policy.h"
#include "reach.h"
#include "refusal.h"
#include "worker.h"

PG_MODULE_MAGIC;

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

	/* services: settings, callbacks, shared memory areas */
	ag_identity_init();
	ag_refusal_init();
	ag_outbox_init();
	ag_capture_init();
	ag_rollback_init();
	ag_idempotency_init();
	/* deciders */
	ag_gate_init();
	ag_policy_init();
	ag_reach_init();
	/* workers: the launcher, registered while preloading */
	ag_worker_init();
	/* last: every hook, in one place, after every area is registered */
	ag_hooks_init();

	MarkGUCPrefixReserved("agent_guard");
}
