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


-- One truth for a run's state (agent_guard.runs, which the
-- postmortem reads), humans' acts kept apart from the agent's work, counts in
-- words ("1 row").

CREATE OR REPLACE FUNCTION agent_guard._plural(n bigint, noun text) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT n || ' ' || noun || CASE WHEN n = 1 THEN '' ELSE 's' END $$;

CREATE OR REPLACE FUNCTION agent_guard._is_agent_act(op text) RETURNS boolean
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT op IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP') $$;

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

    -- the state: agent_guard.runs is its one definition (a run label
    -- shared by two agents has a row, and a state, for each)
    SELECT string_agg(DISTINCT r.status, ', ') INTO v_status
      FROM agent_guard.runs r WHERE r.run_id = v_run;

    -- summary: the agent's own acts (humans' acts are listed apart)
    SELECT jsonb_build_object(
               'run_id', v_run,
               'agents', jsonb_agg(DISTINCT e.agent_id) FILTER (WHERE e.agent_id IS NOT NULL),
               'login_roles', jsonb_agg(DISTINCT e.login_role) FILTER (WHERE e.login_role IS NOT NULL
                                                                       AND agent_guard._is_agent_act(e.operation)),
               'acting_roles', jsonb_agg(DISTINCT e.acting_role) FILTER (WHERE e.acting_role IS NOT NULL
                                                                         AND agent_guard._is_agent_act(e.operation)),
               'first_event', min(e.at) FILTER (WHERE agent_guard._is_agent_act(e.operation)),
               'last_event', max(e.at) FILTER (WHERE agent_guard._is_agent_act(e.operation)),
               'duration', max(e.at) FILTER (WHERE agent_guard._is_agent_act(e.operation))
                           - min(e.at) FILTER (WHERE agent_guard._is_agent_act(e.operation)),
               'transactions', count(DISTINCT e.xid) FILTER (WHERE agent_guard._is_agent_act(e.operation)
                                                               AND e.operation <> 'BLOCKED'),
               'statements', count(DISTINCT e.statement_id),
               'rows_changed', count(*) FILTER (WHERE agent_guard._is_row_op(e.operation)),
               'tables_changed', count(DISTINCT e.relation) FILTER (WHERE agent_guard._is_row_op(e.operation)),
               'guard_events', count(*) FILTER (WHERE NOT agent_guard._is_row_op(e.operation)),
               'human_acts', count(*) FILTER (WHERE NOT agent_guard._is_agent_act(e.operation)),
               'status', v_status),
           min(e.login_role) FILTER (WHERE agent_guard._is_agent_act(e.operation))
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

    -- every guard event about the run, whatever its kind; "human" says
    -- whether it is a human's act on the run rather than the agent's
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'event_id', e.event_id, 'at', e.at, 'operation', e.operation, 'relation', e.relation,
               'by', e.login_role, 'agent_id', e.agent_id, 'detail', e.detail,
               'human', NOT agent_guard._is_agent_act(e.operation))
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
            'verdict', format('%s changed in %s by %s; %s; %s; the log %s',
                              agent_guard._plural((v_summary->>'rows_changed')::bigint, 'row'),
                              agent_guard._plural((v_summary->>'tables_changed')::bigint, 'table'),
                              agent_guard._plural((v_summary->>'statements')::bigint, 'statement'),
                              agent_guard._plural((v_summary->>'guard_events')::bigint, 'guard event'),
                              CASE WHEN v_status IN ('rolled back', 'partly rolled back') THEN v_status
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
                                 x->>'operation', agent_guard._md(x->>'relation'),
                                 agent_guard._md(CASE WHEN (x->>'human')::boolean THEN 'human: ' || (x->>'by')
                                                      ELSE 'agent: ' || (x->>'by') END),
                                 agent_guard._md(CASE WHEN x->'detail' = 'null' THEN '' ELSE (x->'detail')::text END));
        END LOOP;
        out := out || E'\n';
    END IF;

    IF EXISTS (SELECT 1 FROM jsonb_array_elements(j->'guard_events') g WHERE g->>'operation' = 'EXECUTED') THEN
        out := out || E'## Approved statements that ran\n\n';
        FOR x IN SELECT g FROM jsonb_array_elements(j->'guard_events') g WHERE g->>'operation' = 'EXECUTED' LOOP
            out := out || format(E'- %s: `%s` (request %s, approved by %s at %s%s): %s\n',
                                 agent_guard._md_time((x->>'at')::timestamptz),
                                 agent_guard._md(left(x#>>'{detail,statement}', 300)),
                                 x#>>'{detail,request_id}', x#>>'{detail,approved_by}',
                                 agent_guard._md_time((x#>>'{detail,approved_at}')::timestamptz),
                                 CASE WHEN x#>>'{detail,note}' IS NOT NULL
                                      THEN ', note: ' || agent_guard._md(x#>>'{detail,note}') ELSE '' END,
                                 coalesce((SELECT string_agg(format('%s %s%s', t->>'relation',
                                                   CASE WHEN t ? 'rows' THEN 'held ' || agent_guard._plural((t->>'rows')::bigint, 'row')
                                                        ELSE '' END,
                                                   CASE WHEN (t->>'rows_estimated')::boolean THEN ' (estimated)' ELSE '' END), '; ')
                                             FROM jsonb_array_elements(x#>'{detail,targets}') t), '-'));
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

-- red team 15B, finding 5: rollbacks take turns on a lock no SQL function takes
CREATE FUNCTION agent_guard._rollback_lock(wait_ms integer) RETURNS void
    AS 'MODULE_PATHNAME', 'ag_sql_rollback_lock'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION agent_guard._rollback_lock(integer) IS
    'internal: take the lock rollbacks that apply take turns on, waiting at most wait_ms';
REVOKE ALL ON FUNCTION agent_guard._rollback_lock(integer) FROM PUBLIC;

-- "pg_catalog.jsonb_to_record(<image>) AS <alias>(c1 type1, ...)": the
-- columns cols of relation read from a key or a partial image, typed as the
-- table's columns (with their collations), and no other column.  Not
-- jsonb_populate_record(NULL::t, ...): that reads every column of the row
-- type, and a column of a NOT NULL domain missing from the image fails
-- its domain check (fix 26).
--
-- Two kinds of column are not read by jsonb_to_record() (then the text is
-- a subquery, "(SELECT ... FROM jsonb_to_record(...) AS j_(...)) AS
-- <alias>", which every caller puts after FROM or JOIN LATERAL):
--   - a json column (or a domain over json) marked in the image (its name
--     in the array under the key "", src/rowimage.c) holds its text, a
--     JSON string, which jsonb_to_record() would read as the JSON string
--     itself: it is read with the type's input function, exactly as it
--     was (red team 27, finding 2).  An image without marks (written
--     before them) is read as before.  Other marked columns (hstore, a
--     type with a cast to json, json[]) are read from their text by
--     jsonb_to_record() already, as arrays kept as text are;
--   - a json or jsonb column whose value may not be SQL NULL (keys: a key
--     column, or a value taken from a non-NULL column; or a NOT NULL
--     column) reads a JSON null as the JSON null, which jsonb_to_record()
--     reads as SQL NULL: such a key found no row, or the wrong one
--     (red team 29, findings 3 and 4).  Any other jsonb column reads a
--     JSON null as the JSON null where the image marks it (a null there
--     that is not marked is an SQL NULL, or in an image written before
--     the marks, either).
-- agent_guard._typed_record() reads a partial image, agent_guard._typed_key()
-- a key (keys).
CREATE FUNCTION agent_guard._typed(relation regclass, cols text[], image text, alias text, keys boolean)
    RETURNS text
    LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    WITH c AS (
        SELECT c.o, a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS typ,
               format('%I %s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                      CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                           THEN format(' COLLATE %I.%I', n.nspname, co.collname) ELSE '' END) AS def,
               (WITH RECURSIVE d(oid, typtype, typbasetype, depth) AS (
                     SELECT t.oid, t.typtype, t.typbasetype, 0
                     UNION ALL
                     SELECT b.oid, b.typtype, b.typbasetype, d.depth + 1
                       FROM d JOIN pg_type b ON b.oid = d.typbasetype
                      WHERE d.typtype = 'd' AND d.depth < 100)
                SELECT d.oid FROM d WHERE d.typtype <> 'd') AS base,
               keys OR a.attnotnull AS notnull
          FROM unnest(cols) WITH ORDINALITY AS c(name, o)
          JOIN pg_attribute a ON a.attrelid = relation AND a.attname = c.name AND a.attnum > 0 AND NOT a.attisdropped
          JOIN pg_type t ON t.oid = a.atttypid
          LEFT JOIN pg_collation co ON co.oid = a.attcollation
          LEFT JOIN pg_namespace n ON n.oid = co.collnamespace),
    x AS (
        SELECT c.o, c.name, c.def,
               CASE WHEN c.base = 'json'::regtype
                    THEN format('CASE WHEN (%1$s OPERATOR(pg_catalog.->) %2$L) OPERATOR(pg_catalog.?) %3$L '
                                'THEN CAST(%1$s OPERATOR(pg_catalog.->>) %3$L AS %4$s) %5$sELSE j_.%6$I END',
                                image, '', c.name, c.typ,
                                CASE WHEN c.notnull
                                     THEN format('WHEN %1$s OPERATOR(pg_catalog.->) %2$L OPERATOR(pg_catalog.=) ''null''::pg_catalog.jsonb '
                                                 'THEN CAST(''null'' AS %3$s) ', image, c.name, c.typ)
                                     ELSE '' END,
                                c.name)
                    WHEN c.base = 'jsonb'::regtype AND c.notnull
                    THEN format('CAST(%s OPERATOR(pg_catalog.->) %L AS %s)', image, c.name, c.typ)
                    WHEN c.base = 'jsonb'::regtype
                    THEN format('CASE WHEN (%1$s OPERATOR(pg_catalog.->) %2$L) OPERATOR(pg_catalog.?) %3$L '
                                'THEN CAST(%1$s OPERATOR(pg_catalog.->) %3$L AS %4$s) ELSE j_.%5$I END',
                                image, '', c.name, c.typ, c.name) END AS expr,
               c.base IS DISTINCT FROM 'jsonb'::regtype OR NOT c.notnull AS uses_j
          FROM c)
    SELECT CASE WHEN coalesce(bool_and(x.expr IS NULL), true)
                THEN format('pg_catalog.jsonb_to_record(%s) AS %I(%s)', image, alias,
                            string_agg(x.def, ', ' ORDER BY x.o))
                ELSE format('(SELECT %s%s) AS %I',
                            string_agg(format('%s AS %I', coalesce(x.expr, format('j_.%I', x.name)), x.name), ', ' ORDER BY x.o),
                            CASE WHEN bool_or(x.uses_j)
                                 THEN format(' FROM pg_catalog.jsonb_to_record(%s) AS j_(%s)', image,
                                             string_agg(x.def, ', ' ORDER BY x.o) FILTER (WHERE x.uses_j))
                                 ELSE '' END,
                            alias) END
      FROM x
$$;
COMMENT ON FUNCTION agent_guard._typed(regclass, text[], text, text, boolean) IS
    'internal: jsonb_to_record() of a key or partial image with a column definition list of some columns of a table (marked json columns from their text; keys: a JSON null in a json or jsonb column as the JSON null)';
REVOKE ALL ON FUNCTION agent_guard._typed(regclass, text[], text, text, boolean) FROM PUBLIC;
CREATE FUNCTION agent_guard._typed_record(relation regclass, cols text[], image text, alias text)
    RETURNS text
    LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT agent_guard._typed(relation, cols, image, alias, false)
$$;
COMMENT ON FUNCTION agent_guard._typed_record(regclass, text[], text, text) IS
    'internal: jsonb_to_record() of a partial image with a column definition list of some columns of a table';
CREATE FUNCTION agent_guard._typed_key(relation regclass, cols text[], image text, alias text)
    RETURNS text
    LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT agent_guard._typed(relation, cols, image, alias, true)
$$;
COMMENT ON FUNCTION agent_guard._typed_key(regclass, text[], text, text) IS
    'internal: jsonb_to_record() of a key with a column definition list of some columns of a table (a JSON null in a json or jsonb column as the JSON null)';
REVOKE ALL ON FUNCTION agent_guard._typed_record(regclass, text[], text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._typed_key(regclass, text[], text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION agent_guard._rollback(p_run text, p_xid xid8, p_apply boolean, p_on_conflict text)
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
    v_pending  bigint;
    v_conf     bigint;
    v_msg      text;
    v_runs     text[];
    v_srr      text;
    v_fk       record;
    v_bad      bigint;
    v_skipped  bigint;
    v_applied  boolean := false;
    v_lo       bigint;
    v_hi       bigint;
    v_role     text := agent_guard.calling_role()::text;
    v_arg      jsonb;
    v_res      jsonb;
    v_vals     jsonb;
    v_deny     record;
    v_cnt      jsonb;
    v_part     text;
    v_partrel  regclass;
    v_holders  text;
    v_missing  jsonb;
    v_sql      text;
    v_units    bigint[];
    v_one      bigint;
    v_want     bigint;
    v_ev       bigint;
    v_errmsg   text;
    v_errdet   text;
    v_errcon   text;
    v_dc       record;
    v_conds    text;
    v_pred     text;
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
    -- statement takes a new snapshot in READ COMMITTED).  The lock is one
    -- no SQL function takes (not an advisory lock an agent could hold for
    -- ever), and the wait for another human's rollback ends (lock_timeout,
    -- at most a minute) with the holder named.
    IF p_apply THEN
        BEGIN
            PERFORM agent_guard._rollback_lock(60000);
        EXCEPTION WHEN lock_not_available THEN
            SELECT string_agg(format('process %s (role %s, in a transaction since %s)', l.pid,
                                     coalesce(a.usename::text, 'unknown'), a.xact_start), ', ' ORDER BY l.pid)
              INTO v_holders
              FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'object' AND l.granted AND l.objsubid = 1
               AND l.classid = 'pg_catalog.pg_extension'::pg_catalog.regclass
               AND l.objid = (SELECT x.oid FROM pg_catalog.pg_extension x WHERE x.extname = 'agent_guard')
               AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                                  WHERE d.datname = pg_catalog.current_database());
            RAISE EXCEPTION 'cannot apply the rollback of %: another rollback is being applied', v_what
                USING ERRCODE = 'lock_not_available',
                      DETAIL = format('The rollback lock is held by %s.', coalesce(v_holders, 'a transaction that has ended')),
                      HINT = 'Try again when that rollback has ended (pg_cancel_backend() ends it).';
        END;
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
      FROM (SELECT e.event_id, e.run_id, e.relation, e.operation,
                   CASE WHEN c.event_id IS NULL THEN e.row_key ELSE c.row_key END AS row_key,
                   CASE WHEN c.event_id IS NULL THEN e.old_row ELSE c.old_row END AS old_row,
                   CASE WHEN c.event_id IS NULL THEN e.new_row ELSE c.new_row END AS new_row
              FROM agent_guard.events e
              -- images written before 1.2, reprinted in the pinned forms
              -- by the update (agent_guard.canonical_images); the sealed
              -- images stay as they were.  A reprint is used only while it
              -- is what the sealed images reprint to: one edited since (it
              -- is outside the chain) is not, and the sealed text is
              -- compared instead (a conflict, failing closed).
              LEFT JOIN agent_guard.canonical_images c
                     ON c.event_id = e.event_id
                    AND EXISTS (SELECT FROM (SELECT agent_guard._canonical_columns(to_regclass(e.relation)) AS cols) k
                                 WHERE ROW(c.row_key, c.old_row, c.new_row) IS NOT DISTINCT FROM
                                       ROW(agent_guard._canonical_image(k.cols, e.row_key),
                                           agent_guard._canonical_image(k.cols, e.old_row),
                                           agent_guard._canonical_image(k.cols, e.new_row)))
             WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE')
               AND (p_run IS NULL OR e.run_id = p_run)
               AND (p_xid IS NULL OR e.xid = p_xid)
               AND (p_run IS NOT NULL OR p_xid IS NOT NULL)) e;

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
           lead(t.event_id) OVER w AS next_event,
           -- no row at the key before the run's first change to it
           NOT first_value(t.found) OVER w AS born
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

    -- The rows are read and written as their table's owner, in a
    -- security-restricted operation (agent_guard._owner_query): no trigger,
    -- check, cast or operator of the table runs with the extension owner's
    -- rights or the caller's.  So the caller's own privileges are checked
    -- here: SELECT on every table of the plan and, to apply it, the
    -- privilege each compensation uses; unless the caller is an operator
    -- (agent_guard.grant_operator(): it reads the whole log, whose images
    -- the rollback writes back, and undoing agents' runs is its job).
    SELECT x.rel, x.priv INTO v_deny
      FROM (SELECT b.rel,
                   CASE WHEN NOT has_table_privilege(v_role::regrole::oid, b.rel::oid, 'SELECT') THEN 'SELECT'
                        WHEN NOT p_apply THEN NULL
                        WHEN b.operation = 'INSERT' AND NOT has_table_privilege(v_role::regrole::oid, b.rel::oid, 'DELETE') THEN 'DELETE'
                        WHEN b.operation = 'DELETE' AND NOT has_table_privilege(v_role::regrole::oid, b.rel::oid, 'INSERT') THEN 'INSERT'
                        WHEN b.operation IN ('UPDATE', 'SOFT_DELETE')
                             AND NOT has_table_privilege(v_role::regrole::oid, b.rel::oid, 'UPDATE') THEN 'UPDATE' END AS priv
              FROM (SELECT DISTINCT b.rel, b.operation FROM _ag_rb b WHERE b.status = 'planned') b) x
     WHERE x.priv IS NOT NULL
       AND NOT (has_table_privilege(v_role::regrole::oid, 'agent_guard.events'::regclass::oid, 'SELECT')
                AND has_function_privilege(v_role::regrole::oid,
                                           'agent_guard.rollback_run(text, boolean, text)'::regprocedure::oid, 'EXECUTE'))
     ORDER BY x.rel::text, x.priv
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'permission denied to roll back % on table %', v_what, v_deny.rel
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Role "%s" lacks %s on %s.  Planning a rollback needs SELECT on each table; applying it needs DELETE to undo inserts, INSERT to undo deletes and UPDATE to undo updates and soft deletes.',
                                  v_role, v_deny.priv, v_deny.rel),
                  HINT = 'Ask the table''s owner for the privilege, or to run the rollback.';
    END IF;

    -- The last change to each key must be what is there now: read (and
    -- lock) the current rows, table by table, as the table's owner; keep
    -- only the differences.  Columns added after the run (not in its
    -- image) are not compared: an ALTER TABLE ... ADD COLUMN, which needs
    -- no approval, would otherwise make every row of the run a conflict
    -- (red team 9, finding 4); the rollback leaves them as they are.  Not
    -- so in a row that was not at its key before the run (one it inserted,
    -- which the rollback deletes): a value there in such a column that is
    -- not the one rows written before the column was added read (its
    -- attmissingval, as to_jsonb() prints it; NULL if none) was written
    -- after the run, and the rollback would delete it with the row (red
    -- team 23a): the row changed after the run.  (A human's write through
    -- the triggers changes the stamps as well; this is for any other.)
    -- The owner reads its table's part of the plan from a copy of its own
    -- (_ag_c<oid>), granted to it for this transaction: never the rows of
    -- another table.  Rows are compared as the row trigger logs them
    -- (agent_guard._row_image()).
    CREATE TEMP TABLE _ag_cur (event_id bigint, k jsonb, cur jsonb) ON COMMIT DROP;
    FOR v_rel IN SELECT DISTINCT t.rel FROM _ag_touch t WHERE t.next_event IS NULL LOOP
        SELECT array_agg(k ORDER BY k) INTO v_keys
          FROM (SELECT DISTINCT jsonb_object_keys(b.row_key) AS k FROM _ag_rb b
                 WHERE b.event_id = (SELECT min(b2.event_id) FROM _ag_rb b2 WHERE b2.rel = v_rel.rel)) x;
        v_part := agent_guard._rollback_part(v_rel.rel, 'c',
            'SELECT t.tid, t.event_id, t.k, t.left_, t.born, CASE WHEN t.left_ THEN b.new_row END AS want
               FROM pg_temp._ag_touch t JOIN pg_temp._ag_rb b ON b.event_id = t.event_id
              WHERE t.rel = $1 AND t.next_event IS NULL');
        v_missing := '{}';
        IF EXISTS (SELECT 1 FROM pg_attribute a
                    WHERE (a.attrelid = v_rel.rel OR a.attrelid IN (SELECT p.relid FROM pg_partition_tree(v_rel.rel) p))
                      AND a.attnum > 0 AND NOT a.attisdropped AND a.atthasmissing) THEN
            v_missing := coalesce(agent_guard._owner_query(v_rel.rel, format(
                'SELECT jsonb_object_agg(a.attname, to_jsonb(a.attmissingval) OPERATOR(pg_catalog.->) 0)
                   FROM pg_catalog.pg_attribute a
                  WHERE (a.attrelid OPERATOR(pg_catalog.=) %1$s::pg_catalog.oid
                         OR a.attrelid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(%1$s::pg_catalog.oid::pg_catalog.regclass) p))
                    AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped AND a.atthasmissing',
                v_rel.rel::oid)), '{}');
        END IF;
        v_res := agent_guard._owner_query(v_rel.rel, format(
            'WITH cur AS MATERIALIZED (
                 SELECT t.tid, agent_guard._row_image(r.*, t.want) AS img
                   FROM %3$s t
                   CROSS JOIN LATERAL %4$s
                   JOIN %1$s r ON %2$s
                    FOR UPDATE OF r)
             SELECT jsonb_agg(jsonb_build_array(t.event_id, t.k, cur.img))
               FROM %3$s t
               LEFT JOIN cur ON cur.tid OPERATOR(pg_catalog.=) t.tid
              WHERE CASE WHEN cur.tid IS NULL THEN t.left_
                         WHEN record_image_eq(ROW(t.want), ROW(cur.img)) THEN false
                         ELSE t.want IS DISTINCT FROM
                              (cur.img OPERATOR(pg_catalog.-)
                               ARRAY(SELECT c.key FROM pg_catalog.jsonb_each(cur.img) c
                                      WHERE NOT t.want OPERATOR(pg_catalog.?) c.key
                                        AND NOT (t.born AND c.value OPERATOR(pg_catalog.<>) ''null''::pg_catalog.jsonb
                                                 AND c.value IS DISTINCT FROM ($1 OPERATOR(pg_catalog.->) c.key)))) END',
            agent_guard._only(v_rel.rel), agent_guard._key_match(v_keys, 'r', 'kk'), v_part,
            agent_guard._typed_key(v_rel.rel, v_keys, 't.k', 'kk')), v_missing);
        INSERT INTO _ag_cur (event_id, k, cur)
        SELECT (c.value ->> 0)::bigint, c.value -> 1, c.value -> 2
          FROM jsonb_array_elements(v_res) c;
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
        RAISE EXCEPTION 'cannot roll back %: % changed after the run', v_what,
                        CASE WHEN v_n = 1 THEN '1 row was' ELSE v_n || ' rows were' END
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
        BEGIN
            FOR v_b IN SELECT x.seg, x.one, min(x.rel::oid)::regclass AS rel, min(x.operation) AS op,
                              count(*) AS n, min(x.event_id) AS first
                         FROM _ag_batch x
                        GROUP BY x.seg, x.one ORDER BY x.seg, x.one LOOP
                SELECT array_agg(k ORDER BY k) INTO v_keys
                  FROM (SELECT jsonb_object_keys(b.row_key) AS k FROM _ag_rb b
                         WHERE b.event_id = v_b.first) x;
                -- the columns of the run's images: one added since the run is
                -- left as it is (an inserted row gets its default)
                SELECT array_agg(a.attname::text ORDER BY a.attnum),
                       array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attidentity <> 'a')
                  INTO v_cols, v_upd
                  FROM pg_attribute a,
                       (SELECT b.old_row FROM _ag_rb b WHERE b.event_id = v_b.first) f
                 WHERE a.attrelid = v_b.rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                   AND (f.old_row IS NULL OR f.old_row ? a.attname::text);

                -- Each statement replays the batch as the table's owner, from
                -- the table's part of the plan (_ag_p<oid>, as above) and, from
                -- what it wrote (RETURNING), counts the rows that did not come
                -- back exactly as logged.  The keys of a batch are distinct, so
                -- what a statement wrote at a key is what is there after it.  A
                -- re-inserted row is matched to its image by the key columns
                -- first (a hash join; comparing every row with every image was
                -- quadratic: 405 s for 25,000 rows), then compared whole.
                IF v_b.rel IS DISTINCT FROM v_partrel THEN
                    v_part := agent_guard._rollback_part(v_b.rel, 'r',
                        'SELECT x.seg, x.one, b.event_id, b.old_row, b.before_key, b.after_key
                           FROM pg_temp._ag_batch x JOIN pg_temp._ag_rb b ON b.event_id = x.event_id
                          WHERE x.rel = $1', 'seg, one');
                    v_partrel := v_b.rel;
                END IF;
                IF v_b.op = 'INSERT' THEN
                    v_sql := format(
                        'WITH d AS (DELETE FROM %1$s r
                                     USING (SELECT kk.* FROM %3$s b
                                              CROSS JOIN LATERAL %4$s
                                             WHERE b.seg OPERATOR(pg_catalog.=) ($1 ->> 0)::bigint
                                               AND b.one OPERATOR(pg_catalog.=) ($1 ->> 1)::bigint) kk
                                     WHERE %2$s RETURNING 1)
                         SELECT jsonb_build_array(count(*), 0) FROM d',
                        agent_guard._only(v_b.rel), agent_guard._key_match(v_keys, 'r', 'kk'), v_part,
                        agent_guard._typed_key(v_b.rel, v_keys, 'b.after_key', 'kk'));
                ELSIF v_b.op = 'DELETE' THEN
                    v_sql := format(
                        'WITH w AS (INSERT INTO %1$s AS r (%2$s) OVERRIDING SYSTEM VALUE
                                    SELECT %3$s FROM %4$s b
                                      CROSS JOIN LATERAL %6$s
                                     WHERE b.seg OPERATOR(pg_catalog.=) ($1 ->> 0)::bigint
                                       AND b.one OPERATOR(pg_catalog.=) ($1 ->> 1)::bigint
                                     ORDER BY b.event_id DESC
                                    RETURNING agent_guard._row_image(r.*) AS img, r AS rr)
                         SELECT jsonb_build_array((SELECT count(*) FROM w),
                                                  (SELECT count(*) FROM w
                                                    WHERE NOT EXISTS (SELECT 1 FROM %4$s b
                                                                       WHERE b.seg OPERATOR(pg_catalog.=) ($1 ->> 0)::bigint
                                                                         AND b.one OPERATOR(pg_catalog.=) ($1 ->> 1)::bigint
                                                                         AND (b.old_row OPERATOR(pg_catalog.-)
                                                                              ARRAY(SELECT c.c FROM pg_catalog.jsonb_object_keys(b.old_row) c
                                                                                     WHERE NOT c.c OPERATOR(pg_catalog.=) ANY (%5$s)))
                                                                             OPERATOR(pg_catalog.=)
                                                                             (w.img OPERATOR(pg_catalog.-)
                                                                              ARRAY(SELECT c.c FROM pg_catalog.jsonb_object_keys(w.img) c
                                                                                     WHERE NOT c.c OPERATOR(pg_catalog.=) ANY (%5$s)))
                                                                         AND b.old_row OPERATOR(pg_catalog.=)
                                                                             (SELECT i.img OPERATOR(pg_catalog.-)
                                                                                     ARRAY(SELECT c.c FROM pg_catalog.jsonb_object_keys(i.img) c
                                                                                            WHERE NOT b.old_row OPERATOR(pg_catalog.?) c.c)
                                                                                FROM (SELECT CASE WHEN w.img OPERATOR(pg_catalog.?) ''''
                                                                                                   AND NOT b.old_row OPERATOR(pg_catalog.?) ''''
                                                                                                  THEN agent_guard._row_image(w.rr, b.old_row)
                                                                                                  ELSE w.img END AS img) i))))',
                        v_b.rel,
                        (SELECT string_agg(quote_ident(c), ', ') FROM unnest(v_cols) c),
                        (SELECT string_agg('o.' || quote_ident(c), ', ') FROM unnest(v_cols) c), v_part,
                        (SELECT format('ARRAY[%s]::pg_catalog.text[]', string_agg(quote_literal(c), ', ')) FROM unnest(v_keys) c),
                        agent_guard._typed_record(v_b.rel, v_cols, 'b.old_row', 'o'));
                ELSE -- UPDATE, SOFT_DELETE: find the row by its key after the change
                    v_sql := format(
                        'WITH w AS (UPDATE %1$s r SET (%2$s) = ROW(%3$s)
                                      FROM %5$s s
                                      CROSS JOIN LATERAL %6$s
                                      CROSS JOIN LATERAL %7$s
                                     WHERE s.seg OPERATOR(pg_catalog.=) ($1 ->> 0)::bigint
                                       AND s.one OPERATOR(pg_catalog.=) ($1 ->> 1)::bigint
                                       AND %4$s
                                    RETURNING CASE WHEN record_image_eq(ROW(agent_guard._row_image(r.*, s.old_row)), ROW(s.old_row)) THEN false
                                                   ELSE (agent_guard._row_image(r.*, s.old_row) OPERATOR(pg_catalog.-)
                                                         ARRAY(SELECT c.c FROM pg_catalog.jsonb_object_keys(agent_guard._row_image(r.*, s.old_row)) c
                                                                WHERE NOT s.old_row OPERATOR(pg_catalog.?) c.c))
                                                        IS DISTINCT FROM s.old_row END AS bad)
                         SELECT jsonb_build_array(count(*), count(*) FILTER (WHERE w.bad)) FROM w',
                        agent_guard._only(v_b.rel),
                        (SELECT string_agg(quote_ident(c), ', ') FROM unnest(v_upd) c),
                        (SELECT string_agg('o.' || quote_ident(c), ', ') FROM unnest(v_upd) c),
                        agent_guard._key_match(v_keys, 'r', 'kk'), v_part,
                        agent_guard._typed_record(v_b.rel, v_upd, 's.old_row', 'o'),
                        agent_guard._typed_key(v_b.rel, v_keys, 's.after_key', 'kk'));
                END IF;

                -- A batch restores its rows in one statement, which checks
                -- each unique (and exclusion) constraint row by row: a batch
                -- that puts back a value another of its rows still holds until
                -- its own turn (the run renamed a@x to z@x, then b@x to a@x)
                -- meets a duplicate that no state of the run ever had (red team
                -- 23a, finding 3).  Then the batch (its subtransaction undone)
                -- is replayed one event at a time, newest first: each state in
                -- between is one the table was in after a write of the run,
                -- where the values it holds did not collide.  Batches of one
                -- event (most of a run that alternates tables or operations)
                -- take no subtransaction.
                v_units := NULL;
                v_one := v_b.one;
                v_want := v_b.n;
                v_ev := v_b.first;
                IF v_b.n > 1 THEN
                    BEGIN
                        v_cnt := agent_guard._owner_query(v_b.rel, v_sql, jsonb_build_array(v_b.seg, v_b.one));
                    EXCEPTION WHEN unique_violation OR exclusion_violation THEN
                        -- the undone subtransaction switched replay mode off
                        PERFORM agent_guard._replay_mode(true);
                        EXECUTE format('UPDATE %s b SET one = -b.event_id WHERE b.seg = $1 AND b.one = $2', v_part)
                          USING v_b.seg, v_b.one;
                        SELECT array_agg(-x.event_id ORDER BY x.event_id DESC) INTO v_units
                          FROM _ag_batch x WHERE x.seg = v_b.seg AND x.one = v_b.one;
                        v_want := 1;
                    END;
                ELSE
                    v_cnt := agent_guard._owner_query(v_b.rel, v_sql, jsonb_build_array(v_b.seg, v_b.one));
                END IF;
                FOR i IN 1 .. coalesce(cardinality(v_units), 1) LOOP
                    IF v_units IS NOT NULL THEN
                        v_one := v_units[i];
                        v_ev := -v_one;
                        v_cnt := agent_guard._owner_query(v_b.rel, v_sql, jsonb_build_array(v_b.seg, v_one));
                    END IF;
                    v_n := (v_cnt ->> 0)::bigint;
                    v_bad := (v_cnt ->> 1)::bigint;
                    IF v_n <> v_want THEN
                        RAISE EXCEPTION 'could not roll back %: % of % rows of % were replayed', v_what, v_n, v_want, v_b.rel
                            USING ERRCODE = 'YG032',
                                  DETAIL = 'The rows changed while the rollback ran.',
                                  HINT = 'Nothing was changed.  Run the rollback again.';
                    END IF;

                    -- the rows that came back must be exactly the logged images
                    IF v_bad > 0 THEN
                        v_cnt := agent_guard._owner_query(v_b.rel, format(
                            'SELECT jsonb_build_array(count(*), min(b.event_id)) FROM %3$s b
                              CROSS JOIN LATERAL %4$s
                               LEFT JOIN %1$s r ON %2$s
                              WHERE b.seg OPERATOR(pg_catalog.=) ($1 ->> 0)::bigint
                                AND b.one OPERATOR(pg_catalog.=) ($1 ->> 1)::bigint
                                AND (agent_guard._row_image(r.*, b.old_row) OPERATOR(pg_catalog.-)
                                     ARRAY(SELECT c.c FROM pg_catalog.jsonb_object_keys(agent_guard._row_image(r.*, b.old_row)) c
                                            WHERE NOT b.old_row OPERATOR(pg_catalog.?) c.c))
                                    IS DISTINCT FROM b.old_row',
                            agent_guard._only(v_b.rel), agent_guard._key_match(v_keys, 'r', 'kk'), v_part,
                            agent_guard._typed_key(v_b.rel, v_keys, 'b.before_key', 'kk')),
                            jsonb_build_array(v_b.seg, v_one));
                        RAISE EXCEPTION 'could not roll back %: % rows of % did not come back exactly as logged',
                                        v_what, v_cnt ->> 0, v_b.rel
                            USING ERRCODE = 'YG032',
                                  DETAIL = format('The first is the row before event %s.  A trigger of the table may have changed it, or the table''s columns changed since the run.', v_cnt ->> 1),
                                  HINT = 'Nothing was changed.';
                    END IF;
                END LOOP;
            END LOOP;
        EXCEPTION WHEN unique_violation OR exclusion_violation THEN
            -- one event at a time did not help: a row the rollback does
            -- not restore holds the value
            GET STACKED DIAGNOSTICS v_errmsg = MESSAGE_TEXT, v_errdet = PG_EXCEPTION_DETAIL,
                                    v_errcon = CONSTRAINT_NAME;
            RAISE EXCEPTION 'could not roll back %: the row before event % would violate constraint "%" of %',
                            v_what, v_ev, v_errcon, v_b.rel
                USING ERRCODE = 'YG032',
                      DETAIL = format('%s  Restored one event at a time, newest first, the row still collides with a row the rollback does not restore: one written after the run, or by someone else during it.',
                                      coalesce(nullif(v_errdet, ''), v_errmsg || '.')),
                      HINT = 'Nothing was changed.  Change or remove the row that holds the value, then run the rollback again.';
        END;
        PERFORM agent_guard._replay_mode(false);
        PERFORM set_config('session_replication_role', v_srr, true);

        -- A DEFERRABLE unique, primary-key or exclusion constraint is not
        -- checked by its index when a row is written but by a trigger
        -- (unique_key_recheck), which replica mode turned off with the
        -- others: two rows could hold one value.  So the rows the replay
        -- wrote (re-inserted or restored) are checked here against each
        -- such constraint of their table (or of its partitions), as the
        -- table's owner, with the constraint's operators (fix 26).
        FOR v_dc IN
            SELECT c.conname, c.conrelid::regclass AS crel, c.contype, x.indexrelid, x.indkey, x.indclass,
                   x.indnkeyatts, x.indnullsnotdistinct, c.conexclop, x.indpred IS NOT NULL AS partial,
                   x.indrelid, r.rel
              FROM (SELECT DISTINCT b.rel FROM _ag_rb b
                     WHERE b.status = 'planned' AND b.operation <> 'INSERT') r
             CROSS JOIN LATERAL (SELECT r.rel::oid AS relid
                                 UNION SELECT t.relid::oid FROM pg_partition_tree(r.rel) t) p
              JOIN pg_constraint c ON c.conrelid = p.relid
              JOIN pg_index x ON x.indexrelid = c.conindid
             WHERE c.contype IN ('p', 'u', 'x') AND c.condeferrable AND c.conparentid = 0
             ORDER BY r.rel::oid, c.conname
        LOOP
            SELECT array_agg(k ORDER BY k) INTO v_keys
              FROM (SELECT jsonb_object_keys(b.row_key) AS k FROM _ag_rb b
                     WHERE b.event_id = (SELECT min(b2.event_id) FROM _ag_rb b2 WHERE b2.rel = v_dc.rel)) x;
            -- element i of the constraint: column or expression, operator
            -- (an exclusion's own; a unique one's btree equality)
            SELECT string_agg(
                       CASE WHEN v_dc.contype = 'u' AND v_dc.indnullsnotdistinct
                            THEN format('(%1$s OPERATOR(%3$I.%4$s) %2$s OR (%1$s IS NULL AND %2$s IS NULL))',
                                        replace(e.expr, '%R', 'r2'), replace(e.expr, '%R', 'r'), e.nsp, e.opr)
                            ELSE format('%s OPERATOR(%I.%s) %s', replace(e.expr, '%R', 'r2'), e.nsp, e.opr,
                                        replace(e.expr, '%R', 'r')) END,
                       ' AND ' ORDER BY e.i)
              INTO v_conds
              FROM (SELECT i.i,
                           CASE WHEN v_dc.indkey[i.i - 1] <> 0
                                THEN '%R.' || quote_ident((SELECT a.attname FROM pg_attribute a
                                                           WHERE a.attrelid = v_dc.crel AND a.attnum = v_dc.indkey[i.i - 1]))
                                ELSE format('(SELECT %s FROM (SELECT %%R.*) s_)', pg_get_indexdef(v_dc.indexrelid, i.i, true)) END AS expr,
                           n.nspname AS nsp, o.oprname AS opr
                      FROM generate_series(1, v_dc.indnkeyatts) AS i(i)
                      JOIN pg_operator o
                        ON o.oid = CASE WHEN v_dc.contype = 'x' THEN v_dc.conexclop[i.i]
                                        ELSE (SELECT m.amopopr FROM pg_opclass oc
                                                JOIN pg_amop m ON m.amopfamily = oc.opcfamily
                                                              AND m.amoplefttype = oc.opcintype
                                                              AND m.amoprighttype = oc.opcintype
                                                              AND m.amopstrategy = 3
                                               WHERE oc.oid = v_dc.indclass[i.i - 1]) END
                      JOIN pg_namespace n ON n.oid = o.oprnamespace) e;
            v_pred := CASE WHEN v_dc.partial
                           THEN format('(SELECT %s FROM (SELECT %%R.*) s_)',
                                       pg_get_expr((SELECT x.indpred FROM pg_index x WHERE x.indexrelid = v_dc.indexrelid),
                                                   v_dc.indrelid, true)) END;
            IF v_conds IS NULL OR v_keys IS NULL THEN
                RAISE EXCEPTION 'could not roll back %: constraint "%" of % cannot be checked', v_what, v_dc.conname, v_dc.crel
                    USING ERRCODE = 'YG032', HINT = 'Nothing was changed.';
            END IF;
            FOR v_arg IN SELECT jsonb_agg(jsonb_build_array(c.event_id, c.k))
                           FROM (SELECT b.event_id, b.before_key AS k, (row_number() OVER () - 1) / 10000 AS ch
                                   FROM _ag_rb b
                                  WHERE b.rel = v_dc.rel AND b.status = 'planned' AND b.operation <> 'INSERT'
                                    AND b.before_key IS NOT NULL) c
                          GROUP BY c.ch LOOP
                v_cnt := agent_guard._owner_query(v_dc.crel, format(
                    'SELECT jsonb_build_array(count(*), min(k.ev)) FROM (
                         SELECT (e.value OPERATOR(pg_catalog.->>) 0)::pg_catalog.int8 AS ev, kk.*
                           FROM pg_catalog.jsonb_array_elements($1) AS e
                          CROSS JOIN LATERAL %3$s) k
                       JOIN %1$s r ON %2$s
                      WHERE %4$s
                        AND EXISTS (SELECT 1 FROM %1$s r2
                                     WHERE NOT (r2.tableoid OPERATOR(pg_catalog.=) r.tableoid
                                                AND r2.ctid OPERATOR(pg_catalog.=) r.ctid)
                                       AND %5$s AND %6$s)',
                    agent_guard._only(v_dc.crel), agent_guard._key_match(v_keys, 'r', 'k'),
                    agent_guard._typed_key(v_dc.rel, v_keys, '(e.value OPERATOR(pg_catalog.->) 1)', 'kk'),
                    coalesce(replace(v_pred, '%R', 'r'), 'true'), coalesce(replace(v_pred, '%R', 'r2'), 'true'),
                    v_conds), v_arg);
                IF (v_cnt ->> 0)::bigint > 0 THEN
                    RAISE EXCEPTION 'could not roll back %: the row before event % would violate constraint "%" of %',
                                    v_what, v_cnt ->> 1, v_dc.conname, v_dc.crel
                        USING ERRCODE = 'YG032',
                              DETAIL = format('%s rows the rollback restores collide with other rows under the deferrable constraint: rows written after the run, or by someone else during it.',
                                              v_cnt ->> 0),
                              HINT = 'Nothing was changed.  Change or remove the row that holds the value, then run the rollback again.';
                END IF;
            END LOOP;
        END LOOP;

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
            -- Like the foreign-key triggers, each side is read as its
            -- table's owner: the references of the rows the replay wrote
            -- (as the child's owner), then which of them have no parent
            -- row (as the parent's owner); the values go across as jsonb.
            v_n := 0;
            IF v_keys IS NOT NULL THEN
                v_vals := NULL;
                FOR v_arg IN SELECT jsonb_agg(c.k)
                               FROM (SELECT b.before_key AS k, (row_number() OVER () - 1) / 10000 AS ch
                                       FROM _ag_rb b
                                      WHERE b.rel = v_fk.child AND b.status = 'planned'
                                        AND b.before_key IS NOT NULL) c
                              GROUP BY c.ch LOOP
                    v_res := agent_guard._owner_query(v_fk.child, format(
                        'SELECT jsonb_agg(jsonb_build_array(v.val, v.n)) FROM (
                             SELECT jsonb_build_object(%2$s) AS val, count(*) AS n FROM %1$s r
                              WHERE (%3$s) IN (SELECT %4$s FROM jsonb_array_elements($1) AS e
                                                 CROSS JOIN LATERAL %6$s)
                                AND %5$s
                              GROUP BY 1) v',
                        agent_guard._only(v_fk.child),
                        (SELECT string_agg(format('%L, r.%I', v_fk.pcols[i], v_fk.ccols[i]), ', ')
                           FROM generate_subscripts(v_fk.ccols, 1) i),
                        (SELECT string_agg('r.' || quote_ident(c), ', ') FROM unnest(v_keys) c),
                        (SELECT string_agg('kk.' || quote_ident(c), ', ') FROM unnest(v_keys) c),
                        (SELECT string_agg(format('r.%I IS NOT NULL', c), ' AND ') FROM unnest(v_fk.ccols) c),
                        agent_guard._typed_key(v_fk.child, v_keys, 'e.value', 'kk')),
                        v_arg);
                    v_vals := coalesce(v_vals, '[]') || coalesce(v_res, '[]');
                END LOOP;
                FOR v_arg IN SELECT jsonb_agg(e.value)
                               FROM jsonb_array_elements(v_vals) WITH ORDINALITY AS e(value, o)
                              GROUP BY (e.o - 1) / 10000 LOOP
                    v_cnt := agent_guard._owner_query(v_fk.parent, format(
                        'SELECT to_jsonb(coalesce(sum((e.value ->> 1)::bigint), 0))
                           FROM jsonb_array_elements($1) AS e
                          CROSS JOIN LATERAL %3$s
                          WHERE NOT EXISTS (SELECT 1 FROM %1$s p WHERE %2$s)',
                        agent_guard._only(v_fk.parent),
                        (SELECT string_agg(format('p.%1$I OPERATOR(pg_catalog.=) v.%1$I', c), ' AND ')
                           FROM unnest(v_fk.pcols) c),
                        agent_guard._typed_key(v_fk.parent, v_fk.pcols, '(e.value OPERATOR(pg_catalog.->) 0)', 'v')),
                        v_arg);
                    v_n := v_n + (v_cnt #>> '{}')::bigint;
                END LOOP;
            END IF;
            -- the referenced values the replay took away (as the parent's
            -- owner), then the child rows that still use them (as the
            -- child's owner)
            -- (a null among them is read as the JSON null in a json or
            -- jsonb column, agent_guard._typed_key(): no row references an
            -- SQL NULL, and a row that references the JSON null needs a
            -- parent row that holds it, red team 29, finding 4)
            IF v_n = 0 THEN
                v_vals := NULL;
                FOR v_arg IN SELECT jsonb_agg(c.v)
                               FROM (SELECT d.v, (row_number() OVER () - 1) / 10000 AS ch
                                       FROM (SELECT DISTINCT (SELECT jsonb_object_agg(pc, b.new_row -> pc)
                                                                FROM unnest(v_fk.pcols) AS pc) AS v
                                               FROM _ag_rb b
                                              WHERE b.rel = v_fk.parent AND b.status = 'planned'
                                                AND b.new_row IS NOT NULL) d) c
                              GROUP BY c.ch LOOP
                    v_res := agent_guard._owner_query(v_fk.parent, format(
                        'SELECT jsonb_agg(jsonb_build_object(%2$s))
                           FROM jsonb_array_elements($1) AS e
                          CROSS JOIN LATERAL %4$s
                          WHERE NOT EXISTS (SELECT 1 FROM %1$s p WHERE %3$s)',
                        agent_guard._only(v_fk.parent),
                        (SELECT string_agg(format('%L, e.value -> %L', v_fk.ccols[i], v_fk.pcols[i]), ', ')
                           FROM generate_subscripts(v_fk.ccols, 1) i),
                        (SELECT string_agg(format('p.%1$I OPERATOR(pg_catalog.=) v.%1$I', c), ' AND ')
                           FROM unnest(v_fk.pcols) c),
                        agent_guard._typed_key(v_fk.parent, v_fk.pcols, 'e.value', 'v')),
                        v_arg);
                    v_vals := coalesce(v_vals, '[]') || coalesce(v_res, '[]');
                END LOOP;
                FOR v_arg IN SELECT jsonb_agg(e.value)
                               FROM jsonb_array_elements(v_vals) WITH ORDINALITY AS e(value, o)
                              GROUP BY (e.o - 1) / 10000 LOOP
                    v_cnt := agent_guard._owner_query(v_fk.child, format(
                        'SELECT to_jsonb(count(*)) FROM %1$s r
                          WHERE (%2$s) IN (SELECT %3$s FROM jsonb_array_elements($1) AS e
                                             CROSS JOIN LATERAL %4$s)',
                        agent_guard._only(v_fk.child),
                        (SELECT string_agg('r.' || quote_ident(c), ', ') FROM unnest(v_fk.ccols) c),
                        (SELECT string_agg('v.' || quote_ident(c), ', ') FROM unnest(v_fk.ccols) c),
                        agent_guard._typed_key(v_fk.child, v_fk.ccols, 'e.value', 'v')),
                        v_arg);
                    v_n := v_n + (v_cnt #>> '{}')::bigint;
                END LOOP;
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

CREATE OR REPLACE VIEW agent_guard.runs AS
    SELECT e.run_id,
           e.agent_id,
           -- the agent's own acts only (_is_agent_act() in 80_evidence.sql):
           -- a human's approval, reset or rollback is not the agent's work
           min(e.login_role) FILTER (WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')) AS login_role,
           min(e.at) FILTER (WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')) AS first_write,
           max(e.at) FILTER (WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')) AS last_write,
           count(DISTINCT e.xid) FILTER (WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')
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
           -- the one definition of a run's state, which the postmortem and
           -- the command line read from here: what was undone first (the
           -- run's outcome), then what holds the run back now
           CASE WHEN count(c.event_id) > 0 AND count(c.event_id) = count(*) FILTER (WHERE e.operation IN
                         ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE')) THEN 'rolled back'
                WHEN count(c.event_id) > 0 THEN 'partly rolled back'
                WHEN EXISTS (SELECT 1 FROM agent_guard.tripped_runs t
                              WHERE t.run_id = e.run_id AND t.agent_id = e.agent_id)
                THEN 'tripped'
                WHEN EXISTS (SELECT 1 FROM agent_guard.freeze_state f
                              WHERE f.scope = '*' OR f.scope = e.agent_id)
                THEN 'frozen'
                WHEN (SELECT r.status FROM agent_guard.request_log r
                       WHERE r.run_id = e.run_id AND r.agent_id = e.agent_id AND r.kind = 'approval'
                       ORDER BY r.request_id DESC LIMIT 1) = 'denied'
                THEN 'denied'
                ELSE 'active' END                                   AS status,
           -- gates (65_gates.sql): attempts refused or held for approval
           count(*) FILTER (WHERE e.operation = 'BLOCKED')          AS blocked,
           -- humans' acts on the run: approvals, denials, resets
           count(*) FILTER (WHERE NOT e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')) AS human_acts
      FROM agent_guard.events e
      LEFT JOIN agent_guard.events c
             ON c.operation = 'COMPENSATE' AND (c.detail->>'undoes')::bigint = e.event_id
     WHERE e.run_id IS NOT NULL
     GROUP BY e.run_id, e.agent_id
     ORDER BY min(e.at);


-- A dropped protected table leaves agent_guard.protected, on record as a
-- DROP event; EXECUTED: an agent's approved destructive statement that ran.
ALTER TABLE agent_guard.events DROP CONSTRAINT events_operation_check;
ALTER TABLE agent_guard.events ADD CONSTRAINT events_operation_check CHECK (operation IN (
                      'INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'COMPENSATE',
                      'BLOCKED', 'APPROVED', 'DENIED', 'FREEZE', 'UNFREEZE', 'ROLLBACK',
                      'REGISTER', 'UNREGISTER', 'PROTECT', 'UNPROTECT', 'ARCHIVE',
                      'RESTORE', 'PURGE', 'RESET_RUN', 'POLICY', 'POLICY_DROP',
                      'DROP', 'EXECUTED', 'OPERATOR'));

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

-- rows of tables dropped before 1.2: they name an oid that is no more
DELETE FROM agent_guard.protected_tables p
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = p.relation::oid);


-- The operator role recipe

CREATE FUNCTION agent_guard._operator_privileges(OUT kind text, OUT object text)
    RETURNS SETOF record
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
    VALUES ('TABLE', 'agent_guard.runs'), ('TABLE', 'agent_guard.events'),
           ('TABLE', 'agent_guard.statements'), ('TABLE', 'agent_guard.requests'),
           ('TABLE', 'agent_guard.freezes'), ('TABLE', 'agent_guard.protected'),
           ('TABLE', 'agent_guard.agents'), ('TABLE', 'agent_guard.policies'),
           -- functions the views above call
           ('FUNCTION', 'agent_guard._pending_requests()'),
           ('FUNCTION', 'agent_guard._policy_rates()'),
           ('FUNCTION', 'agent_guard.approve(bigint, text)'),
           ('FUNCTION', 'agent_guard.deny(bigint, text)'),
           ('FUNCTION', 'agent_guard.freeze(text, text)'),
           ('FUNCTION', 'agent_guard.unfreeze(text)'),
           ('FUNCTION', 'agent_guard.reset_run(text)'),
           ('FUNCTION', 'agent_guard.rollback_run(text, boolean, text)'),
           ('FUNCTION', 'agent_guard.rollback_xact(xid8, boolean, text)'),
           ('FUNCTION', 'agent_guard.postmortem(text)'),
           ('FUNCTION', 'agent_guard.postmortem_json(text)'),
           ('FUNCTION', 'agent_guard.verify_log(text)'),
           ('FUNCTION', 'agent_guard.log_head()'),
           ('FUNCTION', 'agent_guard.seal_log()'),
           ('FUNCTION', 'agent_guard.sealer_status()')
$$;

CREATE FUNCTION agent_guard._operator(role regrole, on_ boolean) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v record;
BEGIN
    IF role IS NULL THEN
        RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF on_ AND EXISTS (SELECT 1 FROM agent_guard.registered_agents a WHERE a.role = _operator.role) THEN
        RAISE EXCEPTION 'role % is registered as an agent', role
            USING ERRCODE = 'YG001',
                  DETAIL = 'An agent may not decide its own requests or roll back its own runs.',
                  HINT = 'Give the human on call a login role of their own.';
    END IF;
    FOR v IN SELECT * FROM agent_guard._operator_privileges() LOOP
        EXECUTE format(CASE WHEN on_ THEN 'GRANT %s ON %s %s TO %s' ELSE 'REVOKE %s ON %s %s FROM %s' END,
                       CASE v.kind WHEN 'TABLE' THEN 'SELECT' ELSE 'EXECUTE' END, v.kind, v.object, role);
    END LOOP;
    INSERT INTO agent_guard.events (login_role, acting_role, operation, detail)
    VALUES (session_user, agent_guard.calling_role()::text, 'OPERATOR',
            jsonb_build_object('role', role::text, 'granted', on_));
END
$$;

CREATE FUNCTION agent_guard.grant_operator(role regrole) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM agent_guard._require_human('agent_guard.grant_operator()');
    PERFORM agent_guard._operator(role, true);
END
$$;

CREATE FUNCTION agent_guard.revoke_operator(role regrole) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM agent_guard._require_human('agent_guard.revoke_operator()');
    PERFORM agent_guard._operator(role, false);
END
$$;

COMMENT ON FUNCTION agent_guard.grant_operator(regrole) IS
    'let a role do what the human on call does: read runs, events and requests, approve, deny, freeze, reset, roll back, write postmortems, verify the log';
COMMENT ON FUNCTION agent_guard.revoke_operator(regrole) IS
    'take back what agent_guard.grant_operator() gave';


-- An agent's approved destructive statement that runs: an EXECUTED event

CREATE FUNCTION agent_guard._executed(request_id bigint, command text, targets jsonb) RETURNS void
    LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO agent_guard.events (agent_id, run_id, login_role, acting_role, relation, operation, detail)
    SELECT agent_guard.current_agent(), agent_guard.current_run(), session_user,
           agent_guard.calling_role()::text, targets->0->>'relation', 'EXECUTED',
           jsonb_build_object('request_id', r.request_id, 'command', command,
                              'statement', r.statement, 'reason', r.reason,
                              'approved_by', r.decided_by, 'approved_at', r.decided_at,
                              'note', r.note, 'targets', targets)
      FROM agent_guard.request_log r
     WHERE r.request_id = _executed.request_id;
$$;

-- Privileges of the new functions, as 99_privileges.sql gives them
REVOKE ALL ON FUNCTION agent_guard._require_preload() FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._failsafe_ddl() FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._failsafe_truncate() FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._is_agent_act(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._plural(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._protected_dropped() FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._operator_privileges() FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._operator(regrole, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard.grant_operator(regrole) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard.revoke_operator(regrole) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._executed(bigint, text, jsonb) FROM PUBLIC;

-- A row's image as the row trigger logs it: to_jsonb() of the row, with
-- the text of any column whose to_jsonb() would drop part of its value (an
-- array's lower bounds, a float's -0) or read it as JSON or through a cast
-- (json, hstore, a type with a cast to json; those are marked under the
-- key "": src/rowimage.c).  The rollback
-- compares the rows it reads and writes with the logged images through
-- it, inside the table owner's statements (agent_guard._owner_query),
-- under the output settings the images print with.
CREATE FUNCTION agent_guard._row_image(row_ anyelement) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ag_sql_row_image'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION agent_guard._row_image(anyelement) IS
    'internal: a row''s image as the row trigger logs it (to_jsonb(), values it would print inexactly, read as JSON or through a cast as text)';
-- in the rollback's statements, which run as each table's owner (revoked
-- first, so that its privileges read as a fresh install's)
REVOKE ALL ON FUNCTION agent_guard._row_image(anyelement) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._row_image(anyelement) TO PUBLIC;

-- The same image in the form of a logged one (form): the form images had
-- before the marks (src/rowimage.c) when form is an image without them,
-- written by a version before them, so that the rollback compares a row
-- with such an image as it was written (and, for those rows only, through
-- the type's cast to json, as that version did).
CREATE FUNCTION agent_guard._row_image(row_ anyelement, form jsonb) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ag_sql_row_image'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION agent_guard._row_image(anyelement, jsonb) IS
    'internal: a row''s image in the form of a logged image (without marks: as images were before them)';
REVOKE ALL ON FUNCTION agent_guard._row_image(anyelement, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._row_image(anyelement, jsonb) TO PUBLIC;

-- The row work of the functions a human calls on user tables (soft_deleted,
-- restore, purge, rollback) runs through this: the statement runs as the
-- table's owner in a security-restricted operation with search_path pinned
-- (src/rowwork.c), never as the extension owner, so that no trigger, check,
-- cast or operator of the table's owner runs with more rights than theirs.
CREATE FUNCTION agent_guard._owner_query(relation regclass, query text, arg jsonb DEFAULT NULL)
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ag_sql_owner_query'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION agent_guard._owner_query(regclass, text, jsonb) IS
    'internal: run a statement on a user table as its owner in a security-restricted operation';
REVOKE ALL ON FUNCTION agent_guard._owner_query(regclass, text, jsonb) FROM PUBLIC;

-- The same for purge()'s DELETE: the stamp trigger refuses an update of a
-- live row an agent wrote while it runs (YG050; src/rowwork.c).
CREATE FUNCTION agent_guard._owner_purge(relation regclass, query text, arg jsonb DEFAULT NULL)
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ag_sql_owner_purge'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION agent_guard._owner_purge(regclass, text, jsonb) IS
    'internal: purge()''s delete as the table''s owner, refusing updates of live rows agents wrote';
REVOKE ALL ON FUNCTION agent_guard._owner_purge(regclass, text, jsonb) FROM PUBLIC;

-- The relation's own rows in a statement of the guard's: "ONLY t".  Its
-- inheritance children's rows show in it too, and an UPDATE or DELETE of it
-- writes them: a row of another table (one an agent made) with the same key
-- is not the logged row (red team 28a, F3).  A partitioned table's rows are
-- its partitions' (no plain child can inherit from it or from a partition).
CREATE FUNCTION agent_guard._only(relation regclass) RETURNS text
    LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN c.relkind = 'p' THEN '' ELSE 'ONLY ' END || relation::text
      FROM pg_class c WHERE c.oid = relation
$$;
COMMENT ON FUNCTION agent_guard._only(regclass) IS
    'internal: a table''s own rows in a statement (ONLY, but for a partitioned table)';
REVOKE ALL ON FUNCTION agent_guard._only(regclass) FROM PUBLIC;

-- soft_deleted(), restore(), purge() and the rollback engine do their row
-- work through it; the rollback's key equality is pg_catalog's, and the
-- caller's privileges on each table are checked.
CREATE OR REPLACE FUNCTION agent_guard._key_match(keys text[], t text, k text) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(format('%I.%I OPERATOR(pg_catalog.=) %I.%I', t, c, k, c), ' AND ')
      FROM unnest(keys) AS c
$$;

CREATE OR REPLACE FUNCTION agent_guard.soft_deleted(relation regclass)
    RETURNS TABLE (row_key jsonb, deleted_at timestamptz, agent_id text, run_id text, row_data jsonb)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_keys text[] := agent_guard._soft_table(relation, 'agent_guard.soft_deleted()');
BEGIN
    -- the rows are read as the table's owner (agent_guard._owner_query)
    RETURN QUERY
    SELECT x.r -> 0, (x.r ->> 1)::timestamptz, x.r ->> 2, x.r ->> 3, x.r -> 4
      FROM jsonb_array_elements(agent_guard._owner_query(relation, format(
               'SELECT jsonb_agg(jsonb_build_array('
               '           (SELECT jsonb_object_agg(k.k, agent_guard._row_image(t.*) -> k.k) FROM jsonb_array_elements_text($1) AS k(k)), '
               '           t.ag_deleted_at, t.ag_agent_id, t.ag_run_id, agent_guard._row_image(t.*)) ORDER BY t.ag_deleted_at) '
               '  FROM %s t WHERE t.ag_deleted_at IS NOT NULL', agent_guard._only(relation)),
               to_jsonb(v_keys))) WITH ORDINALITY AS x(r, n)
     ORDER BY x.n;
END
$$;

CREATE OR REPLACE FUNCTION agent_guard.restore(relation regclass, row_key jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_keys text[] := agent_guard._soft_table(relation, 'agent_guard.restore()');
    v_old  jsonb;
    v_new  jsonb;
    v_res  jsonb;
BEGIN
    IF row_key IS NULL OR jsonb_typeof(row_key) <> 'object'
       OR NOT row_key ?& v_keys THEN
        RAISE EXCEPTION 'row key must be a JSON object with the key columns of %', relation
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The key columns are %s.', array_to_string(v_keys, ', ')),
                  HINT = 'See agent_guard.soft_deleted() for the keys of deleted rows.';
    END IF;
    -- the row is found and written as the table's owner (agent_guard._owner_query)
    v_res := agent_guard._owner_query(relation, format(
        'WITH r AS (SELECT * FROM %3$s), '
        '     old AS (SELECT agent_guard._row_image(t.*) AS img, t.tableoid AS rel, t.ctid AS tid FROM %1$s t, r '
        '              WHERE %2$s AND t.ag_deleted_at IS NOT NULL FOR UPDATE OF t), '
        '     upd AS (UPDATE %1$s t SET ag_deleted_at = NULL FROM old WHERE t.tableoid OPERATOR(pg_catalog.=) old.rel AND t.ctid OPERATOR(pg_catalog.=) old.tid '
        '             RETURNING old.img, agent_guard._row_image(t.*) AS new_img) '
        'SELECT jsonb_build_array(upd.img, upd.new_img) FROM upd', agent_guard._only(relation), agent_guard._key_match(v_keys), agent_guard._typed_key(relation, v_keys, '$1', 'r')),
        row_key);
    v_old := v_res -> 0;
    v_new := v_res -> 1;
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

-- a covered inheritance child is addressed by its own name (red team 28a, F3)
CREATE OR REPLACE FUNCTION agent_guard._soft_table(relation regclass, fn text) RETURNS text[]
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
    IF NOT FOUND THEN
        -- an inheritance child that a soft-delete table's protection covers:
        -- its rows are logged under its own name and key, and the functions
        -- address a table's own rows only (red team 28a, F3)
        SELECT agent_guard._key_columns(_soft_table.relation), p.soft_delete INTO v_keys, v_soft
          FROM agent_guard.protected_tables p
         WHERE p.relation::oid IN (WITH RECURSIVE up(relid) AS (
                                       SELECT i.inhparent FROM pg_inherits i WHERE i.inhrelid = _soft_table.relation
                                       UNION
                                       SELECT i.inhparent FROM up JOIN pg_inherits i ON i.inhrelid = up.relid)
                                   SELECT up.relid FROM up)
           AND _soft_table.relation IN (SELECT agent_guard._inherit_children(p.relation))
           AND EXISTS (SELECT 1 FROM pg_trigger t
                        WHERE t.tgrelid = _soft_table.relation AND t.tgname = 'zz_agent_guard_stamp')
         ORDER BY p.soft_delete DESC
         LIMIT 1;
    END IF;
    IF NOT FOUND OR NOT v_soft OR v_keys IS NULL THEN
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

-- What the ON DELETE actions of a purge would reach, judged before it
-- deletes (red team 27, F3): from the rows to remove (rows_: their table,
-- tid and image), through every foreign key that references their table
-- with CASCADE, SET NULL or SET DEFAULT, to the rows that reference them,
-- and on through the rows a cascade deletes.  A live row there whose stamps
-- say an agent wrote it last (a protected table's, not soft-deleted) would
-- be deleted, or changed and stamped as the human's write: YG050, naming the
-- foreign key, its table and how many such rows it reaches.  Each level is
-- read as the referencing table's owner, as PostgreSQL's own cascade does,
-- with the referenced values passed as jsonb, and the rows found are locked
-- FOR UPDATE, so that no one changes them between this look and the delete
-- (red team 29, F2).  The rows to remove are locked already: no new
-- reference to them can be made meanwhile (its check takes a key-share lock
-- on them).
CREATE FUNCTION agent_guard._purge_reach(relation regclass, rows_ jsonb) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_queue jsonb;              -- [{"rel": oid, "imgs": [image, ...]}, ...]
    v_seen  jsonb;              -- {"oid/tid": true} of the rows met
    v_i     integer := 0;
    v_first integer;            -- the queue's entries of the rows to remove
    v_rel   oid;
    v_imgs  jsonb;
    v_fk    record;
    v_live  text;
    v_res   jsonb;
    v_new   jsonb;
BEGIN
    SELECT jsonb_agg(jsonb_build_object('rel', g.rel, 'imgs', g.imgs)) INTO v_queue
      FROM (SELECT e.value ->> 'rel' AS rel, jsonb_agg(e.value -> 'img') AS imgs
              FROM jsonb_array_elements(rows_) e GROUP BY 1) g;
    SELECT jsonb_object_agg((e.value ->> 'rel') || '/' || (e.value ->> 'tid'), true) INTO v_seen
      FROM jsonb_array_elements(rows_) e;
    v_first := coalesce(jsonb_array_length(v_queue), 0);
    WHILE v_i < coalesce(jsonb_array_length(v_queue), 0) LOOP
        v_rel := (v_queue -> v_i ->> 'rel')::oid;
        v_imgs := v_queue -> v_i -> 'imgs';
        v_i := v_i + 1;
        FOR v_fk IN
            SELECT c.conname, c.conrelid::regclass AS child, c.confdeltype AS act,
                   -- conpfeqop: referenced value = referencing value
                   (SELECT string_agg(format('k.%I OPERATOR(%I.%s) r.%I',
                                             pa.attname, n.nspname, o.oprname, ca.attname), ' AND ' ORDER BY k.o)
                      FROM unnest(c.conkey, c.confkey, c.conpfeqop) WITH ORDINALITY AS k(cn, pn, op, o)
                      JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.cn
                      JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.pn
                      JOIN pg_operator o ON o.oid = k.op
                      JOIN pg_namespace n ON n.oid = o.oprnamespace) AS cond,
                   (SELECT array_agg(pa.attname::text ORDER BY k.o)
                      FROM unnest(c.confkey) WITH ORDINALITY AS k(pn, o)
                      JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.pn) AS pcols
              FROM pg_constraint c
             WHERE c.contype = 'f' AND c.conparentid = 0 AND c.confdeltype IN ('c', 'n', 'd')
               AND (c.confrelid = v_rel
                    OR c.confrelid IN (SELECT a.relid FROM pg_partition_ancestors(v_rel) a))
             ORDER BY c.conrelid::regclass::text, c.conname
        LOOP
            -- a live row an agent wrote last: a protected table's stamps
            v_live := CASE
                WHEN NOT EXISTS (SELECT 1 FROM pg_trigger t
                                  WHERE t.tgrelid = v_fk.child AND t.tgname = 'zz_agent_guard_stamp')
                  OR NOT EXISTS (SELECT 1 FROM pg_attribute a
                                  WHERE a.attrelid = v_fk.child AND a.attname = 'ag_agent_id' AND NOT a.attisdropped)
                THEN 'false'
                WHEN EXISTS (SELECT 1 FROM pg_attribute a
                              WHERE a.attrelid = v_fk.child AND a.attname = 'ag_deleted_at' AND NOT a.attisdropped)
                THEN 'r.ag_agent_id IS NOT NULL AND r.ag_deleted_at IS NULL'
                ELSE 'r.ag_agent_id IS NOT NULL' END;
            -- the referencing rows, locked, as the referencing table's owner
            -- (its ON DELETE action runs as that role); a join, so that an
            -- index on the referencing columns is used.  The referenced
            -- values are unique: a referencing row meets one at most.
            v_res := agent_guard._owner_query(v_fk.child, format(
                'WITH l AS (SELECT r.tableoid AS rel, r.ctid AS tid, (%1$s) AS agent,
                                   CASE WHEN %2$L THEN agent_guard._row_image(r.*) END AS img
                              FROM pg_catalog.jsonb_array_elements($1) AS e
                             CROSS JOIN LATERAL %4$s
                              JOIN %3$s r ON %5$s
                               FOR UPDATE OF r)
                 SELECT pg_catalog.jsonb_build_object(
                            ''agent'', count(*) FILTER (WHERE l.agent),
                            ''rows'', COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(''rel'', l.rel, ''tid'', l.tid, ''img'', l.img))
                                                FILTER (WHERE l.img IS NOT NULL), ''[]''::pg_catalog.jsonb))
                   FROM l',
                v_live,
                -- the rows a cascade deletes go on to the next level, when
                -- a foreign key with an ON DELETE action references them
                v_fk.act = 'c' AND EXISTS (
                    SELECT 1 FROM pg_constraint c2
                     WHERE c2.contype = 'f' AND c2.confdeltype IN ('c', 'n', 'd')
                       AND (c2.confrelid = v_fk.child
                            OR c2.confrelid IN (SELECT t.relid FROM pg_partition_tree(v_fk.child) t))),
                agent_guard._only(v_fk.child),
                agent_guard._typed_key(v_rel::regclass, v_fk.pcols, 'e.value', 'k'), v_fk.cond),
                v_imgs);
            IF (v_res ->> 'agent')::bigint > 0 THEN
                RAISE EXCEPTION 'purge of % would % live rows an agent wrote', relation,
                                CASE v_fk.act WHEN 'c' THEN 'delete' ELSE 'change' END
                    USING ERRCODE = 'YG050',
                          DETAIL = format('Foreign key "%s" of table %s (ON DELETE %s) reaches %s of %s last written by an agent (their stamps)%s.',
                                          v_fk.conname, v_fk.child,
                                          CASE v_fk.act WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END,
                                          agent_guard._plural((v_res ->> 'agent')::bigint, 'live row'), v_fk.child,
                                          CASE WHEN v_i <= v_first THEN ''
                                               ELSE format(', through the rows the purge would delete in %s', v_rel::regclass) END),
                          HINT = 'Nothing was removed.  Roll back the agent''s run first (agent_guard.rollback_run()), or delete or change those rows yourself, then purge again.';
            END IF;
            -- the rows a cascade deletes: their own references come next
            SELECT jsonb_agg(x.value) INTO v_new
              FROM jsonb_array_elements(v_res -> 'rows') x
             WHERE NOT v_seen ? ((x.value ->> 'rel') || '/' || (x.value ->> 'tid'));
            IF v_new IS NOT NULL THEN
                v_seen := v_seen || (SELECT jsonb_object_agg((x.value ->> 'rel') || '/' || (x.value ->> 'tid'), true)
                                       FROM jsonb_array_elements(v_new) x);
                v_queue := v_queue || (SELECT jsonb_agg(jsonb_build_object('rel', g.rel, 'imgs', g.imgs))
                                         FROM (SELECT x.value ->> 'rel' AS rel, jsonb_agg(x.value -> 'img') AS imgs
                                                 FROM jsonb_array_elements(v_new) x GROUP BY 1) g);
            END IF;
        END LOOP;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION agent_guard._purge_reach(regclass, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION agent_guard._purge_reach(regclass, jsonb) IS
    'internal: refuse (YG050) a purge whose ON DELETE actions reach live rows agents wrote, locking the rows they reach';

CREATE OR REPLACE FUNCTION agent_guard.purge(relation regclass, older_than interval) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    -- images print and read back as the row trigger prints them (outputpin.c)
    SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C'
    SET quote_all_identifiers = off SET xmloption = content
AS $$
DECLARE
    v_keys  text[] := agent_guard._soft_table(relation, 'agent_guard.purge()');
    v_count bigint;
    v_rows  jsonb;
    v_refs  boolean;
    v_gone  jsonb;
BEGIN
    IF older_than IS NULL OR older_than < interval '0' THEN
        RAISE EXCEPTION 'older_than must be an interval of zero or more'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The rows are deleted as the table's owner (agent_guard._owner_query),
    -- and logged here.  When a foreign key with an ON DELETE action
    -- references the table, the rows to remove are locked first, what the
    -- actions reach is judged on exactly those rows (_purge_reach), and they
    -- are deleted by their tids: a row soft-deleted meanwhile is not taken
    -- (red team 29, F1).  Otherwise nothing is judged, and the DELETE finds
    -- the rows itself.
    v_refs := EXISTS (SELECT 1 FROM pg_constraint c
                       WHERE c.contype = 'f' AND c.confdeltype IN ('c', 'n', 'd')
                         AND (c.confrelid = relation
                              OR c.confrelid IN (SELECT p.relid FROM pg_partition_tree(relation) p)));
    IF NOT v_refs THEN
        v_gone := agent_guard._owner_purge(relation, format(
            'WITH gone AS (DELETE FROM %1$s t
                            WHERE t.ag_deleted_at OPERATOR(pg_catalog.<) ($1 ->> ''before'')::timestamptz
                           RETURNING agent_guard._row_image(t.*) AS img)
             SELECT pg_catalog.jsonb_agg(gone.img) FROM gone',
            agent_guard._only(relation)),
            jsonb_build_object('before', now() - older_than));
    ELSE
        v_rows := agent_guard._owner_query(relation, format(
            'WITH l AS (SELECT t.tableoid AS rel, t.ctid AS tid, agent_guard._row_image(t.*) AS img
                          FROM %1$s t
                         WHERE t.ag_deleted_at OPERATOR(pg_catalog.<) ($1 ->> ''before'')::timestamptz
                           FOR UPDATE OF t)
             SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(''rel'', l.rel, ''tid'', l.tid, ''img'', l.img)) FROM l',
            agent_guard._only(relation)),
            jsonb_build_object('before', now() - older_than));
        IF v_rows IS NULL THEN
            RETURN 0;
        END IF;
        PERFORM agent_guard._purge_reach(relation, v_rows);
        v_gone := agent_guard._owner_purge(relation, format(
            'WITH gone AS (DELETE FROM %1$s t
                            WHERE t.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT (e.value OPERATOR(pg_catalog.->>) ''tid'')::pg_catalog.tid
                                                                            FROM pg_catalog.jsonb_array_elements($1) e))
                              AND (t.tableoid, t.ctid) IN (SELECT (e.value OPERATOR(pg_catalog.->>) ''rel'')::pg_catalog.oid,
                                                                  (e.value OPERATOR(pg_catalog.->>) ''tid'')::pg_catalog.tid
                                                             FROM pg_catalog.jsonb_array_elements($1) e)
                           RETURNING agent_guard._row_image(t.*) AS img)
             SELECT pg_catalog.jsonb_agg(gone.img) FROM gone',
            agent_guard._only(relation)),
            (SELECT jsonb_agg(jsonb_build_object('rel', e.value -> 'rel', 'tid', e.value -> 'tid'))
               FROM jsonb_array_elements(v_rows) e));
        IF coalesce(jsonb_array_length(v_gone), 0) <> jsonb_array_length(v_rows) THEN
            RAISE EXCEPTION 'could not purge %: % of % locked rows were deleted', relation,
                            coalesce(jsonb_array_length(v_gone), 0), jsonb_array_length(v_rows);
        END IF;
    END IF;
    INSERT INTO agent_guard.events (login_role, acting_role, relation, operation, row_key, old_row)
    SELECT session_user, agent_guard.calling_role()::text, relation::text, 'PURGE',
           (SELECT jsonb_object_agg(k, g.img -> k) FROM unnest(v_keys) AS k), g.img
      FROM jsonb_array_elements(v_gone) WITH ORDINALITY AS g(img, n)
     ORDER BY g.n;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;

-- The part of a rollback's plan that concerns one table, copied into a
-- temporary table of its own (_ag_<tag><oid>) that the table's owner may
-- read for the rest of the transaction: the row work runs as that owner
-- (agent_guard._owner_query) and must not see the rest of the plan.
-- query selects the part, with $1 standing for the table.
CREATE FUNCTION agent_guard._rollback_part(relation regclass, tag text, query text, index_on text DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name text := format('_ag_%s%s', tag, relation::oid);
BEGIN
    IF relation IS NULL OR tag IS NULL OR query IS NULL THEN
        RAISE EXCEPTION 'relation, tag and query must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF to_regclass('pg_temp.' || v_name) IS NOT NULL THEN
        EXECUTE format('DROP TABLE pg_temp.%I', v_name);
    END IF;
    EXECUTE format('CREATE TEMP TABLE %I ON COMMIT DROP AS ', v_name)
            || replace(query, '$1', format('(%s::oid::regclass)', relation::oid));
    IF index_on IS NOT NULL THEN
        EXECUTE format('CREATE INDEX ON pg_temp.%I (%s)', v_name, index_on);
    END IF;
    EXECUTE format('ANALYZE pg_temp.%I', v_name);
    EXECUTE format('GRANT SELECT ON pg_temp.%I TO %s', v_name,
                   (SELECT c.relowner::regrole::text FROM pg_class c WHERE c.oid = relation));
    RETURN 'pg_temp.' || quote_ident(v_name);
END
$$;
REVOKE ALL ON FUNCTION agent_guard._rollback_part(regclass, text, text, text) FROM PUBLIC;


-- A human who is not a superuser may add a partition to a protected table:
-- PostgreSQL checks EXECUTE on the trigger functions it clones.
GRANT EXECUTE ON FUNCTION agent_guard.stamp() TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard.capture() TO PUBLIC;

-- Logical replication (README, Deploying): sessions of a role with
-- REPLICATION see soft-deleted rows, so a subscriber's table sync copies
-- them; protect() of a published table says what subscribers need first;
-- rows that a replication worker writes into the guard's own tables are
-- dropped on a subscriber that has the extension.
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

-- Red team 23a, F1: protect() covers a table's inheritance children (at
-- every level, but for a child protected on its own) as it covers its
-- partitions, unprotect() undoes it, and agent_guard.protected counts
-- them; an agent's write that reaches a child no protection covers is
-- refused (src/gate.c).

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
-- triggers, and the child's row security as it was before, kept in the
-- rls_before of the protected table that covered it (and forgotten there).
-- The state is used only while the child has the soft-delete policy it
-- goes with: one left by a dropped child of the same name is not.
CREATE FUNCTION agent_guard._uncover_child(child regclass) RETURNS void
    LANGUAGE plpgsql STRICT SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_state jsonb;
BEGIN
    PERFORM agent_guard._drop_triggers(child);
    SELECT p.rls_before -> child::text INTO v_state
      FROM agent_guard.protected_tables p
     WHERE p.rls_before ? child::text
       AND EXISTS (SELECT 1 FROM pg_policy po
                    WHERE po.polrelid = child AND po.polname = 'ag_hide_deleted')
     ORDER BY p.protected_at DESC
     LIMIT 1;
    PERFORM agent_guard._soft_rls_off(child,
        CASE WHEN v_state IS NULL THEN '{}'::jsonb ELSE jsonb_build_object(child::text, v_state) END);
    UPDATE agent_guard.protected_tables p SET rls_before = p.rls_before - child::text
     WHERE p.rls_before ? child::text;
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
    v_rls      jsonb;
    v_children regclass[];
    v_child    regclass;
    v_kid      record;
    v_ckeys    text[];
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
       AND EXISTS (SELECT 1 FROM agent_guard.protected_tables p WHERE p.rls_before ? protect.relation::text) THEN
        PERFORM agent_guard._uncover_child(relation);
    END IF;

    PERFORM agent_guard._create_triggers(relation, soft_delete);
    SELECT p.rls_before INTO v_rls FROM agent_guard.protected_tables p WHERE p.relation = protect.relation;
    IF v_rls IS NOT NULL THEN
        PERFORM agent_guard._soft_rls_off(relation, v_rls);
        v_rls := NULL;
    END IF;
    IF soft_delete THEN
        v_rls := agent_guard._soft_rls_on(relation);
    END IF;

    -- the children, in the same mode: whatever covered them before (this
    -- table's earlier protect(), or another parent's) is undone first
    FOREACH v_child IN ARRAY v_children LOOP
        PERFORM agent_guard._uncover_child(v_child);
        PERFORM agent_guard._create_triggers(v_child, soft_delete);
        IF soft_delete THEN
            v_rls := v_rls || agent_guard._soft_rls_on(v_child);
        END IF;
    END LOOP;

    INSERT INTO agent_guard.protected_tables AS p (relation, soft_delete, key_columns, rls_before)
    VALUES (protect.relation, protect.soft_delete, v_keys, v_rls)
    ON CONFLICT ON CONSTRAINT protected_tables_pkey
    DO UPDATE SET soft_delete = EXCLUDED.soft_delete, key_columns = EXCLUDED.key_columns,
                  rls_before = EXCLUDED.rls_before,
                  protected_at = now(), protected_by = session_user;

    PERFORM agent_guard._log('PROTECT', relation::text,
        jsonb_build_object('soft_delete', soft_delete, 'key_columns', to_jsonb(v_keys))
        || CASE WHEN cardinality(v_children) > 0
                THEN jsonb_build_object('children', to_jsonb(v_children::text[])) ELSE '{}' END);
END
$$;
COMMENT ON FUNCTION agent_guard.protect(regclass, boolean) IS
    'stamp and log agent writes to a table (and its partitions and inheritance children); adds ag_agent_id, ag_run_id and, with soft_delete, ag_deleted_at';

CREATE OR REPLACE FUNCTION agent_guard.unprotect(relation regclass) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_owner    oid;
    v_rls      jsonb;
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
    SELECT p.rls_before INTO v_rls FROM agent_guard.protected_tables p WHERE p.relation = unprotect.relation;
    IF v_rls IS NOT NULL THEN
        PERFORM agent_guard._soft_rls_off(relation, v_rls);
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
CREATE OR REPLACE VIEW agent_guard.protected AS
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
-- in the soft-delete policy, which runs as whoever reads the table (revoked
-- first, so that its privileges read as a fresh install's)
REVOKE ALL ON FUNCTION agent_guard._replication_session() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._replication_session() TO PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._check_subscribers(regclass, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._agent_structure(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._agent_type_columns(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._inherit_children(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._key_columns(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._create_triggers(regclass, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._uncover_child(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._replicated_row() FROM PUBLIC;

-- Bound parameter values of agents' statements (src/params.c): kept with
-- the statement record, shown by the postmortem.
ALTER TABLE agent_guard.statements ADD COLUMN parameters text;

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
                                 x->>'operation', agent_guard._md(x->>'relation'),
                                 agent_guard._md(CASE WHEN (x->>'human')::boolean THEN 'human: ' || (x->>'by')
                                                      ELSE 'agent: ' || (x->>'by') END),
                                 agent_guard._md(CASE WHEN x->'detail' = 'null' THEN '' ELSE (x->'detail')::text END));
        END LOOP;
        out := out || E'\n';
    END IF;

    IF EXISTS (SELECT 1 FROM jsonb_array_elements(j->'guard_events') g WHERE g->>'operation' = 'EXECUTED') THEN
        out := out || E'## Approved statements that ran\n\n';
        FOR x IN SELECT g FROM jsonb_array_elements(j->'guard_events') g WHERE g->>'operation' = 'EXECUTED' LOOP
            out := out || format(E'- %s: `%s` (request %s, approved by %s at %s%s): %s\n',
                                 agent_guard._md_time((x->>'at')::timestamptz),
                                 agent_guard._md(left(x#>>'{detail,statement}', 300)),
                                 x#>>'{detail,request_id}', x#>>'{detail,approved_by}',
                                 agent_guard._md_time((x#>>'{detail,approved_at}')::timestamptz),
                                 CASE WHEN x#>>'{detail,note}' IS NOT NULL
                                      THEN ', note: ' || agent_guard._md(x#>>'{detail,note}') ELSE '' END,
                                 coalesce((SELECT string_agg(format('%s %s%s', t->>'relation',
                                                   CASE WHEN t ? 'rows' THEN 'held ' || agent_guard._plural((t->>'rows')::bigint, 'row')
                                                        ELSE '' END,
                                                   CASE WHEN (t->>'rows_estimated')::boolean THEN ' (estimated)' ELSE '' END), '; ')
                                             FROM jsonb_array_elements(x#>'{detail,targets}') t), '-'));
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
-- Approvals are consumed by the SHA-256 digest of the statement's key
-- (src/approvalkey.c), not by the 64-bit statement_hash.  Requests written
-- before this update have no digest: approving one lets no retry run (the
-- retry is refused as a new request, which a human approves).
ALTER TABLE agent_guard.request_log ADD COLUMN statement_digest bytea
    CHECK (octet_length(statement_digest) = 32);
-- A statement too long for the request queue is recorded cut, with a line
-- that says so; the request says it too, and approve() then needs the
-- whole text, checked by its SHA-256 (src/outbox.c).
ALTER TABLE agent_guard.request_log ADD COLUMN statement_truncated boolean NOT NULL DEFAULT false;
ALTER TABLE agent_guard.request_log ADD COLUMN statement_sha256 bytea
    CHECK (octet_length(statement_sha256) = 32);

CREATE FUNCTION agent_guard._statement_sha256(statement text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ag_sql_statement_sha256'
    LANGUAGE C STRICT IMMUTABLE;

CREATE FUNCTION agent_guard._pending_request_parameters(OUT request_id bigint, OUT parameters text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'ag_sql_pending_request_parameters'
    LANGUAGE C STRICT VOLATILE;

-- Runs are counted and tripped per agent and run (src/runcount.c): another
-- agent under the same label cannot use up or trip this agent's run.
ALTER TABLE agent_guard.tripped_runs DROP CONSTRAINT tripped_runs_pkey,
    ALTER COLUMN run_id SET NOT NULL, ADD PRIMARY KEY (agent_id, run_id);

CREATE FUNCTION agent_guard._run_rows(run_id text, reset boolean) RETURNS bigint
    AS 'MODULE_PATHNAME', 'ag_sql_run_rows'
    LANGUAGE C STRICT VOLATILE;

CREATE OR REPLACE VIEW agent_guard.requests AS
    SELECT r.request_id, r.requested_at, r.agent_id, r.run_id, r.login_role, r.kind,
           CASE WHEN r.status = 'approved' AND r.expires_at <= now() THEN 'expired'
                ELSE r.status END AS status,
           r.reason, r.statement, r.decided_by, r.decided_at, r.note, r.expires_at, r.used_at,
           r.parameters, r.statement_truncated
      FROM agent_guard.request_log r
    UNION ALL
    SELECT p.request_id, p.requested_at, p.agent_id, p.run_id, p.login_role, p.kind,
           CASE WHEN p.kind = 'approval' THEN 'pending' ELSE 'refused' END,
           p.reason, p.statement, NULL, NULL, NULL, NULL, NULL,
           (SELECT pp.parameters FROM agent_guard._pending_request_parameters() pp
             WHERE pp.request_id = p.request_id),
           NULL
      FROM agent_guard._pending_requests() p
     WHERE NOT EXISTS (SELECT 1 FROM agent_guard.request_log r WHERE r.request_id = p.request_id);

-- A request whose statement was too long to be recorded whole holds only
-- its start (request_log.statement_truncated, src/outbox.c), yet an
-- approval lets the whole statement run: it is approved only with the
-- whole text, which must be the one the agent sent (its SHA-256), and
-- which then replaces the start in the record.  Acts on a pending approval
-- request only: _decide() says what is wrong with any other.
CREATE FUNCTION agent_guard._check_whole_text(request_id bigint, statement text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v agent_guard.request_log;
BEGIN
    IF request_id IS NULL THEN
        RETURN;
    END IF;
    SELECT * INTO v FROM agent_guard.request_log q WHERE q.request_id = _check_whole_text.request_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM agent_guard._flush_requests();
        SELECT * INTO v FROM agent_guard.request_log q WHERE q.request_id = _check_whole_text.request_id FOR UPDATE;
    END IF;
    IF NOT FOUND OR v.kind <> 'approval' OR v.status <> 'pending' THEN
        RETURN;
    END IF;
    IF statement IS NULL THEN
        IF v.statement_truncated THEN
            RAISE EXCEPTION 'request % cannot be approved without its whole statement', request_id
                USING ERRCODE = 'YG005',
                      DETAIL = 'The statement was too long to be recorded whole: the request holds only its start (see the last line of its statement in agent_guard.requests), and an approval would let all of it run.',
                      HINT = 'Get the whole statement from the agent and read it, then approve with it: SELECT agent_guard.approve(request_id, note, statement); it must be the text the agent sent. Or deny the request.';
        END IF;
        RETURN;
    END IF;
    IF v.statement_sha256 IS NULL OR agent_guard._statement_sha256(statement) <> v.statement_sha256 THEN
        RAISE EXCEPTION 'the statement given is not the statement of request %', request_id
            USING ERRCODE = 'YG005',
                  DETAIL = CASE WHEN v.statement_sha256 IS NULL
                                THEN 'The request was recorded without the SHA-256 of its text.'
                                ELSE 'Its SHA-256 differs from that of the text the agent sent (leading white space and trailing white space and semicolons aside).' END,
                  HINT = 'Pass the statement exactly as the agent sent it, or deny the request.';
    END IF;
    IF v.statement_truncated THEN
        UPDATE agent_guard.request_log q SET statement = _check_whole_text.statement, statement_truncated = false
         WHERE q.request_id = _check_whole_text.request_id;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION agent_guard.approve(request_id bigint, note text DEFAULT NULL)
    RETURNS agent_guard.requests
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v agent_guard.request_log;
    r agent_guard.requests;
BEGIN
    PERFORM agent_guard._require_human('agent_guard.approve()');
    PERFORM agent_guard._check_whole_text(request_id, NULL);
    v := agent_guard._decide(request_id, note, 'approved');
    SELECT * INTO r FROM agent_guard.requests q WHERE q.request_id = v.request_id;
    RETURN r;
END
$$;
COMMENT ON FUNCTION agent_guard.approve(bigint, text) IS
    'let the same agent run the same statement once, within agent_guard.approval_ttl';

CREATE FUNCTION agent_guard.approve(request_id bigint, note text, statement text)
    RETURNS agent_guard.requests
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v agent_guard.request_log;
    r agent_guard.requests;
BEGIN
    PERFORM agent_guard._require_human('agent_guard.approve()');
    PERFORM agent_guard._check_whole_text(request_id, statement);
    v := agent_guard._decide(request_id, note, 'approved');
    SELECT * INTO r FROM agent_guard.requests q WHERE q.request_id = v.request_id;
    RETURN r;
END
$$;
COMMENT ON FUNCTION agent_guard.approve(bigint, text, text) IS
    'approve with the whole statement the human read: needed when the request holds only its start (statement_truncated); it must be the text the agent sent';

CREATE OR REPLACE FUNCTION agent_guard.reset_run(run_id text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v agent_guard.tripped_runs;
    n integer := 0;
BEGIN
    PERFORM agent_guard._require_human('agent_guard.reset_run()');
    IF run_id IS NULL THEN
        RAISE EXCEPTION 'run_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM agent_guard._flush_requests();
    -- runs are tripped per agent (src/runcount.c): the label's every trip is lifted
    FOR v IN DELETE FROM agent_guard.tripped_runs t WHERE t.run_id = reset_run.run_id RETURNING * LOOP
        n := n + 1;
        INSERT INTO agent_guard.events (agent_id, run_id, login_role, acting_role, operation, detail)
        VALUES (v.agent_id, v.run_id, session_user, agent_guard.calling_role()::text, 'RESET_RUN',
                jsonb_build_object('rows_seen', v.rows_seen, 'tripped_at', v.tripped_at));
    END LOOP;
    IF n = 0 THEN
        RAISE NOTICE 'run "%" is not tripped', run_id;
        RETURN false;
    END IF;
    PERFORM agent_guard._run_rows(reset_run.run_id, true);
    PERFORM agent_guard._gate_changed();
    RETURN true;
END
$$;
COMMENT ON FUNCTION agent_guard.reset_run(text) IS
    'let a run that passed agent_guard.max_rows_per_run write again (the trips of every agent under the label)';

CREATE OR REPLACE FUNCTION agent_guard._operator_privileges(OUT kind text, OUT object text)
    RETURNS SETOF record
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
    VALUES ('TABLE', 'agent_guard.runs'), ('TABLE', 'agent_guard.events'),
           ('TABLE', 'agent_guard.statements'), ('TABLE', 'agent_guard.requests'),
           ('TABLE', 'agent_guard.freezes'), ('TABLE', 'agent_guard.protected'),
           ('TABLE', 'agent_guard.agents'), ('TABLE', 'agent_guard.policies'),
           -- functions the views above call
           ('FUNCTION', 'agent_guard._pending_requests()'),
           ('FUNCTION', 'agent_guard._pending_request_parameters()'),
           ('FUNCTION', 'agent_guard._policy_rates()'),
           ('FUNCTION', 'agent_guard.approve(bigint, text)'),
           ('FUNCTION', 'agent_guard.approve(bigint, text, text)'),
           ('FUNCTION', 'agent_guard.deny(bigint, text)'),
           ('FUNCTION', 'agent_guard.freeze(text, text)'),
           ('FUNCTION', 'agent_guard.unfreeze(text)'),
           ('FUNCTION', 'agent_guard.reset_run(text)'),
           ('FUNCTION', 'agent_guard.record_requests()'),
           ('FUNCTION', 'agent_guard.rollback_run(text, boolean, text)'),
           ('FUNCTION', 'agent_guard.rollback_xact(xid8, boolean, text)'),
           ('FUNCTION', 'agent_guard.postmortem(text)'),
           ('FUNCTION', 'agent_guard.postmortem_json(text)'),
           ('FUNCTION', 'agent_guard.verify_log(text)'),
           ('FUNCTION', 'agent_guard.log_head()'),
           ('FUNCTION', 'agent_guard.seal_log()'),
           ('FUNCTION', 'agent_guard.sealer_status()')
$$;

REVOKE ALL ON FUNCTION agent_guard._pending_request_parameters() FROM PUBLIC;

-- new functions go to those that hold the 1.1 function they come with: the
-- new approve() to those that hold the old one; the requests view now
-- calls _pending_request_parameters(), so whoever could read the view
-- (with EXECUTE on _pending_requests(), as 1.1 asked) keeps reading it
DO $upgrade$
DECLARE
    v record;
BEGIN
    FOR v IN
        SELECT a.grantee::regrole::text AS role, n.fn
          FROM (VALUES ('agent_guard.approve(bigint, text)', 'agent_guard.approve(bigint, text, text)'),
                       ('agent_guard._pending_requests()', 'agent_guard._pending_request_parameters()'))
                 AS n(old, fn),
               pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
         WHERE p.oid = n.old::pg_catalog.regprocedure
           AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', v.fn, v.role);
    END LOOP;
END
$upgrade$;
REVOKE ALL ON FUNCTION agent_guard._run_rows(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._statement_sha256(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._check_whole_text(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard.approve(bigint, text, text) FROM PUBLIC;

-- An agent's code in a human's session cannot use the human's powers
-- (src/agentcode.c): the humans-only functions refuse it.
-- Refuses while code of an agent runs in this (human's) session, or while
-- an executing statement involves a relation of an agent (src/agentcode.c).
CREATE FUNCTION agent_guard._refuse_agent_code(fn text) RETURNS void
    AS 'MODULE_PATHNAME', 'ag_sql_refuse_agent_code'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE OR REPLACE FUNCTION agent_guard._require_human(fn text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF agent_guard.in_agent_session() THEN
        RAISE EXCEPTION '% cannot be called from an agent session', fn
            USING ERRCODE = 'YG002',
                  DETAIL = format('This session acts as agent "%s".', agent_guard.current_agent()),
                  HINT = 'Ask a human operator to run it from a session that is not an agent session.';
    END IF;
    -- nor by an agent's code in a human's session, with the human's rights
    PERFORM agent_guard._refuse_agent_code(fn);
END
$$;
REVOKE ALL ON FUNCTION agent_guard._refuse_agent_code(text) FROM PUBLIC;

-- Planted by the planner in place of setval() in an agent's statements: it
-- needs a human's approval when the sequence numbers a protected table (as
-- ALTER SEQUENCE does), then sets it as setval() would.
CREATE FUNCTION agent_guard._setval(regclass, bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'ag_sql_setval'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION agent_guard._setval(regclass, bigint, boolean) RETURNS bigint
    AS 'MODULE_PATHNAME', 'ag_sql_setval'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION agent_guard._setval(regclass, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._setval(regclass, bigint, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._setval(regclass, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._setval(regclass, bigint, boolean) TO PUBLIC;

-- Planted by the planner in place of pg_notify() in an agent's statements:
-- it counts the agent transaction's notifications and refuses past
-- agent_guard.agent_notify_max_per_xact or a NOTIFY queue fuller than
-- agent_guard.agent_notify_queue_limit (src/agentnotify.c), then notifies.
CREATE FUNCTION agent_guard._notify(text, text) RETURNS void
    AS 'MODULE_PATHNAME', 'ag_sql_notify'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION agent_guard._notify(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._notify(text, text) TO PUBLIC;

-- The postmortem prints what agents chose (statements, run ids, names) as
-- text: code spans fenced past any backticks in them, markup escaped.
CREATE OR REPLACE FUNCTION agent_guard._md(value text) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(regexp_replace(regexp_replace(regexp_replace(value, '\s+', ' ', 'g'),
                                                  '([\\`*\[<~|])', '\\\1', 'g'),
                                   '(?<![[:alnum:]])_|_(?![[:alnum:]])', '\\_', 'g'), '')
$$;

CREATE FUNCTION agent_guard._md_code(value text) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT f || CASE WHEN v = '' OR v ~ '^[` ]|[` ]$' THEN ' ' || v || ' ' ELSE v END || f
      FROM (SELECT v, repeat('`', 1 + coalesce((SELECT max(length(m[1]))
                                                   FROM regexp_matches(v, '(`+)', 'g') m), 0)) AS f
              FROM (SELECT coalesce(replace(regexp_replace(value, '\s+', ' ', 'g'), '|', '\|'), '') AS v) t) c
$$;
REVOKE ALL ON FUNCTION agent_guard._md_code(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION agent_guard._md_list(value jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
    -- a run with guard events only has no acting roles: null, not an array
    SELECT coalesce(nullif((SELECT string_agg(agent_guard._md(x), ', ')
                              FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(value) = 'array'
                                                                  THEN value ELSE '[]' END) x), ''), '-')
$$;

CREATE OR REPLACE FUNCTION agent_guard.postmortem(run_id text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
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
    out := format(E'# Postmortem: run %s\n\n', agent_guard._md(s->>'run_id'));

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
        out := out || format(E'Role %s no longer exists.\n\n', coalesce(agent_guard._md(p->>'role'), '-'));
    ELSE
        out := out || format(E'Role %s: superuser %s, createrole %s, createdb %s, bypassrls %s; member of: %s; '
                             'on database %s: CREATE %s, TEMPORARY %s.\n\n',
                             agent_guard._md(p->>'role'), p->>'superuser', p->>'createrole', p->>'createdb', p->>'bypassrls',
                             agent_guard._md_list(p->'member_of'), agent_guard._md(p#>>'{database,name}'),
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
        out := out || format(E'| %s | %s | %s%s | %s |\n', x->>'statement_id', agent_guard._md_time((x->>'at')::timestamptz),
                             agent_guard._md_code(left(x->>'query', 300)),
                             CASE WHEN x ? 'parameters'
                                  THEN ' with ' || agent_guard._md_code(left(x->>'parameters', 300)) ELSE '' END,
                             (SELECT string_agg(format('%s: %s', agent_guard._md(r.key),
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
                                 x->>'operation', agent_guard._md(x->>'relation'),
                                 agent_guard._md(CASE WHEN (x->>'human')::boolean THEN 'human: ' || (x->>'by')
                                                      ELSE 'agent: ' || (x->>'by') END),
                                 agent_guard._md(CASE WHEN x->'detail' = 'null' THEN '' ELSE (x->'detail')::text END));
        END LOOP;
        out := out || E'\n';
    END IF;

    IF EXISTS (SELECT 1 FROM jsonb_array_elements(j->'guard_events') g WHERE g->>'operation' = 'EXECUTED') THEN
        out := out || E'## Approved statements that ran\n\n';
        FOR x IN SELECT g FROM jsonb_array_elements(j->'guard_events') g WHERE g->>'operation' = 'EXECUTED' LOOP
            out := out || format(E'- %s: %s (request %s, approved by %s at %s%s): %s\n',
                                 agent_guard._md_time((x->>'at')::timestamptz),
                                 agent_guard._md_code(left(x#>>'{detail,statement}', 300)),
                                 x#>>'{detail,request_id}', agent_guard._md(x#>>'{detail,approved_by}'),
                                 agent_guard._md_time((x#>>'{detail,approved_at}')::timestamptz),
                                 CASE WHEN x#>>'{detail,note}' IS NOT NULL
                                      THEN ', note: ' || agent_guard._md(x#>>'{detail,note}') ELSE '' END,
                                 coalesce((SELECT string_agg(format('%s %s%s', agent_guard._md(t->>'relation'),
                                                   CASE WHEN t ? 'rows' THEN 'held ' || agent_guard._plural((t->>'rows')::bigint, 'row')
                                                        ELSE '' END,
                                                   CASE WHEN (t->>'rows_estimated')::boolean THEN ' (estimated)' ELSE '' END), '; ')
                                             FROM jsonb_array_elements(x#>'{detail,targets}') t), '-'));
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
                                 agent_guard._md(x->>'by'), x->>'event_id');
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

-- Refusals are on record without a sealer (issue 16): when no background
-- worker slot is free for a database's sealer, the humans' functions that
-- read or decide requests write its refused statements themselves
-- (src/outbox.c), record_requests() does it on demand, and sealer_status()
-- says which sealer finds no slot and how many refusals wait for it.
CREATE FUNCTION agent_guard._record_requests() RETURNS integer
    AS 'MODULE_PATHNAME', 'ag_sql_record_requests'
    LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION agent_guard._record_requests() FROM PUBLIC;

CREATE FUNCTION agent_guard.record_requests() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM agent_guard._require_human('agent_guard.record_requests()');
    RETURN agent_guard._record_requests();
END
$$;
COMMENT ON FUNCTION agent_guard.record_requests() IS
    'write the statements of agents refused in this database that its sealer has not written (it does not run: see agent_guard.sealer_status()); returns how many';
REVOKE ALL ON FUNCTION agent_guard.record_requests() FROM PUBLIC;

-- sealer_status() gains columns: made anew, with the EXECUTE grants it had
-- (grant_operator's)
DO $upgrade$
DECLARE
    v_grantees text[];
    v_role text;
BEGIN
    SELECT array_agg(a.grantee::regrole::text) INTO v_grantees
      FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
     WHERE p.oid = 'agent_guard.sealer_status()'::pg_catalog.regprocedure
       AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner;
    DROP FUNCTION agent_guard.sealer_status();
    CREATE FUNCTION agent_guard.sealer_status()
        RETURNS TABLE (database name, pid integer, requested boolean, sealed bigint, last_seal_at timestamptz,
                       state text, no_slot_since timestamptz, unrecorded_requests integer)
        LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT d.datname, (s->>'pid')::int, (s->>'requested')::boolean, (s->>'sealed')::bigint,
           (s->>'last_seal_at')::timestamptz, s->>'state', (s->>'no_slot_since')::timestamptz,
           (s->>'unrecorded_requests')::int
      FROM jsonb_array_elements(agent_guard._sealers()) s
      LEFT JOIN pg_database d ON d.oid = (s->>'dboid')::oid
     WHERE s ? 'dboid'
    UNION ALL
    SELECT NULL, (s->>'launcher_pid')::int, NULL, NULL, NULL,
           CASE WHEN (s->>'launcher_pid')::int <> 0 THEN 'running' ELSE 'not running' END, NULL, NULL
      FROM jsonb_array_elements(agent_guard._sealers()) s
     WHERE s ? 'launcher_pid'
$$;
    REVOKE ALL ON FUNCTION agent_guard.sealer_status() FROM PUBLIC;
    FOREACH v_role IN ARRAY coalesce(v_grantees, '{}') LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION agent_guard.sealer_status() TO %s', v_role);
    END LOOP;
END
$upgrade$;
COMMENT ON FUNCTION agent_guard.sealer_status() IS
    'the background sealers (one per database) and, with database NULL, the launcher; state "no worker slot": max_worker_processes is exhausted, and the database''s refused statements wait (unrecorded_requests) for a human''s agent_guard.record_requests()';

-- What the role stored before it was registered, or a human gave it, that
-- an agent may not store: a WARNING lists it (src/agentstored.c).
CREATE FUNCTION agent_guard._warn_unjudged(role regrole) RETURNS integer
    AS 'MODULE_PATHNAME', 'ag_sql_warn_unjudged'
    LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION agent_guard._warn_unjudged(regrole) IS
    'warn of the objects a role owns that an agent may not store (not judged when stored); returns their number';

-- The library in the session_preload_libraries of a registered agent role
-- (in this database), next to what the role's sessions load already: if
-- the server loses shared_preload_libraries, the agent's sessions still
-- load the guard, which then refuses every statement of theirs (YG009,
-- failsafe.c), and a library that is missing fails their logins.  Only a
-- superuser can change the setting, so the agent cannot take it out.
CREATE FUNCTION agent_guard._session_preload(role regrole, add boolean) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_db   oid := (SELECT d.oid FROM pg_database d WHERE d.datname = current_database());
    v_cur  text;
    v_own  boolean;
    v_libs text[];
BEGIN
    -- what the role's sessions here get now: database and role, role, database, file
    SELECT substr(x.c, length('session_preload_libraries=') + 1),
           x.setrole <> 0 AND x.setdatabase <> 0
      INTO v_cur, v_own
      FROM (SELECT s.setdatabase, s.setrole, unnest(s.setconfig) AS c
              FROM pg_db_role_setting s
             WHERE s.setdatabase IN (v_db, 0) AND s.setrole IN (role, 0)) x
     WHERE x.c LIKE 'session\_preload\_libraries=%'
     ORDER BY x.setrole <> 0 AND x.setdatabase <> 0 DESC, x.setrole <> 0 DESC,
              x.setdatabase <> 0 DESC
     LIMIT 1;
    IF v_cur IS NULL THEN
        v_own := false;
        SELECT f.setting INTO v_cur FROM pg_file_settings f
         WHERE f.name = 'session_preload_libraries' AND f.applied;
    END IF;
    SELECT coalesce(array_agg(l ORDER BY n), '{}') INTO v_libs
      FROM unnest(regexp_split_to_array(coalesce(v_cur, ''), '\s*,\s*')) WITH ORDINALITY AS u(e, n),
           LATERAL (SELECT btrim(u.e, ' "') AS l) t
     WHERE t.l <> '' AND (add OR t.l NOT IN ('agent_guard', '$libdir/agent_guard'));
    IF add THEN
        IF v_libs && ARRAY['agent_guard', '$libdir/agent_guard'] THEN
            RETURN;
        END IF;
        v_libs := v_libs || 'agent_guard'::text;
    ELSIF NOT v_own THEN
        RETURN;
    END IF;
    BEGIN
        IF cardinality(v_libs) = 0 THEN
            EXECUTE format('ALTER ROLE %I IN DATABASE %I RESET session_preload_libraries',
                           (SELECT r.rolname FROM pg_roles r WHERE r.oid = role), current_database());
        ELSE
            EXECUTE format('ALTER ROLE %I IN DATABASE %I SET session_preload_libraries = %s',
                           (SELECT r.rolname FROM pg_roles r WHERE r.oid = role), current_database(),
                           (SELECT string_agg(quote_literal(l), ', ') FROM unnest(v_libs) l));
        END IF;
    EXCEPTION WHEN insufficient_privilege THEN
        -- the extension's owner is not a superuser: say so, register anyway
        RAISE WARNING 'could not set session_preload_libraries of role "%"', role
            USING DETAIL = 'Only a superuser can set it; the agent''s sessions do not load agent_guard if the server loses shared_preload_libraries.',
                  HINT = format('As a superuser: ALTER ROLE %I IN DATABASE %I SET session_preload_libraries = %s',
                                (SELECT r.rolname FROM pg_roles r WHERE r.oid = role), current_database(),
                                (SELECT string_agg(quote_literal(l), ', ') FROM unnest(v_libs) l));
    END;
END
$$;
COMMENT ON FUNCTION agent_guard._session_preload(regrole, boolean) IS
    'add agent_guard to (or remove it from) the session_preload_libraries of a role in this database';
REVOKE ALL ON FUNCTION agent_guard._session_preload(regrole, boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION agent_guard.register_agent(role regrole, agent_id text DEFAULT NULL)
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
                  DETAIL = 'Such a role can switch the guard off or reach past it.',
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
    -- its sessions load the guard even if the server loses the preload
    PERFORM agent_guard._session_preload(role, true);
    -- judged as the agent's now: its functions are the agent's
    PERFORM agent_guard._warn_unjudged(role);
    RETURN v_id;
END
$$;

CREATE OR REPLACE FUNCTION agent_guard.unregister_agent(role regrole) RETURNS boolean
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
    PERFORM agent_guard._session_preload(role, false);
    RETURN true;
END
$$;

-- agents registered before: their sessions load the guard too
SELECT agent_guard._session_preload(a.role, true) FROM agent_guard.registered_agents a;

REVOKE ALL ON FUNCTION agent_guard._warn_unjudged(regrole) FROM PUBLIC;

-- red team 13 (issue 16), F4 and F2.
-- The guard's notifications on channel agent_guard (README "NOTIFY") are
-- wake-ups only: what they announce is on record in agent_guard.requests
-- and agent_guard.events.  PostgreSQL's NOTIFY queue is shared, and any
-- session, an agent's too, can fill it (a listener that does not read
-- holds its tail); a transaction that notified then fails at commit.  So
-- the guard's own transactions (freeze, policies, decisions, the sealer's
-- recording) notify only while the queue is less full than
-- agent_guard.notify_queue_limit, and otherwise say what they skipped:
-- a wake-up, never a record.
CREATE FUNCTION agent_guard._wake(payload jsonb) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_usage double precision := pg_notification_queue_usage();
    v_limit double precision := coalesce(nullif(current_setting('agent_guard.notify_queue_limit', true), '')::double precision, 0.5);
BEGIN
    IF v_usage >= v_limit THEN
        RAISE WARNING 'notification on channel "agent_guard" not sent: the NOTIFY queue is % full', round((v_usage * 100)::numeric, 1) || '%'
            USING DETAIL = format('The limit is agent_guard.notify_queue_limit = %s. Only the wake-up of listeners is lost: what it announces (%s) is on record in agent_guard.events.', v_limit, payload->>'event'),
                  HINT = 'A session that listens but does not read holds the queue: see pg_stat_activity and pg_listening_channels(), and end it with pg_terminate_backend().';
        RETURN false;
    END IF;
    PERFORM pg_notify('agent_guard', payload::text);
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION agent_guard._wake(jsonb) FROM PUBLIC;

CREATE OR REPLACE FUNCTION agent_guard.freeze(reason text, agent_id text DEFAULT NULL) RETURNS void
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
    PERFORM agent_guard._wake(jsonb_build_object(
        'event', 'freeze', 'agent_id', agent_id, 'reason', reason, 'by', session_user));
END
$$;

CREATE OR REPLACE FUNCTION agent_guard.unfreeze(agent_id text DEFAULT NULL) RETURNS boolean
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
    PERFORM agent_guard._wake(jsonb_build_object(
        'event', 'unfreeze', 'agent_id', agent_id, 'by', session_user));
    RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION agent_guard.set_policy(agent_id text, mode text DEFAULT 'guarded',
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
    PERFORM agent_guard._wake(jsonb_build_object(
        'event', 'policy', 'agent_id', v_new.agent_id, 'mode', v_new.mode, 'by', session_user));
    SELECT * INTO r FROM agent_guard.policies q WHERE q.agent_id = v_new.agent_id;
    RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION agent_guard.drop_policy(agent_id text) RETURNS boolean
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
    PERFORM agent_guard._wake(jsonb_build_object(
        'event', 'policy_drop', 'agent_id', v.agent_id, 'by', session_user));
    RETURN true;
END
$$;

CREATE FUNCTION agent_guard._md_cut(value text, n integer, skip_comments boolean DEFAULT true) RETURNS text
    LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    i integer := 1;
    len integer := length(value);
    depth integer;
    body text;
BEGIN
    IF value IS NULL THEN
        RETURN agent_guard._md_code(value);
    END IF;
    LOOP
        EXIT WHEN NOT skip_comments;
        WHILE i <= len AND substr(value, i, 1) ~ '\s' LOOP
            i := i + 1;
        END LOOP;
        IF substr(value, i, 2) = '--' THEN
            WHILE i <= len AND substr(value, i, 1) <> E'\n' LOOP
                i := i + 1;
            END LOOP;
        ELSIF substr(value, i, 2) = '/*' THEN
            -- PostgreSQL's block comments nest
            depth := 1;
            i := i + 2;
            WHILE i <= len AND depth > 0 LOOP
                IF substr(value, i, 2) = '/*' THEN
                    depth := depth + 1;
                    i := i + 2;
                ELSIF substr(value, i, 2) = '*/' THEN
                    depth := depth - 1;
                    i := i + 2;
                ELSE
                    i := i + 1;
                END IF;
            END LOOP;
        ELSE
            EXIT;
        END IF;
    END LOOP;
    IF i > len THEN
        -- nothing but comments: show them, as the statement is
        i := 1;
        WHILE i <= len AND substr(value, i, 1) ~ '\s' LOOP
            i := i + 1;
        END LOOP;
    END IF;
    body := substr(value, i);
    RETURN CASE WHEN i > 1 AND value !~ '^\s*$' AND substr(value, 1, i - 1) ~ '\S'
                THEN format('(%s characters of leading comments left out) ', i - 1) ELSE '' END
        || agent_guard._md_code(left(body, n))
        || CASE WHEN length(body) > n
                THEN format(' … (%s more characters)', length(body) - n) ELSE '' END;
END
$$;
REVOKE ALL ON FUNCTION agent_guard._md_cut(text, integer, boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION agent_guard.postmortem(run_id text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
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
    out := format(E'# Postmortem: run %s\n\n', agent_guard._md(s->>'run_id'));

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
        out := out || format(E'Role %s no longer exists.\n\n', coalesce(agent_guard._md(p->>'role'), '-'));
    ELSE
        out := out || format(E'Role %s: superuser %s, createrole %s, createdb %s, bypassrls %s; member of: %s; '
                             'on database %s: CREATE %s, TEMPORARY %s.\n\n',
                             agent_guard._md(p->>'role'), p->>'superuser', p->>'createrole', p->>'createdb', p->>'bypassrls',
                             agent_guard._md_list(p->'member_of'), agent_guard._md(p#>>'{database,name}'),
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
        out := out || format(E'| %s | %s | %s%s | %s |\n', x->>'statement_id', agent_guard._md_time((x->>'at')::timestamptz),
                             agent_guard._md_cut(x->>'query', 300),
                             CASE WHEN x ? 'parameters'
                                  THEN ' with ' || agent_guard._md_cut(x->>'parameters', 300, false) ELSE '' END,
                             (SELECT string_agg(format('%s: %s', agent_guard._md(r.key),
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
                                 x->>'operation', agent_guard._md(x->>'relation'),
                                 agent_guard._md(CASE WHEN (x->>'human')::boolean THEN 'human: ' || (x->>'by')
                                                      ELSE 'agent: ' || (x->>'by') END),
                                 agent_guard._md(CASE WHEN x->'detail' = 'null' THEN '' ELSE (x->'detail')::text END));
        END LOOP;
        out := out || E'\n';
    END IF;

    IF EXISTS (SELECT 1 FROM jsonb_array_elements(j->'guard_events') g WHERE g->>'operation' = 'EXECUTED') THEN
        out := out || E'## Approved statements that ran\n\n';
        FOR x IN SELECT g FROM jsonb_array_elements(j->'guard_events') g WHERE g->>'operation' = 'EXECUTED' LOOP
            out := out || format(E'- %s: %s (request %s, approved by %s at %s%s): %s\n',
                                 agent_guard._md_time((x->>'at')::timestamptz),
                                 agent_guard._md_cut(x#>>'{detail,statement}', 300),
                                 x#>>'{detail,request_id}', agent_guard._md(x#>>'{detail,approved_by}'),
                                 agent_guard._md_time((x#>>'{detail,approved_at}')::timestamptz),
                                 CASE WHEN x#>>'{detail,note}' IS NOT NULL
                                      THEN ', note: ' || agent_guard._md(x#>>'{detail,note}') ELSE '' END,
                                 coalesce((SELECT string_agg(format('%s %s%s', agent_guard._md(t->>'relation'),
                                                   CASE WHEN t ? 'rows' THEN 'held ' || agent_guard._plural((t->>'rows')::bigint, 'row')
                                                        ELSE '' END,
                                                   CASE WHEN (t->>'rows_estimated')::boolean THEN ' (estimated)' ELSE '' END), '; ')
                                             FROM jsonb_array_elements(x#>'{detail,targets}') t), '-'));
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
                                 agent_guard._md(x->>'by'), x->>'event_id');
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

------------------------------------------------------------------------
-- Issue 21: a statement is kept in its first event, not in a row of its
-- own (src/capture.c).  The table of statement rows keeps what was written
-- before, under a new name, and its identity numbers the new statements;
-- agent_guard.statements becomes a view of both.  The seals of events
-- written before are verified against the same rows as before, and their
-- content is unchanged: the new columns are NULL in them, and NULLs are
-- left out of an event's content.
------------------------------------------------------------------------
ALTER TABLE agent_guard.statements RENAME TO statement_rows;
ALTER SEQUENCE agent_guard.statements_statement_id_seq RENAME TO statement_rows_statement_id_seq;
ALTER INDEX agent_guard.statements_pkey RENAME TO statement_rows_pkey;
-- From PostgreSQL 18 on, NOT NULL constraints have names, made from the
-- table's: name them as a fresh install does.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT conname FROM pg_catalog.pg_constraint
              WHERE conrelid = 'agent_guard.statement_rows'::regclass
                AND conname LIKE 'statements\_%\_not\_null'
    LOOP
        EXECUTE format('ALTER TABLE agent_guard.statement_rows RENAME CONSTRAINT %I TO %I',
                       c.conname, 'statement_rows' || substr(c.conname, length('statements') + 1));
    END LOOP;
END
$$;

ALTER TABLE agent_guard.events
    ADD COLUMN query text,
    ADD COLUMN client_addr inet,
    ADD COLUMN application_name text,
    ADD COLUMN parameters text;
ALTER TABLE agent_guard.events_archive
    ADD COLUMN query text,
    ADD COLUMN client_addr inet,
    ADD COLUMN application_name text,
    ADD COLUMN parameters text;

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
REVOKE ALL ON agent_guard.statements FROM PUBLIC;
-- whoever could read the statements (grant_operator()) still can
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT DISTINCT a.grantee::regrole AS grantee
          FROM pg_class c, aclexplode(c.relacl) a
         WHERE c.oid = 'agent_guard.statement_rows'::regclass
           AND a.privilege_type = 'SELECT' AND a.grantee <> c.relowner AND a.grantee <> 0
    LOOP
        EXECUTE format('GRANT SELECT ON agent_guard.statements TO %s', r.grantee);
    END LOOP;
END
$$;

-- the view, not the renamed table
CREATE OR REPLACE VIEW agent_guard.runs AS
    SELECT e.run_id,
           e.agent_id,
           -- the agent's own acts only (_is_agent_act() in 80_evidence.sql):
           -- a human's approval, reset or rollback is not the agent's work
           min(e.login_role) FILTER (WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')) AS login_role,
           min(e.at) FILTER (WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')) AS first_write,
           max(e.at) FILTER (WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')) AS last_write,
           count(DISTINCT e.xid) FILTER (WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')
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
           -- the one definition of a run's state, which the postmortem and
           -- the command line read from here: what was undone first (the
           -- run's outcome), then what holds the run back now
           CASE WHEN count(c.event_id) > 0 AND count(c.event_id) = count(*) FILTER (WHERE e.operation IN
                         ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE')) THEN 'rolled back'
                WHEN count(c.event_id) > 0 THEN 'partly rolled back'
                WHEN EXISTS (SELECT 1 FROM agent_guard.tripped_runs t
                              WHERE t.run_id = e.run_id AND t.agent_id = e.agent_id)
                THEN 'tripped'
                WHEN EXISTS (SELECT 1 FROM agent_guard.freeze_state f
                              WHERE f.scope = '*' OR f.scope = e.agent_id)
                THEN 'frozen'
                WHEN (SELECT r.status FROM agent_guard.request_log r
                       WHERE r.run_id = e.run_id AND r.agent_id = e.agent_id AND r.kind = 'approval'
                       ORDER BY r.request_id DESC LIMIT 1) = 'denied'
                THEN 'denied'
                ELSE 'active' END                                   AS status,
           -- gates (65_gates.sql): attempts refused or held for approval
           count(*) FILTER (WHERE e.operation = 'BLOCKED')          AS blocked,
           -- humans' acts on the run: approvals, denials, resets
           count(*) FILTER (WHERE NOT e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')) AS human_acts
      FROM agent_guard.events e
      LEFT JOIN agent_guard.events c
             ON c.operation = 'COMPENSATE' AND (c.detail->>'undoes')::bigint = e.event_id
     WHERE e.run_id IS NOT NULL
     GROUP BY e.run_id, e.agent_id
     ORDER BY min(e.at);

-- statement rows by their new name
CREATE OR REPLACE FUNCTION agent_guard._event_content(e agent_guard.events, seq bigint) RETURNS text
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
                      FROM agent_guard.statement_rows s, jsonb_each(to_jsonb(s)) j
                     WHERE s.statement_id = e.statement_id AND j.value <> 'null'::jsonb)))::text
$$;

CREATE OR REPLACE FUNCTION agent_guard.verify_log(expected_head text DEFAULT NULL)
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
                       FROM agent_guard.statement_rows s) s ON s.statement_id = e.statement_id
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

-- red team 15B, findings 6 and 8: postmortem shows what cannot be seen as
-- code points, and ends a "--" comment at a carriage return too
-- The characters a reader cannot see or that reorder what is shown, as
-- \uHHHH (\UHHHHHHHH above U+FFFF), as the server log line writes them
-- (refusal.c; red team 15B, finding 8): control characters other than the
-- white space the report makes one space of, C1 controls, the soft hyphen,
-- the bidirectional marks, embeddings, overrides and isolates (U+061C,
-- U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069), zero-width and
-- other format characters (U+180E, U+200B to U+200D, U+2060 to U+206F,
-- U+FEFF, U+FFF9 to U+FFFB), the line and paragraph separators, variation
-- selectors and the tag characters (U+E0000 to U+E007F).  A statement
-- whose text reads backwards on the screen, or hides a part, shows its
-- code points instead.
CREATE FUNCTION agent_guard._md_visible(value text) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN value !~ '[\u0001-\u0008\u000e-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufe00-\ufe0f\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]'
                THEN value
                ELSE (SELECT string_agg(CASE WHEN c ~ '[\u0001-\u0008\u000e-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufe00-\ufe0f\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]'
                                             THEN CASE WHEN ascii(c) > 65535
                                                       THEN '\U' || lpad(to_hex(ascii(c)), 8, '0')
                                                       ELSE '\u' || lpad(to_hex(ascii(c)), 4, '0') END
                                             ELSE c END, '' ORDER BY i)
                        FROM unnest(regexp_split_to_array(value, '')) WITH ORDINALITY AS t(c, i)) END
$$;
REVOKE ALL ON FUNCTION agent_guard._md_visible(text) FROM PUBLIC;

-- Text in a Markdown table cell or list item, as text: one line, and every
-- character that could start markup escaped (a backslash, code spans,
-- emphasis, links and images, HTML and autolinks, strikethrough, a new
-- cell).  An underscore between two letters or digits starts no emphasis
-- and stays as it is.  Run ids, application names, relation names and
-- notes are chosen by agents: in the report they are never markup, and
-- what cannot be seen is shown as its code point (_md_visible).
CREATE OR REPLACE FUNCTION agent_guard._md(value text) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(regexp_replace(regexp_replace(regexp_replace(agent_guard._md_visible(value), '\s+', ' ', 'g'),
                                                  '([\\`*\[<~|])', '\\\1', 'g'),
                                   '(?<![[:alnum:]])_|_(?![[:alnum:]])', '\\_', 'g'), '')
$$;

-- Text as a Markdown code span (a statement, its parameters): one line,
-- pipes escaped for the table, between fences of one backtick more than the
-- longest run of backticks in it, so that nothing in it closes the span
-- (CommonMark), with a space inside each fence where the text starts or
-- ends with a backtick or a space (the renderer strips one from each side).
-- What cannot be seen is shown as its code point (_md_visible).
CREATE OR REPLACE FUNCTION agent_guard._md_code(value text) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT f || CASE WHEN v = '' OR v ~ '^[` ]|[` ]$' THEN ' ' || v || ' ' ELSE v END || f
      FROM (SELECT v, repeat('`', 1 + coalesce((SELECT max(length(m[1]))
                                                   FROM regexp_matches(v, '(`+)', 'g') m), 0)) AS f
              FROM (SELECT coalesce(replace(regexp_replace(agent_guard._md_visible(value), '\s+', ' ', 'g'),
                                            '|', '\|'), '') AS v) t) c
$$;

-- A statement (or its parameters) cut to n characters for the report, as
-- a code span, saying what it leaves out: the leading comments and white
-- space are skipped first (an agent's cover text must not take the whole
-- cell; red team 13, F2), with their length, and a cut says how many
-- characters it dropped (parameters: skip_comments false).  The comments
-- end where PostgreSQL's lexer ends them (scan.l): a "--" comment at a line
-- feed or a carriage return (red team 15B, finding 6), a block comment at
-- the "*/" that closes its outermost "/*" (they nest); the white space
-- between them is the lexer's (space, tab, line feed, carriage return,
-- form feed, vertical tab).
-- agent-guard show RUN --limit all, or postmortem_json(), has the whole text.
CREATE OR REPLACE FUNCTION agent_guard._md_cut(value text, n integer, skip_comments boolean DEFAULT true) RETURNS text
    LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    i integer := 1;
    len integer := length(value);
    depth integer;
    body text;
BEGIN
    IF value IS NULL THEN
        RETURN agent_guard._md_code(value);
    END IF;
    LOOP
        EXIT WHEN NOT skip_comments;
        WHILE i <= len AND substr(value, i, 1) ~ '[ \t\n\r\f\v]' LOOP
            i := i + 1;
        END LOOP;
        IF substr(value, i, 2) = '--' THEN
            WHILE i <= len AND substr(value, i, 1) NOT IN (E'\n', E'\r') LOOP
                i := i + 1;
            END LOOP;
        ELSIF substr(value, i, 2) = '/*' THEN
            -- PostgreSQL's block comments nest
            depth := 1;
            i := i + 2;
            WHILE i <= len AND depth > 0 LOOP
                IF substr(value, i, 2) = '/*' THEN
                    depth := depth + 1;
                    i := i + 2;
                ELSIF substr(value, i, 2) = '*/' THEN
                    depth := depth - 1;
                    i := i + 2;
                ELSE
                    i := i + 1;
                END IF;
            END LOOP;
        ELSE
            EXIT;
        END IF;
    END LOOP;
    IF i > len THEN
        -- nothing but comments: show them, as the statement is
        i := 1;
        WHILE i <= len AND substr(value, i, 1) ~ '\s' LOOP
            i := i + 1;
        END LOOP;
    END IF;
    body := substr(value, i);
    RETURN CASE WHEN i > 1 AND value !~ '^\s*$' AND substr(value, 1, i - 1) ~ '\S'
                THEN format('(%s characters of leading comments left out) ', i - 1) ELSE '' END
        || agent_guard._md_code(left(body, n))
        || CASE WHEN length(body) > n
                THEN format(' … (%s more characters)', length(body) - n) ELSE '' END;
END
$$;


------------------------------------------------------------------------
-- Seals kept per batch (issue 21): the sealer no longer writes a second
-- version of each event row with its position and seal, nor an entry in
-- events_unsealed_idx; the seals of the events sealed together are a row
-- of agent_guard.seals, and chain_state says which events are sealed
-- (src/chain.c).  The events sealed one by one keep their seal_seq and
-- seal and are verified as before; the batches continue the chain from
-- its head.  Last in this script, so that no event it writes is missed.
------------------------------------------------------------------------

-- The sealers first (a sealer of 1.1 holds the head while it updates
-- events), then no event id is taken and not yet written while the
-- frontier is set: every writer of events holds RowExclusiveLock on it
-- from before it takes an id until it commits.
LOCK TABLE agent_guard.chain_state IN ACCESS EXCLUSIVE MODE;
LOCK TABLE agent_guard.events IN SHARE MODE;

ALTER TABLE agent_guard.chain_state
    ADD COLUMN sealed_through bigint NOT NULL DEFAULT 0,
    ADD COLUMN gaps int8multirange NOT NULL DEFAULT '{}';
-- every event id so far is sealed, archived or never used, but for the
-- events not sealed yet
UPDATE agent_guard.chain_state
   SET sealed_through = coalesce((SELECT max(e.event_id) FROM agent_guard.events e), 0),
       gaps = coalesce((SELECT range_agg(int8range(e.event_id, e.event_id, '[]')) FROM agent_guard.events e
                         WHERE e.seal_seq IS NULL), '{}');

DROP INDEX agent_guard.events_unsealed_idx;

CREATE TABLE agent_guard.seals (
    last_seq   bigint PRIMARY KEY,
    first_seq  bigint NOT NULL,
    event_ids  bigint[] NOT NULL,
    seals      bytea NOT NULL,
    sealed_at  timestamptz NOT NULL DEFAULT now()
);
-- A batch's row is large (40 bytes an event): stored out of line, but not
-- compressed: seals are random bytes, and compressing them and the ids
-- was a tenth of the sealer's time for nothing (issue 21).
ALTER TABLE agent_guard.seals ALTER COLUMN event_ids SET STORAGE EXTERNAL,
                              ALTER COLUMN seals SET STORAGE EXTERNAL;

-- Every sealed event of the live log with its position and seal.
CREATE VIEW agent_guard.event_seals AS
    SELECT e.event_id, e.seal_seq, e.seal
      FROM agent_guard.events e
     WHERE e.seal_seq IS NOT NULL
    UNION ALL
    SELECT u.event_id, s.first_seq + u.i - 1,
           substr(s.seals, (u.i::integer - 1) * 32 + 1, 32)
      FROM agent_guard.seals s, unnest(s.event_ids) WITH ORDINALITY u(event_id, i);
COMMENT ON VIEW agent_guard.event_seals IS
    'the position in the hash chain and the seal of every sealed event of agent_guard.events';

REVOKE ALL ON agent_guard.seals, agent_guard.event_seals FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('agent_guard.seals', '');
-- a subscriber keeps its own chain (98_replication.sql)
CREATE TRIGGER ag_replicated_row BEFORE INSERT OR UPDATE OR DELETE ON agent_guard.seals
    FOR EACH ROW EXECUTE FUNCTION agent_guard._replicated_row();
ALTER TABLE agent_guard.seals ENABLE REPLICA TRIGGER ag_replicated_row;

CREATE OR REPLACE FUNCTION agent_guard._chain_state_restore() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE agent_guard.chain_state c
       SET last_seq = NEW.last_seq, last_seal = NEW.last_seal, sealed_at = NEW.sealed_at,
           checkpoint_seq = NEW.checkpoint_seq, checkpoint_seal = NEW.checkpoint_seal,
           sealed_through = NEW.sealed_through, gaps = NEW.gaps
     WHERE c.last_seq = 0 AND c.checkpoint_seq = 0 AND c.sealed_through = 0;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION agent_guard.verify_log(expected_head text DEFAULT NULL)
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

    SELECT count(*) INTO unsealed FROM agent_guard.events e
     WHERE e.seal_seq IS NULL AND (e.event_id > st.sealed_through OR st.gaps @> e.event_id);

    SELECT e.event_id INTO r FROM agent_guard.events e
     WHERE (e.seal_seq IS NULL) <> (e.seal IS NULL) ORDER BY e.event_id LIMIT 1;
    IF FOUND THEN
        RETURN QUERY SELECT false, 0::bigint, r.event_id,
            format('event %s has a seal position without a seal, or a seal without a position', r.event_id);
        RETURN;
    END IF;

    FOR r IN
        SELECT c.event_id, c.seal_seq, c.seal, e.event_id IS NULL AS missing,
               sha256(coalesce(lag(c.seal) OVER w, st.checkpoint_seal)
                      || convert_to((coalesce((SELECT jsonb_object_agg(j.key, j.value)
                                                 FROM jsonb_each((to_jsonb(e) - 'seal')
                                                                 || jsonb_build_object('seal_seq', c.seal_seq)) j
                                                WHERE j.value <> 'null'::jsonb), '{}'::jsonb)
                                     || jsonb_build_object('statement_row', s.statement_row))::text,
                                    'UTF8')) AS recomputed
          FROM agent_guard.event_seals c
          LEFT JOIN agent_guard.events e ON e.event_id = c.event_id
          LEFT JOIN (SELECT s.statement_id,
                            (SELECT jsonb_object_agg(j.key, j.value) FROM jsonb_each(to_jsonb(s)) j
                              WHERE j.value <> 'null'::jsonb) AS statement_row
                       FROM agent_guard.statement_rows s) s ON s.statement_id = e.statement_id
        WINDOW w AS (ORDER BY c.seal_seq)
         ORDER BY c.seal_seq
    LOOP
        n := n + 1;
        IF r.missing THEN
            RETURN QUERY SELECT false, n, r.event_id,
                format('event %s (seal position %s) is missing from the log: it was deleted, or its id changed',
                       r.event_id, r.seal_seq);
            RETURN;
        END IF;
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

    -- an event the sealer passed (an id up to sealed_through, not a gap)
    -- that no seal covers was put in the log behind the sealer's back
    -- (a hashed subplan: an anti-join planned for LIMIT 1 rescans the seals per event)
    SELECT e.event_id INTO r FROM agent_guard.events e
     WHERE e.seal_seq IS NULL AND e.event_id <= st.sealed_through AND NOT st.gaps @> e.event_id
       AND e.event_id NOT IN (SELECT u.id FROM agent_guard.seals s, unnest(s.event_ids) u(id)
                               WHERE u.id IS NOT NULL)
     ORDER BY e.event_id LIMIT 1;
    IF FOUND THEN
        RETURN QUERY SELECT false, n, r.event_id,
            format('event %s is in the log but in no seal, while the sealer counts it as sealed: it was inserted (or its seal position removed) outside the sealer',
                   r.event_id);
        RETURN;
    END IF;

    -- the end of the log against the recorded head
    IF seen_seq < st.last_seq THEN
        RETURN QUERY SELECT false, n, NULL::bigint,
            format('sealed events at positions %s to %s are missing from the end of the log (it was cut)',
                   seen_seq + 1, st.last_seq);
        RETURN;
    ELSIF seen_seq > st.last_seq OR seen_seal <> st.last_seal THEN
        RETURN QUERY SELECT false, n,
            (SELECT c.event_id FROM agent_guard.event_seals c WHERE c.seal_seq = least(seen_seq, st.last_seq + 1) LIMIT 1),
            format('the log ends at position %s but the recorded head is %s:%s: events were appended or the head was changed outside the sealer',
                   seen_seq, st.last_seq, encode(st.last_seal, 'hex'));
        RETURN;
    END IF;

    -- a checkpoint must be attested by the ARCHIVE event that made it
    IF st.checkpoint_seq > 0 AND NOT EXISTS (
            SELECT 1 FROM agent_guard.events e JOIN agent_guard.event_seals c ON c.event_id = e.event_id
             WHERE e.operation = 'ARCHIVE'
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
                SELECT c.seal_seq FROM agent_guard.event_seals c WHERE c.seal = want_seal
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
            SELECT c.seal INTO found_seal FROM agent_guard.event_seals c WHERE c.seal_seq = want_seq LIMIT 1;
        END IF;
        IF found_seal IS NULL THEN
            SELECT a.seal INTO found_seal FROM agent_guard.events_archive a WHERE a.seal_seq = want_seq;
        END IF;
        IF found_seal IS DISTINCT FROM want_seal THEN
            RETURN QUERY SELECT false, n,
                (SELECT c.event_id FROM agent_guard.event_seals c WHERE c.seal_seq = want_seq LIMIT 1),
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

CREATE OR REPLACE FUNCTION agent_guard.archive_log(before timestamptz)
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

    -- the longest prefix of the chain whose events are all older than before,
    -- in whole batches of seals
    SELECT min(c.seal_seq) - 1 INTO cut
      FROM agent_guard.event_seals c JOIN agent_guard.events e ON e.event_id = c.event_id
     WHERE e.at >= before;
    cut := coalesce(cut, st.last_seq);
    cut := least(cut, (SELECT min(s.first_seq) - 1 FROM agent_guard.seals s
                        WHERE s.first_seq <= cut AND s.last_seq > cut));
    IF cut <= st.checkpoint_seq THEN
        RETURN QUERY SELECT 0::bigint, st.checkpoint_seq, encode(st.checkpoint_seal, 'hex');
        RETURN;
    END IF;
    SELECT c.seal INTO cut_seal FROM agent_guard.event_seals c WHERE c.seal_seq = cut;

    -- archived events carry their position and seal in their own columns
    INSERT INTO agent_guard.events_archive
        SELECT (jsonb_populate_record(e, jsonb_build_object('seal_seq', c.seal_seq,
                                                            'seal', '\x' || encode(c.seal, 'hex')))).*
          FROM agent_guard.events e JOIN agent_guard.event_seals c ON c.event_id = e.event_id
         WHERE c.seal_seq <= cut;
    GET DIAGNOSTICS moved = ROW_COUNT;
    DELETE FROM agent_guard.events e
     WHERE e.seal_seq <= cut
        OR e.event_id IN (SELECT u.id FROM agent_guard.seals s, unnest(s.event_ids) u(id)
                           WHERE s.last_seq <= cut);
    DELETE FROM agent_guard.seals s WHERE s.last_seq <= cut;

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

CREATE OR REPLACE FUNCTION agent_guard.postmortem_json(run_id text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
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
    -- the run's refused statements, also when no sealer wrote them
    PERFORM agent_guard._flush_requests();
    IF NOT EXISTS (SELECT 1 FROM agent_guard.events e WHERE e.run_id = v_run) THEN
        RAISE EXCEPTION 'run "%" is not in the event log', left(v_run, 200)
            USING ERRCODE = 'YG041',
                  HINT = 'See agent_guard.runs for the runs on record (archived events are not reported).';
    END IF;

    -- the state: agent_guard.runs is its one definition (a run label
    -- shared by two agents has a row, and a state, for each)
    SELECT string_agg(DISTINCT r.status, ', ') INTO v_status
      FROM agent_guard.runs r WHERE r.run_id = v_run;

    -- summary: the agent's own acts (humans' acts are listed apart)
    SELECT jsonb_build_object(
               'run_id', v_run,
               'agents', jsonb_agg(DISTINCT e.agent_id) FILTER (WHERE e.agent_id IS NOT NULL),
               'login_roles', jsonb_agg(DISTINCT e.login_role) FILTER (WHERE e.login_role IS NOT NULL
                                                                       AND agent_guard._is_agent_act(e.operation)),
               'acting_roles', jsonb_agg(DISTINCT e.acting_role) FILTER (WHERE e.acting_role IS NOT NULL
                                                                         AND agent_guard._is_agent_act(e.operation)),
               'first_event', min(e.at) FILTER (WHERE agent_guard._is_agent_act(e.operation)),
               'last_event', max(e.at) FILTER (WHERE agent_guard._is_agent_act(e.operation)),
               'duration', max(e.at) FILTER (WHERE agent_guard._is_agent_act(e.operation))
                           - min(e.at) FILTER (WHERE agent_guard._is_agent_act(e.operation)),
               'transactions', count(DISTINCT e.xid) FILTER (WHERE agent_guard._is_agent_act(e.operation)
                                                               AND e.operation <> 'BLOCKED'),
               'statements', count(DISTINCT e.statement_id),
               'rows_changed', count(*) FILTER (WHERE agent_guard._is_row_op(e.operation)),
               'tables_changed', count(DISTINCT e.relation) FILTER (WHERE agent_guard._is_row_op(e.operation)),
               'guard_events', count(*) FILTER (WHERE NOT agent_guard._is_row_op(e.operation)),
               'human_acts', count(*) FILTER (WHERE NOT agent_guard._is_agent_act(e.operation)),
               'status', v_status),
           min(e.login_role) FILTER (WHERE agent_guard._is_agent_act(e.operation))
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

    -- every guard event about the run, whatever its kind; "human" says
    -- whether it is a human's act on the run rather than the agent's
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'event_id', e.event_id, 'at', e.at, 'operation', e.operation, 'relation', e.relation,
               'by', e.login_role, 'agent_id', e.agent_id, 'detail', e.detail,
               'human', NOT agent_guard._is_agent_act(e.operation))
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
               'run_events_sealed', count(c.seal_seq),
               'run_first_seal_seq', min(c.seal_seq),
               'run_last_seal_seq', max(c.seal_seq))
      INTO v_evidence
      FROM agent_guard.events e LEFT JOIN agent_guard.event_seals c ON c.event_id = e.event_id
     WHERE e.run_id = v_run;

    RETURN jsonb_build_object(
        'summary', v_summary || jsonb_build_object(
            'verdict', format('%s changed in %s by %s; %s; %s; the log %s',
                              agent_guard._plural((v_summary->>'rows_changed')::bigint, 'row'),
                              agent_guard._plural((v_summary->>'tables_changed')::bigint, 'table'),
                              agent_guard._plural((v_summary->>'statements')::bigint, 'statement'),
                              agent_guard._plural((v_summary->>'guard_events')::bigint, 'guard event'),
                              CASE WHEN v_status IN ('rolled back', 'partly rolled back') THEN v_status
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

CREATE OR REPLACE VIEW agent_guard.runs AS
    SELECT e.run_id,
           e.agent_id,
           -- the agent's own acts only (_is_agent_act() in 80_evidence.sql):
           -- a human's approval, reset or rollback is not the agent's work
           min(e.login_role) FILTER (WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')) AS login_role,
           min(e.at) FILTER (WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')) AS first_write,
           max(e.at) FILTER (WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')) AS last_write,
           count(DISTINCT e.xid) FILTER (WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')
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
           -- sealed: in agent_guard.seals, or (1.1) its own seal_seq
           count(*) FILTER (WHERE e.seal_seq IS NULL
                              AND (e.event_id > (SELECT cs.sealed_through FROM agent_guard.chain_state cs)
                                   OR (SELECT cs.gaps FROM agent_guard.chain_state cs) @> e.event_id)) AS unsealed,
           -- rollback (70_rollback.sql): how many of its writes are undone
           -- the one definition of a run's state, which the postmortem and
           -- the command line read from here: what was undone first (the
           -- run's outcome), then what holds the run back now
           CASE WHEN count(c.event_id) > 0 AND count(c.event_id) = count(*) FILTER (WHERE e.operation IN
                         ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE')) THEN 'rolled back'
                WHEN count(c.event_id) > 0 THEN 'partly rolled back'
                WHEN EXISTS (SELECT 1 FROM agent_guard.tripped_runs t
                              WHERE t.run_id = e.run_id AND t.agent_id = e.agent_id)
                THEN 'tripped'
                WHEN EXISTS (SELECT 1 FROM agent_guard.freeze_state f
                              WHERE f.scope = '*' OR f.scope = e.agent_id)
                THEN 'frozen'
                WHEN (SELECT r.status FROM agent_guard.request_log r
                       WHERE r.run_id = e.run_id AND r.agent_id = e.agent_id AND r.kind = 'approval'
                       ORDER BY r.request_id DESC LIMIT 1) = 'denied'
                THEN 'denied'
                ELSE 'active' END                                   AS status,
           -- gates (65_gates.sql): attempts refused or held for approval
           count(*) FILTER (WHERE e.operation = 'BLOCKED')          AS blocked,
           -- humans' acts on the run: approvals, denials, resets
           count(*) FILTER (WHERE NOT e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')) AS human_acts
      FROM agent_guard.events e
      LEFT JOIN agent_guard.events c
             ON c.operation = 'COMPENSATE' AND (c.detail->>'undoes')::bigint = e.event_id
     WHERE e.run_id IS NOT NULL
     GROUP BY e.run_id, e.agent_id
     ORDER BY min(e.at);

-- Images print and read back with the output settings the row trigger
-- pins (outputpin.c; red team 15B, finding 1).
ALTER FUNCTION agent_guard._rollback(text, xid8, boolean, text)
    SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C'
    SET quote_all_identifiers = off SET xmloption = content;
ALTER FUNCTION agent_guard.soft_deleted(regclass)
    SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C'
    SET quote_all_identifiers = off SET xmloption = content;
ALTER FUNCTION agent_guard.restore(regclass, jsonb)
    SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C'
    SET quote_all_identifiers = off SET xmloption = content;
ALTER FUNCTION agent_guard.purge(regclass, interval)
    SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C'
    SET quote_all_identifiers = off SET xmloption = content;

-- Approvals (red team 17a): decisions lock the request without waiting
-- and date themselves by the clock; deny() withdraws an approval not used
-- yet; an approval shows expired by the clock.
CREATE FUNCTION agent_guard._lock_request(request_id bigint)
    RETURNS agent_guard.request_log
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v agent_guard.request_log;
BEGIN
    SELECT * INTO v FROM agent_guard.request_log r WHERE r.request_id = _lock_request.request_id FOR UPDATE NOWAIT;
    RETURN v;
EXCEPTION WHEN lock_not_available THEN
    RAISE EXCEPTION 'request % is in use by a transaction that has not ended', request_id
        USING ERRCODE = 'YG005',
              DETAIL = 'The agent''s retry has taken the approval in a transaction that is still open (or another human is deciding the request): the statement stays if that transaction commits, and the approval is back if it rolls back.',
              HINT = 'To stop it, freeze the agent (agent_guard.freeze(reason, agent_id)) or end its session (pg_terminate_backend()); agent_guard.requests shows the outcome.';
END
$$;
REVOKE ALL ON FUNCTION agent_guard._lock_request(bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION agent_guard._check_whole_text(request_id bigint, statement text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v agent_guard.request_log;
BEGIN
    IF request_id IS NULL THEN
        RETURN;
    END IF;
    v := agent_guard._lock_request(request_id);
    IF v.request_id IS NULL THEN
        PERFORM agent_guard._flush_requests();
        v := agent_guard._lock_request(request_id);
    END IF;
    IF v.request_id IS NULL OR v.kind <> 'approval' OR v.status <> 'pending' THEN
        RETURN;
    END IF;
    IF statement IS NULL THEN
        IF v.statement_truncated THEN
            RAISE EXCEPTION 'request % cannot be approved without its whole statement', request_id
                USING ERRCODE = 'YG005',
                      DETAIL = 'The statement was too long to be recorded whole: the request holds only its start (see the last line of its statement in agent_guard.requests), and an approval would let all of it run.',
                      HINT = 'Get the whole statement from the agent and read it, then approve with it: SELECT agent_guard.approve(request_id, note, statement); it must be the text the agent sent. Or deny the request.';
        END IF;
        RETURN;
    END IF;
    IF v.statement_sha256 IS NULL OR agent_guard._statement_sha256(statement) <> v.statement_sha256 THEN
        RAISE EXCEPTION 'the statement given is not the statement of request %', request_id
            USING ERRCODE = 'YG005',
                  DETAIL = CASE WHEN v.statement_sha256 IS NULL
                                THEN 'The request was recorded without the SHA-256 of its text.'
                                ELSE 'Its SHA-256 differs from that of the text the agent sent (leading white space and trailing white space and semicolons aside).' END,
                  HINT = 'Pass the statement exactly as the agent sent it, or deny the request.';
    END IF;
    IF v.statement_truncated THEN
        UPDATE agent_guard.request_log q SET statement = _check_whole_text.statement, statement_truncated = false
         WHERE q.request_id = _check_whole_text.request_id;
    END IF;
END
$$;

CREATE OR REPLACE VIEW agent_guard.requests AS
    SELECT r.request_id, r.requested_at, r.agent_id, r.run_id, r.login_role, r.kind,
           CASE WHEN r.status = 'approved' AND r.expires_at <= clock_timestamp() THEN 'expired'
                ELSE r.status END AS status,
           r.reason, r.statement, r.decided_by, r.decided_at, r.note, r.expires_at, r.used_at,
           r.parameters, r.statement_truncated
      FROM agent_guard.request_log r
    UNION ALL
    -- not yet written: a cut statement ends with a line that says so, and
    -- statement_truncated is known once written (approve() writes it first)
    SELECT p.request_id, p.requested_at, p.agent_id, p.run_id, p.login_role, p.kind,
           CASE WHEN p.kind = 'approval' THEN 'pending' ELSE 'refused' END,
           p.reason, p.statement, NULL, NULL, NULL, NULL, NULL,
           (SELECT pp.parameters FROM agent_guard._pending_request_parameters() pp
             WHERE pp.request_id = p.request_id),
           NULL
      FROM agent_guard._pending_requests() p
     WHERE NOT EXISTS (SELECT 1 FROM agent_guard.request_log r WHERE r.request_id = p.request_id);
COMMENT ON FUNCTION agent_guard.deny(bigint, text) IS 'refuse a pending request, or withdraw an approval not used yet; it is kept on record';

-- An agent's session refused by a humans-only function is on record as
-- every refusal is: a request of kind refused and its BLOCKED event
-- (src/refusal.c).
CREATE FUNCTION agent_guard._refuse_humans_only(fn text) RETURNS void
    AS 'MODULE_PATHNAME', 'ag_sql_refuse_humans_only'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;
REVOKE ALL ON FUNCTION agent_guard._refuse_humans_only(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION agent_guard._require_human(fn text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM agent_guard._refuse_humans_only(fn);
    -- nor by an agent's code in a human's session, with the human's rights
    PERFORM agent_guard._refuse_agent_code(fn);
END
$$;

-- Images written before 1.2, in the forms the update reprints.
--
-- 1.2 prints images under pinned output settings (outputpin.c); 1.1
-- printed them under the writing session's.  The images are sealed (the
-- chain covers every column of an event, 80_evidence.sql), so the update
-- leaves them as they are and keeps here, per event whose images it could
-- reprint, the images in the 1.2 form; _rollback() compares and writes
-- back those instead.  Only top-level columns of the image's table, and
-- only forms that read back exactly and unambiguously (README, Upgrading):
--   timestamptz with its explicit offset   -> the same instant at +00:00
--   bytea in escape form                   -> hex
--   interval in postgres_verbose or iso_8601 style -> postgres style
-- Anything else stays as it was written and still conflicts.  A fresh
-- install has no rows here, and nothing but the update writes any.
CREATE TABLE agent_guard.canonical_images (
    event_id  bigint PRIMARY KEY,
    row_key   jsonb,
    old_row   jsonb,
    new_row   jsonb
);
SELECT pg_catalog.pg_extension_config_dump('agent_guard.canonical_images', '');
COMMENT ON TABLE agent_guard.canonical_images IS
    'images of events written before 1.2, reprinted by the update in the forms 1.2 prints (the sealed images in agent_guard.events are unchanged)';

-- The top-level columns of relation whose values the update may reprint,
-- by name, with their type (a domain's base type, as to_jsonb() prints it;
-- a domain over a domain over a domain over one is not looked at); NULL
-- for none.
CREATE FUNCTION agent_guard._canonical_columns(relation regclass) RETURNS jsonb
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- (PL/pgSQL keeps its plan; the rollback asks once per event)
    RETURN (SELECT jsonb_object_agg(x.name, x.base::regtype::text)
              FROM (SELECT a.attname::text AS name,
                           CASE WHEN t1.typtype <> 'd' THEN t1.oid WHEN t2.typtype <> 'd' THEN t2.oid
                                WHEN t3.typtype <> 'd' THEN t3.oid END AS base
                      FROM pg_attribute a
                      JOIN pg_type t1 ON t1.oid = a.atttypid
                      LEFT JOIN pg_type t2 ON t1.typtype = 'd' AND t2.oid = t1.typbasetype
                      LEFT JOIN pg_type t3 ON t2.typtype = 'd' AND t3.oid = t2.typbasetype
                     WHERE a.attrelid = relation AND a.attnum > 0 AND NOT a.attisdropped) x
             WHERE x.base IN ('timestamptz'::regtype, 'bytea'::regtype, 'interval'::regtype));
END
$$;
COMMENT ON FUNCTION agent_guard._canonical_columns(regclass) IS
    'internal: the columns of a table whose pre-1.2 images the update may reprint, with their types';
REVOKE ALL ON FUNCTION agent_guard._canonical_columns(regclass) FROM PUBLIC;

-- An image (to_jsonb() of a row of a table, or a key made of its values)
-- with the values reprinted that read back exactly into the 1.2 form: each
-- is read, printed again in the form it was found in, and taken only when
-- that gives back the very text.  Everything else is left as it is; any
-- error leaves the whole image as it is.
CREATE FUNCTION agent_guard._canonical_image(columns jsonb, image jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
    -- what the values reprinted print with (to_jsonb() prints dates and
    -- timestamps whatever DateStyle is)
    SET TimeZone = 'UTC' SET IntervalStyle = 'postgres' SET bytea_output = 'hex'
AS $$
DECLARE
    v_s     text;
    v_off   text;
    v_to    text;
    v_ts    timestamptz;
    v_iv    interval;
    v_b     bytea;
    v_style text;
    v_names text[];
    v_types text[];
    v_out   jsonb := image;
    i       integer;
BEGIN
    IF columns IS NULL OR image IS NULL OR jsonb_typeof(image) <> 'object' THEN
        RETURN image;
    END IF;
    -- the columns of those types whose text is not in the 1.2 form already
    SELECT array_agg(c.key), array_agg(c.value #>> '{}') INTO v_names, v_types
      FROM jsonb_each(columns) c
     WHERE jsonb_typeof(image -> c.key) = 'string'
       AND CASE c.value #>> '{}'
               WHEN 'timestamp with time zone' THEN image ->> c.key !~ '\+00:00( BC)?$'
               WHEN 'bytea' THEN left(image ->> c.key, 2) <> '\x'
               WHEN 'interval' THEN image ->> c.key ~ '^(@|P)'
               ELSE false END;
    IF v_names IS NULL THEN
        RETURN image;
    END IF;
    BEGIN
        FOR i IN 1 .. cardinality(v_names) LOOP
            v_s := image ->> v_names[i];
            v_to := NULL;
            IF v_types[i] = 'timestamp with time zone' THEN
                -- to_jsonb() prints the instant in the session's zone with
                -- its offset: read with that offset, whatever TimeZone is
                v_off := substring(v_s from '^\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?([+-]\d\d:\d\d(?::\d\d)?)(?: BC)?$');
                IF v_off IS NOT NULL THEN
                    v_ts := v_s::timestamptz;
                    IF regexp_replace(to_jsonb(v_ts AT TIME ZONE v_off::interval) #>> '{}', '( BC)?$', v_off || '\1') = v_s THEN
                        v_to := to_jsonb(v_ts) #>> '{}';
                    END IF;
                END IF;
            ELSIF v_types[i] = 'bytea' THEN
                -- not \x...: the escape form, which the input reads as such
                PERFORM set_config('bytea_output', 'escape', true);
                v_b := v_s::bytea;
                IF v_b::text = v_s THEN
                    PERFORM set_config('bytea_output', 'hex', true);
                    v_to := v_b::text;
                END IF;
                PERFORM set_config('bytea_output', 'hex', true);
            ELSE
                -- postgres_verbose (@ ...) and iso_8601 (P...) read back as
                -- written under IntervalStyle postgres (sql_standard does not)
                v_style := CASE WHEN v_s ~ '^@' THEN 'postgres_verbose' ELSE 'iso_8601' END;
                v_iv := v_s::interval;
                PERFORM set_config('IntervalStyle', v_style, true);
                IF v_iv::text = v_s THEN
                    PERFORM set_config('IntervalStyle', 'postgres', true);
                    v_to := v_iv::text;
                END IF;
                PERFORM set_config('IntervalStyle', 'postgres', true);
            END IF;
            IF v_to IS NOT NULL AND v_to <> v_s THEN
                v_out := jsonb_set(v_out, ARRAY[v_names[i]], to_jsonb(v_to));
            END IF;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        RETURN image;
    END;
    RETURN v_out;
END
$$;
COMMENT ON FUNCTION agent_guard._canonical_image(jsonb, jsonb) IS
    'internal: an image written before 1.2 with the values reprinted that read back exactly into the form 1.2 prints';
REVOKE ALL ON FUNCTION agent_guard._canonical_image(jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON agent_guard.canonical_images FROM PUBLIC;
CREATE TRIGGER ag_replicated_row BEFORE INSERT OR UPDATE OR DELETE ON agent_guard.canonical_images
    FOR EACH ROW EXECUTE FUNCTION agent_guard._replicated_row();
ALTER TABLE agent_guard.canonical_images ENABLE REPLICA TRIGGER ag_replicated_row;

-- The images of the rows agents wrote before the update, reprinted where
-- they read back exactly (see above); events of tables with no column of
-- those types are not looked at.
INSERT INTO agent_guard.canonical_images (event_id, row_key, old_row, new_row)
SELECT x.event_id, x.row_key, x.old_row, x.new_row
  FROM (SELECT e.event_id, e.row_key AS was_key, e.old_row AS was_old, e.new_row AS was_new,
               agent_guard._canonical_image(r.cols, e.row_key) AS row_key,
               agent_guard._canonical_image(r.cols, e.old_row) AS old_row,
               agent_guard._canonical_image(r.cols, e.new_row) AS new_row
          FROM agent_guard.events e
          JOIN (SELECT t.relation, agent_guard._canonical_columns(to_regclass(t.relation)) AS cols
                  FROM (SELECT DISTINCT e2.relation FROM agent_guard.events e2
                         WHERE e2.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE')) t) r
            ON r.relation = e.relation AND r.cols IS NOT NULL
         WHERE e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE')) x
 WHERE ROW(x.row_key, x.old_row, x.new_row) IS DISTINCT FROM ROW(x.was_key, x.was_old, x.was_new);

-- Approvals (red team 17a, F1, F3): a request whose reason cuts the text
-- the statement runs (a prepared statement's, a function's query) is
-- approved only with that text whole, checked by its SHA-256; a row
-- limit's request says its rows per table, and its approval caps each
-- table at its count (src/gate.c).
ALTER TABLE agent_guard.request_log ADD COLUMN table_rows jsonb;
ALTER TABLE agent_guard.request_log ADD COLUMN source_truncated boolean NOT NULL DEFAULT false;
ALTER TABLE agent_guard.request_log ADD COLUMN source_sha256 bytea
    CHECK (octet_length(source_sha256) = 32);
ALTER TABLE agent_guard.request_log ADD COLUMN source text;

CREATE OR REPLACE FUNCTION agent_guard._decide(request_id bigint, note text, verdict text)
    RETURNS agent_guard.request_log
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_req agent_guard.request_log;
    v_ttl interval := current_setting('agent_guard.approval_ttl')::interval;
    v_revoke boolean := false;
BEGIN
    IF request_id IS NULL THEN
        RAISE EXCEPTION 'request_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    v_req := agent_guard._lock_request(request_id);
    IF v_req.request_id IS NULL THEN
        PERFORM agent_guard._flush_requests();
        v_req := agent_guard._lock_request(request_id);
    END IF;
    IF v_req.request_id IS NULL THEN
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
    -- an approval not used yet can be withdrawn
    v_revoke := verdict = 'denied' AND v_req.status = 'approved';
    IF v_req.status <> 'pending' AND NOT v_revoke THEN
        RAISE EXCEPTION 'request % is already %', request_id, v_req.status
            USING ERRCODE = 'YG005',
                  DETAIL = CASE WHEN v_req.decided_by IS NOT NULL
                                THEN format('It was %s by %s; see agent_guard.requests for when.', v_req.status, v_req.decided_by)
                                ELSE format('Its status is %s.', v_req.status) END;
    END IF;
    UPDATE agent_guard.request_log r
       SET status = verdict, decided_by = session_user, decided_at = clock_timestamp(), note = _decide.note,
           expires_at = CASE WHEN verdict = 'approved' THEN clock_timestamp() + v_ttl END
     WHERE r.request_id = _decide.request_id
    RETURNING * INTO v_req;
    INSERT INTO agent_guard.events (agent_id, run_id, login_role, acting_role, operation, detail)
    VALUES (v_req.agent_id, v_req.run_id, session_user, agent_guard.calling_role()::text,
            CASE verdict WHEN 'approved' THEN 'APPROVED' ELSE 'DENIED' END,
            jsonb_build_object('request_id', v_req.request_id, 'note', note,
                               'statement', v_req.statement, 'expires_at', v_req.expires_at)
            || CASE WHEN v_req.source IS NOT NULL THEN jsonb_build_object('source', v_req.source) ELSE '{}'::jsonb END
            || CASE WHEN v_revoke THEN jsonb_build_object('revoked', true) ELSE '{}'::jsonb END);
    PERFORM agent_guard._wake(jsonb_build_object(
        'event', CASE WHEN v_revoke THEN 'revoked' ELSE verdict END,
        'request_id', v_req.request_id, 'agent_id', v_req.agent_id,
        'by', session_user));
    RETURN v_req;
END
$$;

CREATE OR REPLACE FUNCTION agent_guard._check_whole_text(request_id bigint, statement text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v agent_guard.request_log;
BEGIN
    IF request_id IS NULL THEN
        RETURN;
    END IF;
    v := agent_guard._lock_request(request_id);
    IF v.request_id IS NULL THEN
        PERFORM agent_guard._flush_requests();
        v := agent_guard._lock_request(request_id);
    END IF;
    IF v.request_id IS NULL OR v.kind <> 'approval' OR v.status <> 'pending' THEN
        RETURN;
    END IF;
    IF v.statement_truncated AND v.source_truncated THEN
        RAISE EXCEPTION 'request % cannot be approved: its statement and the text it runs are both cut', request_id
            USING ERRCODE = 'YG005',
                  DETAIL = 'The statement was too long to be recorded whole, and the reason shows only the start of the text it runs (a prepared statement''s or a function''s query); an approval would let all of both run, and one text cannot stand for both.',
                  HINT = 'Deny the request; when the agent sends the statement shorter, its new request can be approved with the whole text it runs.';
    END IF;
    IF statement IS NULL THEN
        IF v.statement_truncated THEN
            RAISE EXCEPTION 'request % cannot be approved without its whole statement', request_id
                USING ERRCODE = 'YG005',
                      DETAIL = 'The statement was too long to be recorded whole: the request holds only its start (see the last line of its statement in agent_guard.requests), and an approval would let all of it run.',
                      HINT = 'Get the whole statement from the agent and read it, then approve with it: SELECT agent_guard.approve(request_id, note, statement); it must be the text the agent sent. Or deny the request.';
        END IF;
        IF v.source_truncated THEN
            RAISE EXCEPTION 'request % cannot be approved without the whole text it runs', request_id
                USING ERRCODE = 'YG005',
                      DETAIL = 'The statement runs a text of its own (the prepared statement an EXECUTE runs, or the query of a function it calls), of which the reason shows only the start ("... (N more characters)"), and an approval would let all of it run.',
                      HINT = 'Get the whole text from the agent (a prepared statement''s is in pg_prepared_statements in its session) and read it, then approve with it: SELECT agent_guard.approve(request_id, note, text); it must be the text the statement runs. Or deny the request.';
        END IF;
        RETURN;
    END IF;
    IF v.source_truncated THEN
        IF v.source_sha256 IS NULL OR agent_guard._statement_sha256(statement) <> v.source_sha256 THEN
            RAISE EXCEPTION 'the text given is not the text request % runs', request_id
                USING ERRCODE = 'YG005',
                      DETAIL = 'The reason shows only the start of the text the statement runs, and an approval needs that text whole: the SHA-256 of the text given differs from that of the text the statement runs (leading white space and trailing white space and semicolons aside).',
                      HINT = 'Pass the whole text the statement runs (for an EXECUTE, the prepared statement''s text as pg_prepared_statements shows it in the agent''s session), or deny the request.';
        END IF;
        UPDATE agent_guard.request_log q SET source = _check_whole_text.statement, source_truncated = false
         WHERE q.request_id = _check_whole_text.request_id;
        RETURN;
    END IF;
    IF v.statement_sha256 IS NULL OR agent_guard._statement_sha256(statement) <> v.statement_sha256 THEN
        RAISE EXCEPTION 'the statement given is not the statement of request %', request_id
            USING ERRCODE = 'YG005',
                  DETAIL = CASE WHEN v.statement_sha256 IS NULL
                                THEN 'The request was recorded without the SHA-256 of its text.'
                                ELSE 'Its SHA-256 differs from that of the text the agent sent (leading white space and trailing white space and semicolons aside).' END,
                  HINT = 'Pass the statement exactly as the agent sent it, or deny the request.';
    END IF;
    IF v.statement_truncated THEN
        UPDATE agent_guard.request_log q SET statement = _check_whole_text.statement, statement_truncated = false
         WHERE q.request_id = _check_whole_text.request_id;
    END IF;
END
$$;

COMMENT ON FUNCTION agent_guard.approve(bigint, text, text) IS
    'approve with the whole text the human read: needed when the request holds only the start of its statement (statement_truncated), or its reason only the start of the text the statement runs (source_truncated); it must be that text whole';


-- Row security as it was before protect(), per relation (red team 25, F1):
-- 1.1 kept it in protected_tables.rls_before by the relation's name, which
-- a rename or a restore loses.  Its states move here, each name resolved
-- now; one that names no relation, or a relation without the guard's
-- soft-delete policy (not the one it was kept for), is dropped, with a
-- WARNING (an extension script shows nothing below one).
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
SELECT pg_catalog.pg_extension_config_dump('agent_guard.rls_before', '');
REVOKE ALL ON agent_guard.rls_before FROM PUBLIC;
CREATE TRIGGER ag_replicated_row BEFORE INSERT OR UPDATE OR DELETE ON agent_guard.rls_before
    FOR EACH ROW EXECUTE FUNCTION agent_guard._replicated_row();
ALTER TABLE agent_guard.rls_before ENABLE REPLICA TRIGGER ag_replicated_row;

DO $$
DECLARE
    v   record;
    rel regclass;
BEGIN
    -- a child two protected tables covered: the later protect() kept the state
    FOR v IN SELECT e.key, e.value
               FROM agent_guard.protected_tables p, jsonb_each(p.rls_before) e
              WHERE jsonb_typeof(p.rls_before) = 'object'
              ORDER BY p.protected_at DESC LOOP
        rel := pg_catalog.to_regclass(v.key);
        IF rel IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy po
                                       WHERE po.polrelid = rel AND po.polname = 'ag_hide_deleted') THEN
            RAISE WARNING 'row security of "%" before protect() was not kept: %', v.key,
                CASE WHEN rel IS NULL THEN 'no such relation'
                     ELSE 'it does not have the guard''s soft-delete policy' END
                USING HINT = 'If the table was renamed since protect(), check its row security once it is unprotected (ALTER TABLE ... DISABLE ROW LEVEL SECURITY, or NO FORCE ROW LEVEL SECURITY).';
            CONTINUE;
        END IF;
        INSERT INTO agent_guard.rls_before (relation, row_security, force_row_security)
        VALUES (rel, (v.value ->> 0)::boolean, (v.value ->> 1)::boolean)
        ON CONFLICT ON CONSTRAINT rls_before_pkey DO NOTHING;
    END LOOP;
END
$$;
ALTER TABLE agent_guard.protected_tables DROP COLUMN rls_before;

DROP FUNCTION agent_guard._soft_rls_on(regclass);
DROP FUNCTION agent_guard._soft_rls_off(regclass, jsonb);
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

REVOKE ALL ON FUNCTION agent_guard._soft_rls_on(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._soft_rls_off(regclass) FROM PUBLIC;

-- Undo what protect() did to an inheritance child it covered: the guard's
-- triggers, and the child's row security as it was before, kept in
-- agent_guard.rls_before (and forgotten there).  The state is used only
-- while the child has the soft-delete policy it goes with.
CREATE OR REPLACE FUNCTION agent_guard._uncover_child(child regclass) RETURNS void
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


CREATE OR REPLACE FUNCTION agent_guard.protect(relation regclass, soft_delete boolean DEFAULT true)
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

    INSERT INTO agent_guard.protected_tables AS p (relation, soft_delete, key_columns)
    VALUES (protect.relation, protect.soft_delete, v_keys)
    ON CONFLICT ON CONSTRAINT protected_tables_pkey
    DO UPDATE SET soft_delete = EXCLUDED.soft_delete, key_columns = EXCLUDED.key_columns,
                  protected_at = now(), protected_by = session_user;

    PERFORM agent_guard._log('PROTECT', relation::text,
        jsonb_build_object('soft_delete', soft_delete, 'key_columns', to_jsonb(v_keys))
        || CASE WHEN cardinality(v_children) > 0
                THEN jsonb_build_object('children', to_jsonb(v_children::text[])) ELSE '{}' END);
END
$$;


CREATE OR REPLACE FUNCTION agent_guard.unprotect(relation regclass) RETURNS void
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


CREATE OR REPLACE FUNCTION agent_guard._protected_dropped() RETURNS event_trigger
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

-- Put by the planner into a foreign key's check of a soft-delete table
-- (softref.c), for a referenced row that is soft-deleted: an agent's write
-- that makes a row reference it is refused (YG004); a human's passes.  The
-- check runs as the referenced table's owner: everyone may execute it; it
-- refuses to run outside a foreign key's check.
CREATE FUNCTION agent_guard._soft_reference(relation oid, row_data record) RETURNS boolean
    AS 'MODULE_PATHNAME', 'ag_sql_soft_reference'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION agent_guard._soft_reference(oid, record) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._soft_reference(oid, record) TO PUBLIC;

-- Planted by the planner in place of nextval() in the plans of an agent
-- whose policy has a tables list: it refuses a sequence the policy does not
-- let the agent advance, however it is named (policy.c), then advances it.
CREATE FUNCTION agent_guard._nextval(regclass) RETURNS bigint
    AS 'MODULE_PATHNAME', 'ag_sql_nextval'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION agent_guard._nextval(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agent_guard._nextval(regclass) TO PUBLIC;

-- Red team 30, F7: a human's write wins over the soft-deleted rows holding
-- the keys its row needs (src/softkeys.c).  protected_tables.soft_rows says
-- whether a table may hold soft-deleted rows (while false, humans' writes
-- do not look); a table protected before may: true.
ALTER TABLE agent_guard.protected_tables ADD COLUMN soft_rows boolean NOT NULL DEFAULT true;

CREATE OR REPLACE FUNCTION agent_guard.protect(relation regclass, soft_delete boolean DEFAULT true)
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

-- What removing the soft-deleted rows that hold a human's new row's keys
-- would set off (red team 32, F3): from those rows (rows_: their table, tid
-- and image), through every foreign key that references their table with
-- CASCADE, SET NULL or SET DEFAULT, to the rows that reference them, and
-- on through the rows a cascade deletes, each level read as the
-- referencing table's owner and locked FOR UPDATE, as _purge_reach() reads
-- them.  An agent's soft delete does its foreign keys' ON DELETE actions
-- to the live rows (softcasc.c), so what is left is what the agent's hard
-- delete would have taken with the row: soft-deleted rows under a CASCADE,
-- returned ([{"rel": oid, "img": image}, ...]) to be purged with it, each
-- logged.  A live row there (one a human pointed at the row, or one from
-- before), or any row a SET NULL or SET DEFAULT would change, refuses the
-- human's write (YG050), naming the row, the run, the foreign key and how
-- many rows: the actions would change rows that no event records.
CREATE FUNCTION agent_guard._held_keys_reach(relation regclass, rows_ jsonb) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_queue  jsonb;             -- [{"rel": oid, "imgs": [image, ...]}, ...]
    v_seen   jsonb;             -- {"oid/tid": true} of the rows met
    v_i      integer := 0;
    v_first  integer;           -- the queue's entries of the rows to remove
    v_rel    oid;
    v_imgs   jsonb;
    v_fk     record;
    v_res    jsonb;
    v_new    jsonb;
    v_gone   jsonb := '[]';
    v_holder jsonb := rows_ -> 0 -> 'img';
    v_n      bigint;
BEGIN
    SELECT jsonb_agg(jsonb_build_object('rel', g.rel, 'imgs', g.imgs)) INTO v_queue
      FROM (SELECT e.value ->> 'rel' AS rel, jsonb_agg(e.value -> 'img') AS imgs
              FROM jsonb_array_elements(rows_) e GROUP BY 1) g;
    SELECT jsonb_object_agg((e.value ->> 'rel') || '/' || (e.value ->> 'tid'), true) INTO v_seen
      FROM jsonb_array_elements(rows_) e;
    v_first := coalesce(jsonb_array_length(v_queue), 0);
    WHILE v_i < coalesce(jsonb_array_length(v_queue), 0) LOOP
        v_rel := (v_queue -> v_i ->> 'rel')::oid;
        v_imgs := v_queue -> v_i -> 'imgs';
        v_i := v_i + 1;
        FOR v_fk IN
            SELECT c.conname, c.conrelid::regclass AS child, c.confdeltype AS act,
                   (SELECT string_agg(format('k.%I OPERATOR(%I.%s) r.%I',
                                             pa.attname, n.nspname, o.oprname, ca.attname), ' AND ' ORDER BY k.o)
                      FROM unnest(c.conkey, c.confkey, c.conpfeqop) WITH ORDINALITY AS k(cn, pn, op, o)
                      JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.cn
                      JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.pn
                      JOIN pg_operator o ON o.oid = k.op
                      JOIN pg_namespace n ON n.oid = o.oprnamespace) AS cond,
                   (SELECT array_agg(pa.attname::text ORDER BY k.o)
                      FROM unnest(c.confkey) WITH ORDINALITY AS k(pn, o)
                      JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.pn) AS pcols,
                   EXISTS (SELECT 1 FROM pg_attribute a
                            WHERE a.attrelid = c.conrelid AND a.attname = 'ag_deleted_at'
                              AND NOT a.attisdropped) AS soft
              FROM pg_constraint c
             WHERE c.contype = 'f' AND c.conparentid = 0 AND c.confdeltype IN ('c', 'n', 'd')
               AND (c.confrelid = v_rel
                    OR c.confrelid IN (SELECT a.relid FROM pg_partition_ancestors(v_rel) a))
             ORDER BY c.conrelid::regclass::text, c.conname
        LOOP
            v_res := agent_guard._owner_query(v_fk.child, format(
                'WITH l AS (SELECT r.tableoid AS rel, r.ctid AS tid, (%1$s) AS live,
                                   agent_guard._row_image(r.*) AS img
                              FROM pg_catalog.jsonb_array_elements($1) AS e
                             CROSS JOIN LATERAL %3$s
                              JOIN %2$s r ON %4$s
                               FOR UPDATE OF r)
                 SELECT pg_catalog.jsonb_build_object(
                            ''live'', count(*) FILTER (WHERE l.live),
                            ''all'', count(*),
                            ''rows'', COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(''rel'', l.rel, ''tid'', l.tid, ''img'', l.img)),
                                               ''[]''::pg_catalog.jsonb))
                   FROM l',
                CASE WHEN v_fk.soft THEN 'r.ag_deleted_at IS NULL' ELSE 'true' END,
                agent_guard._only(v_fk.child),
                agent_guard._typed_key(v_rel::regclass, v_fk.pcols, 'e.value', 'k'), v_fk.cond),
                v_imgs);
            v_n := CASE WHEN v_fk.act = 'c' THEN (v_res ->> 'live')::bigint ELSE (v_res ->> 'all')::bigint END;
            IF v_n > 0 THEN
                RAISE EXCEPTION 'the new row of % conflicts with a row agent "%" soft-deleted in run "%", which % of % still reference',
                                relation, coalesce(v_holder ->> 'ag_agent_id', '(none)'), coalesce(v_holder ->> 'ag_run_id', '(none)'),
                                CASE WHEN v_fk.act = 'c' THEN 'live rows' ELSE 'rows' END, v_fk.child
                    USING ERRCODE = 'YG050',
                          DETAIL = format('The soft-deleted row %s holds a key the new row needs; removing it, as the hard delete the agent asked for would have, would %s %s of %s through foreign key "%s" (ON DELETE %s)%s.',
                                          coalesce((SELECT jsonb_object_agg(k, v_holder -> k)
                                                      FROM unnest((SELECT p.key_columns FROM agent_guard.protected_tables p
                                                                    WHERE p.relation = _held_keys_reach.relation)) AS k), '{}'),
                                          CASE v_fk.act WHEN 'c' THEN 'delete' ELSE 'change' END,
                                          agent_guard._plural(v_n, CASE WHEN v_fk.act = 'c' THEN 'live row' ELSE 'row' END),
                                          v_fk.child, v_fk.conname,
                                          CASE v_fk.act WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END,
                                          CASE WHEN v_i <= v_first THEN ''
                                               ELSE format(', through the rows it would delete in %s', v_rel::regclass) END),
                          HINT = format('Nothing was written.  Bring the row back with agent_guard.restore(), roll back run "%s" with agent_guard.rollback_run(), or delete or re-point the rows of %s that reference it, then retry.',
                                        coalesce(v_holder ->> 'ag_run_id', '(none)'), v_fk.child);
            END IF;
            CONTINUE WHEN v_fk.act <> 'c';
            -- the soft-deleted rows the cascade deletes: purged with the
            -- row, logged; their own references come next
            SELECT jsonb_agg(x.value) INTO v_new
              FROM jsonb_array_elements(v_res -> 'rows') x
             WHERE NOT v_seen ? ((x.value ->> 'rel') || '/' || (x.value ->> 'tid'));
            IF v_new IS NOT NULL THEN
                v_seen := v_seen || (SELECT jsonb_object_agg((x.value ->> 'rel') || '/' || (x.value ->> 'tid'), true)
                                       FROM jsonb_array_elements(v_new) x);
                v_gone := v_gone || (SELECT jsonb_agg(jsonb_build_object('rel', x.value -> 'rel', 'img', x.value -> 'img'))
                                       FROM jsonb_array_elements(v_new) x);
                v_queue := v_queue || (SELECT jsonb_agg(jsonb_build_object('rel', g.rel, 'imgs', g.imgs))
                                         FROM (SELECT x.value ->> 'rel' AS rel, jsonb_agg(x.value -> 'img') AS imgs
                                                 FROM jsonb_array_elements(v_new) x GROUP BY 1) g);
            END IF;
        END LOOP;
    END LOOP;
    RETURN v_gone;
END
$$;
COMMENT ON FUNCTION agent_guard._held_keys_reach(regclass, jsonb) IS
    'internal: refuse (YG050) a human''s write whose implicit purge would set off ON DELETE actions on rows no event records; the soft-deleted rows its cascades delete';
REVOKE ALL ON FUNCTION agent_guard._held_keys_reach(regclass, jsonb) FROM PUBLIC;

-- A human's write into a soft-delete table wins over the soft-deleted rows
-- that hold a unique or exclusion key its row needs (red team 30, F7): the
-- stamp trigger finds them (softkeys.c) and calls this, as the extension
-- owner, before the row is written.  rows_: [{"rel": oid, "tid": tid}, ...].
-- They are purged as agent_guard.purge() purges: locked, still
-- soft-deleted, as the table's owner, each logged as PURGE with its image.
-- Where a foreign key with an ON DELETE action references the table, its
-- actions would run inside the human's write on other tables' rows,
-- unlogged (red team 32, F1): _held_keys_reach() refuses (YG050) when they
-- would reach a live row or change one, and otherwise gives the
-- soft-deleted rows its cascades delete, logged as PURGE too (red team 32,
-- F3).  Nor where a DELETE trigger or rule of the table, or of a table its
-- cascades reach, would fire (red team 33, F2).  Internal: EXECUTE is
-- revoked from PUBLIC (99_privileges.sql).
CREATE FUNCTION agent_guard._purge_held_keys(relation regclass, rows_ jsonb) RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    -- images print and read back as the row trigger prints them (outputpin.c)
    SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C'
    SET quote_all_identifiers = off SET xmloption = content
AS $$
DECLARE
    v_keys  text[];
    v_rows  jsonb;
    v_gone  jsonb;
    v_count bigint;
    v_casc  jsonb := '[]';
    v_code  text;
BEGIN
    PERFORM agent_guard._require_human('agent_guard._purge_held_keys()');
    SELECT p.key_columns INTO v_keys FROM agent_guard.protected_tables p
     WHERE p.relation = _purge_held_keys.relation;
    IF v_keys IS NULL THEN
        v_keys := agent_guard._key_columns(relation);   -- a covered inheritance child
    END IF;
    v_rows := agent_guard._owner_query(relation, format(
        'WITH l AS (SELECT t.tableoid AS rel, t.ctid AS tid, agent_guard._row_image(t.*) AS img
                      FROM %1$s t
                     WHERE t.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT (e.value OPERATOR(pg_catalog.->>) ''tid'')::pg_catalog.tid
                                                                     FROM pg_catalog.jsonb_array_elements($1) e))
                       AND (t.tableoid, t.ctid) IN (SELECT (e.value OPERATOR(pg_catalog.->>) ''rel'')::pg_catalog.oid,
                                                           (e.value OPERATOR(pg_catalog.->>) ''tid'')::pg_catalog.tid
                                                      FROM pg_catalog.jsonb_array_elements($1) e)
                       AND t.ag_deleted_at IS NOT NULL
                       FOR UPDATE OF t)
         SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(''rel'', l.rel, ''tid'', l.tid, ''img'', l.img)) FROM l',
        agent_guard._only(relation)),
        rows_);
    IF v_rows IS NULL THEN
        RETURN 0;
    END IF;
    -- Its ON DELETE actions would run inside the human's write, on rows of
    -- other tables that no event records (red team 32, F1): only where
    -- they reach nothing live and change nothing; the soft-deleted rows
    -- their cascades delete are purged with it, logged (red team 32, F3).
    IF EXISTS (SELECT 1 FROM pg_constraint c
                WHERE c.contype = 'f' AND c.confdeltype IN ('c', 'n', 'd')
                  AND (c.confrelid = relation
                       OR c.confrelid IN (SELECT p.relid FROM pg_partition_tree(relation) p)
                       OR c.confrelid IN (SELECT a.relid FROM pg_partition_ancestors(relation) a))) THEN
        v_casc := agent_guard._held_keys_reach(relation, v_rows);
    END IF;
    -- The same for the table's own DELETE triggers and rules (red team 33,
    -- F2): an application's cascade by trigger deletes other tables' rows,
    -- humans' included, with no event; a trigger that skips the delete or a
    -- DO ALSO rule makes the human's write fail for a reason it never chose.
    -- What they do cannot be known, so a human's write never sets them off.
    -- The tables the purge deletes from: the table, its partitions, and the
    -- tables (with their partitioned ancestors) its cascades reach.
    WITH tabs AS (SELECT relation::oid AS r
                  UNION SELECT p.relid FROM pg_partition_tree(relation) p
                  UNION SELECT (e.value ->> 'rel')::oid FROM jsonb_array_elements(v_casc) e
                  UNION SELECT a.relid FROM jsonb_array_elements(v_casc) e
                                      CROSS JOIN LATERAL pg_partition_ancestors((e.value ->> 'rel')::oid) a)
    SELECT string_agg(s.what, ', ' ORDER BY s.what) INTO v_code
      FROM (SELECT format('trigger "%s" on table %s', t.tgname, t.tgrelid::regclass) AS what
              FROM pg_trigger t JOIN pg_proc f ON f.oid = t.tgfoid
             WHERE NOT t.tgisinternal AND t.tgenabled <> 'D'
               AND (t.tgtype::integer & 8) <> 0              -- TRIGGER_TYPE_DELETE
               AND f.pronamespace <> 'agent_guard'::regnamespace
               AND t.tgrelid IN (SELECT tabs.r FROM tabs)
            UNION ALL
            SELECT format('rule "%s" on table %s', r.rulename, r.ev_class::regclass)
              FROM pg_rewrite r
             WHERE r.ev_type = '4' AND r.ev_enabled <> 'D'  -- ON DELETE
               AND r.ev_class IN (SELECT tabs.r FROM tabs)) s;
    IF v_code IS NOT NULL THEN
        RAISE EXCEPTION 'a row an agent soft-deleted in % holds a key of the new row, and is not purged implicitly', relation
            USING ERRCODE = 'YG050',
                  DETAIL = format('Purging it would fire %s inside your write.', v_code),
                  HINT = format('Nothing was written.  See agent_guard.soft_deleted(%L): restore the row, or have the table''s owner remove it with agent_guard.purge() after checking what that code does, then write again.', relation::text);
    END IF;
    -- A NO ACTION or RESTRICT key (temporal or not) that references them
    -- stops the purge (red team 33, F7): the human is told so, not handed
    -- PostgreSQL's error about a delete they did not run.
    BEGIN
    v_gone := agent_guard._owner_purge(relation, format(
        'WITH gone AS (DELETE FROM %1$s t
                        WHERE t.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT (e.value OPERATOR(pg_catalog.->>) ''tid'')::pg_catalog.tid
                                                                        FROM pg_catalog.jsonb_array_elements($1) e))
                          AND (t.tableoid, t.ctid) IN (SELECT (e.value OPERATOR(pg_catalog.->>) ''rel'')::pg_catalog.oid,
                                                              (e.value OPERATOR(pg_catalog.->>) ''tid'')::pg_catalog.tid
                                                         FROM pg_catalog.jsonb_array_elements($1) e)
                       RETURNING agent_guard._row_image(t.*) AS img)
         SELECT pg_catalog.jsonb_agg(gone.img) FROM gone',
        agent_guard._only(relation)),
        (SELECT jsonb_agg(jsonb_build_object('rel', e.value -> 'rel', 'tid', e.value -> 'tid'))
           FROM jsonb_array_elements(v_rows) e));
    EXCEPTION WHEN foreign_key_violation THEN
        RAISE EXCEPTION 'a row an agent soft-deleted in % holds a key of the new row, and is not purged implicitly: rows of other tables reference it', relation
            USING ERRCODE = 'YG050',
                  DETAIL = format('Purging it was stopped by a foreign key: %s', SQLERRM),
                  HINT = format('Nothing was written.  See agent_guard.soft_deleted(%L): restore the row, or deal with the rows that reference it and remove it with agent_guard.purge(), then write again.', relation::text);
    END;
    IF coalesce(jsonb_array_length(v_gone), 0) <> jsonb_array_length(v_rows) THEN
        RAISE EXCEPTION 'could not purge %: % of % locked rows were deleted', relation,
                        coalesce(jsonb_array_length(v_gone), 0), jsonb_array_length(v_rows);
    END IF;
    INSERT INTO agent_guard.events (login_role, acting_role, relation, operation, row_key, old_row)
    SELECT session_user, agent_guard.calling_role()::text, relation::text, 'PURGE',
           (SELECT jsonb_object_agg(k, g.img -> k) FROM unnest(v_keys) AS k), g.img
      FROM jsonb_array_elements(v_gone) WITH ORDINALITY AS g(img, n)
     ORDER BY g.n;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    -- the soft-deleted rows its cascades deleted, under their protected
    -- table's name (a partition's rows under its partitioned table's)
    INSERT INTO agent_guard.events (login_role, acting_role, relation, operation, row_key, old_row)
    SELECT session_user, agent_guard.calling_role()::text, t.rel::regclass::text, 'PURGE',
           (SELECT jsonb_object_agg(k, g.value -> 'img' -> k)
              FROM unnest(coalesce(p.key_columns, agent_guard._key_columns(t.rel::regclass))) AS k),
           g.value -> 'img'
      FROM jsonb_array_elements(v_casc) WITH ORDINALITY AS g(value, n)
     CROSS JOIN LATERAL (SELECT coalesce((SELECT a.relid FROM pg_partition_ancestors((g.value ->> 'rel')::oid) a
                                            JOIN agent_guard.protected_tables pt ON pt.relation = a.relid
                                           LIMIT 1),
                                         (g.value ->> 'rel')::oid) AS rel) t
      LEFT JOIN agent_guard.protected_tables p ON p.relation = t.rel
     ORDER BY g.n;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION agent_guard._purge_held_keys(regclass, jsonb) IS
    'internal: purge the soft-deleted rows that hold keys a human''s row needs (called by the stamp trigger)';
REVOKE ALL ON FUNCTION agent_guard._purge_held_keys(regclass, jsonb) FROM PUBLIC;

-- restore() does not bring back a row whose referenced row is gone (red
-- team 30, F6)
CREATE OR REPLACE FUNCTION agent_guard.restore(relation regclass, row_key jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    -- images print and read back as the row trigger prints them (outputpin.c)
    SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C'
    SET quote_all_identifiers = off SET xmloption = content
AS $$
DECLARE
    v_keys text[] := agent_guard._soft_table(relation, 'agent_guard.restore()');
    v_old  jsonb;
    v_new  jsonb;
    v_res  jsonb;
    v_fk   record;
    v_ref  jsonb;
BEGIN
    IF row_key IS NULL OR jsonb_typeof(row_key) <> 'object'
       OR NOT row_key ?& v_keys THEN
        RAISE EXCEPTION 'row key must be a JSON object with the key columns of %', relation
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The key columns are %s.', array_to_string(v_keys, ', ')),
                  HINT = 'See agent_guard.soft_deleted() for the keys of deleted rows.';
    END IF;
    -- the row is found and written as the table's owner (agent_guard._owner_query)
    v_res := agent_guard._owner_query(relation, format(
        'WITH r AS (SELECT * FROM %3$s), '
        '     old AS (SELECT agent_guard._row_image(t.*) AS img, t.tableoid AS rel, t.ctid AS tid FROM %1$s t, r '
        '              WHERE %2$s AND t.ag_deleted_at IS NOT NULL FOR UPDATE OF t), '
        '     upd AS (UPDATE %1$s t SET ag_deleted_at = NULL FROM old WHERE t.tableoid OPERATOR(pg_catalog.=) old.rel AND t.ctid OPERATOR(pg_catalog.=) old.tid '
        '             RETURNING old.img, agent_guard._row_image(t.*) AS new_img) '
        'SELECT jsonb_build_array(upd.img, upd.new_img) FROM upd', agent_guard._only(relation), agent_guard._key_match(v_keys), agent_guard._typed_key(relation, v_keys, '$1', 'r')),
        row_key);
    v_old := v_res -> 0;
    v_new := v_res -> 1;
    IF v_old IS NULL THEN
        RAISE EXCEPTION 'no soft-deleted row of % has key %', relation, row_key
            USING ERRCODE = 'no_data_found',
                  HINT = 'See agent_guard.soft_deleted() for the keys of deleted rows.';
    END IF;
    -- PostgreSQL does not check a foreign key the update leaves as it was:
    -- a row whose referenced row is gone is not brought back as an orphan
    -- (red team 30, F6).  Each referenced table is read as its owner, so a
    -- soft-deleted parent (there, not gone) counts.
    FOR v_fk IN
        SELECT c.conname, c.confrelid::regclass AS parent,
               array_agg(a.attname::text ORDER BY k.n) AS cols,
               array_agg(pa.attname::text ORDER BY k.n) AS pcols
          FROM pg_constraint c
         CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(ck, pk, n)
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.ck
          JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.pk
         WHERE c.contype = 'f' AND c.conrelid = relation
           AND NOT EXISTS (SELECT FROM pg_constraint u
                            WHERE u.oid = c.conparentid AND u.conrelid = c.conrelid)
         GROUP BY c.oid, c.conname, c.confrelid
         ORDER BY c.conname
    LOOP
        SELECT jsonb_object_agg(u.pc, v_new -> u.col) INTO v_ref
          FROM unnest(v_fk.cols, v_fk.pcols) AS u(col, pc);
        CONTINUE WHEN EXISTS (SELECT FROM jsonb_each(v_ref) AS e WHERE e.value = 'null');
        IF NOT (agent_guard._owner_query(v_fk.parent, format(
                    'SELECT to_jsonb(EXISTS (SELECT FROM %1$s t, %3$s WHERE %2$s))',
                    agent_guard._only(v_fk.parent), agent_guard._key_match(v_fk.pcols),
                    agent_guard._typed_key(v_fk.parent, v_fk.pcols, '$1', 'r')),
                    v_ref))::boolean THEN
            RAISE EXCEPTION 'cannot restore row % of %: it references a row of % that is gone', row_key, relation, v_fk.parent
                USING ERRCODE = 'foreign_key_violation',
                      DETAIL = format('Foreign key "%s" references %s %s, which is not there.', v_fk.conname, v_fk.parent, v_ref),
                      HINT = 'Bring that row back first (agent_guard.restore(), or agent_guard.rollback_run() of the run that deleted it), or remove this row for good with agent_guard.purge().';
        END IF;
    END LOOP;
    INSERT INTO agent_guard.events (login_role, acting_role, relation, operation, row_key, old_row, new_row)
    VALUES (session_user, agent_guard.calling_role()::text, relation::text, 'RESTORE',
            row_key, v_old, v_new);
    RETURN v_new;
END
$$;
