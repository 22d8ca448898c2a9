--
-- wal_messages: pg_logical_emit_message() writes a WAL record that every
-- logical decoding consumer (CDC, an outbox reader) receives as if the
-- database had said it, transactional or not.  A freeze and the read_only
-- policy refuse it like the other writes that are not DML (both signatures,
-- planned or in a PL/pgSQL simple expression); it leaves a refusal on
-- record.  Humans may still emit messages during a freeze.  NOTIFY and
-- pg_notify() stay allowed: they write no table and no WAL (README).
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_wm_bot LOGIN;
CREATE ROLE regress_wm_human LOGIN;
SELECT agent_guard.register_agent('regress_wm_bot');
SELECT setval('agent_guard.requests_request_id_seq', 300000, false);

-- a freeze of all agents
SELECT agent_guard.freeze('wal messages');
\c "dbname=contrib_regression user=regress_wm_bot options=-cagent_guard.run_id=run-wm"
\set VERBOSITY sqlstate
-- error: frozen (YG006)
SELECT pg_logical_emit_message(false, 'outbox', '{"event":"refund"}');
SELECT pg_logical_emit_message(true, 'outbox', '{"event":"refund"}'::bytea);
DO $$DECLARE l pg_lsn; BEGIN l := pg_logical_emit_message(false, 'outbox', 'x'); END$$;
\set VERBOSITY default
-- allowed: NOTIFY
NOTIFY wm_channel, 'hello';
SELECT pg_notify('wm_channel', 'hello');
\c "dbname=contrib_regression user=regress_wm_human options="
-- the human, during the freeze: allowed
SELECT pg_logical_emit_message(false, 'outbox', 'human') IS NOT NULL AS emitted;

-- read_only, not frozen
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unfreeze();
SELECT (agent_guard.set_policy('regress_wm_bot', 'read_only')).mode;
\c "dbname=contrib_regression user=regress_wm_bot options=-cagent_guard.run_id=run-wm"
\set VERBOSITY sqlstate
-- error: read_only (YG008)
SELECT pg_logical_emit_message(true, 'outbox', 'x');
SELECT pg_logical_emit_message(false, 'outbox', 'x'::bytea);
DO $$DECLARE l pg_lsn; BEGIN l := pg_logical_emit_message(true, 'outbox', 'x'); END$$;
\set VERBOSITY default

-- dml (the default): allowed
\c "dbname=contrib_regression user=regress_su options="
SELECT (agent_guard.set_policy('regress_wm_bot', 'dml')).mode;
\c "dbname=contrib_regression user=regress_wm_bot options=-cagent_guard.run_id=run-wm"
SELECT pg_logical_emit_message(false, 'agent', 'x') IS NOT NULL AS emitted;

-- a PARALLEL SAFE function run by a parallel worker, whose calls the
-- statement's leader never sees: refused in an agent's session (YG004),
-- whatever the policy; a human's runs as before (red team 4, finding 15)
\c "dbname=contrib_regression user=regress_su options="
CREATE FUNCTION public.wm_emit() RETURNS text LANGUAGE plpgsql PARALLEL SAFE AS $$
BEGIN PERFORM pg_logical_emit_message(false, 'outbox', 'from a worker'); RETURN 'emitted'; END $$;
\c "dbname=contrib_regression user=regress_wm_bot options=-cagent_guard.run_id=run-wm"
SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000
                       THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'on', false) AS parallel;
\set VERBOSITY sqlstate
SELECT public.wm_emit();
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000
                       THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'on', false) AS parallel;
SELECT public.wm_emit();
DROP FUNCTION public.wm_emit();

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT request_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id >= 300000 ORDER BY request_id;
