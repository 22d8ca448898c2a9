/*-------------------------------------------------------------------------
 * agentstored.c
 *		An agent's stored objects that run in a human's statement outside
 *		any call of the agent's functions: kept to the agent's rights.
 *
 * agentcode.c runs an agent's functions as the agent, and judges the
 * system functions an agent's stored expressions call.  Three more things
 * an agent stores run with the rights of whoever uses them (red team 6,
 * findings 4, 8 and 11), and a fourth (red teams 7 and 8):
 *
 *	- what an agent's view or policy reads.  PostgreSQL checks a view's
 *	  tables as the view's owner, except for a security_invoker view (and
 *	  any security_invoker view inside a view), and a row-security policy's
 *	  subqueries as whoever runs the statement: an agent's would read the
 *	  human's tables for the agent, into the agent's functions.  In a
 *	  human's statement, what these read is checked as the agent
 *	  (ag_agentstored_plan_query); a table among them with row-security
 *	  policies of its own is refused, as they were chosen for the human
 *	  when the statement was rewritten;
 *	- the triggers of an agent's relation.  An agent's trigger function runs
 *	  as the agent (agentcode.c), a built-in one does nothing with its
 *	  caller's rights; any other (an extension's lo_manage, which unlinks
 *	  large objects, or refint's check_foreign_key, which writes the tables
 *	  its arguments name, or a human's function) would act with the rights
 *	  of whoever writes (a human, a superuser's ALTER TABLE, the logical
 *	  replication worker) on the agent's arguments: the agent may not
 *	  create or enable such a trigger (object access).  One a human put on
 *	  the agent's table is the human's choice, and runs;
 *	- the CHECK constraints and the default of an agent's domain.  They run
 *	  wherever a value becomes the domain's, also inside a type's input
 *	  function (a record or array literal, COPY FROM), where no statement is
 *	  planned yet.  So they are judged when stored: a domain an agent role
 *	  owns may not call a function that would act with more than the
 *	  agent's rights (the guard's, one that acts with its caller's rights,
 *	  one the agent may not execute) (object access, post-create and
 *	  post-alter);
 *	- a call of another role's SECURITY INVOKER SQL or PL function, in a
 *	  view, rule, default, CHECK, policy, trigger WHEN, domain, index or
 *	  extended statistics expression the agent stores, or as a cast's
 *	  function (red team 33, F6: a human's m::text or ANALYZE runs them): it
 *	  would run the human's queries with the human's rights.  Judged when
 *	  stored (object access).  A range type's subtype_diff and canonical
 *	  functions are judged the same way when the type is made (red team
 *	  34, F6: GiST calls subtype_diff in a human's insert).  In a
 *	  transaction a shared role tags (not a registered agent), also a call
 *	  of the role's own SQL or PL function, or of any function the
 *	  transaction made, whatever its SECURITY setting (red team 34, F4):
 *	  the role is the humans'; and of a built-in that runs an SQL string or
 *	  a relation's query with its caller's rights (red team 34, F8:
 *	  query_to_xml, ts_rewrite; ag_agentcode_runs_callers_sql), whose
 *	  string no walk of the expression sees into.  Since red team 35 (F1,
 *	  F2, F10) such a transaction's stored code may call only what
 *	  tagged_callable() lists (non-volatile built-ins and the few volatile
 *	  ones defaults use, the guard's identity functions, extensions'
 *	  non-volatile functions that are not SECURITY DEFINER), also through
 *	  the CHECKs of the domains its values become and the queries of the
 *	  older views it reads; a partition key is judged as the rest (F5,
 *	  ag_agentstored_utility_done).
 *
 * What a role stored before it was registered as an agent, or a human gave
 * it, was not judged: register_agent() lists, in a WARNING, each object the
 * role owns that the same checks would have refused (ag_sql_warn_unjudged).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/dependency.h"
#include "catalog/objectaddress.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_cast.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_language.h"
#include "catalog/pg_partitioned_table.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_range.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_statistic_ext.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "rewrite/prs2lock.h"
#include "rewrite/rewriteHandler.h"
#include "rewrite/rewriteSupport.h"
#include "rewrite/rowsecurity.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "agentcode.h"
#include "agentstored.h"
#include "compat.h"
#include "owner_spi.h"
#include "refusal.h"
#include "scope.h"
#include "tagshadow.h"

/* ---------------------------------------------------------------------
 * What an agent's view or policy reads
 * ---------------------------------------------------------------------
 */
typedef struct ReadsAs
{
	Oid			agent;			/* InvalidOid: the statement's user */
	Oid			object;			/* the agent's view or table (policies) */
	Query	   *view_query;		/* the view's own query, whose entry for */
	Oid			view;			/* the view itself is the human's check */
	List	  **seen;			/* the agent's views and tables walked */
} ReadsAs;

static bool reads_as_walker(Node *node, ReadsAs *ctx);

/*
 * Row-security policies of a relation, other than the guard's own
 * soft-delete ones (protect()): chosen, when the statement was rewritten,
 * for the human who runs it.
 */
static bool
has_own_policies(Oid relid)
{
	Relation	rel = RelationIdGetRelation(relid);
	bool		found = false;
	ListCell   *lc;

	if (rel == NULL)
		return false;
	if (rel->rd_rel->relrowsecurity && rel->rd_rsdesc != NULL)
		foreach(lc, rel->rd_rsdesc->policies)
		{
			RowSecurityPolicy *p = (RowSecurityPolicy *) lfirst(lc);

			if (strcmp(p->policy_name, "ag_visible") != 0 &&
				strcmp(p->policy_name, "ag_hide_deleted") != 0)
			{
				found = true;
				break;
			}
		}
	RelationClose(rel);
	return found;
}

/* A relation the agent's view or policy reads: checked as the agent. */
static void
read_as_agent(Query *q, RangeTblEntry *rte, ReadsAs *ctx)
{
	if (q == ctx->view_query && rte->relid == ctx->view)
		return;					/* the human's right to read the view */
	ag_check_as_role(q, rte, ctx->agent);
	if (rte->relkind != RELKIND_VIEW &&
		ag_agentcode_relation_owner(rte->relid) != ctx->agent &&
		has_own_policies(rte->relid))
		ag_refuse_humans_only(ctx->agent,
							  psprintf("cannot read table %s through %s of agent role \"%s\"",
									   ag_qualified_relname(rte->relid),
									   get_rel_relkind(ctx->object) == RELKIND_VIEW ?
									   psprintf("view %s", ag_qualified_relname(ctx->object)) :
									   psprintf("a row-security policy of table %s",
												ag_qualified_relname(ctx->object)),
									   ag_agentcode_role_name(ctx->agent)),
							  psprintf("The agent's code reads the table with the rights of role \"%s\" (a security_invoker view, or a policy's subquery), and the table's row-security policies were chosen for role \"%s\".",
									   ag_agentcode_role_name(ctx->agent),
									   ag_agentcode_role_name(GetUserId())),
							  psprintf("Query table %s directly, or have the view made security_invoker = false so that it reads with its owner's rights.",
									   ag_qualified_relname(rte->relid)));
}

/* An agent's relation, or InvalidOid. */
static Oid
agent_owner(Oid relid)
{
	Oid			owner;

	if (!OidIsValid(relid))
		return InvalidOid;
	owner = ag_agentcode_relation_owner(relid);
	return ag_agentcode_role_is_agent(owner) ? owner : InvalidOid;
}

static void
walk_as(Node *node, Oid agent, Oid object, Query *view_query, Oid view, List **seen)
{
	ReadsAs		ctx = {agent, object, view_query, view, seen};

	if (OidIsValid(object))
		*seen = list_append_unique_oid(*seen, object);
	(void) reads_as_walker(node, &ctx);
}

