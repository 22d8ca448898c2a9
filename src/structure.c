/*-------------------------------------------------------------------------
 * structure.c
 *		The structure of a protected table belongs to the guard: the
 *		gates' verdict on utility statements that would change it.
 *
 * The guard depends on more of a protected table than its triggers and
 * stamp columns: its key (the log identifies rows by it), its persistence,
 * its row security (what humans and agents see), the order its triggers
 * fire in, the tables whose rows show in it (children, partitions), the
 * way its values print into the log (casts to json, enum labels, attribute
 * names of composite types), the casts that convert humans' values of its
 * columns' types, the sequences that number its rows, and the
 * rights humans hold on it and on what it relies on (the functions, types,
 * sequences and referenced tables its humans' statements use).  An agent
 * that owns the table, or those objects, could change each of them with
 * plain DDL, GRANT/REVOKE or a new owner.  Each such change is either refused
 * outright (it weakens the guard: YG004) or waits for a human's approval
 * (it destroys or rewrites something a human may want to keep: YG003);
 * README "Structure of a protected table" has the table of decisions.
 * Humans are never judged here (the gates run in agent sessions only).
 *
 * Everything here reads the catalogs of the statement's objects as they
 * are before the statement runs; an object that does not exist is left to
 * PostgreSQL's own error.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_cast.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_operator.h"
#include "catalog/partition.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_publication.h"
#include "catalog/pg_range.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_ts_config.h"
#include "catalog/pg_ts_dict.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_func.h"
#include "parser/parse_node.h"
#include "parser/parse_type.h"
#include "parser/parse_utilcmd.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
#include "utils/array.h"
#include "utils/snapmgr.h"
#include "nodes/readfuncs.h"

#include "agent_guard.h"
#include "agentcode.h"
#include "approved.h"
#include "compat.h"
#include "scope.h"
#include "structure.h"
#include "tagshadow.h"
#include "width.h"

#define REFUSED AG_REFUSAL_GUARD
#define APPROVAL AG_REFUSAL_APPROVAL

static void
set_verdict(AgUtility *u, AgRefusalKind kind, const char *what, char *why)
{
	/* the strongest wins: refused > approval */
	if (u->verdict == AG_REFUSAL_GUARD)
		return;
	if (u->verdict == AG_REFUSAL_APPROVAL && kind == AG_REFUSAL_APPROVAL)
		return;
	u->verdict = kind;
	u->verdict_what = what;
	u->verdict_why = why;
}

static Oid
relid_of(RangeVar *rv)
{
	return rv ? ag_range_var_relid(rv) : InvalidOid;
}

#define is_protected(relid) ag_relation_protected(relid)
#define name_of(relid) ag_relname_or((relid), "?")

static bool
is_stamp(const char *name)
{
	return name != NULL && (strcmp(name, "ag_agent_id") == 0 || strcmp(name, "ag_run_id") == 0 ||
							strcmp(name, "ag_deleted_at") == 0);
}

/* Does a raw expression name a stamp column? */
static bool
stamp_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, ColumnRef))
	{
		List	   *fields = ((ColumnRef *) node)->fields;
		Node	   *last = llast(fields);

		return IsA(last, String) && is_stamp(strVal(last));
	}
	return raw_expression_tree_walker(node, stamp_walker, context);
}

static bool
names_stamp(List *names)
{
	ListCell   *lc;

	foreach(lc, names)
		if (IsA(lfirst(lc), String) && is_stamp(strVal(lfirst(lc))))
			return true;
	return false;
}

static bool
index_elems_stamp(List *elems)
{
	ListCell   *lc;

	foreach(lc, elems)
	{
		Node	   *n = lfirst(lc);

		/* EXCLUDE lists (element, operators) pairs */
		if (IsA(n, List))
			n = linitial((List *) n);
		if (IsA(n, IndexElem) &&
			(is_stamp(((IndexElem *) n)->name) || stamp_walker(((IndexElem *) n)->expr, NULL)))
			return true;
	}
	return false;
}

/* A constraint that mentions a stamp column anywhere. */
static bool
constraint_stamp(Constraint *c)
{
	switch (c->contype)
	{
		case CONSTR_CHECK:
			return stamp_walker(c->raw_expr, NULL);
		case CONSTR_PRIMARY:
		case CONSTR_UNIQUE:
			return names_stamp(c->keys) || names_stamp(c->including) ||
				stamp_walker(c->where_clause, NULL);
		case CONSTR_EXCLUSION:
			return index_elems_stamp(c->exclusions) || names_stamp(c->including) ||
				stamp_walker(c->where_clause, NULL);
		case CONSTR_FOREIGN:
			return names_stamp(c->fk_attrs);
		default:
			return false;
	}
}

/* A unique or exclusion index that mentions a stamp column anywhere. */
static bool
index_stamp(IndexStmt *s)
{
	if (!s->unique && s->excludeOpNames == NIL && !s->primary)
		return false;
	return index_elems_stamp(s->indexParams) || index_elems_stamp(s->indexIncludingParams) ||
		stamp_walker(s->whereClause, NULL);
}

/*
 * The index by which the log identifies rows (key: primary key or replica
 * identity), or any unique or exclusion index (what ON CONFLICT infers).
 */
static bool
index_is(Oid indexoid, bool key)
{
	HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	bool		is = false;

	if (HeapTupleIsValid(tup))
	{
		Form_pg_index ix = (Form_pg_index) GETSTRUCT(tup);

		is = key ? (ix->indisprimary || ix->indisreplident) :
			(ix->indisunique || ix->indisexclusion);
		ReleaseSysCache(tup);
	}
	return is;
}
#define index_is_key(indexoid) index_is((indexoid), true)
#define index_is_unique(indexoid) index_is((indexoid), false)

static bool
constraint_is_key(Oid relid, const char *conname)
{
	Oid			conoid = get_relation_constraint_oid(relid, conname, true);
	HeapTuple	tup;
	bool		key = false;

	if (!OidIsValid(conoid))
		return false;
	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (HeapTupleIsValid(tup))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);

		/* a foreign key's conindid is the referenced table's index */
		key = con->contype == CONSTRAINT_PRIMARY ||
			(con->contype != CONSTRAINT_FOREIGN && OidIsValid(con->conindid) &&
			 index_is_key(con->conindid));
		ReleaseSysCache(tup);
	}
	return key;
}

/* Is the column part of the key the log identifies rows by? */
static bool
column_in_key(Oid relid, const char *colname)
{
	AttrNumber	attnum = get_attnum(relid, colname);
	Relation	rel;
	Oid			keys[2];
	bool		found = false;
	int			k;

	if (attnum == InvalidAttrNumber)
		return false;
	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
		return false;
	keys[0] = AG_PRIMARY_KEY_INDEX(rel);
	keys[1] = RelationGetReplicaIndex(rel);
	relation_close(rel, AccessShareLock);
	for (k = 0; k < 2 && !found; k++)
	{
		HeapTuple	tup;

		if (!OidIsValid(keys[k]))
			continue;
		tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(keys[k]));
		if (HeapTupleIsValid(tup))
		{
			Form_pg_index ix = (Form_pg_index) GETSTRUCT(tup);
			int			i;

			for (i = 0; i < ix->indnkeyatts && !found; i++)
				found = (ix->indkey.values[i] == attnum);
			ReleaseSysCache(tup);
		}
	}
	return found;
}

/*
 * Is the column NOT NULL: itself, or through its domain?  Without a
 * default, humans' inserts that leave it out fail (red team 20a,
 * finding 4).
 */
static bool
column_not_null(Oid relid, const char *colname)
{
	AttrNumber	attnum = colname ? get_attnum(relid, colname) : InvalidAttrNumber;
	HeapTuple	tup;
	bool		notnull = false;
	Oid			typid = InvalidOid;

	if (attnum == InvalidAttrNumber)
		return false;
	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	if (HeapTupleIsValid(tup))
	{
		Form_pg_attribute a = (Form_pg_attribute) GETSTRUCT(tup);

		notnull = a->attnotnull && !a->attisdropped;
		typid = a->atttypid;
		ReleaseSysCache(tup);
	}
	/* a domain's NOT NULL, at any level of domains over domains */
	while (!notnull && OidIsValid(typid) && get_typtype(typid) == TYPTYPE_DOMAIN)
	{
		tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
		if (!HeapTupleIsValid(tup))
			break;
		notnull = ((Form_pg_type) GETSTRUCT(tup))->typnotnull;
		typid = ((Form_pg_type) GETSTRUCT(tup))->typbasetype;
		ReleaseSysCache(tup);
	}
	return notnull;
}

/*
 * ALTER COLUMN ... DROP DEFAULT, or SET DEFAULT NULL (PostgreSQL stores
 * no default for a null constant): the column is left without one.
 */
static bool
default_removed(Node *raw)
{
	if (raw != NULL && IsA(raw, TypeCast))
		raw = ((TypeCast *) raw)->arg;
	return raw == NULL || (IsA(raw, A_Const) && ((A_Const *) raw)->isnull);
}

/* ---------------------------------------------------------------------
 * Reliance walks (red team 18a, finding 1)
 *
 * The walks below follow pg_depend from an object to what uses it, through
 * operators, operator classes and families, types and functions.  An
 * extension's cross-type operator families (isn's, btree_gist's) reach the
 * same objects along many paths: each walk remembers what it has explored,
 * at the shallowest depth it was reached (a node reached again deeper has
 * nothing new to give, a node reached again shallower is explored again,
 * with its larger budget), allocates in a context of its own, deleted when
 * it ends, and can be cancelled.  One walk may judge several objects (the
 * members an extension gained): what it explored for one found no
 * protected table, and finds none for the next.
 * ---------------------------------------------------------------------
 */
typedef struct WalkKey
{
	Oid			classid;
	Oid			objid;
	int			kind;			/* WALK_CODE or WALK_TYPE: what was asked of it */
} WalkKey;

typedef struct WalkEntry
{
	WalkKey		key;
	int			depth;			/* the shallowest depth it was explored at */
} WalkEntry;

#define WALK_CODE 0
#define WALK_TYPE 1

struct AgRelianceWalk
{
	MemoryContext cxt;			/* everything the walk allocates */
	MemoryContext caller;		/* current when it began */
	HTAB	   *seen;
};

typedef struct AgRelianceWalk RelianceWalk;

AgRelianceWalk *
ag_reliance_walk_begin(void)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "agent_guard reliance walk",
											  ALLOCSET_DEFAULT_SIZES);
	RelianceWalk *w = MemoryContextAllocZero(cxt, sizeof(RelianceWalk));
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(WalkKey);
	ctl.entrysize = sizeof(WalkEntry);
	ctl.hcxt = cxt;
	w->seen = hash_create("agent_guard reliance walk", 256, &ctl,
						  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	w->cxt = cxt;
	w->caller = MemoryContextSwitchTo(cxt);
	return w;
}

void
ag_reliance_walk_end(AgRelianceWalk *w)
{
	MemoryContextSwitchTo(w->caller);
	MemoryContextDelete(w->cxt);
}

/* Explore the object at this depth?  No if explored already, as shallow or shallower. */
static bool
walk_visit(RelianceWalk *w, int kind, Oid classid, Oid objid, int depth)
{
	WalkKey		key;
	WalkEntry  *e;
	bool		found;

	memset(&key, 0, sizeof(key));
	key.classid = classid;
	key.objid = objid;
	key.kind = kind;
	e = hash_search(w->seen, &key, HASH_ENTER, &found);
	if (found && e->depth <= depth)
		return false;
	e->depth = depth;
	return true;
}

static Oid	type_user_walk(Oid typid, int depth, RelianceWalk *w);
static Oid	code_user_walk(Oid classid, Oid objid, int depth, ObjectAddress *via, RelianceWalk *w);

/* type_user_walk() in a walk of its own. */
static Oid
type_protected_user(Oid typid, int depth)
{
	RelianceWalk *w = ag_reliance_walk_begin();
	Oid			user = type_user_walk(typid, depth, w);

	ag_reliance_walk_end(w);
	return user;
}

/* code_user_walk() in a walk of its own. */
static Oid
code_protected_user(Oid classid, Oid objid, int depth, ObjectAddress *via)
{
	RelianceWalk *w = ag_reliance_walk_begin();
	Oid			user = code_user_walk(classid, objid, depth, via, w);

	ag_reliance_walk_end(w);
	return user;
}

/*
 * The protected relation whose rows show values of this type (a column of
 * it, or of an array, domain, range or composite type built on it), or
 * whose writes compute one (a default, generated column, CHECK or index
 * expression that casts to it: red team 15, finding 4); InvalidOid if
 * none.  Follows pg_depend, a few levels deep.  A typed table's link to
 * its type is not a use of the values (ALTER TYPE ... CASCADE reaches its
 * columns, judged as such by reach.c).
 */
static Oid
type_user_walk(Oid typid, int depth, RelianceWalk *w)
{
	Relation	dep;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			found = InvalidOid;

	if (depth > 8 || !walk_visit(w, WALK_TYPE, TypeRelationId, typid, depth))
		return InvalidOid;
	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	dep = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(TypeRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(typid));
	scan = systable_beginscan(dep, DependReferenceIndexId, true, NULL, 2, key);
	while (!OidIsValid(found) && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);
		Oid			rel = InvalidOid;

		CHECK_FOR_INTERRUPTS();

		if (d->classid == RelationRelationId)
		{
			char		kind = get_rel_relkind(d->objid);

			if (kind == RELKIND_INDEX || kind == RELKIND_PARTITIONED_INDEX)
				rel = IndexGetRelation(d->objid, true);
			else if (d->objsubid > 0 && kind == RELKIND_COMPOSITE_TYPE)
				found = type_user_walk(get_rel_type_id(d->objid), depth + 1, w);
			else if (d->objsubid > 0)
				rel = d->objid;
		}
		else if (d->classid == TypeRelationId && d->objid != typid)
			found = type_user_walk(d->objid, depth + 1, w);
		else if (d->classid == AttrDefaultRelationId)
			rel = GetAttrDefaultColumnAddress(d->objid).objectId;
		else if (d->classid == ConstraintRelationId)
		{
			HeapTuple	con = SearchSysCache1(CONSTROID, ObjectIdGetDatum(d->objid));

			if (HeapTupleIsValid(con))
			{
				Form_pg_constraint c = (Form_pg_constraint) GETSTRUCT(con);

				rel = c->conrelid;
				if (OidIsValid(c->contypid) && c->contypid != typid)
					found = type_user_walk(c->contypid, depth + 1, w);
				ReleaseSysCache(con);
			}
		}
		if (!OidIsValid(found) && OidIsValid(rel) && is_protected(rel))
			found = rel;
	}
	systable_endscan(scan);
	table_close(dep, AccessShareLock);
	return found;
}

/*
 * A protected typed table of a composite type (CREATE TABLE ... OF, ALTER
 * TABLE ... OF), or InvalidOid: ALTER TYPE ... CASCADE changes its columns.
 */
static Oid
typed_protected_table(Oid typid)
{
	Relation	dep;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			found = InvalidOid;

	if (!OidIsValid(typid))
		return InvalidOid;
	dep = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(TypeRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(typid));
	scan = systable_beginscan(dep, DependReferenceIndexId, true, NULL, 2, key);
	while (!OidIsValid(found) && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);

		if (d->classid == RelationRelationId && d->objsubid == 0 && is_protected(d->objid))
			found = d->objid;
	}
	systable_endscan(scan);
	table_close(dep, AccessShareLock);
	return found;
}

/*
 * ALTER TYPE ... DROP | ALTER ATTRIBUTE of a stamp column's name of a
 * composite type a protected table is typed by: refused at once, as the
 * same act on the table (it cascades to the table's stamp column, which
 * reach.c refuses when it runs: an approval would be asked for something
 * that can never run).  RENAME ATTRIBUTE is refused at once by reach.c.
 */
static void
judge_typed_stamp(AgUtility *v, const char *what, Oid relid, const char *attname)
{
	Oid			user;

	if (attname == NULL || !is_stamp(attname) || !OidIsValid(relid) ||
		get_rel_relkind(relid) != RELKIND_COMPOSITE_TYPE)
		return;
	user = typed_protected_table(get_rel_type_id(relid));
	if (OidIsValid(user))
		set_verdict(v, REFUSED, what,
					psprintf("Attribute \"%s\" of type \"%s\" is stamp column \"%s\" of protected table \"%s\", a table of that type: the guard sets it.",
							 attname, name_of(relid), attname, name_of(user)));
}

/* The protected relation whose rows a sequence numbers, or InvalidOid. */
static Oid
sequence_protected_user(Oid seqid)
{
	Relation	dep;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			found = InvalidOid;

	dep = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(seqid));
	/* owned by a column (serial, identity) */
	scan = systable_beginscan(dep, DependDependerIndexId, true, NULL, 2, key);
	while (!OidIsValid(found) && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);

		if (d->refclassid == RelationRelationId && d->refobjsubid > 0 &&
			(d->deptype == DEPENDENCY_AUTO || d->deptype == DEPENDENCY_INTERNAL) &&
			is_protected(d->refobjid))
			found = d->refobjid;
	}
	systable_endscan(scan);
	/* used by a column default (nextval('s')) */
	if (!OidIsValid(found))
	{
		ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(RelationRelationId));
		ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(seqid));
		scan = systable_beginscan(dep, DependReferenceIndexId, true, NULL, 2, key);
		while (!OidIsValid(found) && HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);

			if (d->classid == AttrDefaultRelationId)
			{
				ObjectAddress col = GetAttrDefaultColumnAddress(d->objid);

				if (OidIsValid(col.objectId) && is_protected(col.objectId))
					found = col.objectId;
			}
			/* a domain's default a protected column takes (red team 15, finding 3) */
			else if (d->classid == TypeRelationId)
				found = type_protected_user(d->objid, 0);
		}
		systable_endscan(scan);
	}
	table_close(dep, AccessShareLock);
	return found;
}

/* An Oid column of a catalog row found by its oid, or InvalidOid. */
static Oid
catalog_oid_field(Oid catalogid, AttrNumber oidcol, Oid objid, AttrNumber col)
{
	Relation	cat = table_open(catalogid, AccessShareLock);
	HeapTuple	tup = get_catalog_object_by_oid(cat, oidcol, objid);
	Oid			result = InvalidOid;

	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, col, RelationGetDescr(cat), &isnull);

		if (!isnull)
			result = DatumGetObjectId(d);
	}
	table_close(cat, AccessShareLock);
	return result;
}

/* The same, for reach.c. */
Oid
ag_catalog_oid_field(Oid catalogid, AttrNumber oidcol, Oid objid, AttrNumber col)
{
	return catalog_oid_field(catalogid, oidcol, objid, col);
}

/* A protected partition anywhere below a partitioned table, or InvalidOid. */
static Oid
protected_descendant(Oid relid)
{
	ListCell   *lc;

	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
		if (lfirst_oid(lc) != relid && is_protected(lfirst_oid(lc)))
			return lfirst_oid(lc);
	return InvalidOid;
}

/*
 * The protected relation whose writes or reads run this object's code (a
 * function, operator, operator class or family), or InvalidOid.  Follows
 * what depends on it in pg_depend: column defaults and generated columns,
 * CHECK constraints and the constraints and defaults of domains its columns
 * use, triggers, index expressions and operator classes, row security
 * policies, rules; through operators, operator classes and families, and
 * functions whose SQL-standard body calls it, a few levels deep.  A call by
 * name inside a PL/pgSQL or plain SQL body leaves no trace in pg_depend.
 */
