--
-- rt11_open: red team 11's findings left open by rt11fix (issue #16).
-- 1. (finding 4) The rows an agent's rule action writes in a human's
--    statement count toward the agent's max_rows_per_statement (YG004 past
--    it, kind "refused"), whatever WHERE qualifies them; the agent's freeze
--    (YG006) and policy (YG008) hold for them.  The human's own rows are not
--    the agent's.  In the agent's own session, the rows of its DO ALSO
--    rule's action count as its statement's (YG003 past the limit).
-- 2. (finding 9) A column of a protected table whose type runs an agent's
--    function on every write (a range type's subtype_diff, also through an
--    array, a domain or a composite type), and an index or statistics on
--    such a column, need a human's approval (YG003); the function is relied
--    upon: CREATE OR REPLACE and ALTER of it are refused (YG004).  Also when
--    a parent's ALTER TABLE or CREATE INDEX passes them down to a protected
--    child or partition.  A human may do all of it.
-- 3. (finding 8, variant) A table the agent made in its session is no
--    scratch once a column of a relation that is not scratch uses its row
--    type: DROP COLUMN, ALTER COLUMN TYPE and DROP TABLE ... CASCADE of it
--    need approval.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
CREATE ROLE regress_r11_human LOGIN;          -- a human, not a superuser
CREATE SCHEMA r11 AUTHORIZATION regress_bot;  -- the agent's
GRANT USAGE ON SCHEMA r11 TO PUBLIC;
CREATE SCHEMA r11h AUTHORIZATION regress_r11_human;  -- the human's

-- 1. an agent's rules on its table, which humans write
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r11-1"
CREATE TABLE r11.jobs (id int, what text);
CREATE TABLE r11.big (id int PRIMARY KEY);
INSERT INTO r11.big SELECT generate_series(1, 1200);
CREATE TABLE r11.joblog (id int);
GRANT SELECT, INSERT ON r11.jobs TO regress_r11_human;
GRANT SELECT, DELETE ON r11.big TO regress_r11_human;
GRANT SELECT, DELETE ON r11.joblog TO regress_r11_human;
CREATE RULE r_nn AS ON INSERT TO r11.jobs WHERE NEW.what = 'nn'
    DO ALSO DELETE FROM r11.big WHERE id IS NOT NULL;
CREATE RULE r_few AS ON INSERT TO r11.jobs WHERE NEW.what = 'few'
    DO ALSO DELETE FROM r11.big WHERE id <= 10;
CREATE RULE r_log AS ON INSERT TO r11.jobs WHERE NEW.what = 'log'
    DO ALSO INSERT INTO r11.joblog VALUES (NEW.id);
CREATE RULE r_copy AS ON INSERT TO r11.jobs WHERE NEW.what = 'copy'
    DO ALSO INSERT INTO r11.joblog SELECT id FROM r11.big WHERE id > NEW.id;
\c "dbname=contrib_regression user=regress_su options="
SELECT coalesce(max(request_id), 0) AS r11_before FROM agent_guard.requests \gset
\c "dbname=contrib_regression user=regress_r11_human options="
\set SHOW_CONTEXT never
-- ten rows of the agent's rule pass
INSERT INTO r11.jobs VALUES (1, 'few');
\set VERBOSITY sqlstate
-- error: YG004 (1190 rows, more than max_rows_per_statement)
INSERT INTO r11.jobs VALUES (2, 'nn');
-- error: YG004 (its INSERT ... SELECT: 1189 rows)
INSERT INTO r11.jobs VALUES (11, 'copy');
\set VERBOSITY default
SELECT count(*) AS big_rows, (SELECT count(*) FROM r11.joblog) AS logged FROM r11.big;
-- 190 rows of its INSERT ... SELECT pass
INSERT INTO r11.jobs VALUES (1010, 'copy');
DELETE FROM r11.joblog;
-- the human's own 1500 rows are not the agent's
INSERT INTO r11.jobs SELECT g, 'x' FROM generate_series(100, 1599) g;
INSERT INTO r11.jobs VALUES (3, 'log');
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.freeze('incident 11', 'regress_bot');
\c "dbname=contrib_regression user=regress_r11_human options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG006
INSERT INTO r11.jobs VALUES (4, 'log');
\set VERBOSITY default
-- the human's own rule, which reads the agent's table with rules, is not the agent's
CREATE TABLE r11h.t (id int);
CREATE TABLE r11h.tlog (id int, job int);
INSERT INTO r11h.tlog VALUES (1, NULL);
CREATE RULE h_log AS ON INSERT TO r11h.t DO ALSO
    UPDATE r11h.tlog SET job = j.id FROM r11.jobs j WHERE j.id = NEW.id AND tlog.id = 1;
