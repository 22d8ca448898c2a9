/*-------------------------------------------------------------------------
 * agentgate.c
 *		The gates, for an agent's code that runs in a human's session: what
 *		the agent's own session would have to ask a human for, or is
 *		refused there by a freeze or the agent's policy, is refused here.
 *
 * An agent's function runs in a human's session when the human calls it,
 * or fires its trigger by writing the agent's table (agentcode.c keeps the
 * stack of such calls, and runs them with the agent's rights).  The gates
 * judge agent sessions only (scope.c's ag_judging()); without this file an
 * agent could plant a trigger that empties or drops its other tables when
 * a human's routine write fires it: no approval, during a freeze, under a
 * read_only policy, past the row limit (red team 10, finding 4).
 *
 * While an agent's function runs in a session that is not an agent's, its
 * statements are attributed to the agent that owns the innermost such
 * function (its owner's agent ids in agent_guard.registered_agents; an
 * owner that several agents are members of answers for each of them) and
 * judged as the agent's own statement would be, failing closed:
 *	- what would need a human's approval (DROP, TRUNCATE, a dropped or
 *	  retyped column, DELETE or UPDATE without WHERE, ... : the classifier
 *	  of gate.c, the same gate qual) is refused (YG004): an approval is
 *	  consumed by the agent's own statement in its own session, and there
 *	  is none to ask for here;
 *	- what would weaken the guard is refused (YG004);
 *	- a write during a freeze of all agents or of that agent is refused
 *	  (YG006), and so is one outside its policy: read_only, dml, tables
 *	  (YG008); so is, under the same rules as in the agent's sessions,
 *	  a call of a function that writes without a result relation
 *	  (writers.c: pg_logical_emit_message(), the large-object writers,
 *	  nextval/setval but on temporary sequences the plan names), seen
 *	  as the call is set up (red team 11, finding 2);
 *	- the rows its statements write within one of the human's top-level
 *	  statements, writing CTEs' rows included, count against agent_guard.max_rows_per_statement; past it,
 *	  the statement is refused (YG004);
 *	- as a backstop, a relation or a column that is not temporary, dropped
 *	  or emptied by whatever statement the agent's code runs (a CASCADE),
 *	  is refused (YG004).
 * An agent's rule runs no function of the agent, yet its action is the
 * agent's code too (red team 11, finding 4): the planner refuses its DELETE
 * or UPDATE without WHERE, and marks the plans of its other writes, whose
 * freezes, policies and rows are then judged as above as they run
 * (who_rules()).
 * Each refusal is on record as the agent sessions' are: a request of kind
 * "refused" (never approvable), "frozen" or "policy", under the agent,
 * with no run (refusal.c), its BLOCKED event and the server log line.
 * Temporary relations stay the agent code's scratch.  The human's own
 * statements, outside the agent's code, are not judged: a human keeps
 * every power.  The run limits and the rate window are the agent
 * sessions' and are not counted here.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/parallel.h"
#include "catalog/dependency.h"
#include "catalog/pg_depend.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "nodes/parsenodes.h"
#include "executor/execdesc.h"
#include "miscadmin.h"
#include "nodes/plannodes.h"
#include "parser/parsetree.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "agentcode.h"
#include "agentgate.h"
#include "classify.h"
#include "compat.h"
#include "gate.h"
#include "owner_spi.h"
#include "policy.h"
#include "refusal.h"
#include "scope.h"
#include "statement.h"
#include "writers.h"

/* rows the agents' code wrote in the current top-level statement */
static uint64 code_rows = 0;

/*
 * The plan the agent's code is setting up calls nextval/setval on named
 * temporary sequences only (ag_agentgate_executor_start to
 * ag_agentgate_writers_done).
 */
static bool code_seq_blessed = false;

/* the agent ids of one owner role, as of a registry generation */
static Oid	ids_owner = InvalidOid;
static uint64 ids_generation = 0;
static List *ids = NIL;
static MemoryContext ids_cxt = NULL;

/* Whose code runs: the function, its owner, the owner's agents. */
typedef struct Who
{
	Oid			fn;				/* InvalidOid for a rule's action */
	Oid			rule_rel;		/* the relation whose rule made the plan */
	bool		stored;			/* rule_rel's stored code: view, default, policy */
	Oid			owner;
	List	   *agents;			/* agent ids (char *), at least one */
} Who;

