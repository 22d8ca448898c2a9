/*-------------------------------------------------------------------------
 * classify.c
 *		The one classifier of utility statements: what a statement
 *		changes, and which relations, for the gates and the policies alike.
 *
 * A freeze refuses an agent's utility statement when it changes anything
 * that is not temporary (gate.c); a read_only policy refuses
 * the same statements, a dml policy the ones that change the schema, a
 * tables list the ones on other relations (policy.c).  Both ask here, so
 * that they cannot drift apart (in 1.1 each had its own copy, and a frozen
 * agent's EXPLAIN ANALYZE CREATE TABLE AS created its table).
 *
 * Wrappers are looked through: EXPLAIN ANALYZE runs the statement it
 * explains (CREATE TABLE AS, SELECT INTO, CREATE MATERIALIZED VIEW), so it
 * is classified as that statement; plain EXPLAIN runs nothing.  Statements
 * that only run other statements (DO, CALL, EXECUTE, a cursor's FETCH)
 * change nothing themselves: what they run passes through the executor and
 * utility hooks one level down and is judged there.
 *
 * Scratch space (temporary objects, objects the session created) is
 * scope.c's rule.  The policies leave all of it alone; a freeze leaves only
 * temporary objects alone (ag_utility_writes()).  A relation that does not exist (yet) is classified by
 * the statement: it fails by itself, or its IF EXISTS makes it a no-op.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_statistic_ext.h"
#include "commands/defrem.h"
#include "common/hashfn.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lockdefs.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "classify.h"
#include "keyobjects.h"
#include "scope.h"

/* A statement on one existing relation: temp or scratch if it is, else cls. */
static AgUtilityClass
on_relid(Oid relid, AgUtilityClass cls, List **targets)
{
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		return AG_UT_TEMP;
	if (ag_relation_exempt(relid))
		return AG_UT_SCRATCH;
	*targets = lappend_oid(*targets, relid);
	return cls;
}

/* A statement on one relation: temp or scratch if the relation is, else cls. */
static AgUtilityClass
on_relation(RangeVar *rv, AgUtilityClass cls, List **targets)
{
	Oid			relid;

	if (rv == NULL)
		return AG_UT_DDL;
	relid = ag_range_var_relid(rv);
	if (!OidIsValid(relid))
		return ag_rangevar_temp(rv) ? AG_UT_TEMP : cls;
	return on_relid(relid, cls, targets);
}

/*
 * LOCK TABLE of a view locks, in the same mode, every relation the view
 * reads, through other views and sublinks (PostgreSQL's LockViewRecurse):
 * a temporary view over a protected table locks the protected table.
 */
typedef struct LockWalk
{
	List	  **targets;
	AgUtilityClass cls;
	List	   *views;			/* the views being expanded (no loops) */
} LockWalk;

static bool
lock_walker(Node *node, LockWalk *w)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION && !list_member_oid(w->views, rte->relid))
		{
			w->cls = Max(w->cls, on_relid(rte->relid, AG_UT_DATA, w->targets));
			if (get_rel_relkind(rte->relid) == RELKIND_VIEW && list_length(w->views) < 32)
			{
				Relation	view = try_relation_open(rte->relid, AccessShareLock);

				if (view != NULL)
				{
					w->views = lappend_oid(w->views, rte->relid);
					(void) lock_walker((Node *) get_view_query(view), w);
					w->views = list_delete_last(w->views);
					relation_close(view, AccessShareLock);
				}
			}
		}
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, lock_walker, (void *) w, QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, lock_walker, (void *) w);
}

/*
 * A statistics object belongs to its table's structure (red team 28a,
 * finding 4): CREATE, ALTER, RENAME, SET SCHEMA, OWNER TO and DROP
 * STATISTICS are statements on the table, temporary or scratch when it
 * is, one of its targets otherwise (a tables list, dml, an approval's
 * binding).  One that does not exist is the statement's to report.
 */
static AgUtilityClass
on_statistics(List *names, List **targets)
{
	Oid			stx = get_statistics_object_oid(names, true);
	HeapTuple	tup;
	Oid			relid;

	if (!OidIsValid(stx))
		return AG_UT_DDL;
	tup = SearchSysCache1(STATEXTOID, ObjectIdGetDatum(stx));
	if (!HeapTupleIsValid(tup))
		return AG_UT_DDL;
	relid = ((Form_pg_statistic_ext) GETSTRUCT(tup))->stxrelid;
	ReleaseSysCache(tup);
	return on_relid(relid, AG_UT_DDL, targets);
}

