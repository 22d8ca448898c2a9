/*-------------------------------------------------------------------------
 * pooled.c
 *		A transaction tagged only with SET LOCAL agent_guard.agent_id leaves
 *		nothing in the server process that outlives it.
 *
 * Behind a transaction pooler the server process of a shared role serves
 * the agent's tagged transaction and then the next client, a human perhaps,
 * with no reset in between.  Whatever has the session's lifetime that the
 * agent creates in its transaction would reach that client: a temporary
 * table or view that shadows a real one (the human's INSERT goes into the
 * agent's table), a search_path that resolves the human's calls to the
 * agent's functions, a prepared statement, a WITH HOLD cursor, a LISTEN, a
 * session-level advisory lock, any session-level setting (red team 17b,
 * finding 1).  So in such a transaction these are refused (YG004):
 *	- statements (gate.c's verdict, on record): SET without LOCAL (except
 *	  SET TRANSACTION, and a session-level SET of the tag in a transaction
 *	  whose tag came from that SET, a harness's session tag that latches the
 *	  process: identity.c; over a SET LOCAL tag it is refused, red team 18b,
 *	  finding 1), PREPARE, DECLARE ... WITH HOLD, LISTEN, LOAD, and DDL
 *	  that creates or alters an object in the session's temporary schema
 *	  (CREATE TEMPORARY TABLE, VIEW, SEQUENCE, even ON COMMIT DROP; indexes,
 *	  triggers, rules, policies on temporary relations; every CREATE that
 *	  takes a schema, when it would put its object in pg_temp: functions,
 *	  types, domains, operators, aggregates, collations, conversions,
 *	  operator classes and families, statistics objects, text search
 *	  objects, foreign tables, IMPORT FOREIGN SCHEMA, by pg_temp.x,
 *	  pg_temp_N.x or an unqualified name under a search_path that starts
 *	  with pg_temp: red team 28b, finding 1; anything moved to pg_temp;
 *	  ALTER DEFAULT PRIVILEGES, pg_temp's too, is structure.c's);
 *	- statements that drop state such a transaction cannot have made, so
 *	  another client's: DEALLOCATE (a human's prepared statement, replaced
 *	  by the agent's under its name: red team 18b, finding 3), DISCARD TEMP,
 *	  SEQUENCES (DISCARD PLANS drops caches only);
 *	- the extended protocol's Parse of a named statement (parse analysis:
 *	  ag_pooled_parsed());
 *	- calls (object access): the session-level advisory lock functions and
 *	  their release, setseed() (and SET LOCAL seed, a statement): random()'s
 *	  seed is the process's (red team 23b, finding 2); pg_terminate_backend()
 *	  and pg_cancel_backend(), which a shared role may call on every session
 *	  of its own, the humans' (red team 31, F5: their arguments are not
 *	  seen here, so any call, the process's own too); at the end of the
 *	  transaction, whichever way it ends, random() is seeded afresh from a
 *	  strong source, for set_config('seed', ...) and a function's SET seed,
 *	  which no hook sees;
 *	- at commit, the backstop, on record like every refusal (refusal.c): a
 *	  setting whose session-level value the transaction changed to anything
 *	  but its reset value (set_config(..., false), a procedure's SET
 *	  option), a row in the session's temporary schema that the
 *	  transaction created, changed or deleted, of any catalog with a
 *	  namespace column (temp_catalogs[]: a view that became temporary
 *	  because it reads a temporary table, a rename or drop of another
 *	  client's temporary object, anything the statement checks did not
 *	  name), or a named prepared statement made since the tag (dropped
 *	  first: it would outlive the rollback).  The commit fails and the
 *	  transaction rolls back.
 * Not covered: the extended protocol's Close of another client's named
 * statement (no hook sees it); the placeholder PostgreSQL makes for a
 * custom setting it does not know (SET LOCAL app.tenant, set_config(),
 * RESET app.tenant), which stays for the process's life with an empty
 * value, so current_setting('app.tenant', true) returns '' instead of
 * NULL for the clients that come after: PostgreSQL offers no way to remove
 * one, and a rollback keeps it too (red team 23b, finding 3; README,
 * Limitations).  RESET, CLOSE and UNLISTEN are allowed: a
 * transaction pooler keeps no session settings, held cursors or LISTEN for
 * a client anyway.
 * A session tagged for its life (connection options, session SET) or a
 * registered role is the agent in every later transaction of the process,
 * so none of this applies to it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_conversion.h"
#include "catalog/pg_default_acl.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_publication_namespace.h"
#include "catalog/pg_statistic_ext.h"
#include "catalog/pg_ts_config.h"
#include "catalog/pg_ts_dict.h"
#include "catalog/pg_ts_parser.h"
#include "catalog/pg_ts_template.h"
#include "catalog/pg_type.h"
#include "commands/prepare.h"
#include "nodes/parsenodes.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "parser/parse_node.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/guc_tables.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "agent_guard.h"
#include "compat.h"
#include "pooled.h"
#include "refusal.h"
#include "scope.h"
#include "statement.h"
#include "writers.h"

/*
 * The schema an unqualified CREATE puts its object in is the temporary one:
 * search_path names pg_temp (or pg_temp_N) before any schema it can use
 * (red team 28b, finding 1).  fetch_search_path() is what PostgreSQL's
 * CREATE and current_schema() read; when pg_temp comes first and this
 * process has no temporary schema yet it makes one, which the refusal
 * that follows rolls back.
 */
