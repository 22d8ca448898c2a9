/*-------------------------------------------------------------------------
 * agenttypes.c
 *		Columns of a protected table whose type runs an agent's code in
 *		every write: said, with the way out, when a human adds such a
 *		column and when a table that has one is protected (red team 11,
 *		finding 9; issue #16).
 *
 * A range type's canonical and subtype_diff functions and the operator
 * class that orders its subtype, and a domain's CHECK constraints (and the
 * functions that are not the system's they call), run whenever
 * a value of the type is written, indexed or analysed, through arrays,
 * domains, multiranges and composite types too.  When they are an agent
 * role's, an agent's ADD COLUMN of the type on a protected table needs a
 * human's approval (structure.c), and CREATE OR REPLACE of the functions is
 * refused.  A column a human added, or that the table had before it was
 * protected, is the human's choice: it stays, and works.  What runs is
 * still the agent's code, in the agent's rights (the function manager hook
 * runs an agent's function as its owner, in a security-restricted
 * operation, with no access to the guard: agentcode.c), but a body that
 * reads a table the agent controls can make every write of the column
 * fail, or slow, whenever the agent wants, with no new DDL.  So:
 *	- a human's ALTER TABLE ... ADD COLUMN or ALTER COLUMN ... TYPE of such
 *	  a type on a protected table gets a WARNING naming the agent's code;
 *	- protect() of a table (or partition tree) with such a column warns the
 *	  same (agent_guard._agent_type_columns, called by _agent_structure).
 * A table's own CHECK constraint runs the same way in every insert and
 * update (red team 23a, finding 2): protect() and a human's ALTER TABLE
 * ... ADD CONSTRAINT (or ADD COLUMN ... CHECK) warn of one that calls an
 * agent role's function, or, on a table an agent role owns, any function
 * that is not the system's; the hint says to drop or replace it.  Index
 * expressions and predicates that call one are not warned of (README,
 * Limitations).
 * The hint says how to take the code back: a human owns the type and its
 * functions (ALTER ... OWNER TO), or the column gets a type of its own.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_range.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "agent_guard.h"
#include "agentcode.h"
#include "agenttypes.h"
#include "scope.h"

static bool
agents_function(Oid fn)
{
	return OidIsValid(fn) && fn >= FirstNormalObjectId &&
		ag_agentcode_role_is_agent(ag_agentcode_function_owner(fn));
}

static char *
function_of_agent(Oid fn, const char *what, Oid typid)
{
	return psprintf("%s function %s of range type %s is code of agent role \"%s\"",
					what, format_procedure(fn), format_type_be(typid),
					ag_agentcode_role_name(ag_agentcode_function_owner(fn)));
}

static bool
user_function(Oid fn, void *context)
{
	if (fn < FirstNormalObjectId)
		return false;
	*(Oid *) context = fn;
	return true;
}

static bool
user_call_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, user_function, context))
		return true;
	return expression_tree_walker(node, user_call_walker, context);
}

/*
 * The first function that is not the system's a CHECK constraint of the
 * domain calls (its own constraints; base domains are looked at by the
 * caller), or InvalidOid.  A CHECK of the system's operators alone gives
 * the same answer for the same value whatever the agent does: no more than
 * any constraint a human keeps (and an agent's ALTER DOMAIN ... ADD
 * CONSTRAINT of a domain a protected column uses needs approval).
 */
static Oid
domain_user_call(Oid typid)
{
	Relation	con = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			found = InvalidOid;

	ScanKeyInit(&key, Anum_pg_constraint_contypid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(typid));
	scan = systable_beginscan(con, ConstraintTypidIndexId, true, NULL, 1, &key);
	while (!OidIsValid(found) && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		bin;

		if (((Form_pg_constraint) GETSTRUCT(tup))->contype != CONSTRAINT_CHECK)
			continue;
		bin = heap_getattr(tup, Anum_pg_constraint_conbin, RelationGetDescr(con), &isnull);
		if (!isnull)
			(void) user_call_walker(stringToNode(TextDatumGetCString(bin)), &found);
	}
	systable_endscan(scan);
	table_close(con, AccessShareLock);
	return found;
}

