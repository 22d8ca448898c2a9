/*-------------------------------------------------------------------------
 * softkeys.c
 *		A human's write wins over a row an agent soft-deleted (red team 30,
 *		F7).
 *
 * A soft-deleted row keeps its values, so it keeps holding its keys: a
 * human's INSERT of such a key (plain, ON CONFLICT, MERGE's insert, COPY),
 * or an UPDATE that sets it, failed with a unique or exclusion violation
 * about a row the human cannot see, ON CONFLICT DO UPDATE failed on the
 * hiding policy, and ON CONFLICT DO NOTHING dropped the human's row without
 * a word.  The agent asked for a hard delete; had it happened, the human's
 * row would go in.  So before a human's row is written into a soft-delete
 * table, the stamp trigger (capture.c) calls ag_softkeys_human_write(),
 * which finds the soft-deleted rows that the new row conflicts with on any
 * unique index or exclusion constraint and purges them, as
 * agent_guard.purge() does: as the table's owner, each logged as a PURGE
 * event with its image, ON DELETE actions fired (and refused, YG050, where
 * they would reach live rows an agent wrote).  The BEFORE trigger fires
 * before PostgreSQL looks for a conflict (ON CONFLICT's arbiter check, the
 * unique check at insertion, a deferred one at commit), which then no
 * longer sees the purged row: ON CONFLICT DO UPDATE inserts the human's row
 * fresh, DO NOTHING inserts it.  Agents are not helped: their inserts of a
 * soft-deleted key still fail (softdelete.c, ag_soft_check_insert).
 *
 * Cost: most human writes meet no soft-deleted row.  Whether a table may
 * hold one is kept in agent_guard.protected_tables.soft_rows: protect()
 * sets it from the table, an agent's first soft delete sets it true (in
 * its transaction, with a relcache invalidation that makes every backend
 * read it again).  Each backend caches it with the table's AgRelInfo; while
 * it is false, a human's write costs one test.  Once true it stays true
 * until protect() runs again (purge() does not clear it: an agent's soft
 * delete not yet committed could not be seen); then every human write
 * probes the table's unique and exclusion indexes (an UPDATE, only those
 * whose values it changes).
 *
 * The probe reads with a fresh MVCC snapshot: a row soft-deleted by a
 * transaction that has not committed yet is not purged, and the human's
 * insert waits for it as PostgreSQL's unique check does, then fails as
 * before if it committed.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/primnodes.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/inval.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

#include "agent_guard.h"
#include "compat.h"
#include "owner_spi.h"
#include "softkeys.h"

/*
 * protected_tables.soft_rows of the table's protection: may a row be
 * soft-deleted?  Read once per relcache life of the table (AgRelInfo), as
 * the extension owner, with a fresh snapshot.  A table with no row there
 * (an inheritance child its parent's protection covers, a partition of an
 * unprotected table): true.
 */
static AgKeptPlan soft_rows_plan = {
	"SELECT p.soft_rows FROM agent_guard.protected_tables p WHERE p.relation OPERATOR(pg_catalog.=) $1",
	1, {REGCLASSOID}, NULL
};
static AgKeptPlan soft_rows_set_plan = {
	"UPDATE agent_guard.protected_tables p SET soft_rows = true"
	" WHERE p.relation OPERATOR(pg_catalog.=) $1 AND NOT p.soft_rows",
	1, {REGCLASSOID}, NULL
};

typedef struct SoftRowsCall
{
	Oid			relid;
	bool		result;
} SoftRowsCall;

static void
soft_rows_work(void *arg)
{
	SoftRowsCall *call = (SoftRowsCall *) arg;
	Datum		values[1];
	bool		isnull;

	values[0] = ObjectIdGetDatum(call->relid);
	if (ag_kept_execute_latest(&soft_rows_plan, values, NULL, 1) != SPI_OK_SELECT)
		elog(ERROR, "agent_guard: could not read protected_tables.soft_rows");
	call->result = true;
	if (SPI_processed == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		call->result = isnull || DatumGetBool(d);
	}
}

/*
 * A database still at 1.0 or 1.1 (the library runs it until ALTER
 * EXTENSION UPDATE) has no such column: every table may.
 */
