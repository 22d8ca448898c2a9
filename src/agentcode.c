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
 * runs such code, a function the agent may not execute, one that acts
 * with its caller's rights beyond EXECUTE, or a SECURITY DEFINER function
 * of a role that is not an agent's (its writes would pass for the human's
 * session's), is refused (ag_agentcode_function_execute).
 *
 * The agent's code that runs outside its functions' calls is kept to the
 * agent's rights too: a cursor an agent's function opened runs as the
 * agent when the human fetches it (ag_agentcode_query_resume); the
 * parameter defaults and parameter domains of an agent's function, the
 * CHECKs of an agent's domain the statement coerces to, an agent's
 * operator and aggregate bound to a system function are judged before
 * they run (function_unsafe_call, human_query_walker, judge_aggregate).
 *
 * What is refused, while an agent's code runs in a human's session:
 *	- SET options that change who the session is (role, session
 *	  authorization, the guard's settings), and setting the guard's
 *	  identity from the agent's code (identity.c) (YG002);
 *	- session-level advisory locks and setseed(), which outlive the call,
 *	  and SET CONSTRAINTS, which outlives it in the transaction (YG002);
 *	- the humans-only functions (agent_guard._require_human() calls
 *	  ag_agentcode_refuse(); the C functions that act as table owners, its
 *	  first half): also while an executing statement runs an agent's
 *	  relation's code as above (YG002);
 *	- writes to a protected table (YG004): a plan that writes one, a COPY
 *	  FROM into one, and, as a backstop, a drop, truncation or alteration
 *	  of one (object access); and writes to an inheritance child of one
 *	  that no protection covers (refuse_child_write);
 *	- a rule of an agent's relation that writes a protected table, in any
 *	  human statement (planner; YG004): the rule is the agent's code;
 *	- what an agent's rule's action, or a write through an agent's view,
 *	  reaches at run time: a protected child or partition of what it
 *	  writes, a protected table a foreign key cascades to, a deferrable
 *	  constraint trigger that would fire after the plan (YG004; see
 *	  ag_agentcode_reach_start).
 *
 * An agent's code runs with session_replication_role "origin": the
 * triggers and foreign-key checks of what it writes fire as in the
 * agent's own session (which refuses every statement while the setting
 * is not "origin").  rollback_run replays a run with the setting at
 * "replica", for its own writes only (the tables' triggers would change
 * the rows it restores; it checks the foreign keys at the end); an
 * agent's CHECK, domain CHECK, index expression or ENABLE ALWAYS trigger
 * on the replayed table runs inside that replay, and its writes to tables
 * that are not protected would skip their triggers (a human's audit) and
 * foreign-key checks (red team 17c, finding 3).  So an agent's call sets
 * it back to "origin" for its duration, in the call's own GUC nesting
 * level (or fmgr's, for a function with SET options), which its end or
 * abort rolls back: the replay goes on in "replica" after it.  Forcing
 * rather than refusing the code's writes keeps a rollback possible
 * whatever the agent's code does.  A procedure, which has no nesting
 * level (its COMMIT would end one), is refused instead when the setting
 * is not "origin" (only a superuser can set it, and only then call one).
 *
 * Cost: a session that never sets up a call of an agent's function pays a
 * hash lookup per fmgr_info of a non-builtin function (cached per function;
 * the registry, role memberships and pg_proc invalidate the caches) and an
 * array push per executor run; the checks themselves run only when the
 * humans-only functions are called or agent code is on the stack.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_language.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/execdesc.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "nodes/readfuncs.h"
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
#include "rewrite/prs2lock.h"
#include "rewrite/rewriteHandler.h"
#include "rewrite/rowsecurity.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "agentcode.h"
#include "agentportal.h"
#include "compat.h"
#include "owner_spi.h"
#include "refusal.h"
#include "scope.h"
#include "statement.h"
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
	bool		procedure;		/* its transaction control ends GUC levels */
	bool		judged;			/* the two below are known */
	Oid			unsafe_call;	/* see function_unsafe_call() */
	Oid			unsafe_domain;	/* the parameter's domain that calls it */
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
	bool		resumed;		/* a query it started, run later (query_resume) */
	bool		human_definer;	/* not an agent's: a human's SECURITY DEFINER
								 * function that agent code called */
	int			hide_mark;		/* agentportal.c's hidden portals before it, or -1 */
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
	bool		write_judged;	/* the three below are known */
	Oid			writer;			/* the agent role whose rule or view chose
								 * what it writes (ag_agentcode_reach_start) */
	Oid			writer_via;		/* the rule's relation, or the view */
	bool		writer_view;	/* writer_via is a view written through */
	NodeTag		utility;		/* a utility statement's, or T_Invalid */
	bool		altering;		/* a human's ALTER TABLE of the relation */
} Running;

static Running *running = NULL;
static int	nrunning = 0;
static int	running_cap = 0;

/*
 * Queries an agent's code started that can run after its call returned (a
 * cursor the function returns): run as the agent when they do.
 */
typedef struct AgentQuery
{
	QueryDesc  *query;
	Oid			fn;
	Oid			owner;
	SubTransactionId subxact;	/* dropped when it aborts */
} AgentQuery;

static AgentQuery *agent_queries = NULL;
static int	nagent_queries = 0;
static int	agent_queries_cap = 0;

static void judge_call_in_agent_statement(Oid funcid, Oid relid);
static bool settings_roll_back(void);
static void refuse_constraints_set(void);
static Oid	running_agent_relation(int i);
static void agentcode_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									   SubTransactionId parentSubid, void *arg);

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
	/* a domain's constraints: what a function's parameter types run */
	CacheRegisterSyscacheCallback(TYPEOID, function_inval, (Datum) 0);
	CacheRegisterSyscacheCallback(CONSTROID, function_inval, (Datum) 0);
	RegisterSubXactCallback(agentcode_subxact_callback, NULL);
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
	bool		procedure = false;

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
		procedure = proc->prokind == PROKIND_PROCEDURE;
		ReleaseSysCache(tup);
		if (!ag_agentcode_role_is_agent(owner))
			owner = InvalidOid;
	}
	/* the lookups above may have flushed the cache */
	if (function_cache == NULL)
		function_cache = make_cache("agent_guard agent functions", sizeof(FunctionEntry));
	e = hash_search(function_cache, &fn, HASH_ENTER, &found);
	e->agent_owner = owner;
	e->procedure = procedure;
	e->judged = false;
	e->unsafe_call = InvalidOid;
	e->unsafe_domain = InvalidOid;
	return e;
}

static void refuse_stored_call(Oid fn, Oid owner, const char *object, const char *hint);
static Oid	function_unsafe_call(Oid fn, Oid owner, Oid *domain);

/*
 * needs_fmgr_hook: see calls of agents' functions, in processes that are
 * not an agent's for life.  Called from fmgr_info and the planner's
 * inlining, never for builtins: before the call's arguments are set up,
 * which is where an agent's function that would run code of the agent
 * with the human's rights is refused (see function_unsafe_call()).
 */
