/*-------------------------------------------------------------------------
 * outbox.h
 *		What must outlive the agent's transaction: the request queue in
 *		shared memory, and the generation counter of the guard's state
 *		(outbox.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_OUTBOX_H
#define AG_OUTBOX_H

#include "approvalkey.h"

/*
 * The rows a statement wrote per table, for the row limit's request and
 * its approval (gate.c): the first AG_ROW_TABLES - 1 tables each, by the
 * table its statement names (a partitioned table or an inheritance parent
 * with its partitions and children), the rows of any further tables
 * together under InvalidOid.
 */
#define AG_ROW_TABLES 32
typedef struct AgTableRows
{
	int			n;
	Oid			relid[AG_ROW_TABLES];
	int64		rows[AG_ROW_TABLES];
} AgTableRows;

/* Add n rows of relid (past the first AG_ROW_TABLES - 1 tables: InvalidOid's). */
static inline void
ag_table_rows_add(AgTableRows *t, Oid relid, int64 n)
{
	int			i;

	for (;;)
	{
		for (i = 0; i < t->n; i++)
			if (t->relid[i] == relid)
			{
				t->rows[i] += n;
				return;
			}
		if (t->n < AG_ROW_TABLES - 1 || (t->n < AG_ROW_TABLES && !OidIsValid(relid)))
			break;
		relid = InvalidOid;		/* full: the further tables' entry */
	}
	t->relid[t->n] = relid;
	t->rows[t->n] = n;
	t->n++;
}

/* The rows of relid in t (0 when t has none of it). */
static inline int64
ag_table_rows_of(const AgTableRows *t, Oid relid)
{
	int			i;

	for (i = 0; i < t->n; i++)
		if (t->relid[i] == relid)
			return t->rows[i];
	return 0;
}

extern char *ag_table_rows_json(const AgTableRows *t);

/* A refused statement, as the refusal path hands it over. */
typedef struct AgOutboxRequest
{
	int64		request_id;
	const char *kind;			/* the request kind of agent_guard.request_log */
	const char *agent;
	const char *run;			/* NULL: none */
	const char *login;
	const char *reason;
	const char *statement;		/* normalized text, whole */
	AgKeyDigest text_digest;	/* SHA-256 of the whole text */
	const char *parameters;		/* its bound values (params.c), or NULL */
	int64		hash;			/* shown only */
	AgKeyDigest digest;			/* what an approval is consumed by */
	int64		rows;
	const AgTableRows *table_rows;	/* a row limit's: per table, else NULL */
	bool		has_source;		/* the reason shows the text the plan was made
								 * from (a prepared statement's, a function's) */
	bool		source_truncated;	/* ... cut */
	AgKeyDigest source_digest;	/* SHA-256 of that text, whole */
} AgOutboxRequest;

/*
 * How long a refusal waits for its request to be on record (room in a full
 * queue, then a writer's commit, flushed) before it fails (YG009).
 */
#define AG_OUTBOX_WAIT_MS 10000

extern void ag_outbox_init(void);
extern bool ag_outbox_put(const AgOutboxRequest *r);
extern int	ag_outbox_drain(void);
extern int	ag_outbox_record_here(void);
extern int	ag_outbox_unwritten(Oid dboid, bool mine);
extern bool ag_outbox_durable(int64 request_id);
extern void ag_outbox_sleep(long timeout_ms);
extern void ag_outbox_sleep_done(void);
extern uint64 ag_state_generation(void);
extern void ag_state_bump(void);

#endif							/* AG_OUTBOX_H */
