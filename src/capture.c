/*-------------------------------------------------------------------------
 * capture.c
 *		The row triggers on protected tables: stamps and the event log.
 *
 * agent_guard.protect() puts two triggers on a table:
 *
 *	- ag_stamp, BEFORE INSERT OR UPDATE FOR EACH ROW: writes the acting
 *	  agent and run into ag_agent_id / ag_run_id, or NULLs for a write by a
 *	  human.  Stamps are never taken from the statement, so neither an agent
 *	  nor a human can forge them.  A human write whose stamps are already
 *	  NULL returns the tuple untouched: no copy, no SPI.
 *
 *	- ag_capture, AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW WHEN
 *	  (agent_guard.in_agent_session()): appends one row to
 *	  agent_guard.events with the final old and new images.  The WHEN clause
 *	  is evaluated when the event would be queued, so writes by humans do
 *	  not even enter the after-trigger queue; and a statement of a human's
 *	  session does not even have the trigger (ag_capture_skip_human, at
 *	  ExecutorStart), so that it does not compile the clause.  AFTER (not BEFORE) because
 *	  only then is the row really written: INSERT ... ON CONFLICT DO UPDATE
 *	  fires BEFORE INSERT for a row it then updates, and a later BEFORE
 *	  trigger may still change or suppress the row.
 *
 * The statement's text is stored once per client statement in
 * agent_guard.statements, and each event points at it.  Events are part of
 * the agent's transaction: they commit or vanish with the write.
 *
 * The agent holds no privilege on the agent_guard schema's tables, so the
 * inserts run as the extension owner (owner_spi.c's ag_owner_become(),
 * restored on every path including errors, where transaction abort
 * restores it too).  The statement text comes from statement.c; a change
 * too large to log is refused through refusal.c, on record like the
 * gates' refusals; a commit that wrote events wakes the sealer (worker.c).
 * They go straight to the table and its indexes (fastinsert.c), without
 * SPI: on a single-row write SPI cost as much as the write itself.  The
 * row images are built before the switch, as the writing user.
 *
 * Per-relation metadata (stamp column numbers, key columns, how each column
 * goes into a row image) is cached in CaptureContext (under the session
 * context, session.c), keyed by relation OID and invalidated by relcache
 * callbacks.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "access/transam.h"
#include "catalog/partition.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/execdesc.h"
#include "nodes/execnodes.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "chain.h"
#include "compat.h"
#include "failsafe.h"
#include "fastinsert.h"
#include "gate.h"
#include "outputpin.h"
#include "owner_spi.h"
#include "refusal.h"
#include "relinfo.h"
#include "rowimage.h"
#include "scope.h"
#include "session.h"
#include "softcasc.h"
#include "softkeys.h"
#include "statement.h"
#include "worker.h"

static MemoryContext CaptureContext = NULL;
static HTAB *relinfo_hash = NULL;

/* the number of the current client statement, once its first event is written */
static uint64 stmt_cache_seq = 0;
static LocalTransactionId stmt_cache_lxid = InvalidLocalTransactionId;
static int64 stmt_cache_id = 0;

/* direct inserters of this transaction (fastinsert.c resets them) */
static AgFastInsert *stmt_inserter = NULL;
static AgFastInsert *event_inserter = NULL;

/*
 * The columns capture supplies; the tables' defaults fill in the rest.
 * "?parameters" is optional: a database still at 1.0 (the new library runs
 * it until ALTER EXTENSION UPDATE) has no such column.
 *
 * Since 1.2 the statement is kept in its first event (the last four
 * columns; the statement's other events have only its statement_id), not
 * in a row of its own: a one-row write then appends one row, not two (a
 * heap tuple, a primary key entry and the defaults less).  A database
 * still at 1.0 or 1.1 has none of those columns, and gets a statements row
 * as before (stmt_columns).
 */
static const char *const stmt_columns[] = {"agent_id", "run_id", "login_role", "query", "?parameters"};
static const char *const event_columns[] = {
	"agent_id", "run_id", "login_role", "acting_role", "statement_id",
	"relation", "operation", "old_row", "new_row", "row_key",
	"?query", "?client_addr", "?application_name", "?parameters"
};
#define EV_STATEMENT_ID 4
#define EV_QUERY 10
#define EV_CLIENT_ADDR 11
#define EV_APPLICATION_NAME 12
#define EV_PARAMETERS 13

static void
capture_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	AgRelInfo  *info;

	if (relinfo_hash == NULL)
		return;
	hash_seq_init(&status, relinfo_hash);
	while ((info = (AgRelInfo *) hash_seq_search(&status)) != NULL)
	{
		if (relid == InvalidOid || info->relid == relid || info->root_relid == relid)
			info->valid = false;
	}
}

/*
 * A statement's first event (or statements row) inserted in a
 * subtransaction that rolled back is gone; forget it so the next write
 * keeps the statement again.
 */
static void
capture_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		stmt_cache_id = 0;
}

static void
capture_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
		stmt_cache_id = 0;
}

/*
 * agent_guard.capture()'s OID, the trigger function that makes a table
 * protected, kept for the session: every human statement that writes a
 * table asks it (ag_capture_skip_human), and so does every question "is
 * this relation protected" (scope.c), several per agent statement.
 * Forgotten at any change of a pg_proc or pg_namespace row and at a cache
 * reset; kept only where those callbacks are registered (preloaded).
 */
static bool capture_fn_watched = false;
static bool capture_fn_known = false;
static Oid	capture_fn = InvalidOid;

static void
capture_fn_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	capture_fn_known = false;
}

Oid
ag_capture_function(void)
{
	Oid			nsp;
	Oid			fn;

	if (capture_fn_known)
		return capture_fn;
	nsp = ag_guard_namespace();
	fn = !OidIsValid(nsp) ? InvalidOid :
		GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid,
						CStringGetDatum("capture"),
						PointerGetDatum(buildoidvector(NULL, 0)),
						ObjectIdGetDatum(nsp));
	if (capture_fn_watched)
	{
		capture_fn = fn;
		capture_fn_known = true;
	}
	return fn;
}

void
ag_capture_init(void)
{
	CacheRegisterRelcacheCallback(capture_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, capture_fn_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, capture_fn_callback, (Datum) 0);
	capture_fn_watched = true;
	RegisterSubXactCallback(capture_subxact_callback, NULL);
	RegisterXactCallback(capture_xact_callback, NULL);
	ag_fast_init();
}

