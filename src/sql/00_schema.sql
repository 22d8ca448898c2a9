-- agent_guard install script of the version in agent_guard.control.  The
-- Makefile builds it from the files in src/sql, in name order: edit those,
-- not the built script.  A change here needs the same change in the
-- upgrade script from the previous release (test/t/016_upgrade.pl checks).

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION agent_guard" to load this file. \quit

-- The event log is sealed over the UTF-8 text of each event (80_evidence.sql).
-- A SQL_ASCII database stores bytes that are text in no encoding: one such
-- byte written by an agent would make every later seal fail.
DO $$
BEGIN
    IF pg_catalog.current_setting('server_encoding') = 'SQL_ASCII' THEN
        RAISE EXCEPTION 'agent_guard cannot be installed in a database with encoding SQL_ASCII'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'The event log is sealed over UTF-8 text; a byte that is not valid text, written by an agent, would stop the sealing.',
                  HINT = 'Create the database with an encoding such as UTF8 (CREATE DATABASE ... ENCODING ''UTF8'' TEMPLATE template0) and install agent_guard there.';
    END IF;
END
$$;

-- The schema is created here, not named in the control file, so that it
-- belongs to the extension (DROP EXTENSION removes it) and so that a schema
-- of that name created beforehand by someone else makes the install fail
-- instead of putting the guard into a schema its creator controls.
CREATE SCHEMA agent_guard;
COMMENT ON SCHEMA agent_guard IS 'agent_guard: guard rails for AI agents';

-- Without agent_guard in shared_preload_libraries the library loads with
-- no hooks (failsafe.c), so the install stops here, with the way to fix it.
CREATE FUNCTION agent_guard._require_preload() RETURNS void
    AS 'MODULE_PATHNAME', 'ag_require_preload'
    LANGUAGE C STRICT VOLATILE;
SELECT agent_guard._require_preload();

CREATE FUNCTION agent_guard.in_agent_session() RETURNS boolean
    AS 'MODULE_PATHNAME', 'ag_sql_in_agent_session'
    LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION agent_guard.in_agent_session() IS
    'true when this session is an agent session (registered login role or agent_guard.agent_id tag)';

CREATE FUNCTION agent_guard.current_agent() RETURNS text
    AS 'MODULE_PATHNAME', 'ag_sql_current_agent'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION agent_guard.current_agent() IS
    'agent id of this session, NULL outside agent sessions';

CREATE FUNCTION agent_guard.current_run() RETURNS text
    AS 'MODULE_PATHNAME', 'ag_sql_current_run'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION agent_guard.current_run() IS
    'run id this agent session writes under (fixed from its first write), NULL outside agent sessions';

CREATE FUNCTION agent_guard.calling_role() RETURNS regrole
    AS 'MODULE_PATHNAME', 'ag_sql_calling_role'
    LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION agent_guard.calling_role() IS
    'the role the caller acts as outside SECURITY DEFINER functions';

CREATE FUNCTION agent_guard.stamp() RETURNS trigger
    AS 'MODULE_PATHNAME', 'ag_stamp'
    LANGUAGE C;

CREATE FUNCTION agent_guard.capture() RETURNS trigger
    AS 'MODULE_PATHNAME', 'ag_capture'
    LANGUAGE C;

-- In the RETURNING list of an agent's DELETE turned into a soft delete, in
-- place of the stamp columns: the values the row had before (softdelete.c).
CREATE FUNCTION agent_guard.soft_deleted_stamp(which integer, VARIADIC keys "any") RETURNS text
    AS 'MODULE_PATHNAME', 'ag_soft_deleted_stamp'
    LANGUAGE C VOLATILE;

CREATE FUNCTION agent_guard.registry_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'ag_registry_changed'
    LANGUAGE C;

