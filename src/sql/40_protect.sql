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
-- narrows them.  Superusers and BYPASSRLS roles still see everything, and
-- so do sessions of a role with REPLICATION (never an agent): a logical
-- replication subscriber's table sync copies the soft-deleted rows too, so
-- the copy matches.  The role is the session user, which SET ROLE cannot
-- change; the test is a C function (softdelete.c) evaluated only for rows
-- already soft-deleted: an uncorrelated subquery on pg_roles cost every
-- statement on the table its plan (catalog locks, permission checks,
-- initialising the scans) although live rows never ran it.
-- Returns the previous state, for _soft_rls_off.
CREATE FUNCTION agent_guard._replication_session() RETURNS boolean
    AS 'MODULE_PATHNAME', 'ag_replication_session'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION agent_guard._replication_session() IS
    'whether the session user has REPLICATION (the soft-delete policy lets such sessions see soft-deleted rows)';

CREATE FUNCTION agent_guard._soft_visible() RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'ag_deleted_at IS NULL OR agent_guard._replication_session()';
$$;

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
        EXECUTE format('CREATE POLICY ag_hide_deleted ON %s AS RESTRICTIVE FOR ALL USING (%s) WITH CHECK (true)',
                       v_rel.rel, agent_guard._soft_visible());
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

-- A published table: its subscribers need the stamp columns before the
-- publisher has them, or their apply stops at the first change that carries
-- them.  protect() refuses until the columns exist here (the human adds them
-- on the subscribers, then here; protect() keeps columns it finds).  A
-- publication with a column list of the table does not ship new columns.
CREATE FUNCTION agent_guard._check_subscribers(relation regclass, soft_delete boolean) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_pubs    text;
    v_missing text;
BEGIN
    SELECT string_agg(DISTINCT quote_ident(pt.pubname), ', '),
           string_agg(DISTINCT format('ADD COLUMN IF NOT EXISTS %I %s', c.name, c.type), ', ')
      INTO v_pubs, v_missing
      FROM pg_publication_tables pt
      JOIN pg_publication pb ON pb.pubname = pt.pubname
      JOIN pg_class pc ON pc.relname = pt.tablename
      JOIN pg_namespace pn ON pn.oid = pc.relnamespace AND pn.nspname = pt.schemaname
      CROSS JOIN (VALUES ('ag_agent_id', 'text', true), ('ag_run_id', 'text', true),
                         ('ag_deleted_at', 'timestamptz', soft_delete)) AS c(name, type, wanted)
     WHERE (pc.oid = relation OR pc.oid IN (SELECT t.relid FROM pg_partition_tree(relation) t))
       AND NOT EXISTS (SELECT 1 FROM pg_publication_rel pr
                        WHERE pr.prpubid = pb.oid AND pr.prrelid = pc.oid AND pr.prattrs IS NOT NULL)
       AND c.wanted AND NOT EXISTS (
               SELECT 1 FROM pg_attribute a
                WHERE a.attrelid = relation AND a.attname = c.name AND NOT a.attisdropped);
    IF v_pubs IS NOT NULL THEN
        RAISE EXCEPTION 'cannot protect %: it is published and its subscribers do not have the stamp columns yet', relation
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Table %s is in publication %s. protect() adds stamp columns, and a subscriber whose copy lacks a replicated column stops applying changes.', relation, v_pubs),
                  HINT = format('Run ALTER TABLE %s %s; on every subscriber first, then the same here, then protect() again.', relation, v_missing);
    END IF;
END
$$;

