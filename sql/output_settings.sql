--
-- output_settings: row images, keys and requests do not depend on how the
-- agent's session prints or reads values (red team 15B, findings 1 and 7).
-- An agent with TimeZone, extra_float_digits, IntervalStyle, bytea_output
-- and DateStyle of its own writes to rows a human wrote; the images read
-- as with the pinned settings, and rollback_run() restores every value
-- exactly.  An approval holds only under the DateStyle it was requested
-- with, and for no more rows than its request said.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
CREATE SCHEMA os;
GRANT USAGE ON SCHEMA os TO regress_bot;
-- every column's type is printed by the row trigger itself
CREATE TABLE os.fast (id int PRIMARY KEY, f8 float8, f4 real, tz timestamptz, iv interval,
                      by bytea, d date, ts timestamp, m money, n int);
-- an array and a jsonb column: the image is to_jsonb()'s
CREATE TABLE os.slow (id int PRIMARY KEY, f8 float8, tz timestamptz, iv interval,
                      by bytea, arr float8[], tzs timestamptz[], j jsonb, n int);
-- a timestamptz key
CREATE TABLE os.keyed (at timestamptz PRIMARY KEY, n int);
INSERT INTO os.fast VALUES
    (1, 1234.5678, 1.1, '2024-01-01 10:00+00', '-1 day -02:00', '\x0102ff', '2024-02-01', '2024-02-01 03:04:05', 12.34, 0),
    (2, 0.1, 3.14159, '2024-06-30 23:59:59.123456+02', '1 year 2 mons -3 days 04:05:06.5', '\x', '0044-03-15 BC', 'infinity', -0.5, 0),
    (3, 1e-300, 'NaN', '-infinity', '0', NULL, NULL, NULL, NULL, 0);
INSERT INTO os.slow VALUES
    (1, 1234.5678, '2024-01-01 10:00+00', '-1 day -02:00', '\x0102ff', '{1234.5678,0.1}',
     '{"2024-01-01 10:00+00"}', '{"a": 1}', 0);
INSERT INTO os.keyed VALUES ('2024-01-01 10:00+00', 0), ('2024-07-01 10:00+00', 0);
GRANT SELECT, UPDATE, DELETE ON os.fast, os.slow, os.keyed TO regress_bot;
SELECT agent_guard.protect('os.fast');
SELECT agent_guard.protect('os.slow', soft_delete => false);
SELECT agent_guard.protect('os.keyed', soft_delete => false);
CREATE TABLE os_before_fast AS SELECT * FROM os.fast;
CREATE TABLE os_before_slow AS SELECT * FROM os.slow;
CREATE TABLE os_before_keyed AS SELECT * FROM os.keyed;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-os-1"
SET TimeZone = 'Asia/Kolkata';
SET extra_float_digits = -15;
SET IntervalStyle = sql_standard;
SET bytea_output = escape;
SET DateStyle = 'SQL, DMY';
UPDATE os.fast SET n = 1 WHERE id > 0;
UPDATE os.slow SET n = 1 WHERE id > 0;
UPDATE os.keyed SET n = 1 WHERE n = 0;
DELETE FROM os.fast WHERE id = 3;
DELETE FROM os.keyed WHERE at = '2024-07-01 10:00+00';
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-os-2"
SET TimeZone = 'America/St_Johns';
SET extra_float_digits = 3;
SET IntervalStyle = postgres_verbose;
SET DateStyle = 'German';
UPDATE os.fast SET n = 2, f8 = f8 * 2 WHERE id = 1;
UPDATE os.slow SET n = 2 WHERE id = 1;

\c "dbname=contrib_regression user=regress_su options="
-- the images, as the pinned settings print them, whatever the reader's
SELECT e.run_id, e.relation, e.operation, e.row_key, e.old_row - 'ag_agent_id' - 'ag_run_id' - 'ag_deleted_at' AS old_row
  FROM agent_guard.events e WHERE e.run_id IN ('run-os-1', 'run-os-2') ORDER BY e.event_id;
-- the first old image of every row is to_jsonb() of the human's row with the pinned settings
BEGIN;
SET LOCAL TimeZone = 'UTC'; SET LOCAL extra_float_digits = 1; SET LOCAL IntervalStyle = postgres;
SET LOCAL bytea_output = hex; SET LOCAL DateStyle = 'ISO, YMD';
SELECT e.relation, e.row_key, e.old_row - 'ag_run_id' - 'ag_agent_id' - 'ag_deleted_at' = x.b AS same
  FROM agent_guard.events e
  JOIN LATERAL (SELECT to_jsonb(b) - 'ag_run_id' - 'ag_agent_id' - 'ag_deleted_at' FROM os_before_fast b
                 WHERE e.relation = 'os.fast' AND (e.row_key->>'id')::int = b.id
                UNION ALL SELECT to_jsonb(b) - 'ag_run_id' - 'ag_agent_id' FROM os_before_slow b WHERE e.relation = 'os.slow' AND (e.row_key->>'id')::int = b.id
                UNION ALL SELECT to_jsonb(b) - 'ag_run_id' - 'ag_agent_id' FROM os_before_keyed b WHERE e.relation = 'os.keyed' AND e.row_key = jsonb_build_object('at', b.at)) x(b) ON true
 WHERE e.run_id = 'run-os-1' AND e.operation = 'UPDATE' ORDER BY e.event_id;
