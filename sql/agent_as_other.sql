--
-- agent_as_other: an agent's code that runs in the agent's own session
-- while the current user is another role (issue 16, red team 9, findings
-- 6 and 7).  PostgreSQL runs a foreign key's action as the table's owner,
-- a SECURITY DEFINER function as its owner; the guard records an approved
-- statement's rows as the extension owner.  The agent's functions run
-- there as the agent, never with that role's rights; the rows of an
-- approved TRUNCATE are counted without running the table's code.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_ao_human LOGIN;                 -- a human no agent is a member of
CREATE SCHEMA ao AUTHORIZATION regress_ao_human;    -- the human's
GRANT USAGE ON SCHEMA ao TO PUBLIC;
CREATE SCHEMA aob AUTHORIZATION regress_bot;        -- the agent's
GRANT USAGE ON SCHEMA aob TO PUBLIC;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ao-0"
-- who ran the agent's code, and what it could read
CREATE TABLE aob.seen (who text, what text);
GRANT INSERT ON aob.seen TO PUBLIC;
CREATE FUNCTION aob.spy(v int) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE got text;
BEGIN
    BEGIN
        SELECT s INTO got FROM ao.secret LIMIT 1;
    EXCEPTION WHEN insufficient_privilege THEN got := 'denied';
    END;
    INSERT INTO aob.seen VALUES (current_user, got);
    RETURN true;
END $$;
CREATE TABLE aob.lookup (code int PRIMARY KEY);
INSERT INTO aob.lookup VALUES (1), (2);
GRANT SELECT, REFERENCES ON aob.lookup TO regress_ao_human;
CREATE VIEW aob.v AS SELECT aob.spy(1) AS x;
GRANT SELECT ON aob.v TO PUBLIC;
-- an index expression the planner folds: IMMUTABLE, calling the spy
CREATE FUNCTION aob.note() RETURNS void LANGUAGE plpgsql AS $$
BEGIN INSERT INTO aob.seen VALUES (current_user, 'folded'); END $$;
CREATE FUNCTION aob.fold(v int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM aob.note(); RETURN v; END $$;
CREATE TABLE aob.victim (id int PRIMARY KEY);
INSERT INTO aob.victim SELECT generate_series(1, 7);
CREATE INDEX ON aob.victim ((aob.fold(0) + id));
TRUNCATE aob.seen;

\c "dbname=contrib_regression user=regress_ao_human options="
CREATE TABLE ao.secret (id int PRIMARY KEY, s text);
INSERT INTO ao.secret VALUES (1, 'the human''s secret');
-- a protected table of the human's whose CHECK calls the agent's function,
-- referencing the agent's table: deleting there sets this key to NULL
CREATE TABLE ao.x (id int PRIMARY KEY, code int REFERENCES aob.lookup ON DELETE SET NULL,
                   CHECK (aob.spy(id)));
INSERT INTO ao.x VALUES (10, 1), (20, 2);
-- a SECURITY DEFINER function of the human's that the agent may call
CREATE FUNCTION ao.report() RETURNS bigint LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog AS 'SELECT count(*) FROM aob.v';
GRANT EXECUTE ON FUNCTION ao.report() TO regress_bot;

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('ao.x', false);
TRUNCATE aob.seen;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ao-1"
-- the foreign key's action updates the human's table as its owner: the
-- CHECK's function runs as the agent
DELETE FROM aob.lookup WHERE code = 1;
-- the human's SECURITY DEFINER function reads the agent's view
SELECT ao.report();
SELECT who, what FROM aob.seen ORDER BY who, what;
-- an approved TRUNCATE of the agent's own table: its rows are counted
-- without folding the index's function (the request's number left out)
\set VERBOSITY sqlstate
TRUNCATE aob.victim;
\set VERBOSITY default

\c "dbname=contrib_regression user=regress_su options="
TRUNCATE aob.seen;
SELECT status FROM agent_guard.approve((SELECT request_id FROM agent_guard.requests
 WHERE run_id = 'run-ao-1' AND statement = 'TRUNCATE aob.victim'));

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ao-1"
TRUNCATE aob.victim;
SELECT count(*) AS victim_rows FROM aob.victim;
SELECT who, what FROM aob.seen ORDER BY who, what;     -- only as the agent

\c "dbname=contrib_regression user=regress_su options="
SELECT detail->'targets' AS targets FROM agent_guard.events
 WHERE run_id = 'run-ao-1' AND operation = 'EXECUTED';
-- the human's side: the human's own session, the same statements
\c "dbname=contrib_regression user=regress_ao_human options="
SELECT ao.report();
SELECT id, code FROM ao.x ORDER BY id;
\c "dbname=contrib_regression user=regress_su options="
SELECT who, what FROM aob.seen ORDER BY who, what;
SELECT agent_guard.unprotect('ao.x');
DROP SCHEMA ao CASCADE;
DROP SCHEMA aob CASCADE;
DROP OWNED BY regress_ao_human;
DROP ROLE regress_ao_human;
