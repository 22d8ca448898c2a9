/*-------------------------------------------------------------------------
 * tagshadow.c
 *		A tagged shared role's object named like a built-in one (red team
 *		19, finding 1).
 *
 * agentshadow.c refuses a human's statement whose own text resolved a
 * name to an agent's function, operator, type or collation that shadows a
 * built-in one.  It knows an agent's object by its owner: a registered
 * agent role, or one such a role is a member of.  A shared role that a
 * harness tags (SET LOCAL agent_guard.agent_id, README "Who is the agent")
 * acts as the agent, yet what it creates is owned by the shared role, a
 * human: its public.=(numeric, integer) would be chosen by a human's
 * DELETE FROM invoices WHERE amount = 30 and run with the human's rights,
 * unrecorded.  Whose object it is cannot be told later (the shared role is
 * the humans' too), so it is judged when it is made.
 *
 * In a session or transaction that acts as an agent through a tag alone
 * (its session user is not a registered agent role), an object is refused
 * (YG004, on record) when it is created, replaced, renamed, moved to
 * another schema or given to another owner with the name of a pg_catalog
 * object of the same kind: a function, procedure or aggregate (any
 * arguments), an operator (any operands), a type or domain (a composite
 * type by its relation), a collation, a text search dictionary,
 * configuration, parser or template, a conversion; and a function or
 * aggregate callable with one argument named like a pg_catalog type
 * (name(x) is a cast to it when no function matches: red team 20, F6), or
 * like a type or domain made before the transaction, in any schema (the
 * humans' own cast mood(m): red team 34, F9).  Judged in the
 * object-access hook after the catalog row is written (OAT_POST_CREATE,
 * OAT_POST_ALTER), so every way of making one is covered: DO, EXECUTE,
 * CREATE SCHEMA ... CREATE, a function's body, an extension's script.
 *
 * Not judged: objects in pg_temp (only the session itself reaches them)
 * and in pg_catalog (the built-ins themselves: only a superuser's
 * extension script writes there); an object owned by an agent role (the
 * use-time check of agentshadow.c covers it); the row type of a table,
 * view or sequence and the array type PostgreSQL makes for a type (judged
 * by the type itself); casts, which have no name and of which there is
 * one per pair of types, so none can stand in for a built-in one.  A
 * registered agent's session keeps the use-time check alone.
 *
 * The same module keeps the humans' objects made before a tagged
 * transaction theirs (judge_changed_code(), judge_older_names(),
 * ag_tagshadow_older_structure()): what the humans already run, read or
 * find by name may not be replaced, changed, moved aside, given away or
 * dropped by the transaction (red team 20b to 35).
 *
 * The same file keeps such a transaction from giving away or taking the
 * humans' rights (red team 35, F8, F9): what it made that runs with the
 * role's rights (a view, a rule, a SECURITY DEFINER routine) may not be
 * left to an agent at COMMIT (commit_rights_check), nor may it give away
 * an older object or add to an older table what the humans' later writes
 * must pass (ag_tagshadow_older_addition, ag_tagshadow_older_structure).
 *
 * Cost: nothing unless the session or transaction is tagged; then a
 * catalog row read (SnapshotSelf: the syscache does not see the row yet)
 * and a syscache probe of pg_catalog's names per object of these kinds.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_cast.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_conversion.h"
#include "catalog/pg_database.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_index.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_publication.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_statistic_ext.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_ts_config.h"
#include "catalog/pg_ts_dict.h"
#include "catalog/pg_ts_parser.h"
#include "catalog/pg_ts_template.h"
#include "catalog/pg_type.h"
#include "foreign/foreign.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "utils/acl.h"
#include "nodes/parsenodes.h"
#include "parser/parse_oper.h"
#include "parser/parse_type.h"
#include "tcop/tcopprot.h"
#include "rewrite/rewriteSupport.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "agentcode.h"
#include "agentshadow.h"
#include "owner_spi.h"
#include "refusal.h"
#include "scope.h"
#include "session.h"
#include "tagshadow.h"

/* Where each kind keeps its oid, name, schema and owner. */
typedef struct ShadowKind
{
	Oid			classid;
	Oid			oidindex;
	AttrNumber	oidcol;
	AttrNumber	namecol;
	AttrNumber	nspcol;
	AttrNumber	ownercol;		/* InvalidAttrNumber: a superuser's kind */
	const char *word;
} ShadowKind;

static const ShadowKind kinds[] = {
	{ProcedureRelationId, ProcedureOidIndexId, Anum_pg_proc_oid, Anum_pg_proc_proname,
	Anum_pg_proc_pronamespace, Anum_pg_proc_proowner, "function"},
	{OperatorRelationId, OperatorOidIndexId, Anum_pg_operator_oid, Anum_pg_operator_oprname,
	Anum_pg_operator_oprnamespace, Anum_pg_operator_oprowner, "operator"},
	{TypeRelationId, TypeOidIndexId, Anum_pg_type_oid, Anum_pg_type_typname,
	Anum_pg_type_typnamespace, Anum_pg_type_typowner, "type"},
	{RelationRelationId, ClassOidIndexId, Anum_pg_class_oid, Anum_pg_class_relname,
	Anum_pg_class_relnamespace, Anum_pg_class_relowner, "type"},
	{CollationRelationId, CollationOidIndexId, Anum_pg_collation_oid, Anum_pg_collation_collname,
	Anum_pg_collation_collnamespace, Anum_pg_collation_collowner, "collation"},
	{TSDictionaryRelationId, TSDictionaryOidIndexId, Anum_pg_ts_dict_oid, Anum_pg_ts_dict_dictname,
	Anum_pg_ts_dict_dictnamespace, Anum_pg_ts_dict_dictowner, "text search dictionary"},
	{TSConfigRelationId, TSConfigOidIndexId, Anum_pg_ts_config_oid, Anum_pg_ts_config_cfgname,
	Anum_pg_ts_config_cfgnamespace, Anum_pg_ts_config_cfgowner, "text search configuration"},
	{TSParserRelationId, TSParserOidIndexId, Anum_pg_ts_parser_oid, Anum_pg_ts_parser_prsname,
	Anum_pg_ts_parser_prsnamespace, InvalidAttrNumber, "text search parser"},
	{TSTemplateRelationId, TSTemplateOidIndexId, Anum_pg_ts_template_oid, Anum_pg_ts_template_tmplname,
	Anum_pg_ts_template_tmplnamespace, InvalidAttrNumber, "text search template"},
	{ConversionRelationId, ConversionOidIndexId, Anum_pg_conversion_oid, Anum_pg_conversion_conname,
	Anum_pg_conversion_connamespace, Anum_pg_conversion_conowner, "conversion"},
};

/* A catalog row as this command left it (SnapshotSelf), copied; NULL if none. */
static HeapTuple
row_self(Oid classid, Oid oidindex, AttrNumber oidcol, Oid oid)
{
	Relation	rel = table_open(classid, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	ScanKeyInit(&key, oidcol, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(oid));
	scan = systable_beginscan(rel, oidindex, true, SnapshotSelf, 1, &key);
	tup = systable_getnext(scan);
	tup = HeapTupleIsValid(tup) ? heap_copytuple(tup) : NULL;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return tup;
}

/*
 * Had the catalog the row before this command (the catalog snapshot: the
 * command's own rows are not seen yet), for kinds without an oid syscache?
 */
static bool
catalog_had(Oid classid, Oid oidindex, AttrNumber oidcol, Oid oid)
{
	Relation	rel = table_open(classid, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	bool		had;

	ScanKeyInit(&key, oidcol, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(oid));
	scan = systable_beginscan(rel, oidindex, true, NULL, 1, &key);
	had = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return had;
}

/* Has pg_catalog an object of this kind and name (any arguments)? */
static bool
catalog_has(Oid classid, const char *name)
{
	Datum		n = CStringGetDatum(name);
	Datum		cat = ObjectIdGetDatum(PG_CATALOG_NAMESPACE);
	CatCList   *list;
	bool		found = false;
	int			i;

	switch (classid)
	{
		case TypeRelationId:
		case RelationRelationId:
			return OidIsValid(GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, n, cat));
		case CollationRelationId:
			return SearchSysCacheExists3(COLLNAMEENCNSP, n, Int32GetDatum(-1), cat) ||
				SearchSysCacheExists3(COLLNAMEENCNSP, n, Int32GetDatum(GetDatabaseEncoding()), cat);
		case TSDictionaryRelationId:
			return SearchSysCacheExists2(TSDICTNAMENSP, n, cat);
		case TSConfigRelationId:
			return SearchSysCacheExists2(TSCONFIGNAMENSP, n, cat);
		case TSParserRelationId:
			return SearchSysCacheExists2(TSPARSERNAMENSP, n, cat);
		case TSTemplateRelationId:
			return SearchSysCacheExists2(TSTEMPLATENAMENSP, n, cat);
		case ConversionRelationId:
			return SearchSysCacheExists2(CONNAMENSP, n, cat);
		default:
			break;
	}
	list = SearchSysCacheList1(classid == ProcedureRelationId ? PROCNAMEARGSNSP : OPERNAMENSP, n);
	for (i = 0; i < list->n_members && !found; i++)
	{
		HeapTuple	tup = &list->members[i]->tuple;

		found = (classid == ProcedureRelationId ?
				 ((Form_pg_proc) GETSTRUCT(tup))->pronamespace :
				 ((Form_pg_operator) GETSTRUCT(tup))->oprnamespace) == PG_CATALOG_NAMESPACE;
	}
	ReleaseSysCacheList(list);
	return found;
}

/* Is this session or transaction one whose creations are judged here? */
static bool
tagged_judging(void)
{
	if (!ag_agent_latched() || IsParallelWorker() || ag_owner_running())
		return false;
	if (!IsTransactionState() || IsAbortedTransactionBlockState())
		return false;
	if (!OidIsValid(ag_guard_namespace()))
		return false;
	return ag_identity_tagged_role();
}

/*
 * The functions and relations this transaction created (red team 33, F4).
 * "Made before this transaction" is decided by creation: an object is the
 * transaction's own when the object-access hook saw it created here
 * (OAT_POST_CREATE of an oid the catalog did not have before the command),
 * not when its catalog row's xmin is the transaction's, which any allowed
 * statement that rewrites the row (GRANT, ALTER TABLE ADD COLUMN, COMMENT
 * on some kinds) makes it.  Every object is noted, tagged or not: what an
 * untagged statement of the transaction made before SET LOCAL is the
 * transaction's too.  A rolled-back subtransaction's entries go with it,
 * a committed one's pass to its parent; the list ends with the
 * transaction.  Entries of a subtransaction are a suffix of the array
 * (what came before it was made in its ancestors), so both take a walk
 * back over that suffix alone.
 */
typedef struct MadeHere
{
	Oid			classid;
	Oid			objid;
	SubTransactionId subid;
} MadeHere;

static MadeHere *made_here = NULL;
static int	made_count = 0;
static int	made_size = 0;

static void commit_rights_check(void);

static void
made_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			commit_rights_check();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			made_count = 0;
			if (made_size > 1024)
			{
				/* a large transaction's array is not kept for the session */
				pfree(made_here);
				made_here = NULL;
				made_size = 0;
			}
			break;
		default:
			break;
	}
}

static void
made_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	int			i;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		while (made_count > 0 && made_here[made_count - 1].subid >= mySubid)
			made_count--;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (i = made_count - 1; i >= 0 && made_here[i].subid >= mySubid; i--)
			made_here[i].subid = parentSubid;
	}
}

