--
-- rt18_pooled: red team 18b's findings on SET LOCAL tagging (issue 16).
-- F1: a transaction tagged by SET LOCAL cannot tag the session (SET,
-- set_config(..., false)): it would latch the server process as the agent,
-- and pooled.c would no longer keep its later transactions from leaving
-- state for the next client.  A harness's session-level SET still latches.
-- F2: ALTER ROLE / ALTER DATABASE ... SET or RESET from any agent session
-- needs a human's approval (YG003), its own role included; of the identity
-- settings (agent_guard.*) or RESET ALL it is refused (YG004).
-- F3: DEALLOCATE and DISCARD (but PLANS) in a SET LOCAL-tagged transaction
-- are refused: the prepared statements and temporary objects there are
-- another client's.  (A named Parse of the extended protocol: TAP 030.)
-- F4: the COMMIT backstop's refusal is on record.
-- F7: only the three transaction_* settings of SET TRANSACTION are skipped.
-- F8: an agent id must be in the safe character set.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE SCHEMA r18p AUTHORIZATION regress_tagged;
SET ROLE regress_tagged;
CREATE TABLE r18p.customers (id int PRIMARY KEY, email text);
INSERT INTO r18p.customers VALUES (1, 'a@example.com');
RESET ROLE;
SELECT agent_guard._flush_requests();
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset

