/*-------------------------------------------------------------------------
 * gate.c
 *		Destructive acts wait for a human; freezes hold; the guard cannot be
 *		switched off from an agent session.
 *
 * Every statement of an agent session, top-level or nested, is classified
 * here, called from the executor and utility hooks (hooks.c) and the
 * planner hook (softdelete.c):
 *
 *	- refused outright ("refused"): anything that would weaken the guard:
 *	  DROP/ALTER of the extension or its schema, disabling or dropping the
 *	  guard's triggers or row security on a protected table, dropping or
 *	  altering the stamp columns, rules on protected tables,
 *	  session_replication_role, ALTER SYSTEM, LOAD, and the superuser-set
 *	  agent_guard.* settings;
 *	- needs a human's approval ("approval"): DROP of tables, views,
 *	  materialized views, sequences, schemas, types and databases, DROP
 *	  OWNED, TRUNCATE, dropping a column or changing its type, renaming or
 *	  moving a protected table or its columns, detaching a partition of
 *	  one, DELETE or UPDATE without a WHERE clause, and any statement that
 *	  writes more than agent_guard.max_rows_per_statement rows (counted
 *	  while it runs, so it fails before it commits);
 *	- a freeze ("frozen") refuses every write of the frozen agents; a run
 *	  that passes agent_guard.max_rows_per_run is tripped ("tripped") and
 *	  refused until a human resets it.
 * Temporary objects and objects the session created itself are the
 * agent's scratch space and are exempt.  Statements that run with a
 * superuser's rights (the extension's own code, SECURITY DEFINER functions
 * of a superuser) are not agent statements and are not gated.
 *
 * A refusal must outlive the agent's transaction, which the refusal itself
 * aborts.  PostgreSQL has no autonomous transactions, so the request is
 * put into a queue in shared memory and written (request row, BLOCKED
 * event, tripped run, NOTIFY agent_guard) by this database's journal
 * worker (journal.c), which is woken at once.  The request id comes from a
 * sequence, which does not roll back, so the error message can name it.
 * If the queue is full the statement is still refused; only the record is
 * lost, and the error says so.
 *
 * An approval lets the same agent run the same statement (whitespace
 * normalized) once, within agent_guard.approval_ttl: the approved request
 * is consumed in the agent's transaction, so an aborted retry keeps it.
 *
 * Freezes and tripped runs live in tables (they survive restarts); a
 * generation counter in shared memory, bumped when they change, tells each
 * backend to reload them, so the check per statement is one atomic read.
 *
 * Every decision is also one line in the server log, in a fixed format:
 *   agent_guard: decision=D request=N kind=K agent="A" run="R" login="L" reason="..." statement="..."
 *
 * Locking: GateShared->lock (one LWLock, tranche "agent_guard gate") guards
 * the queue entries; the generation counter is atomic.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "storage/procarray.h"
#include "access/relation.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_database.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "agent_guard.h"
#include "compat.h"
#include "structure.h"

#define AG_GATE_QUEUE 128
#define AG_GATE_TEXT 2048
#define AG_GATE_REASON 512
#define AG_GATE_TRANCHE "agent_guard gate"

/*
 * An entry is PENDING until the worker takes it, TAKEN while the worker's
 * transaction writes it to request_log, and WRITTEN once that committed.
 * agent_guard.requests reads request_log with the reader's snapshot and the
 * queue live; a snapshot taken before the write committed does not see the
 * row, so the entry stays on show until no snapshot can miss the row
 * (writer_xid behind every backend's xmin).  Only then is the slot reused,
 * or earlier when the queue is full.
 */
typedef enum
{
	ENTRY_FREE = 0,
	ENTRY_PENDING,
	ENTRY_TAKEN,
	ENTRY_WRITTEN
} EntryState;

typedef struct AgGateEntry
{
	EntryState	state;
	TransactionId writer_xid;	/* WRITTEN: the transaction that wrote it */
	Oid			dboid;
	int64		request_id;
	TimestampTz at;
	char		kind[16];
	char		agent[AG_MAX_ID_LEN + 1];
	char		run[AG_MAX_ID_LEN + 1];
	char		login[NAMEDATALEN];
	char		reason[AG_GATE_REASON];
	char		statement[AG_GATE_TEXT];
	int64		hash;
	int64		rows;
} AgGateEntry;

typedef struct AgGateShared
{
	LWLock	   *lock;
	pg_atomic_uint64 generation;
	AgGateEntry entries[AG_GATE_QUEUE];
} AgGateShared;

static AgGateShared *gate = NULL;

static object_access_hook_type prev_object_access_hook = NULL;

/* settings */
static int	max_rows_per_statement = 1000;
static int	max_rows_per_run = 10000;
static int	approval_ttl = 900;

/* our own SPI and superuser code is not gated */
static int	gate_internal = 0;

/* freezes and trips, as of generation state_gen */
static uint64 state_gen = 0;
static bool state_valid = false;
static char *frozen_all = NULL;
static char *frozen_me = NULL;
static bool tripped_me = false;
static bool tripped_local = false;	/* tripped here, not yet written */

/* agent_guard.preview(): decisions are collected, not recorded */
typedef struct PreviewRow
{
	char	   *relation;
	char	   *operation;
	int64		rows;
	char	   *verdict;
	char	   *detail;
} PreviewRow;
static bool preview_mode = false;
static List *preview_rows = NIL;
static uint64 preview_saved_run_rows = 0;

static void
preview_add(const char *relation, const char *operation, int64 rows,
			const char *verdict, const char *detail)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	PreviewRow *r = palloc0(sizeof(PreviewRow));

	r->relation = relation ? pstrdup(relation) : NULL;
	r->operation = pstrdup(operation);
	r->rows = rows;
	r->verdict = pstrdup(verdict);
	r->detail = detail ? pstrdup(detail) : NULL;
	preview_rows = lappend(preview_rows, r);
	MemoryContextSwitchTo(old);
}

/* an approval consumed in this top-level statement covers all its gates */
static bool approved_valid = false;
static int64 approved_hash = 0;

/* rows counted for limits */
static uint64 stmt_rows = 0;
static uint64 run_rows = 0;

/* relations, schemas and databases this session created: its scratch */
static List *created_objects = NIL;


static bool bump_at_commit = false;

static const char *relname_or(Oid relid, const char *fallback);

/* ---------------------------------------------------------------------
 * Shared memory
 * ---------------------------------------------------------------------
 */
/* a new gate area: generation 1 (backends start at 0, so they all load) */
static void
gate_shmem_init(void *area)
{
	pg_atomic_init_u64(&((AgGateShared *) area)->generation, 1);
}

static void
gate_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (bump_at_commit && gate != NULL)
				pg_atomic_fetch_add_u64(&gate->generation, 1);
			bump_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			bump_at_commit = false;
			gate_internal = 0;
			if (preview_mode)
				run_rows = preview_saved_run_rows;
			preview_mode = false;
			break;
		case XACT_EVENT_PRE_COMMIT:
			if (preview_mode)
				run_rows = preview_saved_run_rows;
			preview_mode = false;
			break;
		default:
			break;
	}
}

