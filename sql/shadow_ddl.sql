--
-- shadow_ddl: an agent's shadow of a built-in, chosen by an expression a
-- human's utility statement transforms itself (red team 16, F2).  Parse
-- analysis (agent_shadow) does not see them: ALTER COLUMN ... TYPE ...
-- USING, defaults, generated columns, CHECKs, domains, EXECUTE's
-- parameters, policies, indexes, triggers' WHEN, rules, statistics,
-- partition keys and bounds, COPY's WHERE, functions' parameter defaults
-- and BEGIN ATOMIC bodies, column and argument types.  Refused (YG004)
-- where the statement's text names the shadow without its schema; the
-- same statements with pg_catalog. names, or without the agent's schema
-- on the search_path, run; the agent's own DDL with its own functions
-- runs as before, and so does a human's DDL that only re-creates the
-- agent's stored expressions.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_sd_human LOGIN;
CREATE SCHEMA sdh AUTHORIZATION regress_sd_human;   -- the human's
CREATE SCHEMA sdb AUTHORIZATION regress_bot;         -- the agent's, on the human's search_path
GRANT USAGE ON SCHEMA sdh, sdb TO PUBLIC;

\c "dbname=contrib_regression user=regress_sd_human options="
CREATE TABLE sdh.invoices (id int PRIMARY KEY, amount numeric, login varchar(40));
INSERT INTO sdh.invoices SELECT g, g * 10, 'User' || g FROM generate_series(1, 10) g;
CREATE TABLE sdh.pt (l text) PARTITION BY LIST (l);
CREATE FUNCTION sdh.trg() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE DOMAIN sdh.dom AS varchar;
CREATE TABLE sdh.notes (id int, amount numeric);   -- not protected

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('sdh.invoices');

-- the agent's shadows: numeric = integer and lower(varchar), which
-- pg_catalog lacks (it casts), numeric % integer on a built-in function,
-- and a domain int4
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-sd-1"
CREATE FUNCTION sdb.num_int_eq(numeric, integer) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR sdb.= (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = sdb.num_int_eq);
CREATE OPERATOR sdb.% (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = pg_catalog.round);
CREATE FUNCTION sdb.lower(varchar) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'agent-was-here'$$;
CREATE DOMAIN sdb.int4 AS integer CHECK (VALUE > 100);
-- its own DDL on its own table with its own functions: its own code, as before
SET search_path = sdb, public;
CREATE TABLE sdb.at (id int, v varchar(20) DEFAULT lower('A'::varchar), n numeric,
                     CHECK (lower(v) <> 'x'), CHECK (CASE n WHEN 3 THEN true ELSE true END));
INSERT INTO sdb.at (id, v, n) VALUES (1, 'B', 7);
CREATE INDEX at_lower ON sdb.at (lower(v));
ALTER TABLE sdb.at ADD COLUMN g text GENERATED ALWAYS AS (lower(v)) STORED;
ALTER TABLE sdb.at ALTER COLUMN n TYPE numeric USING n % 2;
ALTER TABLE sdb.at ADD CONSTRAINT at_n CHECK (n = 7 OR n IS NOT NULL);
CREATE STATISTICS sdb.at_st ON (lower(v)) FROM sdb.at;
PREPARE agent_p(text) AS SELECT $1;
EXECUTE agent_p(lower('Q'::varchar));
SELECT id, v, n, g FROM sdb.at;
GRANT SELECT, INSERT ON sdb.at TO PUBLIC;

