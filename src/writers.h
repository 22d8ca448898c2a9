/*-------------------------------------------------------------------------
 * writers.h
 *		Writes that are not DML on a table: function calls that write
 *		(sequences, large objects), rows written by writing CTEs, and the
 *		utility statements that write around the gates (writers.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_WRITERS_H
#define AG_WRITERS_H

#include "classify.h"
#include "outbox.h"

struct PlannedStmt;
struct QueryDesc;

/* Function calls that write without a result relation. */
typedef enum AgWriterKind
{
	AG_FN_OTHER = 0,
	AG_FN_SEQUENCE,				/* nextval, setval */
	AG_FN_LARGE_OBJECT,			/* lo_create, lo_put, lo_unlink, lowrite, ... */
	AG_FN_WAL_MESSAGE			/* pg_logical_emit_message (both) */
} AgWriterKind;

typedef struct AgWriterScan
{
	Oid			bad_fn;			/* first call that is refused, or InvalidOid */
	Oid			bad_seq;		/* its sequence, when known */
	bool		temp_seq_calls; /* calls on named temporary sequences (or
								 * sequences seq_ok allows) seen */
	bool		check_sequences;	/* sequence calls count (not only on
									 * temporary sequences) */
	List	   *setval_calls;	/* set: collect the FuncExprs of setval() */
	bool		collect_setval;
	List	   *nextval_calls;	/* set: collect the FuncExprs of nextval() */
	bool		collect_nextval;
	bool		collect_nextval_wrapped;	/* and agent_guard._nextval()'s */
	List	   *identity_seqs;	/* set: the sequences of NextValueExprs */
	bool		collect_identity;
	List	   *notify_calls;	/* set: collect the FuncExprs of pg_notify() */
	bool		collect_notify;
	/*
	 * With check_sequences: a call of funcid on seq (InvalidOid when not
	 * named as a constant) that is allowed besides those on temporary
	 * sequences (a policy's tables list, policy.c); NULL for none.
	 */
	bool		(*seq_ok) (Oid funcid, Oid seq);
} AgWriterScan;

extern AgWriterKind ag_writer_kind(Oid funcid);
extern bool ag_writers_session_lock(Oid funcid);
extern bool ag_writers_lo_descriptor(Oid funcid);
extern void ag_writers_parallel_worker_function(Oid funcid);
extern void ag_writers_scan_expr(Node *node, AgWriterScan *ws);
extern void ag_writers_scan_new_default(Oid relid, AttrNumber attnum, AgWriterScan *ws, bool planned);
extern void ag_writers_scan_plan(struct PlannedStmt *ps, AgWriterScan *ws);
extern Oid	ag_writers_row_locked(struct PlannedStmt *ps, bool temp_only);

/* setval() in an agent session's plans goes through agent_guard._setval. */
extern void ag_writers_wrap_setval(struct PlannedStmt *ps, AgWriterScan *ws);
extern bool ag_writers_is_setval_wrapper(Oid funcid);
/* nextval() under a policy's tables list goes through agent_guard._nextval. */
extern void ag_writers_wrap_nextval(struct PlannedStmt *ps, AgWriterScan *ws);
extern Oid	ag_writers_redirect_calls(struct PlannedStmt *ps, List *calls, const char *name,
									  int nargs, Oid *argtypes);
extern bool ag_writers_is_nextval_wrapper(Oid funcid);
extern char *ag_writer_name(Oid funcid);

/* No write by an agent or its code while this process runs VACUUM. */
extern void ag_writers_vacuum_start(struct PlannedStmt *ps);

/* Rows of the ModifyTable nodes that do not set es_processed (CTEs). */
extern void ag_writers_cte_start(struct QueryDesc *qd);
extern uint64 ag_writers_cte_new_rows(struct QueryDesc *qd, AgTableRows *per_table);
extern bool ag_writers_top_writes_scratch(struct PlannedStmt *ps);

/* The utility statements that write around the gates: their verdict. */
extern void ag_writers_utility_verdict(AgUtility *u);
extern bool ag_writers_judge_transaction(Node *parsetree);

#endif							/* AG_WRITERS_H */
