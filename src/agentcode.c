/*-------------------------------------------------------------------------
 * agentcode.c
 *		An agent's code running in a human's session: known, and kept away
 *		from the human's powers.
 *
 * A human's statement runs code an agent wrote whenever it touches one of
 * the agent's objects: a function the agent owns (called by name, or as a
 * trigger, a row-security policy, a column default, a CHECK, an index
 * expression, an operator or a cast), or an expression the agent stored in
 * the catalog (a view, a policy, a default, a rule, a trigger's WHEN
 * clause) that calls a function of anyone's, the guard's included.  That
 * code runs with the human's rights, so it could approve the agent's own
 * requests, lift a freeze, unregister the agent, or write a protected
 * table as if the human had (unstamped, unlogged, ungated).  Two facts
 * are kept here, for sessions that are not agents':
 *
 *	- the agent functions on the stack.  PostgreSQL's fmgr hook is asked,
 *	  when a call is set up (fmgr_info, once per expression, not per row),
 *	  whether it wants to see a function's entry and exit: we say yes for
 *	  functions owned by an agent role (builtins never ask, and an agent
 *	  cannot create C or internal functions).  Such a call then runs through
 *	  fmgr_security_definer, which reports its start, end and abort; every
 *	  call the hook sees is pushed on a stack at its start and popped at its
 *	  end or abort (strictly nested, also when errors unwind), and the
 *	  stack counts the agent ones.  Saying yes also keeps the planner from
 *	  inlining an agent's SQL function into a human's query, where no call
 *	  would be left to see.  A server process that is an agent's for life
 *	  says no: its code is the agent's anyway, and the gates judge it;
 *	- the statements being executed (ExecutorRun and ExecutorFinish, and
 *	  the utility statements around them, pushed and popped by hooks.c).
 *	  Their range tables name every relation whose stored expressions they
 *	  evaluate: a view's, the row-security policies and rules of what they
 *	  read, the defaults, CHECKs and trigger WHEN clauses of what they write
 *	  (a foreign key's cascade runs a query of its own on the agent's
 *	  table).  Reading an agent's plain table runs none of its code, and
 *	  neither do the guard's own soft-delete policies (no function call).
 *
 * An agent role, as an owner, is a registered agent role or any role one
 * is a member of: the agent can SET ROLE to it and write its code.
 *
 * An agent's function runs as its owner (ag_agentcode_fmgr): the agent's
 * rights, in a security-restricted operation, its settings rolled back on
 * return, as PostgreSQL runs index expressions during maintenance.  What
 * an agent stored that calls a system function directly (a view, a
 * policy, a default) runs with the human's rights: in a statement that
 * runs such code, a function the agent may not execute, or one that acts
 * with its caller's rights beyond EXECUTE, is refused
 * (ag_agentcode_function_execute).
 *
 * What is refused, while an agent's code runs in a human's session:
 *	- the humans-only functions (agent_guard._require_human() calls
 *	  ag_agentcode_refuse(); the C functions that act as table owners, its
 *	  first half): also while an executing statement runs an agent's
 *	  relation's code as above (YG002);
 *	- writes to a protected table (YG004): a plan that writes one, a COPY
 *	  FROM into one, and, as a backstop, a drop, truncation or alteration
 *	  of one (object access);
 *	- a rule of an agent's relation that writes a protected table, in any
 *	  human statement (planner; YG004): the rule is the agent's code.
 *
 * Cost: a session that never sets up a call of an agent's function pays a
 * hash lookup per fmgr_info of a non-builtin function (cached per function;
 * the registry, role memberships and pg_proc invalidate the caches) and an
 * array push per executor run; the checks themselves run only when the
 * humans-only functions are called or agent code is on the stack.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "rewrite/rowsecurity.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "agentcode.h"
#include "compat.h"
#include "owner_spi.h"
#include "scope.h"
#include "writers.h"

/* owner -> is an agent role; function -> its owner, when an agent role */
typedef struct OwnerEntry
{
	Oid			role;
	bool		agent;
} OwnerEntry;

