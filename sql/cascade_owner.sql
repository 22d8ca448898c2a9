--
-- cascade_owner: a foreign key's cascade runs as the referencing table's
-- owner.  When that owner is a superuser (tables made by postgres, as in
-- the Quick start), the cascade of an agent's DELETE is still the agent's
-- statement: counted toward the row limit and held to its tables policy
-- (red team 4, finding 6).  A human's DELETE cascades as ever.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE SCHEMA co;
GRANT USAGE ON SCHEMA co TO regress_bot, regress_human;
CREATE TABLE co.accounts (id int PRIMARY KEY, name text);
CREATE TABLE co.ledger (id serial PRIMARY KEY,
                        account_id int REFERENCES co.accounts ON DELETE CASCADE,
                        amount int);
INSERT INTO co.accounts VALUES (1, 'big'), (2, 'small');
INSERT INTO co.ledger (account_id, amount) SELECT 1, g FROM generate_series(1, 20) g;
INSERT INTO co.ledger (account_id, amount) VALUES (2, 1);
GRANT SELECT, DELETE ON co.accounts TO regress_bot, regress_human;
ALTER ROLE regress_bot SET agent_guard.max_rows_per_statement = 5;
SELECT setval('agent_guard.requests_request_id_seq', 150000, false);

-- Agent's side: one parent row, 20 cascaded rows, a limit of 5.
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-co"
\set VERBOSITY sqlstate
DELETE FROM co.accounts WHERE id = 1;
\set VERBOSITY default
-- a tables policy that allows only the parent: the cascade is refused
\c "dbname=contrib_regression user=regress_su options="
SELECT (agent_guard.set_policy('regress_bot', 'dml', ARRAY['co.accounts']::regclass[])).mode;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-co"
\set VERBOSITY sqlstate
DELETE FROM co.accounts WHERE id = 2;
\set VERBOSITY default

-- Nothing was deleted; both refusals are on record.
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.drop_policy('regress_bot');
SELECT account_id, count(*) FROM co.ledger GROUP BY account_id ORDER BY account_id;
SELECT agent_guard._flush_requests();
SELECT request_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id BETWEEN 150000 AND 199999 ORDER BY request_id;

-- Human's side: the same DELETE cascades.
\c "dbname=contrib_regression user=regress_human options="
DELETE FROM co.accounts WHERE id = 1;
\c "dbname=contrib_regression user=regress_su options="
SELECT account_id, count(*) FROM co.ledger GROUP BY account_id ORDER BY account_id;
-- a superuser's own SECURITY DEFINER function an agent calls is not judged (README)
CREATE FUNCTION co.purge(a int) RETURNS void LANGUAGE sql SECURITY DEFINER
    AS 'DELETE FROM co.ledger WHERE account_id = $1';
GRANT EXECUTE ON FUNCTION co.purge(int) TO regress_bot;
INSERT INTO co.ledger (account_id, amount) SELECT 2, g FROM generate_series(1, 10) g;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-co"
SELECT co.purge(2);
\c "dbname=contrib_regression user=regress_su options="
SELECT count(*) AS ledger_rows FROM co.ledger;
SELECT ok FROM agent_guard.verify_log();

-- clean up
ALTER ROLE regress_bot RESET agent_guard.max_rows_per_statement;
SET client_min_messages = warning;
DROP SCHEMA co CASCADE;
