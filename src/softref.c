/*-------------------------------------------------------------------------
 * softref.c
 *		An agent's write may not make a row reference a soft-deleted row.
 *
 * A soft-deleted row is hidden by row security, yet PostgreSQL's
 * foreign-key check reads the referenced table as its owner without row
 * security (ri_triggers.c runs its query under SECURITY_NOFORCE_RLS), so a
 * key that points at a hidden row is accepted.  An agent that soft-deleted
 * a parent could then move any number of live rows under it: humans' joins
 * lose them at once, and a human's agent_guard.purge() of the parent
 * deletes them through ON DELETE CASCADE (or fails whole on NO ACTION),
 * with no event and nothing a rollback can bring back (red team 24,
 * finding 1).  So an agent's write that makes a row reference a
 * soft-deleted row is refused before it can commit (YG004, on record).
 *
 * Where: in the foreign-key check itself, so that every path that writes a
 * referencing row is covered (INSERT, UPDATE, ON CONFLICT, MERGE, COPY
 * FROM, partitions, deferred constraints at COMMIT), on protected and
 * unprotected referencing tables alike, and only when PostgreSQL checks
 * the key: a row inserted, or updated with its key columns changed (or
 * first written in this transaction).  The planner hook (hooks.c) calls
 * ag_softref_plan_query() for every query; it returns at once unless the
 * query is planned inside a foreign-key check (InNoForceRLSOperation(),
 * which only ri_triggers.c sets besides the guard's own row work) of an
 * agent's session (or while an agent's function runs in a human's) and is
 * the check's shape, SELECT 1 FROM pk x WHERE ... FOR KEY SHARE OF x, on a
 * soft-delete table (for a temporal key, that query inside the check's).  Such a query gets one more condition,
 *		x.ag_deleted_at IS NULL OR agent_guard._soft_reference(pk, x)
 * and the plan cache keeps it with the check's plan (the table's relcache
 * invalidation, as protect() and unprotect() send, replans it, and so does
 * a change of who the session is: identity.c resets the plan cache).
 * Tables with no foreign key to a soft-delete table pay nothing, and so do
 * humans' checks: PostgreSQL 15 sets up the check's executor for every
 * row, and the function's setup (its privilege check, its lookup, the
 * object-access hooks) costs more than the check's own index probe.  A
 * check that finds a live row evaluates a null test; only a soft-deleted
 * row calls the function, which lets humans' writes pass (a check planned
 * while an agent's function ran is reused by the human's own writes of
 * that key): a human keeps full power, and may point a row at a
 * soft-deleted one.
 *
 * PostgreSQL checks again, whatever the key, a row that this transaction
 * wrote before (its insert's check may not have run yet): such a check
 * would refuse an agent's soft delete of a row it inserted in the same
 * transaction under a parent soft-deleted in it too.  So the function
 * looks at the statement whose AFTER triggers are firing (the frame
 * pushed around ExecutorFinish, and around COPY FROM, by hooks.c): the
 * check is refused when that statement inserts into a table whose foreign
 * key references the soft-deleted row's table, or updates the key's
 * columns; a soft delete (which updates ag_deleted_at) or an update of
 * other columns passes.  With no frame (deferred constraints checked at
 * COMMIT or SET CONSTRAINTS) or none of the statement's tables with such
 * a key, it is refused: fail closed.  The keys a foreign-key action's
 * query (ON UPDATE CASCADE, ON DELETE SET DEFAULT) set under the frame
 * count as the statement's (note_action_writes()).  A BEFORE trigger that changes the
 * key of a row whose statement does not set it is not seen (its table's
 * owner wrote it).
 *
 * Not covered: a check PostgreSQL skips (ALTER TABLE ... ADD FOREIGN KEY
 * validates existing rows with a query of its own), and a soft delete
 * that commits while another transaction's check is locking the row (a
 * key share lock does not conflict with the soft delete's update; the
 * result is what a child written before the soft delete leaves).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#include "agent_guard.h"
#include "agentcode.h"
#include "agentgate.h"
#include "compat.h"
#include "refusal.h"
#include "scope.h"
#include "softref.h"
#include "statement.h"

static AgRefFrame frame = {NULL, InvalidOid, false, NIL};

/* ---------------------------------------------------------------------
 * The foreign-key check's query, as it is planned
 * ---------------------------------------------------------------------
 */
