--
-- softdelete: an agent's DELETE keeps the rows, reports what a hard delete
-- would, and hides them from everyone's ordinary reads
--
\c "dbname=contrib_regression user=regress_bot options="
CREATE TABLE app.companies (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE app.execs (id int PRIMARY KEY, company_id int REFERENCES app.companies ON DELETE CASCADE,
                        name text NOT NULL, updated_at timestamptz);
CREATE TABLE app.plain (id int PRIMARY KEY, v text);      -- not protected
CREATE TABLE app.events_p (id int, region text, what text, PRIMARY KEY (id, region))
    PARTITION BY LIST (region);
CREATE TABLE app.events_p_eu PARTITION OF app.events_p FOR VALUES IN ('eu');
CREATE TABLE app.events_p_us PARTITION OF app.events_p FOR VALUES IN ('us');
INSERT INTO app.companies SELECT g, 'company ' || g FROM generate_series(1, 6) g;
INSERT INTO app.execs SELECT g, 1 + g % 6, 'exec ' || g FROM generate_series(1, 12) g;
INSERT INTO app.plain VALUES (1, 'a'), (2, 'b');
INSERT INTO app.events_p VALUES (1, 'eu', 'x'), (2, 'us', 'y'), (3, 'eu', 'z');
CREATE VIEW app.exec_names AS SELECT id, name FROM app.execs WHERE id >= 10;
GRANT SELECT ON app.companies, app.execs, app.events_p TO regress_human;
GRANT DELETE ON app.execs TO regress_human;

\c "dbname=contrib_regression user=regress_su options="
-- a human's table with row security of its own: regress_human sees only
-- team 'a' (protect() refuses an agent's table with policies of its own:
-- sql/structure_code.sql)
CREATE TABLE app.tasks (id int PRIMARY KEY, team text, title text);
INSERT INTO app.tasks VALUES (1, 'a', 'one'), (2, 'b', 'two'), (3, 'a', 'three');
ALTER TABLE app.tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY team_a ON app.tasks FOR SELECT TO regress_human USING (team = 'a');
CREATE POLICY owner_all ON app.tasks TO regress_bot USING (true);
GRANT SELECT ON app.tasks TO regress_human;
GRANT SELECT, DELETE ON app.tasks TO regress_bot;
SELECT agent_guard.protect('app.companies');
SELECT agent_guard.protect('app.execs');
SELECT agent_guard.protect('app.events_p');
SELECT agent_guard.protect('app.tasks');
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       array_agg(p.polname || ':' || CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END
                 ORDER BY p.polname) AS policies
  FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid
 WHERE c.relnamespace = 'app'::regnamespace AND c.relname IN ('companies', 'tasks', 'events_p', 'events_p_eu', 'events_p_us')
 GROUP BY c.relname, c.relrowsecurity, c.relforcerowsecurity ORDER BY 1;

-- the agent deletes: the tag and RETURNING are those of a hard delete
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-soft-1"
DELETE FROM app.execs WHERE id IN (1, 2, 3);
\echo :ROW_COUNT
DELETE FROM app.execs WHERE id = 4 RETURNING *;
DELETE FROM app.execs WHERE id = 999;
\echo :ROW_COUNT
-- the rows are gone for the agent, also as the table's owner
SELECT count(*) AS execs_left FROM app.execs;
SELECT id FROM app.execs WHERE id <= 4;
-- deleting or updating them again touches nothing
DELETE FROM app.execs WHERE id = 1;
\echo :ROW_COUNT
UPDATE app.execs SET name = 'ghost' WHERE id = 1;
\echo :ROW_COUNT

-- every path: USING, CURRENT OF, writable CTE, MERGE, a view, partitions,
-- PL/pgSQL with FOUND and GET DIAGNOSTICS, dynamic SQL
DELETE FROM app.execs e USING app.companies c WHERE e.company_id = c.id AND c.name = 'company 6';
\echo :ROW_COUNT
BEGIN;
DECLARE cur CURSOR FOR SELECT id FROM app.execs WHERE id = 7 FOR UPDATE;
FETCH cur;
DELETE FROM app.execs WHERE CURRENT OF cur RETURNING id, name;
COMMIT;
WITH gone AS (DELETE FROM app.execs WHERE id = 8 RETURNING id, name, ag_deleted_at)
SELECT * FROM gone;
MERGE INTO app.execs e USING (VALUES (9), (100)) v(id) ON e.id = v.id
WHEN MATCHED THEN DELETE
WHEN NOT MATCHED THEN INSERT (id, company_id, name) VALUES (v.id, 1, 'new exec');
\echo :ROW_COUNT
DELETE FROM app.exec_names WHERE id = 10;
\echo :ROW_COUNT
DELETE FROM app.events_p WHERE id IN (1, 2) RETURNING id, region;
DO $$
DECLARE n bigint;
BEGIN
    DELETE FROM app.companies WHERE id = 2;
    GET DIAGNOSTICS n = ROW_COUNT;
    RAISE NOTICE 'plpgsql: found=%, row_count=%', FOUND, n;
    EXECUTE 'DELETE FROM app.companies WHERE id = $1' USING 3;
    GET DIAGNOSTICS n = ROW_COUNT;
    RAISE NOTICE 'dynamic: found=%, row_count=%', FOUND, n;
    DELETE FROM app.companies WHERE id = 2;
    RAISE NOTICE 'again: found=%', FOUND;
END $$;
-- a soft delete does what the delete's ON DELETE CASCADE does: the live
-- child rows are soft-deleted with it (rt33_softfk)
DELETE FROM app.companies WHERE id = 1;
SELECT id, company_id FROM app.execs WHERE company_id = 1 ORDER BY id;
-- a table that is not protected: a plain hard delete
DELETE FROM app.plain WHERE id = 1;

-- error: re-inserting a key that a soft-deleted row holds
INSERT INTO app.execs (id, company_id, name) VALUES (1, 3, 'back again');
-- an agent's inserts are live rows, whatever they claim (under a live
-- company: one that references a soft-deleted row is refused, rt24_open)
INSERT INTO app.execs (id, company_id, name, ag_deleted_at) VALUES (50, 4, 'fresh', now());
SELECT id, ag_deleted_at IS NULL AS live FROM app.execs WHERE id = 50;
-- error: marking a row by hand is refused (row security keeps a writer from
-- making a row vanish from its own sight); DELETE is the way
UPDATE app.execs SET ag_deleted_at = now() WHERE id = 50;

