------------------------------------------------------------------------
-- Evidence: the hash chain over agent_guard.events, its verification and
-- retention, and the postmortem of a run.
--
-- The background sealer (src/worker.c) seals committed events with
-- src/chain.c: seal(n) = sha256(seal(n-1) || utf8(_event_content(event, n))),
-- seal(0) = '' or the checkpoint seal.  verify_log() recomputes that here,
-- in SQL, so sealer and verifier are two implementations of one formula.
--
-- An event's position and seal are kept in agent_guard.seals, one row per
-- batch of events sealed together; the event row stays as it was written
-- (one row version, no index entry for sealing).  Events sealed by 1.1
-- and before keep theirs in their seal_seq and seal columns.
------------------------------------------------------------------------

-- Partial: only events sealed by 1.1 and before have an entry.
CREATE UNIQUE INDEX events_seal_seq_idx ON agent_guard.events (seal_seq) WHERE seal_seq IS NOT NULL;

-- The head of the chain (one row).  Sealers lock it to take turns; it also
-- records the last seal, so that cutting events from the end of the log
-- shows, and the checkpoint left by archive_log().
CREATE TABLE agent_guard.chain_state (
    one             boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_seq        bigint NOT NULL DEFAULT 0,
    last_seal       bytea NOT NULL DEFAULT '',
    sealed_at       timestamptz,
    checkpoint_seq  bigint NOT NULL DEFAULT 0,
    checkpoint_seal bytea NOT NULL DEFAULT '',
    -- which events the sealer sealed (src/chain.c): every event id up to
    -- sealed_through is sealed, or in gaps (not sealed yet: its
    -- transaction may still commit), or will never exist; a run of ids
    -- skipped together is one range of gaps
    sealed_through  bigint NOT NULL DEFAULT 0,
    gaps            int8multirange NOT NULL DEFAULT '{}'
);
INSERT INTO agent_guard.chain_state DEFAULT VALUES;

-- The seals of the events sealed together, in chain order: the event of
-- event_ids[i] is at position first_seq + i - 1, and its seal is bytes
-- 32 * (i - 1) + 1 to 32 * i of seals.
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
           checkpoint_seq = NEW.checkpoint_seq, checkpoint_seal = NEW.checkpoint_seal,
           sealed_through = NEW.sealed_through, gaps = NEW.gaps
     WHERE c.last_seq = 0 AND c.checkpoint_seq = 0 AND c.sealed_through = 0;
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
SELECT pg_catalog.pg_extension_config_dump('agent_guard.seals', '');
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
-- events), plus the row of its statement in agent_guard.statement_rows
-- (events of 1.1 and before; null since, the statement being kept in the
-- columns of its first event), as jsonb text (keys sorted).  The
-- settings that change how values print are pinned.  The sealer (chain.c)
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
                      FROM agent_guard.statement_rows s, jsonb_each(to_jsonb(s)) j
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
COMMENT ON FUNCTION agent_guard.sealer_status() IS
    'the background sealers (one per database) and, with database NULL, the launcher; state "no worker slot": max_worker_processes is exhausted, and the database''s refused statements wait (unrecorded_requests) for a human''s agent_guard.record_requests()';

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

-- "1 row", "2 rows": counts in the report's sentences.
CREATE FUNCTION agent_guard._plural(n bigint, noun text) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT n || ' ' || noun || CASE WHEN n = 1 THEN '' ELSE 's' END $$;

-- What the agent did itself: its writes, its refused attempts, its
-- approved destructive statements and the drops of protected tables they
-- made (a human's drop names no run).  Every other event that names a run is
-- a human's act on it (approve, deny, reset, rollback and its
-- compensations): shown as such, never counted as the agent's work (its
-- login roles, window or transactions).  agent_guard.runs spells the same
-- list out (a view's function calls need EXECUTE of whoever reads it).
CREATE FUNCTION agent_guard._is_agent_act(op text) RETURNS boolean
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT op IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP') $$;

CREATE FUNCTION agent_guard.postmortem_json(run_id text) RETURNS jsonb
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
COMMENT ON FUNCTION agent_guard.postmortem_json(text) IS
    'the facts of agent_guard.postmortem(run_id) as jsonb, for tools';

-- A time for the report, the same whatever the session's DateStyle.
CREATE FUNCTION agent_guard._md_time(value timestamptz) RETURNS text
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT to_char(value, 'YYYY-MM-DD HH24:MI:SS.MS OF') $$;

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

-- Text in a Markdown table cell or list item, as text: one line, and every
-- character that could start markup escaped (a backslash, code spans,
-- emphasis, links and images, HTML and autolinks, strikethrough, a new
-- cell).  An underscore between two letters or digits starts no emphasis
-- and stays as it is.  Run ids, application names, relation names and
-- notes are chosen by agents: in the report they are never markup, and
-- what cannot be seen is shown as its code point (_md_visible).
CREATE FUNCTION agent_guard._md(value text) RETURNS text
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
CREATE FUNCTION agent_guard._md_code(value text) RETURNS text
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

CREATE FUNCTION agent_guard._md_list(value jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
    -- a run with guard events only has no acting roles: null, not an array
    SELECT coalesce(nullif((SELECT string_agg(agent_guard._md(x), ', ')
                              FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(value) = 'array'
                                                                  THEN value ELSE '[]' END) x), ''), '-')
$$;

CREATE FUNCTION agent_guard.postmortem(run_id text) RETURNS text
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
COMMENT ON FUNCTION agent_guard.postmortem(text) IS
    'a Markdown incident report of one run: who, from where, with which privileges, what ran, which guards fired, what changed, how to undo it, and whether the log verifies';

-- Transactions that wrote events wake the sealer; so does installing.
SELECT agent_guard._journal_note();
