--
-- rt31_names: red team 30's findings on names, schemas and CASCADE.
-- F11: RENAME TO / SET SCHEMA of a type, domain, collation, sequence,
-- function or operator class a protected table relies on, and RENAME of a
-- schema that holds one, need approval (YG003), as the rename of the
-- table itself, by every spelling (ALTER TYPE, DOMAIN, SEQUENCE, TABLE,
-- COLLATION, FUNCTION, SCHEMA, dynamic SQL): humans' statements that name
-- the object would fail, or reach a namesake the agent makes in its
-- place.  Refused, the name stays taken: no namesake can be made.
-- F4: an agent's relation named like a protected table in another schema
-- (CREATE TABLE/VIEW/..., RENAME TO, SET SCHEMA) is refused (YG004) in a
-- schema the agent does not own (a shared one, as public): it would shadow
-- the protected table where a human's search_path lists that schema
-- first.  In the agent's own schema and pg_temp it is allowed.
-- F9: a drop of the agent's own scratch table that reaches (CASCADE) an
-- object another role owns (a human's function taking its row type)
-- needs approval (YG003).
-- From the human's side: the same statements work.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1002000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r31n;
GRANT USAGE ON SCHEMA r31n TO regress_bot, regress_human;
GRANT CREATE ON DATABASE contrib_regression TO regress_bot;
CREATE SCHEMA r31nb AUTHORIZATION regress_bot;
CREATE SCHEMA r31nb2 AUTHORIZATION regress_bot;

-- the agent's objects, made in a session of their own (not its scratch later)
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31n-make"
\set SHOW_CONTEXT never
GRANT USAGE ON SCHEMA r31nb TO PUBLIC;
CREATE TYPE r31nb.mood AS ENUM ('happy', 'sad');
CREATE DOMAIN r31nb.email AS text;
CREATE SEQUENCE r31nb.ticket_no;
GRANT USAGE ON SEQUENCE r31nb.ticket_no TO PUBLIC;
CREATE COLLATION r31nb.ci FROM "C";
CREATE FUNCTION r31nb.mkcode() RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'c'$$;
CREATE TYPE r31nb.unused AS ENUM ('x');
CREATE EXTENSION citext SCHEMA r31nb;
CREATE TABLE r31nb.addr (street text);

-- F11: a human's table relies on them
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE TABLE r31n.diary (id bigint PRIMARY KEY DEFAULT nextval('r31nb.ticket_no'),
                         m r31nb.mood, e r31nb.email, name text COLLATE r31nb.ci,
                         code text DEFAULT r31nb.mkcode(), mail r31nb.citext, a r31nb.addr);
INSERT INTO r31n.diary (m, e, name, mail, a)
  VALUES ('happy'::r31nb.mood, 'a@x'::r31nb.email, 'Ann', 'A@X'::r31nb.citext, ROW('Main St')::r31nb.addr);
SELECT agent_guard.protect('r31n.diary');
GRANT SELECT, INSERT, UPDATE, DELETE ON r31n.diary TO regress_bot, regress_human;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31n-f11"
\set SHOW_CONTEXT never
-- error: YG003 each
\set VERBOSITY sqlstate
ALTER TYPE r31nb.mood RENAME TO mood_old;
ALTER TYPE r31nb.mood SET SCHEMA r31nb2;
ALTER DOMAIN r31nb.email RENAME TO email_old;
ALTER DOMAIN r31nb.email SET SCHEMA r31nb2;
ALTER TYPE r31nb.email RENAME TO email_old;
ALTER SEQUENCE r31nb.ticket_no RENAME TO ticket_no_old;
ALTER TABLE r31nb.ticket_no RENAME TO ticket_no_old;
ALTER SEQUENCE r31nb.ticket_no SET SCHEMA r31nb2;
ALTER COLLATION r31nb.ci RENAME TO ci_old;
ALTER COLLATION r31nb.ci SET SCHEMA r31nb2;
ALTER FUNCTION r31nb.mkcode() RENAME TO mkcode_old;
ALTER FUNCTION r31nb.mkcode() SET SCHEMA r31nb2;
ALTER SCHEMA r31nb RENAME TO r31nb_old;
ALTER TABLE r31nb.addr RENAME TO addr_old;
ALTER TABLE r31nb.addr SET SCHEMA r31nb2;
DO $$ BEGIN EXECUTE 'ALTER TYPE r31nb.mood RENAME TO mood_old'; END $$;
-- a trusted extension's members are the bootstrap superuser's: the agent may
-- not move them (42501)
ALTER EXTENSION citext SET SCHEMA r31nb2;
-- refused, the names stay taken: no namesake (42710 each)
CREATE DOMAIN r31nb.email AS text CHECK (VALUE NOT LIKE '%@x');
CREATE TYPE r31nb.mood AS ENUM ('sad');
\set VERBOSITY default
ALTER DOMAIN r31nb.email RENAME TO email_old;
-- allowed: what no protected table relies on
ALTER TYPE r31nb.unused RENAME TO unused2;
ALTER TYPE r31nb.unused2 SET SCHEMA r31nb2;
SELECT count(*) AS own_rows FROM r31n.diary;

-- F4: a relation named like a protected table in another schema
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
CREATE TABLE r31n.ledger (id int PRIMARY KEY, amount int);
INSERT INTO r31n.ledger SELECT g, g * 10 FROM generate_series(1, 20) g;
SELECT agent_guard.protect('r31n.ledger');
GRANT SELECT, INSERT, UPDATE, DELETE ON r31n.ledger TO regress_bot, regress_human;
-- a shared schema (as public where agents may create), on humans' search_path
CREATE SCHEMA r31ns;
GRANT USAGE, CREATE ON SCHEMA r31ns TO PUBLIC;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31n-f4"
\set SHOW_CONTEXT never
-- error: YG004 each
\set VERBOSITY sqlstate
CREATE VIEW r31ns.ledger AS SELECT * FROM r31n.ledger WHERE id > 10;
CREATE TABLE r31ns.ledger (LIKE r31n.ledger);
CREATE TABLE r31ns.ledger AS SELECT * FROM r31n.ledger;
SELECT * INTO r31ns.ledger FROM r31n.ledger;
CREATE MATERIALIZED VIEW r31ns.ledger AS SELECT 1 AS id;
CREATE SEQUENCE r31ns.ledger;
CREATE TABLE r31ns.ledger_copy (id int);
ALTER TABLE r31ns.ledger_copy RENAME TO ledger;
DO $$ BEGIN EXECUTE 'CREATE VIEW r31ns.ledger AS SELECT 1 AS id'; END $$;
\set VERBOSITY default
-- allowed: in the agent's own schema (its work space), a temporary one
CREATE TABLE r31nb.ledger (LIKE r31n.ledger);
CREATE TEMP TABLE ledger (id int);
DROP TABLE ledger;
-- but not moved from there into the shared schema (YG004)
ALTER TABLE r31nb.ledger SET SCHEMA r31ns;
SELECT relnamespace::regnamespace AS schema FROM pg_class
 WHERE relname = 'ledger' AND relnamespace::regnamespace::text <> 'r31n' ORDER BY 1;
-- the human's unqualified names reach the protected table
\c "dbname=contrib_regression user=regress_human options="
SET search_path = r31ns, r31n;
SELECT count(*) AS ledger_rows FROM ledger;
RESET search_path;

-- F9: a drop of the agent's scratch table that reaches a human's function
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- a human's helper that makes a function on a type, as another session would
CREATE FUNCTION r31n.make_report(t text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog AS $$
BEGIN
  EXECUTE format('CREATE FUNCTION r31n.report(r %s) RETURNS text LANGUAGE sql AS %L', t, 'SELECT r.v');
  EXECUTE format('GRANT EXECUTE ON FUNCTION r31n.report(%s) TO PUBLIC', t);
END $$;
GRANT EXECUTE ON FUNCTION r31n.make_report(text) TO regress_bot;
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31n-f9"
\set SHOW_CONTEXT never
CREATE TABLE r31nb.scr (id int, v text);
GRANT USAGE ON SCHEMA r31nb TO regress_su;
SELECT r31n.make_report('r31nb.scr');
SELECT r31n.report(ROW(1, 'x')::r31nb.scr) AS report;
-- error: YG003 each; the function stays
\set VERBOSITY sqlstate
DROP TABLE r31nb.scr CASCADE;
ALTER TABLE r31nb.scr SET SCHEMA r31nb2;
\set VERBOSITY default
DROP TABLE r31nb2.scr CASCADE;
SELECT r31n.report(ROW(1, 'x')::r31nb2.scr) AS report;
-- allowed: the agent's own function on its scratch table goes with it
CREATE TABLE r31nb2.scr2 (id int, v text);
CREATE FUNCTION r31nb2.own(r r31nb2.scr2) RETURNS text LANGUAGE sql AS 'SELECT r.v';
DROP TABLE r31nb2.scr2 CASCADE;
SELECT count(*) AS own_gone FROM pg_proc WHERE proname = 'own' AND pronamespace = 'r31nb2'::regnamespace;

-- the record, the data
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed;
SELECT request_id, agent_id, run_id, kind, status, statement, reason
  FROM agent_guard.requests WHERE request_id > :req_before ORDER BY request_id;
SELECT ok FROM agent_guard.verify_log();
SELECT id, m, e, name, code, mail, a FROM r31n.diary ORDER BY id;
SELECT count(*) AS ledger_rows FROM r31n.ledger;
SELECT typname, typnamespace::regnamespace AS schema FROM pg_type
 WHERE typname IN ('mood', 'email') AND typnamespace = 'r31nb'::regnamespace ORDER BY 1;
SELECT proname FROM pg_proc WHERE proname = 'report' AND pronamespace = 'r31n'::regnamespace;

-- the approval path: a human approves the rename, the agent's same statement runs once
SELECT max(request_id) AS req_rename FROM agent_guard.requests
 WHERE request_id > :req_before AND statement LIKE 'ALTER DOMAIN r31nb.email RENAME TO email_old%' \gset
SELECT status FROM agent_guard.approve(:req_rename, 'r31n: the human renames the callers too');
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r31n-f11"
\set SHOW_CONTEXT never
ALTER DOMAIN r31nb.email RENAME TO email_old;
\set VERBOSITY sqlstate
ALTER DOMAIN r31nb.email_old RENAME TO email;
\set VERBOSITY default

-- the human's side: the same statements work
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
ALTER DOMAIN r31nb.email_old RENAME TO email;
ALTER TYPE r31nb.mood RENAME TO mood_old;
ALTER TYPE r31nb.mood_old RENAME TO mood;
ALTER TYPE r31nb.mood SET SCHEMA r31nb2;
ALTER TYPE r31nb2.mood SET SCHEMA r31nb;
ALTER SEQUENCE r31nb.ticket_no RENAME TO ticket_no_old;
ALTER SEQUENCE r31nb.ticket_no_old RENAME TO ticket_no;
ALTER COLLATION r31nb.ci RENAME TO ci_old;
ALTER COLLATION r31nb.ci_old RENAME TO ci;
ALTER FUNCTION r31nb.mkcode() RENAME TO mkcode_old;
ALTER FUNCTION r31nb.mkcode_old() RENAME TO mkcode;
ALTER SCHEMA r31nb RENAME TO r31nb_old;
ALTER SCHEMA r31nb_old RENAME TO r31nb;
ALTER EXTENSION citext SET SCHEMA r31nb2;
ALTER EXTENSION citext SET SCHEMA r31nb;
ALTER TABLE r31nb.addr RENAME TO addr_old;
ALTER TABLE r31nb.addr_old RENAME TO addr;
INSERT INTO r31n.diary (m, e, name, mail, a)
  VALUES ('sad'::r31nb.mood, 'b@y'::r31nb.email, 'Bob', 'B@Y'::r31nb.citext, ROW('High St')::r31nb.addr);
CREATE VIEW r31ns.ledger AS SELECT * FROM r31n.ledger WHERE id > 10;
DROP VIEW r31ns.ledger;
DROP TABLE r31nb2.scr CASCADE;
SELECT count(*) AS reports FROM pg_proc WHERE proname = 'report' AND pronamespace = 'r31n'::regnamespace;
SELECT id, m, e, name, code, mail, a FROM r31n.diary ORDER BY id;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect('r31n.diary');
SELECT agent_guard.unprotect('r31n.ledger');
DROP SCHEMA r31n, r31nb, r31nb2, r31ns CASCADE;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_bot;
