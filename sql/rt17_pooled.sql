--
-- rt17_pooled: red team 17b's findings on identity behind poolers (issue 16).
-- F1: a shared role tagged per transaction with SET LOCAL (a transaction
-- pooler hands the server process to the next client afterwards) leaves
-- nothing in the session: temporary objects, session-level settings,
-- PREPARE, WITH HOLD cursors, LISTEN, session advisory locks are refused
-- (YG004, on record; RESET is allowed), set_config(..., false) and a view made temporary by
-- what it reads fail at COMMIT.  The next client of the same session (a
-- human of the shared role) finds none of it.  The same statements work in
-- the human's own transactions, and for a session tagged for its life.
-- F5: a shared role may not tag itself with a registered agent's id (YG001);
-- an id no registered role holds is free.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE SCHEMA r17p AUTHORIZATION regress_tagged;
SET ROLE regress_tagged;
CREATE TABLE r17p.customers (id int PRIMARY KEY, email text);
INSERT INTO r17p.customers VALUES (1, 'a@example.com');
RESET ROLE;
SELECT agent_guard._flush_requests();
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset

\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
SET search_path = r17p, public;
\set VERBOSITY sqlstate
-- F1, the agent's side: each in a transaction tagged with SET LOCAL
-- (no \c between the transactions: the same server process, as behind a
-- transaction pooler)
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE TEMP TABLE customers (id int, email text);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE TEMP TABLE scratch (id int) ON COMMIT DROP;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE TABLE pg_temp.customers (id int);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SELECT * INTO TEMP customers FROM r17p.customers;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE TEMP VIEW customers AS SELECT * FROM r17p.customers;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE TEMP SEQUENCE s;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS 'SELECT 1';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (false);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SET search_path = public, pg_catalog;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SET statement_timeout = '1ms';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SET agent_guard.run_id = 'leaks';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
DO $$ BEGIN EXECUTE 'SET search_path = public'; END $$;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
PREPARE p1 AS UPDATE r17p.customers SET email = 'x';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
DECLARE c CURSOR WITH HOLD FOR SELECT * FROM r17p.customers;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
LISTEN humanchan;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SELECT pg_advisory_lock(777);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SELECT pg_try_advisory_lock_shared(1, 2);
ROLLBACK;
-- DDL on a temporary table of the session's (the human's)
CREATE TEMP TABLE human_tmp (id int);
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE INDEX ON human_tmp (id);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
ALTER TABLE human_tmp ADD COLUMN x int;
ROLLBACK;
\set VERBOSITY default
-- the message
CREATE FUNCTION pg_temp.show(stmt text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE m text; d text; h text;
BEGIN
    EXECUTE stmt;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RAISE NOTICE E'%\nmessage: %\ndetail: %\nhint: %', SQLSTATE,
        regexp_replace(m, '[0-9]+', 'N'), d, h;
END $$;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SELECT pg_temp.show('CREATE TEMP TABLE customers (id int, email text)');
SELECT pg_temp.show('SELECT pg_advisory_lock(777)');
ROLLBACK;
-- the backstop, at COMMIT: a session-level set_config, a view made
-- temporary by the temporary table it reads (created by the human before)
-- (on record since red team 18b, finding 4: the message is in rt18_pooled)
\set VERBOSITY sqlstate
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SELECT set_config('search_path', 'public, pg_catalog', false);
COMMIT;
SHOW search_path;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE VIEW customers AS SELECT * FROM human_tmp;
COMMIT;
\set VERBOSITY default
-- allowed: transaction-scoped state, and taking state back (RESET goes
-- back to the role's or server's value, not to one the agent chose)
SET statement_timeout = '5min';
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
RESET statement_timeout;
SET LOCAL search_path = public;
SELECT set_config('agent_guard.run_id', 'r17p-run', true);
SELECT pg_advisory_xact_lock(778);
DECLARE c2 CURSOR FOR SELECT 1;
CLOSE c2;
UNLISTEN *;
DISCARD PLANS;
SET TRANSACTION READ WRITE;
UPDATE r17p.customers SET email = 'agent@example.com' WHERE id = 1;
SELECT agent_guard.current_agent();
COMMIT;
-- the next client of the process (the human of the shared role): none of it
SELECT agent_guard.current_agent() IS NULL AS human;
SHOW search_path;
SHOW statement_timeout;
SELECT count(*) AS prepared FROM pg_prepared_statements;
SELECT count(*) AS cursors FROM pg_cursors;
SELECT count(*) AS listening FROM pg_listening_channels();
SELECT count(*) AS advisory FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();
SELECT count(*) AS temp_objects FROM pg_class WHERE relnamespace = pg_my_temp_schema() AND relname <> 'human_tmp' AND relname NOT LIKE 'pg_toast%';
INSERT INTO customers VALUES (2, 'human@example.com');
SELECT id, email FROM r17p.customers ORDER BY id;
-- F1, the human's side: all of it works in the human's own transactions
BEGIN;
CREATE TEMP TABLE customers (id int, email text);
CREATE TEMP VIEW v AS SELECT 1;
SET statement_timeout = '0';
PREPARE p1 AS SELECT 1;
DECLARE c CURSOR WITH HOLD FOR SELECT 1;
LISTEN humanchan;
SELECT pg_advisory_lock(777);
SELECT set_config('search_path', 'r17p, public', false) IS NOT NULL AS set;
COMMIT;
SELECT count(*) AS prepared FROM pg_prepared_statements;
SELECT pg_advisory_unlock(777);
DISCARD ALL;
-- a session tagged for its life is the agent afterwards: session state is its own
\c "dbname=contrib_regression user=regress_tagged options=-cagent_guard.agent_id=pooled-bot"
\set SHOW_CONTEXT never
BEGIN;
CREATE TEMP TABLE mine (id int);
SET search_path = r17p, public;
PREPARE p2 AS SELECT 1;
COMMIT;
SELECT agent_guard.current_agent();

-- F5: a shared role claiming a registered agent's id
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
BEGIN; SET LOCAL agent_guard.agent_id = 'regress_bot';
UPDATE r17p.customers SET email = 'framed' WHERE id = 1;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'regress_bot';
SELECT agent_guard.current_agent();
ROLLBACK;
SET agent_guard.agent_id = 'regress_bot';
SELECT 1;
\c "dbname=contrib_regression user=regress_tagged options=-cagent_guard.agent_id=regress_bot"
SELECT 1;
-- an id no registered role holds is free; the registered role itself may tag itself
\c "dbname=contrib_regression user=regress_tagged options="
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot-2';
SELECT agent_guard.current_agent();
ROLLBACK;
\c "dbname=contrib_regression user=regress_bot options="
SET agent_guard.agent_id = 'regress_bot';
SELECT agent_guard.current_agent();
-- the refusals are on record
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT agent_id, status, left(statement, 40) AS statement
  FROM agent_guard.request_log WHERE request_id > :req_before ORDER BY request_id;
DROP SCHEMA r17p CASCADE;
