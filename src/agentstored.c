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
 *	  view, rule, default, CHECK, policy, trigger WHEN, domain or index
 *	  the agent stores: it would run the human's queries with the human's
 *	  rights.  Judged when stored (object access).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_language.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "rewrite/prs2lock.h"
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
#include "scope.h"

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
		ereport(ERROR,
				(errcode(ERRCODE_AG_HUMANS_ONLY),
				 errmsg("cannot read table %s through %s of agent role \"%s\"",
						ag_qualified_relname(rte->relid),
						get_rel_relkind(ctx->object) == RELKIND_VIEW ?
						psprintf("view %s", ag_qualified_relname(ctx->object)) :
						psprintf("a row-security policy of table %s",
								 ag_qualified_relname(ctx->object)),
						ag_agentcode_role_name(ctx->agent)),
				 errdetail("The agent's code reads the table with the rights of role \"%s\" (a security_invoker view, or a policy's subquery), and the table's row-security policies were chosen for role \"%s\".",
						   ag_agentcode_role_name(ctx->agent),
						   ag_agentcode_role_name(GetUserId())),
				 errhint("Query table %s directly, or have the view made security_invoker = false so that it reads with its owner's rights.",
						 ag_qualified_relname(rte->relid))));
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
		ereport(ERROR,
				(errcode(ERRCODE_AG_HUMANS_ONLY),
				 errmsg("cannot read %s %s of agent role \"%s\" through an inlined SQL function",
						kind == RELKIND_VIEW ? "view" : "table",
						ag_qualified_relname(relid), ag_agentcode_role_name(owner)),
				 errdetail("The %s reads other tables with the rights of whoever runs the statement; inside a SQL function the planner inlined, they cannot be checked as the agent's.",
						   kind == RELKIND_VIEW ? "view is security_invoker and" :
						   "table's row-security policies are code of the agent, which"),
				 errhint("Read %s in the statement itself, or make the function not inlinable (for example, give it a SET option).",
						 ag_qualified_relname(relid))));
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

static void
judge_domain_expression(Oid domain, Datum bin, const char *what)
{
	Oid			owner;
	char	   *name = type_name_now(domain, &owner);
	Oid			inner = InvalidOid;
	Oid			fn;

	if (name == NULL || !ag_agentcode_role_is_agent(owner))
		return;
	fn = ag_agentcode_unsafe_call(stringToNode(TextDatumGetCString(bin)), owner, &inner);
	if (!OidIsValid(fn))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_AG_HUMANS_ONLY),
			 errmsg("%s of domain %s of agent role \"%s\" cannot call function %s",
					what, name, ag_agentcode_role_name(owner), format_procedure(fn)),
			 errdetail("A domain's constraints and default run with the rights of whoever uses the domain, also in a type's input function before any statement is judged, and %s %s.",
					   format_procedure(fn), ag_agentcode_unsafe_reason(fn, owner)),
			 errhint("Call a function of the agent's own instead: it runs with the agent's rights.")));
}

static bool
invoker_function_of_other(Oid fn, void *context)
{
	if (!ag_agentcode_invoker_of_other(fn))
		return false;
	*(Oid *) context = fn;
	return true;
}

static bool
invoker_call_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, invoker_function_of_other, context))
		return true;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, invoker_call_walker, context, 0);
	return expression_tree_walker(node, invoker_call_walker, context);
}

/* What an agent stores (a view, rule, default, policy, CHECK, trigger condition). */
static void
judge_stored_calls(Datum expr, const char *what)
{
	Oid			fn = InvalidOid;

	if (!invoker_call_walker(stringToNode(TextDatumGetCString(expr)), &fn))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_AG_HUMANS_ONLY),
			 errmsg("%s of agent role \"%s\" cannot call function %s of role \"%s\"",
					what, ag_agentcode_role_name(GetUserId()), format_procedure(fn),
					ag_agentcode_role_name(ag_agentcode_function_owner(fn))),
			 errdetail("Function %s runs its statements with the rights of whoever calls it; from the agent's code a human's statement would call it, with that human's rights.",
					   format_procedure(fn)),
			 errhint("Call a function of the agent's own, or have the function's owner make it SECURITY DEFINER.")));
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
 * A trigger an agent creates, or enables (ALWAYS, REPLICA): its function
 * must be the agent's, built in, or the guard's.  Any other would run with
 * the rights of whoever writes the table, on arguments the agent chose:
 * a human, a superuser's ALTER TABLE, the logical replication worker that
 * applies a subscription (which no planner hook sees).  The check when a
 * human's statement writes the table covers triggers made before the
 * role was an agent's.
 */
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
	if (fn >= FirstNormalObjectId && !trig->tgisinternal &&
		get_func_namespace(fn) != get_namespace_oid(AG_SCHEMA, true) &&
		!ag_agentcode_role_is_agent(ag_agentcode_function_owner(fn)))
		ereport(ERROR,
				(errcode(ERRCODE_AG_HUMANS_ONLY),
				 errmsg("trigger \"%s\" of agent role \"%s\" cannot call function %s",
						NameStr(trig->tgname), ag_agentcode_role_name(GetUserId()),
						format_procedure(fn)),
				 errdetail("A trigger runs with the rights of whoever writes the table, humans and replication included, on the arguments and rows the agent chose; %s is neither the agent's, nor built in, nor the guard's.",
						   format_procedure(fn)),
				 errhint("Have the trigger call a function of the agent's own, which runs with the agent's rights.")));
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
	if (classId == RewriteRelationId)
	{
		static const AttrNumber cols[] = {Anum_pg_rewrite_ev_action, Anum_pg_rewrite_ev_qual};

		judge_stored_row(RewriteRelationId, RewriteOidIndexId, Anum_pg_rewrite_oid, objectId,
						 cols, lengthof(cols), "a view or rule");
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
		if (typ->typtype == TYPTYPE_DOMAIN && ag_agentcode_role_is_agent(typ->typowner))
		{
			bin = heap_getattr(tup, Anum_pg_type_typdefaultbin, desc, &isnull);
			if (!isnull)
			{
				judge_domain_expression(objectId, bin, "the default");
				judge_stored_calls(bin, "the default of a domain");
			}
		}
	}
	heap_freetuple(tup);
	FreeTupleDesc(desc);
}
