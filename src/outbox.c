/*-------------------------------------------------------------------------
 * outbox.c
 *		What must outlive the agent's transaction: the queue of refused
 *		statements, in shared memory, and the generation counter that tells
 *		every backend the guard's state changed.
 *
 * A refusal aborts the agent's transaction, and PostgreSQL has no
 * autonomous transactions, so the refusal path (refusal.c) puts the
 * request into this queue and wakes this database's worker (worker.c),
 * which writes it (request row, BLOCKED event, tripped run, NOTIFY
 * agent_guard) in a transaction of its own: ag_outbox_drain().  The
 * refusing session then waits (refusal.c) until the transaction that wrote
 * its request has committed and its commit record is flushed
 * (ag_outbox_durable()), and only then raises its error: the request the
 * error names is on record, and stays so across a crash or a restart
 * (issue 16).  If the queue is full, or no writer commits the request in
 * time, it refuses with YG009 instead.  One database may hold at most
 * AG_OUTBOX_PER_DATABASE unwritten entries, so that a database whose worker
 * does not run (no free worker slot) cannot fill the queue of all others.
 *
 * The worker is not the only writer.  A database's sealer may never start
 * (max_worker_processes exhausted), and the agent was told to ask for
 * approval of its request: so the humans' functions that read or decide
 * requests (approve, deny, reset_run, the postmortem, record_requests)
 * first write this database's unwritten entries in their own transaction
 * (ag_outbox_record_here()), which is a normal one.  Several writers may
 * drain the same database at once: each row is inserted with ON CONFLICT
 * DO NOTHING, which waits for a concurrent insert of the same request and
 * writes it only if that one rolled back.
 *
 * An entry is PENDING until a writer takes it, TAKEN (by taker) while the
 * writer's transaction writes it to request_log, and WRITTEN once that
 * committed, with the end of its commit record (commit_lsn).  What a
 * backend took is remembered until its transaction ends (the callbacks
 * below): at commit its entries are WRITTEN and the refusing sessions that
 * wait for them are woken (written_cv); at abort, or when the
 * subtransaction that wrote them aborts, they are PENDING again.  A writer
 * may commit asynchronously (synchronous_commit = off for a human, or for
 * the database): the waiting session flushes the WAL up to commit_lsn
 * itself, which costs nothing when the writer's commit flushed it already.
 * An entry TAKEN by a process that is gone is taken again.
 * agent_guard.requests reads request_log with the reader's snapshot and the
 * queue live; a snapshot taken before the write committed does not see the
 * row, so the entry stays on show until no snapshot can miss the row
 * (writer_xid behind every backend's xmin).  Only then is the slot reused,
 * or earlier when the queue is full.
 *
 * Freezes, tripped runs and policies live in tables (they survive
 * restarts); the generation counter, bumped when they change, tells each
 * backend to reload them, so the check per statement is one atomic read.
 *
 * Locking: OutboxShared->lock (one LWLock, tranche "agent_guard gate")
 * guards the queue entries; the generation counter is atomic; written_cv
 * is broadcast after the lock is released.  The lock is
 * held only to copy entries in or out: everything that can look up the
 * catalog, allocate or raise an error happens before or after.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "agent_guard.h"
#include "outbox.h"
#include "owner_spi.h"

#define AG_OUTBOX_QUEUE 128
/* unwritten entries one database may hold: the rest is for the others */
#define AG_OUTBOX_PER_DATABASE (AG_OUTBOX_QUEUE / 4)
#define AG_OUTBOX_TEXT 2048
#define AG_OUTBOX_REASON 2048
/* the tranche keeps its 1.1 name: monitoring may know it */
#define AG_OUTBOX_TRANCHE "agent_guard gate"

typedef enum
{
	ENTRY_FREE = 0,
	ENTRY_PENDING,
	ENTRY_TAKEN,
	ENTRY_WRITTEN
} EntryState;

