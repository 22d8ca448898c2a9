--
-- rt19_open: red team 19's findings.
-- F1: a shared role tagged with SET LOCAL agent_guard.agent_id (or a
-- session tag) may not create, replace, rename or move a function,
-- aggregate, operator, type, domain, collation, text search object or
-- conversion to a name pg_catalog has (YG004, on record): it would be
-- the shared role's, a human's, and the shadow check would not know it.
-- Registered agents (caught at use) and humans create them as before.
-- F3: CREATE ROLE or ALTER ROLE ... RENAME TO the name of an agent's
-- schema is refused (YG004): it would be the role's "$user" schema.
-- F4: a tag that reads as a registered agent's id (case, punctuation)
-- is refused like the id itself (YG001).
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE ROLE regress_rt19_bot LOGIN;
SELECT agent_guard.register_agent('regress_rt19_bot', 'rt19_agent');
CREATE SCHEMA r19;
GRANT USAGE, CREATE ON SCHEMA r19 TO regress_tagged, regress_rt19_bot, regress_human;
CREATE TABLE r19.invoices (id int PRIMARY KEY, amount numeric);
INSERT INTO r19.invoices VALUES (1, 10), (2, 30), (3, 50);
SELECT agent_guard.protect('r19.invoices');
GRANT SELECT, INSERT, UPDATE, DELETE ON r19.invoices TO regress_tagged, regress_human;
GRANT CREATE ON DATABASE contrib_regression TO regress_tagged, regress_rt19_bot;
SELECT agent_guard._flush_requests();
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset

