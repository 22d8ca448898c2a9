/* agent_guard--1.0.sql: schema agent_guard, version 1.0 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION agent_guard" to load this file. \quit

-- The schema is created here, not named in the control file, so that it
-- belongs to the extension (DROP EXTENSION removes it) and so that a schema
-- of that name created beforehand by someone else makes the install fail
-- instead of putting the guard into a schema its creator controls.
CREATE SCHEMA agent_guard;
COMMENT ON SCHEMA agent_guard IS 'agent_guard: guard rails for AI agents';

-- The first C function loads the library; its _PG_init refuses to run
-- unless agent_guard is in shared_preload_libraries, so a missing preload
-- stops CREATE EXTENSION here with a hint.
CREATE FUNCTION agent_guard.in_agent_session() RETURNS boolean
    AS 'MODULE_PATHNAME', 'ag_sql_in_agent_session'
    LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION agent_guard.in_agent_session() IS
    'true when this session is an agent session (registered login role or agent_guard.agent_id tag)';

CREATE FUNCTION agent_guard.current_agent() RETURNS text
    AS 'MODULE_PATHNAME', 'ag_sql_current_agent'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION agent_guard.current_agent() IS
    'agent id of this session, NULL outside agent sessions';

CREATE FUNCTION agent_guard.current_run() RETURNS text
    AS 'MODULE_PATHNAME', 'ag_sql_current_run'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION agent_guard.current_run() IS
    'run id this agent session writes under (fixed from its first write), NULL outside agent sessions';

CREATE FUNCTION agent_guard.calling_role() RETURNS regrole
    AS 'MODULE_PATHNAME', 'ag_sql_calling_role'
    LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION agent_guard.calling_role() IS
    'the role the caller acts as outside SECURITY DEFINER functions';

CREATE FUNCTION agent_guard.stamp() RETURNS trigger
    AS 'MODULE_PATHNAME', 'ag_stamp'
    LANGUAGE C;

CREATE FUNCTION agent_guard.capture() RETURNS trigger
    AS 'MODULE_PATHNAME', 'ag_capture'
    LANGUAGE C;

CREATE FUNCTION agent_guard.registry_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'ag_registry_changed'
    LANGUAGE C;

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
    protected_by  text NOT NULL DEFAULT session_user
);

-- One row per client statement that wrote through a protected table;
-- events point here instead of repeating the text per row.
CREATE TABLE agent_guard.statements (
    statement_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    xid           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    agent_id      text,
    run_id        text,
    login_role    text,
    query         text
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
                      'REGISTER', 'UNREGISTER', 'PROTECT', 'UNPROTECT')),
    row_key       jsonb,
    old_row       jsonb,
    new_row       jsonb,
    detail        jsonb
);
CREATE INDEX events_run_id_idx ON agent_guard.events (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX events_xid_idx ON agent_guard.events (xid);

COMMENT ON TABLE agent_guard.events IS
    'append-only record of agent writes and guard decisions; row_key is the key after the change (before it, for DELETE)';

SELECT pg_catalog.pg_extension_config_dump('agent_guard.registered_agents', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.protected_tables', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.statements', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.statements_statement_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.events', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.events_event_id_seq', '');

------------------------------------------------------------------------
-- Internal helpers
------------------------------------------------------------------------

CREATE FUNCTION agent_guard._require_human(fn text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF agent_guard.in_agent_session() THEN
        RAISE EXCEPTION '% cannot be called from an agent session', fn
            USING ERRCODE = 'YG002',
                  DETAIL = format('This session acts as agent "%s".', agent_guard.current_agent()),
                  HINT = 'Ask a human operator to run it from a session that is not an agent session.';
    END IF;
END
$$;

CREATE FUNCTION agent_guard._log(operation text, relation text, detail jsonb) RETURNS void
    LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO agent_guard.events (login_role, acting_role, relation, operation, detail)
    VALUES (session_user, agent_guard.calling_role()::text, relation, operation, detail);
$$;

CREATE FUNCTION agent_guard._check_id(value text, what text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF value = '' OR length(value) > 200 OR value ~ '[\x01-\x1f\x7f]' THEN
        RAISE EXCEPTION 'invalid % "%"', what, left(value, 64)
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('An %s must be 1 to 200 characters long, without control characters.', what);
    END IF;
END
$$;

-- Drop our triggers from a table (cloned partition triggers go with them).
CREATE FUNCTION agent_guard._drop_triggers(relation regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name name;
BEGIN
    FOR v_name IN SELECT t.tgname FROM pg_trigger t
                   WHERE t.tgrelid = relation AND t.tgparentid = 0
                     AND t.tgname IN ('zz_agent_guard_stamp', 'zz_agent_guard_capture')
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', v_name, relation);
    END LOOP;
END
$$;

------------------------------------------------------------------------
-- Identity
------------------------------------------------------------------------

CREATE FUNCTION agent_guard.register_agent(role regrole, agent_id text DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id   text := coalesce(agent_id, role::text);
    v_role pg_roles%ROWTYPE;
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

------------------------------------------------------------------------
-- Protection
------------------------------------------------------------------------

CREATE FUNCTION agent_guard.protect(relation regclass, soft_delete boolean DEFAULT true)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rel      record;
    v_keys     text[];
    v_col      record;
    v_root     regclass;
BEGIN
    PERFORM agent_guard._require_human('agent_guard.protect()');
    IF relation IS NULL OR soft_delete IS NULL THEN
        RAISE EXCEPTION 'relation and soft_delete must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;

    SELECT c.relkind, c.relowner, c.relpersistence, c.relispartition, n.nspname
      INTO v_rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = relation;

    IF v_rel.nspname IN ('pg_catalog', 'information_schema', 'agent_guard')
       OR v_rel.nspname LIKE 'pg\_toast%' THEN
        RAISE EXCEPTION 'cannot protect %: it is a system relation', relation
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = format('Relations in schema "%s" belong to the system or to agent_guard.', v_rel.nspname);
    END IF;
    IF v_rel.relkind = 'm' THEN
        RAISE EXCEPTION 'cannot protect %: it is a materialized view', relation
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Protect the tables it is computed from.';
    ELSIF v_rel.relkind = 'v' THEN
        RAISE EXCEPTION 'cannot protect %: it is a view', relation
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Protect the tables the view reads from.';
    ELSIF v_rel.relkind = 'f' THEN
        RAISE EXCEPTION 'cannot protect %: it is a foreign table', relation
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Protect the table on the server that stores the data.';
    ELSIF v_rel.relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'cannot protect %: it is not a table', relation
            USING ERRCODE = 'wrong_object_type';
    END IF;
    IF v_rel.relpersistence = 't' THEN
        RAISE EXCEPTION 'cannot protect %: it is a temporary table', relation
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'Temporary tables are a session''s own scratch space.';
    END IF;
    IF NOT pg_has_role(agent_guard.calling_role(), v_rel.relowner, 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', relation
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    -- a partition of a protected table is covered already
    FOR v_root IN SELECT a.relid FROM pg_partition_ancestors(relation) a WHERE a.relid <> relation LOOP
        IF EXISTS (SELECT 1 FROM agent_guard.protected_tables p WHERE p.relation = v_root) THEN
            RAISE EXCEPTION 'cannot protect %: it is a partition of protected table "%"', relation, v_root
                USING ERRCODE = 'wrong_object_type',
                      HINT = 'Its parent''s protection covers it already.';
        END IF;
    END LOOP;

    -- the key that identifies rows in the log: primary key, else replica identity
    SELECT array_agg(a.attname::text ORDER BY k.ord)
      INTO v_keys
      FROM (SELECT i.indexrelid, i.indkey
              FROM pg_index i
             WHERE i.indrelid = relation AND (i.indisprimary OR i.indisreplident)
             ORDER BY i.indisprimary DESC
             LIMIT 1) ix
      CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_attribute a ON a.attrelid = relation AND a.attnum = k.attnum;
    IF v_keys IS NULL THEN
        RAISE EXCEPTION 'cannot protect %: it has no primary key or replica identity index', relation
            USING ERRCODE = 'invalid_table_definition',
                  DETAIL = 'agent_guard identifies every logged row by its key.',
                  HINT = format('Add a primary key, for example ALTER TABLE %s ADD PRIMARY KEY (...).', relation);
    END IF;
    IF v_keys && ARRAY['ag_agent_id', 'ag_run_id', 'ag_deleted_at'] THEN
        RAISE EXCEPTION 'cannot protect %: its key uses a stamp column', relation
            USING ERRCODE = 'invalid_table_definition';
    END IF;

    -- stamp columns of another type would lie about who wrote
    FOR v_col IN
        SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS t
          FROM pg_attribute a
         WHERE a.attrelid = relation AND NOT a.attisdropped
           AND ((a.attname IN ('ag_agent_id', 'ag_run_id') AND a.atttypid <> 'text'::regtype)
             OR (a.attname = 'ag_deleted_at' AND a.atttypid <> 'timestamptz'::regtype))
    LOOP
        RAISE EXCEPTION 'cannot protect %: column "%" has type %', relation, v_col.attname, v_col.t
            USING ERRCODE = 'datatype_mismatch',
                  HINT = 'Rename or drop the column; agent_guard owns the ag_ column names.';
    END LOOP;

    FOR v_col IN
        SELECT c.name, c.type
          FROM (VALUES ('ag_agent_id', 'text', true), ('ag_run_id', 'text', true),
                       ('ag_deleted_at', 'timestamptz', soft_delete)) AS c(name, type, wanted)
         WHERE c.wanted AND NOT EXISTS (
               SELECT 1 FROM pg_attribute a
                WHERE a.attrelid = relation AND a.attname = c.name AND NOT a.attisdropped)
    LOOP
        EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s', relation, v_col.name, v_col.type);
    END LOOP;

    -- "zz_" so that the stamp trigger runs after the table's own BEFORE
    -- triggers (they fire in name order) and has the last word on stamps.
    PERFORM agent_guard._drop_triggers(relation);
    EXECUTE format('CREATE TRIGGER zz_agent_guard_stamp BEFORE INSERT OR UPDATE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION agent_guard.stamp()', relation);
    EXECUTE format('CREATE TRIGGER zz_agent_guard_capture AFTER INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW WHEN (agent_guard.in_agent_session()) '
                   'EXECUTE FUNCTION agent_guard.capture()', relation);

    INSERT INTO agent_guard.protected_tables AS p (relation, soft_delete, key_columns)
    VALUES (protect.relation, protect.soft_delete, v_keys)
    ON CONFLICT ON CONSTRAINT protected_tables_pkey
    DO UPDATE SET soft_delete = EXCLUDED.soft_delete, key_columns = EXCLUDED.key_columns,
                  protected_at = now(), protected_by = session_user;

    PERFORM agent_guard._log('PROTECT', relation::text,
        jsonb_build_object('soft_delete', soft_delete, 'key_columns', to_jsonb(v_keys)));
END
$$;
COMMENT ON FUNCTION agent_guard.protect(regclass, boolean) IS
    'stamp and log agent writes to a table (and its partitions); adds ag_agent_id, ag_run_id and, with soft_delete, ag_deleted_at';

CREATE FUNCTION agent_guard.unprotect(relation regclass) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_owner oid;
BEGIN
    PERFORM agent_guard._require_human('agent_guard.unprotect()');
    IF relation IS NULL THEN
        RAISE EXCEPTION 'relation must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM agent_guard.protected_tables p WHERE p.relation = unprotect.relation) THEN
        RAISE EXCEPTION 'table % is not protected', relation
            USING ERRCODE = 'undefined_object',
                  HINT = 'See agent_guard.protected for the protected tables.';
    END IF;
    SELECT c.relowner INTO v_owner FROM pg_class c WHERE c.oid = relation;
    IF NOT pg_has_role(agent_guard.calling_role(), v_owner, 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', relation
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    PERFORM agent_guard._drop_triggers(relation);
    DELETE FROM agent_guard.protected_tables p WHERE p.relation = unprotect.relation;

    PERFORM agent_guard._log('UNPROTECT', relation::text, NULL);
    RAISE NOTICE 'stamp columns of % were kept, with their data', relation
        USING HINT = 'Drop ag_agent_id, ag_run_id and ag_deleted_at yourself if they are no longer wanted.';
END
$$;
COMMENT ON FUNCTION agent_guard.unprotect(regclass) IS
    'stop stamping and logging writes to a table; its stamp columns and the log are kept';

CREATE VIEW agent_guard.protected AS
    SELECT p.relation, p.soft_delete, p.key_columns, p.protected_at, p.protected_by,
           (SELECT count(*) FROM pg_partition_tree(p.relation) t
             WHERE t.isleaf AND t.relid <> p.relation) AS partitions
      FROM agent_guard.protected_tables p
     ORDER BY p.relation::text;

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
           count(*) FILTER (WHERE e.operation = 'SOFT_DELETE')      AS soft_deleted
      FROM agent_guard.events e
     WHERE e.run_id IS NOT NULL
     GROUP BY e.run_id, e.agent_id
     ORDER BY min(e.at);

------------------------------------------------------------------------
-- Privileges: agents get nothing but the questions about themselves.
------------------------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA agent_guard FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA agent_guard FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA agent_guard FROM PUBLIC;
GRANT USAGE ON SCHEMA agent_guard TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard.in_agent_session() TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard.current_agent() TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard.current_run() TO PUBLIC;