bool
ag_agentcode_needs_hook(Oid fn)
{
	FunctionEntry *e;

	if (IsBinaryUpgrade)
		return false;
	e = function_entry(fn);
	if (e == NULL || !OidIsValid(e->agent_owner))
		return false;
	/*
	 * In the agent's own session: always seen, and judged when it starts
	 * (call_entry): PostgreSQL keeps the set-up of some calls (a range
	 * type's subtype_diff in the type cache) and makes them later while
	 * the current user is another role (red team 11, finding 3).  So the
	 * agent's SQL functions are not inlined in its own session either.
	 */
	if (ag_process_is_agent())
		return true;
	if (!e->judged)
	{
		Oid			owner = e->agent_owner;
		Oid			domain = InvalidOid;
		Oid			call = function_unsafe_call(fn, owner, &domain);

		/* the lookups may have flushed the cache */
		e = function_entry(fn);
		if (e == NULL)
			return true;
		e->unsafe_call = call;
		e->unsafe_domain = domain;
		e->judged = true;
	}
	if (OidIsValid(e->unsafe_call))
	{
		Oid			call = e->unsafe_call;
		Oid			domain = e->unsafe_domain;
		Oid			owner = e->agent_owner;

		if (OidIsValid(domain))
			refuse_stored_call(call, owner,
							   psprintf("domain %s (a parameter type of function %s)",
										format_type_be(domain), format_procedure(fn)),
							   psprintf("Have the domain's constraint or the function changed, or call %s from the agent's own session.",
										format_procedure(fn)));
		refuse_stored_call(call, owner,
						   psprintf("the parameter defaults of function %s", format_procedure(fn)),
						   psprintf("Have the function's defaults changed (they are checked whenever it is called), or call %s from the agent's own session.",
									format_procedure(fn)));
	}
	return true;
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
 * The context line of errors raised while agent code runs: pushed when the
 * first agent call starts, popped when the last ends.  A block whose end
 * restores the stack as it found it can leave it linked after the pop: it
 * is never linked twice (that would make the stack a circle).
 */
static void
push_agent_context(void)
{
	ErrorContextCallback *e;

	for (e = error_context_stack; e != NULL; e = e->previous)
		if (e == &agent_context)
			return;
	agent_context.callback = agent_call_context;
	agent_context.arg = NULL;
	agent_context.previous = error_context_stack;
	error_context_stack = &agent_context;
}

/* The outermost agent call ended: the human's context and cursors are back. */
static void
agent_code_ended(void)
{
	if (error_context_stack == &agent_context)
		error_context_stack = agent_context.previous;
	ag_agentportal_show(0);
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
 * An agent's code runs with session_replication_role "origin" (see the
 * file header): in the GUC nesting level the caller made, rolled back
 * with it.  Nothing to do, and no plan cache reset, when it is already.
 */
static void
origin_for_agent_code(void)
{
	if (SessionReplicationRole == SESSION_REPLICATION_ROLE_ORIGIN)
		return;
	(void) set_config_option("session_replication_role", "origin", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * Settings an agent's function may not carry as SET options in a human's
 * session: fmgr applies them before the hook sees the call, for the
 * human.  A role or session authorization would make the human's session
 * the agent's role (and confuse what the call restores), the guard's
 * identity settings would tag it as an agent's.
 */
static const char *
forbidden_setting(List *names)
{
	ListCell   *lc;

	foreach(lc, names)
	{
		const char *name = (const char *) lfirst(lc);

		if (pg_strcasecmp(name, "role") == 0 ||
			pg_strcasecmp(name, "session_authorization") == 0 ||
			pg_strncasecmp(name, AG_SCHEMA ".", strlen(AG_SCHEMA) + 1) == 0)
			return name;
	}
	return NULL;
}

/* Room for one more call on the stack. */
static Call *
reserve_call(void)
{
	if (ncalls == calls_cap)
	{
		calls_cap = calls_cap ? calls_cap * 2 : 32;
		calls = calls ? repalloc(calls, calls_cap * sizeof(Call)) :
			MemoryContextAlloc(TopMemoryContext, calls_cap * sizeof(Call));
	}
	return &calls[ncalls];
}

/*
 * The portals opened until now were opened by the innermost agent call on
 * the stack, or by the human (agentportal.c).
 */
static void
note_portals_of_caller(void)
{
	int			i;

	for (i = ncalls - 1; i >= 0; i--)
		if (OidIsValid(calls[i].fn) || calls[i].human_definer)
		{
			ag_agentportal_note(calls[i].fn, calls[i].owner);
			return;
		}
	ag_agentportal_note(InvalidOid, InvalidOid);
}

/*
 * Whose code runs at the top of the stack: the innermost agent call's
 * owner, or InvalidOid for the human (no agent call, or a human's
 * SECURITY DEFINER function an agent's code called).
 */
static Oid
code_owner_now(void)
{
	int			i;

	for (i = ncalls - 1; i >= 0; i--)
		if (OidIsValid(calls[i].fn) || calls[i].human_definer)
			return calls[i].fn != InvalidOid ? calls[i].owner : InvalidOid;
	return InvalidOid;
}

/*
 * Agent code that runs outside a call the fmgr hook saw (a query an
 * agent's function started, a portal it opened), resumed as the agent:
 * as if its call went on, in a security-restricted operation, its
 * settings rolled back when it stops (ag_agentcode_query_suspend).
 */
static void
push_resumed_call(Oid fn, Oid owner)
{
	Call	   *c;

	note_portals_of_caller();
	c = reserve_call();
	c->fn = fn;
	c->owner = owner;
	c->definer = false;
	c->resumed = true;
	c->human_definer = false;
	c->hide_mark = ag_agentportal_hide(owner);
	GetUserIdAndSecContext(&c->saved_user, &c->saved_context);
	c->guc_level = NewGUCNestLevel();
	origin_for_agent_code();
	call_as_owner(c);
	ncalls++;
	if (agent_calls++ == 0)
		push_agent_context();
}

/*
 * fmgr_hook: every call that runs through fmgr_security_definer (ours, a
 * SECURITY DEFINER function's, one with SET options) starts, then ends or
 * aborts, strictly nested; the stack follows it.  An agent's function runs
 * as its owner, in a security-restricted operation.
 *
 * What fmgr itself switches and restores is read from fmgr's own cache of
 * the call (compat.h), not from the catalog: fmgr reads SECURITY DEFINER
 * and the SET options once per FmgrInfo, at its first call, and a function
 * can change them while it runs.  fmgr restores the user id of a SECURITY
 * DEFINER call, and the settings of one with SET options, before it
 * reports the end; we restore the others' user id, and roll back the
 * settings a call without SET options made (a GUC nesting level of ours).
 * Those of a function with SET options stay as PostgreSQL keeps them (its
 * level ends before ours could), and a procedure's stay too (its
 * transaction control ends nesting levels).  On abort, the
 * (sub)transaction's abort rolls the settings back; the user id comes
 * back here.
 */
/*
 * The entry of a function starting that is to run as its agent owner, or
 * NULL: an agent's function in a session that is not an agent's; and in
 * an agent's own session, one called while the current user is not an
 * agent's role (red team 9, finding 7): a foreign key's action PostgreSQL
 * runs as a human's table's owner, a human's SECURITY DEFINER function,
 * the guard's own queries as the extension owner.  There it would run with
 * that role's rights.
 */
static FunctionEntry *
call_entry(Oid fn)
{
	if (ag_process_is_agent() && ag_agentcode_role_is_agent(GetUserId()))
		return NULL;
	return function_entry(fn);
}

void
ag_agentcode_fmgr(FmgrHookEventType event, FmgrInfo *flinfo, Datum *private)
{
	if (event == FHET_START)
	{
		FunctionEntry *e = call_entry(flinfo->fn_oid);
		Call	   *c;
		bool		agents = e != NULL && OidIsValid(e->agent_owner);
		bool		human_definer = false;
		Oid			enclosing = InvalidOid;

		if (agents)
		{
			AgFmgrCache *fc = (AgFmgrCache *) flinfo;
			const char *setting;

			if (private != &fc->arg)
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("agent_guard cannot run function %s of agent role \"%s\" in this session",
								format_procedure(flinfo->fn_oid), ag_agentcode_role_name(e->agent_owner)),
						 errdetail("The server's function manager does not keep its calls as this build of agent_guard expects."),
						 errhint("Build agent_guard against this server's headers.")));
			if ((setting = forbidden_setting(ag_fmgr_config_names(fc))) != NULL)
				ag_refuse_humans_only(e->agent_owner,
									  psprintf("function %s of agent role \"%s\" cannot run in the session of role \"%s\"",
											   format_procedure(flinfo->fn_oid), ag_agentcode_role_name(e->agent_owner),
											   ag_agentcode_role_name(GetAuthenticatedUserId())),
									  psprintf("Its SET option \"%s\" would change who this session is.", setting),
									  psprintf("Drop the option (ALTER FUNCTION ... RESET %s), or call the function from the agent's own session.",
											   setting));
			if (e->procedure && !ag_fmgr_has_config(fc) &&
				SessionReplicationRole != SESSION_REPLICATION_ROLE_ORIGIN)
				ag_refuse_humans_only(e->agent_owner,
									  psprintf("procedure %s of agent role \"%s\" cannot run while session_replication_role is not \"origin\"",
											   format_procedure(flinfo->fn_oid), ag_agentcode_role_name(e->agent_owner)),
									  pstrdup("The triggers and foreign-key checks of what it writes would not fire."),
									  pstrdup("RESET session_replication_role first."));
		}

		/*
		 * A human's SECURITY DEFINER function called from an agent's code
		 * runs as the human: the cursors it opens are the human's, hidden
		 * from an agent's code it calls in turn (red team 10, finding 2).
		 */
		if (!agents && agent_calls > 0 && !ag_process_is_agent() &&
			private == &((AgFmgrCache *) flinfo)->arg)
		{
			Oid			definer = ((AgFmgrCache *) flinfo)->userid;

			human_definer = OidIsValid(definer) && !ag_agentcode_role_is_agent(definer);
		}
		if ((agents || human_definer) && !ag_process_is_agent())
		{
			note_portals_of_caller();
			enclosing = code_owner_now();
		}
		c = reserve_call();
		c->fn = InvalidOid;
		c->resumed = false;
		c->human_definer = human_definer;
		c->hide_mark = -1;
		if (agents)
		{
			AgFmgrCache *fc = (AgFmgrCache *) flinfo;

			c->owner = e->agent_owner;
			c->definer = OidIsValid(fc->userid);
			GetUserIdAndSecContext(&c->saved_user, &c->saved_context);
			c->guc_level = (ag_fmgr_has_config(fc) || e->procedure) ? 0 : NewGUCNestLevel();
			origin_for_agent_code();	/* a procedure's was refused above */
			call_as_owner(c);
			c->fn = flinfo->fn_oid;
			if (agent_calls++ == 0)
				push_agent_context();
			/* the cursors of the code that called it, unless its own */
			if (!ag_process_is_agent() && enclosing != c->owner)
				c->hide_mark = ag_agentportal_hide(c->owner);
		}
		ncalls++;
	}
	else if (ncalls > 0)
	{
		Call	   *c = &calls[--ncalls];

		/* what a human's function called from agent code opened is the human's */
		if (c->human_definer)
			ag_agentportal_note(InvalidOid, InvalidOid);
		if (OidIsValid(c->fn))
		{
			/* what it opened is the agent's, also after an error caught */
			if (!ag_process_is_agent())
				ag_agentportal_note(c->fn, c->owner);
			if (c->hide_mark >= 0)
				ag_agentportal_show(c->hide_mark);
			if (event == FHET_END && c->guc_level > 0)
				AtEOXact_GUC(false, c->guc_level);
			if (event == FHET_ABORT || !c->definer)
				SetUserIdAndSecContext(c->saved_user, c->saved_context);
			if (--agent_calls == 0)
				agent_code_ended();
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
	nagent_queries = 0;
	if (abort)
	{
		if (agent_calls > 0)
			agent_code_ended();
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
	running[nrunning].write_judged = false;
	running[nrunning].utility = T_Invalid;
	running[nrunning].altering = false;
	nrunning++;
}

/*
 * A utility statement being executed (hooks.c): a COPY FROM into copy_into
 * runs its defaults, CHECKs and trigger conditions; a human's ALTER TABLE
 * of an agent's relation (altered) re-checks its CHECKs, and evaluates the
 * human's own new defaults.  The entry keeps the statement's kind.
 */
void
ag_agentcode_enter_utility(Node *parsetree, Oid copy_into, Oid altered)
{
	ag_agentcode_enter(NULL, OidIsValid(copy_into) ? copy_into : altered);
	running[nrunning - 1].altering = !OidIsValid(copy_into) && OidIsValid(altered) &&
		get_rel_relkind(altered) != RELKIND_MATVIEW;
	if (parsetree != NULL)
		running[nrunning - 1].utility = nodeTag(parsetree);
}

/*
 * The planner, a session that is not an agent's, outside the agent's
 * functions: does the plan run an agent's stored code (an agent's relation
 * whose code it runs: see agent_relation()), or is it planned as an agent
 * role (REFRESH MATERIALIZED VIEW plans the view's query as its owner)?
 */
bool
ag_agentcode_plan_runs_agent_code(PlannedStmt *plan)
{
	const Oid  *roles;
	uint64		generation;
	Oid			user = GetUserId();

	if (plan->commandType == CMD_UTILITY || IsBinaryUpgrade || ag_process_is_agent() ||
		ag_agentcode_running() || ag_agent_roles(&roles, &generation) <= 0 ||
		ag_session_is_agent())
		return false;
	if (user != GetSessionUserId() && ag_agentcode_role_is_agent(user))
		return true;
	return OidIsValid(ag_agentcode_plan_agent_relation(plan));
}

/*
 * The agent's relation whose stored code an executing statement runs (a
 * plan, or a COPY FROM into it; not a human's ALTER TABLE, whose new
 * defaults are the human's), the innermost one, or InvalidOid: the
 * statements nested in it (a human's function the agent's view calls)
 * count as its, as for the humans-only functions (ag_agentcode_refuse()).
 */
Oid
ag_agentcode_running_code_relation(void)
{
	int			i;

	for (i = nrunning - 1; i >= 0; i--)
	{
		Oid			relid;

		if (running[i].altering)
			continue;
		relid = running_agent_relation(i);
		if (OidIsValid(relid))
			return relid;
	}
	return InvalidOid;
}

void
ag_agentcode_leave(void)
{
	if (nrunning > 0)
		nrunning--;
}

/*
 * The settings of a human's session are the human's (red team 18a, finding
 * 5).  An agent's function changes them only inside its call: they are
 * rolled back when it returns (a GUC nesting level of ours, or refused
 * where PostgreSQL would keep them).  The agent's stored code that runs
 * in the human's statement (the views, rules, row-security policies,
 * defaults, generated columns, CHECKs and index expressions of the
 * agent's relation that the statement reads or writes, see
 * agent_relation()), and the statements an agent's procedure or function
 * with SET options runs, have no call of their own: what they change in
 * the settings (a C function of an extension that calls SetConfigOption,
 * like pg_trgm's set_limit in a column default) would stay for the rest of
 * the human's session.  set_config and the extensions' functions known to
 * change settings are refused there (acts_with_callers_rights); whatever
 * else changes a setting while such a statement runs is rolled back when
 * its run ends: ExecutorRun, ExecutorFinish, and the COPY FROM or ALTER
 * TABLE of an agent's relation (hooks.c) each run in a GUC nesting level
 * of their own, ended with this.  Nothing else in such a statement may
 * change a setting either (set_config is refused in it, whoever calls it),
 * so a human's SET there is rolled back too.  Returns the level, or 0.
 * After an error, the (sub)transaction's abort ends the level.
 */
int
ag_agentcode_settings_enter(void)
{
	const Oid  *roles;
	uint64		generation;

	if (nrunning == 0 || IsParallelWorker() || ag_process_is_agent() ||
		ag_agent_roles(&roles, &generation) <= 0)
		return 0;
	if (!OidIsValid(running_agent_relation(nrunning - 1)) &&
		!(ag_agentcode_running() && !settings_roll_back()))
		return 0;
	return NewGUCNestLevel();
}

void
ag_agentcode_settings_leave(int level)
{
	if (level > 0)
		AtEOXact_GUC(false, level);
}

/*
 * ExecutorStart done, inside an agent's call: the query may run after the
 * call returned (a cursor the function opens and returns), with its
 * expressions, its functions (query_to_xml plans SQL as it runs) and its
 * settings then the human's.  Remember whose code it is.
 */
void
ag_agentcode_query_started(QueryDesc *query)
{
	int			i;

	if (agent_calls == 0 || ag_agent_latched())
		return;
	for (i = ncalls - 1; i >= 0 && !OidIsValid(calls[i].fn); i--)
		;
	if (i < 0)
		return;
	if (nagent_queries == agent_queries_cap)
	{
		agent_queries_cap = agent_queries_cap ? agent_queries_cap * 2 : 16;
		agent_queries = agent_queries ?
			repalloc(agent_queries, agent_queries_cap * sizeof(AgentQuery)) :
			MemoryContextAlloc(TopMemoryContext, agent_queries_cap * sizeof(AgentQuery));
	}
	agent_queries[nagent_queries].query = query;
	agent_queries[nagent_queries].fn = calls[i].fn;
	agent_queries[nagent_queries].owner = calls[i].owner;
	agent_queries[nagent_queries].subxact = GetCurrentSubTransactionId();
	nagent_queries++;
}

/* ExecutorEnd: the query is gone. */
void
ag_agentcode_query_ended(QueryDesc *query)
{
	int			i;

	for (i = nagent_queries - 1; i >= 0; i--)
		if (agent_queries[i].query == query)
		{
			agent_queries[i] = agent_queries[--nagent_queries];
			break;
		}
}

/*
 * ExecutorRun or ExecutorFinish of a query an agent's code started, with
 * no agent code on the stack (the human fetches the agent's cursor): it
 * runs as if its call went on, as the agent, in a security-restricted
 * operation, its settings rolled back when it stops.  Returns whether it
 * did; ag_agentcode_query_suspend() ends it.
 */
bool
ag_agentcode_query_resume(QueryDesc *query)
{
	int			i;

	if (nagent_queries == 0 || agent_calls > 0 || ag_agent_latched())
		return false;
	for (i = nagent_queries - 1; i >= 0 && agent_queries[i].query != query; i--)
		;
	if (i < 0)
		return false;
	push_resumed_call(agent_queries[i].fn, agent_queries[i].owner);
	return true;
}

/*
 * ExecutorStart or a utility statement run by a portal an agent's code
 * opened, with no agent code on the stack (the human fetches from a cursor
 * over a query with RETURNING, a writing WITH, or EXPLAIN ANALYZE, which
 * starts only then): as the agent, like a resumed query.  Returns whether
 * it did; ag_agentcode_query_suspend() ends it.
 */
bool
ag_agentcode_portal_pending(void)
{
	Oid			fn;
	Oid			owner;

	return agent_calls == 0 && ag_agentportal_active_is_agents(&fn, &owner);
}

bool
ag_agentcode_portal_resume(void)
{
	Oid			fn;
	Oid			owner;

	if (agent_calls > 0 || ag_agent_latched() ||
		!ag_agentportal_active_is_agents(&fn, &owner))
		return false;
	push_resumed_call(fn, owner);
	return true;
}

/* The end of a resumed run; after an error the abort rolls the settings back. */
void
ag_agentcode_query_suspend(bool completed)
{
	Call	   *c;

	if (ncalls == 0 || !calls[ncalls - 1].resumed)
		return;					/* an abort reset the stack */
	c = &calls[--ncalls];
	ag_agentportal_note(c->fn, c->owner);
	if (c->hide_mark >= 0)
		ag_agentportal_show(c->hide_mark);
	if (completed)
		AtEOXact_GUC(false, c->guc_level);
	SetUserIdAndSecContext(c->saved_user, c->saved_context);
	if (--agent_calls == 0)
		agent_code_ended();
}

/* A savepoint's abort drops the queries started within it. */
static void
agentcode_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg)
{
	int			i;

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	for (i = nagent_queries - 1; i >= 0; i--)
		if (agent_queries[i].subxact >= mySubid)
			agent_queries[i] = agent_queries[--nagent_queries];
}

/*
 * Is the innermost statement being executed a utility statement (no plan
 * has started inside it)?  What is set up then is the utility's own
 * expressions (agentshadow.c): a USING clause, EXECUTE's parameters, a
 * partition bound, COPY's WHERE, defaults and checks it evaluates.
 */
bool
ag_agentcode_utility_innermost(void)
{
	return nrunning > 0 && running[nrunning - 1].plan == NULL;
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

/*
 * The innermost agent call on the stack, and the owner it runs as (the
 * owner when the call started); false when none.
 */
bool
ag_agentcode_innermost(Oid *fn, Oid *owner)
{
	int			i;

	for (i = ncalls - 1; i >= 0; i--)
		if (OidIsValid(calls[i].fn))
		{
			*fn = calls[i].fn;
			*owner = calls[i].owner;
			return true;
		}
	return false;
}

/*
 * Is the code at the top of the stack an agent's (agentshadow.c: what an
 * agent's function parses in a human's session is the agent's choice)?
 */
bool
ag_agentcode_innermost_is_agent(void)
{
	return agent_calls > 0 && OidIsValid(code_owner_now());
}

Oid
ag_agentcode_function_owner(Oid fn)
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

Oid
ag_agentcode_relation_owner(Oid relid)
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

const char *
ag_agentcode_role_name(Oid role)
{
	char	   *n = GetUserNameFromId(role, true);

	return n ? n : "?";
}

/*
 * Any function, the system's and the guard's included, except the one
 * test the guard's own soft-delete policies make,
 * agent_guard._replication_session(), which takes no argument and calls
 * nothing.
 */
static bool
counted_function(Oid funcid, void *context)
{
	char	   *name;
	bool		guard_test;

	if (funcid < FirstNormalObjectId)
		return true;
	name = get_func_name(funcid);
	guard_test = name != NULL && strcmp(name, "_replication_session") == 0 &&
		get_func_namespace(funcid) == ag_guard_namespace();
	if (name)
		pfree(name);
	return !guard_test;
}

static bool
calls_function(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, counted_function, NULL))
		return true;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, calls_function, context, 0);
	return expression_tree_walker(node, calls_function, context);
}

/*
 * Does a row-security policy of the relation call a function, the system's
 * included (query_to_xml runs SQL, set_config changes settings)?  The
 * guard's own soft-delete policies call none but its own test; a policy
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

			if (calls_function((Node *) p->qual, NULL) ||
				calls_function((Node *) p->with_check_qual, NULL))
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
		Oid			owner = ag_agentcode_function_owner(agent_fn);

		ag_refuse_humans_only(owner,
							  psprintf("%s cannot be called from code of agent role \"%s\"",
									   fn, ag_agentcode_role_name(owner)),
							  psprintf("Function %s, owned by role \"%s\", which is or serves an agent, is running in the session of role \"%s\" and would act with its rights.",
									   format_procedure(agent_fn), ag_agentcode_role_name(owner),
									   ag_agentcode_role_name(GetSessionUserId())),
							  psprintf("Call %s directly, in a statement of its own that runs no code of the agent.", fn));
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
			 ag_agentcode_role_is_agent(ag_agentcode_relation_owner(r->copy_into)) ?
			 r->copy_into : InvalidOid);
		r->judged = true;
	}
	return r->agent_rel;
}

/*
 * The agent relation whose stored code (view, row-security policies,
 * defaults, rules) the plan runs, or InvalidOid (agentgate.c judges the
 * writing calls in it).
 */
Oid
ag_agentcode_plan_agent_relation(PlannedStmt *plan)
{
	return agent_relation(plan->rtable, plan->resultRelations);
}

static bool guard_identity_function(Oid funcid);

/* A call of one of the guard's functions that act (not who-is-the-session). */
static bool
guard_acting_function(Oid funcid, void *context)
{
	return funcid >= FirstNormalObjectId && get_func_namespace(funcid) == ag_guard_namespace() &&
		!guard_identity_function(funcid);
}

static bool
calls_guard_acting(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, guard_acting_function, NULL))
		return true;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, calls_guard_acting, context, 0);
	return expression_tree_walker(node, calls_guard_acting, context);
}

