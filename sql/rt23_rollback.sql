--
-- rt23_rollback: red team 23a's findings on the rollback and row images.
-- F3: a run that moves values of a UNIQUE column along a chain with valid
-- single-row UPDATEs (a@x -> z@x, b@x -> a@x, c@x -> b@x) is rolled back:
-- a batch whose statement meets a unique (or exclusion) violation is
-- replayed one event at a time, newest first, in the same rollback; also
-- with rollback_xact() and 'skip'.  A value held by a row the rollback
-- does not restore still fails it (YG032), and nothing is changed.
-- F4: row images keep a value to_jsonb() prints inexactly as its text: an
-- array whose lower bounds are not all 1 (also through a domain, in a
-- composite, in an array of composites), a float's -0, in the images the
-- row trigger builds itself (simple tables) and the others; the rollback
-- restores them exactly, and a later change of only the bounds or of the
-- zero's sign is a conflict.  verify_log() still verifies.
-- Note: in a row the run inserted, a value in a column added after the run
-- written without the triggers is a conflict; the column's default is not.
-- From the human's side: the rollback works; a human's ordinary change
-- after the run is still a conflict.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 927000, false) AS ids_from;
CREATE SCHEMA r23;
GRANT USAGE ON SCHEMA r23 TO regress_bot, regress_human;
GRANT CREATE ON SCHEMA r23 TO regress_bot;
GRANT EXECUTE ON FUNCTION agent_guard.rollback_run(text, boolean, text),
                          agent_guard.rollback_xact(xid8, boolean, text) TO regress_human;
-- an error's state, message (event ids left out) and detail
CREATE FUNCTION r23.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_msg   text;
    v_det   text;
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_det = PG_EXCEPTION_DETAIL;
    RETURN v_state || ': ' || regexp_replace(v_msg, 'event \d+', 'event N', 'g')
           || coalesce(E'\n' || nullif(v_det, ''), '');
END
$$;
GRANT EXECUTE ON FUNCTION r23.try(text) TO regress_human;

-- F3: a human's table, and two tables of the agent's own with a UNIQUE
-- column and an exclusion constraint
CREATE TABLE r23.accounts (id int PRIMARY KEY, balance numeric NOT NULL);
INSERT INTO r23.accounts SELECT g, 100 FROM generate_series(1, 5) g;
SET ROLE regress_bot;
CREATE TABLE r23.users (id int PRIMARY KEY, email text NOT NULL UNIQUE);
CREATE TABLE r23.slots (id int PRIMARY KEY, during int4range NOT NULL,
                        EXCLUDE USING gist (during WITH &&));
GRANT SELECT, INSERT, UPDATE, DELETE ON r23.users, r23.slots TO regress_human;
RESET ROLE;
INSERT INTO r23.users VALUES (1, 'a@x'), (2, 'b@x'), (3, 'c@x'), (4, 'd@x');
INSERT INTO r23.slots VALUES (1, '[0,10)'), (2, '[10,20)'), (3, '[20,30)');
GRANT SELECT, INSERT, UPDATE, DELETE ON r23.accounts TO regress_bot, regress_human;
SELECT agent_guard.protect('r23.accounts', false);
SELECT agent_guard.protect('r23.users', false);
SELECT agent_guard.protect('r23.slots', false);

-- the agent's side: one transaction zeroes the balances, then moves the
-- e-mails along a chain and a slot into the place another one leaves,
-- each statement valid
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt23-f3"
\set SHOW_CONTEXT never
BEGIN;
UPDATE r23.accounts SET balance = 0 WHERE id BETWEEN 1 AND 5;
UPDATE r23.users SET email = 'z@x' WHERE id = 1;
UPDATE r23.users SET email = 'a@x' WHERE id = 2;
UPDATE r23.users SET email = 'b@x' WHERE id = 3;
UPDATE r23.slots SET during = '[100,110)' WHERE id = 1;
UPDATE r23.slots SET during = '[0,10)' WHERE id = 2;
UPDATE r23.slots SET during = '[10,20)' WHERE id = 3;
COMMIT;
SELECT id, email FROM r23.users ORDER BY id;
-- the agent cannot roll it back itself: error: YG002
\set VERBOSITY sqlstate
SELECT count(*) FROM agent_guard.rollback_run('run-rt23-f3', apply => true);
\set VERBOSITY default

\c "dbname=contrib_regression user=regress_su options="
SELECT max(xid) AS f3_xid FROM agent_guard.events
 WHERE run_id = 'run-rt23-f3' AND operation IN ('INSERT', 'UPDATE', 'DELETE') \gset

-- the human's side
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
SELECT status, count(*) FROM agent_guard.rollback_run('run-rt23-f3') GROUP BY 1;
-- the transaction's rollback, with on_conflict 'skip': every step applied
SELECT relation, operation, status, count(*)
  FROM agent_guard.rollback_xact(:'f3_xid', apply => true, on_conflict => 'skip')
 GROUP BY 1, 2, 3 ORDER BY 1, 2;
