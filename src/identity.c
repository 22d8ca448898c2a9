/*-------------------------------------------------------------------------
 * identity.c
 *		Who is an agent, and which agent and run this session acts for.
 *
 * A session is an agent session when its session user (the login role,
 * or the role a superuser switched to with SET SESSION AUTHORIZATION) is
 * registered in agent_guard.registered_agents, or when a harness tagged it
 * with the agent_guard.agent_id setting.
 *
 * Scopes.  A connection pooler hands one server process to many clients, so
 * identity has two scopes:
 *	- the process: a registered login role, or a tag given in the connection
 *	  options or with a session-level SET.  It is latched in backend-local
 *	  memory the first time we see it, and nothing the session runs
 *	  afterwards (SET, RESET, RESET ALL, DISCARD ALL, SET ROLE, SET SESSION
 *	  AUTHORIZATION) touches the latched copy: it fails safe, the process
 *	  stays an agent until it exits;
 *	- the transaction: a tag set with SET LOCAL (or set_config(..., true))
 *	  tags the transaction it was set in, from that moment to its end, and
 *	  cannot be changed or dropped within it.  When the transaction ends the
 *	  process returns to its previous identity.  Such a transaction cannot
 *	  make its tag a session tag (pooled.c refuses the SET, and the
 *	  set_config at commit: red team 18b, finding 1); the assign hook
 *	  records whether the transaction's first tag was local.
 * The GUC machinery does not tell a check or assign hook whether a value
 * comes from SET or SET LOCAL.  We tell them apart by what survives the end
 * of the transaction: a tag assigned inside a transaction tags that
 * transaction; if the setting still holds the tag in a later transaction,
 * it was a session-level SET, and it is latched for the process's life
 * then (at the first identity check of that transaction, before any
 * statement of it runs).
 *
 * Runs.  A run is a label, not a boundary: the run of a transaction is
 * fixed at its first agent write and cannot change within the transaction.
 * Between transactions the label may change: a session label (options or
 * SET) holds until it is changed or reset (RESET, RESET ALL, DISCARD ALL),
 * a SET LOCAL label holds for its transaction.  Writes without a label get
 * a generated run, one per transaction by default, so that a transaction
 * pooler never merges unrelated clients' work into one run; with
 * agent_guard.generated_runs = 'session' one generated run spans the
 * session until the label is set or reset.
 *
 * The transaction-scoped state (tag, run) is dropped lazily: the end of a
 * transaction only marks it stale, and the first look at it inside the
 * next transaction clears it.  So other modules' end-of-transaction
 * callbacks, whatever their order, still see the identity of the
 * transaction that is ending.
 *
 * A superuser can switch any guard off, so a superuser is never an agent:
 * a session that is an agent session and whose session user or current
 * role is a superuser is refused at every statement.
 *
 * The registration lookup is cached per backend and invalidated through
 * the relcache callback of agent_guard.registered_agents (a statement
 * trigger on that table sends the invalidation), so a session that is not
 * an agent pays one flag test per statement.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/genam.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "commands/dbcommands.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/guc_tables.h"
#include "utils/timestamp.h"

#include "agent_guard.h"
#include "agentcode.h"
#include "compat.h"
#include "session.h"


/* GUC storage: what the session asked for, not what it is. */
static char *guc_agent_id = NULL;
static char *guc_run_id = NULL;

/* agent_guard.generated_runs: the scope of a generated run */
typedef enum
{
	GENERATED_RUNS_TRANSACTION,
	GENERATED_RUNS_SESSION
} GeneratedRuns;

static const struct config_enum_entry generated_runs_options[] = {
	{"transaction", GENERATED_RUNS_TRANSACTION, false},
	{"session", GENERATED_RUNS_SESSION, false},
	{NULL, 0, false}
};
static int	generated_runs = GENERATED_RUNS_TRANSACTION;

/* Process-scoped identity, in the session context (session.c); never cleared once set. */
static char *latched_tag = NULL;	/* session tag (options or SET) */
static char *latched_agent = NULL;	/* the process's agent id */
static char *session_run = NULL;	/* generated run, generated_runs = session */

/*
 * Transaction-scoped identity, in the session context.  xact_stale is set when
 * a transaction ends; xact_refresh() clears the rest inside the next one.
 */
static bool xact_stale = false;
static bool xact_tag_set = false;	/* agent_id assigned in this transaction */
static char *xact_tag = NULL;	/* SET LOCAL tag of this transaction */
static bool xact_tag_local = false; /* xact_tag came from SET LOCAL (or a function's SET) */
static TimestampTz xact_tag_time = 0;	/* start of the statement that set xact_tag */
static char *xact_agent = NULL;	/* this transaction's agent, from xact_tag */
static char *xact_run = NULL;	/* run this transaction wrote under */
static char *xact_gen_run = NULL;	/* generated run of this transaction */

/*
 * Statements running as a human's that rely on staying one to their end
 * (ag_identity_pin_human): while any runs, the session cannot become an
 * agent's.  pin_generation moves at every transaction end, where the count
 * starts again from 0; a pin's callback counts only in its generation.
 */
static int	human_pins = 0;
static uint64 pin_generation = 0;

/* Per-database state, rebuilt after any invalidation of our tables. */
static bool db_valid = false;
static Oid	db_agents_relid = InvalidOid;
static Oid	db_owner = InvalidOid;

/* Cached registration lookup for the current session user. */
static bool reg_valid = false;
static Oid	reg_role = InvalidOid;
static char *reg_agent_id = NULL;

