/*-------------------------------------------------------------------------
 * refusal.c
 *		The one way the guard refuses a statement: the kinds of refusal, the
 *		request that outlives the transaction, the log line, the error.
 *
 * Every refusal of the gates (gate.c) and the policies (policy.c) comes
 * here with its kind, what is refused and why:
 *
 *	kind		request kind	SQLSTATE	the way out (errhint)
 *	GUARD		refused			YG004		none for agents; a human can
 *	APPROVAL	approval		YG003		a human approves the request
 *	FROZEN		frozen			YG006		a human lifts the freeze
 *	TRIPPED		tripped			YG007		a human resets the run
 *	POLICY		policy			YG008		a human changes the policy
 *	RATE		rate			YG060		wait, or a human raises the limit
 *	HUMANS_ONLY	refused			YG002		a human does it, outside the
 *											agent's code
 *
 * The refusals of an agent's session calling a humans-only function, and
 * of an agent's code (agentcode.c, agentgate.c, agentstored.c) come with
 * their own message, detail and hint: ag_refuse_humans_only().
 *
 * A refusal takes a request id from a sequence (which does not roll back,
 * so the error can name it), queues the request in the outbox (outbox.c)
 * for this database's worker to write, wakes the worker (worker.c), writes
 * one line to the server log in a fixed format:
 *   agent_guard: decision=D request=N kind=K agent="A" run="R" login="L" reason="..." statement="..."
 * waits until the request is on record for good (its writer's commit
 * flushed: a restart or a crash then keeps it), and raises.  A refusal
 * whose request is not on record within AG_OUTBOX_WAIT_MS (no room in the
 * queue, no writer) is raised as YG009 instead: the statement stays
 * refused, and the agent is never told of a request that may be lost.
 * The statement text is recorded as sent (leading and trailing
 * white space and semicolons dropped) with the values bound to its
 * parameters (params.c) and the SHA-256 digest of its key (approvalkey.c):
 * what an approval is bound to (gate.c consumes approvals before it
 * refuses).
 *
 * agent_guard.preview() runs a statement in preview mode: decisions are
 * collected as rows.  A statement that would need approval goes on (its
 * rows are counted) and nothing is requested: the preview asks, it does
 * not act.  Any other refusal stops it, with its kind's SQLSTATE, and is
 * on record as everywhere else (red team 6, finding 13): the preview's
 * rollback does not reach the request queue, and an agent that probes the
 * guard through preview() leaves the same trace as one that tries.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "commands/sequence.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "parser/parser.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "agent_guard.h"
#include "approvalkey.h"
#include "outbox.h"
#include "owner_spi.h"
#include "refusal.h"
#include "session.h"
#include "statement.h"
#include "worker.h"

typedef struct AgRefusalInfo
{
	const char *name;			/* request kind in agent_guard.request_log */
	int			sqlstate;
} AgRefusalInfo;

static const AgRefusalInfo refusal_info[] = {
	[AG_REFUSAL_NONE] = {"none", 0},
	[AG_REFUSAL_GUARD] = {"refused", ERRCODE_AG_GUARD_PROTECTED},
	[AG_REFUSAL_APPROVAL] = {"approval", ERRCODE_AG_APPROVAL_REQUIRED},
	[AG_REFUSAL_FROZEN] = {"frozen", ERRCODE_AG_FROZEN},
	[AG_REFUSAL_TRIPPED] = {"tripped", ERRCODE_AG_RUN_TRIPPED},
	[AG_REFUSAL_POLICY] = {"policy", ERRCODE_AG_POLICY},
	[AG_REFUSAL_RATE] = {"rate", ERRCODE_AG_RATE_LIMITED},
	[AG_REFUSAL_HUMANS_ONLY] = {"refused", ERRCODE_AG_HUMANS_ONLY},
};

const char *
ag_refusal_name(AgRefusalKind kind)
{
	return refusal_info[kind].name;
}

/* ---------------------------------------------------------------------
 * Preview
 * ---------------------------------------------------------------------
 */
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

/*
 * Preview mode is read-only by construction.  It relaxes the gates only in
 * subtransactions opened after it was entered (preview() runs the statement
 * in one, then raises to roll it back).  The level it was entered at is
 * kept until the transaction ends or preview mode is left at that same
 * level: a subtransaction one level deeper that commits (RELEASE, or the
 * end of an exception block without error) would keep writes the gates
 * never judged, and then the transaction cannot commit.  An agent that
 * calls agent_guard._preview(true) itself gains nothing: its writes at its
 * own level are judged as usual, and its writes in subtransactions either
 * roll back or stop its COMMIT (YG004, on record).
 */
static int	preview_level = 0;	/* 0: not armed in this transaction */
static bool preview_leaked = false;

bool
ag_preview_active(void)
{
	return preview_mode && preview_level > 0 &&
		GetCurrentTransactionNestLevel() > preview_level;
}

