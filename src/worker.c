/*-------------------------------------------------------------------------
 * worker.c
 *		The background workers: the launcher and one sealer per database,
 *		which write the outbox of refused statements (outbox.c) and seal
 *		committed events into the hash chain (chain.c), off the agents'
 *		write path.
 *
 * The extension is installed per database, so there is one sealer per
 * database that has it, started on demand:
 *
 *	- the launcher, a static background worker registered while preloading,
 *	  connected to no database, starts and restarts the sealers.  At start
 *	  it asks for a sealer in every database that accepts connections; a
 *	  sealer in a database without the extension finds that out and exits.
 *	- a sealer (dynamic background worker, one per database) seals what
 *	  has committed, then sleeps on its latch for agent_guard.seal_interval.
 *	- a backend whose transaction wrote events (capture.c calls
 *	  ag_worker_note_event(), CREATE EXTENSION calls _journal_note()) sets
 *	  the sealer's latch when it commits, or asks the launcher for a sealer
 *	  when its database has none.  Guard events written by other paths are
 *	  sealed at the next poll, so everything is sealed within about
 *	  seal_interval of its commit.
 *
 * Writers never wait for the chain: the commit callback only reads the slot
 * table and sets a latch.  Sealers serialize among themselves (and with
 * agent_guard.seal_log()) on the row lock of agent_guard.chain_state.
 *
 * Locking: WorkerShared->slots and launcher fields are protected by the
 * one LWLock of tranche "agent_guard journal".  Readers that only want a
 * latch take it shared; allocating, attaching and detaching a slot take it
 * exclusive.  It is never held across a catalog access or an error: what
 * is read under it is copied out first.  A latch pointer read under the lock may be stale by the time
 * it is set (its process exited); setting a stale latch only wakes some
 * other process for nothing, which is harmless.
 *
 * Utility commands that need a database with no one connected (DROP
 * DATABASE, ALTER DATABASE ... RENAME / SET TABLESPACE, CREATE DATABASE
 * ... TEMPLATE) first stop that database's sealer; the next write there
 * starts it again.  The hooks (hooks.c) ask for that only after every
 * refusal: a refused command leaves the sealer running.
 *
 * Every sealer takes a slot of max_worker_processes, as does the launcher.
 * When none is free the launcher cannot start a database's sealer: it says
 * so in the server log (a WARNING naming max_worker_processes, repeated
 * every AG_NO_SLOT_REPEAT_MS while it lasts), the slot records since when
 * (agent_guard.sealer_status() shows "no worker slot"), and it tries again
 * every AG_RESTART_DELAY_MS.  Meanwhile the humans' functions that read or
 * decide requests write the database's refused statements themselves
 * (outbox.c), so nothing an agent was told is on record goes missing.
 *
 * The launcher starts only once recovery has finished, so nothing here
 * writes on a standby; nothing at all runs under binary upgrade
 * (_PG_init returns first).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/pmsignal.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/acl.h"

#include "agent_guard.h"
#include "chain.h"
#include "compat.h"
#include "outbox.h"
#include "session.h"
#include "worker.h"

/* Databases served at once; a database beyond this is sealed by seal_log() only. */
#define AG_MAX_SEALERS 64
/* Events sealed per transaction of the sealer. */
#define AG_SEAL_BATCH 5000
/* Wait before restarting a sealer that stopped with an error, or found no slot. */
#define AG_RESTART_DELAY_MS 5000
/* How often the launcher repeats that a sealer still finds no worker slot. */
#define AG_NO_SLOT_REPEAT_MS (5 * 60 * 1000)
/* the tranche keeps its 1.1 name: monitoring may know it */
#define AG_WORKER_TRANCHE "agent_guard journal"

typedef struct AgSealerSlot
{
	Oid			dboid;			/* InvalidOid: slot free */
	bool		requested;		/* a sealer should run for dboid */
	pid_t		pid;			/* the running sealer, 0 if none */
	Latch	   *latch;			/* its latch, NULL if none */
	TimestampTz last_seal_at;	/* when it last sealed something */
	int64		sealed;			/* events it sealed since startup */
	TimestampTz start_failed_at;	/* first start that found no worker slot, 0 if none */
	int			start_failures; /* starts that found none since it last ran */
	bool		sealing;		/* its sealing transaction is under way */
	TimestampTz seal_failed_at; /* first sealing that failed since one last
								 * succeeded, 0 if none */
	int			seal_failures;	/* sealings that failed since then */
} AgSealerSlot;

typedef struct AgWorkerShared
{
	LWLock	   *lock;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	AgSealerSlot slots[AG_MAX_SEALERS];
} AgWorkerShared;

static AgWorkerShared *workers = NULL;

static int	seal_interval_ms = 1000;
static bool events_pending = false;
static bool am_sealer = false;	/* this process is a database's sealer */

PGDLLEXPORT void ag_worker_launcher_main(Datum arg);
PGDLLEXPORT void ag_worker_sealer_main(Datum arg);

/* The sealer writes the queue of refusals: it must not wait for itself. */
bool
ag_worker_is_sealer(void)
{
	return am_sealer;
}

