/*-------------------------------------------------------------------------
 * approved.c
 *		Destructive statements that wait for a human: whether the agent
 *		could run one at all, and the record of one that ran.
 *
 * A request is worth a human's attention only when its statement can run
 * once approved.  An agent's DROP of a table it does not own used to
 * become a request, and after approval the retry failed with "must be
 * owner".  The gate asks ag_agent_could() and its siblings first, with
 * PostgreSQL's own rules for the statement (ownership of the relation or
 * its schema for DROP and ALTER, the TRUNCATE privilege for TRUNCATE,
 * ownership of the database for DROP DATABASE, the privileges of each role
 * for DROP OWNED, ownership of the type or its schema for DROP TYPE and
 * DROP DOMAIN, of the type for ALTER DOMAIN and ALTER TYPE); when the
 * answer is no it records nothing and lets the statement go on to
 * PostgreSQL, which refuses it with its own error.  The check mirrors PostgreSQL's, never
 * anything looser, so a "no" here is always a refusal there.
 *
 * A statement that ran after approval (DROP, TRUNCATE, ...) changes no row
 * the capture trigger sees, so on its own it left no trace in the log.
 * ag_approved_record() writes an EXECUTED event in the agent's transaction,
 * before the statement runs (so the relations still exist): which request,
 * who approved it and when, the statement, and each relation it drops or
 * empties with the rows it held.  The event commits, or vanishes, with the
 * statement.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_inherits.h"
#include "executor/tuptable.h"
#include "utils/snapmgr.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "approved.h"
#include "compat.h"
#include "worker.h"

/* Above this many pages the rows are PostgreSQL's estimate, not a count. */
#define AG_COUNT_MAX_PAGES 10000

/*
 * Could the agent (the current role) run this destructive act on relid,
 * as far as PostgreSQL's privilege checks go?  An unknown relation: yes
 * (PostgreSQL reports it, or the gate goes on with its request).
 */
