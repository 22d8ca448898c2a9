/*-------------------------------------------------------------------------
 * softkeys.h
 *		A human's write wins over a row an agent soft-deleted (softkeys.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_SOFTKEYS_H
#define AG_SOFTKEYS_H

#include "relinfo.h"

extern void ag_softkeys_human_write(Relation rel, HeapTuple oldtup, HeapTuple newtup, AgRelInfo *info);
extern void ag_softkeys_agent_soft_delete(AgRelInfo *info);
extern void ag_softkeys_fk_hint(void *arg);

#endif							/* AG_SOFTKEYS_H */
