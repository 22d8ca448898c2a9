--
-- agent_code: an agent's code never runs with a human's powers (issue 16,
-- findings 03 and 11).  A human's statement runs the agent's code when it
-- touches the agent's objects: a policy function, an inlined SQL function,
-- a view, a column default or a rule that calls agent_guard.approve()
-- directly, a trigger reached through a foreign key's cascade, a SECURITY
-- DEFINER function.  None of them may approve, deny or unfreeze (YG002), nor
-- write a protected table as if the human had (YG004); the human still does
-- all of it in statements of their own.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
CREATE ROLE regress_ac_human LOGIN;   -- a human on call, not a superuser
SELECT agent_guard.grant_operator('regress_ac_human');
CREATE SCHEMA ac;                     -- the humans' data
CREATE TABLE ac.orders (id int PRIMARY KEY, v text);
INSERT INTO ac.orders VALUES (1, 'one'), (2, 'two'), (3, 'three');
SELECT agent_guard.protect('ac.orders', false);
GRANT USAGE ON SCHEMA ac TO regress_bot, regress_ac_human;
GRANT SELECT, INSERT, UPDATE, DELETE, REFERENCES ON ac.orders TO regress_bot;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ac.orders TO regress_ac_human;
CREATE SCHEMA acb AUTHORIZATION regress_bot;   -- the agent's
GRANT USAGE ON SCHEMA acb TO regress_ac_human;
-- so that an agent's SECURITY DEFINER function gets as far as our check
GRANT EXECUTE ON FUNCTION agent_guard.approve(bigint, text) TO regress_bot;

-- The agent's destructive statement waits for a human.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ac-1"
\set VERBOSITY sqlstate
-- error: YG003
DELETE FROM ac.orders;
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT max(request_id) AS req FROM agent_guard.requests
 WHERE run_id = 'run-ac-1' AND statement = 'DELETE FROM ac.orders' \gset
-- what must stay as it is: the request pending, the table, no approval logged
CREATE VIEW ac_state AS
    SELECT (SELECT status FROM agent_guard.requests WHERE request_id = :req) AS request,
           (SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM ac.orders) AS orders,
           (SELECT count(*) FROM agent_guard.events
             WHERE operation IN ('APPROVED', 'DENIED') AND detail ->> 'request_id' = :'req') AS decisions;
GRANT SELECT ON ac_state TO regress_ac_human;