static bool
default_creation_temp(void)
{
	List	   *path = fetch_search_path(false);
	bool		temp = path != NIL && isTempNamespace(linitial_oid(path));

	list_free(path);
	return temp;
}

/*
 * A name list of an object to be created that puts it in the temporary
 * schema: schema-qualified with it, or unqualified under a search_path
 * that starts with it.
 */
static bool
names_temp(List *names)
{
	char	   *schema;
	Oid			nsp;

	if (names == NIL)
		return false;
	if (list_length(names) < 2)
		return default_creation_temp();
	schema = strVal(list_nth(names, list_length(names) - 2));
	if (strcmp(schema, "pg_temp") == 0)
		return true;
	nsp = get_namespace_oid(schema, true);
	return OidIsValid(nsp) && isTempNamespace(nsp);
}

/* A relation to be created that is temporary, by TEMPORARY, its schema or search_path. */
static bool
creates_temp(RangeVar *rv)
{
	if (rv == NULL)
		return false;
	return ag_rangevar_temp(rv) || (rv->schemaname == NULL && default_creation_temp());
}

/* An existing relation (or one to be created) that is temporary. */
static bool
relation_temp(RangeVar *rv)
{
	Oid			relid;

	if (ag_rangevar_temp(rv))
		return true;
	relid = ag_range_var_relid(rv);
	return OidIsValid(relid) && get_rel_persistence(relid) == RELPERSISTENCE_TEMP;
}

static bool
schema_temp(const char *schema)
{
	Oid			nsp;

	if (schema == NULL)
		return false;
	if (strcmp(schema, "pg_temp") == 0)
		return true;
	nsp = get_namespace_oid(schema, true);
	return OidIsValid(nsp) && isTempNamespace(nsp);
}

/*
 * CREATE STATISTICS: a name puts it where a name puts any object; without
 * one it goes into its table's schema.
 */
static bool
statistics_temp(CreateStatsStmt *stmt)
{
	Node	   *from;

	if (stmt->defnames != NIL)
		return names_temp(stmt->defnames);
	from = stmt->relations != NIL ? (Node *) linitial(stmt->relations) : NULL;
	return from != NULL && IsA(from, RangeVar) && relation_temp((RangeVar *) from);
}

/*
 * What the statement would leave in the session beyond the transaction, as
 * the statement's name, or NULL.  Only in a transaction tagged by SET LOCAL
 * alone.
 */