/*
 * Does the view's query, or a row-security policy of the table, call one
 * of the guard's acting functions (approve(), unfreeze(), ...) directly?
 */
static bool
relation_code_calls_guard(Oid relid, char kind)
{
	Relation	rel = RelationIdGetRelation(relid);
	bool		found = false;
	ListCell   *lc;

	if (rel == NULL)
		return false;
	if (kind == RELKIND_VIEW)
		found = rel->rd_rules != NULL && calls_guard_acting((Node *) get_view_query(rel), NULL);
	else if (rel->rd_rel->relrowsecurity && rel->rd_rsdesc != NULL)
		foreach(lc, rel->rd_rsdesc->policies)
		{
			RowSecurityPolicy *p = (RowSecurityPolicy *) lfirst(lc);

			if (calls_guard_acting((Node *) p->qual, NULL) ||
				calls_guard_acting((Node *) p->with_check_qual, NULL))
				found = true;
		}
	RelationClose(rel);
	return found;
}

/*
 * Does the i-th executing statement evaluate stored code of its own
 * (red team 35, F10)?  Returns what it does, or NULL.  A statement that
 * writes (its CHECKs, defaults, generated columns, index expressions,
 * triggers and their WHEN, rules, domains' constraints, none of which a
 * human's own call of a humans-only function needs), a COPY FROM, any
 * utility statement but those that only run other statements (DO, CALL,
 * EXPLAIN, EXECUTE, PREPARE, DECLARE, FETCH, CREATE TABLE AS: each
 * statement they run is an entry of its own), or a read of a view whose
 * query, or of a table whose row-security policies, call the guard's
 * acting functions: what it evaluates is nobody's top-level call of a
 * humans-only function.  The system's and the guard's own relations do
 * not count.
 */
static const char *
running_stored_code(int i)
{
	Running    *r = &running[i];
	ListCell   *lc;

	if (r->plan == NULL)
	{
		switch (r->utility)
		{
			case T_Invalid:
			case T_CopyStmt:	/* COPY TO: its query is an entry of its own */
				return OidIsValid(r->copy_into) ? "COPY FROM" : NULL;
			case T_CreateTableAsStmt:	/* its query is an entry; the new table has no code */
			case T_DoStmt:
			case T_CallStmt:
			case T_ExplainStmt:
			case T_ExecuteStmt:
			case T_PrepareStmt:
			case T_DeclareCursorStmt:
			case T_FetchStmt:
			case T_TransactionStmt:
				return NULL;
			default:
				return "a utility statement, which evaluates the expressions stored on what it changes or builds";
		}
	}
	if (r->plan->commandType != CMD_SELECT || r->plan->hasModifyingCTE)
		return "a statement that writes, which evaluates its tables' CHECK constraints, defaults, index expressions, triggers and rules";
	foreach(lc, r->plan->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		char		kind;

		if (!OidIsValid(rte->relid) || rte->relid < FirstNormalObjectId ||
			get_rel_namespace(rte->relid) == ag_guard_namespace())
			continue;
		kind = get_rel_relkind(rte->relid);
		if (relation_code_calls_guard(rte->relid, kind))
			return psprintf(kind == RELKIND_VIEW ?
							"a statement that reads view %s, whose query calls the guard's functions" :
							"a statement that reads table %s, whose row-security policies call the guard's functions",
							ag_qualified_relname(rte->relid));
	}
	return NULL;
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
			Oid			owner = ag_agentcode_relation_owner(relid);

			ag_refuse_humans_only(owner,
								  psprintf("%s cannot be called from a statement that involves relation %s of agent role \"%s\"",
										   fn, ag_qualified_relname(relid), ag_agentcode_role_name(owner)),
								  psprintf("The views, row-security policies, column defaults, rules and trigger conditions of relation %s are code of role \"%s\", which is or serves an agent, and could call %s with the rights of role \"%s\".",
										   ag_qualified_relname(relid), ag_agentcode_role_name(owner), fn,
										   ag_agentcode_role_name(GetSessionUserId())),
								  psprintf("Call %s directly, in a statement of its own that involves no relation of the agent.", fn));
		}
	}

	/*
	 * Nor from what another statement evaluates (red team 35, F10): a
	 * CHECK, default, index expression, trigger, rule, view or policy
	 * calling it would run it in whoever's statement reaches them, a
	 * human's insert approving a pending request.  The guard's own calls
	 * as a table's owner (a human's write purging the soft-deleted rows
	 * that hold its keys) are not such code.
	 */
	if (ag_owner_running())
		return;
	for (i = nrunning - 1; i >= 0; i--)
	{
		const char *what = running_stored_code(i);

		/* on record under the session's role: whose statement reached the code */
		if (what != NULL)
			ag_refuse_humans_only(GetSessionUserId(),
								  psprintf("%s cannot be called from code that another statement evaluates",
										   fn),
								  psprintf("It was called while %s runs, and a human-only function acts only on a human's own call, not from stored code that a statement reaches.",
										   what),
								  psprintf("Call %s yourself, in a SELECT of its own that writes nothing, or from DO or a procedure.",
										   fn));
	}
}

/*
 * The privilege tests whose role is the current user (no role argument):
 * has_*_privilege(object, privilege), has_column_privilege(table, column,
 * privilege), pg_has_role(role, mode), row_security_active(table).  In an
 * agent's stored expression they answer for the human who runs it; the
 * system views that filter with them show the human's share (pg_stats,
 * pg_stats_ext, pg_stats_ext_exprs: the most common values and histograms
 * of tables the agent may not read; information_schema; pg_user_mappings'
 * options).  The forms naming a role answer the same for anyone.
 */
static bool
tests_callers_privileges(Oid funcid)
{
	switch (funcid)
	{
		case F_HAS_TABLE_PRIVILEGE_TEXT_TEXT:
		case F_HAS_TABLE_PRIVILEGE_OID_TEXT:
		case F_HAS_SEQUENCE_PRIVILEGE_TEXT_TEXT:
		case F_HAS_SEQUENCE_PRIVILEGE_OID_TEXT:
		case F_HAS_DATABASE_PRIVILEGE_TEXT_TEXT:
		case F_HAS_DATABASE_PRIVILEGE_OID_TEXT:
		case F_HAS_FUNCTION_PRIVILEGE_TEXT_TEXT:
		case F_HAS_FUNCTION_PRIVILEGE_OID_TEXT:
		case F_HAS_LANGUAGE_PRIVILEGE_TEXT_TEXT:
		case F_HAS_LANGUAGE_PRIVILEGE_OID_TEXT:
		case F_HAS_SCHEMA_PRIVILEGE_TEXT_TEXT:
		case F_HAS_SCHEMA_PRIVILEGE_OID_TEXT:
		case F_HAS_TABLESPACE_PRIVILEGE_TEXT_TEXT:
		case F_HAS_TABLESPACE_PRIVILEGE_OID_TEXT:
		case F_HAS_FOREIGN_DATA_WRAPPER_PRIVILEGE_TEXT_TEXT:
		case F_HAS_FOREIGN_DATA_WRAPPER_PRIVILEGE_OID_TEXT:
		case F_HAS_SERVER_PRIVILEGE_TEXT_TEXT:
		case F_HAS_SERVER_PRIVILEGE_OID_TEXT:
		case F_HAS_TYPE_PRIVILEGE_TEXT_TEXT:
		case F_HAS_TYPE_PRIVILEGE_OID_TEXT:
		case F_HAS_PARAMETER_PRIVILEGE_TEXT_TEXT:
		case F_HAS_COLUMN_PRIVILEGE_TEXT_TEXT_TEXT:
		case F_HAS_COLUMN_PRIVILEGE_TEXT_INT2_TEXT:
		case F_HAS_COLUMN_PRIVILEGE_OID_TEXT_TEXT:
		case F_HAS_COLUMN_PRIVILEGE_OID_INT2_TEXT:
		case F_HAS_ANY_COLUMN_PRIVILEGE_TEXT_TEXT:
		case F_HAS_ANY_COLUMN_PRIVILEGE_OID_TEXT:
		case F_PG_HAS_ROLE_NAME_TEXT:
		case F_PG_HAS_ROLE_OID_TEXT:
		case F_ROW_SECURITY_ACTIVE_OID:
		case F_ROW_SECURITY_ACTIVE_TEXT:
#ifdef AG_HAVE_LARGEOBJECT_PRIVILEGE
		case F_HAS_LARGEOBJECT_PRIVILEGE_OID_TEXT:
#endif
			return true;
		default:
			return false;
	}
}

/*
 * current_setting(name [, missing_ok]) reads a setting with its caller's
 * rights: one only superusers and members of pg_read_all_settings may read
 * (data_directory, hba_file, config_file, primary_conninfo with its
 * password, ssl_passphrase_command, ...) for such a caller.  Agent code
 * reads ordinary settings in defaults and policies
 * (current_setting('app.tenant')), so only a call that names a
 * superuser-only setting, or names its setting at run time (not a
 * constant), counts as acting with its caller's rights (red team 15, F8).
 * The name is known where the expression is: when an agent stores it
 * (agentstored.c), when a human's statement that runs an agent's code is
 * planned (judge_planned_calls), in an agent's domain or parameter default
 * (stored_code_walker); not when the executor sets the call up.
 */
static bool
reads_hidden_setting(Node *node)
{
	FuncExpr   *f;
	Node	   *arg;
	char	   *name;

	if (node == NULL || !IsA(node, FuncExpr))
		return false;
	f = (FuncExpr *) node;
	if ((f->funcid != F_CURRENT_SETTING_TEXT && f->funcid != F_CURRENT_SETTING_TEXT_BOOL) ||
		f->args == NIL)
		return false;
	arg = linitial(f->args);
	while (arg != NULL && IsA(arg, RelabelType))
		arg = (Node *) ((RelabelType *) arg)->arg;
	if (arg == NULL || !IsA(arg, Const))
		return true;
	if (((Const *) arg)->constisnull)
		return false;
	name = TextDatumGetCString(((Const *) arg)->constvalue);
	return (GetConfigOptionFlags(name, true) & GUC_SUPERUSER_ONLY) != 0;
}

static bool
hidden_setting_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (reads_hidden_setting(node))
	{
		*(Oid *) context = ((FuncExpr *) node)->funcid;
		return true;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, hidden_setting_walker, context, 0);
	return expression_tree_walker(node, hidden_setting_walker, context);
}

/*
 * For agentstored.c: the current_setting() an expression an agent stores
 * calls for a superuser-only setting, or a setting named at run time, or
 * InvalidOid.
 */
