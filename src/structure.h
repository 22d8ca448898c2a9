/*-------------------------------------------------------------------------
 * structure.h
 *		The gates' verdict on changes to the structure of protected tables
 *		(structure.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_STRUCTURE_H
#define AG_STRUCTURE_H

#include "nodes/nodes.h"

typedef struct AgStructureVerdict
{
	const char *kind;			/* NULL: allowed; "refused" or "approval" */
	const char *what;
	char	   *why;
} AgStructureVerdict;

extern void ag_structure_classify(Node *parsetree, AgStructureVerdict *v);

#endif							/* AG_STRUCTURE_H */
