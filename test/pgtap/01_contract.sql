-- The SQL contract of DESIGN.md (Identity, Protection, Event log): names,
-- signatures, columns and privileges that users and tools rely on.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(78);

SELECT has_schema('agent_guard');
SELECT has_table('agent_guard', 'events', 'the event log');
SELECT has_view('agent_guard', 'statements', 'statement texts');
SELECT has_view('agent_guard', 'agents', 'view agents');
SELECT has_view('agent_guard', 'protected', 'view protected');
SELECT has_view('agent_guard', 'runs', 'view runs');

SELECT has_function('agent_guard', 'register_agent', ARRAY['regrole', 'text']);
SELECT has_function('agent_guard', 'unregister_agent', ARRAY['regrole']);
SELECT has_function('agent_guard', 'current_agent', ARRAY[]::text[]);
SELECT has_function('agent_guard', 'current_run', ARRAY[]::text[]);
SELECT has_function('agent_guard', 'protect', ARRAY['regclass', 'boolean']);
SELECT has_function('agent_guard', 'unprotect', ARRAY['regclass']);
SELECT function_returns('agent_guard', 'current_agent', ARRAY[]::text[], 'text');
SELECT function_returns('agent_guard', 'current_run', ARRAY[]::text[], 'text');
SELECT is_definer('agent_guard', 'protect', ARRAY['regclass', 'boolean'], 'protect runs as the extension owner');
SELECT is_definer('agent_guard', 'register_agent', ARRAY['regrole', 'text'], 'register_agent runs as the extension owner');

-- rollback (DESIGN.md, Rollback)
SELECT has_function('agent_guard', 'rollback_run', ARRAY['text', 'boolean', 'text']);
SELECT has_function('agent_guard', 'rollback_xact', ARRAY['xid8', 'boolean', 'text']);
SELECT is_definer('agent_guard', 'rollback_run', ARRAY['text', 'boolean', 'text'], 'rollback_run runs as the extension owner');
SELECT is_definer('agent_guard', 'rollback_xact', ARRAY['xid8', 'boolean', 'text'], 'rollback_xact runs as the extension owner');
SELECT is((SELECT pg_get_function_arguments('agent_guard.rollback_run(text,boolean,text)'::regprocedure)),
          'run_id text, apply boolean DEFAULT false, on_conflict text DEFAULT ''abort''::text',
          'rollback_run: arguments and defaults');
SELECT is((SELECT pg_get_function_arguments('agent_guard.rollback_xact(xid8,boolean,text)'::regprocedure)),
          'xid xid8, apply boolean DEFAULT false, on_conflict text DEFAULT ''abort''::text',
          'rollback_xact: arguments and defaults');
SELECT is((SELECT array_agg(c ORDER BY o)::text[] FROM unnest((SELECT proargnames FROM pg_proc
            WHERE oid = 'agent_guard.rollback_run(text,boolean,text)'::regprocedure)) WITH ORDINALITY u(c, o) WHERE o > 3),
          ARRAY['step', 'event_id', 'relation', 'operation', 'row_key', 'action', 'status', 'detail'],
          'rollback_run: plan columns');

-- default arguments: register_agent(role) and protect(relation) work
SELECT is((SELECT pronargdefaults FROM pg_proc WHERE oid = 'agent_guard.register_agent(regrole,text)'::regprocedure),
          1::int2, 'register_agent: agent_id has a default');
SELECT is((SELECT pronargdefaults FROM pg_proc WHERE oid = 'agent_guard.protect(regclass,boolean)'::regprocedure),
          1::int2, 'protect: soft_delete has a default');
SELECT is((SELECT pg_get_expr(proargdefaults, 0) FROM pg_proc WHERE oid = 'agent_guard.protect(regclass,boolean)'::regprocedure),
          'true', 'protect: soft_delete defaults to true');

SELECT columns_are('agent_guard', 'events', ARRAY[
    'event_id', 'at', 'xid', 'agent_id', 'run_id', 'login_role', 'acting_role', 'statement_id',
    'relation', 'operation', 'row_key', 'old_row', 'new_row', 'detail', 'seal_seq', 'seal',
    'query', 'client_addr', 'application_name', 'parameters']);