static AttrNumber
find_column(TupleDesc desc, const char *name, Oid typid)
{
	int			i;

	for (i = desc->natts - 1; i >= 0; i--)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
		{
			if (att->atttypid != typid)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("column \"%s\" of protected table has type %s, expected %s",
								name, format_type_be(att->atttypid), format_type_be(typid)),
						 errhint("Run agent_guard.unprotect() and agent_guard.protect() again after fixing the column.")));
			return att->attnum;
		}
	}
	return InvalidAttrNumber;
}

/*
 * The row_key of an event: {"keycol": image->'keycol', ...}, as
 * jsonb_build_object() would build it from the row image.
 */
static Datum
build_row_key(TupleDesc desc, AgRelInfo *info, Jsonb *image)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;
	int			i;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < info->nkeys; i++)
	{
		const char *colname = NameStr(TupleDescAttr(desc, info->keyattnos[i] - 1)->attname);
		JsonbValue	k;
		JsonbValue *v;
		JsonbValue	jnull;

		k.type = jbvString;
		k.val.string.val = (char *) colname;
		k.val.string.len = strlen(colname);
		v = findJsonbValueFromContainer(&image->root, JB_FOBJECT, &k);
		if (v == NULL)
		{
			jnull.type = jbvNull;
			v = &jnull;
		}
		pushJsonbValue(&state, WJB_KEY, &k);
		pushJsonbValue(&state, WJB_VALUE, v);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

/* The columns of the key that identifies rows in the log. */
static void
load_key(Relation rel, AgRelInfo *info)
{
	Oid			keyidx = AG_PRIMARY_KEY_INDEX(rel);
	Relation	idx;
	int			i;

	if (!OidIsValid(keyidx))
		keyidx = RelationGetReplicaIndex(rel);
	if (!OidIsValid(keyidx))
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
				 errmsg("protected table \"%s\" has no primary key or replica identity index",
						RelationGetRelationName(rel)),
				 errdetail("agent_guard identifies every logged row by its key."),
				 errhint("Add a primary key to the table.")));

	idx = index_open(keyidx, AccessShareLock);
	info->keyidx = keyidx;
	info->nkeys = idx->rd_index->indnkeyatts;
	for (i = 0; i < info->nkeys; i++)
	{
		AttrNumber	attno = idx->rd_index->indkey.values[i];

		if (attno <= 0)
			elog(ERROR, "key index of relation %u has an expression column", RelationGetRelid(rel));
		info->keyattnos[i] = attno;
	}
	index_close(idx, AccessShareLock);
}

static char *
qualified_name(Oid relid)
{
	char	   *nsp = get_namespace_name(get_rel_namespace(relid));
	char	   *rel = get_rel_name(relid);

	if (nsp == NULL || rel == NULL)
		elog(ERROR, "cache lookup failed for relation %u", relid);
	/* as the pinned settings print it: not every name quoted */
	return ag_quote_qualified(nsp, rel);
}

/*
 * Row images.  to_jsonb(row) looks up every column's type category and
 * output function again for every row (syscache lookups and an fmgr_info
 * per column): on a bulk write that was a third of building the images.
 * When every column of a table has a simple built-in type, the lookups are
 * done once, with the relation's other cached facts, and row_image()
 * builds the image exactly as to_jsonb() does (PostgreSQL 15 jsonb.c,
 * composite_to_jsonb and datum_to_jsonb).  Any other table (arrays,
 * composites, json, user-defined types, which may have a cast to json)
 * goes through to_jsonb() itself.
 *
 * Where to_jsonb() would drop part of a value (an array's lower bounds, a
 * float's negative zero) or read it as JSON or through a cast (json,
 * hstore, a type with a cast to json), the image keeps the column's text
 * instead (rowimage.c): row_image() prints -0 as the string "-0" itself,
 * and ag_image_row() builds the image of any other table
 * (info->imgfix), the marks of the columns read as JSON or through a cast
 * in it.
 *
 * Images print with the pinned output settings (outputpin.c): floats and
 * timestamptz are printed here as extra_float_digits = 1 and TimeZone =
 * UTC print them; for the other columns *deps gets the settings their
 * types print with, which capture pins around the images when the
 * session's values differ.
 */
static AgJsonCol *
load_json_columns(TupleDesc desc, int *deps)
{
	AgJsonCol  *cols = MemoryContextAllocZero(CaptureContext,
											  sizeof(AgJsonCol) * Max(desc->natts, 1));
	int			i;
	bool		fast = true;
	int			deps_all = 0;
	int			deps_fast = 0;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		needout;

		if (att->attisdropped)
			continue;
		deps_all |= ag_output_type_deps(att->atttypid);
		cols[i].kind = ag_json_kind(att->atttypid);
		cols[i].base = getBaseType(att->atttypid);
		if (cols[i].kind == AG_JSON_JSONB || cols[i].kind == AG_JSON_OTHER)
			fast = false;
		if (!fast)
			continue;
		if (cols[i].kind == AG_JSON_STRING)
			deps_fast |= ag_output_type_deps(cols[i].base);
		needout = cols[i].kind == AG_JSON_NUMBER || cols[i].kind == AG_JSON_STRING;
		if (needout)
		{
			Oid			outfunc;
			bool		isvarlena;

			/* to_jsonb() prints a domain with its base type's function */
			getTypeOutputInfo(getBaseType(att->atttypid), &outfunc, &isvarlena);
			fmgr_info_cxt(outfunc, &cols[i].out, CaptureContext);
		}
	}
	if (!fast)
	{
		pfree(cols);
		*deps = deps_all;
		return NULL;
	}
	for (i = 0; i < desc->natts; i++)
		cols[i].text = cols[i].kind == AG_JSON_STRING &&
			(cols[i].base == TEXTOID || cols[i].base == VARCHAROID || cols[i].base == BPCHAROID);
	*deps = deps_fast;
	return cols;
}

/*
 * The order of a jsonb object's keys (jsonb.c's lengthCompareJsonbPair():
 * shorter first, then bytewise), which pushJsonbValue() sorts the pairs of
 * every object into.
 */
static int
jsonb_key_cmp(const void *a, const void *b, void *arg)
{
	TupleDesc	desc = (TupleDesc) arg;
	const char *ka = NameStr(TupleDescAttr(desc, *(const int *) a)->attname);
	const char *kb = NameStr(TupleDescAttr(desc, *(const int *) b)->attname);
	size_t		la = strlen(ka);
	size_t		lb = strlen(kb);

	if (la != lb)
		return la < lb ? -1 : 1;
	return memcmp(ka, kb, la);
}

