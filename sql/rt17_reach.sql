--
-- rt17_reach: red team 17c's findings (issue 16).
-- F1: ATTACH PARTITION of the agent's partitioned table, whose partition a
-- human protected, under a partitioned table a publication ships (FOR
-- TABLE with a row filter, via the root; a grandparent's; TABLES IN
-- SCHEMA): refused (YG004), as publishing the protected table is; under
-- an unpublished table: approval (YG003, red team 18a, finding 4).
-- Humans' UPDATE and DELETE of the partition still work.
-- F2: ALTER EXTENSION ... ADD of a domain, function, collation, sequence a
-- protected table relies on, and ... DROP of a member it relies on:
-- refused (YG004), also in a DO block; an unrelated object: allowed.
-- Extension membership checked in pg_depend.
-- F3: an agent's CHECK function on its protected table, run by a human's
-- rollback_run (which replays with session_replication_role = replica),
-- runs with "origin": its write to a human's table fires the human's
-- audit trigger, its delete of a row a human's foreign key references is
-- refused; the replay itself still runs with the table's triggers off.
-- F4: ANALYZE, VACUUM, VACUUM (TRUNCATE), VACUUM (ANALYZE) of a protected
-- table by a frozen agent (YG006) and under read_only (YG008): refused.
-- From the human's side: the same statements work.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
GRANT CREATE ON DATABASE contrib_regression TO regress_bot;
CREATE SCHEMA r17 AUTHORIZATION regress_bot;
CREATE SCHEMA r17s AUTHORIZATION regress_bot;
CREATE SCHEMA r17h AUTHORIZATION regress_human;
GRANT USAGE ON SCHEMA r17, r17s TO regress_human;
GRANT USAGE ON SCHEMA r17h TO regress_bot;

-- F1: the agent's partitioned table q, its partition p, protected
SET ROLE regress_bot;
CREATE TABLE r17.q (id int PRIMARY KEY, v text, ag_agent_id text, ag_run_id text,
                    ag_deleted_at timestamptz) PARTITION BY RANGE (id);
CREATE TABLE r17.p PARTITION OF r17.q FOR VALUES FROM (0) TO (1000);
INSERT INTO r17.q SELECT g, 'v' || g FROM generate_series(1, 5) g;
GRANT SELECT, INSERT, UPDATE, DELETE ON r17.q, r17.p TO regress_human;
-- F2: a table relying on the agent's domain, function, collation, sequence
-- and on a type of an extension the agent installs (trusted)
CREATE EXTENSION isn SCHEMA r17;
CREATE DOMAIN r17.amount AS numeric;
CREATE FUNCTION r17.ok(text) RETURNS boolean LANGUAGE sql IMMUTABLE RETURN $1 IS NOT NULL;
CREATE FUNCTION r17.unrelated() RETURNS int LANGUAGE sql RETURN 1;
CREATE COLLATION r17.coll FROM "C";
CREATE TABLE r17.orders (id serial PRIMARY KEY, amt r17.amount, note text CHECK (r17.ok(note)),
                         code text COLLATE r17.coll, e r17.ean13);
INSERT INTO r17.orders (amt, note, code) SELECT g, 'n', 'c' FROM generate_series(1, 3) g;
GRANT SELECT, INSERT, UPDATE, DELETE ON r17.orders TO regress_human;
GRANT USAGE ON SEQUENCE r17.orders_id_seq TO regress_human;
-- F3: the agent's plans a human's table references, and its table whose
-- CHECK calls its function; a BEFORE trigger the replay must not fire
CREATE TABLE r17.plans (id int PRIMARY KEY, name text);
INSERT INTO r17.plans VALUES (1, 'gold'), (2, 'silver');
GRANT SELECT, REFERENCES ON r17.plans TO regress_human;
CREATE TABLE r17.seen (what text);
RESET ROLE;
SET ROLE regress_human;
CREATE TABLE r17h.hdata (id int PRIMARY KEY, val text);
INSERT INTO r17h.hdata VALUES (1, 'orig');
CREATE TABLE r17h.haudit (who text, old text, new text);
CREATE FUNCTION r17h.haudit_f() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS
  $$ BEGIN INSERT INTO r17h.haudit VALUES (current_user, OLD.val, NEW.val); RETURN NEW; END $$;
