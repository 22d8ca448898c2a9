--
-- rt35_tagstored: red team 35, F1, F2, F5 and F10: the code a transaction
-- tagged by a shared role (SET LOCAL agent_guard.agent_id) stores runs
-- later in the humans' untagged sessions with their rights.
-- F1: such stored code (CHECK, default, view, rule, policy, trigger WHEN,
-- domain, partition key) may call only an allow-list: built-ins that are
-- not volatile and the few volatile ones defaults use (nextval,
-- clock_timestamp, random, gen_random_uuid), the guard's functions that
-- say who the session is, and extensions' functions that are not SECURITY
-- DEFINER and not volatile (IMMUTABLE if in SQL).  set_config(..., false),
-- advisory locks, pg_terminate_backend, pg_notify, lo_unlink, setseed,
-- pg_reload_conf, pg_stat_reset are refused when stored (YG002, on record).
-- F2: another role's older SECURITY DEFINER function, called directly, as
-- an operator's function, from an older domain's CHECK the stored code
-- coerces to (also as a record's field made at run time), or from an
-- older view the stored view reads (YG002).
-- F10: the guard's human-only functions (approve, unprotect, unfreeze,
-- set_policy, unregister_agent) may not be stored; and, stored before
-- (by a human), they refuse to run from what another statement evaluates
-- (a CHECK in an insert, a default, a view): YG002, the request stays
-- pending; a human's plain SELECT agent_guard.approve(...) and DO still
-- work.
-- F5: a partition key expression is judged as stored code; a child or
-- partition of the humans' older table, and their older table attached
-- under (or made the child of) a new parent, are refused (YG004).
-- Still allowed tagged: built-in defaults and checks, extensions'
-- functions (citext, pg_trgm), families of tables the transaction made.
-- From the humans' side: the role untagged stores the same code; the
-- protected table's rows stay; the log verifies.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1021000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS citext SCHEMA public;
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
RESET client_min_messages;
CREATE ROLE regress_r35s_other;
CREATE SCHEMA r35s AUTHORIZATION regress_tagged;
CREATE SCHEMA r35o AUTHORIZATION regress_r35s_other;
GRANT USAGE ON SCHEMA r35o TO regress_tagged;
-- the humans' protected table
CREATE TABLE r35s.ord (id int PRIMARY KEY, amount int);
ALTER TABLE r35s.ord OWNER TO regress_tagged;
INSERT INTO r35s.ord SELECT g, g FROM generate_series(1, 5) g;
SELECT agent_guard.protect('r35s.ord') AS ord;
-- another role's older SECURITY DEFINER function, which deletes hard as its
-- owner (a superuser here), an operator over it, a domain and a view that call it
SET ROLE regress_r35s_other;
CREATE FUNCTION r35o.zap(int) RETURNS int LANGUAGE plpgsql IMMUTABLE SECURITY DEFINER
  AS $$ BEGIN RETURN $1; END $$;
CREATE FUNCTION r35o.zapeq(int, int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE SECURITY DEFINER
  AS $$ BEGIN RETURN $1 = $2; END $$;
CREATE OPERATOR r35o.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = r35o.zapeq);
CREATE DOMAIN r35o.zapped AS int CHECK (r35o.zap(VALUE) IS NOT NULL);
CREATE TYPE r35o.zcomp AS (z r35o.zapped);
CREATE VIEW r35o.zapview AS SELECT r35o.zap(g) AS z FROM generate_series(1, 2) g;
GRANT SELECT ON r35o.zapview TO regress_tagged;
RESET ROLE;

-- the shared role's older tables, made untagged
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
CREATE TABLE r35s.notes (id int, note text);
CREATE TABLE r35s.parts (id int, note text) PARTITION BY LIST (id);
CREATE TABLE r35s.loose (id int, note text);
CREATE TABLE r35s.olderkid (id int, note text);
CREATE SEQUENCE r35s.seq;

-- the tagged shared role's transactions
\set VERBOSITY sqlstate
-- a pending request of the agent's: TRUNCATE of the protected table (error: YG003)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
TRUNCATE r35s.ord;
ROLLBACK;
-- F1, the finding: a CHECK or default with set_config(..., false) (error: YG002 each)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35s.notes ADD CONSTRAINT sp
  CHECK (set_config('search_path', 'r35s', false) IS NOT NULL) NOT VALID;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35s.notes ADD COLUMN latch text
  DEFAULT set_config('agent_guard.agent_id', 'harness-35', false);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35s.notes ADD COLUMN ro text
  DEFAULT set_config('default_transaction_read_only', 'on', false);