Oid
ag_agentcode_hidden_setting_call(Node *expr)
{
	Oid			fn = InvalidOid;

	(void) hidden_setting_walker(expr, &fn);
	return fn;
}

/*
 * Functions of PostgreSQL's extensions that run SQL, or act for the
 * session, with their caller's rights, and that PUBLIC may execute:
 * tablefunc's crosstab and connectby run the query text they are given
 * (tablefunc is trusted: an agent with CREATE on the database installs it
 * itself; red team 9, finding 3); dblink's functions connect and run SQL
 * (a superuser's without a password) and use the session's connections;
 * xml2's xpath_table runs a query; postgres_fdw's connection functions act
 * on the session's connections; lo's lo_manage unlinks large objects and
 * tcn's trigger notifies as the session; pgrowlocks reads a table;
 * pg_stat_statements shows other roles' statements to a superuser.  Their
 * OIDs are assigned when the extension is created: C functions not built
 * in, matched by name.
 */
/*
 * C functions of PostgreSQL's trusted extensions that change a setting of
 * the session that calls them, outside SET and set_config (red team 18a,
 * finding 5): pg_trgm's set_limit sets pg_trgm.similarity_threshold, isn's
 * isn_weak sets isn.weak, for the rest of the session.  Matched by their C
 * symbol: an agent cannot create a C function.
 */
static bool
extension_changes_settings(Oid funcid)
{
	static const char *const symbols[] = {"set_limit", "accept_weak_input"};
	HeapTuple	tup;
	bool		found = false;
	int			i;

	if (funcid < FirstNormalObjectId)
		return false;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tup))
		return false;
	if (((Form_pg_proc) GETSTRUCT(tup))->prolang == ClanguageId)
	{
		bool		isnull;
		Datum		d = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_prosrc, &isnull);
		char	   *src = isnull ? NULL : TextDatumGetCString(d);

		for (i = 0; src != NULL && !found && i < (int) lengthof(symbols); i++)
			found = strcmp(src, symbols[i]) == 0;
	}
	ReleaseSysCache(tup);
	return found;
}

/* Does the function change the settings of the session that calls it? */
static bool
changes_session_settings(Oid funcid)
{
	return funcid == F_SET_CONFIG || extension_changes_settings(funcid);
}

/*
 * An extension's C function by name: one of names[], or (prefix) a name
 * that begins with it.
 */
static bool
extension_c_function_named(Oid funcid, const char *const *names, int n, const char *prefix)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	bool		found = false;
	int			i;

	if (funcid < FirstNormalObjectId)
		return false;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tup))
		return false;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->prolang == ClanguageId)
	{
		const char *name = NameStr(proc->proname);

		found = prefix != NULL && strncmp(name, prefix, strlen(prefix)) == 0;
		for (i = 0; !found && i < n; i++)
			found = strcmp(name, names[i]) == 0;
	}
	ReleaseSysCache(tup);
	return found;
}

/*
 * Functions that run an SQL string, or a relation's query, with their
 * caller's rights: the XML exports, ts_stat, ts_rewrite(tsquery, text),
 * and extensions' (tablefunc's crosstab and connectby, xml2's xpath_table,
 * dblink's, which run it in another session).  Whatever the string calls,
 * no expression walk sees it.  Part of acts_with_callers_rights(); alone,
 * the calls a tagged shared role may not store (red team 34, F8).  The
 * core's other callers of SPI (read from the PostgreSQL 15 and 18
 * binaries) run fixed catalog queries (pg_get_ruledef, pg_get_viewdef,
 * pg_get_triggerdef), foreign keys' checks or REFRESH MATERIALIZED VIEW.
 */
bool
ag_agentcode_runs_callers_sql(Oid funcid)
{
	static const char *const names[] = {
		"crosstab", "crosstab2", "crosstab3", "crosstab4", "connectby", "xpath_table"
	};

	switch (funcid)
	{
		case F_QUERY_TO_XML:
		case F_QUERY_TO_XMLSCHEMA:
		case F_QUERY_TO_XML_AND_XMLSCHEMA:
		case F_CURSOR_TO_XML:
		case F_CURSOR_TO_XMLSCHEMA:
		case F_TABLE_TO_XML:
		case F_TABLE_TO_XMLSCHEMA:
		case F_TABLE_TO_XML_AND_XMLSCHEMA:
		case F_SCHEMA_TO_XML:
		case F_SCHEMA_TO_XMLSCHEMA:
		case F_SCHEMA_TO_XML_AND_XMLSCHEMA:
		case F_DATABASE_TO_XML:
		case F_DATABASE_TO_XMLSCHEMA:
		case F_DATABASE_TO_XML_AND_XMLSCHEMA:
		case F_TS_STAT_TEXT:
		case F_TS_STAT_TEXT_TEXT:
		case F_TS_REWRITE_TSQUERY_TEXT:
			return true;
		default:
			return extension_c_function_named(funcid, names, lengthof(names), "dblink");
	}
}

static bool
extension_acts_as_caller(Oid funcid)
{
	static const char *const names[] = {
		"lo_manage", "triggered_change_notification", "pgrowlocks",
		"postgres_fdw_disconnect", "postgres_fdw_disconnect_all",
		"postgres_fdw_get_connections", "pg_stat_statements"
	};

	return extension_c_function_named(funcid, names, lengthof(names), NULL) ||
		extension_changes_settings(funcid);
}

/*
 * Functions that act with the caller's rights beyond what EXECUTE grants:
 * they check the caller at run time (settings, signals, replication slots,
 * large objects, sequences), run SQL or read tables as the caller
 * (ag_agentcode_runs_callers_sql), write around the tables (WAL
 * messages), or test the caller's privileges (tests_callers_privileges).
 */
static bool
acts_with_callers_rights(Oid funcid)
{
	/* they test the caller's privileges, or run SQL or read tables as it */
	if (tests_callers_privileges(funcid) || ag_agentcode_runs_callers_sql(funcid))
		return true;
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
		case F_PG_COPY_PHYSICAL_REPLICATION_SLOT_NAME_NAME_BOOL:
		case F_PG_COPY_PHYSICAL_REPLICATION_SLOT_NAME_NAME:
		case F_PG_COPY_LOGICAL_REPLICATION_SLOT_NAME_NAME_BOOL_NAME:
		case F_PG_COPY_LOGICAL_REPLICATION_SLOT_NAME_NAME_BOOL:
		case F_PG_COPY_LOGICAL_REPLICATION_SLOT_NAME_NAME:
			/* they read sequences with their caller's rights */
		case F_CURRVAL:
		case F_LASTVAL:
		case F_PG_SEQUENCE_LAST_VALUE:
			/* they read the caller's large objects, or act for its session */
		case F_LO_GET_OID:
		case F_LO_GET_OID_INT8_INT4:
		case F_LO_OPEN:
		case F_LOREAD:
		case F_PG_NOTIFY:
			/*
			 * they show what only their caller may see (red team 15, F8):
			 * every setting to a superuser (pg_settings), the statements
			 * of other sessions (pg_stat_activity, pg_stat_get_backend_*,
			 * the replication views' connection strings), the session's
			 * own prepared statements and cursors; an agent's default or
			 * rule would keep them in the agent's table
			 */
		case F_PG_SHOW_ALL_SETTINGS:
		case F_PG_STAT_GET_ACTIVITY:
		case F_PG_STAT_GET_BACKEND_ACTIVITY:
		case F_PG_STAT_GET_BACKEND_WAIT_EVENT:
		case F_PG_STAT_GET_BACKEND_WAIT_EVENT_TYPE:
		case F_PG_STAT_GET_BACKEND_ACTIVITY_START:
		case F_PG_STAT_GET_BACKEND_XACT_START:
		case F_PG_STAT_GET_BACKEND_START:
		case F_PG_STAT_GET_BACKEND_CLIENT_ADDR:
		case F_PG_STAT_GET_BACKEND_CLIENT_PORT:
		case F_PG_STAT_GET_PROGRESS_INFO:
		case F_PG_STAT_GET_WAL_SENDERS:
		case F_PG_STAT_GET_WAL_RECEIVER:
		case F_PG_PREPARED_STATEMENT:
		case F_PG_CURSOR:
			/*
			 * the whole text the client sent, which in a human's session
			 * may hold other statements than the one that runs the agent's
			 * code (a password set in the same query string)
			 */
		case F_CURRENT_QUERY:
			return true;
		default:
			{
				AgWriterKind k = ag_writer_kind(funcid);

				return k == AG_FN_LARGE_OBJECT || k == AG_FN_WAL_MESSAGE ||
					(k == AG_FN_SEQUENCE && funcid != F_NEXTVAL) ||
					ag_writers_session_lock(funcid) ||
					ag_writers_lo_descriptor(funcid) ||
					extension_acts_as_caller(funcid);
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
	CALL_CALLERS_RIGHTS,		/* see acts_with_callers_rights() */
	CALL_DEFINER				/* see ag_agentcode_definer_of_other() */
} CallKind;

typedef struct CallKindEntry
{
	Oid			fn;
	CallKind	kind;
} CallKindEntry;

/*
 * The guard's functions that only say who the session is, the tests its
 * soft-delete policies and foreign-key checks make (softref.c: a human's
 * check of a table an agent role owns calls it too), and _row_image()
 * (to_jsonb() of a row, which the rollback's statements call as each
 * table's owner, also on an agent's table): free to call from anywhere.
 */
static bool
guard_identity_function(Oid funcid)
{
	static const char *const names[] = {
		"in_agent_session", "current_agent", "current_run", "_replication_session",
		"_idempotency_ttl", "soft_deleted_stamp", "_row_image", "_soft_reference"
	};
	char	   *name = get_func_name(funcid);
	bool		found = false;
	int			i;

	for (i = 0; name != NULL && i < (int) lengthof(names); i++)
		if (strcmp(name, names[i]) == 0)
			found = true;
	if (name)
		pfree(name);
	return found;
}

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
	/*
	 * The guard's own functions act with their caller's rights (they read
	 * and write the log, run queries as table owners, preview statements),
	 * but for those that only tell who the session is (red team 7).
	 */
	if (get_func_namespace(funcid) == ag_guard_namespace())
	{
		char	   *name = get_func_name(funcid);

		/*
		 * _nextval() is nextval() as the planner routes it (hooks.c): its
		 * sequence and rights are judged as nextval()'s (agentgate.c)
		 */
		kind = guard_identity_function(funcid) ||
			(name != NULL && strcmp(name, "_nextval") == 0) ? CALL_FREE : CALL_CALLERS_RIGHTS;
	}
	else
		kind = acts_with_callers_rights(funcid) ? CALL_CALLERS_RIGHTS :
			ag_agentcode_definer_of_other(funcid) ? CALL_DEFINER :
			public_may_execute(funcid) ? CALL_FREE : CALL_GRANTED;
	if (call_kind_cache == NULL)
		call_kind_cache = make_cache("agent_guard call kinds", sizeof(CallKindEntry));
	e = hash_search(call_kind_cache, &funcid, HASH_ENTER, &found);
	e->kind = kind;
	return kind;
}

/*
 * Code an agent stored that runs in a human's statement outside any call
 * of the agent's functions, so with the human's rights: the defaults of
 * its function's parameters and the CHECK constraints of its domains used
 * as their types (evaluated before the call, in the human's expression),
 * a domain of its that the statement coerces to, an operator or aggregate
 * of its whose function is not its own.  A function the agent's code
 * calls there that the agent may not execute, or that acts with its
 * caller's rights (call_kind), is refused; the agent's own functions run
 * as the agent anyway.
 */
/*
 * A function that runs SQL with its caller's rights and is not an agent's:
 * a SECURITY INVOKER function in SQL or a procedural language, not the
 * system's, not the guard's (red team 7, finding 8; red team 8).  Called
 * from an agent's stored code, it would run a human's queries with the
 * human's rights and hand what it reads to the agent's code.  C functions
 * are an extension's, judged by the lists above.
 */
bool
ag_agentcode_invoker_of_other(Oid fn)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	bool		found;

	if (fn < FirstNormalObjectId)
		return false;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tup))
		return false;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	found = !proc->prosecdef && proc->prolang != ClanguageId &&
		proc->prolang != INTERNALlanguageId &&
		proc->pronamespace != ag_guard_namespace() &&
		!ag_agentcode_role_is_agent(proc->proowner);
	ReleaseSysCache(tup);
	return found;
}

/*
 * A SECURITY DEFINER function of a role that is not an agent's, not the
 * system's, not the guard's (red team 14, finding 1): it runs as its
 * owner, whoever calls it.  Called from an agent's stored code in a
 * human's statement (a view, a rule's SELECT, a default, a policy, a
 * CHECK, a trigger WHEN, an operator), its writes would pass for its
 * owner's session's, unstamped, unlogged and ungated (a protected
 * table's rows deleted hard during a freeze), though the agent chose the
 * call; in the agent's own session the same call is the agent's, captured
 * and gated.  EXECUTE granted to the agent, or to PUBLIC, does not change
 * that.  An extension's such function counts too (C or not); an agent's
 * own runs as the agent (ag_agentcode_fmgr), wherever it is called.
 */
bool
ag_agentcode_definer_of_other(Oid fn)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	bool		found;

	if (fn < FirstNormalObjectId)
		return false;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tup))
		return false;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	found = proc->prosecdef &&
		proc->pronamespace != ag_guard_namespace() &&
		!ag_agentcode_role_is_agent(proc->proowner);
	ReleaseSysCache(tup);
	return found;
}

static bool
unsafe_for(Oid fn, Oid owner)
{
	CallKind	kind;

	/*
	 * The guard's own functions judge their callers by the agent code on
	 * the stack and the statements running; code evaluated in the human's
	 * expression is neither, so none of them runs there.
	 */
	if (get_func_namespace(fn) == ag_guard_namespace())
		return true;
	kind = call_kind(fn);

	return kind == CALL_CALLERS_RIGHTS || kind == CALL_DEFINER ||
		ag_agentcode_invoker_of_other(fn) ||
		(kind == CALL_GRANTED &&
		 AG_PROC_ACLCHECK(fn, owner, ACL_EXECUTE) != ACLCHECK_OK);
}

