--
-- agent_rights: an agent's code that a human's statement runs has the
-- agent's rights, never the human's (issue 16, red team 3's finding 01b).
-- An agent's function runs as its owner in a security-restricted
-- operation: what the agent may not do itself (make roles, grant on
-- others' tables, ALTER SYSTEM, read what it cannot read, SET ROLE) it
-- cannot do through a superuser's UPDATE either, and it leaves no
-- settings, cursors or prepared statements in the human's session.  The
-- agent's stored expressions (views, defaults, policies) that call a
-- system function directly cannot call one the agent may not execute, nor
-- one that acts with its caller's rights (settings, signals, large
-- objects, replication slots, setval).  Humans keep all of it in
-- statements of their own.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE SCHEMA ar;                                  -- the humans'
CREATE TABLE ar.secrets (id int PRIMARY KEY, s text);
INSERT INTO ar.secrets VALUES (1, 'the humans'' secret');
CREATE TABLE ar.orders (id int PRIMARY KEY, v text);
INSERT INTO ar.orders VALUES (1, 'one');
SELECT agent_guard.protect('ar.orders', false);
GRANT USAGE ON SCHEMA ar TO regress_bot;
GRANT SELECT ON ar.orders TO regress_bot;
CREATE SCHEMA arb AUTHORIZATION regress_bot;       -- the agent's
SELECT lo_from_bytea(424242, 'the humans'' large object') AS lo;

-- The agent lays its traps on its own objects.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ar-1"
CREATE TABLE arb.items (id int PRIMARY KEY, v text);
INSERT INTO arb.items VALUES (1, 'a'), (2, 'b');
-- a CHECK function that makes a superuser login (finding 01b)
CREATE FUNCTION arb.ok(v text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF v = 'escalate' THEN
        EXECUTE 'CREATE ROLE regress_ar_evil LOGIN SUPERUSER';
    END IF;
    RETURN true;
END
$$;
ALTER TABLE arb.items ADD CONSTRAINT items_ok CHECK (arb.ok(v));
-- a trigger that takes what the agent cannot reach
CREATE FUNCTION arb.trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.v = 'steal' THEN
        NEW.v := (SELECT s FROM ar.secrets WHERE id = 1);
    ELSIF NEW.v = 'grant' THEN
        EXECUTE 'GRANT ALL ON ar.secrets TO regress_bot';
    ELSIF NEW.v = 'system' THEN
        EXECUTE 'ALTER SYSTEM SET log_statement = ''none''';
    ELSIF NEW.v = 'become' THEN
        EXECUTE 'SET ROLE regress_su';
    ELSIF NEW.v = 'settings' THEN
        PERFORM set_config('search_path', 'arb, public', false);
        PERFORM set_config('work_mem', '77kB', false);
    ELSIF NEW.v = 'hold' THEN
        EXECUTE 'DECLARE arb_c CURSOR WITH HOLD FOR SELECT 1';
    ELSIF NEW.v = 'prepare' THEN
        EXECUTE 'PREPARE arb_p AS SELECT 1';
    ELSIF NEW.v = 'who' THEN
        NEW.v := current_user || '/' || session_user;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER items_trg BEFORE UPDATE ON arb.items FOR EACH ROW EXECUTE FUNCTION arb.trg();
-- a SECURITY DEFINER function and a procedure that ends transactions
CREATE FUNCTION arb.definer() RETURNS text LANGUAGE sql SECURITY DEFINER
    AS $$ SELECT current_user::text $$;
CREATE PROCEDURE arb.proc() LANGUAGE plpgsql AS $$
BEGIN
    ROLLBACK;
    EXECUTE 'CREATE ROLE regress_ar_evil2 LOGIN SUPERUSER';
END
$$;
-- a function a parallel worker may run
CREATE FUNCTION arb.safe(v text) RETURNS boolean LANGUAGE plpgsql PARALLEL SAFE
    AS $$ BEGIN RETURN current_user = 'regress_bot'; END $$;
-- views that call system functions directly
CREATE VIEW arb.v_file AS SELECT pg_read_file('postgresql.conf', 0, 10) AS f;
CREATE VIEW arb.v_lo AS SELECT lo_unlink(424242) AS gone;
CREATE VIEW arb.v_setting AS SELECT set_config('search_path', 'arb', false) AS sp;
CREATE VIEW arb.v_plain AS SELECT id, upper(v) AS v, length(v) AS n FROM arb.items;
-- a default on a sequence of its own
CREATE SEQUENCE arb.seq;
CREATE TABLE arb.notes (id bigint DEFAULT nextval('arb.seq'), n text);
GRANT SELECT, UPDATE ON arb.items TO regress_su;
GRANT SELECT ON arb.v_file, arb.v_lo, arb.v_setting, arb.v_plain TO regress_su;
GRANT EXECUTE ON PROCEDURE arb.proc() TO regress_su;

-- A superuser walks into them.
\c "dbname=contrib_regression user=regress_su options="
-- the CHECK function runs as the agent: no role is made (42501; the
-- message differs between majors)
\set VERBOSITY sqlstate
UPDATE arb.items SET v = 'escalate' WHERE id = 1;
\set VERBOSITY default
SELECT count(*) AS evil_roles FROM pg_roles WHERE rolname LIKE 'regress_ar_evil%';
-- the trigger runs as the agent: what the agent cannot do fails
-- (the context names the agent's function and whose rights it ran with)
\set SHOW_CONTEXT errors
UPDATE arb.items SET v = 'steal' WHERE id = 2;
\set SHOW_CONTEXT never
UPDATE arb.items SET v = 'grant' WHERE id = 2;
UPDATE arb.items SET v = 'system' WHERE id = 2;
UPDATE arb.items SET v = 'become' WHERE id = 2;
UPDATE arb.items SET v = 'hold' WHERE id = 2;
UPDATE arb.items SET v = 'prepare' WHERE id = 2;
SELECT has_table_privilege('regress_bot', 'ar.secrets', 'SELECT') AS bot_reads_secrets;
SELECT count(*) AS held_cursors FROM pg_cursors;
SELECT count(*) AS prepared FROM pg_prepared_statements;
-- the settings a function makes go with it
SHOW search_path;
UPDATE arb.items SET v = 'settings' WHERE id = 2;
SHOW search_path;
SHOW work_mem;
-- who the code runs as, and who the human is again afterwards
UPDATE arb.items SET v = 'who' WHERE id = 2 RETURNING v;
SELECT arb.definer() AS definer, current_user AS after_definer;
SELECT current_user AS after_update;
-- an error in the agent's code, caught by the human's block: the human is back
DO $$
BEGIN
    UPDATE arb.items SET v = 'grant' WHERE id = 2;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'caught; the block goes on as %', current_user;
END
$$;
-- the human's own plain statements still make what the human may
CREATE TEMP TABLE ar_tmp (x int);
DROP TABLE ar_tmp;
-- a procedure that rolls back keeps running as the agent (42501)
\set VERBOSITY sqlstate
CALL arb.proc();
\set VERBOSITY default
SELECT count(*) AS evil_roles FROM pg_roles WHERE rolname LIKE 'regress_ar_evil%';
SELECT current_user AS after_proc;

-- Parallel query (red team 4, finding 2): the workers and the leader set
-- up calls of non-system functions (the soft-delete policy's, the agent's)
-- without taking a new snapshot; the agent's function runs as the agent.
CREATE TABLE ar.soft (id int PRIMARY KEY, v text);
INSERT INTO ar.soft SELECT g, 'v' || g FROM generate_series(1, 1000) g;
SELECT agent_guard.protect('ar.soft', true);
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT count(*) FROM ar.soft;
SELECT count(*) FROM ar.soft;
SELECT count(*) FROM arb.items WHERE arb.safe(v);
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT agent_guard.unprotect('ar.soft');

-- The agent's views that call system functions directly.
\set VERBOSITY default
SELECT * FROM arb.v_file;
SELECT * FROM arb.v_lo;
SELECT * FROM arb.v_setting;
SELECT count(*) AS lo_kept FROM pg_largeobject_metadata WHERE oid = 424242;
SHOW search_path;
-- a plain view and a default on the agent's own sequence work as before
SELECT * FROM arb.v_plain ORDER BY id;
INSERT INTO arb.notes (n) VALUES ('by a human') RETURNING id, n;
-- the human calls the same functions in statements of their own
SELECT length(pg_read_file('postgresql.conf', 0, 10)) AS read;
SELECT lo_unlink(424242) AS unlinked;
SELECT set_config('work_mem', '4MB', false) AS work_mem;
RESET work_mem;

-- Agent's side: in its own session its functions are its own, as always.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ar-2"
SELECT arb.definer() AS definer;
INSERT INTO arb.notes (n) VALUES ('by the agent') RETURNING id, n;
UPDATE arb.items SET v = 'who' WHERE id = 1 RETURNING v;

-- The log verifies.
\c "dbname=contrib_regression user=regress_su options="
SELECT ok FROM agent_guard.verify_log();

-- clean up
DROP SCHEMA arb CASCADE;
SELECT agent_guard.unprotect('ar.orders');
DROP SCHEMA ar CASCADE;
