/*-------------------------------------------------------------------------
 * softcasc.c
 *		An agent's soft delete keeps the foreign-key semantics of the delete
 *		it asked for (red team 32, F3).
 *
 * A soft delete is an UPDATE of ag_deleted_at: PostgreSQL fires none of the
 * ON DELETE actions of the foreign keys that reference the row, so a child
 * kept pointing at a parent no reader sees, and the soft-deleted parent
 * then held its keys against a human's write (whose implicit purge would
 * have had to run the actions the agent's delete skipped, softkeys.c).
 * So the capture trigger, after it logged a row's SOFT_DELETE, calls
 * ag_softcasc_row(), which does what the referential-integrity triggers of
 * the row's table would have done for a DELETE, on the live rows that
 * reference it (rows soft-deleted earlier do not count: a reader no longer
 * sees them):
 *	- NO ACTION, RESTRICT: a live referencing row fails the agent's
 *	  statement with PostgreSQL's own error (23503, the RI trigger's
 *	  message); the hard delete would have failed too.  A DEFERRABLE key is
 *	  checked at once as well (fail closed; README, Limitations).
 *	- CASCADE: the referencing rows are deleted by "DELETE FROM child WHERE
 *	  key = the row's AND child is live", planned in the agent's session:
 *	  into a soft-delete table the planner makes it a soft delete (stamped,
 *	  logged SOFT_DELETE with images, and its own capture trigger goes on
 *	  to the next level, partitioned tables included), into a hard-delete
 *	  protected table it stays a real delete, logged DELETE with images (and
 *	  PostgreSQL's own actions go on from there, as for any hard delete:
 *	  red team 30, F6); into a table that is not protected, whose deletes
 *	  nothing logs or brings back, the agent's delete is refused (YG004, on
 *	  record), as softdelete.c refuses a cascade out of one.
 *	- SET NULL, SET DEFAULT: a live referencing row refuses the agent's
 *	  delete (YG004, on record): the row is the human's to re-point.
 * Each referencing table is read and written as its owner, without its
 * FORCE ROW LEVEL SECURITY, as ri_triggers.c does, with the latest
 * snapshot (rows committed meanwhile count) and locks: the check takes
 * FOR KEY SHARE on the rows it finds.  Rollback: the parent's and the
 * children's events are the run's; rollback_run() and restore() bring
 * them back (the children's events come after the parent's).
 *
 * Cost: a table that no foreign key with ON DELETE references pays a scan
 * of its trigger descriptor per soft-deleted row.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "refusal.h"
#include "scope.h"
#include "softcasc.h"
#include "statement.h"

/* One foreign key that references the soft-deleted row's table. */
typedef struct SoftFk
{
	Oid			conoid;
	char		action;			/* FKCONSTR_ACTION_* */
	char	   *conname;
	Oid			child;
	int			nkeys;
	AttrNumber	conkey[INDEX_MAX_KEYS];
	AttrNumber	confkey[INDEX_MAX_KEYS];
	Oid			pfeqop[INDEX_MAX_KEYS];
} SoftFk;

static char
trigger_action(Oid tgfoid)
{
	switch (tgfoid)
	{
		case F_RI_FKEY_CASCADE_DEL:
			return FKCONSTR_ACTION_CASCADE;
		case F_RI_FKEY_RESTRICT_DEL:
			return FKCONSTR_ACTION_RESTRICT;
		case F_RI_FKEY_NOACTION_DEL:
			return FKCONSTR_ACTION_NOACTION;
		case F_RI_FKEY_SETNULL_DEL:
			return FKCONSTR_ACTION_SETNULL;
		case F_RI_FKEY_SETDEFAULT_DEL:
			return FKCONSTR_ACTION_SETDEFAULT;
		default:
			return 0;
	}
}

