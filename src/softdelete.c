/*-------------------------------------------------------------------------
 * softdelete.c
 *		An agent's DELETE on a soft-delete table keeps the rows.
 *
 * The conversion happens in the planner hook (hooks.c calls
 * ag_softdelete_convert() for agent sessions), on the rewritten query, so
 * that every path that ends in a DELETE of such a table is covered: plain
 * DELETE, DELETE ... USING, WHERE CURRENT OF, writable CTEs, MERGE ... THEN
 * DELETE, DELETE through updatable views and rules (already expanded to the
 * base table here), partitions (the DELETE targets the protected parent),
 * and PL/pgSQL or dynamic SQL (planned through the same hook).  The DELETE
 * becomes an UPDATE that sets ag_deleted_at; the stamp trigger writes the
 * deleting agent and run, and the capture trigger logs a SOFT_DELETE with
 * the full old row.
 *
 * The agent must not be able to tell from the protocol:
 *	- the command tag: the PlannedStmt keeps commandType CMD_DELETE, so the
 *	  tag reads "DELETE n" with the true count (the ModifyTable node itself
 *	  updates); PL/pgSQL's FOUND and ROW_COUNT see the same count;
 *	- RETURNING: it would show the row after the update, so references to
 *	  ag_deleted_at become NULL (what a live row holds) and references to the
 *	  stamps read the values the row had before, saved by the stamp trigger
 *	  for the row being processed (see ag_soft_remember()).
 * The privileges checked are those of the DELETE (the range table entry
 * keeps its required permissions), and so are the row security policies:
 * the rewriter applied them for the DELETE, so rows already soft-deleted,
 * which a restrictive policy hides, cannot be deleted again.
 *
 * Where the conversion is missed (a plan cached before the session became
 * an agent session is replanned, but defence in depth), the capture trigger
 * refuses a hard DELETE by an agent on a soft-delete table: fail closed.
 *
 * Known limits, documented: a whole-row reference in RETURNING (RETURNING t)
 * shows the updated row; user DELETE triggers do not fire (UPDATE triggers
 * do); EXPLAIN shows the Update.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/parallel.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/execdesc.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/plannodes.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "parser/parse_func.h"
#include "parser/parse_relation.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "compat.h"
#include "refusal.h"
#include "relinfo.h"
#include "scope.h"
#include "session.h"
#include "statement.h"

/* The row whose soft delete is being processed: its key and old stamps. */
typedef struct AgSoftRow
{
	bool		valid;
	int			nkeys;
	Datum		keys[INDEX_MAX_KEYS];
	Oid			keytype[INDEX_MAX_KEYS];	/* checked against the arguments */
	bool		keybyval[INDEX_MAX_KEYS];
	int16		keylen[INDEX_MAX_KEYS];
	char	   *old_agent;		/* NULL when the stamp was NULL */
	char	   *old_run;
} AgSoftRow;

static MemoryContext SoftRowContext = NULL;
static AgSoftRow soft_row;

/*
 * The attribute number of ag_deleted_at when the relation is protected
 * with soft_delete (its capture trigger carries the argument), else 0.
 * The relation is already locked by the parser and rewriter.
 */
static AttrNumber
soft_delete_attno(Oid relid)
{
	Relation	rel;
	AttrNumber	attno = 0;
	Oid			capture_fn;
	int			i;

	capture_fn = ag_capture_function();
	if (!OidIsValid(capture_fn))
		return 0;				/* extension not installed in this database */

	rel = relation_open(relid, NoLock);
	if (rel->trigdesc != NULL)
	{
		for (i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			Trigger    *t = &rel->trigdesc->triggers[i];

			if (t->tgfoid == capture_fn && t->tgnargs >= 1 &&
				strcmp(t->tgargs[0], "soft_delete") == 0)
			{
				attno = get_attnum(relid, "ag_deleted_at");
				if (attno == InvalidAttrNumber)
					ereport(ERROR,
							(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
							 errmsg("soft-delete table \"%s\" has no column \"ag_deleted_at\"",
									RelationGetRelationName(rel)),
							 errhint("Run agent_guard.protect() on the table again.")));
				break;
			}
		}
	}
	relation_close(rel, NoLock);
	return attno;
}

