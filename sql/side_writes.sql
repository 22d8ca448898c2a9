--
-- side_writes: writes that are not DML on a table passed freezes, policies
-- and limits in 1.1: DELETE ... USING and UPDATE ... FROM with nothing that
-- restricts the target, writing CTEs (their rows were not counted), large
-- objects and sequences during a freeze, PREPARE TRANSACTION then COMMIT
-- PREPARED during a freeze, the preview switch called by the agent itself,
-- settings that change every session, and a burst of refusals that
-- overflowed the request queue.  Each is tried from the agent's side
-- (refused, on record, data intact) and the human's (the same works).
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_sw_bot LOGIN;
CREATE ROLE regress_sw_bot2 LOGIN;
CREATE ROLE regress_sw_human LOGIN;
SELECT agent_guard.register_agent('regress_sw_bot');
CREATE SCHEMA sw AUTHORIZATION regress_sw_human;
GRANT USAGE ON SCHEMA sw TO regress_sw_bot, regress_sw_bot2;
ALTER ROLE regress_sw_bot SET agent_guard.max_rows_per_statement = 5;
-- request ids that do not depend on the tests before this one
SELECT setval('agent_guard.requests_request_id_seq', 100000, false);

\c "dbname=contrib_regression user=regress_sw_human options="
CREATE TABLE sw.items (id serial PRIMARY KEY, v text);
INSERT INTO sw.items (v) SELECT 'v' || g FROM generate_series(1, 20) g;
CREATE TABLE sw.hard (id int PRIMARY KEY, v text);
INSERT INTO sw.hard SELECT g, 'h' || g FROM generate_series(1, 20) g;
GRANT SELECT, INSERT, UPDATE, DELETE ON sw.items, sw.hard TO regress_sw_bot, regress_sw_bot2;
GRANT TRUNCATE ON sw.hard TO regress_sw_bot;
GRANT ALL ON SEQUENCE sw.items_id_seq TO regress_sw_bot;
SELECT lo_from_bytea(4242001, 'a human document');
GRANT SELECT, UPDATE ON LARGE OBJECT 4242001 TO regress_sw_bot;

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('sw.items');
SELECT agent_guard.protect('sw.hard', soft_delete => false);

--
-- 1. DELETE ... USING / UPDATE ... FROM: the target's rows must be restricted
--
\c "dbname=contrib_regression user=regress_sw_bot options=-cagent_guard.run_id=run-sw-using"
-- error: every row of the target, whatever is joined (YG003)
DELETE FROM sw.items USING (SELECT 1) x;
UPDATE sw.items SET v = 'pwned' FROM (SELECT 1) x;
DELETE FROM sw.hard USING (VALUES (1)) x(y);
DELETE FROM sw.hard USING (VALUES (1)) x(y) WHERE x.y = 1;
UPDATE sw.items SET v = 'pwned' FROM sw.hard h JOIN (VALUES (1)) x(y) ON h.id = x.y;
\set VERBOSITY sqlstate
DELETE FROM sw.hard WHERE now() IS NOT NULL;
-- MERGE whose join condition names only the source
MERGE INTO sw.items t USING (SELECT 1 AS x) s ON true WHEN MATCHED THEN UPDATE SET v = 'merged';
MERGE INTO sw.hard t USING (SELECT 1 AS x) s ON s.x = 1 WHEN MATCHED THEN DELETE;
\set VERBOSITY default
-- restricted by the joined rows, a sublink or a WHEN condition: ordinary writes
UPDATE sw.items i SET v = 'joined' FROM (VALUES (3)) x(id) WHERE i.id = x.id;
DELETE FROM sw.hard h USING (VALUES (4)) x(id) WHERE h.id = x.id;
DELETE FROM sw.hard WHERE EXISTS (SELECT 1 FROM (VALUES (5)) x(id) WHERE x.id = hard.id);
MERGE INTO sw.items t USING (VALUES (7)) s(id) ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = 'merged one';
MERGE INTO sw.items t USING (SELECT 1 AS x) s ON true WHEN MATCHED AND t.id = 8 THEN UPDATE SET v = 'merged when';
SELECT id, v FROM sw.items WHERE id IN (3, 7, 8) ORDER BY id;
SELECT id FROM sw.hard WHERE id BETWEEN 1 AND 6 ORDER BY id;