const char *
ag_pooled_utility_state(Node *parsetree, const char **why)
{
	*why = "A transaction tagged with SET LOCAL agent_guard.agent_id cannot leave state in the session: behind a connection pooler the server process's next client would inherit it.";
	if (parsetree == NULL || !ag_identity_xact_only())
		return NULL;
	switch (nodeTag(parsetree))
	{
		case T_VariableSetStmt:
			{
				VariableSetStmt *s = (VariableSetStmt *) parsetree;

				/*
				 * seed seeds random() when it is set, and its SET LOCAL
				 * leaves the generator seeded (red team 23b, finding 2)
				 */
				if (s->name != NULL && strcmp(s->name, "seed") == 0 &&
					s->kind != VAR_RESET && s->kind != VAR_RESET_ALL)
				{
					*why = "A transaction tagged with SET LOCAL agent_guard.agent_id cannot seed random(): the seed is the server process's, and behind a connection pooler its next client's random() would return the values the seed fixes.";
					return "SET seed";
				}
				/* RESET only takes back what was set */
				if (s->is_local || s->kind == VAR_RESET || s->kind == VAR_RESET_ALL)
					return NULL;
				if (s->kind == VAR_SET_MULTI && s->name != NULL &&
					strncmp(s->name, "TRANSACTION", 11) == 0)
					return NULL;
				/*
				 * The tag for the session: it would latch the process as
				 * the agent for the clients that come after (identity.c).
				 * Only the SET that tagged the transaction in the first
				 * place does that (a harness's session tag).
				 */
				if (s->name != NULL && strcmp(s->name, "agent_guard.agent_id") == 0)
				{
					if (!ag_identity_tag_local(NULL))
						return NULL;
					*why = "The transaction is tagged with SET LOCAL agent_guard.agent_id: a session-level tag would make the server process the agent's for its life, and behind a connection pooler every later client of it (a human's INSERT would go into the agent's temporary table, as the agent).";
					return "SET agent_guard.agent_id";
				}
				return "SET";
			}
		case T_PrepareStmt:
			return "PREPARE";
		case T_DeallocateStmt:
			/* it cannot have prepared one: the statement is someone else's */
			*why = "A transaction tagged with SET LOCAL agent_guard.agent_id cannot prepare statements, so the prepared statements of the session are another client's: behind a connection pooler it could drop a human's and prepare its own under the same name.";
			return "DEALLOCATE";
		case T_DiscardStmt:
			if (((DiscardStmt *) parsetree)->target == DISCARD_PLANS)
				return NULL;
			*why = "A transaction tagged with SET LOCAL agent_guard.agent_id cannot make temporary objects or sequence state of its own, so what DISCARD drops is another client's of the server process.";
			return "DISCARD";
		case T_DeclareCursorStmt:
			return (((DeclareCursorStmt *) parsetree)->options & CURSOR_OPT_HOLD) ?
				"DECLARE ... WITH HOLD" : NULL;
		case T_ListenStmt:
			return "LISTEN";
		case T_LoadStmt:
			return "LOAD";
		case T_CreateStmt:
			return creates_temp(((CreateStmt *) parsetree)->relation) ?
				"CREATE TEMPORARY TABLE" : NULL;
		case T_CreateForeignTableStmt:
			return creates_temp(((CreateForeignTableStmt *) parsetree)->base.relation) ?
				"CREATE FOREIGN TABLE" : NULL;
		case T_CreateTableAsStmt:
			return creates_temp(((CreateTableAsStmt *) parsetree)->into->rel) ?
				"CREATE TEMPORARY TABLE AS" : NULL;
		case T_ViewStmt:
			return creates_temp(((ViewStmt *) parsetree)->view) ?
				"CREATE TEMPORARY VIEW" : NULL;
		case T_CreateSeqStmt:
			return creates_temp(((CreateSeqStmt *) parsetree)->sequence) ?
				"CREATE TEMPORARY SEQUENCE" : NULL;
		case T_CompositeTypeStmt:
			return creates_temp(((CompositeTypeStmt *) parsetree)->typevar) ?
				"CREATE TYPE" : NULL;
		case T_ImportForeignSchemaStmt:
			return schema_temp(((ImportForeignSchemaStmt *) parsetree)->local_schema) ?
				"IMPORT FOREIGN SCHEMA" : NULL;
		case T_IndexStmt:
			return relation_temp(((IndexStmt *) parsetree)->relation) ?
				"CREATE INDEX" : NULL;
		case T_CreateTrigStmt:
			return relation_temp(((CreateTrigStmt *) parsetree)->relation) ?
				"CREATE TRIGGER" : NULL;
		case T_RuleStmt:
			return relation_temp(((RuleStmt *) parsetree)->relation) ?
				"CREATE RULE" : NULL;
		case T_CreatePolicyStmt:
			return relation_temp(((CreatePolicyStmt *) parsetree)->table) ?
				"CREATE POLICY" : NULL;
		case T_AlterTableStmt:
			return relation_temp(((AlterTableStmt *) parsetree)->relation) ?
				"ALTER TABLE" : NULL;
		case T_CreateFunctionStmt:
			return names_temp(((CreateFunctionStmt *) parsetree)->funcname) ?
				"CREATE FUNCTION" : NULL;
		case T_DefineStmt:
			return names_temp(((DefineStmt *) parsetree)->defnames) ?
				"CREATE" : NULL;
		case T_CreateDomainStmt:
			return names_temp(((CreateDomainStmt *) parsetree)->domainname) ?
				"CREATE DOMAIN" : NULL;
		case T_CreateEnumStmt:
			return names_temp(((CreateEnumStmt *) parsetree)->typeName) ?
				"CREATE TYPE" : NULL;
		case T_CreateRangeStmt:
			return names_temp(((CreateRangeStmt *) parsetree)->typeName) ?
				"CREATE TYPE" : NULL;
		case T_CreateStatsStmt:
			return statistics_temp((CreateStatsStmt *) parsetree) ?
				"CREATE STATISTICS" : NULL;
		case T_CreateConversionStmt:
			return names_temp(((CreateConversionStmt *) parsetree)->conversion_name) ?
				"CREATE CONVERSION" : NULL;
		case T_CreateOpClassStmt:
			return names_temp(((CreateOpClassStmt *) parsetree)->opclassname) ?
				"CREATE OPERATOR CLASS" : NULL;
		case T_CreateOpFamilyStmt:
			return names_temp(((CreateOpFamilyStmt *) parsetree)->opfamilyname) ?
				"CREATE OPERATOR FAMILY" : NULL;
		case T_AlterObjectSchemaStmt:
			return schema_temp(((AlterObjectSchemaStmt *) parsetree)->newschema) ?
				"ALTER ... SET SCHEMA" : NULL;
		default:
			return NULL;
	}
}

