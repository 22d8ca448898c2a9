--
-- capture_images: the row images of events are exactly what to_jsonb(row)
-- gives, for every column type capture builds images of itself (bool,
-- numbers, dates and times, text-like types, domains, dropped columns) and
-- for the types it leaves to to_jsonb() (arrays, composites, jsonb,
-- user-defined types); a json column's text (rowimage.c)
--
\c "dbname=contrib_regression user=regress_su options="
SET ROLE regress_bot;
CREATE DOMAIN app.img_posint AS int CHECK (VALUE > 0);
CREATE TABLE app.img_simple (
    id bigint PRIMARY KEY, b boolean, i2 smallint, i4 integer, f4 real, f8 double precision,
    n numeric, gone text, d date, ts timestamp, tz timestamptz, t text, vc varchar(10),
    bc char(4), nm name, u uuid, ip inet, by bytea, iv interval, tm time, p app.img_posint,
    big text, "Mixed Case" text);
ALTER TABLE app.img_simple DROP COLUMN gone;
CREATE TYPE app.img_mood AS ENUM ('calm', 'angry');
CREATE TYPE app.img_pair AS (a int, b text);
CREATE TABLE app.img_other (
    id int PRIMARY KEY, arr int[], tarr text[], pr app.img_pair, j json, jb jsonb, m app.img_mood, n numeric);
