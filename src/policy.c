/*-------------------------------------------------------------------------
 * policy.c
 *		Least privilege per agent: read_only, dml or guarded, a list of the
 *		tables it may write, and a rate limit on the rows it changes.
 *
 * Read-only switches in agent tools parse the SQL text and are bypassed by
 * what their parsers miss.  Here every decision is taken on what the server
 * is about to run, from the hooks (hooks.c), for every statement of
 * an agent session, top-level or nested (functions, DO blocks, dynamic SQL,
 * triggers run their statements through the same hooks):
 *	- the executor: the plan's result relations (INSERT, UPDATE, DELETE,
 *	  MERGE, writable CTEs in a SELECT), and the function calls in the plan
 *	  that write without a result relation: nextval/setval on a sequence
 *	  and the large-object writers;
 *	- the object access hook (OAT_FUNCTION_EXECUTE), which sees every
 *	  function call the executor sets up and the fast-path protocol's calls
 *	  (libpq's lo_write() never runs a statement): the backstop for calls
 *	  the plan walk cannot attribute;
 *	- ProcessUtility: DDL, COPY FROM, SELECT INTO / CREATE TABLE AS (also
 *	  under EXPLAIN ANALYZE), TRUNCATE, REFRESH MATERIALIZED VIEW.
 * Temporary objects, and objects the session created itself, are the
 * agent's scratch space (scope.c); which utility statements change what is
 * classify.c's answer, the same the gates use.
 *
 * Modes: read_only refuses every change to anything that is not scratch;
 * dml refuses DDL on anything that is not scratch (data changes are gated
 * as usual); guarded, the default, adds nothing.  With tables set, writes
 * to other relations (and large-object writes) are refused; a partition is
 * covered by its listed ancestor, an index and a sequence by the table
 * that owns them.  Under a tables list nextval() and setval() of other
 * sequences are refused too, by the plan walk (a setval() whose sequence
 * is not a constant is refused there), and nextval() as it runs: it goes
 * through agent_guard._nextval(), planted by writers.c, which judges the
 * sequence it is given (a variable; a PL/pgSQL assignment, which runs from
 * a plan made in an earlier transaction that no walk sees again).  All
 * refusals are outright
 * (AG_REFUSAL_POLICY, YG008, through refusal.c): no approval gets past a
 * policy.
 *
 * The policy lives in agent_guard.policy_state.  Each backend caches its
 * agent's row, keyed on the generation counter (outbox.c), which set_policy()
 * and drop_policy() bump at commit (agent_guard._gate_changed()), so a
 * change reaches connected sessions at their next statement.  The row is
 * read with the latest snapshot, so this holds inside a REPEATABLE READ
 * transaction too.
 *
 * max_rows_per_minute: rows changed (as counted by the gates: non-exempt
 * rows of INSERT/UPDATE/DELETE/MERGE statements and COPY FROM) go into
 * per-second buckets of the last 60 seconds, one slot per agent in shared
 * memory, so all sessions of an agent share one window.  A statement that
 * takes the window over the limit is refused (AG_REFUSAL_RATE, YG060), and so
 * is every write while the window is at or over it; its rows stay counted,
 * so a runaway loop stops until the minute has passed.
 *
 * Locking: PolicyShared->lock (one LWLock, tranche "agent_guard policy")
 * guards the slots; taken exclusively for one short update per write
 * statement of a rate-limited agent, and never across a catalog lookup or
 * an error.
 *
 * "Policy" here is always the agent's policy; PostgreSQL's row security
 * policies are called row security policies.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_type.h"
#include "catalog/objectaccess.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "optimizer/planner.h"
#include "parser/parse_coerce.h"
#include "parser/parse_expr.h"
#include "parser/parse_relation.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/pquery.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/portal.h"
#include "utils/rel.h"
#include "access/relation.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "agent_guard.h"
#include "agentcache.h"
#include "agentcode.h"
#include "agentgate.h"
#include "classify.h"
#include "compat.h"
#include "outbox.h"
#include "owner_spi.h"
#include "policy.h"
#include "refusal.h"
#include "scope.h"
#include "seqkeys.h"
#include "session.h"
#include "statement.h"
#include "writers.h"

#define AG_RATE_SLOTS 64
#define AG_RATE_WINDOW 60
#define AG_POLICY_TRANCHE "agent_guard policy"

typedef struct AgRateSlot
{
	char		agent[AG_MAX_ID_LEN + 1];	/* "" = free */
	int64		last_sec;		/* newest second counted */
	uint64		buckets[AG_RATE_WINDOW];	/* rows per second, by second % 60 */
} AgRateSlot;

typedef struct AgPolicyShared
{
	LWLock	   *lock;
	AgRateSlot	slots[AG_RATE_SLOTS];
} AgPolicyShared;

static AgPolicyShared *pshared = NULL;

typedef enum
{
	MODE_GUARDED = 0,
	MODE_DML,
	MODE_READ_ONLY
} PolicyMode;

/* this session's agent's policy, as of generation policy_gen */
static bool policy_valid = false;
static uint64 policy_gen = 0;
static char *policy_agent = NULL;
static PolicyMode policy_mode = MODE_GUARDED;
static bool policy_has_tables = false;
static Oid *policy_tables = NULL;
static int	policy_ntables = 0;
static int	policy_max_rows = 0;	/* 0: no rate limit */
static bool policy_loading = false;

/*
 * The last plan walked (read_only or a tables list) called setval only on
 * sequences it may set (temporary ones, or a listed table's): the
 * function-execute backstop lets the agent_guard._setval() calls planted
 * in a plan pass (only walked plans have them).  nextval() in a plan goes
 * through agent_guard._nextval(), judged per call: no plan walk blesses a
 * plain nextval() (a domain's or a table's CHECK, set up with the plan,
 * calls it unwrapped; red team 28a, finding 1).
 */
static bool seq_calls_blessed = false;

