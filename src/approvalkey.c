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
 *	- the SHA-256 of the statement text as recorded (refusal.c),
 *	- the SHA-256 of the values bound to its parameters, each with its
 *	  type, in the type's binary form, hashed one value at a time
 *	  (params.c): material and memory do not grow with what the agent
 *	  sends (red team 13, finding 3),
 *	- the search_path, as the schemas it resolves to, and the settings
 *	  that change how the text's strings parse (standard_conforming_strings,
 *	  backslash_quote),
 *	- the settings that change what its literals mean or what it computes
 *	  (ag_key_read_settings: DateStyle, TimeZone, IntervalStyle,
 *	  transform_null_equals, ...; red team 15B, finding 7),
 *	- for a utility statement, what its names resolved to and what it
 *	  reached (classify.c, reach.c), and what the names in its expressions
 *	  can resolve to, with the definitions (keyobjects.c; red team 17a,
 *	  finding 4),
 *	- for a statement that runs a plan (no WHERE clause, row limit), what
 *	  it reaches and calls whatever its plan, collected from the rewritten
 *	  query before planning (ag_key_bind_query): the relations it names or
 *	  reads through with all their partitions and inheritance children,
 *	  pruned or not; the rules of those that have rules (a view's
 *	  definition); the triggers of the relations it writes and of all their
 *	  children; the definitions of the functions it calls, immutable ones
 *	  the planner folds away included, of its triggers' functions, and of
 *	  every function these depend on in pg_depend; and the text the plan
 *	  was made from when it is not the client statement's (the prepared
 *	  statement an EXECUTE runs, the query a function runs).
 * A function "definition" is its whole pg_proc row (body, language,
 * settings, owner, ...): an agent that replaces a function the approved
 * statement calls, or one a BEGIN ATOMIC body it calls calls, makes it
 * another statement, with a new request; so does one that replaces a view
 * it reads or writes through, the prepared statement it executes, or a
 * trigger of a partition the plan pruned.  What a body kept as a string
 * (PL/pgSQL, LANGUAGE sql with a quoted body) calls by name is not
 * followed (README).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "fmgr.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "parser/parser.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "approvalkey.h"
#include "keyobjects.h"

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

/*
 * A SHA-256 fed piece by piece, for material too large to copy (an
 * agent's bound values, a statement of up to 1 GB).
 */
pg_cryptohash_ctx *
ag_key_stream_begin(void)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
	{
		const char *why = ctx ? pg_cryptohash_error(ctx) : "out of memory";

		pg_cryptohash_free(ctx);
		elog(ERROR, "agent_guard: could not compute a statement's digest: %s", why);
	}
	return ctx;
}

void
ag_key_stream_add(pg_cryptohash_ctx *ctx, const void *data, Size len)
{
	if (len > 0 && pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0)
		elog(ERROR, "agent_guard: could not compute a statement's digest: %s",
			 pg_cryptohash_error(ctx));
}

/* A length-prefixed field, written as ag_key_add_bytes writes it. */
void
ag_key_stream_add_field(pg_cryptohash_ctx *ctx, const void *data, Size len)
{
	uint8		n[8];
	int			i;

	for (i = 0; i < 8; i++)
		n[i] = (uint8) (((uint64) len >> ((7 - i) * 8)) & 0xff);
	ag_key_stream_add(ctx, n, 8);
	ag_key_stream_add(ctx, data, len);
}

