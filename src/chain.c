/*-------------------------------------------------------------------------
 * chain.c
 *		The hash chain over agent_guard.events: sealing.  Called by the
 *		sealer (worker.c) and by agent_guard.seal_log().
 *
 * Each committed event gets a position (seal_seq, 1, 2, 3, ... in the order
 * the sealer finds events committed, which is not event_id order) and a
 * seal, kept since 1.2 in agent_guard.seals (one row per batch: the events'
 * ids in chain order and their seals; the event row is written once, by
 * its writer) and before in the event row's seal_seq and seal columns:
 *
 *		seal(n) = sha256(seal(n-1) || convert_to(agent_guard._event_content(event, n), 'UTF8'))
 *
 * with seal(0) the empty string, or the seal of the last archived event
 * after agent_guard.archive_log().  _event_content() (80_evidence.sql) is
 * the canonical text of the event: every column but the seal, the position
 * included, plus the row of its statement in agent_guard.statement_rows
 * (null for events since 1.2, which keep their statement themselves), as
 * jsonb text, with the settings that change output forms pinned.  An edit
 * of any field, a deleted, inserted or moved event breaks the equation at
 * that position; agent_guard.verify_log() checks it in SQL, so sealer and
 * verifier are two implementations of one formula.
 *
 * Events only become visible to the sealer once their transaction has
 * committed, so events of aborted transactions never enter the chain, and
 * writers never wait: only sealers (the background sealer and
 * agent_guard.seal_log()) serialize among themselves, on the row lock of
 * agent_guard.chain_state, which holds the head of the chain and which
 * events are sealed (sealed_through and gaps, see seal_batch()).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/procarray.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/multirangetypes.h"
#include "utils/rangetypes.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

#include "agent_guard.h"
#include "canon.h"
#include "chain.h"
#include "compat.h"
#include "fastinsert.h"
#include "owner_spi.h"

static SPIPlanPtr batch_plan = NULL;
static SPIPlanPtr stmt_plan = NULL;
static SPIPlanPtr old_stmt_plan = NULL;
static SPIPlanPtr head_plan = NULL;

/*
 * The settings that change how values print; _event_content() pins the
 * same ones with SET clauses.
 */
static const char *const pinned_settings[][2] = {
	{"TimeZone", "UTC"},
	{"DateStyle", "ISO, YMD"},
	{"IntervalStyle", "iso_8601"},
	{"extra_float_digits", "1"},
	{"bytea_output", "hex"},
	/*
	 * Not printing: the batch's statements are joined to their ids by key.
	 * The statistics rarely know how many statements a backlog holds, and
	 * a hash join would read them all once per batch.
	 */
	{"enable_hashjoin", "off"},
	{"enable_mergejoin", "off"},
	/*
	 * The batch reads unsealed events in order from their partial index.
	 * A sealer keeps its plans for its life, and a plan made while the log
	 * was small scans and sorts the whole table for every batch: sealing
	 * then slows as the log grows, and falls behind the writers for good.
	 */
	{"enable_seqscan", "off"},
	{"enable_bitmapscan", "off"},
	{"enable_sort", "off"},
	/* what those settings add to the costs must not start the JIT compiler */
	{"jit", "off"},
};

/* a statement's canonical text, by statement_id, for one batch */
typedef struct StmtContent
{
	int64		statement_id;	/* hash key */
	bool		read;			/* its row was read (or is known missing) */
	char	   *text;			/* NULL: no such statement */
} StmtContent;

/*
 * A batch keeps its statements' texts at once (an event is sealed with its
 * statement's), so it reads them until they take AG_SEAL_BATCH_BYTES, and
 * the batch ends before the first event whose statement was not read: its
 * memory is this, plus one statement (at most AG_MAX_QUERY_LOG and
 * AG_PARAM_LOG_BYTES, printed up to 6 bytes a character), plus one event.
 * By count alone, 5,000 statements of 1 MB needed 30 GB (red team 13,
 * finding 1).  The statement rows are read by a cursor, AG_SEAL_STMT_FETCH
 * at a time, for the same reason.
 */
#define AG_SEAL_BATCH_BYTES ((Size) 64 * 1024 * 1024)
#define AG_SEAL_STMT_FETCH 16

/*
 * SPI leaves CurrentMemoryContext at its procedure context after every call,
 * so whatever the sealer allocated after a query lived until SPI_finish():
 * seal_log() over a backlog kept every batch in memory.  ag_ag_keep_plan()
 * (owner_spi.c) and run_plan() put the caller's context back.
 */
/* SPI_execute_plan(), or SPI_execute() of sql, in the caller's context */
static int
run_plan(SPIPlanPtr plan, const char *sql, Datum *args)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			rc = plan != NULL ? SPI_execute_plan(plan, args, NULL, false, 0) :
		SPI_execute(sql, false, 0);

	MemoryContextSwitchTo(cxt);
	return rc;
}

