--
-- rt26_open: red team 26's findings.
-- F4: a column that is an array of a domain over an array (pair[] with
-- pair = int[]) is logged as its text (to_jsonb()'s nested arrays did not
-- read back), so a run that deletes such a row is rolled back whole,
-- with the row as it was; an empty one keeps to_jsonb()'s form.
-- F3: under a tables list, a default of the agent's temporary or scratch
-- table that draws from a sequence of an unlisted table (or any other
-- unlisted sequence) is refused as it inserts (YG008), like a direct
-- nextval(); a listed table's defaults and the agent's own sequences
-- still work.
-- F2: an UPDATE of a column a stored generated foreign key column is
-- computed from sets the key: it may not make a row reference a
-- soft-deleted row (YG004); an UPDATE of other columns still works.
-- F1: a foreign-key action (ON DELETE SET DEFAULT, ON UPDATE CASCADE)
-- that sets a key to a soft-deleted row is refused (YG004), also when
-- the agent's statement writes the referencing table without setting
-- the key (a writing CTE) or has a key to the parent of its own; one
-- that sets a live row's key still works.
-- From the human's side: the same statements work.
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

-- F2
CREATE TABLE r26o.p (id int PRIMARY KEY, name text);
INSERT INTO r26o.p VALUES (1, 'one'), (2, 'two');
CREATE TABLE r26o.c (id int PRIMARY KEY, raw text, note text,
                     k int GENERATED ALWAYS AS (split_part(raw, '-', 1)::int) STORED REFERENCES r26o.p (id));
INSERT INTO r26o.c (id, raw) SELECT g, '1-' || g FROM generate_series(1, 5) g;
SELECT agent_guard.protect('r26o.p');
SELECT agent_guard.protect('r26o.c');
GRANT SELECT, INSERT, UPDATE, DELETE ON r26o.p, r26o.c TO regress_bot;
GRANT SELECT, UPDATE ON r26o.p, r26o.c TO regress_human;

-- the agent's side
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt26-f4"
\set SHOW_CONTEXT never
-- F4: a run that deletes such rows among others
BEGIN;
DELETE FROM r26o.accounts WHERE id > 0;
DELETE FROM r26o.shapes WHERE id > 0;
COMMIT;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt26-f2"
\set SHOW_CONTEXT never
-- F2
DELETE FROM r26o.p WHERE id = 2;
\set VERBOSITY sqlstate
-- error: YG004 each
INSERT INTO r26o.c (id, raw) VALUES (10, '2-x');
UPDATE r26o.c SET raw = '2-' || id WHERE id > 0;
UPDATE r26o.c SET raw = '2-' || id, note = 'x' WHERE id = 1;
\set VERBOSITY default
-- allowed: an UPDATE of other columns, or to a live row
UPDATE r26o.c SET note = 'noted' WHERE id = 1;
UPDATE r26o.c SET raw = '1-x' WHERE id = 2;

\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
SELECT count(*) AS human_join_rows FROM r26o.c JOIN r26o.p ON p.id = c.k;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT id, raw, note, k FROM r26o.c ORDER BY 1;
-- F4: the run comes back whole, the shapes as they were
SELECT old_row -> 'pts' AS logged FROM agent_guard.events
 WHERE relation = 'r26o.shapes' AND operation = 'DELETE' ORDER BY row_key;
SELECT status, count(*) FROM agent_guard.rollback_run('run-rt26-f4') GROUP BY 1 ORDER BY 1;
SELECT status, count(*) FROM agent_guard.rollback_run('run-rt26-f4', apply => true) GROUP BY 1 ORDER BY 1;
SELECT id, pts, note FROM r26o.shapes ORDER BY id;
SELECT pts[1] AS first, (pts[3])[2] AS deep, pts[2] IS NULL AS hole FROM r26o.shapes WHERE id = 3;
SELECT array_lower(pts, 1) AS lower FROM r26o.shapes WHERE id = 4;
SELECT count(*) AS accounts FROM r26o.accounts;

-- F1
INSERT INTO r26o.p VALUES (3, 'three');
CREATE TABLE r26o.q (id int PRIMARY KEY, pref int REFERENCES r26o.p (id));
INSERT INTO r26o.q VALUES (1, 1), (2, NULL), (4, NULL);
CREATE TABLE r26o.c1 (id int PRIMARY KEY, k int DEFAULT 2 REFERENCES r26o.p (id)
                      REFERENCES r26o.q (id) ON UPDATE CASCADE ON DELETE SET DEFAULT, note text);
INSERT INTO r26o.c1 SELECT g, 1, 'row ' || g FROM generate_series(1, 3) g;
CREATE TABLE r26o.q2 (id int PRIMARY KEY);
INSERT INTO r26o.q2 VALUES (1);
CREATE TABLE r26o.c2 (id int PRIMARY KEY, k int REFERENCES r26o.p (id)
                      REFERENCES r26o.q2 (id) ON UPDATE CASCADE, note text);