/*
 * A call that changes the session's state beyond the transaction, in a
 * transaction tagged by SET LOCAL alone: why, or NULL.
 */
const char *
ag_pooled_function_state(Oid funcid)
{
	if (funcid != F_SETSEED && funcid != F_PG_TERMINATE_BACKEND &&
		funcid != F_PG_CANCEL_BACKEND && !ag_writers_session_lock(funcid))
		return NULL;
	if (!ag_identity_xact_only())
		return NULL;
	if (funcid == F_PG_TERMINATE_BACKEND || funcid == F_PG_CANCEL_BACKEND)
		return "In a transaction tagged with SET LOCAL agent_guard.agent_id the role is a shared one, the humans' too: PostgreSQL lets it signal every session of that role, so this would end the humans' sessions or cancel their statements (red team 31, F5). Ask a human, or an administrator's session, to do it.";
	if (funcid == F_SETSEED)
		return "setseed() in a transaction tagged with SET LOCAL agent_guard.agent_id seeds random() for the server process, beyond the transaction: behind a connection pooler its next client's random() would return the values the seed fixes.";
	return "A session-level advisory lock taken or released in a transaction tagged with SET LOCAL agent_guard.agent_id outlives the transaction: behind a connection pooler the server process's next client would inherit it; take a transaction-level lock (pg_advisory_xact_lock).";
}

/*
 * The end of a transaction tagged by SET LOCAL alone: seed random() afresh
 * from a strong source.  setseed() and SET LOCAL seed are refused in it
 * (on record), but set_config('seed', ...) and a function's SET seed
 * option seed the generator with no call or statement a hook sees, and
 * neither a commit nor a rollback takes a seed back (red team 23b,
 * finding 2).  Reseeded, the next client's random() is no one's choice,
 * as in a process that never seeded it.  No error is raised here (the
 * transaction has ended): without a strong source, the clock and the
 * process id seed it.
 */
static void
reseed_random(void)
{
	uint64		r;
	double		seed;

	if (!pg_strong_random(&r, sizeof(r)))
		r = (uint64) GetCurrentTimestamp() ^ ((uint64) MyProcPid << 32);
	/* setseed() takes [-1, 1]: 53 bits of r */
	seed = (double) (r >> 11) / (double) (UINT64CONST(1) << 53) * 2.0 - 1.0;
	(void) DirectFunctionCall1(setseed, Float8GetDatum(seed));
}

