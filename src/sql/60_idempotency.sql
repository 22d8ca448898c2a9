
------------------------------------------------------------------------
-- Idempotency keys
--
-- An agent sets agent_guard.idempotency_key (SET LOCAL) before a write
-- transaction.  At the transaction's first write to a protected table the
-- capture trigger claims (agent_id, key) by inserting a row here, in the
-- agent's own transaction, as the extension owner.  The primary key makes
-- a second claim wait for the first claimer and then fail (it committed)
-- or go ahead (it aborted), so a key's change is applied once.  An aborted
-- transaction takes its claim with it.  See src/idempotency.c.
------------------------------------------------------------------------

-- Column order is used by idempotency.c's queries only by name.
CREATE TABLE agent_guard.applied_keys (
    agent_id      text NOT NULL,
    key           text NOT NULL CHECK (key <> '' AND octet_length(key) <= 200),
    run_id        text,
    xid           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    applied_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    login_role    text NOT NULL DEFAULT session_user,
    PRIMARY KEY (agent_id, key)
);
-- expiry sweeps walk the oldest keys first
CREATE INDEX applied_keys_applied_at_idx ON agent_guard.applied_keys (applied_at);

COMMENT ON TABLE agent_guard.applied_keys IS
    'idempotency keys claimed by committed agent transactions; written by the capture trigger, never by agents';

SELECT pg_catalog.pg_extension_config_dump('agent_guard.applied_keys', '');

-- The current agent_guard.idempotency_ttl as an interval (NULL: keys never
-- expire).  A C function, because the setting is shown with units ("7d")
-- that are not all valid interval input.
CREATE FUNCTION agent_guard._idempotency_ttl() RETURNS interval
    AS 'MODULE_PATHNAME', 'ag_sql_idempotency_ttl'
    LANGUAGE C STABLE PARALLEL SAFE;

-- What agents and humans are told about keys.  security_barrier: an agent
-- that was granted SELECT must not see other agents' keys through a leaky
-- function in its own WHERE clause.  Expired keys no longer count and are
-- not shown; rows_written is counted from the event log of the
-- transaction that applied the key.
CREATE VIEW agent_guard.idempotency_keys WITH (security_barrier) AS
    SELECT k.agent_id,
           k.key,
           k.run_id,
           k.xid,
           k.applied_at,
           k.applied_at + agent_guard._idempotency_ttl() AS expires_at,
           (SELECT count(*) FROM agent_guard.events e
             WHERE e.xid = k.xid AND e.agent_id = k.agent_id
               AND e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE')) AS rows_written,
           k.login_role
      FROM agent_guard.applied_keys k
     WHERE (NOT agent_guard.in_agent_session() OR k.agent_id = agent_guard.current_agent())
       AND (agent_guard._idempotency_ttl() IS NULL
            OR k.applied_at > now() - agent_guard._idempotency_ttl())
     ORDER BY k.applied_at, k.agent_id, k.key;
COMMENT ON VIEW agent_guard.idempotency_keys IS
    'idempotency keys in force: applied by a committed agent transaction and not yet expired; an agent session sees only its own';

-- Expired keys are also swept a few at a time by every keyed agent
-- transaction; this is for a human who wants them gone now.
CREATE FUNCTION agent_guard.purge_idempotency_keys() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_ttl interval := agent_guard._idempotency_ttl();
    v_n   bigint;
BEGIN
    PERFORM agent_guard._require_human('agent_guard.purge_idempotency_keys()');
    IF v_ttl IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM agent_guard.applied_keys k WHERE k.applied_at <= now() - v_ttl;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;
COMMENT ON FUNCTION agent_guard.purge_idempotency_keys() IS
    'delete the idempotency keys older than agent_guard.idempotency_ttl now; returns how many';