static const char *
action_name(char action)
{
	switch (action)
	{
		case FKCONSTR_ACTION_CASCADE:
			return "CASCADE";
		case FKCONSTR_ACTION_RESTRICT:
			return "RESTRICT";
		case FKCONSTR_ACTION_SETNULL:
			return "SET NULL";
		case FKCONSTR_ACTION_SETDEFAULT:
			return "SET DEFAULT";
		default:
			return "NO ACTION";
	}
}

static void
load_fk(Oid conoid, char action, SoftFk *fk)
{
	HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	Form_pg_constraint con;
	Oid			pp[INDEX_MAX_KEYS];
	Oid			ff[INDEX_MAX_KEYS];
	int			nset;
	AttrNumber	setcols[INDEX_MAX_KEYS];

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for constraint %u", conoid);
	con = (Form_pg_constraint) GETSTRUCT(tup);
	fk->conoid = conoid;
	fk->action = action;
	fk->conname = pstrdup(NameStr(con->conname));
	fk->child = con->conrelid;
	DeconstructFkConstraintRow(tup, &fk->nkeys, fk->conkey, fk->confkey,
							   fk->pfeqop, pp, ff, &nset, setcols);
	ReleaseSysCache(tup);
}

/* "OPERATOR(nsp.op)", and the operator's input types */
static char *
operator_text(Oid opr, Oid *left, Oid *right)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opr));
	Form_pg_operator op;
	char	   *result;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", opr);
	op = (Form_pg_operator) GETSTRUCT(tup);
	*left = op->oprleft;
	*right = op->oprright;
	result = psprintf("OPERATOR(%s.%s)",
					  quote_identifier(get_namespace_name(op->oprnamespace)),
					  NameStr(op->oprname));
	ReleaseSysCache(tup);
	return result;
}

/*
 * "FROM [ONLY] child x WHERE $1 op x.c1 AND ... [AND x.ag_deleted_at IS
 * NULL]", as ri_triggers.c writes its queries (the referenced value on the
 * left of the key's pfeqop, casts where the operator's inputs differ).
 */
static char *
from_where(Relation parent, Relation child, SoftFk *fk, Oid *argtypes)
{
	StringInfoData buf;
	AttrNumber	att_deleted = ag_softdelete_attno(RelationGetRelid(child));
	int			i;

	initStringInfo(&buf);
	appendStringInfo(&buf, "FROM %s%s x WHERE ",
					 child->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
					 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(child)),
												RelationGetRelationName(child)));
	for (i = 0; i < fk->nkeys; i++)
	{
		Form_pg_attribute patt = TupleDescAttr(RelationGetDescr(parent), fk->confkey[i] - 1);
		Form_pg_attribute catt = TupleDescAttr(RelationGetDescr(child), fk->conkey[i] - 1);
		Oid			left,
					right;
		char	   *op = operator_text(fk->pfeqop[i], &left, &right);
		char	   *param = psprintf("$%d", i + 1);
		char	   *col = psprintf("x.%s", quote_identifier(NameStr(catt->attname)));

		argtypes[i] = patt->atttypid;
		if (left != patt->atttypid)
			param = psprintf("CAST(%s AS %s)", param, format_type_be_qualified(left));
		if (right != catt->atttypid)
			col = psprintf("CAST(%s AS %s)", col, format_type_be_qualified(right));
		appendStringInfo(&buf, "%s%s %s %s", i > 0 ? " AND " : "", param, op, col);
	}
	if (att_deleted > 0)
		appendStringInfoString(&buf, " AND x.ag_deleted_at IS NULL");
	return buf.data;
}

/* "(c1, c2)=(v1, v2)" of the referenced row, as the RI trigger prints it */
static void
key_text(Relation parent, HeapTuple oldtup, SoftFk *fk, StringInfo names, StringInfo vals)
{
	TupleDesc	desc = RelationGetDescr(parent);
	int			i;

	for (i = 0; i < fk->nkeys; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, fk->confkey[i] - 1);
		bool		isnull;
		Datum		d = heap_getattr(oldtup, fk->confkey[i], desc, &isnull);
		Oid			outfn;
		bool		varlena;

		getTypeOutputInfo(att->atttypid, &outfn, &varlena);
		appendStringInfo(names, "%s%s", i > 0 ? ", " : "", NameStr(att->attname));
		appendStringInfo(vals, "%s%s", i > 0 ? ", " : "",
						 isnull ? "null" : OidOutputFunctionCall(outfn, d));
	}
}

