------------------------------------------------------------------------
-- Runs
------------------------------------------------------------------------

CREATE VIEW agent_guard.runs AS
    SELECT e.run_id,
           e.agent_id,
           min(e.login_role)                                        AS login_role,
           min(e.at)                                                AS first_write,
           max(e.at)                                                AS last_write,
           count(DISTINCT e.xid) FILTER (WHERE e.operation IN
                  ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE'))    AS transactions,
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
           CASE WHEN count(c.event_id) > 0 AND count(c.event_id) = count(*) FILTER (WHERE e.operation IN
                         ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE')) THEN 'rolled back'
                WHEN count(c.event_id) > 0 THEN 'partly rolled back'
                WHEN EXISTS (SELECT 1 FROM agent_guard.tripped_runs t WHERE t.run_id = e.run_id)
                THEN 'tripped'
                ELSE 'active' END                                   AS status,
           -- gates (65_gates.sql): attempts refused or held for approval
           count(*) FILTER (WHERE e.operation = 'BLOCKED')          AS blocked
      FROM agent_guard.events e
      LEFT JOIN agent_guard.events c
             ON c.operation = 'COMPENSATE' AND (c.detail->>'undoes')::bigint = e.event_id
     WHERE e.run_id IS NOT NULL
     GROUP BY e.run_id, e.agent_id
     ORDER BY min(e.at);