void
ag_tagshadow_init(void)
{
	RegisterXactCallback(made_xact_callback, NULL);
	RegisterSubXactCallback(made_subxact_callback, NULL);
}

/* Did this transaction create the object (and not roll the creation back)? */
static bool
made_in_xact(Oid classid, Oid objid)
{
	int			i;

	for (i = made_count - 1; i >= 0; i--)
		if (made_here[i].objid == objid && made_here[i].classid == classid)
			return true;
	return false;
}

/* made_in_xact() for agentstored.c: a function this transaction created */
bool
ag_tagshadow_made_in_xact(Oid classid, Oid objid)
{
	return made_in_xact(classid, objid);
}

/*
 * From the object-access hook (hooks.c), OAT_POST_CREATE: note a function,
 * relation, type or cast this transaction creates.  A CREATE OR REPLACE FUNCTION
 * sends OAT_POST_CREATE too, for an oid the syscache still sees as it was
 * before the command: that one is not new, and is not noted.
 */
void
ag_tagshadow_note_created(Oid classId, Oid objectId, int subId)
{
	MemoryContext old;

	if (subId != 0 || IsParallelWorker())
		return;
	if (classId != ProcedureRelationId && classId != RelationRelationId &&
		classId != TypeRelationId && classId != CastRelationId &&
		classId != TriggerRelationId && classId != RewriteRelationId &&
		classId != ConstraintRelationId)
	{
		/*
		 * Every other kind with a catalog of its own (a schema, operator,
		 * operator class or family, collation, conversion, text search
		 * object, extension, ...: red team 35, F6, F7): new when the
		 * statement's snapshot, taken before the command, has no row of the
		 * oid (a shell operator made complete keeps its oid).  Not the
		 * catalog snapshot, which sees the command's own rows once it has
		 * made them visible (a text search configuration's copied mapping,
		 * an operator's commutator link); nor whether the row was updated
		 * (an operator that is its own commutator is updated at once).
		 * Without an active snapshot, an inserted row (not an updated one)
		 * is new.
		 */
		Relation	rel;
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	row;
		bool		old;

		if (!is_objectclass_supported(classId))
			return;
		if (ActiveSnapshotSet())
		{
			rel = table_open(classId, AccessShareLock);
			ScanKeyInit(&key, get_object_attnum_oid(classId), BTEqualStrategyNumber, F_OIDEQ,
						ObjectIdGetDatum(objectId));
			scan = systable_beginscan(rel, get_object_oid_index(classId), true,
									  GetActiveSnapshot(), 1, &key);
			old = HeapTupleIsValid(systable_getnext(scan));
			systable_endscan(scan);
			table_close(rel, AccessShareLock);
		}
		else
		{
			row = row_self(classId, get_object_oid_index(classId), get_object_attnum_oid(classId),
						   objectId);
			if (row == NULL)
				return;
			old = (row->t_data->t_infomask & HEAP_UPDATED) != 0;
			heap_freetuple(row);
		}
		if (old)
			return;
	}
	/* a cast is never replaced; a shell type made complete was noted as a shell */
	else if (classId == TriggerRelationId || classId == RewriteRelationId)
	{
		/* CREATE OR REPLACE TRIGGER and RULE keep the oid: seen before the command */
		if (catalog_had(classId, classId == TriggerRelationId ? TriggerOidIndexId : RewriteOidIndexId,
						classId == TriggerRelationId ? Anum_pg_trigger_oid : Anum_pg_rewrite_oid,
						objectId))
			return;
	}
	else if (classId != CastRelationId &&
			 SearchSysCacheExists1(classId == ProcedureRelationId ? PROCOID :
								   classId == TypeRelationId ? TYPEOID :
								   classId == ConstraintRelationId ? CONSTROID : RELOID,
								   ObjectIdGetDatum(objectId)))
		return;
	if (made_count == made_size)
	{
		old = MemoryContextSwitchTo(ag_session_memory());
		made_size = made_size == 0 ? 64 : made_size * 2;
		made_here = made_here == NULL ? palloc(made_size * sizeof(MadeHere)) :
			repalloc(made_here, made_size * sizeof(MadeHere));
		MemoryContextSwitchTo(old);
	}
	made_here[made_count].classid = classId;
	made_here[made_count].objid = objectId;
	made_here[made_count].subid = GetCurrentSubTransactionId();
	made_count++;
}

/* A routine made before this transaction, outside pg_temp: its description. */
static char *
older_routine(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	char	   *what = NULL;

	if (HeapTupleIsValid(tup))
	{
		Form_pg_proc p = (Form_pg_proc) GETSTRUCT(tup);

		if (!made_in_xact(ProcedureRelationId, fn) && !isAnyTempNamespace(p->pronamespace))
			what = psprintf("%s %s", p->prokind == PROKIND_PROCEDURE ? "procedure" :
							p->prokind == PROKIND_AGGREGATE ? "aggregate" : "function",
							format_procedure(fn));
		ReleaseSysCache(tup);
	}
	return what;
}

/* A table, view or foreign table made before this transaction, outside pg_temp. */
static char *
older_relation(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	char	   *what = NULL;

	if (HeapTupleIsValid(tup))
	{
		Form_pg_class c = (Form_pg_class) GETSTRUCT(tup);

		if (!made_in_xact(RelationRelationId, relid) && !isAnyTempNamespace(c->relnamespace) &&
			(c->relkind == RELKIND_RELATION || c->relkind == RELKIND_PARTITIONED_TABLE ||
			 c->relkind == RELKIND_VIEW || c->relkind == RELKIND_MATVIEW ||
			 c->relkind == RELKIND_FOREIGN_TABLE))
			what = psprintf("%s %s", c->relkind == RELKIND_VIEW ? "view" :
							c->relkind == RELKIND_MATVIEW ? "materialized view" :
							c->relkind == RELKIND_FOREIGN_TABLE ? "foreign table" : "table",
							ag_qualified_relname(relid));
		ReleaseSysCache(tup);
	}
	return what;
}

/*
 * A relation whose name the humans' statements and code look up (a table,
 * view, materialized view, foreign table, sequence, composite type), made
 * before this transaction, outside pg_temp: its description.  Indexes are
 * judged on the statement (ag_tagshadow_older_structure()): REINDEX
 * CONCURRENTLY swaps their names.
 */
static char *
older_named_relation(Oid relid)
{
	char		relkind = get_rel_relkind(relid);
	Oid			nsp = get_rel_namespace(relid);

	if (relkind == RELKIND_SEQUENCE || relkind == RELKIND_COMPOSITE_TYPE)
	{
		if (made_in_xact(RelationRelationId, relid) || !OidIsValid(nsp) || isAnyTempNamespace(nsp))
			return NULL;
		return psprintf("%s %s", relkind == RELKIND_SEQUENCE ? "sequence" : "type",
						ag_qualified_relname(relid));
	}
	return older_relation(relid);
}

/* A type made before this transaction, outside pg_catalog and pg_temp: its description. */
static char *
older_type(Oid typid)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	char	   *what = NULL;

	if (HeapTupleIsValid(tup))
	{
		Form_pg_type t = (Form_pg_type) GETSTRUCT(tup);

		if (!made_in_xact(TypeRelationId, typid) && t->typnamespace != PG_CATALOG_NAMESPACE &&
			!isAnyTempNamespace(t->typnamespace))
			what = psprintf("type %s", format_type_be(typid));
		ReleaseSysCache(tup);
	}
	return what;
}

/*
 * A cast from or to a type made before this transaction (red team 33,
 * F6): it decides what the humans' expressions over their type do where
 * they name no function (m::text, an assignment or implicit conversion
 * they did not write).  For a new cast, the row this command wrote; for a
 * dropped one, the syscache's, and the cast itself made before.
 */