SELECT col_type_is('agent_guard', 'events', 'event_id', 'bigint', 'event_id is bigint');
SELECT col_type_is('agent_guard', 'events', 'at', 'timestamp with time zone', 'at is timestamptz');
SELECT col_type_is('agent_guard', 'events', 'xid', 'xid8', 'xid is xid8');
SELECT col_type_is('agent_guard', 'events', 'relation', 'text', 'relation is text');
SELECT col_type_is('agent_guard', 'events', 'row_key', 'jsonb', 'row_key is jsonb');
SELECT col_type_is('agent_guard', 'events', 'old_row', 'jsonb', 'old_row is jsonb');
SELECT col_type_is('agent_guard', 'events', 'new_row', 'jsonb', 'new_row is jsonb');
SELECT col_is_pk('agent_guard', 'events', 'event_id', 'event_id is the key');
SELECT columns_are('agent_guard', 'runs', ARRAY[
    'run_id', 'agent_id', 'login_role', 'first_write', 'last_write', 'transactions', 'statements',
    'inserted', 'updated', 'deleted', 'soft_deleted', 'client_addr', 'application_name',
    'guard_events', 'unsealed', 'status', 'blocked', 'human_acts']);
SELECT columns_are('agent_guard', 'agents', ARRAY['role', 'agent_id', 'registered_at', 'registered_by']);
SELECT columns_are('agent_guard', 'protected', ARRAY[
    'relation', 'soft_delete', 'key_columns', 'protected_at', 'protected_by', 'partitions', 'children']);

-- settings
SELECT is((SELECT context FROM pg_settings WHERE name = 'agent_guard.agent_id'), 'user',
          'agent_guard.agent_id can be set by a harness for any role');
SELECT is((SELECT context FROM pg_settings WHERE name = 'agent_guard.run_id'), 'user',
          'agent_guard.run_id can be set by a harness for any role');

-- privileges: an ordinary role (an agent) has none on the log and registries
CREATE ROLE tap_agent LOGIN;
SELECT table_privs_are('agent_guard', 'events', 'tap_agent', ARRAY[]::text[], 'no privilege on events');
SELECT table_privs_are('agent_guard', 'statements', 'tap_agent', ARRAY[]::text[], 'no privilege on statements');
SELECT table_privs_are('agent_guard', 'registered_agents', 'tap_agent', ARRAY[]::text[], 'no privilege on registered_agents');
SELECT table_privs_are('agent_guard', 'protected_tables', 'tap_agent', ARRAY[]::text[], 'no privilege on protected_tables');
SELECT table_privs_are('agent_guard', 'rls_before', 'tap_agent', ARRAY[]::text[], 'no privilege on the row security kept before protect()');
SELECT table_privs_are('agent_guard', 'runs', 'tap_agent', ARRAY[]::text[], 'no privilege on runs');
-- evidence: no agent can verify, seal, archive or read a postmortem; all run as the owner
SELECT function_privs_are('agent_guard', 'verify_log', ARRAY['text'], 'tap_agent', ARRAY[]::text[], 'verify_log is not for everyone');
SELECT function_privs_are('agent_guard', 'seal_log', ARRAY[]::text[], 'tap_agent', ARRAY[]::text[], 'seal_log is not for everyone');
SELECT function_privs_are('agent_guard', 'archive_log', ARRAY['timestamptz'], 'tap_agent', ARRAY[]::text[], 'archive_log is not for everyone');
SELECT function_privs_are('agent_guard', 'postmortem', ARRAY['text'], 'tap_agent', ARRAY[]::text[], 'postmortem is not for everyone');
SELECT table_privs_are('agent_guard', 'chain_state', 'tap_agent', ARRAY[]::text[], 'no privilege on the chain head');
SELECT table_privs_are('agent_guard', 'seals', 'tap_agent', ARRAY[]::text[], 'no privilege on the seals');
SELECT table_privs_are('agent_guard', 'event_seals', 'tap_agent', ARRAY[]::text[], 'no privilege on the seals by event');
SELECT is_definer('agent_guard', 'verify_log', ARRAY['text'], 'verify_log runs as the extension owner');
-- the operator recipe: superusers only, runs as the owner (it grants)
SELECT is_definer('agent_guard', 'grant_operator', ARRAY['regrole'], 'grant_operator runs as the extension owner');
SELECT function_privs_are('agent_guard', 'grant_operator', ARRAY['regrole'], 'tap_agent', ARRAY[]::text[],
                          'grant_operator is not for everyone');
