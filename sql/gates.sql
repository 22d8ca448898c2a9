--
-- gates: destructive acts wait for a human, freezes hold, and the guard
-- cannot be switched off from an agent session
--
\c "dbname=contrib_regression user=regress_su options="
ALTER ROLE regress_bot SET agent_guard.max_rows_per_statement = 5;
ALTER ROLE regress_bot SET agent_guard.max_rows_per_run = 40;
SET ROLE regress_bot;
CREATE TABLE app.g_orders (id int PRIMARY KEY, note text, amount int);
CREATE TABLE app.g_plain (id int PRIMARY KEY, v text);
INSERT INTO app.g_orders SELECT g, 'order ' || g, g * 10 FROM generate_series(1, 8) g;
INSERT INTO app.g_plain SELECT g, 'v' || g FROM generate_series(1, 8) g;
CREATE FUNCTION app.wipe_plain() RETURNS void LANGUAGE plpgsql AS $$
BEGIN DELETE FROM app.g_plain; END $$;
RESET ROLE;
SELECT agent_guard.protect('app.g_orders');

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-gates-1"
-- error: needs a human's approval (YG003), whatever the path
DROP TABLE app.g_plain;
TRUNCATE app.g_orders;
DELETE FROM app.g_plain;
UPDATE app.g_plain SET v = 'x' WHERE true;
DELETE FROM app.g_orders WHERE id > 0;
ALTER TABLE app.g_orders DROP COLUMN note;
ALTER TABLE app.g_orders ALTER COLUMN amount TYPE bigint;
ALTER TABLE app.g_orders RENAME TO g_orders_old;
ALTER TABLE app.g_orders RENAME COLUMN note TO memo;
DROP SCHEMA app CASCADE;
DROP OWNED BY regress_bot;
DROP DATABASE regress_no_such_db;
DO $$ BEGIN EXECUTE 'TRUNCATE app.g_plain'; END $$;
SELECT app.wipe_plain();
-- nothing was lost
SELECT (SELECT count(*) FROM app.g_orders) AS orders, (SELECT count(*) FROM app.g_plain) AS plain;

-- error: refused outright (YG004), no approval possible
ALTER TABLE app.g_orders DISABLE TRIGGER ALL;
ALTER TABLE app.g_orders DISABLE TRIGGER zz_agent_guard_capture;
DROP TRIGGER zz_agent_guard_stamp ON app.g_orders;
ALTER TABLE app.g_orders DISABLE ROW LEVEL SECURITY;
ALTER TABLE app.g_orders NO FORCE ROW LEVEL SECURITY;
DROP POLICY ag_hide_deleted ON app.g_orders;
ALTER TABLE app.g_orders DROP COLUMN ag_run_id;
CREATE RULE no_delete AS ON DELETE TO app.g_orders DO INSTEAD NOTHING;
SET session_replication_role = replica;
SELECT set_config('session_replication_role', 'replica', false);
SET agent_guard.max_rows_per_statement = 100000;
ALTER SYSTEM SET shared_preload_libraries = '';
LOAD 'agent_guard';
DROP EXTENSION agent_guard;
ALTER EXTENSION agent_guard UPDATE;
DROP SCHEMA agent_guard CASCADE;

-- the agent's own scratch space is not gated
CREATE TEMP TABLE scratch (id int PRIMARY KEY);
INSERT INTO scratch SELECT generate_series(1, 20);
DELETE FROM scratch;
TRUNCATE scratch;
DROP TABLE scratch;
CREATE TABLE app.g_mine (id int);
INSERT INTO app.g_mine VALUES (1), (2);
DELETE FROM app.g_mine;
DROP TABLE app.g_mine;
-- a statement with a WHERE clause and few rows goes through
UPDATE app.g_orders SET note = 'checked' WHERE id = 1;

-- the requests are on record although every refused transaction aborted
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT request_id, agent_id, run_id, kind, status, reason, statement
  FROM agent_guard.requests WHERE run_id = 'run-gates-1' ORDER BY request_id;
SELECT count(*) AS blocked_events FROM agent_guard.events
 WHERE operation = 'BLOCKED' AND run_id = 'run-gates-1';
SELECT run_id, updated, blocked, status FROM agent_guard.runs WHERE run_id = 'run-gates-1';

-- a human approves the DROP; the agent runs the same statement once
SELECT request_id AS drop_request FROM agent_guard.requests
 WHERE run_id = 'run-gates-1' AND statement = 'DROP TABLE app.g_plain' \gset
SELECT request_id, status, decided_by, note FROM agent_guard.approve(:drop_request, 'cleanup ticket 42');
-- error: decided already; refused-outright requests cannot be approved; no such request
SELECT agent_guard.approve(:drop_request);
SELECT agent_guard.approve((SELECT min(request_id) FROM agent_guard.requests
                             WHERE run_id = 'run-gates-1' AND kind = 'refused'));
SELECT agent_guard.deny(999999);
SELECT agent_guard.approve(NULL);
-- a human denies the TRUNCATE
SELECT request_id AS trunc_request FROM agent_guard.requests
 WHERE run_id = 'run-gates-1' AND statement = 'TRUNCATE app.g_orders' \gset
SELECT request_id, status, note FROM agent_guard.deny(:trunc_request, 'no');

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-gates-2"
-- error: the agent cannot decide, even when granted EXECUTE
SELECT agent_guard.approve(1);
\c "dbname=contrib_regression user=regress_su options="
GRANT EXECUTE ON FUNCTION agent_guard.approve(bigint, text), agent_guard.freeze(text, text) TO regress_bot;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-gates-2"
SELECT agent_guard.approve(1);
SELECT agent_guard.freeze('no more');
-- the approved statement runs (trailing white space and semicolons do not matter), once
DROP TABLE app.g_plain  ;
CREATE TABLE app.g_plain (id int PRIMARY KEY);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-gates-3"
-- error: a second run of it needs a new approval; the denied one stays refused
DROP TABLE app.g_plain;
TRUNCATE app.g_orders;