/* ---------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------
 */

/* Is the guard to judge this statement?  An agent session, acting with
 * the agent's own rights, in a database where the extension lives. */
static bool
gate_active(void)
{
	if (gate_internal > 0 || IsParallelWorker() || gate == NULL)
		return false;
	if (!IsTransactionState() || IsAbortedTransactionBlockState())
		return false;
	if (!ag_session_is_agent())
		return false;
	if (superuser())
		return false;
	return OidIsValid(get_namespace_oid(AG_SCHEMA, true));
}

static bool
object_created_here(Oid objid)
{
	return list_member_oid(created_objects, objid);
}

static void
gate_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				   int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	/* every function call the executor or the fast-path protocol sets up */
	if (access == OAT_FUNCTION_EXECUTE)
		ag_policy_function_execute(objectId);

	if (access == OAT_POST_CREATE && subId == 0 && ag_agent_latched() &&
		(classId == RelationRelationId || classId == NamespaceRelationId ||
		 classId == DatabaseRelationId || classId == TypeRelationId))
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		created_objects = lappend_oid(created_objects, objectId);
		MemoryContextSwitchTo(old);
	}
}

/* Temporary, or created by this session: the agent's own scratch space. */
static bool
relation_exempt(Oid relid)
{
	if (!OidIsValid(relid))
		return true;
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		return true;
	return object_created_here(relid);
}

bool
ag_gate_relation_exempt(Oid relid)
{
	return relation_exempt(relid);
}

static Oid
capture_function(void)
{
	return LookupFuncName(list_make2(makeString(AG_SCHEMA), makeString("capture")),
						  0, NULL, true);
}

/* Protected: carries the capture trigger (partitions carry a clone). */
static bool
relation_protected(Oid relid)
{
	Relation	rel;
	bool		found = false;
	Oid			fn;
	int			i;

	if (!OidIsValid(relid) || (fn = capture_function()) == InvalidOid)
		return false;
	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
		return false;
	if (rel->trigdesc != NULL)
		for (i = 0; i < rel->trigdesc->numtriggers && !found; i++)
			found = (rel->trigdesc->triggers[i].tgfoid == fn);
	relation_close(rel, AccessShareLock);
	return found;
}

static Oid
range_var_relid(RangeVar *rv)
{
	return RangeVarGetRelid(rv, NoLock, true);
}

static bool
in_guard_schema(Oid relid)
{
	Oid			nsp = get_namespace_oid(AG_SCHEMA, true);

	return OidIsValid(relid) && OidIsValid(nsp) && get_rel_namespace(relid) == nsp;
}

/*
 * The statement's text, whitespace collapsed and a trailing semicolon
 * dropped, and its 64-bit hash: what an approval is bound to.
 */
static int64
normalized_hash(const char *text, int len, StringInfo out)
{
	int			i;
	bool		space = false;

	for (i = 0; i < len && text[i] != '\0'; i++)
	{
		char		c = text[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f')
		{
			space = (out->len > 0);
			continue;
		}
		if (space)
			appendStringInfoChar(out, ' ');
		space = false;
		appendStringInfoChar(out, c);
	}
	while (out->len > 0 && (out->data[out->len - 1] == ';' || out->data[out->len - 1] == ' '))
		out->data[--out->len] = '\0';
	return (int64) hash_bytes_extended((const unsigned char *) out->data, out->len, 0);
}

static void
append_quoted(StringInfo buf, const char *s)
{
	appendStringInfoChar(buf, '"');
	for (; s != NULL && *s; s++)
	{
		if (*s == '"' || *s == '\\')
			appendStringInfoChar(buf, '\\');
		if (*s == '\n')
			appendStringInfoString(buf, "\\n");
		else
			appendStringInfoChar(buf, *s);
	}
	appendStringInfoChar(buf, '"');
}

static void
log_decision(const char *decision, int64 request_id, const char *kind,
			 const char *reason, const char *statement)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "agent_guard: decision=%s request=" INT64_FORMAT " kind=%s agent=",
					 decision, request_id, kind);
	append_quoted(&buf, ag_current_agent());
	appendStringInfoString(&buf, " run=");
	append_quoted(&buf, ag_current_run(false));
	appendStringInfoString(&buf, " login=");
	append_quoted(&buf, GetUserNameFromId(GetAuthenticatedUserId(), false));
	appendStringInfoString(&buf, " reason=");
	append_quoted(&buf, reason);
	appendStringInfoString(&buf, " statement=");
	append_quoted(&buf, statement);
	ereport(LOG, (errmsg_internal("%s", buf.data), errhidestmt(true), errhidecontext(true)));
	pfree(buf.data);
}

/*
 * Run one query of ours as the extension owner, outside the gates.
 * Returns SPI's code; the result is in SPI_tuptable until SPI_finish, so
 * callers copy what they need through the callback.
 */
typedef void (*gate_result_fn) (void *arg);

static void
gate_spi(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
		 int expected, gate_result_fn fn, void *arg)
{
	Oid			save_userid;
	int			save_sec;
	int			rc;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	gate_internal++;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "agent_guard gate: SPI_connect failed");
	SetUserIdAndSecContext(ag_extension_owner(),
						   save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
		if (rc != expected)
			elog(ERROR, "agent_guard gate: query failed: %s", SPI_result_code_string(rc));
		if (fn)
			fn(arg);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
		gate_internal--;
	}
	PG_END_TRY();
	SPI_finish();
}

/* Bumped (at commit) whenever freezes, trips or policies change. */
uint64
ag_gate_generation(void)
{
	return gate != NULL ? pg_atomic_read_u64(&gate->generation) : 0;
}

/* ---------------------------------------------------------------------
 * Freezes and tripped runs
 * ---------------------------------------------------------------------
 */
static void
load_state_result(void *arg)
{
	bool		isnull;
	Datum		d;
	HeapTuple	tup = SPI_tuptable->vals[0];
	TupleDesc	desc = SPI_tuptable->tupdesc;

	d = SPI_getbinval(tup, desc, 1, &isnull);
	frozen_all = isnull ? NULL : MemoryContextStrdup(TopMemoryContext, TextDatumGetCString(d));
	d = SPI_getbinval(tup, desc, 2, &isnull);
	frozen_me = isnull ? NULL : MemoryContextStrdup(TopMemoryContext, TextDatumGetCString(d));
	d = SPI_getbinval(tup, desc, 3, &isnull);
	tripped_me = !isnull && DatumGetBool(d);
}

