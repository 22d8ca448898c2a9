/*-------------------------------------------------------------------------
 * hooks.c
 *		The only place where agent_guard hooks into PostgreSQL: executor,
 *		ProcessUtility, parse analysis, planner, object access and shared
 *		memory.  Every statement of every session passes here; the hooks
 *		call down into
 *		the deciders (gate.c, policy.c, softdelete.c) and the services
 *		below them, in the one order written down here, and nothing below
 *		calls back up.
 *
 * Call order, for a statement of a judged agent session (scope.c's
 * ag_judging(): an agent session acting with the agent's own rights):
 *
 *	parse analysis:	agentshadow (a session that is not an agent's: the
 *					names of the statement's own text resolve to no
 *					agent's function, operator or type that shadows a
 *					built-in one) -> the previous hook; what utility
 *					statements transform themselves is judged by
 *					agentshadow from ProcessUtility (a frame per
 *					statement, its stored dependencies judged when it
 *					ends; the types and collations its text names, lexed
 *					before it runs) and object access (objects created or altered,
 *					functions its own expressions set up)
 *	planner:		softref (a foreign key's check of a soft-delete
 *					table, planned in an agent's session or while an
 *					agent's function runs, gets the test that refuses
 *					an agent's row under a soft-deleted one) ->
 *					approvalkey (what an approval binds: the relations
 *					and functions of the rewritten query, before pruning
 *					and folding) -> gate (DELETE/UPDATE without WHERE gets
 *					its gate qual) -> softdelete (an agent's DELETE
 *					becomes an UPDATE; a foreign key's cascade from a
 *					protected table stays a real delete, and its plan
 *					depends on that table) -> the previous planner -> writers
 *					(setval() calls go through agent_guard._setval, which
 *					gate.c judges as they run) -> approvalkey (the binding
 *					goes into the plan) -> policy (the plan's writer
 *					calls: sequences, large objects, WAL messages;
 *					nextval() goes through agent_guard._nextval,
 *					writers.c, which judges the room left in its
 *					sequence, seqkeys.c)
 *	ExecutorStart:	identity (refuse superuser agents; every statement,
 *					nested ones included) -> gate: triggers stay on ->
 *					policy (mode, tables, rate) -> gate (the guard's
 *					tables, an inheritance child of a protected table
 *					that no protection covers, freeze, tripped run, a
 *					freeze's writing function calls) -> the previous
 *					hook -> softdelete (a cascade's real delete notes
 *					its command id for the capture trigger) -> writers
 *					(count the rows of writing CTEs)
 *					(each executor run, ExecutorStart to ExecutorEnd, and each
 *					ProcessUtility call that is not a subcommand is one
 *					execution: an approval covers one, gate.c)
 *	ExecutorRun:	the previous hook, with the client statement's text and
 *					number set (statement.c) -> gate: count rows (writing
 *					CTEs' too) -> policy (rate window) -> gate (statement
 *					and run limits); ExecutorFinish counts CTEs' rows again
 *					(a CTE the query did not read to its end runs there),
 *					and tells softref which statement's AFTER triggers
 *					(foreign-key checks) fire (so does ProcessUtility for
 *					COPY FROM and the statements that fire deferred ones);
 *					both note whether they began inside a foreign key's
 *					operation, so that the key's own query is told from
 *					what its triggers run (ag_fk_action_query())
 *	ProcessUtility:	identity -> classify (classify.c) -> gate (what would
 *					weaken the guard; COPY FROM into an inheritance child
 *					of a protected table that no protection covers) ->
 *					policy -> gate (freeze, tripped run, approvals) ->
 *					only then side effects: the worker
 *					stops a sealer that the command needs gone (DROP
 *					DATABASE, DROP EXTENSION agent_guard, ...), if the
 *					session may run it -> copyfrom (a human's COPY FROM
 *					into a soft-delete table goes through a temporary
 *					table) -> the previous hook -> copyfrom (its rows into
 *					the table) -> gate and policy count COPY FROM's rows
 *					-> reach: what the statement reached (object access,
 *					below) beyond what it named and was approved for needs
 *					approval, decided before it can commit -> the worker
 *					asks for the stopped sealer again -> idempotency warns
 *					about a session-wide key
 *	object access:	the previous hook -> policy, then gate (function calls
 *					that write: a freeze refuses them; a setval() that no
 *					plan shows is refused) -> reach (every
 *					relation or column dropped, emptied, renamed, moved,
 *					retyped or detached, judged as the direct act; refusals
 *					at once, approvals collected for the statement's end)
 *					-> tagshadow (a tagged shared role's object named
 *					like a pg_catalog one) -> rolename (a role named like
 *					an agent's schema) -> scope (objects the agent
 *					creates are its scratch)
 *	function manager: the previous hook -> agentcode: calls of agents'
 *					functions in humans' sessions, seen at their start
 *					(pushed after the previous hook's start) and end or
 *					abort (popped before the previous hook's); the
 *					executor hooks above also push the running plan
 *					(agentcode), refuse a protected write while an agent's
 *					code runs in a human's session (ExecutorStart, COPY FROM
 *					in ProcessUtility, object access), and the planner
 *					refuses an agent's rule writing a protected table;
 *					agentgate: the statements an agent's function runs in a
 *					human's session get the agent's gates, refused where the
 *					agent's session would need approval (planner: the gate
 *					qual; ExecutorStart: policy, freeze; ExecutorRun: the
 *					statement's row limit; ProcessUtility: the verdict,
 *					policy, freeze; object access: what it drops or empties),
 *					and so do an agent's rule's actions (the planner marks
 *					their plans);
 *					agentstored: in humans' statements, what an agent's
 *					views and policies read is checked as the agent
 *					(planner); what an agent stores (triggers, domains,
 *					views, defaults, policies, indexes) is judged when
 *					stored (object access)
 *
 * Every refusal is an ereport(ERROR) before the chained call, and before
 * any side effect: an agent's refused DROP DATABASE leaves the sealer
 * running.  The one exception is reach's backstop: what a statement
 * reaches is known only as it runs, so it is refused as it runs or when
 * it ends, and its transaction's rollback undoes it (relations and
 * columns are dropped, emptied and altered transactionally).  Every hook chains to the previous one (or the standard
 * function) on all other paths.  COMMIT and ROLLBACK are never judged:
 * they must always be able to end a transaction.  Parallel workers do
 * nothing: their leader already decided.
 *
 * Nesting: statements run by functions, DO blocks, dynamic SQL and
 * triggers are nested; they are judged like top-level ones and
 * attributed to the client statement that caused them.  AFTER row
 * triggers fire in ExecutorFinish, so ExecutorRun and ExecutorFinish both
 * count as the statement running.  The nesting level is restored in
 * PG_FINALLY.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_extension.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "optimizer/planner.h"
#include "parser/analyze.h"
#include "storage/ipc.h"
#include "tcop/utility.h"
#include "utils/regproc.h"

#include "agent_guard.h"
#include "agentcode.h"
#include "agentgate.h"
#include "agentnotify.h"
#include "agentshadow.h"
#include "agentstored.h"
#include "agenttypes.h"
#include "approvalkey.h"
#include "classify.h"
#include "compat.h"
#include "copyfrom.h"
#include "failsafe.h"
#include "gate.h"
#include "owner_spi.h"
#include "policy.h"
#include "pooled.h"
#include "reach.h"
#include "rolename.h"
#include "scope.h"
#include "seqkeys.h"
#include "softkeys.h"
#include "softref.h"
#include "statement.h"
#include "tagshadow.h"
#include "worker.h"
#include "writers.h"

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static planner_hook_type prev_planner = NULL;
static post_parse_analyze_hook_type prev_post_parse_analyze = NULL;
static object_access_hook_type prev_object_access = NULL;
#ifdef AG_HAVE_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup = NULL;
static needs_fmgr_hook_type prev_needs_fmgr = NULL;
static fmgr_hook_type prev_fmgr = NULL;

static int	nesting_level = 0;

/* A top-level FETCH: the cursor's query, one level down, is what writes. */
static bool fetch_running = false;

