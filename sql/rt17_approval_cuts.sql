--
-- rt17_approval_cuts: red team 17a's findings F1 and F3 on what an approval
-- lets run.
--  F1: a request whose reason shows only the start of the text the
--      statement runs (the prepared statement of an EXECUTE, the query of a
--      function: cut at 1,000 bytes, "... (N more characters)") is not
--      approved by approve(id) (YG005), as one whose statement is recorded
--      cut: the human passes that text whole, approve(id, note, text),
--      checked by its SHA-256; the request and the APPROVED event keep it.
--      A wrong text is refused; a request with both its statement and that
--      text cut cannot be approved; a reason cut as it is recorded counts as
--      cutting the text it shows.
--  F3: a row limit's request says its rows per table, and its approval
--      admits at most these rows in each table: rows that go to another
--      table than the request said, within the same total, are a new
--      request; so are rows past a table's count that come after the
--      approval was taken, in the same execution.
-- Humans' statements are not judged: the same long prepared statement, the
-- same split of rows, run for a human.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
-- request ids that do not depend on the tests before this one
SELECT setval('agent_guard.requests_request_id_seq', 750000, false);
CREATE ROLE regress_cut_human LOGIN;
SELECT agent_guard.grant_operator('regress_cut_human');
ALTER ROLE regress_bot SET agent_guard.max_rows_per_run = -1;
CREATE SCHEMA rt17c AUTHORIZATION regress_bot;
CREATE SCHEMA rt17c_app AUTHORIZATION regress_human;
GRANT USAGE ON SCHEMA rt17c_app TO regress_bot, regress_cut_human;
GRANT USAGE ON SCHEMA rt17c TO regress_cut_human;
CREATE FUNCTION rt17c.pending(run text) RETURNS bigint LANGUAGE sql AS $$
  SELECT max(request_id) FROM agent_guard.requests WHERE run_id = run AND status = 'pending'
$$;
GRANT EXECUTE ON FUNCTION rt17c.pending(text) TO regress_cut_human;
SET ROLE regress_human;
CREATE TABLE rt17c_app.customers (id int PRIMARY KEY, email text);
CREATE TABLE rt17c_app.orders (id int PRIMARY KEY, note text);
CREATE TABLE rt17c_app.logs (id int PRIMARY KEY, line text);
INSERT INTO rt17c_app.customers SELECT g, 'U' || g || '@x' FROM generate_series(1, 20) g;
INSERT INTO rt17c_app.orders SELECT g, 'order ' || g FROM generate_series(1, 20) g;
INSERT INTO rt17c_app.logs SELECT g, 'line ' || g FROM generate_series(1, 20) g;
GRANT SELECT, INSERT, UPDATE, DELETE ON rt17c_app.customers, rt17c_app.orders, rt17c_app.logs TO regress_bot;
GRANT SELECT ON rt17c_app.customers, rt17c_app.orders, rt17c_app.logs TO regress_cut_human;
RESET ROLE;
SELECT agent_guard.protect('rt17c_app.customers');
SELECT agent_guard.protect('rt17c_app.orders');
SELECT agent_guard.protect('rt17c_app.logs');

-- F1, 1. EXECUTE of a prepared statement whose text passes 1,000 bytes
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-cut-1"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
SELECT 'PREPARE wipe AS UPDATE rt17c_app.customers SET email = lower(email) /* normalise emails: '
       || repeat('lower case only. ', 60) || '*/ , id = id + 1000' AS prep \gset
:prep;
-- error: no WHERE clause (YG003)
EXECUTE wipe;
-- what the agent (or its harness) hands the human: the prepared text
SELECT statement AS wipe_text FROM pg_prepared_statements WHERE name = 'wipe' \gset
SELECT octet_length(:'wipe_text') AS wipe_bytes;

\c "dbname=contrib_regression user=regress_cut_human options="
\set SHOW_CONTEXT never
\set VERBOSITY default
SELECT rt17c.pending('run-cut-1') AS req_wipe \gset
-- what the human reads: the statement, and the start of the text it runs
SELECT statement, statement_truncated, substring(reason FROM '\(([0-9]+) more characters\)$') AS chars_not_shown,
       position('id = id + 1000' IN reason) AS shows_the_key_change
  FROM agent_guard.requests WHERE request_id = :req_wipe;
