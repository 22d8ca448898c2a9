--
-- approval_objects: an approval is bound to the operators, collations and
-- types a statement uses and to the columns of the relations it reaches
-- (issue 16; red team 15B, findings 2 and 3).  The agent has a statement
-- approved, then redefines what its text means without touching the text:
-- its operator made again over another built-in function, its collation
-- made again, a CHECK added to its domain, two columns renamed so that the
-- approved column name names another column, for an UPDATE and for an
-- ALTER TABLE ... DROP COLUMN.  Each retry is another statement, with a
-- new request (YG003).  Put back as it was, or after an ANALYZE, the same
-- statement is admitted once.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
ALTER ROLE regress_bot SET agent_guard.max_rows_per_statement = 5;
ALTER ROLE regress_bot SET agent_guard.max_rows_per_run = -1;
CREATE SCHEMA aobj AUTHORIZATION regress_bot;
CREATE SCHEMA aobj_app AUTHORIZATION regress_human;
GRANT USAGE ON SCHEMA aobj_app TO regress_bot;
GRANT USAGE ON SCHEMA aobj TO regress_human;
SET ROLE regress_human;
-- a human's protected table
CREATE TABLE aobj_app.items (id int PRIMARY KEY, price int, name text);
INSERT INTO aobj_app.items SELECT g, g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'B' END || g
  FROM generate_series(1, 20) g;
GRANT SELECT, UPDATE ON aobj_app.items TO regress_bot;
RESET ROLE;
SELECT agent_guard.protect('aobj_app.items');
SET ROLE regress_bot;
CREATE TABLE aobj.acct (id int PRIMARY KEY, note text, balance numeric);
INSERT INTO aobj.acct SELECT g, 'n', 100 FROM generate_series(1, 10) g;
CREATE TABLE aobj.dc (id int PRIMARY KEY, junk text, precious text);
INSERT INTO aobj.dc VALUES (1, 'j', 'p');
CREATE OPERATOR aobj.<<< (LEFTARG = int, RIGHTARG = int, FUNCTION = int4lt);
CREATE COLLATION aobj.cx (provider = libc, locale = 'C');
CREATE DOMAIN aobj.tag AS text;
GRANT SELECT, UPDATE ON aobj.acct, aobj.dc TO regress_human;
RESET ROLE;
CREATE FUNCTION aobj.pending(run text) RETURNS bigint LANGUAGE sql AS $$
  SELECT max(request_id) FROM agent_guard.requests WHERE run_id = run AND status = 'pending'
$$;

-- 1. Operators: "<<<" over int4lt, approved for 7 rows of a human's
-- table, then made again over int4ne (19 rows).
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-aobj-1"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: 7 rows, over the limit of 5 (YG003)
UPDATE aobj_app.items SET price = -1 WHERE id OPERATOR(aobj.<<<) 8;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT aobj.pending('run-aobj-1') AS req_op \gset
SELECT status FROM agent_guard.approve(:req_op, 'seven rows');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-aobj-2"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
DROP OPERATOR aobj.<<< (int, int);
CREATE OPERATOR aobj.<<< (LEFTARG = int, RIGHTARG = int, FUNCTION = int4ne);
-- error: another operator, a new request (YG003)
UPDATE aobj_app.items SET price = -1 WHERE id OPERATOR(aobj.<<<) 8;
SET search_path = aobj, public;
-- error: the same unqualified (YG003)
UPDATE aobj_app.items SET price = -1 WHERE id <<< 8;
RESET search_path;
SELECT count(*) AS written FROM aobj_app.items WHERE price = -1;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.requests WHERE request_id = :req_op;

-- 2. Collations: approved under aobj.cx (libc C), made again.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-aobj-3"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: 10 rows (YG003)
UPDATE aobj_app.items SET name = 'x' WHERE name < 'Z' COLLATE aobj.cx;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT aobj.pending('run-aobj-3') AS req_coll \gset
SELECT status FROM agent_guard.approve(:req_coll, 'the B rows');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-aobj-4"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
DROP COLLATION aobj.cx;
CREATE COLLATION aobj.cx (provider = libc, locale = 'POSIX');
-- error: another collation, a new request (YG003)
UPDATE aobj_app.items SET name = 'x' WHERE name < 'Z' COLLATE aobj.cx;
SELECT count(*) AS written FROM aobj_app.items WHERE name = 'x';

