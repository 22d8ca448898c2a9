--
-- shadow_ddl2: what shadow_ddl left open (red team 16, F2, continued).
-- An agent's type that shadows a built-in one, named only in what a
-- human's utility statement evaluates (a cast, a cast's function,
-- PREPARE's parameters); its collation after COLLATE; its operator class
-- in an index; CREATE TABLE ... (LIKE t INCLUDING ...), INHERITS,
-- PARTITION OF and ATTACH PARTITION, which copy what uses its shadows
-- into the human's table without naming it; and the false refusal of a
-- name alone beside a shadow reached another way (a schema-qualified
-- name, re-created code).
-- Types, collations and operator classes match by name exactly, so only
-- a search_path that lists the agent's schema before pg_catalog reaches
-- them.  Conversions run no agent's code (a conversion function takes
-- internal arguments: C only, superusers only) and are not judged.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_s2_human LOGIN;
CREATE SCHEMA s2h AUTHORIZATION regress_s2_human;   -- the human's
CREATE SCHEMA s2b AUTHORIZATION regress_bot;         -- the agent's, on the human's search_path
GRANT USAGE ON SCHEMA s2h, s2b TO PUBLIC;

\c "dbname=contrib_regression user=regress_s2_human options="
CREATE TABLE s2h.invoices (id int PRIMARY KEY, amount numeric, login varchar(40));
INSERT INTO s2h.invoices SELECT g, g * 10, 'User' || g FROM generate_series(1, 10) g;
CREATE TABLE s2h.notes (id int, t text);   -- not protected
INSERT INTO s2h.notes VALUES (1, 'yes'), (2, 'no');

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('s2h.invoices');

