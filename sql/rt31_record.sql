--
-- rt31_record: red team 30, finding 10.  The refusal of an agent's code
-- that writes a protected table where no agent session runs it is on
-- record, as every refusal is (issue 16): a request of kind "refused"
-- under the agent whose code it is, with its BLOCKED event and the
-- statement of the session that ran it, also when the agent's function
-- catches the error and the human's statement goes on.  Covered: a
-- trigger of the agent's table fired by a human's INSERT, an index
-- expression computed by a human's INSERT and by a human's ANALYZE, a
-- human's DELETE through the agent's view, a rule of the agent's table,
-- a human's statement that resolves to the agent's shadow of a built-in,
-- and the agent's code writing during a human's VACUUM.  (Autovacuum's
-- ANALYZE: TAP 038_refusal_record.)
-- From the human's side: the same writes of the protected table work.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1005000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
SELECT coalesce(max(event_id), 0) AS ev_before FROM agent_guard.events \gset
CREATE SCHEMA r31r;
GRANT USAGE ON SCHEMA r31r TO regress_bot, regress_human;
CREATE SCHEMA r31b AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA r31b TO regress_human;
CREATE TABLE r31r.orders (id int PRIMARY KEY, note text);
INSERT INTO r31r.orders SELECT g, 'order ' || g FROM generate_series(1, 5) g;
SELECT agent_guard.protect('r31r.orders', soft_delete => false);
GRANT SELECT, INSERT, UPDATE, DELETE ON r31r.orders TO regress_bot, regress_human;

-- the agent plants its code
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31r-plant"
\set SHOW_CONTEXT never
CREATE FUNCTION r31b.wipe() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF session_user <> 'regress_bot' THEN
    DELETE FROM r31r.orders WHERE id <= 2;
  END IF;
  RETURN 1;
END $$;
-- a trigger that tries, and one that tries and hides the error
CREATE FUNCTION r31b.trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM r31b.wipe(); RETURN NEW; END $$;
CREATE FUNCTION r31b.trg_quiet() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  BEGIN PERFORM r31b.wipe(); EXCEPTION WHEN OTHERS THEN NULL; END;
  RETURN NEW;
END $$;
CREATE TABLE r31b.inbox (id int PRIMARY KEY, msg text);
CREATE TRIGGER t BEFORE INSERT ON r31b.inbox FOR EACH ROW EXECUTE FUNCTION r31b.trg();
CREATE TABLE r31b.outbox (id int PRIMARY KEY, msg text);
CREATE TRIGGER t BEFORE INSERT ON r31b.outbox FOR EACH ROW EXECUTE FUNCTION r31b.trg_quiet();
GRANT SELECT, INSERT ON r31b.inbox, r31b.outbox TO regress_human;
-- an index expression (an immutable wrapper over the writing function)
CREATE FUNCTION r31b.f(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM r31b.wipe(); RETURN $1; END $$;
CREATE TABLE r31b.big (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = false);
INSERT INTO r31b.big SELECT g, g FROM generate_series(1, 50) g;
CREATE INDEX big_f ON r31b.big (r31b.f(v));
GRANT SELECT, INSERT ON r31b.big TO regress_human;
-- a view onto the protected table
CREATE VIEW r31b.some_orders AS SELECT * FROM r31r.orders WHERE id > 3;
GRANT SELECT, DELETE ON r31b.some_orders TO regress_human;
-- a shadow of a built-in, for a human whose search_path lists its schema first
CREATE FUNCTION r31b.lower(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT $1';
GRANT EXECUTE ON FUNCTION r31b.lower(text) TO PUBLIC;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- a rule of the agent's table (made while a human's role owned it; the
-- agent owns the table now)
CREATE TABLE r31b.feed (id int, msg text);
CREATE RULE feed_rule AS ON INSERT TO r31b.feed DO INSTEAD DELETE FROM r31r.orders WHERE id = NEW.id;
ALTER TABLE r31b.feed OWNER TO regress_bot;
GRANT INSERT ON r31b.feed TO regress_human;

-- the human's statements run the agent's code: each refused (YG004), each on record
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
-- error: YG004, the trigger's write
INSERT INTO r31b.inbox VALUES (1, 'hello');
-- the quiet trigger: the human's insert goes on, the refusal is on record
INSERT INTO r31b.outbox VALUES (1, 'hello');
SELECT count(*) AS outbox_rows FROM r31b.outbox;
-- error: YG004, the index expression's write
INSERT INTO r31b.big VALUES (51, 51);
-- error: YG004, through the agent's view
DELETE FROM r31b.some_orders WHERE id = 4;
-- error: YG004, the agent's rule
INSERT INTO r31b.feed VALUES (5, 'x');
-- error: YG004, the agent's shadow
SET search_path = r31b, pg_catalog;
SELECT lower('ABC');
RESET search_path;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- error: YG004, a human's ANALYZE computes the index expression
ANALYZE r31b.big;
-- error: YG004, VACUUM summarizing an agent's BRIN index runs its code
CREATE TABLE r31b.bt (x int) WITH (autovacuum_enabled = false);
ALTER TABLE r31b.bt OWNER TO regress_bot;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31r-plant"
CREATE INDEX bt_brin ON r31b.bt USING brin (r31b.f(x)) WITH (pages_per_range = 1);
INSERT INTO r31b.bt SELECT g FROM generate_series(1, 900) g;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
VACUUM r31b.bt;

-- on record: one request per refusal, under the agent, with the session
-- that ran the code and its statement; each with its BLOCKED event
SELECT agent_guard._flush_requests() AS flushed;
SELECT request_id, agent_id, run_id, login_role, kind, status, statement,
       split_part(reason, '. ', 1) AS reason
  FROM agent_guard.requests WHERE request_id > :req_before ORDER BY request_id;
SELECT count(*) AS blocked_events FROM agent_guard.events
 WHERE event_id > :ev_before AND operation = 'BLOCKED' AND agent_id = 'regress_bot'
   AND (detail ->> 'request_id')::bigint > :req_before;
-- the data is intact, the log verifies
SELECT id, note FROM r31r.orders ORDER BY id;
SELECT ok FROM agent_guard.verify_log();

-- the human's side: the same writes of the protected table work
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
DELETE FROM r31r.orders WHERE id <= 2;
DELETE FROM r31r.orders WHERE id = 4;
SELECT id, note FROM r31r.orders ORDER BY id;

-- cleanup
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.unprotect('r31r.orders');
DROP SCHEMA r31r, r31b CASCADE;