/*
 * The columns of a simple table in the order of their keys in its row
 * images: row_image() puts the pairs in that order itself, instead of
 * pushing them one by one and having every image's keys sorted again.
 * Column names are unique, so the order is total.
 */
static int *
load_json_order(TupleDesc desc, int *n)
{
	int		   *order = MemoryContextAlloc(CaptureContext, sizeof(int) * Max(desc->natts, 1));
	int			i;

	*n = 0;
	for (i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			order[(*n)++] = i;
	qsort_arg(order, *n, sizeof(int), jsonb_key_cmp, desc);
	return order;
}

/* the printed length of the numbers row_image() put into jsonb since reset */
static Size image_number_bytes = 0;

static const int utc_offset = 0;

/*
 * to_jsonb() of a row of the relation, as the pinned output settings print
 * it: the caller pins info->pin_deps
 */
static Datum
row_image(AgRelInfo *info, HeapTuple tuple, TupleDesc desc, JsonbPair **pairs_out)
{
	JsonbValue	object;
	JsonbPair  *pairs;
	Datum	   *values;
	bool	   *isnull;
	int			j;

	if (info->jcols == NULL)
		return ag_image_row(info->imgfix, &info->to_jsonb, tuple, desc, false);

	values = palloc(sizeof(Datum) * desc->natts);
	isnull = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(tuple, desc, values, isnull);

	/*
	 * The object as pushJsonbValue() would leave it once its keys are
	 * sorted (info->jorder), turned into jsonb by the same function.
	 */
	pairs = palloc(sizeof(JsonbPair) * Max(info->njorder, 1));
	for (j = 0; j < info->njorder; j++)
	{
		int			i = info->jorder[j];
		Form_pg_attribute att = TupleDescAttr(desc, i);
		AgJsonCol  *col = &info->jcols[i];
		JsonbValue *k = &pairs[j].key;
		JsonbValue *v = &pairs[j].value;
		char	   *out;

		pairs[j].order = j;
		k->type = jbvString;
		k->val.string.val = NameStr(att->attname);
		k->val.string.len = strlen(k->val.string.val);

		if (isnull[i])
			v->type = jbvNull;
		else
		{
			switch (col->kind)
			{
				case AG_JSON_BOOL:
					v->type = jbvBool;
					v->val.boolean = DatumGetBool(values[i]);
					break;
				case AG_JSON_INT2:
				case AG_JSON_INT4:
				case AG_JSON_INT8:

					/*
					 * to_jsonb() prints the integer and reads the text back
					 * with numeric_in(); both end in make_result(), so the
					 * numeric is the same, digit for digit.
					 */
					v->type = jbvNumeric;
					v->val.numeric = int64_to_numeric(col->kind == AG_JSON_INT2 ? (int64) DatumGetInt16(values[i]) :
													  col->kind == AG_JSON_INT4 ? (int64) DatumGetInt32(values[i]) :
													  DatumGetInt64(values[i]));
					break;
				case AG_JSON_NUMBER:
					if (col->base == FLOAT8OID)
						out = ag_float8_text(DatumGetFloat8(values[i]));
					else if (col->base == FLOAT4OID)
						out = ag_float4_text(DatumGetFloat4(values[i]));
					else
						out = OutputFunctionCall(&col->out, values[i]);
					image_number_bytes += strlen(out);

					/*
					 * NaN and infinities stay strings, as in to_jsonb(); so
					 * does -0, which a jsonb number would read back as 0
					 * (rowimage.c)
					 */
					if (strchr(out, 'N') != NULL || strchr(out, 'n') != NULL ||
						ag_image_negative_zero(out))
					{
						v->type = jbvString;
						v->val.string.val = out;
						v->val.string.len = strlen(out);
					}
					else
					{
						v->type = jbvNumeric;
						v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																			 CStringGetDatum(out),
																			 ObjectIdGetDatum(InvalidOid),
																			 Int32GetDatum(-1)));
					}
					break;
				case AG_JSON_DATE:
				case AG_JSON_TIMESTAMP:
				case AG_JSON_TIMESTAMPTZ:
					/* a timestamptz as TimeZone = UTC prints it */
					v->type = jbvString;
					v->val.string.val = JsonEncodeDateTime(NULL, values[i],
														   col->kind == AG_JSON_DATE ? DATEOID :
														   col->kind == AG_JSON_TIMESTAMP ? TIMESTAMPOID :
														   TIMESTAMPTZOID, &utc_offset);
					v->val.string.len = strlen(v->val.string.val);
					break;
				case AG_JSON_STRING:
					v->type = jbvString;
					if (col->text)
					{
						/* textout(), varcharout() and bpcharout() print the bytes */
						text	   *t = DatumGetTextPP(values[i]);

						v->val.string.val = VARDATA_ANY(t);
						v->val.string.len = VARSIZE_ANY_EXHDR(t);
					}
					else
					{
						out = OutputFunctionCall(&col->out, values[i]);
						v->val.string.val = out;
						v->val.string.len = strlen(out);
					}
					if (v->val.string.len > JENTRY_OFFLENMASK)
						ereport(ERROR,
								(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
								 errmsg("string too long to represent as jsonb string"),
								 errdetail("Due to an implementation restriction, jsonb strings cannot exceed %d bytes.",
										   JENTRY_OFFLENMASK)));
					break;
				case AG_JSON_JSONB:
				case AG_JSON_OTHER:
					/* load_json_columns() leaves such tables to to_jsonb() */
					elog(ERROR, "agent_guard: no direct row image for this column");
					break;
			}
		}
	}
	memset(&object, 0, sizeof(object));
	object.type = jbvObject;
	object.val.object.nPairs = info->njorder;
	object.val.object.pairs = pairs;
	if (pairs_out)
		*pairs_out = pairs;
	return JsonbPGetDatum(JsonbValueToJsonb(&object));
}

/*
 * build_row_key() for an image row_image() built itself, from its pairs:
 * the key columns' pairs, which are in jsonb's key order already
 * (info->keypos ascending; a column named twice in the key index once, as
 * pushJsonbValue() would keep it).
 */
static Datum
build_row_key_from_pairs(AgRelInfo *info, JsonbPair *pairs)
{
	JsonbValue	object;
	JsonbPair	keypairs[INDEX_MAX_KEYS];
	int			m;

	for (m = 0; m < info->nkeypos; m++)
	{
		keypairs[m] = pairs[info->keypos[m]];
		keypairs[m].order = m;
	}
	memset(&object, 0, sizeof(object));
	object.type = jbvObject;
	object.val.object.nPairs = info->nkeypos;
	object.val.object.pairs = keypairs;
	return JsonbPGetDatum(JsonbValueToJsonb(&object));
}