typedef struct StoredCode
{
	Oid			owner;			/* the agent role whose code it is */
	Oid			found;			/* the first unsafe function */
	Oid			domain;			/* the agent's domain whose CHECK calls it */
	int			depth;			/* domains within domains */
} StoredCode;

static bool stored_code_walker(Node *node, StoredCode *sc);

static bool
stored_call(Oid fn, void *arg)
{
	StoredCode *sc = (StoredCode *) arg;

	/* not function_entry(): that may be judging the caller's defaults */
	if (fn >= FirstNormalObjectId && ag_agentcode_role_is_agent(ag_agentcode_function_owner(fn)))
		return false;
	if (!unsafe_for(fn, sc->owner))
		return false;
	sc->found = fn;
	return true;
}

/*
 * The first unsafe function the CHECK constraints of a domain of an agent
 * call (the domains it is based on included, each with its owner's
 * rights), or InvalidOid; *domain is set to the domain whose constraint
 * calls it.
 */
static Oid
domain_unsafe_call(Oid typid, int depth, Oid *domain)
{
	while (OidIsValid(typid) && depth < 16)
	{
		HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
		Form_pg_type typ;
		Oid			owner;
		Oid			base;

		if (!HeapTupleIsValid(tup))
			return InvalidOid;
		typ = (Form_pg_type) GETSTRUCT(tup);
		if (typ->typtype != TYPTYPE_DOMAIN)
		{
			ReleaseSysCache(tup);
			return InvalidOid;
		}
		owner = typ->typowner;
		base = typ->typbasetype;
		ReleaseSysCache(tup);

		if (typid >= FirstNormalObjectId && ag_agentcode_role_is_agent(owner))
		{
			Relation	con = table_open(ConstraintRelationId, AccessShareLock);
			ScanKeyData key;
			SysScanDesc scan;
			HeapTuple	ctup;
			StoredCode	sc = {owner, InvalidOid, InvalidOid, depth + 1};

			ScanKeyInit(&key, Anum_pg_constraint_contypid, BTEqualStrategyNumber,
						F_OIDEQ, ObjectIdGetDatum(typid));
			scan = systable_beginscan(con, ConstraintTypidIndexId, true, NULL, 1, &key);
			while (!OidIsValid(sc.found) && HeapTupleIsValid(ctup = systable_getnext(scan)))
			{
				bool		isnull;
				Datum		bin;

				if (((Form_pg_constraint) GETSTRUCT(ctup))->contype != CONSTRAINT_CHECK)
					continue;
				bin = heap_getattr(ctup, Anum_pg_constraint_conbin,
								   RelationGetDescr(con), &isnull);
				if (!isnull)
					(void) stored_code_walker(stringToNode(TextDatumGetCString(bin)), &sc);
			}
			systable_endscan(scan);
			table_close(con, AccessShareLock);
			if (OidIsValid(sc.found))
			{
				*domain = OidIsValid(sc.domain) ? sc.domain : typid;
				return sc.found;
			}
		}
		typid = base;
		depth++;
	}
	return InvalidOid;
}

/*
 * The functions of an operator's negator and commutator, which the planner
 * may put in its place (red team 7): unsafe ones are found as if called.
 */
static bool
operator_alternates_unsafe(Oid opno, StoredCode *sc)
{
	HeapTuple	tup;
	Oid			alt[2];
	int			i;

	if (opno < FirstNormalObjectId)
		return false;
	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	if (!HeapTupleIsValid(tup))
		return false;
	alt[0] = ((Form_pg_operator) GETSTRUCT(tup))->oprnegate;
	alt[1] = ((Form_pg_operator) GETSTRUCT(tup))->oprcom;
	ReleaseSysCache(tup);
	for (i = 0; i < 2; i++)
	{
		Oid			code = OidIsValid(alt[i]) ? get_opcode(alt[i]) : InvalidOid;

		if (OidIsValid(code) && stored_call(code, sc))
			return true;
	}
	return false;
}

/*
 * nextval() checks USAGE or UPDATE of its sequence with its caller's
 * rights: in an agent's stored code it would advance (or exhaust) a human's
 * sequence the agent may not touch.  Allowed only on a sequence named as a
 * constant that the agent role may use or update (its own serial); the
 * sequence, or InvalidOid when the argument is not a constant, is kept for
 * the message (unsafe_sequence).
 */
static Oid	unsafe_sequence = InvalidOid;

bool
ag_agentcode_nextval_unsafe(FuncExpr *f, Oid owner, Oid *seq)
{
	Node	   *arg = f->args != NIL ? linitial(f->args) : NULL;

	*seq = InvalidOid;
	while (arg != NULL && IsA(arg, RelabelType))
		arg = (Node *) ((RelabelType *) arg)->arg;
	if (arg == NULL || !IsA(arg, Const) || ((Const *) arg)->constisnull)
		return true;
	*seq = DatumGetObjectId(((Const *) arg)->constvalue);
	if (get_rel_relkind(*seq) != RELKIND_SEQUENCE)
		return true;
	return pg_class_aclcheck(*seq, owner, ACL_USAGE | ACL_UPDATE) != ACLCHECK_OK;
}

static bool
stored_code_walker(Node *node, StoredCode *sc)
{
	Oid			seq;

	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr) && ((FuncExpr *) node)->funcid == F_NEXTVAL &&
		ag_agentcode_nextval_unsafe((FuncExpr *) node, sc->owner, &seq))
	{
		sc->found = F_NEXTVAL;
		unsafe_sequence = seq;
		return true;
	}
	if (check_functions_in_node(node, stored_call, sc))
		return true;
	if (reads_hidden_setting(node))
	{
		sc->found = ((FuncExpr *) node)->funcid;
		return true;
	}
	if ((IsA(node, OpExpr) || IsA(node, DistinctExpr) || IsA(node, NullIfExpr)) &&
		operator_alternates_unsafe(((OpExpr *) node)->opno, sc))
		return true;
	if (IsA(node, ScalarArrayOpExpr) &&
		operator_alternates_unsafe(((ScalarArrayOpExpr *) node)->opno, sc))
		return true;
	if (IsA(node, CoerceToDomain))
	{
		Oid			d = InvalidOid;
		Oid			fn = domain_unsafe_call(((CoerceToDomain *) node)->resulttype,
										sc->depth, &d);

		if (OidIsValid(fn))
		{
			sc->found = fn;
			sc->domain = d;
			return true;
		}
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, stored_code_walker, sc, 0);
	return expression_tree_walker(node, stored_code_walker, sc);
}

/*
 * What an agent's function would run with a human's rights before its
 * call: its parameter defaults (whether or not a call uses them: they are
 * judged when the call is set up, before its arguments are known), and
 * the CHECKs of its parameters' domains.  *domain is set when a domain's
 * constraint calls it.
 */
static Oid
function_unsafe_call(Oid fn, Oid owner, Oid *domain)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	StoredCode	sc = {owner, InvalidOid, InvalidOid, 0};
	Form_pg_proc proc;
	bool		isnull;
	Datum		d;
	int			i;

	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	d = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_proargdefaults, &isnull);
	if (!isnull)
		(void) stored_code_walker(stringToNode(TextDatumGetCString(d)), &sc);
	for (i = 0; !OidIsValid(sc.found) && i < proc->pronargs; i++)
		sc.found = domain_unsafe_call(proc->proargtypes.values[i], 0, domain);
	ReleaseSysCache(tup);
	if (OidIsValid(sc.found) && OidIsValid(sc.domain))
		*domain = sc.domain;
	return sc.found;
}

static void
refuse_stored_call(Oid fn, Oid owner, const char *object, const char *hint)
{
	bool		guard = get_func_namespace(fn) == ag_guard_namespace();
	bool		definer = !guard && call_kind(fn) == CALL_DEFINER;
	bool		callers = !guard && !definer && (call_kind(fn) == CALL_CALLERS_RIGHTS ||
												 ag_agentcode_invoker_of_other(fn) ||
												 fn == F_CURRENT_SETTING_TEXT ||
												 fn == F_CURRENT_SETTING_TEXT_BOOL);

	if (fn == F_NEXTVAL)
		ag_refuse_humans_only(owner,
							  psprintf("function %s cannot run as part of %s, code of agent role \"%s\"",
									   format_procedure(fn), object, ag_agentcode_role_name(owner)),
							  psprintf("Role \"%s\" is or serves an agent; its code would run here with the rights of role \"%s\", and %s %s.",
									   ag_agentcode_role_name(owner), ag_agentcode_role_name(GetUserId()),
									   format_procedure(fn), ag_agentcode_unsafe_reason(fn, owner)),
							  hint);
	ag_refuse_humans_only(owner,
						  psprintf("function %s cannot run as part of %s, code of agent role \"%s\"",
								   format_procedure(fn), object, ag_agentcode_role_name(owner)),
						  guard ?
						  psprintf("Role \"%s\" is or serves an agent; its code would call the guard's %s here with the rights of role \"%s\".",
								   ag_agentcode_role_name(owner), format_procedure(fn), ag_agentcode_role_name(GetUserId())) :
						  definer ?
						  psprintf("Role \"%s\" is or serves an agent; %s is a SECURITY DEFINER function of role \"%s\", and called from the agent's code here its writes would pass for those of role \"%s\", unstamped and unlogged.",
								   ag_agentcode_role_name(owner), format_procedure(fn),
								   ag_agentcode_role_name(ag_agentcode_function_owner(fn)),
								   ag_agentcode_role_name(GetSessionUserId())) :
						  callers ?
						  psprintf("Role \"%s\" is or serves an agent; its code would run here with the rights of role \"%s\", and %s acts with its caller's rights.",
								   ag_agentcode_role_name(owner), ag_agentcode_role_name(GetUserId()), format_procedure(fn)) :
						  psprintf("Role \"%s\" is or serves an agent and may not execute %s; its code would run here with the rights of role \"%s\".",
								   ag_agentcode_role_name(owner), format_procedure(fn), ag_agentcode_role_name(GetUserId())),
						  hint);
}

/*
 * Refuse (YG002, on record under the agent) a call of funcid made by the
 * innermost agent function running in a human's session; why continues
 * "Function f runs in the session of role r, ...".
 */
static void
refuse_call_from_agent_function(Oid funcid, const char *why, const char *hint)
{
	Oid			agent_fn = innermost_agent_function();
	Oid			owner = ag_agentcode_function_owner(agent_fn);

	ag_refuse_humans_only(owner,
						  psprintf("function %s cannot be called from code of agent role \"%s\"",
								   format_procedure(funcid), ag_agentcode_role_name(owner)),
						  psprintf("Function %s runs in the session of role \"%s\"; %s.",
								   format_procedure(agent_fn), ag_agentcode_role_name(GetSessionUserId()), why),
						  hint);
}

/*
 * For agentstored.c: the first function an agent's stored expression calls
 * that would run with more than the agent's rights (*domain: the domain
 * whose CHECK calls it).
 */
Oid
ag_agentcode_unsafe_call(Node *expr, Oid owner, Oid *domain)
{
	StoredCode	sc = {owner, InvalidOid, InvalidOid, 0};

	(void) stored_code_walker(expr, &sc);
	*domain = sc.domain;
	return sc.found;
}

/* Why the function is unsafe for the agent's stored code, as a clause. */
const char *
ag_agentcode_unsafe_reason(Oid fn, Oid owner)
{
	if (get_func_namespace(fn) == ag_guard_namespace())
		return "is one of the guard's functions";
	if (fn == F_NEXTVAL)
		return OidIsValid(unsafe_sequence) ?
			psprintf("advances a sequence with its caller's rights, and role \"%s\" may neither use nor update sequence %s",
					 ag_agentcode_role_name(owner), ag_qualified_relname(unsafe_sequence)) :
			"advances a sequence with its caller's rights, and its sequence is not named as a constant";
	if (fn == F_CURRENT_SETTING_TEXT || fn == F_CURRENT_SETTING_TEXT_BOOL)
		return "reads, with its caller's rights, a setting only superusers may read, or one named at run time";
	if (call_kind(fn) == CALL_CALLERS_RIGHTS)
		return "acts with its caller's rights";
	if (call_kind(fn) == CALL_DEFINER)
		return psprintf("is a SECURITY DEFINER function of role \"%s\", which runs with that role's rights, not the agent's",
						ag_agentcode_role_name(ag_agentcode_function_owner(fn)));
	if (ag_agentcode_invoker_of_other(fn))
		return psprintf("is a SECURITY INVOKER function of role \"%s\", which runs its statements with its caller's rights",
						ag_agentcode_role_name(ag_agentcode_function_owner(fn)));
	return psprintf("may not be executed by role \"%s\"", ag_agentcode_role_name(owner));
}

/*
 * A human's statement uses an agent's operator, or one the planner may put
 * in its place (its negator and commutator).
 */
static void
judge_operator_at(Oid opno, int depth)
{
	HeapTuple	tup;
	Oid			owner;
	Oid			code;
	Oid			negator;
	Oid			commutator;

	if (opno < FirstNormalObjectId)
		return;
	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	if (!HeapTupleIsValid(tup))
		return;
	owner = ((Form_pg_operator) GETSTRUCT(tup))->oprowner;
	code = ((Form_pg_operator) GETSTRUCT(tup))->oprcode;
	negator = ((Form_pg_operator) GETSTRUCT(tup))->oprnegate;
	commutator = ((Form_pg_operator) GETSTRUCT(tup))->oprcom;
	ReleaseSysCache(tup);
	/* the planner may put either in the operator's place (red team 7) */
	if (depth < 2)
	{
		judge_operator_at(negator, depth + 1);
		judge_operator_at(commutator, depth + 1);
	}
	if (!OidIsValid(code) || !ag_agentcode_role_is_agent(owner) ||
		(code >= FirstNormalObjectId && ag_agentcode_role_is_agent(ag_agentcode_function_owner(code))))
		return;
	if (unsafe_for(code, owner))
		refuse_stored_call(code, owner, psprintf("operator %s", format_operator(opno)),
						   psprintf("Call the function yourself, not through operator %s.",
									format_operator(opno)));
}