/*
 * The COPY FROM being set up: its defaults, WHERE clause, the CHECKs of
 * its columns' domains and of its table were walked, and call nextval()
 * only on sequences the policy lets it call.  Those calls, set up without
 * a plan, pass the backstop while the COPY runs, and only then: any other
 * statement (a trigger's, the next one in a DO block) ends the blessing.
 */
static bool copy_seq_blessed = false;

static int64
now_second(void)
{
	return (int64) (GetCurrentTimestamp() / USECS_PER_SEC);
}

/* Rows of the slot in the 60 seconds up to now; caller holds the lock. */
static uint64
slot_window(AgRateSlot *s, int64 now)
{
	uint64		sum = 0;
	int			k;

	for (k = 0; k < AG_RATE_WINDOW; k++)
	{
		int64		sec = s->last_sec - k;

		if (sec > now - AG_RATE_WINDOW && sec <= now)
			sum += s->buckets[sec % AG_RATE_WINDOW];
	}
	return sum;
}

/* Find (or, with create, take) the agent's slot; caller holds the lock. */
static AgRateSlot *
rate_slot_for(const char *agent, int64 now, bool create)
{
	int			i;
	AgRateSlot *idle = NULL;

	for (i = 0; i < AG_RATE_SLOTS; i++)
	{
		AgRateSlot *s = &pshared->slots[i];

		if (strcmp(s->agent, agent) == 0)
			return s;
		if (idle == NULL && (s->agent[0] == '\0' || s->last_sec <= now - AG_RATE_WINDOW))
			idle = s;
	}
	if (!create || idle == NULL)
		return NULL;
	memset(idle, 0, sizeof(AgRateSlot));
	strlcpy(idle->agent, agent, sizeof(idle->agent));
	idle->last_sec = now;
	return idle;
}

/*
 * Add rows to the agent's window and return the window's total.  When
 * every slot is busy with another rate-limited agent the write is refused
 * (fail closed) rather than left uncounted.
 */
static uint64
rate_add(const char *agent, uint64 rows, bool *no_slot)
{
	int64		now = now_second();
	AgRateSlot *s;
	uint64		sum = 0;

	*no_slot = false;
	LWLockAcquire(pshared->lock, LW_EXCLUSIVE);
	s = rate_slot_for(agent, now, true);
	if (s == NULL)
		*no_slot = true;
	else
	{
		if (now > s->last_sec)
		{
			int64		sec;

			/* clear the seconds that slid out of the window */
			for (sec = Max(s->last_sec + 1, now - AG_RATE_WINDOW + 1); sec <= now; sec++)
				s->buckets[sec % AG_RATE_WINDOW] = 0;
			s->last_sec = now;
		}
		if (now == s->last_sec)
			s->buckets[now % AG_RATE_WINDOW] += rows;
		sum = slot_window(s, now);
	}
	LWLockRelease(pshared->lock);
	return sum;
}

/* ---------------------------------------------------------------------
 * The policy of this session's agent
 * ---------------------------------------------------------------------
 */
static void
policy_reset(void)
{
	if (policy_tables)
		pfree(policy_tables);
	policy_tables = NULL;
	policy_ntables = 0;
	policy_has_tables = false;
	policy_mode = MODE_GUARDED;
	policy_max_rows = 0;
}

/* A policy as read from agent_guard.policy_state (no row: guarded, no limits). */
typedef struct PolicyData
{
	PolicyMode	mode;
	bool		has_tables;
	Oid		   *tables;
	int			ntables;
	int			max_rows;
} PolicyData;

typedef struct PolicyQuery
{
	Datum		values[1];
	PolicyData *out;
	MemoryContext cxt;			/* where out->tables goes */
} PolicyQuery;

static AgKeptPlan policy_plan = {
	"SELECT p.mode, p.tables::pg_catalog.oid[], p.max_rows_per_minute "
	"  FROM agent_guard.policy_state p WHERE p.agent_id OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}
};

static void
policy_read_query(void *arg)
{
	PolicyQuery *q = (PolicyQuery *) arg;
	PolicyData *p = q->out;
	int			rc;

	/* the latest committed policy, even in a REPEATABLE READ transaction */
	rc = ag_kept_execute_latest(&policy_plan, q->values, NULL, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "agent_guard policy: query failed: %s", SPI_result_code_string(rc));

	memset(p, 0, sizeof(PolicyData));
	p->mode = MODE_GUARDED;
	if (SPI_processed > 0)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *mode;
		Datum		d;

		mode = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
		p->mode = strcmp(mode, "read_only") == 0 ? MODE_READ_ONLY :
			strcmp(mode, "dml") == 0 ? MODE_DML : MODE_GUARDED;
		d = SPI_getbinval(tup, desc, 2, &isnull);
		if (!isnull)
		{
			ArrayType  *arr = DatumGetArrayTypeP(d);
			Datum	   *elems;
			bool	   *nulls;
			int			n;
			int			i;

			deconstruct_array(arr, OIDOID, sizeof(Oid), true, TYPALIGN_INT, &elems, &nulls, &n);
			p->tables = MemoryContextAlloc(q->cxt, sizeof(Oid) * Max(n, 1));
			for (i = 0; i < n; i++)
				if (!nulls[i])
					p->tables[p->ntables++] = DatumGetObjectId(elems[i]);
			p->has_tables = true;
		}
		d = SPI_getbinval(tup, desc, 3, &isnull);
		p->max_rows = isnull ? 0 : DatumGetInt32(d);
	}
}

/* Read the agent's row, with the latest snapshot, as the extension owner. */
static void
policy_read(const char *agent, PolicyData *out, MemoryContext cxt)
{
	Oid			nsp = ag_guard_namespace();
	PolicyQuery q;

	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("policy_state", nsp)))
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
				 errmsg("agent_guard cannot read the policy of agent \"%s\"", agent),
				 errdetail("The table agent_guard.policy_state is missing."),
				 errhint("Reinstall the extension.")));

	q.values[0] = CStringGetTextDatum(agent);
	q.out = out;
	q.cxt = cxt;
	ag_owner_spi(policy_read_query, &q);
}

