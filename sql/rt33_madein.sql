--
-- rt33_madein: red team 33, F4.  In a transaction that a shared role tags
-- with SET LOCAL agent_guard.agent_id, "made before this transaction" is
-- decided by creation, not by the catalog row's xmin: an allowed GRANT on
-- the humans' function, view or table, or an ALTER TABLE ... ADD COLUMN,
-- rewrites the row and made its xmin the transaction's own, and then
-- CREATE OR REPLACE, ALTER and DROP of the function, CREATE OR REPLACE of
-- the view, RENAME of the table and CREATE RULE on it were allowed; the
-- humans' next call of the replaced function hard-deleted a protected
-- table's rows, unlogged.  Now refused (YG004, on record), the humans'
-- objects intact.  What the transaction created itself (before SET LOCAL
-- too, in a released savepoint, dropped and made again under the same
-- name) it may still change; a rolled-back savepoint's creations are not
-- its own.  From the humans' side: the same role untagged may do all of it.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1012000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r33m AUTHORIZATION regress_tagged;
CREATE ROLE regress_r33m_reader NOLOGIN;  -- a human role, no agent's
GRANT USAGE ON SCHEMA r33m TO regress_human, regress_r33m_reader;

-- the humans' objects, made by the shared role untagged
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
CREATE TABLE r33m.cust (id int PRIMARY KEY, email text);
CREATE TABLE r33m.ord (id int PRIMARY KEY, cust int REFERENCES r33m.cust, amount int);
INSERT INTO r33m.cust SELECT g, 'c' || g FROM generate_series(1, 5) g;
INSERT INTO r33m.ord SELECT g, g, g FROM generate_series(1, 5) g;
CREATE FUNCTION r33m.order_total(int) RETURNS int LANGUAGE sql
  AS 'SELECT sum(amount)::int FROM r33m.ord WHERE cust = $1';
CREATE VIEW r33m.big_orders AS SELECT id, cust, amount FROM r33m.ord WHERE amount > 2;
CREATE TABLE r33m.notes (id int PRIMARY KEY, t text);
INSERT INTO r33m.notes VALUES (1, 'n');
CREATE FUNCTION r33m.fmt(text) RETURNS text LANGUAGE sql AS 'SELECT upper($1)';
CREATE FUNCTION r33m.trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER trg BEFORE INSERT ON r33m.notes FOR EACH ROW EXECUTE FUNCTION r33m.trg();
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('r33m.cust') AS cust, agent_guard.protect('r33m.ord') AS ord;

\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- without a GRANT first: refused (YG004)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
CREATE OR REPLACE FUNCTION r33m.order_total(int) RETURNS int LANGUAGE plpgsql
  AS $$ BEGIN DELETE FROM r33m.ord WHERE cust = $1; RETURN 0; END $$;
ROLLBACK;
-- error: YG004 each, after a GRANT (or ADD COLUMN) that rewrote the catalog row
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
GRANT EXECUTE ON FUNCTION r33m.order_total(int) TO regress_r33m_reader;
CREATE OR REPLACE FUNCTION r33m.order_total(int) RETURNS int LANGUAGE plpgsql
  AS $$ BEGIN DELETE FROM r33m.ord WHERE cust = $1; RETURN 0; END $$;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
GRANT SELECT ON r33m.big_orders TO regress_r33m_reader;
CREATE OR REPLACE VIEW r33m.big_orders AS
  SELECT id, cust, amount FROM r33m.ord WHERE amount > 2 AND cust <> 4;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
GRANT SELECT ON r33m.big_orders TO regress_r33m_reader;
DROP VIEW r33m.big_orders;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
GRANT SELECT ON r33m.notes TO regress_r33m_reader;
ALTER TABLE r33m.notes RENAME TO notes_old;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
GRANT SELECT ON r33m.notes TO regress_r33m_reader;
CREATE RULE r AS ON INSERT TO r33m.notes DO INSTEAD NOTHING;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
GRANT EXECUTE ON FUNCTION r33m.fmt(text) TO regress_r33m_reader;
DROP FUNCTION r33m.fmt(text);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
GRANT EXECUTE ON FUNCTION r33m.fmt(text) TO regress_r33m_reader;
ALTER FUNCTION r33m.fmt(text) SECURITY DEFINER;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
GRANT EXECUTE ON FUNCTION r33m.fmt(text) TO regress_r33m_reader;
CREATE FUNCTION r33m.fmt(int) RETURNS text LANGUAGE sql AS 'SELECT ''agent''';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
GRANT EXECUTE ON FUNCTION r33m.trg() TO regress_r33m_reader;
CREATE OR REPLACE FUNCTION r33m.trg() RETURNS trigger LANGUAGE plpgsql
  AS $$ BEGIN NEW.t := 'agent'; RETURN NEW; END $$;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