static bool
reads_as_walker(Node *node, ReadsAs *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *q = (Query *) node;
		ListCell   *lc;
		Oid			owner;

		foreach(lc, q->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

			if (rte->rtekind == RTE_RELATION && OidIsValid(ctx->agent))
				read_as_agent(q, rte, ctx);
			/* a view, expanded: a subquery that keeps the view's oid */
			if (rte->rtekind == RTE_SUBQUERY && rte->subquery != NULL &&
				OidIsValid(owner = agent_owner(rte->relid)))
				walk_as((Node *) rte->subquery, owner, rte->relid, rte->subquery, rte->relid,
						ctx->seen);
			/* an agent's table, and its policies (none for a superuser) */
			if (rte->rtekind == RTE_RELATION && OidIsValid(owner = agent_owner(rte->relid)))
			{
				*ctx->seen = list_append_unique_oid(*ctx->seen, rte->relid);
				if (rte->securityQuals != NIL)
					walk_as((Node *) rte->securityQuals, owner, rte->relid, NULL, InvalidOid,
							ctx->seen);
			}
		}
		/* the WITH CHECK policies of the agent's table it writes */
		if (q->resultRelation > 0 &&
			OidIsValid(owner = agent_owner(rt_fetch(q->resultRelation, q->rtable)->relid)))
			foreach(lc, q->withCheckOptions)
			{
				WithCheckOption *wco = lfirst_node(WithCheckOption, lc);

				if (wco->kind != WCO_VIEW_CHECK)
					walk_as(wco->qual, owner, rt_fetch(q->resultRelation, q->rtable)->relid,
							NULL, InvalidOid, ctx->seen);
			}
		return query_tree_walker(q, reads_as_walker, ctx, 0);
	}
	return expression_tree_walker(node, reads_as_walker, ctx);
}

/*
 * Planner, a session that is not an agent's, no agent code running (that
 * runs as the agent already), not the guard's own queries.  Returns
 * whether it walked the statement; *seen is set to the agent's views and
 * tables whose reads it walked, for ag_agentstored_check_plan().
 */
bool
ag_agentstored_plan_query(Query *parse, List **seen)
{
	const Oid  *roles;
	uint64		generation;

	*seen = NIL;
	if (IsBinaryUpgrade || ag_owner_running() || ag_agentcode_running() ||
		ag_agent_roles(&roles, &generation) <= 0)
		return false;
	walk_as((Node *) parse, InvalidOid, InvalidOid, NULL, InvalidOid, seen);
	return true;
}

/* Is the view security_invoker? */
static bool
view_reads_as_invoker(Oid relid)
{
	Relation	rel = RelationIdGetRelation(relid);
	bool		invoker;

	if (rel == NULL)
		return false;
	invoker = RelationHasSecurityInvoker(rel);
	RelationClose(rel);
	return invoker;
}

/*
 * After planning: an agent's security_invoker view, or an agent's table
 * with row-security policies, that the plan reads but the walk above did
 * not see came in with a human's SQL function the planner inlined (red
 * team 7): what it reads would be checked as the human.  Refused.
 */
void
ag_agentstored_check_plan(PlannedStmt *plan, List *seen)
{
	ListCell   *lc;

	/* the range table, not relationOids: that holds regclass constants too */
	foreach(lc, plan->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		Oid			relid = rte->relid;
		Oid			owner;
		char		kind;

		if ((rte->rtekind != RTE_RELATION && rte->rtekind != RTE_SUBQUERY) ||
			!OidIsValid(relid) || list_member_oid(seen, relid) ||
			!OidIsValid(owner = agent_owner(relid)))
			continue;
		kind = get_rel_relkind(relid);
		if (kind == RELKIND_VIEW ? !view_reads_as_invoker(relid) : !has_own_policies(relid))
			continue;
		ag_refuse_humans_only(owner,
							  psprintf("cannot read %s %s of agent role \"%s\" through an inlined SQL function",
									   kind == RELKIND_VIEW ? "view" : "table",
									   ag_qualified_relname(relid), ag_agentcode_role_name(owner)),
							  psprintf("The %s reads other tables with the rights of whoever runs the statement; inside a SQL function the planner inlined, they cannot be checked as the agent's.",
									   kind == RELKIND_VIEW ? "view is security_invoker and" :
									   "table's row-security policies are code of the agent, which"),
							  psprintf("Read %s in the statement itself, or make the function not inlinable (for example, give it a SET option).",
									   ag_qualified_relname(relid)));
	}
}

/* ---------------------------------------------------------------------
 * The CHECK constraints and the default of an agent's domain
 * ---------------------------------------------------------------------
 */

