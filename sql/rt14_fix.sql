--
-- rt14_fix: red team 14's findings (issue 16: never run an agent's code
-- with more rights than the agent's; decide on what a statement reaches).
--
-- 1. A human's SECURITY DEFINER function that writes a protected table,
--    called from an agent's stored code (a view, a SELECT rule action, a
--    column default, a policy, a CHECK, a trigger WHEN, an operator) in a
--    human's statement, would run with its owner's rights and hard-delete
--    protected rows unlogged, also during a freeze.  Refused (YG002) when
--    the statement is planned, or when the call is set up; also when the
--    function was changed after the agent stored the view, when EXECUTE is
--    granted to the agent only, and when the agent's view reaches it
--    through a human's view.  An agent's domain may not call it (refused
--    when stored: a domain's CHECK runs before any statement is judged).
-- 2. A refusal through a second agent's view is on record under the agent
--    whose rule chose the write.
-- 3. The refusal names the relation whose rule chose the write.
-- 4. A human's deferrable constraint trigger on a relation an agent's rule
--    writes fires at commit, after the agent's plan, where its writes pass
--    for the human's: the write is refused when it starts (YG004), on
--    record.  A foreign key's actions are never deferred by PostgreSQL
--    (ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED, or SET CONSTRAINTS
--    ALL DEFERRED, still cascade at once): refused as before.
-- From the human's side: the human's own SECURITY DEFINER function in a
-- statement of its own, the human's own view, rule and deferred foreign
-- key work as before.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
-- request ids of their own, above the other tests' (they set the sequence too)
SELECT setval('agent_guard.requests_request_id_seq', 700000, false);
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
SELECT coalesce(max(event_id), 0) AS ev_before FROM agent_guard.events \gset
CREATE ROLE regress_rf_human LOGIN;
CREATE ROLE regress_rf_bot2 LOGIN;
SELECT agent_guard.register_agent('regress_rf_bot2');
CREATE SCHEMA rfh;                               -- the humans'
GRANT USAGE ON SCHEMA rfh TO PUBLIC;
CREATE SCHEMA rfb AUTHORIZATION regress_bot;     -- the agent's
GRANT USAGE ON SCHEMA rfb TO PUBLIC;
CREATE SCHEMA rfb2 AUTHORIZATION regress_rf_bot2;  -- a second agent's
GRANT USAGE ON SCHEMA rfb2 TO PUBLIC;

-- The humans' protected table, and a human's SECURITY DEFINER function
-- that deletes from it: PUBLIC may execute it (PostgreSQL's default).
CREATE TABLE rfh.acct (id int PRIMARY KEY, owner text);
INSERT INTO rfh.acct VALUES (1, 'ann'), (2, 'bob'), (3, 'cid');
SELECT agent_guard.protect('rfh.acct');
GRANT SELECT, INSERT, UPDATE, DELETE ON rfh.acct TO regress_rf_human;
CREATE FUNCTION rfh.wipe() RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN DELETE FROM rfh.acct WHERE id = 1; RETURN 1; END $$;
CREATE FUNCTION rfh.wipe2(a int) RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN DELETE FROM rfh.acct WHERE id = 2; RETURN true; END $$;
-- one granted to the agent only
CREATE FUNCTION rfh.wipe_granted() RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN DELETE FROM rfh.acct WHERE id = 3; RETURN 3; END $$;
REVOKE EXECUTE ON FUNCTION rfh.wipe_granted() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rfh.wipe_granted() TO regress_bot, regress_rf_human;
-- harmless when the agent stores its call, changed later (below)
CREATE FUNCTION rfh.later() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 0';
-- a human's view that calls the human's function
CREATE VIEW rfh.hv_wipe AS SELECT rfh.wipe() AS w;
GRANT SELECT ON rfh.hv_wipe TO PUBLIC;

GRANT DELETE ON rfh.acct TO regress_rf_bot2;
-- a second agent's SECURITY DEFINER function: runs as that agent's code
\c "dbname=contrib_regression user=regress_rf_bot2 options=-cagent_guard.run_id=run-rf-2"
CREATE FUNCTION rfb2.wipe() RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN DELETE FROM rfh.acct WHERE id = 1; RETURN 1; END $$;

-- Finding 1: the agent's stored code calls the human's function.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rf-1"
CREATE VIEW rfb.vb2 AS SELECT rfb2.wipe() AS w;
CREATE VIEW rfb.v AS SELECT rfh.wipe() AS w;
CREATE VIEW rfb.vg AS SELECT rfh.wipe_granted() AS w;
CREATE VIEW rfb.vh AS SELECT * FROM rfh.hv_wipe;              -- through the human's view
CREATE TABLE rfb.sel (x int);
CREATE RULE r AS ON INSERT TO rfb.sel DO ALSO SELECT rfh.wipe();
CREATE TABLE rfb.sel2 (x int);
CREATE RULE r2 AS ON UPDATE TO rfb.sel2 DO INSTEAD SELECT rfh.wipe();
CREATE TABLE rfb.dflt (x int, w int DEFAULT rfh.wipe());
CREATE TABLE rfb.chk (x int CHECK (rfh.wipe2(x)));
CREATE TABLE rfb.pol (x int);
ALTER TABLE rfb.pol ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON rfb.pol USING (rfh.wipe2(x));
CREATE TABLE rfb.trg (x int);
CREATE FUNCTION rfb.trg_fn() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TRIGGER t BEFORE INSERT ON rfb.trg FOR EACH ROW WHEN (rfh.wipe2(NEW.x)) EXECUTE FUNCTION rfb.trg_fn();
CREATE OPERATOR rfb.=== (FUNCTION = rfh.wipe2, RIGHTARG = int);
CREATE VIEW rfb.vop AS SELECT OPERATOR(rfb.===) 1 AS w;
CREATE VIEW rfb.vlater AS SELECT rfh.later() AS w;
INSERT INTO rfb.sel2 VALUES (1);
INSERT INTO rfb.pol VALUES (1);
CREATE TABLE rfb.plain (x int);                 -- runs no code of the agent's when read
INSERT INTO rfb.plain VALUES (1);
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA rfb TO PUBLIC;
\set VERBOSITY sqlstate
-- error: YG002 (an agent's domain may not call it: refused when stored)
CREATE DOMAIN rfb.d AS int CHECK (rfh.wipe2(VALUE));
\set VERBOSITY default

\c "dbname=contrib_regression user=regress_su options="
CREATE OR REPLACE FUNCTION rfh.later() RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN DELETE FROM rfh.acct WHERE id = 3; RETURN 3; END $$;
SELECT agent_guard.freeze('red team 14');

-- A human's routine statements that touch the agent's objects: each refused.
\c "dbname=contrib_regression user=regress_rf_human options="
\set VERBOSITY sqlstate
-- error: YG002 (the agent's view)
SELECT * FROM rfb.v;
-- error: YG002 (granted to the agent: still the function owner's rights)
SELECT * FROM rfb.vg;
-- error: YG002 (the agent's view over the human's view)
SELECT * FROM rfb.vh;
-- error: YG002 (the agent's SELECT rule action)
INSERT INTO rfb.sel VALUES (1);
-- error: YG002
UPDATE rfb.sel2 SET x = 2;
-- error: YG002 (the agent's column default)
INSERT INTO rfb.dflt (x) VALUES (1);
-- error: YG002 (the agent's CHECK)
INSERT INTO rfb.chk VALUES (1);
-- error: YG002 (the agent's policy)
SELECT * FROM rfb.pol;
-- error: YG002 (the agent's trigger WHEN)
INSERT INTO rfb.trg VALUES (1);
-- error: YG002 (the agent's operator)
SELECT * FROM rfb.vop;
SELECT OPERATOR(rfb.===) 1 AS op;
-- error: YG002 (changed after the agent stored the view)
SELECT * FROM rfb.vlater;
-- error: YG002 (a human's own call, in a statement that reads the agent's view)
SELECT rfh.wipe(), w FROM rfb.vlater;
-- error: YG004 (a second agent's SECURITY DEFINER function: that agent's code, refused its protected write)
SELECT * FROM rfb.vb2;
-- error: YG002 (a prepared statement, run twice)
PREPARE pv AS SELECT * FROM rfb.v;
EXECUTE pv;
EXECUTE pv;
\set VERBOSITY default
-- the whole message, once each
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
SELECT pg_temp.message('SELECT * FROM rfb.v');
SELECT pg_temp.message('INSERT INTO rfb.dflt (x) VALUES (1)');
SELECT pg_temp.message('SELECT rfh.wipe(), w FROM rfb.vlater');

-- The protected rows are all there; no event was written for them.
\c "dbname=contrib_regression user=regress_su options="
SELECT id, owner, ag_deleted_at IS NULL AS live FROM rfh.acct ORDER BY id;
SELECT count(*) AS events FROM agent_guard.events
 WHERE event_id > :ev_before AND relation = 'rfh.acct' AND operation NOT IN ('INSERT', 'PROTECT');
SELECT agent_guard.unfreeze();

-- The human's side: the human's own SECURITY DEFINER function, in a
-- statement of its own, or one that reads a plain table of the agent's,
-- works (the human's own deletes); in one that reads the agent's table
-- with rules it is refused, with a hint.
\c "dbname=contrib_regression user=regress_rf_human options="
SELECT rfh.later();
SELECT rfh.wipe() FROM rfb.plain;
\set VERBOSITY sqlstate
-- error: YG002
SELECT rfh.wipe2(1) FROM rfb.sel2;
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
SELECT id, owner FROM rfh.acct ORDER BY id;

-- Findings 2 to 4: what an agent's rule writes reaches a protected table.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rf-1"
CREATE TABLE rfb.team (id int PRIMARY KEY);
CREATE TABLE rfb.dteam (id int PRIMARY KEY);
CREATE TABLE rfb.iteam (id int PRIMARY KEY);
CREATE TABLE rfb.nteam (id int PRIMARY KEY);
CREATE TABLE rfb.cteam (id int PRIMARY KEY);
INSERT INTO rfb.team VALUES (1), (2), (3);
INSERT INTO rfb.dteam VALUES (1), (2), (3);
INSERT INTO rfb.iteam VALUES (1), (2);
INSERT INTO rfb.nteam VALUES (1), (2);
INSERT INTO rfb.cteam VALUES (1), (2);
GRANT SELECT, DELETE, UPDATE ON rfb.team, rfb.dteam, rfb.iteam, rfb.nteam, rfb.cteam TO regress_rf_human;
\c "dbname=contrib_regression user=regress_su options="
CREATE TABLE rfh.member (id int PRIMARY KEY, team int REFERENCES rfb.team ON DELETE CASCADE);
CREATE TABLE rfh.dmem (id int PRIMARY KEY,
    team int REFERENCES rfb.dteam ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE rfh.imem (id int PRIMARY KEY,
    team int REFERENCES rfb.iteam ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE);
CREATE TABLE rfh.nmem (id int PRIMARY KEY,      -- not protected
    team int REFERENCES rfb.nteam ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED);
INSERT INTO rfh.member VALUES (1, 1), (2, 2);
INSERT INTO rfh.dmem VALUES (1, 1), (2, 2), (3, 3);
INSERT INTO rfh.imem VALUES (1, 1), (2, 2);
INSERT INTO rfh.nmem VALUES (1, 1), (2, 2);
SELECT agent_guard.protect('rfh.member');
SELECT agent_guard.protect('rfh.dmem');
SELECT agent_guard.protect('rfh.imem');
-- a human's deferred constraint trigger on the agent's table
CREATE FUNCTION rfh.ct_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN DELETE FROM rfh.acct WHERE id = 2; RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER ct AFTER DELETE ON rfb.cteam DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION rfh.ct_fn();

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rf-1"
-- finding 3: the rule of rfb.t1 writes rfb.t3, whose rule deletes the team
CREATE TABLE rfb.t3 (x int);
CREATE RULE r AS ON INSERT TO rfb.t3 DO INSTEAD DELETE FROM rfb.team WHERE id = 1;
CREATE TABLE rfb.t1 (x int);
CREATE RULE r AS ON INSERT TO rfb.t1 DO ALSO INSERT INTO rfb.t3 VALUES (NEW.x);
-- finding 2: the agent's table with a rule, under a second agent's view
CREATE TABLE rfb.at (x int);
INSERT INTO rfb.at VALUES (1);
CREATE RULE r AS ON UPDATE TO rfb.at DO ALSO DELETE FROM rfb.team WHERE id = 1;
GRANT SELECT, UPDATE ON rfb.at TO regress_rf_bot2;
-- finding 4: rules deleting rows a deferred trigger or a deferrable foreign key follows
CREATE VIEW rfb.v_dteam AS SELECT 1 AS x;
CREATE RULE r AS ON INSERT TO rfb.v_dteam DO INSTEAD DELETE FROM rfb.dteam WHERE id = 1;
CREATE VIEW rfb.v_iteam AS SELECT 1 AS x;
CREATE RULE r AS ON INSERT TO rfb.v_iteam DO INSTEAD DELETE FROM rfb.iteam WHERE id = 1;
CREATE VIEW rfb.v_nteam AS SELECT 1 AS x;
CREATE RULE r AS ON INSERT TO rfb.v_nteam DO INSTEAD DELETE FROM rfb.nteam WHERE id = 1;
CREATE VIEW rfb.v_cteam AS SELECT 1 AS x;
CREATE RULE r AS ON INSERT TO rfb.v_cteam DO INSTEAD DELETE FROM rfb.cteam WHERE id = 1;
GRANT SELECT, INSERT ON rfb.t1, rfb.t3, rfb.v_dteam, rfb.v_iteam, rfb.v_nteam, rfb.v_cteam
    TO regress_rf_human;
\c "dbname=contrib_regression user=regress_rf_bot2 options=-cagent_guard.run_id=run-rf-2"
CREATE VIEW rfb2.bv AS SELECT x FROM rfb.at;
GRANT SELECT, UPDATE ON rfb2.bv TO regress_rf_human;

\c "dbname=contrib_regression user=regress_rf_human options="
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
\set VERBOSITY sqlstate
-- error: YG004 (finding 3: names rfb.t3, whose rule chose the write)
INSERT INTO rfb.t1 VALUES (1);
-- error: YG004 (finding 2: the rule of regress_bot's rfb.at, through regress_rf_bot2's view)
UPDATE rfb2.bv SET x = 2;
-- error: YG004 (ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED: PostgreSQL cascades at once)
INSERT INTO rfb.v_dteam VALUES (1);
-- error: YG004 (a deferrable foreign key after SET CONSTRAINTS ALL DEFERRED: the same)
BEGIN;
SET CONSTRAINTS ALL DEFERRED;
INSERT INTO rfb.v_iteam VALUES (1);
COMMIT;
-- error: YG004 (finding 4: a human's deferred constraint trigger on the agent's table)
INSERT INTO rfb.v_cteam VALUES (1);
\set VERBOSITY default
SELECT pg_temp.message('UPDATE rfb2.bv SET x = 2');
SELECT pg_temp.message('INSERT INTO rfb.t1 VALUES (1)');
SELECT pg_temp.message('INSERT INTO rfb.v_cteam VALUES (1)');
-- a deferred cascade to a table that is not protected: allowed
INSERT INTO rfb.v_nteam VALUES (1);

\c "dbname=contrib_regression user=regress_su options="
SELECT id, team FROM rfh.member ORDER BY id;
SELECT id, team FROM rfh.dmem ORDER BY id;
SELECT id, team FROM rfh.imem ORDER BY id;
SELECT id, team FROM rfh.nmem ORDER BY id;
SELECT id, owner FROM rfh.acct ORDER BY id;
SELECT id FROM rfb.dteam ORDER BY id;
SELECT count(*) AS events FROM agent_guard.events
 WHERE event_id > :ev_before AND relation IN ('rfh.member', 'rfh.dmem', 'rfh.imem')
   AND operation NOT IN ('INSERT', 'PROTECT');
-- every refusal on record, under the agent whose rule chose the write
SELECT agent_guard._flush_requests();
SELECT agent_id, kind, status, reason
  FROM agent_guard.requests WHERE request_id > :req_before ORDER BY request_id;
SELECT id FROM rfb.cteam ORDER BY id;
SELECT agent_id, operation FROM agent_guard.events
 WHERE event_id > :ev_before AND operation = 'BLOCKED' ORDER BY event_id;

-- The human's side: the human's own deletes, rule, foreign keys and deferred trigger work.
CREATE VIEW rfh.hv AS SELECT 1 AS x;
CREATE RULE r AS ON INSERT TO rfh.hv DO INSTEAD DELETE FROM rfb.dteam WHERE id = 3;
GRANT SELECT, INSERT ON rfh.hv TO regress_rf_human;
\c "dbname=contrib_regression user=regress_rf_human options="
DELETE FROM rfb.dteam WHERE id = 2;              -- cascades to dmem 2
BEGIN;
SET CONSTRAINTS ALL DEFERRED;
DELETE FROM rfb.iteam WHERE id = 2;              -- cascades to imem 2
COMMIT;
INSERT INTO rfh.hv VALUES (1);                   -- the human's rule: cascades to dmem 3
DELETE FROM rfb.cteam WHERE id = 2;              -- the human's deferred trigger runs at commit
\c "dbname=contrib_regression user=regress_su options="
SELECT id, team FROM rfh.dmem ORDER BY id;
SELECT id, team FROM rfh.imem ORDER BY id;
SELECT id, owner FROM rfh.acct ORDER BY id;

SELECT agent_guard.unprotect('rfh.acct');
SELECT agent_guard.unprotect('rfh.member');
SELECT agent_guard.unprotect('rfh.dmem');
SELECT agent_guard.unprotect('rfh.imem');
DROP SCHEMA rfh CASCADE;
DROP SCHEMA rfb CASCADE;
DROP SCHEMA rfb2 CASCADE;
SELECT agent_guard.unregister_agent('regress_rf_bot2');
DROP ROLE regress_rf_bot2;
DROP ROLE regress_rf_human;