/*
 * What of a type runs an agent's code whenever a value of it is written,
 * indexed or analysed, as a clause, or NULL.
 */
static char *
agent_code_of(Oid typid, int depth)
{
	char	   *found = NULL;

	if (!OidIsValid(typid) || typid < FirstNormalObjectId || depth > 8)
		return NULL;
	check_stack_depth();
	switch (get_typtype(typid))
	{
		case TYPTYPE_DOMAIN:
			{
				HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
				Oid			owner;
				Oid			base;
				Oid			fn;

				if (!HeapTupleIsValid(tup))
					return NULL;
				owner = ((Form_pg_type) GETSTRUCT(tup))->typowner;
				base = ((Form_pg_type) GETSTRUCT(tup))->typbasetype;
				ReleaseSysCache(tup);
				if (ag_agentcode_role_is_agent(owner) && OidIsValid(fn = domain_user_call(typid)))
					return psprintf("constraints of domain %s, code of agent role \"%s\", call function %s",
									format_type_be(typid), ag_agentcode_role_name(owner),
									format_procedure(fn));
				return agent_code_of(base, depth + 1);
			}
		case TYPTYPE_RANGE:
			{
				HeapTuple	tup = SearchSysCache1(RANGETYPE, ObjectIdGetDatum(typid));
				Form_pg_range r;
				Oid			subtype;

				if (!HeapTupleIsValid(tup))
					return NULL;
				r = (Form_pg_range) GETSTRUCT(tup);
				subtype = r->rngsubtype;
				if (agents_function(r->rngcanonical))
					found = function_of_agent(r->rngcanonical, "canonical", typid);
				else if (agents_function(r->rngsubdiff))
					found = function_of_agent(r->rngsubdiff, "subtype_diff", typid);
				else if (r->rngsubopc >= FirstNormalObjectId)
				{
					HeapTuple	otup = SearchSysCache1(CLAOID, ObjectIdGetDatum(r->rngsubopc));

					if (HeapTupleIsValid(otup))
					{
						Oid			owner = ((Form_pg_opclass) GETSTRUCT(otup))->opcowner;

						if (ag_agentcode_role_is_agent(owner))
							found = psprintf("operator class %s that orders range type %s is code of agent role \"%s\"",
											 NameStr(((Form_pg_opclass) GETSTRUCT(otup))->opcname),
											 format_type_be(typid), ag_agentcode_role_name(owner));
						ReleaseSysCache(otup);
					}
				}
				ReleaseSysCache(tup);
				return found ? found : agent_code_of(subtype, depth + 1);
			}
		case TYPTYPE_MULTIRANGE:
			return agent_code_of(get_multirange_range(typid), depth + 1);
		case TYPTYPE_COMPOSITE:
			{
				TupleDesc	desc;
				int			i;

				desc = lookup_rowtype_tupdesc(typid, -1);
				for (i = 0; i < desc->natts && found == NULL; i++)
					if (!TupleDescAttr(desc, i)->attisdropped)
						found = agent_code_of(TupleDescAttr(desc, i)->atttypid, depth + 1);
				ReleaseTupleDesc(desc);
				return found;
			}
		default:
			/* an array: its elements */
			return agent_code_of(get_element_type(typid), depth + 1);
	}
}

char *
ag_agenttypes_code(Oid typid)
{
	return agent_code_of(typid, 0);
}

