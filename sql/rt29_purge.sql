--
-- rt29_purge: a human's purge() must not harm the rows agents wrote.
-- Red team 27, F3: an agent points rows at a live row through a foreign
-- key with ON DELETE CASCADE / SET NULL, then soft-deletes that row; a
-- later purge() of it deleted or rewrote the agent's live rows (and
-- stamped them as the human's write).  (Since red team 32, F3, the agent's
-- soft delete cascades to such rows itself, rt33_softfk; live rows under a
-- soft-deleted row are the humans', which an agent may then update: here
-- the rows the agent wrote last are made so.)  purge() now refuses (YG050) when its
-- ON DELETE actions reach, also through the rows a cascade deletes, live
-- rows whose stamps say an agent wrote them last, and removes nothing.
-- Red team 29, F2: while the purge deletes, an update of a live row an
-- agent wrote (by a human's trigger the purge sets off) is refused too,
-- and the switch is off again after the purge, also after an error.
-- (Red team 29, F1, the race between the look and the delete:
-- test/specs/purge_race.spec.)
-- From the human's side: once the human has dealt with those rows, the
-- purge works, its cascades included; the log verifies.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 990000, false) AS ids_from;
CREATE SCHEMA r29;
GRANT USAGE ON SCHEMA r29 TO regress_bot;
CREATE TABLE r29.p (id int PRIMARY KEY, name text);
CREATE TABLE r29.c_cas (id int PRIMARY KEY, p int REFERENCES r29.p ON DELETE CASCADE, note text);
CREATE TABLE r29.c_null (id int PRIMARY KEY, p int REFERENCES r29.p ON DELETE SET NULL, note text);
CREATE TABLE r29.g (id int PRIMARY KEY, c int REFERENCES r29.c_cas ON DELETE CASCADE, note text);
CREATE TABLE r29.u (id int PRIMARY KEY, p int REFERENCES r29.p ON DELETE CASCADE);
CREATE TABLE r29.audit (id int PRIMARY KEY, note text);
INSERT INTO r29.p SELECT g, 'p' || g FROM generate_series(1, 4) g;
INSERT INTO r29.c_cas VALUES (12, 3, 'human');
INSERT INTO r29.c_null VALUES (31, 4, 'human');
INSERT INTO r29.audit VALUES (1, 'human');
SELECT agent_guard.protect('r29.p');
SELECT agent_guard.protect('r29.c_cas');
SELECT agent_guard.protect('r29.c_null', soft_delete => false);
SELECT agent_guard.protect('r29.g');
SELECT agent_guard.protect('r29.audit', soft_delete => false);
GRANT SELECT, INSERT, UPDATE, DELETE ON r29.p, r29.c_cas, r29.c_null, r29.g, r29.audit TO regress_bot;
-- (hostile.sql grants the agent EXECUTE on the guard's functions too)
GRANT EXECUTE ON FUNCTION agent_guard.purge(regclass, interval) TO regress_bot;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset

-- the agent's side: rows soft-deleted; humans point rows at them, which
-- the agent then writes (all allowed); purge() is not the agent's to call
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt29"
\set SHOW_CONTEXT never
DELETE FROM r29.p WHERE id IN (1, 2);
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
INSERT INTO r29.c_cas VALUES (10, 1, 'human'), (11, 2, 'human'), (20, 1, 'human');
INSERT INTO r29.c_null VALUES (30, 2, 'human');
INSERT INTO r29.g VALUES (100, 11, 'human'), (101, 11, 'human');
INSERT INTO r29.u VALUES (1, 1), (2, 2);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt29"
\set SHOW_CONTEXT never
UPDATE r29.c_cas SET note = 'agent' WHERE id = 20;
UPDATE r29.c_null SET note = 'agent' WHERE id = 30;
UPDATE r29.g SET note = 'agent' WHERE id = 101;
UPDATE r29.audit SET note = 'agent' WHERE id = 1;
-- error: humans only (YG002, on record)
\set VERBOSITY sqlstate
SELECT agent_guard.purge('r29.p', '0');
\set VERBOSITY default

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed;
SELECT request_id - 990000 AS req, kind, agent_id FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT row_key, agent_id, run_id FROM agent_guard.soft_deleted('r29.p');

-- F3: the cascade would delete the agent's live row 20 (YG050), nothing removed
SELECT agent_guard.purge('r29.p', '0');
SELECT id, p, note, ag_agent_id FROM r29.c_cas ORDER BY id;
SELECT count(*) AS soft_deleted FROM agent_guard.soft_deleted('r29.p');
-- the human deletes that row; now the SET NULL would change the agent's row 30
DELETE FROM r29.c_cas WHERE id = 20;
SELECT agent_guard.purge('r29.p', '0');
SELECT id, p, note, ag_agent_id FROM r29.c_null ORDER BY id;
-- the human takes row 30 over; now the cascade reaches the agent's row 101
-- through the human's row 11 the purge would delete
UPDATE r29.c_null SET note = 'taken over' WHERE id = 30;
SELECT agent_guard.purge('r29.p', '0');
SELECT id, c, note, ag_agent_id FROM r29.g ORDER BY id;
-- rows an agent soft-deleted are not live: the agent's row 101, deleted by
-- the agent, does not stop the purge of row 2's subtree
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt29"
DELETE FROM r29.g WHERE id = 101;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never

-- F2: a human's trigger that the purge's cascade sets off updates a live
-- row an agent wrote: refused while the purge runs (YG050), nothing removed
CREATE FUNCTION r29.note_purge() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE r29.audit SET note = 'child ' || OLD.id || ' gone' WHERE id = 1;
    RETURN OLD;
END $$;
CREATE TRIGGER note_purge AFTER DELETE ON r29.u FOR EACH ROW EXECUTE FUNCTION r29.note_purge();
SELECT agent_guard.purge('r29.p', '0');
SELECT id, p FROM r29.u ORDER BY id;
SELECT count(*) AS soft_deleted FROM agent_guard.soft_deleted('r29.p');
-- the switch is off after the error: the human's own update works
BEGIN;
UPDATE r29.audit SET note = 'human edit' WHERE id = 1 RETURNING note, ag_agent_id;
ROLLBACK;
DROP TRIGGER note_purge ON r29.u;

-- the human's side: the purge works, with its cascades (human rows)
SELECT agent_guard.purge('r29.p', '0');
SELECT id, name FROM r29.p ORDER BY id;
SELECT id, p, note, ag_agent_id FROM r29.c_cas ORDER BY id;
SELECT id, p, note, ag_agent_id FROM r29.c_null ORDER BY id;
SELECT id, c, note, ag_agent_id, ag_deleted_at IS NOT NULL AS deleted FROM r29.g ORDER BY id;
SELECT id, p FROM r29.u ORDER BY id;
SELECT operation, row_key FROM agent_guard.events
 WHERE relation = 'r29.p' AND operation = 'PURGE' ORDER BY event_id;
-- the switch is off after the purge: the human's update of the agent's row
-- is a human write as before
UPDATE r29.audit SET note = 'human edit' WHERE id = 1 RETURNING note, ag_agent_id;
SELECT agent_guard.purge('r29.p', '0') AS nothing_left;

-- a partitioned table referencing the purged table: its partitions' rows
-- count, and a purge of a partitioned soft-delete table works
CREATE TABLE r29.pp (id int PRIMARY KEY, name text) PARTITION BY RANGE (id);
CREATE TABLE r29.pp1 PARTITION OF r29.pp FOR VALUES FROM (0) TO (100);
CREATE TABLE r29.pp2 PARTITION OF r29.pp FOR VALUES FROM (100) TO (200);
CREATE TABLE r29.pk (id int, pp int REFERENCES r29.pp ON DELETE CASCADE, note text, PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE r29.pk1 PARTITION OF r29.pk FOR VALUES FROM (0) TO (100);
CREATE TABLE r29.pk2 PARTITION OF r29.pk FOR VALUES FROM (100) TO (200);
INSERT INTO r29.pp VALUES (1, 'a'), (101, 'b');
SELECT agent_guard.protect('r29.pp');
SELECT agent_guard.protect('r29.pk');
GRANT SELECT, INSERT, UPDATE, DELETE ON r29.pp, r29.pk TO regress_bot;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt29p"
DELETE FROM r29.pp WHERE id IN (1, 101);
\c "dbname=contrib_regression user=regress_su options="
INSERT INTO r29.pk VALUES (1, 1), (150, 101), (160, 1);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt29p"
UPDATE r29.pk SET note = 'agent' WHERE id = 160;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard.purge('r29.pp', '0');
SELECT tableoid::regclass AS part, id, pp, ag_agent_id FROM r29.pk ORDER BY id;
DELETE FROM r29.pk WHERE id = 160;
SELECT agent_guard.purge('r29.pp', '0');
SELECT tableoid::regclass AS part, id, pp FROM r29.pk ORDER BY id;
SELECT count(*) AS left_in_pp FROM r29.pp;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect(r) FROM unnest(ARRAY['r29.p', 'r29.c_cas', 'r29.c_null', 'r29.g', 'r29.audit', 'r29.pp', 'r29.pk']::regclass[]) r;
DROP SCHEMA r29 CASCADE;
