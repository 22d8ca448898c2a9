--
-- log_line_escape: the decision line in the server log escapes the control
-- characters of what the agent sent (red team 4, finding 16).  A carriage
-- return, an escape sequence or a line break in the statement cannot forge a
-- line or hide one on a terminal: they are written as \r, \x1b, \n.  The
-- line is sent to a client that asks for LOG messages, as here.  The record
-- (agent_guard.requests) keeps the statement as sent.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_ll_bot LOGIN;
CREATE ROLE regress_ll_human LOGIN;
SELECT agent_guard.register_agent('regress_ll_bot');
SELECT agent_guard.grant_operator('regress_ll_human');
-- request ids that do not depend on the tests before this one
SELECT setval('agent_guard.requests_request_id_seq', 410000, false);
CREATE SCHEMA ll;
CREATE TABLE ll.t (id int PRIMARY KEY, v text);
INSERT INTO ll.t SELECT g, 'x' FROM generate_series(1, 3) g;
GRANT USAGE ON SCHEMA ll TO regress_ll_bot, regress_ll_human;
GRANT SELECT, UPDATE, DELETE ON ll.t TO regress_ll_bot;
GRANT SELECT ON ll.t TO regress_ll_human;
SELECT agent_guard.protect('ll.t');

\c "dbname=contrib_regression user=regress_ll_bot options=-cagent_guard.run_id=run-ll"
\set VERBOSITY terse
-- a statement that ends a line, returns the cursor and writes a forged
-- "approved" line over it, then clears the rest of the terminal's row
SELECT 'DELETE FROM ll.t /*' || chr(13) || 'LOG:  agent_guard: decision=approved request=1 kind=approval agent="x" statement="SELECT 1"'
       || chr(27) || '[K' || chr(10) || 'tab' || chr(9) || 'bell' || chr(7) || ' del' || chr(127) || ' "q" \ */' AS forged \gset
SET client_min_messages = log;
-- error: DELETE without WHERE needs approval (YG003); the LOG line has the
-- control characters escaped: one line, nothing overwritten
:forged;
RESET client_min_messages;
SELECT count(*) AS rows_left FROM ll.t;

-- the record keeps the statement as sent; the human approves it as usual
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
\c "dbname=contrib_regression user=regress_ll_human options="
SELECT request_id, status, statement = :'forged' AS as_sent,
       position(chr(13) IN statement) > 0 AS has_cr, position(chr(27) IN statement) > 0 AS has_esc
  FROM agent_guard.requests WHERE run_id = 'run-ll' ORDER BY request_id;
SELECT status FROM agent_guard.approve((SELECT max(request_id) FROM agent_guard.requests WHERE run_id = 'run-ll'),
                                       'deleting the three rows is fine');
-- the retry runs, and its "approved" line is escaped the same way
\c "dbname=contrib_regression user=regress_ll_bot options=-cagent_guard.run_id=run-ll"
\set VERBOSITY terse
SET client_min_messages = log;
:forged;
RESET client_min_messages;
\c "dbname=contrib_regression user=regress_ll_human options="
SELECT count(*) AS rows_visible FROM ll.t;

\c "dbname=contrib_regression user=regress_su options="
DROP TABLE ll.t;
DROP SCHEMA ll;
