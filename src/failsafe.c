/*-------------------------------------------------------------------------
 * failsafe.c
 *		What holds when the extension is installed but the library is not
 *		preloaded: agents are refused, humans go on.
 *
 * The guard's hooks exist only when agent_guard is in
 * shared_preload_libraries.  A configuration rewrite, an upgrade or a typo
 * can drop it from there while the extension stays installed; the server
 * then runs with no hooks at all.  What still runs lives in the catalog:
 * the row triggers of protected tables (stamp, capture), their statement
 * TRUNCATE trigger, and the extension's event trigger on DDL.  Each of them
 * loads the library (quietly then: _PG_init installs no hook) and asks
 * ag_preloaded, a variable of this process that only _PG_init running
 * inside shared_preload_libraries processing sets.  No setting, SET or
 * placeholder GUC reaches it, so an agent cannot make the guard look
 * loaded.  When it is not loaded:
 *	- an agent session's write to a protected table (row triggers), its
 *	  TRUNCATE of one (statement trigger) and all its DDL (event trigger,
 *	  which cannot tell a protected target from another one before the
 *	  command runs) are refused, YG009, with a hint that names the fix;
 *	- a human's statement runs as it would with the guard: the stamps are
 *	  set to NULL and nothing is logged, as for any human write;
 *	- each server process warns once, in the server log and to its client,
 *	  at the first statement that meets one of these mechanisms.
 * Writes of agents to tables that are not protected cannot be seen without
 * the hooks; only the preload brings back the gates there.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/event_trigger.h"
#include "commands/dbcommands.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "tcop/cmdtag.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/rel.h"

#include "agent_guard.h"
#include "compat.h"
#include "failsafe.h"

static bool warned = false;

/* Where the running value of shared_preload_libraries comes from. */
static GucSource
preload_source(void)
{
	int			n;
	struct config_generic **vars = ag_guc_variables(&n);
	int			i;

	for (i = 0; i < n; i++)
		if (strcmp(vars[i]->name, "shared_preload_libraries") == 0)
			return vars[i]->source;
	return PGC_S_DEFAULT;
}

/*
 * The way back: the ALTER SYSTEM line that adds agent_guard to what is in
 * shared_preload_libraries now (never a line that would replace the list).
 */
char *
ag_preload_hint(void)
{
	const char *current = GetConfigOption("shared_preload_libraries", true, false);
	StringInfoData list;
	const char *p;

	initStringInfo(&list);
	if (current != NULL)
	{
		/* trim, and double the quotes for the SQL literal */
		while (*current == ' ')
			current++;
		for (p = current; *p; p++)
		{
			if (*p == '\'')
				appendStringInfoChar(&list, '\'');
			appendStringInfoChar(&list, *p);
		}
		while (list.len > 0 && list.data[list.len - 1] == ' ')
			list.data[--list.len] = '\0';
	}
	if (list.len > 0)
		appendStringInfoString(&list, ", ");
	appendStringInfoString(&list, "agent_guard");

	/*
	 * A value from the server's command line (-c, as container images and
	 * service overrides pass it) overrides postgresql.auto.conf: ALTER
	 * SYSTEM would not bring the guard back (red team 18b, finding 9).
	 */
	if (preload_source() == PGC_S_ARGV)
		return psprintf("\"shared_preload_libraries\" is set on the server's command line, which overrides ALTER SYSTEM and the configuration files: add agent_guard there (-c shared_preload_libraries='%s') and restart the server.",
						list.data);
	return psprintf("Add agent_guard to \"shared_preload_libraries\" (ALTER SYSTEM SET shared_preload_libraries = '%s') and restart the server.",
					list.data);
}

/* Once per server process: say in the log that the guard is not there. */
static void
warn_unloaded(void)
{
	if (warned)
		return;
	warned = true;
	ereport(WARNING,
			(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
			 errmsg("agent_guard is installed in database \"%s\" but not loaded",
					get_database_name(MyDatabaseId)),
			 errdetail("agent_guard is not in \"shared_preload_libraries\": agents' writes to protected tables and their DDL are refused, and nothing is logged."),
			 errhint("%s", ag_preload_hint())));
}

/*
 * Called by every catalog mechanism before it does its work: returns when
 * the guard is loaded or the session is a human's; refuses an agent's
 * statement otherwise.  what completes "cannot ...".
 */
void
ag_failsafe_check(const char *what)
{
	const char *agent;

	if (ag_preloaded || IsBinaryUpgrade)
		return;
	agent = ag_current_agent();
	warn_unloaded();
	if (agent == NULL)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
			 errmsg("agent_guard is not loaded, so agent \"%s\" cannot %s", agent, what),
			 errdetail("agent_guard is installed in database \"%s\" but is not in \"shared_preload_libraries\"; without it the guard cannot see agent statements, so it refuses them.",
					   get_database_name(MyDatabaseId)),
			 errhint("%s", ag_preload_hint())));
}

/*
 * agent_guard._failsafe_ddl(): event trigger on ddl_command_start.  With the
 * guard loaded the utility hook has judged the command already.
 */
PG_FUNCTION_INFO_V1(ag_failsafe_ddl);
Datum
ag_failsafe_ddl(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "ag_failsafe_ddl: not fired by event trigger manager");
	if (ag_preloaded)
		PG_RETURN_VOID();
	trigdata = (EventTriggerData *) fcinfo->context;
	ag_failsafe_check(psprintf("run %s", GetCommandTagName(trigdata->tag)));
	PG_RETURN_VOID();
}

/*
 * agent_guard._failsafe_truncate(): BEFORE TRUNCATE FOR EACH STATEMENT on a
 * protected table.  TRUNCATE fires no event trigger and no row trigger.
 */
PG_FUNCTION_INFO_V1(ag_failsafe_truncate);
Datum
ag_failsafe_truncate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		elog(ERROR, "ag_failsafe_truncate: must be fired for TRUNCATE");
	if (!ag_preloaded)
		ag_failsafe_check(psprintf("truncate table \"%s\"",
								   RelationGetRelationName(trigdata->tg_relation)));
	return PointerGetDatum(NULL);
}

/*
 * agent_guard._require_preload(): the install script's first act, so that
 * CREATE EXTENSION without the preload stops with the way to fix it.
 */
PG_FUNCTION_INFO_V1(ag_require_preload);
Datum
ag_require_preload(PG_FUNCTION_ARGS)
{
	if (!ag_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("agent_guard must be loaded via \"shared_preload_libraries\""),
				 errdetail("The guard has to see every statement of every session, so it cannot be loaded into a running session."),
				 errhint("%s Then run CREATE EXTENSION agent_guard again.", ag_preload_hint())));
	PG_RETURN_VOID();
}
