/*-------------------------------------------------------------------------
 * compat.h
 *		Every difference between the PostgreSQL versions agent_guard builds
 *		against (14 to 18), and nothing else.
 *
 * Version drift is absorbed here once, so the rest of the code reads as if
 * there were a single server version.
 *-------------------------------------------------------------------------
 */
#ifndef AG_COMPAT_H
#define AG_COMPAT_H

#include "postgres.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#if PG_VERSION_NUM < 140000
#error "agent_guard requires PostgreSQL 14 or later"
#endif

/*
 * 18 marks a function that never returns with pg_noreturn before the
 * declaration; earlier versions with pg_attribute_noreturn() after it.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/* MarkGUCPrefixReserved() is new in 15; 14 has the older name. */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* 16 folded the per-kind ACL checks into object_aclcheck(). */
#if PG_VERSION_NUM >= 160000
#define AG_PROC_ACLCHECK(fn, role, mode) \
	object_aclcheck(ProcedureRelationId, (fn), (role), (mode))
#else
#define AG_PROC_ACLCHECK(fn, role, mode) pg_proc_aclcheck((fn), (role), (mode))
#endif

#if PG_VERSION_NUM >= 160000
#define AG_NAMESPACE_ACLCHECK(nsp, role, mode) \
	object_aclcheck(NamespaceRelationId, (nsp), (role), (mode))
#else
#define AG_NAMESPACE_ACLCHECK(nsp, role, mode) pg_namespace_aclcheck((nsp), (role), (mode))
#endif

/* 16 made pg_create_subscription; before it only superusers subscribe. */
#if PG_VERSION_NUM >= 160000
#define AG_ROLE_PG_CREATE_SUBSCRIPTION ROLE_PG_CREATE_SUBSCRIPTION
#else
#define AG_ROLE_PG_CREATE_SUBSCRIPTION InvalidOid
#endif
/* 17 made pg_maintain (VACUUM, LOCK, REINDEX of every table), 18 pg_signal_autovacuum_worker. */
#if PG_VERSION_NUM >= 170000
#define AG_ROLE_PG_MAINTAIN ROLE_PG_MAINTAIN
#else
#define AG_ROLE_PG_MAINTAIN InvalidOid
#endif
#if PG_VERSION_NUM >= 180000
#define AG_ROLE_PG_SIGNAL_AUTOVACUUM_WORKER ROLE_PG_SIGNAL_AUTOVACUUM_WORKER
#else
#define AG_ROLE_PG_SIGNAL_AUTOVACUUM_WORKER InvalidOid
#endif

/* range_serialize() takes a soft-error context from 16 on. */
#if PG_VERSION_NUM >= 160000
#define AG_RANGE_SERIALIZE(typcache, lower, upper) range_serialize((typcache), (lower), (upper), false, NULL)
#else
#define AG_RANGE_SERIALIZE(typcache, lower, upper) range_serialize((typcache), (lower), (upper), false)
#endif

/* 16 made get_guc_variables() return the count too. */
#if PG_VERSION_NUM >= 160000
#define ag_guc_variables(n) get_guc_variables(n)
#else
#define ag_guc_variables(n) (*(n) = GetNumConfigOptions(), get_guc_variables())
#endif

/* MERGE is new in 15. */
#if PG_VERSION_NUM >= 150000
#define AG_HAVE_MERGE 1
#endif

/*
 * MERGE's WHEN NOT MATCHED BY SOURCE is new in 17: MergeAction.matchKind
 * replaced .matched, and the ON condition moved from the join tree into
 * Query.mergeJoinCondition.
 */
#if PG_VERSION_NUM >= 170000
#define AG_MERGE_ACTION_MATCHED(a) ((a)->matchKind == MERGE_WHEN_MATCHED)
#define AG_MERGE_ACTION_BY_SOURCE(a) ((a)->matchKind == MERGE_WHEN_NOT_MATCHED_BY_SOURCE)
#define AG_MERGE_JOIN_CONDITION(q) ((q)->mergeJoinCondition)
#elif PG_VERSION_NUM >= 150000
#define AG_MERGE_ACTION_MATCHED(a) ((a)->matched)
#define AG_MERGE_ACTION_BY_SOURCE(a) false
#define AG_MERGE_JOIN_CONDITION(q) ((Node *) NULL)
#endif