/*
 * Every registered agent role (agentcode.c asks who owns code), and a
 * counter that moves whenever the registry may have changed, so that the
 * caches built on this list know when to drop themselves.
 */
static bool roles_valid = false;
static Oid *roles = NULL;
static int	nroles = 0;
static uint64 registry_generation = 0;

static char *
latch_copy(const char *s)
{
	return ag_session_strdup(s);
}

static void
free_str(char **p)
{
	if (*p != NULL)
	{
		pfree(*p);
		*p = NULL;
	}
}

/*
 * Drop the state of a transaction that has ended, once a new one runs.
 * Outside a live transaction (in particular while one commits or aborts)
 * the state of the ending transaction stays readable.
 */
static void
xact_refresh(void)
{
	if (!xact_stale || !IsTransactionState())
		return;
	xact_stale = false;
	xact_tag_set = false;
	xact_tag_local = false;
	xact_tag_time = 0;
	free_str(&xact_tag);
	free_str(&xact_agent);
	free_str(&xact_run);
	free_str(&xact_gen_run);
}

/*
 * A tag still in the setting in a transaction that did not assign it was
 * set with a session-level SET (a SET LOCAL would have been undone when its
 * transaction ended): latch it for the process's life.
 */
static void
latch_surviving_tag(void)
{
	xact_refresh();
	if (latched_tag == NULL && !xact_tag_set && IsTransactionState() &&
		guc_agent_id != NULL && guc_agent_id[0] != '\0')
	{
		latched_tag = latch_copy(guc_agent_id);
		ResetPlanCache();
	}
}

/* The identity the session or transaction is bound to so far. */
static const char *
bound_identity(void)
{
	latch_surviving_tag();
	if (latched_agent)
		return latched_agent;
	if (latched_tag)
		return latched_tag;
	return xact_tag;
}

/* The agent this statement acts for, without any lookup. */
static const char *
acting_agent(void)
{
	xact_refresh();
	return latched_agent ? latched_agent : xact_agent;
}

/*
 * End of a transaction: its tag and run are stale from now on.  If it was
 * tagged, plans made in it (the agent's rewrites) must not be reused by
 * whoever the process serves next, nor plans made before it by the agent.
 */
static void
identity_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (xact_agent != NULL || xact_tag != NULL)
				ResetPlanCache();
			xact_stale = true;
			human_pins = 0;
			pin_generation++;
			break;
		default:
			break;
	}
}

/*
 * GUC check for a label a session sets about itself (agent id, run id,
 * idempotency key): at most AG_MAX_ID_LEN bytes, valid in the database
 * encoding, no control characters.  "what" starts the detail sentence,
 * e.g. "An agent id".
 *
 * The encoding check matters for values given in the startup packet
 * (PGOPTIONS): those bytes reach us without client-encoding conversion or
 * validation, and a run id that is not valid UTF-8 would be stored in the
 * log as it came and stop the sealer, which cannot hash it.
 */
bool
ag_valid_label(const char *value, const char *what)
{
	const unsigned char *p;
	int			len = strlen(value);

	if (len > AG_MAX_ID_LEN)
	{
		GUC_check_errdetail("%s may be at most %d bytes long.", what, AG_MAX_ID_LEN);
		return false;
	}
	if (!pg_verifymbstr(value, len, true))
	{
		GUC_check_errdetail("%s must be valid in the database encoding (%s).",
							what, GetDatabaseEncodingName());
		return false;
	}
	for (p = (const unsigned char *) value; *p; p++)
	{
		if (*p < 0x20 || *p == 0x7f)
		{
			GUC_check_errdetail("%s may not contain control characters.", what);
			return false;
		}
	}
	return true;
}

/*
 * An agent id is shown wherever a human reads who did what (runs, requests,
 * events, the log line), and a registered agent's id may not be taken by a
 * tag: so a tag may only use characters that cannot pass for others.  The
 * safe set is the ASCII letters and digits and "_ - . : @ / +".  Anything
 * else (a zero-width space or joiner, a bidirectional mark, a non-breaking
 * space, a Cyrillic letter that looks Latin, a space at the end) could make
 * "coding_agent" and an id that only looks like it two agents (red team 18b,
 * finding 8).
 */
static bool
safe_agent_id(const char *value)
{
	const unsigned char *p;

	for (p = (const unsigned char *) value; *p; p++)
	{
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || strchr("_-.:@/+", *p) != NULL)
			continue;
		GUC_check_errdetail("An agent id may contain only ASCII letters, digits and the characters _ - . : @ / + (found byte 0x%02x at position %d).",
							*p, (int) (p - (const unsigned char *) value) + 1);
		GUC_check_errhint("Characters outside this set (invisible, format, space or lookalike characters) could make an id that reads like another agent's.");
		return false;
	}
	return true;
}

/*
 * An agent's function running in a human's session (agentcode.c) sets no
 * identity: the session would become the agent's (its code then unhooked,
 * the human's writes judged as the agent's), or its run label squatted.
 */
static bool
identity_set_by_agent_code(const char *name, const char *newval, const char *current)
{
	if (!ag_agentcode_running() || strcmp(newval, current ? current : "") == 0)
		return false;
	GUC_check_errcode(ERRCODE_AG_HUMANS_ONLY);
	GUC_check_errmsg("cannot set %s from code of an agent role", name);
	GUC_check_errdetail("An agent's function is running in a session that is not the agent's.");
	GUC_check_errhint("Set it in the session itself, in a statement that runs no code of the agent.");
	return true;
}

