--
-- rt23_grants: red team 23's findings on rights, session state and structure.
-- 23b F1: REVOKE ... ON DATABASE (CONNECT, TEMPORARY, CREATE; from PUBLIC
-- or a role) needs a human's approval (YG003) from a registered agent
-- that holds a grant option on the database; from a transaction tagged by
-- a shared role it is refused (YG004) since red team 35, F9 (no REVOKE of
-- what the transaction did not make: rt35_tagrights); a REVOKE that can
-- take nothing is left to PostgreSQL's warning; ALTER DATABASE ... OWNER
-- TO needs approval.
-- 23b F4: a tagged shared role may not GRANT on a protected table (to
-- anyone), nor give PUBLIC, a registered agent or a role one is a member
-- of rights on what it did not make itself, nor a role's membership
-- (YG004).  A registered agent's GRANT on its own protected table stays
-- allowed, to another agent too.
-- 23b F2: setseed() and SET LOCAL seed are refused in a transaction tagged
-- with SET LOCAL (YG004), and random() is seeded afresh when it ends, so
-- set_config('seed', ...) leaves no seed for the next client.
-- 23a F2: protect() warns of a CHECK constraint (of the table or a
-- partition) that calls an agent's function, and so does a human's ALTER
-- TABLE ... ADD CONSTRAINT on a protected table.
-- 23a note: renaming the key's constraint (RENAME CONSTRAINT) needs
-- approval, as ALTER INDEX ... RENAME of its index does; so does ALTER
-- TABLE ... RENAME of a unique index.
-- From the human's side: the same statements work.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 920000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
-- a human no agent is a member of (regress_bot is a member of regress_human)
CREATE ROLE regress_rt23_h LOGIN;
GRANT CREATE ON DATABASE contrib_regression TO regress_bot;
GRANT CREATE, TEMPORARY ON DATABASE contrib_regression TO regress_tagged WITH GRANT OPTION;
GRANT TEMPORARY ON DATABASE contrib_regression TO regress_bot WITH GRANT OPTION;
CREATE SCHEMA r23g AUTHORIZATION regress_bot;
CREATE SCHEMA r23gs AUTHORIZATION regress_tagged;
GRANT USAGE ON SCHEMA r23g, r23gs TO regress_human, regress_rt23_h, regress_tagged;

-- the agent's tables, a data-driven CHECK among them
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt23g-setup"
\set SHOW_CONTEXT never
CREATE TABLE r23g.flag (on_ boolean);
INSERT INTO r23g.flag VALUES (false);
CREATE FUNCTION r23g.ok(int) RETURNS boolean LANGUAGE sql STABLE
  AS 'SELECT NOT coalesce((SELECT on_ FROM r23g.flag LIMIT 1), false) OR $1 IS NULL';
GRANT SELECT ON r23g.flag TO PUBLIC;
CREATE TABLE r23g.t (id int PRIMARY KEY, n int CHECK (r23g.ok(n)), u int UNIQUE);
CREATE TABLE r23g.t_sys (id int PRIMARY KEY, n int CHECK (n >= 0));
CREATE TABLE r23g.p (id int PRIMARY KEY, n int, CONSTRAINT p_n_ok CHECK (r23g.ok(n))) PARTITION BY RANGE (id);
CREATE TABLE r23g.p1 PARTITION OF r23g.p FOR VALUES FROM (0) TO (100);
ALTER TABLE r23g.p1 ADD CONSTRAINT p1_id_ok CHECK (r23g.ok(id));
INSERT INTO r23g.t VALUES (1, 1, 1), (2, 2, 2);
GRANT SELECT, INSERT, UPDATE ON r23g.t TO regress_human;
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
-- the shared role's tables, made by a human (untagged)
CREATE TABLE r23gs.hdata (id int PRIMARY KEY, v text);
INSERT INTO r23gs.hdata SELECT g, 'h' || g FROM generate_series(1, 5) g;
CREATE TABLE r23gs.hlog (id int, msg text);
CREATE TABLE r23gs.hcheck (id int PRIMARY KEY, n int CHECK (r23g.ok(n)));
GRANT CREATE ON DATABASE contrib_regression TO regress_rt23_h;
\c "dbname=contrib_regression user=regress_su options="
-- 23a F2: warnings: the CHECK of r23g.t; r23g.p's and its partition's; the
-- human's table's CHECK that calls the agent's function; none for r23g.t_sys
SELECT agent_guard.protect('r23g.t');
SELECT agent_guard.protect('r23g.t_sys');
SELECT agent_guard.protect('r23g.p');
SELECT agent_guard.protect('r23gs.hcheck');
SELECT agent_guard.protect('r23gs.hdata');
-- a human's CHECK on a protected table: a warning when it calls the
-- agent's function, none for the system's operators
ALTER TABLE r23gs.hdata ADD CONSTRAINT hdata_id_ok CHECK (r23g.ok(id));
ALTER TABLE r23gs.hdata ADD CONSTRAINT hdata_id_pos CHECK (id > 0);
ALTER TABLE r23gs.hdata DROP CONSTRAINT hdata_id_ok;