/*
 * Add the live-row condition to q if it is the check's locking query,
 * SELECT ... FROM pk x WHERE ... FOR KEY SHARE OF x, on a soft-delete
 * table.
 */
static void
add_live_test(Query *q)
{
	RowMarkClause *rc;
	RangeTblEntry *rte;
	AttrNumber	att;
	Oid			fn;
	Oid			argtypes[2] = {OIDOID, RECORDOID};
	NullTest   *live;
	Node	   *call;

	if (q->commandType != CMD_SELECT ||
		list_length(q->rowMarks) != 1 || list_length(q->rtable) != 1 ||
		q->jointree == NULL)
		return;
	rc = linitial_node(RowMarkClause, q->rowMarks);
	if (rc->strength != LCS_FORKEYSHARE || rc->rti != 1)
		return;
	rte = rt_fetch(rc->rti, q->rtable);
	if (rte->rtekind != RTE_RELATION || (att = ag_softdelete_attno(rte->relid)) <= 0)
		return;
	fn = LookupFuncName(list_make2(makeString(AG_SCHEMA), makeString("_soft_reference")),
						2, argtypes, true);
	if (!OidIsValid(fn))
		return;					/* a database not updated to 1.2 yet */

	live = makeNode(NullTest);
	live->arg = (Expr *) makeVar(rc->rti, att, get_atttype(rte->relid, att), -1, InvalidOid, 0);
	live->nulltesttype = IS_NULL;
	live->argisrow = false;
	live->location = -1;
	call = (Node *) makeFuncExpr(fn, BOOLOID,
								 list_make2(makeConst(OIDOID, -1, InvalidOid, sizeof(Oid),
													  ObjectIdGetDatum(rte->relid), false, true),
											makeWholeRowVar(rte, rc->rti, 0, false)),
								 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	q->jointree->quals =
		make_and_qual(q->jointree->quals,
					  (Node *) makeBoolExpr(OR_EXPR, list_make2(live, call), -1));
}

/*
 * The check's query: for an ordinary key the locking query itself; for a
 * key with PERIOD (PostgreSQL 18's temporal keys, red team 33, finding 7)
 * ri_triggers.c wraps it, SELECT 1 FROM (SELECT pk.period AS r FROM pk x
 * WHERE ... FOR KEY SHARE OF x) x1 HAVING $n <@ range_agg(x1.r), and the
 * condition goes into the subquery: an agent's write whose period
 * overlaps a soft-deleted row's is refused there (no live row of the same
 * key can overlap it: the referenced key is WITHOUT OVERLAPS).
 */
void
ag_softref_plan_query(Query *parse)
{
	RangeTblEntry *rte;

	if (!InNoForceRLSOperation() || (!ag_session_is_agent() && !ag_agentcode_running()) ||
		parse->commandType != CMD_SELECT)
		return;
	if (parse->rowMarks == NIL && list_length(parse->rtable) == 1 &&
		parse->hasAggs && parse->havingQual != NULL &&
		(rte = linitial_node(RangeTblEntry, parse->rtable))->rtekind == RTE_SUBQUERY &&
		rte->subquery != NULL)
		add_live_test(rte->subquery);
	else
		add_live_test(parse);
}

/* ---------------------------------------------------------------------
 * The statement whose AFTER triggers fire (hooks.c)
 * ---------------------------------------------------------------------
 */
/* A table a foreign-key action's query wrote, and the columns it set. */
typedef struct ActionWrite
{
	Oid			relid;
	bool		inserts;
	Bitmapset  *updated;
} ActionWrite;

/*
 * A foreign-key action (ON UPDATE CASCADE, ON DELETE SET DEFAULT, SET
 * NULL of part of a key) runs its UPDATE through SPI without firing its
 * triggers: the checks it queues fire in the statement whose AFTER
 * triggers are firing, under that statement's frame, which does not name
 * the keys the action set (red team 26, finding 1).  So a query that runs
 * while the frame is set, inside a foreign-key trigger's operation
 * (InNoForceRLSOperation(): ri_triggers.c's queries, and the guard's own
 * row work, which sets no foreign key), adds what it writes to the frame:
 * frame_keys() counts those keys as set.  Kept once per table and
 * columns, in the transaction's memory (a cascade runs its query once per
 * referenced row).
 */
static void
note_action_writes(PlannedStmt *plan)
{
	ListCell   *lc;

	if (plan->commandType != CMD_UPDATE && plan->commandType != CMD_INSERT &&
		plan->commandType != CMD_MERGE)
		return;
	foreach(lc, plan->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		AclMode		perms;
		Bitmapset  *updated;
		ListCell   *lw;
		bool		known = false;
		MemoryContext old;
		ActionWrite *w;

		if (rte->rtekind != RTE_RELATION ||
			!ag_plan_rte_write_cols(plan, rte, &perms, &updated) ||
			(perms & (ACL_INSERT | ACL_UPDATE)) == 0)
			continue;
		foreach(lw, frame.action_writes)
		{
			ActionWrite *k = (ActionWrite *) lfirst(lw);

			if (k->relid == rte->relid && k->inserts == ((perms & ACL_INSERT) != 0) &&
				bms_equal(k->updated, updated))
				known = true;
		}
		if (known)
			continue;
		old = MemoryContextSwitchTo(TopTransactionContext);
		w = palloc(sizeof(ActionWrite));
		w->relid = rte->relid;
		w->inserts = (perms & ACL_INSERT) != 0;
		w->updated = bms_copy(updated);
		frame.action_writes = lappend(frame.action_writes, w);
		MemoryContextSwitchTo(old);
	}
}

AgRefFrame
ag_softref_enter(PlannedStmt *plan, Oid copy_into)
{
	AgRefFrame	saved;

	if (frame.set && plan != NULL && InNoForceRLSOperation())
		note_action_writes(plan);
	saved = frame;
	frame.plan = plan;
	frame.copy_into = copy_into;
	frame.set = plan != NULL || OidIsValid(copy_into);
	frame.action_writes = NIL;
	return saved;
}

void
ag_softref_leave(AgRefFrame saved)
{
	frame = saved;
}

/* ---------------------------------------------------------------------
 * The check finds a soft-deleted row
 * ---------------------------------------------------------------------
 */

/* The foreign keys that reach the soft-deleted row's table, for the message. */
typedef struct Refs
{
	StringInfoData all;			/* every one found: "foreign key "f" of t" */
	StringInfoData relevant;	/* those the statement sets */
	int			nall;
	int			nrelevant;
	Oid			table;			/* the one referencing table, or InvalidOid */
	bool		one_table;
} Refs;

static void
add_ref(StringInfo buf, int *n, Oid conoid, Oid conrelid)
{
	char	   *name = get_constraint_name(conoid);

	appendStringInfo(buf, "%sforeign key \"%s\" of %s", *n > 0 ? " or " : "",
					 name ? name : "?", ag_qualified_relname(conrelid));
	(*n)++;
}

/*
 * Does an UPDATE of the columns updated set the stored generated column
 * attnum?  It does when it updates a column the generation expression
 * reads (red team 26, finding 2: the RTE's updatedCols do not name the
 * generated column; PostgreSQL 15 keeps it in extraUpdatedCols, 16 on
 * computes it as the executor starts).  Computed here the same way for
 * every version: the expression's columns against the updated ones.
 */
static bool
generated_key_set(Relation rel, AttrNumber attnum, Bitmapset *updated)
{
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
	Node	   *expr;
	Bitmapset  *deps = NULL;

	if (bms_is_empty(updated) || att->attgenerated != ATTRIBUTE_GENERATED_STORED)
		return false;
	expr = build_column_default(rel, attnum);
	if (expr == NULL)
		return true;			/* cannot tell: the key counts as set */
	pull_varattnos(expr, 1, &deps);
	return bms_overlap(deps, updated);
}

/*
 * The foreign keys of relid that reference pkrel: relevant when the
 * statement inserts into relid or updates a column of the key (or one a
 * stored generated column of the key is computed from).
 */
static void
keys_of(Oid relid, Oid pkrel, bool inserts, Bitmapset *updated, Refs *r)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	ListCell   *lc;

	foreach(lc, RelationGetFKeyList(rel))
	{
		ForeignKeyCacheInfo *fk = lfirst_node(ForeignKeyCacheInfo, lc);
		bool		sets = inserts;
		int			i;

		if (fk->confrelid != pkrel)
			continue;
		for (i = 0; i < fk->nkeys && !sets; i++)
			sets = bms_is_member(fk->conkey[i] - FirstLowInvalidHeapAttributeNumber, updated) ||
				generated_key_set(rel, fk->conkey[i], updated);
		add_ref(&r->all, &r->nall, fk->conoid, relid);
		if (sets)
		{
			add_ref(&r->relevant, &r->nrelevant, fk->conoid, relid);
			r->one_table = r->nrelevant == 1 || (r->one_table && r->table == relid);
			r->table = relid;
		}
	}
	relation_close(rel, AccessShareLock);
}

