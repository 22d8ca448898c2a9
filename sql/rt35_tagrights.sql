--
-- rt35_tagrights: red team 35, F8 and F9.  In a transaction that a shared
-- role tags with SET LOCAL agent_guard.agent_id:
-- F8: what the transaction makes that runs with the role's rights (a view,
-- materialized view, table with a rule, SECURITY DEFINER routine) may not
-- be given to PUBLIC, a registered agent role or a role one is a member of:
-- the GRANT is refused (YG004, on record), and so is the COMMIT of a
-- transaction that leaves one an agent can use (the GRANT before the rule,
-- ALL TABLES IN SCHEMA) or that leaves a SECURITY DEFINER routine (EXECUTE
-- is PUBLIC's by default).  Nor may it give away an older object (OWNER TO,
-- REASSIGN OWNED), nor make a user mapping for an agent or PUBLIC.
-- F9: of the objects made before the transaction, REVOKE (the role's own
-- rights too, role membership too) is refused, and so is what an addition
-- would make the humans' later writes fail on: a constraint of any kind, a
-- foreign key to the table, SET NOT NULL, a NOT NULL, identity, generated or
-- domain column, a default that is not immutable, an index, a trigger, a
-- child or partition (YG004, on record), also through DO.  The finding: a
-- CHECK (false) or a REVOKE on the audit table the humans' trigger on a
-- protected table writes made every human write of the protected table fail.
-- Allowed: a plain column (constant default), storage settings, all of it on
-- what the transaction made itself.  From the humans' side: the role
-- untagged does all of it; their writes work after the refusals.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1024000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r35r AUTHORIZATION regress_tagged;
CREATE SCHEMA r35a AUTHORIZATION regress_tagged;
GRANT USAGE ON SCHEMA r35a TO regress_bot;
CREATE ROLE regress_r35_h;
CREATE FOREIGN DATA WRAPPER r35_fdw;
GRANT USAGE ON FOREIGN DATA WRAPPER r35_fdw TO regress_tagged;
GRANT CREATE ON DATABASE contrib_regression TO regress_tagged;

-- the humans' objects, made by the shared role untagged
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
CREATE TABLE r35r.secret (id int PRIMARY KEY, s text);
INSERT INTO r35r.secret VALUES (1, 'salary'), (2, 'pin');
CREATE TABLE r35r.ord (id int PRIMARY KEY, amount int);
CREATE TABLE r35r.audit (what text);
CREATE FUNCTION r35r.audit_fn() RETURNS trigger LANGUAGE plpgsql
  AS $$ BEGIN INSERT INTO r35r.audit VALUES ('ord ' || TG_OP); RETURN NULL; END $$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE ON r35r.ord FOR EACH ROW EXECUTE FUNCTION r35r.audit_fn();
CREATE DOMAIN r35r.amt AS int;
CREATE TABLE r35r.parts (id int) PARTITION BY RANGE (id);
CREATE FUNCTION r35r.f() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE SERVER r35_srv FOREIGN DATA WRAPPER r35_fdw;
CREATE FUNCTION r35r.hdef_trg() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  AS $$ BEGIN DELETE FROM r35r.secret; RETURN NULL; END $$;
REVOKE EXECUTE ON FUNCTION r35r.hdef_trg() FROM PUBLIC;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('r35r.ord') AS ord;

