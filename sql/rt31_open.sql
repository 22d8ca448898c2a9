--
-- rt31_open: red team 31's findings.
-- F7: ALTER TRIGGER | INDEX | FUNCTION ... [NO] DEPENDS ON EXTENSION from
-- an agent (a registered one, a SET LOCAL-tagged shared role, a DO
-- block) is refused (YG004, on record) unless its object is scratch of
-- the agent's session: the guard's triggers stay, and no later DROP
-- EXTENSION takes them.  The backstop: a protected table whose guard
-- triggers are gone anyway (a human tied them, then dropped the
-- extension) refuses the agent's writes (YG009, on record); humans still
-- write it, and unprotect() then protect() puts the triggers back.
-- F1: ALTER ROLE ... PASSWORD (VALID UNTIL, RENAME) from an agent needs a
-- human's approval (YG003, on record), its own role's too, in a tagged
-- transaction as in a registered agent's session; the same role untagged
-- (a human) still changes its password.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1006000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r31o;
GRANT USAGE ON SCHEMA r31o TO regress_bot, regress_human;
GRANT CREATE ON DATABASE contrib_regression TO regress_bot;
CREATE SCHEMA r31ob AUTHORIZATION regress_bot;
CREATE SCHEMA r31os AUTHORIZATION regress_tagged;
CREATE SCHEMA r31ox;
CREATE EXTENSION seg SCHEMA r31ox;
-- what ties a table's triggers and indexes to an extension
CREATE FUNCTION public.rt31_deps(rel regclass) RETURNS TABLE (tgname text, ext_deps bigint)
  LANGUAGE sql STABLE AS $$
    SELECT t.tgname::text,
           (SELECT count(*) FROM pg_depend d
             WHERE d.classid = 'pg_trigger'::regclass AND d.objid = t.oid AND d.deptype = 'x')
      FROM pg_trigger t WHERE t.tgrelid = rel AND NOT t.tgisinternal ORDER BY 1 $$;

-- F7 (a): the agent's table, protected by a human
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31o-setup"
\set SHOW_CONTEXT never
CREATE TABLE r31ob.bprot (id int PRIMARY KEY, v text);
INSERT INTO r31ob.bprot VALUES (1, 'a'), (2, 'b'), (3, 'c');
CREATE FUNCTION r31ob.older() RETURNS int LANGUAGE sql AS 'SELECT 1';
GRANT USAGE ON SCHEMA r31ob TO regress_human;
GRANT SELECT, INSERT, UPDATE, DELETE ON r31ob.bprot TO regress_human;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('r31ob.bprot');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31o-f7"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG004 each
ALTER TRIGGER zz_agent_guard_stamp ON r31ob.bprot DEPENDS ON EXTENSION seg;
ALTER TRIGGER zz_agent_guard_capture ON r31ob.bprot DEPENDS ON EXTENSION seg;
ALTER TRIGGER zz_agent_guard_truncate ON r31ob.bprot NO DEPENDS ON EXTENSION seg;
ALTER INDEX r31ob.bprot_pkey DEPENDS ON EXTENSION seg;
ALTER FUNCTION r31ob.older() DEPENDS ON EXTENSION seg;
DO $$ BEGIN EXECUTE 'ALTER TRIGGER zz_agent_guard_capture ON r31ob.bprot DEPENDS ON EXTENSION seg'; END $$;
\set VERBOSITY default
-- one message in full
ALTER TRIGGER zz_agent_guard_capture ON r31ob.bprot DEPENDS ON EXTENSION seg;
-- allowed: what this session made
CREATE TABLE r31ob.scratch (id int);
CREATE INDEX scratch_i ON r31ob.scratch (id);
CREATE FUNCTION r31ob.fresh() RETURNS int LANGUAGE sql AS 'SELECT 2';
ALTER INDEX r31ob.scratch_i DEPENDS ON EXTENSION seg;
ALTER INDEX r31ob.scratch_i NO DEPENDS ON EXTENSION seg;
ALTER FUNCTION r31ob.fresh() DEPENDS ON EXTENSION seg;
ALTER FUNCTION r31ob.fresh() NO DEPENDS ON EXTENSION seg;
-- the guard's triggers stay, tied to nothing
SELECT * FROM public.rt31_deps('r31ob.bprot');