/*
 * Whether the innermost executor run or finish began inside a foreign
 * key's operation (see ag_fk_action_query()).  Saved and put back around
 * each run and finish, errors included (PG_FINALLY).
 */
static bool run_in_fk_operation = false;

/*
 * Whether the query being planned or started now is the foreign-key
 * operation's own: PostgreSQL's foreign-key code (ri_triggers.c) sets
 * SECURITY_NOFORCE_RLS around the preparing, planning and execution of its
 * query (a check, a cascade, a SET NULL), and the bit stays set for
 * everything that query runs: the BEFORE row triggers of the table it
 * deletes or updates, and every function they call, SECURITY DEFINER
 * ones included (red team 33, F1).  InNoForceRLSOperation() alone cannot
 * tell the two apart.  The executor can: the key's query is planned and
 * started where the bit was set, inside the AFTER trigger that an executor
 * finish (or the commit, for a deferred key) fires, while what it runs
 * runs inside its executor run.  So the query is the key's own when the
 * bit is set now and was not when the innermost executor run or finish
 * began (a user's trigger inside the key's query runs within a run that
 * began with the bit set; so does everything nested in it, whatever its
 * own executor calls).  The guard's own row work (rowwork.c) sets the bit
 * too, for humans' functions.  Fail closed: a genuine key's query nested
 * in a user's trigger inside another key's query is taken for the user's.
 */
bool
ag_fk_action_query(void)
{
	return InNoForceRLSOperation() && !run_in_fk_operation;
}

/* ---------------------------------------------------------------------
 * Executor
 * ---------------------------------------------------------------------
 */
static void executor_start(QueryDesc *queryDesc, int eflags);

static void
ag_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	volatile bool resumed = false;
	volatile bool completed = false;

	if (IsParallelWorker() || !ag_agentcode_portal_pending())
	{
		executor_start(queryDesc, eflags);
		return;
	}
	PG_TRY();
	{
		/*
		 * a cursor an agent's function opened, over a query that starts at
		 * the first fetch: as the agent (inside the block, whose end
		 * restores the error context stack as found)
		 */
		resumed = ag_agentcode_portal_resume();
		executor_start(queryDesc, eflags);
		completed = true;
	}
	PG_FINALLY();
	{
		if (resumed)
			ag_agentcode_query_suspend(completed);
	}
	PG_END_TRY();
}

/*
 * Whether a statement at nesting level 0 continues the client's statement
 * instead of starting one of its own: it runs for the same message from
 * the client (statement_timestamp(), which PostgreSQL sets as each query,
 * parse, bind, execute or function-call message arrives).  What runs after
 * the client's statement, for the same message, is a deferred trigger's
 * statements at COMMIT (or at the Sync or end of an implicit transaction),
 * with whatever portals their code opens (a PL/pgSQL FOR loop's query), or
 * commit-time code of another module.  Counted as new statements, a
 * deferred trigger's one-row statements each started at 0 rows and escaped
 * agent_guard.max_rows_per_statement (red team 20c, finding 1; red team 21,
 * finding 5, through a loop's portal); they count toward the statement
 * that ended the transaction, as a DO block's statements count toward the
 * DO.  Statements sent together in one simple-protocol message count
 * together too, as statement_timeout times them together.  Called once per
 * top-level start: it remembers the message.
 */
