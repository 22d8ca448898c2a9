/*-------------------------------------------------------------------------
 * rowwork.c
 *		The row work of the functions a human calls on user tables
 *		(soft_deleted, restore, purge, rollback_run, rollback_xact), done as
 *		the table's owner in a security-restricted operation.
 *
 * Those functions are SECURITY DEFINER: they run as the extension owner, a
 * superuser, because they read and write the guard's own tables.  Reading
 * and writing the rows of a user table is another matter: it runs code that
 * whoever owns the table or its types wrote (triggers, CHECK constraints
 * and domain checks, defaults, index expressions, input and output
 * functions, casts to json, operators).  An agent that owns a table must not
 * get a superuser's rights that way, nor the rights of the human who called.
 * So each statement that touches a user table runs here, the way PostgreSQL
 * runs its own maintenance commands on a user's table (VACUUM, CREATE INDEX,
 * REFRESH MATERIALIZED VIEW) and its foreign-key checks:
 *	- as the table's owner (SECURITY_LOCAL_USERID_CHANGE): what it runs has
 *	  the owner's rights and no more;
 *	- in a security-restricted operation: that code cannot SET ROLE or
 *	  create temporary objects to trip the caller up afterwards;
 *	- with row security not forced on the owner (SECURITY_NOFORCE_RLS, as
 *	  the foreign-key checks do), so the rows agent_guard hides (soft
 *	  deleted) are there to restore, and a policy of the table's own cannot
 *	  hide rows from the rollback;
 *	- in a GUC nest level of its own with search_path pinned to
 *	  pg_catalog, pg_temp: names and operators resolve in the system
 *	  catalog, and nothing that code sets outlives the statement.
 * The caller checks the calling human's privileges first.  The statement
 * gets what it needs as one jsonb parameter ($1) and gives back one jsonb
 * value, so it reads none of the guard's tables (the owner has no right to
 * them) and none of the caller's temporary tables.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "refusal.h"

/*
 * True while agent_guard.purge() runs its DELETE (agent_guard._owner_purge):
 * the stamp trigger (capture.c) then refuses an update of a live row an
 * agent wrote, which only an ON DELETE SET NULL / SET DEFAULT of the purge
 * (or a trigger it sets off) can be, and which would otherwise stamp the
 * row as a human's write (red team 29, F2).  Set only here, and put back
 * on every exit, errors included.
 */
bool		ag_purge_running = false;

static Datum owner_query(FunctionCallInfo fcinfo, const char *fn);

/*
 * agent_guard._owner_query(relation regclass, query text, arg jsonb)
 * RETURNS jsonb: run query, with $1 = arg, as the owner of relation (see
 * above); it returns at most one row of one jsonb column, which is the
 * result (NULL for no row).  Internal: EXECUTE is revoked from PUBLIC and
 * only a superuser (our SECURITY DEFINER functions) may call it, since it
 * runs any statement as any table's owner.
 */
PG_FUNCTION_INFO_V1(ag_sql_owner_query);
Datum
ag_sql_owner_query(PG_FUNCTION_ARGS)
{
	return owner_query(fcinfo, "_owner_query");
}

/*
 * agent_guard._owner_purge(relation regclass, query text, arg jsonb)
 * RETURNS jsonb: the same, for purge()'s DELETE, with ag_purge_running set
 * while it runs (the ON DELETE actions it sets off run inside it).
 */
PG_FUNCTION_INFO_V1(ag_sql_owner_purge);
Datum
ag_sql_owner_purge(PG_FUNCTION_ARGS)
{
	bool		save = ag_purge_running;
	Datum		result = (Datum) 0;

	ag_purge_running = true;
	PG_TRY();
	{
		result = owner_query(fcinfo, "_owner_purge");
	}
	PG_FINALLY();
	{
		ag_purge_running = save;
	}
	PG_END_TRY();
	return result;
}

static Datum
owner_query(FunctionCallInfo fcinfo, const char *fn)
{
	Oid			relid;
	char	   *query;
	Oid			argtypes[1] = {JSONBOID};
	Datum		values[1];
	char		nulls[1];
	MemoryContext callercxt = CurrentMemoryContext;
	HeapTuple	tup;
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	int			save_nestlevel;
	int			ret;
	Datum		result = (Datum) 0;
	bool		isnull = true;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation and query must not be null")));
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", fn),
				 errdetail("It runs statements as the owner of any table.")));
	if (ag_session_is_agent())
		ag_refuse_humans_only(InvalidOid,
							  psprintf("agent_guard.%s() cannot be called from an agent session", fn),
							  NULL,
							  NULL);
	ag_agentcode_refuse_calls(psprintf("agent_guard.%s()", fn));

	relid = PG_GETARG_OID(0);
	query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	values[0] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[0] = PG_ARGISNULL(2) ? 'n' : ' ';

	/* the owner must not change before the statement locks the table */
	LockRelationOid(relid, AccessShareLock);
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	/*
	 * An error below aborts the (sub)transaction, which restores the user
	 * id, the security context and the settings of this nest level.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION | SECURITY_NOFORCE_RLS);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "agent_guard.%s: SPI_connect failed", fn);
	ret = SPI_execute_with_args(query, 1, argtypes, values, nulls, false, 0);
	if (ret < 0)
		elog(ERROR, "agent_guard.%s: SPI_execute_with_args returned %d", fn, ret);
	if (SPI_tuptable != NULL && SPI_processed > 0)
	{
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum		d;

		if (SPI_processed != 1 || desc->natts != 1 ||
			SPI_gettypeid(desc, 1) != JSONBOID)
			elog(ERROR, "agent_guard.%s: the statement must return one jsonb value", fn);
		d = SPI_getbinval(SPI_tuptable->vals[0], desc, 1, &isnull);
		if (!isnull)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(callercxt);

			result = datumCopy(d, false, -1);
			MemoryContextSwitchTo(oldcxt);
		}
	}
	SPI_finish();

	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec);

	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}