/* The cached facts about a protected relation. */
AgRelInfo *
ag_relinfo_get(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	AgRelInfo  *info;
	bool		found;

	if (relinfo_hash == NULL)
	{
		HASHCTL		ctl;

		CaptureContext = AllocSetContextCreate(ag_session_memory(),
											   "agent_guard capture cache",
											   ALLOCSET_SMALL_SIZES);
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(AgRelInfo);
		ctl.hcxt = CaptureContext;
		relinfo_hash = hash_create("agent_guard protected relations", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	info = (AgRelInfo *) hash_search(relinfo_hash, &relid, HASH_ENTER, &found);
	if (!found)
	{
		info->valid = false;
		info->relname = NULL;
		info->jcols = NULL;
		info->jorder = NULL;
		info->imgfix = NULL;
		info->seqkeys = NULL;
	}

	if (!info->valid)
	{
		TupleDesc	desc = RelationGetDescr(rel);
		MemoryContext old;

		if (info->relname)
		{
			pfree(info->relname);
			info->relname = NULL;
		}
		if (info->jcols)
		{
			pfree(info->jcols);
			info->jcols = NULL;
		}
		if (info->jorder)
		{
			pfree(info->jorder);
			info->jorder = NULL;
		}
		if (info->imgfix)
		{
			ag_image_fix_free(info->imgfix);
			info->imgfix = NULL;
		}

		info->att_agent = find_column(desc, "ag_agent_id", TEXTOID);
		info->att_run = find_column(desc, "ag_run_id", TEXTOID);
		info->att_deleted = find_column(desc, "ag_deleted_at", TIMESTAMPTZOID);
		load_key(rel, info);
		if (info->att_agent == InvalidAttrNumber || info->att_run == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
					 errmsg("protected table \"%s\" is missing its stamp columns",
							RelationGetRelationName(rel)),
					 errdetail("Columns \"ag_agent_id\" and \"ag_run_id\" of type text are required."),
					 errhint("Run agent_guard.protect() on the table again to add them.")));

		info->root_relid = relid;
		if (rel->rd_rel->relispartition)
		{
			List	   *ancestors = get_partition_ancestors(relid);

			if (ancestors != NIL)
				info->root_relid = llast_oid(ancestors);
		}

		old = MemoryContextSwitchTo(CaptureContext);
		info->relname = qualified_name(info->root_relid);
		/* to_jsonb(anyelement) learns its argument type from fn_expr */
		fmgr_info_cxt(F_TO_JSONB, &info->to_jsonb, CaptureContext);
		info->to_jsonb.fn_expr = (Node *)
			makeFuncExpr(F_TO_JSONB, JSONBOID,
						 list_make1(makeNullConst(rel->rd_rel->reltype, -1, InvalidOid)),
						 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
		MemoryContextSwitchTo(old);
		info->jcols = load_json_columns(desc, &info->pin_deps);
		if (info->jcols == NULL)
			info->imgfix = ag_image_fix_prepare(desc, CaptureContext);
		else
		{
			int			j,
						m;

			info->jorder = load_json_order(desc, &info->njorder);
			/* the key columns' places among the image's pairs, ascending */
			info->nkeypos = 0;
			for (j = 0; j < info->njorder; j++)
				for (m = 0; m < info->nkeys; m++)
					if (info->keyattnos[m] == info->jorder[j] + 1)
					{
						info->keypos[info->nkeypos++] = j;
						break;
					}
		}
		info->seqkeys_loaded = false;	/* seqkeys.c reloads on first use */
		info->soft_rows_loaded = false;	/* softkeys.c too */
		info->valid = true;
	}

	return info;
}

static void
check_trigger_call(FunctionCallInfo fcinfo, const char *name)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function %s was not called by the trigger manager", name),
				 errhint("agent_guard.protect() puts it on a table; it cannot be called directly.")));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function %s must be fired for each row", name)));
}

/*
 * A text datum of s, kept for the session while s stays the same string
 * (the agent, the run, the roles: the same from one event to the next
 * for as long as they do not change).  The event's tuple copies it.
 */
typedef struct TextCache
{
	char	   *str;
	text	   *txt;
} TextCache;

static Datum
cached_text(TextCache *c, const char *s)
{
	if (c->str == NULL || strcmp(c->str, s) != 0)
	{
		MemoryContext old = MemoryContextSwitchTo(ag_session_memory());

		if (c->str)
		{
			pfree(c->str);
			pfree(c->txt);
			c->str = NULL;
		}
		c->txt = cstring_to_text(s);
		c->str = pstrdup(s);
		MemoryContextSwitchTo(old);
	}
	return PointerGetDatum(c->txt);
}

/* the stamps' and the events' agent and run */
static TextCache agent_text;
static TextCache run_text;

/*
 * agent_guard.stamp(): BEFORE INSERT OR UPDATE FOR EACH ROW.
 */
static bool
is_soft_delete_trigger(Trigger *trigger)
{
	return trigger->tgnargs >= 1 && strcmp(trigger->tgargs[0], "soft_delete") == 0;
}

/*
 * A human's statement needs no capture trigger: its WHEN clause
 * (agent_guard.in_agent_session()) is false for every row it writes.  But
 * PostgreSQL compiles a trigger's WHEN in every statement that would fire
 * it (the clause's text parsed, the function looked up and its EXECUTE
 * checked: about 10k instructions, half of what a human's 1-row write on a
 * protected table paid over the same write on a plain table), and an AFTER
 * row trigger on the relation makes an UPDATE or DELETE fetch each old row
 * again.  So, once ExecutorStart has set up the statement's result
 * relations, the capture trigger is taken out of each one's copy of the
 * trigger descriptor (InitResultRelInfo copies the relcache's for each
 * result relation, so no other statement sees the change) and the flags
 * that say which AFTER row triggers are left are computed again.  The
 * stamp trigger stays: it clears the stamps a human's write leaves.
 *
 * The WHEN clause stays on the table for what this does not reach: the
 * partitions an INSERT routes rows to as it runs, the relations of
 * triggers PostgreSQL sets up as they fire, COPY FROM (no executor hooks),
 * and any statement of an agent's session.  The decision is the
 * statement's, where the WHEN was the row's: a session that would become
 * an agent's in the middle of such a statement is refused
 * (ag_identity_pin_human), so no row of it can be an agent's.
 */