static Oid
code_user_walk(Oid classid, Oid objid, int depth, ObjectAddress *via, RelianceWalk *w)
{
	Relation	dep;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			found = InvalidOid;

	if (depth > 6 || !walk_visit(w, WALK_CODE, classid, objid, depth))
		return InvalidOid;
	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	dep = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(classid));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(objid));
	scan = systable_beginscan(dep, DependReferenceIndexId, true, NULL, 2, key);
	while (!OidIsValid(found) && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);
		Oid			rel = InvalidOid;

		CHECK_FOR_INTERRUPTS();
		if (d->classid == classid && d->objid == objid)
			continue;
		switch (d->classid)
		{
			case RelationRelationId:
				{
					char		kind = get_rel_relkind(d->objid);

					if (kind == RELKIND_INDEX || kind == RELKIND_PARTITIONED_INDEX)
						rel = IndexGetRelation(d->objid, true);
					else if (kind == RELKIND_COMPOSITE_TYPE)
						found = type_user_walk(get_rel_type_id(d->objid), 0, w);
					else if (kind == RELKIND_PARTITIONED_TABLE && d->objsubid == 0 &&
							 !is_protected(d->objid))
						/*
						 * its partition key: every partition below computes
						 * it in its writes, as its partition constraint (red
						 * team 18a, finding 4)
						 */
						rel = protected_descendant(d->objid);
					else
						rel = d->objid;
					break;
				}
			case AttrDefaultRelationId:
				rel = GetAttrDefaultColumnAddress(d->objid).objectId;
				break;
			case ConstraintRelationId:
				{
					HeapTuple	con = SearchSysCache1(CONSTROID, ObjectIdGetDatum(d->objid));

					if (HeapTupleIsValid(con))
					{
						Form_pg_constraint c = (Form_pg_constraint) GETSTRUCT(con);

						rel = c->conrelid;
						if (OidIsValid(c->contypid))
							found = type_user_walk(c->contypid, 0, w);
						ReleaseSysCache(con);
					}
					break;
				}
			case TriggerRelationId:
				rel = catalog_oid_field(TriggerRelationId, Anum_pg_trigger_oid, d->objid,
										Anum_pg_trigger_tgrelid);
				break;
			case PolicyRelationId:
				rel = catalog_oid_field(PolicyRelationId, Anum_pg_policy_oid, d->objid,
										Anum_pg_policy_polrelid);
				break;
			case RewriteRelationId:
				rel = catalog_oid_field(RewriteRelationId, Anum_pg_rewrite_oid, d->objid,
										Anum_pg_rewrite_ev_class);
				break;
			case TypeRelationId:
				/* a domain's default, a range's subtype functions */
				found = type_user_walk(d->objid, 0, w);
				break;
			case ProcedureRelationId:
			case OperatorRelationId:
			case OperatorClassRelationId:
			case TSConfigRelationId:	/* a configuration's mapping to a dictionary */
				found = code_user_walk(d->classid, d->objid, depth + 1, via, w);
				break;
			case OperatorFamilyRelationId:
				if (classid != AccessMethodOperatorRelationId && classid != AccessMethodProcedureRelationId)
					found = code_user_walk(d->classid, d->objid, depth + 1, via, w);
				break;
			case AccessMethodOperatorRelationId:
			case AccessMethodProcedureRelationId:
				{
					/* an operator or support function of a family: its classes' indexes */
					bool		amop = d->classid == AccessMethodOperatorRelationId;
					Oid			family = catalog_oid_field(d->classid,
														   amop ? Anum_pg_amop_oid : Anum_pg_amproc_oid,
														   d->objid,
														   amop ? Anum_pg_amop_amopfamily : Anum_pg_amproc_amprocfamily);

					if (OidIsValid(family) && !(classid == OperatorFamilyRelationId && objid == family))
						found = code_user_walk(OperatorFamilyRelationId, family, depth + 1, via, w);
					break;
				}
			default:
				break;
		}
		if (!OidIsValid(found) && OidIsValid(rel) && is_protected(rel))
			found = rel;
		/* the innermost object that uses it, set by the deepest call */
		if (OidIsValid(found) && via != NULL && !OidIsValid(via->classId))
		{
			via->classId = d->classid;
			via->objectId = d->objid;
			via->objectSubId = d->objsubid;
		}
	}
	systable_endscan(scan);
	table_close(dep, AccessShareLock);
	return found;
}

/* The function CREATE OR REPLACE FUNCTION would replace, or InvalidOid. */
static Oid
replaced_function(CreateFunctionStmt *s)
{
	ObjectWithArgs *owa = makeNode(ObjectWithArgs);
	ListCell   *lc;

	if (!s->replace || s->is_procedure)
		return InvalidOid;
	owa->objname = s->funcname;
	foreach(lc, s->parameters)
	{
		FunctionParameter *fp = lfirst_node(FunctionParameter, lc);

		if (fp->mode != FUNC_PARAM_OUT && fp->mode != FUNC_PARAM_TABLE)
			owa->objargs = lappend(owa->objargs, fp->argType);
	}
	return LookupFuncWithArgs(OBJECT_FUNCTION, owa, true);
}

static void
classify_function(Oid fn, const char *what, AgUtility *v)
{
	Oid			user = OidIsValid(fn) ? code_protected_user(ProcedureRelationId, fn, 0, NULL) : InvalidOid;

	if (OidIsValid(user))
		set_verdict(v, REFUSED, what,
					psprintf("Function %s runs when protected table \"%s\" is written or read, humans' writes too, with their rights; only a human may change it.",
							 format_procedure(fn), name_of(user)));
}

/*
 * A schema named after a role is that role's "$user" schema: first on the
 * default search_path, so its tables shadow the role's unqualified names.
 * An agent may name a schema after itself, not after anyone else.
 */
static void
classify_schema_name(const char *name, const char *what, AgUtility *v)
{
	Oid			role = name ? get_role_oid(name, true) : InvalidOid;

	if (OidIsValid(role) && role != GetSessionUserId() && role != GetUserId())
		set_verdict(v, REFUSED, what,
					psprintf("Schema \"%s\" would be the \"$user\" schema of role \"%s\": the role's unqualified names would resolve to the agent's objects first.",
							 name, name));
	else if (OidIsValid(role) && ag_identity_tagged_role())
		/* a tagged shared role's own name: its humans' "$user" (red team 20b, F2) */
		set_verdict(v, REFUSED, what,
					psprintf("Schema \"%s\" would be the \"$user\" schema of role \"%s\", whose sessions are the humans' when they are not tagged: their unqualified names would resolve to what the agent puts there first.",
							 name, name));
}

/* A protected table in the schema (the oldest), or InvalidOid. */
static Oid
schema_protected_table(const char *nspname)
{
	Oid			nsp = get_namespace_oid(nspname, true);
	Relation	cls;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			found = InvalidOid;

	if (!OidIsValid(nsp))
		return InvalidOid;
	cls = table_open(RelationRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_class_relnamespace, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(nsp));
	scan = systable_beginscan(cls, InvalidOid, false, NULL, 1, &key);
	/* the oldest, so that the reason does not depend on the heap's order */
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_class c = (Form_pg_class) GETSTRUCT(tup);

		if ((c->relkind == RELKIND_RELATION || c->relkind == RELKIND_PARTITIONED_TABLE) &&
			(!OidIsValid(found) || c->oid < found) && is_protected(c->oid))
			found = c->oid;
	}
	systable_endscan(scan);
	table_close(cls, AccessShareLock);
	return found;
}


/* ---------------------------------------------------------------------
 * What a protected table relies on (red team 9, finding 1)
 *
 * A protected table's defaults, generated columns, CHECKs, triggers,
 * index expressions, policies, rules and domains call functions and use
 * types and sequences; its foreign keys' checks read the tables they
 * reference, as those tables' owners.  A right revoked on any of them (or
 * on their schema), or an owner changed, makes humans' writes or reads of
 * the table fail, with no change to the table itself.
 * ---------------------------------------------------------------------
 */

/* list_sort() order of a schema's objects: by OID, then class */
static int
held_object_cmp(const ListCell *a, const ListCell *b)
{
	const ObjectAddress *x = lfirst(a);
	const ObjectAddress *y = lfirst(b);

	if (x->objectId != y->objectId)
		return x->objectId < y->objectId ? -1 : 1;
	if (x->classId != y->classId)
		return x->classId < y->classId ? -1 : 1;
	return 0;
}

/*
 * The protected table that relies on an object (a function, type,
 * sequence, relation or schema), or InvalidOid; *why: a phrase naming the
 * object and what of the table uses it.
 */
static Oid
relied_upon_walk(Oid classid, Oid objid, char **why, RelianceWalk *w)
{
	ObjectAddress via = {InvalidOid, InvalidOid, 0};
	ObjectAddress obj = {classid, objid, 0};
	Oid			user = InvalidOid;

	if (!OidIsValid(objid))
		return InvalidOid;
	CHECK_FOR_INTERRUPTS();
	if (classid == RelationRelationId && is_protected(objid))
		return InvalidOid;		/* the table itself: "Humans keep their rights" */
	if (classid == NamespaceRelationId)
	{
		/*
		 * what the schema holds, of every class the walk knows: functions,
		 * types, relations, collations, operators, operator classes and
		 * families, text search configurations and dictionaries (red team
		 * 18a, finding 2).  Walked oldest first (by OID): the index scan
		 * returns them in the order of their pg_depend rows, which space
		 * freed by other changes reorders, and the object the message names
		 * must not depend on it.
		 */
		Relation	dep = table_open(DependRelationId, AccessShareLock);
		ScanKeyData key[2];
		SysScanDesc scan;
		HeapTuple	tup;
		List	   *held = NIL;
		ListCell   *lc;

		ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(NamespaceRelationId));
		ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(objid));
		scan = systable_beginscan(dep, DependReferenceIndexId, true, NULL, 2, key);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);
			ObjectAddress *o;

			if (d->classid == RelationRelationId && is_protected(d->objid))
				continue;		/* schema_protected_table() names those */
			if (d->classid == NamespaceRelationId)
				continue;
			o = palloc(sizeof(ObjectAddress));
			o->classId = d->classid;
			o->objectId = d->objid;
			o->objectSubId = 0;
			held = lappend(held, o);
		}
		systable_endscan(scan);
		table_close(dep, AccessShareLock);
		list_sort(held, held_object_cmp);
		foreach(lc, held)
		{
			ObjectAddress *o = lfirst(lc);
			char	   *inner = NULL;

			user = relied_upon_walk(o->classId, o->objectId, &inner, w);
			if (OidIsValid(user))
			{
				*why = psprintf("schema %s, which holds %s", get_namespace_name(objid), inner);
				break;
			}
		}
		list_free_deep(held);
		return user;
	}
	if (classid == RelationRelationId && get_rel_relkind(objid) == RELKIND_SEQUENCE)
	{
		user = sequence_protected_user(objid);
		if (OidIsValid(user))
		{
			*why = psprintf("%s, which numbers its rows", getObjectDescription(&obj, false));
			return user;
		}
	}
	if (classid != ProcedureRelationId && classid != TypeRelationId &&
		classid != RelationRelationId && classid != TSConfigRelationId &&
		classid != TSDictionaryRelationId && classid != OperatorRelationId &&
		classid != OperatorClassRelationId && classid != OperatorFamilyRelationId &&
		classid != CollationRelationId)
		return InvalidOid;
	user = code_user_walk(classid, objid, 0, &via, w);
	if (OidIsValid(user))
	{
		char	   *used = OidIsValid(via.classId) ? getObjectDescription(&via, true) : NULL;

		if (via.classId == RelationRelationId && classid == RelationRelationId &&
			via.objectSubId == 0 && via.objectId == user)
			*why = psprintf("%s, of which it is a partition or child (humans may read and write it through it)",
							getObjectDescription(&obj, false));
		else if (via.classId == ConstraintRelationId && classid == RelationRelationId)
			*why = psprintf("%s, which its %s references", getObjectDescription(&obj, false),
							used ? used : "foreign key");
		else
			*why = psprintf("%s, which its %s uses", getObjectDescription(&obj, false),
							used ? used : "structure");
	}
	return user;
}

/*
 * relied_upon_walk() in a walk that may have judged other objects; *why is
 * allocated where the walk began.
 */
Oid
ag_structure_relied_upon_in(AgRelianceWalk *w, Oid classid, Oid objid, char **why)
{
	char	   *phrase = NULL;
	Oid			user = relied_upon_walk(classid, objid, &phrase, w);

	if (OidIsValid(user))
		*why = MemoryContextStrdup(w->caller, phrase ? phrase : "?");
	return user;
}

/* relied_upon_walk() in a walk of its own. */
static Oid
relied_upon(Oid classid, Oid objid, char **why)
{
	RelianceWalk *w = ag_reliance_walk_begin();
	Oid			user = ag_structure_relied_upon_in(w, classid, objid, why);

	ag_reliance_walk_end(w);
	return user;
}

/* The same, for reach.c's backstop (a new owner by REASSIGN OWNED). */
Oid
ag_structure_relied_upon(Oid classid, Oid objid, char **why)
{
	return relied_upon(classid, objid, why);
}

/* A REVOKE or a new owner of an object a protected table relies on. */
static void
judge_relied(AgUtility *v, const char *what, Oid classid, Oid objid)
{
	char	   *phrase = NULL;
	Oid			user = relied_upon(classid, objid, &phrase);

	if (OidIsValid(user))
		set_verdict(v, REFUSED, what,
					psprintf("Protected table %s relies on %s: %s, humans' reads or writes of the table could fail.",
							 ag_qualified_relname(user), phrase,
							 strcmp(what, "REVOKE") == 0 ? "with a right on it revoked" :
							 "with another owner"));
}

/* The function an ObjectWithArgs names, or InvalidOid. */
static Oid
function_of(ObjectType objtype, Node *n)
{
	if (n == NULL || !IsA(n, ObjectWithArgs))
		return InvalidOid;
	return LookupFuncWithArgs(objtype, (ObjectWithArgs *) n, true);
}

/* The type a qualified name (a list of strings) names, or InvalidOid. */
static Oid
type_of(Node *n)
{
	if (n == NULL || !IsA(n, List))
		return InvalidOid;
	return LookupTypeNameOid(NULL, makeTypeNameFromNameList((List *) n), true);
}

/* The objects of a kind in a schema: does a protected table rely on one? */
static void
judge_relied_in_schema(AgUtility *v, ObjectType objtype, const char *nspname)
{
	Oid			nsp = get_namespace_oid(nspname, true);
	Oid			want = (objtype == OBJECT_TABLE || objtype == OBJECT_SEQUENCE) ?
		RelationRelationId : ProcedureRelationId;
	Relation	dep;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;

	if (!OidIsValid(nsp))
		return;
	dep = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(NamespaceRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(nsp));
	scan = systable_beginscan(dep, DependReferenceIndexId, true, NULL, 2, key);
	while (v->verdict != REFUSED && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);

		if (d->classid != want)
			continue;
		/* ALL TABLES: tables, views, foreign tables; ALL SEQUENCES: sequences */
		if (want == RelationRelationId &&
			(get_rel_relkind(d->objid) == RELKIND_SEQUENCE) != (objtype == OBJECT_SEQUENCE))
			continue;
		judge_relied(v, "REVOKE", d->classid, d->objid);
	}
	systable_endscan(scan);
	table_close(dep, AccessShareLock);
}

/* ---------------------------------------------------------------------
 * Constraints that can refuse humans' writes, and foreign keys that point
 * at a protected table (issue 16, findings 02, 08, 11)
 * ---------------------------------------------------------------------
 */

/* A referential action that writes the referencing table. */
static bool
fk_action_writes(char action)
{
	return action == FKCONSTR_ACTION_CASCADE || action == FKCONSTR_ACTION_SETNULL ||
		action == FKCONSTR_ACTION_SETDEFAULT;
}

/*
 * The protected table whose humans' writes reach relid, a table that is not
 * protected itself, or InvalidOid (red team 31, F2 and F4): relid is an
 * inheritance child of one (a DELETE or UPDATE of the parent writes it), or
 * one of its foreign keys has an ON DELETE or ON UPDATE action (CASCADE,
 * SET NULL, SET DEFAULT) on one, or on a table so reached, and so on.  This
 * is the closure purge()'s look (_purge_reach) walks downwards, walked
 * upwards from relid: its parents and the tables its writing keys
 * reference, each level by an index scan, each table once.  It runs only
 * when an agent adds a foreign key to, or a trigger or rule on, a table
 * that is not protected.  A table humans' own triggers write (an audit
 * table) is not found: no catalog records it.
 */
static Oid
written_by_protected(Oid relid)
{
	List	   *todo;
	List	   *seen;
	Oid			found = InvalidOid;

	if (!OidIsValid(relid))
		return InvalidOid;
	todo = list_make1_oid(relid);
	seen = list_make1_oid(relid);
	while (todo != NIL && !OidIsValid(found))
	{
		Oid			t = linitial_oid(todo);
		Relation	cat;
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tup;
		List	   *next = NIL;
		ListCell   *lc;

		CHECK_FOR_INTERRUPTS();
		todo = list_delete_first(todo);
		if (t != relid && is_protected(t))
		{
			found = t;
			break;
		}
		/* the parents whose DELETE and UPDATE write t's rows */
		cat = table_open(InheritsRelationId, AccessShareLock);
		ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(t));
		scan = systable_beginscan(cat, InheritsRelidSeqnoIndexId, true, NULL, 1, &key);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
			next = lappend_oid(next, ((Form_pg_inherits) GETSTRUCT(tup))->inhparent);
		systable_endscan(scan);
		table_close(cat, AccessShareLock);
		/* the tables whose deletes and key updates write t's rows */
		cat = table_open(ConstraintRelationId, AccessShareLock);
		ScanKeyInit(&key, Anum_pg_constraint_conrelid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(t));
		scan = systable_beginscan(cat, ConstraintRelidTypidNameIndexId, true, NULL, 1, &key);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			Form_pg_constraint c = (Form_pg_constraint) GETSTRUCT(tup);

			if (c->contype == CONSTRAINT_FOREIGN &&
				(fk_action_writes(c->confdeltype) || fk_action_writes(c->confupdtype)))
				next = lappend_oid(next, c->confrelid);
		}
		systable_endscan(scan);
		table_close(cat, AccessShareLock);
		foreach(lc, next)
		{
			if (list_member_oid(seen, lfirst_oid(lc)))
				continue;
			seen = lappend_oid(seen, lfirst_oid(lc));
			todo = lappend_oid(todo, lfirst_oid(lc));
		}
		list_free(next);
	}
	list_free(todo);
	list_free(seen);
	return found;
}

/*
 * A foreign key from fkname to pk, with these actions.  One that references
 * a protected table refuses humans' deletes and key updates of the rows it
 * references (NO ACTION, RESTRICT): a human decides (approval).  One that
 * cascades or sets values writes the referencing table inside humans'
 * deletes and updates, its owner's triggers, rules and checks running in
 * their statements: refused.  The same for a key to a table that humans'
 * writes of a protected table write (written_by_protected(): a table its
 * keys' actions write, an inheritance child), one level down or more
 * (red team 31, F2).
 */