/* WARNING: column attname of relid (protected) runs an agent's code. */
static void
warn_column(Oid relid, const char *attname, Oid typid, const char *code, bool protecting)
{
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg("column \"%s\" of %stable %s has type %s, which runs code of an agent in every write",
					attname, protecting ? "" : "protected ", ag_qualified_relname(relid),
					format_type_be(typid)),
			 errdetail("The %s. That code runs with the agent's rights, but it can make humans' writes, indexing and ANALYZE of the column fail or stall whenever the agent wants.",
					   code),
			 errhint("Have a human own the type and its functions (ALTER TYPE ... OWNER TO, ALTER FUNCTION ... OWNER TO, ALTER OPERATOR CLASS ... OWNER TO), or give the column a type no agent owns.")));
}

/* Collect every function that is not the system's an expression calls. */
static bool
user_calls_walker(Node *node, void *context)
{
	Oid			fn = InvalidOid;

	if (node == NULL)
		return false;
	if (check_functions_in_node(node, user_function, &fn))
		*(List **) context = list_append_unique_oid(*(List **) context, fn);
	return expression_tree_walker(node, user_calls_walker, context);
}

/*
 * The function that is not the system's, in a table's CHECK, that makes
 * the CHECK an agent's code, or InvalidOid: one an agent role owns, or any
 * such function when an agent role owns the table (it wrote the CHECK, as
 * it writes its domains').  A CHECK of the system's operators alone gives
 * the same answer for the same row whatever the agent does: left out, as
 * for domains.
 */
static Oid
check_agent_call(Node *expr, bool agents_table)
{
	List	   *calls = NIL;
	Oid			found = InvalidOid;
	ListCell   *lc;

	(void) user_calls_walker(expr, &calls);
	foreach(lc, calls)
	{
		if (agents_table || agents_function(lfirst_oid(lc)))
		{
			found = lfirst_oid(lc);
			break;
		}
	}
	list_free(calls);
	return found;
}

/*
 * A WARNING for each CHECK constraint of relid that runs an agent's code
 * (red team 23a, finding 2): the CHECK runs in every insert and update of
 * the table, humans' and the recovery functions' included, and a function
 * that reads data the agent writes lets the agent make all of them fail
 * whenever it wants, with a plain UPDATE of its own table, no DDL.  Below
 * the top table (a partition), only constraints defined on relid itself:
 * those it inherits are warned of at the top.  When this_xact, only those
 * this transaction made (a human's ALTER TABLE).  Returns their number.
 */
static int
warn_checks(Oid relid, bool top, bool protecting, bool this_xact)
{
	Relation	con;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	HeapTuple	reltup;
	bool		agents_table = false;
	int			found = 0;

	reltup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(reltup))
		return 0;
	agents_table = ag_agentcode_role_is_agent(((Form_pg_class) GETSTRUCT(reltup))->relowner);
	ReleaseSysCache(reltup);

	con = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_constraint_conrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(con, ConstraintRelidTypidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint c = (Form_pg_constraint) GETSTRUCT(tup);
		bool		isnull;
		Datum		bin;
		Oid			fn;
		Oid			owner;

		if (c->contype != CONSTRAINT_CHECK || (!top && !c->conislocal) ||
			(this_xact && !TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data))))
			continue;
		bin = heap_getattr(tup, Anum_pg_constraint_conbin, RelationGetDescr(con), &isnull);
		if (isnull ||
			!OidIsValid(fn = check_agent_call(stringToNode(TextDatumGetCString(bin)), agents_table)))
			continue;
		owner = ag_agentcode_function_owner(fn);
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("constraint \"%s\" of %stable %s calls function %s, which runs code of an agent in every write",
						NameStr(c->conname), protecting ? "" : "protected ",
						ag_qualified_relname(relid), format_procedure(fn)),
				 errdetail(ag_agentcode_role_is_agent(owner) ?
						   "The function is code of agent role \"%s\". It runs with the agent's rights, but if it reads data the agent writes, the agent can make humans' inserts and updates of the table fail whenever it wants, with no DDL." :
						   "The table is an agent role's, and so is its CHECK; the function belongs to role \"%s\". If what it reads is data the agent writes, the agent can make humans' inserts and updates of the table fail whenever it wants, with no DDL.",
						   ag_agentcode_role_name(owner)),
				 errhint("Drop the constraint (ALTER TABLE %s DROP CONSTRAINT %s), or replace it with one that calls no agent's code and reads no data an agent writes.",
						 ag_qualified_relname(relid), quote_identifier(NameStr(c->conname)))));
		found++;
	}
	systable_endscan(scan);
	table_close(con, AccessShareLock);
	return found;
}

