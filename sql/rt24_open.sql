--
-- rt24_open: red team 24's findings.
-- F1: an agent's write that makes a row reference (through a foreign key)
-- a soft-deleted row is refused (YG004, on record), by every path that
-- writes a row (INSERT, UPDATE, ON CONFLICT, MERGE, COPY, a writing CTE,
-- partitions, a deferred key at COMMIT), on protected and unprotected
-- referencing tables; rows whose key it does not set (a soft delete, an
-- update of other columns) pass, also when the transaction wrote them
-- first.  A human may still point a row at a soft-deleted one.
-- F2: under a policy's tables list, nextval() and setval() of a sequence
-- that is not a listed table's are refused (YG008), however it is named
-- (pg_catalog-qualified, dynamic SQL, a variable in the agent's function,
-- a PL/pgSQL assignment); the listed tables' own sequences stay usable.
-- F3: under a tables list, REINDEX, GRANT and COMMENT of a relation outside
-- the list are refused (YG008), as CLUSTER and ALTER are; so are REINDEX
-- SCHEMA and GRANT ... ON ALL TABLES IN SCHEMA, which name no relation.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 930000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r24 AUTHORIZATION regress_human;
GRANT USAGE ON SCHEMA r24 TO regress_bot;
CREATE SCHEMA r24b AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA r24b TO regress_human;
SET ROLE regress_human;
CREATE TABLE r24.parent (id int PRIMARY KEY, name text);
CREATE TABLE r24.child (id int PRIMARY KEY, pid int REFERENCES r24.parent ON DELETE CASCADE, v text);
CREATE TABLE r24.loose (id int PRIMARY KEY, pid int REFERENCES r24.parent, v text);   -- not protected
CREATE TABLE r24.later (id int PRIMARY KEY, pid int REFERENCES r24.parent DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE r24.parts (id int, pid int REFERENCES r24.parent) PARTITION BY RANGE (id);
CREATE TABLE r24.parts1 PARTITION OF r24.parts FOR VALUES FROM (0) TO (100);
CREATE TABLE r24.tree (id int PRIMARY KEY, up int REFERENCES r24.tree, v text);
INSERT INTO r24.parent SELECT g, 'p' || g FROM generate_series(1, 6) g;
INSERT INTO r24.child SELECT g, g, 'c' || g FROM generate_series(1, 5) g;
-- (row 2 under parent 1: an agent's soft delete of a parent that live rows
-- reference through a NO ACTION key fails, as its hard delete would; rt33_softfk)
INSERT INTO r24.loose SELECT g, CASE g WHEN 2 THEN 1 ELSE g END, 'l' || g FROM generate_series(1, 3) g;
INSERT INTO r24.tree VALUES (1, NULL, 'root');
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA r24 TO regress_bot;
RESET ROLE;
SELECT agent_guard.protect('r24.parent');
SELECT agent_guard.protect('r24.child');
SELECT agent_guard.protect('r24.tree');

-- F1, the agent's side
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt24"
\set SHOW_CONTEXT never
DELETE FROM r24.parent WHERE id IN (2, 6);
-- error: YG004, naming the key, the table and the soft-deleted row
UPDATE r24.child SET pid = 2 WHERE id = 3;
\set VERBOSITY sqlstate
-- error: YG004 each
INSERT INTO r24.child VALUES (10, 2, 'new');
INSERT INTO r24.child VALUES (3, 3, 'c3') ON CONFLICT (id) DO UPDATE SET pid = 2;
MERGE INTO r24.child c USING (VALUES (11, 2)) s(id, pid) ON c.id = s.id
  WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.pid, 'merged');
MERGE INTO r24.child c USING (VALUES (4, 2)) s(id, pid) ON c.id = s.id
  WHEN MATCHED THEN UPDATE SET pid = s.pid;