/* The setting holds its reset value (what RESET goes back to). */
static bool
at_reset_value(struct config_generic *gconf)
{
	switch (gconf->vartype)
	{
		case PGC_BOOL:
			return *((struct config_bool *) gconf)->variable ==
				((struct config_bool *) gconf)->reset_val;
		case PGC_INT:
			return *((struct config_int *) gconf)->variable ==
				((struct config_int *) gconf)->reset_val;
		case PGC_REAL:
			return *((struct config_real *) gconf)->variable ==
				((struct config_real *) gconf)->reset_val;
		case PGC_ENUM:
			return *((struct config_enum *) gconf)->variable ==
				((struct config_enum *) gconf)->reset_val;
		case PGC_STRING:
			{
				char	   *cur = *((struct config_string *) gconf)->variable;
				char	   *rst = ((struct config_string *) gconf)->reset_val;

				return (cur == NULL && rst == NULL) ||
					(cur != NULL && rst != NULL && strcmp(cur, rst) == 0);
			}
	}
	return false;
}

/*
 * A setting whose session-level value this transaction changed to anything
 * but its reset value (RESET and RESET ALL only take back what was set),
 * or NULL.
 */
static const char *
session_setting_changed(void)
{
	int			n;
	struct config_generic **vars = ag_guc_variables(&n);
	int			i;

	for (i = 0; i < n; i++)
	{
		GucStack   *st;

		if (vars[i]->stack == NULL)
			continue;
		/* SET TRANSACTION's, reset per transaction (exact names only) */
		if (strcmp(vars[i]->name, "transaction_isolation") == 0 ||
			strcmp(vars[i]->name, "transaction_read_only") == 0 ||
			strcmp(vars[i]->name, "transaction_deferrable") == 0)
			continue;
		/* a harness's session tag latches (identity.c); not one set over SET LOCAL's */
		if (strcmp(vars[i]->name, "agent_guard.agent_id") == 0 && !ag_identity_tag_local(NULL))
			continue;
		for (st = vars[i]->stack; st != NULL; st = st->prev)
		{
			/* the value the session keeps: SET LOCAL's masks it */
			if (st->state == GUC_SET && !at_reset_value(vars[i]))
				return vars[i]->name;
			if (st->state == GUC_SET_LOCAL)
				return vars[i]->name;
		}
	}
	return NULL;
}

/*
 * Every catalog with a namespace column: what a schema holds (red team 28b,
 * finding 1: a statistics object, a conversion, an operator class or
 * family in pg_temp outlived the transaction as surely as a table).  The
 * list is PostgreSQL's (15 and 18 have the same), pinned by regress
 * rt28_pooled, which lists the catalogs with such a column: a new one
 * there belongs here.  name is 0 for a catalog whose rows have no name.
 */
static const struct
{
	Oid			catalog;
	AttrNumber	nsp;
	AttrNumber	name;
	const char *kind;
}			temp_catalogs[] =
{
	{RelationRelationId, Anum_pg_class_relnamespace, Anum_pg_class_relname, "relation"},
	{TypeRelationId, Anum_pg_type_typnamespace, Anum_pg_type_typname, "type"},
	{ProcedureRelationId, Anum_pg_proc_pronamespace, Anum_pg_proc_proname, "function"},
	{OperatorRelationId, Anum_pg_operator_oprnamespace, Anum_pg_operator_oprname, "operator"},
	{OperatorClassRelationId, Anum_pg_opclass_opcnamespace, Anum_pg_opclass_opcname, "operator class"},
	{OperatorFamilyRelationId, Anum_pg_opfamily_opfnamespace, Anum_pg_opfamily_opfname, "operator family"},
	{ConversionRelationId, Anum_pg_conversion_connamespace, Anum_pg_conversion_conname, "conversion"},
	{ConstraintRelationId, Anum_pg_constraint_connamespace, Anum_pg_constraint_conname, "constraint"},
	{CollationRelationId, Anum_pg_collation_collnamespace, Anum_pg_collation_collname, "collation"},
	{StatisticExtRelationId, Anum_pg_statistic_ext_stxnamespace, Anum_pg_statistic_ext_stxname, "statistics object"},
	{TSConfigRelationId, Anum_pg_ts_config_cfgnamespace, Anum_pg_ts_config_cfgname, "text search configuration"},
	{TSDictionaryRelationId, Anum_pg_ts_dict_dictnamespace, Anum_pg_ts_dict_dictname, "text search dictionary"},
	{TSParserRelationId, Anum_pg_ts_parser_prsnamespace, Anum_pg_ts_parser_prsname, "text search parser"},
	{TSTemplateRelationId, Anum_pg_ts_template_tmplnamespace, Anum_pg_ts_template_tmplname, "text search template"},
	{ExtensionRelationId, Anum_pg_extension_extnamespace, Anum_pg_extension_extname, "extension"},
	{DefaultAclRelationId, Anum_pg_default_acl_defaclnamespace, 0, "default privileges"},
	{PublicationNamespaceRelationId, Anum_pg_publication_namespace_pnnspid, 0, "publication schema"},
};

