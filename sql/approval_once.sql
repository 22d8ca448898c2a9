--
-- approval_once: an approval covers one execution of the approved statement
-- (issue 16, finding 09).  An approved 20-row DELETE inside a DO block's
-- loop ran a hundred times on one approval; now each execution needs its
-- own, while one execution that meets several gates (no WHERE clause, then
-- the row limit) needs one.  A human's loop is not judged at all.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
ALTER ROLE regress_bot SET agent_guard.max_rows_per_statement = 5;
ALTER ROLE regress_bot SET agent_guard.max_rows_per_run = -1;
CREATE SCHEMA ao AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA ao TO regress_human;
SET ROLE regress_bot;
CREATE TABLE ao.t (id int PRIMARY KEY, batch int, v text);
GRANT SELECT, INSERT, UPDATE, DELETE ON ao.t TO regress_human;
RESET ROLE;
SELECT agent_guard.protect('ao.t', false);
-- ten batches of 20 rows
INSERT INTO ao.t SELECT g, (g - 1) / 20, 'v' || g FROM generate_series(1, 200) g;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ao-1"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: a 20-row DELETE is over the statement limit (YG003)
DELETE FROM ao.t WHERE batch = (SELECT min(batch) FROM ao.t);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT request_id AS req FROM agent_guard.requests
 WHERE run_id = 'run-ao-1' AND status = 'pending' \gset
SELECT status FROM agent_guard.approve(:req, 'one batch');

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ao-2"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: the approved statement, a hundred times in a loop: the first
-- execution uses the approval, the second needs another
DO $$ BEGIN FOR i IN 1..100 LOOP
  DELETE FROM ao.t WHERE batch = (SELECT min(batch) FROM ao.t);
END LOOP; END $$;
-- nothing was deleted (the DO block is one statement, it rolled back) ...
SELECT count(*) AS rows_left FROM ao.t;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
-- ... the approval was used in the aborted transaction, so it is still there
SELECT status FROM agent_guard.requests WHERE request_id = :req;
-- the loop's second execution asked for a new approval
SELECT kind, status, statement, reason FROM agent_guard.requests
 WHERE run_id = 'run-ao-2' ORDER BY request_id;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ao-3"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- the same statement run once, in a loop of one: it runs
DO $$ BEGIN FOR i IN 1..1 LOOP
  DELETE FROM ao.t WHERE batch = (SELECT min(batch) FROM ao.t);
END LOOP; END $$;
SELECT count(*) AS rows_left FROM ao.t;
-- error: and not again
DELETE FROM ao.t WHERE batch = (SELECT min(batch) FROM ao.t);
SELECT count(*) AS rows_left FROM ao.t;

-- a function that runs it twice: two executions
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT request_id AS req FROM agent_guard.requests
 WHERE run_id = 'run-ao-2' AND status = 'pending' \gset
SELECT status FROM agent_guard.approve(:req);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ao-4"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
CREATE FUNCTION pg_temp.twice() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM ao.t WHERE batch = (SELECT min(batch) FROM ao.t);
  DELETE FROM ao.t WHERE batch = (SELECT min(batch) FROM ao.t);
END $$;
-- error: two executions of one approved statement in a function
SELECT pg_temp.twice();
SELECT count(*) AS rows_left FROM ao.t;

-- one execution, two gates, one approval: a DELETE without WHERE that is
-- also over the row limit
\c "dbname=contrib_regression user=regress_su options="
SET ROLE regress_bot;
CREATE TABLE ao.small (id int PRIMARY KEY, v text);
RESET ROLE;
SELECT agent_guard.protect('ao.small', false);
INSERT INTO ao.small SELECT g, 'v' || g FROM generate_series(1, 8) g;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ao-5"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: no WHERE clause (YG003)
DELETE FROM ao.small;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT request_id AS req FROM agent_guard.requests
 WHERE run_id = 'run-ao-5' AND status = 'pending' \gset
SELECT status FROM agent_guard.approve(:req);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ao-6"
\set SHOW_CONTEXT never
-- runs: the approval covers the row limit of the same execution too
DELETE FROM ao.small;
\c "dbname=contrib_regression user=regress_su options="
SELECT reason FROM agent_guard.requests WHERE request_id = :req;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ao-6"
SELECT count(*) AS small_left FROM ao.small;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT count(*) AS requests_of_run_6 FROM agent_guard.requests WHERE run_id = 'run-ao-6';
SELECT status FROM agent_guard.requests WHERE request_id = :req;

-- a human's loop is not judged: ten batches of 20 in one DO block
\c "dbname=contrib_regression user=regress_human options="
DO $$ BEGIN FOR i IN 1..100 LOOP
  DELETE FROM ao.t WHERE batch = (SELECT min(batch) FROM ao.t);
END LOOP; END $$;
SELECT count(*) AS rows_left FROM ao.t;
\c "dbname=contrib_regression user=regress_su options="
SELECT ok FROM agent_guard.verify_log();

ALTER ROLE regress_bot RESET agent_guard.max_rows_per_statement;
ALTER ROLE regress_bot RESET agent_guard.max_rows_per_run;
SELECT agent_guard.unprotect('ao.t');
SELECT agent_guard.unprotect('ao.small');
DROP SCHEMA ao CASCADE;
