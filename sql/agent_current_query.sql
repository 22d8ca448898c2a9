--
-- agent_current_query: current_query() is the whole text the client sent,
-- which in a human's session may hold more than the statement that runs
-- an agent's code (a password set in the same query string).  An agent's
-- default, rule or trigger that keeps it in the agent's table reads it
-- with the human's rights: refused (YG002) in a human's statement, like
-- pg_stat_activity (red team 15, F8).  In the agent's own session it reads
-- the agent's own text, and runs; a human reads it in statements of their
-- own.
--
\c "dbname=contrib_regression user=regress_su options="
\set VERBOSITY sqlstate
CREATE SCHEMA cq AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA cq TO PUBLIC;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-cq-1"
\set VERBOSITY sqlstate
CREATE TABLE cq.notes (id int, q text DEFAULT current_query());
GRANT SELECT, INSERT ON cq.notes TO PUBLIC;
CREATE TABLE cq.loot (id int, q text);
GRANT INSERT ON cq.loot TO PUBLIC;
CREATE TABLE cq.inbox (id int);
GRANT INSERT ON cq.inbox TO PUBLIC;
CREATE RULE r1 AS ON INSERT TO cq.inbox DO ALSO
    INSERT INTO cq.loot VALUES (new.id, current_query());
CREATE FUNCTION cq.keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO cq.loot VALUES (new.id, current_query());
  RETURN new;
END $$;
CREATE TABLE cq.trig (id int);
GRANT INSERT ON cq.trig TO PUBLIC;
CREATE TRIGGER keep BEFORE INSERT ON cq.trig FOR EACH ROW EXECUTE FUNCTION cq.keep();
-- the agent's own session: its own text, kept
INSERT INTO cq.notes(id) VALUES (1);
INSERT INTO cq.inbox VALUES (2);
INSERT INTO cq.trig VALUES (3);
SELECT id, q FROM cq.notes ORDER BY id;
SELECT id, q FROM cq.loot ORDER BY id;

-- the human: a query string with a secret in its other statement
\c "dbname=contrib_regression user=regress_su options="
\set VERBOSITY sqlstate
CREATE ROLE regress_cq_victim;
SELECT 1 AS one \; ALTER ROLE regress_cq_victim PASSWORD 'cq-secret-1' \; INSERT INTO cq.notes(id) VALUES (10);
SELECT 1 AS one \; ALTER ROLE regress_cq_victim PASSWORD 'cq-secret-2' \; INSERT INTO cq.inbox VALUES (11);
-- the agent's trigger function reads it as the agent: its own code, its
-- rights; what it reads is still the human's text
SELECT 1 AS one \; ALTER ROLE regress_cq_victim PASSWORD 'cq-secret-3' \; INSERT INTO cq.trig VALUES (12);
-- the human's own reads and writes
SELECT current_query() IS NOT NULL AS reads_own;
INSERT INTO cq.notes(id, q) VALUES (13, 'given');

-- nothing of the human's text reached the agent
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-cq-1"
SELECT id, q LIKE '%cq-secret%' AS leaked FROM cq.notes ORDER BY id;
SELECT id, q LIKE '%cq-secret%' AS leaked FROM cq.loot ORDER BY id;

\c "dbname=contrib_regression user=regress_su options="
SET client_min_messages = warning;
DROP SCHEMA cq CASCADE;
DROP ROLE regress_cq_victim;
