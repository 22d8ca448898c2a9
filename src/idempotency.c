/*-------------------------------------------------------------------------
 * idempotency.c
 *		Idempotency keys: an agent's retry never applies the same change
 *		twice.
 *
 * An agent names the change a transaction makes with
 *		SET LOCAL agent_guard.idempotency_key = 'refund-4711';
 * At the transaction's first write to a protected table the capture
 * trigger calls ag_idempotency_check(), which claims (agent_id, key) by
 * inserting a row into agent_guard.applied_keys in the agent's own
 * transaction, as the extension owner:
 *
 *		INSERT ... ON CONFLICT (agent_id, key) DO NOTHING RETURNING ...
 *
 * The primary key does the concurrency work.  When another transaction
 * holds an uncommitted claim of the same (agent, key), the insert waits
 * for it; if that one commits the insert finds the conflict, if it aborts
 * the insert goes ahead.  So exactly one of any set of racing transactions
 * applies the key, there is no window in which two do, and a transaction
 * that aborts (for whatever reason, at whatever point) takes its claim
 * with it and leaves the key free.  Under REPEATABLE READ or SERIALIZABLE
 * a claim that loses a race against a transaction committed after its
 * snapshot fails with a serialization failure instead; the retry then
 * gets the duplicate error.
 *
 * A claim that finds a committed key fails with ERRCODE_AG_DUPLICATE_KEY,
 * which aborts the agent's transaction: nothing it wrote stays.  Keys
 * older than agent_guard.idempotency_ttl do not count: such a row is
 * deleted and the claim made again.  Each claim also deletes a few expired
 * keys (the oldest, skipping locked ones), so that keys are cleaned up
 * without anybody having to remember to.
 *
 * The claim is cached per local transaction id and key, so only the first
 * write of a transaction pays for it.  The cache is dropped at the end of
 * the transaction, and when the subtransaction that made the claim aborts
 * (its row is gone then).  A transaction that switches keys claims each.
 *
 * Only writes to protected tables are seen (that is where the capture
 * trigger runs): a transaction whose writes all go to unprotected tables
 * records no key and is not checked.
 *
 * The queries run through owner_spi.c, with search_path = pg_catalog,
 * pg_temp, so that an agent's search_path cannot put its own functions or
 * operators into code that runs as the extension owner.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "agent_guard.h"
#include "compat.h"
#include "owner_spi.h"

/* How many expired keys one claim deletes on its way. */
#define AG_SWEEP_BATCH 16

/* How often a claim retries when the conflicting row vanishes under it. */
#define AG_CLAIM_ATTEMPTS 4

#define AG_KEY_GUC "agent_guard.idempotency_key"

/* GUC storage */
static char *guc_key = NULL;
static bool guc_require_key = false;
static int	guc_ttl = 7 * 24 * 3600;	/* seconds, 0 = keys never expire */

/* The key this transaction has claimed, and the subtransaction that did. */
static LocalTransactionId claimed_lxid = InvalidLocalTransactionId;
static SubTransactionId claimed_subid = InvalidSubTransactionId;
static char claimed_key[AG_MAX_ID_LEN + 1];

/* The key the last committed keyed transaction of this session claimed. */
static char session_last_key[AG_MAX_ID_LEN + 1];

/* Kept plans */
static SPIPlanPtr claim_plan = NULL;
static SPIPlanPtr lookup_plan = NULL;
static SPIPlanPtr expire_plan = NULL;
static SPIPlanPtr sweep_plan = NULL;

static bool
check_key(char **newval, void **extra, GucSource source)
{
	return *newval == NULL || ag_valid_label(*newval, "An idempotency key");
}

static void
forget_claim(void)
{
	claimed_lxid = InvalidLocalTransactionId;
	claimed_subid = InvalidSubTransactionId;
	claimed_key[0] = '\0';
}

static void
idempotency_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			/* MyProc's lxid is already cleared here; a claim not yet
			 * forgotten can only be this transaction's */
			if (claimed_lxid != InvalidLocalTransactionId)
				strlcpy(session_last_key, claimed_key, sizeof(session_last_key));
			forget_claim();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			forget_claim();
			break;
		default:
			break;
	}
}

