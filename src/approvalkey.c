/*-------------------------------------------------------------------------
 * approvalkey.c
 *		What an approval is bound to, as material for one SHA-256 digest.
 *
 * A human approves a request, and the agent's retry is admitted when its
 * key has the request's digest (gate.c consumes by it; refusal.c records
 * it with the request).  A 64-bit hash will not do: an agent can search
 * offline for a harmless statement and a destructive one with the same
 * hash, have the first approved and run the second.  So the key is the
 * SHA-256 digest (common/cryptohash.h) of its material, every field
 * written with its length so that no two materials run together:
 *	- the statement text as recorded (refusal.c),
 *	- each value bound to its parameters, with its type, in the type's
 *	  binary form (params.c),
 *	- the search_path, as the schemas it resolves to,
 *	- for a utility statement, what its names resolved to and what it
 *	  reached (classify.c, reach.c),
 *	- for a statement that runs a plan (no WHERE clause, row limit), the
 *	  plan's command, its relations, the definitions of the non-built-in
 *	  functions it calls (operators' and casts' functions, defaults and row
 *	  security expanded into it, SQL functions the planner inlined: all
 *	  that the plan cache invalidates the plan for) and the triggers of the
 *	  relations it writes with the definitions of their functions.
 * A function "definition" is its whole pg_proc row (body, language,
 * settings, owner, ...): an agent that replaces a function the approved
 * statement calls makes it another statement, with a new request.  What a
 * called function calls in turn is not followed (README).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "common/cryptohash.h"
#include "nodes/plannodes.h"
#include "parser/parsetree.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/syscache.h"

#include "approvalkey.h"

void
ag_key_add_int(StringInfo m, uint64 v)
{
	int			i;

	for (i = 7; i >= 0; i--)
		appendStringInfoChar(m, (char) ((v >> (i * 8)) & 0xff));
}

void
ag_key_add_bytes(StringInfo m, const void *data, int len)
{
	ag_key_add_int(m, (uint64) len);
	if (len > 0)
		appendBinaryStringInfo(m, data, len);
}

/* The schemas the search_path resolves to, in order. */
void
ag_key_add_search_path(StringInfo m)
{
	List	   *path = fetch_search_path(false);
	ListCell   *lc;

	ag_key_add_bytes(m, "search_path", 11);
	ag_key_add_int(m, (uint64) list_length(path));
	foreach(lc, path)
		ag_key_add_int(m, (uint64) lfirst_oid(lc));
	list_free(path);
}

/* A catalog row's contents: null bitmap and data, not its header. */
static void
add_row(StringInfo m, HeapTuple tup)
{
	HeapTupleHeader h = tup->t_data;
	Size		from = offsetof(HeapTupleHeaderData, t_bits);

	ag_key_add_int(m, (uint64) HeapTupleHeaderGetNatts(h));
	ag_key_add_int(m, (uint64) (h->t_infomask & HEAP_HASNULL));
	ag_key_add_bytes(m, (char *) h + from, (int) (tup->t_len - from));
}

/* A function's definition, if it is not built in. */
static void
add_function(StringInfo m, Oid funcid)
{
	HeapTuple	tup;

	if (funcid < (Oid) FirstNormalObjectId)
		return;
	ag_key_add_bytes(m, "function", 8);
	ag_key_add_int(m, (uint64) funcid);
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tup))
	{
		ag_key_add_int(m, 0);	/* gone */
		return;
	}
	add_row(m, tup);
	ReleaseSysCache(tup);
}

/*
 * The functions the plan depends on: the plan cache's invalidation items
 * name them by the hash of their oid (setrefs.c records every function
 * that is not built in, inlined ones too).  The non-built-in rows of
 * pg_proc whose hash is among them, in oid order; a row that only shares
 * a hash with one binds the key more, never less.
 */
static void
add_plan_functions(StringInfo m, PlannedStmt *ps)
{
	List	   *hashes = NIL;
	ListCell   *lc;
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;

	foreach(lc, ps->invalItems)
	{
		PlanInvalItem *item = lfirst(lc);

		if (item->cacheId == PROCOID)
			hashes = list_append_unique_oid(hashes, (Oid) item->hashValue);
	}
	ag_key_add_int(m, (uint64) list_length(hashes));
	if (hashes == NIL)
		return;
	rel = table_open(ProcedureRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_proc_oid, BTGreaterEqualStrategyNumber, F_OIDGE,
				ObjectIdGetDatum((Oid) FirstNormalObjectId));
	scan = systable_beginscan(rel, ProcedureOidIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Oid			funcid = ((Form_pg_proc) GETSTRUCT(tup))->oid;
		uint32		h = GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(funcid));

		if (list_member_oid(hashes, (Oid) h))
			add_function(m, funcid);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	list_free(hashes);
}

/* The triggers of a relation the plan writes, and their functions. */
static void
add_triggers(StringInfo m, Oid relid)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;

	ag_key_add_bytes(m, "triggers", 8);
	ag_key_add_int(m, (uint64) relid);
	rel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		add_row(m, tup);
		add_function(m, ((Form_pg_trigger) GETSTRUCT(tup))->tgfoid);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

void
ag_key_add_plan(StringInfo m, PlannedStmt *ps)
{
	List	   *rels = NIL;
	List	   *written = NIL;
	ListCell   *lc;

	ag_key_add_bytes(m, "plan", 4);
	ag_key_add_int(m, (uint64) ps->commandType);
	foreach(lc, ps->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_RELATION)
			rels = list_append_unique_oid(rels, rte->relid);
	}
	list_sort(rels, list_oid_cmp);
	ag_key_add_int(m, (uint64) list_length(rels));
	foreach(lc, rels)
		ag_key_add_int(m, (uint64) lfirst_oid(lc));

	add_plan_functions(m, ps);

	/* the written relations, partitions and children included */
	foreach(lc, ps->resultRelations)
	{
		RangeTblEntry *rte = rt_fetch(lfirst_int(lc), ps->rtable);

		written = list_concat_unique_oid(written, find_all_inheritors(rte->relid, NoLock, NULL));
	}
	list_sort(written, list_oid_cmp);
	foreach(lc, written)
		add_triggers(m, lfirst_oid(lc));
	list_free(rels);
	list_free(written);
}

void
ag_key_digest(const StringInfo m, AgKeyDigest *out)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) m->data, m->len) < 0 ||
		pg_cryptohash_final(ctx, out->d, sizeof(out->d)) < 0)
	{
		const char *why = ctx ? pg_cryptohash_error(ctx) : "out of memory";

		pg_cryptohash_free(ctx);
		elog(ERROR, "agent_guard: could not compute a statement's digest: %s", why);
	}
	pg_cryptohash_free(ctx);
}

/* The first 8 bytes, for the 64-bit statement_hash that is only shown. */
uint64
ag_key_digest_u64(const AgKeyDigest *d)
{
	uint64		v = 0;
	int			i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | d->d[i];
	return v;
}
