--
-- agent_code_paths: the other ways an agent's code reaches a human's
-- session (issue 16, red team 5).  An agent's function whose SET options
-- would change who the session is; a function that flips SECURITY DEFINER
-- or its SET options while it runs; an agent's code setting the guard's
-- identity; a cursor an agent's function opens and the human fetches
-- later; parameter defaults and domain CHECKs evaluated before the call; a
-- domain, operator or aggregate of the agent's bound to a system function;
-- a row-security policy calling only system functions; views calling
-- functions that run SQL as their caller; session-level advisory locks.
-- From the agent's side each is refused or runs as the agent; from the
-- human's side the human is the human afterwards and keeps every power in
-- statements of their own.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE SCHEMA cp;                                   -- the humans'
CREATE TABLE cp.secret (id int PRIMARY KEY, s text);
INSERT INTO cp.secret VALUES (1, 'the humans'' secret');
CREATE TABLE cp.customers (id int PRIMARY KEY, name text);
INSERT INTO cp.customers VALUES (1, 'ann'), (2, 'bob');
SELECT agent_guard.protect('cp.customers', false);
GRANT USAGE ON SCHEMA cp TO regress_bot;
GRANT SELECT, DELETE ON cp.customers TO regress_bot;
CREATE SCHEMA cpb AUTHORIZATION regress_bot;        -- the agent's
GRANT USAGE ON SCHEMA cpb TO PUBLIC;
-- a domain a human made and gave to the agent (the agent may not store
-- such a CHECK itself: agent_stored)
CREATE DOMAIN cpb.d AS text CHECK (set_config('work_mem', '66kB', false) IS NOT NULL);
ALTER DOMAIN cpb.d OWNER TO regress_bot;
SELECT lo_from_bytea(515151, 'the humans'' large object') AS lo;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-cp-1"
-- SET options that would change who the session is
CREATE FUNCTION cpb.f_role() RETURNS text LANGUAGE sql
    SET role = 'regress_bot' AS 'SELECT current_user::text';
CREATE FUNCTION cpb.f_sa() RETURNS text LANGUAGE sql
    SET session_authorization = 'regress_bot' AS 'SELECT current_user::text';
CREATE FUNCTION cpb.f_tag() RETURNS text LANGUAGE sql
    SET agent_guard.agent_id = 'regress_bot' AS 'SELECT current_user::text';
-- identity set from the body of a function with a SET option
CREATE FUNCTION cpb.tag() RETURNS text LANGUAGE plpgsql SET work_mem = '1MB' AS $$
BEGIN
    PERFORM set_config('agent_guard.agent_id', 'regress_bot', false);
    RETURN current_user;
END $$;
CREATE FUNCTION cpb.run_label() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('agent_guard.run_id', 'squatted', false);
    RETURN current_user;
END $$;
-- SECURITY DEFINER and SET options changed during the first call
CREATE FUNCTION cpb.flip() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    ALTER FUNCTION cpb.flip() SECURITY DEFINER;
    RETURN current_user;
END $$;
CREATE FUNCTION cpb.unflip() RETURNS text LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    ALTER FUNCTION cpb.unflip() SECURITY INVOKER;
    RETURN current_user;
END $$;
CREATE FUNCTION cpb.flip_set() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    ALTER FUNCTION cpb.flip_set() SET application_name = 'cp';
    PERFORM set_config('search_path', 'cpb, public', false);
    RETURN current_user;
END $$;
-- a cursor opened by the agent's function, fetched by the human (ts_stat
-- runs SQL as it is fetched; query_to_xml would too, where libxml is built in)
CREATE FUNCTION cpb.report() RETURNS refcursor LANGUAGE plpgsql AS $$
DECLARE c refcursor := 'cp_report';
BEGIN
    OPEN c FOR SELECT current_user::text AS fetched_as,
                      set_config('search_path', 'cpb, public', false) AS sp,
                      (SELECT string_agg(word, ',' ORDER BY word)
                         FROM ts_stat('select to_tsvector(''simple'', current_user::text)')) AS sql_ran_as;
    RETURN c;
END $$;
CREATE FUNCTION cpb.report_escape() RETURNS refcursor LANGUAGE plpgsql AS $$
DECLARE c refcursor := 'cp_escape';
BEGIN
    OPEN c FOR SELECT * FROM ts_stat('select to_tsvector(''simple'', agent_guard.unprotect(''cp.customers'')::text)');
    RETURN c;
END $$;
CREATE FUNCTION cpb.report_secret() RETURNS refcursor LANGUAGE plpgsql AS $$
DECLARE c refcursor := 'cp_secret';
BEGIN
    OPEN c FOR SELECT * FROM ts_stat('select to_tsvector(''simple'', s) from cp.secret');
    RETURN c;
