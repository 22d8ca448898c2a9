/*-------------------------------------------------------------------------
 * module.c
 *		The module's entry point.  _PG_init only checks how we were loaded and
 *		wires the modules together, in a fixed order; every concern lives
 *		in its own file, and every hook is installed by hooks.c.
 *
 * agent_guard must be in shared_preload_libraries: its hooks have to see
 * every statement of every session from the first one on, and an agent
 * must not be able to run anything before the guard is in place.  Loaded
 * any other way (an agent role's session_preload_libraries, which
 * register_agent() sets, a trigger of a protected table or the event
 * trigger in a database whose server lost the preload, or LOAD), _PG_init
 * installs no shared memory, only the identity settings and the fail-safe
 * hooks: ag_preloaded stays false, and failsafe.c refuses every statement
 * of an agent and lets humans go on.
 * CREATE EXTENSION without the preload is refused (_require_preload).
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
#include "agentnotify.h"
#include "agentshadow.h"
#include "compat.h"
#include "gate.h"
#include "outbox.h"
#include "policy.h"
#include "pooled.h"
#include "reach.h"
#include "refusal.h"
#include "tagshadow.h"
#include "worker.h"

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
		/* and refuse every statement of theirs (hooks.c) */
		ag_hooks_init_failsafe();
		return;
	}

	ag_preloaded = true;

	/* services: settings, callbacks, shared memory areas */
	ag_identity_init();
	ag_agentcode_init();
	ag_agentshadow_init();
	ag_refusal_init();
	ag_outbox_init();
	ag_agentnotify_init();
	ag_capture_init();
	ag_rollback_init();
	ag_idempotency_init();
	ag_runcount_init();
	ag_pooled_init();
	ag_tagshadow_init();
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
