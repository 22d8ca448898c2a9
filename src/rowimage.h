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
 * The image of tuple: to_jsonb() (to_jsonb, set up for desc's row type) of
 * it, with the text of each column that to_jsonb() would print inexactly
 * or read as JSON or through a cast, and the marks (under the key "") of
 * the latter; legacy: as images were before the marks.  fix may be NULL.
 * The caller pins the output settings as for the image.
 */
extern Datum ag_image_row(AgImageFix *fix, FmgrInfo *to_jsonb, HeapTuple tuple,
						  TupleDesc desc, bool legacy);

/* whether some column of fix's row type is kept as text and marked */
extern bool ag_image_has_marks(AgImageFix *fix);

/* whether a float's text (float4out, float8out) is "-0", which jsonb reads as 0 */
extern bool ag_image_negative_zero(const char *text);

#endif							/* AG_ROWIMAGE_H */