ALTER TABLE r33m.notes ADD COLUMN x int;
ALTER TABLE r33m.notes RENAME TO notes_old;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
ALTER TABLE r33m.notes ADD COLUMN x int;
CREATE RULE r AS ON INSERT TO r33m.notes DO INSTEAD NOTHING;
ROLLBACK;
-- through dynamic SQL
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
DO $$ BEGIN
  EXECUTE 'GRANT EXECUTE ON FUNCTION r33m.order_total(int) TO regress_r33m_reader';
  EXECUTE 'CREATE OR REPLACE FUNCTION r33m.order_total(int) RETURNS int LANGUAGE sql AS ''SELECT 0''';
END $$;
ROLLBACK;
-- a refusal caught in a savepoint leaves the function the humans'
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
GRANT EXECUTE ON FUNCTION r33m.fmt(text) TO regress_r33m_reader;
SAVEPOINT s;
ALTER FUNCTION r33m.fmt(text) SECURITY DEFINER;
ROLLBACK TO s;
DROP FUNCTION r33m.fmt(text);
ROLLBACK;
-- made in an earlier tagged transaction: made before this one
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
CREATE FUNCTION r33m.earlier() RETURNS int LANGUAGE sql AS 'SELECT 1';
COMMIT;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
GRANT EXECUTE ON FUNCTION r33m.earlier() TO regress_r33m_reader;
CREATE OR REPLACE FUNCTION r33m.earlier() RETURNS int LANGUAGE sql AS 'SELECT 2';
ROLLBACK;
-- a function made in a savepoint rolled back is not the transaction's: its
-- namesake made again is, the humans' fmt stays theirs
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
SAVEPOINT a;
CREATE FUNCTION r33m.gone() RETURNS int LANGUAGE sql AS 'SELECT 1';
ROLLBACK TO a;
CREATE FUNCTION r33m.gone() RETURNS int LANGUAGE sql AS 'SELECT 2';
CREATE OR REPLACE FUNCTION r33m.gone() RETURNS int LANGUAGE sql AS 'SELECT 3';
GRANT EXECUTE ON FUNCTION r33m.fmt(text) TO regress_r33m_reader;
DROP FUNCTION r33m.fmt(text);
ROLLBACK;
\set VERBOSITY default
-- one message in full
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
GRANT EXECUTE ON FUNCTION r33m.order_total(int) TO regress_r33m_reader;
CREATE OR REPLACE FUNCTION r33m.order_total(int) RETURNS int LANGUAGE plpgsql
  AS $$ BEGIN DELETE FROM r33m.ord WHERE cust = $1; RETURN 0; END $$;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
ALTER TABLE r33m.notes ADD COLUMN x int;
ALTER TABLE r33m.notes RENAME TO notes_old;
ROLLBACK;

-- allowed: what the transaction made itself
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
CREATE FUNCTION r33m.mine() RETURNS int LANGUAGE sql AS 'SELECT 1';
GRANT EXECUTE ON FUNCTION r33m.mine() TO regress_r33m_reader;
CREATE OR REPLACE FUNCTION r33m.mine() RETURNS int LANGUAGE sql AS 'SELECT 2';
ALTER FUNCTION r33m.mine() SECURITY DEFINER;
CREATE FUNCTION r33m.mine(int) RETURNS int LANGUAGE sql AS 'SELECT $1';
DROP FUNCTION r33m.mine();
-- dropped and made again under its name: the new one is the transaction's
CREATE FUNCTION r33m.mine() RETURNS int LANGUAGE sql AS 'SELECT 3';
CREATE OR REPLACE FUNCTION r33m.mine() RETURNS int LANGUAGE sql AS 'SELECT 4';
SELECT r33m.mine() AS mine;
CREATE VIEW r33m.myview AS SELECT 1 AS a;
GRANT SELECT ON r33m.myview TO regress_r33m_reader;
CREATE OR REPLACE VIEW r33m.myview AS SELECT 2 AS a;
DROP VIEW r33m.myview;
CREATE VIEW r33m.myview AS SELECT 3 AS a;
CREATE OR REPLACE VIEW r33m.myview AS SELECT 4 AS a;
SELECT a FROM r33m.myview;
CREATE TABLE r33m.mytab (id int);
GRANT SELECT ON r33m.mytab TO regress_r33m_reader;
ALTER TABLE r33m.mytab ADD COLUMN x int;
CREATE RULE r AS ON INSERT TO r33m.mytab DO INSTEAD NOTHING;
ALTER TABLE r33m.mytab RENAME TO mytab2;
ROLLBACK;
-- made before SET LOCAL in the same transaction: its own too
BEGIN;
CREATE FUNCTION r33m.early() RETURNS int LANGUAGE sql AS 'SELECT 1';
SET LOCAL agent_guard.agent_id = 'harness-33';
CREATE OR REPLACE FUNCTION r33m.early() RETURNS int LANGUAGE sql AS 'SELECT 2';
ROLLBACK;
-- in a released savepoint and in a PL/pgSQL block: the transaction's; a
-- later savepoint rolled back takes only its own
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
SAVEPOINT a;
CREATE FUNCTION r33m.sub1() RETURNS int LANGUAGE sql AS 'SELECT 1';
SAVEPOINT b;
CREATE VIEW r33m.subv AS SELECT 1 AS a;
RELEASE b;
RELEASE a;
SAVEPOINT c;
CREATE FUNCTION r33m.sub2() RETURNS int LANGUAGE sql AS 'SELECT 1';
ROLLBACK TO c;
DO $$ BEGIN
  BEGIN
    CREATE FUNCTION r33m.sub3() RETURNS int LANGUAGE sql AS 'SELECT 1';
  EXCEPTION WHEN others THEN RAISE;
  END;
