/*-------------------------------------------------------------------------
 * hash.c
 *		The hash chain over agent_guard.events: sealing.
 *
 * Each committed event gets a position (seal_seq, 1, 2, 3, ... in the order
 * the sealer finds events committed, which is not event_id order) and a
 * seal:
 *
 *		seal(n) = sha256(seal(n-1) || convert_to(agent_guard._event_content(event, n), 'UTF8'))
 *
 * with seal(0) the empty string, or the seal of the last archived event
 * after agent_guard.archive_log().  _event_content() (80_evidence.sql) is
 * the canonical text of the event: every column but the seal, the position
 * included, plus the row of its statement in agent_guard.statements, as
 * jsonb text, with the settings that change output forms pinned.  An edit
 * of any field, a deleted, inserted or moved event breaks the equation at
 * that position; agent_guard.verify_log() checks it in SQL, so sealer and
 * verifier are two implementations of one formula.
 *
 * Events only become visible to the sealer once their transaction has
 * committed, so events of aborted transactions never enter the chain, and
 * writers never wait: only sealers (the background sealer and
 * agent_guard.seal_log()) serialize among themselves, on the row lock of
 * agent_guard.chain_state, which holds the head of the chain.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "agent_guard.h"
#include "compat.h"

static SPIPlanPtr batch_plan = NULL;
static SPIPlanPtr update_plan = NULL;
static SPIPlanPtr head_plan = NULL;

static SPIPlanPtr
keep_plan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "agent_guard: could not prepare \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "agent_guard: SPI_keepplan failed");
	return plan;
}

/* sha256(prev || content) into out */
static void
chain_link(const uint8 *prev, size_t prevlen, const uint8 *content, size_t len,
		   uint8 *out)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, prev, prevlen) < 0 ||
		pg_cryptohash_update(ctx, content, len) < 0 ||
		pg_cryptohash_final(ctx, out, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "agent_guard: could not compute SHA-256: %s",
			 ctx ? pg_cryptohash_error(ctx) : "out of memory");
	pg_cryptohash_free(ctx);
}

/*
 * Seal up to max_events committed, unsealed events in the caller's
 * transaction.  The caller is connected to SPI.  Returns how many.
 */
