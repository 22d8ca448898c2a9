--
-- reach: whatever a statement reaches counts, not what it names.  A drop
-- through CASCADE (collation, function, extension, type, foreign key,
-- inheritance, typed table, extension membership), a rename through any
-- relation kind's ALTER or through the schema, a retype through a parent
-- or a type: each gets the decision of the direct act (YG003 approval,
-- YG004 for the guard's stamp columns), with the request on record, and
-- the approval binds the objects reached, not only the text.  Humans can
-- still do all of it.  Runs in a database of its own, so request ids are
-- its own.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE DATABASE regress_reach;
CREATE ROLE regress_reach_bot LOGIN;
CREATE ROLE regress_reach_human LOGIN;
CREATE ROLE regress_reach_group;
GRANT regress_reach_group TO regress_reach_bot;
\c "dbname=regress_reach user=regress_su options="
CREATE EXTENSION agent_guard;
SELECT agent_guard.register_agent('regress_reach_bot');
GRANT CREATE ON DATABASE regress_reach TO regress_reach_bot, regress_reach_human;
GRANT CREATE, USAGE ON SCHEMA public TO regress_reach_bot, regress_reach_human;
GRANT USAGE ON SCHEMA agent_guard TO regress_reach_human;
GRANT SELECT ON agent_guard.requests TO regress_reach_human;
GRANT CREATE ON SCHEMA public TO regress_reach_group;
-- the refusals' SQLSTATE is what a harness sees
\set SHOW_CONTEXT never

-- the agent wrote the app's helpers and some tables in an earlier session
\c "dbname=regress_reach user=regress_reach_bot options=-cagent_guard.run_id=run-reach-setup"
CREATE EXTENSION citext;
CREATE FUNCTION public.norm(text) RETURNS text IMMUTABLE LANGUAGE sql AS 'SELECT lower($1)';
CREATE COLLATION public.agcoll FROM "C";
CREATE TABLE public.a_tab (id int PRIMARY KEY, v text);
INSERT INTO a_tab SELECT g, 'a' || g FROM generate_series(1, 20) g;
CREATE SCHEMA ags;
CREATE TABLE ags.t (id int PRIMARY KEY, v text);
INSERT INTO ags.t VALUES (1, 'one');
CREATE TYPE public.a_row AS (id int, v text, ag_agent_id text, ag_run_id text, ag_deleted_at timestamptz);
CREATE TABLE public.typed (id int PRIMARY KEY, v text);
INSERT INTO typed VALUES (1, 'typed');
CREATE SCHEMA scratch;
CREATE TABLE scratch.orders (id int);
CREATE TABLE public.orders (id int PRIMARY KEY, v text);
INSERT INTO public.orders VALUES (1, 'a customer order');
CREATE TABLE public.parts (id int, day date, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
CREATE TABLE public.parts_2026 PARTITION OF parts FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO parts VALUES (1, '2026-06-01'), (2, '2026-07-01');
CREATE TABLE public.lone (id int PRIMARY KEY, v text);
INSERT INTO lone VALUES (1, 'lone');
CREATE TABLE public.agp (id int, v text, ag_agent_id text, ag_run_id text, ag_deleted_at timestamptz)
    PARTITION BY LIST (id);
GRANT ALL ON ALL TABLES IN SCHEMA public, ags TO regress_reach_human;
GRANT USAGE ON SCHEMA ags TO regress_reach_human;
-- a human's table uses the agent's extension, function and collation
\c "dbname=regress_reach user=regress_reach_human options="
CREATE TABLE customers (id int PRIMARY KEY, email citext, name text,
                        name_norm text GENERATED ALWAYS AS (norm(name)) STORED,
                        city text COLLATE agcoll);
INSERT INTO customers VALUES (1, 'ann@example.com', 'Ann', DEFAULT, 'Oslo');
GRANT SELECT, INSERT, UPDATE, DELETE ON customers TO regress_reach_bot;
\c "dbname=regress_reach user=regress_su options="
-- a human's helper that gives a_tab a foreign key into a table par (an
-- agent's foreign key from a protected table needs an approval of its own:
-- structure_humans.sql)
CREATE FUNCTION public.link_a_tab() RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public
    AS $$ BEGIN EXECUTE 'ALTER TABLE a_tab ADD COLUMN p int DEFAULT 1 REFERENCES par'; END $$;
GRANT EXECUTE ON FUNCTION public.link_a_tab() TO regress_reach_bot;
-- and one that makes a_tab a child of a parent the agent made (the agent's
-- own ALTER TABLE a_tab INHERIT needs approval: red team 12, finding 5)
CREATE FUNCTION public.inherit_a_tab() RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public
    AS $$ BEGIN EXECUTE 'ALTER TABLE a_tab INHERIT inh_parent'; END $$;
GRANT EXECUTE ON FUNCTION public.inherit_a_tab() TO regress_reach_bot;
SELECT agent_guard.protect(r) FROM unnest(ARRAY['a_tab', 'ags.t', 'typed', 'customers',
                                                'public.orders', 'parts', 'lone']::regclass[]) r;
ALTER TABLE typed OF a_row;

\c "dbname=regress_reach user=regress_reach_bot options=-cagent_guard.run_id=run-reach"
-- error: drops through CASCADE reach the human's columns (YG003)
DROP EXTENSION citext CASCADE;
\echo :LAST_ERROR_SQLSTATE
DROP FUNCTION norm(text) CASCADE;
\echo :LAST_ERROR_SQLSTATE
DROP COLLATION agcoll CASCADE;
\echo :LAST_ERROR_SQLSTATE
-- error: a table the agent just made, and a foreign key into it: TRUNCATE ... CASCADE empties a_tab
CREATE TABLE par (id int PRIMARY KEY);
INSERT INTO par VALUES (1);
SELECT public.link_a_tab();
TRUNCATE par CASCADE;
\echo :LAST_ERROR_SQLSTATE
-- error: the agent may not make the protected table a child of its own table (YG003)
CREATE TABLE inh_parent (id int, v text);
ALTER TABLE a_tab INHERIT inh_parent;
\echo :LAST_ERROR_SQLSTATE
-- error: a parent of its own reaches the protected child: TRUNCATE, DROP ... CASCADE, retype, rename
SELECT public.inherit_a_tab();
TRUNCATE inh_parent;
\echo :LAST_ERROR_SQLSTATE
DROP TABLE inh_parent CASCADE;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE inh_parent ALTER COLUMN v TYPE varchar(10);
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE inh_parent RENAME COLUMN v TO w;
\echo :LAST_ERROR_SQLSTATE
-- error: a rewrite to the same type (USING), and DML without WHERE on the parent, reach it too
-- (refused outright: a_tab is protected with soft delete on its own, and through a parent
-- that is not, its rows would be deleted for good or its soft-deleted rows updated; red
-- team 36, F01; red team 37, F16)
ALTER TABLE inh_parent ALTER COLUMN v TYPE text USING NULL;
\echo :LAST_ERROR_SQLSTATE
UPDATE inh_parent SET v = NULL;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM inh_parent;
\echo :LAST_ERROR_SQLSTATE
-- TRUNCATE ONLY of the parent reaches nothing
TRUNCATE ONLY inh_parent;
ALTER TABLE a_tab NO INHERIT inh_parent;
-- error: a typed table is reached through its type (YG003; YG004 for a stamp column)
ALTER TYPE a_row DROP ATTRIBUTE v CASCADE;
\echo :LAST_ERROR_SQLSTATE
ALTER TYPE a_row ALTER ATTRIBUTE v TYPE varchar(5) CASCADE;
\echo :LAST_ERROR_SQLSTATE
ALTER TYPE a_row RENAME ATTRIBUTE ag_run_id TO gone CASCADE;
\echo :LAST_ERROR_SQLSTATE
-- error: a table's own row type renames its columns (YG003; YG004 for a stamp column)
ALTER TYPE a_tab RENAME ATTRIBUTE v TO v_renamed;
\echo :LAST_ERROR_SQLSTATE
ALTER TYPE a_tab RENAME ATTRIBUTE ag_agent_id TO x_agent;
\echo :LAST_ERROR_SQLSTATE
-- error: any relation kind's ALTER renames a table, a schema rename moves it
ALTER INDEX a_tab RENAME TO a_tab_gone;
\echo :LAST_ERROR_SQLSTATE
ALTER SCHEMA ags RENAME TO ags2;
\echo :LAST_ERROR_SQLSTATE
-- error: a protected table cannot join an extension (DROP EXTENSION would drop it; YG004)
ALTER EXTENSION citext ADD TABLE a_tab;
\echo :LAST_ERROR_SQLSTATE
ALTER EXTENSION citext ADD TYPE a_tab;
\echo :LAST_ERROR_SQLSTATE
ALTER EXTENSION citext ADD SCHEMA ags;
\echo :LAST_ERROR_SQLSTATE
-- error: giving a protected table away is refused (YG004), whatever names it
REASSIGN OWNED BY regress_reach_bot TO regress_reach_group;
\echo :LAST_ERROR_SQLSTATE
-- nothing was lost: data, columns, names
SELECT count(*) AS a_tab_rows, (SELECT count(*) FROM ags.t) AS ags_t_rows,
       (SELECT count(*) FROM typed) AS typed_rows FROM a_tab;
SELECT * FROM customers;
SELECT attrelid::regclass AS rel, string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) AS columns
  FROM pg_attribute WHERE attrelid IN ('a_tab'::regclass, 'typed'::regclass) AND attnum > 0 AND NOT attisdropped
 GROUP BY 1 ORDER BY 1;