/* A statement that creates a relation: temporary or not. */
static AgUtilityClass
creates(RangeVar *rv)
{
	return ag_rangevar_temp(rv) ? AG_UT_TEMP : AG_UT_DDL;
}

static bool
explain_analyzes(ExplainStmt *e)
{
	ListCell   *lc;

	foreach(lc, e->options)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, "analyze") == 0)
			return defGetBoolean(opt);
	}
	return false;
}

/*
 * The relation a COMMENT is on: the object itself, or the table of a
 * column, constraint, trigger, rule or row-security policy (the names
 * before the last).  NULL for other objects.
 */
static RangeVar *
comment_relation(CommentStmt *c)
{
	List	   *names;

	switch (c->objtype)
	{
		case OBJECT_TABLE:
		case OBJECT_VIEW:
		case OBJECT_MATVIEW:
		case OBJECT_FOREIGN_TABLE:
		case OBJECT_SEQUENCE:
		case OBJECT_INDEX:
			return makeRangeVarFromNameList(castNode(List, c->object));
		case OBJECT_COLUMN:
		case OBJECT_TABCONSTRAINT:
		case OBJECT_TRIGGER:
		case OBJECT_RULE:
		case OBJECT_POLICY:
			names = castNode(List, c->object);
			if (list_length(names) < 2)
				return NULL;
			return makeRangeVarFromNameList(list_truncate(list_copy(names), list_length(names) - 1));
		default:
			return NULL;
	}
}