typedef struct AgOutboxEntry
{
	EntryState	state;
	pid_t		taker;			/* TAKEN: the process writing it */
	TransactionId writer_xid;	/* WRITTEN: the transaction that wrote it */
	XLogRecPtr	commit_lsn;		/* WRITTEN: the end of its commit record */
	Oid			dboid;
	int64		request_id;
	TimestampTz at;
	char		kind[16];
	char		agent[AG_MAX_ID_LEN + 1];
	char		run[AG_MAX_ID_LEN + 1];
	char		login[NAMEDATALEN];
	char		reason[AG_OUTBOX_REASON];
	char		statement[AG_OUTBOX_TEXT];
	bool		statement_truncated;	/* statement holds the start only */
	AgKeyDigest text_digest;	/* SHA-256 of the whole statement */
	char		parameters[AG_OUTBOX_TEXT]; /* "": none */
	int64		hash;
	AgKeyDigest digest;
	int64		rows;
	AgTableRows table_rows;		/* a row limit's rows per table; n = 0: none */
	bool		source_truncated;	/* the reason cuts the text the plan was made from */
	bool		has_source;
	AgKeyDigest source_digest;	/* SHA-256 of that text, whole */
} AgOutboxEntry;

typedef struct AgOutboxShared
{
	LWLock	   *lock;
	pg_atomic_uint64 generation;
	ConditionVariable written_cv;	/* broadcast when entries are WRITTEN */
	AgOutboxEntry entries[AG_OUTBOX_QUEUE];
} AgOutboxShared;

static AgOutboxShared *outbox = NULL;

/*
 * What this backend took in its current transaction, and at which
 * subtransaction level: settled by the transaction callbacks.
 */
typedef struct TakenEntry
{
	int64		request_id;
	int			level;
} TakenEntry;

static TakenEntry taken[AG_OUTBOX_QUEUE];
static int	n_taken = 0;
static TransactionId taken_xid = InvalidTransactionId;

/* a new area: generation 1 (backends start at 0, so they all load) */
static void
outbox_shmem_init(void *area)
{
	pg_atomic_init_u64(&((AgOutboxShared *) area)->generation, 1);
	ConditionVariableInit(&((AgOutboxShared *) area)->written_cv);
}

static double notify_queue_limit = 0.5;

static void outbox_xact_callback(XactEvent event, void *arg);
static void outbox_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									SubTransactionId parentSubid, void *arg);

void
ag_outbox_init(void)
{
	ag_shmem_register(AG_OUTBOX_TRANCHE, sizeof(AgOutboxShared), (void **) &outbox,
					  outbox_shmem_init);
	DefineCustomRealVariable("agent_guard.notify_queue_limit",
							 gettext_noop("How full PostgreSQL's NOTIFY queue may be for the guard still to notify on channel agent_guard."),
							 gettext_noop("Above it the guard's wake-ups are skipped with a WARNING, so that freezes, policies, decisions and recording never fail at commit on a full queue; 0 sends none."),
							 &notify_queue_limit, 0.5, 0.0, 1.0,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	RegisterXactCallback(outbox_xact_callback, NULL);
	RegisterSubXactCallback(outbox_subxact_callback, NULL);
}

/* Bumped whenever freezes, trips or policies change (at commit). */
uint64
ag_state_generation(void)
{
	return outbox != NULL ? pg_atomic_read_u64(&outbox->generation) : 0;
}

void
ag_state_bump(void)
{
	if (outbox != NULL)
		pg_atomic_fetch_add_u64(&outbox->generation, 1);
}

/*
 * Copy a request's reason or parameter values into the entry's buffer:
 * text that does not fit ends with a mark, so that the human knows what
 * is read is not all of it (the error the agent got has the reason whole;
 * the approval is bound to every value).  The cut is on a character
 * boundary: a cut through a character would be a byte sequence that is
 * not text, which the log could be sealed over but never verified
 * (convert_to() refuses it).
 */
static bool
copy_marked(char *dst, const char *src, size_t size, const char *what)
{
	char		mark[64];
	size_t		len = strlen(src);
	size_t		mlen;
	int			kept;

	if (len < size)
	{
		memcpy(dst, src, len + 1);
		return false;
	}
	mlen = snprintf(mark, sizeof(mark), " [agent_guard: %s truncated]", what);
	kept = pg_mbcliplen(src, (int) Min(len, (size_t) PG_INT32_MAX), (int) (size - 1 - mlen));
	memcpy(dst, src, kept);
	memcpy(dst + kept, mark, mlen + 1);
	return true;
}

/*
 * Copy a statement into the entry's buffer.  One that does not fit keeps
 * its start and ends with a line that says so: an approval lets the whole
 * statement run, so the human must see that the record is not all of it
 * (red team 4, finding 10).  The request says it too
 * (request_log.statement_truncated), and approve() refuses such a request
 * unless the human passes the whole text, checked against text_digest.
 * Returns whether the text was cut.
 */
static bool
copy_statement(char *dst, const char *src, size_t size)
{
	size_t		len = strlen(src);
	char		mark[128];
	int			kept;

	if (len < size)
	{
		memcpy(dst, src, len + 1);
		return false;
	}
	/*
	 * Room for the mark, measured with size in place of the bytes kept
	 * (never more digits); then the start, cut on a character boundary.
	 */
	snprintf(mark, sizeof(mark),
			 "\n[agent_guard: statement truncated: the first %d of %zu bytes are recorded]",
			 (int) size, len);
	kept = pg_mbcliplen(src, (int) Min(len, (size_t) PG_INT32_MAX), (int) (size - 1 - strlen(mark)));
	memcpy(dst, src, kept);
	snprintf(dst + kept, size - kept,
			 "\n[agent_guard: statement truncated: the first %d of %zu bytes are recorded]",
			 kept, len);
	return true;
}

/*
 * A row limit's rows per table as request_log.table_rows keeps them:
 * {"relation oid": rows, ...}, "0" for the tables past the first
 * AG_ROW_TABLES - 1 together.
 */
char *
ag_table_rows_json(const AgTableRows *t)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < t->n; i++)
		appendStringInfo(&buf, "%s\"%u\": " INT64_FORMAT, i > 0 ? ", " : "", t->relid[i], t->rows[i]);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* A written entry whose row every snapshot sees: no longer to be shown. */
