--
-- rt33_ricasc: red team 33's F1.  A foreign key's ON DELETE CASCADE into
-- a soft-delete table is a real, logged delete (red team 30, F6); the
-- guard used to recognise it by the security context the key's query runs
-- in (SECURITY_NOFORCE_RLS) and its shape, and that context stays set for
-- the BEFORE row triggers of the cascade's table and everything they call.
-- Now only the key's own query counts: an agent's DELETE of a human's
-- soft-delete table run from a trigger inside its own cascade is converted
-- to a soft delete, or, when its WHERE clause names exactly a cascading
-- key's columns (it cannot be told from that key's cascade), refused
-- (YG004, on record): plpgsql, a SQL function, a SECURITY DEFINER
-- function, dynamic SQL with the key's own query text, a constant.  Also
-- inside an ON DELETE SET NULL action (an UPDATE trigger).  Nothing is
-- lost.  The genuine cascade is still a real, logged delete that
-- rollback_run restores.
-- From the human's side: the same statements behave as plain PostgreSQL.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1013000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r33c;
GRANT USAGE ON SCHEMA r33c TO regress_bot, regress_human;
CREATE SCHEMA r33b AUTHORIZATION regress_bot;
CREATE SCHEMA r33h;
GRANT EXECUTE ON FUNCTION agent_guard.rollback_run(text, boolean, text) TO regress_human;
-- a human's tables: customers (protected, hard deletes), orders (soft
-- deletes) ON DELETE CASCADE to customers
CREATE TABLE r33c.cust (id int PRIMARY KEY, name text);
CREATE TABLE r33c.ord (id int PRIMARY KEY, cust int REFERENCES r33c.cust ON DELETE CASCADE, amount int);
INSERT INTO r33c.cust SELECT g, 'customer ' || g FROM generate_series(1, 5) g;
INSERT INTO r33c.ord SELECT g, 1 + g % 5, g * 10 FROM generate_series(1, 10) g;
SELECT agent_guard.protect('r33c.cust', soft_delete => false);
SELECT agent_guard.protect('r33c.ord');
GRANT SELECT, INSERT, UPDATE, DELETE ON r33c.cust, r33c.ord TO regress_bot, regress_human;

-- the agent's side: its own tables, with a cascade of their own
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r33c-setup"
\set SHOW_CONTEXT never
CREATE TABLE r33b.p (id int PRIMARY KEY);
CREATE TABLE r33b.c (id int PRIMARY KEY, pid int REFERENCES r33b.p ON DELETE CASCADE, how text);
CREATE TABLE r33b.s (id int PRIMARY KEY, pid int REFERENCES r33b.p ON DELETE SET NULL, how text);
CREATE FUNCTION r33b.sqldel(k int) RETURNS void LANGUAGE sql
  AS 'DELETE FROM r33c.ord WHERE cust = k';
CREATE FUNCTION r33b.definer() RETURNS void LANGUAGE plpgsql SECURITY DEFINER
  AS $$ BEGIN DELETE FROM r33c.ord WHERE cust IS NOT NULL; END $$;
-- the BEFORE row trigger runs what the row's "how" says
CREATE FUNCTION r33b.t() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  CASE OLD.how
    WHEN 'plpgsql' THEN DELETE FROM r33c.ord WHERE cust IS NOT NULL;
    WHEN 'const' THEN DELETE FROM r33c.ord WHERE cust = 2;
    WHEN 'sql' THEN PERFORM r33b.sqldel(3);
    WHEN 'definer' THEN PERFORM r33b.definer();
    WHEN 'dynamic' THEN
      EXECUTE 'DELETE FROM ONLY r33c.ord WHERE $1 OPERATOR(pg_catalog.=) cust' USING 4;
    WHEN 'other' THEN DELETE FROM r33c.ord WHERE cust IS NOT NULL AND id > 8;
    WHEN 'parent' THEN DELETE FROM r33c.cust WHERE id = 5;
  END CASE;
  RETURN OLD;
END $$;
CREATE TRIGGER t BEFORE DELETE ON r33b.c FOR EACH ROW EXECUTE FUNCTION r33b.t();
CREATE TRIGGER t BEFORE UPDATE ON r33b.s FOR EACH ROW EXECUTE FUNCTION r33b.t();
INSERT INTO r33b.p SELECT g FROM generate_series(1, 9) g;
INSERT INTO r33b.c VALUES (1, 1, 'plpgsql'), (2, 2, 'const'), (3, 3, 'sql'), (4, 4, 'definer'),
                          (5, 5, 'dynamic'), (6, 6, 'other'), (7, 7, 'parent');
