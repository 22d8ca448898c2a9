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
 *	  rather than silently skipping it.  The one exception is a trigger
 *	  that fires only in replica sessions (replication.c): we never append
 *	  in one, since no replication worker is an agent.
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
#include "commands/trigger.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_relation.h"
#include "rewrite/rewriteHandler.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"

#include "agent_guard.h"
#include "compat.h"
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

/*
 * Closing releases the pins and references the inserter took under the top
 * transaction's resource owner, so it must be that owner's to release: at
 * a COMMIT inside a procedure or DO block (SPI_commit) the current owner
 * is the procedure's portal's, and releasing under it fails ("tupdesc
 * reference ... is not owned by resource owner Portal").
 */
static void
fast_close_all(bool clean)
{
	ResourceOwner save_owner = CurrentResourceOwner;
	int			i;

	if (clean)
		CurrentResourceOwner = TopTransactionResourceOwner;
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
	CurrentResourceOwner = save_owner;
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

static void fast_relcache_callback(Datum arg, Oid relid);

void
ag_fast_init(void)
{
	RegisterXactCallback(fast_xact_callback, NULL);
	CacheRegisterRelcacheCallback(fast_relcache_callback, (Datum) 0);
}

/*
 * What an inserter needs that does not change from one transaction to the
 * next, kept for the session and rebuilt when the table's relcache entry is
 * invalidated: where the supplied columns go, and the planned default and
 * CHECK expressions.  Building those per transaction (column default and
 * identity lookups, expression planning, reading the CHECK constraints back
 * from their stored form) was about a sixth of a one-row agent write.
 */
typedef struct AgFastTemplate
{
	const char *relname;		/* NULL: slot free */
	const char *const *colnames;
	MemoryContext cxt;
	AttrNumber *defattnos;
	Expr	  **defexprs;		/* planned */
	Expr	  **checkexprs;		/* planned, in the order of constr->check */
	Oid			relid;			/* InvalidOid: (re)build at the next open */
	int			ncols;
	int			ndefaults;
	int			nchecks;
	AttrNumber	attnos[AG_FAST_MAX_COLS];
} AgFastTemplate;

static AgFastTemplate templates[AG_FAST_MAX_OPEN];

static void
fast_relcache_callback(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < AG_FAST_MAX_OPEN; i++)
		if (templates[i].relname != NULL &&
			(relid == InvalidOid || relid == templates[i].relid))
			templates[i].relid = InvalidOid;
}

static AgFastTemplate *
template_for(const char *relname, int ncols, const char *const *colnames)
{
	int			i;

	for (i = 0; i < AG_FAST_MAX_OPEN; i++)
		if (templates[i].relname != NULL && strcmp(templates[i].relname, relname) == 0)
			return &templates[i];
	for (i = 0; i < AG_FAST_MAX_OPEN; i++)
		if (templates[i].relname == NULL)
		{
			templates[i].relname = relname;
			templates[i].colnames = colnames;
			templates[i].ncols = ncols;
			templates[i].relid = InvalidOid;
			templates[i].cxt = AllocSetContextCreate(CacheMemoryContext, "agent_guard inserter",
													 ALLOCSET_SMALL_SIZES);
			return &templates[i];
		}
	elog(ERROR, "agent_guard: too many direct inserters");
	return NULL;				/* keep compiler quiet */
}

/* Fill a template from the open, locked relation. */
static void
template_build(AgFastTemplate *t, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool		supplied[MaxTupleAttributeNumber];
	MemoryContext old;
	int			i;

	t->relid = InvalidOid;
	MemoryContextReset(t->cxt);
	old = MemoryContextSwitchTo(t->cxt);

	memset(supplied, 0, sizeof(bool) * desc->natts);
	for (i = 0; i < t->ncols; i++)
	{
		AttrNumber	attno = InvalidAttrNumber;
		const char *name = t->colnames[i];
		bool		optional = (name[0] == '?');
		int			k;

		if (optional)
			name++;
		for (k = 0; k < desc->natts; k++)
			if (!TupleDescAttr(desc, k)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(desc, k)->attname), name) == 0)
				attno = k + 1;
		if (attno == InvalidAttrNumber && optional)
		{
			t->attnos[i] = InvalidAttrNumber;	/* not there (yet): not stored */
			continue;
		}
		if (attno == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
					 errmsg("column \"%s\" of relation \"%s.%s\" does not exist",
							t->colnames[i], AG_SCHEMA, t->relname),
					 errhint("Reinstall the agent_guard extension.")));
		t->attnos[i] = attno;
		supplied[attno - 1] = true;
	}

	t->ndefaults = 0;
	t->defattnos = palloc(sizeof(AttrNumber) * desc->natts);
	t->defexprs = palloc(sizeof(Expr *) * desc->natts);
	for (i = 0; i < desc->natts; i++)
	{
		Node	   *expr;

		if (supplied[i] || TupleDescAttr(desc, i)->attisdropped)
			continue;
		expr = build_column_default(rel, i + 1);
		if (expr == NULL)
			continue;
		t->defattnos[t->ndefaults] = i + 1;
		t->defexprs[t->ndefaults] = expression_planner((Expr *) expr);
		t->ndefaults++;
	}

	t->nchecks = 0;
	t->checkexprs = palloc(sizeof(Expr *) * Max(desc->constr ? desc->constr->num_check : 0, 1));
	if (desc->constr != NULL)
	{
		for (i = 0; i < desc->constr->num_check; i++)
			t->checkexprs[i] = expression_planner((Expr *) stringToNode(desc->constr->check[i].ccbin));
		t->nchecks = desc->constr->num_check;
	}

	MemoryContextSwitchTo(old);
	t->relid = RelationGetRelid(rel);
}