COMMIT;
-- both runs roll back, in this session's own settings, and every value is back
SET TimeZone = 'Pacific/Auckland';
SET extra_float_digits = -10;
SET IntervalStyle = iso_8601;
SET bytea_output = escape;
SELECT step, relation, operation, status FROM agent_guard.rollback_run('run-os-2', apply => true) ORDER BY step, event_id;
SELECT step, relation, operation, status FROM agent_guard.rollback_run('run-os-1', apply => true) ORDER BY step, event_id;
SELECT 'fast' AS t, count(*) AS rows,
       count(*) FILTER (WHERE record_image_eq(ROW(a.f8, a.f4, a.tz, a.iv, a.by, a.d, a.ts, a.m, a.n),
                                              ROW(b.f8, b.f4, b.tz, b.iv, b.by, b.d, b.ts, b.m, b.n))) AS exact
  FROM os.fast a JOIN os_before_fast b USING (id)
UNION ALL
SELECT 'slow', count(*), count(*) FILTER (WHERE record_image_eq(ROW(a.f8, a.tz, a.iv, a.by, a.arr, a.tzs, a.j, a.n),
                                                                ROW(b.f8, b.tz, b.iv, b.by, b.arr, b.tzs, b.j, b.n)))
  FROM os.slow a JOIN os_before_slow b USING (id)
UNION ALL
SELECT 'keyed', count(*), count(*) FILTER (WHERE record_image_eq(ROW(a.n), ROW(b.n)))
  FROM os.keyed a JOIN os_before_keyed b ON a.at = b.at;
SELECT (SELECT count(*) FROM os.fast WHERE ag_deleted_at IS NOT NULL) AS soft_deleted_left;

-- an approval holds only under the DateStyle it was requested with
ALTER ROLE regress_bot SET agent_guard.max_rows_per_statement = 2;
CREATE TABLE os.dated (id int PRIMARY KEY, d date, v text);
INSERT INTO os.dated SELECT g, date '2024-01-01' + g, 'v' FROM generate_series(1, 40) g;
GRANT SELECT, UPDATE ON os.dated TO regress_bot;
SELECT agent_guard.protect('os.dated');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-os-3"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
SET DateStyle = 'ISO, MDY';
-- error: 4 rows (January 2nd to 5th)
UPDATE os.dated SET v = 'x' WHERE d < '01/06/2024';
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT request_id AS req, reason FROM agent_guard.requests WHERE agent_id = 'regress_bot' ORDER BY request_id DESC LIMIT 1 \gset
SELECT regexp_replace(:'reason', '[0-9]{3,}', 'N', 'g') AS reason;
SELECT status FROM agent_guard.approve(:req);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-os-3"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
SET DateStyle = 'ISO, DMY';
-- error: '01/06/2024' is June 1st now, 40 rows: a new request
UPDATE os.dated SET v = 'x' WHERE d < '01/06/2024';
SET DateStyle = 'ISO, MDY';
-- the approved statement: 4 rows
UPDATE os.dated SET v = 'x' WHERE d < '01/06/2024';
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT regexp_replace(reason, '[0-9]{3,}', 'N', 'g') AS reason, status
  FROM agent_guard.requests WHERE request_id > :req AND agent_id = 'regress_bot' ORDER BY request_id;

-- an approved row-limit statement writes no more rows than its request said
UPDATE os.dated SET v = 'v';
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-os-4"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: 3 rows
UPDATE os.dated SET v = 'y' WHERE v = 'v' AND id <= 3 OR v = 'z';
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT request_id AS req FROM agent_guard.requests WHERE agent_id = 'regress_bot' ORDER BY request_id DESC LIMIT 1 \gset
SELECT status FROM agent_guard.approve(:req);
-- after the approval, more rows match the same statement
UPDATE os.dated SET v = 'z' WHERE id BETWEEN 30 AND 34;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-os-4"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: 8 rows, more than the 3 approved: a new request
UPDATE os.dated SET v = 'y' WHERE v = 'v' AND id <= 3 OR v = 'z';
SELECT count(*) AS written FROM os.dated WHERE v = 'y';
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT regexp_replace(reason, '[0-9]{3,}', 'N', 'g') AS reason, status
  FROM agent_guard.requests WHERE request_id >= :req AND agent_id = 'regress_bot' ORDER BY request_id;
-- with fewer rows matching again, the approval still holds
UPDATE os.dated SET v = 'v' WHERE v = 'z';
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-os-4"
UPDATE os.dated SET v = 'y' WHERE v = 'v' AND id <= 3 OR v = 'z';
\c "dbname=contrib_regression user=regress_su options="
ALTER ROLE regress_bot RESET agent_guard.max_rows_per_statement;