-- the agent's shadows: a domain int4 (CHECK VALUE > 100), an enum bool
-- with a cast from text by its own function, a collation "C" that is
-- case-insensitive, lower(varchar) and numeric = integer; tables whose
-- defaults, CHECKs and indexes use them, and one that uses only its
-- functions that shadow nothing
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-s2-1"
CREATE DOMAIN s2b.int4 AS integer CHECK (VALUE > 100);
CREATE TYPE s2b.bool AS ENUM ('t', 'f');
CREATE FUNCTION s2b.to_bool(text) RETURNS s2b.bool LANGUAGE sql IMMUTABLE AS $$SELECT 'f'::s2b.bool$$;
CREATE CAST (text AS s2b.bool) WITH FUNCTION s2b.to_bool(text);
CREATE COLLATION s2b."C" (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE FUNCTION s2b.lower(varchar) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'agent-was-here'$$;
CREATE FUNCTION s2b.num_int_eq(numeric, integer) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR s2b.= (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = s2b.num_int_eq);
CREATE FUNCTION s2b.stamp() RETURNS text LANGUAGE sql STABLE AS $$SELECT 'agent-stamp'$$;
CREATE FUNCTION s2b.cmp(text, text) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 0';
SET search_path = s2b, pg_catalog;
CREATE TABLE s2b.src (id int, v varchar(20) DEFAULT lower('A'::varchar), n numeric CHECK (n = 7));
CREATE INDEX src_lower ON s2b.src (lower(v));
CREATE TABLE s2b.plain (id int, v text DEFAULT s2b.stamp() CHECK (v <> ''));
CREATE TABLE s2b.parts (l varchar, v varchar DEFAULT lower('A'::varchar)) PARTITION BY LIST (l);
CREATE INDEX parts_lower ON s2b.parts (lower(v));
GRANT SELECT ON s2b.src, s2b.plain TO PUBLIC;
-- its own utility statements with its own shadows: its own code, as before
PREPARE agent_p(int4) AS SELECT $1 AS p;
EXECUTE agent_p('500'::int4);
-- an operator class is a superuser's to create; a conversion's function
-- takes internal arguments, which no language of a non-superuser allows
CREATE OPERATOR CLASS s2b.text_ops FOR TYPE text USING btree AS
  OPERATOR 1 pg_catalog.<, OPERATOR 3 pg_catalog.=, FUNCTION 1 s2b.cmp(text, text);
CREATE FUNCTION s2b.conv(integer, integer, cstring, internal, integer, boolean)
  RETURNS integer LANGUAGE sql AS 'SELECT 0';
RESET search_path;

-- an operator class a superuser made with the agent's function and gave
-- to the agent, which renames it as pg_catalog's text_ops
\c "dbname=contrib_regression user=regress_su options="
CREATE OPERATOR CLASS s2b.agent_ops FOR TYPE text USING btree AS
  OPERATOR 1 pg_catalog.<, OPERATOR 2 pg_catalog.<=, OPERATOR 3 pg_catalog.=,
  OPERATOR 4 pg_catalog.>=, OPERATOR 5 pg_catalog.>, FUNCTION 1 s2b.cmp(text, text);
ALTER OPERATOR CLASS s2b.agent_ops USING btree OWNER TO regress_bot;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-s2-1"
ALTER OPERATOR CLASS s2b.agent_ops USING btree RENAME TO text_ops;

-- the human, the agent's schema before pg_catalog on the search_path
\c "dbname=contrib_regression user=regress_s2_human options=-csearch_path=s2h,s2b,pg_catalog"
PREPARE pint(integer) AS SELECT $1 AS p;
PREPARE ptext(text) AS SELECT $1 AS p;
-- refused: a type shadow only evaluated, a cast's function, PREPARE's types
ALTER TABLE invoices ALTER COLUMN id TYPE integer USING id::int4;
ALTER TABLE invoices ALTER COLUMN id TYPE integer USING CAST(id AS int4);
ALTER TABLE invoices ALTER COLUMN id TYPE integer USING int4 '500';
EXECUTE pint('500'::int4);
ALTER TABLE notes ALTER COLUMN t TYPE text USING t::bool::text;
EXECUTE ptext('yes'::bool::text);
PREPARE pdom(int4) AS SELECT $1 AS p;
-- refused: the agent's collation after COLLATE
CREATE UNIQUE INDEX inv_login ON invoices (login COLLATE "C");
ALTER TABLE notes ALTER COLUMN t TYPE text COLLATE "C";
ALTER TABLE notes ADD COLUMN u text COLLATE "C";
EXECUTE ptext('a' COLLATE "C");
-- refused: the agent's operator class
CREATE INDEX inv_ops ON invoices (login text_ops);
ALTER TABLE notes ADD CONSTRAINT notes_u UNIQUE (t);   -- its default opclass: runs
ALTER TABLE notes DROP CONSTRAINT notes_u;
CREATE INDEX notes_ops ON notes (t text_ops) WHERE id > 0;
-- nothing changed
SELECT id, amount, login FROM invoices ORDER BY id LIMIT 3;
SELECT * FROM notes ORDER BY id;
SELECT attrelid::regclass, attname, format_type(atttypid, atttypmod) AS type,
       attcollation::regcollation AS collation
  FROM pg_attribute WHERE attrelid IN ('s2h.invoices'::regclass, 's2h.notes'::regclass)
   AND attnum > 0 AND NOT attisdropped ORDER BY attrelid::regclass::text, attnum;
SELECT count(*) AS indexes FROM pg_index WHERE indrelid IN ('s2h.invoices'::regclass, 's2h.notes'::regclass);
SELECT count(*) AS prepared FROM pg_prepared_statements WHERE name = 'pdom';

-- the built-ins named with their schema, or by the grammar's own
-- keywords: every statement runs
BEGIN;
ALTER TABLE invoices ALTER COLUMN id TYPE integer USING id::pg_catalog.int4;
ALTER TABLE invoices ALTER COLUMN id TYPE integer USING id::integer;
EXECUTE pint('500'::pg_catalog.int4);
ALTER TABLE notes ALTER COLUMN t TYPE text USING t::pg_catalog.bool::text;
PREPARE pdom(pg_catalog.int4) AS SELECT $1 AS p;
CREATE UNIQUE INDEX inv_login ON invoices (login COLLATE pg_catalog."C");
ALTER TABLE notes ALTER COLUMN t TYPE text COLLATE pg_catalog."C";
CREATE INDEX inv_ops ON invoices (login pg_catalog.text_ops);
CREATE INDEX notes_ops ON notes (t pg_catalog.text_ops) WHERE id > 0;
SELECT * FROM notes ORDER BY id;
ROLLBACK;
-- the agent's objects named with their schema: the human's choice
BEGIN;
EXECUTE pint('500'::s2b.int4);
CREATE INDEX notes_ci ON notes (t COLLATE s2b."C");
ROLLBACK;
-- pg_catalog first (as when it is not listed): the same names reach the
-- built-ins and run
SET search_path = s2h, s2b;
BEGIN;
ALTER TABLE invoices ALTER COLUMN id TYPE integer USING id::int4;
EXECUTE pint('5'::int4);
ALTER TABLE notes ALTER COLUMN t TYPE text USING t::bool::text;
CREATE UNIQUE INDEX inv_login ON invoices (login COLLATE "C");
CREATE INDEX inv_ops ON invoices (login text_ops);
SELECT * FROM notes ORDER BY id;
ROLLBACK;

-- LIKE ... INCLUDING, INHERITS and PARTITION OF copy what uses the
-- agent's shadows (its lower(varchar) in a default and an index, its =
-- in a CHECK) into the human's table, whatever the search_path: refused
SET search_path = s2h;
CREATE TABLE s2h.c_all (LIKE s2b.src INCLUDING ALL);
CREATE TABLE s2h.c_def (LIKE s2b.src INCLUDING DEFAULTS);
CREATE TABLE s2h.c_chk (LIKE s2b.src INCLUDING CONSTRAINTS);
CREATE TABLE s2h.c_idx (LIKE s2b.src INCLUDING INDEXES);
SELECT count(*) AS copies FROM pg_class WHERE relnamespace = 's2h'::regnamespace AND relname LIKE 'c\_%';
-- what copies no shadow runs: the columns alone, or the agent's table
-- whose default uses only its own functions
BEGIN;
CREATE TABLE s2h.c_cols (LIKE s2b.src);
CREATE TABLE s2h.c_plain (LIKE s2b.plain INCLUDING ALL);
INSERT INTO s2h.c_plain (id) VALUES (1);
SELECT * FROM s2h.c_plain;
ROLLBACK;
-- INHERITS, PARTITION OF and ATTACH PARTITION (which clones the
-- parent's indexes into the partition) need the parent's owner or a
-- superuser
\c "dbname=contrib_regression user=regress_su options=-csearch_path=s2h"
CREATE TABLE s2h.c_inh () INHERITS (s2b.src);
CREATE TABLE s2h.c_part PARTITION OF s2b.parts FOR VALUES IN ('a');
CREATE TABLE s2h.lone (l varchar, v varchar);
ALTER TABLE s2b.parts ATTACH PARTITION s2h.lone FOR VALUES IN ('b');
SELECT count(*) AS copies FROM pg_class WHERE relnamespace = 's2h'::regnamespace AND relname LIKE 'c\_%';
SELECT count(*) AS lone_indexes, (SELECT count(*) FROM pg_inherits WHERE inhrelid = 's2h.lone'::regclass) AS attached
  FROM pg_index WHERE indrelid = 's2h.lone'::regclass;
BEGIN;
CREATE TABLE s2h.c_inh_plain () INHERITS (s2b.plain);
DROP INDEX s2b.parts_lower;
ALTER TABLE s2b.parts ATTACH PARTITION s2h.lone FOR VALUES IN ('b');
ROLLBACK;

-- a name alone beside the shadow reached another way: the agent's
-- lower(varchar) written with its schema while the schema is off the
-- search_path runs (no name alone can reach it) ...
\c "dbname=contrib_regression user=regress_s2_human options=-csearch_path=s2h"
PREPARE ptext(text) AS SELECT $1 AS p;
BEGIN;
ALTER TABLE invoices ADD CONSTRAINT named CHECK (s2b.lower(login) <> lower(login::text));
EXECUTE ptext(s2b.lower('X'::varchar) || lower('Y'));
ROLLBACK;
-- ... but with the schema on the search_path, lower(varchar) written
-- alone reaches it too: refused
SET search_path = s2h, s2b;
ALTER TABLE invoices ADD CONSTRAINT named CHECK (s2b.lower(login) <> lower(login));
EXECUTE ptext(s2b.lower('X'::varchar) || lower('Y'::varchar));
-- a human's DDL that re-creates the agent's CHECK (n = 7, its =) and
-- names = itself runs where the agent's schema is off the search_path ...
\c "dbname=contrib_regression user=regress_su options=-csearch_path=s2h"
BEGIN;
ALTER TABLE s2b.src ALTER COLUMN n TYPE numeric(12,2), ADD CONSTRAINT su_c CHECK (id = 1 OR id IS NULL);
SELECT count(*) AS recreated FROM pg_depend d JOIN pg_constraint c ON c.oid = d.objid
 WHERE d.classid = 'pg_constraint'::regclass AND c.conrelid = 's2b.src'::regclass
   AND d.refobjid = 's2b.=(numeric,integer)'::regoperator;
ROLLBACK;
-- ... and is refused where = written alone could have reached it (the
-- guard cannot tell which operator the text's = chose: over-approximated)
SET search_path = s2h, s2b;
ALTER TABLE s2b.src ALTER COLUMN n TYPE numeric(12,2), ADD CONSTRAINT su_c CHECK (id = 1 OR id IS NULL);
SELECT count(*) AS su_c FROM pg_constraint WHERE conname = 'su_c';

\c "dbname=contrib_regression user=regress_su options="
SET client_min_messages = warning;
DROP SCHEMA s2b CASCADE;
DROP SCHEMA s2h CASCADE;
DROP ROLE regress_s2_human;