-- other roles: the application role, the table's own policies keep their meaning
\c "dbname=contrib_regression user=regress_human options="
SELECT count(*) AS execs_seen FROM app.execs;
SELECT id FROM app.companies ORDER BY id;
SELECT id, team FROM app.tasks ORDER BY id;
-- a human's DELETE is a hard delete
DELETE FROM app.execs WHERE id = 50;
\echo :ROW_COUNT
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-soft-2"
DELETE FROM app.tasks WHERE id = 3;
\c "dbname=contrib_regression user=regress_human options="
SELECT id, team FROM app.tasks ORDER BY id;

-- a superuser sees the soft-deleted rows, stamped with the deleting agent and run
\c "dbname=contrib_regression user=regress_su options="
SELECT id, company_id, name, ag_agent_id, ag_run_id, ag_deleted_at IS NOT NULL AS deleted
  FROM app.execs ORDER BY id;
SELECT id, region, ag_run_id, ag_deleted_at IS NOT NULL AS deleted FROM app.events_p ORDER BY id;
SELECT id, ag_deleted_at IS NOT NULL AS deleted FROM app.companies ORDER BY id;
SELECT id FROM app.plain;
-- a role with BYPASSRLS (an auditor, never an agent) sees them too
CREATE ROLE regress_auditor BYPASSRLS;
GRANT USAGE ON SCHEMA app TO regress_auditor;
GRANT SELECT ON app.execs TO regress_auditor;
SET ROLE regress_auditor;
SELECT count(*) AS all_rows, count(*) FILTER (WHERE ag_deleted_at IS NOT NULL) AS soft_deleted FROM app.execs;
RESET ROLE;
-- each soft delete is an event with the full old row
SELECT operation, relation, row_key, old_row ->> 'name' AS old_name,
       old_row -> 'ag_deleted_at' AS old_deleted, new_row ->> 'ag_deleted_at' IS NOT NULL AS new_deleted,
       new_row ->> 'ag_agent_id' AS new_agent
  FROM agent_guard.events WHERE run_id = 'run-soft-1' ORDER BY event_id;
SELECT run_id, inserted, updated, deleted, soft_deleted FROM agent_guard.runs
 WHERE run_id LIKE 'run-soft-%' ORDER BY run_id;

