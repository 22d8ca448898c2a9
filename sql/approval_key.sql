--
-- approval_key: what an approval is bound to, and that a consumption a
-- subtransaction rolled back admits nothing (red team 3, findings 2, 5, 9).
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
ALTER ROLE regress_bot SET agent_guard.max_rows_per_statement = 5;
ALTER ROLE regress_bot SET agent_guard.max_rows_per_run = -1;
CREATE SCHEMA ak AUTHORIZATION regress_bot;
SET ROLE regress_bot;
CREATE TABLE ak.t (id int PRIMARY KEY, v text);
CREATE TABLE ak.h (id int PRIMARY KEY, v text);
GRANT USAGE ON SCHEMA ak TO regress_human;
GRANT SELECT, UPDATE ON ak.t TO regress_human;
RESET ROLE;
SELECT agent_guard.protect('ak.t');
SELECT agent_guard.protect('ak.h', false);
INSERT INTO ak.t SELECT g, 'V' || g FROM generate_series(1, 10) g;
-- two rows: both DELETEs of ak.wipe() count for the row limit of 5
INSERT INTO ak.h SELECT g, 'h' || g FROM generate_series(1, 2) g;

-- Finding 2: the agent consumes the approval in an exception block that
-- it rolls back, then runs the statement again.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ak-1"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
CREATE FUNCTION ak.wipe() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    DELETE FROM ak.h;
    RAISE EXCEPTION 'undo the consumption';
  EXCEPTION WHEN raise_exception THEN NULL;
  END;
  DELETE FROM ak.h;
  RETURN 'wiped';
END $$;
-- error: no WHERE clause (YG003)
SELECT ak.wipe();
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT request_id AS req FROM agent_guard.requests
 WHERE run_id = 'run-ak-1' AND status = 'pending' \gset
SELECT status FROM agent_guard.approve(:req, 'one wipe, once');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ak-2"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- runs once: the rolled-back consumption left nothing behind, the second
-- DELETE consumed the approval again, for good
SELECT ak.wipe();
SELECT count(*) AS h_left FROM ak.h;
INSERT INTO ak.h SELECT g, 'again' || g FROM generate_series(1, 2) g;
-- error: and not a second time (YG003)
SELECT ak.wipe();
SELECT count(*) AS h_left FROM ak.h;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
-- used, and its run is on record
SELECT status, used_at IS NOT NULL AS used FROM agent_guard.requests WHERE request_id = :req;
SELECT count(*) AS executed FROM agent_guard.events
 WHERE operation = 'EXECUTED' AND (detail->>'request_id')::bigint = :req;

