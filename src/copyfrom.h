/*-------------------------------------------------------------------------
 * copyfrom.h
 *		A human's COPY FROM into a soft-delete table (copyfrom.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_COPYFROM_H
#define AG_COPYFROM_H

#include "nodes/plannodes.h"
#include "tcop/cmdtag.h"

typedef struct AgCopyFrom
{
	bool		active;			/* the COPY goes through a staging table */
	char	   *staging;		/* its name, in pg_temp */
	char	   *insert;			/* the INSERT ... SELECT that moves its rows */
} AgCopyFrom;

extern PlannedStmt *ag_copyfrom_prepare(PlannedStmt *pstmt, AgCopyFrom *state);
extern void ag_copyfrom_finish(AgCopyFrom *state, QueryCompletion *qc);

#endif							/* AG_COPYFROM_H */