/* Slot of a database; with create, a free slot is taken.  Lock held exclusive to create. */
static AgSealerSlot *
sealer_slot_for(Oid dboid, bool create)
{
	AgSealerSlot *free_slot = NULL;
	int			i;

	for (i = 0; i < AG_MAX_SEALERS; i++)
	{
		AgSealerSlot *s = &workers->slots[i];

		if (s->dboid == dboid)
			return s;
		if (s->dboid == InvalidOid && free_slot == NULL)
			free_slot = s;
	}
	if (!create || free_slot == NULL)
		return NULL;
	memset(free_slot, 0, sizeof(AgSealerSlot));
	free_slot->dboid = dboid;
	return free_slot;
}

/*
 * Make sure a sealer runs for dboid and wake it.  Called from a commit
 * callback, so it must not fail: a full slot table is only a warning.
 */
static void
worker_wake_db(Oid dboid)
{
	AgSealerSlot *s;
	Latch	   *latch = NULL;
	bool		full = false;

	if (workers == NULL || !OidIsValid(dboid))
		return;

	LWLockAcquire(workers->lock, LW_SHARED);
	s = sealer_slot_for(dboid, false);
	if (s != NULL && s->requested && s->pid != 0)
		latch = s->latch;
	LWLockRelease(workers->lock);

	if (latch == NULL)
	{
		LWLockAcquire(workers->lock, LW_EXCLUSIVE);
		s = sealer_slot_for(dboid, true);
		if (s == NULL)
			full = true;
		else
		{
			s->requested = true;
			latch = s->pid != 0 ? s->latch : workers->launcher_latch;
		}
		LWLockRelease(workers->lock);
	}

	if (full)
		ereport(WARNING,
				(errmsg("agent_guard cannot start a sealer for this database"),
				 errdetail("Sealers already serve %d databases.", AG_MAX_SEALERS),
				 errhint("Run agent_guard.seal_log() to seal the event log of this database.")));
	else if (latch != NULL)
		SetLatch(latch);
}

/* Wake (or ask for) the sealer of a database; it also writes the outbox. */
void
ag_worker_wake(Oid dboid)
{
	worker_wake_db(dboid);
}

/*
 * Does this database's sealer find no worker slot?  since: from when.
 */
bool
ag_worker_no_slot(Oid dboid, TimestampTz *since)
{
	AgSealerSlot *s;
	bool		no_slot = false;

	if (workers == NULL)
		return false;
	LWLockAcquire(workers->lock, LW_SHARED);
	s = sealer_slot_for(dboid, false);
	if (s != NULL && s->pid == 0 && s->requested && s->start_failed_at != 0)
	{
		no_slot = true;
		if (since)
			*since = s->start_failed_at;
	}
	LWLockRelease(workers->lock);
	return no_slot;
}

static bool sealer_running(Oid dboid);

/*
 * Write this database's unwritten requests in the caller's transaction
 * (outbox.c); when the sealer does not run, tell the human why they had
 * to be.
 */
static int
record_requests_here(void)
{
	int			written = ag_outbox_record_here();
	TimestampTz since;

	/* their BLOCKED events are to be sealed */
	if (written > 0)
		ag_worker_note_event();
	if (written > 0 && !sealer_running(MyDatabaseId))
	{
		if (ag_worker_no_slot(MyDatabaseId, &since))
			ereport(WARNING,
					(errmsg("the agent_guard sealer of this database is not running"),
					 errdetail("It has found no free background worker slot since %s; this transaction recorded %d refused statement(s) it did not write.",
							   timestamptz_to_str(since), written),
					 errhint("Raise \"max_worker_processes\" (agent_guard needs one slot for its launcher and one per database with the extension) and restart the server, after a last agent_guard.record_requests(); until then agent_guard.record_requests() and agent_guard.seal_log() do its work.")));
		else
			ereport(WARNING,
					(errmsg("the agent_guard sealer of this database is not running"),
					 errdetail("This transaction recorded %d refused statement(s) it did not write.", written),
					 errhint("See agent_guard.sealer_status() and the server log.")));
	}
	return written;
}

/*
 * SQL: agent_guard._flush_requests(): wait (up to 10 s) until the worker
 * wrote this database's queued requests, unless it finds no worker slot;
 * then write what is left in this transaction.  true: every request of
 * this database is on record (in this transaction's view).
 */
PG_FUNCTION_INFO_V1(ag_sql_flush_requests);
Datum
ag_sql_flush_requests(PG_FUNCTION_ARGS)
{
	int			waited = 0;

	while (ag_outbox_unwritten(MyDatabaseId, false) > 0 && waited < 10000 &&
		   !ag_worker_no_slot(MyDatabaseId, NULL))
	{
		ag_worker_wake(MyDatabaseId);
		pg_usleep(10 * 1000L);
		waited += 10;
		CHECK_FOR_INTERRUPTS();
	}
	(void) record_requests_here();
	PG_RETURN_BOOL(ag_outbox_unwritten(MyDatabaseId, false) == 0);
}

