/*-------------------------------------------------------------------------
 * scope.h
 *		What the guard judges: agent statements, scratch space, the guard's
 *		own objects, protected tables (scope.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_SCOPE_H
#define AG_SCOPE_H

#include "nodes/primnodes.h"

extern bool ag_judging(void);
extern void ag_scope_note_created(Oid classId, Oid objectId);
extern bool ag_object_created_here(Oid objid);
extern bool ag_relation_exempt(Oid relid);
extern bool ag_relation_tree_exempt(Oid relid);
extern bool ag_rangevar_temp(RangeVar *rv);
extern Oid	ag_range_var_relid(RangeVar *rv);
extern bool ag_relation_protected(Oid relid);
extern Oid	ag_relation_protected_ancestor(Oid relid);
extern Oid	ag_relation_guard_lost(Oid relid);
extern bool ag_in_guard_schema(Oid relid);
extern const char *ag_relname_or(Oid relid, const char *fallback);
extern char *ag_qualified_relname(Oid relid);

#endif							/* AG_SCOPE_H */
