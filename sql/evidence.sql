--
-- evidence: the hash chain over the event log, verification, tampering, retention
--
\c "dbname=contrib_regression user=regress_su options="
-- the background sealer seals agent writes within a second or two of commit
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-evidence-1"
INSERT INTO app.notes VALUES (10, 'sealed in the background');
UPDATE app.notes SET body = 'edited' WHERE id = 10;
\c "dbname=contrib_regression user=regress_su options="
DO $$
DECLARE
    deadline timestamptz := clock_timestamp() + interval '10 seconds';
BEGIN
    WHILE EXISTS (SELECT 1 FROM agent_guard.events e
                   WHERE NOT EXISTS (SELECT 1 FROM agent_guard.event_seals c WHERE c.event_id = e.event_id))
          AND clock_timestamp() < deadline LOOP
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;
SELECT count(*) AS unsealed FROM agent_guard.events e
 WHERE NOT EXISTS (SELECT 1 FROM agent_guard.event_seals c WHERE c.event_id = e.event_id);
-- the sealer leaves the event rows as they were written: the seals are in
-- agent_guard.seals, one row per batch
SELECT count(*) FILTER (WHERE seal_seq IS NOT NULL OR seal IS NOT NULL) AS rows_marked,
       count(*) FILTER (WHERE xmax <> 0) AS rows_updated
  FROM agent_guard.events;
SELECT database, pid > 0 AS running, requested, sealed > 0 AS has_sealed
  FROM agent_guard.sealer_status() WHERE database IS NOT NULL;
-- positions run 1..n without gaps, one per event; a seal is a SHA-256
SELECT count(*) = max(seal_seq) AS contiguous, min(seal_seq) AS first,
       bool_and(length(seal) = 32) AS sha256,
       count(*) = (SELECT count(*) FROM agent_guard.events) AS every_event
  FROM agent_guard.event_seals;
-- seal_log seals on demand (nothing is left to seal now)
SELECT agent_guard.seal_log();
SELECT ok, events_checked = (SELECT count(*) FROM agent_guard.events) AS all_checked,
       first_bad_event, regexp_replace(regexp_replace(detail, '[0-9]+:[0-9a-f]{64}', 'HEAD'), '^[0-9]+ sealed', 'N sealed') AS detail
  FROM agent_guard.verify_log();
SELECT agent_guard.log_head() ~ '^[0-9]+:[0-9a-f]{64}$' AS head_format,
       agent_guard.log_head() = (SELECT seal_seq || ':' || encode(seal, 'hex') FROM agent_guard.event_seals
                                  ORDER BY seal_seq DESC LIMIT 1) AS head_is_last_seal;
SELECT agent_guard.log_head() AS head0 \gset
SELECT ok FROM agent_guard.verify_log(:'head0');
SELECT ok FROM agent_guard.verify_log(split_part(:'head0', ':', 2));   -- the seal alone
-- error: not a head
SELECT * FROM agent_guard.verify_log('not-a-head');

-- an aborted transaction's events never enter the chain
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-evidence-2"
BEGIN;
INSERT INTO app.notes VALUES (1011, 'never committed');
ROLLBACK;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.seal_log() AS sealed_now, agent_guard.log_head() = :'head0' AS head_unchanged;
SELECT count(*) AS events_of_aborted_run FROM agent_guard.events WHERE run_id = 'run-evidence-2';

-- error: agents and roles without a grant can neither verify, seal, archive nor read the head
\c "dbname=contrib_regression user=regress_bot options="
SELECT * FROM agent_guard.verify_log();
SELECT agent_guard.log_head();
SELECT agent_guard.seal_log();
SELECT * FROM agent_guard.archive_log(now());
\c "dbname=contrib_regression user=regress_human options="
SELECT * FROM agent_guard.verify_log();
-- error: a grant does not make an agent a human
\c "dbname=contrib_regression user=regress_su options="
GRANT EXECUTE ON FUNCTION agent_guard.verify_log(text), agent_guard.seal_log() TO regress_bot, regress_human;
\c "dbname=contrib_regression user=regress_bot options="
SELECT * FROM agent_guard.verify_log();
SELECT agent_guard.seal_log();
-- a human with the grant can
\c "dbname=contrib_regression user=regress_human options="
SELECT ok FROM agent_guard.verify_log();
\c "dbname=contrib_regression user=regress_su options="
REVOKE EXECUTE ON FUNCTION agent_guard.verify_log(text), agent_guard.seal_log() FROM regress_bot, regress_human;
-- the agent's refusals are on record (BLOCKED events): written and sealed,
-- and the head taken after them
SELECT agent_guard._flush_requests();
SELECT agent_guard.seal_log() >= 0 AS sealed;
SELECT agent_guard.log_head() AS head0 \gset