static inline bool
entry_settled(const AgOutboxEntry *e, TransactionId horizon)
{
	return e->state == ENTRY_WRITTEN && TransactionIdPrecedes(e->writer_xid, horizon);
}

/* Not yet on record: waiting for a writer, or being written. */
static inline bool
entry_unwritten(const AgOutboxEntry *e)
{
	return e->state == ENTRY_PENDING || e->state == ENTRY_TAKEN;
}

/*
 * Queue a request.  The entry is filled in local memory first, so the lock
 * is held only for the search and one copy.  false: the queue is full, or
 * this database holds AG_OUTBOX_PER_DATABASE unwritten entries.
 */
bool
ag_outbox_put(const AgOutboxRequest *r)
{
	AgOutboxEntry *local;
	AgOutboxEntry *e = NULL;
	AgOutboxEntry *oldest_written = NULL;
	TransactionId horizon;
	int			mine = 0;
	int			i;

	if (outbox == NULL)
		return false;

	local = palloc0(sizeof(AgOutboxEntry));
	local->dboid = MyDatabaseId;
	local->request_id = r->request_id;
	local->at = GetCurrentTimestamp();
	strlcpy(local->kind, r->kind, sizeof(local->kind));
	strlcpy(local->agent, r->agent ? r->agent : "", sizeof(local->agent));
	strlcpy(local->run, r->run ? r->run : "", sizeof(local->run));
	strlcpy(local->login, r->login ? r->login : "", sizeof(local->login));
	/*
	 * A reason cut here may cut the text the plan was made from that it
	 * shows (at its end): then the human cannot read it all either.
	 */
	local->source_truncated = copy_marked(local->reason, r->reason ? r->reason : "",
										  sizeof(local->reason), "reason") && r->has_source;
	local->source_truncated |= r->source_truncated;
	local->has_source = r->has_source;
	local->source_digest = r->source_digest;
	if (r->table_rows != NULL)
		local->table_rows = *r->table_rows;
	local->statement_truncated = copy_statement(local->statement, r->statement ? r->statement : "",
												sizeof(local->statement));
	local->text_digest = r->text_digest;
	copy_marked(local->parameters, r->parameters ? r->parameters : "", sizeof(local->parameters),
				"parameters");
	local->hash = r->hash;
	local->digest = r->digest;
	local->rows = r->rows;
	local->state = ENTRY_PENDING;
	horizon = GetOldestNonRemovableTransactionId(NULL);

	LWLockAcquire(outbox->lock, LW_EXCLUSIVE);
	for (i = 0; i < AG_OUTBOX_QUEUE; i++)
	{
		AgOutboxEntry *c = &outbox->entries[i];

		if (c->dboid == MyDatabaseId && entry_unwritten(c))
			mine++;
		else if (e != NULL)
			continue;
		else if (c->state == ENTRY_FREE || entry_settled(c, horizon))
			e = c;
		else if (c->state == ENTRY_WRITTEN &&
				 (oldest_written == NULL || c->request_id < oldest_written->request_id))
			oldest_written = c;
	}
	/* a full queue takes the oldest written entry, still on show or not */
	if (e == NULL)
		e = oldest_written;
	if (mine >= AG_OUTBOX_PER_DATABASE)
		e = NULL;
	if (e != NULL)
		memcpy(e, local, sizeof(AgOutboxEntry));
	LWLockRelease(outbox->lock);
	pfree(local);
	return e != NULL;
}