/* Enter (a fresh list of rows) or leave preview mode. */
void
ag_preview_set(bool on)
{
	int			level = GetCurrentTransactionNestLevel();

	if (on)
	{
		list_free_deep(preview_rows);
		preview_rows = NIL;
		if (preview_level == 0 || level < preview_level)
			preview_level = level;
	}
	else if (level <= preview_level)
		preview_level = 0;		/* every subtransaction of the preview ended */
	preview_mode = on;
}

static void
refusal_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_COMMIT_SUB && preview_level > 0 &&
		GetCurrentTransactionNestLevel() == preview_level + 1 &&
		ag_session_is_agent())
		preview_leaked = true;
}

void
ag_preview_add(const char *relation, const char *operation, int64 rows,
			   const char *verdict, const char *detail)
{
	MemoryContext old = MemoryContextSwitchTo(ag_session_memory());
	PreviewRow *r = palloc0(sizeof(PreviewRow));

	r->relation = relation ? pstrdup(relation) : NULL;
	r->operation = pstrdup(operation);
	r->rows = rows;
	r->verdict = pstrdup(verdict);
	r->detail = detail ? pstrdup(detail) : NULL;
	preview_rows = lappend(preview_rows, r);
	MemoryContextSwitchTo(old);
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

/* a preview ends with its transaction, whichever way */
static void
refusal_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_PRE_COMMIT && preview_leaked)
	{
		const char *text;
		int			len;

		preview_leaked = false;
		preview_mode = false;
		preview_level = 0;
		ag_current_statement(&text, &len);
		ag_refuse(AG_REFUSAL_GUARD, "COMMIT",
				  "A subtransaction that ran in preview mode was released, so writes the gates did not judge would commit; the transaction is rolled back.",
				  text ? text : "COMMIT", text ? len : 6, 0);
	}
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE)
	{
		preview_mode = false;
		preview_level = 0;
		preview_leaked = false;
	}
}

void
ag_refusal_init(void)
{
	RegisterXactCallback(refusal_xact_callback, NULL);
	RegisterSubXactCallback(refusal_subxact_callback, NULL);
}

/* ---------------------------------------------------------------------
 * Statement key, log line, request id
 * ---------------------------------------------------------------------
 */
/*
 * The text is kept as the client sent it, but for leading white space and
 * trailing white space and semicolons.  Collapsing white space inside it
 * would make different statements one: a line break ends a "--" comment
 * (so "-- c\nWHERE id < 5" and "-- c WHERE id < 5" differ), and white
 * space inside a literal is data.
 */
static void
normalize_text(const char *text, int len, StringInfo out)
{
	int			i = 0;

	initStringInfo(out);
	if (text == NULL)
		len = 0;
	while (i < len && text[i] != '\0' && strchr(" \t\n\r\f", text[i]) != NULL)
		i++;
	for (; i < len && text[i] != '\0'; i++)
		appendStringInfoChar(out, text[i]);
	while (out->len > 0 && strchr("; \t\n\r\f", out->data[out->len - 1]) != NULL)
		out->data[--out->len] = '\0';
}

void
ag_statement_key(const char *text, int len, AgStatementKey *key)
{
	StringInfo	out = &key->text;

	normalize_text(text, len, out);
	key->hash = (int64) hash_bytes_extended((const unsigned char *) out->data, out->len, 0);
	key->parameters = ag_client_params_text();

	/*
	 * What the digest covers: the text, the values, the search_path ...; the
	 * text and the values by their SHA-256, so that the material stays small
	 * whatever the agent sends.  Key 2 (red team 13): a request made under
	 * key 1 matches no retry, and is simply left pending.
	 */
	initStringInfo(&key->material);
	ag_key_add_bytes(&key->material, "agent_guard statement key 2", 27);
	ag_key_add_digest_of(&key->material, out->data, (Size) out->len);
	{
		uint64		ph = ag_client_params_material(&key->material);

		/* a retry with other values is another statement */
		if (ph != 0)
			key->hash = (int64) hash_combine64((uint64) key->hash, ph);
	}
	ag_key_add_search_path(&key->material);
	key->digested = false;
	key->source = NULL;
	key->source_len = 0;
	key->source_cut = false;
	key->table_rows = NULL;
}

/* ... and what the gates added (gate.c): digested once, then fixed. */
const AgKeyDigest *
ag_statement_key_digest(AgStatementKey *key)
{
	if (!key->digested)
	{
		ag_key_digest(&key->material, &key->digest);
		key->digested = true;
	}
	return &key->digest;
}

/*
 * SQL: agent_guard._statement_sha256(statement text) returns bytea: the
 * SHA-256 of a statement's text normalized as a request records it, to
 * check that the text a human approves is the one the agent sent when the
 * request holds only its start (approve(), outbox.c).
 */
