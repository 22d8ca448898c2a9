/*-------------------------------------------------------------------------
 * gate.c
 *		Destructive acts wait for a human; freezes hold; limits trip; the
 *		guard cannot be switched off from an agent session.  Decisions only.
 *
 * The hooks (hooks.c) hand every statement of an agent session, top-level
 * or nested, to the gates, in the order written down there:
 *
 *	- refused outright (AG_REFUSAL_GUARD): anything that would weaken the
 *	  guard: DROP/ALTER of the extension or its schema, disabling or
 *	  dropping the guard's triggers or row security on a protected table,
 *	  dropping or altering the stamp columns, rules on protected tables,
 *	  session_replication_role, ALTER SYSTEM, LOAD, and the superuser-set
 *	  agent_guard.* settings; and, with a message of its own, a write
 *	  (any plan, COPY FROM) to an inheritance child of a protected table
 *	  that no protection covers (refuse_unprotected_child);
 *	- needs a human's approval (AG_REFUSAL_APPROVAL): DROP of tables,
 *	  views, materialized views, sequences, schemas, types and databases,
 *	  DROP OWNED, TRUNCATE, dropping a column or changing its type,
 *	  renaming or moving a protected table or its columns, detaching a
 *	  partition or an inheritance child (NO INHERIT) from a table that is
 *	  not scratch, DELETE or UPDATE without a WHERE clause, and any
 *	  statement that writes more than agent_guard.max_rows_per_statement
 *	  rows (counted while it runs, so it fails before it commits);
 *	- a freeze (AG_REFUSAL_FROZEN) refuses every write of the frozen agents
 *	  outside their scratch space (classify.c says what a utility statement
 *	  writes), and the COMMIT of a transaction that wrote protected tables
 *	  before the freeze (commit_check); a run that passes agent_guard.max_rows_per_run is tripped
 *	  (AG_REFUSAL_TRIPPED) and refused until a human resets it.
 * Scratch space and who is judged at all are scope.c's rules; refusing
 * (request, log line, error) is refusal.c's.
 *
 * An approval lets the same agent run the same statement (whitespace
 * normalized) once, within agent_guard.approval_ttl: the approved request
 * is consumed, and its EXECUTED event written, in the agent's
 * (sub)transaction that runs it, so an aborted retry keeps it.  "The
 * same statement" is one SHA-256 digest (approvalkey.c): text, bound
 * values, search_path, what its names resolved to, and the definitions of
 * what it reaches and calls (relations and their children, views' rules,
 * functions and what they depend on, triggers of what it writes, the text
 * of the prepared statement an EXECUTE runs), whatever its plan.
 * Once means one execution: an approved DELETE that a DO block's loop runs
 * a hundred times needs a hundred approvals.  Each run of the executor
 * (ExecutorStart to ExecutorEnd, whatever number of ExecutorRun calls a
 * portal takes) and each ProcessUtility call is an execution with a number
 * of its own; the gates one execution passes (no WHERE clause, then the
 * row limit; a utility verdict, then what it reached) share its approval,
 * and nothing else does, nested statements included.
 *
 * Freezes and tripped runs live in tables (they survive restarts); the
 * generation counter of outbox.c, bumped when they change, tells each
 * backend to reload them, so the check per statement is one atomic read.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/pg_inherits.h"
#include "common/hashfn.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "parser/parse_type.h"
#include "parser/parsetree.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "agentcache.h"
#include "agentcode.h"
#include "agentgate.h"
#include "approvalkey.h"
#include "approved.h"
#include "classify.h"
#include "compat.h"
#include "gate.h"
#include "outbox.h"
#include "owner_spi.h"
#include "policy.h"
#include "pooled.h"
#include "refusal.h"
#include "scope.h"
#include "session.h"
#include "statement.h"
#include "structure.h"
#include "tagshadow.h"
#include "writers.h"

/* settings */
static int	max_rows_per_statement = 1000;
static int	max_rows_per_run = 10000;
static int	approval_ttl = 900;

/* freezes and trips, as of generation state_gen, for run state_run */
static uint64 state_gen = 0;
static bool state_valid = false;
static char *state_run = NULL;
static char *state_agent = NULL;	/* the agent the freezes were loaded for */
static char *frozen_all = NULL;
static char *frozen_me = NULL;
static bool tripped_me = false;
static bool tripped_local = false;	/* tripped here, not yet written */

/*
 * Executions: the one running now, and the executor runs that are open
 * (a portal keeps its number across Execute calls).  A QueryDesc is found
 * by address only between its ExecutorStart and ExecutorEnd; one not found
 * (forgotten after an error, or more open than the list holds) gets a new
 * number, which fails closed: it needs an approval of its own.
 */
typedef struct AgOpenExec
{
	QueryDesc  *qd;
	uint64		id;
} AgOpenExec;

#define AG_MAX_OPEN_EXECS 64
static AgOpenExec open_execs[AG_MAX_OPEN_EXECS];
static int	n_open_execs = 0;
static uint64 exec_counter = 0;
static uint64 exec_current = 0;

/*
 * Approvals consumed in this top-level statement, each for the one
 * execution that consumed it, in the subtransaction that consumed it.
 * When the list is full the oldest is forgotten (its execution would need
 * another approval: closed).  A subtransaction that aborts takes its
 * entries (and its children's) with it: the consumption it rolled back
 * admits nothing more (gate_subxact_callback).
 */
typedef struct AgApprovedExec
{
	AgKeyDigest digest;
	uint64		exec;
	SubTransactionId subid;
	int64		cap;			/* a row limit's approval: the rows its
								 * request said; -1 for another approval */
	uint64		written;		/* rows written under it so far */
	AgTableRows caps;			/* ... and per table (red team 17a, F3) */
	AgTableRows written_tables;
} AgApprovedExec;

#define AG_MAX_APPROVED 16
static AgApprovedExec approved_execs[AG_MAX_APPROVED];
static int	n_approved = 0;

/*
 * A row limit's decision: the rows the statement wrote, which its approval
 * must have said at least (consume_approval); -1 for another decision.
 */
static int64 decide_rows = -1;

/* ... and per table: what the request says, and its approval caps */
static AgTableRows decide_tables;

/* nextval/setval calls of the plan being started name temporary sequences only */
static bool frozen_seq_calls_blessed = false;

/*
 * Rows counted for limits: this statement's, and the run's across all its
 * sessions as last seen (runcount.c keeps the shared count).
 */
static uint64 stmt_rows = 0;
static uint64 run_rows = 0;

/*
 * The statement's rows per table, kept with stmt_rows while a row limit
 * is set (or an approved row limit caps them), and the rows counted last
 * (for the approval that caps the execution they belong to).
 */
static AgTableRows stmt_tables;
static AgTableRows batch_tables;

static inline bool
count_per_table(void)
{
	return max_rows_per_statement >= 0 || n_approved > 0;
}

/* n rows were counted for relid */
static inline void
count_table_rows(Oid relid, uint64 n)
{
	if (!count_per_table())
		return;
	ag_table_rows_add(&stmt_tables, relid, (int64) n);
	ag_table_rows_add(&batch_tables, relid, (int64) n);
}

/* a preview runs: its rows are rolled back, and so is their count */
static bool previewing = false;
static uint64 preview_saved_run_rows = 0;

static bool bump_at_commit = false;

/*
 * The agent's writes of protected tables in this transaction (red team 30,
 * finding 12): the capture trigger notes each (ag_gate_note_write), and
 * COMMIT is judged against the freezes and the policy in force then
 * (commit_check).  wrote_subid is the outermost subtransaction that holds
 * such writes: one that rolls back takes its writes with it.
 */
static LocalTransactionId wrote_lxid = InvalidLocalTransactionId;
static SubTransactionId wrote_subid = InvalidSubTransactionId;

static void commit_check(void);
static void gate_decide(AgRefusalKind kind, const char *what, const char *why,
						const char *text, int len, int64 rows);

static void
gate_xact_callback(XactEvent event, void *arg)
{
	/* a transaction with no agent write of a protected table pays this test */
	if (event == XACT_EVENT_PRE_COMMIT && wrote_lxid == AG_MY_LXID &&
		wrote_subid != InvalidSubTransactionId)
	{
		wrote_lxid = InvalidLocalTransactionId;
		commit_check();
	}
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (bump_at_commit)
				ag_state_bump();
			bump_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PRE_COMMIT:
			if (event != XACT_EVENT_PRE_COMMIT)
			{
				bump_at_commit = false;
				n_approved = 0;
			}
			if (previewing)
				run_rows = preview_saved_run_rows;
			previewing = false;
			break;
		default:
			break;
	}
}

/*
 * A subtransaction aborts: the approvals it (or a subtransaction inside
 * it) consumed are back in request_log, unused, with no EXECUTED event;
 * nothing here may still admit their executions.  Subtransaction ids grow
 * within a transaction, so those are the entries at mySubid or above.
 */
static void
gate_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	int			i;
	int			kept = 0;

	if (wrote_lxid == AG_MY_LXID && wrote_subid == mySubid)
	{
		/* released: the writes are the parent's; rolled back: gone */
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			wrote_subid = parentSubid;
		else if (event == SUBXACT_EVENT_ABORT_SUB)
			wrote_lxid = InvalidLocalTransactionId;
	}
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	for (i = 0; i < n_approved; i++)
		if (approved_execs[i].subid < mySubid)
			approved_execs[kept++] = approved_execs[i];
	n_approved = kept;
}

/* ---------------------------------------------------------------------
 * Freezes and tripped runs
 * ---------------------------------------------------------------------
 */
static AgKeptPlan state_plan = {
	"SELECT (SELECT f.reason FROM agent_guard.freeze_state f WHERE f.scope OPERATOR(pg_catalog.=) '*'), "
	"       (SELECT f.reason FROM agent_guard.freeze_state f WHERE f.scope OPERATOR(pg_catalog.=) $1), "
	"       EXISTS (SELECT 1 FROM agent_guard.tripped_runs t WHERE t.run_id OPERATOR(pg_catalog.=) $2 "
	"                  AND t.agent_id OPERATOR(pg_catalog.=) $1)",
	2, {TEXTOID, TEXTOID}
};

typedef struct StateQuery
{
	Datum		values[2];
} StateQuery;

static void
load_state_query(void *arg)
{
	StateQuery *q = (StateQuery *) arg;
	bool		isnull;
	Datum		d;
	HeapTuple	tup;
	TupleDesc	desc;
	/*
	 * The latest committed state, not the transaction's snapshot: a freeze
	 * made after a REPEATABLE READ agent transaction began holds in it
	 * (red team 4, finding 3), and the generation it bumped is cached.
	 */
	int			rc = ag_kept_execute_latest(&state_plan, q->values, NULL, 0);

	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "agent_guard gate: query failed: %s", SPI_result_code_string(rc));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	d = SPI_getbinval(tup, desc, 1, &isnull);
	frozen_all = isnull ? NULL : ag_session_strdup(TextDatumGetCString(d));
	d = SPI_getbinval(tup, desc, 2, &isnull);
	frozen_me = isnull ? NULL : ag_session_strdup(TextDatumGetCString(d));
	d = SPI_getbinval(tup, desc, 3, &isnull);
	tripped_me = !isnull && DatumGetBool(d);
}

static void
load_state(void)
{
	uint64		gen = ag_state_generation();
	const char *run = ag_current_run(false);
	StateQuery	q;

	/*
	 * The run may change between transactions (a label per transaction, a
	 * generated run per transaction), and so may the agent (a SET LOCAL
	 * tag): what was loaded is about one agent's run (trips and counts are
	 * per agent, runcount.c).
	 */
	if (state_valid && gen == state_gen &&
		(state_run == NULL ? run == NULL : run != NULL && strcmp(state_run, run) == 0) &&
		(state_agent == NULL ? ag_current_agent() == NULL :
		 ag_current_agent() != NULL && strcmp(state_agent, ag_current_agent()) == 0))
		return;
	if (state_valid && gen == state_gen)
	{
		/* another run, same generation: its own trip and count */
		tripped_local = false;
		run_rows = ag_run_rows(ag_current_agent(), run);

		/*
		 * The run generated for this transaction, by the agent the freezes
		 * were loaded for: the freezes are those loaded (same generation),
		 * and nobody can have tripped a run nobody knew.  No query: with
		 * the default generated_runs = transaction this was one per agent
		 * transaction, most of the cost of a short agent statement.
		 */
		if (ag_run_generated_in_xact(run) && state_agent != NULL &&
			ag_current_agent() != NULL && strcmp(state_agent, ag_current_agent()) == 0)
		{
			if (state_run)
				pfree(state_run);
			state_run = ag_session_strdup(run);
			tripped_me = false;
			return;
		}
	}
	if (state_run)
		pfree(state_run);
	state_run = run ? ag_session_strdup(run) : NULL;
	if (state_agent)
		pfree(state_agent);
	state_agent = NULL;

	if (frozen_all)
		pfree(frozen_all);
	if (frozen_me)
		pfree(frozen_me);
	frozen_all = frozen_me = NULL;

	q.values[0] = CStringGetTextDatum(ag_current_agent());
	q.values[1] = CStringGetTextDatum(run ? run : "");
	ag_owner_spi(load_state_query, &q);
	if (ag_current_agent() != NULL)
		state_agent = ag_session_strdup(ag_current_agent());

	/* a human reset the run: count from zero again */
	if (!tripped_me && state_valid && gen != state_gen)
	{
		if (tripped_local)
			run_rows = 0;
		tripped_local = false;
	}
	state_gen = gen;
	state_valid = true;
}