typedef struct FunctionEntry
{
	Oid			fn;
	Oid			agent_owner;	/* InvalidOid: not an agent's */
	bool		own_levels;		/* SECURITY DEFINER, SET options or a procedure */
	bool		definer;		/* SECURITY DEFINER */
} FunctionEntry;

static HTAB *owner_cache = NULL;
static HTAB *function_cache = NULL;
static HTAB *call_kind_cache = NULL;	/* function -> CallKind, see call_kind() */
static uint64 cache_generation = 0;
static bool owners_stale = false;
static bool functions_stale = false;

/*
 * Calls the fmgr hook saw start.  For an agent's function: the function, its
 * owner, and what to restore when it ends (the caller's user id and
 * security context, and the GUC nesting level its settings roll back to).
 */
typedef struct Call
{
	Oid			fn;				/* InvalidOid: not an agent's */
	Oid			owner;
	Oid			saved_user;
	int			saved_context;
	int			guc_level;		/* 0: none of ours (see ag_agentcode_fmgr) */
	bool		definer;		/* fmgr restores the user id itself */
} Call;

static Call *calls = NULL;
static int	ncalls = 0;
static int	calls_cap = 0;
static int	agent_calls = 0;

/* "while running function f of agent role r with that role's rights" */
static ErrorContextCallback agent_context;

/* statements being executed: the plan, or the relation a COPY FROM fills */
typedef struct Running
{
	PlannedStmt *plan;
	Oid			copy_into;
	bool		judged;			/* agent_rel below is known */
	Oid			agent_rel;		/* an agent's relation whose code it runs */
} Running;

static Running *running = NULL;
static int	nrunning = 0;
static int	running_cap = 0;

/* pg_proc changed: an owner may have changed */
static void
function_inval(Datum arg, int cacheid, uint32 hashvalue)
{
	functions_stale = true;
}

/* roles or memberships changed */
static void
role_inval(Datum arg, int cacheid, uint32 hashvalue)
{
	owners_stale = true;
	functions_stale = true;
}

void
ag_agentcode_init(void)
{
	CacheRegisterSyscacheCallback(PROCOID, function_inval, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, role_inval, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, role_inval, (Datum) 0);
}

static HTAB *
make_cache(const char *name, Size entrysize)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = entrysize;
	return hash_create(name, 64, &ctl, HASH_ELEM | HASH_BLOBS);
}

/* Drop what an invalidation or a registry change made stale. */
static void
caches_refresh(uint64 generation)
{
	if (generation != cache_generation)
	{
		owners_stale = functions_stale = true;
		cache_generation = generation;
	}
	if (owners_stale && owner_cache != NULL)
	{
		hash_destroy(owner_cache);
		owner_cache = NULL;
	}
	if (functions_stale && function_cache != NULL)
	{
		hash_destroy(function_cache);
		function_cache = NULL;
	}
	/* a REVOKE of EXECUTE changes pg_proc too */
	if (functions_stale && call_kind_cache != NULL)
	{
		hash_destroy(call_kind_cache);
		call_kind_cache = NULL;
	}
	owners_stale = functions_stale = false;
}

/*
 * Is code owned by this role an agent's?  A registered agent role, or one
 * that a registered agent role is a member of (it can become that role and
 * write its code).
 */
bool
ag_agentcode_role_is_agent(Oid role)
{
	const Oid  *roles;
	uint64		generation;
	int			n = ag_agent_roles(&roles, &generation);
	OwnerEntry *e;
	bool		found;
	bool		agent = false;
	int			i;

	if (n < 0)
		return false;			/* not installed here: no agents */
	for (i = 0; i < n && !agent; i++)
		agent = (roles[i] == role);
	if (agent || n == 0)
		return agent;

	caches_refresh(generation);
	if (owner_cache == NULL)
		owner_cache = make_cache("agent_guard agent owners", sizeof(OwnerEntry));
	e = hash_search(owner_cache, &role, HASH_FIND, NULL);
	if (e != NULL)
		return e->agent;

	for (i = 0; i < n && !agent; i++)
		agent = is_member_of_role_nosuper(roles[i], role);
	e = hash_search(owner_cache, &role, HASH_ENTER, &found);
	e->agent = agent;
	return agent;
}

