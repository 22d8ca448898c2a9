-- An approval is bound to the statement's text as the client sent it (only
-- leading and trailing white space and semicolons are dropped): white
-- space inside it can change what it does.
\c "dbname=contrib_regression user=regress_su options="
\set VERBOSITY sqlstate
ALTER ROLE regress_bot SET agent_guard.max_rows_per_statement = 5;
-- a line break ends a "--" comment, so the same words on one line are another statement
\c "dbname=contrib_regression user=regress_su options="
CREATE TABLE public.ag_text_t (id int PRIMARY KEY);
INSERT INTO public.ag_text_t SELECT generate_series(1, 10);
GRANT ALL ON public.ag_text_t TO regress_bot;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-approval-text"
-- error: 6 rows, over the statement limit (YG003)
DELETE FROM public.ag_text_t -- c
WHERE id <= 6;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.approve((SELECT max(request_id) FROM agent_guard.requests
                                        WHERE statement LIKE 'DELETE FROM public.ag_text_t%'));
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-approval-text"
-- error: the WHERE is now inside the comment: not what was approved (YG003, a new request)
DELETE FROM public.ag_text_t -- c WHERE id <= 6
;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS rows_left FROM public.ag_text_t;
-- the approved text runs
DELETE FROM public.ag_text_t -- c
WHERE id <= 6;
SELECT count(*) AS rows_left FROM public.ag_text_t;

\c "dbname=contrib_regression user=regress_su options="
DROP TABLE public.ag_text_t;
ALTER ROLE regress_bot RESET agent_guard.max_rows_per_statement;

-- A request for EXECUTE, or for a statement a function runs, shows the
-- text that runs (the approval is bound to it as well), cut at 1,000 bytes.
\c "dbname=contrib_regression user=regress_su options="
CREATE TABLE public.ag_text_src (id int PRIMARY KEY);
INSERT INTO public.ag_text_src SELECT generate_series(1, 3);
GRANT ALL ON public.ag_text_src TO regress_bot;
SELECT agent_guard.protect('public.ag_text_src');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-approval-src"
PREPARE wipe AS DELETE FROM public.ag_text_src;
-- error: no WHERE (YG003)
EXECUTE wipe;
\echo :LAST_ERROR_SQLSTATE
DO $$ BEGIN EXECUTE 'DELETE FROM public.ag_text_src /* ' || repeat('é', 1500) || ' */'; END $$;
\echo :LAST_ERROR_SQLSTATE
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT statement, reason FROM agent_guard.requests
 WHERE run_id = 'run-approval-src' AND statement LIKE 'EXECUTE%';
SELECT left(statement, 2) AS statement, length(reason) AS reason_length,
       right(reason, 40) AS reason_end
  FROM agent_guard.requests
 WHERE run_id = 'run-approval-src' AND statement LIKE 'DO%';
SELECT count(*) AS rows_left FROM public.ag_text_src;
SELECT agent_guard.unprotect('public.ag_text_src');
DROP TABLE public.ag_text_src;