bool
ag_agent_could(AgDestructiveAct act, Oid relid)
{
	Oid			user = GetUserId();
	Oid			nsp;

	if (!OidIsValid(relid) || !SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return true;
	switch (act)
	{
		case AG_ACT_TRUNCATE:
			/* truncate_check_perms() */
			return pg_class_aclcheck(relid, user, ACL_TRUNCATE) == ACLCHECK_OK;
		case AG_ACT_DROP:
			/* RangeVarCallbackForDropRelation(): owner of it or of its schema */
			nsp = get_rel_namespace(relid);
			return AG_REL_OWNER(relid, user) || AG_NSP_OWNER(nsp, user);
		case AG_ACT_ALTER:
			/* ALTER TABLE, RENAME, SET SCHEMA: owner of the relation */
			return AG_REL_OWNER(relid, user);
	}
	return true;
}

/*
 * DROP DATABASE: dropdb() wants the owner of the database.  An unknown
 * database: yes (PostgreSQL reports it, or IF EXISTS skips it).
 */
bool
ag_agent_could_drop_database(const char *dbname)
{
	Oid			db = get_database_oid(dbname, true);

	return !OidIsValid(db) || AG_DATABASE_OWNERCHECK(db, GetUserId());
}

/*
 * DROP OWNED BY: DropOwnedObjects() wants the privileges of every role
 * named.  An unknown role: yes (PostgreSQL reports it).
 */
bool
ag_agent_could_drop_owned(List *roles)
{
	ListCell   *lc;

	foreach(lc, roles)
	{
		Oid			role = get_rolespec_oid(lfirst_node(RoleSpec, lc), true);

		if (OidIsValid(role) && !has_privs_of_role(GetUserId(), role))
			return false;
	}
	return true;
}

/*
 * DROP TYPE / DROP DOMAIN: RemoveObjects() lets the owner of the schema
 * drop it, else check_object_ownership() wants the owner of the type.
 */
bool
ag_agent_could_drop_type(Oid typid)
{
	HeapTuple	tup;
	Oid			nsp;

	if (!OidIsValid(typid))
		return true;
	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	if (!HeapTupleIsValid(tup))
		return true;
	nsp = ((Form_pg_type) GETSTRUCT(tup))->typnamespace;
	ReleaseSysCache(tup);
	return AG_NSP_OWNER(nsp, GetUserId()) || AG_TYPE_OWNER(typid, GetUserId());
}

/*
 * ALTER DOMAIN, ALTER TYPE ... RENAME VALUE: checkDomainOwner() and
 * checkEnumOwner() want the owner of the type.
 */
bool
ag_agent_owns_type(Oid typid)
{
	if (!OidIsValid(typid) || !SearchSysCacheExists1(TYPEOID, ObjectIdGetDatum(typid)))
		return true;
	return AG_TYPE_OWNER(typid, GetUserId());
}

/*
 * The visible rows of one relation with storage, scanned directly: no
 * query is planned, so no function of the table's (an index expression
 * the planner would fold, red team 9, finding 6), no row security and no
 * rule runs, whoever the table's owner.
 */
static int64
scan_rows(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	TableScanDesc scan = table_beginscan(rel, snapshot, 0, NULL);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	int64		n = 0;

	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		CHECK_FOR_INTERRUPTS();
		n++;
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return n;
}

/*
 * The rows of a relation the statement is about to drop or empty: counted
 * (scan_rows; a partitioned table's are its partitions'), or PostgreSQL's
 * estimate for a large one.  Sets *estimated.
 */
static int64
relation_rows(Oid relid, bool *estimated)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class cls;
	char		kind;
	BlockNumber pages;
	float4		tuples;
	int64		n = 0;
	ListCell   *lc;

	*estimated = false;
	if (!HeapTupleIsValid(tup))
		return -1;
	cls = (Form_pg_class) GETSTRUCT(tup);
	kind = cls->relkind;
	pages = cls->relpages;
	tuples = cls->reltuples;
	ReleaseSysCache(tup);

	if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE &&
		kind != RELKIND_MATVIEW)
		return -1;
	if (kind != RELKIND_PARTITIONED_TABLE && pages > AG_COUNT_MAX_PAGES)
	{
		*estimated = true;
		return tuples < 0 ? -1 : (int64) tuples;
	}
	if (kind != RELKIND_PARTITIONED_TABLE)
		return scan_rows(relid);
	foreach(lc, find_all_inheritors(relid, AccessShareLock, NULL))
	{
		Oid			part = lfirst_oid(lc);
		bool		part_estimated;
		int64		rows;

		if (part == relid || get_rel_relkind(part) == RELKIND_PARTITIONED_TABLE)
			continue;
		rows = relation_rows(part, &part_estimated);
		if (rows < 0)
			return -1;
		n += rows;
		*estimated |= part_estimated;
	}
	return n;
}

/* The relations as a jsonb array: [{"relation": ..., "rows": ...}, ...]. */
static char *
targets_json(List *relids)
{
	StringInfoData targets;
	ListCell   *lc;
	bool		first = true;

	initStringInfo(&targets);
	appendStringInfoChar(&targets, '[');
	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		bool		estimated;
		int64		rows;
		char	   *name;

		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			continue;
		rows = relation_rows(relid, &estimated);
		name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										  get_rel_name(relid));
		appendStringInfo(&targets, "%s{\"relation\": ", first ? "" : ", ");
		escape_json(&targets, name);
		if (rows >= 0)
			appendStringInfo(&targets, ", \"rows\": " INT64_FORMAT "%s}", rows,
							 estimated ? ", \"rows_estimated\": true" : "");
		else
			appendStringInfoChar(&targets, '}');
		first = false;
	}
	appendStringInfoChar(&targets, ']');
	return targets.data;
}

/*
 * Write the EXECUTED event of an approved request that is about to run.
 * what is the statement's command ("DROP", "TRUNCATE", ...); relids the
 * relations it drops or empties (may be NIL).
 */
void
ag_approved_record(int64 request_id, const char *what, List *relids)
{
	Oid			save_userid;
	int			save_sec;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "agent_guard: SPI_connect failed");
	SetUserIdAndSecContext(ag_extension_owner(),
						   save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
		Datum		values[3];
		int			rc;

		values[0] = Int64GetDatum(request_id);
		values[1] = CStringGetTextDatum(what);
		values[2] = CStringGetTextDatum(targets_json(relids));
		rc = SPI_execute_with_args("SELECT agent_guard._executed($1, $2, $3::jsonb)",
								   3, types, values, NULL, false, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "agent_guard: could not record approved request " INT64_FORMAT ": %s",
				 request_id, SPI_result_code_string(rc));
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	SPI_finish();
	ag_worker_note_event();
}
