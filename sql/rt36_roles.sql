--
-- rt36_roles: red team 36, F06 and F07.  The predefined roles that reach
-- past the guard make a role unfit to be an agent, as superuser,
-- CREATEROLE, BYPASSRLS, REPLICATION and the file and program roles do:
-- pg_read_all_data (the whole log), pg_write_all_data (the guard's own
-- sequences), pg_signal_backend (the humans' sessions) and, on PostgreSQL
-- 16+, pg_create_subscription (an apply worker writing protected rows
-- unlogged).  register_agent() refuses such a role, held directly or
-- through another role; a registered role given one later, and a shared
-- role tagged while it holds one, are refused at their first statement
-- (YG001).  From the humans' side: such a role, not an agent, works as
-- before, and the role again without the membership can be registered.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1025000, false) AS ids_from;
CREATE ROLE regress_r36_reader LOGIN IN ROLE pg_read_all_data;
CREATE ROLE regress_r36_writer LOGIN IN ROLE pg_write_all_data;
CREATE ROLE regress_r36_signal LOGIN IN ROLE pg_signal_backend;
CREATE ROLE regress_r36_group IN ROLE pg_read_all_data;
CREATE ROLE regress_r36_nested LOGIN IN ROLE regress_r36_group;
CREATE ROLE regress_r36_noinherit LOGIN NOINHERIT IN ROLE pg_write_all_data;

-- error: none of them can be registered
SELECT agent_guard.register_agent('regress_r36_reader');
SELECT agent_guard.register_agent('regress_r36_writer');
SELECT agent_guard.register_agent('regress_r36_signal');
SELECT agent_guard.register_agent('regress_r36_nested');
SELECT agent_guard.register_agent('regress_r36_noinherit');
-- pg_create_subscription exists from 16 on; before it only superusers subscribe,
-- and the block says so in the same words (the test of it runs on 18)
DO $$
BEGIN
    IF current_setting('server_version_num')::int < 160000 THEN
        RAISE NOTICE 'refused: pg_create_subscription';
        RETURN;
    END IF;
    EXECUTE 'CREATE ROLE regress_r36_sub LOGIN IN ROLE pg_create_subscription';
    BEGIN
        PERFORM agent_guard.register_agent('regress_r36_sub');
        RAISE NOTICE 'registered';
    EXCEPTION WHEN others THEN
        RAISE NOTICE 'refused: %', CASE WHEN SQLERRM LIKE '%is a member of pg_create_subscription' THEN 'pg_create_subscription' ELSE SQLERRM END;
    END;
    EXECUTE 'DROP ROLE regress_r36_sub';
END
$$;
-- red team 37, F11: pg_maintain (17+: LOCK, VACUUM FULL, REINDEX of the
-- guard's tables) and pg_signal_autovacuum_worker (18+), where they exist
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['pg_maintain', 'pg_signal_autovacuum_worker'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            RAISE NOTICE 'refused: %', r;
            CONTINUE;
        END IF;
        EXECUTE format('CREATE ROLE regress_r36_pre LOGIN IN ROLE %I', r);
        BEGIN
            -- dynamic: the role is made again in each round, with a new OID
            EXECUTE 'SELECT agent_guard.register_agent(''regress_r36_pre'')';
            RAISE NOTICE 'registered: %', r;
        EXCEPTION WHEN others THEN
            RAISE NOTICE 'refused: %', CASE WHEN SQLERRM LIKE '%is a member of ' || r THEN r ELSE SQLERRM END;
        END;
        EXECUTE 'DROP ROLE regress_r36_pre';
    END LOOP;
END
$$;
SELECT count(*) AS agents_made FROM agent_guard.agents WHERE role::text LIKE 'regress_r36%';

-- error: nor can such a role be tagged as an agent, in a transaction or the session
\c "dbname=contrib_regression user=regress_r36_reader options="
BEGIN;
SET LOCAL agent_guard.agent_id = 'r36-reader';
SELECT count(*) >= 0 AS read_log FROM agent_guard.events;
ROLLBACK;
\c "dbname=contrib_regression user=regress_r36_signal options=-cagent_guard.agent_id=r36-signal"
SELECT 1;

-- humans' side: untagged, the role reads what pg_read_all_data gives it
\c "dbname=contrib_regression user=regress_r36_reader options="
SELECT agent_guard.in_agent_session() AS agent, count(*) >= 0 AS read_log FROM agent_guard.events;

-- a registered role given the power later: refused at its next first statement
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_r36_later LOGIN;
SELECT agent_guard.register_agent('regress_r36_later');
GRANT pg_write_all_data TO regress_r36_later;
\c "dbname=contrib_regression user=regress_r36_later options="
SELECT nextval('agent_guard.requests_request_id_seq');
\c "dbname=contrib_regression user=regress_su options="
-- the membership taken away, it works as the agent again
REVOKE pg_write_all_data FROM regress_r36_later;
\c "dbname=contrib_regression user=regress_r36_later options="
SELECT agent_guard.in_agent_session() AS agent, agent_guard.current_agent() AS agent_id;
\c "dbname=contrib_regression user=regress_su options="
REVOKE pg_read_all_data FROM regress_r36_reader;
SELECT agent_guard.register_agent('regress_r36_reader') IS NOT NULL AS registered;
SELECT agent_guard.unregister_agent('regress_r36_reader');
SELECT agent_guard.unregister_agent('regress_r36_later');
SELECT max(request_id) IS NULL OR max(request_id) < 1025000 AS no_requests FROM agent_guard.request_log;
DROP ROLE regress_r36_reader, regress_r36_writer, regress_r36_signal, regress_r36_nested,
    regress_r36_group, regress_r36_noinherit, regress_r36_later;
