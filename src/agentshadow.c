/*-------------------------------------------------------------------------
 * agentshadow.c
 *		An agent's function, operator, type, collation or operator class that
 *		shadows a built-in one, chosen by a human's statement (red team 15, F1;
 *		red team 16, F2).
 *
 * PostgreSQL resolves a function or operator by the best match of its
 * argument types over every schema of the search_path; pg_catalog is
 * searched first, but a better match elsewhere wins.  pg_catalog has no
 * numeric = integer (it casts the integer) and no lower(varchar) (it
 * casts to text), so an agent with CREATE on a schema of a human's
 * search_path (public) that creates public.=(numeric, integer) or
 * public.lower(varchar) is chosen by the human's own
 * DELETE FROM invoices WHERE amount = 30: the agent's function runs with
 * the agent's rights, as promised, but it picks the rows of a human's
 * write on a protected table (every row), unlogged, also during a freeze
 * (CVE-2018-1058's pattern).  Like an agent's view a human writes
 * through (agentcode.c's judge_target_view), the agent's code chooses the
 * human's writes; and what a human reads through it misleads as much.
 *
 * So a statement of a session that is not an agent's is refused (YG004)
 * when a name in its own text resolved to a function, aggregate,
 * operator or type of an agent role whose name pg_catalog has too: a
 * shadow is never what the human meant.  A function or aggregate callable
 * with one argument and named like a pg_catalog type shadows the cast
 * name(x) stands for when no function matches (red team 20, F6: an
 * agent's public.uuid(text) chosen for a human's uuid($1)).  Judged once the statement is
 * parsed (post_parse_analyze), before the rewriter adds views' bodies,
 * rules' actions and column defaults, so only what the statement's own
 * text chose is judged; an agent's view calling the agent's own
 * functions stays the agent's code, judged as such elsewhere.  What a
 * human's PL/pgSQL or SQL function parses at run time is judged the same
 * way (it resolves with the session's search_path); what an agent's
 * function parses in the human's session is the agent's code, run as the
 * agent.  A plan cached before the shadow existed resolves again only
 * when it is invalidated, and is judged then.
 *
 * An object counts as an agent role's when the role owns it, or owns the
 * extension it is a member of (red team 18a, F7): a trusted extension's
 * script runs as the bootstrap superuser, who owns its objects, so an
 * agent's CREATE EXTENSION intarray in a schema of a human's search_path
 * would otherwise put its @>, <@ and && on int4[] (better matches than
 * pg_catalog's anyarray ones) into the human's statements unjudged.  The
 * agent's CREATE EXTENSION is refused only into a schema the agent may not
 * create in (pg_catalog above all, where its members would be built-ins
 * and beyond this check): PostgreSQL does not ask, and the script runs
 * as a superuser.  Into its own schemas it is allowed: the humans'
 * search_paths are not known then, and the refusal in the human's
 * statement covers it, as for the agent's own operators.
 *
 * A name written with its schema (shb.lower(...), OPERATOR(shb.=)) is the
 * human's choice, not the search_path's, and runs: the parsed statement
 * keeps where each name was written, and the text there says.  The hint
 * names the ways out: pg_catalog.lower(), OPERATOR(pg_catalog.=), a
 * search_path of pg_catalog and the human's own schemas, or the agent's
 * CREATE on the schema revoked.
 *
 * Utility statements transform some expressions themselves, outside parse
 * analysis (red team 16, F2): ALTER COLUMN ... TYPE ... USING, defaults
 * and generated columns, CHECKs, domains' CHECKs and defaults, EXECUTE's
 * parameters, policies, index expressions and predicates, EXCLUDE,
 * triggers' WHEN, rules' WHERE and actions, statistics, partition keys
 * and bounds, COPY's WHERE, functions' parameter defaults and BEGIN
 * ATOMIC bodies, and the types and functions DDL names (columns,
 * arguments, an operator's or aggregate's function).  Rather than walk
 * each statement's raw tree for each such place (a list that grows with
 * every release), what the statement resolved is judged by what
 * PostgreSQL records of it, for the whole class:
 *
 *	- stored: every object a human's utility statement creates or alters
 *	  (object access, OAT_POST_CREATE / OAT_POST_ALTER) is looked up in
 *	  pg_depend, by its own index, for the rows this statement inserted
 *	  (current transaction, cmin from the statement's first command id):
 *	  recordDependencyOnExpr() names every function, operator and type of
 *	  a stored expression, and DDL records the types and functions it
 *	  names.  Judged when the object is announced (CREATE INDEX
 *	  CONCURRENTLY commits before its end) and again when the statement
 *	  ends (a partition key, a column's new type are stored after).
 *	- evaluated only: a function set up for execution (OAT_FUNCTION_EXECUTE,
 *	  ExecInitFunc) while the innermost statement running is the human's
 *	  utility statement, not a plan inside it: USING, EXECUTE's parameters,
 *	  COPY's WHERE, partition bounds, a new column's default.  A shadow
 *	  function, or the function of a shadow operator (a built-in one too),
 *	  is refused before it runs; agents' functions are never inlined in a
 *	  human's session (agentcode.c), so their calls are set up.
 *
 * Neither record keeps where a name was written, so the statement's text
 * decides whether the statement chose the shadow: PostgreSQL's own scanner
 * lexes it (comments and string literals name nothing), and the shadow
 * counts as chosen when its name appears without a schema (not after a
 * dot): a function's or type's as an identifier or keyword, an operator's
 * as written or implied (IN, CASE, IS DISTINCT FROM, NULLIF, NATURAL JOIN
 * and JOIN ... USING are =; BETWEEN is <= and >=; LIKE, ILIKE, SIMILAR TO
 * their operators; ORDER BY, GROUP BY, DISTINCT and set operations take
 * the type's default operator class, not a name).  So what the
 * statement only re-creates or runs of an agent's own stored code (its
 * CHECKs re-added by ALTER COLUMN ... TYPE, its defaults in a human's
 * COPY) names nothing and runs, as the agent's code; a statement that
 * writes shb.lower or OPERATOR(pg_catalog.=) runs.  A shadow function or
 * operator whose schema is not on the search_path (the one the statement
 * started with, nor the one in effect when judged) is reached by no name
 * alone, so a statement that names lower alone beside the agent's
 * re-created code or its own shb.lower(...) runs there.  Over-
 * approximation, a refusal: the same with the agent's schema on the
 * search_path (which lower a name alone chose depends on its arguments'
 * types, which the text does not say).
 *
 * Types, collations and operator classes match by name exactly, so an
 * agent's counts only where the search_path lists its schema before
 * pg_catalog.  A type the statement only evaluates (USING x::int4,
 * EXECUTE p('5'::int4), a cast by the agent's function to its type,
 * PREPARE's parameter types) leaves no dependency, and a domain sets up
 * no function of its name: so when the search_path lists a schema before
 * pg_catalog, the text of a human's utility statement is lexed before it
 * runs and every name written without a schema that pg_catalog has as a
 * type and that resolves to an agent's type is refused (wherever it
 * stands: a column of that name too), and so is every collation named
 * after COLLATE.  An operator class (a superuser's to create, an agent's
 * only if given to it) is judged by the dependency of the index or key
 * that stores it.  Conversions are not judged: a conversion function
 * takes internal arguments (C, a superuser's), so an agent's default
 * conversion can name only a built-in one, which checks its encodings.
 *
 * CREATE TABLE ... (LIKE t INCLUDING ...), INHERITS, PARTITION OF and
 * ATTACH PARTITION (its cloned indexes) name nothing of what they copy (column types, defaults, CHECKs, indexes,
 * statistics): what such a statement and its subcommands store that uses
 * an agent's shadow at all is refused, its text unread.
 *
 * Cost: a walk of each statement parsed while agents are registered; an
 * object that is not built in costs one cached lookup (its owner, then
 * pg_catalog's names, then for one that has a built-in's name and is not
 * an agent's its extension and that extension's owner: an index scan of
 * pg_depend and of pg_extension, once per object while the cache lasts),
 * invalidated with pg_proc, pg_operator, pg_type, collations, operator
 * classes, roles, memberships, the registry and (18) pg_extension.  A human's utility statement
 * while agents are registered: a frame, an index scan of pg_depend per
 * object it creates or alters, a hash probe per function its own
 * expressions set up (the functions of agents' shadow operators, read
 * from pg_operator when operators or roles change); the text is lexed
 * only when a shadow was resolved, or before it runs when the search_path
 * lists a schema before pg_catalog (a syscache probe per name then).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parse_node.h"
#include "parser/scanner.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "agentcode.h"
#include "agentshadow.h"
#include "compat.h"
#include "refusal.h"

typedef struct ShadowKey
{
	Oid			classid;
	Oid			objid;
} ShadowKey;

typedef struct ShadowEntry
{
	ShadowKey	key;
	Oid			agent_owner;	/* InvalidOid: not an agent's shadow */
} ShadowEntry;

