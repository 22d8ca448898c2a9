--
-- rt20_fix_shadow: red team 20's findings 6 and 8.
-- F8: an agent's CREATE CAST to or from a type a protected column uses
-- (directly, or through an array, domain, range or composite type) is
-- refused (YG004, on record), WITH FUNCTION, WITHOUT FUNCTION and WITH
-- INOUT alike, in any context: a cast from text to the agent's enum AS
-- ASSIGNMENT converted every text a human wrote to the column by the
-- agent's function.  In the other order, a protected table's ADD COLUMN
-- of a type with an agent's cast to or from it (directly or through an
-- array, domain or composite) needs approval (YG003), and ALTER COLUMN
-- ... TYPE does anyway.  Humans create such casts as before.
-- F6: a function callable with one argument and named like a pg_catalog
-- type (uuid, jsonb, inet, ...) shadows the cast name(x) stands for: a
-- human's statement that resolves to an agent's is refused (YG004), also
-- after the shadow cache was filled, and a tagged shared role may not
-- create one (YG004, on record).  Humans and their schema-qualified casts
-- run.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 880000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE ROLE regress_r20f_human LOGIN;
CREATE SCHEMA r20f AUTHORIZATION regress_bot;
CREATE SCHEMA r20fh AUTHORIZATION regress_r20f_human;
GRANT USAGE ON SCHEMA r20f, r20fh TO PUBLIC;
GRANT USAGE, CREATE ON SCHEMA r20fh TO regress_tagged;

-- F8: the agent's types, used by columns of a table humans fill
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r20f-setup"
\set SHOW_CONTEXT never
CREATE TYPE r20f.mood AS ENUM ('happy', 'sad');
CREATE TYPE r20f.grade AS ENUM ('a', 'b');
CREATE DOMAIN r20f.dgrade AS r20f.grade;
CREATE TYPE r20f.level AS ENUM ('low', 'high');
CREATE TYPE r20f.pair AS (l r20f.level, n int);
CREATE TYPE r20f.spare AS ENUM ('x', 'y');
CREATE TABLE r20f.m (id int PRIMARY KEY, mood r20f.mood, moods r20f.mood[], g r20f.dgrade, p r20f.pair);
GRANT ALL ON r20f.m TO regress_r20f_human;
CREATE FUNCTION r20f.tomood(text) RETURNS r20f.mood LANGUAGE sql IMMUTABLE AS $$SELECT 'sad'::r20f.mood$$;
CREATE FUNCTION r20f.tograde(text) RETURNS r20f.grade LANGUAGE sql IMMUTABLE AS $$SELECT 'b'::r20f.grade$$;
CREATE FUNCTION r20f.tolevel(text) RETURNS r20f.level LANGUAGE sql IMMUTABLE AS $$SELECT 'low'::r20f.level$$;
CREATE FUNCTION r20f.moodtext(r20f.mood) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'x'$$;
CREATE FUNCTION r20f.tospare(text) RETURNS r20f.spare LANGUAGE sql IMMUTABLE AS $$SELECT 'y'::r20f.spare$$;

\c "dbname=contrib_regression user=regress_r20f_human options="
INSERT INTO r20f.m VALUES (1, 'happy', '{happy}', 'a', '(high,1)');
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('r20f.m');

-- the agent's side, after protection
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r20f"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: the column's own type, each kind of cast, each context (YG004)
CREATE CAST (text AS r20f.mood) WITH FUNCTION r20f.tomood(text) AS ASSIGNMENT;
CREATE CAST (text AS r20f.mood) WITH FUNCTION r20f.tomood(text) AS IMPLICIT;
CREATE CAST (text AS r20f.mood) WITH FUNCTION r20f.tomood(text);
CREATE CAST (text AS r20f.mood) WITH INOUT AS ASSIGNMENT;
CREATE CAST (r20f.mood AS text) WITH FUNCTION r20f.moodtext(r20f.mood) AS IMPLICIT;
CREATE CAST (r20f.mood AS oid) WITHOUT FUNCTION;
-- error: through a domain (its base type), a composite's field (YG004)
CREATE CAST (text AS r20f.grade) WITH FUNCTION r20f.tograde(text) AS ASSIGNMENT;
CREATE CAST (text AS r20f.level) WITH FUNCTION r20f.tolevel(text) AS ASSIGNMENT;
-- error: inside a function (YG004)
DO $$ BEGIN EXECUTE 'CREATE CAST (text AS r20f.mood) WITH FUNCTION r20f.tomood(text) AS ASSIGNMENT'; END $$;
\set VERBOSITY default
-- the message
CREATE CAST (text AS r20f.mood) WITH FUNCTION r20f.tomood(text) AS ASSIGNMENT;
-- a type no protected column uses: allowed
CREATE CAST (text AS r20f.spare) WITH FUNCTION r20f.tospare(text) AS ASSIGNMENT;
SELECT count(*) AS casts_on_used_types FROM pg_cast
 WHERE castsource IN ('r20f.mood'::regtype, 'r20f.grade'::regtype, 'r20f.level'::regtype)
    OR casttarget IN ('r20f.mood'::regtype, 'r20f.grade'::regtype, 'r20f.level'::regtype);