/*
 * The planner's mark on the plan of a query an agent's rule made in a
 * human's session (ag_agentgate_plan_rule()): an item of the plan's
 * invalidation list, as approvalkey.c binds approvals, that no catalog
 * invalidation ever matches.  hashValue: the rule's relation.  Its cache
 * id is its own: approvalkey.c's AG_BIND_* use -0x4147..-0x414B and
 * keyobjects.c's -0x4150..-0x4154 (this mark was -0x4152, AG_BIND_TYPE's,
 * until 1.2: a plan that bound a type read as an agent's rule's).
 */
#define AG_RULE_MARK	(-0x4158)

static List *
agents_of(Oid owner)
{
	const Oid  *roles;
	uint64		generation;
	List	   *found;
	MemoryContext old;

	(void) ag_agent_roles(&roles, &generation);
	if (ids_cxt != NULL && owner == ids_owner && generation == ids_generation && ids != NIL)
		return ids;
	found = ag_agent_ids_of_role(owner);
	if (found == NIL)
		return NIL;
	if (ids_cxt == NULL)
		ids_cxt = AllocSetContextCreate(TopMemoryContext, "agent_guard agent code ids",
										ALLOCSET_SMALL_SIZES);
	MemoryContextReset(ids_cxt);
	ids = NIL;
	old = MemoryContextSwitchTo(ids_cxt);
	{
		ListCell   *lc;

		foreach(lc, found)
			ids = lappend(ids, pstrdup((char *) lfirst(lc)));
	}
	MemoryContextSwitchTo(old);
	ids_owner = owner;
	ids_generation = generation;
	return ids;
}

/*
 * Is an agent's code running in a session that is not an agent's, with the
 * guard installed?  Fills w.  The guard's own queries are not the agent's.
 */
static bool
who_runs(Who *w)
{
	if (IsParallelWorker() || !ag_agentcode_running() || ag_judging() || ag_owner_running())
		return false;
	if (!OidIsValid(ag_guard_namespace()))
		return false;
	if (!ag_agentcode_innermost(&w->fn, &w->owner))
		return false;
	w->rule_rel = InvalidOid;
	w->stored = false;
	w->agents = agents_of(w->owner);
	/* the registry changed under the call: the role's name stands for it */
	if (w->agents == NIL)
		w->agents = list_make1(pstrdup(ag_agentcode_role_name(w->owner)));
	return true;
}

/* The relation whose agent's rule made the plan (its planner's mark), or InvalidOid. */
static Oid
rule_of_plan(PlannedStmt *ps)
{
	ListCell   *lc;

	foreach(lc, ps->invalItems)
	{
		PlanInvalItem *item = lfirst(lc);

		if (item->cacheId == AG_RULE_MARK)
			return (Oid) item->hashValue;
	}
	return InvalidOid;
}

bool
ag_agentgate_rule_plan(PlannedStmt *ps)
{
	return ps->invalItems != NIL && OidIsValid(rule_of_plan(ps));
}

/*
 * Is the plan the action of an agent's rule, run in a session that is not
 * an agent's, outside any agent's function (whose rows those are)?  Fills
 * w.  The rule is the agent's code, though no function of it runs (red
 * team 11, finding 4).
 */
static bool
who_rules(PlannedStmt *ps, Who *w)
{
	Oid			rel;
	Oid			owner;

	if (ps->invalItems == NIL || !OidIsValid(rel = rule_of_plan(ps)))
		return false;
	if (IsParallelWorker() || ag_agentcode_running() || ag_judging() || ag_owner_running())
		return false;
	if (!OidIsValid(ag_guard_namespace()))
		return false;
	owner = ag_agentcode_relation_owner(rel);
	if (!OidIsValid(owner) || !ag_agentcode_role_is_agent(owner))
		return false;
	w->fn = InvalidOid;
	w->rule_rel = rel;
	w->stored = false;
	w->owner = owner;
	w->agents = agents_of(owner);
	if (w->agents == NIL)
		w->agents = list_make1(pstrdup(ag_agentcode_role_name(owner)));
	return true;
}

/*
 * "The statement ran from function F of agent role X in the session of
 * role H.", or "The statement was rewritten by a rule of relation R, owned
 * by agent role X, in the session of role H."
 */