PG_FUNCTION_INFO_V1(ag_sql_statement_sha256);
Datum
ag_sql_statement_sha256(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	StringInfoData norm;
	AgKeyDigest d;
	bytea	   *result = palloc(VARHDRSZ + AG_KEY_DIGEST_LEN);

	normalize_text(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &norm);
	ag_key_digest(&norm, &d);
	SET_VARSIZE(result, VARHDRSZ + AG_KEY_DIGEST_LEN);
	memcpy(VARDATA(result), d.d, AG_KEY_DIGEST_LEN);
	pfree(norm.data);
	PG_RETURN_BYTEA_P(result);
}

/*
 * Append s double-quoted, for the decision line.  Everything in it but the
 * decision and the numbers comes from the agent (its statement, labels,
 * login role name), and the line is read on terminals (tail -f, less -R):
 * a carriage return, an escape sequence or a bidirectional override could
 * overwrite or hide the line, or forge another one (red team 4, finding
 * 16).  So " and \ are escaped with \, control characters as \n, \r, \t
 * or \xHH, and in UTF-8 the C1 controls (U+0080 to U+009F: U+009B starts
 * an escape sequence on some terminals), the line and paragraph
 * separators and the bidirectional controls as \uHHHH.  The line stays one
 * line of printable text that says what the agent sent.
 */
static void
append_quoted(StringInfo buf, const char *s)
{
	bool		utf8 = (GetDatabaseEncoding() == PG_UTF8);

	appendStringInfoChar(buf, '"');
	for (; s != NULL && *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (c == '"' || c == '\\')
		{
			appendStringInfoChar(buf, '\\');
			appendStringInfoChar(buf, c);
		}
		else if (c == '\n')
			appendStringInfoString(buf, "\\n");
		else if (c == '\r')
			appendStringInfoString(buf, "\\r");
		else if (c == '\t')
			appendStringInfoString(buf, "\\t");
		else if (c < 0x20 || c == 0x7f)
			appendStringInfo(buf, "\\x%02x", c);
		else if (utf8 && c == 0xc2 && (unsigned char) s[1] >= 0x80 &&
				 (unsigned char) s[1] <= 0x9f)
		{
			/* C1 control characters */
			appendStringInfo(buf, "\\u%04x", (unsigned char) s[1]);
			s++;
		}
		else if (utf8 && c == 0xe2 && (unsigned char) s[1] == 0x80 &&
				 (unsigned char) s[2] >= 0xa8 && (unsigned char) s[2] <= 0xae)
		{
			/* U+2028 to U+202E: separators, embeddings, overrides */
			appendStringInfo(buf, "\\u%04x", 0x2000 + ((unsigned char) s[2] - 0x80));
			s += 2;
		}
		else if (utf8 && c == 0xe2 && (unsigned char) s[1] == 0x81 &&
				 (unsigned char) s[2] >= 0xa6 && (unsigned char) s[2] <= 0xa9)
		{
			/* U+2066 to U+2069: isolates */
			appendStringInfo(buf, "\\u%04x", 0x2040 + ((unsigned char) s[2] - 0x80));
			s += 2;
		}
		else
			appendStringInfoChar(buf, c);
	}
	appendStringInfoChar(buf, '"');
}

static void
refusal_log_for(const char *decision, int64 request_id, AgRefusalKind kind,
				const char *agent, const char *run,
				const char *reason, const char *statement)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "agent_guard: decision=%s request=" INT64_FORMAT " kind=%s agent=",
					 decision, request_id, ag_refusal_name(kind));
	append_quoted(&buf, agent);
	appendStringInfoString(&buf, " run=");
	append_quoted(&buf, run);
	appendStringInfoString(&buf, " login=");
	append_quoted(&buf, GetUserNameFromId(GetAuthenticatedUserId(), false));
	appendStringInfoString(&buf, " reason=");
	append_quoted(&buf, reason);
	appendStringInfoString(&buf, " statement=");
	append_quoted(&buf, statement);
	ereport(LOG, (errmsg_internal("%s", buf.data), errhidestmt(true), errhidecontext(true)));
	pfree(buf.data);
}

void
ag_refusal_log(const char *decision, int64 request_id, AgRefusalKind kind,
			   const char *reason, const char *statement)
{
	refusal_log_for(decision, request_id, kind, ag_current_agent(), ag_current_run(false),
					reason, statement);
}

static int64
next_request_id(void)
{
	Oid			nsp = ag_guard_namespace();
	Oid			seq = OidIsValid(nsp) ? get_relname_relid("requests_request_id_seq", nsp) : InvalidOid;
	AgOwnerSave save;
	volatile int64 id = 0;

	if (!OidIsValid(seq))
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
				 errmsg("agent_guard cannot record a refused statement"),
				 errdetail("The sequence agent_guard.requests_request_id_seq is missing."),
				 errhint("Reinstall the extension.")));
	ag_owner_become(&save, false);
	PG_TRY();
	{
		id = nextval_internal(seq, false);
	}
	PG_FINALLY();
	{
		ag_owner_restore(&save);
	}
	PG_END_TRY();
	return id;
}