--
-- Tampering by a superuser with triggers off.  Each case runs in a
-- transaction that is rolled back; verify_log must find and locate it.
-- The seals are edited through a copy of the chain (pg_temp.chain, one
-- row per event), written back one seal row per event.
--
SELECT c.event_id AS victim, c.seal_seq AS victim_seq, e.statement_id AS victim_stmt
  FROM agent_guard.events e JOIN agent_guard.event_seals c ON c.event_id = e.event_id
 WHERE e.run_id = 'run-evidence-1' AND e.operation = 'INSERT' \gset
SELECT min(e.event_id) AS stmt_first FROM agent_guard.events e WHERE e.statement_id = :victim_stmt \gset
SELECT c.event_id AS next_event FROM agent_guard.event_seals c WHERE c.seal_seq = :victim_seq + 1 \gset
SELECT c.event_id AS prev_event FROM agent_guard.event_seals c WHERE c.seal_seq = :victim_seq - 1 \gset
CREATE FUNCTION pg_temp.take_chain() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE chain ON COMMIT DROP AS SELECT * FROM agent_guard.event_seals;
END $$;
CREATE FUNCTION pg_temp.store_chain() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM agent_guard.seals;
    INSERT INTO agent_guard.seals (first_seq, last_seq, event_ids, seals)
        SELECT c.seal_seq, c.seal_seq, ARRAY[c.event_id], c.seal FROM pg_temp.chain c;
