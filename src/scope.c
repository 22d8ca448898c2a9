/*-------------------------------------------------------------------------
 * scope.c
 *		What the guard judges, and where: agent statements acting with the
 *		agent's rights, the agent's scratch space, the guard's own objects
 *		and the protected tables.
 *
 * The gates (gate.c), the policies (policy.c) and the utility classifier
 * (classify.c) ask the same questions about a statement and the relations
 * it reaches; the answers are here, once:
 *	- ag_judging(): is this statement an agent's, run with the agent's own
 *	  rights, in a database where the extension lives?  Our own queries
 *	  (owner_spi.c) and a superuser's code (the extension's functions,
 *	  SECURITY DEFINER functions of a superuser) are not judged.
 *	- ag_relation_exempt(): temporary relations and objects this session
 *	  created (seen by the object-access hook, hooks.c) are the agent's
 *	  scratch space and are not gated, unless they are protected, a
 *	  partition or child of a relation that is not scratch, or a
 *	  relation whose row type a column of one that is not scratch uses.
 *	- ag_relation_protected(): carries the capture trigger;
 *	  ag_relation_protected_ancestor(): the protected table whose rows
 *	  include a relation's through inheritance.
 *	- ag_in_guard_schema(): belongs to agent_guard itself.
 *
 * The list of created objects lives in the session's memory context
 * (session.c) for the backend's life: an object's oid is not reused while
 * the object exists, and a dropped one costs only a list entry.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "agent_guard.h"
#include "owner_spi.h"
#include "scope.h"
#include "session.h"
#include "structure.h"

/*
 * relations, schemas, databases and types this session created: its
 * scratch; and routines, whose GRANT a tagged session may give an agent
 * (structure.c).  One oid counter numbers them all.
 */
static List *created_objects = NIL;

/*
 * Is the guard to judge this statement?  An agent session, acting with the
 * agent's own rights or in a foreign key's action it set off, in a database
 * where the extension lives.
 */
bool
ag_judging(void)
{
	if (ag_owner_running() || IsParallelWorker())
		return false;
	if (!IsTransactionState() || IsAbortedTransactionBlockState())
		return false;
	if (!ag_session_is_agent())
		return false;
	if (superuser())
	{
		Oid			user;
		int			context;

		/*
		 * A superuser's SECURITY DEFINER function acts with its owner's
		 * authority; a foreign key's query (its cascade, SET NULL, check)
		 * runs as the table's owner too, yet it is the agent's statement
		 * going on (red team 4, finding 6).  Only the referential
		 * integrity queries run without FORCE ROW LEVEL SECURITY.
		 */
		GetUserIdAndSecContext(&user, &context);
		if ((context & SECURITY_NOFORCE_RLS) == 0)
			return false;
	}
	return OidIsValid(ag_guard_namespace());
}

/* The object-access hook saw this session create an object (OAT_POST_CREATE). */
void
ag_scope_note_created(Oid classId, Oid objectId)
{
	if (classId == RelationRelationId || classId == NamespaceRelationId ||
		classId == DatabaseRelationId || classId == TypeRelationId ||
		classId == ProcedureRelationId)
	{
		MemoryContext old = MemoryContextSwitchTo(ag_session_memory());

		created_objects = lappend_oid(created_objects, objectId);
		MemoryContextSwitchTo(old);
	}
}

bool
ag_object_created_here(Oid objid)
{
	return list_member_oid(created_objects, objid);
}

/*
 * The parents of a relation (pg_inherits: the partitioned table of a
 * partition, the parents of an inheritance child), NIL for none: one index
 * scan.
 */
static List *
relation_parents(Oid relid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *parents = NIL;

	rel = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, InheritsRelidSeqnoIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		parents = lappend_oid(parents, ((Form_pg_inherits) GETSTRUCT(tup))->inhparent);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return parents;
}

/*
 * Is the relation a partition or an inheritance child of a relation that is
 * not scratch?  Its rows show in that relation, and a partition takes the
 * rows that humans' inserts into the parent route to it: emptied or dropped
 * as the agent's scratch, humans' data would go with it (red team 6,
 * finding 18).  PostgreSQL forbids circular inheritance, so the walk up
 * ends.
 */
static bool
child_of_guarded(Oid relid)
{
	List	   *parents;
	ListCell   *lc;
	bool		guarded = false;

	check_stack_depth();
	parents = relation_parents(relid);
	foreach(lc, parents)
		if (!ag_relation_exempt(lfirst_oid(lc)))
		{
			guarded = true;
			break;
		}
	list_free(parents);
	return guarded;
}

/*
 * Does a column of a relation that is not scratch hold values of this type:
 * directly, or through an array, domain, range or composite type built on
 * it, or through the row type of a scratch relation such a column uses?
 * Follows pg_depend (a column depends on its type, an array, domain or
 * range type on its element, base or subtype); PostgreSQL refuses a type
 * that contains itself, so the walk ends.
 */
