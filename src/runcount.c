/*-------------------------------------------------------------------------
 * runcount.c
 *		Rows written per run, counted across all the run's sessions.
 *
 * agent_guard.max_rows_per_run holds for a run, not for a server process:
 * a run that reconnects for every statement (pooled clients, many tools)
 * or that several sessions write under at once is one run.  The counters
 * live in shared memory, one slot per (database, agent, run), so that
 * every backend of the agent adds to the same number; the gate (gate.c)
 * adds the rows of each agent statement as it runs and trips the run when
 * the total passes the limit.  reset_run() sets the count back to zero.
 *
 * The agent is part of the key: a run label is the agent's to choose, and
 * labels such as ticket numbers are guessable, so two agents under one
 * label count apart.  Keyed by the label alone, one agent could use up
 * another's run limit, trip its run, or have its own count reset with the
 * other's (red team 4, finding 17).  Tripped runs are per agent too
 * (agent_guard.tripped_runs).
 *
 * AG_RUN_SLOTS slots, open addressing on a hash of database, agent and run,
 * probed linearly over a window of AG_RUN_PROBE slots from the hash's own;
 * a slot is never emptied, so probe chains stay whole, and a run is always
 * within its window.  When every slot of the window is taken, the least
 * recently used one is given to the new run: its old run then counts from
 * zero again, like every run after a server restart (the counts are not
 * persisted; tripped runs are, in agent_guard.tripped_runs).  The window
 * keeps a lookup to AG_RUN_PROBE slots once all are taken: probing all of
 * them cost every agent statement of a new run about 115k instructions
 * once 4096 runs had been seen (a run per transaction, by default; issue
 * 21).  Sizing: a run per transaction (generated runs) takes a slot per
 * transaction; 4096 slots of recent runs is far more than any run limit
 * needs to see at once.
 *
 * Locking: RunShared->lock (one LWLock, tranche "agent_guard runs") guards
 * every slot.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "agent_guard.h"

#define AG_RUN_SLOTS 4096
#define AG_RUN_PROBE 64
#define AG_RUN_TRANCHE "agent_guard runs"

typedef struct AgRunSlot
{
	Oid			dboid;			/* InvalidOid: never used */
	uint32		hash;
	uint64		rows;
	uint64		touched;		/* RunShared->clock when last added to */
	char		agent[AG_MAX_ID_LEN + 1];
	char		run[AG_MAX_ID_LEN + 1];
} AgRunSlot;

typedef struct AgRunShared
{
	LWLock	   *lock;
	uint64		clock;
	AgRunSlot	slots[AG_RUN_SLOTS];
} AgRunShared;

static AgRunShared *runs = NULL;

static uint32
run_hash(const char *agent, const char *run)
{
	return hash_combine(hash_bytes((const unsigned char *) agent, strlen(agent)),
						hash_bytes((const unsigned char *) run, strlen(run))) ^
		(uint32) MyDatabaseId;
}

/* The slot of agent's run in this database; with create, taken if missing. */
static AgRunSlot *
find_slot(const char *agent, const char *run, uint32 h, bool create)
{
	int			start = h % AG_RUN_SLOTS;
	int			i;
	AgRunSlot  *oldest = NULL;

	for (i = 0; i < AG_RUN_PROBE; i++)
	{
		AgRunSlot  *s = &runs->slots[(start + i) % AG_RUN_SLOTS];

		if (s->dboid == InvalidOid)
		{
			if (!create)
				return NULL;
			oldest = s;
			break;
		}
		if (s->hash == h && s->dboid == MyDatabaseId && strcmp(s->run, run) == 0 &&
			strcmp(s->agent, agent) == 0)
			return s;
		if (oldest == NULL || s->touched < oldest->touched)
			oldest = s;
	}
	if (!create)
		return NULL;
	/* a free slot, or the least recently used one: it starts anew */
	oldest->dboid = MyDatabaseId;
	oldest->hash = h;
	oldest->rows = 0;
	strlcpy(oldest->agent, agent, sizeof(oldest->agent));
	strlcpy(oldest->run, run, sizeof(oldest->run));
	return oldest;
}

/*
 * Add delta rows (negative: take back rows that were rolled back by a
 * preview) to agent's run's count in this database; returns the new count.
 * Without shared memory (not preloaded) nothing is counted.
 */
uint64
ag_run_rows_add(const char *agent, const char *run, int64 delta)
{
	uint32		h;
	AgRunSlot  *s;
	uint64		total;

	if (runs == NULL || run == NULL)
		return 0;
	if (agent == NULL)
		agent = "";
	h = run_hash(agent, run);
	LWLockAcquire(runs->lock, LW_EXCLUSIVE);
	s = find_slot(agent, run, h, true);
	if (delta < 0 && (uint64) (-delta) > s->rows)
		s->rows = 0;
	else
		s->rows += delta;
	s->touched = ++runs->clock;
	total = s->rows;
	LWLockRelease(runs->lock);
	return total;
}

/* agent's run's count in this database (0 when nothing was counted). */
uint64
ag_run_rows(const char *agent, const char *run)
{
	AgRunSlot  *s;
	uint64		total = 0;

	if (runs == NULL || run == NULL)
		return 0;
	if (agent == NULL)
		agent = "";
	LWLockAcquire(runs->lock, LW_SHARED);
	s = find_slot(agent, run, run_hash(agent, run), false);
	if (s != NULL)
		total = s->rows;
	LWLockRelease(runs->lock);
	return total;
}

void
ag_runcount_init(void)
{
	ag_shmem_register(AG_RUN_TRANCHE, sizeof(AgRunShared), (void **) &runs, NULL);
}

/*
 * SQL: agent_guard._run_rows(run_id text, reset boolean) returns bigint:
 * the rows counted for the run's limit in this database, summed over the
 * agents that wrote under the label; with reset, every one of those counts
 * starts from zero again (reset_run(), which lifts the trips of all of
 * them).  A slot is never emptied, so this looks at every slot: reset_run()
 * is rare.
 */
PG_FUNCTION_INFO_V1(ag_sql_run_rows);
Datum
ag_sql_run_rows(PG_FUNCTION_ARGS)
{
	char	   *run = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		reset = PG_GETARG_BOOL(1);
	uint64		total = 0;
	int			i;

	if (runs == NULL)
		PG_RETURN_INT64(0);
	LWLockAcquire(runs->lock, reset ? LW_EXCLUSIVE : LW_SHARED);
	for (i = 0; i < AG_RUN_SLOTS; i++)
	{
		AgRunSlot  *s = &runs->slots[i];

		if (s->dboid != MyDatabaseId || strcmp(s->run, run) != 0)
			continue;
		total += s->rows;
		if (reset)
			s->rows = 0;
	}
	LWLockRelease(runs->lock);
	PG_RETURN_INT64((int64) total);
}