/* The agent role that owns the function, or InvalidOid; its cache entry. */
static FunctionEntry *
function_entry(Oid fn)
{
	const Oid  *roles;
	uint64		generation;
	int			n = ag_agent_roles(&roles, &generation);
	FunctionEntry *e;
	HeapTuple	tup;
	Oid			owner = InvalidOid;
	bool		found;

	bool		definer = false;
	bool		own_levels = false;

	if (n <= 0)
		return NULL;
	caches_refresh(generation);
	if (function_cache == NULL)
		function_cache = make_cache("agent_guard agent functions", sizeof(FunctionEntry));
	e = hash_search(function_cache, &fn, HASH_FIND, NULL);
	if (e != NULL)
		return e;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (HeapTupleIsValid(tup))
	{
		Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tup);

		owner = proc->proowner;
		definer = proc->prosecdef;
		own_levels = proc->prosecdef || proc->prokind == PROKIND_PROCEDURE ||
			!heap_attisnull(tup, Anum_pg_proc_proconfig, NULL);
		ReleaseSysCache(tup);
		if (!ag_agentcode_role_is_agent(owner))
			owner = InvalidOid;
	}
	/* the lookups above may have flushed the cache */
	if (function_cache == NULL)
		function_cache = make_cache("agent_guard agent functions", sizeof(FunctionEntry));
	e = hash_search(function_cache, &fn, HASH_ENTER, &found);
	e->agent_owner = owner;
	e->definer = definer;
	e->own_levels = own_levels;
	return e;
}

static Oid
function_agent_owner(Oid fn)
{
	FunctionEntry *e = function_entry(fn);

	return e ? e->agent_owner : InvalidOid;
}

/*
 * needs_fmgr_hook: see calls of agents' functions, in processes that are
 * not an agent's for life.  Called from fmgr_info and the planner's
 * inlining, never for builtins.
 */
bool
ag_agentcode_needs_hook(Oid fn)
{
	if (IsBinaryUpgrade || ag_process_is_agent())
		return false;
	return OidIsValid(function_agent_owner(fn));
}

/* Context of an error raised while an agent's function runs. */
static void
agent_call_context(void *arg)
{
	int			i;

	for (i = ncalls - 1; i >= 0; i--)
		if (OidIsValid(calls[i].fn))
		{
			char	   *fn = get_func_name(calls[i].fn);
			char	   *role = GetUserNameFromId(calls[i].owner, true);

			errcontext("agent_guard: function %s of agent role \"%s\", run with that role's rights",
					   fn ? fn : "?", role ? role : "?");
			return;
		}
}

/*
 * Become the owner of an agent's function for its call: its rights, no
 * more, in a security-restricted operation (no SET ROLE, no session
 * state that outlives the call), as PostgreSQL runs index expressions
 * during maintenance.
 */