\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
SET search_path = r18p, public;
\set VERBOSITY sqlstate
-- F1, the agent's side (one server process throughout, as behind a
-- transaction pooler): a session-level tag over the SET LOCAL one
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SET agent_guard.agent_id = 'pooled-bot';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SET SESSION agent_guard.agent_id TO 'pooled-bot';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
DO $$ BEGIN EXECUTE 'SET agent_guard.agent_id = ''pooled-bot'''; END $$;
ROLLBACK;
-- set_config(..., false) and RESET then SET: refused at COMMIT, or at once
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SELECT set_config('agent_guard.agent_id', 'pooled-bot', false);
COMMIT;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
RESET agent_guard.agent_id;
ROLLBACK;
-- in an implicit transaction too
SET LOCAL agent_guard.agent_id = 'pooled-bot' \; SELECT set_config('agent_guard.agent_id', 'pooled-bot', false);
\set VERBOSITY default
-- the process is still not the agent's: the next transaction may not
-- leave state, and the human finds none
SELECT agent_guard.current_agent() IS NULL AS human, current_setting('agent_guard.agent_id') AS tag;
\set VERBOSITY sqlstate
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
CREATE TEMP TABLE customers (id int, email text);
ROLLBACK;
\set VERBOSITY default
SELECT agent_guard.current_agent() IS NULL AS human;
SELECT count(*) AS temp_objects FROM pg_class WHERE relnamespace = pg_my_temp_schema();
-- the message
CREATE FUNCTION pg_temp.show(stmt text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE m text; d text; h text;
BEGIN
    EXECUTE stmt;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RAISE NOTICE E'%\nmessage: %\ndetail: %\nhint: %', SQLSTATE,
        regexp_replace(m, '[0-9]+', 'N'), d, regexp_replace(h, '[0-9]+', 'N');
END $$;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SELECT pg_temp.show('SET agent_guard.agent_id = ''pooled-bot''');
SELECT pg_temp.show('DEALLOCATE ALL');
SELECT pg_temp.show('ALTER ROLE CURRENT_USER SET search_path = public, pg_catalog');
SELECT pg_temp.show('ALTER ROLE CURRENT_USER SET agent_guard.agent_id = ''pooled-bot''');
ROLLBACK;
-- F4: the COMMIT backstop's refusal (its message: the record, below)
\set VERBOSITY sqlstate
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SELECT set_config('search_path', 'public, pg_catalog', false);
COMMIT;
\set VERBOSITY default
SHOW search_path;

-- F1, the harness's side: a session-level SET that tags the transaction in
-- the first place latches the process as the agent (fails safe)
\c "dbname=contrib_regression user=regress_tagged options="
BEGIN;
SET agent_guard.agent_id = 'pooled-bot';
SET agent_guard.agent_id = 'pooled-bot';
COMMIT;
SELECT agent_guard.current_agent();
CREATE TEMP TABLE mine (id int);
SELECT set_config('agent_guard.agent_id', 'pooled-bot', false);

-- F7: a setting whose name only starts with transaction_
\c "dbname=contrib_regression user=regress_tagged options="
\set VERBOSITY sqlstate
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
SELECT set_config('transaction_app.tenant', '7', false);
COMMIT;
BEGIN; SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, DEFERRABLE;
SET LOCAL agent_guard.agent_id = 'pooled-bot';
SET TRANSACTION READ ONLY;
SELECT count(*) FROM r18p.customers;
COMMIT;
\set VERBOSITY default
SELECT current_setting('transaction_app.tenant', true) IS DISTINCT FROM '7' AS not_leaked;

-- F3, the agent's side: the human's prepared statement and temporary table
-- stay the human's
PREPARE upd(text, int) AS UPDATE r18p.customers SET email = $1 WHERE id = $2;
CREATE TEMP TABLE human_tmp (id int);
\set VERBOSITY sqlstate
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
DEALLOCATE upd;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
DEALLOCATE ALL;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
DISCARD TEMP;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
DISCARD SEQUENCES;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
DO $$ BEGIN EXECUTE 'DEALLOCATE upd'; END $$;
ROLLBACK;
-- allowed: DISCARD PLANS drops caches only
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
DISCARD PLANS;
COMMIT;
\set VERBOSITY default
SELECT name, statement FROM pg_prepared_statements;
EXECUTE upd('human@example.com', 1);
SELECT id, email FROM r18p.customers ORDER BY id;
SELECT count(*) AS human_tmp FROM pg_class WHERE relnamespace = pg_my_temp_schema() AND relname = 'human_tmp';
-- F3, the human's side: the human deallocates and discards its own
DEALLOCATE upd;
DISCARD TEMP;
SELECT count(*) AS prepared FROM pg_prepared_statements;
-- F3, the backstop at COMMIT: a prepared statement made since the tag, by
-- any path (here sent in one query string with the tag), is dropped and
-- the commit refused
\set VERBOSITY sqlstate
BEGIN \; PREPARE early AS SELECT 1 \; SET LOCAL agent_guard.agent_id = 'pooled-bot' \; COMMIT;
\set VERBOSITY default
SELECT count(*) AS prepared FROM pg_prepared_statements;
-- one the untagged part of the transaction made before the tag is not the agent's
BEGIN;
PREPARE human_early AS SELECT 1;
SET LOCAL agent_guard.agent_id = 'pooled-bot';
COMMIT;
SELECT name FROM pg_prepared_statements;
DEALLOCATE human_early;

-- F2, the agent's side: a tagged shared role's own role and database
\set VERBOSITY sqlstate
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
ALTER ROLE CURRENT_USER SET search_path = public, pg_catalog;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
ALTER ROLE regress_tagged IN DATABASE contrib_regression SET search_path = public;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
ALTER ROLE CURRENT_USER RESET search_path;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
ALTER ROLE CURRENT_USER SET agent_guard.agent_id = 'pooled-bot';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
ALTER ROLE CURRENT_USER SET agent_guard.run_id = 'ticket-1';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
ALTER ROLE CURRENT_USER RESET ALL;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'pooled-bot';
ALTER DATABASE contrib_regression SET agent_guard.agent_id = 'pooled-bot';
ROLLBACK;
\set VERBOSITY default
-- a registered agent: its own role too
\c "dbname=contrib_regression user=regress_bot options="
\set VERBOSITY sqlstate
ALTER ROLE regress_bot SET work_mem = '8MB';
ALTER ROLE CURRENT_USER IN DATABASE contrib_regression RESET work_mem;
ALTER ROLE regress_bot RESET ALL;
ALTER ROLE regress_bot SET agent_guard.run_id = 'always';
\set VERBOSITY default
-- a session-tagged agent
\c "dbname=contrib_regression user=regress_tagged options=-cagent_guard.agent_id=pooled-bot"
\set VERBOSITY sqlstate
ALTER ROLE CURRENT_USER SET search_path = public, pg_catalog;
\set VERBOSITY default
-- none of it reached the role
\c "dbname=contrib_regression user=regress_su options="
SELECT count(*) AS role_settings FROM pg_db_role_setting
 WHERE setrole IN ('regress_tagged'::regrole, 'regress_bot'::regrole)
   AND array_to_string(setconfig, ',') NOT LIKE 'session_preload_libraries=%';
-- F2, the human's side: the human of the shared role sets its own role
\c "dbname=contrib_regression user=regress_tagged options="
ALTER ROLE CURRENT_USER SET work_mem = '8MB';
ALTER ROLE CURRENT_USER RESET work_mem;
\c "dbname=contrib_regression user=regress_su options="
ALTER ROLE regress_bot SET work_mem = '8MB';
ALTER ROLE regress_bot RESET work_mem;

-- F8: lookalike and unsafe agent ids
\c "dbname=contrib_regression user=regress_tagged options="
\set VERBOSITY sqlstate
BEGIN; SET LOCAL agent_guard.agent_id = E'regress_bot\u200b';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = E'regress\u2011bot';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'regress_bot ';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = E're\u0433ress_bot';
ROLLBACK;
\set VERBOSITY default
SELECT set_config('agent_guard.agent_id', E'regress_bot\u200b', true);
-- safe ids are fine
BEGIN; SET LOCAL agent_guard.agent_id = 'ci/harness-7:run.2+x@host_A';
SELECT agent_guard.current_agent();
ROLLBACK;

-- the refusals are on record
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT agent_id, kind, status, left(statement, 60) AS statement
  FROM agent_guard.request_log WHERE request_id > :req_before ORDER BY request_id;
SELECT DISTINCT reason FROM agent_guard.request_log
 WHERE request_id > :req_before AND statement = 'COMMIT' ORDER BY reason;
DROP SCHEMA r18p CASCADE;
