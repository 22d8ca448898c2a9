--
-- rt34_tagolder: red team 34, F9, F7 and F11.  In a transaction that a
-- shared role tags with SET LOCAL agent_guard.agent_id:
-- F9: a function callable with one argument and named like a type or
-- domain made before the transaction (any schema) is refused (YG004, on
-- record) when created, renamed or moved: the humans' function-style cast
-- mood(x) would call it instead, with their rights.
-- F7: ALTER VIEW ... SET/RESET (check_option, security_barrier,
-- security_invoker) and ALTER VIEW ... ALTER COLUMN ... SET/DROP DEFAULT of
-- a view made before the transaction are refused (YG004, on record), as
-- CREATE OR REPLACE VIEW is.
-- F11: what undoes or changes the humans' older structure is refused
-- (YG004, on record): DROP TRIGGER, DROP RULE, DROP CONSTRAINT, ALTER
-- CONSTRAINT, DROP NOT NULL, SET/DROP DEFAULT, DROP EXPRESSION, identity
-- changes, DISABLE RULE, REPLICA IDENTITY, SET UNLOGGED, NO INHERIT, DETACH
-- PARTITION, NOT OF, DROP INDEX of a unique index, renaming a column,
-- constraint or rule, ALTER DOMAIN ... DROP CONSTRAINT/DEFAULT/NOT NULL,
-- ALTER TYPE ... RENAME VALUE.
-- Allowed: what adds to the humans' tables, what only changes storage, and
-- everything on what the transaction made itself.  From the humans' side:
-- the role untagged may do all of it.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1020000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r34o AUTHORIZATION regress_tagged;
CREATE SCHEMA r34x AUTHORIZATION regress_tagged;

-- the humans' objects, made by the shared role untagged
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
CREATE TABLE r34o.ord (id int PRIMARY KEY, cust int, amount int);
INSERT INTO r34o.ord SELECT g, g, g FROM generate_series(1, 5) g;
CREATE VIEW r34o.big AS SELECT id, cust, amount FROM r34o.ord WHERE amount > 0;
CREATE TYPE r34o.mood AS ENUM ('ok', 'bad');
CREATE DOMAIN r34o.posint AS int NOT NULL DEFAULT 1 CONSTRAINT pos CHECK (VALUE > 0);
CREATE TABLE r34o.audit (what text);
CREATE FUNCTION r34o.audit_fn() RETURNS trigger LANGUAGE plpgsql
  AS $$ BEGIN INSERT INTO r34o.audit VALUES (TG_TABLE_NAME || ' ' || TG_OP); RETURN NULL; END $$;
CREATE TABLE r34o.fb (id int PRIMARY KEY, m text DEFAULT 'ok' CONSTRAINT m_ok CHECK (m IN ('ok', 'bad')),
  n int NOT NULL DEFAULT 0, g int GENERATED ALWAYS AS (id * 2) STORED,
  k int GENERATED ALWAYS AS IDENTITY, u int, p r34o.posint);
INSERT INTO r34o.fb (id, m) VALUES (1, 'ok');
CREATE INDEX fb_n ON r34o.fb (n);
CREATE UNIQUE INDEX fb_u ON r34o.fb (u);
CREATE TABLE r34o.line (id int, fb int CONSTRAINT line_fb REFERENCES r34o.fb);
CREATE TRIGGER audit AFTER INSERT OR DELETE ON r34o.fb FOR EACH ROW EXECUTE FUNCTION r34o.audit_fn();
CREATE RULE fb_log AS ON DELETE TO r34o.fb DO ALSO INSERT INTO r34o.audit VALUES ('fb rule');
CREATE TABLE r34o.base (id int);
CREATE TABLE r34o.kid () INHERITS (r34o.base);
CREATE TABLE r34o.parts (id int) PARTITION BY RANGE (id);
CREATE TABLE r34o.parts_1 PARTITION OF r34o.parts FOR VALUES FROM (0) TO (100);
CREATE TYPE r34o.pair AS (a int, b int);
CREATE TABLE r34o.typed OF r34o.pair;
CREATE FUNCTION r34o.moods() RETURNS SETOF r34o.mood LANGUAGE plpgsql
  AS $$ BEGIN RETURN QUERY SELECT r34o.mood(m) FROM r34o.fb; END $$;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('r34o.ord') AS ord;

