/*-------------------------------------------------------------------------
 * seqkeys.h
 *		An agent may not draw a sequence that numbers a protected table
 *		below a margin of room (seqkeys.c; the keys it has yet to issue:
 *		relinfo.h).
 *-------------------------------------------------------------------------
 */
#ifndef AG_SEQKEYS_H
#define AG_SEQKEYS_H

#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"

extern void ag_seqroom_check(Oid seqid, int64 draws, const char *what);
extern void ag_seqroom_nextval(Oid seqid);
extern void ag_seqroom_plan_starts(PlannedStmt *ps);
extern void ag_seqroom_human_copy(CopyStmt *copy);
extern void ag_seqroom_copy(CopyStmt *copy);
extern void ag_seqroom_alter(AlterTableStmt *stmt);
extern void ag_seqroom_default_created(Oid relid, AttrNumber attnum);
extern void ag_seqroom_statement_starts(void);
extern void ag_seqroom_function_execute(Oid funcid);

#endif							/* AG_SEQKEYS_H */
