------------------------------------------------------------------------
-- Identity
------------------------------------------------------------------------

CREATE FUNCTION agent_guard._role_power(role regrole) RETURNS text
    AS 'MODULE_PATHNAME', 'ag_sql_role_power'
    LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION agent_guard._role_power(regrole) IS
    'why a role cannot be an agent (it could switch the guard off), or NULL';

-- What the role stored before it was registered, or a human gave it, that
-- an agent may not store: a WARNING lists it (src/agentstored.c).
CREATE FUNCTION agent_guard._warn_unjudged(role regrole) RETURNS integer
    AS 'MODULE_PATHNAME', 'ag_sql_warn_unjudged'
    LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION agent_guard._warn_unjudged(regrole) IS
    'warn of the objects a role owns that an agent may not store (not judged when stored); returns their number';

CREATE FUNCTION agent_guard.register_agent(role regrole, agent_id text DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id   text := coalesce(agent_id, role::text);
    v_role pg_roles%ROWTYPE;
    v_why  text;
BEGIN
    PERFORM agent_guard._require_human('agent_guard.register_agent()');
    IF role IS NULL THEN
        RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO v_role FROM pg_roles r WHERE r.oid = role;
    IF v_role.rolsuper THEN
        RAISE EXCEPTION 'cannot register superuser role "%" as an agent', v_role.rolname
            USING ERRCODE = 'YG001',
                  DETAIL = 'A superuser can switch every guard off.',
                  HINT = 'Create a role without superuser for the agent and register that role.';
    END IF;
    v_why := agent_guard._role_power(role);
    IF v_why IS NOT NULL THEN
        RAISE EXCEPTION 'cannot register role "%" as an agent because it %', v_role.rolname, v_why
            USING ERRCODE = 'YG001',
                  DETAIL = 'Such a role can switch the guard off.',
                  HINT = 'Register a role without these powers.';
    END IF;
    -- agent ids derived from role names keep the role name unquoted
    IF agent_id IS NULL THEN
        v_id := v_role.rolname;
    END IF;
    PERFORM agent_guard._check_id(v_id, 'agent id');

    INSERT INTO agent_guard.registered_agents AS a (role, agent_id)
    VALUES (register_agent.role, v_id)
    ON CONFLICT ON CONSTRAINT registered_agents_pkey
    DO UPDATE SET agent_id = EXCLUDED.agent_id, registered_at = now(), registered_by = session_user;

    PERFORM agent_guard._log('REGISTER', NULL,
        jsonb_build_object('role', v_role.rolname, 'agent_id', v_id));
    -- judged as the agent's now: its functions are the agent's
    PERFORM agent_guard._warn_unjudged(role);
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION agent_guard.register_agent(regrole, text) IS
    'make every session of this login role an agent session (agent id defaults to the role name)';

CREATE FUNCTION agent_guard.unregister_agent(role regrole) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id text;
BEGIN
    PERFORM agent_guard._require_human('agent_guard.unregister_agent()');
    DELETE FROM agent_guard.registered_agents a WHERE a.role = unregister_agent.role
        RETURNING a.agent_id INTO v_id;
    IF NOT FOUND THEN
        RAISE NOTICE 'role "%" is not registered as an agent', role;
        RETURN false;
    END IF;
    PERFORM agent_guard._log('UNREGISTER', NULL,
        jsonb_build_object('role', role::text, 'agent_id', v_id));
    RETURN true;
END
$$;
COMMENT ON FUNCTION agent_guard.unregister_agent(regrole) IS
    'stop treating new sessions of this role as agent sessions (sessions already open stay agents)';

CREATE VIEW agent_guard.agents AS
    SELECT a.role, a.agent_id, a.registered_at, a.registered_by
      FROM agent_guard.registered_agents a
     ORDER BY a.agent_id, a.role::text;