-- the registered agent's side
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt23g"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- 23b F1: error: YG003 each (it holds TEMPORARY with a grant option)
REVOKE TEMPORARY ON DATABASE contrib_regression FROM regress_rt23_h;
REVOKE CONNECT ON DATABASE contrib_regression FROM PUBLIC;
-- error: PostgreSQL's own (42501): only the owner gives a database away
ALTER DATABASE contrib_regression OWNER TO regress_bot;
-- 23a note: error: YG003 each: the key's constraint, the key's index and
-- a unique index renamed by ALTER TABLE
ALTER TABLE r23g.t RENAME CONSTRAINT t_pkey TO t_key;
ALTER INDEX r23g.t_pkey RENAME TO t_key;
ALTER TABLE r23g.t_pkey RENAME TO t_key;
ALTER TABLE r23g.t_u_key RENAME TO t_u_other;
ALTER TABLE r23g.p RENAME CONSTRAINT p_pkey TO p_key;
-- allowed: the agent's GRANT, to another agent too; setseed() in its own session
GRANT TEMPORARY ON DATABASE contrib_regression TO regress_bot2;
GRANT ALL ON r23g.t TO regress_bot2 WITH GRANT OPTION;
GRANT EXECUTE ON FUNCTION r23g.ok(int) TO regress_bot2;
SELECT setseed(0.42);
\set VERBOSITY default
SELECT conname FROM pg_constraint WHERE conrelid IN ('r23g.t'::regclass, 'r23g.p'::regclass)
   AND contype <> 'n' ORDER BY 1;
SELECT relname FROM pg_class WHERE relnamespace = 'r23g'::regnamespace AND relkind IN ('i', 'I') ORDER BY 1;
-- a registered agent without a grant option: its REVOKE revokes nothing,
-- PostgreSQL's warning, no request
\c "dbname=contrib_regression user=regress_bot2 options="
\set SHOW_CONTEXT never
REVOKE TEMPORARY ON DATABASE contrib_regression FROM regress_rt23_h;

-- the agent through its harness's tagged transactions
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- 23b F1: error: YG004 each (refused outright since red team 35, F9: a
-- tagged transaction's REVOKE of what it did not make)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
REVOKE CREATE ON DATABASE contrib_regression FROM regress_rt23_h;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
REVOKE TEMPORARY ON DATABASE contrib_regression FROM PUBLIC;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
DO $$ BEGIN EXECUTE 'REVOKE CONNECT ON DATABASE contrib_regression FROM PUBLIC'; END $$;
ROLLBACK;
-- 23b F4: error: YG004 each: the protected table to anyone, an agent or
-- PUBLIC given rights on the humans' objects, a role's membership
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
GRANT ALL ON r23gs.hdata TO regress_bot WITH GRANT OPTION;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
GRANT SELECT ON r23gs.hdata TO regress_rt23_h;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
GRANT SELECT (v) ON r23gs.hdata TO regress_rt23_h;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
GRANT SELECT ON ALL TABLES IN SCHEMA r23gs TO regress_rt23_h;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
GRANT SELECT ON r23gs.hlog TO regress_bot;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
GRANT INSERT ON r23gs.hlog TO regress_human;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
GRANT SELECT ON r23gs.hlog TO PUBLIC;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
GRANT CREATE ON DATABASE contrib_regression TO regress_bot;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
GRANT CREATE ON SCHEMA r23gs TO regress_bot2;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
GRANT regress_tagged TO regress_bot;
ROLLBACK;
-- 23b F2: error: YG004 each
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
SELECT setseed(0.42);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
SET LOCAL seed = 0.42;
ROLLBACK;
-- allowed: GRANT to a human of what is not protected, what the transaction
-- made itself to an agent; set_config('seed') is not seen, but the seed
-- goes when the transaction ends
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
GRANT SELECT ON r23gs.hlog TO regress_rt23_h;
GRANT TEMPORARY ON DATABASE contrib_regression TO regress_rt23_h;
CREATE TABLE r23gs.mine (id int);
GRANT SELECT ON r23gs.mine TO regress_bot, PUBLIC;
CREATE FUNCTION r23gs.mine_f() RETURNS int LANGUAGE sql AS 'SELECT 1';
GRANT EXECUTE ON FUNCTION r23gs.mine_f() TO regress_bot;
SELECT set_config('seed', '0.42', true) IS NOT NULL AS seeded;
COMMIT;
\set VERBOSITY default
-- the next client of the server process: not the agent's seed (setseed(0.42)
-- gives 0.742944875302392 first)
SELECT random() <> 0.742944875302392 AS fresh_seed;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
SELECT set_config('seed', '0.42', true) IS NOT NULL AS seeded;
ROLLBACK;
SELECT random() <> 0.742944875302392 AS fresh_seed;
SELECT has_database_privilege('regress_rt23_h', 'contrib_regression', 'CREATE') AS h_create,
       has_table_privilege('regress_bot', 'r23gs.hdata', 'SELECT') AS bot_hdata,
       has_table_privilege('regress_bot', 'r23gs.hlog', 'SELECT') AS bot_hlog,
       has_table_privilege('regress_rt23_h', 'r23gs.hlog', 'SELECT') AS h_hlog,
       has_table_privilege('regress_bot', 'r23gs.mine', 'SELECT') AS bot_mine;