-- a freeze stops every agent write from the next statement, and holds DDL too
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.freeze('code freeze: quarter close');
SELECT agent_id, all_agents, reason FROM agent_guard.freezes;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-gates-4"
-- error: writes and DDL refused (YG006)
UPDATE app.g_orders SET note = 'during freeze' WHERE id = 2;
INSERT INTO app.g_orders VALUES (100, 'new', 1);
CREATE TABLE app.g_new (id int);
-- reads and the agent's temporary tables still work
SELECT count(*) FROM app.g_orders;
CREATE TEMP TABLE t (id int);
INSERT INTO t VALUES (1);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unfreeze();
-- error: nothing to unfreeze
SELECT agent_guard.unfreeze();
-- one agent's freeze leaves the others alone
SELECT agent_guard.freeze('this bot misbehaved', 'regress_bot');
\c "dbname=contrib_regression user=regress_tagged options=-cagent_guard.agent_id=other-agent"
SELECT agent_guard.current_agent();
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-gates-4"
UPDATE app.g_orders SET note = 'frozen bot' WHERE id = 2;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unfreeze('regress_bot');
SELECT operation, agent_id, detail ->> 'reason' AS reason FROM agent_guard.events
 WHERE operation IN ('FREEZE', 'UNFREEZE') ORDER BY event_id;

-- a run that writes more than max_rows_per_run (40 here) is tripped
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-gates-5"
INSERT INTO app.g_orders SELECT g, 'bulk', 1 FROM generate_series(200, 204) g;
INSERT INTO app.g_orders SELECT g, 'bulk', 1 FROM generate_series(205, 209) g;
INSERT INTO app.g_orders SELECT g, 'bulk', 1 FROM generate_series(210, 214) g;
INSERT INTO app.g_orders SELECT g, 'bulk', 1 FROM generate_series(215, 219) g;
INSERT INTO app.g_orders SELECT g, 'bulk', 1 FROM generate_series(220, 224) g;
INSERT INTO app.g_orders SELECT g, 'bulk', 1 FROM generate_series(225, 229) g;
INSERT INTO app.g_orders SELECT g, 'bulk', 1 FROM generate_series(230, 234) g;
INSERT INTO app.g_orders SELECT g, 'bulk', 1 FROM generate_series(235, 239) g;
-- error: the ninth batch passes the limit (YG007), and the run stays tripped
INSERT INTO app.g_orders SELECT g, 'bulk', 1 FROM generate_series(240, 244) g;
INSERT INTO app.g_orders VALUES (300, 'one more', 1);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT run_id, rows_seen FROM agent_guard.tripped_runs;
SELECT run_id, inserted, blocked, status FROM agent_guard.runs WHERE run_id = 'run-gates-5';
-- error: other sessions of the tripped run are refused too
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-gates-5"
INSERT INTO app.g_orders VALUES (301, 'other session', 1);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.reset_run('run-gates-5');
SELECT agent_guard.reset_run('run-gates-5');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-gates-5"
INSERT INTO app.g_orders VALUES (301, 'after reset', 1);

-- preview: the agent (or its harness) sees the blast radius first; nothing
-- changes, nothing is requested for what would need approval, and the
-- refusal that stops a statement (DISABLE TRIGGER) is on record
\c "dbname=contrib_regression user=regress_su options="
SELECT count(*) AS requests_before FROM agent_guard.requests \gset
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-gates-6"
SELECT * FROM agent_guard.preview('UPDATE app.g_orders SET note = ''x'' WHERE id <= 3');
SELECT * FROM agent_guard.preview('DELETE FROM app.g_orders');
SELECT * FROM agent_guard.preview('TRUNCATE app.g_orders');
SELECT * FROM agent_guard.preview('ALTER TABLE app.g_orders DISABLE TRIGGER ALL');
SELECT * FROM agent_guard.preview('INSERT INTO app.nosuch VALUES (1)');
SELECT count(*) AS orders, count(*) FILTER (WHERE note = 'x') AS changed FROM app.g_orders;
-- error: nothing to preview
SELECT * FROM agent_guard.preview('');
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT count(*) - :requests_before AS new_requests FROM agent_guard.requests;

-- red team 12, observations: the planner's gate function called
-- directly, in a plain SELECT, gates nothing and asks nothing; a rewrite
-- to the same type with USING says it rewrites every value
\c "dbname=contrib_regression user=regress_su options="
SELECT count(*) AS requests_before FROM agent_guard.requests \gset
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-gates-7"
SELECT agent_guard._gate_unqualified('wiping everything', 'app.g_orders'::regclass);
\set VERBOSITY sqlstate
-- error: YG003
ALTER TABLE app.g_orders ALTER COLUMN note TYPE text USING 'x';
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT count(*) - :requests_before AS new_requests FROM agent_guard.requests;
SELECT statement, reason FROM agent_guard.requests WHERE run_id = 'run-gates-7' ORDER BY request_id;

-- humans keep full power: the same statements from a human session just run
\c "dbname=contrib_regression user=regress_su options="
SET ROLE regress_bot;
DELETE FROM app.g_orders WHERE id >= 200;
TRUNCATE app.g_plain;
DROP TABLE app.g_plain;
RESET ROLE;
ALTER ROLE regress_bot RESET agent_guard.max_rows_per_statement;
ALTER ROLE regress_bot RESET agent_guard.max_rows_per_run;
REVOKE EXECUTE ON FUNCTION agent_guard.approve(bigint, text), agent_guard.freeze(text, text) FROM regress_bot;
