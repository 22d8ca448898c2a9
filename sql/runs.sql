--
-- runs: one row per run, with what it did
--
\c "dbname=contrib_regression user=regress_su options="
-- refused statements are written by a background worker: wait for it
SELECT agent_guard._flush_requests();
SELECT agent_id, run_id = 'run-capture-1' AS capture_run, login_role, transactions, statements,
       inserted, updated, deleted, soft_deleted, first_write <= last_write AS ordered
  FROM agent_guard.runs ORDER BY first_write;

-- two runs of one agent are two rows
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-runs-2"
UPDATE app.customers SET name = upper(name) WHERE id IN (4, 5);
\c "dbname=contrib_regression user=regress_su options="
SELECT run_id, agent_id, updated FROM agent_guard.runs WHERE run_id LIKE 'run-runs-%';

-- error: agents and other roles without a grant cannot see the runs
\c "dbname=contrib_regression user=regress_bot options="
SELECT * FROM agent_guard.runs;
\c "dbname=contrib_regression user=regress_human options="
SELECT * FROM agent_guard.runs;
