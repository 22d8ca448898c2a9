--
-- human_writes: a human's statement runs without the capture trigger
-- (issue 21).  Once ExecutorStart has set up a statement of a session that
-- is not an agent's, capture.c takes the capture trigger out of its result
-- relations' copies of the trigger descriptor, so its WHEN clause is not
-- compiled.  From the human's side: every write path (INSERT, UPDATE,
-- DELETE, ON CONFLICT, MERGE, writable CTEs, COPY FROM, partitions,
-- foreign-key cascades) writes, clears the stamps, logs nothing, and the
-- table's own AFTER row triggers, named before and after the capture
-- trigger, still fire for every row; a tag set inside such a statement is
-- refused (YG001), and works before the next one.  From the agent's side
-- the same paths are all captured, and an agent's function still may not
-- write a protected table in the human's session (YG004).
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 999500, false) AS ids_from;
SELECT coalesce(max(event_id), 0) AS ev_before FROM agent_guard.events \gset
CREATE SCHEMA hw;
CREATE TABLE hw.t (id int PRIMARY KEY, v text);
CREATE TABLE hw.parent (id int PRIMARY KEY);
CREATE TABLE hw.child (id int PRIMARY KEY, pid int REFERENCES hw.parent ON DELETE CASCADE ON UPDATE CASCADE);
CREATE TABLE hw.pt (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE hw.pt1 PARTITION OF hw.pt FOR VALUES FROM (0) TO (100);
CREATE TABLE hw.pt2 PARTITION OF hw.pt FOR VALUES FROM (100) TO (200);
-- the table's own AFTER row triggers, one each side of zz_agent_guard_capture
CREATE TABLE hw.seen (tbl text, trigger text, op text, id int);
CREATE FUNCTION hw.note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO hw.seen VALUES (TG_TABLE_NAME, TG_NAME, TG_OP, CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
    RETURN NULL;
END $$;
CREATE TRIGGER a_note AFTER INSERT OR UPDATE OR DELETE ON hw.t FOR EACH ROW EXECUTE FUNCTION hw.note();
CREATE TRIGGER zzz_note AFTER INSERT OR UPDATE OR DELETE ON hw.t FOR EACH ROW EXECUTE FUNCTION hw.note();
CREATE TRIGGER zzz_note AFTER INSERT OR UPDATE OR DELETE ON hw.pt FOR EACH ROW EXECUTE FUNCTION hw.note();
SELECT agent_guard.protect('hw.t');
SELECT agent_guard.protect('hw.parent', soft_delete => false);
SELECT agent_guard.protect('hw.child', soft_delete => false);
SELECT agent_guard.protect('hw.pt', soft_delete => false);
GRANT USAGE ON SCHEMA hw TO regress_human, regress_bot, regress_tagged;
GRANT SELECT, INSERT, UPDATE, DELETE ON hw.t, hw.parent, hw.child, hw.pt TO regress_human, regress_bot, regress_tagged;
GRANT SELECT, INSERT ON hw.seen TO regress_human, regress_bot, regress_tagged;
CREATE FUNCTION hw.tag_me(id int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    IF id = 8 THEN
        PERFORM set_config('agent_guard.agent_id', 'hw-bot', true);
    END IF;
    RETURN id;
END $$;
CREATE SCHEMA hwb AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA hwb TO PUBLIC;

-- the human's side
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
INSERT INTO hw.t VALUES (1, 'a'), (2, 'b'), (3, 'c');
UPDATE hw.t SET v = 'b2' WHERE id = 2;
DELETE FROM hw.t WHERE id = 3;
INSERT INTO hw.t VALUES (1, 'dup') ON CONFLICT (id) DO UPDATE SET v = 'a2';
MERGE INTO hw.t t USING (VALUES (2, 'm'), (4, 'n')) s(id, v) ON t.id = s.id
    WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v);
WITH w AS (INSERT INTO hw.t VALUES (5, 'cte') RETURNING id) UPDATE hw.t SET v = 'via cte' WHERE id IN (SELECT id - 1 FROM w);
COPY hw.t (id, v) FROM stdin;
6	copied
\.
INSERT INTO hw.pt VALUES (1, 'p1'), (150, 'p2');
UPDATE hw.pt SET id = 160 WHERE id = 1;              -- moves to the other partition
DELETE FROM hw.pt WHERE id = 150;
INSERT INTO hw.parent VALUES (1), (2);
INSERT INTO hw.child VALUES (10, 1), (20, 2);
UPDATE hw.parent SET id = 3 WHERE id = 2;            -- cascades an UPDATE to the child
DELETE FROM hw.parent WHERE id = 1;                  -- cascades a DELETE to the child
-- a human's cursor over a writing statement
DO $$
DECLARE r record;
BEGIN
    FOR r IN UPDATE hw.t SET v = v || '!' WHERE id = 6 RETURNING id LOOP
        RAISE NOTICE 'updated %', r.id;
    END LOOP;
END $$;
SELECT * FROM hw.t ORDER BY id;
SELECT * FROM hw.pt ORDER BY id;
SELECT * FROM hw.child ORDER BY id;
-- the table's own AFTER row triggers fired for every row, in name order
SELECT tbl, trigger, op, id, count(*) FROM hw.seen GROUP BY 1, 2, 3, 4 ORDER BY 1, 4, 3, 2;
-- a tag set inside a human's statement that writes a protected table
BEGIN;
INSERT INTO hw.t SELECT hw.tag_me(g), 'tagged inside' FROM generate_series(7, 9) g;
ROLLBACK;
BEGIN;
DELETE FROM hw.t WHERE hw.tag_me(id + 7) = 8;
ROLLBACK;
-- the same tag, set after such a statement and before the next one: from
-- there on the transaction is the agent's (also after a refused one)
BEGIN;
INSERT INTO hw.t VALUES (7, 'human first');
SAVEPOINT s;
INSERT INTO hw.t SELECT hw.tag_me(g), 'tagged inside' FROM generate_series(8, 9) g;
ROLLBACK TO s;
SELECT set_config('agent_guard.agent_id', 'hw-bot', true) IS NOT NULL AS tagged;
INSERT INTO hw.t VALUES (8, 'tagged before');
COMMIT;
-- and a statement that writes no protected table may set it
BEGIN;
INSERT INTO hw.seen SELECT 'none', 'tag', set_config('agent_guard.agent_id', 'hw-bot', true), 0;
INSERT INTO hw.t VALUES (9, 'tagged by an unprotected write');
COMMIT;
-- nothing of the human's is on record, the tagged transactions' rows are
\c "dbname=contrib_regression user=regress_su options="
SELECT relation, operation, agent_id, row_key, new_row ->> 'v' AS v
  FROM agent_guard.events WHERE event_id > :ev_before ORDER BY event_id;
SELECT id, v, ag_agent_id FROM hw.t WHERE id >= 7 ORDER BY id;

-- the agent's side: every path captured
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-hw-1"
\set SHOW_CONTEXT never
INSERT INTO hw.t VALUES (11, 'bot');
UPDATE hw.t SET v = 'bot2' WHERE id = 11;
INSERT INTO hw.t VALUES (11, 'dup') ON CONFLICT (id) DO UPDATE SET v = 'bot3';
MERGE INTO hw.t t USING (VALUES (11, 'm'), (12, 'n')) s(id, v) ON t.id = s.id
    WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v);
WITH w AS (INSERT INTO hw.t VALUES (13, 'cte') RETURNING id) UPDATE hw.t SET v = 'via cte' WHERE id IN (SELECT id - 1 FROM w);
COPY hw.parent (id) FROM stdin;
14
\.
DELETE FROM hw.t WHERE id = 13;
INSERT INTO hw.pt VALUES (2, 'p1'), (152, 'p2');
UPDATE hw.pt SET id = 162 WHERE id = 2;
INSERT INTO hw.parent VALUES (5);
INSERT INTO hw.child VALUES (50, 5);
DELETE FROM hw.parent WHERE id = 5;
DO $$
DECLARE r record;
BEGIN
    FOR r IN UPDATE hw.t SET v = v || '!' WHERE id = 12 RETURNING id LOOP
        RAISE NOTICE 'updated %', r.id;
    END LOOP;
END $$;
-- an agent's function that writes a protected table
CREATE FUNCTION hwb.sneak() RETURNS int LANGUAGE sql AS $$ INSERT INTO hw.t VALUES (99, 'sneaked') RETURNING id $$;

-- in the human's session it is still refused, not written unlogged
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
SELECT hwb.sneak();
INSERT INTO hw.t SELECT hwb.sneak() + 1, 'through the human''s statement';
SELECT count(*) AS sneaked FROM hw.t WHERE id >= 99;
-- the human's own writes go on
UPDATE hw.t SET v = 'human again' WHERE id = 11 RETURNING id, v, ag_agent_id, ag_run_id;

\c "dbname=contrib_regression user=regress_su options="
SELECT relation, operation, agent_id, row_key, new_row ->> 'v' AS v
  FROM agent_guard.events WHERE event_id > :ev_before AND run_id = 'run-hw-1' ORDER BY event_id;
SELECT count(*) AS human_events FROM agent_guard.events
 WHERE event_id > :ev_before AND login_role = 'regress_human' AND agent_id IS NULL;
SELECT ok, first_bad_event FROM agent_guard.verify_log();
DROP SCHEMA hw CASCADE;
DROP SCHEMA hwb CASCADE;
