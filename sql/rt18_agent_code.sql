--
-- rt18_agent_code: red team 18a's findings 3, 5 and 6.
--  F3: the guard's own queries on a user table (rollback_run,
--      rollback_xact, soft_deleted, restore, purge) name its rows through
--      aliases and whole-row references.  A column named like an alias
--      (ADD COLUMN r needs no approval) made them ambiguous or, with one
--      relation in scope, silently read the column instead of the row: the
--      agent's run could not be undone.  Every whole-row reference is now
--      alias.*, which no column can be, and every column reference is
--      qualified.  The tables here have a column named after every alias
--      the guard's queries use.
--  F5: an agent's stored expression (a default, a CHECK) called a C
--      function of a trusted extension that sets a setting for the session
--      (pg_trgm's set_limit): the human's setting stayed changed after the
--      human's statement, and the human's next fuzzy-match DELETE matched
--      every row.  Such functions are refused like set_config (YG002), and
--      whatever else an agent's stored code changes in the human's
--      settings is rolled back at the end of the statement that ran it.
--  F6: an agent's trigger read current_query() in a PL/pgSQL assignment
--      (no statement that involves the agent's relation), and the human's
--      prepared statements: refused (YG002) in any code of an agent that
--      runs in a human's session.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
CREATE SCHEMA rt18 AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA rt18 TO PUBLIC;

-- F3. The agent's table and its child, with columns named after the
-- guard's aliases; both protected, the parent with soft deletes.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt18-setup"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
CREATE TABLE rt18.wide (id int PRIMARY KEY, v text,
    t int, o int, n int, e int, s int, x int, k int, kk int, c text, p int, b int,
    w int, d int, g int, cur int, "old" int, "new" int, "row" int, upd int, gone int,
    img jsonb, tid int, want jsonb, bad boolean, seg int, one int, value jsonb, left_ int);
CREATE TABLE rt18.child (id int PRIMARY KEY, wide_id int REFERENCES rt18.wide (id),
    r int, kk int, v int, p int, e int, value int);
INSERT INTO rt18.wide (id, v, t, o, k, c, value)
SELECT g, 'v' || g, g, g, g, 'c' || g, jsonb_build_object('g', g) FROM generate_series(1, 6) g;
GRANT SELECT, INSERT, UPDATE, DELETE ON rt18.wide, rt18.child TO regress_human;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('rt18.wide');
SELECT agent_guard.protect('rt18.child', false);
\set cols 'id, v, t, o, n, e, s, x, k, kk, c, p, b, w, d, g, cur, "old", "new", "row", upd, gone, img, tid, want, bad, seg, one, value, left_'
CREATE TABLE public.rt18_wide_before AS SELECT :cols FROM rt18.wide;

-- the agent's run: updates, a key change, an insert, a child row, a soft delete
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt18-f3"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
UPDATE rt18.wide SET v = 'vandalised', o = -1, c = 'x' WHERE id IN (1, 2);
UPDATE rt18.wide SET id = 60 WHERE id = 6;
INSERT INTO rt18.wide (id, v) VALUES (7, 'new');
INSERT INTO rt18.child (id, wide_id, r) VALUES (1, 7, 1);
DELETE FROM rt18.wide WHERE id = 3;
-- then a column named like the replay's alias (no approval needed)
ALTER TABLE rt18.wide ADD COLUMN r int;
ALTER TABLE rt18.child ADD COLUMN o int;
-- a second run, undone by its transaction
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt18-f3x"
\set SHOW_CONTEXT never
UPDATE rt18.wide SET r = 5, v = 'by xact' WHERE id = 4;
DELETE FROM rt18.wide WHERE id = 5;

-- the human on call: the soft-deleted rows, a restore, a preview, the rollbacks
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT row_key, agent_id, run_id, row_data ->> 'v' AS v, row_data ? 'r' AS has_r
  FROM agent_guard.soft_deleted('rt18.wide') ORDER BY row_key::text;
SELECT agent_guard.restore('rt18.wide', '{"id": 5}') ->> 'v' AS restored;
SELECT step, operation, status FROM agent_guard.rollback_run('run-rt18-f3x') ORDER BY step;
SELECT count(*) AS undone
  FROM agent_guard.rollback_xact((SELECT DISTINCT e.xid FROM agent_guard.events e
                                   WHERE e.run_id = 'run-rt18-f3x' AND e.operation = 'UPDATE'), true);
SELECT id, v, r FROM rt18.wide WHERE id IN (4, 5) ORDER BY id;
SELECT step, operation, status FROM agent_guard.rollback_run('run-rt18-f3') ORDER BY step;
SELECT count(*) AS undone, count(*) FILTER (WHERE status = 'applied') AS applied
  FROM agent_guard.rollback_run('run-rt18-f3', true);
-- every row is back as it was, the new ones gone
SELECT count(*) AS differ
  FROM ((SELECT * FROM public.rt18_wide_before EXCEPT SELECT :cols FROM rt18.wide)
        UNION ALL
        (SELECT :cols FROM rt18.wide EXCEPT SELECT * FROM public.rt18_wide_before)) d;
SELECT count(*) AS wide_rows FROM rt18.wide;
SELECT count(*) AS child_rows FROM rt18.child;
-- purge, and the log
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt18-f3p"
\set SHOW_CONTEXT never
DELETE FROM rt18.wide WHERE id = 2;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard.purge('rt18.wide', '0 seconds') AS purged;
SELECT count(*) AS purge_events FROM agent_guard.events
 WHERE relation = 'rt18.wide' AND operation = 'PURGE' AND old_row ->> 'c' = 'c2' AND old_row ? 'r';
SELECT agent_guard.postmortem('run-rt18-f3') LIKE '%rt18.wide%' AS postmortem_names_table;
SELECT ok FROM agent_guard.verify_log();

-- F5. pg_trgm, installed by a superuser; the humans' protected table.
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE SCHEMA rt18_trgm;
CREATE EXTENSION pg_trgm SCHEMA rt18_trgm;
GRANT USAGE ON SCHEMA rt18_trgm TO PUBLIC;
CREATE SCHEMA rt18_h;
GRANT USAGE ON SCHEMA rt18_h TO PUBLIC;
CREATE TABLE rt18_h.people (id int PRIMARY KEY, email text);
INSERT INTO rt18_h.people VALUES (1, 'ann@firm.de'), (2, 'bob@corp.org'), (3, 'cy@web.io'),
    (4, 'dee@uni.edu'), (5, 'spam@spam.example');
SELECT agent_guard.protect('rt18_h.people');
-- a human's function that changes a setting
CREATE FUNCTION rt18_h.human_sets() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  SET pg_trgm.similarity_threshold = 0.05;
  RETURN 1;
END $$;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt18-f5"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- the agent's stored expressions: a default and a CHECK that call
-- set_limit, a default that calls set_config
CREATE TABLE rt18.feedback (id int, msg text, lim real DEFAULT rt18_trgm.set_limit(0.0));
CREATE TABLE rt18.checked (id int CHECK (rt18_trgm.set_limit(0.0) >= 0));
CREATE TABLE rt18.cfg (id int, lim text DEFAULT set_config('pg_trgm.similarity_threshold', '0', false));
GRANT INSERT, SELECT ON rt18.feedback, rt18.checked, rt18.cfg TO PUBLIC;
-- the agent's functions: a plain one (its settings roll back when it
-- returns), one with SET options and a procedure (they would keep them)
CREATE FUNCTION rt18.plain_lim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM rt18_trgm.set_limit(0.0);
  RETURN NEW;
END $$;
CREATE FUNCTION rt18.kept_lim() RETURNS trigger LANGUAGE plpgsql SET work_mem = '1MB' AS $$
DECLARE l real;
BEGIN
  l := rt18_trgm.set_limit(0.0);
  RETURN NEW;
END $$;
CREATE PROCEDURE rt18.proc_lim() LANGUAGE plpgsql AS $$
BEGIN
  PERFORM rt18_trgm.set_limit(0.0);
END $$;
CREATE TABLE rt18.plain_in (id int);
CREATE TABLE rt18.kept_in (id int);
GRANT INSERT ON rt18.plain_in, rt18.kept_in TO PUBLIC;
CREATE TRIGGER plain_lim BEFORE INSERT ON rt18.plain_in FOR EACH ROW EXECUTE FUNCTION rt18.plain_lim();
CREATE TRIGGER kept_lim BEFORE INSERT ON rt18.kept_in FOR EACH ROW EXECUTE FUNCTION rt18.kept_lim();
-- the agent's own session: its settings are its own
INSERT INTO rt18.feedback (id, msg) VALUES (0, 'own');
SHOW pg_trgm.similarity_threshold;
RESET pg_trgm.similarity_threshold;
INSERT INTO rt18.kept_in VALUES (0);
SHOW pg_trgm.similarity_threshold;

-- the human
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
SELECT rt18_trgm.show_limit();
SELECT count(*) AS matches FROM rt18_h.people WHERE email OPERATOR(rt18_trgm.%) 'spam@spam.example';
-- error: the agent's default and CHECK call set_limit, its default set_config (YG002)
INSERT INTO rt18.feedback (msg) VALUES ('thanks');
INSERT INTO rt18.checked VALUES (1);
INSERT INTO rt18.cfg (id) VALUES (1);
SHOW pg_trgm.similarity_threshold;
-- the agent's plain function: its change ends with its call
INSERT INTO rt18.plain_in VALUES (1);
SHOW pg_trgm.similarity_threshold;
-- error: the agent's function with SET options, and its procedure, would keep it (YG002)
INSERT INTO rt18.kept_in VALUES (1);
CALL rt18.proc_lim();
SHOW pg_trgm.similarity_threshold;
-- whatever else changes a setting while an agent's stored code runs is
-- rolled back when the statement's run ends (here the human's own SET, in
-- a write of the agent's table)
INSERT INTO rt18.plain_in SELECT rt18_h.human_sets();
SHOW pg_trgm.similarity_threshold;
-- the same function in a statement of the human's own keeps its SET
SELECT rt18_h.human_sets();
SHOW pg_trgm.similarity_threshold;
RESET pg_trgm.similarity_threshold;
-- the human's own set_limit is the human's
SELECT rt18_trgm.set_limit(0.6);
SHOW pg_trgm.similarity_threshold;
RESET pg_trgm.similarity_threshold;
-- the fuzzy-match DELETE removes only the spam
BEGIN;
DELETE FROM rt18_h.people WHERE email OPERATOR(rt18_trgm.%) 'spam@spam.example' RETURNING id;
ROLLBACK;
SELECT agent_guard._flush_requests();
SELECT kind, status, statement FROM agent_guard.requests
 WHERE agent_id = 'regress_bot' AND statement ~ 'rt18\.(feedback|checked|cfg|kept_in|proc_lim)'
 ORDER BY request_id;

-- F6. The agent's triggers read the session's statements outside any
-- statement that involves its relation.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt18-f6"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
CREATE TABLE rt18.alog (id serial, what text, q text);
GRANT INSERT ON rt18.alog TO PUBLIC;
GRANT USAGE ON SEQUENCE rt18.alog_id_seq TO PUBLIC;
CREATE FUNCTION rt18.spy_query() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE q text;
BEGIN
  q := current_query();
  INSERT INTO rt18.alog (what, q) VALUES ('query', q);
  RETURN NEW;
END $$;
CREATE FUNCTION rt18.spy_prepared() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE p text;
BEGIN
  SELECT string_agg(statement, ';') INTO p FROM pg_prepared_statements;
  INSERT INTO rt18.alog (what, q) VALUES ('prepared', p);
  RETURN NEW;
END $$;
CREATE FUNCTION rt18.spy_cursors() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE p text;
BEGIN
  SELECT string_agg(statement, ';') INTO p FROM pg_cursors;
  INSERT INTO rt18.alog (what, q) VALUES ('cursors', p);
  RETURN NEW;
END $$;
CREATE FUNCTION rt18.spy_caught() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE q text;
BEGIN
  BEGIN
    q := current_query();
  EXCEPTION WHEN others THEN
    q := 'caught ' || SQLSTATE;
  END;
  INSERT INTO rt18.alog (what, q) VALUES ('caught', q);
  RETURN NEW;
END $$;
CREATE FUNCTION rt18.peek() RETURNS text LANGUAGE sql AS 'SELECT current_query()';
CREATE TABLE rt18.inbox_q (id int);
CREATE TABLE rt18.inbox_p (id int);
CREATE TABLE rt18.inbox_c (id int);
CREATE TABLE rt18.inbox_x (id int);
GRANT INSERT ON rt18.inbox_q, rt18.inbox_p, rt18.inbox_c, rt18.inbox_x TO PUBLIC;
CREATE TRIGGER spy AFTER INSERT ON rt18.inbox_q FOR EACH ROW EXECUTE FUNCTION rt18.spy_query();
CREATE TRIGGER spy AFTER INSERT ON rt18.inbox_p FOR EACH ROW EXECUTE FUNCTION rt18.spy_prepared();
CREATE TRIGGER spy AFTER INSERT ON rt18.inbox_c FOR EACH ROW EXECUTE FUNCTION rt18.spy_cursors();
CREATE TRIGGER spy AFTER INSERT ON rt18.inbox_x FOR EACH ROW EXECUTE FUNCTION rt18.spy_caught();
-- the agent's own session: its own text, kept
INSERT INTO rt18.inbox_q VALUES (0);
PREPARE own_stmt AS SELECT 'own';
INSERT INTO rt18.inbox_p VALUES (0);
SELECT what, q FROM rt18.alog ORDER BY id;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
CREATE ROLE regress_rt18_victim;
PREPARE human_stmt AS SELECT 'rt18-prepared-secret';
-- error: the agent's trigger reads the query string, the prepared
-- statements, the cursors (YG002)
SELECT 1 AS one \; ALTER ROLE regress_rt18_victim PASSWORD 'rt18-secret-1' \; INSERT INTO rt18.inbox_q VALUES (1);
INSERT INTO rt18.inbox_p VALUES (2);
BEGIN;
DECLARE human_cur CURSOR FOR SELECT 'rt18-cursor-secret';
INSERT INTO rt18.inbox_c VALUES (3);
ROLLBACK;
-- error: called by the human, the agent's function reads the human's text
SELECT 1 AS one \; ALTER ROLE regress_rt18_victim PASSWORD 'rt18-secret-2' \; SELECT rt18.peek();
-- the refusal caught by the agent's code: nothing read
SELECT 1 AS one \; ALTER ROLE regress_rt18_victim PASSWORD 'rt18-secret-3' \; INSERT INTO rt18.inbox_x VALUES (4);
-- the human's own reads
SELECT current_query() LIKE 'SELECT current_query()%' AS reads_own;
SELECT name, statement FROM pg_prepared_statements;
DEALLOCATE human_stmt;

-- nothing of the human's text reached the agent
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt18-f6"
SELECT what, q LIKE '%rt18-%secret%' AS leaked, left(q, 30) AS q FROM rt18.alog ORDER BY id;

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT kind, status, left(statement, 70) AS statement FROM agent_guard.requests
 WHERE agent_id = 'regress_bot' AND statement ~ 'rt18\.(inbox_|peek)' ORDER BY request_id;
SET client_min_messages = warning;
DROP SCHEMA rt18 CASCADE;
DROP SCHEMA rt18_h CASCADE;
DROP SCHEMA rt18_trgm CASCADE;
DROP TABLE public.rt18_wide_before;
DROP ROLE regress_rt18_victim;