/*
 * SQL: agent_guard._record_requests(): write this database's unwritten
 * requests in this transaction now, without waiting for the sealer;
 * returns how many.
 */
PG_FUNCTION_INFO_V1(ag_sql_record_requests);
Datum
ag_sql_record_requests(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(record_requests_here());
}

/* ---------------------------------------------------------------------
 * Backends: wake the sealer when a transaction that wrote events commits
 * ---------------------------------------------------------------------
 */
void
ag_worker_note_event(void)
{
	events_pending = true;
}

static void
worker_xact_callback(XactEvent event, void *arg)
{
	if (!events_pending)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			events_pending = false;

			/*
			 * Waking the sealer costs a signal per commit, and a busy agent
			 * commits thousands of times a second.  The sealer polls every
			 * seal_interval anyway; one wake per backend per 100 ms keeps
			 * sealing prompt without paying for it on every commit.
			 */
			{
				static TimestampTz last_wake = 0;
				TimestampTz now = GetCurrentTransactionStopTimestamp();

				if (now - last_wake >= INT64CONST(100000) || now < last_wake)
				{
					last_wake = now;
					worker_wake_db(MyDatabaseId);
				}
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* a prepared transaction's events are found by the next poll */
			events_pending = false;
			break;
		default:
			break;
	}
}

PG_FUNCTION_INFO_V1(ag_sql_journal_note);
Datum
ag_sql_journal_note(PG_FUNCTION_ARGS)
{
	ag_worker_note_event();
	PG_RETURN_VOID();
}

/*
 * agent_guard._sealers(): the slot table as jsonb, for the sealers view.
 */
PG_FUNCTION_INFO_V1(ag_sql_sealers);
Datum
ag_sql_sealers(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	bool		first = true;
	int			i;
	AgSealerSlot *copy;
	pid_t		launcher_pid;

	if (workers == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("agent_guard must be loaded via \"shared_preload_libraries\"")));

	/* copied out under the lock; the text is built after it */
	copy = palloc(sizeof(AgSealerSlot) * AG_MAX_SEALERS);
	LWLockAcquire(workers->lock, LW_SHARED);
	memcpy(copy, workers->slots, sizeof(AgSealerSlot) * AG_MAX_SEALERS);
	launcher_pid = workers->launcher_pid;
	LWLockRelease(workers->lock);

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < AG_MAX_SEALERS; i++)
	{
		AgSealerSlot *s = &copy[i];

		if (!OidIsValid(s->dboid))
			continue;
		appendStringInfo(&buf, "%s{\"dboid\": %u, \"pid\": %d, \"requested\": %s, \"sealed\": " INT64_FORMAT,
						 first ? "" : ", ", s->dboid, (int) s->pid,
						 s->requested ? "true" : "false", s->sealed);
		if (s->last_seal_at != 0)
			appendStringInfo(&buf, ", \"last_seal_at\": \"%s\"", timestamptz_to_str(s->last_seal_at));
		/*
		 * A sealer that fails, exits and is restarted is "failing" until it
		 * seals again, not "running": events wait unsealed meanwhile (red
		 * team 13, finding 1).
		 */
		appendStringInfo(&buf, ", \"state\": \"%s\"",
						 s->pid == 0 && !s->requested ? "stopped" :
						 s->seal_failures > 0 ? "failing" :
						 s->pid != 0 ? "running" :
						 s->start_failed_at != 0 ? "no worker slot" : "starting");
		if (s->seal_failures > 0)
			appendStringInfo(&buf, ", \"failing_since\": \"%s\", \"seal_failures\": %d",
							 timestamptz_to_str(s->seal_failed_at), s->seal_failures);
		if (s->pid == 0 && s->requested && s->start_failed_at != 0)
			appendStringInfo(&buf, ", \"no_slot_since\": \"%s\", \"start_failures\": %d",
							 timestamptz_to_str(s->start_failed_at), s->start_failures);
		appendStringInfo(&buf, ", \"unrecorded_requests\": %d", ag_outbox_unwritten(s->dboid, true));
		appendStringInfoChar(&buf, '}');
		first = false;
	}
	appendStringInfo(&buf, "%s{\"launcher_pid\": %d}]", first ? "" : ", ", (int) launcher_pid);

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* ---------------------------------------------------------------------
 * Stop a database's sealer before a command that needs the database empty
 * ---------------------------------------------------------------------
 */