-- F1, the agent's side: a tagged shared role, every kind and path
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
CREATE FUNCTION r19.eqnum(numeric, integer) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR r19.= (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = r19.eqnum);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
CREATE FUNCTION r19.lower(varchar) RETURNS text LANGUAGE sql AS 'SELECT ''x''';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
CREATE PROCEDURE r19.lower() LANGUAGE sql AS 'SELECT 1';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
CREATE AGGREGATE r19.sum(numeric) (SFUNC = numeric_add, STYPE = numeric);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
CREATE DOMAIN r19.int4 AS bigint;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
CREATE TYPE r19.text AS (a int);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
CREATE TYPE r19.name AS ENUM ('a');
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
CREATE COLLATION r19."C" (locale = 'C');
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
CREATE TEXT SEARCH DICTIONARY r19.simple (TEMPLATE = pg_catalog.simple);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
CREATE TEXT SEARCH CONFIGURATION r19.english (COPY = pg_catalog.english);
ROLLBACK;
-- through DO and EXECUTE, CREATE OR REPLACE, RENAME, SET SCHEMA
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
DO $$ BEGIN EXECUTE 'CREATE FUNCTION r19.upper(text) RETURNS text LANGUAGE sql AS ''SELECT 1::text'''; END $$;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
CREATE FUNCTION r19.f19(numeric, integer) RETURNS boolean LANGUAGE sql AS 'SELECT true';
ALTER FUNCTION r19.f19(numeric, integer) RENAME TO lower;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
CREATE TYPE r19.t19 AS (a int);
ALTER TYPE r19.t19 RENAME TO numeric;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
CREATE SCHEMA r19b AUTHORIZATION regress_tagged;
CREATE DOMAIN r19b.d19 AS int;
ALTER DOMAIN r19b.d19 SET SCHEMA r19;
ALTER DOMAIN r19.d19 RENAME TO int8;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
CREATE FUNCTION r19.f19(text) RETURNS text LANGUAGE sql AS 'SELECT $1';
CREATE OR REPLACE FUNCTION r19.f19(text) RETURNS text LANGUAGE sql AS 'SELECT $1 || $1';
ALTER FUNCTION r19.f19(text) RENAME TO upper;
ROLLBACK;
-- the shared role's own object, made untagged, moved by a tagged transaction
CREATE SCHEMA r19h;
CREATE FUNCTION r19h.lower(varchar) RETURNS text LANGUAGE sql AS 'SELECT ''x''';
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
ALTER FUNCTION r19h.lower(varchar) SET SCHEMA r19;
ROLLBACK;
DROP SCHEMA r19h CASCADE;
-- an extension's script (run as its bootstrap superuser)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
CREATE EXTENSION intarray SCHEMA r19;
ROLLBACK;
\set VERBOSITY default
-- what the tag may create: names pg_catalog has not (an operator's
-- function named numeq), tables named like a type
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
CREATE FUNCTION r19.numeq(numeric, integer) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR r19.=~=~ (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = r19.numeq);
CREATE TYPE r19.t19 AS (a int);
CREATE DOMAIN r19.d19 AS int;
CREATE TABLE r19.point (a int);
SELECT count(*) AS made FROM pg_proc WHERE proname = 'numeq';
ROLLBACK;
-- a session tag too; there pg_temp is free
\c "dbname=contrib_regression user=regress_tagged options=-cagent_guard.agent_id=harness-y"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
CREATE FUNCTION r19.lower(varchar) RETURNS text LANGUAGE sql AS 'SELECT ''x''';
\set VERBOSITY default
CREATE FUNCTION pg_temp.lower(varchar) RETURNS text LANGUAGE sql AS 'SELECT ''x''';
SELECT pg_temp.lower('A'::varchar);
-- the message
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
CREATE FUNCTION r19.show(stmt text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE m text; d text; h text;
BEGIN
    EXECUTE stmt;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RAISE NOTICE E'%\nmessage: %\ndetail: %\nhint: %', SQLSTATE,
        regexp_replace(m, 'request [0-9]+', 'request N'), d, h;
END $$;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-x';
CREATE FUNCTION r19.numeq(numeric, integer) RETURNS boolean LANGUAGE sql AS 'SELECT true';
SELECT r19.show('CREATE OPERATOR r19.= (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = r19.numeq)');
SELECT r19.show('CREATE FUNCTION r19.lower(varchar) RETURNS text LANGUAGE sql AS ''SELECT 1::text''');
ROLLBACK;
DROP FUNCTION r19.show(text);
-- nothing was made
SELECT count(*) AS shadows FROM pg_proc WHERE pronamespace = 'r19'::regnamespace;
SELECT count(*) AS operators FROM pg_operator WHERE oprnamespace = 'r19'::regnamespace;
SELECT count(*) AS types FROM pg_type WHERE typnamespace = 'r19'::regnamespace
   AND typname IN (SELECT typname FROM pg_type WHERE typnamespace = 'pg_catalog'::regnamespace);
SET search_path = r19, public;
DELETE FROM invoices WHERE amount = 30;
RESET search_path;
SELECT count(*) AS other FROM pg_namespace WHERE nspname = 'r19b';

-- F1, the human's side: a human (the same role, untagged) and a
-- registered agent still create them; the human's own DELETE is judged
-- by the use-time check when the registered agent's operator shadows
CREATE FUNCTION r19.lower(varchar) RETURNS text LANGUAGE sql AS 'SELECT lower($1::text)';
SELECT r19.lower('AbC'::varchar);
DROP FUNCTION r19.lower(varchar);
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
CREATE FUNCTION r19.numeq(numeric, integer) RETURNS boolean LANGUAGE sql AS 'SELECT $1 = $2::numeric';
DROP FUNCTION r19.numeq(numeric, integer);
\c "dbname=contrib_regression user=regress_rt19_bot options="
\set SHOW_CONTEXT never
CREATE FUNCTION r19.numeq(numeric, integer) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR r19.= (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = r19.numeq);
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
SET search_path = r19, public;
\set VERBOSITY sqlstate
DELETE FROM invoices WHERE amount = 30;
\set VERBOSITY default
SELECT count(*) AS invoices FROM r19.invoices;
\c "dbname=contrib_regression user=regress_rt19_bot options="
DROP OPERATOR r19.= (numeric, integer);
DROP FUNCTION r19.numeq(numeric, integer);

-- F3, the agent prepares a schema for a role that does not exist yet
CREATE SCHEMA future_dba19;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE ROLE future_dba19 LOGIN;
CREATE ROLE regress_rt19_x;
ALTER ROLE regress_rt19_x RENAME TO future_dba19;
\set VERBOSITY sqlstate
DO $$ BEGIN EXECUTE 'CREATE USER future_dba19'; END $$;
\set VERBOSITY default
SELECT count(*) AS roles FROM pg_roles WHERE rolname = 'future_dba19';
-- the human's side: a free name, other changes of the role, a schema of a human's
CREATE ROLE regress_rt19_free;
ALTER ROLE regress_rt19_x NOLOGIN;
ALTER ROLE regress_rt19_x RENAME TO regress_rt19_y;
CREATE SCHEMA regress_rt19_z;
CREATE ROLE regress_rt19_z;
-- once the agent's schema is gone, the name is free
DROP SCHEMA future_dba19;
CREATE ROLE future_dba19;
DROP ROLE future_dba19, regress_rt19_free, regress_rt19_y, regress_rt19_z;
DROP SCHEMA regress_rt19_z;

-- F4: a tag that reads as a registered agent's id
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
BEGIN; SET LOCAL agent_guard.agent_id = 'RT19_Agent';
SELECT count(*) FROM r19.invoices;
ROLLBACK;
\set VERBOSITY sqlstate
BEGIN; SET LOCAL agent_guard.agent_id = 'rt19_agent.';
SELECT count(*) FROM r19.invoices;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'rt19-agent';
SELECT count(*) FROM r19.invoices;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'rt19_agent';
SELECT count(*) FROM r19.invoices;
ROLLBACK;
\set VERBOSITY default
-- an id that only shares a prefix is another agent
BEGIN; SET LOCAL agent_guard.agent_id = 'rt19_agent2';
SELECT count(*) FROM r19.invoices;
SELECT agent_guard.current_agent();
ROLLBACK;

-- the refusals are on record
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT agent_id, kind, status, left(statement, 70) AS statement
  FROM agent_guard.request_log WHERE request_id > :req_before ORDER BY request_id;
DROP SCHEMA r19 CASCADE;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_tagged, regress_rt19_bot;
SELECT agent_guard.unregister_agent('regress_rt19_bot');
DROP ROLE regress_rt19_bot;
