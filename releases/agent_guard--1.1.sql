-- agent_guard install script of the version in agent_guard.control.  The
-- Makefile builds it from the files in src/sql, in name order: edit those,
-- not the built script.  A change here needs the same change in the
-- upgrade script from the previous release (test/t/016_upgrade.pl checks).

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION agent_guard" to load this file. \quit

-- The event log is sealed over the UTF-8 text of each event (80_evidence.sql).
-- A SQL_ASCII database stores bytes that are text in no encoding: one such
-- byte written by an agent would make every later seal fail.
DO $$
BEGIN
    IF pg_catalog.current_setting('server_encoding') = 'SQL_ASCII' THEN
        RAISE EXCEPTION 'agent_guard cannot be installed in a database with encoding SQL_ASCII'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'The event log is sealed over UTF-8 text; a byte that is not valid text, written by an agent, would stop the sealing.',
                  HINT = 'Create the database with an encoding such as UTF8 (CREATE DATABASE ... ENCODING ''UTF8'' TEMPLATE template0) and install agent_guard there.';
    END IF;
END
$$;

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

-- In the RETURNING list of an agent's DELETE turned into a soft delete, in
-- place of the stamp columns: the values the row had before (softdelete.c).
CREATE FUNCTION agent_guard.soft_deleted_stamp(which integer, VARIADIC keys "any") RETURNS text
    AS 'MODULE_PATHNAME', 'ag_soft_deleted_stamp'
    LANGUAGE C VOLATILE;

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
    protected_by  text NOT NULL DEFAULT session_user,
    -- row security of the table and its partitions before protect()
    -- turned it on for soft deletes: {"name": [enabled, forced], ...}
    rls_before    jsonb
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
    query         text,
    -- where the statement came from, as the client connected (NULL over a
    -- Unix socket) and as it named itself
    client_addr   inet DEFAULT pg_catalog.inet_client_addr(),
    application_name text DEFAULT pg_catalog.current_setting('application_name', true)
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
                      'RESTORE', 'PURGE', 'RESET_RUN', 'POLICY', 'POLICY_DROP')),
    row_key       jsonb,
    old_row       jsonb,
    new_row       jsonb,
    detail        jsonb,
    -- the hash chain (80_evidence.sql): position and seal, set by the sealer
    seal_seq      bigint,
    seal          bytea
);
CREATE INDEX events_run_id_idx ON agent_guard.events (run_id) WHERE run_id IS NOT NULL;
-- no index on xid: every index here is paid on every agent write;
-- rollback_xact() (rare, by a human) scans.

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

CREATE FUNCTION agent_guard._role_power(role regrole) RETURNS text
    AS 'MODULE_PATHNAME', 'ag_sql_role_power'
    LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION agent_guard._role_power(regrole) IS
    'why a role cannot be an agent (it could switch the guard off), or NULL';

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
                  DETAIL = 'Such a role can switch the guard off.',
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

-- Soft-deleted rows are hidden by row security: a restrictive policy
-- "ag_hide_deleted" (USING ag_deleted_at IS NULL, for every command; new
-- rows are not checked, so that marking a row is possible) on the
-- table and each partition, FORCEd so that the owner is held to it too.
-- Where row security was off, it is turned on with a permissive policy
-- "ag_visible" (USING true) so that nobody loses sight of live rows; where
-- it was on, the table's own policies keep their meaning and ours only
-- narrows them.  Superusers and BYPASSRLS roles still see everything.
-- Returns the previous state, for _soft_rls_off.
CREATE FUNCTION agent_guard._soft_rls_on(relation regclass) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rel    record;
    v_before jsonb := '{}';
BEGIN
    FOR v_rel IN
        SELECT c.oid::regclass AS rel, c.relrowsecurity, c.relforcerowsecurity
          FROM pg_class c
         WHERE c.oid = relation
            OR c.oid IN (SELECT t.relid FROM pg_partition_tree(relation) t)
    LOOP
        v_before := v_before || jsonb_build_object(v_rel.rel::text,
                        jsonb_build_array(v_rel.relrowsecurity, v_rel.relforcerowsecurity));
        IF NOT v_rel.relrowsecurity THEN
            EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', v_rel.rel);
            EXECUTE format('CREATE POLICY ag_visible ON %s AS PERMISSIVE FOR ALL USING (true) WITH CHECK (true)', v_rel.rel);
        END IF;
        IF NOT v_rel.relforcerowsecurity THEN
            EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', v_rel.rel);
        END IF;
        EXECUTE format('CREATE POLICY ag_hide_deleted ON %s AS RESTRICTIVE FOR ALL USING (ag_deleted_at IS NULL) WITH CHECK (true)', v_rel.rel);
    END LOOP;
    RETURN v_before;
END
$$;

CREATE FUNCTION agent_guard._soft_rls_off(relation regclass, before jsonb) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rel  record;
    v_prev jsonb;
BEGIN
    FOR v_rel IN SELECT relation AS rel
                 UNION
                 SELECT t.relid::regclass FROM pg_partition_tree(relation) t LOOP
        v_prev := before -> v_rel.rel::text;
        IF EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = v_rel.rel AND polname = 'ag_hide_deleted') THEN
            EXECUTE format('DROP POLICY ag_hide_deleted ON %s', v_rel.rel);
        END IF;
        IF EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = v_rel.rel AND polname = 'ag_visible') THEN
            EXECUTE format('DROP POLICY ag_visible ON %s', v_rel.rel);
        END IF;
        IF v_prev IS NOT NULL THEN
            IF NOT (v_prev ->> 0)::boolean THEN
                EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', v_rel.rel);
            END IF;
            IF NOT (v_prev ->> 1)::boolean THEN
                EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', v_rel.rel);
            END IF;
        END IF;
    END LOOP;
END
$$;

CREATE FUNCTION agent_guard.protect(relation regclass, soft_delete boolean DEFAULT true)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rel      record;
    v_keys     text[];
    v_col      record;
    v_root     regclass;
    v_arg      text;
    v_rls      jsonb;
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
    -- the trigger argument tells the C code (and the planner) the mode
    v_arg := CASE WHEN soft_delete THEN '''soft_delete''' ELSE '''hard_delete''' END;
    PERFORM agent_guard._drop_triggers(relation);
    EXECUTE format('CREATE TRIGGER zz_agent_guard_stamp BEFORE INSERT OR UPDATE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION agent_guard.stamp(%s)', relation, v_arg);
    EXECUTE format('CREATE TRIGGER zz_agent_guard_capture AFTER INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW WHEN (agent_guard.in_agent_session()) '
                   'EXECUTE FUNCTION agent_guard.capture(%s)', relation, v_arg);

    SELECT p.rls_before INTO v_rls FROM agent_guard.protected_tables p WHERE p.relation = protect.relation;
    IF v_rls IS NOT NULL THEN
        PERFORM agent_guard._soft_rls_off(relation, v_rls);
        v_rls := NULL;
    END IF;
    IF soft_delete THEN
        v_rls := agent_guard._soft_rls_on(relation);
    END IF;

    INSERT INTO agent_guard.protected_tables AS p (relation, soft_delete, key_columns, rls_before)
    VALUES (protect.relation, protect.soft_delete, v_keys, v_rls)
    ON CONFLICT ON CONSTRAINT protected_tables_pkey
    DO UPDATE SET soft_delete = EXCLUDED.soft_delete, key_columns = EXCLUDED.key_columns,
                  rls_before = EXCLUDED.rls_before,
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
    v_rls   jsonb;
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
    SELECT p.rls_before INTO v_rls FROM agent_guard.protected_tables p WHERE p.relation = unprotect.relation;
    IF v_rls IS NOT NULL THEN
        PERFORM agent_guard._soft_rls_off(relation, v_rls);
    END IF;
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
-- Soft deletes: what humans do with the rows agents deleted
------------------------------------------------------------------------

-- The soft-delete table a human may work on: protected with soft_delete,
-- and owned by (a role of) the caller.
CREATE FUNCTION agent_guard._soft_table(relation regclass, fn text) RETURNS text[]
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_keys  text[];
    v_soft  boolean;
    v_owner oid;
BEGIN
    PERFORM agent_guard._require_human(fn);
    IF relation IS NULL THEN
        RAISE EXCEPTION 'relation must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT p.key_columns, p.soft_delete INTO v_keys, v_soft
      FROM agent_guard.protected_tables p WHERE p.relation = _soft_table.relation;
    IF NOT FOUND OR NOT v_soft THEN
        RAISE EXCEPTION 'table % is not protected with soft deletes', relation
            USING ERRCODE = 'undefined_object',
                  HINT = 'See agent_guard.protected.';
    END IF;
    SELECT c.relowner INTO v_owner FROM pg_class c WHERE c.oid = relation;
    IF NOT pg_has_role(agent_guard.calling_role(), v_owner, 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', relation
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN v_keys;
END
$$;

-- "t.k1 = r.k1 AND ..." with the built-in equality (the key's btree class)
CREATE FUNCTION agent_guard._key_match(keys text[]) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(format('t.%1$I OPERATOR(pg_catalog.=) r.%1$I', k), ' AND ')
      FROM unnest(keys) AS k;
$$;

CREATE FUNCTION agent_guard.soft_deleted(relation regclass)
    RETURNS TABLE (row_key jsonb, deleted_at timestamptz, agent_id text, run_id text, row_data jsonb)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_keys text[] := agent_guard._soft_table(relation, 'agent_guard.soft_deleted()');
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT (SELECT jsonb_object_agg(k, to_jsonb(t) -> k) FROM unnest($1) AS k), '
        '       t.ag_deleted_at, t.ag_agent_id, t.ag_run_id, to_jsonb(t) '
        '  FROM %s t WHERE t.ag_deleted_at IS NOT NULL ORDER BY t.ag_deleted_at', relation)
        USING v_keys;
END
$$;
COMMENT ON FUNCTION agent_guard.soft_deleted(regclass) IS
    'the rows of a soft-delete table that agents deleted, newest last';

CREATE FUNCTION agent_guard.restore(relation regclass, row_key jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_keys text[] := agent_guard._soft_table(relation, 'agent_guard.restore()');
    v_old  jsonb;
    v_new  jsonb;
BEGIN
    IF row_key IS NULL OR jsonb_typeof(row_key) <> 'object'
       OR NOT row_key ?& v_keys THEN
        RAISE EXCEPTION 'row key must be a JSON object with the key columns of %', relation
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The key columns are %s.', array_to_string(v_keys, ', ')),
                  HINT = 'See agent_guard.soft_deleted() for the keys of deleted rows.';
    END IF;
    EXECUTE format(
        'WITH r AS (SELECT * FROM jsonb_populate_record(NULL::%1$s, $1)), '
        '     old AS (SELECT to_jsonb(t) AS img, t.ctid AS tid FROM %1$s t, r '
        '              WHERE %2$s AND t.ag_deleted_at IS NOT NULL FOR UPDATE OF t) '
        'UPDATE %1$s t SET ag_deleted_at = NULL FROM old WHERE t.ctid = old.tid '
        'RETURNING old.img, to_jsonb(t)', relation, agent_guard._key_match(v_keys))
        INTO v_old, v_new USING row_key;
    IF v_old IS NULL THEN
        RAISE EXCEPTION 'no soft-deleted row of % has key %', relation, row_key
            USING ERRCODE = 'no_data_found',
                  HINT = 'See agent_guard.soft_deleted() for the keys of deleted rows.';
    END IF;
    INSERT INTO agent_guard.events (login_role, acting_role, relation, operation, row_key, old_row, new_row)
    VALUES (session_user, agent_guard.calling_role()::text, relation::text, 'RESTORE',
            row_key, v_old, v_new);
    RETURN v_new;
END
$$;
COMMENT ON FUNCTION agent_guard.restore(regclass, jsonb) IS
    'bring back one soft-deleted row (a write by the calling human; stamps become NULL)';

CREATE FUNCTION agent_guard.purge(relation regclass, older_than interval) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_keys  text[] := agent_guard._soft_table(relation, 'agent_guard.purge()');
    v_count bigint;
BEGIN
    IF older_than IS NULL OR older_than < interval '0' THEN
        RAISE EXCEPTION 'older_than must be an interval of zero or more'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format(
        'WITH gone AS (DELETE FROM %1$s t WHERE t.ag_deleted_at < now() - $1 RETURNING to_jsonb(t) AS img) '
        'INSERT INTO agent_guard.events (login_role, acting_role, relation, operation, row_key, old_row) '
        'SELECT session_user, agent_guard.calling_role()::text, $2, ''PURGE'', '
        '       (SELECT jsonb_object_agg(k, g.img -> k) FROM unnest($3) AS k), g.img FROM gone g',
        relation)
        USING older_than, relation::text, v_keys;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION agent_guard.purge(regclass, interval) IS
    'remove for good the rows soft-deleted longer ago than older_than; each is logged with its image';

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
------------------------------------------------------------------------
-- Gates: requests for approval, freezes, tripped runs (src/gate.c)
------------------------------------------------------------------------

-- Every refused agent statement gets a request id from this sequence at
-- the moment it is refused (sequences do not roll back), and its row is
-- written by the journal worker from shared memory, since the agent's
-- transaction aborts.
CREATE SEQUENCE agent_guard.requests_request_id_seq;

CREATE TABLE agent_guard.request_log (
    request_id     bigint PRIMARY KEY,
    requested_at   timestamptz NOT NULL,
    agent_id       text NOT NULL,
    run_id         text,
    login_role     text,
    -- approval: may be approved; refused: weakens the guard, never allowed;
    -- frozen: a freeze holds; tripped: the run passed its row limit;
    -- policy: outside the agent's policy; rate: over its max_rows_per_minute
    kind           text NOT NULL CHECK (kind IN ('approval', 'refused', 'frozen', 'tripped', 'policy', 'rate')),
    status         text NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'used', 'refused')),
    reason         text NOT NULL,
    statement      text,
    statement_hash bigint NOT NULL,
    decided_by     text,
    decided_at     timestamptz,
    note           text,
    expires_at     timestamptz,
    used_at        timestamptz,
    used_xid       xid8
);
CREATE INDEX request_log_lookup_idx ON agent_guard.request_log (agent_id, statement_hash)
    WHERE status = 'approved';