/*
 * After a human's ALTER TABLE: a column added to, or retyped on, a
 * protected table whose type runs an agent's code, or a CHECK added to it
 * that does.  An agent's own ADD COLUMN of such a type, or ADD CONSTRAINT,
 * needs approval (structure.c) and is not warned of again.
 */
void
ag_agenttypes_after_utility(Node *parsetree)
{
	AlterTableStmt *stmt;
	const Oid  *roles;
	uint64		generation;
	ListCell   *lc;
	Oid			relid;
	bool		adds_checks = false;

	if (parsetree == NULL || !IsA(parsetree, AlterTableStmt) || IsBinaryUpgrade ||
		ag_session_is_agent() || ag_agent_roles(&roles, &generation) <= 0)
		return;
	stmt = (AlterTableStmt *) parsetree;
	if (stmt->relation == NULL || !OidIsValid(relid = ag_range_var_relid(stmt->relation)) ||
		!ag_relation_protected(relid))
		return;
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		const char *attname = NULL;
		AttrNumber	attnum;
		Oid			typid;
		char	   *code;

		if (cmd->subtype == AT_AddColumn || cmd->subtype == AT_AddConstraint
#if PG_VERSION_NUM < 160000
			|| cmd->subtype == AT_AddConstraintRecurse
#endif
			)
			adds_checks = true;
		if (cmd->subtype == AT_AddColumn && cmd->def != NULL && IsA(cmd->def, ColumnDef))
			attname = ((ColumnDef *) cmd->def)->colname;
		else if (cmd->subtype == AT_AlterColumnType)
			attname = cmd->name;
		if (attname == NULL || (attnum = get_attnum(relid, attname)) == InvalidAttrNumber)
			continue;
		typid = get_atttype(relid, attnum);
		if ((code = agent_code_of(typid, 0)) != NULL)
			warn_column(relid, attname, typid, code, false);
	}
	/* a CHECK it added (a constraint, or a new column's) */
	if (adds_checks)
		(void) warn_checks(relid, true, false, true);
}

/*
 * SQL: agent_guard._agent_type_columns(relation regclass) → integer: a
 * WARNING for each column of the relation and its partitions whose type
 * runs an agent's code, and for each CHECK constraint of theirs that does;
 * returns their number (protect()).
 */
PG_FUNCTION_INFO_V1(ag_sql_agent_type_columns);
Datum
ag_sql_agent_type_columns(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	const Oid  *roles;
	uint64		generation;
	List	   *rels;
	ListCell   *lc;
	int			found = 0;

	if (ag_agent_roles(&roles, &generation) <= 0)
		PG_RETURN_INT32(0);
	rels = find_all_inheritors(relid, AccessShareLock, NULL);
	foreach(lc, rels)
	{
		Oid			rel = lfirst_oid(lc);
		HeapTuple	tup;
		AttrNumber	attnum;

		for (attnum = 1;; attnum++)
		{
			Form_pg_attribute a;
			char	   *code;

			tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(rel), Int16GetDatum(attnum));
			if (!HeapTupleIsValid(tup))
				break;
			a = (Form_pg_attribute) GETSTRUCT(tup);
			if (!a->attisdropped && (code = agent_code_of(a->atttypid, 0)) != NULL &&
				(rel == relid || a->attinhcount == 0))
			{
				warn_column(rel, NameStr(a->attname), a->atttypid, code, true);
				found++;
			}
			ReleaseSysCache(tup);
		}
		found += warn_checks(rel, rel == relid, true, false);
	}
	PG_RETURN_INT32(found);
}