/* The same, for the foreign-key checks (softref.c). */
AttrNumber
ag_softdelete_attno(Oid relid)
{
	return soft_delete_attno(relid);
}

typedef struct ReturningFix
{
	Index		resultRelation;
	AttrNumber	att_deleted;
	AttrNumber	att_agent;
	AttrNumber	att_run;
	Oid			old_stamp_fn;
	List	   *keyvars;
	int			sublevels_up;
} ReturningFix;

/*
 * The RETURNING list of a DELETE that became an UPDATE, and the sublinks
 * in it: what a real DELETE would return.  new.* (PostgreSQL 18) reads
 * NULL, whole row and columns alike, not the marked row (red team 33, F5);
 * ag_deleted_at NULL; the stamps the values the row had.
 */
static Node *
fix_returning_mutator(Node *node, ReturningFix *fix)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Query))
	{
		Query	   *res;

		fix->sublevels_up++;
		res = query_tree_mutator((Query *) node, fix_returning_mutator, (void *) fix, 0);
		fix->sublevels_up--;
		return (Node *) res;
	}
#ifdef AG_HAVE_RETURNING_OLD_NEW
	if (IsA(node, ReturningExpr))
	{
		ReturningExpr *r = (ReturningExpr *) node;

		if (r->retlevelsup == fix->sublevels_up && !r->retold)
			return (Node *) makeNullConst(exprType((Node *) r->retexpr),
										  exprTypmod((Node *) r->retexpr),
										  exprCollation((Node *) r->retexpr));
	}
#endif
	if (IsA(node, Var))
	{
		Var		   *v = (Var *) node;

		if (v->varno == (int) fix->resultRelation && v->varlevelsup == (Index) fix->sublevels_up)
		{
			if (AG_VAR_RETURNS_NEW(v))
				return (Node *) makeNullConst(v->vartype, v->vartypmod, v->varcollid);
			if (v->varattno == fix->att_deleted)
				return (Node *) makeNullConst(TIMESTAMPTZOID, -1, InvalidOid);
			if (v->varattno == fix->att_agent || v->varattno == fix->att_run)
			{
				FuncExpr   *f;
				List	   *keys = copyObject(fix->keyvars);

				if (fix->sublevels_up > 0)
					IncrementVarSublevelsUp((Node *) keys, fix->sublevels_up, 0);
				f = makeFuncExpr(fix->old_stamp_fn, TEXTOID,
								 lcons(makeConst(INT4OID, -1, InvalidOid, 4,
												 Int32GetDatum(v->varattno == fix->att_agent ? 1 : 2),
												 false, true),
									   keys),
								 DEFAULT_COLLATION_OID, InvalidOid, COERCE_EXPLICIT_CALL);
				return (Node *) f;
			}
		}
		return node;
	}
	return expression_tree_mutator(node, fix_returning_mutator, (void *) fix);
}

/* Key columns of the relation as Vars of the result relation. */
static List *
key_vars(Oid relid, Index rti)
{
	Relation	rel = relation_open(relid, NoLock);
	Oid			keyidx = AG_PRIMARY_KEY_INDEX(rel);
	List	   *vars = NIL;
	Relation	idx;
	int			i;

	if (!OidIsValid(keyidx))
		keyidx = RelationGetReplicaIndex(rel);
	if (!OidIsValid(keyidx))
		elog(ERROR, "soft-delete table %u has no key index", relid);
	idx = index_open(keyidx, AccessShareLock);
	for (i = 0; i < idx->rd_index->indnkeyatts; i++)
	{
		AttrNumber	attno = idx->rd_index->indkey.values[i];
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attno - 1);

		vars = lappend(vars, makeVar(rti, attno, att->atttypid, att->atttypmod,
									 att->attcollation, 0));
	}
	index_close(idx, AccessShareLock);
	relation_close(rel, NoLock);
	return vars;
}

static TargetEntry *
deleted_at_target(AttrNumber attno)
{
	Expr	   *ts = (Expr *) makeFuncExpr(F_STATEMENT_TIMESTAMP, TIMESTAMPTZOID, NIL,
										   InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);

	return makeTargetEntry(ts, attno, pstrdup("ag_deleted_at"), false);
}

