--
-- rt15_rule_ctes: red team 15a, findings 2 and 10 (issue #16).
-- 1. (finding 2) An agent's rule whose action is a SELECT with a writing
--    WITH (WITH d AS (DELETE ...) SELECT ...) is the agent's code in a
--    human's statement as a plain DELETE action is: its DELETE without
--    WHERE is refused (YG004), its rows count toward the agent's
--    max_rows_per_statement (YG004), the agent's freeze (YG006) and
--    read_only policy (YG008) hold for it.  CREATE RULE of such an action
--    that writes a protected table is refused (YG004); one made before the
--    table was protected is refused as it runs (YG004).
-- 2. (finding 10) A human's writing WITH that writes an agent's view: the
--    agent's DO INSTEAD rule's action, which PostgreSQL puts in the WITH,
--    is judged as the plain statement's is (a DO INSTEAD action that is
--    a SELECT with a writing WITH, as in 1).
-- 3. The human's side: the human's own writing WITH queries and rules, in
--    a freeze and under the agent's read_only policy, also a human's WITH
--    query PostgreSQL copies into the agent's rule's action.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
CREATE ROLE regress_r15_human LOGIN;          -- a human, not a superuser
CREATE SCHEMA r15 AUTHORIZATION regress_bot;  -- the agent's
GRANT USAGE ON SCHEMA r15 TO PUBLIC;
CREATE SCHEMA r15h AUTHORIZATION regress_r15_human;  -- the human's

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r15-1"
CREATE TABLE r15.victim (n int);
INSERT INTO r15.victim SELECT generate_series(1, 3000);
GRANT SELECT ON r15.victim TO regress_r15_human;
CREATE TABLE r15.log (n bigint);
-- 1. the agent's rules whose actions write in a WITH (a writing WITH runs
--    whatever its query reads, so one table each)
CREATE TABLE r15.in_all (id int);
CREATE TABLE r15.in_few (id int);
CREATE TABLE r15.in_many (id int);
CREATE TABLE r15.in_two (id int);
GRANT SELECT, INSERT ON r15.in_all, r15.in_few, r15.in_many, r15.in_two TO regress_r15_human;
CREATE RULE c_all AS ON INSERT TO r15.in_all
    DO ALSO WITH d_all AS (DELETE FROM r15.victim RETURNING 1) SELECT count(*) FROM d_all;
CREATE RULE c_few AS ON INSERT TO r15.in_few
    DO ALSO WITH d_few AS (DELETE FROM r15.victim WHERE n <= 10 RETURNING 1) SELECT count(*) FROM d_few;
CREATE RULE c_many AS ON INSERT TO r15.in_many
    DO ALSO WITH d_many AS (DELETE FROM r15.victim WHERE n <= 2000 RETURNING 1) SELECT count(*) FROM d_many;
CREATE RULE c_two AS ON INSERT TO r15.in_two
    DO ALSO WITH d_one AS (UPDATE r15.victim SET n = n WHERE n < 0 RETURNING 1),
                 d_two AS (UPDATE r15.victim SET n = n RETURNING 1)
            INSERT INTO r15.log SELECT count(*) FROM d_one;
-- 2. the agent's views with DO INSTEAD rules
CREATE TABLE r15.vt (id int);
GRANT SELECT, INSERT ON r15.vt TO regress_r15_human;
CREATE VIEW r15.vin AS SELECT * FROM r15.vt;
CREATE VIEW r15.vall AS SELECT * FROM r15.vt;
CREATE VIEW r15.vsel AS SELECT * FROM r15.vt;
GRANT SELECT, INSERT ON r15.vin, r15.vall, r15.vsel TO regress_r15_human;
CREATE RULE vi AS ON INSERT TO r15.vin
    DO INSTEAD DELETE FROM r15.victim WHERE n <= NEW.id RETURNING n;
CREATE RULE va AS ON INSERT TO r15.vall DO INSTEAD DELETE FROM r15.victim RETURNING n;
CREATE RULE vs AS ON INSERT TO r15.vsel
    DO INSTEAD WITH d_sel AS (DELETE FROM r15.victim WHERE n <= 2000 RETURNING 1) SELECT count(*) FROM d_sel;
\c "dbname=contrib_regression user=regress_su options="
SELECT coalesce(max(request_id), 0) AS r15_before FROM agent_guard.requests \gset
\c "dbname=contrib_regression user=regress_r15_human options="
\set SHOW_CONTEXT never
-- ten rows of the agent's rule pass, each way
INSERT INTO r15.in_few VALUES (1);
INSERT INTO r15.vin VALUES (20) RETURNING *;
WITH x AS (INSERT INTO r15.vin VALUES (30) RETURNING *) SELECT count(*) FROM x;
SELECT count(*) AS victim_rows FROM r15.victim;
\set VERBOSITY sqlstate
-- error: YG004 (no WHERE), each
INSERT INTO r15.in_all VALUES (1);
INSERT INTO r15.in_two VALUES (1);
INSERT INTO r15.vall VALUES (1) RETURNING *;
WITH x AS (INSERT INTO r15.vall VALUES (1) RETURNING *) SELECT count(*) FROM x;
-- error: YG004 (past max_rows_per_statement), each
INSERT INTO r15.in_many VALUES (1);
INSERT INTO r15.vin VALUES (2000) RETURNING *;
WITH x AS (INSERT INTO r15.vin VALUES (2000) RETURNING *) SELECT count(*) FROM x;
INSERT INTO r15.vsel VALUES (1);
\set VERBOSITY default
-- in a WITH, the action of vs is a SELECT nothing reads: PostgreSQL runs none of it
WITH x AS (INSERT INTO r15.vsel VALUES (1)) SELECT 1;
SELECT count(*) AS victim_rows FROM r15.victim;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.freeze('incident 15', 'regress_bot');
\c "dbname=contrib_regression user=regress_r15_human options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG006, each
INSERT INTO r15.in_few VALUES (1);
INSERT INTO r15.vin VALUES (40) RETURNING *;
WITH x AS (INSERT INTO r15.vin VALUES (40) RETURNING *) SELECT count(*) FROM x;
INSERT INTO r15.vsel VALUES (1);
\set VERBOSITY default
SELECT count(*) AS victim_rows FROM r15.victim;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unfreeze('regress_bot');
SELECT mode FROM agent_guard.set_policy('regress_bot', 'read_only');
\c "dbname=contrib_regression user=regress_r15_human options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG008, each
INSERT INTO r15.in_few VALUES (1);
INSERT INTO r15.vin VALUES (40) RETURNING *;
WITH x AS (INSERT INTO r15.vin VALUES (40) RETURNING *) SELECT count(*) FROM x;
INSERT INTO r15.vsel VALUES (1);
\set VERBOSITY default
SELECT count(*) AS victim_rows FROM r15.victim;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.drop_policy('regress_bot');
SELECT agent_guard._flush_requests();
SELECT agent_id, kind, reason FROM agent_guard.requests WHERE request_id > :r15_before
 ORDER BY request_id;