/* The row just written, seen by this command (SnapshotSelf), copied; or NULL. */
static HeapTuple
own_catalog_row(Oid catalog, Oid index, AttrNumber oidcol, Oid oid, TupleDesc *desc)
{
	Relation	rel = table_open(catalog, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	ScanKeyInit(&key, oidcol, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(oid));
	scan = systable_beginscan(rel, index, true, SnapshotSelf, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		tup = heap_copytuple(tup);
	systable_endscan(scan);
	*desc = CreateTupleDescCopy(RelationGetDescr(rel));
	table_close(rel, AccessShareLock);
	return tup;
}

/* "schema.name" of a type, as this command sees it; *owner set */
static char *
type_name_now(Oid typid, Oid *owner)
{
	TupleDesc	desc;
	HeapTuple	tup = own_catalog_row(TypeRelationId, TypeOidIndexId, Anum_pg_type_oid,
									  typid, &desc);
	char	   *name = NULL;

	*owner = InvalidOid;
	if (tup != NULL)
	{
		Form_pg_type typ = (Form_pg_type) GETSTRUCT(tup);
		char	   *nsp = get_namespace_name(typ->typnamespace);

		*owner = typ->typowner;
		name = quote_qualified_identifier(nsp, NameStr(typ->typname));
		heap_freetuple(tup);
	}
	FreeTupleDesc(desc);
	return name;
}

/*
 * The first function a CHECK or default of a domain the role owns calls
 * that would act with more than the role's rights, or InvalidOid.
 */
static Oid
domain_unsafe_call(Datum bin, Oid owner)
{
	Oid			inner = InvalidOid;

	return ag_agentcode_unsafe_call(stringToNode(TextDatumGetCString(bin)), owner, &inner);
}

static void
judge_domain_expression(Oid domain, Datum bin, const char *what)
{
	Oid			owner;
	char	   *name = type_name_now(domain, &owner);
	Oid			fn;

	if (name == NULL || !ag_agentcode_role_is_agent(owner))
		return;
	fn = domain_unsafe_call(bin, owner);
	if (!OidIsValid(fn))
		return;
	ag_refuse_humans_only(owner,
						  psprintf("%s of domain %s of agent role \"%s\" cannot call function %s",
								   what, name, ag_agentcode_role_name(owner), format_procedure(fn)),
						  psprintf("A domain's constraints and default run with the rights of whoever uses the domain, also in a type's input function before any statement is judged, and %s %s.",
								   format_procedure(fn), ag_agentcode_unsafe_reason(fn, owner)),
						  "Call a function of the agent's own instead: it runs with the agent's rights.");
}

/*
 * What a stored expression may not call.  Another role's SECURITY INVOKER
 * SQL or PL function: it would run a human's statements with the human's
 * rights.  In a transaction tagged by a shared role that is not a
 * registered agent (red team 34, F4) also the role's own SQL or PL
 * functions and any function the transaction made, whatever their
 * SECURITY setting: a SECURITY DEFINER function of the shared role runs
 * as the role, that is with the humans' rights, untagged, in their
 * sessions; the role has no rights of the agent's own to keep the code to.
 */
typedef struct StoredCall
{
	Oid			fn;				/* the first such function */
	Oid			tagged_role;	/* the tagged shared role, or InvalidOid */
	bool		tagged_hit;		/* refused as the tagged role's */
	bool		runs_sql;		/* tagged: a built-in that runs an SQL string */
	bool		not_listed;		/* tagged: not on tagged_callable()'s list */
	List	   *views;			/* tagged: views walked into */
	List	   *types;			/* tagged: types whose domains were walked */
} StoredCall;

/* Is name one of the n names? */
static bool
name_listed(const char *name, const char *const *names, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/*
 * The volatile built-ins a tagged transaction's stored code may call: what
 * defaults use (sequences, clocks, random values).  nextval() is judged
 * further by the sequence margin (stored_nextval, seqkeys.c).
 */
static bool
volatile_builtin_allowed(const char *name)
{
	static const char *const names[] = {
		"nextval", "currval", "lastval", "clock_timestamp", "timeofday",
		"random", "random_normal", "gen_random_uuid", "uuidv4", "uuidv7"
	};

	return name_listed(name, names, lengthof(names));
}

/* The volatile functions of extensions that defaults use: random values. */
static bool
volatile_extension_allowed(const char *name)
{
	static const char *const names[] = {
		"uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4",
		"gen_random_uuid", "gen_random_bytes"
	};

	return name_listed(name, names, lengthof(names));
}

/*
 * The guard's functions that stored code may call: they only tell who the
 * session is (agentcode.c's guard_identity_function, and calling_role()).
 * Every other one of the guard's acts for its caller, and the human-only
 * ones (approve(), unprotect(), ...) would run in a human's statement
 * (red team 35, F10).
 */
static bool
guard_function_for_stored_code(const char *name)
{
	static const char *const names[] = {
		"in_agent_session", "current_agent", "current_run", "calling_role",
		"soft_deleted_stamp"
	};

	return name_listed(name, names, lengthof(names));
}

/* Why tagged_callable() refuses the function, for the refusal's detail. */
static const char *
tagged_uncallable_reason(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	const char *why;

	if (!HeapTupleIsValid(tup))
		return "not found";
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->pronamespace == ag_guard_namespace())
		why = "a function of the guard's that acts for its caller (humans only, or reading or writing the log)";
	else if (proc->prosecdef)
		why = "SECURITY DEFINER: it runs as its owner, whoever calls it";
	else if (fn < FirstNormalObjectId || OidIsValid(getExtensionOfObject(ProcedureRelationId, fn)))
		why = proc->provolatile == PROVOLATILE_VOLATILE ?
			"volatile: it may act beyond the statement (on the session, other sessions, files, large objects)" :
			"an extension's function in SQL or a procedural language that is not IMMUTABLE";
	else
		why = psprintf("a function of role \"%s\", neither built in nor an extension's",
					   ag_agentcode_role_name(proc->proowner));
	ReleaseSysCache(tup);
	return why;
}

/*
 * May a transaction tagged by a shared role store a call of the function
 * (red team 35, F1, F2, F10)?  Its stored code runs later in the humans'
 * untagged sessions with their rights, so it is kept to an allow-list,
 * which fails closed:
 *	- a built-in (the system's OID range) that is not VOLATILE, or one of
 *	  the few volatile ones defaults use (volatile_builtin_allowed): every
 *	  built-in with effects beyond the statement is volatile (set_config,
 *	  advisory locks, pg_cancel_backend, pg_terminate_backend,
 *	  pg_reload_conf, pg_notify, lo_*, pg_read_file, setseed,
 *	  pg_stat_reset*, pg_sleep, setval, ...);
 *	- the guard's functions that only say who the session is;
 *	- an extension's function (a superuser installed it) that is not
 *	  SECURITY DEFINER: in C or internal, not VOLATILE or one of the
 *	  random-value generators (volatile_extension_allowed); in SQL or a
 *	  procedural language, IMMUTABLE (citext's, pg_trgm's, isn's, ...);
 *	- a function made by CREATE TYPE ... AS RANGE (the range and
 *	  multirange constructors and cast, built-in code in the internal
 *	  language), that is an internal function, not SECURITY DEFINER, not
 *	  VOLATILE.
 * Nothing else: another role's function, SECURITY DEFINER or not (red team
 * 35, F2: an older one hard-deleted protected rows as its owner), the
 * role's own, or one the transaction made.  An operator, cast, aggregate
 * or window function counts as its function (check_functions_in_node).
 */
static bool
tagged_callable(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	const char *name;
	bool		ok;

	if (!HeapTupleIsValid(tup))
		return false;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	name = NameStr(proc->proname);
	if (proc->pronamespace == ag_guard_namespace())
		ok = guard_function_for_stored_code(name);
	else if (proc->prosecdef)
		ok = false;
	else if (fn < FirstNormalObjectId)
		ok = proc->provolatile != PROVOLATILE_VOLATILE || volatile_builtin_allowed(name);
	else if (OidIsValid(getExtensionOfObject(ProcedureRelationId, fn)))
		ok = proc->prolang == ClanguageId || proc->prolang == INTERNALlanguageId ?
			proc->provolatile != PROVOLATILE_VOLATILE || volatile_extension_allowed(name) :
			proc->provolatile == PROVOLATILE_IMMUTABLE;
	else
		ok = proc->prolang == INTERNALlanguageId && proc->prokind == PROKIND_FUNCTION &&
			proc->provolatile != PROVOLATILE_VOLATILE;
	ReleaseSysCache(tup);
	return ok;
}

/* a function of the tagged shared role, or made by this transaction */
static bool
tagged_role_function(Oid fn, Oid role)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	bool		found;

	if (fn < FirstNormalObjectId)
		return false;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tup))
		return ag_tagshadow_made_in_xact(ProcedureRelationId, fn);
	proc = (Form_pg_proc) GETSTRUCT(tup);

	/*
	 * C and internal functions are a superuser's, or PostgreSQL's own: the
	 * constructors and the range-to-multirange cast CREATE TYPE ... AS
	 * RANGE makes in the transaction, which run built-in code
	 */
	found = proc->prolang != ClanguageId && proc->prolang != INTERNALlanguageId &&
		((proc->proowner == role && proc->pronamespace != ag_guard_namespace()) ||
		 ag_tagshadow_made_in_xact(ProcedureRelationId, fn));
	ReleaseSysCache(tup);
	return found;
}

static bool
invoker_function_of_other(Oid fn, void *context)
{
	StoredCall *sc = (StoredCall *) context;

	if (ag_agentcode_invoker_of_other(fn))
	{
		sc->fn = fn;
		return true;
	}
	if (OidIsValid(sc->tagged_role) && tagged_role_function(fn, sc->tagged_role))
	{
		sc->fn = fn;
		sc->tagged_hit = true;
		return true;
	}
	/*
	 * a built-in that runs an SQL string or a relation's query with its
	 * caller's rights (red team 34, F8): what the string calls, the
	 * transaction's functions included, no walk sees
	 */
	if (OidIsValid(sc->tagged_role) && ag_agentcode_runs_callers_sql(fn))
	{
		sc->fn = fn;
		sc->tagged_hit = true;
		sc->runs_sql = true;
		return true;
	}
	/* anything not on the list of what such code may call (red team 35) */
	if (OidIsValid(sc->tagged_role) && !tagged_callable(fn))
	{
		sc->fn = fn;
		sc->tagged_hit = true;
		sc->not_listed = true;
		return true;
	}
	return false;
}

static bool invoker_call_walker(Node *node, void *context);

/*
 * Tagged: the CHECK constraints of a domain the expression coerces to, and
 * of the domains it is made from.  They run with the value the stored code
 * chose, in the humans' statement: an older domain's CHECK that calls a
 * function would be reached by the stored code as a direct call would.
 */
