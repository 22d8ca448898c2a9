--
-- rollback: plan and exact replay of compensations for a run or a transaction
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- earlier tests' refused statements are written by a background worker;
-- wait for them, so event ids below do not depend on its timing
SELECT agent_guard._flush_requests();
SET ROLE regress_bot;
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN app.posint AS int CHECK (VALUE > 0);
CREATE TABLE app.rb_parent (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE app.rb_child (
    id        int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id int NOT NULL REFERENCES app.rb_parent (id),
    qty       app.posint,
    price     numeric(12, 4),
    total     numeric GENERATED ALWAYS AS (qty * price) STORED,
    tags      text[],
    doc       jsonb,
    blob      bytea,
    at        timestamptz,
    mood      app.mood,
    big       text
);
CREATE TABLE app.rb_soft (id int PRIMARY KEY, v text);
CREATE TABLE app.rb_part (id int, region text, v text, PRIMARY KEY (id, region))
    PARTITION BY LIST (region);
CREATE TABLE app.rb_part_eu PARTITION OF app.rb_part FOR VALUES IN ('eu');
CREATE TABLE app.rb_part_us PARTITION OF app.rb_part FOR VALUES IN ('us');
RESET ROLE;
SELECT agent_guard.protect('app.rb_parent', false);
SELECT agent_guard.protect('app.rb_child', false);
SELECT agent_guard.protect('app.rb_soft', true);
SELECT agent_guard.protect('app.rb_part', false);
GRANT SELECT, INSERT, UPDATE, DELETE ON app.rb_parent, app.rb_child, app.rb_soft, app.rb_part TO regress_human;
GRANT EXECUTE ON FUNCTION agent_guard.rollback_run(text, boolean, text),
                          agent_guard.rollback_xact(xid8, boolean, text) TO regress_human, regress_bot;

-- the state before the run: human rows (stamps NULL), one of them stamped
-- by an earlier agent run
INSERT INTO app.rb_parent VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four');
INSERT INTO app.rb_child (parent_id, qty, price, tags, doc, blob, at, mood, big)
VALUES (1, 2, 1.5000, '{a,"b c"}', '{"k": [1, 2.50, null]}', '\x00ff', '2024-02-29 12:34:56.789012+00', 'ok',
        repeat('x', 100000)),
       (2, 1, 0.1, NULL, 'null', '\x', '-infinity', 'sad', NULL);
INSERT INTO app.rb_soft VALUES (1, 'keep'), (2, 'gone soon');
INSERT INTO app.rb_part VALUES (1, 'eu', 'e1'), (2, 'us', 'u2');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rb-0"
UPDATE app.rb_parent SET name = 'FOUR' WHERE id = 4;
\c "dbname=contrib_regression user=regress_su options="
CREATE TABLE snap AS
    SELECT 'rb_parent' AS t, to_jsonb(p) AS r FROM app.rb_parent p
    UNION ALL SELECT 'rb_child', to_jsonb(c) FROM app.rb_child c
    UNION ALL SELECT 'rb_soft', to_jsonb(s) FROM app.rb_soft s
    UNION ALL SELECT 'rb_part', to_jsonb(x) || jsonb_build_object('part', x.tableoid::regclass) FROM app.rb_part x;
CREATE VIEW now_ AS
    SELECT 'rb_parent' AS t, to_jsonb(p) AS r FROM app.rb_parent p
    UNION ALL SELECT 'rb_child', to_jsonb(c) FROM app.rb_child c
    UNION ALL SELECT 'rb_soft', to_jsonb(s) FROM app.rb_soft s
    UNION ALL SELECT 'rb_part', to_jsonb(x) || jsonb_build_object('part', x.tableoid::regclass) FROM app.rb_part x;
CREATE VIEW diff AS
    (SELECT 'missing' AS what, t, r FROM snap EXCEPT ALL SELECT 'missing', t, r FROM now_)
    UNION ALL
    (SELECT 'extra', t, r FROM now_ EXCEPT ALL SELECT 'extra', t, r FROM snap);

-- the agent's run: every operation, every type, key changes, partitions
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rb-1"
INSERT INTO app.rb_parent VALUES (10, 'ten');
INSERT INTO app.rb_child (parent_id, qty, price, tags, doc, blob, at, mood)
VALUES (10, 3, 2.25, '{x}', '{"new": true}', '\xdead', now(), 'happy');
UPDATE app.rb_child SET qty = 7, price = 99.9999, tags = tags || '{z}'::text[],
       doc = jsonb_set(doc, '{k,0}', '"changed"'), blob = '\xbeef', at = 'infinity',
       mood = 'happy', big = big || 'y'
 WHERE id = 1;
DELETE FROM app.rb_child WHERE id = 2;
UPDATE app.rb_parent SET id = 20, name = 'two moved' WHERE id = 2;   -- a key change
UPDATE app.rb_parent SET name = 'four again' WHERE id = 4;           -- a row of an earlier run
DELETE FROM app.rb_parent WHERE id = 3;
DELETE FROM app.rb_soft WHERE id = 2;
INSERT INTO app.rb_soft VALUES (3, 'new');
UPDATE app.rb_part SET region = 'us' WHERE id = 1;                    -- moves partition
INSERT INTO app.rb_part VALUES (3, 'eu', 'e3');

-- error: an agent cannot roll back, even with EXECUTE granted
SELECT * FROM agent_guard.rollback_run('run-rb-1');
SELECT * FROM agent_guard.rollback_run('run-rb-1', apply => true);

\c "dbname=contrib_regression user=regress_su options="
SELECT count(*) AS changed_rows FROM diff;
-- the plan: newest first, nothing changed yet
SELECT step, operation, relation, row_key, action, status FROM agent_guard.rollback_run('run-rb-1');
SELECT count(*) AS changed_rows FROM diff;
-- error: bad arguments, unknown run
SELECT * FROM agent_guard.rollback_run('run-rb-1', true, 'ignore');
SELECT * FROM agent_guard.rollback_run(NULL);
SELECT * FROM agent_guard.rollback_run('no-such-run');
-- a human without EXECUTE cannot (privilege error)
\c "dbname=contrib_regression user=regress_tagged options="
SELECT * FROM agent_guard.rollback_run('run-rb-1');

-- a human may: apply, in her own transaction
\c "dbname=contrib_regression user=regress_human options="
BEGIN;
SELECT step, operation, status FROM agent_guard.rollback_run('run-rb-1', apply => true);
COMMIT;
\c "dbname=contrib_regression user=regress_su options="
-- exactly the state before the run: every column, stamps, generated,
-- identity, TOASTed, partition of every row
SELECT * FROM diff;
SELECT id, ag_agent_id, ag_run_id FROM app.rb_parent ORDER BY id;
SELECT id, total, length(big) AS big FROM app.rb_child ORDER BY id;
SELECT tableoid::regclass, * FROM app.rb_part ORDER BY id;
-- the compensations are on record, as a human's acts
SELECT e.operation, e.relation, e.row_key, e.agent_id, e.run_id, e.login_role,
       e.detail->>'action' AS action, u.operation AS undoes
  FROM agent_guard.events e JOIN agent_guard.events u ON u.event_id = (e.detail->>'undoes')::bigint
 WHERE e.operation = 'COMPENSATE' AND u.run_id = 'run-rb-1'
 ORDER BY e.event_id;
SELECT operation, agent_id, run_id, login_role, detail - 'xid' AS detail
  FROM agent_guard.events WHERE operation = 'ROLLBACK';
SELECT run_id, inserted, updated, deleted, status FROM agent_guard.runs
 WHERE run_id LIKE 'run-rb-%' ORDER BY run_id;
-- a second rollback changes nothing
SELECT step, status FROM agent_guard.rollback_run('run-rb-1', apply => true);
SELECT count(*) AS rollback_events FROM agent_guard.events WHERE operation = 'ROLLBACK';
SELECT count(*) AS changed_rows FROM diff;

--
-- conflicts
--
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rb-2"
INSERT INTO app.rb_parent VALUES (30, 'thirty'), (31, 'thirty-one');
UPDATE app.rb_parent SET name = 'ONE' WHERE id = 1;
DELETE FROM app.rb_parent WHERE id = 3;
UPDATE app.rb_parent SET name = 'FOUR!' WHERE id = 4;
\c "dbname=contrib_regression user=regress_human options="
-- after the run: a human changes one of its rows, reuses a key it freed,
-- and writes a row the run never touched
UPDATE app.rb_parent SET name = 'one (human)' WHERE id = 1;
INSERT INTO app.rb_parent VALUES (3, 'three (human)');
INSERT INTO app.rb_parent VALUES (40, 'forty (human)');
SELECT step, operation, row_key, status, detail FROM agent_guard.rollback_run('run-rb-2');
-- error: abort changes nothing and names the conflicting rows
SELECT * FROM agent_guard.rollback_run('run-rb-2', true);
SELECT id, name, ag_run_id FROM app.rb_parent ORDER BY id;
-- skip restores the rest and leaves the conflicts
SELECT step, operation, row_key, status FROM agent_guard.rollback_run('run-rb-2', true, 'skip');
SELECT id, name, ag_run_id FROM app.rb_parent ORDER BY id;
\c "dbname=contrib_regression user=regress_su options="
SELECT run_id, status FROM agent_guard.runs WHERE run_id = 'run-rb-2';
-- once the human frees the key again, that row can go too; the row the
-- human changed stays a conflict (its stamps say a human wrote it)
UPDATE app.rb_parent SET name = 'ONE', ag_run_id = 'x' WHERE id = 1;
DELETE FROM app.rb_parent WHERE id = 3;
SELECT step, operation, row_key, status, detail FROM agent_guard.rollback_run('run-rb-2', true, 'skip');
SELECT step, operation, row_key, status FROM agent_guard.rollback_run('run-rb-2', true, 'skip');
SELECT id, name, ag_agent_id, ag_run_id FROM app.rb_parent ORDER BY id;

-- a change by someone else between two of the run's changes to a row
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rb-3"
UPDATE app.rb_parent SET name = 'a' WHERE id = 40;
\c "dbname=contrib_regression user=regress_human options="
UPDATE app.rb_parent SET name = 'b (human)' WHERE id = 40;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rb-3"
UPDATE app.rb_parent SET name = 'c' WHERE id = 40;
INSERT INTO app.rb_parent VALUES (41, 'forty-one');
\c "dbname=contrib_regression user=regress_human options="
SELECT step, operation, row_key, status, detail FROM agent_guard.rollback_run('run-rb-3');
SELECT step, status FROM agent_guard.rollback_run('run-rb-3', true, 'skip');
SELECT id, name FROM app.rb_parent WHERE id >= 40 ORDER BY id;

-- foreign keys: undoing a parent insert under a child someone else added
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rb-4"
INSERT INTO app.rb_parent VALUES (50, 'fifty');
\c "dbname=contrib_regression user=regress_human options="
INSERT INTO app.rb_child (parent_id, qty) VALUES (50, 1);
-- error: the foreign key refuses; nothing changed
SELECT * FROM agent_guard.rollback_run('run-rb-4', true);
SELECT id FROM app.rb_parent WHERE id = 50;

--
-- rollback_xact: one transaction of a run; the rest stays
--
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rb-5"
INSERT INTO app.rb_parent VALUES (60, 'sixty');
BEGIN;
UPDATE app.rb_parent SET name = 'SIXTY' WHERE id = 60;
INSERT INTO app.rb_parent VALUES (61, 'sixty-one');
COMMIT;
\c "dbname=contrib_regression user=regress_su options="
SELECT xid AS xact2 FROM agent_guard.events WHERE run_id = 'run-rb-5' ORDER BY event_id DESC LIMIT 1 \gset
SELECT xid AS xact1 FROM agent_guard.events WHERE run_id = 'run-rb-5' ORDER BY event_id LIMIT 1 \gset
-- the first transaction cannot go while the second's change is on top of it
SELECT step, operation, row_key, status FROM agent_guard.rollback_xact(:'xact1');
SELECT step, operation, row_key, status FROM agent_guard.rollback_xact(:'xact2', true);
SELECT id, name FROM app.rb_parent WHERE id >= 60 ORDER BY id;
SELECT run_id, status FROM agent_guard.runs WHERE run_id = 'run-rb-5';
SELECT step, operation, row_key, status FROM agent_guard.rollback_run('run-rb-5', true);
SELECT id, name FROM app.rb_parent WHERE id >= 60 ORDER BY id;
SELECT run_id, status FROM agent_guard.runs WHERE run_id = 'run-rb-5';
-- error: an unknown transaction
SELECT * FROM agent_guard.rollback_xact('1');

--
-- overlapping keys in one statement are replayed row by row
--
\c "dbname=contrib_regression user=regress_su options="
SET ROLE regress_bot;
CREATE TABLE app.rb_shift (id int PRIMARY KEY, v text);
RESET ROLE;
SELECT agent_guard.protect('app.rb_shift', false);
INSERT INTO app.rb_shift SELECT g, 'v' || g FROM generate_series(1, 5) g;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rb-6"
DO $$
BEGIN
    FOR i IN REVERSE 5..1 LOOP
        UPDATE app.rb_shift SET id = id + 1, v = v || '+' WHERE id = i;
    END LOOP;
END
$$;
\c "dbname=contrib_regression user=regress_su options="
SELECT step, action, status FROM agent_guard.rollback_run('run-rb-6', true);
SELECT id, v, ag_run_id FROM app.rb_shift ORDER BY id;

--
-- the table's own triggers do not fire during the replay: the row comes
-- back exactly (not "touched" once more)
--
SET ROLE regress_bot;
CREATE TABLE app.rb_trg (id int PRIMARY KEY, v text, touched int NOT NULL DEFAULT 0);
CREATE FUNCTION app.rb_touch() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN NEW.touched := OLD.touched + 1; RETURN NEW; END $$;
RESET ROLE;
SELECT agent_guard.protect('app.rb_trg', false);
-- a human's trigger, after protect() (which refuses an agent's own:
-- sql/structure_code.sql)
CREATE TRIGGER rb_touch BEFORE UPDATE ON app.rb_trg FOR EACH ROW EXECUTE FUNCTION app.rb_touch();
INSERT INTO app.rb_trg VALUES (1, 'a');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rb-7"
UPDATE app.rb_trg SET v = 'b' WHERE id = 1;
\c "dbname=contrib_regression user=regress_su options="
SELECT step, action, status FROM agent_guard.rollback_run('run-rb-7', true);
SELECT * FROM app.rb_trg;

