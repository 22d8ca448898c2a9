/*-------------------------------------------------------------------------
 * statement.h
 *		The client statement that is running now (statement.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_STATEMENT_H
#define AG_STATEMENT_H

#include "nodes/nodes.h"

struct QueryDesc;
struct PlannedStmt;

typedef struct AgStatement
{
	const char *text;
	int			len;
	uint64		seq;
} AgStatement;

extern void ag_statement_text(const char *source, int location, int length,
							  const char **text, int *len);
extern void ag_query_text(struct QueryDesc *qd, const char **text, int *len);
extern AgStatement ag_statement_enter_query(struct QueryDesc *qd);
extern AgStatement ag_statement_enter_utility(struct PlannedStmt *pstmt, const char *queryString);
extern void ag_statement_leave(AgStatement saved);
extern void ag_statement_forget_query(struct QueryDesc *qd);
extern void ag_statement_reset(bool at_top);
extern uint64 ag_current_statement(const char **text, int *len);
extern const char *ag_command_name(CmdType op, const char *other);

#endif							/* AG_STATEMENT_H */
