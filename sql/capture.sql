--
-- capture: stamps on every write, an event for every agent write
--
\c "dbname=contrib_regression user=regress_su options="
INSERT INTO app.customers (id, name, email) VALUES
    (1, 'Ada', 'ada@example.com'), (2, 'Brian', 'brian@example.com'), (3, 'Chen', NULL);
GRANT SELECT, INSERT, UPDATE, DELETE ON app.customers TO regress_human;
-- a human write: stamps NULL, no event
SELECT id, ag_agent_id, ag_run_id FROM app.customers ORDER BY id;
SELECT count(*) AS events FROM agent_guard.events WHERE relation = 'app.customers'
   AND operation IN ('INSERT', 'UPDATE', 'DELETE');

-- the agent (which owns the tables) writes
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-capture-1"
INSERT INTO app.customers (id, name) VALUES (4, 'Dana'), (5, 'Eve');
UPDATE app.customers SET email = 'dana@example.com' WHERE id = 4;
DELETE FROM app.notes WHERE id = 0;        -- touches nothing: no event
INSERT INTO app.notes VALUES (1, 'first'), (2, 'second');
DELETE FROM app.notes WHERE id = 2;
-- forged stamps are overwritten, not trusted
INSERT INTO app.customers (id, name, ag_agent_id, ag_run_id) VALUES (6, 'Fay', 'a-human', 'no-run');
SELECT id, ag_agent_id, ag_run_id FROM app.customers WHERE id >= 4 ORDER BY id;
-- the session's label holds across transactions; a new label starts a new
-- run, RESET returns to the label of the connection options
SELECT agent_guard.current_run();
SET agent_guard.run_id = 'run-other';
RESET agent_guard.run_id;
SELECT agent_guard.current_run();
-- error: the agent cannot read or write the log
SELECT count(*) FROM agent_guard.events;
SELECT count(*) FROM agent_guard.statements;
INSERT INTO agent_guard.events (operation) VALUES ('INSERT');
UPDATE agent_guard.events SET agent_id = 'nobody';
DELETE FROM agent_guard.events;
TRUNCATE agent_guard.events;
SELECT count(*) FROM agent_guard.runs;

-- nested paths: ON CONFLICT, DO blocks, functions, dynamic SQL, CTEs, MERGE, COPY
INSERT INTO app.customers (id, name) VALUES (1, 'Ada L.'), (7, 'Gus')
    ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name;
DO $$
BEGIN
    UPDATE app.customers SET email = 'eve@example.com' WHERE id = 5;
    EXECUTE format('UPDATE %s SET email = %L WHERE id = %s', 'app.customers', 'gus@example.com', 7);
END
$$;
CREATE FUNCTION app.rename_customer(cid int, newname text) RETURNS void
    LANGUAGE sql AS $$ UPDATE app.customers SET name = newname WHERE id = cid $$;
SELECT app.rename_customer(2, 'Brian K.');
WITH moved AS (DELETE FROM app.notes WHERE id = 1 RETURNING id, body)
INSERT INTO app.notes SELECT id + 10, body FROM moved;
MERGE INTO app.customers c
USING (VALUES (3, 'Chen W.'), (8, 'Hal')) AS v(id, name) ON c.id = v.id
WHEN MATCHED THEN UPDATE SET name = v.name
WHEN NOT MATCHED THEN INSERT (id, name) VALUES (v.id, v.name);
COPY app.notes (id, body) FROM stdin;
20	copied one
21	copied two
\.
-- a partitioned table: events name the protected parent
INSERT INTO app.orders VALUES (1, 'eu', 10.5), (2, 'us', 20);
UPDATE app.orders SET amount = 11 WHERE id = 1;
-- a rolled back transaction leaves no event; a rolled back savepoint neither
BEGIN;
INSERT INTO app.notes VALUES (30, 'never');
ROLLBACK;
BEGIN;
INSERT INTO app.notes VALUES (31, 'kept');
SAVEPOINT s1;
INSERT INTO app.notes VALUES (32, 'rolled back');
ROLLBACK TO SAVEPOINT s1;
INSERT INTO app.notes VALUES (33, 'kept too');
COMMIT;
-- after SET ROLE the event names the acting role
SET ROLE regress_human;
UPDATE app.customers SET email = 'hal@example.com' WHERE id = 8;
RESET ROLE;