static HTAB *shadow_cache = NULL;
static bool shadows_stale = false;
static bool opfuncs_stale = true;	/* the functions of shadow operators */
static uint64 shadow_generation = 0;

static void
shadow_inval(Datum arg, int cacheid, uint32 hashvalue)
{
	shadows_stale = true;
	opfuncs_stale = true;
}

void
ag_agentshadow_init(void)
{
	CacheRegisterSyscacheCallback(PROCOID, shadow_inval, (Datum) 0);
	CacheRegisterSyscacheCallback(OPEROID, shadow_inval, (Datum) 0);
	CacheRegisterSyscacheCallback(TYPEOID, shadow_inval, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, shadow_inval, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, shadow_inval, (Datum) 0);
	CacheRegisterSyscacheCallback(COLLOID, shadow_inval, (Datum) 0);
	CacheRegisterSyscacheCallback(CLAOID, shadow_inval, (Datum) 0);
#ifdef AG_HAVE_EXTENSION_SYSCACHE
	/* an extension's owner (before 18 pg_extension has no syscache) */
	CacheRegisterSyscacheCallback(EXTENSIONOID, shadow_inval, (Datum) 0);
#endif
}

/*
 * Has pg_catalog a function (or aggregate), operator, type, collation or
 * operator class (of the same access method, amid) of this name?
 */
static bool
catalog_has_name(Oid classid, const char *name, Oid amid)
{
	CatCList   *list;
	bool		found = false;
	int			i;

	if (classid == CollationRelationId)
		return SearchSysCacheExists3(COLLNAMEENCNSP, CStringGetDatum(name),
									 Int32GetDatum(-1), ObjectIdGetDatum(PG_CATALOG_NAMESPACE)) ||
			SearchSysCacheExists3(COLLNAMEENCNSP, CStringGetDatum(name),
								  Int32GetDatum(GetDatabaseEncoding()),
								  ObjectIdGetDatum(PG_CATALOG_NAMESPACE));
	if (classid == OperatorClassRelationId)
		return SearchSysCacheExists3(CLAAMNAMENSP, ObjectIdGetDatum(amid), CStringGetDatum(name),
									 ObjectIdGetDatum(PG_CATALOG_NAMESPACE));
	if (classid == TypeRelationId)
		return OidIsValid(GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
										  CStringGetDatum(name),
										  ObjectIdGetDatum(PG_CATALOG_NAMESPACE)));
	list = SearchSysCacheList1(classid == ProcedureRelationId ? PROCNAMEARGSNSP : OPERNAMENSP,
							   CStringGetDatum(name));
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

/*
 * Could a call of a function of this name, kind and arguments stand for a
 * cast to a pg_catalog type?  name(x) with one argument is a cast to the
 * type of that name when no function matches (FuncNameAsType), and
 * pg_catalog has no function named uuid, json, jsonb, inet, bytea,
 * tsvector, ...: so an agent's public.uuid(text) is chosen for a human's
 * uuid($1) with a text parameter, a driver's usual way to pass a key (red
 * team 20, finding 6).  A function, aggregate or window function callable
 * with one argument counts; a procedure is only CALLed.  tagshadow.c asks
 * the same of a tagged shared role's new function.
 */
bool
ag_agentshadow_named_like_type(const char *name, char prokind, int nargs, int ndefaults)
{
	if (prokind == PROKIND_PROCEDURE || nargs < 1 || nargs - ndefaults > 1)
		return false;
	return OidIsValid(GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum(name),
									  ObjectIdGetDatum(PG_CATALOG_NAMESPACE)));
}

/* Is the function one whose call could stand for a cast to a pg_catalog type? */
static bool
function_named_like_type(Oid funcid)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	bool		like;
	Form_pg_proc p;

	if (!HeapTupleIsValid(tup))
		return false;
	p = (Form_pg_proc) GETSTRUCT(tup);
	like = ag_agentshadow_named_like_type(NameStr(p->proname), p->prokind,
										  p->pronargs, p->pronargdefaults);
	ReleaseSysCache(tup);
	return like;
}

/*
 * Has pg_catalog an object of this one's kind and name (catalog_has_name()),
 * or, for a function, a type whose cast a call of it could stand for?
 */
static bool
shadows_builtin(Oid classid, Oid objid, const char *name, Oid amid)
{
	return catalog_has_name(classid, name, amid) ||
		(classid == ProcedureRelationId && function_named_like_type(objid));
}

/*
 * The object's owner, name and schema (and an operator class's access
 * method, else InvalidOid); false when it is gone.
 */
