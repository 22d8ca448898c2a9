/*-------------------------------------------------------------------------
 * fastinsert.c
 *		Appending rows to agent_guard's own tables without SPI.
 *
 * The capture trigger writes one agent_guard.events row per changed row
 * (and, in a database still at 1.0 or 1.1, one agent_guard.statements row
 * per client statement; since 1.2 the first event keeps its statement).
 * Through SPI each of
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
 * An inserter lives for the session (one per table); it is opened at a
 * transaction's first row, the table and its indexes locked and referenced
 * under the top transaction's resource owner, and closed at commit or
 * prepare; on abort the transaction's cleanup releases them.  Callers keep
 * it in a static pointer that this file resets when the transaction ends.
 *
 * Permissions are not checked: callers run as the extension owner, who owns
 * these tables (capture.c switches user before calling).  Default
 * expressions therefore run as the owner, as they did under SPI; they are
 * the extension's own.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
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
#include "utils/syscache.h"

#include "agent_guard.h"
#include "compat.h"
#include "fastinsert.h"

/*
 * An inserter, one per table, for the session.  What does not change from
 * one transaction to the next is built once and rebuilt only when the
 * table or one of its indexes is invalidated in the relcache: where the
 * supplied columns go, the compiled default and CHECK expressions, the
 * index descriptions with their compiled predicates, the executor state
 * they are evaluated in and the slot.  Building those in every transaction
 * (ExecOpenIndices, ExecInitExpr, the partial indexes' predicates planned
 * and compiled at the first row, freeing it all at commit) was about a
 * fifth of a one-row agent write.  Per transaction, the table and its
 * indexes are only opened and locked, as any INSERT does.
 *
 * Keeping compiled expressions across transactions is safe for what they
 * hold: the extension's own defaults (an identity's nextval,
 * clock_timestamp(), pg_current_xact_id(), inet_client_addr(),
 * current_setting()) and CHECK and index predicates over text and integer
 * columns keep nothing of a transaction.  Index access methods that cache
 * something per insert (ii_AmCache) get it per transaction, as before.
 */
struct AgFastInsert
{
	/* for the session (pointers, then the rest: no padding to speak of) */
	const char *relname;		/* NULL: slot free */
	const char *const *colnames;
	MemoryContext cxt;			/* holds estate and slot */
	EState	   *estate;			/* its query context holds the rest */
	ResultRelInfo *rri;			/* indexes: descriptions valid while open */
	TupleTableSlot *slot;
	AttrNumber *defattnos;		/* the other columns that have a default */
	ExprState **defexprs;
	Oid		   *indexoids;

	/* for this transaction */
	AgFastInsert **cache;		/* the caller's pointer, reset at xact end */
	Relation	rel;			/* NULL: not open */

	/* for the session */
	int			ncols;			/* columns the caller supplies ... */
	Oid			relid;			/* the table the state above was built for */
	int			ndefaults;
	int			nindexes;
	AttrNumber	attnos[AG_FAST_MAX_COLS];	/* ... and where they go */
	bool		built;			/* the build ran to its end */
	bool		valid;			/* no invalidation since the build began */
};

static void own_tables_forget(Datum arg, int cacheid, uint32 hashvalue);
static bool own_tables_watched = false;	/* the callbacks are registered */

/* the inserters of the session, one per table */
#define AG_FAST_MAX_OPEN 4
static AgFastInsert inserters[AG_FAST_MAX_OPEN];

/* Close the indexes opened in this transaction; their locks stay. */
static void
close_indexes(AgFastInsert *fi, int n)
{
	int			i;

	if (fi->rri == NULL || fi->rri->ri_IndexRelationDescs == NULL)
		return;					/* a build that failed early */
	for (i = 0; i < n; i++)
	{
		if (fi->rri->ri_IndexRelationDescs[i] == NULL)
			continue;
		if (fi->rri->ri_IndexRelationInfo[i] != NULL)
			AG_INDEX_INSERT_CLEANUP(fi->rri->ri_IndexRelationDescs[i], fi->rri->ri_IndexRelationInfo[i]);
		index_close(fi->rri->ri_IndexRelationDescs[i], NoLock);
		fi->rri->ri_IndexRelationDescs[i] = NULL;
	}
}

