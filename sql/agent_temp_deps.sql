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
-- 5. A composite type the agent made in its session is no scratch once a
--    protected table's column uses it: DROP ATTRIBUTE needs approval.
-- 6. The agent's code in a human's session calls pg_logical_emit_message(),
--    lo_create() or nextval() of a permanent sequence: refused during the
--    agent's freeze (YG006) and under its read_only policy (YG008).
-- 7. The rows its writing CTE deletes there count against
--    max_rows_per_statement (YG004 past it).
-- 8. A protected column made to depend on a temporary collation (red team
--    12, finding 3): directly, in an array column, through a composite
--    type's attribute, ADD ATTRIBUTE of a composite type a protected
--    column uses, a parent's ADD COLUMN, ALTER COLUMN ... TYPE ... COLLATE:
--    refused (YG004), the table as it was.  A human may.
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
-- (no autovacuum: its ANALYZE runs tdb.diff too, in a session of its own,
-- where the agent's code is refused and on record at a time of its choosing)
CREATE TABLE tdb.bookings (id int, during tdb.irange) WITH (autovacuum_enabled = false);
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

-- 5. a composite type the agent made in this session, once a protected
--    table's column uses it, is no scratch: DROP ATTRIBUTE of it would
--    strip that field from every row, the humans' too
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-td-5"
CREATE TYPE tdb.money AS (amount int, currency text);
ALTER TABLE tdb.vault ADD COLUMN m tdb.money;
UPDATE tdb.vault SET m = ROW(100 * id, 'EUR') WHERE id <= 2;
\set VERBOSITY sqlstate
ALTER TYPE tdb.money DROP ATTRIBUTE amount;
\set VERBOSITY default
-- a composite type no protected table uses stays the session's scratch
CREATE TYPE tdb.loose AS (a int, b text);
ALTER TYPE tdb.loose DROP ATTRIBUTE a;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT kind, reason FROM agent_guard.requests WHERE run_id = 'run-td-5' ORDER BY request_id;
SELECT id, (m).amount, (m).currency FROM tdb.vault WHERE m IS NOT NULL ORDER BY id;
SELECT attname FROM pg_attribute WHERE attrelid = 'tdb.loose'::regclass AND attnum > 0
   AND NOT attisdropped ORDER BY attnum;

-- 6. the agent's code in a human's session calls functions that write
--    without a result relation: a freeze and a read_only policy of the
--    agent hold, as in its own session (a WAL message, a large object,
--    nextval on a sequence that is not temporary); and 7. the rows its
--    writing CTE deletes count against max_rows_per_statement
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-td-6"
CREATE FUNCTION tdb.emit() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_logical_emit_message(false, 'outbox', '{"order": 42}'); RETURN true; END $$;
CREATE FUNCTION tdb.lo() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM lo_create(0); RETURN true; END $$;
CREATE SEQUENCE tdb.seq;
GRANT USAGE ON SEQUENCE tdb.seq TO PUBLIC;
CREATE FUNCTION tdb.bump() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM nextval('tdb.seq'); RETURN true; END $$;
CREATE FUNCTION tdb.bump_temp() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN RETURN (SELECT nextval('pg_temp.tseq')); END $$;
CREATE TABLE tdb.big (id int PRIMARY KEY);
INSERT INTO tdb.big SELECT generate_series(1, 1200);   -- the session's scratch here
GRANT SELECT ON tdb.big TO PUBLIC;
CREATE FUNCTION tdb.purge(lim int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    WITH d AS (DELETE FROM tdb.big WHERE id <= lim RETURNING 1) SELECT count(*) INTO n FROM d;
    RETURN n;
END $$;
\c "dbname=contrib_regression user=regress_su options="
SELECT coalesce(max(request_id), 0) AS td6_before FROM agent_guard.requests \gset
SELECT agent_guard.freeze('incident 11', 'regress_bot');
\c "dbname=contrib_regression user=regress_td_human options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG006, each
SELECT tdb.emit();
SELECT tdb.lo();
SELECT tdb.bump();
\set VERBOSITY default
-- a temporary sequence (here the human's) stays the code's scratch
CREATE TEMP SEQUENCE tseq;
GRANT USAGE ON SEQUENCE tseq TO regress_bot;
SELECT tdb.bump_temp();
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unfreeze('regress_bot');
SELECT mode FROM agent_guard.set_policy('regress_bot', 'read_only');
\c "dbname=contrib_regression user=regress_td_human options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG008, each
SELECT tdb.emit();
SELECT tdb.bump();
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.drop_policy('regress_bot');
\c "dbname=contrib_regression user=regress_td_human options="
\set SHOW_CONTEXT never
-- no freeze, no policy: they run
SELECT tdb.emit(), tdb.bump();
-- 7. ten rows through a writing CTE pass; 1190 are more than the limit
SELECT tdb.purge(10);
\set VERBOSITY sqlstate
-- error: YG004
SELECT tdb.purge(1200);
\set VERBOSITY default
SELECT count(*) AS big_rows_left FROM tdb.big;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT kind, reason FROM agent_guard.requests WHERE request_id > :td6_before
 ORDER BY request_id;

-- 8. a temporary collation under a protected column
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-td-8"
CREATE TYPE tdb.ct8 AS (a text);
ALTER TABLE tdb.vault ADD COLUMN c8 tdb.ct8;
UPDATE tdb.vault SET c8 = ROW('kept') WHERE id = 1;
CREATE TABLE tdb.par8 (id int);
CREATE TABLE tdb.kid8 (note text, PRIMARY KEY (id)) INHERITS (tdb.par8);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('tdb.kid8');
INSERT INTO tdb.kid8 VALUES (1, 'human row');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-td-8"
CREATE COLLATION pg_temp.tc (provider = libc, locale = 'C');
CREATE TYPE tdb.ct8t AS (a text COLLATE pg_temp.tc);
\set VERBOSITY sqlstate
-- error: YG004, each
ALTER TABLE tdb.vault ADD COLUMN memo8 text COLLATE pg_temp.tc;
ALTER TABLE tdb.vault ADD COLUMN memo8a text[] COLLATE pg_temp.tc;
ALTER TABLE tdb.vault ADD COLUMN memo8c tdb.ct8t;
ALTER TYPE tdb.ct8 ADD ATTRIBUTE tz text COLLATE pg_temp.tc CASCADE;
ALTER TABLE tdb.par8 ADD COLUMN pc text COLLATE pg_temp.tc;
ALTER TABLE tdb.vault ALTER COLUMN note TYPE text COLLATE pg_temp.tc;
\set VERBOSITY default
-- a permanent collation: allowed (a new attribute of ct8, which a
-- protected column uses, needs approval whatever its collation: red team
-- 29, finding 5, regress rt29_types; the human adds it below)
ALTER TABLE tdb.vault ADD COLUMN memo8 text COLLATE "C";
-- a temporary collation in the session's own scratch: allowed
CREATE TABLE pg_temp.scratch8 (t text COLLATE pg_temp.tc);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT kind, reason FROM agent_guard.requests WHERE run_id = 'run-td-8' ORDER BY request_id;
ALTER TYPE tdb.ct8 ADD ATTRIBUTE b text COLLATE "C" CASCADE;
SELECT attrelid::regclass, attname, attcollation::regcollation FROM pg_attribute
 WHERE attrelid IN ('tdb.vault'::regclass, 'tdb.kid8'::regclass, 'tdb.ct8'::regclass)
   AND attnum > 0 AND NOT attisdropped ORDER BY attrelid::regclass::text, attnum;
SELECT id, (c8).a FROM tdb.vault WHERE id = 1;
SELECT id, note FROM tdb.kid8;

-- the human's side: a human may make the protected table depend on a
-- temporary type or collation (it is the human's to lose)
\c "dbname=contrib_regression user=regress_su options="
CREATE DOMAIN pg_temp.hd AS int;
ALTER TABLE tdb.vault ADD COLUMN human_extra pg_temp.hd;
ALTER TABLE tdb.vault DROP COLUMN human_extra;
CREATE COLLATION pg_temp.hc (provider = libc, locale = 'C');
ALTER TABLE tdb.vault ADD COLUMN human_memo text COLLATE pg_temp.hc;
ALTER TABLE tdb.vault DROP COLUMN human_memo;
ALTER TYPE tdb.ct8 ADD ATTRIBUTE hz text COLLATE pg_temp.hc CASCADE;
ALTER TYPE tdb.ct8 DROP ATTRIBUTE hz CASCADE;
SELECT agent_guard.unprotect('tdb.kid8');
SELECT agent_guard.unprotect('tdb.vault');
DROP SCHEMA tdb CASCADE;
DROP SCHEMA tdh CASCADE;
DROP OWNED BY regress_td_human;
DROP ROLE regress_td_human;
