/*-------------------------------------------------------------------------
 * canon.c
 *		How to_jsonb() sees a type, and the jsonb text of a row printed
 *		straight from its values.
 *
 * ag_json_kind() is PostgreSQL 15's categorization of a type for to_jsonb()
 * (jsonb.c, jsonb_categorize_type); the row images (capture.c) build jsonb
 * with it, and the printer below text.
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

typedef struct CanonKey
{
	const char *name;
	int			namelen;
	bool		extra;			/* text given by the caller */
	bool		via_to_jsonb;	/* to_jsonb(), then printed */
	AgJsonKind	kind;
	bool		plain_text;		/* text or varchar: its bytes are its output */
	char	   *label;			/* the key as printed, with its ": " */
	int			index;			/* attribute index, or extra's index */
	Oid			typoid;			/* base type */
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

AgJsonKind
ag_json_kind(Oid typoid)
{
	typoid = getBaseType(typoid);
	switch (typoid)
	{
		case BOOLOID:
			return AG_JSON_BOOL;
		case INT2OID:
			return AG_JSON_INT2;
		case INT4OID:
			return AG_JSON_INT4;
		case INT8OID:
			return AG_JSON_INT8;
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return AG_JSON_NUMBER;
		case DATEOID:
			return AG_JSON_DATE;
		case TIMESTAMPOID:
			return AG_JSON_TIMESTAMP;
		case TIMESTAMPTZOID:
			return AG_JSON_TIMESTAMPTZ;
		case JSONBOID:
			return AG_JSON_JSONB;
		case JSONOID:
			return AG_JSON_OTHER;
		default:
			if (typoid >= FirstNormalObjectId ||
				OidIsValid(get_element_type(typoid)) ||
				typoid == ANYARRAYOID || typoid == RECORDARRAYOID ||
				type_is_rowtype(typoid))
				return AG_JSON_OTHER;
			return AG_JSON_STRING;
	}
}

static void
classify_key(CanonKey *key, Oid atttypid)
{
	Oid			outfunc;
	bool		isvarlena;

	key->kind = ag_json_kind(atttypid);
	key->typoid = getBaseType(atttypid);
	switch (key->kind)
	{
		case AG_JSON_STRING:
			key->plain_text = key->typoid == TEXTOID || key->typoid == VARCHAROID;
			/* to_jsonb() prints a domain with its base type's function */
			getTypeOutputInfo(key->typoid, &outfunc, &isvarlena);
			fmgr_info(outfunc, &key->fn);
			return;
		case AG_JSON_NUMBER:
		case AG_JSON_OTHER:
			/* to_jsonb(anyelement) learns its argument type from fn_expr */
			key->via_to_jsonb = true;
			fmgr_info(F_TO_JSONB, &key->fn);
			key->fn.fn_expr = (Node *)
				makeFuncExpr(F_TO_JSONB, JSONBOID,
							 list_make1(makeNullConst(atttypid, -1, InvalidOid)),
							 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
			return;
		default:
			return;
	}
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
		classify_key(key, att->atttypid);
		row->nkeys++;
	}
	for (i = 0; i < nextras; i++)
	{
		CanonKey   *key = &row->keys[row->nkeys++];

		key->name = extras[i];
		key->namelen = strlen(key->name);
		key->extra = true;
		key->index = i;
	}
	qsort(row->keys, row->nkeys, sizeof(CanonKey), key_cmp);
	for (i = 0; i < row->nkeys; i++)
	{
		StringInfoData label;

		initStringInfo(&label);
		escape_json(&label, row->keys[i].name);
		appendStringInfoString(&label, ": ");
		row->keys[i].label = label.data;
	}
	return row;
}

/*
 * escape_json() of len bytes, byte for byte the same text: runs of bytes
 * that need no escape are copied at once (escape_json() appends byte by
 * byte, and a sealed event's text values were a sixth of the sealer's
 * time).
 */
static void
append_json_string(StringInfo out, const char *s, int len)
{
	const char *end = s + len;

	appendStringInfoCharMacro(out, '"');
	while (s < end)
	{
		const char *run = s;

		while (s < end && (unsigned char) *s >= ' ' && *s != '"' && *s != '\\')
			s++;
		if (s > run)
			appendBinaryStringInfo(out, run, s - run);
		if (s == end)
			break;
		switch (*s)
		{
			case '\b':
				appendStringInfoString(out, "\\b");
				break;
			case '\f':
				appendStringInfoString(out, "\\f");
				break;
			case '\n':
				appendStringInfoString(out, "\\n");
				break;
			case '\r':
				appendStringInfoString(out, "\\r");
				break;
			case '\t':
				appendStringInfoString(out, "\\t");
				break;
			case '"':
				appendStringInfoString(out, "\\\"");
				break;
			case '\\':
				appendStringInfoString(out, "\\\\");
				break;
			default:
				appendStringInfo(out, "\\u%04x", (int) *s);
				break;
		}
		s++;
	}
	appendStringInfoCharMacro(out, '"');
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
		Datum		v = key->extra ? (Datum) 0 : values[key->index];
		int			mark = out->len;

		if (!key->extra && isnull[key->index])
			continue;
		if (!first)
			appendStringInfoString(out, ", ");
		appendStringInfoString(out, key->label);
		if (key->extra)
			appendStringInfoString(out, extra_text[key->index]);
		else if (key->via_to_jsonb || key->kind == AG_JSON_JSONB)
		{
			if (!append_jsonb(out, DatumGetJsonbP(key->via_to_jsonb ? FunctionCall1(&key->fn, v) : v)))
			{
				/* a JSON null is left out: take the key back */
				out->len = mark;
				out->data[mark] = '\0';
				continue;
			}
		}
		else
		{
			switch (key->kind)
			{
				case AG_JSON_BOOL:
					appendStringInfoString(out, DatumGetBool(v) ? "true" : "false");
					break;
				case AG_JSON_INT2:
					appendStringInfo(out, "%d", (int) DatumGetInt16(v));
					break;
				case AG_JSON_INT4:
					appendStringInfo(out, "%d", DatumGetInt32(v));
					break;
				case AG_JSON_INT8:
					appendStringInfo(out, INT64_FORMAT, DatumGetInt64(v));
					break;
				case AG_JSON_DATE:
				case AG_JSON_TIMESTAMP:
				case AG_JSON_TIMESTAMPTZ:
					{
						char	   *str = JsonEncodeDateTime(NULL, v, key->typoid, NULL);

						append_json_string(out, str, strlen(str));
					}
					break;
				case AG_JSON_STRING:
					if (key->plain_text)
					{
						text	   *t = DatumGetTextPP(v);

						append_json_string(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
					}
					else
					{
						char	   *str = OutputFunctionCall(&key->fn, v);

						append_json_string(out, str, strlen(str));
					}
					break;
				case AG_JSON_NUMBER:
				case AG_JSON_JSONB:
				case AG_JSON_OTHER:
					/* printed above, through jsonb */
					break;
			}
		}
		first = false;
	}
	appendStringInfoChar(out, '}');
}
