--
-- record_humans_only: a refusal with SQLSTATE YG002 is on record as every
-- other refusal is (issue 16: a refused statement is always on record).
-- An agent that calls approve() on its own request or unfreeze(), that
-- stores a trigger calling a function not its own, or whose code in a
-- human's session calls a humans-only function, is refused (YG002) with a
-- request of kind refused, never approvable, and its BLOCKED event, under
-- the agent, outliving the aborted transaction: in preview() and in an
-- exception block too.  The error names the request.  Humans calling the
-- same functions are unaffected.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
SELECT coalesce(max(request_id), 0) AS start_id FROM agent_guard.requests \gset
CREATE ROLE regress_rho_human LOGIN;          -- a human, not a superuser
CREATE SCHEMA rho;                            -- the humans' data
CREATE TABLE rho.orders (id int PRIMARY KEY, v text);
INSERT INTO rho.orders VALUES (1, 'one'), (2, 'two');
SELECT agent_guard.protect('rho.orders', false);
CREATE FUNCTION rho.audit() RETURNS trigger LANGUAGE plpgsql AS
    'BEGIN RETURN NEW; END';
GRANT USAGE ON SCHEMA rho TO regress_bot, regress_rho_human;
GRANT SELECT, INSERT, UPDATE, DELETE ON rho.orders TO regress_bot;
GRANT EXECUTE ON FUNCTION rho.audit() TO regress_bot;
CREATE SCHEMA rhob AUTHORIZATION regress_bot; -- the agent's
GRANT USAGE ON SCHEMA rhob TO regress_rho_human;
-- so that the agent gets as far as the guard's check
GRANT EXECUTE ON FUNCTION agent_guard.approve(bigint, text) TO regress_bot;
GRANT EXECUTE ON FUNCTION agent_guard.unfreeze(text) TO regress_bot;

-- The agent's destructive statement waits for a human.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rho-1"
\set VERBOSITY sqlstate
-- error: YG003
DELETE FROM rho.orders;
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT max(request_id) AS req FROM agent_guard.requests
 WHERE run_id = 'run-rho-1' AND statement = 'DELETE FROM rho.orders' \gset

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rho-2"
-- error: YG002, the agent approves its own request (request N)
SELECT agent_guard.approve(:req, 'self');
-- error: YG002, nor may it lift a freeze
SELECT agent_guard.unfreeze();
-- error: YG002, a trigger calling a function that is not the agent's
CREATE TABLE rhob.t (id int);
CREATE TRIGGER t_audit BEFORE INSERT ON rhob.t
    FOR EACH ROW EXECUTE FUNCTION rho.audit();
-- in preview(): the refusal stops the statement, on record
SELECT verdict, regexp_replace(detail, '\(request [0-9]+\)', '(request N)') AS detail
  FROM agent_guard.preview('SELECT agent_guard.unfreeze()');
-- in an exception block that catches it: on record all the same
DO $$
BEGIN
    PERFORM agent_guard.unfreeze();
EXCEPTION WHEN SQLSTATE 'YG002' THEN
    RAISE NOTICE 'caught %', SQLSTATE;
END
$$;
-- and in a subtransaction rolled back to its savepoint
BEGIN;
SAVEPOINT s;
\set VERBOSITY sqlstate
-- error: YG002
SELECT agent_guard.approve(:req, 'savepoint');
\set VERBOSITY default
ROLLBACK TO SAVEPOINT s;
COMMIT;
-- in a READ ONLY transaction no request id can be taken (nextval() is not
-- allowed there): refused all the same, unrecorded (README, Limitations)
BEGIN READ ONLY;
-- error: YG002, naming no request
SELECT agent_guard.unfreeze();
ROLLBACK;
-- the agent's code, which a human's session will run
CREATE FUNCTION rhob.sneak() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM agent_guard.unfreeze();
    RETURN 'thawed';
END
$$;
GRANT EXECUTE ON FUNCTION rhob.sneak() TO regress_rho_human;

-- error: YG002, the agent's code in a human's session calls unfreeze()
\c "dbname=contrib_regression user=regress_rho_human options="
SELECT rhob.sneak();

-- Every refusal is on record under the agent, never approvable, with its
-- BLOCKED event.
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT agent_id, run_id, login_role, kind, status,
       regexp_replace(statement, 'approve\([0-9]+', 'approve(N') AS statement, reason
  FROM agent_guard.requests
 WHERE request_id > :start_id AND kind = 'refused' ORDER BY request_id;
SELECT e.agent_id, e.run_id, e.login_role, e.detail ->> 'kind' AS kind
  FROM agent_guard.events e
 WHERE e.operation = 'BLOCKED' AND (e.detail ->> 'request_id')::bigint > :start_id
   AND e.detail ->> 'kind' = 'refused'
 ORDER BY (e.detail ->> 'request_id')::bigint;
-- the request the agent tried to approve is still pending
SELECT status FROM agent_guard.requests WHERE request_id = :req;

-- Humans are unaffected: the same calls work, and are no refusals.
SELECT count(*) AS refused_before FROM agent_guard.requests
 WHERE request_id > :start_id AND kind = 'refused' \gset
SELECT agent_guard.freeze('record_humans_only');
SELECT agent_guard.unfreeze();
CREATE TABLE rho.t (id int);
CREATE TRIGGER t_audit BEFORE INSERT ON rho.t
    FOR EACH ROW EXECUTE FUNCTION rho.audit();
SELECT status FROM agent_guard.deny(:req, 'no');
SELECT agent_guard._flush_requests();
SELECT count(*) - :refused_before AS new_refusals FROM agent_guard.requests
 WHERE request_id > :start_id AND kind = 'refused';

REVOKE EXECUTE ON FUNCTION agent_guard.approve(bigint, text) FROM regress_bot;
REVOKE EXECUTE ON FUNCTION agent_guard.unfreeze(text) FROM regress_bot;
DROP SCHEMA rhob CASCADE;
SELECT agent_guard.unprotect('rho.orders');
DROP SCHEMA rho CASCADE;
DROP ROLE regress_rho_human;
