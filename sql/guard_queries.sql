--
-- guard_queries: the guard's own queries never resolve a name or an
-- operator through the agent's search_path (issue 16, class 3).  The agent
-- puts operators of its own before pg_catalog; they would answer "not
-- frozen", "no key", "no policy", and run with the extension owner's
-- rights.  A sequence is their trace: its changes survive the rollback of
-- a refused statement.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
CREATE SCHEMA gq AUTHORIZATION regress_bot;
SET ROLE regress_bot;
CREATE TABLE gq.t (id int PRIMARY KEY, v text);
CREATE SEQUENCE gq.trace;
CREATE FUNCTION gq.note() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- 1000 and more: it ran with a superuser's rights
    PERFORM setval('gq.trace', nextval('gq.trace')
                   + CASE WHEN (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN 1000 ELSE 0 END);
END
$$;
CREATE FUNCTION gq.text_eq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM gq.note(); RETURN false; END $$;
CREATE FUNCTION gq.text_ne(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM gq.note(); RETURN true; END $$;
CREATE FUNCTION gq.int8_eq(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM gq.note(); RETURN false; END $$;
CREATE FUNCTION gq.int4_eq(a int, b int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM gq.note(); RETURN false; END $$;
CREATE FUNCTION gq.oid_eq(a oid, b oid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM gq.note(); RETURN false; END $$;
CREATE OPERATOR gq.= (LEFTARG = text, RIGHTARG = text, FUNCTION = gq.text_eq);
CREATE OPERATOR gq.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = gq.text_ne);
CREATE OPERATOR gq.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = gq.int8_eq);
CREATE OPERATOR gq.= (LEFTARG = int, RIGHTARG = int, FUNCTION = gq.int4_eq);
CREATE OPERATOR gq.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = gq.oid_eq);
GRANT USAGE ON SCHEMA gq TO PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA gq TO PUBLIC;
GRANT USAGE, UPDATE ON SEQUENCE gq.trace TO PUBLIC;
RESET ROLE;
SELECT agent_guard.protect('gq.t');

-- a freeze holds
SELECT agent_guard.freeze('code freeze');
\c "dbname=contrib_regression user=regress_bot options=-csearch_path=gq,pg_catalog"
\set VERBOSITY sqlstate
SHOW search_path;
INSERT INTO gq.t VALUES (1, 'during the freeze');
SET search_path = gq, pg_catalog;
INSERT INTO gq.t VALUES (1, 'during the freeze');
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unfreeze();

-- a policy holds
SELECT mode FROM agent_guard.set_policy('regress_bot', 'read_only');
\c "dbname=contrib_regression user=regress_bot options=-csearch_path=gq,pg_catalog"
\set VERBOSITY sqlstate
INSERT INTO gq.t VALUES (1, 'read only');
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.drop_policy('regress_bot');

-- an idempotency key holds
\c "dbname=contrib_regression user=regress_bot options=-csearch_path=gq,pg_catalog"
\set VERBOSITY sqlstate
BEGIN;
SET LOCAL agent_guard.idempotency_key = 'gq-once';
INSERT INTO gq.t VALUES (1, 'once');
COMMIT;
BEGIN;
SET LOCAL agent_guard.idempotency_key = 'gq-once';
INSERT INTO gq.t VALUES (2, 'twice');
COMMIT;

-- an approval is used once, by the statement it was given for
TRUNCATE gq.t;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT count(agent_guard.approve(r.request_id)) AS approved FROM (SELECT max(request_id) AS request_id FROM agent_guard.request_log
 WHERE agent_id = 'regress_bot' AND statement = 'TRUNCATE gq.t') r;
\c "dbname=contrib_regression user=regress_bot options=-csearch_path=gq,pg_catalog"
\set VERBOSITY sqlstate
TRUNCATE gq.t;
TRUNCATE gq.t;
\set VERBOSITY default

-- the agent's operators never ran: not as the extension owner, not at all
\c "dbname=contrib_regression user=regress_su options="
SELECT last_value, is_called FROM gq.trace;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_bot';
SELECT id, v FROM gq.t;
SELECT agent_guard._flush_requests();
SELECT kind, status, statement FROM agent_guard.requests
 WHERE agent_id = 'regress_bot' AND statement LIKE '%gq.t%'
 ORDER BY request_id;
SELECT agent_guard.unprotect('gq.t');
DROP SCHEMA gq CASCADE;