-- The same execution asks the gate twice: once from a function its rows
-- call, inside an exception block that rolls the consumption back, then
-- at its row limit.  The row limit must consume the approval again.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ak-3"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
CREATE FUNCTION ak.sneak(x text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE ok boolean;
BEGIN
  IF x = 'V1' THEN
    BEGIN
      ok := agent_guard._gate_unqualified('UPDATE', 'ak.t'::regclass);
      RAISE EXCEPTION 'undo the consumption';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
  END IF;
  RETURN x;
END $$;
-- error: 10 rows, over the limit of 5 (YG003)
UPDATE ak.t SET v = ak.sneak(v) WHERE id > 0;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT request_id AS req FROM agent_guard.requests
 WHERE run_id = 'run-ak-3' AND status = 'pending' AND reason LIKE 'It wrote%' \gset
SELECT status FROM agent_guard.approve(:req);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ak-4"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
UPDATE ak.t SET v = ak.sneak(v) WHERE id > 0;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status, used_at IS NOT NULL AS used FROM agent_guard.requests WHERE request_id = :req;
SELECT count(*) AS executed FROM agent_guard.events
 WHERE operation = 'EXECUTED' AND (detail->>'request_id')::bigint = :req;

-- Finding 5: the agent replaces the function the approved statement calls
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ak-5"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
CREATE FUNCTION ak.normalize(x text) RETURNS text LANGUAGE sql AS $$ SELECT lower(x) $$;
-- error: no WHERE clause (YG003)
UPDATE ak.t SET v = ak.normalize(v);
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT request_id AS req FROM agent_guard.requests
 WHERE run_id = 'run-ak-5' AND status = 'pending' \gset
SELECT status FROM agent_guard.approve(:req, 'lowercasing is fine');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ak-6"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
CREATE OR REPLACE FUNCTION ak.normalize(x text) RETURNS text LANGUAGE sql AS $$ SELECT NULL::text $$;
-- error: the same text, another statement: a new request (YG003)
UPDATE ak.t SET v = ak.normalize(v);
SELECT count(*) AS v_kept FROM ak.t WHERE v IS NOT NULL;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
-- the approval is still there, unused; the retry asked anew
SELECT status FROM agent_guard.requests WHERE request_id = :req;
SELECT kind, status, statement FROM agent_guard.requests WHERE run_id = 'run-ak-6';
-- with the definition the human saw, the approved statement runs (the
-- key covers the function's definition, not its version)
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ak-7"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
CREATE OR REPLACE FUNCTION ak.normalize(x text) RETURNS text LANGUAGE sql AS $$ SELECT lower(x) $$;
UPDATE ak.t SET v = ak.normalize(v);
SELECT v FROM ak.t WHERE id = 1;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.requests WHERE request_id = :req;
SELECT count(*) AS requests_of_run_7 FROM agent_guard.requests WHERE run_id = 'run-ak-7';

-- Finding 9: approvals are consumed by the statement's SHA-256 digest, not
-- by the 64-bit statement_hash.  A forged request with the hash of the
-- statement the agent runs, but another statement's digest, admits nothing.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ak-9"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG003
UPDATE ak.t SET v = 'benign';
-- error: YG003
DELETE FROM ak.h;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT octet_length(statement_digest) AS digest_bytes, count(*)
  FROM agent_guard.request_log WHERE run_id = 'run-ak-9' GROUP BY 1;
SELECT request_id AS benign FROM agent_guard.request_log
 WHERE run_id = 'run-ak-9' AND statement LIKE 'UPDATE%' \gset
SELECT request_id AS wipe, statement_hash AS wipe_hash FROM agent_guard.request_log
 WHERE run_id = 'run-ak-9' AND statement LIKE 'DELETE%' \gset
-- the benign request gets the destructive one's 64-bit hash: a collision
UPDATE agent_guard.request_log SET statement_hash = :wipe_hash WHERE request_id = :benign;
SELECT status FROM agent_guard.approve(:benign, 'the benign one');
-- and a forged approved request: the destructive hash, the benign digest
INSERT INTO agent_guard.request_log (request_id, requested_at, agent_id, run_id, kind, status,
       reason, statement, statement_hash, statement_digest, decided_by, decided_at, expires_at)
SELECT nextval('agent_guard.requests_request_id_seq'), now(), agent_id, run_id, kind, 'approved',
       'forged', 'DELETE FROM ak.h', :wipe_hash, statement_digest, 'regress_su', now(), now() + interval '1 hour'
  FROM agent_guard.request_log WHERE request_id = :benign;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-ak-10"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: neither approval admits the DELETE (YG003)
DELETE FROM ak.h;
SELECT count(*) AS h_left FROM ak.h;
-- the benign statement runs on its own approval
UPDATE ak.t SET v = 'benign';
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.requests WHERE request_id = :benign;
SELECT count(*) AS forged_unused FROM agent_guard.request_log
 WHERE reason = 'forged' AND status = 'approved';
SELECT kind, status, statement FROM agent_guard.requests WHERE run_id = 'run-ak-10';
DELETE FROM agent_guard.request_log WHERE reason = 'forged';

-- a human's statements are not judged
\c "dbname=contrib_regression user=regress_human options="
UPDATE ak.t SET v = 'human';
\c "dbname=contrib_regression user=regress_su options="
ALTER ROLE regress_bot RESET agent_guard.max_rows_per_statement;
ALTER ROLE regress_bot RESET agent_guard.max_rows_per_run;
SELECT agent_guard.unprotect('ak.t');
SELECT agent_guard.unprotect('ak.h');
DROP SCHEMA ak CASCADE;
