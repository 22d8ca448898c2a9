-- The SQL contract of DESIGN.md (Idempotency): the key settings, the view,
-- what an agent may do with keys (nothing but set its own), and the
-- SQLSTATE an unkeyed write gets in required-key mode.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(20);

SELECT has_view('agent_guard', 'idempotency_keys', 'view idempotency_keys');
SELECT has_table('agent_guard', 'applied_keys', 'table applied_keys');
SELECT columns_are('agent_guard', 'idempotency_keys', ARRAY[
    'agent_id', 'key', 'run_id', 'xid', 'applied_at', 'expires_at', 'rows_written', 'login_role']);
SELECT col_type_is('agent_guard', 'idempotency_keys', 'xid', 'xid8', 'xid is xid8');
SELECT col_is_pk('agent_guard', 'applied_keys', ARRAY['agent_id', 'key'], 'one key per agent');
SELECT has_function('agent_guard', 'purge_idempotency_keys', ARRAY[]::text[]);
SELECT is_definer('agent_guard', 'purge_idempotency_keys', ARRAY[]::text[], 'purge runs as the extension owner');

-- settings
SELECT is((SELECT context FROM pg_settings WHERE name = 'agent_guard.idempotency_key'), 'user',
          'an agent sets its own key');
SELECT is((SELECT context FROM pg_settings WHERE name = 'agent_guard.require_idempotency_key'), 'superuser',
          'only a superuser requires keys');
SELECT is((SELECT context FROM pg_settings WHERE name = 'agent_guard.idempotency_ttl'), 'sighup',
          'the TTL is server-wide');
SELECT is((SELECT boot_val || unit FROM pg_settings WHERE name = 'agent_guard.idempotency_ttl'), '604800s',
          'keys count for 7 days by default');

-- privileges: nothing for an ordinary role
CREATE ROLE tap_keybot LOGIN;
SELECT table_privs_are('agent_guard', 'applied_keys', 'tap_keybot', ARRAY[]::text[], 'no privilege on applied_keys');
SELECT table_privs_are('agent_guard', 'idempotency_keys', 'tap_keybot', ARRAY[]::text[], 'no privilege on the view by default');
SELECT function_privs_are('agent_guard', 'purge_idempotency_keys', ARRAY[]::text[], 'tap_keybot', ARRAY[]::text[],
                          'purge is not for everyone');

-- an unkeyed agent write in required-key mode gets YG021
CREATE TABLE tap_pay (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, amount int);
SELECT agent_guard.protect('tap_pay', false);
SELECT agent_guard.register_agent('tap_keybot', 'tap-keybot');
GRANT INSERT, SELECT ON tap_pay TO tap_keybot;
GRANT SELECT ON agent_guard.idempotency_keys TO tap_keybot;
SET agent_guard.require_idempotency_key = on;
SET SESSION AUTHORIZATION tap_keybot;
SELECT throws_ok($$INSERT INTO tap_pay (amount) VALUES (1)$$, 'YG021',
                 'agent write without an idempotency key', 'a key is required');
SET LOCAL agent_guard.idempotency_key = 'tap-1';
SELECT lives_ok($$INSERT INTO tap_pay (amount) VALUES (1)$$, 'the first keyed write applies');
-- (pgTAP runs in one transaction, so the duplicate, YG020, is left to
-- the pg_regress and isolation suites)
SELECT results_eq($$SELECT key, rows_written FROM agent_guard.idempotency_keys$$,
                  $$VALUES ('tap-1'::text, 1::bigint)$$, 'the agent sees its own claim');
SELECT throws_ok($$SET LOCAL agent_guard.idempotency_key = E'a\nb'$$, '22023', NULL,
                 'control characters are refused');
SELECT throws_ok($$DELETE FROM agent_guard.applied_keys$$, 'YG004', NULL, 'an agent cannot delete keys');
SELECT throws_ok($$DELETE FROM agent_guard.idempotency_keys$$, '42501', NULL, 'not through the view either');

SELECT * FROM finish();
ROLLBACK;