-- the other order: a type with the agent's cast, then a protected
-- table's column of it (YG003), directly or through an array or a domain
\set VERBOSITY sqlstate
ALTER TABLE r20f.m ADD COLUMN s r20f.spare;
ALTER TABLE r20f.m ADD COLUMN ss r20f.spare[];
CREATE DOMAIN r20f.dspare AS r20f.spare;
ALTER TABLE r20f.m ADD COLUMN ds r20f.dspare;
ALTER TABLE r20f.m ALTER COLUMN mood TYPE r20f.spare USING 'x';
ALTER TYPE r20f.pair ADD ATTRIBUTE s r20f.spare;
\set VERBOSITY default
-- the request says why
ALTER TABLE r20f.m ADD COLUMN s r20f.spare;
-- a column of a type with no agent's cast: allowed
ALTER TABLE r20f.m ADD COLUMN note text;

-- the human's writes are theirs
\c "dbname=contrib_regression user=regress_r20f_human options="
PREPARE ins(int, text) AS INSERT INTO r20f.m (id, mood) VALUES ($1, $2::r20f.mood);
EXECUTE ins(2, 'happy');
INSERT INTO r20f.m (id, mood, g, p) VALUES (3, 'happy', 'a', '(high,3)');
SELECT id, mood, moods, g, p FROM r20f.m ORDER BY id;

-- humans still create such casts (a human's own type, used by the same table)
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE TYPE r20fh.hmood AS ENUM ('calm', 'busy');
ALTER TYPE r20fh.hmood OWNER TO regress_r20f_human;
ALTER TABLE r20f.m ADD COLUMN h r20fh.hmood;
\c "dbname=contrib_regression user=regress_r20f_human options="
\set SHOW_CONTEXT never
CREATE FUNCTION r20fh.tohmood(text) RETURNS r20fh.hmood LANGUAGE sql IMMUTABLE AS $$SELECT 'calm'::r20fh.hmood$$;
CREATE CAST (text AS r20fh.hmood) WITH FUNCTION r20fh.tohmood(text) AS ASSIGNMENT;
DROP CAST (text AS r20fh.hmood);
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE CAST (text AS r20f.mood) WITH INOUT AS ASSIGNMENT;
DROP CAST (text AS r20f.mood);

-- F6: a function named like a pg_catalog type
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE TABLE r20fh.s (id uuid PRIMARY KEY, v text, addr inet);
INSERT INTO r20fh.s VALUES ('11111111-1111-1111-1111-111111111111', 'keep', '10.0.0.1'),
                           ('22222222-2222-2222-2222-222222222222', 'delete me', '10.0.0.2');
ALTER TABLE r20fh.s OWNER TO regress_r20f_human;
SELECT agent_guard.protect('r20fh.s');

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r20f-6"
\set SHOW_CONTEXT never
-- a registered agent creates them (caught at use)
CREATE FUNCTION r20f.uuid(text) RETURNS uuid LANGUAGE sql IMMUTABLE
  AS $$SELECT '11111111-1111-1111-1111-111111111111'::uuid$$;
CREATE FUNCTION r20f.mkinet(text) RETURNS inet LANGUAGE sql IMMUTABLE AS $$SELECT '10.0.0.1'::inet$$;
-- shadows nothing: two arguments, a procedure
CREATE FUNCTION r20f.jsonb(text, int) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$SELECT '{}'::jsonb$$;
CREATE PROCEDURE r20f.jsonpath(text) LANGUAGE sql AS 'SELECT 1';
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA r20f TO PUBLIC;

\c "dbname=contrib_regression user=regress_r20f_human options=-csearch_path=r20fh,r20f"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: the agent's uuid(text) would pick the row (YG004)
PREPARE d(text) AS DELETE FROM s WHERE id = uuid($1);
DELETE FROM s WHERE id = uuid('22222222-2222-2222-2222-222222222222'::text);
SELECT v FROM s WHERE id = uuid('22222222-2222-2222-2222-222222222222'::text);
\set VERBOSITY default
-- the message
DELETE FROM s WHERE id = uuid('22222222-2222-2222-2222-222222222222'::text);
-- the session's shadow cache filled first (the agent's mkinet shadows
-- nothing), then the agent's function renamed to inet in the same session
\c "dbname=contrib_regression user=regress_su options=-csearch_path=r20fh,r20f"
\set SHOW_CONTEXT never
SELECT mkinet('x') AS not_a_shadow;
ALTER FUNCTION r20f.mkinet(text) RENAME TO inet;
\set VERBOSITY sqlstate
-- error: YG004
DELETE FROM s WHERE addr = inet('10.0.0.2'::text);
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_r20f_human options=-csearch_path=r20fh,r20f"
\set SHOW_CONTEXT never
-- runs: the cast written with its schema, the type's own cast, a
-- two-argument function and a procedure named like a type
DELETE FROM s WHERE id = CAST('22222222-2222-2222-2222-222222222222'::text AS pg_catalog.uuid);
SELECT count(*) AS left_rows, min(v) AS kept FROM s;
SELECT jsonb('a', 1) AS two_args;
CALL jsonpath('a'::text);
-- a human creates one and uses it
CREATE FUNCTION r20fh.tsvector(text) RETURNS tsvector LANGUAGE sql IMMUTABLE AS $$SELECT to_tsvector('simple', $1)$$;
SELECT tsvector('a b'::text) AS human_own;

