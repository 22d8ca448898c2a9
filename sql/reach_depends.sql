--
-- reach_depends: what a protected table relies on that an agent owns, by
-- rights and by drops (red team 9, findings 1 and 2).
-- 1. An agent's REVOKE (or new owner) of a function, type, sequence, table
--    or schema a protected table relies on (its CHECKs, defaults, indexes,
--    policies, triggers, rules, column types, the tables its foreign keys
--    reference, their schemas) would make humans' reads or writes fail:
--    refused (YG004).  GRANT stays allowed, and so does a REVOKE of what no
--    protected table relies on.
-- 2. A drop that cascades into a protected table's default, policy, rule or
--    trigger is judged as the direct act: a policy, rule or trigger dropped
--    is refused (YG004), a key column's default dropped needs approval
--    (YG003), once; a CHECK or a plain index goes, as DROP CONSTRAINT and
--    DROP INDEX do.
-- A human (here the superuser) may do all of it.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA ra AUTHORIZATION regress_bot;
CREATE SCHEMA rc AUTHORIZATION regress_bot;
CREATE SCHEMA rd AUTHORIZATION regress_human;
GRANT USAGE ON SCHEMA ra, rc TO regress_human;
GRANT USAGE ON SCHEMA rd TO regress_bot;
GRANT CREATE ON DATABASE contrib_regression TO regress_human;   -- REASSIGN OWNED below
-- the agent's helpers and tables, from an earlier migration (schema ra
-- holds no protected table; rc holds the agent's table a human protected)
SET ROLE regress_bot;
CREATE FUNCTION ra.ok(int) RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT $1 > 0';
CREATE FUNCTION ra.vis(text) RETURNS boolean STABLE LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION ra.rulefn(text) RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT $1 = ''never''';
CREATE FUNCTION ra.chk(text) RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT $1 <> ''''';
CREATE FUNCTION ra.idx(text) RETURNS text IMMUTABLE LANGUAGE sql AS 'SELECT upper($1)';
CREATE FUNCTION ra.unused(int) RETURNS int LANGUAGE sql AS 'SELECT $1';
CREATE FUNCTION ra.trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE SEQUENCE ra.s;
CREATE FUNCTION ra.nid() RETURNS int VOLATILE LANGUAGE sql AS $$SELECT nextval('ra.s')::int + 100$$;
CREATE TYPE ra.mood AS ENUM ('ok', 'sad');
CREATE TABLE ra.lookup (code int PRIMARY KEY);
INSERT INTO ra.lookup VALUES (1), (2);
CREATE TABLE ra.free (id int);
CREATE TABLE rc.items (id serial PRIMARY KEY, v int CHECK (ra.ok(v)));
INSERT INTO rc.items (v) VALUES (1);
CREATE TABLE rc.par (id int PRIMARY KEY);
CREATE TABLE rc.kid () INHERITS (rc.par);
ALTER TABLE rc.kid ADD PRIMARY KEY (id);
GRANT SELECT, INSERT ON rc.par, rc.kid TO regress_human;
GRANT SELECT, REFERENCES ON ra.lookup TO regress_human;
GRANT SELECT ON ra.free TO regress_human;
GRANT SELECT, INSERT, UPDATE ON rc.items TO regress_human;
GRANT USAGE ON SEQUENCE rc.items_id_seq, ra.s TO regress_human;
RESET ROLE;
-- another agent's helper (REASSIGN OWNED below)
GRANT CREATE ON SCHEMA ra TO regress_bot2, regress_human;
GRANT regress_human TO regress_bot2;
SET ROLE regress_bot2;
CREATE FUNCTION ra.named(text) RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT $1 <> ''''';
RESET ROLE;
-- the human's tables use them
SET ROLE regress_human;
CREATE TABLE rd.inv (
    id int PRIMARY KEY DEFAULT ra.nid(),
    note text CHECK (ra.chk(note)),
    mood ra.mood DEFAULT 'ok',
    code int REFERENCES ra.lookup,
    seq_no bigint DEFAULT nextval('ra.s'));
CREATE INDEX inv_idx ON rd.inv (ra.idx(note));
INSERT INTO rd.inv (note, code) VALUES ('first', 1);
CREATE TABLE rd.docs (id int PRIMARY KEY, owner text CHECK (ra.named(owner)));
INSERT INTO rd.docs VALUES (1, 'app'), (2, 'app');
RESET ROLE;
SELECT agent_guard.protect('rd.inv');
SELECT agent_guard.protect('rd.docs');
SELECT agent_guard.protect('rc.items');
SELECT agent_guard.protect('rc.kid');
-- the trigger, policy and rule after protect() (the agent is a member of
-- regress_human: protect() refuses a table with them, sql/reliance.sql)
SET ROLE regress_human;
CREATE TRIGGER t BEFORE INSERT ON rd.inv FOR EACH ROW EXECUTE FUNCTION ra.trg();
CREATE POLICY p ON rd.docs USING (ra.vis(owner));
CREATE RULE r AS ON INSERT TO rd.inv WHERE ra.rulefn(NEW.note) DO INSTEAD NOTHING;
RESET ROLE;
GRANT EXECUTE ON FUNCTION ra.ok(int) TO regress_human WITH GRANT OPTION;
-- who holds what on the objects the tables rely on (0: PUBLIC)
CREATE SCHEMA rz;
CREATE VIEW rz.acl AS
  SELECT 'f' AS k, p.oid::regprocedure::text AS obj, CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END AS who, a.privilege_type, a.is_grantable
    FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a WHERE p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = 'ra')
  UNION ALL
  SELECT 'r', c.oid::regclass::text, CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END AS who, a.privilege_type, a.is_grantable
    FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) a
   WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = 'ra')
  UNION ALL
  SELECT 'T', t.oid::regtype::text, CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END AS who, a.privilege_type, a.is_grantable
    FROM pg_type t, aclexplode(coalesce(t.typacl, acldefault('T', t.typowner))) a WHERE t.typname = 'mood' AND t.typnamespace = (SELECT oid FROM pg_namespace WHERE nspname = 'ra')
  UNION ALL
  SELECT 'n', n.nspname::text, CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END AS who, a.privilege_type, a.is_grantable
    FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a WHERE n.nspname = 'ra';
CREATE VIEW rz.rights AS
  SELECT EXISTS (SELECT FROM rz.acl WHERE obj = 'ra.ok(integer)' AND who = 'PUBLIC') AS public_ok,
         EXISTS (SELECT FROM rz.acl WHERE obj = 'ra.ok(integer)' AND who = 'regress_human' AND is_grantable) AS human_ok_grant,
         EXISTS (SELECT FROM rz.acl WHERE obj = 'ra.vis(text)' AND who = 'PUBLIC') AS public_vis,
         EXISTS (SELECT FROM rz.acl WHERE obj = 'ra.lookup' AND who = 'regress_bot' AND privilege_type = 'SELECT') AS bot_lookup,
         EXISTS (SELECT FROM rz.acl WHERE obj = 'ra.mood' AND who = 'PUBLIC') AS public_mood,
         EXISTS (SELECT FROM rz.acl WHERE obj = 'ra.s' AND who = 'regress_human') AS human_seq,
         EXISTS (SELECT FROM rz.acl WHERE obj = 'ra' AND who = 'regress_human') AS human_ra,
         EXISTS (SELECT FROM rz.acl WHERE obj = 'ra.free' AND who = 'regress_human') AS human_free,
         EXISTS (SELECT FROM rz.acl WHERE obj = 'ra.unused(integer)' AND who = 'PUBLIC') AS public_unused,
         EXISTS (SELECT FROM rz.acl WHERE obj = 'ra.ok(integer)' AND who = 'regress_bot2') AS bot2_ok,
         (SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE oid = to_regprocedure('ra.ok(int)')) AS ok_owner,
         (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass('ra.lookup')) AS lookup_owner,
         (SELECT pg_get_userbyid(typowner) FROM pg_type WHERE oid = to_regtype('ra.mood')) AS mood_owner,
         (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'ra') AS ra_owner,
         (SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE oid = to_regprocedure('ra.named(text)')) AS named_owner;
SELECT * FROM rz.rights;
SET ROLE regress_human;
SELECT count(*) AS docs_seen FROM rd.docs;
RESET ROLE;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-reach-depends"
\set SHOW_CONTEXT never
-- Finding 1: a REVOKE of what a protected table relies on: refused, with
-- the table and what uses the object named
DO $$
DECLARE d text; h text;
BEGIN
  REVOKE EXECUTE ON FUNCTION ra.ok(int) FROM PUBLIC;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
  RAISE NOTICE E'%\nDETAIL: %\nHINT: %', SQLSTATE, d, h;
END $$;
\set VERBOSITY sqlstate
REVOKE EXECUTE ON FUNCTION ra.ok(int) FROM PUBLIC;
-- a policy's, a default's, an index's, a trigger's, a rule's function
REVOKE EXECUTE ON FUNCTION ra.vis(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ra.nid() FROM PUBLIC;
REVOKE ALL ON FUNCTION ra.idx(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ra.trg() FROM PUBLIC;
REVOKE EXECUTE ON ROUTINE ra.rulefn(text) FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA ra FROM PUBLIC;
REVOKE GRANT OPTION FOR EXECUTE ON FUNCTION ra.ok(int) FROM regress_human CASCADE;
-- the table a foreign key references (its check runs as the table's owner):
-- the agent's own rights too
REVOKE SELECT, UPDATE ON ra.lookup FROM regress_bot;
REVOKE ALL ON ALL TABLES IN SCHEMA ra FROM regress_bot;
-- an inheritance parent humans read the protected child through
REVOKE SELECT ON rc.par FROM regress_human;
-- a column's type, a default's sequence, the schema that holds them
REVOKE USAGE ON TYPE ra.mood FROM PUBLIC;
REVOKE USAGE ON SEQUENCE ra.s FROM regress_human;
REVOKE USAGE ON SCHEMA ra FROM regress_human;
-- inside a DO block
DO $$ BEGIN EXECUTE 'REVOKE EXECUTE ON FUNCTION ra.chk(text) FROM PUBLIC'; END $$;
-- a new owner of such an object (the agent may act as regress_human)
ALTER FUNCTION ra.ok(int) OWNER TO regress_human;
ALTER TABLE ra.lookup OWNER TO regress_human;
ALTER TYPE ra.mood OWNER TO regress_human;
ALTER SCHEMA ra OWNER TO regress_human;
-- every object of the agent's at once (the object reached first varies)
REASSIGN OWNED BY regress_bot TO regress_human;
\c "dbname=contrib_regression user=regress_bot2 options=-cagent_guard.run_id=run-reach-depends"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
REASSIGN OWNED BY regress_bot2 TO regress_human;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-reach-depends"
\set SHOW_CONTEXT never
\set VERBOSITY default
-- allowed: GRANTs, and REVOKEs of what no protected table relies on
GRANT EXECUTE ON FUNCTION ra.ok(int) TO regress_bot2;
GRANT SELECT ON ra.lookup TO regress_bot2;
REVOKE EXECUTE ON FUNCTION ra.unused(int) FROM PUBLIC;
REVOKE SELECT ON ra.free FROM regress_human;

-- Finding 2: a drop that cascades into a protected table's dependents
\set VERBOSITY sqlstate
DROP FUNCTION ra.vis(text) CASCADE;
DROP FUNCTION ra.rulefn(text) CASCADE;
DROP FUNCTION ra.trg() CASCADE;
-- the direct acts
DROP RULE r ON rd.inv;
DROP POLICY p ON rd.docs;
-- drops the classifier sends for approval by what they name; approved, they
-- are judged on what they reach too (below)
DROP TYPE ra.mood CASCADE;
DROP SCHEMA rc CASCADE;
DROP SCHEMA ra CASCADE;
DROP OWNED BY regress_bot CASCADE;
-- a key column's default: approval, as ALTER COLUMN ... DROP DEFAULT
DROP FUNCTION ra.nid() CASCADE;
DROP SEQUENCE rc.items_id_seq CASCADE;
\set VERBOSITY default
-- a CHECK needs approval, as its DROP CONSTRAINT does (YG003; rt20_reach);
-- a plain index is allowed, as DROP INDEX of one is
DROP FUNCTION ra.chk(text) CASCADE;
DROP FUNCTION ra.idx(text) CASCADE;

-- the human's reads and writes work as before
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
INSERT INTO rd.inv (note, code) VALUES ('second', 2);
INSERT INTO rc.items (v) VALUES (5);
UPDATE rc.items SET v = 6 WHERE v = 5;
SELECT count(*) AS docs_seen FROM rd.docs;
SELECT id, note, mood, code FROM rd.inv ORDER BY id;
SELECT id, v FROM rc.items ORDER BY id;
INSERT INTO rc.kid VALUES (1);
SELECT count(*) AS par_rows FROM rc.par;

\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT r.kind, r.status,
       CASE WHEN r.statement LIKE 'REASSIGN OWNED BY regress_bot %' THEN '(the object reached first)' ELSE r.reason END AS reason,
       left(r.statement, 60) AS statement FROM agent_guard.requests r
 WHERE r.request_id > :req_before ORDER BY r.request_id;
-- the structure is intact: defaults, policy, rule, trigger, rights, owners
SELECT (SELECT count(*) FROM pg_attrdef WHERE adrelid = 'rd.inv'::regclass) AS inv_defaults,
       (SELECT count(*) FROM pg_attrdef WHERE adrelid = 'rc.items'::regclass) AS items_defaults,
       (SELECT count(*) FROM pg_policy WHERE polrelid = 'rd.docs'::regclass AND polname = 'p') AS docs_policy,
       (SELECT count(*) FROM pg_rewrite WHERE ev_class = 'rd.inv'::regclass) AS inv_rules,
       (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'rd.inv'::regclass AND tgname = 't') AS inv_trigger,
       (SELECT count(*) FROM pg_constraint WHERE conrelid = 'rd.inv'::regclass AND contype = 'c') AS inv_checks,
       to_regclass('rd.inv_idx') AS inv_idx;
SELECT * FROM rz.rights;

-- approved, the key default's drop runs once, on one request
SELECT status FROM agent_guard.approve((SELECT max(request_id) FROM agent_guard.requests
  WHERE statement LIKE 'DROP FUNCTION ra.nid() CASCADE%'), 'ids are given by the app now');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-reach-depends"
\set SHOW_CONTEXT never
DROP FUNCTION ra.nid() CASCADE;
-- an approval of what a statement names does not cover a protected
-- table's policy, rule or trigger it reaches (here schema ra's contents)
\c "dbname=contrib_regression user=regress_su options="
SELECT status FROM agent_guard.approve((SELECT max(request_id) FROM agent_guard.requests
  WHERE statement LIKE 'DROP SCHEMA ra CASCADE%'), 'drop the helpers');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-reach-depends"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
DROP SCHEMA ra CASCADE;
-- the direct act, approved, is not asked twice
\set VERBOSITY sqlstate
ALTER TABLE rc.items ALTER COLUMN id DROP DEFAULT;
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
SELECT status FROM agent_guard.approve((SELECT max(request_id) FROM agent_guard.requests
  WHERE statement LIKE 'ALTER TABLE rc.items ALTER COLUMN id DROP DEFAULT%'), 'fine');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-reach-depends"
\set SHOW_CONTEXT never
ALTER TABLE rc.items ALTER COLUMN id DROP DEFAULT;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT r.kind, r.status, left(r.statement, 60) AS statement FROM agent_guard.requests r
 WHERE r.request_id > :req_before AND r.kind = 'approval' ORDER BY r.request_id;
SELECT r.kind, r.reason FROM agent_guard.requests r
 WHERE r.request_id > :req_before AND r.statement LIKE 'DROP SCHEMA ra CASCADE%' ORDER BY r.request_id;
SELECT pg_get_expr(adbin, adrelid) AS inv_defaults FROM pg_attrdef
 WHERE adrelid = 'rd.inv'::regclass ORDER BY adnum;
SELECT count(*) AS items_defaults FROM pg_attrdef WHERE adrelid = 'rc.items'::regclass;

-- a human may do all of it (here the superuser): REVOKE, new owners, drops
REVOKE EXECUTE ON FUNCTION ra.ok(int) FROM PUBLIC;
REVOKE USAGE ON TYPE ra.mood FROM PUBLIC;
REVOKE SELECT ON ra.lookup FROM regress_bot;
ALTER FUNCTION ra.ok(int) OWNER TO regress_human;
SELECT public_ok, public_mood, bot_lookup, ok_owner FROM rz.rights;
DROP FUNCTION ra.vis(text) CASCADE;
DROP FUNCTION ra.rulefn(text) CASCADE;
DROP FUNCTION ra.trg() CASCADE;
DROP SEQUENCE rc.items_id_seq CASCADE;
SELECT (SELECT count(*) FROM pg_policy WHERE polrelid = 'rd.docs'::regclass AND polname = 'p') AS docs_policy,
       (SELECT count(*) FROM pg_rewrite WHERE ev_class = 'rd.inv'::regclass) AS inv_rules,
       (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'rd.inv'::regclass AND tgname = 't') AS inv_trigger;
SELECT ok FROM agent_guard.verify_log();

SELECT agent_guard.unprotect('rd.inv');
SELECT agent_guard.unprotect('rd.docs');
SELECT agent_guard.unprotect('rc.items');
SELECT agent_guard.unprotect('rc.kid');
DROP SCHEMA rd CASCADE;
DROP SCHEMA rc CASCADE;
DROP SCHEMA ra CASCADE;
DROP SCHEMA rz CASCADE;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_human;
REVOKE regress_human FROM regress_bot2;

-- 3. A text search configuration or dictionary of the agent's that a
--    protected table relies on (a generated tsvector column names it):
--    changing its mappings would change what humans' new rows store and
--    what their searches find (red team 9, finding 5).  Refused (YG004);
--    one no protected table relies on stays the agent's to change.
\c "dbname=contrib_regression user=regress_su options="
CREATE SCHEMA rt AUTHORIZATION regress_bot;
GRANT USAGE ON SCHEMA rt TO PUBLIC;
SET ROLE regress_bot;
CREATE TEXT SEARCH DICTIONARY rt.dict (TEMPLATE = simple);
CREATE TEXT SEARCH CONFIGURATION rt.cfg (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION rt.cfg ALTER MAPPING FOR asciiword WITH rt.dict;
CREATE TEXT SEARCH CONFIGURATION rt.spare (COPY = simple);
RESET ROLE;
CREATE TABLE rt.notes (id int PRIMARY KEY, body text,
                       tsv tsvector GENERATED ALWAYS AS (to_tsvector('rt.cfg', body)) STORED);
ALTER TABLE rt.notes OWNER TO regress_human;
INSERT INTO rt.notes (id, body) VALUES (1, 'refund please');
SELECT agent_guard.protect('rt.notes');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-rd-ts"
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
ALTER TEXT SEARCH CONFIGURATION rt.cfg DROP MAPPING FOR asciiword;
ALTER TEXT SEARCH DICTIONARY rt.dict (STOPWORDS = english);
\set VERBOSITY default
ALTER TEXT SEARCH CONFIGURATION rt.spare DROP MAPPING FOR asciiword;   -- relied on by nothing
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT kind, reason FROM agent_guard.requests WHERE run_id = 'run-rd-ts' ORDER BY request_id;
INSERT INTO rt.notes (id, body) VALUES (2, 'another refund');
SELECT id FROM rt.notes WHERE tsv @@ to_tsquery('simple', 'refund') ORDER BY id;
-- a human may change it
ALTER TEXT SEARCH CONFIGURATION rt.cfg DROP MAPPING FOR asciiword;
SELECT agent_guard.unprotect('rt.notes');
DROP SCHEMA rt CASCADE;
