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
-- The state before is kept in agent_guard.rls_before (10_tables.sql), for
-- _soft_rls_off.
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

CREATE FUNCTION agent_guard._soft_rls_on(relation regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rel record;
BEGIN
    FOR v_rel IN
        SELECT c.oid::regclass AS rel, c.relrowsecurity, c.relforcerowsecurity
          FROM pg_class c
         WHERE c.oid = relation
            OR c.oid IN (SELECT t.relid FROM pg_partition_tree(relation) t)
    LOOP
        -- a state still kept is the one from before the guard's own
        INSERT INTO agent_guard.rls_before (relation, row_security, force_row_security)
        VALUES (v_rel.rel, v_rel.relrowsecurity, v_rel.relforcerowsecurity)
        ON CONFLICT ON CONSTRAINT rls_before_pkey DO NOTHING;
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
END
$$;

-- Takes the guard's policies off the table and its partitions, and puts
-- their row security back as it was (the kept state is then forgotten).
-- With no state kept, a table that had
-- the permissive ag_visible, which _soft_rls_on() makes only where row
-- security was off, gets it off again: left on and forced with no
-- permissive policy, it would hide every row from everyone but superusers
-- and refuse every insert (red team 25, F1).
CREATE FUNCTION agent_guard._soft_rls_off(relation regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rel     record;
    v_on      boolean;
    v_forced  boolean;
    v_visible boolean;
BEGIN
    FOR v_rel IN SELECT relation AS rel
                 UNION
                 SELECT t.relid::regclass FROM pg_partition_tree(relation) t LOOP
        DELETE FROM agent_guard.rls_before b WHERE b.relation = v_rel.rel
        RETURNING b.row_security, b.force_row_security INTO v_on, v_forced;
        IF EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = v_rel.rel AND polname = 'ag_hide_deleted') THEN
            EXECUTE format('DROP POLICY ag_hide_deleted ON %s', v_rel.rel);
        END IF;
        v_visible := EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = v_rel.rel AND polname = 'ag_visible');
        IF v_visible THEN
            EXECUTE format('DROP POLICY ag_visible ON %s', v_rel.rel);
        END IF;
        IF v_on IS NOT NULL THEN
            IF NOT v_on THEN
                EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', v_rel.rel);
            END IF;
            IF NOT v_forced THEN
                EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', v_rel.rel);
            END IF;
        ELSIF v_visible THEN
            EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', v_rel.rel);
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
     WHERE (pc.oid = relation OR pc.oid IN (SELECT t.relid FROM pg_partition_tree(relation) t)
            OR pc.oid IN (SELECT k::oid FROM agent_guard._inherit_children(relation) k))
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
-- not partitioned is empty: the relation itself is added, and so are the
-- inheritance children protect() covers.
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
            UNION SELECT t.relid::oid FROM pg_partition_tree(relation) t
            UNION SELECT k::oid FROM agent_guard._inherit_children(relation) k) r;
    -- the tables of the tree an agent role owns (or a role an agent is a member
    -- of, as agentcode.c counts owners), unless the table is protected already
    -- (it carries the guard's capture trigger, or a partition's clone of it: a
    -- protected table's partitions and the children protect() covered, not
    -- a child a human added since)
    SELECT coalesce(array_agg(c.oid), '{}') INTO v_agent
      FROM pg_class c
     WHERE c.oid = ANY (v_rels)
       AND EXISTS (SELECT 1 FROM agent_guard.registered_agents a
                    WHERE pg_has_role(a.role, c.relowner, 'MEMBER'))
       AND NOT EXISTS (SELECT 1 FROM pg_trigger g
                        WHERE g.tgrelid = c.oid
                          AND g.tgfoid = 'agent_guard.capture()'::regprocedure);

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

-- The inheritance children protect(relation) covers: every table below it
-- through plain inheritance (pg_inherits; the rows of a child show in its
-- parents, and an UPDATE, DELETE or MERGE of a parent writes them), at any
-- depth, as a partitioned table's protection covers its partitions (which
-- carry clones of its row triggers; plain inheritance clones nothing).  Not
-- a table protected on its own, nor what is below it: its own protection
-- covers those, with its own soft_delete and key.  Not a temporary table:
-- a session's scratch, which no other session's statement reaches.  Left
-- out, a child's rows were written through the protected parent unstamped
-- and unlogged, beyond rollback (red team 23a, F1); a child that is not
-- covered (a human added it after protect()) stops agents' writes that
-- reach it (gate.c).
CREATE FUNCTION agent_guard._inherit_children(relation regclass) RETURNS SETOF regclass
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE k(relid) AS (
        SELECT c.oid
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = relation
           AND NOT c.relispartition AND c.relpersistence <> 't'
           AND NOT EXISTS (SELECT 1 FROM agent_guard.protected_tables p WHERE p.relation::oid = c.oid)
        UNION
        SELECT c.oid
          FROM k JOIN pg_inherits i ON i.inhparent = k.relid
          JOIN pg_class c ON c.oid = i.inhrelid
         WHERE NOT c.relispartition AND c.relpersistence <> 't'
           AND NOT EXISTS (SELECT 1 FROM agent_guard.protected_tables p WHERE p.relation::oid = c.oid)
    )
    SELECT k.relid::regclass FROM k ORDER BY k.relid::regclass::text;