/*
 * Load the policy if it may have changed; true when it restricts anything
 * (an agent with no policy, or a plain guarded one, costs one atomic read).
 */
static bool
policy_load(void)
{
	uint64		gen;
	const char *agent;

	if (policy_loading || pshared == NULL)
		return false;
	gen = ag_state_generation();
	agent = ag_current_agent();
	if (agent == NULL)
		return false;
	if (!policy_valid || gen != policy_gen || strcmp(policy_agent, agent) != 0)
	{
		policy_valid = false;
		policy_loading = true;
		PG_TRY();
		{
			PolicyData	p;

			policy_reset();
			policy_read(agent, &p, ag_session_memory());
			policy_mode = p.mode;
			policy_has_tables = p.has_tables;
			policy_tables = p.tables;
			policy_ntables = p.ntables;
			policy_max_rows = p.max_rows;
		}
		PG_FINALLY();
		{
			policy_loading = false;
		}
		PG_END_TRY();
		/*
		 * Plans cached under the old policy are planned again, so that
		 * the planner-time check below sees them (PL/pgSQL keeps simple
		 * expressions as cached plans it never runs through the executor).
		 */
		ResetPlanCache();
		if (policy_agent)
			pfree(policy_agent);
		policy_agent = ag_session_strdup(agent);
		policy_gen = gen;
		policy_valid = true;
	}
	return policy_mode != MODE_GUARDED || policy_has_tables || policy_max_rows > 0;
}

/* The policy's tables, for messages: "app.a, app.b" or "no table". */
static char *
tables_list_of(const Oid *tables, int ntables)
{
	StringInfoData buf;
	int			i;

	if (ntables == 0)
		return pstrdup("no table");
	initStringInfo(&buf);
	for (i = 0; i < ntables; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", ag_qualified_relname(tables[i]));
	return buf.data;
}

static char *
tables_list(void)
{
	return tables_list_of(policy_tables, policy_ntables);
}

/*
 * May the agent write relid under a tables scope?  An index is its
 * table's (REINDEX, ALTER INDEX, COMMENT ON INDEX), and so is a sequence
 * the table owns (serial, identity, OWNED BY): its setval() and ALTER
 * SEQUENCE are writes of that table, and those of another sequence are
 * not (red team 24, findings 2 and 3).
 */
static bool table_listed_in(bool has_tables, const Oid *tables, int ntables, Oid relid,
							bool exempt_ok);

static bool
table_allowed_in(bool has_tables, const Oid *tables, int ntables, Oid relid)
{
	return table_listed_in(has_tables, tables, ntables, relid, true);
}

/*
 * The same; exempt_ok false: the agent's temporary and scratch relations
 * count only if listed (or a partition, index or owned sequence of a
 * listed table), for default_sequence_allowed().
 */
static bool
table_listed_in(bool has_tables, const Oid *tables, int ntables, Oid relid, bool exempt_ok)
{
	int			i;
	List	   *ancestors = NIL;
	ListCell   *lc;
	char		relkind;

	if (!has_tables || (exempt_ok && ag_relation_exempt(relid)))
		return true;
	for (i = 0; i < ntables; i++)
		if (tables[i] == relid)
			return true;
	relkind = get_rel_relkind(relid);
	if (relkind == RELKIND_INDEX || relkind == RELKIND_PARTITIONED_INDEX)
	{
		Oid			table = IndexGetRelation(relid, true);

		return OidIsValid(table) && table_listed_in(has_tables, tables, ntables, table, exempt_ok);
	}
	if (relkind == RELKIND_SEQUENCE)
	{
		Oid			table;
		int32		col;

		if (sequenceIsOwned(relid, DEPENDENCY_AUTO, &table, &col) ||
			sequenceIsOwned(relid, DEPENDENCY_INTERNAL, &table, &col))
			return table_listed_in(has_tables, tables, ntables, table, exempt_ok);
		return false;
	}
	if (get_rel_relispartition(relid))
		ancestors = get_partition_ancestors(relid);
	foreach(lc, ancestors)
		for (i = 0; i < ntables; i++)
			if (tables[i] == lfirst_oid(lc))
				return true;
	return false;
}

static bool
table_allowed(Oid relid)
{
	return table_allowed_in(policy_has_tables, policy_tables, policy_ntables, relid);
}

/*
 * Are the defaults of relid an agent's?  Its owner is the session's login
 * role or a registered agent role: a default there names whatever
 * sequence the agent chose, a human's too (red team 27, finding 1).  A
 * table of a role the agent is only a member of counts as that role's:
 * the agent's own sessions cannot store such a default there under a
 * tables list (ag_policy_object_access(), also after SET ROLE).
 */
static bool
defaults_agents(Oid relid)
{
	Oid			owner = ag_agentcode_relation_owner(relid);
	const Oid  *roles;
	uint64		generation;
	int			n;
	int			i;

	if (!OidIsValid(owner) || owner == GetSessionUserId())
		return true;
	n = ag_agent_roles(&roles, &generation);
	for (i = 0; i < n; i++)
		if (roles[i] == owner)
			return true;
	return false;
}

/*
 * Does a column default of a listed table draw from seq (DEFAULT
 * nextval('s') without OWNED BY)?  Its nextval() is part of the agent's
 * inserts into that table; its setval() is not allowed for that (the
 * sequence may number other tables too).  The agent's own temporary or
 * scratch tables do not count: a default of theirs on an unlisted
 * sequence would let the agent consume (exhaust) any sequence it may use,
 * a human's identity sequence too (red team 26, finding 3); the agent's
 * own sequences are allowed anyway (table_allowed()).  Nor do the
 * defaults of a listed table of the agent's own (its login role's or an
 * agent role's: defaults_agents()): set to a human's sequence, they
 * would let it call nextval() of that sequence at will (red team 27,
 * finding 1); such a default is refused as it is stored
 * (ag_policy_object_access()).
 */
static bool
default_sequence_allowed(Oid seq)
{
	Relation	dep;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	dep = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(seq));
	scan = systable_beginscan(dep, DependReferenceIndexId, true, NULL, 2, key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);

		if (d->classid == AttrDefaultRelationId)
		{
			ObjectAddress col = GetAttrDefaultColumnAddress(d->objid);

			found = OidIsValid(col.objectId) &&
				table_listed_in(policy_has_tables, policy_tables, policy_ntables,
								col.objectId, false) &&
				!defaults_agents(col.objectId);
		}
	}
	systable_endscan(scan);
	table_close(dep, AccessShareLock);
	return found;
}

