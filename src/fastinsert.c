/*-------------------------------------------------------------------------
 * fastinsert.c
 *		Appending rows to agent_guard's own tables without SPI.
 *
 * The capture trigger writes one agent_guard.events row per changed row and
 * one agent_guard.statements row per client statement.  Through SPI each of
 * those paid for SPI_connect, a plan lookup, an executor start and end and
 * a command counter increment; on a single-row write that cost as much as
 * the write itself (see the Performance section of the README).  Here the
 * row goes straight to the table access method and the indexes, the way
 * COPY and logical replication's apply worker insert:
 *
 *	- the columns the caller does not supply get their defaults (identity,
 *	  clock_timestamp(), pg_current_xact_id(), ...) from the table's own
 *	  definition, evaluated per row, so an event holds exactly what an
 *	  INSERT would have stored;
 *	- NOT NULL and CHECK constraints are checked (ExecConstraints), every
 *	  index is maintained (ExecInsertIndexTuples, partial ones included);
 *	- the tables have no triggers, rules or row security; should one ever
 *	  get a trigger or a generated column, opening it fails (fail closed)
 *	  rather than silently skipping it.
 *
 * An inserter is opened at a transaction's first row, owned by the top
 * transaction's resource owner and memory, and closed at commit or prepare;
 * on abort the transaction's cleanup releases it.  Callers keep it in a
 * static pointer that this file resets when the transaction ends.
 *
 * Permissions are not checked: callers run as the extension owner, who owns
 * these tables (capture.c switches user before calling).  Default
 * expressions therefore run as the owner, as they did under SPI; they are
 * the extension's own.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"

#include "agent_guard.h"
#include "fastinsert.h"

struct AgFastInsert
{
	AgFastInsert **cache;		/* the caller's pointer, reset at xact end */
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	int			ncols;			/* columns the caller supplies ... */
	AttrNumber	attnos[AG_FAST_MAX_COLS];	/* ... and where they go */
	int			ndefaults;		/* the other columns that have a default */
	AttrNumber *defattnos;
	ExprState **defexprs;
};

/* the inserters open in this transaction */
#define AG_FAST_MAX_OPEN 4
static AgFastInsert *open_inserters[AG_FAST_MAX_OPEN];
static int	n_open = 0;

static void
fast_close_all(bool clean)
{
	int			i;

	for (i = 0; i < n_open; i++)
	{
		AgFastInsert *fi = open_inserters[i];

		*fi->cache = NULL;
		if (clean)
		{
			ExecDropSingleTupleTableSlot(fi->slot);
			ExecCloseIndices(fi->rri);
			table_close(fi->rel, NoLock);
			FreeExecutorState(fi->estate);
		}
		/* on abort, resource owner and memory context cleanup do it all */
	}
	n_open = 0;
}

static void
fast_xact_callback(XactEvent event, void *arg)
{
	if (n_open == 0)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			fast_close_all(true);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			fast_close_all(false);
			break;
	}
}

void
ag_fast_init(void)
{
	RegisterXactCallback(fast_xact_callback, NULL);
}

/*
 * The inserter for agent_guard.<relname> in this transaction, opened at the
 * first call; the caller supplies the named columns, in that order, to
 * ag_fast_insert.
 */
