------------------------------------------------------------------------
-- Policies: least privilege per agent (src/policy.c)
------------------------------------------------------------------------

-- One row per agent that has a policy; an agent without one is 'guarded'.
-- tables is stored as regclass[] so pg_dump writes it by name.
CREATE TABLE agent_guard.policy_state (
    agent_id             text PRIMARY KEY CHECK (agent_id <> '' AND length(agent_id) <= 200),
    mode                 text NOT NULL CHECK (mode IN ('read_only', 'dml', 'guarded')),
    tables               regclass[],
    max_rows_per_minute  integer CHECK (max_rows_per_minute > 0),
    set_at               timestamptz NOT NULL DEFAULT now(),
    set_by               text NOT NULL DEFAULT session_user
);
SELECT pg_catalog.pg_extension_config_dump('agent_guard.policy_state', '');

-- Rows each rate-limited agent changed in the last 60 seconds, across all
-- its sessions (shared memory).
CREATE FUNCTION agent_guard._policy_rates(OUT agent_id text, OUT rows_last_minute bigint)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'ag_sql_policy_rates'
    LANGUAGE C STRICT VOLATILE;

CREATE VIEW agent_guard.policies AS
    SELECT p.agent_id, p.mode, p.tables, p.max_rows_per_minute,
           coalesce(r.rows_last_minute, 0) AS rows_last_minute,
           p.set_at, p.set_by
      FROM agent_guard.policy_state p
      LEFT JOIN agent_guard._policy_rates() r ON r.agent_id = p.agent_id
     ORDER BY p.agent_id;
COMMENT ON VIEW agent_guard.policies IS
    'what each agent may do; agents not listed are guarded (DML guarded, destructive acts need approval)';

CREATE FUNCTION agent_guard.set_policy(agent_id text, mode text DEFAULT 'guarded',
                                       tables regclass[] DEFAULT NULL,
                                       max_rows_per_minute integer DEFAULT NULL)
    RETURNS agent_guard.policies
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_old agent_guard.policy_state;
    v_new agent_guard.policy_state;
    v_rel regclass;
    r agent_guard.policies;
BEGIN
    PERFORM agent_guard._require_human('agent_guard.set_policy()');
    IF agent_id IS NULL THEN
        RAISE EXCEPTION 'agent_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM agent_guard._check_id(agent_id, 'agent id');
    IF mode IS NULL OR mode NOT IN ('read_only', 'dml', 'guarded') THEN
        RAISE EXCEPTION 'invalid policy mode "%"', mode
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A policy mode is read_only, dml or guarded.';
    END IF;
    IF max_rows_per_minute IS NOT NULL AND max_rows_per_minute <= 0 THEN
        RAISE EXCEPTION 'max_rows_per_minute must be greater than zero'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL for no rate limit.';
    END IF;
    IF tables IS NOT NULL THEN
        IF array_position(tables, NULL) IS NOT NULL THEN
            RAISE EXCEPTION 'tables must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
        END IF;
        FOREACH v_rel IN ARRAY tables LOOP
            IF NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = v_rel
                              AND c.relkind IN ('r', 'p', 'v', 'f', 'm')) THEN
                RAISE EXCEPTION '"%" is not a table', v_rel
                    USING ERRCODE = 'wrong_object_type',
                          DETAIL = 'tables lists the tables (or views) the agent may write.';
            END IF;
            IF (SELECT c.relpersistence FROM pg_class c WHERE c.oid = v_rel) = 't' THEN
                RAISE EXCEPTION '"%" is a temporary table', v_rel
                    USING ERRCODE = 'wrong_object_type',
                          DETAIL = 'Agents may always write their own temporary tables; a policy names permanent ones.';
            END IF;
        END LOOP;
        -- one entry per table, in a stable order
        tables := ARRAY(SELECT DISTINCT t::oid FROM unnest(tables) t ORDER BY 1)::regclass[];
    END IF;

    SELECT * INTO v_old FROM agent_guard.policy_state p WHERE p.agent_id = set_policy.agent_id FOR UPDATE;
    INSERT INTO agent_guard.policy_state AS p (agent_id, mode, tables, max_rows_per_minute)
    VALUES (set_policy.agent_id, set_policy.mode, set_policy.tables, set_policy.max_rows_per_minute)
    ON CONFLICT ON CONSTRAINT policy_state_pkey DO UPDATE
       SET mode = EXCLUDED.mode, tables = EXCLUDED.tables,
           max_rows_per_minute = EXCLUDED.max_rows_per_minute,
           set_at = now(), set_by = session_user
    RETURNING * INTO v_new;
    PERFORM agent_guard._gate_changed();
    INSERT INTO agent_guard.events (agent_id, login_role, acting_role, operation, detail)
    VALUES (v_new.agent_id, session_user, agent_guard.calling_role()::text, 'POLICY',
            jsonb_build_object('mode', v_new.mode, 'tables', v_new.tables::text[],
                               'max_rows_per_minute', v_new.max_rows_per_minute,
                               'previous', CASE WHEN v_old.agent_id IS NULL THEN NULL
                                                ELSE jsonb_build_object('mode', v_old.mode,
                                                         'tables', v_old.tables::text[],
                                                         'max_rows_per_minute', v_old.max_rows_per_minute) END));
    PERFORM agent_guard._wake(jsonb_build_object(
        'event', 'policy', 'agent_id', v_new.agent_id, 'mode', v_new.mode, 'by', session_user));
    SELECT * INTO r FROM agent_guard.policies q WHERE q.agent_id = v_new.agent_id;
    RETURN r;
END
$$;
COMMENT ON FUNCTION agent_guard.set_policy(text, text, regclass[], integer) IS
    'give an agent read_only, dml or guarded authority, optionally limited to some tables and a row rate; connected sessions follow from their next statement';

CREATE FUNCTION agent_guard.drop_policy(agent_id text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v agent_guard.policy_state;
BEGIN
    PERFORM agent_guard._require_human('agent_guard.drop_policy()');
    IF agent_id IS NULL THEN
        RAISE EXCEPTION 'agent_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    DELETE FROM agent_guard.policy_state p WHERE p.agent_id = drop_policy.agent_id RETURNING * INTO v;
    IF NOT FOUND THEN
        RAISE NOTICE 'agent "%" has no policy', agent_id;
        RETURN false;
    END IF;
    PERFORM agent_guard._gate_changed();
    INSERT INTO agent_guard.events (agent_id, login_role, acting_role, operation, detail)
    VALUES (v.agent_id, session_user, agent_guard.calling_role()::text, 'POLICY_DROP',
            jsonb_build_object('mode', v.mode, 'tables', v.tables::text[],
                               'max_rows_per_minute', v.max_rows_per_minute));
    PERFORM agent_guard._wake(jsonb_build_object(
        'event', 'policy_drop', 'agent_id', v.agent_id, 'by', session_user));
    RETURN true;
END
$$;
COMMENT ON FUNCTION agent_guard.drop_policy(text) IS
    'remove an agent''s policy: it is guarded again from its next statement';

-- Planted by the planner in place of nextval() in the plans of an agent
-- whose policy has a tables list: it refuses a sequence the policy does not
-- let the agent advance, however it is named (policy.c), then advances it.
CREATE FUNCTION agent_guard._nextval(regclass) RETURNS bigint
    AS 'MODULE_PATHNAME', 'ag_sql_nextval'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