SELECT sum(balance) AS balances FROM r23.accounts;
SELECT id, email FROM r23.users ORDER BY id;
SELECT id, during FROM r23.slots ORDER BY id;
\c "dbname=contrib_regression user=regress_su options="
SELECT count(*) AS compensations FROM agent_guard.events
 WHERE operation = 'COMPENSATE' AND detail ->> 'run_id' = 'run-rt23-f3';

-- the same shuffle again, under rollback_run() with 'abort'
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt23-f3b"
\set SHOW_CONTEXT never
UPDATE r23.users SET email = 'z@x' WHERE id = 1;
UPDATE r23.users SET email = 'a@x' WHERE id = 2;
UPDATE r23.users SET email = 'b@x' WHERE id = 3;
UPDATE r23.users SET email = 'c@x' WHERE id = 4;
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
SELECT step, operation, row_key, status FROM agent_guard.rollback_run('run-rt23-f3b', apply => true);
SELECT id, email FROM r23.users ORDER BY id;

-- a value the rollback must put back is held by a row someone else wrote
-- after the run: one event at a time fails as well, nothing is changed
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt23-f3c"
\set SHOW_CONTEXT never
UPDATE r23.accounts SET balance = 1 WHERE id = 1;
UPDATE r23.users SET email = 'y@x' WHERE id = 4;
UPDATE r23.users SET email = 'w@x' WHERE id = 3;
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
INSERT INTO r23.users VALUES (5, 'd@x');
-- error: YG032 (abort and skip alike)
SELECT r23.try($$SELECT agent_guard.rollback_run('run-rt23-f3c', apply => true)$$);
SELECT r23.try($$SELECT agent_guard.rollback_run('run-rt23-f3c', true, 'skip')$$);
SELECT id, email FROM r23.users ORDER BY id;
SELECT balance FROM r23.accounts WHERE id = 1;
-- once that row has let the value go, the rollback goes through
DELETE FROM r23.users WHERE id = 5;
SELECT step, operation, row_key, status FROM agent_guard.rollback_run('run-rt23-f3c', apply => true);
SELECT id, email FROM r23.users ORDER BY id;
SELECT balance FROM r23.accounts WHERE id = 1;

-- F4: arrays with other lower bounds, also through a domain, in a
-- composite and in an array of composites; float -0 (and NaN, the
-- infinities); a simple table whose images the row trigger builds itself
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE DOMAIN r23.slot_list AS int[] CHECK (cardinality(VALUE) > 0);
CREATE TYPE r23.pair AS (a int[], f float8);
CREATE TABLE r23.arr (id int PRIMARY KEY, slots int[], d r23.slot_list, p r23.pair, ps r23.pair[],
                      fs float8[], f float8, g float4, note text);
CREATE TABLE r23.flt (id int PRIMARY KEY, f float8, g float4, note text);
INSERT INTO r23.arr VALUES
    (1, '[0:2]={10,20,30}', '[0:1]={4,5}', ROW('[5:5]={9}', '-0'), ARRAY[ROW('[2:2]={1}', '-0')::r23.pair],
        '{-0,1.5}', '-0', '-0', 'zero-based'),
    (2, '{7,8}', '{1}', ROW('{1}', 1), ARRAY[ROW('{1}', 2)::r23.pair], '{1}', 'NaN', '-Infinity', 'one-based'),
    (3, '[-1:0][1:1]={{1},{2}}', '[0:0]={0}', NULL, '[0:0]={"(,)"}', NULL, 1, 1, 'two dimensions'),
    (4, '[0:0]={1}', '{1}', NULL, NULL, NULL, '-0', 1, 'changed by a human later');
INSERT INTO r23.flt VALUES (1, '-0', '-0', 'x'), (2, 'Infinity', 'NaN', 'y'), (3, 0, '-0', 'z');
GRANT SELECT, INSERT, UPDATE, DELETE ON r23.arr, r23.flt TO regress_bot, regress_human;
SELECT agent_guard.protect('r23.arr', false);
SELECT agent_guard.protect('r23.flt', false);
CREATE TABLE r23.before AS
    SELECT 'arr' AS t, a.id, a::text AS r FROM r23.arr a
    UNION ALL SELECT 'flt', f.id, f::text FROM r23.flt f;
GRANT SELECT ON r23.before TO regress_human;

-- the agent's side: a one-column UPDATE and DELETEs of such rows, and a
-- new row with such values
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt23-f4"
\set SHOW_CONTEXT never
UPDATE r23.arr SET note = 'touched' WHERE id IN (1, 4);
DELETE FROM r23.arr WHERE id IN (2, 3);
INSERT INTO r23.arr (id, slots, d, fs, f) VALUES (5, '[2:3]={1,2}', '[7:7]={7}', '{-0}', '-0');
UPDATE r23.flt SET note = 'touched' WHERE id IN (1, 3);
DELETE FROM r23.flt WHERE id = 2;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- the images keep the values: text where to_jsonb() would drop something
SELECT e.relation, e.operation, e.row_key,
       e.old_row - ARRAY['ag_agent_id', 'ag_run_id', 'note'] AS old_row
  FROM agent_guard.events e WHERE e.run_id = 'run-rt23-f4' AND e.operation <> 'INSERT'
 ORDER BY e.relation, e.row_key::text, e.operation;