/*
 * The capture trigger wrote an event for an agent's row of a protected
 * table (capture.c): a few instructions per row, nothing per commit of
 * a transaction without such a write.
 */
void
ag_gate_note_write(void)
{
	SubTransactionId sub = GetCurrentSubTransactionId();

	if (wrote_lxid != AG_MY_LXID)
	{
		wrote_lxid = AG_MY_LXID;
		wrote_subid = sub;
	}
	else if (sub < wrote_subid)
		wrote_subid = sub;
}

/*
 * COMMIT of an agent transaction that wrote protected tables: the freeze
 * or the read_only policy the statements passed may have come since
 * (red team 30, finding 12).  A freeze stops "writes of sessions already
 * connected from their next statement", and COMMIT is the statement that
 * makes the earlier ones durable, as COMMIT PREPARED is (classify.c): it is
 * refused (YG006, YG008; on record), and the transaction rolls back.  The
 * statement gate's state, so no query unless the generation moved.
 */
static void
commit_check(void)
{
	const char *text;
	int			len;

	if (ag_current_agent() == NULL)
		return;
	ag_current_statement(&text, &len);
	if (text == NULL)
	{
		text = "COMMIT";
		len = 6;
	}
	load_state();
	if (frozen_all || frozen_me)
		gate_decide(AG_REFUSAL_FROZEN, "COMMIT",
					psprintf("Writes of %s are frozen: %s (the transaction wrote protected tables before the freeze; its COMMIT would make those writes durable during it.)",
							 frozen_me ? "this agent" : "all agents",
							 frozen_me ? frozen_me : frozen_all),
					text, len, 0);
	ag_policy_commit_check(text, len);
}

/*
 * The freeze that holds for an agent whose code runs in a human's session
 * (agentgate.c): the reason of a freeze of all agents or of that agent,
 * NULL when none; *all says which.  Read with the latest committed state,
 * cached per agent until the generation moves.
 */
typedef struct CodeFreeze
{
	char	   *all;
	char	   *mine;
} CodeFreeze;

typedef struct CodeFreezeQuery
{
	Datum		values[2];
	MemoryContext cxt;
	CodeFreeze *out;
} CodeFreezeQuery;

static void
code_freeze_query(void *arg)
{
	CodeFreezeQuery *q = (CodeFreezeQuery *) arg;
	bool		isnull;
	Datum		d;
	int			rc = ag_kept_execute_latest(&state_plan, q->values, NULL, 0);

	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "agent_guard gate: query failed: %s", SPI_result_code_string(rc));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	q->out->all = isnull ? NULL : MemoryContextStrdup(q->cxt, TextDatumGetCString(d));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	q->out->mine = isnull ? NULL : MemoryContextStrdup(q->cxt, TextDatumGetCString(d));
}

static void
code_freeze_fill(const char *agent, void *entry, MemoryContext cxt)
{
	CodeFreezeQuery q;

	q.values[0] = CStringGetTextDatum(agent);
	q.values[1] = CStringGetTextDatum("");	/* no run: no trip to read */
	q.cxt = cxt;
	q.out = (CodeFreeze *) entry;
	ag_owner_spi(code_freeze_query, &q);
}

static AgAgentCache code_freezes = AG_AGENT_CACHE("code freezes", CodeFreeze, code_freeze_fill);

const char *
ag_gate_freeze_of(const char *agent, bool *all)
{
	CodeFreeze *c = (CodeFreeze *) ag_agent_cache_get(&code_freezes, agent);

	*all = c->mine == NULL;
	return c->mine ? c->mine : c->all;
}

/* ---------------------------------------------------------------------
 * Approvals, and the gates' way into the refusal path
 * ---------------------------------------------------------------------
 */
/*
 * An approval is consumed by the SHA-256 digest of the statement's key
 * (approvalkey.c), never by the 64-bit statement_hash, which is shown
 * only.  A request written before 1.2 has no digest and is never
 * consumed; neither is any while the extension is still at 1.1.
 */
/*
 * The time is the clock's, not the transaction's: an agent transaction
 * opened before the approval expired does not see it unexpired, and its
 * use is not dated before the approval (red team 17a, finding 5).  The
 * approval is for the agent and the login role that made the request: a
 * session of another login that tags itself with the agent's id uses
 * none (red team 17a, finding 7).
 */
static AgKeptPlan consume_plan = {
	"UPDATE agent_guard.request_log r "
	"   SET status = 'used', used_at = pg_catalog.clock_timestamp(), used_xid = pg_catalog.pg_current_xact_id() "
	" WHERE r.request_id OPERATOR(pg_catalog.=) (SELECT q.request_id FROM agent_guard.request_log q "
	"                        WHERE q.agent_id OPERATOR(pg_catalog.=) $1 AND q.statement_digest OPERATOR(pg_catalog.=) $2 "
	"                          AND q.login_role OPERATOR(pg_catalog.=) $4 "
	"                          AND q.status OPERATOR(pg_catalog.=) 'approved' "
	"                          AND q.expires_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp() "
	"                          AND ($3 IS NULL OR (COALESCE(pg_catalog.substring(q.reason, "
	"                                 '^It wrote ([0-9]{1,18}) rows, more than agent_guard\\.max_rows_per_statement ')::pg_catalog.int8, -1) "
	"                               OPERATOR(pg_catalog.>=) $3 "
	"                           AND NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_each_text($5::pg_catalog.jsonb) c "
	"                                WHERE c.value::pg_catalog.int8 OPERATOR(pg_catalog.>) "
	"                                      COALESCE((q.table_rows OPERATOR(pg_catalog.->>) c.key)::pg_catalog.int8, 0)))) "
	"                        ORDER BY q.request_id LIMIT 1 FOR UPDATE) "
	"RETURNING r.request_id, pg_catalog.substring(r.reason, "
	"          '^It wrote ([0-9]{1,18}) rows, more than agent_guard\\.max_rows_per_statement ')::pg_catalog.int8, "
	"          (SELECT pg_catalog.array_agg(c.key::pg_catalog.oid ORDER BY c.key) FROM pg_catalog.jsonb_each_text(r.table_rows) c), "
	"          (SELECT pg_catalog.array_agg(c.value::pg_catalog.int8 ORDER BY c.key) FROM pg_catalog.jsonb_each_text(r.table_rows) c)",
	5, {TEXTOID, BYTEAOID, INT8OID, TEXTOID, TEXTOID}
};

typedef struct ConsumeQuery
{
	Datum		values[5];
	bool		nulls[5];
	int64		id;
	int64		rows;			/* the rows its row limit's request said, or -1 */
	AgTableRows *caps;			/* ... and per table */
} ConsumeQuery;

static void
consume_query(void *arg)
{
	ConsumeQuery *q = (ConsumeQuery *) arg;
	bool		isnull;
	char		nulls[5];
	int			rc;
	int			i;

	for (i = 0; i < 5; i++)
		nulls[i] = q->nulls[i] ? 'n' : ' ';
	rc = ag_kept_execute(&consume_plan, q->values, nulls, false, 0);

	if (rc != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "agent_guard gate: query failed: %s", SPI_result_code_string(rc));
	if (SPI_processed > 0)
	{
		Datum		r;

		q->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		r = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		q->rows = isnull ? -1 : DatumGetInt64(r);
		q->caps->n = 0;
		r = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
		if (!isnull)
		{
			bool		rows_null;
			Datum		rows = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &rows_null);
			Datum	   *relids;
			Datum	   *counts;
			int			n1;
			int			n2;

			deconstruct_array(DatumGetArrayTypeP(r), OIDOID, sizeof(Oid), true, TYPALIGN_INT,
							  &relids, NULL, &n1);
			deconstruct_array(DatumGetArrayTypeP(rows), INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
							  TYPALIGN_DOUBLE, &counts, NULL, &n2);
			/* what the guard wrote (outbox.c): one count per table, at most AG_ROW_TABLES */
			if (rows_null || n1 != n2 || n1 > AG_ROW_TABLES)
				elog(ERROR, "agent_guard gate: request " INT64_FORMAT " has malformed table_rows", q->id);
			for (i = 0; i < n1; i++)
			{
				q->caps->relid[i] = DatumGetObjectId(relids[i]);
				q->caps->rows[i] = DatumGetInt64(counts[i]);
			}
			q->caps->n = n1;
		}
	}
}

/*
 * An approved, unused, unexpired request of this agent for this statement?
 * For a row limit's decision (rows >= 0) only a request that said at least
 * rows rows: the human approved the count the request showed, and an
 * approved statement that writes more is a new request (red team 15B,
 * finding 7), and in each table at most the rows the request said of it
 * (decide_tables: a table it did not name had none; red team 17a, finding
 * 3).  *said: the rows the request said, -1 when it said none; *caps: the
 * rows it said per table.
 */
static int64
consume_approval(const AgKeyDigest *digest, int64 rows, int64 *said, AgTableRows *caps)
{
	ConsumeQuery q;
	Oid			nsp = ag_guard_namespace();
	Oid			log = OidIsValid(nsp) ? get_relname_relid("request_log", nsp) : InvalidOid;
	bytea	   *b;

	if (!OidIsValid(log) || get_attnum(log, "statement_digest") == InvalidAttrNumber)
		return 0;				/* still 1.1: no request can be matched safely */
	b = palloc(VARHDRSZ + AG_KEY_DIGEST_LEN);
	SET_VARSIZE(b, VARHDRSZ + AG_KEY_DIGEST_LEN);
	memcpy(VARDATA(b), digest->d, AG_KEY_DIGEST_LEN);
	q.values[0] = CStringGetTextDatum(ag_current_agent());
	q.values[1] = PointerGetDatum(b);
	q.values[2] = Int64GetDatum(rows);
	/* the login role, as the request records it (refusal.c) */
	q.values[3] = CStringGetTextDatum(GetUserNameFromId(GetAuthenticatedUserId(), false));
	/* a row limit's: its rows per table, each within the request's */
	q.values[4] = rows >= 0 ? CStringGetTextDatum(ag_table_rows_json(&decide_tables)) : (Datum) 0;
	q.nulls[0] = q.nulls[1] = q.nulls[3] = false;
	q.nulls[2] = q.nulls[4] = rows < 0;
	q.id = 0;
	q.rows = -1;
	q.caps = caps;
	caps->n = 0;
	ag_owner_spi(consume_query, &q);
	*said = q.rows;
	return q.id;
}

/* The QueryDesc of the execution running now, if it runs a plan. */
static QueryDesc *
current_execution(void)
{
	int			i;

	for (i = n_open_execs - 1; i >= 0; i--)
		if (open_execs[i].id == exec_current && exec_current != 0)
			return open_execs[i].qd;
	return NULL;
}

/*
 * What the utility statement being decided drops or empties (NIL for any
 * other decision): set by classify_utility().  Whether PostgreSQL would
 * refuse the agent the statement anyway (approved.c) is the verdict's
 * unrunnable.
 */
static List *destroy_targets = NIL;
static List *decide_targets = NIL;

/*
 * Refuse (refusal.c), unless kind is APPROVAL and a human approved this
 * statement: then the approval is consumed, the statement goes on, and
 * its run gets an EXECUTED event (approved.c).
 */
/*
 * The most of a plan's own text a request's reason shows, in bytes: the
 * reason is kept in 2,048 bytes (outbox.c), with the settings the text is
 * read with after it (refusal.c).
 */
#define AG_SOURCE_SHOWN 1000

/*
 * The reason of a request, with the text the plan was made from when it is
 * not the client statement's: the human approving `EXECUTE p` or `SELECT
 * f()` sees what runs (the approval is bound to that text too).  Cut at
 * AG_SOURCE_SHOWN bytes, on a character boundary, with the rest counted.
 */
