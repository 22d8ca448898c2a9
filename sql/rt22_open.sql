--
-- rt22_open: red team 22's findings.
-- F1: renaming a constraint (not the key) or a unique index of a protected
-- table needs approval (YG003): humans' ON CONFLICT ON CONSTRAINT names
-- it, and a rename swap would let an approved drop of one constraint drop
-- another by its name.
-- F4: setval() called by an agent's function in a human's session is
-- refused (YG002, on record under the agent): it acts with the human's
-- rights, and in the agent's own session it needs approval.
-- F5: a default that computes to NULL (nullif(1, 1), CASE WHEN false ...)
-- for a NOT NULL column of a protected table needs approval, as DROP
-- DEFAULT does.
-- From the human's side: the same statements work.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 890000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
GRANT CREATE ON DATABASE contrib_regression TO regress_bot;
CREATE SCHEMA r22 AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA r22 TO regress_human;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt22-setup"
\set SHOW_CONTEXT never
CREATE TABLE r22.b1 (id serial PRIMARY KEY, v int NOT NULL DEFAULT 0, u int,
                     CONSTRAINT b1_v_check CHECK (v >= 0), CONSTRAINT b1_u_key UNIQUE (u));
CREATE UNIQUE INDEX b1_v_u ON r22.b1 (v, u);
CREATE FUNCTION r22.helper() RETURNS bigint LANGUAGE sql AS $$ SELECT setval('r22.b1_id_seq', 1) $$;
CREATE FUNCTION r22.helper2() RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN RETURN setval('r22.b1_id_seq', 1); END $$;
GRANT SELECT, INSERT, UPDATE ON r22.b1 TO regress_human;
GRANT USAGE, UPDATE ON SEQUENCE r22.b1_id_seq TO regress_human;
GRANT EXECUTE ON FUNCTION r22.helper(), r22.helper2() TO regress_human;
\c "dbname=contrib_regression user=regress_su options="
INSERT INTO r22.b1 (v, u) VALUES (1, 1), (2, 2), (3, 3);
SELECT agent_guard.protect('r22.b1');

-- the agent's side
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt22"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- F1: error: YG003 each
ALTER TABLE r22.b1 RENAME CONSTRAINT b1_v_check TO b1_v_old;
ALTER TABLE r22.b1 RENAME CONSTRAINT b1_u_key TO b1_v_check;
ALTER INDEX r22.b1_v_u RENAME TO b1_other;
-- F5: error: YG003 each
ALTER TABLE r22.b1 ALTER COLUMN v SET DEFAULT nullif(1, 1);
ALTER TABLE r22.b1 ALTER COLUMN v SET DEFAULT CASE WHEN false THEN 1 END;
-- allowed: a constant that is not NULL, a NULL default of a nullable column
ALTER TABLE r22.b1 ALTER COLUMN v SET DEFAULT 5;
ALTER TABLE r22.b1 ALTER COLUMN u SET DEFAULT nullif(1, 1);
\set VERBOSITY default
SELECT conname FROM pg_constraint WHERE conrelid = 'r22.b1'::regclass AND contype <> 'n' ORDER BY 1;

-- F4: the agent's functions in a human's session
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG002 each
SELECT r22.helper();
SELECT r22.helper2();
\set VERBOSITY default
-- the human's inserts still take new keys
INSERT INTO r22.b1 (u) VALUES (4) RETURNING id, v;

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;

-- the human's side: the same statements work for a human
BEGIN;
ALTER TABLE r22.b1 RENAME CONSTRAINT b1_v_check TO b1_v_old;
ALTER INDEX r22.b1_v_u RENAME TO b1_other;
ALTER TABLE r22.b1 ALTER COLUMN v SET DEFAULT nullif(1, 1);
SELECT setval('r22.b1_id_seq', 10) AS human_setval;
ROLLBACK;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r22.b1');
DROP SCHEMA r22 CASCADE;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_bot;
