--
-- rt33_temporal: red team 33, F7 (PostgreSQL 18): a temporal foreign key,
-- FOREIGN KEY (k, PERIOD p) REFERENCES pk (id, PERIOD p), is checked by a
-- query of its own form (the FOR KEY SHARE query inside a subquery whose
-- periods range_agg() must cover the new row's): an agent's write that
-- makes a row reference a soft-deleted row through it is refused (YG004,
-- on record) like one through an ordinary key; a live row still works.
-- From the human's side: the same writes work, and a human's write of a
-- key a soft-deleted row holds, which purges that row implicitly, is
-- refused with YG050 (not PostgreSQL's foreign-key error about a delete
-- the human did not run) when a NO ACTION key references the row; also
-- for an ordinary key, on every version (at the end).
-- On PostgreSQL 15 there are no temporal keys (expected/rt33_temporal_1.out).
--
SELECT current_setting('server_version_num')::int >= 180000 AS temporal_keys \gset
\if :temporal_keys
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1016000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r33t;
CREATE EXTENSION btree_gist SCHEMA r33t;
GRANT USAGE ON SCHEMA r33t TO regress_bot, regress_human;
CREATE TABLE r33t.rooms (id int, during tstzrange, name text,
                         PRIMARY KEY (id, during WITHOUT OVERLAPS));
CREATE TABLE r33t.booking (id int PRIMARY KEY, room int, during tstzrange,
                           FOREIGN KEY (room, PERIOD during) REFERENCES r33t.rooms (id, PERIOD during));
INSERT INTO r33t.rooms VALUES (1, '[2026-01-01,2027-01-01)', 'r1'), (2, '[2026-01-01,2027-01-01)', 'r2'),
                              (3, '[2026-01-01,2026-07-01)', 'r3a'), (3, '[2026-07-01,2027-01-01)', 'r3b');
INSERT INTO r33t.booking VALUES (1, 1, '[2026-03-01,2026-03-02)'), (2, 3, '[2026-03-01,2026-03-02)');
SELECT agent_guard.protect('r33t.rooms');
SELECT agent_guard.protect('r33t.booking');
GRANT SELECT, INSERT, UPDATE, DELETE ON r33t.rooms, r33t.booking TO regress_bot, regress_human;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt33-temporal"
\set SHOW_CONTEXT never
DELETE FROM r33t.rooms WHERE id = 2;                      -- soft delete
DELETE FROM r33t.rooms WHERE name = 'r3b';                -- half of room 3's year
-- refused: a booking of the soft-deleted room, by INSERT and by UPDATE of its key
INSERT INTO r33t.booking VALUES (10, 2, '[2026-03-01,2026-03-02)');
\set VERBOSITY sqlstate
-- error: YG004 each
UPDATE r33t.booking SET room = 2 WHERE id = 1;
UPDATE r33t.booking SET during = '[2026-06-20,2026-07-10)' WHERE id = 2;   -- needs r3b's period
INSERT INTO r33t.booking VALUES (11, 3, '[2026-12-01,2026-12-02)');
\set VERBOSITY default
-- allowed: live rooms and periods, an update of other columns
INSERT INTO r33t.booking VALUES (12, 1, '[2026-04-01,2026-04-02)'), (13, 3, '[2026-05-01,2026-05-02)');
UPDATE r33t.booking SET during = '[2026-03-05,2026-03-06)' WHERE id = 1;
-- still refused where no row covers the period at all (PostgreSQL's own error)
INSERT INTO r33t.booking VALUES (14, 1, '[2027-03-01,2027-03-02)');

\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
-- the human's side: the same writes work (a human may point a row at a soft-deleted one)
BEGIN;
INSERT INTO r33t.booking VALUES (10, 2, '[2026-03-01,2026-03-02)');
UPDATE r33t.booking SET during = '[2026-06-20,2026-07-10)' WHERE id = 2;
SELECT id, room, during FROM r33t.booking WHERE id IN (2, 10) ORDER BY id;
ROLLBACK;
-- a key the soft-deleted room 2 holds: purged implicitly (nothing references it)
INSERT INTO r33t.rooms VALUES (2, '[2026-06-01,2026-07-01)', 'human');
-- the agent's soft delete of room 1, which booking 1 references: it fails
-- as the delete it asked for would (23503)
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt33-temporal"
DELETE FROM r33t.rooms WHERE id = 1;
-- a human points a booking at room 3's soft-deleted period (humans may);
-- the human's new room 3 row there needs the key the soft-deleted row
-- holds, whose purge the booking's NO ACTION key stops: YG050, nothing written
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
INSERT INTO r33t.booking VALUES (20, 3, '[2026-08-01,2026-08-02)');
INSERT INTO r33t.rooms VALUES (3, '[2026-08-01,2026-09-01)', 'human');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT id, room, during FROM r33t.booking ORDER BY id;
SELECT id, name, ag_deleted_at IS NOT NULL AS soft_deleted FROM r33t.rooms ORDER BY id, during;
SELECT agent_guard._flush_requests() AS flushed;
SELECT agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r33t.booking');
SELECT agent_guard.unprotect('r33t.rooms');
DROP SCHEMA r33t CASCADE;
\else
\echo temporal foreign keys: PostgreSQL 18 and later
\endif

-- every version: an ordinary NO ACTION key stops a human's implicit purge
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE SCHEMA r33k;
GRANT USAGE ON SCHEMA r33k TO regress_bot, regress_human;
CREATE TABLE r33k.p (id int PRIMARY KEY, name text);
CREATE TABLE r33k.c (id int PRIMARY KEY, pid int REFERENCES r33k.p (id));
INSERT INTO r33k.p VALUES (1, 'one');
SELECT agent_guard.protect('r33k.p');
GRANT SELECT, INSERT, UPDATE, DELETE ON r33k.p, r33k.c TO regress_bot, regress_human;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt33-keys"
DELETE FROM r33k.p WHERE id = 1;
-- a human points a row at the soft-deleted row (humans may; an agent's
-- soft delete of a row live rows reference fails as its delete would)
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
INSERT INTO r33k.c VALUES (1, 1);
INSERT INTO r33k.p VALUES (1, 'human');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
-- with the reference gone, the implicit purge runs
DELETE FROM r33k.c WHERE id = 1;
INSERT INTO r33k.p VALUES (1, 'human');
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT id, name, ag_deleted_at IS NOT NULL AS soft_deleted FROM r33k.p ORDER BY id;
SELECT operation, row_key FROM agent_guard.events WHERE relation = 'r33k.p' ORDER BY event_id;
SELECT ok FROM agent_guard.verify_log();
SELECT agent_guard.unprotect('r33k.p');
DROP SCHEMA r33k CASCADE;