\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
-- F9, the finding: one message in full
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE FUNCTION r34o.mood(text) RETURNS r34o.mood LANGUAGE plpgsql
  AS $$ BEGIN DELETE FROM r34o.ord WHERE id = 2; RETURN $1::r34o.mood; END $$;
ROLLBACK;
\set VERBOSITY sqlstate
-- error: YG004 each, in any schema, with a defaulted second argument, a domain's name, a table's row type
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE FUNCTION r34x.mood(text) RETURNS text LANGUAGE sql AS 'SELECT $1';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE FUNCTION r34x.mood(text, int DEFAULT 0) RETURNS text LANGUAGE sql AS 'SELECT $1';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE FUNCTION r34x.posint(int) RETURNS int LANGUAGE sql AS 'SELECT $1';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE FUNCTION r34x.fb(text) RETURNS int LANGUAGE sql AS 'SELECT 1';
ROLLBACK;
-- error: YG004, renamed to the type's name, and through dynamic SQL
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE FUNCTION r34x.own(text) RETURNS text LANGUAGE sql AS 'SELECT $1';
ALTER FUNCTION r34x.own(text) RENAME TO mood;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
DO $$ BEGIN EXECUTE 'CREATE FUNCTION r34x.mood(text) RETURNS text LANGUAGE sql AS ''SELECT $1'''; END $$;
ROLLBACK;
-- allowed: two required arguments, a procedure, a type the transaction made
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE FUNCTION r34x.mood(text, int) RETURNS text LANGUAGE sql AS 'SELECT $1';
CREATE PROCEDURE r34x.posint(int) LANGUAGE sql AS 'SELECT 1';
CREATE TYPE r34x.fresh AS ENUM ('a');
CREATE FUNCTION r34x.fresh(text) RETURNS r34x.fresh LANGUAGE sql AS 'SELECT $1::r34x.fresh';
CREATE FUNCTION r34x.own(text) RETURNS text LANGUAGE sql AS 'SELECT $1';
ALTER FUNCTION r34x.own(text) RENAME TO fresh2;
SELECT r34x.fresh('a') AS fresh;
ROLLBACK;
\set VERBOSITY default

-- F7, the finding: one message in full
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER VIEW r34o.big SET (check_option = local);
ROLLBACK;
\set VERBOSITY sqlstate
-- error: YG004 each
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER VIEW r34o.big SET (security_barrier = true);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34o.big SET (security_invoker = true);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER VIEW r34o.big RESET (check_option);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER VIEW r34o.big ALTER COLUMN amount SET DEFAULT 7;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER VIEW r34o.big ALTER COLUMN amount DROP DEFAULT;
ROLLBACK;
-- allowed: the transaction's own view
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE VIEW r34x.mine AS SELECT id, amount FROM r34o.ord WHERE amount > 3;
ALTER VIEW r34x.mine SET (check_option = local, security_barrier = true);
ALTER VIEW r34x.mine ALTER COLUMN amount SET DEFAULT 9;
ALTER VIEW r34x.mine RESET (security_barrier);
SELECT count(*) AS mine FROM r34x.mine;
ROLLBACK;
\set VERBOSITY default