static void
judge_fk(AgUtility *v, const char *what, Oid pk, const char *fkname, char del, char upd)
{
	Oid			user;

	if (!OidIsValid(pk))
		return;
	if (is_protected(pk))
	{
		if (fk_action_writes(del) || fk_action_writes(upd))
			set_verdict(v, REFUSED, what,
						psprintf("A foreign key from \"%s\" with ON DELETE or ON UPDATE CASCADE, SET NULL or SET DEFAULT would write \"%s\" inside humans' deletes and updates of protected table \"%s\", with its triggers running in their statements; only a human may add one.",
								 fkname, fkname, name_of(pk)));
		else
			set_verdict(v, APPROVAL, what,
						psprintf("A foreign key from \"%s\" to protected table \"%s\" would refuse humans' deletes and key updates of the rows it references.",
								 fkname, name_of(pk)));
		return;
	}
	user = written_by_protected(pk);
	if (!OidIsValid(user))
		return;
	if (fk_action_writes(del) || fk_action_writes(upd))
		set_verdict(v, REFUSED, what,
					psprintf("Humans' deletes and updates of protected table \"%s\" write \"%s\" (through foreign-key actions or inheritance): a foreign key from \"%s\" to it with ON DELETE or ON UPDATE CASCADE, SET NULL or SET DEFAULT would write \"%s\" inside them, with its triggers running in their statements; only a human may add one.",
							 name_of(user), name_of(pk), fkname, fkname));
	else
		set_verdict(v, APPROVAL, what,
					psprintf("Humans' deletes and updates of protected table \"%s\" write \"%s\" (through foreign-key actions or inheritance): a foreign key from \"%s\" to it would refuse them when they reach the rows it references.",
							 name_of(user), name_of(pk), fkname));
}

static void
judge_fk_constraint(AgUtility *v, const char *what, Node *n, const char *fkname)
{
	Constraint *c;

	if (n == NULL || !IsA(n, Constraint))
		return;
	c = (Constraint *) n;
	if (c->contype == CONSTR_FOREIGN && c->pktable != NULL)
		judge_fk(v, what, relid_of(c->pktable), fkname, c->fk_del_action, c->fk_upd_action);
}

/* The foreign keys a column definition declares. */
static void
judge_column_fks(AgUtility *v, const char *what, ColumnDef *col, const char *fkname)
{
	ListCell   *lc;

	foreach(lc, col->constraints)
		judge_fk_constraint(v, what, lfirst(lc), fkname);
}

/*
 * The foreign keys of a table that a new partition of it gets (CREATE
 * TABLE ... PARTITION OF, ATTACH PARTITION): each is judged as if the
 * statement added it.
 */
static void
judge_cloned_fks(AgUtility *v, const char *what, Oid parent, const char *childname)
{
	Relation	con;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	if (!OidIsValid(parent))
		return;
	con = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_constraint_conrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(parent));
	scan = systable_beginscan(con, ConstraintRelidTypidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint c = (Form_pg_constraint) GETSTRUCT(tup);

		if (c->contype == CONSTRAINT_FOREIGN)
			judge_fk(v, what, c->confrelid, childname, c->confdeltype, c->confupdtype);
	}
	systable_endscan(scan);
	table_close(con, AccessShareLock);
}

/*
 * ALTER CONSTRAINT of a foreign key (deferrability; on 18 also ENFORCED):
 * judged as adding it.  Returns whether the constraint is a foreign key.
 */
static bool
judge_altered_fk(AgUtility *v, Oid relid, const char *conname, bool protected)
{
	Oid			conoid = conname ? get_relation_constraint_oid(relid, conname, true) : InvalidOid;
	HeapTuple	tup;
	bool		fk = false;

	if (!OidIsValid(conoid))
		return false;
	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (!HeapTupleIsValid(tup))
		return false;
	if (((Form_pg_constraint) GETSTRUCT(tup))->contype == CONSTRAINT_FOREIGN)
	{
		Form_pg_constraint c = (Form_pg_constraint) GETSTRUCT(tup);

		fk = true;
		judge_fk(v, "ALTER TABLE ... ALTER CONSTRAINT", c->confrelid, name_of(relid),
				 c->confdeltype, c->confupdtype);
		if (protected)
			set_verdict(v, APPROVAL, "ALTER TABLE ... ALTER CONSTRAINT",
						psprintf("Foreign key \"%s\" of protected table \"%s\" decides which of humans' writes are refused.",
								 conname, name_of(relid)));
	}
	ReleaseSysCache(tup);
	return fk;
}

/*
 * A constraint that can refuse a write (CHECK, NOT NULL, a key, EXCLUDE, a
 * foreign key, a generated or identity column), named for a message.
 */
static const char *
constraint_refusing(Node *n)
{
	if (n == NULL || !IsA(n, Constraint))
		return NULL;
	switch (((Constraint *) n)->contype)
	{
		case CONSTR_CHECK:
			return "A CHECK constraint";
		case CONSTR_NOTNULL:
			return "A NOT NULL constraint";
		case CONSTR_PRIMARY:
			return "A primary key";
		case CONSTR_UNIQUE:
			return "A unique constraint";
		case CONSTR_EXCLUSION:
			return "An exclusion constraint";
		case CONSTR_FOREIGN:
			return "A foreign key";
		case CONSTR_GENERATED:
			return "A generated column";
		case CONSTR_IDENTITY:
			return "An identity column";
		default:
			return NULL;
	}
}

static void
refusing_constraint_verdict(AgUtility *v, const char *what, const char *kind, const char *rel)
{
	set_verdict(v, APPROVAL, what,
				psprintf("%s on protected table \"%s\" could refuse humans' writes.", kind, rel));
}

/* One action of a rule, or a WITH query of one (classify_rule()). */
static void
classify_rule_action(Node *a, RuleStmt *r, AgUtility *v, int depth)
{
	RangeVar   *target = NULL;
	WithClause *with = NULL;
	Oid			relid;

	if (a == NULL)
		return;
	check_stack_depth();
	if (IsA(a, InsertStmt))
	{
		target = ((InsertStmt *) a)->relation;
		with = ((InsertStmt *) a)->withClause;
	}
	else if (IsA(a, UpdateStmt))
	{
		target = ((UpdateStmt *) a)->relation;
		with = ((UpdateStmt *) a)->withClause;
	}
	else if (IsA(a, DeleteStmt))
	{
		target = ((DeleteStmt *) a)->relation;
		with = ((DeleteStmt *) a)->withClause;
	}
#ifdef AG_HAVE_MERGE
	else if (IsA(a, MergeStmt))
	{
		target = ((MergeStmt *) a)->relation;
		with = ((MergeStmt *) a)->withClause;
	}
#endif
	else if (IsA(a, SelectStmt))
		with = ((SelectStmt *) a)->withClause;
	relid = relid_of(target);
	if (OidIsValid(relid) && is_protected(relid))
		set_verdict(v, REFUSED, "CREATE RULE",
					psprintf("The rule's action writes protected table \"%s\"%s: whoever writes \"%s\", humans too, would write it with their own rights, in a statement that never names it.",
							 name_of(relid), depth > 0 ? " in a WITH query" : "",
							 r->relation ? r->relation->relname : "?"));
	/* WITH d AS (DELETE ...) SELECT ...: its WITH queries are the action too */
	if (with != NULL)
	{
		ListCell   *lc;

		foreach(lc, with->ctes)
			classify_rule_action(lfirst_node(CommonTableExpr, lc)->ctequery, r, v, depth + 1);
	}
}

/*
 * CREATE RULE: a rule whose action writes a protected table makes whoever
 * writes the rule's table, a human too, write the protected table with
 * their own rights and name, in a statement that never named it; so does a
 * writing WITH query of its action (red team 15a, finding 2).
 */
static void
classify_rule(RuleStmt *r, AgUtility *v)
{
	ListCell   *lc;
	Oid			relid = relid_of(r->relation);
	Oid			user = is_protected(relid) ? InvalidOid : written_by_protected(relid);

	/* a rule on a table humans' writes of a protected table write (F4) */
	if (OidIsValid(user))
		set_verdict(v, REFUSED, "CREATE RULE",
					psprintf("Humans' deletes and updates of protected table \"%s\" write \"%s\" (through foreign-key actions or inheritance): a rule on it would rewrite what they do; only a human may add one.",
							 name_of(user), name_of(relid)));
	foreach(lc, r->actions)
		classify_rule_action(lfirst(lc), r, v, 0);
}

/*
 * ATTACH PARTITION of a partitioned table whose tree holds a protected
 * table: the protected table gains the new parent and its ancestors, and
 * with them what they pass down to their partitions as they stand.  Their
 * indexes, triggers and foreign keys are cloned onto it and judged as such
 * (reach.c, judge_cloned_fks()); a publication of one of them (FOR TABLE,
 * or TABLES IN SCHEMA of its schema) ships every partition below it, the
 * ones attached later too, with the publication's row filter or column
 * list when it publishes via the root (red team 17c, finding 1).  That is
 * publishing the protected table: refused, as CREATE PUBLICATION of it is
 * (reach.c).  A new inheritance parent (INHERIT) passes no publication
 * down: PostgreSQL lists a parent's children in the publication when it
 * is published, not later.
 */
static void
judge_new_ancestors(AgUtility *v, const char *what, Oid parent, Oid part)
{
	Oid			found = InvalidOid;
	List	   *ancestors;
	ListCell   *lc;

	if (!OidIsValid(parent) || !OidIsValid(part) ||
		get_rel_relkind(part) != RELKIND_PARTITIONED_TABLE)
		return;
	foreach(lc, find_all_inheritors(part, NoLock, NULL))
		if (is_protected(lfirst_oid(lc)))
		{
			found = lfirst_oid(lc);
			break;
		}
	if (!OidIsValid(found))
		return;

	/*
	 * The new parent's partition key and bound, and its ancestors', become
	 * the protected table's partition constraint, which PostgreSQL checks
	 * in every direct insert and key update of it: a bound only the rows
	 * there now satisfy, or a key whose function the agent replaces later,
	 * refuses humans' writes (red team 18a, finding 4).  Approval, as any
	 * other constraint that can refuse a write.
	 */
	set_verdict(v, APPROVAL, what,
				psprintf("Protected table %s, a partition of \"%s\", would get \"%s\"'s partition key and the bound given here as its partition constraint: humans' inserts and key updates of it outside the bound would fail, and a function in the key would run in them.",
						 ag_qualified_relname(found), name_of(part), name_of(parent)));
	ancestors = lcons_oid(parent, get_rel_relispartition(parent) ?
						  get_partition_ancestors(parent) : NIL);
	foreach(lc, ancestors)
	{
		Oid			a = lfirst_oid(lc);
		List	   *pubs = GetRelationPublications(a);
		const char *how = "";

		if (pubs == NIL)
		{
			pubs = GetSchemaPublications(get_rel_namespace(a));
			how = " (TABLES IN SCHEMA)";
		}
		if (pubs != NIL)
		{
			char	   *pubname = get_publication_name(linitial_oid(pubs), true);

			set_verdict(v, REFUSED, what,
						psprintf("Publication \"%s\"%s publishes \"%s\" and every partition below it: it would ship protected table %s, a partition of \"%s\", and a column list or row filter that leaves out its replica identity makes humans' updates and deletes of it fail. Only a human may publish a protected table.",
								 pubname ? pubname : "?", how, name_of(a),
								 ag_qualified_relname(found), name_of(part)));
			return;
		}
	}
}

/*
 * A new partition of a partitioned table whose DEFAULT partition is
 * protected, or has a protected partition below it: the DEFAULT
 * partition's constraint is every other partition's bound, negated, so the
 * new bound narrows what humans may write into the protected table
 * directly; their inserts of keys the new partition takes fail (red team
 * 18a, finding 4).  Approval.
 */
static void
judge_narrowed_default(AgUtility *v, const char *what, Oid parent, Node *bound)
{
	Oid			def;
	Oid			found;

	if (!OidIsValid(parent) || bound == NULL || !IsA(bound, PartitionBoundSpec) ||
		((PartitionBoundSpec *) bound)->is_default ||
		get_rel_relkind(parent) != RELKIND_PARTITIONED_TABLE)
		return;
	def = get_default_partition_oid(parent);
	if (!OidIsValid(def))
		return;
	found = is_protected(def) ? def : protected_descendant(def);
	if (!OidIsValid(found))
		return;
	set_verdict(v, APPROVAL, what,
				psprintf("A new partition of \"%s\" narrows the constraint of its DEFAULT partition \"%s\": humans' inserts and key updates of protected table %s with keys the new partition takes would fail.",
						 name_of(parent), name_of(def), ag_qualified_relname(found)));
}

static void judge_default(AgUtility *v, AlterTableStmt *stmt, Oid relid, AlterTableCmd *cmd);

/*
 * A statement on table relid that changes the sequences its columns own
 * (ALTER TABLE ... SET UNLOGGED, TRUNCATE ... RESTART IDENTITY): approval
 * when one numbers the rows of a protected table (its key default draws
 * from it), as the same act on the sequence by name; the reason names the
 * sequence.  Whether relid itself is the agent's scratch does not matter.
 */
static void
judge_owned_sequences(AgUtility *v, const char *what, Oid relid, const char *change)
{
	Oid			seq = InvalidOid;
	Oid			user = ag_structure_owned_sequence_user(relid, &seq);

	if (OidIsValid(user))
		set_verdict(v, APPROVAL, what,
					psprintf("It makes sequence %s, which \"%s\" owns, %s: the sequence numbers the rows of protected table \"%s\", and humans' inserts could fail or collide.",
							 ag_qualified_relname(seq), name_of(relid), change, name_of(user)));
}
static char *type_user_code(Oid typid, int depth);
static char *agent_cast_of(Oid typid);
static char *type_default_code(Oid typid, int depth);

