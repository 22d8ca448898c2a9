--
-- postmortem: the incident report of one run, from the log alone
--
-- a scripted run: the harness names the run and the application
\c "dbname=contrib_regression user=regress_bot application_name=incident-harness options=-cagent_guard.run_id=run-postmortem-1"
INSERT INTO app.customers (id, name, email) VALUES (20, 'Zed', 'zed@example.com'), (21, 'Yara', NULL);
UPDATE app.customers SET email = 'yara@example.com' WHERE id = 21;
BEGIN;
INSERT INTO app.notes VALUES (120, 'status: all good'), (121, 'postmortem: reviewed');
DELETE FROM app.notes WHERE id = 120;
COMMIT;
-- a statement that failed leaves nothing behind
INSERT INTO app.notes VALUES (121, 'duplicate');
\c "dbname=contrib_regression user=regress_su options="
-- a guard event of the run, as the gate logs it (stands in for a refused statement)
INSERT INTO agent_guard.events (agent_id, run_id, login_role, acting_role, relation, operation, detail)
VALUES ('regress_bot', 'run-postmortem-1', 'regress_bot', 'regress_bot', 'app.customers', 'BLOCKED',
        '{"reason": "delete without WHERE", "request_id": 7}');
SELECT agent_guard.seal_log() > 0 AS sealed;

-- the report, with times, ids and seals normalized
SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
           agent_guard.postmortem('run-postmortem-1'),
           '[0-9]+:[0-9a-f]{64}', 'HEAD', 'g'),
           '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ [+-]\d\d(:\d\d)?', 'TIME', 'g'),
           '\([0-9.]+ s\)', '(DURATION)', 'g'),
           '\n\| \d+ \|', E'\n| N |', 'g'),
           '\d+ sealed events', 'N sealed events', 'g'),
           'positions \d+ to \d+', 'positions N to M', 'g') AS report;

-- the same facts for tools
SELECT jsonb_object_keys(agent_guard.postmortem_json('run-postmortem-1')) AS section ORDER BY 1;
SELECT j->'summary'->'agents' AS agents, j->'summary'->'login_roles' AS login_roles,
       j->'summary'->'application_names' AS apps, j->'summary'->>'status' AS status,
       j->'summary'->>'rows_changed' AS rows_changed, j->'summary'->>'guard_events' AS guard_events,
       j->'evidence'->>'log_verified' AS verified,
       j->'evidence'->>'run_events' = j->'evidence'->>'run_events_sealed' AS all_sealed
  FROM agent_guard.postmortem_json('run-postmortem-1') j;
SELECT x->>'relation' AS relation, x->'privileges' AS privileges, x->>'owner' AS owner,
       x->'schema_privileges' AS schema_privileges
  FROM jsonb_array_elements(agent_guard.postmortem_json('run-postmortem-1')->'privileges'->'relations') x;
SELECT x->>'query' AS query, x->'rows' AS rows
  FROM jsonb_array_elements(agent_guard.postmortem_json('run-postmortem-1')->'timeline') x;
SELECT x->>'operation' AS operation, x->>'by' AS by, x->'detail' AS detail
  FROM jsonb_array_elements(agent_guard.postmortem_json('run-postmortem-1')->'guard_events') x;
SELECT agent_guard.postmortem_json('run-postmortem-1')->'recovery'->>'rollback_command' AS rollback_command;

-- the runs view summarizes the same
SELECT run_id, agent_id, client_addr, application_name, inserted, updated, deleted,
       guard_events, unsealed, status
  FROM agent_guard.runs WHERE run_id = 'run-postmortem-1';

-- a rolled-back run says so (rolled back for real, inside a transaction undone after)
BEGIN;
SELECT count(*) AS steps, count(*) FILTER (WHERE status = 'applied') AS applied
  FROM agent_guard.rollback_run('run-postmortem-1', apply => true, on_conflict => 'skip');
SELECT status FROM agent_guard.runs WHERE run_id = 'run-postmortem-1';
SELECT j->'summary'->>'status' AS status, j->'recovery'->>'rolled_back' AS rolled_back,
       jsonb_array_length(j->'recovery'->'rollbacks') AS rollbacks
  FROM agent_guard.postmortem_json('run-postmortem-1') j;
ROLLBACK;

-- a damaged log shows in the report
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE agent_guard.events SET old_row = NULL WHERE run_id = 'run-postmortem-1' AND operation = 'DELETE';
SELECT regexp_replace(line, '[0-9]+', 'N', 'g') AS line FROM regexp_split_to_table(agent_guard.postmortem('run-postmortem-1'), E'\n') line
 WHERE line LIKE '- Log verified:%' OR line LIKE '- Verdict:%';
ROLLBACK;

-- error: a run that is not on record
SELECT agent_guard.postmortem('run-nobody');
-- error: the agent cannot read its own postmortem
\c "dbname=contrib_regression user=regress_bot options="
SELECT agent_guard.postmortem('run-postmortem-1');
SELECT agent_guard.postmortem_json('run-postmortem-1');
