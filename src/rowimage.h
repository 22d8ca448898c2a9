/*-------------------------------------------------------------------------
 * rowimage.h
 *		Row images that keep every value exactly (src/rowimage.c): where
 *		to_jsonb() drops part of a value, the column's text instead.
 *-------------------------------------------------------------------------
 */
#ifndef AG_ROWIMAGE_H
#define AG_ROWIMAGE_H

#include "postgres.h"
#include "access/htup.h"
#include "access/tupdesc.h"
#include "fmgr.h"

/* The columns of a row type whose to_jsonb() may drop part of the value. */
typedef struct AgImageFix AgImageFix;

/* NULL when no column's type can lose anything; allocated in cxt */
extern AgImageFix *ag_image_fix_prepare(TupleDesc desc, MemoryContext cxt);
extern void ag_image_fix_free(AgImageFix *fix);

/*
 * image (to_jsonb() of tuple) with the value of each column that to_jsonb()
 * printed inexactly replaced by the column's text; the caller pins the
 * output settings as for the image.
 */
extern Datum ag_image_fix_tuple(AgImageFix *fix, Datum image, HeapTuple tuple,
								TupleDesc desc);

/* whether a float's text (float4out, float8out) is "-0", which jsonb reads as 0 */
extern bool ag_image_negative_zero(const char *text);

#endif							/* AG_ROWIMAGE_H */