static void
load_state(void)
{
	uint64		gen = pg_atomic_read_u64(&gate->generation);
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	const char *run = ag_current_run(false);

	if (state_valid && gen == state_gen)
		return;

	if (frozen_all)
		pfree(frozen_all);
	if (frozen_me)
		pfree(frozen_me);
	frozen_all = frozen_me = NULL;

	values[0] = CStringGetTextDatum(ag_current_agent());
	values[1] = CStringGetTextDatum(run ? run : "");
	gate_spi("SELECT (SELECT f.reason FROM agent_guard.freeze_state f WHERE f.scope = '*'), "
			 "       (SELECT f.reason FROM agent_guard.freeze_state f WHERE f.scope = $1), "
			 "       EXISTS (SELECT 1 FROM agent_guard.tripped_runs t WHERE t.run_id = $2)",
			 2, types, values, NULL, SPI_OK_SELECT, load_state_result, NULL);

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

/* ---------------------------------------------------------------------
 * Refusals and approvals
 * ---------------------------------------------------------------------
 */
static void
consume_result(void *arg)
{
	int64	   *id = (int64 *) arg;
	bool		isnull;

	if (SPI_processed > 0)
		*id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* An approved, unused, unexpired request of this agent for this statement? */
static int64
consume_approval(int64 hash)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];
	int64		id = 0;

	values[0] = CStringGetTextDatum(ag_current_agent());
	values[1] = Int64GetDatum(hash);
	gate_spi("UPDATE agent_guard.request_log r "
			 "   SET status = 'used', used_at = pg_catalog.now(), used_xid = pg_catalog.pg_current_xact_id() "
			 " WHERE r.request_id = (SELECT q.request_id FROM agent_guard.request_log q "
			 "                        WHERE q.agent_id = $1 AND q.statement_hash = $2 "
			 "                          AND q.status = 'approved' AND q.expires_at > pg_catalog.now() "
			 "                        ORDER BY q.request_id LIMIT 1 FOR UPDATE) "
			 "RETURNING r.request_id",
			 2, types, values, NULL, SPI_OK_UPDATE_RETURNING, consume_result, &id);
	return id;
}

static int64
next_request_id(void)
{
	Oid			nsp = get_namespace_oid(AG_SCHEMA, true);
	Oid			seq = OidIsValid(nsp) ? get_relname_relid("requests_request_id_seq", nsp) : InvalidOid;
	Oid			save_userid;
	int			save_sec;
	int64		id;

	if (!OidIsValid(seq))
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
				 errmsg("agent_guard cannot record a refused statement"),
				 errdetail("The sequence agent_guard.requests_request_id_seq is missing."),
				 errhint("Reinstall the extension.")));
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(ag_extension_owner(), save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		id = nextval_internal(seq, false);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	return id;
}

/*
 * Copy text into a fixed buffer, cut on a character boundary: a cut through
 * a character would be a byte sequence that is not text, which the log
 * could be sealed over but never verified (convert_to() refuses it).
 */
static void
copy_text(char *dst, const char *src, size_t size)
{
	int			len = pg_mbcliplen(src, strlen(src), (int) size - 1);

	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* A written entry whose row every snapshot sees: no longer to be shown. */
static inline bool
entry_settled(const AgGateEntry *e, TransactionId horizon)
{
	return e->state == ENTRY_WRITTEN && TransactionIdPrecedes(e->writer_xid, horizon);
}

static bool
enqueue(int64 id, const char *kind, const char *reason, const char *statement,
		int64 hash, int64 rows)
{
	int			i;
	AgGateEntry *e = NULL;
	const char *run = ag_current_run(false);

	TransactionId horizon = GetOldestNonRemovableTransactionId(NULL);
	AgGateEntry *oldest_written = NULL;

	LWLockAcquire(gate->lock, LW_EXCLUSIVE);
	for (i = 0; i < AG_GATE_QUEUE && e == NULL; i++)
	{
		AgGateEntry *c = &gate->entries[i];

		if (c->state == ENTRY_FREE || entry_settled(c, horizon))
			e = c;
		else if (c->state == ENTRY_WRITTEN &&
				 (oldest_written == NULL || c->request_id < oldest_written->request_id))
			oldest_written = c;
	}
	/* a full queue takes the oldest written entry, still on show or not */
	if (e == NULL)
		e = oldest_written;
	if (e != NULL)
	{
		memset(e, 0, sizeof(AgGateEntry));
		e->dboid = MyDatabaseId;
		e->request_id = id;
		e->at = GetCurrentTimestamp();
		strlcpy(e->kind, kind, sizeof(e->kind));
		strlcpy(e->agent, ag_current_agent(), sizeof(e->agent));
		strlcpy(e->run, run ? run : "", sizeof(e->run));
		strlcpy(e->login, GetUserNameFromId(GetAuthenticatedUserId(), false), sizeof(e->login));
		copy_text(e->reason, reason, sizeof(e->reason));
		copy_text(e->statement, statement ? statement : "", sizeof(e->statement));
		e->hash = hash;
		e->rows = rows;
		e->state = ENTRY_PENDING;
	}
	LWLockRelease(gate->lock);
	if (e != NULL)
		ag_journal_wake(MyDatabaseId);
	return e != NULL;
}

/*
 * Record a request for the normalized statement text and its hash
 * (normalized_hash) and log the decision; it outlives this transaction.
 * Returns its id; *queued says whether the queue had room.
 */
static int64
record_request(const char *kind, const char *why, const char *normalized, int64 hash,
			   int64 rows, bool *queued)
{
	int64		id = next_request_id();

	*queued = enqueue(id, kind, why, normalized, hash, rows);
	log_decision(strcmp(kind, "approval") == 0 ? "blocked" : "refused", id, kind, why, normalized);
	return id;
}

/*
 * Refuse the statement: record the request (outliving this transaction),
 * log the decision, raise.  For kind "approval" an approved request for
 * the same statement is consumed instead, and the statement goes on.
 */
static void
gate_decide(const char *kind, const char *what, const char *why,
			const char *text, int len, int64 rows)
{
	StringInfoData norm;
	int64		hash;
	int64		id;
	bool		queued;
	int			code;

	initStringInfo(&norm);
	hash = normalized_hash(text ? text : "", text ? len : 0, &norm);

	/*
	 * A preview records what would happen.  A statement that would need
	 * approval goes on, inside the preview's subtransaction, so its rows
	 * are counted; anything else stops it, unrecorded.
	 */
	if (preview_mode)
	{
		preview_add(NULL, what, 0, kind, why);
		if (strcmp(kind, "approval") == 0)
			return;
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_PROTECTED),
				 errmsg("%s would be refused (%s)", what, kind),
				 errdetail("%s", why)));
	}

	if (strcmp(kind, "approval") == 0)
	{
		if (approved_valid && approved_hash == hash)
			return;				/* already approved for this run of the statement */
		id = consume_approval(hash);
		if (id != 0)
		{
			approved_valid = true;
			approved_hash = hash;
			log_decision("approved", id, kind, why, norm.data);
			return;
		}
	}

	id = record_request(kind, why, norm.data, hash, rows, &queued);

	if (strcmp(kind, "tripped") == 0)
		tripped_local = true;

	code = strcmp(kind, "approval") == 0 ? ERRCODE_AG_APPROVAL_REQUIRED :
		strcmp(kind, "frozen") == 0 ? ERRCODE_AG_FROZEN :
		strcmp(kind, "tripped") == 0 ? ERRCODE_AG_RUN_TRIPPED :
		strcmp(kind, "policy") == 0 ? ERRCODE_AG_POLICY :
		strcmp(kind, "rate") == 0 ? ERRCODE_AG_RATE_LIMITED : ERRCODE_AG_GUARD_PROTECTED;

	if (strcmp(kind, "approval") == 0)
		ereport(ERROR,
				(errcode(code),
				 errmsg("%s needs a human's approval: request " INT64_FORMAT, what, id),
				 errdetail("%s%s", why, queued ? "" : " The request could not be recorded (the queue is full)."),
				 errhint("Ask a human to run SELECT agent_guard.approve(" INT64_FORMAT "); then run the same statement again within agent_guard.approval_ttl.", id)));
	else if (strcmp(kind, "frozen") == 0)
		ereport(ERROR,
				(errcode(code),
				 errmsg("%s refused: agents are frozen (request " INT64_FORMAT ")", what, id),
				 errdetail("%s", why),
				 errhint("Wait until a human lifts the freeze with agent_guard.unfreeze().")));
	else if (strcmp(kind, "tripped") == 0)
		ereport(ERROR,
				(errcode(code),
				 errmsg("%s refused: run \"%s\" is tripped (request " INT64_FORMAT ")", what,
						ag_current_run(false), id),
				 errdetail("%s", why),
				 errhint("A human can let the run write again with SELECT agent_guard.reset_run('%s').",
						 ag_current_run(false))));
	else if (strcmp(kind, "policy") == 0)
		ereport(ERROR,
				(errcode(code),
				 errmsg("%s refused by the policy of agent \"%s\" (request " INT64_FORMAT ")",
						what, ag_current_agent(), id),
				 errdetail("%s", why),
				 errhint("Agents cannot get past their policy; a human can change it with agent_guard.set_policy().")));
	else if (strcmp(kind, "rate") == 0)
		ereport(ERROR,
				(errcode(code),
				 errmsg("%s refused: agent \"%s\" is over its rate limit (request " INT64_FORMAT ")",
						what, ag_current_agent(), id),
				 errdetail("%s", why),
				 errhint("Writes are allowed again once the rows of the last minute fall under the limit; a human can raise it with agent_guard.set_policy().")));
	else
		ereport(ERROR,
				(errcode(code),
				 errmsg("%s refused: it would weaken agent_guard (request " INT64_FORMAT ")", what, id),
				 errdetail("%s", why),
				 errhint("Agents can never do this; a human can, from a session that is not an agent session.")));
}