static bool
soft_rows_column(void)
{
	Oid			nsp = get_namespace_oid(AG_SCHEMA, true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("protected_tables", nsp) : InvalidOid;

	return OidIsValid(relid) && get_attnum(relid, "soft_rows") != InvalidAttrNumber;
}

static bool
soft_rows(AgRelInfo *info)
{
	if (!info->soft_rows_loaded)
	{
		SoftRowsCall call;

		call.relid = info->root_relid;
		call.result = true;
		if (soft_rows_column())
			ag_owner_spi(soft_rows_work, &call);
		info->soft_rows = call.result;
		info->soft_rows_loaded = true;
	}
	return info->soft_rows;
}

static void
soft_rows_set_work(void *arg)
{
	Datum		values[1];

	values[0] = ObjectIdGetDatum(*(Oid *) arg);
	if (ag_kept_execute(&soft_rows_set_plan, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "agent_guard: could not set protected_tables.soft_rows");
}

/*
 * An agent is soft-deleting a row of the table (the stamp trigger): from
 * now on humans' writes must look.  The first time in a session (while
 * this backend has the flag false), set it in the agent's transaction and
 * tell every backend when it commits (a relcache invalidation of the
 * protected table, which drops their cached AgRelInfo).  Rolled back with
 * the agent's transaction, as the soft delete is; this backend's own
 * cached flag goes with the invalidation an abort processes locally.
 */
void
ag_softkeys_agent_soft_delete(AgRelInfo *info)
{
	Oid			relid = info->root_relid;

	if (soft_rows(info))
		return;
	ag_owner_spi(soft_rows_set_work, &relid);
	CacheInvalidateRelcacheByRelid(relid);
	info->soft_rows = true;
}

/* The rows to purge: their table and tid, as purge()'s lists have them. */
typedef struct HeldRows
{
	StringInfoData json;
	int			n;
} HeldRows;

static void
held_add(HeldRows *held, Oid relid, ItemPointer tid)
{
	if (held->n == 0)
	{
		initStringInfo(&held->json);
		appendStringInfoChar(&held->json, '[');
	}
	else
	{
		/* the same row through two indexes: once */
		char		needle[64];

		snprintf(needle, sizeof(needle), "{\"rel\": %u, \"tid\": \"(%u,%u)\"}", relid,
				 ItemPointerGetBlockNumber(tid), ItemPointerGetOffsetNumber(tid));
		if (strstr(held->json.data, needle) != NULL)
			return;
		appendStringInfoString(&held->json, ", ");
	}
	appendStringInfo(&held->json, "{\"rel\": %u, \"tid\": \"(%u,%u)\"}", relid,
					 ItemPointerGetBlockNumber(tid), ItemPointerGetOffsetNumber(tid));
	held->n++;
}

/*
 * Does the existing row (values exist) conflict with the new one (values
 * mine) under the exclusion constraint's operators?  Only needed where the
 * index scan's answer is lossy.
 */
static bool
exclusion_conflicts(IndexInfo *ii, Relation idx, Datum *mine, bool *mine_null,
					Datum *exist, bool *exist_null)
{
	int			natts = ii->ii_NumIndexKeyAttrs;
	int			i;

	for (i = 0; i < natts; i++)
	{
		if (mine_null[i] || exist_null[i])
			return false;
		if (!DatumGetBool(OidFunctionCall2Coll(ii->ii_ExclusionProcs[i],
											   idx->rd_indcollation[i],
											   exist[i], mine[i])))
			return false;
	}
	return true;
}

/*
 * The soft-deleted rows of rel that the new row conflicts with through one
 * unique or exclusion index, added to held.
 */
static void
probe_index(Relation rel, Relation idx, IndexInfo *ii, EState *estate,
			TupleTableSlot *newslot, TupleTableSlot *oldslot,
			TupleTableSlot *scanslot, AttrNumber att_deleted,
			ItemPointer self, Snapshot snap, HeldRows *held)
{
	ExprContext *econtext = GetPerTupleExprContext(estate);
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	ScanKeyData skeys[INDEX_MAX_KEYS];
	int			natts = ii->ii_NumIndexKeyAttrs;
	IndexScanDesc scan;
	int			i;

	econtext->ecxt_scantuple = newslot;
	if (ii->ii_Predicate != NIL)
	{
		ExprState  *pred = ExecPrepareQual(ii->ii_Predicate, estate);

		if (!ExecQual(pred, econtext))
			return;				/* the new row is not in this index */
	}
	FormIndexDatum(ii, newslot, estate, values, isnull);

	/* an UPDATE that leaves this index's values as they were meets no one new */
	if (oldslot != NULL)
	{
		Datum		oldvalues[INDEX_MAX_KEYS];
		bool		oldnull[INDEX_MAX_KEYS];
		bool		same = true;

		econtext->ecxt_scantuple = oldslot;
		FormIndexDatum(ii, oldslot, estate, oldvalues, oldnull);
		for (i = 0; i < natts && same; i++)
		{
			Form_pg_attribute att = TupleDescAttr(RelationGetDescr(idx), i);

			if (isnull[i] != oldnull[i])
				same = false;
			else if (!isnull[i] &&
					 !datum_image_eq(values[i], oldvalues[i], att->attbyval, att->attlen))
				same = false;
		}
		if (same)
			return;
	}

	for (i = 0; i < natts; i++)
	{
		if (isnull[i])
		{
			/* NULLs conflict only under UNIQUE NULLS NOT DISTINCT */
			if (ii->ii_ExclusionOps != NULL || !ii->ii_NullsNotDistinct)
				return;
			ScanKeyEntryInitialize(&skeys[i], SK_ISNULL | SK_SEARCHNULL, i + 1,
								   InvalidStrategy, InvalidOid, InvalidOid,
								   InvalidOid, (Datum) 0);
		}
		else if (ii->ii_ExclusionOps != NULL)
			ScanKeyEntryInitialize(&skeys[i], 0, i + 1, ii->ii_ExclusionStrats[i],
								   InvalidOid, idx->rd_indcollation[i],
								   ii->ii_ExclusionProcs[i], values[i]);
		else
		{
			Oid			type = idx->rd_opcintype[i];
			Oid			eqop = get_opfamily_member(idx->rd_opfamily[i], type, type,
												   BTEqualStrategyNumber);

			if (!OidIsValid(eqop))
				return;			/* not a btree key: PostgreSQL's check decides */
			ScanKeyEntryInitialize(&skeys[i], 0, i + 1, BTEqualStrategyNumber, type,
								   idx->rd_indcollation[i], get_opcode(eqop), values[i]);
		}
	}

	scan = AG_INDEX_BEGINSCAN(rel, idx, snap, natts, 0);
	index_rescan(scan, skeys, natts, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, scanslot))
	{
		if (slot_attisnull(scanslot, att_deleted))
			continue;			/* a live row: PostgreSQL's check reports it */
		if (self != NULL && ItemPointerEquals(self, &scanslot->tts_tid))
			continue;
		if (ii->ii_ExclusionOps != NULL && scan->xs_recheck)
		{
			Datum		exist[INDEX_MAX_KEYS];
			bool		exist_null[INDEX_MAX_KEYS];

			econtext->ecxt_scantuple = scanslot;
			FormIndexDatum(ii, scanslot, estate, exist, exist_null);
			if (!exclusion_conflicts(ii, idx, values, isnull, exist, exist_null))
				continue;
		}
		held_add(held, RelationGetRelid(rel), &scanslot->tts_tid);
	}
	index_endscan(scan);
}

typedef struct PurgeCall
{
	Oid			relid;
	const char *rows;
	int64		purged;
} PurgeCall;

static void
purge_work(void *arg)
{
	PurgeCall  *call = (PurgeCall *) arg;
	Oid			argtypes[2] = {REGCLASSOID, JSONBOID};
	Datum		values[2];
	int			ret;
	bool		isnull;

	values[0] = ObjectIdGetDatum(call->relid);
	values[1] = DirectFunctionCall1(jsonb_in, CStringGetDatum(call->rows));
	ret = SPI_execute_with_args("SELECT agent_guard._purge_held_keys($1, $2)",
								2, argtypes, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "agent_guard: could not purge the soft-deleted rows that hold the keys (%d)", ret);
	call->purged = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		call->purged = 0;
}

/*
 * A human (a non-agent session) is about to write newtup into rel, a
 * soft-delete table (oldtup: the row an UPDATE replaces, else NULL):
 * purge the soft-deleted rows that hold a unique or exclusion key the new
 * row needs.
 */
void
ag_softkeys_human_write(Relation rel, HeapTuple oldtup, HeapTuple newtup, AgRelInfo *info)
{
	List	   *indexes;
	ListCell   *lc;
	EState	   *estate = NULL;
	TupleTableSlot *newslot = NULL;
	TupleTableSlot *oldslot = NULL;
	TupleTableSlot *scanslot = NULL;
	Snapshot	snap = NULL;
	HeldRows	held;

	if (!rel->rd_rel->relhasindex || !soft_rows(info))
		return;

	held.n = 0;
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		IndexInfo  *ii;

		if ((!idx->rd_index->indisunique && !idx->rd_index->indisexclusion) ||
			!idx->rd_index->indisvalid)
		{
			index_close(idx, AccessShareLock);
			continue;
		}
		if (estate == NULL)
		{
			estate = CreateExecutorState();
			newslot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
			ExecStoreHeapTuple(newtup, newslot, false);
			if (oldtup != NULL)
			{
				oldslot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
				ExecStoreHeapTuple(oldtup, oldslot, false);
			}
			scanslot = table_slot_create(rel, NULL);
			snap = RegisterSnapshot(GetLatestSnapshot());
		}
		ii = BuildIndexInfo(idx);
		probe_index(rel, idx, ii, estate, newslot, oldslot, scanslot, info->att_deleted,
					oldtup != NULL ? &oldtup->t_self : NULL, snap, &held);
		ResetExprContext(GetPerTupleExprContext(estate));
		index_close(idx, AccessShareLock);
	}
	list_free(indexes);
	if (estate != NULL)
	{
		UnregisterSnapshot(snap);
		ExecDropSingleTupleTableSlot(scanslot);
		if (oldslot != NULL)
			ExecDropSingleTupleTableSlot(oldslot);
		ExecDropSingleTupleTableSlot(newslot);
		FreeExecutorState(estate);
	}

	if (held.n > 0)
	{
		PurgeCall	call;

		appendStringInfoChar(&held.json, ']');
		call.relid = info->root_relid;
		call.rows = held.json.data;
		call.purged = 0;
		ag_owner_spi(purge_work, &call);
	}
}

