/*-------------------------------------------------------------------------
 * agentnotify.c
 *		An agent session's own NOTIFY and pg_notify(): bounded, so that an
 *		agent cannot fill PostgreSQL's notification queue, after which the
 *		guard's wake-ups are skipped and every other application's
 *		notifications fail at commit (red team 13, F4; issue #16).
 *
 * PostgreSQL queues a transaction's notifications at COMMIT, so the queue
 * usage a statement sees says nothing of what the transaction will add: a
 * single transaction can issue a million NOTIFYs.  Two bounds, in an agent
 * session only (a human's notifications are not concerned):
 *	- each NOTIFY statement and each call of pg_notify() (counted as it
 *	  runs, through agent_guard._notify(), so one statement that calls it
 *	  for a million rows counts a million) is refused once the queue is
 *	  at least agent_guard.agent_notify_queue_limit full (default 0.25,
 *	  below the guard's own agent_guard.notify_queue_limit, 0.5);
 *	- a transaction may notify at most agent_guard.agent_notify_max_per_xact
 *	  times (default 1000); the next one is refused.
 * Both refusals are YG004 (they would weaken the guard's wake-ups) and are
 * not put on record: a flood of them would fill the request log instead.
 * What remains: agent transactions that run at the same time each check
 * the queue before any of them commits, so N of them can still add
 * N x max_per_xact notifications (of up to 8000 bytes each) past the
 * limit.  Calls in a subtransaction that rolls back still count.
 * An agent's code in a human's session may not notify at all
 * (agentcode.c).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"

#include "agent_guard.h"
#include "agentnotify.h"
#include "writers.h"

static double agent_notify_queue_limit = 0.25;
static int	agent_notify_max_per_xact = 1000;

/* notifications the agent's transaction has asked for so far */
static int	xact_notifies = 0;

static void
agentnotify_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT)
		xact_notifies = 0;
}

void
ag_agentnotify_init(void)
{
	DefineCustomRealVariable("agent_guard.agent_notify_queue_limit",
							 gettext_noop("How full PostgreSQL's NOTIFY queue may be for an agent session still to notify."),
							 gettext_noop("At or above it an agent's NOTIFY and pg_notify() are refused (YG004); keep it below agent_guard.notify_queue_limit."),
							 &agent_notify_queue_limit, 0.25, 0.0, 1.0,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("agent_guard.agent_notify_max_per_xact",
							gettext_noop("How many notifications an agent's transaction may send."),
							gettext_noop("Each NOTIFY and each call of pg_notify() counts; past it they are refused (YG004)."),
							&agent_notify_max_per_xact, 1000, 0, INT_MAX,
							PGC_SUSET, 0, NULL, NULL, NULL);
	RegisterXactCallback(agentnotify_xact_callback, NULL);
}

/* How full the queue is, as pg_notification_queue_usage() says. */
static double
queue_usage(void)
{
	LOCAL_FCINFO(fcinfo, 0);

	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	return DatumGetFloat8(pg_notification_queue_usage(fcinfo));
}

/* One more notification of the agent's session: refused past a bound. */
static void
judge_notification(const char *what)
{
	double		usage;

	if (!IsTransactionState() || !ag_session_is_agent())
		return;
	if (xact_notifies >= agent_notify_max_per_xact)
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_PROTECTED),
				 errmsg("%s refused: the agent's transaction has sent %d notifications",
						what, xact_notifies),
				 errdetail("An agent's transaction may send at most agent_guard.agent_notify_max_per_xact (%d) notifications: they are queued at commit, in a queue shared by the whole server and by the guard's own wake-ups.",
						   agent_notify_max_per_xact),
				 errhint("Send fewer notifications per transaction (one with a payload that names many rows), or commit in between.")));
	usage = queue_usage();
	if (usage >= agent_notify_queue_limit)
		ereport(ERROR,
				(errcode(ERRCODE_AG_GUARD_PROTECTED),
				 errmsg("%s refused: the NOTIFY queue is %.0f%% full", what, usage * 100.0),
				 errdetail("Agents may notify only while PostgreSQL's NOTIFY queue is less full than agent_guard.agent_notify_queue_limit (%g): a full queue makes every transaction that notifies fail at commit, and the guard's wake-ups are skipped.",
						   agent_notify_queue_limit),
				 errhint("Retry once the listeners have caught up; a session that LISTENs and stays in a transaction holds the queue (pg_stat_activity, pg_listening_channels()).")));
	xact_notifies++;
}

/*
 * pg_notify() is built in: the function manager calls it without the hook
 * (fmgr_isbuiltin), so its calls are counted through a wrapper, as setval()
 * is judged (writers.c): in an agent session's plans every pg_notify() call
 * becomes a call of agent_guard._notify() with the same arguments, which
 * counts the call and then notifies.  A pg_notify() no plan shows (the
 * fast-path protocol) is refused in an agent session
 * (ag_agentnotify_function_execute).
 */
static Oid	notify_wrapper = InvalidOid;

void
ag_agentnotify_wrap_plan(PlannedStmt *ps, AgWriterScan *ws)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};

	if (ws->notify_calls == NIL)
		return;
	/* not installed here: left to the backstop */
	notify_wrapper = ag_writers_redirect_calls(ps, ws->notify_calls, "_notify", 2, argtypes);
}

/* Object access (OAT_FUNCTION_EXECUTE): an agent session's unwrapped pg_notify(). */
void
ag_agentnotify_function_execute(Oid funcid)
{
	if (funcid != F_PG_NOTIFY || !IsTransactionState() || !ag_session_is_agent())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_AG_GUARD_PROTECTED),
			 errmsg("pg_notify() refused: it is called outside a statement's plan"),
			 errdetail("In an agent session the guard counts each notification of a transaction; a call no plan shows (a fast-path call) cannot be counted."),
			 errhint("Call pg_notify() in a statement (SELECT pg_notify(...)), or use NOTIFY.")));
}

/*
 * SQL: agent_guard._notify(channel text, payload text): pg_notify(), counted
 * and bounded in an agent session.
 */
PG_FUNCTION_INFO_V1(ag_sql_notify);
Datum
ag_sql_notify(PG_FUNCTION_ARGS)
{
	judge_notification("pg_notify()");
	return pg_notify(fcinfo);
}

/* ProcessUtility: a NOTIFY statement. */
void
ag_agentnotify_utility(Node *parsetree)
{
	if (parsetree != NULL && IsA(parsetree, NotifyStmt))
		judge_notification("NOTIFY");
}