/*
 * For a guard that raises its own error (capture.c's size limit): record
 * the refusal as the gates do, a request of kind "refused" (never
 * approvable) with its BLOCKED event, outliving the transaction, and the
 * log line.  Returns the request id, or 0 in a preview, which records
 * nothing.
 */
int64
ag_gate_record_refusal(const char *why, const char *text, int len)
{
	StringInfoData norm;
	int64		hash;
	int64		id;
	bool		queued;

	if (preview_mode)
		return 0;
	initStringInfo(&norm);
	hash = normalized_hash(text ? text : "", text ? len : 0, &norm);
	id = record_request("refused", why, norm.data, hash, 0, &queued);
	if (!queued)
		ereport(WARNING,
				(errmsg("agent_guard could not record refusal " INT64_FORMAT ": the request queue is full", id)));
	return id;
}

/*
 * For other guards (policies): refuse with the same record, log line and
 * request id as the gates.  kind is one of the request kinds of
 * agent_guard.request_log.
 */
void
ag_gate_refuse(const char *kind, const char *what, const char *why,
			   const char *text, int len)
{
	gate_decide(kind, what, why, text, len, 0);
}

/* Is this statement to be judged at all (agent session, agent's rights)? */
bool
ag_gate_judging(void)
{
	return gate_active();
}

/* ---------------------------------------------------------------------
 * Executor: writes, freezes, WHERE-less DELETE/UPDATE, row limits
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

		if (!relation_exempt(rte->relid))
			return true;
	}
	return false;
}

static void
statement_text(QueryDesc *qd, const char **text, int *len)
{
	*text = qd->sourceText;
	*len = 0;
	if (*text == NULL)
		return;
	if (qd->plannedstmt->stmt_location > 0)
		*text += qd->plannedstmt->stmt_location;
	*len = qd->plannedstmt->stmt_len > 0 ? qd->plannedstmt->stmt_len : (int) strlen(*text);
}

void
ag_gate_executor_start(QueryDesc *qd)
{
	const char *text;
	int			len;
	PlannedStmt *ps = qd->plannedstmt;

	if (!gate_active())
		return;

	statement_text(qd, &text, &len);

	if (SessionReplicationRole != SESSION_REPLICATION_ROLE_ORIGIN)
		gate_decide("refused", "statement",
					"session_replication_role is not \"origin\", which switches off triggers.",
					text, len, 0);

	ag_policy_executor_start(ps, text, len);

	if (!plan_writes_non_exempt(ps))
		return;

	/* the guard's own tables: refused whatever the statement (no grant helps) */
	{
		ListCell   *lc;

		foreach(lc, ps->resultRelations)
		{
			RangeTblEntry *rte = rt_fetch(lfirst_int(lc), ps->rtable);

			if (in_guard_schema(rte->relid))
				gate_decide("refused", ag_command_name(ps->commandType, "statement"),
							psprintf("%s belongs to agent_guard; its record is written by the guard only.",
									 relname_or(rte->relid, "?")),
							text, len, 0);
		}
	}

	load_state();
	if (frozen_all || frozen_me)
	{
		char	   *why = psprintf("Writes of %s are frozen: %s",
								   frozen_me ? "this agent" : "all agents",
								   frozen_me ? frozen_me : frozen_all);

		gate_decide("frozen", ag_command_name(ps->commandType, "statement"), why, text, len, 0);
	}
	if (tripped_me || tripped_local)
		gate_decide("tripped", ag_command_name(ps->commandType, "statement"),
					psprintf("The run wrote more than agent_guard.max_rows_per_run (%d) rows.", max_rows_per_run),
					text, len, run_rows);

}

void
ag_gate_top_statement(void)
{
	stmt_rows = 0;
	approved_valid = false;
	ag_policy_top_statement();
}

