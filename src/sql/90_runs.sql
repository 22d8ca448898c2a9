------------------------------------------------------------------------
-- Runs
------------------------------------------------------------------------

CREATE VIEW agent_guard.runs AS
    SELECT e.run_id,
           e.agent_id,
           -- the agent's own acts only (_is_agent_act() in 80_evidence.sql):
           -- a human's approval, reset or rollback is not the agent's work
           min(e.login_role) FILTER (WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')) AS login_role,
           min(e.at) FILTER (WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')) AS first_write,
           max(e.at) FILTER (WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')) AS last_write,
           count(DISTINCT e.xid) FILTER (WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')
                                           AND e.operation <> 'BLOCKED') AS transactions,
           count(DISTINCT e.statement_id)                           AS statements,
           count(*) FILTER (WHERE e.operation = 'INSERT')           AS inserted,
           count(*) FILTER (WHERE e.operation = 'UPDATE')           AS updated,
           count(*) FILTER (WHERE e.operation = 'DELETE')           AS deleted,
           count(*) FILTER (WHERE e.operation = 'SOFT_DELETE')      AS soft_deleted,
           -- evidence: where the run came from, guards, sealing
           (SELECT min(host(s.client_addr)) FROM agent_guard.statements s
             WHERE s.run_id = e.run_id)                             AS client_addr,
           (SELECT min(s.application_name) FROM agent_guard.statements s
             WHERE s.run_id = e.run_id AND s.application_name <> '') AS application_name,
           count(*) FILTER (WHERE e.operation NOT IN
                  ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE'))    AS guard_events,
           -- sealed: in agent_guard.seals, or (1.1) its own seal_seq
           count(*) FILTER (WHERE e.seal_seq IS NULL
                              AND (e.event_id > (SELECT cs.sealed_through FROM agent_guard.chain_state cs)
                                   OR (SELECT cs.gaps FROM agent_guard.chain_state cs) @> e.event_id)) AS unsealed,
           -- rollback (70_rollback.sql): how many of its writes are undone
           -- the one definition of a run's state, which the postmortem and
           -- the command line read from here: what was undone first (the
           -- run's outcome), then what holds the run back now
           CASE WHEN count(c.event_id) > 0 AND count(c.event_id) = count(*) FILTER (WHERE e.operation IN
                         ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE')) THEN 'rolled back'
                WHEN count(c.event_id) > 0 THEN 'partly rolled back'
                WHEN EXISTS (SELECT 1 FROM agent_guard.tripped_runs t
                              WHERE t.run_id = e.run_id AND t.agent_id = e.agent_id)
                THEN 'tripped'
                WHEN EXISTS (SELECT 1 FROM agent_guard.freeze_state f
                              WHERE f.scope = '*' OR f.scope = e.agent_id)
                THEN 'frozen'
                WHEN (SELECT r.status FROM agent_guard.request_log r
                       WHERE r.run_id = e.run_id AND r.agent_id = e.agent_id AND r.kind = 'approval'
                       ORDER BY r.request_id DESC LIMIT 1) = 'denied'
                THEN 'denied'
                ELSE 'active' END                                   AS status,
           -- gates (65_gates.sql): attempts refused or held for approval
           count(*) FILTER (WHERE e.operation = 'BLOCKED')          AS blocked,
           -- humans' acts on the run: approvals, denials, resets
           count(*) FILTER (WHERE NOT e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')) AS human_acts
      FROM agent_guard.events e
      LEFT JOIN agent_guard.events c
             ON c.operation = 'COMPENSATE' AND (c.detail->>'undoes')::bigint = e.event_id
     WHERE e.run_id IS NOT NULL
     GROUP BY e.run_id, e.agent_id
     ORDER BY min(e.at);

