--
-- rt20_open: red team 20's findings on agent code, identity and limits.
-- 20c F1: a deferred constraint trigger's statements at COMMIT (or at
-- the end of an implicit transaction) count toward the statement that
-- ended the transaction: its 1001st row is refused (YG003), as a DO
-- block's is; before, each one-row statement started at 0 rows.
-- 20b F1: a transaction tagged with SET LOCAL agent_guard.agent_id by a
-- shared role may not change code the humans already run: CREATE OR
-- REPLACE or ALTER of a function, procedure or trigger function, CREATE
-- OR REPLACE VIEW, of one made before the transaction (YG004, on
-- record).  What it made itself it may change.
-- 20b F2: nor create the shared role's own "$user" schema (YG004).
-- 20b F4: a tagged transaction's refusals of stored code are filed
-- under its tag, not the shared login role.
-- From the human's side: the same statements work.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 860000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
GRANT CREATE ON DATABASE contrib_regression TO regress_bot, regress_tagged;
CREATE SCHEMA r20o AUTHORIZATION regress_bot;
CREATE SCHEMA r20s AUTHORIZATION regress_tagged;
CREATE SCHEMA r20t AUTHORIZATION regress_tagged;
GRANT USAGE ON SCHEMA r20o, r20s TO regress_human;

-- 20c F1: the agent's deferred trigger writes its protected table at commit
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt20o"
\set SHOW_CONTEXT never
CREATE TABLE r20o.mine (id int PRIMARY KEY, v text);
INSERT INTO r20o.mine SELECT g, 'v' FROM generate_series(1, 1200) g;
CREATE TABLE r20o.scratch (id int);
-- a loop over a query opens a portal of its own (red team 21, finding 5)
CREATE FUNCTION r20o.touch() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT id FROM r20o.mine WHERE id <= 1100 ORDER BY id LOOP
    UPDATE r20o.mine SET v = v || 'D' WHERE id = r.id;
  END LOOP;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER touch AFTER INSERT ON r20o.scratch
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION r20o.touch();
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('r20o.mine');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt20o"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: at COMMIT, the 1001st row (YG003)
BEGIN;
INSERT INTO r20o.scratch VALUES (1);
COMMIT;
-- error: at the end of the implicit transaction (YG003)
INSERT INTO r20o.scratch VALUES (2);
-- the same trigger writing 900 rows is allowed, and so is the next
-- transaction's: each ends its own statement
CREATE OR REPLACE FUNCTION r20o.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..900 LOOP UPDATE r20o.mine SET v = v || 'D' WHERE id = i; END LOOP;
  RETURN NULL;
END $$;
INSERT INTO r20o.scratch VALUES (3);
BEGIN;
INSERT INTO r20o.scratch VALUES (4);
COMMIT;
\set VERBOSITY default
SELECT count(*) FILTER (WHERE v = 'vDD') AS twice, count(*) FILTER (WHERE v = 'v') AS untouched
  FROM r20o.mine;

-- 20b: the shared role's code, made by a human (untagged)
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
CREATE TABLE r20s.orders (id int PRIMARY KEY, n text);
CREATE TABLE r20s.orders_log (id int);
CREATE FUNCTION r20s.orders_log() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO r20s.orders_log VALUES (NEW.id); RETURN NEW; END $$;
CREATE TRIGGER orders_log AFTER INSERT ON r20s.orders FOR EACH ROW EXECUTE FUNCTION r20s.orders_log();
CREATE FUNCTION r20s.report() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM r20s.orders';
CREATE PROCEDURE r20s.tidy() LANGUAGE sql AS 'SELECT 1';
CREATE VIEW r20s.recent AS SELECT id, n FROM r20s.orders;
GRANT SELECT, INSERT ON r20s.orders, r20s.recent TO regress_human;
GRANT SELECT, INSERT ON r20s.orders_log TO regress_human;