/*
 * Under a tables list, a sequence call the plan names that is allowed
 * (writers.c asks, for the calls not on temporary sequences): nextval()
 * and setval() of a listed table's own sequence, nextval() of one a listed
 * table's default draws from.  A sequence not named as a constant cannot
 * be judged: refused, as under read_only.
 */
static bool
policy_seq_ok(Oid funcid, Oid seq)
{
	bool		nextval = funcid == F_NEXTVAL || ag_writers_is_nextval_wrapper(funcid);

	if (!OidIsValid(seq))
		return ag_writers_is_nextval_wrapper(funcid);	/* judged as it runs */
	if (table_allowed(seq))
		return true;
	return nextval && default_sequence_allowed(seq);
}


static void
refuse_read_only(const char *what, const char *detail, const char *text, int len)
{
	ag_refuse(AG_REFUSAL_POLICY, what,
				   psprintf("The policy of agent \"%s\" is read_only: it may read, and change only its temporary objects; %s",
							ag_current_agent(), detail),
				   text, len, 0);
}

static void
refuse_table(const char *what, Oid relid, const char *text, int len)
{
	ag_refuse(AG_REFUSAL_POLICY, what,
				   psprintf("The policy of agent \"%s\" lets it write %s only; %s is not one of them.",
							ag_current_agent(), tables_list(), ag_qualified_relname(relid)),
				   text, len, 0);
}

static void
rate_precheck(const char *what, const char *text, int len)
{
	bool		no_slot;
	uint64		sum;

	if (policy_max_rows <= 0)
		return;
	sum = rate_add(ag_current_agent(), 0, &no_slot);
	if (no_slot)
		ag_refuse(AG_REFUSAL_RATE, what,
					   psprintf("Every one of the %d rate-limit slots is in use by another agent this minute, so the rows of agent \"%s\" cannot be counted.",
								AG_RATE_SLOTS, ag_current_agent()),
					   text, len, 0);
	if (sum >= (uint64) policy_max_rows)
		ag_refuse(AG_REFUSAL_RATE, what,
					   psprintf("Agent \"%s\" changed " UINT64_FORMAT " rows in the last minute; its policy allows max_rows_per_minute = %d.",
								ag_current_agent(), sum, policy_max_rows),
					   text, len, 0);
}

/* ---------------------------------------------------------------------
 * Function calls that write: sequences and large objects
 * ---------------------------------------------------------------------
 */
static void
refuse_writer_call(Oid funcid, Oid seq, const char *text, int len)
{
	char	   *what = psprintf("%s()", ag_writer_name(funcid));
	char	   *detail;

	if (ag_writer_kind(funcid) == AG_FN_LARGE_OBJECT)
		detail = psprintf("%s writes large objects, which are never temporary.", what);
	else if (ag_writer_kind(funcid) == AG_FN_WAL_MESSAGE)
		detail = psprintf("%s writes a message to the WAL, which every logical decoding consumer receives.", what);
	else if (OidIsValid(seq) && policy_mode != MODE_READ_ONLY)
		detail = psprintf("%s would change sequence %s, which is not one of them nor owned by one of them.",
						  what, ag_qualified_relname(seq));
	else if (OidIsValid(seq))
		detail = psprintf("%s would change sequence %s.", what, ag_qualified_relname(seq));
	else if (policy_mode != MODE_READ_ONLY)
		detail = psprintf("%s is allowed only on a sequence of one of them, or a temporary one, named in the statement.", what);
	else
		detail = psprintf("%s is allowed only on a temporary sequence named in the statement.", what);

	if (policy_mode == MODE_READ_ONLY)
		refuse_read_only(what, detail, text, len);
	ag_refuse(AG_REFUSAL_POLICY, what,
				   psprintf("The policy of agent \"%s\" lets it write %s only; %s",
							ag_current_agent(), tables_list(), detail),
				   text, len, 0);
}

/* Refuse a plan that calls a writer it may not; true if it calls
 * nextval/setval on named temporary sequences (or, under a tables list,
 * sequences of the listed tables) only. */
static bool
check_plan_writers(PlannedStmt *ps, const char *text, int len)
{
	AgWriterScan ws = {InvalidOid, InvalidOid, false,
	policy_mode == MODE_READ_ONLY || policy_has_tables};

	if (policy_mode != MODE_READ_ONLY)
		ws.seq_ok = policy_seq_ok;

	ag_writers_scan_plan(ps, &ws);
	if (OidIsValid(ws.bad_fn))
		refuse_writer_call(ws.bad_fn, ws.bad_seq, text, len);
	return ws.temp_seq_calls;
}

/* the last sequence agent_guard._nextval() let pass, and under which policy */
static Oid	nextval_ok_seq = InvalidOid;
static uint64 nextval_ok_gen = 0;

/*
 * SQL: agent_guard._nextval(regclass) returns bigint: nextval() in the
 * plans of an agent's session (writers.c plants it).  Under a tables list
 * or read_only: refused (YG008) on a sequence that is neither temporary
 * nor scratch nor the sequence of a listed table (nor one a listed
 * table's default draws from), whatever names it; a bulk insert pays one
 * such check: the sequence let pass last is kept for the rest of the
 * top-level statement.  Under any policy: refused (YG004) when the draw
 * would leave a sequence that numbers a protected table with less than
 * its margin (seqkeys.c), judged at each call.
 */
