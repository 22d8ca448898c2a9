/*-------------------------------------------------------------------------
 * agent_guard.h
 *		Declarations shared by every layer of agent_guard: our SQLSTATEs,
 *		limits, and the services without a header of their own (identity,
 *		shared memory) and the init entry points of module.c.
 *
 * Our SQLSTATEs live in class "YG" (the first character Y is left by the
 * SQL standard to implementations).  Each code is defined here once and
 * documented in README.md; tests match on them.
 *-------------------------------------------------------------------------
 */
#ifndef AGENT_GUARD_H
#define AGENT_GUARD_H

#include "postgres.h"
#include "access/attnum.h"
#include "lib/stringinfo.h"
#include "nodes/nodes.h"
#include "nodes/pg_list.h"
#include "datatype/timestamp.h"
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
/* YG050: agent_guard.purge() would delete or change live rows an agent
 * wrote (through ON DELETE actions); raised from src/sql/45_softdelete.sql
 * and, for a row a purge's cascade would update, by the stamp trigger. */
#define ERRCODE_AG_PURGE_REACH				MAKE_SQLSTATE('Y','G','0','5','0')

#define AG_SCHEMA "agent_guard"
/* get_namespace_oid(AG_SCHEMA, true), kept for the session (fastinsert.c) */
extern Oid	ag_guard_namespace(void);

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

/* Each bound parameter value is kept up to this many characters with its
 * statement and request (params.c); the approval covers the whole value. */
#define AG_PARAM_VALUE_LOG 1024
/* ... and all of a statement's values together up to about this many bytes
 * (the value that passes it is kept, up to AG_PARAM_VALUE_LOG characters);
 * the rest are counted with a mark (params.c). */
#define AG_PARAM_LOG_BYTES ((Size) 64 * 1024)

/*
 * The module interfaces of the layers every file may use.  Each of the
 * other modules has a header of its own (statement.h, scope.h,
 * classify.h, refusal.h, owner_spi.h, outbox.h, gate.h, policy.h,
 * worker.h, chain.h, session.h, ...); see README.md, "Layout".
 */

/* module.c: true only in a server that preloaded the library */
extern bool ag_preloaded;

/* runcount.c */
extern void ag_runcount_init(void);
extern uint64 ag_run_rows_add(const char *agent, const char *run, int64 delta);
extern uint64 ag_run_rows(const char *agent, const char *run);

/* params.c */
extern char *ag_client_params_text(void);
extern uint64 ag_client_params_material(StringInfo m);

/* shmem.c: an area's first member is its LWLock *, set before init runs */
typedef void (*AgShmemInitFn) (void *area);
extern void ag_shmem_register(const char *name, Size size, void **ptr, AgShmemInitFn init);
extern void ag_shmem_request(void);
extern void ag_shmem_startup(void);

/* identity.c */
extern void ag_identity_init(void);
extern const char *ag_current_agent(void);
extern const char *ag_current_run(bool for_write);
extern bool ag_run_generated_in_xact(const char *run);
extern void ag_identity_enforce(void);
extern bool ag_session_is_agent(void);
extern Oid	ag_extension_owner(void);
extern bool ag_agent_latched(void);
extern bool ag_valid_label(const char *value, const char *what);
extern void ag_identity_after_utility(Node *parsetree);
extern int	ag_agent_roles(const Oid **out, uint64 *generation);
extern bool ag_process_is_agent(void);
extern bool ag_identity_xact_only(void);
extern bool ag_identity_tagged_role(void);
extern bool ag_identity_tag_local(TimestampTz *since);
extern void ag_identity_pin_human(MemoryContext query_cxt);
extern List *ag_agent_ids_of_role(Oid role);

/* agentcode.c */
extern void ag_agentcode_init(void);
extern void ag_agentcode_refuse(const char *fn);
extern void ag_agentcode_refuse_calls(const char *fn);

/* hooks.c */
extern void ag_hooks_init(void);
extern void ag_hooks_init_failsafe(void);
extern bool ag_fk_action_query(void);

/* capture.c */
extern void ag_capture_init(void);
/* agent_guard.capture(), the trigger function that makes a table protected */
extern Oid	ag_capture_function(void);
struct EState;
extern void ag_capture_skip_human(struct EState *estate);

/* softdelete.c */
struct Query;
extern bool ag_softdelete_convert(struct Query *parse);
extern AttrNumber ag_softdelete_attno(Oid relid);
extern List *ag_softdelete_take_depends(void);
/* softvisible.c: the soft-delete policy's replication test folded at plan time */
extern void ag_softvisible_fold(struct Query *parse);
struct QueryDesc;
struct HeapTupleHeaderData;
extern void ag_softdelete_executor_start(struct QueryDesc *queryDesc);
extern bool ag_softdelete_cascaded(struct HeapTupleHeaderData *tup);

/* rollback.c */
extern void ag_rollback_init(void);
extern bool ag_replay_mode(void);
/* rowwork.c: true while agent_guard.purge() deletes its rows */
extern bool ag_purge_running;

/* idempotency.c */
extern void ag_idempotency_init(void);
extern void ag_idempotency_check(const char *agent);
extern void ag_idempotency_after_utility(Node *parsetree);

#endif							/* AGENT_GUARD_H */