static char *
older_cast_type(Oid castid, bool dropping)
{
	HeapTuple	tup = dropping ? NULL :
		row_self(CastRelationId, CastOidIndexId, Anum_pg_cast_oid, castid);
	Form_pg_cast c;
	char	   *what = NULL;

	if (dropping)
	{
		Relation	rel = table_open(CastRelationId, AccessShareLock);
		ScanKeyData key;
		SysScanDesc scan;

		ScanKeyInit(&key, Anum_pg_cast_oid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(castid));
		scan = systable_beginscan(rel, CastOidIndexId, true, NULL, 1, &key);
		tup = systable_getnext(scan);
		if (HeapTupleIsValid(tup) && !made_in_xact(CastRelationId, castid))
			tup = heap_copytuple(tup);
		else
			tup = NULL;
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	if (tup == NULL)
		return NULL;
	c = (Form_pg_cast) GETSTRUCT(tup);
	what = older_type(c->castsource);
	if (what == NULL)
		what = older_type(c->casttarget);
	if (what != NULL)
		what = psprintf("the cast from %s to %s, of %s", format_type_be(c->castsource),
						format_type_be(c->casttarget), what);
	return what;
}

/*
 * A type or domain made before this transaction, outside pg_catalog (the
 * built-in rule above covers it) and pg_temp, in any schema, named name
 * (red team 34, F9): a function of that name callable with one argument is
 * chosen for the humans' function-style cast name(x) to their type, which
 * is a cast only when no function matches.  Its description, or NULL.
 */
static char *
older_type_named(const char *name, Oid nsp)
{
	CatCList   *list = SearchSysCacheList1(TYPENAMENSP, CStringGetDatum(name));
	Oid			found = InvalidOid;
	char		typtype = 0;
	int			i;

	for (i = 0; i < list->n_members; i++)
	{
		Form_pg_type t = (Form_pg_type) GETSTRUCT(&list->members[i]->tuple);

		/* the function's own schema's type first, for the message */
		if (t->typnamespace != PG_CATALOG_NAMESPACE && !isAnyTempNamespace(t->typnamespace) &&
			!made_in_xact(TypeRelationId, t->oid) &&
			(!OidIsValid(found) || t->typnamespace == nsp))
		{
			found = t->oid;
			typtype = t->typtype;
		}
	}
	ReleaseSysCacheList(list);
	if (!OidIsValid(found))
		return NULL;
	return psprintf("%s %s", typtype == TYPTYPE_DOMAIN ? "domain" : "type",
					format_type_be_qualified(found));
}

/* A routine of this name made before this transaction, other than fn. */
static char *
older_namesake(Oid fn)
{
	HeapTuple	tup;
	CatCList   *list;
	char	   *what = NULL;
	char	   *name;
	int			i;

	/* the new row: the syscache does not see it yet */
	tup = row_self(ProcedureRelationId, ProcedureOidIndexId, Anum_pg_proc_oid, fn);
	if (tup == NULL || isAnyTempNamespace(((Form_pg_proc) GETSTRUCT(tup))->pronamespace))
		return NULL;
	name = pstrdup(NameStr(((Form_pg_proc) GETSTRUCT(tup))->proname));
	list = SearchSysCacheList1(PROCNAMEARGSNSP, CStringGetDatum(name));
	for (i = 0; i < list->n_members && what == NULL; i++)
	{
		HeapTuple	other = &list->members[i]->tuple;
		Form_pg_proc p = (Form_pg_proc) GETSTRUCT(other);

		if (p->oid != fn && p->pronamespace != PG_CATALOG_NAMESPACE &&
			!made_in_xact(ProcedureRelationId, p->oid) &&
			!isAnyTempNamespace(p->pronamespace))
			what = format_procedure(p->oid);
	}
	ReleaseSysCacheList(list);
	return what;
}

/*
 * What the humans already run or read, changed by a tagged transaction
 * (red team 20b, finding 1; red team 21, findings 1 to 4).  The shared
 * role owns the humans' objects, so a tagged transaction could rewrite a
 * trigger function of theirs, or a function or view they call, drop one
 * and make another of its name, add an overload that their calls would
 * choose, move or rename a table or view away and put its own in the
 * name's place, or put a rule or row security on their table: the next
 * human statement would run the agent's code with that human's rights, or
 * read and write the agent's objects, unrecorded.  So, of the objects made
 * before the transaction: CREATE OR REPLACE, ALTER and DROP of a function,
 * procedure or aggregate; a new function with the name of one (any
 * arguments, any schema but pg_catalog, which tagshadow's name check
 * covers, and pg_temp); CREATE OR REPLACE and DROP of a view; renaming or
 * moving a table, view or foreign table; a rule on one, and switching its
 * row security on or off; CREATE and DROP CAST from or to a type (red team
 * 33, F6: the humans' m::text would call the agent's function).  What the
 * transaction made itself (created in it, made_in_xact(): not a row that a
 * GRANT or an ADD COLUMN of it has rewritten, red team 33, F4) it may
 * change; an extension's script is not judged.  The catalog row before the
 * command is the syscache's (it does not see this command's row yet).
 */
static void
judge_changed_code(ObjectAccessType access, Oid classId, Oid objectId, int subId)
{
	char	   *what = NULL;
	const char *act = NULL;
	const char *text;

	if (creating_extension || subId != 0)
		return;
	if (classId == ProcedureRelationId)
	{
		what = older_routine(objectId);
		act = access == OAT_DROP ? "drops" : "changes";
		if (what == NULL && access == OAT_POST_CREATE)
		{
			char	   *namesake = older_namesake(objectId);

			if (namesake != NULL)
			{
				what = psprintf("a function of the name of %s", namesake);
				act = "makes";
			}
		}
	}
	else if (classId == CastRelationId &&
			 (access == OAT_POST_CREATE || access == OAT_DROP))
	{
		what = older_cast_type(objectId, access == OAT_DROP);
		act = access == OAT_DROP ? "drops" : "makes";
	}
	else if (classId == RelationRelationId && access == OAT_DROP)
	{
		if (get_rel_relkind(objectId) == RELKIND_VIEW)
		{
			what = older_relation(objectId);
			act = "drops";
		}
		else if (get_rel_relkind(objectId) == RELKIND_COMPOSITE_TYPE)
		{
			/* a type dropped and made again (red team 35, F6) */
			what = older_named_relation(objectId);
			act = "drops";
		}
	}
	else if (classId == RelationRelationId && access == OAT_POST_ALTER)
	{
		HeapTuple	after = row_self(RelationRelationId, ClassOidIndexId, Anum_pg_class_oid, objectId);
		HeapTuple	before = SearchSysCache1(RELOID, ObjectIdGetDatum(objectId));

		if (after != NULL && HeapTupleIsValid(before))
		{
			Form_pg_class a = (Form_pg_class) GETSTRUCT(after);
			Form_pg_class b = (Form_pg_class) GETSTRUCT(before);

			if (strcmp(NameStr(a->relname), NameStr(b->relname)) != 0 ||
				a->relnamespace != b->relnamespace || a->relowner != b->relowner)
			{
				/* a sequence, a composite type too (red team 35, F11) */
				act = a->relowner != b->relowner ? "gives away" : "renames or moves";
				what = older_named_relation(objectId);
			}
			else if (a->relrowsecurity != b->relrowsecurity ||
					 a->relforcerowsecurity != b->relforcerowsecurity)
			{
				act = "switches row security of";
				what = older_relation(objectId);
			}
		}
		if (HeapTupleIsValid(before))
			ReleaseSysCache(before);
	}
	else if (classId == RewriteRelationId && access == OAT_POST_CREATE)
	{
		HeapTuple	rule = row_self(RewriteRelationId, RewriteOidIndexId, Anum_pg_rewrite_oid, objectId);

		if (rule != NULL)
		{
			Form_pg_rewrite r = (Form_pg_rewrite) GETSTRUCT(rule);
			HeapTuple	before;

			/*
			 * A view's query replaced, a rule on a relation the humans had,
			 * or (PostgreSQL 15) their empty table made a view by a _RETURN
			 * rule: judged by the relation, made here or not.
			 */
			act = "puts a rule on";
			if (strcmp(NameStr(r->rulename), ViewSelectRuleName) == 0 &&
				HeapTupleIsValid(before = SearchSysCache2(RULERELNAME, ObjectIdGetDatum(r->ev_class),
														  CStringGetDatum(ViewSelectRuleName))))
			{
				act = "changes";
				ReleaseSysCache(before);
			}
			what = older_relation(r->ev_class);
		}
	}
	if (what == NULL)
		return;
	text = debug_query_string ? debug_query_string : "";
	ag_refuse(AG_REFUSAL_GUARD, classId == ProcedureRelationId ? "FUNCTION" :
			  classId == CastRelationId ? "CAST" :
			  classId == RewriteRelationId ? "RULE or VIEW" : "ALTER or DROP",
			  psprintf("It %s %s, made before this transaction: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans' too, and their next statement would run or read what the agent put there with their rights, unrecorded. Make new objects under new names in the tagged transaction, or change this one from a human's session.",
					   act, what),
			  text, strlen(text), 0);
}

/*
 * Name, schema and owner of a catalog row: as this command left it
 * (SnapshotSelf) or as it was before the command (the catalog snapshot).
 * False when there is no such row.
 */
static bool
row_names(Oid classid, Oid objid, bool self, char **name, Oid *nsp, Oid *owner)
{
	Relation	rel = table_open(classid, AccessShareLock);
	AttrNumber	namecol = get_object_attnum_name(classid);
	AttrNumber	nspcol = get_object_attnum_namespace(classid);
	AttrNumber	ownercol = get_object_attnum_owner(classid);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		isnull;
	Datum		d;

	ScanKeyInit(&key, get_object_attnum_oid(classid), BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(objid));
	scan = systable_beginscan(rel, get_object_oid_index(classid), true,
							  self ? SnapshotSelf : NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		*name = NULL;
		*nsp = InvalidOid;
		*owner = InvalidOid;
		if (namecol != InvalidAttrNumber &&
			!(d = heap_getattr(tup, namecol, RelationGetDescr(rel), &isnull), isnull))
			*name = pstrdup(NameStr(*DatumGetName(d)));
		if (nspcol != InvalidAttrNumber &&
			!(d = heap_getattr(tup, nspcol, RelationGetDescr(rel), &isnull), isnull))
			*nsp = DatumGetObjectId(d);
		if (ownercol != InvalidAttrNumber &&
			!(d = heap_getattr(tup, ownercol, RelationGetDescr(rel), &isnull), isnull))
			*owner = DatumGetObjectId(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return HeapTupleIsValid(tup);
}

/*
 * An object of a kind whose name the humans' statements and code look up
 * (a schema, operator, operator class or family, collation, conversion,
 * text search object), made before this transaction, outside pg_catalog
 * and pg_temp: its description, or NULL.
 */
static char *
older_named_object(Oid classid, Oid objid)
{
	ObjectAddress addr;
	Oid			nsp;

	if (made_in_xact(classid, objid))
		return NULL;
	ObjectAddressSet(addr, classid, objid);
	nsp = classid == NamespaceRelationId ? objid : get_object_namespace(&addr);
	if (nsp == PG_CATALOG_NAMESPACE || nsp == PG_TOAST_NAMESPACE ||
		(OidIsValid(nsp) && isAnyTempNamespace(nsp)))
		return NULL;
	return getObjectDescription(&addr, true);
}

/* An operator of this name made before this transaction, other than opr. */
static char *
older_operator_namesake(Oid opr)
{
	HeapTuple	tup = row_self(OperatorRelationId, OperatorOidIndexId, Anum_pg_operator_oid, opr);
	CatCList   *list;
	char	   *what = NULL;
	int			i;

	if (tup == NULL || isAnyTempNamespace(((Form_pg_operator) GETSTRUCT(tup))->oprnamespace))
		return NULL;
	list = SearchSysCacheList1(OPERNAMENSP,
							   CStringGetDatum(NameStr(((Form_pg_operator) GETSTRUCT(tup))->oprname)));
	for (i = 0; i < list->n_members && what == NULL; i++)
	{
		Form_pg_operator o = (Form_pg_operator) GETSTRUCT(&list->members[i]->tuple);

		if (o->oid != opr && o->oprnamespace != PG_CATALOG_NAMESPACE &&
			!made_in_xact(OperatorRelationId, o->oid) && !isAnyTempNamespace(o->oprnamespace))
			what = format_operator(o->oid);
	}
	ReleaseSysCacheList(list);
	return what;
}

/*
 * What renames, moves, gives away, completes, changes or drops the humans'
 * older named objects (red team 35, F3, F4, F6, F11 and the rest): their
 * code and statements find these by name (nextval('shop.seq'),
 * 'ok'::shop.mood, a OPERATOR(shop.===) b, to_tsvector('shop.cfg', t),
 * shop.orders), so one moved aside, or dropped, leaves the name to an
 * object the agent makes next, which the humans' next statement then uses
 * with their rights, unrecorded; and a dropped operator takes the humans'
 * CHECK with it.  Judged in the object-access hook, so ALTER ... RENAME,
 * SET SCHEMA, OWNER TO, DROP (CASCADE, DROP OWNED), CREATE TYPE over
 * their shell type, and PostgreSQL's own moves (CREATE TYPE _mood renames
 * their array type _mood aside) are all seen.  Of the objects made before
 * the transaction:
 *	- a type or domain (not a relation's row type, judged by its relation;
 *	  an array type when renamed, as PostgreSQL's move does, not when
 *	  dropped with its element): renamed, moved or given away, dropped, a
 *	  shell type completed;
 *	- a schema: renamed or given away, dropped;
 *	- an operator, operator class or family, collation, conversion, text
 *	  search configuration, dictionary, parser or template: changed in any
 *	  way (ALTER, and the commutator link a new operator writes into it),
 *	  completed (a shell operator), dropped;
 *	- a relation of any kind but an index (sequences and composite types
 *	  too): renamed, moved or given away (judge_changed_code());
 *	- a function: renamed to, or a new one made with, the name of an older
 *	  one (the overload rule, older_namesake(); its creation was judged
 *	  before, not its rename);
 *	- a new operator with the name of an older operator in any schema (the
 *	  overload rule for operators: the humans' a === b would choose it
 *	  where its schema comes first on their search_path).
 * An internal drop (PostgreSQL's own clean-up) is not judged, nor what an
 * extension's script does.
 */
static void
judge_older_names(ObjectAccessType access, Oid classId, Oid objectId, void *arg)
{
	char	   *what = NULL;
	const char *act = NULL;
	const char *text;
	char	   *bname = NULL,
			   *aname = NULL;
	Oid			bnsp = InvalidOid,
				ansp = InvalidOid,
				bowner = InvalidOid,
				aowner = InvalidOid;
	bool		moved = false;

	if (creating_extension)
		return;
	if (access == OAT_DROP && arg != NULL &&
		(((ObjectAccessDrop *) arg)->dropflags & PERFORM_DELETION_INTERNAL) != 0)
		return;
	if (access == OAT_POST_ALTER &&
		row_names(classId, objectId, false, &bname, &bnsp, &bowner) &&
		row_names(classId, objectId, true, &aname, &ansp, &aowner))
		moved = bnsp != ansp || bowner != aowner ||
			(bname != NULL && aname != NULL && strcmp(bname, aname) != 0);

	switch (classId)
	{
		case ProcedureRelationId:
			/* an own function renamed or moved to an older one's name */
			if (access == OAT_POST_ALTER && moved && older_routine(objectId) == NULL &&
				(what = older_namesake(objectId)) != NULL)
			{
				what = psprintf("function %s to the name of %s", format_procedure(objectId), what);
				act = "renames or moves";
			}
			break;
		case TypeRelationId:
			{
				HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(objectId));
				bool		rowtype = false;
				bool		array = false;

				if (HeapTupleIsValid(tup))
				{
					Form_pg_type t = (Form_pg_type) GETSTRUCT(tup);

					rowtype = OidIsValid(t->typrelid);
					array = OidIsValid(t->typelem) && t->typsubscript == F_ARRAY_SUBSCRIPT_HANDLER;
					ReleaseSysCache(tup);
				}
				if (rowtype || (array && access == OAT_DROP))
					break;
				if (access == OAT_POST_CREATE)
					act = "completes the shell";
				else if (access == OAT_POST_ALTER && moved)
					act = "renames, moves or gives away";
				else if (access == OAT_DROP)
					act = "drops";
				if (act != NULL)
					what = older_type(objectId);
				break;
			}
		case NamespaceRelationId:
			if (access == OAT_DROP)
				act = "drops";
			else if (access == OAT_POST_ALTER && moved)
				act = "renames or gives away";
			if (act != NULL)
				what = older_named_object(classId, objectId);
			break;
		case OperatorRelationId:
			if (access == OAT_POST_CREATE && made_in_xact(classId, objectId) &&
				(what = older_operator_namesake(objectId)) != NULL)
			{
				what = psprintf("an operator of the name of operator %s", what);
				act = "makes";
				break;
			}
			/* FALLTHROUGH */
		case OperatorClassRelationId:
		case OperatorFamilyRelationId:
		case CollationRelationId:
		case ConversionRelationId:
		case TSConfigRelationId:
		case TSDictionaryRelationId:
		case TSParserRelationId:
		case TSTemplateRelationId:
			act = access == OAT_DROP ? "drops" :
				access == OAT_POST_CREATE ? "completes" : "changes";
			what = older_named_object(classId, objectId);
			break;
		default:
			break;
	}
	if (what == NULL)
		return;
	text = debug_query_string ? debug_query_string : "";
	ag_refuse(AG_REFUSAL_GUARD, access == OAT_DROP ? "DROP" : "ALTER, RENAME, SET SCHEMA or OWNER TO",
			  psprintf("It %s %s, made before this transaction: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans' too, and their statements and code find this one by its name: what the agent puts under that name would be used in their next statement with their rights, unrecorded. Make new objects under new names in the tagged transaction, or change this one from a human's session.",
					   act, what),
			  text, strlen(text), 0);
}

/*
 * A relation made before this transaction, outside pg_temp (for
 * ag_tagshadow_older_structure()).  Made in this transaction is the
 * relcache's rd_createSubid, not the catalog row's xmin, which an earlier
 * ALTER of this transaction has made its own.
 */
static bool
relation_made_earlier(Oid relid, const char **kind)
{
	Relation	rel;
	bool		earlier;

	if (!OidIsValid(relid) || (rel = try_relation_open(relid, AccessShareLock)) == NULL)
		return false;			/* PostgreSQL's own error */
	earlier = rel->rd_createSubid == InvalidSubTransactionId &&
		rel->rd_rel->relpersistence != RELPERSISTENCE_TEMP;
	*kind = rel->rd_rel->relkind == RELKIND_SEQUENCE ? "sequence" :
		rel->rd_rel->relkind == RELKIND_VIEW ? "view" :
		rel->rd_rel->relkind == RELKIND_MATVIEW ? "materialized view" :
		rel->rd_rel->relkind == RELKIND_FOREIGN_TABLE ? "foreign table" :
		rel->rd_rel->relkind == RELKIND_COMPOSITE_TYPE ? "type" :
		rel->rd_rel->relkind == RELKIND_INDEX ? "index" : "table";
	relation_close(rel, AccessShareLock);
	return earlier;
}

/*
 * In a transaction a shared role tags with SET LOCAL, a sequence made
 * before it: its setval() is refused as ALTER SEQUENCE of it is (red team
 * 37, F4: set back or to its end, the humans' next inserts collide or
 * fail).  Returns why, or NULL.
 */
char *
ag_tagshadow_older_setval(Oid seqid)
{
	const char *kind;

	if (creating_extension || !tagged_judging() || !relation_made_earlier(seqid, &kind))
		return NULL;
	return psprintf("It sets %s %s, made before this transaction: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans' too, and their next inserts would draw what the agent set (keys that exist, or none). Make new sequences in the tagged transaction, or set this one from a human's session.",
					kind, ag_qualified_relname(seqid));
}

/*
 * An object this transaction made (red team 35, F8, F9): a relation by its
 * relcache entry (a temporary one counts as made here), the kinds noted by
 * made_in_xact() (functions, types, schemas, ...); any other kind (a
 * database: CREATE DATABASE runs in no transaction block) counts as made
 * before.  Not scope.c's list of what the session made: behind a pooler
 * the server process's earlier transactions were the humans'.
 */
static bool
object_made_here(Oid classid, Oid objid)
{
	const char *kind;

	if (classid == RelationRelationId)
		return get_rel_persistence(objid) == RELPERSISTENCE_TEMP ||
			!relation_made_earlier(objid, &kind);
	return made_in_xact(classid, objid);
}

/* object_made_here() for structure.c (a tagged GRANT or REVOKE of its own) */
bool
ag_tagshadow_made_here(Oid classid, Oid objid)
{
	return OidIsValid(objid) && object_made_here(classid, objid);
}

/* A relation by its qualified name list less the last (a trigger's, a rule's) name. */
static Oid
relid_of_owner(List *names)
{
	if (list_length(names) < 2)
		return InvalidOid;
	return RangeVarGetRelid(makeRangeVarFromNameList(list_truncate(list_copy(names),
																	list_length(names) - 1)),
							NoLock, true);
}

/*
 * One subcommand of ALTER TABLE (VIEW, FOREIGN TABLE) of a relation made
 * before this transaction (red team 34, F7 and F11): what it does to the
 * humans' structure, or NULL when it is allowed.  Refused: what undoes or
 * changes what their statements run, see or are held to (a column
 * default, NOT NULL, a constraint or its checking, a generated column's
 * expression, an identity column, a rule's firing, inheritance and
 * partitions, a typed table's type, a view's options, a foreign table's
 * options, the replica identity their UPDATE and DELETE of a published
 * table need, durability).  Allowed: what adds (columns, constraints,
 * indexes; what they store is judged by agentstored.c), and what only
 * changes storage or plans (tablespace, access method, storage
 * parameters of a table, statistics targets, CLUSTER ON).  Triggers are
 * judged when switched (agentstored.c); DROP COLUMN and ALTER COLUMN TYPE
 * ask approval of every agent (gate.c).  A constraint the transaction
 * added, a partition or parent it made, are its own.
 */
static const char *
older_table_cmd(AlterTableCmd *cmd, Oid relid, char relkind)
{
	const char *kind;
	Oid			other;

	switch (cmd->subtype)
	{
		case AT_ColumnDefault:
			return cmd->def != NULL ? "sets a column default of" : "drops a column default of";
		case AT_DropNotNull:
			return "drops NOT NULL of";
		case AT_DropExpression:
#ifdef AG_HAVE_SET_EXPRESSION
		case AT_SetExpression:
#endif
			return "changes a generated column of";
		case AT_SetIdentity:
		case AT_DropIdentity:
			return "changes an identity column of";
		case AT_DropConstraint:
		case AT_AlterConstraint:
			other = cmd->subtype == AT_DropConstraint ? get_relation_constraint_oid(relid, cmd->name, true) :
				get_relation_constraint_oid(relid, AG_ALTER_CONSTRAINT_NAME(cmd->def), true);
			if (OidIsValid(other) && made_in_xact(ConstraintRelationId, other))
				return NULL;
			return cmd->subtype == AT_DropConstraint ? "drops a constraint of" : "changes a constraint of";
		case AT_EnableRule:
		case AT_EnableAlwaysRule:
		case AT_EnableReplicaRule:
		case AT_DisableRule:
			return "switches a rule of";
		case AT_DropInherit:
			if (!relation_made_earlier(RangeVarGetRelid(castNode(RangeVar, cmd->def), NoLock, true), &kind))
				return NULL;
			return "takes out of its parent";
		case AT_DetachPartition:
		case AT_DetachPartitionFinalize:
			if (!relation_made_earlier(RangeVarGetRelid(castNode(PartitionCmd, cmd->def)->name, NoLock, true), &kind))
				return NULL;
			return "detaches a partition of";
		case AT_DropOf:
			return "unties from its type";
		case AT_AddOf:
			/* red team 37, F15: the type's renamed attributes rename its columns */
			return "binds to a type";
		case AT_SetStorage:
			/* red team 37, F3: PLAIN keeps long values in the row, which then does not fit */
			return cmd->def != NULL && IsA(cmd->def, String) &&
				pg_strcasecmp(strVal(cmd->def), "plain") == 0 ? "sets PLAIN storage on a column of" : NULL;
		case AT_ReplicaIdentity:
			return "changes the replica identity of";
		case AT_SetUnLogged:
			return "makes unlogged";
		case AT_SetNotNull:
			/* red team 35, F9: their later writes of the column fail */
			return "sets NOT NULL on a column of";
		case AT_AddIdentity:
			return "makes an identity column of";
		case AT_ChangeOwner:
			/* the role's own rights go with it (red team 35, F9 and F8) */
			return "gives away";
		case AT_AddInherit:
			return "puts under a parent";
		case AT_AttachPartition:
			return "attaches a partition to";
		case AT_SetRelOptions:
		case AT_ResetRelOptions:
		case AT_ReplaceRelOptions:
			/* check_option, security_barrier, security_invoker */
			return relkind == RELKIND_VIEW ? "changes the options of" : NULL;
		case AT_GenericOptions:
		case AT_AlterColumnGenericOptions:
			/* where the humans' reads of it go */
			return relkind == RELKIND_FOREIGN_TABLE ? "changes the options of" : NULL;
		default:
			return NULL;
	}
}

/*
 * The operator a COMMUTATOR or NEGATOR clause names, where PostgreSQL
 * looks it up (the creation schema of the name, as get_other_operator()
 * does), when it was made before this transaction outside pg_catalog and
 * pg_temp: its description.  PostgreSQL writes the link back into that
 * operator's row (OperatorUpd(), which sends no object-access hook), so
 * the humans' operator would name the agent's as its commutator or negator.
 */
static char *
older_linked_operator(List *names, Oid left, Oid right)
{
	char	   *opname;
	Oid			nsp = QualifiedNameGetCreationNamespace(names, &opname);
	Oid			opr = GetSysCacheOid4(OPERNAMENSP, Anum_pg_operator_oid, CStringGetDatum(opname),
									  ObjectIdGetDatum(left), ObjectIdGetDatum(right),
									  ObjectIdGetDatum(nsp));

	if (!OidIsValid(opr) || made_in_xact(OperatorRelationId, opr) ||
		nsp == PG_CATALOG_NAMESPACE || isAnyTempNamespace(nsp))
		return NULL;
	return format_operator(opr);
}

/* CREATE OPERATOR or ALTER OPERATOR ... SET naming an older operator as its commutator or negator. */
static char *
older_operator_links(List *options, Oid left, Oid right)
{
	ListCell   *lc;
	char	   *found = NULL;

	foreach(lc, options)
	{
		DefElem    *de = lfirst_node(DefElem, lc);

		if (de->arg == NULL)
			continue;
		if (strcmp(de->defname, "commutator") == 0)
			found = older_linked_operator(defGetQualifiedName(de), right, left);
		else if (strcmp(de->defname, "negator") == 0)
			found = older_linked_operator(defGetQualifiedName(de), left, right);
		if (found != NULL)
			return found;
	}
	return NULL;
}

/*
 * Inheritance and partitions of the humans' older tables (red team 35,
 * F5, and red team 34's leftover): a child or partition the transaction
 * puts under their older parent (CREATE TABLE ... INHERITS or PARTITION
 * OF, ALTER TABLE ... INHERIT, ATTACH PARTITION) shows its rows in their
 * SELECT of the parent and takes their inserts routed there; their older
 * table put under a parent the transaction made (ATTACH PARTITION,
 * INHERIT) gets the parent's partition constraint, which refuses their
 * inserts, and the parent's indexes and row triggers cloned onto it,
 * code of the transaction on their table.  Nothing of it is harmless, so
 * each is refused whichever side is older.
 */
static char *
family_why(const char *act, const char *kind, Oid relid)
{
	return psprintf("It %s %s %s, made before this transaction: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans' too, and a child or partition put under their table shows its rows in their reads of it and takes their inserts, and their table put under a new parent gets the parent's constraints, indexes and triggers. Make new objects under new names in the tagged transaction, or change the family from a human's session.",
					act, kind, ag_qualified_relname(relid));
}

static char *
older_family(AlterTableStmt *a, Oid relid)
{
	ListCell   *lc;
	const char *kind;

	foreach(lc, a->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		Oid			other;

		if (cmd->subtype == AT_AttachPartition && cmd->def != NULL &&
			IsA(cmd->def, PartitionCmd))
		{
			other = RangeVarGetRelid(castNode(PartitionCmd, cmd->def)->name, NoLock, true);
			if (relation_made_earlier(other, &kind))
				return family_why("attaches as a partition", kind, other);
			if (relation_made_earlier(relid, &kind))
				return family_why("attaches a partition to", kind, relid);
		}
		else if (cmd->subtype == AT_AddInherit && cmd->def != NULL && IsA(cmd->def, RangeVar))
		{
			other = RangeVarGetRelid(castNode(RangeVar, cmd->def), NoLock, true);
			if (relation_made_earlier(other, &kind))
				return family_why("gives a child to", kind, other);
			if (relation_made_earlier(relid, &kind))
				return family_why("puts under a parent", kind, relid);
		}
	}
	return NULL;
}

/*
 * Red team 37's roads to the humans' older objects (F2, F5, F7, F12):
 * where their foreign reads go and whose credentials go with them (ALTER
 * SERVER, ALTER or DROP USER MAPPING of an older server), a foreign table
 * made a partition or child of their older table (CREATE FOREIGN TABLE
 * ... PARTITION OF / INHERITS: CREATE TABLE's rule, by another node),
 * their older publication renamed or dropped (their subscribers stop), their
 * older materialized view emptied (REFRESH ... WITH NO DATA: their reads of
 * it fail).  Statistics with an expression on their older table (F14):
 * ag_tagshadow_older_addition(), after the check of the code it stores.
 * Returns why, or NULL.
 */
static char *
older_by_other_roads(Node *parsetree, const char **what)
{
	const char *kind;
	char	   *desc;
	ListCell   *lc;
	Oid			oid;

	switch (nodeTag(parsetree))
	{
		case T_AlterForeignServerStmt:
		case T_AlterUserMappingStmt:
		case T_DropUserMappingStmt:
			{
				const char *server = IsA(parsetree, AlterForeignServerStmt) ?
					((AlterForeignServerStmt *) parsetree)->servername :
					IsA(parsetree, AlterUserMappingStmt) ?
					((AlterUserMappingStmt *) parsetree)->servername :
					((DropUserMappingStmt *) parsetree)->servername;
				ForeignServer *fs = GetForeignServerByName(server, true);

				if (fs == NULL || (desc = older_named_object(ForeignServerRelationId, fs->serverid)) == NULL)
					return NULL;
				*what = IsA(parsetree, AlterForeignServerStmt) ? "ALTER SERVER" : "USER MAPPING";
				return psprintf("It changes %s or a user mapping on it, made before this transaction: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans' too, and their foreign reads, with their credentials, would go where the agent says. Change servers and user mappings from a human's session.",
								desc);
			}
		case T_CreateForeignTableStmt:
			foreach(lc, ((CreateStmt *) parsetree)->inhRelations)
			{
				oid = RangeVarGetRelid(lfirst_node(RangeVar, lc), NoLock, true);
				if (relation_made_earlier(oid, &kind))
				{
					*what = "CREATE FOREIGN TABLE";
					return family_why(((CreateStmt *) parsetree)->partbound != NULL ?
									  "makes a foreign partition of" : "makes a foreign child of",
									  kind, oid);
				}
			}
			return NULL;
		case T_RenameStmt:
		case T_DropStmt:
			{
				List	   *names = NIL;

				if (IsA(parsetree, RenameStmt) &&
					((RenameStmt *) parsetree)->renameType == OBJECT_PUBLICATION)
					names = list_make1(((RenameStmt *) parsetree)->object);
				else if (IsA(parsetree, DropStmt) &&
						 ((DropStmt *) parsetree)->removeType == OBJECT_PUBLICATION)
					names = ((DropStmt *) parsetree)->objects;
				foreach(lc, names)
				{
					oid = get_publication_oid(strVal(lfirst(lc)), true);
					if (OidIsValid(oid) && (desc = older_named_object(PublicationRelationId, oid)) != NULL)
					{
						*what = IsA(parsetree, RenameStmt) ? "ALTER PUBLICATION" : "DROP PUBLICATION";
						return psprintf("It renames or drops %s, made before this transaction: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans' too, and their subscribers find it by its name. Change publications from a human's session.",
										desc);
					}
				}
				return NULL;
			}
		case T_RefreshMatViewStmt:
			{
				RefreshMatViewStmt *r = (RefreshMatViewStmt *) parsetree;

				oid = RangeVarGetRelid(r->relation, NoLock, true);
				if (!r->skipData || !relation_made_earlier(oid, &kind))
					return NULL;
				*what = "REFRESH MATERIALIZED VIEW";
				return psprintf("It empties %s %s, made before this transaction (WITH NO DATA): in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans' too, and their reads of it would fail. Refresh it with its data, or empty it from a human's session.",
								kind, ag_qualified_relname(oid));
			}
		default:
			return NULL;
	}
}

/*
 * The same rule, judged on the statement (gate.c's classifier), for what
 * the object-access hook does not tell apart (red team 31, F6): in a
 * tagged session, switching row security (ENABLE, DISABLE, FORCE, NO
 * FORCE), CREATE, ALTER or DROP POLICY of a table, and ALTER SEQUENCE of
 * a sequence, made before this transaction.  A constant policy
 * (USING (false)) with FORCE hides every row of the role's table from the
 * humans of the role, MAXVALUE 2 stops their nextval().  And (red team
 * 34, F7 and F11) what undoes or changes the humans' older structure:
 * the ALTER TABLE subcommands of older_table_cmd(), DROP TRIGGER and DROP
 * RULE, DROP INDEX of a unique or exclusion index, renaming a column,
 * attribute, constraint or rule, of a relation made before the
 * transaction; ALTER DOMAIN ... DROP CONSTRAINT, DROP NOT NULL, SET or
 * DROP DEFAULT and ALTER TYPE ... RENAME VALUE of a type made before it.
 * What the transaction made itself (the relation, the trigger, rule or
 * constraint) stays its own.  Returns why, or NULL; *what names the
 * refused act.
 */
char *
ag_tagshadow_older_structure(Node *parsetree, const char **what)
{
	RangeVar   *rv = NULL;
	const char *act = NULL;
	const char *kind = "table";
	Oid			relid = InvalidOid;
	Oid			typid = InvalidOid;
	bool		policy = false;
	bool		adds = false;
	ListCell   *lc;
	char	   *typewhat;

	*what = NULL;
	if (parsetree == NULL || creating_extension || !tagged_judging())
		return NULL;
	if ((typewhat = older_by_other_roads(parsetree, what)) != NULL)
		return typewhat;
	switch (nodeTag(parsetree))
	{
		case T_AlterTableStmt:
			{
				AlterTableStmt *a = (AlterTableStmt *) parsetree;

				foreach(lc, a->cmds)
				{
					AlterTableType t = lfirst_node(AlterTableCmd, lc)->subtype;

					if (t == AT_EnableRowSecurity || t == AT_DisableRowSecurity ||
						t == AT_ForceRowSecurity || t == AT_NoForceRowSecurity)
					{
						act = "switches row security of";
						policy = true;
					}
				}
				rv = a->relation;
				if (act != NULL)
					break;
				relid = RangeVarGetRelid(rv, NoLock, true);
				*what = "ALTER TABLE";
				/* an older table put under a parent, or a parent given a child */
				if ((typewhat = older_family(a, relid)) != NULL)
					return typewhat;
				if (!relation_made_earlier(relid, &kind))
					return NULL;
				foreach(lc, a->cmds)
				{
					AlterTableType t = lfirst_node(AlterTableCmd, lc)->subtype;

					act = older_table_cmd(lfirst_node(AlterTableCmd, lc), relid, get_rel_relkind(relid));
					adds = t == AT_SetNotNull || t == AT_AddIdentity || t == AT_AddInherit ||
						t == AT_AttachPartition || t == AT_ChangeOwner;
					if (act != NULL)
						break;
				}
				break;
			}
		case T_CreateStmt:
			{
				/* CREATE TABLE ... INHERITS or PARTITION OF an older parent */
				CreateStmt *c = (CreateStmt *) parsetree;

				foreach(lc, c->inhRelations)
				{
					Oid			parent = RangeVarGetRelid(lfirst_node(RangeVar, lc), NoLock, true);

					if (relation_made_earlier(parent, &kind))
					{
						*what = c->partbound != NULL ? "CREATE TABLE ... PARTITION OF" :
							"CREATE TABLE ... INHERITS";
						return family_why(c->partbound != NULL ? "makes a partition of" :
										  "makes a child of", kind, parent);
					}
				}
				return NULL;
			}
		case T_AlterOwnerStmt:
			{
				/* the role's own rights leave with the object (red team 35, F8, F9) */
				AlterOwnerStmt *a = (AlterOwnerStmt *) parsetree;
				Relation	orel = NULL;
				ObjectAddress addr;
				Node	   *object = a->object;

				/* a type's or domain's name comes as a list; the lookup takes a TypeName */
				if (a->objectType == OBJECT_TYPE || a->objectType == OBJECT_DOMAIN)
					object = (Node *) makeTypeNameFromNameList(castNode(List, object));
				addr = get_object_address(a->objectType, object, &orel, AccessShareLock, true);
				if (orel != NULL)
					relation_close(orel, NoLock);
				if (!OidIsValid(addr.objectId) || object_made_here(addr.classId, addr.objectId))
					return NULL;
				*what = "ALTER ... OWNER TO";
				return psprintf("It gives away %s, made before this transaction: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans', and the role's rights on it would go with it (their next statements on it would fail, or an agent would own it). Change owners from a human's session.",
								getObjectDescription(&addr, false));
			}
		case T_CreatePublicationStmt:
		case T_AlterPublicationStmt:
			{
				/*
				 * The humans' older table published (red team 35, F9 class):
				 * their UPDATE and DELETE of a table without a replica
				 * identity fail once a publication publishes them.  An ALTER
				 * of a publication made before (its publish option) too.
				 */
				List	   *objects;
				const char *pubname = NULL;

				if (IsA(parsetree, CreatePublicationStmt))
					objects = ((CreatePublicationStmt *) parsetree)->pubobjects;
				else
				{
					AlterPublicationStmt *a = (AlterPublicationStmt *) parsetree;
					Oid			pub = get_publication_oid(a->pubname, true);

					objects = a->action == AP_DropObjects ? NIL : a->pubobjects;
					if (OidIsValid(pub) && !made_in_xact(PublicationRelationId, pub) &&
						(a->options != NIL || a->action != AP_DropObjects))
						pubname = a->pubname;
				}
				*what = "PUBLICATION";
				foreach(lc, objects)
				{
					PublicationObjSpec *o = lfirst_node(PublicationObjSpec, lc);

					if (o->pubobjtype == PUBLICATIONOBJ_TABLE && o->pubtable != NULL &&
						relation_made_earlier(RangeVarGetRelid(o->pubtable->relation, NoLock, true), &kind))
					{
						relid = RangeVarGetRelid(o->pubtable->relation, NoLock, true);
						break;
					}
					if (o->pubobjtype == PUBLICATIONOBJ_TABLES_IN_SCHEMA && o->name != NULL &&
						!made_in_xact(NamespaceRelationId, get_namespace_oid(o->name, true)))
					{
						return psprintf("It publishes the tables of schema \"%s\", made before this transaction: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans', and their UPDATE and DELETE of a published table without a replica identity fail. Publish them from a human's session.",
										o->name);
					}
				}
				if (OidIsValid(relid))
					return psprintf("It publishes %s %s, made before this transaction: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans', and their UPDATE and DELETE of a published table without a replica identity fail. Publish it from a human's session.",
									kind, ag_qualified_relname(relid));
				if (pubname != NULL)
					return psprintf("It changes what publication \"%s\", made before this transaction, publishes: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans', and their UPDATE and DELETE of a published table without a replica identity fail. Change publications from a human's session.",
									pubname);
				return NULL;
			}
		case T_CreateUserMappingStmt:
		case T_AlterUserMappingStmt:
			{
				/* the role's credentials on a foreign server, for an agent (red team 35, F8) */
				RoleSpec   *user = IsA(parsetree, CreateUserMappingStmt) ?
					((CreateUserMappingStmt *) parsetree)->user :
					((AlterUserMappingStmt *) parsetree)->user;
				Oid			role = user->roletype == ROLESPEC_PUBLIC ? InvalidOid :
					get_rolespec_oid(user, true);

				if (user->roletype != ROLESPEC_PUBLIC &&
					(!OidIsValid(role) || !ag_agentcode_role_is_agent(role)))
					return NULL;
				*what = "USER MAPPING";
				return pstrdup("It gives every role, or an agent role, a user mapping on a foreign server: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the options it sets (a user, a password) are the humans' credentials, and the agent would reach the remote server with them. Make user mappings from a human's session.");
			}
		case T_ReassignOwnedStmt:
		case T_DropOwnedStmt:
			*what = IsA(parsetree, ReassignOwnedStmt) ? "REASSIGN OWNED" : "DROP OWNED";
			return psprintf("It %s every object of the roles it names, and takes their rights: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans'. Run it from a human's session.",
							IsA(parsetree, ReassignOwnedStmt) ? "gives away" : "drops");
		case T_CreatePolicyStmt:
			act = "puts a row security policy on";
			rv = ((CreatePolicyStmt *) parsetree)->table;
			policy = true;
			break;
		case T_AlterPolicyStmt:
			act = "changes a row security policy of";
			rv = ((AlterPolicyStmt *) parsetree)->table;
			policy = true;
			break;
		case T_DropStmt:
			{
				DropStmt   *d = (DropStmt *) parsetree;
				List	   *names;

				if (d->removeType == OBJECT_SCHEMA)
				{
					/* before the approval DROP SCHEMA asks: refused in any case */
					foreach(lc, d->objects)
					{
						Oid			nsp = get_namespace_oid(strVal(lfirst(lc)), true);

						if (OidIsValid(nsp) && (typewhat = older_named_object(NamespaceRelationId, nsp)) != NULL)
						{
							*what = "DROP SCHEMA";
							return psprintf("It drops %s, made before this transaction: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans' too, and their search_path and code find the schema by its name: a schema the agent makes next under it would be theirs to use, with their rights, unrecorded. Make new schemas under new names in the tagged transaction, or drop this one from a human's session.",
											typewhat);
						}
					}
					return NULL;
				}
				if (d->removeType == OBJECT_POLICY && list_length(d->objects) == 1)
				{
					names = (List *) linitial(d->objects);
					relid = relid_of_owner(names);
					act = "drops a row security policy of";
					policy = true;
					break;
				}
				foreach(lc, d->objects)
				{
					Oid			part = InvalidOid;
					char	   *name;

					names = (List *) lfirst(lc);
					if (d->removeType == OBJECT_TRIGGER || d->removeType == OBJECT_RULE)
					{
						relid = relid_of_owner(names);
						if (!OidIsValid(relid))
							continue;
						name = strVal(llast(names));
						part = d->removeType == OBJECT_TRIGGER ? get_trigger_oid(relid, name, true) :
							get_rewrite_oid(relid, name, true);
						if (OidIsValid(part) &&
							made_in_xact(d->removeType == OBJECT_TRIGGER ? TriggerRelationId :
										 RewriteRelationId, part))
							continue;
						act = d->removeType == OBJECT_TRIGGER ? "drops a trigger of" : "drops a rule of";
						*what = d->removeType == OBJECT_TRIGGER ? "DROP TRIGGER" : "DROP RULE";
					}
					else if (d->removeType == OBJECT_INDEX)
					{
						HeapTuple	ix;
						bool		unique = false;

						part = RangeVarGetRelid(makeRangeVarFromNameList(names), NoLock, true);
						if (!relation_made_earlier(part, &kind))
							continue;
						ix = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(part));
						if (!HeapTupleIsValid(ix))
							continue;
						unique = ((Form_pg_index) GETSTRUCT(ix))->indisunique ||
							((Form_pg_index) GETSTRUCT(ix))->indisexclusion;
						relid = ((Form_pg_index) GETSTRUCT(ix))->indrelid;
						ReleaseSysCache(ix);
						if (!unique)
							continue;
						act = "drops a unique or exclusion index of";
						*what = "DROP INDEX";
					}
					else
						break;
					if (relation_made_earlier(relid, &kind))
						break;
					act = NULL;
				}
				break;
			}
		case T_RenameStmt:
			{
				RenameStmt *r = (RenameStmt *) parsetree;

				if (r->renameType == OBJECT_COLUMN || r->renameType == OBJECT_ATTRIBUTE)
					act = "renames a column of";
				else if ((r->renameType == OBJECT_INDEX || r->renameType == OBJECT_TABLE) &&
						 r->relation != NULL &&
						 (get_rel_relkind(RangeVarGetRelid(r->relation, NoLock, true)) == RELKIND_INDEX ||
						  get_rel_relkind(RangeVarGetRelid(r->relation, NoLock, true)) == RELKIND_PARTITIONED_INDEX))
				{
					/* its constraint's name too (ON CONFLICT ON CONSTRAINT); red team 35, F11 */
					act = "renames";
				}
				else if (r->renameType == OBJECT_RULE)
				{
					/* rules fire in the order of their names */
					act = "renames a rule of";
				}
				else if (r->renameType == OBJECT_TABCONSTRAINT)
				{
					relid = RangeVarGetRelid(r->relation, NoLock, true);
					if (OidIsValid(relid) &&
						made_in_xact(ConstraintRelationId,
									 get_relation_constraint_oid(relid, r->subname, true)))
						return NULL;
					act = "renames a constraint of";
				}
				rv = r->relation;
				*what = "ALTER ... RENAME";
				break;
			}
		case T_AlterDomainStmt:
			{
				AlterDomainStmt *a = (AlterDomainStmt *) parsetree;

				typid = LookupTypeNameOid(NULL, makeTypeNameFromNameList(a->typeName), true);
				if (a->subtype == 'T')
					act = a->def != NULL ? "sets the default of" : "drops the default of";
				else if (a->subtype == 'N')
					act = "drops NOT NULL of";
				else if (a->subtype == 'X')
				{
					if (OidIsValid(typid) &&
						made_in_xact(ConstraintRelationId,
									 get_domain_constraint_oid(typid, a->name, true)))
						return NULL;
					act = "drops a constraint of";
				}
				*what = "ALTER DOMAIN";
				break;
			}
		case T_AlterEnumStmt:
			if (((AlterEnumStmt *) parsetree)->oldVal != NULL)
			{
				typid = LookupTypeNameOid(NULL, makeTypeNameFromNameList(((AlterEnumStmt *) parsetree)->typeName), true);
				act = "renames a value of";
				*what = "ALTER TYPE ... RENAME VALUE";
			}
			break;
		case T_AlterExtensionContentsStmt:
			{
				/*
				 * red team 35, F7: a member of an extension is left out of
				 * pg_dump (the extension's script is to make it), so the
				 * humans' backups would lose their object; taken out, it is
				 * dumped besides the script that makes it.
				 */
				AlterExtensionContentsStmt *e = (AlterExtensionContentsStmt *) parsetree;
				Relation	orel = NULL;
				ObjectAddress addr;
				Oid			nsp;

				addr = get_object_address(e->objtype, e->object, &orel, AccessShareLock, true);
				if (orel != NULL)
					relation_close(orel, NoLock);
				if (!OidIsValid(addr.objectId) || made_in_xact(addr.classId, addr.objectId))
					return NULL;
				nsp = addr.classId == NamespaceRelationId ? addr.objectId :
					(is_objectclass_supported(addr.classId) ? get_object_namespace(&addr) : InvalidOid);
				if (OidIsValid(nsp) && isAnyTempNamespace(nsp))
					return NULL;
				*what = e->action > 0 ? "ALTER EXTENSION ... ADD" : "ALTER EXTENSION ... DROP";
				return psprintf("It %s %s %s extension \"%s\", made before this transaction: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans' too, and pg_dump leaves an extension's members out of their backups (the extension's script is to make them) and dumps what is taken out besides that script. Add to an extension what the tagged transaction made itself, or change this one from a human's session.",
								e->action > 0 ? "adds" : "takes", getObjectDescription(&addr, false),
								e->action > 0 ? "to" : "out of", e->extname);
			}
		case T_DefineStmt:
		case T_AlterOperatorStmt:
			{
				Oid			left = InvalidOid,
							right = InvalidOid;
				List	   *options;
				char	   *linked;

				if (IsA(parsetree, DefineStmt))
				{
					DefineStmt *d = (DefineStmt *) parsetree;

					if (d->kind != OBJECT_OPERATOR)
						return NULL;
					options = d->definition;
					foreach(lc, options)
					{
						DefElem    *de = lfirst_node(DefElem, lc);

						if (strcmp(de->defname, "leftarg") == 0 && de->arg != NULL)
							left = LookupTypeNameOid(NULL, defGetTypeName(de), true);
						else if (strcmp(de->defname, "rightarg") == 0 && de->arg != NULL)
							right = LookupTypeNameOid(NULL, defGetTypeName(de), true);
					}
				}
				else
				{
					AlterOperatorStmt *a = (AlterOperatorStmt *) parsetree;
					Oid			opr = LookupOperWithArgs(a->opername, true);
					HeapTuple	tup;

					if (!OidIsValid(opr) ||
						!HeapTupleIsValid(tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opr))))
						return NULL;
					left = ((Form_pg_operator) GETSTRUCT(tup))->oprleft;
					right = ((Form_pg_operator) GETSTRUCT(tup))->oprright;
					ReleaseSysCache(tup);
					options = a->options;
				}
				if ((linked = older_operator_links(options, left, right)) == NULL)
					return NULL;
				*what = IsA(parsetree, DefineStmt) ? "CREATE OPERATOR" : "ALTER OPERATOR";
				return psprintf("It names operator %s, made before this transaction, as its commutator or negator, and PostgreSQL writes the link into that operator too: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans' too, and the planner could use the agent's operator for their expressions. Link the operator only to operators the tagged transaction made, or do it from a human's session.",
								linked);
			}
		case T_AlterSeqStmt:
			act = "changes";
			rv = ((AlterSeqStmt *) parsetree)->sequence;
			policy = true;
			break;
		default:
			break;
	}
	if (act == NULL)
		return NULL;
	if (OidIsValid(typid) || IsA(parsetree, AlterDomainStmt) || IsA(parsetree, AlterEnumStmt))
	{
		if (!OidIsValid(typid) || (typewhat = older_type(typid)) == NULL)
			return NULL;
		return psprintf("It %s %s, made before this transaction: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans' too, and their next statements would store or read their values without what they put there. Make new objects under new names in the tagged transaction, or change this one from a human's session.",
						act, typewhat);
	}
	if (!OidIsValid(relid))
	{
		if (rv == NULL)
			return NULL;
		relid = RangeVarGetRelid(rv, NoLock, true);
	}
	if (!relation_made_earlier(relid, &kind))
		return NULL;
	if (adds)
		return psprintf("It %s %s %s, made before this transaction: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans' too, and what it adds or takes there (a NOT NULL, an identity, a child or partition with constraints and triggers of its own, the role's own rights) would make their later writes of it fail. Make new objects under new names in the tagged transaction, or change this one from a human's session.",
						act, kind, ag_qualified_relname(relid));
	if (policy)
	{
		*what = "row security or sequence change";
		return psprintf("It %s %s %s, made before this transaction: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans' too, and a policy or a sequence limit put there would hide their rows or stop their inserts. Make new objects under new names in the tagged transaction, or change this one from a human's session.",
						act, kind, ag_qualified_relname(relid));
	}
	return psprintf("It %s %s %s, made before this transaction: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans' too, and their next statements would run without what they put there (a trigger, rule, constraint, default, option) or with what the agent changed, unrecorded. Make new objects under new names in the tagged transaction, or change this one from a human's session.",
					act, kind, ag_qualified_relname(relid));
}