UPDATE r24.loose SET pid = 6 WHERE id = 1;
INSERT INTO r24.parts VALUES (1, 2);
WITH w AS (INSERT INTO r24.loose VALUES (20, 2, 'cte') RETURNING id) SELECT count(*) FROM w;
COPY r24.loose FROM STDIN;
21	2	copied
\.
\set VERBOSITY default
-- error: YG004 at COMMIT (a deferred key)
BEGIN;
INSERT INTO r24.later VALUES (1, 2);
COMMIT;
-- allowed: rows whose key it does not set, and keys of live rows (child 2
-- went with parent 2; a human points a live row at the hidden parent)
\c "dbname=contrib_regression user=regress_su options="
INSERT INTO r24.child VALUES (15, 2, 'c15');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt24"
\set SHOW_CONTEXT never
UPDATE r24.child SET v = 'kept' WHERE id = 15;
UPDATE r24.child SET pid = 3 WHERE id = 15;
INSERT INTO r24.child VALUES (12, NULL, 'no parent');
INSERT INTO r24.later VALUES (2, 3);
-- allowed: the transaction's own rows, written again and soft-deleted
BEGIN;
INSERT INTO r24.child VALUES (13, 5, 'mine');
UPDATE r24.child SET v = 'mine, twice' WHERE id = 13;
DELETE FROM r24.child WHERE id IN (5, 13);
DELETE FROM r24.parent WHERE id = 5;
INSERT INTO r24.tree VALUES (2, 1, 'a'), (3, 2, 'b'), (4, 3, 'c');
DELETE FROM r24.tree WHERE id = 4;
DELETE FROM r24.tree WHERE id = 3;
DELETE FROM r24.tree WHERE id = 2;
COMMIT;
\set VERBOSITY sqlstate
-- error: YG004 (a row of the same table)
INSERT INTO r24.tree VALUES (5, 2, 'under a hidden row');
\set VERBOSITY default
CREATE FUNCTION r24b.repoint(i int, p int) RETURNS void LANGUAGE sql
  AS $$ UPDATE r24.loose SET pid = p WHERE id = i $$;
GRANT EXECUTE ON FUNCTION r24b.repoint(int, int) TO regress_human;

