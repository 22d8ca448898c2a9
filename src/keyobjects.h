/*-------------------------------------------------------------------------
 * keyobjects.h
 *		The operators, collations, types, casts, calls and columns an
 *		approval is bound to (keyobjects.c), beside approvalkey.c's
 *		relations and functions.
 *-------------------------------------------------------------------------
 */
#ifndef AG_KEYOBJECTS_H
#define AG_KEYOBJECTS_H

#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"
#include "nodes/pg_list.h"

/* What a rewritten query uses, as approvalkey.c's walker collects it. */
typedef struct AgKeyObjects
{
	List	   *opers;
	List	   *colls;
	List	   *types;
	List	   *casts;
	List	   *calls;
} AgKeyObjects;

extern void ag_keyobj_collect(Node *node, AgKeyObjects *o);
extern void ag_keyobj_collect_query(Query *q, AgKeyObjects *o);
extern void ag_keyobj_collect_rte(RangeTblEntry *rte, AgKeyObjects *o);
extern List *ag_keyobj_bind(List *items, AgKeyObjects *o);
extern void ag_keyobj_add_plan(StringInfo m, List *invalItems, List *reached);
extern void ag_keyobj_add_columns(StringInfo m, List *relids);
extern void ag_keyobj_add_names(StringInfo m, List *relids);
extern void ag_keyobj_add_utility_names(StringInfo m, Node *stmt);

#endif							/* AG_KEYOBJECTS_H */