$$;

-- The key that identifies a table's rows in the log: its primary key, else
-- its replica identity index; NULL for none.  The same index the capture
-- trigger takes (capture.c, load_key: PostgreSQL's relcache), so a key
-- checked at once (not DEFERRABLE), valid, with no predicate, and only its
-- key columns, not those of INCLUDE (red team 36, F02, F03).
CREATE FUNCTION agent_guard._key_columns(relation regclass) RETURNS text[]
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT array_agg(a.attname::text ORDER BY k.ord)
      FROM (SELECT i.indexrelid, i.indkey, i.indnkeyatts
              FROM pg_index i
             WHERE i.indrelid = relation AND (i.indisprimary OR i.indisreplident)
               AND i.indisvalid AND i.indisunique AND i.indimmediate AND i.indpred IS NULL
             ORDER BY i.indisprimary DESC
             LIMIT 1) ix
      CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_attribute a ON a.attrelid = relation AND a.attnum = k.attnum
     WHERE k.ord <= ix.indnkeyatts;
$$;

-- The guard's triggers on a table, in the mode of its protection; the row
-- triggers are cloned to its partitions.  "zz_" so that the stamp trigger
-- runs after the table's own BEFORE triggers (they fire in name order) and
-- has the last word on stamps; the trigger argument tells the C code (and
-- the planner) the mode.  Without the preload, TRUNCATE is seen by nothing
-- else (failsafe.c); statement triggers are not cloned to partitions, so
-- each gets one.
CREATE FUNCTION agent_guard._create_triggers(relation regclass, soft_delete boolean) RETURNS void
    LANGUAGE plpgsql STRICT SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_arg text := CASE WHEN soft_delete THEN '''soft_delete''' ELSE '''hard_delete''' END;
    v_rel regclass;
BEGIN
    PERFORM agent_guard._drop_triggers(relation);
    EXECUTE format('CREATE TRIGGER zz_agent_guard_stamp BEFORE INSERT OR UPDATE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION agent_guard.stamp(%s)', relation, v_arg);
    EXECUTE format('CREATE TRIGGER zz_agent_guard_capture AFTER INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW WHEN (agent_guard.in_agent_session()) '
                   'EXECUTE FUNCTION agent_guard.capture(%s)', relation, v_arg);
    FOR v_rel IN SELECT t.relid FROM pg_partition_tree(relation) t
                 UNION SELECT relation LOOP
        EXECUTE format('CREATE TRIGGER zz_agent_guard_truncate BEFORE TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION agent_guard._failsafe_truncate()', v_rel);
    END LOOP;
END
$$;

-- Undo what protect() did to an inheritance child it covered: the guard's
-- triggers, and the child's row security as it was before, kept in
-- agent_guard.rls_before (and forgotten there).  The state is used only
-- while the child has the soft-delete policy it goes with.
CREATE FUNCTION agent_guard._uncover_child(child regclass) RETURNS void
    LANGUAGE plpgsql STRICT SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM agent_guard._drop_triggers(child);
    DELETE FROM agent_guard.rls_before b
     WHERE b.relation = child
       AND NOT EXISTS (SELECT 1 FROM pg_policy po
                        WHERE po.polrelid = child AND po.polname = 'ag_hide_deleted');
    PERFORM agent_guard._soft_rls_off(child);
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
    v_children regclass[];
    v_child    regclass;
    v_kid      record;
    v_ckeys    text[];
    v_soft_rows boolean := false;
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
    v_keys := agent_guard._key_columns(relation);
    IF v_keys IS NULL AND EXISTS (SELECT 1 FROM pg_index i
                                   WHERE i.indrelid = relation AND i.indisprimary AND NOT i.indimmediate) THEN
        RAISE EXCEPTION 'cannot protect %: its primary key is deferrable', relation
            USING ERRCODE = 'invalid_table_definition',
                  DETAIL = 'agent_guard identifies every logged row by a key checked at once, as PostgreSQL''s logical replication does.',
                  HINT = format('Make the key NOT DEFERRABLE, or add a unique index that is not and run ALTER TABLE %s REPLICA IDENTITY USING INDEX with it.', relation);
    END IF;
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

    -- its inheritance children, covered with it: each is stamped and logged
    -- under its own name and key (a rollback puts rows back into it), so
    -- each needs a key of its own (a child inherits no index), and the
    -- caller must own it, as ALTER TABLE of the parent, which recurses to
    -- it, needs.  A child protected on its own keeps its own protection.
    v_children := ARRAY(SELECT agent_guard._inherit_children(relation));
    FOREACH v_child IN ARRAY v_children LOOP
        SELECT c.relkind, c.relowner INTO v_kid FROM pg_class c WHERE c.oid = v_child;
        IF v_kid.relkind <> 'r' THEN
            RAISE EXCEPTION 'cannot protect %: its inheritance child % is not a table', relation, v_child
                USING ERRCODE = 'wrong_object_type',
                      DETAIL = 'The rows of an inheritance child show in its parents, and the parents'' writes reach them; protect() covers every child.',
                      HINT = format('Detach it (ALTER TABLE %s NO INHERIT ...) first; a foreign table is protected on the server that stores its data.', v_child);
        END IF;
        IF NOT pg_has_role(agent_guard.calling_role(), v_kid.relowner, 'USAGE') THEN
            RAISE EXCEPTION 'must be owner of table %', v_child
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = format('Table %s is an inheritance child of %s, and protect() covers it.', v_child, relation);
        END IF;
        v_ckeys := agent_guard._key_columns(v_child);
        IF v_ckeys IS NULL THEN
            RAISE EXCEPTION 'cannot protect %: its inheritance child % has no primary key or replica identity index', relation, v_child
                USING ERRCODE = 'invalid_table_definition',
                      DETAIL = 'protect() covers every inheritance child, and agent_guard identifies every logged row by its key; a child does not inherit its parent''s primary key.',
                      HINT = format('Add one, for example ALTER TABLE %s ADD PRIMARY KEY (%s).', v_child,
                                    (SELECT string_agg(quote_ident(k), ', ') FROM unnest(v_keys) k));
        END IF;
        IF v_ckeys && ARRAY['ag_agent_id', 'ag_run_id', 'ag_deleted_at'] THEN
            RAISE EXCEPTION 'cannot protect %: the key of its inheritance child % uses a stamp column', relation, v_child
                USING ERRCODE = 'invalid_table_definition';
        END IF;
    END LOOP;

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

    -- added to the children too (ALTER TABLE recurses)
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

    -- a table that an earlier protect() of a parent covered is on its own
    -- now: its row security as it was before that, first
    IF NOT EXISTS (SELECT 1 FROM agent_guard.protected_tables p WHERE p.relation = protect.relation)
       AND EXISTS (SELECT 1 FROM agent_guard.rls_before b WHERE b.relation = protect.relation) THEN
        PERFORM agent_guard._uncover_child(relation);
    END IF;

    PERFORM agent_guard._create_triggers(relation, soft_delete);
    IF EXISTS (SELECT 1 FROM agent_guard.protected_tables p WHERE p.relation = protect.relation AND p.soft_delete) THEN
        PERFORM agent_guard._soft_rls_off(relation);
    END IF;
    IF soft_delete THEN
        PERFORM agent_guard._soft_rls_on(relation);
    END IF;

    -- the children, in the same mode: whatever covered them before (this
    -- table's earlier protect(), or another parent's) is undone first
    FOREACH v_child IN ARRAY v_children LOOP
        PERFORM agent_guard._uncover_child(v_child);
        PERFORM agent_guard._create_triggers(v_child, soft_delete);
        IF soft_delete THEN
            PERFORM agent_guard._soft_rls_on(v_child);
        END IF;
    END LOOP;

    -- whether a row may be soft-deleted (softkeys.c): a scan of the
    -- stamp column alone, which runs no code of the table's
    IF soft_delete THEN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s t WHERE t.ag_deleted_at IS NOT NULL)', relation)
           INTO v_soft_rows;
    END IF;

    INSERT INTO agent_guard.protected_tables AS p (relation, soft_delete, key_columns, soft_rows)
    VALUES (protect.relation, protect.soft_delete, v_keys, v_soft_rows)
    ON CONFLICT ON CONSTRAINT protected_tables_pkey
    DO UPDATE SET soft_delete = EXCLUDED.soft_delete, key_columns = EXCLUDED.key_columns,
                  soft_rows = EXCLUDED.soft_rows,
                  protected_at = now(), protected_by = session_user;

    PERFORM agent_guard._log('PROTECT', relation::text,
        jsonb_build_object('soft_delete', soft_delete, 'key_columns', to_jsonb(v_keys))
        || CASE WHEN cardinality(v_children) > 0
                THEN jsonb_build_object('children', to_jsonb(v_children::text[])) ELSE '{}' END);
