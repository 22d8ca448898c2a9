--
-- procedure_commit: an agent's DO block or procedure that writes a protected
-- table and then ends its transaction with COMMIT or ROLLBACK.  The direct
-- inserters of the log are closed at the commit inside the procedure, under
-- the procedure's resource owner: this failed with "tupdesc reference ... is
-- not owned by resource owner Portal".  Every write is captured, stamped and
-- sealed in its own transaction; the rolled-back ones leave nothing.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_pc_bot LOGIN;
SELECT agent_guard.register_agent('regress_pc_bot');
CREATE SCHEMA pc AUTHORIZATION regress_pc_bot;

\c "dbname=contrib_regression user=regress_pc_bot options="
CREATE TABLE pc.t (id int PRIMARY KEY, v text);
INSERT INTO pc.t SELECT g, 'v' || g FROM generate_series(1, 6) g;
CREATE PROCEDURE pc.p() LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pc.t VALUES (7, 'p7');
    COMMIT;
    UPDATE pc.t SET v = 'rolled back' WHERE id = 4;
    ROLLBACK;
    UPDATE pc.t SET v = 'p5' WHERE id = 5;
    COMMIT;
    DELETE FROM pc.t WHERE id = 6;
END
$$;

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('pc.t');

\c "dbname=contrib_regression user=regress_pc_bot options=-cagent_guard.run_id=run-pc"
DO $$
BEGIN
    UPDATE pc.t SET v = 'd1' WHERE id = 1;
    COMMIT;
    UPDATE pc.t SET v = 'rolled back' WHERE id = 2;
    ROLLBACK;
    UPDATE pc.t SET v = 'd3' WHERE id = 3;
END
$$;
CALL pc.p();
-- a block ending in COMMIT with nothing after it
DO $$BEGIN UPDATE pc.t SET v = 'd2' WHERE id = 2; COMMIT; END$$;
SELECT id, v, ag_agent_id, ag_run_id, ag_deleted_at IS NOT NULL AS deleted FROM pc.t ORDER BY id;

\c "dbname=contrib_regression user=regress_su options="
-- one event per surviving write, each in the transaction that made it;
-- the rolled-back updates left none
SELECT operation, row_key, new_row->>'v' AS v, agent_id,
       dense_rank() OVER (ORDER BY xid) AS xact
  FROM agent_guard.events WHERE run_id = 'run-pc' ORDER BY event_id;
SELECT count(DISTINCT statement_id) >= 2 AS statements_recorded
  FROM agent_guard.events WHERE run_id = 'run-pc';
SELECT agent_guard.seal_log() >= 0 AS sealed;
SELECT ok FROM agent_guard.verify_log();

\c "dbname=contrib_regression user=regress_su options="
DROP SCHEMA pc CASCADE;