-- 1b. a protected table in the WITH of an agent's rule's action
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r15-1b"
CREATE TABLE r15.prot (id int PRIMARY KEY, v text);
INSERT INTO r15.prot SELECT g, 'row ' || g FROM generate_series(1, 5) g;
CREATE TABLE r15.in_prot (id int);
GRANT SELECT, INSERT ON r15.in_prot TO regress_r15_human;
CREATE RULE p_ins AS ON INSERT TO r15.in_prot
    DO ALSO WITH d_prot AS (DELETE FROM r15.prot WHERE id <= 2 RETURNING 1) SELECT count(*) FROM d_prot;
CREATE VIEW r15.vprot AS SELECT * FROM r15.vt;
GRANT SELECT, INSERT ON r15.vprot TO regress_r15_human;
CREATE RULE vp AS ON INSERT TO r15.vprot
    DO INSTEAD DELETE FROM r15.prot WHERE id <= NEW.id RETURNING id;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('r15.prot');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r15-1b"
\set VERBOSITY sqlstate
-- error: YG004, each: the action writes a protected table in its WITH
CREATE RULE p_new AS ON INSERT TO r15.in_prot
    DO ALSO WITH d AS (DELETE FROM r15.prot WHERE id = 1 RETURNING 1) SELECT count(*) FROM d;
CREATE RULE p_new AS ON INSERT TO r15.in_prot
    DO ALSO WITH d AS (SELECT 1), e AS (UPDATE r15.prot SET v = 'x' WHERE id = 1 RETURNING 1)
            INSERT INTO r15.log SELECT count(*) FROM e;
\set VERBOSITY default
SELECT count(*) AS rules FROM pg_rules WHERE schemaname = 'r15' AND rulename = 'p_new';
\c "dbname=contrib_regression user=regress_r15_human options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG004, each
INSERT INTO r15.in_prot VALUES (1);
INSERT INTO r15.vprot VALUES (2) RETURNING *;
WITH x AS (INSERT INTO r15.vprot VALUES (2) RETURNING *) SELECT count(*) FROM x;
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
SELECT count(*) AS prot_rows FROM r15.prot;
SELECT agent_guard.unprotect('r15.prot');

-- 3. the human's side
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.freeze('incident 15b', 'regress_bot');
SELECT mode FROM agent_guard.set_policy('regress_bot', 'read_only');
\c "dbname=contrib_regression user=regress_r15_human options="
\set SHOW_CONTEXT never
CREATE TABLE r15h.own (id int);
INSERT INTO r15h.own SELECT generate_series(1, 1500);
CREATE TABLE r15h.queue (id int);
CREATE RULE h_q AS ON INSERT TO r15h.queue
    DO ALSO WITH d AS (DELETE FROM r15h.own RETURNING 1) SELECT count(*) FROM d;
-- the human's own writing WITH, without WHERE, 1500 rows: runs
WITH d AS (DELETE FROM r15h.own RETURNING id) SELECT count(*) FROM d;
INSERT INTO r15h.own SELECT generate_series(1, 1500);
-- the human's own rule's writing WITH: runs
INSERT INTO r15h.queue VALUES (1);
SELECT count(*) AS own_rows FROM r15h.own;
INSERT INTO r15h.own SELECT generate_series(1, 1500);
-- the human's writing WITH beside one that writes the agent's plain table: runs
WITH d AS (DELETE FROM r15h.own RETURNING 1), v AS (INSERT INTO r15.vt VALUES (7) RETURNING 1)
SELECT (SELECT count(*) FROM d) AS deleted, (SELECT count(*) FROM v) AS inserted;
SELECT count(*) AS own_rows FROM r15h.own;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unfreeze('regress_bot');
SELECT agent_guard.drop_policy('regress_bot');
\c "dbname=contrib_regression user=regress_r15_human options="
\set SHOW_CONTEXT never
DELETE FROM r15h.own;
INSERT INTO r15h.own SELECT generate_series(1, 5);
-- the human's WITH query, copied into the agent's DO INSTEAD rule's action,
-- stays the human's: its DELETE without WHERE runs
WITH d AS (DELETE FROM r15h.own RETURNING id) INSERT INTO r15.vin SELECT max(id) + 35 FROM d RETURNING *;
SELECT count(*) AS own_rows, (SELECT count(*) FROM r15.victim) AS victim_rows FROM r15h.own;

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
DROP SCHEMA r15 CASCADE;
DROP SCHEMA r15h CASCADE;
DROP ROLE regress_r15_human;