static char *
where_it_ran(const Who *w)
{
	char	   *s = OidIsValid(w->fn) ?
		psprintf("The statement ran from function %s of agent role \"%s\" in the session of role \"%s\".",
				 format_procedure(w->fn), ag_agentcode_role_name(w->owner),
				 ag_agentcode_role_name(GetSessionUserId())) :
		w->stored && !OidIsValid(w->rule_rel) ?
		psprintf("The statement ran as agent role \"%s\" (as PostgreSQL runs the query of a materialized view that REFRESH fills, with its owner's rights) in the session of role \"%s\".",
				 ag_agentcode_role_name(w->owner), ag_agentcode_role_name(GetSessionUserId())) :
		w->stored ?
		psprintf("The call is in the stored code (view, rule, column default or row-security policy) of relation %s, owned by agent role \"%s\", in the session of role \"%s\".",
				 ag_qualified_relname(w->rule_rel), ag_agentcode_role_name(w->owner),
				 ag_agentcode_role_name(GetSessionUserId())) :
		psprintf("The statement was rewritten by a rule of relation %s, owned by agent role \"%s\", in the session of role \"%s\".",
				 ag_qualified_relname(w->rule_rel), ag_agentcode_role_name(w->owner),
				 ag_agentcode_role_name(GetSessionUserId()));

	if (list_length(w->agents) > 1)
	{
		ListCell   *lc;
		StringInfoData buf;

		initStringInfo(&buf);
		foreach(lc, w->agents)
			appendStringInfo(&buf, "%s\"%s\"", foreach_current_index(lc) > 0 ? ", " : "",
							 (char *) lfirst(lc));
		s = psprintf("%s Role \"%s\" serves agents %s; it is judged as each of theirs.",
					 s, ag_agentcode_role_name(w->owner), buf.data);
	}
	return s;
}

static void
refuse(const Who *w, const char *agent, AgRefusalKind kind, const char *what,
	   const char *why, const char *text, int len)
{
	ag_refuse_agent_code(kind, agent ? agent : (const char *) linitial(w->agents),
						 what, why, where_it_ran(w), text, len);
}

/* A gate's decision on an agent's code's statement (gate.c's gate qual). */
void
ag_agentgate_decide(AgRefusalKind kind, const char *what, const char *why,
					const char *text, int len)
{
	Who			w;

	if (who_runs(&w))
		refuse(&w, NULL, kind, what, why, text, len);
}

/*
 * Is an agent's stored code running in a human's statement, no function
 * of the agent on the stack?  The views, rules, row-security policies,
 * defaults, CHECKs and trigger conditions of an agent's relation that an
 * executing statement (a plan, or a COPY FROM into the relation) runs
 * (agentcode.c), or a statement PostgreSQL runs as the agent role (the
 * query of its materialized view, which REFRESH plans and runs as the
 * view's owner).  Fills w.
 */
static bool
who_stored(Who *w)
{
	Oid			rel;
	Oid			owner = InvalidOid;
	Oid			user = GetUserId();

	if (IsParallelWorker() || ag_agentcode_running() || ag_judging() || ag_owner_running() ||
		ag_process_is_agent())
		return false;
	if (!OidIsValid(ag_guard_namespace()))
		return false;
	rel = ag_agentcode_running_code_relation();
	if (OidIsValid(rel))
		owner = ag_agentcode_relation_owner(rel);
	else if (user != GetSessionUserId() && ag_agentcode_role_is_agent(user))
		owner = user;
	if (!OidIsValid(owner))
		return false;
	w->fn = InvalidOid;
	w->rule_rel = rel;
	w->stored = true;
	w->owner = owner;
	w->agents = agents_of(owner);
	if (w->agents == NIL)
		w->agents = list_make1(pstrdup(ag_agentcode_role_name(owner)));
	return true;
}

bool
ag_agentgate_stored_code_running(void)
{
	Who			w;

	return who_stored(&w);
}

/*
 * A refusal of an agent's code in a human's session: its function's, or
 * its stored code's (who_stored()).  seqkeys.c's margin.
 */
void
ag_agentgate_decide_code(AgRefusalKind kind, const char *what, const char *why,
						 const char *text, int len)
{
	Who			w;

	if (who_runs(&w) || who_stored(&w))
		refuse(&w, NULL, kind, what, why, text, len);
}

/* Freezes for the agents of w: refuse a write. */
static void
check_freeze(const Who *w, const char *what, const char *text, int len)
{
	ListCell   *lc;

	foreach(lc, w->agents)
	{
		const char *agent = (const char *) lfirst(lc);
		bool		all;
		const char *reason = ag_gate_freeze_of(agent, &all);

		if (reason != NULL)
		{
			const char *stop = reason[0] != '\0' && reason[strlen(reason) - 1] == '.' ? "" : ".";

			refuse(w, agent, AG_REFUSAL_FROZEN, what,
				   all ? psprintf("Writes of all agents are frozen: %s%s", reason, stop) :
				   psprintf("Writes of agent \"%s\" are frozen: %s%s", agent, reason, stop),
				   text, len);
		}
	}
}