static bool
object_owner_name_am(Oid classid, Oid objid, Oid *owner, NameData *name, Oid *nsp, Oid *amid)
{
	HeapTuple	tup;

	*amid = InvalidOid;
	if (classid == CollationRelationId)
	{
		tup = SearchSysCache1(COLLOID, ObjectIdGetDatum(objid));
		if (!HeapTupleIsValid(tup))
			return false;
		*owner = ((Form_pg_collation) GETSTRUCT(tup))->collowner;
		*name = ((Form_pg_collation) GETSTRUCT(tup))->collname;
		*nsp = ((Form_pg_collation) GETSTRUCT(tup))->collnamespace;
	}
	else if (classid == OperatorClassRelationId)
	{
		tup = SearchSysCache1(CLAOID, ObjectIdGetDatum(objid));
		if (!HeapTupleIsValid(tup))
			return false;
		*owner = ((Form_pg_opclass) GETSTRUCT(tup))->opcowner;
		*name = ((Form_pg_opclass) GETSTRUCT(tup))->opcname;
		*nsp = ((Form_pg_opclass) GETSTRUCT(tup))->opcnamespace;
		*amid = ((Form_pg_opclass) GETSTRUCT(tup))->opcmethod;
	}
	else if (classid == ProcedureRelationId)
	{
		tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(objid));
		if (!HeapTupleIsValid(tup))
			return false;
		*owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
		*name = ((Form_pg_proc) GETSTRUCT(tup))->proname;
		*nsp = ((Form_pg_proc) GETSTRUCT(tup))->pronamespace;
	}
	else if (classid == OperatorRelationId)
	{
		tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(objid));
		if (!HeapTupleIsValid(tup))
			return false;
		*owner = ((Form_pg_operator) GETSTRUCT(tup))->oprowner;
		*name = ((Form_pg_operator) GETSTRUCT(tup))->oprname;
		*nsp = ((Form_pg_operator) GETSTRUCT(tup))->oprnamespace;
	}
	else
	{
		tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(objid));
		if (!HeapTupleIsValid(tup))
			return false;
		*owner = ((Form_pg_type) GETSTRUCT(tup))->typowner;
		*name = ((Form_pg_type) GETSTRUCT(tup))->typname;
		*nsp = ((Form_pg_type) GETSTRUCT(tup))->typnamespace;
	}
	ReleaseSysCache(tup);
	return true;
}

static bool
object_owner_name(Oid classid, Oid objid, Oid *owner, NameData *name, Oid *nsp)
{
	Oid			amid;

	return object_owner_name_am(classid, objid, owner, name, nsp, &amid);
}

/*
 * The owner of the extension the object is a member of, or InvalidOid.
 * A trusted extension's script runs as the bootstrap superuser, who owns
 * what it creates; the extension is the role's that created it (red team
 * 18a, F7).  One index scan of pg_depend and one of pg_extension, done
 * only for an object that would shadow a built-in name; the answer is
 * kept with the object's in the shadow cache.
 */