static bool
continues_client_statement(void)
{
	static TimestampTz message = 0;
	TimestampTz now = GetCurrentStatementStartTimestamp();

	if (now == message)
		return true;
	message = now;
	return false;
}

static void
executor_start(QueryDesc *queryDesc, int eflags)
{
	volatile uint64 saved_exec = 0;
	bool		saved_blessing = ag_gate_frozen_writers_save();

	if (!IsParallelWorker())
	{
		/*
		 * Identity is enforced at every statement, nested ones included: a
		 * DO block can SET ROLE to a role that is a superuser and run
		 * statements before the next top-level one.
		 */
		ag_identity_enforce();
		/* an agent's code in a human's session writes no protected table */
		ag_agentcode_executor_start(queryDesc->plannedstmt);
		/* nor does an agent's rule or view, nor what its write sets off */
		ag_agentcode_reach_start(queryDesc->plannedstmt);
		/* nor does its stored code advance sequences beyond its rights */
		ag_agentgate_stored_writers(queryDesc);
		/* no agent writes while this process runs VACUUM */
		ag_writers_vacuum_start(queryDesc->plannedstmt);
		/*
		 * a COPY's blessing of its own nextval() calls is not this plan's;
		 * the guard's own queries (a freeze or policy loaded as the COPY
		 * starts) leave it be
		 */
		if (!ag_owner_running())
		{
			ag_policy_plan_starts();
			ag_seqroom_statement_starts();
		}
		/* the guard's own queries, run from these hooks, start no statement */
		if (nesting_level == 0 && !ag_owner_running())
		{
			bool		continues = continues_client_statement();

			ag_gate_top_statement(continues);
			ag_policy_top_statement();
			ag_agentgate_top_statement(continues);
		}
		if (ag_judging())
		{
			const char *text;
			int			len;

			ag_query_text(queryDesc, &text, &len);
			ag_gate_session_check(text, len);
			ag_policy_executor_start(queryDesc->plannedstmt, text, len);
			ag_gate_executor_start(queryDesc, text, len);
			ag_gate_frozen_writers(queryDesc->plannedstmt, text, len);
			/* the identity draws it makes leave room in their sequences */
			ag_seqroom_plan_starts(queryDesc->plannedstmt);
		}
		else if (ag_agentcode_running() || ag_agentgate_rule_plan(queryDesc->plannedstmt))
		{
			/* an agent's code or rule in a human's session: gated as the agent's */
			ag_agentgate_executor_start(queryDesc);
		}
	}

	/*
	 * One execution, one approval at most (gate.c): the refusals above
	 * need none; what the plan's start evaluates may.
	 */
	if (!IsParallelWorker())
		saved_exec = ag_gate_exec_begin(queryDesc, false);
	/* the calls the plan sets up may be an agent's stored code */
	ag_agentcode_enter(queryDesc->plannedstmt, InvalidOid);
	PG_TRY();
	{
		if (prev_ExecutorStart)
			prev_ExecutorStart(queryDesc, eflags);
		else
			standard_ExecutorStart(queryDesc, eflags);

		/* an agent's cursor may run after the agent's call returned */
		if (!IsParallelWorker())
			ag_agentcode_query_started(queryDesc);
		/* a human's writes are not captured: no capture trigger to compile */
		if (!IsParallelWorker() && !ag_session_is_agent())
			ag_capture_skip_human(queryDesc->estate);
		/* a foreign-key cascade's real delete of a soft-delete table */
		if (!IsParallelWorker())
			ag_softdelete_executor_start(queryDesc);
		/*
		 * the rows of ModifyTable nodes that leave es_processed be: writing
		 * CTEs, and the action of a rule that does not replace the
		 * statement (DO ALSO); an agent's code's, and an agent's rule's,
		 * in a human's session count too (agentgate.c)
		 */
		if (!IsParallelWorker() &&
			(ag_judging() || ag_agentcode_running() ||
			 ag_agentgate_rule_plan(queryDesc->plannedstmt)))
			ag_writers_cte_start(queryDesc);
	}
	PG_FINALLY();
	{
		/* the plan's function calls are set up: only they were walked */
		ag_gate_frozen_writers_done(saved_blessing);
		/* the agent's code's calls are set up, or failed to be */
		ag_agentgate_writers_done();
		ag_agentcode_leave();
		if (!IsParallelWorker())
			ag_gate_exec_leave(saved_exec);
	}
	PG_END_TRY();
}

/*
 * Rows written by writing CTEs since the last look: they count like the
 * statement's own (ExecutorRun, and ExecutorFinish, where CTEs that the
 * query did not read to the end run to completion).
 */
static void
judge_cte_rows(QueryDesc *queryDesc)
{
	uint64		n;
	const char *text;
	int			len;
	AgTableRows per_table;

	if (IsParallelWorker() || (n = ag_writers_cte_new_rows(queryDesc, &per_table)) == 0)
		return;
	if (!ag_judging())
	{
		ag_agentgate_cte_rows(queryDesc, n);	/* an agent's code's rows */
		return;
	}
	ag_gate_count_cte_rows(n, &per_table);
	ag_query_text(queryDesc, &text, &len);
	ag_policy_rows_written(ag_command_name(queryDesc->plannedstmt->commandType, "statement"),
						   n, text, len);
	ag_gate_row_limits(queryDesc, n, text, len);
}

