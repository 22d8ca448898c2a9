--
-- rt36_keys: red team 36, F02 and F03.  The key protect() records and the
-- SQL functions use (soft_deleted, restore, the purge) is the one the
-- capture trigger logs rows by: a primary key checked at once, else the
-- replica identity index, and only its key columns.
-- F02: a table keyed only by a DEFERRABLE primary key was protected, and
-- then every write of it failed, humans' included (YG009): protect()
-- refuses it now (42P16), and with a replica identity index that is not
-- deferrable it is protected by that index.
-- F03: a primary key with INCLUDE columns was recorded with them, and
-- restore() refused the key the log shows: the key is its key columns.
-- Agent's side: its writes and soft deletes logged by that key; humans'
-- side: their writes work, and restore() by the logged key brings the row
-- back.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1025500, false) AS ids_from;
CREATE SCHEMA r36k;
GRANT USAGE ON SCHEMA r36k TO regress_bot;
CREATE TABLE r36k.deferred (id int PRIMARY KEY DEFERRABLE, v text);
CREATE TABLE r36k.deferred_ri (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, code text NOT NULL, v text);
CREATE UNIQUE INDEX deferred_ri_code ON r36k.deferred_ri (code);
ALTER TABLE r36k.deferred_ri REPLICA IDENTITY USING INDEX deferred_ri_code;
CREATE TABLE r36k.covered (id int, v text, PRIMARY KEY (id) INCLUDE (v));
INSERT INTO r36k.deferred VALUES (1, 'a');
INSERT INTO r36k.deferred_ri VALUES (1, 'c1', 'a'), (2, 'c2', 'b');
INSERT INTO r36k.covered VALUES (1, 'a'), (2, 'b');
GRANT SELECT, INSERT, UPDATE, DELETE ON r36k.deferred, r36k.deferred_ri, r36k.covered TO regress_bot;

-- error: a deferrable primary key alone identifies no row for the log
SELECT agent_guard.protect('r36k.deferred');
SELECT agent_guard.protect('r36k.deferred_ri');
SELECT agent_guard.protect('r36k.covered');
SELECT relation, key_columns FROM agent_guard.protected WHERE relation::text LIKE 'r36k.%' ORDER BY 1;
-- the humans still write the table protect() refused
INSERT INTO r36k.deferred VALUES (2, 'b');

-- the agent's side: writes logged by the recorded key
\c "dbname=contrib_regression user=regress_bot options="
UPDATE r36k.deferred_ri SET v = 'b2' WHERE id = 2;
DELETE FROM r36k.deferred_ri WHERE id = 1;
UPDATE r36k.covered SET v = 'b2' WHERE id = 2;
DELETE FROM r36k.covered WHERE id = 1;
\c "dbname=contrib_regression user=regress_su options="
SELECT e.relation, e.operation, e.row_key FROM agent_guard.events e
 WHERE e.relation LIKE 'r36k.%' AND e.operation IN ('UPDATE', 'SOFT_DELETE', 'DELETE') ORDER BY e.event_id;
-- the humans' side: their writes, and restore() by the key the log shows
INSERT INTO r36k.deferred_ri VALUES (3, 'c3', 'c');
UPDATE r36k.covered SET v = 'human' WHERE id = 2;
SELECT row_key FROM agent_guard.soft_deleted('r36k.covered');
SELECT row_key FROM agent_guard.soft_deleted('r36k.deferred_ri');
SELECT agent_guard.restore('r36k.covered', '{"id": 1}') ->> 'v' AS restored;
SELECT agent_guard.restore('r36k.deferred_ri', '{"code": "c1"}') ->> 'v' AS restored;
SELECT id, v, ag_deleted_at IS NULL AS live FROM r36k.covered ORDER BY id;
SELECT id, code, v, ag_deleted_at IS NULL AS live FROM r36k.deferred_ri ORDER BY id;
SELECT ok FROM agent_guard.verify_log();
SELECT agent_guard.unprotect('r36k.deferred_ri');
SELECT agent_guard.unprotect('r36k.covered');
DROP SCHEMA r36k CASCADE;