/*
 * Closing releases the pins and references the inserter took under the top
 * transaction's resource owner, so it must be that owner's to release: at
 * a COMMIT inside a procedure or DO block (SPI_commit) the current owner
 * is the procedure's portal's, and releasing under it fails ("tupdesc
 * reference ... is not owned by resource owner Portal").  The locks are
 * released with the transaction's others.
 */
static void
fast_close_all(bool clean)
{
	ResourceOwner save_owner = CurrentResourceOwner;
	int			i;

	if (clean)
		CurrentResourceOwner = TopTransactionResourceOwner;
	for (i = 0; i < AG_FAST_MAX_OPEN; i++)
	{
		AgFastInsert *fi = &inserters[i];

		if (fi->rel == NULL)
			continue;
		*fi->cache = NULL;
		fi->cache = NULL;
		if (clean)
		{
			ExecClearTuple(fi->slot);
			close_indexes(fi, fi->nindexes);
			table_close(fi->rel, NoLock);
		}
		else
		{
			/* on abort, resource owner cleanup closes them */
			int			k;

			for (k = 0; k < fi->nindexes; k++)
				fi->rri->ri_IndexRelationDescs[k] = NULL;
		}
		fi->rri->ri_RelationDesc = NULL;
		fi->rel = NULL;
	}
	CurrentResourceOwner = save_owner;
}

static bool
any_open(void)
{
	int			i;

	for (i = 0; i < AG_FAST_MAX_OPEN; i++)
		if (inserters[i].rel != NULL)
			return true;
	return false;
}

static void
fast_xact_callback(XactEvent event, void *arg)
{
	if (!any_open())
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

/*
 * The table or one of its indexes changed (or everything is invalidated):
 * rebuild at the next open.  An invalidation that arrives while a build or
 * an open runs (they take locks, which accept invalidations) makes it start
 * again.
 */
static void
fast_relcache_callback(Datum arg, Oid relid)
{
	int			i,
				k;

	for (i = 0; i < AG_FAST_MAX_OPEN; i++)
	{
		AgFastInsert *fi = &inserters[i];

		if (fi->relname == NULL || !fi->valid)
			continue;
		if (relid == InvalidOid || relid == fi->relid)
			fi->valid = false;
		for (k = 0; k < fi->nindexes && fi->valid; k++)
			if (fi->indexoids[k] == relid)
				fi->valid = false;
	}
}

void
ag_fast_init(void)
{
	RegisterXactCallback(fast_xact_callback, NULL);
	CacheRegisterRelcacheCallback(fast_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(RELNAMENSP, own_tables_forget, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, own_tables_forget, (Datum) 0);
	own_tables_watched = true;
}

static pg_noinline AgFastInsert *
inserter_for(const char *relname, int ncols, const char *const *colnames)
{
	int			i;

	for (i = 0; i < AG_FAST_MAX_OPEN; i++)
		if (inserters[i].relname != NULL && strcmp(inserters[i].relname, relname) == 0)
			return &inserters[i];
	for (i = 0; i < AG_FAST_MAX_OPEN; i++)
		if (inserters[i].relname == NULL)
		{
			AgFastInsert *fi = &inserters[i];

			fi->cxt = AllocSetContextCreate(CacheMemoryContext, "agent_guard inserter",
											ALLOCSET_SMALL_SIZES);
			fi->colnames = colnames;
			fi->ncols = ncols;
			fi->relid = InvalidOid;
			fi->built = false;
			fi->valid = false;
			fi->relname = relname;
			return fi;
		}
	elog(ERROR, "agent_guard: too many direct inserters");
	return NULL;				/* keep compiler quiet */
}

/*
 * Build the inserter's state from the open, locked table, and open and lock
 * its indexes for this transaction.
 */
static void
inserter_build(AgFastInsert *fi, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool		supplied[MaxTupleAttributeNumber];
	MemoryContext old;
	RangeTblEntry *rte;
	List	   *indexoids;
	ListCell   *lc;
	int			i;

	/* what a failed build left is freed here, before anything points at it */
	fi->built = false;
	fi->valid = false;
	fi->nindexes = 0;
	if (fi->estate != NULL)
		FreeExecutorState(fi->estate);
	fi->estate = NULL;
	fi->rri = NULL;
	fi->slot = NULL;
	MemoryContextReset(fi->cxt);

	/* from here on, an invalidation of the table or its indexes is seen */
	old = MemoryContextSwitchTo(fi->cxt);
	indexoids = RelationGetIndexList(rel);
	fi->indexoids = palloc(sizeof(Oid) * Max(list_length(indexoids), 1));
	i = 0;
	foreach(lc, indexoids)
		fi->indexoids[i++] = lfirst_oid(lc);
	fi->nindexes = i;
	fi->relid = RelationGetRelid(rel);
	fi->valid = true;

	fi->estate = CreateExecutorState();
	MemoryContextSwitchTo(fi->estate->es_query_cxt);

	memset(supplied, 0, sizeof(bool) * desc->natts);
	for (i = 0; i < fi->ncols; i++)
	{
		AttrNumber	attno = InvalidAttrNumber;
		const char *name = fi->colnames[i];
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
			fi->attnos[i] = InvalidAttrNumber;	/* not there (yet): not stored */
			continue;
		}
		if (attno == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
					 errmsg("column \"%s\" of relation \"%s.%s\" does not exist",
							fi->colnames[i], AG_SCHEMA, fi->relname),
					 errhint("Reinstall the agent_guard extension.")));
		fi->attnos[i] = attno;
		supplied[attno - 1] = true;
	}

	fi->ndefaults = 0;
	fi->defattnos = palloc(sizeof(AttrNumber) * Max(desc->natts, 1));
	fi->defexprs = palloc(sizeof(ExprState *) * Max(desc->natts, 1));
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

	/* a range table of one, for error messages about the new row */
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = fi->relid;
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	AG_INIT_RANGE_TABLE(fi->estate, rte);
	fi->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(fi->rri, rel, 1, NULL, 0);

	/* ExecConstraints() would read them back from their stored form */
	if (desc->constr != NULL && desc->constr->num_check > 0)
	{
		AG_RRI_CHECK_EXPRS(fi->rri) = palloc(sizeof(ExprState *) * desc->constr->num_check);
		for (i = 0; i < desc->constr->num_check; i++)
			AG_RRI_CHECK_EXPRS(fi->rri)[i] =
				ExecInitExpr(expression_planner((Expr *) stringToNode(desc->constr->check[i].ccbin)), NULL);
	}

	/* a copy of the descriptor: no reference to release at each commit */
	fi->slot = MakeSingleTupleTableSlot(CreateTupleDescCopy(desc), table_slot_callbacks(rel));

	/* the indexes, as ExecOpenIndices() opens them */
	fi->rri->ri_NumIndices = fi->nindexes;
	fi->rri->ri_IndexRelationDescs = palloc0(sizeof(Relation) * Max(fi->nindexes, 1));
	fi->rri->ri_IndexRelationInfo = palloc0(sizeof(IndexInfo *) * Max(fi->nindexes, 1));
	for (i = 0; i < fi->nindexes; i++)
	{
		Relation	idx = index_open(fi->indexoids[i], RowExclusiveLock);

		fi->rri->ri_IndexRelationDescs[i] = idx;
		fi->rri->ri_IndexRelationInfo[i] = BuildIndexInfo(idx);
	}
	MemoryContextSwitchTo(old);
	fi->built = true;
}