void
ag_gate_executor_done(QueryDesc *qd, uint64 n)
{
	const char *text;
	int			len;

	if (qd->estate == NULL)
		return;
	if (preview_mode && gate_internal == 0 && qd->plannedstmt->commandType != CMD_SELECT &&
		qd->plannedstmt->resultRelations != NIL && !superuser() && !gate_active())
	{
		/* a human's preview: count, no gates */
		RangeTblEntry *rte = rt_fetch(linitial_int(qd->plannedstmt->resultRelations),
									  qd->plannedstmt->rtable);

		preview_add(quote_qualified_identifier(get_namespace_name(get_rel_namespace(rte->relid)),
											   get_rel_name(rte->relid)),
					ag_command_name(qd->plannedstmt->commandType, "statement"), (int64) n, "counted", NULL);
		return;
	}
	if (!gate_active())
		return;
	if (!plan_writes_non_exempt(qd->plannedstmt) || qd->plannedstmt->commandType == CMD_SELECT)
		return;

	stmt_rows += n;
	run_rows += n;
	statement_text(qd, &text, &len);
	ag_policy_rows_written(ag_command_name(qd->plannedstmt->commandType, "statement"), n, text, len);

	if (preview_mode && qd->plannedstmt->resultRelations != NIL)
	{
		RangeTblEntry *rte = rt_fetch(linitial_int(qd->plannedstmt->resultRelations),
									  qd->plannedstmt->rtable);
		char	   *nsp = get_namespace_name(get_rel_namespace(rte->relid));
		char	   *rel = get_rel_name(rte->relid);

		preview_add(rel ? quote_qualified_identifier(nsp, rel) : NULL,
					ag_command_name(qd->plannedstmt->commandType, "statement"), (int64) n, "counted", NULL);
	}

	if (max_rows_per_statement >= 0 && stmt_rows > (uint64) max_rows_per_statement)
	{
		stmt_rows = 0;			/* an approved rerun starts counting afresh */
		gate_decide("approval", ag_command_name(qd->plannedstmt->commandType, "statement"),
					psprintf("It wrote " UINT64_FORMAT " rows, more than agent_guard.max_rows_per_statement (%d).",
							 n, max_rows_per_statement),
					text, len, (int64) n);
	}
	if (max_rows_per_run >= 0 && run_rows > (uint64) max_rows_per_run && !preview_mode)
		gate_decide("tripped", ag_command_name(qd->plannedstmt->commandType, "statement"),
					psprintf("The run has written " UINT64_FORMAT " rows, more than agent_guard.max_rows_per_run (%d).",
							 run_rows, max_rows_per_run),
					text, len, (int64) run_rows);
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
	if ((q->commandType == CMD_DELETE || q->commandType == CMD_UPDATE) &&
		q->resultRelation > 0 && q->jointree != NULL &&
		list_length(q->jointree->fromlist) <= 1 && quals_are_empty(q))
	{
		RangeTblEntry *rte = rt_fetch(q->resultRelation, q->rtable);
		Const	   *op;
		Const	   *rel;
		Expr	   *call;

		if (relation_exempt(rte->relid))
			return;
		op = makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
					   CStringGetTextDatum(q->commandType == CMD_DELETE ? "DELETE" : "UPDATE"),
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

	if (!gate_active())
		return;
	fn = LookupFuncName(lappend(list_make1(makeString(AG_SCHEMA)), makeString("_gate_unqualified")),
						2, argtypes, true);
	if (!OidIsValid(fn))
		return;
	add_unqualified_gate(q, fn);
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

	if (gate_active() && !relation_exempt(relid))
	{
		(void) ag_current_statement(&text, &len);
		gate_decide("approval", op,
					psprintf("It has no WHERE clause, so it touches every row of \"%s\".",
							 relname_or(relid, "?")),
					text, len, 0);
	}
	PG_RETURN_BOOL(true);
}

/* ---------------------------------------------------------------------
 * Utility statements
 * ---------------------------------------------------------------------
 */
typedef struct UtilityVerdict
{
	const char *kind;			/* NULL: allowed */
	const char *what;
	char	   *why;
} UtilityVerdict;

static void
verdict(UtilityVerdict *v, const char *kind, const char *what, char *why)
{
	/* the strongest refusal wins: refused > approval */
	if (v->kind != NULL && strcmp(v->kind, "refused") == 0)
		return;
	v->kind = kind;
	v->what = what;
	v->why = why;
}

static const char *
relname_or(Oid relid, const char *fallback)
{
	char	   *n = OidIsValid(relid) ? get_rel_name(relid) : NULL;

	return n ? n : fallback;
}

static void
classify_drop(DropStmt *stmt, UtilityVerdict *v)
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
					Oid			relid = range_var_relid(makeRangeVarFromNameList((List *) obj));

					if (in_guard_schema(relid))
						verdict(v, "refused", "DROP", psprintf("%s belongs to agent_guard.", relname_or(relid, "it")));
					else if (!relation_exempt(relid))
						verdict(v, "approval", "DROP", psprintf("It drops %s \"%s\" and its data.",
																stmt->removeType == OBJECT_TABLE ? "table" : "relation",
																relname_or(relid, "?")));
					break;
				}
			case OBJECT_SCHEMA:
				{
					const char *name = strVal(obj);
					Oid			nsp = get_namespace_oid(name, true);

					if (strcmp(name, AG_SCHEMA) == 0)
						verdict(v, "refused", "DROP SCHEMA", pstrdup("The schema agent_guard holds the guard and its record."));
					else if (OidIsValid(nsp) && !object_created_here(nsp) && !isAnyTempNamespace(nsp))
						verdict(v, "approval", "DROP SCHEMA", psprintf("It drops schema \"%s\"%s.", name,
																	   stmt->behavior == DROP_CASCADE ? " and everything in it" : ""));
					break;
				}
			case OBJECT_EXTENSION:
				if (strcmp(strVal(obj), "agent_guard") == 0)
					verdict(v, "refused", "DROP EXTENSION", pstrdup("It would remove the guard."));
				break;
			case OBJECT_TYPE:
			case OBJECT_DOMAIN:
				if (stmt->behavior == DROP_CASCADE)
					verdict(v, "approval", "DROP TYPE ... CASCADE", pstrdup("It drops every column of that type, with the data in it."));
				break;
			case OBJECT_TRIGGER:
			case OBJECT_POLICY:
			case OBJECT_RULE:
				{
					List	   *names = (List *) obj;
					const char *name = strVal(llast(names));
					Oid			relid = range_var_relid(makeRangeVarFromNameList(list_truncate(list_copy(names), list_length(names) - 1)));

					if (strncmp(name, "zz_agent_guard_", 15) == 0 ||
						((stmt->removeType == OBJECT_POLICY) &&
						 (strcmp(name, "ag_hide_deleted") == 0 || strcmp(name, "ag_visible") == 0)))
						verdict(v, "refused", "DROP", psprintf("\"%s\" on \"%s\" is part of the guard.", name, relname_or(relid, "?")));
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

static void
classify_alter_table(AlterTableStmt *stmt, UtilityVerdict *v)
{
	Oid			relid = range_var_relid(stmt->relation);
	bool		protected;
	ListCell   *lc;
	const char *rel = relname_or(relid, "?");

	if (relation_exempt(relid))
		return;
	if (in_guard_schema(relid))
	{
		verdict(v, "refused", "ALTER TABLE", psprintf("%s belongs to agent_guard.", rel));
		return;
	}
	protected = relation_protected(relid);

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
					verdict(v, "refused", "ALTER TABLE ... TRIGGER", psprintf("Table \"%s\" is protected; its triggers record every agent write.", rel));
				break;
			case AT_DisableRowSecurity:
			case AT_NoForceRowSecurity:
				if (protected)
					verdict(v, "refused", "ALTER TABLE ... ROW LEVEL SECURITY", psprintf("Row security on protected table \"%s\" hides soft-deleted rows.", rel));
				break;
			case AT_DropColumn:
				if (protected && is_stamp_column(cmd->name))
					verdict(v, "refused", "ALTER TABLE ... DROP COLUMN", psprintf("Column \"%s\" of \"%s\" is a stamp column of the guard.", cmd->name, rel));
				else
					verdict(v, "approval", "ALTER TABLE ... DROP COLUMN", psprintf("It drops column \"%s\" of \"%s\" and its data.", cmd->name, rel));
				break;
			case AT_AlterColumnType:
				if (protected && is_stamp_column(cmd->name))
					verdict(v, "refused", "ALTER TABLE ... TYPE", psprintf("Column \"%s\" of \"%s\" is a stamp column of the guard.", cmd->name, rel));
				else
					verdict(v, "approval", "ALTER TABLE ... TYPE", psprintf("It rewrites column \"%s\" of \"%s\" to another type.", cmd->name, rel));
				break;
			case AT_DetachPartition:
				if (protected)
					verdict(v, "approval", "ALTER TABLE ... DETACH PARTITION", psprintf("It takes a partition out of protected table \"%s\".", rel));
				break;
			case AT_ChangeOwner:
				if (protected)
					verdict(v, "refused", "ALTER TABLE ... OWNER", psprintf("Table \"%s\" is protected.", rel));
				break;
			default:
				break;
		}
	}
}

