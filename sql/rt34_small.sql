--
-- rt34_small: red team 34, F10, F5 and F4.
-- F10: the margin a sequence keeps for a protected table is counted on
-- the values the column can take, not the sequence's range alone: a plain
-- (bigint) sequence numbering a smallint or integer column is refused
-- (YG004, on record) once the column's type would keep less than half of
-- the values it can take from it (at most 2^30).  A sequence already past
-- the type's end takes nothing more from the column and is drawn as before.
-- F5: a sequence that numbers a protected table through the default of
-- the column's domain (a domain over such a domain too) is judged by the
-- margin as well.
-- F4: in a transaction tagged by a shared role that is not a registered
-- agent, code it stores (CHECK, index, column default, statistics, domain
-- CHECK or default) may not call the role's own SQL or PL functions or
-- one the transaction made, SECURITY DEFINER or not (YG002, on record): they
-- would run in the humans' statements with their rights, untagged.
-- Built-in calls still work there; a registered agent's own functions on
-- its own tables still work.
-- From the humans' side: the inserts work; the role untagged may store the
-- same code.
--
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard._flush_requests() AS flushed, setval('agent_guard.requests_request_id_seq', 1017000, false) AS ids_from;
SELECT coalesce(max(request_id), 0) AS req_before FROM agent_guard.request_log \gset
CREATE SCHEMA r34s;
GRANT USAGE ON SCHEMA r34s TO regress_bot, regress_human;
GRANT CREATE ON DATABASE contrib_regression TO regress_bot;
CREATE SCHEMA r34b AUTHORIZATION regress_bot;
-- F10: plain sequences numbering narrower columns
CREATE SEQUENCE r34s.nseq;
CREATE TABLE r34s.narrow (id smallint PRIMARY KEY DEFAULT nextval('r34s.nseq'), t text);
CREATE SEQUENCE r34s.iseq;
CREATE TABLE r34s.wide (id int PRIMARY KEY DEFAULT nextval('r34s.iseq'), t text);
CREATE SEQUENCE r34s.pseq;
CREATE TABLE r34s.past (k int PRIMARY KEY, id smallint DEFAULT nextval('r34s.pseq'), t text);
-- F5: a domain's default, and a domain over a domain (over smallint, a bigint sequence)
CREATE SEQUENCE r34s.tseq AS smallint;
CREATE DOMAIN r34s.ticket_id AS smallint DEFAULT nextval('r34s.tseq');
CREATE TABLE r34s.tix (id r34s.ticket_id PRIMARY KEY, t text);
CREATE SEQUENCE r34s.dseq;
CREATE DOMAIN r34s.d_base AS smallint DEFAULT nextval('r34s.dseq');
CREATE DOMAIN r34s.d_over AS r34s.d_base;
CREATE TABLE r34s.dtab (id r34s.d_over PRIMARY KEY, t text);
SELECT agent_guard.protect(t, soft_delete => false)
  FROM unnest(ARRAY['r34s.narrow', 'r34s.wide', 'r34s.past', 'r34s.tix', 'r34s.dtab']) t;
GRANT SELECT, INSERT ON r34s.narrow, r34s.wide, r34s.past, r34s.tix, r34s.dtab TO regress_bot, regress_human;
GRANT USAGE ON SEQUENCE r34s.nseq, r34s.iseq, r34s.pseq, r34s.tseq, r34s.dseq TO regress_bot, regress_human;
-- iseq one draw short of keeping half an integer column's values; pseq past a smallint's end
SELECT setval('r34s.iseq', 1073741823) AS iseq, setval('r34s.pseq', 40000) AS pseq;

