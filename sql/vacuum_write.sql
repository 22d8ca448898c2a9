-- An agent's write while its process runs VACUUM (from an index expression
-- of its table, run by VACUUM) is refused: PostgreSQL leaves a vacuuming
-- process's transaction out of other sessions' snapshots, which would take
-- the write and its event for aborted (red team 16, finding 1).
\c "dbname=contrib_regression user=regress_su options="
\set VERBOSITY sqlstate
CREATE SCHEMA vw;
GRANT USAGE, CREATE ON SCHEMA vw TO regress_bot;
CREATE TABLE vw.inv (id int PRIMARY KEY, amount int);
INSERT INTO vw.inv SELECT g, g * 10 FROM generate_series(1, 5) g;
GRANT SELECT, UPDATE ON vw.inv TO regress_bot;
SELECT agent_guard.protect('vw.inv');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-vacuum-write"
\set VERBOSITY sqlstate
CREATE FUNCTION vw.wfn() RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  UPDATE vw.inv SET amount = 0 WHERE id = 3;
END $$;
CREATE FUNCTION vw.bfn(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF current_setting('vw.go', true) = '1' THEN
    PERFORM vw.wfn();
  END IF;
  RETURN $1;
END $$;
CREATE TABLE vw.bt (x int) WITH (autovacuum_enabled = false);
CREATE INDEX bt_brin ON vw.bt USING brin (vw.bfn(x)) WITH (pages_per_range = 1);
INSERT INTO vw.bt SELECT g FROM generate_series(1, 900) g;
-- the same write outside VACUUM is the agent's, on record
SET vw.go = '1';
SELECT vw.bfn(1);
RESET vw.go;
-- error: YG004, VACUUM summarizes the new ranges and runs the write
SET vw.go = '1';
VACUUM vw.bt;
\echo :LAST_ERROR_SQLSTATE
RESET vw.go;
\c "dbname=contrib_regression user=regress_su options="
\set VERBOSITY sqlstate
SELECT agent_guard._flush_requests();
SELECT kind, status, reason FROM agent_guard.requests
 WHERE run_id = 'run-vacuum-write' ORDER BY request_id;
SELECT operation, row_key FROM agent_guard.events
 WHERE run_id = 'run-vacuum-write' ORDER BY event_id;
SELECT id, amount FROM vw.inv ORDER BY id;
-- a human's VACUUM of the agent's table runs the agent's code: refused too
SET vw.go = '1';
VACUUM vw.bt;
\echo :LAST_ERROR_SQLSTATE
RESET vw.go;
-- the human's own VACUUM of the protected table works
VACUUM vw.inv;
SELECT ok FROM agent_guard.verify_log();
SELECT agent_guard.unprotect('vw.inv');
DROP SCHEMA vw CASCADE;