/*
 * The claim made in a subtransaction belongs to its parent once the
 * subtransaction commits, and is gone when it aborts.
 */
static void
idempotency_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg)
{
	if (claimed_subid == InvalidSubTransactionId || claimed_subid != mySubid)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
		forget_claim();
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		claimed_subid = parentSubid;
}

void
ag_idempotency_init(void)
{
	DefineCustomStringVariable(AG_KEY_GUC,
							   gettext_noop("Names the change the current transaction makes, so that an agent's retry cannot apply it twice."),
							   gettext_noop("Set it with SET LOCAL at the start of a write transaction. A later transaction of the same agent "
											"with the same key fails at its first write to a protected table. Empty means no key."),
							   &guc_key,
							   "",
							   PGC_USERSET,
							   GUC_NOT_IN_SAMPLE,
							   check_key, NULL, NULL);

	DefineCustomBoolVariable("agent_guard.require_idempotency_key",
							 gettext_noop("Refuses agent transactions that write to protected tables without an idempotency key."),
							 NULL,
							 &guc_require_key,
							 false,
							 PGC_SUSET,
							 GUC_SUPERUSER_ONLY,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("agent_guard.idempotency_ttl",
							gettext_noop("How long an applied idempotency key keeps counting."),
							gettext_noop("Older keys no longer block a transaction and are deleted. 0 keeps keys forever. "
										 "Server-wide, so that a key's lifetime does not depend on the session that looks at it."),
							&guc_ttl,
							7 * 24 * 3600,
							0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	RegisterXactCallback(idempotency_xact_callback, NULL);
	RegisterSubXactCallback(idempotency_subxact_callback, NULL);
}

static void
prepare_plans(void)
{
	Oid			args3[3] = {TEXTOID, TEXTOID, TEXTOID};
	Oid			args_lookup[3] = {TEXTOID, TEXTOID, INT4OID};
	Oid			args_expire[3] = {TEXTOID, TEXTOID, XID8OID};
	Oid			args_sweep[1] = {INT4OID};

	if (claim_plan == NULL)
		claim_plan = ag_keep_plan(
							   "INSERT INTO agent_guard.applied_keys (agent_id, key, run_id) "
							   "VALUES ($1, $2, $3) ON CONFLICT (agent_id, key) DO NOTHING "
							   "RETURNING xid",
							   3, args3);
	if (lookup_plan == NULL)
		lookup_plan = ag_keep_plan(
								"SELECT k.xid, k.xid OPERATOR(pg_catalog.=) pg_catalog.pg_current_xact_id() AS mine, "
								"       $3 OPERATOR(pg_catalog.>) 0 AND k.applied_at OPERATOR(pg_catalog.<=) "
								"           (pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $3)) AS expired, "
								"       k.applied_at::pg_catalog.text, k.xid::pg_catalog.text, k.run_id, "
								"       (SELECT pg_catalog.count(*) FROM agent_guard.events e "
								"         WHERE e.xid OPERATOR(pg_catalog.=) k.xid AND e.agent_id OPERATOR(pg_catalog.=) k.agent_id "
								"           AND e.operation OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE'])) "
								"  FROM agent_guard.applied_keys k "
								" WHERE k.agent_id OPERATOR(pg_catalog.=) $1 AND k.key OPERATOR(pg_catalog.=) $2",
								3, args_lookup);
	if (expire_plan == NULL)
		expire_plan = ag_keep_plan(
								"DELETE FROM agent_guard.applied_keys k "
								" WHERE k.agent_id OPERATOR(pg_catalog.=) $1 AND k.key OPERATOR(pg_catalog.=) $2 AND k.xid OPERATOR(pg_catalog.=) $3",
								3, args_expire);
	if (sweep_plan == NULL)
		sweep_plan = ag_keep_plan(
							   "DELETE FROM agent_guard.applied_keys k WHERE k.ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
							   "  SELECT o.ctid FROM agent_guard.applied_keys o "
							   "   WHERE o.applied_at OPERATOR(pg_catalog.<=) (pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1)) "
							   "   ORDER BY o.applied_at LIMIT " CppAsString2(AG_SWEEP_BATCH)
							   "   FOR UPDATE SKIP LOCKED))",
							   1, args_sweep);
}

/*
 * Claim (agent, key) for the current transaction, or raise the duplicate
 * error.  Caller is connected to SPI and acts as the extension owner.
 */
static void
claim_key(const char *agent, const char *key, const char *run)
{
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	int			attempt;
	int			rc;

	values[0] = CStringGetTextDatum(agent);
	values[1] = CStringGetTextDatum(key);

	for (attempt = 0; attempt < AG_CLAIM_ATTEMPTS; attempt++)
	{
		HeapTuple	tup;
		TupleDesc	desc;
		bool		isnull;
		Datum		xid;

		values[2] = CStringGetTextDatum(run);
		rc = SPI_execute_plan(claim_plan, values, nulls, false, 0);
		if (rc != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "agent_guard: could not claim idempotency key: %s",
				 SPI_result_code_string(rc));
		if (SPI_processed == 1)
			return;				/* ours now */

		/* somebody holds it: who, and does it still count? */
		values[2] = Int32GetDatum(guc_ttl);
		rc = SPI_execute_plan(lookup_plan, values, nulls, false, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "agent_guard: could not look up idempotency key: %s",
				 SPI_result_code_string(rc));
		if (SPI_processed == 0)
			continue;			/* deleted since: try again */

		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		xid = SPI_getbinval(tup, desc, 1, &isnull);

		if (DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull)))
			return;				/* claimed earlier in this transaction */

		if (DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)))
		{
			Datum		evalues[3];

			/* expired: it no longer counts */
			evalues[0] = values[0];
			evalues[1] = values[1];
			evalues[2] = xid;
			rc = SPI_execute_plan(expire_plan, evalues, nulls, false, 0);
			if (rc != SPI_OK_DELETE)
				elog(ERROR, "agent_guard: could not delete expired idempotency key: %s",
					 SPI_result_code_string(rc));
			continue;
		}

		{
			char	   *at = SPI_getvalue(tup, desc, 4);
			char	   *xidtext = SPI_getvalue(tup, desc, 5);
			char	   *prevrun = SPI_getvalue(tup, desc, 6);
			int64		rows = DatumGetInt64(SPI_getbinval(tup, desc, 7, &isnull));
			bool		leftover = (strcmp(session_last_key, key) == 0);

			ereport(ERROR,
					(errcode(ERRCODE_AG_DUPLICATE_KEY),
					 errmsg("idempotency key \"%s\" was already applied", key),
					 errdetail_plural("Agent \"%s\" applied key \"%s\" at %s in transaction %s of run \"%s\", writing %lld row.",
									  "Agent \"%s\" applied key \"%s\" at %s in transaction %s of run \"%s\", writing %lld rows.",
									  (unsigned long) rows,
									  agent, key, at, xidtext,
									  prevrun ? prevrun : "(none)", (long long) rows),
					 leftover ?
					 errhint("Nothing was written by this transaction and the earlier result stands. "
							 "This session applied the key itself: if the key was set with SET rather than SET LOCAL, it is still in force.") :
					 errhint("Nothing was written by this transaction and the earlier result stands. "
							 "Use a new key for a new change.")));
		}
	}

	/* the row kept vanishing: fail closed */
	ereport(ERROR,
			(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
			 errmsg("could not claim idempotency key \"%s\"", key),
			 errdetail("The key was claimed and released %d times while this transaction tried to claim it.",
					   AG_CLAIM_ATTEMPTS),
			 errhint("Retry the transaction.")));
}