INSERT INTO r33b.s VALUES (8, 8, 'plpgsql');

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r33c-inside"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG004 each, the DELETE's WHERE names exactly the key's column
DELETE FROM r33b.p WHERE id = 1;
DELETE FROM r33b.p WHERE id = 2;
DELETE FROM r33b.p WHERE id = 3;
DELETE FROM r33b.p WHERE id = 4;
DELETE FROM r33b.p WHERE id = 5;
-- the same inside an ON DELETE SET NULL (the trigger on UPDATE)
DELETE FROM r33b.p WHERE id = 8;
-- a nested cascade (the trigger deletes a customer): refused too
DELETE FROM r33b.p WHERE id = 7;
\set VERBOSITY default
-- the same, with the message
DELETE FROM r33b.p WHERE id = 1;
-- another WHERE clause: converted to a soft delete, as anywhere
DELETE FROM r33b.p WHERE id = 6;
SELECT * FROM r33b.c ORDER BY id;
-- the same statement typed directly: converted
DELETE FROM r33c.ord WHERE cust IS NOT NULL AND id = 1;

-- the genuine cascade (F6): a real, logged delete
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r33c-cascade"
\set SHOW_CONTEXT never
DELETE FROM r33c.cust WHERE id = 4;
SELECT id, cust FROM r33c.ord ORDER BY id;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed;
SELECT agent_id, kind, status, reason, count(*), min(request_id) - 1013000 AS first, max(request_id) - 1013000 AS last
  FROM agent_guard.requests WHERE request_id > :req_before GROUP BY 1, 2, 3, 4;
-- what was logged
SELECT run_id, operation, relation, row_key
  FROM agent_guard.events WHERE run_id LIKE 'r33c-%' AND relation LIKE 'r33c.%' AND operation <> 'BLOCKED'
 ORDER BY event_id;
-- nothing lost: the soft-deleted rows are there, the customer's orders went with it
SELECT id, cust, ag_deleted_at IS NOT NULL AS deleted FROM r33c.ord ORDER BY id;
SELECT id FROM r33c.cust ORDER BY id;
SELECT count(*) AS orphans FROM r33c.ord o WHERE NOT EXISTS (SELECT 1 FROM r33c.cust c WHERE c.id = o.cust);
SELECT ok FROM agent_guard.verify_log();

-- rollback of the cascade: the customer and its orders come back
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
SELECT step, relation, operation, row_key, regexp_replace(action, ' as before event \d+$', '') AS action, status
  FROM agent_guard.rollback_run('r33c-cascade', true) ORDER BY step;
SELECT id FROM r33c.cust ORDER BY id;
SELECT count(*) AS orders FROM r33c.ord;

-- the human's side: a trigger inside a human's cascade deletes for real
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE TABLE r33h.p (id int PRIMARY KEY);
CREATE TABLE r33h.c (id int PRIMARY KEY, pid int REFERENCES r33h.p ON DELETE CASCADE);
CREATE FUNCTION r33h.t() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN DELETE FROM r33c.ord WHERE cust = 2; RETURN OLD; END $$;
CREATE TRIGGER t BEFORE DELETE ON r33h.c FOR EACH ROW EXECUTE FUNCTION r33h.t();
INSERT INTO r33h.p VALUES (1);
INSERT INTO r33h.c VALUES (1, 1);
GRANT USAGE ON SCHEMA r33h TO regress_human;
GRANT SELECT, DELETE ON r33h.p, r33h.c TO regress_human;
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
BEGIN;
SELECT count(*) AS live_orders FROM r33c.ord WHERE cust IN (2, 3);
DELETE FROM r33h.p WHERE id = 1;
DELETE FROM r33c.cust WHERE id = 3;
SELECT id, cust FROM r33c.ord WHERE cust IN (2, 3) ORDER BY id;
ROLLBACK;

-- cleanup
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT ok FROM agent_guard.verify_log();
SELECT agent_guard.unprotect(t) FROM unnest(ARRAY['r33c.ord', 'r33c.cust']::regclass[]) AS t;
DROP SCHEMA r33c, r33b, r33h CASCADE;