static AgUtilityClass
classify(Node *parsetree, List **targets, bool *unnamed)
{
	switch (nodeTag(parsetree))
	{
		case T_TransactionStmt:
			/* COMMIT PREPARED lands the writes of a transaction prepared earlier */
			return ((TransactionStmt *) parsetree)->kind == TRANS_STMT_COMMIT_PREPARED ?
				AG_UT_DATA : AG_UT_NONE;
		case T_LockStmt:
			{
				/*
				 * A lock above ACCESS SHARE blocks humans' writes (or their
				 * reads): for a freeze and read_only, a write.
				 */
				LockStmt   *l = (LockStmt *) parsetree;
				AgUtilityClass cls = AG_UT_TEMP;
				ListCell   *lc;

				if (l->mode <= AccessShareLock)
					return AG_UT_NONE;
				foreach(lc, l->relations)
				{
					RangeVar   *rv = lfirst_node(RangeVar, lc);
					Oid			relid = ag_range_var_relid(rv);

					cls = Max(cls, on_relation(rv, AG_UT_DATA, targets));
					if (OidIsValid(relid) && get_rel_relkind(relid) == RELKIND_VIEW)
					{
						/* the view itself was judged above; now what it reads */
						Relation	view = try_relation_open(relid, AccessShareLock);
						LockWalk	w = {targets, cls, NIL};

						if (view != NULL)
						{
							w.views = list_make1_oid(relid);
							(void) lock_walker((Node *) get_view_query(view), &w);
							relation_close(view, AccessShareLock);
						}
						cls = w.cls;
					}
				}
				return cls;
			}
		case T_VacuumStmt:
			{
				/*
				 * VACUUM FULL rewrites the table under ACCESS EXCLUSIVE,
				 * like a lock that blocks humans; plain VACUUM truncates
				 * the table's empty end under ACCESS EXCLUSIVE too, and
				 * ANALYZE (also VACUUM's) rewrites the statistics humans'
				 * plans are made from (red team 17c, finding 4).  No row
				 * changes, but what humans see does: a write of the
				 * relations for a freeze and read_only.
				 */
				VacuumStmt *v = (VacuumStmt *) parsetree;
				AgUtilityClass cls = AG_UT_TEMP;
				ListCell   *lc;

				if (v->rels == NIL)
				{
					*unnamed = true;
					return AG_UT_DATA;	/* every table it may vacuum */
				}
				foreach(lc, v->rels)
				{
					VacuumRelation *r = lfirst_node(VacuumRelation, lc);

					cls = Max(cls, on_relation(r->relation, AG_UT_DATA, targets));
				}
				return cls;
			}
		case T_VariableSetStmt:
		case T_VariableShowStmt:
		case T_DiscardStmt:
		case T_PrepareStmt:
		case T_ExecuteStmt:		/* its plan is judged by the executor hooks */
		case T_DeallocateStmt:
		case T_DeclareCursorStmt:
		case T_FetchStmt:
		case T_ClosePortalStmt:
		case T_ListenStmt:
		case T_UnlistenStmt:
		case T_NotifyStmt:
		case T_CheckPointStmt:
		case T_ConstraintsSetStmt:
		case T_DoStmt:			/* its statements are judged one by one */
		case T_CallStmt:
			return AG_UT_NONE;
		case T_ExplainStmt:
			{
				/* EXPLAIN ANALYZE CREATE TABLE AS creates the table itself */
				ExplainStmt *e = (ExplainStmt *) parsetree;
				Node	   *q = e->query;

				if (q && IsA(q, Query) && ((Query *) q)->commandType == CMD_UTILITY &&
					((Query *) q)->utilityStmt != NULL && explain_analyzes(e))
					return classify(((Query *) q)->utilityStmt, targets, unnamed);
				return AG_UT_NONE;
			}
		case T_CopyStmt:
			{
				CopyStmt   *c = (CopyStmt *) parsetree;

				if (!c->is_from || c->relation == NULL)
					return AG_UT_NONE;
				return on_relation(c->relation, AG_UT_DATA, targets);
			}
		case T_TruncateStmt:
			{
				AgUtilityClass cls = AG_UT_TEMP;
				ListCell   *lc;

				foreach(lc, ((TruncateStmt *) parsetree)->relations)
					cls = Max(cls, on_relation(lfirst_node(RangeVar, lc), AG_UT_DATA, targets));
				return cls;
			}
		case T_RefreshMatViewStmt:
			return on_relation(((RefreshMatViewStmt *) parsetree)->relation, AG_UT_DATA, targets);
		case T_CreateStmt:
			return creates(((CreateStmt *) parsetree)->relation);
		case T_CreateTableAsStmt:
			return creates(((CreateTableAsStmt *) parsetree)->into->rel);
		case T_ViewStmt:
			return creates(((ViewStmt *) parsetree)->view);
		case T_CreateSeqStmt:
			return creates(((CreateSeqStmt *) parsetree)->sequence);
		case T_AlterSeqStmt:
			return on_relation(((AlterSeqStmt *) parsetree)->sequence, AG_UT_DDL, targets);
		case T_AlterTableStmt:
			{
				AlterTableStmt *a = (AlterTableStmt *) parsetree;
				AgUtilityClass cls = on_relation(a->relation, AG_UT_DDL, targets);
				ListCell   *lc;

				/*
				 * NO INHERIT changes the parent too (the child's rows leave
				 * it): an approval is bound to both.
				 */
				if (cls == AG_UT_DDL)
					foreach(lc, a->cmds)
					{
						AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

						if (cmd->subtype == AT_DropInherit && cmd->def != NULL)
							(void) on_relation((RangeVar *) cmd->def, AG_UT_DDL, targets);
					}
				return cls;
			}
		case T_IndexStmt:
			return on_relation(((IndexStmt *) parsetree)->relation, AG_UT_DDL, targets);
		case T_CreateStatsStmt:
			{
				CreateStatsStmt *c = (CreateStatsStmt *) parsetree;

				if (list_length(c->relations) == 1 && IsA(linitial(c->relations), RangeVar))
					return on_relation(linitial_node(RangeVar, c->relations), AG_UT_DDL, targets);
				return AG_UT_DDL;
			}
		case T_AlterStatsStmt:
			return on_statistics(((AlterStatsStmt *) parsetree)->defnames, targets);
		case T_AlterOwnerStmt:
			{
				AlterOwnerStmt *a = (AlterOwnerStmt *) parsetree;

				if (a->objectType == OBJECT_STATISTIC_EXT)
					return on_statistics(castNode(List, a->object), targets);
				return AG_UT_DDL;
			}
		case T_CreateTrigStmt:
			return on_relation(((CreateTrigStmt *) parsetree)->relation, AG_UT_DDL, targets);
		case T_RuleStmt:
			return on_relation(((RuleStmt *) parsetree)->relation, AG_UT_DDL, targets);
		case T_CreatePolicyStmt:	/* row security policies */
			return on_relation(((CreatePolicyStmt *) parsetree)->table, AG_UT_DDL, targets);
		case T_AlterPolicyStmt:
			return on_relation(((AlterPolicyStmt *) parsetree)->table, AG_UT_DDL, targets);
		case T_ClusterStmt:
			if (((ClusterStmt *) parsetree)->relation == NULL)
				*unnamed = true;	/* every table clustered before */
			return on_relation(((ClusterStmt *) parsetree)->relation, AG_UT_DDL, targets);
		case T_ReindexStmt:
			{
				/*
				 * REINDEX rebuilds the indexes of a table and blocks its
				 * writes while it runs (red team 24, finding 3).
				 */
				ReindexStmt *r = (ReindexStmt *) parsetree;

				if (r->kind == REINDEX_OBJECT_TABLE || r->kind == REINDEX_OBJECT_INDEX)
					return on_relation(r->relation, AG_UT_DDL, targets);
				*unnamed = true;
				return AG_UT_DDL;
			}
		case T_GrantStmt:
			{
				/* who may write (or read) a relation is part of it */
				GrantStmt  *g = (GrantStmt *) parsetree;
				AgUtilityClass cls = AG_UT_TEMP;
				ListCell   *lc;

				if (g->objtype != OBJECT_TABLE && g->objtype != OBJECT_SEQUENCE)
					return AG_UT_DDL;
				if (g->targtype != ACL_TARGET_OBJECT)
				{
					*unnamed = true;
					return AG_UT_DDL;
				}
				foreach(lc, g->objects)
					cls = Max(cls, on_relation(lfirst_node(RangeVar, lc), AG_UT_DDL, targets));
				return cls;
			}
		case T_CommentStmt:
			{
				/*
				 * A comment changes no row and no right, but it is part of
				 * the relation's definition (pg_dump writes it with the
				 * table), and what humans and other agents read to learn
				 * what a table or column is for and whether it is still
				 * used: under a tables list the agent describes only the
				 * relations it may change.  Comments on other objects
				 * (functions, types, schemas) name no relation.
				 */
				RangeVar   *rv = comment_relation((CommentStmt *) parsetree);

				return rv != NULL ? on_relation(rv, AG_UT_DDL, targets) : AG_UT_DDL;
			}
		case T_RenameStmt:
			{
				RenameStmt *r = (RenameStmt *) parsetree;

				if (r->renameType == OBJECT_STATISTIC_EXT)
					return on_statistics(castNode(List, r->object), targets);
				return r->relation ? on_relation(r->relation, AG_UT_DDL, targets) : AG_UT_DDL;
			}
		case T_AlterObjectSchemaStmt:
			{
				AlterObjectSchemaStmt *a = (AlterObjectSchemaStmt *) parsetree;

				if (a->objectType == OBJECT_STATISTIC_EXT)
					return on_statistics(castNode(List, a->object), targets);
				return a->relation ? on_relation(a->relation, AG_UT_DDL, targets) : AG_UT_DDL;
			}
		case T_DropStmt:
			{
				DropStmt   *d = (DropStmt *) parsetree;
				AgUtilityClass cls = AG_UT_TEMP;
				ListCell   *lc;

				switch (d->removeType)
				{
					case OBJECT_TABLE:
					case OBJECT_VIEW:
					case OBJECT_MATVIEW:
					case OBJECT_SEQUENCE:
					case OBJECT_INDEX:
					case OBJECT_FOREIGN_TABLE:
						foreach(lc, d->objects)
							cls = Max(cls, on_relation(makeRangeVarFromNameList((List *) lfirst(lc)),
													   AG_UT_DDL, targets));
						return cls;
					case OBJECT_STATISTIC_EXT:
						foreach(lc, d->objects)
							cls = Max(cls, on_statistics((List *) lfirst(lc), targets));
						return cls;
					default:
						return AG_UT_DDL;
				}
			}
		default:
			return AG_UT_DDL;
	}
}