RESET ROLE;
SELECT agent_guard.protect('app.img_simple');
SELECT agent_guard.protect('app.img_other', soft_delete => false);

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-images"
SET timezone = 'America/New_York';
SET extra_float_digits = 0;
SET intervalstyle = 'postgres';
INSERT INTO app.img_simple VALUES
    (1, true, -32768, 2147483647, 1.5, -0.1, 123.4500, '2024-02-29', '2024-01-02 03:04:05.678',
     '2024-06-30 23:59:59+02', 'plain', 'vc', 'bc', 'nm', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
     '10.1.2.3/8', '\x00ff', '1 day 02:03:04', '12:34:56', 7, repeat('x', 3000), 'mc'),
    (2, false, 0, 0, 'NaN', 'Infinity', 'NaN', 'infinity', '-infinity', 'infinity',
     E'quote" back\\ tab\t nl\n uni é', '', '', '', NULL, NULL, '\x', '0', '00:00', 1, '', ''),
    (3, NULL, NULL, NULL, '-Infinity', 1e300, -0.000001, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    (4, true, 1, 1, 1e-40, 5e-324, 1e1000, '0001-01-01 BC', '294276-12-31 23:59:59',
     '1999-12-31 19:00:00-05', 'x', 'x', 'x', 'x', NULL, '::1', NULL, '-1 year', '24:00', 2, 'x', 'x'),
    (-9223372036854775808, NULL, 32767, -2147483648, -0, -0, -0.0, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    (9223372036854775807, NULL, -1, 10, 100, 1e15, 1e16, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
UPDATE app.img_simple SET i4 = i4 - 1, t = t || '!' WHERE id IN (1, 2);
INSERT INTO app.img_other VALUES
    (1, '{1,2,NULL}', '{"a b",NULL}', ROW(1, 'x'), '{"k": [1, 2.50, "s"], "k": 3}', '{"z": 1, "a": [true]}', 'calm', 1.50),
    (2, '{}', NULL, NULL, '"scalar"', '4.20', NULL, 'NaN'),
    (3, '{{1,2},{3,4}}', '{}', ROW(NULL, NULL), 'null', 'null', 'angry', NULL);
UPDATE app.img_other SET n = n + 1 WHERE id <= 2;
DELETE FROM app.img_simple WHERE id = 3;
DELETE FROM app.img_other WHERE id = 3;

\c "dbname=contrib_regression user=regress_su options="
-- the images print with the pinned output settings, not the agent's
-- (outputpin.c; red team 15B, finding 1)
SET timezone = 'UTC';
SET extra_float_digits = 1;
SET intervalstyle = 'postgres';
-- the newest image of every live row is to_jsonb() of the row, byte for byte
SELECT s.id, e.operation, e.new_row::text = to_jsonb(s)::text AS same,
       jsonb_send(e.new_row) = jsonb_send(to_jsonb(s)) AS same_bytes
  FROM app.img_simple s
  JOIN LATERAL (SELECT * FROM agent_guard.events e
                 WHERE e.relation = 'app.img_simple' AND e.row_key = jsonb_build_object('id', s.id)
                 ORDER BY e.event_id DESC LIMIT 1) e ON true
 ORDER BY s.id;
-- a json column keeps its text instead, marked under the key "" (and a
-- jsonb column's JSON null is marked: red team 27, finding 2); the image
-- is agent_guard._row_image() of the row, byte for byte
SELECT s.id, e.operation, e.new_row::text = agent_guard._row_image(s)::text AS same,
       jsonb_send(e.new_row) = jsonb_send(agent_guard._row_image(s)) AS same_bytes
  FROM app.img_other s
  JOIN LATERAL (SELECT * FROM agent_guard.events e
                 WHERE e.relation = 'app.img_other' AND e.row_key = jsonb_build_object('id', s.id)
                 ORDER BY e.event_id DESC LIMIT 1) e ON true
 ORDER BY s.id;
SELECT s.id, k, e.new_row->k AS image, to_jsonb(s)->k AS to_jsonb
  FROM app.img_other s
  JOIN LATERAL (SELECT * FROM agent_guard.events e
                 WHERE e.relation = 'app.img_other' AND e.row_key = jsonb_build_object('id', s.id)
                 ORDER BY e.event_id DESC LIMIT 1) e ON true,
       jsonb_object_keys(e.new_row || to_jsonb(s)) k
 WHERE (e.new_row->k)::text IS DISTINCT FROM (to_jsonb(s)->k)::text
 ORDER BY 1, 2;
-- the keys where they differ, if they do
SELECT s.id, k, e.new_row->k AS image, to_jsonb(s)->k AS to_jsonb
  FROM app.img_simple s
  JOIN LATERAL (SELECT * FROM agent_guard.events e
                 WHERE e.relation = 'app.img_simple' AND e.row_key = jsonb_build_object('id', s.id)
                 ORDER BY e.event_id DESC LIMIT 1) e ON true,
       jsonb_object_keys(e.new_row || to_jsonb(s)) k
 WHERE (e.new_row->k)::text IS DISTINCT FROM (to_jsonb(s)->k)::text
 ORDER BY 1, 2;
-- every UPDATE's old image is the INSERT's new image; the DELETE's old
-- image is the last new image
SELECT e.relation, e.operation, e.row_key,
       e.old_row IS NOT DISTINCT FROM (SELECT p.new_row FROM agent_guard.events p
                                        WHERE p.relation = e.relation AND p.row_key = e.row_key
                                          AND p.event_id < e.event_id
                                        ORDER BY p.event_id DESC LIMIT 1) AS chains
  FROM agent_guard.events e
 WHERE e.run_id = 'run-images' AND e.operation IN ('UPDATE', 'DELETE', 'SOFT_DELETE')
 ORDER BY e.event_id;
-- the images themselves, readable (the long text shortened)
SELECT e.operation, e.new_row - 'big' AS new_row, length(e.new_row->>'big') AS big
  FROM agent_guard.events e
 WHERE e.run_id = 'run-images' AND e.relation = 'app.img_simple' AND e.operation = 'INSERT'
 ORDER BY e.event_id;
SELECT e.operation, e.new_row
  FROM agent_guard.events e
 WHERE e.run_id = 'run-images' AND e.relation = 'app.img_other' AND e.operation = 'INSERT'
 ORDER BY e.event_id;
-- after a column changes type, images follow the new type
ALTER TABLE app.img_simple ALTER COLUMN i4 TYPE text;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-images"
SET intervalstyle = 'postgres';
UPDATE app.img_simple SET b = NOT b WHERE id = 1;
\c "dbname=contrib_regression user=regress_su options="
SET intervalstyle = 'postgres';
SET timezone = 'UTC';
SELECT e.operation, e.new_row->'i4' AS i4, k, e.new_row->k AS image, to_jsonb(s)->k AS to_jsonb
  FROM agent_guard.events e JOIN app.img_simple s ON s.id = 1,
       jsonb_object_keys(e.new_row || to_jsonb(s)) k
 WHERE e.event_id = (SELECT max(event_id) FROM agent_guard.events WHERE run_id = 'run-images')
   AND ((e.new_row->k)::text IS DISTINCT FROM (to_jsonb(s)->k)::text OR k = 'i4');
