--
-- rt33_caststat: red team 33, finding 6.  A cast WITH FUNCTION and an
-- extended statistics expression are stored code PostgreSQL runs in
-- others' statements without their naming it: m::text (or an assignment
-- or implicit conversion) calls the cast's function, every ANALYZE of the
-- table (a human's, autovacuum's) computes the statistics' expressions,
-- with the rights of whoever runs them.  An agent (a registered one, a
-- SET LOCAL-tagged shared role, a DO block) may not store either calling
-- a function that acts with its caller's rights (YG002, on record), as
-- for a trigger, default or index.  A tagged transaction may not make or
-- drop a cast of a type made before it, whatever its method (YG004, on
-- record): the humans' expressions over their type would change.
-- From the humans' side: the same role untagged still creates such a
-- cast and such statistics, and they run.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1015000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r33k AUTHORIZATION regress_tagged;
CREATE SCHEMA r33kb AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA r33k TO regress_bot;
-- a human's SECURITY INVOKER function that writes, and an immutable wrapper
CREATE TABLE r33k.audit (id int PRIMARY KEY, note text);
INSERT INTO r33k.audit VALUES (1, 'kept');
CREATE FUNCTION r33k.su_wipe(text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS
  $$ BEGIN DELETE FROM r33k.audit; RETURN $1; END $$;
GRANT EXECUTE ON FUNCTION r33k.su_wipe(text) TO regress_bot;

-- the humans of the shared role, untagged: their type, tables, protected orders
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
CREATE TYPE r33k.mood AS ENUM ('ok', 'bad');
CREATE TABLE r33k.feedback (id int, m r33k.mood);
INSERT INTO r33k.feedback VALUES (1, 'ok'), (2, 'bad');
CREATE TABLE r33k.log2 (id int, t text);
INSERT INTO r33k.log2 SELECT g, 'row ' || g FROM generate_series(1, 20) g;
CREATE TABLE r33k.ord (id int PRIMARY KEY, amount int);
INSERT INTO r33k.ord SELECT g, g * 10 FROM generate_series(1, 5) g;
CREATE CAST (r33k.mood AS varchar) WITH INOUT;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('r33k.ord');

-- the agent's side: a tagged transaction of the shared role
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG002 (the function acts with its caller's rights)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
CREATE FUNCTION r33k.mood_txt(r33k.mood) RETURNS text LANGUAGE plpgsql AS
  $$ BEGIN DELETE FROM r33k.ord WHERE id = 2; RETURN $1::name::text; END $$;
CREATE CAST (r33k.mood AS text) WITH FUNCTION r33k.mood_txt(r33k.mood);
ROLLBACK;
-- error: YG002, also on a type of the transaction's own, and from a DO block
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
CREATE TYPE r33k.fresh AS ENUM ('a');
CREATE FUNCTION r33k.fresh_txt(r33k.fresh) RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$;
CREATE CAST (r33k.fresh AS text) WITH FUNCTION r33k.fresh_txt(r33k.fresh) AS IMPLICIT;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
CREATE TYPE r33k.fresh AS ENUM ('a');
CREATE FUNCTION r33k.fresh_txt(r33k.fresh) RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$;
DO $$ BEGIN EXECUTE 'CREATE CAST (r33k.fresh AS text) WITH FUNCTION r33k.fresh_txt(r33k.fresh)'; END $$;
ROLLBACK;
-- error: YG004 (a cast of the humans' older type, whatever its method; or dropping theirs)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
CREATE CAST (r33k.mood AS int) WITH INOUT AS IMPLICIT;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
CREATE CAST (text AS r33k.mood) WITH INOUT AS ASSIGNMENT;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
DROP CAST (r33k.mood AS varchar);
ROLLBACK;
-- error: YG002 (statistics whose expression calls the writer)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
CREATE FUNCTION r33k.w5() RETURNS int LANGUAGE plpgsql VOLATILE AS
  $$ BEGIN DELETE FROM r33k.ord WHERE id = 4; RETURN 1; END $$;
CREATE FUNCTION r33k.w5i(text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS
  $$ BEGIN PERFORM r33k.w5(); RETURN $1; END $$;
CREATE STATISTICS r33k.st5 ON (r33k.w5i(t)), id FROM r33k.log2;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
CREATE STATISTICS r33k.st5 ON (r33k.su_wipe(t)), id FROM r33k.log2;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
DO $$ BEGIN EXECUTE 'CREATE STATISTICS r33k.st5 ON (r33k.su_wipe(t)), id FROM r33k.log2'; END $$;
ROLLBACK;
\set VERBOSITY default
-- one message of each in full
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
CREATE FUNCTION r33k.mood_txt(r33k.mood) RETURNS text LANGUAGE plpgsql AS
  $$ BEGIN DELETE FROM r33k.ord WHERE id = 2; RETURN $1::name::text; END $$;
CREATE CAST (r33k.mood AS text) WITH FUNCTION r33k.mood_txt(r33k.mood);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
CREATE CAST (r33k.mood AS int) WITH INOUT AS IMPLICIT;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
CREATE STATISTICS r33k.st5 ON (r33k.su_wipe(t)), id FROM r33k.log2;
ROLLBACK;
-- allowed: a cast of the transaction's own type WITH INOUT, statistics on
-- built-ins (on a table of its own: on the humans' older table statistics
-- with an expression are refused since red team 37, F14; rt37_tagolder)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-33';
CREATE TYPE r33k.fresh AS ENUM ('a');
CREATE CAST (r33k.fresh AS int) WITH INOUT;
CREATE TABLE r33k.log3 (id int, t text);
CREATE STATISTICS r33k.st6 ON (lower(t)), id FROM r33k.log3;
SELECT count(*) AS made FROM pg_statistic_ext WHERE stxname = 'st6';
ROLLBACK;
-- nothing ran: the humans' m::text and ANALYZE leave the orders and audit whole
SELECT id, m::text FROM r33k.feedback ORDER BY id;
ANALYZE r33k.log2;
SELECT count(*) AS orders FROM r33k.ord;

-- a registered agent: its statistics and casts may call its own functions,
-- not a human's that acts with its caller's rights
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r33k-bot"
\set SHOW_CONTEXT never
CREATE TABLE r33kb.notes (id int, t text);
INSERT INTO r33kb.notes SELECT g, 'n' || g FROM generate_series(1, 10) g;
CREATE TYPE r33kb.level AS ENUM ('low', 'high');
CREATE FUNCTION r33kb.own_i(text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT upper($1) $$;
CREATE FUNCTION r33kb.level_txt(r33kb.level) RETURNS text LANGUAGE sql AS $$ SELECT 'lvl' $$;
\set VERBOSITY sqlstate
-- error: YG002 each
CREATE STATISTICS r33kb.st1 ON (r33k.su_wipe(t)), id FROM r33kb.notes;
DO $$ BEGIN EXECUTE 'CREATE STATISTICS r33kb.st1 ON (r33k.su_wipe(t)), id FROM r33kb.notes'; END $$;
\set VERBOSITY default
-- allowed: its own function, in statistics and in a cast
CREATE STATISTICS r33kb.st2 ON (r33kb.own_i(t)), id FROM r33kb.notes;
CREATE CAST (r33kb.level AS text) WITH FUNCTION r33kb.level_txt(r33kb.level);
SELECT 'high'::r33kb.level::text AS lvl;
ANALYZE r33kb.notes;

-- the humans' side: the same role untagged creates such a cast and statistics
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
CREATE FUNCTION r33k.mood_txt(r33k.mood) RETURNS text LANGUAGE plpgsql AS
  $$ BEGIN RETURN upper($1::name::text); END $$;
CREATE CAST (r33k.mood AS text) WITH FUNCTION r33k.mood_txt(r33k.mood);
CREATE FUNCTION r33k.len_i(text) RETURNS int LANGUAGE plpgsql IMMUTABLE AS
  $$ BEGIN RETURN length($1); END $$;
CREATE STATISTICS r33k.st7 ON (r33k.len_i(t)), id FROM r33k.log2;
DROP CAST (r33k.mood AS varchar);
SELECT id, m::text FROM r33k.feedback ORDER BY id;
ANALYZE r33k.log2;
SELECT count(*) AS st7_built FROM pg_stats_ext_exprs WHERE statistics_name = 'st7';

-- statistics a role stored before it was registered: register_agent() warns of them
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE ROLE regress_r33late LOGIN;
GRANT CREATE, USAGE ON SCHEMA r33kb TO regress_r33late;
GRANT USAGE ON SCHEMA r33k TO regress_r33late;
GRANT EXECUTE ON FUNCTION r33k.su_wipe(text) TO regress_r33late;
SET ROLE regress_r33late;
CREATE TABLE r33kb.late (id int, t text);
CREATE STATISTICS r33kb.st_late ON (r33k.su_wipe(t)), id FROM r33kb.late;
RESET ROLE;
SELECT agent_guard.register_agent('regress_r33late');
SELECT agent_guard.unregister_agent('regress_r33late');
DROP OWNED BY regress_r33late;
DROP ROLE regress_r33late;
SELECT id, amount FROM r33k.ord ORDER BY id;
SELECT id, note FROM r33k.audit ORDER BY id;
-- on record
SELECT agent_guard._flush_requests();
SELECT agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r33k.ord');
DROP SCHEMA r33k CASCADE;
DROP SCHEMA r33kb CASCADE;
