--
-- agent_stats: the system views that filter with the caller's privilege
-- tests (red team 8, finding 6).  pg_stats shows the most common values and
-- histograms of the tables the current user may read; read from an
-- agent's view or rule in a human's statement, has_column_privilege() and
-- row_security_active() would answer for the human, and the agent's view
-- would show the human's share.  They, and every privilege test whose role
-- is the current user, act with their caller's rights: refused (YG002) in
-- a human's statement that runs an agent's stored code.  The human reads
-- pg_stats directly as before; the agent reads its own view in its own
-- session as before, and sees only what it may read.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_sts_human LOGIN;               -- a human no agent is a member of
CREATE SCHEMA sts;                                  -- the humans'
GRANT USAGE ON SCHEMA sts TO PUBLIC;
CREATE TABLE sts.patients (id int, diagnosis text, code int);
INSERT INTO sts.patients
    SELECT g, CASE WHEN g % 3 = 0 THEN 'measles' WHEN g % 3 = 1 THEN 'mumps' ELSE 'flu' END, g % 5
      FROM generate_series(1, 300) g;
CREATE STATISTICS sts.patients_st (mcv) ON diagnosis, code FROM sts.patients;
CREATE STATISTICS sts.patients_ex ON (lower(diagnosis)) FROM sts.patients;
ANALYZE sts.patients;
GRANT SELECT ON sts.patients TO regress_sts_human;  -- the agent may not read it
CREATE SCHEMA stsb AUTHORIZATION regress_bot;       -- the agent's
GRANT USAGE ON SCHEMA stsb TO PUBLIC;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-sts-1"
SELECT agent_guard.in_agent_session();
SELECT has_table_privilege('sts.patients', 'SELECT') AS bot_reads_patients;
CREATE TABLE stsb.loot (v text);
GRANT INSERT ON stsb.loot TO PUBLIC;
-- the leak attempts: views over the statistics views, information_schema,
-- a privilege test called directly, and a rule a human's INSERT runs
CREATE VIEW stsb.mcv AS
    SELECT attname, most_common_vals::text AS vals FROM pg_stats WHERE schemaname = 'sts';
CREATE VIEW stsb.mcv_ext AS
    SELECT statistics_name, most_common_vals::text AS vals FROM pg_stats_ext WHERE schemaname = 'sts';
CREATE VIEW stsb.mcv_expr AS
    SELECT expr, most_common_vals::text AS vals FROM pg_stats_ext_exprs WHERE schemaname = 'sts';
CREATE VIEW stsb.cols AS
    SELECT column_name FROM information_schema.columns WHERE table_schema = 'sts';
CREATE VIEW stsb.probe AS
    SELECT has_table_privilege('sts.patients', 'SELECT') AS may,
           pg_has_role('regress_su', 'MEMBER') AS su,
           row_security_active('sts.patients') AS rls;
CREATE TABLE stsb.inbox (v text);
CREATE RULE copy_stats AS ON INSERT TO stsb.inbox
    DO ALSO INSERT INTO stsb.loot SELECT most_common_vals::text FROM pg_stats WHERE schemaname = 'sts';
GRANT SELECT ON stsb.mcv, stsb.mcv_ext, stsb.mcv_expr, stsb.cols, stsb.probe TO PUBLIC;
GRANT INSERT ON stsb.inbox TO PUBLIC;
-- the agent's own session: its views show what the agent may read, nothing of the table
SELECT * FROM stsb.mcv;
SELECT * FROM stsb.mcv_ext;
SELECT * FROM stsb.mcv_expr;
SELECT * FROM stsb.cols;
SELECT * FROM stsb.probe;

-- a superuser reads the agent's views: refused, nothing shown
\c "dbname=contrib_regression user=regress_su options="
SELECT * FROM stsb.mcv;
SELECT * FROM stsb.mcv_ext;
SELECT * FROM stsb.mcv_expr;
SELECT * FROM stsb.cols;
SELECT * FROM stsb.probe;
INSERT INTO stsb.inbox VALUES ('hello');
-- inside a human's function too
CREATE FUNCTION sts.peek() RETURNS SETOF text LANGUAGE plpgsql AS
    $$BEGIN RETURN QUERY SELECT vals FROM stsb.mcv; END$$;
SELECT sts.peek();
-- the human's side: pg_stats read directly works and shows what it showed
SELECT attname, most_common_vals::text AS vals
  FROM pg_stats WHERE schemaname = 'sts' AND attname = 'diagnosis';
SELECT statistics_name, most_common_vals IS NOT NULL AS has_mcv
  FROM pg_stats_ext WHERE schemaname = 'sts' ORDER BY 1;
SELECT expr, most_common_vals::text AS vals FROM pg_stats_ext_exprs WHERE schemaname = 'sts';
SELECT count(*) AS columns FROM information_schema.columns WHERE table_schema = 'sts';
-- and a privilege test in a statement that reads no code of the agent's
SELECT has_column_privilege('sts.patients', 'diagnosis', 'SELECT') AS may;

-- a human who may read the table, not a superuser: the same
\c "dbname=contrib_regression user=regress_sts_human options="
SELECT * FROM stsb.mcv;
SELECT * FROM stsb.mcv_ext;
INSERT INTO stsb.inbox VALUES ('hello');
SELECT attname, most_common_vals::text AS vals
  FROM pg_stats WHERE schemaname = 'sts' AND attname = 'diagnosis';

-- nothing reached the agent
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-sts-1"
SELECT count(*) AS looted FROM stsb.loot;
SELECT count(*) AS inbox FROM stsb.inbox;

\c "dbname=contrib_regression user=regress_su options="
DROP SCHEMA stsb CASCADE;
DROP SCHEMA sts CASCADE;
DROP ROLE regress_sts_human;