-- Columns of the table (and its partitions) whose type runs an agent's
-- code in every write (a range's subtype_diff, canonical or operator
-- class, a domain's constraints: src/agenttypes.c): a WARNING for each, with
-- how to take the code back; returns their number.  protect() keeps them.
CREATE FUNCTION agent_guard._agent_type_columns(relation regclass) RETURNS integer
    AS 'MODULE_PATHNAME', 'ag_sql_agent_type_columns'
    LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION agent_guard._agent_type_columns(regclass) IS
    'warn of the columns of a table whose type runs an agent''s code in every write; returns their number';

-- Structure an agent left on a table it made, that protect() would arm or
-- keep, and that the gates refuse an agent on a protected table (README,
-- "Structure of a protected table"): a default, NOT NULL, identity,
-- generation or constraint on a stamp column (humans' rows born
-- soft-deleted, or refused), whoever owns the table; and, on a table (or
-- partition) an agent role owns, of a table not protected yet: its
-- row-security policies (a restrictive one would hide every row from
-- humans once protect() turns row security on), row security already on,
-- its triggers and rules.  protect() refuses the table naming each, with
-- the way to remove it; a human removes them (or adds them back after
-- protect(), as a human's own).  pg_partition_tree() of a table that is
-- not partitioned is empty: the relation itself is added.
CREATE FUNCTION agent_guard._agent_structure(relation regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rels  oid[];
    v_agent oid[];
    v_found text[];
    v_fix   text[];
BEGIN
    SELECT array_agg(r.relid) INTO v_rels
      FROM (SELECT relation::oid AS relid
            UNION SELECT t.relid::oid FROM pg_partition_tree(relation) t) r;
    -- the tables of the tree an agent role owns (or a role an agent is a member
    -- of, as agentcode.c counts owners), unless the table is protected already
    SELECT coalesce(array_agg(c.oid), '{}') INTO v_agent
      FROM pg_class c
     WHERE c.oid = ANY (v_rels)
       AND EXISTS (SELECT 1 FROM agent_guard.registered_agents a
                    WHERE pg_has_role(a.role, c.relowner, 'MEMBER'))
       AND NOT EXISTS (SELECT 1 FROM agent_guard.protected_tables p
                        WHERE p.relation = _agent_structure.relation);

    SELECT array_agg(x.what ORDER BY x.what), array_agg(x.fix ORDER BY x.what)
      INTO v_found, v_fix
      FROM (
        SELECT format('column %I of %s has a default', a.attname, a.attrelid::regclass) AS what,
               format('ALTER TABLE %s ALTER COLUMN %I DROP DEFAULT', a.attrelid::regclass, a.attname) AS fix
          FROM pg_attribute a
         WHERE a.attrelid = ANY (v_rels)
           AND a.attname IN ('ag_agent_id', 'ag_run_id', 'ag_deleted_at') AND NOT a.attisdropped
           AND a.atthasdef AND a.attgenerated = ''
        UNION ALL
        SELECT format('column %I of %s is NOT NULL', a.attname, a.attrelid::regclass),
               format('ALTER TABLE %s ALTER COLUMN %I DROP NOT NULL', a.attrelid::regclass, a.attname)
          FROM pg_attribute a
         WHERE a.attrelid = ANY (v_rels)
           AND a.attname IN ('ag_agent_id', 'ag_run_id', 'ag_deleted_at') AND NOT a.attisdropped
           AND a.attnotnull AND a.attidentity = ''
        UNION ALL
        SELECT format('column %I of %s is an identity or generated column', a.attname, a.attrelid::regclass),
               format('ALTER TABLE %s DROP COLUMN %I', a.attrelid::regclass, a.attname)
          FROM pg_attribute a
         WHERE a.attrelid = ANY (v_rels)
           AND a.attname IN ('ag_agent_id', 'ag_run_id', 'ag_deleted_at') AND NOT a.attisdropped
           AND (a.attidentity <> '' OR a.attgenerated <> '')
        UNION ALL
        SELECT format('constraint %I on %s names a stamp column', k.conname, k.conrelid::regclass),
               format('ALTER TABLE %s DROP CONSTRAINT %I', k.conrelid::regclass, k.conname)
          FROM pg_constraint k
         WHERE k.conrelid = ANY (v_rels)
           AND k.contype <> 'n' AND k.coninhcount = 0
           AND EXISTS (SELECT 1 FROM pg_attribute a
                        WHERE a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey)
                          AND a.attname IN ('ag_agent_id', 'ag_run_id', 'ag_deleted_at'))
        UNION ALL
        SELECT format('policy %I on %s', p.polname, p.polrelid::regclass),
               format('DROP POLICY %I ON %s', p.polname, p.polrelid::regclass)
          FROM pg_policy p
         WHERE p.polrelid = ANY (v_agent)
        UNION ALL
        SELECT format('row security is enabled on %s', c.oid::regclass),
               format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', c.oid::regclass)
          FROM pg_class c
         WHERE c.oid = ANY (v_agent) AND c.relrowsecurity
        UNION ALL
        -- the guard's own triggers protect() drops and makes again
        SELECT format('trigger %I on %s', g.tgname, g.tgrelid::regclass),
               format('DROP TRIGGER %I ON %s', g.tgname, g.tgrelid::regclass)
          FROM pg_trigger g
         WHERE g.tgrelid = ANY (v_agent)
           AND NOT g.tgisinternal AND g.tgparentid = 0
           AND g.tgname NOT IN ('zz_agent_guard_stamp', 'zz_agent_guard_capture', 'zz_agent_guard_truncate')
        UNION ALL
        SELECT format('rule %I on %s', r.rulename, r.ev_class::regclass),
               format('DROP RULE %I ON %s', r.rulename, r.ev_class::regclass)
          FROM pg_rewrite r
         WHERE r.ev_class = ANY (v_agent)
      ) x;

    IF v_found IS NOT NULL THEN
        RAISE EXCEPTION 'cannot protect %: it has structure that would act on humans'' reads and writes once protected', relation
            USING ERRCODE = 'invalid_table_definition',
                  DETAIL = format('Found: %s. Once the table is protected, these could hide rows from humans, mark humans'' new rows soft-deleted, or refuse humans'' writes; an agent may not add them to a protected table.',
                                  array_to_string(v_found, '; ')),
                  HINT = format('Review and remove them (%s), then call protect() again; a human may add them back afterwards.',
                                array_to_string(v_fix, '; '));
    END IF;
    -- kept, but said: a column whose type runs an agent's code
    PERFORM agent_guard._agent_type_columns(relation);
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

    PERFORM agent_guard._agent_structure(relation);
    PERFORM agent_guard._check_subscribers(relation, soft_delete);

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


-- A protected table that is dropped, by anyone and by any path (DROP
-- TABLE, DROP SCHEMA ... CASCADE, DROP OWNED), leaves agent_guard.protected
-- with it, and the drop is on record: a DROP event with who dropped it and
-- how.  Without this the row stayed, naming a bare oid, and survived dump
-- and restore.  The event belongs to the agent's run when an agent dropped
-- it (an approved DROP), to no run when a human did.
CREATE FUNCTION agent_guard._protected_dropped() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v record;
BEGIN
    FOR v IN SELECT d.objid, d.object_identity, d.original, p.soft_delete, p.key_columns
               FROM pg_event_trigger_dropped_objects() d
               JOIN agent_guard.protected_tables p ON p.relation::oid = d.objid
              WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 LOOP
        DELETE FROM agent_guard.protected_tables p WHERE p.relation::oid = v.objid;
        INSERT INTO agent_guard.events (agent_id, run_id, login_role, acting_role, relation, operation, detail)
        VALUES (agent_guard.current_agent(), agent_guard.current_run(), session_user,
                agent_guard.calling_role()::text, v.object_identity, 'DROP',
                jsonb_build_object('command', tg_tag, 'cascaded', NOT v.original,
                                   'soft_delete', v.soft_delete, 'key_columns', to_jsonb(v.key_columns)));
    END LOOP;
END
$$;

CREATE EVENT TRIGGER agent_guard_protected_dropped ON sql_drop
    EXECUTE FUNCTION agent_guard._protected_dropped();