static bool
drop_capture_trigger(ResultRelInfo *rri, Oid fn)
{
	TriggerDesc *td = rri->ri_TrigDesc;
	int			i;
	int			n = 0;
	bool		dropped = false;

	if (td == NULL)
		return false;
	for (i = 0; i < td->numtriggers; i++)
	{
		Trigger    *t = &td->triggers[i];

		if (t->tgfoid == fn && TRIGGER_FOR_ROW(t->tgtype) &&
			TRIGGER_FOR_AFTER(t->tgtype) && t->tgoldtable == NULL &&
			t->tgnewtable == NULL)
		{
			dropped = true;
			continue;
		}
		/* the per-trigger caches, still empty, move with their trigger */
		if (n != i)
		{
			td->triggers[n] = *t;
			rri->ri_TrigFunctions[n] = rri->ri_TrigFunctions[i];
			if (rri->ri_TrigWhenExprs != NULL)
				rri->ri_TrigWhenExprs[n] = rri->ri_TrigWhenExprs[i];
			if (rri->ri_TrigInstrument != NULL)
				rri->ri_TrigInstrument[n] = rri->ri_TrigInstrument[i];
		}
		n++;
	}
	if (!dropped)
		return false;
	td->numtriggers = n;
	/* only these flags can come from the trigger taken out (SetTriggerFlags) */
	td->trig_insert_after_row = false;
	td->trig_update_after_row = false;
	td->trig_delete_after_row = false;
	for (i = 0; i < n; i++)
	{
		int16		tgtype = td->triggers[i].tgtype;

		td->trig_insert_after_row |=
			TRIGGER_TYPE_MATCHES(tgtype, TRIGGER_TYPE_ROW, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_INSERT);
		td->trig_update_after_row |=
			TRIGGER_TYPE_MATCHES(tgtype, TRIGGER_TYPE_ROW, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_UPDATE);
		td->trig_delete_after_row |=
			TRIGGER_TYPE_MATCHES(tgtype, TRIGGER_TYPE_ROW, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_DELETE);
	}
	return true;
}

/*
 * ExecutorStart of a statement of a session that is not an agent's, after
 * the standard start (hooks.c).
 */
void
ag_capture_skip_human(EState *estate)
{
	ListCell   *lc;
	Oid			fn;
	bool		dropped = false;

	if (estate == NULL || estate->es_opened_result_relations == NIL ||
		!OidIsValid(fn = ag_capture_function()))
		return;
	foreach(lc, estate->es_opened_result_relations)
		dropped |= drop_capture_trigger((ResultRelInfo *) lfirst(lc), fn);
	if (dropped)
		ag_identity_pin_human(estate->es_query_cxt);
}

PG_FUNCTION_INFO_V1(ag_stamp);
Datum
ag_stamp(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	TupleDesc	desc;
	AgRelInfo  *info;
	const char *agent;
	int			cols[3];
	Datum		values[3];
	bool		nulls[3];
	int			ncols = 2;
	bool		soft;

	check_trigger_call(fcinfo, "agent_guard.stamp()");
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		elog(ERROR, "ag_stamp: must be fired before insert or update");
	if (!ag_preloaded)			/* failsafe.c: agents refused, humans go on */
		ag_failsafe_check(psprintf("write to table \"%s\"",
								   RelationGetRelationName(trigdata->tg_relation)));

	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newtuple : trigdata->tg_trigtuple;
	desc = RelationGetDescr(trigdata->tg_relation);
	info = ag_relinfo_get(trigdata->tg_relation);
	agent = ag_current_agent();
	soft = is_soft_delete_trigger(trigdata->tg_trigger) && info->att_deleted != InvalidAttrNumber;

	/* a rollback's replay (rollback.c) restores the stamps it was given */
	if (agent == NULL && ag_replay_mode())
		return PointerGetDatum(tuple);

	cols[0] = info->att_agent;
	cols[1] = info->att_run;

	/*
	 * While agent_guard.purge() deletes (rowwork.c), an update of a live row
	 * an agent wrote can only be an ON DELETE SET NULL / SET DEFAULT the
	 * purge set off, or a trigger's: it would stamp the row as this human's
	 * write and lose whose it was.  purge() looked for such rows first and
	 * refused (YG050); this holds when its look missed one.
	 */
	if (ag_purge_running && TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) &&
		!heap_attisnull(trigdata->tg_trigtuple, info->att_agent, desc) &&
		(info->att_deleted == InvalidAttrNumber ||
		 heap_attisnull(trigdata->tg_trigtuple, info->att_deleted, desc)))
	{
		bool		isnull;
		Datum		who = heap_getattr(trigdata->tg_trigtuple, info->att_agent, desc, &isnull);

		ereport(ERROR,
				(errcode(ERRCODE_AG_PURGE_REACH),
				 errmsg("purge would change a live row an agent wrote"),
				 errdetail("A row of table \"%s\" last written by agent \"%s\" would be changed by the purge's ON DELETE actions or triggers, and stamped as a human's write.",
						   info->relname, TextDatumGetCString(who)),
				 errhint("Nothing was removed.  Roll back the agent's run first, or change or delete that row yourself, then purge again.")));
	}

	if (agent == NULL)
	{
		/*
		 * A human's row wins over the soft-deleted rows holding its keys:
		 * they are purged first (softkeys.c).  Not for the updates a purge's
		 * ON DELETE actions make.
		 */
		if (soft && !ag_purge_running)
			ag_softkeys_human_write(trigdata->tg_relation,
									TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_trigtuple : NULL,
									tuple, info);
		/* a human write: stamps NULL, and free when they already are */
		if (heap_attisnull(tuple, info->att_agent, desc) &&
			heap_attisnull(tuple, info->att_run, desc))
			return PointerGetDatum(tuple);
		values[0] = values[1] = (Datum) 0;
		nulls[0] = nulls[1] = true;
		return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, ncols, cols, values, nulls));
	}

	/*
	 * an agent's row, before its constraints: its defaults' draws left
	 * room in the sequences that number the table (seqkeys.c)
	 */
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) && ag_judging())
		ag_seqroom_row(trigdata->tg_relation, info);

	values[0] = cached_text(&agent_text, agent);
	values[1] = cached_text(&run_text, ag_current_run(true));
	nulls[0] = nulls[1] = false;

	if (soft && TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		/* an agent inserts live rows only */
		cols[2] = info->att_deleted;
		values[2] = (Datum) 0;
		nulls[2] = true;
		ncols = 3;
		ag_soft_check_insert(trigdata->tg_relation, tuple, info);
	}
	else if (soft && TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) &&
			 heap_attisnull(trigdata->tg_trigtuple, info->att_deleted, desc) &&
			 !heap_attisnull(tuple, info->att_deleted, desc))
	{
		/* a soft delete: keep what RETURNING must show */
		ag_soft_remember(trigdata->tg_trigtuple, desc, info);
		/* and from now on humans' writes look for the keys it holds */
		ag_softkeys_agent_soft_delete(info);
	}

	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, ncols, cols, values, nulls));
}