static const char *
database_needing_exclusive_use(Node *stmt)
{
	ListCell   *lc;

	switch (nodeTag(stmt))
	{
		case T_DropdbStmt:
			return ((DropdbStmt *) stmt)->dbname;
		case T_RenameStmt:
			if (((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
				return ((RenameStmt *) stmt)->subname;
			return NULL;
		case T_AlterDatabaseStmt:
			foreach(lc, ((AlterDatabaseStmt *) stmt)->options)
			{
				if (strcmp(((DefElem *) lfirst(lc))->defname, "tablespace") == 0)
					return ((AlterDatabaseStmt *) stmt)->dbname;
			}
			return NULL;
		case T_CreatedbStmt:
			foreach(lc, ((CreatedbStmt *) stmt)->options)
			{
				DefElem    *d = (DefElem *) lfirst(lc);

				if (strcmp(d->defname, "template") == 0 && d->arg != NULL)
					return defGetString(d);
			}
			return NULL;
		default:
			return NULL;
	}
}

static void
worker_stop_sealer(Oid dboid)
{
	AgSealerSlot *s;
	pid_t		pid = 0;

	LWLockAcquire(workers->lock, LW_EXCLUSIVE);
	s = sealer_slot_for(dboid, false);
	if (s != NULL)
	{
		s->requested = false;
		pid = s->pid;
	}
	LWLockRelease(workers->lock);
	/* the sealer ends at once, even waiting for a lock; the command waits for it */
	if (pid != 0)
		kill(pid, SIGTERM);
}

/* DROP EXTENSION agent_guard, or DROP SCHEMA agent_guard (CASCADE). */
static bool
drops_the_extension(Node *stmt)
{
	DropStmt   *d;
	ListCell   *lc;

	if (stmt == NULL || !IsA(stmt, DropStmt))
		return false;
	d = (DropStmt *) stmt;
	if (d->removeType != OBJECT_EXTENSION && d->removeType != OBJECT_SCHEMA)
		return false;
	foreach(lc, d->objects)
	{
		const char *name = strVal(lfirst(lc));

		if (strcmp(name, d->removeType == OBJECT_EXTENSION ? "agent_guard" : AG_SCHEMA) == 0)
			return true;
	}
	return false;
}

static bool
sealer_running(Oid dboid)
{
	AgSealerSlot *s;
	bool		running;

	LWLockAcquire(workers->lock, LW_SHARED);
	s = sealer_slot_for(dboid, false);
	running = (s != NULL && s->pid != 0);
	LWLockRelease(workers->lock);
	return running;
}

/*
 * May the session run a command that needs a database's sealer gone?
 * PostgreSQL checks these rights only once the command runs; a sealer
 * stopped before that check would be stopped by anyone who can type the
 * command (an agent's CREATE DATABASE x TEMPLATE guarded_db, which then
 * fails with "permission denied").  The checks are PostgreSQL's own, made
 * first; a command that passes them and fails later gets its sealer back
 * (ag_worker_after_utility).
 */
static bool
may_run_database_command(Node *stmt, Oid dboid)
{
	HeapTuple	tup;
	bool		is_template = false;

	if (superuser())
		return true;
	switch (nodeTag(stmt))
	{
		case T_DropdbStmt:
		case T_AlterDatabaseStmt:
			return AG_DATABASE_OWNERCHECK(dboid, GetUserId());
		case T_RenameStmt:
			return AG_DATABASE_OWNERCHECK(dboid, GetUserId()) && have_createdb_privilege();
		case T_CreatedbStmt:
			if (!have_createdb_privilege())
				return false;
			tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));
			if (HeapTupleIsValid(tup))
			{
				is_template = ((Form_pg_database) GETSTRUCT(tup))->datistemplate;
				ReleaseSysCache(tup);
			}
			return is_template || AG_DATABASE_OWNERCHECK(dboid, GetUserId());
		default:
			return false;
	}
}

/* DROP EXTENSION agent_guard needs its owner, DROP SCHEMA agent_guard the schema's. */
static bool
may_drop_the_extension(Node *stmt)
{
	DropStmt   *d = (DropStmt *) stmt;
	Oid			oid;

	if (superuser())
		return true;
	if (d->removeType == OBJECT_EXTENSION)
	{
		oid = get_extension_oid("agent_guard", true);
		return OidIsValid(oid) && AG_EXTENSION_OWNERCHECK(oid, GetUserId());
	}
	oid = ag_guard_namespace();
	return OidIsValid(oid) && AG_NAMESPACE_OWNERCHECK(oid, GetUserId());
}

/*
 * Before a utility command runs, and after the hooks refused what they
 * refuse: stop the sealer a command needs gone, if the session may run
 * the command.  Returns the database whose sealer was stopped, or
 * InvalidOid.
 */
Oid
ag_worker_before_utility(Node *stmt)
{
	const char *dbname;

	if (workers == NULL || stmt == NULL || !IsNormalProcessingMode())
		return InvalidOid;
	if (drops_the_extension(stmt) && may_drop_the_extension(stmt))
	{
		/*
		 * DROP EXTENSION takes its tables one by one while the sealer may
		 * hold some and want others: stop it first, and wait for it, or
		 * the two deadlock.
		 */
		int			waited = 0;

		worker_stop_sealer(MyDatabaseId);
		while (waited < 5000 && sealer_running(MyDatabaseId))
		{
			pg_usleep(10 * 1000L);
			waited += 10;
			CHECK_FOR_INTERRUPTS();
		}
		return MyDatabaseId;
	}
	dbname = database_needing_exclusive_use(stmt);
	if (dbname != NULL)
	{
		Oid			dboid = get_database_oid(dbname, true);

		if (OidIsValid(dboid) && may_run_database_command(stmt, dboid))
		{
			worker_stop_sealer(dboid);
			return dboid;
		}
	}
	return InvalidOid;
}

/*
 * After such a command, whether it succeeded or failed: ask for the sealer
 * again.  A database that is gone, or no longer has the extension, lets
 * the launcher (or the new sealer) find that out and free the slot.
 */
void
ag_worker_after_utility(Oid dboid)
{
	AgSealerSlot *s;
	Latch	   *latch = NULL;

	if (workers == NULL || !OidIsValid(dboid))
		return;
	LWLockAcquire(workers->lock, LW_EXCLUSIVE);
	s = sealer_slot_for(dboid, true);
	if (s != NULL)
	{
		s->requested = true;
		latch = workers->launcher_latch;
	}
	LWLockRelease(workers->lock);
	if (latch != NULL)
		SetLatch(latch);
}

/* ---------------------------------------------------------------------
 * Initialisation (from _PG_init, while preloading)
 * ---------------------------------------------------------------------
 */
void
ag_worker_init(void)
{
	BackgroundWorker worker;

	DefineCustomIntVariable("agent_guard.seal_interval",
							gettext_noop("How often the sealer looks for committed events to seal."),
							gettext_noop("Transactions that wrote rows through a protected table wake the sealer at commit; "
										 "other events are sealed at the next look."),
							&seal_interval_ms, 1000, 10, 60000,
							PGC_SIGHUP, GUC_UNIT_MS | GUC_SUPERUSER_ONLY,
							NULL, NULL, NULL);

	ag_shmem_register(AG_WORKER_TRANCHE, sizeof(AgWorkerShared), (void **) &workers, NULL);

	RegisterXactCallback(worker_xact_callback, NULL);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "agent_guard");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "ag_worker_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "agent_guard launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "agent_guard launcher");
	RegisterBackgroundWorker(&worker);
}

