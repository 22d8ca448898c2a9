/*-------------------------------------------------------------------------
 * canon.h
 *		The jsonb text of a row, printed straight from its values
 *		(src/canon.c); the sealer's canonical event content is built on it.
 *-------------------------------------------------------------------------
 */
#ifndef AG_CANON_H
#define AG_CANON_H

#include "postgres.h"
#include "access/tupdesc.h"
#include "lib/stringinfo.h"

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