-- The agent's objects, each of which tries to decide its own request.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ac-2"
-- a row-security policy calling a PL/pgSQL function
CREATE FUNCTION acb.pol(r bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM agent_guard.approve(r, 'policy');
    RETURN true;
END
$$;
CREATE TABLE acb.notes (id int, n text);
INSERT INTO acb.notes VALUES (1, 'hello');
ALTER TABLE acb.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON acb.notes USING (acb.pol(:req));
GRANT SELECT ON acb.notes TO regress_ac_human;
-- the same, denying
CREATE FUNCTION acb.pol_deny(r bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM agent_guard.deny(r, 'policy');
    RETURN true;
END
$$;
CREATE TABLE acb.notes2 (id int);
INSERT INTO acb.notes2 VALUES (1);
ALTER TABLE acb.notes2 ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON acb.notes2 USING (acb.pol_deny(:req));
GRANT SELECT ON acb.notes2 TO regress_ac_human;
-- an SQL function the planner would inline into the caller's query
CREATE FUNCTION acb.inl(r bigint) RETURNS text LANGUAGE sql AS
    $$ SELECT (agent_guard.approve(r, 'inlined')).status $$;
-- a view, a column default and a rule calling approve() directly
CREATE VIEW acb.v AS SELECT (agent_guard.approve(:req, 'view')).status;
GRANT SELECT ON acb.v TO regress_ac_human;
CREATE TABLE acb.defaults (id int, s text DEFAULT (agent_guard.approve(:req, 'default')).status);
GRANT INSERT ON acb.defaults TO regress_ac_human;
CREATE TABLE acb.ruled (id int);
CREATE RULE r AS ON INSERT TO acb.ruled DO ALSO SELECT agent_guard.approve(:req, 'rule');
GRANT INSERT ON acb.ruled TO regress_ac_human;
-- a rule whose action writes the protected table
CREATE TABLE acb.ruled_write (id int);
GRANT INSERT ON acb.ruled_write TO regress_ac_human;
-- a SECURITY DEFINER function
CREATE FUNCTION acb.sd(r bigint) RETURNS text LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    RETURN (agent_guard.approve(r, 'security definer')).status;
END
$$;
GRANT EXECUTE ON FUNCTION acb.sd(bigint) TO regress_ac_human;
-- a table of its own with a foreign key into the protected table, cascading,
-- and a trigger that rewrites the protected table when a cascade reaches it
CREATE TABLE acb.lines (id int PRIMARY KEY, order_id int);
INSERT INTO acb.lines VALUES (10, 1), (20, 2);
CREATE FUNCTION acb.lines_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ac.orders SET v = 'rewritten by the agent';
    RETURN OLD;
END
$$;
CREATE TRIGGER gone AFTER DELETE ON acb.lines FOR EACH ROW EXECUTE FUNCTION acb.lines_gone();
-- and one that approves
CREATE TABLE acb.lines2 (id int PRIMARY KEY, order_id int);
INSERT INTO acb.lines2 VALUES (30, 3);
CREATE FUNCTION acb.lines2_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM agent_guard.approve(TG_ARGV[0]::bigint, 'cascade');
    RETURN OLD;
END
$$;
CREATE TRIGGER gone AFTER DELETE ON acb.lines2 FOR EACH ROW EXECUTE FUNCTION acb.lines2_gone(:'req');
-- a procedure that rolls back first (its caller's transaction ends, the
-- procedure still runs), and a function that empties the protected table
CREATE PROCEDURE acb.proc(r bigint) LANGUAGE plpgsql AS $$
BEGIN
    ROLLBACK;
    PERFORM agent_guard.approve(r, 'procedure');
END
$$;
CREATE FUNCTION acb.empty() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE ac.orders;
END
$$;

-- The human reads and writes the agent's objects: every try is refused.
-- the rule and the cascading foreign keys, which an agent may no longer add
-- (sql/structure_humans.sql tests those refusals), are added by a human, as
-- they would stand had they been made before the table was protected
\c "dbname=contrib_regression user=regress_su options="
CREATE RULE w AS ON INSERT TO acb.ruled_write DO ALSO INSERT INTO ac.orders VALUES (NEW.id, 'by rule');
ALTER TABLE acb.lines ADD FOREIGN KEY (order_id) REFERENCES ac.orders ON DELETE CASCADE;
ALTER TABLE acb.lines2 ADD FOREIGN KEY (order_id) REFERENCES ac.orders ON DELETE CASCADE;
\c "dbname=contrib_regression user=regress_ac_human options="
-- error: YG002, the policy function
SELECT * FROM acb.notes;
-- error: the policy function runs with the agent's rights, which do not
-- include deny() (42501)
SELECT * FROM acb.notes2;
-- the agent's SQL function is not inlined: its call stays in the plan
EXPLAIN (VERBOSE, COSTS OFF) SELECT acb.inl(0);
-- error: YG002
SELECT acb.inl(:req);
-- error: YG002, the view's own expression, no agent function on the stack
SELECT * FROM acb.v;
-- error: YG002, the default
INSERT INTO acb.defaults (id) VALUES (1);
-- error: YG002, the default, through COPY
COPY acb.defaults (id) FROM stdin;
1
\.
-- error: YG002, the rule
INSERT INTO acb.ruled VALUES (1);
-- error: YG004, the rule's write to the protected table
INSERT INTO acb.ruled_write VALUES (99);
-- error: YG002, the SECURITY DEFINER function
SELECT acb.sd(:req);
-- error: YG004, the cascade reaches the agent's trigger, which would rewrite
-- the protected table as the human
DELETE FROM ac.orders WHERE id = 1;
-- error: YG002, the other trigger would approve
DELETE FROM ac.orders WHERE id = 3;
-- error: YG002, after the procedure's ROLLBACK too
CALL acb.proc(:req);
-- error: YG004, a TRUNCATE the human may run, not from the agent's code
SELECT acb.empty();
-- nothing changed, nothing was decided
SELECT * FROM ac_state;

-- A superuser human is refused the same way (here: a view of the agent's
-- that lifts a freeze).
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.freeze('agent_code test');
SET ROLE regress_bot;
CREATE VIEW acb.thaw AS SELECT agent_guard.unfreeze();
RESET ROLE;
-- error: YG002
SELECT * FROM acb.thaw;
SELECT count(*) AS freezes FROM agent_guard.freezes;
SELECT agent_guard.unfreeze();

-- The human's side: without the agent's code, the same acts work.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ac-3"
\set VERBOSITY sqlstate
DROP TRIGGER gone ON acb.lines;
-- error: YG003, a second request, for the human to deny
DELETE FROM ac.orders;
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_ac_human options="
-- the cascade deletes the agent's line; the protected row goes
DELETE FROM ac.orders WHERE id = 1;
SELECT id, v FROM ac.orders ORDER BY id;
-- a human approves directly, also from a query over the guard's own views
SELECT status, decided_by, note FROM agent_guard.approve(:req, 'by hand');
SELECT (agent_guard.deny(request_id, 'by hand')).status
  FROM agent_guard.requests WHERE run_id = 'run-ac-3' AND status = 'pending';
SELECT * FROM ac_state;
SELECT status FROM agent_guard.requests WHERE run_id = 'run-ac-3';

-- The log verifies, and holds one decision, the human's.
\c "dbname=contrib_regression user=regress_su options="
SELECT operation, login_role, detail ->> 'note' AS note FROM agent_guard.events
 WHERE operation IN ('APPROVED', 'DENIED') AND detail ->> 'request_id' = :'req';
SELECT ok FROM agent_guard.verify_log();
-- the cascade took the agent's line of order 1 with it
SELECT id, order_id FROM acb.lines ORDER BY id;

-- clean up
REVOKE EXECUTE ON FUNCTION agent_guard.approve(bigint, text) FROM regress_bot;
DROP VIEW ac_state;
DROP SCHEMA acb CASCADE;
SELECT agent_guard.unprotect('ac.orders');
DROP SCHEMA ac CASCADE;
SELECT agent_guard.revoke_operator('regress_ac_human');
DROP ROLE regress_ac_human;
