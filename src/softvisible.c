/*-------------------------------------------------------------------------
 * softvisible.c
 *		Who sees soft-deleted rows: the soft-delete policy's replication test.
 *
 * A soft-delete table's restrictive policy ag_hide_deleted (40_protect.sql)
 * is "ag_deleted_at IS NULL OR agent_guard._replication_session()": rows
 * already soft-deleted are hidden except from sessions whose session user
 * has REPLICATION (a logical replication subscriber's table sync copies
 * them too).  The function is evaluated for soft-deleted rows only, but
 * every execution of every statement on such a table sets the call up:
 * PostgreSQL checks EXECUTE on it, runs the function-execute hooks and
 * looks it up, twice for an UPDATE, about 6% of a human's one-row UPDATE
 * (issue 21's profile).
 *
 * So the planner folds the call to false where its answer is false: a
 * session whose session user lacks REPLICATION, which is every agent's and
 * most humans'.  The constant folding that follows reduces the policy to
 * "ag_deleted_at IS NULL", with no call to set up.  The answer is read as
 * the statement is planned; a cached plan keeps it:
 *	- only false is folded, and the policy's other arm makes false the
 *	  answer that shows less: a role given REPLICATION later sees
 *	  soft-deleted rows once its plans are made again (a new session), never
 *	  the other way round (a role whose REPLICATION is taken keeps the call,
 *	  which reads the catalog as it runs);
 *	- the session user changes only by SET SESSION AUTHORIZATION, which
 *	  changes the current user too, and a plan that depends on row security
 *	  is made again for another user (plancache.c).
 * Only the guard's own function is folded (its schema is the extension's,
 * in which nobody else creates), and only as an argument of AND, OR or NOT,
 * where the policy puts it; a call anywhere else runs as written.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "agent_guard.h"

/* whether the session user has REPLICATION; false for a role that is gone */
static bool
session_has_replication(void)
{
	HeapTuple	tup;
	bool		result = false;

	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(GetSessionUserId()));
	if (HeapTupleIsValid(tup))
	{
		result = ((Form_pg_authid) GETSTRUCT(tup))->rolreplication;
		ReleaseSysCache(tup);
	}
	return result;
}

/*
 * SQL: agent_guard._replication_session() returns boolean: whether the
 * session user (which SET ROLE does not change) has REPLICATION, as
 * pg_roles.rolreplication says.  It replaces an uncorrelated subquery on
 * pg_roles, whose plan every statement on a soft-delete table paid for
 * (locks on the catalogs, permission checks, initialising the scans)
 * although live rows never ran it.
 */
PG_FUNCTION_INFO_V1(ag_replication_session);
Datum
ag_replication_session(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(session_has_replication());
}

/* Is this the guard's agent_guard._replication_session()? */
static bool
is_replication_test(Node *node)
{
	FuncExpr   *f;
	char	   *name;
	bool		found;

	if (node == NULL || !IsA(node, FuncExpr))
		return false;
	f = (FuncExpr *) node;
	/* cheap tests first: the call takes no argument and returns boolean */
	if (f->args != NIL || f->funcresulttype != BOOLOID || f->funcid < FirstNormalObjectId)
		return false;
	if (get_func_namespace(f->funcid) != ag_guard_namespace())
		return false;
	name = get_func_name(f->funcid);
	found = name != NULL && strcmp(name, "_replication_session") == 0;
	if (name)
		pfree(name);
	return found;
}

/* the walk's state: whether the session user's REPLICATION has been read, and its value */
typedef struct FoldState
{
	bool		known;
	bool		replication;
} FoldState;

static bool
fold_walker(Node *node, FoldState *state)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, fold_walker, state, 0);
	if (IsA(node, BoolExpr))
	{
		ListCell   *lc;

		foreach(lc, ((BoolExpr *) node)->args)
		{
			if (!is_replication_test(lfirst(lc)))
				continue;
			if (!state->known)
			{
				state->replication = session_has_replication();
				state->known = true;
			}
			if (!state->replication)
				lfirst(lc) = makeBoolConst(false, false);
		}
	}
	return expression_tree_walker(node, fold_walker, state);
}

/*
 * Planner hook (hooks.c), before the standard planner: the policy's test
 * folded to false in the query about to be planned, for a session whose
 * session user lacks REPLICATION.  The planner owns the tree it is given
 * (it scribbles on it; the plan cache hands it a copy).  The walk reaches
 * the range table's security quals, the WITH CHECK options, CTEs and
 * sublinks.
 */
void
ag_softvisible_fold(Query *parse)
{
	FoldState	state = {false, false};

	if (!OidIsValid(ag_guard_namespace()))
		return;
	(void) query_tree_walker(parse, fold_walker, &state, 0);
}