--
-- soft deletes (simulated: an agent DELETE on a soft-delete table marks the
-- row and logs SOFT_DELETE): the row comes back unmarked, stamps and all
--
BEGIN;
-- images are printed with the capture trigger's pinned output settings
SET LOCAL TimeZone = 'UTC';
SELECT agent_guard._replay_mode(true);
UPDATE app.rb_soft SET ag_deleted_at = '2025-01-01 00:00+00', ag_agent_id = 'regress_bot', ag_run_id = 'run-rb-8'
 WHERE id = 1;
INSERT INTO agent_guard.events (agent_id, run_id, relation, operation, row_key, old_row, new_row)
SELECT 'regress_bot', 'run-rb-8', 'app.rb_soft', 'SOFT_DELETE', '{"id": 1}',
       '{"id": 1, "v": "keep", "ag_agent_id": null, "ag_run_id": null, "ag_deleted_at": null}', to_jsonb(s)
  FROM app.rb_soft s WHERE id = 1;
COMMIT;
SELECT step, operation, action, status FROM agent_guard.rollback_run('run-rb-8', true);
SELECT * FROM app.rb_soft ORDER BY id;

--
-- replay mode is internal, refused to agents, and never outlives its transaction
--
\c "dbname=contrib_regression user=regress_human options="
SELECT agent_guard._replay_mode(true);
\c "dbname=contrib_regression user=regress_su options="
GRANT EXECUTE ON FUNCTION agent_guard._replay_mode(boolean) TO regress_bot, regress_human;
\c "dbname=contrib_regression user=regress_human options="
SELECT agent_guard._replay_mode(true);
\c "dbname=contrib_regression user=regress_bot options="
SELECT agent_guard._replay_mode(true);
\c "dbname=contrib_regression user=regress_su options="
REVOKE EXECUTE ON FUNCTION agent_guard._replay_mode(boolean) FROM regress_bot, regress_human;
BEGIN;
SELECT agent_guard._replay_mode(true);
UPDATE app.rb_parent SET ag_run_id = 'forged' WHERE id = 1;
COMMIT;
SELECT id, ag_run_id FROM app.rb_parent WHERE id = 1;
UPDATE app.rb_parent SET ag_run_id = 'forged' WHERE id = 1;
SELECT id, ag_run_id FROM app.rb_parent WHERE id = 1;
BEGIN;
SELECT agent_guard._replay_mode(true);
SAVEPOINT a;
SELECT 1 / 0;
ROLLBACK TO a;
UPDATE app.rb_parent SET ag_run_id = 'forged' WHERE id = 1;
COMMIT;
SELECT id, ag_run_id FROM app.rb_parent WHERE id = 1;