/*
 * The request row, its BLOCKED event, a tripped run, the notification.
 * statement_digest is what an approval is consumed by (gate.c).
 * Any role may LISTEN on channel agent_guard, agents too, so the
 * notification names the request and no more (no statement, parameters
 * or reason): the statement of one agent is not another's to read, and
 * humans read it in agent_guard.requests, which agents may not.
 * request_log.parameters and statement_digest came with 1.2, and tripped
 * runs keyed by agent and run; a database still at 1.1 (the new library
 * runs it until ALTER EXTENSION UPDATE) gets drain_plan_11.
 * The notification is a wake-up only, sent while PostgreSQL's NOTIFY queue
 * is less full than agent_guard.notify_queue_limit: a full queue (any
 * session can fill it) fails the notifying transaction at commit, and the
 * requests must be recorded whatever the queue (red team 13, F4).
 */
static AgKeptPlan drain_plan = {
	"WITH r AS (INSERT INTO agent_guard.request_log (request_id, requested_at, agent_id, run_id, "
	"            login_role, kind, status, reason, statement, statement_hash, parameters, statement_digest, "
	"            statement_truncated, statement_sha256, table_rows, source_truncated, source_sha256) "
	"          VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6 OPERATOR(pg_catalog.=) 'approval' THEN 'pending' ELSE 'refused' END, "
	"                  $7, $8, $9, $11, $12, $13, $14, $15::pg_catalog.jsonb, $16, $17) "
	"          ON CONFLICT (request_id) DO NOTHING RETURNING request_id), "
	"     e AS (INSERT INTO agent_guard.events (at, agent_id, run_id, login_role, operation, detail) "
	"          SELECT $2, $3, $4, $5, 'BLOCKED', pg_catalog.jsonb_build_object('request_id', $1, "
	"                 'kind', $6, 'reason', $7, 'statement', $8, 'rows', $10) "
	"                 OPERATOR(pg_catalog.||) pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('parameters', $11, "
	"                 'statement_truncated', CASE WHEN $13 THEN true END, "
	"                 'source_truncated', CASE WHEN $16 THEN true END)) "
	"            FROM r RETURNING 1), "
	"     t AS (INSERT INTO agent_guard.tripped_runs (run_id, agent_id, tripped_at, rows_seen, request_id) "
	"          SELECT $4, $3, $2, $10, $1 FROM r WHERE $6 OPERATOR(pg_catalog.=) 'tripped' AND $4 IS NOT NULL "
	"          ON CONFLICT (agent_id, run_id) DO NOTHING RETURNING 1) "
	"SELECT CASE WHEN pg_catalog.pg_notification_queue_usage() OPERATOR(pg_catalog.<) "
	"            pg_catalog.current_setting('agent_guard.notify_queue_limit')::pg_catalog.float8 "
	"       THEN pg_catalog.pg_notify('agent_guard', pg_catalog.jsonb_build_object('event', 'blocked', "
	"       'request_id', $1, 'agent_id', $3, 'run_id', $4, 'kind', $6)::text) END IS NOT NULL, "
	"       (SELECT pg_catalog.count(*) FROM e), (SELECT pg_catalog.count(*) FROM t) FROM r",
	17, {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, TEXTOID, BYTEAOID,
	BOOLOID, BYTEAOID, TEXTOID, BOOLOID, BYTEAOID}
};

