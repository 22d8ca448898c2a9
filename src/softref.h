/*-------------------------------------------------------------------------
 * softref.h
 *		An agent's row may not come to reference a soft-deleted row
 *		(softref.c).  Called by the hooks (hooks.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_SOFTREF_H
#define AG_SOFTREF_H

#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"

/* The statement whose AFTER triggers (foreign-key checks) may fire now. */
typedef struct AgRefFrame
{
	PlannedStmt *plan;			/* a plan in ExecutorFinish, or NULL */
	Oid			copy_into;		/* or the table a COPY FROM fills */
	bool		set;			/* false: none (deferred checks at COMMIT) */
	List	   *action_writes;	/* what foreign-key actions run under it wrote */
} AgRefFrame;

extern void ag_softref_plan_query(Query *parse);
extern AgRefFrame ag_softref_enter(PlannedStmt *plan, Oid copy_into);
extern void ag_softref_leave(AgRefFrame saved);

#endif							/* AG_SOFTREF_H */