/* Rows a plan wrote: counted as the statement runs, before it can commit. */
static void
judge_rows(QueryDesc *queryDesc, uint64 n)
{
	const char *text;
	int			len;

	if (!ag_judging())
	{
		if (!ag_gate_preview_count(queryDesc, n))
			ag_agentgate_rows(queryDesc, n);	/* an agent's code's rows */
		return;
	}
	if (!ag_gate_count_rows(queryDesc, n))
		return;
	ag_query_text(queryDesc, &text, &len);
	ag_policy_rows_written(ag_command_name(queryDesc->plannedstmt->commandType, "statement"),
						   n, text, len);
	ag_gate_row_limits(queryDesc, n, text, len);
}

static void
ag_ExecutorRun(AG_EXECUTOR_RUN_PARAMS)
{
	volatile bool top = (nesting_level == 0 || (nesting_level == 1 && fetch_running));
	AgStatement saved = {NULL, 0, 0};
	uint64		before = queryDesc->estate ? queryDesc->estate->es_processed : 0;
	volatile uint64 saved_exec = ag_gate_exec_resume(queryDesc);
	volatile bool resumed = false;
	volatile bool completed = false;
	volatile bool saved_fk = run_in_fk_operation;

	if (top)
		saved = ag_statement_enter_query(queryDesc);
	ag_agentcode_enter(queryDesc->plannedstmt, InvalidOid);
	nesting_level++;
	/* what this run runs is inside a foreign key's operation if it began so */
	run_in_fk_operation = InNoForceRLSOperation();
	PG_TRY();
	{
		/*
		 * the agent's cursor, fetched after its call: as the agent (inside
		 * the block, whose end restores the error context stack as found)
		 */
		int			settings;

		resumed = !IsParallelWorker() && ag_agentcode_query_resume(queryDesc);
		/* what an agent's stored code changes in the settings, undone */
		settings = ag_agentcode_settings_enter();
		if (prev_ExecutorRun)
			prev_ExecutorRun(AG_EXECUTOR_RUN_ARGS);
		else
			standard_ExecutorRun(AG_EXECUTOR_RUN_ARGS);
		ag_agentcode_settings_leave(settings);
		if (!IsParallelWorker() && queryDesc->estate)
			judge_rows(queryDesc, queryDesc->estate->es_processed - before);
		judge_cte_rows(queryDesc);
		completed = true;
	}
	PG_FINALLY();
	{
		nesting_level--;
		run_in_fk_operation = saved_fk;
		if (resumed)
			ag_agentcode_query_suspend(completed);
		ag_agentcode_leave();
		if (top)
			ag_statement_leave(saved);
		ag_gate_exec_leave(saved_exec);
	}
	PG_END_TRY();
}

static void
ag_ExecutorFinish(QueryDesc *queryDesc)
{
	volatile bool top = (nesting_level == 0 || (nesting_level == 1 && fetch_running));
	AgStatement saved = {NULL, 0, 0};
	volatile uint64 saved_exec = ag_gate_exec_resume(queryDesc);
	volatile bool resumed = false;
	volatile bool completed = false;
	volatile bool saved_fk = run_in_fk_operation;
	AgRefFrame	saved_ref;

	if (top)
		saved = ag_statement_enter_query(queryDesc);
	/* its AFTER triggers fire now: the foreign-key checks among them (softref.c) */
	saved_ref = ag_softref_enter(queryDesc->plannedstmt, InvalidOid);
	ag_agentcode_enter(queryDesc->plannedstmt, InvalidOid);
	nesting_level++;
	/* its AFTER triggers: the key's query if the bit is set from here on */
	run_in_fk_operation = InNoForceRLSOperation();
	PG_TRY();
	{
		/*
		 * the agent's cursor, fetched after its call: as the agent (inside
		 * the block, whose end restores the error context stack as found)
		 */
		int			settings;
		ErrorContextCallback fk_hint;

		resumed = !IsParallelWorker() && ag_agentcode_query_resume(queryDesc);
		settings = ag_agentcode_settings_enter();
		/* a human's parent delete refused for soft-deleted rows: a hint (softkeys.c) */
		fk_hint.callback = ag_softkeys_fk_hint;
		fk_hint.arg = NULL;
		fk_hint.previous = error_context_stack;
		error_context_stack = &fk_hint;
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
		error_context_stack = fk_hint.previous;
		ag_agentcode_settings_leave(settings);
		judge_cte_rows(queryDesc);
		completed = true;
	}
	PG_FINALLY();
	{
		nesting_level--;
		run_in_fk_operation = saved_fk;
		if (resumed)
			ag_agentcode_query_suspend(completed);
		ag_agentcode_leave();
		if (top)
			ag_statement_leave(saved);
		ag_gate_exec_leave(saved_exec);
		ag_softref_leave(saved_ref);
	}
	PG_END_TRY();
}