/*
 * Open and lock the indexes of a built inserter for this transaction: the
 * partial ones only when a row first satisfies their predicate
 * (open_partial_indexes()).  The events table's partial indexes (a
 * rollback's COMPENSATE events, the positions sealed by 1.1) never take
 * an agent's row; opening and locking them at every transaction cost a
 * one-row write about 3k instructions, with their closing and unlocking
 * at commit.  An index no row goes into needs no lock: the table's lock,
 * held to the end of the transaction, keeps it from being dropped or
 * built anew meanwhile (DROP INDEX and REINDEX lock the table, their
 * CONCURRENTLY forms wait for the table's lockers), as for any index.
 */
static void
open_indexes(AgFastInsert *fi)
{
	int			i;

	for (i = 0; i < fi->nindexes; i++)
		fi->rri->ri_IndexRelationDescs[i] = fi->rri->ri_IndexRelationInfo[i]->ii_Predicate != NIL ? NULL :
			index_open(fi->indexoids[i], RowExclusiveLock);
}

/*
 * Before a row's index entries: open the partial indexes not open yet
 * whose predicate the row satisfies, under the top transaction's resource
 * owner like the others (closed at commit).  The ones left closed are
 * skipped by ExecInsertIndexTuples(); an open one tests its predicate
 * there, as it always did.
 */