/* Delete a few expired keys; skip rows other transactions hold. */
static void
sweep_expired(void)
{
	Datum		values[1];
	int			rc;

	if (guc_ttl <= 0)
		return;
	values[0] = Int32GetDatum(guc_ttl);
	rc = SPI_execute_plan(sweep_plan, values, NULL, false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "agent_guard: could not delete expired idempotency keys: %s",
			 SPI_result_code_string(rc));
}

typedef struct KeyClaim
{
	const char *agent;
	const char *key;
	const char *run;
} KeyClaim;

/* As the extension owner, connected to SPI, search_path pinned (owner_spi.c). */
static void
claim_work(void *arg)
{
	KeyClaim   *c = (KeyClaim *) arg;

	prepare_plans();
	claim_key(c->agent, c->key, c->run);
	sweep_expired();
}

/*
 * Called by the capture trigger for every agent row write on a protected
 * table, before its event is logged.  Without a key this is one test (or
 * the refusal in required-key mode); with one, the first write of the
 * transaction claims it and later ones find it in the cache.
 */
void
ag_idempotency_check(const char *agent)
{
	const char *key = guc_key;
	KeyClaim	claim;

	if (key == NULL || key[0] == '\0')
	{
		if (guc_require_key)
			ereport(ERROR,
					(errcode(ERRCODE_AG_KEY_REQUIRED),
					 errmsg("agent write without an idempotency key"),
					 errdetail("Agent \"%s\" must name every write transaction on a protected table with an idempotency key (\"agent_guard.require_idempotency_key\" is on).",
							   agent),
					 errhint("Run SET LOCAL agent_guard.idempotency_key = '...' at the start of the transaction, with a key that names the change.")));
		return;
	}

	if (claimed_lxid == AG_MY_LXID && strcmp(claimed_key, key) == 0)
		return;

	claim.agent = agent;
	claim.key = key;
	claim.run = ag_current_run(true);
	ag_owner_spi(claim_work, &claim);

	claimed_lxid = AG_MY_LXID;
	claimed_subid = GetCurrentSubTransactionId();
	strlcpy(claimed_key, key, sizeof(claimed_key));
}