-- F4: the shared role's humans' older tables and function, made untagged
CREATE SCHEMA r34t AUTHORIZATION regress_tagged;
GRANT USAGE ON SCHEMA r34t TO regress_human;
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
CREATE TABLE r34t.ord (id int PRIMARY KEY, amount int);
INSERT INTO r34t.ord SELECT g, g FROM generate_series(1, 5) g;
CREATE TABLE r34t.logp (id int, region text);
INSERT INTO r34t.logp VALUES (1, 'eu');
CREATE FUNCTION r34t.older_definer(int) RETURNS int LANGUAGE plpgsql IMMUTABLE SECURITY DEFINER
  AS $$ BEGIN RETURN $1; END $$;
\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT agent_guard.protect('r34t.ord') AS ord;

-- the agent's side
\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=r34s-1"
\set SHOW_CONTEXT never
-- F10, the finding: refused when 16383 values that fit smallint are left
SELECT count(nextval('r34s.nseq')) FROM generate_series(1, 40000);
\set VERBOSITY sqlstate
INSERT INTO r34s.narrow (t) VALUES ('agent');
\set VERBOSITY default
-- an integer column: one draw allowed, the next refused
SELECT nextval('r34s.iseq');
\set VERBOSITY sqlstate
SELECT nextval('r34s.iseq');
\set VERBOSITY default
-- past a smallint's end: nothing more to keep for the column
SELECT nextval('r34s.pseq');
-- F5: a domain's default (smallint sequence)
\set VERBOSITY sqlstate
SELECT count(nextval('r34s.tseq')) FROM generate_series(1, 32766);
\set VERBOSITY default
-- a domain over a domain, its default a bigint sequence, a smallint column
SELECT count(nextval('r34s.dseq')) FROM generate_series(1, 32766);
-- F4: a registered agent's own functions on its own table still work
CREATE FUNCTION r34b.ok(int) RETURNS bool LANGUAGE plpgsql SECURITY DEFINER AS $$ BEGIN RETURN $1 > 0; END $$;
CREATE FUNCTION r34b.key(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN $1; END $$;
CREATE TABLE r34b.own (id int CHECK (r34b.ok(id)), v int DEFAULT r34b.key(7));
CREATE INDEX own_key ON r34b.own (r34b.key(id));
INSERT INTO r34b.own (id) VALUES (1);
SELECT id, v FROM r34b.own;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
SELECT last_value FROM r34s.nseq;
SELECT last_value FROM r34s.iseq;
SELECT last_value FROM r34s.tseq;
SELECT last_value FROM r34s.dseq;

-- F4: the tagged shared role's transactions
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate
-- error: YG002 each
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE FUNCTION r34t.w8(int) RETURNS bool LANGUAGE plpgsql SECURITY DEFINER AS $$
  BEGIN DELETE FROM r34t.ord WHERE id = $1 AND $1 >= 3; RETURN true; END $$;
ALTER TABLE r34t.logp ADD CONSTRAINT w8 CHECK (r34t.w8(id)) NOT VALID;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE FUNCTION r34t.w7i(int) RETURNS int LANGUAGE plpgsql IMMUTABLE SECURITY DEFINER AS $$
  BEGIN DELETE FROM r34t.ord WHERE id = $1; RETURN $1; END $$;
CREATE INDEX logp_w7 ON r34t.logp (r34t.w7i(id));
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE FUNCTION r34t.w7i(int) RETURNS int LANGUAGE plpgsql IMMUTABLE SECURITY DEFINER AS $$
  BEGIN DELETE FROM r34t.ord WHERE id = $1; RETURN $1; END $$;
CREATE STATISTICS r34t.st5 ON (r34t.w7i(id + 1)), region FROM r34t.logp;
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE FUNCTION r34t.w9() RETURNS text LANGUAGE plpgsql SECURITY DEFINER AS $$
  BEGIN DELETE FROM r34t.ord WHERE id = 3; RETURN 'eu'; END $$;
ALTER TABLE r34t.logp ADD COLUMN region2 text DEFAULT r34t.w9();  -- SET DEFAULT of the older column: YG004 (rt34_tagolder)
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE FUNCTION r34t.w11(int) RETURNS bool LANGUAGE plpgsql SECURITY DEFINER AS $$
  BEGIN DELETE FROM r34t.ord WHERE id = $1 + 10; RETURN true; END $$;
CREATE DOMAIN r34t.dd AS int CHECK (r34t.w11(VALUE));
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE FUNCTION r34t.w12() RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $$
  BEGIN DELETE FROM r34t.ord WHERE id = 4; RETURN 1; END $$;
CREATE DOMAIN r34t.dd2 AS int DEFAULT r34t.w12();
ROLLBACK;
-- the role's older SECURITY DEFINER function, and a SECURITY INVOKER one made here
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE INDEX logp_older ON r34t.logp (r34t.older_definer(id));
ROLLBACK;
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE FUNCTION r34t.inv(int) RETURNS bool LANGUAGE sql AS 'SELECT $1 > 0';
ALTER TABLE r34t.logp ADD CONSTRAINT inv CHECK (r34t.inv(id)) NOT VALID;
ROLLBACK;
\set VERBOSITY default
-- the message
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
ALTER TABLE r34t.logp ADD CONSTRAINT older CHECK (r34t.older_definer(id) > 0) NOT VALID;
ROLLBACK;
-- built-in calls still work in the tagged transaction (on a table it made:
-- a constraint on the humans' older table is refused since red team 35, F9)
BEGIN; SET LOCAL agent_guard.agent_id = 'harness-34';
CREATE TABLE r34t.own_log (region text);
ALTER TABLE r34t.own_log ADD CONSTRAINT region_len CHECK (length(region) < 10) NOT VALID;
DROP TABLE r34t.own_log;
COMMIT;

-- the humans' side: the inserts take their keys, and may draw the sequences on
\c "dbname=contrib_regression user=regress_human options="
\set SHOW_CONTEXT never
INSERT INTO r34s.narrow (t) VALUES ('human') RETURNING id;
INSERT INTO r34s.wide (t) VALUES ('human') RETURNING id;
INSERT INTO r34s.tix (t) VALUES ('human') RETURNING id;
INSERT INTO r34s.dtab (t) VALUES ('human') RETURNING id;
SELECT count(nextval('r34s.nseq')) FROM generate_series(1, 100);
-- the role untagged may store the same code
\c "dbname=contrib_regression user=regress_tagged options="
\set SHOW_CONTEXT never
CREATE INDEX logp_older ON r34t.logp (r34t.older_definer(id));
ALTER TABLE r34t.logp ADD CONSTRAINT older CHECK (r34t.older_definer(id) > 0) NOT VALID;
CREATE FUNCTION r34t.inv(int) RETURNS bool LANGUAGE sql AS 'SELECT $1 > 0';
ALTER TABLE r34t.logp ADD CONSTRAINT inv CHECK (r34t.inv(id)) NOT VALID;
INSERT INTO r34t.logp VALUES (2, 'us');
SELECT conname FROM pg_constraint WHERE conrelid = 'r34t.logp'::regclass ORDER BY 1;

\c "dbname=contrib_regression user=regress_su options="
\set SHOW_CONTEXT never
-- on record
SELECT agent_guard._flush_requests();
SELECT request_id, agent_id, kind, status, statement FROM agent_guard.requests
 WHERE request_id > :req_before ORDER BY request_id;
SELECT (SELECT count(*) FROM r34t.ord) AS orders, (SELECT count(*) FROM r34t.logp) AS logp,
       (SELECT count(*) FROM r34s.narrow) AS narrow;
SELECT ok FROM agent_guard.verify_log();

-- cleanup
SELECT agent_guard.unprotect(t)
  FROM unnest(ARRAY['r34s.narrow', 'r34s.wide', 'r34s.past', 'r34s.tix', 'r34s.dtab', 'r34t.ord']) t;
DROP SCHEMA r34s CASCADE;
DROP SCHEMA r34t CASCADE;
DROP SCHEMA r34b CASCADE;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_bot;