static void
ag_ExecutorEnd(QueryDesc *queryDesc)
{
	ag_statement_forget_query(queryDesc);
	ag_gate_exec_end(queryDesc);
	ag_agentcode_query_ended(queryDesc);

	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

/* ---------------------------------------------------------------------
 * ProcessUtility
 * ---------------------------------------------------------------------
 */

/*
 * A judged utility statement: every refusal, before anything happens.
 * Returns whether it was judged (u then holds the verdict it passed with).
 * saved_exec is the execution this one interrupted (gate.c).
 */
static bool
judge_utility(PlannedStmt *pstmt, const char *queryString, AgUtility *u, uint64 saved_exec,
			  bool subcommand)
{
	const char *text;
	int			len;

	if (pstmt->utilityStmt == NULL)
		return false;
	if (!ag_judging())
	{
		if (!ag_agentcode_running())
			return false;
		/* an agent's code in a human's session: gated as the agent's */
		ag_statement_text(queryString, pstmt->stmt_location, pstmt->stmt_len, &text, &len);
		PG_TRY();
		{
			ag_agentgate_utility(pstmt->utilityStmt, text, len);
		}
		PG_CATCH();
		{
			ag_gate_exec_leave(saved_exec);
			PG_RE_THROW();
		}
		PG_END_TRY();
		return false;
	}
	ag_statement_text(queryString, pstmt->stmt_location, pstmt->stmt_len, &text, &len);
	/*
	 * a COPY's or an ALTER TABLE's judged defaults are its own; an ALTER
	 * TABLE's subcommands (a serial's CREATE SEQUENCE) are part of it
	 */
	if (!subcommand)
	{
		ag_seqroom_statement_starts();
		if (IsA(pstmt->utilityStmt, AlterTableStmt))
			ag_seqroom_alter((AlterTableStmt *) pstmt->utilityStmt);
	}
	PG_TRY();
	{
		ag_classify_utility(pstmt->utilityStmt, u);
		u->subcommand = subcommand;
		ag_gate_utility_guard(u, text, len);
		ag_policy_utility(u, text, len);
		ag_gate_utility(u, text, len);
		/* a COPY FROM's defaults leave room in the sequences they draw */
		if (IsA(pstmt->utilityStmt, CopyStmt))
			ag_seqroom_copy((CopyStmt *) pstmt->utilityStmt);
	}
	PG_CATCH();
	{
		/* refused: the execution it interrupted goes on (a caught error) */
		ag_gate_exec_leave(saved_exec);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return true;
}

/* COPY FROM ran: its rows count like a plan's. */
static void
judge_copy_rows(PlannedStmt *pstmt, const char *queryString, QueryCompletion *qc)
{
	const char *text;
	int			len;

	if (pstmt->utilityStmt == NULL || !IsA(pstmt->utilityStmt, CopyStmt) ||
		!((CopyStmt *) pstmt->utilityStmt)->is_from || qc == NULL || !ag_judging())
		return;
	ag_statement_text(queryString, pstmt->stmt_location, pstmt->stmt_len, &text, &len);
	if (ag_gate_copy_rows(pstmt, qc))
		ag_policy_rows_written("COPY", qc->nprocessed, text, len);
	ag_gate_copy_limits(pstmt, qc, text, len);
}

static void
ag_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	volatile bool top = (nesting_level == 0 && !IsParallelWorker());
	volatile bool was_fetch = fetch_running;
	AgStatement saved = {NULL, 0, 0};
	Node	   *parsetree = pstmt->utilityStmt;
	volatile Oid stopped_sealer;
	AgCopyFrom	copyfrom = {false, NULL, NULL};
	PlannedStmt *volatile run = pstmt;
	AgUtility	u;
	bool		judged = false;
	const char *text;
	int			len;
	volatile uint64 saved_exec = 0;
	Oid			copy_into = InvalidOid;
	volatile bool resumed = false;
	volatile bool completed = false;
	volatile ProcessUtilityContext run_context = context;
	volatile int shadow_depth = -1;
	volatile bool runs_relation_code;
	AgRefFrame	saved_ref;

	/*
	 * COMMIT/ROLLBACK must always be able to end a transaction; PREPARE
	 * TRANSACTION and COMMIT PREPARED are judged (writers.c).
	 */
	if (!IsParallelWorker() &&
		!(parsetree != NULL && IsA(parsetree, TransactionStmt) &&
		  !ag_writers_judge_transaction(parsetree)))
	{
		ag_identity_enforce();
		if (top)
		{
			bool		continues = continues_client_statement();

			ag_gate_top_statement(continues);
			ag_policy_top_statement();
			ag_agentgate_top_statement(continues);
		}
		/*
		 * one execution, one approval at most, from the verdict to reach's;
		 * a subcommand (CREATE TABLE's foreign keys, CREATE SCHEMA's
		 * elements) is part of its statement's execution
		 */
		saved_exec = ag_gate_exec_begin(NULL, context == PROCESS_UTILITY_SUBCOMMAND);
		judged = judge_utility(pstmt, queryString, &u, saved_exec,
							   context == PROCESS_UTILITY_SUBCOMMAND);

		/* COPY FROM: an agent's defaults and checks may run; is it protected? */
		if (parsetree != NULL && IsA(parsetree, CopyStmt) &&
			((CopyStmt *) parsetree)->is_from && ((CopyStmt *) parsetree)->relation)
			copy_into = ag_range_var_relid(((CopyStmt *) parsetree)->relation);
		ag_agentcode_copy(copy_into);
		ag_agentcode_utility(parsetree);
		/* an agent session's NOTIFY: bounded (agentnotify.c) */
		ag_agentnotify_utility(parsetree);
		run_context = ag_agentcode_call_context(parsetree, context);
	}
	else
		saved_exec = ag_gate_exec_begin(NULL, context == PROCESS_UTILITY_SUBCOMMAND);

	/*
	 * side effects only now that nothing is refused, and only for a command
	 * the session has the right to run: the sealer a command needs gone is
	 * stopped, and asked for again once the command ended, whichever way
	 */
	stopped_sealer = ag_worker_before_utility(parsetree);
	if (!IsParallelWorker())
		run = ag_copyfrom_prepare(pstmt, &copyfrom);

	if (top)
	{
		saved = ag_statement_enter_utility(pstmt, queryString);
		fetch_running = (parsetree != NULL && IsA(parsetree, FetchStmt));
	}

	/* what the statement reaches is judged as it runs (reach.c) */
	ag_statement_text(queryString, pstmt->stmt_location, pstmt->stmt_len, &text, &len);
	ag_reach_enter(parsetree, judged ? &u : NULL, text, len);

	/*
	 * COPY FROM runs the defaults and CHECKs of the relation it fills; a
	 * human's ALTER TABLE of an agent's relation re-checks its CHECKs
	 */
	ag_agentcode_enter_utility(parsetree, copy_into,
							   OidIsValid(copy_into) || IsParallelWorker() ? InvalidOid :
							   ag_agentcode_altered_relation(parsetree));
	/* a human's COPY FROM into an agent's relation: its defaults' draws (seqkeys.c) */
	if (OidIsValid(copy_into) && !IsParallelWorker())
		ag_seqroom_human_copy((CopyStmt *) parsetree);
	/* a COPY FROM or ALTER TABLE of an agent's relation runs its code */
	runs_relation_code = OidIsValid(copy_into) ||
		(parsetree != NULL && IsA(parsetree, AlterTableStmt));
	/* the expressions it transforms itself choose no agent's shadow */
	if (!IsParallelWorker())
		shadow_depth = ag_agentshadow_utility_enter(parsetree, text, len,
													context == PROCESS_UTILITY_SUBCOMMAND);
	/*
	 * the foreign-key checks it fires itself: COPY FROM's rows, or deferred
	 * ones (SET CONSTRAINTS ... IMMEDIATE), judged with no statement that
	 * sets their keys (softref.c)
	 */
	saved_ref = ag_softref_enter(NULL, copy_into);
	nesting_level++;
	PG_TRY();
	{
		int			settings;

		/* an agent's cursor over EXPLAIN ANALYZE, first fetched: as the agent */
		resumed = !IsParallelWorker() && ag_agentcode_portal_pending() &&
			ag_agentcode_portal_resume();
		/* the types and collations its text names: no agent's shadow */
		if (!IsParallelWorker())
			ag_agentshadow_utility_check();
		settings = runs_relation_code ? ag_agentcode_settings_enter() : 0;
		if (prev_ProcessUtility)
			prev_ProcessUtility(run, queryString, readOnlyTree, run_context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(run, queryString, readOnlyTree, run_context,
									params, queryEnv, dest, qc);
		ag_agentcode_settings_leave(settings);
		if (!IsParallelWorker())
		{
			ag_agentshadow_utility_done();
			/* a partition key's expressions, stored with no hook of their own */
			ag_agentstored_utility_done(parsetree);
		}
		ag_copyfrom_finish(&copyfrom, qc);
		if (!IsParallelWorker())
		{
			judge_copy_rows(pstmt, queryString, qc);
			ag_reach_decide();
		}
		completed = true;
	}
	PG_FINALLY();
	{
		if (resumed)
			ag_agentcode_query_suspend(completed);
		ag_reach_leave();
		ag_gate_exec_leave(saved_exec);
		ag_agentshadow_utility_leave(shadow_depth);
		ag_softref_leave(saved_ref);
		nesting_level--;
		ag_agentcode_leave();
		if (top)
		{
			ag_statement_leave(saved);
			fetch_running = was_fetch;
		}
		if (OidIsValid(stopped_sealer))
			ag_worker_after_utility(stopped_sealer);
	}
	PG_END_TRY();

	ag_idempotency_after_utility(parsetree);	/* warn on a session-wide key */
	ag_identity_after_utility(parsetree);	/* DISCARD ALL: a new generated run */
	/* a human's new column of a protected table that runs an agent's code */
	if (!IsParallelWorker())
		ag_agenttypes_after_utility(parsetree);
}

/* ---------------------------------------------------------------------
 * Parse analysis
 * ---------------------------------------------------------------------
 */

/*
 * A statement as parsed, before the rewriter adds views, rules and
 * defaults: in a session that is not an agent's, the names of its own text
 * resolve to no agent's shadow of a built-in (agentshadow.c).
 */
static void
ag_post_parse_analyze(ParseState *pstate, Query *query, JumbleState *jstate)
{
	if (!IsParallelWorker())
	{
		ag_agentshadow_parsed(pstate, query);
		ag_pooled_parsed(pstate);	/* a named Parse in a SET LOCAL-tagged transaction */
	}
	if (prev_post_parse_analyze)
		prev_post_parse_analyze(pstate, query, jstate);
}

/* ---------------------------------------------------------------------
 * Planner
 * ---------------------------------------------------------------------
 */
static PlannedStmt *
ag_planner(Query *parse, const char *query_string, int cursorOptions,
		   ParamListInfo boundParams)
{
	bool		converted = false;
	List	   *depends = NIL;
	List	   *binding = NIL;
	List	   *seen = NIL;
	bool		walked = false;
	Oid			rule_rel = InvalidOid;
	PlannedStmt *result;

	/* a foreign key's check of a soft-delete table: not for agents' rows */
	if (!IsParallelWorker())
		ag_softref_plan_query(parse);
	if (!IsParallelWorker() && ag_session_is_agent())
	{
		binding = ag_key_bind_query(parse); /* what an approval binds */
		ag_gate_plan_query(parse);	/* DELETE/UPDATE without WHERE: gated */
		converted = ag_softdelete_convert(parse);
		/* a cascade left a real delete is replanned if its parents' protection changes */
		depends = ag_softdelete_take_depends();
	}
	else if (!IsParallelWorker())
	{
		ag_agentcode_plan_query(parse); /* an agent's rule writing a protected table */
		/* an agent's code's DELETE/UPDATE without WHERE: gated (agentgate.c) */
		if (ag_agentcode_running())
			ag_gate_plan_query(parse);
		/*
		 * an agent's rule's DELETE/UPDATE without WHERE: refused; its other
		 * writes: gated as they run (agentgate.c)
		 */
		rule_rel = ag_agentgate_plan_rule(parse, query_string);
		walked = ag_agentstored_plan_query(parse, &seen);	/* what its views and policies read */
	}

	/* the soft-delete policy's test, false for most sessions: no call to set up */
	ag_softvisible_fold(parse);

	if (prev_planner)
		result = prev_planner(parse, query_string, cursorOptions, boundParams);
	else
		result = standard_planner(parse, query_string, cursorOptions, boundParams);

	/* the command tag and SPI's result code follow the statement's type */
	if (converted)
		result->commandType = CMD_DELETE;
	if (depends != NIL)
		result->relationOids = list_concat(result->relationOids, depends);

	/* setval() goes through agent_guard._setval(), which judges its sequence */
	if (!IsParallelWorker() && ag_session_is_agent())
	{
		AgWriterScan ws = {0};

		/* one walk of the plan finds both */
		ws.collect_setval = true;
		ws.collect_notify = true;
		/*
		 * nextval() through agent_guard._nextval(), which judges the room
		 * left in its sequence (seqkeys.c) and, under a tables list or
		 * read_only, the sequence itself (policy.c)
		 */
		ws.collect_nextval = true;
		ag_writers_scan_plan(result, &ws);
		ag_writers_wrap_setval(result, &ws);
		ag_writers_wrap_nextval(result, &ws);
		/* pg_notify() goes through agent_guard._notify(), which counts it */
		ag_agentnotify_wrap_plan(result, &ws);
	}
	else if (!IsParallelWorker() && ag_agentcode_running() && !ag_owner_running())
	{
		/*
		 * a plan of an agent's code outside its session (a human's
		 * statement, autovacuum's ANALYZE): its nextval() through
		 * agent_guard._nextval() too, which judges the room left in the
		 * sequence as in the agent's session (red team 34, F3); a human's
		 * own plans stay as they are
		 */
		AgWriterScan ws = {0};

		ws.collect_nextval = true;
		ag_writers_scan_plan(result, &ws);
		ag_writers_wrap_nextval(result, &ws);
	}
	else if (!IsParallelWorker() && !ag_owner_running() && ag_agentcode_plan_runs_agent_code(result))
	{
		/*
		 * a human's plan that runs an agent's stored code (the rules,
		 * row-security policies, views and defaults of its relations, a
		 * query PostgreSQL runs as the agent role: its materialized
		 * view's): its nextval() through agent_guard._nextval() too, which
		 * judges the room left in the sequence while that code runs, on
		 * record under the agent (red team 35, F13); the human's own calls
		 * in the statement as well (the plan no longer tells them apart)
		 */
		AgWriterScan ws = {0};

		ws.collect_nextval = true;
		ag_writers_scan_plan(result, &ws);
		ag_writers_wrap_nextval(result, &ws);
	}
	if (binding != NIL)
		ag_key_bind_plan(result, binding);
	ag_agentgate_mark_rule_plan(result, rule_rel);	/* an agent's rule's action */
	/* an agent's view read through a human's function the planner inlined */
	if (walked)
		ag_agentstored_check_plan(result, seen);

	if (!IsParallelWorker())
		ag_policy_check_plan(parse, result, query_string);
	return result;
}

/* ---------------------------------------------------------------------
 * Object access: the backstop that sees every object a statement reaches
 * ---------------------------------------------------------------------
 */
static void
ag_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				 int subId, void *arg)
{
	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);

	/* every function call the executor or the fast-path protocol sets up */
	if (access == OAT_FUNCTION_EXECUTE)
	{
		/* the leader judged the statement, not a worker's own calls */
		if (IsParallelWorker())
			ag_writers_parallel_worker_function(objectId);
		ag_policy_function_execute(objectId);
		ag_gate_frozen_function(objectId);
		/* the agent's code in a human's session: as the agent's own */
		ag_agentgate_function_execute(objectId);
		ag_agentcode_function_execute(objectId);
		ag_gate_preview_function(objectId);
		ag_gate_setval_unwrapped(objectId);
		/* nextval() no plan shows: it cannot keep a sequence's room */
		if (!IsParallelWorker())
			ag_seqroom_function_execute(objectId);
		ag_gate_pooled_function(objectId);
		ag_agentnotify_function_execute(objectId);
		/* a human's utility statement's own expressions: no agent's shadow */
		if (!IsParallelWorker())
			ag_agentshadow_function_execute(objectId);
		return;
	}

	/* an agent's code in a human's session alters no protected table */
	ag_agentcode_object_access(access, classId, objectId);
	/* nor drops or empties any relation that is not temporary (agentgate.c) */
	ag_agentgate_object_access(access, classId, objectId, subId, arg);
	/* an agent's domain calls nothing with more than the agent's rights */
	ag_agentstored_object_access(access, classId, objectId, subId);
	/* a default it stores calls nextval() only as its policy lets it */
	ag_policy_object_access(access, classId, objectId, subId);
	/* a default an ALTER TABLE evaluates for each row: its draws leave room */
	if (access == OAT_POST_CREATE && classId == AttrDefaultRelationId && !IsParallelWorker())
		ag_seqroom_default_created(objectId, (AttrNumber) subId);

	/* what a statement drops, empties or alters: judged as the direct act */
	ag_reach_object_access(access, classId, objectId, subId, arg);
	/* what a human's utility statement stores: no agent's shadow */
	if (!IsParallelWorker())
		ag_agentshadow_object_access(access, classId, objectId, subId);
	/* an agent's extension only where the agent may create objects */
	if (access == OAT_POST_CREATE && classId == ExtensionRelationId)
		ag_agentshadow_extension_created(objectId);

	/* what this transaction creates: its own, not the humans' (tagshadow.c) */
	if (access == OAT_POST_CREATE)
		ag_tagshadow_note_created(classId, objectId, subId);
	/* a tagged shared role's object named like a built-in one */
	ag_tagshadow_object_access(access, classId, objectId, subId, arg);
	/* nor add to their older table what their writes must pass (red team 35, F9) */
	ag_tagshadow_older_addition(access, classId, objectId, subId, arg);
	/* a role named like an agent's schema: its "$user" schema */
	ag_rolename_object_access(access, classId, objectId, subId);

	if (access == OAT_POST_CREATE && subId == 0 && ag_agent_latched())
		ag_scope_note_created(classId, objectId);
}

