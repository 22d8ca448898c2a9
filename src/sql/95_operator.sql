------------------------------------------------------------------------
-- The human on call: one call gives a role what agent-guard and the
-- postmortem need (read the log and the requests, decide requests,
-- freeze, reset, roll back, verify), and nothing that changes who is an
-- agent or what is protected.
------------------------------------------------------------------------

-- What an operator may read and run; grant_operator and revoke_operator
-- work from this one list.
CREATE FUNCTION agent_guard._operator_privileges(OUT kind text, OUT object text)
    RETURNS SETOF record
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
    VALUES ('TABLE', 'agent_guard.runs'), ('TABLE', 'agent_guard.events'),
           ('TABLE', 'agent_guard.statements'), ('TABLE', 'agent_guard.requests'),
           ('TABLE', 'agent_guard.freezes'), ('TABLE', 'agent_guard.protected'),
           ('TABLE', 'agent_guard.agents'), ('TABLE', 'agent_guard.policies'),
           -- functions the views above call
           ('FUNCTION', 'agent_guard._pending_requests()'),
           ('FUNCTION', 'agent_guard._pending_request_parameters()'),
           ('FUNCTION', 'agent_guard._policy_rates()'),
           ('FUNCTION', 'agent_guard.approve(bigint, text)'),
           ('FUNCTION', 'agent_guard.approve(bigint, text, text)'),
           ('FUNCTION', 'agent_guard.deny(bigint, text)'),
           ('FUNCTION', 'agent_guard.freeze(text, text)'),
           ('FUNCTION', 'agent_guard.unfreeze(text)'),
           ('FUNCTION', 'agent_guard.reset_run(text)'),
           ('FUNCTION', 'agent_guard.record_requests()'),
           ('FUNCTION', 'agent_guard.rollback_run(text, boolean, text)'),
           ('FUNCTION', 'agent_guard.rollback_xact(xid8, boolean, text)'),
           ('FUNCTION', 'agent_guard.postmortem(text)'),
           ('FUNCTION', 'agent_guard.postmortem_json(text)'),
           ('FUNCTION', 'agent_guard.verify_log(text)'),
           ('FUNCTION', 'agent_guard.log_head()'),
           ('FUNCTION', 'agent_guard.seal_log()'),
           ('FUNCTION', 'agent_guard.sealer_status()')
$$;

CREATE FUNCTION agent_guard._operator(role regrole, on_ boolean) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v record;
BEGIN
    IF role IS NULL THEN
        RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF on_ AND EXISTS (SELECT 1 FROM agent_guard.registered_agents a WHERE a.role = _operator.role) THEN
        RAISE EXCEPTION 'role % is registered as an agent', role
            USING ERRCODE = 'YG001',
                  DETAIL = 'An agent may not decide its own requests or roll back its own runs.',
                  HINT = 'Give the human on call a login role of their own.';
    END IF;
    FOR v IN SELECT * FROM agent_guard._operator_privileges() LOOP
        EXECUTE format(CASE WHEN on_ THEN 'GRANT %s ON %s %s TO %s' ELSE 'REVOKE %s ON %s %s FROM %s' END,
                       CASE v.kind WHEN 'TABLE' THEN 'SELECT' ELSE 'EXECUTE' END, v.kind, v.object, role);
    END LOOP;
    INSERT INTO agent_guard.events (login_role, acting_role, operation, detail)
    VALUES (session_user, agent_guard.calling_role()::text, 'OPERATOR',
            jsonb_build_object('role', role::text, 'granted', on_));
END
$$;

CREATE FUNCTION agent_guard.grant_operator(role regrole) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM agent_guard._require_human('agent_guard.grant_operator()');
    PERFORM agent_guard._operator(role, true);
END
$$;
COMMENT ON FUNCTION agent_guard.grant_operator(regrole) IS
    'let a role do what the human on call does: read runs, events and requests, approve, deny, freeze, reset, roll back, write postmortems, verify the log';

CREATE FUNCTION agent_guard.revoke_operator(role regrole) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM agent_guard._require_human('agent_guard.revoke_operator()');
    PERFORM agent_guard._operator(role, false);
END
$$;
COMMENT ON FUNCTION agent_guard.revoke_operator(regrole) IS
    'take back what agent_guard.grant_operator() gave';