-- F11, the finding: one message in full
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
DROP TRIGGER audit ON r34o.fb;
ROLLBACK;
\set VERBOSITY sqlstate
-- error: YG004 each
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
DROP RULE fb_log ON r34o.fb;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34o.fb DROP CONSTRAINT m_ok;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34o.line ALTER CONSTRAINT line_fb DEFERRABLE INITIALLY DEFERRED;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34o.fb ALTER COLUMN n DROP NOT NULL;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34o.fb ALTER COLUMN m DROP DEFAULT;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34o.fb ALTER COLUMN m SET DEFAULT 'bad';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34o.fb ALTER COLUMN g DROP EXPRESSION;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34o.fb ALTER COLUMN k DROP IDENTITY;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34o.fb ALTER COLUMN k SET GENERATED BY DEFAULT;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34o.fb DISABLE RULE fb_log;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34o.fb REPLICA IDENTITY FULL;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34o.audit SET UNLOGGED;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34o.kid NO INHERIT r34o.base;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34o.parts DETACH PARTITION r34o.parts_1;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34o.typed NOT OF;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
DROP INDEX r34o.fb_u;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34o.fb RENAME COLUMN m TO m2;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34o.fb RENAME CONSTRAINT m_ok TO m_ok2;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER RULE fb_log ON r34o.fb RENAME TO a_first;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER DOMAIN r34o.posint DROP CONSTRAINT pos;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER DOMAIN r34o.posint DROP DEFAULT;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER DOMAIN r34o.posint DROP NOT NULL;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TYPE r34o.mood RENAME VALUE 'ok' TO 'fine';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
DO $$ BEGIN EXECUTE 'DROP TRIGGER audit ON r34o.fb'; END $$;
ROLLBACK;
-- allowed on the humans' tables: a plain column, what changes storage alone
-- (a constraint, an index, a domain's constraint: refused since red team 35,
-- F9, regress rt35_tagrights)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34o.fb ADD COLUMN note text DEFAULT 'x';
ALTER TABLE r34o.fb SET (fillfactor = 90);
ALTER TABLE r34o.fb ALTER COLUMN n SET STATISTICS 200;
DROP INDEX r34o.fb_n;
ALTER TYPE r34o.mood ADD VALUE 'meh';
ROLLBACK;
-- allowed: all of it on what the transaction made itself
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE TABLE r34x.t (id int PRIMARY KEY, m text DEFAULT 'a' CONSTRAINT c CHECK (m <> ''), n int NOT NULL,
  g int GENERATED ALWAYS AS (id) STORED, k int GENERATED ALWAYS AS IDENTITY);
CREATE TRIGGER sup BEFORE UPDATE ON r34x.t FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
CREATE RULE r AS ON DELETE TO r34x.t DO ALSO NOTHING;
CREATE UNIQUE INDEX t_n ON r34x.t (n);
ALTER TABLE r34x.t DISABLE RULE r;
ALTER RULE r ON r34x.t RENAME TO r2;
DROP RULE r2 ON r34x.t;
DROP TRIGGER sup ON r34x.t;
ALTER TABLE r34x.t DROP CONSTRAINT c, ALTER COLUMN n DROP NOT NULL, ALTER COLUMN m DROP DEFAULT,
  ALTER COLUMN g DROP EXPRESSION, ALTER COLUMN k DROP IDENTITY, REPLICA IDENTITY FULL;
ALTER TABLE r34x.t RENAME COLUMN m TO m2;
DROP INDEX r34x.t_n;
CREATE DOMAIN r34x.d AS int DEFAULT 1 CONSTRAINT c CHECK (VALUE > 0);
ALTER DOMAIN r34x.d DROP CONSTRAINT c;
ALTER DOMAIN r34x.d DROP DEFAULT;
CREATE TYPE r34x.e AS ENUM ('a');
ALTER TYPE r34x.e RENAME VALUE 'a' TO 'b';
ROLLBACK;
\set VERBOSITY default

-- the humans' objects intact, their cast and their view's insert work
SELECT r34o.moods() AS moods, r34o.mood('bad'::text) AS cast_call,
       to_regprocedure('r34o.mood(text)') IS NULL AS no_fn, to_regprocedure('r34x.mood(text)') IS NULL AS no_fn_x;