END
$$;
COMMENT ON FUNCTION agent_guard.protect(regclass, boolean) IS
    'stamp and log agent writes to a table (and its partitions and inheritance children); adds ag_agent_id, ag_run_id and, with soft_delete, ag_deleted_at';

CREATE FUNCTION agent_guard.unprotect(relation regclass) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_owner    oid;
    v_children regclass[];
    v_child    regclass;
    v_left     text;
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

    -- what protect() did: the table, its partitions, the inheritance
    -- children it covers (not a child protected on its own, nor one added
    -- since, which carries none of the guard's triggers)
    v_children := ARRAY(SELECT k FROM agent_guard._inherit_children(relation) k
                         WHERE EXISTS (SELECT 1 FROM pg_trigger g
                                        WHERE g.tgrelid = k
                                          AND g.tgfoid = 'agent_guard.capture()'::regprocedure));
    PERFORM agent_guard._drop_triggers(relation);
    IF EXISTS (SELECT 1 FROM agent_guard.protected_tables p WHERE p.relation = unprotect.relation AND p.soft_delete) THEN
        PERFORM agent_guard._soft_rls_off(relation);
    END IF;
    FOREACH v_child IN ARRAY v_children LOOP
        PERFORM agent_guard._uncover_child(v_child);
    END LOOP;
    DELETE FROM agent_guard.protected_tables p WHERE p.relation = unprotect.relation;

    PERFORM agent_guard._log('UNPROTECT', relation::text,
        CASE WHEN cardinality(v_children) > 0
             THEN jsonb_build_object('children', to_jsonb(v_children::text[])) END);
    RAISE NOTICE 'stamp columns of % were kept, with their data', relation
        USING HINT = 'Drop ag_agent_id, ag_run_id and ag_deleted_at yourself if they are no longer wanted.';
    -- still below another protected table: agents' writes that reach them
    -- through it are refused (gate.c) until they are protected again
    SELECT string_agg(t::text, ', ' ORDER BY t::text) INTO v_left
      FROM unnest(unprotect.relation || v_children) t
     WHERE EXISTS (SELECT 1 FROM agent_guard.protected_tables q
                    WHERE t IN (SELECT agent_guard._inherit_children(q.relation)));
    IF v_left IS NOT NULL THEN
        RAISE NOTICE 'tables below a protected table are no longer protected: %', v_left
            USING DETAIL = 'They are inheritance children of a protected table; agents'' writes that reach them are refused until they are protected again.',
                  HINT = 'Protect them, or their protected parent again: agent_guard.protect() covers a table''s inheritance children.';
    END IF;
END
$$;
COMMENT ON FUNCTION agent_guard.unprotect(regclass) IS
    'stop stamping and logging writes to a table (and its partitions and the inheritance children its protect() covered); its stamp columns and the log are kept';

-- partitions: the leaf partitions its protection covers; children: the
-- inheritance children (at any depth) it covers, as _inherit_children()
-- finds them, that carry the guard's triggers (a child a human added since
-- protect() is not covered until protect() runs again).  Written out, not
-- a call of _inherit_children(): who reads the view needs EXECUTE on what
-- it calls.
CREATE VIEW agent_guard.protected AS
    SELECT p.relation, p.soft_delete, p.key_columns, p.protected_at, p.protected_by,
           (SELECT count(*) FROM pg_partition_tree(p.relation) t
             WHERE t.isleaf AND t.relid <> p.relation) AS partitions,
           (WITH RECURSIVE k(relid) AS (
                SELECT c.oid
                  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = p.relation
                   AND NOT c.relispartition AND c.relpersistence <> 't'
                   AND NOT EXISTS (SELECT 1 FROM agent_guard.protected_tables q WHERE q.relation::oid = c.oid)
                UNION
                SELECT c.oid
                  FROM k JOIN pg_inherits i ON i.inhparent = k.relid
                  JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE NOT c.relispartition AND c.relpersistence <> 't'
                   AND NOT EXISTS (SELECT 1 FROM agent_guard.protected_tables q WHERE q.relation::oid = c.oid)
            )
            SELECT count(*) FROM k
             WHERE EXISTS (SELECT 1 FROM pg_trigger g
                            WHERE g.tgrelid = k.relid
                              AND g.tgfoid = 'agent_guard.capture()'::regprocedure)) AS children
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
    -- the row security kept of a dropped relation: a restore would bring
    -- back the oid as a number, naming whatever has it then
    DELETE FROM agent_guard.rls_before b
     WHERE b.relation::oid IN (SELECT d.objid FROM pg_event_trigger_dropped_objects() d
                                WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0);
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