/*
 * The foreign keys that reference pkrel, when no statement narrows them
 * down; deferrable: only those that can be deferred (checked at COMMIT or
 * by SET CONSTRAINTS).
 */
static void
keys_to(Oid pkrel, bool deferrable, Refs *r)
{
	Relation	con = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	/* no index on confrelid: a scan, on the way to an error only */
	ScanKeyInit(&key, Anum_pg_constraint_confrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(pkrel));
	scan = systable_beginscan(con, InvalidOid, false, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint c = (Form_pg_constraint) GETSTRUCT(tup);

		if (c->contype != CONSTRAINT_FOREIGN || OidIsValid(c->conparentid) ||
			(deferrable && !c->condeferrable))
			continue;
		add_ref(&r->all, &r->nall, c->oid, c->conrelid);
		add_ref(&r->relevant, &r->nrelevant, c->oid, c->conrelid);
		r->one_table = r->nrelevant == 1 || (r->one_table && r->table == c->conrelid);
		r->table = c->conrelid;
	}
	systable_endscan(scan);
	table_close(con, AccessShareLock);
}

/*
 * The foreign keys of the firing statement's tables that reference pkrel.
 * False when the check is refused whatever the statement sets: no frame,
 * or none of its tables has such a key.
 */
static bool
frame_keys(Oid pkrel, Refs *r)
{
	ListCell   *lc;

	if (!frame.set)
		return false;
	if (OidIsValid(frame.copy_into))
		keys_of(frame.copy_into, pkrel, true, NULL, r);
	else if (frame.plan != NULL)
	{
		foreach(lc, frame.plan->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
			AclMode		perms;
			Bitmapset  *updated;

			if (rte->rtekind != RTE_RELATION ||
				!ag_plan_rte_write_cols(frame.plan, rte, &perms, &updated) ||
				(perms & (ACL_INSERT | ACL_UPDATE | ACL_DELETE)) == 0)
				continue;
			keys_of(rte->relid, pkrel, (perms & ACL_INSERT) != 0, updated, r);
		}
	}
	foreach(lc, frame.action_writes)
	{
		ActionWrite *w = (ActionWrite *) lfirst(lc);

		keys_of(w->relid, pkrel, w->inserts, w->updated, r);
	}
	return r->nall > 0;
}