/*
 * A new top-level statement: the rows count afresh, unless it continues
 * the client's statement that ended the transaction (hooks.c).
 */
void
ag_agentgate_top_statement(bool continues)
{
	code_seq_blessed = false;
	if (!continues)
		code_rows = 0;
}

/*
 * The plan's calls are set up: only they were walked.  The guard's own
 * queries (the policies it loads as a call is judged) leave it be.
 */
void
ag_agentgate_writers_done(void)
{
	if (!ag_owner_running())
		code_seq_blessed = false;
}

/*
 * Object access (OAT_FUNCTION_EXECUTE): the agent's code sets up a call of
 * a function that writes without a result relation, in a plan or a
 * PL/pgSQL simple expression.  Refused during a freeze of its agents, and
 * outside their policies, as in their own sessions (policy.c, gate.c);
 * a sequence call passes a freeze or read_only only in a plan that names
 * temporary sequences alone.
 */
void
ag_agentgate_function_execute(Oid funcid)
{
	AgWriterKind k = ag_writer_kind(funcid);
	bool		blessed = code_seq_blessed;
	const char *text;
	int			len;
	char	   *what;
	Who			w;
	ListCell   *lc;

	if (k == AG_FN_OTHER || !who_runs(&w))
		return;
	what = psprintf("%s()", ag_writer_name(funcid));
	(void) ag_current_statement(&text, &len);
	foreach(lc, w.agents)
	{
		char	   *why = ag_policy_code_writer_call((const char *) lfirst(lc), funcid,
													 blessed);

		if (why != NULL)
			refuse(&w, (const char *) lfirst(lc), AG_REFUSAL_POLICY, what, why, text, len);
	}
	if (k == AG_FN_SEQUENCE && blessed)
		return;
	check_freeze(&w, what, text, len);
}

/* ExecutorStart of a plan the agent's code runs: its policy, freezes. */
void
ag_agentgate_executor_start(QueryDesc *qd)
{
	PlannedStmt *ps = qd->plannedstmt;
	const char *what = ag_command_name(ps->commandType, "statement");
	const char *text;
	int			len;
	Who			w;
	ListCell   *lc;
	ListCell   *la;

	if (who_runs(&w))
	{
		/* its calls of writing functions are judged as they are set up */
		AgWriterScan ws = {InvalidOid, InvalidOid, false, true};

		ag_writers_scan_plan(ps, &ws);
		code_seq_blessed = ws.temp_seq_calls && !OidIsValid(ws.bad_fn);
	}
	else if (!who_rules(ps, &w))
		return;
	if (!ag_gate_plan_writes(ps))
		return;
	ag_query_text(qd, &text, &len);
	foreach(la, w.agents)
		foreach(lc, ps->resultRelations)
		{
			Oid			relid = rt_fetch(lfirst_int(lc), ps->rtable)->relid;
			char	   *why = ag_policy_code_write((const char *) lfirst(la), relid);

			if (why != NULL)
				refuse(&w, (const char *) lfirst(la), AG_REFUSAL_POLICY, what, why, text, len);
		}
	check_freeze(&w, what, text, len);
}

/*
 * Is sequence seq the own sequence (serial, identity, OWNED BY) of a
 * column of one of the plan's result relations?  Its nextval() is the
 * written table's default: part of the write, not the agent's code (the
 * sequence and the table have the same owner).
 */
static bool
result_relation_sequence(PlannedStmt *ps, Oid seq)
{
	Oid			table;
	int32		col;
	ListCell   *lc;

	if (!sequenceIsOwned(seq, DEPENDENCY_AUTO, &table, &col) &&
		!sequenceIsOwned(seq, DEPENDENCY_INTERNAL, &table, &col))
		return false;
	foreach(lc, ps->resultRelations)
		if (rt_fetch(lfirst_int(lc), ps->rtable)->relid == table)
			return true;
	return false;
}

