/*-------------------------------------------------------------------------
 * pooled.h
 *		What a transaction tagged only with SET LOCAL may leave in the server
 *		process (pooled.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_POOLED_H
#define AG_POOLED_H

#include "nodes/nodes.h"

struct ParseState;

extern const char *ag_pooled_utility_state(Node *parsetree, const char **why);
extern void ag_pooled_parsed(struct ParseState *pstate);
extern const char *ag_pooled_function_state(Oid funcid);
extern void ag_pooled_init(void);

#endif							/* AG_POOLED_H */