/* ---------------------------------------------------------------------
 * Launcher
 * ---------------------------------------------------------------------
 */
static BackgroundWorkerHandle *sealer_handle[AG_MAX_SEALERS];
static TimestampTz sealer_started[AG_MAX_SEALERS];
/* when the launcher last said that a sealer found no worker slot */
static TimestampTz sealer_no_slot_told[AG_MAX_SEALERS];

/* Ask for a sealer in every database that accepts connections. */
static void
launcher_request_all(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	Oid		   *dbs;
	int			n = 0;
	int			cap = 16;
	int			i;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	dbs = palloc(sizeof(Oid) * cap);
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (!db->datallowconn || db->datistemplate)
			continue;
		if (n == cap)
		{
			cap *= 2;
			dbs = repalloc(dbs, sizeof(Oid) * cap);
		}
		dbs[n++] = db->oid;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	/* the catalog read, the slots taken: the lock is not held across both */
	LWLockAcquire(workers->lock, LW_EXCLUSIVE);
	for (i = 0; i < n; i++)
	{
		AgSealerSlot *s = sealer_slot_for(dbs[i], true);

		if (s != NULL)
			s->requested = true;
	}
	LWLockRelease(workers->lock);
	CommitTransactionCommand();
}

/* Does the database accept connections?  name: its name, for messages. */
static bool
database_accepts_connections(Oid dboid, NameData *name)
{
	HeapTuple	tup;
	bool		ok = false;

	snprintf(NameStr(*name), NAMEDATALEN, "%u", dboid);
	StartTransactionCommand();
	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));
	if (HeapTupleIsValid(tup))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		ok = db->datallowconn;
		namestrcpy(name, NameStr(db->datname));
		ReleaseSysCache(tup);
	}
	CommitTransactionCommand();
	return ok;
}

/*
 * No worker slot for the sealer of slot i: record since when, and say so
 * in the server log at the first failure and every AG_NO_SLOT_REPEAT_MS.
 */
static void
launcher_no_slot(int i, Oid dboid, const char *dbname)
{
	AgSealerSlot *s = &workers->slots[i];
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz since = now;
	int			failures = 0;
	int			in_use = 0;
	int			j;

	LWLockAcquire(workers->lock, LW_EXCLUSIVE);
	if (s->dboid == dboid)
	{
		if (s->start_failed_at == 0)
			s->start_failed_at = now;
		since = s->start_failed_at;
		failures = ++s->start_failures;
	}
	for (j = 0; j < AG_MAX_SEALERS; j++)
	{
		if (workers->slots[j].pid != 0)
			in_use++;
	}
	LWLockRelease(workers->lock);

	if (failures > 1 && sealer_no_slot_told[i] != 0 &&
		now - sealer_no_slot_told[i] < (TimestampTz) AG_NO_SLOT_REPEAT_MS * 1000)
		return;
	sealer_no_slot_told[i] = now;
	ereport(WARNING,
			(errmsg("agent_guard could not start the sealer of database \"%s\": no background worker slot is free",
					dbname),
			 errdetail("\"max_worker_processes\" is %d; agent_guard's launcher and %d sealer(s) hold slots, other background workers the rest. "
					   "The sealer has found no slot since %s. Until it runs, refused statements of agents in that database reach agent_guard.request_log only when a human calls agent_guard.approve(), deny(), reset_run(), postmortem() or record_requests() there, and its events stay unsealed.",
					   max_worker_processes, in_use, timestamptz_to_str(since)),
			 errhint("Raise \"max_worker_processes\" to at least the number of databases with agent_guard plus one for the launcher, plus what other extensions and parallel queries use, and restart the server; first run SELECT agent_guard.record_requests() in that database, since the refusals waiting in shared memory do not survive the restart. agent_guard.sealer_status() shows which sealers run.")));
}