PG_FUNCTION_INFO_V1(ag_sql_nextval);
Datum
ag_sql_nextval(PG_FUNCTION_ARGS)
{
	Oid			seq = PG_GETARG_OID(0);

	if (ag_judging())
	{
		const char *text;
		int			len;

		/*
		 * Planted, it counts as nextval for the freezes and policies
		 * (writers.c); called by name before any plan of this session
		 * planted it, it would not.
		 */
		if (!ag_writers_is_nextval_wrapper(fcinfo->flinfo->fn_oid))
		{
			(void) ag_current_statement(&text, &len);
			ag_refuse(AG_REFUSAL_GUARD, "agent_guard._nextval()",
					  "agent_guard._nextval() is planted by agent_guard in place of nextval(); it is not called by name.",
					  text, len, 0);
		}
		if (policy_load() && (policy_has_tables || policy_mode == MODE_READ_ONLY) &&
			!(seq == nextval_ok_seq && nextval_ok_gen == policy_gen))
		{
			(void) ag_current_statement(&text, &len);
			if (get_rel_persistence(seq) != RELPERSISTENCE_TEMP &&
				(policy_mode == MODE_READ_ONLY || !policy_seq_ok(F_NEXTVAL, seq)))
				refuse_writer_call(F_NEXTVAL, seq, text, len);
			nextval_ok_seq = seq;
			nextval_ok_gen = policy_gen;
		}
		/* the room left in a sequence that numbers a protected table (seqkeys.c) */
		ag_seqroom_nextval(seq);
	}
	else if ((ag_agentcode_running() && !ag_owner_running()) || ag_agentgate_stored_code_running())
	{
		/*
		 * planted in a plan of an agent's code outside its session (its
		 * function's, red team 34, F3; its stored code's in a human's
		 * statement, red team 35, F13): the room, judged as in the agent's
		 * session, refused on record under the agent
		 */
		ag_seqroom_nextval(seq);
	}
	return DirectFunctionCall1(nextval_oid, ObjectIdGetDatum(seq));
}

/*
 * Every plan is checked when it is made, too (hooks.c calls this after
 * planning): PL/pgSQL evaluates simple expressions (x := nextval(...))
 * from a cached plan without starting the executor.
 */
void
ag_policy_check_plan(Query *parse, PlannedStmt *ps, const char *query_string)
{
	if (ps->commandType != CMD_UTILITY && ag_judging() && policy_load() &&
		(policy_mode == MODE_READ_ONLY || policy_has_tables))
	{
		const char *text;
		int			len;
		ListCell   *lc;

		/*
		 * A write to a relation off the list is refused as it starts,
		 * naming the relation, not the sequence its default draws from
		 */
		foreach(lc, ps->resultRelations)
			if (!table_allowed(rt_fetch(lfirst_int(lc), ps->rtable)->relid))
				return;

		ag_statement_text(query_string, parse->stmt_location, parse->stmt_len, &text, &len);
		if (check_plan_writers(ps, text, len))
			seq_calls_blessed = true;
	}
}

/* ---------------------------------------------------------------------
 * Called from the hooks (hooks.c)
 * ---------------------------------------------------------------------
 */
void
ag_policy_top_statement(void)
{
	seq_calls_blessed = false;
	copy_seq_blessed = false;
	nextval_ok_seq = InvalidOid;
}

/*
 * Any plan starts: a COPY's blessing of its own expressions is not the
 * plan's (hooks.c, also for plans the gates do not judge).
 */
void
ag_policy_plan_starts(void)
{
	copy_seq_blessed = false;
}

/* A statement the gates judge is about to run (ps is never a utility). */
void
ag_policy_executor_start(PlannedStmt *ps, const char *text, int len)
{
	if (!policy_load())
		return;

	if (ps->commandType != CMD_SELECT || ps->hasModifyingCTE)
	{
		const char *what = ag_command_name(ps->commandType, "SELECT");
		bool		writes = (ps->resultRelations == NIL && ps->commandType != CMD_SELECT);
		ListCell   *lc;

		foreach(lc, ps->resultRelations)
		{
			Oid			relid = rt_fetch(lfirst_int(lc), ps->rtable)->relid;

			if (ag_relation_exempt(relid))
				continue;
			writes = true;
			if (policy_mode == MODE_READ_ONLY)
				refuse_read_only(what, psprintf("this statement writes %s.", ag_qualified_relname(relid)), text, len);
			if (!table_allowed(relid))
				refuse_table(what, relid, text, len);
		}
		if (writes && policy_mode == MODE_READ_ONLY)
			refuse_read_only(what, "this statement writes data.", text, len);
		if (writes)
			rate_precheck(what, text, len);
	}

	if (policy_mode == MODE_READ_ONLY && ps->rowMarks != NIL)
	{
		Oid			locked = ag_writers_row_locked(ps, false);

		if (OidIsValid(locked))
			refuse_read_only("SELECT ... FOR UPDATE",
							 psprintf("this statement locks rows of %s.", ag_qualified_relname(locked)),
							 text, len);
	}
	if (policy_mode == MODE_READ_ONLY || policy_has_tables)
		seq_calls_blessed = check_plan_writers(ps, text, len);
}

/*
 * COMMIT of a transaction in which the agent wrote protected tables
 * (gate.c): a read_only policy set since its writes ran refuses it (red
 * team 30, finding 12).  One atomic read unless the generation moved.
 */
void
ag_policy_commit_check(const char *text, int len)
{
	if (policy_load() && policy_mode == MODE_READ_ONLY)
		refuse_read_only("COMMIT",
						 "the transaction wrote protected tables before the policy was set, and its COMMIT would make those writes durable.",
						 text, len);
}

