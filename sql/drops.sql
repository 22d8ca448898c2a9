--
-- drops: a protected table that is dropped, by anyone and by any path,
-- leaves agent_guard.protected and the drop is on record; an agent's
-- approved destructive statement is an event of its run
--
\c "dbname=contrib_regression user=regress_su options="
-- request ids that do not depend on the files run before this one
SELECT setval('agent_guard.requests_request_id_seq', 1000) IS NOT NULL AS ids_from_1001;
CREATE SCHEMA drops AUTHORIZATION regress_bot;
SET ROLE regress_bot;
CREATE TABLE drops.human_dropped (id int PRIMARY KEY, v text);
CREATE TABLE drops.cascaded (id int PRIMARY KEY, v text);
CREATE TABLE drops.agent_dropped (id int PRIMARY KEY, v text);
CREATE TABLE drops.agent_emptied (id int PRIMARY KEY, v text);
INSERT INTO drops.agent_dropped SELECT g, 'v' || g FROM generate_series(1, 7) g;
INSERT INTO drops.agent_emptied SELECT g, 'v' || g FROM generate_series(1, 5) g;
RESET ROLE;
SELECT agent_guard.protect('drops.human_dropped');
SELECT agent_guard.protect('drops.cascaded', false);
SELECT agent_guard.protect('drops.agent_dropped');
SELECT agent_guard.protect('drops.agent_emptied');
SELECT relation FROM agent_guard.protected WHERE relation::text LIKE 'drops.%' ORDER BY 1;

-- a human's DROP TABLE: gone from protected, a DROP event of no run
DROP TABLE drops.human_dropped;
SELECT count(*) AS still_listed FROM agent_guard.protected_tables WHERE relation::oid NOT IN (SELECT oid FROM pg_class);
SELECT agent_id, run_id, login_role, relation, operation, detail
  FROM agent_guard.events WHERE operation = 'DROP' ORDER BY event_id;

-- an agent's DROP TABLE: refused until approved, then on record in its run
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-drops-1"
-- error: needs approval
DROP TABLE drops.agent_dropped;
-- error: needs approval
TRUNCATE drops.agent_emptied;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT request_id AS drop_request FROM agent_guard.requests
 WHERE run_id = 'run-drops-1' AND statement = 'DROP TABLE drops.agent_dropped' \gset
SELECT request_id AS trunc_request FROM agent_guard.requests
 WHERE run_id = 'run-drops-1' AND statement = 'TRUNCATE drops.agent_emptied' \gset
SELECT status FROM agent_guard.approve(:drop_request, 'obsolete table');
SELECT status FROM agent_guard.approve(:trunc_request, 'reload follows');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-drops-1"
DROP TABLE drops.agent_dropped;
TRUNCATE drops.agent_emptied;
\c "dbname=contrib_regression user=regress_su options="
SELECT relation FROM agent_guard.protected WHERE relation::text LIKE 'drops.%' ORDER BY 1;
SELECT agent_id, run_id, login_role, relation, operation, detail - 'key_columns' AS detail
  FROM agent_guard.events WHERE operation = 'DROP' AND run_id = 'run-drops-1' ORDER BY event_id;

-- DROP SCHEMA ... CASCADE takes the rest: each on record as cascaded
DROP SCHEMA drops CASCADE;
SELECT relation, detail->>'command' AS command, detail->>'cascaded' AS cascaded
  FROM agent_guard.events WHERE operation = 'DROP' AND run_id IS NULL ORDER BY event_id;
SELECT count(*) AS protected_left FROM agent_guard.protected_tables
 WHERE relation::oid NOT IN (SELECT oid FROM pg_class);