/*
 * ExecutorStart, a session that is not an agent's, outside the agent's
 * functions: a plan that runs an agent's stored code (its view, rule,
 * column default, row-security policy) and calls nextval().  PostgreSQL
 * checks USAGE or UPDATE of the sequence as the caller, so in the human's
 * statement the agent's code would advance (or exhaust) a sequence the
 * agent may not touch; and the call is a write the agent's freeze and
 * read_only policy stop in its own session.  So each nextval() of the plan
 * (the human's own ones in the statement too: the plan no longer tells
 * them apart) is refused unless its sequence is named as a constant and
 * the agent role may use or update it (YG002), and one on a sequence that
 * is not temporary is refused during the agent's freeze (YG006) and under
 * its read_only policy (YG008), on record.  The written table's own
 * sequence (its serial or identity default) is the write's, not judged.
 * The other writing functions (setval, the large-object writers,
 * pg_logical_emit_message, session-level advisory locks) act with their
 * caller's rights and are refused in an agent's stored code outright
 * (agentcode.c).
 */
void
ag_agentgate_stored_writers(QueryDesc *qd)
{
	PlannedStmt *ps = qd->plannedstmt;
	const Oid  *roles;
	uint64		generation;
	AgWriterScan ws = {0};
	Oid			rel;
	Oid			owner;
	ListCell   *lc;
	Who			w;

	if (IsParallelWorker() || IsBinaryUpgrade || ag_process_is_agent() || ag_judging() ||
		ag_owner_running() || ag_agentcode_running() || ps->commandType == CMD_UTILITY ||
		ag_agent_roles(&roles, &generation) <= 0 ||
		!OidIsValid(ag_guard_namespace()))
		return;
	/* the range table first: most human plans run no code of an agent */
	if (!OidIsValid(rel = ag_agentcode_plan_agent_relation(ps)))
		return;
	ws.collect_nextval = true;
	/* the planner routed them through agent_guard._nextval() (hooks.c) */
	ws.collect_nextval_wrapped = true;
	ag_writers_scan_plan(ps, &ws);
	if (ws.nextval_calls == NIL)
		return;
	owner = ag_agentcode_relation_owner(rel);
	w.fn = InvalidOid;
	w.rule_rel = rel;
	w.stored = true;
	w.owner = owner;
	w.agents = agents_of(owner);
	if (w.agents == NIL)
		w.agents = list_make1(pstrdup(ag_agentcode_role_name(owner)));
	foreach(lc, ws.nextval_calls)
	{
		FuncExpr   *f = lfirst_node(FuncExpr, lc);
		Oid			seq;
		const char *text;
		int			len;
		ListCell   *la;

		if (ag_agentcode_nextval_unsafe(f, owner, &seq))
		{
			/* the written table's own sequence: the table's owner may */
			if (OidIsValid(seq) && result_relation_sequence(ps, seq))
				continue;
			ag_refuse_humans_only(owner,
								  psprintf("function nextval(regclass) cannot run in a statement that involves relation %s of agent role \"%s\"",
										   ag_qualified_relname(rel), ag_agentcode_role_name(owner)),
								  OidIsValid(seq) ?
								  psprintf("The views, row-security policies, column defaults and rules of relation %s are code of role \"%s\", which is or serves an agent and may neither use nor update sequence %s; nextval() checks the rights of its caller, in this statement role \"%s\".",
										   ag_qualified_relname(rel), ag_agentcode_role_name(owner),
										   ag_qualified_relname(seq), ag_agentcode_role_name(GetUserId())) :
								  psprintf("The views, row-security policies, column defaults and rules of relation %s are code of role \"%s\", which is or serves an agent; nextval() checks the rights of its caller, in this statement role \"%s\", and its sequence is not named as a constant.",
										   ag_qualified_relname(rel), ag_agentcode_role_name(owner),
										   ag_agentcode_role_name(GetUserId())),
								  "Call nextval() in a statement of its own that involves no relation of the agent, or grant the agent role USAGE on the sequence if its code may advance it.");
		}
		if (get_rel_persistence(seq) == RELPERSISTENCE_TEMP || result_relation_sequence(ps, seq))
			continue;
		ag_query_text(qd, &text, &len);
		foreach(la, w.agents)
		{
			char	   *why = ag_policy_code_writer_call((const char *) lfirst(la), F_NEXTVAL, false);

			if (why != NULL)
				refuse(&w, (const char *) lfirst(la), AG_REFUSAL_POLICY, "nextval()", why, text, len);
		}
		check_freeze(&w, "nextval()", text, len);
	}
}