-- a tagged shared role may not create one (YG004, on record); names no
-- object has yet (a tagged transaction may not take an older one's name)
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-r20';
CREATE FUNCTION r20fh.json(text) RETURNS json LANGUAGE sql AS $$SELECT '{}'::json$$;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-r20';
CREATE FUNCTION r20fh.tsquery(text, int DEFAULT 0) RETURNS tsquery LANGUAGE sql AS $$SELECT 'a'::tsquery$$;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-r20';
CREATE FUNCTION r20fh.mk(text) RETURNS regnamespace LANGUAGE sql AS $$SELECT 'public'::regnamespace$$;
ALTER FUNCTION r20fh.mk(text) RENAME TO regnamespace;
ROLLBACK;
\set VERBOSITY default
-- the message
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-r20';
CREATE FUNCTION r20fh.regrole(text) RETURNS regrole LANGUAGE sql AS $$SELECT 'regress_tagged'::regrole$$;
ROLLBACK;
-- allowed: two arguments, a procedure, a name no type has
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-r20';
CREATE FUNCTION r20fh.json(text, int) RETURNS json LANGUAGE sql AS $$SELECT '{}'::json$$;
CREATE PROCEDURE r20fh.tsquery(text) LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION r20fh.mkuuid(text) RETURNS uuid LANGUAGE sql AS $$SELECT gen_random_uuid()$$;
SELECT count(*) AS made FROM pg_proc WHERE pronamespace = 'r20fh'::regnamespace
   AND proname IN ('json', 'tsquery', 'mkuuid');
ROLLBACK;
-- untagged, the shared role is a human
CREATE FUNCTION r20fh.jsonb(text) RETURNS jsonb LANGUAGE sql AS $$SELECT to_jsonb($1)$$;
DROP FUNCTION r20fh.jsonb(text);

-- on record; the data intact
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT agent_id, kind, status, left(statement, 70) AS statement
  FROM agent_guard.request_log WHERE request_id > :req_before ORDER BY request_id;
SELECT id, mood, g, p FROM r20f.m ORDER BY id;
SELECT id, v FROM r20fh.s ORDER BY id;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r20f.m');
SELECT agent_guard.unprotect('r20fh.s');
SET client_min_messages = warning;
DROP SCHEMA r20f CASCADE;
DROP SCHEMA r20fh CASCADE;
DROP ROLE regress_r20f_human;
