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
-- undone one event at a time, and so is a batch whose statement meets a
-- unique or exclusion violation (values of a UNIQUE column the run moved
-- along a chain, red team 23a, finding 3): each state in between is then
-- one the table was in during the run.  Triggers (the tables' own and
-- foreign-key checks) are off during the replay; the foreign keys are
-- checked once at the end for the rows the replay wrote and the values it
-- took away.  Rows come back from the logged images with
-- jsonb_to_record with the table's column types (agent_guard._typed_record:
-- only the columns of the image or key, so a NOT NULL domain column that
-- is not in a key is not read as NULL), every column
-- written except generated ones, identity columns with OVERRIDING SYSTEM
-- VALUE, stamps kept as logged (replay mode, rollback.c).  An image keeps
-- as text a value that to_jsonb() would print inexactly (an array's lower
-- bounds, a float's -0: src/rowimage.c), which the type's input function
-- reads back.  Each replayed row is compared with its logged image (what
-- the replaying statement returns is what is at the key after it, since a
-- batch's keys are distinct); a difference raises YG032 and the whole
-- rollback is undone.
--
-- Cost (a 100,000-row run is undone in about the time it took): every
-- step is one set-based statement; images are compared bytewise first
-- (record_image_eq: the images are agent_guard._row_image() of the rows,
-- as the row trigger logs them, so equal rows give equal bytes) and with
-- jsonb equality only when the bytes differ; the temporary tables are
-- written once and the wide one (_ag_rb, with the images) is never
-- rewritten as a whole: the keys (_ag_touch), the differences from the
-- current rows (_ag_cur) and the batches (_ag_batch) are narrow tables of
-- their own, and 'applied' is how the result shows 'planned' after the
-- replay.
--
-- Every statement that reads or writes a user table runs as that table's
-- owner in a security-restricted operation (agent_guard._owner_query,
-- src/rowwork.c): no trigger, check, cast, index expression or operator
-- of the table runs with the extension owner's rights or the caller's.
-- The owner reads the table's part of the plan from a temporary copy
-- granted to it (agent_guard._rollback_part), never the rest of the plan;
-- the foreign-key checks pass key values across as jsonb, 10,000 at a
-- time.  The caller needs SELECT on each table of the plan, and to apply
-- it the privilege each compensation uses (DELETE, INSERT, UPDATE).
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

CREATE FUNCTION agent_guard._rollback_lock(wait_ms integer) RETURNS void
    AS 'MODULE_PATHNAME', 'ag_sql_rollback_lock'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION agent_guard._rollback_lock(integer) IS
    'internal: take the lock rollbacks that apply take turns on, waiting at most wait_ms';

-- A key-column equality between table alias t and record alias k.
CREATE FUNCTION agent_guard._key_match(keys text[], t text, k text) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(format('%I.%I OPERATOR(pg_catalog.=) %I.%I', t, c, k, c), ' AND ')
      FROM unnest(keys) AS c
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
    -- images print and read back as the row trigger prints them (outputpin.c)
    SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1 SET bytea_output = 'hex' SET lc_monetary = 'C'
    SET quote_all_identifiers = off SET xmloption = content
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