INSERT INTO r11h.t VALUES (3);
SELECT * FROM r11h.tlog;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unfreeze('regress_bot');
SELECT mode FROM agent_guard.set_policy('regress_bot', 'read_only');
\c "dbname=contrib_regression user=regress_r11_human options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG008
INSERT INTO r11.jobs VALUES (5, 'log');
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.drop_policy('regress_bot');
\c "dbname=contrib_regression user=regress_r11_human options="
\set SHOW_CONTEXT never
INSERT INTO r11.jobs VALUES (6, 'log');
SELECT array_agg(id ORDER BY id) AS logged FROM r11.joblog;
SELECT count(*) AS jobs FROM r11.jobs;
-- in the agent's own session its rule's rows count too: error YG003
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r11-1b"
\set VERBOSITY sqlstate
INSERT INTO r11.jobs VALUES (7, 'nn');
\set VERBOSITY default
SELECT count(*) AS big_rows FROM r11.big;
-- the human's side: the same DELETE, the human's own, runs
\c "dbname=contrib_regression user=regress_r11_human options="
DELETE FROM r11.big WHERE id IS NOT NULL;
SELECT count(*) AS big_rows FROM r11.big;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT agent_id, kind, reason FROM agent_guard.requests WHERE request_id > :r11_before
 ORDER BY request_id;

-- 2. a range type whose subtype_diff is the agent's, on a protected table
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r11-2"
CREATE TABLE r11.rooms (id int PRIMARY KEY, note text);
GRANT SELECT, INSERT, UPDATE ON r11.rooms TO regress_r11_human;
CREATE TABLE r11.switch (closed boolean);
CREATE FUNCTION r11.slot_diff(a int, b int) RETURNS float8 LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM r11.switch) THEN RAISE EXCEPTION 'rooms are closed'; END IF;
    RETURN a::float8 - b::float8;
END $$;
CREATE TYPE r11.slot AS RANGE (SUBTYPE = int4, SUBTYPE_DIFF = r11.slot_diff);
CREATE DOMAIN r11.dslot AS r11.slot;
CREATE TYPE r11.pair AS (s r11.slot, t text);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('r11.rooms');
SELECT coalesce(max(request_id), 0) AS r11_before FROM agent_guard.requests \gset
\c "dbname=contrib_regression user=regress_r11_human options="
INSERT INTO r11.rooms SELECT g, 'room ' || g FROM generate_series(1, 20) g;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r11-2"
\set VERBOSITY sqlstate
-- error: YG003, each
ALTER TABLE r11.rooms ADD COLUMN booked r11.slot;
ALTER TABLE r11.rooms ADD COLUMN booked r11.slot[];
ALTER TABLE r11.rooms ADD COLUMN booked r11.dslot;
ALTER TABLE r11.rooms ADD COLUMN booked r11.pair;
ALTER TABLE r11.rooms ADD COLUMN booked r11.slot_multirange;
ALTER TABLE r11.rooms ALTER COLUMN note TYPE r11.slot USING NULL;
\set VERBOSITY default
-- a range type of the system's functions stays the agent's to add
ALTER TABLE r11.rooms ADD COLUMN spare int4range;
\c "dbname=contrib_regression user=regress_su options="
-- the human's side: a human adds the column
ALTER TABLE r11.rooms ADD COLUMN booked r11.slot;
\c "dbname=contrib_regression user=regress_r11_human options="
UPDATE r11.rooms SET booked = r11.slot(id * 10, id * 10 + 5);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r11-2"
\set VERBOSITY sqlstate
-- error: YG003, each
CREATE INDEX rooms_booked ON r11.rooms USING gist (booked);
CREATE INDEX rooms_booked ON r11.rooms USING gist ((booked));
CREATE STATISTICS r11.rooms_st ON id, booked FROM r11.rooms;
-- error: YG004, each: the function is relied upon
CREATE OR REPLACE FUNCTION r11.slot_diff(a int, b int) RETURNS float8 LANGUAGE sql IMMUTABLE
    AS 'SELECT 1/0';
ALTER FUNCTION r11.slot_diff(int, int) VOLATILE;
\set VERBOSITY default
-- an index on a column of the system's types stays the agent's to add
CREATE INDEX rooms_spare ON r11.rooms USING gist (spare);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT kind, reason FROM agent_guard.requests WHERE request_id > :r11_before
 ORDER BY request_id;