/* Turn a DELETE of a soft-delete table into the UPDATE that marks rows. */
static void
convert_delete(Query *q, AttrNumber att_deleted)
{
	RangeTblEntry *rte = rt_fetch(q->resultRelation, q->rtable);

	q->commandType = CMD_UPDATE;
	q->targetList = list_make1(deleted_at_target(att_deleted));
	AG_RTE_UPDATED_COLS(q, rte) = bms_add_member(AG_RTE_UPDATED_COLS(q, rte),
												 att_deleted - FirstLowInvalidHeapAttributeNumber);

	if (q->returningList != NIL)
	{
		ReturningFix fix;
		Oid			argtypes[2] = {INT4OID, ANYOID};

		fix.resultRelation = q->resultRelation;
		fix.att_deleted = att_deleted;
		fix.att_agent = get_attnum(rte->relid, "ag_agent_id");
		fix.att_run = get_attnum(rte->relid, "ag_run_id");
		fix.old_stamp_fn = LookupFuncName(list_make2(makeString(AG_SCHEMA),
													 makeString("soft_deleted_stamp")),
										  -1, argtypes, true);
		if (!OidIsValid(fix.old_stamp_fn))
			elog(ERROR, "function agent_guard.soft_deleted_stamp is missing");
		fix.keyvars = key_vars(rte->relid, q->resultRelation);
		fix.sublevels_up = 0;
		q->returningList = (List *) fix_returning_mutator((Node *) q->returningList, &fix);
	}
}

/*
 * Whether a table carries the capture trigger (any protection: its rows'
 * deletes are logged with their images).
 */
static bool
is_protected(Oid relid, Oid capture_fn)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	bool		found = false;
	int			i;

	for (i = 0; rel->trigdesc != NULL && i < rel->trigdesc->numtriggers; i++)
		if (rel->trigdesc->triggers[i].tgfoid == capture_fn)
			found = true;
	relation_close(rel, AccessShareLock);
	return found;
}

/*
 * A DELETE of soft-delete table relid whose WHERE clause names exactly the
 * columns of its foreign key conoid (ON DELETE CASCADE), planned inside a
 * foreign key's operation (InNoForceRLSOperation()) but not as that
 * operation's own query (ag_fk_action_query(), hooks.c): in a trigger that
 * the operation's query fires, or a function such a trigger calls, where
 * the security context is the key's (red team 33, F1).  It may be the
 * agent's own statement, which must not be left a real delete, or a key's
 * cascade nested in it (a trigger deleting a parent row), which converted
 * to a soft delete would leave child rows referencing a row that is gone.
 * The two cannot be told apart there: refused (YG004, on record).
 */
static void
refuse_unsure_cascade(Oid relid, Oid conoid)
{
	const char *text;
	int			len;
	char	   *why;
	int64		id;

	why = psprintf("The statement runs inside a foreign key's action (from a trigger that the action's query fires, or a function such a trigger calls), "
				   "and its WHERE clause names exactly the columns of foreign key \"%s\" of %s, which deletes its rows ON DELETE CASCADE. "
				   "There it cannot be told from that key's own cascade, which deletes for real; a soft delete would leave rows that reference a row that is gone.",
				   get_constraint_name(conoid), ag_qualified_relname(relid));
	(void) ag_current_statement(&text, &len);
	id = ag_refusal_record(why, text, text ? Min(len, AG_MAX_QUERY_LOG) : 0);
	ereport(ERROR,
			(errcode(ERRCODE_AG_GUARD_PROTECTED),
			 errmsg("delete on soft-delete table \"%s\" refused inside a foreign key's action (request " INT64_FORMAT ")",
					get_rel_name(relid), id),
			 errdetail("%s", why),
			 errhint("Delete the rows outside the trigger that the foreign key's action fires, or ask a human to delete them.")));
}

/*
 * A foreign key's ON DELETE CASCADE query on a soft-delete table, as
 * ri_triggers.c plans it inside the key's operation (ag_fk_action_query():
 * the key's own query, not one that a trigger it fires runs, which
 * refuse_unsure_cascade() refuses when it has the same shape):
 * DELETE FROM [ONLY] fk WHERE $1 = col1 [AND ...].  Converted to a soft
 * delete it would keep child rows whose parent row is really gone: rows
 * that violate the key, which restore() would bring back as orphans and a
 * dump could not restore (red team 30, F6).  So the cascade stays a real
 * delete, logged with each row's image (ag_softdelete_executor_start()
 * notes its command for the capture trigger), when every table the key
 * references is protected: its own delete is logged too, and rollback_run
 * brings back parent and children together.  A referenced table that is not
 * protected logs nothing, so the run could not be rolled back: the agent's
 * delete is refused (YG004, on record).  Rows of the child that an agent
 * soft-deleted before go too (the key's query reads the table without row
 * security), logged as they were: a rollback brings them back soft-deleted.
 * Returns true for a cascade to leave a real delete, false for any other
 * query (converted as ever).
 */
