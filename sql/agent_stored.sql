--
-- agent_stored: an agent's stored objects that run in a human's statement
-- outside any call of the agent's functions (issue 16, red team 6,
-- findings 4, 8 and 11).  What an agent's security_invoker view, a view
-- inside its view, and its policies' subqueries read is checked as the
-- agent; an agent's table fires no trigger function that is not the
-- agent's in a human's statement (contrib lo's lo_manage would unlink the
-- human's large objects); an agent's domain may not call, in its CHECK or
-- default, a function that acts with more than the agent's rights (a
-- type's input function runs it before any statement is planned).  From
-- the human's side the same objects of the human's own keep working.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE EXTENSION IF NOT EXISTS lo;
CREATE ROLE regress_st_human LOGIN;                 -- a human no agent is a member of
CREATE SCHEMA st;                                   -- the humans'
GRANT USAGE ON SCHEMA st TO PUBLIC;
GRANT CREATE ON SCHEMA st TO regress_st_human;
CREATE TABLE st.secret (id int PRIMARY KEY, s text);
INSERT INTO st.secret VALUES (1, 'the humans'' secret');
GRANT SELECT, DELETE ON st.secret TO regress_st_human;
CREATE VIEW st.hv WITH (security_invoker = true) AS SELECT s FROM st.secret;
GRANT SELECT ON st.hv TO PUBLIC;
CREATE TABLE st.notes (id int, who name, note text);
INSERT INTO st.notes VALUES (1, 'regress_st_human', 'human''s note'), (2, 'regress_bot', 'bot''s note');
ALTER TABLE st.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON st.notes USING (who = current_user);
GRANT SELECT ON st.notes TO regress_st_human, regress_bot;
-- a human's generic trigger function: it empties the table its argument names
CREATE FUNCTION st.audit_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN EXECUTE format('DELETE FROM %s', TG_ARGV[0]); RETURN NULL; END $$;
CREATE SCHEMA stb AUTHORIZATION regress_bot;        -- the agent's
GRANT USAGE ON SCHEMA stb TO PUBLIC;

\c "dbname=contrib_regression user=regress_st_human options="
SELECT lo_from_bytea(616161, 'the human''s document') AS lo;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-st-1"
CREATE TABLE stb.loot (s text);
CREATE FUNCTION stb.keep(v text) RETURNS text LANGUAGE sql
    BEGIN ATOMIC INSERT INTO stb.loot VALUES (v) RETURNING v; END;
-- finding 11: a security_invoker view, a human's inside the agent's view, a policy's subquery
CREATE VIEW stb.peek WITH (security_invoker = true) AS SELECT s FROM st.secret;
CREATE VIEW stb.peek_keep WITH (security_invoker = true) AS SELECT stb.keep(s) AS s FROM st.secret;
CREATE VIEW stb.outer_peek AS SELECT s FROM st.hv;
CREATE VIEW stb.notes_peek WITH (security_invoker = true) AS SELECT note FROM st.notes;
CREATE TABLE stb.items (id int, tag text);
INSERT INTO stb.items VALUES (1, 'a');
ALTER TABLE stb.items ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON stb.items USING (EXISTS (SELECT 1 FROM st.secret WHERE stb.keep(s) IS NOT NULL));
CREATE VIEW stb.plain AS SELECT id, tag FROM stb.items;   -- an ordinary view: the agent's rights
GRANT SELECT ON stb.peek, stb.peek_keep, stb.outer_peek, stb.notes_peek, stb.items, stb.plain TO PUBLIC;
-- finding 8: a trigger function that is not the agent's
CREATE TABLE stb.docs (id int PRIMARY KEY, raster lo);
INSERT INTO stb.docs VALUES (1, 616161);
CREATE TRIGGER t_raster BEFORE UPDATE OR DELETE ON stb.docs       -- refused: not the agent's
    FOR EACH ROW EXECUTE FUNCTION lo_manage(raster);
CREATE FUNCTION stb.noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE TABLE stb.scratch (id int);
CREATE TRIGGER t_trunc BEFORE TRUNCATE ON stb.scratch              -- the agent's: runs
    FOR EACH STATEMENT EXECUTE FUNCTION stb.noop();
CREATE TABLE stb.logs (id int);
INSERT INTO stb.logs VALUES (1);
CREATE TRIGGER t_trunc BEFORE TRUNCATE ON stb.logs              -- refused too
    FOR EACH STATEMENT EXECUTE FUNCTION st.audit_truncate('st.secret');
GRANT TRUNCATE ON stb.logs, stb.scratch TO regress_st_human;
GRANT SELECT, INSERT, UPDATE, DELETE ON stb.docs TO regress_st_human;
CREATE TABLE stb.stamped (id int, at timestamptz);
CREATE FUNCTION stb.stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.at := now(); RETURN NEW; END $$;
CREATE TRIGGER t_stamp BEFORE INSERT OR UPDATE ON stb.stamped
    FOR EACH ROW EXECUTE FUNCTION stb.stamp();
CREATE TRIGGER t_same BEFORE UPDATE ON stb.stamped      -- built in: runs
    FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
GRANT INSERT, UPDATE, SELECT ON stb.stamped TO regress_st_human;
-- finding 4: an agent's domain calling what acts with its caller's rights
CREATE DOMAIN stb.d1 AS int CHECK (lo_unlink(VALUE) IS NOT NULL);
CREATE DOMAIN stb.d2 AS text CHECK (set_config('application_name', VALUE, false) IS NOT NULL);
CREATE DOMAIN stb.d3 AS int DEFAULT length(agent_guard.approve(1, 'by a domain')::text);
CREATE DOMAIN stb.ok AS int CHECK (VALUE > 0);
ALTER DOMAIN stb.ok ADD CONSTRAINT c2 CHECK (pg_notify('x', VALUE::text) IS NULL);
ALTER DOMAIN stb.ok SET DEFAULT lo_unlink(616161);
-- what the agent's domain may call: plain functions, the agent's own
CREATE FUNCTION stb.small(v int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 < 1000';
ALTER DOMAIN stb.ok ADD CONSTRAINT c3 CHECK (stb.small(VALUE));
ALTER DOMAIN stb.ok SET DEFAULT 1;
CREATE TYPE stb.pair AS (a stb.ok, b text);
SELECT conname FROM pg_constraint WHERE contypid = 'stb.ok'::regtype ORDER BY 1;

\c "dbname=contrib_regression user=regress_su options="
-- a human's SQL functions over the agent's view: one the planner inlines, one it does not
CREATE FUNCTION st.peek_inlined() RETURNS SETOF text LANGUAGE sql STABLE
    AS 'SELECT s FROM stb.peek';
CREATE FUNCTION st.peek_called() RETURNS SETOF text LANGUAGE sql STABLE SET work_mem = '4MB'
    AS 'SELECT s FROM stb.peek';

\c "dbname=contrib_regression user=regress_st_human options="
-- the agent's views and policy read with the agent's rights
SELECT * FROM stb.peek;
SELECT * FROM stb.peek_keep;
SELECT * FROM stb.outer_peek;
SELECT * FROM stb.items;
SELECT * FROM stb.notes_peek;
SELECT * FROM stb.plain;
\set SHOW_CONTEXT never
SELECT * FROM st.peek_inlined();
SELECT * FROM st.peek_called();                  -- its context line differs by version
\set SHOW_CONTEXT errors
-- the agent's trigger function runs as the agent; the agent's lo_manage and
-- audit_truncate triggers were never made: these statements unlink and delete nothing
INSERT INTO stb.stamped VALUES (1) RETURNING id, at IS NOT NULL AS stamped;
UPDATE stb.stamped SET id = id;                      -- suppressed, as redundant
DELETE FROM stb.docs WHERE id = 1;
UPDATE stb.docs SET raster = NULL;
COPY stb.docs FROM stdin;
2	\N
\.
TRUNCATE stb.logs;
TRUNCATE stb.scratch;
SELECT count(*) AS kept FROM pg_largeobject_metadata WHERE oid = 616161;
-- the agent's harmless domain in a type's input (a record literal)
SELECT ('(5,x)'::stb.pair).a;
SELECT ('(5000,x)'::stb.pair).a;
-- the human's side: the same objects of the human's own work for the human
SELECT * FROM st.hv;
SELECT note FROM st.notes;
CREATE TABLE st.hdocs (id int PRIMARY KEY, raster lo);
CREATE TRIGGER t_raster BEFORE UPDATE OR DELETE ON st.hdocs
    FOR EACH ROW EXECUTE FUNCTION lo_manage(raster);
INSERT INTO st.hdocs VALUES (1, lo_from_bytea(0, 'scratch'));
DELETE FROM st.hdocs;
SELECT count(*) FROM st.hdocs;
CREATE DOMAIN st.loud AS text CHECK (set_config('application_name', VALUE, true) IS NOT NULL);
SELECT 'mine'::st.loud;
DROP DOMAIN st.loud;
DROP TABLE st.hdocs;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-st-1"
SELECT count(*) AS looted FROM stb.loot;
SELECT count(*) AS logs FROM stb.logs;

\c "dbname=contrib_regression user=regress_su options="
SELECT count(*) AS kept FROM pg_largeobject_metadata WHERE oid = 616161;
SELECT count(*) AS secret_kept FROM st.secret;
SELECT lo_unlink(616161);
DROP SCHEMA stb CASCADE;
DROP SCHEMA st CASCADE;
DROP OWNED BY regress_st_human;
DROP ROLE regress_st_human;
