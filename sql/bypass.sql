--
-- bypass: every evasion of the threat model (DESIGN.md), tried by an agent
-- role that owns the tables; after each group the data and the record are
-- checked intact
--
\c "dbname=contrib_regression user=regress_su options="
SET ROLE regress_bot;
CREATE TABLE app.vault (id int PRIMARY KEY, secret text NOT NULL);
INSERT INTO app.vault SELECT g, 'secret ' || g FROM generate_series(1, 10) g;
CREATE FUNCTION app.vault_wipe() RETURNS int LANGUAGE plpgsql AS $$
DECLARE n int; BEGIN DELETE FROM app.vault; GET DIAGNOSTICS n = ROW_COUNT; RETURN n; END $$;
CREATE FUNCTION app.vault_wipe_sql() RETURNS void LANGUAGE sql AS $$ TRUNCATE app.vault $$;
RESET ROLE;
SELECT agent_guard.protect('app.vault');
SELECT agent_guard._flush_requests();
SELECT count(*) AS events_before FROM agent_guard.events \gset
-- what "intact" means: all 10 rows still there (live or soft-deleted, so
-- recoverable), none changed, and the log verifies
CREATE FUNCTION public.regress_intact() RETURNS text LANGUAGE sql AS $$
    SELECT format('rows=%s live=%s changed=%s log_ok=%s',
                  count(*), count(*) FILTER (WHERE ag_deleted_at IS NULL),
                  count(*) FILTER (WHERE secret <> 'secret ' || id),
                  (SELECT ok FROM agent_guard.verify_log()))
      FROM app.vault WHERE id <= 10 $$;
REVOKE EXECUTE ON FUNCTION public.regress_intact() FROM PUBLIC;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-bypass"
\set VERBOSITY terse
-- 1. destroy data by every path: each refused or soft
DELETE FROM app.vault;
DELETE FROM app.vault WHERE 1 = 1;
DELETE FROM app.vault WHERE id > 5;   -- few rows, with a WHERE: a soft delete, recoverable
TRUNCATE app.vault;
DROP TABLE app.vault;
DROP TABLE app.vault CASCADE;
DROP SCHEMA app CASCADE;
DROP OWNED BY regress_bot;
DO $$ BEGIN DELETE FROM app.vault; END $$;
DO $$ BEGIN EXECUTE 'DROP TABLE app.vault'; END $$;
SELECT app.vault_wipe();
SELECT app.vault_wipe_sql();
WITH gone AS (DELETE FROM app.vault RETURNING id) SELECT count(*) FROM gone;
MERGE INTO app.vault v USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE;
PREPARE wipe AS DELETE FROM app.vault;
EXECUTE wipe;
BEGIN;
DECLARE c CURSOR FOR SELECT id FROM app.vault FOR UPDATE;
FETCH 10 FROM c;
TRUNCATE app.vault;
ROLLBACK;
ALTER TABLE app.vault DROP COLUMN secret;
ALTER TABLE app.vault ALTER COLUMN secret TYPE int USING 0;
ALTER TABLE app.vault RENAME TO vault_gone;
UPDATE app.vault SET secret = 'x';
\c "dbname=contrib_regression user=regress_su options="
SELECT public.regress_intact();

-- 2. switch the guard off
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-bypass"
\set VERBOSITY terse
ALTER TABLE app.vault DISABLE TRIGGER ALL;
ALTER TABLE app.vault DISABLE TRIGGER zz_agent_guard_stamp;
ALTER TABLE app.vault ENABLE REPLICA TRIGGER zz_agent_guard_capture;
DROP TRIGGER zz_agent_guard_capture ON app.vault;
ALTER TRIGGER zz_agent_guard_capture ON app.vault RENAME TO x;
ALTER TABLE app.vault DISABLE ROW LEVEL SECURITY;
ALTER TABLE app.vault NO FORCE ROW LEVEL SECURITY;
DROP POLICY ag_hide_deleted ON app.vault;
ALTER POLICY ag_hide_deleted ON app.vault USING (true);
CREATE RULE r AS ON DELETE TO app.vault DO INSTEAD NOTHING;
ALTER TABLE app.vault DROP COLUMN ag_agent_id;
ALTER TABLE app.vault RENAME COLUMN ag_run_id TO run;
SET session_replication_role = replica;
SET agent_guard.max_rows_per_statement = -1;
SET agent_guard.max_rows_per_run = -1;
ALTER SYSTEM SET agent_guard.max_rows_per_statement = -1;
LOAD 'agent_guard';
DROP EXTENSION agent_guard;
DROP EXTENSION agent_guard CASCADE;
ALTER EXTENSION agent_guard UPDATE;
DROP SCHEMA agent_guard CASCADE;
ALTER SCHEMA agent_guard RENAME TO ag;
DROP FUNCTION agent_guard.capture() CASCADE;
\c "dbname=contrib_regression user=regress_su options="
SELECT public.regress_intact();
SELECT count(*) AS guard_triggers FROM pg_trigger
 WHERE tgrelid = 'app.vault'::regclass AND tgname LIKE 'zz_agent_guard_%' AND tgenabled = 'O';

-- 3. read, forge, erase or reorder the record; approve its own requests
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-bypass"
\set VERBOSITY terse
SELECT count(*) FROM agent_guard.events;
SELECT count(*) FROM agent_guard.requests;
INSERT INTO agent_guard.events (operation) VALUES ('INSERT');
UPDATE agent_guard.events SET agent_id = NULL WHERE agent_id = 'regress_bot';
DELETE FROM agent_guard.events WHERE agent_id = 'regress_bot';
TRUNCATE agent_guard.events;
UPDATE agent_guard.events SET seal_seq = seal_seq + 1;
UPDATE agent_guard.seals SET seals = '';
DELETE FROM agent_guard.seals;
UPDATE agent_guard.chain_state SET gaps = '{}';
UPDATE agent_guard.request_log SET status = 'approved' WHERE agent_id = 'regress_bot';
SELECT agent_guard.approve((SELECT max(request_id) FROM agent_guard.request_log));
SELECT agent_guard.unfreeze();
SELECT agent_guard.reset_run('run-bypass');
SELECT * FROM agent_guard.rollback_run('run-bypass', apply => true);
-- forged stamps are overwritten by the guard
INSERT INTO app.vault (id, secret, ag_agent_id, ag_run_id) VALUES (11, 'new', 'a-human', NULL);
SELECT ag_agent_id, ag_run_id FROM app.vault WHERE id = 11;
DELETE FROM app.vault WHERE id = 11;

-- 4. shed the identity
SET agent_guard.agent_id = 'someone-else';
RESET agent_guard.agent_id;
RESET ALL;
DISCARD ALL;
SET ROLE regress_human;
SELECT agent_guard.current_agent(), agent_guard.current_run();
RESET ROLE;
SET SESSION AUTHORIZATION regress_human;
-- a new run label is a label, not a way out: the same agent, still guarded
SELECT set_config('agent_guard.run_id', 'another-run', false);
-- error
TRUNCATE app.vault;
\c "dbname=contrib_regression user=regress_su options="
SELECT public.regress_intact();
SELECT agent_guard._flush_requests();
-- every attempt is on record, none of the record was lost
SELECT count(*) AS blocked_attempts FROM agent_guard.events
 WHERE run_id = 'run-bypass' AND operation = 'BLOCKED';
SELECT count(*) >= :events_before AS nothing_lost FROM agent_guard.events;
SELECT ok FROM agent_guard.verify_log();
DROP FUNCTION public.regress_intact();