/* Name of a role, looked up once per session per role. */
static const char *
role_name(Oid roleid, Oid *cached_oid, char **cached_name)
{
	if (*cached_name == NULL || *cached_oid != roleid)
	{
		char	   *name = GetUserNameFromId(roleid, false);

		if (*cached_name)
			pfree(*cached_name);
		*cached_name = ag_session_strdup(name);
		*cached_oid = roleid;
	}
	return *cached_name;
}


/*
 * A statement's text longer than AG_MAX_QUERY_LOG, as logged: its first and
 * its last half of that, cut on character boundaries, with a line between
 * them that gives the whole length and SHA-256 (of the text in the database
 * encoding), so that a copy kept elsewhere can still be matched.  Keeping
 * both ends means padding at one end hides nothing.  Every event of the
 * statement is sealed with this text (AG_MAX_EVENT_BYTES).
 */
static text *
cut_query(const char *query, int len)
{
	int			half = AG_MAX_QUERY_LOG / 2;
	int			head = pg_mbcliplen(query, len, half);
	int			tail = head;
	uint8		digest[32];
	StringInfoData buf;
	int			i;

	/* the first character boundary at or after len - half */
	while (tail < len - half)
		tail += pg_mblen(query + tail);
	ag_sha256((const uint8 *) query, len, NULL, 0, digest);
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, query, head);
	appendStringInfo(&buf, "\n-- agent_guard: statement text cut: %d bytes in all, %d left out here; sha256 of the whole: ",
					 len, tail - head);
	for (i = 0; i < (int) sizeof(digest); i++)
		appendStringInfo(&buf, "%02x", digest[i]);
	appendStringInfoChar(&buf, '\n');
	appendBinaryStringInfo(&buf, query + tail, len - tail);
	return cstring_to_text_with_len(buf.data, buf.len);
}

/* Is the current client statement's row written already? */
static bool
statement_recorded(void)
{
	const char *text;
	int			len;
	uint64		seq = ag_current_statement(&text, &len);

	return stmt_cache_id != 0 && stmt_cache_seq == seq && stmt_cache_lxid == AG_MY_LXID;
}

/*
 * In a database at 1.0 or 1.1 (the library runs it until ALTER EXTENSION
 * UPDATE): the agent_guard.statements row of the current client statement,
 * inserted at its first logged write, with its bound parameter values
 * (params, printed by the caller as the agent: NULL for none).  Caller
 * already acts as the extension owner.
 */
static int64
current_statement_id(Datum agent, Datum run, Datum login, const char *params)
{
	const char *text;
	int			len;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	bool		isnull;
	uint64		seq;
	AgFastInsert *fi;
	TupleTableSlot *slot;
	Datum		id;

	seq = ag_current_statement(&text, &len);
	if (stmt_cache_id != 0 && stmt_cache_seq == seq &&
		stmt_cache_lxid == AG_MY_LXID)
		return stmt_cache_id;

	fi = ag_fast_open(&stmt_inserter, "statements", lengthof(stmt_columns), stmt_columns);
	values[0] = agent;
	values[1] = run;
	values[2] = login;
	if (text != NULL && len > AG_MAX_QUERY_LOG)
		values[3] = PointerGetDatum(cut_query(text, len));
	else if (text != NULL)
		values[3] = PointerGetDatum(cstring_to_text_with_len(text, len));
	else
	{
		values[3] = (Datum) 0;
		nulls[3] = true;
	}
	if (params != NULL)
		values[4] = CStringGetTextDatum(params);
	else
		nulls[4] = true;

	slot = ag_fast_insert(fi, values, nulls);
	id = slot_getattr(slot, ag_fast_attnum(fi, "statement_id"), &isnull);
	if (isnull)
		elog(ERROR, "could not record statement: no statement_id");
	stmt_cache_id = DatumGetInt64(id);
	stmt_cache_seq = seq;
	stmt_cache_lxid = AG_MY_LXID;
	return stmt_cache_id;
}

/*
 * The client's address, as inet_client_addr() gives it (NULL over a Unix
 * socket): the same for the whole session, so worked out once.
 */
static Datum
client_addr(bool *isnull)
{
	static bool known = false;
	static bool addr_null = true;
	static Datum addr = (Datum) 0;

	if (!known)
	{
		LOCAL_FCINFO(fcinfo, 0);
		MemoryContext old = MemoryContextSwitchTo(ag_session_memory());
		Datum		d;

		InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
		d = inet_client_addr(fcinfo);
		addr_null = fcinfo->isnull;
		if (!addr_null)
			addr = PointerGetDatum(PG_DETOAST_DATUM_COPY(d));
		MemoryContextSwitchTo(old);
		known = true;
	}
	*isnull = addr_null;
	return addr;
}

/*
 * Since 1.2: the statement of this event, kept in the event itself if it is
 * the statement's first (values[EV_QUERY ...]), or its number only.  The
 * numbers come from agent_guard.statement_rows' identity, so that they
 * follow those of the statements written before the update.  params as for
 * current_statement_id().  Caller already acts as the extension owner.
 */