static AgKeptPlan drain_plan_11 = {
	"WITH r AS (INSERT INTO agent_guard.request_log (request_id, requested_at, agent_id, run_id, "
	"            login_role, kind, status, reason, statement, statement_hash) "
	"          VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6 OPERATOR(pg_catalog.=) 'approval' THEN 'pending' ELSE 'refused' END, "
	"                  $7, $8, $9) "
	"          ON CONFLICT (request_id) DO NOTHING RETURNING request_id), "
	"     e AS (INSERT INTO agent_guard.events (at, agent_id, run_id, login_role, operation, detail) "
	"          SELECT $2, $3, $4, $5, 'BLOCKED', pg_catalog.jsonb_build_object('request_id', $1, "
	"                 'kind', $6, 'reason', $7, 'statement', $8, 'rows', $10) FROM r RETURNING 1), "
	"     t AS (INSERT INTO agent_guard.tripped_runs (run_id, agent_id, tripped_at, rows_seen, request_id) "
	"          SELECT $4, $3, $2, $10, $1 FROM r WHERE $6 OPERATOR(pg_catalog.=) 'tripped' AND $4 IS NOT NULL "
	"          ON CONFLICT (run_id) DO NOTHING RETURNING 1) "
	"SELECT CASE WHEN pg_catalog.pg_notification_queue_usage() OPERATOR(pg_catalog.<) "
	"            pg_catalog.current_setting('agent_guard.notify_queue_limit')::pg_catalog.float8 "
	"       THEN pg_catalog.pg_notify('agent_guard', pg_catalog.jsonb_build_object('event', 'blocked', "
	"       'request_id', $1, 'agent_id', $3, 'run_id', $4, 'kind', $6)::text) END IS NOT NULL, "
	"       (SELECT pg_catalog.count(*) FROM e), (SELECT pg_catalog.count(*) FROM t) FROM r",
	10, {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID}
};

/*
 * Write the unwritten requests of this database in the current transaction,
 * connected to SPI: the sealer's (worker.c) and ag_outbox_record_here()'s.
 * It takes the PENDING entries and those TAKEN by a process that is gone;
 * what it took is settled when the transaction ends.  Returns how many it
 * took.
 */