-- the human, the agent's schema on the search_path (as public would be)
\c "dbname=contrib_regression user=regress_sd_human options=-csearch_path=sdh,sdb"
PREPARE ptext(text) AS SELECT $1 AS p;
PREPARE pbool(boolean) AS SELECT $1 AS p;
-- refused: expressions evaluated by the statement itself
ALTER TABLE invoices ALTER COLUMN login TYPE text USING lower(login);
ALTER TABLE invoices ALTER COLUMN amount TYPE numeric USING amount % 7;
ALTER TABLE invoices ADD COLUMN d text DEFAULT lower('X'::varchar);
EXECUTE ptext(lower('X'::varchar));
EXECUTE pbool(1::numeric = 1);
CREATE TABLE sdh.pt_a PARTITION OF sdh.pt FOR VALUES IN (lower('A'::varchar));
ALTER TABLE sdh.pt ATTACH PARTITION sdh.invoices FOR VALUES IN (lower('A'::varchar));
COPY notes FROM stdin WHERE amount = 110;
11	110
12	120
\.
-- refused: expressions the statement stores
ALTER TABLE invoices ADD COLUMN g text GENERATED ALWAYS AS (lower(login)) STORED;
ALTER TABLE invoices ALTER COLUMN login SET DEFAULT lower('X'::varchar);
ALTER TABLE invoices ADD CONSTRAINT c_eq CHECK (amount = 30 OR amount > 0);
ALTER TABLE invoices ADD CONSTRAINT c_case CHECK (CASE amount WHEN 5 THEN false ELSE true END) NOT VALID;
ALTER TABLE invoices ADD CONSTRAINT c_lower CHECK (lower(login) <> '') NOT VALID;
CREATE TABLE sdh.t_def (x varchar DEFAULT lower('x'::varchar));
CREATE TABLE sdh.t_chk (x varchar CHECK (lower(x) <> ''));
CREATE TABLE sdh.t_part (l varchar) PARTITION BY LIST (lower(l));
CREATE DOMAIN sdh.d_chk AS varchar CHECK (lower(VALUE) <> '');
CREATE DOMAIN sdh.d_def AS text DEFAULT lower('x'::varchar);
ALTER DOMAIN sdh.dom ADD CONSTRAINT dom_c CHECK (lower(VALUE) <> '');
ALTER DOMAIN sdh.dom SET DEFAULT lower('x'::varchar);
CREATE POLICY pol ON invoices USING (lower(login) <> '');
CREATE POLICY pol ON invoices FOR INSERT WITH CHECK (amount = 30);
CREATE INDEX inv_lower ON invoices (lower(login));
CREATE INDEX inv_part ON invoices (id) WHERE amount = 30;
ALTER TABLE invoices ADD CONSTRAINT inv_excl EXCLUDE USING btree ((lower(login)) WITH =);
CREATE TRIGGER trg BEFORE UPDATE ON invoices FOR EACH ROW
  WHEN (lower(NEW.login) <> '') EXECUTE FUNCTION sdh.trg();
CREATE RULE r AS ON UPDATE TO invoices WHERE lower(NEW.login) = 'x' DO INSTEAD NOTHING;
CREATE RULE r AS ON UPDATE TO invoices DO ALSO DELETE FROM invoices WHERE amount = 30;
CREATE STATISTICS sdh.st ON (lower(login)) FROM invoices;
CREATE FUNCTION sdh.f_def(x text DEFAULT lower('x'::varchar)) RETURNS text LANGUAGE sql AS 'SELECT x';
CREATE FUNCTION sdh.f_atomic(x varchar) RETURNS text LANGUAGE sql BEGIN ATOMIC SELECT lower(x); END;
CREATE FUNCTION sdh.f_atomic(x numeric) RETURNS boolean LANGUAGE sql BEGIN ATOMIC SELECT x = 30; END;
CREATE OPERATOR sdh.### (RIGHTARG = varchar, FUNCTION = lower);
/* comments and strings name nothing: */ CREATE INDEX inv_c ON invoices (lower(login)) -- 'pg_catalog.lower'
;
-- a type matches exactly: the agent's int4 where its schema comes first
SET search_path = sdh, sdb, pg_catalog;
CREATE TABLE sdh.t_int (x int4);
ALTER TABLE invoices ALTER COLUMN id TYPE int4[] USING ARRAY[id];
CREATE FUNCTION sdh.f_int(x int4) RETURNS int LANGUAGE sql AS 'SELECT 1';
ALTER TABLE invoices ADD COLUMN k int DEFAULT '200'::int4;
SET search_path = sdh, sdb;
-- in a transaction block, a DO block's EXECUTE, a human's function: the same
BEGIN;
CREATE INDEX inv_lower ON invoices (lower(login));
ROLLBACK;
\set SHOW_CONTEXT never
DO $$BEGIN EXECUTE 'CREATE INDEX inv_lower ON invoices (lower(login))'; END$$;
CREATE FUNCTION sdh.mk() RETURNS void LANGUAGE plpgsql AS
  $$BEGIN ALTER TABLE invoices ALTER COLUMN login TYPE text USING lower(login); END$$;