/* From the object-access hook (hooks.c). */
void
ag_tagshadow_object_access(ObjectAccessType access, Oid classId, Oid objectId, int subId,
						   void *arg)
{
	const ShadowKind *k = NULL;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *name = NULL;
	Oid			nsp = InvalidOid;
	Oid			owner = InvalidOid;
	const char *word;
	const char *builtin_word = NULL;
	bool		judge = true;
	bool		like_type = false;
	char	   *like_older_type = NULL;
	size_t		i;

	if ((classId == ProcedureRelationId || classId == RewriteRelationId ||
		 classId == RelationRelationId || classId == CastRelationId) &&
		(access == OAT_POST_CREATE || access == OAT_POST_ALTER || access == OAT_DROP) &&
		tagged_judging())
		judge_changed_code(access, classId, objectId, subId);
	if ((classId == ProcedureRelationId || classId == TypeRelationId ||
		 classId == NamespaceRelationId || classId == OperatorRelationId ||
		 classId == OperatorClassRelationId || classId == OperatorFamilyRelationId ||
		 classId == CollationRelationId || classId == ConversionRelationId ||
		 classId == TSConfigRelationId || classId == TSDictionaryRelationId ||
		 classId == TSParserRelationId || classId == TSTemplateRelationId) &&
		(access == OAT_POST_CREATE || access == OAT_POST_ALTER || access == OAT_DROP) &&
		subId == 0 && tagged_judging())
		judge_older_names(access, classId, objectId, arg);
	if ((access != OAT_POST_CREATE && access != OAT_POST_ALTER) || subId != 0)
		return;
	for (i = 0; i < lengthof(kinds); i++)
		if (kinds[i].classid == classId)
			k = &kinds[i];
	if (k == NULL || !tagged_judging())
		return;
	word = k->word;

	/* the row as this command left it: the syscache does not see it yet */
	rel = table_open(classId, AccessShareLock);
	ScanKeyInit(&key, k->oidcol, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(objectId));
	scan = systable_beginscan(rel, k->oidindex, true, SnapshotSelf, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;

		name = pstrdup(NameStr(*DatumGetName(heap_getattr(tup, k->namecol, desc, &isnull))));
		nsp = DatumGetObjectId(heap_getattr(tup, k->nspcol, desc, &isnull));
		owner = k->ownercol != InvalidAttrNumber ?
			DatumGetObjectId(heap_getattr(tup, k->ownercol, desc, &isnull)) : GetUserId();
		if (classId == RelationRelationId)
			/* a composite type is judged by its relation; other relations not */
			judge = ((Form_pg_class) GETSTRUCT(tup))->relkind == RELKIND_COMPOSITE_TYPE;
		else if (classId == TypeRelationId)
		{
			Form_pg_type typ = (Form_pg_type) GETSTRUCT(tup);

			/* a relation's row type (above), an array PostgreSQL made */
			judge = typ->typtype != TYPTYPE_COMPOSITE &&
				typ->typsubscript != F_ARRAY_SUBSCRIPT_HANDLER;
			if (typ->typtype == TYPTYPE_DOMAIN)
				word = "domain";
		}
		else if (classId == ProcedureRelationId)
		{
			Form_pg_proc p = (Form_pg_proc) GETSTRUCT(tup);
			char		prokind = p->prokind;

			word = prokind == PROKIND_AGGREGATE ? "aggregate" :
				prokind == PROKIND_PROCEDURE ? "procedure" : "function";
			/* name(x) is a cast when no function matches (red team 20, F6) */
			like_type = ag_agentshadow_named_like_type(name, prokind, p->pronargs,
													   p->pronargdefaults);
			/* and so is one named like the humans' own older type (red team 34, F9) */
			if (prokind != PROKIND_PROCEDURE && p->pronargs >= 1 &&
				p->pronargs - p->pronargdefaults <= 1)
				like_older_type = older_type_named(name, p->pronamespace);
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (name == NULL || !judge || nsp == PG_CATALOG_NAMESPACE ||
		isTempOrTempToastNamespace(nsp) || isAnyTempNamespace(nsp) ||
		ag_agentcode_role_is_agent(owner))
		return;
	if (catalog_has(classId, name))
		builtin_word = k->word;
	else if (like_type)
		builtin_word = "type";	/* its cast: name(x) */
	else if (like_older_type != NULL)
	{
		char	   *nspname = get_namespace_name(nsp);
		const char *text = debug_query_string ? debug_query_string : "";

		ag_refuse(AG_REFUSAL_GUARD,
				  psprintf("%s %s", word, quote_qualified_identifier(nspname, name)),
				  psprintf("It is callable with one argument and named like %s, made before this transaction: the humans' %s(x) is a cast to that type only when no function of the name matches, so their code would call this function instead, with their rights, unrecorded. In a session tagged with agent_guard.agent_id whose role is not a registered agent role, choose a name no older type has, or create it in schema pg_temp.",
						   like_older_type, name),
				  text, strlen(text), 0);
		return;
	}
	else
		return;

	{
		char	   *nspname = get_namespace_name(nsp);
		char	   *ownername = GetUserNameFromId(owner, true);
		const char *text = debug_query_string ? debug_query_string : "";
		char	   *what;

		what = classId == OperatorRelationId ?
			psprintf("%s %s.%s", word, nspname ? quote_identifier(nspname) : "?", name) :
			psprintf("%s %s", word, quote_qualified_identifier(nspname, name));
		ag_refuse(AG_REFUSAL_GUARD, what,
				  psprintf("pg_catalog has a built-in %s named %s; on a human's search_path this one could be chosen instead by a human's statement, and it would belong to role \"%s\", which is not a registered agent role, so nothing would tell it from the humans' own objects. In a session tagged with agent_guard.agent_id, choose a name that pg_catalog does not have, or create it in schema pg_temp.",
						   builtin_word, name, ownername ? ownername : "?"),
				  text, strlen(text), 0);
	}
}

/*
 * What a tagged transaction adds to the humans' older table or domain that
 * their later writes must pass (red team 35, F9): a constraint of any kind
 * (CHECK, also NOT VALID, UNIQUE, PRIMARY KEY, EXCLUDE, FOREIGN KEY, NOT
 * NULL), a foreign key from any table to it (their DELETE and UPDATE of a
 * referenced row would fail), an index (an entry too long for it, a unique
 * key, an expression that raises: red team 30, F2), a trigger, a column
 * NOT NULL, identity, generated or of a domain, or a default that calls
 * anything but immutable functions (nextval() of a sequence the
 * transaction ended, a setting the humans' sessions lack).  A CHECK
 * (false) put on an audit table that the humans' trigger on a protected
 * table writes made every write of the protected table fail.  Judged in
 * the object-access hook after agentstored.c has judged the code it
 * stores, so every way of adding one is covered (DO, a function, a
 * parent's statement that recurses to the older table); what PostgreSQL
 * makes internally (an ALTER COLUMN TYPE's rebuilt index and constraints)
 * is not.  The role untagged adds them.
 */
static void
refuse_older_addition(const char *act, const char *whose)
{
	const char *text = debug_query_string ? debug_query_string : "";

	ag_refuse(AG_REFUSAL_GUARD, "ADD to an older table",
			  psprintf("It adds %s %s, made before this transaction: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, the role's objects are the humans' too, and their later writes of it would have to pass what the agent added (a CHECK (false) on the table their audit trigger writes makes every write of their protected table fail). Add it to a table the transaction made, or from a human's session.",
					   act, whose),
			  text, strlen(text), 0);
}

/* A relation made before this transaction, described, or NULL. */
static char *
older_relation_named(Oid relid)
{
	const char *kind;

	if (!OidIsValid(relid) || !relation_made_earlier(relid, &kind))
		return NULL;
	return psprintf("%s %s", kind, ag_qualified_relname(relid));
}

/* Is the type a domain, or an array of one? */
static bool
type_is_domain(Oid typid)
{
	Oid			elem = get_element_type(typid);

	if (OidIsValid(elem))
		typid = elem;
	return get_typtype(typid) == TYPTYPE_DOMAIN;
}

void
ag_tagshadow_older_addition(ObjectAccessType access, Oid classId, Oid objectId, int subId,
							void *arg)
{
	HeapTuple	tup;
	char	   *whose = NULL;

	if (access != OAT_POST_CREATE || creating_extension ||
		(arg != NULL && ((ObjectAccessPostCreate *) arg)->is_internal))
		return;
	if (classId != ConstraintRelationId && classId != RelationRelationId &&
		classId != TriggerRelationId && classId != AttrDefaultRelationId &&
		classId != StatisticExtRelationId)
		return;
	if (!tagged_judging())
		return;
	if (classId == StatisticExtRelationId)
	{
		/*
		 * Statistics with an expression (red team 37, F14): the humans'
		 * ANALYZE and autovacuum compute it, and fail with it.
		 */
		bool		exprs;

		tup = row_self(StatisticExtRelationId, StatisticExtOidIndexId, Anum_pg_statistic_ext_oid, objectId);
		if (tup == NULL)
			return;
		exprs = !heap_attisnull(tup, Anum_pg_statistic_ext_stxexprs, NULL);
		if (exprs && (whose = older_relation_named(((Form_pg_statistic_ext) GETSTRUCT(tup))->stxrelid)) != NULL)
			refuse_older_addition("statistics with an expression to", whose);
		return;
	}
	if (classId == ConstraintRelationId)
	{
		Form_pg_constraint c;

		tup = row_self(ConstraintRelationId, ConstraintOidIndexId, Anum_pg_constraint_oid, objectId);
		if (tup == NULL)
			return;
		c = (Form_pg_constraint) GETSTRUCT(tup);
		if ((whose = older_relation_named(c->conrelid)) != NULL)
		{
#ifdef CONSTRAINT_NOTNULL
			if (c->contype == CONSTRAINT_NOTNULL)
			{
				refuse_older_addition("NOT NULL to a column of", whose);
				return;
			}
#endif
			refuse_older_addition("a constraint to", whose);
		}
		else if (c->contype == CONSTRAINT_FOREIGN &&
				 (whose = older_relation_named(c->confrelid)) != NULL)
			refuse_older_addition("a foreign key that references", whose);
		else if (OidIsValid(c->contypid) && (whose = older_type(c->contypid)) != NULL)
			refuse_older_addition("a constraint to", whose);
		return;
	}
	if (classId == TriggerRelationId)
	{
		Form_pg_trigger t;

		tup = row_self(TriggerRelationId, TriggerOidIndexId, Anum_pg_trigger_oid, objectId);
		if (tup == NULL)
			return;
		t = (Form_pg_trigger) GETSTRUCT(tup);
		if (!t->tgisinternal && (whose = older_relation_named(t->tgrelid)) != NULL)
			refuse_older_addition("a trigger to", whose);
		return;
	}
	if (classId == AttrDefaultRelationId)
	{
		/* the relation and the column (StoreAttrDefault) */
		Relation	rel;
		ScanKeyData keys[2];
		SysScanDesc scan;
		Node	   *expr = NULL;
		bool		generated;

		if (subId <= 0 || (whose = older_relation_named(objectId)) == NULL)
			return;
		generated = get_attgenerated(objectId, (AttrNumber) subId) != '\0';
		rel = table_open(AttrDefaultRelationId, AccessShareLock);
		ScanKeyInit(&keys[0], Anum_pg_attrdef_adrelid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(objectId));
		ScanKeyInit(&keys[1], Anum_pg_attrdef_adnum, BTEqualStrategyNumber, F_INT2EQ,
					Int16GetDatum((int16) subId));
		scan = systable_beginscan(rel, AttrDefaultIndexId, true, SnapshotSelf, 2, keys);
		if (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			bool		isnull;
			Datum		bin = heap_getattr(tup, Anum_pg_attrdef_adbin, RelationGetDescr(rel), &isnull);

			if (!isnull)
				expr = stringToNode(TextDatumGetCString(bin));
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
		if (generated)
			refuse_older_addition("a generated column to", whose);
		else if (expr != NULL && contain_mutable_functions(expr))
			refuse_older_addition("a column default that calls a function that is not immutable to", whose);
		return;
	}
	/* RelationRelationId: an index, or a column (subId) */
	if (subId == 0)
	{
		Form_pg_index ix;

		tup = row_self(IndexRelationId, IndexRelidIndexId, Anum_pg_index_indexrelid, objectId);
		if (tup == NULL)
			return;
		ix = (Form_pg_index) GETSTRUCT(tup);
		if ((whose = older_relation_named(ix->indrelid)) != NULL)
			refuse_older_addition("an index to", whose);
		return;
	}
	if ((whose = older_relation_named(objectId)) == NULL)
		return;
	{
		/* the new column's row: ADD COLUMN calls the hook before it is visible */
		Relation	rel = table_open(AttributeRelationId, AccessShareLock);
		ScanKeyData keys[2];
		SysScanDesc scan;
		const char *act = NULL;

		ScanKeyInit(&keys[0], Anum_pg_attribute_attrelid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(objectId));
		ScanKeyInit(&keys[1], Anum_pg_attribute_attnum, BTEqualStrategyNumber, F_INT2EQ,
					Int16GetDatum((int16) subId));
		scan = systable_beginscan(rel, AttributeRelidNumIndexId, true, SnapshotSelf, 2, keys);
		if (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			Form_pg_attribute att = (Form_pg_attribute) GETSTRUCT(tup);

			act = att->attnotnull ? "NOT NULL to a column of" :
				att->attidentity != '\0' ? "an identity column to" :
				type_is_domain(att->atttypid) ? "a column of a domain (its constraints) to" : NULL;
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
		if (act != NULL)
			refuse_older_addition(act, whose);
	}
}

/*
 * Can PUBLIC, a registered agent role or a role one is a member of use
 * what this ACL gives?  A NULL ACL is the owner's default, which gives
 * PUBLIC nothing on a relation.
 */
static bool
acl_reaches_agent(Datum acl_datum, bool isnull)
{
	Acl		   *acl;
	AclItem    *items;
	int			i;

	if (isnull)
		return false;
	acl = DatumGetAclP(acl_datum);
	/* an ACL is a one-dimensional array without nulls (acl.c) */
	if (ARR_NDIM(acl) != 1 || ARR_HASNULL(acl))
		return false;
	items = (AclItem *) (((char *) acl) + ARR_OVERHEAD_NONULLS(1));
	for (i = 0; i < ACL_NUM(acl); i++)
		if (ACLITEM_GET_PRIVS(items[i]) != 0 &&
			(items[i].ai_grantee == ACL_ID_PUBLIC || ag_agentcode_role_is_agent(items[i].ai_grantee)))
			return true;
	return false;
}

/* Does the relation or one of its columns give an agent a right? */
static bool
relation_reaches_agent(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		isnull;
	bool		reaches = false;
	Datum		acl;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;

	if (!HeapTupleIsValid(tup))
		return false;
	acl = SysCacheGetAttr(RELOID, tup, Anum_pg_class_relacl, &isnull);
	reaches = acl_reaches_agent(acl, isnull);
	ReleaseSysCache(tup);
	if (reaches)
		return true;
	rel = table_open(AttributeRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_attribute_attrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, AttributeRelidNumIndexId, true, NULL, 1, &key);
	while (!reaches && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		acl = heap_getattr(tup, Anum_pg_attribute_attacl, RelationGetDescr(rel), &isnull);
		reaches = acl_reaches_agent(acl, isnull);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return reaches;
}

/*
 * A trigger of the relation whose function is SECURITY DEFINER: a trigger
 * calls its function without asking for EXECUTE, so whoever may write the
 * relation runs it with its owner's rights.  Its description, or NULL.
 */
static char *
definer_trigger(Oid relid)
{
	Relation	rel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *what = NULL;

	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (what == NULL && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_trigger t = (Form_pg_trigger) GETSTRUCT(tup);
		HeapTuple	fn = SearchSysCache1(PROCOID, ObjectIdGetDatum(t->tgfoid));

		if (HeapTupleIsValid(fn))
		{
			if (((Form_pg_proc) GETSTRUCT(fn))->prosecdef)
				what = psprintf("table %s, whose trigger %s calls SECURITY DEFINER %s",
								ag_qualified_relname(relid), quote_identifier(NameStr(t->tgname)),
								format_procedure(t->tgfoid));
			ReleaseSysCache(fn);
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return what;
}

/*
 * What a tagged transaction made that carries the role's rights (red team
 * 35, F8): a view or materialized view (PostgreSQL checks what a view reads
 * and writes as its owner, the role; a security_invoker view can be
 * switched back in the same transaction; a materialized view holds what the
 * role read), a table with a rule (a rule's actions run as the table's
 * owner), a table with a trigger that calls a SECURITY DEFINER function (a
 * trigger asks for no EXECUTE), a SECURITY DEFINER routine.  Its
 * description, or NULL.
 */
char *
ag_tagshadow_rights_carrier(Oid classid, Oid objid)
{
	HeapTuple	tup;
	char	   *what = NULL;

	if (classid == RelationRelationId)
	{
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(objid));
		if (!HeapTupleIsValid(tup))
			return NULL;
		if (!isAnyTempNamespace(((Form_pg_class) GETSTRUCT(tup))->relnamespace))
		{
			char		relkind = ((Form_pg_class) GETSTRUCT(tup))->relkind;

			if (relkind == RELKIND_VIEW)
				what = psprintf("view %s", ag_qualified_relname(objid));
			else if (relkind == RELKIND_MATVIEW)
				what = psprintf("materialized view %s", ag_qualified_relname(objid));
			else if (((Form_pg_class) GETSTRUCT(tup))->relhasrules)
				what = psprintf("table %s, which has a rule", ag_qualified_relname(objid));
			else if (((Form_pg_class) GETSTRUCT(tup))->relhastriggers)
				what = definer_trigger(objid);
		}
		ReleaseSysCache(tup);
	}
	else if (classid == ProcedureRelationId)
	{
		tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(objid));
		if (!HeapTupleIsValid(tup))
			return NULL;
		if (((Form_pg_proc) GETSTRUCT(tup))->prosecdef &&
			!isAnyTempNamespace(((Form_pg_proc) GETSTRUCT(tup))->pronamespace))
			what = psprintf("SECURITY DEFINER %s", format_procedure(objid));
		ReleaseSysCache(tup);
	}
	return what;
}

/*
 * At COMMIT (PREPARE) of a tagged transaction (red team 35, F8): what it
 * made that carries the role's rights and that an agent can use.  A
 * SECURITY DEFINER routine is refused whatever its ACL: EXECUTE is PUBLIC's
 * by default, and a trigger calls its function without asking for it.  A
 * view, materialized view or table with a rule is refused when PUBLIC, a
 * registered agent role or a role one is a member of has a right on it or
 * a column: the GRANT may have come before the view's option was switched,
 * the rule was put, or (PostgreSQL 15) the table was made a view, or
 * through ALL TABLES IN SCHEMA.  The GRANT itself is refused at once
 * (structure.c); this catches every order.
 */
static void
commit_rights_check(void)
{
	int			i;
	char	   *what = NULL;

	if (made_count == 0 || !tagged_judging())
		return;
	for (i = 0; i < made_count && what == NULL; i++)
	{
		char	   *carrier;

		if (made_here[i].classid != ProcedureRelationId &&
			made_here[i].classid != RelationRelationId)
			continue;
		carrier = ag_tagshadow_rights_carrier(made_here[i].classid, made_here[i].objid);
		/* an extension's script is not judged (its author's objects) */
		if (carrier == NULL ||
			OidIsValid(getExtensionOfObject(made_here[i].classid, made_here[i].objid)))
			continue;
		if (made_here[i].classid == ProcedureRelationId ||
			relation_reaches_agent(made_here[i].objid))
			what = carrier;
	}
	if (what != NULL)
	{
		const char *text = debug_query_string ? debug_query_string : "COMMIT";

		ag_refuse(AG_REFUSAL_GUARD, "COMMIT",
				  psprintf("The transaction made %s, which runs with the rights of the role that owns it%s: in a session tagged with agent_guard.agent_id whose role is not a registered agent role, that role is the humans', and an agent would reach their objects through it with rights the humans never gave it. Make it from a human's session, or give the agent its own role (register_agent).",
						   what, strncmp(what, "SECURITY DEFINER", 16) == 0 ?
						   " for whoever calls it (EXECUTE is PUBLIC's by default; a trigger calls it without EXECUTE)" :
						   ", and PUBLIC, a registered agent role or a role one is a member of has rights on it"),
				  text, strlen(text), 0);
	}
}