static const char *
why_with_source(const char *why, const char *source, int len, bool *cut)
{
	int			shown = pg_mbcliplen(source, len, AG_SOURCE_SHOWN);

	*cut = shown < len;
	return psprintf("%s It runs this text, to which the approval is bound as well: %.*s%s",
					why, shown, source,
					shown < len ?
					psprintf(" ... (%d more characters)",
							 pg_mbstrlen_with_len(source + shown, len - shown)) : "");
}

static void
gate_decide_keyed(AgRefusalKind kind, const char *what, const char *why,
				  const char *text, int len, AgStatementKey *key, int64 rows)
{
	if (kind == AG_REFUSAL_APPROVAL)
	{
		QueryDesc  *qd = current_execution();

		/*
		 * Bound to what the execution's statement reaches and calls: its
		 * relations and their children, views' rules, the functions it
		 * calls and those they depend on, the triggers of what it writes,
		 * as they are defined now, whatever its plan (approvalkey.c); and
		 * to the text the plan was made from when that is not the client
		 * statement's (the prepared statement an EXECUTE runs, the query a
		 * function runs).  The request records the same.
		 */
		if (qd != NULL)
		{
			const char *source;
			int			source_len;

			ag_query_text(qd, &source, &source_len);
			if (source == text && source_len == len)
				source = NULL;	/* the client statement's own text */
			ag_key_add_plan(&key->material, qd->plannedstmt, source, source_len);
			if (source != NULL && source_len > 0)
			{
				/*
				 * The request records that text's SHA-256: one whose reason
				 * cuts it is approved only with it whole (red team 17a, F1)
				 */
				why = why_with_source(why, source, source_len, &key->source_cut);
				key->source = source;
				key->source_len = source_len;
			}
		}
		/* a row limit's request says the rows per table, which cap its approval */
		if (decide_rows >= 0)
			key->table_rows = &decide_tables;
	}
	if (kind == AG_REFUSAL_APPROVAL && !ag_preview_active())
	{
		int64		id;
		const AgKeyDigest *digest = ag_statement_key_digest(key);
		int			i;
		int64		said;
		AgTableRows caps;

		for (i = 0; i < n_approved; i++)
			if (memcmp(&approved_execs[i].digest, digest, sizeof(AgKeyDigest)) == 0 &&
				approved_execs[i].exec == exec_current)
				return;			/* already approved for this execution */
		id = consume_approval(digest, decide_rows, &said, &caps);
		if (id != 0)
		{
			if (n_approved == AG_MAX_APPROVED)
			{
				memmove(&approved_execs[0], &approved_execs[1],
						sizeof(AgApprovedExec) * (AG_MAX_APPROVED - 1));
				n_approved--;
			}
			approved_execs[n_approved].digest = *digest;
			approved_execs[n_approved].exec = exec_current;
			approved_execs[n_approved].subid = GetCurrentSubTransactionId();
			approved_execs[n_approved].cap = decide_rows >= 0 ? said : -1;
			approved_execs[n_approved].written = decide_rows >= 0 ? (uint64) decide_rows : 0;
			approved_execs[n_approved].caps = caps;
			approved_execs[n_approved].written_tables = decide_tables;
			if (decide_rows < 0)
				approved_execs[n_approved].written_tables.n = 0;
			n_approved++;
			ag_refusal_log("approved", id, kind, why, key->text.data);
			ag_approved_record(id, what, decide_targets);
			return;
		}
	}
	if (kind == AG_REFUSAL_TRIPPED && !ag_preview_active())
		tripped_local = true;
	ag_refuse_keyed(kind, what, why, key, rows);
}

static void
gate_decide(AgRefusalKind kind, const char *what, const char *why,
			const char *text, int len, int64 rows)
{
	AgStatementKey key;

	ag_statement_key(text, len, &key);
	gate_decide_keyed(kind, what, why, text, len, &key, rows);
}

/*
 * Decide on a statement whose approval is bound to what it reached, not
 * only to its text (binding): reach.c's backstop, and the utility
 * statements' own verdicts (bound to what their names resolved to).
 */
void
ag_gate_decide_bound(AgRefusalKind kind, const char *what, const char *why,
					 const char *text, int len, const AgKeyDigest *binding)
{
	AgStatementKey key;

	ag_statement_key(text, len, &key);
	key.hash = (int64) hash_combine64((uint64) key.hash, ag_key_digest_u64(binding));
	ag_key_add_bytes(&key.material, "bound", 5);
	ag_key_add_bytes(&key.material, binding->d, AG_KEY_DIGEST_LEN);
	gate_decide_keyed(kind, what, why, text, len, &key, 0);
}

/* ---------------------------------------------------------------------
 * Executor: writes, freezes, row limits
 * ---------------------------------------------------------------------
 */
static bool
plan_writes_non_exempt(PlannedStmt *ps)
{
	ListCell   *lc;

	if (ps->commandType == CMD_SELECT && !ps->hasModifyingCTE)
		return false;
	if (ps->resultRelations == NIL)
		return ps->commandType != CMD_SELECT;
	foreach(lc, ps->resultRelations)
	{
		RangeTblEntry *rte = rt_fetch(lfirst_int(lc), ps->rtable);

		if (!ag_relation_exempt(rte->relid))
			return true;
	}
	return false;
}

bool
ag_gate_plan_writes(PlannedStmt *ps)
{
	return plan_writes_non_exempt(ps);
}

/*
 * A new top-level statement: counters and approvals start afresh, unless
 * it continues the client's statement that ended the transaction (a
 * deferred trigger's statements at commit, hooks.c): then the rows count
 * on, toward that statement's limit and approval.  A blessing of the
 * plan's sequence calls is always the plan's own.
 */
void
ag_gate_top_statement(bool continues)
{
	frozen_seq_calls_blessed = false;
	if (continues)
		return;
	stmt_rows = 0;
	stmt_tables.n = 0;
	batch_tables.n = 0;
	n_approved = 0;
}

/*
 * An execution begins (ExecutorStart, or a ProcessUtility call when qd is
 * NULL): it gets a new number and becomes the current one, unless it is
 * part of the current one (a utility statement's subcommand).  Returns the
 * execution it interrupts, for ag_gate_exec_leave().
 */
uint64
ag_gate_exec_begin(QueryDesc *qd, bool part_of_current)
{
	uint64		saved = exec_current;
	int			i;

	if (part_of_current && exec_current != 0)
		return saved;
	exec_current = ++exec_counter;
	if (qd == NULL)
		return saved;
	for (i = 0; i < n_open_execs; i++)
		if (open_execs[i].qd == qd)
			break;
	if (i == n_open_execs)
	{
		if (n_open_execs == AG_MAX_OPEN_EXECS)
		{
			memmove(&open_execs[0], &open_execs[1], sizeof(AgOpenExec) * (AG_MAX_OPEN_EXECS - 1));
			n_open_execs--;
		}
		i = n_open_execs++;
		open_execs[i].qd = qd;
	}
	open_execs[i].id = exec_current;
	return saved;
}

/* An open executor run goes on (ExecutorRun, ExecutorFinish). */
uint64
ag_gate_exec_resume(QueryDesc *qd)
{
	uint64		saved = exec_current;
	int			i;

	for (i = n_open_execs - 1; i >= 0; i--)
		if (open_execs[i].qd == qd)
		{
			exec_current = open_execs[i].id;
			return saved;
		}
	exec_current = ++exec_counter;
	return saved;
}

/* The interrupted execution goes on. */
void
ag_gate_exec_leave(uint64 saved)
{
	exec_current = saved;
}

/* ExecutorEnd: the executor run is over; its number is not reused. */
void
ag_gate_exec_end(QueryDesc *qd)
{
	int			i;

	for (i = n_open_execs - 1; i >= 0; i--)
		if (open_execs[i].qd == qd)
		{
			memmove(&open_execs[i], &open_execs[i + 1], sizeof(AgOpenExec) * (n_open_execs - i - 1));
			n_open_execs--;
			return;
		}
}

/* After an abort of the top-level transaction no executor run is open. */
void
ag_gate_exec_reset(void)
{
	n_open_execs = 0;
}

/* Any statement of a judged session: triggers must stay on. */
void
ag_gate_session_check(const char *text, int len)
{
	if (SessionReplicationRole != SESSION_REPLICATION_ROLE_ORIGIN)
		gate_decide(AG_REFUSAL_GUARD, "statement",
					"session_replication_role is not \"origin\", which switches off triggers.",
					text, len, 0);
}

/*
 * A write to an inheritance child of a protected table that is not
 * protected itself: refused (YG004), on record, before it writes.  Its
 * rows show in the protected table, and the parent's UPDATE, DELETE and
 * MERGE write them with the parent's privileges, but no trigger of the
 * guard fires there: no stamps, no events, nothing for a rollback (red
 * team 23a, F1).  protect() covers the children a table has
 * (40_protect.sql); this catches the ones it does not: a child a human
 * added later (CREATE TABLE ... INHERITS, ALTER TABLE ... INHERIT, which
 * the agent itself may not do: structure.c) or unprotected on its own.
 * Whatever the path (the parent without ONLY, the child itself, a
 * writing CTE, a cursor, a function, COPY FROM): the statement's result
 * relations, or COPY's table.  Cheap on the hot path: a protected
 * relation (the question the gates ask anyway) is never looked further
 * at, nor is a temporary one (scratch, seen by its session only); any
 * other costs one index scan of pg_inherits (scope.c).
 */
static void
refuse_unprotected_child(const char *what, Oid relid, const char *text, int len)
{
	Oid			ancestor;
	char	   *child;
	char	   *parent;
	char	   *why;
	int64		id;

	if (!OidIsValid(relid) || get_rel_persistence(relid) == RELPERSISTENCE_TEMP ||
		ag_relation_protected(relid))
		return;
	ancestor = ag_relation_protected_ancestor(relid);
	if (!OidIsValid(ancestor))
		return;
	child = ag_qualified_relname(relid);
	parent = ag_qualified_relname(ancestor);
	why = psprintf("Table %s is an inheritance child of protected table %s, and its rows show there, but no protection covers it: what this %s writes to it would carry no stamps, leave no events and be beyond agent_guard.rollback_run().",
				   child, parent, what);
	/* on record like the gates' refusals: the error ends this transaction */
	id = ag_refusal_record(why, text, len);
	ereport(ERROR,
			(errcode(ERRCODE_AG_GUARD_PROTECTED),
			 errmsg("%s refused: inheritance child %s of protected table %s is not protected (request " INT64_FORMAT ")",
					what, child, parent, id),
			 errdetail("%s", why),
			 errhint("Ask a human to protect the child: SELECT agent_guard.protect(%s).",
					 quote_literal_cstr(child))));
}

/*
 * A write to a table on the guard's list of protected tables whose capture
 * trigger is gone (scope.c, ag_relation_guard_lost()), asked after
 * refuse_unprotected_child() (an inheritance child of a protected table has
 * the stamp columns too, and is that check's): refused, YG009 (the
 * guard's state is damaged), on record, before it writes.  Past this, the
 * write would carry no stamps, leave no event and delete for good (red
 * team 31, F7: the triggers tied to an extension that a human then
 * dropped).  Protecting the table again (unprotect(), then protect())
 * puts the triggers back.
 */
static void
refuse_unguarded(const char *what, Oid relid, const char *text, int len)
{
	Oid			listed = ag_relation_guard_lost(relid);
	char	   *rel;
	char	   *why;
	int64		id;

	if (!OidIsValid(listed))
		return;
	rel = ag_qualified_relname(relid);
	why = psprintf("Table %s is protected (agent_guard.protected lists %s), but the guard's capture trigger is missing from it: what this %s writes would carry no stamps, leave no events and be beyond agent_guard.rollback_run().",
				   rel, ag_qualified_relname(listed), what);
	id = ag_refusal_record(why, text, len);
	ereport(ERROR,
			(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
			 errmsg("%s refused: the guard's triggers are missing from protected table %s (request " INT64_FORMAT ")",
					what, rel, id),
			 errdetail("%s", why),
			 errhint("Ask a human to protect the table again: SELECT agent_guard.unprotect(%s); SELECT agent_guard.protect(%s);",
					 quote_literal_cstr(ag_qualified_relname(listed)),
					 quote_literal_cstr(ag_qualified_relname(listed)))));
}

/*
 * A DELETE or UPDATE (or a MERGE's action) that reaches a soft-delete table
 * through a parent that is not one.  A DELETE (red team 36, F01): the
 * conversion to a soft delete follows the statement's target, so the rows
 * of a child protected on its own with soft delete would be deleted for
 * good; the capture trigger's backstop stopped them, with nothing on
 * record.  An UPDATE (red team 37, F16): PostgreSQL applies the row
 * security of the statement's target only, so the child's policy that
 * hides its soft-deleted rows does not, and the agent would update rows it
 * deleted.  Refused here, on record, before anything is written.  Where
 * the statement's own target is a soft-delete table nothing is asked: its
 * DELETE was converted, or is a foreign key's cascade the planner left a
 * real delete on purpose (softdelete.c), and its policy covers its
 * partitions and children alike.
 */
