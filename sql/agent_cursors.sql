--
-- agent_cursors: a cursor an agent's function opens over a query that
-- PostgreSQL starts only at the first FETCH (a DELETE ... RETURNING, a
-- writing WITH, EXPLAIN ANALYZE) runs as the agent when the human fetches
-- it (issue 16, red team 6, finding 1); the agent's function cannot close
-- a cursor of the human's to open its own under that name (red team 8).  From
-- the human's side, the human's own cursors over the same queries work.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_cur_human LOGIN;                -- a human no agent is a member of
CREATE SCHEMA sc AUTHORIZATION regress_cur_human;   -- the human's
GRANT USAGE ON SCHEMA sc TO PUBLIC;
CREATE SCHEMA scb AUTHORIZATION regress_bot;        -- the agent's
GRANT USAGE ON SCHEMA scb TO PUBLIC;

\c "dbname=contrib_regression user=regress_cur_human options="
CREATE TABLE sc.h (id int PRIMARY KEY);
INSERT INTO sc.h SELECT generate_series(1, 5);
CREATE TABLE sc.p (id int PRIMARY KEY);             -- the agent may delete here
INSERT INTO sc.p SELECT generate_series(1, 3);
GRANT SELECT, DELETE ON sc.p TO regress_bot;

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('sc.p', false);

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-cur-1"
CREATE FUNCTION scb.c_ret() RETURNS refcursor LANGUAGE plpgsql AS $$
DECLARE c refcursor := 'agent_ret';
BEGIN OPEN c FOR DELETE FROM sc.h WHERE id = 1 RETURNING id; RETURN c; END $$;
CREATE FUNCTION scb.c_with() RETURNS refcursor LANGUAGE plpgsql AS $$
DECLARE c refcursor := 'agent_with';
BEGIN
    OPEN c FOR WITH d AS (DELETE FROM sc.h WHERE id = 2 RETURNING id) SELECT id FROM d;
    RETURN c;
END $$;
CREATE FUNCTION scb.c_explain() RETURNS refcursor LANGUAGE plpgsql AS $$
DECLARE c refcursor := 'agent_explain';
BEGIN
    OPEN c FOR EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) DELETE FROM sc.h';
    RETURN c;
END $$;
CREATE FUNCTION scb.c_swap() RETURNS void LANGUAGE plpgsql AS $$
DECLARE c refcursor := 'mine';
BEGIN
    CLOSE c;                                          -- PL/pgSQL's CLOSE, through SPI
    OPEN c FOR DELETE FROM sc.h RETURNING id;
END $$;
CREATE FUNCTION scb.c_protected() RETURNS refcursor LANGUAGE plpgsql AS $$
DECLARE c refcursor := 'agent_protected';
BEGIN OPEN c FOR DELETE FROM sc.p RETURNING id; RETURN c; END $$;
CREATE FUNCTION scb.c_select() RETURNS refcursor LANGUAGE plpgsql AS $$
DECLARE c refcursor := 'agent_select';
BEGIN OPEN c FOR SELECT count(*) FROM scb.c_ret_rows(); RETURN c; END $$;
CREATE FUNCTION scb.c_ret_rows() RETURNS SETOF int LANGUAGE sql AS 'SELECT 1';

\c "dbname=contrib_regression user=regress_cur_human options="
BEGIN;
SELECT scb.c_ret();
FETCH ALL FROM agent_ret;
ROLLBACK;
BEGIN;
SELECT scb.c_with();
FETCH ALL FROM agent_with;
ROLLBACK;
BEGIN;
SELECT scb.c_explain();
FETCH ALL FROM agent_explain;
ROLLBACK;
-- the agent would close the human's cursor and open its own under that
-- name: the human's cursor is not its to close (agent_session_state)
BEGIN;
DECLARE mine CURSOR FOR SELECT id FROM sc.h ORDER BY id;
SAVEPOINT s;
SELECT scb.c_swap();
ROLLBACK TO s;
FETCH ALL FROM mine;
ROLLBACK;
-- a protected table the agent may write: not from its code in a human's session
BEGIN;
SELECT scb.c_protected();
FETCH ALL FROM agent_protected;
ROLLBACK;
-- an ordinary cursor of the agent's still works
BEGIN;
SELECT scb.c_select();
FETCH ALL FROM agent_select;
COMMIT;
SELECT count(*) AS intact FROM sc.h;
SELECT count(*) AS intact FROM sc.p;
-- the human's side: the same cursors of the human's own
CREATE FUNCTION sc.c_ret() RETURNS refcursor LANGUAGE plpgsql AS $$
DECLARE c refcursor := 'human_ret';
BEGIN OPEN c FOR DELETE FROM sc.h WHERE id = 1 RETURNING id; RETURN c; END $$;
CREATE FUNCTION sc.c_explain() RETURNS refcursor LANGUAGE plpgsql AS $$
DECLARE c refcursor := 'human_explain';
BEGIN
    OPEN c FOR EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) DELETE FROM sc.h WHERE id = 2';
    RETURN c;
END $$;
BEGIN;
SELECT sc.c_ret();
FETCH ALL FROM human_ret;
SELECT sc.c_explain();
MOVE ALL FROM human_explain;                        -- runs it (its plan differs by version)
-- a cursor of the human's, declared after the agent's function ran
SELECT scb.c_select();
DECLARE later CURSOR FOR SELECT id FROM sc.h ORDER BY id;
FETCH ALL FROM later;
COMMIT;
SELECT id FROM sc.h ORDER BY id;
DELETE FROM sc.p WHERE id = 3;
SELECT id FROM sc.p ORDER BY id;

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unprotect('sc.p');
DROP SCHEMA scb CASCADE;
DROP SCHEMA sc CASCADE;
DROP OWNED BY regress_cur_human;
DROP ROLE regress_cur_human;