/*
 * Open agent_guard.<relname> with RowExclusiveLock, by name: the name is
 * looked up again once the lock is held, so a table renamed or replaced
 * while we waited for it is not the one we write (the way
 * RangeVarGetRelidExtended() does it).  The inserters open their table so
 * every transaction, and so does the sealer (chain.c).
 */
Relation
ag_open_own_table(const char *relname)
{
	int			tries;

	for (tries = 0; tries < 3; tries++)
	{
		Oid			relid = get_relname_relid(relname, get_namespace_oid(AG_SCHEMA, false));
		Relation	rel;

		if (!OidIsValid(relid))
			break;
		rel = try_table_open(relid, RowExclusiveLock);
		if (rel == NULL)
			continue;
		if (get_relname_relid(relname, get_namespace_oid(AG_SCHEMA, false)) == relid)
			return rel;
		table_close(rel, RowExclusiveLock);
	}
	ereport(ERROR,
			(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
			 errmsg("relation \"%s.%s\" does not exist", AG_SCHEMA, relname),
			 errhint("Reinstall the agent_guard extension.")));
	return NULL;				/* keep compiler quiet */
}

/*
 * Triggers that would fire in an ordinary session.  A trigger enabled for
 * replica sessions only (TRIGGER_FIRES_ON_REPLICA) never does.
 */
static bool
has_origin_triggers(Relation rel)
{
	int			i;

	if (rel->trigdesc == NULL)
		return false;
	for (i = 0; i < rel->trigdesc->numtriggers; i++)
		if (rel->trigdesc->triggers[i].tgenabled != TRIGGER_FIRES_ON_REPLICA)
			return true;
	return false;
}

/*
 * The inserter for agent_guard.<relname> in this transaction, opened at the
 * first call; the caller supplies the named columns, in that order, to
 * ag_fast_insert.  colnames must stay valid for the session (a constant).
 */
AgFastInsert *
ag_fast_open(AgFastInsert **cache, const char *relname, int ncols,
			 const char *const *colnames)
{
	MemoryContext old;
	ResourceOwner save_owner;
	AgFastInsert *fi;
	AgFastTemplate *t;
	Oid			relid;
	Relation	rel;
	TupleDesc	desc;
	RangeTblEntry *rte;
	int			i;

	if (*cache != NULL)
		return *cache;
	if (n_open >= AG_FAST_MAX_OPEN || ncols > AG_FAST_MAX_COLS)
		elog(ERROR, "agent_guard: too many direct inserters");

	t = template_for(relname, ncols, colnames);

	old = MemoryContextSwitchTo(TopTransactionContext);
	save_owner = CurrentResourceOwner;
	CurrentResourceOwner = TopTransactionResourceOwner;
	PG_TRY();
	{
		rel = ag_open_own_table(relname);
		relid = RelationGetRelid(rel);
		desc = RelationGetDescr(rel);
		if (has_origin_triggers(rel) || rel->rd_rules != NULL || rel->rd_rel->relrowsecurity ||
			(desc->constr && desc->constr->has_generated_stored) ||
			rel->rd_rel->relkind != RELKIND_RELATION)
			ereport(ERROR,
					(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
					 errmsg("relation \"%s.%s\" has been altered", AG_SCHEMA, relname),
					 errdetail("agent_guard appends to it directly and cannot honour triggers, rules, row security or generated columns on it."),
					 errhint("Reinstall the agent_guard extension.")));
		/* the lock is held now: invalidations that came with it are in */
		if (t->relid != relid)
			template_build(t, rel);

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
		AG_INIT_RANGE_TABLE(fi->estate, rte);
		fi->rri = makeNode(ResultRelInfo);
		InitResultRelInfo(fi->rri, rel, 1, NULL, 0);
		ExecOpenIndices(fi->rri, false);
		fi->slot = MakeSingleTupleTableSlot(desc, table_slot_callbacks(rel));

		fi->ncols = ncols;
		memcpy(fi->attnos, t->attnos, sizeof(AttrNumber) * ncols);
		fi->ndefaults = t->ndefaults;
		fi->defattnos = palloc(sizeof(AttrNumber) * Max(t->ndefaults, 1));
		memcpy(fi->defattnos, t->defattnos, sizeof(AttrNumber) * t->ndefaults);
		fi->defexprs = palloc(sizeof(ExprState *) * Max(t->ndefaults, 1));
		for (i = 0; i < t->ndefaults; i++)
			fi->defexprs[i] = ExecInitExpr(t->defexprs[i], NULL);
		/* ExecConstraints() would read them back from their stored form */
		if (t->nchecks > 0)
		{
			AG_RRI_CHECK_EXPRS(fi->rri) = palloc(sizeof(ExprState *) * t->nchecks);
			for (i = 0; i < t->nchecks; i++)
				AG_RRI_CHECK_EXPRS(fi->rri)[i] = ExecInitExpr(t->checkexprs[i], NULL);
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
		if (fi->attnos[i] == InvalidAttrNumber)
			continue;			/* an optional column the table lacks */
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
		list_free(AG_INSERT_INDEX_TUPLES(fi->rri, slot, fi->estate));
	return slot;
}
