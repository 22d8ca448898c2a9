/*-------------------------------------------------------------------------
 * reach.h
 *		What a statement reaches, judged as the direct act (reach.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_REACH_H
#define AG_REACH_H

#include "catalog/objectaccess.h"
#include "classify.h"

extern void ag_reach_enter(Node *parsetree, const AgUtility *u, const char *text, int len);
extern void ag_reach_decide(void);
extern void ag_reach_leave(void);
extern void ag_reach_object_access(ObjectAccessType access, Oid classId, Oid objectId,
								   int subId, void *arg);
extern void ag_reach_init(void);

#endif							/* AG_REACH_H */