void
ag_key_stream_end(pg_cryptohash_ctx *ctx, AgKeyDigest *out)
{
	if (pg_cryptohash_final(ctx, out->d, sizeof(out->d)) < 0)
		elog(ERROR, "agent_guard: could not compute a statement's digest: %s",
			 pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

/* The SHA-256 of data as a field: 32 bytes of material for any length. */
void
ag_key_add_digest_of(StringInfo m, const void *data, Size len)
{
	pg_cryptohash_ctx *ctx = ag_key_stream_begin();
	AgKeyDigest d;

	ag_key_stream_add_field(ctx, data, len);
	ag_key_stream_end(ctx, &d);
	ag_key_add_bytes(m, d.d, AG_KEY_DIGEST_LEN);
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
	/*
	 * and the settings that change how the text's strings read: the request
	 * shows them (refusal.c), the approval holds only under them
	 */
	ag_key_add_bytes(m, "standard_conforming_strings", 27);
	ag_key_add_int(m, (uint64) standard_conforming_strings);
	ag_key_add_bytes(m, "backslash_quote", 15);
	ag_key_add_int(m, (uint64) backslash_quote);
	ag_key_add_read_settings(m);
}

/*
 * The settings that change what a statement's text means or what it
 * computes, whatever its names resolve to: how date, time, interval,
 * money and number literals read ('01/02/2024' under DateStyle DMY or
 * MDY, a timestamptz literal without a zone), whether "x = NULL" means
 * "x IS NULL", which text search configuration to_tsvector(text) uses,
 * how a value cast to text prints.  An approval holds only under the
 * values it was requested with; the request shows those that are not the
 * session's defaults (refusal.c).
 */
const char *const ag_key_read_settings[] = {
	"DateStyle", "IntervalStyle", "TimeZone", "timezone_abbreviations",
	"transform_null_equals", "array_nulls", "default_text_search_config",
	"lc_monetary", "lc_numeric", "lc_time", "xmloption", "xmlbinary",
	"extra_float_digits", "bytea_output", "quote_all_identifiers",
	NULL
};

void
ag_key_add_read_settings(StringInfo m)
{
	int			i;

	ag_key_add_bytes(m, "settings", 8);
	for (i = 0; ag_key_read_settings[i] != NULL; i++)
	{
		const char *v = GetConfigOption(ag_key_read_settings[i], true, false);

		ag_key_add_bytes(m, ag_key_read_settings[i], strlen(ag_key_read_settings[i]));
		if (v == NULL)
			v = "";
		ag_key_add_bytes(m, v, strlen(v));
	}
}

/*
 * A node tree's text without the positions in the source it came from
 * (":location", ":stmt_location", ":stmt_len"; 17 and later write none):
 * a view or a BEGIN ATOMIC body written again with the same definition,
 * CREATE OR REPLACE where CREATE was, is the same definition.  Inside a
 * token a blank is escaped, so " :location " is always a field's name.
 */
static Datum
strip_locations(Datum tree)
{
	static const char *const fields[] = {" :location ", " :stmt_location ", " :stmt_len "};
	char	   *s = TextDatumGetCString(tree);
	StringInfoData b;

	initStringInfo(&b);
	while (*s)
	{
		int			i;
		bool		found = false;

		for (i = 0; i < (int) lengthof(fields) && !found; i++)
		{
			size_t		n = strlen(fields[i]);

			if (strncmp(s, fields[i], n) == 0)
			{
				appendBinaryStringInfo(&b, s, (int) n);
				s += n;
				if (*s == '-')
					s++;
				while (*s >= '0' && *s <= '9')
					s++;
				found = true;
			}
		}
		if (!found)
			appendStringInfoChar(&b, *s++);
	}
	return PointerGetDatum(cstring_to_text_with_len(b.data, b.len));
}

/*
 * A catalog row's contents: null bitmap and data, not its header.  Values
 * kept out of line are read in (a TOAST pointer is new each time a row is
 * written), and node trees lose their source positions (strip_locations).
 */
static void
add_row(StringInfo m, HeapTuple tup, TupleDesc desc)
{
	HeapTupleHeader h;
	Size		from = offsetof(HeapTupleHeaderData, t_bits);
	int			natts = desc->natts;
	Datum	   *values = palloc(natts * sizeof(Datum));
	bool	   *nulls = palloc(natts * sizeof(bool));
	HeapTuple	norm;
	int			i;

	heap_deform_tuple(tup, desc, values, nulls);
	for (i = 0; i < natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (nulls[i] || att->attlen != -1)
			continue;
		if (att->atttypid == PG_NODE_TREEOID)
			values[i] = strip_locations(values[i]);
		else if (VARATT_IS_EXTENDED(DatumGetPointer(values[i])))
			values[i] = PointerGetDatum(PG_DETOAST_DATUM_PACKED(values[i]));
	}
	norm = heap_form_tuple(desc, values, nulls);
	h = norm->t_data;
	ag_key_add_int(m, (uint64) HeapTupleHeaderGetNatts(h));
	ag_key_add_int(m, (uint64) (h->t_infomask & HEAP_HASNULL));
	ag_key_add_bytes(m, (char *) h + from, (int) (norm->t_len - from));
	heap_freetuple(norm);
	pfree(values);
	pfree(nulls);
}

/* A function's definition, if it is not built in (desc: pg_proc's). */
static void
add_function(StringInfo m, Oid funcid, TupleDesc desc)
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
	add_row(m, tup, desc);
	ReleaseSysCache(tup);
}

/* ---------------------------------------------------------------------
 * The statement's binding, from its rewritten query
 * ---------------------------------------------------------------------
 *
 * A plan is no fixed picture of a statement: partitions pruned when it is
 * planned are missing from its range table, immutable calls folded into
 * constants are missing from its dependencies, and a custom plan for some
 * parameter values differs from the generic plan for the same values.  So
 * what an approval binds is collected from the rewritten query the planner
 * is handed (hooks.c, before anything plans it or the guard changes it):
 * every relation it names or reads through (views and rule targets, which
 * the rewriter keeps in the range table), whether its inheritance children
 * count, what it writes, and every function it calls before any is folded.
 * The lists ride in the plan as PlanInvalItems with cache ids no syscache
 * has (the plan cache passes over them; a copy of the plan keeps them),
 * after one that marks them; each called function also gets a real
 * PROCOID item, so that a cached plan that folded an immutable function is
 * planned again when the function is replaced.
 */
#define AG_BIND_MARK	(-0x4147)	/* hashValue: AG_BIND_VERSION */
#define AG_BIND_REL		(-0x4148)	/* a relation, named or read through */
#define AG_BIND_TREE	(-0x4149)	/* ... with its inheritance children */
#define AG_BIND_WRITTEN (-0x414A)	/* a relation written */
#define AG_BIND_FUNC	(-0x414B)	/* a function called */
#define AG_BIND_VERSION 1

typedef struct BindCollect
{
	List	   *rels;
	List	   *trees;
	List	   *written;
	List	   *funcs;
	AgKeyObjects objs;			/* operators, collations, types... (keyobjects.c) */
} BindCollect;

static void
collect_func(BindCollect *c, Oid funcid)
{
	if (funcid >= (Oid) FirstNormalObjectId)
		c->funcs = list_append_unique_oid(c->funcs, funcid);
}

static bool
collect_walker(Node *node, BindCollect *c)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *q = (Query *) node;

		/* the target of INSERT, UPDATE, DELETE, MERGE, writable CTEs' too */
		if (q->resultRelation > 0)
			c->written = list_append_unique_oid(c->written,
												rt_fetch(q->resultRelation, q->rtable)->relid);
		ag_keyobj_collect_query(q, &c->objs);
		return query_tree_walker(q, collect_walker, (void *) c, QTW_EXAMINE_RTES_BEFORE);
	}
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		ag_keyobj_collect_rte(rte, &c->objs);
		/* a view is an RTE_SUBQUERY that keeps its relid from 16 on */
		if ((rte->rtekind == RTE_RELATION || rte->rtekind == RTE_SUBQUERY) &&
			OidIsValid(rte->relid))
		{
			c->rels = list_append_unique_oid(c->rels, rte->relid);
			if (rte->rtekind == RTE_RELATION && rte->inh)
				c->trees = list_append_unique_oid(c->trees, rte->relid);
		}
		return false;			/* range_table_walker goes into it */
	}
	ag_keyobj_collect(node, &c->objs);
	switch (nodeTag(node))
	{
		case T_FuncExpr:
			collect_func(c, ((FuncExpr *) node)->funcid);
			break;
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			collect_func(c, get_opcode(((OpExpr *) node)->opno));
			break;
		case T_ScalarArrayOpExpr:
			collect_func(c, get_opcode(((ScalarArrayOpExpr *) node)->opno));
			break;
		case T_RowCompareExpr:
			{
				ListCell   *lc;

				foreach(lc, ((RowCompareExpr *) node)->opnos)
					collect_func(c, get_opcode(lfirst_oid(lc)));
			}
			break;
		case T_Aggref:
			collect_func(c, ((Aggref *) node)->aggfnoid);
			break;
		case T_WindowFunc:
			collect_func(c, ((WindowFunc *) node)->winfnoid);
			break;
		default:
			break;
	}
	return expression_tree_walker(node, collect_walker, (void *) c);
}