static bool
check_agent_id(char **newval, void **extra, GucSource source)
{
	const char *bound;

	if (*newval == NULL)
		return true;
	if (identity_set_by_agent_code("agent_guard.agent_id", *newval, guc_agent_id))
		return false;
	if (!ag_valid_label(*newval, "An agent id") || !safe_agent_id(*newval))
		return false;
	if (human_pins > 0 && (*newval)[0] != '\0' &&
		strcmp(*newval, guc_agent_id ? guc_agent_id : "") != 0)
	{
		GUC_check_errcode(ERRCODE_AG_IDENTITY_VIOLATION);
		GUC_check_errmsg("cannot set agent_guard.agent_id inside a statement that writes a protected table as a human's");
		GUC_check_errdetail("The statement started as a write of a role that is not an agent: its rows are that role's to its end, not stamped and not logged.");
		GUC_check_errhint("Tag the transaction with SET LOCAL agent_guard.agent_id before the statement, not inside it.");
		return false;
	}
	bound = bound_identity();
	if (bound != NULL && strcmp(*newval, bound) != 0)
	{
		bool		for_xact = (latched_agent == NULL && latched_tag == NULL);

		GUC_check_errcode(ERRCODE_AG_IDENTITY_VIOLATION);
		GUC_check_errmsg("cannot change the agent identity of an agent session");
		if (for_xact)
		{
			GUC_check_errdetail("This transaction acts as agent \"%s\" until it ends.", bound);
			GUC_check_errhint("Tag the next transaction with SET LOCAL agent_guard.agent_id.");
		}
		else
		{
			GUC_check_errdetail("This session acts as agent \"%s\" until it ends.", bound);
			GUC_check_errhint("Open a new session to act as another agent.");
		}
		return false;
	}
	return true;
}

/*
 * In the assign hook: is the tag being assigned only for the transaction
 * (SET LOCAL, set_config(..., true), a function's SET option) rather than
 * for the session (SET, set_config(..., false), the connection options)?
 * The GUC machinery has pushed the old value before it calls the hook, so
 * the top of the setting's stack says which: a plain SET leaves GUC_SET
 * there; the connection options and role or database settings push
 * nothing.
 */
static bool
tag_assigned_locally(void)
{
	static struct config_generic *gconf = NULL;

	if (gconf == NULL)
	{
		int			n;
		struct config_generic **vars = ag_guc_variables(&n);
		int			i;

		for (i = 0; i < n; i++)
			if (strcmp(vars[i]->name, "agent_guard.agent_id") == 0)
				gconf = vars[i];
		if (gconf == NULL)
			return false;
	}
	return gconf->stack != NULL && gconf->stack->state != GUC_SET;
}

/*
 * The tag is latched here, not at the next statement, so that a session
 * cannot set the tag and clear it again inside one statement to write in
 * between untagged.  It tags the transaction it is set in (the connection
 * options are applied inside the transaction that starts the session), and
 * becomes a session tag if it is still set in the next transaction.
 * Outside a live transaction the setting is only being restored (end of a
 * transaction or savepoint) or reloaded from the configuration file: a
 * value that stays is latched by the next transaction.  No catalog access
 * is allowed in an assign hook; the registration is reconciled with the
 * tag in identity_resolve().
 */
static void
assign_agent_id(const char *newval, void *extra)
{
	if (newval == NULL || newval[0] == '\0' || latched_tag != NULL ||
		!IsTransactionState())
		return;
	xact_refresh();
	xact_tag_set = true;
	if (xact_tag == NULL)
	{
		xact_tag_local = tag_assigned_locally();
		xact_tag_time = GetCurrentStatementStartTimestamp();
		xact_tag = latch_copy(newval);
		/* plans made before the transaction was an agent's must not be reused */
		ResetPlanCache();
	}
}

static bool
check_run_id(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL)
		return true;
	if (identity_set_by_agent_code("agent_guard.run_id", *newval, guc_run_id))
		return false;
	if (!ag_valid_label(*newval, "A run id"))
		return false;
	xact_refresh();
	if (xact_run != NULL && IsTransactionState() &&
		strcmp(*newval, xact_run) != 0 &&
		!((*newval)[0] == '\0' && xact_gen_run != NULL &&
		  strcmp(xact_gen_run, xact_run) == 0))
	{
		GUC_check_errcode(ERRCODE_AG_IDENTITY_VIOLATION);
		GUC_check_errmsg("cannot change the run id of a transaction that has written");
		GUC_check_errdetail("This transaction has written as run \"%s\".", xact_run);
		GUC_check_errhint("Set agent_guard.run_id before the first write of a transaction; the next transaction may use another run.");
		return false;
	}
	return true;
}

/*
 * Any assignment of the run label (SET, SET LOCAL and its undoing, RESET,
 * RESET ALL, DISCARD ALL) ends the session's generated run: the next
 * unlabelled write starts a new one.
 */
static void
assign_run_id(const char *newval, void *extra)
{
	free_str(&session_run);
}

/*
 * After a utility statement ran (hooks.c).  DISCARD ALL is what a session
 * pooler runs between clients; it resets a label that was set (through
 * assign_run_id), but RESET ALL skips settings never set, so the session's
 * generated run is ended here.
 */
void
ag_identity_after_utility(Node *parsetree)
{
	if (parsetree != NULL && IsA(parsetree, DiscardStmt) &&
		((DiscardStmt *) parsetree)->target == DISCARD_ALL)
		free_str(&session_run);
}