static void
classify_utility(Node *parsetree, UtilityVerdict *v)
{
	switch (nodeTag(parsetree))
	{
		case T_DropStmt:
			classify_drop((DropStmt *) parsetree, v);
			break;
		case T_DropdbStmt:
			verdict(v, "approval", "DROP DATABASE",
					psprintf("It drops database \"%s\" and everything in it.", ((DropdbStmt *) parsetree)->dbname));
			break;
		case T_DropOwnedStmt:
			verdict(v, "approval", "DROP OWNED", pstrdup("It drops every object the roles own."));
			break;
		case T_TruncateStmt:
			{
				ListCell   *lc;

				foreach(lc, ((TruncateStmt *) parsetree)->relations)
				{
					Oid			relid = range_var_relid(lfirst_node(RangeVar, lc));

					if (in_guard_schema(relid))
						verdict(v, "refused", "TRUNCATE", psprintf("%s belongs to agent_guard.", relname_or(relid, "it")));
					else if (!relation_exempt(relid))
						verdict(v, "approval", "TRUNCATE", psprintf("It empties table \"%s\".", relname_or(relid, "?")));
				}
				break;
			}
		case T_AlterTableStmt:
			classify_alter_table((AlterTableStmt *) parsetree, v);
			break;
		case T_RenameStmt:
			{
				RenameStmt *r = (RenameStmt *) parsetree;
				Oid			relid = r->relation ? range_var_relid(r->relation) : InvalidOid;

				if (r->renameType == OBJECT_SCHEMA && strcmp(r->subname, AG_SCHEMA) == 0)
					verdict(v, "refused", "ALTER SCHEMA ... RENAME", pstrdup("The schema agent_guard holds the guard."));
				else if ((r->renameType == OBJECT_TRIGGER && r->subname && strncmp(r->subname, "zz_agent_guard_", 15) == 0) ||
						 (r->renameType == OBJECT_POLICY && r->subname && strncmp(r->subname, "ag_", 3) == 0 && relation_protected(relid)))
					verdict(v, "refused", "RENAME", psprintf("\"%s\" is part of the guard.", r->subname));
				else if (OidIsValid(relid) && !relation_exempt(relid) && relation_protected(relid) &&
						 (r->renameType == OBJECT_TABLE || r->renameType == OBJECT_COLUMN))
				{
					if (r->renameType == OBJECT_COLUMN && is_stamp_column(r->subname))
						verdict(v, "refused", "RENAME COLUMN", psprintf("Column \"%s\" is a stamp column of the guard.", r->subname));
					else
						verdict(v, "approval", "RENAME", psprintf("It renames protected table \"%s\"%s.", relname_or(relid, "?"),
																	r->renameType == OBJECT_COLUMN ? " or one of its columns" : ""));
				}
				break;
			}
		case T_AlterObjectSchemaStmt:
			{
				AlterObjectSchemaStmt *a = (AlterObjectSchemaStmt *) parsetree;
				Oid			relid = a->relation ? range_var_relid(a->relation) : InvalidOid;

				if (OidIsValid(relid) && !relation_exempt(relid) && relation_protected(relid))
					verdict(v, "approval", "ALTER TABLE ... SET SCHEMA", psprintf("It moves protected table \"%s\".", relname_or(relid, "?")));
				break;
			}
		case T_AlterPolicyStmt:
			{
				AlterPolicyStmt *p = (AlterPolicyStmt *) parsetree;

				if (strncmp(p->policy_name, "ag_", 3) == 0 && relation_protected(range_var_relid(p->table)))
					verdict(v, "refused", "ALTER POLICY", psprintf("Policy \"%s\" is part of the guard.", p->policy_name));
				break;
			}
		case T_RuleStmt:
			{
				Oid			relid = range_var_relid(((RuleStmt *) parsetree)->relation);

				if (relation_protected(relid))
					verdict(v, "refused", "CREATE RULE", psprintf("A rule on protected table \"%s\" could rewrite agent writes past the guard.", relname_or(relid, "?")));
				break;
			}
		case T_AlterExtensionStmt:
		case T_AlterExtensionContentsStmt:
			{
				const char *ext = IsA(parsetree, AlterExtensionStmt) ?
					((AlterExtensionStmt *) parsetree)->extname :
					((AlterExtensionContentsStmt *) parsetree)->extname;

				if (strcmp(ext, "agent_guard") == 0)
					verdict(v, "refused", "ALTER EXTENSION", pstrdup("It would change the guard."));
				break;
			}
		case T_AlterSystemStmt:
			verdict(v, "refused", "ALTER SYSTEM", pstrdup("Server settings can switch the guard off."));
			break;
		case T_LoadStmt:
			verdict(v, "refused", "LOAD", pstrdup("Loading libraries into the session can subvert the guard."));
			break;
		case T_VariableSetStmt:
			{
				VariableSetStmt *s = (VariableSetStmt *) parsetree;

				if (s->name == NULL)
					break;
				if (strcmp(s->name, "session_replication_role") == 0)
					verdict(v, "refused", "SET session_replication_role", pstrdup("It switches off triggers, the guard's included."));
				else if (strncmp(s->name, "agent_guard.", 12) == 0 &&
						 strcmp(s->name, "agent_guard.agent_id") != 0 &&
						 strcmp(s->name, "agent_guard.run_id") != 0 &&
						 strcmp(s->name, "agent_guard.idempotency_key") != 0)
					verdict(v, "refused", "SET", psprintf("\"%s\" is set by administrators only.", s->name));
				break;
			}
		default:
			break;
	}
}

