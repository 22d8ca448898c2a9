--
-- policies: least privilege per agent, decided on what the server runs,
-- tried by an agent that owns the tables
--
\c "dbname=contrib_regression user=regress_su options="
SET ROLE regress_bot;
CREATE TABLE app.p_items (id serial PRIMARY KEY, v text);
CREATE TABLE app.p_log (id int PRIMARY KEY, v text);
CREATE TABLE app.p_part (id int, v text) PARTITION BY RANGE (id);
CREATE TABLE app.p_part_1 PARTITION OF app.p_part FOR VALUES FROM (0) TO (100);
CREATE SEQUENCE app.p_seq;
INSERT INTO app.p_items (v) VALUES ('a'), ('b'), ('c');
INSERT INTO app.p_log VALUES (1, 'x');
INSERT INTO app.p_part VALUES (1, 'p');
CREATE FUNCTION app.p_write_plpgsql() RETURNS int LANGUAGE plpgsql AS $$
BEGIN INSERT INTO app.p_log VALUES (100, 'plpgsql'); RETURN 1; END $$;
CREATE FUNCTION app.p_write_sql() RETURNS int LANGUAGE sql AS $$
INSERT INTO app.p_log VALUES (101, 'sql') RETURNING 1 $$;
-- a SQL function the planner inlines: no statement of its own
CREATE FUNCTION app.p_next() RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('app.p_seq') $$;
-- everything the attempts below could change, in one row
CREATE VIEW app.p_state AS
    SELECT (SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM app.p_items) AS items,
           (SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM app.p_log) AS log,
           (SELECT last_value FROM app.p_seq) AS seq,
           (SELECT count(*) FROM pg_largeobject_metadata) AS large_objects,
           (SELECT count(*) FROM pg_class WHERE relnamespace = 'app'::regnamespace) AS app_relations,
           (SELECT count(*) FROM pg_proc WHERE pronamespace = 'app'::regnamespace) AS app_functions;
SELECT lo_create(4242) AS lo;
RESET ROLE;
SELECT * FROM app.p_state;

-- error: validated; agents cannot set policies
SELECT agent_guard.set_policy('regress_bot', 'readonly');
SELECT agent_guard.set_policy('regress_bot', NULL);
SELECT agent_guard.set_policy(NULL);
SELECT agent_guard.set_policy('', 'dml');
SELECT agent_guard.set_policy('regress_bot', 'dml', max_rows_per_minute => 0);
SELECT agent_guard.set_policy('regress_bot', 'dml', ARRAY['app.p_seq']::regclass[]);
SELECT agent_guard.set_policy('regress_bot', 'dml', ARRAY[NULL]::regclass[]);
SELECT agent_guard.drop_policy('regress_bot');
\c "dbname=contrib_regression user=regress_bot options="
SELECT agent_guard.set_policy('regress_bot', 'guarded');
\c "dbname=contrib_regression user=regress_su options="
GRANT EXECUTE ON FUNCTION agent_guard.set_policy(text, text, regclass[], integer),
                          agent_guard.drop_policy(text) TO regress_bot;
\c "dbname=contrib_regression user=regress_bot options="
SELECT agent_guard.set_policy('regress_bot', 'guarded');
SELECT agent_guard.drop_policy('regress_bot');
\c "dbname=contrib_regression user=regress_su options="
REVOKE EXECUTE ON FUNCTION agent_guard.set_policy(text, text, regclass[], integer),
                           agent_guard.drop_policy(text) FROM regress_bot;

------------------------------------------------------------------------
-- read_only
------------------------------------------------------------------------
SELECT agent_id, mode, tables, max_rows_per_minute, rows_last_minute, set_by
  FROM agent_guard.set_policy('regress_bot', 'read_only');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-policy-1"
-- reads work
SELECT count(*) FROM app.p_items;
-- error: every path to a change is refused outright (YG008), row locks
-- too: they block humans' writes
SELECT * FROM app.p_items WHERE id = 2 FOR UPDATE;
INSERT INTO app.p_log VALUES (2, 'y');
\echo :LAST_ERROR_SQLSTATE
UPDATE app.p_items SET v = 'z' WHERE id = 1;
DELETE FROM app.p_items WHERE id = 1;
DELETE FROM app.p_items;
MERGE INTO app.p_log l USING (VALUES (1)) s(id) ON l.id = s.id
  WHEN MATCHED THEN UPDATE SET v = 'merged';
