--
-- rt28_inherit: red team 28a, F3.  The functions a human calls on user
-- tables (soft_deleted, restore, purge, rollback_run, rollback_xact)
-- address exactly the logged table: an inheritance child that no
-- protection covers shows its rows through the parent, and an UPDATE,
-- DELETE or SELECT of the parent reaches them, so a row there with the key
-- of a soft-deleted row of the parent (a forged one) was restored, purged
-- (logged as the parent's) or rolled back with it.  Now each works on the
-- parent's own rows (ONLY); the child's rows are left as they are.
-- From the human's side: restore, purge and rollback of the parent's rows
-- work, and the log verifies.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 985000, false) AS ids_from;
CREATE SCHEMA r28;
GRANT USAGE ON SCHEMA r28 TO regress_bot;
CREATE TABLE r28.p (id int PRIMARY KEY, v text);
INSERT INTO r28.p VALUES (1, 'one'), (2, 'two'), (3, 'three'), (5, 'five');
SELECT agent_guard.protect('r28.p');
GRANT SELECT, INSERT, UPDATE, DELETE ON r28.p TO regress_bot;

-- the agent's run: soft-deletes rows 1, 3 and 5, updates row 2, inserts row 4
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt28"
\set SHOW_CONTEXT never
DELETE FROM r28.p WHERE id IN (1, 3, 5);
UPDATE r28.p SET v = 'agent' WHERE id = 2;
INSERT INTO r28.p VALUES (4, 'four');

-- a child of the parent that no protection covers, holding rows with the
-- same keys (forged: marked soft-deleted, stamped as the agent's)
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE TABLE r28.kid (LIKE r28.p);
INSERT INTO r28.kid (id, v, ag_agent_id, ag_run_id, ag_deleted_at)
VALUES (1, 'forged 1', 'regress_bot', 'run-rt28', now()),
       (2, 'forged 2', 'regress_bot', 'run-rt28', NULL),
       (3, 'forged 3', 'regress_bot', 'run-rt28', now()),
       (4, 'forged 4', 'regress_bot', 'run-rt28', NULL),
       (5, 'forged 5', 'regress_bot', 'run-rt28', now());
ALTER TABLE r28.kid INHERIT r28.p;
SELECT tableoid::regclass AS rel, id, v, ag_agent_id, ag_deleted_at IS NOT NULL AS deleted
  FROM r28.p ORDER BY id, rel;

-- soft_deleted() lists the parent's own rows
SELECT row_key, agent_id, run_id, row_data ->> 'v' AS v FROM agent_guard.soft_deleted('r28.p');
-- restore() brings back the parent's row 1 only
SELECT agent_guard.restore('r28.p', '{"id": 1}') ->> 'v' AS restored;
-- purge() removes the parent's rows 3 and 5 only, and logs those rows
BEGIN;
SELECT agent_guard.purge('r28.p', '0') AS purged;
SELECT tableoid::regclass AS rel, id, v, ag_agent_id, ag_deleted_at IS NOT NULL AS deleted
  FROM r28.p ORDER BY id, rel;
SELECT operation, row_key, old_row ->> 'v' AS v FROM agent_guard.events
 WHERE relation = 'r28.p' AND operation IN ('RESTORE', 'PURGE') ORDER BY event_id;
ROLLBACK;
-- rollback_run() puts back the parent's rows only: row 2's old value,
-- row 4 deleted, rows 3 and 5 brought back; the child's rows stay
SELECT step, operation, row_key, status
  FROM agent_guard.rollback_run('run-rt28', apply => true, on_conflict => 'skip') ORDER BY step;
SELECT tableoid::regclass AS rel, id, v, ag_agent_id, ag_deleted_at IS NOT NULL AS deleted
  FROM r28.p ORDER BY id, rel;
-- the child's rows were never the guard's: they are the human's to remove
DELETE FROM r28.kid;
SELECT id, v, ag_agent_id, ag_deleted_at IS NOT NULL AS deleted FROM r28.p ORDER BY id;
SELECT ok FROM agent_guard.verify_log();

-- rollback_xact() too: the agent updates row 2 again (ONLY the parent:
-- a write that reaches the child is refused); a forged child row of key 2
-- with the value the rollback looks for stays as it is
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt28x"
UPDATE ONLY r28.p SET v = 'agent again' WHERE id = 2;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
INSERT INTO r28.kid (id, v, ag_agent_id, ag_run_id) VALUES (2, 'agent again', 'regress_bot', 'run-rt28x');
SELECT operation, status FROM agent_guard.rollback_xact(
    (SELECT xid FROM agent_guard.events WHERE run_id = 'run-rt28x' AND operation = 'UPDATE'), apply => true);
SELECT tableoid::regclass AS rel, id, v, ag_agent_id FROM r28.p WHERE id = 2 ORDER BY rel;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r28.p');
DROP SCHEMA r28 CASCADE;