-- F7 (b): a shared role's table, the role tagged per transaction
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
CREATE TABLE r31os.sprot (id int PRIMARY KEY, v text);
INSERT INTO r31os.sprot VALUES (1, 'x'), (2, 'y');
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('r31os.sprot');
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG004 each
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
ALTER TRIGGER zz_agent_guard_stamp ON r31os.sprot DEPENDS ON EXTENSION seg;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
ALTER INDEX r31os.sprot_pkey DEPENDS ON EXTENSION seg;
ROLLBACK;
\set VERBOSITY default
SELECT * FROM public.rt31_deps('r31os.sprot');

-- F7, the humans' side: a human may tie them (humans keep full power) ...
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
ALTER TRIGGER zz_agent_guard_stamp ON r31ob.bprot DEPENDS ON EXTENSION seg;
ALTER TRIGGER zz_agent_guard_capture ON r31ob.bprot DEPENDS ON EXTENSION seg;
SELECT * FROM public.rt31_deps('r31ob.bprot');
-- ... and a plain DROP EXTENSION takes them
DROP EXTENSION seg;
SELECT * FROM public.rt31_deps('r31ob.bprot');
SELECT relation FROM agent_guard.protected WHERE relation::text LIKE 'r31o%' ORDER BY 1;
SELECT max(event_id) AS events_before FROM agent_guard.events \gset
-- the backstop: the agent's writes of the table are refused
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31o-f7"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG009 each
DELETE FROM r31ob.bprot WHERE id = 1;
UPDATE r31ob.bprot SET v = 'unlogged' WHERE id = 2;
WITH w AS (INSERT INTO r31ob.bprot VALUES (4, 'd') RETURNING 1) SELECT count(*) FROM w;
COPY r31ob.bprot FROM STDIN;
5	e
\.
\set VERBOSITY default
-- one message in full
DELETE FROM r31ob.bprot WHERE id = 1;
-- reads still work
SELECT id, v FROM r31ob.bprot ORDER BY id;
-- a human still writes it
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
UPDATE r31ob.bprot SET v = 'human' WHERE id = 3;
SELECT id, v FROM r31ob.bprot ORDER BY id;
-- unprotect(), protect() again: the guard is back, and so is the agent
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard.unprotect('r31ob.bprot');
SELECT agent_guard.protect('r31ob.bprot');
SELECT * FROM public.rt31_deps('r31ob.bprot');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31o-f7-after"
\set SHOW_CONTEXT never
DELETE FROM r31ob.bprot WHERE id = 1;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- nothing of the refused writes; the guard's events, then the agent's soft delete
SELECT operation, agent_id, run_id FROM agent_guard.events
 WHERE relation = 'r31ob.bprot' AND event_id > :events_before ORDER BY event_id;
SELECT id, v, ag_agent_id, ag_deleted_at IS NOT NULL AS soft_deleted FROM r31ob.bprot ORDER BY id;

-- F1: passwords
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG003 each
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
ALTER ROLE regress_tagged PASSWORD 'rt31-pwned';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
ALTER ROLE CURRENT_USER PASSWORD NULL;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
ALTER USER regress_tagged ENCRYPTED PASSWORD 'rt31-pwned';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
DO $$ BEGIN EXECUTE 'ALTER ROLE regress_tagged PASSWORD ''rt31-pwned'''; END $$;
ROLLBACK;
\set VERBOSITY default
-- one message in full
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
ALTER ROLE regress_tagged PASSWORD 'rt31-pwned';
ROLLBACK;
-- a registered agent's own role: approval too
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31o-f1"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG003
ALTER ROLE regress_bot PASSWORD 'rt31-bot';
\set VERBOSITY default
-- another role, VALID UNTIL, RENAME: PostgreSQL's own error (the agent may not), 42501 each
\set VERBOSITY sqlstate
ALTER ROLE regress_human PASSWORD 'rt31-human';
ALTER ROLE regress_bot VALID UNTIL '2000-01-01';
ALTER ROLE regress_human RENAME TO regress_human2;
\set VERBOSITY default
-- approved, it runs once
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.approve((SELECT max(request_id) FROM agent_guard.requests
                                         WHERE status = 'pending' AND statement LIKE 'ALTER ROLE regress_bot PASSWORD%'),
                                       'rt31: the harness rotates its password');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31o-f1"