ROLLBACK;
-- the rest of the class: a session advisory lock in a CHECK, a signal in a
-- default, pg_notify in a view, lo_unlink in a policy, setseed in a rule,
-- pg_reload_conf in a domain, pg_stat_reset in a trigger WHEN (error: YG002 each)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35s.notes ADD CONSTRAINT lk CHECK (pg_advisory_lock(id) IS NOT NULL) NOT VALID;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35s.notes ADD COLUMN sig boolean DEFAULT pg_terminate_backend(0);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE VIEW r35s.noisy AS SELECT id FROM r35s.notes WHERE pg_notify('ch', note) IS NULL;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35s.fresh (id int);
CREATE POLICY p ON r35s.fresh USING (lo_unlink(id) = 1);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35s.fresh (id int);
CREATE RULE r AS ON INSERT TO r35s.fresh DO ALSO SELECT setseed(0.5);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE DOMAIN r35s.reloading AS int CHECK (pg_reload_conf());
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35s.fresh (id int);
CREATE TRIGGER t BEFORE INSERT ON r35s.fresh FOR EACH ROW
  WHEN (pg_stat_reset() IS NULL) EXECUTE FUNCTION suppress_redundant_updates_trigger();
ROLLBACK;
-- F2: another role's older SECURITY DEFINER function: directly, as an
-- operator, through an older domain's CHECK, through an older view (error: YG002 each)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35s.notes ADD CONSTRAINT z CHECK (r35o.zap(id) IS NOT NULL) NOT VALID;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35s.notes ADD CONSTRAINT z CHECK (id OPERATOR(r35o.===) 1) NOT VALID;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35s.notes ADD CONSTRAINT z CHECK ((id::r35o.zapped) IS NOT NULL) NOT VALID;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE VIEW r35s.zv AS SELECT z FROM r35o.zapview;
ROLLBACK;
-- and through a record whose field is of that domain, made at run time
-- by an input function or a built-in (error: YG002 each)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35s.notes ADD CONSTRAINT zc CHECK ((note::r35o.zcomp) IS NOT NULL) NOT VALID;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35s.notes ADD COLUMN zj text
  DEFAULT (json_populate_record(NULL::r35o.zcomp, '{"z": 1}'))::text;
ROLLBACK;
-- F10: the guard's human-only functions in stored code (error: YG002 each)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35s.notes ADD CONSTRAINT ap
  CHECK ((agent_guard.approve(1021000)).status IS NOT NULL) NOT VALID;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35s.notes ADD COLUMN un text DEFAULT agent_guard.unprotect('r35s.ord')::text;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE VIEW r35s.thaw AS SELECT agent_guard.unfreeze() AS thawed;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35s.notes ADD CONSTRAINT ur
  CHECK (agent_guard.unregister_agent(note::regrole) IS NOT NULL) NOT VALID;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE DOMAIN r35s.pol AS text CHECK (agent_guard.set_policy(VALUE) IS NOT NULL);