-- error: approve(id) alone (YG005)
SELECT status FROM agent_guard.approve(:req_wipe, 'lower-casing is fine');
-- error: the statement is not the text it runs (YG005)
SELECT status FROM agent_guard.approve(:req_wipe, 'lower-casing is fine', 'EXECUTE wipe');
-- error: the start the reason shows is not the whole text (YG005)
SELECT status FROM agent_guard.approve(:req_wipe, 'lower-casing is fine',
       substring(:'wipe_text' FOR 1000));
\set VERBOSITY terse
SELECT status FROM agent_guard.requests WHERE request_id = :req_wipe;
\c "dbname=contrib_regression user=regress_su options="
SELECT source_truncated, source IS NULL AS no_source_yet, octet_length(source_sha256) AS sha_bytes
  FROM agent_guard.request_log WHERE request_id = :req_wipe;
SELECT detail ->> 'source_truncated' AS blocked_says_cut FROM agent_guard.events
 WHERE operation = 'BLOCKED' AND (detail ->> 'request_id')::bigint = :req_wipe;

-- nothing ran: the agent's retry is refused again, the keys are intact
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-cut-1"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
:prep;
-- error: still pending (YG003, a new request)
EXECUTE wipe;
SELECT count(*) FILTER (WHERE id > 1000) AS moved FROM rt17c_app.customers;

-- the human reads the whole text and approves with it; the request and the
-- APPROVED event keep it
\c "dbname=contrib_regression user=regress_cut_human options="
\set SHOW_CONTEXT never
SELECT status, statement FROM agent_guard.approve(:req_wipe, 'read all of it: it moves every key', :'wipe_text' || E';\n');
\c "dbname=contrib_regression user=regress_su options="
SELECT source_truncated, rtrim(source, E';\n') = rtrim(:'wipe_text', ';') AS source_kept
  FROM agent_guard.request_log WHERE request_id = :req_wipe;
SELECT rtrim(detail ->> 'source', E';\n') = rtrim(:'wipe_text', ';') AS approved_with_source FROM agent_guard.events
 WHERE operation = 'APPROVED' AND (detail ->> 'request_id')::bigint = :req_wipe;

-- the retry runs, once
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-cut-1"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
:prep;
EXECUTE wipe;
-- error: once (YG003)
EXECUTE wipe;
SELECT count(*) FILTER (WHERE id > 1000) AS moved FROM rt17c_app.customers;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.requests WHERE request_id = :req_wipe;
UPDATE rt17c_app.customers SET id = id - 1000 WHERE id > 1000;

-- F1, 2. a function whose query passes 1,000 bytes
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-cut-2"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
SELECT format('CREATE FUNCTION rt17c.purge() RETURNS void LANGUAGE sql AS %L',
              'DELETE FROM rt17c_app.logs /* ' || repeat('only old lines. ', 70) || '*/') AS mkfn \gset
:mkfn;
-- error: no WHERE clause (YG003)
SELECT rt17c.purge();
\c "dbname=contrib_regression user=regress_cut_human options="
\set SHOW_CONTEXT never
SELECT rt17c.pending('run-cut-2') AS req_purge \gset
SELECT statement, reason ~ 'more characters\)$' AS reason_cut FROM agent_guard.requests WHERE request_id = :req_purge;
-- error: approve(id) alone (YG005)
SELECT status FROM agent_guard.approve(:req_purge);
-- the function's text, as pg_proc has it
SELECT prosrc AS purge_text FROM pg_proc WHERE oid = 'rt17c.purge()'::regprocedure \gset
SELECT status FROM agent_guard.approve(:req_purge, 'old lines only', :'purge_text');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-cut-2"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
SELECT rt17c.purge();
SELECT count(*) AS lines_left FROM rt17c_app.logs;

