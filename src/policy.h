/*-------------------------------------------------------------------------
 * policy.h
 *		Per-agent policies (policy.c).  Called by the hooks (hooks.c) in
 *		the order written down there.
 *-------------------------------------------------------------------------
 */
#ifndef AG_POLICY_H
#define AG_POLICY_H

#include "catalog/objectaccess.h"
#include "classify.h"

struct PlannedStmt;
struct Query;

extern void ag_policy_init(void);
extern void ag_policy_top_statement(void);
extern void ag_policy_executor_start(struct PlannedStmt *ps, const char *text, int len);
extern void ag_policy_rows_written(const char *what, uint64 rows, const char *text, int len);
extern void ag_policy_commit_check(const char *text, int len);
extern void ag_policy_utility(AgUtility *u, const char *text, int len);
extern void ag_policy_function_execute(Oid funcid);
extern void ag_policy_plan_starts(void);
extern void ag_policy_object_access(ObjectAccessType access, Oid classId, Oid objectId,
									int subId);
extern char *ag_policy_code_write(const char *agent, Oid relid);
extern char *ag_policy_code_writer_call(const char *agent, Oid funcid, bool seq_blessed);
extern char *ag_policy_code_utility(const char *agent, const AgUtility *u);
extern void ag_policy_check_plan(struct Query *parse, struct PlannedStmt *ps,
								 const char *query_string);

#endif							/* AG_POLICY_H */
