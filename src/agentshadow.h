/*-------------------------------------------------------------------------
 * agentshadow.h
 *		An agent's shadow of a built-in name, chosen by a human's statement
 *		(agentshadow.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_AGENTSHADOW_H
#define AG_AGENTSHADOW_H

#include "nodes/parsenodes.h"
#include "parser/parse_node.h"

extern void ag_agentshadow_init(void);
extern void ag_agentshadow_parsed(ParseState *pstate, Query *query);

#endif							/* AG_AGENTSHADOW_H */