/*
 * A catalog row in the temporary schema that this transaction (or one of
 * its subtransactions) created, changed or deleted: true, with its name
 * (the schema's for a row without one) and whether the row is gone.  A
 * transaction tagged by SET LOCAL alone cannot make temporary objects, so
 * one it dropped (or renamed: the old version's delete) was another
 * client's, as what DISCARD TEMP would drop.  Read with SnapshotAny: the
 * transaction's own deletes are invisible to any other snapshot.
 */
static bool
temp_catalog_changed(size_t which, Oid nsp, char **name, bool *dropped)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	bool		found = false;

	ScanKeyInit(&key, temp_catalogs[which].nsp, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(nsp));
	rel = table_open(temp_catalogs[which].catalog, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, SnapshotAny, 1, &key);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		HeapTupleHeader h = tup->t_data;
		bool		made = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmin(h));
		bool		gone = !(h->t_infomask & HEAP_XMAX_INVALID) &&
			!HEAP_XMAX_IS_LOCKED_ONLY(h->t_infomask) &&
			TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetUpdateXid(h));

		/*
		 * made and gone again in this transaction: nothing left, nothing
		 * taken (an aborted subtransaction's xid is no longer current)
		 */
		if (made == gone)
			continue;
		{
			bool		isnull = true;
			Datum		d = 0;

			if (temp_catalogs[which].name != 0)
				d = heap_getattr(tup, temp_catalogs[which].name, RelationGetDescr(rel), &isnull);
			if (!isnull)
				*name = pstrdup(NameStr(*DatumGetName(d)));
			else
			{
				char	   *schema = get_namespace_name(nsp);

				*name = schema ? schema : pstrdup("?");
			}
			*dropped = gone;
			found = true;
			/* a changed row: its new version says so, under the new name */
			if (made)
				break;
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Refuse the commit, on record like every refusal (refusal.c): the request
 * names the statement that ends the transaction (COMMIT, or the last one
 * of an implicit transaction).
 */
static void
refuse_commit(const char *reason)
{
	const char *text;
	int			len;

	(void) ag_current_statement(&text, &len);
	ag_refuse(AG_REFUSAL_GUARD, "COMMIT", reason, text ? text : "COMMIT", text ? len : 6, 0);
}

/* ... for what the transaction would leave behind */
static void
refuse_at_commit(const char *what, const char *name)
{
	refuse_commit(psprintf("A transaction tagged with SET LOCAL agent_guard.agent_id cannot leave %s \"%s\" in the session: the server process serves other clients after this transaction (a connection pooler), and they would inherit it. The transaction is rolled back; keep session state out of such a transaction, or connect the agent as its own registered role.",
						   what, name));
}

/*
 * The named prepared statements made since the tag (prepare_time at or
 * after the start of the statement that set it), by any path: SQL PREPARE
 * in code the statement checks did not see, the extended protocol's Parse.
 * Read through pg_prepared_statement(), the only listing PostgreSQL
 * exports.  A statement sent in one query string with the tag counts as the
 * tagged transaction's.
 */
static List *
prepared_since(TimestampTz since)
{
	FmgrInfo	flinfo;
	ReturnSetInfo rsinfo;
	TupleTableSlot *slot;
	List	   *found = NIL;

	LOCAL_FCINFO(fcinfo, 0);

	fmgr_info(F_PG_PREPARED_STATEMENT, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 0, InvalidOid, NULL, (Node *) &rsinfo);
	memset(&rsinfo, 0, sizeof(rsinfo));
	rsinfo.type = T_ReturnSetInfo;
	rsinfo.econtext = CreateStandaloneExprContext();
	rsinfo.allowedModes = SFRM_Materialize;
	rsinfo.returnMode = SFRM_Materialize;
	(void) FunctionCallInvoke(fcinfo);
	if (rsinfo.setResult != NULL)
	{
		slot = MakeSingleTupleTableSlot(rsinfo.setDesc, &TTSOpsMinimalTuple);
		while (tuplestore_gettupleslot(rsinfo.setResult, true, false, slot))
		{
			bool		isnull;
			Datum		t = slot_getattr(slot, 3, &isnull);	/* prepare_time */

			if (!isnull && DatumGetTimestampTz(t) >= since)
			{
				Datum		n = slot_getattr(slot, 1, &isnull);

				if (!isnull)
					found = lappend(found, TextDatumGetCString(n));
			}
		}
		ExecDropSingleTupleTableSlot(slot);
		tuplestore_end(rsinfo.setResult);
	}
	FreeExprContext(rsinfo.econtext, true);
	return found;
}

/*
 * Parse analysis (hooks.c): the extended protocol's Parse of a named
 * statement, in a transaction tagged by SET LOCAL alone.  The statement
 * would outlive the transaction (a rollback too) under a name the next
 * client of the process may use (red team 18b, finding 3).  PostgreSQL
 * does not tell the hook the name, but it analyses a named statement in
 * MessageContext (an unnamed one in a context of its own) and only a Parse
 * message analyses with variable parameters at the top of the stack:
 * SQL's PREPARE is refused as a statement, and drivers' unnamed Parse
 * stays allowed.  The commit backstop catches whatever this misses.
 */
void
ag_pooled_parsed(ParseState *pstate)
{
	const char *why = "A transaction tagged with SET LOCAL agent_guard.agent_id cannot prepare a named statement (the extended protocol's Parse with a name): it outlives the transaction, even a rolled back one, and behind a connection pooler the server process's next client could execute it under a name it uses itself. Use the unnamed statement.";

	if (pstate->p_paramref_hook == NULL || CurrentMemoryContext != MessageContext ||
		pstate->parentParseState != NULL || !ag_identity_xact_only())
		return;
	if (IsAbortedTransactionBlockState())
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_PROTECTED),
				 errmsg("named prepared statement refused: it would weaken agent_guard"),
				 errdetail("%s", why)));
	ag_refuse(AG_REFUSAL_GUARD, "named prepared statement (Parse)", why,
			  pstate->p_sourcetext, pstate->p_sourcetext ? (int) strlen(pstate->p_sourcetext) : 0, 0);
}