/* "(a, b)=(1, 2)": the key of the row, as PostgreSQL's messages show keys. */
static char *
row_key_text(Relation rel, HeapTuple tuple)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			keyidx = AG_PRIMARY_KEY_INDEX(rel);
	Relation	idx;
	StringInfoData names;
	StringInfoData values;
	int			i;

	if (!OidIsValid(keyidx))
		keyidx = RelationGetReplicaIndex(rel);
	if (!OidIsValid(keyidx))
		return pstrdup("(?)");
	initStringInfo(&names);
	initStringInfo(&values);
	idx = index_open(keyidx, AccessShareLock);
	for (i = 0; i < idx->rd_index->indnkeyatts; i++)
	{
		AttrNumber	attno = idx->rd_index->indkey.values[i];
		Form_pg_attribute att = TupleDescAttr(desc, attno - 1);
		bool		isnull;
		Datum		d = heap_getattr(tuple, attno, desc, &isnull);
		Oid			outfn;
		bool		varlena;

		appendStringInfo(&names, "%s%s", i > 0 ? ", " : "", quote_identifier(NameStr(att->attname)));
		getTypeOutputInfo(att->atttypid, &outfn, &varlena);
		appendStringInfo(&values, "%s%s", i > 0 ? ", " : "",
						 isnull ? "null" : OidOutputFunctionCall(outfn, d));
	}
	index_close(idx, AccessShareLock);
	return psprintf("(%s)=(%s)", names.data, values.data);
}

static const char *
stamp_of(Relation rel, HeapTuple tuple, const char *column)
{
	AttrNumber	att = get_attnum(RelationGetRelid(rel), column);
	bool		isnull = true;
	Datum		d = (Datum) 0;

	if (att > 0)
		d = heap_getattr(tuple, att, RelationGetDescr(rel), &isnull);
	return isnull ? "(none)" : TextDatumGetCString(d);
}