static bool
domain_checks_call(Oid typid, void *context)
{
	int			depth = 0;

	while (OidIsValid(typid) && depth++ < 32)
	{
		HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
		Oid			domain = typid;
		Relation	rel;
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	con;
		bool		found = false;

		if (!HeapTupleIsValid(tup))
			return false;
		if (((Form_pg_type) GETSTRUCT(tup))->typtype != TYPTYPE_DOMAIN)
		{
			ReleaseSysCache(tup);
			return false;
		}
		typid = ((Form_pg_type) GETSTRUCT(tup))->typbasetype;
		ReleaseSysCache(tup);
		rel = table_open(ConstraintRelationId, AccessShareLock);
		ScanKeyInit(&key, Anum_pg_constraint_contypid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(domain));
		scan = systable_beginscan(rel, ConstraintTypidIndexId, true, NULL, 1, &key);
		while (!found && HeapTupleIsValid(con = systable_getnext(scan)))
		{
			bool		isnull;
			Datum		d = heap_getattr(con, Anum_pg_constraint_conbin, RelationGetDescr(rel),
										 &isnull);

			if (!isnull)
				found = invoker_call_walker(stringToNode(TextDatumGetCString(d)), context);
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
		if (found)
			return true;
	}
	return false;
}

/*
 * Tagged: the domains a value of the type holds (the type itself, its
 * array element, a composite's attributes, a range's subtype), whose
 * CHECKs an input function or a record built at run time evaluates
 * (note::older_composite, json_populate_record(NULL::older_composite,
 * ...)): each domain's CHECKs walked as domain_checks_call() walks them.
 */
static bool
type_domains_call(Oid typid, StoredCall *sc)
{
	HeapTuple	tup;
	Form_pg_type typ;
	Oid			elem;
	Oid			relid;
	char		typtype;
	bool		found = false;

	if (!OidIsValid(typid) || typid < FirstNormalObjectId ||
		list_member_oid(sc->types, typid) || list_length(sc->types) > 1000)
		return false;
	sc->types = lappend_oid(sc->types, typid);
	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	if (!HeapTupleIsValid(tup))
		return false;
	typ = (Form_pg_type) GETSTRUCT(tup);
	typtype = typ->typtype;
	elem = typ->typelem;
	relid = typ->typrelid;
	ReleaseSysCache(tup);
	if (typtype == TYPTYPE_DOMAIN)
		return domain_checks_call(typid, sc) ||
			type_domains_call(getBaseType(typid), sc);
	if (OidIsValid(elem) && type_domains_call(elem, sc))
		return true;
	if (typtype == TYPTYPE_RANGE)
		return type_domains_call(get_range_subtype(typid), sc);
	if (typtype == TYPTYPE_COMPOSITE && OidIsValid(relid))
	{
		Relation	rel = relation_open(relid, AccessShareLock);
		TupleDesc	desc = RelationGetDescr(rel);
		int			i;

		for (i = 0; i < desc->natts && !found; i++)
			if (!TupleDescAttr(desc, i)->attisdropped)
				found = type_domains_call(TupleDescAttr(desc, i)->atttypid, sc);
		relation_close(rel, AccessShareLock);
	}
	return found;
}

/* Tagged: the query of a view the stored query reads, whose calls run too. */
static bool
view_query_calls(Oid relid, StoredCall *sc)
{
	Relation	rel;
	bool		found;

	/* each view once (a view's rule names the view itself, 15) */
	if (list_member_oid(sc->views, relid) || get_rel_relkind(relid) != RELKIND_VIEW)
		return false;
	sc->views = lappend_oid(sc->views, relid);
	/* one the transaction made was judged when made */
	if (ag_tagshadow_made_in_xact(RelationRelationId, relid))
		return false;
	rel = table_open(relid, AccessShareLock);
	found = rel->rd_rules != NULL &&
		invoker_call_walker((Node *) get_view_query(rel), sc);
	table_close(rel, AccessShareLock);
	return found;
}

static bool
invoker_call_walker(Node *node, void *context)
{
	StoredCall *sc = (StoredCall *) context;

	if (node == NULL)
		return false;
	if (check_functions_in_node(node, invoker_function_of_other, context))
		return true;
	if (OidIsValid(sc->tagged_role) && IsA(node, CoerceToDomain) &&
		domain_checks_call(((CoerceToDomain *) node)->resulttype, context))
		return true;
	/* a value made at run time by an input function or a built-in */
	if (OidIsValid(sc->tagged_role) &&
		(IsA(node, CoerceViaIO) || IsA(node, FuncExpr)) &&
		type_domains_call(exprType(node), sc))
		return true;
	if (IsA(node, Query))
	{
		ListCell   *lc;

		if (OidIsValid(sc->tagged_role))
			foreach(lc, ((Query *) node)->rtable)
			{
				RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

				if (rte->rtekind == RTE_RELATION &&
					view_query_calls(rte->relid, sc))
					return true;
			}
		return query_tree_walker((Query *) node, invoker_call_walker, context, 0);
	}
	return expression_tree_walker(node, invoker_call_walker, context);
}

/* The transaction acts as an agent through a tag on a shared role alone. */
static Oid
tagged_shared_role(void)
{
	if (!ag_agent_latched() || !IsTransactionState() || IsAbortedTransactionBlockState() ||
		!ag_identity_tagged_role())
		return InvalidOid;
	return GetUserId();
}

/*
 * The first call of another role's SECURITY INVOKER function in an
 * expression an agent stores (or, tagged, of the role's own function or
 * one made in the transaction), or InvalidOid.
 */
static Oid
stored_invoker_call_node(Node *expr, bool *tagged, bool *runs_sql, bool *not_listed)
{
	StoredCall	sc = {InvalidOid, InvalidOid, false, false, false};

	if (tagged != NULL)
		sc.tagged_role = tagged_shared_role();
	(void) invoker_call_walker(expr, &sc);
	if (tagged != NULL)
		*tagged = sc.tagged_hit;
	if (runs_sql != NULL)
		*runs_sql = sc.runs_sql;
	if (not_listed != NULL)
		*not_listed = sc.not_listed;
	return sc.fn;
}

static Oid
stored_invoker_call(Datum expr)
{
	return stored_invoker_call_node(stringToNode(TextDatumGetCString(expr)), NULL, NULL, NULL);
}

/*
 * A call of nextval() in what an agent stores that would advance a
 * sequence the agent role may neither use nor update, or one not named as
 * a constant (agentcode.c, ag_agentcode_nextval_unsafe): nextval() checks
 * its caller's rights, a human's in a human's statement.
 */
typedef struct StoredNextval
{
	Oid			owner;
	Oid			seq;			/* the sequence, or InvalidOid: not a constant */
	bool		found;
} StoredNextval;

static bool
stored_nextval_walker(Node *node, StoredNextval *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr) && ((FuncExpr *) node)->funcid == F_NEXTVAL &&
		ag_agentcode_nextval_unsafe((FuncExpr *) node, ctx->owner, &ctx->seq))
	{
		ctx->found = true;
		return true;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, stored_nextval_walker, ctx, 0);
	return expression_tree_walker(node, stored_nextval_walker, ctx);
}

static bool
stored_nextval_node(Node *expr, Oid owner, Oid *seq)
{
	StoredNextval ctx = {owner, InvalidOid, false};

	(void) stored_nextval_walker(expr, &ctx);
	*seq = ctx.seq;
	return ctx.found;
}

static bool
stored_nextval(Datum expr, Oid owner, Oid *seq)
{
	return stored_nextval_node(stringToNode(TextDatumGetCString(expr)), owner, seq);
}

static char *
nextval_why(Oid seq, Oid role)
{
	return OidIsValid(seq) ?
		psprintf("calls nextval() on sequence %s, which role \"%s\" may neither use nor update",
				 ag_qualified_relname(seq), ag_agentcode_role_name(role)) :
		pstrdup("calls nextval() on a sequence not named as a constant");
}

