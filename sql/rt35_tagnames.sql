--
-- rt35_tagnames: red team 35, F3, F4, F6, F7, F11 and what was left over.
-- In a transaction that a shared role tags with SET LOCAL
-- agent_guard.agent_id, of the humans' objects made before it:
-- F4: an own function renamed to the name of an older function (the
-- overload rule, judged when created, not when renamed), an own operator
-- named like an older operator (any schema), or naming one as its
-- commutator or negator (PostgreSQL writes the link into theirs).
-- F3/F11: renaming, moving or giving away an older type, domain, composite
-- type, sequence, index, schema, operator, text search configuration is
-- refused (YG004, on record): their code finds it by name, and the agent's
-- object made next under that name would be used instead.  So is
-- PostgreSQL's own move of their array type _mood aside (CREATE TYPE _mood),
-- and completing their shell type.
-- F6: DROP of an older operator (CASCADE took their CHECK), text search
-- configuration or dictionary, domain, type, composite type, collation,
-- schema is refused; so is changing an older text search configuration.
-- F7: ALTER EXTENSION ... ADD/DROP of an older object is refused.
-- Allowed: all of it on what the transaction made itself.  From the humans'
-- side: the role untagged may do all of it.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1022000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r35n_s AUTHORIZATION regress_tagged;
CREATE SCHEMA r35n_x AUTHORIZATION regress_tagged;
CREATE ROLE r35n_other;
GRANT r35n_other TO regress_tagged;
GRANT CREATE ON SCHEMA r35n_s TO r35n_other;
GRANT CREATE ON DATABASE contrib_regression TO regress_tagged;
CREATE TYPE r35n_s.shelly;
ALTER TYPE r35n_s.shelly OWNER TO regress_tagged;

-- the humans' objects, made by the shared role untagged
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
CREATE SCHEMA r35n_e;
CREATE SCHEMA r35n_empty;
CREATE TYPE r35n_s.mood AS ENUM ('ok', 'bad');
CREATE FUNCTION r35n_s.price(int) RETURNS int LANGUAGE sql AS 'SELECT $1 * 2';
CREATE SEQUENCE r35n_s.seq;
CREATE TABLE r35n_s.ord (id int PRIMARY KEY DEFAULT nextval('r35n_s.seq'), amount int);
CREATE FUNCTION r35n_s.next_id() RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN RETURN nextval('r35n_s.seq'); END $$;
CREATE TYPE r35n_s.pair AS (a int, b int);
CREATE DOMAIN r35n_s.posint AS int CHECK (VALUE > 0);
CREATE FUNCTION r35n_s.f_eq(int, int) RETURNS bool LANGUAGE sql AS 'SELECT $1 = $2';
CREATE OPERATOR r35n_s.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = r35n_s.f_eq);
CREATE TABLE r35n_s.chk (a int, b int CONSTRAINT same CHECK (a OPERATOR(r35n_s.===) b));
CREATE TEXT SEARCH CONFIGURATION r35n_s.cfg (COPY = pg_catalog.simple);
CREATE TEXT SEARCH DICTIONARY r35n_s.dict (TEMPLATE = simple);
CREATE COLLATION r35n_s.coll FROM "C";
CREATE EXTENSION tsm_system_rows SCHEMA r35n_e;
INSERT INTO r35n_s.ord (amount) VALUES (10), (20);
INSERT INTO r35n_s.chk VALUES (1, 1);

-- F11, the finding: one message in full
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER SEQUENCE r35n_s.seq RENAME TO seq_old;
ROLLBACK;
\set VERBOSITY sqlstate
-- error: YG004 each: a sequence, a type, a domain, a composite type, an index, a schema renamed, moved or given away
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35n_s.seq RENAME TO seq_old;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER SEQUENCE r35n_s.seq SET SCHEMA r35n_x;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TYPE r35n_s.mood RENAME TO mood_old;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TYPE r35n_s.mood SET SCHEMA r35n_x;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TYPE r35n_s.mood OWNER TO r35n_other;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER DOMAIN r35n_s.posint RENAME TO posint_old;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER SEQUENCE r35n_s.seq OWNER TO r35n_other;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35n_s.ord OWNER TO r35n_other;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TYPE r35n_s.pair RENAME TO pair_old;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER INDEX r35n_s.ord_pkey RENAME TO ord_pkey_old;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER SCHEMA r35n_s RENAME TO r35n_old;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER SCHEMA r35n_empty OWNER TO r35n_other;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER OPERATOR r35n_s.=== (int, int) SET SCHEMA r35n_x;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TEXT SEARCH CONFIGURATION r35n_s.cfg RENAME TO cfg_old;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER COLLATION r35n_s.coll RENAME TO coll_old;
ROLLBACK;
-- error: YG004: their array type _mood moved aside by PostgreSQL for the agent's type, their shell type completed
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TYPE r35n_s._mood AS ENUM ('x');
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TYPE r35n_x.own AS ENUM ('x');
ALTER TYPE r35n_x.own SET SCHEMA r35n_s;
ALTER TYPE r35n_s.own RENAME TO _mood;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TYPE r35n_s.shelly AS RANGE (subtype = int);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
DO $$ BEGIN EXECUTE 'ALTER SEQUENCE r35n_s.seq RENAME TO seq_old'; END $$;
ROLLBACK;
\set VERBOSITY default