--
-- 2. writing CTEs count toward the statement limit (5 for this agent)
--
\c "dbname=contrib_regression user=regress_sw_bot options=-cagent_guard.run_id=run-sw-cte"
CREATE TEMP TABLE tt (x int);
-- error: 10 rows each (YG003), under a SELECT, under an INSERT into a
-- temporary table, and in a CTE the query never reads (it runs at the end)
WITH d AS (UPDATE sw.items SET v = 'cte-select' WHERE id <= 10 RETURNING id) SELECT count(*) FROM d;
WITH d AS (UPDATE sw.items SET v = 'cte-insert' WHERE id <= 10 RETURNING id) INSERT INTO tt SELECT 1 FROM d LIMIT 1;
WITH d AS (DELETE FROM sw.hard WHERE id BETWEEN 11 AND 20) SELECT 1 AS one;
WITH a AS (UPDATE sw.items SET v = 'two-ctes' WHERE id <= 3 RETURNING id),
     b AS (UPDATE sw.hard SET v = 'two-ctes' WHERE id BETWEEN 6 AND 8 RETURNING id)
SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b) AS n;
-- within the limit, and the agent's temporary table: no gate
WITH d AS (UPDATE sw.items SET v = 'few' WHERE id <= 3 RETURNING id) SELECT count(*) FROM d;
WITH d AS (INSERT INTO tt SELECT g FROM generate_series(1, 100) g RETURNING 1) SELECT count(*) FROM d;

-- ... and toward the run limit: 4 rows at a time, the third passes 10
\c "dbname=contrib_regression user=regress_su options="
ALTER ROLE regress_sw_bot SET agent_guard.max_rows_per_run = 10;
\c "dbname=contrib_regression user=regress_sw_bot options=-cagent_guard.run_id=run-sw-cte-run"
WITH d AS (UPDATE sw.items SET v = 'run' WHERE id BETWEEN 11 AND 14 RETURNING id) SELECT count(*) FROM d;
WITH d AS (UPDATE sw.items SET v = 'run' WHERE id BETWEEN 15 AND 18 RETURNING id) SELECT count(*) FROM d;
\set VERBOSITY sqlstate
-- error: the run is tripped (YG007), and stays so
WITH d AS (UPDATE sw.items SET v = 'run' WHERE id BETWEEN 1 AND 4 RETURNING id) SELECT count(*) FROM d;
UPDATE sw.items SET v = 'run' WHERE id = 20;
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
ALTER ROLE regress_sw_bot RESET agent_guard.max_rows_per_run;
-- the human: the same statements, no limit
\c "dbname=contrib_regression user=regress_sw_human options="
WITH d AS (UPDATE sw.items SET v = 'human-cte' WHERE id <= 10 RETURNING id) SELECT count(*) FROM d;
SELECT v, count(*) FROM sw.items GROUP BY v ORDER BY v;
SELECT count(*) FROM sw.hard;

