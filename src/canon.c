/*-------------------------------------------------------------------------
 * canon.c
 *		The jsonb text of a row, printed straight from its values.
 *
 * The hash chain seals the text that agent_guard._event_content() builds in
 * SQL: to_jsonb() of the event and of its statement, NULLs left out, printed
 * as jsonb.  Going through jsonb for that (to_jsonb, an object rebuilt
 * without the NULLs, then printed) was most of the sealer's work.  This
 * file prints the same text directly: the keys are sorted once per batch
 * the way jsonb orders them (shorter first, then bytewise), and each value
 * is printed as to_jsonb() would make it and jsonb output would print it
 * (PostgreSQL 15 jsonb.c, datum_to_jsonb and JsonbToCString):
 *
 *	- bool: true or false; int2, int4, int8: the digits;
 *	- date, timestamp, timestamptz: JsonEncodeDateTime(), as a string;
 *	- jsonb: the value as jsonb prints it; a JSON null is left out like a
 *	  NULL, as _event_content() does (value <> 'null');
 *	- other built-in scalar types: the output function, as a string;
 *	- anything else (json, float and numeric, arrays, composites, types
 *	  that may have a cast to json): to_jsonb() itself, then printed.
 *
 * agent_guard.verify_log() recomputes every seal with the SQL formula, so a
 * difference between the two shows as a seal that does not verify; the
 * regress test evidence_content compares them on awkward values.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "canon.h"

typedef enum CanonKind
{
	CANON_EXTRA,				/* text given by the caller */
	CANON_BOOL,
	CANON_INT2,
	CANON_INT4,
	CANON_INT8,
	CANON_DATETIME,				/* JsonEncodeDateTime() */
	CANON_JSONB,
	CANON_STRING,				/* output function, as a string */
	CANON_TO_JSONB				/* to_jsonb(), then printed */
} CanonKind;

typedef struct CanonKey
{
	const char *name;
	int			namelen;
	CanonKind	kind;
	int			index;			/* attribute index, or extra's index */
	Oid			typoid;			/* base type (DATETIME) */
	FmgrInfo	fn;				/* output function, or to_jsonb() */
} CanonKey;

struct AgCanonRow
{
	int			nkeys;
	CanonKey   *keys;			/* in jsonb key order */
};

static bool
named_in(const char *name, const char *const *list)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(name, *list) == 0)
			return true;
	return false;
}

/* jsonb's order of object keys: shorter first, then bytewise */
static int
key_cmp(const void *a, const void *b)
{
	const CanonKey *ka = a;
	const CanonKey *kb = b;

	if (ka->namelen != kb->namelen)
		return ka->namelen < kb->namelen ? -1 : 1;
	return memcmp(ka->name, kb->name, ka->namelen);
}