\set SHOW_CONTEXT never
ALTER ROLE regress_bot PASSWORD 'rt31-bot';
\c "dbname=contrib_regression user=regress_su options="
SELECT rolname, rolpassword IS NOT NULL AS has_password FROM pg_authid
 WHERE rolname IN ('regress_bot', 'regress_tagged') ORDER BY 1;
-- the humans' side: the shared role untagged changes its own password
\c "dbname=contrib_regression user=regress_tagged options="
ALTER ROLE regress_tagged PASSWORD 'rt31-human';
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT rolname, rolpassword IS NOT NULL AS has_password FROM pg_authid
 WHERE rolname IN ('regress_bot', 'regress_tagged') ORDER BY 1;
ALTER ROLE regress_bot PASSWORD NULL;
ALTER ROLE regress_tagged PASSWORD NULL;

-- F5: signals to the shared role's other sessions
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG004 each
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'regress_tagged' AND pid <> pg_backend_pid();
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE usename = 'regress_tagged' AND pid <> pg_backend_pid();
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
DO $$ BEGIN PERFORM pg_cancel_backend(pid) FROM pg_stat_activity WHERE usename = 'regress_tagged' AND pid <> pg_backend_pid(); END $$;
ROLLBACK;
\set VERBOSITY default
-- one message in full
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'regress_tagged' AND pid <> pg_backend_pid();
ROLLBACK;
-- the humans' side: the same role untagged still may
SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE usename = 'regress_tagged' AND pid <> pg_backend_pid();
-- a registered agent signals only its own role's sessions: not judged
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31o-f5"
SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE usename = 'regress_bot' AND pid <> pg_backend_pid();

-- F6: the shared role's tables and sequences made before the tagged transaction
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
CREATE TABLE r31os.stab (id int PRIMARY KEY, v text);
INSERT INTO r31os.stab VALUES (1, 'h'), (2, 'h');
CREATE POLICY p_human ON r31os.stab USING (true);
CREATE SEQUENCE r31os.sseq;
\set VERBOSITY sqlstate
-- error: YG004 each
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
ALTER TABLE r31os.stab ENABLE ROW LEVEL SECURITY;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
CREATE POLICY p_evil ON r31os.stab USING (false);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
ALTER TABLE r31os.stab FORCE ROW LEVEL SECURITY;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
ALTER POLICY p_human ON r31os.stab USING (false);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
DROP POLICY p_human ON r31os.stab;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
ALTER SEQUENCE r31os.sseq MAXVALUE 2;
ROLLBACK;
-- an earlier ALTER in the same transaction does not make the table its own
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
ALTER TABLE r31os.stab ADD COLUMN note text;
ALTER TABLE r31os.stab ENABLE ROW LEVEL SECURITY;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
DO $$ BEGIN EXECUTE 'ALTER SEQUENCE r31os.sseq MAXVALUE 2'; END $$;
ROLLBACK;
\set VERBOSITY default
-- one message in full
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
CREATE POLICY p_evil ON r31os.stab USING (false);
ROLLBACK;
-- allowed: what the transaction made itself
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-31';
CREATE TABLE r31os.fresh (id int);
ALTER TABLE r31os.fresh ENABLE ROW LEVEL SECURITY;
CREATE POLICY p_own ON r31os.fresh USING (id > 0);
CREATE SEQUENCE r31os.fseq;
ALTER SEQUENCE r31os.fseq MAXVALUE 5;
ROLLBACK;
-- the humans' side: the same role untagged still may, and reads its rows
ALTER TABLE r31os.stab ENABLE ROW LEVEL SECURITY;
ALTER TABLE r31os.stab DISABLE ROW LEVEL SECURITY;
ALTER SEQUENCE r31os.sseq MAXVALUE 1000;
SELECT count(*) AS rows_seen, nextval('r31os.sseq') AS next FROM r31os.stab;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- on record
SELECT agent_guard._flush_requests();
SELECT agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT DISTINCT reason FROM agent_guard.requests
 WHERE request_id > :req_before AND (statement LIKE 'ALTER TRIGGER zz_agent_guard_capture%' OR statement LIKE 'DELETE%')
 ORDER BY 1;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
DROP SCHEMA r31o CASCADE;
DROP SCHEMA r31ob CASCADE;
DROP SCHEMA r31os CASCADE;
DROP SCHEMA r31ox CASCADE;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_bot;
DROP FUNCTION public.rt31_deps(regclass);