SELECT function_privs_are('agent_guard', 'revoke_operator', ARRAY['regrole'], 'tap_agent', ARRAY[]::text[],
                          'revoke_operator is not for everyone');
-- the fail-safe without the preload lives in the catalog
SELECT ok(EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'agent_guard_failsafe'
                    AND evtevent = 'ddl_command_start' AND evtenabled = 'O'),
          'the fail-safe event trigger is installed and enabled');
SELECT function_returns('agent_guard', 'postmortem_json', ARRAY['text'], 'jsonb', 'postmortem_json returns jsonb');
SELECT function_privs_are('agent_guard', 'protect', ARRAY['regclass', 'boolean'], 'tap_agent', ARRAY[]::text[],
                          'protect is not for everyone');
SELECT function_privs_are('agent_guard', 'register_agent', ARRAY['regrole', 'text'], 'tap_agent', ARRAY[]::text[],
                          'register_agent is not for everyone');
SELECT function_privs_are('agent_guard', 'rollback_run', ARRAY['text', 'boolean', 'text'], 'tap_agent', ARRAY[]::text[],
                          'rollback_run is not for everyone');
SELECT function_privs_are('agent_guard', 'rollback_xact', ARRAY['xid8', 'boolean', 'text'], 'tap_agent', ARRAY[]::text[],
                          'rollback_xact is not for everyone');
SELECT function_privs_are('agent_guard', '_replay_mode', ARRAY['boolean'], 'tap_agent', ARRAY[]::text[],
                          'replay mode is internal');
SELECT function_privs_are('agent_guard', '_rollback_lock', ARRAY['integer'], 'tap_agent', ARRAY[]::text[],
                          'the rollback lock is internal: an agent cannot take it');
SELECT function_privs_are('agent_guard', '_owner_query', ARRAY['regclass', 'text', 'jsonb'], 'tap_agent', ARRAY[]::text[],
                          'running a statement as a table''s owner is internal');
SELECT function_privs_are('agent_guard', 'current_agent', ARRAY[]::text[], 'tap_agent', ARRAY['EXECUTE'],
                          'anyone may ask who they are');
SELECT schema_privs_are('agent_guard', 'tap_agent', ARRAY['USAGE'], 'USAGE only on the schema');

-- errors carry our SQLSTATEs and standard ones
CREATE ROLE tap_su SUPERUSER;
SELECT throws_ok($$SELECT agent_guard.register_agent('tap_su')$$, 'YG001',
                 'cannot register superuser role "tap_su" as an agent', 'superusers cannot be agents');
CREATE VIEW tap_view AS SELECT 1 AS x;
SELECT throws_ok($$SELECT agent_guard.protect('tap_view')$$, '42809', NULL, 'views cannot be protected');
CREATE TABLE tap_nokey (a int);
SELECT throws_ok($$SELECT agent_guard.protect('tap_nokey')$$, '42P16', NULL, 'a key is required');
SELECT throws_ok($$SELECT agent_guard.unprotect('tap_nokey')$$, '42704', NULL, 'unprotect of an unprotected table');

-- a registered role acts as its agent; protect() is refused to it with YG002
CREATE TABLE tap_t (id int PRIMARY KEY, v text);
SELECT lives_ok($$SELECT agent_guard.protect('tap_t')$$, 'protect a table with a key');
SELECT is(agent_guard.register_agent('tap_agent', 'tap-bot'), 'tap-bot', 'register returns the agent id');
GRANT EXECUTE ON FUNCTION agent_guard.protect(regclass, boolean) TO tap_agent;
GRANT INSERT, SELECT ON tap_t TO tap_agent;
-- from here on the session is an agent session (for good)
SET SESSION AUTHORIZATION tap_agent;
SELECT is(agent_guard.current_agent(), 'tap-bot', 'the session user is an agent');
SELECT throws_ok($$SELECT agent_guard.protect('tap_t')$$, 'YG002', NULL, 'agents cannot protect');
SELECT throws_ok($$SET agent_guard.agent_id = 'other'$$, 'YG001', NULL, 'agents cannot change identity');
INSERT INTO tap_t VALUES (1, 'x');
SELECT results_eq($$SELECT ag_agent_id FROM tap_t$$, ARRAY['tap-bot'], 'the write is stamped');

SELECT * FROM finish();
ROLLBACK;