--
-- 3. a freeze stops sequences, large objects and locks that block humans
--
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.freeze('side writes');
\c "dbname=contrib_regression user=regress_sw_bot options=-cagent_guard.run_id=run-sw-freeze"
UPDATE sw.items SET v = 'x' WHERE id = 1;
SELECT setval('sw.items_id_seq', 1);
SELECT lo_from_bytea(0, 'agent blob');
\set VERBOSITY sqlstate
-- error: each refused as frozen (YG006)
SELECT nextval('sw.items_id_seq');
ALTER SEQUENCE sw.items_id_seq RESTART;
SELECT lo_create(0);
SELECT lo_put(4242001, 0, 'overwritten');
SELECT lo_truncate(lo_open(4242001, 131072), 0);
SELECT lo_unlink(4242001);
-- PL/pgSQL's simple expressions run no plan through the executor
DO $$ DECLARE n bigint; BEGIN n := nextval('sw.items_id_seq'); END $$;
DO $$ DECLARE n int; BEGIN n := lo_unlink(4242001); END $$;
BEGIN;
LOCK TABLE sw.items IN ACCESS EXCLUSIVE MODE;
ROLLBACK;
BEGIN;
LOCK TABLE sw.hard IN SHARE MODE;
ROLLBACK;
SELECT id FROM sw.items WHERE id = 1 FOR UPDATE;
VACUUM FULL sw.items;
\set VERBOSITY default
-- temporary sequences, reads and ACCESS SHARE locks stay allowed
CREATE TEMP SEQUENCE ts;
SELECT nextval('ts'), setval('ts', 5), nextval('ts');
DO $$ DECLARE n bigint; BEGIN SELECT nextval('ts') INTO n; END $$;
-- error: a simple expression's call shows no argument to the backstop,
-- which fails closed (YG006)
DO $$ DECLARE n bigint; BEGIN n := nextval('ts'); END $$;
SELECT convert_from(lo_get(4242001), 'UTF8');
BEGIN;
LOCK TABLE sw.items IN ACCESS SHARE MODE;
ROLLBACK;
-- the human, during the freeze: the same works
\c "dbname=contrib_regression user=regress_sw_human options="
SELECT nextval('sw.items_id_seq') > 20 AS advanced;
INSERT INTO sw.items (v) VALUES ('human during the freeze');
SELECT lo_put(4242001, 0, 'A');
SELECT convert_from(lo_get(4242001), 'UTF8');
BEGIN;
LOCK TABLE sw.items IN ACCESS EXCLUSIVE MODE;
SELECT id FROM sw.items WHERE id = 1 FOR UPDATE;
COMMIT;

--
-- 4. prepared transactions: refused to agents; one prepared before the
-- role was an agent's does not commit during a freeze or under read_only
--
\c "dbname=contrib_regression user=regress_sw_bot2 options="
BEGIN;
UPDATE sw.items SET v = 'prepared before registration' WHERE id = 2;
PREPARE TRANSACTION 'sw_early';
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.register_agent('regress_sw_bot2');
\c "dbname=contrib_regression user=regress_sw_bot2 options=-cagent_guard.run_id=run-sw-2pc-b"
\set VERBOSITY sqlstate
-- error: frozen (YG006)
COMMIT PREPARED 'sw_early';
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unfreeze();
SELECT (agent_guard.set_policy('regress_sw_bot2', 'read_only')).mode;
\c "dbname=contrib_regression user=regress_sw_bot2 options=-cagent_guard.run_id=run-sw-2pc-b"
-- error: read_only (YG008), and so are locks that block humans
COMMIT PREPARED 'sw_early';
SELECT id FROM sw.items WHERE id = 3 FOR SHARE;
BEGIN;
LOCK TABLE sw.items IN EXCLUSIVE MODE;
ROLLBACK;
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_sw_bot options=-cagent_guard.run_id=run-sw-2pc"
BEGIN;
UPDATE sw.items SET v = 'prepared' WHERE id = 1;
-- error: refused (YG004)
PREPARE TRANSACTION 'sw_agent';
ROLLBACK;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.drop_policy('regress_sw_bot2');
ROLLBACK PREPARED 'sw_early';
SELECT id, v FROM sw.items WHERE id IN (1, 2) ORDER BY id;
-- the human prepares and commits
\c "dbname=contrib_regression user=regress_sw_human options="
BEGIN;
UPDATE sw.items SET v = 'human prepared' WHERE id = 2;
PREPARE TRANSACTION 'sw_human';
COMMIT PREPARED 'sw_human';
SELECT id, v FROM sw.items WHERE id = 2;
SELECT count(*) FROM pg_prepared_xacts;

--
-- 5. preview mode is read-only by construction
--
\c "dbname=contrib_regression user=regress_sw_bot options=-cagent_guard.run_id=run-sw-preview"
\set VERBOSITY sqlstate
-- error: at the agent's own level the gates hold (YG003)
BEGIN;
SELECT agent_guard._preview(true);
DELETE FROM sw.items;
ROLLBACK;
-- error: writes in a released subtransaction stop the COMMIT (YG004)
BEGIN;
SELECT agent_guard._preview(true);
SAVEPOINT s;
DELETE FROM sw.items;
DELETE FROM sw.hard;
RELEASE s;
COMMIT;
BEGIN;
SELECT agent_guard._preview(true);
SAVEPOINT s;
DELETE FROM sw.items;
SELECT agent_guard._preview(false);
RELEASE s;
COMMIT;
DO $$ BEGIN
  PERFORM agent_guard._preview(true);
  BEGIN
    DELETE FROM sw.items;
  END;