int
ag_outbox_drain(void)
{
	int			i;
	int			j;
	int			written = 0;
	int			unsent = 0;
	AgOutboxEntry *batch;
	int			n = 0;
	pid_t	   *gone;
	int			n_gone = 0;
	int			level = GetCurrentTransactionNestLevel();
	Oid			nsp;
	Oid			log_relid;
	bool		with_parameters;

	if (outbox == NULL)
		return 0;
	nsp = ag_guard_namespace();
	log_relid = OidIsValid(nsp) ? get_relname_relid("request_log", nsp) : InvalidOid;
	if (!OidIsValid(log_relid))
		return 0;
	/* parameters and statement_digest came with 1.2 */
	with_parameters = (get_attnum(log_relid, "statement_digest") != InvalidAttrNumber);

	/* the other writers of this database; those that are gone left their entries */
	gone = palloc(sizeof(pid_t) * AG_OUTBOX_QUEUE);
	LWLockAcquire(outbox->lock, LW_SHARED);
	for (i = 0; i < AG_OUTBOX_QUEUE; i++)
	{
		AgOutboxEntry *e = &outbox->entries[i];

		if (e->dboid == MyDatabaseId && e->state == ENTRY_TAKEN && e->taker != MyProcPid)
			gone[n_gone++] = e->taker;
	}
	LWLockRelease(outbox->lock);
	for (j = 0; j < n_gone; j++)
	{
		if (BackendPidGetProc(gone[j]) != NULL)
			gone[j] = 0;		/* alive: its transaction writes them */
	}

	batch = palloc(sizeof(AgOutboxEntry) * AG_OUTBOX_QUEUE);
	LWLockAcquire(outbox->lock, LW_EXCLUSIVE);
	for (i = 0; i < AG_OUTBOX_QUEUE; i++)
	{
		AgOutboxEntry *e = &outbox->entries[i];
		bool		take = false;

		if (e->dboid != MyDatabaseId)
			continue;
		if (e->state == ENTRY_PENDING)
			take = true;
		else if (e->state == ENTRY_TAKEN && e->taker != MyProcPid)
		{
			for (j = 0; j < n_gone && !take; j++)
				take = (gone[j] != 0 && gone[j] == e->taker);
		}
		if (take && n_taken < AG_OUTBOX_QUEUE)
		{
			e->state = ENTRY_TAKEN;
			e->taker = MyProcPid;
			batch[n++] = *e;
			taken[n_taken].request_id = e->request_id;
			taken[n_taken].level = level;
			n_taken++;
		}
	}
	LWLockRelease(outbox->lock);
	pfree(gone);

	for (i = 0; i < n; i++)
	{
		AgOutboxEntry *e = &batch[i];
		Datum		values[17];
		char		nulls[17] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
		bytea	   *digest = palloc(VARHDRSZ + AG_KEY_DIGEST_LEN);
		bytea	   *text_digest = palloc(VARHDRSZ + AG_KEY_DIGEST_LEN);
		bytea	   *source_digest = palloc(VARHDRSZ + AG_KEY_DIGEST_LEN);
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
		values[10] = CStringGetTextDatum(e->parameters);
		if (e->parameters[0] == '\0')
			nulls[10] = 'n';
		SET_VARSIZE(digest, VARHDRSZ + AG_KEY_DIGEST_LEN);
		memcpy(VARDATA(digest), e->digest.d, AG_KEY_DIGEST_LEN);
		values[11] = PointerGetDatum(digest);
		values[12] = BoolGetDatum(e->statement_truncated);
		SET_VARSIZE(text_digest, VARHDRSZ + AG_KEY_DIGEST_LEN);
		memcpy(VARDATA(text_digest), e->text_digest.d, AG_KEY_DIGEST_LEN);
		values[13] = PointerGetDatum(text_digest);
		values[14] = (Datum) 0;
		nulls[14] = 'n';
		if (e->table_rows.n > 0)
		{
			values[14] = CStringGetTextDatum(ag_table_rows_json(&e->table_rows));
			nulls[14] = ' ';
		}
		values[15] = BoolGetDatum(e->source_truncated);
		SET_VARSIZE(source_digest, VARHDRSZ + AG_KEY_DIGEST_LEN);
		memcpy(VARDATA(source_digest), e->source_digest.d, AG_KEY_DIGEST_LEN);
		values[16] = PointerGetDatum(source_digest);
		if (!e->has_source)
			nulls[16] = 'n';

		rc = ag_kept_execute(with_parameters ? &drain_plan : &drain_plan_11, values, nulls, false, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "agent_guard: could not record request " INT64_FORMAT ": %s",
				 e->request_id, SPI_result_code_string(rc));
		if (SPI_processed > 0)
		{
			bool		isnull;
			Datum		sent = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull && !DatumGetBool(sent))
				unsent++;
		}
		written++;
	}
	pfree(batch);
	if (unsent > 0)
		ereport(WARNING,
				(errmsg("agent_guard: %d notification(s) on channel \"agent_guard\" not sent: the NOTIFY queue is too full",
						unsent),
				 errdetail("The limit is agent_guard.notify_queue_limit = %g. Only the wake-up of listeners is lost: the requests are recorded in agent_guard.requests.",
						   notify_queue_limit),
				 errhint("A session that listens but does not read holds the queue: see pg_stat_activity and pg_listening_channels(), and end it with pg_terminate_backend().")));

	/* the transaction the entries are written by, for the time they stay on show */
	if (n > 0)
		taken_xid = GetTopTransactionId();
	return written;
}

/*
 * Settle what this backend took at subtransaction level from or deeper:
 * written (its transaction committed) or back to PENDING.  Called from the
 * transaction callbacks, where no lock of ours is held.  Returns whether
 * any entry was written.
 */