/*
 * What an agent stores (a view, rule, default, policy, CHECK, trigger
 * condition, index, extended statistics expression, cast function).
 */
static void
judge_stored_node(Node *expr, const char *what)
{
	bool		tagged = false;
	bool		runs_sql = false;
	bool		not_listed = false;
	Oid			fn = stored_invoker_call_node(expr, &tagged, &runs_sql, &not_listed);
	Oid			seq;

	if (stored_nextval_node(expr, GetUserId(), &seq))
		ag_refuse_humans_only(GetUserId(),
							  psprintf("%s of agent role \"%s\" cannot call nextval() on %s",
									   what, ag_agentcode_role_name(GetUserId()),
									   OidIsValid(seq) ? psprintf("sequence %s", ag_qualified_relname(seq)) :
									   "a sequence not named as a constant"),
							  OidIsValid(seq) ?
							  psprintf("nextval() checks USAGE or UPDATE of its sequence as its caller: in a human's statement the agent's code would advance sequence %s with that human's rights, and role \"%s\" may neither use nor update it.",
									   ag_qualified_relname(seq), ag_agentcode_role_name(GetUserId())) :
							  "nextval() checks USAGE or UPDATE of its sequence as its caller: in a human's statement the agent's code would advance, with that human's rights, a sequence known only when it runs.",
							  "Name, as a constant, a sequence the agent role owns or was granted USAGE on (nextval('s')); a serial or identity column of the agent's own table works.");
	/*
	 * current_setting() of a superuser-only setting: a human's statement
	 * would read it with the human's rights and the agent's code keep it
	 * (red team 15, F8; agentcode.c's reads_hidden_setting)
	 */
	if (!OidIsValid(fn) &&
		OidIsValid(fn = ag_agentcode_hidden_setting_call(expr)))
		ag_refuse_humans_only(GetUserId(),
							  psprintf("%s of agent role \"%s\" cannot call %s with a setting only superusers may read, or one named at run time",
									   what, ag_agentcode_role_name(GetUserId()), format_procedure(fn)),
							  psprintf("In a human's statement %s would read the setting with that human's rights, and the agent's code could keep what it reads.",
									   format_procedure(fn)),
							  "Name an ordinary setting as a constant (current_setting('app.tenant')).");
	if (!OidIsValid(fn))
		return;
	if (runs_sql)
		ag_refuse_humans_only(GetUserId(),
							  psprintf("%s of tagged role \"%s\" cannot call %s, which runs an SQL string or a relation's query",
									   what, ag_agentcode_role_name(GetUserId()), format_procedure(fn)),
							  psprintf("In a transaction tagged with agent_guard.agent_id whose role is not a registered agent role, stored code runs in the humans' statements with their rights, untagged and unrecorded; %s would run there whatever its SQL names, the transaction's own functions included, and no check sees into the string.",
									   format_procedure(fn)),
							  "Store the expression from a human's session, or run the query from the tagged transaction itself.");
	if (not_listed)
		ag_refuse_humans_only(GetUserId(),
							  psprintf("%s of tagged role \"%s\" cannot call function %s",
									   what, ag_agentcode_role_name(GetUserId()), format_procedure(fn)),
							  psprintf("In a transaction tagged with agent_guard.agent_id whose role is not a registered agent role, stored code runs in the humans' statements with their rights, untagged and unrecorded, so it may call only built-in functions without effects beyond the statement (and the few volatile ones defaults use: nextval, clock_timestamp, random, gen_random_uuid), the guard's that say who the session is, and extensions' that are not SECURITY DEFINER and not volatile; %s is %s.",
									   format_procedure(fn), tagged_uncallable_reason(fn)),
							  "Store the expression from a human's session, or call only such functions from the tagged transaction's stored code.");
	if (tagged)
		ag_refuse_humans_only(GetUserId(),
							  psprintf("%s of tagged role \"%s\" cannot call function %s of role \"%s\"",
									   what, ag_agentcode_role_name(GetUserId()), format_procedure(fn),
									   ag_agentcode_role_name(ag_agentcode_function_owner(fn))),
							  psprintf("In a transaction tagged with agent_guard.agent_id whose role is not a registered agent role, the role's functions and those the transaction made are the humans' too: stored there, %s would run in the humans' statements with their rights (SECURITY DEFINER or not), untagged and unrecorded.",
									   format_procedure(fn)),
							  "Store the expression from a human's session, or call only built-in functions from the tagged transaction's stored code.");
	ag_refuse_humans_only(GetUserId(),
						  psprintf("%s of agent role \"%s\" cannot call function %s of role \"%s\"",
								   what, ag_agentcode_role_name(GetUserId()), format_procedure(fn),
								   ag_agentcode_role_name(ag_agentcode_function_owner(fn))),
						  psprintf("Function %s runs its statements with the rights of whoever calls it; from the agent's code a human's statement would call it, with that human's rights.",
								   format_procedure(fn)),
						  "Call a function of the agent's own instead.");
}

static void
judge_stored_calls(Datum expr, const char *what)
{
	judge_stored_node(stringToNode(TextDatumGetCString(expr)), what);
}

/*
 * A cast an agent creates WITH FUNCTION (red team 33, F6): PostgreSQL
 * calls the function wherever a value is converted, in a human's
 * expression that names no function (m::text, or an assignment or
 * implicit cast the human did not write), with that human's rights.  The
 * function is judged as a call in what the agent stores.  WITH INOUT runs
 * the types' input and output functions (a base type's are a superuser's)
 * and WITHOUT FUNCTION runs nothing.
 */
static void
judge_stored_cast(Oid castid)
{
	TupleDesc	desc;
	HeapTuple	tup = own_catalog_row(CastRelationId, CastOidIndexId, Anum_pg_cast_oid,
									  castid, &desc);

	if (tup != NULL)
	{
		Form_pg_cast c = (Form_pg_cast) GETSTRUCT(tup);

		if (c->castmethod == COERCION_METHOD_FUNCTION && OidIsValid(c->castfunc))
		{
			FuncExpr   *call = makeFuncExpr(c->castfunc, c->casttarget, NIL, InvalidOid,
											InvalidOid, COERCE_EXPLICIT_CAST);

			judge_stored_node((Node *) call,
							  psprintf("the cast from %s to %s",
									   format_type_be(c->castsource),
									   format_type_be(c->casttarget)));
		}
		heap_freetuple(tup);
	}
	FreeTupleDesc(desc);
}

/*
 * A range type an agent makes (red team 34, F6): PostgreSQL calls its
 * subtype_diff (GiST's penalty and picksplit) and its canonical function
 * in the writes of any table with a column of the type, a human's too,
 * with no function named in any expression, as a cast's.  Each is judged
 * as a call in what the agent stores.  Its subtype's operator class is a
 * superuser's; its multirange type has no functions of its own.  The
 * pg_range row is written after the range type's (DefineRange), so it is
 * looked for when the type's array type is made; not found, nothing.
 */
static void
judge_stored_range(Oid rngtypid)
{
	TupleDesc	desc;
	HeapTuple	tup = own_catalog_row(RangeRelationId, RangeTypidIndexId, Anum_pg_range_rngtypid,
									  rngtypid, &desc);

	if (tup != NULL)
	{
		Form_pg_range r = (Form_pg_range) GETSTRUCT(tup);
		Oid			owner;
		char	   *name = type_name_now(rngtypid, &owner);

		if (OidIsValid(r->rngsubdiff))
			judge_stored_node((Node *) makeFuncExpr(r->rngsubdiff, FLOAT8OID, NIL, InvalidOid,
													InvalidOid, COERCE_EXPLICIT_CALL),
							  psprintf("the subtype_diff function of range type %s",
									   name ? name : "?"));
		if (OidIsValid(r->rngcanonical))
			judge_stored_node((Node *) makeFuncExpr(r->rngcanonical, rngtypid, NIL, InvalidOid,
													InvalidOid, COERCE_EXPLICIT_CALL),
							  psprintf("the canonical function of range type %s",
									   name ? name : "?"));
		heap_freetuple(tup);
	}
	FreeTupleDesc(desc);
}