static List *
bind_items(List *items, int cacheId, List *oids)
{
	ListCell   *lc;

	foreach(lc, oids)
	{
		PlanInvalItem *item = makeNode(PlanInvalItem);

		item->cacheId = cacheId;
		item->hashValue = (uint32) lfirst_oid(lc);
		items = lappend(items, item);
	}
	return items;
}

/*
 * What the rewritten query q can reach and call, before it is planned,
 * as the items ag_key_bind_plan() adds to its plan.  Called from the
 * planner hook for an agent session's queries.
 */
List *
ag_key_bind_query(Query *q)
{
	BindCollect c = {NIL, NIL, NIL, NIL, {NIL, NIL, NIL, NIL, NIL}};
	PlanInvalItem *mark = makeNode(PlanInvalItem);
	List	   *items;

	(void) collect_walker((Node *) q, &c);
	mark->cacheId = AG_BIND_MARK;
	mark->hashValue = AG_BIND_VERSION;
	items = list_make1(mark);
	items = bind_items(items, AG_BIND_REL, c.rels);
	items = bind_items(items, AG_BIND_TREE, c.trees);
	items = bind_items(items, AG_BIND_WRITTEN, c.written);
	items = bind_items(items, AG_BIND_FUNC, c.funcs);
	items = ag_keyobj_bind(items, &c.objs);
	return items;
}