int64
ag_chain_seal(int max_events)
{
	Oid			batch_types[2] = {INT8OID, INT4OID};
	Oid			update_types[3] = {INT8ARRAYOID, INT8ARRAYOID, BYTEAARRAYOID};
	Oid			head_types[2] = {INT8OID, BYTEAOID};
	Datum		args[3];
	bool		isnull;
	int64		seq;
	bytea	   *prev;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	SPITupleTable *batch;
	Datum	   *ids;
	Datum	   *seqs;
	Datum	   *seals;
	uint64		n;
	uint64		i;
	int			rc;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot seal the event log during recovery"),
				 errhint("The primary seals the log; its seals reach the standby by replication.")));

	/* the head; its row lock makes sealers take turns */
	rc = SPI_execute("SELECT last_seq, last_seal FROM agent_guard.chain_state FOR UPDATE", false, 0);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
				 errmsg("the head of the event log's hash chain is missing"),
				 errdetail("agent_guard.chain_state must hold exactly one row."),
				 errhint("Restore agent_guard.chain_state from a backup, or reinstall the extension.")));
	seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		elog(ERROR, "agent_guard.chain_state.last_seq is null");
	prev = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (isnull)
		elog(ERROR, "agent_guard.chain_state.last_seal is null");
	SPI_freetuptable(SPI_tuptable);

	if (batch_plan == NULL)
		batch_plan = keep_plan(
			"SELECT x.event_id, pg_catalog.convert_to(agent_guard._event_content(x.e, "
			"       $1 OPERATOR(pg_catalog.+) pg_catalog.row_number() OVER (ORDER BY x.event_id)), 'UTF8') "
			"  FROM (SELECT e.event_id, e FROM agent_guard.events e "
			"         WHERE e.seal_seq IS NULL ORDER BY e.event_id LIMIT $2) x "
			" ORDER BY x.event_id", 2, batch_types);
	/* one UPDATE for the whole batch: per-event statements cost more than the hashing */
	if (update_plan == NULL)
		update_plan = keep_plan(
			"UPDATE agent_guard.events e SET seal_seq = u.seq, seal = u.seal "
			"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)) "
			"       AS u(id, seq, seal) "
			" WHERE e.event_id OPERATOR(pg_catalog.=) u.id AND e.seal_seq IS NULL", 3, update_types);
	if (head_plan == NULL)
		head_plan = keep_plan(
			"UPDATE agent_guard.chain_state SET last_seq = $1, last_seal = $2, "
			"       sealed_at = pg_catalog.now()", 2, head_types);

	args[0] = Int64GetDatum(seq);
	args[1] = Int32GetDatum(max_events);
	rc = SPI_execute_plan(batch_plan, args, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "agent_guard: could not read unsealed events: %s", SPI_result_code_string(rc));
	batch = SPI_tuptable;
	n = SPI_processed;
	ids = palloc(sizeof(Datum) * Max(n, 1));
	seqs = palloc(sizeof(Datum) * Max(n, 1));
	seals = palloc(sizeof(Datum) * Max(n, 1));

	for (i = 0; i < n; i++)
	{
		int64		event_id;
		bytea	   *content;
		bytea	   *seal;

		CHECK_FOR_INTERRUPTS();
		event_id = DatumGetInt64(SPI_getbinval(batch->vals[i], batch->tupdesc, 1, &isnull));
		content = DatumGetByteaPP(SPI_getbinval(batch->vals[i], batch->tupdesc, 2, &isnull));
		if (isnull)
			elog(ERROR, "agent_guard: canonical content of event " INT64_FORMAT " is null", event_id);

		chain_link((uint8 *) VARDATA_ANY(prev), VARSIZE_ANY_EXHDR(prev),
				   (uint8 *) VARDATA_ANY(content), VARSIZE_ANY_EXHDR(content), digest);
		seal = (bytea *) palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
		SET_VARSIZE(seal, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
		memcpy(VARDATA(seal), digest, PG_SHA256_DIGEST_LENGTH);
		seq++;

		ids[i] = Int64GetDatum(event_id);
		seqs[i] = Int64GetDatum(seq);
		seals[i] = PointerGetDatum(seal);
		prev = seal;
	}

	if (n > 0)
	{
		args[0] = PointerGetDatum(construct_array(ids, (int) n, INT8OID, sizeof(int64),
												  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[1] = PointerGetDatum(construct_array(seqs, (int) n, INT8OID, sizeof(int64),
												  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[2] = PointerGetDatum(construct_array(seals, (int) n, BYTEAOID, -1,
												  false, TYPALIGN_INT));
		rc = SPI_execute_plan(update_plan, args, NULL, false, 0);
		if (rc != SPI_OK_UPDATE || SPI_processed != n)
			elog(ERROR, "agent_guard: could not seal " UINT64_FORMAT " events (sealed " UINT64_FORMAT ")",
				 n, (uint64) SPI_processed);

		args[0] = Int64GetDatum(seq);
		args[1] = PointerGetDatum(prev);
		rc = SPI_execute_plan(head_plan, args, NULL, false, 0);
		if (rc != SPI_OK_UPDATE || SPI_processed != 1)
			elog(ERROR, "agent_guard: could not move the head of the hash chain");
	}
	SPI_freetuptable(batch);
	return (int64) n;
}

/*
 * agent_guard._seal_pending(max_events int) → bigint: seal now, in this
 * transaction (agent_guard.seal_log() wraps it for humans).
 */
PG_FUNCTION_INFO_V1(ag_sql_seal_pending);
Datum
ag_sql_seal_pending(PG_FUNCTION_ARGS)
{
	int32		max_events = PG_ARGISNULL(0) ? PG_INT32_MAX : PG_GETARG_INT32(0);
	int64		total = 0;
	int64		n;

	if (max_events <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_events must be positive")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "agent_guard: SPI_connect failed");
	do
	{
		n = ag_chain_seal(Min(max_events - total, 10000));
		total += n;
	} while (n > 0 && total < max_events);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "agent_guard: SPI_finish failed");

	PG_RETURN_INT64(total);
}