/* The expression columns of a row an agent stored, each judged. */
static void
judge_stored_row(Oid catalog, Oid index, AttrNumber oidcol, Oid oid,
				 const AttrNumber *cols, int ncols, const char *what)
{
	TupleDesc	desc;
	HeapTuple	tup = own_catalog_row(catalog, index, oidcol, oid, &desc);
	int			i;

	if (tup != NULL)
	{
		for (i = 0; i < ncols; i++)
		{
			bool		isnull;
			Datum		d = heap_getattr(tup, cols[i], desc, &isnull);

			if (!isnull)
				judge_stored_calls(d, what);
		}
		heap_freetuple(tup);
	}
	FreeTupleDesc(desc);
}

/*
 * A rule whose action is NOTIFY: whoever writes the rule's relation sends
 * the notification, a human's session too, and agent-guard watch would
 * name that session as its sender (red team 11, finding 6; an agent's
 * function may not NOTIFY in a human's session either).
 */
static void
judge_rule_notify(Oid ruleid)
{
	TupleDesc	desc;
	HeapTuple	tup = own_catalog_row(RewriteRelationId, RewriteOidIndexId, Anum_pg_rewrite_oid,
									  ruleid, &desc);
	bool		isnull;
	Datum		d;
	ListCell   *lc;
	List	   *actions;

	if (tup == NULL)
	{
		FreeTupleDesc(desc);
		return;
	}
	d = heap_getattr(tup, Anum_pg_rewrite_ev_action, desc, &isnull);
	actions = isnull ? NIL : (List *) stringToNode(TextDatumGetCString(d));
	foreach(lc, actions)
	{
		Query	   *q = (Query *) lfirst(lc);

		if (IsA(q, Query) && q->commandType == CMD_UTILITY && q->utilityStmt != NULL &&
			IsA(q->utilityStmt, NotifyStmt))
			ag_refuse_humans_only(GetUserId(),
								  psprintf("rule \"%s\" of agent role \"%s\" cannot notify",
										   NameStr(((Form_pg_rewrite) GETSTRUCT(tup))->rulename),
										   ag_agentcode_role_name(GetUserId())),
								  psprintf("Whoever writes relation %s would send the notification, a human's session too, and it would pass for that session's.",
										   ag_qualified_relname(((Form_pg_rewrite) GETSTRUCT(tup))->ev_class)),
								  "Notify from the agent's own session.");
	}
	heap_freetuple(tup);
	FreeTupleDesc(desc);
}

/*
 * A trigger an agent creates, or enables (ALWAYS, REPLICA): its function
 * must be the agent's, built in, or the guard's.  Any other would run with
 * the rights of whoever writes the table, on arguments the agent chose:
 * a human, a superuser's ALTER TABLE, the logical replication worker that
 * applies a subscription (which no planner hook sees).  Those a role made
 * before it was registered are reported then (ag_sql_warn_unjudged).
 */
static bool
trigger_function_foreign(Form_pg_trigger trig)
{
	Oid			fn = trig->tgfoid;

	return fn >= FirstNormalObjectId && !trig->tgisinternal &&
		get_func_namespace(fn) != ag_guard_namespace() &&
		!ag_agentcode_role_is_agent(ag_agentcode_function_owner(fn));
}

static void
judge_stored_trigger(Oid trigid)
{
	TupleDesc	desc;
	HeapTuple	tup = own_catalog_row(TriggerRelationId, TriggerOidIndexId,
									  Anum_pg_trigger_oid, trigid, &desc);
	Form_pg_trigger trig;
	Oid			fn;
	Datum		qual;
	bool		isnull;

	if (tup == NULL)
	{
		FreeTupleDesc(desc);
		return;
	}
	trig = (Form_pg_trigger) GETSTRUCT(tup);
	fn = trig->tgfoid;
	qual = heap_getattr(tup, Anum_pg_trigger_tgqual, desc, &isnull);
	if (!isnull)
		judge_stored_calls(qual, psprintf("the WHEN condition of trigger \"%s\"",
										  NameStr(trig->tgname)));
	if (trigger_function_foreign(trig))
		ag_refuse_humans_only(GetUserId(),
							  psprintf("trigger \"%s\" of agent role \"%s\" cannot call function %s",
									   NameStr(trig->tgname), ag_agentcode_role_name(GetUserId()),
									   format_procedure(fn)),
							  psprintf("A trigger runs with the rights of whoever writes the table, humans and replication included, on the arguments and rows the agent chose; %s is neither the agent's, nor built in, nor the guard's.",
									   format_procedure(fn)),
							  "Have the trigger call a function of the agent's own, which runs with the agent's rights.");
	heap_freetuple(tup);
	FreeTupleDesc(desc);
}

/*
 * Object access: a CHECK constraint of a domain an agent role owns, or the
 * domain's default, stored by an agent (in its session, or by its code);
 * a relation a human's statement empties.
 */