static void
judge_operator(Oid opno)
{
	judge_operator_at(opno, 0);
}

Oid
ag_agentcode_type_owner(Oid typid)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	Oid			owner = InvalidOid;

	if (HeapTupleIsValid(tup))
	{
		owner = ((Form_pg_type) GETSTRUCT(tup))->typowner;
		ReleaseSysCache(tup);
	}
	return owner;
}

/* A human's statement coerces a value to a domain, maybe an agent's. */
static void
judge_domain(Oid typid)
{
	Oid			domain = InvalidOid;
	Oid			fn;

	if (typid < FirstNormalObjectId)
		return;
	fn = domain_unsafe_call(typid, 0, &domain);
	if (OidIsValid(fn))
		refuse_stored_call(fn, ag_agentcode_type_owner(domain),
						   psprintf("a CHECK constraint of domain %s", format_type_be(domain)),
						   psprintf("Use a type that is not the agent's, or have the constraints of domain %s changed.",
									format_type_be(domain)));
}

static bool
human_query_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, human_query_walker, context, 0);
	if (IsA(node, OpExpr) || IsA(node, DistinctExpr) || IsA(node, NullIfExpr))
		judge_operator(((OpExpr *) node)->opno);
	else if (IsA(node, ScalarArrayOpExpr))
		judge_operator(((ScalarArrayOpExpr *) node)->opno);
	else if (IsA(node, RowCompareExpr))
	{
		ListCell   *lc;

		foreach(lc, ((RowCompareExpr *) node)->opnos)
			judge_operator(lfirst_oid(lc));
	}
	else if (IsA(node, CoerceToDomain))
		judge_domain(((CoerceToDomain *) node)->resulttype);
	return expression_tree_walker(node, human_query_walker, context);
}

/*
 * Object access, a human's statement setting up an aggregate of an agent:
 * its support functions that are not the agent's run with the human's
 * rights (the agent's own run as the agent).
 */
static void
judge_aggregate(Oid aggfnoid)
{
	HeapTuple	tup;
	Form_pg_aggregate agg;
	Oid			owner;
	Oid			support[8];
	size_t		i;

	if (aggfnoid < FirstNormalObjectId ||
		!ag_agentcode_role_is_agent(owner = ag_agentcode_function_owner(aggfnoid)))
		return;
	tup = SearchSysCache1(AGGFNOID, ObjectIdGetDatum(aggfnoid));
	if (!HeapTupleIsValid(tup))
		return;
	agg = (Form_pg_aggregate) GETSTRUCT(tup);
	support[0] = agg->aggtransfn;
	support[1] = agg->aggfinalfn;
	support[2] = agg->aggcombinefn;
	support[3] = agg->aggserialfn;
	support[4] = agg->aggdeserialfn;
	support[5] = agg->aggmtransfn;
	support[6] = agg->aggminvtransfn;
	support[7] = agg->aggmfinalfn;
	ReleaseSysCache(tup);
	for (i = 0; i < lengthof(support); i++)
	{
		Oid			fn = support[i];

		if (!OidIsValid(fn) ||
			(fn >= FirstNormalObjectId && ag_agentcode_role_is_agent(ag_agentcode_function_owner(fn))))
			continue;
		if (unsafe_for(fn, owner))
			refuse_stored_call(fn, owner,
							   psprintf("aggregate %s", format_procedure(aggfnoid)),
							   "Aggregate the values with a function that is not the agent's.");
	}
}

/*
 * A function of the session's own state called from an agent's code in a
 * human's session: a session-level advisory lock or its release would
 * outlast the call; a large-object descriptor is the session's, whoever
 * opened it, so the agent's code would read, write, move or close the
 * human's open large object with the human's access (red team 8, finding
 * 3).  Refused when the call is set up (the function-execute hook sees
 * builtins too: every expression, operator, cast and aggregate support
 * function the executor prepares).
 */
static void
refuse_session_state(Oid funcid, const char *statement)
{
	Oid			agent_fn = innermost_agent_function();
	const char *fn = format_procedure(agent_fn);
	const char *human = ag_agentcode_role_name(GetSessionUserId());

	ag_refuse_humans_only(ag_agentcode_function_owner(agent_fn),
						  statement ?
						  psprintf("%s cannot run in code of agent role \"%s\"",
								   statement, ag_agentcode_role_name(ag_agentcode_function_owner(agent_fn))) :
						  psprintf("function %s cannot be called from code of agent role \"%s\"",
								   format_procedure(funcid), ag_agentcode_role_name(ag_agentcode_function_owner(agent_fn))),
						  ag_writers_session_lock(funcid) ?
						  psprintf("Function %s runs in the session of role \"%s\"; a session-level advisory lock, or its release, would outlast the call.",
								   fn, human) :
						  funcid == F_PG_NOTIFY ?
						  psprintf("Function %s runs in the session of role \"%s\"; a notification would go out as that session's.",
								   fn, human) :
						  psprintf("Function %s runs in the session of role \"%s\"; the large-object descriptors open in it are that session's, whoever opened them.",
								   fn, human),
						  ag_writers_session_lock(funcid) ?
						  "Take a transaction-level advisory lock (pg_advisory_xact_lock) instead." :
						  funcid == F_PG_NOTIFY ?
						  "Send notifications from the agent's own session." :
						  "Read and write large objects by their OID (lo_get, lo_put) in the agent's code.");
}

/*
 * Are the settings agent code changes now rolled back when its call ends?
 * A plain function's are (a GUC nesting level of ours, ag_agentcode_fmgr);
 * a function with SET options, or a procedure, keeps those it sets for the
 * session, as PostgreSQL does, unless a call on the stack rolls back.
 */
static bool
settings_roll_back(void)
{
	int			i;

	for (i = ncalls - 1; i >= 0; i--)
		if (OidIsValid(calls[i].fn) && calls[i].guc_level > 0)
			return true;
	return false;
}

/*
 * The guard's preview switch (agent_guard._preview, agent_guard.preview):
 * in agent code in a human's session it would count the rows the code
 * writes as a preview's, and the human's session does not stop the
 * commit of a released preview as an agent's does (red team 11, finding 5).
 */
static bool
preview_switch(Oid funcid)
{
	char	   *name;
	bool		found;

	if (funcid < FirstNormalObjectId ||
		get_func_namespace(funcid) != ag_guard_namespace())
		return false;
	name = get_func_name(funcid);
	found = name != NULL && (strcmp(name, "_preview") == 0 || strcmp(name, "preview") == 0);
	if (name)
		pfree(name);
	return found;
}

/*
 * Functions that show what the session's client sent: the whole text of
 * its current query string (which in a human's session may set a password
 * in another statement than the one that runs the agent's code), its
 * prepared statements and open cursors with their text, the channels it
 * listens on.  An agent's code reads them with nobody's privilege checked,
 * so the agent's rights are no limit: in a human's session they are
 * refused in any code of an agent, also where no statement involves the
 * agent's relation (a PL/pgSQL assignment, q := current_query(), in its
 * trigger; red team 18a, finding 6).
 */
static bool
reads_session_statements(Oid funcid)
{
	return funcid == F_CURRENT_QUERY || funcid == F_PG_PREPARED_STATEMENT ||
		funcid == F_PG_CURSOR || funcid == F_PG_LISTENING_CHANNELS;
}

static void
refuse_session_statements(Oid funcid)
{
	refuse_call_from_agent_function(funcid,
									psprintf("%s shows what that session's client sent (the whole query string, which may hold other statements than the one that ran the agent's code, the prepared statements and cursors with their text), and the agent's code could keep it",
											 format_procedure(funcid)),
									"Read the statement text in the agent's own session.");
}

/*
 * A setting changed by agent code that keeps it (red team 10, finding 1):
 * a search_path left behind would make the human's later statements run the
 * agent's functions and write the agent's tables.
 */
static void
refuse_setting_change(const char *what)
{
	Oid			agent_fn = innermost_agent_function();

	ag_refuse_humans_only(ag_agentcode_function_owner(agent_fn),
						  psprintf("%s cannot run in function %s of agent role \"%s\" in the session of role \"%s\"",
								   what, format_procedure(agent_fn),
								   ag_agentcode_role_name(ag_agentcode_function_owner(agent_fn)),
								   ag_agentcode_role_name(GetSessionUserId())),
						  "The function is a procedure or has SET options: PostgreSQL would keep the settings it changes for the rest of the session.",
						  "Change settings in a plain function of the agent's, whose changes are rolled back when it returns, or in the agent's own session.");
}

/*
 * SET CONSTRAINTS run by agent code (red team 30, finding 8): it is the
 * transaction's state, not a setting, so no GUC nesting level undoes it
 * when the call returns; the human's deferred constraints would be checked
 * at once (a swap of unique keys failing) or their immediate ones moved to
 * COMMIT, for the rest of the human's transaction.
 */
static void
refuse_constraints_set(void)
{
	Oid			agent_fn = innermost_agent_function();
	const char *agent = ag_agentcode_role_name(ag_agentcode_function_owner(agent_fn));

	ag_refuse_humans_only(ag_agentcode_function_owner(agent_fn),
						  psprintf("SET CONSTRAINTS cannot run in code of agent role \"%s\"", agent),
						  psprintf("Function %s runs in the transaction of role \"%s\"; the constraint modes it sets would stay for the rest of that transaction.",
								   format_procedure(agent_fn),
								   ag_agentcode_role_name(GetSessionUserId())),
						  "Declare the agent's own constraints DEFERRABLE INITIALLY DEFERRED or IMMEDIATE as its code needs them, or set their mode in the agent's own session.");
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
	int			i;

	if (ag_process_is_agent())
		return;
	if (agent_calls > 0)
	{
		if (ag_agent_latched())
			return;
		if (ag_writers_session_lock(funcid) || ag_writers_lo_descriptor(funcid) ||
			funcid == F_PG_NOTIFY)
			refuse_session_state(funcid, NULL);
		if (reads_session_statements(funcid))
			refuse_session_statements(funcid);
		if (changes_session_settings(funcid) && !settings_roll_back())
			refuse_setting_change(format_procedure(funcid));
		if (funcid == F_SETSEED)
			/* red team 23b, finding 2: the seed outlasts the call */
			refuse_call_from_agent_function(funcid,
											"the seed would fix what random() returns to that session for the rest of its life",
											"Seed random() in the agent's own session.");
		if (funcid == F_SETVAL_REGCLASS_INT8 || funcid == F_SETVAL_REGCLASS_INT8_BOOL)
			/* red team 22, finding 4: no approval can be asked here */
			refuse_call_from_agent_function(funcid,
											"setval() acts with that role's rights: it could restart a sequence that numbers a protected table, which in the agent's own session needs a human's approval",
											"Call the function from the agent's own session.");
		if (preview_switch(funcid))
			refuse_call_from_agent_function(funcid,
											"a preview there would count the rows it writes as the preview's, and nothing would stop the commit",
											"Preview statements in the agent's own session.");
		return;
	}
	judge_aggregate(funcid);

	/*
	 * Not in the guard's own queries.  A human's SECURITY DEFINER function
	 * that reads an agent's view, or a foreign key's action run as the
	 * agent's table's owner, still runs the agent's stored code.
	 */
	if (nrunning == 0 || ag_owner_running())
		return;
	if (call_kind(funcid) == CALL_FREE)
		return;
	for (i = nrunning - 1; i >= 0; i--)
	{
		Oid			relid = running_agent_relation(i);

		if (OidIsValid(relid))
			judge_call_in_agent_statement(funcid, relid);
	}
}

/*
 * Where an agent's code runs, for messages: "the session of role \"H\""
 * or, with no session to speak of, "an autovacuum worker" (an index
 * expression of the agent's table that autovacuum's ANALYZE computes).
 */
char *
ag_agentcode_where(void)
{
	if (AG_AM_AUTOVACUUM_WORKER())
		return pstrdup("an autovacuum worker");
	return psprintf("the session of role \"%s\"", ag_agentcode_role_name(GetSessionUserId()));
}

/*
 * The refusal of a write to a protected table by an agent's code: on
 * record under the agent whose function it is (red team 30, finding 10),
 * as its other refusals in a human's session are.
 */
static void
refuse_write(Oid relid, const char *what)
{
	Oid			agent_fn = innermost_agent_function();
	Oid			owner = ag_agentcode_function_owner(agent_fn);

	ag_refuse_code(AG_REFUSAL_GUARD, owner,
				   psprintf("cannot %s protected table %s from code of agent role \"%s\"",
							what, ag_qualified_relname(relid), ag_agentcode_role_name(owner)),
				   psprintf("Function %s, owned by role \"%s\", which is or serves an agent, is running in %s; its writes would pass for that role's, unstamped and unlogged.",
							format_procedure(agent_fn), ag_agentcode_role_name(owner),
							ag_agentcode_where()),
				   "Run the statement so that it runs no code of the agent (change or drop the agent's trigger, rule or function first, or change the agent's rows yourself), or let the agent make the change in its own session, where it is stamped, logged and gated.");
}

/*
 * The same for an inheritance child of a protected table that no protection
 * covers (a human added it after protect(), or unprotected it): its rows
 * show in the protected table, and the agent's own session may not write
 * them either (gate.c, red team 23a, F1).  Temporary tables are scratch.
 */