static void
open_partial_indexes(AgFastInsert *fi, TupleTableSlot *slot)
{
	ExprContext *econtext = GetPerTupleExprContext(fi->estate);
	int			i;

	for (i = 0; i < fi->nindexes; i++)
	{
		IndexInfo  *ii = fi->rri->ri_IndexRelationInfo[i];

		if (fi->rri->ri_IndexRelationDescs[i] != NULL || ii->ii_Predicate == NIL)
			continue;
		if (ii->ii_PredicateState == NULL)
			ii->ii_PredicateState = ExecPrepareQual(ii->ii_Predicate, fi->estate);
		econtext->ecxt_scantuple = slot;
		if (ExecQual(ii->ii_PredicateState, econtext))
		{
			ResourceOwner save_owner = CurrentResourceOwner;

			CurrentResourceOwner = TopTransactionResourceOwner;
			PG_TRY();
			{
				fi->rri->ri_IndexRelationDescs[i] = index_open(fi->indexoids[i], RowExclusiveLock);
			}
			PG_FINALLY();
			{
				CurrentResourceOwner = save_owner;
			}
			PG_END_TRY();
		}
	}
}

/*
 * The OIDs of our own tables by name, for the session: looking up the
 * schema and the table by name before and again after taking the lock cost
 * a one-row agent write about 7k instructions (two tables).  An entry is
 * forgotten when a pg_class row of that name in that schema changes (the
 * table renamed, dropped or another created under the name: the
 * invalidation carries the hash of the name and schema) or when any
 * pg_namespace row does, and all of them at a cache reset.  Invalidations
 * are taken in when a lock is acquired, so an entry still there after
 * locking its table names the same table a fresh lookup would find.
 */
#define AG_OWN_TABLES 8
typedef struct AgOwnTable
{
	const char *relname;		/* NULL: slot free; a constant of the caller */
	Oid			relid;			/* InvalidOid: look it up */
	uint32		hash;			/* RELNAMENSP hash of name and schema */
} AgOwnTable;
static AgOwnTable own_tables[AG_OWN_TABLES];

/* the OID of schema agent_guard: valid while guard_namespace_known */
static Oid	guard_namespace = InvalidOid;
static bool guard_namespace_known = false;

static void
own_tables_forget(Datum arg, int cacheid, uint32 hashvalue)
{
	int			i;

	for (i = 0; i < AG_OWN_TABLES; i++)
		if (cacheid != RELNAMENSP || hashvalue == 0 || own_tables[i].hash == hashvalue)
			own_tables[i].relid = InvalidOid;
	if (cacheid != RELNAMENSP)
		guard_namespace_known = false;
}

/*
 * ag_guard_namespace(), kept for the session: the guard asks
 * it several times in every statement of an agent (is the extension here,
 * is this relation or function its own), and a syscache lookup by name
 * cost about 600 instructions each time.  Forgotten at any change of a
 * pg_namespace row (the schema created, renamed or dropped, in this
 * transaction or another) and at a cache reset, when a fresh lookup could
 * answer otherwise: the same invalidations that would refresh the
 * syscache's entry.
 */
Oid
ag_guard_namespace(void)
{
	Oid			nsp;

	if (guard_namespace_known)
		return guard_namespace;
	nsp = get_namespace_oid(AG_SCHEMA, true);
	/* without the callbacks (not preloaded) nothing is kept */
	if (own_tables_watched)
	{
		guard_namespace = nsp;
		guard_namespace_known = true;
	}
	return nsp;
}

/*
 * The OID of agent_guard.<relname>, InvalidOid if there is none.  relname
 * must be a constant (it is kept).
 */
Oid
ag_own_table_oid(const char *relname)
{
	AgOwnTable *ot = NULL;
	Oid			nsp;
	Oid			relid;
	int			i;

	for (i = 0; i < AG_OWN_TABLES; i++)
	{
		if (own_tables[i].relname != NULL && strcmp(own_tables[i].relname, relname) == 0)
		{
			if (OidIsValid(own_tables[i].relid))
				return own_tables[i].relid;
			ot = &own_tables[i];
			break;
		}
		if (own_tables[i].relname == NULL && ot == NULL)
			ot = &own_tables[i];
	}
	nsp = ag_guard_namespace();
	if (!OidIsValid(nsp))
		nsp = get_namespace_oid(AG_SCHEMA, false);	/* the error */
	relid = get_relname_relid(relname, nsp);
	/* without the callbacks (not preloaded) nothing is kept */
	if (ot != NULL && OidIsValid(relid) && own_tables_watched)
	{
		ot->relname = relname;
		ot->hash = GetSysCacheHashValue2(RELNAMENSP, PointerGetDatum(relname),
										 ObjectIdGetDatum(nsp));
		ot->relid = relid;
	}
	return relid;
}

