------------------------------------------------------------------------
-- Gates: requests for approval, freezes, tripped runs (src/gate.c)
------------------------------------------------------------------------

-- Every refused agent statement gets a request id from this sequence at
-- the moment it is refused (sequences do not roll back), and its row is
-- written by the journal worker from shared memory, since the agent's
-- transaction aborts.
CREATE SEQUENCE agent_guard.requests_request_id_seq;

CREATE TABLE agent_guard.request_log (
    request_id     bigint PRIMARY KEY,
    requested_at   timestamptz NOT NULL,
    agent_id       text NOT NULL,
    run_id         text,
    login_role     text,
    -- approval: may be approved; refused: weakens the guard, never allowed;
    -- frozen: a freeze holds; tripped: the run passed its row limit;
    -- policy: outside the agent's policy; rate: over its max_rows_per_minute
    kind           text NOT NULL CHECK (kind IN ('approval', 'refused', 'frozen', 'tripped', 'policy', 'rate')),
    status         text NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'used', 'refused')),
    reason         text NOT NULL,
    statement      text,
    statement_hash bigint NOT NULL,
    decided_by     text,
    decided_at     timestamptz,
    note           text,
    expires_at     timestamptz,
    used_at        timestamptz,
    used_xid       xid8,
    -- the values the agent bound to the statement's parameters, as
    -- "$1 = 'void', $2 = '12'" (each cut at 1024 characters); the
    -- statement_hash covers them whole, so an approval is for these values
    parameters     text,
    -- SHA-256 of what an approval is bound to (src/approvalkey.c): the text,
    -- the values whole, the search_path, what the names resolved to, the
    -- definitions of the functions and triggers the plan runs.  An approval
    -- is consumed by it; statement_hash (64 bits) is shown only.  NULL for a
    -- request written before 1.2, which no retry can use.
    statement_digest bytea CHECK (octet_length(statement_digest) = 32),
    -- statement holds only the start of a statement too long for the
    -- request queue (src/outbox.c), and ends with a line that says so;
    -- approve() then needs the whole text, checked by statement_sha256
    -- (SHA-256 of the whole text, as agent_guard._statement_sha256() computes it)
    statement_truncated boolean NOT NULL DEFAULT false,
    statement_sha256 bytea CHECK (octet_length(statement_sha256) = 32),
    -- a row limit's request: the rows the statement wrote per table, as
    -- {"relation oid": rows}, "0" for the tables past the first 31 together
    -- (src/gate.c); its approval admits at most these rows in each table
    table_rows     jsonb,
    -- the reason shows the text the plan was made from (the prepared
    -- statement an EXECUTE runs, the query of a function) cut: approve()
    -- then needs that text whole, checked by source_sha256 (as
    -- agent_guard._statement_sha256() computes it), and keeps it in source
    source_truncated boolean NOT NULL DEFAULT false,
    source_sha256  bytea CHECK (octet_length(source_sha256) = 32),
    source         text
);
CREATE INDEX request_log_lookup_idx ON agent_guard.request_log (agent_id, statement_hash)
    WHERE status = 'approved';

CREATE TABLE agent_guard.freeze_state (
    scope      text PRIMARY KEY,          -- '*' for all agents, else an agent id
    reason     text NOT NULL,
    frozen_at  timestamptz NOT NULL DEFAULT now(),
    frozen_by  text NOT NULL DEFAULT session_user
);

-- A run is tripped for the agent that passed the limit: another agent under
-- the same label counts apart (src/runcount.c).
CREATE TABLE agent_guard.tripped_runs (
    run_id      text NOT NULL,
    agent_id    text NOT NULL,
    tripped_at  timestamptz NOT NULL,
    rows_seen   bigint NOT NULL,
    request_id  bigint,
    PRIMARY KEY (agent_id, run_id)
);