-- the agent, through its harness's tagged transactions
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG004 each
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-20';
CREATE OR REPLACE FUNCTION r20s.orders_log() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN DELETE FROM r20s.orders_log; RETURN NEW; END $$;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-20';
CREATE OR REPLACE FUNCTION r20s.report() RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-20';
ALTER FUNCTION r20s.report() SECURITY DEFINER;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-20';
ALTER FUNCTION r20s.report() RENAME TO report_old;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-20';
CREATE OR REPLACE PROCEDURE r20s.tidy() LANGUAGE sql AS 'DELETE FROM r20s.orders_log';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-20';
CREATE OR REPLACE VIEW r20s.recent AS SELECT id, n FROM r20s.orders WHERE id > 100;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-20';
DO $$ BEGIN EXECUTE 'CREATE OR REPLACE FUNCTION r20s.report() RETURNS bigint LANGUAGE sql AS ''SELECT 1::bigint'''; END $$;
ROLLBACK;
-- red team 21: error: YG004 each: drop and make again, an overload, a view
-- moved or renamed away, a rule or row security on the humans' table
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-20';
DROP FUNCTION r20s.report();
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-20';
CREATE FUNCTION r20s.report(text) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-20';
CREATE FUNCTION r20t.report() RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-20';
ALTER VIEW r20s.recent RENAME TO recent_old;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-20';
ALTER TABLE r20s.orders SET SCHEMA r20t;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-20';
-- (YG003 first, as before: the gates ask approval of a view's drop)
DROP VIEW r20s.recent;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-20';
CREATE RULE nothing AS ON UPDATE TO r20s.orders DO INSTEAD NOTHING;
ROLLBACK;
-- 20b F2: error: the shared role's "$user" schema (YG004)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-20';
CREATE SCHEMA regress_tagged;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-20';
ALTER SCHEMA r20s RENAME TO regress_tagged;
ROLLBACK;
-- 20b F4: error: a new trigger running the humans' function (YG002), filed
-- under the tag
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-20';
CREATE TABLE r20s.more (id int);
CREATE TRIGGER more_log AFTER INSERT ON r20s.more FOR EACH ROW EXECUTE FUNCTION r20s.orders_log();
ROLLBACK;
-- allowed: what the transaction made itself (a GRANT of it to a role an agent
-- is a member of too: red team 23b, finding 4), new names
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-20';
CREATE FUNCTION r20s.mine() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE OR REPLACE FUNCTION r20s.mine() RETURNS int LANGUAGE sql AS 'SELECT 2';
ALTER FUNCTION r20s.mine() STABLE;
CREATE VIEW r20s.mine_v AS SELECT 1 AS one;
CREATE OR REPLACE VIEW r20s.mine_v AS SELECT 1 AS one, 2 AS two;
CREATE RULE mine_nothing AS ON INSERT TO r20s.mine_v DO INSTEAD NOTHING;
ALTER VIEW r20s.mine_v RENAME TO mine_w;
ALTER TABLE r20s.orders ADD COLUMN note text;
GRANT EXECUTE ON FUNCTION r20s.mine() TO regress_human;
SELECT r20s.mine();
COMMIT;
\set VERBOSITY default
-- the humans' code as it was: the trigger logs, the view shows every row
\c "dbname=contrib_regression user=regress_human options="
INSERT INTO r20s.orders VALUES (1, 'one'), (2, 'two');
SELECT (SELECT count(*) FROM r20s.orders_log) AS logged, (SELECT count(*) FROM r20s.recent) AS shown,
       r20s.report() AS reported;

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT reason FROM agent_guard.requests
 WHERE request_id > :req_before AND statement LIKE 'CREATE OR REPLACE VIEW%';

-- the human's side: the shared role untagged changes its code and makes
-- its "$user" schema
\c "dbname=contrib_regression user=regress_tagged options="
BEGIN;
CREATE OR REPLACE FUNCTION r20s.report() RETURNS bigint LANGUAGE sql AS 'SELECT 2::bigint';
ALTER FUNCTION r20s.report() SECURITY DEFINER;
CREATE OR REPLACE VIEW r20s.recent AS SELECT id, n FROM r20s.orders WHERE id > 1;
CREATE SCHEMA regress_tagged;
DROP PROCEDURE r20s.tidy();
CREATE RULE nothing AS ON UPDATE TO r20s.orders DO INSTEAD NOTHING;
SELECT r20s.report() AS reported, (SELECT count(*) FROM r20s.recent) AS shown;
ROLLBACK;
\c "dbname=contrib_regression user=regress_su options="
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r20o.mine');
DROP SCHEMA r20o CASCADE;
DROP SCHEMA r20s CASCADE;
DROP SCHEMA r20t CASCADE;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_bot, regress_tagged;