static bool
settle_taken(int from_level, bool written)
{
	int			i;
	int			j;
	int			kept = 0;
	bool		any = false;

	if (outbox == NULL || n_taken == 0)
		return false;
	LWLockAcquire(outbox->lock, LW_EXCLUSIVE);
	for (j = 0; j < n_taken; j++)
	{
		if (taken[j].level < from_level)
		{
			taken[kept++] = taken[j];
			continue;
		}
		for (i = 0; i < AG_OUTBOX_QUEUE; i++)
		{
			AgOutboxEntry *e = &outbox->entries[i];

			if (e->dboid != MyDatabaseId || e->request_id != taken[j].request_id ||
				e->state != ENTRY_TAKEN || e->taker != MyProcPid)
				continue;
			if (written)
			{
				e->state = ENTRY_WRITTEN;
				e->writer_xid = taken_xid;
				/* set by RecordTransactionCommit() before the callbacks */
				e->commit_lsn = XactLastCommitEnd;
				any = true;
			}
			else
				e->state = ENTRY_PENDING;
			e->taker = 0;
			break;
		}
	}
	n_taken = kept;
	LWLockRelease(outbox->lock);
	if (any)
		ConditionVariableBroadcast(&outbox->written_cv);
	return any;
}

/*
 * The transaction that took entries ended: committed, they are on record;
 * rolled back, another writer takes them again.  A transaction that wrote
 * requests cannot be prepared: its rows would wait for COMMIT PREPARED, and
 * every other writer of this database with them.
 */
static void
outbox_xact_callback(XactEvent event, void *arg)
{
	if (n_taken == 0)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (settle_taken(0, true))
				ag_state_bump();
			taken_xid = InvalidTransactionId;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			(void) settle_taken(0, false);
			taken_xid = InvalidTransactionId;
			break;
		case XACT_EVENT_PRE_PREPARE:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot PREPARE a transaction that recorded refused statements of agents"),
					 errhint("Record them first, in a transaction of its own: SELECT agent_guard.record_requests();")));
			break;
		default:
			break;
	}
}

static void
outbox_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	int			j;

	if (n_taken == 0)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
		(void) settle_taken(level, false);
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (j = 0; j < n_taken; j++)
		{
			if (taken[j].level >= level)
				taken[j].level = level - 1;
		}
	}
}

static void
record_work(void *arg)
{
	*(int *) arg = ag_outbox_drain();
}

/*
 * Write this database's unwritten requests in the caller's transaction, as
 * the extension owner: what the sealer does, for the humans' functions
 * that read or decide requests, so that they work without a sealer.  Not
 * in a read-only transaction, on a standby, or in an agent session (an
 * agent could hold the rows in an open transaction).  Returns how many it
 * wrote.
 */
int
ag_outbox_record_here(void)
{
	int			written = 0;

	if (outbox == NULL || RecoveryInProgress() || XactReadOnly || ag_session_is_agent())
		return 0;
	if (ag_outbox_unwritten(MyDatabaseId, false) == 0)
		return 0;
	ag_owner_spi(record_work, &written);
	return written;
}

/*
 * How many requests of a database are not on record yet: waiting, or
 * being written by a transaction that has not committed.  Without mine,
 * those this backend's transaction wrote are not counted (it sees them).
 */
int
ag_outbox_unwritten(Oid dboid, bool mine)
{
	int			i;
	int			n = 0;

	if (outbox == NULL)
		return 0;
	LWLockAcquire(outbox->lock, LW_SHARED);
	for (i = 0; i < AG_OUTBOX_QUEUE; i++)
	{
		AgOutboxEntry *e = &outbox->entries[i];

		if (e->dboid == dboid && entry_unwritten(e) &&
			(mine || e->state != ENTRY_TAKEN || e->taker != MyProcPid))
			n++;
	}
	LWLockRelease(outbox->lock);
	return n;
}

/*
 * Is this database's request on record for good: written by a transaction
 * that committed, with its commit record flushed?  A WRITTEN entry's
 * commit is flushed here, up to its commit_lsn (a no-op when its writer's
 * commit flushed it, as a synchronous commit does).  An entry that is no
 * longer in the queue was WRITTEN and its slot reused (only WRITTEN slots
 * are): its commit record is somewhere before the current end of the WAL,
 * which is flushed.  false: the request still waits for a writer (PENDING),
 * or its writer has not committed (TAKEN).
 */
