--
-- run_per_agent: run counters and trips are per agent and run (red team 4,
-- finding 17).  A run label is the agent's to choose and may be guessed (a
-- ticket number): another agent writing under it counts apart, so it can
-- neither use up nor trip this agent's run.  A human's reset_run() of the
-- label lifts the trips of every agent under it.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_rp_bot1 LOGIN;
CREATE ROLE regress_rp_bot2 LOGIN;
CREATE ROLE regress_rp_human LOGIN;
SELECT agent_guard.register_agent('regress_rp_bot1');
SELECT agent_guard.register_agent('regress_rp_bot2');
SELECT agent_guard.grant_operator('regress_rp_human');
-- request ids that do not depend on the tests before this one
SELECT setval('agent_guard.requests_request_id_seq', 400000, false);
CREATE SCHEMA rp;
CREATE TABLE rp.t (id int PRIMARY KEY, v int);
INSERT INTO rp.t SELECT g, 0 FROM generate_series(1, 50) g;
GRANT USAGE ON SCHEMA rp TO regress_rp_bot1, regress_rp_bot2, regress_rp_human;
GRANT SELECT, UPDATE ON rp.t TO regress_rp_bot1, regress_rp_bot2;
GRANT SELECT ON rp.t TO regress_rp_human;
SELECT agent_guard.protect('rp.t');
ALTER ROLE regress_rp_bot1 SET agent_guard.max_rows_per_run = 15;
ALTER ROLE regress_rp_bot2 SET agent_guard.max_rows_per_run = 15;

-- bot2 works on ticket-4711
\c "dbname=contrib_regression user=regress_rp_bot2 options=-cagent_guard.run_id=ticket-4711"
\set VERBOSITY terse
UPDATE rp.t SET v = v + 1 WHERE id <= 5;
-- bot1 writes under the same label: its own count
\c "dbname=contrib_regression user=regress_rp_bot1 options=-cagent_guard.run_id=ticket-4711"
\set VERBOSITY terse
UPDATE rp.t SET v = v + 10 WHERE id BETWEEN 11 AND 20;
-- error: bot1's run passes the limit (20 rows), and is tripped (YG007)
UPDATE rp.t SET v = v + 10 WHERE id BETWEEN 11 AND 20;
-- error: it stays tripped for bot1
UPDATE rp.t SET v = v + 10 WHERE id = 11;
-- bot2's run is not tripped, and bot1's rows do not count for it: 15 rows
\c "dbname=contrib_regression user=regress_rp_bot2 options=-cagent_guard.run_id=ticket-4711"
\set VERBOSITY terse
UPDATE rp.t SET v = v + 1 WHERE id BETWEEN 6 AND 10;
UPDATE rp.t SET v = v + 1 WHERE id BETWEEN 1 AND 5;
-- error: the sixteenth row is bot2's own, over its limit (YG007)
UPDATE rp.t SET v = v + 1 WHERE id = 1;

-- the record: each agent's trip, and each agent's row of the run
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT agent_id, run_id, rows_seen FROM agent_guard.tripped_runs WHERE run_id = 'ticket-4711' ORDER BY agent_id;
\c "dbname=contrib_regression user=regress_rp_human options="
SELECT agent_id, updated, blocked, status FROM agent_guard.runs WHERE run_id = 'ticket-4711' ORDER BY agent_id;
SELECT sum(v) FILTER (WHERE id <= 10) AS bot2_sum, sum(v) FILTER (WHERE id > 10) AS bot1_sum FROM rp.t;
-- the human resets the label: both trips are lifted, each logged
SELECT agent_guard.reset_run('ticket-4711');
SELECT agent_id, run_id, detail ->> 'rows_seen' AS rows_seen FROM agent_guard.events
 WHERE operation = 'RESET_RUN' AND run_id = 'ticket-4711' ORDER BY agent_id;
SELECT agent_id, status FROM agent_guard.runs WHERE run_id = 'ticket-4711' ORDER BY agent_id;
SELECT agent_guard.reset_run('ticket-4711');

-- both write again, each from zero
\c "dbname=contrib_regression user=regress_rp_bot1 options=-cagent_guard.run_id=ticket-4711"
\set VERBOSITY terse
UPDATE rp.t SET v = v + 10 WHERE id BETWEEN 11 AND 25;
\c "dbname=contrib_regression user=regress_rp_bot2 options=-cagent_guard.run_id=ticket-4711"
\set VERBOSITY terse
UPDATE rp.t SET v = v + 1 WHERE id BETWEEN 1 AND 15;

\c "dbname=contrib_regression user=regress_su options="
DROP TABLE rp.t;
DROP SCHEMA rp;
ALTER ROLE regress_rp_bot1 RESET agent_guard.max_rows_per_run;
ALTER ROLE regress_rp_bot2 RESET agent_guard.max_rows_per_run;
