/*-------------------------------------------------------------------------
 * agent_guard.h
 *		Declarations shared by agent_guard's source files: our SQLSTATEs
 *		and the init entry points each module exports to _PG_init.
 *
 * Our SQLSTATEs live in class "YG" (the first character Y is left by the
 * SQL standard to implementations).  Each code is defined here once and
 * documented in README.md; tests match on them.
 *-------------------------------------------------------------------------
 */
#ifndef AGENT_GUARD_H
#define AGENT_GUARD_H

#include "postgres.h"
#include "nodes/nodes.h"
#include "utils/elog.h"

/* YG001: an agent session tried to change or shed its identity, or a
 * superuser session was tagged as an agent. */
#define ERRCODE_AG_IDENTITY_VIOLATION		MAKE_SQLSTATE('Y','G','0','0','1')
/* YG002: a humans-only function was called from an agent session. */
#define ERRCODE_AG_HUMANS_ONLY				MAKE_SQLSTATE('Y','G','0','0','2')
/* YG003: a destructive statement needs a human's approval (request id in errmsg). */
#define ERRCODE_AG_APPROVAL_REQUIRED		MAKE_SQLSTATE('Y','G','0','0','3')
/* YG004: refused outright: it would weaken the guard. */
#define ERRCODE_AG_GUARD_PROTECTED			MAKE_SQLSTATE('Y','G','0','0','4')
/* YG005: a request cannot be decided (not pending, or not approvable); SQL only. */
/* YG006: agents are frozen. */
#define ERRCODE_AG_FROZEN					MAKE_SQLSTATE('Y','G','0','0','6')
/* YG007: the run passed agent_guard.max_rows_per_run and is tripped. */
#define ERRCODE_AG_RUN_TRIPPED				MAKE_SQLSTATE('Y','G','0','0','7')
/* YG008: refused outright by the agent's policy (agent_guard.set_policy). */
#define ERRCODE_AG_POLICY					MAKE_SQLSTATE('Y','G','0','0','8')
/* YG010: an agent's change is too large to log (its images exceed
 * AG_MAX_EVENT_BYTES); refused, since it could be neither sealed nor
 * verified. */
#define ERRCODE_AG_ROW_TOO_LARGE			MAKE_SQLSTATE('Y','G','0','1','0')
/* YG060: the agent changed more rows in the last minute than its policy's
 * max_rows_per_minute allows. */
#define ERRCODE_AG_RATE_LIMITED				MAKE_SQLSTATE('Y','G','0','6','0')
/* YG009: the guard could not decide (missing state); it fails closed. */
#define ERRCODE_AG_GUARD_UNAVAILABLE		MAKE_SQLSTATE('Y','G','0','0','9')
/* YG030-YG039: rollback (raised from src/sql/70_rollback.sql):
 * YG030 a rollback met rows changed since the run (on_conflict 'abort'),
 * YG031 no recorded writes for the run or transaction,
 * YG032 a replayed row did not come back exactly as logged. */
/* YG020: an agent transaction reused an idempotency key it already applied. */
#define ERRCODE_AG_DUPLICATE_KEY			MAKE_SQLSTATE('Y','G','0','2','0')
/* YG021: an agent write without an idempotency key while one is required. */
#define ERRCODE_AG_KEY_REQUIRED				MAKE_SQLSTATE('Y','G','0','2','1')
/* YG040: the event log does not verify (raised where that must stop an
 * operation, e.g. archive_log; verify_log itself reports, never raises). */
#define ERRCODE_AG_LOG_TAMPERED			MAKE_SQLSTATE('Y','G','0','4','0')
/* YG041: no such run in the event log (postmortem). */
#define ERRCODE_AG_UNKNOWN_RUN			MAKE_SQLSTATE('Y','G','0','4','1')

#define AG_SCHEMA "agent_guard"

/* Longest agent id, run id or idempotency key we accept; longer ones are
 * refused, not cut. */
#define AG_MAX_ID_LEN 200

/*
 * An event is sealed and verified as text, with jsonb's limits (256 MB to a
 * value) and escapes (up to 6 bytes a character), in one buffer of at most
 * 1 GB: an agent's change whose row images take more than this is refused,
 * and statement text beyond AG_MAX_QUERY_LOG is kept cut, with its length
 * and SHA-256.
 */
#define AG_MAX_EVENT_BYTES ((Size) 64 * 1024 * 1024)
#define AG_MAX_QUERY_LOG (1024 * 1024)

/* agent_guard.c */
extern bool ag_preloaded;

/* failsafe.c */
extern char *ag_preload_hint(void);
extern void ag_failsafe_check(const char *what);

/* shmem.c: an area's first member is its LWLock *, set before init runs */
typedef void (*AgShmemInitFn) (void *area);
extern void ag_shmem_register(const char *name, Size size, void **ptr, AgShmemInitFn init);
extern void ag_shmem_init(void);

/* identity.c */
extern void ag_identity_init(void);
extern const char *ag_current_agent(void);
extern const char *ag_current_run(bool for_write);
extern void ag_identity_enforce(void);
extern bool ag_session_is_agent(void);
extern Oid	ag_extension_owner(void);
extern bool ag_agent_latched(void);
extern bool ag_valid_label(const char *value, const char *what);

/* gate.c */
struct QueryDesc;
struct PlannedStmt;
struct Query;
struct QueryCompletion;
extern void ag_gate_init(void);
extern void ag_gate_executor_start(struct QueryDesc *qd);
extern void ag_gate_executor_done(struct QueryDesc *qd, uint64 rows);
extern void ag_gate_top_statement(void);
extern void ag_gate_plan_query(struct Query *q);
extern void ag_gate_utility(struct PlannedStmt *pstmt, const char *queryString);
extern void ag_gate_utility_done(struct PlannedStmt *pstmt, const char *queryString,
								 struct QueryCompletion *qc);
extern int	ag_gate_drain(void);
extern void ag_gate_refuse(const char *kind, const char *what, const char *why,
						   const char *text, int len);
extern int64 ag_gate_record_refusal(const char *why, const char *text, int len);
extern bool ag_gate_judging(void);
extern void ag_gate_drain_committed(void);
extern bool ag_gate_relation_exempt(Oid relid);
extern uint64 ag_gate_generation(void);

/* policy.c */
extern void ag_policy_init(void);
extern void ag_policy_top_statement(void);
extern void ag_policy_executor_start(struct PlannedStmt *ps, const char *text, int len);
extern void ag_policy_rows_written(const char *what, uint64 rows, const char *text, int len);
extern void ag_policy_utility(Node *parsetree, const char *text, int len);
extern void ag_policy_function_execute(Oid funcid);

/* hooks.c */
extern void ag_hooks_init(void);
extern const char *ag_command_name(CmdType op, const char *other);
extern uint64 ag_current_statement(const char **text, int *len);

/* capture.c */
extern void ag_capture_init(void);

/* softdelete.c */
extern void ag_softdelete_init(void);

/* rollback.c */
extern void ag_rollback_init(void);
extern bool ag_replay_mode(void);

/* idempotency.c */
extern void ag_idempotency_init(void);
extern void ag_idempotency_check(const char *agent);
extern void ag_idempotency_after_utility(Node *parsetree);
/* journal.c */
extern void ag_journal_init(void);
extern void ag_journal_note_event(void);
extern void ag_journal_wake(Oid dboid);

/* hash.c */
extern int64 ag_chain_seal(int max_events);
extern void ag_sha256(const uint8 *a, size_t alen, const uint8 *b, size_t blen, uint8 *out);

#endif							/* AGENT_GUARD_H */