static List *cascade_depends = NIL;	/* see ag_softdelete_take_depends() */

static bool
cascade_delete(Query *q, RangeTblEntry *rte)
{
	Bitmapset  *cols = NULL;
	Relation	rel;
	ListCell   *lc;
	Oid			capture_fn;
	bool		matched = false;
	Oid			unprotected = InvalidOid;
	Oid			via = InvalidOid;

	if (!InNoForceRLSOperation() || q->cteList != NIL || q->returningList != NIL ||
		q->hasSubLinks || list_length(q->rtable) != 1 || q->jointree == NULL ||
		q->jointree->quals == NULL || list_length(q->jointree->fromlist) != 1)
		return false;
	pull_varattnos(q->jointree->quals, q->resultRelation, &cols);
	if (bms_is_empty(cols))
		return false;
	capture_fn = ag_capture_function();

	rel = relation_open(rte->relid, NoLock);
	foreach(lc, RelationGetFKeyList(rel))
	{
		ForeignKeyCacheInfo *fk = lfirst_node(ForeignKeyCacheInfo, lc);
		Bitmapset  *keycols = NULL;
		HeapTuple	tup;
		char		action;
		int			i;

		for (i = 0; i < fk->nkeys; i++)
			keycols = bms_add_member(keycols, fk->conkey[i] - FirstLowInvalidHeapAttributeNumber);
		if (!bms_equal(keycols, cols))
			continue;
		tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(fk->conoid));
		if (!HeapTupleIsValid(tup))
			continue;
		action = ((Form_pg_constraint) GETSTRUCT(tup))->confdeltype;
		ReleaseSysCache(tup);
		if (action != FKCONSTR_ACTION_CASCADE)
			continue;
		if (!matched && !ag_fk_action_query())
			refuse_unsure_cascade(rte->relid, fk->conoid);
		matched = true;
		cascade_depends = lappend_oid(cascade_depends, fk->confrelid);
		if (!OidIsValid(unprotected) && !is_protected(fk->confrelid, capture_fn))
		{
			unprotected = fk->confrelid;
			via = fk->conoid;
		}
	}
	relation_close(rel, NoLock);

	if (matched && OidIsValid(unprotected))
	{
		const char *text;
		int			len;
		char	   *why;
		int64		id;

		why = psprintf("Foreign key \"%s\" of %s deletes its rows ON DELETE CASCADE when a row of %s is deleted. "
					   "%s is not protected: its deleted rows are not logged, so the rows the cascade removes from soft-delete table %s could not be brought back with them; "
					   "kept as soft-deleted rows they would reference a row that is gone.",
					   get_constraint_name(via), ag_qualified_relname(rte->relid),
					   ag_qualified_relname(unprotected), ag_qualified_relname(unprotected),
					   ag_qualified_relname(rte->relid));
		(void) ag_current_statement(&text, &len);
		id = ag_refusal_record(why, text, text ? Min(len, AG_MAX_QUERY_LOG) : 0);
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_PROTECTED),
				 errmsg("delete on table \"%s\" refused: it would cascade into soft-delete table \"%s\" (request " INT64_FORMAT ")",
						get_rel_name(unprotected), get_rel_name(rte->relid), id),
				 errdetail("%s", why),
				 errhint("Ask a human to protect %s with agent_guard.protect() (its deletes, and the cascade's, are then logged and can be rolled back), or to delete the row.",
						 ag_qualified_relname(unprotected))));
	}
	return matched;
}

/*
 * Convert the soft deletes in q and its writable CTEs.  Returns true when q
 * itself was a DELETE that became an UPDATE.
 */
