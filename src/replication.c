/*-------------------------------------------------------------------------
 * replication.c
 *		The guard's own tables under logical replication.
 *
 * A publication FOR ALL TABLES ships every table of the database, the
 * guard's own included, and a subscriber needs every shipped table.  A
 * subscriber that has the extension has its own guard, its own log and its
 * own chain: the publisher's rows must not be applied there (the one row of
 * agent_guard.chain_state would collide with the subscriber's, and the
 * apply worker would fail and retry for ever; events would interleave two
 * chains).  So every table of the extension has a row trigger, enabled for
 * replica sessions only (ALTER TABLE ... ENABLE REPLICA TRIGGER), that
 * drops the row when a logical replication worker (apply or table sync)
 * writes it.  Ordinary sessions never fire it (session_replication_role is
 * "origin"), so the agents' write path pays nothing; a superuser session
 * that sets session_replication_role = replica gets its rows written as
 * usual.  The publisher's log stays on the publisher (and on its physical
 * standbys).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "replication/logicalworker.h"

#include "agent_guard.h"

PG_FUNCTION_INFO_V1(ag_replicated_row);
Datum
ag_replicated_row(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "ag_replicated_row: not fired by trigger manager");
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event))
		elog(ERROR, "ag_replicated_row: must be fired before each row");

	if (IsLogicalWorker())
		return PointerGetDatum(NULL);	/* the subscriber keeps its own */

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		return PointerGetDatum(trigdata->tg_newtuple);
	return PointerGetDatum(trigdata->tg_trigtuple);
}