/* Rows a judged write statement (or COPY FROM) changed: the rate window. */
void
ag_policy_rows_written(const char *what, uint64 rows, const char *text, int len)
{
	bool		no_slot;
	uint64		sum;

	if (rows == 0 || !policy_load() || policy_max_rows <= 0)
		return;
	sum = rate_add(ag_current_agent(), rows, &no_slot);
	if (no_slot)
		rate_precheck(what, text, len);
	if (sum > (uint64) policy_max_rows)
		ag_refuse(AG_REFUSAL_RATE, what,
					   psprintf("Agent \"%s\" changed " UINT64_FORMAT " rows in the last minute (" UINT64_FORMAT " by this statement); its policy allows max_rows_per_minute = %d.",
								ag_current_agent(), sum, rows, policy_max_rows),
					   text, len, 0);
}

/*
 * Backstop for function calls: every call the executor sets up, and calls
 * over the fast-path protocol, which no plan shows.  Large-object writers
 * are refused; under read_only or a tables list, agent_guard._nextval()
 * passes (it judges each call), agent_guard._setval() when the plan
 * that plants it was walked, and a plain nextval() only while the COPY
 * FROM whose expressions were walked runs (copy_seq_blessed): set up
 * anywhere else (a CHECK of a table or a domain, CALL's arguments), it
 * is refused.
 */
void
ag_policy_function_execute(Oid funcid)
{
	AgWriterKind k = ag_writer_kind(funcid);
	const char *text;
	int			len;

	if (k == AG_FN_OTHER || !ag_judging() || !policy_load())
		return;
	if (k == AG_FN_SEQUENCE &&
		((policy_mode != MODE_READ_ONLY && !policy_has_tables) ||
		 ag_writers_is_nextval_wrapper(funcid) ||	/* judged as it runs */
		 /* planted in a walked plan: its sequence was judged there */
		 (ag_writers_is_setval_wrapper(funcid) && seq_calls_blessed && ActivePortal != NULL) ||
		 /* a COPY's own default, WHERE or CHECK, walked as it started */
		 (funcid == F_NEXTVAL && copy_seq_blessed && ActivePortal != NULL)))
		return;
	if ((k == AG_FN_LARGE_OBJECT || k == AG_FN_WAL_MESSAGE) &&
		policy_mode != MODE_READ_ONLY && !policy_has_tables)
		return;
	ag_current_statement(&text, &len);
	refuse_writer_call(funcid, InvalidOid, text, len);
}

/* ---------------------------------------------------------------------
 * Utility statements
 * ---------------------------------------------------------------------
 */
/*
 * The CHECK constraints a value of typid runs: a domain's (and its base
 * type's), those of an array's element type, and of a composite type's
 * attributes, a few levels deep.
 */
static void
scan_type_checks(Oid typid, AgWriterScan *ws, int depth)
{
	HeapTuple	tup;
	Form_pg_type typ;
	Oid			base = InvalidOid;
	Oid			elem = InvalidOid;
	Oid			typrel = InvalidOid;

	if (depth > 8 || !OidIsValid(typid) || OidIsValid(ws->bad_fn))
		return;
	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	if (!HeapTupleIsValid(tup))
		return;
	typ = (Form_pg_type) GETSTRUCT(tup);
	if (typ->typtype == TYPTYPE_DOMAIN)
		base = typ->typbasetype;
	else if (OidIsValid(typ->typelem) && IsTrueArrayType(typ))
		elem = typ->typelem;
	else if (typ->typtype == TYPTYPE_COMPOSITE)
		typrel = typ->typrelid;
	ReleaseSysCache(tup);

	if (OidIsValid(base))
	{
		Relation	con = table_open(ConstraintRelationId, AccessShareLock);
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	c;

		ScanKeyInit(&key, Anum_pg_constraint_contypid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(typid));
		scan = systable_beginscan(con, ConstraintTypidIndexId, true, NULL, 1, &key);
		while (HeapTupleIsValid(c = systable_getnext(scan)))
		{
			bool		isnull;
			Datum		bin = heap_getattr(c, Anum_pg_constraint_conbin,
										   RelationGetDescr(con), &isnull);

			if (!isnull && ((Form_pg_constraint) GETSTRUCT(c))->contype == CONSTRAINT_CHECK)
				ag_writers_scan_expr(stringToNode(TextDatumGetCString(bin)), ws);
		}
		systable_endscan(scan);
		table_close(con, AccessShareLock);
		scan_type_checks(base, ws, depth + 1);
	}
	else if (OidIsValid(elem))
		scan_type_checks(elem, ws, depth + 1);
	else if (OidIsValid(typrel))
	{
		Relation	r = relation_open(typrel, AccessShareLock);
		int			i;

		for (i = 0; i < RelationGetNumberOfAttributes(r); i++)
			if (!TupleDescAttr(RelationGetDescr(r), i)->attisdropped)
				scan_type_checks(TupleDescAttr(RelationGetDescr(r), i)->atttypid, ws, depth + 1);
		relation_close(r, AccessShareLock);
	}
}

/*
 * COPY FROM evaluates its column defaults, its WHERE clause and the CHECKs
 * of the table and of its columns' domains without a plan: one of a
 * temporary table may call nextval() on a permanent sequence (read_only),
 * one of any table on a sequence outside the tables list (red team 28a,
 * finding 1: the WHERE clause and the domains' CHECKs were not walked,
 * and a default of an allowed sequence let every other call pass).  The
 * WHERE clause is analysed here as DoCopy() will, against the table.
 */