static void
classify_alter_table(AlterTableStmt *stmt, AgUtility *v)
{
	Oid			relid = relid_of(stmt->relation);
	bool		protected = is_protected(relid);
	const char *rel = name_of(relid);
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		/* a new owner of a table or sequence a protected table relies on */
		if (cmd->subtype == AT_ChangeOwner && !protected)
		{
			judge_relied(v, "ALTER ... OWNER TO", RelationRelationId, relid);
			continue;
		}
		/* what comes under a protected table, whatever the statement names */
		if (cmd->subtype == AT_AddInherit)
		{
			Oid			parent = relid_of((RangeVar *) cmd->def);

			if (is_protected(parent))
				set_verdict(v, REFUSED, "ALTER TABLE ... INHERIT",
							psprintf("The rows of \"%s\" would show in protected table \"%s\" without stamps or events.",
									 rel, name_of(parent)));
			/* a statement on the parent reaches the child's rows (red team 12) */
			else if (protected && OidIsValid(parent))
				set_verdict(v, APPROVAL, "ALTER TABLE ... INHERIT",
							psprintf("Protected table \"%s\" would become a child of \"%s\": every UPDATE and DELETE of \"%s\", and every rule or view over it, would reach the protected rows.",
									 rel, name_of(parent), name_of(parent)));
			continue;
		}
		if (cmd->subtype == AT_AttachPartition && cmd->def && IsA(cmd->def, PartitionCmd))
		{
			Oid			part = relid_of(((PartitionCmd *) cmd->def)->name);

			if (protected)
				set_verdict(v, REFUSED, "ALTER TABLE ... ATTACH PARTITION",
							psprintf("The rows of \"%s\" would show in protected table \"%s\" without stamps or events.",
									 name_of(part), rel));
			else if (is_protected(part))
				set_verdict(v, REFUSED, "ALTER TABLE ... ATTACH PARTITION",
							psprintf("Protected table \"%s\" would become a partition of \"%s\".", name_of(part), rel));
			/* a protected table below it gets new ancestors, and their publications */
			else
				judge_new_ancestors(v, "ALTER TABLE ... ATTACH PARTITION", relid, part);
			/* a protected DEFAULT partition of the parent gets narrower */
			if (!protected)
				judge_narrowed_default(v, "ALTER TABLE ... ATTACH PARTITION", relid,
									   (Node *) ((PartitionCmd *) cmd->def)->bound);
			/* the partition gets the parent's foreign keys */
			judge_cloned_fks(v, "ALTER TABLE ... ATTACH PARTITION", relid, name_of(part));
			continue;
		}

		/* defaults, also those a parent passes down to a protected child */
		judge_default(v, stmt, relid, cmd);

		/*
		 * foreign keys to a protected table, whatever table declares them
		 * (the ones CREATE TABLE adds in a subcommand were judged with it)
		 */
		switch (cmd->subtype)
		{
			case AT_AddConstraint:
#if PG_VERSION_NUM < 160000
			case AT_AddConstraintRecurse:
#endif
				if (!v->subcommand)
					judge_fk_constraint(v, "ALTER TABLE ... ADD FOREIGN KEY", cmd->def, rel);
				break;
			case AT_AddColumn:
#if PG_VERSION_NUM < 160000
			case AT_AddColumnRecurse:
#endif
				if (cmd->def && IsA(cmd->def, ColumnDef))
					judge_column_fks(v, "ALTER TABLE ... ADD COLUMN ... REFERENCES", (ColumnDef *) cmd->def, rel);
				break;
			case AT_AlterConstraint:
				(void) judge_altered_fk(v, relid, AG_ALTERED_CONSTRAINT_NAME(cmd->def), protected);
				break;
			default:
				break;
		}
		if (cmd->subtype == AT_DropColumn)
			judge_typed_stamp(v, "ALTER TYPE ... DROP ATTRIBUTE", relid, cmd->name);
		else if (cmd->subtype == AT_AlterColumnType)
			judge_typed_stamp(v, "ALTER TYPE ... ALTER ATTRIBUTE", relid, cmd->name);

		/*
		 * ALTER TABLE (ALTER SEQUENCE ... SET [UN]LOGGED) of a sequence that
		 * numbers a protected table: as ALTER SEQUENCE of it.  Unlogged, a
		 * crash or a failover takes it back to where it was, and humans'
		 * inserts collide with the rows written since (red team 15,
		 * finding 5).
		 */
		if (!protected && get_rel_relkind(relid) == RELKIND_SEQUENCE)
		{
			Oid			user = sequence_protected_user(relid);

			if (OidIsValid(user) && !ag_agent_could(AG_ACT_ALTER, relid))
				v->unrunnable = true;	/* ATSimplePermissions() wants the owner */
			if (OidIsValid(user))
				set_verdict(v, APPROVAL,
							cmd->subtype == AT_SetUnLogged ? "ALTER SEQUENCE ... SET UNLOGGED" :
							cmd->subtype == AT_SetLogged ? "ALTER SEQUENCE ... SET LOGGED" : "ALTER SEQUENCE",
							psprintf("Sequence \"%s\" numbers the rows of protected table \"%s\"; changed (unlogged, a crash or a failover takes it back), humans' inserts could fail or collide.",
									 rel, name_of(user)));
			continue;
		}

		/*
		 * SET UNLOGGED of a table makes the sequences its columns own
		 * (serial, identity) unlogged too: as ALTER SEQUENCE ... SET
		 * UNLOGGED of one that numbers a protected table (red team 20a,
		 * finding 3).  A protected table's own is judged below.
		 */
		if (cmd->subtype == AT_SetUnLogged && !protected)
			judge_owned_sequences(v, "ALTER TABLE ... SET UNLOGGED", relid,
								  "unlogged (a crash or a failover takes it back)");
		if (!protected)
			continue;

		switch (cmd->subtype)
		{
			case AT_DropExpression:
				/* the column stops being computed: as SET EXPRESSION (red team 15, finding 7) */
				if (cmd->name && is_stamp(cmd->name))
					set_verdict(v, REFUSED, "ALTER TABLE ... DROP EXPRESSION",
								psprintf("Column \"%s\" of protected table \"%s\" is a stamp column.", cmd->name, rel));
				else if (cmd->name && get_attnum(relid, cmd->name) != InvalidAttrNumber &&
						 get_attgenerated(relid, get_attnum(relid, cmd->name)) != '\0')
					set_verdict(v, APPROVAL, "ALTER TABLE ... DROP EXPRESSION",
								psprintf("Generated column \"%s\" of protected table \"%s\" would no longer be computed: humans' writes that rely on the table computing it would store what they write, or NULL.",
										 cmd->name, rel));
				break;
			case AT_SetUnLogged:
				set_verdict(v, APPROVAL, "ALTER TABLE ... SET UNLOGGED",
							psprintf("A crash would empty protected table \"%s\", and standbys would not have its rows.", rel));
				break;
			case AT_SetAccessMethod:
				set_verdict(v, APPROVAL, "ALTER TABLE ... SET ACCESS METHOD",
							psprintf("It rewrites protected table \"%s\" in another access method.", rel));
				break;
			case AT_ColumnDefault:
			case AT_SetNotNull:
			case AT_AddIdentity:
				if (is_stamp(cmd->name))
				{
					set_verdict(v, REFUSED, "ALTER TABLE ... ALTER COLUMN",
								psprintf("Column \"%s\" of protected table \"%s\" is a stamp column: the guard sets it, and a default or NOT NULL on it would mark or refuse humans' rows.",
										 cmd->name, rel));
					break;
				}
				if (cmd->subtype == AT_ColumnDefault && column_in_key(relid, cmd->name))
					set_verdict(v, APPROVAL, "ALTER TABLE ... ALTER COLUMN ... DEFAULT",
								psprintf("Column \"%s\" is in the key of protected table \"%s\"; with another default, humans' inserts could fail or collide.",
										 cmd->name, rel));
				else if (cmd->subtype == AT_SetNotNull)
					set_verdict(v, APPROVAL, "ALTER TABLE ... SET NOT NULL",
								psprintf("NOT NULL on column \"%s\" of protected table \"%s\" would refuse humans' writes that leave it empty.",
										 cmd->name, rel));
				else if (cmd->subtype == AT_AddIdentity)
					set_verdict(v, APPROVAL, "ALTER TABLE ... ADD GENERATED ... AS IDENTITY",
								psprintf("Column \"%s\" of protected table \"%s\" would be numbered by a sequence: humans' inserts with their own values could fail (ALWAYS) or collide.",
										 cmd->name, rel));
				break;
#ifdef AG_HAVE_SET_EXPRESSION
			case AT_SetExpression:
				if (is_stamp(cmd->name))
					set_verdict(v, REFUSED, "ALTER TABLE ... SET EXPRESSION",
								psprintf("Column \"%s\" of protected table \"%s\" is a stamp column.", cmd->name, rel));
				else
					set_verdict(v, APPROVAL, "ALTER TABLE ... SET EXPRESSION",
								psprintf("It rewrites generated column \"%s\" of protected table \"%s\" with no write on record, and the new expression runs on humans' writes.",
										 cmd->name, rel));
				break;
#endif
			case AT_AddColumn:
#if PG_VERSION_NUM < 160000
			case AT_AddColumnRecurse:
#endif
				if (cmd->def && IsA(cmd->def, ColumnDef))
				{
					ColumnDef  *col = (ColumnDef *) cmd->def;
					ListCell   *lc2;
					char	   *code;

					Oid			typid = col->typeName ?
						LookupTypeNameOid(NULL, col->typeName, true) : InvalidOid;

					if (col->is_not_null)
						refusing_constraint_verdict(v, "ALTER TABLE ... ADD COLUMN", "A NOT NULL constraint", rel);
					/* a domain's CHECK and NOT NULL are the column's */
					if (OidIsValid(typid) && get_typtype(typid) == TYPTYPE_DOMAIN &&
						DomainHasConstraints(typid))
						set_verdict(v, APPROVAL, "ALTER TABLE ... ADD COLUMN",
									psprintf("The column's domain %s has constraints: on protected table \"%s\" they could refuse humans' writes, also those that leave the column out.",
											 format_type_be(typid), rel));
					/* a range's subtype_diff, ...: code of the type's owner */
					else if (OidIsValid(typid) && (code = type_user_code(typid, 0)) != NULL)
						set_verdict(v, APPROVAL, "ALTER TABLE ... ADD COLUMN",
									psprintf("The column's type %s runs code that is not the system's whenever humans write, index or analyse protected table \"%s\" (%s): it could make their statements fail.",
											 format_type_be(typid), rel, code));
					/* a domain's default is the column's (red team 15, finding 3) */
					else if (OidIsValid(typid) && (code = type_default_code(typid, 0)) != NULL)
						set_verdict(v, APPROVAL, "ALTER TABLE ... ADD COLUMN",
									psprintf("The column's type %s takes a default that is not on the allow-list (%s): it would run in humans' inserts into protected table \"%s\" that leave the column out, and could make them fail.",
											 format_type_be(typid), code, rel));
					foreach(lc2, col->constraints)
					{
						const char *kind = constraint_refusing(lfirst(lc2));

						if (kind != NULL)
							refusing_constraint_verdict(v, "ALTER TABLE ... ADD COLUMN", kind, rel);
					}
				}
				break;
			case AT_SetStorage:
				/* PLAIN keeps values in the row: a long one no longer fits */
				if (cmd->def && IsA(cmd->def, String) &&
					pg_strcasecmp(strVal(cmd->def), "plain") == 0)
					set_verdict(v, APPROVAL, "ALTER TABLE ... SET STORAGE PLAIN",
								psprintf("With storage PLAIN, column \"%s\" of protected table \"%s\" could no longer hold values too long for a page: humans' writes of them would fail.",
										 cmd->name ? cmd->name : "?", rel));
				break;
			case AT_AddIndexConstraint:
				refusing_constraint_verdict(v, "ALTER TABLE ... ADD CONSTRAINT ... USING INDEX", "A unique constraint", rel);
				break;
			case AT_SetIdentity:
			case AT_DropIdentity:
				if (is_stamp(cmd->name))
					set_verdict(v, REFUSED, "ALTER TABLE ... ALTER COLUMN",
								psprintf("Column \"%s\" of protected table \"%s\" is a stamp column.", cmd->name, rel));
				else
					set_verdict(v, APPROVAL, "ALTER TABLE ... IDENTITY",
								psprintf("It changes or drops the sequence that numbers column \"%s\" of protected table \"%s\"; humans' inserts could fail or collide.",
										 cmd->name, rel));
				break;
			case AT_AddConstraint:
#if PG_VERSION_NUM < 160000
			case AT_AddConstraintRecurse:
#endif
				if (cmd->def && IsA(cmd->def, Constraint) && constraint_stamp((Constraint *) cmd->def))
					set_verdict(v, REFUSED, "ALTER TABLE ... ADD CONSTRAINT",
								psprintf("The constraint names a stamp column of protected table \"%s\": the guard sets them, and a constraint on them could refuse humans' writes.", rel));
				else if (constraint_refusing(cmd->def) != NULL)
					refusing_constraint_verdict(v, "ALTER TABLE ... ADD CONSTRAINT", constraint_refusing(cmd->def), rel);
				break;
			case AT_AddIndex:
			case AT_ReAddIndex:
				if (cmd->def && IsA(cmd->def, IndexStmt) && index_stamp((IndexStmt *) cmd->def))
					set_verdict(v, REFUSED, "ALTER TABLE ... ADD CONSTRAINT",
								psprintf("The constraint names a stamp column of protected table \"%s\".", rel));
				break;
			case AT_DropConstraint:
#if PG_VERSION_NUM < 160000
			case AT_DropConstraintRecurse:
#endif
				if (cmd->name && constraint_is_key(relid, cmd->name))
					set_verdict(v, REFUSED, "ALTER TABLE ... DROP CONSTRAINT",
								psprintf("Constraint \"%s\" is the key by which the log identifies the rows of protected table \"%s\".",
										 cmd->name, rel));
				else if (cmd->name && OidIsValid(get_relation_constraint_oid(relid, cmd->name, true)))
					set_verdict(v, APPROVAL, "ALTER TABLE ... DROP CONSTRAINT",
								psprintf("It drops constraint \"%s\" of protected table \"%s\", which humans may rely on: a unique or exclusion constraint is what their INSERT ... ON CONFLICT infers, a CHECK or foreign key keeps their data valid.",
										 cmd->name, rel));
				break;
			case AT_ReplicaIdentity:
				set_verdict(v, REFUSED, "ALTER TABLE ... REPLICA IDENTITY",
							psprintf("The key by which the log identifies the rows of protected table \"%s\" belongs to the guard.", rel));
				break;
			case AT_EnableRowSecurity:
			case AT_DisableRowSecurity:
			case AT_ForceRowSecurity:
			case AT_NoForceRowSecurity:
				set_verdict(v, REFUSED, "ALTER TABLE ... ROW LEVEL SECURITY",
							psprintf("Row security on protected table \"%s\" decides what humans see.", rel));
				break;
			case AT_EnableRule:
			case AT_EnableAlwaysRule:
			case AT_EnableReplicaRule:
			case AT_DisableRule:
				set_verdict(v, REFUSED, "ALTER TABLE ... RULE",
							psprintf("Rules on protected table \"%s\" could rewrite writes past the guard.", rel));
				break;
			default:
				break;
		}
	}
}

static void
classify_drop(DropStmt *stmt, AgUtility *v)
{
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		List	   *names = (List *) lfirst(lc);

		if (stmt->removeType == OBJECT_TRIGGER)
		{
			Oid			relid = relid_of(makeRangeVarFromNameList(list_truncate(list_copy(names),
																			   list_length(names) - 1)));

			if (is_protected(relid))
				set_verdict(v, REFUSED, "DROP TRIGGER",
							psprintf("The triggers of protected table \"%s\" are part of its structure, which a human may have relied on; only a human may drop one.",
									 name_of(relid)));
		}
		else if (stmt->removeType == OBJECT_RULE)
		{
			Oid			relid = relid_of(makeRangeVarFromNameList(list_truncate(list_copy(names),
																			   list_length(names) - 1)));

			if (is_protected(relid))
				set_verdict(v, REFUSED, "DROP RULE",
							psprintf("A rule of protected table \"%s\" rewrites writes, humans' too, and a human may have relied on it; only a human may drop one.",
									 name_of(relid)));
		}
		else if (stmt->removeType == OBJECT_POLICY)
		{
			Oid			relid = relid_of(makeRangeVarFromNameList(list_truncate(list_copy(names),
																			   list_length(names) - 1)));

			if (is_protected(relid))
				set_verdict(v, REFUSED, "DROP POLICY",
							psprintf("Row security policies on protected table \"%s\" decide what humans see.",
									 name_of(relid)));
		}
		else if (stmt->removeType == OBJECT_INDEX)
		{
			Oid			idx = relid_of(makeRangeVarFromNameList(names));
			Oid			relid = OidIsValid(idx) ? IndexGetRelation(idx, true) : InvalidOid;

			if (OidIsValid(relid) && is_protected(relid) && index_is_key(idx))
				set_verdict(v, REFUSED, "DROP INDEX",
							psprintf("Index \"%s\" is the key by which the log identifies the rows of protected table \"%s\".",
									 name_of(idx), name_of(relid)));
			else if (OidIsValid(relid) && is_protected(relid) && index_is_unique(idx))
				set_verdict(v, APPROVAL, "DROP INDEX",
							psprintf("It drops unique index \"%s\" of protected table \"%s\", which humans may rely on: it is what their INSERT ... ON CONFLICT infers, and it keeps their keys unique.",
									 name_of(idx), name_of(relid)));
		}
	}
}

/*
 * The grantee of a GRANT that is an agent: PUBLIC (every role), a
 * registered agent role, or a role one is a member of (it holds what the
 * role is given); its name, or NULL.
 */
static const char *
agent_grantee(List *grantees)
{
	ListCell   *lc;

	foreach(lc, grantees)
	{
		RoleSpec   *rs = lfirst_node(RoleSpec, lc);
		Oid			role;

		if (rs->roletype == ROLESPEC_PUBLIC)
			return "PUBLIC";
		role = get_rolespec_oid(rs, true);
		if (OidIsValid(role) && ag_agentcode_role_is_agent(role))
			return ag_agentcode_role_name(role);
	}
	return NULL;
}

/*
 * An object of a GRANT that this transaction made (a temporary relation, a
 * relation, schema, type or routine the object-access hook saw it create:
 * tagshadow.c): the agent's own.  Not what the session made in earlier
 * transactions (red team 35, F8): behind a pooler those were the humans'.
 * Other kinds (databases, languages, foreign servers, large objects, ...)
 * count as the humans'.
 */
static bool
grant_object_own(GrantStmt *g, Node *obj)
{
	Oid			oid = InvalidOid;
	Oid			classid;

	if (g->targtype == ACL_TARGET_ALL_IN_SCHEMA)
		return ag_tagshadow_made_here(NamespaceRelationId, get_namespace_oid(strVal(obj), true));
	switch (g->objtype)
	{
		case OBJECT_TABLE:
		case OBJECT_SEQUENCE:
			oid = relid_of((RangeVar *) obj);
			classid = RelationRelationId;
			break;
		case OBJECT_SCHEMA:
			oid = get_namespace_oid(strVal(obj), true);
			classid = NamespaceRelationId;
			break;
		case OBJECT_TYPE:
		case OBJECT_DOMAIN:
			oid = type_of(obj);
			classid = TypeRelationId;
			break;
		case OBJECT_FUNCTION:
		case OBJECT_PROCEDURE:
		case OBJECT_ROUTINE:
			oid = function_of(g->objtype, obj);
			classid = ProcedureRelationId;
			break;
		default:
			return false;
	}
	return ag_tagshadow_made_here(classid, oid);
}

/*
 * The protected table whose rights a GRANT or REVOKE of this object
 * changes: the table, a sequence that numbers its rows, ALL TABLES or
 * ALL SEQUENCES IN SCHEMA of its schema; with schemas, the schema that
 * holds one (REVOKE's USAGE would take the table from humans).
 */
static Oid
grant_protected_table(GrantStmt *g, Node *obj, bool schemas)
{
	if (g->objtype == OBJECT_TABLE && g->targtype == ACL_TARGET_OBJECT)
		return is_protected(relid_of((RangeVar *) obj)) ? relid_of((RangeVar *) obj) : InvalidOid;
	if (g->objtype == OBJECT_SEQUENCE && g->targtype == ACL_TARGET_OBJECT)
	{
		Oid			seqid = relid_of((RangeVar *) obj);

		return OidIsValid(seqid) ? sequence_protected_user(seqid) : InvalidOid;
	}
	if (((g->objtype == OBJECT_TABLE || g->objtype == OBJECT_SEQUENCE) &&
		 g->targtype == ACL_TARGET_ALL_IN_SCHEMA) ||
		(schemas && g->objtype == OBJECT_SCHEMA))
		return schema_protected_table(strVal(obj));
	return InvalidOid;
}

/*
 * An object of a GRANT that runs with its owner's rights (red team 35, F8):
 * a view, materialized view, table with a rule or SECURITY DEFINER routine
 * (tagshadow.c); its description, or NULL.  ALL ... IN SCHEMA is judged at
 * COMMIT (tagshadow.c), with every other order of GRANT and change.
 */
static char *
grant_object_carrier(GrantStmt *g, Node *obj)
{
	if (g->targtype != ACL_TARGET_OBJECT)
		return NULL;
	switch (g->objtype)
	{
		case OBJECT_TABLE:
			return ag_tagshadow_rights_carrier(RelationRelationId, relid_of((RangeVar *) obj));
		case OBJECT_FUNCTION:
		case OBJECT_PROCEDURE:
		case OBJECT_ROUTINE:
			return ag_tagshadow_rights_carrier(ProcedureRelationId, function_of(g->objtype, obj));
		default:
			return NULL;
	}
}

/*
 * GRANT in a session or transaction tagged with agent_guard.agent_id whose
 * role is not a registered agent role (red team 23b, finding 4).  The
 * shared role owns the humans' objects, so its GRANT is a human's: it
 * could give a registered agent (its own registered form, say) rights the
 * humans never gave it, WITH GRANT OPTION too, unrecorded.  Refused
 * (YG004): a GRANT on a protected table, a sequence that numbers one, or
 * ALL TABLES / ALL SEQUENCES IN SCHEMA of a schema that holds one, to
 * anyone (REVOKE of them is refused to every agent: a protected table's
 * rights are the humans' to decide, either way); and a GRANT to PUBLIC,
 * to a registered agent role or to a role one is a member of, of anything
 * the transaction did not make itself, or of what it made that runs with
 * the role's rights (red team 35, F8: a view, a SECURITY DEFINER wrapper;
 * the COMMIT is judged too, tagshadow.c).  A registered agent's own GRANT stays
 * allowed: it gives what it owns or holds with a grant option, and what
 * it gives another agent is used under that agent's guard.
 */
static void
classify_tagged_grant(GrantStmt *g, AgUtility *v)
{
	const char *grantee;
	char	   *carrier;
	ListCell   *lc;

	if (!ag_identity_tagged_role())
		return;
	grantee = agent_grantee(g->grantees);
	foreach(lc, g->objects)
	{
		Oid			relid = grant_protected_table(g, lfirst(lc), false);

		if (OidIsValid(relid))
		{
			set_verdict(v, REFUSED, "GRANT",
						psprintf("The rights on protected table \"%s\" are the humans' to give; in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's GRANT would be taken for a human's.",
								 name_of(relid)));
			return;
		}
		if (grantee != NULL && !grant_object_own(g, lfirst(lc)))
		{
			set_verdict(v, REFUSED, "GRANT",
						psprintf(strcmp(grantee, "PUBLIC") == 0 ?
								 "It gives every role, agents included (%s), rights on an object this session did not make: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans', and humans decide what an agent may do. Grant from a human's (untagged) session." :
								 "It gives agent role \"%s\" rights on an object this session did not make: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans', and humans decide what a registered agent may do. Grant from a human's (untagged) session.",
								 grantee));
			return;
		}
		if (grantee != NULL && (carrier = grant_object_carrier(g, lfirst(lc))) != NULL)
		{
			/* red team 35, F8: what the session made runs with the role's rights */
			set_verdict(v, REFUSED, "GRANT",
						psprintf("It gives %s rights on %s, made in this session, which PostgreSQL runs with the rights of its owner, the role: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, that role is the humans', and the agent would reach their objects through it with rights the humans never gave it. Grant from a human's (untagged) session.",
								 strcmp(grantee, "PUBLIC") == 0 ? "every role, agents included," :
								 psprintf("agent role \"%s\"", grantee), carrier));
			return;
		}
	}
}

/*
 * GRANT role TO ... in such a session: a member holds the role's rights,
 * the humans' objects it owns included.
 */
static void
classify_tagged_grant_role(GrantRoleStmt *g, AgUtility *v)
{
	const char *grantee;

	if (!g->is_grant && ag_identity_tagged_role())
	{
		/* red team 35, F9: the members' rights are the humans' */
		set_verdict(v, REFUSED, "REVOKE role",
					pstrdup("It takes roles' membership, and the rights that come with it: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, humans decide who holds the role's rights. Revoke from a human's (untagged) session."));
		return;
	}
	if (!g->is_grant || !ag_identity_tagged_role() ||
		(grantee = agent_grantee(g->grantee_roles)) == NULL)
		return;
	set_verdict(v, REFUSED, "GRANT role",
				psprintf("It makes %s a member of a role that is not an agent's: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, humans decide what a registered agent may do.",
						 strcmp(grantee, "PUBLIC") == 0 ? "every role" : psprintf("agent role \"%s\"", grantee)));
}