-- 3. Types: a domain given a CHECK after the approval
-- error: no WHERE clause (YG003)
UPDATE aobj.acct SET note = 'n'::aobj.tag;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT aobj.pending('run-aobj-4') AS req_dom \gset
SELECT status FROM agent_guard.approve(:req_dom, 'a tag for every row');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-aobj-5"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
ALTER DOMAIN aobj.tag ADD CONSTRAINT not_x CHECK (VALUE <> 'x');
-- error: another domain, a new request (YG003)
UPDATE aobj.acct SET note = 'n'::aobj.tag;
ALTER DOMAIN aobj.tag DROP CONSTRAINT not_x;
-- as it was: admitted
UPDATE aobj.acct SET note = 'n'::aobj.tag;

-- 4. Columns: "SET note = NULL" approved, then "note" renamed away and
-- "balance" renamed to "note"
-- error: no WHERE clause (YG003)
UPDATE aobj.acct SET note = NULL;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT aobj.pending('run-aobj-5') AS req_col \gset
SELECT status FROM agent_guard.approve(:req_col, 'clear the notes');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-aobj-6"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
ALTER TABLE aobj.acct RENAME COLUMN note TO note_old;
ALTER TABLE aobj.acct RENAME COLUMN balance TO note;
-- error: other columns, a new request (YG003)
UPDATE aobj.acct SET note = NULL;
SELECT count(note) AS balances_kept FROM aobj.acct;
-- put back, and analyzed: admitted, once
ALTER TABLE aobj.acct RENAME COLUMN note TO balance;
ALTER TABLE aobj.acct RENAME COLUMN note_old TO note;
ANALYZE aobj.acct;
UPDATE aobj.acct SET note = NULL;
SELECT count(note) AS notes, count(balance) AS balances FROM aobj.acct;

-- 5. A utility statement: "DROP COLUMN junk" approved, then "precious"
-- renamed to "junk"
-- error: it drops a column and its data (YG003)
ALTER TABLE aobj.dc DROP COLUMN junk;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT aobj.pending('run-aobj-6') AS req_drop \gset
SELECT status FROM agent_guard.approve(:req_drop, 'drop junk');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-aobj-7"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
ALTER TABLE aobj.dc RENAME COLUMN junk TO junk2;
ALTER TABLE aobj.dc RENAME COLUMN precious TO junk;
-- error: another column, a new request (YG003)
ALTER TABLE aobj.dc DROP COLUMN junk;
ALTER TABLE aobj.dc RENAME COLUMN junk TO precious;
ALTER TABLE aobj.dc RENAME COLUMN junk2 TO junk;
-- as it was: admitted
ALTER TABLE aobj.dc DROP COLUMN junk;
TABLE aobj.dc;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.requests WHERE request_id IN (:req_op, :req_coll, :req_dom, :req_col, :req_drop)
 ORDER BY request_id;
SELECT kind, status, statement FROM agent_guard.requests WHERE run_id LIKE 'run-aobj-%'
 ORDER BY request_id;

-- a human's statements are not judged: the same ones run
\c "dbname=contrib_regression user=regress_human options="
UPDATE aobj_app.items SET price = -1 WHERE id OPERATOR(aobj.<<<) 8;
UPDATE aobj.acct SET note = 'h';
UPDATE aobj.acct SET note = NULL;
SELECT (SELECT count(*) FROM aobj_app.items WHERE price = -1) AS items_written,
       (SELECT count(note) FROM aobj.acct) AS notes;

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unprotect('aobj_app.items');
ALTER ROLE regress_bot RESET agent_guard.max_rows_per_statement;
ALTER ROLE regress_bot RESET agent_guard.max_rows_per_run;
DROP SCHEMA aobj CASCADE;
DROP SCHEMA aobj_app CASCADE;
