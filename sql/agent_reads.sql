--
-- agent_reads: an agent's default or rule reading, with a human's rights,
-- what only the human may see, and keeping it in the agent's table (red
-- team 15, F8; issue 16): superuser-only settings (current_setting,
-- pg_settings), other sessions' statements (pg_stat_activity), the human's
-- prepared statements and cursors.  Refused (YG002): current_setting() of a
-- superuser-only setting, or of one named at run time, when the agent
-- stores it and when a human's statement runs it; the others as functions
-- that act with their caller's rights.  current_setting() of an ordinary
-- setting stays allowed in an agent's default; the human reads all of it
-- in statements of their own.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE SCHEMA rdb AUTHORIZATION regress_bot;         -- the agent's
GRANT USAGE ON SCHEMA rdb TO PUBLIC;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rd-1"
-- refused when stored: a superuser-only setting, or a name made at run time
CREATE TABLE rdb.loot1 (id int, v text DEFAULT current_setting('data_directory'));
CREATE TABLE rdb.loot2 (id int, v text DEFAULT current_setting('hba_' || 'file', true));
CREATE TABLE rdb.loot3 (id int, v text);
ALTER TABLE rdb.loot3 ALTER COLUMN v SET DEFAULT current_setting('config_file');
CREATE VIEW rdb.vloot AS SELECT current_setting('data_directory') AS d;
CREATE RULE r0 AS ON INSERT TO rdb.loot3 DO ALSO
    INSERT INTO rdb.loot3 SELECT 0, current_setting('hba_file') WHERE new.id > 0;
-- allowed: ordinary settings named as constants
CREATE TABLE rdb.tenanted (id int, tenant text DEFAULT current_setting('app.tenant', true),
                           mem text DEFAULT current_setting('work_mem'));
GRANT SELECT, INSERT ON rdb.tenanted TO PUBLIC;
-- rules that read the other sessions' statements, the settings, the
-- session's prepared statements and cursors
CREATE TABLE rdb.loot (id int, v text);
GRANT INSERT ON rdb.loot TO PUBLIC;
CREATE TABLE rdb.inbox1 (id int);
CREATE TABLE rdb.inbox2 (id int);
CREATE TABLE rdb.inbox3 (id int);
CREATE TABLE rdb.inbox4 (id int);
CREATE TABLE rdb.inbox5 (id int);
GRANT INSERT ON rdb.inbox1, rdb.inbox2, rdb.inbox3, rdb.inbox4, rdb.inbox5 TO PUBLIC;
CREATE RULE r1 AS ON INSERT TO rdb.inbox1 DO ALSO
    INSERT INTO rdb.loot SELECT 1, string_agg(query, ' | ') FROM pg_stat_activity;
CREATE RULE r2 AS ON INSERT TO rdb.inbox2 DO ALSO
    INSERT INTO rdb.loot SELECT 2, string_agg(name || '=' || setting, ',') FROM pg_settings;
CREATE RULE r3 AS ON INSERT TO rdb.inbox3 DO ALSO
    INSERT INTO rdb.loot SELECT 3, string_agg(statement, ',') FROM pg_prepared_statements;
CREATE RULE r4 AS ON INSERT TO rdb.inbox4 DO ALSO
    INSERT INTO rdb.loot SELECT 4, string_agg(statement, ',') FROM pg_cursors;
CREATE RULE r5 AS ON INSERT TO rdb.inbox5 DO ALSO
    INSERT INTO rdb.loot SELECT 5, string_agg(pg_stat_get_backend_activity(i), ',')
      FROM pg_stat_get_backend_idset() i;
-- the superuser: the rules' reads are refused, the ordinary default runs
\c "dbname=contrib_regression user=regress_su options=-capp.tenant=acme"
INSERT INTO rdb.tenanted(id) VALUES (1);
SELECT id, tenant, mem IS NOT NULL AS mem FROM rdb.tenanted;
PREPARE secret_stmt AS SELECT 'secret-token-123';
BEGIN;
DECLARE secret_cur CURSOR FOR SELECT 'secret-token-456';
INSERT INTO rdb.inbox4 VALUES (4);
ROLLBACK;
INSERT INTO rdb.inbox1 VALUES (1);
INSERT INTO rdb.inbox2 VALUES (2);
INSERT INTO rdb.inbox3 VALUES (3);
INSERT INTO rdb.inbox5 VALUES (5);
-- a default a human put on the agent's table: judged when the statement is planned
ALTER TABLE rdb.loot ALTER COLUMN v SET DEFAULT current_setting('hba_file');
INSERT INTO rdb.loot(id) VALUES (7);
ALTER TABLE rdb.loot ALTER COLUMN v SET DEFAULT current_setting('work_mem');
INSERT INTO rdb.loot(id) VALUES (8);
-- the human reads them in statements of their own
SELECT current_setting('data_directory') IS NOT NULL AS reads_setting,
       (SELECT count(*) > 0 FROM pg_settings WHERE name = 'hba_file') AS reads_settings,
       (SELECT count(*) > 0 FROM pg_stat_activity) AS reads_activity,
       (SELECT count(*) FROM pg_prepared_statements WHERE name = 'secret_stmt') AS prepared;

-- nothing reached the agent
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rd-1"
SELECT id, v IS NOT NULL AS has_value FROM rdb.loot ORDER BY id;
SELECT (SELECT count(*) FROM rdb.inbox1) + (SELECT count(*) FROM rdb.inbox2) +
       (SELECT count(*) FROM rdb.inbox3) + (SELECT count(*) FROM rdb.inbox5) AS inbox;

\c "dbname=contrib_regression user=regress_su options="
SET client_min_messages = warning;
DROP SCHEMA rdb CASCADE;
