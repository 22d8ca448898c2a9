/*-------------------------------------------------------------------------
 * agentgate.h
 *		The gates for an agent's code in a human's session (agentgate.c).
 *		Called by the hooks (hooks.c) and gate.c's gate qual.
 *-------------------------------------------------------------------------
 */
#ifndef AG_AGENTGATE_H
#define AG_AGENTGATE_H

#include "catalog/objectaccess.h"
#include "executor/execdesc.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "refusal.h"

extern void ag_agentgate_top_statement(bool continues);
extern bool ag_agentgate_stored_code_running(void);
extern void ag_agentgate_decide_code(AgRefusalKind kind, const char *what, const char *why,
									 const char *text, int len);
extern void ag_agentgate_decide(AgRefusalKind kind, const char *what, const char *why,
								const char *text, int len);
extern void ag_agentgate_executor_start(QueryDesc *qd);
extern void ag_agentgate_rows(QueryDesc *qd, uint64 n);
extern void ag_agentgate_cte_rows(QueryDesc *qd, uint64 n);
extern void ag_agentgate_writers_done(void);
extern void ag_agentgate_function_execute(Oid funcid);
extern void ag_agentgate_utility(Node *parsetree, const char *text, int len);
extern Oid	ag_agentgate_plan_rule(Query *parse, const char *query_string);
extern void ag_agentgate_mark_rule_plan(PlannedStmt *ps, Oid rule_rel);
extern bool ag_agentgate_rule_plan(PlannedStmt *ps);
extern void ag_agentgate_stored_writers(QueryDesc *qd);
extern void ag_agentgate_object_access(ObjectAccessType access, Oid classId, Oid objectId,
									   int subId, void *arg);

#endif							/* AG_AGENTGATE_H */