CREATE TABLE agent_guard.freeze_state (
    scope      text PRIMARY KEY,          -- '*' for all agents, else an agent id
    reason     text NOT NULL,
    frozen_at  timestamptz NOT NULL DEFAULT now(),
    frozen_by  text NOT NULL DEFAULT session_user
);

CREATE TABLE agent_guard.tripped_runs (
    run_id      text PRIMARY KEY,
    agent_id    text NOT NULL,
    tripped_at  timestamptz NOT NULL,
    rows_seen   bigint NOT NULL,
    request_id  bigint
);

SELECT pg_catalog.pg_extension_config_dump('agent_guard.request_log', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.requests_request_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.freeze_state', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.tripped_runs', '');

-- Requests still in shared memory, not yet written by the worker.
CREATE FUNCTION agent_guard._pending_requests(
    OUT request_id bigint, OUT requested_at timestamptz, OUT agent_id text, OUT run_id text,
    OUT login_role text, OUT kind text, OUT reason text, OUT statement text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'ag_sql_pending_requests'
    LANGUAGE C STRICT VOLATILE;

-- Wait (a few seconds at most) until the worker has written the requests
-- refused so far in this database.
CREATE FUNCTION agent_guard._flush_requests() RETURNS boolean
    AS 'MODULE_PATHNAME', 'ag_sql_flush_requests'
    LANGUAGE C STRICT VOLATILE;

-- Planted by the planner into an agent's DELETE/UPDATE without WHERE:
-- evaluated once per execution, it refuses (or consumes an approval).
CREATE FUNCTION agent_guard._gate_unqualified(operation text, relation oid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'ag_sql_gate_unqualified'
    LANGUAGE C STRICT STABLE;

-- Tell every backend (at commit) to reload freezes and tripped runs.
CREATE FUNCTION agent_guard._gate_changed() RETURNS void
    AS 'MODULE_PATHNAME', 'ag_sql_gate_changed'
    LANGUAGE C STRICT VOLATILE;

CREATE VIEW agent_guard.requests AS
    SELECT r.request_id, r.requested_at, r.agent_id, r.run_id, r.login_role, r.kind,
           CASE WHEN r.status = 'approved' AND r.expires_at <= now() THEN 'expired'
                ELSE r.status END AS status,
           r.reason, r.statement, r.decided_by, r.decided_at, r.note, r.expires_at, r.used_at
      FROM agent_guard.request_log r
    UNION ALL
    SELECT p.request_id, p.requested_at, p.agent_id, p.run_id, p.login_role, p.kind,
           CASE WHEN p.kind = 'approval' THEN 'pending' ELSE 'refused' END,
           p.reason, p.statement, NULL, NULL, NULL, NULL, NULL
      FROM agent_guard._pending_requests() p
     WHERE NOT EXISTS (SELECT 1 FROM agent_guard.request_log r WHERE r.request_id = p.request_id);
COMMENT ON VIEW agent_guard.requests IS
    'statements of agents that were refused; kind approval can be approved once by a human';

CREATE FUNCTION agent_guard._decide(request_id bigint, note text, verdict text)
    RETURNS agent_guard.request_log
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_req agent_guard.request_log;
    v_ttl interval := current_setting('agent_guard.approval_ttl')::interval;
BEGIN
    IF request_id IS NULL THEN
        RAISE EXCEPTION 'request_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO v_req FROM agent_guard.request_log r WHERE r.request_id = _decide.request_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM agent_guard._flush_requests();
        SELECT * INTO v_req FROM agent_guard.request_log r WHERE r.request_id = _decide.request_id FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'request % does not exist', request_id
            USING ERRCODE = 'undefined_object',
                  HINT = 'See agent_guard.requests.';
    END IF;
    IF v_req.kind <> 'approval' THEN
        RAISE EXCEPTION 'request % cannot be %', request_id, verdict
            USING ERRCODE = 'YG005',
                  DETAIL = format('It was refused outright (%s): %s', v_req.kind, v_req.reason),
                  HINT = CASE v_req.kind
                      WHEN 'frozen' THEN 'Lift the freeze with agent_guard.unfreeze() instead.'
                      WHEN 'tripped' THEN 'Reset the run with agent_guard.reset_run() instead.'
                      WHEN 'policy' THEN 'Change the agent''s policy with agent_guard.set_policy() instead.'
                      WHEN 'rate' THEN 'Wait for the minute to pass, or raise the limit with agent_guard.set_policy().'
                      ELSE 'Statements that would weaken the guard are never allowed for agents.' END;
    END IF;
    IF v_req.status <> 'pending' THEN
        RAISE EXCEPTION 'request % is already %', request_id, v_req.status
            USING ERRCODE = 'YG005',
                  DETAIL = CASE WHEN v_req.decided_by IS NOT NULL
                                THEN format('It was %s by %s; see agent_guard.requests for when.', v_req.status, v_req.decided_by)
                                ELSE format('Its status is %s.', v_req.status) END;
    END IF;
    UPDATE agent_guard.request_log r
       SET status = verdict, decided_by = session_user, decided_at = now(), note = _decide.note,
           expires_at = CASE WHEN verdict = 'approved' THEN now() + v_ttl END
     WHERE r.request_id = _decide.request_id
    RETURNING * INTO v_req;
    INSERT INTO agent_guard.events (agent_id, run_id, login_role, acting_role, operation, detail)
    VALUES (v_req.agent_id, v_req.run_id, session_user, agent_guard.calling_role()::text,
            CASE verdict WHEN 'approved' THEN 'APPROVED' ELSE 'DENIED' END,
            jsonb_build_object('request_id', v_req.request_id, 'note', note,
                               'statement', v_req.statement, 'expires_at', v_req.expires_at));
    PERFORM pg_notify('agent_guard', jsonb_build_object(
        'event', verdict, 'request_id', v_req.request_id, 'agent_id', v_req.agent_id,
        'by', session_user)::text);
    RETURN v_req;
END
$$;

CREATE FUNCTION agent_guard.approve(request_id bigint, note text DEFAULT NULL)
    RETURNS agent_guard.requests
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v agent_guard.request_log;
    r agent_guard.requests;
BEGIN
    PERFORM agent_guard._require_human('agent_guard.approve()');
    v := agent_guard._decide(request_id, note, 'approved');
    SELECT * INTO r FROM agent_guard.requests q WHERE q.request_id = v.request_id;
    RETURN r;
END
$$;
COMMENT ON FUNCTION agent_guard.approve(bigint, text) IS
    'let the same agent run the same statement once, within agent_guard.approval_ttl';

CREATE FUNCTION agent_guard.deny(request_id bigint, note text DEFAULT NULL)
    RETURNS agent_guard.requests
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v agent_guard.request_log;
    r agent_guard.requests;
BEGIN
    PERFORM agent_guard._require_human('agent_guard.deny()');
    v := agent_guard._decide(request_id, note, 'denied');
    SELECT * INTO r FROM agent_guard.requests q WHERE q.request_id = v.request_id;
    RETURN r;
END
$$;
COMMENT ON FUNCTION agent_guard.deny(bigint, text) IS 'refuse a pending request; it is kept on record';

CREATE FUNCTION agent_guard.freeze(reason text, agent_id text DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM agent_guard._require_human('agent_guard.freeze()');
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'a freeze needs a reason' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Say why, for example: SELECT agent_guard.freeze(''code freeze until Monday'');';
    END IF;
    IF agent_id IS NOT NULL THEN
        PERFORM agent_guard._check_id(agent_id, 'agent id');
    END IF;
    INSERT INTO agent_guard.freeze_state AS f (scope, reason)
    VALUES (coalesce(agent_id, '*'), reason)
    ON CONFLICT (scope) DO UPDATE SET reason = EXCLUDED.reason, frozen_at = now(), frozen_by = session_user;
    PERFORM agent_guard._gate_changed();
    INSERT INTO agent_guard.events (agent_id, login_role, acting_role, operation, detail)
    VALUES (agent_id, session_user, agent_guard.calling_role()::text, 'FREEZE',
            jsonb_build_object('reason', reason, 'scope', coalesce(agent_id, 'all agents')));
    PERFORM pg_notify('agent_guard', jsonb_build_object(
        'event', 'freeze', 'agent_id', agent_id, 'reason', reason, 'by', session_user)::text);
END
$$;
COMMENT ON FUNCTION agent_guard.freeze(text, text) IS
    'stop all writes of all agents (or of one) from their next statement, across restarts';

CREATE FUNCTION agent_guard.unfreeze(agent_id text DEFAULT NULL) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM agent_guard._require_human('agent_guard.unfreeze()');
    DELETE FROM agent_guard.freeze_state f WHERE f.scope = coalesce(agent_id, '*');
    IF NOT FOUND THEN
        RAISE NOTICE 'no freeze for %', coalesce('agent "' || agent_id || '"', 'all agents');
        RETURN false;
    END IF;
    PERFORM agent_guard._gate_changed();
    INSERT INTO agent_guard.events (agent_id, login_role, acting_role, operation, detail)
    VALUES (agent_id, session_user, agent_guard.calling_role()::text, 'UNFREEZE',
            jsonb_build_object('scope', coalesce(agent_id, 'all agents')));
    PERFORM pg_notify('agent_guard', jsonb_build_object(
        'event', 'unfreeze', 'agent_id', agent_id, 'by', session_user)::text);
    RETURN true;
END
$$;
COMMENT ON FUNCTION agent_guard.unfreeze(text) IS 'lift the freeze for all agents (NULL) or one agent';

CREATE VIEW agent_guard.freezes AS
    SELECT CASE WHEN f.scope = '*' THEN NULL ELSE f.scope END AS agent_id,
           f.scope = '*' AS all_agents, f.reason, f.frozen_at, f.frozen_by
      FROM agent_guard.freeze_state f
     ORDER BY f.frozen_at;

CREATE FUNCTION agent_guard.reset_run(run_id text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v agent_guard.tripped_runs;
BEGIN
    PERFORM agent_guard._require_human('agent_guard.reset_run()');
    IF run_id IS NULL THEN
        RAISE EXCEPTION 'run_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM agent_guard._flush_requests();
    DELETE FROM agent_guard.tripped_runs t WHERE t.run_id = reset_run.run_id RETURNING * INTO v;
    IF NOT FOUND THEN
        RAISE NOTICE 'run "%" is not tripped', run_id;
        RETURN false;
    END IF;
    PERFORM agent_guard._gate_changed();
    INSERT INTO agent_guard.events (agent_id, run_id, login_role, acting_role, operation, detail)
    VALUES (v.agent_id, v.run_id, session_user, agent_guard.calling_role()::text, 'RESET_RUN',
            jsonb_build_object('rows_seen', v.rows_seen, 'tripped_at', v.tripped_at));
    RETURN true;
END
$$;
COMMENT ON FUNCTION agent_guard.reset_run(text) IS
    'let a run that passed agent_guard.max_rows_per_run write again';

-- Preview: run a statement as the agent, count what it would change, and
-- roll it back (the read-only plan a harness can show a human first).
CREATE FUNCTION agent_guard._preview(on_ boolean) RETURNS void
    AS 'MODULE_PATHNAME', 'ag_sql_preview'
    LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION agent_guard._preview_rows(
    OUT relation text, OUT operation text, OUT rows bigint, OUT verdict text, OUT detail text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'ag_sql_preview_rows'
    LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION agent_guard.preview(sql text)
    RETURNS TABLE (relation text, operation text, rows bigint, verdict text, detail text)
    LANGUAGE plpgsql SET search_path FROM CURRENT
AS $$
DECLARE
    v_state text;
    v_msg   text;
BEGIN
    IF sql IS NULL OR btrim(sql) = '' THEN
        RAISE EXCEPTION 'nothing to preview' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM agent_guard._preview(true);
    BEGIN
        EXECUTE sql;
        -- undo everything the statement did
        RAISE EXCEPTION USING ERRCODE = 'YG099', MESSAGE = 'agent_guard preview: rolled back';
    EXCEPTION
        WHEN SQLSTATE 'YG099' THEN NULL;
        WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
    END;
    RETURN QUERY
        SELECT p.relation, p.operation, p.rows, p.verdict, p.detail FROM agent_guard._preview_rows() p
        UNION ALL
        SELECT NULL, NULL, NULL, 'error', v_state || ': ' || v_msg WHERE v_state IS NOT NULL;
    PERFORM agent_guard._preview(false);
END
$$;
COMMENT ON FUNCTION agent_guard.preview(text) IS
    'run a statement, report the rows it would change and the gates it would meet, and roll it back';
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
    PERFORM pg_notify('agent_guard', jsonb_build_object(
        'event', 'policy', 'agent_id', v_new.agent_id, 'mode', v_new.mode, 'by', session_user)::text);
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
    PERFORM pg_notify('agent_guard', jsonb_build_object(
        'event', 'policy_drop', 'agent_id', v.agent_id, 'by', session_user)::text);
    RETURN true;
END
$$;
COMMENT ON FUNCTION agent_guard.drop_policy(text) IS
    'remove an agent''s policy: it is guarded again from its next statement';
------------------------------------------------------------------------
-- Rollback: plan and replay of compensations for an agent run or one of
-- its transactions.
--
-- The plan is computed from the run's events (INSERT, UPDATE, DELETE,
-- SOFT_DELETE) that no COMPENSATE event undoes yet.  Every event touches
-- one or two keys of its table: the key before the change (UPDATE, DELETE,
-- SOFT_DELETE) and the key after it (INSERT, UPDATE, SOFT_DELETE).  For
-- each key, the run's events on it, in write order, must chain: the image
-- one event left at the key is the image the next one found there, and
-- the image the last one left is the row there now (absent = NULL).  A
-- break means someone else wrote that key after one of the run's changes:
-- that change is a conflict, and every earlier change of the run to the
-- same keys depends on it (status skipped).  The current rows are read
-- FOR UPDATE, so nobody can change them between the check and the replay.
--
-- The replay undoes the events newest first.  Consecutive events on the
-- same table with the same operation whose keys are all distinct are
-- undone by one statement (a 100,000-row UPDATE is undone by one UPDATE);
-- anything else (e.g. UPDATE t SET id = id + 1, whose keys overlap) is
-- undone one event at a time.  Triggers (the tables' own and foreign-key
-- checks) are off during the replay; the foreign keys are checked once at
-- the end for the rows the replay wrote and the values it took away.
-- Rows come back from the logged images with jsonb_populate_record
-- against the table's row type, every column written except generated
-- ones, identity columns with OVERRIDING SYSTEM VALUE, stamps kept as
-- logged (replay mode, rollback.c).  Each replayed row is compared with its logged image (what the replaying statement
-- returns is what is at the key after it, since a batch's keys are
-- distinct); a difference raises YG032 and the whole rollback is undone.
--
-- Cost (a 100,000-row run is undone in about the time it took): every
-- step is one set-based statement; images are compared bytewise first
-- (record_image_eq: the images are to_jsonb() of the rows, so equal rows
-- give equal bytes) and with jsonb equality only when the bytes differ;
-- the temporary tables are written once
-- and the wide one (_ag_rb, with the images) is never rewritten as a
-- whole: the keys (_ag_touch), the differences from the current rows
-- (_ag_cur) and the batches (_ag_batch) are narrow tables of their own,
-- and 'applied' is how the result shows 'planned' after the replay.
--
-- Each undone event gets a COMPENSATE event (detail.undoes = its
-- event_id; a unique index makes a second compensation impossible), and
-- the rollback one ROLLBACK event.  These are a human's acts: their
-- agent_id and run_id are NULL, the run they concern is in detail.
------------------------------------------------------------------------

CREATE UNIQUE INDEX events_undoes_idx ON agent_guard.events (((detail->>'undoes')::bigint))
    WHERE operation = 'COMPENSATE';

CREATE FUNCTION agent_guard._replay_mode(on_ boolean) RETURNS boolean
    AS 'MODULE_PATHNAME', 'ag_sql_replay_mode'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION agent_guard._replay_mode(boolean) IS
    'internal: while on, the stamp trigger keeps the stamps a rollback restores';

-- A key-column equality between table alias t and record alias k.
CREATE FUNCTION agent_guard._key_match(keys text[], t text, k text) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(format('%I.%I = %I.%I', t, c, k, c), ' AND ')
      FROM unnest(keys) AS c
$$;

CREATE FUNCTION agent_guard._rollback(p_run text, p_xid xid8, p_apply boolean, p_on_conflict text)
    RETURNS TABLE (step integer, event_id bigint, relation text, operation text,
                   row_key jsonb, action text, status text, detail text)
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    -- JIT compiling these one-off statements costs more than it saves;
    -- the sorts and hashes of a 100,000-row run fit in memory
    SET jit = off SET work_mem = '64MB'
    -- the keys looked up are all distinct: a cache of lookups only costs
    SET enable_memoize = off
    -- ANALYZE of the plan's tables only needs row counts and rough shapes
    SET default_statistics_target = 10
AS $$
#variable_conflict use_column
DECLARE
    v_what     text := CASE WHEN p_run IS NOT NULL THEN format('run "%s"', p_run)
                            ELSE format('transaction %s', p_xid) END;
    v_rel      record;
    v_b        record;
    v_keys     text[];
    v_cols     text[];
    v_upd      text[];
    v_n        bigint;
    v_want     bigint;
    v_pending  bigint;
    v_conf     bigint;
    v_msg      text;
    v_runs     text[];
    v_srr      text;
    v_fk       record;
    v_colrel   regclass;
    v_bad      bigint;
    v_skipped  bigint;
    v_applied  boolean := false;
    v_lo       bigint;
    v_hi       bigint;
    v_role     text := agent_guard.calling_role()::text;
BEGIN
    IF p_on_conflict IS NULL OR p_on_conflict NOT IN ('abort', 'skip') THEN
        RAISE EXCEPTION 'invalid on_conflict "%"', p_on_conflict
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''abort'' (change nothing if any row conflicts) or ''skip'' (leave conflicting rows).';
    END IF;
    IF p_apply IS NULL THEN
        RAISE EXCEPTION 'apply must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- the plan is built in a temporary table, which a hot standby cannot create
    IF pg_is_in_recovery() THEN
        RAISE EXCEPTION 'cannot plan or apply a rollback during recovery'
            USING ERRCODE = 'read_only_sql_transaction',
                  HINT = 'Run it on the primary. On the standby, agent_guard.events, agent_guard.runs and agent_guard.postmortem() show what the run did.';
    END IF;

    -- Rollbacks that apply take turns, so the second of two racing
    -- rollbacks of a run sees the first one's compensations (its next
    -- statement takes a new snapshot in READ COMMITTED).
    IF p_apply THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('agent_guard.rollback', 0));
    END IF;

    -- a second call in the same transaction starts afresh
    IF to_regclass('pg_temp._ag_rb') IS NOT NULL THEN
        DROP TABLE pg_temp._ag_rb;
    END IF;
    IF to_regclass('pg_temp._ag_touch') IS NOT NULL THEN
        DROP TABLE pg_temp._ag_touch;
    END IF;
    IF to_regclass('pg_temp._ag_cur') IS NOT NULL THEN
        DROP TABLE pg_temp._ag_cur;
    END IF;
    IF to_regclass('pg_temp._ag_batch') IS NOT NULL THEN
        DROP TABLE pg_temp._ag_batch;
    END IF;
    CREATE TEMP TABLE _ag_rb (
        event_id   bigint PRIMARY KEY,
        run_id     text,
        relation   text,
        rel        regclass,
        operation  text,
        row_key    jsonb,
        before_key jsonb,
        after_key  jsonb,
        old_row    jsonb,
        new_row    jsonb,
        status     text,
        detail     text
    ) ON COMMIT DROP;

    INSERT INTO _ag_rb (event_id, run_id, relation, rel, operation, row_key, before_key, after_key,
                        old_row, new_row, status)
    SELECT e.event_id, e.run_id, e.relation, to_regclass(e.relation), e.operation, e.row_key,
           -- the key before the change: the row_key of a DELETE; the row_key
           -- of an UPDATE that kept its (scalar) key values; else from old_row
           CASE WHEN e.operation = 'DELETE' THEN e.row_key
                WHEN e.operation = 'INSERT' THEN NULL
                WHEN e.old_row @> e.row_key
                 AND NOT e.row_key @? 'strict $.* ? (@.type() == "object" || @.type() == "array")' THEN e.row_key
                ELSE (SELECT jsonb_object_agg(k, e.old_row -> k) FROM jsonb_object_keys(e.row_key) AS k) END,
           CASE WHEN e.operation <> 'DELETE' THEN e.row_key END,
           e.old_row, e.new_row, 'planned'
      FROM agent_guard.events e
     WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE')
       AND (p_run IS NULL OR e.run_id = p_run)
       AND (p_xid IS NULL OR e.xid = p_xid)
       AND (p_run IS NOT NULL OR p_xid IS NOT NULL);

    IF NOT FOUND THEN
        RAISE EXCEPTION '% has no recorded writes', v_what
            USING ERRCODE = 'YG031',
                  HINT = 'See agent_guard.runs for the runs on record.';
    END IF;

    -- Events a COMPENSATE event undoes already: one look at the range of
    -- the plan's event ids, and a join only if there are any.
    SELECT min(b.event_id), max(b.event_id) INTO v_lo, v_hi FROM _ag_rb b;
    IF EXISTS (SELECT 1 FROM agent_guard.events c
                WHERE c.operation = 'COMPENSATE'
                  AND (c.detail->>'undoes')::bigint BETWEEN v_lo AND v_hi) THEN
        UPDATE _ag_rb b SET status = 'already rolled back'
          FROM agent_guard.events c
         WHERE c.operation = 'COMPENSATE'
           AND (c.detail->>'undoes')::bigint BETWEEN v_lo AND v_hi
           AND (c.detail->>'undoes')::bigint = b.event_id;
    END IF;
    ANALYZE _ag_rb (event_id, rel, operation, status);

    UPDATE _ag_rb b SET status = 'conflict',
           detail = format('Table %s no longer exists.', b.relation)
     WHERE b.status = 'planned' AND b.rel IS NULL;

    -- The keys each pending event touches: found = it found a row there
    -- (its old_row), left_ = it left one there (its new_row); no key = no
    -- row.  The images stay in _ag_rb: this table is narrow, so sorting it
    -- and joining it is cheap.
    CREATE TEMP TABLE _ag_touch ON COMMIT DROP AS
    SELECT (row_number() OVER ())::integer AS tid, t.event_id, t.rel, t.k, t.found, t.left_,
           lead(t.found) OVER w AS next_found,
           lead(t.event_id) OVER w AS next_event
      FROM (SELECT b.event_id, b.rel, k.k,
                   coalesce(k.k = b.before_key, false) AS found,
                   coalesce(k.k = b.after_key, false) AS left_
              FROM _ag_rb b
              CROSS JOIN LATERAL (SELECT b.before_key WHERE b.before_key IS NOT NULL
                                  UNION ALL
                                  SELECT b.after_key WHERE b.after_key IS NOT NULL
                                                       AND b.after_key IS DISTINCT FROM b.before_key) AS k(k)
             WHERE b.status = 'planned') t
    -- jsonb_hash first: the sort then compares integers, and jsonb only
    -- on a tie (equal keys have equal hashes)
    WINDOW w AS (PARTITION BY t.rel, jsonb_hash(t.k), t.k ORDER BY t.event_id);
    CREATE INDEX ON _ag_touch (event_id);
    ANALYZE _ag_touch (event_id, rel, next_event);

    -- Someone else wrote the key between two of the run's changes: the
    -- image one change left is not the image the next one found.
    UPDATE _ag_rb b SET status = 'conflict',
           detail = format('Key %s was changed by someone else after this change and before event %s of the run.',
                           t.k, t.next_event)
      FROM _ag_touch t
      JOIN _ag_rb n ON n.event_id = t.next_event
     WHERE t.event_id = b.event_id AND t.next_event IS NOT NULL
       AND CASE WHEN t.left_ THEN b.new_row END IS DISTINCT FROM CASE WHEN t.next_found THEN n.old_row END
       AND b.status = 'planned';

    -- The last change to each key must be what is there now: read (and
    -- lock) the current rows, table by table; keep only the differences.
    CREATE TEMP TABLE _ag_cur (event_id bigint, k jsonb, cur jsonb) ON COMMIT DROP;
    FOR v_rel IN SELECT DISTINCT t.rel FROM _ag_touch t WHERE t.next_event IS NULL LOOP
        SELECT array_agg(k ORDER BY k) INTO v_keys
          FROM (SELECT DISTINCT jsonb_object_keys(b.row_key) AS k FROM _ag_rb b
                 WHERE b.event_id = (SELECT min(b2.event_id) FROM _ag_rb b2 WHERE b2.rel = v_rel.rel)) x;
        EXECUTE format(
            'WITH cur AS MATERIALIZED (
                 SELECT t.tid, to_jsonb(r) AS img, CASE WHEN t.left_ THEN b.new_row END AS want
                   FROM pg_temp._ag_touch t
                   JOIN pg_temp._ag_rb b ON b.event_id = t.event_id
                   CROSS JOIN LATERAL jsonb_populate_record(NULL::%1$s, t.k) AS kk
                   JOIN %1$s r ON %2$s
                  WHERE t.rel = $1 AND t.next_event IS NULL
                    FOR UPDATE OF r)
             INSERT INTO pg_temp._ag_cur (event_id, k, cur)
             SELECT t.event_id, t.k, cur.img
               FROM pg_temp._ag_touch t
               LEFT JOIN cur ON cur.tid = t.tid
              WHERE t.rel = $1 AND t.next_event IS NULL
                AND CASE WHEN cur.tid IS NULL THEN t.left_
                         WHEN record_image_eq(ROW(cur.want), ROW(cur.img)) THEN false
                         ELSE cur.want IS DISTINCT FROM cur.img END',
            v_rel.rel, agent_guard._key_match(v_keys, 'r', 'kk'))
        USING v_rel.rel;
    END LOOP;

    UPDATE _ag_rb b SET status = 'conflict',
           detail = CASE WHEN NOT t.left_
                         THEN format('Key %s was freed by the run and is in use again: %s.', c.k, left(c.cur::text, 300))
                         WHEN c.cur IS NULL
                         THEN format('Row %s was deleted after the run.', c.k)
                         ELSE format('Row %s was changed after the run; it is now %s.', c.k, left(c.cur::text, 300)) END
      FROM _ag_cur c
      JOIN _ag_touch t ON t.event_id = c.event_id AND t.k = c.k
     WHERE c.event_id = b.event_id AND b.status = 'planned';

    -- An earlier change to a key can only be undone after every later
    -- change to that key is.
    IF EXISTS (SELECT 1 FROM _ag_rb b WHERE b.status = 'conflict') THEN
        LOOP
            UPDATE _ag_rb b SET status = 'skipped',
                   detail = format('A later change of the run to key %s cannot be undone (event %s).', t.k, t2.event_id)
              FROM _ag_touch t
              JOIN _ag_touch t2 ON t2.rel = t.rel AND t2.k = t.k AND t2.event_id > t.event_id
              JOIN _ag_rb b2 ON b2.event_id = t2.event_id AND b2.status IN ('conflict', 'skipped')
             WHERE t.event_id = b.event_id AND b.status = 'planned';
            EXIT WHEN NOT FOUND;
        END LOOP;
    END IF;

    SELECT count(*) FILTER (WHERE b.status = 'planned'),
           count(*) FILTER (WHERE b.status IN ('conflict', 'skipped')),
           count(*) FILTER (WHERE b.status = 'skipped')
      INTO v_pending, v_conf, v_skipped FROM _ag_rb b;

    IF p_apply AND v_conf > 0 AND p_on_conflict = 'abort' THEN
        SELECT string_agg(format('Event %s (%s of %s %s): %s', b.event_id, b.operation, b.relation,
                                 b.row_key, b.detail), E'\n' ORDER BY b.event_id)
          INTO v_msg
          FROM (SELECT * FROM _ag_rb b WHERE b.status = 'conflict' ORDER BY b.event_id LIMIT 20) b;
        SELECT count(*) INTO v_n FROM _ag_rb b WHERE b.status = 'conflict';
        IF v_n > 20 THEN
            v_msg := v_msg || format(E'\n... and %s more.', v_n - 20);
        END IF;
        RAISE EXCEPTION 'cannot roll back %: % rows were changed after the run', v_what, v_n
            USING ERRCODE = 'YG030',
                  DETAIL = v_msg,
                  HINT = 'Nothing was changed.  Preview with apply => false, or pass on_conflict => ''skip'' to restore the other rows and leave these.';
    END IF;

    IF p_apply AND v_pending > 0 THEN
        -- Batches: runs of consecutive events (newest first) on one table
        -- with one operation; a run whose events share a key is replayed
        -- one event at a time.
        CREATE TEMP TABLE _ag_batch ON COMMIT DROP AS
        WITH s AS (
            SELECT x.event_id, x.rel, x.operation, sum(x.brk) OVER (ORDER BY x.event_id DESC) AS seg
              FROM (SELECT b.event_id, b.rel, b.operation,
                           CASE WHEN lag(b.rel) OVER w IS NOT DISTINCT FROM b.rel
                                 AND lag(b.operation) OVER w = b.operation THEN 0 ELSE 1 END AS brk
                      FROM _ag_rb b WHERE b.status = 'planned'
                    WINDOW w AS (ORDER BY b.event_id DESC)) x),
        -- runs in which a key is touched twice: then by two events that
        -- follow each other on the key (what lies between them on it was
        -- undone, or they would not both be planned)
        u AS (SELECT DISTINCT s1.seg
                FROM _ag_touch t
                JOIN s s1 ON s1.event_id = t.event_id
                JOIN s s2 ON s2.event_id = t.next_event
               WHERE t.next_event IS NOT NULL AND s1.seg = s2.seg)
        SELECT s.event_id, s.rel, s.operation, s.seg,
               CASE WHEN s.seg IN (SELECT u.seg FROM u) THEN -s.event_id ELSE 0 END AS one
          FROM s;
        CREATE INDEX ON _ag_batch (seg, one);
        ANALYZE _ag_batch;

        -- Replay with the tables' triggers off (session_replication_role):
        -- their own triggers would change the rows being restored, and the
        -- foreign-key triggers would check each batch in log order, which
        -- for cascades is not an order the rows ever were valid in (the
        -- parent's event is logged before the cascaded children's).  The
        -- foreign keys are checked once at the end instead.  Replay mode
        -- keeps the stamps also if the stamp trigger ever fires here.
        v_srr := current_setting('session_replication_role');
        PERFORM set_config('session_replication_role', 'replica', true);
        PERFORM agent_guard._replay_mode(true);
        FOR v_b IN SELECT x.seg, x.one, min(x.rel::oid)::regclass AS rel, min(x.operation) AS op,
                          count(*) AS n, min(x.event_id) AS first
                     FROM _ag_batch x
                    GROUP BY x.seg, x.one ORDER BY x.seg, x.one LOOP
            SELECT array_agg(k ORDER BY k) INTO v_keys
              FROM (SELECT jsonb_object_keys(b.row_key) AS k FROM _ag_rb b
                     WHERE b.event_id = v_b.first) x;
            IF v_b.rel IS DISTINCT FROM v_colrel THEN
                SELECT array_agg(a.attname::text ORDER BY a.attnum),
                       array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attidentity <> 'a')
                  INTO v_cols, v_upd
                  FROM pg_attribute a
                 WHERE a.attrelid = v_b.rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
                v_colrel := v_b.rel;
            END IF;

            -- Each statement replays the batch and, from what it wrote
            -- (RETURNING), counts the rows that did not come back exactly
            -- as logged.  The keys of a batch are distinct, so what a
            -- statement wrote at a key is what is there after it.
            v_bad := 0;
            IF v_b.op = 'INSERT' THEN
                EXECUTE format('DELETE FROM %1$s r USING (SELECT kk.* FROM pg_temp._ag_batch x
                                  JOIN pg_temp._ag_rb b ON b.event_id = x.event_id
                                  CROSS JOIN LATERAL jsonb_populate_record(NULL::%1$s, b.after_key) AS kk
                                  WHERE x.seg = $1 AND x.one = $2) kk WHERE %2$s',
                               v_b.rel, agent_guard._key_match(v_keys, 'r', 'kk'))
                USING v_b.seg, v_b.one;
                GET DIAGNOSTICS v_n = ROW_COUNT;
            ELSIF v_b.op = 'DELETE' THEN
                EXECUTE format('WITH w AS (
                                  INSERT INTO %1$s AS r (%2$s) OVERRIDING SYSTEM VALUE
                                  SELECT %3$s FROM pg_temp._ag_batch x
                                    JOIN pg_temp._ag_rb b ON b.event_id = x.event_id
                                    CROSS JOIN LATERAL jsonb_populate_record(NULL::%1$s, b.old_row) AS o
                                   WHERE x.seg = $1 AND x.one = $2 ORDER BY b.event_id DESC
                                  RETURNING to_jsonb(r) AS img)
                                SELECT (SELECT count(*) FROM w),
                                       (SELECT count(*) FROM w
                                         WHERE NOT EXISTS (SELECT 1 FROM pg_temp._ag_batch x
                                                             JOIN pg_temp._ag_rb b ON b.event_id = x.event_id
                                                            WHERE x.seg = $1 AND x.one = $2
                                                              AND b.old_row = w.img))',
                               v_b.rel,
                               (SELECT string_agg(quote_ident(c), ', ') FROM unnest(v_cols) c),
                               (SELECT string_agg('o.' || quote_ident(c), ', ') FROM unnest(v_cols) c))
                INTO v_n, v_bad USING v_b.seg, v_b.one;
            ELSE -- UPDATE, SOFT_DELETE: find the row by its key after the change
                EXECUTE format('WITH w AS (
                                  UPDATE %1$s r SET (%2$s) = ROW(%3$s)
                                    FROM (SELECT b.old_row, o, kk FROM pg_temp._ag_batch x
                                            JOIN pg_temp._ag_rb b ON b.event_id = x.event_id
                                            CROSS JOIN LATERAL jsonb_populate_record(NULL::%1$s, b.old_row) AS o
                                            CROSS JOIN LATERAL jsonb_populate_record(NULL::%1$s, b.after_key) AS kk
                                           WHERE x.seg = $1 AND x.one = $2) s
                                   WHERE %4$s
                                  RETURNING CASE WHEN record_image_eq(ROW(to_jsonb(r)), ROW(s.old_row)) THEN false
                                                 ELSE to_jsonb(r) IS DISTINCT FROM s.old_row END AS bad)
                                SELECT count(*), count(*) FILTER (WHERE w.bad) FROM w',
                               v_b.rel,
                               (SELECT string_agg(quote_ident(c), ', ') FROM unnest(v_upd) c),
                               (SELECT string_agg('(s.o).' || quote_ident(c), ', ') FROM unnest(v_upd) c),
                               (SELECT string_agg(format('r.%1$I = (s.kk).%1$I', c), ' AND ') FROM unnest(v_keys) c))
                INTO v_n, v_bad USING v_b.seg, v_b.one;
            END IF;
            IF v_n <> v_b.n THEN
                RAISE EXCEPTION 'could not roll back %: % of % rows of % were replayed', v_what, v_n, v_b.n, v_b.rel
                    USING ERRCODE = 'YG032',
                          DETAIL = 'The rows changed while the rollback ran.',
                          HINT = 'Nothing was changed.  Run the rollback again.';
            END IF;

            -- the rows that came back must be exactly the logged images
            IF v_bad > 0 THEN
                EXECUTE format('SELECT count(*), min(b.event_id) FROM pg_temp._ag_batch x
                                  JOIN pg_temp._ag_rb b ON b.event_id = x.event_id
                                  CROSS JOIN LATERAL jsonb_populate_record(NULL::%1$s, b.before_key) AS kk
                                  LEFT JOIN %1$s r ON %2$s
                                 WHERE x.seg = $1 AND x.one = $2 AND to_jsonb(r) IS DISTINCT FROM b.old_row',
                               v_b.rel, agent_guard._key_match(v_keys, 'r', 'kk'))
                INTO v_n, v_want USING v_b.seg, v_b.one;
                RAISE EXCEPTION 'could not roll back %: % rows of % did not come back exactly as logged',
                                v_what, v_n, v_b.rel
                    USING ERRCODE = 'YG032',
                          DETAIL = format('The first is the row before event %s.  A trigger of the table may have changed it, or the table''s columns changed since the run.', v_want),
                          HINT = 'Nothing was changed.';
            END IF;
        END LOOP;
        PERFORM agent_guard._replay_mode(false);
        PERFORM set_config('session_replication_role', v_srr, true);

        -- the planned events are applied now (status 'applied' in the
        -- result; the table keeps 'planned' rather than rewrite every row)
        v_applied := true;

        -- Every foreign key into or out of a replayed table must hold for
        -- the rows the replay wrote (their final images) and for the
        -- referenced values it took away.
        FOR v_fk IN
            SELECT c.oid, c.conname, c.conrelid::regclass AS child, c.confrelid::regclass AS parent,
                   (SELECT array_agg(a.attname::text ORDER BY k.o) FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
                      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n) AS ccols,
                   (SELECT array_agg(a.attname::text ORDER BY k.o) FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
                      JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n) AS pcols
              FROM pg_constraint c
             WHERE c.contype = 'f' AND c.conparentid = 0
               AND (c.conrelid IN (SELECT b.rel FROM _ag_rb b WHERE b.status = 'planned')
                 OR c.confrelid IN (SELECT b.rel FROM _ag_rb b WHERE b.status = 'planned'))
        LOOP
            SELECT array_agg(k ORDER BY k) INTO v_keys
              FROM (SELECT jsonb_object_keys(b.row_key) AS k FROM _ag_rb b
                     WHERE b.event_id = (SELECT min(b2.event_id) FROM _ag_rb b2 WHERE b2.rel = v_fk.child)) x;
            v_n := 0;
            IF v_keys IS NOT NULL THEN
                EXECUTE format(
                    'SELECT count(*) FROM %1$s r
                      WHERE (%3$s) IN (SELECT %4$s FROM pg_temp._ag_rb b
                                         CROSS JOIN LATERAL jsonb_populate_record(NULL::%1$s, b.before_key) AS kk
                                        WHERE b.rel = $1 AND b.status = ''planned'')
                        AND %5$s
                        AND NOT EXISTS (SELECT 1 FROM %2$s p WHERE %6$s)',
                    v_fk.child, v_fk.parent,
                    (SELECT string_agg('r.' || quote_ident(c), ', ') FROM unnest(v_keys) c),
                    (SELECT string_agg('kk.' || quote_ident(c), ', ') FROM unnest(v_keys) c),
                    (SELECT string_agg(format('r.%I IS NOT NULL', c), ' AND ') FROM unnest(v_fk.ccols) c),
                    (SELECT string_agg(format('p.%I = r.%I', v_fk.pcols[i], v_fk.ccols[i]), ' AND ')
                       FROM generate_subscripts(v_fk.ccols, 1) i))
                INTO v_n USING v_fk.child;
            END IF;
            IF v_n = 0 THEN
                EXECUTE format(
                    'SELECT count(*) FROM %1$s r
                      WHERE (%3$s) IN (SELECT %4$s FROM pg_temp._ag_rb b
                                         CROSS JOIN LATERAL jsonb_populate_record(NULL::%2$s, b.new_row) AS v
                                        WHERE b.rel = $1 AND b.status = ''planned'' AND b.new_row IS NOT NULL)
                        AND NOT EXISTS (SELECT 1 FROM %2$s p WHERE %5$s)',
                    v_fk.child, v_fk.parent,
                    (SELECT string_agg('r.' || quote_ident(c), ', ') FROM unnest(v_fk.ccols) c),
                    (SELECT string_agg('v.' || quote_ident(c), ', ') FROM unnest(v_fk.pcols) c),
                    (SELECT string_agg(format('p.%I = r.%I', v_fk.pcols[i], v_fk.ccols[i]), ' AND ')
                       FROM generate_subscripts(v_fk.ccols, 1) i))
                INTO v_n USING v_fk.parent;
            END IF;
            IF v_n > 0 THEN
                RAISE EXCEPTION 'cannot roll back %: it would break foreign key "%" of %', v_what, v_fk.conname, v_fk.child
                    USING ERRCODE = 'foreign_key_violation',
                          DETAIL = format('%s rows of %s would reference rows of %s that are not there.', v_n, v_fk.child, v_fk.parent),
                          HINT = 'Nothing was changed.  Rows written by others after the run refer to rows the run created; roll them back or change them first.';
            END IF;
        END LOOP;

        INSERT INTO agent_guard.events (login_role, acting_role, relation, operation, row_key,
                                        old_row, new_row, detail)
        SELECT session_user, v_role, b.relation, 'COMPENSATE',
               coalesce(b.before_key, b.after_key), b.new_row, b.old_row,
               jsonb_build_object('undoes', b.event_id, 'run_id', b.run_id,
                                  'action', CASE b.operation WHEN 'INSERT' THEN 'delete'
                                                             WHEN 'DELETE' THEN 'insert'
                                                             ELSE 'restore' END)
          FROM _ag_rb b WHERE b.status = 'planned' ORDER BY b.event_id DESC;

        SELECT array_agg(DISTINCT b.run_id) INTO v_runs FROM _ag_rb b;
        PERFORM agent_guard._log('ROLLBACK', NULL, jsonb_build_object(
            'run_id', CASE WHEN cardinality(v_runs) = 1 THEN v_runs[1] END,
            'xid', p_xid::text,
            'applied', v_pending,
            'conflicts', v_conf - v_skipped,
            'skipped', v_skipped));
    ELSIF v_pending = 0 AND v_conf = 0 THEN
        RAISE NOTICE '% is already rolled back', v_what;
    END IF;

    RETURN QUERY
    SELECT (row_number() OVER (ORDER BY b.event_id DESC))::integer,
           b.event_id, b.relation, b.operation, b.row_key,
           CASE b.operation
               WHEN 'INSERT' THEN format('delete %s row %s', b.relation, b.after_key)
               WHEN 'DELETE' THEN format('re-insert %s row %s as before event %s', b.relation, b.before_key, b.event_id)
               WHEN 'SOFT_DELETE' THEN format('undelete %s row %s as before event %s', b.relation, b.after_key, b.event_id)
               ELSE CASE WHEN b.before_key = b.after_key
                         THEN format('restore %s row %s as before event %s', b.relation, b.after_key, b.event_id)
                         ELSE format('move %s row %s back to %s as before event %s', b.relation, b.after_key,
                                     b.before_key, b.event_id) END
           END,
           CASE WHEN v_applied AND b.status = 'planned' THEN 'applied' ELSE b.status END, b.detail
      FROM _ag_rb b
     ORDER BY b.event_id DESC;
