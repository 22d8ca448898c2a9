--
-- rt33_merge: red team 33's findings on MERGE (PostgreSQL 17 and later;
-- on 15 the syntax does not exist: expected/rt33_merge_1.out).
-- F3: MERGE ... WHEN NOT MATCHED BY SOURCE THEN DELETE (or UPDATE) acts
-- on the target's rows that no source row matches, so the ON condition
-- restricts nothing of it (ON false, ON a condition on the source only,
-- or on the target, which an empty source leaves unmet): unless the
-- action's own AND condition restricts the target, every row is touched
-- and a human must approve (YG003, on record), as for DELETE FROM t and
-- MERGE ... ON true WHEN MATCHED THEN DELETE; in a registered agent's
-- session, a DO block, a prepared statement and a transaction a shared
-- role tagged with SET LOCAL.  Folded conditions count as what they
-- fold to (AND (t.id = 9 OR true) restricts nothing).  With its own
-- condition on the target such an action runs.
-- F5 (PostgreSQL 18): a DELETE that became a soft delete returns NULL for
-- RETURNING new.*, as a real DELETE does.
-- From the human's side: the same statements work.
--
SELECT current_setting('server_version_num')::int >= 170000 AS by_source,
       current_setting('server_version_num')::int >= 180000 AS old_new \gset
\if :by_source
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1011000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r33m;
GRANT USAGE ON SCHEMA r33m TO PUBLIC;
CREATE TABLE r33m.hard (id int PRIMARY KEY, v text);
INSERT INTO r33m.hard SELECT g, 'h' || g FROM generate_series(1, 4) g;
CREATE TABLE r33m.soft (id int PRIMARY KEY, v text);
INSERT INTO r33m.soft SELECT g, 's' || g FROM generate_series(1, 4) g;
CREATE TABLE r33m.ord (id int PRIMARY KEY, v text);
INSERT INTO r33m.ord SELECT g, 'o' || g FROM generate_series(1, 5) g;
ALTER TABLE r33m.ord OWNER TO regress_tagged;
SELECT agent_guard.protect('r33m.hard', soft_delete => false);
SELECT agent_guard.protect('r33m.soft');
SELECT agent_guard.protect('r33m.ord');
GRANT SELECT, INSERT, UPDATE, DELETE ON r33m.hard, r33m.soft TO regress_bot, regress_human;

-- F3, the agent's side
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt33-f3"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG003 each
MERGE INTO r33m.hard h USING (SELECT 1 AS x) s ON false WHEN NOT MATCHED BY SOURCE THEN DELETE;
MERGE INTO r33m.hard h USING (SELECT 1 AS x) s ON s.x = 2 WHEN NOT MATCHED BY SOURCE THEN UPDATE SET v = 'agent';
MERGE INTO r33m.hard h USING (SELECT 1 AS id WHERE false) s ON h.id = s.id WHEN NOT MATCHED BY SOURCE THEN DELETE;
MERGE INTO r33m.hard h USING (SELECT 1 AS id) s ON h.id = s.id
  WHEN NOT MATCHED BY SOURCE AND (h.id = 9 OR true) THEN DELETE;
MERGE INTO r33m.hard h USING (SELECT 1 AS id) s ON h.id = s.id
  WHEN MATCHED AND h.id = 1 THEN UPDATE SET v = 'agent'
  WHEN NOT MATCHED BY SOURCE THEN UPDATE SET v = 'agent';
MERGE INTO r33m.hard h USING (SELECT 1 AS x) s ON (h.id = 1 OR true) WHEN MATCHED THEN DELETE;
MERGE INTO r33m.soft h USING (SELECT 1 AS x) s ON false WHEN NOT MATCHED BY SOURCE THEN DELETE;
DO $$ BEGIN MERGE INTO r33m.hard h USING (SELECT 1 AS x) s ON false WHEN NOT MATCHED BY SOURCE THEN DELETE; END $$;
PREPARE wipe AS MERGE INTO r33m.soft h USING (SELECT 1 AS x) s ON false WHEN NOT MATCHED BY SOURCE THEN DELETE;
EXECUTE wipe;
\set VERBOSITY default
-- the message
MERGE INTO r33m.hard h USING (SELECT 1 AS x) s ON false WHEN NOT MATCHED BY SOURCE THEN DELETE;
-- F3, the human's side: the same statements work
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
BEGIN;
MERGE INTO r33m.hard h USING (SELECT 1 AS x) s ON s.x = 2 WHEN NOT MATCHED BY SOURCE THEN UPDATE SET v = 'human';
MERGE INTO r33m.hard h USING (SELECT 1 AS x) s ON false WHEN NOT MATCHED BY SOURCE THEN DELETE;
MERGE INTO r33m.soft h USING (SELECT 1 AS x) s ON false WHEN NOT MATCHED BY SOURCE THEN DELETE;
SELECT (SELECT count(*) FROM r33m.hard) AS hard_left, (SELECT count(*) FROM r33m.soft) AS soft_left;
ROLLBACK;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt33-f3"
\set SHOW_CONTEXT never
-- allowed: the action's own condition restricts the target
MERGE INTO r33m.hard h USING (SELECT 1 AS x) s ON false WHEN NOT MATCHED BY SOURCE AND h.id = 4 THEN DELETE;
MERGE INTO r33m.hard h USING (SELECT 1 AS x) s ON false WHEN NOT MATCHED BY SOURCE AND false THEN DELETE;
MERGE INTO r33m.soft h USING (VALUES (1), (2)) s(id) ON h.id = s.id
  WHEN NOT MATCHED BY SOURCE AND h.id > 3 THEN DELETE;