static void
refuse_child_write(Oid relid, const char *what)
{
	Oid			ancestor;
	Oid			agent_fn;
	Oid			owner;

	if (!OidIsValid(relid) || get_rel_persistence(relid) == RELPERSISTENCE_TEMP ||
		!OidIsValid(ancestor = ag_relation_protected_ancestor(relid)))
		return;
	agent_fn = innermost_agent_function();
	owner = ag_agentcode_function_owner(agent_fn);
	ag_refuse_code(AG_REFUSAL_GUARD, owner,
				   psprintf("cannot %s table %s from code of agent role \"%s\"",
							what, ag_qualified_relname(relid), ag_agentcode_role_name(owner)),
				   psprintf("Table %s is an inheritance child of protected table %s that no protection covers. Function %s, owned by role \"%s\", which is or serves an agent, is running in %s; its writes would pass for that role's, unstamped and unlogged.",
							ag_qualified_relname(relid), ag_qualified_relname(ancestor),
							format_procedure(agent_fn), ag_agentcode_role_name(owner),
							ag_agentcode_where()),
				   psprintf("Protect the child with SELECT agent_guard.protect(%s), or run the statement so that it runs no code of the agent.",
							quote_literal_cstr(ag_qualified_relname(relid))));
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
		else
			refuse_child_write(relid, "write to");
	}
}

/*
 * What an agent's rule or view writes in a human's session (red team 12,
 * finding 5).  A rule's action is the agent's code, and so is a view a
 * human writes through: they choose the rows.  The planner refuses them
 * when they name a protected table (ag_agentcode_plan_query); what they
 * write may still reach one: an inheritance child or a partition of the
 * relation they name, or a protected table whose foreign key cascades
 * (CASCADE, SET NULL, SET DEFAULT) from it, at any depth.  In the human's
 * session those rows would be written as the human's, hard and unlogged.
 * So, while such a plan runs, it counts as the agent's code for writes to
 * protected tables: its own result relations and everything under them,
 * and every statement it sets off (the foreign keys' actions, triggers),
 * are refused when protected, like the writes of an agent's function
 * (refuse_write), and on record (YG004).
 *
 * Identified from the plan, which has no trace of the rewriting left but
 * the permissions: PostgreSQL checks the entries of a rule's action as the
 * rule relation's owner, and the table under a view as the view's owner;
 * a view written through keeps its own entry, which requires the write
 * (also a security_invoker one).  Cached and prepared plans carry them.
 * ---------------------------------------------------------------------
 */

/* Is relation relid role's, with rules other than a view's SELECT rule? */
static bool
rules_of(Oid relid, Oid role)
{
	Relation	rel = RelationIdGetRelation(relid);
	bool		found = false;
	int			i;

	if (rel == NULL)
		return false;
	if (rel->rd_rel->relowner == role && rel->rd_rules != NULL)
		for (i = 0; i < rel->rd_rules->numLocks && !found; i++)
			found = rel->rd_rules->rules[i]->event != CMD_SELECT;
	RelationClose(rel);
	return found;
}

/*
 * The relation whose rule of role's made the plan's write to its rti-th
 * entry, or none (red team 14, finding 3).  A rule's action comes with the
 * rule's own entries appended to the statement it rewrote: its OLD and NEW
 * placeholders (entries of the rule's relation, named old and new), then
 * the relations it names; so the nearest placeholder before the written
 * entry is the rule's, also when rules rewrite rules' actions.
 */
static Oid
rule_relation_of(PlannedStmt *plan, Oid role, int rti)
{
	int			i;

	for (i = Min(rti, list_length(plan->rtable)) - 1; i >= 1; i--)
	{
		RangeTblEntry *rte = rt_fetch(i, plan->rtable);

		if (rte->rtekind == RTE_RELATION && OidIsValid(rte->relid) && rte->alias != NULL &&
			(strcmp(rte->alias->aliasname, "old") == 0 ||
			 strcmp(rte->alias->aliasname, "new") == 0) &&
			rules_of(rte->relid, role))
			return rte->relid;
	}
	return InvalidOid;
}

/* Failing that, the first relation of role's with rules among the plan's entries. */
static Oid
any_rule_relation_of(PlannedStmt *plan, Oid role)
{
	ListCell   *lc;

	foreach(lc, plan->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind == RTE_RELATION && OidIsValid(rte->relid) &&
			rules_of(rte->relid, role))
			return rte->relid;
	}
	return InvalidOid;
}

/* A view of role's the plan writes through, or none. */
static Oid
view_written_of(PlannedStmt *plan, Oid role)
{
	ListCell   *lc;

	foreach(lc, plan->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		Oid			check_as;
		AclMode		perms;

		if (rte->rtekind == RTE_RELATION && rte->relkind == RELKIND_VIEW &&
			ag_plan_rte_perms(plan, rte, &check_as, &perms) &&
			(perms & (ACL_INSERT | ACL_UPDATE | ACL_DELETE)) != 0 &&
			ag_agentcode_relation_owner(rte->relid) == role)
			return rte->relid;
	}
	return InvalidOid;
}

/*
 * The agent role whose rule or view chose what the plan writes, or
 * InvalidOid; *via is the view written through (*view), or the rule's
 * relation when one is found.
 *
 * First the role a result relation's write is checked as: PostgreSQL
 * checks a rule action's entries as the rule relation's owner, and the
 * table under a view as the view's owner, so that is the agent whose rule
 * or view chose the write, also when the human wrote through a second
 * agent's view whose table has the first agent's rule (red team 14,
 * finding 2).  Then, for a security_invoker view (its table checked as the
 * human), the agent's view written through, which keeps its own entry.
 */
static Oid
plan_agent_writer(PlannedStmt *plan, Oid *via, bool *view)
{
	ListCell   *lc;
	Oid			writer = InvalidOid;
	Oid			check_as;
	AclMode		perms;

	*via = InvalidOid;
	*view = false;
	if (plan->commandType == CMD_UTILITY ||
		(plan->commandType == CMD_SELECT && !plan->hasModifyingCTE))
		return InvalidOid;
	foreach(lc, plan->resultRelations)
	{
		int			rti = lfirst_int(lc);
		RangeTblEntry *rte = rt_fetch(rti, plan->rtable);

		if (rte->rtekind != RTE_RELATION ||
			!ag_plan_rte_perms(plan, rte, &check_as, &perms) ||
			!OidIsValid(check_as) || !ag_agentcode_role_is_agent(check_as))
			continue;
		if (OidIsValid(*via = rule_relation_of(plan, check_as, rti)))
			return check_as;
		if (OidIsValid(*via = view_written_of(plan, check_as)))
			*view = true;
		else
			*via = any_rule_relation_of(plan, check_as);
		return check_as;
	}
	foreach(lc, plan->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		Oid			owner;

		if (rte->rtekind != RTE_RELATION || !OidIsValid(rte->relid) ||
			!ag_plan_rte_perms(plan, rte, &check_as, &perms) ||
			(perms & (ACL_INSERT | ACL_UPDATE | ACL_DELETE)) == 0)
			continue;
		/*
		 * a view written through: its own entry, checked as the human (a
		 * rule's action keeps the entry of the view the rule is on)
		 */
		if (rte->relkind == RELKIND_VIEW &&
			ag_agentcode_role_is_agent(owner = ag_agentcode_relation_owner(rte->relid)))
		{
			*via = rte->relid;
			*view = !rules_of(rte->relid, owner);
			return owner;
		}
		/* a rule's action, or the table under a view: checked as their owner */
		if (!OidIsValid(writer) && OidIsValid(check_as) && ag_agentcode_role_is_agent(check_as))
			writer = check_as;
	}
	if (OidIsValid(writer))
		*via = any_rule_relation_of(plan, writer);
	return writer;
}

/* Refuse a write to protected table relid that an agent's rule or view chose. */
static void
refuse_reached(PlannedStmt *plan, Oid relid, Oid named, Oid writer, Oid via, bool view,
			   bool set_off)
{
	List	   *agents = ag_agent_ids_of_role(writer);
	const char *how;
	const char *by;

	if (set_off)
		how = " in what the write set off (a foreign key's cascade, a trigger)";
	else if (relid != named)
		how = psprintf(", a child or partition of relation %s", ag_qualified_relname(named));
	else
		how = "";
	if (view)
		by = psprintf("view %s", ag_qualified_relname(via));
	else if (OidIsValid(via))
		by = psprintf("a rule of relation %s", ag_qualified_relname(via));
	else
		by = "a rule or view";
	ag_refuse_agent_code(AG_REFUSAL_GUARD,
						 agents != NIL ? (const char *) linitial(agents) : ag_agentcode_role_name(writer),
						 ag_command_name(plan->commandType, "statement"),
						 psprintf("It writes protected table %s%s, where its rows would pass for those of role \"%s\", unstamped and unlogged.",
								  ag_qualified_relname(relid), how,
								  ag_agentcode_role_name(GetSessionUserId())),
						 psprintf("The write was chosen by %s, code of agent role \"%s\", in the session of role \"%s\".",
								  by, ag_agentcode_role_name(writer),
								  ag_agentcode_role_name(GetSessionUserId())),
						 debug_query_string ? debug_query_string : "",
						 debug_query_string ? (int) strlen(debug_query_string) : 0);
}

/* A foreign key's trigger that only checks, never writes. */
static bool
foreign_key_check(Oid fn)
{
	switch (fn)
	{
		case F_RI_FKEY_CHECK_INS:
		case F_RI_FKEY_CHECK_UPD:
		case F_RI_FKEY_NOACTION_DEL:
		case F_RI_FKEY_NOACTION_UPD:
		case F_RI_FKEY_RESTRICT_DEL:
		case F_RI_FKEY_RESTRICT_UPD:
			return true;
		default:
			return false;
	}
}

/*
 * A trigger of relation relid that a write of the plan's command may queue
 * to fire after the plan (red team 14, finding 4): a deferrable constraint
 * trigger (INITIALLY DEFERRED, or deferred later with SET CONSTRAINTS)
 * whose function is neither a foreign key's check, nor an agent's (which
 * runs as the agent wherever it runs), nor the guard's.  It fires at
 * commit or at SET CONSTRAINTS ... IMMEDIATE, when no plan the agent chose
 * runs, so what it writes could not be told from the human's own writes.
 * A foreign key's actions are not deferrable in PostgreSQL; one that were
 * is such a trigger too.  Its name, or NULL.
 */
static char *
deferrable_trigger(Oid relid, CmdType cmd)
{
	Relation	rel = RelationIdGetRelation(relid);
	char	   *found = NULL;
	int16		events;
	int			i;

	if (rel == NULL)
		return NULL;
	events = cmd == CMD_DELETE ? TRIGGER_TYPE_DELETE :
		cmd == CMD_INSERT ? (TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE) :
		(TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE);
	for (i = 0; rel->trigdesc != NULL && i < rel->trigdesc->numtriggers && found == NULL; i++)
	{
		Trigger    *t = &rel->trigdesc->triggers[i];

		if (!t->tgdeferrable || t->tgenabled == TRIGGER_DISABLED ||
			(t->tgtype & events) == 0 || foreign_key_check(t->tgfoid))
			continue;
		if (t->tgfoid >= FirstNormalObjectId &&
			(ag_agentcode_role_is_agent(ag_agentcode_function_owner(t->tgfoid)) ||
			 get_func_namespace(t->tgfoid) == ag_guard_namespace()))
			continue;
		found = pstrdup(t->tgname);
	}
	RelationClose(rel);
	return found;
}

/* Refuse a write an agent's rule or view chose that queues a deferred trigger. */
static void
refuse_deferred(PlannedStmt *plan, Oid relid, const char *trigger, Oid writer, Oid via,
				bool view, bool set_off)
{
	List	   *agents = ag_agent_ids_of_role(writer);
	const char *by;

	if (view)
		by = psprintf("view %s", ag_qualified_relname(via));
	else if (OidIsValid(via))
		by = psprintf("a rule of relation %s", ag_qualified_relname(via));
	else
		by = "a rule or view";
	ag_refuse_agent_code(AG_REFUSAL_GUARD,
						 agents != NIL ? (const char *) linitial(agents) : ag_agentcode_role_name(writer),
						 ag_command_name(plan->commandType, "statement"),
						 psprintf("It writes relation %s%s, whose deferrable trigger \"%s\" would fire after the write, at commit or at SET CONSTRAINTS, where what it writes could not be told from the writes of role \"%s\" and could reach a protected table.",
								  ag_qualified_relname(relid),
								  set_off ? " in what the write set off (a foreign key's cascade, a trigger)" : "",
								  trigger, ag_agentcode_role_name(GetSessionUserId())),
						 psprintf("The write was chosen by %s, code of agent role \"%s\", in the session of role \"%s\".",
								  by, ag_agentcode_role_name(writer),
								  ag_agentcode_role_name(GetSessionUserId())),
						 debug_query_string ? debug_query_string : "",
						 debug_query_string ? (int) strlen(debug_query_string) : 0);
}

/*
 * The plan's result relations and all under them: none protected, none
 * with a trigger that would fire after the plan (deferrable_trigger).
 */
static void
judge_reached(PlannedStmt *plan, Oid writer, Oid via, bool view, bool set_off)
{
	ListCell   *lc;

	foreach(lc, plan->resultRelations)
	{
		Oid			named = rt_fetch(lfirst_int(lc), plan->rtable)->relid;
		ListCell   *lc2;

		if (ag_relation_protected(named))
			refuse_reached(plan, named, named, writer, via, view, set_off);
		foreach(lc2, find_all_inheritors(named, NoLock, NULL))
		{
			Oid			relid = lfirst_oid(lc2);
			char	   *trigger;

			if (relid != named && ag_relation_protected(relid))
				refuse_reached(plan, relid, named, writer, via, view, set_off);
			if ((trigger = deferrable_trigger(relid, plan->commandType)) != NULL)
				refuse_deferred(plan, relid, trigger, writer, via, view, set_off);
		}
	}
}

/*
 * ExecutorStart, a session that is not an agent's: a plan an agent's rule
 * or view chose the writes of, or one started while such a plan runs (its
 * foreign keys' actions, its triggers' statements), writes no protected
 * table.
 */
