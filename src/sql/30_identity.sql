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

-- The library in the session_preload_libraries of a registered agent role
-- (in this database), next to what the role's sessions load already: if
-- the server loses shared_preload_libraries, the agent's sessions still
-- load the guard, which then refuses every statement of theirs (YG009,
-- failsafe.c), and a library that is missing fails their logins.  Only a
-- superuser can change the setting, so the agent cannot take it out.
CREATE FUNCTION agent_guard._session_preload(role regrole, add boolean) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_db   oid := (SELECT d.oid FROM pg_database d WHERE d.datname = current_database());
    v_cur  text;
    v_own  boolean;
    v_libs text[];
BEGIN
    -- what the role's sessions here get now: database and role, role, database, file
    SELECT substr(x.c, length('session_preload_libraries=') + 1),
           x.setrole <> 0 AND x.setdatabase <> 0
      INTO v_cur, v_own
      FROM (SELECT s.setdatabase, s.setrole, unnest(s.setconfig) AS c
              FROM pg_db_role_setting s
             WHERE s.setdatabase IN (v_db, 0) AND s.setrole IN (role, 0)) x
     WHERE x.c LIKE 'session\_preload\_libraries=%'
     ORDER BY x.setrole <> 0 AND x.setdatabase <> 0 DESC, x.setrole <> 0 DESC,
              x.setdatabase <> 0 DESC
     LIMIT 1;
    IF v_cur IS NULL THEN
        v_own := false;
        SELECT f.setting INTO v_cur FROM pg_file_settings f
         WHERE f.name = 'session_preload_libraries' AND f.applied;
    END IF;
    SELECT coalesce(array_agg(l ORDER BY n), '{}') INTO v_libs
      FROM unnest(regexp_split_to_array(coalesce(v_cur, ''), '\s*,\s*')) WITH ORDINALITY AS u(e, n),
           LATERAL (SELECT btrim(u.e, ' "') AS l) t
     WHERE t.l <> '' AND (add OR t.l NOT IN ('agent_guard', '$libdir/agent_guard'));
    IF add THEN
        IF v_libs && ARRAY['agent_guard', '$libdir/agent_guard'] THEN
            RETURN;
        END IF;
        v_libs := v_libs || 'agent_guard'::text;
    ELSIF NOT v_own THEN
        RETURN;
    END IF;
    BEGIN
        IF cardinality(v_libs) = 0 THEN
            EXECUTE format('ALTER ROLE %I IN DATABASE %I RESET session_preload_libraries',
                           (SELECT r.rolname FROM pg_roles r WHERE r.oid = role), current_database());
        ELSE
            EXECUTE format('ALTER ROLE %I IN DATABASE %I SET session_preload_libraries = %s',
                           (SELECT r.rolname FROM pg_roles r WHERE r.oid = role), current_database(),
                           (SELECT string_agg(quote_literal(l), ', ') FROM unnest(v_libs) l));
        END IF;
    EXCEPTION WHEN insufficient_privilege THEN
        -- the extension's owner is not a superuser: say so, register anyway
        RAISE WARNING 'could not set session_preload_libraries of role "%"', role
            USING DETAIL = 'Only a superuser can set it; the agent''s sessions do not load agent_guard if the server loses shared_preload_libraries.',
                  HINT = format('As a superuser: ALTER ROLE %I IN DATABASE %I SET session_preload_libraries = %s',
                                (SELECT r.rolname FROM pg_roles r WHERE r.oid = role), current_database(),
                                (SELECT string_agg(quote_literal(l), ', ') FROM unnest(v_libs) l));
    END;
END
$$;
COMMENT ON FUNCTION agent_guard._session_preload(regrole, boolean) IS
    'add agent_guard to (or remove it from) the session_preload_libraries of a role in this database';

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
                  DETAIL = 'Such a role can switch the guard off or reach past it.',
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
    -- its sessions load the guard even if the server loses the preload
    PERFORM agent_guard._session_preload(role, true);
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
    PERFORM agent_guard._session_preload(role, false);
    RETURN true;
END
$$;
COMMENT ON FUNCTION agent_guard.unregister_agent(regrole) IS
    'stop treating new sessions of this role as agent sessions (sessions already open stay agents)';

CREATE VIEW agent_guard.agents AS
    SELECT a.role, a.agent_id, a.registered_at, a.registered_by
      FROM agent_guard.registered_agents a
     ORDER BY a.agent_id, a.role::text;

