------------------------------------------------------------------------
-- Runs
------------------------------------------------------------------------

CREATE VIEW agent_guard.runs AS
    SELECT e.run_id,
           e.agent_id,
           -- the agent's own acts only: a human's approval, reset or
           -- rollback of the run is not the agent's work (80_evidence.sql)
           min(e.login_role) FILTER (WHERE agent_guard._is_agent_act(e.operation)) AS login_role,
           min(e.at) FILTER (WHERE agent_guard._is_agent_act(e.operation)) AS first_write,
           max(e.at) FILTER (WHERE agent_guard._is_agent_act(e.operation)) AS last_write,
           count(DISTINCT e.xid) FILTER (WHERE agent_guard._is_agent_act(e.operation)
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
           count(*) FILTER (WHERE e.seal_seq IS NULL)               AS unsealed,
           -- rollback (70_rollback.sql): how many of its writes are undone
           agent_guard._run_status(e.run_id,
               count(*) FILTER (WHERE agent_guard._is_row_op(e.operation)),
               count(c.event_id))                                   AS status,
           -- gates (65_gates.sql): attempts refused or held for approval
           count(*) FILTER (WHERE e.operation = 'BLOCKED')          AS blocked,
           -- humans' acts on the run: approvals, denials, resets
           count(*) FILTER (WHERE NOT agent_guard._is_agent_act(e.operation)) AS human_acts
      FROM agent_guard.events e
      LEFT JOIN agent_guard.events c
             ON c.operation = 'COMPENSATE' AND (c.detail->>'undoes')::bigint = e.event_id
     WHERE e.run_id IS NOT NULL
     GROUP BY e.run_id, e.agent_id
     ORDER BY min(e.at);

