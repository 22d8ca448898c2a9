------------------------------------------------------------------------
-- Fail-safe without the preload (failsafe.c)
------------------------------------------------------------------------

-- If the server runs without agent_guard in shared_preload_libraries, the
-- guard's hooks are gone but the catalog is still here.  These functions
-- are the part of the guard that lives in the catalog: with the library
-- preloaded they return at once; without it they refuse agents (all their
-- DDL, and TRUNCATE of a protected table) and let humans go on.  The row
-- triggers (stamp, capture) do the same for agents' writes.

CREATE FUNCTION agent_guard._failsafe_ddl() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'ag_failsafe_ddl'
    LANGUAGE C;

CREATE FUNCTION agent_guard._failsafe_truncate() RETURNS trigger
    AS 'MODULE_PATHNAME', 'ag_failsafe_truncate'
    LANGUAGE C;

CREATE EVENT TRIGGER agent_guard_failsafe ON ddl_command_start
    EXECUTE FUNCTION agent_guard._failsafe_ddl();
