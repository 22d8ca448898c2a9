--
-- rt25_open: red team 25's findings.
-- F1: the row security protect() found on a table (and on each partition
-- and covered inheritance child) is kept per relation in
-- agent_guard.rls_before, a regclass that follows the table through a
-- rename: protect() again, or unprotect(), of a renamed table (the
-- agent's approved rename too), and unprotect() of the parent of a renamed
-- covered child, put it back; humans read and insert as before.  With no
-- state kept, the guard's permissive ag_visible tells that row security
-- was off: it is switched off again, not left forced with no permissive
-- policy.  The state of a dropped relation is forgotten.
-- F2: ALTER DEFAULT PRIVILEGES in a session or transaction tagged with
-- agent_guard.agent_id by a shared role (not a registered agent role) is
-- refused (YG004, on record), GRANT or REVOKE, in any schema, also in a
-- DO block; the same role untagged, and a registered agent, still may.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 940000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
-- a human owner no agent is a member of
CREATE ROLE regress_rt25_h LOGIN;
GRANT CREATE ON DATABASE contrib_regression TO regress_bot;
CREATE SCHEMA r25 AUTHORIZATION regress_bot;
CREATE SCHEMA r25h AUTHORIZATION regress_rt25_h;
CREATE SCHEMA r25s AUTHORIZATION regress_tagged;
GRANT USAGE ON SCHEMA r25 TO regress_human;
-- what a table's row security and policies are
CREATE FUNCTION public.rt25_rls(rel regclass) RETURNS TABLE (rls boolean, forced boolean, policies text)
  LANGUAGE sql STABLE AS $$
    SELECT c.relrowsecurity, c.relforcerowsecurity,
           coalesce((SELECT string_agg(p.polname || CASE WHEN p.polpermissive THEN ' permissive' ELSE ' restrictive' END,
                                       ', ' ORDER BY p.polname)
                       FROM pg_policy p WHERE p.polrelid = c.oid), '-')
      FROM pg_class c WHERE c.oid = rel $$;

-- F1 (a): the agent's table, protected by a human; its rename approved
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt25-setup"
\set SHOW_CONTEXT never
CREATE TABLE r25.t (id int PRIMARY KEY, v text);
INSERT INTO r25.t VALUES (1, 'a'), (2, 'b');
GRANT SELECT, INSERT ON r25.t TO regress_human;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('r25.t');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt25"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG003
ALTER TABLE r25.t RENAME TO t_v2;
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.approve((SELECT max(request_id) FROM agent_guard.requests WHERE status = 'pending'),
                                       'rt25: just a rename');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt25"
\set SHOW_CONTEXT never
ALTER TABLE r25.t RENAME TO t_v2;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- the state followed the rename; protect() again puts it back first and
-- keeps it: ag_visible and ag_hide_deleted, the state still off/off
SELECT relation, row_security, force_row_security FROM agent_guard.rls_before WHERE relation::text LIKE 'r25.%';
SELECT agent_guard.protect('r25.t_v2');
SELECT * FROM public.rt25_rls('r25.t_v2');
SELECT relation, row_security, force_row_security FROM agent_guard.rls_before WHERE relation::text LIKE 'r25.%';
\c "dbname=contrib_regression user=regress_human options="
SELECT count(*) AS rows_human_sees FROM r25.t_v2;
INSERT INTO r25.t_v2 VALUES (3, 'c');
SELECT count(*) AS rows_human_sees FROM r25.t_v2;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt25"
SELECT count(*) AS rows_owner_agent_sees FROM r25.t_v2;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard.unprotect('r25.t_v2');
SELECT * FROM public.rt25_rls('r25.t_v2');

-- F1 (b): a covered inheritance child renamed, then unprotect() of the parent
\c "dbname=contrib_regression user=regress_rt25_h options="
CREATE TABLE r25h.p (id int PRIMARY KEY, v text);
CREATE TABLE r25h.c (id int PRIMARY KEY, v text) INHERITS (r25h.p);
INSERT INTO r25h.c VALUES (10, 'x'), (11, 'y');
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard.protect('r25h.p');
\c "dbname=contrib_regression user=regress_rt25_h options="
ALTER TABLE r25h.c RENAME TO c_2020;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT relation, row_security, force_row_security FROM agent_guard.rls_before WHERE relation::text LIKE 'r25h.%' ORDER BY relation::text;
SELECT agent_guard.unprotect('r25h.p');
SELECT * FROM public.rt25_rls('r25h.c_2020');
SELECT count(*) AS states_left FROM agent_guard.rls_before WHERE relation::text LIKE 'r25h.%';
\c "dbname=contrib_regression user=regress_rt25_h options="
SELECT count(*) AS child_rows_owner_sees FROM r25h.c_2020;
INSERT INTO r25h.c_2020 VALUES (12, 'z');
SELECT count(*) AS rows_through_parent FROM r25h.p;

-- F1 (c): a protected table renamed, then protect() again, then unprotect();
-- (d): renamed, then unprotect(); a table with row security of its own
-- gets it back as it was
CREATE TABLE r25h.r (id int PRIMARY KEY, v text);
INSERT INTO r25h.r VALUES (1, 'a'), (2, 'b');
CREATE TABLE r25h.u (id int PRIMARY KEY, v text);
INSERT INTO r25h.u VALUES (1, 'a'), (2, 'b');
CREATE TABLE r25h.own (id int PRIMARY KEY, v text);
INSERT INTO r25h.own VALUES (1, 'a'), (2, 'b');
ALTER TABLE r25h.own ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_all ON r25h.own USING (true) WITH CHECK (true);
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard.protect('r25h.r');
SELECT agent_guard.protect('r25h.u');
SELECT agent_guard.protect('r25h.own');
\c "dbname=contrib_regression user=regress_rt25_h options="
ALTER TABLE r25h.r RENAME TO r_live;
ALTER TABLE r25h.u RENAME TO u_live;
ALTER TABLE r25h.own RENAME TO own_live;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard.protect('r25h.r_live');
SELECT * FROM public.rt25_rls('r25h.r_live');
SELECT agent_guard.unprotect('r25h.u_live');
SELECT agent_guard.unprotect('r25h.own_live');
SELECT relation, row_security, force_row_security FROM agent_guard.rls_before WHERE relation::text LIKE 'r25h.%' ORDER BY relation::text;
SELECT c.relname, r.* FROM pg_class c, public.rt25_rls(c.oid) r
 WHERE c.relnamespace = 'r25h'::regnamespace AND c.relkind = 'r' AND c.relname LIKE '%live' ORDER BY 1;
\c "dbname=contrib_regression user=regress_rt25_h options="
SELECT count(*) AS r_rows_owner_sees FROM r25h.r_live;
INSERT INTO r25h.r_live VALUES (3, 'c');
SELECT count(*) AS u_rows_owner_sees FROM r25h.u_live;
INSERT INTO r25h.u_live VALUES (3, 'c');
INSERT INTO r25h.own_live VALUES (3, 'c');
SELECT count(*) AS own_rows_owner_sees FROM r25h.own_live;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard.unprotect('r25h.r_live');
SELECT * FROM public.rt25_rls('r25h.r_live');

-- no state kept (lost): the guard's ag_visible says row security was off
CREATE TABLE r25h.f (id int PRIMARY KEY);
ALTER TABLE r25h.f OWNER TO regress_rt25_h;
INSERT INTO r25h.f VALUES (1);
SELECT agent_guard.protect('r25h.f');
DELETE FROM agent_guard.rls_before WHERE relation = 'r25h.f'::regclass;
SELECT agent_guard.unprotect('r25h.f');
SELECT * FROM public.rt25_rls('r25h.f');
\c "dbname=contrib_regression user=regress_rt25_h options="
SELECT count(*) AS f_rows_owner_sees FROM r25h.f;

-- a dropped relation's state is forgotten: a restore would name another
CREATE TABLE r25h.gone (id int PRIMARY KEY);
CREATE TABLE r25h.gone_kid (id int PRIMARY KEY) INHERITS (r25h.gone);
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard.protect('r25h.gone');
SELECT count(*) AS states FROM agent_guard.rls_before WHERE relation::text LIKE 'r25h.gone%';
DROP TABLE r25h.gone CASCADE;
SELECT count(*) AS states_of_dropped FROM agent_guard.rls_before b
 WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = b.relation::oid);