/*
 * Queue a request, waiting while the queue is full: every refusal is on
 * record, however fast an agent makes them (a DO block that catches its own
 * refusals makes thousands a second; the worker writes a full queue in one
 * transaction).  The refusing backend waits for the worker, never the other
 * way round: the worker only inserts into the guard's tables, which the
 * agent's transaction holds no lock on that an insert waits for.  false
 * when the queue (or this database's share of it) stayed full until
 * deadline: no worker writes it, and no human recorded it.
 */
static bool
outbox_put_waiting(const AgOutboxRequest *r, TimestampTz deadline)
{
	for (;;)
	{
		if (ag_outbox_put(r))
		{
			ag_worker_wake(MyDatabaseId);
			return true;
		}
		if (GetCurrentTimestamp() >= deadline)
			return false;
		ag_worker_wake(MyDatabaseId);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

typedef enum RecordWait
{
	RECORD_DURABLE,				/* on record, its commit flushed */
	RECORD_NO_SEALER,			/* the sealer finds no worker slot */
	RECORD_TIMED_OUT			/* nobody wrote it by the deadline */
} RecordWait;

/*
 * Wait until the queued request is on record for good: the transaction
 * that wrote it (the sealer's, or a human's record_requests()) committed
 * and its commit record is flushed (ag_outbox_durable()).  Only then may
 * the error name it: an agent told "request N" by a refusal that a restart
 * or a crash then loses (the queue is in shared memory) could not have it
 * approved, and the record would miss an attempt (issue 16).  The sealer
 * is woken for it and the wait ends with the first commit of a writer that
 * makes it durable; it ends early when this database's sealer cannot run
 * (no worker slot: nobody writes it but a human), and at the deadline.
 * Interrupts are served while waiting: a cancel or a statement_timeout
 * ends the statement with their error, the request still queued.
 */
static RecordWait
wait_recorded(int64 request_id, TimestampTz deadline)
{
	RecordWait	result = RECORD_DURABLE;

	while (!ag_outbox_durable(request_id))
	{
		TimestampTz now = GetCurrentTimestamp();
		long		left_ms;

		if (ag_worker_no_slot(MyDatabaseId, NULL))
		{
			result = RECORD_NO_SEALER;
			break;
		}
		if (now >= deadline)
		{
			result = RECORD_TIMED_OUT;
			break;
		}
		left_ms = (long) ((deadline - now + 999) / 1000);
		ag_worker_wake(MyDatabaseId);
		ag_outbox_sleep(Min(left_ms, 100L));
	}
	ag_outbox_sleep_done();
	return result;
}

/*
 * Record a request for the normalized statement and log the decision; it
 * outlives this transaction.  Returns its id; *queued says whether the
 * queue had room.
 */
static int64
record_request_for(AgRefusalKind kind, const char *agent, const char *run,
				   const char *why, AgStatementKey *key, int64 rows, bool *queued)
{
	AgOutboxRequest r;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), AG_OUTBOX_WAIT_MS);

	r.request_id = next_request_id();
	r.kind = ag_refusal_name(kind);
	r.agent = agent;
	r.run = run;
	r.login = GetUserNameFromId(GetAuthenticatedUserId(), false);
	r.reason = why;
	r.statement = key->text.data;
	/* what a human's copy of a statement cut in the record is checked by */
	ag_key_digest(&key->text, &r.text_digest);
	r.parameters = key->parameters;
	r.hash = key->hash;
	r.digest = *ag_statement_key_digest(key);
	r.rows = rows;
	r.table_rows = key->table_rows;

	/*
	 * The text the plan was made from, when the reason shows it: a human
	 * who approves a request whose reason cuts it passes it whole, checked
	 * by its SHA-256, as a statement cut in the record (red team 17a, F1).
	 */
	r.has_source = key->source != NULL;
	r.source_truncated = key->source_cut;
	memset(&r.source_digest, 0, sizeof(r.source_digest));
	if (r.has_source)
	{
		StringInfoData norm;

		normalize_text(key->source, key->source_len, &norm);
		ag_key_digest(&norm, &r.source_digest);
		pfree(norm.data);
	}
	/*
	 * An autovacuum worker does not wait (AG_AM_AUTOVACUUM_WORKER): its
	 * refusal aborts only the table it was at, autovacuum goes on with the
	 * next, and nobody is told of the request; waiting there would hold up
	 * vacuum behind the sealer.  The request is queued, for the sealer to
	 * write at its next pass (and at its shutdown, worker.c), and the line
	 * logged; a full queue leaves only the line.
	 */
	if (AG_AM_AUTOVACUUM_WORKER())
	{
		*queued = ag_outbox_put(&r);
		ag_worker_wake(MyDatabaseId);
		refusal_log_for(kind == AG_REFUSAL_APPROVAL ? "blocked" : "refused",
						r.request_id, kind, agent, run, why, key->text.data);
		return r.request_id;
	}
	*queued = outbox_put_waiting(&r, deadline);
	refusal_log_for(kind == AG_REFUSAL_APPROVAL ? "blocked" : "refused",
					r.request_id, kind, agent, run, why, key->text.data);
	if (!*queued && ag_worker_no_slot(MyDatabaseId, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
				 errmsg("agent_guard could not record a refused statement"),
				 errdetail("The statement was refused (%s), but the queue of refused statements stayed full for %d seconds, so request " INT64_FORMAT " is only in the server log. The agent_guard sealer of this database is not running: no background worker slot is free.",
						   ag_refusal_name(kind), AG_OUTBOX_WAIT_MS / 1000, r.request_id),
				 errhint("A human can record the queued refusals with SELECT agent_guard.record_requests(); and should raise \"max_worker_processes\". Nothing is allowed until refusals can be recorded.")));
	if (!*queued)
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
				 errmsg("agent_guard could not record a refused statement"),
				 errdetail("The statement was refused (%s), but the queue of refused statements stayed full for %d seconds, so request " INT64_FORMAT " is only in the server log.",
						   ag_refusal_name(kind), AG_OUTBOX_WAIT_MS / 1000, r.request_id),
				 errhint("Check that the agent_guard sealer of this database is running (agent_guard.sealer_status()); nothing is allowed until refusals can be recorded.")));

	/* queued and logged: the error may name it once it is on record */
	switch (wait_recorded(r.request_id, deadline))
	{
		case RECORD_DURABLE:
			break;
		case RECORD_NO_SEALER:
			ereport(ERROR,
					(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
					 errmsg("agent_guard could not record a refused statement"),
					 errdetail("The statement was refused (%s) as request " INT64_FORMAT ", which waits in the queue of refused statements and is not on record. The agent_guard sealer of this database is not running: no background worker slot is free.",
							   ag_refusal_name(kind), r.request_id),
					 errhint("A human can record the queued refusals with SELECT agent_guard.record_requests(); and should raise \"max_worker_processes\". Nothing is allowed until refusals can be recorded.")));
			break;
		case RECORD_TIMED_OUT:
			ereport(ERROR,
					(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
					 errmsg("agent_guard could not record a refused statement"),
					 errdetail("The statement was refused (%s) as request " INT64_FORMAT ", which waits in the queue of refused statements, but no agent_guard sealer recorded it within %d seconds; a restart before it is recorded loses it.",
							   ag_refusal_name(kind), r.request_id, AG_OUTBOX_WAIT_MS / 1000),
					 errhint("Check that the agent_guard sealer of this database is running (agent_guard.sealer_status()); a human can record the queued refusals with SELECT agent_guard.record_requests(). Nothing is allowed until refusals can be recorded.")));
			break;
	}
	return r.request_id;
}

