--
-- rt30_open: red team 30's findings.
-- F8: SET CONSTRAINTS is the transaction's state, not a setting: run by an
-- agent's code in a human's transaction (a trigger of the agent's table,
-- an agent's function the human calls) it would stay for the rest of the
-- human's transaction, checking the human's deferred constraints at once
-- (a swap of unique keys fails) or moving immediate ones to COMMIT.  It is
-- refused there (YG002, on record); the human's own SET CONSTRAINTS and
-- the agent's in its own session still work.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 998000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r30o;
GRANT USAGE ON SCHEMA r30o TO regress_bot, regress_human;
GRANT CREATE ON DATABASE contrib_regression TO regress_bot;
CREATE SCHEMA r30b AUTHORIZATION regress_bot;
CREATE TABLE r30o.slots (id int PRIMARY KEY, pos int UNIQUE DEFERRABLE INITIALLY DEFERRED,
                         lane int UNIQUE DEFERRABLE INITIALLY IMMEDIATE);
INSERT INTO r30o.slots VALUES (1, 1, 1), (2, 2, 2);
SELECT agent_guard.protect('r30o.slots');
GRANT SELECT, INSERT, UPDATE, DELETE ON r30o.slots TO regress_bot, regress_human;

-- the agent's code
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt30-f8"
\set SHOW_CONTEXT never
CREATE TABLE r30b.inbox (id int PRIMARY KEY, msg text);
GRANT USAGE ON SCHEMA r30b TO regress_human;
GRANT SELECT, INSERT ON r30b.inbox TO regress_human;
CREATE FUNCTION r30b.inbox_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN SET CONSTRAINTS ALL IMMEDIATE; RETURN NEW; END $$;
CREATE TRIGGER t BEFORE INSERT ON r30b.inbox FOR EACH ROW EXECUTE FUNCTION r30b.inbox_trg();
CREATE FUNCTION r30b.defer(n int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN EXECUTE 'SET CONSTRAINTS r30o.slots_lane_key DEFERRED'; RETURN n; END $$;
GRANT EXECUTE ON FUNCTION r30b.defer(int) TO regress_human;
-- in the agent's own session its code may set the modes
BEGIN;
INSERT INTO r30b.inbox VALUES (1, 'own session');
SAVEPOINT s;
\set VERBOSITY sqlstate
UPDATE r30o.slots SET pos = 2 WHERE id = 1;   -- immediate now: checked at once
\set VERBOSITY default
ROLLBACK TO s;
SELECT r30b.defer(1) AS deferred;
UPDATE r30o.slots SET lane = 2 WHERE id = 1;  -- deferred now: checked at COMMIT
UPDATE r30o.slots SET lane = 1 WHERE id = 2;
COMMIT;
SELECT id, pos, lane FROM r30o.slots ORDER BY id;

-- the agent's side: its code in a human's transaction
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
BEGIN;
INSERT INTO r30b.inbox VALUES (2, 'note');
ROLLBACK;
BEGIN;
SELECT r30b.defer(1);
ROLLBACK;
\set VERBOSITY sqlstate
BEGIN;
SAVEPOINT a;
INSERT INTO r30b.inbox VALUES (3, 'note');
ROLLBACK TO a;
SELECT r30b.defer(2);
ROLLBACK TO a;
-- the human's deferred constraint is still deferred: the swap commits
UPDATE r30o.slots SET pos = 1 WHERE id = 1;
UPDATE r30o.slots SET pos = 3 WHERE id = 2;
-- and the immediate one still immediate
UPDATE r30o.slots SET lane = 1 WHERE id = 1;
ROLLBACK TO a;
UPDATE r30o.slots SET pos = 1 WHERE id = 1;
UPDATE r30o.slots SET pos = 3 WHERE id = 2;
COMMIT;
\set VERBOSITY default
SELECT id, pos, lane FROM r30o.slots ORDER BY id;
SELECT count(*) AS inbox_rows FROM r30b.inbox;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed;
SELECT request_id, agent_id, run_id, kind, status, statement, reason
  FROM agent_guard.requests WHERE request_id > :req_before ORDER BY request_id;
SELECT ok FROM agent_guard.verify_log();

-- the human's side: the human's own SET CONSTRAINTS works
\c "dbname=contrib_regression user=regress_human options="
BEGIN;
SET CONSTRAINTS r30o.slots_lane_key DEFERRED;
UPDATE r30o.slots SET lane = 1 WHERE id = 1;
UPDATE r30o.slots SET lane = 2 WHERE id = 2;
COMMIT;
SELECT id, pos, lane FROM r30o.slots ORDER BY id;
BEGIN;
SET CONSTRAINTS ALL IMMEDIATE;
\set VERBOSITY sqlstate
UPDATE r30o.slots SET pos = 3 WHERE id = 1;
\set VERBOSITY default
ROLLBACK;

-- cleanup
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unprotect('r30o.slots');
DROP SCHEMA r30o, r30b CASCADE;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_bot;
