-- agent_guard 1.0 -> 1.1 (ALTER EXTENSION agent_guard UPDATE)
--
-- test/t/016_upgrade.pl installs 1.0 from releases/, fills it, runs this
-- script and checks that every row is kept and that the result is, object
-- for object, a fresh install of 1.1.
\echo Use "ALTER EXTENSION agent_guard UPDATE TO '1.1'" to load this file. \quit

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