static void
classify(CanonKey *key, Oid atttypid)
{
	Oid			typoid = getBaseType(atttypid);	/* to_jsonb() looks through domains */
	Oid			outfunc;
	bool		isvarlena;

	switch (typoid)
	{
		case BOOLOID:
			key->kind = CANON_BOOL;
			return;
		case INT2OID:
			key->kind = CANON_INT2;
			return;
		case INT4OID:
			key->kind = CANON_INT4;
			return;
		case INT8OID:
			key->kind = CANON_INT8;
			return;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			key->kind = CANON_DATETIME;
			key->typoid = typoid;
			return;
		case JSONBOID:
			key->kind = CANON_JSONB;
			return;
		case JSONOID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			break;
		default:
			/* user-defined types may have a cast to json */
			if (typoid < FirstNormalObjectId &&
				!OidIsValid(get_element_type(typoid)) &&
				typoid != ANYARRAYOID && typoid != RECORDARRAYOID &&
				!type_is_rowtype(typoid))
			{
				key->kind = CANON_STRING;
				getTypeOutputInfo(typoid, &outfunc, &isvarlena);
				fmgr_info(outfunc, &key->fn);
				return;
			}
			break;
	}
	/* to_jsonb(anyelement) learns its argument type from fn_expr */
	key->kind = CANON_TO_JSONB;
	fmgr_info(F_TO_JSONB, &key->fn);
	key->fn.fn_expr = (Node *)
		makeFuncExpr(F_TO_JSONB, JSONBOID,
					 list_make1(makeNullConst(atttypid, -1, InvalidOid)),
					 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
}

AgCanonRow *
ag_canon_prepare(TupleDesc desc, const char *const *skip, const char *const *extras)
{
	AgCanonRow *row = palloc0(sizeof(AgCanonRow));
	int			nextras = 0;
	int			i;

	while (extras != NULL && extras[nextras] != NULL)
		nextras++;
	row->keys = palloc0(sizeof(CanonKey) * (desc->natts + nextras));
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		CanonKey   *key = &row->keys[row->nkeys];

		if (att->attisdropped || named_in(NameStr(att->attname), skip) ||
			named_in(NameStr(att->attname), extras))
			continue;
		key->name = NameStr(att->attname);
		key->namelen = strlen(key->name);
		key->index = i;
		classify(key, att->atttypid);
		row->nkeys++;
	}
	for (i = 0; i < nextras; i++)
	{
		CanonKey   *key = &row->keys[row->nkeys++];

		key->name = extras[i];
		key->namelen = strlen(key->name);
		key->kind = CANON_EXTRA;
		key->index = i;
	}
	qsort(row->keys, row->nkeys, sizeof(CanonKey), key_cmp);
	return row;
}

/* jsonb text of a jsonb value; false (nothing appended) for a JSON null */
static bool
append_jsonb(StringInfo out, Jsonb *jb)
{
	JsonbValue	scalar;

	if (JB_ROOT_IS_SCALAR(jb) &&
		JsonbExtractScalar(&jb->root, &scalar) && scalar.type == jbvNull)
		return false;
	(void) JsonbToCString(out, &jb->root, VARSIZE(jb));
	return true;
}

void
ag_canon_append(StringInfo out, AgCanonRow *row, Datum *values, bool *isnull,
				const char *const *extra_text)
{
	bool		first = true;
	int			i;

	appendStringInfoChar(out, '{');
	for (i = 0; i < row->nkeys; i++)
	{
		CanonKey   *key = &row->keys[i];
		Datum		v = key->kind == CANON_EXTRA ? (Datum) 0 : values[key->index];
		int			mark = out->len;

		if (key->kind != CANON_EXTRA && isnull[key->index])
			continue;
		if (!first)
			appendStringInfoString(out, ", ");
		escape_json(out, key->name);
		appendStringInfoString(out, ": ");
		switch (key->kind)
		{
			case CANON_EXTRA:
				appendStringInfoString(out, extra_text[key->index]);
				break;
			case CANON_BOOL:
				appendStringInfoString(out, DatumGetBool(v) ? "true" : "false");
				break;
			case CANON_INT2:
				appendStringInfo(out, "%d", (int) DatumGetInt16(v));
				break;
			case CANON_INT4:
				appendStringInfo(out, "%d", DatumGetInt32(v));
				break;
			case CANON_INT8:
				appendStringInfo(out, INT64_FORMAT, DatumGetInt64(v));
				break;
			case CANON_DATETIME:
				escape_json(out, JsonEncodeDateTime(NULL, v, key->typoid, NULL));
				break;
			case CANON_STRING:
				escape_json(out, OutputFunctionCall(&key->fn, v));
				break;
			case CANON_JSONB:
			case CANON_TO_JSONB:
				if (!append_jsonb(out, DatumGetJsonbP(key->kind == CANON_JSONB ? v :
													  FunctionCall1(&key->fn, v))))
				{
					/* a JSON null is left out: take the key back */
					out->len = mark;
					out->data[mark] = '\0';
					continue;
				}
				break;
		}
		first = false;
	}
	appendStringInfoChar(out, '}');
}