-- F2: the shared role's tagged transactions and session
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG004 each
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-25';
ALTER DEFAULT PRIVILEGES IN SCHEMA r25s GRANT ALL ON TABLES TO regress_bot WITH GRANT OPTION;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-25';
ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO PUBLIC;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-25';
ALTER DEFAULT PRIVILEGES FOR ROLE regress_tagged GRANT USAGE ON SEQUENCES TO regress_bot;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-25';
ALTER DEFAULT PRIVILEGES REVOKE ALL ON TABLES FROM regress_tagged;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-25';
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-25';
DO $$ BEGIN EXECUTE 'ALTER DEFAULT PRIVILEGES IN SCHEMA r25s GRANT SELECT ON TABLES TO regress_rt25_h'; END $$;
ROLLBACK;
\set VERBOSITY default
SELECT count(*) AS default_acls FROM pg_default_acl WHERE defaclrole = 'regress_tagged'::regrole;
\c "dbname=contrib_regression user=regress_tagged options=-cagent_guard.agent_id=harness-25s"
\set SHOW_CONTEXT never
-- error: YG004 (the reason in full once)
ALTER DEFAULT PRIVILEGES IN SCHEMA r25s GRANT SELECT ON TABLES TO regress_bot;
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
-- the human's side: the shared role untagged sets its defaults
BEGIN;
ALTER DEFAULT PRIVILEGES IN SCHEMA r25s GRANT SELECT ON TABLES TO regress_rt25_h;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
SELECT defaclnamespace::regnamespace, defaclobjtype, defaclacl FROM pg_default_acl
 WHERE defaclrole = 'regress_tagged'::regrole ORDER BY defaclnamespace::regnamespace::text, defaclobjtype;
ROLLBACK;
-- a registered agent's own defaults: allowed, as before
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt25"
\set SHOW_CONTEXT never
BEGIN;
ALTER DEFAULT PRIVILEGES IN SCHEMA r25 GRANT SELECT ON TABLES TO regress_human;
SELECT defaclnamespace::regnamespace, defaclobjtype, defaclacl FROM pg_default_acl
 WHERE defaclrole = 'regress_bot'::regrole;
ROLLBACK;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
SELECT agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT reason FROM agent_guard.requests
 WHERE request_id > :req_before
   AND statement IN ('ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO PUBLIC',
                     'ALTER DEFAULT PRIVILEGES REVOKE ALL ON TABLES FROM regress_tagged')
 ORDER BY request_id;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
DROP SCHEMA r25 CASCADE;
DROP SCHEMA r25h CASCADE;
DROP SCHEMA r25s CASCADE;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_bot;
DROP FUNCTION public.rt25_rls(regclass);
DROP ROLE regress_rt25_h;
