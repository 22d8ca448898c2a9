--
-- shadow_ddl2_pg18: ALTER TABLE ... ALTER COLUMN ... SET EXPRESSION AS
-- (PostgreSQL 17 and later; red team 16, F2): the new generation
-- expression is stored (its dependencies judged) and evaluated by the
-- table's rewrite (its functions judged as they are set up), so a name
-- of it that reaches an agent's shadow is refused like a generated
-- column's; written with pg_catalog. or without the agent's schema on
-- the search_path it runs.  On PostgreSQL 15 the syntax does not exist
-- (expected/shadow_ddl2_pg18_1.out).
--
SELECT current_setting('server_version_num')::int >= 170000 AS set_expression \gset
\if :set_expression
\c "dbname=contrib_regression user=regress_su options="
-- the refusals are on record (red team 30, F10): ids of their own
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 740000, false) AS ids_from;
CREATE ROLE regress_s3_human LOGIN;
CREATE SCHEMA s3h AUTHORIZATION regress_s3_human;
CREATE SCHEMA s3b AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA s3h, s3b TO PUBLIC;
\c "dbname=contrib_regression user=regress_s3_human options="
CREATE TABLE s3h.invoices (id int PRIMARY KEY, amount numeric, login varchar(40),
                           g text GENERATED ALWAYS AS (pg_catalog.upper(login)) STORED);
INSERT INTO s3h.invoices (id, amount, login) SELECT g, g * 10, 'User' || g FROM generate_series(1, 3) g;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('s3h.invoices');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-s3-1"
CREATE FUNCTION s3b.lower(varchar) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'agent-was-here'$$;
CREATE FUNCTION s3b.num_int_eq(numeric, integer) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR s3b.= (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = s3b.num_int_eq);
CREATE DOMAIN s3b.int4 AS integer CHECK (VALUE > 100);
-- the agent's own table: its own SET EXPRESSION with its own shadow runs
CREATE TABLE s3b.at (v varchar(20), g text GENERATED ALWAYS AS (v) STORED);
INSERT INTO s3b.at (v) VALUES ('B');
SET search_path = s3b, pg_catalog;
ALTER TABLE s3b.at ALTER COLUMN g SET EXPRESSION AS (lower(v));
SELECT * FROM s3b.at;
RESET search_path;
\c "dbname=contrib_regression user=regress_s3_human options=-csearch_path=s3h,s3b,pg_catalog"
-- refused: the new expression's function, operator or type is a shadow
ALTER TABLE invoices ALTER COLUMN g SET EXPRESSION AS (lower(login));
ALTER TABLE invoices ALTER COLUMN g SET EXPRESSION AS (CASE WHEN amount = 30 THEN 'x' END);
ALTER TABLE invoices ALTER COLUMN g SET EXPRESSION AS ((id + 100)::int4::text);
-- nothing changed
SELECT pg_get_expr(adbin, adrelid) AS expression FROM pg_attrdef
 WHERE adrelid = 's3h.invoices'::regclass;
SELECT id, login, g FROM invoices ORDER BY id;
-- the built-ins named with their schema, or the agent's schema off the
-- search_path: it runs
BEGIN;
ALTER TABLE invoices ALTER COLUMN g SET EXPRESSION AS (pg_catalog.lower(login));
ALTER TABLE invoices ALTER COLUMN g SET EXPRESSION AS (CASE WHEN amount OPERATOR(pg_catalog.=) 30 THEN 'x' END);
ALTER TABLE invoices ALTER COLUMN g SET EXPRESSION AS ((id + 100)::pg_catalog.int4::text);
SELECT id, login, g FROM invoices ORDER BY id;
ROLLBACK;
SET search_path = s3h;
BEGIN;
ALTER TABLE invoices ALTER COLUMN g SET EXPRESSION AS (lower(login));
SELECT id, login, g FROM invoices ORDER BY id;
ROLLBACK;
\c "dbname=contrib_regression user=regress_su options="
SET client_min_messages = warning;
DROP SCHEMA s3b CASCADE;
DROP SCHEMA s3h CASCADE;
DROP ROLE regress_s3_human;
\else
\echo SET EXPRESSION: PostgreSQL 17 and later
\endif
