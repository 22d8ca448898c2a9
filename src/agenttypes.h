/*-------------------------------------------------------------------------
 * agenttypes.h
 *		Columns of protected tables whose type runs an agent's code in
 *		every write (agenttypes.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_AGENTTYPES_H
#define AG_AGENTTYPES_H

#include "nodes/parsenodes.h"

extern char *ag_agenttypes_code(Oid typid);
extern void ag_agenttypes_after_utility(Node *parsetree);

#endif							/* AG_AGENTTYPES_H */