/*
 * Relcache invalidations of our registry table (sent by its statement
 * trigger, by DDL, or by DROP EXTENSION) and "invalidate everything"
 * broadcasts drop the cached lookups.
 */
static void
identity_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == db_agents_relid)
	{
		db_valid = false;
		reg_valid = false;
		roles_valid = false;
		registry_generation++;
	}
}

/*
 * Locate the extension's tables in this database.  Returns false when the
 * extension is not installed here; that answer is not cached, so a later
 * CREATE EXTENSION is noticed at the next statement.
 */
static bool
db_state_load(void)
{
	Oid			nsp;
	HeapTuple	tup;

	if (db_valid)
		return true;

	nsp = ag_guard_namespace();
	if (!OidIsValid(nsp))
		return false;
	db_agents_relid = get_relname_relid("registered_agents", nsp);
	if (!OidIsValid(db_agents_relid))
		return false;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(db_agents_relid));
	if (!HeapTupleIsValid(tup))
		return false;
	db_owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	db_valid = true;
	return true;
}

/*
 * The role that owns the extension's tables; the capture trigger writes
 * the log as this role, since agents hold no privilege on it.  Fails
 * closed when the extension is not installed in this database.
 */
Oid
ag_extension_owner(void)
{
	if (!db_state_load())
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
				 errmsg("agent_guard is not installed in database \"%s\"",
						get_database_name(MyDatabaseId)),
				 errhint("Run CREATE EXTENSION agent_guard in this database.")));
	return db_owner;
}

/*
 * Look up the session user in agent_guard.registered_agents.  The table
 * is tiny (one row per agent role), so a sequential scan is the cheapest
 * correct plan; the answer is cached until the table is invalidated.
 */
static const char *
registration_lookup(void)
{
	Oid			role = GetSessionUserId();
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;

	if (reg_valid && reg_role == role)
		return reg_agent_id;

	if (!db_state_load())
		return NULL;			/* not installed: nobody is registered */

	if (reg_agent_id)
	{
		pfree(reg_agent_id);
		reg_agent_id = NULL;
	}

	rel = table_open(db_agents_relid, AccessShareLock);
	snap = RegisterSnapshot(IsInParallelMode() ? GetCatalogSnapshot(db_agents_relid) : GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		d;

		/* column 1: role regrole, column 2: agent_id text (see install script) */
		d = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);
		if (isnull || DatumGetObjectId(d) != role)
			continue;
		d = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull);
		if (!isnull)
			reg_agent_id = MemoryContextStrdup(ag_session_memory(),
											   TextDatumGetCString(d));
		break;
	}
	table_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);

	reg_role = role;
	reg_valid = true;
	return reg_agent_id;
}

/*
 * An agent id as it reads: lower-cased, every character other than a
 * letter or a digit removed ("Coding_Agent", "coding_agent." and
 * "coding-agent" all read "codingagent").
 */
static char *
id_folded(const char *id)
{
	char	   *out = palloc(strlen(id) + 1);
	char	   *o = out;
	const char *p;

	for (p = id; *p; p++)
	{
		if (*p >= 'A' && *p <= 'Z')
			*o++ = *p - 'A' + 'a';
		else if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
			*o++ = *p;
	}
	*o = '\0';
	return out;
}

/*
 * The registered role whose agent id is id, or reads as id (id_folded),
 * or InvalidOid; *held set to that agent id.  A role that is not
 * registered may not tag itself with a registered agent's id: its writes
 * would fall into that agent's runs, run limit and rollback_run (red team
 * 17b, finding 5); nor with one that only differs from it in case or
 * punctuation: it would read as that agent in a listing while escaping its
 * freeze, policy and run limit, which are per id (red team 19, finding 4).
 */
static Oid
registered_role_of_id(const char *id, char **held)
{
	char	   *folded = id_folded(id);

	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;
	Oid			found = InvalidOid;

	if (!db_state_load())
		return InvalidOid;
	rel = table_open(db_agents_relid, AccessShareLock);
	snap = RegisterSnapshot(IsInParallelMode() ? GetCatalogSnapshot(db_agents_relid) : GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull);
		char	   *aid;

		if (isnull)
			continue;
		aid = TextDatumGetCString(d);
		if (strcmp(aid, id) == 0 || strcmp(id_folded(aid), folded) == 0)
		{
			d = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);
			if (!isnull)
			{
				found = DatumGetObjectId(d);
				*held = aid;
				break;
			}
		}
		pfree(aid);
	}
	table_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return found;
}

static void
check_tag_unclaimed(const char *tag)
{
	char	   *held = NULL;
	Oid			holder = registered_role_of_id(tag, &held);

	if (OidIsValid(holder) && strcmp(held, tag) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_AG_IDENTITY_VIOLATION),
				 errmsg("session is tagged as agent \"%s\", which reads as agent id \"%s\" of registered role \"%s\"",
						tag, held, GetUserNameFromId(holder, true) ? GetUserNameFromId(holder, true) : "?"),
				 errdetail("Agent ids that differ only in case or in characters other than letters and digits read as one agent; role \"%s\" is not role \"%s\".",
						   GetUserNameFromId(GetSessionUserId(), false),
						   GetUserNameFromId(holder, true) ? GetUserNameFromId(holder, true) : "?"),
				 errhint("Tag the session with an agent id whose letters and digits no registered agent id has.")));
	if (OidIsValid(holder))
		ereport(ERROR,
				(errcode(ERRCODE_AG_IDENTITY_VIOLATION),
				 errmsg("session is tagged as agent \"%s\", the agent id of registered role \"%s\"",
						tag, GetUserNameFromId(holder, true) ? GetUserNameFromId(holder, true) : "?"),
				 errdetail("Role \"%s\" is not that role; only a registered role acts as its registered agent.",
						   GetUserNameFromId(GetSessionUserId(), false)),
				 errhint("Tag the session with an agent id that no registered role holds, or connect as role \"%s\".",
						 GetUserNameFromId(holder, true) ? GetUserNameFromId(holder, true) : "?")));
}

