--
-- rt26_rollback: two rollback bugs.
-- 1. A protected table with a column of a NOT NULL domain that is not part
-- of the key is rolled back (previewed and applied: UPDATE, DELETE, INSERT,
-- through foreign keys both ways), and a soft-deleted row of such a table
-- is restored: keys and images are read typed to their own columns only,
-- not through the table's row type (whose domain check failed on every
-- column missing from the key).
-- 2. A DEFERRABLE unique or exclusion constraint (INITIALLY IMMEDIATE or
-- DEFERRED, on a column, with NULLS NOT DISTINCT, on an expression): the
-- replay runs without triggers, which skipped the deferred uniqueness
-- check; a rollback that restores a value another row holds now fails
-- (YG032) and nothing is changed; one whose values do not collide (a
-- chain the run moved along) still works.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 950000, false) AS ids_from;
CREATE SCHEMA r26;
GRANT USAGE ON SCHEMA r26 TO regress_bot, regress_human;
GRANT EXECUTE ON FUNCTION agent_guard.rollback_run(text, boolean, text) TO regress_human;
-- an error's state, message (event ids left out) and detail
CREATE FUNCTION r26.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_msg   text;
    v_det   text;
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_det = PG_EXCEPTION_DETAIL;
    RETURN v_state || ': ' || regexp_replace(v_msg, 'event \d+', 'event N', 'g')
           || coalesce(E'\n' || nullif(v_det, ''), '');
END
$$;
GRANT EXECUTE ON FUNCTION r26.try(text) TO regress_human;

-- 1: NOT NULL domains outside the key
CREATE DOMAIN r26.nn AS text NOT NULL;
CREATE DOMAIN r26.nni AS int NOT NULL CHECK (VALUE > 0);
CREATE TABLE r26.p (id int PRIMARY KEY, v r26.nn, n r26.nni DEFAULT 1);
CREATE TABLE r26.c (id int PRIMARY KEY, pid int REFERENCES r26.p, w r26.nn, x text COLLATE "C");
CREATE TABLE r26.s (id int PRIMARY KEY, v r26.nn);
INSERT INTO r26.p VALUES (1, 'p1', 1), (2, 'p2', 2), (3, 'p3', 3);
INSERT INTO r26.c VALUES (1, 1, 'c1', 'x'), (2, 2, 'c2', 'y');
INSERT INTO r26.s VALUES (1, 's1'), (2, 's2');
GRANT SELECT, INSERT, UPDATE, DELETE ON r26.p, r26.c, r26.s TO regress_bot, regress_human;
SELECT agent_guard.protect('r26.p', false);
SELECT agent_guard.protect('r26.c', false);
SELECT agent_guard.protect('r26.s');

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt26-dom"
\set SHOW_CONTEXT never
UPDATE r26.p SET v = 'agent', n = 9 WHERE id = 1;
UPDATE r26.c SET x = 'agent' WHERE id = 1;
UPDATE r26.p SET id = 30 WHERE id = 3;
DELETE FROM r26.c WHERE id = 2;
INSERT INTO r26.p VALUES (4, 'p4', 4);
INSERT INTO r26.c VALUES (3, 4, 'c3', 'z');
DELETE FROM r26.s WHERE id = 1;

\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
-- the preview
SELECT step, relation, operation, row_key, status FROM agent_guard.rollback_run('run-rt26-dom') ORDER BY step;
-- applied
SELECT step, relation, operation, status FROM agent_guard.rollback_run('run-rt26-dom', apply => true) ORDER BY step;
SELECT * FROM r26.p ORDER BY id;
SELECT * FROM r26.c ORDER BY id;
SELECT id, v, ag_deleted_at IS NOT NULL AS deleted FROM r26.s ORDER BY id;

-- a soft-deleted row of such a table, restored by its owner
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt26-soft"
\set SHOW_CONTEXT never
DELETE FROM r26.s WHERE id = 2;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT row_key FROM agent_guard.soft_deleted('r26.s');
SELECT agent_guard.restore('r26.s', '{"id": 2}') ->> 'v' AS restored;
SELECT id, v, ag_deleted_at IS NOT NULL AS deleted FROM r26.s ORDER BY id;

-- a column of a NOT NULL domain added after the run: a re-inserted row
-- gets its default
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt26-dom2"
\set SHOW_CONTEXT never
DELETE FROM r26.c WHERE id = 1;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
ALTER TABLE r26.c ADD COLUMN y r26.nn DEFAULT 'later';
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
SELECT step, relation, operation, status FROM agent_guard.rollback_run('run-rt26-dom2', apply => true) ORDER BY step;
SELECT * FROM r26.c ORDER BY id;