static int64
record_request(AgRefusalKind kind, const char *why, AgStatementKey *key,
			   int64 rows, bool *queued)
{
	return record_request_for(kind, ag_current_agent(), ag_current_run(false),
							  why, key, rows, queued);
}

/* ---------------------------------------------------------------------
 * Refuse
 * ---------------------------------------------------------------------
 */

/*
 * What the human must know to read an approvable statement as the agent's
 * session parses it, when that is not how it reads by default (red team
 * 13, F6): a search_path other than PostgreSQL's default (which schemas an
 * unqualified name means), with the schemas it resolves to, and
 * standard_conforming_strings off (a backslash in a '...' string escapes
 * the next character, so the text's strings, and what is a comment, read
 * otherwise), with backslash_quote, and the settings that change what its
 * literals mean (read_settings_note()).  All are bound into the approval key
 * (approvalkey.c).  NULL when the settings are the defaults.
 */
/*
 * The settings bound into the key that change what the text means or
 * computes (approvalkey.c's ag_key_read_settings) whose values are not the
 * session's defaults (the values RESET would give), as "DateStyle = 'ISO,
 * DMY', ..."; NULL when all are (red team 15B, finding 7).
 */
static char *
read_settings_note(void)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; ag_key_read_settings[i] != NULL; i++)
	{
		const char *name = ag_key_read_settings[i];
		const char *v = GetConfigOption(name, true, false);
		const char *reset = GetConfigOptionResetString(name);

		if (v == NULL || (reset != NULL && strcmp(v, reset) == 0))
			continue;
		appendStringInfo(&buf, "%s%s = %s", buf.len > 0 ? ", " : "", name, quote_literal_cstr(v));
	}
	return buf.len > 0 ? buf.data : NULL;
}