/*
 * ALTER DEFAULT PRIVILEGES in such a session (red team 25, F2): the GRANT
 * it stands for, to every object the role (the humans, untagged) creates
 * later, protected ones included, and it outlives the transaction; its
 * REVOKE takes the owner's own rights on them.  Refused whatever it
 * grants or revokes: the role's defaults are the humans' to set.  A
 * registered agent's concerns only its own future objects (FOR ROLE needs
 * membership), and stays allowed.
 */
static void
classify_tagged_default_privileges(AlterDefaultPrivilegesStmt *a, AgUtility *v)
{
	if (!ag_identity_tagged_role())
		return;
	set_verdict(v, REFUSED, "ALTER DEFAULT PRIVILEGES",
				psprintf("It %s every object the role creates later, and outlives the transaction: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans', and humans decide who may use them. Set default privileges from a human's (untagged) session.",
						 a->action->is_grant ? "gives others, agents included, rights on" : "takes rights, the role's own included, on"));
}

static void
classify_grant(GrantStmt *g, AgUtility *v)
{
	ListCell   *lc;

	if (g->is_grant)
	{
		classify_tagged_grant(g, v);
		return;
	}
	/*
	 * REVOKE in a session tagged by a shared role (red team 35, F9), of
	 * anything the session did not make: the role's own rights (the
	 * humans' INSERT into the table their trigger writes would fail) and
	 * the rights the humans gave others are the humans' to take.
	 */
	if (ag_identity_tagged_role())
	{
		foreach(lc, g->objects)
		{
			if (grant_object_own(g, lfirst(lc)))
				continue;
			set_verdict(v, REFUSED, "REVOKE",
						pstrdup("It takes rights on an object this transaction did not make: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans', and taking the role's own rights (or those the humans gave) would make their later statements fail. Revoke from a human's (untagged) session."));
			return;
		}
	}
	foreach(lc, g->objects)
	{
		Oid			relid = grant_protected_table(g, lfirst(lc), true);

		if (OidIsValid(relid))
			set_verdict(v, REFUSED, "REVOKE",
						psprintf("Humans keep their rights on protected table \"%s\".", name_of(relid)));
		if (v->verdict == REFUSED)
			continue;
		/* what a protected table relies on (its code, types, sequences, the tables its keys reference) */
		if (g->targtype == ACL_TARGET_ALL_IN_SCHEMA)
			judge_relied_in_schema(v, g->objtype, strVal(lfirst(lc)));
		else if (g->targtype != ACL_TARGET_OBJECT)
			continue;
		else if (g->objtype == OBJECT_TABLE || g->objtype == OBJECT_SEQUENCE)
			judge_relied(v, "REVOKE", RelationRelationId, relid_of(lfirst_node(RangeVar, lc)));
		else if (g->objtype == OBJECT_FUNCTION || g->objtype == OBJECT_PROCEDURE ||
				 g->objtype == OBJECT_ROUTINE)
			judge_relied(v, "REVOKE", ProcedureRelationId, function_of(g->objtype, lfirst(lc)));
		else if (g->objtype == OBJECT_TYPE || g->objtype == OBJECT_DOMAIN)
			judge_relied(v, "REVOKE", TypeRelationId, type_of(lfirst(lc)));
		else if (g->objtype == OBJECT_SCHEMA)
			judge_relied(v, "REVOKE", NamespaceRelationId, get_namespace_oid(strVal(lfirst(lc)), true));
	}
}

/* ALTER ... OWNER TO of an object a protected table relies on. */
static void
classify_owner(AlterOwnerStmt *a, AgUtility *v)
{
	switch (a->objectType)
	{
		case OBJECT_FUNCTION:
		case OBJECT_PROCEDURE:
		case OBJECT_ROUTINE:
			judge_relied(v, "ALTER ... OWNER TO", ProcedureRelationId, function_of(a->objectType, a->object));
			break;
		case OBJECT_TYPE:
		case OBJECT_DOMAIN:
			judge_relied(v, "ALTER ... OWNER TO", TypeRelationId, type_of(a->object));
			break;
		case OBJECT_SCHEMA:
			if (a->object && IsA(a->object, String))
				judge_relied(v, "ALTER ... OWNER TO", NamespaceRelationId,
							 get_namespace_oid(strVal(a->object), true));
			break;
		default:
			break;
	}
}

/*
 * ALTER EXTENSION ... ADD | DROP of an object a protected table relies on
 * (a type or domain its columns use, a function its defaults, CHECKs,
 * generated columns, indexes or triggers call, an operator, operator class
 * or family, collation, sequence, a table its foreign keys reference, a
 * schema holding one; red team 17c, finding 2).  A member of an extension
 * is left out of pg_dump (the extension's script is to make it): restored,
 * the protected table's CREATE TABLE fails, its rows are lost, and so is
 * the guard's list of protected tables, whose COPY names it; DROP
 * EXTENSION would drop it with the columns and constraints that use it.
 * Taken out of an extension, a member is dumped besides the script that
 * makes it, and the restore fails on it.  Refused, as a new owner of such
 * an object is (the reliance walk of REVOKE and OWNER TO).  The protected
 * table itself, its row type and its schema are refused by reach.c.
 */
static void
classify_extension_contents(AlterExtensionContentsStmt *s, AgUtility *v)
{
	Relation	rel = NULL;
	ObjectAddress addr;
	char	   *phrase = NULL;
	Oid			user;

	addr = get_object_address(s->objtype, s->object, &rel, AccessShareLock, true);
	if (rel != NULL)
		relation_close(rel, NoLock);
	if (!OidIsValid(addr.objectId))
		return;					/* PostgreSQL's own error */
	user = relied_upon(addr.classId, addr.objectId, &phrase);
	if (!OidIsValid(user))
		return;
	if (s->action > 0)
		set_verdict(v, REFUSED, "ALTER EXTENSION ... ADD",
					psprintf("Protected table %s relies on %s: as a member of extension \"%s\" it would be left out of pg_dump's backup, whose restore would then lose the table and its rows, and DROP EXTENSION would drop it.",
							 ag_qualified_relname(user), phrase, s->extname));
	else
		set_verdict(v, REFUSED, "ALTER EXTENSION ... DROP",
					psprintf("Protected table %s relies on %s: taken out of extension \"%s\", pg_dump would dump it besides the extension's script that makes it, and the restore would fail on it.",
							 ag_qualified_relname(user), phrase, s->extname));
}

/*
 * ALTER TRIGGER | INDEX | FUNCTION | PROCEDURE | MATERIALIZED VIEW ...
 * [NO] DEPENDS ON EXTENSION (red team 31, F7).  DEPENDS records an
 * automatic dependency: a later DROP EXTENSION, a human's without CASCADE
 * included, drops the object with no notice.  Tied so, the guard's stamp
 * and capture triggers of a protected table went with a human's tidy-up of
 * the agent's extension, and the agent's later writes of the table were
 * unstamped, unlogged, its deletes hard; an index or a function a
 * protected table relies on goes the same way.  NO DEPENDS unties what a
 * human tied on purpose.  An agent has no need for either on what is not
 * its own: refused (YG004, on record) unless the object is scratch of its
 * session (a relation ag_relation_exempt() lets through, on a table that
 * is scratch too; a routine the session created that no protected table
 * relies on).  The backstop for what gets past (a human's own ALTER ...
 * DEPENDS, then DROP EXTENSION) is the write check of scope.c.
 */
static void
classify_depends_on_extension(AlterObjectDependsStmt *s, AgUtility *v)
{
	Relation	rel = NULL;
	ObjectAddress addr;
	bool		scratch = false;
	char	   *desc;
	const char *what = s->remove ? "ALTER ... NO DEPENDS ON EXTENSION" :
		"ALTER ... DEPENDS ON EXTENSION";
	const char *ext = s->extname ? strVal(s->extname) : "?";

	addr = get_object_address_rv(s->objectType, s->relation, (List *) s->object, &rel,
								 AccessShareLock, true);
	if (rel != NULL)
	{
		Oid			relid = RelationGetRelid(rel);
		Oid			table = rel->rd_rel->relkind == RELKIND_INDEX ||
			rel->rd_rel->relkind == RELKIND_PARTITIONED_INDEX ?
			IndexGetRelation(relid, true) : relid;

		scratch = ag_relation_exempt(relid) && ag_relation_exempt(table) &&
			!is_protected(table);
		relation_close(rel, NoLock);
	}
	if (!OidIsValid(addr.objectId))
		return;					/* PostgreSQL's own error */
	if (addr.classId == ProcedureRelationId)
	{
		char	   *phrase = NULL;

		scratch = ag_object_created_here(addr.objectId) &&
			!OidIsValid(relied_upon(ProcedureRelationId, addr.objectId, &phrase));
	}
	if (addr.classId == TriggerRelationId && s->object != NULL &&
		strncmp(strVal(llast(castNode(List, s->object))), "zz_agent_guard_", 15) == 0)
		scratch = false;
	if (scratch)
		return;
	desc = getObjectDescription(&addr, true);
	if (desc == NULL)
		desc = pstrdup("the object");
	set_verdict(v, REFUSED, what,
				s->remove ?
				psprintf("It unties %s from extension \"%s\", which a human tied there on purpose; only objects the agent's own session created are its to tie or untie.",
						 desc, ext) :
				psprintf("It ties %s to extension \"%s\": a later DROP EXTENSION, a human's without CASCADE too, would drop it without a notice (a trigger of the guard, an index or constraint of a protected table, or a function one relies on, and the guard or the table's structure with it); only objects the agent's own session created are its to tie or untie.",
						 desc, ext));
}

/*
 * A function that is not the system's (an agent's, anyone's), in an
 * analysed expression: an index or statistics expression or predicate that
 * calls one runs it whenever the planner loads them (it folds their
 * constant calls), on every write of the table, humans' included, and in
 * ANALYZE.  Operators and I/O coercions count by the functions behind them;
 * a cast to a domain with constraints counts as such a call.
 */
static bool
user_function_oid(Oid funcid, void *context)
{
	return funcid >= FirstNormalObjectId;
}

static bool
calls_user_code(Node *node, void *context)
{
	const char **what = (const char **) context;

	if (node == NULL)
		return false;
	if (check_functions_in_node(node, user_function_oid, NULL))
	{
		*what = "calls a function that is not the system's";
		return true;
	}
	/* a cast to a domain checks its constraints (an agent's CHECK) */
	if (IsA(node, CoerceToDomain) &&
		DomainHasConstraints(((CoerceToDomain *) node)->resulttype))
	{
		*what = "casts to a domain with constraints";
		return true;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, calls_user_code, context, 0);
	return expression_tree_walker(node, calls_user_code, context);
}

/*
 * An index or statistics expression, a partial index's predicate: the
 * system's operators and casts can fail too (1 / (CASE WHEN id > 1000
 * THEN 0 ELSE 1 END)), for the rows the agent chooses, in humans' writes,
 * rollback_run() and ANALYZE (red team 12, finding 2).  Only plain column
 * indexes and statistics are the agent's to add to a protected table.
 */
#define INDEX_EXPRESSION "an expression (the system's operators and casts can fail too, on the values the agent chooses)"
#define INDEX_PREDICATE "a predicate (the system's operators and casts can fail too, on the values the agent chooses)"

/*
 * What of a type runs code that is not the system's whenever a value of it
 * is written, indexed or analysed, or NULL: a range type's canonical or
 * subtype_diff function, or the operator class that orders its subtype
 * (range input, GiST indexes and ANALYZE call them: red team 11, finding
 * 9), a domain's constraints; through domains, arrays, ranges, multiranges
 * and the attributes of composite types.  A base type's own functions are
 * not looked at: only a superuser may create a base type.
 */
static char *
type_user_code(Oid typid, int depth)
{
	char	   *found = NULL;

	if (!OidIsValid(typid) || depth > 8)
		return NULL;
	check_stack_depth();
	if (typid >= FirstNormalObjectId && (found = agent_cast_of(typid)) != NULL)
		return found;
	switch (get_typtype(typid))
	{
		case TYPTYPE_DOMAIN:
			if (DomainHasConstraints(typid))	/* its base domains' too */
				return psprintf("domain %s has constraints", format_type_be(typid));
			return type_user_code(getBaseType(typid), depth + 1);
		case TYPTYPE_RANGE:
			{
				HeapTuple	tup = SearchSysCache1(RANGETYPE, ObjectIdGetDatum(typid));
				Oid			subtype;
				Form_pg_range r;

				if (!HeapTupleIsValid(tup))
					return NULL;
				r = (Form_pg_range) GETSTRUCT(tup);
				subtype = r->rngsubtype;
				if (OidIsValid(r->rngcanonical) && r->rngcanonical >= FirstNormalObjectId)
					found = psprintf("range type %s has canonical function %s, which is not the system's",
									 format_type_be(typid), format_procedure(r->rngcanonical));
				else if (OidIsValid(r->rngsubdiff) && r->rngsubdiff >= FirstNormalObjectId)
					found = psprintf("range type %s has subtype_diff function %s, which is not the system's",
									 format_type_be(typid), format_procedure(r->rngsubdiff));
				else if (r->rngsubopc >= FirstNormalObjectId)
					found = psprintf("range type %s orders its bounds with an operator class that is not the system's",
									 format_type_be(typid));
				ReleaseSysCache(tup);
				return found ? found : type_user_code(subtype, depth + 1);
			}
		case TYPTYPE_MULTIRANGE:
			return type_user_code(get_multirange_range(typid), depth + 1);
		case TYPTYPE_COMPOSITE:
			{
				TupleDesc	desc;
				int			i;

				if (typid == RECORDOID)
					return NULL;
				desc = lookup_rowtype_tupdesc(typid, -1);
				for (i = 0; i < desc->natts && found == NULL; i++)
					if (!TupleDescAttr(desc, i)->attisdropped)
						found = type_user_code(TupleDescAttr(desc, i)->atttypid, depth + 1);
				ReleaseTupleDesc(desc);
				return found;
			}
		default:
			/* an array: its elements */
			return type_user_code(get_element_type(typid), depth + 1);
	}
}

/*
 * An agent's cast to or from this type (not a built-in one), described, or
 * NULL: one whose function an agent role owns, or (WITHOUT FUNCTION, WITH
 * INOUT) one between types of which an agent role owns one.  Such a cast
 * decides how humans' values of a column of the type are converted (red
 * team 20, finding 8): made before the column, the column's ADD COLUMN or
 * ALTER COLUMN ... TYPE on a protected table needs approval, as a type
 * that runs code that is not the system's.  pg_cast is small (a few
 * hundred rows), and this runs for DDL only.
 */