static void
refuse_soft_child_write(PlannedStmt *ps, Plan *plan, const char *what, const char *text, int len)
{
	ModifyTable *mt;
	ListCell   *lc;
	int			i = 0;
	Oid			target;

	if (plan == NULL || !IsA(plan, ModifyTable))
		return;
	mt = (ModifyTable *) plan;
	if (mt->operation != CMD_DELETE && mt->operation != CMD_UPDATE && mt->operation != CMD_MERGE)
		return;
	/* a soft-delete target decided for its partitions and children too */
	target = rt_fetch(mt->nominalRelation, ps->rtable)->relid;
	if (ag_softdelete_attno(target) != InvalidAttrNumber)
		return;
	foreach(lc, mt->resultRelations)
	{
		Index		rti = lfirst_int(lc);
		Oid			relid = rt_fetch(rti, ps->rtable)->relid;
		bool		deletes = (mt->operation == CMD_DELETE);
		bool		updates = (mt->operation == CMD_UPDATE);
		char	   *child;
		char	   *parent;
		char	   *why;
		int64		id;

		if (mt->operation == CMD_MERGE && mt->mergeActionLists != NIL)
		{
			ListCell   *la;

			foreach(la, (List *) list_nth(mt->mergeActionLists, i))
			{
				deletes |= ((MergeAction *) lfirst(la))->commandType == CMD_DELETE;
				updates |= ((MergeAction *) lfirst(la))->commandType == CMD_UPDATE;
			}
		}
		i++;
		if ((!deletes && !updates) || relid == target || ag_softdelete_attno(relid) == InvalidAttrNumber)
			continue;
		child = ag_qualified_relname(relid);
		parent = ag_qualified_relname(target);
		if (deletes)
		{
			why = psprintf("Table %s is protected with soft delete on its own, and this %s reaches its rows through %s, which is not: an agent's DELETE becomes a soft delete only where its target is a soft-delete table, so these rows would be deleted for good.",
						   child, what, parent);
			id = ag_refusal_record(why, text, len);
			ereport(ERROR,
					(errcode(ERRCODE_AG_GUARD_PROTECTED),
					 errmsg("%s refused: it deletes rows of soft-delete table %s through %s (request " INT64_FORMAT ")",
							what, child, parent, id),
					 errdetail("%s", why),
					 errhint("Delete from %s itself, whose rows are then soft-deleted, or from ONLY %s.",
							 child, parent)));
		}
		why = psprintf("Table %s is protected with soft delete on its own, and this %s reaches its rows through %s, which is not: PostgreSQL applies the row security of the statement's target only, so the policy that hides the soft-deleted rows of %s does not apply, and rows the agent deleted would be updated.",
					   child, what, parent, child);
		id = ag_refusal_record(why, text, len);
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_PROTECTED),
				 errmsg("%s refused: it updates rows of soft-delete table %s through %s (request " INT64_FORMAT ")",
						what, child, parent, id),
				 errdetail("%s", why),
				 errhint("Update %s itself, or ONLY %s.", child, parent)));
	}
}

/* A judged plan is about to run: the guard's tables, freezes, trips. */
void
ag_gate_executor_start(QueryDesc *qd, const char *text, int len)
{
	PlannedStmt *ps = qd->plannedstmt;
	const char *what = ag_command_name(ps->commandType, "statement");
	ListCell   *lc;

	if (!plan_writes_non_exempt(ps))
		return;

	/* the guard's own tables: refused whatever the statement (no grant helps) */
	foreach(lc, ps->resultRelations)
	{
		RangeTblEntry *rte = rt_fetch(lfirst_int(lc), ps->rtable);

		if (ag_in_guard_schema(rte->relid))
			gate_decide(AG_REFUSAL_GUARD, what,
						psprintf("%s belongs to agent_guard; its record is written by the guard only.",
								 ag_relname_or(rte->relid, "?")),
						text, len, 0);
	}
	/* the rows of a protected table that no protection covers */
	foreach(lc, ps->resultRelations)
		refuse_unprotected_child(what, rt_fetch(lfirst_int(lc), ps->rtable)->relid, text, len);
	/* a protected table that lost its guard's triggers (a child: above) */
	foreach(lc, ps->resultRelations)
		refuse_unguarded(what, rt_fetch(lfirst_int(lc), ps->rtable)->relid, text, len);
	/* the rows of a soft-delete child reached through its parent's DELETE or UPDATE */
	refuse_soft_child_write(ps, ps->planTree, what, text, len);
	foreach(lc, ps->subplans)
		refuse_soft_child_write(ps, (Plan *) lfirst(lc), what, text, len);

	load_state();
	if (frozen_all || frozen_me)
		gate_decide(AG_REFUSAL_FROZEN, what,
					psprintf("Writes of %s are frozen: %s",
							 frozen_me ? "this agent" : "all agents",
							 frozen_me ? frozen_me : frozen_all),
					text, len, 0);
	if (tripped_me || tripped_local)
		gate_decide(AG_REFUSAL_TRIPPED, what,
					psprintf("The run wrote more than agent_guard.max_rows_per_run (%d) rows.", max_rows_per_run),
					text, len, run_rows);
}

/*
 * A human's preview: the rows a plan wrote are counted, no gates.
 * Returns true when qd was such a write (nothing more to do for it).
 */
bool
ag_gate_preview_count(QueryDesc *qd, uint64 n)
{
	RangeTblEntry *rte;

	if (!ag_preview_active() || ag_owner_running() || qd->estate == NULL ||
		qd->plannedstmt->commandType == CMD_SELECT ||
		qd->plannedstmt->resultRelations == NIL || superuser())
		return false;
	rte = rt_fetch(linitial_int(qd->plannedstmt->resultRelations), qd->plannedstmt->rtable);
	ag_preview_add(quote_qualified_identifier(get_namespace_name(get_rel_namespace(rte->relid)),
											  get_rel_name(rte->relid)),
				   ag_command_name(qd->plannedstmt->commandType, "statement"), (int64) n, "counted", NULL);
	return true;
}

/*
 * The table a plan's own ModifyTable names (its es_processed rows): a
 * partitioned table or an inheritance parent for the rows of its
 * partitions and children.
 */
static Oid
plan_target(PlannedStmt *ps)
{
	if (ps->planTree != NULL && IsA(ps->planTree, ModifyTable))
		return rt_fetch(((ModifyTable *) ps->planTree)->nominalRelation, ps->rtable)->relid;
	if (ps->resultRelations != NIL)
		return rt_fetch(linitial_int(ps->resultRelations), ps->rtable)->relid;
	return InvalidOid;
}

/*
 * A judged plan ran and wrote n rows: count them.  Returns false when the
 * plan writes nothing that counts (no limits to check).
 */
bool
ag_gate_count_rows(QueryDesc *qd, uint64 n)
{
	if (qd->estate == NULL || qd->plannedstmt->commandType == CMD_SELECT ||
		!plan_writes_non_exempt(qd->plannedstmt) ||
		ag_writers_top_writes_scratch(qd->plannedstmt))
		return false;
	stmt_rows += n;
	batch_tables.n = 0;
	if (n > 0 && count_per_table())
		count_table_rows(plan_target(qd->plannedstmt), n);
	/* a preview's rows are rolled back: they never count for the run */
	if (ag_preview_active())
		run_rows += n;
	else
		run_rows = ag_run_rows_add(ag_current_agent(), ag_current_run(true), (int64) n);
	return true;
}

/* A table as the reasons name it; a temporary one as its session does (pg_temp_N varies). */
static char *
reason_relname(Oid relid)
{
	if (!OidIsValid(relid))
		return pstrdup("?");
	return isAnyTempNamespace(get_rel_namespace(relid)) ?
		quote_qualified_identifier("pg_temp", get_rel_name(relid)) :
		ag_qualified_relname(relid);
}

/* "N rows" */
static void
append_rows(StringInfo buf, int64 n)
{
	appendStringInfo(buf, INT64_FORMAT " row%s", n, n == 1 ? "" : "s");
}

/*
 * The reason of the statement row limit.  It names, schema-qualified (the
 * text alone does not say which table an unqualified name is: red team 13,
 * F6), each table the statement wrote with its rows, which its approval
 * caps (red team 17a, F3), then the other tables the plan names: the
 * tables it writes, named by its ModifyTable nodes (the statement's and
 * its writing CTEs'), with 0 rows, and the agent's scratch ones as not
 * counted.
 */
static char *
row_limit_reason(uint64 total, const AgTableRows *tables, PlannedStmt *ps)
{
	StringInfoData buf;
	List	   *targets = NIL;
	ListCell   *lc;
	int			i;
	int64		further = 0;
	bool		any = false;

	initStringInfo(&buf);
	appendStringInfo(&buf, "It wrote " UINT64_FORMAT " rows, more than agent_guard.max_rows_per_statement (%d)",
					 total, max_rows_per_statement);
	if (ps != NULL)
	{
		if (ps->planTree != NULL && IsA(ps->planTree, ModifyTable))
			targets = lappend_oid(targets, plan_target(ps));
		foreach(lc, ps->subplans)
		{
			Plan	   *sub = lfirst(lc);

			if (sub != NULL && IsA(sub, ModifyTable))
				targets = list_append_unique_oid(targets,
												 rt_fetch(((ModifyTable *) sub)->nominalRelation, ps->rtable)->relid);
		}
	}
	for (i = 0; i < tables->n; i++)
	{
		if (!OidIsValid(tables->relid[i]))
		{
			further = tables->rows[i];
			continue;
		}
		appendStringInfo(&buf, "%s%s (", any ? ", " : "; it writes ", reason_relname(tables->relid[i]));
		append_rows(&buf, tables->rows[i]);
		appendStringInfoChar(&buf, ')');
		any = true;
	}
	foreach(lc, targets)
	{
		Oid			relid = lfirst_oid(lc);

		if (!OidIsValid(relid))
			continue;
		for (i = 0; i < tables->n; i++)
			if (tables->relid[i] == relid)
				break;
		if (i < tables->n)
			continue;
		appendStringInfo(&buf, "%s%s (%s)", any ? ", " : "; it writes ", reason_relname(relid),
						 ag_relation_exempt(relid) ? "not counted: the agent's own" : "0 rows");
		any = true;
	}
	if (further > 0)
	{
		appendStringInfo(&buf, "%sfurther tables (", any ? ", " : "; it writes ");
		append_rows(&buf, further);
		appendStringInfoString(&buf, " together)");
		any = true;
	}
	if (any)
		appendStringInfoString(&buf, "; an approval holds for at most these rows in each table");
	appendStringInfoChar(&buf, '.');
	list_free(targets);
	return buf.data;
}

/* ... then, after the policies' rate window, the row limits. */
void
ag_gate_row_limits(QueryDesc *qd, uint64 n, const char *text, int len)
{
	const char *what = ag_command_name(qd->plannedstmt->commandType, "statement");

	if (ag_preview_active() && qd->plannedstmt->resultRelations != NIL)
	{
		RangeTblEntry *rte = rt_fetch(linitial_int(qd->plannedstmt->resultRelations),
									  qd->plannedstmt->rtable);
		char	   *nsp = get_namespace_name(get_rel_namespace(rte->relid));
		char	   *rel = get_rel_name(rte->relid);

		ag_preview_add(rel ? quote_qualified_identifier(nsp, rel) : NULL, what, (int64) n, "counted", NULL);
	}

	/*
	 * An approved row limit holds for the rows its request said, in all
	 * and in each table (red team 17a, F3): past them the approval is
	 * dropped and the statement decided again, a new request with the new
	 * counts unless another approval says as many.
	 */
	for (int i = 0; i < n_approved; i++)
	{
		AgApprovedExec *a = &approved_execs[i];
		bool		over;
		int			j;

		if (a->exec != exec_current || a->cap < 0)
			continue;
		a->written += n;
		over = a->written > (uint64) a->cap;
		for (j = 0; j < batch_tables.n; j++)
			ag_table_rows_add(&a->written_tables, batch_tables.relid[j], batch_tables.rows[j]);
		for (j = 0; j < a->written_tables.n && !over; j++)
			over = a->written_tables.rows[j] > ag_table_rows_of(&a->caps, a->written_tables.relid[j]);
		if (over)
		{
			uint64		total = a->written;

			decide_tables = a->written_tables;
			n_approved--;
			memmove(&approved_execs[i], &approved_execs[i + 1], sizeof(AgApprovedExec) * (n_approved - i));
			stmt_rows = 0;
			stmt_tables.n = 0;
			decide_rows = (int64) total;
			PG_TRY();
			{
				gate_decide(AG_REFUSAL_APPROVAL, what,
							row_limit_reason(total, &decide_tables, qd->plannedstmt),
							text, len, (int64) total);
			}
			PG_FINALLY();
			{
				decide_rows = -1;
			}
			PG_END_TRY();
		}
		break;
	}

	if (max_rows_per_statement >= 0 && stmt_rows > (uint64) max_rows_per_statement)
	{
		uint64		total = stmt_rows;	/* its nested statements' and CTEs' too */

		decide_tables = stmt_tables;
		stmt_rows = 0;			/* an approved rerun starts counting afresh */
		stmt_tables.n = 0;
		decide_rows = (int64) total;
		PG_TRY();
		{
			gate_decide(AG_REFUSAL_APPROVAL, what,
						row_limit_reason(total, &decide_tables, qd->plannedstmt),
						text, len, (int64) total);
		}
		PG_FINALLY();
		{
			decide_rows = -1;
		}
		PG_END_TRY();
	}
	if (max_rows_per_run >= 0 && run_rows > (uint64) max_rows_per_run && !ag_preview_active())
		gate_decide(AG_REFUSAL_TRIPPED, what,
					psprintf("The run has written " UINT64_FORMAT " rows, more than agent_guard.max_rows_per_run (%d).",
							 run_rows, max_rows_per_run),
					text, len, (int64) run_rows);
	batch_tables.n = 0;
}