void
ag_key_bind_plan(PlannedStmt *ps, List *items)
{
	ListCell   *lc;

	foreach(lc, items)
	{
		PlanInvalItem *item = lfirst(lc);

		if (item->cacheId == AG_BIND_FUNC)
		{
			PlanInvalItem *inval = makeNode(PlanInvalItem);

			inval->cacheId = PROCOID;
			inval->hashValue = GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum((Oid) item->hashValue));
			ps->invalItems = lappend(ps->invalItems, inval);
		}
	}
	ps->invalItems = list_concat(ps->invalItems, items);
}

/* ---------------------------------------------------------------------
 * The material
 * ---------------------------------------------------------------------
 */
static void
add_oids(StringInfo m, const char *what, List *oids)
{
	ListCell   *lc;

	ag_key_add_bytes(m, what, strlen(what));
	ag_key_add_int(m, (uint64) list_length(oids));
	foreach(lc, oids)
		ag_key_add_int(m, (uint64) lfirst_oid(lc));
}

/*
 * The functions the plan depends on, as the plan cache records them (the
 * fallback for a plan the planner hook did not bind): its invalidation
 * items name them by the hash of their oid.  The non-built-in rows of
 * pg_proc whose hash is among them; a row that only shares a hash with
 * one binds the key more, never less.
 */
