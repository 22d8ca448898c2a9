--
-- rollback_replay: the replay checks what it wrote.  A row that does not
-- come back exactly as logged (here an ENABLE ALWAYS trigger, which fires
-- even while the replay has the tables' triggers off, changes it) stops
-- the rollback with YG032, for re-inserted and for restored rows, and
-- nothing is changed; without the trigger the same rollbacks go through.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SET ROLE regress_bot;
CREATE TABLE app.rr_t (id int PRIMARY KEY, v int);
RESET ROLE;
SELECT agent_guard.protect('app.rr_t', false);
INSERT INTO app.rr_t SELECT g, g FROM generate_series(1, 6) g;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rr-1"
UPDATE app.rr_t SET v = v * 10 WHERE id <= 2;
DELETE FROM app.rr_t WHERE id = 4;
INSERT INTO app.rr_t VALUES (7, 70);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rr-2"
UPDATE app.rr_t SET v = v + 100 WHERE id IN (3, 5, 6);
\c "dbname=contrib_regression user=regress_su options="
CREATE FUNCTION app.rr_bump() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN NEW.v := NEW.v + 1000; RETURN NEW; END $$;
CREATE TRIGGER rr_bump BEFORE INSERT OR UPDATE ON app.rr_t FOR EACH ROW EXECUTE FUNCTION app.rr_bump();
ALTER TABLE app.rr_t ENABLE ALWAYS TRIGGER rr_bump;
CREATE FUNCTION pg_temp.try_rollback(p_run text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    m text;
    d text;
    s text;
BEGIN
    PERFORM agent_guard.rollback_run(p_run, true);
    RAISE NOTICE 'rolled back %', p_run;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, s = RETURNED_SQLSTATE;
    RAISE NOTICE '%: %', s, m;
    -- the detail names the first event whose row did not come back
    RAISE NOTICE 'detail names event: %', (SELECT min(e.event_id) - (SELECT min(e2.event_id) FROM agent_guard.events e2 WHERE e2.run_id = p_run)
                                             FROM agent_guard.events e
                                            WHERE e.run_id = p_run AND e.operation <> 'INSERT'
                                              AND d LIKE format('The first is the row before event %s.%%', e.event_id));
END
$$;
-- newest first: the INSERT is undone (deleted, nothing to compare), then
-- the DELETE is undone and the trigger changes the re-inserted row
SELECT pg_temp.try_rollback('run-rr-1');
-- the UPDATEs are restored and the trigger changes all three rows
SELECT pg_temp.try_rollback('run-rr-2');
-- nothing changed, nothing compensated
SELECT id, v, ag_run_id FROM app.rr_t ORDER BY id;
SELECT count(*) FROM agent_guard.events WHERE operation IN ('COMPENSATE', 'ROLLBACK')
   AND detail->>'run_id' IN ('run-rr-1', 'run-rr-2');
-- without the trigger both go through, exactly
DROP TRIGGER rr_bump ON app.rr_t;
SELECT pg_temp.try_rollback('run-rr-2');
SELECT pg_temp.try_rollback('run-rr-1');
SELECT id, v, ag_run_id FROM app.rr_t ORDER BY id;
SELECT operation, count(*) FROM agent_guard.events
 WHERE operation IN ('COMPENSATE', 'ROLLBACK') AND detail->>'run_id' IN ('run-rr-1', 'run-rr-2')
 GROUP BY operation ORDER BY operation;
-- a second time changes nothing
SELECT step, status FROM agent_guard.rollback_run('run-rr-1', true);
SELECT id, v FROM app.rr_t ORDER BY id;

--
-- the key before an UPDATE: an array key that grows or shrinks still
-- contains the other one, and must still be seen as moved
--
SET ROLE regress_bot;
CREATE TABLE app.rr_arr (k int[] PRIMARY KEY, j jsonb, v int);
RESET ROLE;
SELECT agent_guard.protect('app.rr_arr', false);
INSERT INTO app.rr_arr VALUES ('{1,2}', '{"a": 1}', 1), ('{3}', '{}', 2), ('{4,5}', '[1]', 3);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rr-3"
UPDATE app.rr_arr SET v = v + 10 WHERE k = '{1,2}';
UPDATE app.rr_arr SET k = '{3,3}' WHERE k = '{3}';
UPDATE app.rr_arr SET k = '{4}' WHERE k = '{4,5}';
UPDATE app.rr_arr SET k = '{4,5}' WHERE k = '{4}';
\c "dbname=contrib_regression user=regress_su options="
SELECT step, row_key, regexp_replace(action, 'event [0-9]+', 'event N') AS action, status
  FROM agent_guard.rollback_run('run-rr-3');
-- someone takes key {3} meanwhile: the move back to it is a conflict
INSERT INTO app.rr_arr VALUES ('{3}', 'null', 0);
SELECT step, row_key, status, detail FROM agent_guard.rollback_run('run-rr-3', true, 'skip');
SELECT k, j, v, ag_run_id FROM app.rr_arr ORDER BY k;
DELETE FROM app.rr_arr WHERE k = '{3}' AND v = 0;
SELECT step, status FROM agent_guard.rollback_run('run-rr-3', true);
SELECT k, j, v, ag_run_id FROM app.rr_arr ORDER BY k;
