--
-- hostile: identifiers, run ids, agent ids, idempotency keys and values
-- with quotes, backslashes, SQL fragments, junk, 100 KB lengths and a
-- non-UTF-8 client encoding are stored verbatim or refused with a clear
-- error, never executed, never crash a backend; and every SQL function of
-- the extension, called with NULLs or out-of-range values, returns NULL or
-- an error as its contract says.  Runs in a database of its own (UTF8).
--
\c "dbname=contrib_regression user=regress_su options="
CREATE DATABASE regress_hostile ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE ROLE regress_hostile_bot LOGIN;
CREATE ROLE regress_hostile_bot2 LOGIN;
\c "dbname=regress_hostile user=regress_su options="
CREATE EXTENSION agent_guard;
-- runs a statement and reports its error shortly (some errors quote a 100 KB value)
CREATE FUNCTION public.hostile_try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN format('error %s: %s... (%s characters)', SQLSTATE, left(SQLERRM, 72), length(SQLERRM));
END
$$;
-- identifiers that are SQL if pasted unquoted
CREATE SCHEMA "s'; DROP SCHEMA public; --" AUTHORIZATION regress_hostile_bot;
CREATE TABLE "s'; DROP SCHEMA public; --"."t"";\ DELETE FROM x" (
    "k""ey" text PRIMARY KEY, "v'\" text, b bytea);
ALTER TABLE "s'; DROP SCHEMA public; --"."t"";\ DELETE FROM x" OWNER TO regress_hostile_bot;
SELECT agent_guard.protect('"s''; DROP SCHEMA public; --"."t"";\ DELETE FROM x"');
SELECT relation, soft_delete, key_columns FROM agent_guard.protected;
-- agent ids: stored verbatim, or refused when empty, too long or with control characters
SELECT agent_guard.register_agent('regress_hostile_bot', E'bot''); DROP TABLE x; --\\');
SELECT agent_guard.register_agent('regress_hostile_bot2', '');
SELECT agent_guard.register_agent('regress_hostile_bot2', repeat('x', 201));
SELECT agent_guard.register_agent('regress_hostile_bot2', repeat('x', 102400));
SELECT agent_guard.register_agent('regress_hostile_bot2', E'a\nb');
SELECT agent_guard.register_agent('regress_hostile_bot2', E'a\x01b');
SELECT agent_guard.register_agent('"regress_hostile_bot2''; DROP ROLE x; --"');
SELECT role, agent_id FROM agent_guard.agents ORDER BY role::text;

\c "dbname=regress_hostile user=regress_hostile_bot options="
-- run ids: too long, control characters: refused; quotes and SQL: verbatim
SET agent_guard.run_id = 'x'
    'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'
    'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx';
SELECT hostile_try($$SELECT set_config('agent_guard.run_id', repeat('r', 102400), false)$$);
SET agent_guard.run_id = E'run\ttab';
SET agent_guard.run_id = E'run\x7fdel';
SET agent_guard.run_id = E'run''; DROP SCHEMA public CASCADE; --\\';
SELECT agent_guard.current_agent(), agent_guard.current_run();
-- the identity cannot be shed, whatever the value
SET agent_guard.agent_id = E'bot''); DROP TABLE x; --';
SET agent_guard.agent_id = '';
-- keys and values: quotes, backslashes, NUL-free control and invisible
-- characters, every byte value in bytea, 100 KB of text
BEGIN;
SET LOCAL agent_guard.idempotency_key = E'k''ey\\"; DROP TABLE x; --\u202e\ufeff';
INSERT INTO "s'; DROP SCHEMA public; --"."t"";\ DELETE FROM x"
VALUES (E'k1''\\', E'\u0007\u001b[31mred\u202e', (SELECT decode(string_agg(lpad(to_hex(g), 2, '0'), '' ORDER BY g), 'hex') FROM generate_series(0, 255) g)),
       ('k2', repeat(E'\\''"', 34134), NULL),
       (E'$$; DROP TABLE x; $$', E'%s %I %L %% \\x', '\x00');
COMMIT;
-- the same key again: refused, the key quoted verbatim
\set VERBOSITY terse
BEGIN;
SET LOCAL agent_guard.idempotency_key = E'k''ey\\"; DROP TABLE x; --\u202e\ufeff';
INSERT INTO "s'; DROP SCHEMA public; --"."t"";\ DELETE FROM x" VALUES ('k3', 'retry', NULL);
ROLLBACK;
\set VERBOSITY default
-- keys: too long, control characters
SET agent_guard.idempotency_key = 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk';
SET agent_guard.idempotency_key = E'k\nk';
UPDATE "s'; DROP SCHEMA public; --"."t"";\ DELETE FROM x" SET "v'\" = "v'\" || E'\'' WHERE "k""ey" = 'k2';
DELETE FROM "s'; DROP SCHEMA public; --"."t"";\ DELETE FROM x" WHERE "k""ey" = E'$$; DROP TABLE x; $$';
-- a non-UTF-8 client encoding: LATIN1 bytes are converted, stored as UTF-8
SET client_encoding = 'LATIN1';
SET agent_guard.idempotency_key = 'café';
INSERT INTO "s'; DROP SCHEMA public; --"."t"";\ DELETE FROM x" VALUES ('naïve', 'crème brûlée', NULL);
SELECT "k""ey", "v'\" FROM "s'; DROP SCHEMA public; --"."t"";\ DELETE FROM x" WHERE "k""ey" LIKE 'na%';
RESET agent_guard.idempotency_key;
RESET client_encoding;
-- the same byte sent as UTF-8 is not valid UTF-8: refused
SET agent_guard.run_id = 'café';
SELECT 'naïve';

\c "dbname=regress_hostile user=regress_su options="
-- nothing was executed: the schemas and tables named in the input are all there
SELECT nspname FROM pg_namespace WHERE nspname IN ('public', 's''; DROP SCHEMA public; --') ORDER BY 1;
-- stored verbatim, in the table and in the log
SELECT "k""ey", length("v'\") AS len, md5("v'\") = md5(repeat(E'\\''"', 34134) || E'\'') AS v_verbatim,
       md5(b) AS b_md5, ag_agent_id, ag_run_id, ag_deleted_at IS NOT NULL AS deleted,
       convert_to("k""ey", 'UTF8') AS key_bytes
  FROM "s'; DROP SCHEMA public; --"."t"";\ DELETE FROM x" ORDER BY 1;
SELECT event_id, relation, operation, run_id, agent_id, row_key,
       length(coalesce(new_row, old_row)->>'v''\') AS v_length,
       md5(coalesce(new_row, old_row)->>'v''\') AS v_md5, md5(new_row->>'b') AS b_md5
  FROM agent_guard.events e
 WHERE operation NOT IN ('PROTECT', 'REGISTER') ORDER BY event_id;
-- the row images hold the same values as the table did
SELECT md5(repeat(E'\\''"', 34134)) AS v_md5_k2,
       md5((SELECT '\x' || string_agg(lpad(to_hex(g), 2, '0'), '' ORDER BY g) FROM generate_series(0, 255) g)) AS b_md5_k1;
SELECT length(query) AS statement_length, md5(query) = md5(lag(query) OVER (ORDER BY statement_id)) AS same
  FROM agent_guard.statements ORDER BY statement_id;
SELECT agent_id, key, convert_to(key, 'UTF8') AS bytes, run_id FROM agent_guard.idempotency_keys ORDER BY key;
-- the log seals and verifies, the postmortem names the run, the run rolls back exactly
SELECT agent_guard.seal_log() >= 0 AS sealed;
SELECT ok, first_bad_event FROM agent_guard.verify_log();
SELECT position(E'run''; DROP SCHEMA public CASCADE; --\\' IN agent_guard.postmortem(E'run''; DROP SCHEMA public CASCADE; --\\')) > 0 AS names_run,
       position('"s''; DROP SCHEMA public; --"' IN agent_guard.postmortem(E'run''; DROP SCHEMA public CASCADE; --\\')) > 0 AS names_table;
SELECT step, operation, row_key, status FROM agent_guard.rollback_run(E'run''; DROP SCHEMA public CASCADE; --\\', apply => true);
SELECT count(*) AS rows_left FROM "s'; DROP SCHEMA public; --"."t"";\ DELETE FROM x";
SELECT agent_guard.seal_log() >= 0 AS sealed;
SELECT ok, first_bad_event FROM agent_guard.verify_log();

-- every function of the extension, called with all arguments NULL: a value,
-- NULL, or an error with its SQLSTATE, never a crash.  A new function shows
-- up here and must be looked at.
\set VERBOSITY terse
CREATE TEMP TABLE null_calls (fn text, outcome text);
DO $$
DECLARE
    f record;
    v_sql text;
    v_res text;
BEGIN
    FOR f IN SELECT p.oid, p.oid::regprocedure::text AS sig, p.prorettype = 'trigger'::regtype AS trg,
                    p.proretset AS srf,
                    (SELECT string_agg('NULL::' || CASE WHEN t = '"any"'::regtype THEN 'text' ELSE format_type(t, NULL) END, ', ' ORDER BY n)
                       FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY a(t, n)) AS args
               FROM pg_proc p WHERE p.pronamespace = 'agent_guard'::regnamespace ORDER BY 2 LOOP
        IF f.trg THEN
            INSERT INTO null_calls VALUES (f.sig, 'trigger function (not callable)');
            CONTINUE;
        END IF;
        v_sql := format('SELECT %s %s.%I(%s)%s',
                        CASE WHEN f.srf THEN 'CASE WHEN count(*) > 0 THEN ''rows'' ELSE ''no rows'' END FROM' ELSE 'CASE WHEN x IS NULL THEN ''NULL'' ELSE ''a value'' END FROM' END,
                        'agent_guard', (SELECT proname FROM pg_proc WHERE oid = f.oid), coalesce(f.args, ''),
                        CASE WHEN f.srf THEN '' ELSE ' x' END);
        BEGIN
            EXECUTE v_sql INTO v_res;
            INSERT INTO null_calls VALUES (f.sig, v_res);
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO null_calls VALUES (f.sig, format('error %s: %s', SQLSTATE, SQLERRM));
        END;
    END LOOP;
END
$$;
SELECT fn, outcome FROM null_calls ORDER BY fn;
-- out-of-range values
SELECT agent_guard._seal_pending(0);
SELECT agent_guard._seal_pending(-2147483648);
SELECT * FROM agent_guard.verify_log('garbage');
SELECT * FROM agent_guard.verify_log('-1:' || repeat('0', 64));
SELECT ok, first_bad_event, regexp_replace(detail, '[0-9a-f]{64}', 'SEAL', 'g') AS detail FROM agent_guard.verify_log('999999999:' || repeat('0', 64));
SELECT ok, first_bad_event FROM agent_guard.verify_log(repeat('f', 102400));
SELECT * FROM agent_guard.archive_log('-infinity');
SELECT count(*) FROM agent_guard.rollback_run(E'run''; DROP SCHEMA public CASCADE; --\\', true, 'bogus');
SELECT hostile_try($$SELECT agent_guard.rollback_run(repeat('r', 102400))$$);
SELECT count(*) FROM agent_guard.rollback_xact('0'::xid8);
SELECT count(*) FROM agent_guard.rollback_xact('18446744073709551615'::xid8);
SELECT hostile_try($$SELECT agent_guard.postmortem(repeat('r', 102400))$$);
SELECT agent_guard.protect('pg_catalog.pg_class');
SELECT agent_guard.protect('agent_guard.events');
SELECT agent_guard.purge('"s''; DROP SCHEMA public; --"."t"";\ DELETE FROM x"', interval '-1 day');
SELECT agent_guard.restore('"s''; DROP SCHEMA public; --"."t"";\ DELETE FROM x"', '{"no such column": 1}');
SELECT agent_guard.restore('"s''; DROP SCHEMA public; --"."t"";\ DELETE FROM x"', '[1, 2, 3]');
SELECT agent_guard.register_agent('regress_su');
SELECT agent_guard.unregister_agent(0::oid::regrole);
\set VERBOSITY default
-- agent_guard.soft_deleted_stamp() (in the RETURNING list of a converted
-- DELETE) is callable by anyone with arguments of any type: after a soft
-- delete of a row with a text key, an int8 (read as a pointer it crashed
-- the server), an array passed as VARIADIC and a key that is not the
-- remembered row's are errors
\c "dbname=regress_hostile user=regress_hostile_bot options="
INSERT INTO "s'; DROP SCHEMA public; --"."t"";\ DELETE FROM x" VALUES ('bait', 'x', NULL);
DELETE FROM "s'; DROP SCHEMA public; --"."t"";\ DELETE FROM x" WHERE "k""ey" = 'bait' RETURNING "k""ey";
SELECT agent_guard.soft_deleted_stamp(1, 12345::int8);
SELECT agent_guard.soft_deleted_stamp(1, VARIADIC ARRAY['bait']);
SELECT agent_guard.soft_deleted_stamp(1, 'other'::text);
SELECT agent_guard.soft_deleted_stamp(1, 'bait'::text) AS remembered_agent;
\c "dbname=regress_hostile user=regress_su options="
-- the backend is still alive and the log still verifies
SELECT ok, first_bad_event FROM agent_guard.verify_log();

\c "dbname=contrib_regression user=regress_su options="
DROP DATABASE regress_hostile;
DROP ROLE regress_hostile_bot;
DROP ROLE regress_hostile_bot2;
