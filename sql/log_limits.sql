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

-- a statement over 1 MB is logged cut, with its length and SHA-256
SELECT format('INSERT INTO app.notes VALUES (9004, %L) /* %s */', 'long', repeat('z', 1100000)) AS q \gset
:q;
\c "dbname=contrib_regression user=regress_su options="
SELECT length(s.query) BETWEEN 1048576 AND 1048576 + 200 AS cut,
       regexp_replace(right(s.query, 140), '[0-9a-f]{64}$', 'SHA') AS tail,
       right(s.query, 64) = encode(sha256(convert_to(:'q', 'UTF8')), 'hex') AS sha_of_whole
  FROM agent_guard.statements s
 WHERE s.statement_id > :st0 AND s.query LIKE 'INSERT INTO app.notes VALUES (9004%';
SELECT operation, row_key, length(new_row->>'body') AS body_len
  FROM agent_guard.events WHERE event_id > :ev0 AND run_id = 'run-limits' ORDER BY event_id;

-- a human's row of the same size is not logged, so not limited
INSERT INTO app.notes VALUES (9001, repeat('x', 65 * 1024 * 1024));
SELECT length(body) FROM app.notes WHERE id = 9001;

-- all of it seals and verifies
SELECT agent_guard.seal_log() >= 0 AS sealed;
SELECT ok FROM agent_guard.verify_log();
DELETE FROM app.notes WHERE id BETWEEN 9001 AND 9004;
