--
-- log_limits: every event must stay sealable and verifiable.  An event is
-- sealed and verified as text, within jsonb's limits and one 1 GB buffer,
-- so an agent's change whose row images exceed 64 MB is refused (YG010),
-- and statement text beyond 1 MB is kept cut, with its length and SHA-256.
--
\c "dbname=contrib_regression user=regress_su options="
SELECT max(event_id) AS ev0 FROM agent_guard.events \gset
SELECT coalesce(max(statement_id), 0) AS st0 FROM agent_guard.statements \gset

-- error: an agent's row of 65 MB is refused, and nothing of it is logged
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-limits"
\set VERBOSITY default
INSERT INTO app.notes VALUES (9001, repeat('x', 65 * 1024 * 1024));
-- a control character is printed as six bytes when sealed; 10 MB of them
-- (60 MB of text) is logged, sealed and verified like any other value
INSERT INTO app.notes VALUES (9002, 'small');
UPDATE app.notes SET body = repeat(E'\x01', 10 * 1024 * 1024) WHERE id = 9002;
-- a row just under the limit is logged and sealed
INSERT INTO app.notes VALUES (9003, repeat('y', 60 * 1024 * 1024));
SELECT id, length(body) FROM app.notes WHERE id IN (9001, 9002, 9003) ORDER BY id;
\set VERBOSITY terse

-- a statement over 1 MB is logged cut: its first and last 512 KB, and a
-- line between them with its whole length and SHA-256
SELECT format('INSERT INTO app.notes VALUES (9004, %L) /* %s */ /* the end */', 'long', repeat('z', 1100000)) AS q \gset
:q;
\c "dbname=contrib_regression user=regress_su options="
SELECT length(s.query) BETWEEN 1048576 AND 1048576 + 200 AS cut,
       left(s.query, 38) AS head, right(s.query, 13) AS tail,
       regexp_replace(substring(s.query FROM '-- agent_guard: [^\n]*'), '[0-9a-f]{64}$', 'SHA') AS marker,
       substring(s.query FROM 'sha256 of the whole: ([0-9a-f]{64})') = encode(sha256(convert_to(:'q', 'UTF8')), 'hex') AS sha_of_whole
  FROM agent_guard.statements s
 WHERE s.statement_id > :st0 AND s.query LIKE 'INSERT INTO app.notes VALUES (9004%';
SELECT operation, row_key, length(new_row->>'body') AS body_len
  FROM agent_guard.events WHERE event_id > :ev0 AND run_id = 'run-limits' ORDER BY event_id;

-- error: a number prints far longer than it is stored; what counts is the
-- printed length (600 times 1e131000: a few KB stored, 78 MB printed)
CREATE TABLE app.docs (id int PRIMARY KEY, doc jsonb);
ALTER TABLE app.docs OWNER TO regress_bot;
SELECT agent_guard.protect('app.docs', soft_delete => false);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-limits"
\set VERBOSITY default
INSERT INTO app.docs SELECT 1, jsonb_agg('1e131000'::numeric) FROM generate_series(1, 600);
INSERT INTO app.docs SELECT 2, jsonb_agg('1e131000'::numeric) FROM generate_series(1, 3);
SELECT id, jsonb_array_length(doc) FROM app.docs ORDER BY id;
\set VERBOSITY terse
\c "dbname=contrib_regression user=regress_su options="

-- the refusals are on record, like the gates': a request that can never be
-- approved, and a BLOCKED event in the chain
SELECT agent_guard._flush_requests() AS written;
SELECT kind, status, left(reason, 40) AS reason, left(statement, 40) AS statement
  FROM agent_guard.requests WHERE reason LIKE 'The INSERT would log %' ORDER BY request_id;
SELECT count(*) AS blocked_events FROM agent_guard.events
 WHERE operation = 'BLOCKED' AND detail->>'reason' LIKE 'The INSERT would log %';

-- a refused statement is kept to 2 KB with its request: cut on a character
-- boundary, or the log could be sealed but never verified, and marked as cut
-- (a last line, statement_truncated; see request_text_cut)
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-limits"
SELECT format('UPDATE app.notes SET body = %L', 'x' || repeat('é', 1100)) AS q2 \gset
\set VERBOSITY sqlstate
:q2;
\set VERBOSITY terse
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests() AS written;
SELECT octet_length(statement) AS kept_bytes, statement_truncated,
       right(split_part(statement, E'\n', 1), 3) AS ends_with, split_part(statement, E'\n', 2) AS mark
  FROM agent_guard.request_log WHERE statement LIKE 'UPDATE app.notes SET body = ''xé%';
-- a written request whose row is gone is not shown from the queue either
BEGIN;
SELECT request_id AS rq FROM agent_guard.request_log WHERE statement LIKE 'UPDATE app.notes SET body = ''xé%' \gset
DELETE FROM agent_guard.request_log WHERE request_id = :rq;
SELECT count(*) AS still_listed FROM agent_guard.requests WHERE request_id = :rq;
ROLLBACK;

-- a human's row of the same size is not logged, so not limited
INSERT INTO app.notes VALUES (9001, repeat('x', 65 * 1024 * 1024));
SELECT length(body) FROM app.notes WHERE id = 9001;

-- all of it seals and verifies
SELECT agent_guard.seal_log() >= 0 AS sealed;
SELECT ok FROM agent_guard.verify_log();
DELETE FROM app.notes WHERE id BETWEEN 9001 AND 9004;
