--
-- reliance: what a human's protected table relies on that an agent may own
-- (issue 16, attacks 09, 12, 21).  The functions its column defaults,
-- generated columns, CHECKs, triggers, index expressions and policies run,
-- and the constraints and defaults of the domains its columns use, run with
-- the rights of whoever writes the table, humans included; a schema named
-- after a role is first on that role's search_path ("$user").  The agent may
-- not replace or alter such a function (YG004), changes such a domain only
-- with a human's approval (YG003), and may not name a schema after another
-- role (YG004).  Everything else stays allowed, and a human may do it all.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests();
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA rl AUTHORIZATION regress_bot;
CREATE SCHEMA rh AUTHORIZATION regress_human;
GRANT USAGE ON SCHEMA rl TO regress_human;
GRANT USAGE ON SCHEMA rh TO regress_bot;
GRANT CREATE ON DATABASE contrib_regression TO regress_bot;
-- the agent's helpers, from an earlier migration
SET ROLE regress_bot;
CREATE FUNCTION rl.norm(text) RETURNS text IMMUTABLE LANGUAGE sql AS 'SELECT lower($1)';
CREATE FUNCTION rl.positive(int) RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT $1 > 0';
CREATE FUNCTION rl.first_id() RETURNS int LANGUAGE sql AS 'SELECT 3';
CREATE FUNCTION rl.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE FUNCTION rl.idx(text) RETURNS text IMMUTABLE LANGUAGE sql AS 'SELECT upper($1)';
CREATE FUNCTION rl.visible(text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION rl.in_range(numeric) RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT $1 < 1000000';
CREATE FUNCTION rl.inner_(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1';
CREATE FUNCTION rl.outer_(i int) RETURNS int IMMUTABLE LANGUAGE sql BEGIN ATOMIC SELECT rl.inner_(i); END;
CREATE FUNCTION rl.unused(text) RETURNS text LANGUAGE sql AS 'SELECT $1';
CREATE DOMAIN rl.price AS numeric CHECK (rl.in_range(VALUE));
CREATE DOMAIN rl.unused_dom AS numeric;
RESET ROLE;
-- the human's table uses them
SET ROLE regress_human;
CREATE TABLE rh.orders (
    id int DEFAULT rl.first_id() PRIMARY KEY,
    name text,
    name_norm text GENERATED ALWAYS AS (rl.norm(name)) STORED,
    qty int CHECK (rl.positive(qty)),
    twice int GENERATED ALWAYS AS (rl.outer_(qty)) STORED,
    code text,
    price rl.price);
CREATE INDEX ON rh.orders (rl.idx(code));
INSERT INTO rh.orders (id, name, qty, code, price) VALUES (1, 'Ann', 2, 'a', 10);
GRANT SELECT, INSERT, UPDATE, DELETE ON rh.orders TO regress_bot;
RESET ROLE;
SELECT agent_guard.protect('rh.orders');
-- the trigger and policy after protect() (the agent is a member of
-- regress_human: protect() refuses a table with policies or triggers whose
-- owner an agent can act as, sql/structure_code.sql)
SET ROLE regress_human;
CREATE TRIGGER t BEFORE INSERT ON rh.orders FOR EACH ROW EXECUTE FUNCTION rl.touch();
CREATE POLICY p ON rh.orders USING (rl.visible(code));
RESET ROLE;

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-reliance"
\set VERBOSITY sqlstate
-- a function the table runs, replaced: refused (the reasons are listed below)
CREATE OR REPLACE FUNCTION rl.norm(text) RETURNS text IMMUTABLE LANGUAGE sql AS 'SELECT upper($1)';
-- the same for a CHECK, a default, a trigger, an index expression, a
-- policy, a domain's CHECK, and a function a SQL-standard body calls
CREATE OR REPLACE FUNCTION rl.positive(int) RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT true';
CREATE OR REPLACE FUNCTION rl.first_id() RETURNS int LANGUAGE sql AS 'SELECT 2';
CREATE OR REPLACE FUNCTION rl.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION rl.idx(text) RETURNS text IMMUTABLE LANGUAGE sql AS 'SELECT $1';
CREATE OR REPLACE FUNCTION rl.visible(text) RETURNS boolean LANGUAGE sql AS 'SELECT false';
CREATE OR REPLACE FUNCTION rl.in_range(numeric) RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT false';
CREATE OR REPLACE FUNCTION rl.inner_(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT 0';
-- the attack: code that approves the agent's pending request when a human writes
DROP TABLE rh.orders;
CREATE OR REPLACE FUNCTION rl.norm(t text) RETURNS text IMMUTABLE LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM agent_guard.approve(request_id, 'looks fine') FROM agent_guard.requests WHERE status = 'pending';
  RETURN lower(t);
END $f$;
-- ALTER FUNCTION of such a function: refused (a search_path of its own
-- could resolve its body's names to the agent's objects)
ALTER FUNCTION rl.norm(text) SET search_path = rl, pg_catalog;
ALTER FUNCTION rl.positive(int) SECURITY DEFINER;
ALTER FUNCTION rl.first_id() VOLATILE;
-- allowed: functions no protected table runs, and a new overload
CREATE OR REPLACE FUNCTION rl.unused(text) RETURNS text LANGUAGE sql AS 'SELECT upper($1)';
CREATE OR REPLACE FUNCTION rl.norm(int) RETURNS text IMMUTABLE LANGUAGE sql AS 'SELECT $1::text';
ALTER FUNCTION rl.unused(text) STABLE;
-- a domain its columns use: a new constraint, default or NOT NULL waits for a human
ALTER DOMAIN rl.price ADD CONSTRAINT no_more CHECK (VALUE < 0) NOT VALID;
ALTER DOMAIN rl.price SET DEFAULT -1;
ALTER DOMAIN rl.price DROP DEFAULT;
ALTER DOMAIN rl.price SET NOT NULL;
-- allowed: loosening it, and any change of a domain no protected table uses
ALTER DOMAIN rl.price DROP NOT NULL;
ALTER DOMAIN rl.unused_dom ADD CONSTRAINT positive CHECK (VALUE > 0);
ALTER DOMAIN rl.unused_dom SET DEFAULT 1;
-- a schema named after another role shadows that role's unqualified names
CREATE SCHEMA regress_human;
CREATE SCHEMA rl_tmp;
ALTER SCHEMA rl_tmp RENAME TO regress_human;
ALTER SCHEMA rl_tmp RENAME TO regress_su;
-- its own name is its own
CREATE SCHEMA regress_bot;
DROP SCHEMA regress_bot;
DROP SCHEMA rl_tmp;
\set VERBOSITY default

-- the human's writes and reads are as before, nothing was approved
\c "dbname=contrib_regression user=regress_human options="
INSERT INTO rh.orders (id, name, qty, code, price) VALUES (2, 'Bob', 3, 'b', 20);
INSERT INTO rh.orders (name, qty, code, price) VALUES ('Cy', 1, 'c', 5);
SELECT id, name, name_norm, qty, twice, code, price FROM rh.orders ORDER BY id;
SELECT to_regnamespace('regress_human') AS shadow_schema;
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT r.kind, r.status, r.reason, left(r.statement, 60) AS statement FROM agent_guard.requests r
 WHERE r.request_id > :req_before ORDER BY r.request_id;
SELECT pg_get_functiondef('rl.norm(text)'::regprocedure) ~ 'lower' AS norm_unchanged,
       (SELECT proconfig FROM pg_proc WHERE oid = 'rl.norm(text)'::regprocedure) AS norm_config,
       (SELECT typdefault FROM pg_type WHERE oid = 'rl.price'::regtype) AS price_default,
       (SELECT count(*) FROM pg_constraint WHERE contypid = 'rl.price'::regtype) AS price_constraints;

-- a human may do all of it (here the superuser who runs the migration)
CREATE OR REPLACE FUNCTION rl.norm(text) RETURNS text IMMUTABLE LANGUAGE sql AS 'SELECT initcap($1)';
ALTER FUNCTION rl.positive(int) SET search_path = pg_catalog;
ALTER DOMAIN rl.price ADD CONSTRAINT not_huge CHECK (VALUE < 100000);
ALTER DOMAIN rl.price SET DEFAULT 0;
CREATE SCHEMA regress_human AUTHORIZATION regress_human;
DROP SCHEMA regress_human;
SELECT ok FROM agent_guard.verify_log();

SELECT agent_guard.unprotect('rh.orders');
DROP SCHEMA rh CASCADE;
DROP SCHEMA rl CASCADE;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_bot;
