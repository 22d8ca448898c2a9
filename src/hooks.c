/*-------------------------------------------------------------------------
 * hooks.c
 *		Executor and ProcessUtility hooks: where every statement of every
 *		session passes before it runs.
 *
 * What they do today:
 *	- track the statement nesting level, so that nested statements
 *	  (functions, DO blocks, dynamic SQL, triggers) are attributed to the
 *	  client statement that caused them;
 *	- number client statements and point at their text while they run, for
 *	  the capture trigger, which stores a statement's text once, not once
 *	  per row;
 *	- enforce identity before every statement, nested ones included:
 *	  resolve whether the session is an agent session and refuse superuser
 *	  agents.
 *	- warn when an idempotency key is set for a whole session (idempotency.c).
 *
 * AFTER row triggers fire in ExecutorFinish, so ExecutorRun and
 * ExecutorFinish both count as the statement running.  Every hook chains to the previous one (or the
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

/* Incremented for each top-level statement; the capture trigger keys on it. */
uint64		ag_statement_seq = 0;

/*
 * The client statement that is running now: its text and number.  Set only
 * while a top-level statement actually runs (ExecutorRun, ExecutorFinish,
 * ProcessUtility at nesting level 0) and restored afterwards, so that with
 * several open portals (extended protocol, cursors) a write is attributed
 * to the portal that made it, and the pointer is never used after its
 * statement's memory is gone.
 */
typedef struct AgCurrentStatement
{
	const char *text;
	int			len;
	uint64		seq;
} AgCurrentStatement;

static AgCurrentStatement current = {NULL, 0, 0};

/*
 * Statement numbers of the top-level QueryDescs that are open, so that a
 * portal run in several Execute calls keeps one number.  Few are ever open
 * at once; a short list is enough.
 */
typedef struct AgOpenQuery
{
	QueryDesc  *qd;
	uint64		seq;
} AgOpenQuery;

#define AG_MAX_OPEN_QUERIES 64
static AgOpenQuery open_queries[AG_MAX_OPEN_QUERIES];
static int	n_open_queries = 0;

/* A top-level FETCH: the cursor's query, one level down, is what writes. */
static bool fetch_running = false;

static uint64
open_query_seq(QueryDesc *qd, bool remove)
{
	int			i;

	for (i = n_open_queries - 1; i >= 0; i--)
	{
		if (open_queries[i].qd == qd)
		{
			uint64		seq = open_queries[i].seq;

			if (remove)
				open_queries[i] = open_queries[--n_open_queries];
			return seq;
		}
	}
	return 0;
}

static void
open_query_add(QueryDesc *qd)
{
	if (n_open_queries == AG_MAX_OPEN_QUERIES)
		n_open_queries--;		/* forget the oldest-added slot; it only costs an extra statements row */
	open_queries[n_open_queries].qd = qd;
	open_queries[n_open_queries].seq = ++ag_statement_seq;
	n_open_queries++;
}

static AgCurrentStatement
enter_statement(QueryDesc *qd)
{
	AgCurrentStatement saved = current;
	uint64		seq = open_query_seq(qd, false);

	if (seq == 0)
	{
		open_query_add(qd);
		seq = ag_statement_seq;
	}
	current.seq = seq;
	current.text = qd->sourceText;
	current.len = 0;
	if (current.text != NULL)
	{
		int			loc = qd->plannedstmt->stmt_location;

		if (loc > 0)
			current.text += loc;
		current.len = qd->plannedstmt->stmt_len > 0 ?
			qd->plannedstmt->stmt_len : (int) strlen(current.text);
	}
	return saved;
}

/* Which top-level run of the executor is writing: its number and text. */
uint64
ag_current_statement(const char **text, int *len)
{
	if (current.text != NULL)
	{
		*text = current.text;
		*len = current.len;
	}
	else if (debug_query_string != NULL)
	{
		/* outside a tracked statement: deferred triggers at COMMIT */
		*text = debug_query_string;
		*len = (int) strlen(debug_query_string);
	}
	else
	{
		*text = NULL;
		*len = 0;
	}
	return current.seq;
}

static bool
is_transaction_control(Node *parsetree)
{
	return parsetree != NULL && IsA(parsetree, TransactionStmt);
}

/*
 * Identity is enforced at every statement, nested ones included: a DO block
 * can SET ROLE to a role that is a superuser and run statements before the
 * next top-level one.
 */
static void
ag_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (!IsParallelWorker())
	{
		ag_identity_enforce();
		if (nesting_level == 0)
			ag_gate_top_statement();
		ag_gate_executor_start(queryDesc);
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
	volatile bool top = (nesting_level == 0 || (nesting_level == 1 && fetch_running));
	AgCurrentStatement saved = current;

	uint64		before = queryDesc->estate ? queryDesc->estate->es_processed : 0;

	if (top)
		saved = enter_statement(queryDesc);
	nesting_level++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
		/* row limits: counted as the statement runs, before it can commit */
		if (!IsParallelWorker() && queryDesc->estate)
			ag_gate_executor_done(queryDesc, queryDesc->estate->es_processed - before);
	}
	PG_FINALLY();
	{
		nesting_level--;
		if (top)
			current = saved;
	}
	PG_END_TRY();
}

static void
ag_ExecutorFinish(QueryDesc *queryDesc)
{
	volatile bool top = (nesting_level == 0 || (nesting_level == 1 && fetch_running));
	AgCurrentStatement saved = current;

	if (top)
		saved = enter_statement(queryDesc);
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
		if (top)
			current = saved;
	}
	PG_END_TRY();
}

static void
ag_ExecutorEnd(QueryDesc *queryDesc)
{
	open_query_seq(queryDesc, true);

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
	volatile bool was_fetch = fetch_running;
	AgCurrentStatement saved = current;

	/* COMMIT/ROLLBACK must always be able to end a transaction. */
	if (!IsParallelWorker() && !is_transaction_control(pstmt->utilityStmt))
	{
		ag_identity_enforce();
		if (top)
			ag_gate_top_statement();
		ag_gate_utility(pstmt, queryString);
	}

	if (top)
	{
		current.seq = ++ag_statement_seq;
		current.text = queryString;
		current.len = 0;
		if (queryString != NULL)
		{
			if (pstmt->stmt_location > 0)
				current.text += pstmt->stmt_location;
			current.len = pstmt->stmt_len > 0 ? pstmt->stmt_len : (int) strlen(current.text);
		}
		fetch_running = IsA(pstmt->utilityStmt, FetchStmt);
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
		if (!IsParallelWorker())
			ag_gate_utility_done(pstmt, queryString, qc);
	}
	PG_FINALLY();
	{
		nesting_level--;
		if (top)
		{
			current = saved;
			fetch_running = was_fetch;
		}
	}
	PG_END_TRY();

	ag_idempotency_after_utility(pstmt->utilityStmt);	/* warn on a session-wide key */
}

/* At transaction end nothing can still be open; start clean. */
static void
hooks_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		n_open_queries = 0;
		fetch_running = false;
		if (nesting_level == 0)
			current.text = NULL;
	}
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
	RegisterXactCallback(hooks_xact_callback, NULL);
}

/* The name of a statement's command, for messages; other for the rest. */
const char *
ag_command_name(CmdType op, const char *other)
{
	switch (op)
	{
		case CMD_INSERT:
			return "INSERT";
		case CMD_UPDATE:
			return "UPDATE";
		case CMD_DELETE:
			return "DELETE";
#ifdef AG_HAVE_MERGE
		case CMD_MERGE:
			return "MERGE";
#endif
		default:
			return other;
	}
}