SELECT pg_get_userbyid(relowner) AS a_tab_owner FROM pg_class WHERE oid = 'a_tab'::regclass;

-- the requests are on record, with what was reached
\c "dbname=regress_reach user=regress_su options="
SELECT relation FROM agent_guard.protected ORDER BY 1;
SELECT agent_guard._flush_requests();
SELECT request_id, kind, status, reason, statement FROM agent_guard.requests
 WHERE run_id = 'run-reach' ORDER BY request_id;

-- an approval of what was reached lets the same statement through, once
SELECT request_id AS coll_request FROM agent_guard.requests
 WHERE statement = 'DROP COLLATION agcoll CASCADE' \gset
SELECT status FROM agent_guard.approve(:coll_request, 'the city column can go');
\c "dbname=regress_reach user=regress_reach_bot options=-cagent_guard.run_id=run-reach-2"
DROP COLLATION agcoll CASCADE;
SELECT string_agg(attname, ', ' ORDER BY attnum) AS customers_columns FROM pg_attribute
 WHERE attrelid = 'customers'::regclass AND attnum > 0 AND NOT attisdropped;

-- an approval binds the objects, not only the text: DROP TABLE orders approved for
-- scratch.orders does not drop the protected public.orders after a search_path change
SET search_path = scratch, public;
DROP TABLE orders;
\echo :LAST_ERROR_SQLSTATE
\c "dbname=regress_reach user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.approve((SELECT max(request_id) FROM agent_guard.requests
                                        WHERE statement = 'DROP TABLE orders'));