SELECT sdh.mk();
\set SHOW_CONTEXT errors
CREATE INDEX CONCURRENTLY inv_lower ON invoices (lower(login));
-- nothing changed: data, columns, defaults, constraints, indexes, policies,
-- triggers, rules, statistics, partitions, domains, functions
SELECT count(*) AS invoices, sum(amount) AS amount,
       count(*) FILTER (WHERE login LIKE 'User%') AS logins FROM invoices;
SELECT count(*) AS notes FROM notes;
SELECT attname, format_type(atttypid, atttypmod) AS type, atthasdef
  FROM pg_attribute WHERE attrelid = 'sdh.invoices'::regclass AND attnum > 0 AND NOT attisdropped
 ORDER BY attnum;
SELECT (SELECT count(*) FROM pg_constraint WHERE conrelid = 'sdh.invoices'::regclass AND contype <> 'n') AS constraints,
       (SELECT count(*) FROM pg_index WHERE indrelid = 'sdh.invoices'::regclass) AS indexes,
       (SELECT count(*) FROM pg_policy WHERE polrelid = 'sdh.invoices'::regclass) AS policies,
       (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'sdh.invoices'::regclass AND NOT tgisinternal) AS triggers,
       (SELECT count(*) FROM pg_rewrite WHERE ev_class = 'sdh.invoices'::regclass) AS rules,
       (SELECT count(*) FROM pg_statistic_ext WHERE stxrelid = 'sdh.invoices'::regclass) AS stats,
       (SELECT count(*) FROM pg_inherits WHERE inhparent = 'sdh.pt'::regclass) AS partitions,
       (SELECT count(*) FROM pg_class WHERE relnamespace = 'sdh'::regnamespace AND relname LIKE 't\_%') AS tables,
       (SELECT count(*) FROM pg_type WHERE typnamespace = 'sdh'::regnamespace AND typname LIKE 'd\_%') AS domains,
       (SELECT count(*) FROM pg_proc WHERE pronamespace = 'sdh'::regnamespace AND proname LIKE 'f\_%') AS functions,
       (SELECT count(*) FROM pg_operator WHERE oprnamespace = 'sdh'::regnamespace) AS operators,
       (SELECT count(*) FROM pg_constraint WHERE contypid = 'sdh.dom'::regtype) AS dom_constraints,
       (SELECT typdefault IS NULL FROM pg_type WHERE oid = 'sdh.dom'::regtype) AS dom_no_default;

