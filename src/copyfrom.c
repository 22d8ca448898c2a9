/*-------------------------------------------------------------------------
 * copyfrom.c
 *		A human's COPY FROM into a soft-delete table.
 *
 * Soft-deleted rows are hidden by row security (40_protect.sql), and
 * PostgreSQL refuses COPY FROM into a table whose row security applies to
 * the user ("COPY FROM not supported with row-level security"): with
 * protect() every human but a superuser lost COPY FROM on the table.  Our
 * policies never refuse a new row (WITH CHECK (true)), so for a human the
 * COPY is an INSERT of the rows it reads.  The utility hook runs it as
 * such: the same COPY (same source, options, column list) goes down the
 * hook chain into a temporary table with the columns it fills, and the
 * rows then go into the table with INSERT ... SELECT, as the human: their
 * privileges, the table's defaults, triggers, constraints and any row
 * security policy of the table's own (its WITH CHECK applies to INSERT)
 * hold as for any INSERT.  The command tag stays COPY n.
 *
 * Only humans: an agent's COPY FROM keeps PostgreSQL's refusal, as does a
 * COPY with both a column list and a WHERE clause (its WHERE may name
 * columns the list leaves to their defaults).  Errors in the data name the
 * temporary table's line; constraint errors come from the INSERT.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_policy.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "parser/parse_relation.h"
#include "tcop/cmdtag.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "copyfrom.h"

static int	staging_seq = 0;

/* Does relid carry the soft-delete policy of protect()? */
static bool
has_soft_delete_policy(Oid relid)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key[2];
	bool		found;

	rel = table_open(PolicyRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_policy_polrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	ScanKeyInit(&key[1], Anum_pg_policy_polname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("ag_hide_deleted"));
	scan = systable_beginscan(rel, PolicyPolrelidPolnameIndexId, true, NULL, 2, key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

static void
spi_run(const char *sql, int expected)
{
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "agent_guard: SPI_connect failed");
	rc = SPI_execute(sql, false, 0);
	if (rc != expected)
		elog(ERROR, "agent_guard: COPY FROM staging failed: %s", SPI_result_code_string(rc));
	SPI_finish();
}

/*
 * Before the hook chain: the statement to run.  pstmt itself, unless it is
 * a human's COPY FROM into a table whose soft-delete policy stands in the
 * way; then the COPY into a new temporary table, and *state says what to
 * do after it (ag_copyfrom_finish).
 */
PlannedStmt *
ag_copyfrom_prepare(PlannedStmt *pstmt, AgCopyFrom *state)
{
	CopyStmt   *copy;
	CopyStmt   *staged;
	PlannedStmt *out;
	Oid			relid;
	Relation	rel;
	TupleDesc	desc;
	StringInfoData create;
	StringInfoData cols;
	ListCell   *lc;
	int			i;

	state->active = false;
	if (pstmt->utilityStmt == NULL || !IsA(pstmt->utilityStmt, CopyStmt))
		return pstmt;
	copy = (CopyStmt *) pstmt->utilityStmt;
	if (!copy->is_from || copy->relation == NULL || copy->query != NULL ||
		(copy->attlist != NIL && copy->whereClause != NULL))
		return pstmt;
	if (ag_session_is_agent())
		return pstmt;
	relid = RangeVarGetRelid(copy->relation, NoLock, true);
	if (!OidIsValid(relid) || !has_soft_delete_policy(relid) ||
		check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED)
		return pstmt;

	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	initStringInfo(&cols);
	initStringInfo(&create);
	state->staging = psprintf("ag_copy_from_%d", ++staging_seq);
	appendStringInfo(&create, "CREATE TEMPORARY TABLE pg_temp.%s (", quote_identifier(state->staging));
	if (copy->attlist == NIL)
	{
		/* what COPY without a column list fills: no dropped or generated ones */
		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (att->attisdropped || att->attgenerated)
				continue;
			appendStringInfo(&cols, "%s%s", cols.len ? ", " : "", quote_identifier(NameStr(att->attname)));
			appendStringInfo(&create, "%s%s %s", create.data[create.len - 1] == '(' ? "" : ", ",
							 quote_identifier(NameStr(att->attname)),
							 format_type_with_typemod(att->atttypid, att->atttypmod));
		}
	}
	else
	{
		foreach(lc, copy->attlist)
		{
			const char *name = strVal(lfirst(lc));
			AttrNumber	attnum = attnameAttNum(rel, name, false);
			Form_pg_attribute att;

			if (attnum <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" of relation \"%s\" does not exist",
								name, RelationGetRelationName(rel))));
			att = TupleDescAttr(desc, attnum - 1);
			appendStringInfo(&cols, "%s%s", cols.len ? ", " : "", quote_identifier(name));
			appendStringInfo(&create, "%s%s %s", create.data[create.len - 1] == '(' ? "" : ", ",
							 quote_identifier(name),
							 format_type_with_typemod(att->atttypid, att->atttypmod));
		}
	}
	appendStringInfoChar(&create, ')');

	/* no INSERT privilege: PostgreSQL's error, before the client sends data */
	if (pg_class_aclcheck(relid, GetUserId(), ACL_INSERT) != ACLCHECK_OK)
	{
		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (att->attisdropped || att->attgenerated ||
				(copy->attlist != NIL && !list_member(copy->attlist, makeString(NameStr(att->attname)))))
				continue;
			if (pg_attribute_aclcheck(relid, att->attnum, GetUserId(), ACL_INSERT) != ACLCHECK_OK)
				aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(rel->rd_rel->relkind),
							   RelationGetRelationName(rel));
		}
	}
	state->insert = psprintf("INSERT INTO %s (%s) SELECT %s FROM pg_temp.%s",
							 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
														RelationGetRelationName(rel)),
							 cols.data, cols.data, quote_identifier(state->staging));
	table_close(rel, AccessShareLock);

	spi_run(create.data, SPI_OK_UTILITY);

	out = copyObject(pstmt);
	staged = (CopyStmt *) out->utilityStmt;
	staged->relation = makeRangeVar("pg_temp", state->staging, copy->relation->location);
	state->active = true;
	return out;
}

/* After the chain: the rows into the table, as the human; COPY n counts them. */
void
ag_copyfrom_finish(AgCopyFrom *state, QueryCompletion *qc)
{
	uint64		n;

	if (!state->active)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "agent_guard: SPI_connect failed");
	if (SPI_execute(state->insert, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "agent_guard: COPY FROM: the INSERT from the staging table failed");
	n = SPI_processed;
	SPI_finish();
	spi_run(psprintf("DROP TABLE pg_temp.%s", quote_identifier(state->staging)), SPI_OK_UTILITY);
	if (qc != NULL)
		SetQueryCompletion(qc, CMDTAG_COPY, n);
	state->active = false;
}