-- F1, the human's side: the agent's function in a human's session is
-- refused (YG004, on record under the agent); the human may point rows at
-- a soft-deleted row itself
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
SELECT r24b.repoint(1, 2);
\set VERBOSITY default
SELECT c.id, p.name FROM r24.child c JOIN r24.parent p ON p.id = c.pid ORDER BY c.id;
UPDATE r24.loose SET pid = 6 WHERE id = 3;
INSERT INTO r24.child VALUES (14, 2, 'a human''s');
SELECT id, pid FROM r24.loose ORDER BY id;

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests() AS flushed;
SELECT request_id, agent_id, kind, reason FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT coalesce(max(request_id), 0) AS req2 FROM agent_guard.request_log \gset
-- purge() of a soft-deleted row deletes the rows that reference it through
-- ON DELETE CASCADE, as a human's DELETE would (here the human's own row
-- 14, and row 5, soft-deleted with its parent).  A deferred key that
-- references the table stops it (error: PostgreSQL fires no deferred
-- trigger in a security-restricted operation), and so does a key with no
-- action whose rows still reference a purged row (error: rows 2 and 3 of
-- r24.loose, which were there before the soft delete or are the human's)
SELECT agent_guard.purge('r24.parent', '0 seconds');
DROP TABLE r24.later;
SELECT agent_guard.purge('r24.parent', '0 seconds');
DELETE FROM r24.loose WHERE pid IN (2, 6);
SELECT agent_guard.purge('r24.parent', '0 seconds');
SELECT id, pid, v FROM r24.child ORDER BY id;

-- F2 and F3: a tables list
SET ROLE regress_human;
CREATE TABLE r24.orders (id serial PRIMARY KEY, note text);
CREATE SEQUENCE r24.shared;
CREATE TABLE r24.listed (id serial PRIMARY KEY, n bigint DEFAULT nextval('r24.shared'), v text);
GRANT SELECT, INSERT ON r24.orders, r24.listed TO regress_bot;
GRANT USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA r24 TO regress_bot;
RESET ROLE;
SET ROLE regress_bot;
CREATE TABLE r24b.mine (id serial PRIMARY KEY);
CREATE TABLE r24b.other (id serial PRIMARY KEY, v text);
CREATE FUNCTION r24b.bump(s regclass) RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN RETURN nextval(s); END $$;
CREATE FUNCTION r24b.reset_orders() RETURNS bigint LANGUAGE plpgsql
  AS $$ BEGIN RETURN setval('r24.orders_id_seq', 1); END $$;
CREATE FUNCTION r24b.take() RETURNS boolean LANGUAGE plpgsql
  AS $$ DECLARE x bigint; BEGIN x := nextval('r24.listed_id_seq'); RETURN x > 0; END $$;
RESET ROLE;
SELECT mode, tables FROM agent_guard.set_policy('regress_bot', 'guarded', ARRAY['r24.listed', 'r24b.mine']::regclass[]);

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt24-policy"
\set SHOW_CONTEXT never
-- F2 error: YG008, naming the sequence
SELECT setval('r24.orders_id_seq', 2147483647);
\set VERBOSITY sqlstate
-- error: YG008 each
SELECT nextval('r24.orders_id_seq');
SELECT pg_catalog.setval('r24.orders_id_seq', 5, false);
SELECT pg_catalog.nextval('r24.orders_id_seq'::regclass);
DO $$ BEGIN EXECUTE 'SELECT setval(''r24.orders_id_seq'', 9)'; END $$;
DO $$ BEGIN EXECUTE format('SELECT nextval(%L)', 'r24.orders_id_seq'); END $$;
SELECT r24b.bump('r24.orders_id_seq');
SELECT r24b.reset_orders();
SELECT setval('r24.shared', 100);     -- a listed table's default draws from it: nextval only
SELECT nextval('r24b.other_id_seq');
SELECT agent_guard._nextval('r24.orders_id_seq');
\set VERBOSITY default
-- allowed: the listed tables' sequences, temporary ones
SELECT nextval('r24.listed_id_seq') > 0 AS listed, nextval('r24.shared') > 0 AS its_default;
SELECT setval('r24.listed_id_seq', 100);
SELECT r24b.bump('r24.listed_id_seq') AS bumped;
INSERT INTO r24.listed (v) VALUES ('a') RETURNING id;
COPY r24.listed (v) FROM STDIN;
copied
\.
INSERT INTO r24b.mine DEFAULT VALUES;
ALTER SEQUENCE r24b.mine_id_seq RESTART 50;
CREATE TEMPORARY SEQUENCE r24_temp;
SELECT nextval('r24_temp');
-- a PL/pgSQL assignment, in one transaction and the next (its plan is kept)
SELECT r24b.take();
SELECT r24b.take();
\set VERBOSITY sqlstate
-- F3 error: YG008 each
REINDEX TABLE r24b.other;
REINDEX INDEX r24b.other_pkey;
REINDEX SCHEMA r24b;
GRANT ALL ON r24b.other TO PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA r24b TO PUBLIC;
COMMENT ON TABLE r24b.other IS 'unused, drop it';
COMMENT ON COLUMN r24b.other.v IS 'unused';
COMMENT ON INDEX r24b.other_pkey IS 'unused';
CLUSTER r24b.other USING other_pkey;
\set VERBOSITY default
-- allowed: the listed table, its index; temporary tables; other objects
REINDEX TABLE r24b.mine;
REINDEX INDEX r24b.mine_pkey;
GRANT SELECT ON r24b.mine TO regress_human;
COMMENT ON TABLE r24b.mine IS 'mine';
COMMENT ON FUNCTION r24b.bump(regclass) IS 'bumps';
CREATE TEMPORARY TABLE r24_scratch (id int PRIMARY KEY);
REINDEX TABLE r24_scratch;
COMMENT ON TABLE r24_scratch IS 'scratch';

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.drop_policy('regress_bot');
SELECT agent_guard._flush_requests() AS flushed;
SELECT request_id, agent_id, kind, statement, reason FROM agent_guard.requests
 WHERE request_id > :req2 ORDER BY request_id;
-- the human's sequences are where they were
SELECT last_value, is_called FROM r24.orders_id_seq;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r24.parent');
SELECT agent_guard.unprotect('r24.child');
SELECT agent_guard.unprotect('r24.tree');
DROP SCHEMA r24 CASCADE;
DROP SCHEMA r24b CASCADE;