static void
call_as_owner(Call *c)
{
	SetUserIdAndSecContext(c->owner, c->saved_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

/*
 * fmgr_hook: every call that runs through fmgr_security_definer (ours, a
 * SECURITY DEFINER function's, one with SET options) starts, then ends or
 * aborts, strictly nested; the stack follows it.  An agent's function runs
 * as its owner, in a security-restricted operation.  fmgr restores the
 * user id of a SECURITY DEFINER function, and the settings of one with
 * SET options, before it reports the end; we restore the others'.  The
 * settings a plain function makes are rolled back when it returns (a
 * GUC nesting level of ours); those of a function with SET options stay
 * as PostgreSQL keeps them (its level ends before ours could), and a
 * procedure's stay too (its transaction control ends nesting levels).
 * On abort, the (sub)transaction's abort rolls the settings back; the
 * user id comes back here.
 */
void
ag_agentcode_fmgr(FmgrHookEventType event, FmgrInfo *flinfo)
{
	if (event == FHET_START)
	{
		FunctionEntry *e = ag_process_is_agent() ? NULL : function_entry(flinfo->fn_oid);
		Call	   *c;

		if (ncalls == calls_cap)
		{
			calls_cap = calls_cap ? calls_cap * 2 : 32;
			calls = calls ? repalloc(calls, calls_cap * sizeof(Call)) :
				MemoryContextAlloc(TopMemoryContext, calls_cap * sizeof(Call));
		}
		c = &calls[ncalls];
		c->fn = InvalidOid;
		if (e != NULL && OidIsValid(e->agent_owner))
		{
			c->owner = e->agent_owner;
			c->definer = e->definer;
			GetUserIdAndSecContext(&c->saved_user, &c->saved_context);
			c->guc_level = e->own_levels ? 0 : NewGUCNestLevel();
			call_as_owner(c);
			c->fn = flinfo->fn_oid;
			if (agent_calls++ == 0)
			{
				agent_context.callback = agent_call_context;
				agent_context.arg = NULL;
				agent_context.previous = error_context_stack;
				error_context_stack = &agent_context;
			}
		}
		ncalls++;
	}
	else if (ncalls > 0)
	{
		Call	   *c = &calls[--ncalls];

		if (OidIsValid(c->fn))
		{
			if (event == FHET_END && c->guc_level > 0)
				AtEOXact_GUC(false, c->guc_level);
			if (event == FHET_ABORT || !c->definer)
				SetUserIdAndSecContext(c->saved_user, c->saved_context);
			if (--agent_calls == 0 && error_context_stack == &agent_context)
				error_context_stack = agent_context.previous;
		}
	}
}

/*
 * A transaction ends while an agent's procedure runs (its COMMIT or
 * ROLLBACK): the next transaction starts with the agent's user id as the
 * one its abort restores, and an abort restores the user id the ending
 * transaction started with, which may be the human's.  So the agent's
 * procedure goes on as its owner after a ROLLBACK, and until the
 * transaction that runs the statement ends, an abort brings back the
 * human's user id and security context, not the agent's.
 */
static bool boundary_in_agent_call = false;
static Oid	human_user;
static int	human_context;

static void
transaction_ended_in_call(bool abort)
{
	int			i;

	for (i = 0; i < ncalls; i++)
		if (OidIsValid(calls[i].fn))
		{
			if (!boundary_in_agent_call)
			{
				human_user = calls[i].saved_user;
				human_context = calls[i].saved_context;
				boundary_in_agent_call = true;
			}
			break;
		}
	if (abort)
		for (i = ncalls - 1; i >= 0; i--)
			if (OidIsValid(calls[i].fn))
			{
				call_as_owner(&calls[i]);
				break;
			}
}

/*
 * The end of a transaction (hooks.c): "top" when no statement of ours is
 * running, else inside a procedure.
 */
void
ag_agentcode_xact_end(bool top, bool abort)
{
	if (!top)
	{
		transaction_ended_in_call(abort);
		return;
	}
	if (abort)
	{
		if (agent_calls > 0 && error_context_stack == &agent_context)
			error_context_stack = agent_context.previous;
		ncalls = 0;
		agent_calls = 0;
		nrunning = 0;
		if (boundary_in_agent_call)
			SetUserIdAndSecContext(human_user, human_context);
	}
	boundary_in_agent_call = false;
}

/* Statements being executed (hooks.c, strictly nested). */
void
ag_agentcode_enter(PlannedStmt *plan, Oid copy_into)
{
	if (nrunning == running_cap)
	{
		running_cap = running_cap ? running_cap * 2 : 16;
		running = running ? repalloc(running, running_cap * sizeof(Running)) :
			MemoryContextAlloc(TopMemoryContext, running_cap * sizeof(Running));
	}
	running[nrunning].plan = plan;
	running[nrunning].copy_into = copy_into;
	running[nrunning].judged = false;
	nrunning++;
}

void
ag_agentcode_leave(void)
{
	if (nrunning > 0)
		nrunning--;
}

/* Is an agent's function running, in a session that is not the agent's? */
bool
ag_agentcode_running(void)
{
	return agent_calls > 0 && !ag_agent_latched();
}

/* The innermost agent function on the stack. */
static Oid
innermost_agent_function(void)
{
	int			i;

	for (i = ncalls - 1; i >= 0; i--)
		if (OidIsValid(calls[i].fn))
			return calls[i].fn;
	return InvalidOid;
}

static Oid
function_owner(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Oid			owner = InvalidOid;

	if (HeapTupleIsValid(tup))
	{
		owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
		ReleaseSysCache(tup);
	}
	return owner;
}

static Oid
relation_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner = InvalidOid;

	if (HeapTupleIsValid(tup))
	{
		owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
		ReleaseSysCache(tup);
	}
	return owner;
}

static const char *
role_name(Oid role)
{
	char	   *n = GetUserNameFromId(role, true);

	return n ? n : "?";
}

/*
 * A function of anyone's but the system's (the guard's included), except
 * the one test the guard's own soft-delete policies make,
 * agent_guard._replication_session(), which takes no argument and calls
 * nothing.
 */
static bool
user_function(Oid funcid, void *context)
{
	char	   *name;
	bool		guard_test;

	if (funcid < FirstNormalObjectId)
		return false;
	name = get_func_name(funcid);
	guard_test = name != NULL && strcmp(name, "_replication_session") == 0 &&
		get_func_namespace(funcid) == get_namespace_oid(AG_SCHEMA, true);
	if (name)
		pfree(name);
	return !guard_test;
}

static bool
calls_user_function(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, user_function, NULL))
		return true;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, calls_user_function, context, 0);
	return expression_tree_walker(node, calls_user_function, context);
}

