--
-- rt23_inherit: red team 23a, F1.  An inheritance child of a protected
-- table was written by the agent through the parent (which the agent has
-- rights on, the child not) with no stamps, no events, no run, beyond
-- rollback_run().
-- protect() covers the table's inheritance children at every level (not a
-- child protected on its own), as it covers partitions: each needs a key of
-- its own; unprotect() undoes it.  A child that no protection covers (a
-- human added it after protect(), or unprotected it) stops every agent
-- write that reaches it (through the parent, directly, COPY, a writing
-- CTE, MERGE, a function, a cursor, an agent's code in a human's session):
-- YG004, on record, before it writes.  ONLY the parent is not stopped.
-- From the human's side: writes through the parent work as before.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 925000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE ROLE regress_r23_human LOGIN;                -- a human no agent is a member of
CREATE SCHEMA r23 AUTHORIZATION regress_r23_human;
GRANT USAGE ON SCHEMA r23 TO regress_bot;
GRANT CREATE ON DATABASE contrib_regression TO regress_bot;
CREATE SCHEMA r23b AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA r23b TO regress_r23_human;

-- the human's tables: a hard-delete parent with a child and a grandchild
-- (the human's archive), a soft-delete parent with a child; the agent may
-- write the parents only
\c "dbname=contrib_regression user=regress_r23_human options="
CREATE TABLE r23.hd (id int PRIMARY KEY, v text);
CREATE TABLE r23.hd_old () INHERITS (r23.hd);
CREATE TABLE r23.hd_old2 (note text) INHERITS (r23.hd_old);
CREATE TABLE r23.sd (id int PRIMARY KEY, v text);
CREATE TABLE r23.sd_old (PRIMARY KEY (id)) INHERITS (r23.sd);
INSERT INTO r23.hd VALUES (1, 'h1'), (2, 'h2');
INSERT INTO r23.hd_old VALUES (7, 'human old 7'), (8, 'human old 8');
INSERT INTO r23.hd_old2 VALUES (9, 'human older 9', 'kept');
INSERT INTO r23.sd VALUES (11, 's11');
INSERT INTO r23.sd_old VALUES (17, 'human old 17'), (18, 'human old 18');
CREATE TABLE r23.rp (id int PRIMARY KEY, v text);
CREATE TABLE r23.rc (PRIMARY KEY (id)) INHERITS (r23.rp);
INSERT INTO r23.rp VALUES (1, 'p1'), (2, 'p2');
INSERT INTO r23.rc VALUES (50, 'child 50');
GRANT SELECT, INSERT, UPDATE, DELETE ON r23.hd, r23.sd, r23.rp TO regress_bot;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- error: a child with no key of its own (a child inherits no index)
SELECT agent_guard.protect('r23.hd', soft_delete => false);
ALTER TABLE r23.hd_old ADD PRIMARY KEY (id);
ALTER TABLE r23.hd_old2 ADD PRIMARY KEY (id);
SELECT agent_guard.protect('r23.hd', soft_delete => false);
SELECT agent_guard.protect('r23.sd');
SELECT agent_guard.protect('r23.rp');
SELECT relation, soft_delete, key_columns, partitions, children
  FROM agent_guard.protected WHERE relation::text LIKE 'r23.%' ORDER BY 1;
SELECT c.relname, t.tgname, t.tgargs
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'r23'::regnamespace AND t.tgname LIKE 'zz_agent_guard%'
 ORDER BY 1, 2;
SELECT polrelid::regclass AS rel, polname FROM pg_policy
 WHERE polrelid::regclass::text LIKE 'r23.%' ORDER BY 1, 2;
SELECT attrelid::regclass AS rel, string_agg(attname, ', ' ORDER BY attname) AS stamps
  FROM pg_attribute WHERE attrelid::regclass::text LIKE 'r23.%' AND attname LIKE 'ag\_%' AND NOT attisdropped
 GROUP BY 1 ORDER BY 1;

-- the agent's side: the red team's repro, now on record
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt23"
\set SHOW_CONTEXT never
DELETE FROM r23.hd WHERE id = 7;
UPDATE r23.hd SET v = 'pwned' WHERE id IN (8, 9);
DELETE FROM r23.sd WHERE id = 17;
UPDATE r23.sd SET v = 'pwned' WHERE id = 18;
-- error: the child itself is not the agent's to read
SELECT * FROM r23.hd_old;
-- error: a covered child is protected: no new child under it either (YG004)
\set VERBOSITY sqlstate
CREATE TABLE r23b.kid () INHERITS (r23.hd_old);
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT operation, relation, row_key, agent_id FROM agent_guard.events
 WHERE run_id = 'run-rt23' ORDER BY event_id;
SELECT tableoid::regclass AS rel, id, v, ag_agent_id, ag_run_id FROM r23.hd ORDER BY id;
SELECT tableoid::regclass AS rel, id, v, ag_agent_id, ag_run_id, ag_deleted_at IS NOT NULL AS deleted
  FROM r23.sd ORDER BY id;
-- each table's own rows: the child's row is listed under the child, where
-- it is logged (red team 28a, F3; sql/rt28_inherit.sql)
SELECT row_key, agent_id, run_id FROM agent_guard.soft_deleted('r23.sd');
SELECT row_key, agent_id, run_id FROM agent_guard.soft_deleted('r23.sd_old');
SELECT inserted, updated, deleted, soft_deleted FROM agent_guard.runs WHERE run_id = 'run-rt23';

-- restore() of the covered child brings back the child's row, not the
-- parent's row at the same ctid; restore() of the parent addresses the
-- parent's own rows only (red team 28a, F3)
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt23r"
DELETE FROM r23.rp WHERE id = 50;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT tableoid::regclass AS rel, ctid, id, ag_agent_id, ag_deleted_at IS NOT NULL AS deleted FROM r23.rp ORDER BY id;
-- error: the parent has no soft-deleted row 50 of its own
SELECT agent_guard.restore('r23.rp', '{"id": 50}') ->> 'v' AS restored;
SELECT agent_guard.restore('r23.rc', '{"id": 50}') ->> 'v' AS restored;
SELECT tableoid::regclass AS rel, id, ag_agent_id, ag_deleted_at IS NOT NULL AS deleted FROM r23.rp ORDER BY id;
SELECT agent_guard.unprotect('r23.rp');

-- a human adds children after protect(): not covered until protected
\c "dbname=contrib_regression user=regress_r23_human options="
CREATE TABLE r23.hd_new (PRIMARY KEY (id)) INHERITS (r23.hd);
CREATE TABLE r23.sd_new (PRIMARY KEY (id)) INHERITS (r23.sd);
INSERT INTO r23.hd_new VALUES (20, 'human new 20');
INSERT INTO r23.sd_new VALUES (30, 'human new 30');
GRANT SELECT, INSERT, UPDATE, DELETE ON r23.hd_new TO regress_bot;

\c "dbname=contrib_regression user=regress_su options="
SELECT relation, children FROM agent_guard.protected WHERE relation::text LIKE 'r23.%' ORDER BY 1;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt23b"
\set SHOW_CONTEXT never
-- error: YG004, whatever the path, before anything is written
UPDATE r23.hd SET v = 'x' WHERE id = 20;
\set VERBOSITY sqlstate
DELETE FROM r23.hd WHERE id = 8;
DELETE FROM r23.sd WHERE id = 30;
UPDATE r23.sd SET v = 'x' WHERE id = 11;
DELETE FROM r23.hd_new WHERE id = 20;
COPY r23.hd_new FROM STDIN;
21	copied
\.
WITH d AS (DELETE FROM r23.hd WHERE id = 8 RETURNING id) SELECT count(*) FROM d;
MERGE INTO r23.hd t USING (VALUES (20)) s(id) ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = 'merged';
DO $$ BEGIN UPDATE r23.hd SET v = 'x' WHERE id = 2; END $$;
BEGIN;
DECLARE c CURSOR FOR SELECT id FROM r23.hd_new FOR UPDATE;
FETCH c;
UPDATE r23.hd_new SET v = 'x' WHERE CURRENT OF c;
ROLLBACK;
\set VERBOSITY default
-- allowed: ONLY the parent's own rows, and inserts (they go into the parent)
DELETE FROM ONLY r23.hd WHERE id = 2;
UPDATE ONLY r23.sd SET v = 'only' WHERE id = 11;
INSERT INTO r23.hd VALUES (3, 'agent 3');
-- an agent's function, for the human to call below
CREATE FUNCTION r23b.touch() RETURNS void LANGUAGE sql AS $$ UPDATE r23.hd_new SET v = 'code' WHERE id = 20 $$;
GRANT EXECUTE ON FUNCTION r23b.touch() TO regress_r23_human;

-- error: the agent's code in a human's session may not write it either
\c "dbname=contrib_regression user=regress_r23_human options="
\set SHOW_CONTEXT never
SELECT r23b.touch();

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed;
SELECT request_id, agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT count(*) AS blocked FROM agent_guard.events
 WHERE run_id = 'run-rt23b' AND operation = 'BLOCKED';
SELECT operation, relation, row_key FROM agent_guard.events
 WHERE run_id = 'run-rt23b' AND operation <> 'BLOCKED' ORDER BY event_id;
SELECT tableoid::regclass AS rel, id, v FROM r23.hd WHERE tableoid = 'r23.hd_new'::regclass;

-- the first run rolls back, the children's rows included
SELECT step, relation, operation, row_key, status
  FROM agent_guard.rollback_run('run-rt23', apply => true) ORDER BY step;
SELECT tableoid::regclass AS rel, id, v, ag_agent_id FROM r23.hd ORDER BY id;
SELECT tableoid::regclass AS rel, id, v, ag_agent_id, ag_deleted_at IS NOT NULL AS deleted
  FROM r23.sd ORDER BY id;

-- the human's side: writes through the parents work, the new children's too
\c "dbname=contrib_regression user=regress_r23_human options="
UPDATE r23.hd SET v = v || '!' WHERE id IN (1, 7, 9, 20);
DELETE FROM r23.sd WHERE id IN (18, 30);
UPDATE r23.sd SET v = 'human' WHERE id = 17;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT tableoid::regclass AS rel, id, v, ag_agent_id FROM r23.hd ORDER BY id;
SELECT tableoid::regclass AS rel, id, v, ag_agent_id FROM r23.sd ORDER BY id;

-- protect the new child on its own: the agent's writes through the parent
-- go on, on record; protect() of the parent again keeps it as it is
SELECT agent_guard.protect('r23.hd_new', soft_delete => false);
SELECT agent_guard.protect('r23.hd', soft_delete => false);
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt23c"
UPDATE r23.hd SET v = 'agent' WHERE id IN (8, 20);
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT operation, relation, row_key FROM agent_guard.events WHERE run_id = 'run-rt23c' ORDER BY event_id;
SELECT relation, soft_delete, children FROM agent_guard.protected WHERE relation::text LIKE 'r23.%' ORDER BY 1;

-- a covered child protected on its own takes its row security back first;
-- unprotect() of its parent then leaves it, and its own unprotect()
-- restores the row security it had before either
SELECT agent_guard.protect('r23.sd_old');
SELECT relation, children FROM agent_guard.protected WHERE relation::text LIKE 'r23.%' ORDER BY 1;
SELECT relation, row_security, force_row_security FROM agent_guard.rls_before WHERE relation::text LIKE 'r23.s%' ORDER BY relation::text;
SELECT agent_guard.unprotect('r23.sd');
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       (SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname LIKE 'zz_agent_guard%') AS triggers
  FROM pg_class c WHERE c.relnamespace = 'r23'::regnamespace AND c.relkind = 'r' AND c.relname LIKE 's%' ORDER BY 1;
SELECT agent_guard.unprotect('r23.sd_old');

-- unprotect() of a child still below a protected table says so; unprotect()
-- of the parent removes what its protect() added to its children
SELECT agent_guard.unprotect('r23.hd_new');
SELECT agent_guard.unprotect('r23.hd');
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       (SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname LIKE 'zz_agent_guard%') AS triggers,
       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
  FROM pg_class c WHERE c.relnamespace = 'r23'::regnamespace AND c.relkind = 'r' ORDER BY 1;
SELECT operation, relation, detail FROM agent_guard.events
 WHERE operation IN ('PROTECT', 'UNPROTECT') AND relation LIKE 'r23.%' ORDER BY event_id;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
DROP SCHEMA r23 CASCADE;
DROP SCHEMA r23b CASCADE;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_bot;
DROP ROLE regress_r23_human;