\c "dbname=regress_reach user=regress_reach_bot options=-cagent_guard.run_id=run-reach-3"
SET search_path = public;
-- error: another object, another approval
DROP TABLE orders;
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('public.orders') AS public_orders, to_regclass('scratch.orders') AS scratch_orders;
SET search_path = scratch, public;
DROP TABLE orders;
SELECT to_regclass('public.orders') AS public_orders, to_regclass('scratch.orders') AS scratch_orders;
RESET search_path;

-- a statement's own approval covers what it names and its partitions; a
-- cascade beyond them needs its own request
TRUNCATE parts;
\echo :LAST_ERROR_SQLSTATE
\c "dbname=regress_reach user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.approve((SELECT max(request_id) FROM agent_guard.requests
                                        WHERE statement = 'TRUNCATE parts'));
\c "dbname=regress_reach user=regress_reach_bot options=-cagent_guard.run_id=run-reach-4"
TRUNCATE parts;
SELECT count(*) AS parts_rows FROM parts;
-- error: the agent may not attach a protected table under its own (YG004, sql/structure.sql)
ALTER TABLE agp ATTACH PARTITION lone DEFAULT;
\echo :LAST_ERROR_SQLSTATE
-- error: a protected table a human attached under a table of the agent's is
-- not covered by the approval of a TRUNCATE of the agent's table
\c "dbname=regress_reach user=regress_su options="
ALTER TABLE agp ATTACH PARTITION lone DEFAULT;
\c "dbname=regress_reach user=regress_reach_bot options=-cagent_guard.run_id=run-reach-4"
TRUNCATE agp;
\echo :LAST_ERROR_SQLSTATE
\c "dbname=regress_reach user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.approve((SELECT max(request_id) FROM agent_guard.requests
                                        WHERE statement = 'TRUNCATE agp'));
