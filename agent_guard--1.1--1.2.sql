-- agent_guard 1.1 -> 1.2 (ALTER EXTENSION agent_guard UPDATE)
--
-- test/t/016_upgrade.pl installs 1.1 from releases/, fills it, runs this
-- script and checks that every row is kept and that the result is, object
-- for object, a fresh install of 1.2.
\echo Use "ALTER EXTENSION agent_guard UPDATE TO '1.2'" to load this file. \quit

-- Logical replication (README, Deploying): sessions of a role with
-- REPLICATION see soft-deleted rows, so a subscriber's table sync copies
-- them; protect() of a published table says what subscribers need first;
-- rows that a replication worker writes into the guard's own tables are
-- dropped on a subscriber that has the extension.
CREATE FUNCTION agent_guard._soft_visible() RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'ag_deleted_at IS NULL OR (SELECT r.rolreplication FROM pg_catalog.pg_roles r '
           'WHERE r.rolname OPERATOR(pg_catalog.=) SESSION_USER)';
$$;

CREATE OR REPLACE FUNCTION agent_guard._soft_rls_on(relation regclass) RETURNS jsonb
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

DO $$
DECLARE
    v record;
BEGIN
    FOR v IN SELECT po.polrelid::regclass AS rel FROM pg_catalog.pg_policy po
              WHERE po.polname = 'ag_hide_deleted' LOOP
        EXECUTE pg_catalog.format('ALTER POLICY ag_hide_deleted ON %s USING (%s)',
                                  v.rel, agent_guard._soft_visible());
    END LOOP;
END
$$;

CREATE FUNCTION agent_guard._replicated_row() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'ag_replicated_row';

DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid::regclass FROM pg_catalog.pg_class c
              WHERE c.relnamespace = 'agent_guard'::regnamespace AND c.relkind = 'r'
              ORDER BY c.relname LOOP
        EXECUTE format('CREATE TRIGGER ag_replicated_row BEFORE INSERT OR UPDATE OR DELETE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION agent_guard._replicated_row()', t);
        EXECUTE format('ALTER TABLE %s ENABLE REPLICA TRIGGER ag_replicated_row', t);
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION agent_guard._soft_visible() FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._check_subscribers(regclass, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._replicated_row() FROM PUBLIC;

-- Bound parameter values of agents' statements (src/params.c): kept with
-- the statement record, shown by the postmortem.
ALTER TABLE agent_guard.statements ADD COLUMN parameters text;

CREATE OR REPLACE FUNCTION agent_guard.postmortem_json(run_id text) RETURNS jsonb
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
                                      'query', s.query)
                   || CASE WHEN s.parameters IS NOT NULL
                           THEN jsonb_build_object('parameters', s.parameters) ELSE '{}' END
                   || jsonb_build_object(
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

CREATE OR REPLACE FUNCTION agent_guard.postmortem(run_id text) RETURNS text
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
        out := out || format(E'| %s | %s | `%s`%s | %s |\n', x->>'statement_id', agent_guard._md_time((x->>'at')::timestamptz),
                             agent_guard._md(left(x->>'query', 300)),
                             CASE WHEN x ? 'parameters'
                                  THEN format(' with `%s`', agent_guard._md(left(x->>'parameters', 300))) ELSE '' END,
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

-- Approvals cover the values bound to a statement's parameters, which the
-- request shows (src/params.c); run limits count a run across all its
-- sessions (src/runcount.c).
ALTER TABLE agent_guard.request_log ADD COLUMN parameters text;

CREATE FUNCTION agent_guard._pending_request_parameters(OUT request_id bigint, OUT parameters text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'ag_sql_pending_request_parameters'
    LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION agent_guard._run_rows(run_id text, reset boolean) RETURNS bigint
    AS 'MODULE_PATHNAME', 'ag_sql_run_rows'
    LANGUAGE C STRICT VOLATILE;

CREATE OR REPLACE VIEW agent_guard.requests AS
    SELECT r.request_id, r.requested_at, r.agent_id, r.run_id, r.login_role, r.kind,
           CASE WHEN r.status = 'approved' AND r.expires_at <= now() THEN 'expired'
                ELSE r.status END AS status,
           r.reason, r.statement, r.decided_by, r.decided_at, r.note, r.expires_at, r.used_at,
           r.parameters
      FROM agent_guard.request_log r
    UNION ALL
    SELECT p.request_id, p.requested_at, p.agent_id, p.run_id, p.login_role, p.kind,
           CASE WHEN p.kind = 'approval' THEN 'pending' ELSE 'refused' END,
           p.reason, p.statement, NULL, NULL, NULL, NULL, NULL,
           (SELECT pp.parameters FROM agent_guard._pending_request_parameters() pp
             WHERE pp.request_id = p.request_id)
      FROM agent_guard._pending_requests() p
     WHERE NOT EXISTS (SELECT 1 FROM agent_guard.request_log r WHERE r.request_id = p.request_id);

CREATE OR REPLACE FUNCTION agent_guard.reset_run(run_id text) RETURNS boolean
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
    PERFORM agent_guard._run_rows(reset_run.run_id, true);
    PERFORM agent_guard._gate_changed();
    INSERT INTO agent_guard.events (agent_id, run_id, login_role, acting_role, operation, detail)
    VALUES (v.agent_id, v.run_id, session_user, agent_guard.calling_role()::text, 'RESET_RUN',
            jsonb_build_object('rows_seen', v.rows_seen, 'tripped_at', v.tripped_at));
    RETURN true;
END
$$;

REVOKE ALL ON FUNCTION agent_guard._pending_request_parameters() FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._run_rows(text, boolean) FROM PUBLIC;