END $$;
-- parameter defaults and a domain parameter, evaluated before the call
CREATE FUNCTION cpb.hello(x text DEFAULT set_config('work_mem', '77kB', false))
    RETURNS text LANGUAGE sql AS 'SELECT $1';
CREATE FUNCTION cpb.status(x xml DEFAULT query_to_xml('select agent_guard.unprotect(''cp.customers'')', false, false, ''))
    RETURNS text LANGUAGE sql AS 'SELECT ''ok''';
CREATE FUNCTION cpb.stamp(t timestamptz DEFAULT now(), n int DEFAULT 1 + 1)
    RETURNS int LANGUAGE sql AS 'SELECT $2';
CREATE DOMAIN cpb.short AS text CHECK (length(VALUE) < 10);
CREATE FUNCTION cpb.takes(v cpb.d) RETURNS text LANGUAGE sql AS 'SELECT $1::text';
CREATE FUNCTION cpb.takes_short(v cpb.short) RETURNS text LANGUAGE sql AS 'SELECT $1::text';
-- an aggregate and an operator bound to lo_unlink; harmless ones
CREATE FUNCTION cpb.keep(oid, int) RETURNS oid LANGUAGE sql AS 'SELECT $1';
CREATE AGGREGATE cpb.tally(int) (sfunc = cpb.keep, stype = oid, initcond = '515151',
                                 finalfunc = lo_unlink);
CREATE AGGREGATE cpb.total(int) (sfunc = int4pl, stype = int, initcond = '0');
CREATE OPERATOR cpb.### (RIGHTARG = oid, FUNCTION = lo_unlink);
CREATE OPERATOR cpb.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq);
-- row security calling only system functions; a plain one
CREATE TABLE cpb.tickets (id int, owner_name name DEFAULT current_user);
INSERT INTO cpb.tickets VALUES (1, 'regress_human');
ALTER TABLE cpb.tickets ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON cpb.tickets
    USING (query_to_xml('select 1 as one', false, false, '') IS NOT NULL);
GRANT SELECT ON cpb.tickets TO PUBLIC;
CREATE TABLE cpb.mine (id int, owner_name name);
INSERT INTO cpb.mine VALUES (1, 'regress_human'), (2, 'someone');
ALTER TABLE cpb.mine ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON cpb.mine USING (owner_name = current_user);
GRANT SELECT ON cpb.mine TO PUBLIC;
-- views that run SQL as their reader
CREATE VIEW cpb.v_xml AS SELECT query_to_xml('select s from cp.secret', false, false, '') AS x;
CREATE VIEW cpb.v_stat AS SELECT * FROM ts_stat('select to_tsvector(s) from cp.secret');
CREATE VIEW cpb.v_table AS SELECT table_to_xml(to_regclass('cp.secret'), false, false, '') AS x;
GRANT SELECT ON cpb.v_xml, cpb.v_stat, cpb.v_table TO PUBLIC;
-- a session-level advisory lock; a transaction-level one
CREATE FUNCTION cpb.lock() RETURNS boolean LANGUAGE sql AS 'SELECT pg_try_advisory_lock(777)';
CREATE FUNCTION cpb.xact_lock() RETURNS boolean LANGUAGE sql AS 'SELECT pg_try_advisory_xact_lock(778)';
-- red team 6: the guard's own function in a default; a large-object read
-- and a notification in a view; a view over a protected table; a view read
-- inside a human's SECURITY DEFINER function
CREATE FUNCTION cpb.page(n int, x text DEFAULT agent_guard.approve(1, 'by a default')::text)
    RETURNS int LANGUAGE sql AS 'SELECT $1';
CREATE VIEW cpb.v_lo AS SELECT lo_get(515151) AS data;
CREATE VIEW cpb.v_news AS SELECT pg_notify('agent_guard', 'forged') IS NULL AS n;
GRANT SELECT ON cpb.v_lo, cpb.v_news TO PUBLIC;
CREATE VIEW cpb.stale AS SELECT * FROM cp.customers WHERE id = 2;
GRANT SELECT, DELETE ON cpb.stale TO PUBLIC;
-- the agent cannot read the humans' secret itself
SELECT s FROM cp.secret;

