/*-------------------------------------------------------------------------
 * writers.c
 *		Writes that are not DML on a table, found for the gates (gate.c)
 *		and the policies (policy.c): function calls that write (sequences,
 *		large objects), rows written by ModifyTable nodes that do not set
 *		the statement's row count (writing CTEs), and utility statements
 *		that write around the gates (prepared transactions, database and
 *		role settings).
 *
 * Function calls: nextval/setval and the large-object writers change data
 * with no result relation in the plan; pg_logical_emit_message() writes a
 * WAL record that every logical decoding consumer (CDC, outbox readers)
 * receives as if the database had said it, transactional or not.  The
 * plan walk below finds the calls a plan makes (and on which sequence,
 * when the argument is a constant); the object-access hook
 * (OAT_FUNCTION_EXECUTE, hooks.c) is the backstop for calls no plan shows:
 * PL/pgSQL's simple expressions and the fast-path protocol (libpq's
 * lo_write()).  A freeze refuses them all but calls on
 * temporary sequences; read_only and a tables list refuse them too.
 * pg_notify() (and NOTIFY) is not among them: it writes no table and no
 * WAL, reaches only sessions listening on this server now, and is gone at
 * a restart (README, "Freezes").
 *
 * Writing CTEs: a ModifyTable node in a WITH clause does not count its rows
 * into es_processed (only the node that sets the command tag does), and it
 * may run to completion only in ExecutorFinish.  For a judged plan with
 * such nodes on relations that are not scratch, each node's subplan is
 * wrapped: every row the subplan hands to the node is a row the node
 * writes (an upper bound: a BEFORE trigger may still skip it).  The hooks
 * add the new rows to the statement and run limits after ExecutorRun and
 * after ExecutorFinish.
 *
 * Utility statements (their verdicts join the gates' in gate.c):
 *	- PREPARE TRANSACTION is refused in agent sessions (YG004): a prepared
 *	  transaction outlives the session, holds its locks against humans, and
 *	  would commit its writes later, past a freeze or a read_only policy.
 *	  COMMIT PREPARED of one prepared earlier is a write (classify.c): a
 *	  freeze or read_only refuses it.
 *	- ALTER DATABASE (settings, connection limits, ALLOW_CONNECTIONS,
 *	  renames, a new owner) and ALTER ROLE ... SET of another role change
 *	  every later session of that database or role, humans' included (a
 *	  default_transaction_read_only = on makes their writes fail): they need
 *	  a human's approval.  The guard's own workers pin their settings
 *	  (worker.c), so no such setting stops them.
 *	- REVOKE ... ON DATABASE (CONNECT, TEMPORARY, CREATE, from PUBLIC or
 *	  any role) reaches every later session the same way: humans who lose
 *	  CONNECT cannot log in, and a human's COPY into a soft-delete protected
 *	  table, which the guard stages in a temporary table, fails without
 *	  TEMPORARY (red team 23b, finding 1).  It needs a human's approval, in
 *	  a registered agent's session and in a tagged one alike (a shared role
 *	  that owns the database is the usual harness).  GRANT ... ON DATABASE
 *	  takes nothing away (structure.c judges whom a tagged role gives it to).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "agentcode.h"
#include "classify.h"
#include "compat.h"
#include "refusal.h"
#include "scope.h"
#include "writers.h"

/* ---------------------------------------------------------------------
 * Function calls that write
 * ---------------------------------------------------------------------
 */

/*
 * agent_guard._setval(regclass, bigint) and (regclass, bigint, boolean),
 * as last looked up by ag_writers_wrap_setval(); InvalidOid before.
 */
static Oid	setval_wrapper[2] = {InvalidOid, InvalidOid};

/* agent_guard._nextval(regclass), as last looked up by ag_writers_wrap_nextval() */
static Oid	nextval_wrapper = InvalidOid;

AgWriterKind
ag_writer_kind(Oid funcid)
{
	switch (funcid)
	{
		case F_NEXTVAL:
		case F_SETVAL_REGCLASS_INT8:
		case F_SETVAL_REGCLASS_INT8_BOOL:
			return AG_FN_SEQUENCE;
		case F_LO_CREAT:
		case F_LO_CREATE:
		case F_LO_IMPORT_TEXT:
		case F_LO_IMPORT_TEXT_OID:
		case F_LO_EXPORT:
		case F_LO_UNLINK:
		case F_LOWRITE:
		case F_LO_PUT:
		case F_LO_FROM_BYTEA:
		case F_LO_TRUNCATE:
		case F_LO_TRUNCATE64:
			return AG_FN_LARGE_OBJECT;
		case AG_F_LOGICAL_MESSAGE_TEXT:
		case AG_F_LOGICAL_MESSAGE_BYTEA:
			return AG_FN_WAL_MESSAGE;
		default:
			if (OidIsValid(funcid) &&
				(funcid == setval_wrapper[0] || funcid == setval_wrapper[1] ||
				 funcid == nextval_wrapper))
				return AG_FN_SEQUENCE;
			return AG_FN_OTHER;
	}
}

/*
 * The functions that use a large-object descriptor (lo_open's number): the
 * descriptors are the session's, whoever opened them (agentcode.c).
 */
