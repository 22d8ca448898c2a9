------------------------------------------------------------------------
-- Runs
------------------------------------------------------------------------

CREATE VIEW agent_guard.runs AS
    SELECT e.run_id,
           e.agent_id,
           min(e.login_role)                                        AS login_role,
           min(e.at)                                                AS first_write,
           max(e.at)                                                AS last_write,
           count(DISTINCT e.xid)                                    AS transactions,
           count(DISTINCT e.statement_id)                           AS statements,
           count(*) FILTER (WHERE e.operation = 'INSERT')           AS inserted,
           count(*) FILTER (WHERE e.operation = 'UPDATE')           AS updated,
           count(*) FILTER (WHERE e.operation = 'DELETE')           AS deleted,
           count(*) FILTER (WHERE e.operation = 'SOFT_DELETE')      AS soft_deleted,
           -- rollback (70_rollback.sql): how many of its writes are undone
           CASE WHEN count(c.event_id) = 0 THEN 'active'
                WHEN count(c.event_id) = count(*) FILTER (WHERE e.operation IN
                         ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE')) THEN 'rolled back'
                ELSE 'partly rolled back' END                       AS status
      FROM agent_guard.events e
      LEFT JOIN agent_guard.events c
             ON c.operation = 'COMPENSATE' AND (c.detail->>'undoes')::bigint = e.event_id
     WHERE e.run_id IS NOT NULL
     GROUP BY e.run_id, e.agent_id
     ORDER BY min(e.at);

