--
-- freeze_wrappers: a freeze holds through every statement that wraps or
-- runs another one.  In 1.1 the gates and the policies classified utility
-- statements each on their own, and EXPLAIN ANALYZE CREATE TABLE AS (or
-- SELECT INTO, or CREATE MATERIALIZED VIEW) of a frozen agent created its
-- table; a preview reported YG004 whatever the refusal.
--
\c "dbname=contrib_regression user=regress_su options="
SET ROLE regress_bot;
CREATE TABLE app.fw_items (id int PRIMARY KEY, v text);
INSERT INTO app.fw_items SELECT g, 'v' || g FROM generate_series(1, 3) g;
CREATE MATERIALIZED VIEW app.fw_mv AS SELECT count(*) AS n FROM app.fw_items;
CREATE PROCEDURE app.fw_add(i int) LANGUAGE sql
    AS $$ INSERT INTO app.fw_items VALUES (i, 'procedure') $$;
CREATE FUNCTION app.fw_add_f(i int) RETURNS int LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO app.fw_items VALUES (i, 'function'); RETURN i; END $$;
RESET ROLE;
INSERT INTO app.fw_items VALUES (4, 'v4');   -- a human's row: the view is stale
SELECT agent_guard.protect('app.fw_items');
SELECT agent_guard.freeze('wrappers');

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-fw-1"
\set VERBOSITY sqlstate
-- error: every one refused as frozen (YG006)
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) INSERT INTO app.fw_items VALUES (10, 'explain');
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) UPDATE app.fw_items SET v = 'explain' WHERE id = 1;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) DELETE FROM app.fw_items WHERE id = 1;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) CREATE TABLE app.fw_ctas AS SELECT * FROM app.fw_items;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) SELECT * INTO app.fw_into FROM app.fw_items;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) CREATE MATERIALIZED VIEW app.fw_mv2 AS SELECT 1 AS one;
EXPLAIN ANALYZE CREATE TABLE app.fw_ctas AS SELECT 1 AS one;
PREPARE fw_ins(int) AS INSERT INTO app.fw_items VALUES ($1, 'prepared');
EXECUTE fw_ins(11);
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) EXECUTE fw_ins(12);
PREPARE fw_sel AS SELECT * FROM app.fw_items;
CREATE TABLE app.fw_exec AS EXECUTE fw_sel;
CREATE TABLE app.fw_ctas AS SELECT * FROM app.fw_items;
CREATE TABLE app.fw_ctas_empty AS SELECT * FROM app.fw_items WITH NO DATA;
SELECT * INTO app.fw_into FROM app.fw_items;
CREATE MATERIALIZED VIEW app.fw_mv2 AS SELECT 1 AS one;
REFRESH MATERIALIZED VIEW app.fw_mv;
DO $$ BEGIN INSERT INTO app.fw_items VALUES (13, 'do'); END $$;
DO $$ BEGIN EXECUTE 'CREATE TABLE app.fw_dyn (id int)'; END $$;
COPY app.fw_items FROM '/dev/null';
COPY (INSERT INTO app.fw_items VALUES (14, 'copy') RETURNING id) TO STDOUT;
CALL app.fw_add(15);
SELECT app.fw_add_f(16);
WITH w AS (INSERT INTO app.fw_items VALUES (17, 'cte') RETURNING id) SELECT count(*) FROM w;
BEGIN;
DECLARE fw_c CURSOR FOR SELECT app.fw_add_f(18);
FETCH fw_c;
ROLLBACK;
-- a preview names the refusal's own SQLSTATE
SELECT verdict, detail FROM agent_guard.preview('INSERT INTO app.fw_items VALUES (19, ''preview'')');
\set VERBOSITY default

-- plain EXPLAIN runs nothing; the agent's temporary tables are its scratch
EXPLAIN (COSTS OFF) CREATE TABLE app.fw_plain AS SELECT 1 AS one;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) CREATE TEMP TABLE fw_t AS SELECT 1 AS one;
SELECT * INTO TEMP fw_t2 FROM app.fw_items;
SELECT count(*) FROM fw_t2;
ALTER TABLE fw_t2 ADD COLUMN extra int;
CREATE INDEX ON fw_t2 (id);
TRUNCATE fw_t2;
DROP TABLE fw_t2;

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unfreeze();
-- nothing changed: no row, no relation, the view still stale
SELECT id, v FROM app.fw_items ORDER BY id;
SELECT n FROM app.fw_mv;
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'app' AND c.relname LIKE 'fw\_%' ORDER BY 1;
-- every refusal is on record as frozen
SELECT agent_guard._flush_requests();
SELECT kind, count(*) FROM agent_guard.requests WHERE run_id = 'run-fw-1' GROUP BY kind;
SELECT count(*) FROM agent_guard.events
 WHERE run_id = 'run-fw-1' AND operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE');