/*
 * Does a row-security policy of the relation call a function that is not
 * the system's?  The guard's own soft-delete policies do not; a policy
 * that calls agent_guard.approve() directly does.  (The relations its
 * subqueries read are in the plan's range table, judged on their own.)
 */
static bool
policies_call_code(Oid relid)
{
	Relation	rel = RelationIdGetRelation(relid);
	bool		found = false;
	ListCell   *lc;

	if (rel == NULL)
		return true;			/* cannot tell: count it */
	if (rel->rd_rsdesc != NULL)
		foreach(lc, rel->rd_rsdesc->policies)
		{
			RowSecurityPolicy *p = (RowSecurityPolicy *) lfirst(lc);

			if (calls_user_function((Node *) p->qual, NULL) ||
				calls_user_function((Node *) p->with_check_qual, NULL))
			{
				found = true;
				break;
			}
		}
	RelationClose(rel);
	return found;
}

/*
 * A relation of an agent role in a range table whose stored code the
 * statement runs, or InvalidOid: a view, a relation with rules, one the
 * statement writes (defaults, CHECKs, trigger conditions, a foreign key's
 * cascade), or one whose row-security policies call functions.  Reading a
 * plain table of an agent's runs none of its code.
 */
static Oid
agent_relation(List *rtable, List *written)
{
	ListCell   *lc;
	int			rti = 0;

	foreach(lc, rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		HeapTuple	tup;
		Form_pg_class cls;
		bool		runs_code;

		rti++;
		/* relations, and views (subqueries that keep the view's oid, 16+) */
		if (!OidIsValid(rte->relid))
			continue;
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(rte->relid));
		if (!HeapTupleIsValid(tup))
			continue;
		cls = (Form_pg_class) GETSTRUCT(tup);
		if (!ag_agentcode_role_is_agent(cls->relowner))
		{
			ReleaseSysCache(tup);
			continue;
		}
		runs_code = (cls->relkind == RELKIND_VIEW || cls->relhasrules ||
					 list_member_int(written, rti));
		if (!runs_code && cls->relrowsecurity)
			runs_code = policies_call_code(rte->relid);
		ReleaseSysCache(tup);
		if (runs_code)
			return rte->relid;
	}
	return InvalidOid;
}

/*
 * The humans-only functions call ag_agentcode_refuse(): refuse while an
 * agent's function runs in this session, or while an executing statement
 * reads or writes a relation of an agent (whose views, policies, defaults,
 * rules and WHEN clauses are the agent's code, and may call the function
 * directly).  The C functions that act as table owners call the first half
 * only: their callers' own row work reads the agent's tables.
 */
