/*-------------------------------------------------------------------------
 * rollback.c
 *		Replay mode for agent_guard.rollback_run() / rollback_xact().
 *
 * The plan and the replay of compensations are SQL (src/sql/70_rollback.sql):
 * they are set-based statements that the planner does better than C would.
 * What SQL cannot do is restore the stamp columns: the stamp trigger
 * (capture.c) overwrites ag_agent_id / ag_run_id on every write, so a row
 * brought back by a human's rollback would come back stamped NULL instead of
 * with the agent and run it carried before the run.
 *
 * Replay mode is a backend-local flag that makes the stamp trigger leave the
 * stamp columns as the statement gives them.  It can only be switched on
 *	- by a superuser (the rollback functions run SECURITY DEFINER as the
 *	  extension owner; EXECUTE on the switch is revoked from PUBLIC),
 *	- outside agent sessions (and the stamp trigger ignores it in one),
 * and it can never outlive the rollback that set it: it is cleared when the
 * transaction ends and when any subtransaction aborts, so an error that
 * escapes the replay, caught or not, switches it off.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/guc.h"

#include "agent_guard.h"
#include "refusal.h"

static bool replay_mode = false;

bool
ag_replay_mode(void)
{
	return replay_mode;
}

static void
rollback_xact_callback(XactEvent event, void *arg)
{
	replay_mode = false;
}

static void
rollback_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		replay_mode = false;
}

void
ag_rollback_init(void)
{
	RegisterXactCallback(rollback_xact_callback, NULL);
	RegisterSubXactCallback(rollback_subxact_callback, NULL);
}

/*
 * agent_guard._replay_mode(on boolean) RETURNS boolean: switch replay mode,
 * return the previous setting.  Internal; called by the rollback functions.
 */
PG_FUNCTION_INFO_V1(ag_sql_replay_mode);
Datum
ag_sql_replay_mode(PG_FUNCTION_ARGS)
{
	bool		on = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);
	bool		was = replay_mode;

	if (on)
	{
		if (ag_session_is_agent())
			ag_refuse_humans_only(InvalidOid,
								  "replay mode cannot be used in an agent session",
								  "Replay mode lets writes keep the stamps they are given.",
								  NULL);
		ag_agentcode_refuse_calls("agent_guard._replay_mode()");
		if (!superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to switch on replay mode"),
					 errhint("Use agent_guard.rollback_run() or agent_guard.rollback_xact().")));
		if (!IsTransactionState())
			elog(ERROR, "replay mode outside a transaction");
	}
	replay_mode = on;
	PG_RETURN_BOOL(was);
}

/*
 * The lock that rollbacks which apply take turns on (red team 15B, finding
 * 5): a transaction-level lock on the agent_guard extension object with an
 * object sub-id that nothing in PostgreSQL uses for an extension (sub-ids
 * number the columns of relations).  No SQL function takes it, unlike an
 * advisory lock, whose key any role can compute and hold for ever, also
 * while frozen; EXECUTE on this function is revoked from PUBLIC, and it
 * refuses agent sessions.  pg_locks shows it as locktype "object" on
 * classid pg_extension, objid agent_guard's oid, objsubid 1.
 */
#define AG_ROLLBACK_LOCK_SUBID 1

/*
 * agent_guard._rollback_lock(wait_ms integer) RETURNS void: take the
 * rollback lock, held to the end of the transaction.  A real lock wait
 * (pg_blocking_pids() and the deadlock detector see it), of at most
 * wait_ms milliseconds, less if the session's lock_timeout is shorter;
 * then the lock manager's lock_not_available error, which _rollback()
 * turns into one that names the holder.
 */
PG_FUNCTION_INFO_V1(ag_sql_rollback_lock);
Datum
ag_sql_rollback_lock(PG_FUNCTION_ARGS)
{
	int			wait_ms = PG_ARGISNULL(0) ? 1 : Max(PG_GETARG_INT32(0), 1);
	LOCKTAG		tag;
	int			nest;
	char		timeout[32];

	if (ag_session_is_agent())
		ag_refuse_humans_only(InvalidOid,
							  "the rollback lock cannot be taken in an agent session",
							  "Only a human's rollback takes it.",
							  NULL);
	SET_LOCKTAG_OBJECT(tag, MyDatabaseId, ExtensionRelationId,
					   get_extension_oid("agent_guard", false), AG_ROLLBACK_LOCK_SUBID);
	if (LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL)
		PG_RETURN_VOID();
	if (LockTimeout > 0 && LockTimeout < wait_ms)
		wait_ms = LockTimeout;
	snprintf(timeout, sizeof(timeout), "%d", wait_ms);
	/* an error ends the nest level with the (sub)transaction it aborts */
	nest = NewGUCNestLevel();
	(void) set_config_option("lock_timeout", timeout, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	AtEOXact_GUC(true, nest);
	PG_RETURN_VOID();
}