/*
 * What the statement's names resolved to: the relations it changes and the
 * search_path that resolved the others (types, functions, ...).  An
 * approval is bound to this as well as to the text, so that the same text
 * approved while it named one object cannot act on another (a changed
 * search_path, a table renamed away).
 */
static void
binding(Node *stmt, List *targets, AgKeyDigest *out)
{
	List	   *oids = list_copy(targets);
	StringInfoData m;
	ListCell   *lc;

	list_sort(oids, list_oid_cmp);
	initStringInfo(&m);
	ag_key_add_bytes(&m, "targets", 7);
	ag_key_add_int(&m, (uint64) list_length(oids));
	foreach(lc, oids)
		ag_key_add_int(&m, (uint64) lfirst_oid(lc));
	ag_key_add_search_path(&m);
	ag_keyobj_add_names(&m, oids);	/* their columns as they are named now */
	/* what the names in its expressions can resolve to (keyobjects.c) */
	if (stmt != NULL)
		ag_keyobj_add_utility_names(&m, stmt);
	ag_key_digest(&m, out);
	pfree(m.data);
	list_free(oids);
}

void
ag_classify_utility(Node *parsetree, AgUtility *u)
{
	memset(u, 0, sizeof(AgUtility));
	u->stmt = parsetree;
	u->targets = NIL;
	u->cls = parsetree != NULL ? classify(parsetree, &u->targets, &u->unnamed_reach) : AG_UT_NONE;
	binding(parsetree, u->targets, &u->binding);
}