INSERT INTO r26o.c2 SELECT g, 1, 'row ' || g FROM generate_series(1, 3) g;
SELECT agent_guard.protect('r26o.q', soft_delete => false);
SELECT agent_guard.protect('r26o.c1');
SELECT agent_guard.protect('r26o.q2', soft_delete => false);
SELECT agent_guard.protect('r26o.c2');
GRANT SELECT, INSERT, UPDATE, DELETE ON r26o.q, r26o.c1, r26o.q2, r26o.c2 TO regress_bot;
GRANT SELECT, UPDATE, DELETE ON r26o.q, r26o.c1, r26o.q2, r26o.c2 TO regress_human;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt26-f1"
\set SHOW_CONTEXT never
-- p's row 2 is soft-deleted (F2)
\set VERBOSITY sqlstate
-- error: YG004 each
UPDATE r26o.c1 SET k = 2 WHERE id = 1;
DELETE FROM r26o.q WHERE id = 1;
WITH u AS (UPDATE r26o.c2 SET note = note WHERE false RETURNING 1) UPDATE r26o.q2 SET id = 2 WHERE id = 1;
UPDATE r26o.q2 SET id = 2 WHERE id = 1;
\set VERBOSITY default
-- the detail names the key the action set
DELETE FROM r26o.q WHERE id = 1;
-- allowed: an action that sets a live row's key, a delete that sets no key
UPDATE r26o.q2 SET id = 3 WHERE id = 1;
DELETE FROM r26o.q WHERE id = 4;

\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
SELECT (SELECT count(*) FROM r26o.c1 JOIN r26o.p ON p.id = c1.k) AS c1_join_rows,
       (SELECT count(*) FROM r26o.c2 JOIN r26o.p ON p.id = c2.k) AS c2_join_rows;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT id, k FROM r26o.c2 ORDER BY 1;

-- F3
CREATE TABLE r26o.listed (id serial PRIMARY KEY, v text);
CREATE TABLE r26o.invoices (no smallint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v text);
CREATE SEQUENCE r26o.plain;
CREATE TABLE r26o.uses_plain (id bigint DEFAULT nextval('r26o.plain'), v text);
CREATE SEQUENCE r26o.shared;
ALTER TABLE r26o.listed ADD COLUMN s bigint DEFAULT nextval('r26o.shared');
SELECT agent_guard.protect('r26o.listed');
SELECT agent_guard.protect('r26o.invoices');
GRANT SELECT, INSERT ON r26o.listed, r26o.invoices TO regress_bot;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA r26o TO regress_bot;
SELECT mode, tables FROM agent_guard.set_policy('regress_bot', 'guarded', ARRAY['r26o.listed']::regclass[]);

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt26-f3"
\set SHOW_CONTEXT never
-- scratch tables of the agent's session
CREATE SEQUENCE r26b.mine;
CREATE TABLE r26b.scratch (x bigint DEFAULT nextval('r26o.invoices_no_seq'), y int);
CREATE TABLE r26b.scratch2 (x bigint DEFAULT nextval('r26o.plain'), y int);
CREATE TABLE r26b.scratch3 (x bigint DEFAULT nextval('r26b.mine'), y int);
\set VERBOSITY sqlstate
-- error: YG008 each
SELECT nextval('r26o.invoices_no_seq');
CREATE TEMP TABLE burn (x bigint DEFAULT nextval('r26o.invoices_no_seq'), y int);
INSERT INTO burn (y) SELECT g FROM generate_series(1, 3) g;
CREATE TEMP TABLE burn2 (x bigint DEFAULT nextval('r26o.plain'), y int);
INSERT INTO burn2 (y) VALUES (1);
INSERT INTO r26b.scratch2 (y) VALUES (1);
DO $$ BEGIN EXECUTE 'INSERT INTO r26b.scratch (y) VALUES (2)'; END $$;
\set VERBOSITY default
-- error: YG008, naming the sequence
INSERT INTO r26b.scratch (y) VALUES (1);
-- allowed: the listed table's defaults, the agent's own sequence, given values
INSERT INTO r26o.listed (v) VALUES ('a') RETURNING id, s;
SELECT nextval('r26o.shared') AS listed_default_seq;
INSERT INTO r26b.scratch3 (y) VALUES (1) RETURNING x;
INSERT INTO r26b.scratch (x, y) VALUES (7, 7) RETURNING x;
INSERT INTO burn (x, y) VALUES (7, 7) RETURNING x;
CREATE TEMP SEQUENCE t_seq;
CREATE TEMP TABLE burn3 (x bigint DEFAULT nextval('t_seq'), y int);
INSERT INTO burn3 (y) VALUES (1) RETURNING x;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard.drop_policy('regress_bot');
SELECT last_value, is_called FROM r26o.invoices_no_seq;
SELECT last_value, is_called FROM r26o.plain;
SELECT agent_guard._flush_requests() AS flushed;
SELECT agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;

-- the human's side: the same statements work for a human
BEGIN;
UPDATE r26o.c SET raw = '2-' || id WHERE id > 3;
INSERT INTO r26o.invoices (v) VALUES ('human') RETURNING no;
CREATE TEMP TABLE hburn (x bigint DEFAULT nextval('r26o.invoices_no_seq'), y int);
INSERT INTO hburn (y) VALUES (1) RETURNING x;
DELETE FROM r26o.q WHERE id = 1;
SELECT count(*) AS human_moved FROM r26o.c1 WHERE k = 2;
ROLLBACK;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r26o.shapes');
SELECT agent_guard.unprotect('r26o.accounts');
SELECT agent_guard.unprotect('r26o.c');
SELECT agent_guard.unprotect('r26o.p');
SELECT agent_guard.unprotect('r26o.c1');
SELECT agent_guard.unprotect('r26o.q');
SELECT agent_guard.unprotect('r26o.c2');
SELECT agent_guard.unprotect('r26o.q2');
SELECT agent_guard.unprotect('r26o.listed');
SELECT agent_guard.unprotect('r26o.invoices');
DROP SCHEMA r26o, r26b CASCADE;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_bot;
REVOKE EXECUTE ON FUNCTION agent_guard.rollback_run(text, boolean, text) FROM regress_human;
