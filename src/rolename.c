/*-------------------------------------------------------------------------
 * rolename.c
 *		A role created or renamed to the name of an agent's schema (red team
 *		19, finding 3).
 *
 * A schema named after a role is that role's "$user" schema, first on the
 * default search_path.  structure.c refuses an agent's schema named after
 * any role but its own; but a role made later, or renamed, to the name of
 * a schema an agent already has (an agent can create future_dba, dba,
 * analyst ahead of time) gets the agent's schema as its first one: its
 * unqualified names resolve to the agent's tables and functions.
 *
 * So CREATE ROLE (USER, GROUP) and ALTER ROLE ... RENAME TO are refused
 * (YG004), in any session, when a schema of the new name exists that an
 * agent role owns (a registered agent role, or one such a role is a
 * member of) other than the role itself.  Judged in the object-access
 * hook once the role's row is written (OAT_POST_CREATE; OAT_POST_ALTER
 * when the name changed), so that every path (a DO block, a function)
 * is covered.  Cost: a catalog row read and a syscache probe per role
 * created or altered, while the extension is installed.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_namespace.h"
#include "miscadmin.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "agentcode.h"
#include "rolename.h"

/* From the object-access hook (hooks.c). */
void
ag_rolename_object_access(ObjectAccessType access, Oid classId, Oid objectId, int subId)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *name = NULL;
	Oid			nsp;
	Oid			owner;
	char	   *ownername;

	if (classId != AuthIdRelationId || subId != 0 ||
		(access != OAT_POST_CREATE && access != OAT_POST_ALTER) ||
		!IsTransactionState() || IsAbortedTransactionBlockState() ||
		!OidIsValid(ag_guard_namespace()))
		return;

	/* the row as this command left it: the syscache does not see it yet */
	rel = table_open(AuthIdRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_authid_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(objectId));
	scan = systable_beginscan(rel, AuthIdOidIndexId, true, SnapshotSelf, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		name = pstrdup(NameStr(((Form_pg_authid) GETSTRUCT(tup))->rolname));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (name == NULL)
		return;

	/* an altered role counts only when its name changed */
	if (access == OAT_POST_ALTER)
	{
		HeapTuple	before = SearchSysCache1(AUTHOID, ObjectIdGetDatum(objectId));
		bool		same = false;

		if (HeapTupleIsValid(before))
		{
			same = strcmp(NameStr(((Form_pg_authid) GETSTRUCT(before))->rolname), name) == 0;
			ReleaseSysCache(before);
		}
		if (same)
			return;
	}

	nsp = get_namespace_oid(name, true);
	if (!OidIsValid(nsp))
		return;
	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	if (!HeapTupleIsValid(tup))
		return;
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	if (owner == objectId || !ag_agentcode_role_is_agent(owner))
		return;

	ownername = GetUserNameFromId(owner, true);
	ereport(ERROR,
			(errcode(ERRCODE_AG_GUARD_PROTECTED),
			 errmsg("role name \"%s\" is the name of a schema of agent role \"%s\"",
					name, ownername ? ownername : "?"),
			 errdetail("Schema \"%s\", owned by agent role \"%s\", would be the \"$user\" schema of role \"%s\", first on its default search_path: the role's unqualified names would resolve to the agent's objects.",
					   name, ownername ? ownername : "?", name),
			 errhint("Drop or rename schema \"%s\" first, or pick another role name.", name)));
}