static char *
parse_settings_note(void)
{
	const char *sp = GetConfigOption("search_path", false, false);
	StringInfoData buf;
	bool		odd_path = sp != NULL && strcmp(sp, "\"$user\", public") != 0;

	char	   *odd_settings = read_settings_note();

	if (!odd_path && standard_conforming_strings && odd_settings == NULL)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoString(&buf, "The agent's session reads it with ");
	if (odd_path)
	{
		List	   *path = fetch_search_path(false);
		ListCell   *lc;
		bool		first = true;

		appendStringInfo(&buf, "search_path = %s (schemas: ", sp);
		foreach(lc, path)
		{
			char	   *nsp = get_namespace_name(lfirst_oid(lc));

			if (nsp == NULL)
				continue;
			appendStringInfo(&buf, "%s%s", first ? "" : ", ", quote_identifier(nsp));
			first = false;
		}
		appendStringInfoString(&buf, first ? "none)" : ")");
		list_free(path);
	}
	if (!standard_conforming_strings)
		appendStringInfo(&buf, "%sstandard_conforming_strings = off and backslash_quote = %s: a backslash in a '...' string escapes the next character",
						 odd_path ? ", " : "", GetConfigOption("backslash_quote", false, false));
	if (odd_settings != NULL)
		appendStringInfo(&buf, "%s%s", odd_path || !standard_conforming_strings ? ", " : "", odd_settings);
	appendStringInfoString(&buf, "; an approval holds only with these settings.");
	return buf.data;
}

/*
 * Refuse the statement whose key is given: record the request, log, raise
 * with the kind's SQLSTATE, message and hint.  Returns only in a preview,
 * for kind APPROVAL (the statement goes on, to be counted).
 */
void
ag_refuse_keyed(AgRefusalKind kind, const char *what, const char *why,
				AgStatementKey *key, int64 rows)
{
	int64		id;
	bool		queued;
	int			code = refusal_info[kind].sqlstate;

	Assert(kind != AG_REFUSAL_NONE);
	if (kind == AG_REFUSAL_APPROVAL)
	{
		char	   *note = parse_settings_note();

		if (note != NULL)
			why = psprintf("%s %s", why, note);
	}

	if (ag_preview_active())
	{
		ag_preview_add(NULL, what, 0, ag_refusal_name(kind), why);
		/* reported, not requested: the preview asks, it does not act */
		if (kind == AG_REFUSAL_APPROVAL)
			return;
		/* a refusal stops the statement, in a preview too: on record */
	}

	id = record_request(kind, why, key, rows, &queued);

	switch (kind)
	{
		case AG_REFUSAL_APPROVAL:
			ereport(ERROR,
					(errcode(code),
					 errmsg("%s needs a human's approval: request " INT64_FORMAT, what, id),
					 errdetail("%s", why),
					 errhint("Ask a human to run SELECT agent_guard.approve(" INT64_FORMAT "); then run the same statement again within agent_guard.approval_ttl.", id)));
			break;
		case AG_REFUSAL_FROZEN:
			ereport(ERROR,
					(errcode(code),
					 errmsg("%s refused: agents are frozen (request " INT64_FORMAT ")", what, id),
					 errdetail("%s", why),
					 errhint("Wait until a human lifts the freeze with agent_guard.unfreeze().")));
			break;
		case AG_REFUSAL_TRIPPED:
			ereport(ERROR,
					(errcode(code),
					 errmsg("%s refused: run \"%s\" is tripped (request " INT64_FORMAT ")", what,
							ag_current_run(false), id),
					 errdetail("%s", why),
					 errhint("A human can let the run write again with SELECT agent_guard.reset_run('%s').",
							 ag_current_run(false))));
			break;
		case AG_REFUSAL_POLICY:
			ereport(ERROR,
					(errcode(code),
					 errmsg("%s refused by the policy of agent \"%s\" (request " INT64_FORMAT ")",
							what, ag_current_agent(), id),
					 errdetail("%s", why),
					 errhint("Agents cannot get past their policy; a human can change it with agent_guard.set_policy().")));
			break;
		case AG_REFUSAL_RATE:
			ereport(ERROR,
					(errcode(code),
					 errmsg("%s refused: agent \"%s\" is over its rate limit (request " INT64_FORMAT ")",
							what, ag_current_agent(), id),
					 errdetail("%s", why),
					 errhint("Writes are allowed again once the rows of the last minute fall under the limit; a human can raise it with agent_guard.set_policy().")));
			break;
		case AG_REFUSAL_HUMANS_ONLY:
		case AG_REFUSAL_GUARD:
		case AG_REFUSAL_NONE:
			ereport(ERROR,
					(errcode(ERRCODE_AG_GUARD_PROTECTED),
					 errmsg("%s refused: it would weaken agent_guard (request " INT64_FORMAT ")", what, id),
					 errdetail("%s", why),
					 errhint("Agents can never do this; a human can, from a session that is not an agent session.")));
			break;
	}
}