/*
 * RETURNING old.* / new.* is new in 18: a Var says which side it reads
 * (varreturningtype), and the rewriter wraps a view's expressions for
 * one side in a ReturningExpr.
 */
#if PG_VERSION_NUM >= 180000
#define AG_HAVE_RETURNING_OLD_NEW 1
#define AG_VAR_RETURNS_NEW(v) ((v)->varreturningtype == VAR_RETURNING_NEW)
#else
#define AG_VAR_RETURNS_NEW(v) false
#endif

/* ALTER TABLE ... ALTER COLUMN ... SET EXPRESSION is new in 17. */
#if PG_VERSION_NUM >= 170000
#define AG_HAVE_SET_EXPRESSION 1
#endif

/* ALTER TABLE ... ALTER CONSTRAINT: 18 gave it a node of its own. */
#if PG_VERSION_NUM >= 180000
#define AG_ALTER_CONSTRAINT_NAME(def) (castNode(ATAlterConstraint, (def))->conname)
#else
#define AG_ALTER_CONSTRAINT_NAME(def) (castNode(Constraint, (def))->conname)
#endif

/* ALTER TABLE ... ADD COLUMN: 16 dropped the separate recursing subcommand. */
#if PG_VERSION_NUM >= 160000
#define AG_IS_ADD_COLUMN(subtype) ((subtype) == AT_AddColumn)
#else
#define AG_IS_ADD_COLUMN(subtype) ((subtype) == AT_AddColumn || (subtype) == AT_AddColumnRecurse)
#endif

/* NOT NULL constraints are rows of pg_constraint (contype 'n') from 18 on. */
#if PG_VERSION_NUM >= 180000
#define AG_HAVE_NOTNULL_CONSTRAINTS 1
#endif

/* has_largeobject_privilege(), with a form for the current user, is new in 18. */
#if PG_VERSION_NUM >= 180000
#define AG_HAVE_LARGEOBJECT_PRIVILEGE 1
#endif

/*
 * pg_extension has a syscache (EXTENSIONOID) in 18, so a change of an
 * extension's owner can invalidate what is cached of it; earlier versions
 * have none.
 */
#if PG_VERSION_NUM >= 180000
#define AG_HAVE_EXTENSION_SYSCACHE 1
#endif

/* Publications of schemas (FOR TABLES IN SCHEMA) are new in 15. */
#if PG_VERSION_NUM >= 150000
#define AG_HAVE_PUBLICATION_SCHEMAS 1
#endif

/*
 * ALTER TABLE ... ALTER CONSTRAINT: the command's def is a Constraint up to
 * 17, an ATAlterConstraint from 18 on (which can also make a constraint
 * ENFORCED).  The name of the constraint it alters, or NULL.
 */
#if PG_VERSION_NUM >= 180000
#define AG_ALTERED_CONSTRAINT_NAME(def) \
	((def) != NULL && IsA((def), ATAlterConstraint) ? ((ATAlterConstraint *) (def))->conname : NULL)
#else
#define AG_ALTERED_CONSTRAINT_NAME(def) \
	((def) != NULL && IsA((def), Constraint) ? ((Constraint *) (def))->conname : NULL)
#endif

/* The local transaction id moved into PGPROC.vxid in 17. */
#if PG_VERSION_NUM >= 170000
#define AG_MY_LXID (MyProc->vxid.lxid)
#else
#define AG_MY_LXID (MyProc->lxid)
#endif

/*
 * pg_logical_emit_message() took a fourth argument (flush) in 17, which
 * renamed its fmgroids.h symbols; the OIDs are the same.
 */
