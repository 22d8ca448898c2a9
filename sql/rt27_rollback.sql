--
-- rt27_rollback: row images keep every value exactly (red team 27, F2;
-- red team 28a, F2).
-- A json column was logged as jsonb prints it (whitespace, key order and
-- duplicate keys lost), and a rollback wrote that back, also into rows
-- whose json the agent never touched; json[] likewise; hstore and any
-- type with a cast to json were logged through the cast (a user's
-- function, run by to_jsonb() as the writer).  Now such a column's text
-- is logged (a JSON string) and marked under the image's key "", and the
-- rollback reads a marked column from its text: an agent changes another
-- column, deletes a row and inserts one, rollback_run() puts back every
-- value byte for byte, and the user's cast to json is never called.
-- From the human's side: the same writes work, and the log verifies.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 975000, false) AS ids_from;
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE SCHEMA r27;
GRANT USAGE ON SCHEMA r27 TO regress_bot, regress_human;
GRANT EXECUTE ON FUNCTION agent_guard.rollback_run(text, boolean, text) TO regress_human;
-- a type with a user's cast to json, which says when it runs
CREATE TYPE r27.tag AS ENUM ('red', 'green', 'blue');
CREATE FUNCTION r27.tag_json(r27.tag) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'the cast to json of tag % ran', $1;
    RETURN json_build_object('tag', $1::text);
END
$$;
CREATE CAST (r27.tag AS json) WITH FUNCTION r27.tag_json(r27.tag);
CREATE DOMAIN r27.doc AS json;
CREATE TYPE r27.pair AS (label text, body json);
CREATE TABLE r27.docs (id int PRIMARY KEY, j json, jd r27.doc, ja json[], jb jsonb[],
                       h hstore, t r27.tag, tt r27.tag[], p r27.pair, jn json NOT NULL DEFAULT 'null',
                       b jsonb, note text);
INSERT INTO r27.docs VALUES
    (1, '{"b": 1,   "a": 2, "a": 3}', ' [1,  2] ', ARRAY['{"x":  1}', '[ ]']::json[], ARRAY['null', '{"k": null}']::jsonb[],
     'a=>1, "b c"=>"x y", z=>NULL', 'red', '{green,blue}', ROW('one', '{ "q" : true }'), 'null', '{"n": 1.50}', 'one'),
    (2, '"str"', 'null', '[0:1]={"1","  2"}', '{}', '', 'green', '{}', ROW(NULL, NULL), '{"  spaced key": [ ]}', 'null', 'two'),
    (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '0', NULL, 'three'),
    (4, '{"dup": 1, "dup": 2}', '{}', '{}', '{NULL}', 'k=>v', 'blue', '{red,NULL}', ROW('x', '[1,   2]'), '  17  ', '[]', 'four');
CREATE TABLE r27.before AS
    SELECT id, j::text AS j, jd::text AS jd, ja::text AS ja, jb::text AS jb, h::text AS h, t::text AS t,
           tt::text AS tt, p::text AS p, jn::text AS jn, b::text AS b, note FROM r27.docs;
SELECT agent_guard.protect('r27.docs', soft_delete => false);
GRANT SELECT, INSERT, UPDATE, DELETE ON r27.docs TO regress_bot, regress_human;
-- a soft-delete table with a json column (and a dropped one, whose old
-- values stay in the rows)
CREATE TABLE r27.notes (id int PRIMARY KEY, gone json, j json);
INSERT INTO r27.notes VALUES (1, (repeat(' ', 5000) || '1')::json, '{"z": 1,  "a": [ 1 ]}'), (2, '2', '  true');
ALTER TABLE r27.notes DROP COLUMN gone;
SELECT agent_guard.protect('r27.notes');
GRANT SELECT, INSERT, UPDATE, DELETE ON r27.notes TO regress_bot, regress_human;

-- the agent's side: no NOTICE from the cast, other columns changed
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt27-a"
\set SHOW_CONTEXT never
BEGIN;
UPDATE r27.docs SET note = note || ' edited' WHERE id > 0;
DELETE FROM r27.docs WHERE id = 4;
INSERT INTO r27.docs (id, j, t, note) VALUES (5, '{"new":  1}', 'red', 'five');
DELETE FROM r27.notes WHERE id = 1;
UPDATE r27.notes SET j = '[ ]' WHERE id = 2;
COMMIT;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- the images: marked columns hold their text
SELECT row_key, old_row -> '' AS marks, old_row -> 'j' AS j, old_row -> 'h' AS h, old_row -> 't' AS t,
       old_row -> 'jb' AS jb, old_row -> 'b' AS b
  FROM agent_guard.events WHERE relation = 'r27.docs' AND operation = 'UPDATE' ORDER BY row_key;