bool
ag_writers_lo_descriptor(Oid funcid)
{
	switch (funcid)
	{
		case F_LOREAD:
		case F_LOWRITE:
		case F_LO_LSEEK:
		case F_LO_LSEEK64:
		case F_LO_TELL:
		case F_LO_TELL64:
		case F_LO_TRUNCATE:
		case F_LO_TRUNCATE64:
		case F_LO_CLOSE:
			return true;
		default:
			return false;
	}
}

/*
 * Session-level advisory locks and their release: they outlive the call,
 * the statement and its transaction (agentcode.c, gate.c's preview).
 */
bool
ag_writers_session_lock(Oid funcid)
{
	switch (funcid)
	{
		case F_PG_ADVISORY_LOCK_INT8:
		case F_PG_ADVISORY_LOCK_SHARED_INT8:
		case F_PG_TRY_ADVISORY_LOCK_INT8:
		case F_PG_TRY_ADVISORY_LOCK_SHARED_INT8:
		case F_PG_ADVISORY_UNLOCK_INT8:
		case F_PG_ADVISORY_UNLOCK_SHARED_INT8:
		case F_PG_ADVISORY_LOCK_INT4_INT4:
		case F_PG_ADVISORY_LOCK_SHARED_INT4_INT4:
		case F_PG_TRY_ADVISORY_LOCK_INT4_INT4:
		case F_PG_TRY_ADVISORY_LOCK_SHARED_INT4_INT4:
		case F_PG_ADVISORY_UNLOCK_INT4_INT4:
		case F_PG_ADVISORY_UNLOCK_SHARED_INT4_INT4:
		case F_PG_ADVISORY_UNLOCK_ALL:
			return true;
		default:
			return false;
	}
}

/*
 * Object access in a parallel worker: the guard judges a statement in its
 * leader, which never sees the calls a PARALLEL SAFE function makes in a
 * worker.  PostgreSQL refuses most writes there itself (no transaction id
 * in a worker); a non-transactional WAL message needs none.  In an agent's
 * session the writes of this kind are refused in workers, whatever the
 * policy (red team 4, finding 15).
 */
void
ag_writers_parallel_worker_function(Oid funcid)
{
	AgWriterKind k = ag_writer_kind(funcid);

	if (k == AG_FN_OTHER || !IsTransactionState() || !ag_session_is_agent())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_AG_GUARD_PROTECTED),
			 errmsg("%s cannot run in a parallel worker of an agent's statement",
					ag_writer_name(funcid)),
			 errdetail("agent_guard judges writes that are not DML in the statement's leader, which does not see the calls a parallel worker makes."),
			 errhint("Mark the function that calls it PARALLEL UNSAFE (ALTER FUNCTION ... PARALLEL UNSAFE).")));
}

static bool
writer_walker(Node *node, AgWriterScan *ws)
{
	if (node == NULL)
		return false;
	if (ws->collect_setval && IsA(node, FuncExpr) &&
		(((FuncExpr *) node)->funcid == F_SETVAL_REGCLASS_INT8 ||
		 ((FuncExpr *) node)->funcid == F_SETVAL_REGCLASS_INT8_BOOL))
		ws->setval_calls = lappend(ws->setval_calls, node);
	if (ws->collect_nextval && IsA(node, FuncExpr) &&
		(((FuncExpr *) node)->funcid == F_NEXTVAL ||
		 (ws->collect_nextval_wrapped && ag_writers_is_nextval_wrapper(((FuncExpr *) node)->funcid))))
		ws->nextval_calls = lappend(ws->nextval_calls, node);
	if (ws->collect_identity && IsA(node, NextValueExpr))
		ws->identity_seqs = list_append_unique_oid(ws->identity_seqs,
												   ((NextValueExpr *) node)->seqid);
	if (ws->collect_notify && IsA(node, FuncExpr) &&
		((FuncExpr *) node)->funcid == F_PG_NOTIFY)
		ws->notify_calls = lappend(ws->notify_calls, node);
	if (IsA(node, FuncExpr) && !OidIsValid(ws->bad_fn))
	{
		FuncExpr   *f = (FuncExpr *) node;
		AgWriterKind k = ag_writer_kind(f->funcid);

		if (k == AG_FN_LARGE_OBJECT || k == AG_FN_WAL_MESSAGE)
			ws->bad_fn = f->funcid;
		else if (k == AG_FN_SEQUENCE && ws->check_sequences)
		{
			Node	   *arg = f->args ? linitial(f->args) : NULL;
			Oid			seq = InvalidOid;

			if (arg && IsA(arg, Const) && !((Const *) arg)->constisnull)
				seq = DatumGetObjectId(((Const *) arg)->constvalue);
			if (OidIsValid(seq) && get_rel_persistence(seq) == RELPERSISTENCE_TEMP)
				ws->temp_seq_calls = true;
			else if (ws->seq_ok != NULL && ws->seq_ok(f->funcid, seq))
				ws->temp_seq_calls = true;
			else
			{
				ws->bad_fn = f->funcid;
				ws->bad_seq = seq;
			}
		}
	}
	return expression_tree_walker(node, writer_walker, (void *) ws);
}