#if PG_VERSION_NUM >= 170000
#define AG_F_LOGICAL_MESSAGE_TEXT F_PG_LOGICAL_EMIT_MESSAGE_BOOL_TEXT_TEXT_BOOL
#define AG_F_LOGICAL_MESSAGE_BYTEA F_PG_LOGICAL_EMIT_MESSAGE_BOOL_TEXT_BYTEA_BOOL
#else
#define AG_F_LOGICAL_MESSAGE_TEXT F_PG_LOGICAL_EMIT_MESSAGE_BOOL_TEXT_TEXT
#define AG_F_LOGICAL_MESSAGE_BYTEA F_PG_LOGICAL_EMIT_MESSAGE_BOOL_TEXT_BYTEA
#endif

/*
 * Shared memory is requested in shmem_request_hook from 15 on; on 14 it is
 * requested directly from _PG_init.
 */
#if PG_VERSION_NUM >= 150000
#define AG_HAVE_SHMEM_REQUEST_HOOK 1
#endif

/*
 * Writing rows without the executor (fastinsert.c, chain.c): from 16 on,
 * ExecInsertIndexTuples() takes onlySummarizing, and
 * simple_table_tuple_update() says which indexes need the new row version
 * as a TU_UpdateIndexes instead of a bool.  (Macros only, so that this file
 * needs no executor headers.)  An update's new index entries are inserted
 * without the "unchanged key" hint (update = false): the hint needs a range
 * table whose form changed in 16, and it only helps btree clean up early.
 */
#if PG_VERSION_NUM >= 160000
#define AgUpdateIndexes TU_UpdateIndexes
#define AG_INSERT_INDEX_TUPLES(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL, false)
#define AG_UPDATE_INDEX_TUPLES(rri, slot, estate, u) \
	((u) == TU_None ? NIL : \
	 ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL, (u) == TU_Summarizing))
#else
#define AgUpdateIndexes bool
#define AG_INSERT_INDEX_TUPLES(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL)
#define AG_UPDATE_INDEX_TUPLES(rri, slot, estate, u) \
	(!(u) ? NIL : ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL))
#endif

/*
 * Closing an index rows were inserted into (fastinsert.c): from 17 on, the
 * access method may have something to clean up first, as
 * ExecCloseIndices() lets it.
 */
#if PG_VERSION_NUM >= 170000
#define AG_INDEX_INSERT_CLEANUP(idx, info) index_insert_cleanup((idx), (info))
#else
#define AG_INDEX_INSERT_CLEANUP(idx, info) ((void) 0)
#endif

/*
 * Column permissions moved from RangeTblEntry to RTEPermissionInfo in 16
 * (soft deletes add the column they set to the statement's updated ones);
 * ExecInitRangeTable() takes the permission list from 16 on, and
 * ExecConstraints() reads it to name the columns of a failing row.
 */
#if PG_VERSION_NUM >= 160000
#define AG_RTE_UPDATED_COLS(q, rte) (getRTEPermissionInfo((q)->rteperminfos, (rte))->updatedCols)
/*
 * a range table of one relation (and, from 16, its permission entry; from
 * 18, the set of relations left after partition pruning: that one, index 1)
 */
#if PG_VERSION_NUM >= 180000
#define AG_EXEC_INIT_RANGE_TABLE(estate, rtable, perminfos) \
	ExecInitRangeTable((estate), (rtable), (perminfos), bms_make_singleton(1))
#else
#define AG_EXEC_INIT_RANGE_TABLE(estate, rtable, perminfos) \
	ExecInitRangeTable((estate), (rtable), (perminfos))
#endif
#define AG_INIT_RANGE_TABLE(estate, rte) \
	do { \
		List	   *ag_perminfos_ = NIL; \
		(void) addRTEPermissionInfo(&ag_perminfos_, (rte)); \
		AG_EXEC_INIT_RANGE_TABLE((estate), list_make1(rte), ag_perminfos_); \
	} while (0)