/*
 * SQL: agent_guard._soft_reference(relation oid, row record) returns
 * boolean: put into the foreign-key check's query by
 * ag_softref_plan_query(), for a referenced row that is soft-deleted.
 * True lets the check find the row (a human's write, or a statement that
 * does not set the key); an agent's write is refused.
 */
PG_FUNCTION_INFO_V1(ag_sql_soft_reference);
Datum
ag_sql_soft_reference(PG_FUNCTION_ARGS)
{
	Oid			pkrel;
	HeapTupleHeader td;
	HeapTupleData tuple;
	Relation	rel;
	AttrNumber	att;
	bool		isnull;
	Refs		r;
	char	   *key;
	char	   *why;
	const char *text;
	int			len;
	int64		id;

	if (!InNoForceRLSOperation())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("agent_guard._soft_reference() is called by foreign-key checks only")));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(true);
	if (!ag_judging() && !ag_agentcode_running())
		PG_RETURN_BOOL(true);	/* a human's write */

	pkrel = PG_GETARG_OID(0);
	td = PG_GETARG_HEAPTUPLEHEADER(1);
	rel = relation_open(pkrel, AccessShareLock);
	if (HeapTupleHeaderGetTypeId(td) != rel->rd_rel->reltype)
		elog(ERROR, "agent_guard._soft_reference: the row is not of table %u", pkrel);
	tuple.t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = pkrel;
	tuple.t_data = td;
	att = get_attnum(pkrel, "ag_deleted_at");
	if (att <= 0)
		isnull = true;
	else
		(void) heap_getattr(&tuple, att, RelationGetDescr(rel), &isnull);
	if (isnull)
	{
		relation_close(rel, AccessShareLock);
		PG_RETURN_BOOL(true);
	}

	memset(&r, 0, sizeof(r));
	initStringInfo(&r.all);
	initStringInfo(&r.relevant);
	if (frame_keys(pkrel, &r))
	{
		if (r.nrelevant == 0)
		{
			/* a soft delete, or an update of other columns, checked again */
			relation_close(rel, AccessShareLock);
			PG_RETURN_BOOL(true);
		}
	}
	else
	{
		resetStringInfo(&r.all);
		resetStringInfo(&r.relevant);
		r.nall = r.nrelevant = 0;
		r.one_table = false;
		keys_to(pkrel, !frame.set, &r);
		if (r.nall == 0)
			keys_to(pkrel, false, &r);
	}

	key = row_key_text(rel, &tuple);
	why = psprintf("%s%s references row %s of %s, which agent \"%s\" soft-deleted in run \"%s\": the row is hidden, not gone. "
				   "A row that references it is missing from humans' joins, and agent_guard.purge() of it would delete such rows through the foreign key (or fail).",
				   r.nrelevant > 0 ? "The " : "A ",
				   r.nrelevant > 0 ? r.relevant.data : "foreign key",
				   key, ag_qualified_relname(pkrel),
				   stamp_of(rel, &tuple, "ag_agent_id"), stamp_of(rel, &tuple, "ag_run_id"));
	(void) ag_current_statement(&text, &len);

	if (!ag_judging())
	{
		/* an agent's code in a human's session: refused as the agent's */
		relation_close(rel, AccessShareLock);
		ag_agentgate_decide(AG_REFUSAL_GUARD, "insert or update", why, text, len);
		PG_RETURN_BOOL(true);
	}

	/* on record like the gates' refusals: the error ends this transaction */
	id = ag_refusal_record(why, text, text ? Min(len, AG_MAX_QUERY_LOG) : 0);
	if (r.nrelevant > 0 && r.one_table)
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_PROTECTED),
				 errmsg("insert or update on table \"%s\" refused: it references a soft-deleted row of \"%s\" (request " INT64_FORMAT ")",
						get_rel_name(r.table), RelationGetRelationName(rel), id),
				 errdetail("%s", why),
				 errhint("Reference a row that is not deleted, or ask a human to bring this one back first with agent_guard.restore().")));
	ereport(ERROR,
			(errcode(ERRCODE_AG_GUARD_PROTECTED),
			 errmsg("insert or update refused: it references a soft-deleted row of \"%s\" (request " INT64_FORMAT ")",
					RelationGetRelationName(rel), id),
			 errdetail("%s", why),
			 errhint("Reference a row that is not deleted, or ask a human to bring this one back first with agent_guard.restore().")));
	PG_RETURN_BOOL(false);		/* keep compiler quiet */
}
