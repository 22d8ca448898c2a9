/*-------------------------------------------------------------------------
 * statement.c
 *		The client statement that is running now: its text, its number and
 *		the name of its command.
 *
 * The capture trigger stores a statement's text once, not once per row,
 * keyed on the statement's number; refusals quote the text and bind an
 * approval to it.  Both need the client statement a write belongs to,
 * also when the write happens in a function, a DO block or a trigger
 * several levels down.  hooks.c tells this file when a top-level
 * statement starts and ends running (ExecutorRun, ExecutorFinish,
 * ProcessUtility at nesting level 0); everything else asks.
 *
 * The text is set only while a top-level statement actually runs, and is
 * restored afterwards, so that with several open portals (extended
 * protocol, cursors) a write is attributed to the portal that made it, and
 * the pointer is never used after its statement's memory is gone.
 *
 * Nothing here decides anything or calls up into the hooks or deciders.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/execdesc.h"
#include "nodes/plannodes.h"
#include "tcop/tcopprot.h"

#include "agent_guard.h"
#include "compat.h"
#include "statement.h"

/* Incremented for each top-level statement; the capture trigger keys on it. */
static uint64 statement_seq = 0;

static AgStatement current = {NULL, 0, 0};

/*
 * Statement numbers of the top-level QueryDescs that are open, so that a
 * portal run in several Execute calls keeps one number.  Few are ever open
 * at once; a short list is enough.
 */
typedef struct AgOpenQuery
{
	QueryDesc  *qd;
	uint64		seq;
} AgOpenQuery;

#define AG_MAX_OPEN_QUERIES 64
static AgOpenQuery open_queries[AG_MAX_OPEN_QUERIES];
static int	n_open_queries = 0;

static uint64
open_query_seq(QueryDesc *qd, bool remove)
{
	int			i;

	for (i = n_open_queries - 1; i >= 0; i--)
	{
		if (open_queries[i].qd == qd)
		{
			uint64		seq = open_queries[i].seq;

			if (remove)
				open_queries[i] = open_queries[--n_open_queries];
			return seq;
		}
	}
	return 0;
}

static void
open_query_add(QueryDesc *qd)
{
	if (n_open_queries == AG_MAX_OPEN_QUERIES)
		n_open_queries--;		/* forget the oldest-added slot; it only costs an extra statements row */
	open_queries[n_open_queries].qd = qd;
	open_queries[n_open_queries].seq = ++statement_seq;
	n_open_queries++;
}

/* The text of one statement of a (possibly multi-statement) source string. */
void
ag_statement_text(const char *source, int location, int length,
				  const char **text, int *len)
{
	*text = source;
	*len = 0;
	if (source == NULL)
		return;
	ag_stmt_widen(source, &location, &length);
	if (location > 0)
		*text += location;
	*len = length > 0 ? length : (int) strlen(*text);
}

/* The text of the statement a QueryDesc runs. */
void
ag_query_text(QueryDesc *qd, const char **text, int *len)
{
	ag_statement_text(qd->sourceText, qd->plannedstmt->stmt_location,
					  qd->plannedstmt->stmt_len, text, len);
}

/*
 * A top-level QueryDesc starts running (again): it becomes the current
 * statement, keeping its number across Execute calls.  Returns what was
 * current, for ag_statement_leave().
 */
AgStatement
ag_statement_enter_query(QueryDesc *qd)
{
	AgStatement saved = current;
	uint64		seq = open_query_seq(qd, false);

	if (seq == 0)
	{
		open_query_add(qd);
		seq = statement_seq;
	}
	current.seq = seq;
	ag_query_text(qd, &current.text, &current.len);
	return saved;
}

/* A top-level utility statement starts: a new number. */
AgStatement
ag_statement_enter_utility(PlannedStmt *pstmt, const char *queryString)
{
	AgStatement saved = current;

	current.seq = ++statement_seq;
	ag_statement_text(queryString, pstmt->stmt_location, pstmt->stmt_len,
					  &current.text, &current.len);
	return saved;
}

void
ag_statement_leave(AgStatement saved)
{
	current = saved;
}

/* The QueryDesc ended: its number is not reused. */
void
ag_statement_forget_query(QueryDesc *qd)
{
	open_query_seq(qd, true);
}

/* After an abort nothing can still be open; at_top: no statement runs. */
void
ag_statement_reset(bool at_top)
{
	n_open_queries = 0;
	if (at_top)
		current.text = NULL;
}

/* Which top-level run of the executor is writing: its number and text. */
uint64
ag_current_statement(const char **text, int *len)
{
	if (current.text != NULL)
	{
		*text = current.text;
		*len = current.len;
	}
	else if (debug_query_string != NULL)
	{
		/* outside a tracked statement: deferred triggers at COMMIT */
		*text = debug_query_string;
		*len = (int) strlen(debug_query_string);
	}
	else
	{
		*text = NULL;
		*len = 0;
	}
	return current.seq;
}

/* The name of a statement's command, for messages; other for the rest. */
const char *
ag_command_name(CmdType op, const char *other)
{
	switch (op)
	{
		case CMD_INSERT:
			return "INSERT";
		case CMD_UPDATE:
			return "UPDATE";
		case CMD_DELETE:
			return "DELETE";
#ifdef AG_HAVE_MERGE
		case CMD_MERGE:
			return "MERGE";
#endif
		default:
			return other;
	}
}