INSERT INTO app.p_log VALUES (1, 'dup') ON CONFLICT (id) DO UPDATE SET v = 'upsert';
WITH w AS (UPDATE app.p_items SET v = 'cte' WHERE id = 2 RETURNING id) SELECT count(*) FROM w;
SELECT app.p_write_plpgsql();
SELECT app.p_write_sql();
SELECT id FROM app.p_items WHERE id = 1 AND app.p_write_plpgsql() = 1;
DO $$ BEGIN INSERT INTO app.p_log VALUES (3, 'do'); END $$;
DO $$ BEGIN EXECUTE format('UPDATE %I.%I SET v = %L WHERE id = 1', 'app', 'p_items', 'dynamic'); END $$;
PREPARE p_ins AS INSERT INTO app.p_log VALUES ($1, 'prepared');
EXECUTE p_ins(4);
COPY app.p_log FROM STDIN;
\.
SELECT * INTO app.p_copy FROM app.p_items;
CREATE TABLE app.p_copy AS SELECT * FROM app.p_items;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) CREATE TABLE app.p_copy AS SELECT 1 AS x;
REFRESH MATERIALIZED VIEW app.p_state;
TRUNCATE app.p_log;
CREATE TABLE app.p_new (id int);
ALTER TABLE app.p_items ADD COLUMN w int;
CREATE INDEX ON app.p_items (v);
DROP TABLE app.p_log;
CREATE VIEW app.p_v AS SELECT 1 AS x;
CREATE FUNCTION app.p_f() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE SCHEMA p_schema;
COMMENT ON TABLE app.p_items IS 'read only?';
GRANT SELECT ON app.p_items TO regress_human;
DO $$ BEGIN EXECUTE 'CREATE TABLE app.p_new (id int)'; END $$;
-- large objects, server side and through the fast-path protocol
SELECT lo_create(0);
SELECT lo_from_bytea(0, 'data');
SELECT lowrite(lo_open(4242, 131072), 'data');
SELECT lo_put(4242, 0, 'data');
SELECT lo_unlink(4242);
-- sequences: directly, in a SQL function, named at run time
SELECT nextval('app.p_seq');
SELECT setval('app.p_seq', 100);
SELECT setval('app.p_seq', 100, false);
\set SHOW_CONTEXT never
SELECT app.p_next();                -- an agent's SQL function: not inlined in its session
\set SHOW_CONTEXT errors
SELECT nextval(c.oid::regclass) FROM pg_class c WHERE c.relname = 'p_seq';
SELECT * FROM nextval('app.p_seq');
DO $$ DECLARE x bigint; BEGIN x := nextval('app.p_seq'); END $$;
CREATE TEMP TABLE t_def (id bigint DEFAULT nextval('app.p_seq'), v text);
INSERT INTO t_def (v) VALUES ('x');
COPY t_def (v) FROM STDIN;
\.
-- reading a sequence is fine
SELECT last_value FROM app.p_seq;
-- nothing changed
SELECT * FROM app.p_state;

-- temporary objects stay usable, serial columns and COPY included
CREATE TEMP TABLE t_scratch (id serial PRIMARY KEY, v text);
INSERT INTO t_scratch (v) SELECT v FROM app.p_items;
UPDATE t_scratch SET v = upper(v) WHERE id > 1;
SELECT nextval('t_scratch_id_seq');
SELECT setval('t_scratch_id_seq', 10);
INSERT INTO t_scratch (v) VALUES ('after setval') RETURNING id;
INSERT INTO t_scratch (v) VALUES ('two'), ('rows');
DO $$ DECLARE x bigint; BEGIN x := nextval('t_scratch_id_seq'); END $$;
CREATE INDEX ON t_scratch (v);
ALTER TABLE t_scratch ADD COLUMN w int;
COPY t_scratch (v) FROM STDIN;
copied
\.
WITH w AS (DELETE FROM t_scratch WHERE id = 1 RETURNING id) SELECT count(*) FROM w;
CREATE TEMP TABLE t2 AS SELECT * FROM app.p_items;
SELECT * INTO TEMP t3 FROM app.p_items;
CREATE TEMP VIEW t_v AS SELECT count(*) FROM t_scratch;
CREATE TEMP SEQUENCE t_seq;
SELECT nextval('t_seq');
TRUNCATE t2;
DROP TABLE t2, t3;
DROP SEQUENCE t_seq;
SELECT id, v FROM t_scratch ORDER BY id;
NOTIFY p_channel, 'notify is allowed';
SELECT pg_notify('p_channel', 'so is pg_notify');

