/*-------------------------------------------------------------------------
 * hooks.c
 *		Executor and ProcessUtility hooks: where every statement of every
 *		session passes before it runs.
 *
 * What they do today:
 *	- track the statement nesting level, so that nested statements
 *	  (functions, DO blocks, dynamic SQL, triggers) are attributed to the
 *	  client statement that caused them;
 *	- number top-level statements and remember their text for the capture
 *	  trigger, which stores a statement's text once, not once per row;
 *	- enforce identity at the start of each top-level statement: resolve
 *	  whether the session is an agent session and refuse superuser agents.
 *	- warn when an idempotency key is set for a whole session (idempotency.c).
 *
 * ExecutorRun and ExecutorFinish are hooked only to keep the nesting level
 * right, ExecutorEnd only to forget the statement's text: AFTER row triggers fire in ExecutorFinish, and the statements they
 * run must count as nested.  Every hook chains to the previous one (or the
 * standard function) on all paths; refusals happen before the chained call.
 * Parallel workers do nothing: their leader already decided.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"

#include "agent_guard.h"
#include "compat.h"

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static int	nesting_level = 0;

/* Incremented at each top-level statement; the capture trigger keys on it. */
uint64		ag_statement_seq = 0;

/* Text of the current top-level statement, valid while it runs. */
static const char *top_text = NULL;
static int	top_text_len = 0;

static void
set_top_text(const char *source, int location, int len)
{
	if (source == NULL)
	{
		top_text = NULL;
		top_text_len = 0;
		return;
	}
	if (location < 0)
		location = 0;
	top_text = source + location;
	top_text_len = (len > 0) ? len : (int) strlen(top_text);
}

/*
 * The client statement the current write belongs to.  Outside a tracked
 * statement (deferred triggers at COMMIT) fall back to the text the server
 * is processing.
 */
void
ag_current_statement_text(const char **text, int *len)
{
	if (top_text != NULL)
	{
		*text = top_text;
		*len = top_text_len;
	}
	else if (debug_query_string != NULL)
	{
		*text = debug_query_string;
		*len = (int) strlen(debug_query_string);
	}
	else
	{
		*text = NULL;
		*len = 0;
	}
}

static bool
is_transaction_control(Node *parsetree)
{
	return parsetree != NULL && IsA(parsetree, TransactionStmt);
}

static void
ag_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (!IsParallelWorker() && nesting_level == 0)
	{
		ag_statement_seq++;
		set_top_text(queryDesc->sourceText,
					 queryDesc->plannedstmt->stmt_location,
					 queryDesc->plannedstmt->stmt_len);
		ag_identity_enforce();
	}

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

static void
ag_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction, uint64 count,
			   bool execute_once)
{
	nesting_level++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();
}

static void
ag_ExecutorFinish(QueryDesc *queryDesc)
{
	nesting_level++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();
}

/* The statement's text dies with it: forget the pointer at its end. */
static void
ag_ExecutorEnd(QueryDesc *queryDesc)
{
	if (nesting_level == 0)
		set_top_text(NULL, 0, 0);

	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

static void
ag_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	volatile bool top = (nesting_level == 0 && !IsParallelWorker());

	if (top)
	{
		ag_statement_seq++;
		set_top_text(queryString, pstmt->stmt_location, pstmt->stmt_len);
		/* COMMIT/ROLLBACK must always be able to end a transaction. */
		if (!is_transaction_control(pstmt->utilityStmt))
			ag_identity_enforce();
	}

	nesting_level++;
	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		nesting_level--;
		if (top)
			set_top_text(NULL, 0, 0);
	}
	PG_END_TRY();

	ag_idempotency_after_utility(pstmt->utilityStmt);	/* warn on a session-wide key */
}

void
ag_hooks_init(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = ag_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = ag_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = ag_ExecutorFinish;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = ag_ExecutorEnd;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = ag_ProcessUtility;
}