static void
walk_exprs(void *node, AgWriterScan *ws)
{
	writer_walker((Node *) node, ws);
}

/*
 * Every expression of a plan tree.  Subplans are walked from the
 * PlannedStmt's list.  A field missed here is still caught by the
 * function-execute backstop (ag_policy_function_execute and
 * gate.c's freeze backstop), only with the
 * strict rule: no sequence calls at all.
 */
static void
walk_plan(Plan *p, AgWriterScan *ws)
{
	ListCell   *lc;

	if (p == NULL)
		return;
	walk_exprs(p->targetlist, ws);
	walk_exprs(p->qual, ws);
	walk_exprs(p->initPlan, ws);
	switch (nodeTag(p))
	{
		case T_Result:
			walk_exprs(((Result *) p)->resconstantqual, ws);
			break;
		case T_ModifyTable:
			{
				ModifyTable *m = (ModifyTable *) p;

				walk_exprs(m->withCheckOptionLists, ws);
				walk_exprs(m->returningLists, ws);
				walk_exprs(m->onConflictSet, ws);
				walk_exprs(m->onConflictWhere, ws);
#if PG_VERSION_NUM >= 170000
				walk_exprs(m->mergeJoinConditions, ws);
#endif
#ifdef AG_HAVE_MERGE
				foreach(lc, m->mergeActionLists)
				{
					ListCell   *la;

					foreach(la, (List *) lfirst(lc))
					{
						MergeAction *a = lfirst_node(MergeAction, la);

						walk_exprs(a->qual, ws);
						walk_exprs(a->targetList, ws);
					}
				}
#endif
				break;
			}
		case T_Append:
			foreach(lc, ((Append *) p)->appendplans)
				walk_plan(lfirst(lc), ws);
			break;
		case T_MergeAppend:
			foreach(lc, ((MergeAppend *) p)->mergeplans)
				walk_plan(lfirst(lc), ws);
			break;
		case T_BitmapAnd:
			foreach(lc, ((BitmapAnd *) p)->bitmapplans)
				walk_plan(lfirst(lc), ws);
			break;
		case T_BitmapOr:
			foreach(lc, ((BitmapOr *) p)->bitmapplans)
				walk_plan(lfirst(lc), ws);
			break;
		case T_SubqueryScan:
			walk_plan(((SubqueryScan *) p)->subplan, ws);
			break;
		case T_CustomScan:
			walk_exprs(((CustomScan *) p)->custom_exprs, ws);
			foreach(lc, ((CustomScan *) p)->custom_plans)
				walk_plan(lfirst(lc), ws);
			break;
		case T_IndexScan:
			walk_exprs(((IndexScan *) p)->indexqual, ws);
			walk_exprs(((IndexScan *) p)->indexqualorig, ws);
			walk_exprs(((IndexScan *) p)->indexorderby, ws);
			walk_exprs(((IndexScan *) p)->indexorderbyorig, ws);
			break;
		case T_IndexOnlyScan:
			walk_exprs(((IndexOnlyScan *) p)->indexqual, ws);
			walk_exprs(((IndexOnlyScan *) p)->recheckqual, ws);
			walk_exprs(((IndexOnlyScan *) p)->indexorderby, ws);
			break;
		case T_BitmapIndexScan:
			walk_exprs(((BitmapIndexScan *) p)->indexqual, ws);
			walk_exprs(((BitmapIndexScan *) p)->indexqualorig, ws);
			break;
		case T_BitmapHeapScan:
			walk_exprs(((BitmapHeapScan *) p)->bitmapqualorig, ws);
			break;
		case T_SampleScan:
			walk_exprs(((SampleScan *) p)->tablesample, ws);
			break;
		case T_TidScan:
			walk_exprs(((TidScan *) p)->tidquals, ws);
			break;
		case T_TidRangeScan:
			walk_exprs(((TidRangeScan *) p)->tidrangequals, ws);
			break;
		case T_FunctionScan:
			walk_exprs(((FunctionScan *) p)->functions, ws);
			break;
		case T_ValuesScan:
			walk_exprs(((ValuesScan *) p)->values_lists, ws);
			break;
		case T_TableFuncScan:
			walk_exprs(((TableFuncScan *) p)->tablefunc, ws);
			break;
		case T_ForeignScan:
			walk_exprs(((ForeignScan *) p)->fdw_exprs, ws);
			walk_exprs(((ForeignScan *) p)->fdw_recheck_quals, ws);
			break;
		case T_NestLoop:
			walk_exprs(((Join *) p)->joinqual, ws);
			break;
		case T_MergeJoin:
			walk_exprs(((Join *) p)->joinqual, ws);
			walk_exprs(((MergeJoin *) p)->mergeclauses, ws);
			break;
		case T_HashJoin:
			walk_exprs(((Join *) p)->joinqual, ws);
			walk_exprs(((HashJoin *) p)->hashclauses, ws);
			walk_exprs(((HashJoin *) p)->hashkeys, ws);
			break;
		case T_Hash:
			walk_exprs(((Hash *) p)->hashkeys, ws);
			break;
		case T_Memoize:
			walk_exprs(((Memoize *) p)->param_exprs, ws);
			break;
		case T_WindowAgg:
			walk_exprs(((WindowAgg *) p)->startOffset, ws);
			walk_exprs(((WindowAgg *) p)->endOffset, ws);
			walk_exprs(((WindowAgg *) p)->runCondition, ws);
			break;
		case T_Limit:
			walk_exprs(((Limit *) p)->limitOffset, ws);
			walk_exprs(((Limit *) p)->limitCount, ws);
			break;
		default:
			break;
	}
	walk_plan(p->lefttree, ws);
	walk_plan(p->righttree, ws);
}


