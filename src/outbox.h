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
} AgOutboxRequest;

/* how long a refusal waits for room in a full queue before it fails (YG009) */
#define AG_OUTBOX_WAIT_MS 10000

extern void ag_outbox_init(void);
extern bool ag_outbox_put(const AgOutboxRequest *r);
extern int	ag_outbox_drain(void);
extern int	ag_outbox_record_here(void);
extern int	ag_outbox_unwritten(Oid dboid, bool mine);
extern uint64 ag_state_generation(void);
extern void ag_state_bump(void);

#endif							/* AG_OUTBOX_H */
