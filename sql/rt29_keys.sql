--
-- rt29_keys: a key column of type jsonb holding the JSON null (red team
-- 29, F3/F4).
-- Rows are found by their logged key when a run is rolled back and when a
-- soft-deleted row is restored; the key {"k": null} was read back as an
-- SQL NULL, so the row was not found (a false conflict, "no soft-deleted
-- row"), and a foreign key to such a row was not seen (the rollback of a
-- parent row took it away under a human's child row).  A JSON null in a
-- json or jsonb key is now read as the JSON null.
-- From the agent's side: the writes are logged with their keys; from the
-- human's side: the rollback and the restore find the rows, a foreign key
-- that would break stops the rollback (23503), the log verifies.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 995000, false) AS ids_from;
CREATE SCHEMA r29k;
GRANT USAGE ON SCHEMA r29k TO regress_bot, regress_human;
GRANT EXECUTE ON FUNCTION agent_guard.rollback_run(text, boolean, text) TO regress_human;
-- an error's state and message
CREATE FUNCTION r29k.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_msg   text;
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
    RETURN v_state || ': ' || v_msg;
END
$$;
GRANT EXECUTE ON FUNCTION r29k.try(text) TO regress_human;
CREATE DOMAIN r29k.doc AS jsonb;
CREATE TABLE r29k.k (k jsonb PRIMARY KEY, v text);
INSERT INTO r29k.k VALUES ('null', 'json null'), ('"null"', 'json string'), ('{}', 'object'), ('[null]', 'array'), ('0', 'zero');
CREATE TABLE r29k.kc (id int, d r29k.doc, v text, PRIMARY KEY (id, d));
INSERT INTO r29k.kc VALUES (1, 'null', 'a'), (1, '1', 'b'), (2, 'null', 'c');
CREATE TABLE r29k.s (k jsonb PRIMARY KEY, v text);
INSERT INTO r29k.s VALUES ('null', 'soft'), ('1', 'one');
CREATE TABLE r29k.p (k jsonb PRIMARY KEY, v text);
INSERT INTO r29k.p VALUES ('1', 'one');
CREATE TABLE r29k.c (id int PRIMARY KEY, pk jsonb REFERENCES r29k.p, v text);
INSERT INTO r29k.c VALUES (1, '1', 'child of one');
SELECT agent_guard.protect(t, soft_delete => false) FROM unnest(ARRAY['r29k.k', 'r29k.kc', 'r29k.p', 'r29k.c']::regclass[]) t;
SELECT agent_guard.protect('r29k.s');
GRANT SELECT, INSERT, UPDATE, DELETE ON r29k.k, r29k.kc, r29k.s, r29k.p, r29k.c TO regress_bot, regress_human;
CREATE TABLE r29k.before AS SELECT k::text, v FROM r29k.k;
GRANT SELECT ON r29k.before TO regress_human;

-- the agent's side: a run that updates the rows, deletes the JSON null's
-- row and moves another row onto that key
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt29-k"
\set SHOW_CONTEXT never
BEGIN;
UPDATE r29k.k SET v = v || ' edited' WHERE v <> '';
DELETE FROM r29k.k WHERE k = 'null';
UPDATE r29k.k SET k = 'null' WHERE k = '0';
UPDATE r29k.kc SET v = v || ' edited' WHERE d = 'null';
DELETE FROM r29k.kc WHERE id = 2;
COMMIT;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt29-s"
\set SHOW_CONTEXT never
DELETE FROM r29k.s WHERE k = 'null';
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt29-fk"
\set SHOW_CONTEXT never
-- a parent row at the JSON null, and a child moved to it
INSERT INTO r29k.p VALUES ('null', 'json null');
UPDATE r29k.c SET pk = 'null' WHERE id = 1;
SELECT k::text, v FROM r29k.k ORDER BY v;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT relation, operation, row_key FROM agent_guard.events
 WHERE relation LIKE 'r29k.%' AND operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE')
 ORDER BY event_id;

-- the human's side: the rollback finds every row by its key
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
SELECT step, operation, row_key, status FROM agent_guard.rollback_run('run-rt29-k') ORDER BY step;
SELECT step, status FROM agent_guard.rollback_run('run-rt29-k', apply => true) ORDER BY step;
SELECT k::text, v FROM r29k.k ORDER BY v;
SELECT count(*) AS differ FROM ((SELECT * FROM r29k.before EXCEPT SELECT k::text, v FROM r29k.k)
                                UNION ALL (SELECT k::text, v FROM r29k.k EXCEPT SELECT * FROM r29k.before)) d;
SELECT id, d::text, v FROM r29k.kc ORDER BY id, v;
-- a soft-deleted row at the JSON null is restored by its key (by the
-- table's owner)
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT row_key FROM agent_guard.soft_deleted('r29k.s');
SELECT agent_guard.restore('r29k.s', '{"k": null}') ->> 'v' AS restored;
SELECT k::text, v, ag_deleted_at IS NULL AS live FROM r29k.s ORDER BY v;
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
-- a human's child row under the agent's parent row at the JSON null: the
-- rollback would take the parent away (23503, nothing changed)
INSERT INTO r29k.c VALUES (2, 'null', 'a human''s child');
SELECT r29k.try($$SELECT * FROM agent_guard.rollback_run('run-rt29-fk', apply => true)$$);
SELECT k::text, v FROM r29k.p ORDER BY v;
-- without it, the rollback puts the agent's child back under row 1
DELETE FROM r29k.c WHERE id = 2;
SELECT step, operation, row_key, status FROM agent_guard.rollback_run('run-rt29-fk', apply => true) ORDER BY step;
SELECT id, pk::text, v FROM r29k.c ORDER BY id;
SELECT k::text, v FROM r29k.p ORDER BY v;
-- the human's own writes at the JSON null's key work
UPDATE r29k.k SET v = 'by a human' WHERE k = 'null';
DELETE FROM r29k.s WHERE k = 'null';
SELECT k::text, v FROM r29k.k WHERE k = 'null';
SELECT count(*) AS s_rows FROM r29k.s WHERE k = 'null';

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT ok FROM agent_guard.verify_log();
SELECT count(*) AS requests FROM agent_guard.request_log WHERE request_id >= 995000;

-- cleanup
SELECT agent_guard.unprotect(t) FROM unnest(ARRAY['r29k.k', 'r29k.kc', 'r29k.s', 'r29k.p', 'r29k.c']::regclass[]) t;
DROP SCHEMA r29k CASCADE;