void
ag_writers_scan_expr(Node *node, AgWriterScan *ws)
{
	writer_walker(node, ws);
}

/*
 * The calls of the default just made for column attnum of relid (the
 * object-access hook's OAT_POST_CREATE of pg_attrdef): the row was
 * written without a command counter increment, so it is read with
 * SnapshotSelf.  planned: the expression as ALTER TABLE evaluates it
 * (expression_planner(), which may inline SQL functions or fold calls
 * away), so that its calls are the ones the executor sets up.
 */
void
ag_writers_scan_new_default(Oid relid, AttrNumber attnum, AgWriterScan *ws, bool planned)
{
	Relation	rel;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	def;

	rel = table_open(AttrDefaultRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_attrdef_adrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	ScanKeyInit(&key[1], Anum_pg_attrdef_adnum, BTEqualStrategyNumber, F_INT2EQ,
				Int16GetDatum(attnum));
	scan = systable_beginscan(rel, AttrDefaultIndexId, true, SnapshotSelf, 2, key);
	while (HeapTupleIsValid(def = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(def, Anum_pg_attrdef_adbin, RelationGetDescr(rel), &isnull);

		if (!isnull)
		{
			Node	   *expr = stringToNode(TextDatumGetCString(d));

			writer_walker(planned ? (Node *) expression_planner((Expr *) expr) : expr, ws);
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* Every call a plan makes, its subplans' included. */
void
ag_writers_scan_plan(PlannedStmt *ps, AgWriterScan *ws)
{
	ListCell   *lc;

	walk_plan(ps->planTree, ws);
	foreach(lc, ps->subplans)
		walk_plan(lfirst(lc), ws);
}

/*
 * setval() on the sequence that numbers a protected table needs a human's
 * approval, as ALTER SEQUENCE does (structure.c); which sequence it sets is
 * known only when it runs (a variable, a parameter, a subquery).  So in an
 * agent session's plans every setval() call becomes a call of
 * agent_guard._setval() with the same arguments, which decides on the
 * sequence it is given and then sets it (gate.c).  The wrapper counts as
 * setval for the freezes and policies (ag_writer_kind), and the plan is
 * invalidated with it.  A setval() no plan shows (a column default in COPY,
 * a constraint, the fast-path protocol) is refused in an agent session
 * (gate.c, ag_gate_setval_unwrapped).
 */
void
ag_writers_wrap_setval(PlannedStmt *ps, AgWriterScan *ws)
{
	Oid			argtypes[3] = {REGCLASSOID, INT8OID, BOOLOID};
	List	   *name;
	ListCell   *lc;
	int			i;

	if (ws->setval_calls == NIL)
		return;
	name = lappend(list_make1(makeString(AG_SCHEMA)), makeString("_setval"));
	setval_wrapper[0] = LookupFuncName(name, 2, argtypes, true);
	setval_wrapper[1] = LookupFuncName(name, 3, argtypes, true);
	if (!OidIsValid(setval_wrapper[0]) || !OidIsValid(setval_wrapper[1]))
		return;					/* not installed here: left to the backstop */
	foreach(lc, ws->setval_calls)
	{
		FuncExpr   *f = lfirst_node(FuncExpr, lc);

		f->funcid = setval_wrapper[f->funcid == F_SETVAL_REGCLASS_INT8 ? 0 : 1];
	}
	for (i = 0; i < 2; i++)
	{
		PlanInvalItem *item = makeNode(PlanInvalItem);

		item->cacheId = PROCOID;
		item->hashValue = GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(setval_wrapper[i]));
		ps->invalItems = lappend(ps->invalItems, item);
	}
}

/*
 * An agent may not draw a sequence that numbers a protected table below a
 * margin of room (seqkeys.c), and under a policy's tables list the
 * sequences it may advance are the listed tables' (policy.c); which
 * sequence a nextval() advances is known only when it runs (a variable, a
 * parameter), and a PL/pgSQL assignment (x := nextval('s')) runs from a
 * plan made in an earlier transaction without going through the executor,
 * where the plan walk sees it.  So in every plan of an agent's session
 * (hooks.c) every nextval() call becomes a call of agent_guard._nextval()
 * with the same argument, which decides on the sequence it is given
 * (policy.c, seqkeys.c) before it advances it.  The wrapper counts as nextval for the freezes and policies
 * (ag_writer_kind); a policy change plans again (policy.c resets the plan
 * cache), so other agents' and humans' plans call nextval() itself.
 */
void
ag_writers_wrap_nextval(PlannedStmt *ps, AgWriterScan *ws)
{
	Oid			argtypes[1] = {REGCLASSOID};

	if (ws->nextval_calls == NIL)
		return;
	/* not installed here: the plan walk judges */
	nextval_wrapper = ag_writers_redirect_calls(ps, ws->nextval_calls, "_nextval", 1, argtypes);
}

/*
 * Make the plan's calls (FuncExprs found by the walk) calls of the guard's
 * function name with the same arguments, and the plan depend on it (a
 * dropped or replaced wrapper plans again).  Returns the wrapper, or
 * InvalidOid when this database's agent_guard has none (nothing changed).
 */
Oid
ag_writers_redirect_calls(PlannedStmt *ps, List *calls, const char *name, int nargs, Oid *argtypes)
{
	Oid			wrapper = LookupFuncName(list_make2(makeString(AG_SCHEMA), makeString(pstrdup(name))),
										 nargs, argtypes, true);
	PlanInvalItem *item;
	ListCell   *lc;

	if (!OidIsValid(wrapper))
		return InvalidOid;
	foreach(lc, calls)
		lfirst_node(FuncExpr, lc)->funcid = wrapper;
	item = makeNode(PlanInvalItem);
	item->cacheId = PROCOID;
	item->hashValue = GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(wrapper));
	ps->invalItems = lappend(ps->invalItems, item);
	return wrapper;
}

bool
ag_writers_is_nextval_wrapper(Oid funcid)
{
	return OidIsValid(funcid) && funcid == nextval_wrapper;
}

/* The name a refusal gives a writing function: the wrappers' are setval's and nextval's. */
char *
ag_writer_name(Oid funcid)
{
	if (ag_writers_is_nextval_wrapper(funcid))
		return get_func_name(F_NEXTVAL);
	return get_func_name(ag_writers_is_setval_wrapper(funcid) ? F_SETVAL_REGCLASS_INT8 : funcid);
}

bool
ag_writers_is_setval_wrapper(Oid funcid)
{
	return OidIsValid(funcid) &&
		(funcid == setval_wrapper[0] || funcid == setval_wrapper[1]);
}

/*
 * SELECT ... FOR UPDATE / SHARE writes too: the lock goes into each row's
 * header (and the WAL), and it blocks humans' writes of the row.  The
 * first relation a plan locks rows of that is not temporary (temp_only)
 * or not the agent's scratch, or InvalidOid.
 */
Oid
ag_writers_row_locked(PlannedStmt *ps, bool temp_only)
{
	ListCell   *lc;

	foreach(lc, ps->rowMarks)
	{
		PlanRowMark *rm = lfirst_node(PlanRowMark, lc);
		Oid			relid;

		if (rm->markType == ROW_MARK_REFERENCE || rm->markType == ROW_MARK_COPY)
			continue;
		relid = rt_fetch(rm->rti, ps->rtable)->relid;
		if (!OidIsValid(relid))
			continue;
		if (temp_only ? get_rel_persistence(relid) != RELPERSISTENCE_TEMP : !ag_relation_exempt(relid))
			return relid;
	}
	return InvalidOid;
}

/* ---------------------------------------------------------------------
 * Rows of writing CTEs
 * ---------------------------------------------------------------------
 */
typedef struct CteCounter
{
	PlanState  *child;			/* the subplan feeding a ModifyTable */
	ExecProcNodeMtd real;		/* its own function */
	uint64		rows;
	uint64		judged;			/* rows already handed to the limits */
	Oid			relid;			/* the table the ModifyTable names */
} CteCounter;

typedef struct CteCounting
{
	EState	   *estate;
	int			n;
	CteCounter	counters[FLEXIBLE_ARRAY_MEMBER];
} CteCounting;

/* the countings of running plans; each leaves with its query's memory */
static List *countings = NIL;

static void
cte_counting_forget(void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	countings = list_delete_ptr(countings, arg);
	MemoryContextSwitchTo(old);
}

static TupleTableSlot *
cte_count_node(PlanState *ps)
{
	ListCell   *lc;

	foreach(lc, countings)
	{
		CteCounting *c = lfirst(lc);
		int			i;

		if (c->estate != ps->state)
			continue;
		for (i = 0; i < c->n; i++)
		{
			if (c->counters[i].child == ps)
			{
				TupleTableSlot *slot = c->counters[i].real(ps);

				if (!TupIsNull(slot))
					c->counters[i].rows++;
				return slot;
			}
		}
	}
	elog(ERROR, "agent_guard: lost the row counter of a writing CTE");
	return NULL;
}

/* Does the ModifyTable write anything that is not the agent's scratch? */
static bool
modify_beyond_scratch(ModifyTableState *mt)
{
	int			i;

	for (i = 0; i < mt->mt_nrels; i++)
		if (!ag_relation_exempt(RelationGetRelid(mt->resultRelInfo[i].ri_RelationDesc)))
			return true;
	return false;
}

/*
 * After ExecutorStart of a judged plan: wrap the subplans of the ModifyTable
 * nodes that do not set es_processed (ExecInitModifyTable lists them in
 * es_auxmodifytables): writing CTEs, and the action of a DO ALSO rule,
 * which PostgreSQL plans with canSetTag off.
 */
void
ag_writers_cte_start(QueryDesc *qd)
{
	EState	   *estate = qd->estate;
	CteCounting *c;
	MemoryContextCallback *cb;
	ListCell   *lc;
	int			n = 0;

	if (estate == NULL || estate->es_auxmodifytables == NIL)
		return;
	c = MemoryContextAllocZero(estate->es_query_cxt,
							   offsetof(CteCounting, counters) +
							   sizeof(CteCounter) * list_length(estate->es_auxmodifytables));
	c->estate = estate;
	foreach(lc, estate->es_auxmodifytables)
	{
		ModifyTableState *mt = (ModifyTableState *) lfirst(lc);
		PlanState  *child = outerPlanState(mt);

		if (child == NULL || !modify_beyond_scratch(mt))
			continue;
		c->counters[n].child = child;
		c->counters[n].real = child->ExecProcNodeReal;
		c->counters[n].relid =
			exec_rt_fetch(((ModifyTable *) mt->ps.plan)->nominalRelation, estate)->relid;
		child->ExecProcNodeReal = cte_count_node;
		n++;
	}
	if (n == 0)
		return;
	c->n = n;
	cb = MemoryContextAllocZero(estate->es_query_cxt, sizeof(MemoryContextCallback));
	cb->func = cte_counting_forget;
	cb->arg = c;
	MemoryContextRegisterResetCallback(estate->es_query_cxt, cb);
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		countings = lappend(countings, c);
		MemoryContextSwitchTo(old);
	}
}

/*
 * A plan with writing CTEs whose own ModifyTable (the one that sets
 * es_processed) writes only scratch: its es_processed is not the CTEs'
 * rows, which are counted above.
 */
bool
ag_writers_top_writes_scratch(PlannedStmt *ps)
{
	ModifyTable *mt;
	ListCell   *lc;

	if (!ps->hasModifyingCTE || ps->planTree == NULL || !IsA(ps->planTree, ModifyTable))
		return false;
	mt = (ModifyTable *) ps->planTree;
	if (!mt->canSetTag)
		return false;
	foreach(lc, mt->resultRelations)
		if (!ag_relation_exempt(rt_fetch(lfirst_int(lc), ps->rtable)->relid))
			return false;
	return true;
}

/*
 * Rows the CTEs of qd wrote since the last call; per_table (emptied first)
 * gets them by the table each ModifyTable names.
 */
uint64
ag_writers_cte_new_rows(QueryDesc *qd, AgTableRows *per_table)
{
	ListCell   *lc;

	per_table->n = 0;
	if (countings == NIL || qd->estate == NULL)
		return 0;
	foreach(lc, countings)
	{
		CteCounting *c = lfirst(lc);
		uint64		fresh = 0;
		int			i;

		if (c->estate != qd->estate)
			continue;
		for (i = 0; i < c->n; i++)
		{
			CteCounter *k = &c->counters[i];

			if (k->rows == k->judged)
				continue;
			ag_table_rows_add(per_table, k->relid, (int64) (k->rows - k->judged));
			fresh += k->rows - k->judged;
			k->judged = k->rows;
		}
		return fresh;
	}
	return 0;
}

/* ---------------------------------------------------------------------
 * Utility statements that write around the gates
 * ---------------------------------------------------------------------
 */

/* The strongest verdict wins: refused > approval (as in gate.c). */
static void
verdict(AgUtility *u, AgRefusalKind kind, const char *what, char *why)
{
	if (u->verdict == AG_REFUSAL_GUARD ||
		(u->verdict == AG_REFUSAL_APPROVAL && kind == AG_REFUSAL_APPROVAL))
		return;
	u->verdict = kind;
	u->verdict_what = what;
	u->verdict_why = why;
}

/* Transaction statements the hooks must judge (the others end transactions). */
bool
ag_writers_judge_transaction(Node *parsetree)
{
	TransactionStmtKind k;

	if (parsetree == NULL || !IsA(parsetree, TransactionStmt))
		return false;
	k = ((TransactionStmt *) parsetree)->kind;
	return k == TRANS_STMT_PREPARE || k == TRANS_STMT_COMMIT_PREPARED;
}

/*
 * ALTER ROLE or ALTER DATABASE ... SET or RESET of the identity settings
 * (agent_guard.*: only agent_id, run_id and idempotency_key are not
 * superuser-only), or RESET ALL, which drops them too.
 */
static bool
sets_identity(VariableSetStmt *s)
{
	if (s == NULL)
		return false;
	if (s->kind == VAR_RESET_ALL)
		return true;
	return s->name != NULL && pg_strncasecmp(s->name, "agent_guard.", 12) == 0;
}

/*
 * Can the session's REVOKE on this database take anything away?  It
 * revokes only what it may grant: as the owner (or a member of it), or
 * with a grant option it holds; otherwise PostgreSQL warns and changes
 * nothing, and there is nothing to ask a human.  A database that does not
 * exist is PostgreSQL's error.
 */
static bool
revokes_on_database(const char *db)
{
	Oid			dbid = get_database_oid(db, true);
	HeapTuple	tup;
	Datum		d;
	bool		isnull;
	Oid			owner;
	Acl		   *acl;
	AclMode		options;

	if (!OidIsValid(dbid) ||
		!HeapTupleIsValid(tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dbid))))
		return false;
	owner = ((Form_pg_database) GETSTRUCT(tup))->datdba;
	d = SysCacheGetAttr(DATABASEOID, tup, Anum_pg_database_datacl, &isnull);
	acl = isnull ? acldefault(OBJECT_DATABASE, owner) : DatumGetAclPCopy(d);
	ReleaseSysCache(tup);
	/* the owner (and its members) holds every grant option implicitly */
	options = aclmask(acl, GetUserId(), owner,
					  ACL_GRANT_OPTION_FOR(ACL_ALL_RIGHTS_DATABASE), ACLMASK_ANY);
	pfree(acl);
	return options != 0;
}