INSERT INTO r34o.big VALUES (6, 6, 0);
SELECT count(*) AS ord_rows FROM r34o.ord;
SELECT (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'r34o.fb'::regclass AND tgname = 'audit') AS trig,
       (SELECT count(*) FROM pg_rewrite WHERE ev_class = 'r34o.fb'::regclass AND rulename = 'fb_log' AND ev_enabled = 'O') AS rule,
       (SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint
         WHERE conrelid IN ('r34o.fb'::regclass, 'r34o.line'::regclass) AND contype IN ('c', 'f', 'u') AND NOT condeferrable) AS cons,
       (SELECT attnotnull FROM pg_attribute WHERE attrelid = 'r34o.fb'::regclass AND attname = 'n') AS n_notnull,
       (SELECT attidentity::text || attgenerated::text FROM pg_attribute WHERE attrelid = 'r34o.fb'::regclass AND attname IN ('k')) AS k_ident,
       (SELECT attgenerated FROM pg_attribute WHERE attrelid = 'r34o.fb'::regclass AND attname = 'g') AS g_gen,
       (SELECT count(*) FROM pg_attrdef WHERE adrelid = 'r34o.fb'::regclass) AS defaults,
       (SELECT relreplident::text || relpersistence::text FROM pg_class WHERE oid = 'r34o.fb'::regclass) AS ident,
       (SELECT relpersistence FROM pg_class WHERE oid = 'r34o.audit'::regclass) AS audit_logged,
       (SELECT count(*) FROM pg_inherits WHERE inhparent IN ('r34o.base'::regclass, 'r34o.parts'::regclass)) AS children,
       (SELECT reloftype <> 0 FROM pg_class WHERE oid = 'r34o.typed'::regclass) AS typed,
       (SELECT reloptions FROM pg_class WHERE oid = 'r34o.big'::regclass) AS view_opts,
       to_regclass('r34o.fb_u') IS NOT NULL AS uniq,
       (SELECT typnotnull FROM pg_type WHERE oid = 'r34o.posint'::regtype) AS dom_nn,
       (SELECT typdefault FROM pg_type WHERE oid = 'r34o.posint'::regtype) AS dom_def,
       (SELECT count(*) FROM pg_constraint WHERE contypid = 'r34o.posint'::regtype AND contype = 'c') AS dom_chk,
       (SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = 'r34o.mood'::regtype) AS labels;
DELETE FROM r34o.fb WHERE id = 1;
SELECT what FROM r34o.audit ORDER BY what;

-- the humans' side: the same role untagged may do all of it
CREATE FUNCTION r34x.mood(text) RETURNS text LANGUAGE sql AS 'SELECT ''human''';
ALTER VIEW r34o.big SET (check_option = local, security_barrier = true);
ALTER VIEW r34o.big ALTER COLUMN amount SET DEFAULT 7;
DROP TRIGGER audit ON r34o.fb;
DROP RULE fb_log ON r34o.fb;
ALTER TABLE r34o.fb DROP CONSTRAINT m_ok, ALTER COLUMN n DROP NOT NULL, ALTER COLUMN m DROP DEFAULT,
  ALTER COLUMN g DROP EXPRESSION, ALTER COLUMN k DROP IDENTITY, REPLICA IDENTITY FULL;
ALTER TABLE r34o.line ALTER CONSTRAINT line_fb DEFERRABLE;
ALTER TABLE r34o.audit SET UNLOGGED;
ALTER TABLE r34o.kid NO INHERIT r34o.base;
ALTER TABLE r34o.parts DETACH PARTITION r34o.parts_1;
ALTER TABLE r34o.typed NOT OF;
ALTER TABLE r34o.fb RENAME COLUMN m TO m2;
DROP INDEX r34o.fb_u;
ALTER DOMAIN r34o.posint DROP CONSTRAINT pos;
ALTER TYPE r34o.mood RENAME VALUE 'ok' TO 'fine';
SELECT r34x.mood('x') AS human_fn, (SELECT reloptions FROM pg_class WHERE oid = 'r34o.big'::regclass) AS view_opts,
       (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'r34o.fb'::regclass AND NOT tgisinternal) AS trig;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- on record
SELECT agent_guard._flush_requests();
SELECT request_id, agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r34o.ord') AS ord;
DROP SCHEMA r34o, r34x CASCADE;
