--
-- preview_escape: red team 6, findings 4, 13 and 18.
--  4: agent_guard.preview() rolls back what it ran, but not what PostgreSQL
--     never rolls back.  A statement that needs approval goes on in a
--     preview, so setval() of a protected table's sequence was set for good.
--     In an agent's preview setval() (any sequence), session-level advisory
--     locks, WAL messages and lo_export() are refused outright (YG004);
--     nextval() stays allowed, as outside a preview.
-- 13: a refusal inside a preview (a freeze, a guard refusal) was reported
--     but not on record.  It is a request now, like any refusal; a statement
--     that would need approval is still only reported.
-- 18: a partition or inheritance child the agent creates (or attaches) under
--     a table that is not its scratch was the agent's scratch, so it could
--     empty or drop it, humans' rows routed into it included.  It is not
--     scratch; DETACH PARTITION and NO INHERIT from such a table need
--     approval (YG003).
-- Humans do all of it.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_pe_bot LOGIN;
CREATE ROLE regress_pe_human LOGIN;
SELECT agent_guard.register_agent('regress_pe_bot');
SELECT agent_guard.grant_operator('regress_pe_human');
CREATE SCHEMA pe AUTHORIZATION regress_pe_bot;
GRANT USAGE, CREATE ON SCHEMA pe TO regress_pe_human;
-- request ids that do not depend on the tests before this one
SELECT setval('agent_guard.requests_request_id_seq', 430000, false);