END
$$;

CREATE FUNCTION agent_guard.rollback_run(run_id text, apply boolean DEFAULT false,
                                         on_conflict text DEFAULT 'abort')
    RETURNS TABLE (step integer, event_id bigint, relation text, operation text,
                   row_key jsonb, action text, status text, detail text)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM agent_guard._require_human('agent_guard.rollback_run()');
    IF rollback_run.run_id IS NULL THEN
        RAISE EXCEPTION 'run_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN QUERY SELECT * FROM agent_guard._rollback(rollback_run.run_id, NULL, apply, on_conflict);
END
$$;
COMMENT ON FUNCTION agent_guard.rollback_run(text, boolean, text) IS
    'plan (and with apply, replay) the compensations that undo every write of an agent run';

CREATE FUNCTION agent_guard.rollback_xact(xid xid8, apply boolean DEFAULT false,
                                          on_conflict text DEFAULT 'abort')
    RETURNS TABLE (step integer, event_id bigint, relation text, operation text,
                   row_key jsonb, action text, status text, detail text)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM agent_guard._require_human('agent_guard.rollback_xact()');
    IF rollback_xact.xid IS NULL THEN
        RAISE EXCEPTION 'xid must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN QUERY SELECT * FROM agent_guard._rollback(NULL, rollback_xact.xid, apply, on_conflict);