SELECT pg_catalog.pg_extension_config_dump('agent_guard.request_log', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.requests_request_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.freeze_state', '');
SELECT pg_catalog.pg_extension_config_dump('agent_guard.tripped_runs', '');

-- Requests still in shared memory, not yet written by the worker.
CREATE FUNCTION agent_guard._pending_requests(
    OUT request_id bigint, OUT requested_at timestamptz, OUT agent_id text, OUT run_id text,
    OUT login_role text, OUT kind text, OUT reason text, OUT statement text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'ag_sql_pending_requests'
    LANGUAGE C STRICT VOLATILE;

-- The bound parameter values of the requests still in shared memory.
CREATE FUNCTION agent_guard._pending_request_parameters(OUT request_id bigint, OUT parameters text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'ag_sql_pending_request_parameters'
    LANGUAGE C STRICT VOLATILE;

-- SHA-256 of a statement's text as a request records it (src/refusal.c):
-- approve() checks a human's copy of a truncated statement with it.
CREATE FUNCTION agent_guard._statement_sha256(statement text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ag_sql_statement_sha256'
    LANGUAGE C STRICT IMMUTABLE;

-- Rows counted for a run's limit across all its sessions (src/runcount.c);
-- with reset, the count starts from zero again.
CREATE FUNCTION agent_guard._run_rows(run_id text, reset boolean) RETURNS bigint
    AS 'MODULE_PATHNAME', 'ag_sql_run_rows'
    LANGUAGE C STRICT VOLATILE;

-- Wait (a few seconds at most) until the worker has written the requests
-- refused so far in this database; what it did not write (it finds no
-- worker slot, src/worker.c) is written in the caller's transaction.
CREATE FUNCTION agent_guard._flush_requests() RETURNS boolean
    AS 'MODULE_PATHNAME', 'ag_sql_flush_requests'
    LANGUAGE C STRICT VOLATILE;

-- Write the requests refused so far in this database in the caller's
-- transaction, without waiting for the worker; returns how many.
CREATE FUNCTION agent_guard._record_requests() RETURNS integer
    AS 'MODULE_PATHNAME', 'ag_sql_record_requests'
    LANGUAGE C STRICT VOLATILE;

-- Planted by the planner into an agent's DELETE/UPDATE without WHERE:
-- evaluated once per execution, it refuses (or consumes an approval).
CREATE FUNCTION agent_guard._gate_unqualified(operation text, relation oid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'ag_sql_gate_unqualified'
    LANGUAGE C STRICT STABLE;

-- Planted by the planner in place of setval() in an agent's statements: it
-- needs a human's approval when the sequence numbers a protected table (as
-- ALTER SEQUENCE does), then sets it as setval() would.
CREATE FUNCTION agent_guard._setval(regclass, bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'ag_sql_setval'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION agent_guard._setval(regclass, bigint, boolean) RETURNS bigint
    AS 'MODULE_PATHNAME', 'ag_sql_setval'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

-- Planted by the planner in place of pg_notify() in an agent's statements:
-- it counts the agent transaction's notifications and refuses past
-- agent_guard.agent_notify_max_per_xact or a NOTIFY queue fuller than
-- agent_guard.agent_notify_queue_limit (src/agentnotify.c), then notifies.
CREATE FUNCTION agent_guard._notify(text, text) RETURNS void
    AS 'MODULE_PATHNAME', 'ag_sql_notify'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- Tell every backend (at commit) to reload freezes and tripped runs.
CREATE FUNCTION agent_guard._gate_changed() RETURNS void
    AS 'MODULE_PATHNAME', 'ag_sql_gate_changed'
    LANGUAGE C STRICT VOLATILE;

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

CREATE VIEW agent_guard.requests AS
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
COMMENT ON VIEW agent_guard.requests IS
    'statements of agents that were refused; kind approval can be approved once by a human';

-- A request's row, locked for a decision without waiting: NULLs when it
-- is not written (yet); YG005 when a transaction that has not ended holds
-- it (the agent's retry that took the approval, or another decision).
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

-- Decide a request, or withdraw an approval not used yet (deny of an
-- approved request).  The request's row is locked without waiting
-- (NOWAIT): an agent transaction that has consumed the approval holds it
-- until it ends, and the human is told so at once instead of waiting for
-- it (red team 17a, finding 6); the consumption is decided by that
-- transaction's commit.  Times are the clock's, not the transaction's.
CREATE FUNCTION agent_guard._decide(request_id bigint, note text, verdict text)
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

-- A request whose statement was too long to be recorded whole holds only
-- its start (request_log.statement_truncated, src/outbox.c), yet an
-- approval lets the whole statement run: it is approved only with the
-- whole text, which must be the one the agent sent (its SHA-256), and
-- which then replaces the start in the record.  So is a request whose
-- reason shows only the start of the text the statement runs
-- (source_truncated: the prepared statement an EXECUTE runs, the query of
-- a function it calls, src/gate.c; red team 17a, F1): the text given is
-- then that one, checked by source_sha256 and kept in source.  One text
-- cannot stand for both: a request with both cut is not approved.  Acts
-- on a pending approval request only: _decide() says what is wrong with
-- any other.
CREATE FUNCTION agent_guard._check_whole_text(request_id bigint, statement text) RETURNS void
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

CREATE FUNCTION agent_guard.approve(request_id bigint, note text DEFAULT NULL)
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
    'approve with the whole text the human read: needed when the request holds only the start of its statement (statement_truncated), or its reason only the start of the text the statement runs (source_truncated); it must be that text whole';

CREATE FUNCTION agent_guard.deny(request_id bigint, note text DEFAULT NULL)
    RETURNS agent_guard.requests
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v agent_guard.request_log;
    r agent_guard.requests;
BEGIN
    PERFORM agent_guard._require_human('agent_guard.deny()');
    v := agent_guard._decide(request_id, note, 'denied');
    SELECT * INTO r FROM agent_guard.requests q WHERE q.request_id = v.request_id;
    RETURN r;
END
$$;
COMMENT ON FUNCTION agent_guard.deny(bigint, text) IS 'refuse a pending request, or withdraw an approval not used yet; it is kept on record';

CREATE FUNCTION agent_guard.freeze(reason text, agent_id text DEFAULT NULL) RETURNS void
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
COMMENT ON FUNCTION agent_guard.freeze(text, text) IS
    'stop all writes of all agents (or of one) from their next statement, across restarts';

CREATE FUNCTION agent_guard.unfreeze(agent_id text DEFAULT NULL) RETURNS boolean
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
COMMENT ON FUNCTION agent_guard.unfreeze(text) IS 'lift the freeze for all agents (NULL) or one agent';

CREATE VIEW agent_guard.freezes AS
    SELECT CASE WHEN f.scope = '*' THEN NULL ELSE f.scope END AS agent_id,
           f.scope = '*' AS all_agents, f.reason, f.frozen_at, f.frozen_by
      FROM agent_guard.freeze_state f
     ORDER BY f.frozen_at;

CREATE FUNCTION agent_guard.reset_run(run_id text) RETURNS boolean
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

-- Preview: run a statement as the agent, count what it would change, and
-- roll it back (the read-only plan a harness can show a human first).
CREATE FUNCTION agent_guard._preview(on_ boolean) RETURNS void
    AS 'MODULE_PATHNAME', 'ag_sql_preview'
    LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION agent_guard._preview_rows(
    OUT relation text, OUT operation text, OUT rows bigint, OUT verdict text, OUT detail text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'ag_sql_preview_rows'
    LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION agent_guard.preview(sql text)
    RETURNS TABLE (relation text, operation text, rows bigint, verdict text, detail text)
    LANGUAGE plpgsql SET search_path FROM CURRENT
AS $$
DECLARE
    v_state text;
    v_msg   text;
BEGIN
    IF sql IS NULL OR btrim(sql) = '' THEN
        RAISE EXCEPTION 'nothing to preview' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM agent_guard._preview(true);
    BEGIN
        EXECUTE sql;
        -- undo everything the statement did
        RAISE EXCEPTION USING ERRCODE = 'YG099', MESSAGE = 'agent_guard preview: rolled back';
    EXCEPTION
        WHEN SQLSTATE 'YG099' THEN NULL;
        WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
    END;
    RETURN QUERY
        SELECT p.relation, p.operation, p.rows, p.verdict, p.detail FROM agent_guard._preview_rows() p
        UNION ALL
        SELECT NULL, NULL, NULL, 'error', v_state || ': ' || v_msg WHERE v_state IS NOT NULL;
    PERFORM agent_guard._preview(false);
END
$$;
COMMENT ON FUNCTION agent_guard.preview(text) IS
    'run a statement, report the rows it would change and the gates it would meet, and roll it back';

-- An agent's approved destructive statement that is about to run, in its
-- transaction (approved.c): an EXECUTED event of the agent's run with the
-- request, who approved it and when, the statement, and what it drops or
-- empties with the rows that held (targets, built by the gate).
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
