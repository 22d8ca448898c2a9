--
-- rt13_notify_settings: red team 13, findings F4, F6 and F2 (issue #16).
-- 1. (F4) The guard's own transactions never depend on PostgreSQL's NOTIFY
--    queue, which any session (an agent's) can fill: above
--    agent_guard.notify_queue_limit the guard sends no wake-up and says so
--    (WARNING), and freeze(), unfreeze(), set_policy(), drop_policy(),
--    approve() and deny() do their work and record it.  The limit 0 stands
--    in for a full queue here (filling the real 8 GB queue takes minutes);
--    only a superuser can set it.
-- 2. (F6) An approvable request names its relations schema-qualified (the
--    row limit's reason names what the statement writes), and says which
--    search_path and standard_conforming_strings the agent's session reads
--    it with when they are not PostgreSQL's defaults; the approval holds
--    only with those settings.
-- 3. (F2) postmortem() skips an agent's leading comments before it cuts a
--    statement, and marks the cut.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
ALTER ROLE regress_bot SET agent_guard.max_rows_per_statement = 5;
ALTER ROLE regress_bot SET agent_guard.max_rows_per_run = -1;
CREATE SCHEMA r13 AUTHORIZATION regress_bot;
CREATE TABLE public.r13_customers (id int PRIMARY KEY, email text);
INSERT INTO public.r13_customers SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 20) g;
SELECT agent_guard.protect('public.r13_customers');
GRANT SELECT, INSERT, UPDATE, DELETE ON public.r13_customers TO regress_bot;

-- 1. a full NOTIFY queue (the limit 0 makes it look full)
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r13-1"
\set VERBOSITY sqlstate
-- error: YG004, an agent cannot lift or lower the limit
SET agent_guard.notify_queue_limit = 0;
\set VERBOSITY default
-- the scratch table the agent means by "r13_customers" under its own search_path
CREATE TABLE r13.r13_customers (id int, email text);
INSERT INTO r13.r13_customers VALUES (1, 'scratch');
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SHOW agent_guard.notify_queue_limit;
SET agent_guard.notify_queue_limit = 0;
-- each warns that no notification was sent, and does its work
SELECT agent_guard.freeze('r13: stop the agent', 'regress_bot');
SELECT agent_id, reason FROM agent_guard.freezes WHERE agent_id = 'regress_bot';
SELECT agent_guard.unfreeze('regress_bot');
SELECT agent_id, mode FROM agent_guard.set_policy('regress_bot', 'guarded');
SELECT agent_guard.drop_policy('regress_bot');
SELECT operation, detail->>'scope' AS scope, detail->>'mode' AS mode
  FROM agent_guard.events
 WHERE operation IN ('FREEZE', 'UNFREEZE', 'POLICY', 'POLICY_DROP') AND agent_id = 'regress_bot'
 ORDER BY event_id DESC LIMIT 4;
RESET agent_guard.notify_queue_limit;
-- below the limit the guard notifies, and says nothing
SELECT agent_guard.freeze('r13: again', 'regress_bot');
SELECT agent_guard.unfreeze('regress_bot');

-- 2. search_path and standard_conforming_strings
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r13-2"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
SET search_path = public;
-- error: YG003, it empties public.r13_customers, not the agent's r13.r13_customers
DELETE FROM r13_customers;
RESET search_path;
SET standard_conforming_strings = off;
SET escape_string_warning = off;
-- error: YG003; read with standard strings it would empty the agent's
-- scratch table and end in a comment
WITH x AS (SELECT 'a\') DELETE FROM r13.r13_customers RETURNING 1 --') DELETE FROM public.r13_customers;
-- error: YG003
DELETE FROM public.r13_customers;
RESET standard_conforming_strings;
-- error: YG003, the row limit names the table it writes
UPDATE public.r13_customers SET email = email WHERE id <= 10;
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
SELECT kind, status, reason, statement FROM agent_guard.requests
 WHERE run_id = 'run-r13-2' ORDER BY request_id;
-- approved under standard_conforming_strings = off ...
SELECT max(request_id) AS r13_scs FROM agent_guard.requests
 WHERE run_id = 'run-r13-2' AND statement = 'DELETE FROM public.r13_customers' \gset
SET agent_guard.notify_queue_limit = 0;
SELECT status FROM agent_guard.approve(:r13_scs, 'r13: off only');
RESET agent_guard.notify_queue_limit;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r13-3"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- ... it does not hold with the standard setting: error, YG003 (a new request)
DELETE FROM public.r13_customers;
\set VERBOSITY default
SET standard_conforming_strings = off;
BEGIN;
-- admitted with the setting the human saw
DELETE FROM public.r13_customers;
SELECT count(*) AS left_in_transaction FROM public.r13_customers;
ROLLBACK;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
SELECT count(*) AS scs_rows FROM public.r13_customers;
SELECT max(request_id) AS r13_deny FROM agent_guard.requests
 WHERE run_id = 'run-r13-3' AND status = 'pending' \gset
SET agent_guard.notify_queue_limit = 0;
SELECT status FROM agent_guard.deny(:r13_deny, 'r13: denied');
RESET agent_guard.notify_queue_limit;
SELECT status, decided_by FROM agent_guard.requests WHERE request_id IN (:r13_scs, :r13_deny) ORDER BY request_id;

-- 3. postmortem: a leading comment does not hide the statement, and a cut is marked
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-r13-pm"
\set SHOW_CONTEXT never
/* Routine read-only health check of the customer table, run by the monitoring agent every hour as agreed
   with the operations team: it verifies connectivity and row visibility, no data is modified and no
   human needs to review this entry in the post-mortem report, which is long on purpose. */ UPDATE public.r13_customers SET email = 'attacker@evil.example' WHERE id IN (1, 2);
-- a statement longer than the 300 characters shown
UPDATE public.r13_customers SET email = email WHERE id = 3 AND email <> repeat('x', 1) || 'padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding padding ' || 'end of it';
\c "dbname=contrib_regression user=regress_su options="
SELECT regexp_replace(line, '^\| \d+ \| [^|]* \| ', '| N | AT | ') AS timeline
  FROM regexp_split_to_table(agent_guard.postmortem('run-r13-pm'), E'\n') line
 WHERE line ~ '^\| \d+ \|' ORDER BY 1;
SELECT agent_guard._md_cut('-- only a comment', 300) AS only_comment,
       agent_guard._md_cut('  SELECT 1', 5) AS cut,
       agent_guard._md_cut('--x' || E'\n' || '/* a /* nested */ one */ SELECT 1', 300) AS nested,
       agent_guard._md_cut('-- $1 = 1', 300, false) AS parameters;

ALTER ROLE regress_bot RESET agent_guard.max_rows_per_statement;
ALTER ROLE regress_bot RESET agent_guard.max_rows_per_run;
DROP TABLE public.r13_customers;
DROP SCHEMA r13 CASCADE;
