/*-------------------------------------------------------------------------
 * agentstored.h
 *		An agent's stored objects run in a human's statement (agentstored.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_AGENTSTORED_H
#define AG_AGENTSTORED_H

#include "catalog/objectaccess.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"

extern bool ag_agentstored_plan_query(Query *parse, List **seen);
extern void ag_agentstored_check_plan(PlannedStmt *plan, List *seen);
extern void ag_agentstored_utility_done(Node *parsetree);
extern void ag_agentstored_object_access(ObjectAccessType access, Oid classId, Oid objectId,
										 int subId);

#endif							/* AG_AGENTSTORED_H */