AgFastInsert *
ag_fast_open(AgFastInsert **cache, const char *relname, int ncols,
			 const char *const *colnames)
{
	MemoryContext old;
	ResourceOwner save_owner;
	AgFastInsert *fi;
	Oid			relid;
	Relation	rel;
	TupleDesc	desc;
	RangeTblEntry *rte;
	bool		supplied[MaxTupleAttributeNumber];
	int			i;

	if (*cache != NULL)
		return *cache;
	if (n_open >= AG_FAST_MAX_OPEN || ncols > AG_FAST_MAX_COLS)
		elog(ERROR, "agent_guard: too many direct inserters");

	relid = get_relname_relid(relname, get_namespace_oid(AG_SCHEMA, false));
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
				 errmsg("relation \"%s.%s\" does not exist", AG_SCHEMA, relname),
				 errhint("Reinstall the agent_guard extension.")));

	old = MemoryContextSwitchTo(TopTransactionContext);
	save_owner = CurrentResourceOwner;
	CurrentResourceOwner = TopTransactionResourceOwner;
	PG_TRY();
	{
		rel = table_open(relid, RowExclusiveLock);
		desc = RelationGetDescr(rel);
		if (rel->trigdesc != NULL || rel->rd_rules != NULL || rel->rd_rel->relrowsecurity ||
			(desc->constr && desc->constr->has_generated_stored) ||
			rel->rd_rel->relkind != RELKIND_RELATION)
			ereport(ERROR,
					(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
					 errmsg("relation \"%s.%s\" has been altered", AG_SCHEMA, relname),
					 errdetail("agent_guard appends to it directly and cannot honour triggers, rules, row security or generated columns on it."),
					 errhint("Reinstall the agent_guard extension.")));

		fi = palloc0(sizeof(AgFastInsert));
		fi->cache = cache;
		fi->rel = rel;
		fi->estate = CreateExecutorState();
		MemoryContextSwitchTo(fi->estate->es_query_cxt);

		/* a range table of one, for error messages about the new row */
		rte = makeNode(RangeTblEntry);
		rte->rtekind = RTE_RELATION;
		rte->relid = relid;
		rte->relkind = rel->rd_rel->relkind;
		rte->rellockmode = RowExclusiveLock;
		ExecInitRangeTable(fi->estate, list_make1(rte));
		fi->rri = makeNode(ResultRelInfo);
		InitResultRelInfo(fi->rri, rel, 1, NULL, 0);
		ExecOpenIndices(fi->rri, false);
		fi->slot = MakeSingleTupleTableSlot(desc, table_slot_callbacks(rel));

		memset(supplied, 0, sizeof(bool) * desc->natts);
		fi->ncols = ncols;
		for (i = 0; i < ncols; i++)
		{
			AttrNumber	attno = get_attnum(relid, colnames[i]);

			if (attno <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
						 errmsg("column \"%s\" of relation \"%s.%s\" does not exist",
								colnames[i], AG_SCHEMA, relname),
						 errhint("Reinstall the agent_guard extension.")));
			fi->attnos[i] = attno;
			supplied[attno - 1] = true;
		}

		fi->defattnos = palloc(sizeof(AttrNumber) * desc->natts);
		fi->defexprs = palloc(sizeof(ExprState *) * desc->natts);
		for (i = 0; i < desc->natts; i++)
		{
			Node	   *expr;

			if (supplied[i] || TupleDescAttr(desc, i)->attisdropped)
				continue;
			expr = build_column_default(rel, i + 1);
			if (expr == NULL)
				continue;
			fi->defattnos[fi->ndefaults] = i + 1;
			fi->defexprs[fi->ndefaults] = ExecInitExpr(expression_planner((Expr *) expr), NULL);
			fi->ndefaults++;
		}
	}
	PG_FINALLY();
	{
		CurrentResourceOwner = save_owner;
		MemoryContextSwitchTo(old);
	}
	PG_END_TRY();

	open_inserters[n_open++] = fi;
	*cache = fi;
	return fi;
}

/* A column of the inserter's table, supplied or not. */
AttrNumber
ag_fast_attnum(AgFastInsert *fi, const char *colname)
{
	TupleDesc	desc = RelationGetDescr(fi->rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), colname) == 0)
			return att->attnum;
	}
	elog(ERROR, "agent_guard: column \"%s\" not found", colname);
	return InvalidAttrNumber;	/* keep compiler quiet */
}

/*
 * Append one row: values[i] / nulls[i] for the i-th column named at open,
 * defaults for the others.  Returns the slot holding the stored row (valid
 * until the next call), e.g. to read a generated key.
 */
TupleTableSlot *
ag_fast_insert(AgFastInsert *fi, const Datum *values, const bool *nulls)
{
	TupleTableSlot *slot = fi->slot;
	ExprContext *econtext;
	MemoryContext old;
	int			natts = RelationGetDescr(fi->rel)->natts;
	int			i;

	ResetPerTupleExprContext(fi->estate);
	econtext = GetPerTupleExprContext(fi->estate);
	ExecClearTuple(slot);

	for (i = 0; i < natts; i++)
	{
		slot->tts_values[i] = (Datum) 0;
		slot->tts_isnull[i] = true;
	}
	for (i = 0; i < fi->ncols; i++)
	{
		slot->tts_values[fi->attnos[i] - 1] = values[i];
		slot->tts_isnull[fi->attnos[i] - 1] = nulls[i];
	}
	old = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);
	for (i = 0; i < fi->ndefaults; i++)
	{
		AttrNumber	attno = fi->defattnos[i];

		slot->tts_values[attno - 1] = ExecEvalExpr(fi->defexprs[i], econtext,
												   &slot->tts_isnull[attno - 1]);
	}
	MemoryContextSwitchTo(old);
	ExecStoreVirtualTuple(slot);

	if (fi->rel->rd_att->constr)
		ExecConstraints(fi->rri, slot, fi->estate);
	table_tuple_insert(fi->rel, slot, GetCurrentCommandId(true), 0, NULL);
	if (fi->rri->ri_NumIndices > 0)
		list_free(ExecInsertIndexTuples(fi->rri, slot, fi->estate, false, false, NULL, NIL));
	return slot;
}