void
ag_agentcode_reach_start(PlannedStmt *plan)
{
	const Oid  *roles;
	uint64		generation;
	Oid			writer;
	Oid			via;
	bool		view;
	int			i;

	if (IsParallelWorker() || IsBinaryUpgrade || ag_process_is_agent() || ag_judging() ||
		ag_owner_running() || plan->commandType == CMD_UTILITY ||
		(plan->commandType == CMD_SELECT && !plan->hasModifyingCTE) ||
		ag_agent_roles(&roles, &generation) <= 0)
		return;
	writer = plan_agent_writer(plan, &via, &view);
	if (OidIsValid(writer))
		judge_reached(plan, writer, via, view, false);
	for (i = nrunning - 1; i >= 0; i--)
	{
		Running    *r = &running[i];

		if (r->plan == NULL)
			continue;
		if (!r->write_judged)
		{
			r->writer = plan_agent_writer(r->plan, &r->writer_via, &r->writer_view);
			r->write_judged = true;
		}
		if (OidIsValid(r->writer))
		{
			judge_reached(plan, r->writer, r->writer_via, r->writer_view, true);
			break;
		}
	}
}

/*
 * The relation a human's ALTER TABLE alters, when it is an agent's: the
 * statement evaluates its CHECK constraints (a rewrite, a new NOT VALID
 * one validated) with the human's rights, so it counts as running the
 * agent's stored code (ag_agentcode_function_execute).  Index expressions
 * PostgreSQL evaluates as the table's owner already.
 */
Oid
ag_agentcode_altered_relation(Node *parsetree)
{
	Oid			relid;

	/*
	 * REFRESH MATERIALIZED VIEW runs the agent's view's query (as its
	 * owner): the view's code, as a plan that reads it runs (red team 35,
	 * F13; PostgreSQL 16+ leaves the view out of its query's range table)
	 */
	if (parsetree != NULL && IsA(parsetree, RefreshMatViewStmt) && !ag_process_is_agent())
	{
		relid = RangeVarGetRelid(((RefreshMatViewStmt *) parsetree)->relation, NoLock, true);
		return OidIsValid(relid) && ag_agentcode_role_is_agent(ag_agentcode_relation_owner(relid)) ?
			relid : InvalidOid;
	}
	if (parsetree == NULL || !IsA(parsetree, AlterTableStmt) || ag_process_is_agent() ||
		((AlterTableStmt *) parsetree)->relation == NULL)
		return InvalidOid;
	relid = RangeVarGetRelid(((AlterTableStmt *) parsetree)->relation, NoLock, true);
	return OidIsValid(relid) && ag_agentcode_role_is_agent(ag_agentcode_relation_owner(relid)) ?
		relid : InvalidOid;
}

/*
 * ProcessUtility, a session that is not an agent's: the context a CALL of
 * an agent's procedure runs in.  Such a procedure may end transactions
 * (COMMIT, ROLLBACK) when it is called outside a transaction block; a
 * cursor of the human's opened in the transaction is marked active while
 * the agent's code runs (agentportal.c), and a transaction ended then
 * would leave it behind.  So while the human has such a cursor open, the
 * procedure runs atomic: its COMMIT or ROLLBACK fails as in a transaction
 * block ("invalid transaction termination").
 */
ProcessUtilityContext
ag_agentcode_call_context(Node *parsetree, ProcessUtilityContext context)
{
	FuncExpr   *call;
	FunctionEntry *e;

	if (parsetree == NULL || !IsA(parsetree, CallStmt) || ag_process_is_agent() ||
		(context != PROCESS_UTILITY_TOPLEVEL &&
		 context != PROCESS_UTILITY_QUERY_NONATOMIC) ||
		IsTransactionBlock())
		return context;
	call = ((CallStmt *) parsetree)->funcexpr;
	if (call == NULL || (e = function_entry(call->funcid)) == NULL ||
		!OidIsValid(e->agent_owner) ||
		!ag_agentportal_others_in_transaction(e->agent_owner))
		return context;
	return PROCESS_UTILITY_QUERY;
}

/*
 * ProcessUtility, agent code on the stack: FETCH, MOVE or CLOSE of a
 * cursor it did not open (PostgreSQL would refuse it too, the cursor
 * being marked active, agentportal.c; this says why); NOTIFY, which
 * would go out as the human's session's; SET, RESET where the settings
 * would stay (settings_roll_back).
 */
void
ag_agentcode_utility(Node *parsetree)
{
	const char *name;
	Oid			agent_fn;

	if (parsetree == NULL || !ag_agentcode_running())
		return;
	if (IsA(parsetree, NotifyStmt))
		refuse_session_state(F_PG_NOTIFY, "NOTIFY");
	if (IsA(parsetree, ConstraintsSetStmt))
		refuse_constraints_set();
	if (IsA(parsetree, VariableSetStmt) && !settings_roll_back())
		refuse_setting_change(((VariableSetStmt *) parsetree)->kind == VAR_RESET ||
							  ((VariableSetStmt *) parsetree)->kind == VAR_RESET_ALL ?
							  "RESET" : "SET");
	if (IsA(parsetree, FetchStmt))
		name = ((FetchStmt *) parsetree)->portalname;
	else if (IsA(parsetree, ClosePortalStmt))
		name = ((ClosePortalStmt *) parsetree)->portalname;
	else
		return;
	if (name == NULL || !ag_agentportal_hidden(name))
		return;
	agent_fn = innermost_agent_function();
	ag_refuse_humans_only(ag_agentcode_function_owner(agent_fn),
						  psprintf("cursor \"%s\" cannot be used by code of agent role \"%s\"",
								   name, ag_agentcode_role_name(ag_agentcode_function_owner(agent_fn))),
						  psprintf("Function %s runs in the session of role \"%s\"; the cursor was opened there by other code, with that code's rights.",
								   format_procedure(agent_fn), ag_agentcode_role_name(GetSessionUserId())),
						  "Open the cursors the agent's code reads in that code.");
}

/* COPY FROM into a protected table (or an uncovered child of one), agent code on the stack. */
void
ag_agentcode_copy(Oid copy_into)
{
	if (!OidIsValid(copy_into) || !ag_agentcode_running())
		return;
	if (ag_relation_protected(copy_into))
		refuse_write(copy_into, "copy into");
	else
		refuse_child_write(copy_into, "copy into");
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
 * The refusal of a function in a statement that runs the stored code of an
 * agent's relation (see ag_agentcode_function_execute), or none.
 */
static void
judge_call_in_agent_statement(Oid funcid, Oid relid)
{
	CallKind	kind = call_kind(funcid);
	Oid			owner;

	if (kind == CALL_FREE)
		return;
	owner = ag_agentcode_relation_owner(relid);
	if (kind == CALL_GRANTED &&
		AG_PROC_ACLCHECK(funcid, owner, ACL_EXECUTE) == ACLCHECK_OK)
		return;
	if (kind == CALL_DEFINER)
		ag_refuse_humans_only(owner,
							  psprintf("function %s cannot run in a statement that involves relation %s of agent role \"%s\"",
									   format_procedure(funcid), ag_qualified_relname(relid), ag_agentcode_role_name(owner)),
							  psprintf("The views, row-security policies, column defaults, rules and trigger conditions of relation %s are code of role \"%s\", which is or serves an agent; %s is a SECURITY DEFINER function of role \"%s\", and called from them its writes would pass for those of role \"%s\", unstamped and unlogged.",
									   ag_qualified_relname(relid), ag_agentcode_role_name(owner),
									   format_procedure(funcid),
									   ag_agentcode_role_name(ag_agentcode_function_owner(funcid)),
									   ag_agentcode_role_name(GetSessionUserId())),
							  psprintf("Call %s in a statement of its own that involves no relation of the agent, or let the agent call it in its own session, where its writes are the agent's.",
									   format_procedure(funcid)));
	ag_refuse_humans_only(owner,
						  psprintf("function %s cannot run in a statement that involves relation %s of agent role \"%s\"",
								   format_procedure(funcid), ag_qualified_relname(relid), ag_agentcode_role_name(owner)),
						  psprintf(kind == CALL_GRANTED ?
								   "The views, row-security policies, column defaults, rules and trigger conditions of relation %s are code of role \"%s\", which is or serves an agent and may not execute %s; in this statement it would run with the rights of role \"%s\"." :
								   "The views, row-security policies, column defaults, rules and trigger conditions of relation %s are code of role \"%s\", which is or serves an agent; %s acts with its caller's rights, which in this statement are those of role \"%s\".",
								   ag_qualified_relname(relid), ag_agentcode_role_name(owner),
								   format_procedure(funcid), ag_agentcode_role_name(GetUserId())),
						  psprintf("Call %s in a statement of its own that involves no relation of the agent.",
								   format_procedure(funcid)));
}

/* the first agent relation whose code a query or its subqueries run */
static bool
find_agent_relation(Node *node, Oid *relid)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *q = (Query *) node;

		*relid = agent_relation(q->rtable, q->resultRelation > 0 ?
								list_make1_int(q->resultRelation) : NIL);
		if (OidIsValid(*relid))
			return true;
		return query_tree_walker(q, find_agent_relation, relid, 0);
	}
	return expression_tree_walker(node, find_agent_relation, relid);
}

/*
 * A current_setting() of a superuser-only setting, or of one named at run
 * time, in a statement that runs an agent relation's code (see
 * reads_hidden_setting).
 */
static void
refuse_hidden_setting(FuncExpr *f, Oid relid)
{
	Oid			owner = ag_agentcode_relation_owner(relid);

	ag_refuse_humans_only(owner,
						  psprintf("function %s cannot run in a statement that involves relation %s of agent role \"%s\"",
								   format_procedure(f->funcid), ag_qualified_relname(relid), ag_agentcode_role_name(owner)),
						  psprintf("The views, row-security policies, column defaults and rules of relation %s are code of role \"%s\", which is or serves an agent; %s here reads a setting only superusers may read, or one named at run time, with the rights of role \"%s\", and the agent's code could keep what it reads.",
								   ag_qualified_relname(relid), ag_agentcode_role_name(owner),
								   format_procedure(f->funcid), ag_agentcode_role_name(GetUserId())),
						  "Read the setting in a statement of its own that involves no relation of the agent.");
}

static bool
planned_call(Oid fn, void *arg)
{
	judge_call_in_agent_statement(fn, *(Oid *) arg);
	return false;
}

static bool
planned_calls_walker(Node *node, void *arg)
{
	if (node == NULL)
		return false;
	(void) check_functions_in_node(node, planned_call, arg);
	if (reads_hidden_setting(node))
		refuse_hidden_setting((FuncExpr *) node, *(Oid *) arg);
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, planned_calls_walker, arg, 0);
	return expression_tree_walker(node, planned_calls_walker, arg);
}

/*
 * Planner: a statement that runs an agent's stored code (its view, policy,
 * default, rule) is judged before the planner evaluates any of its stable
 * calls to estimate them, with the human's rights; the executor judges the
 * calls again as they are set up (ag_agentcode_function_execute).
 */
static void
judge_planned_calls(Query *parse)
{
	Oid			relid = InvalidOid;

	if (ag_owner_running() || !find_agent_relation((Node *) parse, &relid))
		return;
	(void) planned_calls_walker((Node *) parse, &relid);
}

/*
 * Planner: a human's INSERT, UPDATE, DELETE or MERGE through an agent's
 * view onto a protected table.  The view's definition is the agent's code
 * and chooses the rows; its writes would pass for the human's (red team 6).
 */
static void
judge_target_view(Query *parse)
{
	ListCell   *lc;
	Oid			target;

	if (parse->resultRelation <= 0 || parse->commandType == CMD_SELECT)
		return;
	target = rt_fetch(parse->resultRelation, parse->rtable)->relid;
	if (!OidIsValid(target) || !ag_relation_protected(target))
		return;
	foreach(lc, parse->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		Oid			owner;

		if (rte->rtekind != RTE_RELATION || get_rel_relkind(rte->relid) != RELKIND_VIEW ||
			!ag_agentcode_role_is_agent(owner = ag_agentcode_relation_owner(rte->relid)))
			continue;
		ag_refuse_code(AG_REFUSAL_GUARD, owner,
					   psprintf("cannot write to protected table %s through view %s of agent role \"%s\"",
								ag_qualified_relname(target), ag_qualified_relname(rte->relid),
								ag_agentcode_role_name(owner)),
					   psprintf("The view is code of role \"%s\", which is or serves an agent: it chooses the rows, and its writes would pass for those of role \"%s\".",
								ag_agentcode_role_name(owner), ag_agentcode_role_name(GetSessionUserId())),
					   psprintf("Write to table %s directly.", ag_qualified_relname(target)));
	}
}

/*
 * Planner, in a session that is not an agent's: an agent's operator or
 * domain in the statement (human_query_walker); and a statement a rule made
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
	const Oid  *roles;
	uint64		generation;

	if (IsBinaryUpgrade || ag_agent_roles(&roles, &generation) <= 0)
		return;
	/* an agent's operators and domains, run with this session's rights */
	(void) human_query_walker((Node *) parse, NULL);
	/* the planner evaluates stable calls: judge them before it does */
	judge_planned_calls(parse);
	/* an agent's view a human writes a protected table through */
	judge_target_view(parse);

	if (parse->querySource == QSRC_ORIGINAL || parse->resultRelation <= 0 ||
		(parse->commandType != CMD_INSERT && parse->commandType != CMD_UPDATE &&
		 parse->commandType != CMD_DELETE))
		return;
	target = rt_fetch(parse->resultRelation, parse->rtable)->relid;
	if (!ag_relation_protected(target) ||
		!OidIsValid(agent_rel = agent_relation(parse->rtable, NIL)))
		return;
	owner = ag_agentcode_relation_owner(agent_rel);
	ag_refuse_code(AG_REFUSAL_GUARD, owner,
				   psprintf("cannot write to protected table %s through a rule of agent role \"%s\"",
							ag_qualified_relname(target), ag_agentcode_role_name(owner)),
				   psprintf("The statement was rewritten by a rule of relation %s, owned by role \"%s\", which is or serves an agent; its writes would pass for those of role \"%s\", unstamped and unlogged.",
							ag_qualified_relname(agent_rel), ag_agentcode_role_name(owner),
							ag_agentcode_role_name(GetSessionUserId())),
				   psprintf("Drop the rule, or write to relation %s in a statement of its own.",
							ag_qualified_relname(target)));
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