static Oid
extension_owner_of(Oid classid, Oid objid, Oid *extoid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			owner = InvalidOid;

	*extoid = getExtensionOfObject(classid, objid);
	if (!OidIsValid(*extoid))
		return InvalidOid;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(*extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
		owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

/*
 * The agent role whose object shadows a built-in name, or InvalidOid.  An
 * object counts as the agent's when the agent owns it, or owns the
 * extension it is a member of (a trusted extension's objects belong to
 * the bootstrap superuser).
 */
static Oid
shadow_owner(Oid classid, Oid objid, uint64 generation)
{
	ShadowKey	key;
	ShadowEntry *e;
	bool		found;
	Oid			owner;
	NameData	name;
	Oid			nsp;
	Oid			amid;

	if (shadows_stale || generation != shadow_generation)
	{
		if (shadow_cache != NULL)
			hash_destroy(shadow_cache);
		shadow_cache = NULL;
		shadows_stale = false;
		shadow_generation = generation;
	}
	if (shadow_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(ShadowKey);
		ctl.entrysize = sizeof(ShadowEntry);
		shadow_cache = hash_create("agent_guard shadows", 64, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	memset(&key, 0, sizeof(key));
	key.classid = classid;
	key.objid = objid;
	e = hash_search(shadow_cache, &key, HASH_FIND, NULL);
	if (e != NULL)
		return e->agent_owner;

	if (!object_owner_name_am(classid, objid, &owner, &name, &nsp, &amid) ||
		nsp == PG_CATALOG_NAMESPACE || !shadows_builtin(classid, objid, NameStr(name), amid))
		owner = InvalidOid;
	else if (!ag_agentcode_role_is_agent(owner))
	{
		Oid			extoid;

		owner = extension_owner_of(classid, objid, &extoid);
		if (!OidIsValid(owner) || !ag_agentcode_role_is_agent(owner))
			owner = InvalidOid;
		/*
		 * The script of the extension being created uses its own members
		 * (isn's operator classes name its operators): not a shadow for
		 * it.  Not kept: once the script is done they are the agent's.
		 */
		else if (creating_extension && extoid == CurrentExtensionObject)
			return InvalidOid;
	}
	/* the lookups above may have taken an invalidation: no harm, kept or not */
	e = hash_search(shadow_cache, &key, HASH_ENTER, &found);
	e->agent_owner = owner;
	return owner;
}

/*
 * Refused: the statement chose the agent's shadow by a name alone, or
 * (copied) copied what uses it into a new table (LIKE, INHERITS,
 * PARTITION OF), naming nothing.
 */
static void
refuse_shadow_as(Oid classid, Oid objid, Oid owner, bool copied)
{
	Oid			dummy;
	NameData	name;
	Oid			nsp;
	const char *what;
	const char *builtin;
	const char *write;
	const char *drop;
	Oid			extoid;

	if (!object_owner_name(classid, objid, &dummy, &name, &nsp))
		return;
	/* an extension's member goes with its extension only */
	extoid = getExtensionOfObject(classid, objid);
	if (classid == ProcedureRelationId)
	{
		what = psprintf("function %s", format_procedure_qualified(objid));
		builtin = psprintf("pg_catalog.%s", quote_identifier(NameStr(name)));
		/* named like a type only: the built-in is the cast to it */
		write = catalog_has_name(classid, NameStr(name), InvalidOid) ?
			psprintf("%s(...)", builtin) : psprintf("CAST(... AS %s)", builtin);
	}
	else if (classid == OperatorRelationId)
	{
		what = psprintf("operator %s", format_operator_qualified(objid));
		builtin = psprintf("pg_catalog.%s", NameStr(name));
		write = psprintf("OPERATOR(%s)", builtin);
	}
	else if (classid == CollationRelationId)
	{
		what = psprintf("collation %s.%s", quote_identifier(get_namespace_name(nsp)),
						quote_identifier(NameStr(name)));
		builtin = psprintf("pg_catalog.%s", quote_identifier(NameStr(name)));
		write = psprintf("COLLATE %s", builtin);
	}
	else if (classid == OperatorClassRelationId)
	{
		what = psprintf("operator class %s.%s", quote_identifier(get_namespace_name(nsp)),
						quote_identifier(NameStr(name)));
		builtin = psprintf("pg_catalog.%s", quote_identifier(NameStr(name)));
		write = builtin;
	}
	else
	{
		what = psprintf("type %s", format_type_be_qualified(objid));
		builtin = psprintf("pg_catalog.%s", quote_identifier(NameStr(name)));
		write = builtin;
	}
	drop = OidIsValid(extoid) ?
		psprintf("extension %s", quote_identifier(get_extension_name(extoid))) : what;
	/* on record under the agent whose object it is (red team 30, F10) */
	if (copied)
		ag_refuse_code(AG_REFUSAL_GUARD, owner,
					   psprintf("statement of role \"%s\" copies a use of %s of agent role \"%s\", which shadows built-in %s",
								ag_agentcode_role_name(GetUserId()), what,
								ag_agentcode_role_name(owner), builtin),
					   psprintf("The table the statement creates or attaches would take a column type, default, constraint, index or statistics object that uses the agent's object in schema %s; role \"%s\", which is or serves an agent, would choose what the table stores.",
								quote_identifier(get_namespace_name(nsp)), ag_agentcode_role_name(owner)),
					   psprintf("Copy nothing that uses it (LIKE without those INCLUDING options; no INHERITS, PARTITION OF or ATTACH PARTITION under such a parent) and write it with %s, or revoke CREATE on schema %s from role \"%s\" and drop its %s.",
								write, quote_identifier(get_namespace_name(nsp)),
								ag_agentcode_role_name(owner), drop));
	ag_refuse_code(AG_REFUSAL_GUARD, owner,
				   psprintf("statement of role \"%s\" resolves a name to %s of agent role \"%s\", which shadows built-in %s",
							ag_agentcode_role_name(GetUserId()), what,
							ag_agentcode_role_name(owner), builtin),
				   psprintf("A name in the statement matched the agent's object in schema %s better than the built-in in pg_catalog; role \"%s\", which is or serves an agent, would choose what the statement reads and writes.",
							quote_identifier(get_namespace_name(nsp)), ag_agentcode_role_name(owner)),
				   psprintf("Write %s, set search_path to pg_catalog and your own schemas only, or revoke CREATE on schema %s from role \"%s\" and drop its %s.",
							write, quote_identifier(get_namespace_name(nsp)),
							ag_agentcode_role_name(owner), drop));
}

static void
refuse_shadow(Oid classid, Oid objid, Oid owner)
{
	refuse_shadow_as(classid, objid, owner, false);
}

/* What the walk looks for: the first shadow the statement resolved to. */
typedef struct ShadowWalk
{
	const char *source;			/* the statement's text, or NULL */
	uint64		generation;
	Oid			classid;
	Oid			objid;
	Oid			owner;			/* InvalidOid: none found */
} ShadowWalk;

/*
 * Was the name at this location of the statement's text written with its
 * schema (shb.lower(...), OPERATOR(shb.=))?  Then the human chose the
 * object, not the search_path.  Unknown (no text, no location): no.
 */
static bool
written_with_schema(const char *source, int location, Oid classid)
{
	const char *p;

	if (source == NULL || location < 0 || (size_t) location >= strlen(source))
		return false;
	p = source + location;
	if (classid == OperatorRelationId)
	{
		/* OPERATOR(schema.op); an operator's own characters have no dot */
		if (pg_strncasecmp(p, "operator", 8) != 0)
			return false;
		for (p += 8; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++)
			;
		if (*p != '(')
			return false;
		for (p++; *p != '\0' && *p != ')'; p++)
			if (*p == '.')
				return true;
		return false;
	}
	/* an identifier, plain or quoted, then a dot */
	if (*p == '"')
	{
		for (p++; *p != '\0'; p++)
			if (*p == '"' && *++p != '"')
				break;
	}
	else
		while (*p != '\0' && (isalnum((unsigned char) *p) || *p == '_' || *p == '$' ||
							  IS_HIGHBIT_SET(*p)))
			p++;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return *p == '.';
}

/*
 * Is the object an agent's shadow the statement resolved to by its name
 * alone (location: where the name is written, or -1)?  Noted if so.
 */
static bool
found_shadow(ShadowWalk *w, Oid classid, Oid objid, int location)
{
	Oid			owner;

	if (objid < FirstNormalObjectId)
		return false;
	owner = shadow_owner(classid, objid, w->generation);
	if (!OidIsValid(owner) || written_with_schema(w->source, location, classid))
		return false;

	/*
	 * A type's name matches exactly: the agent's shadows pg_catalog's only
	 * where the search_path lists its schema first (a column of the
	 * agent's domain, or its type written with its schema, is no shadow).
	 */
	if (classid == TypeRelationId)
	{
		Oid			dummy;
		NameData	name;
		Oid			nsp;

		if (!object_owner_name(classid, objid, &dummy, &name, &nsp) ||
			TypenameGetTypidExtended(NameStr(name), false) != objid)
			return false;
	}
	w->classid = classid;
	w->objid = objid;
	w->owner = owner;
	return true;
}

static bool
found_in_sort_clauses(ShadowWalk *w, List *clauses)
{
	ListCell   *lc;

	foreach(lc, clauses)
	{
		SortGroupClause *sgc = lfirst_node(SortGroupClause, lc);

		if (found_shadow(w, OperatorRelationId, sgc->sortop, -1) ||
			found_shadow(w, OperatorRelationId, sgc->eqop, -1))
			return true;
	}
	return false;
}

static bool
shadow_walker(Node *node, ShadowWalk *w)
{
	bool		found = false;

	if (node == NULL)
		return false;
	switch (nodeTag(node))
	{
		case T_Query:
			/* ORDER BY ... USING names an operator */
			if (found_in_sort_clauses(w, ((Query *) node)->sortClause))
				return true;
			return query_tree_walker((Query *) node, shadow_walker, w, 0);
		case T_FuncExpr:
			found = found_shadow(w, ProcedureRelationId, ((FuncExpr *) node)->funcid,
								 ((FuncExpr *) node)->location);
			break;
		case T_Aggref:
			found = found_shadow(w, ProcedureRelationId, ((Aggref *) node)->aggfnoid,
								 ((Aggref *) node)->location);
			break;
		case T_WindowFunc:
			found = found_shadow(w, ProcedureRelationId, ((WindowFunc *) node)->winfnoid,
								 ((WindowFunc *) node)->location);
			break;
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			found = found_shadow(w, OperatorRelationId, ((OpExpr *) node)->opno,
								 ((OpExpr *) node)->location);
			break;
		case T_ScalarArrayOpExpr:
			found = found_shadow(w, OperatorRelationId, ((ScalarArrayOpExpr *) node)->opno,
								 ((ScalarArrayOpExpr *) node)->location);
			break;
		case T_RowCompareExpr:
			{
				ListCell   *lc;

				foreach(lc, ((RowCompareExpr *) node)->opnos)
					found = found || found_shadow(w, OperatorRelationId, lfirst_oid(lc), -1);
				break;
			}
			/* a type named in the statement: a literal's, or a cast's */
		case T_Const:
			found = found_shadow(w, TypeRelationId, ((Const *) node)->consttype, -1);
			break;
		case T_RelabelType:
		case T_CoerceViaIO:
		case T_ArrayCoerceExpr:
		case T_CoerceToDomain:
			found = found_shadow(w, TypeRelationId, exprType(node), -1);
			break;
		default:
			break;
	}
	if (found)
		return true;
	return expression_tree_walker(node, shadow_walker, w);
}

/*
 * post_parse_analyze: in a session that is not an agent's, the
 * statement's own names resolve to no agent's shadow of a built-in.
 * Utility statements: those whose query or call is analyzed with them
 * (EXPLAIN, DECLARE, CREATE TABLE AS, CALL's arguments); the others
 * transform their expressions as they run, judged from ProcessUtility and
 * object access (below), and ROLLBACK must pass in an aborted transaction.
 */
void
ag_agentshadow_parsed(ParseState *pstate, Query *query)
{
	const Oid  *roles;
	ShadowWalk	w;
	Node	   *node = (Node *) query;

	if (query == NULL || IsBinaryUpgrade)
		return;
	if (query->commandType == CMD_UTILITY)
	{
		Node	   *u = query->utilityStmt;

		if (u == NULL)
			return;
		if (IsA(u, ExplainStmt))
			node = ((ExplainStmt *) u)->query;
		else if (IsA(u, DeclareCursorStmt))
			node = ((DeclareCursorStmt *) u)->query;
		else if (IsA(u, CreateTableAsStmt))
			node = ((CreateTableAsStmt *) u)->query;
		else if (IsA(u, CallStmt) && ((CallStmt *) u)->funcexpr != NULL)
			node = (Node *) ((CallStmt *) u)->funcexpr->args;	/* CALL finds no built-in */
		else
			return;
		if (node == NULL)
			return;
	}
	memset(&w, 0, sizeof(w));
	w.source = pstate != NULL ? pstate->p_sourcetext : NULL;
	if (ag_process_is_agent() || ag_agent_roles(&roles, &w.generation) <= 0)
		return;
	/* an agent's function parsing its own statements: the agent's code */
	if (ag_agentcode_innermost_is_agent())
		return;
	if (!shadow_walker(node, &w) || ag_session_is_agent())
		return;
	refuse_shadow(w.classid, w.objid, w.owner);
}

/* ---------------------------------------------------------------------
 * Utility statements: the expressions they transform themselves
 * ---------------------------------------------------------------------
 */

/* A human's utility statement being run (hooks.c, strictly nested). */
typedef struct UtilityFrame
{
	const char *text;			/* the statement's own text, not terminated */
	int			len;
	bool		active;			/* judged: a session that is not an agent's */
	uint64		generation;
	CommandId	first_cid;		/* the catalog rows it inserts have cmin >= */
	int			first_object;	/* its objects in objects[] */
	bool		subcommand;		/* part of the statement of the frame below */
	bool		copies;			/* LIKE, INHERITS, PARTITION OF: takes stored code */
	int			npath;			/* the search_path it started with, -1: too long */
	Oid			path[16];
} UtilityFrame;

typedef struct CreatedObject
{
	Oid			classid;
	Oid			objid;
} CreatedObject;

static UtilityFrame *frames = NULL;
static int	nframes = 0;
static int	frames_cap = 0;
static CreatedObject *objects = NULL;
static int	nobjects = 0;
static int	objects_cap = 0;

/* The functions of agents' shadow operators: oprcode -> the operator. */
typedef struct OpFuncEntry
{
	Oid			funcid;
	Oid			opno;
} OpFuncEntry;

static HTAB *opfunc_cache = NULL;
static uint64 opfunc_generation = 0;

/* Token codes of the core scanner, learnt from it (gram.h is not installed on 16 and later). */
static bool scanner_known = false;
static int	tok_ident;
static int	tok_uident;
static int	tok_op;
static int	tok_le;
static int	tok_ge;
static int	tok_ne;
static bool *keyword_token = NULL;
static int	keyword_token_max = 0;

static void
scanner_learn(void)
{
	core_yy_extra_type extra;
	core_YYSTYPE val;
	YYLTYPE		loc;
	core_yyscan_t scanner;
	int			i;
	int			max = 0;

	scanner = scanner_init("x U&\"y\" ~~ <= >= <>", &extra, &ScanKeywords, ScanKeywordTokens);
	tok_ident = core_yylex(&val, &loc, scanner);
	tok_uident = core_yylex(&val, &loc, scanner);
	tok_op = core_yylex(&val, &loc, scanner);
	tok_le = core_yylex(&val, &loc, scanner);
	tok_ge = core_yylex(&val, &loc, scanner);
	tok_ne = core_yylex(&val, &loc, scanner);
	scanner_finish(scanner);

	for (i = 0; i < ScanKeywords.num_keywords; i++)
		max = Max(max, (int) ScanKeywordTokens[i]);
	keyword_token = MemoryContextAllocZero(TopMemoryContext, (max + 1) * sizeof(bool));
	for (i = 0; i < ScanKeywords.num_keywords; i++)
		keyword_token[ScanKeywordTokens[i]] = true;
	keyword_token_max = max;
	scanner_known = true;
}

/* The operators a keyword stands for without writing them (IN is =, ...). */
static bool
keyword_means_operator(const char *keyword, const char *opname)
{
	static const char *const implied[][5] = {
		{"in", "=", "<>", NULL},
		{"case", "=", NULL},
		{"distinct", "=", NULL},
		{"nullif", "=", NULL},
		{"between", "<=", ">=", "<", ">"},
		{"like", "~~", "!~~", NULL},
		{"ilike", "~~*", "!~~*", NULL},
		{"similar", "~", "!~", NULL},
	};
	size_t		i;
	int			j;

	for (i = 0; i < lengthof(implied); i++)
		if (strcmp(implied[i][0], keyword) == 0)
			for (j = 1; j < 5 && implied[i][j] != NULL; j++)
				if (strcmp(implied[i][j], opname) == 0)
					return true;
	return false;
}

/*
 * JOIN ... USING (col) and NATURAL JOIN compare the columns with = found
 * by name through the search_path (red team 18a, F8).  USING is also a
 * policy's, ALTER COLUMN ... TYPE's, an index's, DELETE's and MERGE's,
 * so it counts as = only where it closes a JOIN of the same parenthesis
 * depth that no ON closed yet (a JOIN B JOIN C ON ... ON ... nests them);
 * CROSS JOIN and NATURAL JOIN take neither.  Deeper than the counters
 * go, every USING counts (fail closed).
 */
#define JOIN_DEPTHS 32

static bool
join_means_equality(const char *keyword, const char *opname, int prev, int depth, int *joins)
{
	static int	tok_cross = -1;
	static int	tok_natural = -1;
	bool		tracked = depth >= 0 && depth < JOIN_DEPTHS;

	if (strcmp(opname, "=") != 0)
		return false;
	if (strcmp(keyword, "natural") == 0)
		return true;
	if (tok_cross < 0)
	{
		int			i;

		for (i = 0; i < ScanKeywords.num_keywords; i++)
		{
			const char *kw = GetScanKeyword(i, &ScanKeywords);

			if (strcmp(kw, "cross") == 0)
				tok_cross = ScanKeywordTokens[i];
			else if (strcmp(kw, "natural") == 0)
				tok_natural = ScanKeywordTokens[i];
		}
	}
	if (strcmp(keyword, "join") == 0)
	{
		if (tracked && prev != tok_cross && prev != tok_natural)
			joins[depth]++;
		return false;
	}
	if (strcmp(keyword, "on") == 0)
	{
		if (tracked && joins[depth] > 0)
			joins[depth]--;
		return false;
	}
	if (strcmp(keyword, "using") == 0)
	{
		if (!tracked)
			return true;
		if (joins[depth] > 0)
			return true;
	}
	return false;
}

/*
 * Does the statement's text name the function or type (an identifier or
 * keyword) or the operator (written, or implied by IN, BETWEEN, CASE,
 * IS DISTINCT FROM, NULLIF, LIKE, ILIKE, SIMILAR TO, JOIN ... USING,
 * NATURAL JOIN) without its schema:
 * not after a dot, and a name not before one?  Lexed by PostgreSQL's own
 * scanner, so comments and string literals name nothing; a Unicode-escaped
 * identifier (U&"...") counts as every name.
 */
static bool
text_names_alone(const char *text, int len, Oid classid, const char *name)
{
	core_yy_extra_type extra;
	core_YYSTYPE val;
	YYLTYPE		loc;
	core_yyscan_t scanner;
	int			tok;
	int			prev = 0;
	bool		pending = false;	/* a matching name, unless a dot follows */
	bool		found = false;
	char		single[2] = {0, 0};
	int			depth = 0;		/* of parentheses */
	int			joins[JOIN_DEPTHS];	/* per depth: JOINs awaiting ON or USING */

	if (text == NULL)
		return true;			/* unknown: fail closed */
	memset(joins, 0, sizeof(joins));
	if (!scanner_known)
		scanner_learn();
	scanner = scanner_init(pnstrdup(text, len), &extra, &ScanKeywords, ScanKeywordTokens);
	/* the statement was lexed once already: no second warning */
	extra.escape_string_warning = false;
	while (!found && (tok = core_yylex(&val, &loc, scanner)) != 0)
	{
		const char *word = NULL;
		const char *op = NULL;

		if (pending && tok != '.')
			found = true;
		pending = false;
		if (found)
			break;
		if (tok == tok_ident)
			word = val.str;
		else if (tok == tok_uident)
			found = (prev != '.' && classid != OperatorRelationId);
		else if (tok >= 0 && tok <= keyword_token_max && keyword_token[tok])
		{
			word = val.keyword;
			if (classid == OperatorRelationId && keyword_means_operator(word, name))
				found = true;
			if (classid == OperatorRelationId)
				found = found || join_means_equality(word, name, prev, depth, joins);
		}
		else if (tok == '(')
		{
			depth++;
			if (depth >= 0 && depth < (int) lengthof(joins))
				joins[depth] = 0;
		}
		else if (tok == ')')
			depth--;
		else if (tok == tok_op)
			op = val.str;
		else if (tok == tok_le)
			op = "<=";
		else if (tok == tok_ge)
			op = ">=";
		else if (tok == tok_ne)
			op = "<>";
		else if (tok > 0 && tok < 128 && strchr("+-*/%^<>=", tok) != NULL)
		{
			single[0] = (char) tok;
			op = single;
		}
		if (classid == OperatorRelationId)
			found = found || (op != NULL && prev != '.' && strcmp(op, name) == 0);
		else if (word != NULL && prev != '.' && strcmp(word, name) == 0)
			pending = true;
		prev = tok;
	}
	scanner_finish(scanner);
	return found || pending;
}

/*
 * Could a name without its schema have reached an object of this schema,
 * in the search_path the statement started with or the one in effect now
 * (a human's function it ran may have set another; an agent's call sets
 * none that lasts)?  Unknown: yes.
 */
static bool
schema_on_path(UtilityFrame *f, Oid nsp)
{
	Oid			now[lengthof(f->path)];
	int			n;
	int			i;

	if (f->npath < 0)
		return true;
	for (i = 0; i < f->npath; i++)
		if (f->path[i] == nsp)
			return true;
	n = fetch_search_path_array(now, lengthof(now));
	if (n > (int) lengthof(now))
		return true;
	for (i = 0; i < n; i++)
		if (now[i] == nsp)
			return true;
	return false;
}

/*
 * Does the name alone reach the object?  A type's, collation's and
 * operator class's name matches exactly: only where its schema comes
 * first.  A function or operator is a best match of its arguments, so
 * any schema of the search_path may hold it; one outside the search_path
 * (shb.lower(...) written with its schema, or re-created code that names
 * it so) is reached by no name alone.
 */
static bool
name_reaches(UtilityFrame *f, Oid classid, Oid objid, const char *name, Oid nsp, Oid amid)
{
	if (classid == TypeRelationId)
		return TypenameGetTypidExtended(name, false) == objid;
	if (classid == CollationRelationId)
		return CollationGetCollid(name) == objid;
	if (classid == OperatorClassRelationId)
		return OpclassnameGetOpcid(amid, name) == objid;
	return schema_on_path(f, nsp);
}

/* How the statement came to the agent's shadow */
typedef enum ShadowChoice
{
	SHADOW_NONE,				/* not a shadow, or reached by its schema */
	SHADOW_NAMED,				/* by a name of its text alone */
	SHADOW_COPIED				/* in what it copies (LIKE, INHERITS, PARTITION OF) */
} ShadowChoice;

/*
 * Is this object, which the utility statement of the frame resolved, an
 * agent's shadow of a built-in that the statement's text chose by its name
 * alone (or, stored by a statement that copies stored code, at all)?  The
 * shadow (an array's element type for an array type) is set.
 */
static ShadowChoice
chosen_shadow(UtilityFrame *f, Oid *classid, Oid *objid, Oid *owner, bool stored)
{
	Oid			dummy;
	NameData	name;
	Oid			nsp;
	Oid			amid;

	if (*classid == TypeRelationId && *objid >= FirstNormalObjectId)
	{
		Oid			elem = get_element_type(*objid);

		if (OidIsValid(elem))
			*objid = elem;
	}
	if (*objid < FirstNormalObjectId)
		return SHADOW_NONE;
	*owner = shadow_owner(*classid, *objid, f->generation);
	if (!OidIsValid(*owner) ||
		!object_owner_name_am(*classid, *objid, &dummy, &name, &nsp, &amid))
		return SHADOW_NONE;
	if (name_reaches(f, *classid, *objid, NameStr(name), nsp, amid) &&
		text_names_alone(f->text, f->len, *classid, NameStr(name)))
		return SHADOW_NAMED;
	/* copied as stored, no name chose it: the shadow is taken all the same */
	return stored && f->copies ? SHADOW_COPIED : SHADOW_NONE;
}

static void
refuse_chosen(Oid classid, Oid objid, Oid owner, ShadowChoice choice)
{
	/* the agent's own session: its own choice */
	if (choice == SHADOW_NONE || ag_session_is_agent())
		return;
	refuse_shadow_as(classid, objid, owner, choice == SHADOW_COPIED);
}

/*
 * What the object the statement created or altered depends on, by the
 * pg_depend rows the statement inserted: every expression it stored
 * (defaults, generated columns, CHECKs, domains' constraints and defaults,
 * index expressions and predicates, policies, triggers' WHEN, rules,
 * statistics, partition keys, parameter defaults, BEGIN ATOMIC bodies,
 * publications' row filters), every type it gave a column or a function,
 * every function or operator it named as a part (an aggregate's, an
 * operator's, a cast's).
 */
static void
judge_stored(UtilityFrame *f, Oid classid, Oid objid)
{
	Relation	rel;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			found_class = InvalidOid;
	Oid			found_obj = InvalidOid;
	Oid			owner = InvalidOid;
	ShadowChoice choice = SHADOW_NONE;
	ShadowChoice c;
	Oid			c_class;
	Oid			c_obj;
	Oid			c_owner = InvalidOid;

	rel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(classid));
	ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(objid));
	/* the statement's own rows, those of its current command included */
	scan = systable_beginscan(rel, DependDependerIndexId, true, SnapshotSelf, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);

		if (d->refobjid < FirstNormalObjectId ||
			(d->refclassid != ProcedureRelationId && d->refclassid != OperatorRelationId &&
			 d->refclassid != TypeRelationId && d->refclassid != CollationRelationId &&
			 d->refclassid != OperatorClassRelationId) ||
			!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data)) ||
			HeapTupleHeaderGetCmin(tup->t_data) < f->first_cid)
			continue;
		c_class = d->refclassid;
		c_obj = d->refobjid;
		/* a name the text chose is reported before a use it copies */
		c = chosen_shadow(f, &c_class, &c_obj, &c_owner, true);
		if (c != SHADOW_NONE && (choice == SHADOW_NONE || c == SHADOW_NAMED))
		{
			choice = c;
			found_class = c_class;
			found_obj = c_obj;
			owner = c_owner;
			if (c == SHADOW_NAMED)
				break;
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	refuse_chosen(found_class, found_obj, owner, choice);
}

/* The default of the column, just stored (SnapshotSelf), or InvalidOid. */
static Oid
attrdef_oid(Oid relid, AttrNumber attnum)
{
	Relation	rel;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			oid = InvalidOid;

	rel = table_open(AttrDefaultRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_attrdef_adrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	ScanKeyInit(&key[1], Anum_pg_attrdef_adnum, BTEqualStrategyNumber, F_INT2EQ,
				Int16GetDatum(attnum));
	scan = systable_beginscan(rel, AttrDefaultIndexId, true, SnapshotSelf, 2, key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
		oid = ((Form_pg_attrdef) GETSTRUCT(tup))->oid;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return oid;
}

/* The frame judging the current statement, or NULL. */
static UtilityFrame *
judging_frame(void)
{
	if (nframes == 0 || !frames[nframes - 1].active)
		return NULL;
	/* what an agent's function does in the human's session is its own */
	if (ag_agentcode_innermost_is_agent())
		return NULL;
	return &frames[nframes - 1];
}

/*
 * Does the statement copy what another table stores (LIKE's column types,
 * defaults, constraints, indexes and statistics; INHERITS' and PARTITION
 * OF's column types, defaults, CHECKs and cloned indexes; the indexes
 * ATTACH PARTITION clones)?
 */
static bool
statement_copies(Node *parsetree)
{
	CreateStmt *create;
	ListCell   *lc;

	if (parsetree == NULL)
		return false;
	if (IsA(parsetree, AlterTableStmt))
	{
		foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
			if (IsA(lfirst(lc), AlterTableCmd) &&
				((AlterTableCmd *) lfirst(lc))->subtype == AT_AttachPartition)
				return true;
		return false;
	}
	if (IsA(parsetree, CreateForeignTableStmt))
		create = &((CreateForeignTableStmt *) parsetree)->base;
	else if (IsA(parsetree, CreateStmt))
		create = (CreateStmt *) parsetree;
	else
		return false;
	if (create->inhRelations != NIL)
		return true;
	foreach(lc, create->tableElts)
		if (IsA(lfirst(lc), TableLikeClause))
			return true;
	return false;
}

/*
 * ProcessUtility, before the statement runs: a frame for it, judged in a
 * session that is not an agent's while agents are registered.  Returns
 * the depth to restore.
 */
int
ag_agentshadow_utility_enter(Node *parsetree, const char *text, int len, bool subcommand)
{
	const Oid  *roles;
	UtilityFrame *f;
	bool		parent_copies = subcommand && nframes > 0 && frames[nframes - 1].active &&
		frames[nframes - 1].copies;

	if (nframes == frames_cap)
	{
		frames_cap = frames_cap ? frames_cap * 2 : 8;
		frames = frames ? repalloc(frames, frames_cap * sizeof(UtilityFrame)) :
			MemoryContextAlloc(TopMemoryContext, frames_cap * sizeof(UtilityFrame));
	}
	f = &frames[nframes++];
	memset(f, 0, sizeof(*f));
	f->text = text;
	f->len = len;
	f->first_object = nobjects;
	f->active = parsetree != NULL && !IsA(parsetree, TransactionStmt) && !IsBinaryUpgrade &&
		!ag_process_is_agent() && ag_agent_roles(&roles, &f->generation) > 0 &&
		!ag_agentcode_innermost_is_agent();
	if (f->active)
	{
		f->first_cid = GetCurrentCommandId(false);
		f->subcommand = subcommand;
		f->copies = parent_copies || statement_copies(parsetree);
		f->npath = fetch_search_path_array(f->path, lengthof(f->path));
		if (f->npath > (int) lengthof(f->path))
			f->npath = -1;
	}
	return nframes - 1;
}

/*
 * Keywords the grammar turns into pg_catalog's types whatever the
 * search_path (INT, VARCHAR, TIMESTAMP, ...): they name no shadow.
 */
static bool
keyword_is_catalog_type(const char *keyword)
{
	static const char *const names[] = {
		"bigint", "bit", "boolean", "char", "character", "dec", "decimal", "double",
		"float", "int", "integer", "interval", "json", "national", "nchar", "numeric",
		"real", "smallint", "time", "timestamp", "varchar",
	};
	size_t		i;

	for (i = 0; i < lengthof(names); i++)
		if (strcmp(names[i], keyword) == 0)
			return true;
	return false;
}

/* A name of the statement's text, written without its schema: a shadow? */
static void
judge_written_name(UtilityFrame *f, const char *word, bool after_collate)
{
	Oid			objid;
	Oid			owner;

	if (after_collate)
	{
		objid = CollationGetCollid(word);
		if (objid >= FirstNormalObjectId &&
			OidIsValid(owner = shadow_owner(CollationRelationId, objid, f->generation)))
			refuse_shadow(CollationRelationId, objid, owner);
		return;
	}
	if (!OidIsValid(GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum(word),
									ObjectIdGetDatum(PG_CATALOG_NAMESPACE))))
		return;
	objid = TypenameGetTypidExtended(word, false);
	if (objid >= FirstNormalObjectId &&
		OidIsValid(owner = shadow_owner(TypeRelationId, objid, f->generation)))
		refuse_shadow(TypeRelationId, objid, owner);
}

/*
 * ProcessUtility, before the statement runs (a subcommand's statement was
 * judged already): the types and collations its text names without their
 * schema resolve to no agent's shadow.  They match by name exactly, so
 * only a search_path that lists a schema before pg_catalog can reach one;
 * otherwise nothing is lexed.  What it stores of a type is judged by its
 * dependencies as well, but a type it only evaluates (USING x::int4,
 * EXECUTE p('5'::int4), a cast's function to it, PREPARE's parameter
 * types) leaves none, and a domain sets up no function of its name: so
 * every name of the text that pg_catalog has as a type and that the
 * search_path resolves to an agent's type is refused, whatever its place
 * in the statement (an over-approximation: a column of the same name as
 * the shadowed type too), and every collation after COLLATE.
 */
void
ag_agentshadow_utility_check(void)
{
	UtilityFrame *f;
	core_yy_extra_type extra;
	core_YYSTYPE val;
	YYLTYPE		loc;
	core_yyscan_t scanner;
	int			tok;
	int			prev = 0;
	bool		prev_collate = false;
	const char *pending = NULL;
	bool		pending_collate = false;

	if ((f = judging_frame()) == NULL || f->subcommand || f->text == NULL ||
		(f->npath > 0 && f->path[0] == PG_CATALOG_NAMESPACE) || ag_session_is_agent())
		return;
	if (!scanner_known)
		scanner_learn();
	scanner = scanner_init(pnstrdup(f->text, f->len), &extra, &ScanKeywords, ScanKeywordTokens);
	extra.escape_string_warning = false;
	while ((tok = core_yylex(&val, &loc, scanner)) != 0)
	{
		bool		keyword = (tok >= 0 && tok <= keyword_token_max && keyword_token[tok] &&
							   val.keyword != NULL);
		const char *word = NULL;

		/* a name, unless a dot follows (a schema's) */
		if (pending != NULL && tok != '.')
			judge_written_name(f, pending, pending_collate);
		pending = NULL;
		if (tok == tok_ident)
			word = val.str;
		else if (keyword && (prev_collate || !keyword_is_catalog_type(val.keyword)))
			word = val.keyword;
		if (word != NULL && prev != '.')
		{
			pending = word;
			pending_collate = prev_collate;
		}
		prev_collate = keyword && strcmp(val.keyword, "collate") == 0;
		prev = tok;
	}
	if (pending != NULL)
		judge_written_name(f, pending, pending_collate);
	scanner_finish(scanner);
}

/*
 * ProcessUtility, the statement ran: what it stored, judged by its
 * objects' new dependencies (a backstop for what was already judged when
 * created, and the only judgement for what was stored after its object's
 * creation: a partition key, a column's new type).
 */
void
ag_agentshadow_utility_done(void)
{
	UtilityFrame *f;
	int			i;

	if (nframes == 0 || !frames[nframes - 1].active || !IsTransactionState() ||
		IsAbortedTransactionBlockState())
		return;
	f = &frames[nframes - 1];
	for (i = f->first_object; i < nobjects; i++)
		judge_stored(f, objects[i].classid, objects[i].objid);
}

/* ProcessUtility, whichever way the statement ended. */
void
ag_agentshadow_utility_leave(int depth)
{
	if (depth < 0 || depth >= nframes)
		return;
	nobjects = frames[depth].first_object;
	nframes = depth;
}

/*
 * Object access: an object the statement created or altered.  Judged at
 * once (CREATE INDEX CONCURRENTLY commits before its end), and again at
 * the statement's end (what was stored after the object's creation).
 */
void
ag_agentshadow_object_access(ObjectAccessType access, Oid classId, Oid objectId, int subId)
{
	UtilityFrame *f;
	int			i;

	if ((access != OAT_POST_CREATE && access != OAT_POST_ALTER) ||
		(f = judging_frame()) == NULL)
		return;
	/* a column's default is announced by its relation and column */
	if (classId == AttrDefaultRelationId &&
		!OidIsValid(objectId = attrdef_oid(objectId, (AttrNumber) subId)))
		return;
	for (i = f->first_object; i < nobjects; i++)
		if (objects[i].classid == classId && objects[i].objid == objectId)
			break;
	if (i == nobjects)
	{
		if (nobjects == objects_cap)
		{
			objects_cap = objects_cap ? objects_cap * 2 : 16;
			objects = objects ? repalloc(objects, objects_cap * sizeof(CreatedObject)) :
				MemoryContextAlloc(TopMemoryContext, objects_cap * sizeof(CreatedObject));
		}
		objects[nobjects].classid = classId;
		objects[nobjects].objid = objectId;
		nobjects++;
		judge_stored(f, classId, objectId);
	}
}

/*
 * Object access, an extension just created (its pg_extension row inserted,
 * its script not yet run): in an agent's session, or by an agent role, the
 * extension's schema must be one the role may create in.  PostgreSQL does
 * not ask (a procedural language's control file names pg_catalog), and a
 * trusted extension's script runs as the bootstrap superuser, so an agent
 * could otherwise put intarray's @>, <@ and && into pg_catalog, where every
 * human's statement would choose them whatever the search_path, or into a
 * human's own schema (red team 18a, F7).  Refused (YG004, on record) before
 * the script runs; CASCADE's required extensions are judged each.
 */
void
ag_agentshadow_extension_created(Oid extoid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			nsp = InvalidOid;
	NameData	extname;

	if (IsBinaryUpgrade ||
		(!ag_session_is_agent() && !ag_agentcode_role_is_agent(GetUserId())))
		return;
	memset(&extname, 0, sizeof(extname));
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	/* the row this command inserted */
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, SnapshotSelf, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
		extname = ((Form_pg_extension) GETSTRUCT(tup))->extname;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(nsp) || AG_NAMESPACE_ACLCHECK(nsp, GetUserId(), ACL_CREATE) == ACLCHECK_OK)
		return;
	ag_refuse(AG_REFUSAL_GUARD, "CREATE EXTENSION",
			  psprintf("Extension \"%s\" would be created in schema %s, in which role \"%s\" may not create objects; its script runs as a superuser, and its functions and operators there would be chosen by humans' statements.",
					   NameStr(extname), quote_identifier(get_namespace_name(nsp)),
					   ag_agentcode_role_name(GetUserId())),
			  debug_query_string ? debug_query_string : "",
			  debug_query_string ? (int) strlen(debug_query_string) : 0, 0);
}

/* The agent's shadow operator this function implements, or InvalidOid. */
static Oid
shadow_operator_of(Oid funcid, uint64 generation)
{
	OpFuncEntry *e;

	if (opfuncs_stale || opfunc_generation != generation || opfunc_cache == NULL)
	{
		HASHCTL		ctl;
		Relation	rel;
		SysScanDesc scan;
		HeapTuple	tup;

		if (opfunc_cache != NULL)
			hash_destroy(opfunc_cache);
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(OpFuncEntry);
		opfunc_cache = hash_create("agent_guard shadow operators", 16, &ctl,
								   HASH_ELEM | HASH_BLOBS);
		opfuncs_stale = false;
		opfunc_generation = generation;
		/* a few hundred rows, read again only when operators or roles change */
		rel = table_open(OperatorRelationId, AccessShareLock);
		scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			Form_pg_operator op = (Form_pg_operator) GETSTRUCT(tup);
			bool		found;

			if (op->oid < FirstNormalObjectId || !OidIsValid(op->oprcode) ||
				!OidIsValid(shadow_owner(OperatorRelationId, op->oid, generation)))
				continue;
			e = hash_search(opfunc_cache, &op->oprcode, HASH_ENTER, &found);
			if (!found)
				e->opno = op->oid;
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	e = hash_search(opfunc_cache, &funcid, HASH_FIND, NULL);
	return e != NULL ? e->opno : InvalidOid;
}

/*
 * Object access, a function set up for execution: in a human's utility
 * statement, not inside a plan, what the statement evaluates itself (a
 * USING clause, EXECUTE's parameters, COPY's WHERE, a partition bound, a
 * new column's default).  Refused before the shadow runs.
 */
void
ag_agentshadow_function_execute(Oid funcid)
{
	UtilityFrame *f;
	Oid			classid;
	Oid			objid;
	Oid			owner = InvalidOid;
	ShadowChoice choice;

	if ((f = judging_frame()) == NULL || !ag_agentcode_utility_innermost())
		return;
	classid = ProcedureRelationId;
	objid = funcid;
	choice = chosen_shadow(f, &classid, &objid, &owner, false);
	refuse_chosen(classid, objid, owner, choice);
	classid = OperatorRelationId;
	objid = shadow_operator_of(funcid, f->generation);
	if (OidIsValid(objid))
	{
		choice = chosen_shadow(f, &classid, &objid, &owner, false);
		refuse_chosen(classid, objid, owner, choice);
	}
}