END $$;
-- the seals from position pos on computed anew (as the sealer would), and the head moved
CREATE FUNCTION pg_temp.reseal_from(pos bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
    prev bytea := (SELECT c.seal FROM pg_temp.chain c WHERE c.seal_seq = pos - 1);
BEGIN
    FOR r IN SELECT c.event_id, c.seal_seq FROM pg_temp.chain c WHERE c.seal_seq >= pos ORDER BY c.seal_seq LOOP
        prev := sha256(prev || convert_to(agent_guard._event_content(
                    (SELECT e FROM agent_guard.events e WHERE e.event_id = r.event_id), r.seal_seq), 'UTF8'));
        UPDATE pg_temp.chain c SET seal = prev WHERE c.seal_seq = r.seal_seq;
    END LOOP;
    PERFORM pg_temp.store_chain();
    UPDATE agent_guard.chain_state SET (last_seq, last_seal) =
        (SELECT c.seal_seq, c.seal FROM pg_temp.chain c ORDER BY c.seal_seq DESC LIMIT 1);
END $$;

-- 1. an edited row image
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE agent_guard.events SET new_row = jsonb_set(new_row, '{body}', '"nothing to see"') WHERE event_id = :victim;
SELECT ok, first_bad_event = :victim AS located, regexp_replace(detail, '[0-9]+', 'N', 'g') AS detail
  FROM agent_guard.verify_log();
ROLLBACK;

-- 2. an edited attribution (who did it)
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE agent_guard.events SET agent_id = 'someone-else', login_role = 'regress_human' WHERE event_id = :victim;
SELECT ok, first_bad_event = :victim AS located FROM agent_guard.verify_log();
ROLLBACK;

-- 3. an edited statement text (kept in the statement's first event, whose
-- seal covers it)
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE agent_guard.events SET query = 'SELECT 1' WHERE statement_id = :victim_stmt AND query IS NOT NULL;
SELECT ok, first_bad_event = :stmt_first AS located FROM agent_guard.verify_log();
ROLLBACK;

-- 4. a replaced seal
BEGIN;
SELECT pg_temp.take_chain();
UPDATE pg_temp.chain SET seal = sha256('forged') WHERE event_id = :victim;
SELECT pg_temp.store_chain();
SELECT ok, first_bad_event = :victim AS located FROM agent_guard.verify_log();
ROLLBACK;

-- 5. a deleted event in the middle: its seal names it
BEGIN;
SET LOCAL session_replication_role = replica;
DELETE FROM agent_guard.events WHERE event_id = :prev_event;
SELECT ok, first_bad_event = :prev_event AS located, regexp_replace(detail, '[0-9]+', 'N', 'g') AS detail
  FROM agent_guard.verify_log();
-- ... and its seal deleted too
SELECT pg_temp.take_chain();
DELETE FROM pg_temp.chain WHERE event_id = :prev_event;
SELECT pg_temp.store_chain();
SELECT ok, first_bad_event = :victim AS located, regexp_replace(detail, '[0-9]+', 'N', 'g') AS detail
  FROM agent_guard.verify_log();
ROLLBACK;

-- 6. a deleted event, the later ones renumbered to close the gap
BEGIN;
SET LOCAL session_replication_role = replica;
SELECT pg_temp.take_chain();
DELETE FROM agent_guard.events WHERE event_id = :prev_event;
DELETE FROM pg_temp.chain WHERE event_id = :prev_event;
UPDATE pg_temp.chain SET seal_seq = seal_seq - 1 WHERE seal_seq >= :victim_seq;
SELECT pg_temp.store_chain();
SELECT ok, first_bad_event = :victim AS located FROM agent_guard.verify_log();
ROLLBACK;

-- 7. the last events cut from the end
BEGIN;
SET LOCAL session_replication_role = replica;
SELECT pg_temp.take_chain();
DELETE FROM agent_guard.events WHERE event_id IN (SELECT event_id FROM pg_temp.chain WHERE seal_seq >= :victim_seq);
DELETE FROM pg_temp.chain WHERE seal_seq >= :victim_seq;
SELECT pg_temp.store_chain();
SELECT ok, first_bad_event, regexp_replace(detail, '[0-9]+', 'N', 'g') AS detail FROM agent_guard.verify_log();
-- ... and the recorded head moved back too: only the head kept outside shows it
UPDATE agent_guard.chain_state SET (last_seq, last_seal) =
    (SELECT seal_seq, seal FROM pg_temp.chain WHERE seal_seq = :victim_seq - 1);
SELECT ok FROM agent_guard.verify_log();
SELECT ok, regexp_replace(detail, '[0-9]+', 'N', 'g') AS detail FROM agent_guard.verify_log(:'head0');
ROLLBACK;

-- 8. a forged event inserted in the middle, with a correctly computed seal:
--    the event after it no longer matches its seal
BEGIN;
SET LOCAL session_replication_role = replica;
SELECT pg_temp.take_chain();
UPDATE pg_temp.chain SET seal_seq = seal_seq + 1 WHERE seal_seq >= :victim_seq;
INSERT INTO agent_guard.events (agent_id, run_id, login_role, relation, operation, row_key, new_row)
VALUES ('regress_bot', 'run-evidence-1', 'regress_bot', 'app.notes', 'INSERT', '{"id": 99}', '{"id": 99}')
RETURNING event_id AS forged \gset
INSERT INTO pg_temp.chain
SELECT e.event_id, :victim_seq,
       sha256((SELECT p.seal FROM pg_temp.chain p WHERE p.seal_seq = :victim_seq - 1)
              || convert_to(agent_guard._event_content(e, :victim_seq), 'UTF8'))
  FROM agent_guard.events e WHERE e.event_id = :forged;
SELECT pg_temp.store_chain();
SELECT ok, first_bad_event = :victim AS located_after_forgery FROM agent_guard.verify_log();
-- with a made-up seal it is the forged event itself
UPDATE pg_temp.chain SET seal = sha256('made up') WHERE event_id = :forged;
SELECT pg_temp.store_chain();
SELECT ok, first_bad_event = :forged AS located FROM agent_guard.verify_log();
ROLLBACK;

-- 9. two events swapped
BEGIN;
SELECT pg_temp.take_chain();
UPDATE pg_temp.chain SET event_id = CASE WHEN event_id = :victim THEN :prev_event ELSE :victim END
 WHERE event_id IN (:prev_event, :victim);
SELECT pg_temp.store_chain();
SELECT ok, first_bad_event = :victim AS located FROM agent_guard.verify_log();
ROLLBACK;

-- 10. a sealed event made to look unsealed: its seal removed
BEGIN;
SELECT pg_temp.take_chain();
DELETE FROM pg_temp.chain WHERE event_id = :victim;
SELECT pg_temp.store_chain();
SELECT ok, first_bad_event = :next_event AS located FROM agent_guard.verify_log();
-- ... and every later seal computed anew, the head too: the sealer had
-- passed the event, so the event outside every seal is found
UPDATE pg_temp.chain SET seal_seq = seal_seq - 1 WHERE seal_seq > :victim_seq;
SELECT pg_temp.reseal_from(:victim_seq);
SELECT ok, first_bad_event = :victim AS located, regexp_replace(detail, '[0-9]+', 'N', 'g') AS detail
  FROM agent_guard.verify_log();
ROLLBACK;

-- 11. events appended after the head with forged seals
BEGIN;
SET LOCAL session_replication_role = replica;
SELECT pg_temp.take_chain();
INSERT INTO agent_guard.events (operation) VALUES ('INSERT') RETURNING event_id AS appended \gset
INSERT INTO pg_temp.chain VALUES (:appended, split_part(:'head0', ':', 1)::bigint + 1, sha256('appended'));
SELECT pg_temp.store_chain();
SELECT ok, first_bad_event IS NOT NULL AS located FROM agent_guard.verify_log();
ROLLBACK;

-- 12. the start of the log removed, with a checkpoint made up to cover it
BEGIN;
SET LOCAL session_replication_role = replica;
SELECT pg_temp.take_chain();
DELETE FROM agent_guard.events WHERE event_id IN (SELECT event_id FROM pg_temp.chain WHERE seal_seq <= 10);
DELETE FROM pg_temp.chain WHERE seal_seq <= 10;
SELECT pg_temp.store_chain();
UPDATE agent_guard.chain_state SET (checkpoint_seq, checkpoint_seal) =
    (SELECT 10, decode(md5('x') || md5('y'), 'hex'));
SELECT ok, regexp_replace(detail, '[0-9]+', 'N', 'g') AS detail FROM agent_guard.verify_log();
ROLLBACK;
BEGIN;
SET LOCAL session_replication_role = replica;
SELECT pg_temp.take_chain();
DELETE FROM agent_guard.events WHERE event_id IN (SELECT event_id FROM pg_temp.chain WHERE seal_seq <= 10);
UPDATE agent_guard.chain_state SET (checkpoint_seq, checkpoint_seal) =
    (SELECT seal_seq, seal FROM pg_temp.chain WHERE seal_seq = 10);
DELETE FROM pg_temp.chain WHERE seal_seq <= 10;
SELECT pg_temp.store_chain();
SELECT ok, regexp_replace(detail, '[0-9]+', 'N', 'g') AS detail FROM agent_guard.verify_log();
ROLLBACK;

-- an event not sealed yet is reported, not a failure
BEGIN;
INSERT INTO agent_guard.events (operation, detail) VALUES ('FREEZE', '{"reason": "test"}');
SELECT ok, regexp_replace(detail, '^.*; ', '') AS detail FROM agent_guard.verify_log();
ROLLBACK;

--
-- Retention: archive_log keeps the rest verifiable from a checkpoint
-- (rolled back, so that later tests still see every event).
--
BEGIN;
SELECT events_archived, checkpoint_seq FROM agent_guard.archive_log(now() - interval '1 day');
SELECT checkpoint_seq = events_archived AS cut_at_end,
       checkpoint_seal = split_part(:'head0', ':', 2) AS checkpoint_is_head
  FROM agent_guard.archive_log(now());
SELECT count(*) = max(seal_seq) AS archived_all FROM agent_guard.events_archive;
SELECT count(*) AS live_events, min(operation) AS kind FROM agent_guard.events;
SELECT agent_guard.seal_log();
SELECT ok, events_checked, regexp_replace(regexp_replace(detail, '[0-9]+:[0-9a-f]{64}', 'HEAD'), 'position [0-9]+', 'position N') AS detail
  FROM agent_guard.verify_log();
-- the head taken before archiving still proves nothing was cut
SELECT ok FROM agent_guard.verify_log(:'head0');
SELECT count(*) AS checkpoints FROM agent_guard.log_checkpoints;
-- a checkpoint moved by hand is not attested by the chain
SAVEPOINT s;
UPDATE agent_guard.chain_state SET checkpoint_seq = checkpoint_seq - 1;
SELECT ok, regexp_replace(detail, '[0-9]+', 'N', 'g') AS detail FROM agent_guard.verify_log();
ROLLBACK TO s;
-- error: a log that does not verify is not archived
SET LOCAL session_replication_role = replica;
UPDATE agent_guard.events SET detail = '{}' WHERE operation = 'ARCHIVE';
\set VERBOSITY terse
SELECT * FROM agent_guard.archive_log(now());
\set VERBOSITY default
ROLLBACK;
SELECT ok FROM agent_guard.verify_log();
