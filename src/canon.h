/*-------------------------------------------------------------------------
 * canon.h
 *		How to_jsonb() sees a column's type, and the jsonb text of a row
 *		printed straight from its values (src/canon.c).  The row images
 *		(capture.c) and the sealer's canonical event content (chain.c) are
 *		built on them.
 *-------------------------------------------------------------------------
 */
#ifndef AG_CANON_H
#define AG_CANON_H

#include "postgres.h"
#include "access/tupdesc.h"
#include "lib/stringinfo.h"

/*
 * What to_jsonb() makes of a value of a type (PostgreSQL 15 jsonb.c,
 * jsonb_categorize_type and datum_to_jsonb), domains looked through.
 */
typedef enum AgJsonKind
{
	AG_JSON_BOOL,
	AG_JSON_INT2,				/* integers: a jsonb number, the digits */
	AG_JSON_INT4,
	AG_JSON_INT8,
	AG_JSON_NUMBER,				/* float4, float8, numeric: the output read
								 * back as a jsonb number (NaN, infinities:
								 * strings) */
	AG_JSON_DATE,				/* JsonEncodeDateTime(), as a string */
	AG_JSON_TIMESTAMP,
	AG_JSON_TIMESTAMPTZ,
	AG_JSON_JSONB,				/* the value itself */
	AG_JSON_STRING,				/* other built-in scalars: the output
								 * function, as a string */
	AG_JSON_OTHER				/* json, arrays, composites, user-defined
								 * types (which may have a cast to json):
								 * only to_jsonb() itself knows */
} AgJsonKind;

extern AgJsonKind ag_json_kind(Oid typoid);

typedef struct AgCanonRow AgCanonRow;

/*
 * Prepare to print rows of desc.  Columns named in skip (NULL-terminated,
 * may be NULL) are left out; the keys named in extras (NULL-terminated, may
 * be NULL) are printed in their place in key order with text given at each
 * call.  Allocated in the current memory context.
 */
extern AgCanonRow *ag_canon_prepare(TupleDesc desc, const char *const *skip,
									const char *const *extras);

/*
 * Append to out the text of
 *		(SELECT jsonb_object_agg(key, value) FROM jsonb_each(to_jsonb(row))
 *		  WHERE value <> 'null') || {extras[i]: extra_text[i], ...}
 * as jsonb prints it: keys in jsonb's order, ", " and ": " between.  The
 * settings that change how values print are the caller's to pin.
 */
extern void ag_canon_append(StringInfo out, AgCanonRow *row, Datum *values,
							bool *isnull, const char *const *extra_text);

#endif							/* AG_CANON_H */