-- the built-ins named with their schema: every statement runs
ALTER TABLE invoices ALTER COLUMN login TYPE text USING pg_catalog.lower(login);
ALTER TABLE invoices ALTER COLUMN amount TYPE numeric USING amount OPERATOR(pg_catalog.%) 1000;
ALTER TABLE invoices ALTER COLUMN login TYPE varchar(40);
EXECUTE ptext(pg_catalog.lower('X'::varchar));
EXECUTE pbool(1::numeric OPERATOR(pg_catalog.=) 1);
CREATE TABLE sdh.pt_a PARTITION OF sdh.pt FOR VALUES IN (pg_catalog.lower('A'::varchar));
BEGIN;
ALTER TABLE invoices ADD COLUMN d text DEFAULT pg_catalog.lower('X'::varchar);
ALTER TABLE invoices ADD COLUMN g text GENERATED ALWAYS AS (pg_catalog.lower(login)) STORED;
ALTER TABLE invoices ALTER COLUMN login SET DEFAULT pg_catalog.lower('X'::varchar);
ALTER TABLE invoices ADD CONSTRAINT c_eq CHECK (amount OPERATOR(pg_catalog.=) 30 OR amount > 0);
ALTER TABLE invoices ADD CONSTRAINT c_case CHECK (CASE amount WHEN 5::numeric THEN false ELSE true END);
CREATE TABLE sdh.t_part (l varchar) PARTITION BY LIST (pg_catalog.lower(l));
CREATE DOMAIN sdh.d_chk AS varchar CHECK (pg_catalog.lower(VALUE) <> '');
ALTER DOMAIN sdh.dom ADD CONSTRAINT dom_c CHECK (pg_catalog.lower(VALUE) <> '');
CREATE POLICY pol ON invoices USING (pg_catalog.lower(login) <> '');
CREATE INDEX inv_lower ON invoices (pg_catalog.lower(login));
CREATE INDEX inv_part ON invoices (id) WHERE amount OPERATOR(pg_catalog.=) 30;
CREATE TRIGGER trg BEFORE UPDATE ON invoices FOR EACH ROW
  WHEN (pg_catalog.lower(NEW.login) <> '') EXECUTE FUNCTION sdh.trg();
CREATE RULE r AS ON UPDATE TO invoices WHERE pg_catalog.lower(NEW.login) = 'x' DO INSTEAD NOTHING;
CREATE STATISTICS sdh.st ON (pg_catalog.lower(login)) FROM invoices;
CREATE FUNCTION sdh.f_atomic(x varchar) RETURNS text LANGUAGE sql BEGIN ATOMIC SELECT pg_catalog.lower(x); END;
SET LOCAL search_path = sdh, sdb, pg_catalog;
CREATE TABLE sdh.t_int (x pg_catalog.int4, y integer);
ROLLBACK;
COPY notes FROM stdin WHERE amount OPERATOR(pg_catalog.=) 110;
11	110
12	120
\.
SELECT * FROM notes;
-- the agent's function named with its schema: the human's choice
ALTER TABLE invoices ADD COLUMN named text DEFAULT sdb.lower('X'::varchar);
ALTER TABLE invoices DROP COLUMN named;
-- without the agent's schema on the search_path, the same statements run
SET search_path = sdh;
BEGIN;
ALTER TABLE invoices ADD CONSTRAINT c_eq CHECK (amount = 30 OR amount > 0);
CREATE INDEX inv_lower ON invoices (lower(login));
EXECUTE pbool(1::numeric = 1);
ROLLBACK;

-- a human's DDL that re-creates the agent's stored expressions (its
-- CHECKs n = 7 and CASE n WHEN 3) names no shadow: it runs, and the
-- agent's default still runs in a human's COPY into the agent's table
\c "dbname=contrib_regression user=regress_su options=-csearch_path=sdh,sdb"
ALTER TABLE sdb.at ALTER COLUMN n TYPE numeric(12,2);
SELECT count(*) AS recreated FROM pg_depend d JOIN pg_constraint c ON c.oid = d.objid
 WHERE d.classid = 'pg_constraint'::regclass AND c.conrelid = 'sdb.at'::regclass
   AND d.refobjid = 'sdb.=(numeric,integer)'::regoperator;
COPY sdb.at (id, n) FROM stdin;
2	7
\.
SELECT id, v, n, g FROM sdb.at ORDER BY id;
-- a superuser's statement naming the shadow: refused the same way
ALTER TABLE sdb.at ADD CONSTRAINT su_c CHECK (lower(v) <> 'y');

SET client_min_messages = warning;
DEALLOCATE ALL;
DROP SCHEMA sdb CASCADE;
DROP SCHEMA sdh CASCADE;
DROP ROLE regress_sd_human;
