--
-- rule_reach: what an agent's rule or view writes in a human's statement
-- reaches protected tables it never names (red team 12, finding 5; issue
-- 16): a protected table whose foreign key cascades from the written
-- relation (ON DELETE CASCADE, ON UPDATE CASCADE, ON DELETE SET NULL), a
-- protected inheritance child or partition of it.  In the human's session
-- those rows would be written as the human's, hard and unlogged.  While
-- such a write runs it counts as the agent's code: the human's statement
-- is refused (YG004), the protected rows stay, the refusal is on record
-- under the agent.  An agent may not make a protected table a child of an
-- unprotected parent without a human's approval (YG003).  From the human's
-- side: a human's own rule, view and foreign key cascade still work, and
-- are logged as before.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
SELECT coalesce(max(event_id), 0) AS ev_before FROM agent_guard.events \gset
CREATE ROLE regress_rr_human LOGIN;              -- a human (regress_human is a role the agent is a member of)
CREATE SCHEMA rrh;                               -- the humans' tables
GRANT USAGE ON SCHEMA rrh TO regress_rr_human;
CREATE SCHEMA rrb AUTHORIZATION regress_bot;     -- the agent's
GRANT USAGE ON SCHEMA rrb TO regress_rr_human;

-- The agent's tables: lookup tables humans' tables reference, a parent, a
-- table a human protects, a partitioned table.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rr-1"
CREATE TABLE rrb.team (id int PRIMARY KEY);
CREATE TABLE rrb.dept (id int PRIMARY KEY);
CREATE TABLE rrb.grp (id int PRIMARY KEY);
INSERT INTO rrb.team VALUES (1), (2), (3);
INSERT INTO rrb.dept VALUES (1), (2);
INSERT INTO rrb.grp VALUES (1), (2);
CREATE TABLE rrb.par (id int, note text);
CREATE TABLE rrb.own (id int PRIMARY KEY, note text);
CREATE TABLE rrb.pp (id int, note text, ag_agent_id text, ag_run_id text) PARTITION BY LIST (id);
CREATE TABLE rrb.pp_1 PARTITION OF rrb.pp FOR VALUES IN (1, 2, 3);
CREATE TABLE rrb.pp_2 PARTITION OF rrb.pp FOR VALUES IN (10, 11);
ALTER TABLE rrb.pp_1 ADD PRIMARY KEY (id);
GRANT SELECT, UPDATE, DELETE ON rrb.team, rrb.dept, rrb.grp, rrb.par, rrb.pp TO regress_rr_human;
GRANT SELECT, INSERT ON rrb.own, rrb.pp_1 TO regress_rr_human;

-- The humans' protected tables: three keyed to the agent's lookup tables.
\c "dbname=contrib_regression user=regress_su options="
CREATE TABLE rrh.member (id int PRIMARY KEY, team int REFERENCES rrb.team ON DELETE CASCADE, name text);
CREATE TABLE rrh.emp (id int PRIMARY KEY, dept int REFERENCES rrb.dept ON UPDATE CASCADE, name text);
CREATE TABLE rrh.mem2 (id int PRIMARY KEY, grp int REFERENCES rrb.grp ON DELETE SET NULL, name text);
INSERT INTO rrh.member VALUES (1, 1, 'carol'), (2, 2, 'dave');
INSERT INTO rrh.emp VALUES (1, 1, 'erin'), (2, 2, 'frank');
INSERT INTO rrh.mem2 VALUES (1, 1, 'gina'), (2, 2, 'hal');
SELECT agent_guard.protect('rrh.member');
SELECT agent_guard.protect('rrh.emp');
SELECT agent_guard.protect('rrh.mem2');
SELECT agent_guard.protect('rrb.own');
SELECT agent_guard.protect('rrb.pp_1', false);
\c "dbname=contrib_regression user=regress_rr_human options="
INSERT INTO rrb.own VALUES (1, 'human 1'), (2, 'human 2'), (3, 'human 3');
INSERT INTO rrb.pp_1 (id, note) VALUES (1, 'human 1'), (2, 'human 2');

-- The agent may not put its protected table under a parent of its own
-- without a human's approval (a write to the parent reaches its rows).
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rr-1"
\set VERBOSITY sqlstate
-- error: YG003
ALTER TABLE rrb.own INHERIT rrb.par;
\set VERBOSITY default
-- A human may: it is a human's decision.
\c "dbname=contrib_regression user=regress_su options="
ALTER TABLE rrb.own INHERIT rrb.par;