static bool
is_protected(Relation child)
{
	Oid			capture_fn = ag_capture_function();
	int			i;

	for (i = 0; child->trigdesc != NULL && i < child->trigdesc->numtriggers; i++)
		if (child->trigdesc->triggers[i].tgfoid == capture_fn)
			return true;
	return false;
}

/* Refuse the agent's delete, on record (YG004). */
pg_noreturn static void
refuse(Relation parent, Relation child, SoftFk *fk, const char *why, const char *hint)
{
	const char *text;
	int			len;
	int64		id;

	(void) ag_current_statement(&text, &len);
	id = ag_refusal_record(why, text, text ? Min(len, AG_MAX_QUERY_LOG) : 0);
	ereport(ERROR,
			(errcode(ERRCODE_AG_GUARD_PROTECTED),
			 errmsg("delete on table \"%s\" refused: foreign key \"%s\" of table \"%s\" is ON DELETE %s (request " INT64_FORMAT ")",
					RelationGetRelationName(parent), fk->conname,
					RelationGetRelationName(child), action_name(fk->action), id),
			 errdetail("%s", why),
			 errhint("%s", hint)));
}

/*
 * The live rows of fk's table that reference the soft-deleted row, with
 * its key values: checked (none may be there), or deleted (CASCADE).
 */