void
ag_agentcode_refuse_calls(const char *fn)
{
	Oid			agent_fn = innermost_agent_function();

	if (OidIsValid(agent_fn))
	{
		Oid			owner = function_owner(agent_fn);

		ereport(ERROR,
				(errcode(ERRCODE_AG_HUMANS_ONLY),
				 errmsg("%s cannot be called from code of agent role \"%s\"",
						fn, role_name(owner)),
				 errdetail("Function %s, owned by role \"%s\", which is or serves an agent, is running in the session of role \"%s\" and would act with its rights.",
						   format_procedure(agent_fn), role_name(owner),
						   role_name(GetSessionUserId())),
				 errhint("Call %s directly, in a statement of its own that runs no code of the agent.", fn)));
	}
}

/* The agent relation whose code the i-th executing statement runs, or InvalidOid. */
static Oid
running_agent_relation(int i)
{
	Running    *r = &running[i];

	if (!r->judged)
	{
		r->agent_rel = r->plan ?
			agent_relation(r->plan->rtable, r->plan->resultRelations) :
			(OidIsValid(r->copy_into) &&
			 ag_agentcode_role_is_agent(relation_owner(r->copy_into)) ?
			 r->copy_into : InvalidOid);
		r->judged = true;
	}
	return r->agent_rel;
}

void
ag_agentcode_refuse(const char *fn)
{
	int			i;

	ag_agentcode_refuse_calls(fn);

	for (i = nrunning - 1; i >= 0; i--)
	{
		Oid			relid = running_agent_relation(i);

		if (OidIsValid(relid))
		{
			Oid			owner = relation_owner(relid);

			ereport(ERROR,
					(errcode(ERRCODE_AG_HUMANS_ONLY),
					 errmsg("%s cannot be called from a statement that involves relation %s of agent role \"%s\"",
							fn, ag_qualified_relname(relid), role_name(owner)),
					 errdetail("The views, row-security policies, column defaults, rules and trigger conditions of relation %s are code of role \"%s\", which is or serves an agent, and could call %s with the rights of role \"%s\".",
							   ag_qualified_relname(relid), role_name(owner), fn,
							   role_name(GetSessionUserId())),
					 errhint("Call %s directly, in a statement of its own that involves no relation of the agent.", fn)));
		}
	}
}

/*
 * Functions that act with the caller's rights beyond what EXECUTE grants:
 * they check the caller at run time (settings, signals, replication slots,
 * large objects, sequences) or write around the tables (WAL messages).
 */
static bool
acts_with_callers_rights(Oid funcid)
{
	switch (funcid)
	{
		case F_SET_CONFIG:
		case F_PG_TERMINATE_BACKEND:
		case F_PG_CANCEL_BACKEND:
		case F_PG_CREATE_PHYSICAL_REPLICATION_SLOT:
		case F_PG_CREATE_LOGICAL_REPLICATION_SLOT:
		case F_PG_DROP_REPLICATION_SLOT:
		case F_PG_REPLICATION_SLOT_ADVANCE:
		case F_PG_LOGICAL_SLOT_GET_CHANGES:
		case F_PG_LOGICAL_SLOT_GET_BINARY_CHANGES:
		case F_PG_LOGICAL_SLOT_PEEK_CHANGES:
		case F_PG_LOGICAL_SLOT_PEEK_BINARY_CHANGES:
			return true;
		default:
			{
				AgWriterKind k = ag_writer_kind(funcid);

				return k == AG_FN_LARGE_OBJECT || k == AG_FN_WAL_MESSAGE ||
					(k == AG_FN_SEQUENCE && funcid != F_NEXTVAL);
			}
	}
}

/* Does PUBLIC have EXECUTE on the function (its default)? */
static bool
public_may_execute(Oid funcid)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	Datum		d;
	bool		isnull;
	bool		result = false;

	if (!HeapTupleIsValid(tup))
		return false;
	d = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_proacl, &isnull);
	if (isnull)
		result = true;
	else
	{
		Acl		   *acl = DatumGetAclP(d);
		AclItem    *items = (AclItem *) (((char *) acl) + ARR_OVERHEAD_NONULLS(1));
		int			i;

		/* an ACL is a one-dimensional array without nulls (acl.c) */
		for (i = 0; ARR_NDIM(acl) == 1 && !ARR_HASNULL(acl) &&
			 i < ACL_NUM(acl) && !result; i++)
			result = items[i].ai_grantee == ACL_ID_PUBLIC &&
				(ACLITEM_GET_PRIVS(items[i]) & ACL_EXECUTE) != 0;
	}
	ReleaseSysCache(tup);
	return result;
}