/* sha256(a || b) into out (32 bytes) */
void
ag_sha256(const uint8 *a, size_t alen, const uint8 *b, size_t blen, uint8 *out)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, a, alen) < 0 ||
		pg_cryptohash_update(ctx, b, blen) < 0 ||
		pg_cryptohash_final(ctx, out, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "agent_guard: could not compute SHA-256: %s",
			 ctx ? pg_cryptohash_error(ctx) : "out of memory");
	pg_cryptohash_free(ctx);
}

/*
 * The canonical text of the statements of a batch (the batch query's second
 * column), as _event_content() nests them: every column but the NULLs.
 * *n becomes the number of the batch's first events whose statements fit
 * in AG_SEAL_BATCH_BYTES (at least one).
 */
static HTAB *
batch_statements(SPITupleTable *batch, uint64 *n)
{
	HASHCTL		ctl;
	HTAB	   *stmts;
	Datum	   *ids = palloc(sizeof(Datum) * Max(*n, 1));
	int			nids = 0;
	uint64		i;
	Oid			types[1] = {INT8ARRAYOID};
	Datum		args[1];
	bool		isnull;
	bool		found;
	AgCanonRow *canon = NULL;
	MemoryContext rowcxt;
	MemoryContext cxt = CurrentMemoryContext;
	int			sid_col = 0;
	Datum	   *values = NULL;
	bool	   *nulls = NULL;
	StringInfoData buf;
	Portal		portal;
	Size		kept = 0;
	bool		first_read = false;
	bool		cut = false;
	SPIPlanPtr	plan;

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(StmtContent);
	ctl.hcxt = CurrentMemoryContext;
	stmts = hash_create("agent_guard statement rows", 64, &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (i = 0; i < *n; i++)
	{
		int64		sid = DatumGetInt64(SPI_getbinval(batch->vals[i], batch->tupdesc, 2, &isnull));
		StmtContent *sc;

		if (isnull)
			continue;
		sc = hash_search(stmts, &sid, HASH_ENTER, &found);
		if (!found)
		{
			sc->read = false;
			sc->text = NULL;
			ids[nids++] = Int64GetDatum(sid);
		}
	}
	if (nids == 0)
		return stmts;

	/*
	 * A join, not "= ANY ($1)": a generic plan of that scans the table and
	 * compares every row with every id; this one looks each id up, in the
	 * order of the events.
	 *
	 * The rows are agent_guard.statement_rows since 1.2, and were
	 * agent_guard.statements before; from 1.2 on, agent_guard.statements is
	 * a view that also shows the statements kept in events, which must not
	 * be sealed as statement rows.  Until ALTER EXTENSION UPDATE this
	 * library seals a 1.1 log; a plan of the old name that the update
	 * invalidated would be planned again on the view, so the name is
	 * chosen here, after the batch query took in the catalog's changes: an
	 * update that commits later finds the batch's events all with their
	 * statements in the table, which both names show alike.
	 */
	if (OidIsValid(ag_own_table_oid("statement_rows")))
	{
		if (stmt_plan == NULL)
			stmt_plan = ag_keep_plan(
				"SELECT s.* "
				"  FROM pg_catalog.unnest($1) AS u(id) JOIN agent_guard.statement_rows s "
				"    ON s.statement_id OPERATOR(pg_catalog.=) u.id", 1, types);
		plan = stmt_plan;
	}
	else
	{
		if (old_stmt_plan == NULL)
			old_stmt_plan = ag_keep_plan(
				"SELECT s.* "
				"  FROM pg_catalog.unnest($1) AS u(id) JOIN agent_guard.statements s "
				"    ON s.statement_id OPERATOR(pg_catalog.=) u.id", 1, types);
		plan = old_stmt_plan;
	}
	args[0] = PointerGetDatum(construct_array(ids, nids, INT8OID, sizeof(int64),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	portal = SPI_cursor_open(NULL, plan, args, NULL, false);
	MemoryContextSwitchTo(cxt);
	if (portal == NULL)
		elog(ERROR, "agent_guard: could not read statements: %s", SPI_result_code_string(SPI_result));

	/* what printing a row allocates (detoasted values, output strings) goes with it */
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "agent_guard statement content",
								   ALLOCSET_DEFAULT_SIZES);
	while (!cut)
	{
		SPI_cursor_fetch(portal, true, AG_SEAL_STMT_FETCH);
		MemoryContextSwitchTo(cxt);
		if (SPI_processed == 0)
		{
			SPI_freetuptable(SPI_tuptable);
			break;
		}
		if (canon == NULL)
		{
			sid_col = SPI_fnumber(SPI_tuptable->tupdesc, "statement_id");
			canon = ag_canon_prepare(SPI_tuptable->tupdesc, NULL, NULL);
			values = palloc(sizeof(Datum) * SPI_tuptable->tupdesc->natts);
			nulls = palloc(sizeof(bool) * SPI_tuptable->tupdesc->natts);
		}
		for (i = 0; i < SPI_processed; i++)
		{
			int64		sid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
														  sid_col, &isnull));
			StmtContent *sc = hash_search(stmts, &sid, HASH_FIND, NULL);
			MemoryContext old;

			if (sc == NULL || sc->read)
				continue;
			/* the first event's statement is always read: every batch seals one */
			if (kept >= AG_SEAL_BATCH_BYTES && first_read)
			{
				cut = true;
				break;
			}
			old = MemoryContextSwitchTo(rowcxt);
			heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, values, nulls);
			initStringInfo(&buf);
			ag_canon_append(&buf, canon, values, nulls, NULL);
			MemoryContextSwitchTo(old);
			sc->text = pstrdup(buf.data);
			sc->read = true;
			kept += (Size) buf.len;
			if (sid == DatumGetInt64(ids[0]))
				first_read = true;
			MemoryContextReset(rowcxt);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	MemoryContextSwitchTo(cxt);
	MemoryContextDelete(rowcxt);

	/* the batch ends before the first event whose statement was not read */
	for (i = 0; cut && i < *n; i++)
	{
		int64		sid = DatumGetInt64(SPI_getbinval(batch->vals[i], batch->tupdesc, 2, &isnull));
		StmtContent *sc;

		if (isnull)
			continue;
		sc = hash_search(stmts, &sid, HASH_FIND, NULL);
		if (!sc->read)
		{
			elog(DEBUG1, "agent_guard: a seal batch ends after " UINT64_FORMAT " of " UINT64_FORMAT " events: their statements print as %zu bytes",
				 i, *n, kept);
			*n = i;
			break;
		}
	}
	return stmts;
}

static AttrNumber
attnum_of(Relation rel, const char *colname)
{
	AttrNumber	attno = get_attnum(RelationGetRelid(rel), colname);

	if (attno <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
				 errmsg("column \"%s\" of relation \"%s.events\" does not exist", colname, AG_SCHEMA),
				 errhint("Reinstall the agent_guard extension.")));
	return attno;
}