/*
 * Planner: a DELETE or UPDATE without WHERE (a property of the query, gone
 * from the plan once row security adds its quals) gets one more qual, a
 * call of agent_guard._gate_unqualified(op, relation).  The function is
 * stable with constant arguments, so the plan evaluates it once, at the
 * start of each execution, as the executing user: the gate travels with
 * the plan, into prepared statements and PL/pgSQL's cached plans too, and
 * an approval is consumed at the moment the statement really runs.
 */
static bool
quals_are_empty(Query *q)
{
	Node	   *quals = q->jointree->quals;

	/* WHERE true, WHERE 1 = 1 ...: no WHERE clause either */
	if (quals != NULL)
		quals = eval_const_expressions(NULL, copyObject(quals));
	if (quals == NULL)
		return true;
	if (IsA(quals, List) && list_length((List *) quals) == 1)
		quals = linitial((List *) quals);
	return IsA(quals, Const) && !((Const *) quals)->constisnull &&
		DatumGetBool(((Const *) quals)->constvalue);
}

/*
 * Does a qual of the query mention the target relation?  DELETE ... USING
 * and UPDATE ... FROM join other relations: a WHERE clause (or a join's ON)
 * that names only those restricts nothing of the target, and every row of
 * it is written (DELETE FROM t USING (SELECT 1) x).  Vars of the target are
 * looked for in the WHERE clause, the fromlist's join conditions and their
 * sublinks, at any depth.
 */
typedef struct TargetRefs
{
	Index		target;
	int			sublevels_up;
} TargetRefs;

static bool
mentions_target_walker(Node *node, TargetRefs *t)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
		return ((Var *) node)->varno == (int) t->target &&
			((Var *) node)->varlevelsup == (Index) t->sublevels_up;
	if (IsA(node, CurrentOfExpr))
		return ((CurrentOfExpr *) node)->cvarno == t->target && t->sublevels_up == 0;
	if (IsA(node, Query))
	{
		bool		found;

		t->sublevels_up++;
		found = query_tree_walker((Query *) node, mentions_target_walker, (void *) t, 0);
		t->sublevels_up--;
		return found;
	}
	return expression_tree_walker(node, mentions_target_walker, (void *) t);
}

static bool
target_unrestricted(Query *q)
{
	TargetRefs	t = {(Index) q->resultRelation, 0};

	/* no WHERE at all, or WHERE true, WHERE 1 = 1 ... */
	if (list_length(q->jointree->fromlist) <= 1 && quals_are_empty(q))
		return true;
	/* the WHERE clause and the join conditions of USING / FROM */
	return !mentions_target_walker((Node *) q->jointree, &t);
}

#ifdef AG_HAVE_MERGE
/*
 * Does a MERGE condition (the ON condition, an action's AND condition)
 * restrict the target's rows: it names the target and is not constant
 * (folded: WHEN MATCHED AND (t.id = 1 OR true) restricts nothing)?  A
 * constant false or null one restricts them all away.
 */
static bool
merge_qual_restricts(Node *qual, TargetRefs *t)
{
	if (qual == NULL)
		return false;
	qual = eval_const_expressions(NULL, copyObject(qual));
	if (qual == NULL)
		return false;
	if (IsA(qual, Const))
		return ((Const *) qual)->constisnull || !DatumGetBool(((Const *) qual)->constvalue);
	return mentions_target_walker(qual, t);
}

/*
 * MERGE ... ON true WHEN MATCHED THEN DELETE touches every row as surely:
 * a WHEN MATCHED action that updates or deletes, where neither the join
 * condition nor the action's own condition mentions the target.
 *
 * A WHEN NOT MATCHED BY SOURCE action (PostgreSQL 17) acts on the target's
 * rows that no source row matches: the ON condition selects the rows it
 * does not act on, so whatever ON says (false, a condition on the source
 * only, or one on the target, which an empty source leaves unmet by every
 * row) it restricts nothing of such an action.  Only the action's own AND
 * condition can (red team 33, F3: MERGE ... ON false WHEN NOT MATCHED BY
 * SOURCE THEN DELETE deleted every row unapproved).
 */
static bool
merge_unrestricted(Query *q)
{
	TargetRefs	t = {(Index) q->resultRelation, 0};
	bool		on_restricts;
	ListCell   *lc;

	on_restricts = mentions_target_walker(eval_const_expressions(NULL, copyObject((Node *) q->jointree)), &t) ||
		merge_qual_restricts(AG_MERGE_JOIN_CONDITION(q), &t);
	foreach(lc, q->mergeActionList)
	{
		MergeAction *a = lfirst_node(MergeAction, lc);

		if (a->commandType != CMD_UPDATE && a->commandType != CMD_DELETE)
			continue;
		if (AG_MERGE_ACTION_BY_SOURCE(a))
		{
			if (!merge_qual_restricts(a->qual, &t))
				return true;
		}
		else if (AG_MERGE_ACTION_MATCHED(a) && !on_restricts &&
				 !merge_qual_restricts(a->qual, &t))
			return true;
	}
	return false;
}
#endif

/* DELETE, UPDATE or MERGE that touches every row of its target (agentgate.c) */
bool
ag_gate_query_unrestricted(Query *q)
{
	if (q->resultRelation <= 0 || q->jointree == NULL)
		return false;
	if (q->commandType == CMD_DELETE || q->commandType == CMD_UPDATE)
		return target_unrestricted(q);
#ifdef AG_HAVE_MERGE
	if (q->commandType == CMD_MERGE)
		return merge_unrestricted(q);
#endif
	return false;
}

static void
add_unqualified_gate(Query *q, Oid fn)
{
	ListCell   *lc;

	foreach(lc, q->cteList)
	{
		CommonTableExpr *cte = lfirst_node(CommonTableExpr, lc);

		if (cte->ctequery && IsA(cte->ctequery, Query))
			add_unqualified_gate((Query *) cte->ctequery, fn);
	}
	if (q->resultRelation > 0 && q->jointree != NULL &&
		(((q->commandType == CMD_DELETE || q->commandType == CMD_UPDATE) && target_unrestricted(q))
#ifdef AG_HAVE_MERGE
		 || (q->commandType == CMD_MERGE && merge_unrestricted(q))
#endif
		 ))
	{
		RangeTblEntry *rte = rt_fetch(q->resultRelation, q->rtable);
		Const	   *op;
		Const	   *rel;
		Expr	   *call;

		if (rte->inh ? ag_relation_tree_exempt(rte->relid) : ag_relation_exempt(rte->relid))
			return;
		op = makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
					   CStringGetTextDatum(q->commandType == CMD_DELETE ? "DELETE" :
										   q->commandType == CMD_UPDATE ? "UPDATE" : "MERGE"),
					   false, false);
		rel = makeConst(OIDOID, -1, InvalidOid, sizeof(Oid), ObjectIdGetDatum(rte->relid),
						false, true);
		call = (Expr *) makeFuncExpr(fn, BOOLOID, list_make2(op, rel),
									 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
		q->jointree->quals = q->jointree->quals == NULL ? (Node *) call :
			(Node *) make_andclause(list_make2(q->jointree->quals, call));
	}
}

void
ag_gate_plan_query(Query *q)
{
	Oid			argtypes[2] = {TEXTOID, OIDOID};
	Oid			fn;

	/* an agent's statement, in its session or run by its code in another */
	if (!ag_judging() && !ag_agentcode_running())
		return;
	fn = LookupFuncName(lappend(list_make1(makeString(AG_SCHEMA)), makeString("_gate_unqualified")),
						2, argtypes, true);
	if (!OidIsValid(fn))
		return;
	add_unqualified_gate(q, fn);
}

/*
 * A call of _gate_unqualified() that no write evaluates: the execution
 * running it is a plain SELECT (SELECT agent_guard._gate_unqualified(...)
 * typed by the agent).  The planner puts the call only into UPDATE and
 * DELETE (also in a writing WITH), so such a call gates nothing, and a
 * request for it, naming any relation, would only be noise in the
 * humans' queue (red team 12, observations).  The function stays
 * executable by PUBLIC: the planner's call runs as the agent.
 */
static bool
gate_call_in_select(void)
{
	QueryDesc  *qd = current_execution();

	return qd != NULL && qd->plannedstmt != NULL &&
		qd->plannedstmt->commandType == CMD_SELECT && !qd->plannedstmt->hasModifyingCTE;
}

/* SQL: agent_guard._gate_unqualified(operation text, relation oid) returns boolean */
PG_FUNCTION_INFO_V1(ag_sql_gate_unqualified);
Datum
ag_sql_gate_unqualified(PG_FUNCTION_ARGS)
{
	char	   *op = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			relid = PG_GETARG_OID(1);
	const char *text;
	int			len;

	if (gate_call_in_select())
		PG_RETURN_BOOL(true);
	if (ag_judging() && !ag_relation_tree_exempt(relid))
	{
		(void) ag_current_statement(&text, &len);
		gate_decide(AG_REFUSAL_APPROVAL, op,
					psprintf("No WHERE clause restricts the rows of %s, so it touches every one.",
							 ag_qualified_relname(relid)),
					text, len, 0);
	}
	else if (!ag_judging() && ag_agentcode_running() && !ag_relation_tree_exempt(relid))
	{
		/* an agent's code in a human's session: the statement evaluating this */
		QueryDesc  *qd = current_execution();

		if (qd != NULL)
			ag_query_text(qd, &text, &len);
		else
			(void) ag_current_statement(&text, &len);
		ag_agentgate_decide(AG_REFUSAL_APPROVAL, op,
							psprintf("No WHERE clause restricts the rows of %s, so it touches every one.",
									 ag_qualified_relname(relid)),
							text, len);
	}
	PG_RETURN_BOOL(true);
}

/* ---------------------------------------------------------------------
 * Writes that are not DML on a table (writers.c finds them)
 * ---------------------------------------------------------------------
 */


static void
refuse_frozen_call(Oid funcid, Oid seq, const char *text, int len)
{
	char	   *what = psprintf("%s()", ag_writer_name(funcid));

	gate_decide(AG_REFUSAL_FROZEN, what,
				psprintf("Writes of %s are frozen: %s (%s %s.)",
						 frozen_me ? "this agent" : "all agents",
						 frozen_me ? frozen_me : frozen_all, what,
						 ag_writer_kind(funcid) == AG_FN_LARGE_OBJECT ? "writes large objects" :
						 ag_writer_kind(funcid) == AG_FN_WAL_MESSAGE ? "writes a message to the WAL for logical decoding" :
						 OidIsValid(seq) ? psprintf("would change sequence %s", ag_qualified_relname(seq)) :
						 "would change a sequence that is not temporary"),
				text, len, 0);
}

/*
 * A judged plan is about to start: during a freeze, its calls of writing
 * functions (large objects, sequences that are not temporary) and its row
 * locks on relations that are not temporary are refused like its writes.  Returns true when the plan calls nextval/setval on
 * temporary sequences only: the backstop lets those calls pass while the
 * plan starts (ag_gate_frozen_writers_done ends that).
 */
