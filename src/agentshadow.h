/*-------------------------------------------------------------------------
 * agentshadow.h
 *		An agent's shadow of a built-in name, chosen by a human's statement
 *		(agentshadow.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_AGENTSHADOW_H
#define AG_AGENTSHADOW_H

#include "catalog/objectaccess.h"
#include "nodes/parsenodes.h"
#include "parser/parse_node.h"

extern void ag_agentshadow_init(void);
extern void ag_agentshadow_parsed(ParseState *pstate, Query *query);
extern int	ag_agentshadow_utility_enter(Node *parsetree, const char *text, int len,
										 bool subcommand);
extern void ag_agentshadow_utility_check(void);
extern void ag_agentshadow_utility_done(void);
extern void ag_agentshadow_utility_leave(int depth);
extern void ag_agentshadow_object_access(ObjectAccessType access, Oid classId, Oid objectId,
										 int subId);
extern void ag_agentshadow_function_execute(Oid funcid);
extern void ag_agentshadow_extension_created(Oid extoid);
extern bool ag_agentshadow_named_like_type(const char *name, char prokind, int nargs,
										   int ndefaults);

#endif							/* AG_AGENTSHADOW_H */
