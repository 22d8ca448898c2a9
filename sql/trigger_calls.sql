--
-- trigger_calls: the guard's trigger functions called directly, not by the
-- trigger manager, by any role (red team 11: agent_guard.capture() read
-- its trigger data before checking it had any, and crashed the server,
-- taking the refusals still queued with it).  Each refuses cleanly.
--
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-tc-1"
\set VERBOSITY terse
DO $$
DECLARE f regprocedure; out text := '';
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = 'agent_guard'::regnamespace
                AND p.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype)
                AND p.pronargs = 0
              ORDER BY p.proname
    LOOP
        BEGIN
            EXECUTE format('SELECT %s()', f::oid::regproc);
            out := out || f || ': ran' || E'\n';
        EXCEPTION WHEN OTHERS THEN
            out := out || f || ': ' || SQLSTATE || E'\n';
        END;
    END LOOP;
    RAISE NOTICE E'\n%', out;
END $$;
SELECT 1 AS still_connected;
