/*-------------------------------------------------------------------------
 * outputpin.h
 *		The settings under which the guard prints values: row images, row
 *		keys, bound parameters (outputpin.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_OUTPUTPIN_H
#define AG_OUTPUTPIN_H

#include "postgres.h"

/* the settings that change how a value prints, one bit each */
#define AG_PIN_TIMEZONE		0x01	/* timestamptz (and ranges, arrays of it) */
#define AG_PIN_DATESTYLE	0x02	/* date, timestamp(tz) outside jsonb */
#define AG_PIN_INTERVAL		0x04	/* interval */
#define AG_PIN_FLOAT		0x08	/* float4, float8, geometric types */
#define AG_PIN_BYTEA		0x10	/* bytea */
#define AG_PIN_MONEY		0x20	/* money (lc_monetary) */
#define AG_PIN_SEARCH_PATH	0x40	/* reg* types naming schema objects */
#define AG_PIN_QUOTE		0x80	/* reg* types (quote_all_identifiers) */
#define AG_PIN_ALL			0xFF

/* search_path as the rollback's row work has it (rowwork.c) */
#define AG_PINNED_SEARCH_PATH	"pg_catalog, pg_temp"

/* the settings of mask whose session value prints otherwise than pinned */
extern int	ag_output_differs(int mask);

/*
 * Pin the settings of mask that differ, in a GUC nest level of their own;
 * returns the level for ag_output_unpin(), 0 when nothing was pinned.  An
 * error in between is undone by the (sub)transaction's abort.
 */
extern int	ag_output_pin(int mask);
extern void ag_output_unpin(int level);

/* the settings a value of the type may print with (domains, arrays, ranges, composites looked through) */
extern int	ag_output_type_deps(Oid typoid);

/* quote_qualified_identifier() with quote_all_identifiers off, palloc'd */
extern char *ag_quote_qualified(const char *nsp, const char *name);

/* float8 / float4 printed as extra_float_digits = 1 prints them, palloc'd */
extern char *ag_float8_text(double num);
extern char *ag_float4_text(float num);

#endif							/* AG_OUTPUTPIN_H */