-- a human write after the agent: stamps go back to NULL, no event
\c "dbname=contrib_regression user=regress_human options="
UPDATE app.customers SET email = 'ada@example.org' WHERE id = 1;
DELETE FROM app.customers WHERE id = 6;

\c "dbname=contrib_regression user=regress_su options="
SELECT id, name, email, ag_agent_id, ag_run_id FROM app.customers ORDER BY id;
SELECT row_number() OVER (ORDER BY e.event_id) AS n, e.agent_id, e.run_id, e.login_role, e.acting_role,
       e.relation, e.operation, e.row_key, e.old_row, e.new_row
  FROM agent_guard.events e
 WHERE e.run_id = 'run-capture-1' AND e.operation <> 'BLOCKED'   -- refusals: see sql/gates.sql
 ORDER BY e.event_id;
-- each client statement is stored once, however many rows it wrote
SELECT s.query, count(e.*) AS events
  FROM agent_guard.statements s JOIN agent_guard.events e USING (statement_id)
 WHERE s.run_id = 'run-capture-1'
 GROUP BY s.statement_id, s.query ORDER BY s.statement_id;
-- humans' writes left no event
SELECT count(*) AS human_events FROM agent_guard.events
 WHERE login_role = 'regress_human' AND operation IN ('INSERT', 'UPDATE', 'DELETE');
-- every event of a statement carries the statement's transaction
SELECT count(*) AS mismatched FROM agent_guard.events e
  JOIN agent_guard.statements s USING (statement_id) WHERE e.xid <> s.xid;

-- a second agent writes under a generated run of its own
GRANT USAGE ON SCHEMA app TO regress_bot2;
GRANT INSERT ON app.notes TO regress_bot2;
\c "dbname=contrib_regression user=regress_bot2 options="
INSERT INTO app.notes VALUES (40, 'from deploy-agent');
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_id, run_id ~ '^run-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$' AS generated, operation, row_key
  FROM agent_guard.events WHERE agent_id = 'deploy-agent' AND operation = 'INSERT';

-- code of the agent's own types never runs in the event images: a cast
-- to json (an agent may not create one, sql/structure.sql, so a human did
-- it for the agent) is not called, the image keeps the value's text (red
-- team 28a, finding 2), and the agent stays what it was
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-capture-3"
CREATE TYPE app.agent_mood AS ENUM ('ok');
CREATE FUNCTION app.agent_mood_json(app.agent_mood) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'ALTER ROLE regress_bot SUPERUSER';
    RETURN '"ok"'::json;
END $$;
\c "dbname=contrib_regression user=regress_su options="
SET ROLE regress_bot;
CREATE CAST (app.agent_mood AS json) WITH FUNCTION app.agent_mood_json(app.agent_mood);
RESET ROLE;
-- the column too: the agent's own ADD COLUMN of a type with its cast asks
-- approval (sql/rt20_fix_shadow.sql)
ALTER TABLE app.notes ADD COLUMN mood app.agent_mood;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-capture-3"
INSERT INTO app.notes (id, body, mood) VALUES (50, 'escalate?', 'ok');
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_bot';
DROP CAST (app.agent_mood AS json);
ALTER TABLE app.notes DROP COLUMN mood;

-- error: a trigger of the agent's that rewrites the stamps after ours (an
-- agent may not create one on a protected table, sql/structure.sql; a
-- human did it for the agent)
CREATE FUNCTION app.forge() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.ag_agent_id := NULL; NEW.ag_run_id := NULL; RETURN NEW; END $$;
\c "dbname=contrib_regression user=regress_su options="
SET ROLE regress_bot;
CREATE TRIGGER zzz_forge BEFORE INSERT OR UPDATE ON app.notes FOR EACH ROW EXECUTE FUNCTION app.forge();
RESET ROLE;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-capture-3"
INSERT INTO app.notes VALUES (51, 'looks human');
\c "dbname=contrib_regression user=regress_su options="
DROP TRIGGER zzz_forge ON app.notes;
SELECT count(*) AS rows_51 FROM app.notes WHERE id IN (50, 51);
