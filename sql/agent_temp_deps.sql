--
-- agent_temp_deps: red team 11's findings on main after session 5's fixes.
-- 1. A protected table made to depend on a temporary object (ALTER TABLE
--    ... OF a temporary type, a column of a temporary domain) would be
--    dropped, or lose the column, when the agent's session ends: refused
--    (YG004).  A human may.
-- 2. In the agent's own session, an agent's function PostgreSQL set up
--    while the current user was the agent (a range type's subtype_diff,
--    kept in the type cache) runs as the agent when a human's SECURITY
--    DEFINER function makes the planner call it.
-- 3. The guard's preview switch is refused in an agent's code in a human's
--    session.
-- 4. An agent's rule may not NOTIFY (it would notify as the human's session).
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_td_human LOGIN;                 -- a human no agent is a member of
CREATE SCHEMA tdb AUTHORIZATION regress_bot;        -- the agent's
GRANT USAGE ON SCHEMA tdb TO PUBLIC;
CREATE SCHEMA tdh AUTHORIZATION regress_td_human;   -- the human's
GRANT USAGE ON SCHEMA tdh TO PUBLIC;
SET ROLE regress_bot;
CREATE TABLE tdb.vault (id int PRIMARY KEY, note text);
GRANT SELECT, INSERT, UPDATE, DELETE ON tdb.vault TO PUBLIC;
RESET ROLE;
SELECT agent_guard.protect('tdb.vault');
INSERT INTO tdb.vault SELECT g, 'human row ' || g FROM generate_series(1, 5) g;

-- 1. the agent's session: temporary types under a protected table
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-td-1"
\set VERBOSITY sqlstate
CREATE TYPE pg_temp.vt AS (id int, note text, ag_agent_id text, ag_run_id text,
                           ag_deleted_at timestamptz);
ALTER TABLE tdb.vault OF pg_temp.vt;
CREATE DOMAIN pg_temp.d AS int;
ALTER TABLE tdb.vault ADD COLUMN extra pg_temp.d;
CREATE TEMP TABLE rowtype (a int);
ALTER TABLE tdb.vault ADD COLUMN extra rowtype;
\set VERBOSITY default
-- a column of a permanent type stays the agent's to add
ALTER TABLE tdb.vault ADD COLUMN memo text;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT kind, reason FROM agent_guard.requests WHERE run_id = 'run-td-1' ORDER BY request_id;
SELECT count(*) AS rows_kept, (SELECT reloftype = 0 FROM pg_class WHERE oid = 'tdb.vault'::regclass) AS untyped
  FROM tdb.vault;
SELECT attname FROM pg_attribute WHERE attrelid = 'tdb.vault'::regclass AND attnum > 0
   AND NOT attisdropped ORDER BY attnum;

-- 2. a range type's subtype_diff, set up as the agent, run by the planner
--    inside a human's SECURITY DEFINER function the agent calls
\c "dbname=contrib_regression user=regress_td_human options="
CREATE TABLE tdh.secret (k text);
INSERT INTO tdh.secret VALUES ('the human''s secret');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-td-2"
CREATE TABLE tdb.seen (n bigserial, who text, what text);
GRANT INSERT ON tdb.seen TO PUBLIC;
GRANT USAGE ON SEQUENCE tdb.seen_n_seq TO PUBLIC;
CREATE FUNCTION tdb.diff(a int, b int) RETURNS float8 LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE s text;
BEGIN
    BEGIN
        SELECT string_agg(k, ',') INTO s FROM tdh.secret;
    EXCEPTION WHEN insufficient_privilege THEN s := 'denied';
    END;
    INSERT INTO tdb.seen (who, what) VALUES (current_user, s);
    RETURN a::float8 - b::float8;
END $$;
CREATE TYPE tdb.irange AS RANGE (SUBTYPE = int4, SUBTYPE_DIFF = tdb.diff);
ALTER FUNCTION tdb.diff(int, int) VOLATILE;
CREATE TABLE tdb.bookings (id int, during tdb.irange);
INSERT INTO tdb.bookings SELECT g, tdb.irange(g, g + (g % 7) + 1) FROM generate_series(1, 2000) g;
ANALYZE tdb.bookings;
GRANT SELECT ON tdb.bookings TO PUBLIC;
CREATE VIEW tdb.v AS SELECT count(*) AS n FROM tdb.bookings WHERE during && tdb.irange(100, 120);
GRANT SELECT ON tdb.v TO PUBLIC;
\c "dbname=contrib_regression user=regress_td_human options="
CREATE FUNCTION tdh.report() RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
    AS 'SELECT n FROM tdb.v';
GRANT EXECUTE ON FUNCTION tdh.report() TO regress_bot;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-td-2"
SELECT count(*) > 0 AS planned FROM tdb.v;           -- the type cache holds the function now
SELECT coalesce(max(n), 0) AS seen_before FROM tdb.seen \gset
SELECT tdh.report();
SELECT DISTINCT who, what FROM tdb.seen WHERE n > :seen_before ORDER BY who;

-- 3. the preview switch from the agent's code in a human's session
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-td-3"
CREATE FUNCTION tdb.previewing() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM agent_guard._preview(true); RETURN true; END $$;
-- 4. a rule whose action is NOTIFY would notify as whoever writes the table
CREATE TABLE tdb.inbox (id int);
CREATE RULE tell AS ON INSERT TO tdb.inbox DO ALSO NOTIFY agent_guard, '{"request_id": 1}';
CREATE RULE keep AS ON INSERT TO tdb.inbox DO ALSO SELECT 1;   -- another action stays allowed
\c "dbname=contrib_regression user=regress_td_human options="
SELECT tdb.previewing();

-- the human's side: a human may make the protected table depend on a
-- temporary type (it is the human's to lose)
\c "dbname=contrib_regression user=regress_su options="
CREATE DOMAIN pg_temp.hd AS int;
ALTER TABLE tdb.vault ADD COLUMN human_extra pg_temp.hd;
ALTER TABLE tdb.vault DROP COLUMN human_extra;
SELECT agent_guard.unprotect('tdb.vault');
DROP SCHEMA tdb CASCADE;
DROP SCHEMA tdh CASCADE;
DROP OWNED BY regress_td_human;
DROP ROLE regress_td_human;
