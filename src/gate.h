/*-------------------------------------------------------------------------
 * gate.h
 *		The gates: destructive acts, freezes, limits (gate.c).  Called by
 *		the hooks (hooks.c) in the order written down there.
 *-------------------------------------------------------------------------
 */
#ifndef AG_GATE_H
#define AG_GATE_H

#include "classify.h"
#include "outbox.h"

struct QueryDesc;
struct PlannedStmt;
struct Query;
struct QueryCompletion;

extern void ag_gate_init(void);
extern void ag_gate_top_statement(bool continues);
extern void ag_gate_note_write(void);
extern uint64 ag_gate_exec_begin(struct QueryDesc *qd, bool part_of_current);
extern uint64 ag_gate_exec_resume(struct QueryDesc *qd);
extern void ag_gate_exec_leave(uint64 saved);
extern void ag_gate_exec_end(struct QueryDesc *qd);
extern void ag_gate_exec_reset(void);
extern void ag_gate_session_check(const char *text, int len);
extern void ag_gate_executor_start(struct QueryDesc *qd, const char *text, int len);
extern bool ag_gate_preview_count(struct QueryDesc *qd, uint64 n);
extern bool ag_gate_count_rows(struct QueryDesc *qd, uint64 n);
extern void ag_gate_row_limits(struct QueryDesc *qd, uint64 n, const char *text, int len);
extern void ag_gate_plan_query(struct Query *q);
extern void ag_gate_utility_guard(AgUtility *u, const char *text, int len);
extern void ag_gate_utility(AgUtility *u, const char *text, int len);
extern void ag_gate_frozen_writers(struct PlannedStmt *ps, const char *text, int len);
extern bool ag_gate_frozen_writers_save(void);
extern void ag_gate_frozen_writers_done(bool saved);
extern void ag_gate_frozen_function(Oid funcid);
extern void ag_gate_setval_unwrapped(Oid funcid);
extern void ag_gate_pooled_function(Oid funcid);
extern void ag_gate_preview_function(Oid funcid);
extern void ag_gate_count_cte_rows(uint64 n, const AgTableRows *per_table);
extern void ag_gate_decide_bound(AgRefusalKind kind, const char *what, const char *why,
								 const char *text, int len, const AgKeyDigest *binding);
extern const char *ag_gate_freeze_of(const char *agent, bool *all);
extern void ag_gate_utility_verdict(AgUtility *u);
extern bool ag_gate_query_unrestricted(struct Query *q);
extern int	ag_gate_max_rows_per_statement(void);
extern bool ag_gate_plan_writes(struct PlannedStmt *ps);
extern bool ag_gate_copy_rows(struct PlannedStmt *pstmt, struct QueryCompletion *qc);
extern void ag_gate_copy_limits(struct PlannedStmt *pstmt, struct QueryCompletion *qc,
								const char *text, int len);

#endif							/* AG_GATE_H */