/* The backstop, before a transaction tagged by SET LOCAL alone commits. */
static void
pooled_xact_callback(XactEvent event, void *arg)
{
	const char *setting;
	Oid			temp_nsp;
	Oid			temp_toast;

	TimestampTz since = 0;
	List	   *stmts;
	size_t		i;

	/* the ending transaction's tag is still readable here (identity.c) */
	if ((event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT) && ag_identity_xact_only())
	{
		reseed_random();
		return;
	}
	if (event != XACT_EVENT_PRE_COMMIT || !ag_identity_xact_only())
		return;
	if ((setting = session_setting_changed()) != NULL)
		refuse_at_commit("a session-level value of setting", setting);
	if (ag_identity_tag_local(&since) && (stmts = prepared_since(since)) != NIL)
	{
		ListCell   *lc;

		/* a prepared statement outlives the rollback: drop it first */
		foreach(lc, stmts)
			DropPreparedStatement((char *) lfirst(lc), false);
		refuse_at_commit("prepared statement", (char *) linitial(stmts));
	}
	GetTempNamespaceState(&temp_nsp, &temp_toast);
	if (!OidIsValid(temp_nsp))
		return;
	/* a transaction that wrote nothing (no xid) wrote no catalog row: no scans */
	if (!TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return;
	for (i = 0; i < lengthof(temp_catalogs); i++)
	{
		char	   *name;
		bool		dropped;

		if (!temp_catalog_changed(i, temp_nsp, &name, &dropped))
			continue;
		if (dropped)
			refuse_commit(psprintf("A transaction tagged with SET LOCAL agent_guard.agent_id cannot drop temporary %s \"%s\": it cannot make temporary objects, so those in the session are another client's of the server process (a connection pooler). The transaction is rolled back.",
								   temp_catalogs[i].kind, name));
		refuse_at_commit(psprintf("temporary %s", temp_catalogs[i].kind), name);
	}
}

void
ag_pooled_init(void)
{
	RegisterXactCallback(pooled_xact_callback, NULL);
}
