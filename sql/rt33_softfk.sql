--
-- rt33_softfk: red team 32, F3.  A soft delete fired no ON DELETE action:
-- an agent could insert a child under a live customer, soft-delete the
-- customer, and a human's insert of a new customer with the deleted one's
-- e-mail then failed (YG050, about a purge the human never asked for).
-- Now an agent's soft delete keeps the foreign-key semantics of the delete
-- it asked for, on the live rows that reference the row:
--   NO ACTION / RESTRICT: PostgreSQL's own error (23503);
--   CASCADE into a soft-delete table: soft-deleted too, at any depth,
--     partitions included, logged, rolled back with the parent;
--   CASCADE into a hard-delete protected table: deleted, logged;
--   CASCADE into a table that is not protected, SET NULL, SET DEFAULT:
--     refused (YG004, on record).
-- The human's side: the F3 insert goes in, purging the customer and the
-- rows the agent's delete cascaded to (each logged as PURGE); where a live
-- row (a human's) still references the soft-deleted row, the human's
-- write is refused with a message about the write, naming the run.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1009000, false) AS ids_from;
SELECT coalesce(max(event_id), 0) AS ev_before FROM agent_guard.events \gset
CREATE SCHEMA r33f;
GRANT USAGE ON SCHEMA r33f TO regress_bot, regress_human;
GRANT EXECUTE ON FUNCTION agent_guard.rollback_run(text, boolean, text) TO regress_human;
CREATE TABLE r33f.customers (id int PRIMARY KEY, email text NOT NULL UNIQUE);
INSERT INTO r33f.customers SELECT g, 'c' || g || '@x' FROM generate_series(1, 9) g;
CREATE TABLE r33f.orders (id int PRIMARY KEY, cust int REFERENCES r33f.customers ON DELETE CASCADE, amount int);
INSERT INTO r33f.orders VALUES (10, 1, 100), (20, 2, 200);
-- a partitioned soft-delete table two levels down
CREATE TABLE r33f.lines (id int, region int, ord int REFERENCES r33f.orders ON DELETE CASCADE,
                         PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE r33f.lines_1 PARTITION OF r33f.lines FOR VALUES IN (1);
CREATE TABLE r33f.lines_2 PARTITION OF r33f.lines FOR VALUES IN (2);
INSERT INTO r33f.lines VALUES (100, 1, 10), (101, 2, 10), (200, 1, 20);
-- a hard-delete protected table
CREATE TABLE r33f.notes (id int PRIMARY KEY, cust int REFERENCES r33f.customers ON DELETE CASCADE, body text);
INSERT INTO r33f.notes VALUES (1000, 1, 'n1');
-- NO ACTION and RESTRICT
CREATE TABLE r33f.team (id int PRIMARY KEY);
INSERT INTO r33f.team VALUES (1), (2), (3);
CREATE TABLE r33f.member (id int PRIMARY KEY, team int REFERENCES r33f.team);
CREATE TABLE r33f.guest (id int PRIMARY KEY, team int REFERENCES r33f.team ON DELETE RESTRICT);
INSERT INTO r33f.member VALUES (10, 1), (20, 2);
INSERT INTO r33f.guest VALUES (30, 3);
-- a cascade into a table that is not protected; SET NULL and SET DEFAULT
CREATE TABLE r33f.vendors (id int PRIMARY KEY);
INSERT INTO r33f.vendors VALUES (1), (2), (3), (4);
CREATE TABLE r33f.docs (id int PRIMARY KEY, vendor int REFERENCES r33f.vendors ON DELETE CASCADE);
CREATE TABLE r33f.tags (id int PRIMARY KEY, vendor int REFERENCES r33f.vendors ON DELETE SET NULL);
CREATE TABLE r33f.flags (id int PRIMARY KEY, vendor int DEFAULT 4 REFERENCES r33f.vendors ON DELETE SET DEFAULT);
INSERT INTO r33f.docs VALUES (1, 1);
INSERT INTO r33f.tags VALUES (1, 2);
INSERT INTO r33f.flags VALUES (1, 3);
SELECT agent_guard.protect('r33f.customers');
SELECT agent_guard.protect('r33f.orders');
SELECT agent_guard.protect('r33f.lines');
SELECT agent_guard.protect('r33f.notes', soft_delete => false);
SELECT agent_guard.protect('r33f.team');
SELECT agent_guard.protect('r33f.member');
SELECT agent_guard.protect('r33f.guest');
SELECT agent_guard.protect('r33f.vendors');
SELECT agent_guard.protect('r33f.tags');
SELECT agent_guard.protect('r33f.flags');
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA r33f TO regress_bot;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA r33f TO regress_human;
GRANT DELETE ON r33f.orders, r33f.team TO regress_human;

-- the agent's side
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r33f-a"
\set SHOW_CONTEXT never
-- CASCADE, at any depth: customer 1, its order 10, the order's lines in two
-- partitions (soft), its note (hard-delete table: deleted, logged)
DELETE FROM r33f.customers WHERE id = 1;
SELECT (SELECT count(*) FROM r33f.customers WHERE id = 1) AS cust_1,
       (SELECT count(*) FROM r33f.orders WHERE cust = 1) AS orders_1,
       (SELECT count(*) FROM r33f.lines WHERE ord = 10) AS lines_10,
       (SELECT count(*) FROM r33f.notes WHERE cust = 1) AS notes_1;
-- the command tag and RETURNING are the customer's alone
DELETE FROM r33f.customers WHERE id = 2 RETURNING id, email;
-- error: NO ACTION, PostgreSQL's own error
DELETE FROM r33f.team WHERE id = 1;
-- error: RESTRICT
DELETE FROM r33f.team WHERE id = 3;
-- a row soft-deleted earlier does not count
DELETE FROM r33f.member WHERE id = 20;
DELETE FROM r33f.team WHERE id = 2;
-- a writing CTE that deletes the members with their team: as a hard delete
WITH m AS (DELETE FROM r33f.member WHERE team = 1 RETURNING id)
DELETE FROM r33f.team WHERE id = 1;
-- error: a cascade into a table that is not protected (YG004)
DELETE FROM r33f.vendors WHERE id = 1;
-- error: SET NULL (YG004)
DELETE FROM r33f.vendors WHERE id = 2;
-- error: SET DEFAULT (YG004)
DELETE FROM r33f.vendors WHERE id = 3;
-- nothing references vendor 4: deleted
DELETE FROM r33f.vendors WHERE id = 4;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed;
SELECT request_id, agent_id, kind, status, left(reason, 60) AS reason FROM agent_guard.requests
 WHERE request_id >= 1009000 ORDER BY request_id;
SELECT relation, operation, row_key FROM agent_guard.events
 WHERE event_id > :ev_before AND run_id = 'r33f-a' ORDER BY event_id;
SELECT 'customers' AS t, id, ag_agent_id, ag_run_id, ag_deleted_at IS NOT NULL AS deleted FROM r33f.customers WHERE id IN (1, 2)
UNION ALL SELECT 'orders', id, ag_agent_id, ag_run_id, ag_deleted_at IS NOT NULL FROM r33f.orders
UNION ALL SELECT 'lines', id, ag_agent_id, ag_run_id, ag_deleted_at IS NOT NULL FROM r33f.lines
UNION ALL SELECT 'team', id, ag_agent_id, ag_run_id, ag_deleted_at IS NOT NULL FROM r33f.team
UNION ALL SELECT 'member', id, ag_agent_id, ag_run_id, ag_deleted_at IS NOT NULL FROM r33f.member
UNION ALL SELECT 'vendors', id, ag_agent_id, ag_run_id, ag_deleted_at IS NOT NULL FROM r33f.vendors
 ORDER BY 1, 2;
SELECT * FROM r33f.notes;
SELECT ok FROM agent_guard.verify_log();
-- rollback_run brings parents and children back together
SELECT step, relation, operation, row_key, regexp_replace(action, ' as before event \d+$', '') AS action, status
  FROM agent_guard.rollback_run('r33f-a', true) ORDER BY step;
SELECT 'customers' AS t, id, ag_deleted_at IS NOT NULL AS deleted FROM r33f.customers WHERE id IN (1, 2)
UNION ALL SELECT 'orders', id, ag_deleted_at IS NOT NULL FROM r33f.orders
UNION ALL SELECT 'lines', id, ag_deleted_at IS NOT NULL FROM r33f.lines
UNION ALL SELECT 'team', id, ag_deleted_at IS NOT NULL FROM r33f.team
UNION ALL SELECT 'member', id, ag_deleted_at IS NOT NULL FROM r33f.member
UNION ALL SELECT 'vendors', id, ag_deleted_at IS NOT NULL FROM r33f.vendors
 ORDER BY 1, 2;
SELECT * FROM r33f.notes;

-- F3: the agent's child under a live customer, then the customer
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r33f-b"
\set SHOW_CONTEXT never
INSERT INTO r33f.orders VALUES (50, 5, 1);
DELETE FROM r33f.customers WHERE id = 5;
DELETE FROM r33f.customers WHERE id = 6;
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
-- the human's insert with customer 5's e-mail goes in: customer 5 and the
-- order the agent's delete took with it are purged, each logged
INSERT INTO r33f.customers VALUES (105, 'c5@x');
-- a row a human points at the soft-deleted customer 6 ...
INSERT INTO r33f.orders VALUES (60, 6, 1);
-- ... error: the human's write conflicts with it (YG050), nothing written
INSERT INTO r33f.customers VALUES (106, 'c6@x');
SELECT count(*) AS cust_106 FROM r33f.customers WHERE id = 106;
-- re-point the order, then retry: goes in
UPDATE r33f.orders SET cust = 7 WHERE id = 60;
INSERT INTO r33f.customers VALUES (106, 'c6@x');
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT relation, operation, row_key, login_role FROM agent_guard.events
 WHERE event_id > :ev_before AND (run_id = 'r33f-b' OR operation = 'PURGE') ORDER BY event_id;
SELECT id, cust, ag_deleted_at IS NOT NULL AS deleted FROM r33f.orders ORDER BY id;
SELECT id, email, ag_deleted_at IS NOT NULL AS deleted FROM r33f.customers WHERE id >= 5 ORDER BY id;
SELECT ok FROM agent_guard.verify_log();

-- the human's side of the agent's refusals: the same deletes work
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
GRANT DELETE ON r33f.vendors TO regress_human;
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
-- error: RESTRICT holds for humans too (PostgreSQL's own check)
DELETE FROM r33f.team WHERE id = 3;
-- the cascade into the table that is not protected, SET NULL, SET DEFAULT
DELETE FROM r33f.vendors WHERE id IN (1, 2, 3);
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT * FROM r33f.docs;
SELECT * FROM r33f.tags;
SELECT * FROM r33f.flags;
DROP SCHEMA r33f CASCADE;