/* ---------------------------------------------------------------------
 * Shared memory (areas registered by the modules' init functions)
 * ---------------------------------------------------------------------
 */
#ifdef AG_HAVE_SHMEM_REQUEST_HOOK
static void
ag_shmem_request_hook(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	ag_shmem_request();
}
#endif

static void
ag_shmem_startup_hook(void)
{
	if (prev_shmem_startup)
		prev_shmem_startup();
	ag_shmem_startup();
}

/* ---------------------------------------------------------------------
 * Function manager: calls of agents' functions in humans' sessions
 * ---------------------------------------------------------------------
 */
static bool
ag_needs_fmgr(Oid fn_oid)
{
	if (prev_needs_fmgr && prev_needs_fmgr(fn_oid))
		return true;
	return ag_agentcode_needs_hook(fn_oid);
}

/*
 * The previous hook starts first and ends last: if it throws at the start,
 * nothing of ours was pushed (no abort event follows a failed start).
 */
static void
ag_fmgr(FmgrHookEventType event, FmgrInfo *flinfo, Datum *private)
{
	if (event == FHET_START)
	{
		if (prev_fmgr)
			prev_fmgr(event, flinfo, private);
		ag_agentcode_fmgr(event, flinfo, private);
	}
	else
	{
		ag_agentcode_fmgr(event, flinfo, private);
		if (prev_fmgr)
			prev_fmgr(event, flinfo, private);
	}
}