/* Utility statements that change nothing outside the session. */
static bool
utility_writes(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_TransactionStmt:
		case T_VariableSetStmt:
		case T_VariableShowStmt:
		case T_DiscardStmt:
		case T_PrepareStmt:
		case T_ExecuteStmt:
		case T_DeallocateStmt:
		case T_DeclareCursorStmt:
		case T_FetchStmt:
		case T_ClosePortalStmt:
		case T_ExplainStmt:
		case T_ListenStmt:
		case T_UnlistenStmt:
		case T_NotifyStmt:
		case T_LockStmt:
		case T_VacuumStmt:
		case T_CheckPointStmt:
		case T_DoStmt:
		case T_CallStmt:
			return false;
		case T_CopyStmt:
			{
				CopyStmt   *c = (CopyStmt *) parsetree;

				return c->is_from && c->relation != NULL &&
					!relation_exempt(range_var_relid(c->relation));
			}
		case T_CreateStmt:
			return ((CreateStmt *) parsetree)->relation->relpersistence != RELPERSISTENCE_TEMP;
		case T_CreateTableAsStmt:
			return ((CreateTableAsStmt *) parsetree)->into->rel->relpersistence != RELPERSISTENCE_TEMP;
		case T_ViewStmt:
			return ((ViewStmt *) parsetree)->view->relpersistence != RELPERSISTENCE_TEMP;
		case T_CreateSeqStmt:
			return ((CreateSeqStmt *) parsetree)->sequence->relpersistence != RELPERSISTENCE_TEMP;
		default:
			return true;
	}
}

void
ag_gate_utility(PlannedStmt *pstmt, const char *queryString)
{
	UtilityVerdict v = {NULL, NULL, NULL};
	Node	   *parsetree = pstmt->utilityStmt;
	const char *text = queryString;
	int			len = 0;

	if (parsetree == NULL || IsA(parsetree, TransactionStmt) || !gate_active())
		return;

	if (text != NULL)
	{
		if (pstmt->stmt_location > 0)
			text += pstmt->stmt_location;
		len = pstmt->stmt_len > 0 ? pstmt->stmt_len : (int) strlen(text);
	}

	classify_utility(parsetree, &v);
	{
		/* the structure of protected tables belongs to the guard */
		AgStructureVerdict sv = {NULL, NULL, NULL};

		ag_structure_classify(parsetree, &sv);
		if (sv.kind != NULL)
			verdict(&v, sv.kind, sv.what, sv.why);
	}
	if (v.kind != NULL && strcmp(v.kind, "refused") == 0)
		gate_decide(v.kind, v.what, v.why, text, len, 0);

	ag_policy_utility(parsetree, text, len);

	if (utility_writes(parsetree))
	{
		load_state();
		if (frozen_all || frozen_me)
			gate_decide("frozen", CreateCommandName(parsetree),
						psprintf("Writes of %s are frozen: %s", frozen_me ? "this agent" : "all agents",
								 frozen_me ? frozen_me : frozen_all),
						text, len, 0);
		if (tripped_me || tripped_local)
			gate_decide("tripped", CreateCommandName(parsetree),
						psprintf("The run wrote more than agent_guard.max_rows_per_run (%d) rows.", max_rows_per_run),
						text, len, run_rows);
	}

	if (v.kind != NULL)
		gate_decide(v.kind, v.what, v.why, text, len, 0);
}

void
ag_gate_utility_done(PlannedStmt *pstmt, const char *queryString, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	const char *text = queryString;
	int			len = 0;

	if (parsetree == NULL || !IsA(parsetree, CopyStmt) || qc == NULL ||
		!((CopyStmt *) parsetree)->is_from || !gate_active())
		return;
	if (text != NULL)
	{
		if (pstmt->stmt_location > 0)
			text += pstmt->stmt_location;
		len = pstmt->stmt_len > 0 ? pstmt->stmt_len : (int) strlen(text);
	}
	stmt_rows += qc->nprocessed;
	run_rows += qc->nprocessed;
	if (!relation_exempt(range_var_relid(((CopyStmt *) parsetree)->relation)))
		ag_policy_rows_written("COPY", qc->nprocessed, text, len);
	if (max_rows_per_statement >= 0 && stmt_rows > (uint64) max_rows_per_statement)
	{
		stmt_rows = 0;
		gate_decide("approval", "COPY",
					psprintf("It wrote " UINT64_FORMAT " rows, more than agent_guard.max_rows_per_statement (%d).",
							 qc->nprocessed, max_rows_per_statement),
					text, len, (int64) qc->nprocessed);
	}
	if (max_rows_per_run >= 0 && run_rows > (uint64) max_rows_per_run)
		gate_decide("tripped", "COPY",
					psprintf("The run has written " UINT64_FORMAT " rows, more than agent_guard.max_rows_per_run (%d).",
							 run_rows, max_rows_per_run),
					text, len, (int64) run_rows);
}

/* ---------------------------------------------------------------------
 * The journal worker writes the queue (journal.c calls these)
 * ---------------------------------------------------------------------
 */

