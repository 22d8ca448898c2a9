-- agent_guard 1.1 -> 1.2 (ALTER EXTENSION agent_guard UPDATE)
--
-- test/t/016_upgrade.pl installs 1.1 from releases/, fills it, runs this
-- script and checks that every row is kept and that the result is, object
-- for object, a fresh install of 1.2.
\echo Use "ALTER EXTENSION agent_guard UPDATE TO '1.2'" to load this file. \quit

-- Without the preload the library now loads quietly, with no hook
-- (failsafe.c); installing and updating still need it.
CREATE FUNCTION agent_guard._require_preload() RETURNS void
    AS 'MODULE_PATHNAME', 'ag_require_preload'
    LANGUAGE C STRICT VOLATILE;
SELECT agent_guard._require_preload();

-- Fail-safe without the preload: the catalog's part of the guard.
CREATE FUNCTION agent_guard._failsafe_ddl() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'ag_failsafe_ddl'
    LANGUAGE C;

CREATE FUNCTION agent_guard._failsafe_truncate() RETURNS trigger
    AS 'MODULE_PATHNAME', 'ag_failsafe_truncate'
    LANGUAGE C;

CREATE EVENT TRIGGER agent_guard_failsafe ON ddl_command_start
    EXECUTE FUNCTION agent_guard._failsafe_ddl();

CREATE OR REPLACE FUNCTION agent_guard._drop_triggers(relation regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_trig record;
BEGIN
    FOR v_trig IN SELECT t.tgname, t.tgrelid::regclass AS rel FROM pg_trigger t
                   WHERE (t.tgrelid = relation
                          OR t.tgrelid IN (SELECT p.relid FROM pg_partition_tree(relation) p))
                     AND t.tgparentid = 0
                     AND t.tgname IN ('zz_agent_guard_stamp', 'zz_agent_guard_capture',
                                      'zz_agent_guard_truncate')
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', v_trig.tgname, v_trig.rel);
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION agent_guard.protect(relation regclass, soft_delete boolean DEFAULT true)
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
    -- without the preload, TRUNCATE is seen by nothing else (failsafe.c);
    -- statement triggers are not cloned to partitions, so each gets one
    FOR v_root IN SELECT t.relid FROM pg_partition_tree(relation) t
                  UNION SELECT relation LOOP
        EXECUTE format('CREATE TRIGGER zz_agent_guard_truncate BEFORE TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION agent_guard._failsafe_truncate()', v_root);
    END LOOP;

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

-- the TRUNCATE trigger on every table protected before 1.2, and on each of
-- its partitions
DO $$
DECLARE
    v_rel regclass;
BEGIN
    FOR v_rel IN SELECT t.relid FROM agent_guard.protected_tables p,
                        LATERAL pg_catalog.pg_partition_tree(p.relation) t
                  WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                                     WHERE g.tgrelid = t.relid AND g.tgname = 'zz_agent_guard_truncate') LOOP
        EXECUTE pg_catalog.format('CREATE TRIGGER zz_agent_guard_truncate BEFORE TRUNCATE ON %s '
                                  'FOR EACH STATEMENT EXECUTE FUNCTION agent_guard._failsafe_truncate()', v_rel);
    END LOOP;
END
$$;

-- Privileges of the new functions, as 99_privileges.sql gives them
REVOKE ALL ON FUNCTION agent_guard._require_preload() FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._failsafe_ddl() FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._failsafe_truncate() FROM PUBLIC;