void
ag_gate_frozen_writers(PlannedStmt *ps, const char *text, int len)
{
	AgWriterScan ws = {InvalidOid, InvalidOid, false, true};

	Oid			locked;

	load_state();
	if (!frozen_all && !frozen_me)
		return;
	ag_writers_scan_plan(ps, &ws);
	if (OidIsValid(ws.bad_fn))
		refuse_frozen_call(ws.bad_fn, ws.bad_seq, text, len);
	if (ps->rowMarks != NIL && OidIsValid(locked = ag_writers_row_locked(ps, true)))
		gate_decide(AG_REFUSAL_FROZEN, "SELECT ... FOR UPDATE",
					psprintf("Writes of %s are frozen: %s (it locks rows of %s.)",
							 frozen_me ? "this agent" : "all agents",
							 frozen_me ? frozen_me : frozen_all, ag_qualified_relname(locked)),
					text, len, 0);
	frozen_seq_calls_blessed = ws.temp_seq_calls;
}

/*
 * A plan's start may start others (the guard's own queries, and those the
 * backstop's load_state() runs): the blessing is the plan's own, so each
 * executor start keeps the one it found (ag_gate_frozen_writers_save),
 * starts unblessed, and puts it back when its plan's calls are set up.  Cleared by a nested
 * start, the outer plan's later calls of temporary sequences were refused
 * during a freeze whenever the freezes had to be read again in between
 * (the sealer had recorded a refusal: regress side_writes, now and then).
 */
bool
ag_gate_frozen_writers_save(void)
{
	bool		saved = frozen_seq_calls_blessed;

	/* a plan starts unblessed: an outer plan's blessing is not its own */
	frozen_seq_calls_blessed = false;
	return saved;
}

void
ag_gate_frozen_writers_done(bool saved)
{
	frozen_seq_calls_blessed = saved;
}

/*
 * The backstop (object access, OAT_FUNCTION_EXECUTE): a writing function
 * set up outside a walked plan (PL/pgSQL simple expressions, fast-path
 * calls) during a freeze.
 */
void
ag_gate_frozen_function(Oid funcid)
{
	AgWriterKind k = ag_writer_kind(funcid);
	const char *text;
	int			len;

	if (k == AG_FN_OTHER || !ag_judging())
		return;
	/* blessed by the walk of this plan, under the freeze it loaded */
	if (k == AG_FN_SEQUENCE && frozen_seq_calls_blessed)
		return;
	load_state();
	if (!frozen_all && !frozen_me)
		return;
	ag_current_statement(&text, &len);
	refuse_frozen_call(funcid, InvalidOid, text, len);
}

/*
 * An agent's preview rolls back what its statement did, but not what
 * PostgreSQL never rolls back (red team 6, finding 4).  A statement that
 * needs approval goes on in a preview, to be counted, so a setval() of a
 * protected table's sequence would set it for good, unapproved; a
 * session-level advisory lock, or its release, outlives the preview; a WAL
 * message reaches every logical decoding consumer; lo_export() writes a
 * server file.  In an agent's preview these are refused outright (YG004,
 * on record): the preview cannot show them without making them, and an
 * approval is never consumed in a preview.  setval() is refused on every
 * sequence, temporary ones included: a preview changes nothing.
 * nextval() stays allowed: it is allowed outside a preview too, where a
 * refused statement has already taken its numbers, and PostgreSQL
 * promises gaps, never reuse.  NOTIFY, large objects, GUCs and
 * transaction-level advisory locks roll back with the preview.
 */
static const char *
preview_escape(Oid funcid)
{
	if (ag_writers_session_lock(funcid))
		return "a session-level advisory lock, or its release, outlives the preview's rollback";
	if (ag_writer_kind(funcid) == AG_FN_WAL_MESSAGE)
		return "a WAL message reaches logical decoding consumers whatever the preview rolls back";
	if (funcid == F_LO_EXPORT)
		return "the server file it writes outlives the preview's rollback";
	if (funcid == F_SETVAL_REGCLASS_INT8 || funcid == F_SETVAL_REGCLASS_INT8_BOOL ||
		ag_writers_is_setval_wrapper(funcid))
		return "a sequence's new value outlives the preview's rollback";
	return NULL;
}

static void
refuse_in_preview(Oid funcid, const char *why)
{
	const char *text;
	int			len;

	(void) ag_current_statement(&text, &len);
	gate_decide(AG_REFUSAL_GUARD, psprintf("%s()", ag_writer_name(funcid)),
				psprintf("agent_guard.preview() rolls back what it runs, but %s.", why),
				text, len, 0);
}

/* Object access: a call set up in an agent's preview (OAT_FUNCTION_EXECUTE). */
void
ag_gate_preview_function(Oid funcid)
{
	const char *why;

	if (!ag_preview_active() || (why = preview_escape(funcid)) == NULL || !ag_judging())
		return;
	refuse_in_preview(funcid, why);
}

/*
 * A permanent sequence the agent's role does not own and this session did
 * not create (red team 31, F3): humans' code may draw a protected table's
 * keys from it where no catalog shows it (a trigger's nextval(), an
 * application's), so its setval() needs approval too.  The agent's own
 * sequences, temporary ones and those of its scratch stay free, and so
 * does nextval().
 */
static bool
setval_of_others(Oid seq)
{
	if (!OidIsValid(seq) || !SearchSysCacheExists1(RELOID, ObjectIdGetDatum(seq)))
		return false;
	if (get_rel_persistence(seq) == RELPERSISTENCE_TEMP || ag_object_created_here(seq))
		return false;
	return !AG_REL_OWNER(seq, GetUserId());
}

/*
 * setval() on a sequence that numbers a protected table needs a human's
 * approval, like ALTER SEQUENCE of it (structure.c): set back, every later
 * insert of a human collides with a row that exists.  An agent session's
 * plans call setval() through agent_guard._setval() (writers.c), which
 * decides here on the sequence it is given, bound to it: the approval of
 * "SELECT setval($1, 1)" for one sequence does not set another.
 */
PG_FUNCTION_INFO_V1(ag_sql_setval);
Datum
ag_sql_setval(PG_FUNCTION_ARGS)
{
	Oid			seq = PG_GETARG_OID(0);

	if (ag_judging())
	{
		Oid			user = ag_structure_sequence_user(seq);
		const char *text;
		int			len;

		/* also when its call was set up before the preview began */
		if (ag_preview_active())
			refuse_in_preview(F_SETVAL_REGCLASS_INT8, preview_escape(F_SETVAL_REGCLASS_INT8));
		(void) ag_current_statement(&text, &len);
		/*
		 * Planted, it counts as setval for the freezes and policies when
		 * its call is set up (writers.c knows it); called by name before
		 * any plan of this session planted it, it would not.
		 */
		if (!ag_writers_is_setval_wrapper(fcinfo->flinfo->fn_oid))
			gate_decide(AG_REFUSAL_GUARD, "agent_guard._setval()",
						"agent_guard._setval() is planted by agent_guard in place of setval(); it is not called by name.",
						text, len, 0);
		{
			/* a tagged transaction's setval() of the humans' older sequence */
			char	   *older = ag_tagshadow_older_setval(seq);

			if (older != NULL)
				gate_decide(AG_REFUSAL_GUARD, "setval()", older, text, len, 0);
		}
		if (OidIsValid(user) || setval_of_others(seq))
		{
			StringInfoData m;
			AgKeyDigest binding;

			/* the approval is for this sequence only */
			initStringInfo(&m);
			ag_key_add_bytes(&m, "setval", 6);
			ag_key_add_int(&m, (uint64) seq);
			ag_key_digest(&m, &binding);
			pfree(m.data);
			ag_gate_decide_bound(AG_REFUSAL_APPROVAL, "setval()",
								 OidIsValid(user) ?
								 psprintf("Sequence %s numbers the rows of protected table %s; set, humans' inserts could fail or collide.",
										  ag_qualified_relname(seq), ag_qualified_relname(user)) :
								 psprintf("Sequence %s belongs to another role and was not created by this session: humans' code may draw keys from it (a trigger, an application's nextval()); set, their inserts could fail or collide.",
										  ag_qualified_relname(seq)),
								 text, len, &binding);
		}
	}
	if (PG_NARGS() == 3)
		return DirectFunctionCall3(setval3_oid, PG_GETARG_DATUM(0),
								   PG_GETARG_DATUM(1), PG_GETARG_DATUM(2));
	return DirectFunctionCall2(setval_oid, PG_GETARG_DATUM(0), PG_GETARG_DATUM(1));
}

/*
 * Object access: a session-level advisory lock (or its release) taken in a
 * transaction tagged by SET LOCAL would outlive it, and so would the seed
 * setseed() gives random() (pooled.c).
 */
void
ag_gate_pooled_function(Oid funcid)
{
	const char *text;
	int			len;
	const char *why = ag_pooled_function_state(funcid);

	if (why == NULL || !ag_judging())
		return;
	(void) ag_current_statement(&text, &len);
	gate_decide(AG_REFUSAL_GUARD, format_procedure(funcid), why, text, len, 0);
}

/*
 * The backstop (object access): a setval() that no plan of this session
 * shows (a column default COPY evaluates, a constraint, an index
 * expression, the fast-path protocol) cannot be judged by its sequence.
 */
void
ag_gate_setval_unwrapped(Oid funcid)
{
	const char *text;
	int			len;

	if ((funcid != F_SETVAL_REGCLASS_INT8 && funcid != F_SETVAL_REGCLASS_INT8_BOOL) ||
		!ag_judging())
		return;
	(void) ag_current_statement(&text, &len);
	gate_decide(AG_REFUSAL_GUARD, "setval()",
				"setval() is called outside a statement's plan (a column default, a constraint, an index expression or a fast-path call), where agent_guard cannot see which sequence it sets.",
				text, len, 0);
}

/*
 * Rows written by ModifyTable nodes that do not set es_processed (writing
 * CTEs): they count toward the limits like the statement's own; the hooks
 * then check the policies' window and ag_gate_row_limits().
 */
void
ag_gate_count_cte_rows(uint64 n, const AgTableRows *per_table)
{
	int			i;

	stmt_rows += n;
	batch_tables.n = 0;
	for (i = 0; i < per_table->n; i++)
		count_table_rows(per_table->relid[i], (uint64) per_table->rows[i]);
	/* a preview's rows are rolled back: they never count for the run */
	if (ag_preview_active())
		run_rows += n;
	else
		run_rows = ag_run_rows_add(ag_current_agent(), ag_current_run(true), (int64) n);
}

/* ---------------------------------------------------------------------
 * Utility statements
 * ---------------------------------------------------------------------
 */
static void
verdict(AgUtility *v, AgRefusalKind kind, const char *what, char *why)
{
	/* the strongest refusal wins: refused > approval */
	if (v->verdict == AG_REFUSAL_GUARD)
		return;
	v->verdict = kind;
	v->verdict_what = what;
	v->verdict_why = why;
}

static void
classify_drop(DropStmt *stmt, AgUtility *v)
{
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		Node	   *obj = lfirst(lc);

		switch (stmt->removeType)
		{
			case OBJECT_TABLE:
			case OBJECT_VIEW:
			case OBJECT_MATVIEW:
			case OBJECT_SEQUENCE:
			case OBJECT_FOREIGN_TABLE:
				{
					Oid			relid = ag_range_var_relid(makeRangeVarFromNameList((List *) obj));

					if (ag_in_guard_schema(relid))
						verdict(v, AG_REFUSAL_GUARD, "DROP", psprintf("%s belongs to agent_guard.", ag_relname_or(relid, "it")));
					else if (!ag_relation_exempt(relid))
					{
						verdict(v, AG_REFUSAL_APPROVAL, "DROP", psprintf("It drops %s %s and its data.",
																stmt->removeType == OBJECT_TABLE ? "table" : "relation",
																ag_qualified_relname(relid)));
						destroy_targets = lappend_oid(destroy_targets, relid);
						if (!ag_agent_could(AG_ACT_DROP, relid))
							v->unrunnable = true;
					}
					break;
				}
			case OBJECT_SCHEMA:
				{
					const char *name = strVal(obj);
					Oid			nsp = get_namespace_oid(name, true);

					if (strcmp(name, AG_SCHEMA) == 0)
						verdict(v, AG_REFUSAL_GUARD, "DROP SCHEMA", pstrdup("The schema agent_guard holds the guard and its record."));
					else if (OidIsValid(nsp) && !ag_object_created_here(nsp) && !isAnyTempNamespace(nsp))
					{
						verdict(v, AG_REFUSAL_APPROVAL, "DROP SCHEMA", psprintf("It drops schema \"%s\"%s.", name,
																	   stmt->behavior == DROP_CASCADE ? " and everything in it" : ""));
						if (!AG_NSP_OWNER(nsp, GetUserId()))
							v->unrunnable = true;
					}
					break;
				}
			case OBJECT_EXTENSION:
				if (strcmp(strVal(obj), "agent_guard") == 0)
					verdict(v, AG_REFUSAL_GUARD, "DROP EXTENSION", pstrdup("It would remove the guard."));
				break;
			case OBJECT_TYPE:
			case OBJECT_DOMAIN:
				if (stmt->behavior == DROP_CASCADE)
				{
					verdict(v, AG_REFUSAL_APPROVAL, "DROP TYPE ... CASCADE", pstrdup("It drops every column of that type, with the data in it."));
					if (!ag_agent_could_drop_type(LookupTypeNameOid(NULL, castNode(TypeName, obj), true)))
						v->unrunnable = true;
				}
				break;
			case OBJECT_TRIGGER:
			case OBJECT_POLICY:	/* a row security policy */
			case OBJECT_RULE:
				{
					List	   *names = (List *) obj;
					const char *name = strVal(llast(names));
					Oid			relid = ag_range_var_relid(makeRangeVarFromNameList(list_truncate(list_copy(names), list_length(names) - 1)));

					if (strncmp(name, "zz_agent_guard_", 15) == 0 ||
						((stmt->removeType == OBJECT_POLICY) &&
						 (strcmp(name, "ag_hide_deleted") == 0 || strcmp(name, "ag_visible") == 0)))
						verdict(v, AG_REFUSAL_GUARD, "DROP", psprintf("\"%s\" on \"%s\" is part of the guard.", name, ag_relname_or(relid, "?")));
					break;
				}
			default:
				break;
		}
	}
}