void
ag_agentstored_object_access(ObjectAccessType access, Oid classId, Oid objectId, int subId)
{
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		bin;

	if ((access != OAT_POST_CREATE && access != OAT_POST_ALTER) || IsBinaryUpgrade ||
		(classId != ConstraintRelationId && classId != TypeRelationId &&
		 classId != TriggerRelationId && classId != RewriteRelationId &&
		 classId != AttrDefaultRelationId && classId != PolicyRelationId &&
		 classId != CastRelationId && classId != StatisticExtRelationId &&
		 !(classId == RelationRelationId && access == OAT_POST_CREATE && subId == 0)))
		return;
	/*
	 * What an agent stores, in its session or from its code in a human's;
	 * not a human's act that PostgreSQL runs as the table's owner (an
	 * index build), and a human may give a domain to an agent
	 */
	if (!ag_agent_latched() && !ag_agentcode_running())
		return;
	if (classId == RelationRelationId)
	{
		/* an index: its expressions and predicate run in every write (red team 8) */
		static const AttrNumber cols[] = {Anum_pg_index_indexprs, Anum_pg_index_indpred};

		judge_stored_row(IndexRelationId, IndexRelidIndexId, Anum_pg_index_indexrelid,
						 objectId, cols, lengthof(cols), "an index");
		return;
	}
	if (classId == TriggerRelationId)
	{
		judge_stored_trigger(objectId);
		return;
	}
	if (classId == CastRelationId)
	{
		if (access == OAT_POST_CREATE)
			judge_stored_cast(objectId);
		return;
	}
	if (classId == StatisticExtRelationId)
	{
		/*
		 * extended statistics' expressions: every ANALYZE of the table runs
		 * them, a human's or autovacuum's (red team 33, F6)
		 */
		static const AttrNumber cols[] = {Anum_pg_statistic_ext_stxexprs};

		judge_stored_row(StatisticExtRelationId, StatisticExtOidIndexId,
						 Anum_pg_statistic_ext_oid, objectId, cols, lengthof(cols),
						 "an extended statistics object");
		return;
	}
	if (classId == RewriteRelationId)
	{
		static const AttrNumber cols[] = {Anum_pg_rewrite_ev_action, Anum_pg_rewrite_ev_qual};

		judge_stored_row(RewriteRelationId, RewriteOidIndexId, Anum_pg_rewrite_oid, objectId,
						 cols, lengthof(cols), "a view or rule");
		judge_rule_notify(objectId);
		return;
	}
	if (classId == AttrDefaultRelationId)
	{
		/* reported as the relation and the column (pg_attrdef.c) */
		Relation	rel = table_open(AttrDefaultRelationId, AccessShareLock);
		ScanKeyData key[2];
		SysScanDesc scan;
		HeapTuple	def;

		ScanKeyInit(&key[0], Anum_pg_attrdef_adrelid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(objectId));
		ScanKeyInit(&key[1], Anum_pg_attrdef_adnum, BTEqualStrategyNumber, F_INT2EQ,
					Int16GetDatum((int16) subId));
		scan = systable_beginscan(rel, AttrDefaultIndexId, true, SnapshotSelf, 2, key);
		while (HeapTupleIsValid(def = systable_getnext(scan)))
		{
			bool		nodefault;
			Datum		d = heap_getattr(def, Anum_pg_attrdef_adbin, RelationGetDescr(rel),
										 &nodefault);

			if (!nodefault)
				judge_stored_calls(d, "a column default");
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
		return;
	}
	if (classId == PolicyRelationId)
	{
		static const AttrNumber cols[] = {Anum_pg_policy_polqual, Anum_pg_policy_polwithcheck};

		judge_stored_row(PolicyRelationId, PolicyOidIndexId, Anum_pg_policy_oid, objectId,
						 cols, lengthof(cols), "a row-security policy");
		return;
	}
	if (classId == ConstraintRelationId)
	{
		Form_pg_constraint con;

		if (access != OAT_POST_CREATE)
			return;
		tup = own_catalog_row(ConstraintRelationId, ConstraintOidIndexId,
							  Anum_pg_constraint_oid, objectId, &desc);
		if (tup == NULL)
			return;
		con = (Form_pg_constraint) GETSTRUCT(tup);
		bin = heap_getattr(tup, Anum_pg_constraint_conbin, desc, &isnull);
		if (con->contype == CONSTRAINT_CHECK && !isnull)
		{
			char	   *what = psprintf("CHECK constraint \"%s\"", NameStr(con->conname));

			if (OidIsValid(con->contypid))
				judge_domain_expression(con->contypid, bin, what);
			judge_stored_calls(bin, what);
		}
	}
	else
	{
		Form_pg_type typ;

		tup = own_catalog_row(TypeRelationId, TypeOidIndexId, Anum_pg_type_oid,
							  objectId, &desc);
		if (tup == NULL)
			return;
		typ = (Form_pg_type) GETSTRUCT(tup);
		/* a range type's support functions (red team 34, F6), with its array type */
		if (access == OAT_POST_CREATE && typ->typtype == TYPTYPE_BASE &&
			OidIsValid(typ->typelem))
			judge_stored_range(typ->typelem);
		if (typ->typtype == TYPTYPE_DOMAIN && ag_agentcode_role_is_agent(typ->typowner))
		{
			bin = heap_getattr(tup, Anum_pg_type_typdefaultbin, desc, &isnull);
			if (!isnull)
			{
				judge_domain_expression(objectId, bin, "the default");
				judge_stored_calls(bin, "the default of a domain");
			}
		}
		else if (typ->typtype == TYPTYPE_DOMAIN && OidIsValid(tagged_shared_role()))
		{
			/* a tagged shared role's domain default (red team 34, F4) */
			bin = heap_getattr(tup, Anum_pg_type_typdefaultbin, desc, &isnull);
			if (!isnull)
				judge_stored_calls(bin, "the default of a domain");
		}
	}
	heap_freetuple(tup);
	FreeTupleDesc(desc);
}

/*
 * After a CREATE TABLE ... PARTITION BY: the partition key's expressions
 * (red team 35, F5).  Every insert into the table, and every routing of a
 * row to a partition, evaluates them, a human's too; StorePartitionKey()
 * calls no object-access hook, so they are judged here, once the
 * statement made the table, as the other stored expressions are.
 */
void
ag_agentstored_utility_done(Node *parsetree)
{
	CreateStmt *cs;
	Oid			relid;
	TupleDesc	desc;
	HeapTuple	tup;
	bool		isnull;
	Datum		d;

	if (parsetree == NULL || !IsA(parsetree, CreateStmt) ||
		((CreateStmt *) parsetree)->partspec == NULL || IsBinaryUpgrade ||
		(!ag_agent_latched() && !ag_agentcode_running()))
		return;
	cs = (CreateStmt *) parsetree;
	relid = RangeVarGetRelid(cs->relation, NoLock, true);
	if (!OidIsValid(relid))
		return;
	tup = own_catalog_row(PartitionedRelationId, PartitionedRelidIndexId,
						  Anum_pg_partitioned_table_partrelid, relid, &desc);
	if (tup != NULL)
	{
		d = heap_getattr(tup, Anum_pg_partitioned_table_partexprs, desc, &isnull);
		if (!isnull)
			judge_stored_calls(d, "the partition key");
		heap_freetuple(tup);
	}
	FreeTupleDesc(desc);
}

/* ---------------------------------------------------------------------
 * What a role stored before it was registered as an agent
 * ---------------------------------------------------------------------
 */

/* objects listed in the warning; the others are counted */
#define STORED_LISTED 10

typedef struct Unjudged
{
	Oid			role;
	List	   *found;			/* "object why", one per object */
} Unjudged;

static void
unjudged(Unjudged *u, Oid classId, Oid objectId, const char *why)
{
	ObjectAddress addr;

	addr.classId = classId;
	addr.objectId = objectId;
	addr.objectSubId = 0;
	u->found = lappend(u->found, psprintf("%s %s", getObjectDescription(&addr, false), why));
}

/* PostgreSQL names a domain's constraint without its domain */
static void
unjudged_domain_constraint(Unjudged *u, Form_pg_constraint con, const char *why)
{
	u->found = lappend(u->found, psprintf("constraint %s on domain %s %s",
										  quote_identifier(NameStr(con->conname)),
										  format_type_be_qualified(con->contypid), why));
}

/* "calls f(), which ...": why an expression would have been refused */
static char *
calls_why(Oid fn, Oid role)
{
	if (ag_agentcode_invoker_of_other(fn))
		return psprintf("calls %s, a SECURITY INVOKER function of role \"%s\"", format_procedure(fn),
						ag_agentcode_role_name(ag_agentcode_function_owner(fn)));
	return psprintf("calls %s, which %s", format_procedure(fn), ag_agentcode_unsafe_reason(fn, role));
}

/*
 * The expression columns of a catalog row, judged as judge_stored_calls()
 * judges them when an agent stores them (domain: and as
 * judge_domain_expression() judges a domain's): the reason the first
 * would have been refused, or NULL.
 */
static char *
row_why(HeapTuple tup, TupleDesc desc, const AttrNumber *cols, int ncols, Oid role,
		bool domain)
{
	int			i;

	for (i = 0; i < ncols; i++)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, cols[i], desc, &isnull);
		Oid			fn;

		if (isnull)
			continue;
		if (domain && OidIsValid(fn = domain_unsafe_call(d, role)))
			return calls_why(fn, role);
		if (OidIsValid(fn = stored_invoker_call(d)))
			return calls_why(fn, role);
		if (stored_nextval(d, role, &fn))
			return nextval_why(fn, role);
	}
	return NULL;
}

/* Is the relation the role's (not the system's)? */
static bool
role_owns_relation(Oid relid, Oid role)
{
	return relid >= FirstNormalObjectId && ag_agentcode_relation_owner(relid) == role;
}

/*
 * Each row of a catalog whose relation (column relcol) the role owns, its
 * expression columns judged; reported as the object the row's oidcol
 * names in class classId (a view as the view, not its _RETURN rule).
 */