#else
#define AG_RTE_UPDATED_COLS(q, rte) ((rte)->updatedCols)
#define AG_INIT_RANGE_TABLE(estate, rte) ExecInitRangeTable((estate), list_make1(rte))
#endif

/*
 * Ownership checks: one object_ownercheck() for every catalog from 16 on
 * (approved.c asks whether an agent could run a destructive statement;
 * worker.c whether a session may run a command that stops a sealer).
 */
#if PG_VERSION_NUM >= 160000
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "utils/acl.h"
#define AG_REL_OWNER(relid, user) object_ownercheck(RelationRelationId, (relid), (user))
#define AG_NSP_OWNER(nsp, user) object_ownercheck(NamespaceRelationId, (nsp), (user))
#define AG_DATABASE_OWNERCHECK(oid, role) object_ownercheck(DatabaseRelationId, (oid), (role))
#define AG_EXTENSION_OWNERCHECK(oid, role) object_ownercheck(ExtensionRelationId, (oid), (role))
#define AG_NAMESPACE_OWNERCHECK(oid, role) object_ownercheck(NamespaceRelationId, (oid), (role))
#define AG_TYPE_OWNER(typid, user) object_ownercheck(TypeRelationId, (typid), (user))
#else
#define AG_REL_OWNER(relid, user) pg_class_ownercheck((relid), (user))
#define AG_NSP_OWNER(nsp, user) pg_namespace_ownercheck((nsp), (user))
#define AG_DATABASE_OWNERCHECK(oid, role) pg_database_ownercheck((oid), (role))
#define AG_EXTENSION_OWNERCHECK(oid, role) pg_extension_ownercheck((oid), (role))
#define AG_NAMESPACE_OWNERCHECK(oid, role) pg_namespace_ownercheck((oid), (role))
#define AG_TYPE_OWNER(typid, user) pg_type_ownercheck((typid), (user))
#endif

/*
 * The primary key's index (capture.c, softdelete.c, structure.c).  From 18 on the caller
 * says whether a deferrable primary key will do; before 18 one never did,
 * and it still does not: a row is identified by a key checked at once.
 */
#if PG_VERSION_NUM >= 180000
#define AG_PRIMARY_KEY_INDEX(rel) RelationGetPrimaryKeyIndex((rel), false)
#else
#define AG_PRIMARY_KEY_INDEX(rel) RelationGetPrimaryKeyIndex(rel)
#endif

/*
 * A result relation's compiled CHECK constraints (fastinsert.c): the field
 * was renamed in 18, next to the new one for virtual generated columns.
 */
#if PG_VERSION_NUM >= 180000
#define AG_RRI_CHECK_EXPRS(rri) ((rri)->ri_CheckConstraintExprs)
#else
#define AG_RRI_CHECK_EXPRS(rri) ((rri)->ri_ConstraintExprs)
#endif

/*
 * ExecutorRun_hook (hooks.c): 18 dropped the execute_once argument.  The
 * hook's parameters and the chained call's arguments, for a hook whose
 * parameters are named queryDesc, direction, count (and execute_once).
 */
#if PG_VERSION_NUM >= 180000
#define AG_EXECUTOR_RUN_PARAMS QueryDesc *queryDesc, ScanDirection direction, uint64 count
#define AG_EXECUTOR_RUN_ARGS queryDesc, direction, count
#else
#define AG_EXECUTOR_RUN_PARAMS \
	QueryDesc *queryDesc, ScanDirection direction, uint64 count, bool execute_once
#define AG_EXECUTOR_RUN_ARGS queryDesc, direction, count, execute_once
#endif

/*
 * index_beginscan() (softdelete.c) takes the scan's instrumentation from 18
 * on; we collect none.
 */
#if PG_VERSION_NUM >= 180000
#define AG_INDEX_BEGINSCAN(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), (norderbys))
#else
#define AG_INDEX_BEGINSCAN(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), (nkeys), (norderbys))
#endif

