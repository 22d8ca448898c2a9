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

-- One truth for a run's state (_run_status, shared by runs and the
-- postmortem), and humans' acts on a run kept apart from the agent's work.
CREATE OR REPLACE FUNCTION agent_guard._is_agent_act(op text) RETURNS boolean
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT op IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED') $$;

CREATE OR REPLACE FUNCTION agent_guard._run_status(run_id text, writes bigint, undone bigint) RETURNS text
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN undone > 0 AND undone >= writes THEN 'rolled back'
        WHEN undone > 0 THEN 'partly rolled back'
        WHEN EXISTS (SELECT 1 FROM agent_guard.tripped_runs t WHERE t.run_id = _run_status.run_id)
        THEN 'tripped'
        WHEN EXISTS (SELECT 1 FROM agent_guard.freeze_state f
                      WHERE f.scope = '*'
                         OR f.scope IN (SELECT e.agent_id FROM agent_guard.events e
                                         WHERE e.run_id = _run_status.run_id))
        THEN 'frozen'
        WHEN (SELECT r.status FROM agent_guard.request_log r
               WHERE r.run_id = _run_status.run_id AND r.kind = 'approval'
               ORDER BY r.request_id DESC LIMIT 1) = 'denied'
        THEN 'denied'
        ELSE 'active' END
$$;

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

    -- the state, as agent_guard.runs computes it
    SELECT agent_guard._run_status(v_run, count(*), count(c.event_id))
      INTO v_status
      FROM agent_guard.events e
      LEFT JOIN agent_guard.events c
             ON c.operation = 'COMPENSATE' AND (c.detail->>'undoes')::bigint = e.event_id
     WHERE e.run_id = v_run AND agent_guard._is_row_op(e.operation);

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
            'verdict', format('%s rows changed in %s tables by %s statements; %s guard events; %s; the log %s',
                              v_summary->>'rows_changed', v_summary->>'tables_changed',
                              v_summary->>'statements', v_summary->>'guard_events',
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

CREATE OR REPLACE VIEW agent_guard.runs AS
    SELECT e.run_id,
           e.agent_id,
           -- the agent's own acts only: a human's approval, reset or
           -- rollback of the run is not the agent's work (80_evidence.sql)
           min(e.login_role) FILTER (WHERE agent_guard._is_agent_act(e.operation)) AS login_role,
           min(e.at) FILTER (WHERE agent_guard._is_agent_act(e.operation)) AS first_write,
           max(e.at) FILTER (WHERE agent_guard._is_agent_act(e.operation)) AS last_write,
           count(DISTINCT e.xid) FILTER (WHERE agent_guard._is_agent_act(e.operation)
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
           agent_guard._run_status(e.run_id,
               count(*) FILTER (WHERE agent_guard._is_row_op(e.operation)),
               count(c.event_id))                                   AS status,
           -- gates (65_gates.sql): attempts refused or held for approval
           count(*) FILTER (WHERE e.operation = 'BLOCKED')          AS blocked,
           -- humans' acts on the run: approvals, denials, resets
           count(*) FILTER (WHERE NOT agent_guard._is_agent_act(e.operation)) AS human_acts
      FROM agent_guard.events e
      LEFT JOIN agent_guard.events c
             ON c.operation = 'COMPENSATE' AND (c.detail->>'undoes')::bigint = e.event_id
     WHERE e.run_id IS NOT NULL
     GROUP BY e.run_id, e.agent_id
     ORDER BY min(e.at);


-- Privileges of the new functions, as 99_privileges.sql gives them
REVOKE ALL ON FUNCTION agent_guard._require_preload() FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._failsafe_ddl() FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._failsafe_truncate() FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._is_agent_act(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION agent_guard._run_status(text, bigint, bigint) FROM PUBLIC;