\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
-- F8, the finding: a view over the humans' table, granted to a registered agent
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE VIEW r35a.leak AS SELECT id, s FROM r35r.secret;
GRANT SELECT ON r35a.leak TO regress_bot;
ROLLBACK;
-- F8: a SECURITY DEFINER wrapper, never granted: EXECUTE is PUBLIC's
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE FUNCTION r35a.wipe() RETURNS void LANGUAGE sql SECURITY DEFINER AS 'DELETE FROM r35r.secret';
COMMIT;
\set VERBOSITY sqlstate
-- error: YG004 each, at the GRANT
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE VIEW r35a.leak WITH (security_invoker = true) AS SELECT id, s FROM r35r.secret;
GRANT SELECT (id) ON r35a.leak TO PUBLIC;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE MATERIALIZED VIEW r35a.snap AS SELECT id, s FROM r35r.secret;
GRANT SELECT ON r35a.snap TO regress_bot;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE FUNCTION r35a.wipe() RETURNS void LANGUAGE sql SECURITY DEFINER AS 'DELETE FROM r35r.secret';
GRANT EXECUTE ON FUNCTION r35a.wipe() TO regress_bot;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35a.drop_box (id int);
CREATE RULE wipe AS ON INSERT TO r35a.drop_box DO ALSO DELETE FROM r35r.secret;
GRANT INSERT ON r35a.drop_box TO regress_bot;
ROLLBACK;
-- a trigger calls its function without EXECUTE: the role's SECURITY DEFINER
-- trigger function on a table granted to the agent (YG002 already: stored code)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35a.tbox (id int);
CREATE TRIGGER t AFTER INSERT ON r35a.tbox FOR EACH ROW EXECUTE FUNCTION r35r.hdef_trg();
GRANT INSERT ON r35a.tbox TO regress_bot;
ROLLBACK;
-- error: YG004 each, at COMMIT (the GRANT before the rule, before the view's
-- option switched back, through ALL TABLES IN SCHEMA, through DO)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35a.drop_box (id int);
GRANT INSERT ON r35a.drop_box TO regress_bot;
CREATE RULE wipe AS ON INSERT TO r35a.drop_box DO ALSO DELETE FROM r35r.secret;
COMMIT;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE SCHEMA r35n;
GRANT USAGE ON SCHEMA r35n TO regress_bot;
CREATE VIEW r35n.box AS SELECT id, s FROM r35r.secret;
GRANT SELECT ON ALL TABLES IN SCHEMA r35n TO regress_bot;
COMMIT;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
DO $$ BEGIN EXECUTE 'CREATE FUNCTION r35a.wipe() RETURNS void LANGUAGE sql SECURITY DEFINER AS ''SELECT 1'''; END $$;
COMMIT;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE FUNCTION r35a.g() RETURNS int LANGUAGE sql AS 'SELECT 1';
ALTER FUNCTION r35a.g() SECURITY DEFINER;
COMMIT;
-- error: YG004, giving away the humans' objects
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35r.secret OWNER TO regress_bot;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER FUNCTION r35r.f() OWNER TO regress_bot;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER SCHEMA r35r OWNER TO regress_bot;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
REASSIGN OWNED BY regress_tagged TO regress_bot;
ROLLBACK;
-- error: YG004, the role's credentials on a foreign server for an agent or PUBLIC
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE USER MAPPING FOR regress_bot SERVER r35_srv OPTIONS (user 'humans', password 'secret');
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE USER MAPPING FOR PUBLIC SERVER r35_srv OPTIONS (user 'humans', password 'secret');
ROLLBACK;
-- error: YG004, what the humans made earlier in the same session (behind a
-- pooler the server process's earlier transactions are theirs): not the
-- transaction's own, so neither granted to an agent nor revoked
CREATE TABLE r35a.human_made (id int);
CREATE SCHEMA r35h;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
GRANT SELECT ON r35a.human_made TO regress_bot;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
GRANT USAGE ON SCHEMA r35h TO regress_bot;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
REVOKE ALL ON r35a.human_made FROM regress_tagged;
ROLLBACK;
DROP SCHEMA r35h;
-- allowed: a plain table, a view and a SECURITY INVOKER function granted to
-- nobody or to the agent, a view it keeps to itself
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35a.scratch (id int);
INSERT INTO r35a.scratch VALUES (1);
GRANT SELECT, INSERT ON r35a.scratch TO regress_bot;
CREATE FUNCTION r35a.inv() RETURNS int LANGUAGE sql AS 'SELECT 1';
GRANT EXECUTE ON FUNCTION r35a.inv() TO regress_bot;
CREATE VIEW r35a.mine AS SELECT count(*) AS n FROM r35r.secret;
SELECT n AS mine FROM r35a.mine;
COMMIT;
\set VERBOSITY default

-- the agent reaches nothing of the humans'; what it was given works
\c "dbname=contrib_regression user=regress_bot options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
SELECT id FROM r35a.scratch;
SELECT r35a.inv() AS inv;
SELECT count(*) FROM r35a.mine;
SELECT count(*) FROM r35a.leak;
\set VERBOSITY default
SELECT to_regprocedure('r35a.wipe()') IS NULL AS no_wipe, to_regprocedure('r35a.g()') IS NULL AS no_g,
       to_regclass('r35a.drop_box') IS NULL AS no_box, to_regnamespace('r35n') IS NULL AS no_schema;

\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
-- F9, the finding: a CHECK (false) on the table the humans' trigger writes
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35r.audit ADD CONSTRAINT stop CHECK (false) NOT VALID;
ROLLBACK;
-- F9, the finding: REVOKE of the role's own right to write it
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
REVOKE INSERT ON r35r.audit FROM regress_tagged;
ROLLBACK;
\set VERBOSITY sqlstate
-- error: YG004 each, REVOKE of what the transaction did not make
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
REVOKE ALL ON r35r.audit FROM PUBLIC;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
REVOKE EXECUTE ON FUNCTION r35r.audit_fn() FROM regress_tagged;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
REVOKE USAGE ON SCHEMA r35r FROM regress_tagged;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
REVOKE USAGE ON TYPE r35r.amt FROM PUBLIC;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
REVOKE regress_human FROM regress_bot;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
DO $$ BEGIN EXECUTE 'REVOKE INSERT ON r35r.audit FROM regress_tagged'; END $$;
ROLLBACK;
-- error: YG004 each, additions the humans' later writes must pass
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35r.audit ADD CONSTRAINT u UNIQUE (what);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35r.audit ALTER COLUMN what SET NOT NULL;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35r.audit ADD COLUMN n int NOT NULL DEFAULT 0;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35r.audit ADD COLUMN n int CHECK (n > 0);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35r.audit ADD COLUMN n int GENERATED ALWAYS AS (length(what)) STORED;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35r.audit ADD COLUMN n int GENERATED ALWAYS AS IDENTITY;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35r.audit ADD COLUMN n int DEFAULT current_setting('r35.mode')::int;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35r.audit ADD COLUMN n timestamptz DEFAULT now();
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35r.audit ADD COLUMN n r35r.amt;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE UNIQUE INDEX audit_u ON r35r.audit (what);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE INDEX audit_w ON r35r.audit (what);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TRIGGER sup BEFORE INSERT ON r35r.audit FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35a.ref (sid int REFERENCES r35r.secret);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35a.kid () INHERITS (r35r.audit);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35a.p1 PARTITION OF r35r.parts FOR VALUES FROM (0) TO (10);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35a.p2 (id int);
ALTER TABLE r35r.parts ATTACH PARTITION r35a.p2 FOR VALUES FROM (0) TO (10);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER DOMAIN r35r.amt ADD CONSTRAINT pos CHECK (VALUE > 0);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
DO $$ BEGIN EXECUTE 'ALTER TABLE r35r.audit ADD CONSTRAINT stop CHECK (false) NOT VALID'; END $$;
ROLLBACK;
-- error: YG004, the audit table published (no replica identity: their UPDATE fails)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE PUBLICATION r35_pub FOR TABLE r35a.scratch, r35r.audit;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE PUBLICATION r35_pub;
ALTER PUBLICATION r35_pub ADD TABLE r35r.audit;
ROLLBACK;
-- allowed: a plain column, a constant default, storage; all of it on the
-- transaction's own table; REVOKE on its own table
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35r.audit ADD COLUMN note text, ADD COLUMN n int DEFAULT 0;
ALTER TABLE r35r.audit ALTER COLUMN what SET STATISTICS 200, SET (fillfactor = 90);
CREATE TABLE r35a.t (id int PRIMARY KEY, m text NOT NULL DEFAULT now()::text CHECK (m <> ''),
  k int GENERATED ALWAYS AS IDENTITY, d r35r.amt);
CREATE UNIQUE INDEX t_m ON r35a.t (m);
ALTER TABLE r35a.t ADD CONSTRAINT t_k CHECK (k > 0), ALTER COLUMN d SET NOT NULL;
CREATE TRIGGER sup BEFORE UPDATE ON r35a.t FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
CREATE TABLE r35a.tref (tid int REFERENCES r35a.t);
CREATE PUBLICATION r35_pub FOR TABLE r35a.t;
ALTER PUBLICATION r35_pub SET (publish = 'insert');
GRANT SELECT ON r35a.t TO regress_r35_h;
REVOKE SELECT ON r35a.t FROM regress_r35_h;
INSERT INTO r35a.t (id, m, d) VALUES (1, 'a', 1);
ROLLBACK;
\set VERBOSITY default

-- the humans' writes work: their protected table's trigger writes the audit table
INSERT INTO r35r.ord VALUES (1, 10);
SELECT what FROM r35r.audit ORDER BY what;
SELECT (SELECT count(*) FROM pg_constraint WHERE conrelid = 'r35r.audit'::regclass) AS audit_cons,
       (SELECT count(*) FROM pg_index WHERE indrelid = 'r35r.audit'::regclass) AS audit_idx,
       (SELECT count(*) FROM pg_attribute WHERE attrelid = 'r35r.audit'::regclass AND attnum > 0) AS audit_cols,
       has_table_privilege('r35r.audit', 'INSERT') AS can_insert,
       (SELECT count(*) FROM pg_inherits WHERE inhparent IN ('r35r.audit'::regclass, 'r35r.parts'::regclass)) AS children,
       (SELECT relowner::regrole FROM pg_class WHERE oid = 'r35r.secret'::regclass) AS secret_owner;

-- the humans' side: the same role untagged does all of it
CREATE USER MAPPING FOR regress_bot SERVER r35_srv OPTIONS (user 'humans');
CREATE VIEW r35a.hview AS SELECT id FROM r35r.secret;
GRANT SELECT ON r35a.hview TO regress_bot;
CREATE FUNCTION r35a.hdef() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT count(*)::int FROM r35r.secret';
REVOKE EXECUTE ON FUNCTION r35a.hdef() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION r35a.hdef() TO regress_bot;
ALTER TABLE r35r.audit ADD CONSTRAINT len CHECK (length(what) < 100), ADD COLUMN at timestamptz DEFAULT now();
CREATE INDEX audit_w ON r35r.audit (what);
ALTER TABLE r35r.audit ALTER COLUMN what SET NOT NULL;
REVOKE DELETE ON r35r.audit FROM PUBLIC;
CREATE TABLE r35a.p1 PARTITION OF r35r.parts FOR VALUES FROM (0) TO (10);
INSERT INTO r35r.ord VALUES (2, 20);
SELECT count(*) AS audit_rows FROM r35r.audit;
\c "dbname=contrib_regression user=regress_bot options="
SELECT count(*) AS hview, r35a.hdef() AS hdef FROM r35a.hview;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- on record
SELECT agent_guard._flush_requests();
SELECT request_id, agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r35r.ord') AS ord;
DROP SCHEMA r35r, r35a CASCADE;
DROP SERVER r35_srv CASCADE;
DROP FOREIGN DATA WRAPPER r35_fdw;
DROP ROLE regress_r35_h;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_tagged;
