/*-------------------------------------------------------------------------
 * agentnotify.h
 *		An agent session's notifications: a bound per transaction and a
 *		lower limit on the NOTIFY queue (agentnotify.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_AGENTNOTIFY_H
#define AG_AGENTNOTIFY_H

#include "nodes/plannodes.h"

#include "writers.h"

extern void ag_agentnotify_init(void);
extern void ag_agentnotify_wrap_plan(PlannedStmt *ps, AgWriterScan *ws);
extern void ag_agentnotify_function_execute(Oid funcid);
extern void ag_agentnotify_utility(Node *parsetree);

#endif							/* AG_AGENTNOTIFY_H */