-- The attack: rules and views of the agent's, none naming a protected table.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rr-1"
CREATE VIEW rrb.v_team AS SELECT 1 AS x;
CREATE RULE r AS ON INSERT TO rrb.v_team DO INSTEAD DELETE FROM rrb.team WHERE id = 1;
CREATE VIEW rrb.v_team3 AS SELECT 1 AS x;      -- a team no protected row is in
CREATE RULE r AS ON INSERT TO rrb.v_team3 DO INSTEAD DELETE FROM rrb.team WHERE id = 3;
CREATE VIEW rrb.v_dept AS SELECT 1 AS x;
CREATE RULE r AS ON INSERT TO rrb.v_dept DO INSTEAD UPDATE rrb.dept SET id = id + 1000 WHERE id IS NOT NULL;
CREATE VIEW rrb.v_grp AS SELECT 1 AS x;
CREATE RULE r AS ON INSERT TO rrb.v_grp DO INSTEAD DELETE FROM rrb.grp WHERE id = 1;
CREATE VIEW rrb.v_par AS SELECT 1 AS x;
CREATE RULE r AS ON INSERT TO rrb.v_par DO INSTEAD DELETE FROM rrb.par WHERE note LIKE 'human%';
CREATE VIEW rrb.v_parup AS SELECT 1 AS x;
CREATE RULE r AS ON INSERT TO rrb.v_parup DO INSTEAD UPDATE rrb.par SET note = 'via rule' WHERE note LIKE 'human%';
CREATE VIEW rrb.v_pp AS SELECT 1 AS x;
CREATE RULE r AS ON INSERT TO rrb.v_pp DO INSTEAD DELETE FROM rrb.pp WHERE id = 1;
CREATE VIEW rrb.v_ppins AS SELECT 1 AS x;
CREATE RULE r AS ON INSERT TO rrb.v_ppins DO INSTEAD INSERT INTO rrb.pp (id, note) VALUES (3, 'routed');
-- an ALSO rule on the agent's table: the human's own write runs, and so does the rule's
CREATE TABLE rrb.inbox (x int);
CREATE RULE r AS ON INSERT TO rrb.inbox DO ALSO DELETE FROM rrb.team WHERE id = 1;
-- auto-updatable views over the parents, one security_invoker
CREATE VIEW rrb.vv AS SELECT * FROM rrb.par;
CREATE VIEW rrb.vvi WITH (security_invoker = true) AS SELECT * FROM rrb.par;
CREATE VIEW rrb.vpp AS SELECT id, note FROM rrb.pp;
GRANT SELECT, INSERT ON rrb.v_team, rrb.v_team3, rrb.v_dept, rrb.v_grp, rrb.v_par, rrb.v_parup,
    rrb.v_pp, rrb.v_ppins, rrb.inbox TO regress_rr_human;
GRANT SELECT, INSERT, UPDATE, DELETE ON rrb.vv, rrb.vvi, rrb.vpp TO regress_rr_human;
-- what the rules and views write that reaches no protected table still works
CREATE VIEW rrb.v_fine AS SELECT 1 AS x;
CREATE RULE r AS ON INSERT TO rrb.v_fine DO INSTEAD INSERT INTO rrb.team VALUES (4);
GRANT SELECT, INSERT ON rrb.v_fine TO regress_rr_human;