static void
copy_defaults_check(CopyStmt *copy, const char *text, int len)
{
	Oid			relid = RangeVarGetRelid(copy->relation, NoLock, true);
	AgWriterScan ws = {InvalidOid, InvalidOid, false, true};
	Relation	rel;
	TupleDesc	desc;
	int			i;

	copy_seq_blessed = false;
	if (policy_mode != MODE_READ_ONLY)
		ws.seq_ok = policy_seq_ok;
	if (!OidIsValid(relid))
		return;
	rel = relation_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	for (i = 1; i <= RelationGetNumberOfAttributes(rel); i++)
	{
		if (TupleDescAttr(desc, i - 1)->attisdropped)
			continue;
		ag_writers_scan_expr(build_column_default(rel, i), &ws);
		scan_type_checks(TupleDescAttr(desc, i - 1)->atttypid, &ws, 0);
	}
	if (desc->constr != NULL)
		for (i = 0; i < desc->constr->num_check; i++)
			ag_writers_scan_expr(stringToNode(desc->constr->check[i].ccbin), &ws);
	if (copy->whereClause != NULL && !OidIsValid(ws.bad_fn))
	{
		ParseState *pstate = make_parsestate(NULL);
		ParseNamespaceItem *nsitem;
		Node	   *where;

		nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock, NULL, false, false);
		addNSItemToQuery(pstate, nsitem, false, true, true);
		where = transformExpr(pstate, copyObject(copy->whereClause), EXPR_KIND_COPY_WHERE);
		where = coerce_to_boolean(pstate, where, "WHERE");
		ag_writers_scan_expr(where, &ws);
		free_parsestate(pstate);
	}
	relation_close(rel, AccessShareLock);
	if (OidIsValid(ws.bad_fn))
		refuse_writer_call(ws.bad_fn, ws.bad_seq, text, len);
	copy_seq_blessed = ws.temp_seq_calls;
}

/* A utility statement the gates judge is about to run. */
void
ag_policy_utility(AgUtility *u, const char *text, int len)
{
	Node	   *parsetree = u->stmt;
	List	   *targets = u->targets;
	AgUtilityClass cls = u->cls;
	const char *what;
	ListCell   *lc;
	bool		copy_from;

	/* a COPY's blessing is its own; a new statement's nextval() is judged afresh */
	copy_seq_blessed = false;
	nextval_ok_seq = InvalidOid;
	if (parsetree == NULL || !policy_load())
		return;
	copy_from = IsA(parsetree, CopyStmt) && ((CopyStmt *) parsetree)->is_from;
	if (copy_from && !ag_utility_beyond_scratch(u) &&
		(policy_mode == MODE_READ_ONLY || policy_has_tables))
		copy_defaults_check((CopyStmt *) parsetree, text, len);
	if (!ag_utility_beyond_scratch(u))
		return;
	what = CreateCommandName(parsetree);

	if (policy_mode == MODE_READ_ONLY)
		refuse_read_only(what, targets != NIL ?
						 psprintf("this statement changes %s.", ag_qualified_relname(linitial_oid(targets))) :
						 "this statement changes permanent objects.",
						 text, len);
	if (policy_mode == MODE_DML && cls == AG_UT_DDL)
		ag_refuse(AG_REFUSAL_POLICY, what,
					   psprintf("The policy of agent \"%s\" is dml: it may change data, but not the schema of anything but its temporary objects%s.",
								ag_current_agent(),
								targets != NIL ? psprintf(" (this statement changes %s)", ag_qualified_relname(linitial_oid(targets))) : ""),
					   text, len, 0);
	foreach(lc, targets)
		if (!table_allowed(lfirst_oid(lc)))
			refuse_table(what, lfirst_oid(lc), text, len);
	if (u->unnamed_reach && policy_has_tables)
		ag_refuse(AG_REFUSAL_POLICY, what,
				  psprintf("The policy of agent \"%s\" lets it write %s only; this statement reaches relations it does not name (every one of a schema, or of the database, it may).",
						   ag_current_agent(), tables_list()),
				  text, len, 0);
	/* the defaults a COPY FROM into a listed table evaluates */
	if (copy_from && policy_has_tables)
		copy_defaults_check((CopyStmt *) parsetree, text, len);
	if (cls == AG_UT_DATA)
		rate_precheck(what, text, len);
}

/*
 * Object access (OAT_POST_CREATE of a column default or generation
 * expression, reported as the relation and the column): under a tables
 * list, a default the agent stores on a relation that is not its scratch
 * (a listed table of its own) may call nextval() only on a sequence the
 * policy lets it call.  Such a default counted as the listed table's, and
 * let the agent call nextval() on a human's sequence at will (red team
 * 27, finding 1); the write path no longer counts the agent's own
 * defaults (default_sequence_allowed()), and the statement that stores
 * one is refused (YG008), whatever runs it (ALTER TABLE ... SET DEFAULT,
 * ADD COLUMN, a parent's default passed down, an approved statement).
 * The agent's temporary and scratch tables may have one: their inserts
 * judge it (red team 26, finding 3).
 */
void
ag_policy_object_access(ObjectAccessType access, Oid classId, Oid objectId, int subId)
{
	AgWriterScan ws = {InvalidOid, InvalidOid, false, true};
	const char *stmt;
	int			stmt_len;

	if (access != OAT_POST_CREATE || classId != AttrDefaultRelationId || IsBinaryUpgrade ||
		!ag_judging() || !policy_load() || !policy_has_tables || policy_mode == MODE_READ_ONLY ||
		ag_relation_exempt(objectId))
		return;
	ws.seq_ok = policy_seq_ok;
	ag_writers_scan_new_default(objectId, (int16) subId, &ws, false);
	if (!OidIsValid(ws.bad_fn))
		return;
	(void) ag_current_statement(&stmt, &stmt_len);
	ag_refuse(AG_REFUSAL_POLICY, "column default",
			  psprintf("The policy of agent \"%s\" lets it write %s only; the default of column \"%s\" of %s would call %s() on %s, which is not one of them nor owned by one of them, nor drawn from by a default of one of them that a human set.",
					   ag_current_agent(), tables_list(),
					   get_attname(objectId, (AttrNumber) subId, true) ? get_attname(objectId, (AttrNumber) subId, true) : "?",
					   ag_qualified_relname(objectId), ag_writer_name(ws.bad_fn),
					   OidIsValid(ws.bad_seq) ? psprintf("sequence %s", ag_qualified_relname(ws.bad_seq)) :
					   "a sequence not named as a constant"),
			  stmt, stmt_len, 0);
}

/* ---------------------------------------------------------------------
 * An agent's code in a human's session (agentgate.c)
 * ---------------------------------------------------------------------
 */
/*
 * The policies of the agents whose code runs in this session, cached
 * apart from the session's own agent's (no plan cache reset: the
 * planner-time check is the agent sessions'), until the generation moves.
 */