END
$$;
COMMENT ON FUNCTION agent_guard.rollback_xact(xid8, boolean, text) IS
    'plan (and with apply, replay) the compensations that undo one agent transaction';
------------------------------------------------------------------------
-- Evidence: the hash chain over agent_guard.events, its verification and
-- retention, and the postmortem of a run.
--
-- The background sealer (src/journal.c) seals committed events with
-- src/hash.c: seal(n) = sha256(seal(n-1) || utf8(_event_content(event, n))),
-- seal(0) = '' or the checkpoint seal.  verify_log() recomputes that here,
-- in SQL, so sealer and verifier are two implementations of one formula.
------------------------------------------------------------------------

-- Partial: an event gets its entry when it is sealed, so the insert of an
-- event (the agent's write path) pays for one index fewer.
CREATE UNIQUE INDEX events_seal_seq_idx ON agent_guard.events (seal_seq) WHERE seal_seq IS NOT NULL;
CREATE INDEX events_unsealed_idx ON agent_guard.events (event_id) WHERE seal_seq IS NULL;

-- The head of the chain (one row).  Sealers lock it to take turns; it also
-- records the last seal, so that cutting events from the end of the log
-- shows, and the checkpoint left by archive_log().
CREATE TABLE agent_guard.chain_state (
    one             boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_seq        bigint NOT NULL DEFAULT 0,
    last_seal       bytea NOT NULL DEFAULT '',
    sealed_at       timestamptz,
    checkpoint_seq  bigint NOT NULL DEFAULT 0,
    checkpoint_seal bytea NOT NULL DEFAULT ''
);
INSERT INTO agent_guard.chain_state DEFAULT VALUES;

-- pg_restore runs CREATE EXTENSION, which inserts the row above, and then
-- copies the dumped row of this configuration table: that row replaces
-- the fresh one instead of failing on the key.  Only a fresh head (nothing
-- sealed, no checkpoint) is replaced; a second row for a live chain still
-- fails.
CREATE FUNCTION agent_guard._chain_state_restore() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE agent_guard.chain_state c
       SET last_seq = NEW.last_seq, last_seal = NEW.last_seal, sealed_at = NEW.sealed_at,
           checkpoint_seq = NEW.checkpoint_seq, checkpoint_seal = NEW.checkpoint_seal
     WHERE c.last_seq = 0 AND c.checkpoint_seq = 0;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER chain_state_restore BEFORE INSERT ON agent_guard.chain_state
    FOR EACH ROW EXECUTE FUNCTION agent_guard._chain_state_restore();

-- Sealed events moved out of the live log by archive_log(), seals kept.
CREATE TABLE agent_guard.events_archive (LIKE agent_guard.events);
CREATE INDEX events_archive_seal_seq_idx ON agent_guard.events_archive (seal_seq);

CREATE TABLE agent_guard.log_checkpoints (
    checkpoint_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    made_at         timestamptz NOT NULL DEFAULT now(),
    made_by         text NOT NULL DEFAULT session_user,
    archived_before timestamptz NOT NULL,
    seal_seq        bigint NOT NULL,
    seal            bytea NOT NULL,
    events_archived bigint NOT NULL
);

SELECT pg_catalog.pg_extension_config_dump('agent_guard.chain_state', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.events_archive', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.log_checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.log_checkpoints_checkpoint_id_seq', '');

CREATE FUNCTION agent_guard._journal_note() RETURNS void
    AS 'MODULE_PATHNAME', 'ag_sql_journal_note'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION agent_guard._journal_note() IS
    'wake this database''s sealer when the current transaction commits';

CREATE FUNCTION agent_guard._seal_pending(max_events integer) RETURNS bigint
    AS 'MODULE_PATHNAME', 'ag_sql_seal_pending'
    LANGUAGE C VOLATILE;

CREATE FUNCTION agent_guard._sealers() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ag_sql_sealers'
    LANGUAGE C VOLATILE;

-- The canonical content of an event at position seq: every column but the
-- seal (NULLs left out, so that a column added later does not change old
-- events), plus the row of its statement, as jsonb text (keys sorted).  The
-- settings that change how values print are pinned.  The sealer (hash.c)
-- builds the same text in C; verify_log() writes this formula out in its
-- query; change all three together, and never for events already sealed.
CREATE FUNCTION agent_guard._event_content(e agent_guard.events, seq bigint) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'iso_8601'
    SET extra_float_digits = 1 SET bytea_output = 'hex'
AS $$
    SELECT (coalesce((SELECT jsonb_object_agg(j.key, j.value)
                        FROM jsonb_each((to_jsonb(e) - 'seal') || jsonb_build_object('seal_seq', seq)) j
                       WHERE j.value <> 'null'::jsonb), '{}'::jsonb)
            || jsonb_build_object('statement_row',
                   (SELECT jsonb_object_agg(j.key, j.value)
                      FROM agent_guard.statements s, jsonb_each(to_jsonb(s)) j
                     WHERE s.statement_id = e.statement_id AND j.value <> 'null'::jsonb)))::text
$$;

CREATE FUNCTION agent_guard.seal_log() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM agent_guard._require_human('agent_guard.seal_log()');
    RETURN agent_guard._seal_pending(NULL);
END
$$;
COMMENT ON FUNCTION agent_guard.seal_log() IS
    'seal every committed, unsealed event now (the background sealer does this within agent_guard.seal_interval)';

CREATE FUNCTION agent_guard.log_head() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.last_seq::text || ':' || encode(c.last_seal, 'hex') FROM agent_guard.chain_state c
$$;
COMMENT ON FUNCTION agent_guard.log_head() IS
    'the head of the hash chain as "seal_seq:sha256-hex"; keep it outside the database and pass it to verify_log() later';

CREATE FUNCTION agent_guard.sealer_status()
    RETURNS TABLE (database name, pid integer, requested boolean, sealed bigint, last_seal_at timestamptz)
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT d.datname, (s->>'pid')::int, (s->>'requested')::boolean, (s->>'sealed')::bigint,
           (s->>'last_seal_at')::timestamptz
      FROM jsonb_array_elements(agent_guard._sealers()) s
      LEFT JOIN pg_database d ON d.oid = (s->>'dboid')::oid
     WHERE s ? 'dboid'
    UNION ALL
    SELECT NULL, (s->>'launcher_pid')::int, NULL, NULL, NULL
      FROM jsonb_array_elements(agent_guard._sealers()) s
     WHERE s ? 'launcher_pid'
$$;
COMMENT ON FUNCTION agent_guard.sealer_status() IS
    'the background sealers (one per database) and, with database NULL, the launcher';

------------------------------------------------------------------------
-- verify_log
------------------------------------------------------------------------

-- The chain is recomputed with the formula of _event_content(), written out
-- in one set-based query (each statement's row is built once, not once per
-- event; no function call per event), under the same pinned settings.
CREATE FUNCTION agent_guard.verify_log(expected_head text DEFAULT NULL)
    RETURNS TABLE (ok boolean, events_checked bigint, first_bad_event bigint, detail text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'iso_8601'
    SET extra_float_digits = 1 SET bytea_output = 'hex'
AS $$
DECLARE
    st         agent_guard.chain_state%ROWTYPE;
    r          record;
    n          bigint := 0;
    unsealed   bigint;
    seen_seq   bigint;
    seen_seal  bytea;
    want_seq   bigint;
    want_seal  bytea;
    found_seal bytea;
    m          text[];
BEGIN
    PERFORM agent_guard._require_human('agent_guard.verify_log()');

    IF expected_head IS NOT NULL THEN
        m := regexp_match(lower(btrim(expected_head)), '^(?:([0-9]+):)?([0-9a-f]{64})$');
        IF m IS NULL THEN
            RAISE EXCEPTION 'invalid expected head "%"', left(expected_head, 80)
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'The head is "seal_seq:seal" as given by agent_guard.log_head(), or the seal alone (64 hex digits).';
        END IF;
        want_seq := m[1]::bigint;
        want_seal := decode(m[2], 'hex');
    END IF;

    SELECT * INTO st FROM agent_guard.chain_state;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, 0::bigint, NULL::bigint,
            'the head of the chain (agent_guard.chain_state) is missing';
        RETURN;
    END IF;
    seen_seq := st.checkpoint_seq;
    seen_seal := st.checkpoint_seal;

    SELECT count(*) INTO unsealed FROM agent_guard.events e WHERE e.seal_seq IS NULL;

    SELECT e.event_id INTO r FROM agent_guard.events e
     WHERE (e.seal_seq IS NULL) <> (e.seal IS NULL) ORDER BY e.event_id LIMIT 1;
    IF FOUND THEN
        RETURN QUERY SELECT false, 0::bigint, r.event_id,
            format('event %s has a seal position without a seal, or a seal without a position', r.event_id);
        RETURN;
    END IF;

    FOR r IN
        SELECT e.event_id, e.seal_seq, e.seal,
               sha256(coalesce(lag(e.seal) OVER w, st.checkpoint_seal)
                      || convert_to((coalesce((SELECT jsonb_object_agg(j.key, j.value)
                                                 FROM jsonb_each((to_jsonb(e) - 'seal')
                                                                 || jsonb_build_object('seal_seq', e.seal_seq)) j
                                                WHERE j.value <> 'null'::jsonb), '{}'::jsonb)
                                     || jsonb_build_object('statement_row', s.statement_row))::text,
                                    'UTF8')) AS recomputed
          FROM agent_guard.events e
          LEFT JOIN (SELECT s.statement_id,
                            (SELECT jsonb_object_agg(j.key, j.value) FROM jsonb_each(to_jsonb(s)) j
                              WHERE j.value <> 'null'::jsonb) AS statement_row
                       FROM agent_guard.statements s) s ON s.statement_id = e.statement_id
         WHERE e.seal_seq IS NOT NULL
        WINDOW w AS (ORDER BY e.seal_seq)
         ORDER BY e.seal_seq
    LOOP
        n := n + 1;
        IF r.seal_seq <= st.checkpoint_seq THEN
            RETURN QUERY SELECT false, n, r.event_id,
                format('event %s has seal position %s, at or before the checkpoint (%s): it was inserted or moved',
                       r.event_id, r.seal_seq, st.checkpoint_seq);
            RETURN;
        END IF;
        IF r.seal_seq <> seen_seq + 1 THEN
            RETURN QUERY SELECT false, n, r.event_id,
                format('sealed events at positions %s to %s are missing (deleted or moved) before event %s',
                       seen_seq + 1, r.seal_seq - 1, r.event_id);
            RETURN;
        END IF;
        IF r.seal <> r.recomputed THEN
            RETURN QUERY SELECT false, n, r.event_id,
                format('event %s (seal position %s) does not match its seal: its content, its statement, its position or its seal changed after it was sealed',
                       r.event_id, r.seal_seq);
            RETURN;
        END IF;
        seen_seq := r.seal_seq;
        seen_seal := r.seal;
    END LOOP;

    -- the end of the log against the recorded head
    IF seen_seq < st.last_seq THEN
        RETURN QUERY SELECT false, n, NULL::bigint,
            format('sealed events at positions %s to %s are missing from the end of the log (it was cut)',
                   seen_seq + 1, st.last_seq);
        RETURN;
    ELSIF seen_seq > st.last_seq OR seen_seal <> st.last_seal THEN
        RETURN QUERY SELECT false, n,
            (SELECT e.event_id FROM agent_guard.events e WHERE e.seal_seq = least(seen_seq, st.last_seq + 1)),
            format('the log ends at position %s but the recorded head is %s:%s: events were appended or the head was changed outside the sealer',
                   seen_seq, st.last_seq, encode(st.last_seal, 'hex'));
        RETURN;
    END IF;

    -- a checkpoint must be attested by the ARCHIVE event that made it
    IF st.checkpoint_seq > 0 AND NOT EXISTS (
            SELECT 1 FROM agent_guard.events e
             WHERE e.operation = 'ARCHIVE' AND e.seal_seq IS NOT NULL
               AND e.detail->>'checkpoint_seq' = st.checkpoint_seq::text
               AND e.detail->>'checkpoint_seal' = encode(st.checkpoint_seal, 'hex')) THEN
        RETURN QUERY SELECT false, n, NULL::bigint,
            format('the checkpoint at position %s is not attested by a sealed ARCHIVE event: events before it may have been removed outside agent_guard.archive_log()',
                   st.checkpoint_seq);
        RETURN;
    END IF;

    -- a head kept outside the database
    IF want_seal IS NOT NULL THEN
        IF want_seq IS NULL THEN
            SELECT x.seal_seq INTO want_seq FROM (
                SELECT e.seal_seq FROM agent_guard.events e WHERE e.seal = want_seal
                UNION ALL
                SELECT a.seal_seq FROM agent_guard.events_archive a WHERE a.seal = want_seal) x
             LIMIT 1;
            IF want_seq IS NULL THEN
                RETURN QUERY SELECT false, n, NULL::bigint,
                    format('the expected head %s is not in the log: it was cut or rewritten', encode(want_seal, 'hex'));
                RETURN;
            END IF;
        END IF;
        IF want_seq > seen_seq THEN
            RETURN QUERY SELECT false, n, NULL::bigint,
                format('the log ends at position %s, before the expected head at position %s: events were cut from the end',
                       seen_seq, want_seq);
            RETURN;
        END IF;
        found_seal := CASE WHEN want_seq = 0 THEN ''::bytea
                           WHEN want_seq = st.checkpoint_seq THEN st.checkpoint_seal END;
        IF found_seal IS NULL THEN
            SELECT e.seal INTO found_seal FROM agent_guard.events e WHERE e.seal_seq = want_seq;
        END IF;
        IF found_seal IS NULL THEN
            SELECT a.seal INTO found_seal FROM agent_guard.events_archive a WHERE a.seal_seq = want_seq;
        END IF;
        IF found_seal IS DISTINCT FROM want_seal THEN
            RETURN QUERY SELECT false, n,
                (SELECT e.event_id FROM agent_guard.events e WHERE e.seal_seq = want_seq),
                format('the seal at position %s is not the expected head: the chain was rewritten at or before it',
                       want_seq);
            RETURN;
        END IF;
    END IF;

    RETURN QUERY SELECT true, n, NULL::bigint,
        format('%s sealed events verified from %s to head %s:%s%s; %s events not sealed yet',
               n,
               CASE WHEN st.checkpoint_seq = 0 THEN 'the start'
                    ELSE format('the checkpoint at position %s', st.checkpoint_seq) END,
               seen_seq, encode(seen_seal, 'hex'),
               CASE WHEN want_seal IS NOT NULL THEN format(', which contains the expected head at position %s', want_seq)
                    ELSE '' END,
               unsealed);
END
$$;
COMMENT ON FUNCTION agent_guard.verify_log(text) IS
    'recompute the hash chain: ok, how many sealed events were checked, the first bad one and why; with expected_head (from log_head()) also prove nothing was cut from the end';

------------------------------------------------------------------------
-- archive_log
------------------------------------------------------------------------

CREATE FUNCTION agent_guard.archive_log(before timestamptz)
    RETURNS TABLE (events_archived bigint, checkpoint_seq bigint, checkpoint_seal text)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    st       agent_guard.chain_state%ROWTYPE;
    v        record;
    cut      bigint;
    cut_seal bytea;
    moved    bigint;
BEGIN
    PERFORM agent_guard._require_human('agent_guard.archive_log()');
    IF before IS NULL THEN
        RAISE EXCEPTION 'before must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;

    -- hold the sealers off while the chain is cut
    SELECT * INTO st FROM agent_guard.chain_state FOR UPDATE;

    SELECT * INTO v FROM agent_guard.verify_log();
    IF NOT v.ok THEN
        RAISE EXCEPTION 'the event log does not verify; nothing was archived'
            USING ERRCODE = 'YG040',
                  DETAIL = v.detail,
                  HINT = 'Archiving would hide the damage. Investigate with agent_guard.verify_log() first.';
    END IF;

    -- the longest prefix of the chain whose events are all older than before
    SELECT min(e.seal_seq) - 1 INTO cut FROM agent_guard.events e
     WHERE e.seal_seq IS NOT NULL AND e.at >= before;
    cut := coalesce(cut, st.last_seq);
    IF cut <= st.checkpoint_seq THEN
        RETURN QUERY SELECT 0::bigint, st.checkpoint_seq, encode(st.checkpoint_seal, 'hex');
        RETURN;
    END IF;
    SELECT e.seal INTO cut_seal FROM agent_guard.events e WHERE e.seal_seq = cut;

    INSERT INTO agent_guard.events_archive
        SELECT * FROM agent_guard.events e WHERE e.seal_seq <= cut;
    GET DIAGNOSTICS moved = ROW_COUNT;
    DELETE FROM agent_guard.events e WHERE e.seal_seq <= cut;

    UPDATE agent_guard.chain_state SET checkpoint_seq = cut, checkpoint_seal = cut_seal;
    INSERT INTO agent_guard.log_checkpoints (archived_before, seal_seq, seal, events_archived)
    VALUES (before, cut, cut_seal, moved);
    -- the chain itself attests the cut (verify_log checks it)
    PERFORM agent_guard._log('ARCHIVE', NULL,
        jsonb_build_object('before', before, 'events_archived', moved,
                           'checkpoint_seq', cut, 'checkpoint_seal', encode(cut_seal, 'hex')));
    PERFORM agent_guard._journal_note();

    RETURN QUERY SELECT moved, cut, encode(cut_seal, 'hex');
END
$$;
COMMENT ON FUNCTION agent_guard.archive_log(timestamptz) IS
    'move sealed events older than before to agent_guard.events_archive; the chain verifies from the recorded checkpoint';

------------------------------------------------------------------------
-- postmortem
------------------------------------------------------------------------

-- Operations that are row changes of the run; everything else in the log
-- about the run is a guard event, whatever its kind.
CREATE FUNCTION agent_guard._is_row_op(op text) RETURNS boolean
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT op IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE') $$;

CREATE FUNCTION agent_guard.postmortem_json(run_id text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_run      text := run_id;
    v_summary  jsonb;
    v_privs    jsonb;
    v_timeline jsonb;
    v_guards   jsonb;
    v_data     jsonb;
    v_recovery jsonb;
    v_evidence jsonb;
    v_verify   record;
    v_role     text;
    v_status   text;
BEGIN
    PERFORM agent_guard._require_human('agent_guard.postmortem()');
    IF NOT EXISTS (SELECT 1 FROM agent_guard.events e WHERE e.run_id = v_run) THEN
        RAISE EXCEPTION 'run "%" is not in the event log', left(v_run, 200)
            USING ERRCODE = 'YG041',
                  HINT = 'See agent_guard.runs for the runs on record (archived events are not reported).';
    END IF;

    v_status := CASE
        WHEN EXISTS (SELECT 1 FROM agent_guard.events e WHERE e.operation = 'ROLLBACK'
                      AND (e.run_id = v_run OR e.detail->>'run_id' = v_run)) THEN 'rolled back'
        WHEN EXISTS (SELECT 1 FROM agent_guard.events e WHERE e.run_id = v_run
                      AND (e.operation = 'TRIP' OR e.detail->>'tripped' = 'true'
                           OR e.detail->>'reason' IN ('run_limit', 'tripped'))) THEN 'tripped'
        ELSE 'active' END;

    -- summary
    SELECT jsonb_build_object(
               'run_id', v_run,
               'agents', jsonb_agg(DISTINCT e.agent_id) FILTER (WHERE e.agent_id IS NOT NULL),
               'login_roles', jsonb_agg(DISTINCT e.login_role) FILTER (WHERE e.login_role IS NOT NULL),
               'acting_roles', jsonb_agg(DISTINCT e.acting_role) FILTER (WHERE e.acting_role IS NOT NULL),
               'first_event', min(e.at),
               'last_event', max(e.at),
               'duration', max(e.at) - min(e.at),
               'transactions', count(DISTINCT e.xid),
               'statements', count(DISTINCT e.statement_id),
               'rows_changed', count(*) FILTER (WHERE agent_guard._is_row_op(e.operation)),
               'tables_changed', count(DISTINCT e.relation) FILTER (WHERE agent_guard._is_row_op(e.operation)),
               'guard_events', count(*) FILTER (WHERE NOT agent_guard._is_row_op(e.operation)),
               'status', v_status),
           min(e.login_role)
      INTO v_summary, v_role
      FROM agent_guard.events e WHERE e.run_id = v_run;
    SELECT v_summary || jsonb_build_object(
               'client_addrs', coalesce(jsonb_agg(DISTINCT host(s.client_addr)) FILTER (WHERE s.client_addr IS NOT NULL), '[]'),
               'application_names', coalesce(jsonb_agg(DISTINCT s.application_name) FILTER (WHERE s.application_name <> ''), '[]'))
      INTO v_summary
      FROM agent_guard.statements s WHERE s.run_id = v_run;

    -- privileges the login role holds now on what the run touched
    SELECT jsonb_build_object(
               'role', v_role,
               'role_exists', r.oid IS NOT NULL,
               'superuser', r.rolsuper, 'createrole', r.rolcreaterole, 'createdb', r.rolcreatedb,
               'bypassrls', r.rolbypassrls,
               'member_of', (SELECT coalesce(jsonb_agg(g.rolname ORDER BY g.rolname), '[]')
                               FROM pg_auth_members am JOIN pg_roles g ON g.oid = am.roleid
                              WHERE am.member = r.oid),
               'database', CASE WHEN r.oid IS NOT NULL THEN jsonb_build_object(
                               'name', current_database(),
                               'create', has_database_privilege(r.oid, current_database(), 'CREATE'),
                               'temporary', has_database_privilege(r.oid, current_database(), 'TEMPORARY')) END,
               'relations', (
                   SELECT coalesce(jsonb_agg(jsonb_build_object(
                              'relation', t.relation,
                              'exists', c.oid IS NOT NULL,
                              'owner', CASE WHEN c.oid IS NOT NULL AND r.oid IS NOT NULL
                                            THEN pg_has_role(r.oid, c.relowner, 'USAGE') END,
                              'privileges', CASE WHEN c.oid IS NOT NULL AND r.oid IS NOT NULL THEN
                                  (SELECT coalesce(jsonb_agg(p.priv ORDER BY p.ord), '[]')
                                     FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE',
                                                       'REFERENCES', 'TRIGGER']) WITH ORDINALITY p(priv, ord)
                                    WHERE has_table_privilege(r.oid, c.oid, p.priv)) END,
                              'schema', n.nspname,
                              'schema_owner', CASE WHEN n.oid IS NOT NULL AND r.oid IS NOT NULL
                                                   THEN pg_has_role(r.oid, n.nspowner, 'USAGE') END,
                              'schema_privileges', CASE WHEN n.oid IS NOT NULL AND r.oid IS NOT NULL THEN
                                  (SELECT coalesce(jsonb_agg(p.priv ORDER BY p.ord), '[]')
                                     FROM unnest(ARRAY['USAGE', 'CREATE']) WITH ORDINALITY p(priv, ord)
                                    WHERE has_schema_privilege(r.oid, n.oid, p.priv)) END)
                              ORDER BY t.relation), '[]')
                     FROM (SELECT DISTINCT e.relation FROM agent_guard.events e
                            WHERE e.run_id = v_run AND e.relation IS NOT NULL) t
                     LEFT JOIN pg_class c ON c.oid = to_regclass(t.relation)
                     LEFT JOIN pg_namespace n ON n.oid = c.relnamespace))
      INTO v_privs
      FROM (SELECT 1) one LEFT JOIN pg_roles r ON r.rolname = v_role;

    -- the statements in order, with rows per table and operation
    SELECT coalesce(jsonb_agg(x.j ORDER BY x.at, x.statement_id), '[]') INTO v_timeline
      FROM (SELECT s.statement_id, s.at,
                   jsonb_build_object('statement_id', s.statement_id, 'at', s.at, 'xid', s.xid::text,
                                      'query', s.query,
                                      'rows', (SELECT jsonb_object_agg(c.relation, c.ops)
                                                 FROM (SELECT e.relation, jsonb_object_agg(e.operation, e.n) AS ops
                                                         FROM (SELECT e2.relation, e2.operation, count(*) AS n
                                                                 FROM agent_guard.events e2
                                                                WHERE e2.statement_id = s.statement_id
                                                                GROUP BY 1, 2) e
                                                        GROUP BY e.relation) c)) AS j
              FROM agent_guard.statements s WHERE s.run_id = v_run) x;

    -- every guard event about the run, whatever its kind
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'event_id', e.event_id, 'at', e.at, 'operation', e.operation, 'relation', e.relation,
               'by', e.login_role, 'agent_id', e.agent_id, 'detail', e.detail)
               ORDER BY e.at, e.event_id), '[]')
      INTO v_guards
      FROM agent_guard.events e
     WHERE (e.run_id = v_run OR e.detail->>'run_id' = v_run)
       AND NOT agent_guard._is_row_op(e.operation) AND e.operation <> 'COMPENSATE';

    -- data touched: counts and a few keys per table
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'relation', t.relation, 'inserted', t.ins, 'updated', t.upd, 'deleted', t.del,
               'soft_deleted', t.sdel, 'rows', t.total,
               'sample_keys', (SELECT jsonb_agg(k.row_key ORDER BY k.first_id)
                                 FROM (SELECT e.row_key, min(e.event_id) AS first_id
                                         FROM agent_guard.events e
                                        WHERE e.run_id = v_run AND e.relation = t.relation
                                          AND agent_guard._is_row_op(e.operation)
                                        GROUP BY e.row_key ORDER BY 2 LIMIT 5) k))
               ORDER BY t.relation), '[]')
      INTO v_data
      FROM (SELECT e.relation,
                   count(*) FILTER (WHERE e.operation = 'INSERT') AS ins,
                   count(*) FILTER (WHERE e.operation = 'UPDATE') AS upd,
                   count(*) FILTER (WHERE e.operation = 'DELETE') AS del,
                   count(*) FILTER (WHERE e.operation = 'SOFT_DELETE') AS sdel,
                   count(DISTINCT e.row_key) AS total
              FROM agent_guard.events e
             WHERE e.run_id = v_run AND agent_guard._is_row_op(e.operation)
             GROUP BY e.relation) t;

    -- recovery
    SELECT jsonb_build_object(
               'rollbacks', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                 'event_id', e.event_id, 'at', e.at, 'by', e.login_role, 'detail', e.detail)
                                 ORDER BY e.event_id), '[]')
                               FROM agent_guard.events e
                              WHERE e.operation = 'ROLLBACK'
                                AND (e.run_id = v_run OR e.detail->>'run_id' = v_run)),
               'compensations', (SELECT coalesce(jsonb_object_agg(c.relation, c.n), '{}')
                                   FROM (SELECT coalesce(e.relation, '?') AS relation, count(*) AS n
                                           FROM agent_guard.events e
                                          WHERE e.operation = 'COMPENSATE'
                                            AND (e.run_id = v_run OR e.detail->>'run_id' = v_run)
                                          GROUP BY 1) c),
               'rolled_back', v_status = 'rolled back',
               'preview_command', format('SELECT * FROM agent_guard.rollback_run(%L);', v_run),
               'rollback_command', format('SELECT * FROM agent_guard.rollback_run(%L, apply => true);', v_run))
      INTO v_recovery;

    -- evidence
    SELECT * INTO v_verify FROM agent_guard.verify_log();
    SELECT jsonb_build_object(
               'log_verified', v_verify.ok,
               'events_checked', v_verify.events_checked,
               'first_bad_event', v_verify.first_bad_event,
               'verify_detail', v_verify.detail,
               'head', agent_guard.log_head(),
               'run_events', count(*),
               'run_events_sealed', count(*) FILTER (WHERE e.seal_seq IS NOT NULL),
               'run_first_seal_seq', min(e.seal_seq),
               'run_last_seal_seq', max(e.seal_seq))
      INTO v_evidence
      FROM agent_guard.events e WHERE e.run_id = v_run;

    RETURN jsonb_build_object(
        'summary', v_summary || jsonb_build_object(
            'verdict', format('%s rows changed in %s tables by %s statements; %s guard events; %s; the log %s',
                              v_summary->>'rows_changed', v_summary->>'tables_changed',
                              v_summary->>'statements', v_summary->>'guard_events',
                              CASE WHEN v_status = 'rolled back' THEN 'rolled back'
                                   ELSE 'not rolled back' END,
                              CASE WHEN v_verify.ok THEN 'verifies' ELSE 'DOES NOT VERIFY' END)),
        'privileges', v_privs,
        'timeline', v_timeline,
        'guard_events', v_guards,
        'data', v_data,
        'recovery', v_recovery,
        'evidence', v_evidence);