/* function -> how it may run in a statement that runs an agent's code */
typedef enum
{
	CALL_FREE = 1,				/* anyone may; it checks nothing at run time */
	CALL_GRANTED,				/* only roles granted EXECUTE */
	CALL_CALLERS_RIGHTS			/* see acts_with_callers_rights() */
} CallKind;

typedef struct CallKindEntry
{
	Oid			fn;
	CallKind	kind;
} CallKindEntry;

static CallKind
call_kind(Oid funcid)
{
	CallKindEntry *e;
	CallKind	kind;
	bool		found;

	if (functions_stale && call_kind_cache != NULL)
	{
		hash_destroy(call_kind_cache);
		call_kind_cache = NULL;
	}
	if (call_kind_cache != NULL &&
		(e = hash_search(call_kind_cache, &funcid, HASH_FIND, NULL)) != NULL)
		return e->kind;
	/* the guard's own functions judge their callers themselves (_require_human) */
	kind = acts_with_callers_rights(funcid) ? CALL_CALLERS_RIGHTS :
		(public_may_execute(funcid) ||
		 get_func_namespace(funcid) == get_namespace_oid(AG_SCHEMA, true)) ?
		CALL_FREE : CALL_GRANTED;
	if (call_kind_cache == NULL)
		call_kind_cache = make_cache("agent_guard call kinds", sizeof(CallKindEntry));
	e = hash_search(call_kind_cache, &funcid, HASH_ENTER, &found);
	e->kind = kind;
	return kind;
}

/*
 * Object access, a function call being set up in a human's session, while
 * a statement runs an agent's stored code (an agent's view, policy,
 * default, rule, CHECK or trigger condition; see agent_relation()): the
 * call may be the agent's expression, run with the human's rights.  A
 * function the agent may not execute, or one that acts with its caller's
 * rights beyond EXECUTE, is refused (YG002).  Inside an agent's function
 * the user is the agent already: PostgreSQL's own checks apply.
 */
void
ag_agentcode_function_execute(Oid funcid)
{
	CallKind	kind;
	int			i;

	/*
	 * Not in a SECURITY DEFINER function or a guard's or maintenance
	 * command's change of user: that code is not the agent's expression.
	 */
	if (nrunning == 0 || ag_process_is_agent() || agent_calls > 0 ||
		ag_owner_running() || GetUserId() != GetOuterUserId())
		return;
	if ((kind = call_kind(funcid)) == CALL_FREE)
		return;
	for (i = nrunning - 1; i >= 0; i--)
	{
		Oid			relid = running_agent_relation(i);
		Oid			owner;

		if (!OidIsValid(relid))
			continue;
		owner = relation_owner(relid);
		if (kind == CALL_GRANTED &&
			AG_PROC_ACLCHECK(funcid, owner, ACL_EXECUTE) == ACLCHECK_OK)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_AG_HUMANS_ONLY),
				 errmsg("function %s cannot run in a statement that involves relation %s of agent role \"%s\"",
						format_procedure(funcid), ag_qualified_relname(relid), role_name(owner)),
				 errdetail(kind == CALL_GRANTED ?
						   "The views, row-security policies, column defaults, rules and trigger conditions of relation %s are code of role \"%s\", which is or serves an agent and may not execute %s; in this statement it would run with the rights of role \"%s\"." :
						   "The views, row-security policies, column defaults, rules and trigger conditions of relation %s are code of role \"%s\", which is or serves an agent; %s acts with its caller's rights, which in this statement are those of role \"%s\".",
						   ag_qualified_relname(relid), role_name(owner),
						   format_procedure(funcid), role_name(GetUserId())),
				 errhint("Call %s in a statement of its own that involves no relation of the agent.",
						 format_procedure(funcid))));
	}
}