static bool
is_stamp_column(const char *name)
{
	return name != NULL && (strcmp(name, "ag_agent_id") == 0 || strcmp(name, "ag_run_id") == 0 ||
							strcmp(name, "ag_deleted_at") == 0);
}

/*
 * ALTER COLUMN ... TYPE to a type or collation in a temporary schema: the
 * session's end would drop the column, humans' values with it (red team
 * 12, finding 3).  reach.c refuses it as it happens; this says so before
 * a human is asked to approve what could only be refused.
 */
static bool
retype_temporary(ColumnDef *def)
{
	Oid			typid;
	HeapTuple	tup;
	bool		temporary = false;

	if (def == NULL || !IsA(def, ColumnDef))
		return false;
	if (def->typeName != NULL)
	{
		typid = LookupTypeNameOid(NULL, def->typeName, true);
		tup = OidIsValid(typid) ? SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid)) : NULL;
		if (HeapTupleIsValid(tup))
		{
			temporary = isAnyTempNamespace(((Form_pg_type) GETSTRUCT(tup))->typnamespace);
			ReleaseSysCache(tup);
		}
		if (temporary)
			return true;
	}
	if (def->collClause != NULL)
	{
		Oid			collid = get_collation_oid(def->collClause->collname, true);

		if (!OidIsValid(collid))
			return false;		/* PostgreSQL's error */
		tup = SearchSysCache1(COLLOID, ObjectIdGetDatum(collid));
		if (HeapTupleIsValid(tup))
		{
			temporary = isAnyTempNamespace(((Form_pg_collation) GETSTRUCT(tup))->collnamespace);
			ReleaseSysCache(tup);
		}
	}
	return temporary;
}

/*
 * What ALTER COLUMN ... TYPE does to the column's values, for the request:
 * with USING it rewrites every value, also when the type stays the same
 * (ALTER COLUMN note TYPE text USING 'x': red team 12, observations).
 */
static char *
retype_detail(Oid relid, AlterTableCmd *cmd, const char *rel)
{
	ColumnDef  *def = (ColumnDef *) cmd->def;

	if (def != NULL && IsA(def, ColumnDef) && def->raw_default != NULL)
	{
		Oid			typid = def->typeName ? LookupTypeNameOid(NULL, def->typeName, true) : InvalidOid;
		AttrNumber	att = cmd->name ? get_attnum(relid, cmd->name) : InvalidAttrNumber;

		if (OidIsValid(typid) && att != InvalidAttrNumber && get_atttype(relid, att) == typid)
			return psprintf("It rewrites every value of column \"%s\" of \"%s\" with its USING expression; the type stays the same.",
							cmd->name, rel);
		return psprintf("It rewrites column \"%s\" of \"%s\" to another type, every value with its USING expression.",
						cmd->name, rel);
	}
	return psprintf("It rewrites column \"%s\" of \"%s\" to another type.", cmd->name, rel);
}

static void
classify_alter_table(AlterTableStmt *stmt, AgUtility *v)
{
	Oid			relid = ag_range_var_relid(stmt->relation);
	bool		protected;
	ListCell   *lc;
	const char *rel = ag_relname_or(relid, "?");

	if (ag_relation_exempt(relid))
		return;
	if (ag_in_guard_schema(relid))
	{
		verdict(v, AG_REFUSAL_GUARD, "ALTER TABLE", psprintf("%s belongs to agent_guard.", rel));
		return;
	}
	protected = ag_relation_protected(relid);
	if (!ag_agent_could(AG_ACT_ALTER, relid))
		v->unrunnable = true;		/* only an approval gives way to PostgreSQL's error */

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		switch (cmd->subtype)
		{
			case AT_EnableTrig:
			case AT_EnableAlwaysTrig:
			case AT_EnableReplicaTrig:
			case AT_EnableTrigAll:
			case AT_EnableTrigUser:
			case AT_DisableTrig:
			case AT_DisableTrigAll:
			case AT_DisableTrigUser:
				if (protected)
					verdict(v, AG_REFUSAL_GUARD, "ALTER TABLE ... TRIGGER", psprintf("Table \"%s\" is protected; its triggers record every agent write.", rel));
				break;
			case AT_DisableRowSecurity:
			case AT_NoForceRowSecurity:
				if (protected)
					verdict(v, AG_REFUSAL_GUARD, "ALTER TABLE ... ROW LEVEL SECURITY", psprintf("Row security on protected table \"%s\" hides soft-deleted rows.", rel));
				break;
			case AT_DropColumn:
				if (protected && is_stamp_column(cmd->name))
					verdict(v, AG_REFUSAL_GUARD, "ALTER TABLE ... DROP COLUMN", psprintf("Column \"%s\" of \"%s\" is a stamp column of the guard.", cmd->name, rel));
				else if (get_rel_relkind(relid) == RELKIND_COMPOSITE_TYPE &&
						 OidIsValid(ag_structure_type_user(get_rel_type_id(relid))))
				{
					/* the field goes from a protected column's values (red team 20a, finding 2) */
					verdict(v, AG_REFUSAL_APPROVAL, "ALTER TYPE ... DROP ATTRIBUTE",
							psprintf("It drops attribute \"%s\" of type \"%s\", which protected table %s uses: the field goes from every row, humans' data in it too.",
									 cmd->name, rel,
									 ag_qualified_relname(ag_structure_type_user(get_rel_type_id(relid)))));
				}
				else
					verdict(v, AG_REFUSAL_APPROVAL, "ALTER TABLE ... DROP COLUMN", psprintf("It drops column \"%s\" of \"%s\" and its data.", cmd->name, rel));
				break;
			case AT_AlterColumnType:
				if (protected && is_stamp_column(cmd->name))
					verdict(v, AG_REFUSAL_GUARD, "ALTER TABLE ... TYPE", psprintf("Column \"%s\" of \"%s\" is a stamp column of the guard.", cmd->name, rel));
				else if (protected && retype_temporary((ColumnDef *) cmd->def))
					verdict(v, AG_REFUSAL_GUARD, "ALTER TABLE ... TYPE", psprintf("Column \"%s\" of protected table \"%s\" would depend on a temporary object of this session: when the session ends PostgreSQL drops it, and the column with humans' values.", cmd->name, rel));
				else
					verdict(v, AG_REFUSAL_APPROVAL, "ALTER TABLE ... TYPE", retype_detail(relid, cmd, rel));
				break;
			case AT_DetachPartition:
			case AT_DetachPartitionFinalize:
				/* the partition's rows, humans' included, leave the table */
				verdict(v, AG_REFUSAL_APPROVAL, "ALTER TABLE ... DETACH PARTITION",
						psprintf("It takes a partition out of %stable \"%s\": its rows leave the table.",
								 protected ? "protected " : "", rel));
				break;
			case AT_DropInherit:
				{
					Oid			parent = cmd->def ? ag_range_var_relid((RangeVar *) cmd->def) : InvalidOid;

					/* as DETACH PARTITION: the child's rows leave the parent's reads */
					if (OidIsValid(parent) && !ag_relation_exempt(parent))
						verdict(v, AG_REFUSAL_APPROVAL, "ALTER TABLE ... NO INHERIT",
								psprintf("It takes \"%s\" out of %stable %s: its rows leave the table.",
										 rel, ag_relation_protected(parent) ? "protected " : "",
										 ag_qualified_relname(parent)));
					break;
				}
			case AT_ChangeOwner:
				if (protected)
					verdict(v, AG_REFUSAL_GUARD, "ALTER TABLE ... OWNER", psprintf("Table \"%s\" is protected.", rel));
				break;
			default:
				break;
		}
	}
}

