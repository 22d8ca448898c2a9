------------------------------------------------------------------------
-- Tables.  Agents hold no privilege on any of them; the extension writes
-- them as their owner.
------------------------------------------------------------------------

-- Column order matters: identity.c reads column 1 (role) and 2 (agent_id).
CREATE TABLE agent_guard.registered_agents (
    role          regrole PRIMARY KEY,
    agent_id      text NOT NULL CHECK (agent_id <> '' AND length(agent_id) <= 200),
    registered_at timestamptz NOT NULL DEFAULT now(),
    registered_by text NOT NULL DEFAULT session_user
);

-- Every change tells every backend to drop its cached lookup.
CREATE TRIGGER registry_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON agent_guard.registered_agents
    FOR EACH STATEMENT EXECUTE FUNCTION agent_guard.registry_changed();

CREATE TABLE agent_guard.protected_tables (
    relation      regclass PRIMARY KEY,
    soft_delete   boolean NOT NULL,
    key_columns   text[] NOT NULL,
    protected_at  timestamptz NOT NULL DEFAULT now(),
    protected_by  text NOT NULL DEFAULT session_user,
    -- a row of the table may be soft-deleted: set by protect(), and by an
    -- agent's first soft delete (softkeys.c); while false, humans' writes
    -- do not look for soft-deleted rows holding their keys
    soft_rows     boolean NOT NULL DEFAULT true
);

-- Row security of a table, of its partitions and of the inheritance
-- children its protect() covers, as it was before protect() turned it on
-- for soft deletes (40_protect.sql); unprotect() puts it back.  Kept per
-- relation as a regclass, which follows the table through renames and,
-- dumped by name, through a restore (new oids): kept by name before 1.2,
-- a renamed table's state was not found, and its row security stayed on
-- and forced with no permissive policy, hiding every row from humans
-- (red team 25, F1).
CREATE TABLE agent_guard.rls_before (
    relation           regclass PRIMARY KEY,
    row_security       boolean NOT NULL,
    force_row_security boolean NOT NULL
);
COMMENT ON TABLE agent_guard.rls_before IS
    'row security of the relations protect() turned it on for (a soft-delete table, its partitions, the inheritance children it covers), as it was before';

-- The statements of agent_guard 1.1 and before: one row per client
-- statement that wrote through a protected table; events point here
-- instead of repeating the text per row.  Since 1.2 a statement is kept in
-- its first event instead (the query ... parameters columns of events, see
-- the view agent_guard.statements below), so this table holds only what
-- was written before the update; its identity still numbers the new
-- statements (capture.c), and the events sealed with one of its rows keep
-- being verified against it (80_evidence.sql).
CREATE TABLE agent_guard.statement_rows (
    statement_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    xid           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    agent_id      text,
    run_id        text,
    login_role    text,
    query         text,
    -- where the statement came from, as the client connected (NULL over a
    -- Unix socket) and as it named itself
    client_addr   inet DEFAULT pg_catalog.inet_client_addr(),
    application_name text DEFAULT pg_catalog.current_setting('application_name', true),
    -- the values the client bound to the statement's parameters, as
    -- "$1 = 'void', $2 = '12'", each cut at 1024 characters (src/params.c)
    parameters    text
);

-- The event log (and compensation log).
CREATE TABLE agent_guard.events (
    event_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    xid           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    agent_id      text,
    run_id        text,
    login_role    text,
    acting_role   text,
    statement_id  bigint,
    relation      text,
    operation     text NOT NULL CHECK (operation IN (
                      'INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'COMPENSATE',
                      'BLOCKED', 'APPROVED', 'DENIED', 'FREEZE', 'UNFREEZE', 'ROLLBACK',
                      'REGISTER', 'UNREGISTER', 'PROTECT', 'UNPROTECT', 'ARCHIVE',
                      'RESTORE', 'PURGE', 'RESET_RUN', 'POLICY', 'POLICY_DROP',
                      'DROP', 'EXECUTED', 'OPERATOR')),
    row_key       jsonb,
    old_row       jsonb,
    new_row       jsonb,
    detail        jsonb,
    -- the hash chain (80_evidence.sql): position and seal, set by the sealer
    seal_seq      bigint,
    seal          bytea,
    -- the client statement, in its first event only (the other events of
    -- the statement have its statement_id and NULL here): its text ('' when
    -- none was known), where it came from, and its bound parameter values;
    -- as agent_guard.statement_rows had them (see agent_guard.statements)
    query         text,
    client_addr   inet,
    application_name text,
    parameters    text
);
CREATE INDEX events_run_id_idx ON agent_guard.events (run_id) WHERE run_id IS NOT NULL;
-- no index on xid: every index here is paid on every agent write;
-- rollback_xact() (rare, by a human) scans.

COMMENT ON TABLE agent_guard.events IS
    'append-only record of agent writes and guard decisions; row_key is the key after the change (before it, for DELETE)';

-- Every client statement that wrote through a protected table: the rows
-- written by 1.1 and before, and the statements kept in their first event
-- since.  A statement kept in its event goes with it to
-- agent_guard.events_archive.
CREATE VIEW agent_guard.statements AS
    SELECT s.statement_id, s.at, s.xid, s.agent_id, s.run_id, s.login_role, s.query,
           s.client_addr, s.application_name, s.parameters
      FROM agent_guard.statement_rows s
    UNION ALL
    SELECT e.statement_id, e.at, e.xid, e.agent_id, e.run_id, e.login_role,
           NULLIF(e.query, ''), e.client_addr, e.application_name, e.parameters
      FROM agent_guard.events e
     WHERE e.query IS NOT NULL;
COMMENT ON VIEW agent_guard.statements IS
    'one row per client statement of an agent that wrote through a protected table, with its text and bound parameter values; its events have its statement_id';

SELECT pg_catalog.pg_extension_config_dump('agent_guard.registered_agents', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.protected_tables', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.rls_before', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.statement_rows', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.statement_rows_statement_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.events', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.events_event_id_seq', '');