-- The agent's tables from an earlier session: not its scratch any more.
\c "dbname=contrib_regression user=regress_pe_bot options="
CREATE TABLE pe.t (id serial PRIMARY KEY, v text);
CREATE SEQUENCE pe.free;
CREATE TABLE pe.parts (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE pe.parts_low PARTITION OF pe.parts FOR VALUES FROM (0) TO (100);
CREATE TABLE pe.base (id int, v text);
CREATE TABLE pe.prot (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE pe.prot_low PARTITION OF pe.prot FOR VALUES FROM (0) TO (100);
CREATE TABLE pe.prot_high PARTITION OF pe.prot FOR VALUES FROM (100) TO (200);
GRANT SELECT, INSERT, UPDATE, DELETE ON pe.t, pe.parts, pe.base, pe.prot TO regress_pe_human;
GRANT SELECT, USAGE, UPDATE ON SEQUENCE pe.t_id_seq, pe.free TO regress_pe_human;

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('pe.t');
SELECT agent_guard.protect('pe.prot');
-- a human's inheritance child of a protected table, given to the agent
CREATE TABLE pe.t_kid () INHERITS (pe.t);
INSERT INTO pe.t_kid (id, v) VALUES (500, 'human kid');
ALTER TABLE pe.t_kid OWNER TO regress_pe_bot;

\c "dbname=contrib_regression user=regress_pe_human options="
INSERT INTO pe.t (v) VALUES ('h1'), ('h2'), ('h3');
INSERT INTO pe.parts VALUES (1, 'h1'), (2, 'h2');
INSERT INTO pe.base VALUES (1, 'h');
INSERT INTO pe.prot VALUES (1, 'h1'), (150, 'h150');

-- What must stay as it is: the sequences, the rows each table shows, and
-- the record of the protected tables.
CREATE FUNCTION pe.state() RETURNS TABLE (what text, value text) LANGUAGE sql AS $$
    SELECT 't_id_seq', format('%s %s', last_value, is_called) FROM pe.t_id_seq
    UNION ALL SELECT 'free', format('%s %s', last_value, is_called) FROM pe.free
    UNION ALL SELECT 't', string_agg(format('%s=%s@%s', id, v, tableoid::regclass), ' ' ORDER BY id) FROM pe.t
    UNION ALL SELECT 'parts', string_agg(format('%s=%s@%s', id, v, tableoid::regclass), ' ' ORDER BY id) FROM pe.parts
    UNION ALL SELECT 'base', string_agg(format('%s=%s@%s', id, v, tableoid::regclass), ' ' ORDER BY id) FROM pe.base
    UNION ALL SELECT 'prot', string_agg(format('%s=%s@%s', id, v, tableoid::regclass), ' ' ORDER BY id) FROM pe.prot
$$;
GRANT EXECUTE ON FUNCTION pe.state() TO PUBLIC;
SELECT * FROM pe.state();

--
-- 1. Finding 4: what a preview cannot roll back
--
\c "dbname=contrib_regression user=regress_pe_bot options=-cagent_guard.run_id=run-pe-preview"
-- refused (YG004): setval() of the protected table's sequence, which needs
-- approval outside a preview, of a sequence that numbers nothing, and of a
-- temporary one; also from a DO block
SELECT verdict, detail FROM agent_guard.preview('SELECT setval(''pe.t_id_seq'', 1)');
SELECT verdict, detail FROM agent_guard.preview('SELECT setval(''pe.free'', 99, false)');
CREATE TEMPORARY SEQUENCE mine;
SELECT verdict, detail FROM agent_guard.preview('SELECT setval(''mine'', 99)');
SELECT verdict, detail FROM agent_guard.preview('DO $$BEGIN PERFORM setval(''pe.t_id_seq'', 1); END$$');
-- refused (YG004): a session-level advisory lock; none is held afterwards
SELECT verdict, detail FROM agent_guard.preview('SELECT pg_advisory_lock(4711)');
SELECT count(*) AS advisory_locks FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();
-- refused (YG004): a WAL message that logical decoding consumers would receive
SELECT verdict, detail FROM agent_guard.preview('SELECT pg_logical_emit_message(false, ''outbox'', ''x'')');
-- allowed: a transaction-level advisory lock (released with the rollback),
-- and nextval(), which advances the sequence as it would outside a preview
SELECT count(*) AS rows FROM agent_guard.preview('SELECT pg_advisory_xact_lock(4711)');
SELECT count(*) AS rows FROM agent_guard.preview('SELECT nextval(''pe.free'')');
SELECT count(*) AS advisory_locks FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();
-- the preview switch called by the agent itself, with a savepoint rolled back
\set VERBOSITY sqlstate
BEGIN;
SELECT agent_guard._preview(true);
SAVEPOINT s;
-- error: YG004
SELECT setval('pe.t_id_seq', 1);
ROLLBACK TO s;
SAVEPOINT s;
-- error: YG004
SELECT pg_advisory_lock(4712);
ROLLBACK TO s;
ROLLBACK;
-- error: outside a preview setval() of that sequence still needs approval (YG003)
SELECT setval('pe.t_id_seq', 1);
\set VERBOSITY default
SELECT * FROM pe.state();

--
-- 2. Finding 13: refusals inside a preview are on record
--
\c "dbname=contrib_regression user=regress_pe_human options="
SELECT agent_guard.freeze('preview_escape');
\c "dbname=contrib_regression user=regress_pe_bot options=-cagent_guard.run_id=run-pe-record"
-- refused, with a request: frozen (YG006), a guard refusal (YG004)
SELECT verdict, detail FROM agent_guard.preview('INSERT INTO pe.t (v) VALUES (''frozen'')');
\c "dbname=contrib_regression user=regress_pe_human options="
SELECT agent_guard.unfreeze();
\c "dbname=contrib_regression user=regress_pe_bot options=-cagent_guard.run_id=run-pe-record"
SELECT verdict, detail FROM agent_guard.preview('ALTER TABLE pe.t DISABLE TRIGGER ALL');
-- reported, not requested: a statement that would need approval
SELECT relation, operation, rows, verdict FROM agent_guard.preview('DELETE FROM ONLY pe.t');
-- error: without ONLY it reaches pe.t_kid, a child of the protected table
-- that no protection covers (red team 23a, F1): refused, on record
SELECT verdict, detail FROM agent_guard.preview('DELETE FROM pe.t');
-- every refusal of both runs is on record, none of the approvals
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT request_id, run_id, kind, status, reason, statement FROM agent_guard.requests
 WHERE request_id >= 430000 ORDER BY request_id;
SELECT run_id, blocked FROM agent_guard.runs WHERE run_id LIKE 'run-pe-%' ORDER BY run_id;
SELECT * FROM pe.state();

--
-- 3. Finding 18: children and partitions of tables that are not scratch
--
\c "dbname=contrib_regression user=regress_pe_bot options=-cagent_guard.run_id=run-pe-scratch"
-- allowed: a new partition of its own (not scratch) table, an inheritance
-- child of another, a scratch table attached as a partition
CREATE TABLE pe.parts_mid PARTITION OF pe.parts FOR VALUES FROM (100) TO (200);
CREATE TABLE pe.kid () INHERITS (pe.base);
INSERT INTO pe.kid VALUES (2, 'agent kid');
CREATE TABLE pe.mine (id int PRIMARY KEY, v text);
ALTER TABLE pe.parts ATTACH PARTITION pe.mine FOR VALUES FROM (200) TO (300);
-- a scratch table of its own stays scratch, and so does a child of it
CREATE TABLE pe.own (id int, v text);
CREATE TABLE pe.own_kid () INHERITS (pe.own);
INSERT INTO pe.own_kid VALUES (1, 'scratch');
TRUNCATE pe.own_kid;
DROP TABLE pe.own CASCADE;
-- humans' rows are routed into the new partitions
\c "dbname=contrib_regression user=regress_pe_human options="
INSERT INTO pe.parts VALUES (150, 'h150'), (250, 'h250');
\c "dbname=contrib_regression user=regress_pe_bot options=-cagent_guard.run_id=run-pe-scratch"
\set VERBOSITY sqlstate
-- error: emptying or dropping them needs approval (YG003)
TRUNCATE pe.parts_mid;
DELETE FROM pe.parts_mid;
DROP TABLE pe.parts_mid;
DROP TABLE pe.mine;
TRUNCATE pe.kid;
DELETE FROM pe.kid;
DROP TABLE pe.kid;
-- error: taking them out of the table needs approval (YG003)
ALTER TABLE pe.parts DETACH PARTITION pe.parts_mid;
ALTER TABLE pe.parts DETACH PARTITION pe.mine;
ALTER TABLE pe.kid NO INHERIT pe.base;
ALTER TABLE pe.prot DETACH PARTITION pe.prot_high;
ALTER TABLE pe.t_kid NO INHERIT pe.t;
-- error: a partition or a child of the protected table (YG004)
CREATE TABLE pe.prot_new PARTITION OF pe.prot FOR VALUES FROM (200) TO (300);
CREATE TABLE pe.t_kid2 () INHERITS (pe.t);
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT request_id, kind, reason FROM agent_guard.requests
 WHERE run_id = 'run-pe-scratch' ORDER BY request_id;
SELECT * FROM pe.state();
SELECT c.oid::regclass AS child, i.inhparent::regclass AS parent FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
 WHERE c.relnamespace = 'pe'::regnamespace AND c.relkind IN ('r', 'p') ORDER BY 1::text;

-- an approved DETACH and NO INHERIT run once, on their approval
SELECT r.request_id, (agent_guard.approve(r.request_id)).status FROM agent_guard.requests r
 WHERE r.run_id = 'run-pe-scratch' AND r.statement IN
       ('ALTER TABLE pe.parts DETACH PARTITION pe.mine', 'ALTER TABLE pe.kid NO INHERIT pe.base')
 ORDER BY r.request_id;
\c "dbname=contrib_regression user=regress_pe_bot options=-cagent_guard.run_id=run-pe-scratch"
ALTER TABLE pe.parts DETACH PARTITION pe.mine;
ALTER TABLE pe.kid NO INHERIT pe.base;
\c "dbname=contrib_regression user=regress_su options="
SELECT * FROM pe.state();
SELECT c.oid::regclass AS child, i.inhparent::regclass AS parent FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
 WHERE c.relnamespace = 'pe'::regnamespace AND c.relkind IN ('r', 'p') ORDER BY 1::text;
SELECT ok FROM agent_guard.verify_log();

--
-- 4. Humans do all of it
--
\c "dbname=contrib_regression user=regress_pe_human options="
CREATE TABLE pe.hparts (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE pe.hparts_low PARTITION OF pe.hparts FOR VALUES FROM (0) TO (100);
CREATE TABLE pe.hbase (id int, v text);
CREATE TABLE pe.hkid () INHERITS (pe.hbase);
INSERT INTO pe.hparts VALUES (1, 'h');
INSERT INTO pe.hkid VALUES (1, 'h');
TRUNCATE pe.hparts_low;
ALTER TABLE pe.hparts DETACH PARTITION pe.hparts_low;
ALTER TABLE pe.hkid NO INHERIT pe.hbase;
DROP TABLE pe.hparts_low, pe.hkid;
-- a human's preview is not judged: setval() and nextval() take effect, as
-- PostgreSQL never rolls them back
SELECT count(*) AS rows FROM agent_guard.preview('SELECT setval(''pe.free'', 42)');
SELECT last_value FROM pe.free;
SELECT setval('pe.free', 1, false);

\c "dbname=contrib_regression user=regress_su options="
DROP SCHEMA pe CASCADE;
