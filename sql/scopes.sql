--
-- scopes: identity and runs per transaction and per session, as a
-- connection pooler hands one server process to client after client
--
\c "dbname=contrib_regression user=regress_su options="
CREATE SCHEMA pool;
CREATE TABLE pool.items (id int PRIMARY KEY, v text);
SELECT agent_guard.protect('pool.items');
GRANT USAGE ON SCHEMA pool TO regress_tagged, regress_bot, regress_bot2;
GRANT SELECT, INSERT, UPDATE, DELETE ON pool.items TO regress_tagged, regress_bot, regress_bot2;

-- a shared login role: SET LOCAL agent_id tags that transaction only
\c "dbname=contrib_regression user=regress_tagged options="
BEGIN;
SET LOCAL agent_guard.agent_id = 'pooled-a';
SET LOCAL agent_guard.run_id = 'run-pool-a';
SELECT agent_guard.current_agent(), agent_guard.current_run();
INSERT INTO pool.items VALUES (1, 'a');
-- error: the transaction cannot change or drop its tag, nor its run once written
SAVEPOINT s1;
SET LOCAL agent_guard.agent_id = 'pooled-b';
ROLLBACK TO s1;
SAVEPOINT s2;
SELECT set_config('agent_guard.agent_id', '', true);
ROLLBACK TO s2;
SAVEPOINT s3;
SET LOCAL agent_guard.run_id = 'run-pool-x';
ROLLBACK TO s3;
SAVEPOINT s4;
RESET agent_guard.run_id;
ROLLBACK TO s4;
-- a savepoint rolled back over the SET LOCAL does not shed the tag either
SAVEPOINT s5;
SET LOCAL agent_guard.agent_id = 'pooled-a';
ROLLBACK TO s5;
SELECT agent_guard.current_agent(), agent_guard.current_run();
UPDATE pool.items SET v = 'a2' WHERE id = 1;
COMMIT;
-- the process is back to what it was: a human, who writes as a human
SELECT agent_guard.current_agent(), agent_guard.current_run(),
       current_setting('agent_guard.agent_id') AS agent_setting,
       current_setting('agent_guard.run_id') AS run_setting;
INSERT INTO pool.items VALUES (2, 'human');
-- the next client of this process tags its own transaction as another agent
BEGIN;
SELECT set_config('agent_guard.agent_id', 'pooled-b', true);
SELECT set_config('agent_guard.run_id', 'run-pool-b', true);
UPDATE pool.items SET v = 'b' WHERE id = 1;
COMMIT;
-- a tagged transaction that failed leaves no tag behind
BEGIN;
SET LOCAL agent_guard.agent_id = 'pooled-a';
SELECT 1 / 0;
ROLLBACK;
SELECT agent_guard.current_agent();

-- a prepared statement follows the identity of the transaction that runs it
INSERT INTO pool.items VALUES (10, 'x'), (11, 'y'), (12, 'z');
PREPARE del(int) AS DELETE FROM pool.items WHERE id = $1;
EXECUTE del(10);
BEGIN;
SET LOCAL agent_guard.agent_id = 'pooled-a';
SET LOCAL agent_guard.run_id = 'run-pool-prep';
EXECUTE del(11);
COMMIT;
EXECUTE del(12);
DEALLOCATE del;

\c "dbname=contrib_regression user=regress_su options="
-- row 10 and 12 deleted by the human, 11 soft-deleted by the agent
SELECT id, v, ag_agent_id, ag_run_id, ag_deleted_at IS NOT NULL AS soft_deleted
  FROM pool.items ORDER BY id;
SELECT agent_id, run_id, operation, row_key FROM agent_guard.events
 WHERE relation = 'pool.items' ORDER BY event_id;

-- error: a superuser tagged for one transaction is refused in it...
BEGIN;
SET LOCAL agent_guard.agent_id = 'pooled-a';
SELECT 1;
ROLLBACK;
-- ...and is itself again after it
SELECT agent_guard.current_agent();

