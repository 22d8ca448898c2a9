--
-- rt26_open: red team 26's findings.
-- F4: a column that is an array of a domain over an array (pair[] with
-- pair = int[]) is logged as its text (to_jsonb()'s nested arrays did not
-- read back), so a run that deletes such a row is rolled back whole,
-- with the row as it was; an empty one keeps to_jsonb()'s form.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 960000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r26o;
GRANT USAGE ON SCHEMA r26o TO regress_bot, regress_human;
GRANT CREATE ON DATABASE contrib_regression TO regress_bot;
CREATE SCHEMA r26b AUTHORIZATION regress_bot;
GRANT EXECUTE ON FUNCTION agent_guard.rollback_run(text, boolean, text) TO regress_human;

-- F4
CREATE DOMAIN r26o.pair AS int[];
CREATE TABLE r26o.shapes (id int PRIMARY KEY, pts r26o.pair[], note text);
INSERT INTO r26o.shapes VALUES (1, ARRAY['{1,2}'::r26o.pair, '{3,4}'::r26o.pair], 'a'),
                               (2, '{}', 'empty'),
                               (3, '{"{5}",NULL,"{6,7,8}"}', 'ragged'),
                               (4, '[0:0]={"{9}"}', 'bounds');
CREATE TABLE r26o.accounts (id int PRIMARY KEY, owner text);
INSERT INTO r26o.accounts SELECT g, 'customer ' || g FROM generate_series(1, 5) g;
SELECT agent_guard.protect('r26o.shapes', soft_delete => false);
SELECT agent_guard.protect('r26o.accounts', soft_delete => false);
GRANT SELECT, INSERT, UPDATE, DELETE ON r26o.shapes, r26o.accounts TO regress_bot;
SELECT agent_guard._row_image(s.*) -> 'pts' AS image FROM r26o.shapes s ORDER BY id;

-- the agent's side
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt26-f4"
\set SHOW_CONTEXT never
-- F4: a run that deletes such rows among others
BEGIN;
DELETE FROM r26o.accounts WHERE id > 0;
DELETE FROM r26o.shapes WHERE id > 0;
COMMIT;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- F4: the run comes back whole, the shapes as they were
SELECT old_row -> 'pts' AS logged FROM agent_guard.events
 WHERE relation = 'r26o.shapes' AND operation = 'DELETE' ORDER BY row_key;
SELECT status, count(*) FROM agent_guard.rollback_run('run-rt26-f4') GROUP BY 1 ORDER BY 1;
SELECT status, count(*) FROM agent_guard.rollback_run('run-rt26-f4', apply => true) GROUP BY 1 ORDER BY 1;
SELECT id, pts, note FROM r26o.shapes ORDER BY id;
SELECT pts[1] AS first, (pts[3])[2] AS deep, pts[2] IS NULL AS hole FROM r26o.shapes WHERE id = 3;
SELECT array_lower(pts, 1) AS lower FROM r26o.shapes WHERE id = 4;
SELECT count(*) AS accounts FROM r26o.accounts;

SELECT agent_guard._flush_requests() AS flushed;
SELECT agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;

SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r26o.shapes');
SELECT agent_guard.unprotect('r26o.accounts');
DROP SCHEMA r26o, r26b CASCADE;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_bot;
REVOKE EXECUTE ON FUNCTION agent_guard.rollback_run(text, boolean, text) FROM regress_human;
