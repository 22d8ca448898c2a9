/*-------------------------------------------------------------------------
 * agentshadow.c
 *		An agent's function, operator or type that shadows a built-in one,
 *		chosen by a human's statement (red team 15, F1).
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
 * shadow is never what the human meant.  Judged once the statement is
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
 * A name written with its schema (shb.lower(...), OPERATOR(shb.=)) is the
 * human's choice, not the search_path's, and runs: the parsed statement
 * keeps where each name was written, and the text there says.  The hint
 * names the ways out: pg_catalog.lower(), OPERATOR(pg_catalog.=), a
 * search_path of pg_catalog and the human's own schemas, or the agent's
 * CREATE on the schema revoked.
 *
 * Cost: a walk of each statement parsed while agents are registered; an
 * object that is not built in costs one cached lookup (its owner, then
 * pg_catalog's names), invalidated with pg_proc, pg_operator, pg_type,
 * roles, memberships and the registry.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parse_node.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "agentcode.h"
#include "agentshadow.h"

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
static uint64 shadow_generation = 0;

static void
shadow_inval(Datum arg, int cacheid, uint32 hashvalue)
{
	shadows_stale = true;
}

void
ag_agentshadow_init(void)
{
	CacheRegisterSyscacheCallback(PROCOID, shadow_inval, (Datum) 0);
	CacheRegisterSyscacheCallback(OPEROID, shadow_inval, (Datum) 0);
	CacheRegisterSyscacheCallback(TYPEOID, shadow_inval, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, shadow_inval, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, shadow_inval, (Datum) 0);
}

/* Has pg_catalog a function (or aggregate), operator or type of this name? */
static bool
catalog_has_name(Oid classid, const char *name)
{
	CatCList   *list;
	bool		found = false;
	int			i;

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

/* The object's owner, name and schema; false when it is gone. */
static bool
object_owner_name(Oid classid, Oid objid, Oid *owner, NameData *name, Oid *nsp)
{
	HeapTuple	tup;

	if (classid == ProcedureRelationId)
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

/* The agent role whose object shadows a built-in name, or InvalidOid. */
static Oid
shadow_owner(Oid classid, Oid objid, uint64 generation)
{
	ShadowKey	key;
	ShadowEntry *e;
	bool		found;
	Oid			owner;
	NameData	name;
	Oid			nsp;

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

	if (!object_owner_name(classid, objid, &owner, &name, &nsp) ||
		nsp == PG_CATALOG_NAMESPACE || !ag_agentcode_role_is_agent(owner) ||
		!catalog_has_name(classid, NameStr(name)))
		owner = InvalidOid;
	/* the lookups above may have taken an invalidation: no harm, kept or not */
	e = hash_search(shadow_cache, &key, HASH_ENTER, &found);
	e->agent_owner = owner;
	return owner;
}

static void
refuse_shadow(Oid classid, Oid objid, Oid owner)
{
	Oid			dummy;
	NameData	name;
	Oid			nsp;
	const char *what;
	const char *builtin;
	const char *write;

	if (!object_owner_name(classid, objid, &dummy, &name, &nsp))
		return;
	if (classid == ProcedureRelationId)
	{
		what = psprintf("function %s", format_procedure_qualified(objid));
		builtin = psprintf("pg_catalog.%s", quote_identifier(NameStr(name)));
		write = psprintf("%s(...)", builtin);
	}
	else if (classid == OperatorRelationId)
	{
		what = psprintf("operator %s", format_operator_qualified(objid));
		builtin = psprintf("pg_catalog.%s", NameStr(name));
		write = psprintf("OPERATOR(%s)", builtin);
	}
	else
	{
		what = psprintf("type %s", format_type_be_qualified(objid));
		builtin = psprintf("pg_catalog.%s", quote_identifier(NameStr(name)));
		write = builtin;
	}
	ereport(ERROR,
			(errcode(ERRCODE_AG_GUARD_PROTECTED),
			 errmsg("statement of role \"%s\" resolves a name to %s of agent role \"%s\", which shadows built-in %s",
					ag_agentcode_role_name(GetUserId()), what,
					ag_agentcode_role_name(owner), builtin),
			 errdetail("A name in the statement matched the agent's object in schema %s better than the built-in in pg_catalog; role \"%s\", which is or serves an agent, would choose what the statement reads and writes.",
					   quote_identifier(get_namespace_name(nsp)), ag_agentcode_role_name(owner)),
			 errhint("Write %s, set search_path to pg_catalog and your own schemas only, or revoke CREATE on schema %s from role \"%s\" and drop its %s.",
					 write, quote_identifier(get_namespace_name(nsp)),
					 ag_agentcode_role_name(owner), what)));
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
 * (EXPLAIN, DECLARE, CREATE TABLE AS, CALL's arguments); the others run
 * no expression of the text here, and ROLLBACK must pass in an aborted
 * transaction.
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