static void
statement_in_event(Datum *values, bool *nulls, const char *params)
{
	const char *text;
	int			len;
	uint64		seq = ag_current_statement(&text, &len);
	const char *appname;
	Oid			seqoid;

	if (stmt_cache_id != 0 && stmt_cache_seq == seq && stmt_cache_lxid == AG_MY_LXID)
	{
		values[EV_STATEMENT_ID] = Int64GetDatum(stmt_cache_id);
		nulls[EV_QUERY] = nulls[EV_CLIENT_ADDR] = nulls[EV_APPLICATION_NAME] =
			nulls[EV_PARAMETERS] = true;
		return;
	}

	seqoid = ag_own_table_oid("statement_rows_statement_id_seq");
	if (!OidIsValid(seqoid))
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
				 errmsg("relation \"%s.statement_rows_statement_id_seq\" does not exist", AG_SCHEMA),
				 errhint("Reinstall the agent_guard extension.")));
	values[EV_STATEMENT_ID] = Int64GetDatum(nextval_internal(seqoid, false));

	/* '' when no text is known: a non-NULL query marks the first event */
	if (text != NULL && len > AG_MAX_QUERY_LOG)
		values[EV_QUERY] = PointerGetDatum(cut_query(text, len));
	else
		values[EV_QUERY] = PointerGetDatum(cstring_to_text_with_len(text ? text : "", text ? len : 0));
	values[EV_CLIENT_ADDR] = client_addr(&nulls[EV_CLIENT_ADDR]);
	/*
	 * current_setting('application_name', true), as the statements' default
	 * was: the setting's own variable, which GetConfigOption() returns after
	 * looking the name up
	 */
	appname = application_name;
	nulls[EV_APPLICATION_NAME] = (appname == NULL);
	values[EV_APPLICATION_NAME] = appname ? CStringGetTextDatum(appname) : (Datum) 0;
	nulls[EV_PARAMETERS] = (params == NULL);
	values[EV_PARAMETERS] = params ? CStringGetTextDatum(params) : (Datum) 0;

	stmt_cache_id = DatumGetInt64(values[EV_STATEMENT_ID]);
	stmt_cache_seq = seq;
	stmt_cache_lxid = AG_MY_LXID;
}

static void
check_stamps(HeapTuple tuple, TupleDesc desc, AgRelInfo *info, const char *agent)
{
	bool		isnull;
	Datum		d;
	const char *run = ag_current_run(true);

	d = heap_getattr(tuple, info->att_agent, desc, &isnull);
	if (!isnull && strcmp(TextDatumGetCString(d), agent) == 0)
	{
		d = heap_getattr(tuple, info->att_run, desc, &isnull);
		if (!isnull && strcmp(TextDatumGetCString(d), run) == 0)
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_AG_IDENTITY_VIOLATION),
			 errmsg("the stamps of a row written by agent \"%s\" were changed after agent_guard set them", agent),
			 errdetail("Table %s has a trigger that runs after zz_agent_guard_stamp and rewrites ag_agent_id or ag_run_id.",
					   info->relname),
			 errhint("Remove or rename that trigger; agent_guard must have the last word on the stamps.")));
}

/*
 * The printed length of the numbers in a jsonb value, up to a little past
 * limit.  A numeric prints far longer than it is stored (1e131000: a few
 * bytes, 131,001 digits), so the stored size of an image does not bound
 * the text the sealer prints.
 */
static Size
jsonb_number_bytes(Jsonb *jb, Size limit)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbIteratorToken tok;
	JsonbValue	v;
	Size		total = 0;

	while (total <= limit && (tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if ((tok == WJB_VALUE || tok == WJB_ELEM) && v.type == jbvNumeric)
		{
			char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
																	NumericGetDatum(v.val.numeric)));

			total += strlen(text);
			pfree(text);
		}
	}
	return total;
}

/*
 * Refuse an agent's change whose event would be too large to seal and to
 * verify (AG_MAX_EVENT_BYTES of images as stored, and as much again of
 * numbers as printed): fail closed, before anything is logged.
 */
static void
check_event_size(Relation rel, const char *operation, Size stored, Size numbers)
{
	char	   *why;
	const char *text;
	int			len;
	int64		id;

	if (stored <= AG_MAX_EVENT_BYTES && numbers <= AG_MAX_EVENT_BYTES)
		return;
	why = psprintf("The %s would log %zu bytes of row images, with numbers that print as %zu bytes; an agent's change may log at most %zu bytes of either.",
				   operation, stored, numbers, AG_MAX_EVENT_BYTES);
	(void) ag_current_statement(&text, &len);
	/* on record like the gates' refusals: the error ends this transaction */
	id = ag_refusal_record(why, text, text ? Min(len, AG_MAX_QUERY_LOG) : 0);
	ereport(ERROR,
			(errcode(ERRCODE_AG_ROW_TOO_LARGE),
			 errmsg("row of \"%s\" too large for the agent_guard event log (request " INT64_FORMAT ")",
					RelationGetRelationName(rel), id),
			 errdetail("%s", why),
			 errhint("Keep large values outside the protected table, or have a human make this change.")));
}

/*
 * agent_guard.capture(): AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW,
 * WHEN (agent_guard.in_agent_session()).
 */
