--
-- rt31_softmv: red team 30's F5 and F6, soft deletes through partitions
-- and foreign-key cascades.
-- F5: an agent's UPDATE that moves a row to another partition of a
-- soft-delete partitioned table works (PostgreSQL deletes it from the old
-- partition and inserts it into the new one); it is logged as a DELETE of
-- the old row and an INSERT of the new one, and rollback_run moves it back.
-- F6: an agent's hard DELETE whose ON DELETE CASCADE reaches a soft-delete
-- table deletes the child rows for real (logged with their images), so the
-- foreign key holds; rollback_run brings back parent and children.  When
-- the referenced table is not protected (its deletes are not logged) the
-- agent's delete is refused (YG004, on record); once it is protected the
-- delete works.  restore() does not bring back a row whose parent is gone
-- (23503); a soft-deleted parent is there.  SET NULL and SET DEFAULT
-- actions update the children (logged); a soft delete of the parent does
-- what its hard delete would to the live children (red team 32, F3,
-- rt33_softfk): here, of a hard-delete table, deletes them, logged.
-- From the human's side: the same statements behave as plain PostgreSQL.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1003000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r31s;
GRANT USAGE ON SCHEMA r31s TO regress_bot, regress_human;

-- F5: a soft-delete partitioned table
CREATE TABLE r31s.ev (id int, at date, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE r31s.ev_2026 PARTITION OF r31s.ev FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE r31s.ev_2027 PARTITION OF r31s.ev FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
INSERT INTO r31s.ev VALUES (1, '2026-03-01', 'a'), (2, '2026-04-01', 'b'), (3, '2026-05-01', 'c');
SELECT agent_guard.protect('r31s.ev');

-- F6: a hard-delete parent, a soft-delete child ON DELETE CASCADE
CREATE TABLE r31s.hp (id int PRIMARY KEY, name text);
CREATE TABLE r31s.hc (id int PRIMARY KEY, p int REFERENCES r31s.hp ON DELETE CASCADE, note text);
INSERT INTO r31s.hp VALUES (1, 'one'), (2, 'two');
INSERT INTO r31s.hc VALUES (10, 1, 'x'), (11, 1, 'y'), (20, 2, 'z');
SELECT agent_guard.protect('r31s.hp', soft_delete => false);
SELECT agent_guard.protect('r31s.hc');
-- a soft-delete partitioned child ON DELETE CASCADE
CREATE TABLE r31s.pp (id int PRIMARY KEY);
CREATE TABLE r31s.pc (id int, p int REFERENCES r31s.pp ON DELETE CASCADE, PRIMARY KEY (id))
    PARTITION BY RANGE (id);
CREATE TABLE r31s.pc_lo PARTITION OF r31s.pc FOR VALUES FROM (0) TO (100);
CREATE TABLE r31s.pc_hi PARTITION OF r31s.pc FOR VALUES FROM (100) TO (200);
INSERT INTO r31s.pp VALUES (1), (2);
INSERT INTO r31s.pc VALUES (10, 1), (110, 1), (20, 2);
SELECT agent_guard.protect('r31s.pp', soft_delete => false);
SELECT agent_guard.protect('r31s.pc');
-- an unprotected parent of a soft-delete child
CREATE TABLE r31s.up (id int PRIMARY KEY);
CREATE TABLE r31s.uc (id int PRIMARY KEY, p int REFERENCES r31s.up ON DELETE CASCADE);
INSERT INTO r31s.up VALUES (1), (2);
INSERT INTO r31s.uc VALUES (10, 1), (20, 2);
SELECT agent_guard.protect('r31s.uc');
-- SET NULL and SET DEFAULT into a soft-delete table
CREATE TABLE r31s.sp (id int PRIMARY KEY);
CREATE TABLE r31s.sc (id int PRIMARY KEY,
                      n int REFERENCES r31s.sp ON DELETE SET NULL,
                      d int DEFAULT 0 REFERENCES r31s.sp ON DELETE SET DEFAULT);
INSERT INTO r31s.sp VALUES (0), (1), (2);
INSERT INTO r31s.sc VALUES (10, 1, 1), (20, 2, 2);
SELECT agent_guard.protect('r31s.sp', soft_delete => false);
SELECT agent_guard.protect('r31s.sc');
-- the mirror: a soft-delete parent, a hard-delete child ON DELETE CASCADE
CREATE TABLE r31s.mp (id int PRIMARY KEY);
CREATE TABLE r31s.mc (id int PRIMARY KEY, p int REFERENCES r31s.mp ON DELETE CASCADE);
INSERT INTO r31s.mp VALUES (1), (2);
INSERT INTO r31s.mc VALUES (10, 1), (20, 2);
SELECT agent_guard.protect('r31s.mp');
SELECT agent_guard.protect('r31s.mc', soft_delete => false);
-- restore() of a child: its parent soft-deleted (there), or gone
CREATE TABLE r31s.kp (id int PRIMARY KEY);
CREATE TABLE r31s.kc (id int PRIMARY KEY, p int REFERENCES r31s.kp);
INSERT INTO r31s.kp VALUES (1), (2);
INSERT INTO r31s.kc VALUES (10, 1), (20, 2), (30, NULL);
SELECT agent_guard.protect('r31s.kp');
SELECT agent_guard.protect('r31s.kc');
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA r31s TO regress_bot, regress_human;

-- the agent's side
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31s-pre"
\set SHOW_CONTEXT never
-- an earlier run soft-deleted one child
DELETE FROM r31s.hc WHERE id = 11;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31s-move"
\set SHOW_CONTEXT never
-- F5: allowed, the row moves
UPDATE r31s.ev SET at = '2027-02-01', v = 'moved' WHERE id = 1 RETURNING tableoid::regclass, *;
MERGE INTO r31s.ev e USING (VALUES (2)) s(id) ON e.id = s.id
  WHEN MATCHED THEN UPDATE SET at = '2027-03-01';
-- a soft delete of a moved row
DELETE FROM r31s.ev WHERE id = 2;
SELECT tableoid::regclass, id, at, v FROM r31s.ev ORDER BY id;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31s-cascade"
\set SHOW_CONTEXT never
-- F6: the cascade deletes the children for real
DELETE FROM r31s.hp WHERE id = 1;
SELECT * FROM r31s.hc ORDER BY id;
DELETE FROM r31s.pp WHERE id = 1;
SELECT tableoid::regclass, id, p FROM r31s.pc ORDER BY id;
-- SET NULL and SET DEFAULT update the children
DELETE FROM r31s.sp WHERE id IN (1, 2);
SELECT id, n, d FROM r31s.sc ORDER BY id;
-- the mirror: a soft delete of the parent cascades into the hard-delete
-- table as its hard delete would (logged, rolled back with the parent)
DELETE FROM r31s.mp WHERE id = 1;
SELECT * FROM r31s.mc ORDER BY id;
\set VERBOSITY sqlstate
-- error: YG004, the parent's rows are not logged
DELETE FROM r31s.up WHERE id = 1;
\set VERBOSITY default
-- the same, with the message
DELETE FROM r31s.up WHERE id = 1;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('r31s.up', soft_delete => false);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31s-up"
\set SHOW_CONTEXT never
-- once the parent is protected, its cascade deletes the children for real
DELETE FROM r31s.up WHERE id = 1;
SELECT * FROM r31s.uc ORDER BY id;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31s-keep"
\set SHOW_CONTEXT never
-- children soft-deleted, then their parent
DELETE FROM r31s.kc WHERE id IN (10, 20, 30);
DELETE FROM r31s.kp WHERE id IN (1, 2);

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed;
SELECT agent_id, kind, status, reason FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
-- what was logged
SELECT run_id, operation, relation, row_key, old_row ->> 'ag_deleted_at' IS NOT NULL AS was_deleted
  FROM agent_guard.events WHERE run_id LIKE 'r31s-%' AND operation <> 'BLOCKED' ORDER BY event_id;
-- the data as it is: every key holds
SELECT tableoid::regclass, id, at, v, ag_deleted_at IS NOT NULL AS deleted FROM r31s.ev ORDER BY id, at;
SELECT id, p, ag_deleted_at IS NOT NULL AS deleted FROM r31s.hc ORDER BY id;
SELECT id, p, ag_deleted_at IS NOT NULL AS deleted FROM r31s.uc ORDER BY id;
SELECT id, n, d FROM r31s.sc ORDER BY id;
SELECT id, ag_deleted_at IS NOT NULL AS deleted FROM r31s.mp ORDER BY id;
SELECT * FROM r31s.mc ORDER BY id;
SELECT id, p, ag_deleted_at IS NOT NULL AS deleted FROM r31s.kc ORDER BY id;
SELECT 'hc' AS t, count(*) AS orphans FROM r31s.hc c WHERE NOT EXISTS (SELECT 1 FROM r31s.hp p WHERE p.id = c.p)
UNION ALL
SELECT 'uc', count(*) FROM r31s.uc c WHERE NOT EXISTS (SELECT 1 FROM r31s.up p WHERE p.id = c.p)
UNION ALL
SELECT 'mc', count(*) FROM r31s.mc c WHERE NOT EXISTS (SELECT 1 FROM r31s.mp p WHERE p.id = c.p);
SELECT ok FROM agent_guard.verify_log();

-- rollback: the moved rows go back, parent and children come back
SELECT step, relation, operation, row_key, regexp_replace(action, ' as before event \d+$', '') AS action, status
  FROM agent_guard.rollback_run('r31s-move', true) ORDER BY step;
SELECT step, relation, operation, row_key, regexp_replace(action, ' as before event \d+$', '') AS action, status
  FROM agent_guard.rollback_run('r31s-cascade', true) ORDER BY step;
SELECT step, relation, operation, row_key, regexp_replace(action, ' as before event \d+$', '') AS action, status
  FROM agent_guard.rollback_run('r31s-up', true) ORDER BY step;
SELECT id, p, ag_deleted_at IS NOT NULL AS deleted FROM r31s.uc ORDER BY id;
SELECT tableoid::regclass, id, at, v, ag_deleted_at IS NOT NULL AS deleted FROM r31s.ev ORDER BY id, at;
SELECT * FROM r31s.hp ORDER BY id;
SELECT id, p, note, ag_deleted_at IS NOT NULL AS deleted FROM r31s.hc ORDER BY id;
SELECT tableoid::regclass, id, p, ag_deleted_at IS NOT NULL AS deleted FROM r31s.pc ORDER BY id;
SELECT id, n, d FROM r31s.sc ORDER BY id;
SELECT id, ag_deleted_at IS NOT NULL AS deleted FROM r31s.mp ORDER BY id;
-- the child soft-deleted by the earlier run can still be restored
SELECT agent_guard.restore('r31s.hc', '{"id": 11}') ->> 'p' AS restored_p;
SELECT ok FROM agent_guard.verify_log();

-- the human's side: plain PostgreSQL
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
BEGIN;
UPDATE r31s.ev SET at = '2027-06-01' WHERE id = 3 RETURNING tableoid::regclass, id, at;
DELETE FROM r31s.hp WHERE id = 1;
DELETE FROM r31s.up WHERE id = 1;
DELETE FROM r31s.mp WHERE id = 2;
SELECT (SELECT count(*) FROM r31s.hc) AS hc, (SELECT count(*) FROM r31s.uc) AS uc,
       (SELECT count(*) FROM r31s.mc) AS mc;
ROLLBACK;

-- restore(): a child whose parent is soft-deleted comes back, and one
-- with no parent (NULL key); one whose parent is gone does not
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard.restore('r31s.kc', '{"id": 10}') ->> 'p' AS restored_p;
SELECT agent_guard.restore('r31s.kc', '{"id": 30}') ->> 'p' AS restored_p;
-- a superuser removes the parent with the foreign key's triggers off
SET session_replication_role = replica;
DELETE FROM r31s.kp WHERE id = 2;
RESET session_replication_role;
-- error: 23503, and nothing changed
SELECT agent_guard.restore('r31s.kc', '{"id": 20}');
SELECT id, p, ag_deleted_at IS NOT NULL AS deleted FROM r31s.kc ORDER BY id;
SELECT count(*) AS restores FROM agent_guard.events WHERE operation = 'RESTORE' AND relation = 'r31s.kc';

-- cleanup
SELECT ok FROM agent_guard.verify_log();
SELECT agent_guard.unprotect(t) FROM unnest(ARRAY['r31s.ev', 'r31s.hc', 'r31s.hp', 'r31s.uc', 'r31s.sc',
                                                    'r31s.sp', 'r31s.mc', 'r31s.mp', 'r31s.kc', 'r31s.kp', 'r31s.up',
                                                    'r31s.pc', 'r31s.pp']::regclass[]) AS t;
DROP SCHEMA r31s CASCADE;