bool
ag_outbox_durable(int64 request_id)
{
	XLogRecPtr	lsn = InvalidXLogRecPtr;
	bool		found = false;
	bool		written = false;
	int			i;

	if (outbox == NULL)
		return false;
	LWLockAcquire(outbox->lock, LW_SHARED);
	for (i = 0; i < AG_OUTBOX_QUEUE; i++)
	{
		AgOutboxEntry *e = &outbox->entries[i];

		if (e->state == ENTRY_FREE || e->dboid != MyDatabaseId || e->request_id != request_id)
			continue;
		found = true;
		written = (e->state == ENTRY_WRITTEN);
		lsn = e->commit_lsn;
		break;
	}
	LWLockRelease(outbox->lock);
	if (found && !written)
		return false;
	if (XLogRecPtrIsInvalid(lsn))
		lsn = GetXLogInsertRecPtr();
	XLogFlush(lsn);
	return true;
}

/*
 * Sleep until some writer's transaction that wrote requests commits, or
 * for at most timeout_ms; interrupts are served (a statement_timeout, a
 * cancel, a termination end the wait with their error).  The first call
 * of a wait only arms it and returns at once, so the caller checks again
 * before sleeping: a commit between its check and its sleep is not missed.
 * End the wait with ag_outbox_sleep_done() (an error ends it by itself:
 * the transaction's or subtransaction's abort cancels it).
 */
void
ag_outbox_sleep(long timeout_ms)
{
	if (outbox == NULL)
	{
		pg_usleep(timeout_ms * 1000L);
		CHECK_FOR_INTERRUPTS();
		return;
	}
	(void) ConditionVariableTimedSleep(&outbox->written_cv, timeout_ms, PG_WAIT_EXTENSION);
}

void
ag_outbox_sleep_done(void)
{
	ConditionVariableCancelSleep();
}

/*
 * Copy out the queue's entries of this database that some snapshot may not
 * see yet (written, but not settled), so that rows are built without the
 * lock; with_parameters keeps only those with bound values.
 */
static int
entries_on_show(AgOutboxEntry **shown, bool with_parameters)
{
	int			n = 0;
	int			i;
	TransactionId horizon;

	*shown = palloc(sizeof(AgOutboxEntry) * AG_OUTBOX_QUEUE);
	horizon = GetOldestNonRemovableTransactionId(NULL);
	LWLockAcquire(outbox->lock, LW_SHARED);
	for (i = 0; i < AG_OUTBOX_QUEUE; i++)
	{
		AgOutboxEntry *e = &outbox->entries[i];

		if (e->state == ENTRY_FREE || e->dboid != MyDatabaseId)
			continue;
		/* written, and every snapshot sees the row (or its removal) */
		if (entry_settled(e, horizon))
			continue;
		if (with_parameters && e->parameters[0] == '\0')
			continue;
		(*shown)[n++] = *e;
	}
	LWLockRelease(outbox->lock);
	return n;
}

/* SQL: the queue's entries of this database not yet seen by every snapshot. */
PG_FUNCTION_INFO_V1(ag_sql_pending_requests);
Datum
ag_sql_pending_requests(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AgOutboxEntry *shown;
	int			n;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (outbox == NULL)
		return (Datum) 0;

	n = entries_on_show(&shown, false);
	for (i = 0; i < n; i++)
	{
		AgOutboxEntry *e = &shown[i];
		Datum		values[8];
		bool		nulls[8] = {0};

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
	pfree(shown);
	return (Datum) 0;
}

/* SQL: the bound parameter values of the queue's entries on show. */
PG_FUNCTION_INFO_V1(ag_sql_pending_request_parameters);
Datum
ag_sql_pending_request_parameters(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AgOutboxEntry *shown;
	int			n;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (outbox == NULL)
		return (Datum) 0;

	n = entries_on_show(&shown, true);
	for (i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {0};

		values[0] = Int64GetDatum(shown[i].request_id);
		values[1] = CStringGetTextDatum(shown[i].parameters);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	pfree(shown);
	return (Datum) 0;
}