-- F4, the finding: one message in full
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE FUNCTION r35n_x.own(text) RETURNS int LANGUAGE sql AS 'SELECT 1';
ALTER FUNCTION r35n_x.own(text) RENAME TO price;
ROLLBACK;
\set VERBOSITY sqlstate
-- error: YG004: in the humans' schema, and an operator named like theirs in another schema
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE FUNCTION r35n_s.own(text) RETURNS int LANGUAGE sql AS 'SELECT 1';
ALTER FUNCTION r35n_s.own(text) RENAME TO price;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE OPERATOR r35n_x.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq);
ROLLBACK;
-- error: YG004: an own operator naming theirs as its commutator or negator (PostgreSQL links theirs back)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE OPERATOR r35n_x.=#= (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq, COMMUTATOR = OPERATOR(r35n_s.===));
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE OPERATOR r35n_x.<#> (LEFTARG = int, RIGHTARG = int, FUNCTION = int4ne, NEGATOR = OPERATOR(r35n_s.===));
ROLLBACK;
\set VERBOSITY default

-- F6, the finding: one message in full
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
DROP OPERATOR r35n_s.=== (int, int) CASCADE;
ROLLBACK;
\set VERBOSITY sqlstate
-- error: YG004 each
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
DROP TEXT SEARCH CONFIGURATION r35n_s.cfg;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TEXT SEARCH CONFIGURATION r35n_s.cfg ALTER MAPPING FOR asciiword WITH r35n_s.dict;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
DROP TEXT SEARCH DICTIONARY r35n_s.dict CASCADE;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
DROP DOMAIN r35n_s.posint;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
DROP TYPE r35n_s.mood;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
DROP TYPE r35n_s.pair;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
DROP COLLATION r35n_s.coll;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
DROP SCHEMA r35n_empty;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
DO $$ BEGIN EXECUTE 'DROP OPERATOR r35n_s.=== (int, int) CASCADE'; END $$;
ROLLBACK;
\set VERBOSITY default

-- F7, the finding: one message in full
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER EXTENSION tsm_system_rows ADD TABLE r35n_s.ord;
ROLLBACK;
\set VERBOSITY sqlstate
-- error: YG004 each
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER EXTENSION tsm_system_rows ADD FUNCTION r35n_s.price(int);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER EXTENSION tsm_system_rows ADD SEQUENCE r35n_s.seq;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER EXTENSION tsm_system_rows ADD TYPE r35n_s.mood;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER EXTENSION tsm_system_rows DROP FUNCTION r35n_e.system_rows(internal);
ROLLBACK;

-- allowed: all of it on what the transaction made itself
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE SCHEMA r35n_mine;
CREATE SEQUENCE r35n_mine.seq;
ALTER SEQUENCE r35n_mine.seq RENAME TO seq2;
CREATE TYPE r35n_mine.t AS ENUM ('a');
ALTER TYPE r35n_mine.t RENAME TO t2;
ALTER TYPE r35n_mine.t2 SET SCHEMA r35n_x;
CREATE DOMAIN r35n_mine.d AS int;
CREATE TABLE r35n_mine.tab (id int PRIMARY KEY, d r35n_mine.d);
ALTER INDEX r35n_mine.tab_pkey RENAME TO tab_pk;
CREATE FUNCTION r35n_mine.my_eq(int, int) RETURNS bool LANGUAGE sql AS 'SELECT $1 = $2';
CREATE OPERATOR r35n_mine.==== (LEFTARG = int, RIGHTARG = int, FUNCTION = r35n_mine.my_eq,
  COMMUTATOR = OPERATOR(r35n_mine.====));