static void
scan_relation_rows(Unjudged *u, Oid catalog, Oid classId, AttrNumber oidcol, AttrNumber relcol,
				   const AttrNumber *cols, int ncols)
{
	Relation	rel = table_open(catalog, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	HeapTuple	tup;

	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(heap_getattr(tup, relcol, desc, &isnull));
		char	   *why;

		if (isnull || !role_owns_relation(relid, u->role) ||
			(why = row_why(tup, desc, cols, ncols, u->role, false)) == NULL)
			continue;
		if (catalog == RewriteRelationId &&
			strcmp(NameStr(((Form_pg_rewrite) GETSTRUCT(tup))->rulename), ViewSelectRuleName) == 0)
			unjudged(u, RelationRelationId, relid, why);
		else
			unjudged(u, classId, DatumGetObjectId(heap_getattr(tup, oidcol, desc, &isnull)), why);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* CHECK constraints of the role's relations and domains */
static void
scan_constraints(Unjudged *u)
{
	static const AttrNumber cols[] = {Anum_pg_constraint_conbin};
	Relation	rel = table_open(ConstraintRelationId, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	HeapTuple	tup;

	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);
		bool		domain = OidIsValid(con->contypid);
		char	   *why;

		if (con->contype != CONSTRAINT_CHECK ||
			!(domain ? con->contypid >= FirstNormalObjectId &&
			  ag_agentcode_type_owner(con->contypid) == u->role :
			  role_owns_relation(con->conrelid, u->role)))
			continue;
		if ((why = row_why(tup, desc, cols, lengthof(cols), u->role, domain)) == NULL)
			continue;
		if (domain)
			unjudged_domain_constraint(u, con, why);
		else
			unjudged(u, ConstraintRelationId, con->oid, why);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* the defaults of the role's domains */
static void
scan_domains(Unjudged *u)
{
	static const AttrNumber cols[] = {Anum_pg_type_typdefaultbin};
	Relation	rel = table_open(TypeRelationId, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	HeapTuple	tup;

	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_type typ = (Form_pg_type) GETSTRUCT(tup);
		char	   *why;

		if (typ->typtype != TYPTYPE_DOMAIN || typ->typowner != u->role)
			continue;
		if ((why = row_why(tup, desc, cols, lengthof(cols), u->role, true)) != NULL)
			unjudged(u, TypeRelationId, typ->oid, psprintf("has a default that %s", why));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* the triggers of the role's relations: their WHEN, their function */
static void
scan_triggers(Unjudged *u)
{
	static const AttrNumber cols[] = {Anum_pg_trigger_tgqual};
	Relation	rel = table_open(TriggerRelationId, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	HeapTuple	tup;

	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_trigger trig = (Form_pg_trigger) GETSTRUCT(tup);
		char	   *why;

		if (!role_owns_relation(trig->tgrelid, u->role))
			continue;
		why = row_why(tup, desc, cols, lengthof(cols), u->role, false);
		if (why == NULL && trigger_function_foreign(trig))
			why = psprintf("runs function %s, which is neither the agent's, nor built in, nor the guard's",
						   format_procedure(trig->tgfoid));
		if (why != NULL)
			unjudged(u, TriggerRelationId, trig->oid, why);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* the subtype_diff and canonical functions of the role's range types (red team 34, F6) */
static void
scan_ranges(Unjudged *u)
{
	Relation	rel = table_open(RangeRelationId, AccessShareLock);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	HeapTuple	tup;

	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_range r = (Form_pg_range) GETSTRUCT(tup);

		if (r->rngtypid < FirstNormalObjectId || ag_agentcode_type_owner(r->rngtypid) != u->role)
			continue;
		if (OidIsValid(r->rngsubdiff) && ag_agentcode_invoker_of_other(r->rngsubdiff))
			unjudged(u, TypeRelationId, r->rngtypid,
					 psprintf("has a subtype_diff function that %s", calls_why(r->rngsubdiff, u->role)));
		else if (OidIsValid(r->rngcanonical) && ag_agentcode_invoker_of_other(r->rngcanonical))
			unjudged(u, TypeRelationId, r->rngtypid,
					 psprintf("has a canonical function that %s", calls_why(r->rngcanonical, u->role)));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

static int
string_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp((const char *) lfirst(a), (const char *) lfirst(b));
}

/*
 * SQL: agent_guard._warn_unjudged(role regrole) RETURNS integer, called by
 * register_agent() once the role is registered.  What a role stored before
 * it was an agent's, or a human gave it, was not judged when it was stored
 * (object access judges an agent's acts only): each object the role owns
 * that would have been refused, judged by the very functions that judge
 * what an agent stores (the agent's own functions are the role's now), is
 * listed in a WARNING.  Registration goes on: refusing it would leave the
 * role unguarded.  Returns how many objects were found.
 */
PG_FUNCTION_INFO_V1(ag_sql_warn_unjudged);
Datum
ag_sql_warn_unjudged(PG_FUNCTION_ARGS)
{
	static const AttrNumber rules[] = {Anum_pg_rewrite_ev_action, Anum_pg_rewrite_ev_qual};
	static const AttrNumber defaults[] = {Anum_pg_attrdef_adbin};
	static const AttrNumber policies[] = {Anum_pg_policy_polqual, Anum_pg_policy_polwithcheck};
	static const AttrNumber indexes[] = {Anum_pg_index_indexprs, Anum_pg_index_indpred};
	static const AttrNumber statistics[] = {Anum_pg_statistic_ext_stxexprs};
	Unjudged	u = {PG_GETARG_OID(0), NIL};
	StringInfoData list;
	ListCell   *lc;
	int			n;

	scan_relation_rows(&u, RewriteRelationId, RewriteRelationId, Anum_pg_rewrite_oid,
					   Anum_pg_rewrite_ev_class, rules, lengthof(rules));
	scan_relation_rows(&u, AttrDefaultRelationId, AttrDefaultRelationId, Anum_pg_attrdef_oid,
					   Anum_pg_attrdef_adrelid, defaults, lengthof(defaults));
	scan_relation_rows(&u, PolicyRelationId, PolicyRelationId, Anum_pg_policy_oid,
					   Anum_pg_policy_polrelid, policies, lengthof(policies));
	scan_relation_rows(&u, IndexRelationId, RelationRelationId, Anum_pg_index_indexrelid,
					   Anum_pg_index_indexrelid, indexes, lengthof(indexes));
	scan_relation_rows(&u, StatisticExtRelationId, StatisticExtRelationId,
					   Anum_pg_statistic_ext_oid, Anum_pg_statistic_ext_stxrelid,
					   statistics, lengthof(statistics));
	scan_constraints(&u);
	scan_domains(&u);
	scan_ranges(&u);
	scan_triggers(&u);

	n = list_length(u.found);
	if (n == 0)
		PG_RETURN_INT32(0);
	list_sort(u.found, string_cmp);
	initStringInfo(&list);
	foreach(lc, u.found)
	{
		if (foreach_current_index(lc) == STORED_LISTED)
		{
			appendStringInfo(&list, "; and %d more", n - STORED_LISTED);
			break;
		}
		appendStringInfo(&list, "%s%s", list.len > 0 ? "; " : "", (char *) lfirst(lc));
	}
	ereport(WARNING,
			(errcode(ERRCODE_AG_HUMANS_ONLY),
			 errmsg_plural("role \"%s\" owns %d object an agent may not store",
						   "role \"%s\" owns %d objects an agent may not store",
						   n, ag_agentcode_role_name(u.role), n),
			 errdetail_plural("Stored before the role was registered as an agent, or given to it, it was not judged, and runs as the agent's code in humans' statements: %s.",
							  "Stored before the role was registered as an agent, or given to it, they were not judged, and run as the agent's code in humans' statements: %s.",
							  n, list.data),
			 errhint("Drop each, or recreate it as the agent, whose statements judge it; a trigger a human chose for the agent's table may stay.")));
	PG_RETURN_INT32(n);
}