/* Has the role the CREATEROLE attribute?  (AlterRole() and RenameRole() want it.) */
static bool
role_creates_roles(Oid roleid)
{
	HeapTuple	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(roleid));
	bool		creates;

	if (!HeapTupleIsValid(tup))
		return false;
	creates = ((Form_pg_authid) GETSTRUCT(tup))->rolcreaterole;
	ReleaseSysCache(tup);
	return creates;
}

void
ag_writers_utility_verdict(AgUtility *u)
{
	Node	   *stmt = u->stmt;

	if (stmt == NULL)
		return;
	switch (nodeTag(stmt))
	{
		case T_TransactionStmt:
			if (((TransactionStmt *) stmt)->kind == TRANS_STMT_PREPARE)
				verdict(u, AG_REFUSAL_GUARD, "PREPARE TRANSACTION",
						pstrdup("A prepared transaction outlives the session, holds its locks against other sessions, and would commit its writes later, past a freeze or a policy."));
			break;
		case T_AlterDatabaseSetStmt:
			{
				AlterDatabaseSetStmt *s = (AlterDatabaseSetStmt *) stmt;

				if (sets_identity(s->setstmt))
					verdict(u, AG_REFUSAL_GUARD, "ALTER DATABASE ... SET",
							psprintf("It sets or drops, for every later session of database \"%s\", the settings that say who a session is: agent_guard.agent_id would latch a human's session as an agent, agent_guard.run_id would put a human's writes into an agent's run, and RESET ALL would drop those an administrator set.",
									 s->dbname));
				else
					verdict(u, AG_REFUSAL_APPROVAL, "ALTER DATABASE",
							psprintf("It changes the settings of every later session of database \"%s\", humans' included.",
									 s->dbname));
				break;
			}
		case T_AlterDatabaseStmt:
			verdict(u, AG_REFUSAL_APPROVAL, "ALTER DATABASE",
					psprintf("It changes who may connect to database \"%s\", or where it is stored.",
							 ((AlterDatabaseStmt *) stmt)->dbname));
			break;
		case T_GrantStmt:
			{
				GrantStmt  *g = (GrantStmt *) stmt;
				ListCell   *lc;

				if (g->is_grant || g->objtype != OBJECT_DATABASE)
					break;
				foreach(lc, g->objects)
				{
					const char *db = strVal(lfirst(lc));

					if (!revokes_on_database(db))
						continue;
					verdict(u, AG_REFUSAL_APPROVAL, "REVOKE ... ON DATABASE",
							psprintf("It takes rights on database \"%s\" from every later session of the roles it names, humans' included: without CONNECT they cannot log in, without TEMPORARY their COPY into a soft-delete protected table fails (the guard stages it in a temporary table), without CREATE they cannot make schemas.",
									 db));
					break;
				}
				break;
			}
		case T_AlterOwnerStmt:
			{
				AlterOwnerStmt *a = (AlterOwnerStmt *) stmt;
				const char *db;
				Oid			dbid;

				if (a->objectType != OBJECT_DATABASE || a->object == NULL || !IsA(a->object, String))
					break;
				db = strVal(a->object);
				dbid = get_database_oid(db, true);
				if (!OidIsValid(dbid))
					break;		/* PostgreSQL's own error */
				verdict(u, AG_REFUSAL_APPROVAL, "ALTER DATABASE ... OWNER TO",
						psprintf("It gives database \"%s\" to another role, which then decides who may connect to it and create in it, and owns its schema public (pg_database_owner); the old owner's rights on it go to the new one.",
								 db));
				if (!AG_DATABASE_OWNERCHECK(dbid, GetUserId()))
					u->unrunnable = true;	/* AlterDatabaseOwner() wants the owner */
				break;
			}
		case T_RenameStmt:
			if (((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
				verdict(u, AG_REFUSAL_APPROVAL, "ALTER DATABASE ... RENAME",
						psprintf("It renames database \"%s\", which every client names to connect.",
								 ((RenameStmt *) stmt)->subname));
			else if (((RenameStmt *) stmt)->renameType == OBJECT_ROLE &&
					 OidIsValid(get_role_oid(((RenameStmt *) stmt)->subname, true)))
			{
				/* a role's name is what its humans log in with (red team 31, F1) */
				verdict(u, AG_REFUSAL_APPROVAL, "ALTER ROLE ... RENAME",
						psprintf("It renames role \"%s\", which every later login of it names (and a renamed role's MD5 password no longer matches).",
								 ((RenameStmt *) stmt)->subname));
				if (!role_creates_roles(GetUserId()))
					u->unrunnable = true;	/* RenameRole() wants CREATEROLE */
			}
			break;
		case T_AlterRoleSetStmt:
			{
				/*
				 * Its own role too (red team 18b, finding 2): a shared role
				 * tagged by its harness is the humans' role as well, and
				 * what it sets there (a search_path that resolves humans'
				 * operators to its own, the agent tag) reaches every later
				 * login of it.
				 */
				AlterRoleSetStmt *s = (AlterRoleSetStmt *) stmt;
				Oid			roleid = s->role ? get_rolespec_oid(s->role, true) : InvalidOid;
				const char *whose = s->role == NULL ? "every role" :
					(OidIsValid(roleid) && roleid == GetSessionUserId()) ?
					"its own role (humans may log in as it too)" : "another role";

				if (sets_identity(s->setstmt))
					verdict(u, AG_REFUSAL_GUARD, "ALTER ROLE ... SET",
							psprintf("It sets or drops, for every later session of %s, the settings that say who a session is: agent_guard.agent_id would latch a human's session as an agent, agent_guard.run_id would put a human's writes into an agent's run, and RESET ALL would drop those an administrator set.",
									 whose));
				else
					verdict(u, AG_REFUSAL_APPROVAL, "ALTER ROLE ... SET",
							psprintf("It changes the settings of every later session of %s.", whose));
				break;
			}
		case T_AlterRoleStmt:
			{
				/*
				 * A password (ALTER ROLE ... PASSWORD, psql's \password),
				 * a validity, a connection limit, LOGIN or membership of
				 * a role (red team 31, F1): every later login of the role
				 * meets it.  Its own role too, the one change PostgreSQL
				 * lets a role make on itself: a shared role tagged by its
				 * harness is the humans' role as well, and a new password
				 * (or none) locks them, and a pooler's new server
				 * connections, out.  Judged as ALTER ROLE ... SET is.
				 */
				AlterRoleStmt *s = (AlterRoleStmt *) stmt;
				Oid			roleid = get_rolespec_oid(s->role, true);
				bool		own = OidIsValid(roleid) && roleid == GetUserId();
				bool		password_only = own;
				ListCell   *lc;

				if (!OidIsValid(roleid))
					break;		/* PostgreSQL's own error */
				foreach(lc, s->options)
					if (strcmp(lfirst_node(DefElem, lc)->defname, "password") != 0)
						password_only = false;
				verdict(u, AG_REFUSAL_APPROVAL, "ALTER ROLE",
						psprintf("It changes how role \"%s\" logs in (its password, validity, connection limit, LOGIN) or what it may do, for every later session of %s.",
								 GetUserNameFromId(roleid, false),
								 own || roleid == GetSessionUserId() ?
								 "its own role (humans may log in as it too)" : "that role"));
				/* AlterRole(): only CREATEROLE changes more than one's own password */
				if (!password_only && !role_creates_roles(GetUserId()))
					u->unrunnable = true;
				break;
			}
		default:
			break;
	}
}

/*
 * ExecutorStart: a write by an agent, or by an agent's code, while this
 * process runs VACUUM (an index expression, predicate or operator class of
 * the table being vacuumed, run with its owner's rights).  PostgreSQL
 * leaves a vacuuming process's transaction out of every snapshot, so other
 * sessions take what it writes for aborted, and mark it so for good: the
 * write's event would be lost, the sealer would pass it by, and the log
 * would still verify (red team 16, finding 1).  Refused, on record in an
 * agent's session (YG004).
 */
void
ag_writers_vacuum_start(PlannedStmt *ps)
{
	const char *why = "VACUUM runs it (an expression, predicate or operator class of an index of the table being vacuumed): PostgreSQL leaves a vacuuming process's transaction out of other sessions' snapshots, so they would take what it writes, and its record in the log, for aborted.";

	if ((MyProc->statusFlags & PROC_IN_VACUUM) == 0 || ps->commandType == CMD_UTILITY ||
		(ps->commandType == CMD_SELECT && !ps->hasModifyingCTE && ps->rowMarks == NIL))
		return;
	if (ag_process_is_agent())
		ag_refuse(AG_REFUSAL_GUARD, "write during VACUUM", why,
				  debug_query_string ? debug_query_string : "",
				  debug_query_string ? (int) strlen(debug_query_string) : 0, 0);
	else if (ag_agentcode_running())
	{
		Oid			fn;
		Oid			owner = InvalidOid;

		/* on record under the agent whose code it is (red team 30, F10) */
		(void) ag_agentcode_innermost(&fn, &owner);
		ag_refuse_code(AG_REFUSAL_GUARD, owner,
					   "code of an agent cannot write during VACUUM",
					   psprintf("%s It ran in %s.", why, ag_agentcode_where()),
					   "Write in a statement of its own, not from code that VACUUM runs.");
	}
}