END $$;
CREATE OR REPLACE FUNCTION r33m.sub1() RETURNS int LANGUAGE sql AS 'SELECT 2';
CREATE OR REPLACE VIEW r33m.subv AS SELECT 2 AS a;
CREATE OR REPLACE FUNCTION r33m.sub3() RETURNS int LANGUAGE sql AS 'SELECT 2';
SELECT r33m.sub1() AS sub1, r33m.sub3() AS sub3, (SELECT a FROM r33m.subv) AS subv;
ROLLBACK;

-- the humans' objects are intact
SELECT r33m.order_total(3) AS total_3, (SELECT count(*) FROM r33m.ord) AS orders,
       (SELECT count(*) FROM r33m.big_orders) AS big, r33m.fmt('a') AS fmt,
       to_regclass('r33m.notes') IS NOT NULL AS notes_there,
       (SELECT count(*) FROM pg_rewrite WHERE ev_class = 'r33m.notes'::regclass) AS rules,
       (SELECT prosecdef FROM pg_proc WHERE oid = 'r33m.fmt(text)'::regprocedure) AS secdef,
       to_regprocedure('r33m.fmt(int)') IS NULL AS no_overload;
SELECT prosrc FROM pg_proc WHERE oid IN ('r33m.order_total(int)'::regprocedure, 'r33m.trg()'::regprocedure)
 ORDER BY proname;

-- the humans' side: the same role untagged may do all of it
GRANT EXECUTE ON FUNCTION r33m.order_total(int) TO regress_r33m_reader;
CREATE OR REPLACE FUNCTION r33m.order_total(int) RETURNS int LANGUAGE sql
  AS 'SELECT coalesce(sum(amount), 0)::int FROM r33m.ord WHERE cust = $1';
GRANT SELECT ON r33m.big_orders TO regress_r33m_reader;
CREATE OR REPLACE VIEW r33m.big_orders AS SELECT id, cust, amount FROM r33m.ord WHERE amount > 3;
GRANT SELECT ON r33m.notes TO regress_r33m_reader;
ALTER TABLE r33m.notes ADD COLUMN x int;
ALTER TABLE r33m.notes RENAME TO notes_old;
ALTER TABLE r33m.notes_old RENAME TO notes;
CREATE RULE r AS ON INSERT TO r33m.notes DO INSTEAD NOTHING;
DROP RULE r ON r33m.notes;
GRANT EXECUTE ON FUNCTION r33m.fmt(text) TO regress_r33m_reader;
ALTER FUNCTION r33m.fmt(text) SECURITY DEFINER;
CREATE FUNCTION r33m.fmt(int) RETURNS text LANGUAGE sql AS 'SELECT ''human''';
DROP FUNCTION r33m.fmt(text);
CREATE OR REPLACE FUNCTION r33m.trg() RETURNS trigger LANGUAGE plpgsql
  AS $$ BEGIN NEW.t := 'human'; RETURN NEW; END $$;
CREATE OR REPLACE FUNCTION r33m.earlier() RETURNS int LANGUAGE sql AS 'SELECT 2';
INSERT INTO r33m.notes (id, t) VALUES (2, 'x');
SELECT r33m.order_total(3) AS total_3, (SELECT count(*) FROM r33m.big_orders) AS big,
       r33m.fmt(1) AS fmt, (SELECT t FROM r33m.notes WHERE id = 2) AS t, r33m.earlier() AS earlier;
DROP VIEW r33m.big_orders;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- on record
SELECT agent_guard._flush_requests();
SELECT request_id, agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT DISTINCT reason FROM agent_guard.requests
 WHERE request_id > :req_before AND statement LIKE 'CREATE OR REPLACE FUNCTION r33m.order_total%'
 ORDER BY 1;
SELECT (SELECT count(*) FROM r33m.ord) AS orders, (SELECT count(*) FROM r33m.cust) AS custs;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r33m.ord') AS ord, agent_guard.unprotect('r33m.cust') AS cust;
DROP SCHEMA r33m CASCADE;
DROP ROLE regress_r33m_reader;
