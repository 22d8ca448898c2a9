--
-- agent_shadow: an agent's function, operator or type that shadows a
-- built-in one, chosen by a human's statement (red team 15, F1; issue 16).
-- pg_catalog has no numeric = integer and no lower(varchar): an agent's
-- shb.=(numeric, integer) and shb.lower(varchar) in a schema on the human's
-- search_path (public in the finding) are better matches, and would pick
-- the rows of the human's DELETE on a protected table (every row),
-- unlogged, also during a freeze.  Refused (YG004) where the statement's
-- own text resolves to them; what the agent's own views and functions
-- call stays the agent's code; schema-qualified built-ins and the agent's
-- functions that shadow nothing run.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_sh_human LOGIN;
CREATE SCHEMA shh AUTHORIZATION regress_sh_human;   -- the human's
CREATE SCHEMA shb AUTHORIZATION regress_bot;         -- the agent's, on the human's search_path
GRANT USAGE ON SCHEMA shh, shb TO PUBLIC;

\c "dbname=contrib_regression user=regress_sh_human options="
CREATE TABLE shh.invoices (id int PRIMARY KEY, amount numeric, login varchar(40));
INSERT INTO shh.invoices SELECT g, g * 10, 'user' || g FROM generate_series(1, 10) g;
CREATE SEQUENCE shh.inv_seq;
SELECT nextval('shh.inv_seq');

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('shh.invoices');

-- the agent: no privilege on the human's table at all
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-sh-1"
CREATE FUNCTION shb.num_int_eq(numeric, integer) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR shb.= (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = shb.num_int_eq);
CREATE FUNCTION shb.lower(varchar) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'agent-was-here'$$;
CREATE FUNCTION shb.setval(text, bigint) RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint';
CREATE FUNCTION shb.count(integer) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
CREATE DOMAIN shb.int4 AS integer CHECK (VALUE > 100);
CREATE FUNCTION shb.helper(int) RETURNS int LANGUAGE sql AS 'SELECT $1 + 1';   -- shadows nothing
-- in its own session the agent's statements, view and function use them: its own code
SET search_path = shb, public;
CREATE VIEW shb.v AS SELECT lower('Q'::varchar) AS l;
CREATE FUNCTION shb.f() RETURNS text LANGUAGE plpgsql AS $$BEGIN RETURN lower('Q'::varchar); END$$;
GRANT SELECT ON shb.v TO PUBLIC;
SELECT lower('X'::varchar) AS agent_lower, 1::numeric = 2 AS agent_eq;

-- the human, search_path "$user", shb (as "$user", public)
\c "dbname=contrib_regression user=regress_sh_human options=-csearch_path=shh,shb"
-- refused: the agent's operator would choose the rows (every row)
DELETE FROM invoices WHERE amount = 30;
-- refused: the agent's function would write the values
UPDATE invoices SET login = lower(login) WHERE id = 2;
-- refused: reads mislead too; setval('...') of a string literal
SELECT setval('shh.inv_seq', 500);
SELECT count(id) FROM invoices;
SELECT id FROM invoices WHERE amount = 30;
-- refused: inside EXPLAIN, a cursor, a human's PL/pgSQL function
EXPLAIN (COSTS OFF) SELECT * FROM invoices WHERE amount = 30;
BEGIN;
DECLARE c CURSOR FOR SELECT * FROM invoices WHERE amount = 30;
ROLLBACK;
CREATE FUNCTION shh.h() RETURNS text LANGUAGE plpgsql AS $$BEGIN RETURN lower('Q'::varchar); END$$;
\set SHOW_CONTEXT never
SELECT shh.h();
\set SHOW_CONTEXT errors
-- nothing happened
SELECT count(*) AS invoices, count(*) FILTER (WHERE login = 'agent-was-here') AS agent_values
  FROM invoices;
SELECT last_value FROM shh.inv_seq;
-- the built-ins, named: one row each
DELETE FROM invoices WHERE amount OPERATOR(pg_catalog.=) 30;
UPDATE invoices SET login = pg_catalog.lower(upper(login)) WHERE id = 2;
SELECT pg_catalog.setval('shh.inv_seq', 500);
SELECT pg_catalog.count(id) FROM invoices;
SELECT id, amount, login FROM invoices WHERE id <= 3 ORDER BY id;
-- the agent's, named with its schema: the human's choice
SELECT shb.lower('X'::varchar) AS named, 1::numeric OPERATOR(shb.=) 2 AS named_op,
       "shb" . "lower"('Y'::varchar) AS quoted;
-- the agent's code that shadows nothing, its view and its function run as before
SELECT helper(1);
SELECT * FROM shb.v;
SELECT shb.f();
-- a type matches exactly: the agent's int4 shadows only where its schema comes first
SELECT '5'::int4 AS builtin_int4;
SET search_path = shb, pg_catalog, shh;
SELECT '5'::int4;
-- without the agent's schema on the path, the statement runs
SET search_path = shh;
DELETE FROM invoices WHERE amount = 40;
SELECT count(*) AS invoices FROM invoices;

-- a superuser during a freeze: refused the same way
\c "dbname=contrib_regression user=regress_su options=-csearch_path=shh,shb"
SELECT agent_guard.freeze('shadow test');
DELETE FROM invoices WHERE amount = 50;
SELECT agent_guard.unfreeze();
SELECT count(*) AS invoices FROM shh.invoices;

SET client_min_messages = warning;
DROP SCHEMA shb CASCADE;
DROP SCHEMA shh CASCADE;
DROP ROLE regress_sh_human;