/*
 * The roles registered as agents in this database, cached like the session
 * user's lookup.  Sets *generation to the registry's generation (see
 * above).  Outside a live transaction, or where the extension is not
 * installed, returns -1: no agent known, and nothing to cache.
 */
int
ag_agent_roles(const Oid **out, uint64 *generation)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;
	int			cap;

	*generation = registry_generation;
	*out = roles;
	if (roles_valid)
		return nroles;
	if (!IsTransactionState() || IsAbortedTransactionBlockState() || !db_state_load())
		return -1;

	rel = table_open(db_agents_relid, AccessShareLock);
	cap = 8;
	if (roles != NULL)
		pfree(roles);
	roles = MemoryContextAlloc(ag_session_memory(), cap * sizeof(Oid));
	nroles = 0;
	/*
	 * The latest committed registry; in parallel mode (a worker, or the
	 * leader while workers run: a function call set up there asks) no new
	 * snapshot may be taken but the catalog snapshot.
	 */
	snap = RegisterSnapshot(IsInParallelMode() ? GetCatalogSnapshot(db_agents_relid) :
							GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);

		if (isnull)
			continue;
		if (nroles == cap)
		{
			cap *= 2;
			roles = repalloc(roles, cap * sizeof(Oid));
		}
		roles[nroles++] = DatumGetObjectId(d);
	}
	table_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);

	/* an invalidation that arrived while we read makes the list stale */
	roles_valid = (*generation == registry_generation);
	*out = roles;
	return nroles;
}

/*
 * The agents whose code a role's code is (agentcode.c: a registered agent
 * role, or a role one is a member of): the agent ids of the registered
 * roles that are the role or members of it, sorted, without duplicates.
 * NIL when none, or outside a live transaction.  Read from the latest
 * committed registry; the list is allocated in the caller's context.
 */
List *
ag_agent_ids_of_role(Oid role)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;
	List	   *ids = NIL;

	if (!IsTransactionState() || IsAbortedTransactionBlockState() || !db_state_load())
		return NIL;
	rel = table_open(db_agents_relid, AccessShareLock);
	snap = RegisterSnapshot(IsInParallelMode() ? GetCatalogSnapshot(db_agents_relid) :
							GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);
		Oid			r;

		if (isnull)
			continue;
		r = DatumGetObjectId(d);
		if (r != role && !is_member_of_role_nosuper(r, role))
			continue;
		d = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull);
		if (!isnull)
		{
			char	   *id = TextDatumGetCString(d);
			ListCell   *lc;
			int			pos = 0;
			bool		dup = false;

			/* sorted, once each */
			foreach(lc, ids)
			{
				int			c = strcmp((char *) lfirst(lc), id);

				if (c == 0)
					dup = true;
				if (c >= 0)
					break;
				pos++;
			}
			if (!dup)
				ids = list_insert_nth(ids, pos, id);
		}
	}
	table_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return ids;
}

/*
 * This server process is an agent's for the rest of its life (a registered
 * login role, or a session tag): no lookup, safe anywhere.
 */
bool
ag_process_is_agent(void)
{
	return latched_agent != NULL || latched_tag != NULL;
}

/*
 * This transaction is an agent's through a SET LOCAL tag alone: the
 * process is not the agent's beyond it (pooled.c keeps the transaction
 * from leaving anything behind for the process's next client).
 */
bool
ag_identity_xact_only(void)
{
	xact_refresh();
	return latched_agent == NULL && latched_tag == NULL && xact_tag != NULL;
}

/*
 * This session or transaction acts as an agent through a tag alone: its
 * session user is not a registered agent role (a shared role a harness
 * tags), so what it creates is owned by a role that is not an agent's.
 * Needs a live transaction (the registry lookup).
 */
bool
ag_identity_tagged_role(void)
{
	return ag_session_is_agent() && registration_lookup() == NULL;
}

/*
 * This transaction is tagged by SET LOCAL alone, and its tag was first set
 * for the transaction (SET LOCAL), not for the session: the harness chose
 * per-transaction tagging, and a session-level SET of the tag inside it
 * would latch the process as the agent for the clients that come after
 * (red team 18b, finding 1).  *since is the start of the statement that
 * set the tag.
 */
bool
ag_identity_tag_local(TimestampTz *since)
{
	if (!ag_identity_xact_only() || !xact_tag_local)
		return false;
	if (since != NULL)
		*since = xact_tag_time;
	return true;
}

/*
 * The predefined roles whose members cannot be agents (membership of any
 * kind, direct or through other roles, whatever its INHERIT): each reaches
 * past the guard.  Red team 36: an agent given pg_read_all_data read the
 * whole log; pg_write_all_data let it draw and restart the guard's own
 * sequences (a restarted request sequence made later refusals vanish from
 * the record); pg_signal_backend let it end the humans' sessions; and on
 * PostgreSQL 16+ pg_create_subscription let it subscribe to a server of its
 * own, whose apply worker, a replication worker, wrote protected rows
 * unstamped and unlogged (F06, F07).
 */
