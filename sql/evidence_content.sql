--
-- evidence_content: the sealer prints each event's canonical content in C
-- (src/canon.c); verify_log() recomputes it with the SQL formula
-- (_event_content).  Awkward values must give the same text, byte for byte.
--
\c "dbname=contrib_regression user=regress_su options="
-- settings that change how values print, all unlike the pinned ones
SET TimeZone = 'Asia/Kolkata';
SET DateStyle = 'German, DMY';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = -3;
SET bytea_output = 'escape';
BEGIN;
SELECT agent_guard.seal_log() >= 0 AS sealed_before;
SELECT last_seq AS seq0 FROM agent_guard.chain_state \gset
WITH s AS (
    INSERT INTO agent_guard.statement_rows (agent_id, run_id, login_role, query, client_addr, application_name)
    VALUES (E'quote " back \\ tab \t nl \n bell \x01', NULL, '', E'UPDATE t SET v = \'é ü 😀 \u2028\' -- x',
            '::1', E'app \u00e9')
    RETURNING statement_id)
INSERT INTO agent_guard.events (at, agent_id, run_id, login_role, statement_id, relation, operation,
                                row_key, old_row, new_row, detail,
                                query, client_addr, application_name, parameters)
SELECT v.at, v.agent_id, v.run_id, v.login_role, CASE v.stmt WHEN 'own' THEN s.statement_id
                                                           WHEN 'missing' THEN 999999999 END,
       v.relation, v.operation, v.row_key, v.old_row, v.new_row, v.detail,
       -- a statement kept in its event (1.2), with awkward values
       CASE WHEN v.stmt = 'missing' THEN E'INSERT INTO "t\u00e9" VALUES (\'\t\\\n😀\')' END,
       CASE WHEN v.stmt = 'missing' THEN '10.1.2.3/8'::inet END,
       CASE WHEN v.stmt = 'missing' THEN '' END,
       CASE WHEN v.stmt = 'missing' THEN E'$1 = \'"\u2028\'' END
  FROM s, (VALUES
    ('2026-02-03 04:05:06.789012+00'::timestamptz, 'bot', 'run-1', 'regress_bot', 'own', 'app.t', 'UPDATE',
     'null'::jsonb, '"a raw scalar"'::jsonb, '[1, 2.50, -0.0, 1e-7, {"b": null, "a": [true, false]}]'::jsonb,
     '{"": 0, "aa": {}, "b": [], "é": "\u0001\\\""}'::jsonb),
    ('infinity', E'\u00e9\u00fc 😀', NULL, NULL, 'missing', NULL, 'FREEZE',
     NULL, NULL, NULL, 'null'::jsonb),
    ('1999-12-31 23:59:59.5-08', '', '', '', NULL, '', 'APPROVED',
     '{"id": 12345678901234567890}'::jsonb, '12.000'::jsonb, 'true'::jsonb,
     (SELECT jsonb_object_agg('k' || g, repeat(md5(g::text), 40)) FROM generate_series(1, 100) g))
  ) AS v(at, agent_id, run_id, login_role, stmt, relation, operation, row_key, old_row, new_row, detail);
SELECT agent_guard.seal_log() AS sealed_now;
-- each seal is the SQL formula's, computed here event by event
SELECT c.seal_seq - :seq0 AS pos, e.operation,
       c.seal = sha256(coalesce(lag(c.seal) OVER (ORDER BY c.seal_seq),
                                (SELECT p.seal FROM agent_guard.event_seals p WHERE p.seal_seq = :seq0),
                                '\x'::bytea)
                       || convert_to(agent_guard._event_content(e, c.seal_seq), 'UTF8')) AS same_as_sql
  FROM agent_guard.events e JOIN agent_guard.event_seals c ON c.event_id = e.event_id
 WHERE c.seal_seq > :seq0
 ORDER BY c.seal_seq;
SELECT ok FROM agent_guard.verify_log();
-- a statement row of 1.1 is still under the seals of its events
SAVEPOINT edited;
UPDATE agent_guard.statement_rows SET query = 'SELECT 1'
 WHERE statement_id = (SELECT e.statement_id FROM agent_guard.events e JOIN agent_guard.event_seals c ON c.event_id = e.event_id
                        WHERE c.seal_seq = :seq0 + 1);
SELECT ok, first_bad_event = (SELECT c.event_id FROM agent_guard.event_seals c WHERE c.seal_seq = :seq0 + 1) AS located
  FROM agent_guard.verify_log();
ROLLBACK TO SAVEPOINT edited;
-- what was sealed keeps its awkward parts
SELECT regexp_replace(agent_guard._event_content(e, c.seal_seq),
                      '"(xid|event_id|seal_seq)": "?[0-9]+"?', '"\1": N', 'g') AS content
  FROM agent_guard.events e JOIN agent_guard.event_seals c ON c.event_id = e.event_id
 WHERE c.seal_seq > :seq0 AND e.operation = 'FREEZE';
ROLLBACK;