static bool
type_used_by_guarded(Oid typid, int depth)
{
	Relation	dep;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	bool		used = false;

	check_stack_depth();
	if (depth > 8)
		return true;			/* deeper than any walk here: not scratch */
	dep = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(TypeRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(typid));
	scan = systable_beginscan(dep, DependReferenceIndexId, true, NULL, 2, key);
	while (!used && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);

		if (d->classid == RelationRelationId && d->objsubid > 0)
			used = !ag_relation_exempt(d->objid);
		else if (d->classid == TypeRelationId && d->objid != typid)
			used = type_used_by_guarded(d->objid, depth + 1);
	}
	systable_endscan(scan);
	table_close(dep, AccessShareLock);
	return used;
}

/*
 * Is the relation (a table, view, composite type: any relation with a row
 * type) one whose row type a relation that is not scratch relies on: a
 * column of it holds values of that type (type_used_by_guarded()), or
 * what a protected relation runs or reads uses it (structure.c)?  Made in
 * this session or not, it is then no scratch: ALTER TYPE ... DROP
 * ATTRIBUTE of a composite type a protected table's column uses strips
 * that field from every human row (red team 11, finding 8), and so does
 * ALTER TABLE ... DROP COLUMN of a table whose row type it uses (the
 * variant rt11open closed).  A partition or child, and what reaches a
 * protected relation through inheritance, are child_of_guarded()'s and
 * reach.c's.
 */
static bool
relied_upon(Oid relid)
{
	char	   *why = NULL;
	Oid			rowtype = get_rel_type_id(relid);

	if (!OidIsValid(rowtype))
		return false;
	return type_used_by_guarded(rowtype, 0) ||
		OidIsValid(ag_structure_relied_upon(TypeRelationId, rowtype, &why));
}

/*
 * Temporary, or created by this session: the agent's own scratch space.
 * Never a protected relation: a table the agent created, which a human
 * then protected and filled while the agent's session stayed open, holds
 * the human's data (and a partition the session added to a protected
 * table carries its guard), nor a partition or an inheritance child of a
 * relation that is not scratch itself (child_of_guarded()), nor a
 * relation whose row type one that is not scratch uses (relied_upon()).  Temporary
 * relations stay scratch: PostgreSQL refuses a temporary partition of a
 * permanent table, and a temporary child's rows show in its parent only in
 * the session that owns it.  A statement that reaches a protected relation
 * through a scratch one is reach.c's to judge.
 */
bool
ag_relation_exempt(Oid relid)
{
	if (!OidIsValid(relid))
		return true;
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		return true;
	if (!ag_object_created_here(relid) || ag_relation_protected(relid) ||
		child_of_guarded(relid))
		return false;
	return !relied_upon(relid);
}

/*
 * Exempt, and so is everything a statement on it reaches through
 * inheritance: an UPDATE or DELETE of the agent's own parent table writes
 * its children too, a protected one included.
 */
bool
ag_relation_tree_exempt(Oid relid)
{
	List	   *tree;
	ListCell   *lc;
	bool		exempt = true;

	if (!ag_relation_exempt(relid))
		return false;
	if (!OidIsValid(relid) || !has_subclass(relid))
		return true;
	tree = find_all_inheritors(relid, NoLock, NULL);
	foreach(lc, tree)
	{
		if (!ag_relation_exempt(lfirst_oid(lc)))
		{
			exempt = false;
			break;
		}
	}
	list_free(tree);
	return exempt;
}

/* Names a temporary relation (which need not exist yet). */
bool
ag_rangevar_temp(RangeVar *rv)
{
	Oid			nsp;

	if (rv == NULL)
		return false;
	if (rv->relpersistence == RELPERSISTENCE_TEMP)
		return true;
	if (rv->schemaname == NULL)
		return false;
	if (strcmp(rv->schemaname, "pg_temp") == 0)
		return true;
	nsp = get_namespace_oid(rv->schemaname, true);
	return OidIsValid(nsp) && isTempNamespace(nsp);
}

Oid
ag_range_var_relid(RangeVar *rv)
{
	return RangeVarGetRelid(rv, NoLock, true);
}

/*
 * Protected: carries the capture trigger (partitions carry a clone).  Asked
 * several times by every agent statement, mostly of relations the
 * statement has locked already (its result relation): a lock held, of any
 * mode, keeps the triggers as they are, so the relation is then read
 * without taking and releasing another lock, which cost most of the
 * question (issue 21's profile).
 */
bool
ag_relation_protected(Oid relid)
{
	Relation	rel;
	bool		found = false;
	Oid			fn;
	LOCKMODE	lockmode;
	int			i;

	if (!OidIsValid(relid) || (fn = ag_capture_function()) == InvalidOid)
		return false;
	lockmode = CheckRelationOidLockedByMe(relid, AccessShareLock, true) ? NoLock : AccessShareLock;
	rel = try_relation_open(relid, lockmode);
	if (rel == NULL)
		return false;
	if (rel->trigdesc != NULL)
		for (i = 0; i < rel->trigdesc->numtriggers && !found; i++)
			found = (rel->trigdesc->triggers[i].tgfoid == fn);
	relation_close(rel, lockmode);
	return found;
}