MERGE INTO r33m.hard h USING (VALUES (1)) s(id) ON h.id = s.id
  WHEN MATCHED THEN UPDATE SET v = 'agent';

-- F3, a shared role tagged per transaction
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
BEGIN; SET LOCAL agent_guard.agent_id = 'rt33-bot';
-- error: YG003
MERGE INTO r33m.ord o USING (SELECT 1 AS x) s ON false WHEN NOT MATCHED BY SOURCE THEN DELETE;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'rt33-bot';
-- error: YG003
MERGE INTO r33m.ord o USING (SELECT 1 AS x) s ON s.x = 2 WHEN NOT MATCHED BY SOURCE THEN UPDATE SET v = 'agent';
ROLLBACK;
\set VERBOSITY default
-- the same role untagged is a human: it works
BEGIN;
MERGE INTO r33m.ord o USING (SELECT 1 AS x) s ON false WHEN NOT MATCHED BY SOURCE THEN DELETE;
SELECT count(*) AS ord_left FROM r33m.ord;
ROLLBACK;

-- what is on record, the data and the log intact
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests() AS flushed;
SELECT agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT id, v FROM r33m.hard ORDER BY id;
SELECT id, v, ag_deleted_at IS NOT NULL AS marked FROM r33m.soft ORDER BY id;
SELECT id, v FROM r33m.ord ORDER BY id;
SELECT ok FROM agent_guard.verify_log();
-- the limit (README Limitations): with a soft-deleted row in the table, a
-- MERGE ... THEN DELETE that reads no column of the target meets the
-- hidden row and PostgreSQL's MERGE raises the policy's error, a human's
-- too; one that names a column does not see it
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
BEGIN;
MERGE INTO r33m.soft h USING (SELECT 1 AS x) s ON false WHEN NOT MATCHED BY SOURCE THEN DELETE;
ROLLBACK;
BEGIN;
MERGE INTO r33m.soft h USING (SELECT 1 AS x) s ON false WHEN NOT MATCHED BY SOURCE AND h.id > 0 THEN DELETE;
SELECT count(*) AS soft_left FROM r33m.soft;
ROLLBACK;

\if :old_new
-- F5, the agent's side: a converted DELETE's new.* is NULL, as a real one's
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt33-f5"
BEGIN;
DELETE FROM r33m.soft WHERE id = 1
  RETURNING old.id, old.v, new.id AS new_id, new.v AS new_v, new.ag_deleted_at AS new_del,
            new IS NULL AS new_row_null, old.ag_deleted_at AS old_del;
DELETE FROM r33m.hard WHERE id = 1
  RETURNING old.id, old.v, new.id AS new_id, new.v AS new_v, new IS NULL AS new_row_null;
-- in a sublink, and in a writing WITH
DELETE FROM r33m.soft WHERE id = 2
  RETURNING (SELECT new.v) AS sub_new_v, (SELECT old.v) AS sub_old_v,
            (SELECT ag_deleted_at) AS sub_del;
WITH d AS (DELETE FROM r33m.soft WHERE id = 3 RETURNING new.id AS new_id, old.id AS old_id)
SELECT * FROM d;
-- UPDATE keeps its new values
UPDATE r33m.hard SET v = 'upd' WHERE id = 2 RETURNING old.v, new.v;
ROLLBACK;
-- the limit (README Limitations): a MERGE's converted action returns the marked row
BEGIN;
MERGE INTO r33m.soft h USING (VALUES (3)) s(id) ON h.id = s.id WHEN MATCHED THEN DELETE
  RETURNING merge_action(), old.id, new.ag_deleted_at IS NOT NULL AS new_marked;
ROLLBACK;
-- the human's side: a real delete, the same values
\c "dbname=contrib_regression user=regress_human options="
BEGIN;
DELETE FROM r33m.soft WHERE id = 1
  RETURNING old.id, old.v, new.id AS new_id, new.v AS new_v, new.ag_deleted_at AS new_del,
            new IS NULL AS new_row_null, old.ag_deleted_at AS old_del;
ROLLBACK;
\c "dbname=contrib_regression user=regress_su options="
SELECT id, v, ag_deleted_at IS NOT NULL AS marked FROM r33m.soft ORDER BY id;
SELECT ok FROM agent_guard.verify_log();
\endif

-- cleanup
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unprotect('r33m.hard');
SELECT agent_guard.unprotect('r33m.soft');
SELECT agent_guard.unprotect('r33m.ord');
DROP SCHEMA r33m CASCADE;
\endif