-- a registered role: two clients' labels on one server process, one after
-- the other; unlabelled transactions each get a run of their own
\c "dbname=contrib_regression user=regress_bot options="
BEGIN;
SET LOCAL agent_guard.run_id = 'run-pool-c1';
INSERT INTO pool.items VALUES (20, 'c1');
COMMIT;
BEGIN;
SET LOCAL agent_guard.run_id = 'run-pool-c2';
INSERT INTO pool.items VALUES (21, 'c2');
COMMIT;
INSERT INTO pool.items VALUES (22, 'unlabelled');
INSERT INTO pool.items VALUES (23, 'unlabelled');
BEGIN;
SELECT agent_guard.current_run() AS r1 \gset
INSERT INTO pool.items VALUES (24, 'unlabelled');
SELECT agent_guard.current_run() = :'r1' AS same_run_in_transaction;
COMMIT;
SELECT agent_guard.current_run() <> :'r1' AS new_run_next_transaction;
-- a session label holds across transactions until changed or reset
SET agent_guard.run_id = 'run-pool-s1';
BEGIN;
SET LOCAL agent_guard.run_id = 'run-pool-local';
SELECT agent_guard.current_run();
COMMIT;
SELECT agent_guard.current_run();
INSERT INTO pool.items VALUES (25, 's1');
-- changing it between transactions starts a new run
SET agent_guard.run_id = 'run-pool-s2';
INSERT INTO pool.items VALUES (26, 's2');
RESET agent_guard.run_id;
SELECT agent_guard.current_run() ~ '^run-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$' AS generated;
SET agent_guard.run_id = 'run-pool-s3';
DISCARD ALL;
SELECT agent_guard.current_run() ~ '^run-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$' AS generated;
SET agent_guard.run_id = 'run-pool-s3';
RESET ALL;
SELECT agent_guard.current_run() ~ '^run-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$' AS generated;
-- error: the agent cannot choose the scope of generated runs (superuser-set)
SET agent_guard.generated_runs = 'session';
-- the agent is still the agent after all this
SELECT agent_guard.current_agent();

\c "dbname=contrib_regression user=regress_su options="
SELECT e.row_key ->> 'id' AS id, e.run_id LIKE 'run-pool-%' AS labelled,
       CASE WHEN e.run_id LIKE 'run-pool-%' THEN e.run_id END AS label
  FROM agent_guard.events e
 WHERE e.relation = 'pool.items' AND e.agent_id = 'regress_bot' ORDER BY e.event_id;
SELECT count(DISTINCT run_id) AS unlabelled_runs FROM agent_guard.events
 WHERE relation = 'pool.items' AND agent_id = 'regress_bot' AND run_id NOT LIKE 'run-pool-%';

-- generated_runs = 'session' (for direct connections): one generated run
-- until the label is set or reset
ALTER ROLE regress_bot2 SET agent_guard.generated_runs = 'session';
\c "dbname=contrib_regression user=regress_bot2 options="
SHOW agent_guard.generated_runs;
SELECT agent_guard.current_run() AS g1 \gset
INSERT INTO pool.items VALUES (30, 'g1');
INSERT INTO pool.items VALUES (31, 'g1');
SELECT agent_guard.current_run() = :'g1' AS same_run_across_transactions;
SET agent_guard.run_id = 'run-pool-g';
RESET agent_guard.run_id;
SELECT agent_guard.current_run() <> :'g1' AS new_run_after_reset;
SELECT agent_guard.current_run() AS g2 \gset
INSERT INTO pool.items VALUES (32, 'g2');
-- DISCARD ALL (a session pooler's reset between clients) starts a new one
-- too, also when no label was ever set
DISCARD ALL;
SELECT agent_guard.current_run() <> :'g2' AS new_run_after_discard_all;
INSERT INTO pool.items VALUES (33, 'g3');
\c "dbname=contrib_regression user=regress_su options="
ALTER ROLE regress_bot2 RESET agent_guard.generated_runs;
SELECT count(DISTINCT run_id) AS runs, count(*) AS events FROM agent_guard.events
 WHERE relation = 'pool.items' AND agent_id = 'deploy-agent';

-- the run limit counts a run across all its sessions: a run that
-- reconnects for every statement is tripped all the same
ALTER ROLE regress_bot SET agent_guard.max_rows_per_run = 5;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-pool-limit"
INSERT INTO pool.items VALUES (40, 'l'), (41, 'l');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-pool-limit"
INSERT INTO pool.items VALUES (42, 'l'), (43, 'l');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-pool-limit"
-- error: the sixth row of the run, in its third session
INSERT INTO pool.items VALUES (44, 'l'), (45, 'l');
-- error: the run stays tripped, in any session
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-pool-limit"
INSERT INTO pool.items VALUES (46, 'l');
-- another run of the same server process is not tripped
BEGIN;
SET LOCAL agent_guard.run_id = 'run-pool-other';
INSERT INTO pool.items VALUES (47, 'other');
COMMIT;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT run_id, rows_seen FROM agent_guard.tripped_runs WHERE run_id LIKE 'run-pool-%';
SELECT run_id, inserted, status FROM agent_guard.runs WHERE run_id IN ('run-pool-limit', 'run-pool-other') ORDER BY run_id;
-- reset_run lets it write again, counting from zero
SELECT agent_guard.reset_run('run-pool-limit');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-pool-limit"
INSERT INTO pool.items VALUES (48, 'l'), (49, 'l'), (50, 'l');
\c "dbname=contrib_regression user=regress_su options="
ALTER ROLE regress_bot RESET agent_guard.max_rows_per_run;
SELECT run_id, inserted, status FROM agent_guard.runs WHERE run_id = 'run-pool-limit';
