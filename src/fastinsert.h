/*-------------------------------------------------------------------------
 * fastinsert.h
 *		Appending rows to agent_guard's own tables without SPI (capture.c
 *		writes events and statements through it).
 *-------------------------------------------------------------------------
 */
#ifndef AG_FASTINSERT_H
#define AG_FASTINSERT_H

#include "postgres.h"
#include "executor/tuptable.h"
#include "utils/relcache.h"

#define AG_FAST_MAX_COLS 16

typedef struct AgFastInsert AgFastInsert;

extern void ag_fast_init(void);
extern Oid	ag_own_table_oid(const char *relname);
extern Relation ag_open_own_table(const char *relname);
/* colnames: the columns the caller supplies, in order; a name that starts
 * with '?' is optional (a table without it gets the row without the value) */
extern AgFastInsert *ag_fast_open(AgFastInsert **cache, const char *relname,
								  int ncols, const char *const *colnames);
extern TupleTableSlot *ag_fast_insert(AgFastInsert *fi, const Datum *values,
									  const bool *nulls);
extern AttrNumber ag_fast_attnum(AgFastInsert *fi, const char *colname);
extern bool ag_fast_supplied(AgFastInsert *fi, int i);

#endif							/* AG_FASTINSERT_H */