static bool
convert_query(Query *q)
{
	ListCell   *lc;
	bool		converted = false;

	foreach(lc, q->cteList)
	{
		CommonTableExpr *cte = lfirst_node(CommonTableExpr, lc);

		if (cte->ctequery && IsA(cte->ctequery, Query))
			(void) convert_query((Query *) cte->ctequery);
	}

	if (q->commandType == CMD_DELETE && q->resultRelation > 0)
	{
		RangeTblEntry *rte = rt_fetch(q->resultRelation, q->rtable);
		AttrNumber	att;

		if (rte->rtekind == RTE_RELATION && (att = soft_delete_attno(rte->relid)) > 0 &&
			!cascade_delete(q, rte))
		{
			convert_delete(q, att);
			converted = true;
		}
	}
#ifdef AG_HAVE_MERGE
	else if (q->commandType == CMD_MERGE && q->resultRelation > 0)
	{
		RangeTblEntry *rte = rt_fetch(q->resultRelation, q->rtable);
		AttrNumber	att = 0;
		bool		converted_merge = false;

		foreach(lc, q->mergeActionList)
		{
			MergeAction *action = lfirst_node(MergeAction, lc);

			if (action->commandType != CMD_DELETE)
				continue;
			if (att == 0)
				att = soft_delete_attno(rte->relid);
			if (att == 0)
				break;
			action->commandType = CMD_UPDATE;
			action->targetList = list_make1(deleted_at_target(att));
			AG_RTE_UPDATED_COLS(q, rte) = bms_add_member(AG_RTE_UPDATED_COLS(q, rte),
														 att - FirstLowInvalidHeapAttributeNumber);
			converted_merge = true;
		}

		/*
		 * For MERGE the rewriter checks the new row of an UPDATE against
		 * the SELECT policies; our hiding policy would then refuse the
		 * very mark we set.  Marking is allowed for a plain UPDATE too
		 * (the policy's WITH CHECK is true), so drop that one check.
		 */
		if (converted_merge)
		{
			List	   *keep = NIL;

			foreach(lc, q->withCheckOptions)
			{
				WithCheckOption *wco = lfirst_node(WithCheckOption, lc);

				if (wco->kind == WCO_RLS_UPDATE_CHECK && wco->polname != NULL &&
					strcmp(wco->polname, "ag_hide_deleted") == 0)
					continue;
				keep = lappend(keep, wco);
			}
			q->withCheckOptions = keep;
		}
	}
#endif
	return converted;
}

/*
 * The tables whose protection the last ag_softdelete_convert() decided a
 * cascade by (the tables its foreign keys reference), taken once: the
 * planner hook adds them to the plan's relationOids, so that protecting or
 * unprotecting one of them (a relcache invalidation) replans the cascade,
 * which PostgreSQL keeps for the session.
 */
List *
ag_softdelete_take_depends(void)
{
	List	   *depends = cascade_depends;

	cascade_depends = NIL;
	return depends;
}

/*
 * An agent's query is about to be planned: convert its DELETEs of
 * soft-delete tables.  true: converted (the hooks keep the plan's command
 * type DELETE, so the tag and SPI's result code follow the statement).
 */
bool
ag_softdelete_convert(Query *parse)
{
	cascade_depends = NIL;
	return convert_query(parse);
}

/*
 * The command ids of this transaction's foreign-key cascades that delete
 * rows of soft-delete tables for real (cascade_delete() left them real
 * deletes).  PostgreSQL runs a cascade's query without firing its AFTER
 * triggers: they fire later, with the statement that set the cascade off,
 * so the capture trigger cannot tell from where it runs that a delete is a
 * cascade's.  It tells by the deleted row's cmax: the command that deleted
 * it, one of these (ag_softdelete_cascaded()).  A few per transaction at
 * most (one per cascading key and statement); kept in the transaction's
 * memory and forgotten with it.
 */
static LocalTransactionId cascade_lxid = InvalidLocalTransactionId;
static List *cascade_cids = NIL;

/*
 * The executor has started a plan (hooks.c, after the chained hook): note
 * the command id of a foreign-key cascade's real delete of a soft-delete
 * table in an agent's session.  Other plans return at once.
 */