-- humans are unaffected: the same statements in a human session just run
\c "dbname=contrib_regression user=regress_su options="
SET ROLE regress_bot;
INSERT INTO app.p_log VALUES (2, 'human');
SELECT nextval('app.p_seq');
CREATE TABLE app.p_human (id int);
DROP TABLE app.p_human;
DELETE FROM app.p_log WHERE id = 2;
SELECT setval('app.p_seq', 1, false);
RESET ROLE;
SELECT * FROM app.p_state;

------------------------------------------------------------------------
-- dml: data changes as usual (gated), DDL refused outright
------------------------------------------------------------------------
SELECT agent_id, mode, tables FROM agent_guard.set_policy('regress_bot', 'dml');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-policy-2"
INSERT INTO app.p_log VALUES (10, 'dml');
UPDATE app.p_log SET v = 'dml2' WHERE id = 10;
SELECT nextval('app.p_seq');
SELECT lo_unlink(lo_create(4343));
-- error: a DELETE without WHERE still needs approval (YG003)
DELETE FROM app.p_log;
-- error: every DDL kind on permanent objects is refused outright (YG008)
CREATE TABLE app.p_new (id int);
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE app.p_items ADD COLUMN w int;
ALTER TABLE app.p_items DROP COLUMN v;
ALTER TABLE app.p_items RENAME TO p_items2;
ALTER TABLE app.p_items SET SCHEMA public;
DROP TABLE app.p_log;
DROP TABLE IF EXISTS app.p_no_such_table;
CREATE INDEX ON app.p_items (v);
CREATE VIEW app.p_v AS SELECT 1 AS x;
CREATE SEQUENCE app.p_seq2;
ALTER SEQUENCE app.p_seq RESTART;
CREATE FUNCTION app.p_f() RETURNS int LANGUAGE sql AS 'SELECT 1';
DROP FUNCTION app.p_write_sql();
CREATE TYPE app.p_type AS (a int);
CREATE SCHEMA p_schema;
CREATE TRIGGER p_trg BEFORE INSERT ON app.p_log FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
COMMENT ON TABLE app.p_items IS 'x';
GRANT SELECT ON app.p_items TO regress_human;
SELECT * INTO app.p_copy FROM app.p_items;
CREATE TABLE app.p_copy AS SELECT * FROM app.p_items;
DO $$ BEGIN EXECUTE 'CREATE TABLE app.p_new (id int)'; END $$;
-- temporary DDL is fine
CREATE TEMP TABLE t_dml (id int);
ALTER TABLE t_dml ADD COLUMN v text;
CREATE INDEX ON t_dml (v);
DROP TABLE t_dml;
SELECT * FROM app.p_state;

------------------------------------------------------------------------
-- tables: the agent may write only the listed relations
------------------------------------------------------------------------
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_id, mode, tables FROM agent_guard.set_policy('regress_bot', 'guarded', ARRAY['app.p_log', 'app.p_part', 'app.p_log']::regclass[]);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-policy-3"
INSERT INTO app.p_log VALUES (20, 'listed');
-- a partition is covered by its listed parent
UPDATE app.p_part SET v = 'p2' WHERE id = 1;
UPDATE app.p_part_1 SET v = 'p3' WHERE id = 1;
-- error: a write elsewhere is refused, naming the relation and the policy
UPDATE app.p_items SET v = 'no' WHERE id = 1;
WITH w AS (INSERT INTO app.p_items (v) VALUES ('no') RETURNING id) SELECT count(*) FROM w;
DO $$ BEGIN INSERT INTO app.p_items (v) VALUES ('no'); END $$;
COPY app.p_items FROM STDIN;
\.
TRUNCATE app.p_items;
ALTER TABLE app.p_items ADD COLUMN w int;
SELECT lo_create(0);
-- the agent's own new table and temporary tables are its scratch space
CREATE TABLE app.p_mine (id int);
INSERT INTO app.p_mine VALUES (1);
DROP TABLE app.p_mine;
CREATE TEMP TABLE t_tab (id int);
INSERT INTO t_tab VALUES (1);
SELECT * FROM app.p_state;