-- F1, 3. both the statement (past the request queue's 2 kB) and the text it
-- runs cut: no one text can be checked for both, nothing is approved
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-cut-3"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
:prep;
SELECT 'EXECUTE wipe /* ' || repeat('nothing to see. ', 140) || '*/' AS long_exec \gset
-- error: no WHERE clause (YG003)
:long_exec;
\c "dbname=contrib_regression user=regress_cut_human options="
\set SHOW_CONTEXT never
SELECT rt17c.pending('run-cut-3') AS req_both \gset
SELECT statement_truncated FROM agent_guard.requests WHERE request_id = :req_both;
-- error: both cut (YG005), with the statement or with the text it runs
SELECT status FROM agent_guard.approve(:req_both, NULL, :'long_exec');
\set VERBOSITY terse
SELECT status FROM agent_guard.approve(:req_both, NULL, :'wipe_text');
SELECT status FROM agent_guard.approve(:req_both);
SELECT status FROM agent_guard.deny(:req_both, 'send it shorter');
\set VERBOSITY default

-- F1, 4. a reason cut where it is recorded (2 kB: here by a long
-- search_path) cuts the text it shows too: approve(id) is refused
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-cut-4"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
SELECT string_agg(format('%I', 'no_such_schema_with_a_rather_long_name_number_' || g), ', ') || ', rt17c_app' AS long_path
  FROM generate_series(1, 40) g \gset
SET search_path = :long_path;
PREPARE short_wipe AS DELETE FROM logs;
-- error: no WHERE clause (YG003)
EXECUTE short_wipe;
SELECT statement AS short_text FROM pg_prepared_statements WHERE name = 'short_wipe' \gset
\c "dbname=contrib_regression user=regress_cut_human options="
\set SHOW_CONTEXT never
\set VERBOSITY terse
SELECT rt17c.pending('run-cut-4') AS req_short \gset
SELECT reason ~ 'reason truncated\]$' AS reason_cut FROM agent_guard.requests WHERE request_id = :req_short;
-- error: approve(id) alone (YG005)
SELECT status FROM agent_guard.approve(:req_short);
SELECT status FROM agent_guard.approve(:req_short, NULL, :'short_text');
\set VERBOSITY default

-- F3. a row limit's approval admits its rows per table
\c "dbname=contrib_regression user=regress_su options="
ALTER ROLE regress_bot SET agent_guard.max_rows_per_statement = 5;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-cut-5"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
CREATE TABLE rt17c.knob (a int, b int);
INSERT INTO rt17c.knob VALUES (8, 0);
-- 8 rows, all no-op touches of orders (the CTE); customers: none
-- error: over max_rows_per_statement (YG003)
WITH a AS (UPDATE rt17c_app.orders SET note = note || '' WHERE id <= (SELECT a FROM rt17c.knob) RETURNING 1)
UPDATE rt17c_app.customers SET email = 'gone@evil' WHERE id <= (SELECT b FROM rt17c.knob);
\c "dbname=contrib_regression user=regress_cut_human options="
\set SHOW_CONTEXT never
SELECT rt17c.pending('run-cut-5') AS req_rows \gset
SELECT reason FROM agent_guard.requests WHERE request_id = :req_rows;
SELECT status FROM agent_guard.approve(:req_rows, 'touching orders is harmless');
\c "dbname=contrib_regression user=regress_su options="
SELECT table_rows = jsonb_build_object('rt17c_app.orders'::regclass::oid::text, 8) AS per_table
  FROM agent_guard.request_log WHERE request_id = :req_rows;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-cut-5"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- the same 8 rows, now to customers: error, a new request (YG003)
UPDATE rt17c.knob SET a = 0, b = 8 WHERE a >= 0;
WITH a AS (UPDATE rt17c_app.orders SET note = note || '' WHERE id <= (SELECT a FROM rt17c.knob) RETURNING 1)
UPDATE rt17c_app.customers SET email = 'gone@evil' WHERE id <= (SELECT b FROM rt17c.knob);
-- 4 and 4: within the total, not within customers' 0: error, a new request (YG003)
UPDATE rt17c.knob SET a = 4, b = 4 WHERE a >= 0;
WITH a AS (UPDATE rt17c_app.orders SET note = note || '' WHERE id <= (SELECT a FROM rt17c.knob) RETURNING 1)
UPDATE rt17c_app.customers SET email = 'gone@evil' WHERE id <= (SELECT b FROM rt17c.knob);
SELECT count(*) FILTER (WHERE email = 'gone@evil') AS overwritten FROM rt17c_app.customers;
-- what the request said: admitted, once
UPDATE rt17c.knob SET a = 8, b = 0 WHERE a >= 0;
WITH a AS (UPDATE rt17c_app.orders SET note = note || '' WHERE id <= (SELECT a FROM rt17c.knob) RETURNING 1)
UPDATE rt17c_app.customers SET email = 'gone@evil' WHERE id <= (SELECT b FROM rt17c.knob);
\c "dbname=contrib_regression user=regress_cut_human options="
\set SHOW_CONTEXT never
SELECT request_id = :req_rows AS approved_one, status, reason FROM agent_guard.requests
 WHERE run_id = 'run-cut-5' ORDER BY request_id;

-- rows past a table's count after the approval was taken, in the same
-- execution: the statement's own UPDATE trips the limit (customers), the
-- CTE runs after it (orders)
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-cut-6"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
UPDATE rt17c.knob SET a = 2, b = 7 WHERE a >= 0;
-- error: 7 rows of customers (YG003)
WITH a AS (UPDATE rt17c_app.orders SET note = 'touched' WHERE id <= (SELECT a FROM rt17c.knob) RETURNING 1)
UPDATE rt17c_app.customers SET email = lower(email) WHERE id <= (SELECT b FROM rt17c.knob);
\c "dbname=contrib_regression user=regress_cut_human options="
\set SHOW_CONTEXT never
SELECT rt17c.pending('run-cut-6') AS req_seven \gset
SELECT reason FROM agent_guard.requests WHERE request_id = :req_seven;
SELECT status FROM agent_guard.approve(:req_seven);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-cut-6"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: the 2 orders rows come after the 7 approved (YG003, a new request)
WITH a AS (UPDATE rt17c_app.orders SET note = 'touched' WHERE id <= (SELECT a FROM rt17c.knob) RETURNING 1)
UPDATE rt17c_app.customers SET email = lower(email) WHERE id <= (SELECT b FROM rt17c.knob);
\c "dbname=contrib_regression user=regress_cut_human options="
\set SHOW_CONTEXT never
SELECT rt17c.pending('run-cut-6') AS req_nine \gset
SELECT reason FROM agent_guard.requests WHERE request_id = :req_nine;
SELECT status FROM agent_guard.approve(:req_nine);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-cut-6"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- 3 orders and 6 customers: 9 in all as approved, but orders over its 2:
-- error, a new request (YG003)
UPDATE rt17c.knob SET a = 3, b = 6 WHERE a >= 0;
WITH a AS (UPDATE rt17c_app.orders SET note = 'touched' WHERE id <= (SELECT a FROM rt17c.knob) RETURNING 1)
UPDATE rt17c_app.customers SET email = lower(email) WHERE id <= (SELECT b FROM rt17c.knob);
SELECT count(*) FILTER (WHERE note = 'touched') AS touched FROM rt17c_app.orders;
-- 2 and 7: admitted
UPDATE rt17c.knob SET a = 2, b = 7 WHERE a >= 0;
WITH a AS (UPDATE rt17c_app.orders SET note = 'touched' WHERE id <= (SELECT a FROM rt17c.knob) RETURNING 1)
UPDATE rt17c_app.customers SET email = lower(email) WHERE id <= (SELECT b FROM rt17c.knob);
SELECT count(*) FILTER (WHERE note = 'touched') AS touched FROM rt17c_app.orders;
\c "dbname=contrib_regression user=regress_cut_human options="
\set SHOW_CONTEXT never
SELECT status, reason FROM agent_guard.requests WHERE run_id = 'run-cut-6' ORDER BY request_id;

-- the human's side: the same statements run for a human, unjudged
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
:prep;
EXECUTE wipe;
UPDATE rt17c_app.customers SET id = id - 1000;
WITH a AS (UPDATE rt17c_app.orders SET note = note || '' WHERE id <= 4 RETURNING 1)
UPDATE rt17c_app.customers SET email = 'U' || id || '@x' WHERE id <= 20;
\c "dbname=contrib_regression user=regress_su options="
SELECT count(*) FROM agent_guard.requests WHERE agent_id = 'regress_human';
SELECT ok FROM agent_guard.verify_log();

\c "dbname=contrib_regression user=regress_su options="
DROP SCHEMA rt17c CASCADE;
DROP SCHEMA rt17c_app CASCADE;
ALTER ROLE regress_bot RESET agent_guard.max_rows_per_statement;
ALTER ROLE regress_bot RESET agent_guard.max_rows_per_run;
SELECT agent_guard.revoke_operator('regress_cut_human');
DROP OWNED BY regress_cut_human;
DROP ROLE regress_cut_human;