void
ag_softdelete_executor_start(QueryDesc *queryDesc)
{
	PlannedStmt *stmt = queryDesc->plannedstmt;
	ModifyTable *mt;
	ListCell   *lc;
	CommandId	cid;
	MemoryContext old;

	if (!ag_fk_action_query() || stmt == NULL || stmt->planTree == NULL ||
		!IsA(stmt->planTree, ModifyTable) || queryDesc->estate == NULL ||
		!ag_session_is_agent())
		return;
	mt = (ModifyTable *) stmt->planTree;
	if (mt->operation != CMD_DELETE)
		return;
	foreach(lc, mt->resultRelations)
	{
		RangeTblEntry *rte = rt_fetch(lfirst_int(lc), stmt->rtable);

		if (rte->rtekind == RTE_RELATION && soft_delete_attno(rte->relid) > 0)
			break;
	}
	if (lc == NULL)
		return;

	if (cascade_lxid != AG_MY_LXID)
	{
		cascade_cids = NIL;		/* the old list went with its transaction */
		cascade_lxid = AG_MY_LXID;
	}
	cid = queryDesc->estate->es_output_cid;
	if (list_member_int(cascade_cids, (int) cid))
		return;
	old = MemoryContextSwitchTo(TopTransactionContext);
	cascade_cids = lappend_int(cascade_cids, (int) cid);
	MemoryContextSwitchTo(old);
}

/*
 * Whether a row this transaction deleted (the capture trigger's old row)
 * was deleted by a foreign-key cascade that is meant to remove it.
 */
bool
ag_softdelete_cascaded(HeapTupleHeader tup)
{
	if (cascade_lxid != AG_MY_LXID || cascade_cids == NIL ||
		!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetUpdateXid(tup)))
		return false;
	return list_member_int(cascade_cids, (int) HeapTupleHeaderGetCmax(tup));
}

/*
 * Called by the stamp trigger for each row an agent soft-deletes, before
 * the row is written: keep its key and its stamps, for RETURNING.
 */
void
ag_soft_remember(HeapTuple oldtup, TupleDesc desc, AgRelInfo *info)
{
	MemoryContext old;
	int			i;
	bool		isnull;
	Datum		d;

	if (SoftRowContext == NULL)
		SoftRowContext = AllocSetContextCreate(ag_session_memory(),
											   "agent_guard soft delete row",
											   ALLOCSET_SMALL_SIZES);
	MemoryContextReset(SoftRowContext);
	old = MemoryContextSwitchTo(SoftRowContext);

	soft_row.nkeys = info->nkeys;
	for (i = 0; i < info->nkeys; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, info->keyattnos[i] - 1);

		d = heap_getattr(oldtup, info->keyattnos[i], desc, &isnull);
		soft_row.keytype[i] = att->atttypid;
		soft_row.keybyval[i] = att->attbyval;
		soft_row.keylen[i] = att->attlen;
		soft_row.keys[i] = isnull ? (Datum) 0 : datumCopy(d, att->attbyval, att->attlen);
	}
	d = heap_getattr(oldtup, info->att_agent, desc, &isnull);
	soft_row.old_agent = isnull ? NULL : TextDatumGetCString(d);
	d = heap_getattr(oldtup, info->att_run, desc, &isnull);
	soft_row.old_run = isnull ? NULL : TextDatumGetCString(d);
	soft_row.valid = true;
	MemoryContextSwitchTo(old);
}

/*
 * SQL: agent_guard.soft_deleted_stamp(which int, VARIADIC keys "any")
 * returns text.  Put into the RETURNING list of a converted DELETE in place
 * of ag_agent_id (which = 1) and ag_run_id (which = 2): the value the row
 * had before the soft delete.  Fails closed if the row is not the one the
 * stamp trigger remembered.
 */