/* n more rows of the agent's code (w): the statement's row limit. */
static void
count_rows(const Who *w, QueryDesc *qd, uint64 n)
{
	int			max = ag_gate_max_rows_per_statement();
	const char *text;
	int			len;

	code_rows += n;
	if (max < 0 || code_rows <= (uint64) max)
		return;
	ag_query_text(qd, &text, &len);
	refuse(w, NULL, AG_REFUSAL_APPROVAL, ag_command_name(qd->plannedstmt->commandType, "statement"),
		   psprintf("The agent's %s wrote " UINT64_FORMAT " rows in this statement, more than agent_guard.max_rows_per_statement (%d).",
					OidIsValid(w->fn) ? "code" : "rule", code_rows, max),
		   text, len);
}

/*
 * Rows the writing CTEs of a plan the agent's code ran wrote (writers.c
 * counts them: they are not in es_processed, and a SELECT over them writes
 * too; red team 11, finding 1).
 */
void
ag_agentgate_cte_rows(QueryDesc *qd, uint64 n)
{
	Who			w;

	if (n == 0 || qd->estate == NULL || (!who_runs(&w) && !who_rules(qd->plannedstmt, &w)))
		return;
	count_rows(&w, qd, n);
}

/* A plan the agent's code ran wrote n rows: the statement's row limit. */
void
ag_agentgate_rows(QueryDesc *qd, uint64 n)
{
	Who			w;

	if (n == 0 || qd->estate == NULL || qd->plannedstmt->commandType == CMD_SELECT ||
		!ag_gate_plan_writes(qd->plannedstmt) ||
		(!who_runs(&w) && !who_rules(qd->plannedstmt, &w)))
		return;
	count_rows(&w, qd, n);
}

/*
 * A utility statement the agent's code runs, before anything happens: the
 * classifier's verdict, the policies, the freezes.
 */
void
ag_agentgate_utility(Node *parsetree, const char *text, int len)
{
	AgUtility	u;
	Who			w;
	ListCell   *lc;
	const char *what;

	if (parsetree == NULL || !who_runs(&w))
		return;
	ag_classify_utility(parsetree, &u);
	ag_gate_utility_verdict(&u);
	what = CreateCommandName(parsetree);
	/*
	 * PostgreSQL refuses ALTER SYSTEM in any function, and the agent's code
	 * here always runs in one: its own error says why.
	 */
	if (u.verdict == AG_REFUSAL_GUARD && !IsA(parsetree, AlterSystemStmt))
		refuse(&w, NULL, AG_REFUSAL_GUARD, u.verdict_what, u.verdict_why, text, len);
	foreach(lc, w.agents)
	{
		char	   *why = ag_policy_code_utility((const char *) lfirst(lc), &u);

		if (why != NULL)
			refuse(&w, (const char *) lfirst(lc), AG_REFUSAL_POLICY, what, why, text, len);
	}
	if (ag_utility_writes(&u))
		check_freeze(&w, what, text, len);
	/* as in the agent's session: PostgreSQL refuses what it may not run */
	if (u.verdict == AG_REFUSAL_APPROVAL && !u.unrunnable)
		refuse(&w, NULL, AG_REFUSAL_APPROVAL, u.verdict_what, u.verdict_why, text, len);
}

/*
 * Object access, the backstop: a relation that is not temporary, or a
 * column of one, dropped or emptied by a statement the agent's code runs,
 * whatever named it (DROP ... CASCADE, TRUNCATE ... CASCADE).
 */
void
ag_agentgate_object_access(ObjectAccessType access, Oid classId, Oid objectId,
						   int subId, void *arg)
{
	char		relkind;
	const char *text;
	int			len;
	char	   *why;
	Who			w;

	if (classId != RelationRelationId || (access != OAT_DROP && access != OAT_TRUNCATE))
		return;
	if (access == OAT_DROP && arg != NULL &&
		(((ObjectAccessDrop *) arg)->dropflags & PERFORM_DELETION_INTERNAL))
		return;					/* PostgreSQL's own bookkeeping */
	relkind = get_rel_relkind(objectId);
	if (subId == 0 ? !(relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE ||
					   relkind == RELKIND_FOREIGN_TABLE || relkind == RELKIND_MATVIEW ||
					   relkind == RELKIND_VIEW) :
		!(relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE ||
		  relkind == RELKIND_FOREIGN_TABLE))
		return;
	if (ag_relation_exempt(objectId) || !who_runs(&w))
		return;
	if (access == OAT_TRUNCATE)
		why = psprintf("It empties table %s.", ag_qualified_relname(objectId));
	else if (subId == 0)
		why = psprintf("It drops %s %s and its data.",
					   relkind == RELKIND_VIEW ? "view" :
					   relkind == RELKIND_MATVIEW ? "materialized view" : "table",
					   ag_qualified_relname(objectId));
	else
	{
		char	   *col = get_attname(objectId, subId, true);

		if (col == NULL)
			return;
		why = psprintf("It drops column \"%s\" of %s and its data.", col,
					   ag_qualified_relname(objectId));
	}
	(void) ag_current_statement(&text, &len);
	refuse(&w, NULL, AG_REFUSAL_APPROVAL, access == OAT_TRUNCATE ? "TRUNCATE" : "DROP",
		   why, text, len);
}