/*
 * Error context callback, pushed around every ExecutorFinish (hooks.c),
 * where the foreign-key checks of a statement fire.  A human's DELETE (or
 * key UPDATE) of a parent fails on a NO ACTION or RESTRICT foreign key when
 * rows an agent soft-deleted still reference it, rows the human cannot
 * see; purging them first is not done (README, Limitations).  So the
 * error says where to look: when the referencing table is a soft-delete
 * table, and the error has no hint of its own, it gets one naming
 * agent_guard.soft_deleted() and purge().  Only for that error: it costs
 * nothing else but the push.
 */
static bool in_fk_hint = false;

void
ag_softkeys_fk_hint(void *arg)
{
	MemoryContext old;
	ErrorData  *edata;
	Oid			nsp;
	Oid			relid = InvalidOid;

	if (in_fk_hint || geterrcode() != ERRCODE_FOREIGN_KEY_VIOLATION ||
		!IsTransactionState() || ag_session_is_agent())
		return;
	in_fk_hint = true;
	old = MemoryContextSwitchTo(CurTransactionContext);
	edata = CopyErrorData();
	MemoryContextSwitchTo(old);
	if (edata->hint == NULL && edata->message_id != NULL &&
		strncmp(edata->message_id, "update or delete on table", 25) == 0 &&
		edata->schema_name != NULL && edata->table_name != NULL &&
		OidIsValid(nsp = get_namespace_oid(edata->schema_name, true)))
		relid = get_relname_relid(edata->table_name, nsp);
	/* the check's query locked the referencing table already */
	if (OidIsValid(relid) && CheckRelationOidLockedByMe(relid, AccessShareLock, true) &&
		ag_softdelete_attno(relid) > 0)
		errhint("Rows that agents soft-deleted in %s may still reference it, hidden from you: see agent_guard.soft_deleted('%s'); the table's owner can remove them for good with agent_guard.purge() first.",
				quote_qualified_identifier(edata->schema_name, edata->table_name),
				quote_qualified_identifier(edata->schema_name, edata->table_name));
	FreeErrorData(edata);
	in_fk_hint = false;
}