static void
code_policy_fill(const char *agent, void *entry, MemoryContext cxt)
{
	policy_read(agent, (PolicyData *) entry, cxt);
}

static AgAgentCache code_policies = AG_AGENT_CACHE("code policies", PolicyData, code_policy_fill);

static const PolicyData *
code_policy(const char *agent)
{
	return (const PolicyData *) ag_agent_cache_get(&code_policies, agent);
}

/*
 * Why the agent's policy refuses its code's write to relid (an executor's
 * result relation), or NULL: read_only refuses every write to what is not
 * temporary, a tables list the relations not on it.  The rate window is
 * the agent's sessions' own: not counted here.
 */
char *
ag_policy_code_write(const char *agent, Oid relid)
{
	const PolicyData *p;

	if (pshared == NULL || ag_relation_exempt(relid))
		return NULL;
	p = code_policy(agent);
	if (p->mode == MODE_READ_ONLY)
		return psprintf("The policy of agent \"%s\" is read_only: it may read, and change only its temporary objects; this statement writes %s.",
						agent, ag_qualified_relname(relid));
	if (!table_allowed_in(p->has_tables, p->tables, p->ntables, relid))
		return psprintf("The policy of agent \"%s\" lets it write %s only; %s is not one of them.",
						agent, tables_list_of(p->tables, p->ntables), ag_qualified_relname(relid));
	return NULL;
}

/*
 * The same for a call of a function that writes without a result relation
 * (writers.c): as ag_policy_function_execute() judges the agent's own.
 * seq_blessed: the plan being set up names temporary sequences only.
 */
char *
ag_policy_code_writer_call(const char *agent, Oid funcid, bool seq_blessed)
{
	const PolicyData *p;
	AgWriterKind k = ag_writer_kind(funcid);
	char	   *what = psprintf("%s()", ag_writer_name(funcid));
	char	   *detail;

	if (pshared == NULL || k == AG_FN_OTHER)
		return NULL;
	p = code_policy(agent);
	if (k == AG_FN_SEQUENCE && (p->mode != MODE_READ_ONLY || seq_blessed))
		return NULL;
	if (k != AG_FN_SEQUENCE && p->mode != MODE_READ_ONLY && !p->has_tables)
		return NULL;
	if (k == AG_FN_LARGE_OBJECT)
		detail = psprintf("%s writes large objects, which are never temporary.", what);
	else if (k == AG_FN_WAL_MESSAGE)
		detail = psprintf("%s writes a message to the WAL, which every logical decoding consumer receives.", what);
	else
		detail = psprintf("%s is allowed only on a temporary sequence named in the statement.", what);
	if (p->mode == MODE_READ_ONLY)
		return psprintf("The policy of agent \"%s\" is read_only: it may read, and change only its temporary objects; %s",
						agent, detail);
	return psprintf("The policy of agent \"%s\" lets it write %s only; %s",
					agent, tables_list_of(p->tables, p->ntables), detail);
}

/* The same for a utility statement the classifier judged (u). */
char *
ag_policy_code_utility(const char *agent, const AgUtility *u)
{
	const PolicyData *p;
	ListCell   *lc;

	if (pshared == NULL || u->stmt == NULL || !ag_utility_beyond_scratch(u))
		return NULL;
	p = code_policy(agent);
	if (p->mode == MODE_READ_ONLY)
		return psprintf("The policy of agent \"%s\" is read_only: it may read, and change only its temporary objects; %s",
						agent, u->targets != NIL ?
						psprintf("this statement changes %s.", ag_qualified_relname(linitial_oid(u->targets))) :
						"this statement changes permanent objects.");
	if (p->mode == MODE_DML && u->cls == AG_UT_DDL)
		return psprintf("The policy of agent \"%s\" is dml: it may change data, but not the schema of anything but its temporary objects%s.",
						agent, u->targets != NIL ?
						psprintf(" (this statement changes %s)", ag_qualified_relname(linitial_oid(u->targets))) : "");
	foreach(lc, u->targets)
		if (!table_allowed_in(p->has_tables, p->tables, p->ntables, lfirst_oid(lc)))
			return psprintf("The policy of agent \"%s\" lets it write %s only; %s is not one of them.",
							agent, tables_list_of(p->tables, p->ntables), ag_qualified_relname(lfirst_oid(lc)));
	if (u->unnamed_reach && p->has_tables)
		return psprintf("The policy of agent \"%s\" lets it write %s only; this statement reaches relations it does not name (every one of a schema, or of the database, it may).",
						agent, tables_list_of(p->tables, p->ntables));
	return NULL;
}

/* ---------------------------------------------------------------------
 * SQL-callable
 * ---------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(ag_sql_policy_rates);
Datum
ag_sql_policy_rates(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		now = now_second();
	AgRateSlot *copy;
	uint64		sums[AG_RATE_SLOTS];
	int			n = 0;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (pshared == NULL)
		return (Datum) 0;
	/* copied out under the lock; the rows are built after it */
	copy = palloc(sizeof(AgRateSlot) * AG_RATE_SLOTS);
	LWLockAcquire(pshared->lock, LW_SHARED);
	for (i = 0; i < AG_RATE_SLOTS; i++)
	{
		if (pshared->slots[i].agent[0] == '\0')
			continue;
		copy[n] = pshared->slots[i];
		sums[n] = slot_window(&pshared->slots[i], now);
		n++;
	}
	LWLockRelease(pshared->lock);
	for (i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(copy[i].agent);
		values[1] = Int64GetDatum((int64) sums[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	pfree(copy);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Setup
 * ---------------------------------------------------------------------
 */
static void
policy_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		policy_loading = false;
		seq_calls_blessed = false;
		copy_seq_blessed = false;
	}
}

void
ag_policy_init(void)
{
	ag_shmem_register(AG_POLICY_TRANCHE, sizeof(AgPolicyShared), (void **) &pshared, NULL);
	RegisterXactCallback(policy_xact_callback, NULL);
}