/*
 * The relation of an agent's rule whose action a range table belongs to:
 * the rule's placeholders for the rows it rewrites, "old" and "new", are
 * in it, and name the rule's relation (the parser adds them to every rule
 * action; an INSERT ... SELECT action has them in its SELECT).  A relation
 * the action merely reads, with rules of its own, is not the rule's.  The
 * first one that has rules and an agent for owner, or InvalidOid.
 */
static Oid
rule_placeholder_rel(List *rtable, Oid *owner)
{
	ListCell   *lc;

	foreach(lc, rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		HeapTuple	tup;
		Oid			found = InvalidOid;

		if (rte->rtekind != RTE_RELATION || !OidIsValid(rte->relid) || rte->eref == NULL ||
			(strcmp(rte->eref->aliasname, "old") != 0 && strcmp(rte->eref->aliasname, "new") != 0))
			continue;
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(rte->relid));
		if (!HeapTupleIsValid(tup))
			continue;
		if (((Form_pg_class) GETSTRUCT(tup))->relhasrules &&
			ag_agentcode_role_is_agent(((Form_pg_class) GETSTRUCT(tup))->relowner))
		{
			found = rte->relid;
			*owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
		}
		ReleaseSysCache(tup);
		if (OidIsValid(found))
			return found;
	}
	return InvalidOid;
}

/* The rule's relation of a query a rule made (rule_placeholder_rel()), or InvalidOid. */
static Oid
rule_made_rel(Query *q, Oid *owner)
{
	Oid			rule_rel;

	if (q->querySource == QSRC_ORIGINAL)
		return InvalidOid;
	rule_rel = rule_placeholder_rel(q->rtable, owner);
	if (!OidIsValid(rule_rel) && q->commandType == CMD_INSERT && q->jointree != NULL &&
		list_length(q->jointree->fromlist) == 1 &&
		IsA(linitial(q->jointree->fromlist), RangeTblRef))
	{
		/* INSERT ... SELECT: the placeholders are the SELECT's */
		RangeTblEntry *rte = rt_fetch(linitial_node(RangeTblRef, q->jointree->fromlist)->rtindex,
									  q->rtable);

		if (rte->rtekind == RTE_SUBQUERY && rte->subquery != NULL)
			rule_rel = rule_placeholder_rel(rte->subquery->rtable, owner);
	}
	return rule_rel;
}

/* A rule-made query's walk (ag_agentgate_plan_rule()). */
typedef struct RuleWalk
{
	Query	   *top;			/* the statement, for its text */
	const char *query_string;
	Oid			found;			/* the first agent's rule whose action writes */
} RuleWalk;

/*
 * One write of an agent's rule's action (q, rule_rel's, owned by agent
 * role owner): its DELETE or UPDATE without WHERE is refused; the others
 * are noted for the plan's mark.
 */
static void
plan_rule_write(Query *q, Oid rule_rel, Oid owner, RuleWalk *rw)
{
	Oid			target = rt_fetch(q->resultRelation, q->rtable)->relid;
	List	   *agents;
	const char *text;
	int			len;

	if (!OidIsValid(target) || ag_relation_tree_exempt(target))
		return;
	if (!ag_gate_query_unrestricted(q))
	{
		if (!OidIsValid(rw->found))
			rw->found = rule_rel;
		return;
	}
	agents = agents_of(owner);
	ag_statement_text(rw->query_string, rw->top->stmt_location, rw->top->stmt_len, &text, &len);
	ag_refuse_agent_code(AG_REFUSAL_APPROVAL,
						 agents != NIL ? (const char *) linitial(agents) : ag_agentcode_role_name(owner),
						 ag_command_name(q->commandType, "statement"),
						 psprintf("No WHERE clause restricts the rows of %s, so it touches every one.",
								  ag_qualified_relname(target)),
						 psprintf("The statement was rewritten by a rule of relation %s, owned by agent role \"%s\", in the session of role \"%s\".",
								  ag_qualified_relname(rule_rel), ag_agentcode_role_name(owner),
								  ag_agentcode_role_name(GetSessionUserId())),
						 text, len);
}