/* The refusal of a write to a protected table by an agent's code. */
static void
refuse_write(Oid relid, const char *what)
{
	Oid			agent_fn = innermost_agent_function();
	Oid			owner = function_owner(agent_fn);

	ereport(ERROR,
			(errcode(ERRCODE_AG_GUARD_PROTECTED),
			 errmsg("cannot %s protected table %s from code of agent role \"%s\"",
					what, ag_qualified_relname(relid), role_name(owner)),
			 errdetail("Function %s, owned by role \"%s\", which is or serves an agent, is running in the session of role \"%s\"; its writes would pass for that role's, unstamped and unlogged.",
					   format_procedure(agent_fn), role_name(owner),
					   role_name(GetSessionUserId())),
			 errhint("Run the statement so that it runs no code of the agent (change or drop the agent's trigger, rule or function first, or change the agent's rows yourself), or let the agent make the change in its own session, where it is stamped, logged and gated.")));
}

/* ExecutorStart, agent code on the stack: a plan writing a protected table. */
void
ag_agentcode_executor_start(PlannedStmt *plan)
{
	ListCell   *lc;

	if (!ag_agentcode_running() ||
		(plan->commandType == CMD_SELECT && !plan->hasModifyingCTE))
		return;
	foreach(lc, plan->resultRelations)
	{
		Oid			relid = rt_fetch(lfirst_int(lc), plan->rtable)->relid;

		if (ag_relation_protected(relid))
			refuse_write(relid, "write to");
	}
}

/* COPY FROM into a protected table, agent code on the stack. */
void
ag_agentcode_copy(Oid copy_into)
{
	if (OidIsValid(copy_into) && ag_agentcode_running() &&
		ag_relation_protected(copy_into))
		refuse_write(copy_into, "copy into");
}

/*
 * Object access, agent code on the stack: the backstop for a protected
 * table dropped, emptied or altered by any statement.
 */
void
ag_agentcode_object_access(ObjectAccessType access, Oid classId, Oid objectId)
{
	if (classId != RelationRelationId || !ag_agentcode_running())
		return;
	if (access != OAT_DROP && access != OAT_TRUNCATE && access != OAT_POST_ALTER)
		return;
	if (ag_relation_protected(objectId))
		refuse_write(objectId, access == OAT_DROP ? "drop" :
					 access == OAT_TRUNCATE ? "truncate" : "alter");
}

/*
 * Planner, in a session that is not an agent's: a statement a rule made
 * (the rule's relation is in its range table) that writes a protected
 * table, when the rule's relation is an agent's.  The rule is the agent's
 * code; no function of it need run.
 */
void
ag_agentcode_plan_query(Query *parse)
{
	Oid			target;
	Oid			agent_rel;
	Oid			owner;

	if (parse->querySource == QSRC_ORIGINAL || parse->resultRelation <= 0 ||
		(parse->commandType != CMD_INSERT && parse->commandType != CMD_UPDATE &&
		 parse->commandType != CMD_DELETE))
		return;
	target = rt_fetch(parse->resultRelation, parse->rtable)->relid;
	if (!ag_relation_protected(target) ||
		!OidIsValid(agent_rel = agent_relation(parse->rtable, NIL)))
		return;
	owner = relation_owner(agent_rel);
	ereport(ERROR,
			(errcode(ERRCODE_AG_GUARD_PROTECTED),
			 errmsg("cannot write to protected table %s through a rule of agent role \"%s\"",
					ag_qualified_relname(target), role_name(owner)),
			 errdetail("The statement was rewritten by a rule of relation %s, owned by role \"%s\", which is or serves an agent; its writes would pass for those of role \"%s\", unstamped and unlogged.",
					   ag_qualified_relname(agent_rel), role_name(owner),
					   role_name(GetSessionUserId())),
			 errhint("Drop the rule, or write to relation %s in a statement of its own.",
					 ag_qualified_relname(target))));
}

/*
 * SQL: agent_guard._refuse_agent_code(fn text): raises unless the caller
 * runs in no code of an agent (see ag_agentcode_refuse); called by
 * agent_guard._require_human().
 */
PG_FUNCTION_INFO_V1(ag_sql_refuse_agent_code);
Datum
ag_sql_refuse_agent_code(PG_FUNCTION_ARGS)
{
	ag_agentcode_refuse(PG_ARGISNULL(0) ? "this function" : text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}