/* At transaction end nothing can still be open; start clean. */
static void
hooks_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		ag_statement_reset(nesting_level == 0);
		ag_gate_exec_reset();
		fetch_running = false;

		/*
		 * Only at the top: a procedure's ROLLBACK aborts a transaction while
		 * its caller's code is still on the stack.  Calls that an error
		 * unwinds were popped on their way out (FHET_ABORT).
		 */
		ag_agentcode_xact_end(nesting_level == 0, true);
	}
	else if (event == XACT_EVENT_COMMIT)
		ag_agentcode_xact_end(nesting_level == 0, false);
}

/* From _PG_init, after every module registered its shared memory. */
void
ag_hooks_init(void)
{
#ifdef AG_HAVE_SHMEM_REQUEST_HOOK
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = ag_shmem_request_hook;
#else
	ag_shmem_request();
#endif
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = ag_shmem_startup_hook;

	prev_planner = planner_hook;
	planner_hook = ag_planner;
	prev_post_parse_analyze = post_parse_analyze_hook;
	post_parse_analyze_hook = ag_post_parse_analyze;
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
	prev_object_access = object_access_hook;
	object_access_hook = ag_object_access;
	prev_needs_fmgr = needs_fmgr_hook;
	needs_fmgr_hook = ag_needs_fmgr;
	prev_fmgr = fmgr_hook;
	fmgr_hook = ag_fmgr;
	RegisterXactCallback(hooks_xact_callback, NULL);
}

