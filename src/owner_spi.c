/*-------------------------------------------------------------------------
 * owner_spi.c
 *		Queries of the guard, run as the extension owner.
 *
 * The gates read freezes and consume approvals, the policies read the
 * agent's policy, idempotency claims keys, the capture trigger writes
 * events: all of it on tables no agent has a privilege on, inside the
 * agent's own transaction.  This file is the one way to do that:
 *	- ag_owner_become()/ag_owner_restore(): act as the extension owner in
 *	  a security-restricted operation (as VACUUM does), so that nothing an
 *	  agent wrote (a function, an operator, a default) runs with the
 *	  owner's rights; the caller restores in PG_FINALLY.
 *	- ag_owner_spi(work, arg): SPI_connect, become the owner, pin
 *	  search_path to "pg_catalog, pg_temp" so that an agent's search_path
 *	  cannot put its own functions or operators into our queries, run
 *	  work, and undo all of it on every path, SPI_finish included.  While
 *	  it runs ag_owner_running() is true and the guard does not judge our
 *	  own statements (scope.c).
 *	- AgKeptPlan and ag_kept_execute(): each query is prepared once per
 *	  backend and kept (SPI_keepplan); always planned and run under the
 *	  pinned search_path, so its cached plan stays valid.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#include "agent_guard.h"
#include "owner_spi.h"

/* nesting depth of ag_owner_spi() */
static int	owner_depth = 0;

bool
ag_owner_running(void)
{
	return owner_depth > 0;
}

void
ag_owner_become(AgOwnerSave *save, bool restricted)
{
	GetUserIdAndSecContext(&save->userid, &save->sec);
	SetUserIdAndSecContext(ag_extension_owner(),
						   save->sec | SECURITY_LOCAL_USERID_CHANGE |
						   (restricted ? SECURITY_RESTRICTED_OPERATION : 0));
}

void
ag_owner_restore(const AgOwnerSave *save)
{
	SetUserIdAndSecContext(save->userid, save->sec);
}

/*
 * Run work connected to SPI, as the extension owner, with search_path
 * pinned.  An error in work propagates after the user, the depth and SPI
 * are restored (the GUC nest level is undone by the (sub)transaction's
 * abort, as for any function with a SET clause).
 */
void
ag_owner_spi(AgOwnerWork work, void *arg)
{
	AgOwnerSave save;
	int			nestlevel;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "agent_guard: SPI_connect failed");
	owner_depth++;
	ag_owner_become(&save, true);
	PG_TRY();
	{
		nestlevel = NewGUCNestLevel();
		(void) set_config_option("search_path", "pg_catalog, pg_temp",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
		work(arg);
		AtEOXact_GUC(true, nestlevel);
	}
	PG_FINALLY();
	{
		ag_owner_restore(&save);
		owner_depth--;
	}
	PG_END_TRY();
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "agent_guard: SPI_finish failed");
}

/*
 * Prepare and keep a plan.  SPI leaves CurrentMemoryContext at its
 * procedure context after every call; the caller's is put back, so that a
 * long loop (the sealer's) does not pile its allocations up there.
 */
SPIPlanPtr
ag_keep_plan(const char *sql, int nargs, const Oid *argtypes)
{
	MemoryContext cxt = CurrentMemoryContext;
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, (Oid *) argtypes);

	if (plan == NULL)
		elog(ERROR, "agent_guard: could not prepare \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "agent_guard: could not keep the plan of \"%s\"", sql);
	MemoryContextSwitchTo(cxt);
	return plan;
}

static SPIPlanPtr
kept(AgKeptPlan *kp)
{
	if (kp->plan == NULL)
		kp->plan = ag_keep_plan(kp->sql, kp->nargs, kp->argtypes);
	return kp->plan;
}

/* Run a kept query (inside ag_owner_spi); returns SPI's code. */
int
ag_kept_execute(AgKeptPlan *kp, Datum *values, const char *nulls,
				 bool read_only, long count)
{
	return SPI_execute_plan(kept(kp), values, nulls, read_only, count);
}

/* The same with the latest snapshot: see what committed since ours was taken. */
int
ag_kept_execute_latest(AgKeptPlan *kp, Datum *values, const char *nulls, long count)
{
	return SPI_execute_snapshot(kept(kp), values, nulls, GetLatestSnapshot(),
								InvalidSnapshot, true, false, count);
}