/*
 * Where a statement starts in its source string (statement.c).  Up to 17 the
 * first statement of a string starts at 0, with the whitespace and comments
 * before its first token, and the guard records those with it; from 18 the
 * parser's location skips them.  From 18 this moves the start back to 0
 * (and lengthens a known length to match) when only whitespace and comments
 * precede the statement, so that both record the same text.
 */
static inline void
ag_stmt_widen(const char *source, int *location, int *length)
{
#if PG_VERSION_NUM >= 180000
	int			i = 0;
	int			loc = *location;

	if (source == NULL || loc <= 0)
		return;
	while (i < loc)
	{
		char		c = source[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
			i++;
		else if (c == '-' && i + 1 < loc && source[i + 1] == '-')
		{
			while (i < loc && source[i] != '\n')
				i++;
		}
		else if (c == '/' && i + 1 < loc && source[i + 1] == '*')
		{
			int			depth = 1;

			i += 2;
			while (i < loc && depth > 0)
			{
				if (source[i] == '/' && i + 1 < loc && source[i + 1] == '*')
					depth++, i += 2;
				else if (source[i] == '*' && i + 1 < loc && source[i + 1] == '/')
					depth--, i += 2;
				else
					i++;
			}
			if (depth > 0)
				return;
		}
		else
			return;				/* another statement precedes this one */
	}
	if (*length > 0)
		*length += loc;
	*location = 0;
#endif
}

/*
 * What fmgr_security_definer() decided at a function's first call through
 * one FmgrInfo (fmgr.c's private struct fmgr_security_definer_cache, of
 * which the fmgr hook gets the first member and a pointer to the last):
 * the user it switches to, and the settings it applies and rolls back.
 * agentcode.c checks the layout at every start it reads (the hook's
 * "private" argument must be this struct's arg) and refuses the call
 * otherwise.  17 keeps the settings as lists of names and values.
 */
typedef struct AgFmgrCache
{
	FmgrInfo	flinfo;
	Oid			userid;			/* InvalidOid: fmgr switches no user */
#if PG_VERSION_NUM >= 170000
	List	   *configNames;
	List	   *configHandles;
	List	   *configValues;
#else
	ArrayType  *proconfig;
#endif
	Datum		arg;
} AgFmgrCache;

/* The names of the settings fmgr applies for the call (a list of char *). */
static inline List *
ag_fmgr_config_names(AgFmgrCache *fc)
{
#if PG_VERSION_NUM >= 170000
	return fc->configNames;
#else
	List	   *names = NIL;
	Datum	   *items;
	bool	   *nulls;
	int			n;
	int			i;

	if (fc->proconfig == NULL)
		return NIL;
	deconstruct_array(fc->proconfig, TEXTOID, -1, false, TYPALIGN_INT,
					  &items, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		char	   *s;
		char	   *eq;

		if (nulls[i])
			continue;
		s = TextDatumGetCString(items[i]);
		if ((eq = strchr(s, '=')) != NULL)
			*eq = '\0';
		names = lappend(names, s);
	}
	return names;
#endif
}

static inline bool
ag_fmgr_has_config(AgFmgrCache *fc)
{
#if PG_VERSION_NUM >= 170000
	return fc->configNames != NIL;
#else
	return fc->proconfig != NULL;
#endif
}

/*
 * Who a range table entry's permissions are checked as (agentstored.c):
 * the entry's checkAsUser before 16, its RTEPermissionInfo's from 16.
 * Sets it to role where it is the statement's user (InvalidOid).
 */
#include "nodes/parsenodes.h"
#if PG_VERSION_NUM >= 160000
#include "parser/parse_relation.h"
static inline void
ag_check_as_role(Query *q, RangeTblEntry *rte, Oid role)
{
	if (rte->perminfoindex != 0)
	{
		RTEPermissionInfo *p = getRTEPermissionInfo(q->rteperminfos, rte);

		if (!OidIsValid(p->checkAsUser))
			p->checkAsUser = role;
	}
}
#else
static inline void
ag_check_as_role(Query *q, RangeTblEntry *rte, Oid role)
{
	if (rte->requiredPerms != 0 && !OidIsValid(rte->checkAsUser))
		rte->checkAsUser = role;
}
#endif

/*
 * Who a query's range table entry is checked as (agentgate.c): the
 * entry's checkAsUser before 16, its RTEPermissionInfo's from 16;
 * InvalidOid for the statement's user.
 */
#if PG_VERSION_NUM >= 160000
static inline Oid
ag_query_rte_check_as(Query *q, RangeTblEntry *rte)
{
	if (rte->perminfoindex == 0 || (int) rte->perminfoindex > list_length(q->rteperminfos))
		return InvalidOid;
	return getRTEPermissionInfo(q->rteperminfos, rte)->checkAsUser;
}
#else
static inline Oid
ag_query_rte_check_as(Query *q, RangeTblEntry *rte)
{
	(void) q;
	return rte->checkAsUser;
}
#endif

/*
 * A planned range table entry's permissions (agentcode.c): who they are
 * checked as (InvalidOid: the statement's user) and which they require.
 * From 16 on they are the plan's RTEPermissionInfo's; an inheritance
 * child has none (its parent's entry carries them).
 */
#include "nodes/plannodes.h"
#if PG_VERSION_NUM >= 160000
static inline bool
ag_plan_rte_perms(PlannedStmt *plan, RangeTblEntry *rte, Oid *check_as, AclMode *perms)
{
	RTEPermissionInfo *p;

	if (rte->perminfoindex == 0 || (int) rte->perminfoindex > list_length(plan->permInfos))
		return false;
	p = list_nth_node(RTEPermissionInfo, plan->permInfos, rte->perminfoindex - 1);
	*check_as = p->checkAsUser;
	*perms = p->requiredPerms;
	return true;
}
#else
static inline bool
ag_plan_rte_perms(PlannedStmt *plan, RangeTblEntry *rte, Oid *check_as, AclMode *perms)
{
	(void) plan;
	*check_as = rte->checkAsUser;
	*perms = rte->requiredPerms;
	return true;
}
#endif

/*
 * A planned range table entry's required permissions and the columns it
 * updates (softref.c), from 16 on the plan's RTEPermissionInfo's; false
 * for an entry without (an inheritance child).
 */
#if PG_VERSION_NUM >= 160000
static inline bool
ag_plan_rte_write_cols(PlannedStmt *plan, RangeTblEntry *rte, AclMode *perms, Bitmapset **updated)
{
	RTEPermissionInfo *p;

	if (rte->perminfoindex == 0 || (int) rte->perminfoindex > list_length(plan->permInfos))
		return false;
	p = list_nth_node(RTEPermissionInfo, plan->permInfos, rte->perminfoindex - 1);
	*perms = p->requiredPerms;
	*updated = p->updatedCols;
	return true;
}
#else
static inline bool
ag_plan_rte_write_cols(PlannedStmt *plan, RangeTblEntry *rte, AclMode *perms, Bitmapset **updated)
{
	(void) plan;
	*perms = rte->requiredPerms;
	*updated = rte->updatedCols;
	return true;
}
#endif

/*
 * The sequence of an identity column (seqkeys.c): from 17 on, asked of the
 * relation, so that a partition answers with its partitioned table's.
 */
#if PG_VERSION_NUM >= 170000
#define AG_IDENTITY_SEQUENCE(rel, attnum) getIdentitySequence((rel), (attnum), true)
#else
#define AG_IDENTITY_SEQUENCE(rel, attnum) getIdentitySequence(RelationGetRelid(rel), (attnum), true)
#endif

/* Is this process an autovacuum worker?  17 made it a macro of MyBackendType. */
#if PG_VERSION_NUM >= 170000
#define AG_AM_AUTOVACUUM_WORKER() AmAutoVacuumWorkerProcess()
#else
#include "postmaster/autovacuum.h"
#define AG_AM_AUTOVACUUM_WORKER() IsAutoVacuumWorkerProcess()
#endif

#endif							/* AG_COMPAT_H */
