--
-- approval_binding: an approval is bound to what the statement reaches and
-- calls, whatever its plan (issue 16; red team 5, finding 5).  The agent
-- has a statement approved, then swaps what it reaches behind the same
-- text: a trigger of a partition the plan pruned, an immutable function
-- the planner folds away, a function that one calls (BEGIN ATOMIC), the
-- view it deletes through, the prepared statement it executes.  Each retry
-- is another statement, with a new request (YG003).  Unchanged, the same
-- statement is admitted once, under a generic plan as under the custom
-- plan it was refused with.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
ALTER ROLE regress_bot SET agent_guard.max_rows_per_statement = 5;
ALTER ROLE regress_bot SET agent_guard.max_rows_per_run = -1;
CREATE SCHEMA ab AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA ab TO regress_human;
SET ROLE regress_bot;
CREATE TABLE ab.p (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE ab.p1 PARTITION OF ab.p FOR VALUES FROM (1) TO (101);
CREATE TABLE ab.p2 PARTITION OF ab.p FOR VALUES FROM (101) TO (201);
CREATE TABLE ab.t (id int PRIMARY KEY, v text);
-- three rows: under the row limit, an UPDATE of all asks for no WHERE clause only
CREATE TABLE ab.s (id int PRIMARY KEY, v text);
CREATE VIEW ab.v AS SELECT id, v FROM ab.t WHERE id <= 10;
CREATE FUNCTION ab.lim() RETURNS int LANGUAGE plpgsql IMMUTABLE
  AS $$ BEGIN RETURN 10; END $$;
CREATE FUNCTION ab.inner_lim() RETURNS int LANGUAGE sql IMMUTABLE
  BEGIN ATOMIC SELECT 10; END;
-- not inlined (it has a FROM clause), folded: only pg_depend knows inner_lim()
CREATE FUNCTION ab.outer_lim() RETURNS int LANGUAGE sql IMMUTABLE
  BEGIN ATOMIC SELECT ab.inner_lim() FROM (VALUES (1)) x(one); END;
GRANT SELECT, INSERT, UPDATE, DELETE ON ab.p, ab.t, ab.s, ab.v TO regress_human;
RESET ROLE;
CREATE PROCEDURE ab.refill() LANGUAGE sql AS $$
  INSERT INTO ab.p SELECT g, 'p' || g FROM generate_series(1, 200) g ON CONFLICT DO NOTHING;
  INSERT INTO ab.t SELECT g, 't' || g FROM generate_series(1, 200) g ON CONFLICT DO NOTHING;
  INSERT INTO ab.s SELECT g, 's' || g FROM generate_series(1, 3) g
    ON CONFLICT (id) DO UPDATE SET v = excluded.v;
$$;
CALL ab.refill();
-- a pending request of a run, and the approval of one
CREATE FUNCTION ab.pending(run text) RETURNS bigint LANGUAGE sql AS $$
  SELECT max(request_id) FROM agent_guard.requests WHERE run_id = run AND status = 'pending'
$$;

-- 1. Partitions: the custom plan of EXECUTE pd(10) prunes ab.p2; the
-- generic plan keeps it for pruning at run time.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ab-1"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
PREPARE pd(int) AS DELETE FROM ab.p WHERE id <= $1;
SET plan_cache_mode = force_custom_plan;
-- error: 10 rows, over the limit of 5 (YG003)
EXECUTE pd(10);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT ab.pending('run-ab-1') AS req_p \gset
SELECT status FROM agent_guard.approve(:req_p, 'ten rows of p');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ab-2"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- a trigger on the partition the plan prunes: another statement
CREATE FUNCTION ab.keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER keep BEFORE DELETE ON ab.p2 FOR EACH ROW EXECUTE FUNCTION ab.keep();
PREPARE pd(int) AS DELETE FROM ab.p WHERE id <= $1;
SET plan_cache_mode = force_custom_plan;
-- error: a new request (YG003)
EXECUTE pd(10);
DROP TRIGGER keep ON ab.p2;
-- unchanged, under the generic plan: admitted
SET plan_cache_mode = force_generic_plan;
EXECUTE pd(10);
SELECT count(*) AS p_left FROM ab.p;
-- other parameter values: another statement (YG003)
EXECUTE pd(20);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.requests WHERE request_id = :req_p;
SELECT kind, status, statement FROM agent_guard.requests WHERE run_id = 'run-ab-2' ORDER BY request_id;
SELECT count(*) AS executed FROM agent_guard.events
 WHERE operation = 'EXECUTED' AND (detail->>'request_id')::bigint = :req_p;
CALL ab.refill();
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ab-3"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
PREPARE pd(int) AS DELETE FROM ab.p WHERE id <= $1;
-- error: once (YG003)
EXECUTE pd(10);
SELECT count(*) AS p_left FROM ab.p;

-- 2. An immutable function the planner folds into a constant.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ab-4"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG003
DELETE FROM ab.t WHERE id <= ab.lim();
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT ab.pending('run-ab-4') AS req_f \gset
SELECT status FROM agent_guard.approve(:req_f, 'ten rows of t');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ab-5"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
CREATE OR REPLACE FUNCTION ab.lim() RETURNS int LANGUAGE plpgsql IMMUTABLE
  AS $$ BEGIN RETURN 200; END $$;
-- error: a new request (YG003)
DELETE FROM ab.t WHERE id <= ab.lim();
SELECT count(*) AS t_left FROM ab.t;
CREATE OR REPLACE FUNCTION ab.lim() RETURNS int LANGUAGE plpgsql IMMUTABLE
  AS $$ BEGIN RETURN 10; END $$;
-- the definition the human saw: admitted, once
DELETE FROM ab.t WHERE id <= ab.lim();
SELECT count(*) AS t_left FROM ab.t;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.requests WHERE request_id = :req_f;
SELECT kind, status, statement FROM agent_guard.requests WHERE run_id = 'run-ab-5' ORDER BY request_id;
CALL ab.refill();
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ab-6"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: once (YG003)
DELETE FROM ab.t WHERE id <= ab.lim();

-- 3. A function the called function calls (a BEGIN ATOMIC body).
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ab-7"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG003
DELETE FROM ab.t WHERE id <= ab.outer_lim();
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT ab.pending('run-ab-7') AS req_n \gset
SELECT status FROM agent_guard.approve(:req_n, 'ten rows of t, nested');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ab-8"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
CREATE OR REPLACE FUNCTION ab.inner_lim() RETURNS int LANGUAGE sql IMMUTABLE
  BEGIN ATOMIC SELECT 200; END;
-- error: a new request (YG003)
DELETE FROM ab.t WHERE id <= ab.outer_lim();
SELECT count(*) AS t_left FROM ab.t;
CREATE OR REPLACE FUNCTION ab.inner_lim() RETURNS int LANGUAGE sql IMMUTABLE
  BEGIN ATOMIC SELECT 10; END;
DELETE FROM ab.t WHERE id <= ab.outer_lim();
SELECT count(*) AS t_left FROM ab.t;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.requests WHERE request_id = :req_n;
SELECT kind, status, statement FROM agent_guard.requests WHERE run_id = 'run-ab-8' ORDER BY request_id;
CALL ab.refill();

-- 4. The view the statement deletes through.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ab-9"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG003
DELETE FROM ab.v;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT ab.pending('run-ab-9') AS req_v \gset
SELECT status FROM agent_guard.approve(:req_v, 'the ten rows of v');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ab-10"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
CREATE OR REPLACE VIEW ab.v AS SELECT id, v FROM ab.t WHERE id <= 200;
-- error: a new request (YG003)
DELETE FROM ab.v;
SELECT count(*) AS t_left FROM ab.t;
CREATE OR REPLACE VIEW ab.v AS SELECT id, v FROM ab.t WHERE id <= 10;
DELETE FROM ab.v;
SELECT count(*) AS t_left FROM ab.t;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.requests WHERE request_id = :req_v;
SELECT kind, status, statement FROM agent_guard.requests WHERE run_id = 'run-ab-10' ORDER BY request_id;
CALL ab.refill();

-- 5. The prepared statement an EXECUTE runs: the no-WHERE gate sees the
-- client's text, "EXECUTE wipe", and the same relation either way.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ab-11"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
PREPARE wipe AS UPDATE ab.s SET v = 'reviewed';
-- error: YG003
EXECUTE wipe;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT ab.pending('run-ab-11') AS req_e \gset
SELECT status, statement FROM agent_guard.approve(:req_e, 'mark s reviewed');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ab-12"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
PREPARE wipe AS UPDATE ab.s SET v = NULL;
-- error: a new request (YG003)
EXECUTE wipe;
SELECT count(v) AS s_values FROM ab.s;
DEALLOCATE wipe;
PREPARE wipe AS UPDATE ab.s SET v = 'reviewed';
EXECUTE wipe;
SELECT id, v FROM ab.s ORDER BY id;
-- error: once (YG003)
EXECUTE wipe;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.requests WHERE request_id = :req_e;
SELECT kind, status, statement FROM agent_guard.requests WHERE run_id = 'run-ab-12' ORDER BY request_id;
CALL ab.refill();

-- a human's statements are not judged: the same ones run
\c "dbname=contrib_regression user=regress_human options="
DELETE FROM ab.v;
DELETE FROM ab.t WHERE id <= ab.outer_lim();
PREPARE wipe AS UPDATE ab.s SET v = NULL;
EXECUTE wipe;
PREPARE pd(int) AS DELETE FROM ab.p WHERE id <= $1;
EXECUTE pd(20);
SELECT (SELECT count(*) FROM ab.t) AS t_left, (SELECT count(*) FROM ab.p) AS p_left,
       (SELECT count(v) FROM ab.s) AS s_values;

\c "dbname=contrib_regression user=regress_su options="
ALTER ROLE regress_bot RESET agent_guard.max_rows_per_statement;
ALTER ROLE regress_bot RESET agent_guard.max_rows_per_run;
DROP SCHEMA ab CASCADE;
