--
-- rt36_softchild: red team 36, F01.  An agent's DELETE through an
-- inheritance parent that is not a soft-delete table (not protected, or
-- protected with hard delete) reaching a child protected on its own with
-- soft delete: the conversion follows the statement's target, so the
-- child's rows would be deleted for good; the capture trigger's backstop
-- stopped it with nothing on record.  Now refused as the statement starts
-- (YG004, on record, naming the child and the parent), directly, in a
-- writable CTE and in a PL/pgSQL function.  Allowed: the agent's DELETE of
-- the child itself (a soft delete), of ONLY the parent, and through the
-- parent where no soft-delete child's rows are among the result relations'
-- (the parent protected with soft delete covers its children).  Humans'
-- side: their DELETE through the parent deletes as before.  Red team 37,
-- F16: an UPDATE through such a parent is refused likewise: PostgreSQL
-- applies the row security of the statement's target only, so the child's
-- soft-deleted rows would be updated.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1026000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r36c;
GRANT USAGE ON SCHEMA r36c TO regress_bot;
-- (a) only the child is protected (soft delete)
CREATE TABLE r36c.up (id int PRIMARY KEY, v text);
CREATE TABLE r36c.uc (id int PRIMARY KEY, v text) INHERITS (r36c.up);
INSERT INTO r36c.up VALUES (10, 'parent');
INSERT INTO r36c.uc VALUES (1, 'c'), (2, 'c'), (3, 'c');
SELECT agent_guard.protect('r36c.uc');
-- (b) the child soft delete, its parent hard delete
CREATE TABLE r36c.p1 (id int PRIMARY KEY, v text);
CREATE TABLE r36c.c1 (id int PRIMARY KEY, v text) INHERITS (r36c.p1);
INSERT INTO r36c.c1 VALUES (1, 'c'), (2, 'c');
SELECT agent_guard.protect('r36c.c1', true);
SELECT agent_guard.protect('r36c.p1', false);
GRANT ALL ON r36c.up, r36c.uc, r36c.p1, r36c.c1 TO regress_bot;
CREATE FUNCTION r36c.del_up(k int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM r36c.up WHERE id = k;
END $$;
GRANT EXECUTE ON FUNCTION r36c.del_up(int) TO regress_bot;

\c "dbname=contrib_regression user=regress_bot options="
-- error: through the parent, in every form
DELETE FROM r36c.up WHERE id = 1;
DELETE FROM r36c.p1 WHERE id = 2;
WITH d AS (DELETE FROM r36c.up WHERE id = 2 RETURNING id) SELECT count(*) FROM d;
SELECT r36c.del_up(3);
-- allowed: the child itself (a soft delete), ONLY the parent
DELETE FROM r36c.uc WHERE id = 1;
DELETE FROM ONLY r36c.up WHERE id = 10;
-- red team 37, F16: an UPDATE through the parent would reach the child's
-- soft-deleted rows (the child's policy does not apply through the parent)
UPDATE r36c.up SET v = 'rewritten' WHERE id = 1;
UPDATE r36c.p1 SET v = 'rewritten';
-- allowed: the child itself (its soft-deleted rows hidden), ONLY the parent
UPDATE r36c.uc SET v = 'child' WHERE id IN (1, 2);
UPDATE ONLY r36c.up SET v = 'parent' WHERE id > 0;
\c "dbname=contrib_regression user=regress_su options="
SELECT id, v, ag_deleted_at IS NOT NULL AS soft_deleted FROM r36c.uc ORDER BY id;
SELECT id FROM r36c.c1 ORDER BY id;
SELECT id FROM ONLY r36c.up ORDER BY id;
SELECT kind, status, agent_id, left(reason, 70) AS reason FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT count(*) AS blocked FROM agent_guard.events e
 WHERE e.operation = 'BLOCKED' AND e.event_id > (SELECT coalesce(max(event_id), 0) - 10 FROM agent_guard.events)
   AND e.detail ->> 'reason' LIKE '%soft delete on its own%';
SELECT ok FROM agent_guard.verify_log();
-- humans' side: their DELETE through the parent deletes as before
DELETE FROM r36c.up WHERE id = 2;
DELETE FROM r36c.p1 WHERE id = 2;
SELECT id FROM r36c.uc ORDER BY id;
SELECT id FROM r36c.c1 ORDER BY id;
SELECT agent_guard.unprotect('r36c.uc');
SELECT agent_guard.unprotect('r36c.p1');
SELECT agent_guard.unprotect('r36c.c1');
DROP SCHEMA r36c CASCADE;