PG_FUNCTION_INFO_V1(ag_capture);
Datum
ag_capture(PG_FUNCTION_ARGS)
{
	static Oid	login_oid = InvalidOid;
	static char *login_name = NULL;
	static Oid	acting_oid = InvalidOid;
	static char *acting_name = NULL;
	static TextCache login_text,
				acting_text,
				relname_text,
				operation_text;

	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	const char *agent;
	const char *operation;
	HeapTuple	oldtup = NULL;
	HeapTuple	newtup = NULL;
	Datum		values[lengthof(event_columns)];
	bool		nulls[lengthof(event_columns)];
	AgOwnerSave owner_save;
	AgRelInfo  *info;
	char	   *params;
	int			pin_level;
	JsonbPair  *keyimage = NULL;	/* the key's image as row_image() built it */

	check_trigger_call(fcinfo, "agent_guard.capture()");
	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		elog(ERROR, "ag_capture: must be fired after the row is written");
	if (!ag_preloaded)
		ag_failsafe_check(psprintf("write to table \"%s\"", RelationGetRelationName(rel)));

	agent = ag_current_agent();
	if (agent == NULL)			/* WHEN said agent; identity holds within a transaction */
		elog(ERROR, "ag_capture: fired outside an agent session");
	ag_idempotency_check(agent);	/* the key, at the transaction's first write */
	ag_gate_note_write();		/* COMMIT is judged against the freezes */

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		operation = "INSERT";
		newtup = trigdata->tg_trigtuple;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		operation = "UPDATE";
		oldtup = trigdata->tg_trigtuple;
		newtup = trigdata->tg_newtuple;
	}
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
	{
		operation = "DELETE";
		oldtup = trigdata->tg_trigtuple;

		/*
		 * The planner turns an agent's DELETE of a soft-delete table into
		 * an UPDATE; a DELETE reaching this point escaped that, so refuse
		 * it rather than lose the row.  Two deletes are meant to remove the
		 * row, and are logged with its image like a hard-delete table's:
		 *
		 * - the delete half of an UPDATE that moves the row to another
		 *   partition (red team 30, F5): the row lives on in the new
		 *   partition, whose INSERT event follows, and rollback_run undoes
		 *   the pair (the new row deleted, the old one re-inserted).
		 *   heap_delete() marks the old version's t_ctid as moved to
		 *   another partition only for such an update, and the trigger
		 *   reads the version as the delete left it (fetched by its tid).
		 *   A tuple that did not come from the heap carries no such mark:
		 *   refused, as before.
		 * - a foreign key's ON DELETE CASCADE query, which the planner
		 *   leaves a real delete when the referenced table's deletes are
		 *   logged too (softdelete.c, red team 30, F6); the row's cmax is
		 *   the command id the cascade's plan ran with.
		 */
		if (is_soft_delete_trigger(trigdata->tg_trigger) &&
			!HeapTupleHeaderIndicatesMovedPartitions(oldtup->t_data) &&
			!ag_softdelete_cascaded(oldtup->t_data))
			ereport(ERROR,
					(errcode(ERRCODE_AG_GUARD_UNAVAILABLE),
					 errmsg("refusing to remove a row of soft-delete table \"%s\"",
							RelationGetRelationName(rel)),
					 errdetail("An agent's DELETE on this table must become a soft delete, and this one did not."),
					 errhint("Run the statement again; if it keeps failing, report it to the agent_guard developers.")));
	}
	else
		elog(ERROR, "ag_capture: unexpected trigger event %u", trigdata->tg_event);

	info = ag_relinfo_get(rel);

	/* an UPDATE that sets ag_deleted_at on a live row is a soft delete */
	if (newtup != NULL && oldtup != NULL && info->att_deleted != InvalidAttrNumber &&
		heap_attisnull(oldtup, info->att_deleted, desc) &&
		!heap_attisnull(newtup, info->att_deleted, desc))
		operation = "SOFT_DELETE";

	/*
	 * The stamps on the written row must be ours: a trigger of the table's
	 * own that fires after the stamp trigger could otherwise disguise an
	 * agent write as a human's or another run's.
	 */
	if (newtup != NULL)
		check_stamps(newtup, desc, info, agent);

	/*
	 * A key a sequence has yet to issue would make the humans' inserts
	 * that take the default fail (seqkeys.c).  Checked on the row as
	 * written, after every BEFORE trigger.
	 */
	if (newtup != NULL)
		ag_seqkeys_check(rel, info, oldtup, newtup);

	memset(nulls, false, sizeof(nulls));
	values[0] = cached_text(&agent_text, agent);
	values[1] = cached_text(&run_text, ag_current_run(true));
	values[2] = cached_text(&login_text, role_name(GetAuthenticatedUserId(), &login_oid, &login_name));
	values[3] = cached_text(&acting_text, role_name(GetUserId(), &acting_oid, &acting_name));
	values[5] = cached_text(&relname_text, info->relname);
	values[6] = cached_text(&operation_text, operation);

	/*
	 * Row images are built here, as the writing user: to_jsonb() may call
	 * output functions and casts of user-defined types, which must never
	 * run with the extension owner's rights.  The key is read from them.
	 * They print with the pinned output settings, whatever the agent set.
	 */
	image_number_bytes = 0;
	pin_level = ag_output_pin(info->pin_deps);
	if (oldtup)
		values[7] = row_image(info, oldtup, desc, newtup ? NULL : &keyimage);
	else
	{
		values[7] = (Datum) 0;
		nulls[7] = true;
	}
	if (newtup)
		values[8] = row_image(info, newtup, desc, &keyimage);
	else
	{
		values[8] = (Datum) 0;
		nulls[8] = true;
	}
	ag_output_unpin(pin_level);
	if (keyimage != NULL)
		values[9] = build_row_key_from_pairs(info, keyimage);
	else
		values[9] = build_row_key(desc, info, DatumGetJsonbP(newtup ? values[8] : values[7]));
	{
		/*
		 * Simple tables: row_image() counted the numbers it printed, and the
		 * key holds some of them again.  Images built by to_jsonb(), and
		 * their key, are walked (the row trigger's only walk, on the slower
		 * path already).
		 */
		Size		numbers = 2 * image_number_bytes;

		if (info->jcols == NULL)
		{
			if (!nulls[7])
				numbers += jsonb_number_bytes(DatumGetJsonbP(values[7]), AG_MAX_EVENT_BYTES);
			if (!nulls[8])
				numbers += jsonb_number_bytes(DatumGetJsonbP(values[8]), AG_MAX_EVENT_BYTES);
			numbers += jsonb_number_bytes(DatumGetJsonbP(values[9]), AG_MAX_EVENT_BYTES);
		}
		check_event_size(rel, operation,
						 (nulls[7] ? 0 : VARSIZE_ANY(DatumGetPointer(values[7]))) +
						 (nulls[8] ? 0 : VARSIZE_ANY(DatumGetPointer(values[8]))) +
						 VARSIZE_ANY(DatumGetPointer(values[9])), numbers);
	}

	/* the statement's bound values, printed as the agent, once a statement */
	params = statement_recorded() ? NULL : ag_client_params_text();

	ag_owner_become(&owner_save, true);
	PG_TRY();
	{
		AgFastInsert *fi = ag_fast_open(&event_inserter, "events", lengthof(event_columns), event_columns);

		if (ag_fast_supplied(fi, EV_QUERY))
			statement_in_event(values, nulls, params);
		else
		{
			/* 1.0, 1.1: a statements row */
			values[EV_STATEMENT_ID] = Int64GetDatum(current_statement_id(values[0], values[1], values[2], params));
			nulls[EV_QUERY] = nulls[EV_CLIENT_ADDR] = nulls[EV_APPLICATION_NAME] =
				nulls[EV_PARAMETERS] = true;
		}
		ag_fast_insert(fi, values, nulls);
		ag_worker_note_event();	/* wake the sealer at commit */
	}
	PG_FINALLY();
	{
		ag_owner_restore(&owner_save);
	}
	PG_END_TRY();

	/*
	 * A soft delete does what the delete the agent asked for does to the
	 * live rows that reference the row through foreign keys (softcasc.c):
	 * refused where they would stop it, soft-deleted (or deleted, logged)
	 * where they cascade.  Logged after the row's own event.
	 */
	if (operation[0] == 'S')
		ag_softcasc_row(rel, trigdata->tg_trigtuple);

	return PointerGetDatum(NULL);
}