CREATE TRIGGER hdata_audit AFTER UPDATE ON r17h.hdata FOR EACH ROW EXECUTE FUNCTION r17h.haudit_f();
GRANT SELECT, UPDATE ON r17h.hdata TO regress_bot;
CREATE TABLE r17h.hsubs (id int PRIMARY KEY, plan int REFERENCES r17.plans (id));
INSERT INTO r17h.hsubs VALUES (10, 1), (11, 2);
RESET ROLE;
SET ROLE regress_bot;
CREATE FUNCTION r17.chk(v text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('r17.go', true) = '1' THEN
    INSERT INTO r17.seen VALUES ('session_replication_role ' || current_setting('session_replication_role'));
    BEGIN
      DELETE FROM r17.plans WHERE id = 1;
      INSERT INTO r17.seen VALUES ('plan 1 deleted');
    EXCEPTION WHEN foreign_key_violation THEN
      INSERT INTO r17.seen VALUES ('foreign key held');
    END;
    UPDATE r17h.hdata SET val = 'by agent code' WHERE id = 1;
  END IF;
  RETURN true;
END $$;
CREATE FUNCTION r17.bang() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.v := NEW.v || '!'; RETURN NEW; END $$;
CREATE TABLE r17.items (id int PRIMARY KEY, v text CHECK (r17.chk(v)));
INSERT INTO r17.items VALUES (1, 'a'), (2, 'b');
CREATE FUNCTION r17.srr() RETURNS text LANGUAGE sql RETURN current_setting('session_replication_role');
CREATE PROCEDURE r17.proc() LANGUAGE sql BEGIN ATOMIC SELECT 1; END;
RESET ROLE;
SELECT agent_guard.protect('r17.p', false);
SELECT agent_guard.protect('r17.orders', false);
SELECT agent_guard.protect('r17.items', false);
-- a human adds the agent's trigger to it
CREATE TRIGGER items_bang BEFORE UPDATE ON r17.items FOR EACH ROW EXECUTE FUNCTION r17.bang();
-- a human's publication of the agent's schema
SET client_min_messages = error;
CREATE PUBLICATION r17_schema_pub FOR TABLES IN SCHEMA r17s;
RESET client_min_messages;

CREATE FUNCTION public.regress_r17_state() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT format('parents of r17.q: %s', (SELECT coalesce(string_agg(inhparent::regclass::text, ', ' ORDER BY inhparent::regclass::text), '-')
                                            FROM pg_inherits WHERE inhrelid = 'r17.q'::regclass))
    UNION ALL
    SELECT format('members of isn in r17: %s', (SELECT string_agg(pg_describe_object(d.classid, d.objid, 0), ', ' ORDER BY 1)
                                                 FROM pg_depend d
                                                WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
                                                  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'isn')
                                                  AND (pg_identify_object(d.classid, d.objid, 0)).identity ~ '^r17\.(amount|ok|coll|orders_id_seq|unrelated|ean13)\M'
                                                  AND (pg_identify_object(d.classid, d.objid, 0)).identity !~ '\[\]$'))
    UNION ALL
    SELECT format('r17.p rows: %s', (SELECT string_agg(format('%s %s', id, v), '; ' ORDER BY id) FROM r17.p))
    UNION ALL
    SELECT format('r17.orders rows: %s', (SELECT count(*) FROM r17.orders))
    UNION ALL
    SELECT format('log verifies: %s', (SELECT ok FROM agent_guard.verify_log()))
$$;
SELECT * FROM public.regress_r17_state();

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt17"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- F1: partitioned tables of the agent's, published with a row filter via
-- the root, as a grandparent, and in a schema a human publishes
CREATE TABLE r17.r (LIKE r17.q) PARTITION BY RANGE (id);
SET client_min_messages = error;
CREATE PUBLICATION r17_pub FOR TABLE r17.r WHERE (v <> 'x')
  WITH (publish = 'update, delete', publish_via_partition_root = true);