SELECT new_row - ARRAY['ag_agent_id', 'ag_run_id'] AS inserted
  FROM agent_guard.events WHERE run_id = 'run-rt23-f4' AND operation = 'INSERT';
-- what the rollback reads the images with gives back the very values
SELECT p.slots, array_lower(p.slots, 1) AS lower, p.d, p.p, p.ps, p.fs, p.f::text, p.g::text
  FROM agent_guard.events e, jsonb_populate_record(NULL::r23.arr, e.old_row) p
 WHERE e.run_id = 'run-rt23-f4' AND e.relation = 'r23.arr' AND e.operation <> 'INSERT'
 ORDER BY p.id;
SELECT agent_guard._row_image(a.*) - ARRAY['ag_agent_id', 'ag_run_id', 'note'] AS image
  FROM r23.arr a WHERE a.id = 1;
-- a human's later change of only the bounds, or only the zero's sign,
-- without the triggers (the stamps stay the agent's): both conflicts
SET session_replication_role = replica;
UPDATE r23.arr SET slots = '[1:1]={1}' WHERE id = 4;
UPDATE r23.flt SET f = 0 WHERE id = 1;
RESET session_replication_role;

\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
SELECT relation, operation, row_key, status, detail
  FROM agent_guard.rollback_run('run-rt23-f4') WHERE status <> 'planned' ORDER BY step;
-- error: YG030
\set VERBOSITY sqlstate
SELECT count(*) FROM agent_guard.rollback_run('run-rt23-f4', apply => true);
\set VERBOSITY default
SELECT relation, operation, row_key, status
  FROM agent_guard.rollback_run('run-rt23-f4', true, 'skip') ORDER BY step;
-- every row restored is the row before the run, bounds and zeros
-- included; rows 4 and 1 (the conflicts) are left as they are
SELECT b.t, b.id, b.r AS before, n.r AS now
  FROM r23.before b
  FULL JOIN (SELECT 'arr' AS t, a.id, a::text AS r FROM r23.arr a
             UNION ALL SELECT 'flt', f.id, f::text FROM r23.flt f) n ON n.t = b.t AND n.id = b.id
 WHERE b.r IS DISTINCT FROM n.r
 ORDER BY 1, 2;
SELECT slots[0] AS slot0, array_lower(slots, 1) AS lower, (p).f::text AS pf, f::text, g::text
  FROM r23.arr WHERE id = 1;

-- a human's ordinary change after the run is still a conflict
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt23-f4b"
\set SHOW_CONTEXT never
UPDATE r23.arr SET note = 'again' WHERE id = 1;
UPDATE r23.arr SET note = 'again' WHERE id = 2;
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
UPDATE r23.arr SET slots = '[0:2]={10,20,31}' WHERE id = 1;
SELECT relation, operation, row_key, status FROM agent_guard.rollback_run('run-rt23-f4b') ORDER BY step;
SELECT relation, operation, row_key, status FROM agent_guard.rollback_run('run-rt23-f4b', true, 'skip') ORDER BY step;
SELECT id, note FROM r23.arr WHERE id IN (1, 2) ORDER BY id;

-- Note: rows the run inserted, then columns added after it
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE TABLE r23.notes (id int PRIMARY KEY, v text);
GRANT SELECT, INSERT, UPDATE, DELETE ON r23.notes TO regress_bot, regress_human;
SELECT agent_guard.protect('r23.notes', false);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt23-note"
\set SHOW_CONTEXT never
INSERT INTO r23.notes VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd');
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
ALTER TABLE r23.notes ADD COLUMN memo text, ADD COLUMN prio int DEFAULT 7;
-- values written without the triggers into the new columns of rows 1 and 3
SET session_replication_role = replica;
UPDATE r23.notes SET memo = 'human' WHERE id = 1;
UPDATE r23.notes SET prio = 8 WHERE id = 3;
UPDATE r23.notes SET prio = 7 WHERE id = 4;   -- the default: nothing lost
RESET session_replication_role;
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
SELECT step, operation, row_key, status, detail FROM agent_guard.rollback_run('run-rt23-note') ORDER BY step;
SELECT step, operation, row_key, status FROM agent_guard.rollback_run('run-rt23-note', true, 'skip') ORDER BY step;
SELECT id, v, memo, prio FROM r23.notes ORDER BY id;

\c "dbname=contrib_regression user=regress_su options="
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect(t) FROM unnest(ARRAY['r23.accounts', 'r23.users', 'r23.slots', 'r23.arr',
                                                  'r23.flt', 'r23.notes']::regclass[]) t;
DROP SCHEMA r23 CASCADE;