END $$;
\set VERBOSITY default
-- preview() itself, and savepoints after it in the same transaction
SELECT relation, operation, rows, verdict FROM agent_guard.preview('DELETE FROM sw.items');
BEGIN;
SELECT count(*) FROM agent_guard.preview('UPDATE sw.items SET v = ''p'' WHERE id = 6');
SAVEPOINT a;
UPDATE sw.items SET v = 'after preview' WHERE id = 6;
RELEASE a;
COMMIT;
\c "dbname=contrib_regression user=regress_sw_human options="
SELECT count(*) AS items, count(*) FILTER (WHERE v = 'after preview') AS after_preview FROM sw.items;
SELECT count(*) AS hard FROM sw.hard;

--
-- 6. settings that change every later session need a human
--
\c "dbname=contrib_regression user=regress_sw_bot options=-cagent_guard.run_id=run-sw-settings"
ALTER DATABASE contrib_regression SET default_transaction_read_only = on;
ALTER DATABASE contrib_regression SET role = 'regress_sw_bot';
ALTER DATABASE contrib_regression CONNECTION LIMIT 0;
ALTER ROLE regress_sw_human SET statement_timeout = '1ms';
-- (its own role's settings need a human too since red team 18b, finding 2:
-- rt18_pooled)

--
-- 7. a burst of refusals, caught by the agent: every one on record, the
-- attempt it hides in the middle too
--
\c "dbname=contrib_regression user=regress_sw_bot options=-cagent_guard.run_id=run-sw-burst"
DO $$
DECLARE m text;
BEGIN
  FOR i IN 1..3000 LOOP
    BEGIN
      IF i = 1500 THEN
        EXECUTE 'DELETE FROM sw.items';
      ELSE
        EXECUTE 'TRUNCATE sw.hard /* ' || i || ' */';
      END IF;
    EXCEPTION WHEN others THEN
      IF i = 1500 THEN m := sqlstate; END IF;
    END;
  END LOOP;
  RAISE NOTICE 'the hidden attempt got %', m;
END $$;

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT count(*) AS requests, count(DISTINCT request_id) AS distinct_ids,
       count(*) FILTER (WHERE reason LIKE 'No WHERE clause restricts the rows of "items"%') AS hidden
  FROM agent_guard.requests WHERE run_id = 'run-sw-burst';
SELECT count(*) AS blocked_events FROM agent_guard.events
 WHERE run_id = 'run-sw-burst' AND operation = 'BLOCKED';

-- every refusal above is on record, by run and kind
SELECT run_id, kind, count(*) FROM agent_guard.requests
 WHERE agent_id LIKE 'regress_sw_bot%' AND run_id <> 'run-sw-burst'
 GROUP BY run_id, kind ORDER BY run_id, kind;
SELECT DISTINCT reason FROM agent_guard.requests
 WHERE run_id IN ('run-sw-preview', 'run-sw-settings') ORDER BY reason;

-- the human: DELETE ... USING and MERGE with nothing to restrict them are theirs to run
\c "dbname=contrib_regression user=regress_sw_human options="
MERGE INTO sw.items t USING (SELECT 1 AS x) s ON true WHEN MATCHED THEN UPDATE SET v = 'merged by a human';
DELETE FROM sw.hard USING (SELECT 1) x;
SELECT (SELECT count(*) FROM sw.items WHERE v = 'merged by a human') AS merged,
       (SELECT count(*) FROM sw.hard) AS hard;
SELECT lo_unlink(4242001);

\c "dbname=contrib_regression user=regress_su options="
SELECT ok FROM agent_guard.verify_log();
ALTER ROLE regress_sw_bot RESET ALL;