ALTER OPERATOR r35n_mine.==== (int, int) SET SCHEMA r35n_x;
CREATE TEXT SEARCH CONFIGURATION r35n_mine.cfg (COPY = pg_catalog.simple);
ALTER TEXT SEARCH CONFIGURATION r35n_mine.cfg ALTER MAPPING FOR asciiword WITH simple;
ALTER TEXT SEARCH CONFIGURATION r35n_mine.cfg RENAME TO cfg2;
CREATE COLLATION r35n_mine.coll FROM "C";
CREATE FUNCTION r35n_mine.own(text) RETURNS int LANGUAGE sql AS 'SELECT 1';
ALTER FUNCTION r35n_mine.own(text) RENAME TO own2;
ALTER EXTENSION tsm_system_rows ADD TABLE r35n_mine.tab;
ALTER EXTENSION tsm_system_rows DROP TABLE r35n_mine.tab;
DROP OPERATOR r35n_x.==== (int, int);
DROP TEXT SEARCH CONFIGURATION r35n_mine.cfg2;
DROP COLLATION r35n_mine.coll;
DROP TABLE r35n_mine.tab;
DROP DOMAIN r35n_mine.d;
DROP TYPE r35n_x.t2;
ALTER SCHEMA r35n_mine RENAME TO r35n_mine2;
DROP SCHEMA r35n_mine2 CASCADE;
ROLLBACK;
-- allowed on the humans' objects: what adds
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TYPE r35n_s.mood ADD VALUE 'meh';
ALTER TABLE r35n_s.ord ADD COLUMN note text;
ROLLBACK;
\set VERBOSITY default

-- the humans' objects intact: their nextval by name, their CHECK, their type and config
SELECT r35n_s.next_id() AS next_id, nextval('r35n_s.seq') AS by_name;
INSERT INTO r35n_s.chk VALUES (2, 2);
INSERT INTO r35n_s.chk VALUES (2, 3);
SELECT 'ok'::r35n_s.mood AS mood, '{ok}'::r35n_s._mood AS moods, 5::r35n_s.posint AS posint,
       to_tsvector('r35n_s.cfg', 'Two Words') AS tsv,
       (SELECT typisdefined FROM pg_type WHERE typname = 'shelly' AND typnamespace = 'r35n_s'::regnamespace) AS shell_defined,
       (SELECT count(*) FROM pg_depend WHERE refclassid = 'pg_extension'::regclass
         AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'tsm_system_rows')) AS ext_members,
       to_regclass('r35n_s.ord_pkey') IS NOT NULL AS pkey,
       (SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'r35n_empty') AS empty_owner;

-- the humans' side: the same role untagged may do all of it
ALTER SEQUENCE r35n_s.seq RENAME TO seq_old;
ALTER SEQUENCE r35n_s.seq_old RENAME TO seq;
ALTER TYPE r35n_s.mood RENAME TO mood_old;
ALTER TYPE r35n_s.mood_old RENAME TO mood;
CREATE FUNCTION r35n_x.own(text) RETURNS int LANGUAGE sql AS 'SELECT 1';
ALTER FUNCTION r35n_x.own(text) RENAME TO price;
ALTER EXTENSION tsm_system_rows ADD TABLE r35n_s.ord;
ALTER EXTENSION tsm_system_rows DROP TABLE r35n_s.ord;
ALTER INDEX r35n_s.ord_pkey RENAME TO ord_pkey_old;
CREATE OPERATOR r35n_x.=#= (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq, COMMUTATOR = OPERATOR(r35n_s.===));
SELECT oprcom::regoperator AS their_commutator FROM pg_operator WHERE oid = 'r35n_s.===(int, int)'::regoperator;
DROP OPERATOR r35n_s.=== (int, int) CASCADE;
DROP TEXT SEARCH CONFIGURATION r35n_s.cfg;
DROP SCHEMA r35n_empty;
SELECT count(*) AS constraints_left FROM pg_constraint WHERE conrelid = 'r35n_s.chk'::regclass;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- on record
SELECT agent_guard._flush_requests();
SELECT request_id, agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
DROP SCHEMA r35n_s, r35n_x, r35n_e CASCADE;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_tagged;
DROP ROLE r35n_other;