/*
 * The writes of the agent's rules in query q and in its WITH queries, at
 * any depth (red team 15a, findings 2 and 10).  A rule-made query's action
 * is the agent's; so are the writing WITH queries of its action (WITH d AS
 * (DELETE ...) SELECT ..., which has no result relation of its own), whose
 * entries PostgreSQL checks as the rule's owner.  A human's writing WITH
 * that writes a relation with a DO INSTEAD rule holds that rule's action in
 * its place, under the human's query; a human's own WITH queries, which
 * PostgreSQL copies into the one action of such a rule, are checked as the
 * human and stay the human's.  rule_rel, owner: the enclosing rule action's.
 */
static void
plan_rule_walk(Query *q, Oid rule_rel, Oid owner, RuleWalk *rw)
{
	Oid			own_owner = InvalidOid;
	Oid			own = rule_made_rel(q, &own_owner);
	bool		agents_write = false;
	ListCell   *lc;

	if (OidIsValid(own))
	{
		/* this query is the action of an agent's rule */
		rule_rel = own;
		owner = own_owner;
		agents_write = true;
	}
	else if (OidIsValid(rule_rel) && q->resultRelation > 0)
	{
		/* a WITH query of an agent's rule's action: the rule's own, or the human's */
		if (ag_query_rte_check_as(q, rt_fetch(q->resultRelation, q->rtable)) == owner)
			agents_write = true;
		else
			rule_rel = InvalidOid;
	}
	if (agents_write && q->resultRelation > 0 &&
		(q->commandType == CMD_INSERT || q->commandType == CMD_UPDATE ||
		 q->commandType == CMD_DELETE
#ifdef AG_HAVE_MERGE
		 || q->commandType == CMD_MERGE
#endif
		 ))
		plan_rule_write(q, rule_rel, owner, rw);
	foreach(lc, q->cteList)
	{
		CommonTableExpr *cte = lfirst_node(CommonTableExpr, lc);

		if (cte->ctequery != NULL && IsA(cte->ctequery, Query))
			plan_rule_walk((Query *) cte->ctequery, rule_rel, owner, rw);
	}
}

/*
 * Planner, a human's session: a statement a rule made (rule_placeholder_rel())
 * that writes a relation that is not
 * temporary, when the rule's relation is an agent's; also when the write
 * is a WITH query of such a rule's action, or the rule's action is a WITH
 * query of the human's statement (plan_rule_walk()).  The rule is the
 * agent's code, though no function of it runs (red team 11, finding 4):
 *	- one that deletes or updates every row is refused here, as the
 *	  agent's DELETE or UPDATE without WHERE would be;
 *	- the others are returned, for the planner hook to mark their plan
 *	  (ag_agentgate_mark_rule_plan()): as they run, the agent's freezes and
 *	  policies hold for them (ag_agentgate_executor_start()), and their rows
 *	  count against agent_guard.max_rows_per_statement (ag_agentgate_rows()),
 *	  whatever WHERE restricts them.  The mark is the plan's: a human's own
 *	  writing WITH queries in the same plan are judged with the rule's.
 * Returns the rule's relation, or InvalidOid.
 */
Oid
ag_agentgate_plan_rule(Query *parse, const char *query_string)
{
	RuleWalk	rw;

	if ((parse->querySource == QSRC_ORIGINAL && parse->cteList == NIL) ||
		IsParallelWorker() || ag_owner_running() ||
		!OidIsValid(ag_guard_namespace()))
		return InvalidOid;
	rw.top = parse;
	rw.query_string = query_string;
	rw.found = InvalidOid;
	plan_rule_walk(parse, InvalidOid, InvalidOid, &rw);
	return rw.found;
}

/* The planner's mark on the plan of an agent's rule (ag_agentgate_plan_rule()). */
void
ag_agentgate_mark_rule_plan(PlannedStmt *ps, Oid rule_rel)
{
	PlanInvalItem *mark;

	if (!OidIsValid(rule_rel))
		return;
	mark = makeNode(PlanInvalItem);
	mark->cacheId = AG_RULE_MARK;
	mark->hashValue = (uint32) rule_rel;
	ps->invalItems = lappend(ps->invalItems, mark);
}
