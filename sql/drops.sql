--
-- drops: a protected table that is dropped, by anyone and by any path,
-- leaves agent_guard.protected and the drop is on record; an agent's
-- approved destructive statement is an event of its run
--
\c "dbname=contrib_regression user=regress_su options="
-- request ids that do not depend on the files run before this one
SELECT setval('agent_guard.requests_request_id_seq', 1000) IS NOT NULL AS ids_from_1001;
CREATE SCHEMA drops AUTHORIZATION regress_bot;
SET ROLE regress_bot;
CREATE TABLE drops.human_dropped (id int PRIMARY KEY, v text);
CREATE TABLE drops.cascaded (id int PRIMARY KEY, v text);
CREATE TABLE drops.agent_dropped (id int PRIMARY KEY, v text);
CREATE TABLE drops.agent_emptied (id int PRIMARY KEY, v text);
INSERT INTO drops.agent_dropped SELECT g, 'v' || g FROM generate_series(1, 7) g;
INSERT INTO drops.agent_emptied SELECT g, 'v' || g FROM generate_series(1, 5) g;
RESET ROLE;
SELECT agent_guard.protect('drops.human_dropped');
SELECT agent_guard.protect('drops.cascaded', false);
SELECT agent_guard.protect('drops.agent_dropped');
SELECT agent_guard.protect('drops.agent_emptied');
SELECT relation FROM agent_guard.protected WHERE relation::text LIKE 'drops.%' ORDER BY 1;

-- a human's DROP TABLE: gone from protected, a DROP event of no run
DROP TABLE drops.human_dropped;
SELECT count(*) AS still_listed FROM agent_guard.protected_tables WHERE relation::oid NOT IN (SELECT oid FROM pg_class);
SELECT agent_id, run_id, login_role, relation, operation, detail
  FROM agent_guard.events WHERE operation = 'DROP' ORDER BY event_id;

-- an agent's DROP TABLE: refused until approved, then on record in its run
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-drops-1"
-- error: needs approval
DROP TABLE drops.agent_dropped;
-- error: needs approval
TRUNCATE drops.agent_emptied;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT request_id AS drop_request FROM agent_guard.requests
 WHERE run_id = 'run-drops-1' AND statement = 'DROP TABLE drops.agent_dropped' \gset
SELECT request_id AS trunc_request FROM agent_guard.requests
 WHERE run_id = 'run-drops-1' AND statement = 'TRUNCATE drops.agent_emptied' \gset
SELECT status FROM agent_guard.approve(:drop_request, 'obsolete table');
SELECT status FROM agent_guard.approve(:trunc_request, 'reload follows');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-drops-1"
DROP TABLE drops.agent_dropped;
TRUNCATE drops.agent_emptied;
\c "dbname=contrib_regression user=regress_su options="
SELECT relation FROM agent_guard.protected WHERE relation::text LIKE 'drops.%' ORDER BY 1;
SELECT agent_id, run_id, login_role, relation, operation, detail - 'key_columns' AS detail
  FROM agent_guard.events WHERE operation = 'DROP' AND run_id = 'run-drops-1' ORDER BY event_id;

-- each approved statement that ran is an event of the run: what it
-- dropped or emptied, the rows that held, the request, who approved it
SELECT agent_id, run_id, login_role, relation, operation,
       detail->>'command' AS command, detail->>'statement' AS statement,
       (detail->>'request_id')::bigint = CASE detail->>'command' WHEN 'DROP' THEN :drop_request
                                                                ELSE :trunc_request END AS request_named,
       detail->>'approved_by' AS approved_by, detail->>'note' AS note, detail->'targets' AS targets
  FROM agent_guard.events WHERE operation = 'EXECUTED' AND run_id = 'run-drops-1' ORDER BY event_id;
SELECT run_id, transactions, guard_events, human_acts, status FROM agent_guard.runs WHERE run_id = 'run-drops-1';
SELECT regexp_replace(line, '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ [+-]\d\d(:\d\d)?', 'TIME', 'g') AS line
  FROM regexp_split_to_table(agent_guard.postmortem('run-drops-1'), E'\n') AS line
 WHERE line ~ '^## Approved|^- .*`(DROP|TRUNCATE)'
 ORDER BY line;

-- a request only for what the agent could run once approved: a table it
-- does not own, or may not empty, gets PostgreSQL's own error, no request
CREATE SCHEMA drops_other;
CREATE TABLE drops_other.not_mine (id int PRIMARY KEY, v text);
GRANT USAGE ON SCHEMA drops_other TO regress_bot;
GRANT SELECT ON drops_other.not_mine TO regress_bot;
SELECT agent_guard.protect('drops_other.not_mine');
SELECT count(*) AS requests_before FROM agent_guard.requests \gset
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-drops-2"
-- error: must be owner (42501), not a request
DROP TABLE drops_other.not_mine;
-- error: must be owner, also when it comes with a table the agent owns
DROP TABLE drops.cascaded, drops_other.not_mine;
-- error: permission denied
TRUNCATE drops_other.not_mine;
-- error: must be owner
ALTER TABLE drops_other.not_mine DROP COLUMN v;
-- error: must be owner
ALTER TABLE drops_other.not_mine RENAME TO still_not_mine;
-- error: must be owner of schema
DROP SCHEMA drops_other CASCADE;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT count(*) - :requests_before AS new_requests FROM agent_guard.requests;
SELECT count(*) AS not_mine_protected FROM agent_guard.protected WHERE relation = 'drops_other.not_mine'::regclass;