SELECT indexrelid::regclass AS index FROM pg_index WHERE indrelid = 'r11.rooms'::regclass
 ORDER BY 1;
SELECT count(*) AS statistics FROM pg_statistic_ext WHERE stxrelid = 'r11.rooms'::regclass;
-- the human's side: a human indexes it, and humans' writes run
CREATE INDEX rooms_booked ON r11.rooms USING gist (booked);
\c "dbname=contrib_regression user=regress_r11_human options="
INSERT INTO r11.rooms VALUES (500, 'late', r11.slot(5000, 5009));
SELECT count(*) AS rooms FROM r11.rooms WHERE booked && r11.slot(100, 120);

-- 2b. through a parent: ADD COLUMN of an inheritance parent reaches its
--     protected child, CREATE INDEX of a partitioned table its protected
--     partition (the index PostgreSQL clones to it): YG003
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r11-2b"
CREATE TABLE r11.base (id int);
CREATE TABLE r11.kid (PRIMARY KEY (id)) INHERITS (r11.base);
CREATE TABLE r11.pp (id int, b r11.slot, ag_agent_id text, ag_run_id text) PARTITION BY RANGE (id);
CREATE TABLE r11.pp_1 PARTITION OF r11.pp FOR VALUES FROM (0) TO (100);
ALTER TABLE r11.pp_1 ADD PRIMARY KEY (id);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('r11.kid', false);
SELECT agent_guard.protect('r11.pp_1', false);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r11-2b"
\set VERBOSITY sqlstate
-- error: YG003, each
ALTER TABLE r11.base ADD COLUMN booked r11.slot;
CREATE INDEX pp_b ON r11.pp USING gist (b);
\set VERBOSITY default
-- an index ON ONLY the partitioned table reaches no partition: the agent's to make
CREATE INDEX pp_b ON ONLY r11.pp USING gist (b);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT kind, reason FROM agent_guard.requests WHERE run_id = 'run-r11-2b' ORDER BY request_id;
SELECT attname FROM pg_attribute WHERE attrelid = 'r11.kid'::regclass AND attname = 'booked';
SELECT indexrelid::regclass AS index FROM pg_index WHERE indrelid = 'r11.pp_1'::regclass ORDER BY 1;
SELECT agent_guard.unprotect('r11.kid');
SELECT agent_guard.unprotect('r11.pp_1');

-- 3. a table made in the agent's session, whose row type a protected
--    table's column uses, is no scratch in that session
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r11-3"
CREATE TABLE r11.old (id int);                  -- an earlier session's table
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r11-3"
CREATE TABLE r11.money (amount int, currency text);
ALTER TABLE r11.rooms ADD COLUMN m r11.money;
UPDATE r11.rooms SET m = ROW(100 * id, 'EUR') WHERE id <= 2;
CREATE TABLE r11.tag (label text, weight int);
ALTER TABLE r11.old ADD COLUMN t r11.tag;
INSERT INTO r11.old VALUES (1, ROW('kept', 7));
CREATE TABLE r11.loose (a int, b text);          -- no one uses its row type
\set VERBOSITY sqlstate
-- error: YG003, each
ALTER TABLE r11.money DROP COLUMN amount;
ALTER TABLE r11.money ALTER COLUMN amount TYPE bigint;
DROP TABLE r11.money CASCADE;
ALTER TABLE r11.tag DROP COLUMN weight;
\set VERBOSITY default
-- still the session's scratch
ALTER TABLE r11.loose DROP COLUMN a;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT kind, reason FROM agent_guard.requests WHERE run_id = 'run-r11-3' ORDER BY request_id;
SELECT id, (m).amount, (m).currency FROM r11.rooms WHERE m IS NOT NULL ORDER BY id;
SELECT id, (t).label, (t).weight FROM r11.old;
SELECT attname FROM pg_attribute WHERE attrelid = 'r11.loose'::regclass AND attnum > 0
   AND NOT attisdropped ORDER BY attnum;
-- the human's side: a human may
ALTER TABLE r11.tag DROP COLUMN weight;
SELECT id, t FROM r11.old;

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unprotect('r11.rooms');
DROP SCHEMA r11 CASCADE;
DROP SCHEMA r11h CASCADE;
DROP OWNED BY regress_r11_human;
DROP ROLE regress_r11_human;