/* ---------------------------------------------------------------------
 * Without the preload: the library loaded into a session (an agent role's
 * session_preload_libraries, set by register_agent(), or a trigger of a
 * protected table), with no shared memory and none of the hooks above.
 * Every statement of an agent is refused (failsafe.c), and so is a
 * function call of the fast-path protocol; transaction control other than
 * PREPARE TRANSACTION goes on.  A human's statements are not touched.
 * ---------------------------------------------------------------------
 */
static void
failsafe_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (!IsParallelWorker())
		ag_failsafe_check(psprintf("run %s",
								   GetCommandTagName(CreateCommandTag((Node *) queryDesc->plannedstmt))));
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

static void
failsafe_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
						bool readOnlyTree, ProcessUtilityContext context,
						ParamListInfo params, QueryEnvironment *queryEnv,
						DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (!IsParallelWorker() &&
		!(parsetree != NULL && IsA(parsetree, TransactionStmt) &&
		  ((TransactionStmt *) parsetree)->kind != TRANS_STMT_PREPARE))
		ag_failsafe_check(psprintf("run %s", GetCommandTagName(CreateCommandTag(parsetree))));
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

static void
failsafe_object_access(ObjectAccessType access, Oid classId, Oid objectId,
					   int subId, void *arg)
{
	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);
	if (access == OAT_FUNCTION_EXECUTE && !IsParallelWorker() && IsTransactionState())
		ag_failsafe_check(psprintf("call %s", format_procedure(objectId)));
}

/* From _PG_init when the library is not preloaded. */
void
ag_hooks_init_failsafe(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = failsafe_ExecutorStart;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = failsafe_ProcessUtility;
	prev_object_access = object_access_hook;
	object_access_hook = failsafe_object_access;
}
