--
-- rt29_types: red team 29, F5.  ALTER TYPE ... ADD, RENAME, DROP and
-- ALTER ATTRIBUTE of a composite type that a protected table's column
-- uses, directly, through an array, a domain or another composite type,
-- changes that table's values (a new field in every row, a renamed or
-- lost one): it needs a human's approval (YG003), on record, as the other
-- ALTER TYPE paths do; an approved statement runs once.  A composite type
-- no protected table uses stays the agent's to change.
-- From the human's side: the same statements work.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 996000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r29b AUTHORIZATION regress_bot;
CREATE SCHEMA r29o;
GRANT USAGE ON SCHEMA r29o TO regress_bot, regress_human;
-- the agent's types: one used directly, one through an array, one
-- through a domain, one inside another composite type, one unused
SET ROLE regress_bot;
CREATE TYPE r29b.pt AS (x int, y int);
CREATE TYPE r29b.tag AS (k text, v text);
CREATE TYPE r29b.money2 AS (amount numeric, cur text);
CREATE DOMAIN r29b.price AS r29b.money2 CHECK ((VALUE).amount >= 0);
CREATE TYPE r29b.inner AS (a int, b int);
CREATE TYPE r29b.outer AS (i r29b.inner, note text);
CREATE TYPE r29b.spare AS (a int, b int);
RESET ROLE;
CREATE TABLE r29o.shapes (id int PRIMARY KEY, p r29b.pt, tags r29b.tag[], cost r29b.price, o r29b.outer);
INSERT INTO r29o.shapes VALUES
  (1, ROW(1, 2), ARRAY[ROW('a', 'b')::r29b.tag], ROW(10, 'EUR')::r29b.money2, ROW(ROW(1, 2), 'n')),
  (2, ROW(3, 4), '{}', ROW(0, 'USD')::r29b.money2, NULL);
SELECT agent_guard.protect('r29o.shapes');
GRANT SELECT, INSERT, UPDATE ON r29o.shapes TO regress_bot, regress_human;
CREATE FUNCTION public.regress_r29_state() RETURNS TABLE (typ text, attrs text)
LANGUAGE sql AS $$
  SELECT c.relname::text, string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
   WHERE c.relnamespace = 'r29b'::regnamespace AND c.relkind = 'c' AND a.attnum > 0 AND NOT a.attisdropped
   GROUP BY c.relname ORDER BY c.relname $$;
SELECT * FROM public.regress_r29_state();

-- the agent's side
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt29"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG003 each: a type a protected column uses directly
ALTER TYPE r29b.pt ADD ATTRIBUTE z int;
ALTER TYPE r29b.pt RENAME ATTRIBUTE x TO xx;
ALTER TYPE r29b.pt DROP ATTRIBUTE y;
ALTER TYPE r29b.pt ALTER ATTRIBUTE y TYPE bigint;
-- through an array
ALTER TYPE r29b.tag ADD ATTRIBUTE w text;
ALTER TYPE r29b.tag RENAME ATTRIBUTE v TO vv;
ALTER TYPE r29b.tag DROP ATTRIBUTE v;
-- through a domain
ALTER TYPE r29b.money2 ADD ATTRIBUTE rate numeric;
ALTER TYPE r29b.money2 RENAME ATTRIBUTE cur TO currency;
ALTER TYPE r29b.money2 DROP ATTRIBUTE cur;
-- inside another composite type
ALTER TYPE r29b.inner ADD ATTRIBUTE c int;
ALTER TYPE r29b.inner RENAME ATTRIBUTE a TO aa;
ALTER TYPE r29b.inner DROP ATTRIBUTE b;
ALTER TYPE r29b.inner ALTER ATTRIBUTE b TYPE bigint;
-- by dynamic SQL, and with CASCADE
DO $$ BEGIN EXECUTE 'ALTER TYPE r29b.pt ADD ATTRIBUTE z int'; END $$;
ALTER TYPE r29b.outer ADD ATTRIBUTE extra int CASCADE;
\set VERBOSITY default
-- error: YG003, the request says why
ALTER TYPE r29b.pt ADD ATTRIBUTE z int;
ALTER TYPE r29b.inner DROP ATTRIBUTE b;
-- allowed: ADD and RENAME ATTRIBUTE of a composite type no protected
-- table uses (its DROP and ALTER ATTRIBUTE ... TYPE need approval as a
-- column's drop and retype do, unless the type is the agent's scratch)
ALTER TYPE r29b.spare ADD ATTRIBUTE c int;
ALTER TYPE r29b.spare RENAME ATTRIBUTE c TO cc;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- the types and rows as they were
SELECT * FROM public.regress_r29_state();
SELECT id, p, tags, cost, o FROM r29o.shapes ORDER BY id;
SELECT agent_guard._flush_requests() AS flushed;
SELECT agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT reason FROM agent_guard.requests
 WHERE request_id > :req_before AND statement = 'ALTER TYPE r29b.pt ADD ATTRIBUTE z int' ORDER BY request_id LIMIT 1;
-- a human approves the ADD ATTRIBUTE: it runs once
SELECT (agent_guard.approve(request_id, 'new field wanted')).status
  FROM agent_guard.requests
 WHERE request_id > :req_before AND statement = 'ALTER TYPE r29b.pt ADD ATTRIBUTE z int'
 ORDER BY request_id DESC LIMIT 1;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt29"
\set SHOW_CONTEXT never
ALTER TYPE r29b.pt ADD ATTRIBUTE z int;
\set VERBOSITY sqlstate
-- error: YG003, the approval was used
ALTER TYPE r29b.pt DROP ATTRIBUTE z;
\set VERBOSITY default
INSERT INTO r29o.shapes (id, p) VALUES (3, ROW(5, 6, 7)) RETURNING p;

-- the human's side: the same statements work for a human
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT * FROM public.regress_r29_state();
BEGIN;
ALTER TYPE r29b.pt DROP ATTRIBUTE z;
ALTER TYPE r29b.pt RENAME ATTRIBUTE x TO xx;
ALTER TYPE r29b.tag ADD ATTRIBUTE w text;
ALTER TYPE r29b.money2 RENAME ATTRIBUTE cur TO currency;
ALTER TYPE r29b.inner ADD ATTRIBUTE c int;
ALTER TYPE r29b.inner DROP ATTRIBUTE b;
SELECT * FROM public.regress_r29_state();
SELECT id, p, tags, cost, o FROM r29o.shapes ORDER BY id;
ROLLBACK;
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
INSERT INTO r29o.shapes (id, p) VALUES (4, ROW(7, 8, 9)) RETURNING p;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r29o.shapes');
DROP FUNCTION public.regress_r29_state();
DROP SCHEMA r29o, r29b CASCADE;