static char *
agent_cast_of(Oid typid)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *found = NULL;

	rel = table_open(CastRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (found == NULL && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_cast c = (Form_pg_cast) GETSTRUCT(tup);
		bool		agents;

		if (c->oid < FirstNormalObjectId || (c->castsource != typid && c->casttarget != typid))
			continue;
		if (OidIsValid(c->castfunc))
			agents = ag_agentcode_role_is_agent(ag_agentcode_function_owner(c->castfunc));
		else
			agents = ag_agentcode_role_is_agent(ag_agentcode_type_owner(c->castsource)) ||
				ag_agentcode_role_is_agent(ag_agentcode_type_owner(c->casttarget));
		if (agents)
			found = OidIsValid(c->castfunc) ?
				psprintf("the cast from %s to %s by function %s is an agent's, and converts humans' values",
						 format_type_be(c->castsource), format_type_be(c->casttarget),
						 format_procedure(c->castfunc)) :
				psprintf("the cast from %s to %s %s is an agent's, and converts humans' values",
						 format_type_be(c->castsource), format_type_be(c->casttarget),
						 c->castmethod == COERCION_METHOD_INOUT ? "WITH INOUT" : "WITHOUT FUNCTION");
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * A stamp column's values are the guard's: an agent id or run id of at
 * most AG_MAX_ID_LEN bytes (identity.c), so an index key of one is as long
 * as a varchar of that length at most.
 */
static void
stamp_key_bound(const char *attname, Oid *type, int32 *typmod)
{
	if (attname != NULL && (strcmp(attname, "ag_agent_id") == 0 || strcmp(attname, "ag_run_id") == 0))
	{
		*type = VARCHAROID;
		*typmod = AG_MAX_ID_LEN + VARHDRSZ;
	}
}

/*
 * A plain index's columns (key and INCLUDE) whose values humans may write
 * could make an entry longer than access method am takes (width.c; red
 * team 30, finding 2): what, or NULL.
 */
static const char *
index_key_too_long(Oid relid, Oid am, List *elems)
{
	int			n = list_length(elems);
	Oid		   *types = palloc0(sizeof(Oid) * Max(n, 1));
	int32	   *typmods = palloc0(sizeof(int32) * Max(n, 1));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, elems)
	{
		IndexElem  *e = lfirst_node(IndexElem, lc);
		AttrNumber	att = e->name ? get_attnum(relid, e->name) : InvalidAttrNumber;
		Oid			coll;

		if (att == InvalidAttrNumber)
			continue;			/* PostgreSQL's error */
		get_atttypetypmodcoll(relid, att, &types[i], &typmods[i], &coll);
		stamp_key_bound(e->name, &types[i], &typmods[i]);
		i++;
	}
	return ag_width_index_key(am, i, types, typmods);
}

/*
 * What of an index on a protected table runs code that is not the
 * system's: an expression or predicate calling such a function, or an
 * operator class that is not the system's (its support functions compare
 * every value written).  NULL if nothing.  The statement is analysed on a
 * copy, as DefineIndex will analyse it.
 */
static const char *
index_user_code(Oid relid, IndexStmt *s, const char **too_long)
{
	IndexStmt  *t;
	Oid			am;
	ListCell   *lc;
	const char *what = NULL;

	if (s->accessMethod == NULL)
		return NULL;
	am = get_am_oid(s->accessMethod, true);
	if (!OidIsValid(am))
		return NULL;			/* PostgreSQL's error */

	/*
	 * PostgreSQL checks ownership before it locks the table (its
	 * RangeVarGetRelidExtended callback): a role that may not index the
	 * table takes no lock here either, or a failing CREATE INDEX in an open
	 * transaction would hold humans' writes of their table.
	 */
	if (!AG_REL_OWNER(relid, GetUserId()))
		return NULL;			/* PostgreSQL's error */
	/* the lock DefineIndex's caller takes first: no upgrade */
	LockRelationOid(relid, s->concurrent ? ShareUpdateExclusiveLock : ShareLock);
	t = transformIndexStmt(relid, copyObject(s), NULL);
	foreach(lc, t->indexParams)
	{
		IndexElem  *e = lfirst_node(IndexElem, lc);
		Oid			opclass = InvalidOid;

		Oid			typid = InvalidOid;
		char	   *code;

		if (e->expr != NULL && calls_user_code(e->expr, &what))
			return psprintf("an expression that %s", what);
		if (e->expr != NULL)
			typid = exprType(e->expr);
		else if (e->name != NULL)
		{
			AttrNumber	att = get_attnum(relid, e->name);

			if (att != InvalidAttrNumber)
				typid = get_atttype(relid, att);
		}
		/* the type's own code: a range's subtype_diff runs in GiST */
		if (OidIsValid(typid) && (code = type_user_code(typid, 0)) != NULL)
			return psprintf("a key whose type runs code that is not the system's (%s)", code);
		if (e->expr != NULL && !IsA(e->expr, Var))
			return INDEX_EXPRESSION;
		if (e->opclass != NIL)
			opclass = get_opclass_oid(am, e->opclass, true);
		else if (OidIsValid(typid))
			opclass = GetDefaultOpClass(typid, am);
		if (OidIsValid(opclass) && opclass >= FirstNormalObjectId)
			return "an operator class that is not the system's";
	}
	if (t->whereClause != NULL && calls_user_code(t->whereClause, &what))
		return psprintf("a predicate that %s", what);
	if (t->whereClause != NULL)
		return INDEX_PREDICATE;
	*too_long = index_key_too_long(relid, am, list_concat_copy(t->indexParams, t->indexIncludingParams));
	return NULL;
}

/* The same for CREATE STATISTICS: its expressions. */
static const char *
statistics_user_code(Oid relid, CreateStatsStmt *s)
{
	CreateStatsStmt *t;
	ListCell   *lc;
	const char *what = NULL;

	if (!AG_REL_OWNER(relid, GetUserId()))
		return NULL;			/* PostgreSQL's error; no lock of ours */
	LockRelationOid(relid, ShareUpdateExclusiveLock);	/* as CreateStatistics' caller */
	t = transformStatsStmt(relid, copyObject(s), NULL);
	foreach(lc, t->exprs)
	{
		StatsElem  *e = lfirst_node(StatsElem, lc);
		Oid			typid = InvalidOid;
		char	   *code;

		if (e->expr != NULL && calls_user_code(e->expr, &what))
			return psprintf("an expression that %s", what);
		if (e->expr != NULL)
			typid = exprType(e->expr);
		else if (e->name != NULL)
		{
			AttrNumber	att = get_attnum(relid, e->name);

			if (att != InvalidAttrNumber)
				typid = get_atttype(relid, att);
		}
		/* ANALYZE and the planner compare and measure its values */
		if (OidIsValid(typid) && (code = type_user_code(typid, 0)) != NULL)
			return psprintf("a column or expression whose type runs code that is not the system's (%s)", code);
		if (e->expr != NULL && !IsA(e->expr, Var))
			return INDEX_EXPRESSION;
	}
	return NULL;
}

/* ---------------------------------------------------------------------
 * Defaults an agent may give a protected table's column without approval
 *
 * The system's code can fail too, on purpose: DEFAULT (1/0), a cast that
 * overflows, nextval() of a sequence humans may not use, that is used up
 * or temporary (red team 12, finding 2).  A default runs in every insert
 * that leaves its column out, humans' and rollback_run()'s included.  So
 * an agent's default is an allow-list: a constant (an expression of
 * immutable system functions that PostgreSQL computes now, without error,
 * to a value), one of the system's functions of no argument that do not
 * fail (now(), clock_timestamp(), gen_random_uuid(), current_user, ...;
 * cast without a type modifier), or nextval() of a sequence the column
 * itself owns (a serial's; not temporary).  Anything else needs a human's
 * approval.
 * ---------------------------------------------------------------------
 */

/* The system's functions of no argument a default may call. */
static bool
safe_default_function(Oid funcid)
{
	static const char *const names[] = {
		"now", "clock_timestamp", "statement_timestamp", "transaction_timestamp",
		"current_timestamp", "localtimestamp", "current_date", "current_time", "localtime",
		"gen_random_uuid", "uuidv4", "uuidv7", "random",
		"current_user", "session_user", "current_role", "user", "current_schema",
		"current_database", NULL
	};
	char	   *name;
	int			i;
	bool		found = false;

	if (funcid >= FirstNormalObjectId || get_func_namespace(funcid) != PG_CATALOG_NAMESPACE)
		return false;
	name = get_func_name(funcid);
	for (i = 0; name != NULL && names[i] != NULL && !found; i++)
		found = strcmp(name, names[i]) == 0;
	return found;
}

/*
 * nextval() of the sequence the column owns, not temporary: NULL, or what
 * else the default draws from.  attnum 0: a column not made yet (ADD
 * COLUMN), which owns nothing.
 */
static const char *
nextval_unsafe(Node *arg, Oid relid, AttrNumber attnum)
{
	Oid			seq;
	Oid			owner;
	int32		col;

	while (arg != NULL && IsA(arg, RelabelType))
		arg = (Node *) ((RelabelType *) arg)->arg;
	if (arg == NULL || !IsA(arg, Const) || ((Const *) arg)->constisnull ||
		((Const *) arg)->consttype != REGCLASSOID)
		return "draws from a sequence it chooses when it runs";
	seq = DatumGetObjectId(((Const *) arg)->constvalue);
	if (isAnyTempNamespace(get_rel_namespace(seq)))
		return "draws from a temporary sequence, which humans may not use and the session's end drops";
	/* its own: still, humans may lack the right to use it, or it may run out */
	if (attnum > 0 && sequenceIsOwned(seq, DEPENDENCY_AUTO, &owner, &col) &&
		owner == relid && col == attnum)
		return ag_width_sequence_unsafe(seq, relid, get_atttype(relid, attnum));
	return psprintf("draws from sequence \"%s\", which the column does not own (humans may lack the right to use it, or it may run out)",
					get_rel_name(seq) ? get_rel_name(seq) : "?");
}

/*
 * A value of the allow-list's functions or nextval(), under casts that
 * take no type modifier (an I/O cast only to text): true, or false with
 * *what set when it is nextval() of another sequence.
 */
static bool
safe_default_source(Node *n, Oid relid, AttrNumber attnum, const char **what)
{
	for (;;)
	{
		if (n != NULL && IsA(n, RelabelType))
			n = (Node *) ((RelabelType *) n)->arg;
		else if (n != NULL && IsA(n, CoerceViaIO) && ((CoerceViaIO *) n)->resulttype == TEXTOID)
			n = (Node *) ((CoerceViaIO *) n)->arg;
		else if (n != NULL && IsA(n, FuncExpr) &&
				 ((FuncExpr *) n)->funcid < FirstNormalObjectId &&
				 (((FuncExpr *) n)->funcformat == COERCE_IMPLICIT_CAST ||
				  ((FuncExpr *) n)->funcformat == COERCE_EXPLICIT_CAST) &&
				 list_length(((FuncExpr *) n)->args) == 1 &&
				 !IsA(linitial(((FuncExpr *) n)->args), Const))
			n = linitial(((FuncExpr *) n)->args);
		else
			break;
	}
	if (n == NULL)
		return false;
	if (IsA(n, SQLValueFunction))
		return true;
	if (IsA(n, FuncExpr))
	{
		FuncExpr   *f = (FuncExpr *) n;

		if (f->funcid == F_NEXTVAL && list_length(f->args) == 1)
		{
			*what = nextval_unsafe(linitial(f->args), relid, attnum);
			return *what == NULL;
		}
		return f->args == NIL && safe_default_function(f->funcid);
	}
	return false;
}

/*
 * Does an expression of immutable functions compute, now, to a constant?
 * In a subtransaction: an error (division by zero, an overflow, a bad
 * input) is the answer, in *error, not the statement's end.  A cancel or
 * worse is thrown on.
 */
static bool
folds_to_constant(Node *expr, char **error, bool *isnull)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool folded = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		Node	   *result = eval_const_expressions(NULL, copyObject(expr));

		folded = result != NULL && IsA(result, Const);
		*isnull = folded && ((Const *) result)->constisnull;
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (e->elevel > ERROR || e->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			e->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			ReThrowError(e);
		*error = e->message ? pstrdup(e->message) : pstrdup("an error");
		FreeErrorData(e);
	}
	PG_END_TRY();
	return folded;
}

/*
 * What makes an analysed default expression for column attnum (0: a new
 * one) of relid, of type coltype (its own domain's check is not the
 * default's: InvalidOid when the expression is coerced to the base type
 * already), not one an agent may set without approval: NULL if it is.
 */
static const char *
default_not_allowed(Node *expr, Oid relid, AttrNumber attnum, Oid coltype)
{
	const char *what = NULL;
	char	   *error = NULL;
	bool		isnull = false;

	if (expr != NULL && IsA(expr, CoerceToDomain) && OidIsValid(coltype) &&
		((CoerceToDomain *) expr)->resulttype == coltype)
		expr = (Node *) ((CoerceToDomain *) expr)->arg;
	if (expr == NULL || IsA(expr, Const))
		return NULL;
	if (safe_default_source(expr, relid, attnum, &what))
		return NULL;
	if (what != NULL)
		return what;
	if (contain_mutable_functions(expr) || contain_var_clause(expr))
		return "is neither a constant nor one of the system's functions known not to fail (now(), clock_timestamp(), gen_random_uuid(), nextval() of the column's own sequence, ...)";
	if (folds_to_constant(expr, &error, &isnull))
	{
		/* red team 22, finding 5: nullif(1, 1) is DROP DEFAULT of a NOT NULL column */
		if (isnull && attnum > 0 && get_attname(relid, attnum, true) != NULL &&
			column_not_null(relid, get_attname(relid, attnum, true)))
			return "computes to NULL, for a column that is NOT NULL: humans' inserts that leave it out would fail";
		return NULL;
	}
	if (error != NULL)
		return psprintf("fails when computed (%s)", error);
	return "is not a constant PostgreSQL can compute now";
}

/*
 * What of a column default runs code that is not the system's: NULL if
 * nothing.  A default runs in every insert that leaves its column out,
 * humans' included, and ADD COLUMN evaluates it at once for the existing
 * rows (for each row when it is volatile).  The raw expression is
 * analysed on a copy, as AddRelationNewConstraints() will analyse it:
 * what PostgreSQL would refuse (a column reference, a subquery, an
 * unknown function) it refuses here with its own error.  The coercion to
 * the column's type counts (an assignment cast of an agent's), but not the
 * column's own domain: its constraints run on every write of the column
 * anyway, and were judged when the column got the domain.
 */
static const char *
default_user_code(Node *raw, Oid typid, int32 typmod, Oid relid, AttrNumber attnum)
{
	ParseState *pstate;
	Node	   *expr;
	const char *what = NULL;

	if (raw == NULL)
		return NULL;
	pstate = make_parsestate(NULL);
	expr = transformExpr(pstate, copyObject(raw), EXPR_KIND_COLUMN_DEFAULT);
	if (OidIsValid(typid))
	{
		int32		basetypmod = typmod;
		Oid			basetype = getBaseTypeAndTypmod(typid, &basetypmod);
		Node	   *coerced;

		coerced = coerce_to_target_type(pstate, expr, exprType(expr), basetype, basetypmod,
										COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);
		if (coerced != NULL)	/* else PostgreSQL's error, later */
			expr = coerced;
	}
	/* as cookDefault(): lower('X') needs its collation to be computed */
	assign_expr_collations(pstate, expr);
	free_parsestate(pstate);
	if (calls_user_code(expr, &what))
		return psprintf("a default that %s", what);
	what = default_not_allowed(expr, relid, attnum, InvalidOid);
	if (what != NULL)
		return psprintf("a default that %s", what);
	return NULL;
}

/*
 * What of a type's domain defaults is not on the allow-list, or NULL: a
 * column of a domain takes the domain's default (its own, or a base
 * domain's) in every insert that leaves it out, as it would take a column
 * default (red team 15, finding 3).  Through base domains, arrays and the
 * attributes of composite types, as type_user_code() looks: a column's own
 * default does not shield a domain's (DROP DEFAULT of the column is the
 * agent's to run).
 */
static char *
type_default_code(Oid typid, int depth)
{
	char	   *found = NULL;

	if (!OidIsValid(typid) || depth > 8)
		return NULL;
	check_stack_depth();
	switch (get_typtype(typid))
	{
		case TYPTYPE_DOMAIN:
			{
				HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
				bool		isnull = true;
				Datum		d = (Datum) 0;

				if (HeapTupleIsValid(tup))
				{
					d = SysCacheGetAttr(TYPEOID, tup, Anum_pg_type_typdefaultbin, &isnull);
					if (!isnull)
					{
						Node	   *expr = stringToNode(TextDatumGetCString(d));
						const char *what = NULL;

						if (!calls_user_code(expr, &what))
							what = default_not_allowed(expr, InvalidOid, 0, InvalidOid);
						if (what != NULL)
							found = psprintf("domain %s has a default that %s", format_type_be(typid), what);
					}
					ReleaseSysCache(tup);
				}
				return found ? found : type_default_code(getBaseType(typid), depth + 1);
			}
		case TYPTYPE_COMPOSITE:
			{
				TupleDesc	desc;
				int			i;

				if (typid == RECORDOID)
					return NULL;
				desc = lookup_rowtype_tupdesc(typid, -1);
				for (i = 0; i < desc->natts && found == NULL; i++)
					if (!TupleDescAttr(desc, i)->attisdropped)
						found = type_default_code(TupleDescAttr(desc, i)->atttypid, depth + 1);
				ReleaseTupleDesc(desc);
				return found;
			}
		case TYPTYPE_RANGE:
			return type_default_code(get_range_subtype(typid), depth + 1);
		case TYPTYPE_MULTIRANGE:
			return type_default_code(get_multirange_range(typid), depth + 1);
		default:
			return type_default_code(get_element_type(typid), depth + 1);
	}
}

/* The default an ADD COLUMN gives its column, raw; NULL if none. */
static Node *
column_raw_default(ColumnDef *col)
{
	ListCell   *lc;

	if (col->raw_default != NULL)
		return col->raw_default;
	foreach(lc, col->constraints)
	{
		Constraint *c = lfirst(lc);

		if (IsA(c, Constraint) && c->contype == CONSTR_DEFAULT)
			return c->raw_expr;
	}
	return NULL;
}

/*
 * The protected table an ALTER TABLE of relid reaches: relid, or an
 * inheritance child or partition it recurses to (not with ONLY).
 */
static Oid
protected_reached(Oid relid, bool inh)
{
	ListCell   *lc;

	if (is_protected(relid))
		return relid;
	if (!inh || !OidIsValid(relid) || !has_subclass(relid))
		return InvalidOid;
	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
		if (is_protected(lfirst_oid(lc)))
			return lfirst_oid(lc);
	return InvalidOid;
}

/*
 * ALTER COLUMN ... DROP DEFAULT (or SET DEFAULT NULL) of a NOT NULL column
 * of a protected table, or of a table whose protected children get it
 * (recursing): approval, as for a key column; humans' inserts that leave
 * the column out would fail (red team 20a, finding 4).  A protected
 * table's own key column is judged below, with SET DEFAULT.  Stamp
 * columns are refused below.
 */
static void
judge_removed_default(AgUtility *v, AlterTableStmt *stmt, Oid relid, const char *colname)
{
	Oid			user = protected_reached(relid, stmt->relation->inh);

	if (!OidIsValid(user) || colname == NULL || is_stamp(colname) ||
		!ag_agent_could(AG_ACT_ALTER, relid))
		return;
	if (user == relid && column_in_key(relid, colname))
		return;
	if (!column_not_null(user, colname) && !column_in_key(user, colname))
		return;
	set_verdict(v, APPROVAL, "ALTER TABLE ... ALTER COLUMN ... DROP DEFAULT",
				psprintf("Column \"%s\" of protected table \"%s\" is NOT NULL%s: without its default, humans' inserts that leave it out would fail.",
						 colname, name_of(user),
						 column_in_key(user, colname) ? " and in its key" : ""));
}

/*
 * ADD COLUMN ... DEFAULT and ALTER COLUMN ... SET DEFAULT whose default
 * runs code that is not the system's, on a protected table or on a table
 * whose protected children get the column or the default: approval.  Not
 * judged when PostgreSQL will refuse the agent the ALTER TABLE (not the
 * owner), or skip the column (ADD COLUMN IF NOT EXISTS of one that exists).
 */
static void
judge_default(AgUtility *v, AlterTableStmt *stmt, Oid relid, AlterTableCmd *cmd)
{
	Oid			user;
	Node	   *raw = NULL;
	const char *colname = NULL;
	Oid			typid = InvalidOid;
	int32		typmod = -1;
	const char *code;
	AttrNumber	att = InvalidAttrNumber;

	if (cmd->subtype == AT_ColumnDefault)
	{
		Oid			collid;

		raw = cmd->def;			/* NULL: DROP DEFAULT */
		colname = cmd->name;
		att = colname ? get_attnum(relid, colname) : InvalidAttrNumber;
		if (att == InvalidAttrNumber)
			return;				/* PostgreSQL's error */
		if (default_removed(raw))
		{
			judge_removed_default(v, stmt, relid, colname);
			return;
		}
		get_atttypetypmodcoll(relid, att, &typid, &typmod, &collid);
	}
	else if (AG_IS_ADD_COLUMN(cmd->subtype) && cmd->def != NULL && IsA(cmd->def, ColumnDef))
	{
		ColumnDef  *col = (ColumnDef *) cmd->def;

		raw = column_raw_default(col);
		colname = col->colname;
		if (raw == NULL || col->typeName == NULL ||
			!OidIsValid(LookupTypeNameOid(NULL, col->typeName, true)))
			return;				/* no default, or PostgreSQL's error */
		if (cmd->missing_ok && colname != NULL && get_attnum(relid, colname) != InvalidAttrNumber)
			return;
		typenameTypeIdAndMod(NULL, col->typeName, &typid, &typmod);
	}
	else
		return;
	user = protected_reached(relid, stmt->relation->inh);
	if (!OidIsValid(user) || !ag_agent_could(AG_ACT_ALTER, relid))
		return;
	code = default_user_code(raw, typid, typmod, relid, att);
	if (code != NULL)
		set_verdict(v, APPROVAL,
					cmd->subtype == AT_ColumnDefault ? "ALTER TABLE ... ALTER COLUMN ... SET DEFAULT" :
					"ALTER TABLE ... ADD COLUMN ... DEFAULT",
					psprintf("Column \"%s\" of protected table \"%s\" would have %s: it would run in humans' inserts that leave the column out, and could make them fail.",
							 colname ? colname : "?", name_of(user), code));
}

/*
 * ALTER TABLE | VIEW | MATERIALIZED VIEW | FOREIGN TABLE ... RENAME COLUMN
 * of a relation that is not protected itself but whose row type a
 * protected column uses: the field is renamed in that column's values, as
 * ALTER TYPE ... RENAME ATTRIBUTE renames it (red team 12, finding 1).
 * The same decision: approval.  A protected relation's own column rename
 * is judged as such (gate.c).
 */
static void
classify_row_type_column_rename(RenameStmt *r, Oid relid, AgUtility *v)
{
	Oid			rowtype;
	Oid			user;

	if (is_protected(relid))
		return;
	rowtype = get_rel_type_id(relid);
	if (!OidIsValid(rowtype))
		return;
	user = type_protected_user(rowtype, 0);
	if (!OidIsValid(user))
		return;
	if (!ag_agent_could(AG_ACT_ALTER, relid))
		v->unrunnable = true;	/* renameatt() wants the owner */
	set_verdict(v, APPROVAL, "ALTER TABLE ... RENAME COLUMN",
				psprintf("Column \"%s\" of \"%s\" is a field of its row type, which protected table \"%s\" uses: its values there would appear in the log under another name, humans' queries naming the field would fail, and earlier images could no longer be restored.",
						 r->subname ? r->subname : "?", name_of(relid), name_of(user)));
}

/*
 * CREATE CAST: the protected relation whose values are of this type (a
 * column of it, or of an array, domain, range or composite type built on
 * it: type_protected_user()), or InvalidOid.  A domain counts by its base
 * type too (PostgreSQL ignores a cast to or from a domain, but says so
 * only in a warning).  A cast from text to an agent's enum AS ASSIGNMENT
 * converts every text a human writes to a column of the enum, by the
 * agent's function; AS IMPLICIT it also decides which rows a human's
 * WHERE col = $1 hits; even an explicit one runs in a human's col::type
 * (red team 20, finding 8).  Built-in types are pinned and have no
 * dependencies: only a type that is not built in is found, and PostgreSQL
 * lets a role cast only to or from a type it owns.
 */