static List *
plan_functions(PlannedStmt *ps)
{
	List	   *hashes = NIL;
	List	   *funcs = NIL;
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
	if (hashes == NIL)
		return NIL;
	rel = table_open(ProcedureRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_proc_oid, BTGreaterEqualStrategyNumber, F_OIDGE,
				ObjectIdGetDatum((Oid) FirstNormalObjectId));
	scan = systable_beginscan(rel, ProcedureOidIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Oid			funcid = ((Form_pg_proc) GETSTRUCT(tup))->oid;
		uint32		h = GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(funcid));

		if (list_member_oid(hashes, (Oid) h))
			funcs = lappend_oid(funcs, funcid);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	list_free(hashes);
	return funcs;
}

/*
 * Every function that is not built in and that the functions in funcs
 * depend on, as pg_depend records it, followed to its end: a SQL
 * function's BEGIN ATOMIC body records what it calls, an aggregate its
 * support functions, a function its defaults' calls.  A body kept as a
 * string (LANGUAGE sql with a quoted body, PL/pgSQL) records nothing, and
 * what it calls is bound only through the body's own text (README).
 */
static List *
function_closure(List *funcs)
{
	List	   *all = NIL;
	Relation	rel;
	int			i;

	for (i = 0; i < list_length(funcs); i++)
		if (list_nth_oid(funcs, i) >= (Oid) FirstNormalObjectId)
			all = list_append_unique_oid(all, list_nth_oid(funcs, i));
	if (all == NIL)
		return NIL;
	rel = table_open(DependRelationId, AccessShareLock);
	for (i = 0; i < list_length(all); i++)
	{
		SysScanDesc scan;
		ScanKeyData key[2];
		HeapTuple	tup;

		ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(ProcedureRelationId));
		ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(list_nth_oid(all, i)));
		scan = systable_beginscan(rel, DependDependerIndexId, true, NULL, 2, key);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);

			if (dep->refclassid == ProcedureRelationId &&
				dep->refobjid >= (Oid) FirstNormalObjectId)
				all = list_append_unique_oid(all, dep->refobjid);
		}
		systable_endscan(scan);
	}
	table_close(rel, AccessShareLock);
	list_sort(all, list_oid_cmp);
	return all;
}