\c "dbname=regress_reach user=regress_reach_bot options=-cagent_guard.run_id=run-reach-4"
TRUNCATE agp;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS lone_rows FROM lone;
-- error: DROP TYPE ... CASCADE needs approval itself, then again for the table it reaches
DROP TYPE a_row CASCADE;
\echo :LAST_ERROR_SQLSTATE
\c "dbname=regress_reach user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.approve((SELECT max(request_id) FROM agent_guard.requests
                                        WHERE statement = 'DROP TYPE a_row CASCADE'));
\c "dbname=regress_reach user=regress_reach_bot options=-cagent_guard.run_id=run-reach-5"
DROP TYPE a_row CASCADE;
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('typed') AS typed, to_regtype('a_row') AS a_row;
-- error: DROP OWNED, once approved, still needs approval for the protected tables it reaches
DROP OWNED BY regress_reach_bot CASCADE;
\echo :LAST_ERROR_SQLSTATE
\c "dbname=regress_reach user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.approve((SELECT max(request_id) FROM agent_guard.requests
                                        WHERE statement = 'DROP OWNED BY regress_reach_bot CASCADE'));
\c "dbname=regress_reach user=regress_reach_bot options=-cagent_guard.run_id=run-reach-6"
SET client_min_messages = error;
DROP OWNED BY regress_reach_bot CASCADE;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS a_tab_rows, (SELECT count(*) FROM ags.t) AS ags_t_rows FROM a_tab;
\c "dbname=regress_reach user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT request_id, kind, status, left(reason, 100) AS reason, statement FROM agent_guard.requests
 WHERE run_id IN ('run-reach-2', 'run-reach-3', 'run-reach-4', 'run-reach-5', 'run-reach-6')
 ORDER BY request_id;

-- humans keep their power: the same statements work for them, and the log verifies
\c "dbname=regress_reach user=regress_su options="
TRUNCATE par CASCADE;
SELECT count(*) AS a_tab_rows FROM a_tab;
ALTER TABLE a_tab DROP COLUMN p;
ALTER INDEX a_tab RENAME TO a_tab_renamed;
ALTER TYPE a_tab_renamed RENAME ATTRIBUTE v TO v_renamed;
ALTER SCHEMA ags RENAME TO ags2;
SELECT relation FROM agent_guard.protected ORDER BY 1;
DROP FUNCTION norm(text) CASCADE;
DROP EXTENSION citext CASCADE;
SELECT * FROM customers;
SELECT ok FROM agent_guard.verify_log();

\c "dbname=contrib_regression user=regress_su options="
DROP DATABASE regress_reach;
DROP ROLE regress_reach_bot, regress_reach_human, regress_reach_group;