/* Write the pending requests of this database; caller is connected to SPI. */
int
ag_gate_drain(void)
{
	int			i;
	int			written = 0;
	AgGateEntry *batch;
	int			n = 0;

	if (gate == NULL)
		return 0;
	if (!OidIsValid(get_namespace_oid(AG_SCHEMA, true)) ||
		!OidIsValid(get_relname_relid("request_log", get_namespace_oid(AG_SCHEMA, true))))
		return 0;

	batch = palloc(sizeof(AgGateEntry) * AG_GATE_QUEUE);
	LWLockAcquire(gate->lock, LW_EXCLUSIVE);
	for (i = 0; i < AG_GATE_QUEUE; i++)
	{
		AgGateEntry *e = &gate->entries[i];

		/* TAKEN by an earlier pass that failed: ours to redo */
		if (e->dboid == MyDatabaseId &&
			(e->state == ENTRY_PENDING || e->state == ENTRY_TAKEN))
		{
			e->state = ENTRY_TAKEN;
			batch[n++] = *e;
		}
	}
	LWLockRelease(gate->lock);

	for (i = 0; i < n; i++)
	{
		AgGateEntry *e = &batch[i];
		Oid			types[10] = {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID};
		Datum		values[10];
		char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
		int			rc;

		values[0] = Int64GetDatum(e->request_id);
		values[1] = TimestampTzGetDatum(e->at);
		values[2] = CStringGetTextDatum(e->agent);
		values[3] = CStringGetTextDatum(e->run);
		if (e->run[0] == '\0')
			nulls[3] = 'n';
		values[4] = CStringGetTextDatum(e->login);
		values[5] = CStringGetTextDatum(e->kind);
		values[6] = CStringGetTextDatum(e->reason);
		values[7] = CStringGetTextDatum(e->statement);
		values[8] = Int64GetDatum(e->hash);
		values[9] = Int64GetDatum(e->rows);

		rc = SPI_execute_with_args(
								   "WITH r AS (INSERT INTO agent_guard.request_log (request_id, requested_at, agent_id, run_id, "
								   "            login_role, kind, status, reason, statement, statement_hash) "
								   "          VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6 = 'approval' THEN 'pending' ELSE 'refused' END, "
								   "                  $7, $8, $9) "
								   "          ON CONFLICT (request_id) DO NOTHING RETURNING request_id), "
								   "     e AS (INSERT INTO agent_guard.events (at, agent_id, run_id, login_role, operation, detail) "
								   "          SELECT $2, $3, $4, $5, 'BLOCKED', pg_catalog.jsonb_build_object('request_id', $1, "
								   "                 'kind', $6, 'reason', $7, 'statement', $8, 'rows', $10) FROM r RETURNING 1), "
								   "     t AS (INSERT INTO agent_guard.tripped_runs (run_id, agent_id, tripped_at, rows_seen, request_id) "
								   "          SELECT $4, $3, $2, $10, $1 FROM r WHERE $6 = 'tripped' AND $4 IS NOT NULL "
								   "          ON CONFLICT (run_id) DO NOTHING RETURNING 1) "
								   "SELECT pg_catalog.pg_notify('agent_guard', pg_catalog.jsonb_build_object('event', 'blocked', "
								   "       'request_id', $1, 'agent_id', $3, 'run_id', $4, 'kind', $6, 'reason', $7, "
								   "       'statement', pg_catalog.left($8, 200))::text), "
								   "       (SELECT count(*) FROM e), (SELECT count(*) FROM t) FROM r",
								   10, types, values, nulls, false, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "agent_guard: could not record request " INT64_FORMAT ": %s",
				 e->request_id, SPI_result_code_string(rc));
		written++;
	}
	pfree(batch);

	/* the transaction the entries are written by, for the time they stay on show */
	if (n > 0)
	{
		TransactionId xid = GetCurrentTransactionId();

		LWLockAcquire(gate->lock, LW_EXCLUSIVE);
		for (i = 0; i < AG_GATE_QUEUE; i++)
		{
			AgGateEntry *e = &gate->entries[i];

			if (e->dboid == MyDatabaseId && e->state == ENTRY_TAKEN)
				e->writer_xid = xid;
		}
		LWLockRelease(gate->lock);
	}
	return written;
}

/* After the draining transaction committed: the entries are written, tell all. */
void
ag_gate_drain_committed(void)
{
	int			i;
	bool		any = false;

	if (gate == NULL)
		return;
	LWLockAcquire(gate->lock, LW_EXCLUSIVE);
	for (i = 0; i < AG_GATE_QUEUE; i++)
	{
		AgGateEntry *e = &gate->entries[i];

		if (e->dboid == MyDatabaseId && e->state == ENTRY_TAKEN)
		{
			e->state = ENTRY_WRITTEN;
			any = true;
		}
	}
	LWLockRelease(gate->lock);
	if (any)
		pg_atomic_fetch_add_u64(&gate->generation, 1);
}

/* ---------------------------------------------------------------------
 * SQL-callable
 * ---------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(ag_sql_pending_requests);
Datum
ag_sql_pending_requests(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	TransactionId horizon;

	InitMaterializedSRF(fcinfo, 0);
	if (gate == NULL)
		return (Datum) 0;

	horizon = GetOldestNonRemovableTransactionId(NULL);
	LWLockAcquire(gate->lock, LW_SHARED);
	for (i = 0; i < AG_GATE_QUEUE; i++)
	{
		AgGateEntry *e = &gate->entries[i];
		Datum		values[8];
		bool		nulls[8] = {0};

		if (e->state == ENTRY_FREE || e->dboid != MyDatabaseId)
			continue;
		/* written, and every snapshot sees the row (or its removal) */
		if (entry_settled(e, horizon))
			continue;
		values[0] = Int64GetDatum(e->request_id);
		values[1] = TimestampTzGetDatum(e->at);
		values[2] = CStringGetTextDatum(e->agent);
		values[3] = CStringGetTextDatum(e->run);
		nulls[3] = (e->run[0] == '\0');
		values[4] = CStringGetTextDatum(e->login);
		values[5] = CStringGetTextDatum(e->kind);
		values[6] = CStringGetTextDatum(e->reason);
		values[7] = CStringGetTextDatum(e->statement);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(gate->lock);
	return (Datum) 0;
}

static bool
pending_here(void)
{
	int			i;
	bool		pending = false;

	LWLockAcquire(gate->lock, LW_SHARED);
	for (i = 0; i < AG_GATE_QUEUE && !pending; i++)
		pending = ((gate->entries[i].state == ENTRY_PENDING || gate->entries[i].state == ENTRY_TAKEN) &&
				   gate->entries[i].dboid == MyDatabaseId);
	LWLockRelease(gate->lock);
	return pending;
}

PG_FUNCTION_INFO_V1(ag_sql_flush_requests);
Datum
ag_sql_flush_requests(PG_FUNCTION_ARGS)
{
	int			waited = 0;

	if (gate == NULL)
		PG_RETURN_BOOL(true);
	while (pending_here() && waited < 10000)
	{
		ag_journal_wake(MyDatabaseId);
		pg_usleep(10 * 1000L);
		waited += 10;
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_BOOL(!pending_here());
}

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
	{
		list_free_deep(preview_rows);
		preview_rows = NIL;
		preview_saved_run_rows = run_rows;
	}
	else
		run_rows = preview_saved_run_rows;	/* the preview's rows were rolled back */
	preview_mode = on;
	PG_RETURN_VOID();
}

/* SQL: agent_guard._preview_rows(): what the preview saw, in order. */
PG_FUNCTION_INFO_V1(ag_sql_preview_rows);
Datum
ag_sql_preview_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, preview_rows)
	{
		PreviewRow *r = lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {0};

		values[0] = r->relation ? CStringGetTextDatum(r->relation) : (Datum) 0;
		nulls[0] = (r->relation == NULL);
		values[1] = CStringGetTextDatum(r->operation);
		values[2] = Int64GetDatum(r->rows);
		values[3] = CStringGetTextDatum(r->verdict);
		values[4] = r->detail ? CStringGetTextDatum(r->detail) : (Datum) 0;
		nulls[4] = (r->detail == NULL);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
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

	ag_shmem_register(AG_GATE_TRANCHE, sizeof(AgGateShared), (void **) &gate, gate_shmem_init);
	prev_object_access_hook = object_access_hook;
	object_access_hook = gate_object_access;
	RegisterXactCallback(gate_xact_callback, NULL);
}