PG_FUNCTION_INFO_V1(ag_soft_deleted_stamp);
Datum
ag_soft_deleted_stamp(PG_FUNCTION_ARGS)
{
	int			which = PG_GETARG_INT32(0);
	int			i;
	const char *value;

	if (!soft_row.valid || PG_NARGS() - 1 != soft_row.nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
				 errmsg("could not return the row of a soft delete"),
				 errdetail("agent_guard.soft_deleted_stamp() was called outside the RETURNING list of a converted DELETE.")));
	/*
	 * The function is callable by anyone, with arguments of any type: an
	 * argument is compared as a datum of the remembered key's type only when
	 * it is of that type (an int8 read as a pointer would crash the server).
	 */
	for (i = 0; i < soft_row.nkeys; i++)
	{
		if (get_fn_expr_variadic(fcinfo->flinfo) ||
			get_fn_expr_argtype(fcinfo->flinfo, i + 1) != soft_row.keytype[i])
			ereport(ERROR,
					(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
					 errmsg("could not return the row of a soft delete"),
					 errdetail("Argument %d of agent_guard.soft_deleted_stamp() is not of the type of key column %d.",
							   i + 2, i + 1)));
	}
	for (i = 0; i < soft_row.nkeys; i++)
	{
		if (PG_ARGISNULL(i + 1) ||
			!datum_image_eq(PG_GETARG_DATUM(i + 1), soft_row.keys[i],
							soft_row.keybyval[i], soft_row.keylen[i]))
			ereport(ERROR,
					(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
					 errmsg("could not return the row of a soft delete"),
					 errdetail("The row being returned is not the row the stamp trigger saw last; a trigger of the table may have written another soft-delete table in between.")));
	}
	value = (which == 1) ? soft_row.old_agent : soft_row.old_run;
	if (value == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(value));
}

/*
 * Before an agent inserts into a soft-delete table: a soft-deleted row that
 * still holds the key would make the insert fail with a bare unique
 * violation about a row the agent cannot see.  Look it up through the key
 * index (no SQL, so no row security and no owner rights involved) and say
 * which row it is and how to get past it.
 */
void
ag_soft_check_insert(Relation rel, HeapTuple newtup, AgRelInfo *info)
{
	Relation	idx;
	ScanKeyData skeys[INDEX_MAX_KEYS];
	IndexScanDesc scan;
	TupleTableSlot *slot;
	TupleDesc	desc = RelationGetDescr(rel);
	Snapshot	snap;
	int			i;

	idx = index_open(info->keyidx, AccessShareLock);
	for (i = 0; i < info->nkeys; i++)
	{
		bool		isnull;
		Datum		d = heap_getattr(newtup, info->keyattnos[i], desc, &isnull);
		Oid			opfamily = idx->rd_opfamily[i];
		Oid			type = idx->rd_opcintype[i];
		Oid			eqop;

		if (isnull)
		{
			index_close(idx, AccessShareLock);
			return;				/* a NULL key cannot collide */
		}
		eqop = get_opfamily_member(opfamily, type, type, BTEqualStrategyNumber);
		if (!OidIsValid(eqop))
		{
			index_close(idx, AccessShareLock);
			return;				/* not a btree key: leave it to the unique check */
		}
		ScanKeyEntryInitialize(&skeys[i], 0, i + 1, BTEqualStrategyNumber, type,
							   idx->rd_indcollation[i], get_opcode(eqop), d);
	}

	snap = RegisterSnapshot(GetLatestSnapshot());
	slot = table_slot_create(rel, NULL);
	scan = AG_INDEX_BEGINSCAN(rel, idx, snap, info->nkeys, 0);
	index_rescan(scan, skeys, info->nkeys, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		(void) slot_getattr(slot, info->att_deleted, &isnull);
		if (!isnull)
		{
			bool		anull,
						rnull;
			Datum		a = slot_getattr(slot, info->att_agent, &anull);
			Datum		r = slot_getattr(slot, info->att_run, &rnull);
			StringInfoData key;
			int			k;

			initStringInfo(&key);
			for (k = 0; k < info->nkeys; k++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, info->keyattnos[k] - 1);
				Oid			outfn;
				bool		varlena;
				bool		knull;
				Datum		kv = slot_getattr(slot, info->keyattnos[k], &knull);

				getTypeOutputInfo(att->atttypid, &outfn, &varlena);
				appendStringInfo(&key, "%s%s=%s", k > 0 ? ", " : "",
								 quote_identifier(NameStr(att->attname)),
								 OidOutputFunctionCall(outfn, kv));
			}
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("a soft-deleted row of %s still holds key (%s)", info->relname, key.data),
					 errdetail("The row was deleted by agent \"%s\" in run \"%s\"; it is hidden, not gone.",
							   anull ? "(none)" : TextDatumGetCString(a),
							   rnull ? "(none)" : TextDatumGetCString(r)),
					 errhint("Ask a human to bring it back with agent_guard.restore() or to remove it for good with agent_guard.purge(), or use another key.")));
		}
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snap);
	index_close(idx, AccessShareLock);
}