static Oid
cast_type_user(Oid typid)
{
	Oid			user;

	if (!OidIsValid(typid))
		return InvalidOid;
	user = type_protected_user(typid, 0);
	if (!OidIsValid(user) && get_typtype(typid) == TYPTYPE_DOMAIN)
		user = type_protected_user(getBaseType(typid), 0);
	return user;
}

void
ag_structure_classify(Node *parsetree, AgUtility *v)
{
	switch (nodeTag(parsetree))
	{
		case T_AlterTableStmt:
			classify_alter_table((AlterTableStmt *) parsetree, v);
			break;
		case T_IndexStmt:
			{
				IndexStmt  *s = (IndexStmt *) parsetree;
				Oid			relid = relid_of(s->relation);

				if (is_protected(relid) && index_stamp(s))
					set_verdict(v, REFUSED, "CREATE UNIQUE INDEX",
								psprintf("The index names a stamp column of protected table \"%s\": the guard sets them, and a unique index on them could refuse humans' writes.",
										 name_of(relid)));
				else if (is_protected(relid) && (s->unique || s->primary || s->excludeOpNames != NIL))
					set_verdict(v, APPROVAL, "CREATE UNIQUE INDEX",
								psprintf("A unique index on protected table \"%s\" could refuse humans' writes.",
										 name_of(relid)));
				else if (is_protected(relid))
				{
					const char *too_long = NULL;
					const char *code = index_user_code(relid, s, &too_long);

					if (code != NULL)
						set_verdict(v, APPROVAL, "CREATE INDEX",
									psprintf("The index on protected table \"%s\" has %s: it would run whenever humans read or write the table, and could make their statements fail.",
											 name_of(relid), code));
					else if (too_long != NULL)
						set_verdict(v, APPROVAL, "CREATE INDEX",
									psprintf("The index on protected table \"%s\" has %s.",
											 name_of(relid), too_long));
				}
				break;
			}
		case T_CreateStatsStmt:
			{
				CreateStatsStmt *s = (CreateStatsStmt *) parsetree;
				Oid			relid = InvalidOid;

				if (list_length(s->relations) == 1 && IsA(linitial(s->relations), RangeVar))
					relid = relid_of(linitial_node(RangeVar, s->relations));
				if (is_protected(relid))
				{
					const char *code = statistics_user_code(relid, s);

					if (code != NULL)
						set_verdict(v, APPROVAL, "CREATE STATISTICS",
									psprintf("The statistics on protected table \"%s\" have %s: it would run whenever humans' queries of the table are planned, and could make them fail.",
											 name_of(relid), code));
				}
				break;
			}
		case T_CreateTrigStmt:
			{
				CreateTrigStmt *t = (CreateTrigStmt *) parsetree;
				Oid			relid = relid_of(t->relation);
				Oid			fn = LookupFuncName(t->funcname, 0, NULL, true);
				Oid			user;

				if (OidIsValid(fn) && get_func_namespace(fn) == ag_guard_namespace())
					set_verdict(v, REFUSED, "CREATE TRIGGER",
								pstrdup("The guard's triggers are placed by agent_guard.protect()."));
				else if (is_protected(relid))
					set_verdict(v, REFUSED, "CREATE TRIGGER",
								psprintf("Triggers of protected table \"%s\" run on every write, humans' too; only a human may add one.",
										 name_of(relid)));
				else if (OidIsValid(user = written_by_protected(relid)))
					set_verdict(v, REFUSED, "CREATE TRIGGER",
								psprintf("Humans' deletes and updates of protected table \"%s\" write \"%s\" (through foreign-key actions or inheritance): its triggers run inside them; only a human may add one.",
										 name_of(user), name_of(relid)));
				else if (OidIsValid(relid) && get_rel_persistence(relid) != RELPERSISTENCE_TEMP &&
						 !ag_object_created_here(relid) && !AG_REL_OWNER(relid, GetUserId()))
					set_verdict(v, APPROVAL, "CREATE TRIGGER",
								psprintf("\"%s\" belongs to another role: a trigger on it would run the agent's code inside that role's writes of it, and humans' writes of a protected table may write it where no catalog shows it (an audit trigger of theirs does); a human decides.",
										 name_of(relid)));
				break;
			}
		case T_CreatePolicyStmt:
			{
				Oid			relid = relid_of(((CreatePolicyStmt *) parsetree)->table);

				if (is_protected(relid))
					set_verdict(v, REFUSED, "CREATE POLICY",
								psprintf("Row security policies on protected table \"%s\" decide what humans see; only a human may add one.",
										 name_of(relid)));
				break;
			}
		case T_AlterPolicyStmt:
			{
				Oid			relid = relid_of(((AlterPolicyStmt *) parsetree)->table);

				if (is_protected(relid))
					set_verdict(v, REFUSED, "ALTER POLICY",
								psprintf("Row security policies on protected table \"%s\" decide what humans see.",
										 name_of(relid)));
				break;
			}
		case T_DropStmt:
			classify_drop((DropStmt *) parsetree, v);
			break;
		case T_RenameStmt:
			{
				RenameStmt *r = (RenameStmt *) parsetree;
				Oid			relid = relid_of(r->relation);

				if (r->renameType == OBJECT_SCHEMA)
					classify_schema_name(r->newname, "ALTER SCHEMA ... RENAME", v);
				else if ((r->renameType == OBJECT_TRIGGER || r->renameType == OBJECT_POLICY) && is_protected(relid))
					set_verdict(v, REFUSED, r->renameType == OBJECT_TRIGGER ? "ALTER TRIGGER ... RENAME" : "ALTER POLICY ... RENAME",
								psprintf("Triggers and policies of protected table \"%s\" belong to the guard; triggers fire in name order.",
										 name_of(relid)));
				else if (r->renameType == OBJECT_ATTRIBUTE && OidIsValid(relid))
				{
					Oid			user = type_protected_user(get_rel_type_id(relid), 0);

					if (OidIsValid(user) && !ag_agent_could(AG_ACT_ALTER, relid))
						v->unrunnable = true;	/* renameatt() wants the owner */
					if (OidIsValid(user))
						set_verdict(v, APPROVAL, "ALTER TYPE ... RENAME ATTRIBUTE",
									psprintf("Values of type \"%s\" in protected table \"%s\" would appear in the log under another name, and earlier images could no longer be restored.",
											 name_of(relid), name_of(user)));
				}
				else if (r->renameType == OBJECT_COLUMN && OidIsValid(relid))
					classify_row_type_column_rename(r, relid, v);
				else if (r->renameType == OBJECT_TABCONSTRAINT && is_protected(relid) && r->subname != NULL &&
						 OidIsValid(get_relation_constraint_oid(relid, r->subname, true)))
				{
					/*
					 * red team 22, finding 1: a rename swaps what an approved
					 * DROP names.  The key's too (red team 23a, note): its
					 * index's ALTER INDEX ... RENAME asks approval, and
					 * humans' ON CONFLICT ON CONSTRAINT names the key first.
					 */
					if (!ag_agent_could(AG_ACT_ALTER, relid))
						v->unrunnable = true;	/* RenameConstraint() wants the owner */
					set_verdict(v, APPROVAL, "ALTER TABLE ... RENAME CONSTRAINT",
								psprintf(constraint_is_key(relid, r->subname) ?
										 "It renames constraint \"%s\" of protected table \"%s\", its key: humans' INSERT ... ON CONFLICT ON CONSTRAINT names it." :
										 "It renames constraint \"%s\" of protected table \"%s\": humans' INSERT ... ON CONFLICT ON CONSTRAINT names it, and an approved drop of one constraint would drop another by its name.",
										 r->subname, name_of(relid)));
				}
				else if ((r->renameType == OBJECT_INDEX || r->renameType == OBJECT_TABLE) && OidIsValid(relid) &&
						 (get_rel_relkind(relid) == RELKIND_INDEX ||
						  get_rel_relkind(relid) == RELKIND_PARTITIONED_INDEX) &&
						 index_is_unique(relid) && is_protected(IndexGetRelation(relid, true)))
				{
					/*
					 * ALTER TABLE renames an index too (PostgreSQL allows it
					 * for compatibility), and a partitioned table's key is a
					 * partitioned index.
					 */
					if (!ag_agent_could(AG_ACT_ALTER, relid))
						v->unrunnable = true;	/* RenameRelation() wants the owner */
					set_verdict(v, APPROVAL, r->renameType == OBJECT_TABLE ? "ALTER TABLE ... RENAME" : "ALTER INDEX ... RENAME",
								psprintf("It renames unique index \"%s\" of protected table \"%s\": humans' INSERT ... ON CONFLICT ON CONSTRAINT names its constraint, and an approved drop of one index would drop another by its name.",
										 name_of(relid), name_of(IndexGetRelation(relid, true))));
				}
				break;
			}
		case T_CreateFunctionStmt:
			classify_function(replaced_function((CreateFunctionStmt *) parsetree),
							  "CREATE OR REPLACE FUNCTION", v);
			break;
		case T_AlterFunctionStmt:
			{
				AlterFunctionStmt *f = (AlterFunctionStmt *) parsetree;

				if (f->objtype != OBJECT_PROCEDURE)
					classify_function(LookupFuncWithArgs(f->objtype, f->func, true),
									  "ALTER FUNCTION", v);
				break;
			}
		case T_CreateSchemaStmt:
			{
				CreateSchemaStmt *c = (CreateSchemaStmt *) parsetree;
				const char *name = c->schemaname;

				if (name == NULL && c->authrole != NULL && c->authrole->roletype == ROLESPEC_CSTRING)
					name = c->authrole->rolename;
				classify_schema_name(name, "CREATE SCHEMA", v);
				break;
			}
		case T_AlterDomainStmt:
			{
				AlterDomainStmt *a = (AlterDomainStmt *) parsetree;
				Oid			typid;
				Oid			user;

				if (a->subtype != 'T' && a->subtype != 'O' && a->subtype != 'C' && a->subtype != 'X')
					break;		/* DROP NOT NULL, VALIDATE refuse nothing */
				typid = LookupTypeNameOid(NULL, makeTypeNameFromNameList(a->typeName), true);
				user = OidIsValid(typid) ? type_protected_user(typid, 0) : InvalidOid;
				if (OidIsValid(user) && !ag_agent_owns_type(typid))
					v->unrunnable = true;	/* checkDomainOwner() */
				if (OidIsValid(user))
					set_verdict(v, APPROVAL,
								a->subtype == 'T' ? "ALTER DOMAIN ... DEFAULT" :
								a->subtype == 'O' ? "ALTER DOMAIN ... SET NOT NULL" :
								a->subtype == 'X' ? "ALTER DOMAIN ... DROP CONSTRAINT" : "ALTER DOMAIN ... ADD CONSTRAINT",
								psprintf(a->subtype == 'T' ?
										 "Columns of protected table \"%s\" use domain \"%s\": humans' inserts that leave them out would take the new default." :
										 a->subtype == 'X' ?
										 "Columns of protected table \"%s\" use domain \"%s\": its constraints keep humans' values valid." :
										 "Columns of protected table \"%s\" use domain \"%s\": the change could refuse humans' writes.",
										 name_of(user), format_type_be(typid)));
				break;
			}
		case T_AlterEnumStmt:
			{
				AlterEnumStmt *e = (AlterEnumStmt *) parsetree;
				Oid			typid;
				Oid			user;

				if (e->oldVal == NULL)
					break;		/* ADD VALUE changes no existing value */
				typid = LookupTypeNameOid(NULL, makeTypeNameFromNameList(e->typeName), true);
				user = OidIsValid(typid) ? type_protected_user(typid, 0) : InvalidOid;
				if (OidIsValid(user) && !ag_agent_owns_type(typid))
					v->unrunnable = true;	/* checkEnumOwner() */
				if (OidIsValid(user))
					set_verdict(v, APPROVAL, "ALTER TYPE ... RENAME VALUE",
								psprintf("Rows of protected table \"%s\" that hold \"%s\" would read \"%s\" with no write on record, and earlier images could no longer be restored.",
										 name_of(user), e->oldVal, e->newVal));
				break;
			}
		case T_CreateCastStmt:
			{
				CreateCastStmt *c = (CreateCastStmt *) parsetree;
				Oid			source = LookupTypeNameOid(NULL, c->sourcetype, true);
				Oid			target = LookupTypeNameOid(NULL, c->targettype, true);
				Oid			used = InvalidOid;
				Oid			user = InvalidOid;

				if (OidIsValid(target) &&
					(getBaseType(target) == JSONOID || getBaseType(target) == JSONBOID))
					set_verdict(v, REFUSED, "CREATE CAST",
								pstrdup("A cast to json decides how values appear in the log of every protected table."));
				else if (!OidIsValid(source) || !OidIsValid(target))
					break;		/* PostgreSQL's error */
				else if (OidIsValid(user = cast_type_user(used = source)) ||
						 OidIsValid(user = cast_type_user(used = target)))
					set_verdict(v, REFUSED, "CREATE CAST",
								psprintf("Protected table \"%s\" holds values of type %s: a cast from %s to %s would decide how humans' values of it are converted in their writes and comparisons (an assignment or implicit cast without their asking), with no write on record.",
										 name_of(user), format_type_be(used),
										 format_type_be(source), format_type_be(target)));
				break;
			}
		case T_CreateStmt:
		case T_CreateForeignTableStmt:
			{
				CreateStmt *c = (CreateStmt *) parsetree;
				ListCell   *lc;

				foreach(lc, c->inhRelations)
				{
					Oid			parent = relid_of(lfirst_node(RangeVar, lc));

					if (is_protected(parent))
						set_verdict(v, REFUSED, c->partbound ? "CREATE TABLE ... PARTITION OF" : "CREATE TABLE ... INHERITS",
									psprintf("Its rows would show in protected table \"%s\"; only a human may add a partition or a child to it.",
											 name_of(parent)));
					else if (c->partbound)
					{
						/* a partition gets its parent's foreign keys */
						judge_cloned_fks(v, "CREATE TABLE ... PARTITION OF", parent, c->relation->relname);
						/* and narrows its DEFAULT partition */
						judge_narrowed_default(v, "CREATE TABLE ... PARTITION OF", parent,
											   (Node *) c->partbound);
					}
				}
				/* foreign keys to a protected table, as column or table constraints */
				foreach(lc, c->tableElts)
				{
					Node	   *e = lfirst(lc);

					if (IsA(e, ColumnDef))
						judge_column_fks(v, "CREATE TABLE ... REFERENCES", (ColumnDef *) e, c->relation->relname);
					else
						judge_fk_constraint(v, "CREATE TABLE ... REFERENCES", e, c->relation->relname);
				}
				foreach(lc, c->constraints)
					judge_fk_constraint(v, "CREATE TABLE ... REFERENCES", lfirst(lc), c->relation->relname);
				break;
			}
		case T_GrantStmt:
			classify_grant((GrantStmt *) parsetree, v);
			break;
		case T_GrantRoleStmt:
			classify_tagged_grant_role((GrantRoleStmt *) parsetree, v);
			break;
		case T_AlterDefaultPrivilegesStmt:
			classify_tagged_default_privileges((AlterDefaultPrivilegesStmt *) parsetree, v);
			break;
		case T_AlterOwnerStmt:
			classify_owner((AlterOwnerStmt *) parsetree, v);
			break;
		case T_AlterExtensionContentsStmt:
			classify_extension_contents((AlterExtensionContentsStmt *) parsetree, v);
			break;
		case T_AlterObjectDependsStmt:
			classify_depends_on_extension((AlterObjectDependsStmt *) parsetree, v);
			break;
		case T_RuleStmt:
			classify_rule((RuleStmt *) parsetree, v);
			break;
		case T_AlterSeqStmt:
			{
				Oid			seqid = relid_of(((AlterSeqStmt *) parsetree)->sequence);
				Oid			user = OidIsValid(seqid) ? sequence_protected_user(seqid) : InvalidOid;

				if (OidIsValid(user) && !ag_agent_could(AG_ACT_ALTER, seqid))
					v->unrunnable = true;	/* AlterSequence() wants the owner */
				if (OidIsValid(user))
					set_verdict(v, APPROVAL, "ALTER SEQUENCE",
								psprintf("Sequence \"%s\" numbers the rows of protected table \"%s\"; changed, humans' inserts could fail or collide.",
										 name_of(seqid), name_of(user)));
				break;
			}
		default:
			break;
	}
}

/*
 * The protected table whose rows a sequence numbers, or InvalidOid: what
 * makes ALTER SEQUENCE above need approval, for setval() (gate.c).
 */
Oid
ag_structure_sequence_user(Oid seqid)
{
	return sequence_protected_user(seqid);
}

/*
 * A sequence owned by a column of relid (serial, identity) that numbers
 * the rows of another, protected table (its default draws from it): that
 * table, *seq the sequence; or InvalidOid.  ALTER TABLE ... SET UNLOGGED
 * and TRUNCATE ... RESTART IDENTITY of relid change it (red team 20a,
 * findings 3 and 7).
 */
Oid
ag_structure_owned_sequence_user(Oid relid, Oid *seq)
{
	List	   *seqs;
	ListCell   *lc;
	Oid			user = InvalidOid;

	if (!OidIsValid(relid) || get_rel_relkind(relid) == RELKIND_SEQUENCE)
		return InvalidOid;
	seqs = getOwnedSequences(relid);
	foreach(lc, seqs)
	{
		user = sequence_protected_user(lfirst_oid(lc));
		if (OidIsValid(user) && user != relid)
		{
			*seq = lfirst_oid(lc);
			break;
		}
		user = InvalidOid;
	}
	list_free(seqs);
	return user;
}

/*
 * The protected relation whose rows show values of this type, or
 * InvalidOid: what a temporary dependency of a composite type's attribute
 * would drop (reach.c).
 */
Oid
ag_structure_type_user(Oid typid)
{
	return type_protected_user(typid, 0);
}

/* ---------------------------------------------------------------------
 * What a statement really made on a protected table (reach.c's backstop)
 *
 * The classifier above judges the table a statement names.  An ALTER
 * TABLE, CREATE INDEX or CREATE TRIGGER of a parent reaches its
 * inheritance children and partitions too: PostgreSQL adds the column,
 * CHECK, NOT NULL, key or default to each child and clones indexes and
 * row triggers to each partition.  The object-access hook reports each
 * such object as PostgreSQL creates it; these functions give it the
 * decision the direct act on the protected table gets.  Rows are read as
 * the running command left them (SnapshotSelf): the syscache does not see
 * them before the next CommandCounterIncrement.
 * ---------------------------------------------------------------------
 */

static HeapTuple
catalog_row_now(Oid catalog, Oid index, int nkeys, ScanKey keys, TupleDesc *desc)
{
	Relation	rel = table_open(catalog, AccessShareLock);
	SysScanDesc scan = systable_beginscan(rel, index, true, SnapshotSelf, nkeys, keys);
	HeapTuple	tup = systable_getnext(scan);

	tup = HeapTupleIsValid(tup) ? heap_copytuple(tup) : NULL;
	if (desc != NULL)
		*desc = CreateTupleDescCopy(RelationGetDescr(rel));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return tup;
}

/* A pg_node_tree column of a catalog row, as a node; NULL if null. */
static Node *
catalog_node(HeapTuple tup, TupleDesc desc, AttrNumber col)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, col, desc, &isnull);

	return isnull ? NULL : stringToNode(TextDatumGetCString(d));
}

static bool
attnum_is_stamp(Oid relid, AttrNumber attnum)
{
	return attnum > 0 && is_stamp(get_attname(relid, attnum, true));
}