END
$$;
COMMENT ON FUNCTION agent_guard.postmortem_json(text) IS
    'the facts of agent_guard.postmortem(run_id) as jsonb, for tools';

-- A time for the report, the same whatever the session's DateStyle.
CREATE FUNCTION agent_guard._md_time(value timestamptz) RETURNS text
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT to_char(value, 'YYYY-MM-DD HH24:MI:SS.MS OF') $$;

-- A Markdown table cell: one line, pipes escaped.
CREATE FUNCTION agent_guard._md(value text) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT coalesce(replace(regexp_replace(value, '\s+', ' ', 'g'), '|', '\|'), '') $$;

CREATE FUNCTION agent_guard._md_list(value jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
    -- a run with guard events only has no acting roles: null, not an array
    SELECT coalesce(nullif((SELECT string_agg(x, ', ')
                              FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(value) = 'array'
                                                                  THEN value ELSE '[]' END) x), ''), '-')
$$;

CREATE FUNCTION agent_guard.postmortem(run_id text) RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    j   jsonb := agent_guard.postmortem_json(run_id);
    s   jsonb := j->'summary';
    p   jsonb := j->'privileges';
    ev  jsonb := j->'evidence';
    rc  jsonb := j->'recovery';
    out text;
    x   jsonb;
BEGIN
    out := format(E'# Postmortem: run %s\n\n', s->>'run_id');

    out := out || E'## Summary\n\n'
        || format(E'- Agent: %s\n', agent_guard._md_list(s->'agents'))
        || format(E'- Login role: %s', agent_guard._md_list(s->'login_roles'))
        || CASE WHEN s->'acting_roles' <> s->'login_roles'
                THEN format(' (acting as %s)', agent_guard._md_list(s->'acting_roles')) ELSE '' END || E'\n'
        || format(E'- Client address: %s\n', CASE WHEN jsonb_array_length(s->'client_addrs') = 0
                                               THEN 'local (Unix socket)' ELSE agent_guard._md_list(s->'client_addrs') END)
        || format(E'- Application name: %s\n', agent_guard._md_list(s->'application_names'))
        || format(E'- Window: %s to %s (%s s)\n', agent_guard._md_time((s->>'first_event')::timestamptz),
                  agent_guard._md_time((s->>'last_event')::timestamptz),
                  round(extract(epoch FROM (s->>'duration')::interval), 3))
        || format(E'- Transactions: %s, statements: %s\n', s->>'transactions', s->>'statements')
        || format(E'- Status: %s\n', s->>'status')
        || format(E'- Verdict: %s\n\n', s->>'verdict');

    out := out || E'## Privileges held by the login role (now)\n\n';
    IF NOT (p->>'role_exists')::boolean THEN
        out := out || format(E'Role %s no longer exists.\n\n', coalesce(p->>'role', '-'));
    ELSE
        out := out || format(E'Role %s: superuser %s, createrole %s, createdb %s, bypassrls %s; member of: %s; '
                             'on database %s: CREATE %s, TEMPORARY %s.\n\n',
                             p->>'role', p->>'superuser', p->>'createrole', p->>'createdb', p->>'bypassrls',
                             agent_guard._md_list(p->'member_of'), p#>>'{database,name}',
                             p#>>'{database,create}', p#>>'{database,temporary}')
            || E'| Relation | Owner | Privileges | Schema | Schema owner | Schema privileges |\n'
            || E'|---|---|---|---|---|---|\n';
        FOR x IN SELECT * FROM jsonb_array_elements(p->'relations') LOOP
            out := out || CASE WHEN (x->>'exists')::boolean THEN
                format(E'| %s | %s | %s | %s | %s | %s |\n', agent_guard._md(x->>'relation'),
                       CASE WHEN (x->>'owner')::boolean THEN 'yes' ELSE 'no' END,
                       agent_guard._md_list(x->'privileges'), agent_guard._md(x->>'schema'),
                       CASE WHEN (x->>'schema_owner')::boolean THEN 'yes' ELSE 'no' END,
                       agent_guard._md_list(x->'schema_privileges'))
                ELSE format(E'| %s | (dropped) | | | | |\n', agent_guard._md(x->>'relation')) END;
        END LOOP;
        out := out || E'\n';
    END IF;

    out := out || E'## Timeline\n\n| # | At | Statement | Rows |\n|---|---|---|---|\n';
    FOR x IN SELECT * FROM jsonb_array_elements(j->'timeline') LOOP
        out := out || format(E'| %s | %s | `%s` | %s |\n', x->>'statement_id', agent_guard._md_time((x->>'at')::timestamptz),
                             agent_guard._md(left(x->>'query', 300)),
                             (SELECT string_agg(format('%s: %s', r.key,
                                         (SELECT string_agg(o.key || ' ' || o.value, ', ' ORDER BY o.key)
                                            FROM jsonb_each_text(r.value) o)), '; ' ORDER BY r.key)
                                FROM jsonb_each(x->'rows') r));
    END LOOP;
    out := out || E'\n';

    out := out || E'## Guard events\n\n';
    IF jsonb_array_length(j->'guard_events') = 0 THEN
        out := out || E'No guard fired during this run.\n\n';
    ELSE
        out := out || E'| Event | At | What | Relation | By | Detail |\n|---|---|---|---|---|---|\n';
        FOR x IN SELECT * FROM jsonb_array_elements(j->'guard_events') LOOP
            out := out || format(E'| %s | %s | %s | %s | %s | %s |\n', x->>'event_id', agent_guard._md_time((x->>'at')::timestamptz),
                                 x->>'operation', agent_guard._md(x->>'relation'), agent_guard._md(x->>'by'),
                                 agent_guard._md(CASE WHEN x->'detail' = 'null' THEN '' ELSE (x->'detail')::text END));
        END LOOP;
        out := out || E'\n';
    END IF;

    out := out || E'## Data touched\n\n| Relation | Inserted | Updated | Deleted | Soft-deleted | Rows | Sample keys |\n'
               || E'|---|---|---|---|---|---|---|\n';
    FOR x IN SELECT * FROM jsonb_array_elements(j->'data') LOOP
        out := out || format(E'| %s | %s | %s | %s | %s | %s | %s |\n', agent_guard._md(x->>'relation'),
                             x->>'inserted', x->>'updated', x->>'deleted', x->>'soft_deleted', x->>'rows',
                             agent_guard._md((SELECT string_agg(k::text, ' ') FROM jsonb_array_elements(x->'sample_keys') k)));
    END LOOP;
    out := out || E'\n';

    out := out || E'## Recovery\n\n';
    IF jsonb_array_length(rc->'rollbacks') = 0 THEN
        out := out || E'Nothing of this run has been rolled back.\n';
    ELSE
        FOR x IN SELECT * FROM jsonb_array_elements(rc->'rollbacks') LOOP
            out := out || format(E'- Rolled back at %s by %s (event %s).\n', agent_guard._md_time((x->>'at')::timestamptz),
                                 x->>'by', x->>'event_id');
        END LOOP;
        out := out || format(E'- Compensations: %s.\n',
                             coalesce((SELECT string_agg(c.key || ' ' || c.value, ', ' ORDER BY c.key)
                                         FROM jsonb_each_text(rc->'compensations') c), 'none'));
    END IF;
    out := out || format(E'\nPreview what is left to undo:\n\n```sql\n%s\n```\n\nUndo it:\n\n```sql\n%s\n```\n\n',
                         rc->>'preview_command', rc->>'rollback_command');

    out := out || E'## Evidence\n\n'
        || format(E'- Log verified: %s (%s)\n', CASE WHEN (ev->>'log_verified')::boolean THEN 'yes' ELSE '**NO**' END,
                  ev->>'verify_detail')
        || format(E'- Head seal: `%s` (keep it outside the database; `agent_guard.verify_log(head)` proves nothing was cut)\n',
                  ev->>'head')
        || format(E'- Events of this run: %s, sealed: %s (positions %s to %s)\n', ev->>'run_events',
                  ev->>'run_events_sealed', coalesce(ev->>'run_first_seal_seq', '-'),
                  coalesce(ev->>'run_last_seal_seq', '-'));
    RETURN out;
END
$$;
COMMENT ON FUNCTION agent_guard.postmortem(text) IS
    'a Markdown incident report of one run: who, from where, with which privileges, what ran, which guards fired, what changed, how to undo it, and whether the log verifies';

-- Transactions that wrote events wake the sealer; so does installing.
SELECT agent_guard._journal_note();
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

GRANT EXECUTE ON FUNCTION agent_guard.soft_deleted_stamp(integer, "any") TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._idempotency_ttl() TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard.preview(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._preview(boolean) TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._preview_rows() TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._gate_unqualified(text, oid) TO PUBLIC;