ROLLBACK;
-- F5: a partition key calling a function (the transaction's, another role's)
-- (error: YG002 each)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE FUNCTION r35s.k(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1';
CREATE TABLE r35s.keyed (id int) PARTITION BY LIST ((r35s.k(id)));
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35s.keyed (id int) PARTITION BY RANGE ((r35o.zap(id)));
ROLLBACK;
-- F5: families with the humans' older tables (error: YG004 each)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35s.newparent (id int, note text) PARTITION BY LIST (id);
ALTER TABLE r35s.newparent ATTACH PARTITION r35s.loose FOR VALUES IN (1, 2, 3);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35s.newpart (id int, note text);
ALTER TABLE r35s.parts ATTACH PARTITION r35s.newpart FOR VALUES IN (7);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35s.p9 PARTITION OF r35s.parts FOR VALUES IN (9);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35s.kid (extra int) INHERITS (r35s.notes);
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35s.newbase (id int, note text);
ALTER TABLE r35s.olderkid INHERIT r35s.newbase;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35s.newkid (id int, note text);
ALTER TABLE r35s.newkid INHERIT r35s.notes;
ROLLBACK;
\set VERBOSITY default
-- the messages
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35s.notes ADD CONSTRAINT sp
  CHECK (set_config('search_path', 'r35s', false) IS NOT NULL) NOT VALID;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35s.notes ADD CONSTRAINT z CHECK (id OPERATOR(r35o.===) 1) NOT VALID;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
ALTER TABLE r35s.notes ADD CONSTRAINT ap
  CHECK ((agent_guard.approve(1021000)).status IS NOT NULL) NOT VALID;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35s.p9 PARTITION OF r35s.parts FOR VALUES IN (9);
ROLLBACK;
-- still allowed tagged: built-in defaults and checks, the guard's identity,
-- extensions' functions, a partition key and a family of its own tables
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-35';
CREATE TABLE r35s.fine (
  id int DEFAULT nextval('r35s.seq'),
  at timestamptz DEFAULT clock_timestamp(),
  made timestamptz DEFAULT now(),
  u uuid DEFAULT gen_random_uuid(),
  r float8 DEFAULT random(),
  who text DEFAULT agent_guard.current_agent(),
  name citext CHECK (length(name) < 50 AND name ~ '^[a-z]*$'),
  sim real DEFAULT similarity('abc', 'abd'));
CREATE INDEX fine_lower ON r35s.fine (lower(name::text));
CREATE VIEW r35s.fineview AS SELECT id, upper(name::text) AS n FROM r35s.fine;
CREATE TABLE r35s.keyed (id int, name text) PARTITION BY LIST ((lower(name)));
CREATE TABLE r35s.keyed_a PARTITION OF r35s.keyed FOR VALUES IN ('a');
CREATE TABLE r35s.kid2 (extra int) INHERITS (r35s.fine);
INSERT INTO r35s.fine (name) VALUES ('abc');
INSERT INTO r35s.keyed VALUES (1, 'A');
COMMIT;

-- F10 at run time: human-only functions stored before, by a human (the
-- role untagged): a CHECK approving the pending TRUNCATE in an insert,
-- a default, a view (error: YG002 each); the request stays pending
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
SELECT request_id, status FROM agent_guard.requests WHERE request_id = 1021000;
CREATE TABLE r35s.trap (id int CHECK ((agent_guard.approve(1021000, 'trap')).status IS NOT NULL));
CREATE TABLE r35s.trapdef (id int, s text DEFAULT (agent_guard.approve(1021000, 'default')).status);
CREATE VIEW r35s.trapview AS SELECT (agent_guard.approve(1021000, 'view')).status;
\set VERBOSITY sqlstate
INSERT INTO r35s.trap VALUES (1);
INSERT INTO r35s.trapdef (id) VALUES (1);
SELECT * FROM r35s.trapview;
DO $$ BEGIN INSERT INTO r35s.trap VALUES (2); END $$;
COPY r35s.trap FROM STDIN;
3
\.
\set VERBOSITY default
INSERT INTO r35s.trap VALUES (1);
SELECT request_id, status FROM agent_guard.requests WHERE request_id = 1021000;
-- a human's own calls: a plain SELECT, and from DO
SELECT status FROM agent_guard.approve(1021000, 'a human read it');
DO $$ BEGIN PERFORM agent_guard.freeze('r35 check', 'harness-35'); END $$;
SELECT agent_guard.unfreeze('harness-35');
SELECT request_id, status FROM agent_guard.requests WHERE request_id = 1021000;
DROP VIEW r35s.trapview;
DROP TABLE r35s.trap, r35s.trapdef;

-- the humans' side: the role untagged stores the same code
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
ALTER TABLE r35s.notes ADD CONSTRAINT z CHECK (r35o.zap(id) IS NOT NULL) NOT VALID;
ALTER TABLE r35s.notes ADD COLUMN sig text DEFAULT set_config('r35.x', 'y', true);
CREATE TABLE r35s.kid (extra int) INHERITS (r35s.notes);
CREATE TABLE r35s.p9 PARTITION OF r35s.parts FOR VALUES IN (9);
CREATE TABLE r35s.newparent (id int, note text) PARTITION BY LIST (id);
ALTER TABLE r35s.newparent ATTACH PARTITION r35s.loose FOR VALUES IN (1, 2, 3);
CREATE TABLE r35s.keyed2 (id int) PARTITION BY RANGE ((r35o.zap(id)));
INSERT INTO r35s.notes (id, note) VALUES (1, 'hello');
SELECT id, note, sig FROM r35s.notes;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- on record
SELECT agent_guard._flush_requests();
SELECT request_id, agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT array_agg(id ORDER BY id) AS orders FROM r35s.ord;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r35s.ord');
DROP SCHEMA r35s CASCADE;
DROP SCHEMA r35o CASCADE;
DROP ROLE regress_r35s_other;
DROP EXTENSION citext, pg_trgm;