CREATE TABLE r17.top (LIKE r17.q) PARTITION BY RANGE (id);
CREATE TABLE r17.mid PARTITION OF r17.top FOR VALUES FROM (0) TO (100000) PARTITION BY RANGE (id);
CREATE PUBLICATION r17_top_pub FOR TABLE r17.top;
RESET client_min_messages;
CREATE TABLE r17s.sr (LIKE r17.q) PARTITION BY RANGE (id);
CREATE TABLE r17.free (LIKE r17.q) PARTITION BY RANGE (id);
-- error: the protected partition would be shipped (YG004; finding 1)
ALTER TABLE r17.r ATTACH PARTITION r17.q FOR VALUES FROM (0) TO (10000);
ALTER TABLE r17.mid ATTACH PARTITION r17.q FOR VALUES FROM (0) TO (10000);
ALTER TABLE r17s.sr ATTACH PARTITION r17.q FOR VALUES FROM (0) TO (10000);
DO $$ BEGIN EXECUTE 'ALTER TABLE r17.r ATTACH PARTITION r17.q FOR VALUES FROM (0) TO (10000)'; END $$;
-- error: the direct ways, as before (YG004)
SET client_min_messages = error;
CREATE PUBLICATION r17_p_pub FOR TABLE r17.p;
RESET client_min_messages;
ALTER TABLE r17.r ATTACH PARTITION r17.p FOR VALUES FROM (0) TO (1000);
-- F2: error: what the protected table relies on, into or out of an
-- extension (YG004; finding 2)
ALTER EXTENSION isn ADD DOMAIN r17.amount;
ALTER EXTENSION isn ADD FUNCTION r17.ok(text);
ALTER EXTENSION isn ADD COLLATION r17.coll;
ALTER EXTENSION isn ADD SEQUENCE r17.orders_id_seq;
ALTER EXTENSION isn DROP TYPE r17.ean13;
DO $$ BEGIN EXECUTE 'ALTER EXTENSION isn ADD DOMAIN r17.amount'; END $$;
-- an object no protected table relies on: allowed, in and out
ALTER EXTENSION isn ADD FUNCTION r17.unrelated();
ALTER EXTENSION isn DROP FUNCTION r17.unrelated();
-- F4: not frozen, ANALYZE and VACUUM of the protected table run
ANALYZE r17.orders;
VACUUM r17.orders;
\set VERBOSITY default
-- the messages
CREATE FUNCTION pg_temp.show(stmt text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE m text; d text; h text;
BEGIN
    EXECUTE stmt;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RAISE NOTICE E'%\nmessage: %\ndetail: %\nhint: %', SQLSTATE,
        regexp_replace(m, '[0-9]+', 'N'), d, regexp_replace(h, '[0-9]+', 'N');
END $$;
SELECT pg_temp.show('ALTER TABLE r17.r ATTACH PARTITION r17.q FOR VALUES FROM (0) TO (10000)');
SELECT pg_temp.show('ALTER TABLE r17s.sr ATTACH PARTITION r17.q FOR VALUES FROM (0) TO (10000)');
SELECT pg_temp.show('ALTER EXTENSION isn ADD DOMAIN r17.amount');
SELECT pg_temp.show('ALTER EXTENSION isn DROP TYPE r17.ean13');
\set VERBOSITY sqlstate
-- under a parent no publication ships: approval (YG003), since red team
-- 18a, finding 4: the new parent's bound becomes the protected
-- partition's constraint (rt18_reach)
ALTER TABLE r17.free ATTACH PARTITION r17.q FOR VALUES FROM (0) TO (10000);
-- F3: the agent's run on its table with the CHECK
UPDATE r17.items SET v = v || ' changed' WHERE id IN (1, 2);
SELECT id, v FROM r17.items ORDER BY id;
\set VERBOSITY default

-- the structure as it was; the requests
\c "dbname=contrib_regression user=regress_su options="
SELECT * FROM public.regress_r17_state();
SELECT agent_guard._flush_requests();
SELECT kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before AND run_id = 'run-rt17' ORDER BY request_id;

-- humans update and delete the protected partition, through q and directly
\c "dbname=contrib_regression user=regress_human options="
UPDATE r17.p SET v = 'new' WHERE id = 1;
DELETE FROM r17.p WHERE id = 2;
UPDATE r17.q SET v = 'newer' WHERE id = 3;
INSERT INTO r17.orders (amt, note, code) VALUES (9, 'h', 'c');
SELECT id, v FROM r17.p ORDER BY id;

-- F3: a human's rollback of the run: the agent's CHECK function runs with
-- session_replication_role = origin (the human's audit trigger fires, the
-- human's foreign key holds); the replay itself fires no trigger of the
-- table (the rows come back exactly, without '!')
\c "dbname=contrib_regression user=regress_su options="
SET r17.go = '1';
SELECT relation, operation, status FROM agent_guard.rollback_run('run-rt17', apply => true)
 WHERE relation = 'r17.items' ORDER BY step;
RESET r17.go;
SHOW session_replication_role;
SELECT id, v FROM r17.items ORDER BY id;
SELECT what, count(*) FROM r17.seen GROUP BY what ORDER BY what;
SELECT id, name FROM r17.plans ORDER BY id;
SELECT who, old, new FROM r17h.haudit ORDER BY new;
SELECT id, val FROM r17h.hdata;
-- an agent's function in a session with session_replication_role =
-- replica: runs with origin; an agent's procedure: refused (YG002)
SET session_replication_role = replica;
SELECT r17.srr();
SHOW session_replication_role;
\set VERBOSITY sqlstate
CALL r17.proc();
\set VERBOSITY default
RESET session_replication_role;
CALL r17.proc();

-- F4: a frozen agent's ANALYZE and VACUUM of the protected table (YG006)
SELECT agent_guard.freeze('rt17 freeze', 'regress_bot');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt17-f4"
\set VERBOSITY sqlstate
ANALYZE r17.orders;
VACUUM r17.orders;
VACUUM (TRUNCATE) r17.orders;
VACUUM (ANALYZE) r17.orders;
ANALYZE;
\c "dbname=contrib_regression user=regress_su options="
-- a human's work during the freeze
ANALYZE r17.orders;
VACUUM (TRUNCATE) r17.orders;
SELECT agent_guard.unfreeze('regress_bot');
-- under read_only (YG008)
SELECT mode FROM agent_guard.set_policy('regress_bot', 'read_only');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rt17-f4"
\set VERBOSITY sqlstate
ANALYZE r17.orders;
VACUUM r17.orders;
VACUUM (ANALYZE) r17.orders;
-- its temporary table's: allowed
CREATE TEMP TABLE r17_tmp (x int);
ANALYZE r17_tmp;
VACUUM r17_tmp;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.drop_policy('regress_bot');
SELECT agent_guard._flush_requests();
SELECT kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before AND run_id = 'run-rt17-f4' ORDER BY request_id;

-- the human's side: the same statements work for a human
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
BEGIN;
ALTER TABLE r17.r ATTACH PARTITION r17.q FOR VALUES FROM (0) TO (10000);
ALTER EXTENSION isn ADD DOMAIN r17.amount;
ALTER EXTENSION isn ADD FUNCTION r17.ok(text);
ALTER EXTENSION isn DROP TYPE r17.ean13;
SELECT * FROM public.regress_r17_state() WHERE regress_r17_state ~ '^(parents|members)';
ROLLBACK;

\c "dbname=contrib_regression user=regress_su options="
DROP FUNCTION public.regress_r17_state();
SELECT agent_guard.unprotect('r17.p');
SELECT agent_guard.unprotect('r17.orders');
SELECT agent_guard.unprotect('r17.items');
DROP PUBLICATION r17_pub, r17_top_pub, r17_schema_pub;
DROP SCHEMA r17h CASCADE;
DROP EXTENSION isn CASCADE;
DROP SCHEMA r17, r17s CASCADE;