-- The human's side, a superuser first.
\c "dbname=contrib_regression user=regress_su options="
\set VERBOSITY sqlstate
SELECT cpb.f_role();
\set VERBOSITY default
SELECT cpb.f_role();
SELECT cpb.f_sa();
SELECT cpb.f_tag();
SELECT current_user, session_user, agent_guard.current_agent() AS agent;
-- a SECURITY DEFINER flip: the human is the human after both calls
SELECT cpb.flip() FROM generate_series(1, 2);
SELECT current_user, session_user;
SELECT cpb.unflip() FROM generate_series(1, 2);
SELECT current_user, session_user;
SET ROLE regress_human;
RESET ROLE;
CREATE TEMP TABLE cp_tmp (i int);                   -- not left restricted
DROP TABLE cp_tmp;
-- a SET option added during the first call: the settings still roll back
SHOW search_path;
SELECT cpb.flip_set() FROM generate_series(1, 2);
SHOW search_path;
-- the agent's cursor runs as the agent when the human fetches it
BEGIN;
SELECT cpb.report();
FETCH ALL FROM cp_report;
SHOW search_path;
COMMIT;
BEGIN;
SELECT cpb.report_escape();
\set VERBOSITY sqlstate
FETCH ALL FROM cp_escape;
\set VERBOSITY default
ROLLBACK;
BEGIN;
SELECT cpb.report_secret();
FETCH ALL FROM cp_secret;
ROLLBACK;
SELECT count(*) AS still_protected FROM agent_guard.protected WHERE relation = 'cp.customers'::regclass;
-- defaults and domains that run the agent's code before the call
SELECT cpb.hello();
SELECT cpb.hello('given');                           -- judged whenever it is called
SELECT cpb.status();
SHOW work_mem;
SELECT cpb.stamp() AS harmless_defaults;
SELECT cpb.takes('x');
SELECT 'x'::cpb.d;                                   -- a human's cast to the agent's domain
SELECT cpb.takes_short('fine') AS harmless_domain;
SELECT 'this is far too long'::cpb.short;            -- the domain's own check still applies
SHOW work_mem;
-- the agent's aggregate and operator bound to lo_unlink
SELECT cpb.tally(n) FROM generate_series(1, 2) n;
SELECT OPERATOR(cpb.###) 515151::oid;
SELECT count(*) AS lo_kept FROM pg_largeobject_metadata WHERE oid = 515151;
SELECT cpb.total(n) AS harmless_aggregate FROM generate_series(1, 4) n;
SELECT 2 OPERATOR(cpb.===) 2 AS harmless_operator;
-- views running SQL as their reader
SELECT * FROM cpb.v_xml;
SELECT * FROM cpb.v_stat;
SELECT * FROM cpb.v_table;
-- the guard's function in a default; a view reading a large object or notifying
SELECT cpb.page(1);
SELECT * FROM cpb.v_lo;
SELECT * FROM cpb.v_news;
-- a human's SECURITY DEFINER helper reading the agent's view is judged too
CREATE FUNCTION public.cp_helper() RETURNS SETOF xml LANGUAGE sql SECURITY DEFINER
    AS 'SELECT x FROM cpb.v_xml';
\set SHOW_CONTEXT never
SELECT public.cp_helper();
\set SHOW_CONTEXT errors
DROP FUNCTION public.cp_helper();
-- a delete through the agent's view over a protected table
DELETE FROM cpb.stale;
SELECT count(*) AS customers FROM cp.customers;
-- a session-level advisory lock outlives the call; a transaction-level one does not
SELECT cpb.lock();
SELECT cpb.xact_lock() AS xact_lock;
SELECT count(*) AS advisory_locks FROM pg_locks WHERE locktype = 'advisory';
-- the superuser calls the same functions in statements of their own
SELECT string_agg(word, ',' ORDER BY word) AS own_ts_stat
    FROM ts_stat('select to_tsvector(''simple'', s) from cp.secret');
SELECT pg_try_advisory_lock(779) AS own_lock, pg_advisory_unlock(779) AS own_unlock;
SELECT lo_unlink(515151) AS own_unlink;

-- A human who is not a superuser (row security applies).
\c "dbname=contrib_regression user=regress_human options="
SELECT * FROM cpb.tickets;
SELECT id FROM cpb.mine ORDER BY id;                 -- a plain policy works
SELECT cpb.tag();
SELECT cpb.run_label();
SELECT agent_guard.current_agent() AS agent, current_setting('agent_guard.run_id') AS run;
SELECT cpb.stamp() AS harmless_defaults;

-- Agent's side: in its own session its code is its own, as always.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-cp-2"
SELECT cpb.stamp() AS stamp;
SELECT cpb.total(n) AS total FROM generate_series(1, 3) n;
SELECT count(*) AS tickets FROM cpb.tickets;
BEGIN;
SELECT cpb.report();
FETCH ALL FROM cp_report;
ROLLBACK;

-- The data and the log are intact.
\c "dbname=contrib_regression user=regress_su options="
SELECT id, name FROM cp.customers ORDER BY id;
SELECT ok FROM agent_guard.verify_log();

-- clean up
SET client_min_messages = warning;
DROP SCHEMA cpb CASCADE;
SELECT agent_guard.unprotect('cp.customers');
DROP SCHEMA cp CASCADE;