-- A human's routine writes to the agent's relations: each refused.
\c "dbname=contrib_regression user=regress_rr_human options="
\set VERBOSITY sqlstate
-- error: YG004 (ON DELETE CASCADE to rrh.member)
INSERT INTO rrb.v_team VALUES (1);
-- error: YG004 (also when no protected row references the team: fails closed)
INSERT INTO rrb.v_team3 VALUES (1);
-- error: YG004 (ON UPDATE CASCADE to rrh.emp)
INSERT INTO rrb.v_dept VALUES (1);
-- error: YG004 (ON DELETE SET NULL to rrh.mem2)
INSERT INTO rrb.v_grp VALUES (1);
-- error: YG004 (DELETE through the parent of rrb.own)
INSERT INTO rrb.v_par VALUES (1);
-- error: YG004 (UPDATE through the parent of rrb.own)
INSERT INTO rrb.v_parup VALUES (1);
-- error: YG004 (DELETE through the partitioned parent of rrb.pp_1)
INSERT INTO rrb.v_pp VALUES (1);
-- error: YG004 (INSERT routed to rrb.pp_1)
INSERT INTO rrb.v_ppins VALUES (1);
-- error: YG004 (the ALSO rule's action)
INSERT INTO rrb.inbox VALUES (1);
-- error: YG004 (UPDATE through the agent's view over the parent)
UPDATE rrb.vv SET note = 'changed through the view' WHERE note = 'human 2';
-- error: YG004
DELETE FROM rrb.vv WHERE note = 'human 3';
-- error: YG004 (a security_invoker view too)
DELETE FROM rrb.vvi WHERE note = 'human 3';
-- error: YG004 (the agent's view over the partitioned parent)
UPDATE rrb.vpp SET note = 'changed' WHERE id = 2;
-- error: YG004 (a prepared statement, run twice: the cached plan too)
PREPARE p AS INSERT INTO rrb.v_team VALUES (1);
EXECUTE p;
-- error: YG004
EXECUTE p;
\set VERBOSITY default
-- the whole message, once each (the request id left out: it depends on the tests run before)
CREATE FUNCTION pg_temp.message(stmt text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE m text; d text; h text; c text;
BEGIN
    EXECUTE stmt;
    RETURN NEXT 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS c = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL,
                            h = PG_EXCEPTION_HINT;
    RETURN NEXT c;
    RETURN NEXT regexp_replace(m, 'request [0-9]+', 'request N');
    RETURN NEXT d;
    RETURN NEXT h;
END $$;
SELECT pg_temp.message('INSERT INTO rrb.v_team VALUES (1)');
SELECT pg_temp.message('INSERT INTO rrb.v_par VALUES (1)');
SELECT pg_temp.message('DELETE FROM rrb.vvi WHERE note = ''human 3''');
-- reaching no protected table: allowed
INSERT INTO rrb.v_fine VALUES (1);

-- The protected rows are all there, unchanged.
\c "dbname=contrib_regression user=regress_su options="
SELECT id, team, name FROM rrh.member ORDER BY id;
SELECT id, dept, name FROM rrh.emp ORDER BY id;
SELECT id, grp, name FROM rrh.mem2 ORDER BY id;
SELECT id, note, ag_deleted_at IS NULL AS live FROM rrb.own ORDER BY id;
SELECT id, note FROM rrb.pp_1 ORDER BY id;
SELECT id FROM rrb.team ORDER BY id;
SELECT id FROM rrb.dept ORDER BY id;
-- no event was written for them
SELECT count(*) AS events FROM agent_guard.events
 WHERE event_id > :ev_before AND relation IN ('rrh.member', 'rrh.emp', 'rrh.mem2', 'rrb.own', 'rrb.pp_1')
   AND operation NOT IN ('INSERT', 'PROTECT');

-- Every refusal is on record, under the agent.
SELECT agent_guard._flush_requests();
SELECT agent_id, kind, status, reason
  FROM agent_guard.requests WHERE request_id > :req_before ORDER BY request_id;

-- The agent's own session: its DELETE of the lookup row would cascade into
-- the protected soft-delete table; its own table's deletes are not logged,
-- so the rows could not be brought back with it, and soft-deleted they
-- would reference a row that is gone: refused (YG004, on record; red
-- team 30, F6, sql/rt31_softmv.sql).
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rr-1"
DELETE FROM rrb.team WHERE id = 1;

-- The human's side: a human's own rule, view and foreign key cascade work
-- as before (a human's writes are not logged as an agent's).
\c "dbname=contrib_regression user=regress_su options="
CREATE VIEW rrh.hv AS SELECT 1 AS x;
CREATE RULE r AS ON INSERT TO rrh.hv DO INSTEAD DELETE FROM rrb.team WHERE id = 2;
CREATE VIEW rrh.hvp AS SELECT * FROM rrb.par;
GRANT SELECT, INSERT ON rrh.hv TO regress_rr_human;
GRANT SELECT, UPDATE ON rrh.hvp TO regress_rr_human;
\c "dbname=contrib_regression user=regress_rr_human options="
INSERT INTO rrh.hv VALUES (1);                   -- the human's rule: cascades to dave
UPDATE rrb.dept SET id = 20 WHERE id = 2;        -- the human's own update: cascades to frank
DELETE FROM rrb.grp WHERE id = 2;                -- sets hal's grp to NULL
UPDATE rrh.hvp SET note = 'by a human' WHERE id = 2;   -- the human's view over the parent
DELETE FROM rrb.pp WHERE id = 2;                 -- through the partitioned parent
\c "dbname=contrib_regression user=regress_su options="
SELECT id, team, name, ag_deleted_at IS NULL AS live FROM rrh.member ORDER BY id;
SELECT id, dept, name FROM rrh.emp ORDER BY id;
SELECT id, grp, name FROM rrh.mem2 ORDER BY id;
SELECT id, note FROM rrb.own ORDER BY id;
SELECT id, note FROM rrb.pp_1 ORDER BY id;
SELECT relation, operation, agent_id, login_role FROM agent_guard.events
 WHERE event_id > :ev_before AND relation IN ('rrh.member', 'rrh.emp', 'rrh.mem2', 'rrb.own', 'rrb.pp_1')
   AND operation NOT IN ('INSERT', 'PROTECT')
 ORDER BY event_id;

SELECT agent_guard.unprotect('rrh.member');
SELECT agent_guard.unprotect('rrh.emp');
SELECT agent_guard.unprotect('rrh.mem2');
SELECT agent_guard.unprotect('rrb.own');
SELECT agent_guard.unprotect('rrb.pp_1');
DROP SCHEMA rrh CASCADE;
DROP SCHEMA rrb CASCADE;
DROP ROLE regress_rr_human;