SELECT new_row -> '' AS marks, new_row -> 'j' AS j FROM agent_guard.events
 WHERE relation = 'r27.docs' AND operation = 'INSERT';
-- the image SQL prints is the one the row trigger logged
SELECT count(*) AS same_images FROM agent_guard.events e JOIN r27.docs d ON e.row_key = jsonb_build_object('id', d.id)
 WHERE e.relation = 'r27.docs' AND e.operation IN ('UPDATE', 'INSERT') AND e.new_row = agent_guard._row_image(d.*);
-- images written before the marks: the rollback compares a row with one
-- in its old form (to_jsonb(), through the cast, as that version did),
-- and reads an unmarked json column as before (normalised), an unmarked
-- null as SQL NULL; a marked one from its text
SELECT d.id, agent_guard._row_image(d.*, '{"id": 0}') = to_jsonb(d) AS old_form,
       agent_guard._row_image(d.*, '{"": []}') = agent_guard._row_image(d.*) AS marked_form
  FROM r27.docs d WHERE d.id IN (1, 3) ORDER BY d.id;
SELECT format('SELECT o.id, o.j::text AS j, o.b IS NULL AS b_sql_null FROM %s',
              agent_guard._typed_record('r27.docs', ARRAY['id', 'j', 'b'], quote_literal(v.img) || '::jsonb', 'o'))
  FROM (VALUES ('{"id": 1, "j": {"b": 1, "a": 3}, "b": null}'),
               ('{"": ["j", "b"], "id": 2, "j": "{\"b\": 1,  \"a\": 3}", "b": null}')) v(img) \gexec
-- a human's session: rollback_run() puts back every value byte for byte
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
SELECT step, operation, row_key, status FROM agent_guard.rollback_run('run-rt27-a') ORDER BY step;
SELECT step, operation, row_key, status FROM agent_guard.rollback_run('run-rt27-a', apply => true) ORDER BY step;
SELECT id, j::text, jd::text, ja::text, h::text, t, p::text, jn::text FROM r27.docs ORDER BY id;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- no row differs from before the run, in any column's text
SELECT 'before' AS side, * FROM (SELECT * FROM r27.before
         EXCEPT SELECT id, j::text, jd::text, ja::text, jb::text, h::text, t::text, tt::text, p::text, jn::text, b::text, note FROM r27.docs) x
UNION ALL
SELECT 'now', * FROM (SELECT id, j::text, jd::text, ja::text, jb::text, h::text, t::text, tt::text, p::text, jn::text, b::text, note FROM r27.docs
         EXCEPT SELECT * FROM r27.before) y ORDER BY 2, 1;
-- json[]'s bounds, a JSON null inside jsonb[], a jsonb column's JSON null
-- (row 2) and SQL NULL (row 3) as they were
SELECT id, array_lower(ja, 1) AS lower, jb[1] IS NULL AS jb1_sql_null, jb[1] = 'null' AS jb1_json_null,
       b IS NULL AS b_sql_null, b = 'null' AS b_json_null
  FROM r27.docs WHERE id IN (1, 2, 3) ORDER BY id;
SELECT id, j::text, ag_deleted_at IS NULL AS live FROM r27.notes ORDER BY id;
SELECT ok FROM agent_guard.verify_log();

-- a run that changes only the json: put back as it was, and a later
-- human change of only the whitespace is a conflict (the images compare
-- the text)
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt27-b"
\set SHOW_CONTEXT never
UPDATE r27.docs SET j = '{"a": 3, "b": 1}' WHERE id = 1;
UPDATE r27.docs SET j = '{"dup": 2}' WHERE id = 4;
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
UPDATE r27.docs SET j = '{"a": 3,  "b": 1}' WHERE id = 1;
SELECT step, row_key, status, left(detail, 60) AS detail FROM agent_guard.rollback_run('run-rt27-b') ORDER BY step;
SELECT step, row_key, status FROM agent_guard.rollback_run('run-rt27-b', true, 'skip') ORDER BY step;
SELECT id, j::text FROM r27.docs WHERE id IN (1, 4) ORDER BY id;

-- the human's side: the same writes work
UPDATE r27.docs SET note = note || ' by a human' WHERE id = 2;
DELETE FROM r27.docs WHERE id = 3;
INSERT INTO r27.docs (id, j, h, t) VALUES (6, '{ "human" : 1 }', 'a=>b', 'blue');
SELECT id, j::text, h::text, t, note FROM r27.docs WHERE id IN (2, 3, 6) ORDER BY id;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT ok FROM agent_guard.verify_log();
SELECT count(*) AS requests FROM agent_guard.request_log WHERE request_id >= 975000;

-- cleanup
SELECT agent_guard.unprotect(t) FROM unnest(ARRAY['r27.docs', 'r27.notes']::regclass[]) t;
DROP SCHEMA r27 CASCADE;
DROP EXTENSION hstore;