/*
 * Open agent_guard.<relname> with RowExclusiveLock, by name: the name is
 * looked up again once the lock is held, so a table renamed or replaced
 * while we waited for it is not the one we write (the way
 * RangeVarGetRelidExtended() does it); with the OID cached above, "again"
 * is the cache entry surviving the invalidations the lock took in.  The
 * inserters open their table so every transaction, and so does the sealer
 * (chain.c).  relname must be a constant (it is kept).
 */
Relation
ag_open_own_table(const char *relname)
{
	int			tries;

	for (tries = 0; tries < 3; tries++)
	{
		Oid			relid = ag_own_table_oid(relname);
		Relation	rel;

		if (!OidIsValid(relid))
			break;
		rel = try_table_open(relid, RowExclusiveLock);
		if (rel == NULL)
		{
			own_tables_forget((Datum) 0, RELNAMENSP, 0);
			continue;
		}
		if (ag_own_table_oid(relname) == relid)
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
	Relation volatile rel = NULL;
	TupleDesc	desc;
	int			tries;

	if (*cache != NULL)
		return *cache;
	if (ncols > AG_FAST_MAX_COLS)
		elog(ERROR, "agent_guard: too many columns for a direct inserter");

	fi = inserter_for(relname, ncols, colnames);
	if (fi->rel != NULL)
		elog(ERROR, "agent_guard: inserter for \"%s\" opened twice", relname);

	old = MemoryContextSwitchTo(TopTransactionContext);
	save_owner = CurrentResourceOwner;
	CurrentResourceOwner = TopTransactionResourceOwner;
	PG_TRY();
	{
		rel = ag_open_own_table(relname);
		desc = RelationGetDescr(rel);
		if (has_origin_triggers(rel) || rel->rd_rules != NULL || rel->rd_rel->relrowsecurity ||
			(desc->constr && desc->constr->has_generated_stored) ||
			rel->rd_rel->relkind != RELKIND_RELATION)
			ereport(ERROR,
					(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
					 errmsg("relation \"%s.%s\" has been altered", AG_SCHEMA, relname),
					 errdetail("agent_guard appends to it directly and cannot honour triggers, rules, row security or generated columns on it."),
					 errhint("Reinstall the agent_guard extension.")));

		/*
		 * The table's lock is held now: invalidations that came with it are
		 * in.  Locking the indexes may bring more; then build again.
		 */
		for (tries = 0;; tries++)
		{
			if (!fi->built || !fi->valid || fi->relid != RelationGetRelid(rel))
				inserter_build(fi, rel);
			else
				open_indexes(fi);
			if (fi->valid)
				break;
			close_indexes(fi, fi->nindexes);
			if (tries >= 10)
				elog(ERROR, "agent_guard: relation \"%s.%s\" keeps changing", AG_SCHEMA, relname);
		}
		fi->rri->ri_RelationDesc = rel;
		for (tries = 0; tries < fi->nindexes; tries++)
		{
			/* what an index AM caches between inserts lasts a transaction */
			fi->rri->ri_IndexRelationInfo[tries]->ii_AmCache = NULL;
			fi->rri->ri_IndexRelationInfo[tries]->ii_Context = TopTransactionContext;
		}
	}
	PG_CATCH();
	{
		/* nothing half-open is left for the commit of a caller that goes on */
		close_indexes(fi, fi->nindexes);
		if (rel != NULL)
			table_close(rel, NoLock);
		CurrentResourceOwner = save_owner;
		MemoryContextSwitchTo(old);
		PG_RE_THROW();
	}
	PG_END_TRY();
	CurrentResourceOwner = save_owner;
	MemoryContextSwitchTo(old);

	fi->rel = rel;
	fi->cache = cache;
	*cache = fi;
	return fi;
}

/* Does the table have the i-th column named at open (an optional one)? */
bool
ag_fast_supplied(AgFastInsert *fi, int i)
{
	return i >= 0 && i < fi->ncols && fi->attnos[i] != InvalidAttrNumber;
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
	{
		open_partial_indexes(fi, slot);
		list_free(AG_INSERT_INDEX_TUPLES(fi->rri, slot, fi->estate));
	}
	return slot;
}