static const struct
{
	Oid			role;
	const char *why;
}			powerful_roles[] =
{
	{ROLE_PG_EXECUTE_SERVER_PROGRAM, "is a member of pg_execute_server_program"},
	{ROLE_PG_WRITE_SERVER_FILES, "is a member of pg_write_server_files"},
	{ROLE_PG_READ_SERVER_FILES, "is a member of pg_read_server_files"},
	{ROLE_PG_READ_ALL_DATA, "is a member of pg_read_all_data"},
	{ROLE_PG_WRITE_ALL_DATA, "is a member of pg_write_all_data"},
	{ROLE_PG_SIGNAL_BACKEND, "is a member of pg_signal_backend"},
	{AG_ROLE_PG_CREATE_SUBSCRIPTION, "is a member of pg_create_subscription"},
	/* red team 37, F11: LOCK, VACUUM FULL, REINDEX of the guard's tables */
	{AG_ROLE_PG_MAINTAIN, "is a member of pg_maintain"},
	{AG_ROLE_PG_SIGNAL_AUTOVACUUM_WORKER, "is a member of pg_signal_autovacuum_worker"},
};

/*
 * Why a role cannot be an agent, or NULL if it can.  A superuser can switch
 * every guard off; so can a role that can become one (membership in a
 * superuser role), one that can make roles (CREATEROLE: a fresh login that
 * is not an agent), one that bypasses row security (soft deletes hide rows
 * with it), and the predefined roles above.
 */
static const char *
role_power(Oid role)
{
	HeapTuple	tup;
	Form_pg_authid auth;
	const char *why = NULL;
	Relation	rel;
	SysScanDesc scan;
	size_t		i;

	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(role));
	if (!HeapTupleIsValid(tup))
		return "does not exist";
	auth = (Form_pg_authid) GETSTRUCT(tup);
	if (auth->rolsuper)
		why = "is a superuser";
	else if (auth->rolcreaterole)
		why = "has CREATEROLE";
	else if (auth->rolbypassrls)
		why = "has BYPASSRLS";
	else if (auth->rolreplication)
		why = "has REPLICATION";
	ReleaseSysCache(tup);
	if (why)
		return why;

	for (i = 0; i < lengthof(powerful_roles); i++)
		if (OidIsValid(powerful_roles[i].role) && is_member_of_role(role, powerful_roles[i].role))
			return powerful_roles[i].why;

	rel = table_open(AuthIdRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		auth = (Form_pg_authid) GETSTRUCT(tup);
		if ((auth->rolsuper || auth->rolcreaterole || auth->rolbypassrls) &&
			auth->oid != role && is_member_of_role(role, auth->oid))
		{
			why = "is a member of a role with superuser, CREATEROLE or BYPASSRLS";
			break;
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return why;
}

/* Refuse to make an agent of a role that could switch the guard off. */
static void
check_role_power(const char *agent)
{
	Oid			role = GetSessionUserId();
	const char *why = role_power(role);

	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_AG_IDENTITY_VIOLATION),
				 errmsg("role \"%s\" cannot act as agent \"%s\" because it %s",
						GetUserNameFromId(role, false), agent, why),
				 errdetail("Such a role can switch the guard off or reach past it."),
				 errhint("Connect the agent as a role without these powers.")));
}

/*
 * A statement that started as a human's write of a protected table writes
 * as a human's to its end: capture.c took the capture trigger out of its
 * result relations (ag_capture_skip_human), so rows it wrote as an agent's
 * would be stamped but not logged.  A tag set inside such a statement is
 * refused by check_agent_id; what would still latch in the middle (a
 * registration of the session's role committed while it runs) is refused
 * here, and the statement with it.
 */
static void
refuse_inside_human_write(const char *agent)
{
	if (human_pins == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_AG_IDENTITY_VIOLATION),
			 errmsg("cannot act as agent \"%s\" inside a statement that writes a protected table as a human's",
					agent),
			 errdetail("The statement started as a write of role \"%s\", which is not an agent: its rows are that role's to its end, not stamped and not logged.",
					   GetUserNameFromId(GetSessionUserId(), false)),
			 errhint("Tag the transaction with SET LOCAL agent_guard.agent_id before the statement, not inside it.")));
}

static void
unpin_human(void *arg)
{
	uint64		generation = *(uint64 *) arg;

	if (generation == pin_generation && human_pins > 0)
		human_pins--;
}

/*
 * The running statement, whose executor state lives in query_cxt, started
 * as a human's and relies on staying one until query_cxt goes (ExecutorEnd,
 * or the abort that ends the statement).
 */
void
ag_identity_pin_human(MemoryContext query_cxt)
{
	MemoryContextCallback *cb;
	uint64	   *generation;

	cb = MemoryContextAlloc(query_cxt, sizeof(MemoryContextCallback) + sizeof(uint64));
	generation = (uint64 *) (cb + 1);
	*generation = pin_generation;
	cb->func = unpin_human;
	cb->arg = generation;
	MemoryContextRegisterResetCallback(query_cxt, cb);
	human_pins++;
}

/*
 * Decide whether this session (or transaction) is an agent's, latching the
 * answer.  Needs a live transaction for the registry lookup; outside one
 * (or in an aborted one) only an already latched identity counts.
 */
