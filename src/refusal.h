/*-------------------------------------------------------------------------
 * refusal.h
 *		The one refusal path: kinds, request ids, the log line, preview
 *		(refusal.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_REFUSAL_H
#define AG_REFUSAL_H

#include "lib/stringinfo.h"

#include "approvalkey.h"
#include "compat.h"
#include "outbox.h"

/* Why a statement is refused; each kind has its SQLSTATE, message and hint. */
typedef enum AgRefusalKind
{
	AG_REFUSAL_NONE = 0,		/* not refused */
	AG_REFUSAL_GUARD,			/* would weaken the guard: never (YG004) */
	AG_REFUSAL_APPROVAL,		/* destructive: needs a human (YG003) */
	AG_REFUSAL_FROZEN,			/* agents are frozen (YG006) */
	AG_REFUSAL_TRIPPED,			/* the run passed max_rows_per_run (YG007) */
	AG_REFUSAL_POLICY,			/* the agent's policy forbids it (YG008) */
	AG_REFUSAL_RATE,			/* over the policy's max_rows_per_minute (YG060) */
	AG_REFUSAL_HUMANS_ONLY		/* humans only, or not from an agent's code (YG002) */
} AgRefusalKind;

/*
 * A statement as an approval is bound to it: its text normalized, the
 * values bound to its parameters (params.c; NULL for none), the material
 * of its key (approvalkey.c; the gates add to it until it is digested)
 * and its digest, which approvals are consumed by.  hash is a 64-bit
 * hash of text and values, only shown (request_log.statement_hash).
 */
typedef struct AgStatementKey
{
	StringInfoData text;
	char	   *parameters;
	int64		hash;
	StringInfoData material;
	bool		digested;
	AgKeyDigest digest;
	/* what the request records besides (gate.c): */
	const char *source;			/* the text the plan was made from, when the
								 * reason shows it (not the client's), or NULL */
	int			source_len;
	bool		source_cut;		/* the reason shows only its start */
	const AgTableRows *table_rows;	/* a row limit's rows per table, or NULL */
} AgStatementKey;

extern void ag_statement_key(const char *text, int len, AgStatementKey *key);
extern const AgKeyDigest *ag_statement_key_digest(AgStatementKey *key);
extern const char *ag_refusal_name(AgRefusalKind kind);
extern void ag_refusal_log(const char *decision, int64 request_id, AgRefusalKind kind,
						   const char *reason, const char *statement);
extern void ag_refuse_keyed(AgRefusalKind kind, const char *what, const char *why,
							AgStatementKey *key, int64 rows);
extern void ag_refuse(AgRefusalKind kind, const char *what, const char *why,
					  const char *text, int len, int64 rows);
extern void ag_refuse_agent_code(AgRefusalKind kind, const char *agent, const char *what,
								 const char *why, const char *where, const char *text, int len);
extern int64 ag_refusal_record(const char *why, const char *text, int len);
pg_noreturn extern void ag_refuse_code(AgRefusalKind kind, Oid code_owner, const char *message,
									   const char *detail, const char *hint);
pg_noreturn extern void ag_refuse_humans_only(Oid code_owner, const char *message,
											  const char *detail, const char *hint);

/* agent_guard.preview(): decisions are collected, not recorded */
extern bool ag_preview_active(void);
extern void ag_preview_set(bool on);
extern void ag_preview_add(const char *relation, const char *operation, int64 rows,
						   const char *verdict, const char *detail);
extern void ag_refusal_init(void);

#endif							/* AG_REFUSAL_H */