-- a column added after the run (ALTER TABLE ... ADD COLUMN needs no
-- approval) is not a change to the run's rows (red team 9, finding 4):
-- the run is still undone, and the new column left as it is
\c "dbname=contrib_regression user=regress_su options="
SET ROLE regress_bot;
CREATE TABLE app.rb_added (id int PRIMARY KEY, bal int);
INSERT INTO app.rb_added SELECT g, 100 FROM generate_series(1, 3) g;
RESET ROLE;
SELECT agent_guard.protect('app.rb_added');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rb-added"
UPDATE app.rb_added SET bal = 0 WHERE id <= 3;
ALTER TABLE app.rb_added ADD COLUMN note text DEFAULT 'added';
\c "dbname=contrib_regression user=regress_su options="
SELECT step, operation, row_key, status FROM agent_guard.rollback_run('run-rb-added');
SELECT count(*) AS undone FROM agent_guard.rollback_run('run-rb-added', true) WHERE status = 'applied';
SELECT id, bal, note FROM app.rb_added ORDER BY id;
-- a later write to the run's columns is still a conflict
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rb-added2"
UPDATE app.rb_added SET bal = 5 WHERE id = 1;
\c "dbname=contrib_regression user=regress_su options="
UPDATE app.rb_added SET bal = 6, note = 'later' WHERE id = 1;
SELECT step, row_key, status FROM agent_guard.rollback_run('run-rb-added2');
SELECT agent_guard.unprotect('app.rb_added');
DROP TABLE app.rb_added;