-- the same for the other statements that wait for approval: a database the
-- agent does not own, objects of a role whose privileges it lacks, a type
-- or domain that is neither its own nor in its schema, and the structure
-- of a protected table it does not own: PostgreSQL's 42501, no request
CREATE ROLE regress_drops_human;
CREATE DATABASE regress_drops_db;
CREATE TYPE drops_other.not_my_type AS (a int);
CREATE DOMAIN drops_other.not_my_domain AS int;
CREATE TYPE drops_other.not_my_mood AS ENUM ('calm', 'tense');
ALTER TABLE drops_other.not_mine ADD COLUMN d drops_other.not_my_domain,
                                 ADD COLUMN m drops_other.not_my_mood,
                                 ADD COLUMN s serial;
SET ROLE regress_bot;
CREATE TYPE drops.my_type AS (a int);
CREATE DOMAIN drops.my_domain AS int;
RESET ROLE;
SELECT count(*) AS requests_before FROM agent_guard.requests \gset
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-drops-3"
-- error: must be owner of database
DROP DATABASE regress_drops_db;
\echo :LAST_ERROR_SQLSTATE
-- error: permission denied to drop objects (terse: PostgreSQL 16+ adds a DETAIL)
\set VERBOSITY terse
DROP OWNED BY regress_drops_human;
\echo :LAST_ERROR_SQLSTATE
-- error: the same when the agent's own role comes first
DROP OWNED BY regress_bot, regress_drops_human;
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- error: must be owner of type
DROP TYPE drops_other.not_my_type CASCADE;
\echo :LAST_ERROR_SQLSTATE
-- error: must be owner of type, also when it comes with a type the agent owns
DROP TYPE drops.my_type, drops_other.not_my_type CASCADE;
\echo :LAST_ERROR_SQLSTATE
-- error: must be owner of type (a domain)
DROP DOMAIN drops_other.not_my_domain CASCADE;
\echo :LAST_ERROR_SQLSTATE
-- error: must be owner of type
ALTER DOMAIN drops_other.not_my_domain SET NOT NULL;
\echo :LAST_ERROR_SQLSTATE
-- error: must be owner of type
ALTER TYPE drops_other.not_my_mood RENAME VALUE 'calm' TO 'serene';
\echo :LAST_ERROR_SQLSTATE
-- error: must be owner of sequence
ALTER SEQUENCE drops_other.not_mine_s_seq RESTART WITH 100;
\echo :LAST_ERROR_SQLSTATE
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT count(*) - :requests_before AS new_requests FROM agent_guard.requests;

-- what the agent could run once approved still waits for a human
ALTER DATABASE regress_drops_db OWNER TO regress_bot;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-drops-4"
-- error: needs approval
DROP DATABASE regress_drops_db;
\echo :LAST_ERROR_SQLSTATE
-- error: needs approval
DROP OWNED BY regress_bot;
\echo :LAST_ERROR_SQLSTATE
-- error: needs approval
DROP TYPE drops.my_type CASCADE;
\echo :LAST_ERROR_SQLSTATE
-- error: needs approval
DROP DOMAIN drops.my_domain CASCADE;
\echo :LAST_ERROR_SQLSTATE
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT statement, status FROM agent_guard.requests WHERE run_id = 'run-drops-4' ORDER BY request_id;
SELECT count(*) AS drops_db_left FROM pg_database WHERE datname = 'regress_drops_db';

-- a human's own statements are never judged: all of it runs, no request
SELECT count(*) AS requests_before FROM agent_guard.requests \gset
ALTER DOMAIN drops_other.not_my_domain SET NOT NULL;
ALTER TYPE drops_other.not_my_mood RENAME VALUE 'calm' TO 'serene';
ALTER SEQUENCE drops_other.not_mine_s_seq RESTART WITH 100;
DROP TYPE drops_other.not_my_type CASCADE;
DROP OWNED BY regress_drops_human;
DROP DATABASE regress_drops_db;
SELECT agent_guard._flush_requests();
SELECT count(*) - :requests_before AS new_requests FROM agent_guard.requests;
DROP ROLE regress_drops_human;
DROP SCHEMA drops_other CASCADE;

-- DROP SCHEMA ... CASCADE takes the rest: each on record as cascaded
DROP SCHEMA drops CASCADE;
SELECT relation, detail->>'command' AS command, detail->>'cascaded' AS cascaded
  FROM agent_guard.events WHERE operation = 'DROP' AND run_id IS NULL ORDER BY event_id;
SELECT count(*) AS protected_left FROM agent_guard.protected_tables
 WHERE relation::oid NOT IN (SELECT oid FROM pg_class);