/*
 * A relation that carries no capture trigger yet is on the guard's list of
 * protected tables, itself or one of its parents: its guard's triggers
 * are gone (red team 31, F7: tied to an extension with ALTER TRIGGER ...
 * DEPENDS ON EXTENSION, then dropped with it by a human's DROP EXTENSION,
 * which no gate judges).  Returns the listed table, or InvalidOid.  Cheap
 * on the hot path: protect() adds the stamp column ag_agent_id, which a
 * DROP of the triggers leaves, so only a relation that has it (a syscache
 * probe) costs a query; unprotect() takes the table off the list.
 */
static AgKeptPlan listed_plan = {
	"SELECT p.relation::pg_catalog.oid FROM agent_guard.protected_tables p "
	" WHERE p.relation::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1) LIMIT 1",
	1, {OIDARRAYOID}
};

typedef struct ListedQuery
{
	Datum		rels;
	Oid			found;
} ListedQuery;

static void
listed_query(void *arg)
{
	ListedQuery *q = (ListedQuery *) arg;
	int			rc = ag_kept_execute(&listed_plan, &q->rels, NULL, true, 1);
	bool		isnull;

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "agent_guard scope: query failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			q->found = DatumGetObjectId(d);
	}
}

Oid
ag_relation_guard_lost(Oid relid)
{
	List	   *rels;
	List	   *todo;
	ListedQuery q;
	Datum	   *elems;
	int			n = 0;
	ListCell   *lc;

	if (!OidIsValid(relid) || get_rel_persistence(relid) == RELPERSISTENCE_TEMP ||
		get_attnum(relid, "ag_agent_id") == InvalidAttrNumber ||
		ag_relation_protected(relid))
		return InvalidOid;
	/* the relation and all its ancestors (a partition is listed by its root) */
	rels = list_make1_oid(relid);
	todo = relation_parents(relid);
	while (todo != NIL)
	{
		Oid			parent = linitial_oid(todo);

		todo = list_delete_first(todo);
		if (list_member_oid(rels, parent))
			continue;
		rels = lappend_oid(rels, parent);
		todo = list_concat(todo, relation_parents(parent));
	}
	elems = palloc(sizeof(Datum) * list_length(rels));
	foreach(lc, rels)
		elems[n++] = ObjectIdGetDatum(lfirst_oid(lc));
	q.rels = PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid), true,
											 TYPALIGN_INT));
	q.found = InvalidOid;
	ag_owner_spi(listed_query, &q);
	list_free(rels);
	pfree(elems);
	return q.found;
}

/*
 * The protected table whose rows include a relation's through inheritance:
 * the nearest protected one among its parents, their parents and so on, or
 * InvalidOid.  A partition of a protected table carries the clones of its
 * triggers and is protected itself; an inheritance child is covered by
 * protect() of its parent (40_protect.sql), but a child a human adds later,
 * or one unprotected on its own, is not, and the parent's UPDATE, DELETE
 * and MERGE write its rows all the same (red team 23a, F1).  Callers ask
 * only about relations that are not protected themselves; for a table with
 * no parent (most) it costs one index scan of pg_inherits.  PostgreSQL
 * forbids circular inheritance; seen keeps a parent reached twice (multiple
 * inheritance) from being walked twice.
 */
Oid
ag_relation_protected_ancestor(Oid relid)
{
	List	   *todo = relation_parents(relid);
	List	   *seen = NIL;
	Oid			found = InvalidOid;

	while (todo != NIL && !OidIsValid(found))
	{
		Oid			parent = linitial_oid(todo);

		todo = list_delete_first(todo);
		if (list_member_oid(seen, parent))
			continue;
		seen = lappend_oid(seen, parent);
		CHECK_FOR_INTERRUPTS();
		if (ag_relation_protected(parent))
			found = parent;
		else
			todo = list_concat(todo, relation_parents(parent));
	}
	list_free(todo);
	list_free(seen);
	return found;
}

bool
ag_in_guard_schema(Oid relid)
{
	Oid			nsp = ag_guard_namespace();

	return OidIsValid(relid) && OidIsValid(nsp) && get_rel_namespace(relid) == nsp;
}

/* A relation's name for messages, or fallback. */
const char *
ag_relname_or(Oid relid, const char *fallback)
{
	char	   *n = OidIsValid(relid) ? get_rel_name(relid) : NULL;

	return n ? n : fallback;
}

/* schema.relation, quoted where needed, for messages. */
char *
ag_qualified_relname(Oid relid)
{
	char	   *rel = get_rel_name(relid);
	char	   *nsp = get_namespace_name(get_rel_namespace(relid));

	if (rel == NULL)
		return psprintf("relation %u", relid);
	return quote_qualified_identifier(nsp, rel);
}
