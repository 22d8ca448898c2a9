-- agent_guard 1.0 -> 1.1 (ALTER EXTENSION agent_guard UPDATE)
--
-- test/t/016_upgrade.pl installs 1.0 from releases/, fills it, runs this
-- script and checks that every row is kept and that the result is, object
-- for object, a fresh install of 1.1.
\echo Use "ALTER EXTENSION agent_guard UPDATE TO '1.1'" to load this file. \quit

-- 1.1 refuses to install into SQL_ASCII databases (00_schema.sql); one that
-- has 1.0 keeps working, with a warning.
DO $$
BEGIN
    IF pg_catalog.current_setting('server_encoding') = 'SQL_ASCII' THEN
        RAISE WARNING 'agent_guard in a database with encoding SQL_ASCII'
            USING DETAIL = 'The event log is sealed over UTF-8 text; a byte that is not valid text, written by an agent, stops the sealing until the event is removed.',
                  HINT = 'Move the data to a database with an encoding such as UTF8.';
    END IF;
END
$$;

-- The chain's positions: index an event when it is sealed, not when it is
-- written (one index fewer on the agent's write path).  Rebuilding takes
-- about a second per million events.
DROP INDEX agent_guard.events_seal_seq_idx;
CREATE UNIQUE INDEX events_seal_seq_idx ON agent_guard.events (seal_seq) WHERE seal_seq IS NOT NULL;

-- verify_log(): the same checks, about 2.5 times faster.
-- The chain is recomputed with the formula of _event_content(), written out
-- in one set-based query (each statement's row is built once, not once per
-- event; no function call per event), under the same pinned settings.
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

-- The rollback engine: narrow work tables, one pass to lock and compare,
-- settings that keep its plans in memory (about twice as fast).
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
