--
-- request_text_cut: a statement too long for the request queue (2 kB) is
-- recorded cut, but an approval lets all of it run (red team 4, finding 10).
-- The record says so: the statement ends with a line that gives the lengths,
-- and requests.statement_truncated is true.  approve() refuses such a
-- request (YG005) unless the human passes the whole statement, which must
-- be the one the agent sent (its SHA-256); the record then holds it whole.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_tc_bot LOGIN;
CREATE ROLE regress_tc_human LOGIN;
SELECT agent_guard.register_agent('regress_tc_bot');
SELECT agent_guard.grant_operator('regress_tc_human');
-- request ids that do not depend on the tests before this one
SELECT setval('agent_guard.requests_request_id_seq', 420000, false);
CREATE SCHEMA tc;
CREATE TABLE tc.t (id int PRIMARY KEY, total numeric);
INSERT INTO tc.t SELECT g, g + 0.123 FROM generate_series(1, 10) g;
GRANT USAGE ON SCHEMA tc TO regress_tc_bot, regress_tc_human;
GRANT SELECT, UPDATE ON tc.t TO regress_tc_bot;
GRANT SELECT ON tc.t TO regress_tc_human;
SELECT agent_guard.protect('tc.t');
ALTER ROLE regress_tc_bot SET agent_guard.max_rows_per_statement = 5;

-- the agent's statement: what fits in 2 kB rounds the totals, the rest zeroes them
\c "dbname=contrib_regression user=regress_tc_bot options=-cagent_guard.run_id=run-tc"
\set VERBOSITY terse
SELECT 'UPDATE tc.t SET total = round(total, 2)' || repeat(E'\n', 2100) || ' * 0 WHERE id > 0' AS long_stmt \gset
SELECT length(:'long_stmt') AS sent_bytes;
-- error: 10 rows, over the statement limit (YG003)
:long_stmt;
-- a short statement needs approval too
UPDATE tc.t SET total = total WHERE id > 0;

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
\c "dbname=contrib_regression user=regress_tc_human options="
-- what the human reads: the start, and a last line that says it is cut
SELECT request_id, status, statement_truncated, octet_length(statement) <= 2047 AS fits,
       split_part(statement, E'\n', 1) AS first_line,
       regexp_replace(statement, '^.*\n', '') AS last_line
  FROM agent_guard.requests WHERE run_id = 'run-tc' ORDER BY request_id;
SELECT detail ->> 'statement_truncated' AS truncated FROM agent_guard.events
 WHERE operation = 'BLOCKED' AND run_id = 'run-tc' ORDER BY event_id;
\set VERBOSITY default
-- error: approving the cut request alone is refused (YG005)
SELECT status FROM agent_guard.approve(420000, 'rounding is fine');
-- error: a text other than the agent's is refused (YG005)
SELECT status FROM agent_guard.approve(420000, 'rounding is fine', 'UPDATE tc.t SET total = round(total, 2) WHERE id > 0');
\set VERBOSITY terse
SELECT status, statement_truncated FROM agent_guard.requests WHERE request_id = 420000;

-- nothing ran: the agent's retry is a new request, the totals are intact
\c "dbname=contrib_regression user=regress_tc_bot options=-cagent_guard.run_id=run-tc"
\set VERBOSITY terse
SELECT 'UPDATE tc.t SET total = round(total, 2)' || repeat(E'\n', 2100) || ' * 0 WHERE id > 0' AS long_stmt \gset
:long_stmt;
\c "dbname=contrib_regression user=regress_tc_human options="
SELECT count(*) FILTER (WHERE total = 0) AS zeroed, count(*) FILTER (WHERE total = id + 0.123) AS intact FROM tc.t;

-- the human's way: read the whole statement, then approve with it (the
-- text as sent, trailing semicolon and white space aside); the record holds
-- it whole from then on, and so does the APPROVED event
SELECT 'UPDATE tc.t SET total = round(total, 2)' || repeat(E'\n', 2100) || ' * 0 WHERE id > 0' AS long_stmt \gset
SELECT status, statement_truncated, octet_length(statement) AS recorded_bytes
  FROM agent_guard.approve(420000, 'read all of it: it zeroes the totals, as asked', :'long_stmt' || E';\n');
SELECT octet_length(detail ->> 'statement') AS approved_bytes FROM agent_guard.events
 WHERE operation = 'APPROVED' AND (detail ->> 'request_id')::bigint = 420000;
-- a request recorded whole is approved as before, with or without its text
SELECT status FROM agent_guard.approve(420001);
SELECT status FROM agent_guard.approve(420002, NULL, 'UPDATE tc.t SET total = round(total, 2)' || repeat(E'\n', 2100) || ' * 0 WHERE id > 0');
-- error: not pending any more (YG005)
SELECT status FROM agent_guard.approve(420000, NULL, :'long_stmt');

-- the approved statement runs (and the short one)
\c "dbname=contrib_regression user=regress_tc_bot options=-cagent_guard.run_id=run-tc"
\set VERBOSITY terse
SELECT 'UPDATE tc.t SET total = round(total, 2)' || repeat(E'\n', 2100) || ' * 0 WHERE id > 0' AS long_stmt \gset
:long_stmt;
UPDATE tc.t SET total = total WHERE id > 0;
\c "dbname=contrib_regression user=regress_tc_human options="
SELECT count(*) FILTER (WHERE total = 0) AS zeroed FROM tc.t;
SELECT request_id, status FROM agent_guard.requests WHERE run_id = 'run-tc' ORDER BY request_id;

\c "dbname=contrib_regression user=regress_su options="
DROP TABLE tc.t;
DROP SCHEMA tc;
ALTER ROLE regress_tc_bot RESET agent_guard.max_rows_per_statement;
