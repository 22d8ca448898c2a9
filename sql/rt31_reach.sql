--
-- rt31_reach: red team 31's F2, F4, F3 (what humans' writes of a
-- protected table reach).
-- F2: a foreign key an agent adds to a table that humans' deletes and
-- updates of a protected table write (its keys' ON DELETE / ON UPDATE
-- actions, one level down or more, or an inheritance child of it) is
-- judged as a key to the protected table: approval (YG003) for NO ACTION
-- and RESTRICT, refused (YG004) with an action of its own.
-- F4: an agent's trigger or rule on such a table is refused (YG004), as
-- on the protected table; a trigger on any other table the agent's role
-- does not own (a human's audit table) needs approval (YG003).
-- F3: setval() of a permanent sequence the agent's role does not own and
-- its session did not create needs approval (YG003).
-- The agent's own tables and sequences stay free; a human's same
-- statements work, and humans' writes of the protected tables too.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1007000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r31x;
GRANT USAGE ON SCHEMA r31x TO regress_bot, regress_human;
CREATE SCHEMA r31b AUTHORIZATION regress_bot;
CREATE SCHEMA r31h AUTHORIZATION regress_human;

-- a protected table, an unprotected table its deletes cascade into, and
-- one more level below that (ON UPDATE CASCADE, ON DELETE SET NULL)
CREATE TABLE r31x.parent (id int PRIMARY KEY, name text);
INSERT INTO r31x.parent SELECT g, 'p' || g FROM generate_series(1, 20) g;
CREATE TABLE r31x.hmid (id int PRIMARY KEY, parent_id int REFERENCES r31x.parent ON DELETE CASCADE, v text);
INSERT INTO r31x.hmid SELECT g, g, 'm' FROM generate_series(1, 20) g;
CREATE TABLE r31x.hlow (id int PRIMARY KEY, mid int REFERENCES r31x.hmid ON UPDATE CASCADE ON DELETE SET NULL);
INSERT INTO r31x.hlow SELECT g, g FROM generate_series(1, 20) g;
-- an inheritance child a human adds after protect()
CREATE TABLE r31x.base (id int PRIMARY KEY, v text);
INSERT INTO r31x.base VALUES (1, 'b');
-- an audit table a human's trigger on parent writes
CREATE TABLE r31x.haudit (at timestamptz DEFAULT now(), what text);
CREATE FUNCTION r31x.parent_audit() RETURNS trigger LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$
BEGIN INSERT INTO r31x.haudit(what) VALUES (TG_OP || ' ' || coalesce(NEW.id, OLD.id)); RETURN NULL; END $$;
CREATE TRIGGER parent_audit AFTER INSERT OR UPDATE OR DELETE ON r31x.parent
  FOR EACH ROW EXECUTE FUNCTION r31x.parent_audit();
-- keys a human's trigger draws from a sequence
CREATE SEQUENCE r31x.oseq;
CREATE TABLE r31x.orders (id bigint PRIMARY KEY, item text);
CREATE FUNCTION r31x.orders_id() RETURNS trigger LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$
BEGIN IF NEW.id IS NULL THEN NEW.id := nextval('r31x.oseq'); END IF; RETURN NEW; END $$;
CREATE TRIGGER orders_id BEFORE INSERT ON r31x.orders FOR EACH ROW EXECUTE FUNCTION r31x.orders_id();
INSERT INTO r31x.orders (item) SELECT 'h' || g FROM generate_series(1, 5) g;
-- a human's table nothing protected reaches
CREATE TABLE r31x.free (id int PRIMARY KEY);
INSERT INTO r31x.free VALUES (1);
SELECT agent_guard.protect('r31x.parent', soft_delete => false);
SELECT agent_guard.protect('r31x.base', soft_delete => false);
SELECT agent_guard.protect('r31x.orders', soft_delete => false);
CREATE TABLE r31x.base_kid (note text) INHERITS (r31x.base);
ALTER TABLE r31x.base_kid ADD PRIMARY KEY (id);
INSERT INTO r31x.base_kid VALUES (31, 'kid', 'n');
-- the agent's own table, which a human ties to parent with a cascade
CREATE TABLE r31b.bown (id int PRIMARY KEY, pid int, v text);
ALTER TABLE r31b.bown OWNER TO regress_bot;
INSERT INTO r31b.bown VALUES (1, 5, 'x');
ALTER TABLE r31b.bown ADD FOREIGN KEY (pid) REFERENCES r31x.parent ON DELETE CASCADE;
GRANT SELECT, INSERT, UPDATE, DELETE ON r31x.parent, r31x.base, r31x.orders TO regress_bot, regress_human;
GRANT ALL ON r31x.hmid, r31x.hlow, r31x.base_kid, r31x.haudit, r31x.free TO regress_bot, regress_human;
GRANT ALL ON SEQUENCE r31x.oseq TO regress_bot, regress_human;
GRANT EXECUTE ON FUNCTION agent_guard.purge(regclass, interval) TO regress_human;

-- the agent's side
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31x-agent"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- F2, error: YG003 each (a key that would refuse humans' deletes)
CREATE TABLE r31b.aref (id int PRIMARY KEY, mid int REFERENCES r31x.hmid);
CREATE TABLE r31b.aref (id int PRIMARY KEY, low int REFERENCES r31x.hlow ON DELETE RESTRICT);
CREATE TABLE r31b.kref (id int REFERENCES r31x.base_kid (id));
-- F2, error: YG004 each (a key whose action writes inside humans' deletes)
CREATE TABLE r31b.aref2 (id int PRIMARY KEY, mid int REFERENCES r31x.hmid ON DELETE CASCADE);
CREATE TABLE r31b.aref2 (id int PRIMARY KEY, low int REFERENCES r31x.hlow ON UPDATE SET NULL);
-- F4, error: YG004 each (a trigger or rule on a table humans' writes reach)
CREATE FUNCTION r31b.no() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'agent says no'; END $$;
CREATE TRIGGER t_no BEFORE DELETE ON r31x.hmid FOR EACH ROW EXECUTE FUNCTION r31b.no();
CREATE CONSTRAINT TRIGGER t_no AFTER UPDATE ON r31x.hlow DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION r31b.no();
CREATE TRIGGER t_no BEFORE DELETE ON r31x.base_kid FOR EACH ROW EXECUTE FUNCTION r31b.no();
CREATE TRIGGER t_no BEFORE DELETE ON r31b.bown FOR EACH ROW EXECUTE FUNCTION r31b.no();
CREATE RULE r_no AS ON DELETE TO r31b.bown DO INSTEAD NOTHING;
-- F4, error: YG003 each (a trigger on a table of another role)
CREATE CONSTRAINT TRIGGER t_no AFTER INSERT ON r31x.haudit DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION r31b.no();
CREATE TRIGGER t_no BEFORE INSERT ON r31x.free FOR EACH ROW EXECUTE FUNCTION r31b.no();
-- F3, error: YG003 each
SELECT setval('r31x.oseq', 1);
SELECT setval('r31x.oseq', 9223372036854775807, true);
\set VERBOSITY default
-- allowed: the agent's own tables, keys to a table nothing protected
-- reaches, its own triggers and sequences, nextval() of a human's sequence
CREATE TABLE r31b.fref (id int PRIMARY KEY REFERENCES r31x.free);
INSERT INTO r31b.fref VALUES (1);
CREATE TABLE r31b.mine (id int PRIMARY KEY, fid int);
ALTER TABLE r31b.mine ADD FOREIGN KEY (fid) REFERENCES r31b.fref (id) ON DELETE CASCADE;
CREATE TRIGGER t_mine BEFORE DELETE ON r31b.mine FOR EACH ROW EXECUTE FUNCTION r31b.no();
CREATE SEQUENCE r31b.myseq;
SELECT setval('r31b.myseq', 42);
SELECT nextval('r31x.oseq') > 5 AS drew;
\set VERBOSITY sqlstate
-- error: YG003 (ALTER TABLE ... ADD FOREIGN KEY of the agent's own table)
ALTER TABLE r31b.mine ADD FOREIGN KEY (fid) REFERENCES r31x.hmid;
\set VERBOSITY default

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed;
SELECT agent_id, kind, status, left(statement, 60) AS statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT reason FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT count(*) AS blocked_events FROM agent_guard.events
 WHERE run_id = 'r31x-agent' AND operation = 'BLOCKED';
SELECT request_id >= 1007000 AND request_id < 1008000 AS in_range FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id LIMIT 1;
-- nothing of the agent's is on the humans' tables
SELECT count(*) AS agent_triggers FROM pg_trigger
 WHERE tgrelid IN ('r31x.hmid'::regclass, 'r31x.hlow'::regclass, 'r31x.base_kid'::regclass,
                   'r31x.haudit'::regclass, 'r31x.free'::regclass, 'r31b.bown'::regclass)
   AND NOT tgisinternal;
SELECT count(*) AS agent_keys FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
 WHERE c.contype = 'f' AND r.relnamespace = 'r31b'::regnamespace AND c.confrelid <> 'r31b.fref'::regclass
   AND c.confrelid <> 'r31x.free'::regclass AND c.conrelid <> 'r31b.bown'::regclass;
SELECT last_value FROM r31x.oseq;

-- the human's side: deletes and updates of the protected tables work
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
BEGIN;
DELETE FROM r31x.parent WHERE id IN (5, 9);
UPDATE r31x.parent SET name = 'human' WHERE id = 14;
DELETE FROM r31x.base WHERE id = 31;
INSERT INTO r31x.orders (item) VALUES ('human') RETURNING id > 5 AS fresh_key;
SELECT count(*) AS hmid_left, count(*) FILTER (WHERE id = 9) AS nine FROM r31x.hmid;
SELECT count(*) FILTER (WHERE mid IS NULL) AS low_nulled FROM r31x.hlow;
SELECT count(*) AS audited FROM r31x.haudit;
ROLLBACK;
-- the same statements by a human work
BEGIN;
CREATE TABLE r31h.aref (id int PRIMARY KEY, mid int REFERENCES r31x.hmid);
CREATE TABLE r31h.aref2 (id int PRIMARY KEY, mid int REFERENCES r31x.hmid ON DELETE CASCADE);
CREATE TABLE r31h.kref (id int REFERENCES r31x.base_kid (id));
CREATE FUNCTION r31h.no() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$;
CREATE TRIGGER t_no BEFORE DELETE ON r31x.hmid FOR EACH ROW EXECUTE FUNCTION r31h.no();
CREATE CONSTRAINT TRIGGER t_no AFTER INSERT ON r31x.haudit DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION r31h.no();
SELECT setval('r31x.oseq', 100);
ROLLBACK;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT (SELECT count(*) FROM r31x.parent) AS parent, (SELECT count(*) FROM r31x.hmid) AS hmid,
       (SELECT count(*) FROM r31x.hlow) AS hlow, (SELECT count(*) FROM r31x.base) AS base,
       (SELECT count(*) FROM r31x.orders) AS orders;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r31x.parent');
SELECT agent_guard.unprotect('r31x.base');
SELECT agent_guard.unprotect('r31x.orders');
DROP SCHEMA r31x, r31b, r31h CASCADE;
REVOKE EXECUTE ON FUNCTION agent_guard.purge(regclass, interval) FROM regress_human;