static void
identity_resolve(void)
{
	const char *registered = NULL;
	const char *tag;

	if (latched_agent != NULL)
		return;

	/*
	 * The registry lookup and the role checks need a live transaction.
	 * Outside one nothing runs that the guard must see; the next statement
	 * resolves the identity.
	 */
	if (!IsTransactionState() || IsAbortedTransactionBlockState())
		return;
	latch_surviving_tag();
	registered = registration_lookup();
	tag = latched_tag ? latched_tag : xact_tag;

	if (registered != NULL)
	{
		if (tag != NULL && strcmp(tag, registered) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_AG_IDENTITY_VIOLATION),
					 errmsg("session is tagged as agent \"%s\" but its role is registered as agent \"%s\"",
							tag, registered),
					 errdetail("Role \"%s\" is registered with agent_guard.register_agent(); a registered role always acts as its registered agent.",
							   GetUserNameFromId(GetSessionUserId(), false)),
					 errhint("Remove agent_guard.agent_id from the connection options, or set it to \"%s\".",
							 registered)));
		if (!superuser_arg(GetSessionUserId()))
			check_role_power(registered);
		refuse_inside_human_write(registered);
		latched_agent = latch_copy(registered);
		ResetPlanCache();
	}
	else if (latched_tag != NULL)
	{
		if (!superuser_arg(GetSessionUserId()))
			check_role_power(latched_tag);
		check_tag_unclaimed(latched_tag);
		refuse_inside_human_write(latched_tag);
		latched_agent = latch_copy(latched_tag);
		ResetPlanCache();
	}
	else if (xact_tag != NULL && xact_agent == NULL)
	{
		if (!superuser_arg(GetSessionUserId()))
			check_role_power(xact_tag);
		check_tag_unclaimed(xact_tag);
		refuse_inside_human_write(xact_tag);
		xact_agent = latch_copy(xact_tag);
	}
}

/*
 * Called at the start of every top-level statement and before any guard
 * decision: resolve the identity and refuse superuser agent sessions.
 */
void
ag_identity_enforce(void)
{
	const char *agent;

	identity_resolve();

	agent = acting_agent();
	if (agent == NULL)
		return;

	if (superuser_arg(GetSessionUserId()) || superuser_arg(GetOuterUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_AG_IDENTITY_VIOLATION),
				 errmsg("a superuser session cannot be an agent session"),
				 errdetail("This session acts as agent \"%s\" while role \"%s\" is a superuser; a superuser can switch every guard off.",
						   agent,
						   GetUserNameFromId(superuser_arg(GetOuterUserId()) ?
											 GetOuterUserId() : GetSessionUserId(), false)),
				 errhint("Connect the agent as a role without superuser and register it with agent_guard.register_agent().")));
}

/*
 * Already known to be an agent session or transaction (no lookup; safe in
 * any hook).
 */
bool
ag_agent_latched(void)
{
	return acting_agent() != NULL;
}

bool
ag_session_is_agent(void)
{
	ag_identity_enforce();
	return acting_agent() != NULL;
}

const char *
ag_current_agent(void)
{
	ag_identity_enforce();
	return acting_agent();
}

/*
 * Random bytes for generated run ids, drawn from pg_strong_random() in
 * batches: one call costs about 10k instructions (OpenSSL's RAND_bytes:
 * its locks and the DRBG's per-call setup), whatever the length, and with
 * the default generated_runs = transaction every agent transaction takes a
 * run id.  Every byte still comes from the strong generator and is used for
 * one run id only (then wiped), so the ids are as unique and as hard to
 * predict as when each drew its own: knowing earlier ids of this process
 * tells nothing about the next ones.  The buffer is this process's: it is
 * filled at the first use in a backend, never in the postmaster, so no two
 * forked processes share bytes.
 */
#define RUN_RANDOM_BYTES 6
#define RUN_RANDOM_BATCH 64
static uint8 run_random[RUN_RANDOM_BYTES * RUN_RANDOM_BATCH];
static int	run_random_used = RUN_RANDOM_BATCH;
static int	run_random_pid = 0;