/* The rules of a relation that has any: a view's definition is its rule. */
static void
add_rules(StringInfo m, Oid relid)
{
	HeapTuple	ctup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		hasrules;
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;

	if (!HeapTupleIsValid(ctup))
		return;					/* gone: its oid is in the material */
	hasrules = ((Form_pg_class) GETSTRUCT(ctup))->relhasrules;
	ReleaseSysCache(ctup);
	if (!hasrules)
		return;
	ag_key_add_bytes(m, "rules", 5);
	ag_key_add_int(m, (uint64) relid);
	rel = table_open(RewriteRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_rewrite_ev_class, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, RewriteRelRulenameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		add_row(m, tup, RelationGetDescr(rel));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* The triggers of a relation written; their functions go on *funcs. */
static void
add_triggers(StringInfo m, Oid relid, List **funcs)
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
		add_row(m, tup, RelationGetDescr(rel));
		*funcs = lappend_oid(*funcs, ((Form_pg_trigger) GETSTRUCT(tup))->tgfoid);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* The relations and all their inheritance children, sorted. */
static List *
with_inheritors(List *rels, List *trees)
{
	List	   *all = list_copy(rels);
	ListCell   *lc;

	foreach(lc, trees)
		all = list_concat_unique_oid(all, find_all_inheritors(lfirst_oid(lc), NoLock, NULL));
	list_sort(all, list_oid_cmp);
	return all;
}

/*
 * What the execution of plan ps is bound to, as it is defined now: the
 * relations the statement reaches (partitions and inheritance children of
 * those it names, pruned or not), the rules of those that have rules
 * (views), the triggers of the relations it writes and of all their
 * children, and the rows of the functions it calls or its triggers run,
 * with every function they depend on; and source, the text the plan was
 * made from when that is not the client statement (the prepared
 * statement an EXECUTE runs, the query a function runs).  All from the
 * binding the planner hook gave the plan (ag_key_bind_query), so that the
 * same statement has the same key under any plan; a plan made without one
 * is read as the plan cache would.
 */
void
ag_key_add_plan(StringInfo m, PlannedStmt *ps, const char *source, int source_len)
{
	List	   *rels = NIL;
	List	   *trees = NIL;
	List	   *written = NIL;
	List	   *funcs = NIL;
	List	   *reached;
	bool		bound = false;
	ListCell   *lc;

	foreach(lc, ps->invalItems)
	{
		PlanInvalItem *item = lfirst(lc);
		Oid			oid = (Oid) item->hashValue;

		switch (item->cacheId)
		{
			case AG_BIND_MARK:
				bound = (item->hashValue == AG_BIND_VERSION);
				break;
			case AG_BIND_REL:
				rels = list_append_unique_oid(rels, oid);
				break;
			case AG_BIND_TREE:
				trees = list_append_unique_oid(trees, oid);
				break;
			case AG_BIND_WRITTEN:
				written = list_append_unique_oid(written, oid);
				break;
			case AG_BIND_FUNC:
				funcs = list_append_unique_oid(funcs, oid);
				break;
			default:
				break;
		}
	}
	if (!bound)
	{
		/* not planned in an agent session: the plan as it stands */
		list_free(rels);
		list_free(trees);
		list_free(written);
		rels = NIL;
		foreach(lc, ps->rtable)
		{
			RangeTblEntry *rte = lfirst(lc);

			if (rte->rtekind == RTE_RELATION)
				rels = list_append_unique_oid(rels, rte->relid);
		}
		written = NIL;
		foreach(lc, ps->resultRelations)
			written = list_append_unique_oid(written, rt_fetch(lfirst_int(lc), ps->rtable)->relid);
		trees = list_copy(written);
		funcs = plan_functions(ps);
	}

	ag_key_add_bytes(m, bound ? "bound plan" : "plan", bound ? 10 : 4);
	ag_key_add_int(m, (uint64) ps->commandType);
	if (source != NULL)
		ag_key_add_digest_of(m, source, (Size) source_len);
	else
		ag_key_add_int(m, 0);

	reached = with_inheritors(rels, trees);
	add_oids(m, "relations", reached);
	foreach(lc, reached)
		add_rules(m, lfirst_oid(lc));

	/* the written relations, partitions and children included */
	written = with_inheritors(written, written);
	add_oids(m, "written", written);
	foreach(lc, written)
		add_triggers(m, lfirst_oid(lc), &funcs);

	funcs = function_closure(funcs);
	add_oids(m, "functions", funcs);
	if (funcs != NIL)
	{
		Relation	proc = table_open(ProcedureRelationId, AccessShareLock);

		foreach(lc, funcs)
			add_function(m, lfirst_oid(lc), RelationGetDescr(proc));
		table_close(proc, AccessShareLock);
	}

	/* operators, collations, types, casts, calls, columns (keyobjects.c) */
	if (bound)
		ag_keyobj_add_plan(m, ps->invalItems, reached);
	else
		ag_keyobj_add_columns(m, reached);

	list_free(reached);
	list_free(written);
	list_free(funcs);
}

/*
 * The definitions of the functions in funcs and of every function they
 * depend on (function_closure), as a plan's material holds them: a
 * utility statement's expressions bind the candidates their names can
 * resolve to this way (keyobjects.c).
 */
void
ag_key_add_functions(StringInfo m, List *funcs)
{
	List	   *all = function_closure(funcs);
	ListCell   *lc;

	add_oids(m, "functions", all);
	if (all != NIL)
	{
		Relation	proc = table_open(ProcedureRelationId, AccessShareLock);

		foreach(lc, all)
			add_function(m, lfirst_oid(lc), RelationGetDescr(proc));
		table_close(proc, AccessShareLock);
	}
	list_free(all);
}

/* A catalog row's contents, as the material holds it (keyobjects.c). */
void
ag_key_add_row(StringInfo m, HeapTuple tup, TupleDesc desc)
{
	add_row(m, tup, desc);
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