/*
 * Refuse a statement that an agent's code runs in a session that is not
 * the agent's (agentgate.c): the decision the agent's own session would
 * get, failing closed.  There is no way to an approval there (approvals
 * are consumed by the agent's own sessions, for statements of its own), so
 * what would need one is refused outright: recorded as kind "refused",
 * never approvable, under the agent that owns the code, with no run (the
 * session has none), and raised as YG004.  A freeze and a policy keep
 * their kinds.  where says whose code ran in whose session; it is part of
 * the recorded reason.  In a preview the decision is also shown, and the
 * statement stops as every refusal does.
 */
void
ag_refuse_agent_code(AgRefusalKind kind, const char *agent, const char *what,
					 const char *why, const char *where, const char *text, int len)
{
	AgStatementKey key;
	AgRefusalKind recorded = kind == AG_REFUSAL_APPROVAL ? AG_REFUSAL_GUARD : kind;
	char	   *reason = psprintf("%s %s", why, where);
	int64		id;
	bool		queued;

	Assert(kind != AG_REFUSAL_NONE);
	if (ag_preview_active())
		ag_preview_add(NULL, what, 0, ag_refusal_name(recorded), reason);
	ag_statement_key(text, len, &key);
	id = record_request_for(recorded, agent, NULL, reason, &key, 0, &queued);

	switch (kind)
	{
		case AG_REFUSAL_APPROVAL:
			ereport(ERROR,
					(errcode(ERRCODE_AG_GUARD_PROTECTED),
					 errmsg("%s refused: it needs a human's approval, and it ran from code of agent \"%s\" outside the agent's session (request " INT64_FORMAT ")",
							what, agent, id),
					 errdetail("%s %s No approval can be asked for there.", why, where),
					 errhint("Let the agent run the statement in its own session, where it can be approved; a human can run it outside the agent's code.")));
			break;
		case AG_REFUSAL_FROZEN:
			ereport(ERROR,
					(errcode(ERRCODE_AG_FROZEN),
					 errmsg("%s refused: agents are frozen (request " INT64_FORMAT ")", what, id),
					 errdetail("%s %s", why, where),
					 errhint("Wait until a human lifts the freeze with agent_guard.unfreeze().")));
			break;
		case AG_REFUSAL_POLICY:
			ereport(ERROR,
					(errcode(ERRCODE_AG_POLICY),
					 errmsg("%s refused by the policy of agent \"%s\" (request " INT64_FORMAT ")",
							what, agent, id),
					 errdetail("%s %s", why, where),
					 errhint("Agents cannot get past their policy; a human can change it with agent_guard.set_policy().")));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_AG_GUARD_PROTECTED),
					 errmsg("%s refused: it would weaken agent_guard (request " INT64_FORMAT ")", what, id),
					 errdetail("%s %s", why, where),
					 errhint("Agents can never do this; a human can, outside the agent's code.")));
			break;
	}
}

/* Refuse the statement text (see ag_refuse_keyed). */
void
ag_refuse(AgRefusalKind kind, const char *what, const char *why,
		  const char *text, int len, int64 rows)
{
	AgStatementKey key;

	ag_statement_key(text, len, &key);
	ag_refuse_keyed(kind, what, why, &key, rows);
}

/*
 * For a guard that raises its own error (capture.c's size limit): record
 * the refusal as the gates do, a request of kind "refused" (never
 * approvable) with its BLOCKED event, outliving the transaction, and the
 * log line, in a preview too.  Returns the request id.
 */
int64
ag_refusal_record(const char *why, const char *text, int len)
{
	AgStatementKey key;
	int64		id;
	bool		queued;

	ag_statement_key(text, len, &key);
	id = record_request(AG_REFUSAL_GUARD, why, &key, 0, &queued);
	return id;
}

/*
 * Whether a refusal can be recorded here: taking a request id is nextval()
 * on the guard's sequence, which PostgreSQL forbids in a read-only
 * transaction, on a standby and in parallel mode (a parallel worker, or
 * the leader while its workers run); the sealer (worker.c) writes the
 * queue and would wait for itself; and a refusal raised while one is being
 * recorded (an output function of a bound value that is an agent's code)
 * is not recorded twice.  Those are refused as ever, unrecorded (README,
 * Limitations).
 */
static bool humans_only_recording = false;

static bool
humans_only_recordable(void)
{
	return IsTransactionState() && !IsAbortedTransactionBlockState() &&
		!IsInParallelMode() && !XactReadOnly && !RecoveryInProgress() &&
		!ag_worker_is_sealer() && !humans_only_recording;
}

/*
 * The agent a refusal is attributed to: with no code owner, the agent of
 * this session (the caller found it is one), with its run; an agent's
 * process, or a transaction tagged with SET LOCAL (the tag, not the shared
 * login role: red team 20b, finding 4), the same; otherwise the agent whose code it is, with no run.
 * The identity is not resolved here: an agent's function may have just
 * set agent_guard.agent_id in a superuser's session (its SET option, which
 * PostgreSQL applies before the call is judged), and resolving it would
 * take that session for the agent's.
 */