static void
launcher_start_sealer(int i, Oid dboid, const char *dbname)
{
	BackgroundWorker worker;
	MemoryContext old;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;	/* the launcher restarts it */
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "agent_guard");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "ag_worker_sealer_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "agent_guard sealer %u", dboid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "agent_guard sealer");
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = MyProcPid;

	sealer_started[i] = GetCurrentTimestamp();
	if (sealer_handle[i] != NULL)
	{
		pfree(sealer_handle[i]);
		sealer_handle[i] = NULL;
	}
	old = MemoryContextSwitchTo(ag_session_memory());
	if (!RegisterDynamicBackgroundWorker(&worker, &sealer_handle[i]))
	{
		sealer_handle[i] = NULL;
		MemoryContextSwitchTo(old);
		launcher_no_slot(i, dboid, dbname);
		return;
	}
	MemoryContextSwitchTo(old);
}

/*
 * One pass over the slots: free the ones nobody wants, start the sealers
 * that are wanted and not running.  Returns how long to sleep.
 */
static long
launcher_pass(void)
{
	long		sleep_ms = 10000;
	int			i;

	for (i = 0; i < AG_MAX_SEALERS; i++)
	{
		AgSealerSlot *s = &workers->slots[i];
		Oid			dboid;
		bool		requested;
		pid_t		pid;
		pid_t		hpid;
		bool		handle_alive;
		long		since;
		NameData	dbname;

		LWLockAcquire(workers->lock, LW_SHARED);
		dboid = s->dboid;
		requested = s->requested;
		pid = s->pid;
		LWLockRelease(workers->lock);

		handle_alive = sealer_handle[i] != NULL &&
			GetBackgroundWorkerPid(sealer_handle[i], &hpid) != BGWH_STOPPED;

		if (!OidIsValid(dboid))
			continue;

		if (!requested)
		{
			if (pid == 0 && !handle_alive)
			{
				LWLockAcquire(workers->lock, LW_EXCLUSIVE);
				if (s->dboid == dboid && !s->requested && s->pid == 0)
					s->dboid = InvalidOid;
				LWLockRelease(workers->lock);
				if (sealer_handle[i] != NULL)
				{
					pfree(sealer_handle[i]);
					sealer_handle[i] = NULL;
				}
				sealer_started[i] = 0;
				sealer_no_slot_told[i] = 0;
			}
			continue;
		}

		if (pid != 0 || handle_alive)
			continue;

		/* a sealer that stopped (an error) is restarted after a pause */
		since = sealer_started[i] == 0 ? AG_RESTART_DELAY_MS :
			(long) ((GetCurrentTimestamp() - sealer_started[i]) / 1000);
		if (since < AG_RESTART_DELAY_MS)
		{
			sleep_ms = Min(sleep_ms, AG_RESTART_DELAY_MS - since);
			continue;
		}

		if (!database_accepts_connections(dboid, &dbname))
		{
			LWLockAcquire(workers->lock, LW_EXCLUSIVE);
			if (s->dboid == dboid && s->pid == 0)
				s->dboid = InvalidOid;
			LWLockRelease(workers->lock);
			continue;
		}
		launcher_start_sealer(i, dboid, NameStr(dbname));
		sleep_ms = Min(sleep_ms, AG_RESTART_DELAY_MS);
	}
	return sleep_ms;
}

static void
launcher_detach(int code, Datum arg)
{
	LWLockAcquire(workers->lock, LW_EXCLUSIVE);
	if (workers->launcher_pid == MyProcPid)
	{
		workers->launcher_pid = 0;
		workers->launcher_latch = NULL;
	}
	LWLockRelease(workers->lock);
}

void
ag_worker_launcher_main(Datum arg)
{
	MemoryContext loop_cxt;

	am_sealer = true;
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	if (workers == NULL)
		elog(ERROR, "agent_guard worker shared memory is not set up");

	before_shmem_exit(launcher_detach, (Datum) 0);
	LWLockAcquire(workers->lock, LW_EXCLUSIVE);
	workers->launcher_pid = MyProcPid;
	workers->launcher_latch = MyLatch;
	LWLockRelease(workers->lock);

	/* no database: the launcher reads only the shared catalog pg_database */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "agent_guard launcher loop",
									 ALLOCSET_DEFAULT_SIZES);
	launcher_request_all();

	while (!ShutdownRequestPending)
	{
		long		sleep_ms;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		MemoryContextReset(loop_cxt);
		old = MemoryContextSwitchTo(loop_cxt);
		sleep_ms = launcher_pass();
		MemoryContextSwitchTo(old);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	proc_exit(0);
}