/*
 * Seal the events at tids, in that order, at positions seq + 1, seq + 2,
 * ...; *prev is the seal before them and becomes the last one.
 *
 * Each row is fetched by its tid, its canonical content printed from its
 * values (canon.c) and hashed, and the row updated in place of an UPDATE
 * statement with its position and seal: a join of the batch to events was
 * at the mercy of statistics that never know how many events wait (a plan
 * that rescanned the batch per unsealed event made sealing quadratic in the
 * backlog).  Events have no triggers, rules or row security (fastinsert.c
 * checks), and sealers take turns on the chain's head, so a row changed
 * under us is an error, and the batch is done again by the next pass.
 */
static void
seal_events(ItemPointerData *tids, uint64 n, HTAB *stmts, int64 seq, bytea **prev,
			uint8 *seals)
{
	static const char *const skip[] = {"seal", NULL};
	static const char *const extras[] = {"seal_seq", "statement_row", NULL};
	Relation	rel = ag_open_own_table("events");
	TupleDesc	desc = RelationGetDescr(rel);
	EState	   *estate = CreateExecutorState();
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	TupleTableSlot *oldslot = table_slot_create(rel, NULL);
	TupleTableSlot *newslot = MakeSingleTupleTableSlot(desc, &TTSOpsVirtual);
	AttrNumber	seq_att = attnum_of(rel, "seal_seq");
	AttrNumber	seal_att = attnum_of(rel, "seal");
	AttrNumber	stmt_att = attnum_of(rel, "statement_id");
	AgCanonRow *canon = ag_canon_prepare(desc, skip, extras);
	MemoryContext evcxt = AllocSetContextCreate(CurrentMemoryContext, "agent_guard event content",
												ALLOCSET_DEFAULT_SIZES);
	StringInfoData buf;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	/*
	 * The batch query ran on a snapshot of its own, newer than the active
	 * one: an event it found may have committed after the active snapshot
	 * was taken.  A snapshot taken now sees every one of them, and still
	 * misses nothing that changed them since.
	 */
	Snapshot	snapshot = GetLatestSnapshot();
	uint64		i;

	InitResultRelInfo(rri, rel, 1, NULL, 0);
	if (seals == NULL)
		ExecOpenIndices(rri, false);
	initStringInfo(&buf);

	for (i = 0; i < n; i++)
	{
		AgUpdateIndexes update_indexes;
		const char *extra_text[2];
		StmtContent *sc = NULL;
		bytea	   *seal;
		char	   *utf8;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (!table_tuple_fetch_row_version(rel, &tids[i], snapshot, oldslot))
			elog(ERROR, "agent_guard: an event to seal changed under the sealer");
		slot_getallattrs(oldslot);
		/*
		 * An event sealed by 1.1 has its position in the row; in a batch it
		 * can only be one written so (it was never found unsealed), and it
		 * is sealed as it is: verify_log() finds it at two positions.
		 */
		if (seals == NULL && !oldslot->tts_isnull[seq_att - 1])
			elog(ERROR, "agent_guard: an event to seal is sealed already");
		seq++;

		/* its content: _event_content(event, seq) */
		old = MemoryContextSwitchTo(evcxt);
		if (!oldslot->tts_isnull[stmt_att - 1])
		{
			int64		sid = DatumGetInt64(oldslot->tts_values[stmt_att - 1]);

			sc = hash_search(stmts, &sid, HASH_FIND, NULL);
		}
		extra_text[0] = psprintf(INT64_FORMAT, seq);
		extra_text[1] = sc != NULL && sc->text != NULL ? sc->text : "null";
		resetStringInfo(&buf);
		ag_canon_append(&buf, canon, oldslot->tts_values, oldslot->tts_isnull, extra_text);
		utf8 = pg_server_to_any(buf.data, buf.len, PG_UTF8);
		ag_sha256((uint8 *) VARDATA_ANY(*prev), VARSIZE_ANY_EXHDR(*prev),
				   (uint8 *) utf8, strlen(utf8), digest);
		MemoryContextSwitchTo(old);
		MemoryContextReset(evcxt);

		if (seals != NULL)
		{
			/* batch seals: the row stays as it was written */
			memcpy(seals + i * PG_SHA256_DIGEST_LENGTH, digest, PG_SHA256_DIGEST_LENGTH);
			if (i == 0)
			{
				*prev = (bytea *) palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
				SET_VARSIZE(*prev, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
			}
			memcpy(VARDATA(*prev), digest, PG_SHA256_DIGEST_LENGTH);
			continue;
		}
		seal = (bytea *) palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
		SET_VARSIZE(seal, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
		memcpy(VARDATA(seal), digest, PG_SHA256_DIGEST_LENGTH);
		*prev = seal;

		ExecClearTuple(newslot);
		memcpy(newslot->tts_values, oldslot->tts_values, sizeof(Datum) * desc->natts);
		memcpy(newslot->tts_isnull, oldslot->tts_isnull, sizeof(bool) * desc->natts);
		newslot->tts_values[seq_att - 1] = Int64GetDatum(seq);
		newslot->tts_isnull[seq_att - 1] = false;
		newslot->tts_values[seal_att - 1] = PointerGetDatum(seal);
		newslot->tts_isnull[seal_att - 1] = false;
		ExecStoreVirtualTuple(newslot);

		simple_table_tuple_update(rel, &tids[i], newslot, snapshot, &update_indexes);
		ResetPerTupleExprContext(estate);
		list_free(AG_UPDATE_INDEX_TUPLES(rri, newslot, estate, update_indexes));
	}

	MemoryContextDelete(evcxt);
	ExecDropSingleTupleTableSlot(oldslot);
	ExecDropSingleTupleTableSlot(newslot);
	if (seals == NULL)
		ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
}

/*
 * The batch seals (since 1.2, agent_guard.seals) leave the event rows as
 * they were written: the sealer must know which events it sealed without
 * marking them.  agent_guard.chain_state keeps
 *
 *		sealed_through	every event id at or below it is sealed, or in gaps,
 *						or will never exist;
 *		gaps			the ids at or below sealed_through not sealed yet,
 *						as an int8multirange: a run of ids skipped
 *						together is one range, whatever its length.
 *
 * A pass seals the events of gaps that became visible and the next events
 * above sealed_through, in event_id order; the ids it skips above
 * sealed_through (not visible: their transaction runs, aborted, or the
 * value was taken and never used) become gaps.  An id leaves the gaps when
 * it is sealed, or when it is proven to never exist: the sealer reads the
 * events sequence's last value M and then the virtual transaction ids
 * running (a probe); a transaction that took an id <= M had taken it
 * before, so it is one of them or had ended.  Once all of them have ended
 * (VirtualXactLock(vxid, false), as CREATE INDEX CONCURRENTLY waits, but
 * without waiting: the next pass looks again), an id <= M that a snapshot
 * taken after that does not show never will be.  This needs the sequence
 * to hand out its values in order of nextval(), i.e. CACHE 1 (as the
 * extension creates it): with a cache a backend could use a value long
 * after it took it, so the sealer then keeps its gaps (and warns).  A gap
 * never stalls sealing: the events above it are sealed meanwhile.
 *
 * Two ranges of gaps are apart by at least one sealed event, so they
 * number at most one more than the events sealed while they stay: an
 * agent's aborted writes, however many, add one range per run of them
 * between two committed events.  A batch reads them all (each is one
 * index range scan for events that became visible), and writes them anew
 * only when they changed.
 *
 * The probe is kept by the process (the sealer between its passes, a
 * session between its calls of seal_log()); it is only knowledge about
 * other transactions, so it survives an abort of the pass.
 */
typedef struct GapProbe
{
	bool		held;
	int64		last_value;		/* the sequence's last value, read first */
	int			nvxids;
	VirtualTransactionId *vxids;	/* then the transactions running */
} GapProbe;

static GapProbe probe = {false, 0, 0, NULL};
static SPIPlanPtr new_batch_plan = NULL;
static SPIPlanPtr seals_plan = NULL;
static SPIPlanPtr state_plan = NULL;
static bool warned_cache = false;

static void
probe_take(void)
{
	int			rc;
	bool		isnull;
	int64		last;
	int64		cache;
	VirtualTransactionId *vxids;
	int			n;

	probe.held = false;
	rc = run_plan(NULL,
				  "SELECT pg_catalog.pg_sequence_last_value(s.seqrelid), s.seqcache "
				  "  FROM pg_catalog.pg_sequence s "
				  " WHERE s.seqrelid OPERATOR(pg_catalog.=) "
				  "       pg_catalog.pg_get_serial_sequence('agent_guard.events', 'event_id')::pg_catalog.regclass",
				  NULL);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "agent_guard: could not read the sequence of agent_guard.events");
	last = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		last = 0;				/* no id was ever taken */
	cache = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	SPI_freetuptable(SPI_tuptable);
	if (cache != 1)
	{
		if (!warned_cache)
			ereport(WARNING,
					(errmsg("the sequence of agent_guard.events caches " INT64_FORMAT " values", cache),
					 errdetail("The sealer cannot prove that an event id it skipped will never be used, and keeps it in agent_guard.chain_state.gaps."),
					 errhint("ALTER SEQUENCE agent_guard.events_event_id_seq CACHE 1.")));
		warned_cache = true;
		return;
	}

	/*
	 * After the value: a transaction that took one it shows is in the list,
	 * or ended.  Autovacuum takes no event id (as CREATE INDEX CONCURRENTLY,
	 * its workers are not waited for).
	 */
	vxids = GetCurrentVirtualXIDs(InvalidTransactionId, false, false,
								   PROC_IS_AUTOVACUUM | PROC_IN_VACUUM, &n);
	if (probe.vxids != NULL)
		pfree(probe.vxids);
	probe.vxids = MemoryContextAlloc(TopMemoryContext, sizeof(VirtualTransactionId) * Max(n, 1));
	memcpy(probe.vxids, vxids, sizeof(VirtualTransactionId) * n);
	pfree(vxids);
	probe.nvxids = n;
	probe.last_value = last;
	probe.held = true;
}

/* Have all the transactions of the probe ended?  Never waits. */
static bool
probe_done(void)
{
	int			i;

	if (!probe.held)
		return false;
	for (i = 0; i < probe.nvxids; i++)
	{
		if (!VirtualTransactionIdIsValid(probe.vxids[i]))
			continue;
		if (!VirtualXactLock(probe.vxids[i], false))
			return false;
		SetInvalidVirtualTransactionId(probe.vxids[i]);
	}
	return true;
}

/* a range of gaps, both ends included */
typedef struct GapRange
{
	int64		lo;
	int64		hi;
} GapRange;

typedef struct GapList
{
	GapRange   *r;
	int			n;
	int			cap;
} GapList;

static TypeCacheEntry *
int8range_type(void)
{
	return lookup_type_cache(INT8RANGEOID, TYPECACHE_RANGE_INFO);
}

/* Append [lo, hi] (above every range so far), joining it to an adjacent one. */
static void
gaps_add(GapList *g, int64 lo, int64 hi)
{
	if (lo > hi)
		return;
	if (g->n > 0 && g->r[g->n - 1].hi >= lo - 1)
	{
		g->r[g->n - 1].hi = Max(g->r[g->n - 1].hi, hi);
		return;
	}
	if (g->n >= g->cap)
	{
		g->cap = g->cap * 2 + 64;
		g->r = g->r == NULL ? palloc(sizeof(GapRange) * g->cap)
			: repalloc(g->r, sizeof(GapRange) * g->cap);
	}
	g->r[g->n].lo = lo;
	g->r[g->n].hi = hi;
	g->n++;
}

/* the ranges of agent_guard.chain_state.gaps, in order */
static GapList
gaps_read(MultirangeType *mr)
{
	TypeCacheEntry *typcache = int8range_type();
	GapList		g = {NULL, 0, 0};
	uint32		i;

	for (i = 0; i < mr->rangeCount; i++)
	{
		RangeBound lower;
		RangeBound upper;
		int64		lo;
		int64		hi;

		multirange_get_bounds(typcache, mr, i, &lower, &upper);
		if (lower.infinite || upper.infinite)
			elog(ERROR, "agent_guard.chain_state.gaps holds an unbounded range");
		/* int8range is canonical: [lo, hi) */
		lo = DatumGetInt64(lower.val) + (lower.inclusive ? 0 : 1);
		hi = DatumGetInt64(upper.val) - (upper.inclusive ? 0 : 1);
		gaps_add(&g, lo, hi);
	}
	return g;
}

static MultirangeType *
gaps_make(GapList *g)
{
	TypeCacheEntry *typcache = int8range_type();
	RangeType **ranges = palloc(sizeof(RangeType *) * Max(g->n, 1));
	int			i;

	/*
	 * Already in int8range's canonical form, [lo, hi + 1): serialized
	 * without a call of its canonical function per range.
	 */
	for (i = 0; i < g->n; i++)
	{
		RangeBound lower = {Int64GetDatum(g->r[i].lo), false, true, true};
		RangeBound upper = {Int64GetDatum(g->r[i].hi + 1), false, false, false};

		ranges[i] = AG_RANGE_SERIALIZE(typcache, &lower, &upper);
	}
	return make_multirange(INT8MULTIRANGEOID, typcache, g->n, ranges);
}

static bool
gaps_equal(GapList *a, GapList *b)
{
	return a->n == b->n && (a->n == 0 || memcmp(a->r, b->r, sizeof(GapRange) * a->n) == 0);
}

static ArrayType *
int8_array(int64 *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = Int64GetDatum(values[i]);
	return construct_array(d, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/*
 * The batch seals: up to max_events events sealed in one row of
 * agent_guard.seals (their ids in chain order, their seals), the head,
 * sealed_through and gaps in agent_guard.chain_state.  The caller holds the
 * head's row lock and pinned the settings.
 */
static int64
seal_batch(int max_events, int64 seq, bytea *prev, int64 through, MultirangeType *gaps_mr)
{
	Oid			batch_types[3] = {INT8OID, INT8MULTIRANGEOID, INT4OID};
	Oid			seals_types[4] = {INT8OID, INT8OID, INT8ARRAYOID, BYTEAOID};
	Oid			state_types[6] = {INT8OID, BYTEAOID, INT8OID, INT8MULTIRANGEOID, BOOLOID, BOOLOID};
	Datum		args[6];
	bool		isnull;
	GapList		gaps = gaps_read(gaps_mr);
	GapList		newgaps = {NULL, 0, 0};
	int64	   *ids;
	int64		new_through = through;
	bool		resolve;
	bool		complete;
	bool		changed = false;
	bool		gaps_changed;
	SPITupleTable *batch;
	HTAB	   *stmts;
	ItemPointerData *tids;
	uint64		got;
	uint64		n;
	uint64		i;
	int			g;
	int			rc;
	bytea	   *seals = NULL;

	if (new_batch_plan == NULL)
		new_batch_plan = ag_keep_plan(
			"SELECT x.ctid, x.statement_id, x.event_id FROM ("
			"    SELECT e.ctid, e.statement_id, e.event_id "
			"      FROM pg_catalog.unnest($2) AS g(r) JOIN agent_guard.events e "
			"        ON e.event_id OPERATOR(pg_catalog.>=) pg_catalog.lower(g.r) "
			"       AND e.event_id OPERATOR(pg_catalog.<) pg_catalog.upper(g.r) "
			"    UNION ALL "
			"    (SELECT e.ctid, e.statement_id, e.event_id FROM agent_guard.events e "
			"      WHERE e.event_id OPERATOR(pg_catalog.>) $1 ORDER BY e.event_id LIMIT $3)) x "
			" ORDER BY x.event_id LIMIT $3", 3, batch_types);
	if (seals_plan == NULL)
		seals_plan = ag_keep_plan(
			"INSERT INTO agent_guard.seals (first_seq, last_seq, event_ids, seals) "
			"VALUES ($1, $2, $3, $4)", 4, seals_types);
	if (state_plan == NULL)
		state_plan = ag_keep_plan(
			"UPDATE agent_guard.chain_state SET last_seq = $1, last_seal = $2, "
			"       sealed_through = $3, "
			"       gaps = CASE WHEN $6 THEN $4 ELSE gaps END, "
			"       sealed_at = CASE WHEN $5 THEN pg_catalog.now() ELSE sealed_at END",
			6, state_types);

	/*
	 * Before the batch query: its snapshot is then taken after the probe's
	 * transactions ended.  A snapshot of the caller's transaction (seal_log()
	 * at REPEATABLE READ) may be older: then no gap is dropped.
	 */
	resolve = !IsolationUsesXactSnapshot() && probe_done();

	args[0] = Int64GetDatum(through);
	args[1] = PointerGetDatum(gaps_mr);
	args[2] = Int32GetDatum(max_events);
	rc = run_plan(new_batch_plan, NULL, args);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "agent_guard: could not read unsealed events: %s", SPI_result_code_string(rc));
	batch = SPI_tuptable;
	got = SPI_processed;
	n = got;
	stmts = batch_statements(batch, &n);
	/* the query saw every visible id it could return, up to its last one */
	complete = got < (uint64) max_events && n == got;

	tids = palloc(sizeof(ItemPointerData) * Max(n, 1));
	ids = palloc(sizeof(int64) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		tids[i] = *(ItemPointer) DatumGetPointer(SPI_getbinval(batch->vals[i], batch->tupdesc, 1, &isnull));
		ids[i] = DatumGetInt64(SPI_getbinval(batch->vals[i], batch->tupdesc, 3, &isnull));
	}

	/*
	 * The gaps after this batch: the old ones not sealed now, and the ids
	 * above sealed_through it skipped; those the probe proves never to
	 * exist are left out.  Of the old ones, every id up to resolved_to: an
	 * id the batch query did not reach (it stopped at its limit) may be
	 * visible.
	 */
	{
		uint64		j = 0;
		int64		last_seen = n > 0 ? ids[n - 1] : PG_INT64_MIN;
		bool		resolves = false;
		int64		resolved_to = 0;

		if (resolve && complete)
		{
			resolves = true;
			resolved_to = probe.last_value;
		}
		else if (resolve && n > 0)
		{
			resolves = true;
			resolved_to = Min(probe.last_value, last_seen - 1);
		}
		for (g = 0; g < gaps.n; g++)
		{
			int64		lo = gaps.r[g].lo;
			int64		hi = gaps.r[g].hi;

			if (resolves && lo <= resolved_to)
				lo = resolved_to + 1;

			/* the ids sealed now split the range */
			while (j < n && ids[j] < lo)
				j++;
			while (j < n && ids[j] <= hi)
			{
				gaps_add(&newgaps, lo, ids[j] - 1);
				lo = ids[j] + 1;
				j++;
			}
			gaps_add(&newgaps, lo, hi);
		}
	}
	for (i = 0; i < n; i++)
	{
		int64		lo = new_through + 1;

		if (ids[i] <= through)
			continue;
		/* ids between the previous one and this one were not visible */
		if (resolve && probe.last_value >= lo)
			lo = probe.last_value + 1;
		gaps_add(&newgaps, lo, ids[i] - 1);
		new_through = ids[i];
	}
	gaps_changed = !gaps_equal(&gaps, &newgaps);
	changed = n > 0 || gaps_changed || new_through != through;
	if (resolve)
		probe.held = false;

	if (n > 0)
	{
		seals = palloc(VARHDRSZ + n * PG_SHA256_DIGEST_LENGTH);
		SET_VARSIZE(seals, VARHDRSZ + n * PG_SHA256_DIGEST_LENGTH);
		seal_events(tids, n, stmts, seq, &prev, (uint8 *) VARDATA(seals));

		args[0] = Int64GetDatum(seq + 1);
		args[1] = Int64GetDatum(seq + (int64) n);
		args[2] = PointerGetDatum(int8_array(ids, (int) n));
		args[3] = PointerGetDatum(seals);
		rc = run_plan(seals_plan, NULL, args);
		if (rc != SPI_OK_INSERT || SPI_processed != 1)
			elog(ERROR, "agent_guard: could not record the seals of a batch");
		seq += (int64) n;
	}
	if (changed)
	{
		args[0] = Int64GetDatum(seq);
		args[1] = PointerGetDatum(prev);
		args[2] = Int64GetDatum(new_through);
		args[3] = PointerGetDatum(gaps_changed ? gaps_make(&newgaps) : gaps_mr);
		args[4] = BoolGetDatum(n > 0);
		args[5] = BoolGetDatum(gaps_changed);
		rc = run_plan(state_plan, NULL, args);
		if (rc != SPI_OK_UPDATE || SPI_processed != 1)
			elog(ERROR, "agent_guard: could not move the head of the hash chain");
	}

	/* gaps left: ask again who could still fill them */
	if (newgaps.n > 0 && !probe.held)
		probe_take();

	SPI_freetuptable(batch);
	hash_destroy(stmts);
	return (int64) n;
}

/*
 * Seal up to max_events committed, unsealed events in the caller's
 * transaction.  The caller is connected to SPI.  Returns how many.
 *
 * The canonical content is printed here, in C (canon.c): the SQL function
 * that verify_log() uses cost four times the rest of sealing, and building
 * it through to_jsonb() in C still cost half of it.  Both print with the
 * same pinned settings.
 *
 * Until ALTER EXTENSION UPDATE to 1.2 (no agent_guard.seals yet), events
 * are sealed as 1.1 sealed them: each row updated with its position and
 * seal, found unsealed by seal_seq IS NULL.
 */
int64
ag_chain_seal(int max_events)
{
	return ag_chain_seal_try(max_events, NULL);
}

/*
 * The same; with busy, the head's row lock is not waited for: when another
 * transaction holds it (a human's seal_log() in a transaction still open,
 * another sealer), *busy is set and nothing is sealed.  The sealer seals
 * this way, so that it goes on writing refused statements (worker.c) and
 * tries again at its next pass, rather than waiting behind the lock while
 * refusing sessions wait for it (their YG009 after 10 seconds).
 */
int64
ag_chain_seal_try(int max_events, bool *busy)
{
	Oid			batch_types[1] = {INT4OID};
	Oid			head_types[2] = {INT8OID, BYTEAOID};
	Datum		args[2];
	bool		isnull;
	bool		batches;
	int64		seq;
	int64		through = 0;
	MultirangeType *gaps = NULL;
	int			gaps_att;
	bytea	   *prev;
	SPITupleTable *batch;
	HTAB	   *stmts;
	ItemPointerData *tids;
	uint64		n;
	uint64		i;
	int			rc;
	int			nestlevel;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot seal the event log during recovery"),
				 errhint("The primary seals the log; its seals reach the standby by replication.")));

	/* the head; its row lock makes sealers take turns */
	if (busy != NULL)
	{
		*busy = false;
		rc = run_plan(NULL, "SELECT * FROM agent_guard.chain_state FOR UPDATE SKIP LOCKED", NULL);
		if (rc == SPI_OK_SELECT && SPI_processed == 0)
		{
			/* locked, or missing: a plain read tells */
			SPI_freetuptable(SPI_tuptable);
			rc = run_plan(NULL, "SELECT 1 FROM agent_guard.chain_state", NULL);
			if (rc == SPI_OK_SELECT && SPI_processed == 1)
			{
				SPI_freetuptable(SPI_tuptable);
				*busy = true;
				return 0;
			}
		}
	}
	else
		rc = run_plan(NULL, "SELECT * FROM agent_guard.chain_state FOR UPDATE", NULL);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
				 errmsg("the head of the event log's hash chain is missing"),
				 errdetail("agent_guard.chain_state must hold exactly one row."),
				 errhint("Restore agent_guard.chain_state from a backup, or reinstall the extension.")));
	/*
	 * Parsed after ALTER EXTENSION UPDATE released the head (it locks
	 * chain_state first), so the columns say which log this is: with
	 * sealed_through, one of batch seals.
	 */
	batches = SPI_fnumber(SPI_tuptable->tupdesc, "sealed_through") > 0;
	seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									  SPI_fnumber(SPI_tuptable->tupdesc, "last_seq"), &isnull));
	if (isnull)
		elog(ERROR, "agent_guard.chain_state.last_seq is null");
	prev = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											SPI_fnumber(SPI_tuptable->tupdesc, "last_seal"), &isnull));
	if (isnull)
		elog(ERROR, "agent_guard.chain_state.last_seal is null");
	if (batches)
	{
		through = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											  SPI_fnumber(SPI_tuptable->tupdesc, "sealed_through"), &isnull));
		if (isnull)
			elog(ERROR, "agent_guard.chain_state.sealed_through is null");
		/* a list of ids, one each, until the update that made them ranges */
		gaps_att = SPI_fnumber(SPI_tuptable->tupdesc, "gaps");
		if (gaps_att <= 0 || SPI_gettypeid(SPI_tuptable->tupdesc, gaps_att) != INT8MULTIRANGEOID)
			ereport(ERROR,
					(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
					 errmsg("agent_guard.chain_state.gaps is not an int8multirange"),
					 errdetail("This database's agent_guard objects were made by an older build of version 1.2, which kept the gaps as a list of ids."),
					 errhint("Run the build that made them, or install the extension in this database anew.")));
		gaps = DatumGetMultirangeTypePCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
														 gaps_att, &isnull));
		if (isnull)
			elog(ERROR, "agent_guard.chain_state.gaps is null");
	}
	SPI_freetuptable(SPI_tuptable);

	/* values print as _event_content() prints them */
	nestlevel = NewGUCNestLevel();
	for (i = 0; i < lengthof(pinned_settings); i++)
		(void) set_config_option(pinned_settings[i][0], pinned_settings[i][1],
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);

	if (batches)
	{
		n = (uint64) seal_batch(max_events, seq, prev, through, gaps);
		AtEOXact_GUC(true, nestlevel);
		return (int64) n;
	}

	if (batch_plan == NULL)
		batch_plan = ag_keep_plan(
			"SELECT e.ctid, e.statement_id FROM agent_guard.events e "
			" WHERE e.seal_seq IS NULL ORDER BY e.event_id LIMIT $1", 1, batch_types);
	if (head_plan == NULL)
		head_plan = ag_keep_plan(
			"UPDATE agent_guard.chain_state SET last_seq = $1, last_seal = $2, "
			"       sealed_at = pg_catalog.now()", 2, head_types);

	args[0] = Int32GetDatum(max_events);
	rc = run_plan(batch_plan, NULL, args);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "agent_guard: could not read unsealed events: %s", SPI_result_code_string(rc));
	batch = SPI_tuptable;
	n = SPI_processed;
	stmts = batch_statements(batch, &n);
	tids = palloc(sizeof(ItemPointerData) * Max(n, 1));
	for (i = 0; i < n; i++)
		tids[i] = *(ItemPointer) DatumGetPointer(SPI_getbinval(batch->vals[i], batch->tupdesc, 1, &isnull));

	if (n > 0)
	{
		seal_events(tids, n, stmts, seq, &prev, NULL);
		seq += (int64) n;

		args[0] = Int64GetDatum(seq);
		args[1] = PointerGetDatum(prev);
		rc = run_plan(head_plan, NULL, args);
		if (rc != SPI_OK_UPDATE || SPI_processed != 1)
			elog(ERROR, "agent_guard: could not move the head of the hash chain");
	}
	AtEOXact_GUC(true, nestlevel);
	SPI_freetuptable(batch);
	hash_destroy(stmts);
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
	MemoryContext batch_cxt;

	if (max_events <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_events must be positive")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "agent_guard: SPI_connect failed");
	/* each batch in memory of its own: a backlog of millions stays small */
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "agent_guard seal batch",
									  ALLOCSET_DEFAULT_SIZES);
	do
	{
		MemoryContext old = MemoryContextSwitchTo(batch_cxt);

		n = ag_chain_seal(Min(max_events - total, 10000));
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch_cxt);
		total += n;
	} while (n > 0 && total < max_events);
	MemoryContextDelete(batch_cxt);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "agent_guard: SPI_finish failed");

	PG_RETURN_INT64(total);
}