static void
one_key(Relation parent, HeapTuple oldtup, SoftFk *fk)
{
	TupleDesc	desc = RelationGetDescr(parent);
	Datum		values[INDEX_MAX_KEYS];
	char		nulls[INDEX_MAX_KEYS];
	Oid			argtypes[INDEX_MAX_KEYS];
	Relation	child;
	char	   *where;
	bool		cascade = (fk->action == FKCONSTR_ACTION_CASCADE);
	bool		protected;
	volatile uint64 found = 0;
	Oid			save_user;
	int			save_sec;
	int			i;

	for (i = 0; i < fk->nkeys; i++)
	{
		bool		isnull;

		values[i] = heap_getattr(oldtup, fk->confkey[i], desc, &isnull);
		if (isnull)
			return;				/* a NULL key is referenced by no row */
		nulls[i] = ' ';
	}

	/* the lock PostgreSQL's own key check takes */
	child = table_open(fk->child, RowShareLock);
	where = from_where(parent, child, fk, argtypes);
	protected = is_protected(child);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "agent_guard: SPI_connect failed");
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(child->rd_rel->relowner,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
	PG_TRY();
	{
		SPIPlanPtr	plan;
		const char *sql;
		int			ret;

		if (cascade && protected)
			sql = psprintf("DELETE %s", where);
		else
			sql = psprintf("SELECT 1 %s FOR KEY SHARE OF x", where);
		plan = SPI_prepare(sql, fk->nkeys, argtypes);
		if (plan == NULL)
			elog(ERROR, "agent_guard: could not prepare \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		ret = SPI_execute_snapshot(plan, values, nulls, GetLatestSnapshot(),
								   InvalidSnapshot, false, true,
								   (cascade && protected) ? 0 : 1);
		if (ret < 0)
			elog(ERROR, "agent_guard: \"%s\" failed: %s", sql, SPI_result_code_string(ret));
		found = SPI_processed;
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_user, save_sec);
	}
	PG_END_TRY();
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "agent_guard: SPI_finish failed");

	if (found > 0 && !(cascade && protected))
	{
		StringInfoData names;
		StringInfoData vals;

		initStringInfo(&names);
		initStringInfo(&vals);
		key_text(parent, oldtup, fk, &names, &vals);
		if (fk->action == FKCONSTR_ACTION_NOACTION || fk->action == FKCONSTR_ACTION_RESTRICT)
		{
			/* the RI trigger's error; the values only to who may read them */
			bool		may_read = pg_class_aclcheck(RelationGetRelid(parent), GetUserId(),
													 ACL_SELECT) == ACLCHECK_OK;

			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("update or delete on table \"%s\" violates foreign key constraint \"%s\" on table \"%s\"",
							RelationGetRelationName(parent), fk->conname,
							RelationGetRelationName(child)),
					 may_read ?
					 errdetail("Key (%s)=(%s) is still referenced from table \"%s\".",
							   names.data, vals.data, RelationGetRelationName(child)) :
					 errdetail("Key is still referenced from table \"%s\".",
							   RelationGetRelationName(child)),
					 errtableconstraint(child, fk->conname)));
		}
		if (cascade)
			refuse(parent, child, fk,
				   psprintf("Foreign key \"%s\" of %s deletes its rows ON DELETE CASCADE, and live rows reference key (%s)=(%s) of the row deleted from soft-delete table %s. "
							"%s is not protected: the rows the cascade would remove from it are not logged and could not be brought back with the soft-deleted row.",
							fk->conname, ag_qualified_relname(fk->child), names.data, vals.data,
							ag_qualified_relname(RelationGetRelid(parent)),
							ag_qualified_relname(fk->child)),
				   psprintf("Ask a human to protect %s with agent_guard.protect() (the cascade's deletes are then logged and can be rolled back), or to delete the row.",
							ag_qualified_relname(fk->child)));
		refuse(parent, child, fk,
			   psprintf("Foreign key \"%s\" of %s sets its key columns to %s ON DELETE, and live rows reference key (%s)=(%s) of the row deleted from soft-delete table %s; "
						"the guard does not change them for a soft delete.",
						fk->conname, ag_qualified_relname(fk->child),
						fk->action == FKCONSTR_ACTION_SETNULL ? "NULL" : "their defaults",
						names.data, vals.data, ag_qualified_relname(RelationGetRelid(parent))),
			   psprintf("Delete or re-point the rows of %s that reference the row first, or ask a human to delete it.",
						ag_qualified_relname(fk->child)));
	}
	table_close(child, NoLock);
}

/*
 * The capture trigger logged an agent's soft delete of oldtup in rel:
 * what the foreign keys that reference rel do ON DELETE, done for it.
 * Their RI triggers on rel say which: one per key, on the table or
 * partition the row is in.
 */
void
ag_softcasc_row(Relation rel, HeapTuple oldtup)
{
	TriggerDesc *td = rel->trigdesc;
	Oid		   *cons;
	char	   *actions;
	int			n = 0;
	int			i;

	if (td == NULL || !td->trig_delete_after_row)
		return;
	cons = palloc(sizeof(Oid) * td->numtriggers);
	actions = palloc(td->numtriggers);

	/*
	 * Taken first: the queries below may rebuild the relation's cache
	 * entry (a relcache invalidation processed at their command counter
	 * increment), trigger descriptor included.
	 */
	for (i = 0; i < td->numtriggers; i++)
	{
		Trigger    *t = &td->triggers[i];
		char		action;

		if (!OidIsValid(t->tgconstraint) || !TRIGGER_FOR_ROW(t->tgtype) ||
			!TRIGGER_FOR_DELETE(t->tgtype) || t->tgenabled == TRIGGER_DISABLED ||
			(action = trigger_action(t->tgfoid)) == 0)
			continue;
		cons[n] = t->tgconstraint;
		actions[n] = action;
		n++;
	}
	for (i = 0; i < n; i++)
	{
		SoftFk		fk;

		CHECK_FOR_INTERRUPTS();
		check_stack_depth();
		load_fk(cons[i], actions[i], &fk);
		one_key(rel, oldtup, &fk);
	}
	pfree(cons);
	pfree(actions);
}