typedef struct StampVars
{
	Oid			relid;
	bool		found;
} StampVars;

static bool
stamp_var_walker(Node *node, StampVars *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var) && attnum_is_stamp(ctx->relid, ((Var *) node)->varattno))
	{
		ctx->found = true;
		return true;
	}
	return expression_tree_walker(node, stamp_var_walker, (void *) ctx);
}

static bool
expr_names_stamp(Oid relid, Node *expr)
{
	StampVars	ctx = {relid, false};

	(void) stamp_var_walker(expr, &ctx);
	return ctx.found;
}

/*
 * A new index (an index PostgreSQL cloned to a partition, or built for a
 * key or unique constraint a parent passed down): the decision CREATE
 * [UNIQUE] INDEX on the protected table gets.  *relid: its table.
 */
AgRefusalKind
ag_structure_new_index(Oid indexoid, Oid *relid, char **why)
{
	ScanKeyData key;
	TupleDesc	desc;
	HeapTuple	tup;
	Form_pg_index ix;
	Node	   *exprs;
	Node	   *pred;
	const char *what = NULL;
	bool		stamp = false;
	bool		isnull;
	oidvector  *classes;
	int			i;

	ScanKeyInit(&key, Anum_pg_index_indexrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(indexoid));
	tup = catalog_row_now(IndexRelationId, IndexRelidIndexId, 1, &key, &desc);
	if (tup == NULL)
		return AG_REFUSAL_NONE; /* not an index */
	ix = (Form_pg_index) GETSTRUCT(tup);
	*relid = ix->indrelid;
	if (!is_protected(ix->indrelid))
		return AG_REFUSAL_NONE;
	exprs = catalog_node(tup, desc, Anum_pg_index_indexprs);
	pred = catalog_node(tup, desc, Anum_pg_index_indpred);
	for (i = 0; i < ix->indnatts && !stamp; i++)
		stamp = attnum_is_stamp(ix->indrelid, ix->indkey.values[i]);
	stamp = stamp || expr_names_stamp(ix->indrelid, exprs) || expr_names_stamp(ix->indrelid, pred);
	if (ix->indisunique || ix->indisprimary || ix->indisexclusion)
	{
		if (stamp)
		{
			*why = psprintf("A unique index or key on protected table \"%s\" would name a stamp column: the guard sets them, and it could refuse humans' writes.",
							name_of(ix->indrelid));
			return AG_REFUSAL_GUARD;
		}
		*why = psprintf("it adds a unique index or key to protected table \"%s\", which could refuse humans' writes",
						name_of(ix->indrelid));
		return AG_REFUSAL_APPROVAL;
	}
	if (exprs != NULL && calls_user_code(exprs, &what))
		what = psprintf("an expression that %s", what);
	else if (pred != NULL && calls_user_code(pred, &what))
		what = psprintf("a predicate that %s", what);
	else if (exprs != NULL)
		what = INDEX_EXPRESSION;
	else if (pred != NULL)
		what = INDEX_PREDICATE;
	else
	{
		Datum		d = heap_getattr(tup, Anum_pg_index_indclass, desc, &isnull);
		ListCell   *le = list_head((List *) exprs);
		ScanKeyData ckey;
		HeapTuple	ctup;

		what = NULL;
		classes = isnull ? NULL : (oidvector *) DatumGetPointer(d);
		for (i = 0; classes != NULL && i < classes->dim1 && what == NULL; i++)
			if (classes->values[i] >= FirstNormalObjectId)
				what = "an operator class that is not the system's";
		/* a key whose type runs code of its own (a range's subtype_diff) */
		for (i = 0; i < ix->indnkeyatts && what == NULL; i++)
		{
			Oid			typid = InvalidOid;
			char	   *code;

			if (ix->indkey.values[i] != 0)
				typid = get_atttype(ix->indrelid, ix->indkey.values[i]);
			else if (le != NULL)
			{
				typid = exprType((Node *) lfirst(le));
				le = lnext((List *) exprs, le);
			}
			if (OidIsValid(typid) && (code = type_user_code(typid, 0)) != NULL)
				what = psprintf("a key whose type runs code that is not the system's (%s)", code);
		}
		/* a key (or INCLUDE column) whose values can be too long for an entry */
		ScanKeyInit(&ckey, Anum_pg_class_oid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(indexoid));
		ctup = catalog_row_now(RelationRelationId, ClassOidIndexId, 1, &ckey, NULL);
		if (what == NULL && ctup != NULL)
		{
			Oid		   *types = palloc0(sizeof(Oid) * Max(ix->indnatts, 1));
			int32	   *typmods = palloc0(sizeof(int32) * Max(ix->indnatts, 1));
			int			n = 0;

			for (i = 0; i < ix->indnatts; i++)
			{
				Oid			coll;

				if (ix->indkey.values[i] <= 0)
					continue;
				get_atttypetypmodcoll(ix->indrelid, ix->indkey.values[i], &types[n], &typmods[n], &coll);
				stamp_key_bound(get_attname(ix->indrelid, ix->indkey.values[i], true),
								&types[n], &typmods[n]);
				n++;
			}
			what = ag_width_index_key(((Form_pg_class) GETSTRUCT(ctup))->relam, n, types, typmods);
			if (what != NULL)
			{
				*why = psprintf("it adds an index to protected table \"%s\" with %s",
								name_of(ix->indrelid), what);
				return AG_REFUSAL_APPROVAL;
			}
		}
	}
	if (what == NULL)
		return AG_REFUSAL_NONE;
	*why = psprintf("it adds an index to protected table \"%s\" with %s, which would run whenever humans read or write the table",
					name_of(ix->indrelid), what);
	return AG_REFUSAL_APPROVAL;
}

/* NOT NULL on a column of a protected table, however it comes. */
static AgRefusalKind
not_null_verdict(Oid relid, const char *col, char **why)
{
	if (col == NULL)
		return AG_REFUSAL_NONE;
	if (is_stamp(col))
	{
		*why = psprintf("Column \"%s\" of protected table \"%s\" is a stamp column: the guard sets it, and a default or NOT NULL on it would mark or refuse humans' rows.",
						col, name_of(relid));
		return AG_REFUSAL_GUARD;
	}
	*why = psprintf("it makes column \"%s\" of protected table \"%s\" NOT NULL, which would refuse humans' writes that leave it empty",
					col, name_of(relid));
	return AG_REFUSAL_APPROVAL;
}

/*
 * A new constraint on a protected table (a parent's CHECK, NOT NULL or
 * foreign key passed down).  Keys, unique and exclusion constraints are
 * judged by their index, constraint triggers by their trigger.
 */
AgRefusalKind
ag_structure_new_constraint(Oid conoid, Oid *relid, int *attnum, char **why)
{
	ScanKeyData key;
	TupleDesc	desc;
	HeapTuple	tup;
	Form_pg_constraint c;
	const char *kind;
	bool		stamp = false;
	bool		isnull;
	Datum		d;

	ScanKeyInit(&key, Anum_pg_constraint_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(conoid));
	tup = catalog_row_now(ConstraintRelationId, ConstraintOidIndexId, 1, &key, &desc);
	if (tup == NULL)
		return AG_REFUSAL_NONE;
	c = (Form_pg_constraint) GETSTRUCT(tup);
	*relid = c->conrelid;
	*attnum = 0;
	if (!OidIsValid(c->conrelid) || !is_protected(c->conrelid))
		return AG_REFUSAL_NONE;
	switch (c->contype)
	{
		case CONSTRAINT_CHECK:
			kind = "a CHECK constraint";
			break;
		case CONSTRAINT_FOREIGN:
			kind = "a foreign key";
			break;
#ifdef AG_HAVE_NOTNULL_CONSTRAINTS
		case CONSTRAINT_NOTNULL:
			kind = "a NOT NULL constraint";
			break;
#endif
		default:
			return AG_REFUSAL_NONE;
	}
	d = heap_getattr(tup, Anum_pg_constraint_conkey, desc, &isnull);
	if (!isnull)
	{
		Datum	   *keys;
		int			n;
		int			i;

		deconstruct_array(DatumGetArrayTypeP(d), INT2OID, 2, true, TYPALIGN_SHORT,
						  &keys, NULL, &n);
		for (i = 0; i < n && !stamp; i++)
			stamp = attnum_is_stamp(c->conrelid, DatumGetInt16(keys[i]));
#ifdef AG_HAVE_NOTNULL_CONSTRAINTS
		/* a NOT NULL constraint is told as the column's NOT NULL (15, 16, 17) */
		if (c->contype == CONSTRAINT_NOTNULL && n == 1)
			*attnum = DatumGetInt16(keys[0]);
		if (c->contype == CONSTRAINT_NOTNULL && n == 1)
			return not_null_verdict(c->conrelid, get_attname(c->conrelid, DatumGetInt16(keys[0]), true),
									why);
#endif
	}
	if (c->contype == CONSTRAINT_CHECK)
		stamp = stamp || expr_names_stamp(c->conrelid, catalog_node(tup, desc, Anum_pg_constraint_conbin));
	if (stamp)
	{
		*why = psprintf("Constraint \"%s\" would name a stamp column of protected table \"%s\": the guard sets them, and a constraint on them could refuse humans' writes.",
						NameStr(c->conname), name_of(c->conrelid));
		return AG_REFUSAL_GUARD;
	}
	*why = psprintf("it adds %s to protected table \"%s\", which could refuse humans' writes",
					kind, name_of(c->conrelid));
	return AG_REFUSAL_APPROVAL;
}

/*
 * A new trigger on a protected table (a row trigger PostgreSQL cloned to a
 * partition): refused, as CREATE TRIGGER on it.  PostgreSQL's internal
 * triggers (those of foreign keys, judged as keys) are not judged here.
 */
AgRefusalKind
ag_structure_new_trigger(Oid trigoid, Oid *relid, char **why)
{
	ScanKeyData key;
	HeapTuple	tup;
	Form_pg_trigger t;

	ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(trigoid));
	tup = catalog_row_now(TriggerRelationId, TriggerOidIndexId, 1, &key, NULL);
	if (tup == NULL)
		return AG_REFUSAL_NONE;
	t = (Form_pg_trigger) GETSTRUCT(tup);
	*relid = t->tgrelid;
	if (t->tgisinternal)
		return AG_REFUSAL_NONE;
	if (!is_protected(t->tgrelid))
	{
		/* a table humans' writes of a protected table write (F4) */
		Oid			user = written_by_protected(t->tgrelid);

		if (!OidIsValid(user))
			return AG_REFUSAL_NONE;
		*why = psprintf("It adds trigger \"%s\" to \"%s\", which humans' deletes and updates of protected table \"%s\" write (through foreign-key actions or inheritance): its triggers run inside them; only a human may add one.",
						NameStr(t->tgname), name_of(t->tgrelid), name_of(user));
		return AG_REFUSAL_GUARD;
	}
	*why = psprintf("It adds trigger \"%s\" to protected table \"%s\": triggers of a protected table run on every write, humans' too; only a human may add one.",
					NameStr(t->tgname), name_of(t->tgrelid));
	return AG_REFUSAL_GUARD;
}

/*
 * A new column of a protected table (ADD COLUMN of a parent): NOT NULL,
 * identity, of a domain with constraints, of a type that runs code that is
 * not the system's or takes a domain default off the allow-list needs
 * approval, as ADD COLUMN on the table itself.  Its CHECK, key, default
 * and generation expression come as objects of their own.  The same for a
 * new attribute of a relation whose row type a protected column uses
 * (ALTER TYPE ... ADD ATTRIBUTE, ALTER TABLE ... ADD COLUMN, CREATE OR
 * REPLACE VIEW): a domain's constraints run in the composite's input, in
 * humans' writes of the column (red team 15, finding 6).
 */
AgRefusalKind
ag_structure_new_column(Oid relid, int attnum, char **why)
{
	ScanKeyData keys[2];
	HeapTuple	tup;
	Form_pg_attribute a;
	const char *what = NULL;
	Oid			user = InvalidOid;

	if (!is_protected(relid))
	{
		Oid			rowtype = get_rel_type_id(relid);

		user = OidIsValid(rowtype) ? type_protected_user(rowtype, 0) : InvalidOid;
		if (!OidIsValid(user))
			return AG_REFUSAL_NONE;
	}
	ScanKeyInit(&keys[0], Anum_pg_attribute_attrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	ScanKeyInit(&keys[1], Anum_pg_attribute_attnum, BTEqualStrategyNumber, F_INT2EQ,
				Int16GetDatum(attnum));
	tup = catalog_row_now(AttributeRelationId, AttributeRelidNumIndexId, 2, keys, NULL);
	if (tup == NULL)
		return AG_REFUSAL_NONE;
	a = (Form_pg_attribute) GETSTRUCT(tup);
	/* a row type's NOT NULL and identity do not reach its values */
	if (a->attnotnull && !OidIsValid(user))
		return not_null_verdict(relid, NameStr(a->attname), why);
	if (a->attidentity != '\0' && !OidIsValid(user))
		what = "an identity";
	else if (get_typtype(a->atttypid) == TYPTYPE_DOMAIN && DomainHasConstraints(a->atttypid))
		what = "a domain with constraints";
	else
	{
		char	   *code = type_user_code(a->atttypid, 0);

		if (code != NULL)
			what = psprintf("a type that runs code that is not the system's (%s)", code);
		else if ((code = type_default_code(a->atttypid, 0)) != NULL)
			what = psprintf("a type that takes a default off the allow-list (%s)", code);
	}
	/*
	 * Any new attribute of a row type a protected column uses (directly,
	 * through an array, a domain or another composite type) changes that
	 * column's values: every row gets a new field, the log's images no
	 * longer match the type, and humans' ROW(...) inputs of the old shape
	 * fail (red team 29, finding 5).  As DROP, ALTER and RENAME
	 * ATTRIBUTE: approval.
	 */
	if (what == NULL && OidIsValid(user))
	{
		*why = psprintf("it adds attribute \"%s\" to the row type of \"%s\", which protected table \"%s\" uses: every value of it there gets a new field, and humans' inputs of the old shape fail",
						NameStr(a->attname), name_of(relid), name_of(user));
		return AG_REFUSAL_APPROVAL;
	}
	if (what == NULL)
		return AG_REFUSAL_NONE;
	if (OidIsValid(user))
		*why = psprintf("it adds attribute \"%s\" with %s to the row type of \"%s\", which protected table \"%s\" uses: it could refuse humans' writes of it",
						NameStr(a->attname), what, name_of(relid), name_of(user));
	else
		*why = psprintf("it adds column \"%s\" with %s to protected table \"%s\", which could refuse humans' writes",
						NameStr(a->attname), what, name_of(relid));
	return AG_REFUSAL_APPROVAL;
}

/*
 * A column default set on a protected table (ADD COLUMN ... DEFAULT or
 * SET DEFAULT of a parent, SET EXPRESSION): as the direct act, refused on
 * a stamp column; approval on a key column, for a generated column, and
 * for a default that runs code that is not the system's.
 */
AgRefusalKind
ag_structure_new_default(Oid relid, int attnum, char **why)
{
	ScanKeyData keys[2];
	TupleDesc	desc;
	HeapTuple	tup;
	char	   *col;
	const char *what = NULL;

	if (!is_protected(relid) || attnum <= 0)
		return AG_REFUSAL_NONE;
	col = get_attname(relid, attnum, true);
	if (col == NULL)
		return AG_REFUSAL_NONE;
	if (is_stamp(col))
	{
		*why = psprintf("Column \"%s\" of protected table \"%s\" is a stamp column: the guard sets it, and a default on it would mark or forge humans' rows.",
						col, name_of(relid));
		return AG_REFUSAL_GUARD;
	}
	ScanKeyInit(&keys[0], Anum_pg_attrdef_adrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	ScanKeyInit(&keys[1], Anum_pg_attrdef_adnum, BTEqualStrategyNumber, F_INT2EQ,
				Int16GetDatum(attnum));
	tup = catalog_row_now(AttrDefaultRelationId, AttrDefaultIndexId, 2, keys, &desc);
	if (tup == NULL)
		return AG_REFUSAL_NONE;
	if (get_attgenerated(relid, attnum) != '\0')
		what = "a new generation expression, which rewrites it with no write on record and runs on humans' writes";
	else if (column_in_key(relid, col))
		what = "a new default on a key column: humans' inserts could fail or collide";
	else
	{
		const char *code = NULL;
		Node	   *expr = catalog_node(tup, desc, Anum_pg_attrdef_adbin);

		if (expr != NULL && calls_user_code(expr, &code))
			what = psprintf("a default that %s, which would run in humans' inserts that leave the column out", code);
		else if (expr != NULL &&
				 (code = default_not_allowed(expr, relid, attnum, get_atttype(relid, attnum))) != NULL)
			what = psprintf("a default that %s, which would run in humans' inserts that leave the column out", code);
	}
	if (what == NULL)
		return AG_REFUSAL_NONE;
	*why = psprintf("it gives column \"%s\" of protected table \"%s\" %s", col, name_of(relid), what);
	return AG_REFUSAL_APPROVAL;
}

/*
 * A column of a protected table changed (SET NOT NULL, identity or
 * storage of a parent, passed down): as the direct act.
 */
AgRefusalKind
ag_structure_altered_column(Oid relid, Form_pg_attribute before, Form_pg_attribute after,
							char **why)
{
	const char *col = NameStr(before->attname);
	const char *what = NULL;

	if (!is_protected(relid))
		return AG_REFUSAL_NONE;
	if (!before->attnotnull && after->attnotnull)
		return not_null_verdict(relid, col, why);
	if (before->attgenerated != '\0' && after->attgenerated == '\0')
		what = "no generation expression: it would no longer be computed on humans' writes";
	else if (before->attidentity != after->attidentity)
		what = "another identity: humans' inserts with their own values could fail or collide";
	else if (before->attstorage != after->attstorage && after->attstorage == TYPSTORAGE_PLAIN)
		what = "storage PLAIN: humans' writes of values too long for a page would fail";
	if (what == NULL)
		return AG_REFUSAL_NONE;
	if (is_stamp(col) && after->attstorage == before->attstorage)
	{
		*why = psprintf("Column \"%s\" of protected table \"%s\" is a stamp column: the guard sets it and numbers nothing.",
						col, name_of(relid));
		return AG_REFUSAL_GUARD;
	}
	*why = psprintf("it gives column \"%s\" of protected table \"%s\" %s", col, name_of(relid), what);
	return AG_REFUSAL_APPROVAL;
}

/*
 * A column default of a protected table dropped (through CASCADE, reach.c):
 * the decision ALTER COLUMN ... DROP DEFAULT gets (approval on a key or
 * NOT NULL column: humans' inserts that leave it out would fail; red team
 * 20a, finding 4), or AG_REFUSAL_NONE.
 */
AgRefusalKind
ag_structure_dropped_default(Oid relid, int attnum, char **why)
{
	char	   *col = get_attname(relid, attnum, true);

	if (col == NULL || !is_protected(relid))
		return AG_REFUSAL_NONE;
	if (column_in_key(relid, col))
		*why = psprintf("it drops the default of column \"%s\" in the key of protected table %s: humans' inserts that leave it out would fail",
						col, ag_qualified_relname(relid));
	else if (column_not_null(relid, col))
		*why = psprintf("it drops the default of NOT NULL column \"%s\" of protected table %s: humans' inserts that leave it out would fail",
						col, ag_qualified_relname(relid));
	else
		return AG_REFUSAL_NONE;
	return AG_REFUSAL_APPROVAL;
}