static void
take_run_random(uint8 *out)
{
	uint8	   *p;

	if (run_random_used >= RUN_RANDOM_BATCH || run_random_pid != MyProcPid)
	{
		if (!pg_strong_random(run_random, sizeof(run_random)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random run id")));
		run_random_used = 0;
		run_random_pid = MyProcPid;
	}
	p = run_random + (Size) RUN_RANDOM_BYTES * run_random_used++;
	memcpy(out, p, RUN_RANDOM_BYTES);
	memset(p, 0, RUN_RANDOM_BYTES);
}

/*
 * A run id nobody set: time of first use plus 48 random bits, so runs of
 * one agent sort by start and never collide in practice: "run-", the UTC
 * time as YYYYMMDDTHHMMSSZ, "-" and 12 hex digits.  The time part is
 * formatted once a second.
 */
static char *
generate_run_id(void)
{
	static pg_time_t prefix_time = -1;
	static char prefix[32];
	static const char hex[] = "0123456789abcdef";
	uint8		rnd[RUN_RANDOM_BYTES];
	char		buf[64];
	size_t		plen;
	pg_time_t	now = (pg_time_t) time(NULL);
	int			i;

	if (now != prefix_time)
	{
		struct pg_tm *tm = pg_gmtime(&now);

		snprintf(prefix, sizeof(prefix), "run-%04d%02d%02dT%02d%02d%02dZ",
				 tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday,
				 tm->tm_hour, tm->tm_min, tm->tm_sec);
		prefix_time = now;
	}
	take_run_random(rnd);
	/* "<prefix>-" and the bytes in hex, without snprintf (2k instructions) */
	plen = strlen(prefix);
	memcpy(buf, prefix, plen);
	buf[plen++] = '-';
	for (i = 0; i < RUN_RANDOM_BYTES; i++)
	{
		buf[plen++] = hex[rnd[i] >> 4];
		buf[plen++] = hex[rnd[i] & 0x0f];
	}
	buf[plen] = '\0';
	return latch_copy(buf);
}

/*
 * The run this transaction writes under.  With for_write the run is fixed
 * for the rest of the transaction: from its first agent write on it can no
 * longer change.  Outside a live transaction (end-of-transaction callbacks)
 * the ending transaction's run is returned.
 */
const char *
ag_current_run(bool for_write)
{
	const char *run;

	if (ag_current_agent() == NULL)
		return NULL;
	xact_refresh();
	if (xact_run != NULL)
		return xact_run;

	if (guc_run_id != NULL && guc_run_id[0] != '\0')
		run = guc_run_id;
	else if (generated_runs == GENERATED_RUNS_SESSION)
	{
		if (session_run == NULL)
			session_run = generate_run_id();
		run = session_run;
	}
	else
	{
		if (xact_gen_run == NULL)
			xact_gen_run = generate_run_id();
		run = xact_gen_run;
	}
	if (for_write && IsTransactionState())
		xact_run = latch_copy(run);
	return run;
}

/*
 * Is run the run generated for this transaction (generated_runs =
 * transaction)?  Nobody else knows it before this transaction writes under
 * it, so it cannot have been tripped or written by anyone yet (gate.c).
 */
bool
ag_run_generated_in_xact(const char *run)
{
	xact_refresh();
	return run != NULL && xact_gen_run != NULL && strcmp(run, xact_gen_run) == 0;
}

void
ag_identity_init(void)
{
	DefineCustomStringVariable("agent_guard.agent_id",
							   gettext_noop("Tags this session, or with SET LOCAL this transaction, as acting for the given agent."),
							   gettext_noop("Set by an agent harness. In the connection options or with SET it holds for the server process's life; "
											"with SET LOCAL it tags that transaction only. An agent session or transaction cannot change or drop its agent id."),
							   &guc_agent_id,
							   "",
							   PGC_USERSET,
							   GUC_NO_RESET_ALL | GUC_NOT_IN_SAMPLE,
							   check_agent_id, assign_agent_id, NULL);

	DefineCustomStringVariable("agent_guard.run_id",
							   gettext_noop("Labels the agent run this session's or transaction's writes belong to."),
							   gettext_noop("A transaction's run is fixed at its first write. Unlabelled agent writes get a generated run "
											"(see agent_guard.generated_runs)."),
							   &guc_run_id,
							   "",
							   PGC_USERSET,
							   GUC_NOT_IN_SAMPLE,
							   check_run_id, assign_run_id, NULL);

	DefineCustomEnumVariable("agent_guard.generated_runs",
							 gettext_noop("Scope of the run an unlabelled agent write gets: \"transaction\" or \"session\"."),
							 gettext_noop("\"transaction\" (the default) makes a new run for each transaction, so that clients sharing "
										  "a server process through a transaction pooler are never merged into one run. \"session\" keeps one "
										  "generated run until agent_guard.run_id is set or reset (RESET, RESET ALL, DISCARD ALL)."),
							 &generated_runs,
							 GENERATED_RUNS_TRANSACTION,
							 generated_runs_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	CacheRegisterRelcacheCallback(identity_relcache_callback, (Datum) 0);
	RegisterXactCallback(identity_xact_callback, NULL);
}

/* SQL: agent_guard.current_agent() returns text */
PG_FUNCTION_INFO_V1(ag_sql_current_agent);
Datum
ag_sql_current_agent(PG_FUNCTION_ARGS)
{
	const char *a = ag_current_agent();

	if (a == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(a));
}

/* SQL: agent_guard.current_run() returns text */
PG_FUNCTION_INFO_V1(ag_sql_current_run);
Datum
ag_sql_current_run(PG_FUNCTION_ARGS)
{
	const char *r = ag_current_run(false);

	if (r == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(r));
}

/* SQL: agent_guard.in_agent_session() returns boolean */
PG_FUNCTION_INFO_V1(ag_sql_in_agent_session);
Datum
ag_sql_in_agent_session(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(ag_session_is_agent());
}

/*
 * SQL: agent_guard.calling_role() returns regrole.  The role the caller
 * acts as outside any SECURITY DEFINER function (current_user after SET
 * ROLE); our SECURITY DEFINER functions check ownership against it.
 */
PG_FUNCTION_INFO_V1(ag_sql_calling_role);
Datum
ag_sql_calling_role(PG_FUNCTION_ARGS)
{
	PG_RETURN_OID(GetOuterUserId());
}

/*
 * Statement trigger on agent_guard.registered_agents: tell every backend
 * (at commit) to drop its cached registration lookup.
 */
PG_FUNCTION_INFO_V1(ag_registry_changed);
Datum
ag_registry_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "ag_registry_changed: not fired by trigger manager");
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}

/*
 * SQL: agent_guard._role_power(regrole) returns text: why the role may not
 * be registered as an agent, or NULL.
 */
PG_FUNCTION_INFO_V1(ag_sql_role_power);
Datum
ag_sql_role_power(PG_FUNCTION_ARGS)
{
	const char *why = role_power(PG_GETARG_OID(0));

	if (why == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(why));
}