/* ---------------------------------------------------------------------
 * Sealer (one per database)
 * ---------------------------------------------------------------------
 */
static void
sealer_detach(int code, Datum arg)
{
	AgSealerSlot *s;
	Latch	   *launcher_latch;

	LWLockAcquire(workers->lock, LW_EXCLUSIVE);
	s = sealer_slot_for(DatumGetObjectId(arg), false);
	if (s != NULL && s->pid == MyProcPid)
	{
		s->pid = 0;
		s->latch = NULL;
		/* it exits in the middle of sealing: that sealing failed */
		if (s->sealing && s->requested)
		{
			if (s->seal_failures++ == 0)
				s->seal_failed_at = GetCurrentTimestamp();
		}
		s->sealing = false;
	}
	launcher_latch = workers->launcher_latch;
	LWLockRelease(workers->lock);
	if (launcher_latch)
		SetLatch(launcher_latch);
}

/* Is agent_guard installed in this database?  Inside a transaction. */
static bool
extension_installed(void)
{
	Oid			nsp;

	if (!OidIsValid(get_extension_oid("agent_guard", true)))
		return false;
	nsp = ag_guard_namespace();
	return OidIsValid(nsp) && OidIsValid(get_relname_relid("chain_state", nsp));
}

/*
 * Write the outbox of refused statements, in a transaction of its
 * own: a failure of sealing must never keep refusals off the record.
 * Returns how many it wrote.
 */
static int
sealer_drain_requests(void)
{
	int			drained = 0;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "agent_guard: recording refused statements");
	if (extension_installed())
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "agent_guard sealer: SPI_connect failed");
		drained = ag_outbox_drain();
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "agent_guard sealer: SPI_finish failed");
	}
	PopActiveSnapshot();
	/* the entries it took are WRITTEN at commit (outbox.c) */
	CommitTransactionCommand();
	return drained;
}

/*
 * The sealer's last act when it stops (a fast or smart shutdown, a
 * restart, pg_terminate_backend, DROP DATABASE): write what waits in the
 * queue of refused statements, which lives in shared memory and would be
 * lost with it: a refusal that ended in YG009 while its request was still
 * queued, one whose wait was cancelled, an autovacuum worker's (which does
 * not wait).  Run before the connection's own exit callback aborts the
 * transaction, as PostgreSQL's removal of temporary relations at exit does;
 * a lock is waited for at most 5 seconds, and a second termination ends
 * it (an error here ends the process, as any at exit does).  An immediate
 * shutdown or a crash runs no callback: those entries are lost (README,
 * Limitations).
 */
static void
sealer_last_drain(int code, Datum arg)
{
	int			drained;

	if (!PostmasterIsAlive() || RecoveryInProgress() ||
		ag_outbox_unwritten(MyDatabaseId, true) == 0)
		return;
	AbortOutOfAnyTransaction();
	/* a human's lock on request_log must not keep a stopping sealer alive */
	SetConfigOption("lock_timeout", "5s", PGC_SUSET, PGC_S_OVERRIDE);
	drained = sealer_drain_requests();
	if (drained > 0)
		ereport(LOG,
				(errmsg("agent_guard sealer recorded %d refused statement(s) of the queue as it stopped",
						drained)));
}

/* Mark this sealer's sealing under way (or done: then it succeeded). */
static void
sealer_mark_sealing(bool on)
{
	AgSealerSlot *s;

	LWLockAcquire(workers->lock, LW_EXCLUSIVE);
	s = sealer_slot_for(MyDatabaseId, false);
	if (s != NULL && s->pid == MyProcPid)
	{
		s->sealing = on;
		if (!on)
		{
			s->seal_failures = 0;
			s->seal_failed_at = 0;
		}
	}
	LWLockRelease(workers->lock);
}

/* When this sealer last sealed (0: not yet). */
static TimestampTz sealer_last_sealing = 0;

/*
 * One sealing transaction.  Returns events sealed, or -1 without the
 * extension.  Refusing sessions wait for the commit of the requests they
 * queued (refusal.c): when this pass wrote some and the last sealing is
 * less than seal_interval ago, the sealing waits for its interval, so that
 * a session that refuses in a loop waits for one commit per refusal, not
 * two.  The BLOCKED events are sealed with the next sealing, within about
 * seal_interval of their commit, as every event is.
 */
static int64
sealer_iteration(void)
{
	int64		sealed = -1;
	int			drained;

	drained = sealer_drain_requests();
	if (drained > 0 && sealer_last_sealing != 0 &&
		!TimestampDifferenceExceeds(sealer_last_sealing, GetCurrentTimestamp(), seal_interval_ms))
		return 0;
	sealer_mark_sealing(true);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "agent_guard: sealing the event log");

	if (extension_installed())
	{
		bool		busy;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "agent_guard sealer: SPI_connect failed");
		/* not behind a human's seal_log() still open: the next pass seals */
		sealed = ag_chain_seal_try(AG_SEAL_BATCH, &busy);
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "agent_guard sealer: SPI_finish failed");
	}

	PopActiveSnapshot();
	CommitTransactionCommand();
	sealer_mark_sealing(false);
	sealer_last_sealing = GetCurrentTimestamp();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return sealed;
}