-- 2: deferrable unique and exclusion constraints
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE TABLE r26.u (id int PRIMARY KEY, email text UNIQUE DEFERRABLE INITIALLY IMMEDIATE);
CREATE TABLE r26.ud (id int PRIMARY KEY, email text, CONSTRAINT ud_email UNIQUE NULLS NOT DISTINCT (email) DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE r26.x (id int PRIMARY KEY, lo int NOT NULL, hi int NOT NULL,
                    CONSTRAINT x_span EXCLUDE USING gist (int4range(lo, hi) WITH &&) DEFERRABLE);
INSERT INTO r26.u VALUES (1, 'a'), (2, 'b'), (3, 'c');
INSERT INTO r26.ud VALUES (1, 'a'), (2, NULL);
INSERT INTO r26.x VALUES (1, 0, 10), (2, 10, 20);
GRANT SELECT, INSERT, UPDATE, DELETE ON r26.u, r26.ud, r26.x TO regress_bot, regress_human;
SELECT agent_guard.protect('r26.u', false);
SELECT agent_guard.protect('r26.ud', false);
SELECT agent_guard.protect('r26.x', false);

-- a deleted row whose value a human reused
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt26-u1"
\set SHOW_CONTEXT never
DELETE FROM r26.u WHERE id = 1;
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
INSERT INTO r26.u VALUES (4, 'a');
SELECT step, operation, status FROM agent_guard.rollback_run('run-rt26-u1') ORDER BY step;
-- error: YG032, nothing changed
SELECT r26.try($$SELECT * FROM agent_guard.rollback_run('run-rt26-u1', apply => true)$$);
SELECT * FROM r26.u ORDER BY id;
-- the human frees the value: the rollback works
UPDATE r26.u SET email = 'd' WHERE id = 4;
SELECT step, operation, status FROM agent_guard.rollback_run('run-rt26-u1', apply => true) ORDER BY step;
SELECT * FROM r26.u ORDER BY id;

-- an updated row whose old value a human took
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt26-u2"
\set SHOW_CONTEXT never
UPDATE r26.u SET email = 'z' WHERE id = 2;
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
UPDATE r26.u SET email = 'b' WHERE id = 3;
-- error: YG032 (also with 'skip'), nothing changed
SELECT r26.try($$SELECT * FROM agent_guard.rollback_run('run-rt26-u2', apply => true)$$);
SELECT r26.try($$SELECT * FROM agent_guard.rollback_run('run-rt26-u2', apply => true, on_conflict => 'skip')$$);
SELECT * FROM r26.u ORDER BY id;
UPDATE r26.u SET email = 'c' WHERE id = 3;

-- a chain the run moved values along: no collision, rolled back
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt26-u3"
\set SHOW_CONTEXT never
UPDATE r26.u SET email = 'y' WHERE id = 1;
UPDATE r26.u SET email = 'a' WHERE id = 3;
UPDATE r26.u SET email = 'c' WHERE id = 4;
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
SELECT step, operation, status FROM agent_guard.rollback_run('run-rt26-u3', apply => true) ORDER BY step;
SELECT * FROM r26.u ORDER BY id;
SELECT step, operation, status FROM agent_guard.rollback_run('run-rt26-u2', apply => true) ORDER BY step;
SELECT * FROM r26.u ORDER BY id;

-- INITIALLY DEFERRED, NULLS NOT DISTINCT: a NULL reused
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt26-ud"
\set SHOW_CONTEXT never
DELETE FROM r26.ud WHERE id = 2;
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
UPDATE r26.ud SET email = NULL WHERE id = 1;
-- error: YG032
SELECT r26.try($$SELECT * FROM agent_guard.rollback_run('run-rt26-ud', apply => true)$$);
SELECT * FROM r26.ud ORDER BY id;

-- an exclusion on an expression: an overlapping range taken
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt26-x"
\set SHOW_CONTEXT never
DELETE FROM r26.x WHERE id = 1;
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
INSERT INTO r26.x VALUES (3, 5, 8);
-- error: YG032
SELECT r26.try($$SELECT * FROM agent_guard.rollback_run('run-rt26-x', apply => true)$$);
SELECT * FROM r26.x ORDER BY id;
DELETE FROM r26.x WHERE id = 3;
SELECT step, operation, status FROM agent_guard.rollback_run('run-rt26-x', apply => true) ORDER BY step;
SELECT * FROM r26.x ORDER BY id;

\c "dbname=contrib_regression user=regress_su options="
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect(t) FROM unnest(ARRAY['r26.c', 'r26.p', 'r26.s', 'r26.u', 'r26.ud', 'r26.x']::regclass[]) t;
DROP SCHEMA r26 CASCADE;