static bool
is_key_setting(VariableSetStmt *stmt)
{
	return stmt != NULL && stmt->kind == VAR_SET_VALUE && stmt->name != NULL &&
		pg_strcasecmp(stmt->name, AG_KEY_GUC) == 0;
}

/*
 * Called by the ProcessUtility hook after a utility statement ran.  A key
 * set for the whole session, or as a default for future sessions, would
 * make every later transaction a duplicate of the first: say so.
 */
void
ag_idempotency_after_utility(Node *parsetree)
{
	if (parsetree == NULL)
		return;

	if (IsA(parsetree, VariableSetStmt))
	{
		VariableSetStmt *stmt = (VariableSetStmt *) parsetree;

		if (is_key_setting(stmt) && !stmt->is_local &&
			guc_key != NULL && guc_key[0] != '\0')
			ereport(WARNING,
					(errcode(ERRCODE_WARNING),
					 errmsg("\"%s\" was set for the whole session", AG_KEY_GUC),
					 errdetail("Every later transaction of this session that writes will carry key \"%s\", and all but the first will fail as duplicates.",
							   guc_key),
					 errhint("Use SET LOCAL inside the transaction, so that the key ends with it.")));
	}
	else if ((IsA(parsetree, AlterRoleSetStmt) &&
			  is_key_setting(((AlterRoleSetStmt *) parsetree)->setstmt)) ||
			 (IsA(parsetree, AlterDatabaseSetStmt) &&
			  is_key_setting(((AlterDatabaseSetStmt *) parsetree)->setstmt)) ||
			 (IsA(parsetree, AlterSystemStmt) &&
			  is_key_setting(((AlterSystemStmt *) parsetree)->setstmt)))
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("\"%s\" was given a default for whole sessions", AG_KEY_GUC),
				 errdetail("Every transaction of those sessions that writes will carry the same key, and all but the first will fail as duplicates."),
				 errhint("Set idempotency keys with SET LOCAL inside each transaction.")));
}

/* SQL: agent_guard._idempotency_ttl() returns interval (NULL: no expiry) */
PG_FUNCTION_INFO_V1(ag_sql_idempotency_ttl);
Datum
ag_sql_idempotency_ttl(PG_FUNCTION_ARGS)
{
	Interval   *result;

	if (guc_ttl <= 0)
		PG_RETURN_NULL();
	result = (Interval *) palloc0(sizeof(Interval));
	result->time = (TimeOffset) guc_ttl * USECS_PER_SEC;
	PG_RETURN_INTERVAL_P(result);
}