/*
 * A sealer gets the database's settings (ALTER DATABASE ... SET) like any
 * session, and the owner of a database may be an agent: with
 * default_transaction_read_only = on, a statement_timeout or a role of its
 * choosing there, the sealer would fail for good or run as someone else.
 * Whatever the database says, the sealer runs with these (the settings
 * that change how values print are pinned by chain.c around each batch).
 */
static const char *const sealer_settings[][2] = {
	{"session_authorization", NULL},	/* the bootstrap superuser */
	{"role", "none"},
	{"search_path", "pg_catalog, pg_temp"},	/* everything it runs is qualified */
	{"default_transaction_read_only", "off"},
	{"default_transaction_isolation", "read committed"},
	{"default_transaction_deferrable", "off"},
	{"statement_timeout", "0"},
	{"lock_timeout", "0"},
	{"idle_in_transaction_session_timeout", "0"},
	{"idle_session_timeout", "0"},
	{"session_replication_role", "origin"},
	{"standard_conforming_strings", "on"},
	{"transform_null_equals", "off"},
	{"exit_on_error", "off"},
	{"check_function_bodies", "on"},
};

static void
sealer_pin_settings(void)
{
	size_t		i;

	StartTransactionCommand();
	for (i = 0; i < lengthof(sealer_settings); i++)
	{
		const char *value = sealer_settings[i][1];

		if (value == NULL)
			value = GetUserNameFromId(BOOTSTRAP_SUPERUSERID, false);
		SetConfigOption(sealer_settings[i][0], value, PGC_SUSET, PGC_S_OVERRIDE);
	}
	CommitTransactionCommand();
	if (GetUserId() != BOOTSTRAP_SUPERUSERID || GetSessionUserId() != BOOTSTRAP_SUPERUSERID)
		elog(ERROR, "agent_guard sealer: could not run as the bootstrap superuser");
}

void
ag_worker_sealer_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	AgSealerSlot *s;
	bool		duplicate = false;
	int			failures = 0;
	TimestampTz no_slot_since = 0;
	MemoryContext loop_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);

	/*
	 * die(), not a flag for the loop: a sealer waits for the chain's row
	 * lock and seals long backlogs, and must end there too, when a command
	 * stops it (worker_stop_sealer) or an administrator terminates it.
	 */
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (workers == NULL)
		elog(ERROR, "agent_guard worker shared memory is not set up");

	/* one sealer per database */
	LWLockAcquire(workers->lock, LW_EXCLUSIVE);
	s = sealer_slot_for(dboid, true);
	if (s == NULL || (s->pid != 0 && s->pid != MyProcPid))
		duplicate = true;
	else
	{
		s->pid = MyProcPid;
		s->latch = MyLatch;
		failures = s->start_failures;
		no_slot_since = s->start_failed_at;
		s->start_failures = 0;
		s->start_failed_at = 0;
	}
	LWLockRelease(workers->lock);
	if (duplicate)
		proc_exit(0);
	if (failures > 0)
		ereport(LOG,
				(errmsg("agent_guard sealer of database %u started, after finding no background worker slot since %s",
						dboid, timestamptz_to_str(no_slot_since))));
	before_shmem_exit(sealer_detach, ObjectIdGetDatum(dboid));

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	sealer_pin_settings();
	/* after the connection's: runs before it (callbacks run last first) */
	before_shmem_exit(sealer_last_drain, ObjectIdGetDatum(dboid));

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "agent_guard sealer loop",
									 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		int64		sealed = 0;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (!RecoveryInProgress())
		{
			MemoryContextReset(loop_cxt);
			old = MemoryContextSwitchTo(loop_cxt);
			sealed = sealer_iteration();
			MemoryContextSwitchTo(old);

			if (sealed < 0)
			{
				/* not installed here: stop until a write asks again */
				LWLockAcquire(workers->lock, LW_EXCLUSIVE);
				s = sealer_slot_for(dboid, false);
				if (s != NULL && s->pid == MyProcPid)
					s->requested = false;
				LWLockRelease(workers->lock);
				proc_exit(0);
			}
			if (sealed > 0)
			{
				LWLockAcquire(workers->lock, LW_EXCLUSIVE);
				s = sealer_slot_for(dboid, false);
				if (s != NULL)
				{
					s->sealed += sealed;
					s->last_seal_at = GetCurrentTimestamp();
				}
				LWLockRelease(workers->lock);
			}
			if (sealed >= AG_SEAL_BATCH)
				continue;		/* more is waiting */
		}

		/* until the next sealing is due (one may have waited, above) */
		{
			long		sleep_ms = seal_interval_ms;

			if (sealer_last_sealing != 0)
			{
				long		since_ms = (long) ((GetCurrentTimestamp() - sealer_last_sealing) / 1000);

				sleep_ms = Max(Min(seal_interval_ms - since_ms, (long) seal_interval_ms), 1L);
			}
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 sleep_ms, PG_WAIT_EXTENSION);
		}
		ResetLatch(MyLatch);
	}
}