static const char *
humans_only_agent(Oid code_owner, const char **run)
{
	List	   *agents;

	*run = NULL;
	if (!OidIsValid(code_owner) || ag_process_is_agent() || ag_agent_latched())
	{
		const char *agent = ag_current_agent();

		if (agent != NULL)
		{
			*run = ag_current_run(false);
			return agent;
		}
		code_owner = GetUserId();
	}
	agents = ag_agent_ids_of_role(code_owner);
	if (agents != NIL)
		return (const char *) linitial(agents);
	return GetUserNameFromId(code_owner, false);
}

/*
 * Refuse with YG002 (kind HUMANS_ONLY): an agent's session called what
 * only a human may (approve(), unfreeze(), ..., the guard's internal
 * functions), an agent stored code it may not store, or an agent's code
 * (owned by code_owner) tried, in a human's session, what it may not.
 * Recorded as every refusal is: a request of kind "refused" (never
 * approvable) with its BLOCKED event, attributed to the agent whose
 * session it is or else to the agent that owns the code (with no run),
 * for the statement that runs, and the decision line; the message names
 * the request.  The site gives the message, detail and hint.  Where
 * nothing can be recorded (humans_only_recordable()) the refusal is
 * raised as it is.  Never returns; in a preview the refusal stops the
 * statement, on record, as every refusal does.
 */
void
ag_refuse_humans_only(Oid code_owner, const char *message, const char *detail,
					  const char *hint)
{
	ag_refuse_code(AG_REFUSAL_HUMANS_ONLY, code_owner, message, detail, hint);
}

/*
 * Refuse with kind's SQLSTATE (YG002 for HUMANS_ONLY, YG004 for GUARD) and
 * the site's message, detail and hint, recorded as ag_refuse_humans_only()
 * says: a request of kind "refused" under the agent whose session it is,
 * or else the agent that owns the code, with its BLOCKED event and the
 * decision line; the message names the request.  For the refusals of an
 * agent's code in a session that is not an agent's, or in an autovacuum
 * worker (agentcode.c, agentshadow.c, writers.c: red team 30, finding 10),
 * where the message is the site's own.
 */
void
ag_refuse_code(AgRefusalKind kind, Oid code_owner, const char *message,
			   const char *detail, const char *hint)
{
	int64		id = 0;
	int			code = refusal_info[kind].sqlstate;

	Assert(kind == AG_REFUSAL_HUMANS_ONLY || kind == AG_REFUSAL_GUARD);

	if (humans_only_recordable())
	{
		humans_only_recording = true;
		PG_TRY();
		{
			AgStatementKey key;
			const char *agent;
			const char *run;
			const char *text;
			int			len;
			bool		queued;
			char	   *reason = detail != NULL ? psprintf("%s. %s", message, detail) :
				pstrdup(message);

			agent = humans_only_agent(code_owner, &run);
			ag_current_statement(&text, &len);
			if (AG_AM_AUTOVACUUM_WORKER())
			{
				/*
				 * No client statement (what the executor runs is the
				 * agent's code): what the worker is at, as it
				 * reports it ("autovacuum: ANALYZE s.t"), read from its
				 * own entry (only this process writes it).
				 */
				text = MyBEEntry != NULL && MyBEEntry->st_activity_raw != NULL &&
					MyBEEntry->st_activity_raw[0] != '\0' ?
					pstrdup(MyBEEntry->st_activity_raw) : "autovacuum";
				len = (int) strlen(text);
			}
			ag_statement_key(text, len, &key);
			id = record_request_for(kind, agent, run, reason, &key, 0, &queued);
		}
		PG_FINALLY();
		{
			humans_only_recording = false;
		}
		PG_END_TRY();
	}
	if (id > 0)
		ereport(ERROR,
				(errcode(code),
				 errmsg("%s (request " INT64_FORMAT ")", message, id),
				 detail != NULL ? errdetail("%s", detail) : 0,
				 hint != NULL ? errhint("%s", hint) : 0));
	ereport(ERROR,
			(errcode(code),
			 errmsg("%s", message),
			 detail != NULL ? errdetail("%s", detail) : 0,
			 hint != NULL ? errhint("%s", hint) : 0));
	pg_unreachable();
}

/*
 * SQL: agent_guard._refuse_humans_only(fn text): agent_guard._require_human()
 * in an agent's session, for the humans-only function fn.
 */
PG_FUNCTION_INFO_V1(ag_sql_refuse_humans_only);
Datum
ag_sql_refuse_humans_only(PG_FUNCTION_ARGS)
{
	const char *fn = PG_ARGISNULL(0) ? "this function" : text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (ag_session_is_agent())
		ag_refuse_humans_only(InvalidOid,
							  psprintf("%s cannot be called from an agent session", fn),
							  psprintf("This session acts as agent \"%s\".", ag_current_agent()),
							  "Ask a human operator to run it from a session that is not an agent session.");
	PG_RETURN_VOID();
}