-- humans list, restore and purge
SELECT row_key, agent_id, run_id FROM agent_guard.soft_deleted('app.execs') ORDER BY row_key ->> 'id';
SELECT agent_guard.restore('app.execs', '{"id": 2}') ->> 'name' AS restored;
SELECT id, ag_deleted_at, ag_agent_id FROM app.execs WHERE id = 2;
-- error: nothing to restore, a malformed key, a table without soft deletes
SELECT agent_guard.restore('app.execs', '{"id": 2}');
SELECT agent_guard.restore('app.execs', '{"nope": 2}');
SELECT agent_guard.restore('app.notes', '{"id": 1}');
SELECT agent_guard.purge('app.execs', '1 hour');
SELECT agent_guard.purge('app.execs', '0 seconds');
SELECT count(*) AS execs_left_deleted FROM app.execs WHERE ag_deleted_at IS NOT NULL;
SELECT operation, count(*) FROM agent_guard.events
 WHERE operation IN ('RESTORE', 'PURGE') GROUP BY operation ORDER BY 1;
-- the re-insert works once the row is purged
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-soft-3"
INSERT INTO app.execs (id, company_id, name) VALUES (1, 4, 'back again');
-- error: agents cannot list, restore or purge, even when granted
\c "dbname=contrib_regression user=regress_su options="
GRANT EXECUTE ON FUNCTION agent_guard.restore(regclass, jsonb), agent_guard.purge(regclass, interval)
    TO regress_bot;
\c "dbname=contrib_regression user=regress_bot options="
SELECT agent_guard.restore('app.companies', '{"id": 1}');
SELECT agent_guard.purge('app.companies', '0 seconds');
SELECT * FROM agent_guard.soft_deleted('app.companies');

-- unprotect gives the table back its own row security
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unprotect('app.tasks');
SELECT relrowsecurity, relforcerowsecurity,
       (SELECT array_agg(polname ORDER BY polname) FROM pg_policy WHERE polrelid = 'app.tasks'::regclass) AS policies
  FROM pg_class WHERE oid = 'app.tasks'::regclass;
SELECT agent_guard.unprotect('app.events_p');
SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
 WHERE relname LIKE 'events_p%' AND relkind IN ('r', 'p') AND relnamespace = 'app'::regnamespace ORDER BY 1;

-- sessions of a role with REPLICATION (never an agent) see soft-deleted
-- rows, so that a subscriber's table sync copies them; it is the session
-- user that counts: SET ROLE neither grants nor takes it away
CREATE ROLE regress_sd_repl LOGIN REPLICATION;
CREATE ROLE regress_sd_plain LOGIN;
GRANT regress_sd_plain TO regress_sd_repl;
CREATE TABLE app.sd_vis (id int PRIMARY KEY, v text);
SELECT agent_guard.protect('app.sd_vis', soft_delete => true);
INSERT INTO app.sd_vis VALUES (1, 'live'), (2, 'gone');
UPDATE app.sd_vis SET ag_deleted_at = now() WHERE id = 2;
GRANT USAGE ON SCHEMA app TO regress_sd_repl, regress_sd_plain;
GRANT SELECT ON app.sd_vis TO regress_sd_repl, regress_sd_plain;
SET SESSION AUTHORIZATION regress_sd_repl;
SELECT id, ag_deleted_at IS NOT NULL AS deleted FROM app.sd_vis ORDER BY id;
SET ROLE regress_sd_plain;
SELECT id, ag_deleted_at IS NOT NULL AS deleted FROM app.sd_vis ORDER BY id;
RESET ROLE;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_sd_plain;
SELECT id, ag_deleted_at IS NOT NULL AS deleted FROM app.sd_vis ORDER BY id;
-- the test is folded to false as the statement is planned where the answer
-- is false (softvisible.c): no call is set up; kept for REPLICATION
EXPLAIN (COSTS OFF) SELECT id FROM app.sd_vis;
PREPARE sd_vis_plain AS SELECT id, ag_deleted_at IS NOT NULL AS deleted FROM app.sd_vis ORDER BY id;
EXECUTE sd_vis_plain;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_sd_repl;
EXPLAIN (COSTS OFF) SELECT id FROM app.sd_vis;
-- a plan made for the other session user is made again: both rows
EXECUTE sd_vis_plain;
PREPARE sd_vis_repl AS SELECT id, ag_deleted_at IS NOT NULL AS deleted FROM app.sd_vis ORDER BY id;
EXECUTE sd_vis_repl;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_sd_plain;
EXECUTE sd_vis_repl;
-- a call written elsewhere than AND/OR/NOT runs as written
SELECT agent_guard._replication_session() AS called;
RESET SESSION AUTHORIZATION;
DEALLOCATE sd_vis_plain;
DEALLOCATE sd_vis_repl;
SELECT agent_guard.unprotect('app.sd_vis');
DROP TABLE app.sd_vis;
REVOKE USAGE ON SCHEMA app FROM regress_sd_repl, regress_sd_plain;
DROP ROLE regress_sd_repl, regress_sd_plain;