-- the requests; the tagged REVOKE, refused outright, cannot be approved
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT reason FROM agent_guard.requests
 WHERE request_id > :req_before
   AND (statement LIKE 'REVOKE CREATE ON DATABASE%' OR statement LIKE 'GRANT SELECT ON r23gs.hlog TO regress_bot%'
        OR statement LIKE 'GRANT ALL ON r23gs.hdata%' OR statement LIKE 'SELECT setseed%'
        OR statement LIKE 'ALTER TABLE r23g.t RENAME CONSTRAINT%')
 ORDER BY request_id;
SELECT request_id AS req_revoke FROM agent_guard.requests
 WHERE request_id > :req_before AND statement LIKE 'REVOKE CREATE ON DATABASE%' \gset
SELECT status FROM agent_guard.approve(:req_revoke, 'rt23: the human may lose CREATE');
SELECT max(request_id) AS req_mid FROM agent_guard.request_log \gset
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
-- still refused
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
REVOKE CREATE ON DATABASE contrib_regression FROM regress_rt23_h;
COMMIT;
SELECT has_database_privilege('regress_rt23_h', 'contrib_regression', 'CREATE') AS h_create;
GRANT CREATE ON DATABASE contrib_regression TO regress_rt23_h;
\set VERBOSITY sqlstate
-- error: YG004 again, a new request
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-23';
REVOKE CREATE ON DATABASE contrib_regression FROM regress_rt23_h;
ROLLBACK;
\set VERBOSITY default

-- the human's side: the shared role untagged revokes and grants, seeds
BEGIN;
REVOKE TEMPORARY ON DATABASE contrib_regression FROM regress_rt23_h;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_rt23_h;
GRANT ALL ON r23gs.hdata TO regress_rt23_h WITH GRANT OPTION;
REVOKE ALL ON r23gs.hdata FROM regress_rt23_h;
GRANT SELECT ON r23gs.hlog TO regress_bot;
ROLLBACK;
BEGIN;
SELECT set_config('seed', '0.42', true) IS NOT NULL AS seeded;
COMMIT;
SELECT random() AS human_seeded;
\c "dbname=contrib_regression user=regress_su options="
BEGIN;
REVOKE CONNECT ON DATABASE contrib_regression FROM PUBLIC;
ALTER TABLE r23g.t RENAME CONSTRAINT t_pkey TO t_key;
ALTER TABLE r23g.t_key RENAME TO t_pkey;
ALTER TABLE r23g.t_u_key RENAME TO t_u_other;
ROLLBACK;
SELECT agent_guard._flush_requests();
SELECT r.agent_id, r.kind, r.status, r.statement, o.status AS approved_one
  FROM agent_guard.requests r, agent_guard.requests o
 WHERE r.request_id > :req_mid AND o.request_id = :req_revoke ORDER BY r.request_id;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r23g.t');
SELECT agent_guard.unprotect('r23g.t_sys');
SELECT agent_guard.unprotect('r23g.p');
SELECT agent_guard.unprotect('r23gs.hcheck');
SELECT agent_guard.unprotect('r23gs.hdata');
DROP SCHEMA r23gs CASCADE;
DROP SCHEMA r23g CASCADE;
REVOKE CREATE, TEMPORARY ON DATABASE contrib_regression FROM regress_bot, regress_tagged CASCADE;
REVOKE ALL ON DATABASE contrib_regression FROM regress_rt23_h, regress_bot2;
DROP ROLE regress_rt23_h;