static void
classify_utility(Node *parsetree, AgUtility *v)
{
	switch (nodeTag(parsetree))
	{
		case T_DropStmt:
			classify_drop((DropStmt *) parsetree, v);
			break;
		case T_DropdbStmt:
			verdict(v, AG_REFUSAL_APPROVAL, "DROP DATABASE",
					psprintf("It drops database \"%s\" and everything in it.", ((DropdbStmt *) parsetree)->dbname));
			if (!ag_agent_could_drop_database(((DropdbStmt *) parsetree)->dbname))
				v->unrunnable = true;
			break;
		case T_DropOwnedStmt:
			verdict(v, AG_REFUSAL_APPROVAL, "DROP OWNED", pstrdup("It drops every object the roles own."));
			if (!ag_agent_could_drop_owned(((DropOwnedStmt *) parsetree)->roles))
				v->unrunnable = true;
			break;
		case T_TruncateStmt:
			{
				ListCell   *lc;

				TruncateStmt *t = (TruncateStmt *) parsetree;
				char	   *restarts = NULL;

				foreach(lc, t->relations)
				{
					RangeVar   *rv = lfirst_node(RangeVar, lc);
					Oid			relid = ag_range_var_relid(rv);

					if (ag_in_guard_schema(relid))
						verdict(v, AG_REFUSAL_GUARD, "TRUNCATE", psprintf("%s belongs to agent_guard.", ag_relname_or(relid, "it")));
					else if (!ag_relation_exempt(relid))
					{
						verdict(v, AG_REFUSAL_APPROVAL, "TRUNCATE", psprintf("It empties table %s.", ag_qualified_relname(relid)));
						destroy_targets = lappend_oid(destroy_targets, relid);
						if (!ag_agent_could(AG_ACT_TRUNCATE, relid))
							v->unrunnable = true;
					}

					/*
					 * RESTART IDENTITY restarts the sequences the emptied
					 * tables' columns own (their children's too): one a
					 * protected table's default draws from goes back to its
					 * start, and humans' inserts collide with their own
					 * rows.  As ALTER SEQUENCE ... RESTART of it: approval,
					 * scratch table or not, the sequence named (red team
					 * 20a, finding 7).  What CASCADE reaches is reach.c's.
					 */
					if (t->restart_seqs && restarts == NULL && OidIsValid(relid))
					{
						List	   *tree = rv->inh && has_subclass(relid) ?
							find_all_inheritors(relid, NoLock, NULL) : list_make1_oid(relid);
						ListCell   *lc2;

						foreach(lc2, tree)
						{
							Oid			seq = InvalidOid;
							Oid			user = ag_structure_owned_sequence_user(lfirst_oid(lc2), &seq);

							if (!OidIsValid(user))
								continue;
							restarts = psprintf("It empties table %s and restarts sequence %s, which its column owns: the sequence numbers the rows of protected table %s, and humans' inserts would collide with the rows it numbered.",
												ag_qualified_relname(lfirst_oid(lc2)), ag_qualified_relname(seq),
												ag_qualified_relname(user));
							if (!ag_agent_could(AG_ACT_TRUNCATE, relid))
								v->unrunnable = true;
							break;
						}
					}
				}
				if (restarts != NULL)
					verdict(v, AG_REFUSAL_APPROVAL, "TRUNCATE ... RESTART IDENTITY", restarts);
				break;
			}
		case T_AlterTableStmt:
			classify_alter_table((AlterTableStmt *) parsetree, v);
			break;
		case T_RenameStmt:
			{
				RenameStmt *r = (RenameStmt *) parsetree;
				Oid			relid = r->relation ? ag_range_var_relid(r->relation) : InvalidOid;

				if (r->renameType == OBJECT_SCHEMA && strcmp(r->subname, AG_SCHEMA) == 0)
					verdict(v, AG_REFUSAL_GUARD, "ALTER SCHEMA ... RENAME", pstrdup("The schema agent_guard holds the guard."));
				else if ((r->renameType == OBJECT_TRIGGER && r->subname && strncmp(r->subname, "zz_agent_guard_", 15) == 0) ||
						 (r->renameType == OBJECT_POLICY && r->subname && strncmp(r->subname, "ag_", 3) == 0 && ag_relation_protected(relid)))
					verdict(v, AG_REFUSAL_GUARD, "RENAME", psprintf("\"%s\" is part of the guard.", r->subname));
				else if (OidIsValid(relid) && !ag_relation_exempt(relid) && ag_relation_protected(relid) &&
						 (r->renameType == OBJECT_TABLE || r->renameType == OBJECT_COLUMN))
				{
					if (!ag_agent_could(AG_ACT_ALTER, relid))
						v->unrunnable = true;
					if (r->renameType == OBJECT_COLUMN && is_stamp_column(r->subname))
						verdict(v, AG_REFUSAL_GUARD, "RENAME COLUMN", psprintf("Column \"%s\" is a stamp column of the guard.", r->subname));
					else
						verdict(v, AG_REFUSAL_APPROVAL, "RENAME", psprintf("It renames protected table %s%s.", ag_qualified_relname(relid),
																	r->renameType == OBJECT_COLUMN ? " or one of its columns" : ""));
				}
				break;
			}
		case T_AlterObjectSchemaStmt:
			{
				AlterObjectSchemaStmt *a = (AlterObjectSchemaStmt *) parsetree;
				Oid			relid = a->relation ? ag_range_var_relid(a->relation) : InvalidOid;

				if (OidIsValid(relid) && !ag_relation_exempt(relid) && ag_relation_protected(relid))
				{
					verdict(v, AG_REFUSAL_APPROVAL, "ALTER TABLE ... SET SCHEMA", psprintf("It moves protected table %s.", ag_qualified_relname(relid)));
					if (!ag_agent_could(AG_ACT_ALTER, relid))
						v->unrunnable = true;
				}
				break;
			}
		case T_AlterPolicyStmt:	/* row security */
			{
				AlterPolicyStmt *p = (AlterPolicyStmt *) parsetree;

				if (strncmp(p->policy_name, "ag_", 3) == 0 && ag_relation_protected(ag_range_var_relid(p->table)))
					verdict(v, AG_REFUSAL_GUARD, "ALTER POLICY", psprintf("Row security policy \"%s\" is part of the guard.", p->policy_name));
				break;
			}
		case T_RuleStmt:
			{
				Oid			relid = ag_range_var_relid(((RuleStmt *) parsetree)->relation);

				if (ag_relation_protected(relid))
					verdict(v, AG_REFUSAL_GUARD, "CREATE RULE", psprintf("A rule on protected table \"%s\" could rewrite agent writes past the guard.", ag_relname_or(relid, "?")));
				break;
			}
		case T_AlterExtensionStmt:
		case T_AlterExtensionContentsStmt:
			{
				const char *ext = IsA(parsetree, AlterExtensionStmt) ?
					((AlterExtensionStmt *) parsetree)->extname :
					((AlterExtensionContentsStmt *) parsetree)->extname;

				if (strcmp(ext, "agent_guard") == 0)
					verdict(v, AG_REFUSAL_GUARD, "ALTER EXTENSION", pstrdup("It would change the guard."));
				break;
			}
		case T_AlterSystemStmt:
			verdict(v, AG_REFUSAL_GUARD, "ALTER SYSTEM", pstrdup("Server settings can switch the guard off."));
			break;
		case T_LoadStmt:
			verdict(v, AG_REFUSAL_GUARD, "LOAD", pstrdup("Loading libraries into the session can subvert the guard."));
			break;
		case T_VariableSetStmt:
			{
				VariableSetStmt *s = (VariableSetStmt *) parsetree;

				if (s->name == NULL)
					break;
				if (strcmp(s->name, "session_replication_role") == 0)
					verdict(v, AG_REFUSAL_GUARD, "SET session_replication_role", pstrdup("It switches off triggers, the guard's included."));
				else if (strncmp(s->name, "agent_guard.", 12) == 0 &&
						 strcmp(s->name, "agent_guard.agent_id") != 0 &&
						 strcmp(s->name, "agent_guard.run_id") != 0 &&
						 strcmp(s->name, "agent_guard.idempotency_key") != 0)
					verdict(v, AG_REFUSAL_GUARD, "SET", psprintf("\"%s\" is set by administrators only.", s->name));
				break;
			}
		default:
			break;
	}
	/* a transaction tagged by SET LOCAL leaves nothing in the session */
	{
		const char *why;
		const char *state = ag_pooled_utility_state(parsetree, &why);

		if (state != NULL)
			verdict(v, AG_REFUSAL_GUARD, state, pstrdup(why));
	}
	/* a tagged shared role's older tables and sequences are the humans' too */
	{
		const char *what;
		char	   *why = ag_tagshadow_older_structure(parsetree, &what);

		if (why != NULL)
			verdict(v, AG_REFUSAL_GUARD, what, why);
	}
	/* the structure of protected tables belongs to the guard */
	ag_structure_classify(parsetree, v);
}


/*
 * A judged utility statement, before the policies: classify it (the
 * verdict stays in u for ag_gate_utility) and refuse at once what would
 * weaken the guard.
 */
void
ag_gate_utility_guard(AgUtility *u, const char *text, int len)
{
	destroy_targets = NIL;
	classify_utility(u->stmt, u);
	ag_writers_utility_verdict(u);	/* writes around the gates */
	if (u->verdict == AG_REFUSAL_GUARD)
		gate_decide(u->verdict, u->verdict_what, u->verdict_why, text, len, 0);
	/* COPY FROM writes its table's rows without the executor's start */
	if (IsA(u->stmt, CopyStmt) && ((CopyStmt *) u->stmt)->is_from &&
		((CopyStmt *) u->stmt)->relation != NULL)
	{
		refuse_unprotected_child("COPY", ag_range_var_relid(((CopyStmt *) u->stmt)->relation),
								 text, len);
		refuse_unguarded("COPY", ag_range_var_relid(((CopyStmt *) u->stmt)->relation),
						 text, len);
	}
}

/*
 * The classifier's verdict on a utility statement an agent's code runs in
 * a human's session (agentgate.c decides on it): the same as in the
 * agent's session.
 */
void
ag_gate_utility_verdict(AgUtility *u)
{
	destroy_targets = NIL;
	classify_utility(u->stmt, u);
	ag_writers_utility_verdict(u);
	destroy_targets = NIL;
}

int
ag_gate_max_rows_per_statement(void)
{
	return max_rows_per_statement;
}

/* gate_decide() for a utility verdict, with what the statement destroys */
static void
decide_with_targets(AgUtility *u, const char *text, int len)
{
	decide_targets = destroy_targets;
	PG_TRY();
	{
		ag_gate_decide_bound(u->verdict, u->verdict_what, u->verdict_why, text, len, &u->binding);
	}
	PG_FINALLY();
	{
		decide_targets = NIL;
	}
	PG_END_TRY();
}

/* ... after the policies: freezes and trips for writes, then approvals. */
void
ag_gate_utility(AgUtility *u, const char *text, int len)
{
	if (ag_utility_writes(u))
	{
		load_state();
		if (frozen_all || frozen_me)
			gate_decide(AG_REFUSAL_FROZEN, CreateCommandName(u->stmt),
						psprintf("Writes of %s are frozen: %s", frozen_me ? "this agent" : "all agents",
								 frozen_me ? frozen_me : frozen_all),
						text, len, 0);
		if (tripped_me || tripped_local)
			gate_decide(AG_REFUSAL_TRIPPED, CreateCommandName(u->stmt),
						psprintf("The run wrote more than agent_guard.max_rows_per_run (%d) rows.", max_rows_per_run),
						text, len, run_rows);
	}

	/*
	 * A request only for a statement the agent could run once approved:
	 * otherwise PostgreSQL refuses it with its own error (approved.c).
	 */
	if (u->verdict == AG_REFUSAL_APPROVAL && u->unrunnable)
		return;
	if (u->verdict != AG_REFUSAL_NONE)
	{
		decide_with_targets(u, text, len);
		u->approved = (u->verdict == AG_REFUSAL_APPROVAL);	/* else it raised */
	}
}

/*
 * COPY FROM of a judged session ran: count its rows.  Returns true when
 * they count for the policies' window (not scratch).
 */
bool
ag_gate_copy_rows(PlannedStmt *pstmt, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (parsetree == NULL || !IsA(parsetree, CopyStmt) || qc == NULL ||
		!((CopyStmt *) parsetree)->is_from)
		return false;
	stmt_rows += qc->nprocessed;
	batch_tables.n = 0;
	if (qc->nprocessed > 0)
		count_table_rows(ag_range_var_relid(((CopyStmt *) parsetree)->relation), qc->nprocessed);
	run_rows = ag_run_rows_add(ag_current_agent(), ag_current_run(true), (int64) qc->nprocessed);
	return !ag_relation_exempt(ag_range_var_relid(((CopyStmt *) parsetree)->relation));
}

/* ... then, after the policies' rate window, its row limits. */
void
ag_gate_copy_limits(PlannedStmt *pstmt, QueryCompletion *qc, const char *text, int len)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (parsetree == NULL || !IsA(parsetree, CopyStmt) || qc == NULL ||
		!((CopyStmt *) parsetree)->is_from)
		return;
	if (max_rows_per_statement >= 0 && stmt_rows > (uint64) max_rows_per_statement)
	{
		RangeVar   *rv = ((CopyStmt *) parsetree)->relation;
		Oid			relid = rv != NULL ? RangeVarGetRelid(rv, NoLock, true) : InvalidOid;

		decide_tables.n = 0;
		ag_table_rows_add(&decide_tables, relid, (int64) qc->nprocessed);
		stmt_rows = 0;
		stmt_tables.n = 0;
		decide_rows = (int64) qc->nprocessed;
		PG_TRY();
		{
			gate_decide(AG_REFUSAL_APPROVAL, "COPY",
						row_limit_reason(qc->nprocessed, &decide_tables, NULL),
						text, len, (int64) qc->nprocessed);
		}
		PG_FINALLY();
		{
			decide_rows = -1;
		}
		PG_END_TRY();
	}
	if (max_rows_per_run >= 0 && run_rows > (uint64) max_rows_per_run)
		gate_decide(AG_REFUSAL_TRIPPED, "COPY",
					psprintf("The run has written " UINT64_FORMAT " rows, more than agent_guard.max_rows_per_run (%d).",
							 run_rows, max_rows_per_run),
					text, len, (int64) run_rows);
}

/* ---------------------------------------------------------------------
 * SQL-callable
 * ---------------------------------------------------------------------
 */

/* SQL: agent_guard._gate_changed(): freezes, trips or policies changed. */
PG_FUNCTION_INFO_V1(ag_sql_gate_changed);
Datum
ag_sql_gate_changed(PG_FUNCTION_ARGS)
{
	bump_at_commit = true;
	PG_RETURN_VOID();
}

/* SQL: agent_guard._preview(on boolean): enter or leave preview mode. */
PG_FUNCTION_INFO_V1(ag_sql_preview);
Datum
ag_sql_preview(PG_FUNCTION_ARGS)
{
	bool		on = PG_GETARG_BOOL(0);

	if (on)
		preview_saved_run_rows = run_rows;
	else
		run_rows = preview_saved_run_rows;	/* the preview's rows were rolled back */
	previewing = on;
	ag_preview_set(on);
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * Setup
 * ---------------------------------------------------------------------
 */
void
ag_gate_init(void)
{
	DefineCustomIntVariable("agent_guard.max_rows_per_statement",
							gettext_noop("Rows an agent statement may write before it needs a human's approval."),
							gettext_noop("Counted while the statement runs, nested statements included; -1 turns the limit off."),
							&max_rows_per_statement, 1000, -1, INT_MAX,
							PGC_SUSET, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomIntVariable("agent_guard.max_rows_per_run",
							gettext_noop("Rows an agent run may write before it is tripped."),
							gettext_noop("A tripped run is refused until agent_guard.reset_run(); -1 turns the limit off."),
							&max_rows_per_run, 10000, -1, INT_MAX,
							PGC_SUSET, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomIntVariable("agent_guard.approval_ttl",
							gettext_noop("How long an approval stays valid for the agent's retry."),
							NULL,
							&approval_ttl, 900, 1, 7 * 24 * 3600,
							PGC_SUSET, GUC_SUPERUSER_ONLY | GUC_UNIT_S, NULL, NULL, NULL);
	RegisterXactCallback(gate_xact_callback, NULL);
	RegisterSubXactCallback(gate_subxact_callback, NULL);
}
