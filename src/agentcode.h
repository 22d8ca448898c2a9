/*-------------------------------------------------------------------------
 * agentcode.h
 *		An agent's code running in a human's session (agentcode.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_AGENTCODE_H
#define AG_AGENTCODE_H

#include "catalog/objectaccess.h"
#include "executor/execdesc.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "tcop/utility.h"

extern bool ag_agentcode_needs_hook(Oid fn);
extern void ag_agentcode_fmgr(FmgrHookEventType event, FmgrInfo *flinfo, Datum *private);
extern void ag_agentcode_enter(PlannedStmt *plan, Oid copy_into);
extern void ag_agentcode_leave(void);
extern int	ag_agentcode_settings_enter(void);
extern void ag_agentcode_settings_leave(int level);
extern void ag_agentcode_xact_end(bool top, bool abort);
extern void ag_agentcode_function_execute(Oid funcid);
extern bool ag_agentcode_running(void);
extern bool ag_agentcode_utility_innermost(void);
extern bool ag_agentcode_innermost(Oid *fn, Oid *owner);
extern bool ag_agentcode_innermost_is_agent(void);
extern bool ag_agentcode_role_is_agent(Oid role);
extern void ag_agentcode_enter_utility(Node *parsetree, Oid copy_into, Oid altered);
extern Oid	ag_agentcode_running_code_relation(void);
extern bool ag_agentcode_plan_runs_agent_code(PlannedStmt *plan);
extern void ag_agentcode_executor_start(PlannedStmt *plan);
extern void ag_agentcode_reach_start(PlannedStmt *plan);
extern void ag_agentcode_copy(Oid copy_into);
extern ProcessUtilityContext ag_agentcode_call_context(Node *parsetree,
													   ProcessUtilityContext context);
extern void ag_agentcode_utility(Node *parsetree);
extern Oid	ag_agentcode_altered_relation(Node *parsetree);
extern void ag_agentcode_object_access(ObjectAccessType access, Oid classId, Oid objectId);
extern void ag_agentcode_plan_query(Query *parse);
extern void ag_agentcode_query_started(QueryDesc *query);
extern void ag_agentcode_query_ended(QueryDesc *query);
extern bool ag_agentcode_query_resume(QueryDesc *query);
extern bool ag_agentcode_portal_pending(void);
extern bool ag_agentcode_portal_resume(void);
extern void ag_agentcode_query_suspend(bool completed);
extern Oid	ag_agentcode_function_owner(Oid fn);
extern Oid	ag_agentcode_relation_owner(Oid relid);
extern Oid	ag_agentcode_type_owner(Oid typid);
extern const char *ag_agentcode_role_name(Oid role);
extern char *ag_agentcode_where(void);
extern Oid	ag_agentcode_unsafe_call(Node *expr, Oid owner, Oid *domain);
extern const char *ag_agentcode_unsafe_reason(Oid fn, Oid owner);
extern bool ag_agentcode_nextval_unsafe(FuncExpr *f, Oid owner, Oid *seq);
extern Oid	ag_agentcode_plan_agent_relation(PlannedStmt *plan);
extern bool ag_agentcode_invoker_of_other(Oid fn);
extern bool ag_agentcode_runs_callers_sql(Oid funcid);
extern bool ag_agentcode_definer_of_other(Oid fn);
extern Oid	ag_agentcode_hidden_setting_call(Node *expr);

#endif							/* AG_AGENTCODE_H */