------------------------------------------------------------------------
-- max_rows_per_minute: a tiny limit, shared by all the agent's sessions
------------------------------------------------------------------------
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_id, mode, max_rows_per_minute FROM agent_guard.set_policy('regress_bot', 'dml', max_rows_per_minute => 5);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-policy-4"
INSERT INTO app.p_log SELECT g, 'rate' FROM generate_series(30, 32) g;
UPDATE app.p_log SET v = 'rate2' WHERE id = 30;
-- temporary tables do not count
CREATE TEMP TABLE t_rate AS SELECT g FROM generate_series(1, 100) g;
INSERT INTO t_rate SELECT g FROM generate_series(1, 100) g;
-- error: three more rows would make 7 in the last minute (YG060)
INSERT INTO app.p_log SELECT g, 'rate' FROM generate_series(33, 35) g;
\echo :LAST_ERROR_SQLSTATE
-- error: the window is over the limit: every write is refused until the minute has passed
INSERT INTO app.p_log VALUES (40, 'one');
COPY app.p_log FROM STDIN;
\.
-- reads still work
SELECT count(*) FROM app.p_log WHERE id >= 30;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-policy-5"
-- error: another session of the same agent is over the limit too
UPDATE app.p_log SET v = 'other session' WHERE id = 31;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_id, mode, max_rows_per_minute, rows_last_minute FROM agent_guard.policies;
-- a human raises the limit: the agent writes again at once
SELECT rows_last_minute FROM agent_guard.set_policy('regress_bot', 'dml', max_rows_per_minute => 1000);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-policy-5"
UPDATE app.p_log SET v = 'after raise' WHERE id = 31;

------------------------------------------------------------------------
-- on record: requests (kind policy / rate), BLOCKED events, postmortem
------------------------------------------------------------------------
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT run_id, kind, status, count(*) FROM agent_guard.requests
 WHERE run_id LIKE 'run-policy-%' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT run_id, count(*) AS blocked_policy FROM agent_guard.events
 WHERE operation = 'BLOCKED' AND run_id LIKE 'run-policy-%' AND detail->>'kind' IN ('policy', 'rate')
 GROUP BY 1 ORDER BY 1;
SELECT statement, reason FROM agent_guard.requests
 WHERE run_id = 'run-policy-3' ORDER BY request_id LIMIT 2;
-- error: a policy refusal cannot be approved
SELECT agent_guard.approve((SELECT min(request_id) FROM agent_guard.requests WHERE kind = 'policy'));
SELECT agent_guard.approve((SELECT min(request_id) FROM agent_guard.requests WHERE kind = 'rate'));
-- the postmortem lists the refusals among the guards that fired
SELECT count(*) AS policy_refusals_in_postmortem
  FROM regexp_split_to_table(agent_guard.postmortem('run-policy-3'), E'\n') AS line
 WHERE line ~ '\| BLOCKED \|.*"kind": "policy".*is not one of them';
SELECT blocked FROM agent_guard.runs WHERE run_id = 'run-policy-1';
-- every policy change is an event
SELECT operation, agent_id, detail->>'mode' AS mode, detail->'tables' AS tables,
       detail->>'max_rows_per_minute' AS max_rows, detail->'previous'->>'mode' AS previous
  FROM agent_guard.events WHERE operation IN ('POLICY', 'POLICY_DROP') ORDER BY event_id;

-- dropping the policy makes the agent guarded again
SELECT agent_guard.drop_policy('regress_bot');
SELECT agent_guard.drop_policy('regress_bot');
SELECT count(*) FROM agent_guard.policies;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-policy-6"
CREATE TABLE app.p_after (id int);
INSERT INTO app.p_items (v) VALUES ('guarded again');
\c "dbname=contrib_regression user=regress_su options="
SELECT lo_unlink(4242);
